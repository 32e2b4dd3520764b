/*
 * em_crypto.c - account key derivation, key backup wrapping, key
 * fingerprints, and the signed byte layouts of docs/PROTOCOL.md 5.1 and 7.1
 * (em_crypto.h has each scheme). Used by clients; the server uses it to check
 * the signatures its own decisions depend on, to print the same fingerprints,
 * and to chain the consent ledger (em_ledger_entry_hash). How a password
 * becomes bytes is in em_password.c (native builds only).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "em_crypto.h"

static const char kdf_context[crypto_kdf_CONTEXTBYTES + 1] = "ementor_";
static const char backup_label[] = "ementor key backup v1"; /* sizeof includes the NUL */
static const char fingerprint_label[] = "ementor fingerprint v1";

int em_crypto_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

int em_kdf_derive(const char *password, size_t password_len, const unsigned char salt[16],
                  uint64_t opslimit, uint64_t memlimit, unsigned char auth_key[32],
                  unsigned char wrap_key[32])
{
	unsigned char master[32];
	int rc = -1;

	if (crypto_pwhash(master, sizeof(master), password, password_len, salt, opslimit,
	                  (size_t)memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0)
		goto out;
	crypto_kdf_derive_from_key(auth_key, 32, 1, kdf_context, master);
	crypto_kdf_derive_from_key(wrap_key, 32, 2, kdf_context, master);
	rc = 0;
out:
	sodium_memzero(master, sizeof(master));
	return rc;
}

void em_keys_generate(struct em_keys *keys)
{
	crypto_sign_keypair(keys->sign_pk, keys->sign_sk);
	crypto_box_keypair(keys->box_pk, keys->box_sk);
}

void em_keys_wipe(struct em_keys *keys)
{
	sodium_memzero(keys->sign_sk, sizeof(keys->sign_sk));
	sodium_memzero(keys->box_sk, sizeof(keys->box_sk));
}

/* ad = label || NUL || username; returns its length. */
static size_t backup_ad(const char *username, unsigned char ad[sizeof(backup_label) + 64])
{
	size_t ulen = strnlen(username, 64);

	memcpy(ad, backup_label, sizeof(backup_label));
	memcpy(ad + sizeof(backup_label), username, ulen);
	return sizeof(backup_label) + ulen;
}

void em_keys_wrap(const struct em_keys *keys, const unsigned char wrap_key[32],
                  const char *username, unsigned char out[EM_BACKUP_BYTES])
{
	unsigned char plain[EM_SIGN_SK_BYTES + EM_BOX_SK_BYTES];
	unsigned char ad[sizeof(backup_label) + 64];
	size_t adlen = backup_ad(username, ad);
	unsigned char *nonce = out;

	memcpy(plain, keys->sign_sk, EM_SIGN_SK_BYTES);
	memcpy(plain + EM_SIGN_SK_BYTES, keys->box_sk, EM_BOX_SK_BYTES);
	randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
	    out + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NULL, plain, sizeof(plain), ad,
	    adlen, NULL, nonce, wrap_key);
	sodium_memzero(plain, sizeof(plain));
}

int em_keys_unwrap(struct em_keys *keys, const unsigned char wrap_key[32], const char *username,
                   const unsigned char *backup, size_t backup_len)
{
	unsigned char plain[EM_SIGN_SK_BYTES + EM_BOX_SK_BYTES];
	unsigned char ad[sizeof(backup_label) + 64];
	size_t adlen = backup_ad(username, ad);
	const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	int rc = -1;

	if (backup_len != EM_BACKUP_BYTES)
		goto out;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
	        plain, NULL, NULL, backup + nb, backup_len - nb, ad, adlen, backup, wrap_key) != 0)
		goto out;
	memcpy(keys->sign_sk, plain, EM_SIGN_SK_BYTES);
	memcpy(keys->box_sk, plain + EM_SIGN_SK_BYTES, EM_BOX_SK_BYTES);
	crypto_sign_ed25519_sk_to_pk(keys->sign_pk, keys->sign_sk);
	crypto_scalarmult_base(keys->box_pk, keys->box_sk);
	rc = 0;
out:
	sodium_memzero(plain, sizeof(plain));
	return rc;
}

static const char recovery_label[] = "ementor recovery v1"; /* sizeof includes the NUL */
static const char recovery_context[crypto_kdf_CONTEXTBYTES + 1] = "ementrec";
static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void em_recovery_keys(const unsigned char code[EM_RECOVERY_BYTES], unsigned char auth[32],
                      unsigned char wrap[32])
{
	unsigned char master[32];
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, sizeof(master));
	crypto_generichash_update(&st, (const unsigned char *)recovery_label,
	                          sizeof(recovery_label));
	crypto_generichash_update(&st, code, EM_RECOVERY_BYTES);
	crypto_generichash_final(&st, master, sizeof(master));
	crypto_kdf_derive_from_key(auth, 32, 1, recovery_context, master);
	crypto_kdf_derive_from_key(wrap, 32, 2, recovery_context, master);
	sodium_memzero(master, sizeof(master));
	sodium_memzero(&st, sizeof(st));
}

void em_recovery_format(const unsigned char code[EM_RECOVERY_BYTES], char out[EM_RECOVERY_STRLEN])
{
	unsigned bits = 0, acc = 0;
	size_t n = 0;
	char *p = out;

	/* 160 bits, five at a time, most significant first */
	for (size_t i = 0; i < EM_RECOVERY_BYTES; i++) {
		acc = (acc << 8) | code[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			if (n && n % 4 == 0)
				*p++ = '-';
			*p++ = crockford[(acc >> bits) & 31];
			n++;
		}
	}
	*p = '\0';
	acc = 0;
}

