/*
 * handle_programme.c - programmes and invitations: programme.create, .list,
 * .show, .settings, invite.create, invite.accept, and the invite helpers
 * registration uses. A programme is visible only to the people in it (programme_people);
 * anyone else gets not_found, never a hint that it exists.
 */
#include <stdio.h>
#include <string.h>

#include "em_crypto.h"
#include "handlers.h"
#include "log.h"
#include "model.h"
#include "server.h"
#include "store.h"

#define INVITE_TTL_DAYS_DEFAULT 14

static const struct stmt st_programme_insert = {
    "programme_insert",
    "WITH p AS (INSERT INTO programmes (name, starts_on, ends_on, max_group_mentees, "
    "created_by, agreement_required, retention_days) VALUES ($1, $2::date, $3::date, $4, $5, "
    "$6::boolean, $7) RETURNING *), "
    "m AS (INSERT INTO programme_people (programme_id, user_id, role) "
    "SELECT id, $5, 'manager' FROM p) "
    "SELECT " PROGRAMME_COLS " FROM p"};

static const struct stmt st_programmes_of_user = {
    "programme_of_user",
    "SELECT " PROGRAMME_COLS ", pp.role FROM programmes p "
    "JOIN programme_people pp ON pp.programme_id = p.id WHERE pp.user_id = $1 ORDER BY p.id"};

static const struct stmt st_programme_visible = {
    "programme_visible",
    "SELECT " PROGRAMME_COLS ", me.role FROM programmes p "
    "JOIN programme_people me ON me.programme_id = p.id AND me.user_id = $2 WHERE p.id = $1"};

/*
 * The people of a programme that $2 may see: a manager sees everyone; anyone
 * else the managers, themselves, and the people they share (or shared) a room
 * with in it, and no one else (the course: a mentor does not disclose a
 * mentee's identity, so neither does the programme).
 */
static const struct stmt st_programme_people = {
    "programme_people",
    "SELECT " USER_COLS ", pp.role FROM programme_people pp JOIN users u ON u.id = pp.user_id "
    "WHERE pp.programme_id = $1 AND (pp.role = 'manager' OR pp.user_id = $2 OR $3::boolean "
    "OR EXISTS (SELECT 1 FROM room_members a JOIN rooms r ON r.id = a.room_id "
    "AND r.programme_id = $1 JOIN room_members b ON b.room_id = a.room_id "
    "AND b.user_id = pp.user_id WHERE a.user_id = $2)) "
    "ORDER BY array_position(ARRAY['manager', 'mentor', 'mentee'], pp.role), u.username"};

/* The programme, locked, if the caller created it and still manages it, and whether it has rooms.
 */
static const struct stmt st_programme_own = {
    "programme_own",
    "SELECT p.agreement_required, EXISTS (SELECT 1 FROM rooms WHERE programme_id = p.id), "
    "u.sign_pk FROM programmes p JOIN users u ON u.id = p.created_by "
    "JOIN programme_people pp ON pp.programme_id = p.id AND pp.user_id = p.created_by "
    "AND pp.role = 'manager' WHERE p.id = $1 AND p.created_by = $2 FOR UPDATE OF p"};

static const struct stmt st_programme_settings = {
    "programme_settings",
    "WITH p AS (UPDATE programmes SET agreement_required = $2::boolean, settings_sig = $3 "
    "WHERE id = $1 RETURNING *) SELECT " PROGRAMME_COLS " FROM p"};

static const struct stmt st_invite_take = {
    "invite_take", "SELECT id, role, programme_id FROM invites "
                   "WHERE code_hash = $1 AND used_at IS NULL AND revoked_at IS NULL "
                   "AND expires_at > now() FOR UPDATE"};

static const struct stmt st_invite_use = {
    "invite_use", "UPDATE invites SET used_at = now(), used_by = $2 WHERE id = $1"};

static const struct stmt st_programme_role = {
    "programme_role", "SELECT role FROM programme_people WHERE programme_id = $1 AND user_id = $2"};
/* an e-mailed invite's address becomes the person's, verified (schema/015_mail.sql) */
static const struct stmt st_invite_mail_used = {"invite_mail_used",
                                                "SELECT mail_invite_used($1, $2)"};

static const struct stmt st_invite_id = {"invite_id",
                                         "SELECT id FROM invites WHERE code_hash = $1"};

