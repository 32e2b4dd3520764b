/*
 * test_crypto.c - unit tests of the account key scheme in proto/em_crypto.c
 * and of how a password becomes bytes (proto/em_password.c).
 *
 * What a user would notice if this broke: logging in from a second device
 * (the same password must give the same keys), a wrong password or another
 * user's backup being accepted, a tampered backup opening, or two clients
 * showing different safety numbers for the same keys. Each construction is
 * also recomputed here straight from libsodium, as docs/PROTOCOL.md tells a
 * third-party client to do it, so the C code and the document cannot drift.
 *
 * Argon2id runs with libsodium's smallest parameters (opslimit 1, 8 KiB) to
 * keep the tests fast; em_kdf_derive() passes them through unchanged (the
 * wire limits are enforced by the parser, not here).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "em_crypto.h"
#include "em_proto.h"

#define OPS crypto_pwhash_OPSLIMIT_MIN
#define MEM crypto_pwhash_MEMLIMIT_MIN

static const unsigned char salt_a[16] = "0123456789abcdef";
static const unsigned char salt_b[16] = "0123456789abcdeF";
static const char password[] = "correct horse battery staple";

static int is_zero(const unsigned char *p, size_t n)
{
	return sodium_is_zero(p, n);
}

static void derive(const char *pw, const unsigned char salt[16], uint64_t ops,
                   unsigned char auth[32], unsigned char wrap[32])
{
	assert_int_equal(em_kdf_derive(pw, strlen(pw), salt, ops, MEM, auth, wrap), 0);
}

static void test_kdf_is_deterministic(void **state)
{
	unsigned char auth1[32], wrap1[32], auth2[32], wrap2[32];

	derive(password, salt_a, OPS, auth1, wrap1);
	derive(password, salt_a, OPS, auth2, wrap2);
	assert_memory_equal(auth1, auth2, 32);
	assert_memory_equal(wrap1, wrap2, 32);
	/* the key sent to the server must not be the one that wraps the keys */
	assert_memory_not_equal(auth1, wrap1, 32);
	assert_false(is_zero(auth1, 32));
	assert_false(is_zero(wrap1, 32));
}

static void test_kdf_inputs_change_keys(void **state)
{
	unsigned char auth[32], wrap[32], auth2[32], wrap2[32];

	derive(password, salt_a, OPS, auth, wrap);
	derive(password, salt_b, OPS, auth2, wrap2);
	assert_memory_not_equal(auth, auth2, 32);
	assert_memory_not_equal(wrap, wrap2, 32);
	derive("correct horse battery stapler", salt_a, OPS, auth2, wrap2);
	assert_memory_not_equal(auth, auth2, 32);
	assert_memory_not_equal(wrap, wrap2, 32);
	derive(password, salt_a, OPS + 1, auth2, wrap2);
	assert_memory_not_equal(auth, auth2, 32);
	assert_memory_not_equal(wrap, wrap2, 32);
}

/* PROTOCOL.md "Account keys", computed with libsodium directly. */
static void test_kdf_matches_protocol(void **state)
{
	unsigned char master[32], want_auth[32], want_wrap[32], auth[32], wrap[32];

	assert_int_equal(crypto_pwhash(master, sizeof(master), password, strlen(password), salt_a,
	                               OPS, MEM, crypto_pwhash_ALG_ARGON2ID13),
	                 0);
	crypto_kdf_derive_from_key(want_auth, 32, 1, "ementor_", master);
	crypto_kdf_derive_from_key(want_wrap, 32, 2, "ementor_", master);
	derive(password, salt_a, OPS, auth, wrap);
	assert_memory_equal(auth, want_auth, 32);
	assert_memory_equal(wrap, want_wrap, 32);
	/* an empty password is still a password */
	assert_int_equal(em_kdf_derive("", 0, salt_a, OPS, MEM, auth, wrap), 0);
}

static void test_kdf_refuses_impossible_parameters(void **state)
{
	unsigned char auth[32], wrap[32];

	assert_int_equal(em_kdf_derive(password, strlen(password), salt_a, 0, MEM, auth, wrap), -1);
	assert_int_equal(em_kdf_derive(password, strlen(password), salt_a, OPS, 1024, auth, wrap),
	                 -1);
}

