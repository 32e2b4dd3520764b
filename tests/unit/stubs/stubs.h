/*
 * stubs.h - recording stand-ins for the server modules a unit test does not
 * link (the .c files beside this one): each stub records what it was called with in
 * the globals below, so a test of one module can check what that module
 * asked of the others. A test links only the stub files it needs; each
 * file's section says what it replaces. Single-threaded, like the service
 * thread they stand in for; stub_*_reset() start a test afresh.
 */
#ifndef EMENTOR_TEST_STUBS_H
#define EMENTOR_TEST_STUBS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct db_conn;
struct db_job;
struct session;

/* ---- log.c (log_msg): lines counted by level, the last one kept -------- */
extern int stub_log_lines[4]; /* by enum log_level */
extern char stub_log_last[512];
void stub_log_reset(void);

/* ---- db.c (db_is_up, db_submit_background, db_set_batch_runner,
 *      db_take_completed, db_queue_depth) ---------------------------------- */
#define STUB_DB_MAX 64
struct stub_background {
	int (*run)(struct db_conn *c, struct db_job *job);
	json_t *args; /* owned by the record until the test completes it */
	void (*finished)(struct db_job *job);
};
extern int stub_db_up;          /* what db_is_up() answers (default 1) */
extern int stub_db_full;        /* db_submit_background() fails (-1, args freed) */
extern int stub_db_n_submitted; /* accepted by db_submit_background() */
extern struct stub_background stub_db_submitted[STUB_DB_MAX];
extern void (*stub_db_batch_runner)(struct db_conn *c, struct db_job **jobs, int n);
extern struct em_list stub_db_completed; /* what db_take_completed() hands out (then empty) */
void stub_db_reset(void);
/*
 * Completes background job i as a worker and the service thread would: a
 * job with its run and args, handed to its finished callback, then freed.
 */
void stub_db_finish(int i);

/* ---- libwebsockets (lws_callback_on_writable, lws_close_reason,
 *      lws_write): calls recorded per connection, no sockets -------------- */
struct lws;
#define STUB_LWS_FRAMES 64
extern int stub_lws_writable;         /* lws_callback_on_writable() calls */
extern struct lws *stub_lws_last_wsi; /* the last connection any stub was called on */
extern int stub_lws_close_status;     /* the last lws_close_reason(), 0: none */
extern char stub_lws_close_text[128];
extern int stub_lws_n_frames;           /* frames lws_write() took, their text below */
extern int stub_lws_n_writes;           /* lws_write() calls that succeeded */
extern struct lws *stub_lws_h2_network; /* lws_get_network_wsi()'s answer (NULL: itself) */
extern int stub_lws_kills; /* lws_set_timeout(..., LWS_TO_KILL_ASYNC) calls: closes started */
extern char *stub_lws_frames[STUB_LWS_FRAMES];
extern int stub_lws_write_short;
extern int stub_lws_choked; /* lws_send_pipe_choked()'s answer (1 unless a test says) */
void stub_lws_reset(void);

/* ---- metrics.c (metrics_add, metrics_error, ...): counted, not rendered -- */
extern uint64_t stub_metrics[64];   /* by enum metric_counter */
extern int stub_metrics_errors[64]; /* by -em_err */
void stub_metrics_reset(void);

/* ---- session.c (lookup, send, closes, memory charges): a small table of
 *      the test's sessions, and what was sent and closed, in order -------- */
#define STUB_SESSIONS 64
#define STUB_SENT     256
struct stub_sent {
	struct session *s;
	char *text; /* the frame (owned here) */
};
struct stub_close {
	struct session *s;
	int code;
	char reason[64];
};
extern struct stub_sent stub_sent[STUB_SENT];
extern int stub_n_sent;
extern struct stub_close stub_closes[STUB_SENT];
extern int stub_n_closes;
extern int stub_mem_refuse; /* session_mem_charge() refuses (over --preauth-memory) */
void stub_session_reset(void);
/* Forgets the frames and closes recorded so far. */
void stub_sent_clear(void);
/* Enters s in the table (its slot and a new generation); 0 or -1 when full. */
int stub_session_add(struct session *s);
/* Takes s out: its (slot, generation) finds nothing from now on. */
void stub_session_drop(struct session *s);
/* How many frames went to s; the i-th of them (NULL if fewer). */
int stub_sent_to(const struct session *s);
const char *stub_sent_nth(const struct session *s, int i);

/* ---- submit.c (submit_job): jobs kept in order, stamped like the real one */
#define STUB_JOBS 64
extern struct db_job *stub_jobs[STUB_JOBS]; /* submitted, owned here until taken */
extern int stub_jobs_batched[STUB_JOBS];
extern int stub_n_jobs;
extern int stub_submit_rc; /* non-zero: submit_job() refuses with it (EM_ERR_BUSY) */
void stub_submit_reset(void);
/* Takes submitted job i out (the caller owns it; its slot stays NULL). */
struct db_job *stub_submit_take(int i);

/* ---- fanout.c (what dispatch pushes): each call recorded in order ------- */
struct stub_push {
	char kind;               /* 'r' fanout_room, 'u' fanout_user, 's' fanout_room_seen,
	                            '+' fanout_subscribe, '-' fanout_unsubscribe */
	int64_t id;              /* room or user */
	int64_t seq;             /* 's' */
	char *text;              /* 'r', 'u': a copy (owned here) */
	const struct session *s; /* 'r': except; '+', '-': the session */
};
#define STUB_PUSHES 128
extern struct stub_push stub_pushes[STUB_PUSHES];
extern int stub_n_pushes;
/* The connections fanout_user_sessions() visits for any user (the test's). */
extern struct session *stub_user_sessions[8];
extern int stub_n_user_sessions;
void stub_fanout_reset(void);

/* ---- handlers.c (dispatch.c's table): the service-thread ones recorded -- */
extern int stub_done_calls;  /* auth_login_done, auth_logout_done, message_sync_done */
extern int stub_done_op;     /* the op of the last job they saw */
extern int stub_local_calls; /* message_typing_local (fails), privacy_notice_local */

#endif
