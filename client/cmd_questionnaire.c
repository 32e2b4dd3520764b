/*
 * cmd_questionnaire.c - the monitoring questionnaires and the progress
 * shared with the programme's managers (PROTOCOL.md section 11):
 * `questionnaire show|edit|answer|results` and `audit progress`, and
 * cmd_share_progress(), which `rating add` and `goal update` call after a
 * new rating or goal version.
 *
 * DESIGN. Sealing, signing and every check on what the server hands back
 * are the client core's (core/questionnaire.c, core/progress.c,
 * core/managers.c): this file parses options and prints. Every text that
 * came through the server is made safe for the terminal before printing.
 *
 * Thread: main only.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drive.h"
#include "state_io.h"

#define QUEST_ANSWER_OPTS 64

struct quest_args {
	const char *stage, *file;
	int64_t programme, room;
	const char *answers[QUEST_ANSWER_OPTS]; /* "ID=VALUE" */
	size_t nanswers;
	int bad;
};

static int quest_option(void *ctx, int opt, const char *arg)
{
	struct quest_args *a = ctx;

	switch (opt) {
	case 's':
		a->stage = arg;
		break;
	case 'p':
		if (cli_parse_id(arg, &a->programme))
			a->bad = 1;
		break;
	case 'r':
		if (cli_parse_id(arg, &a->room))
			a->bad = 1;
		break;
	case 'f':
		a->file = arg;
		break;
	case 'a':
		if (a->nanswers == QUEST_ANSWER_OPTS)
			return cli_fail(CLI_EXIT_USAGE, "at most %d answers", QUEST_ANSWER_OPTS);
		a->answers[a->nanswers++] = arg;
		break;
	default:
		break;
	}
	return CLI_CONTINUE;
}

static const struct option quest_opts[] = {
    {"stage", required_argument, NULL, 's'},  {"programme", required_argument, NULL, 'p'},
    {"room", required_argument, NULL, 'r'},   {"file", required_argument, NULL, 'f'},
    {"answer", required_argument, NULL, 'a'}, {NULL, 0, NULL, 0},
};

static const char quest_usage[] =
    "Usage: ementor questionnaire show --stage initial|final (--room ROOM | --programme ID)\n"
    "       ementor questionnaire edit --programme ID --stage initial|final --file FILE\n"
    "       ementor questionnaire answer --room ROOM --stage initial|final --answer ID=VALUE...\n"
    "       ementor questionnaire results --programme ID [--stage initial|final]\n"
    "\n"
    "The initial and final monitoring questionnaires of a programme. A mentee answers\n"
    "from their room: the answers are sealed to the manager parties of the room's\n"
    "signed agreement (never to anyone the server names) and signed by the mentee;\n"
    "the mentor and the other mentees cannot read them. A manager edits a\n"
    "questionnaire (FILE holds its JSON: {\"title\", \"questions\": [{\"id\", \"kind\":\n"
    "\"scale\"|\"choice\"|\"text\", \"text\", \"min\", \"max\", \"options\"}]}; each edit is a\n"
    "new signed version) and sees the results: per-question aggregates and each\n"
    "mentee's initial-versus-final comparison. Without an edit, the programme uses\n"
    "the built-in questionnaire in its language (English or Polish).\n";

static char *safe(const char *s)
{
	char *out = text_for_terminal(s ? s : "", strlen(s ? s : ""));

	return out ? out : strdup("?");
}

static void print_safe(const char *before, const char *s, const char *after)
{
	char *t = safe(s);

	printf("%s%s%s", before, t, after);
	free(t);
}

static int quest_begin(struct cli *cli, int argc, char **argv, struct quest_args *a)
{
	int first,
	    rc = cli_parse(cli, argc, argv, quest_opts, quest_usage, quest_option, a, 0, 0, &first);

	if (rc != CLI_CONTINUE)
		return rc;
	if (a->bad)
		return cli_usage_error(cli, "--programme and --room take an id");
	if (a->stage && strcmp(a->stage, "initial") && strcmp(a->stage, "final"))
		return cli_usage_error(cli, "--stage is initial or final");
	return CLI_CONTINUE;
}

