/*
 * cmd_account.c - the account commands: register, login, logout, whoami and
 * passwd, as a shell over the client core's commands of the same names
 * (core/account.c, core/emc.h): this file parses options, asks for the
 * password and for acceptance of the privacy notice on the terminal, and
 * prints. Everything else — Argon2id, the keys made at registration and
 * unlocked at login, the checks of what the server answers, the signed
 * privacy consent, session.json and keys.json — is the core's. The password
 * is read into locked memory here, handed to the core in its command and
 * wiped wherever this process held a copy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "drive.h"
#include "prompt.h"
#include "state.h"

/* Passwords read on the terminal; wiped as a block. */
struct account_secrets {
	char password[PROMPT_PASSWORD_MAX + 1];
	char new_password[PROMPT_PASSWORD_MAX + 1];
};

/* Reads a password; returns its length or an exit code (negated) already reported. */
static int account_password(const char *env, const char *prompt, const char *confirm, char *buf)
{
	int len = prompt_password(env, prompt, confirm, buf);

	if (len >= 0)
		return len;
	cli_fail(0, "%s", prompt_strerror(len));
	return len == PROMPT_ERR_NO_TTY ? -CLI_EXIT_LOCAL : -CLI_EXIT_USAGE;
}

/*
 * Whether a password can travel to the core (JSON carries UTF-8 only); the
 * core checks it again. Returns 0 or an exit code (printed).
 */
static int account_utf8(const char *password)
{
	unsigned char *bytes = NULL;
	size_t len = 0;
	int rc = em_password_bytes(password, strlen(password), &bytes, &len);

	if (rc == EM_PASSWORD_OK) {
		em_password_free(bytes, len);
		return CLI_EXIT_OK;
	}
	return cli_fail(CLI_EXIT_LOCAL, "%s",
	                rc == EM_PASSWORD_NOT_UTF8 ? em_password_strerror(rc) : "out of memory");
}

/* sodium_malloc'd secrets, zeroed. Who frees: account_secrets_free(). */
static struct account_secrets *account_secrets_new(void)
{
	struct account_secrets *sec = sodium_malloc(sizeof(*sec));

	if (sec)
		sodium_memzero(sec, sizeof(*sec));
	return sec;
}

static void account_secrets_free(struct account_secrets *sec)
{
	if (!sec)
		return;
	sodium_memzero(sec, sizeof(*sec));
	sodium_free(sec);
}

/* Wipes the password strings of a command (jansson frees them unwiped). */
static void account_wipe(json_t *cmd)
{
	static const char *const keys[] = {"password", "new_password", "recovery_code",
	                                   "reset_code"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(cmd, keys[i]);

		if (json_is_string(v))
			sodium_memzero((char *)json_string_value(v), json_string_length(v));
	}
}

/*
 * Starts `cmd` on the core (takes the reference; its passwords are wiped),
 * then connects and pumps until the task ends. Account commands start
 * before the link comes up: the core then does not resume a stored session
 * first (login, register) or sends prelogin before it (passwd). When the
 * connection cannot be made (printed) the task is cancelled.
 * Returns the connection's exit code (0 when connected); *end is filled
 * either way unless the command could not start (-1).
 */
static int account_run(struct drive *d, json_t *cmd, struct drive_end *end)
{
	int64_t task;
	int ended = 0, rc;

	memset(end, 0, sizeof(*end));
	json_incref(cmd);
	task = drive_start(d, cmd);
	account_wipe(cmd);
	json_decref(cmd);
	if (task < 0)
		return -1;
	rc = d->conn ? CLI_EXIT_OK : drive_connect(d);
	if (rc)
		emc_cancel(d->core, task, drive_now_ms());
	while (!ended)
		drive_pump(d, -1, 1000, task, end, &ended);
	return rc;
}

