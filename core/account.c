/*
 * account.c - the account commands of the client core: `privacy` (the
 * server's privacy notice in a language asked for, its hash checked), `register`, `login`,
 * `passwd`, `logout`, the recovery code: `recovery` (a new code) and `recover` (a new password with
 * the code), and `reset` (a new password and a new identity with a code a manager issued:
 * PROTOCOL.md "Identity reset"). This is where the key scheme of PROTOCOL.md ("Account keys")
 * lives: the password is turned into auth_key (sent) and wrap_key (kept) with Argon2id over its
 * Unicode NFC form, the private keys are generated here at registration, locked with wrap_key for
 * the server to store, and unlocked again at every login. Nothing the server answers is taken on
 * its word: the key backup must open with our wrap_key for our own (folded) username, the public
 * keys the server lists for us must be the ones inside it, the key derivation cost it asks for must
 * be within bounds, and the privacy notice must hash to the hash it comes with. session.json and
 * keys.json are written through the host's storage in the layout the CLI has always written, so
 * existing homes keep working.
 *
 * DESIGN. Each command is one task that asks one thing at a time (`stage`)
 * and keeps the answer until its step looks at it. The secrets a task holds
 * (passwords, derived keys, private keys, the backup) live in one
 * sodium_malloc'd block, wiped when the task ends, whatever way it ends. The
 * password arrives in the command's JSON: the core copies it and wipes the
 * string in the parsed command at once; the host wipes the text it passed.
 * Argon2id runs inside a step (about a second and 64 MiB at the defaults):
 * the core has no thread of its own, so a host with a user interface thread
 * runs the core off it. The server only accepts prelogin, login and register
 * on a link that is not authenticated: login and register keep the core
 * from resuming the stored session (c->fresh_link), and passwd sends its
 * prelogin before the resume (emc_request_preauth()).
 * Threads: the host's, one at a time (emc.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core.h"

#define ACCT_PASSWORD_MAX 1024 /* bytes, as the CLI's prompt */
#define ACCT_PASSWORD_MIN 8    /* bytes, for a new password */

enum acct_kind {
	ACCT_PRIVACY,
	ACCT_LOGIN,
	ACCT_REGISTER,
	ACCT_PASSWD,
	ACCT_LOGOUT,
	ACCT_RECOVERY, /* a new recovery code, while logged in */
	ACCT_RECOVER,  /* a new password with the recovery code, before login */
	ACCT_RESET,    /* a new password and new keys with a manager's reset code */
};

/* Key derivation parameters (prelogin's, or fresh ones for a new password). */
struct acct_kdf {
	unsigned char salt[EM_SALT_BYTES];
	uint64_t opslimit;
	uint64_t memlimit;
};

/* Everything secret a task holds; wiped as a block. */
struct acct_secrets {
	char password[ACCT_PASSWORD_MAX + 1];
	char new_password[ACCT_PASSWORD_MAX + 1];
	unsigned char auth_key[EM_KEY_BYTES];
	unsigned char wrap_key[EM_KEY_BYTES];
	unsigned char new_auth_key[EM_KEY_BYTES];
	unsigned char new_wrap_key[EM_KEY_BYTES];
	struct em_keys keys;
	unsigned char backup[EM_BACKUP_BYTES];
	unsigned char rcode[EM_RECOVERY_BYTES]; /* the recovery code */
	unsigned char rec_auth[EM_KEY_BYTES];
	unsigned char rec_wrap[EM_KEY_BYTES];
	unsigned char rec_backup[EM_BACKUP_BYTES];
	char rcode_text[EM_RECOVERY_STRLEN];
	unsigned char reset_code[EM_RESET_CODE_BYTES]; /* a manager's reset code */
};

/* A task's own state (struct emc_task's data). */
struct acct {
	enum acct_kind kind;
	int stage;
	int answered;
	struct em_incoming reply; /* the last answer, owned */
	struct emc *core;         /* whose fresh_link counts this task */
	int fresh;                /* counted in core->fresh_link */
	char server[512];
	char username[EM_USERNAME_MAX + 1];
	char display_name[EM_DISPLAY_NAME_MAX * 4 + 1];
	char invite[EM_INVITE_CODE_MAX + 1];
	char privacy_version[EM_CONSENT_STR_MAX + 1];
	char lang[3]; /* privacy: the language asked for ("" for the server's default) */
	unsigned char privacy_hash[EM_HASH_BYTES];
	struct acct_kdf kdf, new_kdf;
	json_t *registered; /* register's result, once the account exists */
	struct acct_secrets *sec;
};

/* ---- shared ---- */

/* The answer to the task's request (aux is the task id): kept for its step. */
static void acct_reply(struct emc *c, int64_t room, int64_t task, struct em_incoming *in)
{
	struct emc_task *t = emc_task_find(c, task);
	struct acct *a;

	(void)room;
	if (!t || t->done)
		return;
	a = t->data;
	emc_reply_copy(&a->reply, in);
	a->answered = 1;
}

/* Sends the task's next request (takes args). Returns EMC_PENDING or EMC_FAILED. */
static int acct_ask(struct emc *c, struct emc_task *t, enum em_op op, json_t *args, int preauth)
{
	struct acct *a = t->data;
	int64_t id;

	em_incoming_clear(&a->reply);
	a->answered = 0;
	a->stage++;
	id = preauth ? emc_request_preauth(c, op, args, acct_reply, 0, t->id)
	             : emc_request(c, op, args, acct_reply, 0, t->id);
	if (id < 0)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	return EMC_PENDING;
}

/*
 * Where the task's last request stands: EMC_PENDING while it is unanswered,
 * EMC_FAILED (the server's error set on t) when it was refused, EMC_DONE when
 * a->reply.result holds the answer.
 */
static int acct_answer(struct emc_task *t)
{
	struct acct *a = t->data;

	if (!a->answered)
		return EMC_PENDING;
	if (!a->reply.result)
		return emc_fail_reply(t, &a->reply);
	return EMC_DONE;
}

