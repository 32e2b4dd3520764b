/*
 * cli.h - what every ementor command shares: global options, exit codes,
 * option parsing, connecting and resuming the saved session, turning error
 * replies into messages and exit codes, and printing tables or JSON.
 */
#ifndef CLIENT_CLI_H
#define CLIENT_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "conn.h"
#include "em_crypto.h"
#include "em_proto.h"
#include "home.h"

#define CLI_DEFAULT_SERVER "wss://localhost:8443"

/* Exit codes; `ementor --help` lists them. */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_REFUSED = 1, /* the server refused the request */
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_AUTH = 3,  /* not logged in, or the session expired */
	CLI_EXIT_NET = 4,   /* cannot reach the server, TLS or WebSocket failure */
	CLI_EXIT_LOCAL = 5, /* home directory, files, terminal */
};

/* Global options and state, filled by main() and by cli_parse(). */
struct cli {
	const char *server;   /* --server or $EMENTOR_SERVER; NULL when not given */
	const char *ca;       /* --ca or $EMENTOR_CA; NULL: the system's CAs */
	const char *home_dir; /* --home; NULL: see home_resolve() */
	int json;             /* --json */
	int insecure_dev;     /* --insecure-plaintext-dev: ws:// allowed (development only) */
	char command[48];     /* "room create": for messages */
	struct home home;     /* resolved by cli_home() */
};

/* Long options every command takes; they may come before or after the command. */
enum {
	CLI_OPT_SERVER = 0x1000,
	CLI_OPT_CA,
	CLI_OPT_HOME,
	CLI_OPT_JSON,
	CLI_OPT_VERSION,
	CLI_OPT_INSECURE,
};
#define CLI_GLOBAL_OPTIONS                                                                         \
	{"server", required_argument, NULL, CLI_OPT_SERVER},                                       \
	    {"ca", required_argument, NULL, CLI_OPT_CA},                                           \
	    {"home", required_argument, NULL, CLI_OPT_HOME},                                       \
	    {"json", no_argument, NULL, CLI_OPT_JSON},                                             \
	    {"insecure-plaintext-dev", no_argument, NULL, CLI_OPT_INSECURE},                       \
	{                                                                                          \
		"help", no_argument, NULL, 'h'                                                     \
	}
/* Handles a global option; returns 0, or -1 when `opt` is not one. */
int cli_global_option(struct cli *cli, int opt, const char *arg);

/* Returned by cli_parse() when the command should go on. */
#define CLI_CONTINUE (-1)

/*
 * Parses a command's arguments. argv[0] is the command's last word. `opts`
 * (terminated by a zero entry, at most 16) are the command's own options;
 * for each one found, on_option(ctx, opt->val, optarg) is called and returns
 * CLI_CONTINUE or an exit code. Global options and --help are handled here.
 * Between min_pos and max_pos positional arguments are allowed; they are
 * left in argv[*first .. argc - 1].
 * Returns CLI_CONTINUE, or the exit code to return at once (0 after --help).
 */
int cli_parse(struct cli *cli, int argc, char **argv, const struct option *opts, const char *usage,
              int (*on_option)(void *ctx, int opt, const char *arg), void *ctx, int min_pos,
              int max_pos, int *first);

/* Prints "ementor CMD: <message>" and a pointer to --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints "ementor: <message>"; returns `code`. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Resolves cli->home (--home, $EMENTOR_HOME, ...). Returns an exit code. */
int cli_home(struct cli *cli);
/*
 * Reports a failed home.c call on file `name` (NULL: the directory itself);
 * `doing` is "create", "read", "write" or "delete". Returns CLI_EXIT_LOCAL.
 */
int cli_home_error(const struct cli *cli, const char *doing, const char *name, int err);

/* The server to use: --server/$EMENTOR_SERVER, else the session's, else the default. */
const char *cli_server(const struct cli *cli, const struct home_session *s);

/*
 * Connects to `server`. Returns an exit code; on CLI_EXIT_OK *out is the
 * connection. Who frees: the caller, conn_free(*out).
 */
int cli_connect(const struct cli *cli, const char *server, struct conn **out);

/*
 * Sends a request (takes the reference to args, may be NULL) and waits for
 * the reply. On CLI_EXIT_OK, *result is the `ok` object, its strings freed of
 * terminal control characters unless --json; otherwise the error has been
 * printed and the exit code is returned.
 * Who frees: the caller, json_decref(*result).
 */
