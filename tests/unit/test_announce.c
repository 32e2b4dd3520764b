/*
 * test_announce.c - the announcement format (core/announce.h, PROTOCOL.md
 * 15.2): a body sealed for a programme, audience, time and sender opens to
 * its text with the sender's key; one altered byte, or another programme,
 * audience, time or sender, fails as a bad signature, a body signed by
 * someone else too; the wrong content key fails as such; a sealed key opens
 * only for its recipient and names them; a text over the limit is refused;
 * and the frames a programme of 500 needs stay under the 64 KiB frame limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "announce.h"

static const char text[] = "The mid-term week starts on Monday: book your meeting.";

struct fixture {
	unsigned char pk[32], sk[64], pk2[32], sk2[64];
	struct announce_meta m;
	unsigned char key[ANNOUNCE_KEY_BYTES], body[ANNOUNCE_BODY_MAX];
	size_t len;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_true(sodium_init() >= 0);
	crypto_sign_keypair(f->pk, f->sk);
	crypto_sign_keypair(f->pk2, f->sk2);
	f->m = (struct announce_meta){
	    .programme = 4, .manager = 9, .written_ms = 1800000000000LL, .audience = "mentors"};
	assert_int_equal(
	    announce_body_seal(&f->m, text, strlen(text), f->sk, f->key, f->body, &f->len), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

static int open_with(const struct fixture *f, const struct announce_meta *m,
                     const unsigned char *body, const unsigned char *key, const unsigned char *pk,
                     char *out)
{
	size_t n = 0;

	return announce_body_open(m, body, f->len, key, pk, out, &n, NULL);
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	char out[EM_ANNOUNCE_TEXT_MAX + 1];
	unsigned char aid[ANNOUNCE_AID_BYTES];
	size_t n = 0;

	assert_int_equal(announce_body_open(&f->m, f->body, f->len, f->key, f->pk, out, &n, aid),
	                 ANNOUNCE_OK);
	assert_int_equal(n, strlen(text));
	assert_string_equal(out, text);
	assert_memory_equal(aid, f->body + 1, ANNOUNCE_AID_BYTES);
	/* padded: the length shows only to 256 bytes */
	assert_int_equal(f->len, 1 + ANNOUNCE_AID_BYTES + 24 + 256 + 16 + 64);
}

static void test_altered_bytes(void **state)
{
	struct fixture *f = *state;
	unsigned char body[ANNOUNCE_BODY_MAX];
	char out[EM_ANNOUNCE_TEXT_MAX + 1];

	for (size_t i = 1; i < f->len; i++) {
		memcpy(body, f->body, f->len);
		body[i] ^= 0x40;
		assert_int_equal(open_with(f, &f->m, body, f->key, f->pk, out),
		                 ANNOUNCE_BAD_SIGNATURE);
	}
	memcpy(body, f->body, f->len);
	body[0] = 2; /* another format version */
	assert_int_equal(open_with(f, &f->m, body, f->key, f->pk, out), ANNOUNCE_MALFORMED);
}

static void test_readdressed(void **state)
{
	struct fixture *f = *state;
	struct announce_meta m;
	char out[EM_ANNOUNCE_TEXT_MAX + 1];

	m = f->m;
	m.programme = 5;
	assert_int_equal(open_with(f, &m, f->body, f->key, f->pk, out), ANNOUNCE_BAD_SIGNATURE);
	m = f->m;
	m.audience = "all";
	assert_int_equal(open_with(f, &m, f->body, f->key, f->pk, out), ANNOUNCE_BAD_SIGNATURE);
	m = f->m;
	m.written_ms++;
	assert_int_equal(open_with(f, &m, f->body, f->key, f->pk, out), ANNOUNCE_BAD_SIGNATURE);
	m = f->m;
	m.manager = 10;
	assert_int_equal(open_with(f, &m, f->body, f->key, f->pk, out), ANNOUNCE_BAD_SIGNATURE);
}

