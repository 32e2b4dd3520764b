/*
 * cmd_goal.c - goals, tasks and self-ratings (PROTOCOL.md section 10):
 * `goal add|list|show|update|share|task` and `rating add|list`.
 *
 * DESIGN. The sealing, signing and every check on what the server hands
 * back are the client core's (core/goal.c, core/envelope.c): this file
 * parses options, turns an edit into a new version (the latest version as
 * the core opened it, changed, put back as version + 1) and prints. A record
 * the core could not verify is printed as such with the reason, never as
 * text. Goals are named by their id (as `goal list` prints it) or by a
 * prefix of it that names one goal.
 *
 * Thread: main only.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drive.h"
#include "state_io.h"

#define GOAL_TASK_OPTS 50

static int status_ok(const char *s)
{
	return s && (!strcmp(s, "open") || !strcmp(s, "in_progress") || !strcmp(s, "done") ||
	             !strcmp(s, "dropped"));
}

struct goal_args {
	const char *title, *description, *status, *stage, *date, *note, *value;
	const char *tasks[GOAL_TASK_OPTS];
	size_t ntasks;
	const char *task_status[GOAL_TASK_OPTS]; /* "N=STATUS" */
	size_t nstatus;
	int group, share, unshare, history;
};

static int goal_option(void *ctx, int opt, const char *arg)
{
	struct goal_args *a = ctx;

	switch (opt) {
	case 't':
		a->title = arg;
		break;
	case 'd':
		a->description = arg;
		break;
	case 's':
		a->status = arg;
		break;
	case 'g':
		a->group = 1;
		break;
	case 'S':
		a->share = 1;
		break;
	case 'U':
		a->unshare = 1;
		break;
	case 'H':
		a->history = 1;
		break;
	case 'a':
		if (a->ntasks == GOAL_TASK_OPTS)
			return cli_fail(CLI_EXIT_USAGE, "at most %d tasks", GOAL_TASK_OPTS);
		a->tasks[a->ntasks++] = arg;
		break;
	case 'k':
		if (a->nstatus == GOAL_TASK_OPTS)
			return cli_fail(CLI_EXIT_USAGE, "at most %d task changes", GOAL_TASK_OPTS);
		a->task_status[a->nstatus++] = arg;
		break;
	case 'e':
		a->stage = arg;
		break;
	case 'D':
		a->date = arg;
		break;
	case 'n':
		a->note = arg;
		break;
	case 'v':
		a->value = arg;
		break;
	default:
		break;
	}
	return CLI_CONTINUE;
}

/* A string for the terminal (malloc'd; "?" when out of memory). Who frees: caller. */
static char *safe(const char *s)
{
	char *out = text_for_terminal(s ? s : "", strlen(s ? s : ""));

	return out ? out : strdup("?");
}

static void print_safe(const char *fmt_before, const char *s, const char *after)
{
	char *t = safe(s);

	printf("%s%s%s", fmt_before, t, after);
	free(t);
}

/* Prints one opened goal (core/goal.c's Opened object). */
static void goal_print(json_t *g, int brief)
{
	json_t *doc = json_object_get(g, "doc"), *task, *r;
	const char *owner = cli_str(g, "owner", NULL), *warning = cli_str(g, "warning", NULL);
	size_t i;

	printf("%s  v%lld  %s%s%s", cli_str(g, "goal_id", "?"),
	       (long long)json_integer_value(json_object_get(g, "version")),
	       cli_str(g, "kind", "?"), owner ? " of " : "", owner ? owner : "");
	if (!strcmp(cli_str(g, "kind", ""), "personal"))
		printf(json_is_true(json_object_get(g, "shared")) ? " (shared with the room)"
		                                                  : " (you and the mentor)");
	printf("  by %s\n", cli_str(g, "author", "?"));
	if (!json_is_true(json_object_get(g, "verified"))) {
		print_safe("  UNVERIFIABLE: ", cli_str(g, "error", "?"), "\n");
		return;
	}
	print_safe("  [", cli_str(doc, "status", "?"), "] ");
	print_safe("", cli_str(doc, "title", ""), "\n");
	if (!brief && cli_str(doc, "description", "")[0])
		print_safe("  ", cli_str(doc, "description", ""), "\n");
	json_array_foreach(json_object_get(doc, "tasks"), i, task)
	{
		printf("  %zu. ", i + 1);
		print_safe("[", cli_str(task, "status", "?"), "] ");
		print_safe("", cli_str(task, "title", ""), "\n");
	}
	if (!brief) {
		printf("  readers:");
		json_array_foreach(json_object_get(g, "readers"), i, r)
		{
			printf(" %s", json_string_value(r) ? json_string_value(r) : "?");
		}
		printf("\n");
	}
	if (warning)
		print_safe("  WARNING: ", warning, "\n");
}

