/*
 * wasm_api.c - the C entry points of the WebAssembly core that are not
 * libementor-proto functions themselves: start-up, and flat-argument forms of
 * the proto functions that take structs (struct em_keys, em_room_key_id,
 * em_commit, em_commit_entry, em_msg_meta, em_party, em_request), so that the JavaScript side
 * (ementor-core.mjs) only ever passes pointers to byte arrays, strings, sizes and 64-bit integers
 * and never depends on a struct layout. Everything else the JavaScript side calls is exported from
 * proto/ unchanged (web/core/CMakeLists.txt lists it).
 *
 * Memory: every pointer argument is owned by the caller (the JavaScript side
 * allocates with malloc in the module's memory, wipes secrets and frees);
 * wasm_commit_bytes() and wasm_agreement_bytes() return malloc'd buffers the
 * caller frees. All functions run on the thread that loaded the module.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <sodium.h>

#include "em_crypto.h"
#include "em_proto.h"

/* Exported for JavaScript only: the prototypes keep -Wmissing-prototypes quiet. */
int wasm_init(void);
int wasm_kdf_derive(const char *password, size_t password_len, const unsigned char *salt,
                    uint64_t opslimit, uint64_t memlimit, unsigned char *auth_key,
                    unsigned char *wrap_key);
void wasm_kdf_defaults(uint64_t *opslimit, uint64_t *memlimit);
void wasm_keys_generate(unsigned char *sign_pk, unsigned char *sign_sk, unsigned char *box_pk,
                        unsigned char *box_sk);
void wasm_keys_wrap(const unsigned char *sign_sk, const unsigned char *box_sk,
                    const unsigned char *wrap_key, const char *username, unsigned char *out);
int wasm_keys_unwrap(const unsigned char *wrap_key, const char *username,
                     const unsigned char *backup, size_t backup_len, unsigned char *sign_pk,
                     unsigned char *sign_sk, unsigned char *box_pk, unsigned char *box_sk);
int wasm_room_key_seal(const unsigned char *room_key, uint64_t room_id, uint64_t epoch,
                       uint64_t recipient_id, uint64_t committer_id, uint32_t agreement_version,
                       uint32_t n, const uint64_t *recipients,
                       const unsigned char *committer_sign_sk,
                       const unsigned char *recipient_box_pk, unsigned char *sealed);
int wasm_room_key_open(const unsigned char *sealed, const unsigned char *box_pk,
                       const unsigned char *box_sk, uint64_t *committer_id,
                       uint32_t *agreement_version, uint32_t *n, uint64_t *recipients,
                       unsigned char *room_key, unsigned char *sig);
int wasm_room_key_verify(const unsigned char *room_key, uint64_t room_id, uint64_t epoch,
                         uint64_t recipient_id, uint64_t committer_id, uint32_t agreement_version,
                         uint32_t n, const uint64_t *recipients, const unsigned char *sig,
                         const unsigned char *committer_sign_pk);
int wasm_room_key_names(uint32_t n, const uint64_t *recipients, uint64_t user_id);
unsigned char *wasm_commit_bytes(uint64_t room_id, uint64_t epoch, uint64_t committer_id,
                                 uint32_t agreement_version, const uint64_t *recipient_ids,
                                 const unsigned char *sealed, size_t n, size_t *len);
int wasm_commit_sign(uint64_t room_id, uint64_t epoch, uint64_t committer_id,
                     uint32_t agreement_version, const uint64_t *recipient_ids,
                     const unsigned char *sealed, size_t n, const unsigned char *sign_sk,
                     unsigned char *sig);
int wasm_commit_verify(uint64_t room_id, uint64_t epoch, uint64_t committer_id,
                       uint32_t agreement_version, const uint64_t *recipient_ids,
                       const unsigned char *sealed, size_t n, const unsigned char *sign_pk,
                       const unsigned char *sig);