/* Prints why a task failed as the CLI always has; returns its exit code. */
static int account_report(const struct drive_end *end)
{
	char message[sizeof(end->message)], wait[48];

	snprintf(message, sizeof(message), "%s", end->message);
	cli_defang(message);
	if (end->client || !strcmp(end->code, "unreachable"))
		return cli_fail(end->exit, "%s", message);
	if (end->retry_after_ms > 0 || em_err_retryable(em_err_from_code(end->code)))
		fprintf(stderr, "error: %s (%s); try again in %s.\n", message, end->code,
		        cli_describe_wait(end->retry_after_ms, wait, sizeof(wait)));
	else
		fprintf(stderr, "error: %s (%s)\n", message, end->code);
	return end->exit;
}

/*
 * The exit code of an account_run() that returned `run`: CLI_EXIT_LOCAL when
 * the command could not start, the connection's code when it could not be
 * made, the task's (printed by account_report()) when it failed, else
 * CLI_EXIT_OK.
 */
static int account_exit(int run, const struct drive_end *end)
{
	if (run < 0)
		return CLI_EXIT_LOCAL;
	if (run)
		return run;
	return end->ok ? CLI_EXIT_OK : account_report(end);
}

/* A result's string member made safe for the terminal. Who frees: the caller. */
static char *account_text(json_t *obj, const char *key, const char *fallback)
{
	const char *v = json_string_value(json_object_get(obj, key));
	char *s = strdup(v ? v : fallback);

	if (s)
		cli_defang(s);
	return s;
}

/* Prints a new recovery code with what it is for (register, recovery-code). */
static void account_print_code(json_t *result)
{
	char *code = account_text(result, "recovery_code", "");

	if (code && *code) {
		printf("\nYour recovery code, shown only this once:\n\n    %s\n\n", code);
		printf("Write it down and keep it somewhere safe. If you forget your password,\n"
		       "`ementor recover USERNAME` sets a new one with it: nobody else can, not\n"
		       "even the server's operator. Anyone who has it can unlock your keys, so\n"
		       "keep it like a password. `ementor recovery-code` makes a new one.\n"
		       "Lose both the password and this code, and your keys are gone for good: a\n"
		       "manager of your programme can only give you a NEW identity (`ementor\n"
		       "reset`), and what was sealed to your old keys, such as old messages,\n"
		       "stays unreadable to you.\n");
	}
	if (code)
		sodium_memzero(code, strlen(code));
	free(code);
}

/* ---- register ---- */

static const char register_usage[] =
    "Usage: ementor register --invite CODE --username NAME [--display-name \"FULL NAME\"]\n"
    "                        [--accept-privacy] [--lang en|pl]\n"
    "\n"
    "Create your account from an invite code, then log in on this device.\n"
    "The invite decides your role (manager, mentor or mentee) and programme.\n"
    "Your signing and encryption keys are made on this device; the server only\n"
    "stores them locked with a key derived from your password, and the password\n"
    "itself never leaves this device.\n"
    "\n"
    "Options:\n"
    "  --invite CODE          the invite code you were given, or the link\n"
    "                         (https://.../#join=CODE) e-mailed to you\n"
    "  --username NAME        3 to 32 of a-z 0-9 . _ -, starting with a letter or digit\n"
    "                         (upper case is folded to lower case)\n"
    "  --display-name NAME    the name others see (default: the username)\n"
    "  --accept-privacy       accept the server's privacy notice without asking (for\n"
    "                         scripts; the notice is still printed)\n"
    "  --lang LANG            the language of the privacy notice: en (default) or pl\n"
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
	const char *lang;
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
	else if (opt == 'l' && strcmp(arg, "en") && strcmp(arg, "pl"))
		return cli_fail(CLI_EXIT_USAGE, "--lang takes en or pl");
	else if (opt == 'l')
		a->lang = arg;
	return CLI_CONTINUE;
}

/*
 * The core's `privacy` command (the notice, its hash checked there) on a
 * connection closed again afterwards: the user may take longer to read it
 * than the server waits for a login. Shows it and asks for acceptance.
 * Returns an exit code; on CLI_EXIT_OK *notice is the core's result.
 * Who frees: the caller, json_decref(*notice).
 */