int em_recovery_parse(const char *text, unsigned char code[EM_RECOVERY_BYTES])
{
	unsigned bits = 0, acc = 0;
	size_t n = 0, out = 0;

	for (const char *s = text; *s; s++) {
		int ch = *s >= 'a' && *s <= 'z' ? *s - 'a' + 'A' : *s;
		const char *at;

		if (ch == '-' || ch == ' ')
			continue;
		ch = ch == 'O' ? '0' : (ch == 'I' || ch == 'L') ? '1' : ch;
		if (!ch || !(at = strchr(crockford, ch)) || ++n > 32)
			return -1;
		acc = (acc << 5) | (unsigned)(at - crockford);
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			code[out++] = (unsigned char)(acc >> bits);
		}
	}
	acc = 0;
	return n == 32 && out == EM_RECOVERY_BYTES ? 0 : -1;
}

void em_fingerprint(const unsigned char sign_pk[32], const unsigned char box_pk[32],
                    char out[EM_FINGERPRINT_STRLEN])
{
	unsigned char hash[32];
	crypto_generichash_state st;
	char *p = out;

	crypto_generichash_init(&st, NULL, 0, sizeof(hash));
	crypto_generichash_update(&st, (const unsigned char *)fingerprint_label,
	                          sizeof(fingerprint_label));
	crypto_generichash_update(&st, sign_pk, 32);
	crypto_generichash_update(&st, box_pk, 32);
	crypto_generichash_final(&st, hash, sizeof(hash));
	for (int i = 0; i < EM_FINGERPRINT_BYTES; i++) {
		static const char hex[] = "0123456789abcdef";

		if (i && i % 2 == 0)
			*p++ = ' ';
		*p++ = hex[hash[i] >> 4];
		*p++ = hex[hash[i] & 15];
	}
	*p = '\0';
}

/* ---- room keys, epochs, messages ---------------------------------------- */

static const char room_key_label[] = "ementor room key v2";
static const char commit_label[] = "ementor epoch commit v2";
static const char message_label[] = "ementor message v2";
static const char message3_label[] = "ementor message v3"; /* as long as v2's */
static const char franking_label[] = "ementor franking v1";
static const char programme_label[] = "ementor programme settings v1";
static const char safety_label[] = "ementor safety v1";
static const char diary_label[] = "ementor diary v1";

static unsigned char *put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
		*p++ = (unsigned char)(v >> (i * 8));
	return p;
}

static unsigned char *put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--)
		*p++ = (unsigned char)(v >> (i * 8));
	return p;
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

#define ROOM_KEY_LIST_BYTES (4 + 8 * EM_KEY_RECIPIENTS_MAX)
#define ROOM_KEY_SIGNED_BYTES                                                                      \
	(sizeof(room_key_label) + 4 * 8 + 4 + ROOM_KEY_LIST_BYTES + EM_ROOM_KEY_BYTES)
#define ROOM_KEY_PLAIN_BYTES (8 + 4 + ROOM_KEY_LIST_BYTES + EM_ROOM_KEY_BYTES + EM_SIG_BYTES)

/* Whether the recipient list is 1..6 strictly ascending non-zero ids. */
static int room_key_list_ok(const struct em_room_key_id *id)
{
	if (id->n_recipients < 1 || id->n_recipients > EM_KEY_RECIPIENTS_MAX)
		return 0;
	for (uint32_t i = 0; i < id->n_recipients; i++)
		if (!id->recipients[i] || (i && id->recipients[i] <= id->recipients[i - 1]))
			return 0;
	return 1;
}

int em_room_key_names(const struct em_room_key_id *id, uint64_t user_id)
{
	for (uint32_t i = 0; i < id->n_recipients && i < EM_KEY_RECIPIENTS_MAX; i++)
		if (id->recipients[i] == user_id)
			return 1;
	return 0;
}

/* n || 6 recipient slots (zero after the n-th). */
static unsigned char *put_room_key_list(unsigned char *p, const struct em_room_key_id *id)
{
	p = put_u32(p, id->n_recipients);
	for (uint32_t i = 0; i < EM_KEY_RECIPIENTS_MAX; i++)
		p = put_u64(p, i < id->n_recipients ? id->recipients[i] : 0);
	return p;
}

static void room_key_signed_bytes(const unsigned char room_key[EM_ROOM_KEY_BYTES],
                                  const struct em_room_key_id *id,
                                  unsigned char out[ROOM_KEY_SIGNED_BYTES])
{
	unsigned char *p = out;

	memcpy(p, room_key_label, sizeof(room_key_label));
	p += sizeof(room_key_label);
	p = put_u64(p, id->room_id);
	p = put_u64(p, id->epoch);
	p = put_u64(p, id->recipient_id);
	p = put_u64(p, id->committer_id);
	p = put_u32(p, id->agreement_version);
	p = put_room_key_list(p, id);
	memcpy(p, room_key, EM_ROOM_KEY_BYTES);
}

int em_room_key_seal(const unsigned char room_key[EM_ROOM_KEY_BYTES],
                     const struct em_room_key_id *id,
                     const unsigned char committer_sign_sk[EM_SIGN_SK_BYTES],
                     const unsigned char recipient_box_pk[EM_BOX_PK_BYTES],
                     unsigned char sealed[EM_SEALED_KEY_BYTES])
{
	unsigned char signed_bytes[ROOM_KEY_SIGNED_BYTES];
	unsigned char plain[ROOM_KEY_PLAIN_BYTES], *p = plain;

	if (!room_key_list_ok(id) || !em_room_key_names(id, id->recipient_id))
		return -1;
	room_key_signed_bytes(room_key, id, signed_bytes);
	p = put_u64(p, id->committer_id);
	p = put_u32(p, id->agreement_version);
	p = put_room_key_list(p, id);
	memcpy(p, room_key, EM_ROOM_KEY_BYTES);
	p += EM_ROOM_KEY_BYTES;
	crypto_sign_detached(p, NULL, signed_bytes, sizeof(signed_bytes), committer_sign_sk);
	crypto_box_seal(sealed, plain, sizeof(plain), recipient_box_pk);
	sodium_memzero(plain, sizeof(plain));
	sodium_memzero(signed_bytes, sizeof(signed_bytes));
	return 0;
}

