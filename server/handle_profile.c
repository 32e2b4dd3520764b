/*
 * handle_profile.c - participants' profiles for matching (docs/PROTOCOL.md
 * section 14): profile.form, profile.form_set, profile.put and
 * profile.list. DB worker threads.
 *
 * The server never sees an answer: a profile is a sealed record (PROTOCOL.md
 * 10.1) the participant's client sealed to the managers it verified itself
 * and to the participant, and signed. The server decides only who hands in
 * and who is handed what: a mentor or mentee of the programme keeps one
 * profile there (their role in the programme, from programme_people, is
 * stored beside it: the clients check it against the signed one); a manager
 * of the programme lists them all; a participant lists their own. The
 * questions are not secret: a manager of the programme stores a new
 * version, signed (the participants' clients check that signature); any
 * person of the programme reads them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "em_crypto.h"
#include "handlers.h"
#include "log.h"
#include "model.h"
#include "store.h"

/* the caller's ($2) role in programme $1, if any */
static const struct stmt st_role = {
    "profile_role", "SELECT role FROM programme_people WHERE programme_id = $1 AND user_id = $2"};

static const struct stmt st_form = {
    "profile_form", "SELECT version, COALESCE(author_id, 0), doc, signature, " SQL_TS(
                        "created_at") " FROM profile_forms WHERE programme_id = $1 AND role = $2 "
                                      "AND ($3::integer IS NULL OR version = $3::integer) ORDER "
                                      "BY version DESC LIMIT 1"};

static const struct stmt st_form_set = {
    "profile_form_set",
    "INSERT INTO profile_forms (programme_id, role, version, author_id, doc, signature) "
    "SELECT $1, $2, $3::integer, $4, $5, $6 WHERE (SELECT COALESCE(max(version), 0) FROM "
    "profile_forms WHERE programme_id = $1 AND role = $2) = $3::integer - 1 "
    "ON CONFLICT DO NOTHING RETURNING id"};

static const struct stmt st_put = {
    "profile_put",
    "INSERT INTO profiles (programme_id, user_id, role, form_version, written_ms, blob) "
    "SELECT $1, $2, $3, $4::integer, $5, $6 WHERE $4::integer = 0 OR EXISTS (SELECT 1 FROM "
    "profile_forms f WHERE f.programme_id = $1 AND f.role = $3 AND f.version = $4::integer) "
    "ON CONFLICT (programme_id, user_id) DO UPDATE SET role = EXCLUDED.role, form_version = "
    "EXCLUDED.form_version, written_ms = EXCLUDED.written_ms, blob = EXCLUDED.blob, "
    "updated_at = ementor_now() WHERE profiles.written_ms < EXCLUDED.written_ms "
    "RETURNING " SQL_TS("updated_at")};

/* a manager's list ($3 true) or the caller's own ($2), a page after user $4 */
static const struct stmt st_list = {
    "profile_list",
    "SELECT x.user_id, u.username, x.role, x.form_version, x.written_ms, x.blob, " SQL_TS(
        "x.updated_at") " FROM profiles x JOIN users u ON u.id = x.user_id WHERE "
                        "x.programme_id = $1 AND ($3::boolean OR x.user_id = $2) AND "
                        "x.user_id > $4 ORDER BY x.user_id LIMIT $5"};

/* The caller's role in programme (into role), or fails the job with not_found. */
static int profile_role(struct db_conn *c, struct db_job *job, int64_t programme, char role[8])
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, programme);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_role, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) != 1) {
		PQclear(r);
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no programme %lld of yours",
		                   (long long)programme);
	}
	snprintf(role, 8, "%s", store_str(r, 0, 0));
	PQclear(r);
	return EM_OK;
}