static int register_privacy(struct cli *cli, struct drive *d, int accepted, const char *lang,
                            json_t **notice)
{
	struct drive_end end;
	int rc, ok;

	*notice = NULL;
	rc = account_run(d, json_pack("{s:s, s:s}", "cmd", "privacy", "lang", lang ? lang : "en"),
	                 &end);
	drive_disconnect(d);
	rc = account_exit(rc, &end);
	if (rc) {
		drive_end_clear(&end);
		return rc;
	}
	{
		const char *text = json_string_value(json_object_get(end.result, "text"));
		char *safe = text_for_terminal(text, strlen(text));
		char *version = account_text(end.result, "version", "?");
		FILE *f = cli->json ? stderr : stdout;

		fprintf(f, "Privacy notice (version %s):\n\n%s\n\n", version ? version : "?",
		        safe ? safe : "(out of memory)");
		free(safe);
		free(version);
		fflush(f);
	}
	*notice = end.result;
	end.result = NULL;
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
	    {"lang", required_argument, NULL, 'l'},
	    {NULL, 0, NULL, 0},
	};
	struct register_args a = {NULL, NULL, NULL, NULL, 0};
	struct account_secrets *sec = NULL;
	struct drive d;
	struct drive_end end;
	json_t *notice = NULL, *programme, *cmd;
	char username[EM_USERNAME_MAX + 1];
	const char *display;
	char *role = NULL, *fp = NULL;
	const char *typed;
	int rc, first;

	memset(&d, 0, sizeof(d));
	memset(&end, 0, sizeof(end));
	rc = cli_parse(cli, argc, argv, opts, register_usage, register_option, &a, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (!a.invite)
		return cli_usage_error(cli, "--invite CODE is required");
	typed = a.invite;
	a.invite = cli_invite_code(a.invite);
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

	rc = drive_open_account(cli, &d, 0);
	if (rc)
		goto out;
	rc = register_privacy(cli, &d, a.accept_privacy, a.lang, &notice);
	if (rc)
		goto out;
	sec = account_secrets_new();
	if (!sec) {
		rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
		goto out;
	}
	rc = account_password("EMENTOR_PASSWORD",
	                      "Choose a password: ", "Repeat the password: ", sec->password);
	if (rc < 0) {
		rc = -rc;
		goto out;
	}
	rc = account_utf8(sec->password);
	if (rc)
		goto out;
	cmd = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:O, s:O}}", "cmd", "register", "server",
	                cli_server(cli, NULL), "invite", a.invite, "username", username,
	                "display_name", display, "password", sec->password, "privacy", "version",
	                json_object_get(notice, "version"), "text_hash",
	                json_object_get(notice, "text_hash"));
	sodium_memzero(sec->password, sizeof(sec->password));
	rc = account_exit(account_run(&d, cmd, &end), &end);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(end.result);
		goto anchor;
	}
	role = account_text(json_object_get(end.result, "user"), "role", "?");
	fp = account_text(end.result, "fingerprint", "?");
	programme = json_object_get(end.result, "programme_id");
	if (json_is_integer(programme))
		printf("Registered %s as %s (programme %lld).\n", username, role ? role : "?",
		       (long long)json_integer_value(programme));
	else
		printf("Registered %s as %s.\n", username, role ? role : "?");
	printf("Your key fingerprint: %s\n", fp ? fp : "?");
	printf("Logged in. Compare fingerprints with your mentoring partners when you first "
	       "meet.\n");
	account_print_code(end.result);
anchor:
	/* a manager's fingerprint in the invite: verified now, for the profile (never fatal) */
	drive_close(&d);
	memset(&d, 0, sizeof(d));
	profile_anchor_after_join(
	    cli, json_integer_value(json_object_get(end.result, "programme_id")), typed);
