/*
 * submit.c - a connection's jobs to the database threads: the job is stamped
 * with who asked (slot + generation, user, session, role, address) and counted
 * in flight on the session until its completion; a continuation (the next
 * page of a replay) is parked while the connection's output is backed up.
 * Service thread.
 */
#include <stdio.h>

#include "db.h"
#include "server.h"
#include "session.h"
#include "submit.h"

int submit_job(struct session *s, struct db_job *job, int batched)
{
	int rc;

	job->slot = s->slot;
	job->gen = s->gen;
	job->user_id = s->user_id;
	job->session_id = s->session_id;
	snprintf(job->role, sizeof(job->role), "%s", s->role);
	snprintf(job->username, sizeof(job->username), "%s", s->username);
	snprintf(job->addr, sizeof(job->addr), "%s", s->addr);
	rc = batched ? db_submit_batched(job) : db_submit(job);
	if (rc)
		return rc;
	s->inflight++;
	return EM_OK;
}

void submit_internal(struct session *s, struct db_job *job)
{
	size_t cap = (size_t)server.cfg.out_queue_kib * 1024;

	if (s->out_bytes > cap / 2) {
		/* let the client read what is queued first; ws.c unparks it */
		db_job_free(s->parked);
		s->parked = job;
		return;
	}
	if (submit_job(s, job, 0)) {
		db_job_free(job);
		session_close(s, 1013, "server busy; reconnect");
	}
}

void submit_unpark(struct session *s)
{
	struct db_job *job = s->parked;

	s->parked = NULL;
	if (job)
		submit_internal(s, job);
}
