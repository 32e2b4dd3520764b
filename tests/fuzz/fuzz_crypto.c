/*
 * fuzz_crypto.c - libFuzzer target for the signed byte layouts and sealed
 * containers of proto/em_crypto.c (PROTOCOL.md sections 5.1 and 7.1), and
 * the decoders their inputs pass through (base64url, consent subjects).
 *
 * The first input byte picks one check, the rest are its values (fuzz.h):
 *   0 agreement bytes: read back by an independent reader of the documented
 *     layout, field for field (parties in ascending user_id), with nothing
 *     left over; the hash is BLAKE2b-256 of them; a signature verifies, and
 *     not once the version or terms change;
 *   1 consent bytes: refused exactly when a string is too long, else read
 *     back field for field within EM_CONSENT_BYTES_MAX; sign/verify as above;
 *   2 epoch commits: the bytes read back (agreement version, each sealed
 *     key's BLAKE2b-256 in place, ascending); the signature verifies in any
 *     order of distinct envelopes, and not for another agreement version,
 *     epoch, committer, envelope or number of envelopes;
 *   3 room keys: sealed exactly when the recipient list is 1..6 ascending
 *     ids that name the recipient; an envelope's plaintext is the documented
 *     committer, agreement version, list and key with key_sig over the
 *     documented bytes; open/verify round trip, and the signature does not
 *     verify once any field named changes; an envelope of any plaintext
 *     opens exactly when its list is well-formed; arbitrary bytes never;
 *   4 messages: encrypt/decrypt round trip of any text up to the limit with
 *     the device, counter and time signed inside; an independent reader
 *     checks the signature, the AEAD under the documented ad, the padding
 *     and the body; a message for another epoch does not verify;
 *   5 hostile messages: any ciphertext, signed or not, and a correctly
 *     encrypted and signed but arbitrary padded body: decrypt answers OK
 *     only with the meta and text inside, never reads or writes out of
 *     bounds;
 *   6 key backups: wrap/unwrap round trip; arbitrary backups do not open;
 *   7 base64url and subjects: a decode that succeeds re-encodes to the same
 *     text; em_subject_id() accepts exactly "PREFIX:" + a canonical decimal
 *     of 1 .. 2^53-1, and the id prints back as the subject;
 *   8 programme settings: the signature covers the documented bytes,
 *     verifies, and not for the other setting, another programme, creator
 *     or key.
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

/* Whether the entries name each recipient once (an honest commit: one envelope per member). */
static int distinct_recipients(const struct em_commit_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (e[i].recipient_id == e[j].recipient_id)
				return 0;
	return 1;
}

