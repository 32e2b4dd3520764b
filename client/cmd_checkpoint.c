/*
 * cmd_checkpoint.c - the three face-to-face meetings of every room
 * (PROTOCOL.md section 6) and the notices about them: list a room's
 * checkpoints, propose times, accept or decline them, reschedule, cancel, say
 * you cannot come, record who was there, move a window; and `notices`, which
 * shows what happened while you were away and marks it read.
 *
 * Times are typed and shown in the user's own time zone ($TZ) and travel as
 * UTC (state.c converts both ways); a time the user types is checked here, as
 * are lengths and ranges, so that a typing mistake gets a usage message
 * instead of a round trip. Whether a time is inside the window or in the past
 * is the server's call: its clock is the one that counts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "state.h"

#define CP_MINUTES_MIN     5
#define CP_MINUTES_MAX     600
#define CP_WINDOW_DAYS_MAX 366
#define CP_PRESENT_MAX     (EM_GROUP_MENTEES_MAX + 2)
/* A line of names: participants, answers, attendance. */
#define CP_LINE_LEN 1024

/* Every option of the checkpoint commands; each command's table takes the ones it uses. */
struct cp_args {
	const char *at[EM_CHECKPOINT_SLOTS_MAX];
	size_t nat;
	int too_many_at;
	const char *minutes;
	const char *place;
	const char *reason;
	int held;
	int missed;
	const char *present;
	const char *me;
	const char *opens;
	const char *closes;
	const char *programme;
	const char *kind;
	const char *days;
	int keep;
};

static int cp_option(void *ctx, int opt, const char *arg)
{
	struct cp_args *a = ctx;

	switch (opt) {
	case 'a':
		if (a->nat < EM_CHECKPOINT_SLOTS_MAX)
			a->at[a->nat++] = arg;
		else
			a->too_many_at = 1;
		break;
	case 'm':
		a->minutes = arg;
		break;
	case 'l':
		a->place = arg;
		break;
	case 'r':
		a->reason = arg;
		break;
	case 'H':
		a->held = 1;
		break;
	case 'X':
		a->missed = 1;
		break;
	case 'P':
		a->present = arg;
		break;
	case 'M':
		a->me = arg;
		break;
	case 'o':
		a->opens = arg;
		break;
	case 'c':
		a->closes = arg;
		break;
	case 'g':
		a->programme = arg;
		break;
	case 'k':
		a->kind = arg;
		break;
	case 'd':
		a->days = arg;
		break;
	case 'K':
		a->keep = 1;
		break;
	default:
		break;
	}
	return CLI_CONTINUE;
}

static int cp_is_kind(const char *s)
{
	return !strcmp(s, "initial") || !strcmp(s, "midterm") || !strcmp(s, "final");
}

/* ---- naming a checkpoint ---- */

/* How the user named a checkpoint: by its id, or by its room and kind. */
struct cp_ref {
	int64_t id;
	int64_t room_id;
	const char *kind; /* NULL when named by id */
};

/* Reads CHECKPOINT or ROOM KIND from n (1 or 2) arguments. Returns CLI_CONTINUE or an exit code. */
static int cp_ref_parse(struct cli *cli, char **names, int n, struct cp_ref *ref)
{
	memset(ref, 0, sizeof(*ref));
	if (n == 1) {
		if (cli_parse_id(names[0], &ref->id))
			return cli_usage_error(cli,
			                       "'%s' is not a checkpoint id (see `ementor "
			                       "checkpoint list`)",
			                       names[0]);
		return CLI_CONTINUE;
	}
	if (cli_parse_id(names[0], &ref->room_id))
		return cli_usage_error(cli, "'%s' is not a room id", names[0]);
	if (!cp_is_kind(names[1]))
		return cli_usage_error(cli, "'%s' is not initial, midterm or final", names[1]);
	ref->kind = names[1];
	return CLI_CONTINUE;
}

/* The id of the checkpoint `ref` names by room and kind, from a checkpoint.list of the room. */
static int cp_find(struct cli *cli, struct conn *c, const struct cp_ref *ref, int64_t *id)
{
	json_t *res = NULL, *cp;
	size_t i;
	int rc;

	rc = cli_call(cli, c, EM_OP_CHECKPOINT_LIST,
	              json_pack("{s:I}", "room_id", (json_int_t)ref->room_id), &res);
	if (rc)
		return rc;
	rc = CLI_EXIT_REFUSED;
	json_array_foreach(json_object_get(res, "checkpoints"), i, cp)
	{
		if (json_integer_value(json_object_get(cp, "room_id")) == ref->room_id &&
		    !strcmp(cli_str(cp, "kind", ""), ref->kind)) {
			*id = json_integer_value(json_object_get(cp, "id"));
			rc = CLI_EXIT_OK;
			break;
		}
	}
	if (rc)
		cli_fail(rc, "room %lld has no %s checkpoint you can see", (long long)ref->room_id,
		         ref->kind);
	json_decref(res);
	return rc;
}

/*
 * Connects, resumes the session and sends `op` with `args` (the reference is
 * taken; NULL means out of memory). When `ref` is not NULL, the checkpoint it
 * names is looked up if need be and added to args as "checkpoint_id".
 * Returns an exit code; on CLI_EXIT_OK *res is the result.
 * Who frees: the caller, json_decref(*res).
 */
static int cp_request(struct cli *cli, const struct cp_ref *ref, enum em_op op, json_t *args,
                      json_t **res)
{
	struct home_session s;
	struct conn *c = NULL;
	int64_t id = ref ? ref->id : 0;
	int rc;

	memset(&s, 0, sizeof(s));
	*res = NULL;
	if (!args) {
		rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
		goto out;
	}
	rc = cli_session_open(cli, &s, &c);
	if (rc)
		goto out;
	if (ref && ref->kind && (rc = cp_find(cli, c, ref, &id)) != CLI_EXIT_OK)
		goto out;
	if (ref && json_object_set_new(args, "checkpoint_id", json_integer(id)) != 0) {
		rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
		goto out;
	}
	rc = cli_call(cli, c, op, args, res);
	args = NULL;
out:
	json_decref(args);
	conn_free(c);
	home_session_wipe(&s);
	return rc;
}

/* ---- checking what the user typed ---- */

/* A place or reason: 1 to 200 characters of UTF-8 text on one line. */
static int cp_check_text(struct cli *cli, const char *option, const char *text)
{
	size_t chars = 0;

	if (!text_is_utf8(text, strlen(text)))
		return cli_usage_error(cli, "%s is not valid UTF-8 text", option);
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return cli_usage_error(
			    cli, "%s must be one line without control characters", option);
		if ((*p & 0xc0) != 0x80)
			chars++;
	}
	if (!chars)
		return cli_usage_error(cli, "%s must not be empty", option);
	if (chars > EM_CHECKPOINT_TEXT_MAX)
		return cli_usage_error(cli, "%s is %zu characters long; at most %d", option, chars,
		                       EM_CHECKPOINT_TEXT_MAX);
	return CLI_CONTINUE;
}

