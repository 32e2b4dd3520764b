/*
 * cmd_midterm.c - the mid-term record (PROTOCOL.md section 6.6): `midterm
 * write` (this user's part of what is said at the held mid-term session:
 * a mentee's next steps, the mentor's remaining topics, and anyone's comment,
 * sealed to the parties of the room's agreement and signed) and `midterm
 * show` (every part, verified against its author's pinned key, in the
 * course's order: the mentees, the mentor, the manager).
 *
 * DESIGN. Sealing, signing, checking and ordering are the client core's
 * (core/midterm.c); this file parses options and prints what the core found.
 * A part that does not verify is printed as such, never hidden. Thread:
 * main only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drive.h"
#include "state_io.h"

static const char write_usage[] =
    "Usage: ementor midterm write ROOM MIDTERM [--next-steps TEXT] [--remaining-topics TEXT]\n"
    "                             [--comment TEXT]\n"
    "Your part of the mid-term session's record, once the mid-term (MIDTERM, its\n"
    "checkpoint id) is held: a mentee's next steps, the mentor's remaining topics,\n"
    "and a comment from each mentee, the mentor and the manager. Sealed to every\n"
    "party of the room's agreement (the manager party included: they attend the\n"
    "mid-term) and signed; writing again makes a new version.\n";
static const char show_usage[] =
    "Usage: ementor midterm show ROOM MIDTERM\n"
    "The mid-term record, verified here, in the course's order: the mentees, the\n"
    "mentor, then the manager.\n";

struct midterm_opts {
	json_t *doc;
};

static int midterm_option(void *ctx, int opt, const char *arg)
{
	struct midterm_opts *o = ctx;
	const char *field = opt == 'n' ? "next_steps" : opt == 'r' ? "remaining_topics" : "comment";

	json_object_set_new(o->doc, field, json_string(arg));
	return CLI_CONTINUE;
}

/* ROOM MIDTERM from argv[first], argv[first + 1]. 0, or a usage error's exit code. */
static int midterm_ids(struct cli *cli, char **argv, int first, int64_t *room, int64_t *cp)
{
	if (cli_parse_id(argv[first], room))
		return cli_usage_error(cli, "'%s' is not a room id", argv[first]);
	if (cli_parse_id(argv[first + 1], cp))
		return cli_usage_error(cli, "'%s' is not a checkpoint id", argv[first + 1]);
	return 0;
}

int cmd_midterm_write(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"next-steps", required_argument, NULL, 'n'},
	    {"remaining-topics", required_argument, NULL, 'r'},
	    {"comment", required_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	struct midterm_opts o = {.doc = json_object()};
	int64_t room, cp;
	json_t *res = NULL;
	int rc, first;

	if (!o.doc)
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	rc = cli_parse(cli, argc, argv, opts, write_usage, midterm_option, &o, 2, 2, &first);
	if (rc != CLI_CONTINUE)
		goto out;
	if ((rc = midterm_ids(cli, argv, first, &room, &cp)))
		goto out;
	if (!json_object_size(o.doc)) {
		rc = cli_usage_error(cli, "give --next-steps, --remaining-topics or --comment");
		goto out;
	}
	rc = drive_once(cli,
	                json_pack("{s:s, s:I, s:I, s:O}", "cmd", "midterm.write", "room",
	                          (json_int_t)room, "checkpoint", (json_int_t)cp, "doc", o.doc),
	                &res);
	if (rc)
		goto out;
	if (cli->json)
		cli_print_json(res);
	else
		printf("your part of the mid-term record of room %lld, as its %s: version %lld\n",
		       (long long)room, json_string_value(json_object_get(res, "kind")) ?: "?",
		       (long long)json_integer_value(json_object_get(res, "version")));
out:
	json_decref(res);
	json_decref(o.doc);
	return rc;
}

/* One field of a part, made safe for the terminal. */
static void midterm_put(const char *label, json_t *doc, const char *field)
{
	const char *text = json_string_value(json_object_get(doc, field));
	char *safe;

	if (!text || !*text)
		return;
	safe = text_for_terminal(text, strlen(text));
	printf("    %s: %s\n", label, safe ? safe : "?");
	free(safe);
}

int cmd_midterm_show(struct cli *cli, int argc, char **argv)
{
	int64_t room, cp;
	json_t *res = NULL, *rec;
	const char *last_kind = "";
	size_t i;
	int rc, first, bad = 0;

	rc = cli_parse(cli, argc, argv, NULL, show_usage, NULL, NULL, 2, 2, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if ((rc = midterm_ids(cli, argv, first, &room, &cp)))
		return rc;
	if ((rc = drive_once(cli,
	                     json_pack("{s:s, s:I, s:I}", "cmd", "midterm.show", "room",
	                               (json_int_t)room, "checkpoint", (json_int_t)cp),
	                     &res)))
		return rc;
	if (cli->json) {
		cli_print_json(res);
		json_decref(res);
		return CLI_EXIT_OK;
	}
	printf(
	    "mid-term record of room %lld (meeting %lld): the mentees, the mentor, the manager\n",
	    (long long)room, (long long)cp);
	json_array_foreach(json_object_get(res, "records"), i, rec)
	{
		const char *kind = json_string_value(json_object_get(rec, "kind")) ?: "?";
		const char *author = json_string_value(json_object_get(rec, "author")) ?: "?";
		json_t *doc = json_object_get(rec, "doc");

		if (!json_is_true(json_object_get(rec, "verified"))) {
			char *safe = text_for_terminal(cli_str(rec, "error", "?"),
			                               strlen(cli_str(rec, "error", "?")));

			printf("  %s %s, version %lld: UNVERIFIABLE (%s)\n", kind, author,
			       (long long)json_integer_value(json_object_get(rec, "version")),
			       safe ? safe : "?");
			free(safe);
			bad = 1;
			continue;
		}
		if (!json_is_true(json_object_get(rec, "latest")))
			continue; /* earlier versions: --json */
		if (strcmp(kind, last_kind))
			printf("  %s:\n", !strcmp(kind, "mentee")   ? "the mentees"
			                  : !strcmp(kind, "mentor") ? "the mentor"
			                                            : "the manager");
		last_kind = kind;
		printf("  - %s (version %lld)\n", author,
		       (long long)json_integer_value(json_object_get(rec, "version")));
		midterm_put("next steps", doc, "next_steps");
		midterm_put("remaining topics", doc, "remaining_topics");
		midterm_put("comment", doc, "comment");
		if (json_object_get(rec, "warning"))
			printf("    WARNING: %s\n", cli_str(rec, "warning", ""));
	}
	if (bad)
		printf("WARNING: some parts did not verify: they are not shown as text\n");
	json_decref(res);
	return CLI_EXIT_OK;
}