static const struct stmt st_programme_join = {
    "programme_join",
    "INSERT INTO programme_people (programme_id, user_id, role) VALUES ($1, $2, $3) "
    "ON CONFLICT DO NOTHING"};

/*
 * Pure (dispatch calls it on the service thread, before the job is queued):
 * dates are validated YYYY-MM-DD, so text order is date order.
 */
int programme_create_check(const struct session *s, struct db_job *job)
{
	(void)s;
	if (strcmp(job_str(job, "ends_on"), job_str(job, "starts_on")) <= 0)
		return db_job_fail(job, EM_ERR_BAD_DATES, "ends_on must be after starts_on");
	if (json_is_false(json_object_get(job->args, "agreement_required")))
		return db_job_fail(job, EM_ERR_BAD_VALUE,
		                   "a programme without agreements must be signed by its manager: "
		                   "create it, then send programme.settings with your signature");
	return EM_OK;
}

int programme_create_run(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_text(&p, job_str(job, "name"));
	params_text(&p, job_str(job, "starts_on"));
	params_text(&p, job_str(job, "ends_on"));
	params_int(&p, job_int(job, "max_group_mentees", EM_GROUP_MENTEES_MAX));
	params_int(&p, job->user_id);
	params_text(&p, "true"); /* false only through programme.settings, signed */
	params_int(&p, job_int(job, "retention_days", 365));
	r = store_exec(c, &st_programme_insert, &p, &err, NULL);
	if (!r)
		return store_fail(c, job, err);
	job->result = json_pack("{so}", "programme", model_programme(r, 0, 0));
	log_info("programme created id=%lld by=%lld", (long long)store_int(r, 0, 0),
	         (long long)job->user_id);
	PQclear(r);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

/*
 * programme.settings: the creator signs whether the programme requires
 * agreements (PROTOCOL.md 7.3). Changing the setting is possible only while
 * the programme has no room; signing the setting it already has, always.
 */
/*
 * Commits and answers {"programme": ...} from the one row of r (freed here).
 * r NULL: the statement failed with err, and the transaction is rolled back.
 */
static int programme_commit(struct db_conn *c, struct db_job *job, PGresult *r, int err)
{
	if (!r)
		return store_fail(c, job, err);
	if ((err = store_commit(c))) {
		PQclear(r);
		return store_fail(c, job, err);
	}
	job->result = json_pack("{so}", "programme", model_programme(r, 0, 0));
	PQclear(r);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int programme_settings_run(struct db_conn *c, struct db_job *job)
{
	int64_t id = job_int(job, "programme_id", 0);
	int required = json_is_true(json_object_get(job->args, "agreement_required"));
	unsigned char sig[EM_SIG_BYTES], sign_pk[EM_SIGN_PK_BYTES];
	struct params p = {0};
	PGresult *r;
	int err, bad;

	job_bin(job, "signature", sig, sizeof(sig));
	if ((err = store_begin(c)))
		return store_fail(c, job, err);
	params_int(&p, id);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_programme_own, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) != 1) {
		int manages;

		PQclear(r);
		/* another manager of it may see it: forbidden; anyone else: not_found */
		if (!(r = store_exec(c, &st_programme_visible, &p, &err, NULL)))
			return store_fail(c, job, err);
		manages = PQntuples(r) == 1 && !strcmp(store_str(r, 0, PROGRAMME_NCOLS), "manager");
		PQclear(r);
		store_rollback(c);
		return manages
		           ? db_job_fail(job, EM_ERR_FORBIDDEN,
		                         "only the manager who created programme %lld signs its "
		                         "settings",
		                         (long long)id)
		           : db_job_fail(job, EM_ERR_NOT_FOUND, "no programme %lld that you manage",
		                         (long long)id);
	}
	if (store_bool(r, 0, 1) && store_bool(r, 0, 0) != required) {
		PQclear(r);
		store_rollback(c);
		return db_job_fail(
		    job, EM_ERR_BAD_STATE,
		    "programme %lld has rooms: whether it requires agreements can no "
		    "longer change (you may only sign the current setting)",
		    (long long)id);
	}
	bad = store_bytea(r, 0, 2, sign_pk, sizeof(sign_pk)) != (int)sizeof(sign_pk);
	PQclear(r);
	if (bad ||
	    em_programme_verify((uint64_t)id, (uint64_t)job->user_id, required, sign_pk, sig)) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_BAD_SIGNATURE,
		                   "the settings signature does not verify with your key");
	}
	memset(&p, 0, sizeof(p));
	params_int(&p, id);
	params_text(&p, required ? "true" : "false");
	params_bin(&p, sig, sizeof(sig));
	r = store_exec(c, &st_programme_settings, &p, &err, NULL);
	if ((err = programme_commit(c, job, r, err)))
		return err;
	log_info("programme settings id=%lld agreement_required=%d by=%lld", (long long)id,
	         required, (long long)job->user_id);
	return EM_OK;
}