int wasm_msg_encrypt(const unsigned char *room_key, uint64_t room_id, uint64_t epoch,
                     uint64_t sender_id, const unsigned char *client_msg_id,
                     const unsigned char *device, uint64_t counter, uint64_t written_ms,
                     const unsigned char *plaintext, size_t plaintext_len,
                     const unsigned char *sender_sign_sk, int v3, unsigned char *ciphertext,
                     unsigned char *sig);
int wasm_msg_decrypt(const unsigned char *room_key, uint64_t room_id, uint64_t epoch,
                     uint64_t sender_id, const unsigned char *client_msg_id,
                     const unsigned char *ciphertext, size_t ciphertext_len,
                     const unsigned char *sig, const unsigned char *sender_sign_pk,
                     unsigned char *device, uint64_t *counter, uint64_t *written_ms,
                     unsigned char *plaintext, size_t *plaintext_len);
int wasm_msg_frank_verify(uint64_t room_id, uint64_t epoch, uint64_t sender_id,
                          const unsigned char *client_msg_id, const unsigned char *ciphertext,
                          size_t ciphertext_len, const unsigned char *sig,
                          const unsigned char *sender_sign_pk, const unsigned char *fk,
                          const unsigned char *device, uint64_t counter, uint64_t written_ms,
                          const unsigned char *text, size_t text_len);
unsigned char *wasm_agreement_bytes(uint64_t room_id, uint32_t version, const char *starts_on,
                                    const char *ends_on, const char *terms,
                                    const uint64_t *user_ids, const char *const *roles,
                                    const unsigned char *sign_pks, const unsigned char *box_pks,
                                    size_t n, size_t *len);
int wasm_agreement_hash(uint64_t room_id, uint32_t version, const char *starts_on,
                        const char *ends_on, const char *terms, const uint64_t *user_ids,
                        const char *const *roles, const unsigned char *sign_pks,
                        const unsigned char *box_pks, size_t n, unsigned char *hash);
int wasm_agreement_sign(uint64_t room_id, uint32_t version, const char *starts_on,
                        const char *ends_on, const char *terms, const uint64_t *user_ids,
                        const char *const *roles, const unsigned char *sign_pks,
                        const unsigned char *box_pks, size_t n, const unsigned char *sign_sk,
                        unsigned char *sig);
int wasm_agreement_verify(uint64_t room_id, uint32_t version, const char *starts_on,
                          const char *ends_on, const char *terms, const uint64_t *user_ids,
                          const char *const *roles, const unsigned char *sign_pks,
                          const unsigned char *box_pks, size_t n, const unsigned char *sign_pk,
                          const unsigned char *sig);
int wasm_vault_seal(const unsigned char *key, const char *name, const unsigned char *in, size_t len,
                    unsigned char *out);
int wasm_vault_open(const unsigned char *key, const char *name, const unsigned char *in, size_t len,
                    unsigned char *out);
int wasm_request_parse(const char *buf, size_t len, int64_t *id, const char **op, char *field,
                       size_t field_len, char *message, size_t message_len);

/*
 * Starts libsodium and seeds jansson's hash function from libsodium's random
 * source (the module has no /dev/urandom for jansson to read). Returns 0, or
 * -1 when libsodium cannot start (no random source).
 */
int wasm_init(void)
{
	if (em_crypto_init() != 0)
		return -1;
	json_object_seed(randombytes_random() | 1u);
	return 0;
}

/*
 * em_kdf_derive(), then a wipe of Argon2id's working memory. libsodium 1.0.18
 * frees that memory (memlimit bytes, from which the derived keys can be
 * recomputed) without clearing it. Natively the allocation goes back to the
 * system; here it would stay readable in the module's linear memory, which
 * never shrinks. The allocator gives a request of the same size the block
 * just freed (the top of the heap), so allocating, clearing and freeing
 * memlimit bytes overwrites it (tests/wasm/node.test.mjs checks that the
 * memory holds no such block afterwards).
 */
