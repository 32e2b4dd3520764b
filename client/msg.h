/*
 * msg.h - the client side of end-to-end encrypted messaging (PROTOCOL.md
 * section 5), shared by `send`, `read`, `chat` and `outbox`: pinning the
 * keys the server shows, receiving and verifying room keys, rotating a
 * room's key epoch, delivering the outbox exactly once, and opening
 * received messages. The crypto itself is proto/em_crypto.c's.
 */
#ifndef CLIENT_MSG_H
#define CLIENT_MSG_H

#include <stdint.h>
#include <jansson.h>

#include "cli.h"
#include "state_io.h"
#include "trust.h"

#define MSG_PARTIES_WITHDRAWN_MAX (EM_ROOM_MEMBERS_MAX + 1)

/* What room.show said about a room, and what this command learnt since. */
struct msg_room {
	int64_t id;
	char name[EM_ROOM_NAME_MAX * 4 + 1];
	int64_t epoch;
	int64_t last_seq;
	int rotate_required;
	size_t nmembers;
	int64_t members[EM_ROOM_MEMBERS_MAX];
	char member_names[EM_ROOM_MEMBERS_MAX][EM_USERNAME_MAX + 1];
	/* room.show's "roster" flag of each member (PROTOCOL.md 7): only they
	 * are sealed a room key, and only after msg_party_check() passes. */
	int roster[EM_ROOM_MEMBERS_MAX];
	int on_roster; /* we are a member on the roster */
	/* A member whose keys changed and are not trusted: nothing is sent to
	 * the room and no key is sealed to anyone until `ementor trust`. */
	char blocked_by[EM_USERNAME_MAX + 1];
	int shown;        /* room.show answered during this command */
	int keys_fetched; /* keys.get answered during this command */
	/* The room's epoch in that answer: a message of a later epoch means an
	 * epoch event was missed (e.g. the server's node was cut off from its
	 * database meanwhile), and keys.get is asked again. */
	int64_t keys_epoch;
	/* Epochs whose envelope to us did not open or did not verify. */
	size_t nbad;
	int64_t bad_epochs[16];
	/* What this device holds about the room instead of believing the server
	 * (trust.h, docs/SECURITY.md "A malicious server"): */
	int64_t programme_id; /* pinned on first sight */
	int required;         /* the room needs a signed agreement before keys (pinned) */
	/* Non-empty: this device refuses to send to or seal keys for the room, and why. */
	char refused[320];
	/* agreement.show, fetched at most once per command (required rooms). */
	int agreement_fetched;
	json_t *agreement;           /* its answer (freed by msg_free()) */
	struct trust_version active; /* the active version, verified here; version 0: none */
	int64_t withdrawn[MSG_PARTIES_WITHDRAWN_MAX]; /* parties of it who withdrew */
	size_t nwithdrawn;
	int told_unsigned; /* "X cannot read this" was said during this command */
};

#define MSG_MAX_ROOMS 64

struct msg_ctx {
	struct cli *cli;
	struct home_session session;
	struct home_keys keys;
	struct conn *conn; /* NULL until msg_connect() */
	/* In-memory copies of pins.json and roomkeys.json, replaced by the
	 * file's content after every change (another process may share it). */
	json_t *pins;
	json_t *roomkeys;
	/* trust.json as loaded and changed since; the order records of messages
	 * read are saved by msg_free() (or with the next change of the file). */
	json_t *trust;
	int order_dirty;
	size_t nrooms;
	struct msg_room rooms[MSG_MAX_ROOMS];
	/* Users whose key change was already reported during this command. */
	size_t nwarned;
	int64_t warned[32];
	int net_failed; /* the connection failed and that was reported */
	/* The last error reply (msg_call() returned CLI_EXIT_REFUSED). */
	int err;
	char errmsg[256];
	int64_t retry_after_ms;
	/* errmsg is this client's own refusal (a failed roster check), not the
	 * server's: msg_report() prints it as it is. */
	int refused_here;
};

