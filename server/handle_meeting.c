/*
 * handle_meeting.c - the meetings of a room beyond its three checkpoints and
 * the session plan (docs/PROTOCOL.md section 6.4): meeting.add (a session,
 * face to face or online, with its first proposed slots), meeting.plan (the
 * room's checkpoints and sessions in date order) and meeting.topic (a
 * session's or checkpoint's end-to-end encrypted topic, replaced whole by a
 * newer revision).
 *
 * DESIGN. A session is a row of `checkpoints` of kind 'session'
 * (schema/009_meetings.sql), so its id is the meeting id everywhere and every
 * checkpoint op (propose, answer, reschedule, cancel, absent, record, attend)
 * and the reminders and calendar feeds work on it unchanged; only its
 * creation, the plan and the topic are here. The participants of a session
 * are the room's members: a manager is refused by dispatch (R_MEMBER) and
 * gets not_found from the checkpoint ops (handle_checkpoint.c cp_load),
 * unless seated as the room's mentor (room.add), who is then its mentor. The
 * server stores a topic as ciphertext and checks only who sends it, its
 * room's epoch and its revision; the signature is the readers' to check
 * (like a message's, section 5.1). Every op runs in one transaction on a DB
 * worker thread; time comes from server_clock_s().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handlers.h"
#include "log.h"
#include "server.h"
#include "store.h"

#define SESSIONS_MAX 100 /* sessions per room */
#define PLAN_MAX     (SESSIONS_MAX + 3)

/* The room for the caller. $1 room, $2 user. */
static const struct stmt st_room = {
    "mt_room",
    "SELECT r.closed, r.epoch, p.starts_on::text, p.ends_on::text, "
    "EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = r.id AND m.user_id = $2 "
    "AND m.removed_at IS NULL), "
    "(SELECT count(*) FROM checkpoints c WHERE c.room_id = r.id AND c.kind = 'session'), "
    "r.kind = 'support' "
    "FROM rooms r JOIN programmes p ON p.id = r.programme_id WHERE r.id = $1 FOR SHARE OF r"};

/* $1 room, $2 opens, $3 closes, $4 mode, $5 creator, $6 now. */
static const struct stmt st_insert = {
    "mt_insert", "INSERT INTO checkpoints (room_id, kind, opens_on, closes_on, mode, created_by, "
                 "updated_at) VALUES ($1, 'session', $2::date, $3::date, $4, $5, "
                 "to_timestamp($6::bigint)) RETURNING id"};

static const struct stmt st_proposed = {
    "mt_proposed", "INSERT INTO checkpoint_events (checkpoint_id, actor_id, kind, at) "
                   "VALUES ($1, $2, 'proposed', to_timestamp($3::bigint))"};

static const struct stmt st_doc = {"mt_doc",
                                   "SELECT meeting_doc($1, to_timestamp($2::bigint))::text"};

static const struct stmt st_plan = {
    "mt_plan", "SELECT meeting_doc(c.id, to_timestamp($2::bigint))::text FROM checkpoints c "
               "WHERE c.room_id = $1 ORDER BY meeting_sort_at(c.id), c.id LIMIT 104"};

/* The meeting, locked, with its room and the caller's membership. $1 meeting, $2 user. */
static const struct stmt st_meeting = {
    "mt_meeting",
    "SELECT c.room_id, r.closed, r.epoch, "
    "EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = c.room_id AND m.user_id = $2 "
    "AND m.removed_at IS NULL), "
    "COALESCE((SELECT t.revision FROM meeting_topics t WHERE t.checkpoint_id = c.id), 0) "
    "FROM checkpoints c JOIN rooms r ON r.id = c.room_id WHERE c.id = $1 FOR UPDATE OF c"};