int wasm_kdf_derive(const char *password, size_t password_len, const unsigned char *salt,
                    uint64_t opslimit, uint64_t memlimit, unsigned char *auth_key,
                    unsigned char *wrap_key)
{
	int rc =
	    em_kdf_derive(password, password_len, salt, opslimit, memlimit, auth_key, wrap_key);
	unsigned char *scrub = memlimit <= SIZE_MAX ? malloc((size_t)memlimit) : NULL;

	if (scrub) {
		sodium_memzero(scrub, (size_t)memlimit);
		free(scrub);
	}
	return rc;
}

/* The Argon2id parameters a client uses when it creates an account (em_crypto.h). */
void wasm_kdf_defaults(uint64_t *opslimit, uint64_t *memlimit)
{
	*opslimit = EM_KDF_OPSLIMIT_DEFAULT;
	*memlimit = EM_KDF_MEMLIMIT_DEFAULT;
}

static void keys_load(struct em_keys *k, const unsigned char *sign_pk, const unsigned char *sign_sk,
                      const unsigned char *box_pk, const unsigned char *box_sk)
{
	memset(k, 0, sizeof(*k));
	if (sign_pk)
		memcpy(k->sign_pk, sign_pk, sizeof(k->sign_pk));
	if (sign_sk)
		memcpy(k->sign_sk, sign_sk, sizeof(k->sign_sk));
	if (box_pk)
		memcpy(k->box_pk, box_pk, sizeof(k->box_pk));
	if (box_sk)
		memcpy(k->box_sk, box_sk, sizeof(k->box_sk));
}

static void keys_store(const struct em_keys *k, unsigned char *sign_pk, unsigned char *sign_sk,
                       unsigned char *box_pk, unsigned char *box_sk)
{
	memcpy(sign_pk, k->sign_pk, sizeof(k->sign_pk));
	memcpy(sign_sk, k->sign_sk, sizeof(k->sign_sk));
	memcpy(box_pk, k->box_pk, sizeof(k->box_pk));
	memcpy(box_sk, k->box_sk, sizeof(k->box_sk));
}

void wasm_keys_generate(unsigned char *sign_pk, unsigned char *sign_sk, unsigned char *box_pk,
                        unsigned char *box_sk)
{
	struct em_keys k;

	em_keys_generate(&k);
	keys_store(&k, sign_pk, sign_sk, box_pk, box_sk);
	em_keys_wipe(&k);
}

/* em_keys_wrap() reads only the secret halves. */
void wasm_keys_wrap(const unsigned char *sign_sk, const unsigned char *box_sk,
                    const unsigned char *wrap_key, const char *username, unsigned char *out)
{
	struct em_keys k;

	keys_load(&k, NULL, sign_sk, NULL, box_sk);
	em_keys_wrap(&k, wrap_key, username, out);
	em_keys_wipe(&k);
}

int wasm_keys_unwrap(const unsigned char *wrap_key, const char *username,
                     const unsigned char *backup, size_t backup_len, unsigned char *sign_pk,
                     unsigned char *sign_sk, unsigned char *box_pk, unsigned char *box_sk)
{
	struct em_keys k;
	int rc;

	memset(&k, 0, sizeof(k));
	rc = em_keys_unwrap(&k, wrap_key, username, backup, backup_len);
	if (rc == 0)
		keys_store(&k, sign_pk, sign_sk, box_pk, box_sk);
	em_keys_wipe(&k);
	return rc;
}

/*
 * A room key envelope's names from flat arguments. At most
 * EM_KEY_RECIPIENTS_MAX ids are read from recipients; n is kept as given, so
 * that proto refuses a longer list as it would natively.
 */
static void room_key_id_load(struct em_room_key_id *id, uint64_t room_id, uint64_t epoch,
                             uint64_t recipient_id, uint64_t committer_id,
                             uint32_t agreement_version, uint32_t n, const uint64_t *recipients)
{
	memset(id, 0, sizeof(*id));
	id->room_id = room_id;
	id->epoch = epoch;
	id->recipient_id = recipient_id;
	id->committer_id = committer_id;
	id->agreement_version = agreement_version;
	id->n_recipients = n;
	for (uint32_t i = 0; i < n && i < EM_KEY_RECIPIENTS_MAX; i++)
		id->recipients[i] = recipients[i];
}