static void acct_free(struct emc_task *t)
{
	struct acct *a = t->data;

	if (!a)
		return;
	em_incoming_clear(&a->reply);
	json_decref(a->registered);
	if (a->sec) {
		sodium_memzero(a->sec, sizeof(*a->sec));
		sodium_free(a->sec);
	}
	sodium_memzero(a, sizeof(*a));
	free(a);
}

/*
 * A JSON string holding base64url of bin; the intermediate text is wiped.
 * Who frees: the caller (usually json_pack's "o", which takes it).
 */
static json_t *acct_b64(const unsigned char *bin, size_t len)
{
	char *text = em_b64_encode(bin, len);
	json_t *s;

	if (!text)
		return NULL;
	s = json_string(text);
	sodium_memzero(text, strlen(text));
	free(text);
	return s;
}

/*
 * Copies the string member `key` of cmd into out (size len) and wipes it in
 * cmd. Returns its length, -1 when absent, -2 when too long.
 */
static int acct_take_secret(json_t *cmd, const char *key, char *out, size_t len)
{
	json_t *v = json_object_get(cmd, key);
	char *p = v && json_is_string(v) ? (char *)json_string_value(v) : NULL;
	size_t n = p ? json_string_length(v) : 0;
	int rc;

	if (!p)
		return -1;
	if (n >= len || memchr(p, '\0', n)) {
		rc = -2;
	} else {
		memcpy(out, p, n);
		out[n] = '\0';
		rc = (int)n;
	}
	sodium_memzero(p, n); /* the parsed command's copy; jansson owns the buffer */
	return rc;
}

/* Argon2id of the password's NFC form. Returns 0 or EMC_FAILED (t's error set). */
static int acct_derive(struct emc_task *t, const char *password, const struct acct_kdf *kdf,
                       unsigned char auth_key[EM_KEY_BYTES], unsigned char wrap_key[EM_KEY_BYTES])
{
	int rc = em_kdf_derive_password(password, strlen(password), kdf->salt, kdf->opslimit,
	                                kdf->memlimit, auth_key, wrap_key);

	if (rc == EM_PASSWORD_NOT_UTF8)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "%s", em_password_strerror(rc));
	if (rc != EM_PASSWORD_OK)
		return emc_fail(t, EMC_EXIT_LOCAL, 0,
		                "not enough memory to derive the keys from the password "
		                "(Argon2id needs %llu MiB)",
		                (unsigned long long)(kdf->memlimit >> 20));
	return 0;
}

/* Fresh salt and this client's default cost, for a new password. */
static void acct_kdf_new(struct acct_kdf *kdf)
{
	randombytes_buf(kdf->salt, sizeof(kdf->salt));
	kdf->opslimit = EM_KDF_OPSLIMIT_DEFAULT;
	kdf->memlimit = EM_KDF_MEMLIMIT_DEFAULT;
}

/* prelogin's answer, bounded (a hostile server could ask for terabytes). 0 or EMC_FAILED. */
static int acct_prelogin_apply(struct emc_task *t, json_t *res, struct acct_kdf *kdf)
{
	const char *salt = json_string_value(json_object_get(res, "salt"));
	const char *alg = json_string_value(json_object_get(res, "alg"));
	json_t *ops = json_object_get(res, "opslimit");
	json_t *mem = json_object_get(res, "memlimit");

	if (!salt || em_b64_decode(salt, kdf->salt, sizeof(kdf->salt)) != (int)sizeof(kdf->salt) ||
	    !alg || strcmp(alg, "argon2id13") != 0 || !json_is_integer(ops) ||
	    !json_is_integer(mem) || json_integer_value(ops) < EM_KDF_OPSLIMIT_MIN ||
	    json_integer_value(ops) > EM_KDF_OPSLIMIT_MAX ||
	    json_integer_value(mem) < (json_int_t)EM_KDF_MEMLIMIT_MIN ||
	    json_integer_value(mem) > (json_int_t)EM_KDF_MEMLIMIT_MAX)
		return emc_fail(t, EMC_EXIT_NET, 0,
		                "the server sent unusable key derivation parameters");
	kdf->opslimit = (uint64_t)json_integer_value(ops);
	kdf->memlimit = (uint64_t)json_integer_value(mem);
	return 0;
}

/* A user's base64url public key field; 0 or -1. */
static int acct_user_key(json_t *user, const char *field, unsigned char out[32])
{
	const char *v = json_string_value(json_object_get(user, field));

	return v && em_b64_decode(v, out, 32) == 32 ? 0 : -1;
}

/*
 * keys.json, built by hand as the CLI always wrote it, so that no copy of
 * the secret keys is left in a JSON library's heap. 0 or -errno.
 */
static int acct_keys_save(struct emc *c, const char *username, const struct em_keys *k)
{
	char *sign_pk = em_b64_encode(k->sign_pk, sizeof(k->sign_pk));
	char *sign_sk = em_b64_encode(k->sign_sk, sizeof(k->sign_sk));
	char *box_pk = em_b64_encode(k->box_pk, sizeof(k->box_pk));
	char *box_sk = em_b64_encode(k->box_sk, sizeof(k->box_sk));
	char text[1024];
	int n, rc = -ENOMEM;

	if (!sign_pk || !sign_sk || !box_pk || !box_sk)
		goto out;
	/* neither a checked username nor base64url needs escaping */
	if (em_check_username(username) != EM_OK) {
		rc = -EINVAL;
		goto out;
	}
	n = snprintf(text, sizeof(text),
	             "{\n  \"username\": \"%s\",\n  \"sign_pk\": \"%s\",\n  \"sign_sk\": \"%s\",\n"
	             "  \"box_pk\": \"%s\",\n  \"box_sk\": \"%s\"\n}\n",
	             username, sign_pk, sign_sk, box_pk, box_sk);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		rc = -EOVERFLOW;
		goto out;
	}
	if (c->st.lock && (rc = c->st.lock(c->st.ctx)) < 0)
		goto out;
	rc = c->st.save(c->st.ctx, "keys.json", text, (size_t)n);
	if (c->st.unlock)
		c->st.unlock(c->st.ctx);
