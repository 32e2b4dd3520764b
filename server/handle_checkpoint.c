/*
 * handle_checkpoint.c - the three face-to-face checkpoints of each room
 * (docs/PROTOCOL.md section 6): list, propose, answer, reschedule, cancel,
 * absent, record, attend, window. The notices they cause are written here, in
 * the same transaction; reading them and the reminders are handle_notice.c's.
 *
 * DESIGN. Every op runs in one transaction on a worker thread and locks the
 * checkpoint row first, so concurrent answers cannot both confirm it. The
 * Checkpoint and Notice objects are built by SQL functions of the schema
 * (checkpoint_doc, checkpoint_notify in 003_checkpoints.sql) and parsed with
 * jansson. Time comes from server_clock_s() as a parameter, never now(),
 * so tests can move it. Notices are rows first and pushed second: a user who
 * is offline finds them with notice.list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handlers.h"
#include "log.h"
#include "server.h"
#include "store.h"

#define LATE_CHANGE_S  (48 * 3600) /* the code of ethics' two days */
#define OPEN_SLOTS_MAX 10
#define LIST_MAX       600 /* st_cp_list asks for one more */

/* The caller and the checkpoint, locked. $1 checkpoint, $2 user, $3 now. */
static const struct stmt st_cp_load = {
    "cp_load",
    "SELECT c.id, c.room_id, r.programme_id, c.kind, c.state, COALESCE(c.slot_id, 0), "
    "COALESCE(extract(epoch FROM s.starts_at)::bigint, 0), COALESCE(s.minutes, 0), "
    "EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = c.room_id AND m.user_id = $2 "
    "AND m.removed_at IS NULL), "
    "EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = c.room_id AND m.user_id = $2 "
    "AND m.removed_at IS NULL AND m.role = 'mentor'), "
    "EXISTS (SELECT 1 FROM programme_people pp WHERE pp.programme_id = r.programme_id "
    "AND pp.user_id = $2 AND pp.role = 'manager'), "
    "c.opens_on::text, c.closes_on::text "
    "FROM checkpoints c JOIN rooms r ON r.id = c.room_id "
    "LEFT JOIN checkpoint_slots s ON s.id = c.slot_id WHERE c.id = $1 FOR UPDATE OF c"};

static const struct stmt st_cp_doc = {"cp_doc",
                                      "SELECT checkpoint_doc($1, to_timestamp($2::bigint))::text"};

static const struct stmt st_cp_list = {
    "cp_list",
    "SELECT checkpoint_doc(c.id, to_timestamp($2::bigint))::text FROM checkpoints c "
    "JOIN rooms r ON r.id = c.room_id "
    "WHERE ($3::bigint = 0 OR c.room_id = $3) AND ($4::bigint = 0 OR r.programme_id = $4) "
    "AND (EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = c.room_id AND m.user_id = $1 "
    "AND m.removed_at IS NULL) OR EXISTS (SELECT 1 FROM programme_people pp WHERE "
    "pp.programme_id = r.programme_id AND pp.user_id = $1 AND pp.role = 'manager')) "
    "AND c.kind <> 'session' " /* sessions: meeting.plan */
    "ORDER BY c.room_id, array_position(ARRAY['initial', 'midterm', 'final'], c.kind) "
    "LIMIT 601"};

static const struct stmt st_open_slots = {
    "cp_open_slots",
    "SELECT count(*) FROM checkpoint_slots WHERE checkpoint_id = $1 AND withdrawn_at IS NULL"};

static const struct stmt st_slot_insert = {
    "cp_slot_insert",
    "WITH s AS (INSERT INTO checkpoint_slots (checkpoint_id, proposed_by, starts_at, minutes, "
    "place, created_at) VALUES ($1, $2, $3::timestamptz, $4, $5, to_timestamp($6::bigint)) "
    "RETURNING id) "
    "INSERT INTO slot_answers (slot_id, user_id, accepted, answered_at) "
    "SELECT id, $2, true, to_timestamp($6::bigint) FROM s "
    "WHERE EXISTS (SELECT 1 FROM checkpoint_participants($1) p WHERE p.user_id = $2) "
    "RETURNING slot_id"};

static const struct stmt st_cp_touch = {
    "cp_touch", "UPDATE checkpoints SET state = $2, sequence = sequence + 1, "
                "updated_at = to_timestamp($3::bigint) WHERE id = $1"};

static const struct stmt st_event = {
    "cp_event", "INSERT INTO checkpoint_events (checkpoint_id, actor_id, kind, reason, late, at) "
                "VALUES ($1, $2, $3, $4, $5::boolean, to_timestamp($6::bigint))"};

