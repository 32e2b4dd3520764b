/*
 * gen.c - writes the conformance vectors (tests/vectors/vectors.json) on
 * stdout: inputs and expected outputs of every derivation and byte layout of
 * docs/PROTOCOL.md, computed by libementor-proto. The committed file is the
 * contract every implementation is checked against (tests/vectors/README.md);
 * the ctest vectors_fresh runs this program again and fails when its output
 * differs from the committed file, so that a layout change updates the file
 * on purpose.
 *
 * Deterministic: key pairs come from fixed seeds (crypto_sign_seed_keypair,
 * crypto_box_seed_keypair), Ed25519 signatures are deterministic, and the
 * random bytes proto draws (backup and message nonces, the ephemeral keys of
 * sealed boxes) come from a fixed stream per operation: libsodium's random
 * source is replaced before sodium_init(), and any draw outside a planned
 * operation stops the program. The file gives those random inputs and their
 * outputs, so an implementation checks them by reproducing what it can (a
 * given nonce) and by opening and verifying the rest (sealed boxes).
 *
 * Where the file shows bytes that proto builds but does not hand out (the
 * additional data of a backup or a message, what a room key signature
 * covers, a programme's settings bytes), this program writes them from
 * PROTOCOL.md and checks them against proto's output before writing: the
 * signature proto made verifies over them, or the ciphertext proto made
 * decrypts with them. Negative cases (an envelope with a malformed list, a
 * message with a bad body) are built here by hand, since proto refuses to
 * make them.
 *
 * Usage: vectors_gen > vectors.json (exit 0), or exit 1 with a message.
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

/* ---- failure -------------------------------------------------------------- */

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("vectors_gen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *must(void *p)
{
	if (!p)
		die("out of memory");
	return p;
}

/* ---- the random source: a fixed stream per planned operation -------------- */

#define RNG_BYTES 1024

static struct {
	int active, starting; /* starting: sodium_init() draws its guard-page canary */
	size_t used;
	unsigned char bytes[RNG_BYTES];
} rng;

static const char *rng_name(void)
{
	return "ementor-vectors";
}

static void rng_buf(void *const buf, const size_t size)
{
	if (rng.starting) {
		randombytes_sysrandom_implementation.buf(buf, size);
		return;
	}
	if (!rng.active)
		die("something drew random bytes outside a planned operation");
	if (size > RNG_BYTES - rng.used)
		die("an operation drew more than %d random bytes", RNG_BYTES);
	memcpy(buf, rng.bytes + rng.used, size);
	rng.used += size;
}

static uint32_t rng_random(void)
{
	uint32_t v;

	rng_buf(&v, sizeof(v));
	return v;
}

static randombytes_implementation rng_implementation = {
    .implementation_name = rng_name,
    .random = rng_random,
    .buf = rng_buf,
};

/* Starts the stream of one operation: randombytes_buf_deterministic, seed BLAKE2b-256(label). */
static void rng_begin(const char *label)
{
	unsigned char seed[randombytes_SEEDBYTES];

	crypto_generichash(seed, sizeof(seed), (const unsigned char *)label, strlen(label), NULL,
	                   0);
	randombytes_buf_deterministic(rng.bytes, sizeof(rng.bytes), seed);
	rng.used = 0;
	rng.active = 1;
}

static void rng_end(void)
{
	rng.active = 0;
}

/* ---- JSON ----------------------------------------------------------------- */

static void put(json_t *obj, const char *key, json_t *value)
{
	if (json_object_set_new(obj, key, must(value)) != 0)
		die("cannot set %s", key);
}

static void put_hex(json_t *obj, const char *key, const void *bin, size_t len)
{
	char *hex = must(malloc(len * 2 + 1));

	sodium_bin2hex(hex, len * 2 + 1, bin, len);
	put(obj, key, json_string(hex));
	free(hex);
}

static void put_str(json_t *obj, const char *key, const char *s)
{
	put(obj, key, json_string(s));
}

static void put_int(json_t *obj, const char *key, uint64_t v)
{
	if (v > ((uint64_t)1 << 53) - 1)
		die("%s: %" PRIu64 " does not fit a JSON number exactly", key, v);
	put(obj, key, json_integer((json_int_t)v));
}

static void put_bool(json_t *obj, const char *key, int v)
{
	put(obj, key, json_boolean(v));
}

static json_t *add_case(json_t *list, const char *name)
{
	json_t *c = must(json_object());

	put_str(c, "name", name);
	if (json_array_append_new(list, c) != 0)
		die("cannot append %s", name);
	return c;
}

static json_t *section(json_t *root, const char *name, const char *about)
{
	json_t *s = must(json_object()), *cases = must(json_array());

	put_str(s, "about", about);
	put(s, "cases", cases);
	put(root, name, s);
	return cases;
}

static void put_u64_list(json_t *obj, const char *key, const uint64_t *v, size_t n)
{
	json_t *a = must(json_array());

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, must(json_integer((json_int_t)v[i])));
	put(obj, key, a);
}

/* ---- bytes ---------------------------------------------------------------- */

struct buf {
	unsigned char b[1024];
	size_t n;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (n > sizeof(b->b) - b->n)
		die("buffer too small");
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

/* "text" 0x00: every label */
static void buf_label(struct buf *b, const char *text)
{
	buf_add(b, text, strlen(text) + 1);
}

static void buf_u64(struct buf *b, uint64_t v)
{
	unsigned char p[8];

	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (56 - 8 * i));
	buf_add(b, p, 8);
}

static void buf_u32(struct buf *b, uint32_t v)
{
	unsigned char p[4];

	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (24 - 8 * i));
	buf_add(b, p, 4);
}

static void hash_of(const void *p, size_t n, unsigned char out[32])
{
	crypto_generichash(out, 32, p, n, NULL, 0);
}

/* ---- identities ----------------------------------------------------------- */

struct ident {
	const char *name, *role;
	uint64_t id;
	unsigned char sign_seed[32], box_seed[32];
	struct em_keys k;
};

/* ids of two bytes or more, so that a byte order mistake shows */
static struct ident people[] = {
    {.name = "maria", .role = "manager", .id = 0x0101},
    {.name = "alice", .role = "mentor", .id = 0x0102},
    {.name = "bob", .role = "mentee", .id = 0x0203},
    {.name = "carol", .role = "mentee", .id = 0x0304},
};
#define N_PEOPLE (sizeof(people) / sizeof(people[0]))
#define MARIA    (&people[0])
#define ALICE    (&people[1])
#define BOB      (&people[2])
#define CAROL    (&people[3])

static struct ident *ident_by_id(uint64_t id)
{
	for (size_t i = 0; i < N_PEOPLE; i++)
		if (people[i].id == id)
			return &people[i];
	die("no user %" PRIu64, id);
	return NULL;
}

static void seed_of(const char *what, const char *name, unsigned char out[32])
{
	char label[64];

	snprintf(label, sizeof(label), "ementor vectors %s seed %s", what, name);
	hash_of(label, strlen(label), out);
}

static void gen_identities(json_t *root)
{
	json_t *cases = section(
	    root, "identities",
	    "The users of every other section. Key pairs from seeds (crypto_sign_seed_keypair, "
	    "crypto_box_seed_keypair); fingerprint as PROTOCOL.md 4 \"Account keys\" prints it.");

	for (size_t i = 0; i < N_PEOPLE; i++) {
		struct ident *p = &people[i];
		char fp[EM_FINGERPRINT_STRLEN];
		json_t *c = add_case(cases, p->name);

		seed_of("sign", p->name, p->sign_seed);
		seed_of("box", p->name, p->box_seed);
		crypto_sign_seed_keypair(p->k.sign_pk, p->k.sign_sk, p->sign_seed);
		crypto_box_seed_keypair(p->k.box_pk, p->k.box_sk, p->box_seed);
		em_fingerprint(p->k.sign_pk, p->k.box_pk, fp);
		put_int(c, "user_id", p->id);
		put_str(c, "username", p->name);
		put_str(c, "role", p->role);
		put_hex(c, "sign_seed", p->sign_seed, 32);
		put_hex(c, "box_seed", p->box_seed, 32);
		put_hex(c, "sign_pk", p->k.sign_pk, 32);
		put_hex(c, "sign_sk", p->k.sign_sk, 64);
		put_hex(c, "box_pk", p->k.box_pk, 32);
		put_hex(c, "box_sk", p->k.box_sk, 32);
		put_str(c, "fingerprint", fp);
	}
}

/* ---- passwords and account keys ------------------------------------------- */

struct password_case {
	const char *name, *input, *about;
	size_t len; /* 0: strlen(input) */
};