out:
	sodium_memzero(text, sizeof(text));
	if (sign_sk)
		sodium_memzero(sign_sk, strlen(sign_sk));
	if (box_sk)
		sodium_memzero(box_sk, strlen(box_sk));
	free(sign_pk);
	free(sign_sk);
	free(box_pk);
	free(box_sk);
	return rc;
}

/* session.json's new content, and whose login it replaced. */
struct acct_session {
	const struct home_session_core *hs;
	char replaced[EM_USERNAME_MAX + 1];
};

static int acct_session_fn(json_t *root, void *arg)
{
	struct acct_session *as = arg;
	const char *old = json_string_value(json_object_get(root, "username"));

	if (old && strcmp(old, as->hs->username) != 0)
		snprintf(as->replaced, sizeof(as->replaced), "%s", old);
	json_object_clear(root);
	if (json_object_set_new(root, "server", json_string(as->hs->server)) ||
	    json_object_set_new(root, "username", json_string(as->hs->username)) ||
	    json_object_set_new(root, "user_id", json_integer(as->hs->user_id)) ||
	    json_object_set_new(root, "role", json_string(as->hs->role)) ||
	    json_object_set_new(root, "token", json_string(as->hs->token)) ||
	    json_object_set_new(root, "expires_at", json_string(as->hs->expires_at)))
		return -ENOMEM;
	return 1;
}

/* ---- login (also the end of register) ---- */

/* login with the derived auth_key. */
static int acct_login_send(struct emc *c, struct emc_task *t)
{
	struct acct *a = t->data;

	return acct_ask(c, t, EM_OP_LOGIN,
	                json_pack("{s:s, s:o}", "username", a->username, "auth_key",
	                          acct_b64(a->sec->auth_key, sizeof(a->sec->auth_key))),
	                0);
}

/*
 * login's answer: open the key backup with wrap_key, check the keys are the
 * ones the server publishes for this user, save keys.json and session.json
 * and take them as this core's account. A session we will not keep (the
 * keys do not check) is ended at once. The result is login's without its
 * secrets (token, key_backup), with "fingerprint" and, when another user's
 * login was replaced, "replaced".
 */
static int acct_login_finish(struct emc *c, struct emc_task *t)
{
	struct acct *a = t->data;
	struct acct_secrets *sec = a->sec;
	struct acct_session as;
	struct home_session_core hs;
	unsigned char sign_pk[32], box_pk[32];
	char fp[EM_FINGERPRINT_STRLEN];
	json_t *res = a->reply.result, *user, *id, *result = NULL;
	const char *token, *expires, *backup_b64, *role;
	int rc;

	memset(&hs, 0, sizeof(hs));
	user = json_object_get(res, "user");
	id = json_object_get(user, "id");
	token = json_string_value(json_object_get(res, "token"));
	expires = json_string_value(json_object_get(res, "expires_at"));
	backup_b64 = json_string_value(json_object_get(res, "key_backup"));
	role = json_string_value(json_object_get(user, "role"));
	if (!json_is_integer(id) || json_integer_value(id) < 1 || !token || !*token ||
	    strlen(token) > EM_TOKEN_MAX || !expires || strlen(expires) >= sizeof(hs.expires_at) ||
	    acct_user_key(user, "sign_pk", sign_pk) || acct_user_key(user, "box_pk", box_pk)) {
		emc_send_only(c, EM_OP_LOGOUT, NULL);
		rc = emc_fail(t, EMC_EXIT_NET, 0, "the server's answer to login is incomplete");
		goto out;
	}
	/* The backup is sealed to the folded username: use our own, not the server's. */
	if (!backup_b64 ||
	    em_b64_decode(backup_b64, sec->backup, sizeof(sec->backup)) !=
	        (int)sizeof(sec->backup) ||
	    em_keys_unwrap(&sec->keys, sec->wrap_key, a->username, sec->backup,
	                   sizeof(sec->backup)) != 0) {
		emc_send_only(c, EM_OP_LOGOUT, NULL);
		rc = emc_fail(t, EMC_EXIT_REFUSED, 0,
		              "could not unlock your keys: the key backup the server holds does "
		              "not open with this password. Nothing was saved; report this to your "
		              "programme's operator.");
		goto out;
	}
	if (sodium_memcmp(sign_pk, sec->keys.sign_pk, 32) != 0 ||
	    sodium_memcmp(box_pk, sec->keys.box_pk, 32) != 0) {
		emc_send_only(c, EM_OP_LOGOUT, NULL);
		rc = emc_fail(t, EMC_EXIT_REFUSED, 0,
		              "could not unlock your keys: the server publishes other public keys "
		              "for %s than the ones in your key backup. Nothing was saved; report "
		              "this to your programme's operator.",
		              a->username);
		goto out;
	}
	rc = acct_keys_save(c, a->username, &sec->keys);
	if (rc) {
		rc = emc_fail(t, EMC_EXIT_LOCAL, 0, "cannot write keys.json: %s", strerror(-rc));
		goto out;
	}
	snprintf(hs.server, sizeof(hs.server), "%s", a->server);
	snprintf(hs.username, sizeof(hs.username), "%s", a->username);
	hs.user_id = json_integer_value(id);
	snprintf(hs.role, sizeof(hs.role), "%s",
	         role && strlen(role) < sizeof(hs.role) ? role : "?");
	snprintf(hs.token, sizeof(hs.token), "%s", token);
	snprintf(hs.expires_at, sizeof(hs.expires_at), "%s", expires);
	memset(&as, 0, sizeof(as));
	as.hs = &hs;
	rc = emc_doc_update(c, "session.json", acct_session_fn, &as, NULL);
	if (rc < 0) {
		rc = emc_fail(t, EMC_EXIT_LOCAL, 0, "cannot write session.json: %s", strerror(-rc));
		goto out;
	}
	/* this core's account from now on; the link is authenticated with it */
	emc_account_load(c);
	c->resume_sent = 1;
	em_fingerprint(sec->keys.sign_pk, sec->keys.box_pk, fp);
	result = json_deep_copy(res);
	if (!result) {
		rc = emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		goto out;
	}
	json_object_del(result, "token");
	json_object_del(result, "key_backup");
	json_object_set_new(result, "fingerprint", json_string(fp));
	if (as.replaced[0])
		json_object_set_new(result, "replaced", json_string(as.replaced));
	t->result = result;
	rc = EMC_DONE;
out:
	sodium_memzero(&hs, sizeof(hs));
	/* the token in the answer is a secret too */
	if (token)
		sodium_memzero((char *)token, strlen(token));
	return rc;
}

