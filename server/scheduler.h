/*
 * scheduler.h - everything periodic, in one table and one timer: reminders,
 * retention, the session sweep, the audit's rollups, the cluster's heartbeat
 * and catch-up sweep (main.c's table). An entry is either work on the
 * service thread (tick) or a background DB job (run on a worker), and a DB
 * job's entry never has two jobs at a time: while one runs, or while the
 * database is down, its turn is skipped. Service thread.
 */
#ifndef EMENTORD_SCHEDULER_H
#define EMENTORD_SCHEDULER_H

#include <stdint.h>
#include <jansson.h>

struct db_conn;
struct db_job;
struct lws_context;

struct sched_entry {
	const char *name;   /* for logs */
	int64_t first_ms;   /* the first turn, after start */
	int64_t every_ms;   /* then one every this long */
	void (*tick)(void); /* work on the service thread; NULL for a DB job */
	/*
	 * A DB job: its arguments, built on the service thread at its turn
	 * (NULL: the job takes none). Returns 1 with *args set, 0 when there is
	 * nothing to do this time (no job), -1 on error.
	 */
	int (*args)(json_t **args);
	int (*run)(struct db_conn *c, struct db_job *job); /* DB worker; unique per entry */
	void (*finished)(struct db_job *job); /* service thread, after the job (may be NULL) */

	/* the scheduler's */
	int64_t due_ms;
	int busy; /* a job of this entry is queued or running */
};

/*
 * Starts the timer over n entries (the table stays the caller's, alive until
 * scheduler_stop); context NULL starts no timer (tests drive
 * scheduler_run_due() with their own clock, from 0 at start).
 */
void scheduler_start(struct lws_context *context, struct sched_entry *entries, int n);
void scheduler_stop(void);
/*
 * Runs every entry due at now_ms (a monotonic clock in ms) and sets its next
 * turn. Returns the time of the next turn.
 */
int64_t scheduler_run_due(int64_t now_ms);

#endif
