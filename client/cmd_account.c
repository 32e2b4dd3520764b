/*
 * cmd_account.c - the account commands: register, login, logout, whoami and
 * passwd. This is where the key scheme of PROTOCOL.md ("Account keys") meets
 * the user: the password is turned into auth_key (sent) and wrap_key (kept)
 * with Argon2id, the private keys are generated here at registration, locked
 * with wrap_key for the server to store, and unlocked again at every login.
 * The password, wrap_key and private keys never leave this process except as
 * keys.json in the 0700 home directory; every buffer that held them is wiped.
 * Registering also means agreeing to the server's privacy notice: its text is
 * shown, its hash checked, and the data-processing consent signed with the
 * new signing key (PROTOCOL.md 7.1) before anything is sent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "cli.h"
#include "prompt.h"
#include "state.h"

/* After this long on an unauthenticated connection, open a new one to log in:
 * the server closes connections that are not authenticated within 10 s. */
#define ACCOUNT_FRESH_CONN_MS 6000

/* Key derivation parameters from `prelogin` (or fresh ones for a new password). */
struct account_kdf {
	unsigned char salt[EM_SALT_BYTES];
	uint64_t opslimit;
	uint64_t memlimit;
};

/* Secrets a command holds at once; wiped as a block. */
struct account_secrets {
	char password[PROMPT_PASSWORD_MAX + 1];
	char new_password[PROMPT_PASSWORD_MAX + 1];
	unsigned char auth_key[EM_KEY_BYTES];
	unsigned char wrap_key[EM_KEY_BYTES];
	unsigned char new_auth_key[EM_KEY_BYTES];
	unsigned char new_wrap_key[EM_KEY_BYTES];
	struct home_keys keys;
};

/*
 * A JSON string holding base64url of bin; the intermediate text is wiped.
 * Who frees: the caller (usually json_pack's "o", which takes it).
 */
static json_t *account_b64(const unsigned char *bin, size_t len)
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

/* Reads a password; returns its length or an exit code (negated) already reported. */
static int account_password(const char *env, const char *prompt, const char *confirm, char *buf)
{
	int len = prompt_password(env, prompt, confirm, buf);

	if (len >= 0)
		return len;
	cli_fail(0, "%s", prompt_strerror(len));
	return len == PROMPT_ERR_NO_TTY ? -CLI_EXIT_LOCAL : -CLI_EXIT_USAGE;
}

/* Argon2id; returns an exit code. Slow on purpose (about a second). */
static int account_derive(const char *password, const struct account_kdf *kdf,
                          unsigned char auth_key[EM_KEY_BYTES],
                          unsigned char wrap_key[EM_KEY_BYTES])
{
	int rc = em_kdf_derive_password(password, strlen(password), kdf->salt, kdf->opslimit,
	                                kdf->memlimit, auth_key, wrap_key);

	if (rc == EM_PASSWORD_NOT_UTF8)
		return cli_fail(CLI_EXIT_LOCAL, "%s", em_password_strerror(rc));
	if (rc != EM_PASSWORD_OK)
		return cli_fail(CLI_EXIT_LOCAL,
		                "not enough memory to derive the keys from the password "
		                "(Argon2id needs %llu MiB)",
		                (unsigned long long)(kdf->memlimit >> 20));
	return CLI_EXIT_OK;
}

/* Fresh salt and this client's default cost, for a new password. */
static void account_kdf_new(struct account_kdf *kdf)
{
	randombytes_buf(kdf->salt, sizeof(kdf->salt));
	kdf->opslimit = EM_KDF_OPSLIMIT_DEFAULT;
	kdf->memlimit = EM_KDF_MEMLIMIT_DEFAULT;
}

/* `prelogin`: the salt and cost the server has for `username`. Returns an exit code. */
static int account_prelogin(const struct cli *cli, struct conn *c, const char *username,
                            struct account_kdf *kdf)
{
	json_t *res = NULL;
	json_t *ops, *mem;
	const char *salt, *alg;
	int rc;