out:
	free(role);
	free(fp);
	json_decref(notice);
	drive_end_clear(&end);
	drive_close(&d);
	account_secrets_free(sec);
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
	struct drive d;
	struct drive_end end;
	const char *name = NULL, *replaced;
	char username[EM_USERNAME_MAX + 1];
	char *role = NULL, *fp = NULL;
	int rc, first;

	memset(&d, 0, sizeof(d));
	memset(&end, 0, sizeof(end));
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

	rc = drive_open_account(cli, &d, 0);
	if (rc)
		goto out;
	sec = account_secrets_new();
	if (!sec) {
		rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
		goto out;
	}
	rc = account_password("EMENTOR_PASSWORD", "Password: ", NULL, sec->password);
	if (rc < 0) {
		rc = -rc;
		goto out;
	}
	rc = account_utf8(sec->password);
	if (rc)
		goto out;
	/*
	 * The server closes a connection that has not logged in within 10 s; a
	 * slow derivation can outlast that. Then once more on a new connection.
	 */
	for (int attempt = 0; attempt < 2; attempt++) {
		drive_end_clear(&end);
		d.quiet_link = attempt == 0;
		rc = account_run(&d,
		                 json_pack("{s:s, s:s, s:s, s:s}", "cmd", "login", "server",
		                           cli_server(cli, NULL), "username", username, "password",
		                           sec->password),
		                 &end);
		if (rc || end.ok || strcmp(end.code, "unreachable") != 0 || !d.link_lost)
			break;
		drive_disconnect(&d);
	}
	sodium_memzero(sec->password, sizeof(sec->password));
	if (!rc && !end.ok && !strcmp(end.code, "unreachable") && d.link_error[0])
		rc = cli_fail(CLI_EXIT_NET, "%s", d.link_error);
	else
		rc = account_exit(rc, &end);
	if (rc)
		goto out;
	replaced = json_string_value(json_object_get(end.result, "replaced"));
	if (replaced)
		fprintf(stderr, "Note: this replaces the saved login of %s on this device.\n",
		        replaced);
	if (cli->json) {
		json_object_del(end.result, "fingerprint");
		json_object_del(end.result, "replaced");
		cli_print_json(end.result);
		goto out;
	}
	role = account_text(json_object_get(end.result, "user"), "role", "?");
	fp = account_text(end.result, "fingerprint", "?");
	printf("Logged in as %s (%s).\n", username, role ? role : "?");
	printf("Your key fingerprint: %s\n", fp ? fp : "?");