/* $1 meeting, $2 revision, $3 epoch, $4 author, $5 ciphertext, $6 sig, $7 now. */
static const struct stmt st_topic_set = {
    "mt_topic_set",
    "INSERT INTO meeting_topics (checkpoint_id, revision, epoch, author_id, ciphertext, sig, "
    "updated_at) VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7::bigint)) "
    "ON CONFLICT (checkpoint_id) DO UPDATE SET revision = EXCLUDED.revision, "
    "epoch = EXCLUDED.epoch, author_id = EXCLUDED.author_id, ciphertext = EXCLUDED.ciphertext, "
    "sig = EXCLUDED.sig, updated_at = EXCLUDED.updated_at"};

/* Commits and answers {"meeting": Meeting}. */
static int mt_finish(struct db_conn *c, struct db_job *job, int64_t id, int64_t now)
{
	struct params p = {0};
	json_t *doc = NULL;
	PGresult *r;
	int err = EM_ERR_INTERNAL;

	params_int(&p, id);
	params_int(&p, now);
	if ((r = store_exec(c, &st_doc, &p, &err, NULL))) {
		if (PQntuples(r) == 1)
			doc = json_loads(store_str(r, 0, 0), 0, NULL);
		PQclear(r);
		err = doc ? EM_OK : EM_ERR_INTERNAL;
	}
	if (err || (err = store_commit(c))) {
		json_decref(doc);
		json_decref(job->user_events); /* nothing happened: nothing to push */
		job->user_events = NULL;
		return store_fail(c, job, err);
	}
	job->result = json_pack("{so}", "meeting", doc);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int meeting_add_run(struct db_conn *c, struct db_job *job)
{
	int64_t now = server_clock_s(), room = job_int(job, "room_id", 0), id, sessions = 0;
	json_t *slots = json_object_get(job->args, "slots");
	char opens[11], closes[11];
	struct params p = {0};
	PGresult *r;
	int err, closed = 0, member, support = 0;

	if ((err = store_begin(c)))
		return db_job_fail(job, err, NULL);
	params_int(&p, room);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_room, &p, &err, NULL)))
		return store_fail(c, job, err);
	member = PQntuples(r) == 1 && store_bool(r, 0, 4);
	if (member) {
		closed = store_bool(r, 0, 0);
		snprintf(opens, sizeof(opens), "%s", store_str(r, 0, 2));
		snprintf(closes, sizeof(closes), "%s", store_str(r, 0, 3));
		sessions = store_int(r, 0, 5);
		support = store_bool(r, 0, 6);
	}
	PQclear(r);
	if (!member)
		return store_fail_msg(c, job, EM_ERR_NOT_FOUND, "no such room of yours");
	if (support)
		return store_fail_msg(c, job, EM_ERR_FORBIDDEN,
		                      "a support room has no meetings (PROTOCOL.md 15.1)");
	if (closed)
		return store_fail_msg(c, job, EM_ERR_FORBIDDEN, "the room is closed");
	if (sessions >= SESSIONS_MAX) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_TOO_MANY, "room %lld has %d sessions already",
		                   (long long)room, SESSIONS_MAX);
	}
	p.n = 0;
	params_int(&p, room);
	params_text(&p, opens);
	params_text(&p, closes);
	params_text(&p, job_str(job, "mode"));
	params_int(&p, job->user_id);
	params_int(&p, now);
	if (!(r = store_exec(c, &st_insert, &p, &err, NULL)))
		return store_fail(c, job, err);
	id = store_int(r, 0, 0);
	PQclear(r);
	if (json_array_size(slots) > 0) {
		if ((err = checkpoint_slots_add(c, job, id, now))) {
			store_rollback(c);
			return job->err ? job->err : db_job_fail(job, err, NULL);
		}
		p.n = 0;
		params_int(&p, id);
		params_int(&p, job->user_id);
		params_int(&p, now);
		if ((err = store_run(c, &st_proposed, &p)) ||
		    (err = checkpoint_notify(c, job, id, "checkpoint.proposed",
		                             json_pack("{sb}", "reopened", 0), now)))
			return store_fail(c, job, err);
	}
	log_info("meeting added id=%lld room=%lld", (long long)id, (long long)room);
	return mt_finish(c, job, id, now);
}