	rc = cli_call(cli, c, EM_OP_PRELOGIN, json_pack("{s:s}", "username", username), &res);
	if (rc)
		goto out;
	salt = cli_str(res, "salt", "");
	alg = cli_str(res, "alg", "");
	ops = json_object_get(res, "opslimit");
	mem = json_object_get(res, "memlimit");
	/* Bounds matter: a hostile server could otherwise ask for terabytes. */
	if (em_b64_decode(salt, kdf->salt, sizeof(kdf->salt)) != (int)sizeof(kdf->salt) ||
	    strcmp(alg, "argon2id13") != 0 || !json_is_integer(ops) || !json_is_integer(mem) ||
	    json_integer_value(ops) < EM_KDF_OPSLIMIT_MIN ||
	    json_integer_value(ops) > EM_KDF_OPSLIMIT_MAX ||
	    json_integer_value(mem) < (json_int_t)EM_KDF_MEMLIMIT_MIN ||
	    json_integer_value(mem) > (json_int_t)EM_KDF_MEMLIMIT_MAX) {
		rc = cli_fail(CLI_EXIT_NET, "the server sent unusable key derivation parameters");
		goto out;
	}
	kdf->opslimit = (uint64_t)json_integer_value(ops);
	kdf->memlimit = (uint64_t)json_integer_value(mem);
out:
	json_decref(res);
	return rc;
}

/* Decodes a user's base64url public key field; returns 0 or -1. */
static int account_user_key(json_t *user, const char *field, unsigned char out[32])
{
	const char *v = cli_str(user, field, NULL);

	return v && em_b64_decode(v, out, 32) == 32 ? 0 : -1;
}

/* Best effort: revoke a session we will not keep (keys that did not open). */
static void account_abandon(struct conn *c)
{
	struct em_incoming in;

	if (conn_call(c, EM_OP_LOGOUT, NULL, &in) == CONN_OK)
		em_incoming_clear(&in);
}

/*
 * `login` on c, then: open the key backup with wrap_key, check the keys are
 * the ones the server publishes for this user, save keys.json and
 * session.json. On CLI_EXIT_OK, *result is the login result without its
 * secrets (token, key_backup), and fp the key fingerprint.
 * Who frees: the caller, json_decref(*result).
 */
