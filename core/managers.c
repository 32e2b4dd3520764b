/*
 * managers.c - "the manager readers I may seal to" (docs/SECURITY.md
 * "Records for the programme's managers", PROTOCOL.md 11.1): the one rule
 * questionnaire answers (questionnaire.c) and progress shared under
 * share_progress (progress.c) seal by, and the one their readers check.
 *
 * DESIGN. A client that assumes the server is hostile takes the managers
 * from nothing the server says on its own (room.show, programme.show,
 * questionnaire.get): only from a room's agreement version this device
 * verified itself — every party's signature checked with the keys pinned for
 * that party, the mentee's own signature among them (room.c, PROTOCOL.md
 * 7.2). The `manager` parties of that version are the readers, with the
 * author (who may read their own record back). A version with no manager
 * party is no anchor: the caller refuses rather than falls back on any list
 * the server offers. Pure; any thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quest.h"

static int cmp_ids(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int managers_is_party(const struct trust_version *v, int64_t user)
{
	int i = trust_version_party(v, user);

	return i >= 0 && !strcmp(v->parties[i].role, "manager");
}

int managers_readers(const struct trust_version *v, int64_t author,
                     uint64_t ids[ENVELOPE_RECIPIENTS])
{
	int i = trust_version_party(v, author);
	size_t n = 0;

	if (i < 0 || strcmp(v->parties[i].role, "mentee") != 0)
		return -1;
	ids[n++] = (uint64_t)author;
	for (size_t k = 0; k < v->n && n < ENVELOPE_RECIPIENTS; k++)
		if (!strcmp(v->parties[k].role, "manager"))
			ids[n++] = (uint64_t)v->parties[k].user_id;
	if (n == 1)
		return 0;
	qsort(ids, n, sizeof(ids[0]), cmp_ids);
	return (int)n;
}

int managers_readers_ok(const struct trust_version *v, int64_t author, const uint64_t *got,
                        size_t n, char *why, size_t len)
{
	uint64_t want[ENVELOPE_RECIPIENTS];
	int k = managers_readers(v, author, want);

	if (k < 0) {
		snprintf(why, len,
		         "its author is not a mentee of version %u of the room's agreement",
		         v->version);
		return 0;
	}
	if (k == 0) {
		snprintf(why, len, "version %u of the room's agreement names no manager",
		         v->version);
		return 0;
	}
	if ((size_t)k != n || memcmp(want, got, n * sizeof(got[0])) != 0) {
		snprintf(why, len,
		         "it is sealed to other readers than its author and the manager parties of "
		         "version %u of the room's agreement",
		         v->version);
		return 0;
	}
	return 1;
}