/* em_password_bytes(in) must be want (NFC UTF-8), or refuse with err. */
static void check_password(const char *in, size_t in_len, const char *want, int err)
{
	unsigned char *out = NULL;
	size_t n = 99;

	assert_int_equal(em_password_bytes(in, in_len, &out, &n), err);
	if (err != EM_PASSWORD_OK) {
		assert_null(out);
		assert_int_equal(n, 0);
		return;
	}
	assert_int_equal(n, strlen(want));
	if (n)
		assert_memory_equal(out, want, n);
	em_password_free(out, n);
}

/*
 * A password typed composed on one device and decomposed on another must
 * give the same keys: NFC, not NFKC (compatibility characters stay), and
 * invalid UTF-8 is refused rather than guessed at.
 */
static void test_password_bytes_nfc(void **state)
{
	static const char zoe_nfc[] = "Zo\xc3\xab", zoe_nfd[] = "Zoe\xcc\x88";
	unsigned char auth_a[32], wrap_a[32], auth_b[32], wrap_b[32];

	check_password(password, strlen(password), password, EM_PASSWORD_OK);
	check_password("", 0, "", EM_PASSWORD_OK);
	check_password(zoe_nfc, strlen(zoe_nfc), zoe_nfc, EM_PASSWORD_OK);
	check_password(zoe_nfd, strlen(zoe_nfd), zoe_nfc, EM_PASSWORD_OK);
	check_password("\xe2\x84\xab", 3, "\xc3\x85", EM_PASSWORD_OK); /* ANGSTROM SIGN -> A ring */
	check_password("\xef\xac\x81", 3, "\xef\xac\x81", EM_PASSWORD_OK); /* ligature fi kept */
	/* q + dot above (230) + dot below (220): marks in canonical order */
	check_password("q\xcc\x87\xcc\xa3", 5, "q\xcc\xa3\xcc\x87", EM_PASSWORD_OK);
	/* longer in UTF-8: U+FB2C (3 bytes) -> 3 code points of 2 bytes */
	check_password("\xef\xac\xac", 3, "\xd7\xa9\xd6\xbc\xd7\x81", EM_PASSWORD_OK);
	check_password("\xc3\x28", 2, NULL, EM_PASSWORD_NOT_UTF8);         /* truncated */
	check_password("\xed\xa0\x80", 3, NULL, EM_PASSWORD_NOT_UTF8);     /* a surrogate */
	check_password("\xc0\xaf", 2, NULL, EM_PASSWORD_NOT_UTF8);         /* overlong */
	check_password("\xf4\x90\x80\x80", 4, NULL, EM_PASSWORD_NOT_UTF8); /* past U+10FFFF */

	assert_int_equal(
	    em_kdf_derive_password(zoe_nfc, strlen(zoe_nfc), salt_a, OPS, MEM, auth_a, wrap_a),
	    EM_PASSWORD_OK);
	assert_int_equal(
	    em_kdf_derive_password(zoe_nfd, strlen(zoe_nfd), salt_a, OPS, MEM, auth_b, wrap_b),
	    EM_PASSWORD_OK);
	assert_memory_equal(auth_a, auth_b, 32);
	assert_memory_equal(wrap_a, wrap_b, 32);
	/* the raw bytes of the decomposed form are another password */
	assert_int_equal(em_kdf_derive(zoe_nfd, strlen(zoe_nfd), salt_a, OPS, MEM, auth_b, wrap_b),
	                 0);
	assert_memory_not_equal(auth_a, auth_b, 32);
	assert_int_equal(em_kdf_derive_password("\xc3\x28", 2, salt_a, OPS, MEM, auth_b, wrap_b),
	                 EM_PASSWORD_NOT_UTF8);
	assert_int_equal(
	    em_kdf_derive_password(password, strlen(password), salt_a, OPS, 1024, auth_b, wrap_b),
	    EM_PASSWORD_NOMEM);
	assert_string_not_equal(em_password_strerror(EM_PASSWORD_NOT_UTF8),
	                        em_password_strerror(EM_PASSWORD_NOMEM));
}