static int account_login(struct cli *cli, struct conn *c, const char *server, const char *username,
                         struct account_secrets *sec, json_t **result,
                         char fp[EM_FINGERPRINT_STRLEN])
{
	unsigned char backup[EM_BACKUP_BYTES], sign_pk[32], box_pk[32];
	struct home_session hs;
	json_t *res = NULL, *user, *id;
	const char *token, *expires, *backup_b64;
	int rc;

	memset(&hs, 0, sizeof(hs));
	*result = NULL;
	rc = cli_call(cli, c, EM_OP_LOGIN,
	              json_pack("{s:s, s:o}", "username", username, "auth_key",
	                        account_b64(sec->auth_key, sizeof(sec->auth_key))),
	              &res);
	if (rc)
		goto out;
	user = json_object_get(res, "user");
	id = json_object_get(user, "id");
	token = cli_str(res, "token", "");
	expires = cli_str(res, "expires_at", "");
	backup_b64 = cli_str(res, "key_backup", "");
	if (!json_is_integer(id) || !*token || strlen(token) > EM_TOKEN_MAX ||
	    strlen(expires) >= sizeof(hs.expires_at) ||
	    account_user_key(user, "sign_pk", sign_pk) ||
	    account_user_key(user, "box_pk", box_pk)) {
		account_abandon(c);
		rc = cli_fail(CLI_EXIT_NET, "the server's answer to login is incomplete");
		goto out;
	}
	/* The backup is sealed to the folded username: use our own, not the server's. */
	if (em_b64_decode(backup_b64, backup, sizeof(backup)) != (int)sizeof(backup) ||
	    em_keys_unwrap(&sec->keys.keys, sec->wrap_key, username, backup, sizeof(backup)) != 0) {
		account_abandon(c);
		rc =
		    cli_fail(CLI_EXIT_REFUSED,
		             "could not unlock your keys: the key backup the server holds does not "
		             "open with this password. Nothing was saved; report this to your "
		             "programme's operator.");
		goto out;
	}
	if (sodium_memcmp(sign_pk, sec->keys.keys.sign_pk, 32) != 0 ||
	    sodium_memcmp(box_pk, sec->keys.keys.box_pk, 32) != 0) {
		account_abandon(c);
		rc = cli_fail(CLI_EXIT_REFUSED,
		              "could not unlock your keys: the server publishes other public keys "
		              "for %s than the ones in your key backup. Nothing was saved; report "
		              "this to your programme's operator.",
		              username);
		goto out;
	}
	snprintf(sec->keys.username, sizeof(sec->keys.username), "%s", username);
	rc = home_keys_save(&cli->home, &sec->keys);
	if (rc) {
		rc = cli_home_error(cli, "write", HOME_KEYS_FILE, rc);
		goto out;
	}
	if (home_session_load(&cli->home, &hs) == 0 && strcmp(hs.username, username) != 0)
		fprintf(stderr, "Note: this replaces the saved login of %s on this device.\n",
		        hs.username);
	home_session_wipe(&hs);
	snprintf(hs.server, sizeof(hs.server), "%s", server);
	snprintf(hs.username, sizeof(hs.username), "%s", username);
	hs.user_id = json_integer_value(id);
	snprintf(hs.role, sizeof(hs.role), "%s", cli_str(user, "role", "?"));
	snprintf(hs.token, sizeof(hs.token), "%s", token);
	snprintf(hs.expires_at, sizeof(hs.expires_at), "%s", expires);
	rc = home_session_save(&cli->home, &hs);
	if (rc) {
		rc = cli_home_error(cli, "write", HOME_SESSION_FILE, rc);
		goto out;
	}
	em_fingerprint(sec->keys.keys.sign_pk, sec->keys.keys.box_pk, fp);
	json_object_del(res, "token");
	json_object_del(res, "key_backup");
	*result = res;
	res = NULL;
out:
	sodium_memzero(backup, sizeof(backup));
	home_session_wipe(&hs);
	json_decref(res);
	return rc;
}

/* ---- register ---- */

static const char register_usage[] =
    "Usage: ementor register --invite CODE --username NAME [--display-name \"FULL NAME\"]\n"
    "                        [--accept-privacy]\n"
    "\n"
    "Create your account from an invite code, then log in on this device.\n"
    "The invite decides your role (manager, mentor or mentee) and programme.\n"
    "Your signing and encryption keys are made on this device; the server only\n"
    "stores them locked with a key derived from your password, and the password\n"
    "itself never leaves this device.\n"
    "\n"
    "Options:\n"
    "  --invite CODE          the invite code you were given\n"
    "  --username NAME        3 to 32 of a-z 0-9 . _ -, starting with a letter or digit\n"
    "                         (upper case is folded to lower case)\n"
    "  --display-name NAME    the name others see (default: the username)\n"
    "  --accept-privacy       accept the server's privacy notice without asking (for\n"
    "                         scripts; the notice is still printed)\n"
    "\n"
    "The server's privacy notice is shown first and you are asked to accept it; the\n"
    "acceptance is signed with your new key and kept in the server's consent ledger\n"
    "(`ementor consent list`). Without acceptance no account is created.\n"
    "\n"
    "The password is taken from EMENTOR_PASSWORD if set, else asked twice on the\n"
    "terminal. It must be at least 8 characters long.\n";

struct register_args {
	const char *invite;
	const char *username;
	const char *display_name;
	int accept_privacy;
};

static int register_option(void *ctx, int opt, const char *arg)
{
	struct register_args *a = ctx;

	if (opt == 'i')
		a->invite = arg;
	else if (opt == 'u')
		a->username = arg;
	else if (opt == 'd')
		a->display_name = arg;
	else if (opt == 'a')
		a->accept_privacy = 1;
	return CLI_CONTINUE;
}

/* The privacy notice the server asks new users to accept. */
struct privacy_notice {
	json_t *res; /* privacy.notice's result; the strings below are borrowed from it */
	const char *version;
	const char *text;
	unsigned char hash[EM_HASH_BYTES];
};

