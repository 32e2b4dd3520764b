/*
 * core.h - what the files of libementor-client share (not installed; the
 * public API is emc.h). Threads: none of its own; every function runs on the
 * host's thread, inside an emc_*() call.
 *
 * DESIGN. The core is a set of tasks driven by replies. A task's step()
 * looks at what the core knows and, for the first thing it still lacks,
 * asks the server (one request, remembered as in flight) and returns
 * EMC_PENDING; every reply is applied to the core's state by its handler and
 * then every task steps again. Steps are idempotent — they re-check facts,
 * never replay actions — so a task can be resumed after any reply, in any
 * order. The facts a step needs about a room (shown, programme pinned,
 * agreement verified, keys fetched) are flags on struct emc_room, each with
 * an "in flight" and a "failed" state so no request is asked twice and no
 * step waits forever. What the client decides about trust is exactly
 * client/msg.c's of before (docs/SECURITY.md "A malicious server"), moved
 * here behind the request/reply boundary.
 */
#ifndef EMC_CORE_H
#define EMC_CORE_H

#include <stdarg.h>
#include <stdint.h>
#include <jansson.h>

#include "em_crypto.h"
#include "em_list.h"
#include "em_proto.h"
#include "emc.h"
#include "state.h"
#include "trust.h"

/* the account on this device (what the host stored at login) */

/* Exit codes a task's error carries (the CLI's, docs/CLIENT-CORE.md). */
enum emc_exit {
	EMC_EXIT_OK = 0,
	EMC_EXIT_REFUSED = 1,
	EMC_EXIT_USAGE = 2,
	EMC_EXIT_AUTH = 3,
	EMC_EXIT_NET = 4,
	EMC_EXIT_LOCAL = 5,
};

/* The error a request in flight gets when the link goes down (client-side; "unreachable"). */
#define EMC_ERR_LINK (-1000)

/* What a step or a "need" returns. */
enum emc_step {
	EMC_RETRY = 2,   /* the room changed under us: look at it again (emc_rotate) */
	EMC_DONE = 1,    /* finished (need: the fact is there) */
	EMC_PENDING = 0, /* waiting for a reply */
	EMC_FAILED = -1, /* failed; the task's error is set */
};

#define EMC_ROOMS_MAX         64
#define EMC_VERSIONS_FAILED   8
#define EMC_PARTIES_WITHDRAWN (EM_ROOM_MEMBERS_MAX + 1)

/* A fact about a room, asked for at most once at a time. */
enum emc_fact {
	EMC_FACT_NONE = 0,   /* not asked */
	EMC_FACT_ASKED = 1,  /* a request is in flight */
	EMC_FACT_HAVE = 2,   /* known */
	EMC_FACT_FAILED = 3, /* the request failed: err / why say how */
};

struct emc_version_failure {
	uint32_t version;
	char why[256];
};

enum emc_commit_outcome {
	EMC_COMMIT_SENT = 1, /* waiting for the answer */
	EMC_COMMIT_OK,       /* taken: the key is stored */
	EMC_COMMIT_RETRY,    /* lost a race (stale_epoch, roster_mismatch, stale_version) */
	EMC_COMMIT_ERROR,    /* refused: err, msg */
};

/* A commit this core sent and waits to hear about. */
struct emc_commit_pending {
	enum emc_commit_outcome outcome;
	int err;
	int64_t retry_after_ms;
	char msg[256];
	int64_t epoch;
	uint32_t version;
	unsigned char key[EM_ROOM_KEY_BYTES];
	int64_t ids[EM_KEY_RECIPIENTS_MAX];
	size_t n;
};

