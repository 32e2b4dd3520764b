/*
 * cmd_consent.c - consent and your data (PROTOCOL.md section 7): `consent
 * list` (your records in the server's consent ledger, each signature checked
 * here with your own key), `consent grant` and `consent withdraw` (signed
 * records; withdrawing data_processing erases the account), and `export`
 * (everything the server holds about you, with your rooms' messages
 * decrypted on this device).
 *
 * DESIGN. A consent record is signed on this device over the exact bytes
 * of PROTOCOL.md 7.1, so the ledger proves what the user agreed to and the
 * server cannot invent or alter a record without the list below showing it
 * as failing. The signing and every check (the signatures of the list, the
 * grant withdrawn, the hash of the sentence agreed to) are the client
 * core's (core/consent.c); the export's messages are opened by the core's
 * "read" task. This file parses options, asks and prints.
 *
 * Thread: main only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "drive.h"
#include "prompt.h"
#include "state_io.h"

/* History page size for the export. */
#define EXPORT_PAGE 200

/* ---- shared ---- */

/*
 * Prints a core command's error the way these commands always have: a
 * server's refusal as "error: MESSAGE (code)". Returns its exit code.
 * consent_run() runs a command to its end and reports its error: 0 or that.
 */
static int consent_report(const struct drive_end *end)
{
	char *safe = text_for_terminal(end->message, strlen(end->message));

	if (end->exit == CLI_EXIT_REFUSED && !end->client)
		fprintf(stderr, "error: %s (%s)\n", safe ? safe : "?", end->code);
	else
		cli_fail(end->exit, "%s", safe ? safe : end->message);
	free(safe);
	return end->exit;
}

static int consent_run(struct drive *d, json_t *cmd, struct drive_end *end)
{
	if (drive_run(d, cmd, end) != 0)
		return CLI_EXIT_LOCAL;
	return end->ok ? CLI_EXIT_OK : consent_report(end);
}

/* ---- consent list ---- */

static const char list_usage[] =
    "Usage: ementor consent list\n"
    "\n"
    "Your records in the server's consent ledger, oldest first: what you granted or\n"
    "withdrew, when, and whether the record's signature verifies with your own key\n"
    "on this device (a record that does not was not made by you). Then what stands\n"
    "now, per purpose.\n"
    "\n"
    "Options:\n"
    "  --json   the server's answer, each entry with \"verified\": true|false\n";

