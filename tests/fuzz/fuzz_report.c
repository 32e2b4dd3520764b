/*
 * fuzz_report.c - libFuzzer target for the decoders of the client core that
 * read what a report reader or an announcement's recipient is handed
 * (core/report.c report_quote_check(), core/announce.c announce_body_open()):
 * both take bytes a hostile server or a lying reporter wrote.
 *
 * The first input byte picks one check, the rest are its values (fuzz.h):
 *   0 a Quote (PROTOCOL.md 13.1) as JSON text: report_quote_check() with a
 *     fixed pinned key never says "verified" for bytes nobody signed with
 *     it, and always says why; it reads no field out of bounds;
 *   1 an announcement body (PROTOCOL.md 15.2) as raw bytes: never opens
 *     (nobody holding the fixed signing key signed it) and answers one of
 *     the documented results;
 *   2 round trip: any text up to EM_ANNOUNCE_TEXT_MAX sealed for a
 *     programme, audience and time opens to the same text; one flipped byte
 *     anywhere, or another programme, audience, time or sender, does not.
 * Keys are fixed (seeded) so that a corpus input always means the same.
 */
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "announce.h"
#include "fuzz.h"
#include "report.h"

static unsigned char sign_pk[32], sign_sk[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsigned char seed[32];

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	memset(seed, 'r', sizeof(seed));
	crypto_sign_seed_keypair(sign_pk, sign_sk, seed);
	return 0;
}

static void check_quote(const uint8_t *data, size_t size)
{
	json_t *q = json_loadb((const char *)data, size, 0, NULL);
	char why[320] = "";

	if (!json_is_object(q)) {
		json_decref(q);
		return;
	}
	fuzz_check(report_quote_check(q, 7, sign_pk, "sam", why, sizeof(why)) == -1, "report",
	           "a quote nobody signed with the pinned key does not verify");
	fuzz_check(why[0] != '\0', "report", "a refused quote says why");
	json_decref(q);
}

static void check_body(const uint8_t *data, size_t size)
{
	struct announce_meta m = {1, 2, 3, "all"};
	unsigned char key[ANNOUNCE_KEY_BYTES];
	char text[EM_ANNOUNCE_TEXT_MAX + 1];
	size_t len = 0;
	int rc;

	memset(key, 'k', sizeof(key));
	rc = announce_body_open(&m, data, size, key, sign_pk, text, &len, NULL);
	fuzz_check(rc == ANNOUNCE_MALFORMED || rc == ANNOUNCE_BAD_SIGNATURE ||
	               rc == ANNOUNCE_BAD_KEY,
	           "report", "an announcement nobody signed is refused with a documented result");
}

static void check_round_trip(struct fuzz_in *in)
{
	static const char *const audiences[] = {"mentors", "all"};
	struct announce_meta m, other;
	unsigned char key[ANNOUNCE_KEY_BYTES], body[ANNOUNCE_BODY_MAX];
	char text[EM_ANNOUNCE_TEXT_MAX + 1], got[EM_ANNOUNCE_TEXT_MAX + 1];
	size_t body_len = 0, len = 0, flip;
	unsigned which;

	m.programme = (int64_t)(fuzz_take(in, 4) + 1);
	m.manager = (int64_t)(fuzz_take(in, 4) + 1);
	m.written_ms = (int64_t)fuzz_take(in, 6);
	m.audience = audiences[fuzz_take(in, 1) & 1];
	which = (unsigned)fuzz_take(in, 1) % 5;
	flip = (size_t)fuzz_take(in, 2);
	fuzz_take_str(in, text, EM_ANNOUNCE_TEXT_MAX);
	fuzz_check(announce_body_seal(&m, text, strlen(text), sign_sk, key, body, &body_len) == 0,
	           "report", "any text up to the limit is sealed");
	fuzz_check(body_len >= ANNOUNCE_BODY_MIN && body_len <= ANNOUNCE_BODY_MAX &&
	               body_len <= EM_ANNOUNCE_BODY_MAX,
	           "report", "a body fits its limits");
	fuzz_check(announce_body_open(&m, body, body_len, key, sign_pk, got, &len, NULL) ==
	                   ANNOUNCE_OK &&
	               len == strlen(text) && !memcmp(got, text, len),
	           "report", "a sealed announcement opens to its text");
	other = m;
	switch (which) {
	case 0:
		body[flip % body_len] ^= 1;
		break;
	case 1:
		other.programme++;
		break;
	case 2:
		other.audience = strcmp(m.audience, "all") ? "all" : "mentors";
		break;
	case 3:
		other.written_ms++;
		break;
	default:
		other.manager++;
		break;
	}
	fuzz_check(announce_body_open(&other, body, body_len, key, sign_pk, got, &len, NULL) !=
	               ANNOUNCE_OK,
	           "report", "an altered, re-addressed or re-dated announcement does not open");
	sodium_memzero(key, sizeof(key));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};

	if (!size)
		return 0;
	switch (data[0] % 3) {
	case 0:
		check_quote(data + 1, size - 1);
		break;
	case 1:
		check_body(data + 1, size - 1);
		break;
	default:
		in.p++;
		in.left--;
		check_round_trip(&in);
		break;
	}
	return 0;
}
