/*
 * cmd_audit.c - the programme manager's audit (PROTOCOL.md section 8):
 * `audit` shows how each room of a programme is going, as a terminal table,
 * as CSV for a spreadsheet or as the server's JSON; `audit thresholds` shows
 * and changes when the flags are raised; `room access-log` lets a room's
 * members see who looked at their room's figures.
 *
 * DESIGN. The server computes every figure (it sees only the envelope of
 * messages, never their content); this file only lays them out. The table
 * has fixed column widths so that it stays readable at 100 columns: long
 * names are cut to their column, durations are written in human units
 * ("2h 05m") and a room's flags show as codes, with their details listed
 * under the table. The CSV has one row per member per room, the room's
 * figures repeated on each, so that a spreadsheet can filter and pivot
 * without joins; it follows RFC 4180 (CRLF, fields quoted when they hold a
 * quote, comma or line break) and a text field that a spreadsheet would take
 * for a formula gets a leading apostrophe. The request says which format
 * was shown, because the room's access trail records it.
 *
 * Thread: main only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "state.h"

#define AUDIT_WEEKS       12 /* weeks in the summary's trend */
#define AUDIT_DAYS_MAX    365
#define AUDIT_DURATION    32  /* "99999999d 23h" and more: room for any long long */
#define AUDIT_CELL        256 /* one table cell, in bytes */
#define AUDIT_FLAGS_WIDTH 11
#define AUDIT_WIDTH       100 /* terminal columns the table fits in */
/* Numbers from the server are shown and summed within ±10^12: a double beyond
 * what a long long holds must never be cast to one (undefined behaviour). */
#define AUDIT_NUM_MAX 1e12

/* The checkpoint kinds, in the order of the programme. */
static const char *const audit_kinds[] = {"initial", "midterm", "final"};
#define AUDIT_NKINDS (sizeof(audit_kinds) / sizeof(audit_kinds[0]))

/* ---- small helpers ---- */

/* A number member as a double; *present says whether it was a number. */
static double audit_num(json_t *obj, const char *key, int *present)
{
	json_t *v = json_object_get(obj, key);

	if (present)
		*present = json_is_number(v);
	return json_is_number(v) ? json_number_value(v) : 0;
}

/* A number member as a whole number within ±AUDIT_NUM_MAX; 0 when absent. */
static long long audit_whole(json_t *obj, const char *key)
{
	double v = audit_num(obj, key, NULL);

	return v > AUDIT_NUM_MAX    ? (long long)AUDIT_NUM_MAX
	       : v < -AUDIT_NUM_MAX ? -(long long)AUDIT_NUM_MAX
	                            : (long long)v;
}

/* A number member as text: integers plainly, others with one decimal; "" when null/absent. */
static const char *audit_num_text(json_t *obj, const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(obj, key);
	double r = json_real_value(v);
	int small = r > -AUDIT_NUM_MAX && r < AUDIT_NUM_MAX;

	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v) && small && r == (double)(long long)r)
		snprintf(buf, len, "%lld", (long long)r);
	else if (json_is_real(v))
		snprintf(buf, len, small ? "%.1f" : "%.3g", r);
	else
		buf[0] = '\0';
	return buf;
}

