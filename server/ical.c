/*
 * ical.c - writes an iCalendar (RFC 5545) document of meetings: CRLF line
 * ends, content lines folded at 75 octets without splitting a UTF-8
 * character, TEXT values escaped (backslash, semicolon, comma, newline).
 * Pure: no I/O, no database, usable from any thread.
 *
 * DESIGN. The values come from users (room names, places, usernames) and
 * the document goes to any calendar program, so the writer makes every
 * input valid rather than trusting it: TEXT loses control characters and
 * bytes that are not UTF-8, a status that is not RFC 5545's is left out,
 * times are kept within four-digit years, and DTEND is written only when it
 * comes after DTSTART. tests/fuzz/fuzz_ical.c checks these on any input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ical.h"

#define ICAL_MIN_S (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define ICAL_MAX_S 253402300799LL   /* 9999-12-31T23:59:59Z */

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

/* Appends s[0..n) to a content line, folding after 75 octets, never inside a character. */
static void fold(struct buf *b, const char *s, size_t n, size_t *col)
{
	for (size_t i = 0; i < n;) {
		size_t step = 1;

		while (i + step < n && ((unsigned char)s[i + step] & 0xc0) == 0x80)
			step++;
		if (*col + step > 75) {
			put(b, "\r\n ", 3);
			*col = 1;
		}
		put(b, s + i, step);
		*col += step;
		i += step;
	}
}

/* One content line "NAME:value" (value already escaped, valid UTF-8), folded. */
static void line(struct buf *b, const char *name, const char *value)
{
	size_t col = 0;

	fold(b, name, strlen(name), &col);
	fold(b, ":", 1, &col);
	fold(b, value, strlen(value), &col);
	put(b, "\r\n", 2);
}

/* Length of the valid UTF-8 character at p (RFC 3629: no overlongs, no surrogates), or 0. */
static size_t utf8_char(const unsigned char *p)
{
	size_t n;
	uint32_t cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return p[0] && p[0] < 0x80 ? 1 : 0;
	/* p is NUL-terminated and NUL is no continuation byte: no read past it */
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * TEXT escaping (RFC 5545 3.3.11) into out (size outlen): backslash,
 * semicolon and comma escaped, a newline as \n, other control characters
 * and bytes that are not UTF-8 dropped; a long text is cut before a whole
 * character.
 */
static void escape(const char *in, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)(in ? in : "");
	size_t o = 0;

	while (*p) {
		char esc[2] = {'\\', (char)*p};
		const char *piece = (const char *)p;
		size_t n = utf8_char(p), used = n;

		if (*p == '\\' || *p == ';' || *p == ',' || *p == '\n') {
			esc[1] = *p == '\n' ? 'n' : (char)*p;
			piece = esc;
			n = 2;
		} else if (!n || *p < 0x20 || *p == 0x7f) {
			p++; /* a control character or a byte that is not UTF-8 */
			continue;
		}
		if (o + n >= outlen)
			break;
		memcpy(out + o, piece, n);
		o += n;
		p += used;
	}
	out[o] = 0;
}

/*
 * A UTC DATE-TIME; instants outside the years 1 to 9999, which its four-digit
 * year cannot show, are moved to the nearest one it can.
 */
static void utc(int64_t t, char out[17])
{
	time_t tt = (time_t)(t < ICAL_MIN_S ? ICAL_MIN_S : t > ICAL_MAX_S ? ICAL_MAX_S : t);
	struct tm tm;
	char wide[64];

	gmtime_r(&tt, &tm);
	/* not strftime: glibc's %Y does not pad years before 1000 to four digits */
	snprintf(wide, sizeof(wide), "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	memcpy(out, wide, 16); /* years 1..9999: always 16 characters */
	out[16] = '\0';
}

/* RFC 5545's statuses of an event; anything else is left out. */
static int status_known(const char *s)
{
	return s && (!strcmp(s, "CONFIRMED") || !strcmp(s, "TENTATIVE") || !strcmp(s, "CANCELLED"));
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
		int64_t start = e->start_s < ICAL_MIN_S   ? ICAL_MIN_S
		                : e->start_s > ICAL_MAX_S ? ICAL_MAX_S
		                                          : e->start_s;
		char end[17];
		int uid_len;

		line(&b, "BEGIN", "VEVENT");
		uid_len = snprintf(v, sizeof(v), "checkpoint-%lld@", (long long)e->id);
		escape(uid_domain, v + uid_len, sizeof(v) - (size_t)uid_len);
		line(&b, "UID", v);
		utc(e->stamp_s, t);
		line(&b, "DTSTAMP", t);
		utc(start, t);
		line(&b, "DTSTART", t);
		/* DTEND must come after DTSTART (RFC 5545 3.6.1): none for an empty meeting */
		utc(start + (int64_t)e->minutes * 60, end);
		if (e->minutes > 0 && strcmp(end, t) > 0)
			line(&b, "DTEND", end);
		snprintf(v, sizeof(v), "%d", e->sequence < 0 ? 0 : e->sequence);
		line(&b, "SEQUENCE", v);
		if (status_known(e->status))
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