int em_room_key_open(const unsigned char sealed[EM_SEALED_KEY_BYTES], const struct em_keys *me,
                     struct em_room_key_id *id, unsigned char room_key[EM_ROOM_KEY_BYTES],
                     unsigned char sig[EM_SIG_BYTES])
{
	unsigned char plain[ROOM_KEY_PLAIN_BYTES];
	const unsigned char *p = plain;
	int rc = -1;

	if (crypto_box_seal_open(plain, sealed, EM_SEALED_KEY_BYTES, me->box_pk, me->box_sk))
		return -1;
	id->committer_id = get_u64(p);
	id->agreement_version = get_u32(p + 8);
	id->n_recipients = get_u32(p + 12);
	p += 16;
	for (uint32_t i = 0; i < EM_KEY_RECIPIENTS_MAX; i++, p += 8) {
		id->recipients[i] = get_u64(p);
		if (i >= id->n_recipients && id->recipients[i])
			goto out; /* slots after the n-th are zero */
	}
	if (!room_key_list_ok(id))
		goto out;
	memcpy(room_key, p, EM_ROOM_KEY_BYTES);
	memcpy(sig, p + EM_ROOM_KEY_BYTES, EM_SIG_BYTES);
	rc = 0;
out:
	sodium_memzero(plain, sizeof(plain));
	return rc;
}

int em_room_key_verify(const unsigned char room_key[EM_ROOM_KEY_BYTES],
                       const struct em_room_key_id *id, const unsigned char sig[EM_SIG_BYTES],
                       const unsigned char committer_sign_pk[EM_SIGN_PK_BYTES])
{
	unsigned char signed_bytes[ROOM_KEY_SIGNED_BYTES];
	int rc;

	if (!room_key_list_ok(id))
		return -1;
	room_key_signed_bytes(room_key, id, signed_bytes);
	rc = crypto_sign_verify_detached(sig, signed_bytes, sizeof(signed_bytes), committer_sign_pk)
	         ? -1
	         : 0;
	sodium_memzero(signed_bytes, sizeof(signed_bytes));
	return rc;
}

static int by_recipient(const void *a, const void *b)
{
	uint64_t x = ((const struct em_commit_entry *)a)->recipient_id;
	uint64_t y = ((const struct em_commit_entry *)b)->recipient_id;

	return x < y ? -1 : x > y;
}

unsigned char *em_commit_bytes(const struct em_commit *c, struct em_commit_entry *entries, size_t n,
                               size_t *len)
{
	size_t total = sizeof(commit_label) + 3 * 8 + 4 + 4 + n * (8 + 32);
	unsigned char *buf = malloc(total), *p = buf;

	if (!buf)
		return NULL;
	qsort(entries, n, sizeof(*entries), by_recipient);
	memcpy(p, commit_label, sizeof(commit_label));
	p += sizeof(commit_label);
	p = put_u64(p, c->room_id);
	p = put_u64(p, c->epoch);
	p = put_u64(p, c->committer_id);
	p = put_u32(p, c->agreement_version);
	p = put_u32(p, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		p = put_u64(p, entries[i].recipient_id);
		crypto_generichash(p, 32, entries[i].sealed, EM_SEALED_KEY_BYTES, NULL, 0);
		p += 32;
	}
	*len = total;
	return buf;
}

int em_commit_sign(const struct em_commit *c, struct em_commit_entry *entries, size_t n,
                   const unsigned char sign_sk[EM_SIGN_SK_BYTES], unsigned char sig[EM_SIG_BYTES])
{
	size_t len;
	unsigned char *bytes = em_commit_bytes(c, entries, n, &len);

	if (!bytes)
		return -1;
	crypto_sign_detached(sig, NULL, bytes, len, sign_sk);
	free(bytes);
	return 0;
}

int em_commit_verify(const struct em_commit *c, struct em_commit_entry *entries, size_t n,
                     const unsigned char sign_pk[EM_SIGN_PK_BYTES],
                     const unsigned char sig[EM_SIG_BYTES])
{
	size_t len;
	unsigned char *bytes = em_commit_bytes(c, entries, n, &len);
	int rc;

	if (!bytes)
		return -1;
	rc = crypto_sign_verify_detached(sig, bytes, len, sign_pk) ? -1 : 0;
	free(bytes);
	return rc;
}

#define MSG_AD_BYTES (sizeof(message_label) + 3 * 8 + EM_MSG_ID_BYTES)

static void msg_ad_of(const char *label, uint64_t room_id, uint64_t epoch, uint64_t sender_id,
                      const unsigned char client_msg_id[16], unsigned char ad[MSG_AD_BYTES])
{
	unsigned char *p = ad;

	memcpy(p, label, sizeof(message_label));
	p += sizeof(message_label);
	p = put_u64(p, room_id);
	p = put_u64(p, epoch);
	p = put_u64(p, sender_id);
	memcpy(p, client_msg_id, EM_MSG_ID_BYTES);
}

static void msg_ad(uint64_t room_id, uint64_t epoch, uint64_t sender_id,
                   const unsigned char client_msg_id[16], unsigned char ad[MSG_AD_BYTES])
{
	msg_ad_of(message_label, room_id, epoch, sender_id, client_msg_id, ad);
}

