/*
 * announce.h - the pure parts of announcements (announce.c; PROTOCOL.md
 * 15.2): the signed, encrypted body a manager writes once for a whole
 * programme, and the content key sealed to each recipient. No I/O; any
 * thread.
 *
 * Body (bytes): 0x01 || aid (16) || nonce (24) || ciphertext || signature (64).
 * ciphertext = XChaCha20-Poly1305-IETF(key, nonce, sodium_pad(text, 256),
 * ad = ctx); signature = Ed25519(manager's signing key, ctx || nonce ||
 * ciphertext); ctx = lp("ementor announcement v1") || u64 programme ||
 * lp(audience) || aid || u64 written_ms || u64 manager. lp(x) = u32 length
 * (big-endian) || x; u64 big-endian. A sealed key: u64 recipient ||
 * crypto_box_seal(key, recipient's box key) (88 bytes).
 */
#ifndef EMC_ANNOUNCE_H
#define EMC_ANNOUNCE_H

#include <stddef.h>
#include <stdint.h>

#include "em_proto.h"

#define ANNOUNCE_AID_BYTES 16
#define ANNOUNCE_KEY_BYTES 32
#define ANNOUNCE_SEALED    80
#define ANNOUNCE_BODY_MIN  (1 + ANNOUNCE_AID_BYTES + 24 + 16 + 64)
#define ANNOUNCE_BODY_MAX  (ANNOUNCE_BODY_MIN + EM_ANNOUNCE_TEXT_MAX + 256)

enum announce_result {
	ANNOUNCE_OK = 0,
	ANNOUNCE_MALFORMED = -1,     /* not a body of this format */
	ANNOUNCE_BAD_SIGNATURE = -2, /* not what the named manager signed for this programme,
	                                audience and time: forged or altered */
	ANNOUNCE_BAD_KEY = -3,       /* signed, but the key does not open it */
};

/* What an announcement's signature covers besides its bytes. */
struct announce_meta {
	int64_t programme, manager, written_ms;
	const char *audience; /* "mentors" or "all" */
};

/*
 * Encrypts text (at most EM_ANNOUNCE_TEXT_MAX bytes) under a new random key
 * (key_out) with a new random aid, and signs it with sign_sk. body must hold
 * ANNOUNCE_BODY_MAX bytes. 0 with *body_len, or -1 (text too long).
 */
int announce_body_seal(const struct announce_meta *m, const char *text, size_t text_len,
                       const unsigned char sign_sk[64], unsigned char key_out[ANNOUNCE_KEY_BYTES],
                       unsigned char *body, size_t *body_len);

/*
 * Checks body's signature with sign_pk against m, then decrypts it with
 * key. text must hold EM_ANNOUNCE_TEXT_MAX + 1 bytes (NUL-terminated on
 * success); aid_out (may be NULL) gets the aid. An enum announce_result.
 */
int announce_body_open(const struct announce_meta *m, const unsigned char *body, size_t len,
                       const unsigned char key[ANNOUNCE_KEY_BYTES], const unsigned char sign_pk[32],
                       char *text, size_t *text_len, unsigned char aid_out[ANNOUNCE_AID_BYTES]);

/* Writes u64 recipient || crypto_box_seal(key, box_pk) to out (EM_ANNOUNCE_KEY_BYTES). 0 or -1. */
int announce_key_seal(const unsigned char key[ANNOUNCE_KEY_BYTES], uint64_t recipient,
                      const unsigned char box_pk[32], unsigned char out[EM_ANNOUNCE_KEY_BYTES]);

/* Opens an 80-byte sealed key with our box key pair. 0 or -1. */
int announce_key_open(const unsigned char *sealed, size_t len, const unsigned char box_pk[32],
                      const unsigned char box_sk[32], unsigned char key[ANNOUNCE_KEY_BYTES]);

#endif
