/*
 * handle_audit.c - the programme manager's engagement audit (docs/PROTOCOL.md
 * section 8): audit.report, audit.thresholds and room.access_log, and the
 * rollup job the scheduler runs.
 *
 * DESIGN. The figures come from rollups (schema/005_audit.sql) that are
 * brought up to date for the programme first, in the same transaction, so a
 * report is never staler than its request. The report itself is one SQL
 * function over the audit_* views, run after SET LOCAL ROLE ementor_audit:
 * that role may read those views and nothing else, so even a bug in the
 * report's SQL cannot reach a ciphertext, key or signature column. Every
 * report is recorded in audit_access (who, which programme or room, when),
 * and a room's members read that trail with room.access_log. In the
 * background the rollups follow the messages every couple of seconds, a
 * few thousand at a time (measured: one rollup of 30,000 messages every 15 s
 * doubled the writer's median latency at 2,000 msg/s on a 2-core box).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "log.h"
#include "server.h"
#include "store.h"

#define ROLLUP_BATCH     100000 /* messages per room per rollup call, before a report */
#define ROLLUP_BUDGET    5000   /* messages per background rollup (every AUDIT_ROLLUP_EVERY_S) */
#define REPORT_ROOMS_MAX 200    /* rooms per report page: ~3 KiB each, well under the out queue */

/* $1 user, $2 programme (0: none), $3 room (0: none) -> programme, manager?, managed count */
static const struct stmt st_scope = {
    "audit_scope",
    "SELECT p.id, EXISTS (SELECT 1 FROM programme_people pp WHERE pp.programme_id = p.id "
    "AND pp.user_id = $1 AND pp.role = 'manager') FROM programmes p WHERE "
    "($2::bigint <> 0 AND p.id = $2) OR ($2::bigint = 0 AND $3::bigint <> 0 AND p.id = "
    "(SELECT programme_id FROM rooms WHERE id = $3)) OR ($2::bigint = 0 AND $3::bigint = 0 "
    "AND p.id IN (SELECT programme_id FROM programme_people WHERE user_id = $1 AND role = "
    "'manager')) ORDER BY p.id LIMIT 2"};

static const struct stmt st_room_in = {"audit_room_in",
                                       "SELECT 1 FROM rooms WHERE id = $1 AND programme_id = $2"};

static const struct stmt st_rollup = {"audit_rollup", "SELECT stats_rollup($1, $2)"};

/*
 * The role exists, we may become it, and it is what it should be: not a
 * superuser, a member of no other role, and unable to read the messages
 * (also through a grant to PUBLIC).
 */
static const struct stmt st_has_role = {
    "audit_has_role",
    "SELECT pg_has_role(current_user, 'ementor_audit', 'USAGE') AND NOT r.rolsuper "
    "AND NOT r.rolbypassrls AND NOT EXISTS (SELECT 1 FROM pg_auth_members m "
    "WHERE m.member = r.oid) AND NOT has_table_privilege('ementor_audit', 'messages', "
    "'SELECT') AND NOT has_table_privilege('ementor_audit', 'key_envelopes', 'SELECT') "
    "FROM pg_roles r WHERE r.rolname = 'ementor_audit'"};

static const struct stmt st_set_role = {"audit_set_role", "SET LOCAL ROLE ementor_audit"};

/* $1 the report's room ids: each room's diary counts (schema/011_diary.sql's view). */
static const struct stmt st_diary = {
    "audit_diary",
    "SELECT COALESCE(jsonb_object_agg(room_id, jsonb_build_object('meetings', meetings, "
    "'entry_versions', entry_versions, 'remarks', remarks)), '{}'::jsonb)::text "
    "FROM audit_diary WHERE room_id = ANY($1::bigint[])"};

/*
 * Adds "diary": {"meetings", "entry_versions", "remarks"} to each RoomReport:
 * counts only, read as ementor_audit like the report. EM_OK or an em_err.
 */
