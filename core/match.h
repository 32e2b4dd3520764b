/*
 * match.h - match suggestions for a programme (docs/MATCHING.md): mentees
 * paired or grouped with mentors by a documented score over the mentoring
 * course's criteria, under hard constraints, with an explanation per
 * suggestion. Pure and deterministic: the same profiles, in any order, give
 * the same suggestions. Any thread.
 */
#ifndef EMENTOR_MATCH_H
#define EMENTOR_MATCH_H

#include <stddef.h>

#include <jansson.h>

/*
 * Suggests rooms for the profiles in `input` (the layout of docs/MATCHING.md:
 * {"mentors": [...], "mentees": [...], "constraints"?: {...}, "weights"?: {...}}).
 * Returns a new object {"rooms": [{"mentor", "mentees": [...], "kind":
 * "pair"|"group", "score", "pairs": [{"mentee", "score", "why": [...]}]}],
 * "unmatched": [{"username", "why"}], "total_score", "criteria": {...}}, or
 * NULL with a sentence in err (a profile that does not parse, a duplicate
 * username, a value out of range). Who frees: the caller, json_decref().
 */
json_t *match_suggest(const json_t *input, char *err, size_t errlen);

#endif