static const struct stmt st_notify = {
    "cp_notify",
    "SELECT user_id, doc FROM checkpoint_notify($1, $2, $3, $4::jsonb, to_timestamp($5::bigint))"};

static const struct stmt st_withdraw = {
    "cp_withdraw", "UPDATE checkpoint_slots SET withdrawn_at = to_timestamp($2::bigint) "
                   "WHERE checkpoint_id = $1 AND withdrawn_at IS NULL AND id <> $3"};

static const struct stmt st_reminders_drop = {
    "cp_reminders_drop", "DELETE FROM reminders WHERE checkpoint_id = $1 AND sent_at IS NULL"};

/* The slot with its checkpoint id, unlocked: answer locks the checkpoint next. */
static const struct stmt st_slot_find = {
    "cp_slot_find", "SELECT checkpoint_id, withdrawn_at IS NOT NULL, "
                    "extract(epoch FROM starts_at)::bigint FROM checkpoint_slots WHERE id = $1"};

static const struct stmt st_answer = {
    "cp_answer", "INSERT INTO slot_answers (slot_id, user_id, accepted, answered_at) "
                 "VALUES ($1, $2, $3::boolean, to_timestamp($4::bigint)) "
                 "ON CONFLICT (slot_id, user_id) DO UPDATE SET accepted = EXCLUDED.accepted, "
                 "answered_at = EXCLUDED.answered_at"};

/*
 * 1 when every required participant and (mid-term) a manager of the programme
 * accepted the slot; a manager who is the room's mentor is listed as the
 * mentor (014_manager_mentor.sql) and counts as that manager too.
 */
static const struct stmt st_slot_complete = {
    "cp_slot_complete",
    "SELECT NOT EXISTS (SELECT 1 FROM checkpoint_participants($1) p WHERE p.required AND "
    "NOT EXISTS (SELECT 1 FROM slot_answers a WHERE a.slot_id = $2 AND a.user_id = p.user_id "
    "AND a.accepted)) AND ((SELECT kind FROM checkpoints WHERE id = $1) <> 'midterm' OR "
    "EXISTS (SELECT 1 FROM checkpoint_participants($1) p JOIN slot_answers a ON "
    "a.user_id = p.user_id AND a.slot_id = $2 AND a.accepted JOIN checkpoints c ON c.id = $1 "
    "JOIN rooms r ON r.id = c.room_id JOIN programme_people pp ON pp.programme_id = "
    "r.programme_id AND pp.user_id = p.user_id AND pp.role = 'manager'))"};

static const struct stmt st_confirm = {
    "cp_confirm", "UPDATE checkpoints SET state = 'confirmed', slot_id = $2, "
                  "sequence = sequence + 1, updated_at = to_timestamp($3::bigint) WHERE id = $1"};

/* $1 checkpoint, $2 slot, $3 now, $4 the lead times in minutes. */
static const struct stmt st_reminders_add = {
    "cp_reminders_add",
    "INSERT INTO reminders (checkpoint_id, slot_id, user_id, lead_minutes, due_at) "
    "SELECT $1, s.id, p.user_id, l, s.starts_at - make_interval(mins => l) "
    "FROM checkpoint_slots s, checkpoint_participants($1) p, unnest($4::int[]) AS l "
    "WHERE s.id = $2 AND s.starts_at - make_interval(mins => l) > to_timestamp($3::bigint) "
    "ON CONFLICT DO NOTHING"};

static const struct stmt st_slot_json = {
    "cp_slot_json",
    "SELECT jsonb_build_object('starts_at', utc_text(starts_at), 'place', place)::text "
    "FROM checkpoint_slots WHERE id = $1"};

static const struct stmt st_participant_id = {
    "cp_participant_id", "SELECT user_id FROM checkpoint_participants($1) WHERE username = $2"};

static const struct stmt st_attendance_record = {
    "cp_attendance_record",
    "INSERT INTO attendance (checkpoint_id, user_id, attended, recorded_by) "
    "SELECT $1, p.user_id, $2::boolean AND p.user_id = ANY($3::bigint[]), $4 "
    "FROM checkpoint_participants($1) p "
    "ON CONFLICT (checkpoint_id, user_id) DO UPDATE SET attended = EXCLUDED.attended, "
    "recorded_by = EXCLUDED.recorded_by"};

static const struct stmt st_attendance_self = {
    "cp_attendance_self", "INSERT INTO attendance (checkpoint_id, user_id, confirmed) "
                          "VALUES ($1, $2, $3::boolean) ON CONFLICT (checkpoint_id, user_id) "
                          "DO UPDATE SET confirmed = EXCLUDED.confirmed"};

static const struct stmt st_state_only = {
    "cp_state_only", "UPDATE checkpoints SET state = $2, updated_at = to_timestamp($3::bigint) "
                     "WHERE id = $1"};