/* recipients: n ids (ascending, 1..6 of them, recipient_id among them). Returns 0 or -1. */
int wasm_room_key_seal(const unsigned char *room_key, uint64_t room_id, uint64_t epoch,
                       uint64_t recipient_id, uint64_t committer_id, uint32_t agreement_version,
                       uint32_t n, const uint64_t *recipients,
                       const unsigned char *committer_sign_sk,
                       const unsigned char *recipient_box_pk, unsigned char *sealed)
{
	struct em_room_key_id id;

	room_key_id_load(&id, room_id, epoch, recipient_id, committer_id, agreement_version, n,
	                 recipients);
	return em_room_key_seal(room_key, &id, committer_sign_sk, recipient_box_pk, sealed);
}

/*
 * em_room_key_open() reads only the box key pair. recipients receives
 * EM_KEY_RECIPIENTS_MAX ids (zero after the *n-th).
 */
int wasm_room_key_open(const unsigned char *sealed, const unsigned char *box_pk,
                       const unsigned char *box_sk, uint64_t *committer_id,
                       uint32_t *agreement_version, uint32_t *n, uint64_t *recipients,
                       unsigned char *room_key, unsigned char *sig)
{
	struct em_room_key_id id;
	struct em_keys k;
	int rc;

	memset(&id, 0, sizeof(id));
	keys_load(&k, NULL, NULL, box_pk, box_sk);
	rc = em_room_key_open(sealed, &k, &id, room_key, sig);
	em_keys_wipe(&k);
	if (rc == 0) {
		*committer_id = id.committer_id;
		*agreement_version = id.agreement_version;
		*n = id.n_recipients;
		memcpy(recipients, id.recipients, sizeof(id.recipients));
	}
	return rc;
}

int wasm_room_key_verify(const unsigned char *room_key, uint64_t room_id, uint64_t epoch,
                         uint64_t recipient_id, uint64_t committer_id, uint32_t agreement_version,
                         uint32_t n, const uint64_t *recipients, const unsigned char *sig,
                         const unsigned char *committer_sign_pk)
{
	struct em_room_key_id id;

	room_key_id_load(&id, room_id, epoch, recipient_id, committer_id, agreement_version, n,
	                 recipients);
	return em_room_key_verify(room_key, &id, sig, committer_sign_pk);
}

/* em_room_key_names() over n ids. */
int wasm_room_key_names(uint32_t n, const uint64_t *recipients, uint64_t user_id)
{
	struct em_room_key_id id;

	room_key_id_load(&id, 0, 0, 0, 0, 0, n, recipients);
	return em_room_key_names(&id, user_id);
}

/*
 * The commit *c and its n entries from flat arguments (sealed: n envelopes
 * of EM_SEALED_KEY_BYTES back to back). Returns a malloc'd array of the
 * entries, or NULL. Who frees: the caller, free().
 */
static struct em_commit_entry *commit_load(struct em_commit *c, uint64_t room_id, uint64_t epoch,
                                           uint64_t committer_id, uint32_t agreement_version,
                                           const uint64_t *recipient_ids,
                                           const unsigned char *sealed, size_t n)
{
	struct em_commit_entry *e = calloc(n ? n : 1, sizeof(*e));

	memset(c, 0, sizeof(*c));
	c->room_id = room_id;
	c->epoch = epoch;
	c->committer_id = committer_id;
	c->agreement_version = agreement_version;
	if (!e)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		e[i].recipient_id = recipient_ids[i];
		memcpy(e[i].sealed, sealed + i * EM_SEALED_KEY_BYTES, EM_SEALED_KEY_BYTES);
	}
	return e;
}

