/*
 * handle_mail.c - e-mail on the DB side (docs/PROTOCOL.md section 12):
 * mail.show, mail.set and mail.verify (a person's address, language and
 * kinds), invite.list, invite.resend and invite.revoke (a manager's
 * invites and their states), the e-mail of invite.create, the scheduler's
 * unread digest, and /unsubscribe/TOKEN (a GET shows a button, the POST of RFC 8058
 * unsubscribes). Each only writes rows: the
 * outbox is sent by the mailer thread (mailer.c), so no op waits on SMTP.
 * Notices become e-mails in SQL (schema/015_mail.sql, mail_from_notice()),
 * in the transaction that makes the notice. DB worker threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "handlers.h"
#include "log.h"
#include "mail_text.h"
#include "mailer.h"
#include "server.h"
#include "store.h"

#define VERIFY_TRIES_MAX 5

static const struct stmt st_mail_show = {
    "mail_show", "SELECT address, verified_at IS NOT NULL, lang, array_to_string(kinds, ',') "
                 "FROM mail_settings WHERE user_id = $1"};

/* Creates the row if needed and locks it; returns the current address. */
static const struct stmt st_mail_lock = {
    "mail_lock",
    "WITH ins AS (INSERT INTO mail_settings (user_id) VALUES ($1) ON CONFLICT DO NOTHING) "
    "SELECT address, verified_at IS NOT NULL FROM mail_settings WHERE user_id = $1 FOR UPDATE"};

static const struct stmt st_mail_prefs = {
    "mail_prefs",
    "UPDATE mail_settings SET lang = COALESCE($2::text, lang), kinds = CASE WHEN $3::text IS "
    "NULL THEN kinds WHEN $3 = '' THEN '{}' ELSE string_to_array($3, ',') END, "
    "updated_at = now() WHERE user_id = $1"};

/* A new address (or none): unverified, and nothing still waiting goes to the old one. */
static const struct stmt st_mail_address = {
    "mail_address",
    "WITH d AS (DELETE FROM mail_outbox WHERE user_id = $1 AND state = 'pending') "
    "UPDATE mail_settings SET address = NULLIF($2, ''), verified_at = NULL, verify_hash = $3, "
    "verify_tries = 0, updated_at = now() WHERE user_id = $1"};

static const struct stmt st_mail_verify_enqueue = {
    "mail_verify_enqueue",
    "INSERT INTO mail_outbox (user_id, address, kind, lang, params) SELECT user_id, address, "
    "'verify', lang, jsonb_build_object('code', $2::text) FROM mail_settings "
    "WHERE user_id = $1 AND address IS NOT NULL"};

static const struct stmt st_mail_verify = {
    "mail_verify",
    "UPDATE mail_settings SET verify_tries = verify_tries + 1, verified_at = CASE WHEN "
    "verify_hash = $2 AND verify_tries < $3 THEN now() ELSE verified_at END, verify_hash = "
    "CASE WHEN verify_hash = $2 AND verify_tries < $3 THEN NULL ELSE verify_hash END "
    "WHERE user_id = $1 AND address IS NOT NULL AND verified_at IS NULL "
    "RETURNING verified_at IS NOT NULL, verify_tries"};

/* ---- mail.show / mail.set / mail.verify -------------------------------------------- */

static int mail_show_result(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_mail_show, &p, &err, NULL)))
		return err;
	if (PQntuples(r) == 1)
		job->result = json_pack("{s:s?, s:b, s:s, s:s, s:b}", "address", store_str(r, 0, 0),
		                        "verified", store_bool(r, 0, 1), "lang", store_str(r, 0, 2),
		                        "kinds", store_str(r, 0, 3), "mail_on", mailer_enabled());
	else
		job->result = json_pack("{s:n, s:b, s:s, s:s, s:b}", "address", "verified", 0,
		                        "lang", "en", "kinds", "meeting,agreement,diary,digest",
		                        "mail_on", mailer_enabled());
	PQclear(r);
	return job->result ? EM_OK : EM_ERR_NOMEM;
}