/* The bytes a message signature covers: ad || u32 len || ciphertext (malloc'd; caller frees). */
static void msg_sig_input(const unsigned char *ad, const unsigned char *ct, size_t ct_len,
                          unsigned char **buf, size_t *len)
{
	*len = MSG_AD_BYTES + 4 + ct_len;
	*buf = malloc(*len);
	if (!*buf)
		return;
	memcpy(*buf, ad, MSG_AD_BYTES);
	put_u32(*buf + MSG_AD_BYTES, (uint32_t)ct_len);
	memcpy(*buf + MSG_AD_BYTES + 4, ct, ct_len);
}

int em_msg_encrypt(const unsigned char room_key[EM_ROOM_KEY_BYTES], uint64_t room_id,
                   uint64_t epoch, uint64_t sender_id, const unsigned char client_msg_id[16],
                   const struct em_msg_meta *meta, const unsigned char *plaintext,
                   size_t plaintext_len, const unsigned char sender_sign_sk[EM_SIGN_SK_BYTES],
                   unsigned char *ciphertext, unsigned char sig[EM_SIG_BYTES])
{
	const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	const size_t room = EM_MSG_META_BYTES + plaintext_len + EM_MSG_PAD_BLOCK;
	unsigned char ad[MSG_AD_BYTES], *padded = NULL, *signed_buf = NULL, *p;
	size_t padded_len, signed_len;
	unsigned long long ct_len = 0;
	int rc = -1;

	if (plaintext_len > EM_MSG_PLAINTEXT_MAX)
		return -1;
	padded = malloc(room);
	if (!padded)
		return -1;
	memcpy(padded, meta->device, EM_DEVICE_ID_BYTES);
	p = put_u64(padded + EM_DEVICE_ID_BYTES, meta->counter);
	p = put_u64(p, meta->written_ms);
	memcpy(p, plaintext, plaintext_len);
	if (sodium_pad(&padded_len, padded, EM_MSG_META_BYTES + plaintext_len, EM_MSG_PAD_BLOCK,
	               room))
		goto out;
	msg_ad(room_id, epoch, sender_id, client_msg_id, ad);
	randombytes_buf(ciphertext, nb);
	crypto_aead_xchacha20poly1305_ietf_encrypt(ciphertext + nb, &ct_len, padded, padded_len, ad,
	                                           sizeof(ad), NULL, ciphertext, room_key);
	ct_len += nb;
	msg_sig_input(ad, ciphertext, (size_t)ct_len, &signed_buf, &signed_len);
	if (!signed_buf)
		goto out;
	crypto_sign_detached(sig, NULL, signed_buf, signed_len, sender_sign_sk);
	rc = (int)ct_len;
out:
	if (padded) {
		sodium_memzero(padded, room);
		free(padded);
	}
	free(signed_buf);
	return rc;
}

/* Whether sig is the sender's over ad || len || ciphertext: 0, or an em_msg_status. */
static int msg_sig_check(const unsigned char ad[MSG_AD_BYTES], const unsigned char *ct,
                         size_t ct_len, const unsigned char sig[EM_SIG_BYTES],
                         const unsigned char sign_pk[EM_SIGN_PK_BYTES])
{
	unsigned char *signed_buf = NULL;
	size_t signed_len;
	int rc;

	msg_sig_input(ad, ct, ct_len, &signed_buf, &signed_len);
	if (!signed_buf)
		return EM_MSG_MALFORMED;
	rc = crypto_sign_verify_detached(sig, signed_buf, signed_len, sign_pk);
	free(signed_buf);
	return rc ? EM_MSG_BAD_SIGNATURE : EM_MSG_OK;
}

void em_msg_commitment(const unsigned char fk[EM_MSG_FRANK_BYTES], const struct em_msg_meta *meta,
                       const unsigned char *text, size_t text_len,
                       unsigned char c[EM_MSG_FRANK_BYTES])
{
	crypto_generichash_state st;
	unsigned char m[EM_MSG_META_BYTES], *p;

	memcpy(m, meta->device, EM_DEVICE_ID_BYTES);
	p = put_u64(m + EM_DEVICE_ID_BYTES, meta->counter);
	put_u64(p, meta->written_ms);
	crypto_generichash_init(&st, fk, EM_MSG_FRANK_BYTES, EM_MSG_FRANK_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)franking_label,
	                          sizeof(franking_label));
	crypto_generichash_update(&st, m, sizeof(m));
	crypto_generichash_update(&st, text, text_len);
	crypto_generichash_final(&st, c, EM_MSG_FRANK_BYTES);
	sodium_memzero(&st, sizeof(st));
}

int em_msg_encrypt_v3(const unsigned char room_key[EM_ROOM_KEY_BYTES], uint64_t room_id,
                      uint64_t epoch, uint64_t sender_id, const unsigned char client_msg_id[16],
                      const struct em_msg_meta *meta, const unsigned char *plaintext,
                      size_t plaintext_len, const unsigned char sender_sign_sk[EM_SIGN_SK_BYTES],
                      unsigned char *ciphertext, unsigned char sig[EM_SIG_BYTES])
{
	const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, fb = EM_MSG_FRANK_BYTES;
	const size_t room = fb + EM_MSG_META_BYTES + plaintext_len + EM_MSG_PAD_BLOCK;
	unsigned char ad[MSG_AD_BYTES], *padded = NULL, *signed_buf = NULL, *p;
	size_t padded_len, signed_len;
	unsigned long long ct_len = 0;
	int rc = -1;

	if (plaintext_len > EM_MSG_PLAINTEXT_MAX)
		return -1;
	padded = malloc(room);
	if (!padded)
		return -1;
	randombytes_buf(padded, fb);
	memcpy(padded + fb, meta->device, EM_DEVICE_ID_BYTES);
	p = put_u64(padded + fb + EM_DEVICE_ID_BYTES, meta->counter);
	p = put_u64(p, meta->written_ms);
	memcpy(p, plaintext, plaintext_len);
	em_msg_commitment(padded, meta, plaintext, plaintext_len, ciphertext);
	if (sodium_pad(&padded_len, padded, fb + EM_MSG_META_BYTES + plaintext_len,
	               EM_MSG_PAD_BLOCK, room))
		goto out;
	msg_ad_of(message3_label, room_id, epoch, sender_id, client_msg_id, ad);
	randombytes_buf(ciphertext + fb, nb);
	crypto_aead_xchacha20poly1305_ietf_encrypt(ciphertext + fb + nb, &ct_len, padded,
	                                           padded_len, ad, sizeof(ad), NULL,
	                                           ciphertext + fb, room_key);
	ct_len += fb + nb;
	msg_sig_input(ad, ciphertext, (size_t)ct_len, &signed_buf, &signed_len);
	if (!signed_buf)
		goto out;
	crypto_sign_detached(sig, NULL, signed_buf, signed_len, sender_sign_sk);
	rc = (int)ct_len;
out:
	sodium_memzero(padded, room);
	free(padded);
	free(signed_buf);
	return rc;
}

