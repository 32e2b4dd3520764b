/*
 * state.h - the messaging state the CLI keeps between commands, one JSON file
 * each in the home directory (all 0600, written atomically by home.c):
 *
 *   pins.json      trust on first use: every user's keys as first seen, and a
 *                  changed key waiting for `ementor trust USER`
 *   roomkeys.json  per room and epoch, the room key whose signature by its
 *                  committer was verified, and the agreement version it was
 *                  committed under; old epochs are never dropped
 *   cursors.json   per room, the last contiguous seq received and the last
 *                  seq acknowledged with a `receipt`
 *   outbox.json    messages not yet acknowledged by the server, this device's
 *                  id and the last message counter used per room
 *
 * The functions on a loaded json_t are pure (no I/O): unit-testable. Files
 * are changed only through state_update(), which re-reads the file under the
 * home lock, so a `chat` and a `send` sharing a home never lose each other's
 * changes. Functions return 0 (or a documented positive value) or -errno.
 */
#ifndef CLIENT_STATE_H
#define CLIENT_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "em_crypto.h"
#include "em_proto.h"

#define STATE_PINS_FILE     "pins.json"
#define STATE_ROOMKEYS_FILE "roomkeys.json"
#define STATE_CURSORS_FILE  "cursors.json"
#define STATE_OUTBOX_FILE   "outbox.json"
/* The outbox may hold many 16 KiB messages; anything larger is not ours. */
#define STATE_MAX_FILE (64 * 1024 * 1024)
/* RFC 3339 UTC timestamps: "2026-11-24T09:30:00Z". */
#define STATE_TIME_LEN 32

/* ---- pins.json ---- */

struct pin {
	int64_t user_id;
	char username[EM_USERNAME_MAX + 1];
	unsigned char sign_pk[EM_SIGN_PK_BYTES];
	unsigned char box_pk[EM_BOX_PK_BYTES];
	char fingerprint[EM_FINGERPRINT_STRLEN];
	char first_seen[STATE_TIME_LEN];
	/* A different identity the server has shown since, not yet accepted:
	 * other keys, another username, or both. */
	int changed;
	int keys_changed;
	int name_changed;
	unsigned char new_sign_pk[EM_SIGN_PK_BYTES];
	unsigned char new_box_pk[EM_BOX_PK_BYTES];
	char new_fingerprint[EM_FINGERPRINT_STRLEN];
	char new_username[EM_USERNAME_MAX + 1];
	char changed_seen[STATE_TIME_LEN];
};

enum pin_seen {
	PIN_NEW = 0,     /* never seen: pinned now */
	PIN_SAME = 1,    /* the pinned key */
	PIN_CHANGED = 2, /* another key than the pinned one: recorded, not trusted */
};

/* The pin of a user. Returns 0, -ENOENT, or -EINVAL (damaged entry). */
int pins_get(json_t *pins, int64_t user_id, struct pin *out);
/* The pin of a user by (folded) username. Returns 0 or -ENOENT. */
int pins_find(json_t *pins, const char *username, struct pin *out);
/*
 * Records what the server says a user's identity is: (user id, username,
 * keys). A new user is pinned; another username or other keys than the
 * pinned ones are recorded as a pending change (and a pending change is
 * forgotten when the server shows the pinned identity again).
 * Returns an enum pin_seen, or -EINVAL for a bad user id or username.
 */
int pins_observe(json_t *pins, int64_t user_id, const char *username,
                 const unsigned char sign_pk[EM_SIGN_PK_BYTES],
                 const unsigned char box_pk[EM_BOX_PK_BYTES], const char *now);
/* Makes a pending change the pinned key. Returns 1 when accepted, 0 when none was pending, -ENOENT.
 */
int pins_accept(json_t *pins, int64_t user_id, const char *now);
/*
 * The signing keys a user had before changes accepted here (the oldest
 * first, at most PINS_REPLACED_MAX): messages they signed with one before
 * the change verify with it. The i-th; 0 or -ENOENT.
 */
#define PINS_REPLACED_MAX 8
int pins_replaced_key(json_t *pins, int64_t user_id, size_t i, unsigned char out[EM_SIGN_PK_BYTES]);

/* ---- roomkeys.json ---- */

/* The key of (room, epoch). Returns 0 or -ENOENT. `committer` may be NULL. */
int roomkeys_get(json_t *rk, int64_t room_id, int64_t epoch, unsigned char key[EM_ROOM_KEY_BYTES],
                 int64_t *committer);
/*
 * Stores a verified key. Returns 1 when added, 0 when that very key was
 * already there, -EEXIST when another key is stored for that epoch (the
 * first one stays: an epoch has one key).
 */
int roomkeys_put(json_t *rk, int64_t room_id, int64_t epoch,
                 const unsigned char key[EM_ROOM_KEY_BYTES], int64_t committer, int64_t version,
                 const char *now);
/* The agreement version the key of (room, epoch) was committed under; -1 when unknown. */
int64_t roomkeys_version(json_t *rk, int64_t room_id, int64_t epoch);
/* Who the key of (room, epoch) was sealed to: fills out, returns how many, or -1 (unknown). */
int roomkeys_recipients(json_t *rk, int64_t room_id, int64_t epoch,
                        int64_t out[EM_KEY_RECIPIENTS_MAX]);
/* Records them (the key must be stored). Returns 1, -EINVAL, -ENOMEM. */
int roomkeys_set_recipients(json_t *rk, int64_t room_id, int64_t epoch, const int64_t *ids,
                            size_t n);

/* ---- cursors.json ---- */

int64_t cursors_seq(json_t *cur, int64_t room_id);  /* last contiguous seq received; 0 */
int64_t cursors_read(json_t *cur, int64_t room_id); /* last seq sent in a receipt; 0 */
/* Raises the cursors (never lowers them; pass 0 to leave one). Returns 1 when changed. */
int cursors_raise(json_t *cur, int64_t room_id, int64_t seq, int64_t read);

