/*
 * cmd_meeting.c - a room's session plan (PROTOCOL.md section 6.4): `meeting
 * add` plans a further session (face to face or online) with its first
 * proposed times and, optionally, its topic; `meeting plan` shows the room's
 * three checkpoints and its sessions in date order with their states and
 * their topics, verified and decrypted on this device; `meeting topic` sets
 * or changes a meeting's topic. Everything else about a session (accept,
 * reschedule, cancel, absent, attendance) is the checkpoint commands', which
 * take a session's id as they take a checkpoint's.
 *
 * The topic is the only confidential part: it is sealed to the room key and
 * signed by the client core (core/meeting.c); the time, place, length and
 * mode are the server's to know. A topic that does not verify is printed as
 * UNVERIFIABLE with the reason, never left out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "drive.h"
#include "state.h"

struct mt_args {
	const char *at[EM_CHECKPOINT_SLOTS_MAX];
	size_t nat;
	int too_many_at;
	const char *minutes, *place, *topic;
	int online;
};

static int mt_option(void *ctx, int opt, const char *arg)
{
	struct mt_args *a = ctx;

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
	case 't':
		a->topic = arg;
		break;
	case 'O':
		a->online = 1;
		break;
	default:
		break;
	}
	return CLI_CONTINUE;
}

/* A topic: 1 to 1,000 bytes of UTF-8 (it may hold newlines). */
static int mt_check_topic(struct cli *cli, const char *text)
{
	size_t len = strlen(text);

	if (!len || len > EM_TOPIC_TEXT_MAX)
		return cli_usage_error(cli, "a topic has 1 to %d bytes (this one has %zu)",
		                       EM_TOPIC_TEXT_MAX, len);
	if (!text_is_utf8(text, len))
		return cli_usage_error(cli, "the topic is not valid UTF-8 text");
	return CLI_CONTINUE;
}

/* Seals and sends a topic through the core. Returns an exit code; *res the result. */
static int mt_topic_send(struct cli *cli, int64_t room, int64_t meeting, const char *text,
                         json_t **res)
{
	struct drive d;
	struct drive_end end = {0};
	int rc, inited;

	*res = NULL;
	rc = drive_open(cli, &d, 1);
	inited = d.core != NULL;
	if (!rc)
		rc = drive_run_ok(&d,
		                  json_pack("{s:s, s:I, s:I, s:s}", "cmd", "meeting.topic", "room",
		                            (json_int_t)room, "meeting", (json_int_t)meeting,
		                            "text", text),
		                  &end);
	if (!rc)
		*res = json_incref(end.result);
	drive_end_clear(&end);
	if (inited)
		drive_close(&d);
	return rc;
}

/* Prints before, a server string made safe for the terminal, after. */
static void mt_put(const char *before, const char *s, const char *after)
{
	char *copy = strdup(s ? s : "");

	if (!copy)
		return;
	cli_defang(copy);
	printf("%s%s%s", before, copy, after);
	free(copy);
}

/* "Topic: ..." or "Topic: UNVERIFIABLE ..." for a Meeting whose topic the core opened. */
static void mt_print_topic(json_t *m, const char *indent)
{
	json_t *topic = json_object_get(m, "topic");
	char line[64];

	if (!json_is_object(topic)) {
		printf("%stopic: (none yet)\n", indent);
		return;
	}
	snprintf(line, sizeof(line), "%stopic: ", indent);
	fputs(line, stdout);
	if (json_object_get(topic, "text")) {
		mt_put("", cli_str(topic, "text", ""), "");
		mt_put("   (by ", cli_str(topic, "author", "?"), "");
		printf(", revision %lld)\n",
		       (long long)json_integer_value(json_object_get(topic, "revision")));
		if (json_object_get(topic, "warning")) {
			printf("%sWARNING: ", indent);
			mt_put("", cli_str(topic, "warning", ""), "\n");
		}
	} else {
		mt_put("UNVERIFIABLE ", cli_str(topic, "error", "(cannot read)"), "");
		printf(" (revision %lld)\n",
		       (long long)json_integer_value(json_object_get(topic, "revision")));
	}
}

