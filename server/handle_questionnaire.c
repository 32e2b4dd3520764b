/*
 * handle_questionnaire.c - the initial and final monitoring questionnaires
 * and the progress shared with the programme's managers (docs/PROTOCOL.md
 * section 11): questionnaire.get, questionnaire.set, questionnaire.answer,
 * questionnaire.answers, progress.share, progress.list. DB worker threads.
 *
 * The server never sees an answer, a rating value or a goal status: each is
 * a sealed record (PROTOCOL.md 10.1) the respondent's client sealed to the
 * manager parties of their room's agreement and signed. It stores the
 * questions a manager wrote with the manager's signature (clients check it;
 * the server does not need to), and decides only who may hand in and who is
 * handed what: answers and shares go to the programme's managers (and a
 * mentee's own answers back to them), never to a mentor or another mentee;
 * a share is refused unless the mentee's latest share_progress record for
 * the programme is a grant (schema/013: share_progress_granted).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "em_crypto.h"
#include "handlers.h"
#include "log.h"
#include "model.h"
#include "store.h"

/* lang, whether the caller manages the programme, whether they are a member of one of its rooms */
static const struct stmt st_access = {
    "quest_access",
    "SELECT p.agreement_lang, EXISTS (SELECT 1 FROM programme_people pp WHERE "
    "pp.programme_id = p.id AND pp.user_id = $2 AND pp.role = 'manager'), EXISTS (SELECT 1 "
    "FROM room_members m JOIN rooms r ON r.id = m.room_id WHERE r.programme_id = p.id AND "
    "m.user_id = $2 AND m.removed_at IS NULL) FROM programmes p WHERE p.id = $1"};

static const struct stmt st_get = {
    "quest_get", "SELECT version, author_id, doc, signature, " SQL_TS(
                     "created_at") " FROM questionnaires WHERE programme_id = $1 AND stage = $2 "
                                   "AND ($3::integer IS NULL OR version = $3::integer) ORDER "
                                   "BY version DESC LIMIT 1"};

static const struct stmt st_set = {
    "quest_set",
    "INSERT INTO questionnaires (programme_id, stage, version, author_id, doc, signature) "
    "SELECT $1, $2, $3::integer, $4, $5, $6 WHERE (SELECT COALESCE(max(version), 0) FROM "
    "questionnaires WHERE programme_id = $1 AND stage = $2) = $3::integer - 1 "
    "ON CONFLICT DO NOTHING RETURNING id"};

/* the caller's role in the room, and the room's programme */
static const struct stmt st_member = {
    "quest_member", "SELECT m.role, r.programme_id FROM room_members m JOIN rooms r ON r.id = "
                    "m.room_id WHERE m.room_id = $1 AND m.user_id = $2 AND m.removed_at IS NULL"};

static const struct stmt st_answer = {
    "quest_answer",
    "INSERT INTO questionnaire_answers (programme_id, room_id, user_id, stage, q_version, "
    "agreement_version, written_ms, blob) SELECT $1, $2, $3, $4, $5::integer, $6::integer, $7, "
    "$8 WHERE $5::integer = 0 OR EXISTS (SELECT 1 FROM questionnaires q WHERE q.programme_id = "
    "$1 AND q.stage = $4 AND q.version = $5::integer) ON CONFLICT DO NOTHING RETURNING id"};

static const struct stmt st_answers = {
    "quest_answers",
    "SELECT a.room_id, a.user_id, u.username, a.stage, a.q_version, a.agreement_version, "
    "a.written_ms, a.blob, " SQL_TS(
        "a.created_at") " FROM questionnaire_answers a JOIN users u ON u.id = a.user_id WHERE "
                        "a.programme_id = $1 AND ($2::text IS NULL OR a.stage = $2) AND "
                        "($3::bigint IS NULL OR a.user_id = $3) ORDER BY a.id LIMIT 1000"};

static const struct stmt st_granted = {"quest_granted", "SELECT share_progress_granted($1, $2)"};

static const struct stmt st_share = {
    "progress_share",
    "INSERT INTO progress_shares (room_id, record_id, user_id, kind, agreement_version, "
    "written_ms, blob) VALUES ($1, $2, $3, $4, $5::integer, $6, $7) ON CONFLICT DO NOTHING "
    "RETURNING id"};

