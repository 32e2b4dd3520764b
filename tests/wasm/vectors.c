/*
 * vectors.c - the native side of the WebAssembly conformance check: runs
 * every function of libementor-proto that the WebAssembly core exports on
 * fixed inputs and prints the inputs and the results as JSON on stdout.
 * tests/wasm/check.mjs feeds the same inputs to the WebAssembly build (in
 * Node and in Chromium) and requires byte-identical results.
 *
 * Randomness is part of the input. Operations that draw random bytes (key
 * generation, sealed boxes, nonces) run with libsodium's random source
 * replaced by a fixed stream, and the case records the stream it used
 * ("rng": 4 bytes per 32-bit value, little-endian). The WebAssembly core
 * draws through the host's getRandomValue(), one 32-bit value per
 * randombytes_random() and one value per byte of randombytes_buf() (the low
 * byte), so this program's replacement draws the same way and both sides
 * consume the same values for the same operation. The streams come from
 * randombytes_buf_deterministic() with fixed seeds: the output is the same
 * at every run.
 *
 * Usage: wasm_vectors > vectors.json (exit 0), or exit 1 with a message.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <sodium.h>

#include "em_crypto.h"
#include "em_proto.h"

#define RNG_VALUES 1024 /* 32-bit values a case may draw */

/* The replaced random source: a fixed stream while a case runs, the system's otherwise. */
static struct {
	int active;
	size_t used; /* values drawn */
	unsigned char bytes[RNG_VALUES * 4];
} rng;

static const char *rng_name(void)
{
	return "ementor-vectors";
}

static uint32_t rng_random(void)
{
	const unsigned char *p;

	if (!rng.active)
		return randombytes_sysrandom_implementation.random();
	if (rng.used >= RNG_VALUES) {
		fprintf(stderr, "wasm_vectors: a case drew more than %d random values\n",
		        RNG_VALUES);
		exit(1);
	}
	p = rng.bytes + rng.used++ * 4;
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* As libsodium's randombytes_buf() under Emscripten: one value per byte. */
static void rng_buf(void *const buf, const size_t size)
{
	unsigned char *p = buf;

	if (!rng.active) {
		randombytes_sysrandom_implementation.buf(buf, size);
		return;
	}
	for (size_t i = 0; i < size; i++)
		p[i] = (unsigned char)rng_random();
}

static randombytes_implementation rng_implementation = {
    .implementation_name = rng_name,
    .random = rng_random,
    .buf = rng_buf,
};

/* Starts a fixed stream whose seed is BLAKE2b-256 of label. */
static void rng_begin(const char *label)
{
	unsigned char seed[randombytes_SEEDBYTES];

	crypto_generichash(seed, sizeof(seed), (const unsigned char *)label, strlen(label), NULL,
	                   0);
	randombytes_buf_deterministic(rng.bytes, sizeof(rng.bytes), seed);
	rng.used = 0;
	rng.active = 1;
}

static void *must(void *p)
{
	if (!p) {
		fprintf(stderr, "wasm_vectors: out of memory\n");
		exit(1);
	}
	return p;
}

static void put(json_t *obj, const char *key, json_t *value)
{
	if (json_object_set_new(obj, key, must(value)) != 0) {
		fprintf(stderr, "wasm_vectors: cannot set %s\n", key);
		exit(1);
	}
}

static void put_hex(json_t *obj, const char *key, const void *bin, size_t len)
{
	char *hex = must(malloc(len * 2 + 1));

	sodium_bin2hex(hex, len * 2 + 1, bin, len);
	put(obj, key, json_string(hex));
	free(hex);
}

/* 64-bit integers travel as decimal strings: a JSON number loses bits above 2^53. */
static void put_u64(json_t *obj, const char *key, uint64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRIu64, v);
	put(obj, key, json_string(s));
}

static void put_i64(json_t *obj, const char *key, int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRId64, v);
	put(obj, key, json_string(s));
}

static void put_str(json_t *obj, const char *key, const char *s)
{
	put(obj, key, json_string(s));
}

static void put_int(json_t *obj, const char *key, json_int_t v)
{
	put(obj, key, json_integer(v));
}

/* Appends {"op": op, "in": {}, "out": {}} to cases; *in and *out are borrowed. */
static json_t *case_add(json_t *cases, const char *op, json_t **in, json_t **out)
{
	json_t *c = must(json_object());

	put_str(c, "op", op);
	*in = must(json_object());
	*out = must(json_object());
	put(c, "in", *in);
	put(c, "out", *out);
	if (json_array_append_new(cases, c) != 0)
		must(NULL);
	return c;
}

/* Ends the fixed stream of a case and records the values it drew. */
static void case_rng_end(json_t *c)
{
	put_hex(c, "rng", rng.bytes, rng.used * 4);
	rng.active = 0;
}

struct user {
	const char *name;
	uint64_t id;
	struct em_keys keys;
};

static void put_keys(json_t *obj, const struct em_keys *k)
{
	put_hex(obj, "sign_pk", k->sign_pk, sizeof(k->sign_pk));
	put_hex(obj, "sign_sk", k->sign_sk, sizeof(k->sign_sk));
	put_hex(obj, "box_pk", k->box_pk, sizeof(k->box_pk));
	put_hex(obj, "box_sk", k->box_sk, sizeof(k->box_sk));
}