/* What the core knows about a room (room.show, its programme, agreement, keys). */
struct emc_room {
	int64_t id;
	char name[EM_ROOM_NAME_MAX * 4 + 1];
	int64_t epoch;
	int64_t last_seq;
	int rotate_required;
	int epoch_reasked; /* an epoch below one used was seen: room.show asked once more */
	size_t nmembers;
	int64_t members[EM_ROOM_MEMBERS_MAX];
	char member_names[EM_ROOM_MEMBERS_MAX][EM_USERNAME_MAX + 1];
	int roster[EM_ROOM_MEMBERS_MAX]; /* room.show's "roster" flag of each member */
	int on_roster;
	char blocked_by[EM_USERNAME_MAX + 1]; /* a member whose identity changed */
	int64_t programme_id;
	int required;      /* needs a signed agreement before keys (pinned) */
	char refused[320]; /* non-empty: nothing sealed or sent, and why */

	enum emc_fact shown;     /* room.show applied */
	enum emc_fact programme; /* the programme pinned (programme.show on first sight) */
	int trusted;             /* pins of room and programme checked after both */
	int show_err;            /* the error of a failed room.show */
	char show_msg[256];

	enum emc_fact agreement; /* agreement.show applied (rooms that require one) */
	json_t *agreement_doc;
	struct trust_version active; /* the active version verified here; 0: none */
	int64_t withdrawn[EMC_PARTIES_WITHDRAWN];
	size_t nwithdrawn;
	uint32_t version_asked; /* agreement.show {version} in flight */
	struct emc_version_failure vfail[EMC_VERSIONS_FAILED];
	size_t nvfail;

	enum emc_fact keys; /* keys.get applied and every envelope settled */
	int keys_answered;  /* keys.get answered (envelopes may still wait) */
	int64_t keys_epoch; /* the room's epoch in the last keys.get answer */
	json_t
	    *envelopes; /* [{"epoch", "committer_id", "agreement_version", "sealed"}] to settle */
	size_t nbad;
	int64_t bad_epochs[16];

	struct emc_commit_pending *commit; /* epoch.commit in flight */
	int told_unsigned;
};

struct emc_task;
typedef int (*emc_step_fn)(struct emc *c, struct emc_task *t);
typedef void (*emc_task_free_fn)(struct emc_task *t);

/* A command being carried out. */
struct emc_task {
	int64_t id;
	const char *cmd;
	emc_step_fn step;
	emc_task_free_fn free_fn;
	void *data; /* the task's own state */
	int done;
	/* the error, when failed */
	int exit;
	int err; /* an em_err, or 0 when the refusal is the client's own */
	char message[512];
	int64_t retry_after_ms;
	int64_t wake_at_ms;  /* emc_tick() steps it again then (0: not sleeping) */
	json_t *result;      /* on success (NULL: {}) */
	struct em_link link; /* on c->tasks */
	/* the task's ask under key, for emc_ask()'s answers (NULL: it asks nothing that way) */
	struct emc_ask *(*ask_slot)(struct emc_task *t, int64_t key);
};

/* One request a task asks once, and its answer (emc_ask()). */
struct emc_ask {
	int asked, answered;
	struct em_incoming reply;
};

/* The task whose link is l (a walk of c->tasks). */
static inline struct emc_task *emc_task_of(const struct em_link *l)
{
	return em_item(l, struct emc_task, link);
}

/* A request in flight and who waits for it. */
typedef void (*emc_reply_fn)(struct emc *c, int64_t room, int64_t aux, struct em_incoming *in);
struct emc_request {
	int64_t id;
	enum em_op op;
	emc_reply_fn fn;
	int64_t room, aux;
	int preauth;         /* sent before the resume (emc_request_preauth) */
	struct em_link link; /* on c->requests */
};

struct emc_output_item {
	enum emc_output kind;
	char *text;
	size_t len;
	struct em_link link; /* on c->out, c->held or c->preauth */
};

/*
 * What emc_run() (engine.c) does for the modules above it, set by emc_new()
 * (api.c): engine.c calls no module, so each can be read and tested alone.
 */
