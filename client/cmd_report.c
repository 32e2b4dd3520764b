/*
 * cmd_report.c - concern reports (PROTOCOL.md section 13): `report create`
 * (quote messages of a room to the programme's managers with a note),
 * `report list`, `report show` (the report opened and every quoted message
 * checked against its sender's signature, with its handling) and `report
 * handle` (a manager records acknowledged, action_taken or closed with a
 * note).
 *
 * DESIGN. Sealing, signing and every check are the client core's
 * (core/report.c); this file parses options and prints what the core found.
 * A quoted message or a handling step that does not verify is printed as
 * UNVERIFIABLE with why, never with its text. `report create` takes the
 * room by number, as every command that writes content does (cli.h: a
 * server that lied about a name could point the report at another room).
 * Thread: main only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drive.h"
#include "state_io.h"

static const char create_usage[] =
    "Usage: ementor report create ROOM --seq N[,M...] --note TEXT [--change-request]\n"
    "Reports messages of room ROOM (by number; N, M: their numbers in `ementor read`)\n"
    "to the programme's managers with a note. The report is sealed to the manager\n"
    "parties of the room's agreement and to you, and signed; each message goes with\n"
    "what lets a manager's client check that its sender wrote exactly that, in that\n"
    "room, without any room key. The other members are not told. With\n"
    "--change-request and no --seq: ask the managers privately to change your group.\n";
static const char list_usage[] = "Usage: ementor report list [--programme ID]\n"
                                 "Your reports, and those of the programmes you manage.\n";
static const char show_usage[] =
    "Usage: ementor report show REPORT\n"
    "The report, every quoted message checked here against its sender's signature,\n"
    "and its handling.\n";
static const char handle_usage[] =
    "Usage: ementor report handle REPORT --state acknowledged|action_taken|closed\n"
    "                             [--note TEXT]\n"
    "Records a handling step (managers); the note is sealed to the reporter and the\n"
    "managers.\n";

struct report_opts {
	json_t *seqs;
	const char *note, *state;
	int64_t programme;
	int change, bad;
};

static int report_option(void *ctx, int opt, const char *arg)
{
	struct report_opts *o = ctx;
	char *copy, *tok, *save = NULL;

	switch (opt) {
	case 's':
		copy = strdup(arg);
		for (tok = copy ? strtok_r(copy, ",", &save) : NULL; tok;
		     tok = strtok_r(NULL, ",", &save)) {
			int64_t n;

			if (cli_parse_id(tok, &n))
				o->bad = 1;
			else
				json_array_append_new(o->seqs, json_integer((json_int_t)n));
		}
		free(copy);
		break;
	case 'n':
		o->note = arg;
		break;
	case 't':
		o->state = arg;
		break;
	case 'c':
		o->change = 1;
		break;
	case 'p':
		if (cli_parse_id(arg, &o->programme))
			o->bad = 1;
		break;
	}
	return CLI_CONTINUE;
}

/* Prints label and text made safe for the terminal. */
static void report_put(const char *indent, const char *label, const char *text)
{
	char *safe = text_for_terminal(text ? text : "", strlen(text ? text : ""));

	printf("%s%s%s\n", indent, label, safe ? safe : "?");
	free(safe);
}

