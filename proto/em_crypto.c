/*
 * em_crypto.c - account key derivation, key backup wrapping and key
 * fingerprints (em_crypto.h has the scheme). Used by clients; the server only
 * uses em_fingerprint() so that both sides print the same string.
 */
#include <string.h>

#include "em_crypto.h"
#include "em_proto.h"

_Static_assert(EM_BACKUP_BYTES == EM_KEY_BACKUP_BYTES, "backup size on the wire");

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
