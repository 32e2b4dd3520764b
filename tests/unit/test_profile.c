/*
 * test_profile.c - a participant's profile as the manager's client checks it
 * (core/profile_form.h, PROTOCOL.md 14): an honest profile opens; one whose
 * bytes were altered, which is passed off as another person's (another
 * author id, or another author's key), moved to another programme, turned
 * into the other role, given another question version or clock, or not
 * sealed to the reader, fails with why and gives no answer. And the pure
 * rules around it: the built-in questions parse; a scored question keeps
 * its kind; answers are normalised (words from "a, b", scales 1-5, unknown
 * questions refused); fingerprints as people type them; anchors in
 * trust.json; the match input of opened profiles.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "em_crypto.h"
#include "profile_form.h"

#define PROG   3
#define AUTHOR 12
#define OTHER  13
#define MGR    2
#define STRAY  40
#define FV     0
#define WRITE  1800000000000LL

struct who {
	unsigned char sign_pk[32], sign_sk[64], box_pk[32], box_sk[32];
};

static struct who author, other, mgr, stray;

static void who_make(struct who *w)
{
	crypto_sign_keypair(w->sign_pk, w->sign_sk);
	crypto_box_keypair(w->box_pk, w->box_sk);
}

static int setup(void **state)
{
	(void)state;
	assert_true(sodium_init() >= 0);
	who_make(&author);
	who_make(&other);
	who_make(&mgr);
	who_make(&stray);
	return 0;
}

/* The doc an honest client seals: the built-in mentee questions and some answers. */
static char *doc_make(int64_t programme, const char *role)
{
	char why[256];
	json_t *form = profile_form_parse(profile_form_default(role), role, why, sizeof(why));
	json_t *given = json_pack("{s:s, s:s, s:s}", "expectations", "cv, first job", "values",
	                          "openness", "needs", "a first job in IT");
	json_t *answers, *doc;
	char *text;

	assert_non_null(form);
	answers = profile_answers_norm(form, given, why, sizeof(why));
	assert_non_null(answers);
	doc = json_pack("{s:I, s:s, s:i, s:o, s:o}", "programme_id", (json_int_t)programme, "role",
	                role, "form_version", FV, "form", form, "answers", answers);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	json_decref(given);
	return text;
}

/* A profile by AUTHOR sealed to AUTHOR and MGR. *out malloc'd. */
static size_t seal(unsigned char **out)
{
	uint64_t ids[2] = {MGR, AUTHOR};
	unsigned char pks[2][32];
	char *doc = doc_make(PROG, "mentee");
	size_t len = 0;

	memcpy(pks[0], mgr.box_pk, 32);
	memcpy(pks[1], author.box_pk, 32);
	assert_int_equal(profile_seal(PROG, "mentee", AUTHOR, FV, WRITE, ids,
	                              (const unsigned char(*)[32])pks, 2, doc, author.sign_sk, out,
	                              &len),
	                 0);
	free(doc);
	return len;
}

/* Opens as MGR with the given claims; the answers object or NULL (why in why). */
static json_t *open_as(const unsigned char *blob, size_t len, int64_t programme, const char *role,
                       int64_t author_id, int64_t fv, int64_t written, const struct who *a,
                       int64_t me, const struct who *reader, char *why, size_t whylen)
{
	uint64_t ids[ENVELOPE_RECIPIENTS];
	size_t n = 0;

	why[0] = '\0';
	return profile_open(blob, len, programme, role, author_id, fv, written, a->sign_pk, me,
	                    reader->box_pk, reader->box_sk, ids, &n, why, whylen);
}

static void test_honest_profile_opens(void **state)
{
	unsigned char *blob = NULL;
	size_t len = seal(&blob);
	char why[320];
	json_t *got;

	(void)state;
	got = open_as(blob, len, PROG, "mentee", AUTHOR, FV, WRITE, &author, MGR, &mgr, why,
	              sizeof(why));
	assert_non_null(got);
	assert_string_equal(
	    json_string_value(json_array_get(
	        json_object_get(json_object_get(got, "answers"), "expectations"), 1)),
	    "first job");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(got, "answers"), "needs")),
	    "a first job in IT");
	json_decref(got);
	/* the author reads it back too */
	got = open_as(blob, len, PROG, "mentee", AUTHOR, FV, WRITE, &author, AUTHOR, &author, why,
	              sizeof(why));
	assert_non_null(got);
	json_decref(got);
	free(blob);
}