/* Decrypts and unpads a signature-checked v2 or v3 message; see em_msg_open(). */
static int msg_open_body(const unsigned char room_key[EM_ROOM_KEY_BYTES],
                         const unsigned char ad[MSG_AD_BYTES], int version,
                         const unsigned char *ciphertext, size_t ciphertext_len,
                         struct em_msg_meta *meta, unsigned char *plaintext, size_t *plaintext_len,
                         struct em_msg_frank *frank)
{
	const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	const size_t fb = version == 3 ? EM_MSG_FRANK_BYTES : 0, head = fb + EM_MSG_META_BYTES;
	unsigned char fk[EM_MSG_FRANK_BYTES], c[EM_MSG_FRANK_BYTES];
	unsigned long long padded_len = 0;
	size_t unpadded;

	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
	        plaintext, &padded_len, NULL, ciphertext + fb + nb, ciphertext_len - fb - nb, ad,
	        MSG_AD_BYTES, ciphertext + fb, room_key))
		return EM_MSG_UNDECRYPTABLE;
	if (sodium_unpad(&unpadded, plaintext, (size_t)padded_len, EM_MSG_PAD_BLOCK) ||
	    unpadded < head || unpadded - head > EM_MSG_PLAINTEXT_MAX) {
		sodium_memzero(plaintext, (size_t)padded_len);
		return EM_MSG_MALFORMED;
	}
	memcpy(fk, plaintext, fb);
	memcpy(meta->device, plaintext + fb, EM_DEVICE_ID_BYTES);
	meta->counter = get_u64(plaintext + fb + EM_DEVICE_ID_BYTES);
	meta->written_ms = get_u64(plaintext + fb + EM_DEVICE_ID_BYTES + 8);
	*plaintext_len = unpadded - head;
	memmove(plaintext, plaintext + head, *plaintext_len);
	sodium_memzero(plaintext + *plaintext_len, head);
	if (version == 3) {
		em_msg_commitment(fk, meta, plaintext, *plaintext_len, c);
		if (crypto_verify_32(c, ciphertext) != 0) {
			sodium_memzero(fk, sizeof(fk));
			sodium_memzero(plaintext, *plaintext_len);
			return EM_MSG_BAD_COMMITMENT;
		}
	}
	if (frank) {
		frank->version = version;
		memcpy(frank->fk, fk, fb);
	}
	sodium_memzero(fk, sizeof(fk));
	return EM_MSG_OK;
}

int em_msg_open(const unsigned char room_key[EM_ROOM_KEY_BYTES], uint64_t room_id, uint64_t epoch,
                uint64_t sender_id, const unsigned char client_msg_id[16],
                const unsigned char *ciphertext, size_t ciphertext_len,
                const unsigned char sig[EM_SIG_BYTES],
                const unsigned char sender_sign_pk[EM_SIGN_PK_BYTES], struct em_msg_meta *meta,
                unsigned char *plaintext, size_t *plaintext_len, struct em_msg_frank *frank)
{
	unsigned char ad[MSG_AD_BYTES];
	int rc;

	if (frank)
		memset(frank, 0, sizeof(*frank));
	if (ciphertext_len < EM_MSG_CIPHERTEXT_MIN || ciphertext_len > EM_MSG_CIPHERTEXT_MAX)
		return EM_MSG_MALFORMED;
	if (ciphertext_len >= EM_MSG_CIPHERTEXT_MIN + EM_MSG_FRANK_BYTES) {
		msg_ad_of(message3_label, room_id, epoch, sender_id, client_msg_id, ad);
		rc = msg_sig_check(ad, ciphertext, ciphertext_len, sig, sender_sign_pk);
		if (rc != EM_MSG_BAD_SIGNATURE)
			return rc ? rc
			          : msg_open_body(room_key, ad, 3, ciphertext, ciphertext_len, meta,
			                          plaintext, plaintext_len, frank);
	}
	msg_ad(room_id, epoch, sender_id, client_msg_id, ad);
	rc = msg_sig_check(ad, ciphertext, ciphertext_len, sig, sender_sign_pk);
	if (rc)
		return rc;
	return msg_open_body(room_key, ad, 2, ciphertext, ciphertext_len, meta, plaintext,
	                     plaintext_len, frank);
}

int em_msg_decrypt(const unsigned char room_key[EM_ROOM_KEY_BYTES], uint64_t room_id,
                   uint64_t epoch, uint64_t sender_id, const unsigned char client_msg_id[16],
                   const unsigned char *ciphertext, size_t ciphertext_len,
                   const unsigned char sig[EM_SIG_BYTES],
                   const unsigned char sender_sign_pk[EM_SIGN_PK_BYTES], struct em_msg_meta *meta,
                   unsigned char *plaintext, size_t *plaintext_len)
{
	return em_msg_open(room_key, room_id, epoch, sender_id, client_msg_id, ciphertext,
	                   ciphertext_len, sig, sender_sign_pk, meta, plaintext, plaintext_len,
	                   NULL);
}

