/*
 * handle_auth.c - accounts and sessions: prelogin, register, login, resume,
 * logout, whoami, passwd, and the session sweep's query. DB worker threads;
 * what these change on the connections is svc_auth.c's (service thread).
 *
 * The password never reaches the server (docs/SECURITY.md): clients send
 * auth_key, derived from the password with Argon2id; we keep BLAKE2b(auth_key)
 * and compare in constant time, so nothing slow runs here. Tokens and invite
 * codes are stored only as hashes. Failed logins are recorded in PostgreSQL,
 * so the rate limit holds across restarts and across server nodes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "addr.h"
#include "announce.h"
#include "em_crypto.h"
#include "fanout.h"
#include "handlers.h"
#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "model.h"
#include "server.h"
#include "store.h"

/*
 * Login limits (docs/SECURITY.md). Failures in the last LOGIN_WINDOW count:
 * LOGIN_MAX_PER_PAIR per address and account, LOGIN_MAX_PER_ADDR per address;
 * from LOGIN_ACCOUNT_FREE failures on an account from anywhere, each attempt
 * from an address the account has not logged in from within
 * LOGIN_KNOWN_ADDR waits 2^(failures - LOGIN_ACCOUNT_FREE) s, at most
 * LOGIN_DELAY_MAX_S, after the account's last failure: a delay, never a
 * lockout, so a stranger cannot keep the owner out.
 */
#define LOGIN_WINDOW       "15 minutes"
#define LOGIN_KNOWN_ADDR   "30 days"
#define LOGIN_MAX_PER_PAIR 10
#define LOGIN_MAX_PER_ADDR 50
#define LOGIN_ACCOUNT_FREE 10
#define LOGIN_DELAY_MAX_S  "60"
/* advisory lock classes (two-key form): attempts on one account, from one address */
#define LOGIN_LOCK_ACCOUNT "7312"
#define LOGIN_LOCK_ADDR    "7313"

static const struct stmt st_kdf_params = {
    "auth_kdf_params",
    "SELECT kdf_salt, kdf_opslimit, kdf_memlimit FROM users WHERE username = $1"};

static const struct stmt st_user_insert = {
    "auth_user_insert",
    "INSERT INTO users (username, display_name, role, sign_pk, box_pk, kdf_salt, "
    "kdf_opslimit, kdf_memlimit, auth_hash, key_backup) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
    "RETURNING id, username, display_name, role, sign_pk, box_pk"};

/*
 * Taken before the limits are read and held until the attempt is recorded
 * (one transaction), so parallel attempts on one account or from one
 * address are counted one after the other. Account first, then address:
 * one order everywhere, no deadlock.
 */
static const struct stmt st_login_lock_account = {"auth_login_lock_account",
                                                  "SELECT pg_advisory_xact_lock(" LOGIN_LOCK_ACCOUNT
                                                  ", hashtext($1))"};

static const struct stmt st_login_lock_addr = {
    "auth_login_lock_addr", "SELECT pg_advisory_xact_lock(" LOGIN_LOCK_ADDR ", hashtext($1))"};

#define MS_UNTIL(t) "COALESCE(ceil(extract(epoch FROM " t " - now()) * 1000), 0)::bigint"

/* $1 username, $2 address, $3 LOGIN_ACCOUNT_FREE -> failures per pair, address, account; ms until
 * each allows another attempt; whether the account logged in from this address lately */
static const struct stmt st_login_limits = {
    "auth_login_limits",
    "WITH f AS (SELECT username = $1 AS u, addr = $2 AS a, at FROM login_attempts "
    "WHERE NOT ok AND at > now() - interval '" LOGIN_WINDOW "' AND (username = $1 OR addr = $2)), "
    "s AS (SELECT count(*) FILTER (WHERE u AND a) AS pair_n, "
    "min(at) FILTER (WHERE u AND a) AS pair_first, count(*) FILTER (WHERE a) AS addr_n, "
    "min(at) FILTER (WHERE a) AS addr_first, count(*) FILTER (WHERE u) AS user_n, "
    "max(at) FILTER (WHERE u) AS user_last FROM f) "
    "SELECT pair_n, addr_n, user_n, " MS_UNTIL(
        "pair_first + interval '" LOGIN_WINDOW
        "'") ", " MS_UNTIL("addr_first + interval '" LOGIN_WINDOW
                           "'") ", " MS_UNTIL("user_last + LEAST(" LOGIN_DELAY_MAX_S
                                              ", power(2, LEAST(user_n - $3, 6))) * "
                                              "interval '1 s'") ", "
                                                                "EXISTS (SELECT 1 FROM "
                                                                "login_attempts WHERE ok AND "
                                                                "username = $1 AND addr = $2 "
                                                                "AND at > now() - interval "
                                                                "'" LOGIN_KNOWN_ADDR "') FROM s"};