static const struct stmt st_window_set = {
    "cp_window_set", "UPDATE checkpoints SET opens_on = $2::date, closes_on = $3::date, "
                     "window_set = true, updated_at = to_timestamp($4::bigint) WHERE id = $1"};

static const struct stmt st_programme_manager = {
    "cp_programme_manager", "SELECT 1 FROM programme_people WHERE programme_id = $1 AND "
                            "user_id = $2 AND role = 'manager'"};

/* $1 programme, $2 kind, $3 days: the default, then every window not set by hand. */
static const struct stmt st_window_default = {
    "cp_window_default",
    "WITH p AS (UPDATE programmes SET "
    "initial_days = CASE WHEN $2 = 'initial' THEN $3 ELSE initial_days END, "
    "midterm_days = CASE WHEN $2 = 'midterm' THEN $3 ELSE midterm_days END, "
    "final_days = CASE WHEN $2 = 'final' THEN $3 ELSE final_days END "
    "WHERE id = $1 RETURNING *) "
    "UPDATE checkpoints c SET opens_on = w.opens, closes_on = w.closes "
    "FROM rooms r, p, LATERAL checkpoint_window(p::programmes, $2) w "
    "WHERE r.id = c.room_id AND r.programme_id = p.id AND c.kind = $2 AND NOT c.window_set"};

/* What an op knows about its checkpoint and its caller. */
struct cp {
	int64_t id, room_id, programme_id, slot_id, start_s;
	int minutes;
	char kind[12], state[12], opens_on[11], closes_on[11];
	int member, mentor, manager; /* the caller's relation */
};

static int cp_participant(const struct cp *c)
{
	return c->member || (c->manager && !strcmp(c->kind, "midterm"));
}

/* Loads and locks the checkpoint; not_found unless the caller may see it. */
static int cp_load(struct db_conn *c, struct db_job *job, int64_t id, struct cp *out)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, id);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_cp_load, &p, &err, NULL)))
		return err;
	memset(out, 0, sizeof(*out));
	if (PQntuples(r) == 1) {
		out->id = store_int(r, 0, 0);
		out->room_id = store_int(r, 0, 1);
		out->programme_id = store_int(r, 0, 2);
		snprintf(out->kind, sizeof(out->kind), "%s", store_str(r, 0, 3));
		snprintf(out->state, sizeof(out->state), "%s", store_str(r, 0, 4));
		out->slot_id = store_int(r, 0, 5);
		out->start_s = store_int(r, 0, 6);
		out->minutes = (int)store_int(r, 0, 7);
		out->member = store_bool(r, 0, 8);
		out->mentor = store_bool(r, 0, 9);
		/* a manager attends the mid-term only: the members' own sessions
		 * (kind 'session', 009_meetings.sql) are not theirs to see */
		out->manager = store_bool(r, 0, 10) && strcmp(out->kind, "session");
		snprintf(out->opens_on, sizeof(out->opens_on), "%s", store_str(r, 0, 11));
		snprintf(out->closes_on, sizeof(out->closes_on), "%s", store_str(r, 0, 12));
	}
	PQclear(r);
	if (!out->id || (!out->member && !out->manager))
		return EM_ERR_NOT_FOUND;
	return EM_OK;
}

/* Begins the op's transaction and loads its checkpoint (arg checkpoint_id). EM_OK, or the job
 * failed. */
static int cp_open(struct db_conn *c, struct db_job *job, struct cp *cp)
{
	int err;

	if ((err = store_begin(c)))
		return db_job_fail(job, err, NULL);
	if ((err = cp_load(c, job, job_int(job, "checkpoint_id", 0), cp)))
		return store_fail_msg(
		    c, job, err, err == EM_ERR_NOT_FOUND ? "no such checkpoint of yours" : NULL);
	return EM_OK;
}

/* The Checkpoint object as it is now in this transaction (new reference or NULL). */
static json_t *cp_doc(struct db_conn *c, int64_t id, int64_t now, int *err)
{
	struct params p = {0};
	PGresult *r;
	json_t *doc = NULL;

	params_int(&p, id);
	params_int(&p, now);
	if (!(r = store_exec(c, &st_cp_doc, &p, err, NULL)))
		return NULL;
	if (PQntuples(r) == 1)
		doc = json_loads(store_str(r, 0, 0), 0, NULL);
	PQclear(r);
	if (!doc)
		*err = EM_ERR_INTERNAL;
	return doc;
}