static void commit(struct fuzz_in *in)
{
	struct em_commit_entry e[8], orig[8], again[8];
	unsigned char hash[32], sig[EM_SIG_BYTES], *b;
	struct em_commit c, other;
	size_t n, len = 0, turn;
	struct reader r;
	uint64_t prev = 0;

	memset(&c, 0, sizeof(c));
	memset(e, 0, sizeof(e));
	c.room_id = fuzz_take(in, 8);
	c.epoch = fuzz_take(in, 8);
	c.committer_id = fuzz_take(in, 8);
	c.agreement_version = (uint32_t)fuzz_take(in, 4);
	n = (size_t)fuzz_take(in, 1) % 9;
	for (size_t i = 0; i < n; i++) {
		e[i].recipient_id = fuzz_take(in, 2);
		for (size_t k = 0; k < EM_SEALED_KEY_BYTES; k++)
			e[i].sealed[k] = (unsigned char)fuzz_take(in, 1);
	}
	turn = n ? (size_t)fuzz_take(in, 1) % n : 0;
	memcpy(orig, e, sizeof(e));
	b = em_commit_bytes(&c, e, n, &len);
	check(b != NULL, "commit bytes are built");
	r = (struct reader){b, len, 0};
	expect_label(&r, "ementor epoch commit v2");
	check(take_be(&r, 8) == c.room_id && take_be(&r, 8) == c.epoch &&
	          take_be(&r, 8) == c.committer_id,
	      "room, epoch, committer u64");
	check(take_be(&r, 4) == c.agreement_version, "agreement_version u32");
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

	memcpy(again, orig, sizeof(again));
	check(em_commit_sign(&c, again, n, alice.sign_sk, sig) == 0, "a commit is signed");
	/* the envelopes in another order: the signature covers them sorted */
	for (size_t i = 0; i < n; i++)
		again[i] = orig[(i + turn) % n];
	if (distinct_recipients(orig, n))
		check(em_commit_verify(&c, again, n, alice.sign_pk, sig) == 0,
		      "the signature verifies, whatever the order of the envelopes");
	memcpy(again, orig, sizeof(again));
	check(em_commit_verify(&c, again, n, bob.sign_pk, sig) != 0, "not with another key");
	other = c;
	other.agreement_version ^= 1;
	check(em_commit_verify(&other, again, n, alice.sign_pk, sig) != 0,
	      "not for another agreement version");
	other = c;
	other.epoch ^= 1;
	check(em_commit_verify(&other, again, n, alice.sign_pk, sig) != 0, "not for another epoch");
	other = c;
	other.committer_id ^= 1;
	check(em_commit_verify(&other, again, n, alice.sign_pk, sig) != 0,
	      "not for another committer");
	if (n) {
		memcpy(again, orig, sizeof(again));
		again[turn].sealed[turn] ^= 1;
		check(em_commit_verify(&c, again, n, alice.sign_pk, sig) != 0,
		      "not once an envelope changes");
		memcpy(again, orig, sizeof(again));
		check(em_commit_verify(&c, again, n - 1, alice.sign_pk, sig) != 0,
		      "not without one of its envelopes");
	}
}

/* ---- 3: room keys ---- */

/* What an envelope's plaintext holds after the sealed box: PROTOCOL.md 5.1. */
#define ENVELOPE_PLAIN_BYTES (EM_SEALED_KEY_BYTES - crypto_box_SEALBYTES)

/* Whether ids[0..n) may be an envelope's recipients: 1..6 strictly ascending non-zero ids. */
static int list_ok(const uint64_t *ids, uint64_t n)
{
	if (n < 1 || n > EM_KEY_RECIPIENTS_MAX)
		return 0;
	for (uint64_t i = 0; i < n; i++)
		if (!ids[i] || (i && ids[i] <= ids[i - 1]))
			return 0;
	return 1;
}

/* Whether one of the first n (at most 6) ids is user. */
static int list_names(const uint64_t *ids, uint64_t n, uint64_t user)
{
	for (uint64_t i = 0; i < n && i < EM_KEY_RECIPIENTS_MAX; i++)
		if (ids[i] == user)
			return 1;
	return 0;
}

static unsigned char *put_be(unsigned char *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		*p++ = (unsigned char)(v >> (8 * (n - 1 - i)));
	return p;
}

/* The bytes key_sig covers, written here from PROTOCOL.md 5.1; returns their length. */
static size_t key_sig_bytes(const struct em_room_key_id *id, const unsigned char *key,
                            unsigned char *out)
{
	static const char label[] = "ementor room key v2";
	unsigned char *p = out;

	memcpy(p, label, sizeof(label));
	p += sizeof(label);
	p = put_be(p, id->room_id, 8);
	p = put_be(p, id->epoch, 8);
	p = put_be(p, id->recipient_id, 8);
	p = put_be(p, id->committer_id, 8);
	p = put_be(p, id->agreement_version, 4);
	p = put_be(p, id->n_recipients, 4);
	for (uint32_t i = 0; i < EM_KEY_RECIPIENTS_MAX; i++)
		p = put_be(p, i < id->n_recipients ? id->recipients[i] : 0, 8);
	memcpy(p, key, EM_ROOM_KEY_BYTES);
	return (size_t)(p + EM_ROOM_KEY_BYTES - out);
}

/* One recipient id: mostly small steps up from the last (repeats and zeros happen), or any. */
static uint64_t take_recipient(struct fuzz_in *in, uint64_t *at)
{
	unsigned sel = (unsigned)fuzz_take(in, 1);

	if (sel & 0x80)
		return fuzz_take(in, sel & 0x40 ? 8 : 2);
	*at += sel % 4;
	return *at;
}