static const struct password_case passwords[] = {
    {"ascii", "correct horse battery staple", "ASCII: unchanged", 0},
    {"empty", "", "the empty password: zero bytes", 0},
    {"zoe_nfc", "Zo\xc3\xab", "Zo\xc3\xab composed (U+00EB): already NFC", 0},
    {"zoe_nfd", "Zoe\xcc\x88", "Zo\xc3\xab decomposed (e + U+0308): composed", 0},
    {"angstrom_sign", "\xe2\x84\xab", "U+212B ANGSTROM SIGN: a singleton, becomes U+00C5", 0},
    {"hangul_jamo", "\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab",
     "three conjoining jamo: the syllable U+D55C", 0},
    {"ligature_kept", "\xef\xac\x81", "U+FB01 (fi ligature): kept, NFC is not NFKC", 0},
    {"mark_order", "q\xcc\x87\xcc\xa3",
     "q + U+0307 (class 230) + U+0323 (class 220): marks put in canonical order", 0},
    {"bom_kept", "\xef\xbb\xbfpass",
     "a leading U+FEFF is a character of the password, not a byte order mark to drop", 0},
    {"longer", "\xef\xac\xac",
     "U+FB2C: excluded from composition, three code points, twice the bytes", 0},
    {"not_utf8_truncated", "\xc3\x28", "a lead byte without its continuation: refused", 0},
    {"not_utf8_surrogate", "\xed\xa0\x80", "U+D800 encoded (a surrogate): refused", 0},
    {"not_utf8_overlong", "\xc0\xaf", "an overlong encoding of '/': refused", 0},
    {"not_utf8_too_big", "\xf4\x90\x80\x80", "past U+10FFFF: refused", 0},
};

static size_t password_len(const struct password_case *p)
{
	return p->len ? p->len : strlen(p->input);
}

static void gen_passwords(json_t *root)
{
	json_t *cases = section(
	    root, "password_bytes",
	    "How a password becomes the bytes Argon2id takes: the UTF-8 of its Unicode "
	    "Normalization Form C. input: the bytes typed; nfc: the bytes to hash, or null when "
	    "the input is not well-formed UTF-8 and must be refused.");

	for (size_t i = 0; i < sizeof(passwords) / sizeof(passwords[0]); i++) {
		const struct password_case *p = &passwords[i];
		unsigned char *out = NULL;
		size_t n = 0;
		int rc = em_password_bytes(p->input, password_len(p), &out, &n);
		json_t *c = add_case(cases, p->name);

		put_str(c, "about", p->about);
		put_hex(c, "input", p->input, password_len(p));
		if (rc == EM_PASSWORD_OK) {
			put_hex(c, "nfc", out, n);
		} else if (rc == EM_PASSWORD_NOT_UTF8) {
			put(c, "nfc", json_null());
		} else {
			die("em_password_bytes(%s): %d", p->name, rc);
		}
		if ((rc == EM_PASSWORD_OK) != (strncmp(p->name, "not_utf8", 8) != 0))
			die("password %s: refused or accepted against its name", p->name);
		em_password_free(out, n);
	}
}

struct account {
	const char *name, *password;
	uint64_t opslimit;
	unsigned char auth[32], wrap[32];
};

static const unsigned char kdf_salt[16] = "ementor vectors!";

static struct account accounts[] = {
    {.name = "ascii", .password = "ascii", .opslimit = EM_KDF_OPSLIMIT_DEFAULT},
    {.name = "zoe_nfc", .password = "zoe_nfc", .opslimit = EM_KDF_OPSLIMIT_DEFAULT},
    {.name = "zoe_nfd", .password = "zoe_nfd", .opslimit = EM_KDF_OPSLIMIT_DEFAULT},
    {.name = "ascii_opslimit_3", .password = "ascii", .opslimit = 3},
};
#define N_ACCOUNTS (sizeof(accounts) / sizeof(accounts[0]))

static const struct password_case *password_named(const char *name)
{
	for (size_t i = 0; i < sizeof(passwords) / sizeof(passwords[0]); i++)
		if (!strcmp(passwords[i].name, name))
			return &passwords[i];
	die("no password %s", name);
	return NULL;
}

static void gen_accounts(json_t *root)
{
	json_t *defaults = must(json_object());
	json_t *cases = section(
	    root, "account_keys",
	    "auth_key and wrap_key from a password (PROTOCOL.md 4 \"Account keys\"): master = "
	    "crypto_pwhash(32, nfc bytes, salt, opslimit, memlimit, ARGON2ID13), auth_key = "
	    "crypto_kdf_derive_from_key(32, 1, \"ementor_\", master), wrap_key = the same with "
	    "subkey id 2. "
	    "zoe_nfc and zoe_nfd type the same password: the same keys.");

	put_int(defaults, "opslimit", EM_KDF_OPSLIMIT_DEFAULT);
	put_int(defaults, "memlimit", EM_KDF_MEMLIMIT_DEFAULT);
	put_str(defaults, "alg", "argon2id13");
	put(json_object_get(root, "account_keys"), "defaults", defaults);
	for (size_t i = 0; i < N_ACCOUNTS; i++) {
		struct account *a = &accounts[i];
		const struct password_case *p = password_named(a->password);
		json_t *c = add_case(cases, a->name);

		if (em_kdf_derive_password(p->input, password_len(p), kdf_salt, a->opslimit,
		                           EM_KDF_MEMLIMIT_DEFAULT, a->auth, a->wrap) != 0)
			die("em_kdf_derive_password(%s) failed", a->name);
		put_str(c, "password", p->name);
		put_hex(c, "input", p->input, password_len(p));
		put_hex(c, "salt", kdf_salt, sizeof(kdf_salt));
		put_int(c, "opslimit", a->opslimit);
		put_int(c, "memlimit", EM_KDF_MEMLIMIT_DEFAULT);
		put_hex(c, "auth_key", a->auth, 32);
		put_hex(c, "wrap_key", a->wrap, 32);
	}
	if (memcmp(accounts[1].auth, accounts[2].auth, 32) ||
	    memcmp(accounts[1].wrap, accounts[2].wrap, 32))
		die("NFC and NFD forms of one password gave different keys");
	if (!memcmp(accounts[0].auth, accounts[3].auth, 32))
		die("opslimit does not change the keys");
}

/* ---- key backups ---------------------------------------------------------- */

static void backup_ad(const char *username, struct buf *ad)
{
	ad->n = 0;
	buf_label(ad, "ementor key backup v1");
	buf_add(ad, username, strlen(username));
}

static void gen_backups(json_t *root)
{
	const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	unsigned char backup[EM_BACKUP_BYTES], plain[96], bad[EM_BACKUP_BYTES];
	struct buf ad = {0};
	json_t *cases = section(
	    root, "key_backups",
	    "The key backup (PROTOCOL.md 4): nonce(24) || XChaCha20-Poly1305-IETF(sign_sk || "
	    "box_sk, ad = \"ementor key backup v1\" 0x00 || username, nonce, wrap_key). opens: "
	    "whether unwrapping with wrap_key and username succeeds; when it does, the keys are "
	    "the identity's, and wrapping them with the given nonce gives the backup again.");
	json_t *c;

	/* alice's keys under the wrap_key of the "ascii" account */
	rng_begin("backup alice");
	em_keys_wrap(&ALICE->k, accounts[0].wrap, ALICE->name, backup);
	rng_end();
	backup_ad(ALICE->name, &ad);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL, backup + nb,
	                                               EM_BACKUP_BYTES - nb, ad.b, ad.n, backup,
	                                               accounts[0].wrap) != 0 ||
	    memcmp(plain, ALICE->k.sign_sk, 64) || memcmp(plain + 64, ALICE->k.box_sk, 32))
		die("the backup does not open with the additional data of PROTOCOL.md");

	c = add_case(cases, "alice");
	put_str(c, "identity", ALICE->name);
	put_str(c, "username", ALICE->name);
	put_str(c, "account", accounts[0].name);
	put_hex(c, "wrap_key", accounts[0].wrap, 32);
	put_hex(c, "nonce", backup, nb);
	put_hex(c, "ad", ad.b, ad.n);
	put_hex(c, "backup", backup, sizeof(backup));
	put_bool(c, "opens", 1);

	c = add_case(cases, "another_username");
	put_str(c, "about", "alice's backup unwrapped as bob's: the username is in the ad");
	put_str(c, "identity", ALICE->name);
	put_str(c, "username", BOB->name);
	put_hex(c, "wrap_key", accounts[0].wrap, 32);
	put_hex(c, "backup", backup, sizeof(backup));
	put_bool(c, "opens", 0);

	c = add_case(cases, "another_wrap_key");
	put_str(c, "about", "alice's backup with the wrap_key of another password");
	put_str(c, "identity", ALICE->name);
	put_str(c, "username", ALICE->name);
	put_hex(c, "wrap_key", accounts[1].wrap, 32);
	put_hex(c, "backup", backup, sizeof(backup));
	put_bool(c, "opens", 0);

	memcpy(bad, backup, sizeof(bad));
	bad[60] ^= 0x01;
	c = add_case(cases, "tampered");
	put_str(c, "about", "one bit of the ciphertext flipped");
	put_str(c, "identity", ALICE->name);
	put_str(c, "username", ALICE->name);
	put_hex(c, "wrap_key", accounts[0].wrap, 32);
	put_hex(c, "backup", bad, sizeof(bad));
	put_bool(c, "opens", 0);
}