static int cp_event(struct db_conn *c, int64_t id, int64_t actor, const char *kind,
                    const char *reason, int late, int64_t now)
{
	struct params p = {0};

	params_int(&p, id);
	params_int(&p, actor);
	params_text(&p, kind);
	params_text(&p, reason);
	params_text(&p, late ? "true" : "false");
	params_int(&p, now);
	return store_run(c, &st_event, &p);
}

int checkpoint_notify(struct db_conn *c, struct db_job *job, int64_t id, const char *kind,
                      json_t *extra, int64_t now)
{
	struct params p = {0};
	char *text = json_dumps(extra ? extra : json_object(), JSON_COMPACT);
	PGresult *r;
	int err;

	json_decref(extra);
	if (!text)
		return EM_ERR_NOMEM;
	params_int(&p, id);
	params_int(&p, job->user_id);
	params_text(&p, kind);
	params_text(&p, text);
	params_int(&p, now);
	r = store_exec(c, &st_notify, &p, &err, NULL);
	free(text);
	if (!r)
		return err;
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *doc = json_loads(store_str(r, i, 1), 0, NULL);

		if (doc)
			db_job_push(&job->user_events, store_int(r, i, 0), EV_NOTICE, doc);
	}
	PQclear(r);
	return EM_OK;
}