int em_msg_frank_verify(uint64_t room_id, uint64_t epoch, uint64_t sender_id,
                        const unsigned char client_msg_id[16], const unsigned char *ciphertext,
                        size_t ciphertext_len, const unsigned char sig[EM_SIG_BYTES],
                        const unsigned char sender_sign_pk[EM_SIGN_PK_BYTES],
                        const unsigned char fk[EM_MSG_FRANK_BYTES], const struct em_msg_meta *meta,
                        const unsigned char *text, size_t text_len)
{
	unsigned char ad[MSG_AD_BYTES], c[EM_MSG_FRANK_BYTES];
	int rc;

	if (ciphertext_len < EM_MSG_CIPHERTEXT_MIN + EM_MSG_FRANK_BYTES ||
	    ciphertext_len > EM_MSG_CIPHERTEXT_MAX || text_len > EM_MSG_PLAINTEXT_MAX)
		return EM_MSG_MALFORMED;
	msg_ad_of(message3_label, room_id, epoch, sender_id, client_msg_id, ad);
	if ((rc = msg_sig_check(ad, ciphertext, ciphertext_len, sig, sender_sign_pk)) != 0)
		return rc;
	em_msg_commitment(fk, meta, text, text_len, c);
	return crypto_verify_32(c, ciphertext) == 0 ? EM_MSG_OK : EM_MSG_BAD_COMMITMENT;
}

#define DIARY_AD_BYTES   (sizeof(diary_label) + 4 * 8 + 1 + 4)
#define DIARY_META_BYTES 8 /* written_ms */

static int diary_ad(const struct em_diary_ref *ref, unsigned char ad[DIARY_AD_BYTES])
{
	unsigned char *p = ad;

	if (ref->kind != EM_DIARY_ENTRY && ref->kind != EM_DIARY_REMARK)
		return -1;
	memcpy(p, diary_label, sizeof(diary_label));
	p += sizeof(diary_label);
	p = put_u64(p, ref->room_id);
	p = put_u64(p, ref->checkpoint_id);
	p = put_u64(p, ref->epoch);
	p = put_u64(p, ref->author_id);
	*p++ = (unsigned char)ref->kind;
	put_u32(p, ref->number);
	return 0;
}

/* ad || u32 len || ciphertext (malloc'd; caller frees; NULL when out of memory). */
static unsigned char *diary_sig_input(const unsigned char *ad, const unsigned char *ct,
                                      size_t ct_len, size_t *len)
{
	unsigned char *buf;

	*len = DIARY_AD_BYTES + 4 + ct_len;
	buf = malloc(*len);
	if (!buf)
		return NULL;
	memcpy(buf, ad, DIARY_AD_BYTES);
	put_u32(buf + DIARY_AD_BYTES, (uint32_t)ct_len);
	memcpy(buf + DIARY_AD_BYTES + 4, ct, ct_len);
	return buf;
}

int em_diary_encrypt(const unsigned char room_key[EM_ROOM_KEY_BYTES],
                     const struct em_diary_ref *ref, uint64_t written_ms, const unsigned char *text,
                     size_t text_len, const unsigned char author_sign_sk[EM_SIGN_SK_BYTES],
                     unsigned char *ciphertext, unsigned char sig[EM_SIG_BYTES])
{
	const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	const size_t room = DIARY_META_BYTES + text_len + EM_MSG_PAD_BLOCK;
	unsigned char ad[DIARY_AD_BYTES], *padded = NULL, *signed_buf = NULL;
	size_t padded_len, signed_len;
	unsigned long long ct_len = 0;
	int rc = -1;

	if (text_len > EM_MSG_PLAINTEXT_MAX || diary_ad(ref, ad))
		return -1;
	padded = malloc(room);
	if (!padded)
		return -1;
	put_u64(padded, written_ms);
	memcpy(padded + DIARY_META_BYTES, text, text_len);
	if (sodium_pad(&padded_len, padded, DIARY_META_BYTES + text_len, EM_MSG_PAD_BLOCK, room))
		goto out;
	randombytes_buf(ciphertext, nb);
	crypto_aead_xchacha20poly1305_ietf_encrypt(ciphertext + nb, &ct_len, padded, padded_len, ad,
	                                           sizeof(ad), NULL, ciphertext, room_key);
	ct_len += nb;
	if (!(signed_buf = diary_sig_input(ad, ciphertext, (size_t)ct_len, &signed_len)))
		goto out;
	crypto_sign_detached(sig, NULL, signed_buf, signed_len, author_sign_sk);
	rc = (int)ct_len;
out:
	sodium_memzero(padded, room);
	free(padded);
	free(signed_buf);
	return rc;
}

int em_diary_decrypt(const unsigned char room_key[EM_ROOM_KEY_BYTES],
                     const struct em_diary_ref *ref, const unsigned char *ciphertext,
                     size_t ciphertext_len, const unsigned char sig[EM_SIG_BYTES],
                     const unsigned char author_sign_pk[EM_SIGN_PK_BYTES], uint64_t *written_ms,
                     unsigned char *text, size_t *text_len)
{
	const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	unsigned char ad[DIARY_AD_BYTES], *signed_buf;
	size_t signed_len, unpadded;
	unsigned long long padded_len = 0;
	int rc;

	if (ciphertext_len < EM_MSG_CIPHERTEXT_MIN || ciphertext_len > EM_MSG_CIPHERTEXT_MAX ||
	    diary_ad(ref, ad))
		return EM_MSG_MALFORMED;
	if (!(signed_buf = diary_sig_input(ad, ciphertext, ciphertext_len, &signed_len)))
		return EM_MSG_MALFORMED;
	rc = crypto_sign_verify_detached(sig, signed_buf, signed_len, author_sign_pk);
	free(signed_buf);
	if (rc)
		return EM_MSG_BAD_SIGNATURE;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(text, &padded_len, NULL, ciphertext + nb,
	                                               ciphertext_len - nb, ad, sizeof(ad),
	                                               ciphertext, room_key))
		return EM_MSG_UNDECRYPTABLE;
	if (sodium_unpad(&unpadded, text, (size_t)padded_len, EM_MSG_PAD_BLOCK) ||
	    unpadded < DIARY_META_BYTES || unpadded - DIARY_META_BYTES > EM_MSG_PLAINTEXT_MAX) {
		sodium_memzero(text, (size_t)padded_len);
		return EM_MSG_MALFORMED;
	}
	*written_ms = get_u64(text);
	*text_len = unpadded - DIARY_META_BYTES;
	memmove(text, text + DIARY_META_BYTES, *text_len);
	sodium_memzero(text + *text_len, DIARY_META_BYTES);
	return EM_MSG_OK;
}

