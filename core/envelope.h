/*
 * envelope.h - a record sealed to a chosen list of readers and signed by its
 * author (docs/PROTOCOL.md 10.1): a fresh key encrypts the document
 * (XChaCha20-Poly1305), that key is sealed (crypto_box_seal) to each
 * reader's box_pk, and the author's Ed25519 signature covers the purpose
 * label, the caller's context bytes (what the record is: room, id, version,
 * ...), the author and the whole sealed body, recipient list included. It
 * knows nothing of goals: the caller decides who the recipients must be
 * (goal.c: a mentee and the room's mentor, or the room; later, a programme's
 * managers) and checks the list envelope_open() returns against that rule.
 * Pure: libsodium only, no I/O, no state; any thread.
 */
#ifndef EMC_ENVELOPE_H
#define EMC_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_FORMAT       1
#define ENVELOPE_RECIPIENTS   8  /* at most: a mentor, five mentees, and room to spare */
#define ENVELOPE_SEALED_BYTES 80 /* crypto_box_seal of a 32-byte key */
#define ENVELOPE_PAD_BLOCK    256
#define ENVELOPE_CONTEXT_MAX  256
#define ENVELOPE_LABEL_MAX    48

/* What envelope_open() says (negative: refused). */
enum envelope_result {
	ENVELOPE_OK = 0,
	ENVELOPE_MALFORMED = -1,     /* not an envelope of this format, or out of bounds */
	ENVELOPE_BAD_SIGNATURE = -2, /* the author's key does not verify it over this context */
	ENVELOPE_NOT_RECIPIENT = -3, /* signed, but not sealed to the reader */
	ENVELOPE_UNREADABLE = -4,    /* sealed to the reader, but the key or text does not open */
	ENVELOPE_NOMEM = -5,
};

/*
 * Seals doc (doc_len bytes) to the n readers ids[i] (distinct, ascending, 1..
 * ENVELOPE_RECIPIENTS) with box_pks[i], under `label` and ctx, signed with
 * the author's sign_sk. *out is malloc'd (who frees: the caller). 0, or a
 * negative enum envelope_result.
 */
int envelope_seal(const char *label, const unsigned char *ctx, size_t ctx_len, uint64_t author_id,
                  const uint64_t *ids, const unsigned char (*box_pks)[32], size_t n,
                  const unsigned char *doc, size_t doc_len, const unsigned char sign_sk[64],
                  unsigned char **out, size_t *out_len);

/*
 * The recipient list of an envelope, read without any check (to decide
 * whom it claims to reach before verifying). n at most ENVELOPE_RECIPIENTS.
 * 0 or ENVELOPE_MALFORMED.
 */
int envelope_recipients(const unsigned char *blob, size_t len, uint64_t ids[ENVELOPE_RECIPIENTS],
                        size_t *n);

/*
 * Verifies the author's signature over label, ctx, author_id and the body
 * FIRST, then finds me_id among the recipients, opens the key with my box
 * keys and decrypts. On ENVELOPE_OK *doc is malloc'd (who frees: the
 * caller; wipe it) and ids/n hold the signed recipient list; on
 * ENVELOPE_NOT_RECIPIENT ids/n are set too.
 */
int envelope_open(const char *label, const unsigned char *ctx, size_t ctx_len, uint64_t author_id,
                  const unsigned char author_sign_pk[32], uint64_t me_id,
                  const unsigned char me_box_pk[32], const unsigned char me_box_sk[32],
                  const unsigned char *blob, size_t len, uint64_t ids[ENVELOPE_RECIPIENTS],
                  size_t *n, unsigned char **doc, size_t *doc_len);

/* Big-endian writers for callers' context bytes. Each returns p + its size. */
unsigned char *envelope_put_u64(unsigned char *p, uint64_t v);
unsigned char *envelope_put_u32(unsigned char *p, uint32_t v);
/* u32 length || bytes */
unsigned char *envelope_put_lp(unsigned char *p, const void *s, size_t len);

#endif
