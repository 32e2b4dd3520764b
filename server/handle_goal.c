/*
 * handle_goal.c - goals, their tasks and the 4-10 self-ratings
 * (docs/PROTOCOL.md section 10): goal.create, goal.update, goal.list,
 * goal.history, rating.add, rating.list. DB worker threads.
 *
 * The server never sees a goal's text, a task or a status, nor a rating's
 * value: each record is a blob the author's client sealed to its readers
 * (PROTOCOL.md 10.1) and signed. What the server checks is who may write
 * (the SQL function goal_put of schema/010_goals.sql: a personal goal is its
 * mentee's own, a group goal any member's; versions follow each other) and
 * who is handed what: a personal goal the mentee has not shared goes only to
 * its mentee and the room's mentor, in lists and in the `room` event
 * ("change": "goal") that announces a new version; a rating likewise.
 * A manager is a room member only as its mentor (room.add; dispatch.c R_SEAT),
 * and is then answered as the mentor; any other manager is refused by dispatch.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "log.h"
#include "model.h"
#include "store.h"

static const struct stmt st_put = {
    "goal_put", "SELECT goal_put($1, $2, $3, $4::integer, $5, $6::boolean, $7::integer, "
                "$8::integer, $9, $10)"};

#define GOAL_COLS                                                                                  \
	"g.room_id, g.goal_id, g.version, g.kind, g.owner_id, g.author_id, g.shared, "             \
	"g.agreement_version, g.tasks, g.written_ms, g.blob, "                                     \
	"to_char(g.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "             \
	"(SELECT username FROM users u WHERE u.id = g.author_id)"

static const struct stmt st_member = {
    "goal_member", "SELECT role FROM room_members WHERE room_id = $1 AND user_id = $2 "
                   "AND removed_at IS NULL"};

/* the latest version of each goal of the room the caller may see */
static const struct stmt st_list = {
    "goal_list", "SELECT " GOAL_COLS " FROM (SELECT DISTINCT ON (goal_id) * FROM goal_versions "
                 "WHERE room_id = $1 ORDER BY goal_id, version DESC) g "
                 "WHERE goal_visible($1, $2, g.kind, g.owner_id, g.shared) "
                 "ORDER BY g.id LIMIT 500"};

static const struct stmt st_history = {
    "goal_history", "SELECT " GOAL_COLS " FROM goal_versions g WHERE g.room_id = $1 AND "
                    "g.goal_id = $3 AND goal_visible($1, $2, g.kind, g.owner_id, g.shared) "
                    "ORDER BY g.version LIMIT 200"};

/* who is told about a new version: every member, or only the owner and the mentor */
static const struct stmt st_readers = {
    "goal_readers", "SELECT user_id FROM room_members WHERE room_id = $1 AND removed_at IS NULL "
                    "AND ($2::boolean OR user_id = $3 OR role = 'mentor')"};

static const struct stmt st_rating_add = {
    "rating_add", "INSERT INTO ratings (room_id, rating_id, user_id, stage, rated_on, "
                  "agreement_version, written_ms, blob) VALUES ($1, $2, $3, $4, $5::date, "
                  "$6::integer, $7, $8) ON CONFLICT (rating_id) DO NOTHING RETURNING id"};

static const struct stmt st_rating_list = {
    "rating_list",
    "SELECT r.room_id, r.rating_id, r.user_id, u.username, r.stage, r.rated_on::text, "
    "r.agreement_version, r.written_ms, r.blob, "
    "to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
    "FROM ratings r JOIN users u ON u.id = r.user_id WHERE r.room_id = $1 AND "
    "(r.user_id = $2 OR EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = $1 AND "
    "m.user_id = $2 AND m.removed_at IS NULL AND m.role = 'mentor')) "
    "ORDER BY r.rated_on, r.id LIMIT 500"};

/* The Goal object of row (PROTOCOL.md 10.3). New reference or NULL. */
static json_t *goal_json(const PGresult *r, int row)
{
	json_t *g = json_pack(
	    "{s:I, s:o, s:I, s:s, s:I, s:I, s:b, s:I, s:I, s:I, s:o, s:s, s:s}", "room_id",
	    (json_int_t)store_int(r, row, 0), "goal_id",
	    model_bytea_b64(r, row, 1, EM_RECORD_ID_BYTES), "version",
	    (json_int_t)store_int(r, row, 2), "kind", store_str(r, row, 3), "owner_id",
	    (json_int_t)store_int(r, row, 4), "author_id", (json_int_t)store_int(r, row, 5),
	    "shared", store_bool(r, row, 6), "agreement_version", (json_int_t)store_int(r, row, 7),
	    "tasks", (json_int_t)store_int(r, row, 8), "written_ms",
	    (json_int_t)store_int(r, row, 9), "blob",
	    model_bytea_b64(r, row, 10, EM_RECORD_BLOB_MAX), "created_at", store_str(r, row, 11),
	    "author", store_str(r, row, 12) ? store_str(r, row, 12) : "");

	return g;
}

