/*
 * check.c - checks this build's libementor-proto against the committed
 * conformance vectors (tests/vectors/vectors.json): every case of every
 * section, each output recomputed through proto's own functions and compared
 * byte for byte, each negative case refused. Written apart from gen.c, which
 * made the file: it reads only the file.
 *
 * Random inputs are handed back to proto where it draws them: while a case
 * wraps a backup or encrypts a message, libsodium's random source returns the
 * case's nonce (and fails the case if proto draws anything else). Sealed boxes
 * are opened, not reproduced.
 *
 * Where proto builds bytes it does not hand out (a backup's or a message's
 * additional data, what a room key signature covers, a programme's settings),
 * the file's bytes are checked with libsodium: the deterministic Ed25519
 * signature proto made is the signature of exactly those bytes, or the
 * ciphertext proto made decrypts with them.
 *
 * Usage: vectors_check FILE [SECTION]. Prints one line per section; exit 0
 * when every case of every section (or of SECTION) passes, 1 otherwise. A
 * section this program does not know is a failure: a new layout cannot go
 * unchecked.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <sodium.h>

#include "em_crypto.h"
#include "em_proto.h"

static const char *section_name, *case_name;
static int case_failed, failures;

static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL %s/%s: ", section_name, case_name ? case_name : "-");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	case_failed = 1;
}

/* ---- the random source: a case's nonce while proto draws it ------------------ */

static struct {
	const unsigned char *bytes;
	size_t len, used;
	int overdrawn;
} feed;

static const char *feed_name(void)
{
	return "vectors-check";
}

static void feed_buf(void *const buf, const size_t size)
{
	if (!feed.bytes) {
		randombytes_sysrandom_implementation.buf(buf, size);
		return;
	}
	if (size > feed.len - feed.used) {
		feed.overdrawn = 1;
		memset(buf, 0, size);
		return;
	}
	memcpy(buf, feed.bytes + feed.used, size);
	feed.used += size;
}

static uint32_t feed_random(void)
{
	uint32_t v;

	feed_buf(&v, sizeof(v));
	return v;
}

static randombytes_implementation feed_implementation = {
    .implementation_name = feed_name,
    .random = feed_random,
    .buf = feed_buf,
};

static void feed_begin(const unsigned char *bytes, size_t len)
{
	feed.bytes = bytes;
	feed.len = len;
	feed.used = 0;
	feed.overdrawn = 0;
}

/* Ends the feed; whether proto drew exactly the given bytes. */
static int feed_end(void)
{
	int exact = !feed.overdrawn && feed.used == feed.len;

	feed.bytes = NULL;
	return exact;
}

/* ---- reading the file ------------------------------------------------------ */

static const char *str_of(json_t *c, const char *key)
{
	const char *s = json_string_value(json_object_get(c, key));

	if (!s)
		fail("no string %s", key);
	return s ? s : "";
}

static uint64_t int_of(json_t *c, const char *key)
{
	json_t *v = json_object_get(c, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		fail("no integer %s", key);
		return 0;
	}
	return (uint64_t)json_integer_value(v);
}

static int bool_of(json_t *c, const char *key)
{
	json_t *v = json_object_get(c, key);

	if (!json_is_boolean(v))
		fail("no boolean %s", key);
	return json_is_true(v);
}

/* The bytes of hex field key, malloc'd (caller frees), or NULL (reported). */
static unsigned char *hex_alloc(json_t *c, const char *key, size_t *len)
{
	const char *hex = json_string_value(json_object_get(c, key));
	size_t n = hex ? strlen(hex) / 2 : 0;
	unsigned char *out;

	*len = 0;
	if (!hex || strlen(hex) % 2) {
		fail("no hex %s", key);
		return NULL;
	}
	out = malloc(n + 1);
	if (!out || sodium_hex2bin(out, n + 1, hex, strlen(hex), NULL, len, NULL) || *len != n) {
		fail("%s is not hex", key);
		free(out);
		return NULL;
	}
	return out;
}

/* Hex field key of exactly len bytes into out; 0, or -1 (reported, out zeroed). */
static int hex_of(json_t *c, const char *key, unsigned char *out, size_t len)
{
	size_t n;
	unsigned char *b = hex_alloc(c, key, &n);
	int rc = -1;

	memset(out, 0, len);
	if (b && n != len)
		fail("%s is %zu bytes, not %zu", key, n, len);
	else if (b) {
		memcpy(out, b, len);
		rc = 0;
	}
	free(b);
	return rc;
}