int cmd_consent_list(struct cli *cli, int argc, char **argv)
{
	static const char *const head[] = {"SEQ",     "WHEN",   "PURPOSE",
	                                   "SUBJECT", "ACTION", "SIGNATURE"};
	static const char *const head_now[] = {"PURPOSE", "SUBJECT", "STATE", "SINCE"};
	struct drive d;
	struct drive_end end = {0};
	struct cli_table t, now;
	json_t *res, *e;
	size_t i, bad = 0;
	int rc, first, inited = 0;

	cli_table_init(&t, 6, head);
	cli_table_init(&now, 4, head_now);
	rc = cli_parse(cli, argc, argv, NULL, list_usage, NULL, NULL, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = drive_open(cli, &d, 1);
	inited = d.core != NULL;
	if (rc)
		goto out;
	rc = consent_run(&d, json_pack("{s:s}", "cmd", "consent.list"), &end);
	if (rc)
		goto out;
	res = end.result;
	json_array_foreach(json_object_get(res, "entries"), i, e)
	{
		int ok = json_is_true(json_object_get(e, "verified"));
		char seq[24], when[40];

		bad += !ok;
		if (cli->json)
			continue;
		text_local_time(cli_str(e, "recorded_at", ""), when, sizeof(when));
		{
			const char *row[] = {cli_int_text(e, "seq", seq, sizeof(seq)),
			                     when,
			                     cli_str(e, "purpose", "?"),
			                     cli_str(e, "subject", "?"),
			                     cli_str(e, "action", "?"),
			                     ok ? "verified" : "DOES NOT VERIFY"};

			cli_table_add(&t, row);
		}
	}
	if (cli->json) {
		cli_print_json(res);
	} else if (!t.nrows) {
		printf("No consent records.\n");
	} else {
		cli_table_print(&t, stdout, "");
		json_array_foreach(json_object_get(res, "current"), i, e)
		{
			char when[40];
			const char *row[] = {
			    cli_str(e, "purpose", "?"), cli_str(e, "subject", "?"),
			    json_is_true(json_object_get(e, "granted")) ? "granted" : "withdrawn",
			    when};

			text_local_time(cli_str(e, "at", ""), when, sizeof(when));
			cli_table_add(&now, row);
		}
		if (now.nrows) {
			printf("\nNow:\n");
			cli_table_print(&now, stdout, "  ");
		}
	}
	if (bad)
		fprintf(stderr,
		        "WARNING: %zu record%s of the ledger %s not signed by your key: the server "
		        "shows consents you did not give. Tell your programme's operator.\n",
		        bad, bad == 1 ? "" : "s", bad == 1 ? "is" : "are");
out:
	cli_table_free(&t);
	cli_table_free(&now);
	drive_end_clear(&end);
	if (inited)
		drive_close(&d);
	return rc;
}

/* ---- consent grant | withdraw ---- */

struct consent_args {
	const char *programme;
	const char *room;
	int yes;
};

static int consent_option(void *ctx, int opt, const char *arg)
{
	struct consent_args *a = ctx;

	if (opt == 'p')
		a->programme = arg;
	else if (opt == 'r')
		a->room = arg;
	else if (opt == 'y')
		a->yes = 1;
	return CLI_CONTINUE;
}

/*
 * The subject of a purpose from the options: "programme:ID", "room:ID", or
 * "" for data_processing (its subject is the notice version, found in the
 * ledger). Returns CLI_CONTINUE or a usage exit code.
 */
static int consent_subject(struct cli *cli, const char *purpose, const struct consent_args *a,
                           char *out, size_t len)
{
	int64_t id;

	out[0] = '\0';
	if (!strcmp(purpose, "share_progress")) {
		if (!a->programme || a->room || cli_parse_id(a->programme, &id))
			return cli_usage_error(cli, "share_progress needs --programme ID");
		snprintf(out, len, "programme:%lld", (long long)id);
	} else if (!strcmp(purpose, "agreement")) {
		if (!a->room || a->programme || cli_parse_id(a->room, &id))
			return cli_usage_error(cli, "agreement needs --room ID");
		snprintf(out, len, "room:%lld", (long long)id);
	} else if (!strcmp(purpose, "data_processing")) {
		if (a->room || a->programme)
			return cli_usage_error(cli,
			                       "data_processing takes no --room or --programme");
	} else {
		return cli_usage_error(cli,
		                       "unknown purpose '%s': data_processing, agreement or "
		                       "share_progress",
		                       purpose);
	}
	return CLI_CONTINUE;
}

static const char grant_usage[] =
    "Usage: ementor consent grant share_progress --programme ID\n"
    "\n"
    "Allow the programme's managers to see your progress in that programme. The\n"
    "sentence you agree to is shown; the record is signed with your key.\n"
    "(data_processing is granted at registration; an agreement is signed with\n"
    "`ementor agreement sign ROOM`.)\n";

int cmd_consent_grant(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"programme", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	struct consent_args a = {0};
	struct drive d;
	struct drive_end end = {0};
	const char *purpose, *text;
	char subject[EM_CONSENT_STR_MAX + 1];
	int rc, first, inited = 0;

	rc = cli_parse(cli, argc, argv, opts, grant_usage, consent_option, &a, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	purpose = argv[first];
	if (!strcmp(purpose, "agreement"))
		return cli_usage_error(cli, "sign a room's agreement with `ementor agreement sign "
		                            "ROOM`");
	if (!strcmp(purpose, "data_processing"))
		return cli_usage_error(cli, "data_processing is granted when you register");
	rc = consent_subject(cli, purpose, &a, subject, sizeof(subject));
	if (rc != CLI_CONTINUE)
		return rc;
	rc = drive_open(cli, &d, 1);
	inited = d.core != NULL;
	if (rc)
		goto out;
	/* the core checks the sentence against the server's hash of it, then signs */
	if (drive_run(&d,
	              json_pack("{s:s, s:s, s:s}", "cmd", "consent.grant", "purpose", purpose,
	                        "subject", subject),
	              &end) != 0) {
		rc = CLI_EXIT_LOCAL;
		goto out;
	}
	text = cli_str(end.result, "text", NULL);
	if (text && !cli->json) {
		char *safe = text_for_terminal(text, strlen(text));

		printf("You agree to: %s\n", safe ? safe : "?");
		free(safe);
	}
	if (!end.ok) {
		rc = consent_report(&end);
		goto out;
	}
	if (cli->json)
		cli_print_json(json_object_get(end.result, "reply"));
	else
		printf("Granted %s for %s (ledger entry %lld).\n", purpose, subject,
		       (long long)json_integer_value(json_object_get(
		           json_object_get(json_object_get(end.result, "reply"), "entry"), "seq")));
out:
	drive_end_clear(&end);
	if (inited)
		drive_close(&d);
	return rc;
}

static const char withdraw_usage[] =
    "Usage: ementor consent withdraw share_progress --programme ID\n"
    "       ementor consent withdraw agreement --room ID\n"
    "       ementor consent withdraw data_processing [--yes]\n"
    "\n"
    "Withdraw a consent you gave; the withdrawal is signed with your key.\n"
    "  share_progress    the programme's managers no longer see your progress\n"
    "  agreement         you leave the room's roster: you are sealed no new room\n"
    "                    key and cannot read what is sent from then on; sign again\n"
    "                    with `ementor agreement sign ROOM` to come back\n"
    "  data_processing   ERASES YOUR ACCOUNT: your keys, sessions and personal data\n"
    "                    are deleted on the server, you leave every room and can\n"
    "                    never log in again. Asks for confirmation unless --yes.\n";

int cmd_consent_withdraw(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"programme", required_argument, NULL, 'p'},
	    {"room", required_argument, NULL, 'r'},
	    {"yes", no_argument, NULL, 'y'},
	    {NULL, 0, NULL, 0},
	};
	struct consent_args a = {0};
	struct drive d;
	struct drive_end end = {0};
	json_t *res;
	const char *purpose;
	char subject[EM_CONSENT_STR_MAX + 1], question[160];
	int rc, first, erase, inited = 0;

	rc = cli_parse(cli, argc, argv, opts, withdraw_usage, consent_option, &a, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	purpose = argv[first];
	rc = consent_subject(cli, purpose, &a, subject, sizeof(subject));
	if (rc != CLI_CONTINUE)
		return rc;
	erase = !strcmp(purpose, "data_processing");
	if (a.yes && !erase)
		return cli_usage_error(cli, "--yes is for withdrawing data_processing");
	rc = drive_open(cli, &d, 1);
	inited = d.core != NULL;
	if (rc)
		goto out;
	if (erase) {
		/* the core finds the grant withdrawn first; the user is told what it does */
		rc = consent_run(&d,
		                 json_pack("{s:s, s:s, s:b}", "cmd", "consent.withdraw", "purpose",
		                           purpose, "preview", 1),
		                 &end);
		if (rc)
			goto out;
		drive_end_clear(&end);
		fprintf(stderr,
		        "Withdrawing your consent to data processing ERASES YOUR ACCOUNT %s:\n"
		        "  - your keys, sessions, calendar feeds and notices are deleted on the "
		        "server;\n"
		        "  - your username and display name are replaced by a placeholder;\n"
		        "  - you leave every room, and you can never log in again.\n"
		        "Messages you sent stay in the rooms' history, readable only by the other\n"
		        "members. The consent ledger keeps its records under your numeric id.\n"
		        "This cannot be undone.\n",
		        d.session.username);
		if (!a.yes) {
			int ok;

			snprintf(question, sizeof(question),
			         "Erase the account %s for good? [y/N] ", d.session.username);
			ok = prompt_yes(question);
			if (ok < 0) {
				rc = cli_usage_error(cli,
				                     "no terminal to ask on: pass --yes to erase "
				                     "your account");
				goto out;
			}
			if (!ok) {
				printf("Nothing was withdrawn; your account stays.\n");
				rc = CLI_EXIT_REFUSED;
				goto out;
			}
		}
	}
	rc = consent_run(&d,
	                 json_pack("{s:s, s:s, s:s}", "cmd", "consent.withdraw", "purpose", purpose,
	                           "subject", subject),
	                 &end);
	if (rc)
		goto out;
	res = end.result;
	if (erase) {
		int gone = home_remove(&cli->home, HOME_SESSION_FILE);

		if (gone)
			cli_home_error(cli, "delete", HOME_SESSION_FILE, gone);
	}
	snprintf(subject, sizeof(subject), "%s", cli_str(res, "subject", subject));
	if (cli->json)
		cli_print_json(json_object_get(res, "reply"));
	else if (erase)
		printf("Your account %s was erased. The session on this device was deleted.\n",
		       d.session.username);
	else if (!strcmp(purpose, "agreement"))
		printf("Withdrew your signature of the agreement of %s: you are off the room's "
		       "roster and will not be sealed its next key. `ementor agreement sign %s` "
		       "brings you back.\n",
		       subject, subject + strlen("room:"));
	else
		printf("Withdrew %s for %s.\n", purpose, subject);
out:
	drive_end_clear(&end);
	if (inited)
		drive_close(&d);
	return rc;
}

/* ---- export ---- */

static const char export_usage[] =
    "Usage: ementor export [--output FILE]\n"
    "\n"
    "Everything the server holds about you (profile, programmes, rooms, agreements,\n"
    "consents, checkpoints, attendance), plus every message of your rooms that\n"
    "your keys can open, decrypted on this device:\n"
    "  \"messages\": [{room_id, seq, sender, sent_at, text | \"undecryptable\": true}]\n"
    "written as JSON to FILE (created 0600) or to standard output.\n"
    "\n"
    "Options:\n"
    "  --output FILE   where to write (default: standard output)\n";

static int export_option(void *ctx, int opt, const char *arg)
{
	(void)opt;
	*(const char **)ctx = arg;
	return CLI_CONTINUE;
}

/* The messages of the read task, as the export lists them. */
struct export_out {
	int64_t room;
	json_t *messages;
};

static int export_on_event(struct drive *d, json_t *ev, void *arg)
{
	struct export_out *o = arg;
	json_t *m;

	(void)d;
	if (strcmp(cli_str(ev, "ev", ""), "message") != 0)
		return 0;
	m = json_pack("{s:I, s:O, s:s, s:s}", "room_id", (json_int_t)o->room, "seq",
	              json_object_get(ev, "seq"), "sender", cli_str(ev, "sender", "?"), "sent_at",
	              cli_str(ev, "sent_at", ""));
	if (m && json_is_string(json_object_get(ev, "text"))) {
		json_object_set(m, "text", json_object_get(ev, "text"));
	} else if (m) {
		json_object_set_new(m, "undecryptable", json_true());
		json_object_set_new(m, "reason", json_string(cli_str(ev, "error", "")));
	}
	json_array_append_new(o->messages, m);
	return 1;
}

/*
 * Appends the history of one room, opened by the core, to out (no cursor
 * moved, no receipt sent). Returns an exit code; a refusal (a room you left)
 * is left to the caller, with end filled.
 */
static int export_room(struct drive *d, int64_t room, json_t *out, struct drive_end *end)
{
	struct export_out o = {.room = room, .messages = out};

	d->on_event = export_on_event;
	d->arg = &o;
	if (drive_run(
	        d, json_pack("{s:s, s:I, s:b}", "cmd", "read", "room", (json_int_t)room, "mark", 0),
	        end) != 0)
		return CLI_EXIT_LOCAL;
	d->on_event = NULL;
	d->arg = NULL;
	return end->ok ? CLI_EXIT_OK : end->exit;
}

/* Writes text and a newline to a new file of mode 0600. Returns 0 or an errno. */
static int export_write(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(text), done = 0;
	int err = 0;

	if (fd < 0)
		return errno;
	while (done < len && !err) {
		ssize_t w = write(fd, text + done, len - done);

		if (w < 0 && errno != EINTR)
			err = errno;
		else if (w > 0)
			done += (size_t)w;
	}
	if (!err && write(fd, "\n", 1) != 1)
		err = errno ? errno : EIO;
	if (close(fd) != 0 && !err)
		err = errno;
	return err;
}

int cmd_export(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {NULL, 0, NULL, 0},
	};
	struct drive d;
	struct drive_end end = {0};
	json_t *res = NULL, *messages = NULL, *room;
	const char *output = NULL;
	char *text = NULL;
	size_t i;
	int rc, first, inited = 0;

	rc = cli_parse(cli, argc, argv, opts, export_usage, export_option, &output, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = drive_open(cli, &d, 1);
	inited = d.core != NULL;
	if (rc)
		goto out;
	rc = consent_run(
	    &d, json_pack("{s:s, s:s}", "cmd", "call", "op", em_op_name(EM_OP_ACCOUNT_EXPORT)),
	    &end);
	if (rc)
		goto out;
	res = json_incref(end.result);
	drive_end_clear(&end);
	messages = json_array();
	json_array_foreach(json_object_get(res, "rooms"), i, room)
	{
		int64_t id = json_integer_value(json_object_get(room, "room_id"));
		int rrc;

		if (id < 1)
			continue;
		rrc = export_room(&d, id, messages, &end);
		if (rrc == CLI_EXIT_REFUSED) {
			/* A room you left: its history is no longer yours to fetch. */
			char *safe = text_for_terminal(end.message, strlen(end.message));

			json_object_set_new(room, "messages_unavailable",
			                    json_string(safe && safe[0] ? safe : end.code));
			free(safe);
		} else if (rrc) {
			rc = end.message[0] ? cli_fail(rrc, "%s", end.message) : rrc;
			goto out;
		}
		drive_end_clear(&end);
	}
	json_object_set(res, "messages", messages);
	text = json_dumps(res, JSON_INDENT(2));
	if (!text) {
		rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
		goto out;
	}
	if (output) {
		int err = export_write(output, text);

		if (err) {
			rc = cli_fail(CLI_EXIT_LOCAL, "cannot write %s: %s", output, strerror(err));
			goto out;
		}
		fprintf(stderr, "Exported your data and %zu message%s to %s.\n",
		        json_array_size(messages), json_array_size(messages) == 1 ? "" : "s",
		        output);
	} else {
		printf("%s\n", text);
	}
out:
	if (text) {
		sodium_memzero(text, strlen(text));
		free(text);
	}
	drive_end_clear(&end);
	json_decref(messages);
	json_decref(res);
	if (inited)
		drive_close(&d);
	return rc;
}