/* Commits and answers {"checkpoint": doc}. */
static int cp_finish(struct db_conn *c, struct db_job *job, int64_t id, int64_t now)
{
	int err;
	json_t *doc = cp_doc(c, id, now, &err);

	if (!doc || (err = store_commit(c))) {
		json_decref(doc);
		json_decref(job->user_events); /* nothing happened: nothing to push */
		job->user_events = NULL;
		return store_fail(c, job, err);
	}
	job->result = json_pack("{so}", "checkpoint", doc);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

/* Unix seconds of a validated "YYYY-MM-DDTHH:MM:00Z". */
static int64_t utc_seconds(const char *s)
{
	struct tm tm = {0};

	tm.tm_year = atoi(s) - 1900;
	tm.tm_mon = atoi(s + 5) - 1;
	tm.tm_mday = atoi(s + 8);
	tm.tm_hour = atoi(s + 11);
	tm.tm_min = atoi(s + 14);
	return (int64_t)timegm(&tm);
}

/* Checks and inserts the job's "slots" for checkpoint cp. EM_OK or an em_err (message set). */
static int add_slots(struct db_conn *c, struct db_job *job, const struct cp *cp, int64_t now)
{
	json_t *slots = json_object_get(job->args, "slots"), *slot;
	struct params p = {0};
	PGresult *r;
	size_t i;
	int err;
	int64_t open;

	params_int(&p, cp->id);
	if (!(r = store_exec(c, &st_open_slots, &p, &err, NULL)))
		return err;
	open = store_int(r, 0, 0);
	PQclear(r);
	if (open + (int64_t)json_array_size(slots) > OPEN_SLOTS_MAX) {
		db_job_fail(job, EM_ERR_TOO_MANY,
		            "this checkpoint has %lld open slots; at most %d may be open at once",
		            (long long)open, OPEN_SLOTS_MAX);
		return EM_ERR_TOO_MANY;
	}
	json_array_foreach(slots, i, slot)
	{
		const char *at = json_string_value(json_object_get(slot, "starts_at"));

		if (utc_seconds(at) < now) {
			db_job_fail(job, EM_ERR_IN_THE_PAST,
			            "slots[%zu] starts at %s, which has passed", i, at);
			return EM_ERR_IN_THE_PAST;
		}
		if (strncmp(at, cp->opens_on, 10) < 0 || strncmp(at, cp->closes_on, 10) > 0) {
			db_job_fail(job, EM_ERR_OUTSIDE_WINDOW,
			            "slots[%zu] is on %.10s, outside the %s window %s to %s%s", i,
			            at, cp->kind, cp->opens_on, cp->closes_on,
			            strcmp(cp->kind, "session") ? " (a manager can move it)"
			                                        : " (the programme's dates)");
			return EM_ERR_OUTSIDE_WINDOW;
		}
		memset(&p, 0, sizeof(p));
		params_int(&p, cp->id);
		params_int(&p, job->user_id);
		params_text(&p, at);
		params_int(&p, json_integer_value(json_object_get(slot, "minutes")));
		params_text(&p, json_string_value(json_object_get(slot, "place")));
		params_int(&p, now);
		if ((err = store_run(c, &st_slot_insert, &p)))
			return err;
	}
	return EM_OK;
}

int checkpoint_slots_add(struct db_conn *c, struct db_job *job, int64_t id, int64_t now)
{
	struct cp cp;
	int err;

	if ((err = cp_load(c, job, id, &cp)))
		return err;
	return add_slots(c, job, &cp, now);
}

/*
 * If every required participant accepted the slot: confirm, withdraw the other
 * slots, schedule reminders, notify. *confirmed tells. EM_OK or an em_err.
 */
static int try_confirm(struct db_conn *c, struct db_job *job, int64_t cp_id, int64_t slot_id,
                       int64_t now, int *confirmed)
{
	struct params p = {0};
	char leads[64] = "{";
	PGresult *r;
	int err, done;

	*confirmed = 0;
	params_int(&p, cp_id);
	params_int(&p, slot_id);
	if (!(r = store_exec(c, &st_slot_complete, &p, &err, NULL)))
		return err;
	done = store_bool(r, 0, 0);
	PQclear(r);
	if (!done)
		return EM_OK;
	p.n = 0;
	params_int(&p, cp_id);
	params_int(&p, slot_id);
	params_int(&p, now);
	if ((err = store_run(c, &st_confirm, &p)))
		return err;
	p.n = 0;
	params_int(&p, cp_id);
	params_int(&p, now);
	params_int(&p, slot_id);
	if ((err = store_run(c, &st_withdraw, &p)))
		return err;
	for (int i = 0; i < server.cfg.n_remind; i++)
		snprintf(leads + strlen(leads), sizeof(leads) - strlen(leads), "%s%d", i ? "," : "",
		         server.cfg.remind_minutes[i]);
	strncat(leads, "}", sizeof(leads) - strlen(leads) - 1);
	p.n = 0;
	params_int(&p, cp_id);
	params_int(&p, slot_id);
	params_int(&p, now);
	params_text(&p, leads);
	if ((err = store_run(c, &st_reminders_add, &p)))
		return err;
	if ((err = cp_event(c, cp_id, job->user_id, "confirmed", NULL, 0, now)))
		return err;
	p.n = 0;
	params_int(&p, slot_id);
	if (!(r = store_exec(c, &st_slot_json, &p, &err, NULL)))
		return err;
	err = checkpoint_notify(c, job, cp_id, "checkpoint.confirmed",
	                        json_loads(store_str(r, 0, 0), 0, NULL), now);
	PQclear(r);
	/* the confirming answer's author is told too: others may have caused it */
	*confirmed = 1;
	return err;
}

int checkpoint_list_run(struct db_conn *c, struct db_job *job)
{
	int64_t now = server_clock_s(), room = job_int(job, "room_id", 0),
	        programme = job_int(job, "programme_id", 0);
	struct params p = {0};
	PGresult *r;
	json_t *list;
	char ts[32];
	time_t t = (time_t)now;
	struct tm tm;
	int err, n;

	if (room && programme)
		return db_job_fail(job, EM_ERR_BAD_VALUE, "give room_id or programme_id, not both");
	params_int(&p, job->user_id);
	params_int(&p, now);
	params_int(&p, room);
	params_int(&p, programme);
	if (!(r = store_exec(c, &st_cp_list, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	n = PQntuples(r);
	if (n == 0 && (room || programme)) {
		PQclear(r);
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no %s %lld that you are in or manage",
		                   room ? "room" : "programme",
		                   (long long)(room ? room : programme));
	}
	list = json_array();
	for (int i = 0; i < n && i < LIST_MAX; i++)
		json_array_append_new(list, json_loads(store_str(r, i, 0), 0, NULL));
	PQclear(r);
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	job->result = json_pack("{sossso}", "checkpoints", list, "now", ts, "truncated",
	                        json_boolean(n > LIST_MAX));
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int checkpoint_propose_run(struct db_conn *c, struct db_job *job)
{
	int64_t now = server_clock_s();
	struct cp cp;
	struct params p = {0};
	int err, reopened;

	if ((err = cp_open(c, job, &cp)))
		return err;
	if (!cp_participant(&cp))
		return store_fail_msg(c, job, EM_ERR_FORBIDDEN, "only participants propose slots");
	if (strcmp(cp.state, "open") && strcmp(cp.state, "cancelled"))
		return store_fail_msg(
		    c, job, EM_ERR_BAD_STATE,
		    !strcmp(cp.state, "confirmed")
		        ? "the checkpoint is confirmed: use checkpoint.reschedule to move it"
		        : "the meeting has been recorded");
	if ((err = add_slots(c, job, &cp, now))) {
		store_rollback(c);
		return job->err ? job->err : db_job_fail(job, err, NULL);
	}
	reopened = !strcmp(cp.state, "cancelled");
	params_int(&p, cp.id);
	params_text(&p, "open");
	params_int(&p, now);
	if ((err = store_run(c, &st_cp_touch, &p)) ||
	    (err = cp_event(c, cp.id, job->user_id, "proposed", NULL, 0, now)) ||
	    (err = checkpoint_notify(c, job, cp.id, "checkpoint.proposed",
	                             json_pack("{sb}", "reopened", reopened), now)))
		return store_fail(c, job, err);
	return cp_finish(c, job, cp.id, now);
}

int checkpoint_answer_run(struct db_conn *c, struct db_job *job)
{
	int64_t now = server_clock_s(), slot = job_int(job, "slot_id", 0), cp_id, start;
	int accept = json_is_true(json_object_get(job->args, "accept")), withdrawn, err, confirmed;
	struct params p = {0};
	struct cp cp;
	PGresult *r;

	if ((err = store_begin(c)))
		return db_job_fail(job, err, NULL);
	params_int(&p, slot);
	if (!(r = store_exec(c, &st_slot_find, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) != 1) {
		PQclear(r);
		return store_fail_msg(c, job, EM_ERR_NOT_FOUND, "no such slot");
	}
	cp_id = store_int(r, 0, 0);
	withdrawn = store_bool(r, 0, 1);
	start = store_int(r, 0, 2);
	PQclear(r);
	if ((err = cp_load(c, job, cp_id, &cp)))
		return store_fail_msg(c, job, err, err == EM_ERR_NOT_FOUND ? "no such slot" : NULL);
	if (!cp_participant(&cp))
		return store_fail_msg(c, job, EM_ERR_FORBIDDEN, "only participants answer slots");
	if (withdrawn || strcmp(cp.state, "open"))
		return store_fail_msg(
		    c, job, EM_ERR_BAD_STATE,
		    "that slot is no longer open (withdrawn, or the checkpoint is not open)");
	if (start <= now)
		return store_fail_msg(c, job, EM_ERR_IN_THE_PAST, "that slot has started");
	p.n = 0;
	params_int(&p, slot);
	params_int(&p, job->user_id);
	params_text(&p, accept ? "true" : "false");
	params_int(&p, now);
	if ((err = store_run(c, &st_answer, &p)))
		return store_fail(c, job, err);
	if (accept && (err = try_confirm(c, job, cp.id, slot, now, &confirmed)))
		return store_fail(c, job, err);
	return cp_finish(c, job, cp.id, now);
}

/* The late-change rule: the mentor, a confirmed meeting, less than 48 h ahead. */
static int is_late(const struct cp *cp, int64_t now)
{
	return cp->mentor && !strcmp(cp->state, "confirmed") && cp->start_s - now < LATE_CHANGE_S;
}

/* Withdraws every slot still proposed for the checkpoint. */
static int cp_withdraw_slots(struct db_conn *c, int64_t id, int64_t now)
{
	struct params p = {0};

	params_int(&p, id);
	params_int(&p, now);
	params_int(&p, 0);
	return store_run(c, &st_withdraw, &p);
}

/*
 * A meeting moved or called off (`kind` "rescheduled" or "cancelled"): the
 * checkpoint goes to `state`, its reminders go, and the change is recorded as
 * an event and told to the participants as "checkpoint.<kind>".
 */
static int cp_called_off(struct db_conn *c, struct db_job *job, int64_t id, const char *state,
                         const char *kind, const char *reason, int late, int64_t now)
{
	struct params p = {0};
	char notice[32];
	int err;

	snprintf(notice, sizeof(notice), "checkpoint.%s", kind);
	params_int(&p, id);
	params_text(&p, state);
	params_int(&p, now);
	if ((err = store_run(c, &st_cp_touch, &p)))
		return err;
	p.n = 0;
	params_int(&p, id);
	if ((err = store_run(c, &st_reminders_drop, &p)) ||
	    (err = cp_event(c, id, job->user_id, kind, reason, late, now)))
		return err;
	return checkpoint_notify(c, job, id, notice,
	                         json_pack("{sssb}", "reason", reason, "late", late), now);
}

int checkpoint_reschedule_run(struct db_conn *c, struct db_job *job)
{
	int64_t now = server_clock_s();
	const char *reason = job_str(job, "reason");
	struct cp cp;
	int err, late;

	if ((err = cp_open(c, job, &cp)))
		return err;
	if (!cp_participant(&cp))
		return store_fail_msg(c, job, EM_ERR_FORBIDDEN, "only participants reschedule");
	if (strcmp(cp.state, "open") && strcmp(cp.state, "confirmed"))
		return store_fail_msg(c, job, EM_ERR_BAD_STATE,
		                      !strcmp(cp.state, "cancelled")
		                          ? "the checkpoint is cancelled: propose new slots instead"
		                          : "the meeting has been recorded");
	late = is_late(&cp, now);
	if ((err = cp_withdraw_slots(c, cp.id, now)))
		return store_fail(c, job, err);
	if ((err = add_slots(c, job, &cp, now))) {
		store_rollback(c);
		return job->err ? job->err : db_job_fail(job, err, NULL);
	}
	if ((err = cp_called_off(c, job, cp.id, "open", "rescheduled", reason, late, now)))
		return store_fail(c, job, err);
	if (late)
		log_info("checkpoint late change id=%lld by=%lld", (long long)cp.id,
		         (long long)job->user_id);
	return cp_finish(c, job, cp.id, now);
}

int checkpoint_cancel_run(struct db_conn *c, struct db_job *job)
{
	int64_t now = server_clock_s();
	const char *reason = job_str(job, "reason");
	struct cp cp;
	int err, late;

	if ((err = cp_open(c, job, &cp)))
		return err;
	if (!cp.mentor && !cp.manager)
		return store_fail_msg(
		    c, job, EM_ERR_FORBIDDEN,
		    "only the room's mentor or a manager cancels; a mentee who cannot come "
		    "sends checkpoint.absent");
	if (strcmp(cp.state, "open") && strcmp(cp.state, "confirmed"))
		return store_fail_msg(c, job, EM_ERR_BAD_STATE,
		                      "the checkpoint is already cancelled or recorded");
	late = is_late(&cp, now);
	if ((err = cp_withdraw_slots(c, cp.id, now)) ||
	    (err = cp_called_off(c, job, cp.id, "cancelled", "cancelled", reason, late, now)))
		return store_fail(c, job, err);
	return cp_finish(c, job, cp.id, now);
}

int checkpoint_absent_run(struct db_conn *c, struct db_job *job)
{
	int64_t now = server_clock_s();
	const char *reason = job_str(job, "reason");
	struct cp cp;
	int err;

	if ((err = cp_open(c, job, &cp)))
		return err;
	if (!cp_participant(&cp))
		return store_fail_msg(c, job, EM_ERR_FORBIDDEN,
		                      "only participants send absence notices");
	if (strcmp(cp.state, "open") && strcmp(cp.state, "confirmed"))
		return store_fail_msg(c, job, EM_ERR_BAD_STATE,
		                      "the checkpoint is cancelled or recorded");
	if ((err = cp_event(c, cp.id, job->user_id, "absent", reason, 0, now)) ||
	    (err = checkpoint_notify(c, job, cp.id, "checkpoint.absent",
	                             json_pack("{ss}", "reason", reason), now)))
		return store_fail(c, job, err);
	return cp_finish(c, job, cp.id, now);
}

int checkpoint_record_run(struct db_conn *c, struct db_job *job)
{
	int64_t now = server_clock_s();
	int held = json_is_true(json_object_get(job->args, "held")), err;
	json_t *present = json_object_get(job->args, "present"), *name;
	char ids[512] = "{";
	struct params p = {0};
	struct cp cp;
	PGresult *r;
	size_t i;

	if ((err = cp_open(c, job, &cp)))
		return err;
	if (!cp.mentor && !(cp.manager && !strcmp(cp.kind, "midterm")))
		return store_fail_msg(
		    c, job, EM_ERR_FORBIDDEN,
		    "the room's mentor records meetings (and a manager the mid-term)");
	if (!cp.slot_id || (strcmp(cp.state, "confirmed") && strcmp(cp.state, "held") &&
	                    strcmp(cp.state, "missed")))
		return store_fail_msg(c, job, EM_ERR_BAD_STATE,
		                      "only a confirmed meeting can be recorded");
	if (now < cp.start_s)
		return store_fail_msg(c, job, EM_ERR_TOO_EARLY, "the meeting has not started yet");
	json_array_foreach(present, i, name)
	{
		p.n = 0;
		params_int(&p, cp.id);
		params_text(&p, json_string_value(name));
		if (!(r = store_exec(c, &st_participant_id, &p, &err, NULL)))
			return store_fail(c, job, err);
		if (PQntuples(r) != 1) {
			PQclear(r);
			store_rollback(c);
			return db_job_fail(job, EM_ERR_NOT_MEMBER,
			                   "%s is not a participant of this meeting",
			                   json_string_value(name));
		}
		snprintf(ids + strlen(ids), sizeof(ids) - strlen(ids), "%s%lld", i ? "," : "",
		         (long long)store_int(r, 0, 0));
		PQclear(r);
	}
	strncat(ids, "}", sizeof(ids) - strlen(ids) - 1);
	p.n = 0;
	params_int(&p, cp.id);
	params_text(&p, held ? "true" : "false");
	params_text(&p, ids);
	params_int(&p, job->user_id);
	if ((err = store_run(c, &st_attendance_record, &p)))
		return store_fail(c, job, err);
	p.n = 0;
	params_int(&p, cp.id);
	params_text(&p, held ? "held" : "missed");
	params_int(&p, now);
	if ((err = store_run(c, &st_state_only, &p)) ||
	    (err =
	         cp_event(c, cp.id, job->user_id, "recorded", held ? "held" : "missed", 0, now)) ||
	    (err = checkpoint_notify(c, job, cp.id, "checkpoint.recorded",
	                             json_pack("{sb}", "held", held), now)))
		return store_fail(c, job, err);
	return cp_finish(c, job, cp.id, now);
}

int checkpoint_attend_run(struct db_conn *c, struct db_job *job)
{
	int64_t now = server_clock_s();
	int attended = json_is_true(json_object_get(job->args, "attended")), err;
	struct params p = {0};
	struct cp cp;

	if ((err = cp_open(c, job, &cp)))
		return err;
	if (!cp_participant(&cp))
		return store_fail_msg(c, job, EM_ERR_FORBIDDEN,
		                      "only participants confirm attendance");
	if (!cp.slot_id || !strcmp(cp.state, "cancelled"))
		return store_fail_msg(c, job, EM_ERR_BAD_STATE, "this meeting was never confirmed");
	if (now < cp.start_s)
		return store_fail_msg(c, job, EM_ERR_TOO_EARLY, "the meeting has not started yet");
	params_int(&p, cp.id);
	params_int(&p, job->user_id);
	params_text(&p, attended ? "true" : "false");
	if ((err = store_run(c, &st_attendance_self, &p)) ||
	    (err = cp_event(c, cp.id, job->user_id, "attended", attended ? "yes" : "no", 0, now)))
		return store_fail(c, job, err);
	return cp_finish(c, job, cp.id, now);
}

int checkpoint_window_run(struct db_conn *c, struct db_job *job)
{
	int64_t now = server_clock_s(), id = job_int(job, "checkpoint_id", 0),
	        programme = job_int(job, "programme_id", 0);
	const char *opens = job_str(job, "opens_on"), *closes = job_str(job, "closes_on"),
	           *kind = job_str(job, "kind");
	int64_t days = job_int(job, "days", -1);
	struct params p = {0};
	struct cp cp;
	PGresult *r;
	int err, ok;

	/* job_str() is NULL for an absent argument, and every form leaves some out */
	opens = opens ? opens : "";
	closes = closes ? closes : "";
	kind = kind ? kind : "";
	if (id && *opens && *closes && !programme && !*kind && days < 0) {
		if (strcmp(closes, opens) < 0)
			return db_job_fail(job, EM_ERR_BAD_DATES, "closes_on is before opens_on");
		if ((err = store_begin(c)))
			return db_job_fail(job, err, NULL);
		if ((err = cp_load(c, job, id, &cp)))
			return store_fail_msg(
			    c, job, err,
			    err == EM_ERR_NOT_FOUND ? "no such checkpoint of yours" : NULL);
		if (!cp.manager)
			return store_fail_msg(c, job, EM_ERR_FORBIDDEN,
			                      "only a manager of the programme moves windows");
		params_int(&p, cp.id);
		params_text(&p, opens);
		params_text(&p, closes);
		params_int(&p, now);
		if ((err = store_run(c, &st_window_set, &p)) ||
		    (err = cp_event(c, cp.id, job->user_id, "window", NULL, 0, now)))
			return store_fail(c, job, err);
		return cp_finish(c, job, cp.id, now);
	}
	if (!(programme && *kind && days >= 0 && !id && !*opens && !*closes))
		return db_job_fail(
		    job, EM_ERR_MISSING_FIELD,
		    "give checkpoint_id, opens_on and closes_on; or programme_id, kind "
		    "and days");
	if (days < (strcmp(kind, "midterm") ? 1 : 0))
		return db_job_fail(job, EM_ERR_OUT_OF_RANGE, "days must be at least 1");
	if ((err = store_begin(c)))
		return db_job_fail(job, err, NULL);
	params_int(&p, programme);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_programme_manager, &p, &err, NULL)))
		return store_fail(c, job, err);
	ok = PQntuples(r) == 1;
	PQclear(r);
	if (!ok)
		return store_fail_msg(c, job, EM_ERR_NOT_FOUND,
		                      "no programme of yours with that id");
	p.n = 0;
	params_int(&p, programme);
	params_text(&p, kind);
	params_int(&p, days);
	if (!(r = store_exec(c, &st_window_default, &p, &err, NULL)))
		return store_fail(c, job, err);
	job->result = json_pack("{sI}", "updated", (json_int_t)atoll(PQcmdTuples(r)));
	PQclear(r);
	if ((err = store_commit(c))) {
		json_decref(job->result);
		job->result = NULL;
		return store_fail(c, job, err);
	}
	return EM_OK;
}