/* The client defaults must be inside what the server accepts. */
static void test_kdf_defaults_within_wire_limits(void **state)
{
	assert_true(EM_KDF_OPSLIMIT_DEFAULT >= EM_KDF_OPSLIMIT_MIN);
	assert_true(EM_KDF_OPSLIMIT_DEFAULT <= EM_KDF_OPSLIMIT_MAX);
	assert_true(EM_KDF_MEMLIMIT_DEFAULT >= EM_KDF_MEMLIMIT_MIN);
	assert_true(EM_KDF_MEMLIMIT_DEFAULT <= EM_KDF_MEMLIMIT_MAX);
	assert_int_equal(EM_BACKUP_BYTES, EM_KEY_BACKUP_BYTES);
	assert_int_equal(EM_BACKUP_BYTES, 136);
}

static void test_wrap_unwrap_round_trip(void **state)
{
	struct em_keys keys, back;
	unsigned char wrap_key[32], backup[EM_BACKUP_BYTES], backup2[EM_BACKUP_BYTES];

	randombytes_buf(wrap_key, sizeof(wrap_key));
	em_keys_generate(&keys);
	em_keys_wrap(&keys, wrap_key, "alice", backup);
	memset(&back, 0, sizeof(back));
	assert_int_equal(em_keys_unwrap(&back, wrap_key, "alice", backup, sizeof(backup)), 0);
	assert_memory_equal(back.sign_sk, keys.sign_sk, sizeof(keys.sign_sk));
	assert_memory_equal(back.box_sk, keys.box_sk, sizeof(keys.box_sk));
	/* the public halves are recomputed from the secret ones */
	assert_memory_equal(back.sign_pk, keys.sign_pk, sizeof(keys.sign_pk));
	assert_memory_equal(back.box_pk, keys.box_pk, sizeof(keys.box_pk));

	/* a fresh nonce each time: two backups of the same keys differ */
	em_keys_wrap(&keys, wrap_key, "alice", backup2);
	assert_memory_not_equal(backup, backup2, sizeof(backup));
	assert_int_equal(em_keys_unwrap(&back, wrap_key, "alice", backup2, sizeof(backup2)), 0);
}

/* A client written from PROTOCOL.md alone opens our backups. */
static void test_backup_layout_matches_protocol(void **state)
{
	static const char ad[] = "ementor key backup v1\0alice"; /* label, NUL, username */
	struct em_keys keys;
	unsigned char wrap_key[32], backup[EM_BACKUP_BYTES], plain[96];
	unsigned long long plain_len = 0;

	randombytes_buf(wrap_key, sizeof(wrap_key));
	em_keys_generate(&keys);
	em_keys_wrap(&keys, wrap_key, "alice", backup);
	assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(
	                     plain, &plain_len, NULL, backup + 24, sizeof(backup) - 24,
	                     (const unsigned char *)ad, sizeof(ad) - 1, backup, wrap_key),
	                 0);
	assert_int_equal(plain_len, 96);
	assert_memory_equal(plain, keys.sign_sk, 64);
	assert_memory_equal(plain + 64, keys.box_sk, 32);
}

static void test_unwrap_refuses(void **state)
{
	struct em_keys keys, back, untouched;
	unsigned char wrap_key[32], other_key[32], backup[EM_BACKUP_BYTES + 1];

	randombytes_buf(wrap_key, sizeof(wrap_key));
	memcpy(other_key, wrap_key, sizeof(other_key));
	other_key[31] ^= 1;
	em_keys_generate(&keys);
	em_keys_wrap(&keys, wrap_key, "alice", backup);
	backup[EM_BACKUP_BYTES] = 0;
	memset(&back, 0x5a, sizeof(back));
	memcpy(&untouched, &back, sizeof(back));

	/* wrong password (so a wrong wrap key) */
	assert_int_equal(em_keys_unwrap(&back, other_key, "alice", backup, EM_BACKUP_BYTES), -1);
	/* another user's backup: the username is bound in */
	assert_int_equal(em_keys_unwrap(&back, wrap_key, "bob", backup, EM_BACKUP_BYTES), -1);
	assert_int_equal(em_keys_unwrap(&back, wrap_key, "alice2", backup, EM_BACKUP_BYTES), -1);
	assert_int_equal(em_keys_unwrap(&back, wrap_key, "alic", backup, EM_BACKUP_BYTES), -1);
	/* any single flipped bit, in nonce, ciphertext or tag */
	for (size_t i = 0; i < EM_BACKUP_BYTES; i++) {
		backup[i] ^= 0x01;
		if (em_keys_unwrap(&back, wrap_key, "alice", backup, EM_BACKUP_BYTES) != -1)
			fail_msg("a backup with byte %zu flipped opened", i);
		backup[i] ^= 0x01;
	}
	/* truncated or extended */
	assert_int_equal(em_keys_unwrap(&back, wrap_key, "alice", backup, EM_BACKUP_BYTES - 1), -1);
	assert_int_equal(em_keys_unwrap(&back, wrap_key, "alice", backup, 24), -1);
	assert_int_equal(em_keys_unwrap(&back, wrap_key, "alice", backup, 0), -1);
	assert_int_equal(em_keys_unwrap(&back, wrap_key, "alice", backup, EM_BACKUP_BYTES + 1), -1);
	/* a failed unwrap leaves the caller's keys alone */
	assert_memory_equal(&back, &untouched, sizeof(back));
	/* and the intact backup still opens */
	assert_int_equal(em_keys_unwrap(&back, wrap_key, "alice", backup, EM_BACKUP_BYTES), 0);
}

