/*
 * quest.h - what the client core knows of the monitoring questionnaires and
 * of the programme's managers as readers (docs/PROTOCOL.md section 11):
 *   - managers.c: the one rule for "the manager readers I may seal to"
 *     (used by questionnaire answers and by progress shared under
 *     share_progress);
 *   - quest.c: the built-in default questionnaires (English and Polish),
 *     checking a questionnaire and an answer against it, the signed bytes,
 *     and the aggregates a manager's client computes.
 * Pure: no I/O, no state; any thread.
 */
#ifndef EMC_QUEST_H
#define EMC_QUEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "envelope.h"
#include "trust.h"

#define QUEST_QUESTIONS_MAX   40
#define QUEST_OPTIONS_MAX     12
#define QUEST_ID_MAX          32
#define QUEST_TITLE_MAX       200
#define QUEST_QTEXT_MAX       500
#define QUEST_OPTION_MAX      100
#define QUEST_SCALE_SPAN      20 /* max - min of a scale question, at most */
#define QUEST_ANSWER_TEXT_MAX 4000
#define QUEST_HASH_BYTES      32
#define QUEST_SIG_BYTES_MAX   (32 + 8 + 4 + 7 + 4 + 32)

/* ---- the programme's managers as readers (managers.c) ---- */

/*
 * Who a record `author` writes for the programme's managers is sealed to,
 * under a room's agreement version v this device verified itself (every
 * party's signature checked with pinned keys): every `manager` party of v,
 * and the author. Ascending, distinct. Returns the count (2 or more), 0 when
 * v names no manager (no anchor: refuse, never ask the server), -1 when the
 * author is not a mentee party of v. Never from a server's list.
 */
int managers_readers(const struct trust_version *v, int64_t author,
                     uint64_t ids[ENVELOPE_RECIPIENTS]);
/* Whether a signed reader list is exactly managers_readers(v, author). 1 or 0 with why. */
int managers_readers_ok(const struct trust_version *v, int64_t author, const uint64_t *got,
                        size_t n, char *why, size_t len);
/* Whether user is a manager party of v. */
int managers_is_party(const struct trust_version *v, int64_t user);

/* ---- questionnaires (quest.c) ---- */

/* Whether s is "initial" or "final". */
int quest_stage_ok(const char *s);
/* The built-in default of a stage in a language ("pl", else English): JSON text, static. */
const char *quest_default(const char *stage, const char *lang);
/* Which built-in default text has hash h: its stage and language, or 0. */
int quest_default_of(const unsigned char h[QUEST_HASH_BYTES], const char **stage,
                     const char **lang);
/* BLAKE2b-256 of a questionnaire's text, the bytes as given. */
void quest_hash(const char *text, unsigned char h[QUEST_HASH_BYTES]);
/*
 * A questionnaire's text parsed and checked: {"title","questions":[{"id",
 * "kind":"scale"|"choice"|"text","text","min"?,"max"?,"options"?}]}. New
 * reference, or NULL with why.
 */
json_t *quest_parse(const char *text, char *why, size_t len);
/*
 * Answers {id: value} checked against a parsed questionnaire: every id a
 * question of it, a scale an integer within its bounds, a choice one of its
 * options, a text 1..QUEST_ANSWER_TEXT_MAX bytes; at least one answer.
 * 1, or 0 with why.
 */
int quest_answers_ok(const json_t *quest, const json_t *answers, char *why, size_t len);
/*
 * The bytes a manager signs for version `version` of a programme's
 * questionnaire of `stage`: "ementor questionnaire v1" 0x00 || u64 programme
 * || lp(stage) || u32 version || H(text). Returns their length.
 */
size_t quest_sig_bytes(unsigned char out[QUEST_SIG_BYTES_MAX], int64_t programme, const char *stage,
                       int64_t version, const char *text);
/*
 * Per-question aggregates of answers to one parsed questionnaire:
 * answers = [{"username", "answers": {id: value}}]. Returns {"respondents",
 * "questions": [{"id","kind","text", scale: "n","mean"|null,"distribution":
 * {"VALUE": count} (every value of the scale); choice: "n","counts":
 * {"OPTION": count}; text: "n","answers":[{"username","text"}]}]}. New
 * reference.
 */
json_t *quest_aggregate(const json_t *quest, const json_t *answers);
/*
 * The initial-versus-final comparison of one mentee: the questions both
 * questionnaires have (same id and kind), with both answers and, for a
 * scale, "change" (final - initial). New reference: [{"id","kind","initial",
 * "final","change"?}].
 */
json_t *quest_compare(const json_t *initial_q, const json_t *final_q, const json_t *initial_a,
                      const json_t *final_a);

#endif