static const struct stmt st_login_user = {
    "auth_login_user",
    "SELECT " USER_COLS ", u.auth_hash, u.key_backup FROM users u WHERE u.username = $1 "
    "AND u.erased_at IS NULL"};

/*
 * $1 user: a manager who is the mentor of a room in a programme they manage,
 * or the manager of a support room (dispatch.c R_SEAT); a mentor and a mentee of some programme
 * (roles per programme, whatever the account's first role).
 */
static const struct stmt st_mentor_seat = {
    "auth_mentor_seat",
    "SELECT EXISTS (SELECT 1 FROM room_members m JOIN users u ON u.id = m.user_id "
    "WHERE m.user_id = $1 AND m.removed_at IS NULL AND m.role IN ('mentor', 'support') "
    "AND u.role = 'manager'), "
    "EXISTS (SELECT 1 FROM programme_people WHERE user_id = $1 AND role = 'mentor'), "
    "EXISTS (SELECT 1 FROM programme_people WHERE user_id = $1 AND role = 'mentee')"};

static const struct stmt st_login_record = {
    "auth_login_record", "INSERT INTO login_attempts (username, addr, ok) VALUES ($1, $2, $3)"};

/* after a success: failures that no longer count, successes too old to make an address known */
static const struct stmt st_login_forget = {
    "auth_login_forget",
    "DELETE FROM login_attempts WHERE username = $1 AND ((NOT ok AND at < "
    "now() - interval '" LOGIN_WINDOW "') OR at < now() - interval '" LOGIN_KNOWN_ADDR "')"};

static const struct stmt st_session_insert = {
    "auth_session_insert", "INSERT INTO sessions (user_id, token_hash, expires_at) "
                           "VALUES ($1, $2, now() + make_interval(days => $3::int)) "
                           "RETURNING id, " SQL_TS("expires_at")};

static const struct stmt st_user_seen = {"auth_user_seen",
                                         "UPDATE users SET last_login_at = now() WHERE id = $1"};

static const struct stmt st_session_by_token = {
    "auth_session_by_token",
    "SELECT s.id, " SQL_TS("s.expires_at") ", " USER_COLS " FROM sessions s "
                                           "JOIN users u ON u.id = s.user_id "
                                           "WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND "
                                           "s.expires_at > now()"};

static const struct stmt st_session_by_id = {
    "auth_session_by_id",
    "SELECT s.id, " SQL_TS(
        "s.expires_at") ", " USER_COLS " FROM sessions s "
                        "JOIN users u ON u.id = s.user_id "
                        "WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > now()"};

static const struct stmt st_session_revoke = {
    "auth_session_revoke",
    "UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL"};

static const struct stmt st_user_secret = {
    "auth_user_secret", "SELECT username, auth_hash FROM users WHERE id = $1 FOR UPDATE"};

static const struct stmt st_user_rekey = {
    "auth_user_rekey",
    "UPDATE users SET kdf_salt = $2, kdf_opslimit = $3, kdf_memlimit = $4, auth_hash = $5, "
    "key_backup = $6 WHERE id = $1"};

static const struct stmt st_sessions_revoke_others = {
    "auth_sessions_revoke_others", "UPDATE sessions SET revoked_at = now() "
                                   "WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL"};

/* A failed statement: record the error, roll back if in a transaction. */
static void folded_username(const struct db_job *job, char out[EM_USERNAME_MAX + 1])
{
	em_username_fold(job_str(job, "username"), out);
}

