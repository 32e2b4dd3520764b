/*
 * handle_admin.c - programme administration (docs/PROTOCOL.md 4.3):
 * programme.edit (name and dates), programme.end (ends it today),
 * programme.archive (closes its rooms for good), programme.history (the
 * trail of those changes) and room.rename. Runs on the DB workers.
 *
 * Every change is made in one transaction with the programme row locked,
 * and written to programme_changes (who, when, old and new value) in the
 * same transaction, so the trail cannot miss a change or record one that did
 * not happen. Dates moved by edit or end move the windows of the checkpoints
 * not yet held or missed (programme_rewindow, schema 017). Only names and
 * dates are recorded: the server sees them anyway; nothing of a room's
 * content is involved. "Today" is the server's clock (server_clock_s), in UTC.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "handlers.h"
#include "log.h"
#include "model.h"
#include "server.h"
#include "store.h"

#define HISTORY_MAX 500

/* The programme, locked, if $2 manages it: name, dates, archived, purged. */
static const struct stmt st_prog_lock = {
    "admin_prog_lock",
    "SELECT p.name, p.starts_on::text, p.ends_on::text, p.archived_at IS NOT NULL, "
    "p.purged_at IS NOT NULL FROM programmes p JOIN programme_people pp "
    "ON pp.programme_id = p.id AND pp.user_id = $2 AND pp.role = 'manager' "
    "WHERE p.id = $1 FOR UPDATE OF p"};

static const struct stmt st_prog_update = {
    "admin_prog_update",
    "UPDATE programmes SET name = $2, starts_on = $3::date, ends_on = $4::date, "
    "ended_early_at = CASE WHEN $5::boolean THEN ementor_now() ELSE ended_early_at END "
    "WHERE id = $1"};

static const struct stmt st_prog_archive = {
    "admin_prog_archive",
    "WITH a AS (UPDATE programmes SET archived_at = ementor_now() WHERE id = $1 RETURNING id) "
    "UPDATE rooms SET closed = true WHERE programme_id IN (SELECT id FROM a)"};

static const struct stmt st_prog_get = {"admin_prog_get", "SELECT " PROGRAMME_COLS
                                                          " FROM programmes p WHERE p.id = $1"};

static const struct stmt st_rewindow = {"admin_rewindow", "SELECT programme_rewindow($1)"};

static const struct stmt st_change = {
    "admin_change", "INSERT INTO programme_changes (programme_id, room_id, user_id, change, "
                    "old_value, new_value) VALUES ($1, $2, $3, $4, $5, $6)"};

static const struct stmt st_history = {
    "admin_history",
    "SELECT c.id, " SQL_TS("c.at") ", u.username, c.change, c.room_id, c.old_value, "
                                   "c.new_value FROM programme_changes c "
                                   "LEFT JOIN users u ON u.id = c.user_id "
                                   "WHERE c.programme_id = $1 ORDER BY c.id DESC LIMIT 500"};

/* The room, locked, with its programme and whether $2 may rename it (member or manager). */
static const struct stmt st_room_lock = {
    "admin_room_lock",
    "SELECT r.name, r.programme_id, p.archived_at IS NOT NULL OR r.closed, "
    "EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = r.id AND m.user_id = $2 "
    "AND m.removed_at IS NULL), EXISTS (SELECT 1 FROM programme_people pp WHERE "
    "pp.programme_id = r.programme_id AND pp.user_id = $2 AND pp.role = 'manager' "
    "AND r.kind <> 'support') " /* a support room is its two members' own (PROTOCOL.md 15.1) */
    "FROM rooms r JOIN programmes p ON p.id = r.programme_id WHERE r.id = $1 FOR UPDATE OF r"};

static const struct stmt st_room_rename = {
    "admin_room_rename", "UPDATE rooms SET name = $2 WHERE id = $1 RETURNING id, programme_id, "
                         "kind, name"};

struct prog {
	char name[EM_PROGRAMME_NAME_MAX * 4 + 1];
	char starts_on[11], ends_on[11];
	int archived, purged;
};

/* Today's date (UTC) on the server's clock, YYYY-MM-DD. */
static void admin_today(char out[11])
{
	time_t t = (time_t)server_clock_s();
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

/* Begins, locks the programme if the caller manages it. EM_OK or a failed job. */
static int prog_lock(struct db_conn *c, struct db_job *job, int64_t id, struct prog *pr)
{
	struct params p = {0};
	PGresult *r;
	int err;

	if ((err = store_begin(c)) != EM_OK)
		return db_job_fail(job, err, NULL);
	params_int(&p, id);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_prog_lock, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) != 1) {
		PQclear(r);
		store_rollback(c);
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no programme %lld that you manage",
		                   (long long)id);
	}
	snprintf(pr->name, sizeof(pr->name), "%s", store_str(r, 0, 0));
	snprintf(pr->starts_on, sizeof(pr->starts_on), "%s", store_str(r, 0, 1));
	snprintf(pr->ends_on, sizeof(pr->ends_on), "%s", store_str(r, 0, 2));
	pr->archived = store_bool(r, 0, 3);
	pr->purged = store_bool(r, 0, 4);
	PQclear(r);
	if (pr->archived || pr->purged)
		return store_fail_msg(c, job, EM_ERR_BAD_STATE,
		                      pr->archived ? "the programme is archived: it cannot change"
		                                   : "the programme's retention has ended");
	return EM_OK;
}

