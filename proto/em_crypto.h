/*
 * em_crypto.h - the account key scheme shared by every ementor client
 * (DESIGN.md section 6, docs/SECURITY.md). libsodium only.
 *
 *   master   = Argon2id13(password, salt, opslimit, memlimit)         32 bytes
 *   auth_key = crypto_kdf_derive_from_key(32, 1, "ementor_", master)  sent at login
 *   wrap_key = crypto_kdf_derive_from_key(32, 2, "ementor_", master)  never sent
 *   backup   = nonce(24) || XChaCha20-Poly1305-IETF(wrap_key, nonce,
 *                              sign_sk(64) || box_sk(32),
 *                              ad = "ementor key backup v1\0" || username)
 *
 * The server stores only BLAKE2b-256(auth_key) and the backup, so it can
 * neither learn the password nor unwrap the keys.
 */
#ifndef EM_CRYPTO_H
#define EM_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <sodium.h>

#define EM_SIGN_PK_BYTES crypto_sign_PUBLICKEYBYTES /* 32 */
#define EM_SIGN_SK_BYTES crypto_sign_SECRETKEYBYTES /* 64 */
#define EM_BOX_PK_BYTES  crypto_box_PUBLICKEYBYTES  /* 32 */
#define EM_BOX_SK_BYTES  crypto_box_SECRETKEYBYTES  /* 32 */
#define EM_BACKUP_BYTES                                                                            \
	(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + EM_SIGN_SK_BYTES + EM_BOX_SK_BYTES +       \
	 crypto_aead_xchacha20poly1305_ietf_ABYTES) /* 136 */
#define EM_FINGERPRINT_BYTES 16
/* "xxxx xxxx ... " : 8 groups of 4 hex digits */
#define EM_FINGERPRINT_STRLEN (EM_FINGERPRINT_BYTES * 2 + EM_FINGERPRINT_BYTES / 2)

/* Defaults a client uses when it creates an account: libsodium's INTERACTIVE. */
#define EM_KDF_OPSLIMIT_DEFAULT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define EM_KDF_MEMLIMIT_DEFAULT crypto_pwhash_MEMLIMIT_INTERACTIVE

struct em_keys {
	unsigned char sign_pk[EM_SIGN_PK_BYTES];
	unsigned char sign_sk[EM_SIGN_SK_BYTES];
	unsigned char box_pk[EM_BOX_PK_BYTES];
	unsigned char box_sk[EM_BOX_SK_BYTES];
};

/* Call once before anything else; returns 0, or -1 if libsodium cannot start. */
int em_crypto_init(void);

/*
 * Derives auth_key and wrap_key from the password. Slow on purpose (Argon2id):
 * never call it on a service thread. Returns 0, or -1 (out of memory).
 */
int em_kdf_derive(const char *password, size_t password_len, const unsigned char salt[16],
                  uint64_t opslimit, uint64_t memlimit, unsigned char auth_key[32],
                  unsigned char wrap_key[32]);

void em_keys_generate(struct em_keys *keys);
/* Wipes the secret halves. */
void em_keys_wipe(struct em_keys *keys);

/* Seals the secret keys into out[EM_BACKUP_BYTES]. */
void em_keys_wrap(const struct em_keys *keys, const unsigned char wrap_key[32],
                  const char *username, unsigned char out[EM_BACKUP_BYTES]);
/*
 * Opens a backup and restores the secret keys into keys->sign_sk / box_sk, and
 * recomputes the public halves from them. Returns 0, or -1 if the backup does
 * not open (wrong password, another user's backup, tampering).
 */
int em_keys_unwrap(struct em_keys *keys, const unsigned char wrap_key[32], const char *username,
                   const unsigned char *backup, size_t backup_len);

/*
 * Key fingerprint of a user's public keys: the first 16 bytes of
 * BLAKE2b-256("ementor fingerprint v1\0" || sign_pk || box_pk), printed as
 * eight groups of four lower-case hex digits separated by spaces.
 */
void em_fingerprint(const unsigned char sign_pk[32], const unsigned char box_pk[32],
                    char out[EM_FINGERPRINT_STRLEN]);

#endif