/* ---- safety numbers ------------------------------------------------------- */

static void safety_h(const struct ident *p, unsigned char h[32])
{
	struct buf b = {0};

	buf_label(&b, "ementor safety v1");
	buf_add(&b, p->k.sign_pk, 32);
	buf_add(&b, p->k.box_pk, 32);
	hash_of(b.b, b.n, h);
}

static void gen_safety(json_t *root)
{
	int disagree = 0;
	json_t *cases = section(
	    root, "safety_numbers",
	    "Safety numbers (PROTOCOL.md 5.1): h = BLAKE2b-256(\"ementor safety v1\" 0x00 || "
	    "sign_pk || box_pk) per user; the two h in memcmp order (first: the user whose h "
	    "comes first), H = BLAKE2b-512 of both, 12 groups of H[5g..5g+4] as a big-endian "
	    "integer mod 100000. sodium_compare_first: the order libsodium's sodium_compare (a "
	    "little-endian comparison) would give, which is NOT the rule: the cases where it "
	    "differs show an implementation that uses it. The number is the same for (a, b) "
	    "and (b, a).");

	for (size_t i = 0; i < N_PEOPLE; i++) {
		for (size_t j = i + 1; j < N_PEOPLE; j++) {
			struct ident *a = &people[i], *b = &people[j];
			unsigned char ha[32], hb[32], both[64], h[64];
			char number[EM_SAFETY_STRLEN], again[EM_SAFETY_STRLEN],
			    mine[EM_SAFETY_STRLEN], name[32], *p = mine;
			int a_first;
			json_t *c;

			safety_h(a, ha);
			safety_h(b, hb);
			a_first = memcmp(ha, hb, 32) < 0;
			em_safety_number(a->k.sign_pk, a->k.box_pk, b->k.sign_pk, b->k.box_pk,
			                 number);
			em_safety_number(b->k.sign_pk, b->k.box_pk, a->k.sign_pk, a->k.box_pk,
			                 again);
			if (strcmp(number, again))
				die("safety number of %s and %s depends on the order", a->name,
				    b->name);
			/* recompute from the h written below */
			memcpy(both, a_first ? ha : hb, 32);
			memcpy(both + 32, a_first ? hb : ha, 32);
			crypto_generichash(h, sizeof(h), both, sizeof(both), NULL, 0);
			for (int g = 0; g < 12; g++) {
				uint64_t v = 0;

				for (int k = 0; k < 5; k++)
					v = (v << 8) | h[5 * g + k];
				p += snprintf(p, (size_t)(mine + sizeof(mine) - p), "%s%05" PRIu64,
				              g ? " " : "", v % 100000);
			}
			if (strcmp(number, mine))
				die("safety number of %s and %s: not what PROTOCOL.md says",
				    a->name, b->name);
			disagree += a_first != (sodium_compare(ha, hb, 32) < 0);
			snprintf(name, sizeof(name), "%s_%s", a->name, b->name);
			c = add_case(cases, name);
			put_str(c, "a", a->name);
			put_str(c, "b", b->name);
			put_hex(c, "h_a", ha, 32);
			put_hex(c, "h_b", hb, 32);
			put_str(c, "first", a_first ? "a" : "b");
			put_str(c, "sodium_compare_first",
			        sodium_compare(ha, hb, 32) < 0 ? "a" : "b");
			put_str(c, "number", number);
		}
	}
	if (!disagree)
		die("no pair whose memcmp and sodium_compare orders differ: choose other seeds");
}

/* ---- room key envelopes and epoch commits --------------------------------- */

/* The group room of the examples: its agreement, its epoch, its messages. */
#define GROUP_ROOM      0x0407
#define GROUP_EPOCH     5
#define GROUP_AGREEMENT 3
#define PAIR_ROOM       0x050a /* in a programme without agreements */
#define PROGRAMME       0x0105
#define PROGRAMME_BARE  0x0106

static unsigned char group_key[32], pair_key[32];
static struct em_commit_entry group_entries[3];
static struct em_commit_entry pair_entries[1];

/* What key_sig covers, written from PROTOCOL.md 5.1. */
static void key_signed(const unsigned char room_key[32], const struct em_room_key_id *id,
                       struct buf *b)
{
	b->n = 0;
	buf_label(b, "ementor room key v2");
	buf_u64(b, id->room_id);
	buf_u64(b, id->epoch);
	buf_u64(b, id->recipient_id);
	buf_u64(b, id->committer_id);
	buf_u32(b, id->agreement_version);
	buf_u32(b, id->n_recipients);
	for (uint32_t i = 0; i < EM_KEY_RECIPIENTS_MAX; i++)
		buf_u64(b, id->recipients[i]);
	buf_add(b, room_key, 32);
}

static void put_envelope_common(json_t *c, const struct em_room_key_id *id,
                                const struct ident *recipient, const struct ident *committer)
{
	put_int(c, "room_id", id->room_id);
	put_int(c, "epoch", id->epoch);
	put_str(c, "recipient", recipient->name);
	put_int(c, "recipient_id", recipient->id);
	put_str(c, "committer", committer->name);
}

/* A valid envelope made by proto; checks the signed bytes; writes the case. */
static void envelope_valid(json_t *cases, const char *name, const unsigned char room_key[32],
                           struct em_room_key_id id, struct ident *committer,
                           struct ident *recipient, unsigned char sealed[EM_SEALED_KEY_BYTES])
{
	unsigned char plain[EM_SEALED_KEY_BYTES - crypto_box_SEALBYTES], sig[64];
	struct buf signed_bytes = {0};
	char label[64];
	json_t *c;

	id.recipient_id = recipient->id;
	id.committer_id = committer->id;
	snprintf(label, sizeof(label), "envelope %s", name);
	rng_begin(label);
	if (em_room_key_seal(room_key, &id, committer->k.sign_sk, recipient->k.box_pk, sealed))
		die("em_room_key_seal(%s) refused", name);
	rng_end();
	if (crypto_box_seal_open(plain, sealed, EM_SEALED_KEY_BYTES, recipient->k.box_pk,
	                         recipient->k.box_sk))
		die("envelope %s does not open", name);
	key_signed(room_key, &id, &signed_bytes);
	memcpy(sig, plain + sizeof(plain) - 64, 64);
	if (crypto_sign_verify_detached(sig, signed_bytes.b, signed_bytes.n, committer->k.sign_pk))
		die("envelope %s: key_sig is not over the bytes of PROTOCOL.md", name);
	c = add_case(cases, name);
	put_envelope_common(c, &id, recipient, committer);
	put_int(c, "committer_id", committer->id);
	put_int(c, "agreement_version", id.agreement_version);
	put_u64_list(c, "recipients", id.recipients, id.n_recipients);
	put_hex(c, "room_key", room_key, 32);
	put_hex(c, "signed", signed_bytes.b, signed_bytes.n);
	put_hex(c, "key_sig", sig, 64);
	put_hex(c, "plaintext", plain, sizeof(plain));
	put_hex(c, "sealed", sealed, EM_SEALED_KEY_BYTES);
	put_bool(c, "accepted", 1);
}

/*
 * An envelope built here by hand (proto refuses to make these): the plaintext
 * of PROTOCOL.md with the given list, signed by signer, sealed to recipient.
 */
