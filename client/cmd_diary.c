/*
 * cmd_diary.c - the diary after every meeting (PROTOCOL.md section 6.5):
 * `diary writer` (who writes a meeting's diary: the server's suggestion, or
 * the group's choice), `diary write` and `diary remark` (a new entry version
 * or a mentor's remark, sealed to the room key and signed), `diary show` (the
 * entry and remarks, each verified against its author's pinned key) and
 * `diary list` (a room's meetings and how many records each has).
 *
 * DESIGN. Sealing, signing and checking are the client core's
 * (core/diary.c); this file parses options and prints what the core found.
 * A record that does not verify is printed as such, never hidden. Thread:
 * main only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drive.h"
#include "state_io.h"

static const char writer_usage[] =
    "Usage: ementor diary writer CHECKPOINT [--set USER]\n"
    "Who writes the diary of a meeting: the group chooses one mentee (the mentor or\n"
    "any mentee may set it; the server suggests the next in rotation).\n";
static const char write_usage[] =
    "Usage: ementor diary write CHECKPOINT [TEXT]\n"
    "Writes the diary entry of a held meeting (a new version corrects it). Without\n"
    "TEXT, reads it from standard input. Only the meeting's writer may.\n";
static const char remark_usage[] = "Usage: ementor diary remark CHECKPOINT [TEXT]\n"
                                   "Adds a mentor's remark to a held meeting's diary. Without\n"
                                   "TEXT, reads it from standard input.\n";
static const char show_usage[] = "Usage: ementor diary show CHECKPOINT\n"
                                 "The diary of a meeting, decrypted and verified here.\n";
static const char list_usage[] = "Usage: ementor diary list ROOM\n"
                                 "The meetings of a room and their diaries (counts only).\n";

static int diary_set_option(void *ctx, int opt, const char *arg)
{
	(void)opt;
	*(const char **)ctx = arg;
	return CLI_CONTINUE;
}

static void diary_print_user(const char *label, json_t *u)
{
	const char *name = json_string_value(json_object_get(u, "username"));

	printf("%s%s\n", label, name ? name : "(none)");
}

static void diary_print_writer(json_t *res)
{
	printf("meeting %lld (%s, room %lld): %s\n",
	       (long long)json_integer_value(json_object_get(res, "checkpoint_id")),
	       json_string_value(json_object_get(res, "checkpoint_kind")) ?: "?",
	       (long long)json_integer_value(json_object_get(res, "room_id")),
	       json_string_value(json_object_get(res, "state")) ?: "?");
	diary_print_user(json_is_true(json_object_get(res, "chosen")) ? "  writer: "
	                                                              : "  writer (suggested): ",
	                 json_object_get(res, "writer"));
	if (json_string_value(json_object_get(res, "set_by")))
		printf("  chosen by: %s\n", json_string_value(json_object_get(res, "set_by")));
	diary_print_user("  next in rotation: ", json_object_get(res, "suggested"));
}

int cmd_diary_writer(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"set", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	const char *set = NULL;
	int64_t checkpoint;
	json_t *res, *cmd;
	int rc, first;

	rc = cli_parse(cli, argc, argv, opts, writer_usage, diary_set_option, &set, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_parse_id(argv[first], &checkpoint))
		return cli_usage_error(cli, "'%s' is not a checkpoint id", argv[first]);
	if (set && em_check_username(set) != EM_OK)
		return cli_usage_error(cli, "'%s' is not a username", set);
	cmd = json_pack("{s:s, s:I}", "cmd", "diary.writer", "checkpoint", (json_int_t)checkpoint);
	if (set)
		json_object_set_new(cmd, "set", json_string(set));
	if ((rc = drive_once(cli, cmd, &res)))
		return rc;
	if (cli->json)
		cli_print_json(res);
	else
		diary_print_writer(res);
	json_decref(res);
	return CLI_EXIT_OK;
}

/* The text of write/remark: the argument, or standard input. Who frees: the caller. */
static char *diary_text(struct cli *cli, int argc, char **argv, int first)
{
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (first + 1 < argc)
		return strdup(argv[first + 1]);
	if (!(buf = malloc(cap = 4096)))
		return NULL;
	while ((n = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
		len += n;
		if (len > EM_MSG_PLAINTEXT_MAX)
			break;
		if (cap - len - 1 == 0) {
			char *more = realloc(buf, cap * 2);

			if (!more)
				break;
			buf = more;
			cap *= 2;
		}
	}
	(void)cli;
	buf[len] = '\0';
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	return buf;
}

static int diary_write_cmd(struct cli *cli, int argc, char **argv, const char *name,
                           const char *usage)
{
	int64_t checkpoint;
	json_t *res, *rec;
	char *text;
	int rc, first;

	rc = cli_parse(cli, argc, argv, NULL, usage, NULL, NULL, 1, 2, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_parse_id(argv[first], &checkpoint))
		return cli_usage_error(cli, "'%s' is not a checkpoint id", argv[first]);
	if (!(text = diary_text(cli, argc, argv, first)))
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	if (!*text) {
		free(text);
		return cli_usage_error(cli, "nothing to write");
	}
	if (strlen(text) > EM_MSG_PLAINTEXT_MAX) {
		free(text);
		return cli_usage_error(cli, "the text is longer than %d bytes",
		                       EM_MSG_PLAINTEXT_MAX);
	}
	rc = drive_once(cli,
	                json_pack("{s:s, s:I, s:s}", "cmd", name, "checkpoint",
	                          (json_int_t)checkpoint, "text", text),
	                &res);
	free(text);
	if (rc)
		return rc;
	rec = json_object_get(res, "record");
	if (cli->json)
		cli_print_json(res);
	else
		printf("%s %lld of meeting %lld stored%s\n",
		       !strcmp(name, "diary.write") ? "entry version" : "remark",
		       (long long)json_integer_value(json_object_get(rec, "number")),
		       (long long)checkpoint,
		       json_is_true(json_object_get(rec, "duplicate")) ? " (already)" : "");
	json_decref(res);
	return CLI_EXIT_OK;
}

int cmd_diary_write(struct cli *cli, int argc, char **argv)
{
	return diary_write_cmd(cli, argc, argv, "diary.write", write_usage);
}

int cmd_diary_remark(struct cli *cli, int argc, char **argv)
{
	return diary_write_cmd(cli, argc, argv, "diary.remark", remark_usage);
}

/* One opened record: "  [v2] mia, 2027-03-02T11:00:00Z: TEXT" or its error. */
static void diary_print_record(const char *tag, json_t *v)
{
	const char *text = json_string_value(json_object_get(v, "text"));
	const char *error = json_string_value(json_object_get(v, "error"));
	const char *warning = json_string_value(json_object_get(v, "warning"));
	const char *shown = text ? text : error ? error : "(cannot read)";
	char *safe = text_for_terminal(shown, strlen(shown));

	printf("  [%s%lld] %s, %s: %s\n", tag,
	       (long long)json_integer_value(json_object_get(v, "number")),
	       json_string_value(json_object_get(v, "author")) ?: "?",
	       json_string_value(json_object_get(v, "created_at")) ?: "?",
	       safe ? safe : "(out of memory)");
	if (warning)
		printf("    warning: %s\n", warning);
	free(safe);
}

int cmd_diary_show(struct cli *cli, int argc, char **argv)
{
	int64_t checkpoint;
	json_t *res, *v;
	size_t i;
	int rc, first;

	rc = cli_parse(cli, argc, argv, NULL, show_usage, NULL, NULL, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_parse_id(argv[first], &checkpoint))
		return cli_usage_error(cli, "'%s' is not a checkpoint id", argv[first]);
	if ((rc = drive_once(
	         cli,
	         json_pack("{s:s, s:I}", "cmd", "diary.show", "checkpoint", (json_int_t)checkpoint),
	         &res)))
		return rc;
	if (cli->json) {
		cli_print_json(res);
	} else {
		diary_print_writer(res);
		printf("entry:\n");
		if (!json_array_size(json_object_get(res, "entries")))
			printf("  (not written yet)\n");
		json_array_foreach(json_object_get(res, "entries"), i, v)
		    diary_print_record("v", v);
		printf("remarks:\n");
		if (!json_array_size(json_object_get(res, "remarks")))
			printf("  (none)\n");
		json_array_foreach(json_object_get(res, "remarks"), i, v) diary_print_record("", v);
		if (!json_is_true(json_object_get(res, "verified")))
			printf("WARNING: some records did not verify (see above)\n");
	}
	json_decref(res);
	return CLI_EXIT_OK;
}

int cmd_diary_list(struct cli *cli, int argc, char **argv)
{
	int64_t room;
	json_t *res, *m;
	size_t i;
	int rc, first;

	rc = cli_parse(cli, argc, argv, NULL, list_usage, NULL, NULL, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_parse_id(argv[first], &room))
		return cli_usage_error(cli, "'%s' is not a room id", argv[first]);
	if ((rc = drive_once(cli,
	                     json_pack("{s:s, s:I}", "cmd", "diary.list", "room", (json_int_t)room),
	                     &res)))
		return rc;
	if (cli->json) {
		cli_print_json(res);
	} else {
		if (!json_array_size(json_object_get(res, "meetings")))
			printf("no held meetings yet in room %lld\n", (long long)room);
		json_array_foreach(json_object_get(res, "meetings"), i, m)
		{
			const char *w = json_string_value(
			    json_object_get(json_object_get(m, "writer"), "username"));

			printf("%-6lld %-8s %-9s writer %-12s entry versions %lld, remarks %lld\n",
			       (long long)json_integer_value(json_object_get(m, "checkpoint_id")),
			       json_string_value(json_object_get(m, "checkpoint_kind")) ?: "?",
			       json_string_value(json_object_get(m, "state")) ?: "?", w ? w : "-",
			       (long long)json_integer_value(json_object_get(m, "entry_versions")),
			       (long long)json_integer_value(json_object_get(m, "remarks")));
		}
	}
	json_decref(res);
	return CLI_EXIT_OK;
}
