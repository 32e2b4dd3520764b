/*
 * handle_report.c - concern reports (docs/PROTOCOL.md section 13):
 * report.create, report.list, report.show and report.handle. DB worker
 * threads.
 *
 * The server never sees what a report quotes or says: the report, and each
 * manager's note on it, is a sealed record (PROTOCOL.md 10.1) its author's
 * client sealed to the manager parties of the room's agreement and to the
 * reporter, and signed. Each quoted message carries what lets a manager's
 * client check it against its sender's signature without the room key
 * (franked messages, section 5.1). The server decides only who hands in
 * and who is handed what: a member of the room reports; the reporter and the
 * programme's managers read the report and its handling; only the managers
 * handle it. Nobody else learns that a report exists (no event goes to the
 * room), and a report someone may not see is not_found, as one that does not
 * exist. The handling state is kept in clear beside the manager's signed
 * copy of it, for the audit's count of open reports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "log.h"
#include "model.h"
#include "store.h"

/* the caller's membership of room $1 ($2: the caller) and the room's programme */
static const struct stmt st_member = {
    "report_member", "SELECT r.programme_id FROM room_members m JOIN rooms r ON r.id = m.room_id "
                     "WHERE m.room_id = $1 AND m.user_id = $2 AND m.removed_at IS NULL"};

static const struct stmt st_create = {
    "report_create",
    "INSERT INTO reports (programme_id, room_id, reporter_id, kind, agreement_version, "
    "written_ms, blob) VALUES ($1, $2, $3, $4, $5::integer, $6, $7) RETURNING id, " SQL_TS(
        "created_at")};

/* what the caller ($1) may see: their own reports and those of programmes they manage */
#define REPORT_VISIBLE                                                                             \
	"(x.reporter_id = $1 OR EXISTS (SELECT 1 FROM programme_people pp WHERE "                  \
	"pp.programme_id = x.programme_id AND pp.user_id = $1 AND pp.role = 'manager'))"
#define REPORT_COLUMNS                                                                             \
	"x.id, x.programme_id, x.room_id, x.reporter_id, u.username, x.kind, "                     \
	"x.agreement_version, "                                                                    \
	"x.written_ms, x.state, " SQL_TS("x.created_at")

static const struct stmt st_list = {
    "report_list", "SELECT " REPORT_COLUMNS " FROM reports x JOIN users u ON u.id = x.reporter_id "
                   "WHERE " REPORT_VISIBLE " AND ($2::bigint = 0 OR x.programme_id = $2) "
                   "ORDER BY x.id DESC LIMIT 500"};

static const struct stmt st_show = {
    "report_show",
    "SELECT " REPORT_COLUMNS ", x.blob, EXISTS (SELECT 1 FROM programme_people pp WHERE "
    "pp.programme_id = x.programme_id AND pp.user_id = $1 AND pp.role = 'manager') FROM "
    "reports x JOIN users u ON u.id = x.reporter_id WHERE x.id = $2 AND " REPORT_VISIBLE};

static const struct stmt st_actions = {
    "report_actions",
    "SELECT a.id, COALESCE(a.manager_id, 0), COALESCE(u.username, ''), a.state, a.written_ms, "
    "a.blob, " SQL_TS("a.created_at") " FROM report_actions a LEFT JOIN users u ON u.id = "
                                      "a.manager_id WHERE a.report_id = $1 ORDER BY a.id "
                                      "LIMIT 100"};

/* one handling step, by a manager of the report's programme, on a report not closed */
static const struct stmt st_handle = {
    "report_handle",
    "WITH x AS (SELECT x.id FROM reports x WHERE x.id = $1 AND x.state <> 'closed' AND EXISTS "
    "(SELECT 1 FROM programme_people pp WHERE pp.programme_id = x.programme_id AND "
    "pp.user_id = $2 AND pp.role = 'manager') FOR UPDATE), a AS (INSERT INTO report_actions "
    "(report_id, manager_id, state, written_ms, blob) SELECT x.id, $2, $3, $4, $5 FROM x "
    "RETURNING id, report_id) UPDATE reports SET state = $3 FROM a WHERE reports.id = "
    "a.report_id RETURNING a.id"};