/*
 * Fetches the privacy notice on a connection of its own (closed again: the
 * user may take longer to read it than the server waits for a login), checks
 * that its hash is the hash of its text, shows it and asks for acceptance.
 * Returns an exit code. Who frees: the caller, json_decref(n->res).
 */
static int register_privacy(struct cli *cli, const char *server, int accepted,
                            struct privacy_notice *n)
{
	unsigned char want[EM_HASH_BYTES];
	struct conn *c = NULL;
	const char *hash;
	int rc, ok;

	memset(n, 0, sizeof(*n));
	rc = cli_connect(cli, server, &c);
	if (rc)
		return rc;
	rc = cli_call_raw(c, EM_OP_PRIVACY_NOTICE, NULL, &n->res);
	conn_free(c);
	if (rc)
		return rc;
	n->version = cli_str(n->res, "version", NULL);
	n->text = cli_str(n->res, "text", NULL);
	hash = cli_str(n->res, "text_hash", "");
	if (!n->version || !*n->version || strlen(n->version) > EM_CONSENT_STR_MAX || !n->text ||
	    em_b64_decode(hash, n->hash, sizeof(n->hash)) != (int)sizeof(n->hash))
		return cli_fail(CLI_EXIT_NET, "the server's privacy notice is incomplete");
	em_text_hash(n->text, want);
	if (sodium_memcmp(want, n->hash, sizeof(want)) != 0)
		return cli_fail(CLI_EXIT_NET, "the server's privacy notice does not match its own "
		                              "hash; nothing was sent");
	{
		char *safe = text_for_terminal(n->text, strlen(n->text));
		FILE *f = cli->json ? stderr : stdout;

		fprintf(f, "Privacy notice (version %s):\n\n%s\n\n", n->version,
		        safe ? safe : "(out of memory)");
		free(safe);
		fflush(f);
	}
	if (accepted)
		return CLI_EXIT_OK;
	ok = prompt_yes("Accept? [y/N] ");
	if (ok < 0)
		return cli_usage_error(cli,
		                       "no terminal to ask on: pass --accept-privacy to accept "
		                       "the privacy notice");
	if (!ok)
		return cli_fail(CLI_EXIT_REFUSED,
		                "you did not accept the privacy notice; no account "
		                "was created.");
	return CLI_EXIT_OK;
}

