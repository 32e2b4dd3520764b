/*
 * fuzz_crypto.c - libFuzzer target for the signed byte layouts and sealed
 * containers of proto/em_crypto.c (PROTOCOL.md sections 5 and 7), and the
 * decoders their inputs pass through (base64url, consent subjects).
 *
 * The first input byte picks one check, the rest are its values (fuzz.h):
 *   0 agreement bytes: read back by an independent reader of the documented
 *     layout, field for field (parties in ascending user_id), with nothing
 *     left over; the hash is BLAKE2b-256 of them; a signature verifies, and
 *     not once the version or terms change;
 *   1 consent bytes: refused exactly when a string is too long, else read
 *     back field for field within EM_CONSENT_BYTES_MAX; sign/verify as above;
 *   2 epoch commit bytes: read back, each sealed key's BLAKE2b-256 in place;
 *   3 room keys: seal/open/verify round trip; the signature does not verify
 *     for another room, epoch or recipient; arbitrary bytes do not open;
 *   4 messages: encrypt/decrypt round trip of any text up to the limit; a
 *     message for another epoch does not verify;
 *   5 hostile messages: any ciphertext, signed or not, and a correctly
 *     encrypted and signed but arbitrarily padded plaintext: decrypt answers
 *     OK only with the text inside, never reads or writes out of bounds;
 *   6 key backups: wrap/unwrap round trip; arbitrary backups do not open;
 *   7 base64url and subjects: a decode that succeeds re-encodes to the same
 *     text; em_subject_id() accepts exactly "PREFIX:" + a canonical decimal
 *     of 1 .. 2^53-1, and the id prints back as the subject.
 * Keys are fixed (seeded) so that a corpus input always means the same.
 */
#include <inttypes.h>
#include <string.h>

#include <sodium.h>

#include "em_crypto.h"
#include "em_proto.h"
#include "fuzz.h"

#define TARGET "fuzz_crypto"
#define MAX_N  16

static struct em_keys alice, bob;

static void check(int ok, const char *what)
{
	fuzz_check(ok, TARGET, what);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsigned char seed[32];

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	memset(seed, 'a', sizeof(seed));
	crypto_sign_seed_keypair(alice.sign_pk, alice.sign_sk, seed);
	crypto_box_seed_keypair(alice.box_pk, alice.box_sk, seed);
	memset(seed, 'b', sizeof(seed));
	crypto_sign_seed_keypair(bob.sign_pk, bob.sign_sk, seed);
	crypto_box_seed_keypair(bob.box_pk, bob.box_sk, seed);
	return 0;
}

/* ---- an independent reader of the layouts ---- */

struct reader {
	const unsigned char *p;
	size_t left;
	int bad;
};

