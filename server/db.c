/*
 * db.c - the worker pool behind db.h: a mutex-protected FIFO of jobs, a
 * completion list, and one PGconn per worker with reconnection and a health
 * flag. The database threads live here (the cluster's LISTEN thread is
 * cluster.c's); the rest of the code is either "runs on the service thread"
 * or "runs inside job->run". What a job holds is job.h's; what happens after
 * a commit is the hooks' (db_set_hooks), so the pool knows nothing above it.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libwebsockets.h>

#include "db.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

#define RECONNECT_INTERVAL_MS 1000
#define IDLE_PING_MS          5000
#define PING_TIMEOUT_MS       3000 /* an idle connection that cannot answer SELECT 1 is dropped */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct em_list pending; /* of struct db_job {lock} */
	int queue_max;          /* read-only after start */
	struct em_list done;    /* finished, of struct db_job {lock} */
	int stopping;           /* {lock} */
	pthread_t *threads;     /* service thread only */
	int n_threads;
	char *conninfo;              /* read-only after start */
	struct lws_context *context; /* lws_cancel_service is thread-safe */
	atomic_int up;               /* last connection attempt or ping succeeded */
	atomic_int probing;          /* a thread is trying to reach a database that is down */
	/* the batch writer */
	struct em_list batched; /* of struct db_job {lock} */
	pthread_cond_t bcond;
	pthread_t writer;
	int writer_started;
	db_batch_runner runner;       /* read-only after start */
	int batch_max, batch_wait_us; /* read-only after start */
	struct db_hooks hooks;        /* read-only after start */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER,
          .cond = PTHREAD_COND_INITIALIZER,
          .bcond = PTHREAD_COND_INITIALIZER};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Worker or writer thread: the connection is gone; the health flag says so. */
static void worker_lost(struct db_conn *c, const char *who)
{
	store_disconnect(c);
	if (atomic_exchange(&pool.up, 0))
		log_warn("db connection lost worker=%s", who);
}

/*
 * Worker or writer thread: (re)connects if needed. Returns 0 when the
 * connection is usable. A connection the server has closed (a restart, a
 * crash) is noticed here without a round trip, before a job is given to it.
 * While the database is down, one thread at a time tries to reach it (an
 * attempt can take connect_timeout); the others fail their jobs at once
 * with db_unavailable instead of queueing behind the attempt.
 */
static int worker_connect(struct db_conn *c, int64_t *last_attempt, const char *who)
{
	int probe, rc;

	if (c->pg && store_usable(c))
		return 0;
	if (c->pg)
		worker_lost(c, who);
	if (now_ms() - *last_attempt < RECONNECT_INTERVAL_MS)
		return -1;
	probe = !atomic_load(&pool.up);
	if (probe && atomic_exchange(&pool.probing, 1))
		return -1;
	*last_attempt = now_ms();
	rc = store_connect(c, pool.conninfo);
	if (rc)
		atomic_store(&pool.up, 0);
	else if (!atomic_exchange(&pool.up, 1))
		log_info("db connected worker=%s", who);
	if (probe)
		atomic_store(&pool.probing, 0);
	return rc ? -1 : 0;
}

/*
 * Worker or writer thread, when idle: keeps the connection (and the health
 * flag) honest. A closed connection is seen within a second; one that stops
 * answering (a network cut) within IDLE_PING_MS + PING_TIMEOUT_MS.
 */
static void worker_idle(struct db_conn *c, int64_t *last_attempt, int64_t *last_ok, const char *who)
{
	if (worker_connect(c, last_attempt, who) || now_ms() - *last_ok <= IDLE_PING_MS)
		return;
	if (store_ping(c, PING_TIMEOUT_MS) == 0)
		*last_ok = now_ms();
	else
		worker_lost(c, who);
}

static void complete(struct db_job *job)
{
	pthread_mutex_lock(&pool.lock);
	em_list_append(&pool.done, &job->link);
	pthread_mutex_unlock(&pool.lock);
	lws_cancel_service(pool.context);
}

