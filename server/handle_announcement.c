/*
 * handle_announcement.c - a manager's announcements to a programme
 * (docs/PROTOCOL.md 15.2): announce.send, announce.keys and announce.list.
 * DB worker threads.
 *
 * The server cannot read an announcement: the manager's client encrypts the
 * text once under a random content key, signs the ciphertext with the
 * programme, audience, id and time (core/announce.c), and seals the content
 * key to each recipient. The server stores the signed body as it came and
 * one sealed key per recipient, and decides only who is handed what: a
 * manager of the programme sends; each key goes to a mentor of the programme
 * (audience "mentors") or to a mentor or mentee of it ("all"), or back to the
 * sender; a recipient lists the announcements it has a key for. Keys come in
 * batches (a programme of hundreds does not fit one frame); the last batch
 * (more absent or false) delivers the announcement: an `announcement`
 * notice to every recipient but the sender, written in that transaction and
 * pushed after it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "log.h"
#include "model.h"
#include "store.h"

#define ANNOUNCE_LIST_MAX 100

static const struct stmt st_manages = {
    "ann_manages", "SELECT 1 FROM programme_people WHERE programme_id = $1 AND user_id = $2 AND "
                   "role = 'manager'"};

static const struct stmt st_insert = {
    "ann_insert",
    "INSERT INTO announcements (programme_id, manager_id, audience, written_ms, body) "
    "VALUES ($1, $2, $3, $4, $5) RETURNING id"};

/* $1 announcement, caller $2: the sender's undelivered announcement, locked */
static const struct stmt st_pending = {
    "ann_pending", "SELECT programme_id, audience, delivered_at IS NOT NULL FROM announcements "
                   "WHERE id = $1 AND manager_id = $2 FOR UPDATE"};

/* $1 packed keys: (u64 user id || 80-byte seal) each */
#define ANN_KEYS                                                                                   \
	"WITH k AS (SELECT ('x' || encode(substring($1::bytea FROM i * 88 + 1 FOR 8), "            \
	"'hex'))::bit(64)::bigint AS uid, substring($1::bytea FROM i * 88 + 9 FOR 80) AS sealed "  \
	"FROM generate_series(0, length($1::bytea) / 88 - 1) AS i) "

/* keys for anyone outside the audience ($2 programme, $3 audience, $4 sender): their ids */
static const struct stmt st_outsiders = {
    "ann_outsiders",
    ANN_KEYS "SELECT k.uid FROM k WHERE k.uid <> $4::bigint AND NOT EXISTS (SELECT 1 FROM "
             "programme_people pp WHERE pp.programme_id = $2::bigint AND pp.user_id = k.uid AND "
             "(pp.role = 'mentor' OR ($3::text = 'all' AND pp.role = 'mentee'))) LIMIT 5"};

static const struct stmt st_keys = {
    "ann_keys", ANN_KEYS "INSERT INTO announcement_keys (announcement_id, user_id, sealed) "
                         "SELECT $2::bigint, uid, sealed FROM k"};

static const struct stmt st_count = {
    "ann_count", "SELECT count(*) FROM announcement_keys WHERE announcement_id = $1"};

/* $1 announcement, $2 sender's username: delivers; (user, Notice) per recipient but the sender */
static const struct stmt st_deliver = {
    "ann_deliver",
    "WITH a AS (UPDATE announcements SET delivered_at = ementor_now() WHERE id = $1 RETURNING *) "
    "INSERT INTO notices (user_id, kind, data, created_at) SELECT k.user_id, 'announcement', "
    "jsonb_build_object('kind', 'announcement', 'at', utc_text(ementor_now()), 'room_id', NULL, "
    "'by', $2::text, 'announcement_id', a.id, 'programme_id', a.programme_id, 'audience', "
    "a.audience), ementor_now() FROM a JOIN announcement_keys k ON k.announcement_id = a.id "
    "WHERE k.user_id <> a.manager_id RETURNING user_id, (data || jsonb_build_object('id', "
    "id))::text"};

static const struct stmt st_list = {
    "ann_list",
    "SELECT a.id, a.programme_id, a.manager_id, u.username, a.audience, a.written_ms, a.body, "
    "k.sealed, (SELECT count(*) FROM announcement_keys c WHERE c.announcement_id = a.id), " SQL_TS(
        "a.created_at") " FROM announcements a JOIN users u ON u.id = a.manager_id "
                        "LEFT JOIN announcement_keys k ON k.announcement_id = a.id AND k.user_id = "
                        "$1 WHERE a.delivered_at IS NOT NULL AND (k.user_id IS NOT NULL OR "
                        "a.manager_id = $1) AND ($2::bigint = 0 OR a.programme_id = $2) "
                        "ORDER BY a.id DESC LIMIT 100"};

/*
 * Inside the transaction: adds the job's batch of keys to announcement id
 * (programme, audience), checks the total, and delivers when it is the last
 * batch. EM_OK with job->result, or the job failed (rolled back).
 */
