/*
 * handle_midterm.c - the mid-term record (docs/PROTOCOL.md 6.6):
 * midterm.write and midterm.show. DB worker threads.
 *
 * At the mid-term session each mentee says their next steps, the mentor the
 * topics that remain, and the mentees, the mentor and the manager comment,
 * in that order. Each says it in a record their own client sealed to the
 * parties of the room's agreement (an envelope, PROTOCOL.md 10.1) and
 * signed; the order is the readers' to apply, from the capacity each
 * author's signature binds (kind). What the server checks is only who may
 * write in which capacity — a current mentee as "mentee", the room's mentor
 * as "mentor", the room's manager party (agreement_manager(), not a member)
 * as "manager" — that the meeting is the room's mid-term and was held, and
 * that one author's versions follow each other. It hands the records to the
 * room's members and its manager party, whom they are sealed to; another
 * manager of the programme gets `forbidden` (no ciphertext for them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "log.h"
#include "model.h"
#include "store.h"

#define MIDTERM_LIST_MAX 200

/*
 * The mid-term and the caller: room, kind, state, the caller's role in the
 * room ("" when not a member), whether they are the room's manager party,
 * whether a manager of its programme. $1 checkpoint, $2 user.
 */
static const struct stmt st_load = {
    "midterm_load",
    "SELECT c.room_id, c.kind, c.state, COALESCE((SELECT m.role FROM room_members m WHERE "
    "m.room_id = c.room_id AND m.user_id = $2 AND m.removed_at IS NULL), ''), "
    "agreement_manager(c.room_id) = $2, EXISTS (SELECT 1 FROM programme_people pp JOIN rooms r "
    "ON r.programme_id = pp.programme_id WHERE r.id = c.room_id AND pp.user_id = $2 AND "
    "pp.role = 'manager') FROM checkpoints c WHERE c.id = $1 FOR SHARE OF c"};

static const struct stmt st_latest = {
    "midterm_latest",
    "SELECT COALESCE(max(version), 0) FROM midterm_records WHERE checkpoint_id = $1 "
    "AND author_id = $2"};

/* $1 checkpoint, $2 room, $3 author, $4 kind, $5 version, $6 agreement version, $7 written,
 * $8 blob */
static const struct stmt st_insert = {
    "midterm_insert",
    "INSERT INTO midterm_records (checkpoint_id, room_id, author_id, kind, version, "
    "agreement_version, written_ms, blob, created_at) VALUES ($1, $2, $3, $4, $5::integer, "
    "$6::integer, $7, $8, ementor_now()) ON CONFLICT DO NOTHING RETURNING id"};

static const struct stmt st_list = {
    "midterm_list",
    "SELECT t.author_id, u.username, t.kind, t.version, t.agreement_version, t.written_ms, "
    "t.blob, to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
    "FROM midterm_records t JOIN users u ON u.id = t.author_id WHERE t.checkpoint_id = $1 "
    "ORDER BY t.id LIMIT 201"};

/* room.events go to the room's members: a new record to read */
static const struct stmt st_members = {
    "midterm_members",
    "SELECT user_id FROM room_members WHERE room_id = $1 AND removed_at IS NULL"};

struct midterm {
	int64_t room;
	char kind[16], state[16], role[8]; /* role: "" when not a member */
	int manager_party, manager;
};

/* Loads the mid-term and the caller; fails the job (rolled back) when it is not theirs. */
static int midterm_load(struct db_conn *c, struct db_job *job, int64_t cp, struct midterm *m)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, cp);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_load, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) == 1) {
		m->room = store_int(r, 0, 0);
		snprintf(m->kind, sizeof(m->kind), "%s", store_str(r, 0, 1));
		snprintf(m->state, sizeof(m->state), "%s", store_str(r, 0, 2));
		snprintf(m->role, sizeof(m->role), "%s", store_str(r, 0, 3));
		m->manager_party = store_bool(r, 0, 4);
		m->manager = store_bool(r, 0, 5);
	}
	PQclear(r);
	if (!m->room || (!m->role[0] && !m->manager)) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no meeting %lld that you can see",
		                   (long long)cp);
	}
	if (strcmp(m->kind, "midterm") != 0) {
		store_rollback(c);
		return db_job_fail(
		    job, EM_ERR_BAD_STATE,
		    "meeting %lld is not a mid-term: only the mid-term has this record",
		    (long long)cp);
	}
	if (!m->role[0] && !m->manager_party) {
		store_rollback(c);
		return db_job_fail(
		    job, EM_ERR_FORBIDDEN,
		    "the mid-term record of room %lld is sealed to its members and the "
		    "manager party of its agreement, not to you",
		    (long long)m->room);
	}
	return EM_OK;
}