/* Compares computed bytes with the file's hex field key. */
static void expect_hex(json_t *c, const char *key, const unsigned char *got, size_t len)
{
	size_t n;
	unsigned char *want = hex_alloc(c, key, &n);

	if (want && (n != len || memcmp(want, got, len))) {
		char *hex = malloc(len * 2 + 1);

		if (hex)
			sodium_bin2hex(hex, len * 2 + 1, got, len);
		fail("%s differs: computed %s", key, hex ? hex : "?");
		free(hex);
	}
	free(want);
}

static void expect_str(json_t *c, const char *key, const char *got)
{
	const char *want = str_of(c, key);

	if (strcmp(want, got))
		fail("%s differs: computed \"%s\", the file says \"%s\"", key, got, want);
}

/* ---- identities -------------------------------------------------------------- */

struct ident {
	char name[32];
	uint64_t id;
	struct em_keys k;
};

#define IDENTS_MAX 16
static struct ident idents[IDENTS_MAX];
static size_t n_idents;

static const struct ident *ident_named(const char *name)
{
	for (size_t i = 0; i < n_idents; i++)
		if (!strcmp(idents[i].name, name))
			return &idents[i];
	fail("no identity %s", name);
	return NULL;
}

static const struct ident *ident_of(json_t *c, const char *key)
{
	return ident_named(str_of(c, key));
}

static void check_identity(json_t *c)
{
	unsigned char seed[32], pk[64], sk[64];
	char fp[EM_FINGERPRINT_STRLEN];
	struct ident *p;

	if (n_idents == IDENTS_MAX) {
		fail("more than %d identities", IDENTS_MAX);
		return;
	}
	p = &idents[n_idents++];
	snprintf(p->name, sizeof(p->name), "%s", case_name);
	p->id = int_of(c, "user_id");
	hex_of(c, "sign_pk", p->k.sign_pk, 32);
	hex_of(c, "sign_sk", p->k.sign_sk, 64);
	hex_of(c, "box_pk", p->k.box_pk, 32);
	hex_of(c, "box_sk", p->k.box_sk, 32);
	hex_of(c, "sign_seed", seed, 32);
	crypto_sign_seed_keypair(pk, sk, seed);
	expect_hex(c, "sign_pk", pk, 32);
	expect_hex(c, "sign_sk", sk, 64);
	hex_of(c, "box_seed", seed, 32);
	crypto_box_seed_keypair(pk, sk, seed);
	expect_hex(c, "box_pk", pk, 32);
	expect_hex(c, "box_sk", sk, 32);
	em_fingerprint(p->k.sign_pk, p->k.box_pk, fp);
	expect_str(c, "fingerprint", fp);
}

/* ---- passwords and account keys ------------------------------------------- */

static void check_password(json_t *c)
{
	size_t n_in, n_out = 0;
	unsigned char *in = hex_alloc(c, "input", &n_in), *out = NULL;
	json_t *want = json_object_get(c, "nfc");
	int rc;

	if (!in)
		return;
	rc = em_password_bytes((const char *)in, n_in, &out, &n_out);
	if (json_is_null(want)) {
		if (rc != EM_PASSWORD_NOT_UTF8)
			fail("accepted (%d), but the file says it is refused", rc);
	} else if (rc != EM_PASSWORD_OK) {
		fail("refused: %s", em_password_strerror(rc));
	} else {
		expect_hex(c, "nfc", out, n_out);
	}
	em_password_free(out, n_out);
	free(in);
}

static void check_account(json_t *c)
{
	unsigned char salt[16], auth[32], wrap[32];
	size_t n_in;
	unsigned char *in = hex_alloc(c, "input", &n_in);
	int rc;

	hex_of(c, "salt", salt, sizeof(salt));
	if (!in)
		return;
	rc = em_kdf_derive_password((const char *)in, n_in, salt, int_of(c, "opslimit"),
	                            int_of(c, "memlimit"), auth, wrap);
	if (rc != EM_PASSWORD_OK)
		fail("em_kdf_derive_password: %s", em_password_strerror(rc));
	expect_hex(c, "auth_key", auth, 32);
	expect_hex(c, "wrap_key", wrap, 32);
	free(in);
}

static void check_kdf_defaults(json_t *d)
{
	case_name = "defaults";
	if (int_of(d, "opslimit") != EM_KDF_OPSLIMIT_DEFAULT ||
	    int_of(d, "memlimit") != EM_KDF_MEMLIMIT_DEFAULT)
		fail("this build's defaults are %llu and %llu",
		     (unsigned long long)EM_KDF_OPSLIMIT_DEFAULT,
		     (unsigned long long)EM_KDF_MEMLIMIT_DEFAULT);
	expect_str(d, "alg", "argon2id13");
}

