/*
 * cmd_support.c - the manager's support channel (PROTOCOL.md 15):
 * `support open` (a manager and one participant of a programme get a
 * direct, end-to-end encrypted room; opening again returns the same one),
 * `announce send` (a manager writes to a programme's mentors or to all its
 * participants, encrypted to each and signed) and `announce list` (each
 * announcement received or sent, opened and checked here).
 *
 * DESIGN. A support room is a room: after `support open`, both sign its
 * agreement (`ementor agreement sign ROOM`) and talk with `ementor send` /
 * `ementor chat`, under the trust rules of every room. Announcements are the
 * client core's (core/announce.c): this file shows the manager who the
 * announcement will reach — the programme's people list, the server's word
 * — and sends it only to those ids once the manager said yes (or gave
 * --yes); it prints an announcement that does not verify as UNVERIFIED with
 * why, never its text. Thread: main only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drive.h"
#include "prompt.h"
#include "state_io.h"

static const char open_usage[] =
    "Usage: ementor support open [--programme ID] [USERNAME]\n"
    "Opens your support room: a manager with a mentor or mentee of a programme they\n"
    "manage (USERNAME), a mentor or mentee with a manager of their programme\n"
    "(USERNAME, when the programme has several). Opening it again gives the same\n"
    "room. Both of you then sign its agreement (`ementor agreement sign ROOM`) and\n"
    "write with `ementor send ROOM` or `ementor chat ROOM`.\n";
static const char send_usage[] =
    "Usage: ementor announce send --programme ID --to mentors|all [--yes] TEXT\n"
    "Sends an announcement to the mentors, or to all mentors and mentees, of a\n"
    "programme you manage: encrypted to each of them and signed by you. You are\n"
    "shown who it will reach (the programme's people as the server lists them) and\n"
    "asked before it goes; --yes sends without asking.\n";
static const char list_usage[] =
    "Usage: ementor announce list [--programme ID]\n"
    "The announcements you received or sent, each checked here against its\n"
    "sender's signature.\n";

struct support_opts {
	const char *programme, *to;
	int yes;
};

static int support_option(void *ctx, int opt, const char *arg)
{
	struct support_opts *o = ctx;

	if (opt == 'p')
		o->programme = arg;
	else if (opt == 't')
		o->to = arg;
	else if (opt == 'y')
		o->yes = 1;
	return CLI_CONTINUE;
}

int cmd_support_open(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"programme", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	struct support_opts o = {0};
	json_t *args, *res = NULL, *room, *m;
	int64_t programme = 0;
	size_t i;
	int rc, first;

	rc = cli_parse(cli, argc, argv, opts, open_usage, support_option, &o, 0, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (o.programme && (rc = cli_programme_ref(cli, o.programme, &programme)) != CLI_CONTINUE)
		return rc;
	if (first < argc && em_check_username(argv[first]) != EM_OK)
		return cli_usage_error(cli, "'%s' is not a valid username", argv[first]);
	args = json_object();
	if (!args)
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	if (programme)
		json_object_set_new(args, "programme_id", json_integer((json_int_t)programme));
	if (first < argc)
		json_object_set_new(args, "username", json_string(argv[first]));
	if ((rc = cli_request(cli, EM_OP_SUPPORT_OPEN, args, &res)))
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	room = json_object_get(res, "room");
	printf("%s support room %lld \"%s\" (programme %lld) with:",
	       json_is_true(json_object_get(res, "created")) ? "Opened" : "Your",
	       (long long)json_integer_value(json_object_get(room, "id")),
	       cli_str(room, "name", ""),
	       (long long)json_integer_value(json_object_get(room, "programme_id")));
	json_array_foreach(json_object_get(room, "members"), i, m)
	{
		printf(" %s (%s)", cli_str(m, "username", "?"),
		       strcmp(cli_str(m, "role", ""), "support") ? cli_str(m, "role", "?")
		                                                 : "manager");
	}
	printf("\nBoth of you sign its agreement first: ementor agreement sign %lld\n",
	       (long long)json_integer_value(json_object_get(room, "id")));
out:
	json_decref(res);
	return rc;
}

int cmd_announce_send(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"programme", required_argument, NULL, 'p'},
	    {"to", required_argument, NULL, 't'},
	    {"yes", no_argument, NULL, 'y'},
	    {NULL, 0, NULL, 0},
	};
	struct support_opts o = {0};
	json_t *who = NULL, *res = NULL, *ids = NULL, *x;
	struct drive d;
	int64_t programme;
	size_t i;
	int rc, first, opened = 0, changed = 0;

	rc = cli_parse(cli, argc, argv, opts, send_usage, support_option, &o, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (!o.programme || !o.to || (strcmp(o.to, "mentors") && strcmp(o.to, "all")))
		return cli_usage_error(cli, "give --programme ID and --to mentors|all");
	if ((rc = cli_programme_ref(cli, o.programme, &programme)) != CLI_CONTINUE)
		return rc;
	if (!*argv[first] || strlen(argv[first]) > EM_ANNOUNCE_TEXT_MAX)
		return cli_usage_error(cli, "the text must be 1 to %d bytes", EM_ANNOUNCE_TEXT_MAX);
	rc = drive_open(cli, &d, 1);
	opened = d.core != NULL;
	if (rc)
		goto out;
	rc = drive_run_result(&d,
	                      json_pack("{s:s, s:I, s:s}", "cmd", "announce.recipients",
	                                "programme", (json_int_t)programme, "to", o.to),
	                      &who);
	if (rc)
		goto out;
	ids = json_array();
	printf("This announcement goes to %zu %s of programme %lld (its people as the server "
	       "lists them) and to you:\n ",
	       json_array_size(json_object_get(who, "recipients")),
	       strcmp(o.to, "all") ? "mentor(s)" : "mentor(s) and mentee(s)", (long long)programme);
	json_array_foreach(json_object_get(who, "recipients"), i, x)
	{
		printf(" %s (%s)%s", cli_str(x, "username", "?"), cli_str(x, "role", "?"),
		       json_is_true(json_object_get(x, "changed")) ? " [keys changed: skipped]"
		                                                   : "");
		changed |= json_is_true(json_object_get(x, "changed"));
		json_array_append_new(ids, json_incref(json_object_get(x, "user_id")));
	}
	printf("\n");
	if (changed)
		printf("People whose keys changed are skipped until you check their keys "
		       "(ementor trust show USER).\n");
	if (!o.yes) {
		int yes = prompt_yes("Send it? [y/N] ");

		if (yes < 0) {
			rc = cli_usage_error(cli, "no terminal to ask on: give --yes to send");
			goto out;
		}
		if (!yes) {
			printf("Nothing was sent.\n");
			goto out;
		}
	}
	rc = drive_run_result(&d,
	                      json_pack("{s:s, s:I, s:s, s:s, s:O}", "cmd", "announce.send",
	                                "programme", (json_int_t)programme, "to", o.to, "text",
	                                argv[first], "expect", ids),
	                      &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	printf("announcement %lld sent: sealed to %lld people (you included), signed by you.\n",
	       (long long)json_integer_value(json_object_get(res, "announcement_id")),
	       (long long)json_integer_value(json_object_get(res, "recipients")));
	json_array_foreach(json_object_get(res, "skipped"), i, x)
	{
		printf("not sent to %s: their keys changed since they were pinned here\n",
		       json_string_value(x) ? json_string_value(x) : "?");
	}
out:
	json_decref(who);
	json_decref(res);
	json_decref(ids);
	if (opened)
		drive_close(&d);
	return rc;
}

int cmd_announce_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"programme", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	struct support_opts o = {0};
	json_t *res = NULL, *cmd, *a;
	struct drive d;
	int64_t programme = 0;
	size_t i;
	int rc, first, opened;

	rc = cli_parse(cli, argc, argv, opts, list_usage, support_option, &o, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (o.programme && (rc = cli_programme_ref(cli, o.programme, &programme)) != CLI_CONTINUE)
		return rc;
	rc = drive_open(cli, &d, 1);
	opened = d.core != NULL;
	if (rc)
		goto out;
	cmd = json_pack("{s:s}", "cmd", "announce.list");
	if (cmd && programme)
		json_object_set_new(cmd, "programme", json_integer((json_int_t)programme));
	if ((rc = drive_run_result(&d, cmd, &res)))
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	if (!json_array_size(json_object_get(res, "announcements")))
		printf("No announcements.\n");
	json_array_foreach(json_object_get(res, "announcements"), i, a)
	{
		int ok = json_is_true(json_object_get(a, "verified"));
		const char *body = cli_str(a, ok ? "text" : "error", "?");
		char *safe = text_for_terminal(body, strlen(body));

		printf(
		    "announcement %lld, programme %lld, from %s to %s, %s, %lld recipient(s): %s\n"
		    "  %s%s\n",
		    (long long)json_integer_value(json_object_get(a, "announcement_id")),
		    (long long)json_integer_value(json_object_get(a, "programme_id")),
		    cli_str(a, "manager", "?"), cli_str(a, "audience", "?"),
		    cli_str(a, "created_at", "?"),
		    (long long)json_integer_value(json_object_get(a, "recipients")),
		    ok ? "verified" : "UNVERIFIED", ok ? "" : "not shown: ", safe ? safe : "?");
		free(safe);
	}
out:
	json_decref(res);
	if (opened)
		drive_close(&d);
	return rc;
}