int cmd_register(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"invite", required_argument, NULL, 'i'},
	    {"username", required_argument, NULL, 'u'},
	    {"display-name", required_argument, NULL, 'd'},
	    {"accept-privacy", no_argument, NULL, 'a'},
	    {NULL, 0, NULL, 0},
	};
	struct register_args a = {NULL, NULL, NULL, 0};
	struct privacy_notice notice = {0};
	unsigned char privacy_sig[EM_SIG_BYTES];
	int64_t privacy_at;
	struct account_secrets *sec = NULL;
	struct account_kdf kdf;
	struct conn *c = NULL;
	json_t *reg = NULL, *login = NULL, *programme;
	unsigned char backup[EM_BACKUP_BYTES];
	char username[EM_USERNAME_MAX + 1], fp[EM_FINGERPRINT_STRLEN];
	const char *display, *server;
	int rc, first;

	rc = cli_parse(cli, argc, argv, opts, register_usage, register_option, &a, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (!a.invite)
		return cli_usage_error(cli, "--invite CODE is required");
	if (!a.username)
		return cli_usage_error(cli, "--username NAME is required");
	if (em_check_username(a.username) != EM_OK)
		return cli_usage_error(cli,
		                       "'%s' is not a valid username: use 3 to 32 of a-z 0-9 . _ "
		                       "-, starting with a letter or digit",
		                       a.username);
	em_username_fold(a.username, username);
	display = a.display_name ? a.display_name : username;
	if (!*display)
		return cli_usage_error(cli, "--display-name must not be empty");
	server = cli_server(cli, NULL);

	rc = cli_home(cli);
	if (rc)
		return rc;
	rc = home_ensure(&cli->home);
	if (rc)
		return cli_home_error(cli, "create", NULL, rc);
	rc = register_privacy(cli, server, a.accept_privacy, &notice);
	if (rc)
		goto out;
	sec = sodium_malloc(sizeof(*sec));
	if (!sec) {
		rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
		goto out;
	}
	sodium_memzero(sec, sizeof(*sec));

	rc = account_password("EMENTOR_PASSWORD",
	                      "Choose a password: ", "Repeat the password: ", sec->password);
	if (rc < 0) {
		rc = -rc;
		goto out;
	}
	em_keys_generate(&sec->keys.keys);
	account_kdf_new(&kdf);
	rc = account_derive(sec->password, &kdf, sec->auth_key, sec->wrap_key);
	if (rc)
		goto out;
	em_keys_wrap(&sec->keys.keys, sec->wrap_key, username, backup);
	/* The data-processing grant, signed with the key the account is made with. */
	privacy_at = (int64_t)time(NULL);
	if (em_consent_sign(sec->keys.keys.sign_pk, "data_processing", notice.version, notice.hash,
	                    "grant", privacy_at, sec->keys.keys.sign_sk, privacy_sig) != 0) {
		rc = cli_fail(CLI_EXIT_LOCAL, "cannot sign the privacy consent");
		goto out;
	}

	rc = cli_connect(cli, server, &c);
	if (rc)
		goto out;
	rc =
	    cli_call(cli, c, EM_OP_REGISTER,
	             json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:o, s:o, s:o, s:o, s:s, s:I, s:o}",
	                       "invite", a.invite, "username", username, "display_name", display,
	                       "salt", account_b64(kdf.salt, sizeof(kdf.salt)), "opslimit",
	                       (json_int_t)kdf.opslimit, "memlimit", (json_int_t)kdf.memlimit,
	                       "auth_key", account_b64(sec->auth_key, sizeof(sec->auth_key)),
	                       "sign_pk", account_b64(sec->keys.keys.sign_pk, EM_SIGN_PK_BYTES),
	                       "box_pk", account_b64(sec->keys.keys.box_pk, EM_BOX_PK_BYTES),
	                       "key_backup", account_b64(backup, sizeof(backup)), "privacy_version",
	                       notice.version, "privacy_at", (json_int_t)privacy_at,
	                       "privacy_signature", account_b64(privacy_sig, sizeof(privacy_sig))),
	             &reg);
	if (rc)
		goto out;
	/* The account exists now; logging in saves the keys and the session. */
	rc = account_login(cli, c, server, username, sec, &login, fp);
	if (rc) {
		fprintf(stderr,
		        "Your account %s was created, but logging in failed; run `ementor login "
		        "%s`.\n",
		        username, username);
		goto out;
	}
	if (cli->json) {
		cli_print_json(reg);
		goto out;
	}
	programme = json_object_get(reg, "programme_id");
	if (json_is_integer(programme))
		printf("Registered %s as %s (programme %lld).\n", username,
		       cli_str(json_object_get(reg, "user"), "role", "?"),
		       (long long)json_integer_value(programme));
	else
		printf("Registered %s as %s.\n", username,
		       cli_str(json_object_get(reg, "user"), "role", "?"));
	printf("Your key fingerprint: %s\n", fp);
	printf("Logged in. Compare fingerprints with your mentoring partners when you first "
	       "meet.\n");
out:
	sodium_memzero(backup, sizeof(backup));
	json_decref(notice.res);
	json_decref(reg);
	json_decref(login);
	conn_free(c);
	if (sec) {
		sodium_memzero(sec, sizeof(*sec));
		sodium_free(sec);
	}
	return rc;
}

/* ---- login ---- */

static const char login_usage[] =
    "Usage: ementor login [--username] USERNAME\n"
    "\n"
    "Log in on this device: derive your keys from your password, unlock your\n"
    "private keys from the server's backup and save the session in the home\n"
    "directory. Logging in as another user replaces the saved session and keys.\n"
    "\n"
    "The password is taken from EMENTOR_PASSWORD if set, else asked on the terminal.\n";

static int login_option(void *ctx, int opt, const char *arg)
{
	*(const char **)ctx = arg;
	return CLI_CONTINUE;
}

