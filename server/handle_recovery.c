/*
 * handle_recovery.c - recovery codes (docs/PROTOCOL.md "Recovery code"):
 * recovery.set (a logged-in user, with the current password's auth key,
 * stores a new code's hash and key backup), recovery.open and recovery.reset
 * (before login: the code's auth key gets the recovery backup, then sets a
 * new password), and register's check that a code comes whole (register
 * itself, in handle_auth.c, stores it).
 * Runs on the DB workers.
 *
 * The server never sees the code: it stores BLAKE2b(recovery auth key) and a
 * backup it cannot open, exactly as for the password. Every attempt goes
 * through the login limits (auth_gate, auth_attempt) under the account's
 * name, so a code can be tried no faster than a password; a wrong code and an
 * unknown account get the same answer. A reset changes the password only:
 * the keys stay (the client re-seals the same keys), so nobody's rooms or
 * pins change; every session of the account ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "addr.h"
#include "announce.h"
#include "handlers.h"
#include "log.h"
#include "model.h"
#include "store.h"

static const struct stmt st_rec_save = {
    "recovery_save", "UPDATE users SET recovery_hash = $2, recovery_backup = $3, "
                     "recovery_set_at = now() WHERE id = $1 AND erased_at IS NULL"};

static const struct stmt st_rec_user = {
    "recovery_user", "SELECT id, recovery_hash, recovery_backup FROM users WHERE username = $1 "
                     "AND erased_at IS NULL AND recovery_hash IS NOT NULL FOR UPDATE"};

static const struct stmt st_rec_secret = {
    "recovery_secret", "SELECT username, auth_hash FROM users WHERE id = $1 FOR UPDATE"};

static const struct stmt st_rec_rekey = {
    "recovery_rekey",
    "UPDATE users SET kdf_salt = $2, kdf_opslimit = $3, kdf_memlimit = $4, auth_hash = $5, "
    "key_backup = $6 WHERE id = $1"};

static const struct stmt st_rec_revoke = {
    "recovery_revoke",
    "UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL"};

/* Pure (service thread): register's recovery_auth and recovery_backup come together or not at all.
 */
int recovery_register_check(const struct session *s, struct db_job *job)
{
	(void)s;
	if (!json_object_get(job->args, "recovery_auth") !=
	    !json_object_get(job->args, "recovery_backup"))
		return db_job_fail(job, EM_ERR_BAD_VALUE,
		                   "recovery_auth and recovery_backup go together");
	return EM_OK;
}

int recovery_set_run(struct db_conn *c, struct db_job *job)
{
	unsigned char auth_key[32], stored[32], rec_auth[32], hash[32], backup[EM_KEY_BACKUP_BYTES];
	char addr[ADDR_KEY_MAX];
	struct params p = {0};
	PGresult *r;
	int err, ok;

	job_bin(job, "auth_key", auth_key, sizeof(auth_key));
	job_bin(job, "recovery_auth", rec_auth, sizeof(rec_auth));
	job_bin(job, "recovery_backup", backup, sizeof(backup));
	store_hash(rec_auth, sizeof(rec_auth), hash);
	sodium_memzero(rec_auth, sizeof(rec_auth));
	if ((err = store_begin(c)))
		goto fail;
	/* as passwd: a stolen session must not become a password-guessing oracle */
	addr_key(job->addr, addr, sizeof(addr));
	if ((err = auth_gate(c, job, job->username, addr))) {
		sodium_memzero(auth_key, sizeof(auth_key));
		return err;
	}
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_rec_secret, &p, &err, NULL)))
		goto fail;
	ok = PQntuples(r) == 1 && store_bytea(r, 0, 1, stored, 32) == 32 &&
	     auth_hash_matches(auth_key, stored);
	PQclear(r);
	sodium_memzero(auth_key, sizeof(auth_key));
	if (!ok) {
		if ((err = auth_attempt(c, job->username, addr, 0)) || (err = store_commit(c)))
			goto fail;
		return db_job_fail(job, EM_ERR_BAD_CREDENTIALS, "the current password is wrong");
	}
	p.n = 0;
	params_int(&p, job->user_id);
	params_bin(&p, hash, sizeof(hash));
	params_bin(&p, backup, sizeof(backup));
	if ((err = store_run(c, &st_rec_save, &p)) || (err = store_commit(c)))
		goto fail;
	log_info("auth recovery code set user_id=%lld", (long long)job->user_id);
	job->result = json_object();
	return EM_OK;
fail:
	sodium_memzero(auth_key, sizeof(auth_key));
	return store_fail(c, job, err);
}

/*
 * Both pre-login ops: the limits, then the account with a code, locked, if
 * the code's auth key matches. Returns EM_OK with *user_id set and *r the row
 * (id, hash, backup; the caller PQclear()s it), or a failed job (the
 * transaction rolled back, or committed with the failed attempt recorded).
 */
