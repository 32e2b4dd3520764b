/*
 * ranges.c - the sorted, merging seq-range list of ranges.h. Pure.
 */
#include <stdlib.h>
#include <string.h>

#include "ranges.h"

/* Grows the list by doubling, up to RANGES_MAX. 0, or -1 when it cannot grow. */
static int ranges_grow(struct range_list *l)
{
	int cap = l->cap ? l->cap * 2 : 8;
	struct range *r;

	if (l->cap >= RANGES_MAX)
		return -1;
	if (cap > RANGES_MAX)
		cap = RANGES_MAX;
	r = realloc(l->r, (size_t)cap * sizeof(*r));
	if (!r)
		return -1;
	l->r = r;
	l->cap = cap;
	return 0;
}

/* Merges the two neighbours with the smallest gap between them (n >= 2). */
static void ranges_merge_closest(struct range_list *l)
{
	int best = 0;

	for (int j = 1; j < l->n - 1; j++)
		if (l->r[j + 1].first - l->r[j].last < l->r[best + 1].first - l->r[best].last)
			best = j;
	l->r[best].last = l->r[best + 1].last;
	memmove(&l->r[best + 1], &l->r[best + 2], (size_t)(l->n - best - 2) * sizeof(l->r[0]));
	l->n--;
}

int ranges_add(struct range_list *l, int64_t first, int64_t last)
{
	int i, j, merges = 0;

	if (first > last)
		return 0;
	for (;;) {
		for (i = 0; i < l->n && l->r[i].last + 1 < first; i++)
			;
		/* i: the first range that ends at or after first - 1 */
		if (i < l->n && l->r[i].first <= last + 1) {
			if (first < l->r[i].first)
				l->r[i].first = first;
			if (last > l->r[i].last)
				l->r[i].last = last;
			/* swallow the following ranges it now reaches */
			for (j = i + 1; j < l->n && l->r[j].first <= l->r[i].last + 1; j++)
				if (l->r[j].last > l->r[i].last)
					l->r[i].last = l->r[j].last;
			memmove(&l->r[i + 1], &l->r[j], (size_t)(l->n - j) * sizeof(l->r[0]));
			l->n -= j - i - 1;
			return merges;
		}
		if (l->n < l->cap || ranges_grow(l) == 0)
			break;
		if (l->n < 2)
			return -1; /* no memory even for two ranges */
		ranges_merge_closest(l);
		merges++;
	}
	memmove(&l->r[i + 1], &l->r[i], (size_t)(l->n - i) * sizeof(l->r[0]));
	l->r[i].first = first;
	l->r[i].last = last;
	l->n++;
	return merges;
}

int64_t ranges_covered(const struct range_list *l, const struct range *also, int64_t first,
                       int64_t last)
{
	int64_t n = 0;

	for (int i = -1; i < l->n; i++) {
		const struct range *r = i < 0 ? also : &l->r[i];
		int64_t a, b;

		if (!r)
			continue;
		a = r->first > first ? r->first : first;
		b = r->last < last ? r->last : last;
		if (a <= b)
			n += b - a + 1;
	}
	return n;
}

int ranges_take_first(struct range_list *l, struct range *out)
{
	if (!l->n)
		return -1;
	*out = l->r[0];
	memmove(&l->r[0], &l->r[1], (size_t)(l->n - 1) * sizeof(l->r[0]));
	l->n--;
	return 0;
}

void ranges_free(struct range_list *l)
{
	free(l->r);
	memset(l, 0, sizeof(*l));
}