/* Seconds in human units: "42s", "12m 05s", "2h 05m", "3d 04h"; "-" when absent. */
static const char *audit_duration(json_t *obj, const char *key, char *buf, size_t len)
{
	int present;
	double v = audit_num(obj, key, &present);
	long long s = v > AUDIT_NUM_MAX    ? (long long)AUDIT_NUM_MAX
	              : v < -AUDIT_NUM_MAX ? -(long long)AUDIT_NUM_MAX
	                                   : (long long)(v + 0.5);

	if (!present)
		snprintf(buf, len, "-");
	else if (s < 60)
		snprintf(buf, len, "%llds", s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm %02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lldh %02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%lldd %02lldh", s / 86400, s % 86400 / 3600);
	return buf;
}

/* s without its first `skip` bytes ("2026-12-03" -> "12-03"), or s when it is shorter. */
static const char *audit_skip(const char *s, size_t skip)
{
	return strlen(s) > skip ? s + skip : s;
}

/* Characters (not bytes) of UTF-8 text. */
static size_t audit_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/*
 * Prints `text` in a column of `width` characters: cut with "…" when longer,
 * padded with spaces when shorter (not after the last column: `pad` 0).
 */
static void audit_cell(const char *text, size_t width, int pad)
{
	size_t chars = audit_chars(text), n = 0;
	const char *p = text;

	if (chars <= width) {
		fputs(text, stdout);
		n = chars;
	} else {
		/* keep width - 1 characters, then the ellipsis */
		for (; *p; p++) {
			if (((unsigned char)*p & 0xc0) != 0x80 && n == width - 1)
				break;
			if (((unsigned char)*p & 0xc0) != 0x80)
				n++;
			fputc(*p, stdout);
		}
		fputs("\xe2\x80\xa6", stdout);
		n++;
	}
	while (pad && n++ < width)
		fputc(' ', stdout);
}

/* A right-aligned number column. */
static void audit_cell_right(const char *text, size_t width)
{
	printf("%*s", (int)width, text);
}

/* "12 Name" of a room, or "12" for an unnamed one. */
static const char *audit_room_label(json_t *room, char *buf, size_t len)
{
	const char *name = cli_str(room, "name", NULL);

	snprintf(buf, len, "%lld%s%s",
	         (long long)json_integer_value(json_object_get(room, "room_id")), name ? " " : "",
	         name ? name : "");
	return buf;
}

/* The checkpoint of a kind in a room report, or NULL. */
static json_t *audit_checkpoint(json_t *room, const char *kind)
{
	json_t *cp;
	size_t i;

	json_array_foreach(json_object_get(room, "checkpoints"), i, cp)
	{
		if (!strcmp(cli_str(cp, "kind", ""), kind))
			return cp;
	}
	return NULL;
}

/*
 * A room's agreement in words. Short (the table's column): "none", "v1 signed",
 * "v2: 2 to sign" (a version waits for signatures; the one in force, if any,
 * still holds), "v1: 1 withdrew". Long (--room): "version 1 in force, signed by
 * all; version 2 proposed, 2 parties still to sign; 1 party withdrew".
 */
static const char *audit_agreement_words(json_t *room, int long_form, char *buf, size_t len)
{
	json_t *ag = json_object_get(room, "agreement"), *p;
	json_t *active = json_object_get(ag, "active_version");
	json_t *latest = json_object_get(ag, "latest_version");
	long long a = json_is_integer(active) ? (long long)json_integer_value(active) : 0;
	long long l = json_is_integer(latest) ? (long long)json_integer_value(latest) : 0;
	int unsigned_n = 0, withdrawn_n = 0;
	size_t i, n;

	if (!l) {
		snprintf(buf, len, long_form ? "no agreement yet" : "none");
		return buf;
	}
	json_array_foreach(json_object_get(ag, "parties"), i, p)
	{
		if (json_is_string(json_object_get(p, "withdrawn_at")))
			withdrawn_n++;
		else if (!json_is_true(json_object_get(p, "signed")))
			unsigned_n++;
	}
	if (!long_form) {
		if (a == l && !unsigned_n)
			n = (size_t)snprintf(buf, len, "v%lld signed", a);
		else
			n = (size_t)snprintf(buf, len, "v%lld: %d to sign", l, unsigned_n);
		if (withdrawn_n && n < len)
			snprintf(buf + n, len - n, ", %d withdrew", withdrawn_n);
		return buf;
	}
	if (a)
		n = (size_t)snprintf(buf, len, "version %lld in force%s", a,
		                     a == l && !unsigned_n ? ", signed by all" : "");
	else
		n = (size_t)snprintf(buf, len, "none in force yet");
	if (a != l && n < len)
		n += (size_t)snprintf(buf + n, len - n, "; version %lld %s, %d %s still to sign", l,
		                      a ? "proposed" : "waits", unsigned_n,
		                      unsigned_n == 1 ? "party" : "parties");
	else if (unsigned_n && n < len)
		n += (size_t)snprintf(buf + n, len - n, "; %d %s still to sign", unsigned_n,
		                      unsigned_n == 1 ? "party" : "parties");
	if (withdrawn_n && n < len)
		snprintf(buf + n, len - n, "; %d %s withdrew", withdrawn_n,
		         withdrawn_n == 1 ? "party" : "parties");
	return buf;
}

/* A checkpoint state in four letters, for the table. */
static const char *audit_state_short(const char *state)
{
	if (!strcmp(state, "confirmed"))
		return "conf";
	if (!strcmp(state, "cancelled"))
		return "canc";
	if (!strcmp(state, "missed"))
		return "miss";
	return state;
}

/* "held/open/open" (initial/midterm/final), or with `long_form` "initial held, midterm open, ...".
 */
static const char *audit_checkpoints_text(json_t *room, int long_form, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t k = 0; k < AUDIT_NKINDS; k++) {
		json_t *cp = audit_checkpoint(room, audit_kinds[k]);
		const char *state = cp ? cli_str(cp, "state", "?") : "-";
		size_t used = strlen(buf);

		if (long_form)
			snprintf(buf + used, len - used, "%s%s %s", k ? ", " : "", audit_kinds[k],
			         state);
		else
			snprintf(buf + used, len - used, "%s%s", k ? "/" : "",
			         audit_state_short(state));
	}
	return buf;
}

/* The room's flag codes joined with `sep`, each once (the server sorts flags by code). */
static const char *audit_flag_codes(json_t *room, const char *sep, char *buf, size_t len)
{
	const char *prev = NULL;
	json_t *f;
	size_t i;

	buf[0] = '\0';
	json_array_foreach(json_object_get(room, "flags"), i, f)
	{
		const char *code = cli_str(f, "code", "?");
		size_t used = strlen(buf);

		if (prev && !strcmp(prev, code))
			continue;
		prev = code;
		snprintf(buf + used, len - used, "%s%s", used ? sep : "", code);
	}
	return buf;
}