static int announce_add(struct db_conn *c, struct db_job *job, int64_t id, int64_t programme,
                        const char *audience)
{
	unsigned char *keys = malloc(EM_ANNOUNCE_KEY_BYTES * EM_ANNOUNCE_BATCH_MAX);
	int more = json_is_true(json_object_get(job->args, "more"));
	struct params p = {0};
	PGresult *r = NULL;
	int n, err, rc;
	int64_t total;

	if (!keys ||
	    (n = job_bin(job, "keys", keys, EM_ANNOUNCE_KEY_BYTES * EM_ANNOUNCE_BATCH_MAX)) < 0) {
		rc = store_fail(c, job, EM_ERR_NOMEM);
		goto out;
	}
	if (n % EM_ANNOUNCE_KEY_BYTES) {
		rc = store_fail_msg(c, job, EM_ERR_BAD_VALUE,
		                    "args.keys: not a whole number of 88-byte keys");
		goto out;
	}
	params_bin(&p, keys, (size_t)n);
	params_int(&p, programme);
	params_text(&p, audience);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_outsiders, &p, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	if (PQntuples(r)) {
		rc = db_job_fail(job, EM_ERR_NOT_IN_PROGRAMME,
		                 "user %lld is not among the %s of programme %lld",
		                 (long long)store_int(r, 0, 0),
		                 strcmp(audience, "all") ? "mentors" : "mentors and mentees",
		                 (long long)programme);
		store_rollback(c);
		goto out;
	}
	PQclear(r);
	p.n = 1;
	params_int(&p, id);
	if (!(r = store_exec(c, &st_keys, &p, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	PQclear(r);
	p.n = 0;
	params_int(&p, id);
	if (!(r = store_exec(c, &st_count, &p, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	total = store_int(r, 0, 0);
	PQclear(r);
	r = NULL;
	if (total > EM_ANNOUNCE_TO_MAX) {
		rc = db_job_fail(job, EM_ERR_TOO_MANY, "more than %d recipients",
		                 EM_ANNOUNCE_TO_MAX);
		store_rollback(c);
		goto out;
	}
	if (!more) {
		p.n = 0;
		params_int(&p, id);
		params_text(&p, job->username);
		if (!(r = store_exec(c, &st_deliver, &p, &err, NULL))) {
			rc = store_fail(c, job, err);
			goto out;
		}
		for (int i = 0; i < PQntuples(r); i++) {
			json_t *doc = json_loads(store_str(r, i, 1), 0, NULL);

			if (doc)
				db_job_push(&job->user_events, store_int(r, i, 0), EV_NOTICE, doc);
		}
		PQclear(r);
		r = NULL;
	}
	if ((err = store_commit(c))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	if (!more)
		log_info("announcement delivered id=%lld programme=%lld recipients=%lld",
		         (long long)id, (long long)programme, (long long)total);
	job->result = json_pack("{s:I, s:b, s:I}", "announcement_id", (json_int_t)id, "delivered",
	                        !more, "recipients", (json_int_t)total);
	rc = job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
out:
	PQclear(r);
	free(keys);
	return rc;
}

int announce_send_run(struct db_conn *c, struct db_job *job)
{
	int64_t programme = job_int(job, "programme_id", 0), id;
	const char *audience = job_str(job, "audience");
	unsigned char *body = malloc(EM_ANNOUNCE_BODY_MAX);
	struct params p = {0};
	PGresult *r = NULL;
	int n, err, rc;

	if (!body || (n = job_bin(job, "body", body, EM_ANNOUNCE_BODY_MAX)) < 0) {
		rc = db_job_fail(job, EM_ERR_NOMEM, NULL);
		goto out;
	}
	if ((err = store_begin(c))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	params_int(&p, programme);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_manages, &p, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	if (PQntuples(r) != 1) {
		rc = store_fail_msg(c, job, EM_ERR_NOT_FOUND, "no programme of yours with that id");
		goto out;
	}
	PQclear(r);
	params_text(&p, audience);
	params_int(&p, job_int(job, "written_ms", 0));
	params_bin(&p, body, (size_t)n);
	if (!(r = store_exec(c, &st_insert, &p, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	id = store_int(r, 0, 0);
	rc = announce_add(c, job, id, programme, audience);
out:
	PQclear(r);
	free(body);
	return rc;
}

int announce_keys_run(struct db_conn *c, struct db_job *job)
{
	int64_t id = job_int(job, "announcement_id", 0), programme;
	char audience[8];
	struct params p = {0};
	PGresult *r;
	int err, delivered;

	if ((err = store_begin(c)))
		return store_fail(c, job, err);
	params_int(&p, id);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_pending, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) != 1) {
		PQclear(r);
		return store_fail_msg(c, job, EM_ERR_NOT_FOUND,
		                      "no announcement of yours with that id");
	}
	programme = store_int(r, 0, 0);
	snprintf(audience, sizeof(audience), "%s", store_str(r, 0, 1));
	delivered = store_bool(r, 0, 2);
	PQclear(r);
	if (delivered)
		return store_fail_msg(c, job, EM_ERR_BAD_STATE,
		                      "the announcement was delivered: it takes no more keys");
	return announce_add(c, job, id, programme, audience);
}

int announce_list_run(struct db_conn *c, struct db_job *job)
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
	for (int i = 0; list && i < PQntuples(r) && i < ANNOUNCE_LIST_MAX; i++)
		json_array_append_new(
		    list,
		    json_pack("{s:I, s:I, s:I, s:s, s:s, s:I, s:o, s:o, s:I, s:s}",
		              "announcement_id", (json_int_t)store_int(r, i, 0), "programme_id",
		              (json_int_t)store_int(r, i, 1), "manager_id",
		              (json_int_t)store_int(r, i, 2), "manager", store_str(r, i, 3),
		              "audience", store_str(r, i, 4), "written_ms",
		              (json_int_t)store_int(r, i, 5), "body",
		              model_bytea_b64(r, i, 6, EM_ANNOUNCE_BODY_MAX), "key",
		              PQgetisnull(r, i, 7) ? json_null() : model_bytea_b64(r, i, 7, 80),
		              "recipients", (json_int_t)store_int(r, i, 8), "created_at",
		              store_str(r, i, 9)));
	PQclear(r);
	job->result = list ? json_pack("{s:o}", "announcements", list) : NULL;
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}
