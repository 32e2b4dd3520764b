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
#include "job.h"

struct session;

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
/*
 * The post-commit hooks, set before db_start (main.c: the cluster's
 * announcements). A worker calls on_job after a job succeeded, on its
 * connection; the batch writer calls on_batch after each commit. Either may be
 * NULL.
 */
struct db_hooks {
	void (*on_job)(struct db_conn *c, struct db_job *job);
	void (*on_batch)(struct db_conn *c, struct db_job **jobs, int n);
};
void db_set_hooks(const struct db_hooks *hooks);

/*
 * Service thread: moves every finished job, oldest first, to the tail of
 * `out` (a list of struct db_job); the caller frees each.
 */
void db_take_completed(struct em_list *out);
/* Any thread: 1 if a worker reached the database recently. */
int db_is_up(void);
/* Any thread: current queue length. */
int db_queue_depth(void);

/*
 * Service thread: submits a job no session waits for (schedulers, cluster
 * notifications). Takes args (may be NULL); `finished` may be NULL. 0, or -1
 * if it could not be queued (args freed).
 */
int db_submit_background(int (*run)(struct db_conn *c, struct db_job *job), json_t *args,
                         void (*finished)(struct db_job *job));

#endif
