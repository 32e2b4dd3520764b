/*
 * handle_reset.c - identity resets issued by a manager (docs/PROTOCOL.md
 * "Identity reset"): reset.issue (a manager of a programme the person belongs
 * to makes a one-time code, shown to the manager and e-mailed as a link to
 * the person's verified address) and reset.redeem (before login: the code,
 * the username, a new password's parameters and a NEW identity: key pairs,
 * key backup, optionally a recovery code). Runs on the DB workers.
 *
 * DESIGN. The server never had the person's keys, so a forgotten password
 * without a recovery code cannot give them back: the reset replaces them.
 * Everything that follows from new keys happens in the redeem's transaction,
 * in SQL (schema/019_identity_reset.sql, identity_reset_rooms()): in every
 * room of the person their signatures are withdrawn, a new agreement version
 * lists the new keys, the roster drops them until every party has signed it
 * again, the room needs a new key epoch, and the other parties get an
 * identity.reset notice. Their clients see the key change through their pins
 * (the loud warning, `ementor trust`), exactly as for any other key change.
 * The code is 160 random bits kept as BLAKE2b-256, expires (1 to 14 days),
 * works once, a newer one cancels an older one; each attempt counts against
 * the login limits under the account's name, and a wrong code, an unknown
 * user and an expired code get the same answer. A manager may reset only a
 * mentor or mentee account (a manager account has powers in programmes the
 * issuer may not manage); both steps go to the programme's trail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "addr.h"
#include "announce.h"
#include "em_crypto.h"
#include "handlers.h"
#include "log.h"
#include "mailer.h"
#include "model.h"
#include "store.h"

/* $1 programme, $2 caller, $3 username: managed?, the person's id, account role, in it? */
static const struct stmt st_issue_target = {
    "reset_target",
    "SELECT EXISTS (SELECT 1 FROM programme_people WHERE programme_id = $1 AND user_id = $2 "
    "AND role = 'manager'), u.id, u.role, EXISTS (SELECT 1 FROM programme_people pp "
    "WHERE pp.programme_id = $1 AND pp.user_id = u.id AND pp.role IN ('mentor', 'mentee')) "
    "FROM programmes p LEFT JOIN users u ON u.username = $3 AND u.erased_at IS NULL "
    "WHERE p.id = $1 FOR UPDATE OF p"};

static const struct stmt st_issue_cancel = {
    "reset_cancel", "UPDATE identity_resets SET cancelled_at = now() WHERE user_id = $1 "
                    "AND used_at IS NULL AND cancelled_at IS NULL"};

static const struct stmt st_issue_insert = {
    "reset_insert",
    "INSERT INTO identity_resets (user_id, programme_id, issued_by, code_hash, expires_at) "
    "VALUES ($1, $2, $3, $4, now() + make_interval(days => $5::int)) "
    "RETURNING id, " SQL_TS("expires_at")};

/* The person's verified address gets the link (kind reset: whatever kinds they chose). */
static const struct stmt st_issue_mail = {
    "reset_mail",
    "INSERT INTO mail_outbox (user_id, address, kind, lang, params) SELECT user_id, address, "
    "'reset', lang, jsonb_build_object('code', $2::text, 'expires_at', $3::text) "
    "FROM mail_settings WHERE user_id = $1 AND address IS NOT NULL AND verified_at IS NOT NULL "
    "RETURNING id"};

static const struct stmt st_trail = {
    "reset_trail", "INSERT INTO programme_changes (programme_id, user_id, change, new_value) "
                   "VALUES ($1, $2, $3, $4)"};

/* $1 code hash, $2 username: the live code's row and its person, locked. */
static const struct stmt st_redeem_find = {
    "reset_find",
    "SELECT r.id, r.user_id, r.programme_id FROM identity_resets r JOIN users u "
    "ON u.id = r.user_id WHERE r.code_hash = $1 AND u.username = $2 AND u.erased_at IS NULL "
    "AND r.used_at IS NULL AND r.cancelled_at IS NULL AND r.expires_at > now() "
    "FOR UPDATE OF r, u"};

static const struct stmt st_redeem_keys = {
    "reset_keys",
    "UPDATE users SET kdf_salt = $2, kdf_opslimit = $3, kdf_memlimit = $4, auth_hash = $5, "
    "key_backup = $6, sign_pk = $7, box_pk = $8, recovery_hash = $9, recovery_backup = $10, "
    "recovery_set_at = CASE WHEN $9::bytea IS NULL THEN NULL ELSE now() END WHERE id = $1"};

static const struct stmt st_redeem_used = {
    "reset_used", "UPDATE identity_resets SET used_at = now() WHERE id = $1"};

static const struct stmt st_redeem_revoke = {
    "reset_revoke",
    "UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL"};