static int acct_login_step(struct emc *c, struct emc_task *t)
{
	struct acct *a = t->data;
	int rc;

	switch (a->stage) {
	case 0:
		return acct_ask(c, t, EM_OP_PRELOGIN, json_pack("{s:s}", "username", a->username),
		                0);
	case 1:
		if ((rc = acct_answer(t)) != EMC_DONE)
			return rc;
		if (acct_prelogin_apply(t, a->reply.result, &a->kdf))
			return EMC_FAILED;
		rc = acct_derive(t, a->sec->password, &a->kdf, a->sec->auth_key, a->sec->wrap_key);
		sodium_memzero(a->sec->password, sizeof(a->sec->password));
		if (rc)
			return rc;
		return acct_login_send(c, t);
	default:
		if ((rc = acct_answer(t)) != EMC_DONE)
			return rc;
		return acct_login_finish(c, t);
	}
}

/* ---- recovery codes ---- */

/* A new recovery code for the keys in a->sec->keys: the code, its keys, the backup under it. */
static void acct_recovery_new(struct acct *a)
{
	struct acct_secrets *sec = a->sec;

	randombytes_buf(sec->rcode, sizeof(sec->rcode));
	em_recovery_format(sec->rcode, sec->rcode_text);
	em_recovery_keys(sec->rcode, sec->rec_auth, sec->rec_wrap);
	em_keys_wrap(&sec->keys, sec->rec_wrap, a->username, sec->rec_backup);
}

/*
 * recovery: prelogin before the resume, the password's auth key (the server
 * wants it, as for passwd: a stolen session must not set a code), a new code
 * for this device's keys, recovery.set. Result {"recovery_code"}: the host
 * shows it once; the code it replaces stops working.
 */
static int acct_recovery_step(struct emc *c, struct emc_task *t)
{
	struct acct *a = t->data;
	struct acct_secrets *sec = a->sec;
	int rc;

	switch (a->stage) {
	case 0:
		return acct_ask(c, t, EM_OP_PRELOGIN, json_pack("{s:s}", "username", a->username),
		                1);
	case 1:
		if ((rc = acct_answer(t)) != EMC_DONE)
			return rc;
		if (acct_prelogin_apply(t, a->reply.result, &a->kdf))
			return EMC_FAILED;
		a->stage = 2; /* let the resume go out before Argon2id */
		t->wake_at_ms = emc_now(c) + 1;
		return EMC_PENDING;
	case 2:
		rc = acct_derive(t, sec->password, &a->kdf, sec->auth_key, sec->wrap_key);
		sodium_memzero(sec->password, sizeof(sec->password));
		if (rc)
			return rc;
		sec->keys = c->keys;
		acct_recovery_new(a);
		return acct_ask(
		    c, t, EM_OP_RECOVERY_SET,
		    json_pack("{s:o, s:o, s:o}", "auth_key",
		              acct_b64(sec->auth_key, sizeof(sec->auth_key)), "recovery_auth",
		              acct_b64(sec->rec_auth, sizeof(sec->rec_auth)), "recovery_backup",
		              acct_b64(sec->rec_backup, sizeof(sec->rec_backup))),
		    0);
	default:
		if ((rc = acct_answer(t)) != EMC_DONE)
			return rc;
		t->result = json_pack("{s:s}", "recovery_code", sec->rcode_text);
		return t->result ? EMC_DONE : emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	}
}

/*
 * recover: recovery.open with the code's auth key; the backup it returns
 * must open with the code's wrap key for our own folded username (a server
 * cannot make one that does: it never had the code); the new password's
 * keys; the same private keys sealed again under it; recovery.reset; then
 * login as usual, which checks the published public keys against the keys.
 */
static int acct_recover_step(struct emc *c, struct emc_task *t)
{
	struct acct *a = t->data;
	struct acct_secrets *sec = a->sec;
	const char *b64;
	int rc;

	switch (a->stage) {
	case 0:
		em_recovery_keys(sec->rcode, sec->rec_auth, sec->rec_wrap);
		return acct_ask(c, t, EM_OP_RECOVERY_OPEN,
		                json_pack("{s:s, s:o}", "username", a->username, "recovery_auth",
		                          acct_b64(sec->rec_auth, sizeof(sec->rec_auth))),
		                0);
	case 1:
		if ((rc = acct_answer(t)) != EMC_DONE)
			return rc;
		b64 = json_string_value(json_object_get(a->reply.result, "recovery_backup"));
		if (!b64 ||
		    em_b64_decode(b64, sec->rec_backup, sizeof(sec->rec_backup)) !=
		        (int)sizeof(sec->rec_backup) ||
		    em_keys_unwrap(&sec->keys, sec->rec_wrap, a->username, sec->rec_backup,
		                   sizeof(sec->rec_backup)) != 0)
			return emc_fail(
			    t, EMC_EXIT_REFUSED, 0,
			    "the key backup the server holds for your recovery code does "
			    "not open with it: nothing was changed; report this to your "
			    "programme's operator");
		acct_kdf_new(&a->kdf);
		rc = acct_derive(t, sec->new_password, &a->kdf, sec->auth_key, sec->wrap_key);
		sodium_memzero(sec->new_password, sizeof(sec->new_password));
		if (rc)
			return rc;
		em_keys_wrap(&sec->keys, sec->wrap_key, a->username, sec->backup);
		sodium_memzero(&sec->keys, sizeof(sec->keys)); /* login unlocks them again */
		return acct_ask(
		    c, t, EM_OP_RECOVERY_RESET,
		    json_pack("{s:s, s:o, s:o, s:I, s:I, s:o, s:o}", "username", a->username,
		              "recovery_auth", acct_b64(sec->rec_auth, sizeof(sec->rec_auth)),
		              "salt", acct_b64(a->kdf.salt, sizeof(a->kdf.salt)), "opslimit",
		              (json_int_t)a->kdf.opslimit, "memlimit", (json_int_t)a->kdf.memlimit,
		              "new_auth_key", acct_b64(sec->auth_key, sizeof(sec->auth_key)),
		              "key_backup", acct_b64(sec->backup, sizeof(sec->backup))),
		    0);
	case 2:
		if ((rc = acct_answer(t)) != EMC_DONE)
			return rc;
		a->registered = json_incref(a->reply.result); /* {"revoked_sessions"} */
		return acct_login_send(c, t);
	default:
		if ((rc = acct_answer(t)) != EMC_DONE)
			return rc;
		if ((rc = acct_login_finish(c, t)) == EMC_DONE)
			json_object_set(t->result, "revoked_sessions",
			                json_object_get(a->registered, "revoked_sessions"));
		return rc;
	}
}