static void cases_kdf(json_t *cases, unsigned char wrap_key[32])
{
	/* ASCII, Polish in NFC UTF-8, and the empty password */
	static const char *passwords[] = {
	    "correct horse battery staple",
	    "za\xc5\xbc\xc3\xb3\xc5\x82\xc4\x87 g\xc4\x99\xc5\x9bl\xc4"
	    "\x85 ja\xc5\xba\xc5\x84",
	    ""};
	static const uint64_t opslimits[] = {EM_KDF_OPSLIMIT_DEFAULT, EM_KDF_OPSLIMIT_DEFAULT, 3};
	static const unsigned char salt[16] = "ementor salt 16b";

	for (size_t i = 0; i < sizeof(passwords) / sizeof(passwords[0]); i++) {
		unsigned char auth[32], wrap[32];
		json_t *in, *out;
		int rc;

		case_add(cases, "kdf", &in, &out);
		put_str(in, "password", passwords[i]);
		put_hex(in, "salt", salt, sizeof(salt));
		put_u64(in, "opslimit", opslimits[i]);
		put_u64(in, "memlimit", EM_KDF_MEMLIMIT_DEFAULT);
		rc = em_kdf_derive(passwords[i], strlen(passwords[i]), salt, opslimits[i],
		                   EM_KDF_MEMLIMIT_DEFAULT, auth, wrap);
		put_int(out, "rc", rc);
		put_hex(out, "auth_key", auth, sizeof(auth));
		put_hex(out, "wrap_key", wrap, sizeof(wrap));
		if (i == 0)
			memcpy(wrap_key, wrap, 32);
	}
}

static void cases_users(json_t *cases, struct user *users, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char fp[EM_FINGERPRINT_STRLEN];
		json_t *in, *out, *c;

		c = case_add(cases, "keys_generate", &in, &out);
		rng_begin(users[i].name);
		em_keys_generate(&users[i].keys);
		case_rng_end(c);
		put_keys(out, &users[i].keys);

		case_add(cases, "fingerprint", &in, &out);
		put_hex(in, "sign_pk", users[i].keys.sign_pk, 32);
		put_hex(in, "box_pk", users[i].keys.box_pk, 32);
		em_fingerprint(users[i].keys.sign_pk, users[i].keys.box_pk, fp);
		put_str(out, "fingerprint", fp);
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			char sn[EM_SAFETY_STRLEN];
			json_t *in, *out;

			if (i == j)
				continue;
			case_add(cases, "safety_number", &in, &out);
			put_hex(in, "a_sign_pk", users[i].keys.sign_pk, 32);
			put_hex(in, "a_box_pk", users[i].keys.box_pk, 32);
			put_hex(in, "b_sign_pk", users[j].keys.sign_pk, 32);
			put_hex(in, "b_box_pk", users[j].keys.box_pk, 32);
			em_safety_number(users[i].keys.sign_pk, users[i].keys.box_pk,
			                 users[j].keys.sign_pk, users[j].keys.box_pk, sn);
			put_str(out, "safety_number", sn);
		}
	}
}

static void case_unwrap(json_t *cases, const unsigned char wrap_key[32], const char *username,
                        const unsigned char *backup, size_t len)
{
	struct em_keys k;
	json_t *in, *out;
	int rc;

	memset(&k, 0, sizeof(k));
	case_add(cases, "keys_unwrap", &in, &out);
	put_hex(in, "wrap_key", wrap_key, 32);
	put_str(in, "username", username);
	put_hex(in, "backup", backup, len);
	rc = em_keys_unwrap(&k, wrap_key, username, backup, len);
	put_int(out, "rc", rc);
	if (rc == 0)
		put_keys(out, &k);
	em_keys_wipe(&k);
}

static void cases_backup(json_t *cases, const struct user *u, const unsigned char wrap_key[32])
{
	unsigned char backup[EM_BACKUP_BYTES], other_key[32];
	json_t *in, *out, *c;

	c = case_add(cases, "keys_wrap", &in, &out);
	put_keys(in, &u->keys);
	put_hex(in, "wrap_key", wrap_key, 32);
	put_str(in, "username", u->name);
	rng_begin("backup");
	em_keys_wrap(&u->keys, wrap_key, u->name, backup);
	case_rng_end(c);
	put_hex(out, "backup", backup, sizeof(backup));

	memcpy(other_key, wrap_key, 32);
	other_key[31] ^= 1;
	case_unwrap(cases, wrap_key, u->name, backup, sizeof(backup));
	case_unwrap(cases, other_key, u->name, backup, sizeof(backup));  /* wrong password */
	case_unwrap(cases, wrap_key, "mallory", backup, sizeof(backup)); /* another user's */
	backup[40] ^= 0x80;
	case_unwrap(cases, wrap_key, u->name, backup, sizeof(backup));     /* tampered */
	case_unwrap(cases, wrap_key, u->name, backup, sizeof(backup) - 1); /* truncated */
}

/* A recipient list as JSON: n ids as decimal strings. */
static void put_recipients(json_t *obj, const uint64_t *list, uint32_t n)
{
	json_t *a = must(json_array());

	for (uint32_t i = 0; i < n; i++) {
		char s[24];

		snprintf(s, sizeof(s), "%" PRIu64, list[i]);
		if (json_array_append_new(a, must(json_string(s))) != 0)
			must(NULL);
	}
	put(obj, "recipients", a);
}

/*
 * What an envelope names, from a list of n ids as JavaScript passes it: at
 * most EM_KEY_RECIPIENTS_MAX of them fit the struct, n stays as given (so a
 * longer list is refused by proto, as in web/core/wasm_api.c).
 */
static void room_key_id_set(struct em_room_key_id *id, uint64_t room, uint64_t epoch,
                            uint64_t recipient, uint64_t committer, uint32_t version,
                            const uint64_t *list, uint32_t n)
{
	memset(id, 0, sizeof(*id));
	id->room_id = room;
	id->epoch = epoch;
	id->recipient_id = recipient;
	id->committer_id = committer;
	id->agreement_version = version;
	id->n_recipients = n;
	for (uint32_t i = 0; i < n && i < EM_KEY_RECIPIENTS_MAX; i++)
		id->recipients[i] = list[i];
}

