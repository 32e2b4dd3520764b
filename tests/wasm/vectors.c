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

static void case_room_key_open(json_t *cases, const unsigned char sealed[EM_SEALED_KEY_BYTES],
                               const struct user *as)
{
	unsigned char key[EM_ROOM_KEY_BYTES], sig[EM_SIG_BYTES];
	uint64_t committer = 0;
	json_t *in, *out;
	int rc;

	case_add(cases, "room_key_open", &in, &out);
	put_hex(in, "sealed", sealed, EM_SEALED_KEY_BYTES);
	put_keys(in, &as->keys);
	rc = em_room_key_open(sealed, &as->keys, &committer, key, sig);
	put_int(out, "rc", rc);
	if (rc == 0) {
		put_u64(out, "committer_id", committer);
		put_hex(out, "room_key", key, sizeof(key));
		put_hex(out, "sig", sig, sizeof(sig));
	}
}

static void case_room_key_verify(json_t *cases, const unsigned char room_key[32], uint64_t room,
                                 uint64_t epoch, uint64_t recipient, uint64_t committer,
                                 const unsigned char sig[EM_SIG_BYTES],
                                 const unsigned char sign_pk[32])
{
	json_t *in, *out;

	case_add(cases, "room_key_verify", &in, &out);
	put_hex(in, "room_key", room_key, 32);
	put_u64(in, "room_id", room);
	put_u64(in, "epoch", epoch);
	put_u64(in, "recipient_id", recipient);
	put_u64(in, "committer_id", committer);
	put_hex(in, "sig", sig, EM_SIG_BYTES);
	put_hex(in, "committer_sign_pk", sign_pk, 32);
	put_int(out, "rc",
	        em_room_key_verify(room_key, room, epoch, recipient, committer, sig, sign_pk));
}

/* Seals a room key from users[0] to every user, then a commit over the envelopes. */
static void cases_room(json_t *cases, const struct user *users, size_t n, uint64_t room,
                       uint64_t epoch, unsigned char room_key[EM_ROOM_KEY_BYTES])
{
	struct em_commit_entry *entries = must(calloc(n, sizeof(*entries)));
	const struct user *committer = &users[0];
	unsigned char sig[EM_SIG_BYTES], inner_sig[EM_SIG_BYTES];
	unsigned char *bytes;
	size_t len;
	json_t *in, *out, *c, *list;

	rng_begin("room key");
	randombytes_buf(room_key, EM_ROOM_KEY_BYTES);
	rng.active = 0;
	for (size_t i = 0; i < n; i++) {
		c = case_add(cases, "room_key_seal", &in, &out);
		put_hex(in, "room_key", room_key, EM_ROOM_KEY_BYTES);
		put_u64(in, "room_id", room);
		put_u64(in, "epoch", epoch);
		put_u64(in, "recipient_id", users[i].id);
		put_u64(in, "committer_id", committer->id);
		put_hex(in, "committer_sign_sk", committer->keys.sign_sk, EM_SIGN_SK_BYTES);
		put_hex(in, "recipient_box_pk", users[i].keys.box_pk, EM_BOX_PK_BYTES);
		rng_begin(users[i].name);
		em_room_key_seal(room_key, room, epoch, users[i].id, committer->id,
		                 committer->keys.sign_sk, users[i].keys.box_pk, entries[i].sealed);
		case_rng_end(c);
		entries[i].recipient_id = users[i].id;
		put_hex(out, "sealed", entries[i].sealed, EM_SEALED_KEY_BYTES);
	}
	/* the recipient opens it; nobody else can */
	case_room_key_open(cases, entries[1].sealed, &users[1]);
	case_room_key_open(cases, entries[1].sealed, &users[2]);
	{
		uint64_t who;
		unsigned char key[EM_ROOM_KEY_BYTES];

		if (em_room_key_open(entries[1].sealed, &users[1].keys, &who, key, inner_sig) !=
		    0) {
			fprintf(stderr, "wasm_vectors: a fresh envelope does not open\n");
			exit(1);
		}
	}
	case_room_key_verify(cases, room_key, room, epoch, users[1].id, committer->id, inner_sig,
	                     committer->keys.sign_pk);
	/* the same signature for another recipient, epoch or signer fails */
	case_room_key_verify(cases, room_key, room, epoch, users[2].id, committer->id, inner_sig,
	                     committer->keys.sign_pk);
	case_room_key_verify(cases, room_key, room, epoch + 1, users[1].id, committer->id,
	                     inner_sig, committer->keys.sign_pk);
	case_room_key_verify(cases, room_key, room, epoch, users[1].id, committer->id, inner_sig,
	                     users[1].keys.sign_pk);

	/* entries in reverse order: the commit sorts them by recipient */
	for (size_t i = 0; i < n / 2; i++) {
		struct em_commit_entry t = entries[i];

		entries[i] = entries[n - 1 - i];
		entries[n - 1 - i] = t;
	}
	case_add(cases, "commit", &in, &out);
	put_u64(in, "room_id", room);
	put_u64(in, "epoch", epoch);
	put_u64(in, "committer_id", committer->id);
	put_hex(in, "sign_sk", committer->keys.sign_sk, EM_SIGN_SK_BYTES);
	list = must(json_array());
	for (size_t i = 0; i < n; i++) {
		json_t *e = must(json_object());

		put_u64(e, "recipient_id", entries[i].recipient_id);
		put_hex(e, "sealed", entries[i].sealed, EM_SEALED_KEY_BYTES);
		json_array_append_new(list, e);
	}
	put(in, "entries", list);
	bytes = must(em_commit_bytes(room, epoch, committer->id, entries, n, &len));
	put_hex(out, "bytes", bytes, len);
	free(bytes);
	put_int(
	    out, "rc",
	    em_commit_sign(room, epoch, committer->id, entries, n, committer->keys.sign_sk, sig));
	put_hex(out, "sig", sig, sizeof(sig));

	for (int variant = 0; variant < 3; variant++) {
		/* 0: valid; 1: one envelope changed; 2: signed by another key */
		const unsigned char *pk =
		    variant == 2 ? users[1].keys.sign_pk : committer->keys.sign_pk;

		if (variant == 1)
			entries[0].sealed[7] ^= 1;
		case_add(cases, "commit_verify", &in, &out);
		put_u64(in, "room_id", room);
		put_u64(in, "epoch", epoch);
		put_u64(in, "committer_id", committer->id);
		put_hex(in, "sign_pk", pk, EM_SIGN_PK_BYTES);
		put_hex(in, "sig", sig, sizeof(sig));
		list = must(json_array());
		for (size_t i = 0; i < n; i++) {
			json_t *e = must(json_object());

			put_u64(e, "recipient_id", entries[i].recipient_id);
			put_hex(e, "sealed", entries[i].sealed, EM_SEALED_KEY_BYTES);
			json_array_append_new(list, e);
		}
		put(in, "entries", list);
		put_int(out, "rc",
		        em_commit_verify(room, epoch, committer->id, entries, n, pk, sig));
		if (variant == 1)
			entries[0].sealed[7] ^= 1;
	}
	free(entries);
}