/* A sealed key of ours: round trip, the documented layout, what the signature covers. */
static void room_key_genuine(const struct em_room_key_id *id, const unsigned char *key,
                             const unsigned char *sealed)
{
	unsigned char plain[ENVELOPE_PLAIN_BYTES], sig[EM_SIG_BYTES], got[EM_ROOM_KEY_BYTES];
	unsigned char signed_bytes[160], sig2[EM_SIG_BYTES];
	struct em_room_key_id got_id, other;
	const unsigned char *sig_at;
	size_t signed_len;
	struct reader r;

	check(crypto_box_seal_open(plain, sealed, EM_SEALED_KEY_BYTES, bob.box_pk, bob.box_sk) == 0,
	      "an envelope opens for its recipient");
	r = (struct reader){plain, sizeof(plain), 0};
	check(take_be(&r, 8) == id->committer_id, "committer_id u64");
	check(take_be(&r, 4) == id->agreement_version, "agreement_version u32");
	check(take_be(&r, 4) == id->n_recipients, "n u32");
	for (uint32_t i = 0; i < EM_KEY_RECIPIENTS_MAX; i++)
		check(take_be(&r, 8) == (i < id->n_recipients ? id->recipients[i] : 0),
		      "the recipients, ascending, then zero slots");
	expect_bytes(&r, key, EM_ROOM_KEY_BYTES, "room_key");
	sig_at = take(&r, EM_SIG_BYTES);
	check(sig_at && !r.bad && r.left == 0, "then key_sig, and nothing after it");
	if (!sig_at)
		return;
	memcpy(sig, sig_at, sizeof(sig));
	signed_len = key_sig_bytes(id, key, signed_bytes);
	check(crypto_sign_verify_detached(sig, signed_bytes, signed_len, alice.sign_pk) == 0,
	      "key_sig covers the documented bytes");

	memset(&got_id, 0, sizeof(got_id));
	got_id.room_id = id->room_id;
	got_id.epoch = id->epoch;
	got_id.recipient_id = id->recipient_id;
	check(em_room_key_open(sealed, &bob, &got_id, got, sig2) == 0, "a sealed key opens");
	check(got_id.committer_id == id->committer_id &&
	          got_id.agreement_version == id->agreement_version &&
	          got_id.n_recipients == id->n_recipients,
	      "with its committer, agreement version and number of recipients");
	for (uint32_t i = 0; i < EM_KEY_RECIPIENTS_MAX; i++)
		check(got_id.recipients[i] == (i < id->n_recipients ? id->recipients[i] : 0),
		      "and its recipients");
	check(!memcmp(got, key, sizeof(got)) && !memcmp(sig, sig2, sizeof(sig)),
	      "and its key and signature");
	check(em_room_key_verify(got, &got_id, sig2, alice.sign_pk) == 0, "its signature verifies");
	check(em_room_key_verify(got, &got_id, sig2, bob.sign_pk) != 0, "not with another key");
	other = got_id;
	other.room_id ^= 1;
	check(em_room_key_verify(got, &other, sig2, alice.sign_pk) != 0, "not for another room");
	other = got_id;
	other.epoch ^= 1;
	check(em_room_key_verify(got, &other, sig2, alice.sign_pk) != 0, "not for another epoch");
	other = got_id;
	other.recipient_id ^= 1;
	check(em_room_key_verify(got, &other, sig2, alice.sign_pk) != 0,
	      "not for another recipient");
	other = got_id;
	other.committer_id ^= 1;
	check(em_room_key_verify(got, &other, sig2, alice.sign_pk) != 0,
	      "not for another committer");
	other = got_id;
	other.agreement_version ^= 1;
	check(em_room_key_verify(got, &other, sig2, alice.sign_pk) != 0,
	      "not for another agreement version");
	other = got_id;
	other.recipients[other.n_recipients - 1] += 1;
	check(em_room_key_verify(got, &other, sig2, alice.sign_pk) != 0,
	      "not for another recipient list");
	other = got_id;
	other.n_recipients = other.n_recipients > 1 ? other.n_recipients - 1 : 2;
	check(em_room_key_verify(got, &other, sig2, alice.sign_pk) != 0,
	      "not for another number of recipients");
	got[0] ^= 1;
	check(em_room_key_verify(got, &got_id, sig2, alice.sign_pk) != 0, "not for another key");
	check(em_room_key_open(sealed, &alice, &got_id, got, sig2) != 0,
	      "not opened by another recipient");
}