static const struct stmt st_redeem_rooms = {
    "reset_rooms", "SELECT nid, nuser, doc, room FROM identity_reset_rooms($1, now())"};

int reset_issue_run(struct db_conn *c, struct db_job *job)
{
	unsigned char code[EM_RESET_CODE_BYTES], hash[32];
	char text[EM_RECOVERY_STRLEN], expires[40], username[EM_USERNAME_MAX + 1];
	int64_t programme = job_int(job, "programme_id", 0), target, reset_id;
	struct params p = {0};
	PGresult *r;
	int err, emailed;

	em_username_fold(job_str(job, "username"), username);
	randombytes_buf(code, sizeof(code));
	em_recovery_format(code, text);
	store_hash(code, sizeof(code), hash);
	sodium_memzero(code, sizeof(code));
	if ((err = store_begin(c)))
		goto fail;
	params_int(&p, programme);
	params_int(&p, job->user_id);
	params_text(&p, username);
	if (!(r = store_exec(c, &st_issue_target, &p, &err, NULL)))
		goto fail;
	if (PQntuples(r) != 1 || !store_bool(r, 0, 0)) {
		PQclear(r);
		store_rollback(c);
		sodium_memzero(text, sizeof(text));
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no programme %lld that you manage",
		                   (long long)programme);
	}
	target = store_int(r, 0, 1);
	if (!target || !store_bool(r, 0, 3)) {
		int manager = target && !strcmp(store_str(r, 0, 2), "manager");

		PQclear(r);
		store_rollback(c);
		sodium_memzero(text, sizeof(text));
		if (manager)
			return db_job_fail(job, EM_ERR_FORBIDDEN,
			                   "%s is a manager: a manager's identity is not reset by "
			                   "another manager (ask the server's operator)",
			                   username);
		return db_job_fail(job, EM_ERR_NOT_IN_PROGRAMME,
		                   "%s is not a mentor or mentee of programme %lld", username,
		                   (long long)programme);
	}
	PQclear(r);
	p.n = 0;
	params_int(&p, target);
	if ((err = store_run(c, &st_issue_cancel, &p)))
		goto fail;
	p.n = 0;
	params_int(&p, target);
	params_int(&p, programme);
	params_int(&p, job->user_id);
	params_bin(&p, hash, sizeof(hash));
	params_int(&p, job_int(job, "expires_in_days", 3));
	if (!(r = store_exec(c, &st_issue_insert, &p, &err, NULL)))
		goto fail;
	reset_id = store_int(r, 0, 0);
	snprintf(expires, sizeof(expires), "%s", store_str(r, 0, 1));
	PQclear(r);
	emailed = 0;
	if (mailer_enabled()) {
		p.n = 0;
		params_int(&p, target);
		params_text(&p, text);
		params_text(&p, expires);
		if (!(r = store_exec(c, &st_issue_mail, &p, &err, NULL)))
			goto fail;
		emailed = PQntuples(r) > 0;
		PQclear(r);
	}
	p.n = 0;
	params_int(&p, programme);
	params_int(&p, job->user_id);
	params_text(&p, "reset_issued");
	params_text(&p, username);
	if ((err = store_run(c, &st_trail, &p)) || (err = store_commit(c)))
		goto fail;
	log_info("reset issued id=%lld programme=%lld user_id=%lld by=%lld emailed=%d",
	         (long long)reset_id, (long long)programme, (long long)target,
	         (long long)job->user_id, emailed);
	job->result = json_pack("{sI, ss, sI, ss, ss, sb}", "reset_id", (json_int_t)reset_id,
	                        "username", username, "user_id", (json_int_t)target, "code", text,
	                        "expires_at", expires, "emailed", emailed);
	sodium_memzero(text, sizeof(text));
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
fail:
	sodium_memzero(text, sizeof(text));
	return store_fail(c, job, err);
}