out:
	free(role);
	free(fp);
	drive_end_clear(&end);
	drive_close(&d);
	account_secrets_free(sec);
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
	struct drive d;
	struct drive_end end;
	int rc, first;

	memset(&d, 0, sizeof(d));
	memset(&end, 0, sizeof(end));
	rc = cli_parse(cli, argc, argv, NULL, logout_usage, NULL, NULL, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = drive_open_account(cli, &d, 1);
	if (rc)
		goto out;
	rc = account_run(&d, json_pack("{s:s}", "cmd", "logout"), &end);
	if (rc < 0) {
		rc = CLI_EXIT_LOCAL;
		goto out;
	}
	if (!rc && !end.ok && !json_is_false(json_object_get(end.result, "revoked"))) {
		/* refused before anything was done (session.json could not be deleted) */
		rc = account_report(&end);
		goto out;
	}
	if (!rc && !end.ok)
		rc = account_report(&end);
	if (rc) {
		fprintf(stderr,
		        "The session was deleted from this device, but the server could not "
		        "revoke it: its token stays valid until %s.\n",
		        d.session.expires_at);
		goto out;
	}
	if (cli->json) {
		json_t *res = json_object();

		cli_print_json(res);
		json_decref(res);
	} else {
		printf("Logged out %s.\n", d.session.username);
	}
out:
	drive_end_clear(&end);
	drive_close(&d);
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
	struct account_secrets *sec = NULL;
	struct drive d;
	struct drive_end end;
	int rc, first;

	memset(&d, 0, sizeof(d));
	memset(&end, 0, sizeof(end));
	rc = cli_parse(cli, argc, argv, NULL, passwd_usage, NULL, NULL, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = drive_open(cli, &d, 0); /* the session and its keys, not connected yet */
	if (rc) {
		if (rc == CLI_EXIT_AUTH && d.session.username[0])
			rc = CLI_EXIT_LOCAL; /* logged in, but the keys are not here (as before) */
		goto out;
	}
	sec = account_secrets_new();
	if (!sec) {
		rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
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
	rc = account_utf8(sec->password);
	if (!rc)
		rc = account_utf8(sec->new_password);
	if (rc)
		goto out;
	rc = account_run(&d,
	                 json_pack("{s:s, s:s, s:s}", "cmd", "passwd", "password", sec->password,
	                           "new_password", sec->new_password),
	                 &end);
	account_secrets_free(sec);
	sec = NULL;
	rc = account_exit(rc, &end);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(end.result);
	} else {
		json_t *n = json_object_get(end.result, "revoked_sessions");
		long long revoked = json_is_integer(n) ? (long long)json_integer_value(n) : 0;

		printf("Password changed for %s.", d.session.username);
		if (revoked == 1)
			printf(" 1 other session was ended.\n");
		else
			printf(" %lld other sessions were ended.\n", revoked);
	}
out:
	drive_end_clear(&end);
	drive_close(&d);
	account_secrets_free(sec);
	return rc;
}

/* ---- recovery-code ---- */

static const char recovery_code_usage[] =
    "Usage: ementor recovery-code\n"
    "\n"
    "Make a new recovery code for your account (asks for your password). The code\n"
    "unlocks your keys and sets a new password if you forget yours\n"
    "(`ementor recover`); the code you had before stops working. It is shown once.\n"
    "\n"
    "The password is taken from EMENTOR_PASSWORD if set, else asked on the terminal.\n";

int cmd_recovery_code(struct cli *cli, int argc, char **argv)
{
	struct account_secrets *sec = NULL;
	struct drive d;
	struct drive_end end;
	int rc, first;

	memset(&d, 0, sizeof(d));
	memset(&end, 0, sizeof(end));
	rc = cli_parse(cli, argc, argv, NULL, recovery_code_usage, NULL, NULL, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = drive_open(cli, &d, 0); /* the session and its keys, not connected yet */
	if (rc)
		goto out;
	if (!(sec = account_secrets_new())) {
		rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
		goto out;
	}
	rc = account_password("EMENTOR_PASSWORD", "Password: ", NULL, sec->password);
	if (rc < 0) {
		rc = -rc;
		goto out;
	}
	if ((rc = account_utf8(sec->password)))
		goto out;
	rc = account_run(&d, json_pack("{s:s, s:s}", "cmd", "recovery", "password", sec->password),
	                 &end);
	account_secrets_free(sec);
	sec = NULL;
	if ((rc = account_exit(rc, &end)))
		goto out;
	if (cli->json)
		cli_print_json(end.result);
	else
		account_print_code(end.result);
out:
	drive_end_clear(&end);
	drive_close(&d);
	account_secrets_free(sec);
	return rc;
}

/* ---- recover ---- */

static const char recover_usage[] =
    "Usage: ementor recover USERNAME\n"
    "\n"
    "Set a new password with the recovery code you were given when you registered\n"
    "(or by `ementor recovery-code`), then log in on this device. Your keys stay\n"
    "the same, so your rooms and your contacts' safety numbers do not change; every\n"
    "other session of your account is ended. Without the code the server cannot\n"
    "help: ask your programme's manager for a new account.\n"
    "\n"
    "The code is taken from EMENTOR_RECOVERY_CODE and the new password from\n"
    "EMENTOR_NEW_PASSWORD if set, else both are asked on the terminal.\n";

/*
 * account_code_run - the part `recover` and `reset` share: USERNAME checked
 * and folded into username, the account store opened into d, the one-time
 * code (given, else from env, else asked as prompt) and a new password
 * (EMENTOR_NEW_PASSWORD, else asked twice) collected, and the client
 * command cmd run with the code under code_key. The secrets are wiped before
 * it returns. 0 with end filled, or an exit code (printed).
 */
static int account_code_run(struct cli *cli, const char *user, const char *given, const char *env,
                            const char *prompt, const char *cmd, const char *code_key,
                            struct drive *d, struct drive_end *end,
                            char username[EM_USERNAME_MAX + 1])
{
	struct account_secrets *sec = NULL;
	int rc;

	if (em_check_username(user) != EM_OK)
		return cli_usage_error(cli, "'%s' is not a valid username", user);
	em_username_fold(user, username);
	rc = drive_open_account(cli, d, 0);
	if (rc)
		goto out;
	if (!(sec = account_secrets_new())) {
		rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
		goto out;
	}
	/* the code in .password (no echo either), the new password in .new_password */
	if (given && strlen(given) < sizeof(sec->password))
		snprintf(sec->password, sizeof(sec->password), "%s", given);
	else
		rc = account_password(env, prompt, NULL, sec->password);
	if (rc >= 0)
		rc = account_password("EMENTOR_NEW_PASSWORD", "New password: ",
		                      "Repeat the new password: ", sec->new_password);
	if (rc < 0) {
		rc = -rc;
		goto out;
	}
	if ((rc = account_utf8(sec->new_password)))
		goto out;
	rc = account_run(d,
	                 json_pack("{s:s, s:s, s:s, s:s, s:s}", "cmd", cmd, "server",
	                           cli_server(cli, NULL), "username", username, code_key,
	                           sec->password, "new_password", sec->new_password),
	                 end);
	rc = account_exit(rc, end);
out:
	account_secrets_free(sec);
	return rc;
}

int cmd_recover(struct cli *cli, int argc, char **argv)
{
	struct drive d;
	struct drive_end end;
	char username[EM_USERNAME_MAX + 1];
	int rc, first;

	memset(&d, 0, sizeof(d));
	memset(&end, 0, sizeof(end));
	rc = cli_parse(cli, argc, argv, NULL, recover_usage, NULL, NULL, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = account_code_run(cli, argv[first], NULL, "EMENTOR_RECOVERY_CODE",
	                      "Recovery code: ", "recover", "recovery_code", &d, &end, username);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(end.result);
	} else {
		char *fp = account_text(end.result, "fingerprint", "?");

		printf(
		    "New password set for %s; logged in. Your key fingerprint is unchanged: %s\n",
		    username, fp ? fp : "?");
		printf(
		    "Your other sessions were ended. Your recovery code still works; make a new\n"
		    "one with `ementor recovery-code` if someone else may have seen it.\n");
		free(fp);
	}
out:
	drive_end_clear(&end);
	drive_close(&d);
	return rc;
}

/* ---- reset ---- */

static const char reset_usage[] =
    "Usage: ementor reset [--code CODE] USERNAME\n"
    "\n"
    "Forgot your password and have no recovery code? A manager of your programme\n"
    "can give you a reset code (`ementor reset-code`), also e-mailed to you as a\n"
    "link if your address is verified; CODE may be that link. With it you set a\n"
    "new password AND get a new identity: new keys, made here. What you cannot\n"
    "get back: messages, diary entries and anything else sealed to your old keys\n"
    "stay unreadable to you (nobody ever had those keys but you). The people of\n"
    "your rooms see that your keys changed and should check your new safety\n"
    "number with you; you rejoin each room's conversation once its agreement is\n"
    "signed again by everyone. Every session of your account is ended, and you\n"
    "get a new recovery code.\n"
    "\n"
    "The code is taken from --code, else EMENTOR_RESET_CODE, else asked; the new\n"
    "password from EMENTOR_NEW_PASSWORD if set, else asked on the terminal.\n";

static int reset_option(void *ctx, int opt, const char *arg)
{
	if (opt == 'c')
		*(const char **)ctx = arg;
	return CLI_CONTINUE;
}

int cmd_reset(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"code", required_argument, NULL, 'c'},
	                                     {NULL, 0, NULL, 0}};
	struct drive d;
	struct drive_end end;
	char username[EM_USERNAME_MAX + 1];
	const char *code = NULL;
	int rc, first;

	memset(&d, 0, sizeof(d));
	memset(&end, 0, sizeof(end));
	rc = cli_parse(cli, argc, argv, opts, reset_usage, reset_option, &code, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = account_code_run(cli, argv[first], code, "EMENTOR_RESET_CODE", "Reset code: ", "reset",
	                      "reset_code", &d, &end, username);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(end.result);
	} else {
		char *fp = account_text(end.result, "fingerprint", "?");

		printf("New password and new keys set for %s; logged in.\n"
		       "Your new key fingerprint: %s\n",
		       username, fp ? fp : "?");
		printf("Your other sessions were ended. Messages sealed to your old keys stay\n"
		       "unreadable to you. The people of your %lld room(s) see your keys change:\n"
		       "show them this fingerprint (`ementor verify USER` gives your safety\n"
		       "number with each), then sign each room's agreement again.\n",
		       (long long)json_integer_value(json_object_get(end.result, "rooms")));
		account_print_code(end.result);
		free(fp);
	}
out:
	drive_end_clear(&end);
	drive_close(&d);
	return rc;
}

