/*
 * fuzz_ical.c - libFuzzer target for the iCalendar writer (server/ical.c).
 * Its inputs are room names, places and usernames typed by users, and
 * times and numbers from the database, and its output goes to any calendar
 * program that holds the feed URL, so whatever goes in, what comes out must
 * be a valid RFC 5545 document. The input bytes become a calendar name, a
 * UID domain and up to four events (fuzz.h's reader); the document written
 * is then checked, not only for crashes:
 *   - valid UTF-8; every line ends with CRLF and there is no other CR or LF;
 *   - physical lines of at most 75 octets, each valid UTF-8 on its own (a
 *     fold never splits a character), continuations start with one space;
 *   - unfolded, the lines are NAME:VALUE in the order of a VCALENDAR with one
 *     VEVENT per event, each with one UID, DTSTAMP, DTSTART, at most one
 *     DTEND later than DTSTART, SEQUENCE >= 0 and STATUS, if any, one of
 *     RFC 5545's;
 *   - date-times are YYYYMMDDTHHMMSSZ of a real instant, and DTSTART is the
 *     event's start when that start has a four-digit year;
 *   - TEXT values have no control characters and no unescaped ; , or \, and
 *     unescaped they give back the input without its control characters and
 *     invalid UTF-8, whole, or cut at a character when it is long.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "ical.h"

#define TARGET     "fuzz_ical"
#define MAX_EVENTS 4
#define TEXT_MAX   1500             /* beyond the writer's 1 KiB per value, to reach its cut */
#define YEAR1_S    (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define YEAR9999_S 253402300799LL   /* 9999-12-31T23:59:59Z */

static void check(int ok, const char *what)
{
	fuzz_check(ok, TARGET, what);
}

/* Length of the valid UTF-8 character at s[0..n) (RFC 3629), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static int utf8_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t c = utf8_len((const unsigned char *)s + i, n - i);

		if (!c)
			return 0;
		i += c;
	}
	return 1;
}

/*
 * What a TEXT value must read back as: the input without control
 * characters (a newline stays) and without bytes that are not UTF-8.
 * Written to out (malloc'd, the caller frees).
 */
static char *expected_text(const char *in)
{
	size_t n = strlen(in), o = 0;
	char *out = malloc(n + 1);

	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)in[i];
		size_t len = utf8_len((const unsigned char *)in + i, n - i);

		if (c == '\n' || (len == 1 && c >= 0x20 && c != 0x7f) || len > 1) {
			memcpy(out + o, in + i, len ? len : 1);
			o += len ? len : 1;
		}
		i += len ? len : 1;
	}
	out[o] = '\0';
	return out;
}

/* The escaped length of a text (RFC 5545 3.3.11). */
static size_t escaped_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += (*s == '\\' || *s == ';' || *s == ',' || *s == '\n') ? 2 : 1;
	return n;
}

/* Checks a TEXT value against its input. */
static void check_text(const char *value, const char *input)
{
	char *want = expected_text(input ? input : "");
	char *got = malloc(strlen(value) + 1);
	size_t o = 0;

	for (const char *p = value; *p; p++) {
		unsigned char c = (unsigned char)*p;

		check(c >= 0x20 && c != 0x7f, "no control characters in TEXT");
		check(c != ';' && c != ',', "; and , are escaped in TEXT");
		if (c == '\\') {
			p++;
			check(*p == '\\' || *p == ';' || *p == ',' || *p == 'n' || *p == 'N',
			      "a backslash starts an escape");
			got[o++] = *p == 'n' || *p == 'N' ? '\n' : *p;
		} else {
			got[o++] = (char)c;
		}
	}
	got[o] = '\0';
	check(!strncmp(got, want, o), "TEXT reads back as a prefix of the input");
	if (o < strlen(want)) {
		check(escaped_len(want) > 1000, "only a long TEXT is cut");
		check(utf8_ok(got, o), "a cut TEXT ends on a whole character");
	}
	free(got);
	free(want);
}

/* YYYYMMDDTHHMMSSZ of a real instant. */
static void check_datetime(const char *v)
{
	int y, mo, d, h, mi, s;

	check(strlen(v) == 16 && v[8] == 'T' && v[15] == 'Z', "DATE-TIME form");
	for (int i = 0; i < 15; i++)
		if (i != 8)
			check(v[i] >= '0' && v[i] <= '9', "DATE-TIME digits");
	check(sscanf(v, "%4d%2d%2dT%2d%2d%2d", &y, &mo, &d, &h, &mi, &s) == 6, "DATE-TIME reads");
	check(y >= 1 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && s <= 60,
	      "DATE-TIME in range");
}