int cmd_login(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"username", required_argument, NULL, 'u'},
	    {NULL, 0, NULL, 0},
	};
	struct account_secrets *sec = NULL;
	struct account_kdf kdf;
	struct conn *c = NULL;
	json_t *login = NULL;
	const char *name = NULL, *server;
	char username[EM_USERNAME_MAX + 1], fp[EM_FINGERPRINT_STRLEN];
	int rc, first;

	rc = cli_parse(cli, argc, argv, opts, login_usage, login_option, &name, 0, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (first < argc) {
		if (name)
			return cli_usage_error(cli, "give the username once");
		name = argv[first];
	}
	if (!name)
		return cli_usage_error(cli, "which user? give USERNAME");
	if (em_check_username(name) != EM_OK)
		return cli_usage_error(cli, "'%s' is not a valid username", name);
	em_username_fold(name, username);
	server = cli_server(cli, NULL);

	rc = cli_home(cli);
	if (rc)
		return rc;
	rc = home_ensure(&cli->home);
	if (rc)
		return cli_home_error(cli, "create", NULL, rc);
	sec = sodium_malloc(sizeof(*sec));
	if (!sec)
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	sodium_memzero(sec, sizeof(*sec));

	rc = account_password("EMENTOR_PASSWORD", "Password: ", NULL, sec->password);
	if (rc < 0) {
		rc = -rc;
		goto out;
	}
	rc = cli_connect(cli, server, &c);
	if (rc)
		goto out;
	rc = account_prelogin(cli, c, username, &kdf);
	if (rc)
		goto out;
	rc = account_derive(sec->password, &kdf, sec->auth_key, sec->wrap_key);
	if (rc)
		goto out;
	/* A slow derivation may outlast the server's 10 s authentication deadline. */
	if (!conn_is_open(c) || conn_age_ms(c) > ACCOUNT_FRESH_CONN_MS) {
		conn_free(c);
		c = NULL;
		rc = cli_connect(cli, server, &c);
		if (rc)
			goto out;
	}
	rc = account_login(cli, c, server, username, sec, &login, fp);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(login);
		goto out;
	}
	printf("Logged in as %s (%s).\n", username,
	       cli_str(json_object_get(login, "user"), "role", "?"));
	printf("Your key fingerprint: %s\n", fp);
out:
	json_decref(login);
	conn_free(c);
	if (sec) {
		sodium_memzero(sec, sizeof(*sec));
		sodium_free(sec);
	}
	return rc;
}

/* ---- logout ---- */

static const char logout_usage[] =
    "Usage: ementor logout\n"
    "\n"
    "End the session saved on this device: the server revokes its token and the\n"
    "token is deleted here. Your keys stay in the home directory. If the server\n"
    "cannot be reached, the token is still deleted here, and this says so.\n";

