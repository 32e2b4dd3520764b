/*
 * submit.c (stub) - server/submit.h's submit_job() keeping the jobs instead
 * of queueing them: stamped with the session and counted in flight as the
 * real one does, so the test can complete them (stubs.h's db section).
 */
#include <stdio.h>
#include <string.h>

#include "job.h"
#include "session.h"
#include "stubs.h"
#include "submit.h"

struct db_job *stub_jobs[STUB_JOBS];
int stub_jobs_batched[STUB_JOBS];
int stub_n_jobs;
int stub_submit_rc;

void stub_submit_reset(void)
{
	for (int i = 0; i < stub_n_jobs; i++)
		db_job_free(stub_jobs[i]);
	memset(stub_jobs, 0, sizeof(stub_jobs));
	stub_n_jobs = 0;
	stub_submit_rc = 0;
}

struct db_job *stub_submit_take(int i)
{
	struct db_job *job = stub_jobs[i];

	stub_jobs[i] = NULL;
	return job;
}

int submit_job(struct session *s, struct db_job *job, int batched)
{
	if (stub_submit_rc)
		return stub_submit_rc;
	if (stub_n_jobs == STUB_JOBS)
		return EM_ERR_BUSY;
	job->slot = s->slot;
	job->gen = s->gen;
	job->user_id = s->user_id;
	snprintf(job->role, sizeof(job->role), "%s", s->role);
	stub_jobs_batched[stub_n_jobs] = batched;
	stub_jobs[stub_n_jobs++] = job;
	s->inflight++;
	return EM_OK;
}
