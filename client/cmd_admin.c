/*
 * cmd_admin.c - programme administration commands (docs/PROTOCOL.md 4.3):
 * `programme edit|end|archive|history` for a programme's managers and
 * `room rename` for a room's members and managers. Dates may be typed ISO
 * (2026-12-08) or day-first with dots (8.12.2026); text_date() turns either
 * into the wire's form. Names and dates are not secret (the server sees them);
 * nothing here touches keys or content, so the answers are only printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "state.h"

/* ---- programme edit ---- */

static const char programme_edit_usage[] =
    "Usage: ementor programme edit ID [--name NAME] [--starts DATE] [--ends DATE]\n"
    "\n"
    "Rename a programme or move its dates (managers of the programme). DATE is\n"
    "YYYY-MM-DD or D.M.YYYY (8.12.2026). Moving the dates moves the windows of\n"
    "every room's initial, mid-term and final meetings that are not yet held or\n"
    "missed. Every change is kept in the programme's history.\n";

struct programme_edit_args {
	const char *name, *starts, *ends;
};

static int programme_edit_option(void *ctx, int opt, const char *arg)
{
	struct programme_edit_args *a = ctx;

	if (opt == 'n')
		a->name = arg;
	else if (opt == 's')
		a->starts = arg;
	else if (opt == 'e')
		a->ends = arg;
	return CLI_CONTINUE;
}

static void admin_print_programme(const char *what, json_t *res)
{
	json_t *p = json_object_get(res, "programme");

	printf("%s programme %lld \"%s\": %s to %s%s%s.\n", what,
	       (long long)json_integer_value(json_object_get(p, "id")), cli_str(p, "name", "-"),
	       cli_str(p, "starts_on", "-"), cli_str(p, "ends_on", "-"),
	       json_is_string(json_object_get(p, "archived_at")) ? ", archived " : "",
	       cli_str(p, "archived_at", ""));
}

int cmd_programme_edit(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"starts", required_argument, NULL, 's'},
	    {"ends", required_argument, NULL, 'e'},
	    {NULL, 0, NULL, 0},
	};
	struct programme_edit_args a = {NULL, NULL, NULL};
	char starts[11], ends[11];
	json_t *args, *res = NULL;
	int64_t id;
	int rc, first;

	rc = cli_parse(cli, argc, argv, opts, programme_edit_usage, programme_edit_option, &a, 1, 1,
	               &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if ((rc = cli_programme_ref(cli, argv[first], &id)) != CLI_CONTINUE)
		return rc;
	if (!a.name && !a.starts && !a.ends)
		return cli_usage_error(cli, "give --name, --starts or --ends");
	if (a.name && !*a.name)
		return cli_usage_error(cli, "--name must not be empty");
	if (a.starts && text_date(a.starts, starts))
		return cli_usage_error(cli, "--starts '%s' is not a date (YYYY-MM-DD or D.M.YYYY)",
		                       a.starts);
	if (a.ends && text_date(a.ends, ends))
		return cli_usage_error(cli, "--ends '%s' is not a date (YYYY-MM-DD or D.M.YYYY)",
		                       a.ends);
	if (a.starts && a.ends && strcmp(ends, starts) <= 0)
		return cli_usage_error(cli, "--ends must be after --starts");
	args = json_pack("{s:I}", "programme_id", (json_int_t)id);
	if (args && a.name)
		json_object_set_new(args, "name", json_string(a.name));
	if (args && a.starts)
		json_object_set_new(args, "starts_on", json_string(starts));
	if (args && a.ends)
		json_object_set_new(args, "ends_on", json_string(ends));
	rc = cli_request(cli, EM_OP_PROGRAMME_EDIT, args, &res);
	if (rc)
		goto out;
	if (cli->json)
		cli_print_json(res);
	else
		admin_print_programme("Changed", res);
out:
	json_decref(res);
	return rc;
}

/* ---- programme end / archive ---- */

static const char programme_end_usage[] =
    "Usage: ementor programme end ID\n"
    "\n"
    "End a running programme today, before its planned end (managers of the\n"
    "programme). Its end date becomes today; the final meetings' windows move\n"
    "with it; the retention period counts from today. Recorded in the history.\n";

static const char programme_archive_usage[] =
    "Usage: ementor programme archive ID\n"
    "\n"
    "Archive a programme that has ended (managers of the programme): its rooms\n"
    "close for good (nothing more can be sent or recorded), and its name, dates\n"
    "and rooms can no longer change. Messages stay until the retention period\n"
    "deletes them. There is no undo. Recorded in the history.\n";