/* Worker thread main loop. */
static void *worker_main(void *arg)
{
	struct db_conn conn = {.pg = NULL, .index = (int)(intptr_t)arg};
	int64_t last_attempt = -RECONNECT_INTERVAL_MS, last_ok = 0;
	char who[16];

	snprintf(who, sizeof(who), "%d", conn.index);
	worker_connect(&conn, &last_attempt, who);
	last_ok = now_ms();
	for (;;) {
		struct db_job *job = NULL;
		struct timespec deadline;

		pthread_mutex_lock(&pool.lock);
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += 1;
		while (!pool.stopping && em_list_empty(&pool.pending))
			if (pthread_cond_timedwait(&pool.cond, &pool.lock, &deadline))
				break;
		if (pool.stopping && em_list_empty(&pool.pending)) {
			pthread_mutex_unlock(&pool.lock);
			break;
		}
		if (!em_list_empty(&pool.pending))
			job = db_job_of(em_list_pop(&pool.pending));
		pthread_mutex_unlock(&pool.lock);

		if (!job) {
			worker_idle(&conn, &last_attempt, &last_ok, who);
			continue;
		}
		if (worker_connect(&conn, &last_attempt, who)) {
			db_job_fail(job, EM_ERR_DB_UNAVAILABLE, NULL);
		} else {
			int64_t t0 = now_us();

			job->err = EM_OK;
			store_clock_sync(&conn);
			job->run(&conn, job);
			metrics_db_latency(now_us() - t0, 0);
			if (job->err == EM_OK && (job->room_events || job->user_events) &&
			    pool.hooks.on_job)
				pool.hooks.on_job(&conn, job);
			/* db_unavailable on a live connection (a full disk) keeps it */
			if (PQstatus(conn.pg) != CONNECTION_OK) {
				worker_lost(&conn, who);
				if (job->err == EM_OK)
					db_job_fail(job, EM_ERR_DB_UNAVAILABLE, NULL);
			} else {
				last_ok = now_ms();
			}
		}
		complete(job);
	}
	store_disconnect(&conn);
	return NULL;
}

int db_submit_background(int (*run)(struct db_conn *c, struct db_job *job), json_t *args,
                         void (*finished)(struct db_job *job))
{
	struct db_job *job = db_job_new();

	if (!job) {
		json_decref(args);
		return -1;
	}
	job->slot = UINT32_MAX; /* no session: only pushed events matter */
	job->no_reply = 1;
	job->run = run;
	job->args = args;
	job->finished = finished;
	if (db_submit(job)) {
		db_job_free(job);
		return -1;
	}
	return 0;
}

void db_set_hooks(const struct db_hooks *hooks)
{
	pool.hooks = *hooks;
}

void db_set_batch_runner(db_batch_runner runner, int batch_max, int batch_wait_us)
{
	pool.runner = runner;
	pool.batch_max = batch_max;
	pool.batch_wait_us = batch_wait_us;
}

/* Writer thread main loop: group commit of batched jobs. */
static void *writer_main(void *arg)
{
	struct db_conn conn = {.pg = NULL, .index = (int)(intptr_t)arg};
	int64_t last_attempt = -RECONNECT_INTERVAL_MS, last_ok;
	struct db_job **batch = calloc((size_t)pool.batch_max, sizeof(*batch));

	if (!batch)
		return NULL;
	worker_connect(&conn, &last_attempt, "writer");
	last_ok = now_ms();
	for (;;) {
		struct timespec deadline;
		int n = 0;

		pthread_mutex_lock(&pool.lock);
		if (!pool.stopping && em_list_empty(&pool.batched)) {
			clock_gettime(CLOCK_REALTIME, &deadline);
			deadline.tv_sec += 1;
			pthread_cond_timedwait(&pool.bcond, &pool.lock, &deadline);
		}
		if (pool.stopping && em_list_empty(&pool.batched)) {
			pthread_mutex_unlock(&pool.lock);
			break;
		}
		if (em_list_empty(&pool.batched)) {
			pthread_mutex_unlock(&pool.lock);
			worker_idle(&conn, &last_attempt, &last_ok, "writer");
			continue;
		}
		/* a short queue: give it a moment to fill, so one commit serves many */
		if ((int)pool.batched.count < pool.batch_max / 4 && pool.batch_wait_us > 0 &&
		    !pool.stopping) {
			clock_gettime(CLOCK_REALTIME, &deadline);
			deadline.tv_nsec += (long)pool.batch_wait_us * 1000;
			if (deadline.tv_nsec >= 1000000000L) {
				deadline.tv_sec++;
				deadline.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&pool.bcond, &pool.lock, &deadline);
		}
		while (!em_list_empty(&pool.batched) && n < pool.batch_max)
			batch[n++] = db_job_of(em_list_pop(&pool.batched));
		pthread_mutex_unlock(&pool.lock);

		if (worker_connect(&conn, &last_attempt, "writer")) {
			for (int i = 0; i < n; i++)
				db_job_fail(batch[i], EM_ERR_DB_UNAVAILABLE, NULL);
		} else {
			for (int i = 0; i < n; i++)
				batch[i]->err = EM_OK;
			int64_t t0 = now_us();

			store_clock_sync(&conn);
			pool.runner(&conn, batch, n);
			metrics_db_latency(now_us() - t0, 1);
			if (pool.hooks.on_batch)
				pool.hooks.on_batch(&conn, batch, n);
			metrics_batch(n);
			if (PQstatus(conn.pg) != CONNECTION_OK)
				worker_lost(&conn, "writer");
			else
				last_ok = now_ms();
		}
		/* one wake-up for the whole batch */
		pthread_mutex_lock(&pool.lock);
		for (int i = 0; i < n; i++)
			em_list_append(&pool.done, &batch[i]->link);
		pthread_mutex_unlock(&pool.lock);
		lws_cancel_service(pool.context);
	}
	free(batch);
	store_disconnect(&conn);
	return NULL;
}