/* The caller's role in room ("mentor"/"mentee"), or fails the job with not_member. */
static int goal_member(struct db_conn *c, struct db_job *job, int64_t room, char role[8])
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, room);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_member, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) != 1) {
		PQclear(r);
		return db_job_fail(job, EM_ERR_NOT_MEMBER, "you are not a member of room %lld",
		                   (long long)room);
	}
	snprintf(role, 8, "%s", store_str(r, 0, 0));
	PQclear(r);
	return EM_OK;
}

/* Records a `room` event {"change": change} for every member told about it. */
static int goal_tell(struct db_conn *c, struct db_job *job, int64_t room, int everyone,
                     int64_t owner, const char *change)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, room);
	params_text(&p, everyone ? "true" : "false");
	params_int(&p, owner);
	if (!(r = store_exec(c, &st_readers, &p, &err, NULL)))
		return err;
	for (int row = 0; row < PQntuples(r); row++)
		db_job_push(&job->user_events, store_int(r, row, 0), EV_ROOM,
		            json_pack("{s:I, s:s}", "room_id", (json_int_t)room, "change", change));
	PQclear(r);
	return EM_OK;
}

/* goal.create and goal.update: one new version, checked by goal_put(). */
static int goal_put_run(struct db_conn *c, struct db_job *job, int create)
{
	int64_t room = job_int(job, "room_id", 0), version = job_int(job, "version", 0);
	unsigned char id[EM_RECORD_ID_BYTES], *blob = NULL;
	const char *kind = job_str(job, "kind"), *code;
	int shared = json_is_true(json_object_get(job->args, "shared"));
	struct params p = {0};
	PGresult *r = NULL;
	int n, err, rc;

	if (create != (version == 1)) {
		rc = db_job_fail(job, EM_ERR_BAD_VALUE,
		                 create ? "goal.create makes version 1; use goal.update"
		                        : "goal.update makes version 2 or later; use goal.create");
		goto out;
	}
	blob = malloc(EM_RECORD_BLOB_MAX);
	if (!blob || job_bin(job, "goal_id", id, sizeof(id)) != (int)sizeof(id) ||
	    (n = job_bin(job, "blob", blob, EM_RECORD_BLOB_MAX)) < 0) {
		rc = db_job_fail(job, EM_ERR_NOMEM, NULL);
		goto out;
	}
	params_int(&p, job->user_id);
	params_int(&p, room);
	params_bin(&p, id, sizeof(id));
	params_int(&p, version);
	params_text(&p, kind);
	params_text(&p, shared ? "true" : "false");
	params_int(&p, job_int(job, "agreement_version", 0));
	params_int(&p, job_int(job, "tasks", 0));
	params_int(&p, job_int(job, "written_ms", 0));
	params_bin(&p, blob, (size_t)n);
	if ((rc = store_begin(c)) != EM_OK) {
		rc = db_job_fail(job, rc, NULL);
		goto out;
	}
	if (!(r = store_exec(c, &st_put, &p, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	code = store_str(r, 0, 0);
	if (strcmp(code, "ok") != 0) {
		int e = em_err_from_code(code);

		store_rollback(c);
		rc = db_job_fail(
		    job, e,
		    e == EM_ERR_NOT_MEMBER   ? "you are not a member of room %lld"
		    : e == EM_ERR_WRONG_ROLE ? "only a mentee has personal goals (room %lld)"
		    : e == EM_ERR_FORBIDDEN  ? "that personal goal is another mentee's (room %lld)"
		    : e == EM_ERR_NOT_FOUND  ? "no such goal in room %lld"
		    : e == EM_ERR_BAD_VALUE  ? "a goal keeps its kind (room %lld)"
		    : e == EM_ERR_STALE_VERSION ? "that goal has another latest version: fetch it "
		                                  "again (room %lld)"
		                                : "refused (room %lld)",
		    (long long)room);
		goto out;
	}
	if ((rc = goal_tell(c, job, room, shared || !strcmp(kind, "group"), job->user_id,
	                    "goal")) != EM_OK ||
	    (rc = store_commit(c)) != EM_OK) {
		rc = store_fail(c, job, rc);
		goto out;
	}
	log_info("goal version stored room=%lld user=%lld version=%lld kind=%s", (long long)room,
	         (long long)job->user_id, (long long)version, kind);
	job->result = json_pack("{s:I}", "version", (json_int_t)version);
	rc = job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
out:
	PQclear(r);
	free(blob);
	return rc;
}

int goal_create_run(struct db_conn *c, struct db_job *job)
{
	return goal_put_run(c, job, 1);
}

int goal_update_run(struct db_conn *c, struct db_job *job)
{
	return goal_put_run(c, job, 0);
}

/* goal.list and goal.history: Goal objects the caller may see. */
static int goal_read_run(struct db_conn *c, struct db_job *job, int history)
{
	int64_t room = job_int(job, "room_id", 0);
	unsigned char id[EM_RECORD_ID_BYTES] = {0};
	struct params p = {0};
	char role[8];
	json_t *list;
	PGresult *r;
	int err;

	if ((err = goal_member(c, job, room, role)))
		return err;
	params_int(&p, room);
	params_int(&p, job->user_id);
	if (history) {
		if (job_bin(job, "goal_id", id, sizeof(id)) != (int)sizeof(id))
			return db_job_fail(job, EM_ERR_BAD_VALUE, NULL);
		params_bin(&p, id, sizeof(id));
	}
	if (!(r = store_exec(c, history ? &st_history : &st_list, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (history && PQntuples(r) == 0) {
		PQclear(r);
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no such goal in room %lld",
		                   (long long)room);
	}
	list = json_array();
	for (int row = 0; list && row < PQntuples(r); row++)
		json_array_append_new(list, goal_json(r, row));
	PQclear(r);
	job->result = json_pack("{s:o}", history ? "versions" : "goals", list);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int goal_list_run(struct db_conn *c, struct db_job *job)
{
	return goal_read_run(c, job, 0);
}

int goal_history_run(struct db_conn *c, struct db_job *job)
{
	return goal_read_run(c, job, 1);
}

int rating_add_run(struct db_conn *c, struct db_job *job)
{
	int64_t room = job_int(job, "room_id", 0);
	unsigned char id[EM_RECORD_ID_BYTES], *blob = NULL;
	struct params p = {0};
	PGresult *r = NULL;
	char role[8];
	int n, err, rc;

	if ((rc = goal_member(c, job, room, role)))
		goto out;
	if (strcmp(role, "mentee") != 0) {
		rc = db_job_fail(job, EM_ERR_WRONG_ROLE,
		                 "only a mentee rates themselves (room %lld)", (long long)room);
		goto out;
	}
	blob = malloc(EM_RECORD_BLOB_MAX);
	if (!blob || job_bin(job, "rating_id", id, sizeof(id)) != (int)sizeof(id) ||
	    (n = job_bin(job, "blob", blob, EM_RECORD_BLOB_MAX)) < 0) {
		rc = db_job_fail(job, EM_ERR_NOMEM, NULL);
		goto out;
	}
	params_int(&p, room);
	params_bin(&p, id, sizeof(id));
	params_int(&p, job->user_id);
	params_text(&p, job_str(job, "stage"));
	params_text(&p, job_str(job, "rated_on"));
	params_int(&p, job_int(job, "agreement_version", 0));
	params_int(&p, job_int(job, "written_ms", 0));
	params_bin(&p, blob, (size_t)n);
	if ((rc = store_begin(c)) != EM_OK) {
		rc = db_job_fail(job, rc, NULL);
		goto out;
	}
	if (!(r = store_exec(c, &st_rating_add, &p, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	if (PQntuples(r) != 1) {
		store_rollback(c);
		rc = db_job_fail(job, EM_ERR_BAD_VALUE, "that rating id is taken");
		goto out;
	}
	if ((rc = goal_tell(c, job, room, 0, job->user_id, "rating")) != EM_OK ||
	    (rc = store_commit(c)) != EM_OK) {
		rc = store_fail(c, job, rc);
		goto out;
	}
	log_info("rating stored room=%lld user=%lld stage=%s", (long long)room,
	         (long long)job->user_id, job_str(job, "stage"));
	job->result = json_pack("{s:s}", "stage", job_str(job, "stage"));
	rc = job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
out:
	PQclear(r);
	free(blob);
	return rc;
}

int rating_list_run(struct db_conn *c, struct db_job *job)
{
	int64_t room = job_int(job, "room_id", 0);
	struct params p = {0};
	char role[8];
	json_t *list;
	PGresult *r;
	int err;

	if ((err = goal_member(c, job, room, role)))
		return err;
	params_int(&p, room);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_rating_list, &p, &err, NULL)))
		return store_fail(c, job, err);
	list = json_array();
	for (int row = 0; list && row < PQntuples(r); row++)
		json_array_append_new(
		    list,
		    json_pack("{s:I, s:o, s:I, s:s, s:s, s:s, s:I, s:I, s:o, s:s}", "room_id",
		              (json_int_t)store_int(r, row, 0), "rating_id",
		              model_bytea_b64(r, row, 1, EM_RECORD_ID_BYTES), "user_id",
		              (json_int_t)store_int(r, row, 2), "username", store_str(r, row, 3),
		              "stage", store_str(r, row, 4), "rated_on", store_str(r, row, 5),
		              "agreement_version", (json_int_t)store_int(r, row, 6), "written_ms",
		              (json_int_t)store_int(r, row, 7), "blob",
		              model_bytea_b64(r, row, 8, EM_RECORD_BLOB_MAX), "created_at",
		              store_str(r, row, 9)));
	PQclear(r);
	job->result = json_pack("{s:o}", "ratings", list);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}