static const struct stmt st_shares = {
    "progress_list",
    "SELECT s.room_id, s.record_id, s.user_id, u.username, s.kind, s.agreement_version, "
    "s.written_ms, s.blob, " SQL_TS(
        "s.created_at") " FROM progress_shares s JOIN rooms r ON r.id = s.room_id JOIN users u "
                        "ON u.id = s.user_id WHERE r.programme_id = $1 ORDER BY s.id LIMIT 2000"};

/* Who the caller is to the programme: *manager, *member. Fails the job (not_found) when neither. */
static int quest_access(struct db_conn *c, struct db_job *job, int64_t programme, char lang[4],
                        int *manager, int *member)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, programme);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_access, &p, &err, NULL)))
		return store_fail(c, job, err);
	*manager = PQntuples(r) == 1 && store_bool(r, 0, 1);
	*member = PQntuples(r) == 1 && store_bool(r, 0, 2);
	if (lang)
		snprintf(lang, 4, "%s", PQntuples(r) == 1 ? store_str(r, 0, 0) : "en");
	PQclear(r);
	if (!*manager && !*member)
		/* the same answer whether the programme exists or not */
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no programme %lld of yours",
		                   (long long)programme);
	return EM_OK;
}

int questionnaire_get_run(struct db_conn *c, struct db_job *job)
{
	int64_t programme = job_int(job, "programme_id", 0), version = job_int(job, "version", 0);
	const char *stage = job_str(job, "stage");
	struct params p = {0};
	int manager, member, err;
	char lang[4], vbuf[24];
	PGresult *r;

	if ((err = quest_access(c, job, programme, lang, &manager, &member)))
		return err;
	params_int(&p, programme);
	params_text(&p, stage);
	snprintf(vbuf, sizeof(vbuf), "%lld", (long long)version);
	params_text(&p, version > 0 ? vbuf : NULL);
	if (!(r = store_exec(c, &st_get, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) == 0 && version > 0) {
		PQclear(r);
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no version %lld of that questionnaire",
		                   (long long)version);
	}
	if (PQntuples(r) == 0)
		job->result =
		    json_pack("{s:I, s:s, s:s, s:i, s:n}", "programme_id", (json_int_t)programme,
		              "stage", stage, "lang", lang, "version", 0, "doc");
	else
		job->result = json_pack("{s:I, s:s, s:s, s:I, s:I, s:s, s:o, s:s}", "programme_id",
		                        (json_int_t)programme, "stage", stage, "lang", lang,
		                        "version", (json_int_t)store_int(r, 0, 0), "author_id",
		                        (json_int_t)store_int(r, 0, 1), "doc", store_str(r, 0, 2),
		                        "signature", model_bytea_b64(r, 0, 3, EM_SIG_BYTES),
		                        "created_at", store_str(r, 0, 4));
	PQclear(r);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int questionnaire_set_run(struct db_conn *c, struct db_job *job)
{
	int64_t programme = job_int(job, "programme_id", 0), version = job_int(job, "version", 0);
	unsigned char sig[EM_SIG_BYTES];
	struct params p = {0};
	int manager, member, err;
	PGresult *r;

	if ((err = quest_access(c, job, programme, NULL, &manager, &member)))
		return err;
	if (!manager)
		return db_job_fail(job, EM_ERR_FORBIDDEN,
		                   "only a manager of programme %lld writes its questionnaires",
		                   (long long)programme);
	if (job_bin(job, "signature", sig, sizeof(sig)) != (int)sizeof(sig))
		return db_job_fail(job, EM_ERR_BAD_VALUE, NULL);
	params_int(&p, programme);
	params_text(&p, job_str(job, "stage"));
	params_int(&p, version);
	params_int(&p, job->user_id);
	params_text(&p, job_str(job, "doc"));
	params_bin(&p, sig, sizeof(sig));
	if (!(r = store_exec(c, &st_set, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) != 1) {
		PQclear(r);
		return db_job_fail(job, EM_ERR_STALE_VERSION,
		                   "version %lld is not the next version of that questionnaire",
		                   (long long)version);
	}
	PQclear(r);
	log_info("questionnaire stored programme=%lld stage=%s version=%lld by=%lld",
	         (long long)programme, job_str(job, "stage"), (long long)version,
	         (long long)job->user_id);
	job->result = json_pack("{s:I}", "version", (json_int_t)version);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

/* The caller's role in room and its programme, or fails the job with not_member. */
static int quest_member(struct db_conn *c, struct db_job *job, int64_t room, char role[8],
                        int64_t *programme)
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
	*programme = store_int(r, 0, 1);
	PQclear(r);
	return EM_OK;
}

int questionnaire_answer_run(struct db_conn *c, struct db_job *job)
{
	int64_t programme = job_int(job, "programme_id", 0), room = job_int(job, "room_id", 0);
	int64_t in_programme = 0;
	unsigned char *blob = NULL;
	struct params p = {0};
	PGresult *r = NULL;
	char role[8];
	int n, err, rc;

	if ((rc = quest_member(c, job, room, role, &in_programme)))
		goto out;
	if (in_programme != programme) {
		rc = db_job_fail(job, EM_ERR_BAD_VALUE, "room %lld is not in programme %lld",
		                 (long long)room, (long long)programme);
		goto out;
	}
	if (strcmp(role, "mentee") != 0) {
		rc = db_job_fail(job, EM_ERR_WRONG_ROLE,
		                 "only a mentee answers the monitoring questionnaires (room %lld)",
		                 (long long)room);
		goto out;
	}
	blob = malloc(EM_RECORD_BLOB_MAX);
	if (!blob || (n = job_bin(job, "blob", blob, EM_RECORD_BLOB_MAX)) < 0) {
		rc = db_job_fail(job, EM_ERR_NOMEM, NULL);
		goto out;
	}
	params_int(&p, programme);
	params_int(&p, room);
	params_int(&p, job->user_id);
	params_text(&p, job_str(job, "stage"));
	params_int(&p, job_int(job, "q_version", 0));
	params_int(&p, job_int(job, "agreement_version", 0));
	params_int(&p, job_int(job, "written_ms", 0));
	params_bin(&p, blob, (size_t)n);
	if (!(r = store_exec(c, &st_answer, &p, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	if (PQntuples(r) != 1) {
		rc =
		    db_job_fail(job, EM_ERR_BAD_STATE,
		                "you have answered the %s questionnaire of programme %lld already, "
		                "or version %lld of it does not exist",
		                job_str(job, "stage"), (long long)programme,
		                (long long)job_int(job, "q_version", 0));
		goto out;
	}
	log_info("questionnaire answered programme=%lld room=%lld user=%lld stage=%s",
	         (long long)programme, (long long)room, (long long)job->user_id,
	         job_str(job, "stage"));
	job->result = json_pack("{s:s}", "stage", job_str(job, "stage"));
	rc = job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
out:
	PQclear(r);
	free(blob);
	return rc;
}

int questionnaire_answers_run(struct db_conn *c, struct db_job *job)
{
	int64_t programme = job_int(job, "programme_id", 0);
	struct params p = {0};
	int manager, member, err;
	char self[24];
	json_t *list;
	PGresult *r;

	if ((err = quest_access(c, job, programme, NULL, &manager, &member)))
		return err;
	params_int(&p, programme);
	params_text(&p, job_str(job, "stage"));
	/* a mentee (dispatch lets no mentor here) gets their own answers back, a manager all */
	snprintf(self, sizeof(self), "%lld", (long long)job->user_id);
	params_text(&p, manager ? NULL : self);
	if (!(r = store_exec(c, &st_answers, &p, &err, NULL)))
		return store_fail(c, job, err);
	list = json_array();
	for (int row = 0; list && row < PQntuples(r); row++)
		json_array_append_new(
		    list, json_pack("{s:I, s:I, s:s, s:s, s:I, s:I, s:I, s:o, s:s}", "room_id",
		                    (json_int_t)store_int(r, row, 0), "user_id",
		                    (json_int_t)store_int(r, row, 1), "username",
		                    store_str(r, row, 2), "stage", store_str(r, row, 3),
		                    "q_version", (json_int_t)store_int(r, row, 4),
		                    "agreement_version", (json_int_t)store_int(r, row, 5),
		                    "written_ms", (json_int_t)store_int(r, row, 6), "blob",
		                    model_bytea_b64(r, row, 7, EM_RECORD_BLOB_MAX), "created_at",
		                    store_str(r, row, 8)));
	PQclear(r);
	job->result =
	    json_pack("{s:I, s:o}", "programme_id", (json_int_t)programme, "answers", list);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int progress_share_run(struct db_conn *c, struct db_job *job)
{
	int64_t room = job_int(job, "room_id", 0), programme = 0;
	unsigned char id[EM_RECORD_ID_BYTES], *blob = NULL;
	struct params p = {0};
	PGresult *r = NULL;
	char role[8];
	int n, err, rc;

	if ((rc = quest_member(c, job, room, role, &programme)))
		goto out;
	if (strcmp(role, "mentee") != 0) {
		rc =
		    db_job_fail(job, EM_ERR_WRONG_ROLE,
		                "only a mentee shares their progress (room %lld)", (long long)room);
		goto out;
	}
	params_int(&p, job->user_id);
	params_int(&p, programme);
	if (!(r = store_exec(c, &st_granted, &p, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	if (PQntuples(r) != 1 || !store_bool(r, 0, 0)) {
		rc = db_job_fail(job, EM_ERR_FORBIDDEN,
		                 "your share_progress consent for programme %lld is not granted",
		                 (long long)programme);
		goto out;
	}
	PQclear(r);
	r = NULL;
	blob = malloc(EM_RECORD_BLOB_MAX);
	if (!blob || job_bin(job, "record_id", id, sizeof(id)) != (int)sizeof(id) ||
	    (n = job_bin(job, "blob", blob, EM_RECORD_BLOB_MAX)) < 0) {
		rc = db_job_fail(job, EM_ERR_NOMEM, NULL);
		goto out;
	}
	memset(&p, 0, sizeof(p));
	params_int(&p, room);
	params_bin(&p, id, sizeof(id));
	params_int(&p, job->user_id);
	params_text(&p, job_str(job, "kind"));
	params_int(&p, job_int(job, "agreement_version", 0));
	params_int(&p, job_int(job, "written_ms", 0));
	params_bin(&p, blob, (size_t)n);
	if (!(r = store_exec(c, &st_share, &p, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	if (PQntuples(r) != 1) {
		rc = db_job_fail(job, EM_ERR_BAD_VALUE, "that record id is taken");
		goto out;
	}
	log_info("progress shared room=%lld user=%lld kind=%s", (long long)room,
	         (long long)job->user_id, job_str(job, "kind"));
	job->result = json_pack("{s:s}", "kind", job_str(job, "kind"));
	rc = job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
out:
	PQclear(r);
	free(blob);
	return rc;
}

int progress_list_run(struct db_conn *c, struct db_job *job)
{
	int64_t programme = job_int(job, "programme_id", 0);
	struct params p = {0};
	int manager = 0, member = 0, err;
	json_t *list;
	PGresult *r;

	if ((err = quest_access(c, job, programme, NULL, &manager, &member)))
		return err;
	if (!manager)
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no programme %lld that you manage",
		                   (long long)programme);
	params_int(&p, programme);
	if (!(r = store_exec(c, &st_shares, &p, &err, NULL)))
		return store_fail(c, job, err);
	list = json_array();
	for (int row = 0; list && row < PQntuples(r); row++)
		json_array_append_new(
		    list, json_pack("{s:I, s:o, s:I, s:s, s:s, s:I, s:I, s:o, s:s}", "room_id",
		                    (json_int_t)store_int(r, row, 0), "record_id",
		                    model_bytea_b64(r, row, 1, EM_RECORD_ID_BYTES), "user_id",
		                    (json_int_t)store_int(r, row, 2), "username",
		                    store_str(r, row, 3), "kind", store_str(r, row, 4),
		                    "agreement_version", (json_int_t)store_int(r, row, 5),
		                    "written_ms", (json_int_t)store_int(r, row, 6), "blob",
		                    model_bytea_b64(r, row, 7, EM_RECORD_BLOB_MAX), "created_at",
		                    store_str(r, row, 8)));
	PQclear(r);
	job->result =
	    json_pack("{s:I, s:o}", "programme_id", (json_int_t)programme, "shares", list);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}