/* why a handling step did not happen: does the caller manage the report's programme? */
static const struct stmt st_managed = {
    "report_managed",
    "SELECT x.state FROM reports x WHERE x.id = $1 AND EXISTS (SELECT 1 FROM programme_people "
    "pp WHERE pp.programme_id = x.programme_id AND pp.user_id = $2 AND pp.role = 'manager')"};

/*
 * $1 report, $2 the manager who handled it, $3 state: the reporter's
 * `report.handled` notice (no note: that is sealed), (user, Notice text).
 */
static const struct stmt st_handled_notice = {
    "report_handled_notice",
    "INSERT INTO notices (user_id, kind, data, created_at) SELECT x.reporter_id, "
    "'report.handled', jsonb_build_object('kind', 'report.handled', 'at', "
    "utc_text(ementor_now()), 'room_id', x.room_id, 'by', u.username, 'report_id', x.id, "
    "'state', $3::text), ementor_now() FROM reports x JOIN users u ON u.id = $2 "
    "WHERE x.id = $1 AND x.reporter_id <> $2 RETURNING user_id, (data || "
    "jsonb_build_object('id', id))::text"};

/* A Report of a row of REPORT_COLUMNS (from column 0). New reference. */
static json_t *report_row(const PGresult *r, int row)
{
	return json_pack(
	    "{s:I, s:I, s:I, s:I, s:s, s:s, s:I, s:I, s:s, s:s}", "report_id",
	    (json_int_t)store_int(r, row, 0), "programme_id", (json_int_t)store_int(r, row, 1),
	    "room_id", (json_int_t)store_int(r, row, 2), "reporter_id",
	    (json_int_t)store_int(r, row, 3), "reporter", store_str(r, row, 4), "kind",
	    store_str(r, row, 5), "agreement_version", (json_int_t)store_int(r, row, 6),
	    "written_ms", (json_int_t)store_int(r, row, 7), "state", store_str(r, row, 8),
	    "created_at", store_str(r, row, 9));
}

