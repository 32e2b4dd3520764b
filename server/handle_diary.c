/*
 * handle_diary.c - the diary after every meeting (docs/PROTOCOL.md section
 * 6.5): diary.writer.get, diary.writer.set, diary.write, diary.remark,
 * diary.show, diary.list, and the scheduler's job that reminds a writer whose
 * held meeting still has no entry a day after it was recorded. DB workers.
 *
 * DESIGN. A diary belongs to a checkpoint recorded `held`; every op runs in
 * one transaction that locks the checkpoint row first, so two writers or two
 * remarks cannot take the same number. Entries and remarks are ciphertext the
 * server cannot read: it checks who may write (the meeting's writer, the
 * room's mentor), that the record is at the room's current key epoch and on
 * the roster (as `send` does), and that numbers follow each other; readers
 * check the authors' signatures (core/diary.c). The Writer and Diary objects
 * are built by SQL functions of schema/011_diary.sql. Time comes from
 * server_clock_s(), never now(), so tests can move it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "em_crypto.h"
#include "handlers.h"
#include "log.h"
#include "server.h"
#include "store.h"

#define DIARY_LIST_MAX 600 /* st_list asks for one more */

/* $1 checkpoint, $2 user: the checkpoint locked, the caller's place in its room. */
static const struct stmt st_load = {
    "dy_load",
    "SELECT c.id, c.room_id, r.kind, c.state, m.role, COALESCE(m.roster, false), r.epoch, "
    "r.rotate_required, r.closed, COALESCE(diary_writer(c.id), 0), "
    "diary_held_at(c.id) IS NOT NULL, EXISTS (SELECT 1 FROM diary_writers w WHERE "
    "w.checkpoint_id = c.id) FROM checkpoints c JOIN rooms r ON r.id = c.room_id "
    "LEFT JOIN room_members m ON m.room_id = c.room_id AND m.user_id = $2 "
    "AND m.removed_at IS NULL WHERE c.id = $1 FOR UPDATE OF c"};

static const struct stmt st_writer_doc = {"dy_writer_doc", "SELECT diary_writer_doc($1)::text"};
static const struct stmt st_doc = {"dy_doc", "SELECT diary_doc($1)::text"};

/* $1 checkpoint, $2 username: the user when they are a current mentee of the room. */
static const struct stmt st_mentee = {
    "dy_mentee", "SELECT u.id FROM checkpoints c JOIN room_members m ON m.room_id = c.room_id "
                 "AND m.removed_at IS NULL AND m.role = 'mentee' JOIN users u ON u.id = "
                 "m.user_id WHERE c.id = $1 AND u.username = $2"};

static const struct stmt st_entries = {
    "dy_entries", "SELECT count(*) FROM diary_records WHERE checkpoint_id = $1 AND kind = 'entry'"};

static const struct stmt st_writer_set = {
    "dy_writer_set",
    "INSERT INTO diary_writers (checkpoint_id, user_id, set_by, set_at) "
    "VALUES ($1, $2, $3, to_timestamp($4::bigint)) ON CONFLICT (checkpoint_id) DO UPDATE "
    "SET user_id = EXCLUDED.user_id, set_by = EXCLUDED.set_by, set_at = EXCLUDED.set_at"};

/* $1 checkpoint, $2 kind: the highest number, and the author and sig of number $3. */
static const struct stmt st_numbers = {
    "dy_numbers",
    "SELECT COALESCE(max(number), 0), (SELECT author_id FROM diary_records WHERE "
    "checkpoint_id = $1 AND kind = $2 AND number = $3), (SELECT sig FROM diary_records WHERE "
    "checkpoint_id = $1 AND kind = $2 AND number = $3), (SELECT diary_record_doc(d)::text "
    "FROM diary_records d WHERE checkpoint_id = $1 AND kind = $2 AND number = $3) "
    "FROM diary_records WHERE checkpoint_id = $1 AND kind = $2"};

static const struct stmt st_insert = {
    "dy_insert",
    "WITH d AS (INSERT INTO diary_records (checkpoint_id, room_id, author_id, kind, number, "
    "epoch, ciphertext, sig, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
    "to_timestamp($9::bigint)) RETURNING *) SELECT diary_record_doc(d)::text FROM d"};

/* $1 checkpoint, $2 recipient, $3 actor, $4 kind, $5 extra, $6 now. */
static const struct stmt st_notify = {
    "dy_notify", "SELECT user_id, doc FROM diary_notify($1, $2, $3, $4, $5::jsonb, "
                 "to_timestamp($6::bigint))"};