static void put_room_key_id(json_t *in, const struct em_room_key_id *id, const uint64_t *list)
{
	put_u64(in, "room_id", id->room_id);
	put_u64(in, "epoch", id->epoch);
	put_u64(in, "recipient_id", id->recipient_id);
	put_u64(in, "committer_id", id->committer_id);
	put_int(in, "agreement_version", id->agreement_version);
	put_recipients(in, list, id->n_recipients);
}

/* One room_key_seal case with its own fixed stream (label); returns em_room_key_seal's rc. */
static int case_room_key_seal(json_t *cases, const unsigned char room_key[EM_ROOM_KEY_BYTES],
                              const struct em_room_key_id *id, const uint64_t *list,
                              const struct user *committer, const struct user *recipient,
                              const char *label, unsigned char sealed[EM_SEALED_KEY_BYTES])
{
	json_t *in, *out, *c;
	int rc;

	c = case_add(cases, "room_key_seal", &in, &out);
	put_hex(in, "room_key", room_key, EM_ROOM_KEY_BYTES);
	put_room_key_id(in, id, list);
	put_hex(in, "committer_sign_sk", committer->keys.sign_sk, EM_SIGN_SK_BYTES);
	put_hex(in, "recipient_box_pk", recipient->keys.box_pk, EM_BOX_PK_BYTES);
	memset(sealed, 0, EM_SEALED_KEY_BYTES);
	rng_begin(label);
	rc =
	    em_room_key_seal(room_key, id, committer->keys.sign_sk, recipient->keys.box_pk, sealed);
	case_rng_end(c);
	put_int(out, "rc", rc);
	if (rc == 0)
		put_hex(out, "sealed", sealed, EM_SEALED_KEY_BYTES);
	return rc;
}

/* Opens sealed as a user; returns the rc, and on success the key, names and signature. */
static int case_room_key_open(json_t *cases, const unsigned char sealed[EM_SEALED_KEY_BYTES],
                              const struct user *as, struct em_room_key_id *id,
                              unsigned char key[EM_ROOM_KEY_BYTES], unsigned char sig[EM_SIG_BYTES])
{
	json_t *in, *out;
	int rc;

	memset(id, 0, sizeof(*id));
	case_add(cases, "room_key_open", &in, &out);
	put_hex(in, "sealed", sealed, EM_SEALED_KEY_BYTES);
	put_keys(in, &as->keys);
	rc = em_room_key_open(sealed, &as->keys, id, key, sig);
	put_int(out, "rc", rc);
	if (rc == 0) {
		put_u64(out, "committer_id", id->committer_id);
		put_int(out, "agreement_version", id->agreement_version);
		put_recipients(out, id->recipients, id->n_recipients);
		put_hex(out, "room_key", key, EM_ROOM_KEY_BYTES);
		put_hex(out, "sig", sig, EM_SIG_BYTES);
	}
	return rc;
}

static void case_room_key_verify(json_t *cases, const unsigned char room_key[32],
                                 const struct em_room_key_id *id, const uint64_t *list,
                                 const unsigned char sig[EM_SIG_BYTES],
                                 const unsigned char sign_pk[32])
{
	json_t *in, *out;

	case_add(cases, "room_key_verify", &in, &out);
	put_hex(in, "room_key", room_key, 32);
	put_room_key_id(in, id, list);
	put_hex(in, "sig", sig, EM_SIG_BYTES);
	put_hex(in, "committer_sign_pk", sign_pk, 32);
	put_int(out, "rc", em_room_key_verify(room_key, id, sig, sign_pk));
}

static void case_room_key_names(json_t *cases, const uint64_t *list, uint32_t n, uint64_t user)
{
	struct em_room_key_id id;
	json_t *in, *out;

	room_key_id_set(&id, 0, 0, 0, 0, 0, list, n);
	case_add(cases, "room_key_names", &in, &out);
	put_recipients(in, list, n);
	put_u64(in, "user_id", user);
	put_int(out, "names", em_room_key_names(&id, user));
}

static void put_commit(json_t *in, const struct em_commit *c, const struct em_commit_entry *entries,
                       size_t n)
{
	json_t *list = must(json_array());

	put_u64(in, "room_id", c->room_id);
	put_u64(in, "epoch", c->epoch);
	put_u64(in, "committer_id", c->committer_id);
	put_int(in, "agreement_version", c->agreement_version);
	for (size_t i = 0; i < n; i++) {
		json_t *e = must(json_object());

		put_u64(e, "recipient_id", entries[i].recipient_id);
		put_hex(e, "sealed", entries[i].sealed, EM_SEALED_KEY_BYTES);
		if (json_array_append_new(list, e) != 0)
			must(NULL);
	}
	put(in, "entries", list);
}