/* ---- reset ---- */

/*
 * reset: new keys (the old ones are lost with the password: nothing can open
 * them again), the new password's keys, the new keys locked under it, a new
 * recovery code for them, reset.redeem with the manager's code; then login
 * as usual, which checks the published public keys against the new keys.
 * Result: login's, with "recovery_code", "revoked_sessions" and "rooms".
 */
static int acct_reset_step(struct emc *c, struct emc_task *t)
{
	struct acct *a = t->data;
	struct acct_secrets *sec = a->sec;
	int rc;

	switch (a->stage) {
	case 0:
		em_keys_generate(&sec->keys);
		acct_kdf_new(&a->kdf);
		rc = acct_derive(t, sec->new_password, &a->kdf, sec->auth_key, sec->wrap_key);
		sodium_memzero(sec->new_password, sizeof(sec->new_password));
		if (rc)
			return rc;
		em_keys_wrap(&sec->keys, sec->wrap_key, a->username, sec->backup);
		acct_recovery_new(a);
		rc = acct_ask(
		    c, t, EM_OP_RESET_REDEEM,
		    json_pack("{s:s, s:o, s:o, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "username",
		              a->username, "code",
		              acct_b64(sec->reset_code, sizeof(sec->reset_code)), "salt",
		              acct_b64(a->kdf.salt, sizeof(a->kdf.salt)), "opslimit",
		              (json_int_t)a->kdf.opslimit, "memlimit", (json_int_t)a->kdf.memlimit,
		              "auth_key", acct_b64(sec->auth_key, sizeof(sec->auth_key)), "sign_pk",
		              acct_b64(sec->keys.sign_pk, EM_SIGN_PK_BYTES), "box_pk",
		              acct_b64(sec->keys.box_pk, EM_BOX_PK_BYTES), "key_backup",
		              acct_b64(sec->backup, sizeof(sec->backup)), "recovery_auth",
		              acct_b64(sec->rec_auth, sizeof(sec->rec_auth)), "recovery_backup",
		              acct_b64(sec->rec_backup, sizeof(sec->rec_backup))),
		    0);
		sodium_memzero(sec->reset_code, sizeof(sec->reset_code));
		return rc;
	case 1:
		if ((rc = acct_answer(t)) != EMC_DONE)
			return rc;
		a->registered = json_incref(a->reply.result);  /* revoked_sessions, rooms */
		sodium_memzero(&sec->keys, sizeof(sec->keys)); /* login unlocks them again */
		return acct_login_send(c, t);
	default:
		if ((rc = acct_answer(t)) != EMC_DONE)
			return rc;
		if ((rc = acct_login_finish(c, t)) == EMC_DONE) {
			json_object_set(t->result, "revoked_sessions",
			                json_object_get(a->registered, "revoked_sessions"));
			json_object_set(t->result, "rooms",
			                json_object_get(a->registered, "rooms"));
			json_object_set_new(t->result, "recovery_code",
			                    json_string(sec->rcode_text));
		}
		return rc;
	}
}

/* ---- register ---- */

/*
 * Makes the keys, derives from the new password, locks the keys for the
 * server, signs the data-processing consent with the new signing key over
 * the privacy notice the user accepted (PROTOCOL.md 7.1), and registers;
 * then logs in on the same link with the same derived keys.
 */