int reset_redeem_run(struct db_conn *c, struct db_job *job)
{
	char username[EM_USERNAME_MAX + 1], addr[ADDR_KEY_MAX], fp[EM_FINGERPRINT_STRLEN];
	unsigned char code[EM_RESET_CODE_BYTES], code_hash[32], key[32], auth_hash[32];
	unsigned char salt[EM_SALT_BYTES], backup[EM_KEY_BACKUP_BYTES], sign_pk[32], box_pk[32];
	unsigned char rec_key[32], rec_hash[32], rec_backup[EM_KEY_BACKUP_BYTES];
	int64_t reset_id, user_id, programme;
	int with_recovery, rooms = 0, notices = 0;
	long long revoked;
	struct params p = {0};
	PGresult *r;
	int err;

	em_username_fold(job_str(job, "username"), username);
	job_bin(job, "code", code, sizeof(code));
	store_hash(code, sizeof(code), code_hash);
	sodium_memzero(code, sizeof(code));
	if ((err = store_begin(c)))
		return store_fail(c, job, err);
	addr_key(job->addr, addr, sizeof(addr));
	if ((err = auth_gate(c, job, username, addr)))
		return err;
	params_bin(&p, code_hash, sizeof(code_hash));
	params_text(&p, username);
	if (!(r = store_exec(c, &st_redeem_find, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) != 1) {
		PQclear(r);
		if ((err = auth_attempt(c, username, addr, 0)) || (err = store_commit(c)))
			return store_fail(c, job, err);
		log_info("reset refused addr=%s", addr);
		return db_job_fail(job, EM_ERR_BAD_CREDENTIALS,
		                   "wrong username or reset code, or the code expired or was used "
		                   "(ask your programme's manager for a new one)");
	}
	reset_id = store_int(r, 0, 0);
	user_id = store_int(r, 0, 1);
	programme = store_int(r, 0, 2);
	PQclear(r);

	job_bin(job, "auth_key", key, sizeof(key));
	store_hash(key, sizeof(key), auth_hash);
	sodium_memzero(key, sizeof(key));
	job_bin(job, "salt", salt, sizeof(salt));
	job_bin(job, "key_backup", backup, sizeof(backup));
	job_bin(job, "sign_pk", sign_pk, sizeof(sign_pk));
	job_bin(job, "box_pk", box_pk, sizeof(box_pk));
	with_recovery = job_bin(job, "recovery_auth", rec_key, sizeof(rec_key)) == 32 &&
	                job_bin(job, "recovery_backup", rec_backup, sizeof(rec_backup)) ==
	                    (int)sizeof(rec_backup);
	if (with_recovery)
		store_hash(rec_key, sizeof(rec_key), rec_hash);
	sodium_memzero(rec_key, sizeof(rec_key));
	p.n = 0;
	params_int(&p, user_id);
	params_bin(&p, salt, sizeof(salt));
	params_int(&p, job_int(job, "opslimit", 0));
	params_int(&p, job_int(job, "memlimit", 0));
	params_bin(&p, auth_hash, sizeof(auth_hash));
	params_bin(&p, backup, sizeof(backup));
	params_bin(&p, sign_pk, sizeof(sign_pk));
	params_bin(&p, box_pk, sizeof(box_pk));
	if (with_recovery) {
		params_bin(&p, rec_hash, sizeof(rec_hash));
		params_bin(&p, rec_backup, sizeof(rec_backup));
	} else {
		params_text(&p, NULL); /* the old code opened the old keys: it goes */
		params_text(&p, NULL);
	}
	if ((err = store_run(c, &st_redeem_keys, &p)))
		return store_fail(c, job, err);
	p.n = 0;
	params_int(&p, reset_id);
	if ((err = store_run(c, &st_redeem_used, &p)))
		return store_fail(c, job, err);
	p.n = 0;
	params_int(&p, user_id);
	if (!(r = store_exec(c, &st_redeem_revoke, &p, &err, NULL)))
		return store_fail(c, job, err);
	revoked = atoll(PQcmdTuples(r));
	PQclear(r);
	if (!(r = store_exec(c, &st_redeem_rooms, &p, &err, NULL)))
		return store_fail(c, job, err);
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *doc;

		if (!store_str(r, i, 0)) {
			rooms++;
			db_job_push(&job->room_events, store_int(r, i, 3), EV_ROOM,
			            json_pack("{s:I, s:s}", "room_id",
			                      (json_int_t)store_int(r, i, 3), "change",
			                      "agreement"));
			continue;
		}
		if ((doc = json_loads(store_str(r, i, 2), 0, NULL))) {
			db_job_push(&job->user_events, store_int(r, i, 1), EV_NOTICE, doc);
			notices++;
		}
	}
	PQclear(r);
	em_fingerprint(sign_pk, box_pk, fp);
	p.n = 0;
	params_int(&p, programme);
	params_int(&p, user_id);
	params_text(&p, "identity_reset");
	params_text(&p, fp);
	if ((err = store_run(c, &st_trail, &p)))
		return store_fail(c, job, err);
	if ((err = auth_attempt(c, username, addr, 1)) || (err = store_commit(c)))
		return store_fail(c, job, err);
	announce_sessions_revoked(c, user_id, 0);
	/* the service thread closes the account's connections on this node (4004) */
	job->user_id = user_id;
	job->session_id = 0;
	job->finished = auth_passwd_finished;
	log_info("reset used id=%lld user_id=%lld revoked_sessions=%lld rooms=%d notices=%d",
	         (long long)reset_id, (long long)user_id, revoked, rooms, notices);
	job->result = json_pack("{sI, sI, ss}", "revoked_sessions", (json_int_t)revoked, "rooms",
	                        (json_int_t)rooms, "fingerprint", fp);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}