/* A commit over entries (given in reverse order: the commit sorts them), then its refusals. */
static void cases_commit(json_t *cases, const struct em_commit *commit,
                         struct em_commit_entry *entries, size_t n, const struct user *committer,
                         const struct user *other)
{
	unsigned char sig[EM_SIG_BYTES], *bytes;
	struct em_commit_entry *copy = must(calloc(n, sizeof(*copy)));
	size_t len;
	json_t *in, *out;

	for (size_t i = 0; i < n / 2; i++) {
		struct em_commit_entry t = entries[i];

		entries[i] = entries[n - 1 - i];
		entries[n - 1 - i] = t;
	}
	case_add(cases, "commit", &in, &out);
	put_commit(in, commit, entries, n);
	put_hex(in, "sign_sk", committer->keys.sign_sk, EM_SIGN_SK_BYTES);
	memcpy(copy, entries, n * sizeof(*copy)); /* em_commit_bytes sorts in place */
	bytes = must(em_commit_bytes(commit, copy, n, &len));
	put_hex(out, "bytes", bytes, len);
	free(bytes);
	memcpy(copy, entries, n * sizeof(*copy));
	put_int(out, "rc", em_commit_sign(commit, copy, n, committer->keys.sign_sk, sig));
	put_hex(out, "sig", sig, sizeof(sig));

	for (int variant = 0; variant < 4; variant++) {
		/* 0: valid; 1: one envelope changed; 2: signed by another key; 3: another agreement
		 * version */
		const unsigned char *pk =
		    variant == 2 ? other->keys.sign_pk : committer->keys.sign_pk;
		struct em_commit c = *commit;

		memcpy(copy, entries, n * sizeof(*copy));
		if (variant == 1)
			copy[0].sealed[7] ^= 1;
		if (variant == 3)
			c.agreement_version++;
		case_add(cases, "commit_verify", &in, &out);
		put_commit(in, &c, copy, n);
		put_hex(in, "sign_pk", pk, EM_SIGN_PK_BYTES);
		put_hex(in, "sig", sig, sizeof(sig));
		put_int(out, "rc", em_commit_verify(&c, copy, n, pk, sig));
	}
	free(copy);
}

/*
 * An envelope that opens but names an impossible recipient list (sealed with
 * crypto_box_seal directly, as a hostile committer could): the descending
 * list (42, 17). em_room_key_open must refuse it.
 */
static void case_room_key_forged(json_t *cases, const struct user *to,
                                 const unsigned char room_key[EM_ROOM_KEY_BYTES])
{
	unsigned char
	    plain[8 + 4 + 4 + 8 * EM_KEY_RECIPIENTS_MAX + EM_ROOM_KEY_BYTES + EM_SIG_BYTES];
	unsigned char sealed[EM_SEALED_KEY_BYTES], key[EM_ROOM_KEY_BYTES], sig[EM_SIG_BYTES];
	struct em_room_key_id id;

	memset(plain, 0, sizeof(plain));
	plain[7] = 17;  /* committer */
	plain[15] = 2;  /* n */
	plain[23] = 42; /* recipients[0] */
	plain[31] = 17; /* recipients[1] */
	memcpy(plain + 16 + 8 * EM_KEY_RECIPIENTS_MAX, room_key, EM_ROOM_KEY_BYTES);
	rng_begin("forged envelope");
	crypto_box_seal(sealed, plain, sizeof(plain), to->keys.box_pk);
	rng.active = 0;
	if (case_room_key_open(cases, sealed, to, &id, key, sig) == 0) {
		fprintf(stderr, "wasm_vectors: an envelope with a descending list opened\n");
		exit(1);
	}
}

/*
 * Room keys from users[0] (the committer) for two epochs with different
 * recipient lists and agreement versions, a six-recipient list, the seals
 * proto refuses, opening, verification and the commits. The key of the first
 * epoch goes to room_key (the messages use it).
 */