static int recovery_check(struct db_conn *c, struct db_job *job, char username[], int64_t *user_id,
                          PGresult **r)
{
	unsigned char rec_auth[32], stored[32];
	char addr[ADDR_KEY_MAX];
	struct params p = {0};
	int err, ok;

	*r = NULL;
	em_username_fold(job_str(job, "username"), username);
	job_bin(job, "recovery_auth", rec_auth, sizeof(rec_auth));
	if ((err = store_begin(c))) {
		sodium_memzero(rec_auth, sizeof(rec_auth));
		return store_fail(c, job, err);
	}
	addr_key(job->addr, addr, sizeof(addr));
	if ((err = auth_gate(c, job, username, addr))) {
		sodium_memzero(rec_auth, sizeof(rec_auth));
		return err;
	}
	params_text(&p, username);
	if (!(*r = store_exec(c, &st_rec_user, &p, &err, NULL))) {
		sodium_memzero(rec_auth, sizeof(rec_auth));
		return store_fail(c, job, err);
	}
	ok = PQntuples(*r) == 1 && store_bytea(*r, 0, 1, stored, 32) == 32 &&
	     auth_hash_matches(rec_auth, stored);
	sodium_memzero(rec_auth, sizeof(rec_auth));
	if (!ok) {
		PQclear(*r);
		*r = NULL;
		if ((err = auth_attempt(c, username, addr, 0)) || (err = store_commit(c)))
			return store_fail(c, job, err);
		log_info("auth recovery refused addr=%s", addr);
		return db_job_fail(job, EM_ERR_BAD_CREDENTIALS,
		                   "wrong username or recovery code (or no code was set)");
	}
	*user_id = store_int(*r, 0, 0);
	return EM_OK;
}

int recovery_open_run(struct db_conn *c, struct db_job *job)
{
	char username[EM_USERNAME_MAX + 1];
	unsigned char backup[EM_KEY_BACKUP_BYTES];
	int64_t user_id;
	PGresult *r;
	int err;

	if ((err = recovery_check(c, job, username, &user_id, &r)) != EM_OK)
		return err;
	if (store_bytea(r, 0, 2, backup, sizeof(backup)) != (int)sizeof(backup)) {
		PQclear(r);
		return store_fail(c, job, EM_ERR_INTERNAL);
	}
	PQclear(r);
	store_rollback(c); /* nothing to record: the reset records the attempt */
	job->result = json_pack("{so}", "recovery_backup", model_b64(backup, sizeof(backup)));
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int recovery_reset_run(struct db_conn *c, struct db_job *job)
{
	char username[EM_USERNAME_MAX + 1], addr[ADDR_KEY_MAX];
	unsigned char new_key[32], new_hash[32], salt[16], backup[EM_KEY_BACKUP_BYTES];
	struct params p = {0};
	long long revoked;
	int64_t user_id;
	PGresult *r;
	int err;

	if ((err = recovery_check(c, job, username, &user_id, &r)) != EM_OK)
		return err;
	PQclear(r);
	job_bin(job, "new_auth_key", new_key, sizeof(new_key));
	job_bin(job, "salt", salt, sizeof(salt));
	job_bin(job, "key_backup", backup, sizeof(backup));
	store_hash(new_key, sizeof(new_key), new_hash);
	sodium_memzero(new_key, sizeof(new_key));
	params_int(&p, user_id);
	params_bin(&p, salt, sizeof(salt));
	params_int(&p, job_int(job, "opslimit", 0));
	params_int(&p, job_int(job, "memlimit", 0));
	params_bin(&p, new_hash, sizeof(new_hash));
	params_bin(&p, backup, sizeof(backup));
	if ((err = store_run(c, &st_rec_rekey, &p)))
		return store_fail(c, job, err);
	p.n = 0;
	params_int(&p, user_id);
	if (!(r = store_exec(c, &st_rec_revoke, &p, &err, NULL)))
		return store_fail(c, job, err);
	revoked = atoll(PQcmdTuples(r));
	PQclear(r);
	addr_key(job->addr, addr, sizeof(addr));
	if ((err = auth_attempt(c, username, addr, 1)) || (err = store_commit(c)))
		return store_fail(c, job, err);
	announce_sessions_revoked(c, user_id, 0);
	/* the service thread closes the account's connections on this node (4004) */
	job->user_id = user_id;
	job->session_id = 0;
	job->finished = auth_passwd_finished;
	log_info("auth password reset with a recovery code user_id=%lld revoked_sessions=%lld",
	         (long long)user_id, revoked);
	job->result = json_pack("{sI}", "revoked_sessions", (json_int_t)revoked);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}