/* Explains why text_utc_minute() refused an --at time. Returns CLI_EXIT_USAGE. */
static int cp_time_error(struct cli *cli, const char *text, int err)
{
	if (err == TEXT_TIME_SKIPPED)
		return cli_usage_error(cli,
		                       "--at '%s' does not exist in your time zone: the clock "
		                       "skips it when it changes",
		                       text);
	if (err == TEXT_TIME_AMBIGUOUS)
		return cli_usage_error(cli,
		                       "--at '%s' happens twice in your time zone (the clock goes "
		                       "back); give it in UTC instead, as YYYY-MM-DDTHH:MMZ",
		                       text);
	return cli_usage_error(cli,
	                       "--at '%s' is not a time: give \"YYYY-MM-DD HH:MM\" in your time "
	                       "zone, or YYYY-MM-DDTHH:MMZ in UTC",
	                       text);
}

/*
 * Checks --at, --minutes and --place and builds the "slots" argument.
 * Returns CLI_CONTINUE with *out set, or an exit code.
 * Who frees: the caller, json_decref(*out).
 */
static int cp_slots(struct cli *cli, const struct cp_args *a, json_t **out)
{
	char utc[EM_CHECKPOINT_SLOTS_MAX][TEXT_UTC_MINUTE_LEN];
	json_t *slots = NULL;
	int64_t minutes;
	int rc;

	*out = NULL;
	if (a->too_many_at)
		return cli_usage_error(cli, "at most %d --at times at once",
		                       EM_CHECKPOINT_SLOTS_MAX);
	if (!a->nat || !a->minutes || !a->place)
		return cli_usage_error(cli, "--at, --minutes and --place are required");
	if (cli_parse_id(a->minutes, &minutes) || minutes < CP_MINUTES_MIN ||
	    minutes > CP_MINUTES_MAX)
		return cli_usage_error(cli, "--minutes must be a number from %d to %d",
		                       CP_MINUTES_MIN, CP_MINUTES_MAX);
	rc = cp_check_text(cli, "--place", a->place);
	if (rc != CLI_CONTINUE)
		return rc;
	for (size_t i = 0; i < a->nat; i++) {
		int err = text_utc_minute(a->at[i], utc[i]);

		if (err)
			return cp_time_error(cli, a->at[i], err);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(utc[i], utc[j]))
				return cli_usage_error(cli, "--at '%s' is given twice", a->at[i]);
	}
	slots = json_array();
	for (size_t i = 0; slots && i < a->nat; i++) {
		json_t *slot = json_pack("{s:s, s:I, s:s}", "starts_at", utc[i], "minutes",
		                         (json_int_t)minutes, "place", a->place);

		if (json_array_append_new(slots, slot) != 0) {
			json_decref(slots);
			slots = NULL;
		}
	}
	if (!slots)
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	*out = slots;
	return CLI_CONTINUE;
}

int checkpoint_slots_args(struct cli *cli, const char *const *at, size_t nat, int too_many_at,
                          const char *minutes, const char *place, json_t **out)
{
	struct cp_args a;

	memset(&a, 0, sizeof(a));
	for (size_t i = 0; i < nat && i < EM_CHECKPOINT_SLOTS_MAX; i++)
		a.at[a.nat++] = at[i];
	a.too_many_at = too_many_at || nat > EM_CHECKPOINT_SLOTS_MAX;
	a.minutes = minutes;
	a.place = place;
	return cp_slots(cli, &a, out);
}

/* ---- showing checkpoints ---- */

/* Appends ", item" (or "item" to an empty buf); quietly truncates. */
static void cp_join(char *buf, size_t len, const char *item)
{
	size_t used = strlen(buf);

	if (used + 1 < len)
		snprintf(buf + used, len - used, "%s%s", used ? ", " : "", item);
}

/* "checkpoint 12 (initial, room 3 "alice & bob")" */
static const char *cp_name(json_t *cp, char *buf, size_t len)
{
	const char *room = cli_str(cp, "room_name", NULL);

	snprintf(buf, len, "%s %lld (%s, room %lld%s%s%s)",
	         strcmp(cli_str(cp, "kind", "?"), "session") ? "checkpoint" : "session",
	         (long long)json_integer_value(json_object_get(cp, "id")),
	         !strcmp(cli_str(cp, "kind", "?"), "session") &&
	                 !strcmp(cli_str(cp, "mode", ""), "online")
	             ? "online"
	             : cli_str(cp, "kind", "?"),
	         (long long)json_integer_value(json_object_get(cp, "room_id")), room ? " \"" : "",
	         room ? room : "", room ? "\"" : "");
	return buf;
}

/* "Thu 2026-12-03 15:00 CET, 60 minutes, at Cafe Central" */
static const char *cp_slot_when(json_t *slot, char *buf, size_t len)
{
	char when[TEXT_WHEN_LEN];

	text_local_when(cli_str(slot, "starts_at", NULL), when, sizeof(when));
	snprintf(buf, len, "%s, %lld minutes, at %s", when,
	         (long long)json_integer_value(json_object_get(slot, "minutes")),
	         cli_str(slot, "place", "-"));
	return buf;
}

/* The state in words: "confirmed for Thu 2026-12-03 15:00 CET, 60 minutes, at Cafe". */
static const char *cp_state_text(json_t *cp, char *buf, size_t len)
{
	const char *state = cli_str(cp, "state", "?");
	json_t *confirmed = json_object_get(cp, "confirmed_slot");
	size_t nslots = json_array_size(json_object_get(cp, "slots"));
	char when[1024];

	if (!strcmp(state, "confirmed") && json_is_object(confirmed))
		snprintf(buf, len, "confirmed for %s", cp_slot_when(confirmed, when, sizeof(when)));
	else if (!strcmp(state, "open") && nslots)
		snprintf(buf, len, "open with %zu proposed time%s waiting for answers", nslots,
		         nslots == 1 ? "" : "s");
	else if (!strcmp(state, "open"))
		snprintf(buf, len, "open, with no time proposed");
	else
		snprintf(buf, len, "%s", state);
	return buf;
}

/* One line: "<action> <checkpoint name><after>; it is now <state>." */
static void cp_done(const char *action, const char *after, json_t *res)
{
	json_t *cp = json_object_get(res, "checkpoint");
	char name[512], state[1100];

	printf("%s %s%s; it is now %s.\n", action, cp_name(cp, name, sizeof(name)), after,
	       cp_state_text(cp, state, sizeof(state)));
}