#define PROGRAMME_SIGNED_BYTES (sizeof(programme_label) + 2 * 8 + 1)

static void programme_signed_bytes(uint64_t programme_id, uint64_t creator_id,
                                   int agreement_required,
                                   unsigned char out[PROGRAMME_SIGNED_BYTES])
{
	unsigned char *p = out;

	memcpy(p, programme_label, sizeof(programme_label));
	p += sizeof(programme_label);
	p = put_u64(p, programme_id);
	p = put_u64(p, creator_id);
	*p = agreement_required ? 1 : 0;
}

void em_programme_sign(uint64_t programme_id, uint64_t creator_id, int agreement_required,
                       const unsigned char sign_sk[EM_SIGN_SK_BYTES],
                       unsigned char sig[EM_SIG_BYTES])
{
	unsigned char bytes[PROGRAMME_SIGNED_BYTES];

	programme_signed_bytes(programme_id, creator_id, agreement_required, bytes);
	crypto_sign_detached(sig, NULL, bytes, sizeof(bytes), sign_sk);
}

int em_programme_verify(uint64_t programme_id, uint64_t creator_id, int agreement_required,
                        const unsigned char sign_pk[EM_SIGN_PK_BYTES],
                        const unsigned char sig[EM_SIG_BYTES])
{
	unsigned char bytes[PROGRAMME_SIGNED_BYTES];

	programme_signed_bytes(programme_id, creator_id, agreement_required, bytes);
	return crypto_sign_verify_detached(sig, bytes, sizeof(bytes), sign_pk) ? -1 : 0;
}

static void safety_hash(const unsigned char sign_pk[32], const unsigned char box_pk[32],
                        unsigned char out[32])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const unsigned char *)safety_label, sizeof(safety_label));
	crypto_generichash_update(&st, sign_pk, 32);
	crypto_generichash_update(&st, box_pk, 32);
	crypto_generichash_final(&st, out, 32);
}

void em_safety_number(const unsigned char a_sign_pk[32], const unsigned char a_box_pk[32],
                      const unsigned char b_sign_pk[32], const unsigned char b_box_pk[32],
                      char out[EM_SAFETY_STRLEN])
{
	unsigned char a[32], b[32], both[64], h[64];
	char *p = out;

	safety_hash(a_sign_pk, a_box_pk, a);
	safety_hash(b_sign_pk, b_box_pk, b);
	if (memcmp(a, b, 32) <= 0) {
		memcpy(both, a, 32);
		memcpy(both + 32, b, 32);
	} else {
		memcpy(both, b, 32);
		memcpy(both + 32, a, 32);
	}
	crypto_generichash(h, sizeof(h), both, sizeof(both), NULL, 0);
	for (int g = 0; g < 12; g++) {
		uint64_t v = 0;

		for (int i = 0; i < 5; i++)
			v = (v << 8) | h[g * 5 + i];
		p += snprintf(p, (size_t)(out + EM_SAFETY_STRLEN - p), "%s%05llu", g ? " " : "",
		              (unsigned long long)(v % 100000));
	}
}

/* ---- agreements and consent -------------------------------------------------- */

static const char agreement_label[] = "ementor agreement v1";
static const char consent_label[] = "ementor consent v1";

static unsigned char *put_lp(unsigned char *p, const char *s, size_t n)
{
	p = put_u32(p, (uint32_t)n);
	memcpy(p, s, n);
	return p + n;
}

static int by_party(const void *a, const void *b)
{
	uint64_t x = ((const struct em_party *)a)->user_id;
	uint64_t y = ((const struct em_party *)b)->user_id;

	return x < y ? -1 : x > y;
}

void em_text_hash(const char *text, unsigned char hash[EM_HASH_BYTES])
{
	crypto_generichash(hash, EM_HASH_BYTES, (const unsigned char *)text, strlen(text), NULL, 0);
}

unsigned char *em_agreement_bytes(uint64_t room_id, uint32_t version, const char *starts_on,
                                  const char *ends_on, const char *terms, struct em_party *parties,
                                  size_t n, size_t *len)
{
	size_t total = sizeof(agreement_label) + 8 + 4 + 4 + strlen(starts_on) + 4 +
	               strlen(ends_on) + EM_HASH_BYTES + 4;
	unsigned char *buf, *p;

	for (size_t i = 0; i < n; i++)
		total += 8 + 4 + strlen(parties[i].role) + EM_SIGN_PK_BYTES + EM_BOX_PK_BYTES;
	if (!(buf = malloc(total)))
		return NULL;
	qsort(parties, n, sizeof(*parties), by_party);
	p = buf;
	memcpy(p, agreement_label, sizeof(agreement_label));
	p += sizeof(agreement_label);
	p = put_u64(p, room_id);
	p = put_u32(p, version);
	p = put_lp(p, starts_on, strlen(starts_on));
	p = put_lp(p, ends_on, strlen(ends_on));
	em_text_hash(terms, p);
	p += EM_HASH_BYTES;
	p = put_u32(p, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		p = put_u64(p, parties[i].user_id);
		p = put_lp(p, parties[i].role, strlen(parties[i].role));
		memcpy(p, parties[i].sign_pk, EM_SIGN_PK_BYTES);
		p += EM_SIGN_PK_BYTES;
		memcpy(p, parties[i].box_pk, EM_BOX_PK_BYTES);
		p += EM_BOX_PK_BYTES;
	}
	*len = total;
	return buf;
}