static void test_forged_and_wrong_key(void **state)
{
	struct fixture *f = *state;
	unsigned char key[ANNOUNCE_KEY_BYTES], body[ANNOUNCE_BODY_MAX];
	char out[EM_ANNOUNCE_TEXT_MAX + 1];
	size_t len = 0;

	/* signed by someone else in the sender's name: the sender's pinned key refuses it */
	assert_int_equal(announce_body_seal(&f->m, "forged", 6, f->sk2, key, body, &len), 0);
	assert_int_equal(announce_body_open(&f->m, body, len, key, f->pk, out, &len, NULL),
	                 ANNOUNCE_BAD_SIGNATURE);
	/* the sender's body with another content key: signed, but does not open */
	assert_int_equal(open_with(f, &f->m, f->body, key, f->pk, out), ANNOUNCE_BAD_KEY);
	assert_int_equal(announce_body_open(&f->m, f->body, 10, f->key, f->pk, out, &len, NULL),
	                 ANNOUNCE_MALFORMED);
}

static void test_sealed_keys(void **state)
{
	struct fixture *f = *state;
	unsigned char bpk[32], bsk[32], bpk2[32], bsk2[32], sealed[EM_ANNOUNCE_KEY_BYTES];
	unsigned char got[ANNOUNCE_KEY_BYTES];

	crypto_box_keypair(bpk, bsk);
	crypto_box_keypair(bpk2, bsk2);
	assert_int_equal(announce_key_seal(f->key, 0x0102030405060708ULL, bpk, sealed), 0);
	/* u64 big-endian recipient, then the 80-byte seal */
	assert_memory_equal(sealed, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	assert_int_equal(announce_key_open(sealed + 8, ANNOUNCE_SEALED, bpk, bsk, got), 0);
	assert_memory_equal(got, f->key, ANNOUNCE_KEY_BYTES);
	assert_int_equal(announce_key_open(sealed + 8, ANNOUNCE_SEALED, bpk2, bsk2, got), -1);
	assert_int_equal(announce_key_open(sealed + 8, ANNOUNCE_SEALED - 1, bpk, bsk, got), -1);
}

static void test_limits(void **state)
{
	struct fixture *f = *state;
	char *big = malloc(EM_ANNOUNCE_TEXT_MAX + 2), out[EM_ANNOUNCE_TEXT_MAX + 1];
	unsigned char key[ANNOUNCE_KEY_BYTES], body[ANNOUNCE_BODY_MAX];
	size_t len = 0, n = 0, frame;

	assert_non_null(big);
	memset(big, 'x', EM_ANNOUNCE_TEXT_MAX + 1);
	big[EM_ANNOUNCE_TEXT_MAX + 1] = '\0';
	assert_int_equal(
	    announce_body_seal(&f->m, big, EM_ANNOUNCE_TEXT_MAX + 1, f->sk, key, body, &len), -1);
	assert_int_equal(
	    announce_body_seal(&f->m, big, EM_ANNOUNCE_TEXT_MAX, f->sk, key, body, &len), 0);
	assert_true(len <= EM_ANNOUNCE_BODY_MAX);
	assert_int_equal(announce_body_open(&f->m, body, len, key, f->pk, out, &n, NULL),
	                 ANNOUNCE_OK);
	assert_int_equal(n, EM_ANNOUNCE_TEXT_MAX);
	/*
	 * A programme of 500 (and its manager): 501 keys in batches of
	 * EM_ANNOUNCE_BATCH_MAX; the first frame also carries the largest body.
	 * Each frame: base64url of its bytes plus a generous 512 for the JSON.
	 */
	frame = sodium_base64_ENCODED_LEN(EM_ANNOUNCE_BATCH_MAX * EM_ANNOUNCE_KEY_BYTES,
	                                  sodium_base64_VARIANT_URLSAFE_NO_PADDING) +
	        sodium_base64_ENCODED_LEN(EM_ANNOUNCE_BODY_MAX,
	                                  sodium_base64_VARIANT_URLSAFE_NO_PADDING) +
	        512;
	assert_true(frame < 65536);
	assert_true((501 + EM_ANNOUNCE_BATCH_MAX - 1) / EM_ANNOUNCE_BATCH_MAX == 3);
	assert_true(501 <= EM_ANNOUNCE_TO_MAX);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_altered_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readdressed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_forged_and_wrong_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sealed_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