/* Returns a malloc'd buffer the caller frees, or NULL. */
unsigned char *wasm_commit_bytes(uint64_t room_id, uint64_t epoch, uint64_t committer_id,
                                 uint32_t agreement_version, const uint64_t *recipient_ids,
                                 const unsigned char *sealed, size_t n, size_t *len)
{
	struct em_commit c;
	struct em_commit_entry *e = commit_load(&c, room_id, epoch, committer_id, agreement_version,
	                                        recipient_ids, sealed, n);
	unsigned char *bytes = e ? em_commit_bytes(&c, e, n, len) : NULL;

	free(e);
	return bytes;
}

int wasm_commit_sign(uint64_t room_id, uint64_t epoch, uint64_t committer_id,
                     uint32_t agreement_version, const uint64_t *recipient_ids,
                     const unsigned char *sealed, size_t n, const unsigned char *sign_sk,
                     unsigned char *sig)
{
	struct em_commit c;
	struct em_commit_entry *e = commit_load(&c, room_id, epoch, committer_id, agreement_version,
	                                        recipient_ids, sealed, n);
	int rc = e ? em_commit_sign(&c, e, n, sign_sk, sig) : -1;

	free(e);
	return rc;
}

int wasm_commit_verify(uint64_t room_id, uint64_t epoch, uint64_t committer_id,
                       uint32_t agreement_version, const uint64_t *recipient_ids,
                       const unsigned char *sealed, size_t n, const unsigned char *sign_pk,
                       const unsigned char *sig)
{
	struct em_commit c;
	struct em_commit_entry *e = commit_load(&c, room_id, epoch, committer_id, agreement_version,
	                                        recipient_ids, sealed, n);
	int rc = e ? em_commit_verify(&c, e, n, sign_pk, sig) : -1;

	free(e);
	return rc;
}

/*
 * device: EM_DEVICE_ID_BYTES. v3: the franked format (em_msg_encrypt_v3(),
 * PROTOCOL.md 5.1 and 13), else v2 (em_msg_encrypt()). Returns the
 * ciphertext length, or -1.
 */
int wasm_msg_encrypt(const unsigned char *room_key, uint64_t room_id, uint64_t epoch,
                     uint64_t sender_id, const unsigned char *client_msg_id,
                     const unsigned char *device, uint64_t counter, uint64_t written_ms,
                     const unsigned char *plaintext, size_t plaintext_len,
                     const unsigned char *sender_sign_sk, int v3, unsigned char *ciphertext,
                     unsigned char *sig)
{
	struct em_msg_meta meta;

	memcpy(meta.device, device, EM_DEVICE_ID_BYTES);
	meta.counter = counter;
	meta.written_ms = written_ms;
	return (v3 ? em_msg_encrypt_v3
	           : em_msg_encrypt)(room_key, room_id, epoch, sender_id, client_msg_id, &meta,
	                             plaintext, plaintext_len, sender_sign_sk, ciphertext, sig);
}

/* em_msg_frank_verify(): a reported v3 message checked without the room key. */
int wasm_msg_frank_verify(uint64_t room_id, uint64_t epoch, uint64_t sender_id,
                          const unsigned char *client_msg_id, const unsigned char *ciphertext,
                          size_t ciphertext_len, const unsigned char *sig,
                          const unsigned char *sender_sign_pk, const unsigned char *fk,
                          const unsigned char *device, uint64_t counter, uint64_t written_ms,
                          const unsigned char *text, size_t text_len)
{
	struct em_msg_meta meta;

	memcpy(meta.device, device, EM_DEVICE_ID_BYTES);
	meta.counter = counter;
	meta.written_ms = written_ms;
	return em_msg_frank_verify(room_id, epoch, sender_id, client_msg_id, ciphertext,
	                           ciphertext_len, sig, sender_sign_pk, fk, &meta, text, text_len);
}

/*
 * em_msg_decrypt(); on EM_MSG_OK device (EM_DEVICE_ID_BYTES), *counter and
 * *written_ms receive what the sender signed about the message.
 */