int auth_prelogin_run(struct db_conn *c, struct db_job *job)
{
	char username[EM_USERNAME_MAX + 1];
	unsigned char salt[EM_SALT_BYTES];
	int64_t ops = EM_KDF_OPSLIMIT_DEFAULT, mem = (int64_t)EM_KDF_MEMLIMIT_DEFAULT;
	struct params p = {0};
	PGresult *r;
	char *salt_b64;
	int err;

	folded_username(job, username);
	params_text(&p, username);
	r = store_exec(c, &st_kdf_params, &p, &err, NULL);
	if (!r)
		return store_fail(c, job, err);
	if (PQntuples(r) == 1 && store_bytea(r, 0, 0, salt, sizeof(salt)) == EM_SALT_BYTES) {
		ops = store_int(r, 0, 1);
		mem = store_int(r, 0, 2);
	} else {
		/* unknown user: a stable made-up salt, so the answer reveals nothing */
		unsigned char h[32];
		crypto_generichash_state st;

		crypto_generichash_init(&st, server.prelogin_secret, 32, sizeof(h));
		crypto_generichash_update(&st, (const unsigned char *)"prelogin", 9);
		crypto_generichash_update(&st, (const unsigned char *)username, strlen(username));
		crypto_generichash_final(&st, h, sizeof(h));
		memcpy(salt, h, sizeof(salt));
	}
	PQclear(r);
	salt_b64 = em_b64_encode(salt, sizeof(salt));
	job->result = json_pack("{sssIsIss}", "salt", salt_b64 ? salt_b64 : "", "opslimit",
	                        (json_int_t)ops, "memlimit", (json_int_t)mem, "alg", "argon2id13");
	free(salt_b64);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

static const struct stmt st_recovery_save = {
    "auth_recovery_save", "UPDATE users SET recovery_hash = $2, recovery_backup = $3, "
                          "recovery_set_at = now() WHERE id = $1"};

/*
 * Inside register's transaction: the recovery code's hash and backup, when
 * the request has them (recovery_register_check made sure both or neither).
 */
static int register_recovery(struct db_conn *c, struct db_job *job, int64_t user_id)
{
	unsigned char rec_auth[32], hash[32], backup[EM_KEY_BACKUP_BYTES];
	struct params p = {0};

	if (job_bin(job, "recovery_auth", rec_auth, sizeof(rec_auth)) != (int)sizeof(rec_auth))
		return EM_OK;
	job_bin(job, "recovery_backup", backup, sizeof(backup));
	store_hash(rec_auth, sizeof(rec_auth), hash);
	sodium_memzero(rec_auth, sizeof(rec_auth));
	params_int(&p, user_id);
	params_bin(&p, hash, sizeof(hash));
	params_bin(&p, backup, sizeof(backup));
	return store_run(c, &st_recovery_save, &p);
}

int auth_register_run(struct db_conn *c, struct db_job *job)
{
	char username[EM_USERNAME_MAX + 1], sqlstate[6];
	unsigned char auth_key[32], auth_hash[32], salt[16], sign_pk[32], box_pk[32],
	    backup[EM_KEY_BACKUP_BYTES];
	const char *invite = job_str(job, "invite");
	struct params p = {0};
	PGresult *r = NULL;
	int64_t invite_id = 0, programme_id = 0, user_id;
	struct consent consent;
	json_t *entry = NULL;
	char role[16];
	int err;

	folded_username(job, username);
	job_bin(job, "auth_key", auth_key, sizeof(auth_key));
	job_bin(job, "salt", salt, sizeof(salt));
	job_bin(job, "sign_pk", sign_pk, sizeof(sign_pk));
	job_bin(job, "box_pk", box_pk, sizeof(box_pk));
	job_bin(job, "key_backup", backup, sizeof(backup));
	store_hash(auth_key, sizeof(auth_key), auth_hash);
	sodium_memzero(auth_key, sizeof(auth_key));
	/* no account without the data-processing consent (PROTOCOL.md 7.1) */
	if ((err = consent_register_check(job, sign_pk, &consent)))
		return err;

	if ((err = store_begin(c)))
		return store_fail(c, job, err);
	switch (invite_take(c, invite, &invite_id, role, &programme_id, &err)) {
	case -1:
		return store_fail(c, job, err);
	case 0:
		store_rollback(c);
		return db_job_fail(job, EM_ERR_INVALID_INVITE, NULL);
	}
	memset(&p, 0, sizeof(p));
	params_text(&p, username);
	params_text(&p, job_str(job, "display_name"));
	params_text(&p, role);
	params_bin(&p, sign_pk, 32);
	params_bin(&p, box_pk, 32);
	params_bin(&p, salt, 16);
	params_int(&p, job_int(job, "opslimit", 0));
	params_int(&p, job_int(job, "memlimit", 0));
	params_bin(&p, auth_hash, 32);
	params_bin(&p, backup, sizeof(backup));
	r = store_exec(c, &st_user_insert, &p, &err, sqlstate);
	if (!r) {
		store_rollback(c);
		if (!strcmp(sqlstate, "23505"))
			return db_job_fail(job, EM_ERR_USERNAME_TAKEN,
			                   "the username \"%s\" is taken", username);
		return db_job_fail(job, err, NULL);
	}
	user_id = store_int(r, 0, 0);
	job->result = json_pack("{so}", "user", model_user(r, 0, 0));
	PQclear(r);

	if ((err = invite_use(c, invite_id, user_id, role, programme_id)) ||
	    (err = register_recovery(c, job, user_id)))
		return store_fail(c, job, err);
	consent.user_id = user_id;
	if ((err = ledger_append(c, &consent, &entry)))
		return store_fail(c, job, err);
	json_decref(entry);
	if ((err = store_commit(c)))
		return store_fail(c, job, err);
	json_object_set_new(job->result, "programme_id",
	                    programme_id ? json_integer(programme_id) : json_null());
	log_info("auth registered user_id=%lld role=%s", (long long)user_id, role);
	return EM_OK;
}

/*
 * Inside the caller's transaction: locks the account and the address, then
 * checks the login limits. Returns EM_OK (the locks stay held until the
 * caller commits or rolls back, so record the attempt in between), or rolls
 * back and fails the job with rate_limited (and retry_after_ms) or a DB error.
 */
static int login_gate(struct db_conn *c, struct db_job *job, const char *username, const char *addr)
{
	struct params p = {0};
	PGresult *r;
	int64_t retry = 0;
	const char *which = NULL;
	int err;

	params_text(&p, username);
	if (!(r = store_exec(c, &st_login_lock_account, &p, &err, NULL)))
		return store_fail(c, job, err);
	PQclear(r);
	memset(&p, 0, sizeof(p));
	params_text(&p, addr);
	if (!(r = store_exec(c, &st_login_lock_addr, &p, &err, NULL)))
		return store_fail(c, job, err);
	PQclear(r);
	memset(&p, 0, sizeof(p));
	params_text(&p, username);
	params_text(&p, addr);
	params_int(&p, LOGIN_ACCOUNT_FREE);
	if (!(r = store_exec(c, &st_login_limits, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (store_int(r, 0, 0) >= LOGIN_MAX_PER_PAIR && store_int(r, 0, 3) > retry) {
		retry = store_int(r, 0, 3);
		which = "account_address";
	}
	if (store_int(r, 0, 1) >= LOGIN_MAX_PER_ADDR && store_int(r, 0, 4) > retry) {
		retry = store_int(r, 0, 4);
		which = "address";
	}
	if (store_int(r, 0, 2) >= LOGIN_ACCOUNT_FREE && !store_bool(r, 0, 6) &&
	    store_int(r, 0, 5) > retry) {
		retry = store_int(r, 0, 5);
		which = "account_delay";
	}
	PQclear(r);
	if (!which)
		return EM_OK;
	store_rollback(c);
	job->retry_after_ms = retry;
	log_warn("auth rate limited addr=%s limit=%s retry_after_ms=%lld", addr, which,
	         (long long)retry);
	return db_job_fail(job, EM_ERR_RATE_LIMITED,
	                   "too many failed attempts; try again in %lld s",
	                   (long long)(retry + 999) / 1000);
}

static int record_attempt(struct db_conn *c, const char *username, const char *addr, int ok)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_text(&p, username);
	params_text(&p, addr);
	params_text(&p, ok ? "true" : "false");
	r = store_exec(c, &st_login_record, &p, &err, NULL);
	PQclear(r);
	if (r && ok) {
		memset(&p, 0, sizeof(p));
		params_text(&p, username);
		PQclear(store_exec(c, &st_login_forget, &p, &err, NULL));
	}
	return r ? EM_OK : err;
}

/* Compares BLAKE2b(auth_key) with the stored hash in constant time. */
static int auth_key_matches(const unsigned char auth_key[32], const unsigned char stored[32])
{
	unsigned char h[32];
	int ok;

	store_hash(auth_key, 32, h);
	ok = sodium_memcmp(h, stored, 32) == 0;
	sodium_memzero(h, sizeof(h));
	return ok;
}

/* Creates a session row; fills token (43 chars) and the job's login outputs. */
static int open_session(struct db_conn *c, struct db_job *job, int64_t user_id, char token[48],
                        char expires_at[40])
{
	unsigned char token_hash[32];
	struct params p = {0};
	PGresult *r;
	int err;

	store_random_token(token, 32);
	store_hash(token, strlen(token), token_hash);
	params_int(&p, user_id);
	params_bin(&p, token_hash, 32);
	params_int(&p, server.cfg.session_ttl_days);
	r = store_exec(c, &st_session_insert, &p, &err, NULL);
	if (!r)
		return store_fail(c, job, err);
	job->out_session_id = store_int(r, 0, 0);
	snprintf(expires_at, 40, "%s", store_str(r, 0, 1));
	PQclear(r);
	memset(&p, 0, sizeof(p));
	params_int(&p, user_id);
	PQclear(store_exec(c, &st_user_seen, &p, &err, NULL));
	return EM_OK;
}

/* Worker thread: the login's R_SEAT flag (job->out_mentor_seat) for job->out_user_id. */
static int mentor_seat_load(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, job->out_user_id);
	if (!(r = store_exec(c, &st_mentor_seat, &p, &err, NULL)))
		return err;
	job->out_mentor_seat = PQntuples(r) == 1 && store_bool(r, 0, 0);
	job->out_also_mentor = PQntuples(r) == 1 && store_bool(r, 0, 1);
	job->out_also_mentee = PQntuples(r) == 1 && store_bool(r, 0, 2);
	PQclear(r);
	return EM_OK;
}

int auth_login_run(struct db_conn *c, struct db_job *job)
{
	char username[EM_USERNAME_MAX + 1], token[48] = "", expires_at[40], addr[ADDR_KEY_MAX];
	unsigned char auth_key[32], stored[32], backup[EM_KEY_BACKUP_BYTES];
	/* compared against when the user does not exist, so timing does not tell */
	static const unsigned char dummy[32];
	struct params p = {0};
	PGresult *r = NULL;
	int err, found, ok;
	char *backup_b64 = NULL;

	folded_username(job, username);
	job_bin(job, "auth_key", auth_key, sizeof(auth_key));
	addr_key(job->addr, addr, sizeof(addr));
	if ((err = store_begin(c))) {
		err = store_fail(c, job, err);
		goto out;
	}
	if ((err = login_gate(c, job, username, addr)))
		goto out;
	params_text(&p, username);
	r = store_exec(c, &st_login_user, &p, &err, NULL);
	if (!r) {
		err = store_fail(c, job, err);
		goto out;
	}
	found = PQntuples(r) == 1 && store_bytea(r, 0, USER_NCOLS, stored, 32) == 32 &&
	        store_bytea(r, 0, USER_NCOLS + 1, backup, sizeof(backup)) == EM_KEY_BACKUP_BYTES;
	ok = auth_key_matches(auth_key, found ? stored : dummy) && found;
	if ((err = record_attempt(c, username, addr, ok))) {
		err = store_fail(c, job, err);
		goto out;
	}
	if (!ok) {
		log_info("auth login failed addr=%s", job->addr);
		if ((err = store_commit(c)))
			err = store_fail(c, job, err);
		else
			err = db_job_fail(job, EM_ERR_BAD_CREDENTIALS, NULL);
		goto out;
	}
	job->out_user_id = store_int(r, 0, 0);
	snprintf(job->out_username, sizeof(job->out_username), "%s", store_str(r, 0, 1));
	snprintf(job->out_role, sizeof(job->out_role), "%s", store_str(r, 0, 3));
	if ((err = mentor_seat_load(c, job))) {
		err = store_fail(c, job, err);
		goto out;
	}
	if ((err = open_session(c, job, job->out_user_id, token, expires_at)))
		goto out;
	if ((err = store_commit(c))) {
		err = store_fail(c, job, err);
		goto out;
	}
	backup_b64 = em_b64_encode(backup, sizeof(backup));
	job->result = json_pack("{sssssoss}", "token", token, "expires_at", expires_at, "user",
	                        model_user(r, 0, 0), "key_backup", backup_b64 ? backup_b64 : "");
	if (!job->result)
		err = db_job_fail(job, EM_ERR_NOMEM, NULL);
	else
		log_info("auth login user_id=%lld addr=%s", (long long)job->out_user_id, job->addr);
out:
	PQclear(r);
	free(backup_b64);
	sodium_memzero(token, sizeof(token));
	sodium_memzero(auth_key, sizeof(auth_key));
	return err;
}

/* Fills the job's login outputs and result from a session row (st_session_by_*). */
static int session_result(struct db_job *job, const PGresult *r)
{
	job->out_session_id = store_int(r, 0, 0);
	job->out_user_id = store_int(r, 0, 2);
	snprintf(job->out_username, sizeof(job->out_username), "%s", store_str(r, 0, 3));
	snprintf(job->out_role, sizeof(job->out_role), "%s", store_str(r, 0, 5));
	job->result =
	    json_pack("{soss}", "user", model_user(r, 0, 2), "expires_at", store_str(r, 0, 1));
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int auth_resume_run(struct db_conn *c, struct db_job *job)
{
	const char *token = job_str(job, "token");
	unsigned char token_hash[32];
	struct params p = {0};
	PGresult *r;
	int err;

	store_hash(token, strlen(token), token_hash);
	params_bin(&p, token_hash, 32);
	r = store_exec(c, &st_session_by_token, &p, &err, NULL);
	if (!r)
		return store_fail(c, job, err);
	if (PQntuples(r) != 1) {
		PQclear(r);
		return db_job_fail(job, EM_ERR_SESSION_EXPIRED, NULL);
	}
	err = session_result(job, r);
	PQclear(r);
	if (!err && (err = mentor_seat_load(c, job)))
		err = store_fail(c, job, err);
	return err;
}

int auth_logout_run(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, job->session_id);
	r = store_exec(c, &st_session_revoke, &p, &err, NULL);
	if (!r)
		return store_fail(c, job, err);
	PQclear(r);
	announce_session_ended(c, job->user_id, job->session_id);
	job->finished = auth_logout_finished;
	job->result = json_object();
	return EM_OK;
}

int auth_whoami_run(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	PGresult *r;
	json_t *programmes;
	int err;

	params_int(&p, job->session_id);
	r = store_exec(c, &st_session_by_id, &p, &err, NULL);
	if (!r)
		return store_fail(c, job, err);
	if (PQntuples(r) != 1) {
		PQclear(r);
		return db_job_fail(job, EM_ERR_SESSION_EXPIRED, NULL);
	}
	err = session_result(job, r);
	PQclear(r);
	if (err)
		return err;
	programmes = programmes_of_user(c, job->user_id, &err);
	if (!programmes)
		return store_fail(c, job, err);
	json_object_set_new(job->result, "programmes", programmes);
	return EM_OK;
}

int auth_passwd_run(struct db_conn *c, struct db_job *job)
{
	unsigned char auth_key[32], new_key[32], new_hash[32], stored[32], salt[16],
	    backup[EM_KEY_BACKUP_BYTES];
	char addr[ADDR_KEY_MAX];
	struct params p = {0};
	PGresult *r;
	int err, ok;
	long long revoked;

	job_bin(job, "auth_key", auth_key, sizeof(auth_key));
	job_bin(job, "new_auth_key", new_key, sizeof(new_key));
	job_bin(job, "salt", salt, sizeof(salt));
	job_bin(job, "key_backup", backup, sizeof(backup));
	store_hash(new_key, 32, new_hash);
	sodium_memzero(new_key, sizeof(new_key));

	if ((err = store_begin(c)))
		goto fail;
	/* a stolen session must not become a password-guessing oracle */
	addr_key(job->addr, addr, sizeof(addr));
	if ((err = login_gate(c, job, job->username, addr))) {
		sodium_memzero(auth_key, sizeof(auth_key));
		return err;
	}
	params_int(&p, job->user_id);
	r = store_exec(c, &st_user_secret, &p, &err, NULL);
	if (!r)
		goto fail;
	ok = PQntuples(r) == 1 && store_bytea(r, 0, 1, stored, 32) == 32 &&
	     auth_key_matches(auth_key, stored);
	PQclear(r);
	sodium_memzero(auth_key, sizeof(auth_key));
	if (!ok) {
		if ((err = record_attempt(c, job->username, addr, 0)) || (err = store_commit(c)))
			goto fail;
		return db_job_fail(job, EM_ERR_BAD_CREDENTIALS, "the current password is wrong");
	}
	memset(&p, 0, sizeof(p));
	params_int(&p, job->user_id);
	params_bin(&p, salt, 16);
	params_int(&p, job_int(job, "opslimit", 0));
	params_int(&p, job_int(job, "memlimit", 0));
	params_bin(&p, new_hash, 32);
	params_bin(&p, backup, sizeof(backup));
	if (!(r = store_exec(c, &st_user_rekey, &p, &err, NULL)))
		goto fail;
	PQclear(r);
	memset(&p, 0, sizeof(p));
	params_int(&p, job->user_id);
	params_int(&p, job->session_id);
	if (!(r = store_exec(c, &st_sessions_revoke_others, &p, &err, NULL)))
		goto fail;
	revoked = atoll(PQcmdTuples(r));
	PQclear(r);
	if ((err = store_commit(c)))
		goto fail;
	announce_sessions_revoked(c, job->user_id, job->session_id);
	job->finished = auth_passwd_finished;
	log_info("auth password changed user_id=%lld revoked_sessions=%lld",
	         (long long)job->user_id, revoked);
	job->result = json_pack("{sI}", "revoked_sessions", (json_int_t)revoked);
	return EM_OK;
fail:
	sodium_memzero(auth_key, sizeof(auth_key));
	return store_fail(c, job, err);
}

/* ---- the session sweep ----------------------------------------------------------- */
/*
 * At every scheduler tick the service thread asks the database which of the
 * sessions its connections are authenticated with have ended — revoked by a
 * logout or passwd elsewhere, expired, or deleted with an erased account —
 * and closes those connections: 4003 for an erased account, 4004 otherwise.
 * Logout, passwd and erasure close connections at once on every node (NOTIFY
 * k, K, x); the sweep catches what a node missed while its LISTEN link was
 * down, and expiry, which nobody announces. One indexed query per tick.
 */

static const struct stmt st_sessions_ended = {
    "auth_sessions_ended",
    "SELECT x.sid, u.erased_at IS NOT NULL "
    "FROM unnest($1::bigint[], $2::bigint[]) AS x(sid, uid) "
    "LEFT JOIN sessions s ON s.id = x.sid AND s.user_id = x.uid "
    "LEFT JOIN users u ON u.id = x.uid "
    "WHERE s.id IS NULL OR s.revoked_at IS NOT NULL OR s.expires_at <= now()"};

int session_sweep_run(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	json_t *ended;
	PGresult *r;
	int err;

	params_text(&p, job_str(job, "sids"));
	params_text(&p, job_str(job, "uids"));
	if (!(r = store_exec(c, &st_sessions_ended, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	ended = json_array();
	for (int i = 0; ended && i < PQntuples(r); i++)
		json_array_append_new(
		    ended, json_pack("[I,b]", (json_int_t)store_int(r, i, 0), store_bool(r, i, 1)));
	PQclear(r);
	if (!ended)
		return db_job_fail(job, EM_ERR_NOMEM, NULL);
	job->result = ended;
	return EM_OK;
}

/* ---- for handle_recovery.c: the login limits and the key check, shared ---------------- */

int auth_gate(struct db_conn *c, struct db_job *job, const char *username, const char *addr)
{
	return login_gate(c, job, username, addr);
}

int auth_attempt(struct db_conn *c, const char *username, const char *addr, int ok)
{
	return record_attempt(c, username, addr, ok);
}

int auth_hash_matches(const unsigned char key[32], const unsigned char stored[32])
{
	return auth_key_matches(key, stored);
}