/* One row of the trail; 0 or an error code. */
static int change_add(struct db_conn *c, struct db_job *job, int64_t programme_id, int64_t room_id,
                      const char *change, const char *old_value, const char *new_value)
{
	struct params p = {0};

	params_int(&p, programme_id);
	if (room_id)
		params_int(&p, room_id);
	else
		params_text(&p, NULL);
	params_int(&p, job->user_id);
	params_text(&p, change);
	params_text(&p, old_value);
	params_text(&p, new_value);
	return store_run(c, &st_change, &p);
}

/* Writes the new name and dates, the trail and the windows; commits; answers the programme. */
static int prog_apply(struct db_conn *c, struct db_job *job, int64_t id, const struct prog *old,
                      const struct prog *pr, int ended)
{
	struct params p = {0};
	PGresult *r;
	int err, moved = strcmp(old->starts_on, pr->starts_on) || strcmp(old->ends_on, pr->ends_on);

	params_int(&p, id);
	params_text(&p, pr->name);
	params_text(&p, pr->starts_on);
	params_text(&p, pr->ends_on);
	params_text(&p, ended ? "true" : "false");
	if (!(r = store_exec(c, &st_prog_update, &p, &err, NULL)))
		return store_fail(c, job, err);
	PQclear(r);
	if ((strcmp(old->name, pr->name) &&
	     (err = change_add(c, job, id, 0, "name", old->name, pr->name))) ||
	    (strcmp(old->starts_on, pr->starts_on) &&
	     (err = change_add(c, job, id, 0, "starts_on", old->starts_on, pr->starts_on))) ||
	    (strcmp(old->ends_on, pr->ends_on) &&
	     (err = change_add(c, job, id, 0, ended ? "ended" : "ends_on", old->ends_on,
	                       pr->ends_on))))
		return store_fail(c, job, err);
	if (moved) {
		p.n = 0;
		params_int(&p, id);
		if (!(r = store_exec(c, &st_rewindow, &p, &err, NULL)))
			return store_fail(c, job, err);
		log_info("programme %lld dates %s..%s: %s checkpoint windows moved", (long long)id,
		         pr->starts_on, pr->ends_on, store_str(r, 0, 0));
		PQclear(r);
	}
	p.n = 0;
	params_int(&p, id);
	if (!(r = store_exec(c, &st_prog_get, &p, &err, NULL)))
		return store_fail(c, job, err);
	if ((err = store_commit(c))) {
		PQclear(r);
		return store_fail(c, job, err);
	}
	job->result = json_pack("{so}", "programme", model_programme(r, 0, 0));
	PQclear(r);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

/* Pure (service thread, before the job is queued): something to change. */
int programme_edit_check(const struct session *s, struct db_job *job)
{
	(void)s;
	if (!json_object_get(job->args, "name") && !json_object_get(job->args, "starts_on") &&
	    !json_object_get(job->args, "ends_on"))
		return db_job_fail(job, EM_ERR_BAD_VALUE,
		                   "nothing to change: give name, starts_on or ends_on");
	return EM_OK;
}

int programme_edit_run(struct db_conn *c, struct db_job *job)
{
	int64_t id = job_int(job, "programme_id", 0);
	struct prog old, pr;
	int rc;

	if ((rc = prog_lock(c, job, id, &old)) != EM_OK)
		return rc;
	pr = old;
	if (job_str(job, "name"))
		snprintf(pr.name, sizeof(pr.name), "%s", job_str(job, "name"));
	if (job_str(job, "starts_on"))
		snprintf(pr.starts_on, sizeof(pr.starts_on), "%s", job_str(job, "starts_on"));
	if (job_str(job, "ends_on"))
		snprintf(pr.ends_on, sizeof(pr.ends_on), "%s", job_str(job, "ends_on"));
	/* validated YYYY-MM-DD: text order is date order */
	if (strcmp(pr.ends_on, pr.starts_on) <= 0)
		return store_fail_msg(c, job, EM_ERR_BAD_DATES, "ends_on must be after starts_on");
	return prog_apply(c, job, id, &old, &pr, 0);
}

int programme_end_run(struct db_conn *c, struct db_job *job)
{
	int64_t id = job_int(job, "programme_id", 0);
	struct prog old, pr;
	char today[11];
	int rc;

	if ((rc = prog_lock(c, job, id, &old)) != EM_OK)
		return rc;
	admin_today(today);
	if (strcmp(today, old.starts_on) <= 0)
		return store_fail_msg(c, job, EM_ERR_BAD_STATE,
		                      "the programme has not started: move its dates instead "
		                      "(programme.edit)");
	if (strcmp(today, old.ends_on) >= 0)
		return store_fail_msg(c, job, EM_ERR_BAD_STATE, "the programme has ended already");
	pr = old;
	snprintf(pr.ends_on, sizeof(pr.ends_on), "%s", today);
	return prog_apply(c, job, id, &old, &pr, 1);
}

int programme_archive_run(struct db_conn *c, struct db_job *job)
{
	int64_t id = job_int(job, "programme_id", 0);
	struct params p = {0};
	struct prog old;
	char today[11];
	PGresult *r;
	int rc, err;

	if ((rc = prog_lock(c, job, id, &old)) != EM_OK)
		return rc;
	admin_today(today);
	if (strcmp(today, old.ends_on) < 0)
		return store_fail_msg(c, job, EM_ERR_BAD_STATE,
		                      "the programme has not ended: end it first (programme.end)");
	params_int(&p, id);
	if (!(r = store_exec(c, &st_prog_archive, &p, &err, NULL)))
		return store_fail(c, job, err);
	PQclear(r);
	if ((err = change_add(c, job, id, 0, "archived", NULL, today)))
		return store_fail(c, job, err);
	p.n = 0;
	params_int(&p, id);
	if (!(r = store_exec(c, &st_prog_get, &p, &err, NULL)))
		return store_fail(c, job, err);
	if ((err = store_commit(c))) {
		PQclear(r);
		return store_fail(c, job, err);
	}
	log_info("programme %lld archived by=%lld", (long long)id, (long long)job->user_id);
	job->result = json_pack("{so}", "programme", model_programme(r, 0, 0));
	PQclear(r);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int programme_history_run(struct db_conn *c, struct db_job *job)
{
	int64_t id = job_int(job, "programme_id", 0);
	struct params p = {0};
	json_t *changes;
	PGresult *r;
	int rc, err;

	/* the lock is the authorisation; an archived programme's trail is still readable */
	if ((err = store_begin(c)) != EM_OK)
		return db_job_fail(job, err, NULL);
	params_int(&p, id);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_prog_lock, &p, &err, NULL)))
		return store_fail(c, job, err);
	rc = PQntuples(r) == 1;
	PQclear(r);
	if (!rc) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no programme %lld that you manage",
		                   (long long)id);
	}
	p.n = 0;
	params_int(&p, id);
	if (!(r = store_exec(c, &st_history, &p, &err, NULL)))
		return store_fail(c, job, err);
	store_rollback(c); /* read only */
	changes = json_array();
	for (int i = 0; changes && i < PQntuples(r) && i < HISTORY_MAX; i++) {
		const char *by = store_str(r, i, 2), *old = store_str(r, i, 5);
		const char *now = store_str(r, i, 6);
		int64_t room = store_int(r, i, 4);

		json_array_append_new(
		    changes,
		    json_pack("{sIsssosssososo}", "id", (json_int_t)store_int(r, i, 0), "at",
		              store_str(r, i, 1), "by", by ? json_string(by) : json_null(),
		              "change", store_str(r, i, 3), "room_id",
		              room > 0 ? json_integer((json_int_t)room) : json_null(), "old",
		              old ? json_string(old) : json_null(), "new",
		              now ? json_string(now) : json_null()));
	}
	PQclear(r);
	job->result = changes ? json_pack("{so}", "changes", changes) : NULL;
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int room_rename_run(struct db_conn *c, struct db_job *job)
{
	int64_t id = job_int(job, "room_id", 0), programme_id;
	const char *name = job_str(job, "name");
	char old[EM_ROOM_NAME_MAX * 4 + 1];
	struct params p = {0};
	int closed, member, manager, err;
	PGresult *r;

	if ((err = store_begin(c)) != EM_OK)
		return db_job_fail(job, err, NULL);
	params_int(&p, id);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_room_lock, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) != 1 || !(store_bool(r, 0, 3) || store_bool(r, 0, 4))) {
		PQclear(r);
		store_rollback(c);
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no room %lld that you are in or manage",
		                   (long long)id);
	}
	snprintf(old, sizeof(old), "%s", store_str(r, 0, 0));
	programme_id = store_int(r, 0, 1);
	closed = store_bool(r, 0, 2);
	member = store_bool(r, 0, 3);
	manager = store_bool(r, 0, 4);
	PQclear(r);
	if (closed)
		return store_fail_msg(c, job, EM_ERR_FORBIDDEN, "the room is closed");
	p.n = 0;
	params_int(&p, id);
	params_text(&p, name);
	if (!(r = store_exec(c, &st_room_rename, &p, &err, NULL)))
		return store_fail(c, job, err);
	job->result = json_pack("{s{sIsIssss}}", "room", "id", (json_int_t)store_int(r, 0, 0),
	                        "programme_id", (json_int_t)store_int(r, 0, 1), "kind",
	                        store_str(r, 0, 2), "name", store_str(r, 0, 3));
	PQclear(r);
	if (strcmp(old, name) &&
	    (err = change_add(c, job, programme_id, id, "room_name", old, name)))
		return store_fail(c, job, err);
	if ((err = store_commit(c)))
		return store_fail(c, job, err);
	log_info("room %lld renamed by=%lld (%s)", (long long)id, (long long)job->user_id,
	         member ? (manager ? "member, manager" : "member") : "manager");
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}