static void test_altered_moved_or_swapped_fails(void **state)
{
	unsigned char *blob = NULL;
	size_t len = seal(&blob);
	char why[320];

	(void)state;
	/* another programme */
	assert_null(open_as(blob, len, PROG + 1, "mentee", AUTHOR, FV, WRITE, &author, MGR, &mgr,
	                    why, sizeof(why)));
	assert_non_null(strstr(why, "does not verify"));
	/* another role */
	assert_null(open_as(blob, len, PROG, "mentor", AUTHOR, FV, WRITE, &author, MGR, &mgr, why,
	                    sizeof(why)));
	assert_non_null(strstr(why, "does not verify"));
	/* passed off as another person's: their id and their key */
	assert_null(open_as(blob, len, PROG, "mentee", OTHER, FV, WRITE, &other, MGR, &mgr, why,
	                    sizeof(why)));
	assert_non_null(strstr(why, "does not verify"));
	/* the author's id with another key pinned */
	assert_null(open_as(blob, len, PROG, "mentee", AUTHOR, FV, WRITE, &other, MGR, &mgr, why,
	                    sizeof(why)));
	/* another question version, another clock */
	assert_null(open_as(blob, len, PROG, "mentee", AUTHOR, FV + 1, WRITE, &author, MGR, &mgr,
	                    why, sizeof(why)));
	assert_null(open_as(blob, len, PROG, "mentee", AUTHOR, FV, WRITE + 1, &author, MGR, &mgr,
	                    why, sizeof(why)));
	/* one byte altered anywhere: the last, the middle */
	for (size_t at = len - 1; at > 0; at = at == len - 1 ? len / 2 : 0) {
		blob[at] ^= 1;
		assert_null(open_as(blob, len, PROG, "mentee", AUTHOR, FV, WRITE, &author, MGR,
		                    &mgr, why, sizeof(why)));
		assert_true(why[0] != '\0');
		blob[at] ^= 1;
	}
	/* a reader it was not sealed to */
	assert_null(open_as(blob, len, PROG, "mentee", AUTHOR, FV, WRITE, &author, STRAY, &stray,
	                    why, sizeof(why)));
	assert_string_equal(why, "it is not sealed to you");
	free(blob);
}

static void test_inside_must_match_signed(void **state)
{
	uint64_t ids[2] = {MGR, AUTHOR};
	unsigned char pks[2][32], *blob = NULL;
	char *doc = doc_make(PROG + 5, "mentee"), why[320];
	size_t len = 0;

	(void)state;
	memcpy(pks[0], mgr.box_pk, 32);
	memcpy(pks[1], author.box_pk, 32);
	/* a doc naming another programme than its signed context (a client that is not ementor) */
	assert_int_equal(profile_seal(PROG, "mentee", AUTHOR, FV, WRITE, ids,
	                              (const unsigned char(*)[32])pks, 2, doc, author.sign_sk,
	                              &blob, &len),
	                 0);
	assert_null(open_as(blob, len, PROG, "mentee", AUTHOR, FV, WRITE, &author, MGR, &mgr, why,
	                    sizeof(why)));
	assert_non_null(strstr(why, "does not match"));
	free(blob);
	free(doc);
}

static void test_forms_and_answers(void **state)
{
	char why[320];
	json_t *f, *a, *given;

	(void)state;
	assert_non_null(
	    f = profile_form_parse(profile_form_default("mentor"), "mentor", why, sizeof(why)));
	json_decref(f);
	assert_null(profile_form_default("manager"));
	/* a scored question keeps its kind; an unscored id may be anything */
	assert_null(profile_form_parse("{\"title\":\"t\",\"questions\":[{\"id\":\"motivation\","
	                               "\"kind\":\"text\",\"text\":\"q\"}]}",
	                               "mentee", why, sizeof(why)));
	assert_non_null(strstr(why, "keep its kind"));
	assert_null(profile_form_parse("{\"title\":\"t\",\"questions\":[{\"id\":\"a\",\"kind\":"
	                               "\"text\",\"text\":\"q\"},{\"id\":\"a\",\"kind\":\"text\","
	                               "\"text\":\"q\"}]}",
	                               "mentee", why, sizeof(why)));
	assert_non_null(
	    f = profile_form_parse(profile_form_default("mentee"), "mentee", why, sizeof(why)));
	given = json_pack("{s:s, s:s, s:s, s:n}", "values", " honesty ,openness,, ", "motivation",
	                  "4", "wishes", "", "interests");
	assert_non_null(a = profile_answers_norm(f, given, why, sizeof(why)));
	assert_int_equal(json_array_size(json_object_get(a, "values")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(a, "values"), 0)),
	                    "honesty");
	assert_int_equal(json_integer_value(json_object_get(a, "motivation")), 4);
	assert_null(json_object_get(a, "wishes")); /* an empty answer is none */
	assert_null(json_object_get(a, "interests"));
	json_decref(a);
	json_decref(given);
	given = json_pack("{s:i}", "motivation", 6);
	assert_null(profile_answers_norm(f, given, why, sizeof(why)));
	json_decref(given);
	given = json_pack("{s:s}", "shoe_size", "44");
	assert_null(profile_answers_norm(f, given, why, sizeof(why)));
	assert_non_null(strstr(why, "shoe_size"));
	json_decref(given);
	json_decref(f);
}