static int audit_diary_merge(struct db_conn *c, json_t *report)
{
	json_t *rooms = json_object_get(report, "rooms"), *room, *counts;
	char ids[4096] = "{";
	struct params p = {0};
	PGresult *r;
	size_t i;
	int err;

	json_array_foreach(rooms, i, room)
	    snprintf(ids + strlen(ids), sizeof(ids) - strlen(ids), "%s%lld", i ? "," : "",
	             (long long)json_integer_value(json_object_get(room, "room_id")));
	strncat(ids, "}", sizeof(ids) - strlen(ids) - 1);
	params_text(&p, ids);
	if (!(r = store_exec(c, &st_diary, &p, &err, NULL)))
		return err;
	counts = json_loads(store_str(r, 0, 0) ? store_str(r, 0, 0) : "{}", 0, NULL);
	PQclear(r);
	if (!counts)
		return EM_ERR_NOMEM;
	json_array_foreach(rooms, i, room)
	{
		char key[24];
		json_t *one;

		snprintf(key, sizeof(key), "%lld",
		         (long long)json_integer_value(json_object_get(room, "room_id")));
		one = json_object_get(counts, key);
		json_object_set_new(
		    room, "diary",
		    one ? json_incref(one)
		        : json_pack("{sisisi}", "meetings", 0, "entry_versions", 0, "remarks", 0));
	}
	json_decref(counts);
	return EM_OK;
}
static const struct stmt st_reset_role = {"audit_reset_role", "RESET ROLE"};

static const struct stmt st_report = {"audit_report",
                                      "SELECT audit_report($1, NULLIF($2::bigint, 0), "
                                      "to_timestamp($3::bigint / 1000.0), $4, $5)::text"};

/* goals and ratings per room (schema/010_goals.sql): counts, stages, never content */
static const struct stmt st_goals = {
    "audit_goals",
    "SELECT room_id, personal_goals, group_goals, tasks, ratings_start, "
    "ratings_midterm, ratings_final, ratings_any FROM audit_goals WHERE room_id = $1"};

/* questionnaire answers and progress shares per room (schema/013): counts, never content */
static const struct stmt st_quest = {"audit_questionnaires",
                                     "SELECT initial, final, shared_ratings, shared_goals FROM "
                                     "audit_questionnaires WHERE room_id = $1"};

/* concern reports per room (schema/018): how many are open, never who reported or what */
static const struct stmt st_reports = {"audit_reports",
                                       "SELECT open, total FROM audit_reports WHERE room_id = $1"};

/* Sessions (section 6.4) per room of programme $1 (room $2, 0: all), by state: as ementor_audit. */
static const struct stmt st_sessions = {
    "audit_sessions",
    "SELECT s.room_id, count(*) FILTER (WHERE s.state <> 'cancelled'), "
    "count(*) FILTER (WHERE s.state = 'held'), count(*) FILTER (WHERE s.state = 'missed'), "
    "count(*) FILTER (WHERE s.state = 'cancelled') FROM audit_sessions s "
    "JOIN audit_rooms r ON r.room_id = s.room_id WHERE r.programme_id = $1 "
    "AND ($2::bigint = 0 OR s.room_id = $2) GROUP BY s.room_id"};

static const struct stmt st_log = {
    "audit_log",
    "INSERT INTO audit_access (viewer_id, programme_id, room_id, scope, format) "
    "SELECT $1, $2, r.id, CASE WHEN $3::bigint = 0 THEN 'programme' ELSE 'room' END, $4 "
    "FROM rooms r WHERE r.programme_id = $2 AND ($3::bigint = 0 OR r.id = $3) "
    "AND r.kind <> 'support'"}; /* the audit covers no support room (schema/021) */

/*
 * Finds the programme the request is about and checks the caller manages it.
 * EM_OK with *pid, or the job failed (rolled back).
 */
static int audit_scope(struct db_conn *c, struct db_job *job, int64_t *pid)
{
	int64_t programme = job_int(job, "programme_id", 0), room = job_int(job, "room_id", 0);
	struct params p = {0};
	PGresult *r;
	int err, n, manager;

	params_int(&p, job->user_id);
	params_int(&p, programme);
	params_int(&p, room);
	if (!(r = store_exec(c, &st_scope, &p, &err, NULL)))
		return store_fail(c, job, err);
	n = PQntuples(r);
	*pid = n ? store_int(r, 0, 0) : 0;
	manager = n ? store_bool(r, 0, 1) : 0;
	PQclear(r);
	if (!programme && !room && n > 1) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_BAD_VALUE,
		                   "you manage several programmes: give programme_id");
	}
	/* another programme's manager learns nothing, not even that it exists */
	if (!n || !manager) {
		store_rollback(c);
		if (room)
			return db_job_fail(job, EM_ERR_NOT_FOUND,
			                   "no room %lld in a programme you "
			                   "manage",
			                   (long long)room);
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no programme %lld that you manage",
		                   (long long)programme);
	}
	if (room && programme) {
		memset(&p, 0, sizeof(p));
		params_int(&p, room);
		params_int(&p, programme);
		if (!(r = store_exec(c, &st_room_in, &p, &err, NULL)))
			return store_fail(c, job, err);
		n = PQntuples(r);
		PQclear(r);
		if (!n) {
			store_rollback(c);
			return db_job_fail(job, EM_ERR_NOT_FOUND, "no room %lld in programme %lld",
			                   (long long)room, (long long)programme);
		}
	}
	return EM_OK;
}