int cmd_report_create(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"seq", required_argument, NULL, 's'},
	    {"note", required_argument, NULL, 'n'},
	    {"change-request", no_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	struct report_opts o = {.seqs = json_array()};
	json_t *res = NULL, *x;
	int64_t room;
	size_t i;
	int rc, first;

	if (!o.seqs)
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	rc = cli_parse(cli, argc, argv, opts, create_usage, report_option, &o, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		goto out;
	if (cli_parse_id(argv[first], &room)) {
		rc = cli_usage_error(cli, "'%s' is not a room number", argv[first]);
		goto out;
	}
	if (o.bad || (!o.change && !json_array_size(o.seqs))) {
		rc = cli_usage_error(cli, "give --seq N[,M...]: the numbers of the messages");
		goto out;
	}
	if (!o.note || !*o.note) {
		rc = cli_usage_error(cli, "give --note TEXT: what worries you");
		goto out;
	}
	if (strlen(o.note) > EM_REPORT_NOTE_MAX) {
		rc = cli_usage_error(cli, "the note is longer than %d bytes", EM_REPORT_NOTE_MAX);
		goto out;
	}
	rc = drive_once(cli,
	                json_pack("{s:s, s:I, s:s, s:O, s:s}", "cmd", "report.create", "room",
	                          (json_int_t)room, "kind", o.change ? "change_request" : "concern",
	                          "seqs", o.seqs, "note", o.note),
	                &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	printf("report %lld sent: %lld message%s of room %lld, sealed to you and ",
	       (long long)json_integer_value(json_object_get(res, "report_id")),
	       (long long)json_integer_value(json_object_get(res, "messages")),
	       json_integer_value(json_object_get(res, "messages")) == 1 ? "" : "s",
	       (long long)room);
	json_array_foreach(json_object_get(res, "readers"), i, x)
	{
		printf("%s%s", i ? ", " : "", json_string_value(x) ?: "?");
	}
	printf("\nthe other members of the room are not told.\n");
out:
	json_decref(res);
	json_decref(o.seqs);
	return rc;
}

int cmd_report_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"programme", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	static const char *const head[] = {"REPORT", "ROOM", "REPORTER", "KIND", "STATE", "SENT"};
	struct report_opts o = {0};
	struct cli_table tab;
	json_t *res = NULL, *x;
	size_t i;
	int rc, first;

	rc = cli_parse(cli, argc, argv, opts, list_usage, report_option, &o, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (o.bad)
		return cli_usage_error(cli, "--programme takes a programme number");
	rc = drive_once(cli,
	                o.programme ? json_pack("{s:s, s:I}", "cmd", "report.list", "programme",
	                                        (json_int_t)o.programme)
	                            : json_pack("{s:s}", "cmd", "report.list"),
	                &res);
	if (rc)
		return rc;
	if (cli->json) {
		cli_print_json(res);
		json_decref(res);
		return CLI_EXIT_OK;
	}
	cli_table_init(&tab, 6, head);
	json_array_foreach(json_object_get(res, "reports"), i, x)
	{
		char id[24], room[24];
		const char *row[6];

		snprintf(id, sizeof(id), "%lld",
		         (long long)json_integer_value(json_object_get(x, "report_id")));
		snprintf(room, sizeof(room), "%lld",
		         (long long)json_integer_value(json_object_get(x, "room_id")));
		row[0] = id;
		row[1] = room;
		row[2] = cli_str(x, "reporter", "?");
		row[3] = cli_str(x, "kind", "?");
		row[4] = cli_str(x, "state", "?");
		row[5] = cli_str(x, "created_at", "?");
		cli_table_add(&tab, row);
	}
	if (tab.nrows)
		cli_table_print(&tab, stdout, "");
	else
		printf("no reports\n");
	cli_table_free(&tab);
	json_decref(res);
	return CLI_EXIT_OK;
}

int cmd_report_show(struct cli *cli, int argc, char **argv)
{
	json_t *res = NULL, *x;
	int64_t id;
	size_t i;
	int rc, first, bad = 0;

	rc = cli_parse(cli, argc, argv, NULL, show_usage, NULL, NULL, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_parse_id(argv[first], &id))
		return cli_usage_error(cli, "'%s' is not a report number", argv[first]);
	rc = drive_once(
	    cli, json_pack("{s:s, s:I}", "cmd", "report.show", "report", (json_int_t)id), &res);
	if (rc)
		return rc;
	if (cli->json) {
		cli_print_json(res);
		json_decref(res);
		return CLI_EXIT_OK;
	}
	printf("report %lld of room %lld (%s) by %s, sent %s: %s\n", (long long)id,
	       (long long)json_integer_value(json_object_get(res, "room_id")),
	       cli_str(res, "kind", "?"), cli_str(res, "reporter", "?"),
	       cli_str(res, "created_at", "?"), cli_str(res, "state", "?"));
	if (!json_is_true(json_object_get(res, "verified"))) {
		report_put("", "UNVERIFIABLE: ", cli_str(res, "error", "?"));
		bad = 1;
	} else {
		report_put("", "note: ", cli_str(res, "note", ""));
	}
	json_array_foreach(json_object_get(res, "messages"), i, x)
	{
		char head[160];

		if (json_is_true(json_object_get(x, "verified"))) {
			/* the sender's own clock, which they signed (sent_at is the server's) */
			time_t at =
			    (time_t)(json_integer_value(json_object_get(x, "written_ms")) / 1000);
			char written[32] = "?";
			struct tm tm;

			if (gmtime_r(&at, &tm))
				strftime(written, sizeof(written), "%Y-%m-%dT%H:%M:%SZ", &tm);
			snprintf(head, sizeof(head), "  #%lld %s (written %s), verified: ",
			         (long long)json_integer_value(json_object_get(x, "seq")),
			         cli_str(x, "sender", "?"), written);
			report_put(head, "", cli_str(x, "text", ""));
		} else {
			snprintf(head, sizeof(head), "  #%lld UNVERIFIABLE: ",
			         (long long)json_integer_value(json_object_get(x, "seq")));
			report_put(head, "", cli_str(x, "error", "?"));
			bad = 1;
		}
	}
	json_array_foreach(json_object_get(res, "actions"), i, x)
	{
		char head[160];

		snprintf(head, sizeof(head), "  %s %s by %s", cli_str(x, "created_at", "?"),
		         cli_str(x, "state", "?"), cli_str(x, "manager", "?"));
		if (json_is_true(json_object_get(x, "verified"))) {
			report_put(head, ": ", cli_str(x, "note", ""));
		} else {
			report_put(head, " UNVERIFIABLE: ", cli_str(x, "error", "?"));
			bad = 1;
		}
	}
	if (strcmp(cli_str(res, "state", ""), cli_str(res, "server_state", "")) != 0)
		printf("  (the server says the state is %s, which no verified step of a manager "
		       "says)\n",
		       cli_str(res, "server_state", "?"));
	json_decref(res);
	return bad ? CLI_EXIT_REFUSED : CLI_EXIT_OK;
}

int cmd_report_handle(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"state", required_argument, NULL, 't'},
	    {"note", required_argument, NULL, 'n'},
	    {NULL, 0, NULL, 0},
	};
	struct report_opts o = {0};
	json_t *res = NULL;
	int64_t id;
	int rc, first;

	rc = cli_parse(cli, argc, argv, opts, handle_usage, report_option, &o, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_parse_id(argv[first], &id))
		return cli_usage_error(cli, "'%s' is not a report number", argv[first]);
	if (!o.state || (strcmp(o.state, "acknowledged") && strcmp(o.state, "action_taken") &&
	                 strcmp(o.state, "closed")))
		return cli_usage_error(cli, "--state is acknowledged, action_taken or closed");
	if (o.note && strlen(o.note) > EM_REPORT_NOTE_MAX)
		return cli_usage_error(cli, "the note is longer than %d bytes", EM_REPORT_NOTE_MAX);
	rc = drive_once(cli,
	                json_pack("{s:s, s:I, s:s, s:s}", "cmd", "report.handle", "report",
	                          (json_int_t)id, "state", o.state, "note", o.note ? o.note : ""),
	                &res);
	if (rc)
		return rc;
	if (cli->json)
		cli_print_json(res);
	else
		printf("report %lld: %s (the note is sealed to the reporter and the managers)\n",
		       (long long)id, o.state);
	json_decref(res);
	return CLI_EXIT_OK;
}