int mail_show_run(struct db_conn *c, struct db_job *job)
{
	int err = mail_show_result(c, job);

	return err ? db_job_fail(job, err, NULL) : EM_OK;
}

int mail_set_run(struct db_conn *c, struct db_job *job)
{
	const char *address = job_str(job, "address"), *old;
	struct params p = {0};
	unsigned char hash[32];
	char code[12];
	PGresult *r;
	int err, changed;

	if (address && *address && !mail_address_ok(address))
		return db_job_fail(
		    job, EM_ERR_BAD_VALUE,
		    "args.address: not an address ementor sends to (name@domain.tld)");
	if (address && *address && !mailer_enabled())
		return db_job_fail(job, EM_ERR_BAD_STATE, "e-mail is off on this server");
	if ((err = store_begin(c)))
		return store_fail(c, job, err);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_mail_lock, &p, &err, NULL)))
		return store_fail(c, job, err);
	old = PQntuples(r) == 1 ? store_str(r, 0, 0) : NULL;
	/* the same address again, not yet verified: a new code */
	changed = address && (!old || strcmp(old, address) || !store_bool(r, 0, 1));
	if (address && !*address && !old)
		changed = 0;
	PQclear(r);
	p.n = 0;
	params_int(&p, job->user_id);
	params_text(&p, job_str(job, "lang"));
	params_text(&p, job_str(job, "kinds"));
	if ((err = store_run(c, &st_mail_prefs, &p)))
		return store_fail(c, job, err);
	if (changed) {
		/* 8 digits, 10^8: five tries per code (VERIFY_TRIES_MAX) */
		snprintf(code, sizeof(code), "%08u", randombytes_uniform(100000000u));
		store_hash(code, strlen(code), hash);
		p.n = 0;
		params_int(&p, job->user_id);
		params_text(&p, address);
		if (*address)
			params_bin(&p, hash, sizeof(hash));
		else
			params_text(&p, NULL);
		if ((err = store_run(c, &st_mail_address, &p)))
			goto fail;
		if (*address) {
			p.n = 0;
			params_int(&p, job->user_id);
			params_text(&p, code);
			if ((err = store_run(c, &st_mail_verify_enqueue, &p)))
				goto fail;
		}
		sodium_memzero(code, sizeof(code));
	}
	if ((err = mail_show_result(c, job)) || (err = store_commit(c)))
		return store_fail(c, job, err);
	if (changed)
		log_info("mail address %s user=%lld", *address ? "set" : "removed",
		         (long long)job->user_id);
	return EM_OK;
fail:
	sodium_memzero(code, sizeof(code));
	return store_fail(c, job, err);
}