int cmd_logout(struct cli *cli, int argc, char **argv)
{
	struct home_session s;
	struct conn *c = NULL;
	struct em_incoming in;
	json_t *res = NULL;
	int rc, first, removed;

	memset(&s, 0, sizeof(s));
	memset(&in, 0, sizeof(in));
	rc = cli_parse(cli, argc, argv, NULL, logout_usage, NULL, NULL, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_session_load(cli, &s);
	if (rc)
		goto out;
	rc = cli_connect(cli, cli_server(cli, &s), &c);
	if (!rc) {
		if (conn_call(c, EM_OP_RESUME, json_pack("{s:s}", "token", s.token), &in) !=
		    CONN_OK) {
			rc = cli_fail(CLI_EXIT_NET, "%s", conn_strerror(c));
		} else if (in.err == EM_ERR_SESSION_EXPIRED) {
			rc = CLI_EXIT_OK; /* the server had already ended it */
		} else if (!in.result) {
			rc = cli_fail(CLI_EXIT_REFUSED,
			              "cannot resume the session to end it: %s (%s)",
			              in.err_message, em_err_code(in.err));
		} else {
			rc = cli_call(cli, c, EM_OP_LOGOUT, NULL, &res);
		}
	}
	removed = home_remove(&cli->home, HOME_SESSION_FILE);
	if (removed) {
		rc = cli_home_error(cli, "delete", HOME_SESSION_FILE, removed);
		goto out;
	}
	if (rc) {
		fprintf(stderr,
		        "The session was deleted from this device, but the server could not "
		        "revoke it: its token stays valid until %s.\n",
		        s.expires_at);
		goto out;
	}
	if (cli->json) {
		if (!res)
			res = json_object();
		cli_print_json(res);
	} else {
		printf("Logged out %s.\n", s.username);
	}
out:
	em_incoming_clear(&in);
	json_decref(res);
	conn_free(c);
	home_session_wipe(&s);
	return rc;
}

/* ---- whoami ---- */

static const char whoami_usage[] = "Usage: ementor whoami\n"
                                   "\n"
                                   "Show who you are logged in as, your key fingerprint, your\n"
                                   "session's expiry and your programmes.\n";

static void whoami_print(const struct cli *cli, const struct home_session *s, json_t *res)
{
	json_t *user = json_object_get(res, "user");
	json_t *programmes = json_object_get(res, "programmes");
	struct home_keys k;
	char fp[EM_FINGERPRINT_STRLEN], local_fp[EM_FINGERPRINT_STRLEN];
	int mismatch = cli_fingerprint(user, fp);
	size_t i;
	json_t *p;

	printf("Username:      %s\n", cli_str(user, "username", s->username));
	printf("Display name:  %s\n", cli_str(user, "display_name", "-"));
	printf("Role:          %s\n", cli_str(user, "role", "-"));
	printf("Fingerprint:   %s\n", fp);
	printf("Server:        %s\n", cli_server(cli, s));
	printf("Session until: %s\n", cli_str(res, "expires_at", s->expires_at));
	if (mismatch == 1)
		fprintf(stderr, "WARNING: the server's fingerprint for you does not match your "
		                "public keys.\n");
	if (home_keys_load(&cli->home, &k) == 0 && strcmp(k.username, s->username) == 0) {
		em_fingerprint(k.keys.sign_pk, k.keys.box_pk, local_fp);
		if (strcmp(local_fp, fp) != 0)
			fprintf(stderr,
			        "WARNING: the keys on this device (fingerprint %s) are not the "
			        "keys the server has for you. Run `ementor login %s`.\n",
			        local_fp, s->username);
	} else {
		fprintf(stderr,
		        "Note: your private keys are not on this device; run `ementor "
		        "login %s` to fetch them.\n",
		        s->username);
	}
	home_keys_wipe(&k);

	if (!json_array_size(programmes)) {
		printf("Programmes:    none\n");
		return;
	}
	printf("Programmes:\n");
	{
		static const char *const head[] = {"ID", "NAME", "STARTS", "ENDS"};
		struct cli_table t;

		cli_table_init(&t, 4, head);
		json_array_foreach(programmes, i, p)
		{
			char id[24];
			const char *row[] = {cli_int_text(p, "id", id, sizeof(id)),
			                     cli_str(p, "name", "-"), cli_str(p, "starts_on", "-"),
			                     cli_str(p, "ends_on", "-")};

			cli_table_add(&t, row);
		}
		cli_table_print(&t, stdout, "  ");
		cli_table_free(&t);
	}
}

int cmd_whoami(struct cli *cli, int argc, char **argv)
{
	struct home_session s;
	struct conn *c = NULL;
	json_t *res = NULL;
	int rc, first;

	memset(&s, 0, sizeof(s));
	rc = cli_parse(cli, argc, argv, NULL, whoami_usage, NULL, NULL, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_session_open(cli, &s, &c);
	if (rc)
		goto out;
	rc = cli_call(cli, c, EM_OP_WHOAMI, NULL, &res);
	if (rc)
		goto out;
	if (cli->json)
		cli_print_json(res);
	else
		whoami_print(cli, &s, res);
out:
	json_decref(res);
	conn_free(c);
	home_session_wipe(&s);
	return rc;
}

/* ---- passwd ---- */

static const char passwd_usage[] =
    "Usage: ementor passwd\n"
    "\n"
    "Change your password. Your keys stay the same: they are locked again with\n"
    "a key derived from the new password. Every other session of yours is ended.\n"
    "\n"
    "The current password is taken from EMENTOR_PASSWORD and the new one from\n"
    "EMENTOR_NEW_PASSWORD if set; otherwise both are asked on the terminal (the\n"
    "new one twice). The new password must be at least 8 characters long.\n";

int cmd_passwd(struct cli *cli, int argc, char **argv)
{
	struct home_session s;
	struct account_secrets *sec = NULL;
	struct account_kdf kdf, new_kdf;
	struct conn *c = NULL;
	json_t *res = NULL;
	unsigned char backup[EM_BACKUP_BYTES];
	int rc, first;

	memset(&s, 0, sizeof(s));
	sodium_memzero(backup, sizeof(backup));
	rc = cli_parse(cli, argc, argv, NULL, passwd_usage, NULL, NULL, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_session_load(cli, &s);
	if (rc)
		goto out;
	sec = sodium_malloc(sizeof(*sec));
	if (!sec) {
		rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
		goto out;
	}
	sodium_memzero(sec, sizeof(*sec));
	rc = home_keys_load(&cli->home, &sec->keys);
	if (rc == -ENOENT || (!rc && strcmp(sec->keys.username, s.username) != 0)) {
		rc = cli_fail(CLI_EXIT_LOCAL,
		              "the keys of %s are not on this device; run `ementor login %s` "
		              "first.",
		              s.username, s.username);
		goto out;
	}
	if (rc) {
		rc = cli_home_error(cli, "read", HOME_KEYS_FILE, rc);
		goto out;
	}

	rc = account_password("EMENTOR_PASSWORD", "Current password: ", NULL, sec->password);
	if (rc >= 0)
		rc = account_password("EMENTOR_NEW_PASSWORD", "New password: ",
		                      "Repeat the new password: ", sec->new_password);
	if (rc < 0) {
		rc = -rc;
		goto out;
	}

	/* prelogin is only accepted before resume; resume at once (10 s deadline). */
	rc = cli_connect(cli, cli_server(cli, &s), &c);
	if (rc)
		goto out;
	rc = account_prelogin(cli, c, s.username, &kdf);
	if (rc)
		goto out;
	rc = cli_session_resume(cli, c, &s);
	if (rc)
		goto out;
	rc = account_derive(sec->password, &kdf, sec->auth_key, sec->wrap_key);
	if (rc)
		goto out;
	account_kdf_new(&new_kdf);
	rc = account_derive(sec->new_password, &new_kdf, sec->new_auth_key, sec->new_wrap_key);
	if (rc)
		goto out;
	em_keys_wrap(&sec->keys.keys, sec->new_wrap_key, s.username, backup);
	rc = cli_call(cli, c, EM_OP_PASSWD,
	              json_pack("{s:o, s:o, s:I, s:I, s:o, s:o}", "auth_key",
	                        account_b64(sec->auth_key, sizeof(sec->auth_key)), "salt",
	                        account_b64(new_kdf.salt, sizeof(new_kdf.salt)), "opslimit",
	                        (json_int_t)new_kdf.opslimit, "memlimit",
	                        (json_int_t)new_kdf.memlimit, "new_auth_key",
	                        account_b64(sec->new_auth_key, sizeof(sec->new_auth_key)),
	                        "key_backup", account_b64(backup, sizeof(backup))),
	              &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
	} else {
		json_t *n = json_object_get(res, "revoked_sessions");
		long long revoked = json_is_integer(n) ? (long long)json_integer_value(n) : 0;

		printf("Password changed for %s.", s.username);
		if (revoked == 1)
			printf(" 1 other session was ended.\n");
		else
			printf(" %lld other sessions were ended.\n", revoked);
	}
out:
	sodium_memzero(backup, sizeof(backup));
	json_decref(res);
	conn_free(c);
	home_session_wipe(&s);
	if (sec) {
		sodium_memzero(sec, sizeof(*sec));
		sodium_free(sec);
	}
	return rc;
}