static int acct_register_step(struct emc *c, struct emc_task *t)
{
	struct acct *a = t->data;
	struct acct_secrets *sec = a->sec;
	unsigned char sig[EM_SIG_BYTES];
	int64_t at;
	int rc;

	switch (a->stage) {
	case 0:
		em_keys_generate(&sec->keys);
		acct_kdf_new(&a->kdf);
		rc = acct_derive(t, sec->password, &a->kdf, sec->auth_key, sec->wrap_key);
		sodium_memzero(sec->password, sizeof(sec->password));
		if (rc)
			return rc;
		em_keys_wrap(&sec->keys, sec->wrap_key, a->username, sec->backup);
		acct_recovery_new(a);
		at = emc_now(c) / 1000;
		if (em_consent_sign(sec->keys.sign_pk, "data_processing", a->privacy_version,
		                    a->privacy_hash, "grant", at, sec->keys.sign_sk, sig) != 0)
			return emc_fail(t, EMC_EXIT_LOCAL, 0, "cannot sign the privacy consent");
		return acct_ask(
		    c, t, EM_OP_REGISTER,
		    json_pack(
		        "{s:s, s:s, s:s, s:o, s:I, s:I, s:o, s:o, s:o, s:o, s:s, s:I, s:o, s:o, "
		        "s:o}",
		        "invite", a->invite, "username", a->username, "display_name",
		        a->display_name, "salt", acct_b64(a->kdf.salt, sizeof(a->kdf.salt)),
		        "opslimit", (json_int_t)a->kdf.opslimit, "memlimit",
		        (json_int_t)a->kdf.memlimit, "auth_key",
		        acct_b64(sec->auth_key, sizeof(sec->auth_key)), "sign_pk",
		        acct_b64(sec->keys.sign_pk, EM_SIGN_PK_BYTES), "box_pk",
		        acct_b64(sec->keys.box_pk, EM_BOX_PK_BYTES), "key_backup",
		        acct_b64(sec->backup, sizeof(sec->backup)), "privacy_version",
		        a->privacy_version, "privacy_at", (json_int_t)at, "privacy_signature",
		        acct_b64(sig, sizeof(sig)), "recovery_auth",
		        acct_b64(sec->rec_auth, sizeof(sec->rec_auth)), "recovery_backup",
		        acct_b64(sec->rec_backup, sizeof(sec->rec_backup))),
		    0);
	case 1:
		if ((rc = acct_answer(t)) != EMC_DONE)
			return rc;
		/* the account exists now; logging in saves the keys and the session */
		a->registered = json_incref(a->reply.result);
		json_object_set_new(a->registered, "recovery_code", json_string(sec->rcode_text));
		sodium_memzero(&sec->keys, sizeof(sec->keys)); /* login unlocks them again */
		return acct_login_send(c, t);
	default:
		rc = acct_answer(t);
		if (rc == EMC_PENDING)
			return rc;
		if (rc == EMC_DONE)
			rc = acct_login_finish(c, t);
		if (rc == EMC_DONE) {
			json_t *fp = json_object_get(t->result, "fingerprint");

			json_object_set(a->registered, "fingerprint", fp);
			json_decref(t->result);
			t->result = json_incref(a->registered);
		} else if (rc == EMC_FAILED) {
			char why[sizeof(t->message)];

			snprintf(why, sizeof(why), "%s", t->message);
			snprintf(t->message, sizeof(t->message),
			         "your account %s was created, but logging in failed (%.400s); log "
			         "in again",
			         a->username, why);
			json_object_set_new(a->registered, "registered", json_true());
			t->result = json_incref(a->registered);
		}
		return rc;
	}
}

/* ---- passwd ---- */

/*
 * prelogin before the resume (the server only answers it unauthenticated),
 * both derivations, the keys locked again with the new wrap_key, passwd.
 */
static int acct_passwd_step(struct emc *c, struct emc_task *t)
{
	struct acct *a = t->data;
	struct acct_secrets *sec = a->sec;
	int rc;

	switch (a->stage) {
	case 0:
		return acct_ask(c, t, EM_OP_PRELOGIN, json_pack("{s:s}", "username", a->username),
		                1);
	case 1:
		if ((rc = acct_answer(t)) != EMC_DONE)
			return rc;
		if (acct_prelogin_apply(t, a->reply.result, &a->kdf))
			return EMC_FAILED;
		/* let the resume go out before two seconds of Argon2id */
		a->stage = 2;
		t->wake_at_ms = emc_now(c) + 1;
		return EMC_PENDING;
	case 2:
		if (acct_derive(t, sec->password, &a->kdf, sec->auth_key, sec->wrap_key))
			return EMC_FAILED;
		sodium_memzero(sec->password, sizeof(sec->password));
		acct_kdf_new(&a->new_kdf);
		if (acct_derive(t, sec->new_password, &a->new_kdf, sec->new_auth_key,
		                sec->new_wrap_key))
			return EMC_FAILED;
		sodium_memzero(sec->new_password, sizeof(sec->new_password));
		em_keys_wrap(&c->keys, sec->new_wrap_key, a->username, sec->backup);
		return acct_ask(c, t, EM_OP_PASSWD,
		                json_pack("{s:o, s:o, s:I, s:I, s:o, s:o}", "auth_key",
		                          acct_b64(sec->auth_key, sizeof(sec->auth_key)), "salt",
		                          acct_b64(a->new_kdf.salt, sizeof(a->new_kdf.salt)),
		                          "opslimit", (json_int_t)a->new_kdf.opslimit, "memlimit",
		                          (json_int_t)a->new_kdf.memlimit, "new_auth_key",
		                          acct_b64(sec->new_auth_key, sizeof(sec->new_auth_key)),
		                          "key_backup", acct_b64(sec->backup, sizeof(sec->backup))),
		                0);
	default:
		if ((rc = acct_answer(t)) != EMC_DONE)
			return rc;
		t->result = json_incref(a->reply.result);
		return EMC_DONE;
	}
}

/* ---- logout ---- */

/* The stored session is gone: forget it here too (the keys stay). */
static void acct_forget_session(struct emc *c)
{
	sodium_memzero(&c->session, sizeof(c->session));
	c->have_session = 0;
}

/*
 * session.json was deleted when the command started (whatever the server
 * says, this device is logged out); then the server is asked to revoke the
 * token. A session the server had already ended is not an error.
 */
static int acct_logout_step(struct emc *c, struct emc_task *t)
{
	struct acct *a = t->data;

	switch (a->stage) {
	case 0:
		return acct_ask(c, t, EM_OP_LOGOUT, NULL, 0);
	default:
		if (!a->answered)
			return EMC_PENDING;
		acct_forget_session(c);
		c->resume_sent = 0; /* the server ends the link's authentication too */
		if (a->reply.result) {
			t->result = json_pack("{s:b}", "revoked", 1);
			return EMC_DONE;
		}
		if (a->reply.err == EM_ERR_SESSION_EXPIRED) {
			t->result = json_pack("{s:b, s:b}", "revoked", 1, "already_ended", 1);
			return EMC_DONE;
		}
		t->result = json_pack("{s:b}", "revoked", 0);
		return emc_fail_reply(t, &a->reply);
	}
}

/* ---- privacy ---- */