/* The room id of argv[first]. CLI_CONTINUE or a usage exit. */
static int goal_room(struct cli *cli, const char *s, int64_t *room)
{
	if (cli_parse_id(s, room))
		return cli_usage_error(cli, "'%s' is not a room id", s);
	return CLI_CONTINUE;
}

/* Runs a core command; on failure prints and returns its exit. 0 ok. */
static int goal_run(struct drive *d, json_t *cmd, struct drive_end *end)
{
	return drive_run_ok(d, cmd, end);
}

/*
 * The latest version of the goal whose id starts with `prefix`, as the core
 * opened it (a new reference in *out). Returns 0 or an exit code (printed).
 */
static int goal_find(struct drive *d, int64_t room, const char *prefix, json_t **out)
{
	struct drive_end end = {0};
	json_t *g, *found = NULL;
	size_t i, n = 0;
	int rc;

	*out = NULL;
	rc = goal_run(d, json_pack("{s:s, s:I}", "cmd", "goal.list", "room", (json_int_t)room),
	              &end);
	if (rc)
		goto out;
	json_array_foreach(json_object_get(end.result, "goals"), i, g)
	{
		if (!strncmp(cli_str(g, "goal_id", ""), prefix, strlen(prefix)))
			found = g, n++;
	}
	if (n != 1) {
		rc = cli_fail(CLI_EXIT_USAGE, "%s goal of room %lld has an id starting with '%s'",
		              n ? "more than one" : "no", (long long)room, prefix);
		goto out;
	}
	if (!json_is_true(json_object_get(found, "verified"))) {
		char *why = safe(cli_str(found, "error", "?"));

		rc = cli_fail(CLI_EXIT_REFUSED,
		              "the latest version of that goal cannot be verified here (%s): not "
		              "writing a new version over it",
		              why);
		free(why);
		goto out;
	}
	*out = json_incref(found);
out:
	drive_end_clear(&end);
	return rc;
}

/* Puts the outcome of a progress share (taken) on result as "shared_with_managers". */
static void goal_share_report(struct cli *cli, json_t *result, json_t *share)
{
	(void)cli;
	if (share && result)
		json_object_set_new(result, "shared_with_managers", share);
	else
		json_decref(share);
}

static void goal_share_print(json_t *result)
{
	json_t *s = json_object_get(result, "shared_with_managers");

	if (!s)
		return;
	if (json_is_true(json_object_get(s, "shared")))
		printf("Also shared with the programme's managers (share_progress is granted).\n");
	else
		print_safe("Not shared with the programme's managers: ", cli_str(s, "reason", "?"),
		           ".\n");
}