/* Runs cmd on a fresh connection; prints the JSON result with --json. 0 or an exit code. */
static int quest_run(struct cli *cli, json_t *cmd, struct drive_end *end)
{
	struct drive d = {0};
	int rc = drive_open(cli, &d, 1);

	if (!rc)
		rc = drive_run_ok(&d, cmd, end);
	else
		json_decref(cmd);
	if (d.core)
		drive_close(&d);
	if (!rc && cli->json)
		cli_print_json(end->result);
	return rc;
}

int cmd_questionnaire_show(struct cli *cli, int argc, char **argv)
{
	struct quest_args a = {0};
	struct drive_end end = {0};
	json_t *q, *o;
	size_t i, k;
	int rc;

	if ((rc = quest_begin(cli, argc, argv, &a)) != CLI_CONTINUE)
		return rc;
	if (!a.stage || !a.room == !a.programme)
		return cli_usage_error(cli, "give --stage and one of --room and --programme");
	rc = quest_run(cli,
	               json_pack("{s:s, s:s, s:I}", "cmd", "questionnaire.show", "stage", a.stage,
	                         a.room ? "room" : "programme",
	                         (json_int_t)(a.room ? a.room : a.programme)),
	               &end);
	if (rc || cli->json)
		goto out;
	print_safe("", cli_str(end.result, "title", "?"), "");
	printf(" (%s, version %lld%s", cli_str(end.result, "lang", "?"),
	       (long long)json_integer_value(json_object_get(end.result, "version")),
	       json_is_true(json_object_get(end.result, "default")) ? ", the built-in default"
	                                                            : "");
	if (cli_str(end.result, "signed_by", NULL))
		print_safe(", signed by ", cli_str(end.result, "signed_by", ""), "");
	printf(")\n");
	json_array_foreach(json_object_get(end.result, "questions"), i, q)
	{
		print_safe("  ", cli_str(q, "id", "?"), "");
		print_safe(" [", cli_str(q, "kind", "?"), "");
		if (!strcmp(cli_str(q, "kind", ""), "scale"))
			printf(" %lld-%lld",
			       (long long)json_integer_value(json_object_get(q, "min")),
			       (long long)json_integer_value(json_object_get(q, "max")));
		printf("] ");
		print_safe("", cli_str(q, "text", ""), "\n");
		json_array_foreach(json_object_get(q, "options"), k, o)
		{
			print_safe("      - ", json_string_value(o), "\n");
		}
	}
out:
	drive_end_clear(&end);
	return rc;
}

int cmd_questionnaire_edit(struct cli *cli, int argc, char **argv)
{
	struct quest_args a = {0};
	struct drive_end end = {0};
	json_error_t err;
	json_t *doc;
	int rc;

	if ((rc = quest_begin(cli, argc, argv, &a)) != CLI_CONTINUE)
		return rc;
	if (!a.stage || !a.programme || !a.file)
		return cli_usage_error(cli, "give --programme, --stage and --file");
	doc = json_load_file(a.file, JSON_REJECT_DUPLICATES | JSON_PRESERVE_ORDER, &err);
	if (!doc)
		return cli_fail(CLI_EXIT_USAGE, "%s: not JSON (%s, line %d)", a.file, err.text,
		                err.line);
	rc = quest_run(cli,
	               json_pack("{s:s, s:s, s:I, s:o}", "cmd", "questionnaire.edit", "stage",
	                         a.stage, "programme", (json_int_t)a.programme, "doc", doc),
	               &end);
	if (!rc && !cli->json)
		printf(
		    "The %s questionnaire of programme %lld is now version %lld, signed by you.\n",
		    a.stage, (long long)a.programme,
		    (long long)json_integer_value(json_object_get(end.result, "version")));
	drive_end_clear(&end);
	return rc;
}