/* ---- reset-code ---- */

static const char reset_code_usage[] =
    "Usage: ementor reset-code --programme ID [--expires-days N] USERNAME\n"
    "\n"
    "For a mentor or mentee of your programme who forgot their password and has no\n"
    "recovery code: a one-time code with which they set a new password and a new\n"
    "identity (`ementor reset --code CODE USERNAME`). It is shown here once and,\n"
    "if their e-mail address is verified, e-mailed to them as a link. It expires\n"
    "after N days (1 to 14, default 3) and replaces any earlier code.\n"
    "\n"
    "Whoever holds the code can become that person: give it to them yourself, in\n"
    "person or by a channel you trust. Their rooms' members will see their keys\n"
    "change and should check the new safety number with them face to face. Both\n"
    "the code's issue and its use are kept in the programme's history.\n";

struct reset_code_args {
	const char *programme;
	long days;
};

static int reset_code_option(void *ctx, int opt, const char *arg)
{
	struct reset_code_args *a = ctx;
	char *end = NULL;

	if (opt == 'p') {
		a->programme = arg;
	} else if (opt == 'e') {
		a->days = strtol(arg, &end, 10);
		if (!end || *end || a->days < 1 || a->days > 14)
			return cli_fail(CLI_EXIT_USAGE, "--expires-days takes 1 to 14");
	}
	return CLI_CONTINUE;
}