/* Puts doc as version `version` of goal (id NULL: a new goal). Prints. */
static int goal_put(struct cli *cli, struct drive *d, int64_t room, const char *id, int64_t version,
                    const char *kind, int shared, json_t *doc)
{
	struct drive_end end = {0};
	json_t *cmd =
	    json_pack("{s:s, s:I, s:I, s:s, s:b, s:O}", "cmd", "goal.put", "room", (json_int_t)room,
	              "version", (json_int_t)version, "kind", kind, "shared", shared, "doc", doc);
	int rc;

	if (cmd && id)
		json_object_set_new(cmd, "goal_id", json_string(id));
	rc = goal_run(d, cmd, &end);
	if (rc)
		goto out;
	if (!strcmp(kind, "personal")) {
		/* its status and task counts, also to the managers while share_progress is granted
		 */
		json_t *task, *share = NULL;
		size_t i, done = 0;

		json_array_foreach(json_object_get(doc, "tasks"), i, task)
		{
			done += !strcmp(cli_str(task, "status", ""), "done");
		}
		cmd_share_progress(
		    d, room, "goal",
		    json_pack("{s:s, s:s, s:I, s:I}", "goal_id", cli_str(end.result, "goal_id", ""),
		              "status", cli_str(doc, "status", "open"), "tasks",
		              (json_int_t)json_array_size(json_object_get(doc, "tasks")),
		              "tasks_done", (json_int_t)done),
		    &share);
		goal_share_report(cli, end.result, share);
	}
	if (cli->json)
		cli_print_json(end.result);
	else
		printf("Goal %s version %lld sealed and stored.\n",
		       cli_str(end.result, "goal_id", "?"),
		       (long long)json_integer_value(json_object_get(end.result, "version")));
	if (!cli->json)
		goal_share_print(end.result);
out:
	drive_end_clear(&end);
	return rc;
}

static const struct option goal_opts[] = {
    {"title", required_argument, NULL, 't'},  {"description", required_argument, NULL, 'd'},
    {"status", required_argument, NULL, 's'}, {"group", no_argument, NULL, 'g'},
    {"share", no_argument, NULL, 'S'},        {"unshare", no_argument, NULL, 'U'},
    {"task", required_argument, NULL, 'a'},   {"task-status", required_argument, NULL, 'k'},
    {"history", no_argument, NULL, 'H'},      {NULL, 0, NULL, 0},
};

static const char goal_usage[] =
    "Usage: ementor goal add ROOM --title TEXT [--description TEXT] [--task TEXT]...\n"
    "                        [--group] [--share]\n"
    "       ementor goal list ROOM\n"
    "       ementor goal show ROOM GOAL [--history]\n"
    "       ementor goal update ROOM GOAL [--title TEXT] [--description TEXT]\n"
    "                        [--status open|in_progress|done|dropped]\n"
    "       ementor goal share ROOM GOAL [--unshare]\n"
    "       ementor goal task ROOM GOAL [--task TEXT]... [--task-status N=STATUS]...\n"
    "\n"
    "Goals and their tasks, end-to-end encrypted. A personal goal (a mentee's own) is\n"
    "sealed to you and the room's mentor only, until you share it with the room\n"
    "(--share, or `goal share`); a group goal (--group; the mentor or a mentee) is\n"
    "sealed to every signed member. Every change is a new signed version; `show\n"
    "--history` lists them. GOAL is a goal's id from `goal list`, or a prefix of it\n"
    "(an id made by another client that starts with '-' goes after '--').\n";

static int goal_begin(struct cli *cli, int argc, char **argv, struct goal_args *a, int min_pos,
                      int max_pos, int *first, int64_t *room)
{
	int rc = cli_parse(cli, argc, argv, goal_opts, goal_usage, goal_option, a, min_pos, max_pos,
	                   first);

	if (rc != CLI_CONTINUE)
		return rc;
	if (a->status && !status_ok(a->status))
		return cli_usage_error(cli, "a status is open, in_progress, done or dropped");
	return goal_room(cli, argv[*first], room);
}