int midterm_write_run(struct db_conn *c, struct db_job *job)
{
	int64_t cp = job_int(job, "checkpoint_id", 0), version = job_int(job, "version", 0);
	const char *kind = job_str(job, "kind");
	struct midterm m = {0};
	struct params p = {0};
	unsigned char *blob = NULL;
	PGresult *r = NULL;
	int64_t latest;
	int n, err, rc;

	blob = malloc(EM_RECORD_BLOB_MAX);
	if (!blob || (n = job_bin(job, "blob", blob, EM_RECORD_BLOB_MAX)) < 0) {
		rc = db_job_fail(job, EM_ERR_NOMEM, NULL);
		goto out;
	}
	if ((rc = store_begin(c)) != EM_OK) {
		rc = db_job_fail(job, rc, NULL);
		goto out;
	}
	if ((rc = midterm_load(c, job, cp, &m)) != EM_OK)
		goto out;
	/* the capacity the author signs: their seat in the room, else the manager party */
	if (m.role[0] ? strcmp(kind, m.role) != 0 : strcmp(kind, "manager") != 0) {
		store_rollback(c);
		rc = db_job_fail(job, EM_ERR_WRONG_ROLE, "you write the mid-term record as its %s",
		                 m.role[0] ? m.role : "manager");
		goto out;
	}
	if (strcmp(m.state, "held") != 0) {
		store_rollback(c);
		rc = db_job_fail(job, EM_ERR_BAD_STATE,
		                 "the mid-term is %s: its record is written once it is held",
		                 m.state);
		goto out;
	}
	params_int(&p, cp);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_latest, &p, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	latest = store_int(r, 0, 0);
	PQclear(r);
	r = NULL;
	if (version != latest + 1) {
		store_rollback(c);
		rc = db_job_fail(job, EM_ERR_STALE_VERSION,
		                 "your record is at version %lld: send version %lld",
		                 (long long)latest, (long long)latest + 1);
		goto out;
	}
	memset(&p, 0, sizeof(p));
	params_int(&p, cp);
	params_int(&p, m.room);
	params_int(&p, job->user_id);
	params_text(&p, kind);
	params_int(&p, version);
	params_int(&p, job_int(job, "agreement_version", 0));
	params_int(&p, job_int(job, "written_ms", 0));
	params_bin(&p, blob, (size_t)n);
	if (!(r = store_exec(c, &st_insert, &p, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	if (PQntuples(r) != 1) { /* a writer at once on another connection */
		store_rollback(c);
		rc = db_job_fail(job, EM_ERR_STALE_VERSION, "version %lld was written meanwhile",
		                 (long long)version);
		goto out;
	}
	PQclear(r);
	memset(&p, 0, sizeof(p));
	params_int(&p, m.room);
	if (!(r = store_exec(c, &st_members, &p, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	for (int row = 0; row < PQntuples(r); row++)
		db_job_push(
		    &job->user_events, store_int(r, row, 0), EV_ROOM,
		    json_pack("{s:I, s:s}", "room_id", (json_int_t)m.room, "change", "midterm"));
	if ((rc = store_commit(c)) != EM_OK) {
		rc = store_fail(c, job, rc);
		goto out;
	}
	log_info("midterm record stored checkpoint=%lld author=%lld kind=%s version=%lld",
	         (long long)cp, (long long)job->user_id, kind, (long long)version);
	job->result = json_pack("{s:I, s:s}", "version", (json_int_t)version, "kind", kind);
	rc = job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
out:
	PQclear(r);
	free(blob);
	return rc;
}

int midterm_show_run(struct db_conn *c, struct db_job *job)
{
	int64_t cp = job_int(job, "checkpoint_id", 0);
	struct midterm m = {0};
	struct params p = {0};
	json_t *list = NULL;
	PGresult *r;
	int err, rows;

	if ((err = store_begin(c)) != EM_OK)
		return db_job_fail(job, err, NULL);
	if ((err = midterm_load(c, job, cp, &m)) != EM_OK)
		return err;
	params_int(&p, cp);
	if (!(r = store_exec(c, &st_list, &p, &err, NULL)))
		return store_fail(c, job, err);
	store_rollback(c); /* read only */
	rows = PQntuples(r) < MIDTERM_LIST_MAX ? PQntuples(r) : MIDTERM_LIST_MAX;
	list = json_array();
	for (int row = 0; list && row < rows; row++)
		json_array_append_new(
		    list, json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:o, s:s}", "author_id",
		                    (json_int_t)store_int(r, row, 0), "author",
		                    store_str(r, row, 1), "kind", store_str(r, row, 2), "version",
		                    (json_int_t)store_int(r, row, 3), "agreement_version",
		                    (json_int_t)store_int(r, row, 4), "written_ms",
		                    (json_int_t)store_int(r, row, 5), "blob",
		                    model_bytea_b64(r, row, 6, EM_RECORD_BLOB_MAX), "created_at",
		                    store_str(r, row, 7)));
	job->result = json_pack("{s:I, s:I, s:o, s:b}", "checkpoint_id", (json_int_t)cp, "room_id",
	                        (json_int_t)m.room, "records", list ? list : json_array(),
	                        "truncated", PQntuples(r) > MIDTERM_LIST_MAX);
	PQclear(r);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}
