/*
 * meeting.h - the byte layout of a meeting's topic (docs/PROTOCOL.md 6.4),
 * for core/meeting.c and its unit tests. Not installed. Threads: any; no
 * state.
 */
#ifndef EMC_MEETING_H
#define EMC_MEETING_H

#include <stddef.h>
#include <stdint.h>

#include "em_crypto.h"
#include "em_proto.h"

#define EMC_TOPIC_PAD_BLOCK 64

/* What the topic's author signs besides the text: every field of the AD. */
struct emc_topic_ref {
	uint64_t room_id, meeting_id, epoch, author_id;
	uint32_t revision;
};

/*
 * Encrypts and signs a topic:
 *   ad  = "ementor meeting topic v1\0" || u64 room_id || u64 meeting_id || u64 epoch
 *         || u64 author_id || u32 revision
 *   ct  = nonce(24) || XChaCha20-Poly1305-IETF(room_key, nonce,
 *                          sodium_pad(u64 written_ms || text, 64), ad)
 *   sig = Ed25519(author's sign_sk, ad || u32 len(ct) || ct)
 * ct has room for EM_TOPIC_CT_MAX bytes. Returns the ciphertext length, or -1
 * (text empty or longer than EM_TOPIC_TEXT_MAX bytes).
 */
int emc_topic_seal(const unsigned char room_key[EM_ROOM_KEY_BYTES], const struct emc_topic_ref *ref,
                   uint64_t written_ms, const char *text, size_t len,
                   const unsigned char sign_sk[EM_SIGN_SK_BYTES], unsigned char *ct,
                   unsigned char sig[EM_SIG_BYTES]);

/*
 * Verifies the signature with the author's pinned sign_pk first, then
 * decrypts. text has room for EM_TOPIC_TEXT_MAX + 1 bytes and is
 * NUL-terminated. Returns an enum em_msg_status (EM_MSG_OK, or why not).
 */
int emc_topic_open(const unsigned char room_key[EM_ROOM_KEY_BYTES], const struct emc_topic_ref *ref,
                   const unsigned char *ct, size_t ct_len, const unsigned char sig[EM_SIG_BYTES],
                   const unsigned char sign_pk[EM_SIGN_PK_BYTES], uint64_t *written_ms, char *text,
                   size_t *len);

#endif