static void test_keys_generate_and_wipe(void **state)
{
	struct em_keys a, b;
	unsigned char pk[32];

	em_keys_generate(&a);
	em_keys_generate(&b);
	assert_memory_not_equal(a.sign_pk, b.sign_pk, 32);
	assert_memory_not_equal(a.box_pk, b.box_pk, 32);
	/* halves belong together */
	crypto_sign_ed25519_sk_to_pk(pk, a.sign_sk);
	assert_memory_equal(pk, a.sign_pk, 32);
	crypto_scalarmult_base(pk, a.box_sk);
	assert_memory_equal(pk, a.box_pk, 32);

	memcpy(pk, a.sign_pk, 32);
	em_keys_wipe(&a);
	assert_true(is_zero(a.sign_sk, sizeof(a.sign_sk)));
	assert_true(is_zero(a.box_sk, sizeof(a.box_sk)));
	assert_memory_equal(a.sign_pk, pk, 32); /* public halves stay */
}

static void check_fingerprint_format(const char *fp)
{
	assert_int_equal(strlen(fp), 39);
	for (int i = 0; i < 39; i++) {
		if (i % 5 == 4)
			assert_int_equal(fp[i], ' ');
		else
			assert_non_null(strchr("0123456789abcdef", fp[i]));
	}
}

static void test_fingerprint(void **state)
{
	unsigned char sign_pk[32], box_pk[32], msg[23 + 64], hash[32];
	char fp[EM_FINGERPRINT_STRLEN], want[EM_FINGERPRINT_STRLEN], *p = want;
	struct em_keys keys;

	assert_int_equal(EM_FINGERPRINT_STRLEN, 40); /* 39 characters and the NUL */
	for (int i = 0; i < 32; i++) {
		sign_pk[i] = (unsigned char)i;
		box_pk[i] = (unsigned char)(32 + i);
	}
	em_fingerprint(sign_pk, box_pk, fp);
	check_fingerprint_format(fp);
	/* an independent implementation (Python's hashlib.blake2b) gave this */
	assert_string_equal(fp, "12f6 fac4 d9f0 757e 5721 c253 08f3 1a42");

	/* and libsodium in one call over the concatenation, as PROTOCOL.md says */
	memcpy(msg, "ementor fingerprint v1", 23); /* includes the NUL */
	memcpy(msg + 23, sign_pk, 32);
	memcpy(msg + 55, box_pk, 32);
	crypto_generichash(hash, sizeof(hash), msg, sizeof(msg), NULL, 0);
	for (int i = 0; i < 16; i++)
		p += sprintf(p, "%s%02x", i && i % 2 == 0 ? " " : "", hash[i]);
	assert_string_equal(fp, want);

	memset(sign_pk, 0, 32);
	memset(box_pk, 0, 32);
	em_fingerprint(sign_pk, box_pk, fp);
	assert_string_equal(fp, "6e6d 2e92 c81a 380f c2af a311 ad69 eaf7");

	/* a changed key changes the safety number */
	em_keys_generate(&keys);
	em_fingerprint(keys.sign_pk, keys.box_pk, fp);
	check_fingerprint_format(fp);
	em_fingerprint(keys.sign_pk, box_pk, want);
	assert_string_not_equal(fp, want);
	em_fingerprint(sign_pk, keys.box_pk, want);
	assert_string_not_equal(fp, want);
}