static void format_utc(int64_t t, char out[17])
{
	time_t tt = (time_t)t;
	struct tm tm;
	char wide[64];

	gmtime_r(&tt, &tm);
	snprintf(wide, sizeof(wide), "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	memcpy(out, wide, 16); /* years 1..9999: always 16 characters */
	out[16] = '\0';
}

struct input {
	char name[TEXT_MAX + 1], domain[80];
	size_t n;
	struct ical_event ev[MAX_EVENTS];
	char status[MAX_EVENTS][16];
	char summary[MAX_EVENTS][TEXT_MAX + 1], location[MAX_EVENTS][TEXT_MAX + 1],
	    description[MAX_EVENTS][TEXT_MAX + 1];
};

static int64_t take_time(struct fuzz_in *in)
{
	uint64_t sel = fuzz_take(in, 1), v = fuzz_take(in, 8);

	switch (sel % 4) {
	case 0:
		return 1796292000LL + (int64_t)(v % 100000000); /* around 2026 */
	case 1:
		return YEAR9999_S - 100000 + (int64_t)(v % 200000); /* the last representable */
	case 2:
		return YEAR1_S - 100000 + (int64_t)(v % 200000);
	default:
		return (int64_t)v;
	}
}

static void read_input(const uint8_t *data, size_t size, struct input *in)
{
	static const char *const statuses[] = {"CONFIRMED", "TENTATIVE", "CANCELLED"};
	struct fuzz_in f = {data, size};

	memset(in, 0, sizeof(*in));
	in->n = (size_t)fuzz_take(&f, 1) % (MAX_EVENTS + 1);
	fuzz_take_str(&f, in->name, TEXT_MAX);
	if (fuzz_take(&f, 1) & 1)
		fuzz_take_str(&f, in->domain, sizeof(in->domain) - 1);
	else
		strcpy(in->domain, "ementor");
	for (size_t i = 0; i < in->n; i++) {
		struct ical_event *e = &in->ev[i];
		unsigned sel = (unsigned)fuzz_take(&f, 1);

		e->id = (int64_t)fuzz_take(&f, 8);
		e->sequence = (int)(int32_t)fuzz_take(&f, 4);
		if (sel % 4 < 3)
			snprintf(in->status[i], sizeof(in->status[i]), "%s", statuses[sel % 4]);
		else
			fuzz_take_str(&f, in->status[i], sizeof(in->status[i]) - 1);
		e->status = in->status[i];
		e->start_s = take_time(&f);
		e->minutes = (int)(int32_t)fuzz_take(&f, 4);
		if (sel & 4)
			e->minutes = e->minutes % 600;
		e->stamp_s = take_time(&f);
		e->summary = fuzz_take_str(&f, in->summary[i], TEXT_MAX);
		e->location = (sel & 8) ? NULL : fuzz_take_str(&f, in->location[i], TEXT_MAX);
		e->description =
		    (sel & 16) ? NULL : fuzz_take_str(&f, in->description[i], TEXT_MAX);
	}
}

/* The physical lines: CRLF, 75 octets, whole characters; returns the unfolded text. */
static char *check_lines(const char *ics)
{
	size_t len = strlen(ics), o = 0;
	char *flat = malloc(len + 1);

	check(utf8_ok(ics, len), "the document is UTF-8");
	check(len >= 2 && !strcmp(ics + len - 2, "\r\n"), "the document ends with CRLF");
	for (const char *line = ics; *line;) {
		const char *eol = strstr(line, "\r\n");
		size_t n;

		check(eol != NULL, "every line ends with CRLF");
		n = (size_t)(eol - line);
		check(memchr(line, '\r', n) == NULL && memchr(line, '\n', n) == NULL,
		      "no CR or LF inside a line");
		check(n <= 75, "a line is at most 75 octets");
		check(utf8_ok(line, n), "a fold never splits a character");
		if (line == ics)
			check(n > 0 && line[0] != ' ', "the first line is not a continuation");
		if (line[0] == ' ') {
			check(n > 1, "a continuation carries something");
			memcpy(flat + o, line + 1, n - 1);
			o += n - 1;
		} else {
			if (line != ics)
				flat[o++] = '\n'; /* one LF per logical line in the unfolded copy */
			memcpy(flat + o, line, n);
			o += n;
		}
		line = eol + 2;
	}
	flat[o] = '\0';
	return flat;
}

/* Splits the next logical line into name and value; NULL at the end. */
static char *next_line(char **cursor, char **value)
{
	char *line = *cursor, *colon, *nl;

	if (!line)
		return NULL;
	nl = strchr(line, '\n');
	*cursor = nl ? nl + 1 : NULL;
	if (nl)
		*nl = '\0';
	colon = strchr(line, ':');
	check(colon != NULL, "a content line is NAME:VALUE");
	*colon = '\0';
	for (const char *p = line; *p; p++)
		check((*p >= 'A' && *p <= 'Z') || *p == '-', "a property name");
	*value = colon + 1;
	return line;
}

/* The next line must be NAME (with VALUE when not NULL); returns its value. */
static char *expect(char **cursor, const char *name, const char *value)
{
	char *v = NULL, *got = next_line(cursor, &v);

	check(got && !strcmp(got, name), "the properties come in order");
	if (value)
		check(!strcmp(v, value), "a fixed property has its value");
	return v;
}

static void check_event(char **cursor, const struct ical_event *e, const char *domain)
{
	char *name, *v, dtstart[17] = "", uid[200];
	int seen_uid = 0, seen_stamp = 0, seen_start = 0, seen_end = 0, seen_seq = 0;
	int seen_status = 0, seen_summary = 0, seen_location = 0, seen_description = 0;

	expect(cursor, "BEGIN", "VEVENT");
	while ((name = next_line(cursor, &v)) && strcmp(name, "END")) {
		if (!strcmp(name, "UID")) {
			seen_uid++;
			snprintf(uid, sizeof(uid), "checkpoint-%lld@", (long long)e->id);
			check(!strncmp(v, uid, strlen(uid)), "UID names the checkpoint");
			check_text(v + strlen(uid), domain);
		} else if (!strcmp(name, "DTSTAMP")) {
			seen_stamp++;
			check_datetime(v);
		} else if (!strcmp(name, "DTSTART")) {
			seen_start++;
			check_datetime(v);
			snprintf(dtstart, sizeof(dtstart), "%s", v);
			if (e->start_s >= YEAR1_S && e->start_s <= YEAR9999_S) {
				char want[17];

				format_utc(e->start_s, want);
				check(!strcmp(v, want), "DTSTART is the start");
			}
		} else if (!strcmp(name, "DTEND")) {
			seen_end++;
			check_datetime(v);
			check(seen_start && strcmp(v, dtstart) > 0, "DTEND is after DTSTART");
		} else if (!strcmp(name, "SEQUENCE")) {
			char want[16];

			seen_seq++;
			snprintf(want, sizeof(want), "%d", e->sequence < 0 ? 0 : e->sequence);
			check(!strcmp(v, want), "SEQUENCE is the sequence, never negative");
		} else if (!strcmp(name, "STATUS")) {
			seen_status++;
			check(!strcmp(v, "CONFIRMED") || !strcmp(v, "TENTATIVE") ||
			          !strcmp(v, "CANCELLED"),
			      "STATUS is an event status of RFC 5545");
			check(!strcmp(v, e->status), "STATUS is the event's");
		} else if (!strcmp(name, "SUMMARY")) {
			seen_summary++;
			check_text(v, e->summary);
		} else if (!strcmp(name, "LOCATION")) {
			seen_location++;
			check_text(v, e->location);
		} else if (!strcmp(name, "DESCRIPTION")) {
			seen_description++;
			check_text(v, e->description);
		} else {
			check(0, "a known event property");
		}
	}
	check(name && !strcmp(v, "VEVENT"), "END:VEVENT closes the event");
	check(seen_uid == 1 && seen_stamp == 1 && seen_start == 1 && seen_end <= 1 &&
	          seen_seq == 1 && seen_status <= 1 && seen_summary == 1 && seen_location <= 1 &&
	          seen_description <= 1,
	      "each property once");
	check(seen_status == (!strcmp(e->status, "CONFIRMED") || !strcmp(e->status, "TENTATIVE") ||
	                      !strcmp(e->status, "CANCELLED")),
	      "a known status is written");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input *in = malloc(sizeof(*in));
	char *ics, *flat, *cursor, *v;

	read_input(data, size, in);
	ics = ical_calendar(in->name, in->domain, in->ev, in->n);
	check(ics != NULL, "a document is written");
	flat = check_lines(ics);
	cursor = flat;
	expect(&cursor, "BEGIN", "VCALENDAR");
	expect(&cursor, "VERSION", "2.0");
	expect(&cursor, "PRODID", NULL);
	expect(&cursor, "CALSCALE", "GREGORIAN");
	expect(&cursor, "METHOD", "PUBLISH");
	check_text(expect(&cursor, "X-WR-CALNAME", NULL), in->name);
	for (size_t i = 0; i < in->n; i++)
		check_event(&cursor, &in->ev[i], in->domain);
	expect(&cursor, "END", "VCALENDAR");
	check(next_line(&cursor, &v) == NULL, "nothing after END:VCALENDAR");
	free(flat);
	free(ics);
	free(in);
	return 0;
}