int mail_verify_run(struct db_conn *c, struct db_job *job)
{
	const char *code = job_str(job, "code");
	unsigned char hash[32];
	struct params p = {0};
	PGresult *r;
	int err, ok, tries;

	store_hash(code, strlen(code), hash);
	params_int(&p, job->user_id);
	params_bin(&p, hash, sizeof(hash));
	params_int(&p, VERIFY_TRIES_MAX);
	if (!(r = store_exec(c, &st_mail_verify, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	if (PQntuples(r) != 1) {
		PQclear(r);
		return db_job_fail(job, EM_ERR_BAD_STATE, "no address of yours waits for a code");
	}
	ok = store_bool(r, 0, 0);
	tries = (int)store_int(r, 0, 1);
	PQclear(r);
	if (!ok)
		return db_job_fail(
		    job, EM_ERR_BAD_VALUE,
		    tries >= VERIFY_TRIES_MAX
		        ? "wrong code; too many tries: set the address again for a new "
		          "code"
		        : "wrong code");
	return mail_show_run(c, job);
}

/* ---- invites ----------------------------------------------------------------------- */

static const struct stmt st_invite_mail = {
    "invite_mail",
    "WITH i AS (UPDATE invites SET email = $2, lang = $3 WHERE id = $1 RETURNING *) "
    "INSERT INTO mail_outbox (invite_id, address, kind, lang, params) SELECT i.id, i.email, "
    "'invite', i.lang, jsonb_build_object('code', $4::text, 'role', i.role, 'expires_at', "
    "utc_text(i.expires_at)) FROM i"};

int mail_invite_enqueue(struct db_conn *c, int64_t invite_id, const char *email, const char *lang,
                        const char *code)
{
	struct params p = {0};

	params_int(&p, invite_id);
	params_text(&p, email);
	params_text(&p, lang ? lang : "en");
	params_text(&p, code);
	return store_run(c, &st_invite_mail, &p);
}

int mail_invite_check(const char *email)
{
	if (!mail_address_ok(email))
		return EM_ERR_BAD_VALUE;
	return mailer_enabled() ? EM_OK : EM_ERR_BAD_STATE;
}

/* The programme's manager? The shared first step of the invite ops. */
static const struct stmt st_invite_manager = {
    "invite_manager", "SELECT 1 FROM programme_people WHERE programme_id = $1 AND user_id = $2 "
                      "AND role = 'manager'"};

static int invite_managed(struct db_conn *c, int64_t programme_id, int64_t user, int *err)
{
	struct params p = {0};
	PGresult *r;
	int yes;

	params_int(&p, programme_id);
	params_int(&p, user);
	if (!(r = store_exec(c, &st_invite_manager, &p, err, NULL)))
		return -1;
	yes = PQntuples(r) == 1;
	PQclear(r);
	if (!yes)
		*err = EM_ERR_NOT_FOUND;
	return yes ? 0 : -1;
}

static const struct stmt st_invite_list = {
    "invite_list",
    "SELECT COALESCE(jsonb_agg(jsonb_build_object('invite_id', i.id, 'role', i.role, "
    "'email', i.email, 'lang', i.lang, 'name', i.name, 'label', i.label, "
    "'state', invite_state(i), 'created_at', "
    "utc_text(i.created_at), 'expires_at', utc_text(i.expires_at), 'used_at', "
    "utc_text(i.used_at), 'username', u.username, 'mailed_at', (SELECT utc_text(max(o.sent_at)) "
    "FROM mail_outbox o WHERE o.invite_id = i.id), 'mail_attempts', (SELECT "
    "COALESCE(sum(o.attempts), 0) FROM mail_outbox o WHERE o.invite_id = i.id)) ORDER BY i.id), "
    "'[]')::text FROM invites i LEFT JOIN users u ON u.id = i.used_by "
    "WHERE i.programme_id = $1"};

int invite_list_run(struct db_conn *c, struct db_job *job)
{
	int64_t programme_id = job_int(job, "programme_id", 0);
	struct params p = {0};
	PGresult *r;
	int err;

	if (invite_managed(c, programme_id, job->user_id, &err))
		return db_job_fail(
		    job, err, err == EM_ERR_NOT_FOUND ? "no programme %lld that you manage" : NULL,
		    (long long)programme_id);
	params_int(&p, programme_id);
	if (!(r = store_exec(c, &st_invite_list, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	job->result = json_pack("{so}", "invites", json_loads(store_str(r, 0, 0), 0, NULL));
	PQclear(r);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

static const struct stmt st_invite_lock = {
    "invite_lock", "SELECT programme_id, used_at IS NOT NULL, revoked_at IS NOT NULL, "
                   "expires_at <= now(), email, COALESCE(lang, 'en') FROM invites WHERE id = $1 "
                   "FOR UPDATE"};

static const struct stmt st_invite_recode = {"invite_recode",
                                             "UPDATE invites SET code_hash = $2 WHERE id = $1"};

static const struct stmt st_invite_revoke = {
    "invite_revoke", "WITH d AS (DELETE FROM mail_outbox WHERE invite_id = $1 AND state = "
                     "'pending') UPDATE invites SET revoked_at = now() WHERE id = $1"};

/* Locks the invite; 0 if the caller manages its programme and it is still open. */
static int invite_open(struct db_conn *c, struct db_job *job, char email[256], char lang[4])
{
	struct params p = {0};
	PGresult *r;
	int err, used, revoked, expired;
	int64_t programme_id;

	params_int(&p, job_int(job, "invite_id", 0));
	if (!(r = store_exec(c, &st_invite_lock, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) != 1 || !(programme_id = store_int(r, 0, 0))) {
		PQclear(r);
		return store_fail_msg(c, job, EM_ERR_NOT_FOUND, "no such invite of yours");
	}
	used = store_bool(r, 0, 1);
	revoked = store_bool(r, 0, 2);
	expired = store_bool(r, 0, 3);
	snprintf(email, 256, "%s", store_str(r, 0, 4) ? store_str(r, 0, 4) : "");
	snprintf(lang, 4, "%s", store_str(r, 0, 5));
	PQclear(r);
	if (invite_managed(c, programme_id, job->user_id, &err))
		return store_fail_msg(c, job, err,
		                      err == EM_ERR_NOT_FOUND ? "no such invite of yours" : NULL);
	if (used || revoked || expired)
		return store_fail_msg(c, job, EM_ERR_BAD_STATE,
		                      used      ? "the invite was used"
		                      : revoked ? "the invite was revoked"
		                                : "the invite expired");
	return EM_OK;
}

int invite_resend_run(struct db_conn *c, struct db_job *job)
{
	int64_t id = job_int(job, "invite_id", 0);
	char email[256], lang[4], code[48];
	unsigned char hash[32];
	struct params p = {0};
	int err;

	if ((err = store_begin(c)))
		return store_fail(c, job, err);
	if ((err = invite_open(c, job, email, lang)))
		return err;
	if (!email[0])
		return store_fail_msg(c, job, EM_ERR_BAD_STATE,
		                      "the invite has no e-mail address to send it to");
	if ((err = mail_invite_check(email)))
		return store_fail_msg(c, job, err, "e-mail is off on this server");
	/* a new code: the link of the earlier e-mail stops working */
	store_random_token(code, 15);
	store_hash(code, strlen(code), hash);
	params_int(&p, id);
	params_bin(&p, hash, sizeof(hash));
	if ((err = store_run(c, &st_invite_recode, &p)) ||
	    (err = mail_invite_enqueue(c, id, email, lang, code)) || (err = store_commit(c))) {
		sodium_memzero(code, sizeof(code));
		return store_fail(c, job, err);
	}
	job->result = json_pack("{sIss}", "invite_id", (json_int_t)id, "code", code);
	sodium_memzero(code, sizeof(code));
	log_info("invite resent id=%lld by=%lld", (long long)id, (long long)job->user_id);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int invite_revoke_run(struct db_conn *c, struct db_job *job)
{
	int64_t id = job_int(job, "invite_id", 0);
	char email[256], lang[4];
	struct params p = {0};
	int err;

	if ((err = store_begin(c)))
		return store_fail(c, job, err);
	if ((err = invite_open(c, job, email, lang)))
		return err;
	params_int(&p, id);
	if ((err = store_run(c, &st_invite_revoke, &p)) || (err = store_commit(c)))
		return store_fail(c, job, err);
	job->result = json_pack("{sIss}", "invite_id", (json_int_t)id, "state", "revoked");
	log_info("invite revoked id=%lld by=%lld", (long long)id, (long long)job->user_id);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

/* ---- invite.import: a manager's list ------------------------------------------------ */

/* The latest invite of that address to the programme, not revoked, and the people in it with it. */
static const struct stmt st_import_seen = {
    "import_seen",
    "SELECT CASE WHEN EXISTS (SELECT 1 FROM programme_people pp JOIN mail_settings s ON "
    "s.user_id = pp.user_id WHERE pp.programme_id = $1 AND lower(s.address) = lower($2)) "
    "THEN 'already_registered' ELSE (SELECT CASE WHEN i.used_at IS NOT NULL THEN "
    "'already_registered' WHEN i.expires_at > now() THEN 'already_invited' END FROM invites i "
    "WHERE i.programme_id = $1 AND lower(i.email) = lower($2) AND i.revoked_at IS NULL "
    "ORDER BY i.id DESC LIMIT 1) END, (SELECT i.id FROM invites i WHERE i.programme_id = $1 "
    "AND lower(i.email) = lower($2) AND i.revoked_at IS NULL ORDER BY i.id DESC LIMIT 1)"};

static const struct stmt st_import_who = {
    "import_who", "UPDATE invites SET name = NULLIF($2, ''), label = NULLIF($3, '') WHERE id = $1"};

static const struct stmt st_invite_by_hash = {"import_invite_id",
                                              "SELECT id FROM invites WHERE code_hash = $1"};

/* A label of the list (schema/019: rooms from labels): recorded once, its room made if it can be.
 */
static const struct stmt st_label_keep = {
    "import_label_keep", "INSERT INTO import_rooms (programme_id, label, created_by) "
                         "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"};
static const struct stmt st_label_try = {"import_label_try", "SELECT import_room_try($1, $2)"};
static const struct stmt st_label_state = {
    "import_label_state",
    "SELECT s.mentors, s.mentees, s.registered, s.kind, s.problem, ir.room_id "
    "FROM import_label_state($1, $2) s LEFT JOIN import_rooms ir "
    "ON ir.programme_id = $1 AND ir.label = $2"};

/*
 * The labels of the rows just imported, each once: recorded, its room made
 * when everyone of it has registered, and reported (created now, exists,
 * waiting for registrations, or invalid and why). EM_OK with *out, or an
 * em_err (the transaction is the caller's).
 */
static int import_labels(struct db_conn *c, struct db_job *job, int64_t programme_id, json_t *rows,
                         json_t *results, json_t **out)
{
	json_t *seen = json_object(), *row;
	struct params p = {0};
	size_t i;
	int err = EM_OK;

	*out = json_array();
	if (!seen || !*out) {
		err = EM_ERR_NOMEM;
		goto out;
	}
	json_array_foreach(rows, i, row)
	{
		const char *label = json_string_value(json_object_get(row, "label"));
		const char *status =
		    json_string_value(json_object_get(json_array_get(results, i), "status"));
		int64_t made = 0;
		json_t *rep;
		PGresult *r;

		if (!label || !*label || !status || !strcmp(status, "invalid") ||
		    json_object_get(seen, label))
			continue;
		json_object_set_new(seen, label, json_true());
		params_int(&p, programme_id);
		params_text(&p, label);
		params_int(&p, job->user_id);
		if ((err = store_run(c, &st_label_keep, &p)))
			goto out;
		p.n = 2;
		if (!(r = store_exec(c, &st_label_try, &p, &err, NULL)))
			goto out;
		made = store_int(r, 0, 0);
		PQclear(r);
		if (!(r = store_exec(c, &st_label_state, &p, &err, NULL)))
			goto out;
		rep = json_pack("{ss, si, si, si}", "label", label, "mentors",
		                (int)store_int(r, 0, 0), "mentees", (int)store_int(r, 0, 1),
		                "registered", (int)store_int(r, 0, 2));
		if (rep && store_str(r, 0, 3))
			json_object_set_new(rep, "kind", json_string(store_str(r, 0, 3)));
		if (rep && store_str(r, 0, 5))
			json_object_set_new(rep, "room_id", json_integer(store_int(r, 0, 5)));
		if (rep)
			json_object_set_new(rep, "status",
			                    json_string(made                 ? "created"
			                                : store_str(r, 0, 5) ? "exists"
			                                : store_str(r, 0, 4) ? "invalid"
			                                                     : "waiting"));
		if (rep && !made && !store_str(r, 0, 5) && store_str(r, 0, 4))
			json_object_set_new(rep, "reason", json_string(store_str(r, 0, 4)));
		PQclear(r);
		p.n = 0;
		if (!rep || json_array_append_new(*out, rep)) {
			err = EM_ERR_NOMEM;
			goto out;
		}
	}
out:
	json_decref(seen);
	if (err) {
		json_decref(*out);
		*out = NULL;
	}
	return err;
}

/* What is wrong with a row, or NULL. */
static const char *import_row_problem(const char *email, const char *role, const char *lang)
{
	if (!mail_address_ok(email))
		return "not an e-mail address ementor sends to";
	if (strcmp(role, "mentor") && strcmp(role, "mentee") && strcmp(role, "manager"))
		return "the role must be mentor, mentee or manager";
	if (*lang && strcmp(lang, "en") && strcmp(lang, "pl"))
		return "the language must be en or pl";
	return NULL;
}

/* Creates one row's invite and its e-mail; EM_OK with *invite_id, or an em_err. */
static int import_row_invite(struct db_conn *c, struct db_job *job, int64_t programme_id,
                             json_t *row, int64_t *invite_id)
{
	const char *lang = json_string_value(json_object_get(row, "lang"));
	char code[32], expires_at[40];
	unsigned char hash[32];
	struct params p = {0};
	PGresult *r;
	int err;

	if (store_create_invite(c->pg, json_string_value(json_object_get(row, "role")),
	                        programme_id, job->user_id, 14, 0, code, expires_at))
		return PQstatus(c->pg) == CONNECTION_OK ? EM_ERR_INTERNAL : EM_ERR_DB_UNAVAILABLE;
	store_hash(code, strlen(code), hash);
	params_bin(&p, hash, sizeof(hash));
	if (!(r = store_exec(c, &st_invite_by_hash, &p, &err, NULL)))
		goto out;
	*invite_id = PQntuples(r) == 1 ? store_int(r, 0, 0) : 0;
	PQclear(r);
	p.n = 0;
	params_int(&p, *invite_id);
	params_text(&p, json_string_value(json_object_get(row, "name")));
	params_text(&p, json_string_value(json_object_get(row, "label")));
	if ((err = store_run(c, &st_import_who, &p)))
		goto out;
	err = mail_invite_enqueue(c, *invite_id, json_string_value(json_object_get(row, "email")),
	                          lang && *lang ? lang : "en", code);
out:
	sodium_memzero(code, sizeof(code));
	return err;
}

int invite_import_run(struct db_conn *c, struct db_job *job)
{
	int64_t programme_id = job_int(job, "programme_id", 0);
	json_t *rows = json_object_get(job->args, "rows"), *row, *out = NULL, *labels = NULL;
	int n_invited = 0, n_seen = 0, n_invalid = 0, err;
	struct params p = {0};
	size_t i;

	if (invite_managed(c, programme_id, job->user_id, &err))
		return db_job_fail(
		    job, err, err == EM_ERR_NOT_FOUND ? "no programme %lld that you manage" : NULL,
		    (long long)programme_id);
	if (!mailer_enabled())
		return db_job_fail(job, EM_ERR_BAD_STATE, "e-mail is off on this server");
	if ((err = store_begin(c)))
		return store_fail(c, job, err);
	if (!(out = json_array()))
		return store_fail(c, job, EM_ERR_NOMEM);
	json_array_foreach(rows, i, row)
	{
		const char *email = json_string_value(json_object_get(row, "email"));
		const char *role = json_string_value(json_object_get(row, "role"));
		const char *lang = json_string_value(json_object_get(row, "lang"));
		const char *problem = import_row_problem(email, role, lang ? lang : "");
		json_t *res = json_pack("{sI}", "row", (json_int_t)i + 1);
		int64_t invite_id = 0;
		PGresult *r;

		if (!res)
			goto nomem;
		json_array_append_new(out, res);
		if (problem) {
			json_object_set_new(res, "status", json_string("invalid"));
			json_object_set_new(res, "reason", json_string(problem));
			n_invalid++;
			continue;
		}
		p.n = 0;
		params_int(&p, programme_id);
		params_text(&p, email);
		if (!(r = store_exec(c, &st_import_seen, &p, &err, NULL)))
			goto fail;
		if (store_str(r, 0, 0)) {
			json_object_set_new(res, "status", json_string(store_str(r, 0, 0)));
			if (store_str(r, 0, 1))
				json_object_set_new(res, "invite_id",
				                    json_integer(store_int(r, 0, 1)));
			PQclear(r);
			n_seen++;
			continue;
		}
		PQclear(r);
		if ((err = import_row_invite(c, job, programme_id, row, &invite_id)))
			goto fail;
		json_object_set_new(res, "status", json_string("invited"));
		json_object_set_new(res, "invite_id", json_integer(invite_id));
		n_invited++;
	}
	if ((err = import_labels(c, job, programme_id, rows, out, &labels)) ||
	    (err = store_commit(c)))
		goto fail;
	job->result = json_pack("{sososisisi}", "rows", out, "labels", labels, "invited", n_invited,
	                        "unchanged", n_seen, "invalid", n_invalid);
	log_info("invite import programme=%lld invited=%d unchanged=%d invalid=%d by=%lld",
	         (long long)programme_id, n_invited, n_seen, n_invalid, (long long)job->user_id);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
nomem:
	err = EM_ERR_NOMEM;
fail:
	json_decref(out);
	json_decref(labels);
	return store_fail(c, job, err);
}

/* ---- the unread digest (the scheduler) --------------------------------------------- */

/*
 * One digest per person and room per interval ($1 seconds), only when the
 * person has unread messages from others that came after their last digest
 * of the room, and has been away from the room for the interval: no read
 * receipt there (or, without one, no membership) newer than it. The count
 * is the only thing said about the messages.
 */
static const struct stmt st_digest = {
    "mail_digest",
    "WITH due AS (SELECT s.user_id, s.address, s.lang, m.room_id, r.last_seq, "
    "(SELECT count(*) FROM messages msg WHERE msg.room_id = m.room_id AND msg.seq > "
    "COALESCE(rc.read_seq, 0) AND msg.sender_id <> s.user_id) AS unread "
    "FROM mail_settings s JOIN room_members m ON m.user_id = s.user_id AND m.removed_at IS NULL "
    "JOIN rooms r ON r.id = m.room_id AND NOT r.closed "
    "LEFT JOIN receipts rc ON rc.room_id = m.room_id AND rc.user_id = s.user_id "
    "LEFT JOIN mail_digests d ON d.user_id = s.user_id AND d.room_id = m.room_id "
    "WHERE s.address IS NOT NULL AND s.verified_at IS NOT NULL AND 'digest' = ANY (s.kinds) "
    "AND r.last_seq > GREATEST(COALESCE(rc.read_seq, 0), COALESCE(d.upto_seq, 0)) "
    "AND COALESCE(rc.updated_at, m.added_at) <= now() - make_interval(secs => $1) "
    "AND (d.sent_at IS NULL OR d.sent_at <= now() - make_interval(secs => $1)) "
    "ORDER BY s.user_id, m.room_id LIMIT 1000 FOR UPDATE OF s SKIP LOCKED), "
    "marks AS (INSERT INTO mail_digests (user_id, room_id, upto_seq, sent_at) "
    "SELECT user_id, room_id, last_seq, now() FROM due WHERE unread > 0 "
    "ON CONFLICT (user_id, room_id) DO UPDATE SET upto_seq = EXCLUDED.upto_seq, "
    "sent_at = EXCLUDED.sent_at) "
    "INSERT INTO mail_outbox (user_id, address, kind, lang, params) SELECT user_id, address, "
    "'digest', lang, jsonb_build_object('room_id', room_id, 'unread', unread) FROM due "
    "WHERE unread > 0"};

int mail_digest_args(json_t **args)
{
	if (!mailer_enabled() || server.cfg.mail_digest_s <= 0)
		return 0;
	*args = json_pack("{si}", "interval", server.cfg.mail_digest_s);
	return *args ? 1 : -1;
}

int mail_digest_run(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, job_int(job, "interval", 3600));
	if (!(r = store_exec(c, &st_digest, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	if (atoi(PQcmdTuples(r)) > 0)
		log_info("mail digests queued=%s", PQcmdTuples(r));
	PQclear(r);
	return EM_OK;
}

/* ---- /unsubscribe/TOKEN (RFC 8058) ------------------------------------------------ */

/* GET: only whose token it is, for the page's language; nothing changes. */
static const struct stmt st_unsubscribe_look = {
    "mail_unsubscribe_look", "SELECT lang FROM mail_settings WHERE unsub_token = $1"};

/*
 * The page a GET shows: a button that POSTs back to the same URL (what a
 * mail client's one-click does), so a link scanner that follows the link
 * unsubscribes nobody. No script, no style: the page's CSP (http.c) allows
 * nothing but posting this form to the server itself.
 */
static const char unsub_page_en[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width\"><title>ementor: stop e-mail</title>"
    "</head><body><h1>Stop all e-mail from ementor?</h1>"
    "<p>ementor will send you no more e-mail about your mentoring. You can turn it on again "
    "with <code>ementor notify settings</code>.</p>"
    "<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" "
    "value=\"One-Click\"><button type=\"submit\">Stop all e-mail</button></form>"
    "</body></html>\n";
static const char unsub_page_pl[] =
    "<!doctype html>\n<html lang=\"pl\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width\"><title>ementor: wypisz mnie"
    "</title></head><body><h1>Wyłączyć wszystkie wiadomości e-mail z ementor?</h1>"
    "<p>ementor nie wyśle Ci już żadnych wiadomości e-mail o Twoim mentoringu. Możesz je znów "
    "włączyć poleceniem <code>ementor notify settings</code>.</p>"
    "<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" "
    "value=\"One-Click\"><button type=\"submit\">Wyłącz wszystkie wiadomości</button>"
    "</form></body></html>\n";

static const struct stmt st_unsubscribe = {
    "mail_unsubscribe",
    "WITH s AS (UPDATE mail_settings SET kinds = '{}', updated_at = now() WHERE unsub_token = $1 "
    "RETURNING user_id, lang) , d AS (DELETE FROM mail_outbox o USING s WHERE o.user_id = "
    "s.user_id AND o.state = 'pending' AND o.kind <> 'verify') SELECT lang FROM s"};

int mail_unsubscribe_run(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	PGresult *r;
	int err, pl, post;

	params_text(&p, job_str(job, "token"));
	post = job_int(job, "post", 0);
	if (!(r = store_exec(c, post ? &st_unsubscribe : &st_unsubscribe_look, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	if (PQntuples(r) != 1) {
		PQclear(r);
		return db_job_fail(job, EM_ERR_NOT_FOUND, NULL);
	}
	pl = !strcmp(store_str(r, 0, 0), "pl");
	PQclear(r);
	if (!post) {
		job->extra = json_string(pl ? unsub_page_pl : unsub_page_en);
		return job->extra ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
	}
	log_info("mail unsubscribed");
	job->extra =
	    json_string(pl ? "Wypisano Cię: ementor nie wyśle Ci już żadnych wiadomości e-mail.\n"
	                     "Aby je znów włączyć: ementor notify settings --kinds "
	                     "meeting,agreement,diary,digest\n"
	                   : "You are unsubscribed: ementor will send you no more e-mail.\n"
	                     "To turn it on again: ementor notify settings --kinds "
	                     "meeting,agreement,diary,digest\n");
	return job->extra ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}