int cli_call(const struct cli *cli, struct conn *c, enum em_op op, json_t *args, json_t **result);
/*
 * As cli_call(), but the result's strings are left exactly as the server sent
 * them, even without --json: for documents the user saves to a file (an
 * iCalendar export). The caller makes them safe before showing them on a
 * terminal. Who frees: the caller, json_decref(*result).
 */
int cli_call_raw(struct conn *c, enum em_op op, json_t *args, json_t **result);

/* "about 3 seconds", "about 2 minutes": how long the server asks us to wait. */
const char *cli_describe_wait(int64_t ms, char *buf, size_t len);

/* Resolves the home and loads session.json, explaining failures. Returns an exit code. */
int cli_session_load(struct cli *cli, struct home_session *s);
/* Sends `resume` with the saved token on c, explaining failures. Returns an exit code. */
int cli_session_resume(struct cli *cli, struct conn *c, struct home_session *s);

/*
 * For commands that need a login: loads session.json, connects and resumes
 * the session. Returns an exit code; on CLI_EXIT_OK, *out is the connection
 * and *s the session (updated if the server moved its expiry).
 * Who frees: the caller, conn_free(*out) and home_session_wipe(s).
 */
int cli_session_open(struct cli *cli, struct home_session *s, struct conn **out);

/*
 * For commands that send one request: cli_session_open(), cli_call() (takes
 * the reference to args; NULL sends none), then closes the connection and
 * wipes the session. Returns an exit code; on CLI_EXIT_OK *res is the result.
 * Who frees: the caller, json_decref(*res).
 */
int cli_request(struct cli *cli, enum em_op op, json_t *args, json_t **res);
/* As cli_request(), but with cli_call_raw(): the result's strings are left as sent. */
int cli_request_raw(struct cli *cli, enum em_op op, json_t *args, json_t **res);

/*
 * Replaces terminal control characters (C0, DEL and UTF-8 C1) with '?' in
 * place: text from the server must not drive the user's terminal.
 */
void cli_defang(char *p);

/* Prints a result as indented JSON on stdout (for --json). */
void cli_print_json(json_t *result);

/* A string member, or `fallback` when absent or not a string. */
const char *cli_str(json_t *obj, const char *key, const char *fallback);
/* An integer member as text ("-" when absent, "" when null). */
const char *cli_int_text(json_t *obj, const char *key, char *buf, size_t len);

/*
 * The fingerprint of a user object, computed here from its sign_pk and box_pk
 * when present (never trusting the server's string alone). Returns 0, 1 when
 * the server's "fingerprint" disagrees with the keys, -1 when no keys were
 * given (out then holds the server's string or "-").
 */
int cli_fingerprint(json_t *user, char out[EM_FINGERPRINT_STRLEN]);

/* Parses a positive identifier; returns 0 or -1. */
int cli_parse_id(const char *s, int64_t *out);

/*
 * A programme or room the user named by number or by name (compared without
 * regard to case): a number is taken as it is; a name is looked up in
 * programme.list / room.list, and must match exactly one. Returns
 * CLI_CONTINUE with *id set, or an exit code (a usage error naming the
 * candidates, or the request's failure). For commands that manage or show
 * things only: a server that lied about a name could point a message at
 * another of your rooms, so the commands that write content take numbers.
 */
int cli_programme_ref(struct cli *cli, const char *text, int64_t *id);
int cli_room_ref(struct cli *cli, const char *text, int64_t *id);

/* A simple left-aligned text table. */
struct cli_table {
	size_t ncols;
	size_t nrows;
	size_t cap;
	char **cells; /* nrows * ncols, owned */
	const char *const *head;
};
void cli_table_init(struct cli_table *t, size_t ncols, const char *const *head);
/* Adds a row of ncols strings (copied; NULL prints as "-"). Returns 0 or -1. */
int cli_table_add(struct cli_table *t, const char *const *row);
void cli_table_print(const struct cli_table *t, FILE *f, const char *indent);
void cli_table_free(struct cli_table *t);

