/*
 * notify_codec.h - the NOTIFY payloads ementord nodes send each other on
 * channel "ementor_events" (cluster.c): one short line of text per event,
 * the sender's node id first. Pure: no lws, no libpq, any thread.
 *
 *   NODE m ROOM FIRST LAST      messages FIRST..LAST of ROOM were committed
 *   NODE r ROOM USER SEQ NAME   USER (username NAME) read ROOM up to SEQ
 *   NODE Q ROOM CHANGE          the room's membership or agreement changed
 *   NODE R USER ROOM CHANGE     USER was added to / removed from ROOM
 *   NODE e USER ROOM EPOCH      a new key epoch of ROOM was sealed to USER
 *   NODE n USER NOTICE          a notice for USER
 *   NODE t ROOM USER NAME       USER (username NAME) is typing in ROOM
 *   NODE x USER                 USER's account was erased
 *   NODE k USER SID             USER's session SID ended (logout)
 *   NODE K USER KEEP            every session of USER but KEEP was revoked
 *   NODE h                      this node is alive
 *
 * NODE is 16 lower-case hex digits; numbers are decimal without sign or
 * leading zeros, from 1 to 2^53 - 1 (FIRST <= LAST, EPOCH <= 2^31 - 1);
 * NAME is a username (em_check_username), CHANGE 1 to 32 lower-case letters.
 * Fields are separated by one space and nothing follows the last one: the
 * encoding of a payload is unique, so decode(encode(n)) == n and
 * encode(decode(text)) == text.
 */
#ifndef EMENTORD_NOTIFY_CODEC_H
#define EMENTORD_NOTIFY_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define NOTIFY_NODE_LEN 16
#define NOTIFY_WORD_MAX 32
/* Longest payload: node, kind, four numbers of 16 digits and a word, spaced. */
#define NOTIFY_PAYLOAD_MAX (NOTIFY_NODE_LEN + 2 + 4 * 17 + 1 + NOTIFY_WORD_MAX)
#define NOTIFY_INT_MAX     9007199254740991LL /* 2^53 - 1, as ids on the wire */

enum notify_kind {
	NOTIFY_MESSAGES = 'm',
	NOTIFY_RECEIPT = 'r',
	NOTIFY_ROOM = 'Q',
	NOTIFY_MEMBERSHIP = 'R',
	NOTIFY_EPOCH = 'e',
	NOTIFY_NOTICE = 'n',
	NOTIFY_TYPING = 't',
	NOTIFY_ERASED = 'x',
	NOTIFY_SESSION_ENDED = 'k',
	NOTIFY_SESSIONS_REVOKED = 'K',
	NOTIFY_HELLO = 'h',
};

/* One payload. Fields a kind does not carry are 0 / "". */
struct notify {
	char node[NOTIFY_NODE_LEN + 1];
	enum notify_kind kind;
	int64_t room;
	int64_t user;
	int64_t first, last;            /* m */
	int64_t seq;                    /* r */
	int64_t epoch;                  /* e */
	int64_t id;                     /* n: the notice; k: the session; K: the session kept */
	char word[NOTIFY_WORD_MAX + 1]; /* r, t: a username; Q, R: the change */
};

/*
 * Writes the payload of n (NUL-terminated) into out. Returns its length, or
 * -1 when a field is out of range for its kind or out is too small
 * (NOTIFY_PAYLOAD_MAX + 1 is always enough).
 */
int notify_encode(const struct notify *n, char *out, size_t outlen);

/*
 * Reads a payload of len bytes (no NUL needed). Returns 0 with *out filled,
 * or -1 when the text is not exactly a payload of the table above (then
 * *out is zeroed).
 */
int notify_decode(const char *text, size_t len, struct notify *out);

#endif