json_t *programmes_of_user(struct db_conn *c, int64_t user_id, int *err)
{
	struct params p = {0};
	PGresult *r;
	json_t *list;

	params_int(&p, user_id);
	r = store_exec(c, &st_programmes_of_user, &p, err, NULL);
	if (!r)
		return NULL;
	list = json_array();
	for (int i = 0; list && i < PQntuples(r); i++) {
		json_t *prog = model_programme(r, i, 0);

		json_object_set_new(prog, "my_role", json_string(store_str(r, i, PROGRAMME_NCOLS)));
		json_array_append_new(list, prog);
	}
	PQclear(r);
	if (!list)
		*err = EM_ERR_NOMEM;
	return list;
}

int programme_list_run(struct db_conn *c, struct db_job *job)
{
	int err;
	json_t *list = programmes_of_user(c, job->user_id, &err);

	if (!list)
		return store_fail(c, job, err);
	job->result = json_pack("{so}", "programmes", list);
	return EM_OK;
}

int programme_show_run(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	PGresult *r;
	json_t *people;
	int err, manager;

	params_int(&p, job_int(job, "programme_id", 0));
	params_int(&p, job->user_id);
	r = store_exec(c, &st_programme_visible, &p, &err, NULL);
	if (!r)
		return store_fail(c, job, err);
	if (PQntuples(r) != 1) {
		PQclear(r);
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no programme %lld that you take part in",
		                   (long long)job_int(job, "programme_id", 0));
	}
	job->result = json_pack("{so}", "programme", model_programme(r, 0, 0));
	json_object_set_new(json_object_get(job->result, "programme"), "my_role",
	                    json_string(store_str(r, 0, PROGRAMME_NCOLS)));
	manager = !strcmp(store_str(r, 0, PROGRAMME_NCOLS), "manager");
	PQclear(r);

	memset(&p, 0, sizeof(p));
	params_int(&p, job_int(job, "programme_id", 0));
	params_int(&p, job->user_id);
	params_text(&p, manager ? "true" : "false");
	r = store_exec(c, &st_programme_people, &p, &err, NULL);
	if (!r)
		return store_fail(c, job, err);
	people = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *u = model_user(r, i, 0);

		json_object_set_new(u, "role", json_string(store_str(r, i, USER_NCOLS)));
		json_array_append_new(people, u);
	}
	PQclear(r);
	json_object_set_new(job->result, "people", people);
	return EM_OK;
}