static void room_key(struct fuzz_in *in)
{
	unsigned char key[EM_ROOM_KEY_BYTES], sealed[EM_SEALED_KEY_BYTES], got[EM_ROOM_KEY_BYTES];
	unsigned char plain[ENVELOPE_PLAIN_BYTES], sig[EM_SIG_BYTES], *p;
	uint64_t at = 0, slots[EM_KEY_RECIPIENTS_MAX], n64, other;
	struct em_room_key_id id;
	unsigned pick;
	int rc, ok;

	memset(&id, 0, sizeof(id));
	id.room_id = fuzz_take(in, 8);
	id.epoch = fuzz_take(in, 8);
	id.committer_id = fuzz_take(in, 8);
	id.agreement_version = (uint32_t)fuzz_take(in, 4);
	id.n_recipients = (uint32_t)fuzz_take(in, 1) % (EM_KEY_RECIPIENTS_MAX + 2);
	/* every slot filled: what lies after the n-th must not matter */
	for (size_t i = 0; i < EM_KEY_RECIPIENTS_MAX; i++)
		id.recipients[i] = take_recipient(in, &at);
	pick = (unsigned)fuzz_take(in, 1);
	id.recipient_id = pick & 0x80 || !id.n_recipients
	                      ? fuzz_take(in, 2)
	                      : id.recipients[pick % id.n_recipients % EM_KEY_RECIPIENTS_MAX];
	other = fuzz_take(in, 2);
	for (size_t k = 0; k < sizeof(key); k++)
		key[k] = (unsigned char)fuzz_take(in, 1);
	check(em_room_key_names(&id, other) == list_names(id.recipients, id.n_recipients, other) &&
	          em_room_key_names(&id, id.recipient_id) ==
	              list_names(id.recipients, id.n_recipients, id.recipient_id),
	      "em_room_key_names() answers whether the list names a user");
	ok = list_ok(id.recipients, id.n_recipients) &&
	     list_names(id.recipients, id.n_recipients, id.recipient_id);
	rc = em_room_key_seal(key, &id, alice.sign_sk, bob.box_pk, sealed);
	check((rc == 0) == ok,
	      "a key is sealed exactly when the recipients are 1..6 ascending ids naming its "
	      "recipient");
	if (rc == 0)
		room_key_genuine(&id, key, sealed);

	/* an envelope sealed to bob whose plaintext is anything: it opens exactly when
	 * its recipient list is well-formed, and reads back as written */
	id.committer_id = fuzz_take(in, 8);
	id.agreement_version = (uint32_t)fuzz_take(in, 4);
	n64 = fuzz_take(in, 1);
	n64 = n64 & 0x80 ? fuzz_take(in, 4) : n64 % (EM_KEY_RECIPIENTS_MAX + 2);
	at = 0;
	for (size_t i = 0; i < EM_KEY_RECIPIENTS_MAX; i++)
		slots[i] = i < n64 || (fuzz_take(in, 1) & 1) ? take_recipient(in, &at) : 0;
	p = put_be(plain, id.committer_id, 8);
	p = put_be(p, id.agreement_version, 4);
	p = put_be(p, n64, 4);
	for (size_t i = 0; i < EM_KEY_RECIPIENTS_MAX; i++)
		p = put_be(p, slots[i], 8);
	for (; p < plain + sizeof(plain); p++)
		*p = (unsigned char)fuzz_take(in, 1);
	crypto_box_seal(sealed, plain, sizeof(plain), bob.box_pk);
	ok = list_ok(slots, n64);
	for (uint64_t i = n64; ok && i < EM_KEY_RECIPIENTS_MAX; i++)
		ok = slots[i] == 0;
	memset(&id, 0, sizeof(id));
	rc = em_room_key_open(sealed, &bob, &id, got, sig);
	check((rc == 0) == ok,
	      "an envelope opens exactly when it lists 1..6 ascending ids and zero slots after");
	if (rc == 0) {
		check(id.n_recipients == n64 && !memcmp(id.recipients, slots, sizeof(slots)),
		      "its recipients read back");
		check(!memcmp(got, plain + 16 + 8 * EM_KEY_RECIPIENTS_MAX, sizeof(got)) &&
		          !memcmp(sig, plain + sizeof(plain) - EM_SIG_BYTES, sizeof(sig)),
		      "its key and signature read back");
	}
	for (size_t k = 0; k < sizeof(sealed); k++)
		sealed[k] = (unsigned char)fuzz_take(in, 1);
	check(em_room_key_open(sealed, &bob, &id, got, sig) != 0, "arbitrary bytes do not open");
}

