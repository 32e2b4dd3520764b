/*
 * handle_notice.c - notices (docs/PROTOCOL.md section 6): notice.list and
 * notice.ack, a notice another node announced (remote.c), and the reminder
 * scheduler's job, which turns due reminders of confirmed meetings into
 * notices. Notices are rows first and pushed second: a user who is offline
 * finds them with notice.list. DB worker threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "store.h"

#define NOTICE_LIST_MAX 200 /* st_notice_list asks for one more */

static const struct stmt st_notice_list = {
    "notice_list", "SELECT (data || jsonb_build_object('id', id))::text FROM notices "
                   "WHERE user_id = $1 AND acked_at IS NULL ORDER BY id LIMIT 201"};

static const struct stmt st_notice_ack = {
    "notice_ack", "UPDATE notices SET acked_at = now() WHERE user_id = $1 AND id <= $2 "
                  "AND acked_at IS NULL"};

/*
 * Due reminders become notices in one statement: a reminder is marked sent in
 * the transaction that creates its notice, so a restart neither loses nor
 * repeats one. Reminders of a meeting that is over, or no longer confirmed at
 * that slot, are marked sent without a notice. SKIP LOCKED: several nodes.
 */
static const struct stmt st_reminders_due = {
    "reminders_due",
    "WITH due AS (SELECT id FROM reminders WHERE sent_at IS NULL AND "
    "due_at <= to_timestamp($1::bigint) ORDER BY due_at LIMIT 500 FOR UPDATE SKIP LOCKED), "
    "sent AS (UPDATE reminders r SET sent_at = to_timestamp($1::bigint) FROM due "
    "WHERE r.id = due.id RETURNING r.*), "
    "ins AS (INSERT INTO notices (user_id, kind, data, created_at) "
    "SELECT s.user_id, 'reminder', jsonb_build_object('kind', 'reminder', "
    "'at', utc_text(to_timestamp($1::bigint)), 'checkpoint_id', c.id, 'room_id', c.room_id, "
    "'checkpoint_kind', c.kind, 'starts_at', utc_text(sl.starts_at), 'place', sl.place, "
    "'lead_minutes', s.lead_minutes), to_timestamp($1::bigint) "
    "FROM sent s JOIN checkpoints c ON c.id = s.checkpoint_id "
    "JOIN checkpoint_slots sl ON sl.id = s.slot_id "
    "WHERE c.state = 'confirmed' AND c.slot_id = s.slot_id "
    "AND sl.starts_at + make_interval(mins => sl.minutes) > to_timestamp($1::bigint) "
    "RETURNING id, user_id, data) "
    "SELECT user_id, (data || jsonb_build_object('id', id))::text FROM ins"};

int notice_list_run(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	PGresult *r;
	json_t *list;
	int err, n;

	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_notice_list, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	n = PQntuples(r);
	list = json_array();
	for (int i = 0; i < n && i < NOTICE_LIST_MAX; i++)
		json_array_append_new(list, json_loads(store_str(r, i, 0), 0, NULL));
	PQclear(r);
	job->result =
	    json_pack("{soso}", "notices", list, "truncated", json_boolean(n > NOTICE_LIST_MAX));
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int notice_ack_run(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, job->user_id);
	params_int(&p, job_int(job, "upto", 0));
	if (!(r = store_exec(c, &st_notice_ack, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	job->result = json_pack("{sI}", "acked", (json_int_t)atoll(PQcmdTuples(r)));
	PQclear(r);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

static const struct stmt st_notice_one = {
    "notice_one", "SELECT (data || jsonb_build_object('id', id))::text FROM notices "
                  "WHERE id = $1 AND user_id = $2 AND acked_at IS NULL"};

int notice_fetch_run(struct db_conn *c, struct db_job *job)
{
	int64_t user = job_int(job, "user_id", 0);
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, job_int(job, "id", 0));
	params_int(&p, user);
	if (!(r = store_exec(c, &st_notice_one, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	if (PQntuples(r) == 1) {
		json_t *doc = json_loads(store_str(r, 0, 0), 0, NULL);

		if (doc)
			db_job_push(&job->user_events, user, EV_NOTICE, doc);
	}
	PQclear(r);
	return EM_OK;
}

int reminders_run(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, server_clock_s());
	r = store_exec(c, &st_reminders_due, &p, &err, NULL);
	if (r) {
		for (int i = 0; i < PQntuples(r); i++) {
			json_t *doc = json_loads(store_str(r, i, 1), 0, NULL);

			if (doc)
				db_job_push(&job->user_events, store_int(r, i, 0), EV_NOTICE, doc);
		}
		if (PQntuples(r))
			log_info("reminders sent=%d", PQntuples(r));
		metrics_add(M_REMINDERS_SENT, (uint64_t)PQntuples(r));
		PQclear(r);
	}
	return r ? EM_OK : db_job_fail(job, err, NULL);
}