static unsigned char *be(unsigned char *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
		*p++ = (unsigned char)(v >> (i * 8));
	return p;
}

/*
 * A diary record (PROTOCOL.md 6.5) opens for its author's key over exactly
 * the room, meeting, epoch, author, kind and number it was written for: a
 * server that moves, renumbers or re-attributes it breaks the signature. The
 * layout is recomputed here from libsodium as the document gives it.
 */
/* The recovery code: printed form, typed back, and the keys (a vector computed with Python's
 * hashlib). */
static void test_recovery_code(void **state)
{
	unsigned char code[EM_RECOVERY_BYTES], back[EM_RECOVERY_BYTES], auth[32], wrap[32];
	char text[EM_RECOVERY_STRLEN], hex[65];

	(void)state;
	for (int i = 0; i < EM_RECOVERY_BYTES; i++)
		code[i] = (unsigned char)i;
	em_recovery_format(code, text);
	assert_string_equal(text, "000G-40R4-0M30-E209-185G-R38E-1W81-24GK");
	assert_int_equal(em_recovery_parse("000g 40r4 om3o e2o9 l85g r38e iw81 24gk", back), 0);
	assert_memory_equal(code, back, sizeof(code));
	assert_int_equal(em_recovery_parse("000G-40R4-0M30-E209-185G-R38E-1W81-24G", back), -1);
	assert_int_equal(em_recovery_parse("000G-40R4-0M30-E209-185G-R38E-1W81-24GKK", back), -1);
	assert_int_equal(em_recovery_parse("000G-40R4-0M30-E209-185G-R38E-1W81-24GU", back), -1);
	assert_int_equal(em_recovery_parse("", back), -1);
	em_recovery_keys(code, auth, wrap);
	sodium_bin2hex(hex, sizeof(hex), auth, 32);
	assert_string_equal(hex,
	                    "e26ea5c6cb253810c311b3b1bb4a42cde584d63719ab3b23d79bc150cb42f5a3");
	sodium_bin2hex(hex, sizeof(hex), wrap, 32);
	assert_string_equal(hex,
	                    "7100364023c586c21670d74bfb4675f172067fe9f9eb89bbc036ba8c418c818c");
	for (int i = 0; i < 64; i++) { /* random codes survive the round trip */
		randombytes_buf(code, sizeof(code));
		em_recovery_format(code, text);
		assert_int_equal(strlen(text), EM_RECOVERY_STRLEN - 1);
		assert_int_equal(em_recovery_parse(text, back), 0);
		assert_memory_equal(code, back, sizeof(code));
	}
}

/*
 * Franked messages (v3) and what a concern report's reader checks: an honest
 * report verifies; altered text, metadata or fk, a swapped sender, another
 * room or epoch, and a v2 message all fail; a sender's wrong commitment is
 * refused by every reader.
 */