/* ---- key backups ---------------------------------------------------------- */

static void check_backup(json_t *c)
{
	const struct ident *who = ident_of(c, "identity");
	unsigned char wrap_key[32], backup[EM_BACKUP_BYTES], again[EM_BACKUP_BYTES], plain[96];
	const char *username = str_of(c, "username");
	struct em_keys k = {0};
	size_t ad_len;
	unsigned char *ad;
	int opens;

	if (!who || hex_of(c, "wrap_key", wrap_key, 32) || hex_of(c, "backup", backup, 136))
		return;
	opens = em_keys_unwrap(&k, wrap_key, username, backup, sizeof(backup)) == 0;
	if (opens != bool_of(c, "opens")) {
		fail(opens ? "unwraps, but must not" : "does not unwrap");
		return;
	}
	if (!opens)
		return;
	if (memcmp(&k, &who->k, sizeof(k)))
		fail("unwraps to other keys than %s's", who->name);
	/* wrapping again with the case's nonce gives the same backup */
	feed_begin(backup, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	em_keys_wrap(&who->k, wrap_key, username, again);
	if (!feed_end())
		fail("em_keys_wrap did not draw exactly a 24-byte nonce");
	expect_hex(c, "backup", again, sizeof(again));
	expect_hex(c, "nonce", backup, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	/* the additional data shown is what the backup was sealed with */
	if ((ad = hex_alloc(c, "ad", &ad_len)) &&
	    crypto_aead_xchacha20poly1305_ietf_decrypt(
	        plain, NULL, NULL, backup + 24, sizeof(backup) - 24, ad, ad_len, backup, wrap_key))
		fail("the backup does not decrypt with the ad shown");
	free(ad);
	em_keys_wipe(&k);
}

/* ---- safety numbers ------------------------------------------------------- */

static void check_safety(json_t *c)
{
	const struct ident *a = ident_of(c, "a"), *b = ident_of(c, "b");
	char number[EM_SAFETY_STRLEN], again[EM_SAFETY_STRLEN];
	unsigned char ha[32], hb[32];
	crypto_generichash_state st;
	static const char label[] = "ementor safety v1";

	if (!a || !b)
		return;
	em_safety_number(a->k.sign_pk, a->k.box_pk, b->k.sign_pk, b->k.box_pk, number);
	em_safety_number(b->k.sign_pk, b->k.box_pk, a->k.sign_pk, a->k.box_pk, again);
	expect_str(c, "number", number);
	expect_str(c, "number", again);
	/* the intermediate hashes and the ordering rule as the file states them */
	for (int i = 0; i < 2; i++) {
		const struct ident *p = i ? b : a;

		crypto_generichash_init(&st, NULL, 0, 32);
		crypto_generichash_update(&st, (const unsigned char *)label, sizeof(label));
		crypto_generichash_update(&st, p->k.sign_pk, 32);
		crypto_generichash_update(&st, p->k.box_pk, 32);
		crypto_generichash_final(&st, i ? hb : ha, 32);
	}
	expect_hex(c, "h_a", ha, 32);
	expect_hex(c, "h_b", hb, 32);
	expect_str(c, "first", memcmp(ha, hb, 32) < 0 ? "a" : "b");
	expect_str(c, "sodium_compare_first", sodium_compare(ha, hb, 32) < 0 ? "a" : "b");
}

/* ---- envelopes and commits ------------------------------------------------- */

static void check_envelope(json_t *c)
{
	const struct ident *recipient = ident_of(c, "recipient"),
	                   *committer = ident_of(c, "committer");
	unsigned char sealed[EM_SEALED_KEY_BYTES], room_key[32], sig[64], mine[64];
	unsigned char plain[EM_SEALED_KEY_BYTES - crypto_box_SEALBYTES];
	struct em_room_key_id id = {0};
	uint64_t listed_committer = int_of(c, "committer_id");
	uint32_t listed_version = (uint32_t)int_of(c, "agreement_version");
	int accepted;

	if (!recipient || !committer || hex_of(c, "sealed", sealed, sizeof(sealed)))
		return;
	if (int_of(c, "recipient_id") != recipient->id)
		fail("recipient_id is not %s's id", recipient->name);
	id.room_id = int_of(c, "room_id");
	id.epoch = int_of(c, "epoch");
	id.recipient_id = recipient->id;
	/* PROTOCOL.md 5.1, checks 1 to 3 */
	accepted = em_room_key_open(sealed, &recipient->k, &id, room_key, sig) == 0 &&
	           em_room_key_names(&id, recipient->id) && id.committer_id == listed_committer &&
	           id.agreement_version == listed_version &&
	           em_room_key_verify(room_key, &id, sig, committer->k.sign_pk) == 0;
	if (accepted != bool_of(c, "accepted")) {
		fail(accepted ? "accepted, but must be refused" : "refused");
		return;
	}
	if (!accepted)
		return;
	expect_hex(c, "room_key", room_key, 32);
	expect_hex(c, "key_sig", sig, 64);
	{
		json_t *list = json_object_get(c, "recipients");

		if (json_array_size(list) != id.n_recipients)
			fail("%u recipients inside, the file lists %zu", id.n_recipients,
			     json_array_size(list));
		for (size_t i = 0; i < json_array_size(list) && i < EM_KEY_RECIPIENTS_MAX; i++)
			if ((uint64_t)json_integer_value(json_array_get(list, i)) !=
			    id.recipients[i])
				fail("recipient %zu differs", i);
	}
	if (crypto_box_seal_open(plain, sealed, sizeof(sealed), recipient->k.box_pk,
	                         recipient->k.box_sk) == 0)
		expect_hex(c, "plaintext", plain, sizeof(plain));
	{
		size_t n;
		unsigned char *signed_bytes = hex_alloc(c, "signed", &n);

		if (signed_bytes) {
			crypto_sign_detached(mine, NULL, signed_bytes, n, committer->k.sign_sk);
			if (memcmp(mine, sig, 64))
				fail("key_sig is not the committer's signature of signed");
		}
		free(signed_bytes);
	}
}

static void check_commit(json_t *c)
{
	const struct ident *committer = ident_of(c, "committer");
	json_t *list = json_object_get(c, "envelopes"), *e;
	struct em_commit cm = {0};
	struct em_commit_entry entries[EM_KEY_RECIPIENTS_MAX];
	unsigned char sig[64], *bytes;
	size_t n = json_array_size(list), i, len;

	if (!committer)
		return;
	if (n < 1 || n > EM_KEY_RECIPIENTS_MAX) {
		fail("%zu envelopes", n);
		return;
	}
	cm.room_id = int_of(c, "room_id");
	cm.epoch = int_of(c, "epoch");
	cm.committer_id = int_of(c, "committer_id");
	cm.agreement_version = (uint32_t)int_of(c, "agreement_version");
	json_array_foreach(list, i, e)
	{
		entries[i].recipient_id = int_of(e, "recipient_id");
		hex_of(e, "sealed", entries[i].sealed, EM_SEALED_KEY_BYTES);
	}
	if (!(bytes = em_commit_bytes(&cm, entries, n, &len))) {
		fail("em_commit_bytes");
		return;
	}
	expect_hex(c, "bytes", bytes, len);
	free(bytes);
	if (em_commit_sign(&cm, entries, n, committer->k.sign_sk, sig))
		fail("em_commit_sign");
	expect_hex(c, "sig", sig, 64);
	hex_of(c, "sig", sig, 64);
	if (em_commit_verify(&cm, entries, n, committer->k.sign_pk, sig))
		fail("the commit signature does not verify");
}

/* ---- messages ------------------------------------------------------------- */

static const char *status_name(int status)
{
	switch (status) {
	case EM_MSG_OK:
		return "ok";
	case EM_MSG_BAD_SIGNATURE:
		return "bad_signature";
	case EM_MSG_UNDECRYPTABLE:
		return "undecryptable";
	case EM_MSG_MALFORMED:
		return "malformed";
	case EM_MSG_BAD_COMMITMENT:
		return "bad_commitment";
	default:
		return "?";
	}
}

static void check_message(json_t *c)
{
	const struct ident *sender = ident_of(c, "sender");
	unsigned char room_key[32], msg_id[16], sig[64], nonce[24];
	unsigned char *ct = NULL, *plain = NULL, *out = NULL, *ad = NULL, *padded = NULL;
	size_t ct_len, text_len = 0, ad_len;
	struct em_msg_meta meta;
	uint64_t room = int_of(c, "room_id"), epoch = int_of(c, "epoch");
	int status;

	if (!sender || hex_of(c, "room_key", room_key, 32) ||
	    hex_of(c, "client_msg_id", msg_id, 16) || hex_of(c, "sig", sig, 64) ||
	    !(ct = hex_alloc(c, "ciphertext", &ct_len)))
		goto out;
	if (int_of(c, "sender_id") != sender->id)
		fail("sender_id is not %s's id", sender->name);
	plain = malloc(ct_len + 1);
	out = malloc(EM_MSG_CIPHERTEXT_MAX);
	padded = malloc(ct_len);
	if (!plain || !out || !padded) {
		fail("out of memory");
		goto out;
	}
	status = em_msg_decrypt(room_key, room, epoch, sender->id, msg_id, ct, ct_len, sig,
	                        sender->k.sign_pk, &meta, plain, &text_len);
	expect_str(c, "status", status_name(status));
	if (status != EM_MSG_OK || strcmp(str_of(c, "status"), "ok"))
		goto out;
	expect_hex(c, "device", meta.device, sizeof(meta.device));
	if (meta.counter != int_of(c, "counter") || meta.written_ms != int_of(c, "written_ms"))
		fail("counter or written_ms differ: %" PRIu64 ", %" PRIu64, meta.counter,
		     meta.written_ms);
	{
		json_t *text = json_object_get(c, "text");

		if (!json_is_string(text) || json_string_length(text) != text_len ||
		    memcmp(json_string_value(text), plain, text_len))
			fail("the text differs");
	}
	/* encrypting again with the case's nonce gives the same ciphertext and signature */
	if (hex_of(c, "nonce", nonce, sizeof(nonce)) == 0) {
		unsigned char again_sig[64];
		int n;

		feed_begin(nonce, sizeof(nonce));
		n = em_msg_encrypt(room_key, room, epoch, sender->id, msg_id, &meta, plain,
		                   text_len, sender->k.sign_sk, out, again_sig);
		if (!feed_end())
			fail("em_msg_encrypt did not draw exactly a 24-byte nonce");
		if (n < 0)
			fail("em_msg_encrypt refused");
		else
			expect_hex(c, "ciphertext", out, (size_t)n);
		expect_hex(c, "sig", again_sig, 64);
	}
	/* the ad, padded body and body shown are what the ciphertext holds */
	if ((ad = hex_alloc(c, "ad", &ad_len))) {
		unsigned long long padded_len = 0;
		size_t body_len;

		if (crypto_aead_xchacha20poly1305_ietf_decrypt(padded, &padded_len, NULL, ct + 24,
		                                               ct_len - 24, ad, ad_len, ct,
		                                               room_key)) {
			fail("the ciphertext does not decrypt with the ad shown");
		} else {
			expect_hex(c, "padded", padded, (size_t)padded_len);
			if (sodium_unpad(&body_len, padded, (size_t)padded_len, EM_MSG_PAD_BLOCK))
				fail("padded is not sodium_pad'ed");
			else
				expect_hex(c, "body", padded, body_len);
		}
	}
out:
	free(ct);
	free(plain);
	free(out);
	free(ad);
	free(padded);
}

/*
 * A franked (v3) message: what a room member reading it gets (status), the
 * bytes again from the case's fk and nonce, and what a third party given
 * only the reported fields gets (report).
 */
static void check_franked(json_t *c)
{
	const struct ident *sender = ident_of(c, "sender");
	unsigned char room_key[32], msg_id[16], sig[64], draws[32 + 24], commit[32];
	unsigned char *ct = NULL, *plain = NULL, *out = NULL, *ad = NULL, *padded = NULL;
	size_t ct_len, text_len = 0, ad_len;
	struct em_msg_meta meta;
	struct em_msg_frank frank;
	uint64_t room = int_of(c, "room_id"), epoch = int_of(c, "epoch");
	int status;

	memset(&frank, 0, sizeof(frank));
	if (!sender || hex_of(c, "room_key", room_key, 32) ||
	    hex_of(c, "client_msg_id", msg_id, 16) || hex_of(c, "sig", sig, 64) ||
	    !(ct = hex_alloc(c, "ciphertext", &ct_len)))
		goto out;
	if (int_of(c, "sender_id") != sender->id)
		fail("sender_id is not %s's id", sender->name);
	plain = malloc(ct_len + 1);
	out = malloc(EM_MSG_CIPHERTEXT_MAX);
	padded = malloc(ct_len);
	if (!plain || !out || !padded) {
		fail("out of memory");
		goto out;
	}
	if (json_object_get(c, "status")) {
		status = em_msg_open(room_key, room, epoch, sender->id, msg_id, ct, ct_len, sig,
		                     sender->k.sign_pk, &meta, plain, &text_len, &frank);
		expect_str(c, "status", status_name(status));
		if (status == EM_MSG_OK && frank.version != 3)
			fail("opened as format %d, not 3", frank.version);
	}
	if (json_object_get(c, "report")) {
		unsigned char fk[32], *text = NULL;
		size_t tlen = 0;
		json_t *t = json_object_get(c, "text");

		memset(&meta, 0, sizeof(meta));
		if (hex_of(c, "fk", fk, 32) || hex_of(c, "device", meta.device, 8) ||
		    !json_is_string(t))
			goto out;
		meta.counter = int_of(c, "counter");
		meta.written_ms = int_of(c, "written_ms");
		text = (unsigned char *)json_string_value(t);
		tlen = json_string_length(t);
		status = em_msg_frank_verify(room, epoch, sender->id, msg_id, ct, ct_len, sig,
		                             sender->k.sign_pk, fk, &meta, text, tlen);
		expect_str(c, "report", status_name(status));
		if (json_object_get(c, "commitment")) {
			em_msg_commitment(fk, &meta, text, tlen, commit);
			expect_hex(c, "commitment", commit, 32);
		}
		/* fk then the nonce: encrypting again gives the same ciphertext and signature */
		if (json_object_get(c, "nonce") && hex_of(c, "nonce", draws + 32, 24) == 0) {
			unsigned char again_sig[64];
			int n;

			memcpy(draws, fk, 32);
			feed_begin(draws, sizeof(draws));
			n = em_msg_encrypt_v3(room_key, room, epoch, sender->id, msg_id, &meta,
			                      text, tlen, sender->k.sign_sk, out, again_sig);
			if (!feed_end())
				fail("em_msg_encrypt_v3 did not draw exactly fk and a 24-byte "
				     "nonce");
			if (n < 0)
				fail("em_msg_encrypt_v3 refused");
			else
				expect_hex(c, "ciphertext", out, (size_t)n);
			expect_hex(c, "sig", again_sig, 64);
		}
	}
	/* the ad and body shown are what the ciphertext holds */
	if (json_object_get(c, "ad") && (ad = hex_alloc(c, "ad", &ad_len))) {
		unsigned long long padded_len = 0;
		size_t body_len;

		if (ct_len < 32 + 24 || crypto_aead_xchacha20poly1305_ietf_decrypt(
		                            padded, &padded_len, NULL, ct + 56, ct_len - 56, ad,
		                            ad_len, ct + 32, room_key))
			fail("the ciphertext does not decrypt with the ad shown");
		else if (sodium_unpad(&body_len, padded, (size_t)padded_len, EM_MSG_PAD_BLOCK))
			fail("the body is not sodium_pad'ed");
		else
			expect_hex(c, "body", padded, body_len);
	}
out:
	sodium_memzero(&frank, sizeof(frank));
	free(ct);
	free(plain);
	free(out);
	free(ad);
	free(padded);
}

/* ---- agreements, consents, programmes, ledger ------------------------------- */

static json_t *file_root;

static void check_agreement(json_t *c)
{
	json_t *list = json_object_get(c, "parties"), *p, *sigs = json_object_get(c, "signatures");
	struct em_party parties[8];
	const char *starts = str_of(c, "starts_on"), *ends = str_of(c, "ends_on"),
	           *terms = str_of(c, "terms");
	uint64_t room = int_of(c, "room_id");
	uint32_t version = (uint32_t)int_of(c, "version");
	unsigned char hash[32], sig[64], mine[64], *bytes;
	size_t n = json_array_size(list), i, len;

	if (n < 1 || n > 8) {
		fail("%zu parties", n);
		return;
	}
	json_array_foreach(list, i, p)
	{
		const struct ident *who = ident_of(p, "identity");

		parties[i].user_id = int_of(p, "user_id");
		parties[i].role = str_of(p, "role");
		if (!who)
			return;
		if (who->id != parties[i].user_id)
			fail("party %zu: user_id is not %s's", i, who->name);
		memcpy(parties[i].sign_pk, who->k.sign_pk, 32);
		memcpy(parties[i].box_pk, who->k.box_pk, 32);
	}
	if (!(bytes = em_agreement_bytes(room, version, starts, ends, terms, parties, n, &len)) ||
	    em_agreement_hash(room, version, starts, ends, terms, parties, n, hash)) {
		fail("em_agreement_bytes");
		free(bytes);
		return;
	}
	expect_hex(c, "bytes", bytes, len);
	expect_hex(c, "hash", hash, 32);
	free(bytes);
	json_array_foreach(sigs, i, p)
	{
		const struct ident *who = ident_of(p, "identity");
		int valid;

		if (!who || hex_of(p, "sig", sig, 64))
			continue;
		valid = em_agreement_verify(room, version, starts, ends, terms, parties, n,
		                            who->k.sign_pk, sig) == 0;
		if (valid != bool_of(p, "valid"))
			fail("%s's signature %s", who->name,
			     valid ? "verifies" : "does not verify");
		if (valid && (em_agreement_sign(room, version, starts, ends, terms, parties, n,
		                                who->k.sign_sk, mine) ||
		              memcmp(mine, sig, 64)))
			fail("%s's signature is not what em_agreement_sign makes", who->name);
	}
	if (json_array_size(sigs) == 0)
		fail("no signatures");
}

/* A case of another section by name, or NULL. */
static json_t *case_named(const char *section, const char *name)
{
	json_t *list = json_object_get(json_object_get(file_root, section), "cases"), *c;
	size_t i;

	json_array_foreach(list, i, c)
	{
		if (!strcmp(json_string_value(json_object_get(c, "name")), name))
			return c;
	}
	return NULL;
}

static void check_consent(json_t *c)
{
	const struct ident *who = ident_of(c, "identity");
	const char *purpose = str_of(c, "purpose"), *subject = str_of(c, "subject"),
	           *action = str_of(c, "action");
	unsigned char text_hash[32], sig[64], mine[64], bytes[EM_CONSENT_BYTES_MAX];
	int64_t at = (int64_t)int_of(c, "at");
	size_t n;
	int valid;

	if (!who || hex_of(c, "text_hash", text_hash, 32) || hex_of(c, "sig", sig, 64))
		return;
	if (int_of(c, "user_id") != who->id)
		fail("user_id is not %s's", who->name);
	if (json_object_get(c, "text")) {
		unsigned char h[32];

		em_text_hash(str_of(c, "text"), h);
		expect_hex(c, "text_hash", h, 32);
	}
	if (!strcmp(purpose, "data_processing")) {
		char want[20], hex[13];

		sodium_bin2hex(hex, sizeof(hex), text_hash, 6);
		snprintf(want, sizeof(want), "notice-%s", hex);
		expect_str(c, "subject", want);
	} else if (!strcmp(purpose, "agreement")) {
		json_t *a = case_named("agreements", "group_version_3");
		int64_t room;

		if (!a) {
			fail("no agreements/group_version_3");
		} else {
			expect_hex(a, "hash", text_hash, 32);
			if (em_subject_id(subject, "room:", &room) ||
			    (uint64_t)room != int_of(a, "room_id"))
				fail("subject %s is not room:ROOM_ID", subject);
		}
	}
	valid =
	    em_consent_verify(who->k.sign_pk, purpose, subject, text_hash, action, at, sig) == 0;
	if (valid != bool_of(c, "valid")) {
		fail(valid ? "verifies, but must not" : "does not verify");
		return;
	}
	if (!valid)
		return;
	n = em_consent_bytes(who->k.sign_pk, purpose, subject, text_hash, action, at, bytes);
	expect_hex(c, "bytes", bytes, n);
	if (em_consent_sign(who->k.sign_pk, purpose, subject, text_hash, action, at, who->k.sign_sk,
	                    mine) ||
	    memcmp(mine, sig, 64))
		fail("sig is not what em_consent_sign makes");
}

static void check_programme(json_t *c)
{
	const struct ident *creator = ident_of(c, "creator");
	uint64_t programme = int_of(c, "programme_id");
	int required = bool_of(c, "agreement_required"), valid;
	unsigned char sig[64], mine[64], *bytes;
	size_t len;

	if (!creator || hex_of(c, "sig", sig, 64))
		return;
	if (int_of(c, "creator_id") != creator->id)
		fail("creator_id is not %s's", creator->name);
	valid = em_programme_verify(programme, creator->id, required, creator->k.sign_pk, sig) == 0;
	if (valid != bool_of(c, "valid"))
		fail(valid ? "verifies, but must not" : "does not verify");
	if (valid) {
		em_programme_sign(programme, creator->id, required, creator->k.sign_sk, mine);
		if (memcmp(mine, sig, 64))
			fail("sig is not what em_programme_sign makes");
	}
	/* bytes: the signed bytes exactly when the signature is valid */
	if ((bytes = hex_alloc(c, "bytes", &len)) &&
	    (crypto_sign_verify_detached(sig, bytes, len, creator->k.sign_pk) == 0) != valid)
		fail("bytes are not what sig covers");
	free(bytes);
}

static unsigned char ledger_prev[32];

static void check_ledger(json_t *c)
{
	unsigned char sig[64], hash[32], prev[32], *bytes;
	json_t *consent = case_named("consents", str_of(c, "consent"));
	size_t len;

	if (hex_of(c, "sig", sig, 64) || hex_of(c, "prev_hash", prev, 32) ||
	    !(bytes = hex_alloc(c, "consent_bytes", &len)))
		return;
	if (memcmp(prev, ledger_prev, 32))
		fail("prev_hash is not the previous entry_hash (32 zero bytes for the first)");
	if (!consent)
		fail("no consents/%s", str_of(c, "consent"));
	else {
		expect_hex(consent, "bytes", bytes, len);
		expect_hex(consent, "sig", sig, 64);
	}
	em_ledger_entry_hash(prev, int_of(c, "seq"), int_of(c, "user_id"), bytes, len, sig,
	                     int_of(c, "recorded_us"), hash);
	expect_hex(c, "entry_hash", hash, 32);
	hex_of(c, "entry_hash", ledger_prev, 32);
	free(bytes);
}

static void check_base64url(json_t *c)
{
	const char *text = str_of(c, "text");
	unsigned char out[64];
	int n = em_b64_decode(text, out, sizeof(out));

	if ((n >= 0) != bool_of(c, "valid")) {
		fail(n >= 0 ? "decoded, but must be refused" : "refused");
		return;
	}
	if (n >= 0) {
		size_t len;
		unsigned char *bytes = hex_alloc(c, "bytes", &len);
		char *again = bytes ? em_b64_encode(bytes, len) : NULL;

		expect_hex(c, "bytes", out, (size_t)n);
		if (!again || strcmp(again, text))
			fail("encodes to %s", again ? again : "nothing");
		free(again);
		free(bytes);
	}
}

/* ---- driver ------------------------------------------------------------------ */

static const struct {
	const char *name;
	void (*check)(json_t *c);
} sections[] = {
    {"identities", check_identity},
    {"password_bytes", check_password},
    {"account_keys", check_account},
    {"key_backups", check_backup},
    {"safety_numbers", check_safety},
    {"room_key_envelopes", check_envelope},
    {"epoch_commits", check_commit},
    {"messages", check_message},
    {"franked_messages", check_franked},
    {"agreements", check_agreement},
    {"consents", check_consent},
    {"programme_settings", check_programme},
    {"ledger", check_ledger},
    {"base64url", check_base64url},
};
#define N_SECTIONS (sizeof(sections) / sizeof(sections[0]))

static void run_section(size_t s)
{
	json_t *sec = json_object_get(file_root, sections[s].name), *list, *c;
	size_t i;
	int failed = 0;

	section_name = sections[s].name;
	case_name = NULL;
	list = json_object_get(sec, "cases");
	if (!json_is_array(list) || json_array_size(list) == 0) {
		case_failed = 0;
		fail("the file has no cases");
		failures++;
		return;
	}
	if (!strcmp(section_name, "account_keys")) {
		case_failed = 0;
		check_kdf_defaults(json_object_get(sec, "defaults"));
		failed += case_failed;
	}
	json_array_foreach(list, i, c)
	{
		case_failed = 0;
		case_name = json_string_value(json_object_get(c, "name"));
		if (!case_name) {
			case_name = "?";
			fail("a case without a name");
		} else {
			sections[s].check(c);
		}
		failed += case_failed;
	}
	failures += failed;
	printf("%s %s: %zu cases%s\n", failed ? "FAIL" : "ok", section_name, json_array_size(list),
	       failed ? "" : " pass");
	if (failed)
		printf("  %d failed\n", failed);
}

int main(int argc, char **argv)
{
	json_error_t jerr;
	const char *only = argc > 2 ? argv[2] : NULL, *key;
	json_t *value;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: vectors_check FILE [SECTION]\n");
		return 2;
	}
	randombytes_set_implementation(&feed_implementation);
	if (em_crypto_init() != 0)
		return 2;
	if (!(file_root = json_load_file(argv[1], 0, &jerr))) {
		fprintf(stderr, "vectors_check: %s:%d: %s\n", argv[1], jerr.line, jerr.text);
		return 1;
	}
	json_object_foreach(file_root, key, value)
	{
		size_t s;

		if (!json_is_object(value))
			continue;
		for (s = 0; s < N_SECTIONS && strcmp(sections[s].name, key); s++)
			;
		if (s == N_SECTIONS) {
			fprintf(stderr, "FAIL %s: a section this checker does not know\n", key);
			failures++;
		}
	}
	/* identities first: the others refer to them */
	for (size_t s = 0; s < N_SECTIONS; s++) {
		if (s == 0 || !only || !strcmp(only, sections[s].name))
			run_section(s);
	}
	if (only) {
		size_t s;

		for (s = 0; s < N_SECTIONS && strcmp(sections[s].name, only); s++)
			;
		if (s == N_SECTIONS) {
			fprintf(stderr, "vectors_check: no section %s\n", only);
			failures++;
		}
	}
	json_decref(file_root);
	for (size_t i = 0; i < n_idents; i++)
		em_keys_wipe(&idents[i].k);
	if (failures)
		printf("vectors_check: %d failed\n", failures);
	return failures ? 1 : 0;
}