/* The flags column: the first code, then "+N" for the others. */
static const char *audit_flags_short(json_t *room, char *buf, size_t len)
{
	char codes[AUDIT_CELL];
	char *comma;
	int more = 0;

	audit_flag_codes(room, ",", codes, sizeof(codes));
	if (!codes[0]) {
		snprintf(buf, len, "-");
		return buf;
	}
	comma = strchr(codes, ',');
	for (const char *p = codes; (p = strchr(p, ',')); p++)
		more++;
	if (comma)
		*comma = '\0';
	if (more)
		snprintf(buf, len, "%.*s +%d", AUDIT_FLAGS_WIDTH - 3, codes, more);
	else
		snprintf(buf, len, "%s", codes);
	return buf;
}

/* ---- the table ---- */

/* Whole days since the epoch of "YYYY-MM-DD..." (UTC); -1 when unreadable. */
static long audit_epoch_day(const char *text)
{
	struct tm tm;
	int y, m, d;

	if (!text || sscanf(text, "%4d-%2d-%2d", &y, &m, &d) != 3)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	return (long)(timegm(&tm) / 86400);
}

/* "YYYY-MM-DD" of an epoch day. */
static void audit_day_text(long day, char *buf, size_t len)
{
	time_t t = (time_t)day * 86400;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d", &tm))
		snprintf(buf, len, "?");
}

/*
 * The weekly trend: the last AUDIT_WEEKS weeks up to the report's `now`,
 * oldest first, with weeks the server did not list (nothing sent) as 0.
 */
static void audit_print_weeks(json_t *summary, const char *now)
{
	json_t *weeks = json_object_get(summary, "weeks"), *w;
	long today = audit_epoch_day(now), monday;
	long messages[AUDIT_WEEKS] = {0}, active[AUDIT_WEEKS] = {0};
	char day[16];
	size_t i;

	if (today < 0)
		return;
	/* 1970-01-01 was a Thursday: Monday is 0 in (day + 3) % 7 */
	monday = today - (today + 3) % 7;
	json_array_foreach(weeks, i, w)
	{
		long d = audit_epoch_day(cli_str(w, "week", NULL)), ago;

		if (d < 0 || d > monday || (monday - d) % 7)
			continue;
		ago = (monday - d) / 7;
		if (ago < AUDIT_WEEKS) {
			messages[AUDIT_WEEKS - 1 - ago] += (long)audit_whole(w, "messages");
			active[AUDIT_WEEKS - 1 - ago] += (long)audit_whole(w, "active_rooms");
		}
	}
	printf("  Last %d weeks (UTC weeks, starting Monday):\n", AUDIT_WEEKS);
	printf("    %-13s", "week of");
	for (i = 0; i < AUDIT_WEEKS; i++) {
		audit_day_text(monday - 7 * (long)(AUDIT_WEEKS - 1 - i), day, sizeof(day));
		printf(" %5s", audit_skip(day, 5)); /* MM-DD */
	}
	printf("\n    %-13s", "messages");
	for (i = 0; i < AUDIT_WEEKS; i++)
		printf(" %5ld", messages[i]);
	printf("\n    %-13s", "active rooms");
	for (i = 0; i < AUDIT_WEEKS; i++)
		printf(" %5ld", active[i]);
	printf("\n");
}

/* The share 0-1 as a percentage, or "-". */
static const char *audit_percent(json_t *obj, const char *key, char *buf, size_t len)
{
	int present;
	double v = audit_num(obj, key, &present);

	if (present)
		snprintf(buf, len, "%.0f%%", v * 100);
	else
		snprintf(buf, len, "-");
	return buf;
}