static const struct stmt st_mentor = {
    "dy_mentor", "SELECT user_id FROM room_members WHERE room_id = $1 AND role = 'mentor' "
                 "AND removed_at IS NULL"};

/* $1 room, $2 user: the user is a current member. */
static const struct stmt st_member = {
    "dy_member", "SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2 "
                 "AND removed_at IS NULL"};

/* $1 room: the meetings that have, or may have, a diary; content-free. */
static const struct stmt st_list = {
    "dy_list",
    "SELECT (diary_writer_doc(c.id) || jsonb_build_object("
    "'entry_versions', (SELECT count(*) FROM diary_records d WHERE d.checkpoint_id = c.id "
    "AND d.kind = 'entry'), 'remarks', (SELECT count(*) FROM diary_records d WHERE "
    "d.checkpoint_id = c.id AND d.kind = 'remark'), 'last_written_at', (SELECT "
    "utc_text(max(d.created_at)) FROM diary_records d WHERE d.checkpoint_id = c.id)))::text "
    "FROM checkpoints c WHERE c.room_id = $1 AND (c.state = 'held' OR EXISTS (SELECT 1 FROM "
    "diary_records d WHERE d.checkpoint_id = c.id) OR EXISTS (SELECT 1 FROM diary_writers w "
    "WHERE w.checkpoint_id = c.id)) ORDER BY c.id LIMIT 601"};

/*
 * Held meetings recorded more than a day before $1 (and less than 30 days:
 * an upgrade does not remind of old meetings) with no entry get one
 * reminder, to the writer; the nudge row makes it once, also across nodes.
 * Recording a meeting sets its updated_at, so meetings not touched for 31
 * days are passed over without looking at their events; the writer is
 * worked out only for the due ones.
 */
static const struct stmt st_missing = {
    "dy_missing",
    "WITH held AS (SELECT c.id, diary_held_at(c.id) AS held FROM checkpoints c "
    "WHERE c.state = 'held' AND c.updated_at > to_timestamp($1::bigint) - interval '31 days' "
    "AND NOT EXISTS (SELECT 1 FROM diary_records d WHERE d.checkpoint_id = c.id AND "
    "d.kind = 'entry') AND NOT EXISTS (SELECT 1 FROM diary_nudges n WHERE "
    "n.checkpoint_id = c.id)), "
    "due AS (SELECT id, diary_writer(id) AS uid FROM held WHERE held <= "
    "to_timestamp($1::bigint) - interval '1 day' AND held > to_timestamp($1::bigint) - "
    "interval '30 days' ORDER BY id LIMIT 500), "
    "ins AS (INSERT INTO diary_nudges (checkpoint_id, user_id, sent_at) SELECT id, uid, "
    "to_timestamp($1::bigint) FROM due WHERE uid IS NOT NULL ON CONFLICT DO NOTHING "
    "RETURNING checkpoint_id, user_id) "
    "SELECT n.user_id, n.doc FROM ins, LATERAL diary_notify(ins.checkpoint_id, ins.user_id, "
    "NULL, 'diary.missing', jsonb_build_object('held_at', utc_text(diary_held_at("
    "ins.checkpoint_id))), to_timestamp($1::bigint)) n"};

/* What an op knows about its checkpoint and its caller. */
struct dy {
	int64_t id, room_id, epoch, writer;
	char room_kind[8], state[16], role[8]; /* role: "" when not a member */
	int roster, rotate_required, closed, held, chosen;
};

/* Begins the transaction and loads the checkpoint; not_found unless the caller is a member. */
static int dy_open(struct db_conn *c, struct db_job *job, struct dy *d)
{
	struct params p = {0};
	PGresult *r;
	int err;

	memset(d, 0, sizeof(*d));
	if ((err = store_begin(c)))
		return db_job_fail(job, err, NULL);
	params_int(&p, job_int(job, "checkpoint_id", 0));
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_load, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) == 1) {
		d->id = store_int(r, 0, 0);
		d->room_id = store_int(r, 0, 1);
		snprintf(d->room_kind, sizeof(d->room_kind), "%s", store_str(r, 0, 2));
		snprintf(d->state, sizeof(d->state), "%s", store_str(r, 0, 3));
		snprintf(d->role, sizeof(d->role), "%s",
		         store_str(r, 0, 4) ? store_str(r, 0, 4) : "");
		d->roster = store_bool(r, 0, 5);
		d->epoch = store_int(r, 0, 6);
		d->rotate_required = store_bool(r, 0, 7);
		d->closed = store_bool(r, 0, 8);
		d->writer = store_int(r, 0, 9);
		d->held = store_bool(r, 0, 10);
		d->chosen = store_bool(r, 0, 11);
	}
	PQclear(r);
	if (!d->id || !d->role[0])
		return store_fail_msg(c, job, EM_ERR_NOT_FOUND,
		                      "no such meeting in a room of yours");
	return EM_OK;
}

