/*
 * svc_auth.c - what logging in and out changes on this node's connections,
 * on the service thread (handle_auth.c runs the SQL on DB workers): a
 * connection becomes a user's or anonymous again, the other connections of
 * a session that ended are closed, and the session sweep (the scheduler's)
 * collects the sessions in use here and closes those that ended.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fanout.h"
#include "handlers.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "session.h"

/* Service thread: the connection is now logged in as the job's user. */
void auth_login_done(struct session *s, struct db_job *job)
{
	fanout_user_remove(s);
	metrics_add(M_LOGINS, 1);
	session_set_authenticated(s, 1);
	s->user_id = job->out_user_id;
	s->session_id = job->out_session_id;
	snprintf(s->role, sizeof(s->role), "%s", job->out_role);
	s->mentor_seat = job->out_mentor_seat;
	s->also_mentor = job->out_also_mentor;
	s->also_mentee = job->out_also_mentee;
	snprintf(s->username, sizeof(s->username), "%s", job->out_username);
	if (fanout_user_add(s))
		session_close(s, 1011, "out of memory");
}

/* Service thread, after invite.accept: the new programme's role is this connection's too. */
void auth_roles_done(struct session *s, struct db_job *job)
{
	if (job->err != EM_OK)
		return;
	s->also_mentor |= job->out_also_mentor;
	s->also_mentee |= job->out_also_mentee;
}

/*
 * Service thread, after a logout: other connections of this node that were
 * authenticated with the same token are closed (4004); the requester itself
 * is anonymous again by now (auth_logout_done ran first).
 */
void auth_logout_finished(struct db_job *job)
{
	if (job->err == EM_OK && job->session_id)
		fanout_close_session(job->user_id, job->session_id);
}

/* Service thread: back to an anonymous connection with a fresh auth deadline. */
void auth_logout_done(struct session *s, struct db_job *job)
{
	(void)job;
	fanout_forget(s); /* no more events for the user who left */
	s->synced = 0;
	session_set_authenticated(s, 0);
	s->user_id = 0;
	s->session_id = 0;
	s->role[0] = '\0';
	s->mentor_seat = 0;
	s->also_mentor = s->also_mentee = 0;
	s->username[0] = '\0';
	s->auth_deadline_ms = server_now_ms() + server.cfg.auth_timeout_s * 1000LL;
	s->auth_sent = 0;
}

/* Service thread, after passwd: the user's other sessions on this node are closed (4004). */
void auth_passwd_finished(struct db_job *job)
{
	if (job->err == EM_OK)
		fanout_close_other_sessions(job->user_id, job->session_id);
}

struct idlist {
	char *buf; /* "{1,2,3}": a PostgreSQL array literal */
	size_t len, cap;
};

static int idlist_add(struct idlist *l, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%c%lld", l->len ? ',' : '{', (long long)v);

	if (l->len + (size_t)n + 2 > l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		char *b = realloc(l->buf, cap);

		if (!b)
			return -1;
		l->buf = b;
		l->cap = cap;
	}
	memcpy(l->buf + l->len, num, (size_t)n);
	l->len += (size_t)n;
	memcpy(l->buf + l->len, "}", 2); /* closed after every id; overwritten by the next */
	return 0;
}

struct sweep_ids {
	struct idlist sids, uids;
	int n, failed;
};

static void sweep_collect(struct session *s, void *arg)
{
	struct sweep_ids *w = arg;

	if (!s->authenticated || !s->session_id || s->close_code || w->failed)
		return;
	if (idlist_add(&w->sids, s->session_id) || idlist_add(&w->uids, s->user_id)) {
		w->failed = 1;
		return;
	}
	w->n++;
}

struct ended {
	int64_t sid;
	int erased;
};

static int ended_cmp(const void *a, const void *b)
{
	int64_t x = ((const struct ended *)a)->sid, y = ((const struct ended *)b)->sid;

	return (x > y) - (x < y);
}

struct ended_set {
	struct ended *v;
	size_t n;
	int closed;
};

static void sweep_close(struct session *s, void *arg)
{
	struct ended_set *set = arg;
	struct ended key = {.sid = s->session_id}, *hit;

	if (!s->authenticated || s->close_code ||
	    !(hit = bsearch(&key, set->v, set->n, sizeof(key), ended_cmp)))
		return;
	session_close_ended(s, hit->erased);
	set->closed++;
}

void session_sweep_finished(struct db_job *job)
{
	struct ended_set set = {0};
	size_t i;
	json_t *row;

	if (job->err != EM_OK || !json_array_size(job->result))
		return;
	if (!(set.v = calloc(json_array_size(job->result), sizeof(*set.v))))
		return;
	json_array_foreach(job->result, i, row)
	{
		set.v[i].sid = json_integer_value(json_array_get(row, 0));
		set.v[i].erased = json_is_true(json_array_get(row, 1));
	}
	set.n = json_array_size(job->result);
	qsort(set.v, set.n, sizeof(*set.v), ended_cmp);
	session_foreach(sweep_close, &set);
	free(set.v);
	if (set.closed)
		log_info("sessions ended closed=%d", set.closed);
	metrics_add(M_SESSIONS_ENDED, (uint64_t)set.closed);
}

int session_sweep_args(json_t **args)
{
	struct sweep_ids w = {0};
	int rc = 0;

	session_foreach(sweep_collect, &w);
	if (w.failed) {
		log_warn("session sweep: out of memory");
		rc = -1;
	} else if (w.n) {
		*args = json_pack("{ssss}", "sids", w.sids.buf, "uids", w.uids.buf);
		rc = *args ? 1 : -1;
	}
	free(w.sids.buf);
	free(w.uids.buf);
	return rc;
}