/* Each RoomReport of job->result gets "questionnaires" (as ementor_audit). Returns em_err. */
static int audit_questionnaires(struct db_conn *c, struct db_job *job)
{
	json_t *room;
	size_t i;

	json_array_foreach(json_object_get(job->result, "rooms"), i, room)
	{
		struct params p = {0};
		PGresult *r;
		int err;

		params_int(&p, json_integer_value(json_object_get(room, "room_id")));
		if (!(r = store_exec(c, &st_quest, &p, &err, NULL)))
			return err;
		if (PQntuples(r) == 1)
			json_object_set_new(room, "questionnaires",
			                    json_pack("{s:I, s:I, s:{s:I, s:I}}", "initial",
			                              (json_int_t)store_int(r, 0, 0), "final",
			                              (json_int_t)store_int(r, 0, 1), "shared",
			                              "ratings", (json_int_t)store_int(r, 0, 2),
			                              "goals", (json_int_t)store_int(r, 0, 3)));
		PQclear(r);
	}
	return EM_OK;
}

/*
 * Each RoomReport of job->result gets "reports" {"open", "total"}, and the
 * summary "reports_open" (as ementor_audit). Returns em_err.
 */
static int audit_reports(struct db_conn *c, struct db_job *job)
{
	json_t *room, *summary = json_object_get(job->result, "summary");
	int64_t open = 0;
	size_t i;

	json_array_foreach(json_object_get(job->result, "rooms"), i, room)
	{
		struct params p = {0};
		PGresult *r;
		int err;

		params_int(&p, json_integer_value(json_object_get(room, "room_id")));
		if (!(r = store_exec(c, &st_reports, &p, &err, NULL)))
			return err;
		if (PQntuples(r) == 1) {
			open += store_int(r, 0, 0);
			json_object_set_new(room, "reports",
			                    json_pack("{s:I, s:I}", "open",
			                              (json_int_t)store_int(r, 0, 0), "total",
			                              (json_int_t)store_int(r, 0, 1)));
		}
		PQclear(r);
	}
	if (json_is_object(summary))
		json_object_set_new(summary, "reports_open", json_integer((json_int_t)open));
	return EM_OK;
}

/* Each RoomReport of job->result gets "goals" (still as ementor_audit). Returns em_err. */
static int audit_goals(struct db_conn *c, struct db_job *job)
{
	json_t *room;
	size_t i;

	json_array_foreach(json_object_get(job->result, "rooms"), i, room)
	{
		struct params p = {0};
		PGresult *r;
		int err;

		params_int(&p, json_integer_value(json_object_get(room, "room_id")));
		if (!(r = store_exec(c, &st_goals, &p, &err, NULL)))
			return err;
		if (PQntuples(r) == 1)
			json_object_set_new(room, "goals",
			                    json_pack("{s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}}",
			                              "personal", (json_int_t)store_int(r, 0, 1),
			                              "group", (json_int_t)store_int(r, 0, 2),
			                              "tasks", (json_int_t)store_int(r, 0, 3),
			                              "ratings", "start",
			                              (json_int_t)store_int(r, 0, 4), "midterm",
			                              (json_int_t)store_int(r, 0, 5), "final",
			                              (json_int_t)store_int(r, 0, 6), "any",
			                              (json_int_t)store_int(r, 0, 7)));
		PQclear(r);
	}
	return EM_OK;
}

/* support rooms per programme (schema/021): a number, apart from the mentoring rooms */
static const struct stmt st_support = {
    "audit_support",
    "SELECT COALESCE((SELECT rooms FROM audit_support WHERE programme_id = $1), 0)"};

