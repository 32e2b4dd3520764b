/*
 * trust.h - what a client remembers so that it never has to take the
 * server's word for a room's keys, roster or order (docs/SECURITY.md "A
 * malicious server"), kept in trust.json in the home directory:
 *
 *   programmes  per programme, pinned on first sight: its creator and
 *               whether it requires agreements (false only when the
 *               creator's signature over that setting verified)
 *   rooms       per room: the programme it belongs to (pinned), the highest
 *               key epoch this device has used or accepted and the highest
 *               agreement version it verified — both only ever move forward
 *               —, every verified agreement version's parties (who may
 *               commit keys and be sealed them), the members already
 *               announced (programmes without agreements), and per sending
 *               device the last message counter read, for the order check
 *
 * The functions work on a loaded json_t and do no I/O (unit-tested in
 * tests/unit/test_client_trust.c); files change through state_update().
 * Functions return 0 (or a documented positive value) or -errno.
 */
#ifndef CLIENT_TRUST_H
#define CLIENT_TRUST_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "em_crypto.h"
#include "em_proto.h"

#define STATE_TRUST_FILE "trust.json"

/* Parties of one agreement version: the manager, the mentor, up to 5 mentees. */
#define TRUST_PARTIES_MAX (EM_ROOM_MEMBERS_MAX + 1)

/* ---- pins of programmes and rooms ---- */

enum trust_pin {
	TRUST_PIN_NEW = 0,  /* first sight: pinned now */
	TRUST_PIN_SAME = 1, /* what was pinned */
	TRUST_PIN_DIFF = 2, /* something else than what was pinned: refuse */
};

struct trust_programme {
	int64_t creator_id;
	int required;
};
/* Returns 0 or -ENOENT. */
int trust_programme_get(json_t *t, int64_t programme_id, struct trust_programme *out);
/* Pins a programme's creator and setting on first sight. Returns an enum trust_pin. */
int trust_programme_pin(json_t *t, int64_t programme_id, const struct trust_programme *p);

struct trust_room {
	int64_t programme_id; /* 0: not pinned yet */
	int64_t max_epoch;    /* highest epoch this device used or accepted a key of */
	uint32_t max_version; /* highest active agreement version verified */
};
/* Returns 0 or -ENOENT (nothing recorded; *out zeroed). */
int trust_room_get(json_t *t, int64_t room_id, struct trust_room *out);
/* Pins the room's programme on first sight. Returns an enum trust_pin. */
int trust_room_pin(json_t *t, int64_t room_id, int64_t programme_id);
/* Raises the epoch high-water mark (never lowers it). Returns 1 when raised, 0. */
int trust_epoch_raise(json_t *t, int64_t room_id, int64_t epoch);

/* ---- verified agreement versions ---- */

struct trust_party {
	int64_t user_id;
	char role[8]; /* "manager", "mentor", "mentee" */
	unsigned char sign_pk[EM_SIGN_PK_BYTES];
	unsigned char box_pk[EM_BOX_PK_BYTES];
};

struct trust_version {
	uint32_t version;
	size_t n;
	struct trust_party parties[TRUST_PARTIES_MAX];
};

/*
 * Records a version whose every signature this device verified. `active`
 * raises the room's max_version to it. Returns 1 when something changed, 0,
 * -EINVAL (bad arguments), -EEXIST (that version is recorded with other
 * parties: the first record stays).
 */
int trust_version_put(json_t *t, int64_t room_id, const struct trust_version *v, int active);
/* A verified version. Returns 0 or -ENOENT. */
int trust_version_get(json_t *t, int64_t room_id, uint32_t version, struct trust_version *out);
/* Index of a party in v, or -1. */
int trust_version_party(const struct trust_version *v, int64_t user_id);
/* Whether user_id is a mentor or mentee party of v: one who may hold and commit room keys. */
int trust_version_member(const struct trust_version *v, int64_t user_id);
/*
 * Whether everyone who may hold a key sealed under `older` may still hold
 * one under `newer`: every mentor and mentee party of older is one of newer.
 * A key committed under older is fit to send with only then.
 */
int trust_version_covers(const struct trust_version *newer, const struct trust_version *older);

/* ---- members announced (programmes without agreements) ---- */

/* Whether user_id was announced as a member of the room. */
int trust_announced(json_t *t, int64_t room_id, int64_t user_id);
/* Records it. Returns 1 when new, 0. */
int trust_announce(json_t *t, int64_t room_id, int64_t user_id);
/* Whether the room has an announced-members record at all (first sight otherwise). */
int trust_announced_any(json_t *t, int64_t room_id);

/* ---- order of each sender's messages ---- */

enum trust_order {
	TRUST_ORDER_FIRST = 0, /* the first message read from this device: nothing to compare */
	TRUST_ORDER_NEXT,      /* the counter after the last one */
	TRUST_ORDER_GAP,       /* counters were skipped: messages missing before this one */
	TRUST_ORDER_BACK,      /* a counter at or below one already read: replayed or reordered */
	TRUST_ORDER_SEEN,      /* at or below the last seq checked for this device: re-read */
};

struct trust_order_result {
	enum trust_order verdict;
	uint64_t last_counter; /* the device's last counter before this message */
	int64_t last_seq;
};

/*
 * Checks message `seq` of room_id, sent by sender_id from `device` with
 * `counter`, against what was read before, and records it (a lower counter
 * never replaces a higher one). Messages must be fed in ascending seq; a seq
 * at or below the last one checked for that device is TRUST_ORDER_SEEN.
 * Returns 0 or -ENOMEM.
 */
int trust_order_check(json_t *t, int64_t room_id, int64_t sender_id,
                      const unsigned char device[EM_DEVICE_ID_BYTES], uint64_t counter, int64_t seq,
                      struct trust_order_result *out);

/*
 * Merges the `rooms.*.senders` of `from` into t, keeping per device the
 * record with the higher seq (two commands sharing a home). Returns 1 when t
 * changed, 0, -ENOMEM.
 */
int trust_order_merge(json_t *t, json_t *from);

#endif