static void envelope_raw(json_t *cases, const char *name, const char *about,
                         const struct em_room_key_id *inside, const struct ident *signer,
                         const struct ident *recipient, const struct em_room_key_id *listed)
{
	unsigned char sealed[EM_SEALED_KEY_BYTES], sig[64];
	struct buf signed_bytes = {0}, plain = {0};
	char label[64];
	json_t *c;

	key_signed(group_key, inside, &signed_bytes);
	crypto_sign_detached(sig, NULL, signed_bytes.b, signed_bytes.n, signer->k.sign_sk);
	buf_u64(&plain, inside->committer_id);
	buf_u32(&plain, inside->agreement_version);
	buf_u32(&plain, inside->n_recipients);
	for (uint32_t i = 0; i < EM_KEY_RECIPIENTS_MAX; i++)
		buf_u64(&plain, inside->recipients[i]);
	buf_add(&plain, group_key, 32);
	buf_add(&plain, sig, 64);
	if (plain.n + crypto_box_SEALBYTES != EM_SEALED_KEY_BYTES)
		die("envelope %s: %zu bytes", name, plain.n);
	snprintf(label, sizeof(label), "envelope %s", name);
	rng_begin(label);
	crypto_box_seal(sealed, plain.b, plain.n, recipient->k.box_pk);
	rng_end();
	c = add_case(cases, name);
	put_str(c, "about", about);
	put_int(c, "room_id", listed->room_id);
	put_int(c, "epoch", listed->epoch);
	put_str(c, "recipient", recipient->name);
	put_int(c, "recipient_id", recipient->id);
	put_str(c, "committer", ident_by_id(listed->committer_id)->name);
	put_int(c, "committer_id", listed->committer_id);
	put_int(c, "agreement_version", listed->agreement_version);
	put_hex(c, "sealed", sealed, sizeof(sealed));
	put_bool(c, "accepted", 0);
}

static void gen_envelopes(json_t *root)
{
	struct ident *group[] = {ALICE, BOB, CAROL};
	struct em_room_key_id id = {.room_id = GROUP_ROOM,
	                            .epoch = GROUP_EPOCH,
	                            .agreement_version = GROUP_AGREEMENT,
	                            .n_recipients = 3,
	                            .recipients = {ALICE->id, BOB->id, CAROL->id}};
	struct em_room_key_id pair = {.room_id = PAIR_ROOM,
	                              .epoch = 1,
	                              .agreement_version = 0,
	                              .n_recipients = 1,
	                              .recipients = {BOB->id}};
	struct em_room_key_id bad;
	json_t *cases = section(
	    root, "room_key_envelopes",
	    "Room key envelopes (PROTOCOL.md 5.1), 208 bytes: crypto_box_seal(u64 committer_id "
	    "|| u32 agreement_version || u32 n || 6 x u64 recipients || room_key || key_sig, "
	    "recipient's box_pk), key_sig = Ed25519 by the committer over signed. Sealed boxes "
	    "are random: open them with the recipient's keys. accepted: whether the recipient "
	    "accepts the key under checks 1-3 of PROTOCOL.md 5.1, with room_id and epoch as "
	    "given, committer_id and agreement_version as the server lists them, and the "
	    "committer's sign_pk (the identity named committer) pinned. The accepted cases are "
	    "the three envelopes of one epoch of the group room and the one envelope of an "
	    "epoch in a programme without agreements (agreement_version 0).");

	rng_begin("room key group");
	randombytes_buf(group_key, 32);
	randombytes_buf(pair_key, 32);
	rng_end();
	for (size_t i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof(name), "group_%s", group[i]->name);
		group_entries[i].recipient_id = group[i]->id;
		envelope_valid(cases, name, group_key, id, ALICE, group[i],
		               group_entries[i].sealed);
	}
	pair_entries[0].recipient_id = BOB->id;
	envelope_valid(cases, "pair_bob_alone", pair_key, pair, BOB, BOB, pair_entries[0].sealed);

	id.recipient_id = BOB->id;
	id.committer_id = ALICE->id;
	bad = id;
	bad.n_recipients = 2;
	envelope_raw(cases, "slot_after_n_not_zero",
	             "n = 2 but the third slot holds carol's id (properly signed)", &bad, ALICE,
	             BOB, &id);
	bad = id;
	bad.recipients[0] = BOB->id;
	bad.recipients[1] = ALICE->id;
	envelope_raw(cases, "ids_not_ascending", "recipients 515, 258, 772", &bad, ALICE, BOB, &id);
	bad = id;
	bad.n_recipients = 0;
	memset(bad.recipients, 0, sizeof(bad.recipients));
	envelope_raw(cases, "no_recipients", "n = 0", &bad, ALICE, BOB, &id);
	bad = id;
	bad.n_recipients = 2;
	bad.recipients[1] = CAROL->id;
	bad.recipients[2] = 0;
	envelope_raw(cases, "recipient_not_named",
	             "sealed to bob, but the list names alice and carol only", &bad, ALICE, BOB,
	             &id);
	envelope_raw(cases, "signed_by_another", "key_sig made with carol's key, committer alice",
	             &id, CAROL, BOB, &id);
	bad = id;
	bad.room_id = GROUP_ROOM + 1;
	envelope_raw(cases, "another_room",
	             "signed for room 1032, handed out in room 1031: key_sig fails", &bad, ALICE,
	             BOB, &id);
	bad = id;
	bad.committer_id = CAROL->id;
	envelope_raw(cases, "server_lists_another_committer",
	             "committer alice inside (and her key_sig); the server lists carol", &id, ALICE,
	             BOB, &bad);
	bad = id;
	bad.agreement_version = GROUP_AGREEMENT - 1;
	envelope_raw(cases, "server_lists_another_version",
	             "agreement_version 3 inside; the server lists 2", &id, ALICE, BOB, &bad);
}

static void put_commit(json_t *cases, const char *name, const struct em_commit *cm,
                       const struct em_commit_entry *entries, size_t n, const size_t *order,
                       const struct ident *committer)
{
	struct em_commit_entry sorted[3];
	unsigned char sig[64], *bytes;
	size_t len;
	json_t *list = must(json_array()), *c = add_case(cases, name);

	memcpy(sorted, entries, n * sizeof(*entries));
	if (!(bytes = em_commit_bytes(cm, sorted, n, &len)))
		die("em_commit_bytes");
	if (em_commit_sign(cm, sorted, n, committer->k.sign_sk, sig))
		die("em_commit_sign");
	put_int(c, "room_id", cm->room_id);
	put_int(c, "epoch", cm->epoch);
	put_str(c, "committer", committer->name);
	put_int(c, "committer_id", cm->committer_id);
	put_int(c, "agreement_version", cm->agreement_version);
	for (size_t i = 0; i < n; i++) {
		json_t *e = must(json_object());

		put_int(e, "recipient_id", entries[order[i]].recipient_id);
		put_hex(e, "sealed", entries[order[i]].sealed, EM_SEALED_KEY_BYTES);
		json_array_append_new(list, e);
	}
	put(c, "envelopes", list);
	put_hex(c, "bytes", bytes, len);
	put_hex(c, "sig", sig, 64);
	free(bytes);
}

static void gen_commits(json_t *root)
{
	const struct em_commit group = {GROUP_ROOM, GROUP_EPOCH, 0x0102, GROUP_AGREEMENT};
	const struct em_commit pair = {PAIR_ROOM, 1, 0x0203, 0};
	static const size_t shuffled[] = {2, 0, 1}, one[] = {0};
	json_t *cases = section(
	    root, "epoch_commits",
	    "Epoch commit signatures (PROTOCOL.md 5.1): bytes = \"ementor epoch commit v2\" 0x00 "
	    "|| u64 room_id || u64 epoch || u64 committer_id || u32 agreement_version || u32 n "
	    "|| per envelope in ascending recipient_id: u64 recipient_id || BLAKE2b-256(sealed); "
	    "sig = Ed25519 by the committer over bytes. The envelopes are listed out of order on "
	    "purpose (the signature covers them sorted) and are those of room_key_envelopes.");

	put_commit(cases, "group_epoch", &group, group_entries, 3, shuffled, ALICE);
	put_commit(cases, "pair_epoch", &pair, pair_entries, 1, one, BOB);
}

/* ---- messages ------------------------------------------------------------- */

#define MSG_WRITTEN_MS UINT64_C(1764547200000)

static const unsigned char client_msg_ids[][16] = {
    "msg-id-00000001",
    "msg-id-00000002",
    "msg-id-00000003",
    "msg-id-00000004",
};

/* A message's ad under label ("ementor message v2", or v3 for a franked one). */
static void msg_ad_as(const char *label, uint64_t room, uint64_t epoch, uint64_t sender,
                      const unsigned char id[16], struct buf *ad)
{
	ad->n = 0;
	buf_label(ad, label);
	buf_u64(ad, room);
	buf_u64(ad, epoch);
	buf_u64(ad, sender);
	buf_add(ad, id, 16);
}

static void msg_ad(uint64_t room, uint64_t epoch, uint64_t sender, const unsigned char id[16],
                   struct buf *ad)
{
	msg_ad_as("ementor message v2", room, epoch, sender, id, ad);
}

