/*
 * db.c (stub) - the parts of server/db.h a service-thread module calls,
 * recorded instead of run: no workers, no PostgreSQL. Background jobs stay
 * in stub_db_submitted until the test completes them (stub_db_finish), so a
 * test decides when a job is over.
 */
#include <string.h>

#include "db.h"
#include "stubs.h"

int stub_db_up = 1;
int stub_db_full;
int stub_db_n_submitted;
struct stub_background stub_db_submitted[STUB_DB_MAX];
void (*stub_db_batch_runner)(struct db_conn *c, struct db_job **jobs, int n);
struct em_list stub_db_completed;

void stub_db_reset(void)
{
	for (int i = 0; i < stub_db_n_submitted; i++)
		json_decref(stub_db_submitted[i].args);
	memset(stub_db_submitted, 0, sizeof(stub_db_submitted));
	stub_db_n_submitted = 0;
	stub_db_up = 1;
	stub_db_full = 0;
	stub_db_batch_runner = NULL;
	stub_db_completed = (struct em_list){0};
}

int db_is_up(void)
{
	return stub_db_up;
}

int db_queue_depth(void)
{
	return 0;
}

int db_submit_background(int (*run)(struct db_conn *c, struct db_job *job), json_t *args,
                         void (*finished)(struct db_job *job))
{
	if (stub_db_full || stub_db_n_submitted == STUB_DB_MAX) {
		json_decref(args); /* db.h: args freed when not queued */
		return -1;
	}
	stub_db_submitted[stub_db_n_submitted++] =
	    (struct stub_background){.run = run, .args = args, .finished = finished};
	return 0;
}

void stub_db_finish(int i)
{
	struct db_job *job = db_job_new();

	job->run = stub_db_submitted[i].run;
	job->args = stub_db_submitted[i].args;
	job->finished = stub_db_submitted[i].finished;
	stub_db_submitted[i].args = NULL;
	if (job->finished)
		job->finished(job);
	db_job_free(job);
}

void db_set_batch_runner(db_batch_runner runner, int batch_max, int batch_wait_us)
{
	(void)batch_max;
	(void)batch_wait_us;
	stub_db_batch_runner = runner;
}

void db_take_completed(struct em_list *out)
{
	em_list_splice(out, &stub_db_completed);
}