struct emc_hooks {
	void (*each_round)(struct emc *c); /* after each round of steps */
	/* a task ended (before it is freed); 1 when that made progress */
	int (*task_ended)(struct emc *c, const struct emc_task *t);
};

struct emc {
	struct emc_storage st;
	struct emc_hooks hooks;
	int64_t now_ms;
	int link_up;       /* the host's link is open */
	int ready;         /* ... and the session is resumed on it: requests go out */
	uint64_t link_gen; /* counts the links that came up: a task that saw an
	                      older one knows the server forgot its subscriptions */

	/* the link's authentication (account.c's commands need an unauthenticated one) */
	int resume_sent;        /* a resume went out on this link (and was not refused) */
	int fresh_link;         /* tasks that want the link not resumed: login, register */
	int preauth_waiting;    /* requests sent before the resume, not yet answered */
	int resume_deferred;    /* the resume waits for those answers */
	struct em_list preauth; /* frames to go before the resume, held while the link is down */
	int queue_preauth;      /* emc_request_preauth() is queueing */

	/* the account on this device */
	struct home_session_core {
		char server[512];
		char username[EM_USERNAME_MAX + 1];
		int64_t user_id;
		char role[16];
		char token[EM_TOKEN_MAX + 1];
		char expires_at[40];
	} session;
	int have_session;
	struct em_keys keys;
	int have_keys;

	/* documents (the storage's, as last read or written) */
	json_t *pins, *roomkeys, *trust;
	int order_dirty;

	struct emc_room rooms[EMC_ROOMS_MAX];
	size_t nrooms;

	int64_t next_request;
	struct em_list requests; /* emc_request in flight, newest first */

	int64_t next_task;
	struct em_list tasks; /* emc_task, oldest first: stepped in that order */

	struct em_list out;  /* emc_output_item for emc_next(), oldest first */
	struct em_list held; /* frames while the link is down (emc_output_item) */

	/* users whose identity change was reported (warnings once per core) */
	int64_t warned[64];
	size_t nwarned;
	int running; /* emc_run() is on the stack */
};

/* ---- outputs (engine.c) ---- */

/* Queues an output (takes text): a frame is held while the link is down or not resumed. */
void emc_push(struct emc *c, enum emc_output kind, char *text, int hold);
/* Queues a frame (takes args). Returns the request id, or -1 (out of memory). */
int64_t emc_request(struct emc *c, enum em_op op, json_t *args, emc_reply_fn fn, int64_t room,
                    int64_t aux);