int cmd_goal_add(struct cli *cli, int argc, char **argv)
{
	struct goal_args a = {0};
	struct drive d = {0};
	json_t *doc = NULL, *tasks;
	int64_t room;
	int rc, first, inited = 0;

	if ((rc = goal_begin(cli, argc, argv, &a, 1, 1, &first, &room)) != CLI_CONTINUE)
		return rc;
	if (!a.title)
		return cli_usage_error(cli, "a goal needs --title");
	tasks = json_array();
	for (size_t i = 0; i < a.ntasks; i++)
		json_array_append_new(
		    tasks, json_pack("{s:s, s:s}", "title", a.tasks[i], "status", "open"));
	doc = json_pack("{s:s, s:s, s:s, s:o}", "title", a.title, "description",
	                a.description ? a.description : "", "status", a.status ? a.status : "open",
	                "tasks", tasks);
	rc = drive_open(cli, &d, 1);
	inited = d.core != NULL;
	if (rc)
		goto out;
	rc = goal_put(cli, &d, room, NULL, 1, a.group ? "group" : "personal", a.share || a.group,
	              doc);
out:
	json_decref(doc);
	if (inited)
		drive_close(&d);
	return rc;
}

int cmd_goal_list(struct cli *cli, int argc, char **argv)
{
	struct goal_args a = {0};
	struct drive d = {0};
	struct drive_end end = {0};
	json_t *g;
	int64_t room;
	size_t i;
	int rc, first, inited = 0;

	if ((rc = goal_begin(cli, argc, argv, &a, 1, 1, &first, &room)) != CLI_CONTINUE)
		return rc;
	rc = drive_open(cli, &d, 1);
	inited = d.core != NULL;
	if (rc)
		goto out;
	rc = goal_run(&d, json_pack("{s:s, s:I}", "cmd", "goal.list", "room", (json_int_t)room),
	              &end);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(end.result);
		goto out;
	}
	if (!json_array_size(json_object_get(end.result, "goals")))
		printf("No goals you can see in room %lld.\n", (long long)room);
	json_array_foreach(json_object_get(end.result, "goals"), i, g)
	{
		goal_print(g, 1);
	}
out:
	drive_end_clear(&end);
	if (inited)
		drive_close(&d);
	return rc;
}

int cmd_goal_show(struct cli *cli, int argc, char **argv)
{
	struct goal_args a = {0};
	struct drive d = {0};
	struct drive_end end = {0};
	json_t *g = NULL, *v;
	int64_t room;
	size_t i;
	int rc, first, inited = 0;

	if ((rc = goal_begin(cli, argc, argv, &a, 2, 2, &first, &room)) != CLI_CONTINUE)
		return rc;
	rc = drive_open(cli, &d, 1);
	inited = d.core != NULL;
	if (rc)
		goto out;
	if (!a.history) {
		if ((rc = goal_find(&d, room, argv[first + 1], &g)))
			goto out;
		if (cli->json)
			cli_print_json(g);
		else
			goal_print(g, 0);
		goto out;
	}
	/* the history needs the whole id: find it first unless it is whole */
	if (strlen(argv[first + 1]) == 22) {
		g = json_pack("{s:s}", "goal_id", argv[first + 1]);
	} else {
		struct drive_end l = {0};

		rc = goal_run(
		    &d, json_pack("{s:s, s:I}", "cmd", "goal.list", "room", (json_int_t)room), &l);
		json_array_foreach(json_object_get(l.result, "goals"), i, v)
		{
			if (!strncmp(cli_str(v, "goal_id", ""), argv[first + 1],
			             strlen(argv[first + 1])))
				g = json_pack("{s:s}", "goal_id", cli_str(v, "goal_id", ""));
		}
		drive_end_clear(&l);
		if (rc)
			goto out;
		if (!g) {
			rc = cli_fail(CLI_EXIT_USAGE,
			              "no goal of room %lld has an id starting with '%s'",
			              (long long)room, argv[first + 1]);
			goto out;
		}
	}
	rc = goal_run(&d,
	              json_pack("{s:s, s:I, s:s}", "cmd", "goal.history", "room", (json_int_t)room,
	                        "goal_id", cli_str(g, "goal_id", "")),
	              &end);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(end.result);
		goto out;
	}
	json_array_foreach(json_object_get(end.result, "versions"), i, v)
	{
		printf("-- %s\n", cli_str(v, "created_at", "?"));
		goal_print(v, 0);
	}
out:
	json_decref(g);
	drive_end_clear(&end);
	if (inited)
		drive_close(&d);
	return rc;
}