int profile_form_run(struct db_conn *c, struct db_job *job)
{
	int64_t programme = job_int(job, "programme_id", 0), version = job_int(job, "version", 0);
	struct params p = {0};
	PGresult *r;
	char role[8];
	int err;

	if ((err = profile_role(c, job, programme, role)))
		return err;
	params_int(&p, programme);
	params_text(&p, job_str(job, "role"));
	if (version)
		params_int(&p, version);
	else
		params_text(&p, NULL);
	if (!(r = store_exec(c, &st_form, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) == 1)
		job->result = json_pack("{s:I, s:s, s:I, s:I, s:s, s:o, s:s}", "programme_id",
		                        (json_int_t)programme, "role", job_str(job, "role"),
		                        "version", (json_int_t)store_int(r, 0, 0), "author_id",
		                        (json_int_t)store_int(r, 0, 1), "doc", store_str(r, 0, 2),
		                        "signature", model_bytea_b64(r, 0, 3, EM_SIG_BYTES),
		                        "created_at", store_str(r, 0, 4));
	else if (version)
		err = db_job_fail(job, EM_ERR_NOT_FOUND, "no version %lld of that questionnaire",
		                  (long long)version);
	else /* the built-in default */
		job->result = json_pack("{s:I, s:s, s:i}", "programme_id", (json_int_t)programme,
		                        "role", job_str(job, "role"), "version", 0);
	PQclear(r);
	if (err)
		return err;
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int profile_form_set_run(struct db_conn *c, struct db_job *job)
{
	int64_t programme = job_int(job, "programme_id", 0), version = job_int(job, "version", 0);
	unsigned char sig[EM_SIG_BYTES];
	struct params p = {0};
	PGresult *r;
	char role[8];
	int err;

	if ((err = profile_role(c, job, programme, role)))
		return err;
	if (strcmp(role, "manager") != 0)
		return db_job_fail(job, EM_ERR_FORBIDDEN,
		                   "only a manager of programme %lld writes its profile questions",
		                   (long long)programme);
	if (job_bin(job, "signature", sig, sizeof(sig)) != (int)sizeof(sig))
		return db_job_fail(job, EM_ERR_BAD_VALUE, NULL);
	params_int(&p, programme);
	params_text(&p, job_str(job, "role"));
	params_int(&p, version);
	params_int(&p, job->user_id);
	params_text(&p, job_str(job, "doc"));
	params_bin(&p, sig, sizeof(sig));
	if (!(r = store_exec(c, &st_form_set, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) != 1) {
		PQclear(r);
		return db_job_fail(job, EM_ERR_STALE_VERSION,
		                   "version %lld is not the next version of those questions",
		                   (long long)version);
	}
	PQclear(r);
	log_info("profile questions stored programme=%lld role=%s version=%lld by=%lld",
	         (long long)programme, job_str(job, "role"), (long long)version,
	         (long long)job->user_id);
	job->result = json_pack("{s:I}", "version", (json_int_t)version);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int profile_put_run(struct db_conn *c, struct db_job *job)
{
	int64_t programme = job_int(job, "programme_id", 0);
	int64_t fv = job_int(job, "form_version", 0), written = job_int(job, "written_ms", 0);
	unsigned char *blob = NULL;
	struct params p = {0};
	PGresult *r = NULL;
	char role[8];
	int n, err, rc;

	if ((rc = profile_role(c, job, programme, role)))
		goto out;
	if (!strcmp(role, "manager")) {
		rc = db_job_fail(job, EM_ERR_WRONG_ROLE,
		                 "only the mentors and mentees of programme %lld hand in a profile",
		                 (long long)programme);
		goto out;
	}
	blob = malloc(EM_PROFILE_BLOB_MAX);
	if (!blob || (n = job_bin(job, "blob", blob, EM_PROFILE_BLOB_MAX)) < 0) {
		rc = db_job_fail(job, EM_ERR_NOMEM, NULL);
		goto out;
	}
	params_int(&p, programme);
	params_int(&p, job->user_id);
	params_text(&p, role);
	params_int(&p, fv);
	params_int(&p, written);
	params_bin(&p, blob, (size_t)n);
	if (!(r = store_exec(c, &st_put, &p, &err, NULL))) {
		rc = store_fail(c, job, err);
		goto out;
	}
	if (PQntuples(r) != 1) {
		rc =
		    db_job_fail(job, EM_ERR_BAD_STATE,
		                "not stored: version %lld of the %s questions does not exist, or a "
		                "newer profile of yours is stored",
		                (long long)fv, role);
		goto out;
	}
	log_info("profile stored programme=%lld", (long long)programme);
	job->result =
	    json_pack("{s:I, s:s, s:I, s:s}", "programme_id", (json_int_t)programme, "role", role,
	              "form_version", (json_int_t)fv, "updated_at", store_str(r, 0, 0));
	rc = job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
out:
	PQclear(r);
	free(blob);
	return rc;
}

int profile_list_run(struct db_conn *c, struct db_job *job)
{
	int64_t programme = job_int(job, "programme_id", 0);
	struct params p = {0};
	PGresult *r;
	json_t *list;
	char role[8];
	int err, more;

	if ((err = profile_role(c, job, programme, role)))
		return err;
	params_int(&p, programme);
	params_int(&p, job->user_id);
	params_text(&p, strcmp(role, "manager") ? "false" : "true");
	params_int(&p, job_int(job, "after", 0));
	params_int(&p, EM_PROFILE_PAGE_MAX + 1); /* one more: is there a next page? */
	if (!(r = store_exec(c, &st_list, &p, &err, NULL)))
		return store_fail(c, job, err);
	more = PQntuples(r) > EM_PROFILE_PAGE_MAX;
	list = json_array();
	for (int row = 0; list && row < PQntuples(r) && row < EM_PROFILE_PAGE_MAX; row++)
		json_array_append_new(
		    list, json_pack("{s:I, s:s, s:s, s:I, s:I, s:o, s:s}", "user_id",
		                    (json_int_t)store_int(r, row, 0), "username",
		                    store_str(r, row, 1), "role", store_str(r, row, 2),
		                    "form_version", (json_int_t)store_int(r, row, 3), "written_ms",
		                    (json_int_t)store_int(r, row, 4), "blob",
		                    model_bytea_b64(r, row, 5, EM_PROFILE_BLOB_MAX), "updated_at",
		                    store_str(r, row, 6)));
	PQclear(r);
	job->result = list ? json_pack("{s:I, s:o, s:b}", "programme_id", (json_int_t)programme,
	                               "profiles", list, "more", more)
	                   : NULL;
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}