/* One meeting of the plan: its id, kind, mode, state and when; absences, late changes. */
static void mt_print(json_t *m)
{
	const char *kind = cli_str(m, "kind", "?"), *state = cli_str(m, "state", "?");
	json_t *slot = json_object_get(m, "confirmed_slot"), *a;
	char when[TEXT_WHEN_LEN], head[160];
	size_t i;

	snprintf(head, sizeof(head), "%lld  %s%s",
	         (long long)json_integer_value(json_object_get(m, "id")),
	         !strcmp(kind, "session") ? "session" : kind,
	         !strcmp(cli_str(m, "mode", ""), "online") ? " (online)" : "");
	printf("%-28s %s", head, state);
	if (json_is_object(slot)) {
		text_local_when(cli_str(slot, "starts_at", NULL), when, sizeof(when));
		printf("%s %s, %lld minutes, ", !strcmp(state, "open") ? " (was)" : "", when,
		       (long long)json_integer_value(json_object_get(slot, "minutes")));
		mt_put("at ", cli_str(slot, "place", "-"), "");
	} else if (json_array_size(json_object_get(m, "slots"))) {
		printf(", %zu proposed time%s (first ",
		       json_array_size(json_object_get(m, "slots")),
		       json_array_size(json_object_get(m, "slots")) == 1 ? "" : "s");
		text_local_when(cli_str(m, "sort_at", NULL), when, sizeof(when));
		printf("%s)", when);
	} else {
		printf(", no time proposed (window %s to %s)", cli_str(m, "opens_on", "?"),
		       cli_str(m, "closes_on", "?"));
	}
	printf("\n");
	mt_print_topic(m, "      ");
	if (json_integer_value(json_object_get(m, "late_changes")) > 0)
		printf("      late changes (mentor, < 48 h): %lld\n",
		       (long long)json_integer_value(json_object_get(m, "late_changes")));
	json_array_foreach(json_object_get(m, "absences"), i, a)
	{
		mt_put("      absent: ", cli_str(a, "username", "?"), "");
		mt_put(" (", cli_str(a, "reason", ""), ")\n");
	}
	json_array_foreach(json_object_get(m, "attendance"), i, a)
	{
		json_t *att = json_object_get(a, "attended");

		if (!json_is_boolean(att))
			continue;
		mt_put("      ", cli_str(a, "username", "?"), "");
		printf(" %s\n", json_is_true(att) ? "attended" : "did not attend");
	}
}

/* ---- meeting add ---- */

static const char add_usage[] =
    "Usage: ementor meeting add ROOM --at TIME [--at TIME]... --minutes N --place TEXT\n"
    "                           [--online] [--topic TEXT]\n"
    "\n"
    "Plan a further session of the room (beyond the initial, mid-term and final\n"
    "checkpoints), face to face or online, and propose up to 5 times for it. You\n"
    "accept your own proposals; it is confirmed when every member accepts the same\n"
    "time (`ementor checkpoint accept SLOT`). Only the room's mentor and mentees\n"
    "plan sessions, and only they take part (the manager attends the mid-term\n"
    "checkpoint only). The session's id then works with every checkpoint command:\n"
    "accept, decline, reschedule, cancel, absent and attendance.\n"
    "\n"
    "Options:\n"
    "  --at TIME       \"YYYY-MM-DD HH:MM\" in your time zone ($TZ), or\n"
    "                  YYYY-MM-DDTHH:MMZ in UTC; inside the programme's dates\n"
    "  --minutes N     how long, 5 to 600\n"
    "  --place TEXT    where (or the call's link), 1 to 200 characters; NOT\n"
    "                  confidential: the server and calendar feeds see it\n"
    "  --online        an online session (default: face to face)\n"
    "  --topic TEXT    what it is about, up to 1,000 bytes: end-to-end encrypted to\n"
    "                  the room and signed by you; the server never reads it\n";

int cmd_meeting_add(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"at", required_argument, NULL, 'a'},    {"minutes", required_argument, NULL, 'm'},
	    {"place", required_argument, NULL, 'l'}, {"topic", required_argument, NULL, 't'},
	    {"online", no_argument, NULL, 'O'},      {NULL, 0, NULL, 0},
	};
	struct mt_args a;
	json_t *slots = NULL, *res = NULL, *tres = NULL, *m;
	int64_t room, id;
	int rc, first;

	memset(&a, 0, sizeof(a));
	rc = cli_parse(cli, argc, argv, opts, add_usage, mt_option, &a, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_parse_id(argv[first], &room))
		return cli_usage_error(cli, "'%s' is not a room id", argv[first]);
	if (a.topic && (rc = mt_check_topic(cli, a.topic)) != CLI_CONTINUE)
		return rc;
	rc = checkpoint_slots_args(cli, a.at, a.nat, a.too_many_at, a.minutes, a.place, &slots);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_request(cli, EM_OP_MEETING_ADD,
	                 json_pack("{s:I, s:s, s:O}", "room_id", (json_int_t)room, "mode",
	                           a.online ? "online" : "in_person", "slots", slots),
	                 &res);
	if (rc)
		goto out;
	m = json_object_get(res, "meeting");
	id = json_integer_value(json_object_get(m, "id"));
	if (a.topic) {
		rc = mt_topic_send(cli, room, id, a.topic, &tres);
		if (rc) {
			fprintf(stderr,
			        "ementor: session %lld was planned, but its topic was not set; run "
			        "`ementor meeting topic %lld %lld TEXT` again.\n",
			        (long long)id, (long long)room, (long long)id);
			goto out;
		}
		m = json_object_get(tres, "meeting");
	}
	if (cli->json) {
		cli_print_json(m);
		goto out;
	}
	printf("Planned session %lld in room %lld (%s); it is %s, waiting for the others' "
	       "answers.\n",
	       (long long)id, (long long)room, a.online ? "online" : "face to face",
	       cli_str(m, "state", "?"));
	{
		json_t *slot;
		size_t i;

		json_array_foreach(json_object_get(m, "slots"), i, slot)
		{
			char when[TEXT_WHEN_LEN];

			text_local_when(cli_str(slot, "starts_at", NULL), when, sizeof(when));
			printf("  slot %lld: %s\n",
			       (long long)json_integer_value(json_object_get(slot, "id")), when);
		}
	}
	if (a.topic)
		mt_print_topic(m, "  ");