static void audit_print_summary(json_t *report)
{
	json_t *prog = json_object_get(report, "programme");
	json_t *sum = json_object_get(report, "summary");
	json_t *th = json_object_get(prog, "thresholds"), *n;
	char now[TEXT_WHEN_LEN], a[32], b[32], c[32], dur[AUDIT_DURATION];
	const char *code;
	int any = 0, col;

	text_local_when(cli_str(report, "now", NULL), now, sizeof(now));
	printf("Programme %lld \"%s\", %s to %s\n",
	       (long long)json_integer_value(json_object_get(prog, "id")),
	       cli_str(prog, "name", "?"), cli_str(prog, "starts_on", "?"),
	       cli_str(prog, "ends_on", "?"));
	printf("  Report at:     %s%s\n", now,
	       json_is_integer(json_object_get(report, "room_id")) ? " (one room)" : "");
	printf("  Rooms:         %s, %s active (%s)\n", audit_num_text(sum, "rooms", a, sizeof(a)),
	       audit_num_text(sum, "active_rooms", b, sizeof(b)),
	       audit_percent(sum, "active_share", c, sizeof(c)));
	printf("  Messages:      %s\n", audit_num_text(sum, "messages", a, sizeof(a)));
	printf("  Checkpoints:   %s held of %s; completion %s (of those due)\n",
	       audit_num_text(sum, "checkpoints_held", a, sizeof(a)),
	       audit_num_text(sum, "checkpoints", b, sizeof(b)),
	       audit_percent(sum, "checkpoint_completion", c, sizeof(c)));
	printf("  Response time: median %s\n",
	       audit_duration(sum, "median_response_s", dur, sizeof(dur)));
	if (audit_whole(sum, "reports_open") > 0)
		printf("  Reports:       %lld concern report(s) open (`ementor report list`)\n",
		       (long long)audit_whole(sum, "reports_open"));
	if (audit_whole(sum, "erased_members") > 0)
		printf(
		    "  Erased:        %lld member(s) erased their accounts (counted, not listed)\n",
		    (long long)audit_whole(sum, "erased_members"));
	printf("  Flags (rooms): ");
	col = 17;
	json_object_foreach(json_object_get(sum, "flags"), code, n)
	{
		char item[AUDIT_CELL];
		int len = snprintf(item, sizeof(item), "%s%s %lld", any ? ", " : "", code,
		                   (long long)json_integer_value(n));

		if (any && col + len > AUDIT_WIDTH) {
			printf(",\n%17s", "");
			col = 17;
			memmove(item, item + 2, strlen(item + 2) + 1);
			len -= 2;
		}
		fputs(item, stdout);
		col += len;
		any = 1;
	}
	printf("%s\n", any ? "" : "none");
	printf("  Thresholds:    inactive after %s days, agreement unsigned %s days after the "
	       "initial window,\n                 never logged in after %s days\n",
	       audit_num_text(th, "inactive_days", a, sizeof(a)),
	       audit_num_text(th, "unsigned_days", b, sizeof(b)),
	       audit_num_text(th, "never_logged_in_days", c, sizeof(c)));
	audit_print_weeks(sum, cli_str(report, "now", NULL));
}

/* Column widths of the rooms table; with single spaces between, at most 100 columns. */
enum {
	W_ROOM = 16,
	W_MSGS = 5,
	W_LAST = 10,
	W_RESP = 7,
	W_AGREE = 15,
	W_CPS = 14,
};

static void audit_print_room_head(void)
{
	audit_cell("ROOM", W_ROOM, 1);
	printf(" ");
	audit_cell_right("MSGS", W_MSGS);
	printf(" ");
	audit_cell("LAST", W_LAST, 1);
	printf(" ");
	audit_cell("MENTOR", W_RESP, 1);
	printf(" ");
	audit_cell("MENTEE", W_RESP, 1);
	printf(" ");
	audit_cell("READ", W_RESP, 1);
	printf(" ");
	audit_cell("AGREEMENT", W_AGREE, 1);
	printf(" ");
	audit_cell("CHECKPOINTS", W_CPS, 1);
	printf(" FLAGS\n");
}

/* One line: the room's figures. */
static void audit_print_room_line(json_t *room)
{
	json_t *resp = json_object_get(room, "response");
	char label[AUDIT_CELL], msgs[32], last[AUDIT_CELL], when[32], days[32];
	char mentor[AUDIT_DURATION], mentee[AUDIT_DURATION], read[AUDIT_DURATION];
	char agree[AUDIT_CELL], cps[AUDIT_CELL], flags[AUDIT_CELL];

	text_local_time(cli_str(room, "last_activity", NULL), when, sizeof(when));
	/* "MM-DD HH:MM" of "YYYY-MM-DD HH:MM", or what there is (a missing time is "?") */
	snprintf(last, sizeof(last), "%.5s %sd", audit_skip(when, 5),
	         audit_num_text(room, "days_inactive", days, sizeof(days)));
	audit_cell(audit_room_label(room, label, sizeof(label)), W_ROOM, 1);
	printf(" ");
	audit_cell_right(audit_num_text(room, "messages", msgs, sizeof(msgs)), W_MSGS);
	printf(" ");
	audit_cell(last, W_LAST, 1);
	printf(" ");
	audit_cell(
	    audit_duration(json_object_get(resp, "mentor"), "median_s", mentor, sizeof(mentor)),
	    W_RESP, 1);
	printf(" ");
	audit_cell(
	    audit_duration(json_object_get(resp, "mentee"), "median_s", mentee, sizeof(mentee)),
	    W_RESP, 1);
	printf(" ");
	audit_cell(audit_duration(room, "read_median_s", read, sizeof(read)), W_RESP, 1);
	printf(" ");
	audit_cell(audit_agreement_words(room, 0, agree, sizeof(agree)), W_AGREE, 1);
	printf(" ");
	audit_cell(audit_checkpoints_text(room, 0, cps, sizeof(cps)), W_CPS, 1);
	printf(" ");
	audit_cell(audit_flags_short(room, flags, sizeof(flags)), AUDIT_FLAGS_WIDTH, 0);
	printf("\n");
}