/*
 * Loads the session, this device's keys, pins.json and roomkeys.json.
 * Returns an exit code (failures are printed). Who frees: msg_free().
 */
int msg_init(struct cli *cli, struct msg_ctx *m);
/* Connects and resumes the session. Returns an exit code (failures are printed). */
int msg_connect(struct msg_ctx *m);
/* Closes the connection and wipes everything. */
void msg_free(struct msg_ctx *m);

/*
 * One request. Returns CLI_EXIT_OK with *result (caller json_decref()s),
 * CLI_EXIT_REFUSED with m->err / m->errmsg set (nothing printed),
 * CLI_EXIT_AUTH (session expired; printed) or CLI_EXIT_NET (printed).
 * Takes the reference to args.
 */
int msg_call(struct msg_ctx *m, enum em_op op, json_t *args, json_t **result);
/* Prints the refusal of the last msg_call() about room_id in plain words. Returns rc. */
int msg_report(struct msg_ctx *m, int rc, int64_t room_id);

/* This command's record of a room (created empty); NULL when too many rooms. */
struct msg_room *msg_room(struct msg_ctx *m, int64_t room_id);

/*
 * room.show: records the room, pins its members and former members (trust on
 * first use; a changed key is reported loudly and blocks the room). Returns
 * an exit code; refusals are left to the caller (m->err).
 */
int msg_room_show(struct msg_ctx *m, int64_t room_id, struct msg_room **out);
/*
 * What msg_room_show() does with room.show's answer `res` (borrowed) for r:
 * records the room and pins the users shown. No network. Returns an exit code.
 */
int msg_room_apply(struct msg_ctx *m, struct msg_room *r, json_t *res);

/*
 * Pins a list of User objects (programme.show `people`) the same way; no
 * room is blocked by it. Returns an exit code.
 */
int msg_pin_people(struct msg_ctx *m, json_t *users);

/* keys.get: opens, verifies and stores every room key sealed to us. Returns an exit code. */
int msg_room_keys(struct msg_ctx *m, int64_t room_id);

/* An `epoch` event: opens, verifies and stores the key. Returns 0, or -1 (reported). */
int msg_epoch_event(struct msg_ctx *m, json_t *data);

/* The outcome of delivering one outbox message. */
enum msg_outcome {
	MSG_SENT,    /* acknowledged (maybe as a duplicate): removed from the outbox */
	MSG_QUEUED,  /* the server is unreachable or cannot store now: kept */
	MSG_BLOCKED, /* a member's key changed: kept until `ementor trust` */
	MSG_DROPPED, /* we are not a member (any more): removed, reported */
	MSG_FAILED,  /* refused for another reason: kept, reported */
};

struct msg_delivery {
	enum msg_outcome outcome;
	int exit_code; /* for MSG_QUEUED etc.: what a command should exit with */
	int64_t seq;
	int duplicate;
};

/*
 * Puts a message (checked with text_prepare()) in the outbox with a fresh
 * client_msg_id, written to id. Works offline. Returns an exit code.
 */
int msg_enqueue(struct cli *cli, int64_t room_id, const char *text, size_t len,
                unsigned char id[EM_MSG_ID_BYTES]);

/*
 * Delivers the outbox, oldest first (per room in order: after a message
 * that stays queued, later ones of the same room wait too). When `watch` is
 * not NULL, *watched receives what happened to that message. Refusals are
 * reported on stderr; other messages delivered are reported one line each
 * ("delivered a queued message to room R (seq N)") when `verbose`, else in
 * one line ("delivered 2 queued messages first"). Returns the first
 * non-zero exit code of a message that was not delivered, or 0.
 */
int msg_flush(struct msg_ctx *m, const unsigned char *watch, struct msg_delivery *watched,
              int verbose);