static void cases_room(json_t *cases, const struct user *users, size_t n, uint64_t room,
                       uint64_t epoch, unsigned char room_key[EM_ROOM_KEY_BYTES])
{
	const struct user *committer = &users[0];
	struct em_commit_entry *entries = must(calloc(n, sizeof(*entries)));
	struct em_room_key_id id, opened;
	struct em_commit commit;
	unsigned char key2[EM_ROOM_KEY_BYTES], key[EM_ROOM_KEY_BYTES], sig[EM_SIG_BYTES];
	unsigned char sealed[EM_SEALED_KEY_BYTES];
	uint64_t all[EM_KEY_RECIPIENTS_MAX + 1], two[2], six[EM_KEY_RECIPIENTS_MAX];
	uint64_t list[EM_KEY_RECIPIENTS_MAX + 1];
	char label[48];

	if (n != 3) {
		fprintf(stderr, "wasm_vectors: cases_room wants three users\n");
		exit(1);
	}
	/* users in ascending id order: alice 17, bob 42, carol above 2^63 */
	for (size_t i = 0; i < n; i++)
		all[i] = users[i].id;
	two[0] = users[0].id;
	two[1] = users[1].id;
	six[0] = users[0].id;
	six[1] = users[1].id;
	six[2] = 100;
	six[3] = 101;
	six[4] = UINT64_C(9007199254740993);
	six[5] = users[2].id;

	rng_begin("room key");
	randombytes_buf(room_key, EM_ROOM_KEY_BYTES);
	randombytes_buf(key2, EM_ROOM_KEY_BYTES);
	rng.active = 0;

	/* epoch: every user, agreement version 2 */
	for (size_t i = 0; i < n; i++) {
		room_key_id_set(&id, room, epoch, users[i].id, committer->id, 2, all, (uint32_t)n);
		snprintf(label, sizeof(label), "seal %s epoch", users[i].name);
		if (case_room_key_seal(cases, room_key, &id, all, committer, &users[i], label,
		                       entries[i].sealed) != 0) {
			fprintf(stderr, "wasm_vectors: a valid seal was refused\n");
			exit(1);
		}
		entries[i].recipient_id = users[i].id;
	}
	/* the recipient opens it (learning the list); nobody else can */
	if (case_room_key_open(cases, entries[1].sealed, &users[1], &opened, key, sig) != 0) {
		fprintf(stderr, "wasm_vectors: a fresh envelope does not open\n");
		exit(1);
	}
	case_room_key_open(cases, entries[1].sealed, &users[2], &id, key, sig);
	case_room_key_open(cases, entries[2].sealed, &users[2], &id, key, sig);

	room_key_id_set(&id, room, epoch, users[1].id, committer->id, 2, all, (uint32_t)n);
	if (em_room_key_open(entries[1].sealed, &users[1].keys, &opened, key, sig) != 0) {
		fprintf(stderr, "wasm_vectors: a fresh envelope does not open\n");
		exit(1);
	}
	case_room_key_verify(cases, room_key, &id, all, sig, committer->keys.sign_pk);
	/* the same signature fails for another recipient, epoch, signer, agreement version or list
	 */
	id.recipient_id = users[2].id;
	case_room_key_verify(cases, room_key, &id, all, sig, committer->keys.sign_pk);
	id.recipient_id = users[1].id;
	id.epoch = epoch + 1;
	case_room_key_verify(cases, room_key, &id, all, sig, committer->keys.sign_pk);
	id.epoch = epoch;
	case_room_key_verify(cases, room_key, &id, all, sig, users[1].keys.sign_pk);
	id.agreement_version = 3;
	case_room_key_verify(cases, room_key, &id, all, sig, committer->keys.sign_pk);
	id.agreement_version = 0;
	case_room_key_verify(cases, room_key, &id, all, sig, committer->keys.sign_pk);
	room_key_id_set(&id, room, epoch, users[1].id, committer->id, 2, two, 2);
	case_room_key_verify(cases, room_key, &id, two, sig, committer->keys.sign_pk);
	list[0] = all[1];
	list[1] = all[0];
	list[2] = all[2];
	room_key_id_set(&id, room, epoch, users[1].id, committer->id, 2, list, 3);
	case_room_key_verify(cases, room_key, &id, list, sig, committer->keys.sign_pk);

	commit.room_id = room;
	commit.epoch = epoch;
	commit.committer_id = committer->id;
	commit.agreement_version = 2;
	cases_commit(cases, &commit, entries, n, committer, &users[1]);

	/* the next epoch: carol has left, and the programme signed away agreements (version 0) */
	for (size_t i = 0; i < 2; i++) {
		room_key_id_set(&id, room, epoch + 1, users[i].id, committer->id, 0, two, 2);
		snprintf(label, sizeof(label), "seal %s epoch+1", users[i].name);
		if (case_room_key_seal(cases, key2, &id, two, committer, &users[i], label,
		                       entries[i].sealed) != 0) {
			fprintf(stderr, "wasm_vectors: a valid seal was refused\n");
			exit(1);
		}
		entries[i].recipient_id = users[i].id;
	}
	case_room_key_open(cases, entries[0].sealed, &users[0], &id, key, sig);
	room_key_id_set(&id, room, epoch + 1, users[0].id, committer->id, 0, two, 2);
	case_room_key_verify(cases, key2, &id, two, sig, committer->keys.sign_pk);
	commit.epoch = epoch + 1;
	commit.agreement_version = 0;
	cases_commit(cases, &commit, entries, 2, committer, &users[2]);

	/* six recipients (the most a room has), the largest agreement version, carol committing */
	room_key_id_set(&id, room, epoch + 2, users[1].id, users[2].id, UINT32_MAX, six,
	                EM_KEY_RECIPIENTS_MAX);
	case_room_key_seal(cases, key2, &id, six, &users[2], &users[1], "seal six", sealed);
	case_room_key_open(cases, sealed, &users[1], &opened, key, sig);
	case_room_key_verify(cases, key2, &id, six, sig, users[2].keys.sign_pk);

	/* seals proto refuses: recipient not listed, a list not ascending, empty, a zero id, 7 ids
	 */
	room_key_id_set(&id, room, epoch, users[2].id, committer->id, 1, two, 2);
	case_room_key_seal(cases, key2, &id, two, committer, &users[2], "refused 1", sealed);
	room_key_id_set(&id, room, epoch, users[1].id, committer->id, 1, list, 3);
	case_room_key_seal(cases, key2, &id, list, committer, &users[1], "refused 2", sealed);
	room_key_id_set(&id, room, epoch, users[1].id, committer->id, 1, two, 0);
	case_room_key_seal(cases, key2, &id, two, committer, &users[1], "refused 3", sealed);
	list[0] = 0;
	list[1] = users[1].id;
	room_key_id_set(&id, room, epoch, users[1].id, committer->id, 1, list, 2);
	case_room_key_seal(cases, key2, &id, list, committer, &users[1], "refused 4", sealed);
	memcpy(list, six, sizeof(six));
	list[EM_KEY_RECIPIENTS_MAX] = users[2].id + 1;
	room_key_id_set(&id, room, epoch, users[1].id, committer->id, 1, list,
	                EM_KEY_RECIPIENTS_MAX + 1);
	case_room_key_seal(cases, key2, &id, list, committer, &users[1], "refused 5", sealed);

	case_room_key_forged(cases, &users[1], key2);

	case_room_key_names(cases, all, 3, users[2].id);
	case_room_key_names(cases, two, 2, users[2].id);
	case_room_key_names(cases, six, EM_KEY_RECIPIENTS_MAX, 101);
	case_room_key_names(cases, six, EM_KEY_RECIPIENTS_MAX, 102);
	case_room_key_names(cases, two, 0, users[0].id);
	free(entries);
}