static void test_msg_franking(void **state)
{
	static const char text[] = "see you at nine";
	unsigned char key[32], id[16], ct[EM_MSG_CIPHERTEXT_MAX], sig[64],
	    out[EM_MSG_CIPHERTEXT_MAX];
	unsigned char c[32], ad[19 + 3 * 8 + 16], *signed_buf, padded[1024], body[512];
	struct em_msg_meta meta = {.device = {1, 2, 3, 4, 5, 6, 7, 8},
	                           .counter = 5,
	                           .written_ms = 1796000000123ULL},
	                   got, bad_meta;
	struct em_msg_frank frank;
	struct em_keys alice, mallory;
	unsigned long long plen = 0;
	size_t out_len = 0, unpadded, blen;
	char other_text[] = "see you at ten!";
	int n, n2;

	(void)state;
	randombytes_buf(key, sizeof(key));
	randombytes_buf(id, sizeof(id));
	em_keys_generate(&alice);
	em_keys_generate(&mallory);
	n = em_msg_encrypt_v3(key, 7, 2, 11, id, &meta, (const unsigned char *)text, strlen(text),
	                      alice.sign_sk, ct, sig);
	assert_true(n >= (int)(EM_MSG_CIPHERTEXT_MIN + 32) && n <= (int)EM_MSG_CIPHERTEXT_MAX);
	assert_int_equal(em_msg_open(key, 7, 2, 11, id, ct, (size_t)n, sig, alice.sign_pk, &got,
	                             out, &out_len, &frank),
	                 EM_MSG_OK);
	assert_int_equal(frank.version, 3);
	assert_int_equal(out_len, strlen(text));
	assert_memory_equal(out, text, out_len);
	assert_int_equal(got.counter, 5);
	assert_int_equal(got.written_ms, 1796000000123ULL);

	/* the layout, from libsodium alone: sig over ad || len || ct, c first in ct */
	memcpy(ad, "ementor message v3", 19);
	be(be(be(ad + 19, 7, 8), 2, 8), 11, 8);
	memcpy(ad + 19 + 24, id, 16);
	signed_buf = malloc(sizeof(ad) + 4 + (size_t)n);
	assert_non_null(signed_buf);
	memcpy(signed_buf, ad, sizeof(ad));
	be(signed_buf + sizeof(ad), (uint64_t)n, 4);
	memcpy(signed_buf + sizeof(ad) + 4, ct, (size_t)n);
	assert_int_equal(
	    crypto_sign_verify_detached(sig, signed_buf, sizeof(ad) + 4 + (size_t)n, alice.sign_pk),
	    0);
	free(signed_buf);
	assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(padded, &plen, NULL, ct + 56,
	                                                            (size_t)n - 56, ad, sizeof(ad),
	                                                            ct + 32, key),
	                 0);
	assert_int_equal(sodium_unpad(&unpadded, padded, (size_t)plen, 256), 0);
	assert_int_equal(unpadded, 32 + 24 + strlen(text));
	assert_memory_equal(padded, frank.fk, 32);
	memcpy(body, "ementor franking v1", 20);
	memcpy(body + 20, padded + 32, unpadded - 32);
	blen = 20 + unpadded - 32;
	crypto_generichash(c, 32, body, blen, frank.fk, 32);
	assert_memory_equal(c, ct, 32);

	/* an honest report verifies, with no room key */
	assert_int_equal(em_msg_frank_verify(7, 2, 11, id, ct, (size_t)n, sig, alice.sign_pk,
	                                     frank.fk, &meta, (const unsigned char *)text,
	                                     strlen(text)),
	                 EM_MSG_OK);
	/* altered text, metadata, franking key */
	assert_int_equal(em_msg_frank_verify(7, 2, 11, id, ct, (size_t)n, sig, alice.sign_pk,
	                                     frank.fk, &meta, (const unsigned char *)other_text,
	                                     strlen(other_text)),
	                 EM_MSG_BAD_COMMITMENT);
	bad_meta = meta;
	bad_meta.written_ms++;
	assert_int_equal(em_msg_frank_verify(7, 2, 11, id, ct, (size_t)n, sig, alice.sign_pk,
	                                     frank.fk, &bad_meta, (const unsigned char *)text,
	                                     strlen(text)),
	                 EM_MSG_BAD_COMMITMENT);
	frank.fk[0] ^= 1;
	assert_int_equal(em_msg_frank_verify(7, 2, 11, id, ct, (size_t)n, sig, alice.sign_pk,
	                                     frank.fk, &meta, (const unsigned char *)text,
	                                     strlen(text)),
	                 EM_MSG_BAD_COMMITMENT);
	frank.fk[0] ^= 1;
	/* a swapped sender: another id, or another key */
	assert_int_equal(em_msg_frank_verify(7, 2, 12, id, ct, (size_t)n, sig, alice.sign_pk,
	                                     frank.fk, &meta, (const unsigned char *)text,
	                                     strlen(text)),
	                 EM_MSG_BAD_SIGNATURE);
	assert_int_equal(em_msg_frank_verify(7, 2, 11, id, ct, (size_t)n, sig, mallory.sign_pk,
	                                     frank.fk, &meta, (const unsigned char *)text,
	                                     strlen(text)),
	                 EM_MSG_BAD_SIGNATURE);
	/* another room, another epoch */
	assert_int_equal(em_msg_frank_verify(8, 2, 11, id, ct, (size_t)n, sig, alice.sign_pk,
	                                     frank.fk, &meta, (const unsigned char *)text,
	                                     strlen(text)),
	                 EM_MSG_BAD_SIGNATURE);
	assert_int_equal(em_msg_frank_verify(7, 3, 11, id, ct, (size_t)n, sig, alice.sign_pk,
	                                     frank.fk, &meta, (const unsigned char *)text,
	                                     strlen(text)),
	                 EM_MSG_BAD_SIGNATURE);

	/* a v2 message still opens, says so, and cannot be franking-verified */
	n2 = em_msg_encrypt(key, 7, 2, 11, id, &meta, (const unsigned char *)text, strlen(text),
	                    alice.sign_sk, ct + 1024, sig);
	assert_true(n2 > 0);
	memmove(ct, ct + 1024, (size_t)n2);
	assert_int_equal(em_msg_open(key, 7, 2, 11, id, ct, (size_t)n2, sig, alice.sign_pk, &got,
	                             out, &out_len, &frank),
	                 EM_MSG_OK);
	assert_int_equal(frank.version, 2);
	assert_int_not_equal(em_msg_frank_verify(7, 2, 11, id, ct, (size_t)n2, sig, alice.sign_pk,
	                                         frank.fk, &meta, (const unsigned char *)text,
	                                         strlen(text)),
	                     EM_MSG_OK);

	/* a sender who commits to other text than it encrypts: every reader refuses it */
	n = em_msg_encrypt_v3(key, 7, 2, 11, id, &meta, (const unsigned char *)text, strlen(text),
	                      alice.sign_sk, ct, sig);
	ct[0] ^= 1;
	signed_buf = malloc(sizeof(ad) + 4 + (size_t)n);
	assert_non_null(signed_buf);
	memcpy(signed_buf, ad, sizeof(ad));
	be(signed_buf + sizeof(ad), (uint64_t)n, 4);
	memcpy(signed_buf + sizeof(ad) + 4, ct, (size_t)n);
	crypto_sign_detached(sig, NULL, signed_buf, sizeof(ad) + 4 + (size_t)n, alice.sign_sk);
	free(signed_buf);
	assert_int_equal(em_msg_open(key, 7, 2, 11, id, ct, (size_t)n, sig, alice.sign_pk, &got,
	                             out, &out_len, &frank),
	                 EM_MSG_BAD_COMMITMENT);
	/* and a forged signature is a forgery, with or without the key */
	sig[0] ^= 1;
	assert_int_equal(em_msg_decrypt(key, 7, 2, 11, id, ct, (size_t)n, sig, alice.sign_pk, &got,
	                                out, &out_len),
	                 EM_MSG_BAD_SIGNATURE);
}