/* update, share and task: the latest version changed by fn, put back as the next one. */
static int goal_edit(struct cli *cli, int argc, char **argv, int which)
{
	struct goal_args a = {0};
	struct drive d = {0};
	json_t *g = NULL, *doc = NULL, *tasks;
	int64_t room;
	int rc, first, inited = 0, shared;

	if ((rc = goal_begin(cli, argc, argv, &a, 2, 2, &first, &room)) != CLI_CONTINUE)
		return rc;
	if (which == 0 && !a.title && !a.description && !a.status)
		return cli_usage_error(cli,
		                       "nothing to change: --title, --description or --status");
	if (which == 2 && !a.ntasks && !a.nstatus)
		return cli_usage_error(cli, "nothing to change: --task or --task-status");
	rc = drive_open(cli, &d, 1);
	inited = d.core != NULL;
	if (rc)
		goto out;
	if ((rc = goal_find(&d, room, argv[first + 1], &g)))
		goto out;
	doc = json_deep_copy(json_object_get(g, "doc"));
	tasks = json_object_get(doc, "tasks");
	shared = json_is_true(json_object_get(g, "shared"));
	if (which == 0) {
		if (a.title)
			json_object_set_new(doc, "title", json_string(a.title));
		if (a.description)
			json_object_set_new(doc, "description", json_string(a.description));
		if (a.status)
			json_object_set_new(doc, "status", json_string(a.status));
	} else if (which == 1) {
		if (strcmp(cli_str(g, "kind", ""), "personal") != 0) {
			rc = cli_fail(CLI_EXIT_USAGE, "a group goal is the whole room's already");
			goto out;
		}
		shared = !a.unshare;
	} else {
		for (size_t i = 0; i < a.ntasks; i++)
			json_array_append_new(
			    tasks, json_pack("{s:s, s:s}", "title", a.tasks[i], "status", "open"));
		for (size_t i = 0; i < a.nstatus; i++) {
			const char *eq = strchr(a.task_status[i], '=');
			long n = strtol(a.task_status[i], NULL, 10);

			if (!eq || n < 1 || (size_t)n > json_array_size(tasks) ||
			    !status_ok(eq + 1)) {
				rc = cli_usage_error(
				    cli, "--task-status N=STATUS: N a task number, STATUS "
				         "open, in_progress, done or dropped");
				goto out;
			}
			json_object_set_new(json_array_get(tasks, (size_t)n - 1), "status",
			                    json_string(eq + 1));
		}
	}
	rc = goal_put(cli, &d, room, cli_str(g, "goal_id", ""),
	              json_integer_value(json_object_get(g, "version")) + 1, cli_str(g, "kind", ""),
	              shared, doc);
out:
	json_decref(g);
	json_decref(doc);
	if (inited)
		drive_close(&d);
	return rc;
}

int cmd_goal_update(struct cli *cli, int argc, char **argv)
{
	return goal_edit(cli, argc, argv, 0);
}

int cmd_goal_share(struct cli *cli, int argc, char **argv)
{
	return goal_edit(cli, argc, argv, 1);
}

int cmd_goal_task(struct cli *cli, int argc, char **argv)
{
	return goal_edit(cli, argc, argv, 2);
}

/* ---- ratings ---- */

static const struct option rating_opts[] = {
    {"stage", required_argument, NULL, 'e'},
    {"value", required_argument, NULL, 'v'},
    {"date", required_argument, NULL, 'D'},
    {"note", required_argument, NULL, 'n'},
    {NULL, 0, NULL, 0},
};

static const char rating_usage[] =
    "Usage: ementor rating add ROOM --stage start|midterm|final|any --value 4..10\n"
    "                          [--date YYYY-MM-DD] [--note TEXT]\n"
    "       ementor rating list ROOM\n"
    "\n"
    "Where you place yourself on the course's scale from 4 to 10 (mentees). The value\n"
    "and note are sealed to you and the room's mentor; the server keeps only the\n"
    "stage and the date. The mentor sees every mentee's ratings, a mentee their own.\n";

