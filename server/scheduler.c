/*
 * scheduler.c - the one scheduler of scheduler.h: a table of periodic
 * entries, one lws timer set to the earliest turn, and for DB entries the
 * "one job at a time" rule every periodic job needs (a slow database must
 * not pile up copies of the same sweep). Service thread.
 */
#include <stdio.h>
#include <time.h>

#include <libwebsockets.h>

#include "db.h"
#include "log.h"
#include "scheduler.h"

static struct {
	struct lws_context *context;
	struct sched_entry *entries;
	int n;
	lws_sorted_usec_list_t sul;
	int armed;
} sch;

/* Turns follow a monotonic clock: a wall-clock step must not stall or hurry them. */
static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct sched_entry *entry_of_job(const struct db_job *job)
{
	for (int i = 0; i < sch.n; i++)
		if (sch.entries[i].run == job->run)
			return &sch.entries[i];
	return NULL;
}

/* Service thread: a DB entry's job is over (done, failed or dropped). */
static void job_finished(struct db_job *job)
{
	struct sched_entry *e = entry_of_job(job);

	if (!e)
		return;
	e->busy = 0;
	if (e->finished)
		e->finished(job);
}

/* One turn of a DB entry: skipped while its last job runs or the database is down. */
static void turn_job(struct sched_entry *e)
{
	json_t *args = NULL;
	int rc;

	if (e->busy || !db_is_up())
		return;
	rc = e->args ? e->args(&args) : 1;
	if (rc < 0)
		log_warn("scheduler: %s: could not start (out of memory)", e->name);
	if (rc <= 0)
		return;
	if (db_submit_background(e->run, args, job_finished)) {
		log_warn("scheduler: %s: the database queue is full; next turn", e->name);
		return;
	}
	e->busy = 1;
}

int64_t scheduler_run_due(int64_t now_ms)
{
	int64_t next = INT64_MAX;

	for (int i = 0; i < sch.n; i++) {
		struct sched_entry *e = &sch.entries[i];

		if (e->due_ms <= now_ms) {
			if (e->tick)
				e->tick();
			else
				turn_job(e);
			e->due_ms = now_ms + (e->every_ms > 0 ? e->every_ms : 1000);
		}
		if (e->due_ms < next)
			next = e->due_ms;
	}
	return next;
}

static void timer(lws_sorted_usec_list_t *sul)
{
	int64_t now = mono_ms(), next = scheduler_run_due(now);

	(void)sul;
	sch.armed = 0;
	if (next == INT64_MAX || !sch.context)
		return;
	lws_sul_schedule(sch.context, 0, &sch.sul, timer,
	                 (lws_usec_t)(next > now ? next - now : 1) * LWS_US_PER_MS);
	sch.armed = 1;
}

void scheduler_start(struct lws_context *context, struct sched_entry *entries, int n)
{
	int64_t first = INT64_MAX, now_ms = mono_ms();

	sch.context = context;
	sch.entries = entries;
	sch.n = n;
	if (!context)
		now_ms = 0; /* tests: their clock starts at 0 */
	for (int i = 0; i < n; i++) {
		entries[i].due_ms = now_ms + entries[i].first_ms;
		entries[i].busy = 0;
		if (entries[i].due_ms < first)
			first = entries[i].due_ms;
	}
	if (context && first != INT64_MAX) {
		lws_sul_schedule(context, 0, &sch.sul, timer,
		                 (lws_usec_t)(first > now_ms ? first - now_ms : 1) * LWS_US_PER_MS);
		sch.armed = 1;
	}
}

void scheduler_stop(void)
{
	if (sch.armed)
		lws_sul_cancel(&sch.sul);
	sch.armed = 0;
	sch.context = NULL;
	sch.n = 0;
	sch.entries = NULL;
}