int meeting_plan_run(struct db_conn *c, struct db_job *job)
{
	int64_t now = server_clock_s(), room = job_int(job, "room_id", 0), epoch;
	struct params p = {0};
	time_t t = (time_t)now;
	struct tm tm;
	char ts[32];
	json_t *list;
	PGresult *r;
	int err, member, n;

	if ((err = store_begin(c)))
		return db_job_fail(job, err, NULL);
	params_int(&p, room);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_room, &p, &err, NULL)))
		return store_fail(c, job, err);
	member = PQntuples(r) == 1 && store_bool(r, 0, 4);
	epoch = member ? store_int(r, 0, 1) : 0;
	PQclear(r);
	if (!member)
		return store_fail_msg(c, job, EM_ERR_NOT_FOUND, "no such room of yours");
	p.n = 0;
	params_int(&p, room);
	params_int(&p, now);
	if (!(r = store_exec(c, &st_plan, &p, &err, NULL)))
		return store_fail(c, job, err);
	list = json_array();
	n = PQntuples(r);
	for (int i = 0; list && i < n && i < PLAN_MAX; i++)
		json_array_append_new(list, json_loads(store_str(r, i, 0), 0, NULL));
	PQclear(r);
	store_rollback(c); /* read only */
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	job->result = json_pack("{sIsIsoss}", "room_id", (json_int_t)room, "epoch",
	                        (json_int_t)epoch, "meetings", list, "now", ts);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int meeting_topic_run(struct db_conn *c, struct db_job *job)
{
	int64_t now = server_clock_s(), id = job_int(job, "meeting_id", 0),
	        revision = job_int(job, "revision", 0), epoch = job_int(job, "epoch", 0), room,
	        room_epoch, current;
	unsigned char ct[EM_TOPIC_CT_MAX], sig[64];
	int ct_len = job_bin(job, "ciphertext", ct, sizeof(ct)), err, member, closed;
	struct params p = {0};
	PGresult *r;

	if (ct_len < 0 || job_bin(job, "sig", sig, sizeof(sig)) != (int)sizeof(sig))
		return db_job_fail(job, EM_ERR_BAD_VALUE, "ciphertext or sig is not base64url");
	if ((err = store_begin(c)))
		return db_job_fail(job, err, NULL);
	params_int(&p, id);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_meeting, &p, &err, NULL)))
		return store_fail(c, job, err);
	member = PQntuples(r) == 1 && store_bool(r, 0, 3);
	room = member ? store_int(r, 0, 0) : 0;
	closed = member && store_bool(r, 0, 1);
	room_epoch = member ? store_int(r, 0, 2) : 0;
	current = member ? store_int(r, 0, 4) : 0;
	PQclear(r);
	if (!member)
		return store_fail_msg(c, job, EM_ERR_NOT_FOUND, "no such meeting of yours");
	if (closed)
		return store_fail_msg(c, job, EM_ERR_FORBIDDEN, "the room is closed");
	if (epoch != room_epoch) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_STALE_EPOCH,
		                   "room %lld is at key epoch %lld: encrypt the topic again",
		                   (long long)room, (long long)room_epoch);
	}
	if (revision != current + 1) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_STALE_VERSION,
		                   "the topic is at revision %lld: read the plan again and send "
		                   "revision %lld",
		                   (long long)current, (long long)current + 1);
	}
	p.n = 0;
	params_int(&p, id);
	params_int(&p, revision);
	params_int(&p, epoch);
	params_int(&p, job->user_id);
	params_bin(&p, ct, (size_t)ct_len);
	params_bin(&p, sig, sizeof(sig));
	params_int(&p, now);
	if ((err = store_run(c, &st_topic_set, &p)) ||
	    (err = checkpoint_notify(c, job, id, "meeting.topic",
	                             json_pack("{sI}", "revision", (json_int_t)revision), now)))
		return store_fail(c, job, err);
	return mt_finish(c, job, id, now);
}