static void case_msg_decrypt(json_t *cases, const unsigned char room_key[32], uint64_t room,
                             uint64_t epoch, uint64_t sender, const unsigned char msg_id[16],
                             const unsigned char *ct, size_t ct_len, const unsigned char sig[64],
                             const unsigned char sign_pk[32])
{
	unsigned char *plain = must(malloc(ct_len ? ct_len : 1));
	struct em_msg_meta meta;
	size_t plain_len = 0;
	json_t *in, *out;
	int status;

	memset(&meta, 0, sizeof(meta));
	case_add(cases, "msg_decrypt", &in, &out);
	put_hex(in, "room_key", room_key, 32);
	put_u64(in, "room_id", room);
	put_u64(in, "epoch", epoch);
	put_u64(in, "sender_id", sender);
	put_hex(in, "client_msg_id", msg_id, 16);
	put_hex(in, "ciphertext", ct, ct_len);
	put_hex(in, "sig", sig, 64);
	put_hex(in, "sender_sign_pk", sign_pk, 32);
	status = em_msg_decrypt(room_key, room, epoch, sender, msg_id, ct, ct_len, sig, sign_pk,
	                        &meta, plain, &plain_len);
	put_int(out, "status", status);
	if (status == EM_MSG_OK) {
		put_hex(out, "plaintext", plain, plain_len);
		put_hex(out, "device", meta.device, sizeof(meta.device));
		put_u64(out, "counter", meta.counter);
		put_u64(out, "written_ms", meta.written_ms);
	}
	free(plain);
}

static void cases_messages(json_t *cases, const struct user *users,
                           const unsigned char room_key[32], uint64_t room, uint64_t epoch)
{
	/* lengths around the pad blocks: the 24 bytes of meta share the first block */
	static const size_t lengths[] = {
	    0, 5, 231, 232, 233, 300, EM_MSG_PLAINTEXT_MAX, EM_MSG_PLAINTEXT_MAX + 1};
	static const char text[] = "hello, \xc5\xbc\xc3\xb3\xc5\x82w ";
	unsigned char *ct = must(malloc(EM_MSG_CIPHERTEXT_MAX));
	unsigned char *plain = must(malloc(EM_MSG_PLAINTEXT_MAX + 1));

	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		/* bob, then carol (an id above 2^63) sends the last three */
		const struct user *sender = i < 5 ? &users[1] : &users[2];
		unsigned char msg_id[16], sig[EM_SIG_BYTES];
		struct em_msg_meta meta;
		char label[32];
		json_t *in, *out, *c;
		int len;

		/* "hello", then a UTF-8 text repeated across the pad blocks */
		for (size_t j = 0; j < lengths[i]; j++)
			plain[j] = (unsigned char)text[j % (sizeof(text) - 1)];
		memset(msg_id, (int)(0xa0 + i), sizeof(msg_id));
		memset(sig, 0, sizeof(sig));
		/* a device id per sender; counters 1, 2, ... and the largest; clocks from 2026 */
		for (size_t j = 0; j < EM_DEVICE_ID_BYTES; j++)
			meta.device[j] = (unsigned char)(sender->id * 0x3b + j * 0x51);
		meta.counter = i == 6 ? UINT64_MAX : i + 1;
		meta.written_ms = UINT64_C(1767225600000) + i * 61001;
		c = case_add(cases, "msg_encrypt", &in, &out);
		put_hex(in, "room_key", room_key, 32);
		put_u64(in, "room_id", room);
		put_u64(in, "epoch", epoch);
		put_u64(in, "sender_id", sender->id);
		put_hex(in, "client_msg_id", msg_id, 16);
		put_hex(in, "device", meta.device, sizeof(meta.device));
		put_u64(in, "counter", meta.counter);
		put_u64(in, "written_ms", meta.written_ms);
		put_hex(in, "plaintext", plain, lengths[i]);
		put_hex(in, "sender_sign_sk", sender->keys.sign_sk, EM_SIGN_SK_BYTES);
		snprintf(label, sizeof(label), "message %zu", i);
		rng_begin(label);
		len = em_msg_encrypt(room_key, room, epoch, sender->id, msg_id, &meta, plain,
		                     lengths[i], sender->keys.sign_sk, ct, sig);
		case_rng_end(c);
		put_int(out, "rc", len);
		if (len < 0)
			continue;
		put_hex(out, "ciphertext", ct, (size_t)len);
		put_hex(out, "sig", sig, sizeof(sig));

		case_msg_decrypt(cases, room_key, room, epoch, sender->id, msg_id, ct, (size_t)len,
		                 sig, sender->keys.sign_pk);
		if (i != 1)
			continue;
		/* the refusals a reader meets, once */
		case_msg_decrypt(cases, room_key, room, epoch, sender->id, msg_id, ct, (size_t)len,
		                 sig, users[2].keys.sign_pk); /* not the sender's key */
		case_msg_decrypt(cases, room_key, room, epoch + 1, sender->id, msg_id, ct,
		                 (size_t)len, sig, sender->keys.sign_pk); /* another epoch */
		case_msg_decrypt(cases, room_key, room, epoch, sender->id, msg_id, ct,
		                 (size_t)len - 1, sig, sender->keys.sign_pk); /* truncated */
		{
			/* the sender signs a ciphertext that does not open under the room key */
			unsigned char other_key[32];
			int n;

			memcpy(other_key, room_key, 32);
			other_key[0] ^= 1;
			rng_begin("other key");
			n = em_msg_encrypt(other_key, room, epoch, sender->id, msg_id, &meta, plain,
			                   lengths[i], sender->keys.sign_sk, ct, sig);
			rng.active = 0;
			case_msg_decrypt(cases, room_key, room, epoch, sender->id, msg_id, ct,
			                 (size_t)n, sig, sender->keys.sign_pk);
		}
	}
	free(ct);
	free(plain);
}

static void put_programme(json_t *in, uint64_t programme, uint64_t creator, int required)
{
	put_u64(in, "programme_id", programme);
	put_u64(in, "creator_id", creator);
	put(in, "agreement_required", json_boolean(required));
}