int invite_create_run(struct db_conn *c, struct db_job *job)
{
	int64_t programme_id = job_int(job, "programme_id", 0);
	const char *role = job_str(job, "role"), *email = job_str(job, "email");
	struct params p = {0};
	char code[32], expires_at[40];
	unsigned char hash[32];
	int64_t invite_id = 0;
	PGresult *r;
	int err, manages;

	params_int(&p, programme_id);
	params_int(&p, job->user_id);
	r = store_exec(c, &st_programme_visible, &p, &err, NULL);
	if (!r)
		return store_fail(c, job, err);
	manages = PQntuples(r) == 1 && !strcmp(store_str(r, 0, PROGRAMME_NCOLS), "manager");
	PQclear(r);
	if (!manages)
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no programme %lld that you manage",
		                   (long long)programme_id);
	if (email && (err = mail_invite_check(email)))
		return db_job_fail(
		    job, err,
		    err == EM_ERR_BAD_STATE
		        ? "e-mail is off on this server"
		        : "args.email: not an address ementor sends to (name@domain.tld)");
	if ((err = store_begin(c)))
		return store_fail(c, job, err);
	if (store_create_invite(c->pg, role, programme_id, job->user_id,
	                        (int)job_int(job, "expires_in_days", INVITE_TTL_DAYS_DEFAULT), 0,
	                        code, expires_at))
		return store_fail(c, job,
		                  PQstatus(c->pg) == CONNECTION_OK ? EM_ERR_INTERNAL
		                                                   : EM_ERR_DB_UNAVAILABLE);
	store_hash(code, strlen(code), hash);
	p.n = 0;
	params_bin(&p, hash, sizeof(hash));
	if (!(r = store_exec(c, &st_invite_id, &p, &err, NULL)))
		return store_fail(c, job, err);
	invite_id = PQntuples(r) == 1 ? store_int(r, 0, 0) : 0;
	PQclear(r);
	if (email && (err = mail_invite_enqueue(c, invite_id, email, job_str(job, "lang"), code)))
		return store_fail(c, job, err);
	if ((err = store_commit(c)))
		return store_fail(c, job, err);
	job->result = json_pack("{sssssIss}", "code", code, "role", role, "programme_id",
	                        (json_int_t)programme_id, "expires_at", expires_at);
	if (job->result)
		json_object_set_new(job->result, "invite_id", json_integer(invite_id));
	log_info("invite created programme=%lld role=%s by=%lld", (long long)programme_id, role,
	         (long long)job->user_id);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int invite_take(struct db_conn *c, const char *code, int64_t *invite_id, char role[16],
                int64_t *programme_id, int *err)
{
	unsigned char hash[32];
	struct params p = {0};
	PGresult *r;
	int found;

	store_hash(code, strlen(code), hash);
	params_bin(&p, hash, 32);
	r = store_exec(c, &st_invite_take, &p, err, NULL);
	if (!r)
		return -1;
	found = PQntuples(r) == 1;
	if (found) {
		*invite_id = store_int(r, 0, 0);
		snprintf(role, 16, "%s", store_str(r, 0, 1));
		*programme_id = store_int(r, 0, 2);
	}
	PQclear(r);
	return found;
}

int invite_use(struct db_conn *c, int64_t invite_id, int64_t user_id, const char *role,
               int64_t programme_id)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, invite_id);
	params_int(&p, user_id);
	if (!(r = store_exec(c, &st_invite_use, &p, &err, NULL)))
		return err;
	PQclear(r);
	if ((err = store_run(c, &st_invite_mail_used, &p)))
		return err;
	if (!programme_id)
		return EM_OK;
	memset(&p, 0, sizeof(p));
	params_int(&p, programme_id);
	params_int(&p, user_id);
	params_text(&p, role);
	if (!(r = store_exec(c, &st_programme_join, &p, &err, NULL)))
		return err;
	PQclear(r);
	return EM_OK;
}

int invite_accept_run(struct db_conn *c, struct db_job *job)
{
	int64_t invite_id = 0, programme_id = 0;
	char role[16] = "";
	struct params p = {0};
	PGresult *r;
	int err;

	if ((err = store_begin(c)))
		return store_fail(c, job, err);
	switch (invite_take(c, job_str(job, "invite"), &invite_id, role, &programme_id, &err)) {
	case -1:
		return store_fail(c, job, err);
	case 0:
		store_rollback(c);
		return db_job_fail(job, EM_ERR_INVALID_INVITE, NULL);
	}
	/*
	 * Roles are per programme: a mentor may be a mentee in another programme and
	 * the other way round (one role per programme); a manager account stays a
	 * manager (it mentors a room through room.add), and only a manager takes a
	 * manager invite.
	 */
	if (!programme_id || (strcmp(role, job->role) &&
	                      (!strcmp(role, "manager") || !strcmp(job->role, "manager")))) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_INVALID_INVITE,
		                   "this invite is for a %s; you are a %s", role, job->role);
	}
	params_int(&p, programme_id);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_programme_role, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) == 1 && strcmp(store_str(r, 0, 0), role)) {
		db_job_fail(job, EM_ERR_INVALID_INVITE, "you are already a %s of programme %lld",
		            store_str(r, 0, 0), (long long)programme_id);
		PQclear(r);
		store_rollback(c);
		return job->err;
	}
	PQclear(r);
	memset(&p, 0, sizeof(p));
	job->out_also_mentor = !strcmp(role, "mentor");
	job->out_also_mentee = !strcmp(role, "mentee");
	if ((err = invite_use(c, invite_id, job->user_id, role, programme_id)))
		return store_fail(c, job, err);
	params_int(&p, programme_id);
	params_int(&p, job->user_id);
	r = store_exec(c, &st_programme_visible, &p, &err, NULL);
	return programme_commit(c, job, r, err);
}
