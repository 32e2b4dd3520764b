/*
 * test_ical.c - server/ical.c: the iCalendar writer (RFC 5545). The feed as a
 * whole is checked by an independent parser in tests/e2e/checkpoints.sh; here,
 * the rules that parser is lenient about: CRLF, 75-octet folding that never
 * splits a UTF-8 character, TEXT escaping, the times in UTC, and what the
 * writer does with values a calendar must never see (tests/fuzz/fuzz_ical.c
 * checks the same on any input).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ical.h"

/* Unfolds (RFC 5545 3.1) into a new string: CRLF + space removed. */
static char *unfold(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;

	for (const char *p = s; *p; p++) {
		if (p[0] == '\r' && p[1] == '\n' && p[2] == ' ') {
			p += 2;
			continue;
		}
		*o++ = *p;
	}
	*o = 0;
	return out;
}

static struct ical_event one(const char *summary, const char *location)
{
	struct ical_event e = {
	    .id = 42,
	    .sequence = 3,
	    .status = "CONFIRMED",
	    .start_s = 1796292000, /* 2026-12-03T10:00:00Z */
	    .minutes = 90,
	    .stamp_s = 1796000000,
	    .summary = summary,
	    .location = location,
	    .description = "sam (mentor), mia (mentee)",
	};
	return e;
}

static void test_structure_and_times(void **state)
{
	struct ical_event e = one("Mentoring initial meeting: pair", "Cafe");
	char *ics = ical_calendar("ementor: sam", "ementor", &e, 1);

	(void)state;
	assert_non_null(ics);
	assert_non_null(strstr(ics, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:"));
	assert_non_null(strstr(ics, "UID:checkpoint-42@ementor\r\n"));
	assert_non_null(strstr(ics, "DTSTART:20261203T100000Z\r\n"));
	assert_non_null(strstr(ics, "DTEND:20261203T113000Z\r\n"));
	assert_non_null(strstr(ics, "SEQUENCE:3\r\n"));
	assert_non_null(strstr(ics, "STATUS:CONFIRMED\r\n"));
	assert_true(strlen(ics) > 2 && !strcmp(ics + strlen(ics) - 15, "END:VCALENDAR\r\n"));
	/* no bare LF anywhere */
	for (const char *p = ics; *p; p++)
		if (*p == '\n')
			assert_true(p > ics && p[-1] == '\r');
	free(ics);
}

static void test_escaping(void **state)
{
	struct ical_event e = one("a; b, c \\ d\nnext", "Room 4, floor 2; \"east\"");
	char *ics = ical_calendar("x", "ementor", &e, 1), *flat;

	(void)state;
	assert_non_null(ics);
	flat = unfold(ics);
	assert_non_null(strstr(flat, "SUMMARY:a\\; b\\, c \\\\ d\\nnext\r\n"));
	assert_non_null(strstr(flat, "LOCATION:Room 4\\, floor 2\\; \"east\"\r\n"));
	assert_non_null(strstr(flat, "DESCRIPTION:sam (mentor)\\, mia (mentee)\r\n"));
	free(flat);
	free(ics);
}

static void test_folding_keeps_utf8_whole(void **state)
{
	char summary[600] = "";
	struct ical_event e;
	char *ics, *flat, *line;

	(void)state;
	/* 3-byte characters, so a naive 75-octet cut would split one */
	for (int i = 0; i < 150; i++)
		strcat(summary, "\xe2\x82\xac"); /* the euro sign */
	e = one(summary, NULL);
	ics = ical_calendar("x", "ementor", &e, 1);
	assert_non_null(ics);
	for (line = ics; *line;) {
		char *eol = strstr(line, "\r\n");
		size_t len;

		assert_non_null(eol);
		len = (size_t)(eol - line);
		assert_true(len <= 75);
		/* a line never ends inside a character, nor starts with a continuation byte
		 * (after the folding space) */
		if (len)
			assert_true(((unsigned char)line[len - 1] & 0xc0) != 0xc0);
		if (line[0] == ' ' && len > 1)
			assert_true(((unsigned char)line[1] & 0xc0) != 0x80);
		line = eol + 2;
	}
	flat = unfold(ics);
	assert_non_null(strstr(flat, summary)); /* nothing lost in folding */
	assert_null(strstr(flat, "LOCATION"));  /* no place, no LOCATION */
	free(flat);
	free(ics);
}

/* What users or the database could hand the writer that a calendar must never see. */
static void test_hostile_values(void **state)
{
	struct ical_event e =
	    one("a\xe2\x82 b\xff c\r\x01\x1b[31m d\xed\xa0\x80 \xe2\x82\xac", "\x7f");
	char *ics, *flat;

	(void)state;
	e.status = "CONFIRMED\r\nATTENDEE:x";
	e.minutes = 0;
	e.sequence = -4;
	e.start_s = -62135596800LL - 1000; /* before the year 1 */
	ics = ical_calendar("x", "a;b", &e, 1);
	assert_non_null(ics);
	flat = unfold(ics);
	/* bytes that are not UTF-8 and control characters are dropped, the euro sign kept */
	assert_non_null(strstr(flat, "SUMMARY:a b c[31m d \xe2\x82\xac\r\n"));
	assert_non_null(strstr(flat, "LOCATION:\r\n"));
	assert_null(strstr(flat, "STATUS"));
	assert_null(strstr(flat, "ATTENDEE"));
	assert_null(strstr(flat, "DTEND")); /* an empty meeting has no end after its start */
	assert_non_null(strstr(flat, "SEQUENCE:0\r\n"));
	assert_non_null(strstr(flat, "DTSTART:00010101T000000Z\r\n"));
	assert_non_null(strstr(flat, "UID:checkpoint-42@a\\;b\r\n"));
	free(flat);
	free(ics);
}

/* A text longer than a value holds is cut before a whole character. */
static void test_long_text_cut_whole(void **state)
{
	char summary[3 * 500 + 1] = "";
	struct ical_event e;
	char *ics, *flat, *s, *eol;

	(void)state;
	for (int i = 0; i < 500; i++)
		strcat(summary, "\xe2\x82\xac");
	e = one(summary, NULL);
	ics = ical_calendar("x", "ementor", &e, 1);
	assert_non_null(ics);
	flat = unfold(ics);
	s = strstr(flat, "SUMMARY:") + 8;
	eol = strstr(s, "\r\n");
	assert_true(eol - s > 900 && eol - s < 1024);
	assert_int_equal((eol - s) % 3, 0);
	free(flat);
	free(ics);
}

static void test_empty_calendar(void **state)
{
	char *ics = ical_calendar("x", "ementor", NULL, 0);

	(void)state;
	assert_non_null(ics);
	assert_null(strstr(ics, "VEVENT"));
	assert_non_null(strstr(ics, "END:VCALENDAR\r\n"));
	free(ics);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_structure_and_times),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_folding_keeps_utf8_whole),
	    cmocka_unit_test(test_empty_calendar),
	    cmocka_unit_test(test_hostile_values),
	    cmocka_unit_test(test_long_text_cut_whole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