/* ---- 4 and 5: messages ---- */

#define MSG_AD_MAX (sizeof("ementor message v2") + 24 + EM_MSG_ID_BYTES)

/* The message's ad, written here from PROTOCOL.md 5.1; returns its length. */
static size_t message_ad(uint64_t room, uint64_t epoch, uint64_t sender, const unsigned char *id,
                         unsigned char ad[MSG_AD_MAX])
{
	static const char label[] = "ementor message v2";
	unsigned char *p = ad;

	memcpy(p, label, sizeof(label));
	p += sizeof(label);
	p = put_be(p, room, 8);
	p = put_be(p, epoch, 8);
	p = put_be(p, sender, 8);
	memcpy(p, id, EM_MSG_ID_BYTES);
	return (size_t)(p + EM_MSG_ID_BYTES - ad);
}

/* The bytes a message signature covers: ad || u32 length || ciphertext. Caller frees. */
static unsigned char *message_signed(const unsigned char *ad, size_t ad_len,
                                     const unsigned char *ct, size_t ct_len, size_t *len)
{
	unsigned char *buf = malloc(ad_len + 4 + ct_len + 1), *p = buf;

	if (!buf)
		abort();
	memcpy(p, ad, ad_len);
	p = put_be(p + ad_len, ct_len, 4);
	memcpy(p, ct, ct_len);
	*len = ad_len + 4 + ct_len;
	return buf;
}

/* The signature em_msg_decrypt() expects, made here from the documented layout. */
static void sign_message(const unsigned char *ad, size_t ad_len, const unsigned char *ct,
                         size_t ct_len, unsigned char sig[EM_SIG_BYTES])
{
	size_t len;
	unsigned char *buf = message_signed(ad, ad_len, ct, ct_len, &len);

	crypto_sign_detached(sig, NULL, buf, len, alice.sign_sk);
	free(buf);
}

/* A message of ours read by an independent reader: signature, AEAD, padding, body. */
static void message_read_back(uint64_t room, uint64_t epoch, uint64_t sender,
                              const unsigned char *id, const unsigned char *key,
                              const unsigned char *ct, size_t ct_len, const unsigned char *sig,
                              const struct em_msg_meta *meta, const unsigned char *text, size_t len)
{
	const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	unsigned char ad[MSG_AD_MAX], *buf, *padded = malloc(ct_len);
	size_t ad_len = message_ad(room, epoch, sender, id, ad), buf_len, body_len = 0;
	unsigned long long padded_len = 0;
	struct reader r;

	buf = message_signed(ad, ad_len, ct, ct_len, &buf_len);
	check(crypto_sign_verify_detached(sig, buf, buf_len, alice.sign_pk) == 0,
	      "sig covers ad || u32 length || ciphertext");
	free(buf);
	check(crypto_aead_xchacha20poly1305_ietf_decrypt(padded, &padded_len, NULL, ct + nb,
	                                                 ct_len - nb, ad, ad_len, ct, key) == 0,
	      "the ciphertext is nonce || XChaCha20-Poly1305 under the ad");
	check(padded_len % EM_MSG_PAD_BLOCK == 0 &&
	          sodium_unpad(&body_len, padded, (size_t)padded_len, EM_MSG_PAD_BLOCK) == 0,
	      "of the body padded to 256-byte blocks");
	r = (struct reader){padded, body_len, 0};
	expect_bytes(&r, meta->device, EM_DEVICE_ID_BYTES, "body: device");
	check(take_be(&r, 8) == meta->counter, "body: counter u64");
	check(take_be(&r, 8) == meta->written_ms, "body: written_ms u64");
	check(r.left == len && (!len || !memcmp(r.p, text, len)), "body: then the text");
	free(padded);
}