int cmd_reset_code(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"programme", required_argument, NULL, 'p'},
	                                     {"expires-days", required_argument, NULL, 'e'},
	                                     {NULL, 0, NULL, 0}};
	struct reset_code_args a = {NULL, 3};
	json_t *res = NULL;
	int64_t id;
	int rc, first;

	rc =
	    cli_parse(cli, argc, argv, opts, reset_code_usage, reset_code_option, &a, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (!a.programme)
		return cli_usage_error(cli, "--programme is required");
	if (em_check_username(argv[first]) != EM_OK)
		return cli_usage_error(cli, "'%s' is not a valid username", argv[first]);
	if ((rc = cli_programme_ref(cli, a.programme, &id)) != CLI_CONTINUE)
		return rc;
	rc = cli_request(cli, EM_OP_RESET_ISSUE,
	                 json_pack("{s:I, s:s, s:I}", "programme_id", (json_int_t)id, "username",
	                           argv[first], "expires_in_days", (json_int_t)a.days),
	                 &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
	} else {
		char *code = account_text(res, "code", "?"),
		     *user = account_text(res, "username", "?");
		char when[32];

		text_local_time(cli_str(res, "expires_at", NULL), when, sizeof(when));
		printf("Reset code for %s (works once, until %s):\n\n    %s\n\n", user ? user : "?",
		       when, code ? code : "?");
		printf("%s\nThey run: ementor reset --code CODE %s\n",
		       json_is_true(json_object_get(res, "emailed"))
		           ? "It was also e-mailed to their verified address as a link."
		           : "They have no verified e-mail address: give it to them yourself.",
		       user ? user : "USERNAME");
		if (code)
			sodium_memzero(code, strlen(code));
		free(code);
		free(user);
	}
out:
	json_decref(res);
	return rc;
}
