/*
 * ical.h - iCalendar (RFC 5545) output for the calendar feeds of checkpoints.
 */
#ifndef EMENTORD_ICAL_H
#define EMENTORD_ICAL_H

#include <stddef.h>
#include <stdint.h>

struct ical_event {
	int64_t id;         /* UID: checkpoint-ID@domain, stable for the checkpoint's life */
	int sequence;       /* grows on every change */
	const char *status; /* CONFIRMED, TENTATIVE or CANCELLED */
	int64_t start_s;    /* Unix seconds, UTC */
	int minutes;
	int64_t stamp_s; /* DTSTAMP: when it last changed */
	const char *summary, *location, *description;
};

/* The whole VCALENDAR document (malloc'd, NUL-terminated), or NULL if out of memory. */
char *ical_calendar(const char *name, const char *uid_domain, const struct ical_event *ev,
                    size_t n);

#endif