static void message(struct fuzz_in *in)
{
	unsigned char key[EM_ROOM_KEY_BYTES], id[EM_MSG_ID_BYTES], sig[EM_SIG_BYTES];
	unsigned char *text, *ct = malloc(EM_MSG_CIPHERTEXT_MAX),
	                     *plain = malloc(EM_MSG_CIPHERTEXT_MAX);
	uint64_t room = fuzz_take(in, 8), epoch = fuzz_take(in, 8), sender = fuzz_take(in, 8);
	struct em_msg_meta meta, got_meta;
	size_t len, got = 0;
	int ct_len;

	memset(&meta, 0, sizeof(meta));
	for (size_t k = 0; k < sizeof(meta.device); k++)
		meta.device[k] = (unsigned char)fuzz_take(in, 1);
	meta.counter = fuzz_take(in, 8);
	meta.written_ms = fuzz_take(in, 8);
	len = (size_t)fuzz_take(in, 2) % (EM_MSG_PLAINTEXT_MAX + 2);
	for (size_t k = 0; k < sizeof(key); k++)
		key[k] = (unsigned char)fuzz_take(in, 1);
	for (size_t k = 0; k < sizeof(id); k++)
		id[k] = (unsigned char)fuzz_take(in, 1);
	text = malloc(len + 1);
	for (size_t k = 0; k < len; k++)
		text[k] = (unsigned char)(in->left ? fuzz_take(in, 1) : k);
	ct_len =
	    em_msg_encrypt(key, room, epoch, sender, id, &meta, text, len, alice.sign_sk, ct, sig);
	check((ct_len < 0) == (len > EM_MSG_PLAINTEXT_MAX), "refused exactly when too long");
	if (ct_len >= 0) {
		check(ct_len >= (int)EM_MSG_CIPHERTEXT_MIN && ct_len <= (int)EM_MSG_CIPHERTEXT_MAX,
		      "ciphertext within the limits");
		message_read_back(room, epoch, sender, id, key, ct, (size_t)ct_len, sig, &meta,
		                  text, len);
		memset(&got_meta, 0, sizeof(got_meta));
		check(em_msg_decrypt(key, room, epoch, sender, id, ct, (size_t)ct_len, sig,
		                     alice.sign_pk, &got_meta, plain, &got) == EM_MSG_OK,
		      "decrypts");
		check(got == len && !memcmp(plain, text, len), "to the same text");
		check(!memcmp(&got_meta, &meta, sizeof(meta)),
		      "with the device, counter and time the sender signed");
		check(em_msg_decrypt(key, room, epoch + 1, sender, id, ct, (size_t)ct_len, sig,
		                     alice.sign_pk, &got_meta, plain, &got) == EM_MSG_BAD_SIGNATURE,
		      "not for another epoch");
		check(em_msg_decrypt(key, room, epoch, sender, id, ct, (size_t)ct_len, sig,
		                     bob.sign_pk, &got_meta, plain, &got) == EM_MSG_BAD_SIGNATURE,
		      "not from another sender");
	}
	/* the same as v3 (franked): opens the same, and its report verifies without the key */
	ct_len = em_msg_encrypt_v3(key, room, epoch, sender, id, &meta, text, len, alice.sign_sk,
	                           ct, sig);
	check((ct_len < 0) == (len > EM_MSG_PLAINTEXT_MAX), "v3: refused exactly when too long");
	if (ct_len >= 0) {
		struct em_msg_frank frank;

		check(ct_len >= (int)(EM_MSG_CIPHERTEXT_MIN + EM_MSG_FRANK_BYTES) &&
		          ct_len <= (int)EM_MSG_CIPHERTEXT_MAX,
		      "v3: ciphertext within the limits");
		memset(&got_meta, 0, sizeof(got_meta));
		check(em_msg_open(key, room, epoch, sender, id, ct, (size_t)ct_len, sig,
		                  alice.sign_pk, &got_meta, plain, &got, &frank) == EM_MSG_OK &&
		          frank.version == 3 && got == len && !memcmp(plain, text, len) &&
		          !memcmp(&got_meta, &meta, sizeof(meta)),
		      "v3: opens to the same text and meta");
		check(em_msg_frank_verify(room, epoch, sender, id, ct, (size_t)ct_len, sig,
		                          alice.sign_pk, frank.fk, &meta, text, len) == EM_MSG_OK,
		      "v3: the quoted message verifies");
		if (len) {
			text[len / 2] ^= 1;
			check(em_msg_frank_verify(room, epoch, sender, id, ct, (size_t)ct_len, sig,
			                          alice.sign_pk, frank.fk, &meta, text,
			                          len) == EM_MSG_BAD_COMMITMENT,
			      "v3: an altered quote does not");
		}
		check(em_msg_frank_verify(room, epoch + 1, sender, id, ct, (size_t)ct_len, sig,
		                          alice.sign_pk, frank.fk, &meta, text,
		                          len) == EM_MSG_BAD_SIGNATURE,
		      "v3: nor one moved to another epoch");
	}
	free(text);
	free(ct);
	free(plain);
}

