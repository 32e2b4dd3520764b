/*
 * em_crypto.h - the account key scheme shared by every ementor client
 * (docs/SECURITY.md). libsodium only.
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
 * Derives auth_key and wrap_key from the password's bytes as given (a client
 * passes what the user typed through em_kdf_derive_password(), below). Slow on
 * purpose (Argon2id): never call it on a service thread. Returns 0, or -1
 * (out of memory).
 */
int em_kdf_derive(const char *password, size_t password_len, const unsigned char salt[16],
                  uint64_t opslimit, uint64_t memlimit, unsigned char auth_key[32],
                  unsigned char wrap_key[32]);

/*
 * A password as Argon2id takes it (docs/PROTOCOL.md "Account keys"): its
 * UTF-8 after Unicode Normalization Form C (em_password.c: libunistring
 * natively, the JavaScript engine's normalize('NFC') in WebAssembly).
 */
enum em_password_err {
	EM_PASSWORD_OK = 0,
	EM_PASSWORD_NOMEM = -1,    /* out of memory (Argon2id's memlimit included) */
	EM_PASSWORD_NOT_UTF8 = -2, /* not well-formed UTF-8: refused, never guessed at */
};
/*
 * The NFC form of password[0..len) in *out (*out_len bytes; the caller frees
 * it with em_password_free(), which wipes it). Returns an em_password_err.
 */
int em_password_bytes(const char *password, size_t len, unsigned char **out, size_t *out_len);
void em_password_free(unsigned char *bytes, size_t len);
/*
 * em_kdf_derive() of em_password_bytes(password): what every client calls with
 * what the user typed. Returns an em_password_err.
 */
int em_kdf_derive_password(const char *password, size_t password_len, const unsigned char salt[16],
                           uint64_t opslimit, uint64_t memlimit, unsigned char auth_key[32],
                           unsigned char wrap_key[32]);
const char *em_password_strerror(int err);

void em_keys_generate(struct em_keys *keys);
/* Wipes the secret halves. */
void em_keys_wipe(struct em_keys *keys);

/*
 * Recovery codes (docs/PROTOCOL.md "Recovery code"): 20 random bytes shown
 * as 32 characters of Crockford's base32 in eight groups of four
 * ("7KQ2-M9XD-..."), from which
 *   master = BLAKE2b-256("ementor recovery v1" 0x00 || code)
 *   auth   = crypto_kdf_derive_from_key(32, 1, "ementrec", master)
 *   wrap   = crypto_kdf_derive_from_key(32, 2, "ementrec", master)
 * The server stores BLAKE2b-256(auth) and the keys sealed with em_keys_wrap()
 * under wrap. The code is as strong as a key (160 bits), so no slow KDF.
 */
#define EM_RECOVERY_BYTES  20
#define EM_RECOVERY_STRLEN 40 /* 32 characters, 7 dashes, NUL */
void em_recovery_keys(const unsigned char code[EM_RECOVERY_BYTES], unsigned char auth[32],
                      unsigned char wrap[32]);
/* The code as it is printed for the user. */
void em_recovery_format(const unsigned char code[EM_RECOVERY_BYTES], char out[EM_RECOVERY_STRLEN]);
/*
 * The code typed back: case, spaces and dashes do not matter, and the letters
 * base32 leaves out are read as the digits they look like (O as 0, I and L
 * as 1). Returns 0, or -1 when it is not 32 such characters.
 */
int em_recovery_parse(const char *text, unsigned char code[EM_RECOVERY_BYTES]);

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

/*
 * Room keys, epochs and messages (docs/SECURITY.md, PROTOCOL.md section 5).
 * Every signed byte string starts with a distinct NUL-terminated label and
 * has a fixed layout; integers are unsigned big-endian (u64 = 8 bytes, u32 =
 * 4 bytes). Nothing signed is JSON.
 */
#define EM_ROOM_KEY_BYTES 32
/* Recipients an envelope names: at most a room's members (1 mentor + 5 mentees). */
#define EM_KEY_RECIPIENTS_MAX 6
#define EM_SEALED_KEY_BYTES                                                                        \
	(crypto_box_SEALBYTES + 8 + 4 + 4 + 8 * EM_KEY_RECIPIENTS_MAX + EM_ROOM_KEY_BYTES +        \
	 crypto_sign_BYTES)                    /* 208 */