/*
 * For the commands that change one checkpoint: cp_request() (takes args),
 * then the result as JSON with --json, else as cp_done(action, after, ...).
 * Returns an exit code.
 */
static int cp_change(struct cli *cli, const struct cp_ref *ref, enum em_op op, json_t *args,
                     const char *action, const char *after)
{
	json_t *res = NULL;
	int rc = cp_request(cli, ref, op, args, &res);

	if (rc)
		goto out;
	if (cli->json)
		cli_print_json(res);
	else
		cp_done(action, after, res);
out:
	json_decref(res);
	return rc;
}

/* Prints "    Label:" padded, so that values line up; an empty label continues a list. */
static void cp_label(const char *label)
{
	printf("    %-16s", label);
}

/* The role of a participant, or NULL when `username` is not one. */
static const char *cp_role_of(json_t *cp, const char *username)
{
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(cp, "participants"), i, p)
	{
		if (!strcmp(cli_str(p, "username", ""), username))
			return cli_str(p, "role", "?");
	}
	return NULL;
}

/* The open slots: who proposed, accepted, declined, and who has not answered. */
static void cp_print_slots(json_t *cp)
{
	static const char *const head[] = {"SLOT",        "STARTS",   "MINUTES",  "PLACE",
	                                   "PROPOSED BY", "ACCEPTED", "DECLINED", "WAITING FOR"};
	json_t *slots = json_object_get(cp, "slots"), *slot, *p, *answer;
	int manager_required = json_is_true(json_object_get(cp, "manager_required"));
	struct cli_table t;
	const char *who;
	size_t i, j;

	cli_table_init(&t, 8, head);
	json_array_foreach(slots, i, slot)
	{
		char id[24], minutes[24], when[TEXT_WHEN_LEN];
		char yes[CP_LINE_LEN] = "", no[CP_LINE_LEN] = "", waiting[CP_LINE_LEN] = "";
		json_t *answers = json_object_get(slot, "answers");
		int manager_accepted = 0;
		const char *row[] = {cli_int_text(slot, "id", id, sizeof(id)),
		                     when,
		                     cli_int_text(slot, "minutes", minutes, sizeof(minutes)),
		                     cli_str(slot, "place", "-"),
		                     cli_str(slot, "proposed_by", "-"),
		                     yes,
		                     no,
		                     waiting};

		text_local_when(cli_str(slot, "starts_at", NULL), when, sizeof(when));
		json_object_foreach(answers, who, answer)
		{
			const char *role = cp_role_of(cp, who);

			cp_join(json_is_true(answer) ? yes : no, CP_LINE_LEN, who);
			if (json_is_true(answer) && role && !strcmp(role, "manager"))
				manager_accepted = 1;
		}
		json_array_foreach(json_object_get(cp, "participants"), j, p)
		{
			who = cli_str(p, "username", "?");
			if (json_is_true(json_object_get(p, "required")) &&
			    !json_object_get(answers, who))
				cp_join(waiting, sizeof(waiting), who);
		}
		if (manager_required && !manager_accepted)
			cp_join(waiting, sizeof(waiting), "a manager");
		if (cli_table_add(&t, row))
			break; /* out of memory: print what we have */
	}
	cli_table_print(&t, stdout, "      ");
	cli_table_free(&t);
}

/* Who takes part: "sam (mentor), mia (mentee), maria (manager)". */
static void cp_print_participants(json_t *cp)
{
	char line[CP_LINE_LEN] = "", item[96];
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(cp, "participants"), i, p)
	{
		snprintf(item, sizeof(item), "%s (%s)", cli_str(p, "username", "?"),
		         cli_str(p, "role", "?"));
		cp_join(line, sizeof(line), item);
	}
	cp_label("Participants:");
	printf("%s%s\n", *line ? line : "-",
	       json_is_true(json_object_get(cp, "manager_required"))
	           ? "; one manager must accept a time"
	           : "");
}

/* "sam present, mia absent (her own word: present)": only once something is recorded. */
static void cp_print_attendance(json_t *cp)
{
	char line[CP_LINE_LEN] = "", item[128];
	json_t *a, *attended, *confirmed;
	int any = 0;
	size_t i;

	json_array_foreach(json_object_get(cp, "attendance"), i, a)
	{
		attended = json_object_get(a, "attended");
		confirmed = json_object_get(a, "confirmed");
		any |= json_is_boolean(attended) || json_is_boolean(confirmed);
		snprintf(item, sizeof(item), "%s %s%s%s%s", cli_str(a, "username", "?"),
		         json_is_boolean(attended) ? (json_is_true(attended) ? "present" : "absent")
		                                   : "not recorded",
		         json_is_boolean(confirmed) ? " (own word: " : "",
		         json_is_boolean(confirmed)
		             ? (json_is_true(confirmed) ? "present" : "absent")
		             : "",
		         json_is_boolean(confirmed) ? ")" : "");
		cp_join(line, sizeof(line), item);
	}
	if (!any)
		return;
	cp_label("Attendance:");
	printf("%s\n", line);
}

static const char *cp_flag_text(const char *flag)
{
	if (!strcmp(flag, "unrecorded"))
		return "unrecorded: the meeting is over and attendance is not recorded";
	if (!strcmp(flag, "overdue"))
		return "overdue: the window has closed and no time was confirmed";
	if (!strcmp(flag, "late_change"))
		return "late_change: the mentor changed it less than 48 hours before";
	return flag;
}

/* One checkpoint as a block of labelled lines, and its open slots as a table. */
static void cp_print(json_t *cp)
{
	const char *state = cli_str(cp, "state", "?");
	json_t *confirmed = json_object_get(cp, "confirmed_slot"), *item;
	json_int_t late = json_integer_value(json_object_get(cp, "late_changes"));
	char when[1024], at[TEXT_WHEN_LEN];
	size_t i;

	printf("  Checkpoint %lld, %s: %s\n",
	       (long long)json_integer_value(json_object_get(cp, "id")), cli_str(cp, "kind", "?"),
	       state);
	cp_label("Window:");
	printf("%s to %s\n", cli_str(cp, "opens_on", "?"), cli_str(cp, "closes_on", "?"));
	if (json_is_object(confirmed)) {
		int current = strcmp(state, "open") != 0 && strcmp(state, "cancelled") != 0;

		cp_label(current ? "Meeting:" : "Was:");
		printf("%s%s\n", cp_slot_when(confirmed, when, sizeof(when)),
		       current                  ? ""
		       : !strcmp(state, "open") ? " (being rescheduled)"
		                                : " (cancelled)");
	}
	cp_print_participants(cp);
	cp_print_attendance(cp);
	json_array_foreach(json_object_get(cp, "absences"), i, item)
	{
		text_local_when(cli_str(item, "at", NULL), at, sizeof(at));
		cp_label(i ? "" : "Cannot attend:");
		printf("%s (said %s): %s\n", cli_str(item, "username", "?"), at,
		       cli_str(item, "reason", "-"));
	}
	if (late > 0) {
		cp_label("Late changes:");
		printf("%lld\n", (long long)late);
	}
	json_array_foreach(json_object_get(cp, "flags"), i, item)
	{
		cp_label(i ? "" : "Flags:");
		printf("%s\n",
		       cp_flag_text(json_string_value(item) ? json_string_value(item) : "?"));
	}
	json_array_foreach(json_object_get(cp, "overlaps"), i, item)
	{
		cp_label(i ? "" : "Overlaps:");
		printf("%s has another meeting at that time (checkpoint %lld)\n",
		       cli_str(item, "username", "?"),
		       (long long)json_integer_value(json_object_get(item, "checkpoint_id")));
	}
	if (json_array_size(json_object_get(cp, "slots"))) {
		cp_label("Proposed times:");
		printf("accept one with `ementor checkpoint accept SLOT`\n");
		cp_print_slots(cp);
	} else if (!strcmp(state, "open") || !strcmp(state, "cancelled")) {
		cp_label("Proposed times:");
		printf("none; propose some with `ementor checkpoint propose %lld --at ...`\n",
		       (long long)json_integer_value(json_object_get(cp, "id")));
	}
}