/* Commands; argv[0] is the command's last word. Each returns an exit code. */
int cmd_register(struct cli *cli, int argc, char **argv);
int cmd_goal_add(struct cli *cli, int argc, char **argv);
int cmd_midterm_write(struct cli *cli, int argc, char **argv);
int cmd_midterm_show(struct cli *cli, int argc, char **argv);
int cmd_report_create(struct cli *cli, int argc, char **argv);
int cmd_report_list(struct cli *cli, int argc, char **argv);
int cmd_report_show(struct cli *cli, int argc, char **argv);
int cmd_report_handle(struct cli *cli, int argc, char **argv);
int cmd_support_open(struct cli *cli, int argc, char **argv);
int cmd_announce_send(struct cli *cli, int argc, char **argv);
int cmd_announce_list(struct cli *cli, int argc, char **argv);
int cmd_goal_list(struct cli *cli, int argc, char **argv);
int cmd_goal_show(struct cli *cli, int argc, char **argv);
int cmd_goal_update(struct cli *cli, int argc, char **argv);
int cmd_goal_share(struct cli *cli, int argc, char **argv);
int cmd_goal_task(struct cli *cli, int argc, char **argv);
int cmd_rating_add(struct cli *cli, int argc, char **argv);
int cmd_rating_list(struct cli *cli, int argc, char **argv);
int cmd_questionnaire_show(struct cli *cli, int argc, char **argv);
int cmd_questionnaire_edit(struct cli *cli, int argc, char **argv);
int cmd_questionnaire_answer(struct cli *cli, int argc, char **argv);
int cmd_questionnaire_results(struct cli *cli, int argc, char **argv);
int cmd_audit_progress(struct cli *cli, int argc, char **argv);
struct drive;
/*
 * After a new rating or goal version: shares its figures with the
 * programme's managers when share_progress is granted (core/progress.c).
 * Takes doc. *result: {"shared", "reason"?, "readers"?} (who frees: the
 * caller) or NULL. 0, or -1 when the command could not start.
 */
int cmd_share_progress(struct drive *d, int64_t room, const char *kind, json_t *doc,
                       json_t **result);
int cmd_login(struct cli *cli, int argc, char **argv);
int cmd_logout(struct cli *cli, int argc, char **argv);
int cmd_whoami(struct cli *cli, int argc, char **argv);
int cmd_passwd(struct cli *cli, int argc, char **argv);
int cmd_recovery_code(struct cli *cli, int argc, char **argv);
int cmd_recover(struct cli *cli, int argc, char **argv);
int cmd_reset(struct cli *cli, int argc, char **argv);
int cmd_reset_code(struct cli *cli, int argc, char **argv);
int cmd_programme_create(struct cli *cli, int argc, char **argv);
int cmd_programme_list(struct cli *cli, int argc, char **argv);
int cmd_programme_show(struct cli *cli, int argc, char **argv);
int cmd_invite_create(struct cli *cli, int argc, char **argv);
int cmd_invite_accept(struct cli *cli, int argc, char **argv);
/* cmd_mail.c */
int cmd_notify_settings(struct cli *cli, int argc, char **argv);
int cmd_notify_verify(struct cli *cli, int argc, char **argv);
int cmd_invite_list(struct cli *cli, int argc, char **argv);
int cmd_invite_resend(struct cli *cli, int argc, char **argv);
int cmd_invite_revoke(struct cli *cli, int argc, char **argv);
int cmd_import(struct cli *cli, int argc, char **argv);
/* An invite as typed: a bare code, or a link PUBLIC_URL/#join=CODE (the code in it). */
const char *cli_invite_code(const char *arg);
int cmd_room_create(struct cli *cli, int argc, char **argv);
int cmd_room_list(struct cli *cli, int argc, char **argv);
int cmd_room_show(struct cli *cli, int argc, char **argv);
int cmd_room_add(struct cli *cli, int argc, char **argv);
int cmd_room_remove(struct cli *cli, int argc, char **argv);
int cmd_programme_edit(struct cli *cli, int argc, char **argv);
int cmd_programme_end(struct cli *cli, int argc, char **argv);
int cmd_programme_archive(struct cli *cli, int argc, char **argv);
int cmd_programme_history(struct cli *cli, int argc, char **argv);
int cmd_room_rename(struct cli *cli, int argc, char **argv);
int cmd_match_suggest(struct cli *cli, int argc, char **argv);
int cmd_match_accept(struct cli *cli, int argc, char **argv);
/* cmd_profile.c: profiles for matching (PROTOCOL.md 14) */
int cmd_profile_questions(struct cli *cli, int argc, char **argv);
int cmd_profile_fill(struct cli *cli, int argc, char **argv);
int cmd_profile_show(struct cli *cli, int argc, char **argv);
int cmd_profile_anchor(struct cli *cli, int argc, char **argv);
/*
 * The match input (docs/MATCHING.md) of a programme's profiles, each opened
 * and checked by the core; *left_out lists [{"username","why"}] those that
 * fail. NULL when they could not be fetched (the error was printed). Who
 * frees: the caller, both.
 */
