/*
 * job.h - the unit of work between the service thread and the database
 * threads (db.h): a request's validated arguments in, a result or an error
 * and the events to push out, plus the helpers a worker uses to read and
 * fill it. Pure data: no threads, no libpq calls; db.c moves jobs between
 * threads, store.c runs their SQL.
 */
#ifndef EMENTORD_JOB_H
#define EMENTORD_JOB_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "em_list.h"
#include "em_proto.h"
#include "events.h"

struct session;
struct db_conn;

struct db_job {
	struct em_link link; /* on a queue or the completion list {db lock} */

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
	int out_mentor_seat; /* a manager who is the mentor of a room (dispatch.c R_SEAT) */
	/* a mentor or mentee in some programme, whatever the account's first role (dispatch.c) */
	int out_also_mentor, out_also_mentee;
	char out_username[40];
	/* pushed after the reply: arrays of [id, enum server_event, data] {owned} */
	json_t *room_events; /* to the sessions subscribed to room id */
	json_t *user_events; /* to the sessions of user id */
	json_t *extra;       /* op-specific data for `done` {owned} */
	/* frames made on the worker for `done` to queue (a replay page), NULL once taken {owned} */
	char **texts;
	size_t n_texts;
};

/* every statement the server has (160 today) is prepared once per connection */
#define DB_MAX_PREPARED 512

/* One worker's connection. Only its worker thread touches it. */
struct db_conn {
	PGconn *pg;
	int index;                             /* worker number, for logs */
	const void *prepared[DB_MAX_PREPARED]; /* statements prepared on pg */
	int n_prepared;
	int failures; /* connection attempts failed in a row (logs stay quiet in an outage) */
	int64_t clock_offset; /* the --clock-offset this connection was told (0 when new) */
};

/* The job on list link `l`. */
#define db_job_of(l) em_item(l, struct db_job, link)

struct db_job *db_job_new(void);
/* Frees the job and what it owns. NULL-safe. */
void db_job_free(struct db_job *job);
/* Worker helpers: read the job's validated args (see em_arg_* in em_proto.h). */
const char *job_str(const struct db_job *job, const char *name);
int64_t job_int(const struct db_job *job, const char *name, int64_t fallback);
int job_bin(const struct db_job *job, const char *name, unsigned char *out, size_t outlen);
/* Worker helper: records an error result. */
int db_job_fail(struct db_job *job, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Worker helper: appends [id, ev, data] to *list (data: reference taken). */
void db_job_push(json_t **list, int64_t id, enum server_event ev, json_t *data);

#endif