int wasm_msg_decrypt(const unsigned char *room_key, uint64_t room_id, uint64_t epoch,
                     uint64_t sender_id, const unsigned char *client_msg_id,
                     const unsigned char *ciphertext, size_t ciphertext_len,
                     const unsigned char *sig, const unsigned char *sender_sign_pk,
                     unsigned char *device, uint64_t *counter, uint64_t *written_ms,
                     unsigned char *plaintext, size_t *plaintext_len)
{
	struct em_msg_meta meta;
	int status;

	memset(&meta, 0, sizeof(meta));
	status =
	    em_msg_decrypt(room_key, room_id, epoch, sender_id, client_msg_id, ciphertext,
	                   ciphertext_len, sig, sender_sign_pk, &meta, plaintext, plaintext_len);
	if (status == EM_MSG_OK) {
		memcpy(device, meta.device, EM_DEVICE_ID_BYTES);
		*counter = meta.counter;
		*written_ms = meta.written_ms;
	}
	return status;
}

/* A malloc'd array of n parties (caller frees; the roles stay the caller's), or NULL. */
static struct em_party *agreement_parties(const uint64_t *user_ids, const char *const *roles,
                                          const unsigned char *sign_pks,
                                          const unsigned char *box_pks, size_t n)
{
	struct em_party *p = calloc(n ? n : 1, sizeof(*p));

	if (!p)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		p[i].user_id = user_ids[i];
		p[i].role = roles[i];
		memcpy(p[i].sign_pk, sign_pks + i * EM_SIGN_PK_BYTES, EM_SIGN_PK_BYTES);
		memcpy(p[i].box_pk, box_pks + i * EM_BOX_PK_BYTES, EM_BOX_PK_BYTES);
	}
	return p;
}

/* Returns a malloc'd buffer the caller frees, or NULL. */
unsigned char *wasm_agreement_bytes(uint64_t room_id, uint32_t version, const char *starts_on,
                                    const char *ends_on, const char *terms,
                                    const uint64_t *user_ids, const char *const *roles,
                                    const unsigned char *sign_pks, const unsigned char *box_pks,
                                    size_t n, size_t *len)
{
	struct em_party *p = agreement_parties(user_ids, roles, sign_pks, box_pks, n);
	unsigned char *bytes = NULL;

	if (!p)
		goto out;
	bytes = em_agreement_bytes(room_id, version, starts_on, ends_on, terms, p, n, len);
out:
	free(p);
	return bytes;
}

int wasm_agreement_hash(uint64_t room_id, uint32_t version, const char *starts_on,
                        const char *ends_on, const char *terms, const uint64_t *user_ids,
                        const char *const *roles, const unsigned char *sign_pks,
                        const unsigned char *box_pks, size_t n, unsigned char *hash)
{
	struct em_party *p = agreement_parties(user_ids, roles, sign_pks, box_pks, n);
	int rc = -1;

	if (!p)
		goto out;
	rc = em_agreement_hash(room_id, version, starts_on, ends_on, terms, p, n, hash);
out:
	free(p);
	return rc;
}

int wasm_agreement_sign(uint64_t room_id, uint32_t version, const char *starts_on,
                        const char *ends_on, const char *terms, const uint64_t *user_ids,
                        const char *const *roles, const unsigned char *sign_pks,
                        const unsigned char *box_pks, size_t n, const unsigned char *sign_sk,
                        unsigned char *sig)
{
	struct em_party *p = agreement_parties(user_ids, roles, sign_pks, box_pks, n);
	int rc = -1;

	if (!p)
		goto out;
	rc = em_agreement_sign(room_id, version, starts_on, ends_on, terms, p, n, sign_sk, sig);
out:
	free(p);
	return rc;
}