static void hostile_message(struct fuzz_in *in)
{
	const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	unsigned char key[EM_ROOM_KEY_BYTES] = {7}, id[EM_MSG_ID_BYTES] = {1}, sig[EM_SIG_BYTES];
	unsigned char ad[MSG_AD_MAX], *ct, *plain;
	unsigned sel = (unsigned)fuzz_take(in, 1);
	size_t len = (size_t)fuzz_take(in, 2) % (EM_MSG_CIPHERTEXT_MAX + 64), got = 0;
	size_t ad_len = message_ad(1, 1, 1, id, ad);
	struct em_msg_meta meta;
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
		rc = em_msg_decrypt(key, 1, 1, 1, id, ct, len, sig, alice.sign_pk, &meta, plain,
		                    &got);
		check(rc == EM_MSG_MALFORMED || rc == EM_MSG_BAD_SIGNATURE,
		      "unsigned bytes are refused");
		memset(&meta, 0, sizeof(meta));
		check(em_msg_frank_verify(1, 1, 1, id, ct, len, sig, alice.sign_pk, key, &meta, ct,
		                          len < EM_MSG_PLAINTEXT_MAX ? len : 0) != EM_MSG_OK,
		      "unsigned bytes are no verifiable quote");
		break;
	case 1: /* signed garbage: the AEAD must refuse it */
		sign_message(ad, ad_len, ct, len, sig);
		rc = em_msg_decrypt(key, 1, 1, 1, id, ct, len, sig, alice.sign_pk, &meta, plain,
		                    &got);
		check(rc == EM_MSG_MALFORMED || rc == EM_MSG_UNDECRYPTABLE,
		      "signed bytes that are no ciphertext are refused");
		check((rc == EM_MSG_MALFORMED) ==
		          (len < EM_MSG_CIPHERTEXT_MIN || len > EM_MSG_CIPHERTEXT_MAX),
		      "malformed exactly when the length is out of bounds");
		break;
	default: { /* a real ciphertext of an arbitrary "padded body", signed */
		size_t body = len > nb + crypto_aead_xchacha20poly1305_ietf_ABYTES
		                  ? len - nb - crypto_aead_xchacha20poly1305_ietf_ABYTES
		                  : 0;
		unsigned char *padded = malloc(body ? body : 1), *real = malloc(len + 64);
		size_t real_len;

		memcpy(padded, ct, body);
		memset(real, 9, nb);
		crypto_aead_xchacha20poly1305_ietf_encrypt(real + nb, &clen, padded, body, ad,
		                                           ad_len, NULL, real, key);
		real_len = nb + (size_t)clen;
		sign_message(ad, ad_len, real, real_len, sig);
		free(plain);
		plain = malloc(real_len);
		rc = em_msg_decrypt(key, 1, 1, 1, id, real, real_len, sig, alice.sign_pk, &meta,
		                    plain, &got);
		if (real_len < EM_MSG_CIPHERTEXT_MIN || real_len > EM_MSG_CIPHERTEXT_MAX) {
			check(rc == EM_MSG_MALFORMED, "out-of-bounds length is malformed");
		} else {
			size_t unpadded = 0;
			int body_ok =
			    sodium_unpad(&unpadded, padded, body, EM_MSG_PAD_BLOCK) == 0 &&
			    unpadded >= EM_MSG_META_BYTES &&
			    unpadded - EM_MSG_META_BYTES <= EM_MSG_PLAINTEXT_MAX;

			check(rc == (body_ok ? EM_MSG_OK : EM_MSG_MALFORMED),
			      "OK exactly when the padding is sodium_pad's around device, counter, "
			      "time and at most 16,384 bytes of text");
			if (rc == EM_MSG_OK) {
				struct reader r = {padded, EM_MSG_META_BYTES, 0};

				check(!memcmp(meta.device, take(&r, EM_DEVICE_ID_BYTES),
				              EM_DEVICE_ID_BYTES) &&
				          meta.counter == take_be(&r, 8) &&
				          meta.written_ms == take_be(&r, 8),
				      "and the meta is the first 24 bytes of the body");
				check(got == unpadded - EM_MSG_META_BYTES &&
				          !memcmp(plain, padded + EM_MSG_META_BYTES, got),
				      "and the text is the rest of it");
			}
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

/* ---- 8: programme settings ---- */

static void programme(struct fuzz_in *in)
{
	static const char label[] = "ementor programme settings v1";
	unsigned char bytes[sizeof(label) + 17], sig[EM_SIG_BYTES], *p = bytes;
	uint64_t id = fuzz_take(in, 8), creator = fuzz_take(in, 8);
	int required = (int)(int8_t)fuzz_take(in, 1);

	em_programme_sign(id, creator, required, alice.sign_sk, sig);
	memcpy(p, label, sizeof(label));
	p = put_be(p + sizeof(label), id, 8);
	p = put_be(p, creator, 8);
	*p = required ? 1 : 0;
	check(crypto_sign_verify_detached(sig, bytes, sizeof(bytes), alice.sign_pk) == 0,
	      "settings_sig covers label || programme_id || creator_id || u8 agreement_required");
	check(em_programme_verify(id, creator, required, alice.sign_pk, sig) == 0,
	      "the signature verifies");
	check(em_programme_verify(id, creator, !required, alice.sign_pk, sig) != 0,
	      "not for the other setting");
	check(em_programme_verify(id, creator, required ? 1 : 0, alice.sign_pk, sig) == 0,
	      "any true value is the setting 1");
	check(em_programme_verify(id ^ 1, creator, required, alice.sign_pk, sig) != 0 &&
	          em_programme_verify(id, creator ^ 1, required, alice.sign_pk, sig) != 0,
	      "not for another programme or creator");
	check(em_programme_verify(id, creator, required, bob.sign_pk, sig) != 0,
	      "not with another key");
	for (size_t k = 0; k < sizeof(sig); k++)
		sig[k] ^= (unsigned char)fuzz_take(in, 1);
	check(em_programme_verify(id, creator, required, alice.sign_pk, sig) ==
	          (crypto_sign_verify_detached(sig, bytes, sizeof(bytes), alice.sign_pk) ? -1 : 0),
	      "a changed signature verifies exactly when Ed25519 says so");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};

	switch (fuzz_take(&in, 1) % 9) {
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
	case 7:
		decoders(&in);
		break;
	default:
		programme(&in);
		break;
	}
	return 0;
}