/* A received message, opened. */
struct msg_view {
	int64_t room_id;
	int64_t seq;
	int64_t epoch;
	int64_t sender_id;
	char sender[EM_USERNAME_MAX + 1];
	char sent_at[STATE_TIME_LEN];
	char *text; /* the decrypted text (malloc'd, NUL-terminated), or NULL */
	size_t text_len;
	char error[256];   /* why there is no text */
	char warning[320]; /* with text: what is wrong with its order or date (else empty) */
	/* What the sender signed about it (valid when text is set). */
	struct em_msg_meta meta;
};

/*
 * Verifies the sender's signature with their pinned key first, then
 * decrypts with the room key of the message's epoch (fetching keys or room
 * members once when missing). Never fails silently: when there is no text,
 * v->error says why. Returns 0, or -1 when the message is malformed (error
 * set too). Who frees: msg_view_clear(v).
 */
int msg_open(struct msg_ctx *m, json_t *message, struct msg_view *v);
void msg_view_clear(struct msg_view *v);
/* "[seq] YYYY-MM-DD HH:MM sender: text" on stdout, and "  ! warning" below it. */
void msg_view_print(const struct msg_view *v);
/* {seq, sender, sender_id, epoch, sent_at, text | error, warning?}. Who frees: the caller. */
json_t *msg_view_json(const struct msg_view *v);

/* The keys of a user as this device trusts them: pinned ones, or ours from keys.json. */
int msg_user_keys(struct msg_ctx *m, int64_t user_id, struct pin *out);

/* ---- agreements (PROTOCOL.md 7.1, 7.2) ---- */

#define MSG_MAX_PARTIES 16

/*
 * One version of a room's agreement as agreement.show gave it, ready for
 * em_agreement_*(): parties sorted by ascending user_id (so the in-place
 * sort of em_agreement_bytes() keeps party[i] and parties[i] together).
 * Strings and party objects are borrowed from the JSON it was parsed from.
 */
struct msg_version {
	int64_t room_id;
	uint32_t version;
	const char *starts_on;
	const char *ends_on;
	const char *terms;
	size_t n;
	struct em_party parties[MSG_MAX_PARTIES];
	json_t *party[MSG_MAX_PARTIES];
};

/* Parses a Version object. Returns 0, or -1 when it is malformed. */
int msg_version_parse(json_t *version, int64_t room_id, struct msg_version *out);
/* The index of a user among the version's parties, or -1. */
int msg_version_party(const struct msg_version *v, int64_t user_id);

/* What msg_party_check() found about one party. */
enum msg_party {
	MSG_PARTY_OK = 0,            /* signed with the pinned keys, signature verifies */
	MSG_PARTY_ABSENT = -1,       /* not a party of the version */
	MSG_PARTY_NO_PIN = -2,       /* no key pinned for the user on this device */
	MSG_PARTY_KEY_CHANGED = -3,  /* the pin has an untrusted change (`ementor trust`) */
	MSG_PARTY_KEYS_DIFFER = -4,  /* the version lists other keys than the pinned ones */
	MSG_PARTY_UNSIGNED = -5,     /* has not signed */
	MSG_PARTY_WITHDRAWN = -6,    /* signed, then withdrew */
	MSG_PARTY_BAD_SIGNATURE = -7 /* the signature does not verify */
};

/*
 * The checks of PROTOCOL.md 7.2 for one user: a party of v, whose listed
 * keys equal the keys this device trusts for them (msg_user_keys()), whose
 * signature verifies over the version's agreement bytes and who has not
 * withdrawn. Returns an enum msg_party.
 */
int msg_party_check(struct msg_ctx *m, struct msg_version *v, int64_t user_id);
/* A phrase for an enum msg_party ("has not signed it"). */
const char *msg_party_text(int check);

/*
 * Pins the parties of a version (Users under "user_id") like room members.
 * Returns an exit code.
 */
int msg_pin_parties(struct msg_ctx *m, struct msg_version *v);

/* Saves raised cursors for a room. Returns 0 or -errno (reported). */
int msg_save_cursor(struct msg_ctx *m, int64_t room_id, int64_t seq, int64_t read);

#endif