/* ---- checkpoint list ---- */

static const char checkpoint_list_usage[] =
    "Usage: ementor checkpoint list [ROOM] [--programme ID]\n"
    "\n"
    "Show the checkpoints (the initial, mid-term and final meetings) of the rooms\n"
    "you are in or manage: state, window, the confirmed time and place in your\n"
    "time zone, who takes part, attendance, absences, flags, and the proposed\n"
    "times with who accepted them. Times are shown in your local time zone\n"
    "(set TZ to change it).\n"
    "\n"
    "Arguments and options:\n"
    "  ROOM              only this room's checkpoints\n"
    "  --programme ID    only the checkpoints of this programme's rooms\n"
    "  --json            the server's result as it is\n";

int cmd_checkpoint_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"programme", required_argument, NULL, 'g'},
	    {NULL, 0, NULL, 0},
	};
	struct cp_args a;
	json_t *args = NULL, *res = NULL, *list, *cp;
	int64_t room = 0, programme = 0, last_room = 0;
	size_t i;
	int rc, first;

	memset(&a, 0, sizeof(a));
	rc = cli_parse(cli, argc, argv, opts, checkpoint_list_usage, cp_option, &a, 0, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (first < argc && cli_parse_id(argv[first], &room))
		return cli_usage_error(cli, "'%s' is not a room id", argv[first]);
	if (a.programme && cli_parse_id(a.programme, &programme))
		return cli_usage_error(cli, "--programme '%s' is not a programme id", a.programme);
	if (room && programme)
		return cli_usage_error(cli, "give a ROOM or --programme, not both");
	args = json_object();
	if (args && room)
		json_object_set_new(args, "room_id", json_integer(room));
	if (args && programme)
		json_object_set_new(args, "programme_id", json_integer(programme));
	rc = cp_request(cli, NULL, EM_OP_CHECKPOINT_LIST, args, &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	list = json_object_get(res, "checkpoints");
	if (!json_array_size(list)) {
		printf("No checkpoints.\n");
		goto out;
	}
	json_array_foreach(list, i, cp)
	{
		int64_t room_id = json_integer_value(json_object_get(cp, "room_id"));
		const char *name = cli_str(cp, "room_name", NULL);

		if (room_id != last_room) {
			printf("%sRoom %lld%s%s%s (programme %lld)\n", i ? "\n" : "",
			       (long long)room_id, name ? " \"" : "", name ? name : "",
			       name ? "\"" : "",
			       (long long)json_integer_value(json_object_get(cp, "programme_id")));
			last_room = room_id;
		}
		printf("\n");
		cp_print(cp);
	}
	if (json_is_true(json_object_get(res, "truncated")))
		fprintf(stderr,
		        "ementor: the list stops at %zu checkpoints; name a ROOM or "
		        "--programme to see the rest.\n",
		        json_array_size(list));
out:
	json_decref(res);
	return rc;
}

/* ---- checkpoint propose / reschedule ---- */

static const char checkpoint_propose_usage[] =
    "Usage: ementor checkpoint propose CHECKPOINT --at TIME [--at TIME]...\n"
    "                                  --minutes N --place TEXT\n"
    "       ementor checkpoint propose ROOM KIND ...\n"
    "\n"
    "Propose up to 5 times for a meeting that has none confirmed (or was\n"
    "cancelled). You accept your own proposals; the meeting is confirmed when\n"
    "every member of the room (and, for the mid-term, a manager) accepts the\n"
    "same time. Each time must start inside the checkpoint's window.\n"
    "\n"
    "Arguments and options:\n"
    "  CHECKPOINT        the checkpoint's id, from `ementor checkpoint list`, or a\n"
    "                    session's, from `ementor meeting plan ROOM`\n"
    "  ROOM KIND         or the room's id and initial, midterm or final\n"
    "  --at TIME         \"YYYY-MM-DD HH:MM\" in your time zone ($TZ), or\n"
    "                    YYYY-MM-DDTHH:MMZ in UTC; repeat for each time (at most 5)\n"
    "  --minutes N       how long the meeting lasts, 5 to 600\n"
    "  --place TEXT      where, 1 to 200 characters (not confidential: the server\n"
    "                    and calendar feeds see it)\n";

static const char checkpoint_reschedule_usage[] =
    "Usage: ementor checkpoint reschedule CHECKPOINT --reason TEXT --at TIME\n"
    "                                     [--at TIME]... --minutes N --place TEXT\n"
    "       ementor checkpoint reschedule ROOM KIND ...\n"
    "\n"
    "Move a meeting: withdraws its confirmed time and every proposed time, and\n"
    "proposes new ones; the others are told the reason. A change by the room's\n"
    "mentor less than 48 hours before the meeting is recorded as a late change.\n"
    "\n"
    "Arguments and options:\n"
    "  CHECKPOINT        the checkpoint's id, from `ementor checkpoint list`, or a\n"
    "                    session's, from `ementor meeting plan ROOM`\n"
    "  ROOM KIND         or the room's id and initial, midterm or final\n"
    "  --reason TEXT     why, 1 to 200 characters (not confidential)\n"
    "  --at TIME         \"YYYY-MM-DD HH:MM\" in your time zone ($TZ), or\n"
    "                    YYYY-MM-DDTHH:MMZ in UTC; repeat for each time (at most 5)\n"
    "  --minutes N       how long the meeting lasts, 5 to 600\n"
    "  --place TEXT      where, 1 to 200 characters (not confidential)\n";

/* "41, 42": the ids of the open slots at the times in `slots`. */
static void cp_new_slot_ids(json_t *cp, json_t *slots, char *buf, size_t len)
{
	json_t *want, *have;
	size_t i, j;
	char id[24];

	buf[0] = 0;
	json_array_foreach(slots, i, want)
	{
		json_array_foreach(json_object_get(cp, "slots"), j, have)
		{
			if (!strcmp(cli_str(have, "starts_at", ""),
			            cli_str(want, "starts_at", "-"))) {
				cp_join(buf, len, cli_int_text(have, "id", id, sizeof(id)));
				break;
			}
		}
	}
}

static int cp_propose(struct cli *cli, int argc, char **argv, int reschedule)
{
	static const struct option propose_opts[] = {
	    {"at", required_argument, NULL, 'a'},
	    {"minutes", required_argument, NULL, 'm'},
	    {"place", required_argument, NULL, 'l'},
	    {NULL, 0, NULL, 0},
	};
	static const struct option reschedule_opts[] = {
	    {"at", required_argument, NULL, 'a'},
	    {"minutes", required_argument, NULL, 'm'},
	    {"place", required_argument, NULL, 'l'},
	    {"reason", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	struct cp_args a;
	struct cp_ref ref;
	json_t *args = NULL, *slots = NULL, *res = NULL;
	char ids[256], action[320];
	size_t n;
	int rc, first;

	memset(&a, 0, sizeof(a));
	rc = cli_parse(cli, argc, argv, reschedule ? reschedule_opts : propose_opts,
	               reschedule ? checkpoint_reschedule_usage : checkpoint_propose_usage,
	               cp_option, &a, 1, 2, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cp_ref_parse(cli, argv + first, argc - first, &ref);
	if (rc != CLI_CONTINUE)
		return rc;
	if (reschedule && !a.reason)
		return cli_usage_error(cli, "--reason is required");
	if (reschedule && (rc = cp_check_text(cli, "--reason", a.reason)) != CLI_CONTINUE)
		return rc;
	rc = cp_slots(cli, &a, &slots);
	if (rc != CLI_CONTINUE)
		return rc;
	n = json_array_size(slots);
	args = json_pack("{s:O}", "slots", slots);
	if (args && reschedule)
		json_object_set_new(args, "reason", json_string(a.reason));
	rc = cp_request(cli, &ref,
	                reschedule ? EM_OP_CHECKPOINT_RESCHEDULE : EM_OP_CHECKPOINT_PROPOSE, args,
	                &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	cp_new_slot_ids(json_object_get(res, "checkpoint"), slots, ids, sizeof(ids));
	snprintf(action, sizeof(action), "%s %zu time%s%s%s%s for",
	         reschedule ? "Rescheduled: proposed" : "Proposed", n, n == 1 ? "" : "s",
	         *ids ? " (slot " : "", ids, *ids ? ")" : "");
	cp_done(action, "", res);
out:
	json_decref(slots);
	json_decref(res);
	return rc;
}

int cmd_checkpoint_propose(struct cli *cli, int argc, char **argv)
{
	return cp_propose(cli, argc, argv, 0);
}

int cmd_checkpoint_reschedule(struct cli *cli, int argc, char **argv)
{
	return cp_propose(cli, argc, argv, 1);
}

/* ---- checkpoint accept / decline ---- */

static const char checkpoint_accept_usage[] =
    "Usage: ementor checkpoint accept SLOT\n"
    "\n"
    "Accept a proposed time (its SLOT id is in `ementor checkpoint list`). When\n"
    "everyone needed has accepted it, the meeting is confirmed, the other\n"
    "proposed times are withdrawn and reminders are set. Answering again\n"
    "replaces your answer.\n";

static const char checkpoint_decline_usage[] =
    "Usage: ementor checkpoint decline SLOT\n"
    "\n"
    "Decline a proposed time (its SLOT id is in `ementor checkpoint list`).\n"
    "Answering again replaces your answer.\n";

static int cp_answer(struct cli *cli, int argc, char **argv, int accept)
{
	char action[64];
	int64_t slot;
	int rc, first;

	rc = cli_parse(cli, argc, argv, NULL,
	               accept ? checkpoint_accept_usage : checkpoint_decline_usage, NULL, NULL, 1,
	               1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_parse_id(argv[first], &slot))
		return cli_usage_error(cli, "'%s' is not a slot id", argv[first]);
	snprintf(action, sizeof(action), "%s slot %lld of", accept ? "Accepted" : "Declined",
	         (long long)slot);
	return cp_change(cli, NULL, EM_OP_CHECKPOINT_ANSWER,
	                 json_pack("{s:I, s:b}", "slot_id", (json_int_t)slot, "accept", accept),
	                 action, "");
}

int cmd_checkpoint_accept(struct cli *cli, int argc, char **argv)
{
	return cp_answer(cli, argc, argv, 1);
}

int cmd_checkpoint_decline(struct cli *cli, int argc, char **argv)
{
	return cp_answer(cli, argc, argv, 0);
}

/* ---- checkpoint cancel / absent ---- */

static const char checkpoint_cancel_usage[] =
    "Usage: ementor checkpoint cancel CHECKPOINT --reason TEXT\n"
    "       ementor checkpoint cancel ROOM KIND --reason TEXT\n"
    "\n"
    "Cancel a meeting (the room's mentor, or a manager of the programme; a\n"
    "session: the mentor only); the others are told the reason. It can be\n"
    "proposed again later. A mentee who cannot come uses `ementor checkpoint\n"
    "absent` instead. A cancellation by the mentor less than 48 hours before\n"
    "the meeting is recorded as a late change.\n"
    "\n"
    "CHECKPOINT may also be a session's id (`ementor meeting plan ROOM`).\n"
    "\n"
    "Options:\n"
    "  --reason TEXT     why, 1 to 200 characters (not confidential)\n";

static const char checkpoint_absent_usage[] =
    "Usage: ementor checkpoint absent CHECKPOINT --reason TEXT\n"
    "       ementor checkpoint absent ROOM KIND --reason TEXT\n"
    "\n"
    "Tell the others you cannot attend a meeting, and why. The meeting stays as\n"
    "it is; agree with the others how to catch up.\n"
    "\n"
    "CHECKPOINT may also be a session's id (`ementor meeting plan ROOM`).\n"
    "\n"
    "Options:\n"
    "  --reason TEXT     why, 1 to 200 characters (not confidential)\n";

static int cp_reason(struct cli *cli, int argc, char **argv, int cancel)
{
	static const struct option opts[] = {
	    {"reason", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	struct cp_args a;
	struct cp_ref ref;
	int rc, first;

	memset(&a, 0, sizeof(a));
	rc = cli_parse(cli, argc, argv, opts,
	               cancel ? checkpoint_cancel_usage : checkpoint_absent_usage, cp_option, &a, 1,
	               2, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cp_ref_parse(cli, argv + first, argc - first, &ref);
	if (rc != CLI_CONTINUE)
		return rc;
	if (!a.reason)
		return cli_usage_error(cli, "--reason is required");
	rc = cp_check_text(cli, "--reason", a.reason);
	if (rc != CLI_CONTINUE)
		return rc;
	return cp_change(cli, &ref, cancel ? EM_OP_CHECKPOINT_CANCEL : EM_OP_CHECKPOINT_ABSENT,
	                 json_pack("{s:s}", "reason", a.reason),
	                 cancel ? "Cancelled" : "Told the others you cannot attend", "");
}

int cmd_checkpoint_cancel(struct cli *cli, int argc, char **argv)
{
	return cp_reason(cli, argc, argv, 1);
}

int cmd_checkpoint_absent(struct cli *cli, int argc, char **argv)
{
	return cp_reason(cli, argc, argv, 0);
}

/* ---- checkpoint attendance ---- */

static const char checkpoint_attendance_usage[] =
    "Usage: ementor checkpoint attendance CHECKPOINT --held [--present USER,...]\n"
    "       ementor checkpoint attendance CHECKPOINT --missed\n"
    "       ementor checkpoint attendance CHECKPOINT --me yes|no\n"
    "       (or ROOM KIND instead of CHECKPOINT)\n"
    "\n"
    "After the meeting has started: the room's mentor (for the mid-term also a\n"
    "manager) records whether it was held and who was present; recording again\n"
    "corrects it. Every participant can add their own word on whether they were\n"
    "there (--me), shown next to the record.\n"
    "\n"
    "CHECKPOINT may also be a session's id (`ementor meeting plan ROOM`).\n"
    "\n"
    "Options:\n"
    "  --held                the meeting took place\n"
    "  --present USER,...    with --held: who was there (the others were not)\n"
    "  --missed              the meeting did not take place\n"
    "  --me yes|no           whether you yourself were there\n";

/* Splits --present into folded usernames. Returns CLI_CONTINUE or an exit code; *out as cp_slots().
 */
static int cp_present(struct cli *cli, const char *list, json_t **out)
{
	char name[EM_USERNAME_MAX + 1], folded[EM_USERNAME_MAX + 1];
	const char *p = list, *comma;
	json_t *names = json_array();

	*out = NULL;
	if (!names)
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	while (*list && p) {
		size_t len;

		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		name[0] = 0;
		if (len < sizeof(name)) {
			memcpy(name, p, len);
			name[len] = 0;
		}
		if (len >= sizeof(name) || em_check_username(name) != EM_OK) {
			json_decref(names);
			return cli_usage_error(cli, "--present: '%.*s' is not a valid username",
			                       (int)(len > 40 ? 40 : len), p);
		}
		em_username_fold(name, folded);
		if (json_array_size(names) == CP_PRESENT_MAX) {
			json_decref(names);
			return cli_usage_error(cli, "--present takes at most %d names",
			                       CP_PRESENT_MAX);
		}
		json_array_append_new(names, json_string(folded));
		p = comma ? comma + 1 : NULL;
	}
	*out = names;
	return CLI_CONTINUE;
}

int cmd_checkpoint_attendance(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"held", no_argument, NULL, 'H'},
	    {"missed", no_argument, NULL, 'X'},
	    {"present", required_argument, NULL, 'P'},
	    {"me", required_argument, NULL, 'M'},
	    {NULL, 0, NULL, 0},
	};
	struct cp_args a;
	struct cp_ref ref;
	json_t *args = NULL, *present = NULL, *name;
	char after[CP_LINE_LEN + 32] = "", line[CP_LINE_LEN] = "";
	size_t i;
	int rc, first, attended = 0;

	memset(&a, 0, sizeof(a));
	rc = cli_parse(cli, argc, argv, opts, checkpoint_attendance_usage, cp_option, &a, 1, 2,
	               &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cp_ref_parse(cli, argv + first, argc - first, &ref);
	if (rc != CLI_CONTINUE)
		return rc;
	if (a.held + a.missed + (a.me != NULL) != 1)
		return cli_usage_error(cli, "give one of --held, --missed or --me yes|no");
	if (a.present && !a.held)
		return cli_usage_error(cli, "--present goes with --held");
	if (a.me) {
		if (strcmp(a.me, "yes") != 0 && strcmp(a.me, "no") != 0)
			return cli_usage_error(cli, "--me must be yes or no");
		attended = !strcmp(a.me, "yes");
		return cp_change(
		    cli, &ref, EM_OP_CHECKPOINT_ATTEND, json_pack("{s:b}", "attended", attended),
		    attended ? "Recorded that you attended" : "Recorded that you missed", "");
	}
	if (a.present && (rc = cp_present(cli, a.present, &present)) != CLI_CONTINUE)
		return rc;
	args = json_pack("{s:b}", "held", a.held);
	if (args && present)
		json_object_set(args, "present", present);
	json_array_foreach(present, i, name)
	{
		cp_join(line, sizeof(line), json_string_value(name));
	}
	if (a.held)
		snprintf(after, sizeof(after), " as held%s%s", present ? ", present: " : "",
		         present ? (*line ? line : "nobody") : "");
	else
		snprintf(after, sizeof(after), " as missed");
	rc = cp_change(cli, &ref, EM_OP_CHECKPOINT_RECORD, args, "Recorded", after);
	json_decref(present);
	return rc;
}

/* ---- checkpoint window ---- */

static const char checkpoint_window_usage[] =
    "Usage: ementor checkpoint window CHECKPOINT --opens YYYY-MM-DD --closes YYYY-MM-DD\n"
    "       ementor checkpoint window --programme ID --kind KIND --days N\n"
    "       (or ROOM KIND instead of CHECKPOINT)\n"
    "\n"
    "Managers of the programme: move one checkpoint's window (the dates its\n"
    "meeting may fall on, inclusive, UTC), or set a programme's default for one\n"
    "kind and move every window of that kind not moved by hand:\n"
    "  initial   N days from the programme's start\n"
    "  midterm   N days either side of its midpoint\n"
    "  final     its last N days\n"
    "\n"
    "Options:\n"
    "  --opens DATE, --closes DATE   the first and last day of the window\n"
    "  --programme ID                the programme\n"
    "  --kind KIND                   initial, midterm or final\n"
    "  --days N                      1 to 366 (midterm: 0 to 366)\n";

/* The programme form of `checkpoint window`: sets a default for one kind. */
static int cp_window_default(struct cli *cli, const struct cp_args *a)
{
	json_t *res = NULL;
	int64_t programme;
	long days, min_days;
	char *end = NULL;
	int rc;

	if (a->opens || a->closes)
		return cli_usage_error(cli, "--opens and --closes go with a CHECKPOINT, not with "
		                            "--programme");
	if (!a->kind || !a->days)
		return cli_usage_error(cli, "--programme needs --kind and --days");
	if (cli_parse_id(a->programme, &programme))
		return cli_usage_error(cli, "--programme '%s' is not a programme id", a->programme);
	if (!cp_is_kind(a->kind))
		return cli_usage_error(cli, "--kind must be initial, midterm or final");
	/* a mid-term window may be just its midpoint; the others need a day */
	min_days = strcmp(a->kind, "midterm") ? 1 : 0;
	days = strtol(a->days, &end, 10);
	if (!*a->days || *end || *a->days == '-' || *a->days == '+' || days < min_days ||
	    days > CP_WINDOW_DAYS_MAX)
		return cli_usage_error(cli, "--days must be a number from %ld to %d for %s",
		                       min_days, CP_WINDOW_DAYS_MAX, a->kind);
	rc = cp_request(cli, NULL, EM_OP_CHECKPOINT_WINDOW,
	                json_pack("{s:I, s:s, s:I}", "programme_id", (json_int_t)programme, "kind",
	                          a->kind, "days", (json_int_t)days),
	                &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	printf("Programme %lld: %s windows are now %s%ld day%s%s; moved %lld window%s.\n",
	       (long long)programme, a->kind,
	       !strcmp(a->kind, "initial")   ? "the first "
	       : !strcmp(a->kind, "midterm") ? ""
	                                     : "the last ",
	       days, days == 1 ? "" : "s",
	       !strcmp(a->kind, "midterm") ? " either side of the midpoint" : "",
	       (long long)json_integer_value(json_object_get(res, "updated")),
	       json_integer_value(json_object_get(res, "updated")) == 1 ? "" : "s");
out:
	json_decref(res);
	return rc;
}

int cmd_checkpoint_window(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"opens", required_argument, NULL, 'o'},     {"closes", required_argument, NULL, 'c'},
	    {"programme", required_argument, NULL, 'g'}, {"kind", required_argument, NULL, 'k'},
	    {"days", required_argument, NULL, 'd'},      {NULL, 0, NULL, 0},
	};
	struct cp_args a;
	struct cp_ref ref;
	char after[64];
	int rc, first;

	memset(&a, 0, sizeof(a));
	rc = cli_parse(cli, argc, argv, opts, checkpoint_window_usage, cp_option, &a, 0, 2, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (a.programme) {
		if (first < argc)
			return cli_usage_error(cli, "give a CHECKPOINT or --programme, not both");
		return cp_window_default(cli, &a);
	}
	if (first == argc)
		return cli_usage_error(cli, "give a CHECKPOINT, or --programme ID --kind KIND "
		                            "--days N");
	rc = cp_ref_parse(cli, argv + first, argc - first, &ref);
	if (rc != CLI_CONTINUE)
		return rc;
	if (a.kind || a.days)
		return cli_usage_error(cli, "--kind and --days go with --programme");
	if (!a.opens || !a.closes)
		return cli_usage_error(cli, "--opens and --closes are required");
	if (em_check_date(a.opens) != EM_OK)
		return cli_usage_error(cli, "--opens '%s' is not a date YYYY-MM-DD", a.opens);
	if (em_check_date(a.closes) != EM_OK)
		return cli_usage_error(cli, "--closes '%s' is not a date YYYY-MM-DD", a.closes);
	if (strcmp(a.closes, a.opens) < 0)
		return cli_usage_error(cli, "--closes must not be before --opens");
	snprintf(after, sizeof(after), " to %s .. %s", a.opens, a.closes);
	return cp_change(cli, &ref, EM_OP_CHECKPOINT_WINDOW,
	                 json_pack("{s:s, s:s}", "opens_on", a.opens, "closes_on", a.closes),
	                 "Moved the window of", after);
}

/* ---- notices ---- */

static const char notices_usage[] =
    "Usage: ementor notices [--keep]\n"
    "\n"
    "Show what happened to your checkpoints since you last looked (proposals,\n"
    "confirmations, reschedules, cancellations, absences, records, reminders)\n"
    "and which room agreements changed and need your signature again, oldest\n"
    "first, in your time zone; then mark them read.\n"
    "\n"
    "Options:\n"
    "  --keep    do not mark them read: they show again next time\n"
    "  --json    the server's list as it is (marked read unless --keep)\n";

/* "in 2 days", "in 2 hours", "in 90 minutes" */
static void notice_lead(json_t *n, char *buf, size_t len)
{
	json_int_t m = json_integer_value(json_object_get(n, "lead_minutes"));

	if (m > 0 && m % 1440 == 0)
		snprintf(buf, len, " in %lld day%s", (long long)(m / 1440), m == 1440 ? "" : "s");
	else if (m > 0 && m % 60 == 0)
		snprintf(buf, len, " in %lld hour%s", (long long)(m / 60), m == 60 ? "" : "s");
	else if (m > 0)
		snprintf(buf, len, " in %lld minutes", (long long)m);
	else
		buf[0] = 0;
}

/* One notice as a sentence, after its time, to f. Only a reminder says "reminder". */
static void notice_write(FILE *f, json_t *n)
{
	const char *kind = cli_str(n, "kind", "?"), *by = cli_str(n, "by", "someone");
	const char *reason = cli_str(n, "reason", NULL), *place = cli_str(n, "place", NULL);
	const char *starts = cli_str(n, "starts_at", NULL);
	json_t *late = json_object_get(n, "late"), *held = json_object_get(n, "held");
	char at[TEXT_WHEN_LEN], when[TEXT_WHEN_LEN], what[128], lead[32];

	text_local_when(cli_str(n, "at", NULL), at, sizeof(at));
	if (!strcmp(cli_str(n, "checkpoint_kind", "?"), "session")) /* PROTOCOL.md 6.4 */
		snprintf(what, sizeof(what), "session %lld of room %lld",
		         (long long)json_integer_value(json_object_get(n, "checkpoint_id")),
		         (long long)json_integer_value(json_object_get(n, "room_id")));
	else
		snprintf(what, sizeof(what), "%s meeting of room %lld (checkpoint %lld)",
		         cli_str(n, "checkpoint_kind", "?"),
		         (long long)json_integer_value(json_object_get(n, "room_id")),
		         (long long)json_integer_value(json_object_get(n, "checkpoint_id")));
	fprintf(f, "%s  ", at);
	if (!strcmp(kind, "checkpoint.proposed")) {
		fprintf(f, "%s proposed times for the %s", by, what);
	} else if (!strcmp(kind, "checkpoint.confirmed")) {
		fprintf(f, "The %s is confirmed", what);
	} else if (!strcmp(kind, "checkpoint.rescheduled")) {
		fprintf(f, "%s rescheduled the %s%s", by, what,
		        json_is_true(late) ? ", a late change" : "");
	} else if (!strcmp(kind, "checkpoint.cancelled")) {
		fprintf(f, "%s cancelled the %s%s", by, what,
		        json_is_true(late) ? ", a late change" : "");
	} else if (!strcmp(kind, "checkpoint.absent")) {
		fprintf(f, "%s cannot attend the %s", by, what);
	} else if (!strcmp(kind, "checkpoint.recorded")) {
		fprintf(f, "%s recorded the %s%s", by, what,
		        json_is_boolean(held) ? (json_is_true(held) ? " as held" : " as missed")
		                              : "");
	} else if (!strcmp(kind, "meeting.topic")) {
		fprintf(f, "%s changed the topic of the %s (`ementor meeting plan %lld`)", by, what,
		        (long long)json_integer_value(json_object_get(n, "room_id")));
	} else if (!strcmp(kind, "reminder")) {
		notice_lead(n, lead, sizeof(lead));
		fprintf(f, "Meeting reminder: the %s starts%s", what, lead);
	} else if (!strcmp(kind, "diary.writer")) {
		fprintf(f, "%s chose you to write the diary of the %s", by, what);
	} else if (!strcmp(kind, "diary.written")) {
		fprintf(
		    f, "%s wrote the diary of the %s: add your remarks (`ementor diary show %lld`)",
		    by, what, (long long)json_integer_value(json_object_get(n, "checkpoint_id")));
	} else if (!strcmp(kind, "diary.remarked")) {
		fprintf(f, "%s added a remark to the diary of the %s", by, what);
	} else if (!strcmp(kind, "diary.missing")) {
		fprintf(f,
		        "Diary reminder: the %s was held a day ago and its diary is not written "
		        "(`ementor diary write %lld`)",
		        what, (long long)json_integer_value(json_object_get(n, "checkpoint_id")));
	} else if (!strcmp(kind, "identity.reset")) {
		/* PROTOCOL.md "Identity reset": the words are this client's, only the name is
		 * theirs */
		fprintf(
		    f,
		    "%s has a new identity (a manager reset their account): their keys changed. "
		    "Check their new safety number with them in person (`ementor verify %s`), "
		    "run `ementor trust %s`, then sign version %lld of the agreement of room "
		    "%lld (`ementor agreement sign %lld`)",
		    by, by, by, (long long)json_integer_value(json_object_get(n, "version")),
		    (long long)json_integer_value(json_object_get(n, "room_id")),
		    (long long)json_integer_value(json_object_get(n, "room_id")));
	} else if (!strcmp(kind, "report.handled")) {
		/* PROTOCOL.md 13: the state only; the manager's note is sealed (`report show`) */
		fprintf(f, "%s marked your report %lld %s (`ementor report show %lld`)", by,
		        (long long)json_integer_value(json_object_get(n, "report_id")),
		        cli_str(n, "state", "?"),
		        (long long)json_integer_value(json_object_get(n, "report_id")));
	} else if (!strcmp(kind, "announcement")) {
		/* PROTOCOL.md 15.2: the text is sealed; `announce list` opens and checks it */
		fprintf(f,
		        "%s sent an announcement to the %s of programme %lld (`ementor announce "
		        "list`)",
		        by, strcmp(cli_str(n, "audience", "?"), "all") ? "mentors" : "participants",
		        (long long)json_integer_value(json_object_get(n, "programme_id")));
	} else {
		fprintf(f, "%s: the %s", kind, what);
	}
	if (starts) {
		text_local_when(starts, when, sizeof(when));
		fprintf(f, ": %s%s%s", when, place ? " at " : "", place ? place : "");
	}
	if (reason)
		fprintf(f, ": \"%s\"", reason);
	fprintf(f, ".\n");
}

/*
 * One notice on stdout. Its words come from the server and from other people
 * (a name, a place, a reason): the sentence goes through text_for_terminal(),
 * so none of them can drive the terminal.
 */
static void notice_print(json_t *n)
{
	char *line = NULL, *safe = NULL, at[TEXT_WHEN_LEN];
	size_t len = 0;
	FILE *f;

	if (!strncmp(cli_str(n, "kind", "?"), "agreement.", 10)) {
		text_local_when(cli_str(n, "at", NULL), at, sizeof(at));
		printf("%s  ", at);
		agreement_notice_print(n); /* cmd_agreement.c: makes its words safe itself */
		return;
	}
	if (!(f = open_memstream(&line, &len)))
		return;
	notice_write(f, n);
	if (fclose(f) == 0 && (safe = text_for_terminal(line, len)))
		fputs(safe, stdout);
	free(safe);
	free(line);
}

int cmd_notices(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"keep", no_argument, NULL, 'K'},
	    {NULL, 0, NULL, 0},
	};
	struct cp_args a;
	struct home_session s;
	struct conn *c = NULL;
	json_t *res = NULL, *ack = NULL, *list, *n;
	json_int_t upto = 0;
	size_t i, count;
	int rc, first;

	memset(&a, 0, sizeof(a));
	memset(&s, 0, sizeof(s));
	rc = cli_parse(cli, argc, argv, opts, notices_usage, cp_option, &a, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_session_open(cli, &s, &c);
	if (rc)
		goto out;
	rc = cli_call(cli, c, EM_OP_NOTICE_LIST, NULL, &res);
	if (rc)
		goto out;
	list = json_object_get(res, "notices");
	count = json_array_size(list);
	json_array_foreach(list, i, n)
	{
		json_int_t id = json_integer_value(json_object_get(n, "id"));

		if (id > upto)
			upto = id;
	}
	if (cli->json) {
		cli_print_json(res);
	} else if (!count) {
		printf("No new notices.\n");
	} else {
		json_array_foreach(list, i, n)
		{
			notice_print(n);
		}
	}
	if (!count || a.keep) {
		if (count && !cli->json)
			printf("Kept %zu notice%s unread (--keep).\n", count,
			       count == 1 ? "" : "s");
		goto out;
	}
	rc = cli_call(cli, c, EM_OP_NOTICE_ACK, json_pack("{s:I}", "upto", upto), &ack);
	if (rc)
		goto out;
	if (!cli->json)
		printf("Marked %lld notice%s read.\n",
		       (long long)json_integer_value(json_object_get(ack, "acked")),
		       json_integer_value(json_object_get(ack, "acked")) == 1 ? "" : "s");
	if (json_is_true(json_object_get(res, "truncated")) && !cli->json)
		printf("More notices are waiting: run `ementor notices` again.\n");
out:
	json_decref(ack);
	json_decref(res);
	conn_free(c);
	home_session_wipe(&s);
	return rc;
}