/* sig over ad || u32 len || ciphertext, by who */
static void msg_sign(const struct buf *ad, const unsigned char *ct, size_t ct_len,
                     const struct ident *who, unsigned char sig[64])
{
	unsigned char *m = must(malloc(ad->n + 4 + ct_len));

	memcpy(m, ad->b, ad->n);
	for (int i = 0; i < 4; i++)
		m[ad->n + i] = (unsigned char)(ct_len >> (24 - 8 * i));
	memcpy(m + ad->n + 4, ct, ct_len);
	crypto_sign_detached(sig, NULL, m, ad->n + 4 + ct_len, who->k.sign_sk);
	free(m);
}

static int msg_sig_ok(const struct buf *ad, const unsigned char *ct, size_t ct_len,
                      const struct ident *who, const unsigned char sig[64])
{
	unsigned char mine[64];

	msg_sign(ad, ct, ct_len, who, mine);
	return !memcmp(mine, sig, 64);
}

static void put_msg_common(json_t *c, uint64_t epoch, const struct ident *sender,
                           const unsigned char id[16])
{
	put_int(c, "room_id", GROUP_ROOM);
	put_int(c, "epoch", epoch);
	put_str(c, "sender", sender->name);
	put_int(c, "sender_id", sender->id);
	put_hex(c, "client_msg_id", id, 16);
	put_hex(c, "room_key", group_key, 32);
}

static void gen_messages(json_t *root)
{
	const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	static const char hello[] = "Hello, Bob! \xf0\x9f\x91\x8b See you on Monday.";
	char edge[233];
	const char *texts[] = {hello, "", edge, edge};
	const size_t lens[] = {strlen(hello), 0, 231, 232};
	const char *names[] = {"hello", "empty", "padded_to_256", "padded_to_512"};
	const char *abouts[] = {
	    "UTF-8 text with a 4-byte character",
	    "the empty text: the body is the 24 bytes of device, counter and written_ms",
	    "231 bytes of text: a 255-byte body pads to 256",
	    "232 bytes of text: a 256-byte body pads to 512 (sodium_pad always adds a byte)",
	};
	unsigned char ct[EM_MSG_CIPHERTEXT_MAX], sig[64], padded[EM_MSG_CIPHERTEXT_MAX];
	unsigned char hello_ct[EM_MSG_CIPHERTEXT_MAX], hello_sig[64], bad_ct[EM_MSG_CIPHERTEXT_MAX];
	size_t hello_len = 0, body_len;
	unsigned long long padded_len;
	struct em_msg_meta meta;
	struct buf ad = {0};
	json_t *cases = section(
	    root, "messages",
	    "Messages (PROTOCOL.md 5.1): ad = \"ementor message v2\" 0x00 || u64 room_id || u64 "
	    "epoch || u64 sender_id || client_msg_id; body = device(8) || u64 counter || u64 "
	    "written_ms || UTF-8 text; padded = sodium_pad(body, 256); ciphertext = nonce || "
	    "XChaCha20-Poly1305-IETF(padded, ad, nonce, room_key); sig = Ed25519 by the sender "
	    "over ad || u32 length(ciphertext) || ciphertext. The nonce is random: it is given, "
	    "so the ciphertext can be reproduced. status: what a reader gets, verifying sig "
	    "with the sender's pinned sign_pk first, then decrypting, then unpadding: ok, "
	    "bad_signature, undecryptable or malformed.");
	json_t *c;

	for (size_t i = 0; i < 232; i++)
		edge[i] = (char)('a' + i % 26);
	edge[232] = '\0';
	{
		unsigned char h[32];

		hash_of("device bob", 10, h);
		memcpy(meta.device, h, sizeof(meta.device));
	}
	for (size_t i = 0; i < 4; i++) {
		char label[64];
		int n;

		meta.counter = i + 1;
		meta.written_ms = MSG_WRITTEN_MS + 1000 * i;
		snprintf(label, sizeof(label), "message %s", names[i]);
		rng_begin(label);
		n = em_msg_encrypt(group_key, GROUP_ROOM, GROUP_EPOCH, BOB->id, client_msg_ids[i],
		                   &meta, (const unsigned char *)texts[i], lens[i], BOB->k.sign_sk,
		                   ct, sig);
		rng_end();
		if (n < 0)
			die("em_msg_encrypt(%s)", names[i]);
		msg_ad(GROUP_ROOM, GROUP_EPOCH, BOB->id, client_msg_ids[i], &ad);
		if (!msg_sig_ok(&ad, ct, (size_t)n, BOB, sig))
			die("message %s: sig is not over the bytes of PROTOCOL.md", names[i]);
		if (crypto_aead_xchacha20poly1305_ietf_decrypt(padded, &padded_len, NULL, ct + nb,
		                                               (size_t)n - nb, ad.b, ad.n, ct,
		                                               group_key) ||
		    sodium_unpad(&body_len, padded, (size_t)padded_len, EM_MSG_PAD_BLOCK) ||
		    body_len != EM_MSG_META_BYTES + lens[i] ||
		    memcmp(padded + EM_MSG_META_BYTES, texts[i], lens[i]))
			die("message %s: not the layout of PROTOCOL.md", names[i]);
		c = add_case(cases, names[i]);
		put_str(c, "about", abouts[i]);
		put_msg_common(c, GROUP_EPOCH, BOB, client_msg_ids[i]);
		put_hex(c, "device", meta.device, sizeof(meta.device));
		put_int(c, "counter", meta.counter);
		put_int(c, "written_ms", meta.written_ms);
		put(c, "text", json_stringn(texts[i], lens[i]));
		put_hex(c, "nonce", ct, nb);
		put_hex(c, "ad", ad.b, ad.n);
		put_hex(c, "body", padded, body_len);
		put_hex(c, "padded", padded, (size_t)padded_len);
		put_hex(c, "ciphertext", ct, (size_t)n);
		put_hex(c, "sig", sig, 64);
		put_str(c, "status", "ok");
		if (i == 0) {
			memcpy(hello_ct, ct, (size_t)n);
			memcpy(hello_sig, sig, 64);
			hello_len = (size_t)n;
		}
	}

	/* the negative cases: the reader gets the status, never a text */
	memcpy(bad_ct, hello_ct, hello_len);
	bad_ct[40] ^= 0x01;
	c = add_case(cases, "tampered_ciphertext");
	put_str(c, "about", "hello with one ciphertext bit flipped: the signature fails first");
	put_msg_common(c, GROUP_EPOCH, BOB, client_msg_ids[0]);
	put_hex(c, "ciphertext", bad_ct, hello_len);
	put_hex(c, "sig", hello_sig, 64);
	put_str(c, "status", "bad_signature");

	c = add_case(cases, "another_epoch");
	put_str(c, "about", "hello delivered as epoch 6: the epoch is in ad, the signature fails");
	put_msg_common(c, GROUP_EPOCH + 1, BOB, client_msg_ids[0]);
	put_hex(c, "ciphertext", hello_ct, hello_len);
	put_hex(c, "sig", hello_sig, 64);
	put_str(c, "status", "bad_signature");

	c = add_case(cases, "another_sender");
	put_str(c, "about", "hello delivered as carol's: verified with carol's key, it fails");
	put_msg_common(c, GROUP_EPOCH, CAROL, client_msg_ids[0]);
	put_hex(c, "ciphertext", hello_ct, hello_len);
	put_hex(c, "sig", hello_sig, 64);
	put_str(c, "status", "bad_signature");

	msg_ad(GROUP_ROOM, GROUP_EPOCH, BOB->id, client_msg_ids[0], &ad);
	msg_sign(&ad, bad_ct, hello_len, BOB, sig);
	c = add_case(cases, "signed_but_tampered");
	put_str(c, "about", "the flipped ciphertext signed again by bob: it does not decrypt");
	put_msg_common(c, GROUP_EPOCH, BOB, client_msg_ids[0]);
	put_hex(c, "ciphertext", bad_ct, hello_len);
	put_hex(c, "sig", sig, 64);
	put_str(c, "status", "undecryptable");

	/* well encrypted and signed, but a body that is not a body */
	for (int k = 0; k < 2; k++) {
		unsigned char body[256] = {0}, raw[512];
		size_t plen = 0;
		unsigned long long clen = 0;

		msg_ad(GROUP_ROOM, GROUP_EPOCH, BOB->id, client_msg_ids[3], &ad);
		if (k == 0) {
			memcpy(body, meta.device, 8);
			if (sodium_pad(&plen, body, 20, EM_MSG_PAD_BLOCK, sizeof(body)))
				die("sodium_pad");
		} else {
			plen = 256; /* all zero: no 0x80 marker */
		}
		rng_begin(k == 0 ? "message short_body" : "message not_padded");
		randombytes_buf(raw, nb);
		rng_end();
		crypto_aead_xchacha20poly1305_ietf_encrypt(raw + nb, &clen, body, plen, ad.b, ad.n,
		                                           NULL, raw, group_key);
		msg_sign(&ad, raw, nb + (size_t)clen, BOB, sig);
		c = add_case(cases, k == 0 ? "short_body" : "not_padded");
		put_str(c, "about",
		        k == 0 ? "a padded body of 20 bytes: shorter than device, counter and "
		                 "written_ms"
		               : "256 zero bytes: no padding marker, sodium_unpad fails");
		put_msg_common(c, GROUP_EPOCH, BOB, client_msg_ids[3]);
		put_hex(c, "ciphertext", raw, nb + (size_t)clen);
		put_hex(c, "sig", sig, 64);
		put_str(c, "status", "malformed");
	}
}