static int admin_programme_op(struct cli *cli, int argc, char **argv, enum em_op op,
                              const char *usage, const char *what)
{
	json_t *res = NULL;
	int64_t id;
	int rc, first;

	rc = cli_parse(cli, argc, argv, NULL, usage, NULL, NULL, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if ((rc = cli_programme_ref(cli, argv[first], &id)) != CLI_CONTINUE)
		return rc;
	rc = cli_request(cli, op, json_pack("{s:I}", "programme_id", (json_int_t)id), &res);
	if (rc)
		goto out;
	if (cli->json)
		cli_print_json(res);
	else
		admin_print_programme(what, res);
out:
	json_decref(res);
	return rc;
}

int cmd_programme_end(struct cli *cli, int argc, char **argv)
{
	return admin_programme_op(cli, argc, argv, EM_OP_PROGRAMME_END, programme_end_usage,
	                          "Ended");
}

int cmd_programme_archive(struct cli *cli, int argc, char **argv)
{
	return admin_programme_op(cli, argc, argv, EM_OP_PROGRAMME_ARCHIVE, programme_archive_usage,
	                          "Archived");
}

/* ---- programme history ---- */

static const char programme_history_usage[] =
    "Usage: ementor programme history ID\n"
    "\n"
    "The changes made to a programme and its rooms' names, newest first: when,\n"
    "by whom, what, from and to (managers of the programme).\n";

int cmd_programme_history(struct cli *cli, int argc, char **argv)
{
	static const char *const head[] = {"WHEN", "BY", "CHANGE", "FROM", "TO"};
	struct cli_table t;
	json_t *res = NULL, *ch;
	int64_t id;
	size_t i;
	int rc, first;

	cli_table_init(&t, 5, head);
	rc = cli_parse(cli, argc, argv, NULL, programme_history_usage, NULL, NULL, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		goto out;
	if ((rc = cli_programme_ref(cli, argv[first], &id)) != CLI_CONTINUE)
		goto out;
	rc = cli_request(cli, EM_OP_PROGRAMME_HISTORY,
	                 json_pack("{s:I}", "programme_id", (json_int_t)id), &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	if (!json_array_size(json_object_get(res, "changes"))) {
		printf("No changes to programme %lld.\n", (long long)id);
		goto out;
	}
	json_array_foreach(json_object_get(res, "changes"), i, ch)
	{
		char when[32], change[48];
		const char *row[] = {when, cli_str(ch, "by", "(erased)"), change,
		                     cli_str(ch, "old", "-"), cli_str(ch, "new", "-")};

		text_local_time(cli_str(ch, "at", NULL), when, sizeof(when));
		if (json_is_integer(json_object_get(ch, "room_id")))
			snprintf(change, sizeof(change), "%s (room %lld)",
			         cli_str(ch, "change", "?"),
			         (long long)json_integer_value(json_object_get(ch, "room_id")));
		else
			snprintf(change, sizeof(change), "%s", cli_str(ch, "change", "?"));
		if (cli_table_add(&t, row)) {
			rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
			goto out;
		}
	}
	cli_table_print(&t, stdout, "");
out:
	cli_table_free(&t);
	json_decref(res);
	return rc;
}

/* ---- room rename ---- */

static const char room_rename_usage[] =
    "Usage: ementor room rename ID NAME\n"
    "\n"
    "Give a room a new name (its members, or the programme's managers), e.g. the\n"
    "name a group chose for itself. Names are not encrypted: the server and the\n"
    "programme's managers see them, so do not put a person's name in one.\n";

int cmd_room_rename(struct cli *cli, int argc, char **argv)
{
	json_t *res = NULL;
	int64_t id;
	int rc, first;

	rc = cli_parse(cli, argc, argv, NULL, room_rename_usage, NULL, NULL, 2, 2, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if ((rc = cli_room_ref(cli, argv[first], &id)) != CLI_CONTINUE)
		return rc;
	if (!*argv[first + 1] || strlen(argv[first + 1]) > EM_ROOM_NAME_MAX * 4)
		return cli_usage_error(cli, "the name must be 1 to %d characters",
		                       EM_ROOM_NAME_MAX);
	rc = cli_request(
	    cli, EM_OP_ROOM_RENAME,
	    json_pack("{s:I, s:s}", "room_id", (json_int_t)id, "name", argv[first + 1]), &res);
	if (rc)
		goto out;
	if (cli->json)
		cli_print_json(res);
	else
		printf("Room %lld is now \"%s\".\n", (long long)id,
		       cli_str(json_object_get(res, "room"), "name", "-"));
out:
	json_decref(res);
	return rc;
}
