/*
 * handle_calendar.c - calendar feeds of checkpoints: calendar.url (a new
 * secret feed token; only its hash is stored), calendar.revoke,
 * calendar.export, and the worker side of GET /calendar/TOKEN.ics (http.c).
 * One VEVENT per checkpoint or session (SUMMARY "Mentoring session", never
 * its topic) of the user that was ever confirmed
 * (docs/PROTOCOL.md section 6.3). A feed is read by calendar services the
 * person chooses, so it names nobody: the DESCRIPTION says how many take part,
 * not who (the course: a mentee's identity is not disclosed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "ical.h"
#include "log.h"
#include "server.h"
#include "store.h"

#define FEED_EVENTS_MAX 1000

static const struct stmt st_feed_set = {
    "cal_feed_set", "INSERT INTO calendar_feeds (user_id, token_hash) VALUES ($1, $2) "
                    "ON CONFLICT (user_id) DO UPDATE SET token_hash = EXCLUDED.token_hash, "
                    "created_at = now()"};

static const struct stmt st_feed_drop = {"cal_feed_drop",
                                         "DELETE FROM calendar_feeds WHERE user_id = $1"};

static const struct stmt st_feed_user = {
    "cal_feed_user", "SELECT f.user_id, u.username FROM calendar_feeds f JOIN users u ON "
                     "u.id = f.user_id WHERE f.token_hash = $1"};

static const struct stmt st_events = {
    "cal_events",
    "SELECT c.id, c.sequence, c.state, extract(epoch FROM s.starts_at)::bigint, s.minutes, "
    "extract(epoch FROM c.updated_at)::bigint, c.kind, r.name, s.place, "
    "(SELECT format('%s taking part (who: in ementor)', count(*)) "
    "FROM checkpoint_participants(c.id) p WHERE p.required) "
    "FROM checkpoints c JOIN rooms r ON r.id = c.room_id "
    "JOIN checkpoint_slots s ON s.id = c.slot_id "
    "WHERE EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = c.room_id AND "
    "m.user_id = $1 AND m.removed_at IS NULL) OR (c.kind = 'midterm' AND EXISTS (SELECT 1 "
    "FROM programme_people pp WHERE pp.programme_id = r.programme_id AND pp.user_id = $1 "
    "AND pp.role = 'manager')) "
    "ORDER BY s.starts_at, c.id LIMIT 1000"};

static const char *kind_title(const char *kind)
{
	if (!strcmp(kind, "initial"))
		return "initial meeting";
	if (!strcmp(kind, "midterm"))
		return "mid-term review";
	return "final meeting";
}

/* The user's calendar (malloc'd) or NULL with *err set. */
static char *user_calendar(struct db_conn *c, int64_t user_id, const char *username, int *err)
{
	struct params p = {0};
	struct ical_event *ev;
	char(*summary)[160], name[96];
	char *ics = NULL;
	PGresult *r;
	int n;

	params_int(&p, user_id);
	if (!(r = store_exec(c, &st_events, &p, err, NULL)))
		return NULL;
	n = PQntuples(r);
	ev = calloc((size_t)n + 1, sizeof(*ev));
	summary = calloc((size_t)n + 1, sizeof(*summary));
	if (ev && summary) {
		for (int i = 0; i < n && i < FEED_EVENTS_MAX; i++) {
			const char *state = store_str(r, i, 2);

			ev[i].id = store_int(r, i, 0);
			ev[i].sequence = (int)store_int(r, i, 1);
			ev[i].status = !strcmp(state, "cancelled") ? "CANCELLED"
			               : !strcmp(state, "open")    ? "TENTATIVE"
			                                           : "CONFIRMED";
			ev[i].start_s = store_int(r, i, 3);
			ev[i].minutes = (int)store_int(r, i, 4);
			ev[i].stamp_s = store_int(r, i, 5);
			if (!strcmp(store_str(r, i, 6), "session")) /* its topic is the room's */
				snprintf(summary[i], sizeof(summary[i]), "Mentoring session%s",
				         !strcmp(state, "open") ? " (being rescheduled)" : "");
			else
				snprintf(summary[i], sizeof(summary[i]), "Mentoring %s: %s%s",
				         kind_title(store_str(r, i, 6)), store_str(r, i, 7),
				         !strcmp(state, "open") ? " (being rescheduled)" : "");
			ev[i].summary = summary[i];
			ev[i].location = store_str(r, i, 8);
			ev[i].description = store_str(r, i, 9);
		}
		snprintf(name, sizeof(name), "ementor: %s", username);
		ics = ical_calendar(name, "ementor", ev,
		                    (size_t)(n < FEED_EVENTS_MAX ? n : FEED_EVENTS_MAX));
	}
	PQclear(r); /* after ical_calendar: the events point into r */
	free(ev);
	free(summary);
	if (!ics)
		*err = EM_ERR_NOMEM;
	return ics;
}

int calendar_url_run(struct db_conn *c, struct db_job *job)
{
	unsigned char hash[32];
	char token[48], url[512];
	struct params p = {0};
	PGresult *r;
	int err;

	store_random_token(token, 32);
	store_hash(token, strlen(token), hash);
	params_int(&p, job->user_id);
	params_bin(&p, hash, sizeof(hash));
	if (!(r = store_exec(c, &st_feed_set, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	PQclear(r);
	if (server.cfg.public_url[0])
		snprintf(url, sizeof(url), "%s/calendar/%s.ics", server.cfg.public_url, token);
	else
		snprintf(url, sizeof(url), "https://localhost:%d/calendar/%s.ics", server.cfg.port,
		         token);
	job->result = json_pack("{ssss}", "url", url, "token", token);
	log_info("calendar feed issued user=%lld", (long long)job->user_id);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int calendar_revoke_run(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_feed_drop, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	job->result = json_pack("{sb}", "revoked", atoi(PQcmdTuples(r)) > 0);
	PQclear(r);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int calendar_export_run(struct db_conn *c, struct db_job *job)
{
	int err;
	char *ics = user_calendar(c, job->user_id, job->username, &err);

	if (!ics)
		return db_job_fail(job, err, NULL);
	job->result = json_pack("{ss}", "ics", ics);
	free(ics);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int calendar_feed_run(struct db_conn *c, struct db_job *job)
{
	const char *token = job_str(job, "token");
	unsigned char hash[32];
	struct params p = {0};
	char username[40];
	PGresult *r;
	int64_t user;
	char *ics;
	int err;

	store_hash(token, strlen(token), hash);
	params_bin(&p, hash, sizeof(hash));
	if (!(r = store_exec(c, &st_feed_user, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	if (PQntuples(r) != 1) {
		PQclear(r);
		return db_job_fail(job, EM_ERR_NOT_FOUND, NULL);
	}
	user = store_int(r, 0, 0);
	snprintf(username, sizeof(username), "%s", store_str(r, 0, 1));
	PQclear(r);
	if (!(ics = user_calendar(c, user, username, &err)))
		return db_job_fail(job, err, NULL);
	job->extra = json_string(ics);
	free(ics);
	return job->extra ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}