/* ---- franked messages (v3) and reports -------------------------------------- */

/* c = BLAKE2b-256(key = fk, "ementor franking v1" 0x00 || device || counter || written || text) */
static void frank_commit(const unsigned char fk[32], const struct em_msg_meta *meta,
                         const char *text, size_t len, unsigned char c[32])
{
	struct buf b = {0};

	buf_label(&b, "ementor franking v1");
	buf_add(&b, meta->device, sizeof(meta->device));
	buf_u64(&b, meta->counter);
	buf_u64(&b, meta->written_ms);
	buf_add(&b, text, len);
	crypto_generichash(c, 32, b.b, b.n, fk, 32);
}

/* The fields of a reported message: what a report reveals of it (no room key). */
static void put_report(json_t *c, const unsigned char *ct, size_t ct_len,
                       const unsigned char sig[64], const unsigned char fk[32],
                       const struct em_msg_meta *meta, const char *text, size_t len)
{
	put_hex(c, "ciphertext", ct, ct_len);
	put_hex(c, "sig", sig, 64);
	put_hex(c, "fk", fk, 32);
	put_hex(c, "device", meta->device, sizeof(meta->device));
	put_int(c, "counter", meta->counter);
	put_int(c, "written_ms", meta->written_ms);
	put(c, "text", json_stringn(text, len));
}

static void gen_franked(json_t *root)
{
	const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	static const char text[] = "Meet me alone after the session, and do not tell your manager.";
	static const char other[] = "Meet me after the session with your manager.";
	unsigned char ct[EM_MSG_CIPHERTEXT_MAX], sig[64], fk[32], c_want[32], bad_fk[32];
	unsigned char padded[EM_MSG_CIPHERTEXT_MAX], v2_ct[EM_MSG_CIPHERTEXT_MAX], v2_sig[64];
	size_t len = strlen(text), body_len;
	unsigned long long padded_len;
	struct em_msg_meta meta;
	struct buf ad = {0};
	json_t *c;
	int n, v2_n;
	json_t *cases = section(
	    root, "franked_messages",
	    "Franked messages, format v3 (PROTOCOL.md 5.1 and 13): ad = \"ementor message v3\" "
	    "0x00 || u64 room_id || u64 epoch || u64 sender_id || client_msg_id; fk = 32 random "
	    "bytes; commitment = BLAKE2b-256 keyed with fk over \"ementor franking v1\" 0x00 || "
	    "device(8) || u64 counter || u64 written_ms || UTF-8 text; body = fk || device || "
	    "counter || written_ms || text; ciphertext = commitment || nonce || "
	    "XChaCha20-Poly1305-IETF(sodium_pad(body, 256), ad, nonce, room_key); sig = Ed25519 "
	    "by the sender over ad || u32 length(ciphertext) || ciphertext. fk then the nonce are "
	    "the random draws, given so the ciphertext can be reproduced. status: what a room "
	    "member reading it gets (as for messages, plus bad_commitment: the body does not "
	    "match the signed commitment). report: what a third party given the reported fields "
	    "(ciphertext, sig, fk, device, counter, written_ms, text; no room key) gets, checking "
	    "sig with the sender's key, then the commitment: ok, bad_signature or bad_commitment.");

	hash_of("device bob", 10, c_want);
	memcpy(meta.device, c_want, sizeof(meta.device));
	meta.counter = 7;
	meta.written_ms = MSG_WRITTEN_MS + 7000;

	rng_begin("franked hello");
	n = em_msg_encrypt_v3(group_key, GROUP_ROOM, GROUP_EPOCH, BOB->id, client_msg_ids[0], &meta,
	                      (const unsigned char *)text, len, BOB->k.sign_sk, ct, sig);
	rng_end();
	if (n < 0)
		die("em_msg_encrypt_v3");
	msg_ad_as("ementor message v3", GROUP_ROOM, GROUP_EPOCH, BOB->id, client_msg_ids[0], &ad);
	if (!msg_sig_ok(&ad, ct, (size_t)n, BOB, sig))
		die("franked: sig is not over the bytes of PROTOCOL.md");
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(padded, &padded_len, NULL, ct + 32 + nb,
	                                               (size_t)n - 32 - nb, ad.b, ad.n, ct + 32,
	                                               group_key) ||
	    sodium_unpad(&body_len, padded, (size_t)padded_len, EM_MSG_PAD_BLOCK) ||
	    body_len != 32 + EM_MSG_META_BYTES + len ||
	    memcmp(padded + 32 + EM_MSG_META_BYTES, text, len))
		die("franked: not the layout of PROTOCOL.md");
	memcpy(fk, padded, 32);
	frank_commit(fk, &meta, text, len, c_want);
	if (memcmp(c_want, ct, 32))
		die("franked: the commitment is not the one of PROTOCOL.md");

	c = add_case(cases, "franked_hello");
	put_str(c, "about",
	        "bob's v3 message; a room member opens it, and a report of it verifies");
	put_msg_common(c, GROUP_EPOCH, BOB, client_msg_ids[0]);
	put_hex(c, "nonce", ct + 32, nb);
	put_hex(c, "ad", ad.b, ad.n);
	put_hex(c, "commitment", ct, 32);
	put_hex(c, "body", padded, body_len);
	put_report(c, ct, (size_t)n, sig, fk, &meta, text, len);
	put_str(c, "status", "ok");
	put_str(c, "report", "ok");

	c = add_case(cases, "report_text_altered");
	put_str(c, "about",
	        "the reporter (or the server) changes the quoted text: the commitment "
	        "fails");
	put_msg_common(c, GROUP_EPOCH, BOB, client_msg_ids[0]);
	put_report(c, ct, (size_t)n, sig, fk, &meta, other, strlen(other));
	put_str(c, "report", "bad_commitment");

	memcpy(bad_fk, fk, 32);
	bad_fk[0] ^= 0x01;
	c = add_case(cases, "report_fk_altered");
	put_str(c, "about", "another franking key: the commitment fails");
	put_msg_common(c, GROUP_EPOCH, BOB, client_msg_ids[0]);
	put_report(c, ct, (size_t)n, sig, bad_fk, &meta, text, len);
	put_str(c, "report", "bad_commitment");

	{
		struct em_msg_meta later = meta;

		later.written_ms += 3600 * 1000;
		c = add_case(cases, "report_time_altered");
		put_str(c, "about", "the written time moved an hour: the commitment fails");
		put_msg_common(c, GROUP_EPOCH, BOB, client_msg_ids[0]);
		put_report(c, ct, (size_t)n, sig, fk, &later, text, len);
		put_str(c, "report", "bad_commitment");
	}

	c = add_case(cases, "report_another_sender");
	put_str(c, "about",
	        "the report names carol as the sender: checked with her key, sig fails");
	put_msg_common(c, GROUP_EPOCH, CAROL, client_msg_ids[0]);
	put_report(c, ct, (size_t)n, sig, fk, &meta, text, len);
	put_str(c, "report", "bad_signature");

	c = add_case(cases, "report_another_room");
	put_str(c, "about",
	        "the message quoted as one of another room: the room is in ad, sig "
	        "fails");
	put_msg_common(c, GROUP_EPOCH, BOB, client_msg_ids[0]);
	json_object_set_new(c, "room_id", json_integer(PAIR_ROOM));
	put_report(c, ct, (size_t)n, sig, fk, &meta, text, len);
	put_str(c, "report", "bad_signature");

	/* a v2 message has no commitment: it cannot be quoted (a long one, as long as a v3) */
	{
		char longer[5 * sizeof(text)];

		snprintf(longer, sizeof(longer), "%s %s %s %s %s", text, text, text, text, text);
		rng_begin("franked v2");
		v2_n = em_msg_encrypt(group_key, GROUP_ROOM, GROUP_EPOCH, BOB->id,
		                      client_msg_ids[1], &meta, (const unsigned char *)longer,
		                      strlen(longer), BOB->k.sign_sk, v2_ct, v2_sig);
		rng_end();
		if (v2_n < 0)
			die("em_msg_encrypt (v2)");
		c = add_case(cases, "report_of_a_v2_message");
		put_str(c, "about",
		        "a v2 message quoted with a made-up fk: its sig is over the v2 ad, "
		        "so the v3 check fails");
		put_msg_common(c, GROUP_EPOCH, BOB, client_msg_ids[1]);
		put_report(c, v2_ct, (size_t)v2_n, v2_sig, fk, &meta, longer, strlen(longer));
		put_str(c, "report", "bad_signature");
	}

	/* a lying sender: the commitment is of another text than the body; readers refuse it */
	{
		unsigned char body[EM_MSG_CIPHERTEXT_MAX], lie[EM_MSG_CIPHERTEXT_MAX], lie_sig[64];
		size_t blen = 0, plen = 0;
		unsigned long long clen = 0;

		memcpy(body, fk, 32);
		memcpy(body + 32, meta.device, 8);
		for (int i = 0; i < 8; i++) {
			body[40 + i] = (unsigned char)(meta.counter >> (56 - 8 * i));
			body[48 + i] = (unsigned char)(meta.written_ms >> (56 - 8 * i));
		}
		memcpy(body + 56, text, len);
		blen = 56 + len;
		if (sodium_pad(&plen, body, blen, EM_MSG_PAD_BLOCK, sizeof(body)))
			die("sodium_pad");
		frank_commit(fk, &meta, other, strlen(other), lie);
		rng_begin("franked lying sender");
		randombytes_buf(lie + 32, nb);
		rng_end();
		crypto_aead_xchacha20poly1305_ietf_encrypt(lie + 32 + nb, &clen, body, plen, ad.b,
		                                           ad.n, NULL, lie + 32, group_key);
		msg_sign(&ad, lie, 32 + nb + (size_t)clen, BOB, lie_sig);
		c = add_case(cases, "lying_sender");
		put_str(c, "about",
		        "bob commits to one text and encrypts another: a member reading it "
		        "gets bad_commitment (so no message shown as verified can fail a "
		        "report), and a report of the committed text does not open either");
		put_msg_common(c, GROUP_EPOCH, BOB, client_msg_ids[0]);
		put_hex(c, "ciphertext", lie, 32 + nb + (size_t)clen);
		put_hex(c, "sig", lie_sig, 64);
		put_str(c, "status", "bad_commitment");
	}
}