static void test_diary_record(void **state)
{
	static const char text[] = "We agreed our goals";
	unsigned char key[32], other[32], ct[EM_MSG_CIPHERTEXT_MAX], sig[64],
	    out[EM_MSG_CIPHERTEXT_MAX];
	unsigned char ad[17 + 4 * 8 + 1 + 4], *p, *signed_buf, padded[1024];
	struct em_diary_ref ref = {.room_id = 7,
	                           .checkpoint_id = 21,
	                           .epoch = 3,
	                           .author_id = 12,
	                           .kind = EM_DIARY_ENTRY,
	                           .number = 2};
	struct em_diary_ref bad;
	struct em_keys author, stranger;
	unsigned long long plen = 0;
	uint64_t written = 0;
	size_t out_len = 0, unpadded;
	int n;

	(void)state;
	randombytes_buf(key, sizeof(key));
	randombytes_buf(other, sizeof(other));
	em_keys_generate(&author);
	em_keys_generate(&stranger);
	n = em_diary_encrypt(key, &ref, 1796000000123ULL, (const unsigned char *)text, strlen(text),
	                     author.sign_sk, ct, sig);
	assert_true(n >= (int)EM_MSG_CIPHERTEXT_MIN && n <= (int)EM_MSG_CIPHERTEXT_MAX);
	assert_int_equal(em_diary_decrypt(key, &ref, ct, (size_t)n, sig, author.sign_pk, &written,
	                                  out, &out_len),
	                 EM_MSG_OK);
	assert_int_equal(out_len, strlen(text));
	assert_memory_equal(out, text, out_len);
	assert_int_equal(written, 1796000000123ULL);

	/* the layout, from libsodium alone */
	memcpy(ad, "ementor diary v1", 17);
	p = be(ad + 17, 7, 8);
	p = be(p, 21, 8);
	p = be(p, 3, 8);
	p = be(p, 12, 8);
	*p++ = 1;
	be(p, 2, 4);
	signed_buf = malloc(sizeof(ad) + 4 + (size_t)n);
	assert_non_null(signed_buf);
	memcpy(signed_buf, ad, sizeof(ad));
	be(signed_buf + sizeof(ad), (uint64_t)n, 4);
	memcpy(signed_buf + sizeof(ad) + 4, ct, (size_t)n);
	assert_int_equal(crypto_sign_verify_detached(sig, signed_buf, sizeof(ad) + 4 + (size_t)n,
	                                             author.sign_pk),
	                 0);
	free(signed_buf);
	assert_true((size_t)n - 24 - 16 <= sizeof(padded));
	assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(
	                     padded, &plen, NULL, ct + 24, (size_t)n - 24, ad, sizeof(ad), ct, key),
	                 0);
	assert_int_equal(plen % 256, 0);
	assert_int_equal(sodium_unpad(&unpadded, padded, (size_t)plen, 256), 0);
	assert_int_equal(unpadded, 8 + strlen(text));
	assert_memory_equal(padded + 8, text, strlen(text));

	/* every field is bound */
	for (int field = 0; field < 6; field++) {
		bad = ref;
		switch (field) {
		case 0:
			bad.room_id = 8;
			break;
		case 1:
			bad.checkpoint_id = 22;
			break;
		case 2:
			bad.epoch = 4;
			break;
		case 3:
			bad.author_id = 13;
			break;
		case 4:
			bad.kind = EM_DIARY_REMARK;
			break;
		default:
			bad.number = 3;
			break;
		}
		assert_int_equal(em_diary_decrypt(key, &bad, ct, (size_t)n, sig, author.sign_pk,
		                                  &written, out, &out_len),
		                 EM_MSG_BAD_SIGNATURE);
	}
	/* another author's key, another room key, a flipped byte, a bad kind */
	assert_int_equal(em_diary_decrypt(key, &ref, ct, (size_t)n, sig, stranger.sign_pk, &written,
	                                  out, &out_len),
	                 EM_MSG_BAD_SIGNATURE);
	assert_int_equal(em_diary_decrypt(other, &ref, ct, (size_t)n, sig, author.sign_pk, &written,
	                                  out, &out_len),
	                 EM_MSG_UNDECRYPTABLE);
	ct[n - 1] ^= 1;
	assert_int_equal(em_diary_decrypt(key, &ref, ct, (size_t)n, sig, author.sign_pk, &written,
	                                  out, &out_len),
	                 EM_MSG_BAD_SIGNATURE);
	bad = ref;
	bad.kind = 3;
	assert_int_equal(em_diary_encrypt(key, &bad, 0, (const unsigned char *)text, strlen(text),
	                                  author.sign_sk, ct, sig),
	                 -1);
	em_keys_wipe(&author);
	em_keys_wipe(&stranger);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kdf_is_deterministic),
	    cmocka_unit_test(test_kdf_inputs_change_keys),
	    cmocka_unit_test(test_kdf_matches_protocol),
	    cmocka_unit_test(test_kdf_refuses_impossible_parameters),
	    cmocka_unit_test(test_password_bytes_nfc),
	    cmocka_unit_test(test_kdf_defaults_within_wire_limits),
	    cmocka_unit_test(test_wrap_unwrap_round_trip),
	    cmocka_unit_test(test_backup_layout_matches_protocol),
	    cmocka_unit_test(test_unwrap_refuses),
	    cmocka_unit_test(test_keys_generate_and_wipe),
	    cmocka_unit_test(test_fingerprint),
	    cmocka_unit_test(test_diary_record),
	    cmocka_unit_test(test_msg_franking),
	    cmocka_unit_test(test_recovery_code),
	};

	if (em_crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests_name("crypto", tests, NULL, NULL);
}