static const unsigned char *take(struct reader *r, size_t n)
{
	const unsigned char *p = r->p;

	if (r->bad || n > r->left) {
		r->bad = 1;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

static uint64_t take_be(struct reader *r, size_t n)
{
	const unsigned char *p = take(r, n);
	uint64_t v = 0;

	for (size_t i = 0; p && i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Expects the bytes of s (an exact match). */
static void expect_bytes(struct reader *r, const void *s, size_t n, const char *what)
{
	const unsigned char *p = take(r, n);

	check(p && !memcmp(p, s, n), what);
}

/* Expects lp(s) = length u32 || s. */
static void expect_lp(struct reader *r, const char *s, const char *what)
{
	size_t n = strlen(s);

	check(take_be(r, 4) == n, what);
	expect_bytes(r, s, n, what);
}

static void expect_label(struct reader *r, const char *label)
{
	expect_bytes(r, label, strlen(label) + 1, "the layout starts with its label and a NUL");
}

/* ---- 0: agreements ---- */

/* A total order on parties (id, then the rest), to compare lists as multisets. */
static int by_everything(const void *a, const void *b)
{
	const struct em_party *x = a, *y = b;
	int c;

	if (x->user_id != y->user_id)
		return x->user_id < y->user_id ? -1 : 1;
	if ((c = strcmp(x->role, y->role)))
		return c;
	if ((c = memcmp(x->sign_pk, y->sign_pk, EM_SIGN_PK_BYTES)))
		return c;
	return memcmp(x->box_pk, y->box_pk, EM_BOX_PK_BYTES);
}

static void agreement(struct fuzz_in *in)
{
	char starts[16], ends[16], terms[600], roles[MAX_N][12];
	struct em_party parties[MAX_N], sorted[MAX_N], written[MAX_N], again[MAX_N];
	unsigned char hash[EM_HASH_BYTES], h2[EM_HASH_BYTES], sig[EM_SIG_BYTES], *b;
	uint64_t room = fuzz_take(in, 8);
	uint32_t version = (uint32_t)fuzz_take(in, 4);
	size_t n = (size_t)fuzz_take(in, 1) % (MAX_N + 1), len = 0;
	struct reader r;

	memset(parties, 0, sizeof(parties));
	fuzz_take_str(in, starts, sizeof(starts) - 1);
	fuzz_take_str(in, ends, sizeof(ends) - 1);
	fuzz_take_str(in, terms, sizeof(terms) - 1);
	for (size_t i = 0; i < n; i++) {
		parties[i].user_id = fuzz_take(in, 1) & 1 ? fuzz_take(in, 1) : fuzz_take(in, 8);
		parties[i].role = fuzz_take_str(in, roles[i], sizeof(roles[i]) - 1);
		for (size_t k = 0; k < EM_SIGN_PK_BYTES; k++)
			parties[i].sign_pk[k] = (unsigned char)fuzz_take(in, 1);
		memcpy(parties[i].box_pk, parties[i].sign_pk, EM_BOX_PK_BYTES);
		parties[i].box_pk[0] ^= 0x5a;
	}
	memcpy(sorted, parties, sizeof(parties));
	memcpy(again, parties, sizeof(parties));
	b = em_agreement_bytes(room, version, starts, ends, terms, parties, n, &len);
	check(b != NULL, "agreement bytes are built");
	/* the function sorts its parties in place: the same parties, ascending user_id */
	memcpy(written, parties, sizeof(parties));
	qsort(sorted, n, sizeof(sorted[0]), by_everything);
	qsort(written, n, sizeof(written[0]), by_everything);
	check(n == 0 || !memcmp(sorted, written, n * sizeof(sorted[0])),
	      "the parties written are the parties given");
	r = (struct reader){b, len, 0};
	expect_label(&r, "ementor agreement v1");
	check(take_be(&r, 8) == room, "room_id u64");
	check(take_be(&r, 4) == version, "version u32");
	expect_lp(&r, starts, "lp(starts_on)");
	expect_lp(&r, ends, "lp(ends_on)");
	crypto_generichash(hash, sizeof(hash), (const unsigned char *)terms, strlen(terms), NULL,
	                   0);
	expect_bytes(&r, hash, sizeof(hash), "BLAKE2b-256(terms)");
	check(take_be(&r, 4) == n, "n u32");
	for (size_t i = 0; i < n; i++) {
		check(take_be(&r, 8) == parties[i].user_id, "user_id u64");
		check(i == 0 || parties[i - 1].user_id <= parties[i].user_id,
		      "parties in ascending user_id");
		expect_lp(&r, parties[i].role, "lp(role)");
		expect_bytes(&r, parties[i].sign_pk, EM_SIGN_PK_BYTES, "sign_pk");
		expect_bytes(&r, parties[i].box_pk, EM_BOX_PK_BYTES, "box_pk");
	}
	check(!r.bad && r.left == 0, "nothing before or after the layout");
	crypto_generichash(hash, sizeof(hash), b, len, NULL, 0);
	check(em_agreement_hash(room, version, starts, ends, terms, again, n, h2) == 0 &&
	          !memcmp(hash, h2, sizeof(hash)),
	      "the agreement hash is BLAKE2b-256 of the bytes");
	check(em_agreement_sign(room, version, starts, ends, terms, again, n, alice.sign_sk, sig) ==
	          0,
	      "signs");
	check(em_agreement_verify(room, version, starts, ends, terms, again, n, alice.sign_pk,
	                          sig) == 0,
	      "the signature verifies");
	check(em_agreement_verify(room, version + 1, starts, ends, terms, again, n, alice.sign_pk,
	                          sig) != 0,
	      "not for another version");
	check(em_agreement_verify(room, version, starts, ends, terms, again, n, bob.sign_pk, sig) !=
	          0,
	      "not with another key");
	free(b);
}

/* ---- 1: consent ---- */

static void consent(struct fuzz_in *in)
{
	char purpose[81], subject[81], action[11];
	unsigned char pk[EM_SIGN_PK_BYTES], hash[EM_HASH_BYTES], sig[EM_SIG_BYTES];
	unsigned char out[EM_CONSENT_BYTES_MAX + 64];
	int64_t at = (int64_t)fuzz_take(in, 8);
	size_t n;
	int fits;
	struct reader r;

	for (size_t k = 0; k < sizeof(hash); k++)
		hash[k] = (unsigned char)fuzz_take(in, 1);
	fuzz_take_str(in, purpose, sizeof(purpose) - 1);
	fuzz_take_str(in, subject, sizeof(subject) - 1);
	fuzz_take_str(in, action, sizeof(action) - 1);
	memcpy(pk, fuzz_take(in, 1) & 1 ? alice.sign_pk : bob.sign_pk, sizeof(pk));
	/* canaries: nothing is written past the returned length */
	memset(out, 0xa5, sizeof(out));
	n = em_consent_bytes(pk, purpose, subject, hash, action, at, out);
	fits = strlen(purpose) <= 64 && strlen(subject) <= 64 && strlen(action) <= 8;
	check((n > 0) == fits, "refused exactly when a string is too long");
	for (size_t k = n; k < sizeof(out); k++)
		check(out[k] == 0xa5, "nothing written past the layout");
	if (!n) {
		check(em_consent_sign(pk, purpose, subject, hash, action, at, alice.sign_sk, sig) !=
		          0,
		      "a refused record is not signed");
		return;
	}
	check(n <= EM_CONSENT_BYTES_MAX, "within EM_CONSENT_BYTES_MAX");
	r = (struct reader){out, n, 0};
	expect_label(&r, "ementor consent v1");
	expect_bytes(&r, pk, sizeof(pk), "sign_pk");
	expect_lp(&r, purpose, "lp(purpose)");
	expect_lp(&r, subject, "lp(subject)");
	expect_bytes(&r, hash, sizeof(hash), "text_hash");
	expect_lp(&r, action, "lp(action)");
	check(take_be(&r, 8) == (uint64_t)at, "at u64");
	check(!r.bad && r.left == 0, "nothing before or after the layout");
	check(em_consent_sign(alice.sign_pk, purpose, subject, hash, action, at, alice.sign_sk,
	                      sig) == 0 &&
	          em_consent_verify(alice.sign_pk, purpose, subject, hash, action, at, sig) == 0,
	      "the signature verifies");
	check(em_consent_verify(alice.sign_pk, purpose, subject, hash, action, at ^ 1, sig) != 0,
	      "not for another time");
	check(em_consent_verify(bob.sign_pk, purpose, subject, hash, action, at, sig) != 0,
	      "not with another key");
}

/* ---- 2: epoch commits ---- */

static void commit(struct fuzz_in *in)
{
	struct em_commit_entry e[8], orig[8];
	unsigned char hash[32], *b;
	uint64_t room = fuzz_take(in, 8), epoch = fuzz_take(in, 8), committer = fuzz_take(in, 8);
	size_t n = (size_t)fuzz_take(in, 1) % 9, len = 0;
	struct reader r;
	uint64_t prev = 0;

	for (size_t i = 0; i < n; i++) {
		e[i].recipient_id = fuzz_take(in, 2);
		for (size_t k = 0; k < EM_SEALED_KEY_BYTES; k++)
			e[i].sealed[k] = (unsigned char)fuzz_take(in, 1);
	}
	memcpy(orig, e, sizeof(e));
	b = em_commit_bytes(room, epoch, committer, e, n, &len);
	check(b != NULL, "commit bytes are built");
	r = (struct reader){b, len, 0};
	expect_label(&r, "ementor epoch commit v1");
	check(take_be(&r, 8) == room && take_be(&r, 8) == epoch && take_be(&r, 8) == committer,
	      "room, epoch, committer u64");
	check(take_be(&r, 4) == n, "n u32");
	for (size_t i = 0; i < n; i++) {
		uint64_t id = take_be(&r, 8);
		int found = 0;

		check(i == 0 || id >= prev, "entries in ascending recipient_id");
		prev = id;
		crypto_generichash(hash, sizeof(hash), e[i].sealed, EM_SEALED_KEY_BYTES, NULL, 0);
		expect_bytes(&r, hash, sizeof(hash), "BLAKE2b-256(sealed)");
		for (size_t j = 0; j < n && !found; j++)
			found = orig[j].recipient_id == id &&
			        !memcmp(orig[j].sealed, e[i].sealed, EM_SEALED_KEY_BYTES);
		check(found, "each entry is one of the input's, whole");
	}
	check(!r.bad && r.left == 0, "nothing before or after the layout");
	free(b);
}

/* ---- 3: room keys ---- */

static void room_key(struct fuzz_in *in)
{
	unsigned char key[EM_ROOM_KEY_BYTES], sealed[EM_SEALED_KEY_BYTES], got[EM_ROOM_KEY_BYTES];
	unsigned char sig[EM_SIG_BYTES];
	uint64_t room = fuzz_take(in, 8), epoch = fuzz_take(in, 8), committer = fuzz_take(in, 8);
	uint64_t from = 0;

	for (size_t k = 0; k < sizeof(key); k++)
		key[k] = (unsigned char)fuzz_take(in, 1);
	em_room_key_seal(key, room, epoch, 2, committer, alice.sign_sk, bob.box_pk, sealed);
	check(em_room_key_open(sealed, &bob, &from, got, sig) == 0, "a sealed key opens");
	check(from == committer && !memcmp(got, key, sizeof(key)), "with its committer and key");
	check(em_room_key_verify(got, room, epoch, 2, from, sig, alice.sign_pk) == 0,
	      "its signature verifies");
	check(em_room_key_verify(got, room ^ 1, epoch, 2, from, sig, alice.sign_pk) != 0 &&
	          em_room_key_verify(got, room, epoch + 1, 2, from, sig, alice.sign_pk) != 0 &&
	          em_room_key_verify(got, room, epoch, 3, from, sig, alice.sign_pk) != 0,
	      "not for another room, epoch or recipient");
	check(em_room_key_open(sealed, &alice, &from, got, sig) != 0, "not for another recipient");
	for (size_t k = 0; k < sizeof(sealed); k++)
		sealed[k] = (unsigned char)fuzz_take(in, 1);
	check(em_room_key_open(sealed, &bob, &from, got, sig) != 0, "arbitrary bytes do not open");
}

/* ---- 4 and 5: messages ---- */

static void message(struct fuzz_in *in)
{
	unsigned char key[EM_ROOM_KEY_BYTES], id[EM_MSG_ID_BYTES], sig[EM_SIG_BYTES];
	unsigned char *text, *ct = malloc(EM_MSG_CIPHERTEXT_MAX),
	                     *plain = malloc(EM_MSG_CIPHERTEXT_MAX);
	uint64_t room = fuzz_take(in, 8), epoch = fuzz_take(in, 8), sender = fuzz_take(in, 8);
	size_t len = (size_t)fuzz_take(in, 2) % (EM_MSG_PLAINTEXT_MAX + 2), got = 0;
	int ct_len;

	for (size_t k = 0; k < sizeof(key); k++)
		key[k] = (unsigned char)fuzz_take(in, 1);
	for (size_t k = 0; k < sizeof(id); k++)
		id[k] = (unsigned char)fuzz_take(in, 1);
	text = malloc(len + 1);
	for (size_t k = 0; k < len; k++)
		text[k] = (unsigned char)(in->left ? fuzz_take(in, 1) : k);
	ct_len = em_msg_encrypt(key, room, epoch, sender, id, text, len, alice.sign_sk, ct, sig);
	check((ct_len < 0) == (len > EM_MSG_PLAINTEXT_MAX), "refused exactly when too long");
	if (ct_len >= 0) {
		check(ct_len >= (int)EM_MSG_CIPHERTEXT_MIN && ct_len <= (int)EM_MSG_CIPHERTEXT_MAX,
		      "ciphertext within the limits");
		check(em_msg_decrypt(key, room, epoch, sender, id, ct, (size_t)ct_len, sig,
		                     alice.sign_pk, plain, &got) == EM_MSG_OK,
		      "decrypts");
		check(got == len && !memcmp(plain, text, len), "to the same text");
		check(em_msg_decrypt(key, room, epoch + 1, sender, id, ct, (size_t)ct_len, sig,
		                     alice.sign_pk, plain, &got) == EM_MSG_BAD_SIGNATURE,
		      "not for another epoch");
		check(em_msg_decrypt(key, room, epoch, sender, id, ct, (size_t)ct_len, sig,
		                     bob.sign_pk, plain, &got) == EM_MSG_BAD_SIGNATURE,
		      "not from another sender");
	}
	free(text);
	free(ct);
	free(plain);
}

/* The signature em_msg_decrypt() expects, made here from the documented layout. */
static void sign_message(uint64_t room, uint64_t epoch, uint64_t sender, const unsigned char *id,
                         const unsigned char *ct, size_t ct_len, unsigned char *ad, size_t *ad_len,
                         unsigned char sig[EM_SIG_BYTES])
{
	static const char label[] = "ementor message v1";
	unsigned char *buf = malloc(sizeof(label) + 24 + EM_MSG_ID_BYTES + 4 + ct_len), *p = buf;
	uint64_t v[3] = {room, epoch, sender};

	memcpy(p, label, sizeof(label));
	p += sizeof(label);
	for (int i = 0; i < 3; i++)
		for (int b = 7; b >= 0; b--)
			*p++ = (unsigned char)(v[i] >> (b * 8));
	memcpy(p, id, EM_MSG_ID_BYTES);
	p += EM_MSG_ID_BYTES;
	*ad_len = (size_t)(p - buf);
	memcpy(ad, buf, *ad_len);
	for (int b = 3; b >= 0; b--)
		*p++ = (unsigned char)(ct_len >> (b * 8));
	memcpy(p, ct, ct_len);
	p += ct_len;
	crypto_sign_detached(sig, NULL, buf, (size_t)(p - buf), alice.sign_sk);
	free(buf);
}

static void hostile_message(struct fuzz_in *in)
{
	const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	unsigned char key[EM_ROOM_KEY_BYTES] = {7}, id[EM_MSG_ID_BYTES] = {1}, sig[EM_SIG_BYTES];
	unsigned char ad[64], *ct, *plain;
	unsigned sel = (unsigned)fuzz_take(in, 1);
	size_t len = (size_t)fuzz_take(in, 2) % (EM_MSG_CIPHERTEXT_MAX + 64), got = 0, ad_len;
	unsigned long long clen = 0;
	int rc;

	/* exactly len bytes, so that ASan sees any read past them */
	ct = malloc(len ? len : 1);
	plain = malloc(len ? len : 1);
	for (size_t k = 0; k < len; k++)
		ct[k] = (unsigned char)fuzz_take(in, 1);
	switch (sel % 3) {
	case 0: /* unsigned garbage */
		for (size_t k = 0; k < sizeof(sig); k++)
			sig[k] = (unsigned char)fuzz_take(in, 1);
		rc = em_msg_decrypt(key, 1, 1, 1, id, ct, len, sig, alice.sign_pk, plain, &got);
		check(rc == EM_MSG_MALFORMED || rc == EM_MSG_BAD_SIGNATURE,
		      "unsigned bytes are refused");
		break;
	case 1: /* signed garbage: the AEAD must refuse it */
		sign_message(1, 1, 1, id, ct, len, ad, &ad_len, sig);
		rc = em_msg_decrypt(key, 1, 1, 1, id, ct, len, sig, alice.sign_pk, plain, &got);
		check(rc == EM_MSG_MALFORMED || rc == EM_MSG_UNDECRYPTABLE,
		      "signed bytes that are no ciphertext are refused");
		check((rc == EM_MSG_MALFORMED) ==
		          (len < EM_MSG_CIPHERTEXT_MIN || len > EM_MSG_CIPHERTEXT_MAX),
		      "malformed exactly when the length is out of bounds");
		break;
	default: { /* a real ciphertext of arbitrary "padded" bytes, signed */
		size_t body = len > nb + crypto_aead_xchacha20poly1305_ietf_ABYTES
		                  ? len - nb - crypto_aead_xchacha20poly1305_ietf_ABYTES
		                  : 0;
		unsigned char *padded = malloc(body ? body : 1), *real = malloc(len + 64);
		size_t real_len;

		memcpy(padded, ct, body);
		sign_message(1, 1, 1, id, ct, 0, ad, &ad_len, sig); /* for the ad only */
		memset(real, 9, nb);
		crypto_aead_xchacha20poly1305_ietf_encrypt(real + nb, &clen, padded, body, ad,
		                                           ad_len, NULL, real, key);
		real_len = nb + (size_t)clen;
		sign_message(1, 1, 1, id, real, real_len, ad, &ad_len, sig);
		free(plain);
		plain = malloc(real_len);
		rc = em_msg_decrypt(key, 1, 1, 1, id, real, real_len, sig, alice.sign_pk, plain,
		                    &got);
		if (real_len < EM_MSG_CIPHERTEXT_MIN || real_len > EM_MSG_CIPHERTEXT_MAX) {
			check(rc == EM_MSG_MALFORMED, "out-of-bounds length is malformed");
		} else {
			size_t unpadded = 0;
			int pad_ok = sodium_unpad(&unpadded, padded, body, EM_MSG_PAD_BLOCK) == 0;

			check(rc == (pad_ok ? EM_MSG_OK : EM_MSG_MALFORMED),
			      "OK exactly when the padding is sodium_pad's");
			if (rc == EM_MSG_OK)
				check(got == unpadded && !memcmp(plain, padded, got),
				      "and the text is what was inside");
		}
		free(padded);
		free(real);
		break;
	}
	}
	free(ct);
	free(plain);
}

/* ---- 6: key backups ---- */

static void backup(struct fuzz_in *in)
{
	unsigned char wrap[32], box[EM_BACKUP_BYTES], *junk;
	char user[80];
	struct em_keys k = alice, got;
	size_t junk_len;

	for (size_t i = 0; i < sizeof(wrap); i++)
		wrap[i] = (unsigned char)fuzz_take(in, 1);
	fuzz_take_str(in, user, sizeof(user) - 1);
	em_keys_wrap(&k, wrap, user, box);
	memset(&got, 0, sizeof(got));
	check(em_keys_unwrap(&got, wrap, user, box, sizeof(box)) == 0, "a backup opens");
	check(!memcmp(&got, &alice, sizeof(got)), "to the same keys, public halves recomputed");
	wrap[0] ^= 1;
	check(em_keys_unwrap(&got, wrap, user, box, sizeof(box)) != 0, "not with another key");
	junk_len = (size_t)fuzz_take(in, 1);
	junk = malloc(junk_len ? junk_len : 1);
	for (size_t i = 0; i < junk_len; i++)
		junk[i] = (unsigned char)fuzz_take(in, 1);
	check(em_keys_unwrap(&got, wrap, user, junk, junk_len) != 0, "arbitrary bytes do not open");
	free(junk);
}

/* ---- 7: base64url and subjects ---- */

static void decoders(struct fuzz_in *in)
{
	char text[200], subject[40], again[40];
	unsigned char bin[160];
	size_t outlen = (size_t)fuzz_take(in, 1) % sizeof(bin);
	int n;
	int64_t id = 0;

	fuzz_take_str(in, text, sizeof(text) - 1);
	n = em_b64_decode(text, bin, outlen);
	check(n >= -1 && n <= (int)outlen, "decodes within outlen");
	if (n >= 0) {
		char *back = em_b64_encode(bin, (size_t)n);

		check(back && !strcmp(back, text), "a decoded text is the canonical encoding");
		free(back);
	}
	fuzz_take_str(in, subject, sizeof(subject) - 1);
	if (em_subject_id(subject, "room:", &id) == 0) {
		check(id >= 1 && id <= EM_MAX_REQUEST_ID, "an id in range");
		snprintf(again, sizeof(again), "room:%" PRId64, id);
		check(!strcmp(again, subject), "the subject is the canonical text of its id");
	} else {
		long long v;
		char tail;

		/* refused: then it is not "room:" + a canonical decimal in range */
		if (sscanf(subject, "room:%lld%c", &v, &tail) == 1 && v >= 1 &&
		    v <= EM_MAX_REQUEST_ID) {
			snprintf(again, sizeof(again), "room:%lld", v);
			check(strcmp(again, subject) != 0, "a canonical subject is accepted");
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};

	switch (fuzz_take(&in, 1) % 8) {
	case 0:
		agreement(&in);
		break;
	case 1:
		consent(&in);
		break;
	case 2:
		commit(&in);
		break;
	case 3:
		room_key(&in);
		break;
	case 4:
		message(&in);
		break;
	case 5:
		hostile_message(&in);
		break;
	case 6:
		backup(&in);
		break;
	default:
		decoders(&in);
		break;
	}
	return 0;
}