/* Programme settings signed by their creator, and what verification refuses. */
static void cases_programme(json_t *cases, const struct user *users)
{
	static const struct {
		uint64_t programme;
		size_t creator;
		int required;
	} settings[] = {
	    {7, 0, 1},
	    {UINT64_C(9007199254740993), 2, 0},
	};

	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		const struct user *creator = &users[settings[i].creator];
		unsigned char sig[EM_SIG_BYTES];
		json_t *in, *out;

		case_add(cases, "programme", &in, &out);
		put_programme(in, settings[i].programme, creator->id, settings[i].required);
		put_hex(in, "sign_sk", creator->keys.sign_sk, EM_SIGN_SK_BYTES);
		em_programme_sign(settings[i].programme, creator->id, settings[i].required,
		                  creator->keys.sign_sk, sig);
		put_hex(out, "sig", sig, sizeof(sig));

		for (int variant = 0; variant < 4; variant++) {
			/* 0: valid; 1: agreement_required flipped; 2: another creator; 3: another
			 * key */
			int required = variant == 1 ? !settings[i].required : settings[i].required;
			uint64_t who = variant == 2 ? users[1].id : creator->id;
			const unsigned char *pk =
			    variant == 3 ? users[1].keys.sign_pk : creator->keys.sign_pk;

			case_add(cases, "programme_verify", &in, &out);
			put_programme(in, settings[i].programme, who, required);
			put_hex(in, "sign_pk", pk, EM_SIGN_PK_BYTES);
			put_hex(in, "sig", sig, sizeof(sig));
			put_int(out, "rc",
			        em_programme_verify(settings[i].programme, who, required, pk, sig));
		}
	}
}

static void put_parties(json_t *in, const struct em_party *parties, size_t n)
{
	json_t *list = must(json_array());

	for (size_t i = 0; i < n; i++) {
		json_t *p = must(json_object());

		put_u64(p, "user_id", parties[i].user_id);
		put_str(p, "role", parties[i].role);
		put_hex(p, "sign_pk", parties[i].sign_pk, 32);
		put_hex(p, "box_pk", parties[i].box_pk, 32);
		json_array_append_new(list, p);
	}
	put(in, "parties", list);
}

static void cases_agreement(json_t *cases, const struct user *users, size_t n, uint64_t room)
{
	static const char *roles[] = {"mentor", "mentee", "manager"};
	static const char terms[] =
	    "We meet every two weeks.\n"
	    "Spotkania co dwa tygodnie; poufno\xc5\x9b\xc4\x87 rozm\xc3\xb3w.";
	struct em_party parties[3];
	unsigned char *bytes, hash[EM_HASH_BYTES], sig[EM_SIG_BYTES], text_hash[EM_HASH_BYTES];
	unsigned char consent[EM_CONSENT_BYTES_MAX];
	size_t len;
	json_t *in, *out;

	if (n < 3)
		return;
	for (size_t i = 0; i < 3; i++) {
		parties[i].user_id = users[i].id;
		parties[i].role = roles[i];
		memcpy(parties[i].sign_pk, users[i].keys.sign_pk, 32);
		memcpy(parties[i].box_pk, users[i].keys.box_pk, 32);
	}
	case_add(cases, "agreement", &in, &out);
	put_u64(in, "room_id", room);
	put_int(in, "version", 2);
	put_str(in, "starts_on", "2026-01-05");
	put_str(in, "ends_on", "2026-06-30");
	put_str(in, "terms", terms);
	put_parties(in, parties, 3);
	put_hex(in, "sign_sk", users[1].keys.sign_sk, EM_SIGN_SK_BYTES);
	bytes =
	    must(em_agreement_bytes(room, 2, "2026-01-05", "2026-06-30", terms, parties, 3, &len));
	put_hex(out, "bytes", bytes, len);
	free(bytes);
	put_int(out, "hash_rc",
	        em_agreement_hash(room, 2, "2026-01-05", "2026-06-30", terms, parties, 3, hash));
	put_hex(out, "hash", hash, sizeof(hash));
	put_int(out, "sign_rc",
	        em_agreement_sign(room, 2, "2026-01-05", "2026-06-30", terms, parties, 3,
	                          users[1].keys.sign_sk, sig));
	put_hex(out, "sig", sig, sizeof(sig));

	for (int variant = 0; variant < 3; variant++) {
		/* 0: valid; 1: other terms; 2: a party's key replaced */
		const char *t = variant == 1 ? "We meet every week." : terms;
		struct em_party copy[3];

		memcpy(copy, parties, sizeof(copy));
		if (variant == 2)
			memcpy(copy[2].box_pk, users[0].keys.box_pk, 32);
		case_add(cases, "agreement_verify", &in, &out);
		put_u64(in, "room_id", room);
		put_int(in, "version", 2);
		put_str(in, "starts_on", "2026-01-05");
		put_str(in, "ends_on", "2026-06-30");
		put_str(in, "terms", t);
		put_parties(in, copy, 3);
		put_hex(in, "sign_pk", users[1].keys.sign_pk, 32);
		put_hex(in, "sig", sig, sizeof(sig));
		put_int(out, "rc",
		        em_agreement_verify(room, 2, "2026-01-05", "2026-06-30", t, copy, 3,
		                            users[1].keys.sign_pk, sig));
	}

	em_text_hash(terms, text_hash);
	case_add(cases, "text_hash", &in, &out);
	put_str(in, "text", terms);
	put_hex(out, "hash", text_hash, sizeof(text_hash));

	case_add(cases, "consent", &in, &out);
	put_hex(in, "sign_pk", users[2].keys.sign_pk, 32);
	put_str(in, "purpose", "data_processing");
	put_str(in, "subject", "programme:7");
	put_hex(in, "text_hash", text_hash, sizeof(text_hash));
	put_str(in, "action", "grant");
	put_i64(in, "at", 1767225600);
	put_hex(in, "sign_sk", users[2].keys.sign_sk, EM_SIGN_SK_BYTES);
	len = em_consent_bytes(users[2].keys.sign_pk, "data_processing", "programme:7", text_hash,
	                       "grant", 1767225600, consent);
	put_hex(out, "bytes", consent, len);
	put_int(out, "sign_rc",
	        em_consent_sign(users[2].keys.sign_pk, "data_processing", "programme:7", text_hash,
	                        "grant", 1767225600, users[2].keys.sign_sk, sig));
	put_hex(out, "sig", sig, sizeof(sig));
	for (int variant = 0; variant < 2; variant++) {
		/* 0: valid; 1: the action changed to withdraw */
		const char *action = variant ? "withdraw" : "grant";

		case_add(cases, "consent_verify", &in, &out);
		put_hex(in, "sign_pk", users[2].keys.sign_pk, 32);
		put_str(in, "purpose", "data_processing");
		put_str(in, "subject", "programme:7");
		put_hex(in, "text_hash", text_hash, sizeof(text_hash));
		put_str(in, "action", action);
		put_i64(in, "at", 1767225600);
		put_hex(in, "sig", sig, sizeof(sig));
		put_int(out, "rc",
		        em_consent_verify(users[2].keys.sign_pk, "data_processing", "programme:7",
		                          text_hash, action, 1767225600, sig));
	}
}