/* With --room: one line per member, in fixed columns (names cut) within 100 columns. */
static void audit_print_members(json_t *room)
{
	static const char *const head[] = {"MEMBER",    "ROLE", "MSGS",       "LAST WK",  "PER WK",
	                                   "LAST SENT", "IDLE", "LAST LOGIN", "AGREEMENT"};
	static const size_t width[] = {14, 6, 5, 7, 6, 16, 5, 16, 11};
	json_t *m;
	size_t i, k;

	printf("    ");
	for (k = 0; k < 9; k++) {
		audit_cell(head[k], width[k], k < 8);
		printf("%s", k < 8 ? " " : "\n");
	}
	json_array_foreach(json_object_get(room, "members"), i, m)
	{
		char msgs[32], week[32], per[32], sent[32], days[32], idle[40], login[32];
		const char *row[] = {cli_str(m, "username", "?"),
		                     cli_str(m, "role", "-"),
		                     msgs,
		                     week,
		                     per,
		                     sent,
		                     idle,
		                     login,
		                     cli_str(m, "agreement", "not a party")};

		audit_num_text(m, "messages", msgs, sizeof(msgs));
		audit_num_text(m, "messages_last_week", week, sizeof(week));
		snprintf(per, sizeof(per), "%.1f", audit_num(m, "messages_per_week", NULL));
		if (json_is_string(json_object_get(m, "last_sent_at")))
			text_local_time(cli_str(m, "last_sent_at", NULL), sent, sizeof(sent));
		else
			snprintf(sent, sizeof(sent), "never");
		snprintf(idle, sizeof(idle), "%sd",
		         audit_num_text(m, "days_inactive", days, sizeof(days)));
		if (json_is_true(json_object_get(m, "never_logged_in")))
			snprintf(login, sizeof(login), "never");
		else
			text_local_time(cli_str(m, "last_login_at", NULL), login, sizeof(login));
		printf("    ");
		for (k = 0; k < 9; k++) {
			audit_cell(row[k], width[k], k < 8);
			printf("%s", k < 8 ? " " : "\n");
		}
	}
}

/* With --room: the meetings each member attended or missed, and the erased members. */
static void audit_print_attendance(json_t *room)
{
	json_t *m;
	size_t i;

	printf("  Meetings (ATTENDED / ABSENT):");
	json_array_foreach(json_object_get(room, "members"), i, m)
	{
		printf("%s %s %lld / %lld", i ? "," : "", cli_str(m, "username", "?"),
		       (long long)audit_whole(m, "attended"), (long long)audit_whole(m, "absent"));
	}
	printf("%s\n", json_array_size(json_object_get(room, "members")) ? "" : " no members");
	if (audit_whole(room, "erased_members") > 0)
		printf("  Erased:      %lld member(s) erased their accounts (no longer listed)\n",
		       (long long)audit_whole(room, "erased_members"));
}

/* With --room: the checkpoints in words. */
static void audit_print_room_detail(json_t *room)
{
	char cps[AUDIT_CELL], agree[AUDIT_CELL];

	printf("\n  Checkpoints: %s\n", audit_checkpoints_text(room, 1, cps, sizeof(cps)));
	printf("  Agreement:   %s\n", audit_agreement_words(room, 1, agree, sizeof(agree)));
	printf("  Members:\n");
	audit_print_members(room);
	audit_print_attendance(room);
}

/* Every flag with its detail, under the table. */
static void audit_print_flag_details(json_t *rooms)
{
	json_t *room, *f;
	size_t i, j;
	int any = 0;

	json_array_foreach(rooms, i, room)
	{
		char label[AUDIT_CELL], line[AUDIT_CELL * 2];

		json_array_foreach(json_object_get(room, "flags"), j, f)
		{
			if (!any)
				printf("\nFlags:\n");
			any = 1;
			snprintf(line, sizeof(line), "%s: %s", cli_str(f, "code", "?"),
			         cli_str(f, "detail", ""));
			printf("  ");
			audit_cell(audit_room_label(room, label, sizeof(label)), W_ROOM, 1);
			printf(" ");
			audit_cell(line, AUDIT_WIDTH - 3 - W_ROOM, 0);
			printf("\n");
		}
	}
}

static void audit_print_table(json_t *report, int one_room)
{
	json_t *rooms = json_object_get(report, "rooms"), *room;
	size_t i;

	audit_print_summary(report);
	printf("\n");
	if (!json_array_size(rooms)) {
		printf("No rooms.\n");
		return;
	}
	audit_print_room_head();
	json_array_foreach(rooms, i, room)
	{
		audit_print_room_line(room);
		if (one_room)
			audit_print_room_detail(room);
	}
	if (!one_room)
		printf(
		    "\nLAST: last message (or creation) and days since; MENTOR, MENTEE: median "
		    "response;\nREAD: median time until read; CHECKPOINTS: initial/midterm/final "
		    "(conf = confirmed,\nmiss = missed, canc = cancelled).\n");
	audit_print_flag_details(rooms);
}

/* ---- CSV ---- */