/* One JSON text column of one row, parsed (new reference or NULL with *err). */
static json_t *dy_json(struct db_conn *c, const struct stmt *st, int64_t id, int *err)
{
	struct params p = {0};
	PGresult *r;
	json_t *doc = NULL;

	params_int(&p, id);
	if (!(r = store_exec(c, st, &p, err, NULL)))
		return NULL;
	if (PQntuples(r) == 1 && store_str(r, 0, 0))
		doc = json_loads(store_str(r, 0, 0), 0, NULL);
	PQclear(r);
	if (!doc)
		*err = EM_ERR_INTERNAL;
	return doc;
}

/* A notice to one user, queued for its live push. extra: a JSON object (taken). */
static int dy_notify(struct db_conn *c, struct db_job *job, int64_t cid, int64_t to, int64_t actor,
                     const char *kind, json_t *extra, int64_t now)
{
	struct params p = {0};
	char *text = json_dumps(extra ? extra : json_object(), JSON_COMPACT);
	PGresult *r;
	int err;

	json_decref(extra);
	if (!text)
		return EM_ERR_NOMEM;
	params_int(&p, cid);
	params_int(&p, to);
	if (actor)
		params_int(&p, actor);
	else
		params_text(&p, NULL);
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

/* Commits and answers the document `st` makes of the checkpoint. */
static int dy_finish(struct db_conn *c, struct db_job *job, const struct stmt *st, int64_t id)
{
	int err = EM_OK;
	json_t *doc = dy_json(c, st, id, &err);

	if (!doc || (err = store_commit(c))) {
		json_decref(doc);
		json_decref(job->user_events); /* nothing happened: nothing to push */
		job->user_events = NULL;
		return store_fail(c, job, err);
	}
	job->result = doc;
	return EM_OK;
}

int diary_writer_get_run(struct db_conn *c, struct db_job *job)
{
	struct dy d;
	int err;

	if ((err = dy_open(c, job, &d)))
		return err;
	return dy_finish(c, job, &st_writer_doc, d.id);
}

int diary_writer_set_run(struct db_conn *c, struct db_job *job)
{
	int64_t now = server_clock_s(), who = 0, entries = 0;
	struct params p = {0};
	PGresult *r;
	struct dy d;
	int err;

	if ((err = dy_open(c, job, &d)))
		return err;
	if (strcmp(d.room_kind, "group"))
		return store_fail_msg(c, job, EM_ERR_BAD_STATE,
		                      "in a pair room the mentee writes the diary");
	if (strcmp(d.state, "confirmed") && strcmp(d.state, "held"))
		return store_fail_msg(c, job, EM_ERR_BAD_STATE,
		                      "a writer is chosen for a confirmed or held meeting only");
	params_int(&p, d.id);
	params_text(&p, job_str(job, "username"));
	if (!(r = store_exec(c, &st_mentee, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) == 1)
		who = store_int(r, 0, 0);
	PQclear(r);
	if (!who)
		return store_fail_msg(c, job, EM_ERR_WRONG_ROLE,
		                      "the diary's writer must be a mentee of the room");
	p.n = 0;
	params_int(&p, d.id);
	if (!(r = store_exec(c, &st_entries, &p, &err, NULL)))
		return store_fail(c, job, err);
	entries = store_int(r, 0, 0);
	PQclear(r);
	if (entries && who != d.writer)
		return store_fail_msg(c, job, EM_ERR_BAD_STATE,
		                      "the entry of this meeting is written: its writer stays");
	p.n = 0;
	params_int(&p, d.id);
	params_int(&p, who);
	params_int(&p, job->user_id);
	params_int(&p, now);
	if (!(r = store_exec(c, &st_writer_set, &p, &err, NULL)))
		return store_fail(c, job, err);
	PQclear(r);
	if (who != job->user_id && who != d.writer &&
	    (err = dy_notify(c, job, d.id, who, job->user_id, "diary.writer", NULL, now)))
		return store_fail(c, job, err);
	return dy_finish(c, job, &st_writer_doc, d.id);
}

/* What diary.write and diary.remark share: the key epoch, roster, number and insert. */
static int dy_record(struct db_conn *c, struct db_job *job, struct dy *d, const char *kind,
                     const char *number_arg, int64_t now, json_t **record)
{
	unsigned char ct[EM_MSG_CIPHERTEXT_MAX], sig[EM_SIG_BYTES], old_sig[EM_SIG_BYTES];
	int64_t number = job_int(job, number_arg, 0), epoch = job_int(job, "epoch", 0), max;
	int ct_len = job_bin(job, "ciphertext", ct, sizeof(ct)), same = 0, err;
	struct params p = {0};
	PGresult *r;
	char msg[160];

	if (job_bin(job, "sig", sig, sizeof(sig)) != (int)sizeof(sig) || ct_len < 0)
		return store_fail(c, job, EM_ERR_BAD_ENCODING);
	params_int(&p, d->id);
	params_text(&p, kind);
	params_int(&p, number);
	if (!(r = store_exec(c, &st_numbers, &p, &err, NULL)))
		return store_fail(c, job, err);
	max = store_int(r, 0, 0);
	if (number <= max && store_int(r, 0, 1) == job->user_id &&
	    store_bytea(r, 0, 2, old_sig, sizeof(old_sig)) == (int)sizeof(old_sig))
		same = !memcmp(old_sig, sig, sizeof(sig));
	if (same) { /* a resend of what is stored: the stored record, as `send` does */
		*record = json_loads(store_str(r, 0, 3), 0, NULL);
		PQclear(r);
		if (!*record)
			return store_fail(c, job, EM_ERR_INTERNAL);
		json_object_set_new(*record, "duplicate", json_true());
		return EM_OK;
	}
	PQclear(r);
	if (d->closed)
		return store_fail_msg(c, job, EM_ERR_FORBIDDEN, "the room is closed");
	if (!d->roster)
		return store_fail_msg(c, job, EM_ERR_AGREEMENT_UNSIGNED,
		                      "you are not on the room's roster: sign its agreement first");
	if (d->rotate_required)
		return store_fail_msg(c, job, EM_ERR_ROTATE_REQUIRED,
		                      "the room needs a new key epoch first");
	if (epoch != d->epoch)
		return store_fail_msg(c, job, EM_ERR_STALE_EPOCH,
		                      "the room is at another key epoch");
	if (number != max + 1) {
		snprintf(msg, sizeof(msg), "the next %s of this meeting is number %lld",
		         !strcmp(kind, "entry") ? "version of the entry" : "remark",
		         (long long)(max + 1));
		return store_fail_msg(c, job, EM_ERR_STALE_VERSION, msg);
	}
	p.n = 0;
	params_int(&p, d->id);
	params_int(&p, d->room_id);
	params_int(&p, job->user_id);
	params_text(&p, kind);
	params_int(&p, number);
	params_int(&p, epoch);
	params_bin(&p, ct, (size_t)ct_len);
	params_bin(&p, sig, sizeof(sig));
	params_int(&p, now);
	if (!(r = store_exec(c, &st_insert, &p, &err, NULL)))
		return store_fail(c, job, err);
	*record = json_loads(store_str(r, 0, 0), 0, NULL);
	PQclear(r);
	if (!*record)
		return store_fail(c, job, EM_ERR_INTERNAL);
	json_object_set_new(*record, "duplicate", json_false());
	log_info("diary %s checkpoint=%lld room=%lld by=%lld number=%lld bytes=%d", kind,
	         (long long)d->id, (long long)d->room_id, (long long)job->user_id,
	         (long long)number, ct_len);
	return EM_OK;
}

static int dy_answer(struct db_conn *c, struct db_job *job, json_t *record)
{
	int err;

	if ((err = store_commit(c))) {
		json_decref(record);
		json_decref(job->user_events);
		job->user_events = NULL;
		return store_fail(c, job, err);
	}
	job->result = json_pack("{so}", "record", record);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int diary_write_run(struct db_conn *c, struct db_job *job)
{
	int64_t now = server_clock_s(), mentor = 0;
	json_t *record = NULL;
	struct params p = {0};
	PGresult *r;
	struct dy d;
	int err;

	if ((err = dy_open(c, job, &d)))
		return err;
	if (strcmp(d.state, "held"))
		return store_fail_msg(c, job, EM_ERR_BAD_STATE,
		                      "a diary is written after a held meeting");
	if (d.writer != job->user_id)
		return store_fail_msg(
		    c, job, EM_ERR_FORBIDDEN,
		    "only the mentee chosen to write this meeting's diary writes it");
	if ((err = dy_record(c, job, &d, "entry", "version", now, &record)))
		return err;
	if (json_is_true(json_object_get(record, "duplicate")))
		return dy_answer(c, job, record);
	if (!strcmp(d.room_kind, "group") && !d.chosen) {
		/* the suggestion wrote: that fixes the rotation */
		params_int(&p, d.id);
		params_int(&p, job->user_id);
		params_int(&p, job->user_id);
		params_int(&p, now);
		if (!(r = store_exec(c, &st_writer_set, &p, &err, NULL))) {
			json_decref(record);
			return store_fail(c, job, err);
		}
		PQclear(r);
	}
	p.n = 0;
	params_int(&p, d.room_id);
	if (!(r = store_exec(c, &st_mentor, &p, &err, NULL))) {
		json_decref(record);
		return store_fail(c, job, err);
	}
	if (PQntuples(r) == 1)
		mentor = store_int(r, 0, 0);
	PQclear(r);
	if (mentor &&
	    (err = dy_notify(c, job, d.id, mentor, job->user_id, "diary.written",
	                     json_pack("{sI}", "version",
	                               json_integer_value(json_object_get(record, "number"))),
	                     now))) {
		json_decref(record);
		return store_fail(c, job, err);
	}
	return dy_answer(c, job, record);
}

int diary_remark_run(struct db_conn *c, struct db_job *job)
{
	int64_t now = server_clock_s();
	json_t *record = NULL;
	struct dy d;
	int err;

	if ((err = dy_open(c, job, &d)))
		return err;
	if (strcmp(d.role, "mentor"))
		return store_fail_msg(c, job, EM_ERR_FORBIDDEN,
		                      "only the room's mentor adds remarks");
	if (strcmp(d.state, "held"))
		return store_fail_msg(c, job, EM_ERR_BAD_STATE,
		                      "remarks are added after a held meeting");
	if ((err = dy_record(c, job, &d, "remark", "number", now, &record)))
		return err;
	if (!json_is_true(json_object_get(record, "duplicate")) && d.writer &&
	    d.writer != job->user_id &&
	    (err = dy_notify(
	         c, job, d.id, d.writer, job->user_id, "diary.remarked",
	         json_pack("{sI}", "number", json_integer_value(json_object_get(record, "number"))),
	         now))) {
		json_decref(record);
		return store_fail(c, job, err);
	}
	return dy_answer(c, job, record);
}

int diary_show_run(struct db_conn *c, struct db_job *job)
{
	struct dy d;
	int err;

	if ((err = dy_open(c, job, &d)))
		return err;
	return dy_finish(c, job, &st_doc, d.id);
}

int diary_list_run(struct db_conn *c, struct db_job *job)
{
	int64_t room = job_int(job, "room_id", 0);
	struct params p = {0};
	PGresult *r;
	json_t *list;
	int err, n;

	params_int(&p, room);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_member, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	n = PQntuples(r);
	PQclear(r);
	if (!n)
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no such room of yours");
	p.n = 0;
	params_int(&p, room);
	if (!(r = store_exec(c, &st_list, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	n = PQntuples(r);
	list = json_array();
	for (int i = 0; i < n && i < DIARY_LIST_MAX; i++)
		json_array_append_new(list, json_loads(store_str(r, i, 0), 0, NULL));
	PQclear(r);
	job->result = json_pack("{sIsosb}", "room_id", (json_int_t)room, "meetings", list,
	                        "truncated", n > DIARY_LIST_MAX);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int diary_missing_run(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, server_clock_s());
	if (!(r = store_exec(c, &st_missing, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *doc = json_loads(store_str(r, i, 1), 0, NULL);

		if (doc)
			db_job_push(&job->user_events, store_int(r, i, 0), EV_NOTICE, doc);
	}
	if (PQntuples(r))
		log_info("diary reminders sent=%d", PQntuples(r));
	PQclear(r);
	return EM_OK;
}