/* ---- outbox.json ---- */

#define OUTBOX_ID_B64_LEN 23 /* 16 bytes in base64url without padding, and a NUL */

struct outbox_msg {
	int64_t room_id;
	unsigned char client_msg_id[EM_MSG_ID_BYTES];
	char id_b64[OUTBOX_ID_B64_LEN];
	const char *text; /* borrowed from the json_t it came from */
	size_t text_len;
	char created_at[STATE_TIME_LEN];
	/* This device's id, the message's counter in its room and when it was
	 * written: signed inside the message (PROTOCOL.md 5.1). */
	struct em_msg_meta meta;
};

/*
 * The outbox also holds this device's id (made on first use: 8 random bytes)
 * and, per room, the last counter given to a message. outbox_device() fills
 * device, making it when absent. Returns 0, 1 (made now) or -ENOMEM.
 */
int outbox_device(json_t *ob, unsigned char device[EM_DEVICE_ID_BYTES]);
/*
 * Appends a message with the room's next counter and now_ms as the time it
 * was written. text must be valid UTF-8 of at most EM_MSG_PLAINTEXT_MAX
 * bytes. Returns 1.
 */
int outbox_add(json_t *ob, int64_t room_id, const unsigned char client_msg_id[EM_MSG_ID_BYTES],
               const char *text, size_t text_len, const char *now, int64_t now_ms);
/* Removes the message with that id. Returns 1 when removed, 0 when absent. */
int outbox_remove(json_t *ob, const unsigned char client_msg_id[EM_MSG_ID_BYTES]);
size_t outbox_count(json_t *ob);
/* The i-th message, oldest first. Returns 0, -ENOENT past the end, -EINVAL damaged. */
int outbox_at(json_t *ob, size_t i, struct outbox_msg *out);
/* Whether a message with that id is queued. */
int outbox_has(json_t *ob, const unsigned char client_msg_id[EM_MSG_ID_BYTES]);

/* ---- pure helpers for message handling ---- */

/* Where a received seq stands against the room's cursor (PROTOCOL.md 5.3). */
enum seq_verdict {
	SEQ_DUP,  /* at or below the cursor: already held, drop it */
	SEQ_NEXT, /* cursor + 1: take it and move the cursor */
	SEQ_GAP,  /* beyond cursor + 1: fetch the missing range with `history` first */
};
enum seq_verdict seq_check(int64_t cursor, int64_t seq);

/*
 * Prepares message text read from a file or stdin: trims one trailing
 * newline ("\n" or "\r\n"), and checks it is non-empty, valid UTF-8 without
 * NUL bytes and at most EM_MSG_PLAINTEXT_MAX bytes. Updates *len. Returns 0,
 * or -EINVAL (empty), -EILSEQ (not UTF-8 or a NUL byte), -E2BIG.
 */
int text_prepare(const char *text, size_t *len);

/* Whether text is valid UTF-8 without NUL bytes (what a JSON string can hold). */
int text_is_utf8(const char *text, size_t len);

/*
 * A server timestamp as local time "YYYY-MM-DD HH:MM"; the input copied
 * (truncated) when it is not RFC 3339 UTC.
 */
void text_local_time(const char *rfc3339, char *out, size_t outlen);

/* Room for text_local_when(): "Thu 2026-12-03 15:00 CEST", or a longer zone name. */
#define TEXT_WHEN_LEN 48
/* "YYYY-MM-DDTHH:MM:00Z" and a NUL. */
#define TEXT_UTC_MINUTE_LEN 21

/*
 * A server timestamp as "Thu 2026-12-03 15:00 CET": the user's local time
 * ($TZ) with the weekday and the zone's abbreviation, so that a meeting time
 * is never read in the wrong zone. The input is copied (truncated) when it is
 * not RFC 3339 UTC.
 */
void text_local_when(const char *rfc3339, char *out, size_t outlen);

/*
 * A date the user typed, as the wire's "YYYY-MM-DD": ISO itself, or the
 * day-first dotted form used in Poland and most of Europe ("8.12.2026",
 * "08.12.2026"). Slashes are refused: 8/12 is a different day in the US.
 * Returns 0, or -1 when it is neither form or not a real date.
 */
int text_date(const char *text, char out[11]);

/* Why text_utc_minute() refused a time. */
enum text_time_err {
	TEXT_TIME_BAD = -1,       /* not an accepted form, or not a real date and time */
	TEXT_TIME_SKIPPED = -2,   /* a local time the clock skips (it springs forward) */
	TEXT_TIME_AMBIGUOUS = -3, /* a local time that happens twice (the clock falls back) */
};

/*
 * A time the user typed, as the UTC minute the wire wants
 * ("YYYY-MM-DDTHH:MM:00Z"). Local time ($TZ): "YYYY-MM-DD HH:MM",
 * "YYYY-MM-DDTHH:MM" or "D.M.YYYY HH:MM" (text_date()'s forms; the hour may
 * have one digit there: "8.12.2026 9:30"). UTC: an ISO form followed by "Z"
 * or ":00Z". A local
 * time is converted with mktime(); one the clock skips or passes twice is
 * refused rather than guessed. Returns 0 or an enum text_time_err.
 */
int text_utc_minute(const char *text, char out[TEXT_UTC_MINUTE_LEN]);

/*
 * Copies text for a terminal: newlines and tabs are kept, other control
 * characters (C0, DEL, C1) become '?', so that a message cannot drive the
 * reader's terminal. Who frees: the caller, free(); NULL when out of memory.
 */
char *text_for_terminal(const char *text, size_t len);

#endif