int cmd_questionnaire_answer(struct cli *cli, int argc, char **argv)
{
	struct quest_args a = {0};
	struct drive_end end = {0};
	json_t *answers, *r;
	size_t i;
	int rc;

	if ((rc = quest_begin(cli, argc, argv, &a)) != CLI_CONTINUE)
		return rc;
	if (!a.stage || !a.room || !a.nanswers)
		return cli_usage_error(cli,
		                       "give --room, --stage and at least one --answer ID=VALUE");
	answers = json_object();
	for (i = 0; i < a.nanswers; i++) {
		const char *eq = strchr(a.answers[i], '=');
		char id[64], *end_num = NULL;
		long long v;

		if (!eq || eq == a.answers[i] || (size_t)(eq - a.answers[i]) >= sizeof(id)) {
			json_decref(answers);
			return cli_usage_error(cli, "--answer is ID=VALUE");
		}
		snprintf(id, sizeof(id), "%.*s", (int)(eq - a.answers[i]), a.answers[i]);
		/* a whole number answers a scale; the core checks it against the question */
		v = strtoll(eq + 1, &end_num, 10);
		json_object_set_new(answers, id,
		                    eq[1] && end_num && !*end_num ? json_integer(v)
		                                                  : json_string(eq + 1));
	}
	rc = quest_run(cli,
	               json_pack("{s:s, s:s, s:I, s:o}", "cmd", "questionnaire.answer", "stage",
	                         a.stage, "room", (json_int_t)a.room, "answers", answers),
	               &end);
	if (!rc && !cli->json) {
		printf("Answers to the %s questionnaire sealed to", a.stage);
		json_array_foreach(json_object_get(end.result, "readers"), i, r)
		{
			print_safe(i ? ", " : " ", json_string_value(r), "");
		}
		printf(" and stored.\n");
	}
	drive_end_clear(&end);
	return rc;
}

static void print_value(json_t *v)
{
	if (json_is_integer(v))
		printf("%lld", (long long)json_integer_value(v));
	else if (json_is_string(v))
		print_safe("\"", json_string_value(v), "\"");
	else
		printf("-");
}

int cmd_questionnaire_results(struct cli *cli, int argc, char **argv)
{
	struct quest_args a = {0};
	struct drive_end end = {0};
	json_t *agg, *q, *x, *v, *m;
	const char *key;
	size_t i, k, j;
	int rc;

	if ((rc = quest_begin(cli, argc, argv, &a)) != CLI_CONTINUE)
		return rc;
	if (!a.programme)
		return cli_usage_error(cli, "give --programme");
	rc = quest_run(cli,
	               json_pack("{s:s, s:I, s:s?}", "cmd", "questionnaire.results", "programme",
	                         (json_int_t)a.programme, "stage", a.stage),
	               &end);
	if (rc || cli->json)
		goto out;
	json_array_foreach(json_object_get(end.result, "answers"), i, x)
	{
		if (!json_is_true(json_object_get(x, "verified"))) {
			print_safe("UNVERIFIABLE answer of ", cli_str(x, "username", "?"), ": ");
			print_safe("", cli_str(x, "error", "?"), "\n");
		}
	}
	json_array_foreach(json_object_get(end.result, "aggregates"), i, agg)
	{
		print_safe("== ", cli_str(agg, "title", "?"), "");
		printf(" (%s, version %lld): %lld respondents\n", cli_str(agg, "stage", "?"),
		       (long long)json_integer_value(json_object_get(agg, "version")),
		       (long long)json_integer_value(json_object_get(agg, "respondents")));
		json_array_foreach(json_object_get(agg, "questions"), k, q)
		{
			print_safe("  ", cli_str(q, "id", "?"), ": ");
			print_safe("", cli_str(q, "text", ""), "\n");
			if (!strcmp(cli_str(q, "kind", ""), "scale")) {
				json_t *mean = json_object_get(q, "mean");

				printf("    n=%lld",
				       (long long)json_integer_value(json_object_get(q, "n")));
				if (json_is_real(mean))
					printf(" mean=%.2f", json_real_value(mean));
				printf(" distribution:");
				json_object_foreach(json_object_get(q, "distribution"), key, v)
				{
					printf(" %s:%lld", key, (long long)json_integer_value(v));
				}
				printf("\n");
			} else if (!strcmp(cli_str(q, "kind", ""), "choice")) {
				json_object_foreach(json_object_get(q, "counts"), key, v)
				{
					print_safe("    ", key, "");
					printf(": %lld\n", (long long)json_integer_value(v));
				}
			} else {
				json_array_foreach(json_object_get(q, "answers"), j, v)
				{
					print_safe("    - ", cli_str(v, "username", "?"), ": ");
					print_safe("", cli_str(v, "text", ""), "\n");
				}
			}
		}
	}
	json_array_foreach(json_object_get(end.result, "comparison"), i, m)
	{
		print_safe("== initial vs final: ", cli_str(m, "username", "?"), "\n");
		json_array_foreach(json_object_get(m, "questions"), k, q)
		{
			print_safe("  ", cli_str(q, "id", "?"), ": ");
			print_value(json_object_get(q, "initial"));
			printf(" -> ");
			print_value(json_object_get(q, "final"));
			if (json_is_integer(json_object_get(q, "change")))
				printf(" (%+lld)",
				       (long long)json_integer_value(json_object_get(q, "change")));
			printf("\n");
		}
	}
out:
	drive_end_clear(&end);
	return rc;
}

