/*
 * profile_form.h - the pure parts of participants' profiles for matching
 * (profile_form.c; docs/PROTOCOL.md section 14, SECURITY.md "Profiles for
 * matching"): the built-in questions, checking questions and answers, the
 * signed bytes and contexts, the managers a profile may be sealed to
 * ("anchors" kept in trust.json), sealing and opening one profile, and the
 * match input (docs/MATCHING.md) of opened profiles. No I/O; any thread.
 */
#ifndef EMC_PROFILE_FORM_H
#define EMC_PROFILE_FORM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "envelope.h"

#define PROFILE_LABEL        "ementor profile v1"
#define PROFILE_FORM_LABEL   "ementor profile questions v1"
#define PROFILE_CTX_MAX      (8 + 4 + 6 + 8 + 4 + 8)
#define PROFILE_FORM_SIG_MAX (sizeof(PROFILE_FORM_LABEL) + 8 + 4 + 6 + 4 + 32)
#define PROFILE_FPR_HEX      32 /* a key fingerprint (PROTOCOL.md 3), hex without spaces */
#define PROFILE_QUESTIONS    40
#define PROFILE_WORDS        32  /* words in one answer, as match.c takes them */
#define PROFILE_WORD_MAX     100 /* bytes of one word or one-line answer */
#define PROFILE_TEXT_MAX     2000

/* The built-in questions (version 0) for "mentor" or "mentee", as JSON text; NULL otherwise. */
const char *profile_form_default(const char *role);

/*
 * Parses and checks a questions document for role: {"title", "questions":
 * [{"id", "kind": "words"|"line"|"text"|"scale", "text", "text_pl"?}]}; the
 * ids match.c scores (docs/MATCHING.md) must have their kind. New
 * reference, or NULL with why.
 */
json_t *profile_form_parse(const char *text, const char *role, char *why, size_t len);

/*
 * The answers checked against a parsed form and normalised (words given as
 * one string "a, b" become a list; empty answers are left out). New
 * reference, or NULL with why.
 */
json_t *profile_answers_norm(json_t *form, json_t *answers, char *why, size_t len);

/* label || 0 || u64 programme || lp(role) || u32 version || BLAKE2b-256(doc): what a manager signs.
 */
size_t profile_form_sig_bytes(unsigned char out[PROFILE_FORM_SIG_MAX], int64_t programme,
                              const char *role, int64_t version, const char *doc);

/* u64 programme || lp(role) || u64 author || u32 form_version || u64 written_ms */
size_t profile_ctx(unsigned char out[PROFILE_CTX_MAX], int64_t programme, const char *role,
                   int64_t author, int64_t form_version, int64_t written);

/* A key's fingerprint as 32 lower-case hex digits (em_fingerprint() without spaces). */
void profile_fpr_of(const unsigned char sign_pk[32], const unsigned char box_pk[32],
                    char out[PROFILE_FPR_HEX + 1]);
/*
 * A fingerprint as a person gives it: the hex digits with or without spaces,
 * or an invite link carrying "m=HEX" (PUBLIC_URL/#join=CODE&m=HEX). 0, or -1.
 */
int profile_fpr_parse(const char *in, char out[PROFILE_FPR_HEX + 1]);

/*
 * Anchors: the managers of a programme this device verified by a
 * fingerprint given outside the server (trust.json "profile_anchors"). put:
 * 1 when recorded, 0 when it was already, -ENOMEM/-EINVAL. get: the
 * fingerprint anchored for user in programme, or NULL (borrowed).
 */
int profile_anchor_put(json_t *trust, int64_t programme, int64_t user, const char *fpr);
const char *profile_anchor_get(json_t *trust, int64_t programme, int64_t user);

/*
 * Seals doc (JSON text: {"programme_id","role","form_version","form","answers"})
 * to ids/box_pks (distinct, ascending, the author among them) under
 * profile_ctx(), signed with sign_sk. 0 or a negative enum envelope_result.
 */
int profile_seal(int64_t programme, const char *role, int64_t author, int64_t form_version,
                 int64_t written, const uint64_t *ids, const unsigned char (*box_pks)[32], size_t n,
                 const char *doc, const unsigned char sign_sk[64], unsigned char **out,
                 size_t *out_len);

/*
 * Opens a stored profile as reader me: the author's signature over this
 * programme, role, author, form version and clock checked with author_pk
 * first, then the doc read and checked (its own programme, role and form
 * version the same, the answers fit the form it carries, the author among
 * the readers). New reference {"form","answers"}, readers in ids/n, or NULL
 * with why.
 */
json_t *profile_open(const unsigned char *blob, size_t blob_len, int64_t programme,
                     const char *role, int64_t author, int64_t form_version, int64_t written,
                     const unsigned char author_pk[32], int64_t me,
                     const unsigned char me_box_pk[32], const unsigned char me_box_sk[32],
                     uint64_t ids[ENVELOPE_RECIPIENTS], size_t *n, char *why, size_t len);

/*
 * The match input (docs/MATCHING.md) of opened profiles: each verified
 * entry ({"username","role","answers"}) becomes a mentor or mentee with the
 * answers match.c scores. New reference {"mentors":[...],"mentees":[...]}.
 */
json_t *profile_match_input(json_t *opened);

#endif
