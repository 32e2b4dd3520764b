/*
 * ranges.h - a sorted list of seq ranges (first..last, inclusive) that merges
 * ranges as they touch: the messages of one room that other nodes announced
 * and this node has not read yet (remote.c). Pure: no threads, no I/O; the
 * caller owns the list (one thread at a time).
 */
#ifndef EMENTORD_RANGES_H
#define EMENTORD_RANGES_H

#include <stdint.h>

#define RANGES_MAX 1024 /* ranges per list before the closest neighbours merge */

struct range {
	int64_t first, last;
};

struct range_list {
	int n, cap;
	struct range *r; /* sorted by first, disjoint and not touching {owned} */
};

/*
 * Adds FIRST..LAST (nothing if first > last), merged with the ranges it
 * overlaps or touches; announcements may come in any order. A range is never
 * dropped while memory allows: when the list holds RANGES_MAX ranges, the two
 * closest neighbours merge first (the seqs between them are then read again,
 * which readers ignore by seq). Returns the number of such merges (0 mostly),
 * or -1 if there was no memory for the range (it is lost; the caller says so).
 */
int ranges_add(struct range_list *l, int64_t first, int64_t last);
/* How many seqs of FIRST..LAST the list covers, counting `also` (may be NULL) too. */
int64_t ranges_covered(const struct range_list *l, const struct range *also, int64_t first,
                       int64_t last);
/* Takes the lowest range out into *out: 0, or -1 when the list is empty. */
int ranges_take_first(struct range_list *l, struct range *out);
void ranges_free(struct range_list *l);

#endif