static const char progress_usage[] =
    "Usage: ementor audit progress --programme ID\n"
    "\n"
    "The progress the programme's mentees shared with its managers while their\n"
    "share_progress consent was granted: each 4-10 rating and each personal goal's\n"
    "status, sealed to the managers by the mentee's client and checked here. Nothing\n"
    "else is shown, and nothing a mentee did not share.\n";

int cmd_audit_progress(struct cli *cli, int argc, char **argv)
{
	struct quest_args a = {0};
	struct drive_end end = {0};
	json_t *m, *x;
	size_t i, k;
	int first, rc;

	rc = cli_parse(cli, argc, argv, quest_opts, progress_usage, quest_option, &a, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (!a.programme || a.bad)
		return cli_usage_error(cli, "give --programme ID");
	rc = quest_run(
	    cli,
	    json_pack("{s:s, s:I}", "cmd", "progress.list", "programme", (json_int_t)a.programme),
	    &end);
	if (rc || cli->json)
		goto out;
	json_array_foreach(json_object_get(end.result, "shares"), i, x)
	{
		if (!json_is_true(json_object_get(x, "verified"))) {
			print_safe("UNVERIFIABLE share of ", cli_str(x, "username", "?"), ": ");
			print_safe("", cli_str(x, "error", "?"), "\n");
		}
	}
	if (!json_array_size(json_object_get(end.result, "mentees")))
		printf("No mentee of programme %lld has shared progress.\n",
		       (long long)a.programme);
	json_array_foreach(json_object_get(end.result, "mentees"), i, m)
	{
		print_safe("", cli_str(m, "username", "?"), "\n");
		json_array_foreach(json_object_get(m, "ratings"), k, x)
		{
			printf("  rating %s %-8s %lld\n", cli_str(x, "rated_on", "?"),
			       cli_str(x, "stage", "?"),
			       (long long)json_integer_value(json_object_get(x, "value")));
		}
		json_array_foreach(json_object_get(m, "goals"), k, x)
		{
			printf("  goal %.8s  %-11s tasks %lld/%lld done\n",
			       cli_str(x, "goal_id", "?"), cli_str(x, "status", "?"),
			       (long long)json_integer_value(json_object_get(x, "tasks_done")),
			       (long long)json_integer_value(json_object_get(x, "tasks")));
		}
	}
out:
	drive_end_clear(&end);
	return rc;
}

int cmd_share_progress(struct drive *d, int64_t room, const char *kind, json_t *doc,
                       json_t **result)
{
	struct drive_end end = {0};
	int rc = drive_run(d,
	                   json_pack("{s:s, s:I, s:s, s:o}", "cmd", "progress.share", "room",
	                             (json_int_t)room, "kind", kind, "doc", doc),
	                   &end);

	*result = NULL;
	if (rc == 0 && end.ok)
		*result = json_incref(end.result);
	else if (rc == 0)
		*result = json_pack("{s:b, s:s}", "shared", 0, "reason", end.message);
	drive_end_clear(&end);
	return rc;
}