static void case_msg_decrypt(json_t *cases, const unsigned char room_key[32], uint64_t room,
                             uint64_t epoch, uint64_t sender, const unsigned char msg_id[16],
                             const unsigned char *ct, size_t ct_len, const unsigned char sig[64],
                             const unsigned char sign_pk[32])
{
	unsigned char *plain = must(malloc(ct_len ? ct_len : 1));
	size_t plain_len = 0;
	json_t *in, *out;
	int status;

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
	                        plain, &plain_len);
	put_int(out, "status", status);
	if (status == EM_MSG_OK)
		put_hex(out, "plaintext", plain, plain_len);
	free(plain);
}

static void cases_messages(json_t *cases, const struct user *users,
                           const unsigned char room_key[32], uint64_t room, uint64_t epoch)
{
	static const size_t lengths[] = {
	    0, 5, 255, 256, 300, EM_MSG_PLAINTEXT_MAX, EM_MSG_PLAINTEXT_MAX + 1};
	static const char text[] = "hello, \xc5\xbc\xc3\xb3\xc5\x82w ";
	unsigned char *ct = must(malloc(EM_MSG_CIPHERTEXT_MAX));
	unsigned char *plain = must(malloc(EM_MSG_PLAINTEXT_MAX + 1));
	const struct user *sender = &users[1];

	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		unsigned char msg_id[16], sig[EM_SIG_BYTES];
		char label[32];
		json_t *in, *out, *c;
		int len;

		/* "hello", then a UTF-8 text repeated across the pad blocks */
		for (size_t j = 0; j < lengths[i]; j++)
			plain[j] = (unsigned char)text[j % (sizeof(text) - 1)];
		memset(msg_id, (int)(0xa0 + i), sizeof(msg_id));
		memset(sig, 0, sizeof(sig));
		c = case_add(cases, "msg_encrypt", &in, &out);
		put_hex(in, "room_key", room_key, 32);
		put_u64(in, "room_id", room);
		put_u64(in, "epoch", epoch);
		put_u64(in, "sender_id", sender->id);
		put_hex(in, "client_msg_id", msg_id, 16);
		put_hex(in, "plaintext", plain, lengths[i]);
		put_hex(in, "sender_sign_sk", sender->keys.sign_sk, EM_SIGN_SK_BYTES);
		snprintf(label, sizeof(label), "message %zu", i);
		rng_begin(label);
		len = em_msg_encrypt(room_key, room, epoch, sender->id, msg_id, plain, lengths[i],
		                     sender->keys.sign_sk, ct, sig);
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
			n = em_msg_encrypt(other_key, room, epoch, sender->id, msg_id, plain,
			                   lengths[i], sender->keys.sign_sk, ct, sig);
			rng.active = 0;
			case_msg_decrypt(cases, room_key, room, epoch, sender->id, msg_id, ct,
			                 (size_t)n, sig, sender->keys.sign_pk);
		}
	}
	free(ct);
	free(plain);
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
	put_str(root, "format", "ementor wasm vectors v1");
	put_str(root, "sodium_version", sodium_version_string());
	put_str(root, "jansson_version", JANSSON_VERSION);

	cases_kdf(cases, wrap_key);
	cases_users(cases, users, n);
	cases_backup(cases, &users[0], wrap_key);
	cases_room(cases, users, n, room, epoch, room_key);
	cases_messages(cases, users, room_key, room, epoch);
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