#define EM_SIG_BYTES         crypto_sign_BYTES /* 64 */
#define EM_MSG_ID_BYTES      16
#define EM_DEVICE_ID_BYTES   8
#define EM_MSG_META_BYTES    (EM_DEVICE_ID_BYTES + 8 + 8) /* device, counter, written_ms */
#define EM_MSG_PAD_BLOCK     256
#define EM_MSG_PLAINTEXT_MAX 16384
#define EM_MSG_FRANK_BYTES   32 /* a v3 message's franking key, and its commitment */
/* v3 carries the 32-byte commitment before the nonce (a v2 message is 32 bytes shorter) */
#define EM_MSG_CIPHERTEXT_MAX                                                                      \
	(EM_MSG_FRANK_BYTES + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +                       \
	 EM_MSG_PLAINTEXT_MAX + EM_MSG_PAD_BLOCK + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define EM_MSG_CIPHERTEXT_MIN                                                                      \
	(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + EM_MSG_PAD_BLOCK +                         \
	 crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define EM_SAFETY_STRLEN 72 /* 12 groups of 5 digits, spaces, NUL */

/*
 * What a room key envelope names: the room, epoch, recipient, committer, the
 * agreement version the committer checked the roster against (0 in a
 * programme that signed away agreements), and every recipient of the epoch
 * (ascending user ids; n of them), so that each member knows exactly who
 * holds the key.
 */
struct em_room_key_id {
	uint64_t room_id;
	uint64_t epoch;
	uint64_t recipient_id;
	uint64_t committer_id;
	uint32_t agreement_version;
	uint32_t n_recipients;
	uint64_t recipients[EM_KEY_RECIPIENTS_MAX];
};

/*
 * Seals a room key for one recipient: crypto_box_seal to their box_pk of
 *   committer_id(u64) || agreement_version(u32) || n(u32) || recipients(6 x u64,
 *   ascending, zero after the n-th) || room_key(32) || sig(64),
 *   where sig is Ed25519 by the committer over "ementor room key v2\0" ||
 *   room_id || epoch || recipient_id || committer_id || agreement_version ||
 *   n || recipients(6 x u64) || room_key.
 * Returns 0, or -1 when the recipients are not 1..6 ascending ids that include
 * recipient_id.
 */
int em_room_key_seal(const unsigned char room_key[EM_ROOM_KEY_BYTES],
                     const struct em_room_key_id *id,
                     const unsigned char committer_sign_sk[EM_SIGN_SK_BYTES],
                     const unsigned char recipient_box_pk[EM_BOX_PK_BYTES],
                     unsigned char sealed[EM_SEALED_KEY_BYTES]);
/*
 * Opens a sealed room key addressed to us: fills id's committer_id,
 * agreement_version, n_recipients and recipients (the caller fills room_id,
 * epoch and recipient_id), the room key and the committer's signature.
 * Returns 0, or -1 if it does not open or names an impossible recipient list
 * (not 1..6 ascending ids). The caller must then check the signature with
 * em_room_key_verify() and the committer's pinned sign_pk (and that the
 * committer may commit, and that every recipient may hold the key) before
 * trusting the key.
 */
int em_room_key_open(const unsigned char sealed[EM_SEALED_KEY_BYTES], const struct em_keys *me,
                     struct em_room_key_id *id, unsigned char room_key[EM_ROOM_KEY_BYTES],
                     unsigned char sig[EM_SIG_BYTES]);
/* 0 if sig is the committer's signature over this key and everything id names. */
int em_room_key_verify(const unsigned char room_key[EM_ROOM_KEY_BYTES],
                       const struct em_room_key_id *id, const unsigned char sig[EM_SIG_BYTES],
                       const unsigned char committer_sign_pk[EM_SIGN_PK_BYTES]);
/* Whether user_id is one of the recipients id names. */
int em_room_key_names(const struct em_room_key_id *id, uint64_t user_id);

/* One recipient of an epoch commit. */
struct em_commit_entry {
	uint64_t recipient_id;
	unsigned char sealed[EM_SEALED_KEY_BYTES];
};

/* What an epoch commit names besides its envelopes. */
struct em_commit {
	uint64_t room_id;
	uint64_t epoch;
	uint64_t committer_id;
	uint32_t agreement_version;
};

/*
 * The bytes an epoch commit's signature covers:
 *   "ementor epoch commit v2\0" || room_id || epoch || committer_id ||
 *   agreement_version(u32) || n(u32) ||
 *   for each entry in ascending recipient_id: recipient_id || BLAKE2b-256(sealed)
 * Entries are sorted in place. Returns a malloc'd buffer (caller frees) and its
 * length in *len, or NULL.
 */
unsigned char *em_commit_bytes(const struct em_commit *c, struct em_commit_entry *entries, size_t n,
                               size_t *len);
/* Signs / verifies an epoch commit. verify returns 0 when valid. */
int em_commit_sign(const struct em_commit *c, struct em_commit_entry *entries, size_t n,
                   const unsigned char sign_sk[EM_SIGN_SK_BYTES], unsigned char sig[EM_SIG_BYTES]);
int em_commit_verify(const struct em_commit *c, struct em_commit_entry *entries, size_t n,
                     const unsigned char sign_pk[EM_SIGN_PK_BYTES],
                     const unsigned char sig[EM_SIG_BYTES]);

/*
 * What a sender signs about a message besides its text, inside the
 * ciphertext: the sending device's random id, a counter per room and device
 * (1, 2, 3, ... — a resend keeps its number) and the sender's clock. A
 * reader uses them to notice a message dropped, reordered, replayed or
 * re-dated by the server.
 */
struct em_msg_meta {
	unsigned char device[EM_DEVICE_ID_BYTES];
	uint64_t counter;
	uint64_t written_ms; /* Unix time in milliseconds */
};

/*
 * Encrypts and signs a message.
 *   ad         = "ementor message v2\0" || room_id || epoch || sender_id || client_msg_id(16)
 *   body       = device(8) || counter(u64) || written_ms(u64) || plaintext
 *   ciphertext = nonce(24) || XChaCha20-Poly1305-IETF(room_key, nonce,
 *                                 sodium_pad(body, 256), ad)
 *   sig        = Ed25519(sender_sign_sk, ad || len(ciphertext) (u32) || ciphertext)
 * ciphertext must have room for EM_MSG_CIPHERTEXT_MAX bytes. Returns the
 * ciphertext length, or -1 if plaintext is longer than EM_MSG_PLAINTEXT_MAX.
 */
int em_msg_encrypt(const unsigned char room_key[EM_ROOM_KEY_BYTES], uint64_t room_id,
                   uint64_t epoch, uint64_t sender_id, const unsigned char client_msg_id[16],
                   const struct em_msg_meta *meta, const unsigned char *plaintext,
                   size_t plaintext_len, const unsigned char sender_sign_sk[EM_SIGN_SK_BYTES],
                   unsigned char *ciphertext, unsigned char sig[EM_SIG_BYTES]);

enum em_msg_status {
	EM_MSG_OK = 0,
	EM_MSG_BAD_SIGNATURE = -1,  /* not signed by the sender's pinned key */
	EM_MSG_UNDECRYPTABLE = -2,  /* wrong key or tampered */
	EM_MSG_MALFORMED = -3,      /* wrong sizes or padding */
	EM_MSG_BAD_COMMITMENT = -4, /* v3: the franking commitment does not match the body */
};
/*
 * Verifies the sender's signature first, then decrypts; a v2 or a v3
 * message (em_msg_open() without the franking details). plaintext must have
 * room for ciphertext_len bytes; *plaintext_len receives the text length and
 * *meta what the sender signed about it.
 */
int em_msg_decrypt(const unsigned char room_key[EM_ROOM_KEY_BYTES], uint64_t room_id,
                   uint64_t epoch, uint64_t sender_id, const unsigned char client_msg_id[16],
                   const unsigned char *ciphertext, size_t ciphertext_len,
                   const unsigned char sig[EM_SIG_BYTES],
                   const unsigned char sender_sign_pk[EM_SIGN_PK_BYTES], struct em_msg_meta *meta,
                   unsigned char *plaintext, size_t *plaintext_len);

/*
 * A franked message, v3 (docs/PROTOCOL.md 5.1 and 13): what v2 is, plus a
 * commitment to the body that a reader can later show a third party (a
 * concern report) without handing over the room key.
 *   ad         = "ementor message v3\0" || room_id || epoch || sender_id || client_msg_id(16)
 *   fk         = 32 random bytes (the franking key, fresh per message)
 *   c          = BLAKE2b-256(key = fk, "ementor franking v1\0" || device(8) ||
 *                            counter(u64) || written_ms(u64) || plaintext)
 *   body       = fk(32) || device(8) || counter(u64) || written_ms(u64) || plaintext
 *   ciphertext = c(32) || nonce(24) || XChaCha20-Poly1305-IETF(room_key, nonce,
 *                                          sodium_pad(body, 256), ad)
 *   sig        = Ed25519(sender_sign_sk, ad || len(ciphertext) (u32) || ciphertext)
 * The signature covers c, so it is checked before decrypting, as v2's is;
 * a reader recomputes c from the fk and body it decrypted and refuses a
 * mismatch (EM_MSG_BAD_COMMITMENT), so no message it showed as verified can
 * later fail a report. Same arguments and result as em_msg_encrypt().
 */
int em_msg_encrypt_v3(const unsigned char room_key[EM_ROOM_KEY_BYTES], uint64_t room_id,
                      uint64_t epoch, uint64_t sender_id, const unsigned char client_msg_id[16],
                      const struct em_msg_meta *meta, const unsigned char *plaintext,
                      size_t plaintext_len, const unsigned char sender_sign_sk[EM_SIGN_SK_BYTES],
                      unsigned char *ciphertext, unsigned char sig[EM_SIG_BYTES]);

/* What em_msg_open() says of a message's format: 2, or 3 with its franking key. */
struct em_msg_frank {
	int version;
	unsigned char fk[EM_MSG_FRANK_BYTES];
};

/*
 * em_msg_decrypt() that also says which format the message had and, for v3,
 * its franking key (frank may be NULL). The signature is tried as v3 first,
 * then v2. Wipe frank->fk after use.
 */
int em_msg_open(const unsigned char room_key[EM_ROOM_KEY_BYTES], uint64_t room_id, uint64_t epoch,
                uint64_t sender_id, const unsigned char client_msg_id[16],
                const unsigned char *ciphertext, size_t ciphertext_len,
                const unsigned char sig[EM_SIG_BYTES],
                const unsigned char sender_sign_pk[EM_SIGN_PK_BYTES], struct em_msg_meta *meta,
                unsigned char *plaintext, size_t *plaintext_len, struct em_msg_frank *frank);

/* c of a v3 message (above) for this franking key, metadata and text. */
void em_msg_commitment(const unsigned char fk[EM_MSG_FRANK_BYTES], const struct em_msg_meta *meta,
                       const unsigned char *text, size_t text_len,
                       unsigned char c[EM_MSG_FRANK_BYTES]);

/*
 * What a third party given a reported v3 message checks without the room
 * key: the sender's signature over this room, epoch, sender and message id
 * and the exact ciphertext, and that the ciphertext's commitment is the one
 * fk, meta and text make. EM_MSG_OK, EM_MSG_BAD_SIGNATURE (not signed by
 * that key for that room/epoch/sender, or not a v3 message),
 * EM_MSG_BAD_COMMITMENT (the text, metadata or fk differ from what was
 * signed) or EM_MSG_MALFORMED.
 */
int em_msg_frank_verify(uint64_t room_id, uint64_t epoch, uint64_t sender_id,
                        const unsigned char client_msg_id[16], const unsigned char *ciphertext,
                        size_t ciphertext_len, const unsigned char sig[EM_SIG_BYTES],
                        const unsigned char sender_sign_pk[EM_SIGN_PK_BYTES],
                        const unsigned char fk[EM_MSG_FRANK_BYTES], const struct em_msg_meta *meta,
                        const unsigned char *text, size_t text_len);

/*
 * A diary record (docs/PROTOCOL.md 6.5): the writer's entry of a held
 * meeting (kind EM_DIARY_ENTRY, `number` its version 1, 2, ...) or one of
 * the mentor's remarks (kind EM_DIARY_REMARK, `number` 1, 2, ... per meeting).
 *   ad         = "ementor diary v1\0" || room_id || checkpoint_id || epoch
 *                || author_id || kind (u8) || number (u32)
 *   body       = written_ms (u64) || text
 *   ciphertext = nonce(24) || XChaCha20-Poly1305-IETF(room_key, nonce,
 *                                 sodium_pad(body, 256), ad)
 *   sig        = Ed25519(author_sign_sk, ad || len(ciphertext) (u32) || ciphertext)
 * Sizes as a message's: text at most EM_MSG_PLAINTEXT_MAX bytes, ciphertext
 * EM_MSG_CIPHERTEXT_MIN..EM_MSG_CIPHERTEXT_MAX (the buffer must hold the max).
 * Returns the ciphertext length, or -1 (text too long, bad kind, no memory).
 */
#define EM_DIARY_ENTRY  1
#define EM_DIARY_REMARK 2
struct em_diary_ref {
	uint64_t room_id, checkpoint_id, epoch, author_id;
	unsigned kind;   /* EM_DIARY_ENTRY or EM_DIARY_REMARK */
	uint32_t number; /* the entry's version, or the remark's number */
};
int em_diary_encrypt(const unsigned char room_key[EM_ROOM_KEY_BYTES],
                     const struct em_diary_ref *ref, uint64_t written_ms, const unsigned char *text,
                     size_t text_len, const unsigned char author_sign_sk[EM_SIGN_SK_BYTES],
                     unsigned char *ciphertext, unsigned char sig[EM_SIG_BYTES]);
/*
 * Verifies the author's signature over ref first, then decrypts (enum
 * em_msg_status). text must have room for ciphertext_len bytes; *text_len
 * and *written_ms receive what the author wrote and signed.
 */
int em_diary_decrypt(const unsigned char room_key[EM_ROOM_KEY_BYTES],
                     const struct em_diary_ref *ref, const unsigned char *ciphertext,
                     size_t ciphertext_len, const unsigned char sig[EM_SIG_BYTES],
                     const unsigned char author_sign_pk[EM_SIGN_PK_BYTES], uint64_t *written_ms,
                     unsigned char *text, size_t *text_len);

/*
 * A programme's settings, signed by the manager who created it:
 *   "ementor programme settings v1\0" || programme_id || creator_id ||
 *   agreement_required (one byte, 0 or 1)
 * Clients believe that a programme does without agreements only when this
 * signature verifies with the creator's pinned key.
 */
void em_programme_sign(uint64_t programme_id, uint64_t creator_id, int agreement_required,
                       const unsigned char sign_sk[EM_SIGN_SK_BYTES],
                       unsigned char sig[EM_SIG_BYTES]);
int em_programme_verify(uint64_t programme_id, uint64_t creator_id, int agreement_required,
                        const unsigned char sign_pk[EM_SIGN_PK_BYTES],
                        const unsigned char sig[EM_SIG_BYTES]);

/*
 * The safety number two users compare in person: for each user
 * BLAKE2b-256("ementor safety v1\0" || sign_pk || box_pk); the two hashes in
 * ascending byte order are hashed together with BLAKE2b-512, and the first 60
 * bytes give 12 groups of 5 decimal digits (each group: 5 bytes as a
 * big-endian integer mod 100000). Symmetric: both sides print the same.
 */
void em_safety_number(const unsigned char a_sign_pk[32], const unsigned char a_box_pk[32],
                      const unsigned char b_sign_pk[32], const unsigned char b_box_pk[32],
                      char out[EM_SAFETY_STRLEN]);

/* ---- agreements and consent (docs/PROTOCOL.md section 7) ------------------- */

#define EM_HASH_BYTES 32 /* BLAKE2b-256 */

/* One party of an agreement version. */
struct em_party {
	uint64_t user_id;
	const char *role; /* "manager", "mentor", "mentee" */
	unsigned char sign_pk[EM_SIGN_PK_BYTES];
	unsigned char box_pk[EM_BOX_PK_BYTES];
};

/*
 * The bytes every party of an agreement version signs (lp(x) = length u32 || x):
 *   "ementor agreement v1\0" || room_id u64 || version u32 || lp(starts_on) ||
 *   lp(ends_on) || BLAKE2b-256(terms) || n u32 ||
 *   for each party in ascending user_id: user_id u64 || lp(role) || sign_pk || box_pk
 * Dates are "YYYY-MM-DD". Parties are sorted in place. Returns a malloc'd
 * buffer (caller frees) and its length in *len, or NULL.
 */
unsigned char *em_agreement_bytes(uint64_t room_id, uint32_t version, const char *starts_on,
                                  const char *ends_on, const char *terms, struct em_party *parties,
                                  size_t n, size_t *len);
/* BLAKE2b-256 of em_agreement_bytes: the text_hash of the consent record of a signature. */
int em_agreement_hash(uint64_t room_id, uint32_t version, const char *starts_on,
                      const char *ends_on, const char *terms, struct em_party *parties, size_t n,
                      unsigned char hash[EM_HASH_BYTES]);
int em_agreement_sign(uint64_t room_id, uint32_t version, const char *starts_on,
                      const char *ends_on, const char *terms, struct em_party *parties, size_t n,
                      const unsigned char sign_sk[EM_SIGN_SK_BYTES],
                      unsigned char sig[EM_SIG_BYTES]);
/* 0 when sig is sign_pk's valid signature of the version. */
int em_agreement_verify(uint64_t room_id, uint32_t version, const char *starts_on,
                        const char *ends_on, const char *terms, struct em_party *parties, size_t n,
                        const unsigned char sign_pk[EM_SIGN_PK_BYTES],
                        const unsigned char sig[EM_SIG_BYTES]);

/*
 * A consent record, signed by the user:
 *   "ementor consent v1\0" || sign_pk || lp(purpose) || lp(subject) ||
 *   text_hash(32) || lp(action) || at (u64, Unix seconds)
 * Purpose and subject are at most 64 bytes each; action is "grant" or "withdraw".
 * Writes at most EM_CONSENT_BYTES_MAX bytes to out; returns the length, or 0
 * if a string is too long.
 */
#define EM_CONSENT_BYTES_MAX (sizeof("ementor consent v1") + 32 + 3 * 4 + 64 + 64 + 32 + 8 + 8)
size_t em_consent_bytes(const unsigned char sign_pk[EM_SIGN_PK_BYTES], const char *purpose,
                        const char *subject, const unsigned char text_hash[EM_HASH_BYTES],
                        const char *action, int64_t at, unsigned char *out);
int em_consent_sign(const unsigned char sign_pk[EM_SIGN_PK_BYTES], const char *purpose,
                    const char *subject, const unsigned char text_hash[EM_HASH_BYTES],
                    const char *action, int64_t at, const unsigned char sign_sk[EM_SIGN_SK_BYTES],
                    unsigned char sig[EM_SIG_BYTES]);
int em_consent_verify(const unsigned char sign_pk[EM_SIGN_PK_BYTES], const char *purpose,
                      const char *subject, const unsigned char text_hash[EM_HASH_BYTES],
                      const char *action, int64_t at, const unsigned char sig[EM_SIG_BYTES]);
/* BLAKE2b-256 of a text (privacy notice, share_progress sentence, agreement terms). */
void em_text_hash(const char *text, unsigned char hash[EM_HASH_BYTES]);

/*
 * One link of the consent ledger's hash chain (docs/PROTOCOL.md 7.1):
 *   entry_hash = BLAKE2b-256("ementor ledger v1\0" || prev_hash || seq u64 ||
 *                user_id u64 || consent bytes || signature || recorded_us u64)
 * prev_hash is the entry_hash of entry seq - 1, 32 zero bytes for seq 1;
 * recorded_us the server's clock when it appended the entry (microseconds
 * since 1970). The server computes it; a verifier recomputes it.
 */
void em_ledger_entry_hash(const unsigned char prev_hash[EM_HASH_BYTES], uint64_t seq,
                          uint64_t user_id, const unsigned char *consent_bytes, size_t consent_len,
                          const unsigned char sig[EM_SIG_BYTES], uint64_t recorded_us,
                          unsigned char entry_hash[EM_HASH_BYTES]);

#endif