int db_submit_batched(struct db_job *job)
{
	int rc = 0;

	pthread_mutex_lock(&pool.lock);
	if ((int)pool.batched.count >= pool.queue_max || pool.stopping || !pool.writer_started) {
		rc = EM_ERR_BUSY;
	} else {
		em_list_append(&pool.batched, &job->link);
		if (pool.batched.count == 1 || (int)pool.batched.count >= pool.batch_max / 4)
			pthread_cond_signal(&pool.bcond);
	}
	pthread_mutex_unlock(&pool.lock);
	return rc;
}

int db_start(const char *conninfo, int n_workers, int queue_max, void *lws_context)
{
	pool.conninfo = strdup(conninfo);
	pool.context = lws_context;
	pool.queue_max = queue_max;
	pool.threads = calloc((size_t)n_workers, sizeof(pthread_t));
	if (!pool.conninfo || !pool.threads)
		return -1;
	for (int i = 0; i < n_workers; i++) {
		if (pthread_create(&pool.threads[i], NULL, worker_main, (void *)(intptr_t)i))
			return -1;
		pool.n_threads++;
	}
	if (pool.runner) {
		if (pthread_create(&pool.writer, NULL, writer_main, (void *)(intptr_t)n_workers))
			return -1;
		pool.writer_started = 1;
	}
	return 0;
}

void db_stop(void)
{
	struct em_list left = {0};
	struct em_link *l;

	pthread_mutex_lock(&pool.lock);
	pool.stopping = 1;
	pthread_cond_broadcast(&pool.cond);
	pthread_cond_broadcast(&pool.bcond);
	pthread_mutex_unlock(&pool.lock);
	for (int i = 0; i < pool.n_threads; i++)
		pthread_join(pool.threads[i], NULL);
	if (pool.writer_started)
		pthread_join(pool.writer, NULL);
	pool.writer_started = 0;
	free(pool.threads);
	pool.threads = NULL;
	pool.n_threads = 0;
	db_take_completed(&left);
	while ((l = em_list_pop(&left)))
		db_job_free(db_job_of(l));
	free(pool.conninfo);
	pool.conninfo = NULL;
}

int db_submit(struct db_job *job)
{
	int rc = 0;

	pthread_mutex_lock(&pool.lock);
	if ((int)pool.pending.count >= pool.queue_max || pool.stopping) {
		rc = EM_ERR_BUSY;
	} else {
		em_list_append(&pool.pending, &job->link);
		pthread_cond_signal(&pool.cond);
	}
	pthread_mutex_unlock(&pool.lock);
	return rc;
}

void db_take_completed(struct em_list *out)
{
	pthread_mutex_lock(&pool.lock);
	em_list_splice(out, &pool.done);
	pthread_mutex_unlock(&pool.lock);
}

int db_is_up(void)
{
	return atomic_load(&pool.up);
}

int db_queue_depth(void)
{
	int n;

	pthread_mutex_lock(&pool.lock);
	n = (int)(pool.pending.count + pool.batched.count);
	pthread_mutex_unlock(&pool.lock);
	return n;
}