/* privacy.notice, checked: its hash must be the hash of its text. */
static int acct_privacy_step(struct emc *c, struct emc_task *t)
{
	struct acct *a = t->data;
	unsigned char want[EM_HASH_BYTES], got[EM_HASH_BYTES];
	const char *version, *text, *hash;
	json_t *res;
	int rc;

	if (a->stage == 0)
		return acct_ask(c, t, EM_OP_PRIVACY_NOTICE,
		                a->lang[0] ? json_pack("{s:s}", "lang", a->lang) : NULL, 0);
	if ((rc = acct_answer(t)) != EMC_DONE)
		return rc;
	res = a->reply.result;
	version = json_string_value(json_object_get(res, "version"));
	text = json_string_value(json_object_get(res, "text"));
	hash = json_string_value(json_object_get(res, "text_hash"));
	if (!version || !*version || strlen(version) > EM_CONSENT_STR_MAX || !text || !hash ||
	    em_b64_decode(hash, got, sizeof(got)) != (int)sizeof(got))
		return emc_fail(t, EMC_EXIT_NET, 0, "the server's privacy notice is incomplete");
	em_text_hash(text, want);
	if (sodium_memcmp(want, got, sizeof(want)) != 0)
		return emc_fail(t, EMC_EXIT_NET, 0,
		                "the server's privacy notice does not match its own hash; nothing "
		                "was sent");
	t->result =
	    json_pack("{s:s, s:s, s:s}", "version", version, "text", text, "text_hash", hash);
	if (!t->result)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	if (json_is_string(json_object_get(res, "lang")))
		json_object_set(t->result, "lang", json_object_get(res, "lang"));
	/* the share_progress sentence, for a host to show before consent.grant: only when it
	 * matches its own hash (consent.grant checks it again, against the hash shown) */
	text = json_string_value(json_object_get(res, "share_progress_text"));
	hash = json_string_value(json_object_get(res, "share_progress_hash"));
	if (text && hash && em_b64_decode(hash, got, sizeof(got)) == (int)sizeof(got)) {
		em_text_hash(text, want);
		if (sodium_memcmp(want, got, sizeof(want)) == 0 &&
		    (json_object_set_new(t->result, "share_progress_text", json_string(text)) ||
		     json_object_set_new(t->result, "share_progress_hash", json_string(hash))))
			return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	}
	return EMC_DONE;
}

/* ---- starting ---- */

/* A task that failed before it started (a usage or state error). */
static int64_t acct_refuse(struct emc *c, const char *name, int exit, const char *why)
{
	struct emc_task *t = emc_task_new(c, name, NULL, NULL, NULL);

	if (!t)
		return -ENOMEM;
	emc_fail(t, exit, 0, "%s", why);
	return t->id;
}

static void acct_task_free(struct emc_task *t)
{
	struct acct *a = t->data;

	if (a && a->fresh && a->core->fresh_link > 0)
		a->core->fresh_link--;
	acct_free(t);
}

/* {"username"} checked and folded into a->username. 0 or -1. */
static int acct_username(json_t *cmd, struct acct *a)
{
	const char *name = json_string_value(json_object_get(cmd, "username"));

	if (!name || em_check_username(name) != EM_OK)
		return -1;
	em_username_fold(name, a->username);
	return 0;
}