/* One RFC 4180 field; `text` marks a free-text field that must not start a formula. */
static void audit_csv_field(const char *v, int text, int last)
{
	int quote = strpbrk(v, "\",\r\n") != NULL;
	int guard = text && *v && strchr("=+-@\t\r", *v);

	if (quote)
		fputc('"', stdout);
	if (guard)
		fputc('\'', stdout);
	for (; *v; v++) {
		if (*v == '"')
			fputc('"', stdout);
		fputc(*v, stdout);
	}
	if (quote)
		fputc('"', stdout);
	fputs(last ? "\r\n" : ",", stdout);
}

static const char *const audit_csv_head[] = {
    "room_id",
    "room",
    "kind",
    "user",
    "role",
    "messages",
    "messages_last_week",
    "messages_per_week",
    "last_sent_at",
    "days_inactive",
    "never_logged_in",
    "agreement",
    "room_messages",
    "room_days_inactive",
    "mentor_median_s",
    "mentor_p90_s",
    "mentee_median_s",
    "mentee_p90_s",
    "read_median_s",
    "initial",
    "midterm",
    "final",
    "late_changes",
    "flags",
    "attended",
    "absent",
};
#define AUDIT_CSV_COLS (sizeof(audit_csv_head) / sizeof(audit_csv_head[0]))

static void audit_print_csv(json_t *report)
{
	json_t *room, *m, *cp;
	size_t i, j, k;

	for (i = 0; i < AUDIT_CSV_COLS; i++)
		audit_csv_field(audit_csv_head[i], 0, i + 1 == AUDIT_CSV_COLS);
	json_array_foreach(json_object_get(report, "rooms"), i, room)
	{
		json_t *resp = json_object_get(room, "response");
		json_t *mentor = json_object_get(resp, "mentor"),
		       *mentee = json_object_get(resp, "mentee");
		char room_id[32], room_msgs[32], room_days[32], mmed[32], mp90[32], emed[32],
		    ep90[32], rmed[32], late[32], flags[AUDIT_CELL];
		long long late_changes = 0;

		audit_num_text(room, "room_id", room_id, sizeof(room_id));
		audit_num_text(room, "messages", room_msgs, sizeof(room_msgs));
		audit_num_text(room, "days_inactive", room_days, sizeof(room_days));
		audit_num_text(mentor, "median_s", mmed, sizeof(mmed));
		audit_num_text(mentor, "p90_s", mp90, sizeof(mp90));
		audit_num_text(mentee, "median_s", emed, sizeof(emed));
		audit_num_text(mentee, "p90_s", ep90, sizeof(ep90));
		audit_num_text(room, "read_median_s", rmed, sizeof(rmed));
		json_array_foreach(json_object_get(room, "checkpoints"), k, cp)
		{
			late_changes += audit_whole(cp, "late_changes");
		}
		snprintf(late, sizeof(late), "%lld", late_changes);
		audit_flag_codes(room, ";", flags, sizeof(flags));
		json_array_foreach(json_object_get(room, "members"), j, m)
		{
			char msgs[32], week[32], per[32], days[32], att[32], abs[32];
			json_t *ag = json_object_get(m, "agreement");

			audit_csv_field(room_id, 0, 0);
			audit_csv_field(cli_str(room, "name", ""), 1, 0);
			audit_csv_field(cli_str(room, "kind", ""), 0, 0);
			audit_csv_field(cli_str(m, "username", ""), 1, 0);
			audit_csv_field(cli_str(m, "role", ""), 0, 0);
			audit_csv_field(audit_num_text(m, "messages", msgs, sizeof(msgs)), 0, 0);
			audit_csv_field(audit_num_text(m, "messages_last_week", week, sizeof(week)),
			                0, 0);
			audit_csv_field(audit_num_text(m, "messages_per_week", per, sizeof(per)), 0,
			                0);
			audit_csv_field(cli_str(m, "last_sent_at", ""), 0, 0);
			audit_csv_field(audit_num_text(m, "days_inactive", days, sizeof(days)), 0,
			                0);
			audit_csv_field(
			    json_is_true(json_object_get(m, "never_logged_in")) ? "true" : "false",
			    0, 0);
			audit_csv_field(json_is_string(ag) ? json_string_value(ag) : "", 0, 0);
			audit_csv_field(room_msgs, 0, 0);
			audit_csv_field(room_days, 0, 0);
			audit_csv_field(mmed, 0, 0);
			audit_csv_field(mp90, 0, 0);
			audit_csv_field(emed, 0, 0);
			audit_csv_field(ep90, 0, 0);
			audit_csv_field(rmed, 0, 0);
			for (k = 0; k < AUDIT_NKINDS; k++) {
				json_t *c = audit_checkpoint(room, audit_kinds[k]);

				audit_csv_field(c ? cli_str(c, "state", "") : "", 0, 0);
			}
			audit_csv_field(late, 0, 0);
			audit_csv_field(flags, 0, 0);
			audit_csv_field(audit_num_text(m, "attended", att, sizeof(att)), 0, 0);
			audit_csv_field(audit_num_text(m, "absent", abs, sizeof(abs)), 0, 1);
		}
	}
}