/* ---- agreements, consents, programme settings, the ledger ------------------- */

static const char group_terms[] = "Terms of mentoring\n"
                                  "- Be open.\n"
                                  "- Attend every scheduled meeting.\n"
                                  "Added by bob: R\xc3\xa9union le lundi \xe2\x98\x95";

static unsigned char group_agreement_hash[32];

static void gen_agreements(json_t *root)
{
	struct ident *order[] = {CAROL, MARIA, BOB, ALICE};
	struct em_party parties[4];
	unsigned char sig[64], *bytes, hash[32];
	size_t len;
	json_t *cases = section(
	    root, "agreements",
	    "Agreement signatures (PROTOCOL.md 7.1): bytes = \"ementor agreement v1\" 0x00 || u64 "
	    "room_id || u32 version || lp(starts_on) || lp(ends_on) || H(terms) || u32 n || per "
	    "party in ascending user_id: u64 user_id || lp(role) || sign_pk || box_pk (lp(x) = "
	    "u32 length || UTF-8 x; H = BLAKE2b-256). hash = H(bytes), the text_hash of the "
	    "signer's agreement consent. Parties are listed out of order on purpose. Every "
	    "party signs bytes; valid: whether the signature verifies with that party's sign_pk.");
	json_t *c = add_case(cases, "group_version_3"), *list = must(json_array()),
	       *sigs = must(json_array());

	for (size_t i = 0; i < 4; i++) {
		json_t *p = must(json_object());

		parties[i].user_id = order[i]->id;
		parties[i].role = order[i]->role;
		memcpy(parties[i].sign_pk, order[i]->k.sign_pk, 32);
		memcpy(parties[i].box_pk, order[i]->k.box_pk, 32);
		put_int(p, "user_id", order[i]->id);
		put_str(p, "role", order[i]->role);
		put_str(p, "identity", order[i]->name);
		json_array_append_new(list, p);
	}
	if (!(bytes = em_agreement_bytes(GROUP_ROOM, GROUP_AGREEMENT, "2027-03-01", "2027-08-31",
	                                 group_terms, parties, 4, &len)) ||
	    em_agreement_hash(GROUP_ROOM, GROUP_AGREEMENT, "2027-03-01", "2027-08-31", group_terms,
	                      parties, 4, hash))
		die("em_agreement_bytes");
	hash_of(bytes, len, group_agreement_hash);
	if (memcmp(hash, group_agreement_hash, 32))
		die("em_agreement_hash is not H(em_agreement_bytes)");
	put_int(c, "room_id", GROUP_ROOM);
	put_int(c, "version", GROUP_AGREEMENT);
	put_str(c, "starts_on", "2027-03-01");
	put_str(c, "ends_on", "2027-08-31");
	put_str(c, "terms", group_terms);
	put(c, "parties", list);
	put_hex(c, "bytes", bytes, len);
	put_hex(c, "hash", hash, 32);
	for (size_t i = 0; i < 4; i++) {
		json_t *s = must(json_object());

		if (em_agreement_sign(GROUP_ROOM, GROUP_AGREEMENT, "2027-03-01", "2027-08-31",
		                      group_terms, parties, 4, order[i]->k.sign_sk, sig))
			die("em_agreement_sign");
		put_str(s, "identity", order[i]->name);
		put_hex(s, "sig", sig, 64);
		put_bool(s, "valid", 1);
		json_array_append_new(sigs, s);
	}
	/* carol's signature of version 2 is not one of version 3 */
	{
		json_t *s = must(json_object());

		if (em_agreement_sign(GROUP_ROOM, GROUP_AGREEMENT - 1, "2027-03-01", "2027-08-31",
		                      group_terms, parties, 4, CAROL->k.sign_sk, sig))
			die("em_agreement_sign");
		put_str(s, "identity", CAROL->name);
		put_str(s, "about", "carol's signature of version 2 of the same text and parties");
		put_hex(s, "sig", sig, 64);
		put_bool(s, "valid", 0);
		json_array_append_new(sigs, s);
	}
	put(c, "signatures", sigs);
	free(bytes);
}

struct consent_case {
	const char *name;
	struct ident *who;
	const char *purpose, *action, *text;
	char subject[64];
	uint64_t at;
	unsigned char text_hash[32], bytes[EM_CONSENT_BYTES_MAX], sig[64];
	size_t len;
};

static const char notice_text[] = "ementor privacy notice (conformance vectors)\n";
static const char share_text[] =
    "I agree that the programme manager may see figures about the progress of my goals in this "
    "programme (never their content).";

static struct consent_case consents[] = {
    {.name = "privacy_alice",
     .purpose = "data_processing",
     .action = "grant",
     .text = notice_text,
     .at = 1764547200},
    {.name = "agreement_bob", .purpose = "agreement", .action = "grant", .at = 1764547260},
    {.name = "share_carol",
     .purpose = "share_progress",
     .action = "grant",
     .text = share_text,
     .at = 1764547320},
    {.name = "share_carol_withdrawn",
     .purpose = "share_progress",
     .action = "withdraw",
     .text = share_text,
     .at = 1764633720},
};
#define N_CONSENTS (sizeof(consents) / sizeof(consents[0]))