int64_t emc_account_command(struct emc *c, const char *name, json_t *cmd)
{
	static const struct {
		const char *name;
		enum acct_kind kind;
		emc_step_fn step;
	} kinds[] = {
	    {"privacy", ACCT_PRIVACY, acct_privacy_step},
	    {"login", ACCT_LOGIN, acct_login_step},
	    {"register", ACCT_REGISTER, acct_register_step},
	    {"passwd", ACCT_PASSWD, acct_passwd_step},
	    {"logout", ACCT_LOGOUT, acct_logout_step},
	    {"recovery", ACCT_RECOVERY, acct_recovery_step},
	    {"recover", ACCT_RECOVER, acct_recover_step},
	    {"reset", ACCT_RESET, acct_reset_step},
	};
	struct acct *a = NULL;
	struct emc_task *t;
	const char *cmd_name = NULL, *s;
	emc_step_fn step = NULL;
	int64_t id = -ENOENT;
	int n;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].name, name)) {
			cmd_name = kinds[i].name;
			step = kinds[i].step;
			a = calloc(1, sizeof(*a));
			if (a)
				a->kind = kinds[i].kind;
			break;
		}
	if (!cmd_name)
		return -ENOENT;
	if (!a) {
		id = -ENOMEM;
		goto out;
	}
	a->sec = sodium_malloc(sizeof(*a->sec));
	if (!a->sec) {
		id = -ENOMEM;
		goto out;
	}
	sodium_memzero(a->sec, sizeof(*a->sec));

	/* the secrets first: wiped in the parsed command whatever happens next */
	n = acct_take_secret(cmd, "password", a->sec->password, sizeof(a->sec->password));
	if (a->kind == ACCT_RECOVER) {
		char code[EM_RECOVERY_STRLEN + 32];
		int k = acct_take_secret(cmd, "recovery_code", code, sizeof(code));
		int m = acct_take_secret(cmd, "new_password", a->sec->new_password,
		                         sizeof(a->sec->new_password));

		k = k < 0 ? k : em_recovery_parse(code, a->sec->rcode);
		sodium_memzero(code, sizeof(code));
		if (k < 0 || m < ACCT_PASSWORD_MIN) {
			id = acct_refuse(c, cmd_name, EMC_EXIT_USAGE,
			                 k < 0 ? "not a recovery code: 32 letters and digits, as "
			                         "printed when you registered"
			                 : m == -2
			                     ? "the new password is too long"
			                     : "the new password must be at least 8 bytes long");
			goto out;
		}
		n = 0; /* no current password: the code stands for it */
	}
	if (a->kind == ACCT_RESET) {
		char code[EM_INVITE_CODE_MAX * 8];
		const char *at;
		int k = acct_take_secret(cmd, "reset_code", code, sizeof(code));
		int m = acct_take_secret(cmd, "new_password", a->sec->new_password,
		                         sizeof(a->sec->new_password));

		/* the e-mailed link works as well as the code: PUBLIC_URL/#reset=CODE */
		at = k >= 0 ? strstr(code, "#reset=") : NULL;
		k = k < 0 ? k : em_recovery_parse(at ? at + 7 : code, a->sec->reset_code);
		sodium_memzero(code, sizeof(code));
		if (k < 0 || m < ACCT_PASSWORD_MIN) {
			id = acct_refuse(
			    c, cmd_name, EMC_EXIT_USAGE,
			    k < 0     ? "not a reset code: 32 letters and digits, as your "
			                "programme's manager gave it (or the link e-mailed "
			                "to you)"
			    : m == -2 ? "the new password is too long"
			              : "the new password must be at least 8 bytes long");
			goto out;
		}
		n = 0;
	}
	if (a->kind == ACCT_PASSWD) {
		int m = acct_take_secret(cmd, "new_password", a->sec->new_password,
		                         sizeof(a->sec->new_password));

		if (n >= 0 && (m < 0 || m < ACCT_PASSWORD_MIN)) {
			id =
			    acct_refuse(c, cmd_name, EMC_EXIT_USAGE,
			                m == -2 ? "the new password is too long"
			                        : "the new password must be at least 8 bytes long");
			goto out;
		}
	}
	if ((a->kind == ACCT_LOGIN || a->kind == ACCT_REGISTER || a->kind == ACCT_PASSWD ||
	     a->kind == ACCT_RECOVERY) &&
	    n < 0) {
		id = acct_refuse(c, cmd_name, EMC_EXIT_USAGE,
		                 n == -2 ? "the password is too long (or holds a NUL character)"
		                         : "a password is required");
		goto out;
	}
	if (a->kind == ACCT_REGISTER && n < ACCT_PASSWORD_MIN) {
		id = acct_refuse(c, cmd_name, EMC_EXIT_USAGE,
		                 "the password must be at least 8 bytes long");
		goto out;
	}

	switch (a->kind) {
	case ACCT_LOGIN:
	case ACCT_REGISTER:
	case ACCT_RECOVER:
	case ACCT_RESET:
		if (acct_username(cmd, a)) {
			id = acct_refuse(c, cmd_name, EMC_EXIT_USAGE,
			                 "not a valid username: use 3 to 32 of a-z 0-9 . _ -, "
			                 "starting with a letter or digit");
			goto out;
		}
		if (c->link_up && c->resume_sent) {
			id =
			    acct_refuse(c, cmd_name, EMC_EXIT_USAGE,
			                "the link is authenticated with the stored session: log in "
			                "or register on a new link");
			goto out;
		}
		s = json_string_value(json_object_get(cmd, "server"));
		snprintf(a->server, sizeof(a->server), "%s", s ? s : c->session.server);
		a->fresh = 1;
		break;
	case ACCT_PASSWD:
	case ACCT_RECOVERY:
	case ACCT_LOGOUT:
		if (!c->have_session || (a->kind != ACCT_LOGOUT && !c->have_keys)) {
			id = acct_refuse(c, cmd_name, EMC_EXIT_AUTH,
			                 "you are not logged in on this device");
			goto out;
		}
		if (a->kind != ACCT_LOGOUT && c->link_up && c->resume_sent) {
			id = acct_refuse(
			    c, cmd_name, EMC_EXIT_USAGE,
			    "this command asks for the password's parameters before the "
			    "session is resumed: start it before the link comes up");
			goto out;
		}
		snprintf(a->username, sizeof(a->username), "%s", c->session.username);
		break;
	case ACCT_PRIVACY:
		a->fresh = !c->link_up; /* no need to resume a session to read it */
		s = json_string_value(json_object_get(cmd, "lang"));
		if (s && (!strcmp(s, "en") || !strcmp(s, "pl")))
			snprintf(a->lang, sizeof(a->lang), "%s", s);
		break;
	}
	if (a->kind == ACCT_REGISTER) {
		const char *invite = json_string_value(json_object_get(cmd, "invite"));
		const char *display = json_string_value(json_object_get(cmd, "display_name"));
		json_t *privacy = json_object_get(cmd, "privacy");
		const char *version = json_string_value(json_object_get(privacy, "version"));
		const char *hash = json_string_value(json_object_get(privacy, "text_hash"));

		if (!display)
			display = a->username;
		if (!invite || strlen(invite) >= sizeof(a->invite) || !*display ||
		    strlen(display) >= sizeof(a->display_name)) {
			id = acct_refuse(c, cmd_name, EMC_EXIT_USAGE,
			                 "register needs an invite code and a display name");
			goto out;
		}
		if (!version || !*version || strlen(version) > EM_CONSENT_STR_MAX || !hash ||
		    em_b64_decode(hash, a->privacy_hash, sizeof(a->privacy_hash)) !=
		        (int)sizeof(a->privacy_hash)) {
			id = acct_refuse(c, cmd_name, EMC_EXIT_USAGE,
			                 "register needs the privacy notice the user accepted "
			                 "(\"privacy\": {\"version\", \"text_hash\"})");
			goto out;
		}
		snprintf(a->invite, sizeof(a->invite), "%s", invite);
		snprintf(a->display_name, sizeof(a->display_name), "%s", display);
		snprintf(a->privacy_version, sizeof(a->privacy_version), "%s", version);
	}
	if (a->kind == ACCT_LOGOUT) {
		/* this device is logged out whatever the server says */
		int rc = c->st.remove ? c->st.remove(c->st.ctx, "session.json") : -ENOSYS;

		if (rc) {
			char why[256];

			snprintf(why, sizeof(why), "cannot delete session.json: %s", strerror(-rc));
			id = acct_refuse(c, cmd_name, EMC_EXIT_LOCAL, why);
			goto out;
		}
	}
	t = emc_task_new(c, cmd_name, step, acct_task_free, a);
	if (!t) {
		id = -ENOMEM;
		goto out;
	}
	a->core = c;
	if (a->fresh)
		c->fresh_link++;
	a = NULL; /* the task's now */
	id = t->id;
out:
	if (a) {
		struct emc_task tmp = {.data = a};

		acct_free(&tmp);
	}
	return id;
}