/* ---- audit ---- */

static const char audit_usage[] =
    "Usage: ementor audit [--programme ID] [--room ID] [--csv | --json]\n"
    "       ementor audit thresholds --programme ID [--inactive-days N]\n"
    "                     [--unsigned-days N] [--never-logged-in-days N]\n"
    "\n"
    "How each room of a programme you manage is going, without reading anything:\n"
    "messages per member and week, response and read times, agreements,\n"
    "checkpoints and flags, all computed by the server from the envelope of\n"
    "messages. Every report is recorded: the members of a room can see who\n"
    "looked at its figures (`ementor room access-log ROOM`).\n"
    "\n"
    "Options:\n"
    "  --programme ID  the programme (needed when you manage several)\n"
    "  --room ID       only this room, with one line per member\n"
    "  --csv           one row per member per room (RFC 4180), for a spreadsheet\n"
    "  --json          the server's report as it is\n";

struct audit_args {
	const char *programme;
	const char *room;
	int csv;
	const char *inactive;
	const char *unsigned_days;
	const char *never;
};

static int audit_option(void *ctx, int opt, const char *arg)
{
	struct audit_args *a = ctx;

	switch (opt) {
	case 'p':
		a->programme = arg;
		break;
	case 'r':
		a->room = arg;
		break;
	case 'c':
		a->csv = 1;
		break;
	case 'i':
		a->inactive = arg;
		break;
	case 'u':
		a->unsigned_days = arg;
		break;
	case 'n':
		a->never = arg;
		break;
	default:
		break;
	}
	return CLI_CONTINUE;
}

/*
 * audit.report, every page: the server sends at most 200 rooms per answer
 * (rooms_total says how many there are); the pages' rooms are appended to
 * the first answer's. Takes args. Returns an exit code.
 */
static int audit_report_all(struct cli *cli, json_t *args, json_t **res)
{
	struct home_session s;
	struct conn *c = NULL;
	json_t *page = NULL;
	size_t have;
	int rc;

	memset(&s, 0, sizeof(s));
	*res = NULL;
	if (!args)
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	rc = cli_session_open(cli, &s, &c);
	if (rc) {
		json_decref(args);
		goto out;
	}
	rc = cli_call(cli, c, EM_OP_AUDIT_REPORT, json_incref(args), res);
	while (!rc && (have = json_array_size(json_object_get(*res, "rooms"))) <
	                  (size_t)json_integer_value(json_object_get(*res, "rooms_total"))) {
		json_object_set_new(args, "offset", json_integer((json_int_t)have));
		rc = cli_call(cli, c, EM_OP_AUDIT_REPORT, json_incref(args), &page);
		if (rc)
			break;
		if (!json_array_size(json_object_get(page, "rooms"))) {
			json_decref(page);
			break; /* rooms went away meanwhile */
		}
		json_array_extend(json_object_get(*res, "rooms"), json_object_get(page, "rooms"));
		json_decref(page);
		page = NULL;
	}
	json_decref(args);
out:
	conn_free(c);
	home_session_wipe(&s);
	return rc;
}