static void gen_consents(json_t *root)
{
	json_t *cases = section(
	    root, "consents",
	    "Consent records (PROTOCOL.md 7.1): bytes = \"ementor consent v1\" 0x00 || sign_pk || "
	    "lp(purpose) || lp(subject) || text_hash || lp(action) || u64 at; sig = Ed25519 by "
	    "the user over bytes. text_hash is H(text) where a text is given (a privacy notice "
	    "is named notice- and the first 6 bytes of its hash in hex, as ementord names "
	    "its own), and H(agreement bytes) of agreements.group_version_3 for an agreement. "
	    "The last case is signed over action grant and presented as withdraw: invalid.");

	consents[0].who = ALICE;
	consents[1].who = BOB;
	consents[2].who = CAROL;
	consents[3].who = CAROL;
	for (size_t i = 0; i < N_CONSENTS; i++) {
		struct consent_case *k = &consents[i];
		json_t *c = add_case(cases, k->name);

		if (k->text) {
			em_text_hash(k->text, k->text_hash);
		} else {
			memcpy(k->text_hash, group_agreement_hash, 32);
		}
		if (!strcmp(k->purpose, "data_processing")) {
			char hex[13];

			sodium_bin2hex(hex, sizeof(hex), k->text_hash, 6);
			snprintf(k->subject, sizeof(k->subject), "notice-%s", hex);
		} else if (!strcmp(k->purpose, "agreement")) {
			snprintf(k->subject, sizeof(k->subject), "room:%d", GROUP_ROOM);
		} else {
			snprintf(k->subject, sizeof(k->subject), "programme:%d", PROGRAMME);
		}
		k->len = em_consent_bytes(k->who->k.sign_pk, k->purpose, k->subject, k->text_hash,
		                          k->action, (int64_t)k->at, k->bytes);
		if (!k->len ||
		    em_consent_sign(k->who->k.sign_pk, k->purpose, k->subject, k->text_hash,
		                    k->action, (int64_t)k->at, k->who->k.sign_sk, k->sig))
			die("em_consent_bytes(%s)", k->name);
		put_str(c, "identity", k->who->name);
		put_int(c, "user_id", k->who->id);
		put_str(c, "purpose", k->purpose);
		put_str(c, "subject", k->subject);
		if (k->text)
			put_str(c, "text", k->text);
		put_hex(c, "text_hash", k->text_hash, 32);
		put_str(c, "action", k->action);
		put_int(c, "at", k->at);
		put_hex(c, "bytes", k->bytes, k->len);
		put_hex(c, "sig", k->sig, 64);
		put_bool(c, "valid", 1);
	}
	{
		struct consent_case *k = &consents[2];
		json_t *c = add_case(cases, "grant_shown_as_withdraw");

		put_str(c, "identity", k->who->name);
		put_int(c, "user_id", k->who->id);
		put_str(c, "purpose", k->purpose);
		put_str(c, "subject", k->subject);
		put_hex(c, "text_hash", k->text_hash, 32);
		put_str(c, "action", "withdraw");
		put_int(c, "at", k->at);
		put_hex(c, "sig", k->sig, 64);
		put_bool(c, "valid", 0);
	}
}

static void gen_programmes(json_t *root)
{
	static const struct {
		const char *name;
		uint64_t programme;
		int required, signed_as;
	} cases_in[] = {
	    {"agreements_required", PROGRAMME, 1, 1},
	    {"without_agreements", PROGRAMME_BARE, 0, 0},
	    {"required_shown_as_not", PROGRAMME, 0, 1},
	};
	json_t *cases = section(
	    root, "programme_settings",
	    "Programme settings (PROTOCOL.md 7.1): bytes = \"ementor programme settings v1\" 0x00 "
	    "|| u64 programme_id || u64 creator_id || u8 agreement_required; sig = Ed25519 by "
	    "the creator. valid: whether sig verifies over these settings with the creator's "
	    "sign_pk (the last case: signed with agreement_required 1, shown as 0).");

	for (size_t i = 0; i < sizeof(cases_in) / sizeof(cases_in[0]); i++) {
		struct buf b = {0}, s = {0};
		unsigned char sig[64];
		json_t *c = add_case(cases, cases_in[i].name);

		buf_label(&b, "ementor programme settings v1");
		buf_u64(&b, cases_in[i].programme);
		buf_u64(&b, MARIA->id);
		b.b[b.n++] = (unsigned char)cases_in[i].required;
		s = b;
		s.b[s.n - 1] = (unsigned char)cases_in[i].signed_as;
		em_programme_sign(cases_in[i].programme, MARIA->id, cases_in[i].signed_as,
		                  MARIA->k.sign_sk, sig);
		if (crypto_sign_verify_detached(sig, s.b, s.n, MARIA->k.sign_pk))
			die("programme settings: not the bytes of PROTOCOL.md");
		put_int(c, "programme_id", cases_in[i].programme);
		put_str(c, "creator", MARIA->name);
		put_int(c, "creator_id", MARIA->id);
		put_bool(c, "agreement_required", cases_in[i].required);
		put_hex(c, "bytes", b.b, b.n);
		put_hex(c, "sig", sig, 64);
		put_bool(c, "valid", cases_in[i].required == cases_in[i].signed_as);
	}
}

static void gen_ledger(json_t *root)
{
	unsigned char prev[32] = {0}, hash[32];
	json_t *cases = section(
	    root, "ledger",
	    "The consent ledger's hash chain (PROTOCOL.md 7.1): entry_hash = BLAKE2b-256("
	    "\"ementor ledger v1\" 0x00 || prev_hash || u64 seq || u64 user_id || consent bytes "
	    "|| sig || u64 recorded_us); prev_hash of seq 1 is 32 zero bytes, then the previous "
	    "entry's entry_hash. The entries are the valid records of consents, in order. The "
	    "server computes this; clients cannot (PROTOCOL.md 7.3, consent.list).");

	for (size_t i = 0; i < N_CONSENTS; i++) {
		struct consent_case *k = &consents[i];
		uint64_t recorded_us = k->at * 1000000 + 123456 + i;
		json_t *c = add_case(cases, k->name);

		em_ledger_entry_hash(prev, i + 1, k->who->id, k->bytes, k->len, k->sig, recorded_us,
		                     hash);
		put_int(c, "seq", i + 1);
		put_int(c, "user_id", k->who->id);
		put_str(c, "consent", k->name);
		put_hex(c, "consent_bytes", k->bytes, k->len);
		put_hex(c, "sig", k->sig, 64);
		put_int(c, "recorded_us", recorded_us);
		put_hex(c, "prev_hash", prev, 32);
		put_hex(c, "entry_hash", hash, 32);
		memcpy(prev, hash, 32);
	}
}

/* ---- base64url ------------------------------------------------------------ */

static void gen_base64url(json_t *root)
{
	static const char *bad[] = {"AB", "AAA=", "A+B_", "A/8", "A", "AA AA", "QUJD\n"};
	static const char *bad_about[] = {
	    "unused low bits not zero (canonical form: AA)",
	    "padding",
	    "+ is not in the URL-safe alphabet",
	    "/ is not in the URL-safe alphabet",
	    "one character cannot encode a byte",
	    "a space",
	    "a newline",
	};
	static const unsigned char bytes[] = {0xfb, 0xff, 0xbf, 0x00, 0x10, 0x83};
	json_t *cases = section(
	    root, "base64url",
	    "Binary values on the wire (PROTOCOL.md 2, Encodings): base64url without padding "
	    "(RFC 4648 section 5), canonical (unused low bits zero). valid false: the text "
	    "must be refused.");

	for (size_t n = 0; n <= sizeof(bytes); n++) {
		char *text = em_b64_encode(bytes, n), name[16];
		unsigned char back[16];
		json_t *c;

		if (!text || em_b64_decode(text, back, sizeof(back)) != (int)n ||
		    memcmp(back, bytes, n))
			die("em_b64_encode/decode of %zu bytes", n);
		snprintf(name, sizeof(name), "bytes_%zu", n);
		c = add_case(cases, name);
		put_hex(c, "bytes", bytes, n);
		put_str(c, "text", text);
		put_bool(c, "valid", 1);
		free(text);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned char back[16];
		char name[16];
		json_t *c;

		if (em_b64_decode(bad[i], back, sizeof(back)) >= 0)
			die("em_b64_decode accepts \"%s\"", bad[i]);
		snprintf(name, sizeof(name), "invalid_%zu", i + 1);
		c = add_case(cases, name);
		put_str(c, "about", bad_about[i]);
		put_str(c, "text", bad[i]);
		put_bool(c, "valid", 0);
	}
}

int main(void)
{
	json_t *root;

	randombytes_set_implementation(&rng_implementation);
	rng.starting = 1;
	if (em_crypto_init() != 0)
		die("libsodium does not start");
	rng.starting = 0;
	root = must(json_object());
	put_str(root, "about",
	        "ementor conformance vectors: inputs and expected outputs of every derivation "
	        "and byte layout of docs/PROTOCOL.md. Generated by tests/vectors/gen.c from "
	        "libementor-proto; tests/vectors/README.md says how to read and regenerate it.");
	put_int(root, "format", 1);
	put_str(root, "conventions",
	        "Binary values are lower-case hex. Integers are JSON numbers (all below 2^53). "
	        "Texts are JSON strings, written with \\u escapes so that the file is ASCII and "
	        "no editor can normalise it. Identities are referred to by name.");
	gen_identities(root);
	gen_passwords(root);
	gen_accounts(root);
	gen_backups(root);
	gen_safety(root);
	gen_envelopes(root);
	gen_commits(root);
	gen_messages(root);
	gen_franked(root);
	gen_agreements(root);
	gen_consents(root);
	gen_programmes(root);
	gen_ledger(root);
	gen_base64url(root);
	if (json_dumpf(root, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER) ||
	    fputc('\n', stdout) == EOF || fflush(stdout))
		die("cannot write the vectors");
	json_decref(root);
	return 0;
}