int em_agreement_hash(uint64_t room_id, uint32_t version, const char *starts_on,
                      const char *ends_on, const char *terms, struct em_party *parties, size_t n,
                      unsigned char hash[EM_HASH_BYTES])
{
	size_t len;
	unsigned char *b =
	    em_agreement_bytes(room_id, version, starts_on, ends_on, terms, parties, n, &len);

	if (!b)
		return -1;
	crypto_generichash(hash, EM_HASH_BYTES, b, len, NULL, 0);
	free(b);
	return 0;
}

int em_agreement_sign(uint64_t room_id, uint32_t version, const char *starts_on,
                      const char *ends_on, const char *terms, struct em_party *parties, size_t n,
                      const unsigned char sign_sk[EM_SIGN_SK_BYTES],
                      unsigned char sig[EM_SIG_BYTES])
{
	size_t len;
	unsigned char *b =
	    em_agreement_bytes(room_id, version, starts_on, ends_on, terms, parties, n, &len);

	if (!b)
		return -1;
	crypto_sign_detached(sig, NULL, b, len, sign_sk);
	free(b);
	return 0;
}

int em_agreement_verify(uint64_t room_id, uint32_t version, const char *starts_on,
                        const char *ends_on, const char *terms, struct em_party *parties, size_t n,
                        const unsigned char sign_pk[EM_SIGN_PK_BYTES],
                        const unsigned char sig[EM_SIG_BYTES])
{
	size_t len;
	unsigned char *b =
	    em_agreement_bytes(room_id, version, starts_on, ends_on, terms, parties, n, &len);
	int rc;

	if (!b)
		return -1;
	rc = crypto_sign_verify_detached(sig, b, len, sign_pk) ? -1 : 0;
	free(b);
	return rc;
}

size_t em_consent_bytes(const unsigned char sign_pk[EM_SIGN_PK_BYTES], const char *purpose,
                        const char *subject, const unsigned char text_hash[EM_HASH_BYTES],
                        const char *action, int64_t at, unsigned char *out)
{
	size_t np = strlen(purpose), ns = strlen(subject), na = strlen(action);
	unsigned char *p = out;

	if (np > 64 || ns > 64 || na > 8)
		return 0;
	memcpy(p, consent_label, sizeof(consent_label));
	p += sizeof(consent_label);
	memcpy(p, sign_pk, EM_SIGN_PK_BYTES);
	p += EM_SIGN_PK_BYTES;
	p = put_lp(p, purpose, np);
	p = put_lp(p, subject, ns);
	memcpy(p, text_hash, EM_HASH_BYTES);
	p += EM_HASH_BYTES;
	p = put_lp(p, action, na);
	p = put_u64(p, (uint64_t)at);
	return (size_t)(p - out);
}

int em_consent_sign(const unsigned char sign_pk[EM_SIGN_PK_BYTES], const char *purpose,
                    const char *subject, const unsigned char text_hash[EM_HASH_BYTES],
                    const char *action, int64_t at, const unsigned char sign_sk[EM_SIGN_SK_BYTES],
                    unsigned char sig[EM_SIG_BYTES])
{
	unsigned char b[EM_CONSENT_BYTES_MAX];
	size_t n = em_consent_bytes(sign_pk, purpose, subject, text_hash, action, at, b);

	if (!n)
		return -1;
	crypto_sign_detached(sig, NULL, b, n, sign_sk);
	return 0;
}

int em_consent_verify(const unsigned char sign_pk[EM_SIGN_PK_BYTES], const char *purpose,
                      const char *subject, const unsigned char text_hash[EM_HASH_BYTES],
                      const char *action, int64_t at, const unsigned char sig[EM_SIG_BYTES])
{
	unsigned char b[EM_CONSENT_BYTES_MAX];
	size_t n = em_consent_bytes(sign_pk, purpose, subject, text_hash, action, at, b);

	if (!n)
		return -1;
	return crypto_sign_verify_detached(sig, b, n, sign_pk) ? -1 : 0;
}

/* ---- the consent ledger's hash chain ------------------------------------------ */

static const char ledger_label[] = "ementor ledger v1";

void em_ledger_entry_hash(const unsigned char prev_hash[EM_HASH_BYTES], uint64_t seq,
                          uint64_t user_id, const unsigned char *consent_bytes, size_t consent_len,
                          const unsigned char sig[EM_SIG_BYTES], uint64_t recorded_us,
                          unsigned char entry_hash[EM_HASH_BYTES])
{
	crypto_generichash_state st;
	unsigned char n8[8];

	crypto_generichash_init(&st, NULL, 0, EM_HASH_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)ledger_label, sizeof(ledger_label));
	crypto_generichash_update(&st, prev_hash, EM_HASH_BYTES);
	put_u64(n8, seq);
	crypto_generichash_update(&st, n8, 8);
	put_u64(n8, user_id);
	crypto_generichash_update(&st, n8, 8);
	crypto_generichash_update(&st, consent_bytes, consent_len);
	crypto_generichash_update(&st, sig, EM_SIG_BYTES);
	put_u64(n8, recorded_us);
	crypto_generichash_update(&st, n8, 8);
	crypto_generichash_final(&st, entry_hash, EM_HASH_BYTES);
}