int cmd_audit(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"programme", required_argument, NULL, 'p'},
	    {"room", required_argument, NULL, 'r'},
	    {"csv", no_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	struct audit_args a;
	json_t *args = NULL, *res = NULL;
	int64_t programme = 0, room = 0;
	const char *format;
	int rc, first;

	memset(&a, 0, sizeof(a));
	rc = cli_parse(cli, argc, argv, opts, audit_usage, audit_option, &a, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (a.programme && (rc = cli_programme_ref(cli, a.programme, &programme)) != CLI_CONTINUE)
		return rc;
	if (a.room && (rc = cli_room_ref(cli, a.room, &room)) != CLI_CONTINUE)
		return rc;
	if (a.csv && cli->json)
		return cli_usage_error(cli, "--csv and --json do not go together");
	format = a.csv ? "csv" : cli->json ? "json" : "table";
	args = json_pack("{s:s}", "format", format);
	if (args && programme)
		json_object_set_new(args, "programme_id", json_integer(programme));
	if (args && room)
		json_object_set_new(args, "room_id", json_integer(room));
	rc = audit_report_all(cli, args, &res);
	if (rc)
		goto out;
	if (cli->json)
		cli_print_json(res);
	else if (a.csv)
		audit_print_csv(res);
	else
		audit_print_table(res, room != 0);
out:
	json_decref(res);
	return rc;
}

/* ---- audit thresholds ---- */

static const char thresholds_usage[] =
    "Usage: ementor audit thresholds --programme ID [--inactive-days N]\n"
    "                                [--unsigned-days N] [--never-logged-in-days N]\n"
    "\n"
    "Show when the audit raises its flags for a programme you manage; the options\n"
    "change them (the others stay).\n"
    "\n"
    "Options:\n"
    "  --programme ID             the programme\n"
    "  --inactive-days N          `inactive` after N days without a message (1 to 365)\n"
    "  --unsigned-days N          `agreement_unsigned` N days after the initial\n"
    "                             meeting's window closed (0 to 365)\n"
    "  --never-logged-in-days N   `never_logged_in` N days after registering (0 to 365)\n";

/* Adds a day count to args when given. Returns CLI_CONTINUE or an exit code. */
static int thresholds_day(struct cli *cli, json_t *args, const char *option, const char *key,
                          const char *value, int64_t min)
{
	char *end = NULL;
	long long v;

	if (!value)
		return CLI_CONTINUE;
	v = strtoll(value, &end, 10);
	if (!*value || *end || v < min || v > AUDIT_DAYS_MAX)
		return cli_usage_error(cli, "%s must be a number from %lld to %d", option,
		                       (long long)min, AUDIT_DAYS_MAX);
	if (json_object_set_new(args, key, json_integer(v)) != 0)
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	return CLI_CONTINUE;
}

int cmd_audit_thresholds(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"programme", required_argument, NULL, 'p'},
	    {"inactive-days", required_argument, NULL, 'i'},
	    {"unsigned-days", required_argument, NULL, 'u'},
	    {"never-logged-in-days", required_argument, NULL, 'n'},
	    {NULL, 0, NULL, 0},
	};
	struct audit_args a;
	json_t *args = NULL, *res = NULL, *th;
	int64_t programme;
	int rc, first;

	memset(&a, 0, sizeof(a));
	rc = cli_parse(cli, argc, argv, opts, thresholds_usage, audit_option, &a, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (!a.programme)
		return cli_usage_error(cli, "--programme is required");
	if ((rc = cli_programme_ref(cli, a.programme, &programme)) != CLI_CONTINUE)
		return rc;
	args = json_pack("{s:I}", "programme_id", (json_int_t)programme);
	if (!args)
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	if ((rc = thresholds_day(cli, args, "--inactive-days", "inactive_days", a.inactive, 1)) !=
	        CLI_CONTINUE ||
	    (rc = thresholds_day(cli, args, "--unsigned-days", "unsigned_days", a.unsigned_days,
	                         0)) != CLI_CONTINUE ||
	    (rc = thresholds_day(cli, args, "--never-logged-in-days", "never_logged_in_days",
	                         a.never, 0)) != CLI_CONTINUE) {
		json_decref(args);
		return rc;
	}
	rc = cli_request(cli, EM_OP_AUDIT_THRESHOLDS, args, &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	th = json_object_get(res, "thresholds");
	printf("Thresholds of programme %lld:\n",
	       (long long)json_integer_value(json_object_get(res, "programme_id")));
	printf("  inactive:            after %lld days without a message\n",
	       (long long)json_integer_value(json_object_get(th, "inactive_days")));
	printf("  agreement_unsigned:  %lld days after the initial meeting's window closed\n",
	       (long long)json_integer_value(json_object_get(th, "unsigned_days")));
	printf("  never_logged_in:     %lld days after registering\n",
	       (long long)json_integer_value(json_object_get(th, "never_logged_in_days")));
out:
	json_decref(res);
	return rc;
}

/* ---- room access-log ---- */

static const char access_log_usage[] =
    "Usage: ementor room access-log ROOM\n"
    "\n"
    "Who looked at the figures of a room you are in (or manage), and when: each\n"
    "audit report that included the room, newest first (at most 500), in your\n"
    "time zone. SCOPE is programme (the whole programme's report) or room.\n";

int cmd_room_access_log(struct cli *cli, int argc, char **argv)
{
	static const char *const head[] = {"WHEN", "VIEWER", "SCOPE", "FORMAT"};
	json_t *args = NULL, *res = NULL, *views, *v;
	struct cli_table t;
	int64_t room;
	size_t i;
	int rc, first;

	cli_table_init(&t, 4, head);
	rc = cli_parse(cli, argc, argv, NULL, access_log_usage, NULL, NULL, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if ((rc = cli_room_ref(cli, argv[first], &room)) != CLI_CONTINUE)
		return rc;
	args = json_pack("{s:I}", "room_id", (json_int_t)room);
	if (!args)
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	rc = cli_request(cli, EM_OP_ROOM_ACCESS_LOG, args, &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	views = json_object_get(res, "views");
	if (!json_array_size(views)) {
		printf("Nobody has looked at the figures of room %lld.\n", (long long)room);
		goto out;
	}
	json_array_foreach(views, i, v)
	{
		char when[TEXT_WHEN_LEN];
		const char *row[] = {when, cli_str(v, "viewer", "?"), cli_str(v, "scope", "-"),
		                     cli_str(v, "format", "-")};

		text_local_when(cli_str(v, "at", NULL), when, sizeof(when));
		if (cli_table_add(&t, row)) {
			rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
			goto out;
		}
	}
	printf("Who looked at the figures of room %lld (newest first):\n\n", (long long)room);
	cli_table_print(&t, stdout, "");
out:
	cli_table_free(&t);
	json_decref(res);
	return rc;
}