json_t *profile_match_load(struct cli *cli, int64_t programme, json_t **left_out);
/*
 * After joining programme with `invite` as typed: when it carries a
 * manager's key fingerprint (CODE&m=HEX), that manager is verified for the
 * programme's profiles (core profile.anchor). 0, or the failure's exit code
 * (printed).
 */
int profile_anchor_after_join(struct cli *cli, int64_t programme, const char *invite);
int cmd_send(struct cli *cli, int argc, char **argv);
int cmd_read(struct cli *cli, int argc, char **argv);
int cmd_chat(struct cli *cli, int argc, char **argv);
int cmd_outbox(struct cli *cli, int argc, char **argv);
int cmd_verify(struct cli *cli, int argc, char **argv);
int cmd_trust(struct cli *cli, int argc, char **argv);
/*
 * cmd_checkpoint.c's check of --at, --minutes and --place, for cmd_meeting.c:
 * CLI_CONTINUE with *out the "slots" argument (the caller's to json_decref),
 * or an exit code.
 */
int checkpoint_slots_args(struct cli *cli, const char *const *at, size_t nat, int too_many_at,
                          const char *minutes, const char *place, json_t **out);
int cmd_meeting_add(struct cli *cli, int argc, char **argv);
int cmd_meeting_plan(struct cli *cli, int argc, char **argv);
int cmd_meeting_topic(struct cli *cli, int argc, char **argv);
int cmd_checkpoint_list(struct cli *cli, int argc, char **argv);
int cmd_checkpoint_propose(struct cli *cli, int argc, char **argv);
int cmd_checkpoint_accept(struct cli *cli, int argc, char **argv);
int cmd_checkpoint_decline(struct cli *cli, int argc, char **argv);
int cmd_checkpoint_reschedule(struct cli *cli, int argc, char **argv);
int cmd_checkpoint_cancel(struct cli *cli, int argc, char **argv);
int cmd_checkpoint_absent(struct cli *cli, int argc, char **argv);
int cmd_checkpoint_attendance(struct cli *cli, int argc, char **argv);
int cmd_checkpoint_window(struct cli *cli, int argc, char **argv);
int cmd_notices(struct cli *cli, int argc, char **argv);
int cmd_calendar_url(struct cli *cli, int argc, char **argv);
int cmd_calendar_revoke(struct cli *cli, int argc, char **argv);
int cmd_calendar_export(struct cli *cli, int argc, char **argv);
int cmd_diary_writer(struct cli *cli, int argc, char **argv);
int cmd_diary_write(struct cli *cli, int argc, char **argv);
int cmd_diary_remark(struct cli *cli, int argc, char **argv);
int cmd_diary_show(struct cli *cli, int argc, char **argv);
int cmd_diary_list(struct cli *cli, int argc, char **argv);
int cmd_agreement_show(struct cli *cli, int argc, char **argv);
int cmd_agreement_sign(struct cli *cli, int argc, char **argv);
int cmd_agreement_propose(struct cli *cli, int argc, char **argv);
int cmd_agreement_template(struct cli *cli, int argc, char **argv);
/* One agreement.* notice of `ementor notices`, after its time (cmd_agreement.c). */
void agreement_notice_print(json_t *n);
int cmd_consent_list(struct cli *cli, int argc, char **argv);
int cmd_consent_grant(struct cli *cli, int argc, char **argv);
int cmd_consent_withdraw(struct cli *cli, int argc, char **argv);
int cmd_export(struct cli *cli, int argc, char **argv);
int cmd_audit(struct cli *cli, int argc, char **argv);
int cmd_audit_thresholds(struct cli *cli, int argc, char **argv);
int cmd_room_access_log(struct cli *cli, int argc, char **argv);

/*
 * Prints a message the client core opened ({"seq","sent_at","sender",
 * "text"|"error","warning"?}) as "[SEQ] LOCAL-TIME SENDER: TEXT", and
 * "  ! WARNING: …" under it, with terminal control characters defanged.
 */
void cli_print_message(json_t *ev);

#endif