static void test_fingerprints_and_anchors(void **state)
{
	char fpr[PROFILE_FPR_HEX + 1], got[PROFILE_FPR_HEX + 1], spaced[EM_FINGERPRINT_STRLEN];
	char link[256];
	json_t *trust = json_object();

	(void)state;
	profile_fpr_of(mgr.sign_pk, mgr.box_pk, fpr);
	assert_int_equal(strlen(fpr), PROFILE_FPR_HEX);
	em_fingerprint(mgr.sign_pk, mgr.box_pk, spaced);
	assert_int_equal(profile_fpr_parse(spaced, got), 0); /* as whoami prints it */
	assert_string_equal(got, fpr);
	snprintf(link, sizeof(link), "https://example.org/#join=AbC_12&m=%s", fpr);
	assert_int_equal(profile_fpr_parse(link, got), 0);
	assert_string_equal(got, fpr);
	snprintf(link, sizeof(link), "AbC_12&m=%s", fpr);
	assert_int_equal(profile_fpr_parse(link, got), 0);
	assert_int_equal(profile_fpr_parse("0011", got), -1);
	assert_int_equal(profile_fpr_parse("zz112233445566778899aabbccddeeff", got), -1);
	/* anchors */
	assert_null(profile_anchor_get(trust, PROG, MGR));
	assert_int_equal(profile_anchor_put(trust, PROG, MGR, fpr), 1);
	assert_int_equal(profile_anchor_put(trust, PROG, MGR, fpr), 0);
	assert_string_equal(profile_anchor_get(trust, PROG, MGR), fpr);
	assert_null(profile_anchor_get(trust, PROG + 1, MGR)); /* per programme */
	assert_int_equal(profile_anchor_put(trust, PROG, MGR, "short"), -EINVAL);
	json_decref(trust);
}

static void test_match_input(void **state)
{
	json_t *opened =
	    json_pack("[{s:s, s:s, s:b, s:{s:[s], s:s, s:s, s:i}},"
	              " {s:s, s:s, s:b, s:{s:[s], s:s, s:i}},"
	              " {s:s, s:s, s:b}]",
	              "username", "lea", "role", "mentee", "verified", 1, "answers", "expectations",
	              "cv", "wants_industry", "IT", "needs", "private", "motivation", 4, "username",
	              "sam", "role", "mentor", "verified", 1, "answers", "offers", "cv", "industry",
	              "IT", "capacity", 2, "username", "eve", "role", "mentee", "verified", 0);
	json_t *in = profile_match_input(opened);

	(void)state;
	assert_int_equal(json_array_size(json_object_get(in, "mentees")), 1); /* eve left out */
	assert_int_equal(json_array_size(json_object_get(in, "mentors")), 1);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(json_object_get(in, "mentees"), 0),
	                                      "wants_industry")),
	    "IT");
	/* free text is not matching input */
	assert_null(json_object_get(json_array_get(json_object_get(in, "mentees"), 0), "needs"));
	assert_int_equal(json_integer_value(json_object_get(
	                     json_array_get(json_object_get(in, "mentors"), 0), "capacity")),
	                 2);
	json_decref(in);
	json_decref(opened);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_honest_profile_opens),
	    cmocka_unit_test(test_altered_moved_or_swapped_fails),
	    cmocka_unit_test(test_inside_must_match_signed),
	    cmocka_unit_test(test_forms_and_answers),
	    cmocka_unit_test(test_fingerprints_and_anchors),
	    cmocka_unit_test(test_match_input),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