int cmd_rating_add(struct cli *cli, int argc, char **argv)
{
	struct goal_args a = {0};
	struct drive d = {0};
	struct drive_end end = {0};
	char today[11], *endp = NULL;
	int64_t room;
	long value;
	int rc, first, inited = 0;

	rc = cli_parse(cli, argc, argv, rating_opts, rating_usage, goal_option, &a, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if ((rc = goal_room(cli, argv[first], &room)) != CLI_CONTINUE)
		return rc;
	if (!a.stage || (strcmp(a.stage, "start") && strcmp(a.stage, "midterm") &&
	                 strcmp(a.stage, "final") && strcmp(a.stage, "any")))
		return cli_usage_error(cli, "--stage is start, midterm, final or any");
	value = a.value ? strtol(a.value, &endp, 10) : 0;
	if (!a.value || !endp || *endp || value < 4 || value > 10)
		return cli_usage_error(cli, "--value is a whole number from 4 to 10");
	if (!a.date) {
		time_t now = time(NULL);
		struct tm tm;

		gmtime_r(&now, &tm);
		strftime(today, sizeof(today), "%Y-%m-%d", &tm);
		a.date = today;
	}
	if (em_check_date(a.date) != EM_OK)
		return cli_usage_error(cli, "--date is YYYY-MM-DD");
	rc = drive_open(cli, &d, 1);
	inited = d.core != NULL;
	if (rc)
		goto out;
	rc = goal_run(&d,
	              json_pack("{s:s, s:I, s:s, s:s, s:I, s:s?}", "cmd", "rating.add", "room",
	                        (json_int_t)room, "stage", a.stage, "date", a.date, "value",
	                        (json_int_t)value, "note", a.note),
	              &end);
	if (rc)
		goto out;
	{
		json_t *share = NULL;

		cmd_share_progress(&d, room, "rating",
		                   json_pack("{s:s, s:s, s:I}", "stage", a.stage, "rated_on",
		                             a.date, "value", (json_int_t)value),
		                   &share);
		goal_share_report(cli, end.result, share);
	}
	if (cli->json)
		cli_print_json(end.result);
	else
		printf("Rated %ld (%s, %s), sealed to you and the mentor.\n", value, a.stage,
		       a.date);
	if (!cli->json)
		goal_share_print(end.result);
out:
	drive_end_clear(&end);
	if (inited)
		drive_close(&d);
	return rc;
}

int cmd_rating_list(struct cli *cli, int argc, char **argv)
{
	struct goal_args a = {0};
	struct drive d = {0};
	struct drive_end end = {0};
	int64_t room;
	json_t *x;
	size_t i;
	int rc, first, inited = 0;

	rc = cli_parse(cli, argc, argv, rating_opts, rating_usage, goal_option, &a, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if ((rc = goal_room(cli, argv[first], &room)) != CLI_CONTINUE)
		return rc;
	rc = drive_open(cli, &d, 1);
	inited = d.core != NULL;
	if (rc)
		goto out;
	rc = goal_run(&d, json_pack("{s:s, s:I}", "cmd", "rating.list", "room", (json_int_t)room),
	              &end);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(end.result);
		goto out;
	}
	if (!json_array_size(json_object_get(end.result, "ratings")))
		printf("No ratings you can see in room %lld.\n", (long long)room);
	json_array_foreach(json_object_get(end.result, "ratings"), i, x)
	{
		printf("%s  %-7s  %-12s  ", cli_str(x, "rated_on", "?"), cli_str(x, "stage", "?"),
		       cli_str(x, "username", "?"));
		if (!json_is_true(json_object_get(x, "verified"))) {
			print_safe("UNVERIFIABLE: ", cli_str(x, "error", "?"), "\n");
			continue;
		}
		printf("%lld", (long long)json_integer_value(json_object_get(x, "value")));
		if (cli_str(x, "note", NULL))
			print_safe("  ", cli_str(x, "note", ""), "");
		printf("\n");
	}
out:
	drive_end_clear(&end);
	if (inited)
		drive_close(&d);
	return rc;
}
