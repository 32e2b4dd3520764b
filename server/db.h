/*
 * db.h - database worker threads. The lws service thread never touches libpq:
 * it fills a struct db_job and submits it; a worker runs job->run with its own
 * PGconn; the finished job goes on a completion list and the worker wakes the
 * service thread with lws_cancel_service(). The service thread collects
 * finished jobs in LWS_CALLBACK_EVENT_WAIT_CANCELLED and finds the session by
 * slot + generation (it may have closed meanwhile: then the result is dropped).
 *
 * DESIGN: one bounded FIFO queue shared by N workers, each with one
 * connection. A worker whose connection is broken tries to reconnect at most
 * once a second; jobs it cannot run fail with EM_ERR_DB_UNAVAILABLE and a
 * retry hint, never block the queue. While the database is down only one
 * thread at a time tries to reach it, so the others answer at once. Before
 * each job a worker checks, without a round trip, that the server has not
 * closed its connection (after a database restart the first job does not
 * fail for it); when idle, it pings every few seconds and drops a
 * connection that does not answer within 3 s, so /healthz reflects reality
 * without a request. Connections carry connect, keepalive and TCP user
 * timeouts (store_open), so a network cut becomes an error, not a hang.
 */
#ifndef EMENTORD_DB_H
#define EMENTORD_DB_H

#include <stdint.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "em_proto.h"

struct session;
struct db_conn;

struct db_job {
	struct db_job *next; /* queue / completion list link {db lock} */

	/* filled by the service thread before submit; read-only afterwards */
	uint32_t slot, gen; /* the session that asked */
	int64_t req_id;     /* request id to answer */
	enum em_op op;
	json_t *args;       /* validated request args: owned by the job */
	int64_t user_id;    /* 0 before login */
	int64_t session_id; /* sessions.id of the login, 0 before login */
	char role[12];      /* "" before login */
	char username[40];  /* "" before login */
	char addr[64];      /* peer address, for login rate limits */
	int (*run)(struct db_conn *c, struct db_job *job); /* worker thread */
	/* service thread, after run; may be NULL. Only called if the session is alive. */
	void (*done)(struct session *s, struct db_job *job);

	int no_reply; /* an internal continuation: answer nothing */
	int remote;   /* reads rows another node announced: never announced again */
	/* service thread, after the events are pushed, session or not; may be NULL */
	void (*finished)(struct db_job *job);

	/* filled by the worker */
	int err;           /* EM_OK or a negative em_err */
	char message[224]; /* error message for the client; "" = default text */
	int64_t retry_after_ms;
	json_t *result; /* ok result: owned by the job */
	/* login state for `done` to install on the session */
	int64_t out_user_id, out_session_id;
	char out_role[12];
	char out_username[40];
	/* pushed after the reply: arrays of [id, "event", data] {owned} */
	json_t *room_events; /* to the sessions subscribed to room id */
	json_t *user_events; /* to the sessions of user id */
	json_t *extra;       /* op-specific data for `done` {owned} */
};

#define DB_MAX_PREPARED 128

/* One worker's connection. Only its worker thread touches it. */
struct db_conn {
	PGconn *pg;
	int index;                             /* worker number, for logs */
	const void *prepared[DB_MAX_PREPARED]; /* statements prepared on pg */
	int n_prepared;
	int failures; /* connection attempts failed in a row (logs stay quiet in an outage) */
};

/* Service thread, before lws_service: starts n workers. Returns 0 or -1. */
int db_start(const char *conninfo, int n_workers, int queue_max, void *lws_context);
/* Service thread, after the loop ends: stops and joins the workers, frees leftovers. */
void db_stop(void);
/*
 * Service thread: hands the job to the workers. Returns 0, or EM_ERR_BUSY if
 * the queue is full (the job is not taken: the caller still owns it).
 */
int db_submit(struct db_job *job);
/*
 * Batched writes (group commit). One writer thread takes up to batch_max
 * queued jobs at a time (waiting at most batch_wait_us for more when the
 * queue is short), and hands them to the runner in one call, which writes them
 * in one transaction; every job of the batch completes after the commit.
 */
typedef void (*db_batch_runner)(struct db_conn *c, struct db_job **jobs, int n);
/* Service thread, before db_start. */
void db_set_batch_runner(db_batch_runner runner, int batch_max, int batch_wait_us);
/* Service thread: like db_submit, for the batch writer. */
int db_submit_batched(struct db_job *job);
/* Worker helper: appends [id, ev, data] to *list (data: reference taken). */
void db_job_push(json_t **list, int64_t id, const char *ev, json_t *data);

/* Service thread: takes the whole list of finished jobs (oldest first); caller frees each. */
struct db_job *db_take_completed(void);
/* Any thread: 1 if a worker reached the database recently. */
int db_is_up(void);
/* Any thread: current queue length. */
int db_queue_depth(void);

struct db_job *db_job_new(void);
/*
 * Service thread: submits a job no session waits for (schedulers, cluster
 * notifications). Takes args (may be NULL); `finished` may be NULL. 0, or -1
 * if it could not be queued (args freed).
 */
int db_submit_background(int (*run)(struct db_conn *c, struct db_job *job), json_t *args,
                         void (*finished)(struct db_job *job));
/* Frees the job and what it owns. NULL-safe. */
void db_job_free(struct db_job *job);
/* Worker helpers: read the job's validated args (see em_arg_* in em_proto.h). */
const char *job_str(const struct db_job *job, const char *name);
int64_t job_int(const struct db_job *job, const char *name, int64_t fallback);
int job_bin(const struct db_job *job, const char *name, unsigned char *out, size_t outlen);

/* Worker helper: records an error result. */
int db_job_fail(struct db_job *job, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