/* The summary's "support_rooms": how many support rooms the programme has. Runs as ementor_audit.
 */
static int audit_support(struct db_conn *c, struct db_job *job, int64_t pid)
{
	json_t *summary = json_object_get(job->result, "summary");
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, pid);
	if (!(r = store_exec(c, &st_support, &p, &err, NULL)))
		return err;
	if (json_is_object(summary))
		json_object_set_new(summary, "support_rooms", json_integer(store_int(r, 0, 0)));
	PQclear(r);
	return EM_OK;
}

/*
 * Adds the sessions of each room to the report in job->result: RoomReport
 * "sessions" {"planned", "held", "missed", "cancelled"} and the summary's
 * "sessions_held" and "sessions_missed". Runs as ementor_audit. EM_OK or an em_err.
 */
static int audit_add_sessions(struct db_conn *c, struct db_job *job, int64_t pid, int64_t room)
{
	json_t *rooms = json_object_get(job->result, "rooms"), *summary, *rr;
	struct params p = {0};
	int64_t held = 0, missed = 0;
	PGresult *r;
	size_t i;
	int err;

	params_int(&p, pid);
	params_int(&p, room);
	if (!(r = store_exec(c, &st_sessions, &p, &err, NULL)))
		return err;
	json_array_foreach(rooms, i, rr)
	{
		json_int_t counts[4] = {0, 0, 0, 0};
		int64_t id = json_integer_value(json_object_get(rr, "room_id"));

		for (int row = 0; row < PQntuples(r); row++) {
			if (store_int(r, row, 0) != id)
				continue;
			for (int k = 0; k < 4; k++)
				counts[k] = (json_int_t)store_int(r, row, k + 1);
		}
		json_object_set_new(rr, "sessions",
		                    json_pack("{sIsIsIsI}", "planned", counts[0], "held", counts[1],
		                              "missed", counts[2], "cancelled", counts[3]));
	}
	for (int row = 0; row < PQntuples(r); row++) {
		held += store_int(r, row, 2);
		missed += store_int(r, row, 3);
	}
	PQclear(r);
	summary = json_object_get(job->result, "summary");
	if (json_is_object(summary)) {
		json_object_set_new(summary, "sessions_held", json_integer((json_int_t)held));
		json_object_set_new(summary, "sessions_missed", json_integer((json_int_t)missed));
	}
	return EM_OK;
}

int audit_report_run(struct db_conn *c, struct db_job *job)
{
	int64_t pid = 0, room = job_int(job, "room_id", 0);
	const char *format = job_str(job, "format");
	struct params p = {0};
	PGresult *r;
	int err, isolated;

	if ((err = store_begin(c)))
		return store_fail(c, job, err);
	if ((err = audit_scope(c, job, &pid)))
		return err;
	/* bring the rollups up to date (as the server's own role) */
	params_int(&p, pid);
	params_int(&p, ROLLUP_BATCH);
	if (!(r = store_exec(c, &st_rollup, &p, &err, NULL)))
		return store_fail(c, job, err);
	PQclear(r);
	memset(&p, 0, sizeof(p));
	if (!(r = store_exec(c, &st_has_role, &p, &err, NULL)))
		return store_fail(c, job, err);
	isolated = PQntuples(r) == 1 && store_bool(r, 0, 0);
	PQclear(r);
	if (!isolated) {
		/* no content-free role: refuse rather than read as the owner */
		store_rollback(c);
		log_error("audit refused: role ementor_audit is missing, not granted to the "
		          "server's database user, or can read more than the audit views (see "
		          "schema/005_audit.sql)");
		return db_job_fail(job, EM_ERR_INTERNAL,
		                   "the audit is not available: the database lacks its role");
	}
	if (!(r = store_exec(c, &st_set_role, &p, &err, NULL)))
		return store_fail(c, job, err);
	PQclear(r);
	params_int(&p, pid);
	params_int(&p, room);
	/* milliseconds: a whole second would put "now" before this second's activity */
	params_int(&p, server_now_ms() + server_clock_offset() * 1000LL);
	params_int(&p, job_int(job, "offset", 0));
	params_int(&p, job_int(job, "limit", REPORT_ROOMS_MAX));
	if (!(r = store_exec(c, &st_report, &p, &err, NULL)))
		return store_fail(c, job, err);
	job->result = json_loads(store_str(r, 0, 0), 0, NULL);
	PQclear(r);
	if (!job->result)
		return store_fail(c, job, EM_ERR_NOMEM);
	if ((err = audit_diary_merge(c, job->result)) || (err = audit_goals(c, job)) ||
	    (err = audit_add_sessions(c, job, pid, room)) || (err = audit_questionnaires(c, job)) ||
	    (err = audit_reports(c, job)) || (err = audit_support(c, job, pid)))
		return store_fail(c, job, err);
	memset(&p, 0, sizeof(p));
	if (!(r = store_exec(c, &st_reset_role, &p, &err, NULL)))
		return store_fail(c, job, err);
	PQclear(r);
	params_int(&p, job->user_id);
	params_int(&p, pid);
	params_int(&p, room);
	params_text(&p, format ? format : "json");
	if (!(r = store_exec(c, &st_log, &p, &err, NULL)))
		return store_fail(c, job, err);
	PQclear(r);
	if ((err = store_commit(c)))
		return store_fail(c, job, err);
	log_info("audit report programme=%lld room=%lld by=%lld", (long long)pid, (long long)room,
	         (long long)job->user_id);
	return EM_OK;
}

