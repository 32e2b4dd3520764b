/*
 * ical.c - writes an iCalendar (RFC 5545) document of meetings: CRLF line
 * ends, content lines folded at 75 octets without splitting a UTF-8
 * character, TEXT values escaped (backslash, semicolon, comma, newline).
 * Pure: no I/O, no database, usable from any thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ical.h"

struct buf {
	char *s;
	size_t len, cap;
	int failed;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *grown;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(grown = realloc(b->s, cap))) {
			b->failed = 1;
			return;
		}
		b->s = grown;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

/*
 * One content line "NAME:value" (value already escaped), folded: after 75
 * octets a CRLF and a space, never inside a UTF-8 sequence.
 */
static void line(struct buf *b, const char *name, const char *value)
{
	char tmp[2048];
	size_t n = (size_t)snprintf(tmp, sizeof(tmp), "%s:%s", name, value), col = 0, i = 0;

	if (n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	while (n > 0 && ((unsigned char)tmp[n] & 0xc0) == 0x80) /* truncated mid-character */
		n--;
	while (i < n) {
		size_t step = 1;

		while (i + step < n && ((unsigned char)tmp[i + step] & 0xc0) == 0x80)
			step++;
		if (col + step > 75) {
			put(b, "\r\n ", 3);
			col = 1;
		}
		put(b, tmp + i, step);
		col += step;
		i += step;
	}
	put(b, "\r\n", 2);
}

/* TEXT escaping (RFC 5545 3.3.11) into out (size outlen), truncating if needed. */
static void escape(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (const char *p = in ? in : ""; *p && o + 3 < outlen; p++) {
		if (*p == '\\' || *p == ';' || *p == ',') {
			out[o++] = '\\';
			out[o++] = *p;
		} else if (*p == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if ((unsigned char)*p >= 0x20 && *p != 0x7f) {
			out[o++] = *p;
		}
	}
	out[o] = 0;
}

static void utc(int64_t t, char out[17])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

char *ical_calendar(const char *name, const char *uid_domain, const struct ical_event *ev, size_t n)
{
	struct buf b = {0};
	char v[1024], t[17];

	line(&b, "BEGIN", "VCALENDAR");
	line(&b, "VERSION", "2.0");
	line(&b, "PRODID", "-//ementor//ementord//EN");
	line(&b, "CALSCALE", "GREGORIAN");
	line(&b, "METHOD", "PUBLISH");
	escape(name, v, sizeof(v));
	line(&b, "X-WR-CALNAME", v);
	for (size_t i = 0; i < n; i++) {
		const struct ical_event *e = &ev[i];

		line(&b, "BEGIN", "VEVENT");
		snprintf(v, sizeof(v), "checkpoint-%lld@%s", (long long)e->id, uid_domain);
		line(&b, "UID", v);
		utc(e->stamp_s, t);
		line(&b, "DTSTAMP", t);
		utc(e->start_s, t);
		line(&b, "DTSTART", t);
		utc(e->start_s + (int64_t)e->minutes * 60, t);
		line(&b, "DTEND", t);
		snprintf(v, sizeof(v), "%d", e->sequence);
		line(&b, "SEQUENCE", v);
		line(&b, "STATUS", e->status);
		escape(e->summary, v, sizeof(v));
		line(&b, "SUMMARY", v);
		if (e->location && *e->location) {
			escape(e->location, v, sizeof(v));
			line(&b, "LOCATION", v);
		}
		if (e->description && *e->description) {
			escape(e->description, v, sizeof(v));
			line(&b, "DESCRIPTION", v);
		}
		line(&b, "END", "VEVENT");
	}
	line(&b, "END", "VCALENDAR");
	if (b.failed) {
		free(b.s);
		return NULL;
	}
	return b.s;
}