static void cases_b64(json_t *cases)
{
	static const char *texts[] = {"", "AA", "_-8", "aGVsbG8", "aGVsbG8=", "a", "ab+c"};
	unsigned char bin[40];
	json_t *in, *out;

	for (size_t n = 0; n <= 5; n++) {
		char *s;

		for (size_t i = 0; i < n; i++)
			bin[i] = (unsigned char)(0xfb + i * 0x11);
		case_add(cases, "b64_encode", &in, &out);
		put_hex(in, "bin", bin, n);
		s = must(em_b64_encode(bin, n));
		put_str(out, "text", s);
		free(s);
	}
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		int rc = em_b64_decode(texts[i], bin, sizeof(bin));

		case_add(cases, "b64_decode", &in, &out);
		put_str(in, "text", texts[i]);
		put_int(in, "outlen", sizeof(bin));
		put_int(out, "rc", rc);
		if (rc >= 0)
			put_hex(out, "bin", bin, (size_t)rc);
	}
}

static void cases_requests(json_t *cases)
{
	static const char *frames[] = {
	    "{\"id\":1,\"op\":\"ping\",\"args\":{}}",
	    "{\"id\":9007199254740991,\"op\":\"prelogin\",\"args\":{\"username\":\"Alice\"}}",
	    "{\"id\":2,\"op\":\"login\",\"args\":{\"username\":\"alice\"}}",
	    "{\"id\":3,\"op\":\"nope\",\"args\":{}}",
	    "{\"id\":4,\"op\":\"ping\",\"args\":{},\"extra\":1}",
	    "{\"id\":5,\"op\":\"room.show\",\"args\":{\"room_id\":\"7\"}}",
	    "{\"id\":6,\"op\":\"ping\"",
	    "[1,2,3]",
	    "{\"id\":7,\"op\":\"prelogin\",\"args\":{\"username\":\"a\\u0000b\"}}",
	    "{\"id\":8,\"op\":\"prelogin\",\"args\":{\"username\":\"za\xc5\xbc\xc3\xb3\xc5\x82\"}}",
	};

	for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		struct em_request req;
		struct em_error_detail detail;
		json_t *in, *out;
		int err;

		memset(&detail, 0, sizeof(detail));
		err = em_request_parse(frames[i], strlen(frames[i]), &req, &detail);
		case_add(cases, "request_parse", &in, &out);
		put_str(in, "frame", frames[i]);
		put_int(out, "err", err);
		put_str(out, "code", em_err_code(err));
		put_i64(out, "id", req.id);
		put_str(out, "op", err == EM_OK ? em_op_name(req.op) : "");
		put_str(out, "field", err == EM_OK ? "" : detail.field);
		put_str(out, "message", err == EM_OK ? "" : detail.message);
		em_request_clear(&req);
	}
}

int main(void)
{
	struct user users[] = {
	    {.name = "alice", .id = 17},
	    {.name = "bob", .id = 42},
	    {.name = "carol", .id = UINT64_C(18446744073709551600)}, /* above 2^63 */
	};
	const size_t n = sizeof(users) / sizeof(users[0]);
	const uint64_t room = UINT64_C(9007199254740993), epoch = 3; /* room: 2^53 + 1 */
	unsigned char wrap_key[32], room_key[EM_ROOM_KEY_BYTES];
	json_t *root = NULL, *cases = NULL;
	int rc = 1;

	if (randombytes_set_implementation(&rng_implementation) != 0 || em_crypto_init() != 0) {
		fprintf(stderr, "wasm_vectors: libsodium did not start\n");
		goto out;
	}
	root = must(json_object());
	cases = must(json_array());
	put_str(root, "format", "ementor wasm vectors v2");
	put_str(root, "sodium_version", sodium_version_string());
	put_str(root, "jansson_version", JANSSON_VERSION);

	cases_kdf(cases, wrap_key);
	cases_users(cases, users, n);
	cases_backup(cases, &users[0], wrap_key);
	cases_room(cases, users, n, room, epoch, room_key);
	cases_messages(cases, users, room_key, room, epoch);
	cases_programme(cases, users);
	cases_agreement(cases, users, n, room);
	cases_b64(cases);
	cases_requests(cases);
	put(root, "cases", cases);
	cases = NULL;

	if (json_dumpf(root, stdout, JSON_INDENT(1) | JSON_SORT_KEYS) != 0 ||
	    putchar('\n') == EOF || fflush(stdout) != 0) {
		fprintf(stderr, "wasm_vectors: cannot write the vectors\n");
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		em_keys_wipe(&users[i].keys);
	json_decref(cases);
	json_decref(root);
	return rc;
}