/* Queues a frame nobody waits for (a receipt, a typing notice). Takes args. */
void emc_send_only(struct emc *c, enum em_op op, json_t *args);
/* Queues an event (takes data): {"ev": name, ...data's fields}. */
void emc_event(struct emc *c, const char *name, json_t *data);
/* A warning or notice event with a printf text: {"ev":"warning","code","text"}. */
void emc_warn(struct emc *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void emc_notice(struct emc *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Whether user_id's change was already reported; records it. */
int emc_was_warned(struct emc *c, int64_t user_id);

/* ---- tasks (engine.c) ---- */

struct emc_task *emc_task_new(struct emc *c, const char *cmd, emc_step_fn step,
                              emc_task_free_fn free_fn, void *data);
/* The task with this id (ended or not), or NULL: for a reply, whose aux is the task id. */
struct emc_task *emc_task_find(struct emc *c, int64_t id);
/*
 * Keeps a copy of a reply in *keep (cleared first): a failure made up by the
 * core (link lost, resume refused) lends its text, so nothing is taken from
 * `in`. Who frees: the caller, em_incoming_clear(keep).
 */
void emc_reply_copy(struct em_incoming *keep, const struct em_incoming *in);
/* Ends t with an error (refusal text `fmt`). Returns EMC_FAILED. */
int emc_fail(struct emc_task *t, int exit, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Ends t with the server's error in `in` (a reply error). Returns EMC_FAILED. */
int emc_fail_reply(struct emc_task *t, const struct em_incoming *in);
/* Steps every task until none makes progress. */
void emc_run(struct emc *c);
/* Frees a task that ended or is dropped (its data through its free_fn). */
void emc_task_drop(struct emc_task *t);

/* ---- documents (engine.c) ---- */

/* Loads a document; a missing one is an empty object. 0 or -errno. Who frees: caller. */
int emc_doc_load(struct emc *c, const char *name, json_t **out);
/* Read-modify-write under the storage's lock (state.h's contract for fn). */
int emc_doc_update(struct emc *c, const char *name, int (*fn)(json_t *root, void *arg), void *arg,
                   json_t **fresh);
/* trust.json through emc_doc_update, merging this core's order records first. */
int emc_trust_update(struct emc *c, int (*fn)(json_t *trust, void *arg), void *arg);
/* pins.json / roomkeys.json likewise, replacing c->pins / c->roomkeys. */
int emc_pins_update(struct emc *c, int (*fn)(json_t *pins, void *arg), void *arg);
int emc_roomkeys_update(struct emc *c, int (*fn)(json_t *rk, void *arg), void *arg);

/* ---- the account (engine.c, account.c) ---- */

/* Reads session.json and keys.json again (after login): have_session, have_keys. */
void emc_account_load(struct emc *c);
/*
 * A request that must go before the stored session is resumed (prelogin for
 * passwd): queued ahead of the resume, which waits for its answer. On a link
 * already up it goes out at once. Takes args. Returns the request id or -1.
 */
int64_t emc_request_preauth(struct emc *c, enum em_op op, json_t *args, emc_reply_fn fn,
                            int64_t room, int64_t aux);
/* Starts an account command (account.c); -ENOENT when `name` is not one. */
int64_t emc_account_command(struct emc *c, const char *name, json_t *cmd);

/* ---- rooms and pins (room.c) ---- */

struct emc_room *emc_room(struct emc *c, int64_t room_id);
/* The keys this device trusts for a user (pinned, or ours). 0 or -ENOENT. */
int emc_user_keys(struct emc *c, int64_t user_id, struct pin *out);
/* Pins a list of User objects (programme.show `people`, agreement parties). 0 or -errno. */
int emc_pin_people(struct emc *c, json_t *users);
/* The room is shown, its programme pinned and its pins checked. A need (enum emc_step). */
int emc_room_ready(struct emc *c, struct emc_task *t, struct emc_room *r);
/* The same without a task (failures stay on the room: r->show_err, r->show_msg). */
int emc_room_advance(struct emc *c, struct emc_room *r);
/*
 * After emc_room_advance() failed: lets a later task ask again and describes
 * the failure in *in (err 0: the client's own). in's text is r->show_msg:
 * nothing to free, valid while r is.
 */
void emc_room_failed(struct emc_room *r, struct em_incoming *in);
/* Forgets what room.show and agreement.show said (a room event, a stale epoch). */
void emc_room_forget(struct emc_room *r);
/* Whether we are a current member of r. */
int emc_room_member(const struct emc *c, const struct emc_room *r);
/* The verified active version (rooms that require agreements). A need. */
int emc_room_agreement(struct emc *c, struct emc_task *t, struct emc_room *r);
/*
 * A version of the room's agreement, verified here in full (SECURITY.md A1).
 * A need: EMC_DONE with *out, EMC_PENDING (asked), EMC_FAILED with `why`
 * (it does not verify; nothing asked again).
 */
int emc_room_version(struct emc *c, struct emc_room *r, uint32_t version, struct trust_version *out,
                     char *why, size_t len);
int emc_room_withdrew(const struct emc_room *r, int64_t user_id);
/* One Version object, ready for em_agreement_*(): parties in ascending user_id
 * (strings and party objects borrowed from the JSON it was parsed from). */
struct emc_version {
	int64_t room_id;
	uint32_t version;
	const char *starts_on, *ends_on, *terms;
	size_t n;
	struct em_party parties[TRUST_PARTIES_MAX + 1];
	json_t *party[TRUST_PARTIES_MAX + 1];
};
/* Parses a Version object. 0, or -1 when it is malformed. */
int emc_version_parse(json_t *version, int64_t room_id, struct emc_version *out);
/* Whether user_id is a party of v. */
int emc_version_has(const struct emc_version *v, int64_t user_id);
/* Pins the parties of a version like room members. 0 or -errno. */
int emc_pin_parties(struct emc *c, struct emc_version *v);
/* The line diff from one text to another (agree_diff.c): [{"op": "=", "-" or "+", "line"}],
 * or NULL (out of memory, more than 32768 lines). Who frees: the caller. */
json_t *emc_line_diff(const char *from, const char *to);
/* Applies a room.show answer to r without the network (the fuzz target's entry). */
int emc_room_apply(struct emc *c, struct emc_room *r, json_t *res);

/* ---- room keys (keys.c) ---- */

/* All of the room's envelopes fetched and settled (accepted or refused). A need. */
int emc_room_keys(struct emc *c, struct emc_task *t, struct emc_room *r);
/* An `epoch` event: queued to be settled like keys.get's envelopes. */
void emc_epoch_event(struct emc *c, json_t *data);
/* Tries every envelope waiting in r (after a reply that may have helped). */
void emc_keys_settle(struct emc *c, struct emc_room *r);
/* Raises the room's epoch high-water mark. 0 or -1. */
int emc_epoch_seen(struct emc *c, int64_t room_id, int64_t epoch);
int emc_epoch_bad(const struct emc_room *r, int64_t epoch);
/*
 * A new epoch for r sealed to the checked roster and committed (SECURITY.md
 * S1-S4). A need: EMC_DONE when committed (r->epoch is the new one), PENDING,
 * FAILED (t's error set), or EMC_RETRY when the room changed under us (it is
 * then looked at again).
 */
int emc_rotate(struct emc *c, struct emc_task *t, struct emc_room *r);

/* ---- sending (send.c) and reading (read.c) ---- */

int64_t emc_cmd_send(struct emc *c, json_t *cmd);
int64_t emc_cmd_flush(struct emc *c, json_t *cmd);
int64_t emc_cmd_read(struct emc *c, json_t *cmd);
int64_t emc_cmd_live(struct emc *c, json_t *cmd);
/*
 * Before a key of r is used (send.c; diary.c too): the epoch never turned
 * back (E1), the agreement in force verified (A1-A2); sets r->refused. A need.
 */
int emc_check_epoch(struct emc *c, struct emc_task *t, struct emc_room *r);
/* S4: every recipient of the key of `epoch` may still read the room. */
int emc_key_fit(struct emc *c, struct emc_room *r, int64_t epoch);
/*
 * The key to write to room r with now (a message, a diary record, a meeting
 * topic), once emc_check_epoch() found nothing to refuse: the current
 * epoch's key, held or fetched, sealed only to people who may still read the
 * room (S4); else the room is rotated first. A need: EMC_DONE with *have 1
 * and the key in key (wipe it after use), or with *have 0 when a new epoch
 * was committed (ask again); EMC_RETRY when the room changed under us (ask
 * again); EMC_PENDING; EMC_FAILED.
 */
int emc_write_key(struct emc *c, struct emc_task *t, struct emc_room *r,
                  unsigned char key[EM_ROOM_KEY_BYTES], int *have);
/* The diary of a meeting (diary.c): show, write, remark, writer, list. */
int64_t emc_cmd_diary_show(struct emc *c, json_t *cmd);
int64_t emc_cmd_diary_write(struct emc *c, json_t *cmd);
int64_t emc_cmd_diary_writer(struct emc *c, json_t *cmd);
int64_t emc_cmd_diary_list(struct emc *c, json_t *cmd);
/* A request passed through unchanged (call.c: only operations with nothing to check). */
int64_t emc_cmd_call(struct emc *c, json_t *cmd);
int64_t emc_cmd_programme_settings(struct emc *c, json_t *cmd);
/*
 * A task `name` that sends op with args (takes the reference; NULL fails) and
 * ends with the server's result as it is. Returns the task id, or -ENOMEM.
 */
int64_t emc_call_start(struct emc *c, const char *name, enum em_op op, json_t *args);
/* The live task's handling of a pushed event (message, epoch, room, receipt, typing, synced). */
void emc_live_event(struct emc *c, struct em_incoming *in);
/* A flush the live task started is over: plans the next. Returns 1 when it was the live one's. */
int emc_live_flush_done(struct emc *c, int64_t task, int exit, int64_t retry_after_ms);
/* Ends the live task (receipt and cursor saved). */
void emc_live_stop(struct emc *c);
/* A `message` object opened: {"room_id","seq","epoch","sender_id","sender","sent_at",
 * "text"|"error","warning"?, "counter"?}. Who frees: the caller. */
json_t *emc_open_message(struct emc *c, struct emc_room *r, json_t *message);

/* ---- agreements (agree.c), consent (consent.c), pins (people.c) ---- */

int64_t emc_cmd_agreement_show(struct emc *c, json_t *cmd);
int64_t emc_cmd_agreement_sign(struct emc *c, json_t *cmd);
int64_t emc_cmd_agreement_withdraw(struct emc *c, json_t *cmd);
int64_t emc_cmd_agreement_propose(struct emc *c, json_t *cmd);
int64_t emc_cmd_consent_list(struct emc *c, json_t *cmd);
int64_t emc_cmd_consent_grant(struct emc *c, json_t *cmd);
int64_t emc_cmd_consent_withdraw(struct emc *c, json_t *cmd);
int64_t emc_cmd_verify(struct emc *c, json_t *cmd);
int64_t emc_cmd_trust_show(struct emc *c, json_t *cmd);
int64_t emc_cmd_trust_accept(struct emc *c, json_t *cmd);
/* ---- questionnaires and shared progress (questionnaire.c, progress.c; quest.h) ---- */

int64_t emc_cmd_questionnaire_show(struct emc *c, json_t *cmd);
int64_t emc_cmd_questionnaire_edit(struct emc *c, json_t *cmd);
int64_t emc_cmd_questionnaire_answer(struct emc *c, json_t *cmd);
int64_t emc_cmd_questionnaire_results(struct emc *c, json_t *cmd);
int64_t emc_cmd_progress_share(struct emc *c, json_t *cmd);
int64_t emc_cmd_progress_list(struct emc *c, json_t *cmd);
/*
 * The room whose verified active agreement names the managers a record of
 * ours may be sealed to (quest.h managers_readers()): shown, pinned, its
 * programme requiring agreements, its active version verified. A need;
 * fails t with why otherwise (never falls back on the server's word).
 */
int emc_manager_anchor(struct emc *c, struct emc_task *t, int64_t room, struct emc_room **out);
/* Concern reports (report.c; PROTOCOL.md 13). */
int64_t emc_cmd_report_create(struct emc *c, json_t *cmd);
int64_t emc_cmd_report_show(struct emc *c, json_t *cmd);
int64_t emc_cmd_report_handle(struct emc *c, json_t *cmd);
int64_t emc_cmd_report_list(struct emc *c, json_t *cmd);
/* Profiles for matching (profile.c; PROTOCOL.md 14). */
int64_t emc_cmd_profile_form(struct emc *c, json_t *cmd);
int64_t emc_cmd_profile_edit(struct emc *c, json_t *cmd);
int64_t emc_cmd_profile_anchor(struct emc *c, json_t *cmd);
int64_t emc_cmd_profile_fill(struct emc *c, json_t *cmd);
int64_t emc_cmd_profile_show(struct emc *c, json_t *cmd);
/* Announcements (announce.c; PROTOCOL.md 15.2). */
int64_t emc_cmd_announce_recipients(struct emc *c, json_t *cmd);
int64_t emc_cmd_announce_send(struct emc *c, json_t *cmd);
int64_t emc_cmd_announce_list(struct emc *c, json_t *cmd);
/* The signed time (s) of the latest share_progress withdrawal of subject made here, or 0. */
int64_t emc_consent_withdrawn_at(struct emc *c, const char *subject);
/* Whether a consent.list entry's signature verifies with our own key (consent.c). */
int emc_consent_entry_verified(const struct emc *c, json_t *e);

/* ---- goals and ratings (goal.c; the envelope is envelope.c's) ---- */

int64_t emc_cmd_goal_put(struct emc *c, json_t *cmd);
int64_t emc_cmd_goal_list(struct emc *c, json_t *cmd);
int64_t emc_cmd_goal_history(struct emc *c, json_t *cmd);
int64_t emc_cmd_rating_add(struct emc *c, json_t *cmd);
int64_t emc_cmd_rating_list(struct emc *c, json_t *cmd);
/* open, in_progress, done or dropped */
int emc_goal_status_ok(const char *s);
/*
 * Who a goal or rating of owner must be sealed to under the verified version
 * v: narrow (a personal goal not shared, a rating) the owner and v's mentor;
 * else every mentor and mentee party of v (withdrawn ones left out when r is
 * given). Ascending user ids; the count, or -1 (no mentor; owner no mentee).
 */
int emc_goal_readers(const struct trust_version *v, const struct emc_room *r, int narrow,
                     int64_t owner, uint64_t *ids);
/* Whether a signed reader list fits that rule (why says what does not). 1 or 0. */
int emc_goal_readers_ok(const struct trust_version *v, int narrow, int64_t owner, int64_t author,
                        const uint64_t *got, size_t n, char *why, size_t len);

/* meeting.c: the session plan with its topics opened, and a topic sealed and signed */
int64_t emc_cmd_meeting_plan(struct emc *c, json_t *cmd);
int64_t emc_cmd_meeting_topic(struct emc *c, json_t *cmd);
/* midterm.c: the mid-term record, each part sealed to the agreement's parties, shown in order */
int64_t emc_cmd_midterm_write(struct emc *c, json_t *cmd);
int64_t emc_cmd_midterm_show(struct emc *c, json_t *cmd);
/* Ends t with the server's error in `in`; an expired session says to log in. EMC_FAILED. */
int emc_fail_server(struct emc *c, struct emc_task *t, const struct em_incoming *in);
/* The same, a refusal about room_id in plain words (emc_room_refusal()). EMC_FAILED. */
int emc_fail_room_reply(struct emc *c, struct emc_task *t, const struct em_incoming *in,
                        int64_t room_id);
/*
 * Asks op once as a's request (t->ask_slot(t, key) must give a back):
 * EMC_PENDING until answered, then EMC_DONE with the answer in a->reply, or a
 * refusal failing t (about room_id in plain words when room_id is not 0).
 * Takes args; later calls pass EM_OP_NONE, NULL. a->asked = a->answered = 0
 * (and the reply cleared) asks again.
 */
int emc_ask(struct emc *c, struct emc_task *t, struct emc_ask *a, int64_t key, enum em_op op,
            json_t *args, int64_t room_id);
/* emc_ask()'s reply handler, for a request a task makes itself (room: key, aux: the task id). */
void emc_ask_reply(struct emc *c, int64_t key, int64_t task, struct em_incoming *in);

/* The server's refusal `err` about room_id in plain words (the CLI's wording). */
void emc_room_refusal(struct emc *c, int64_t room_id, int err, const char *msg,
                      int64_t retry_after_ms, char *out, size_t len);

/* The wall clock of the last call, Unix milliseconds. */
static inline int64_t emc_now(const struct emc *c)
{
	return c->now_ms;
}

#endif