int report_create_run(struct db_conn *c, struct db_job *job)
{
	int64_t room = job_int(job, "room_id", 0), programme;
	unsigned char *blob = NULL;
	struct params p = {0}, q = {0};
	PGresult *r = NULL;
	int n, err, rc;

	params_int(&p, room);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_member, &p, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	if (PQntuples(r) != 1) {
		rc = db_job_fail(job, EM_ERR_NOT_MEMBER, "you are not a member of room %lld",
		                 (long long)room);
		goto out;
	}
	programme = store_int(r, 0, 0);
	PQclear(r);
	r = NULL;
	blob = malloc(EM_REPORT_BLOB_MAX);
	if (!blob || (n = job_bin(job, "blob", blob, EM_REPORT_BLOB_MAX)) < 0) {
		rc = db_job_fail(job, EM_ERR_NOMEM, NULL);
		goto out;
	}
	params_int(&q, programme);
	params_int(&q, room);
	params_int(&q, job->user_id);
	params_text(&q, job_str(job, "kind"));
	params_int(&q, job_int(job, "agreement_version", 0));
	params_int(&q, job_int(job, "written_ms", 0));
	params_bin(&q, blob, (size_t)n);
	if (!(r = store_exec(c, &st_create, &q, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	/* the log names the report, never the reporter next to the room */
	log_info("report created report=%lld programme=%lld", (long long)store_int(r, 0, 0),
	         (long long)programme);
	job->result =
	    json_pack("{s:I, s:I, s:I, s:s, s:s}", "report_id", (json_int_t)store_int(r, 0, 0),
	              "programme_id", (json_int_t)programme, "room_id", (json_int_t)room, "state",
	              "open", "created_at", store_str(r, 0, 1));
	rc = job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
out:
	PQclear(r);
	free(blob);
	return rc;
}

int report_list_run(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	json_t *list;
	PGresult *r;
	int err;

	params_int(&p, job->user_id);
	params_int(&p, job_int(job, "programme_id", 0));
	if (!(r = store_exec(c, &st_list, &p, &err, NULL)))
		return store_fail(c, job, err);
	list = json_array();
	for (int row = 0; list && row < PQntuples(r); row++)
		json_array_append_new(list, report_row(r, row));
	PQclear(r);
	job->result = list ? json_pack("{s:o}", "reports", list) : NULL;
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int report_show_run(struct db_conn *c, struct db_job *job)
{
	int64_t id = job_int(job, "report_id", 0);
	struct params p = {0}, q = {0};
	PGresult *r = NULL;
	json_t *out = NULL, *actions;
	int err, rc;

	params_int(&p, job->user_id);
	params_int(&p, id);
	if (!(r = store_exec(c, &st_show, &p, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	if (PQntuples(r) != 1) {
		/* the same answer whether the report exists or not */
		rc = db_job_fail(job, EM_ERR_NOT_FOUND, "no report %lld of yours", (long long)id);
		goto out;
	}
	out = report_row(r, 0);
	if (out) {
		json_object_set_new(out, "blob", model_bytea_b64(r, 0, 10, EM_REPORT_BLOB_MAX));
		json_object_set_new(out, "manager", json_boolean(store_bool(r, 0, 11)));
	}
	PQclear(r);
	params_int(&q, id);
	if (!(r = store_exec(c, &st_actions, &q, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	actions = json_array();
	for (int row = 0; actions && row < PQntuples(r); row++)
		json_array_append_new(
		    actions, json_pack("{s:I, s:I, s:s, s:s, s:I, s:o, s:s}", "action_id",
		                       (json_int_t)store_int(r, row, 0), "manager_id",
		                       (json_int_t)store_int(r, row, 1), "manager",
		                       store_str(r, row, 2), "state", store_str(r, row, 3),
		                       "written_ms", (json_int_t)store_int(r, row, 4), "blob",
		                       model_bytea_b64(r, row, 5, EM_RECORD_BLOB_MAX), "created_at",
		                       store_str(r, row, 6)));
	if (out && actions)
		json_object_set_new(out, "actions", actions);
	else
		json_decref(actions);
	job->result = out;
	out = NULL;
	rc = job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
out:
	PQclear(r);
	json_decref(out);
	return rc;
}

int report_handle_run(struct db_conn *c, struct db_job *job)
{
	int64_t id = job_int(job, "report_id", 0);
	const char *state = job_str(job, "state");
	unsigned char *blob = NULL;
	struct params p = {0}, q = {0};
	PGresult *r = NULL;
	int n, err, rc;

	blob = malloc(EM_RECORD_BLOB_MAX);
	if (!blob || (n = job_bin(job, "blob", blob, EM_RECORD_BLOB_MAX)) < 0) {
		rc = db_job_fail(job, EM_ERR_NOMEM, NULL);
		goto out;
	}
	params_int(&p, id);
	params_int(&p, job->user_id);
	params_text(&p, state);
	params_int(&p, job_int(job, "written_ms", 0));
	params_bin(&p, blob, (size_t)n);
	if ((err = store_begin(c)) || !(r = store_exec(c, &st_handle, &p, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	if (PQntuples(r) == 1) {
		int64_t action = store_int(r, 0, 0);

		/* the reporter hears of it: a notice kept until acknowledged, pushed live */
		PQclear(r);
		memset(&q, 0, sizeof(q));
		params_int(&q, id);
		params_int(&q, job->user_id);
		params_text(&q, state);
		if (!(r = store_exec(c, &st_handled_notice, &q, &err, NULL)) ||
		    (err = store_commit(c))) {
			rc = store_fail(c, job, err);
			goto out;
		}
		for (int i = 0; i < PQntuples(r); i++) {
			json_t *doc = json_loads(store_str(r, i, 1), 0, NULL);

			if (doc)
				db_job_push(&job->user_events, store_int(r, i, 0), EV_NOTICE, doc);
		}
		log_info("report handled report=%lld state=%s", (long long)id, state);
		job->result = json_pack("{s:I, s:I, s:s}", "report_id", (json_int_t)id, "action_id",
		                        (json_int_t)action, "state", state);
		rc = job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
		goto out;
	}
	PQclear(r);
	store_rollback(c);
	memset(&q, 0, sizeof(q));
	params_int(&q, id);
	params_int(&q, job->user_id);
	if (!(r = store_exec(c, &st_managed, &q, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	if (PQntuples(r) == 1)
		rc = db_job_fail(job, EM_ERR_BAD_STATE, "report %lld is closed", (long long)id);
	else
		rc = db_job_fail(job, EM_ERR_NOT_FOUND, "no report %lld in a programme you manage",
		                 (long long)id);
out:
	PQclear(r);
	free(blob);
	return rc;
}
