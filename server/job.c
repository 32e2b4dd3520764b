/*
 * job.c - the job helpers of job.h: allocation, the arguments a worker reads,
 * the error and events it records. Pure; any thread (a job belongs to one
 * thread at a time).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "job.h"

struct db_job *db_job_new(void)
{
	return calloc(1, sizeof(struct db_job));
}

void db_job_free(struct db_job *job)
{
	if (!job)
		return;
	json_decref(job->args);
	json_decref(job->result);
	json_decref(job->room_events);
	json_decref(job->user_events);
	json_decref(job->extra);
	for (size_t i = 0; i < job->n_texts; i++)
		free(job->texts[i]);
	free(job->texts);
	free(job);
}

const char *job_str(const struct db_job *job, const char *name)
{
	return json_string_value(json_object_get(job->args, name));
}

int64_t job_int(const struct db_job *job, const char *name, int64_t fallback)
{
	json_t *v = json_object_get(job->args, name);

	return json_is_integer(v) ? json_integer_value(v) : fallback;
}

int job_bin(const struct db_job *job, const char *name, unsigned char *out, size_t outlen)
{
	const char *s = job_str(job, name);

	return s ? em_b64_decode(s, out, outlen) : -1;
}

int db_job_fail(struct db_job *job, int err, const char *fmt, ...)
{
	va_list ap;

	job->err = err;
	job->message[0] = '\0';
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(job->message, sizeof(job->message), fmt, ap);
		va_end(ap);
	}
	if (em_err_retryable(err) && !job->retry_after_ms)
		job->retry_after_ms = 1000;
	json_decref(job->result);
	job->result = NULL;
	return err;
}

void db_job_push(json_t **list, int64_t id, enum server_event ev, json_t *data)
{
	if (!*list)
		*list = json_array();
	json_array_append_new(*list, json_pack("[Iio]", (json_int_t)id, (int)ev, data));
}