int wasm_agreement_verify(uint64_t room_id, uint32_t version, const char *starts_on,
                          const char *ends_on, const char *terms, const uint64_t *user_ids,
                          const char *const *roles, const unsigned char *sign_pks,
                          const unsigned char *box_pks, size_t n, const unsigned char *sign_pk,
                          const unsigned char *sig)
{
	struct em_party *p = agreement_parties(user_ids, roles, sign_pks, box_pks, n);
	int rc = -1;

	if (!p)
		goto out;
	rc = em_agreement_verify(room_id, version, starts_on, ends_on, terms, p, n, sign_pk, sig);
out:
	free(p);
	return rc;
}

/*
 * Validates one request frame as the server does (em_request_parse). Returns
 * EM_OK or a negative em_err; *id gets the request id when one could be read,
 * *op the op's name on success (a static string) or "", and field / message
 * the details of a failure ("" on success), NUL-terminated and cut to fit.
 */
int wasm_request_parse(const char *buf, size_t len, int64_t *id, const char **op, char *field,
                       size_t field_len, char *message, size_t message_len)
{
	struct em_request req;
	struct em_error_detail detail;
	int err;

	memset(&detail, 0, sizeof(detail));
	err = em_request_parse(buf, len, &req, &detail);
	*id = req.id;
	*op = err == EM_OK ? em_op_name(req.op) : "";
	if (field_len) {
		strncpy(field, err == EM_OK ? "" : detail.field, field_len - 1);
		field[field_len - 1] = '\0';
	}
	if (message_len) {
		strncpy(message, err == EM_OK ? "" : detail.message, message_len - 1);
		message[message_len - 1] = '\0';
	}
	em_request_clear(&req);
	return err;
}

/*
 * The web app's local vault (web/app/vault.mjs): a document of its IndexedDB
 * storage sealed under a key the app derives from the user's password, so a
 * copied browser profile opens nothing without it. XChaCha20-Poly1305 with a
 * random nonce; the additional data is "ementor-vault-v1", a NUL and the
 * document's name, so a sealed document cannot be moved to another name.
 * out: WASM_VAULT_OVERHEAD + len bytes (nonce, ciphertext, tag).
 */
#define WASM_VAULT_LABEL    "ementor-vault-v1"
#define WASM_VAULT_NONCE    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define WASM_VAULT_OVERHEAD (WASM_VAULT_NONCE + crypto_aead_xchacha20poly1305_ietf_ABYTES)

static unsigned char *vault_ad(const char *name, size_t *ad_len)
{
	size_t n = strlen(name);
	unsigned char *ad = malloc(sizeof(WASM_VAULT_LABEL) + n);

	if (ad) {
		memcpy(ad, WASM_VAULT_LABEL, sizeof(WASM_VAULT_LABEL)); /* with its NUL */
		memcpy(ad + sizeof(WASM_VAULT_LABEL), name, n);
		*ad_len = sizeof(WASM_VAULT_LABEL) + n;
	}
	return ad;
}

int wasm_vault_seal(const unsigned char *key, const char *name, const unsigned char *in, size_t len,
                    unsigned char *out)
{
	size_t ad_len = 0;
	unsigned char *ad = vault_ad(name, &ad_len);

	if (!ad)
		return -1;
	randombytes_buf(out, WASM_VAULT_NONCE);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + WASM_VAULT_NONCE, NULL, in, len, ad,
	                                           ad_len, NULL, out, key);
	free(ad);
	return 0;
}

/* out: len - WASM_VAULT_OVERHEAD bytes. 0, or -1 when it does not open (wrong key, moved,
 * tampered). */
int wasm_vault_open(const unsigned char *key, const char *name, const unsigned char *in, size_t len,
                    unsigned char *out)
{
	size_t ad_len = 0;
	unsigned char *ad;
	int rc;

	if (len < WASM_VAULT_OVERHEAD || !(ad = vault_ad(name, &ad_len)))
		return -1;
	rc = crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, in + WASM_VAULT_NONCE,
	                                                len - WASM_VAULT_NONCE, ad, ad_len, in,
	                                                key) == 0
	         ? 0
	         : -1;
	free(ad);
	return rc;
}