static const struct stmt st_thresholds = {
    "audit_thresholds",
    "UPDATE programmes SET flag_inactive_days = COALESCE(NULLIF($2::int, -1), "
    "flag_inactive_days), flag_unsigned_days = COALESCE(NULLIF($3::int, -1), "
    "flag_unsigned_days), flag_never_logged_in_days = COALESCE(NULLIF($4::int, -1), "
    "flag_never_logged_in_days) WHERE id = $1 RETURNING flag_inactive_days, "
    "flag_unsigned_days, flag_never_logged_in_days"};

int audit_thresholds_run(struct db_conn *c, struct db_job *job)
{
	int64_t pid = 0;
	struct params p = {0};
	PGresult *r;
	int err;

	if (!job_int(job, "programme_id", 0))
		return db_job_fail(job, EM_ERR_MISSING_FIELD, "args.programme_id: required");
	if ((err = store_begin(c)))
		return store_fail(c, job, err);
	if ((err = audit_scope(c, job, &pid)))
		return err;
	params_int(&p, pid);
	params_int(&p, job_int(job, "inactive_days", -1));
	params_int(&p, job_int(job, "unsigned_days", -1));
	params_int(&p, job_int(job, "never_logged_in_days", -1));
	if (!(r = store_exec(c, &st_thresholds, &p, &err, NULL)))
		return store_fail(c, job, err);
	job->result = json_pack("{s:I, s:{s:I, s:I, s:I}}", "programme_id", (json_int_t)pid,
	                        "thresholds", "inactive_days", (json_int_t)store_int(r, 0, 0),
	                        "unsigned_days", (json_int_t)store_int(r, 0, 1),
	                        "never_logged_in_days", (json_int_t)store_int(r, 0, 2));
	PQclear(r);
	if ((err = store_commit(c)))
		return store_fail(c, job, err);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

/* Members of the room and managers of its programme may read its trail. */
static const struct stmt st_access_log = {
    "audit_access_log",
    "SELECT audit_access_list($1)::text FROM rooms r WHERE r.id = $1 AND (EXISTS (SELECT 1 "
    "FROM room_members m WHERE m.room_id = r.id AND m.user_id = $2 AND m.removed_at IS NULL) "
    "OR EXISTS (SELECT 1 FROM programme_people pp WHERE pp.programme_id = r.programme_id "
    "AND pp.user_id = $2 AND pp.role = 'manager'))"};

int room_access_log_run(struct db_conn *c, struct db_job *job)
{
	int64_t room = job_int(job, "room_id", 0);
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, room);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_access_log, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	if (PQntuples(r) != 1) {
		PQclear(r);
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no room %lld that you are in or manage",
		                   (long long)room);
	}
	job->result = json_pack("{s:I, s:o}", "room_id", (json_int_t)room, "views",
	                        json_loads(store_str(r, 0, 0), 0, NULL));
	PQclear(r);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

/* ---- the scheduler's rollup job ------------------------------------------------ */

static const struct stmt st_rollup_all = {"audit_rollup_all", "SELECT stats_rollup_some($1)"};

int audit_rollup_run(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, ROLLUP_BUDGET);
	if (!(r = store_exec(c, &st_rollup_all, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	PQclear(r);
	return EM_OK;
}