out:
	json_decref(slots);
	json_decref(res);
	json_decref(tres);
	return rc;
}

/* ---- meeting plan ---- */

static const char plan_usage[] =
    "Usage: ementor meeting plan ROOM\n"
    "\n"
    "The room's session plan: its initial, mid-term and final checkpoints and\n"
    "every further session, in date order, with their state, time and place,\n"
    "absences, late changes and attendance, and their topics decrypted and\n"
    "checked here (a topic whose signature does not check out is shown as\n"
    "UNVERIFIABLE). Members of the room only.\n"
    "\n"
    "Options:\n"
    "  --json   the plan, each topic as this device opened it\n";

int cmd_meeting_plan(struct cli *cli, int argc, char **argv)
{
	struct drive d;
	struct drive_end end = {0};
	json_t *m;
	int64_t room;
	size_t i, bad = 0;
	int rc, first, inited = 0;

	rc = cli_parse(cli, argc, argv, NULL, plan_usage, NULL, NULL, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_parse_id(argv[first], &room))
		return cli_usage_error(cli, "'%s' is not a room id", argv[first]);
	rc = drive_open(cli, &d, 1);
	inited = d.core != NULL;
	if (rc)
		goto out;
	rc = drive_run_ok(
	    &d, json_pack("{s:s, s:I}", "cmd", "meeting.plan", "room", (json_int_t)room), &end);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(end.result);
		goto out;
	}
	printf("Plan of room %lld (%zu meetings):\n", (long long)room,
	       json_array_size(json_object_get(end.result, "meetings")));
	json_array_foreach(json_object_get(end.result, "meetings"), i, m)
	{
		json_t *topic = json_object_get(m, "topic");

		mt_print(m);
		bad += json_is_object(topic) && !json_object_get(topic, "text");
	}
	if (bad)
		fprintf(stderr,
		        "\nWARNING: %zu topic%s above could not be verified or read on this "
		        "device.\n",
		        bad, bad == 1 ? "" : "s");
out:
	drive_end_clear(&end);
	if (inited)
		drive_close(&d);
	return rc;
}

/* ---- meeting topic ---- */

static const char topic_usage[] =
    "Usage: ementor meeting topic ROOM MEETING TEXT\n"
    "\n"
    "Set or change the topic of a meeting of the room (a session, or one of the\n"
    "three checkpoints): up to 1,000 bytes, end-to-end encrypted to the room's\n"
    "current key and signed by you. Every member sees the new text and who wrote\n"
    "it; the server only stores ciphertext. MEETING is an id from\n"
    "`ementor meeting plan ROOM`.\n";

int cmd_meeting_topic(struct cli *cli, int argc, char **argv)
{
	json_t *res = NULL;
	int64_t room, meeting;
	int rc, first;

	rc = cli_parse(cli, argc, argv, NULL, topic_usage, NULL, NULL, 3, 3, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_parse_id(argv[first], &room))
		return cli_usage_error(cli, "'%s' is not a room id", argv[first]);
	if (cli_parse_id(argv[first + 1], &meeting))
		return cli_usage_error(cli, "'%s' is not a meeting id", argv[first + 1]);
	if ((rc = mt_check_topic(cli, argv[first + 2])) != CLI_CONTINUE)
		return rc;
	rc = mt_topic_send(cli, room, meeting, argv[first + 2], &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(json_object_get(res, "meeting"));
		goto out;
	}
	printf("Topic of meeting %lld set.\n", (long long)meeting);
	mt_print_topic(json_object_get(res, "meeting"), "  ");
out:
	json_decref(res);
	return rc;
}
