/*
 * test_match.c - match suggestions (core/match.c) on fixed profiles: the
 * score of each criterion as docs/MATCHING.md defines it, the best total
 * rather than a greedy one, the hard constraints, capacities and groups,
 * unmatched mentees with their reasons, the same answer whatever the input's
 * order, and the refusals of bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "match.h"

static json_t *run(const char *text, char *err)
{
	json_error_t je;
	json_t *in = json_loads(text, 0, &je), *out;

	if (!in)
		fail_msg("bad test JSON: %s", je.text);
	out = match_suggest(in, err, 256);
	json_decref(in);
	return out;
}

/* "mentor:mentee,mentee;mentor:mentee" of the result's rooms (in mentor order). */
static void rooms_text(const json_t *res, char *out, size_t len)
{
	const json_t *room, *name;
	size_t i, j, used = 0;

	out[0] = '\0';
	json_array_foreach(json_object_get(res, "rooms"), i, room)
	{
		used += (size_t)snprintf(out + used, len - used, "%s%s:", i ? ";" : "",
		                         json_string_value(json_object_get(room, "mentor")));
		json_array_foreach(json_object_get(room, "mentees"), j, name)
		{
			used += (size_t)snprintf(out + used, len - used, "%s%s", j ? "," : "",
			                         json_string_value(name));
		}
	}
}

static double pair_score(const json_t *res, const char *mentee)
{
	const json_t *room, *pair;
	size_t i, j;

	json_array_foreach(json_object_get(res, "rooms"), i, room)
	{
		json_array_foreach(json_object_get(room, "pairs"), j, pair)
		{
			if (!strcmp(json_string_value(json_object_get(pair, "mentee")), mentee))
				return json_real_value(json_object_get(pair, "score"));
		}
	}
	return -1;
}

/* Every criterion at once: full agreement scores 100; nothing known scores 50. */
static void test_score_of_each_criterion(void **state)
{
	char err[256], rooms[256];
	json_t *res;

	(void)state;
	res = run("{\"mentors\":[{\"username\":\"sam\",\"industry\":\"IT\",\"offers\":[\"CV\","
	          "\"interviews\"],\"values\":[\"honesty\"],\"interests\":[\"chess\"],"
	          "\"communication\":[\"online\"],\"personality\":[\"calm\"],\"motivation\":4}],"
	          "\"mentees\":[{\"username\":\"lea\",\"wants_industry\":\"it\",\"expectations\":"
	          "[\"cv\",\"Interviews\"],\"values\":[\"Honesty\"],\"interests\":[\"chess\"],"
	          "\"communication\":[\"online\"],\"personality\":[\"calm\"],\"motivation\":4},"
	          "{\"username\":\"mia\"}]}",
	          err);
	assert_non_null(res);
	assert_true(pair_score(res, "lea") == 100.0);
	json_decref(res);
	/* mia alone: nothing known on her side, every criterion neutral */
	res = run("{\"mentors\":[{\"username\":\"sam\",\"industry\":\"IT\",\"values\":[\"a\"]}],"
	          "\"mentees\":[{\"username\":\"mia\"}]}",
	          err);
	assert_true(pair_score(res, "mia") == 50.0);
	rooms_text(res, rooms, sizeof(rooms));
	assert_string_equal(rooms, "sam:mia");
	json_decref(res);
	/*
	 * half the expectations met (30 x 0.5 = 15), values 1 of 3 (20 / 3), motivation 5 against
	 * 1 (5 x 0), industry not the one wished (0); the rest neutral: interests 7.5,
	 * communication 5, personality 2.5: 15 + 6.67 + 7.5 + 5 + 2.5 = 36.7
	 */
	res = run("{\"mentors\":[{\"username\":\"sam\",\"industry\":\"law\",\"offers\":[\"cv\"],"
	          "\"values\":[\"a\",\"b\"],\"motivation\":1}],"
	          "\"mentees\":[{\"username\":\"lea\",\"wants_industry\":\"IT\",\"expectations\":"
	          "[\"cv\",\"network\"],\"values\":[\"a\",\"c\"],\"motivation\":5}]}",
	          err);
	assert_true(pair_score(res, "lea") == 36.7);
	json_decref(res);
}

/*
 * Expectations only. A greedy choice gives ann the mentor who covers most of
 * hers (xen: 9 of 10, 90) and leaves bob yul (none of his 4: 0), 90 in all. The
 * best total gives ann yul (6 of 10: 60) and bob xen (3 of 4: 75): 135.
 */
static void test_best_total_not_greedy(void **state)
{
	char err[256], rooms[256];
	json_t *res;

	(void)state;
	res = run("{\"weights\":{\"expectations\":100,\"values\":0,\"interests\":0,\"industry\":0,"
	          "\"communication\":0,\"motivation\":0,\"personality\":0},"
	          "\"mentors\":[{\"username\":\"xen\",\"offers\":[\"a\",\"b\",\"c\",\"d\",\"e\","
	          "\"f\",\"g\",\"h\",\"i\"]},{\"username\":\"yul\",\"offers\":[\"a\",\"b\",\"c\","
	          "\"d\",\"e\",\"f\"]}],"
	          "\"mentees\":[{\"username\":\"ann\",\"expectations\":[\"a\",\"b\",\"c\",\"d\","
	          "\"e\",\"f\",\"g\",\"h\",\"i\",\"z\"]},"
	          "{\"username\":\"bob\",\"expectations\":[\"g\",\"h\",\"i\",\"y\"]}]}",
	          err);
	assert_non_null(res);
	rooms_text(res, rooms, sizeof(rooms));
	assert_string_equal(rooms, "xen:bob;yul:ann");
	assert_true(json_real_value(json_object_get(res, "total_score")) == 135.0);
	json_decref(res);
}

/* The same workplace, pairs the manager excludes and the minimum score are never crossed. */
static void test_constraints(void **state)
{
	char err[256], rooms[256];
	const json_t *u;
	json_t *res;

	(void)state;
	res = run("{\"mentors\":[{\"username\":\"sam\",\"workplace\":\"Acme\",\"values\":[\"a\"]},"
	          "{\"username\":\"tom\",\"values\":[\"b\"]}],"
	          "\"mentees\":[{\"username\":\"lea\",\"workplace\":\"ACME\",\"values\":[\"a\"]},"
	          "{\"username\":\"ola\",\"values\":[\"a\"]}],"
	          "\"constraints\":{\"never\":[[\"ola\",\"tom\"]]}}",
	          err);
	assert_non_null(res);
	rooms_text(res, rooms, sizeof(rooms));
	/* lea may not have sam (her workplace), ola may not have tom: lea-tom, ola-sam */
	assert_string_equal(rooms, "sam:ola;tom:lea");
	json_decref(res);

	/* with only sam: lea is excluded from him, and stays unmatched with the reason */
	res = run(
	    "{\"mentors\":[{\"username\":\"sam\",\"workplace\":\"Acme\",\"capacity\":2}],"
	    "\"mentees\":[{\"username\":\"lea\",\"workplace\":\"acme\"},{\"username\":\"ola\"}]}",
	    err);
	rooms_text(res, rooms, sizeof(rooms));
	assert_string_equal(rooms, "sam:ola");
	u = json_array_get(json_object_get(res, "unmatched"), 0);
	assert_string_equal(json_string_value(json_object_get(u, "username")), "lea");
	assert_non_null(strstr(json_string_value(json_object_get(u, "why")), "same workplace"));
	json_decref(res);

	/* allowed when the manager says so */
	res = run("{\"mentors\":[{\"username\":\"sam\",\"workplace\":\"Acme\"}],"
	          "\"mentees\":[{\"username\":\"lea\",\"workplace\":\"acme\"}],"
	          "\"constraints\":{\"same_workplace\":\"allow\"}}",
	          err);
	rooms_text(res, rooms, sizeof(rooms));
	assert_string_equal(rooms, "sam:lea");
	json_decref(res);

	/* a minimum score above the pair's (50, nothing known) leaves the mentee out */
	res = run("{\"mentors\":[{\"username\":\"sam\"}],\"mentees\":[{\"username\":\"lea\"}],"
	          "\"constraints\":{\"min_score\":60}}",
	          err);
	assert_int_equal(json_array_size(json_object_get(res, "rooms")), 0);
	assert_non_null(strstr(json_string_value(json_object_get(
	                           json_array_get(json_object_get(res, "unmatched"), 0), "why")),
	                       "minimum score"));
	json_decref(res);
}

/* Capacities make groups; more mentees than places leaves the worst fits out. */
static void test_capacity_and_groups(void **state)
{
	char err[256], rooms[256];
	json_t *res;

	(void)state;
	res = run(
	    "{\"mentors\":[{\"username\":\"gus\",\"capacity\":3,\"values\":[\"a\"]},"
	    "{\"username\":\"pat\",\"values\":[\"b\"]}],"
	    "\"mentees\":[{\"username\":\"ee1\",\"values\":[\"a\"]},{\"username\":\"ee2\","
	    "\"values\":[\"a\"]},{\"username\":\"ee3\",\"values\":[\"a\"]},{\"username\":\"ee4\","
	    "\"values\":[\"b\"]},{\"username\":\"ee5\",\"values\":[\"c\"]}]}",
	    err);
	assert_non_null(res);
	rooms_text(res, rooms, sizeof(rooms));
	assert_string_equal(rooms, "gus:ee1,ee2,ee3;pat:ee4");
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(res, "rooms"), 0), "kind")),
	                    "group");
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(res, "rooms"), 1), "kind")),
	                    "pair");
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(res, "unmatched"), 0), "username")),
	                    "ee5");
	assert_int_equal(json_integer_value(json_object_get(res, "places")), 4);
	json_decref(res);
}

/* The explanation names what the pair shares. */
static void test_explanation(void **state)
{
	char err[256];
	const json_t *why;
	json_t *res;

	(void)state;
	res = run("{\"mentors\":[{\"username\":\"sam\",\"offers\":[\"cv\",\"interviews\"],"
	          "\"values\":[\"honesty\",\"openness\"],\"industry\":\"IT\"}],"
	          "\"mentees\":[{\"username\":\"lea\",\"expectations\":[\"cv\"],\"values\":"
	          "[\"openness\"],\"wants_industry\":\"IT\"}]}",
	          err);
	why = json_object_get(
	    json_array_get(
	        json_object_get(json_array_get(json_object_get(res, "rooms"), 0), "pairs"), 0),
	    "why");
	assert_string_equal(json_string_value(json_array_get(why, 0)),
	                    "expectations met: cv (30 of 30)");
	assert_string_equal(json_string_value(json_array_get(why, 1)),
	                    "industry: IT, as wished (15 of 15)");
	assert_string_equal(json_string_value(json_array_get(why, 2)),
	                    "values in common: openness (10 of 20)");
	json_decref(res);
}

/* The same profiles in another order: the same suggestion, to the byte. */
static void test_order_does_not_matter(void **state)
{
	char err[256];
	json_t *a, *b;
	char *ta, *tb;

	(void)state;
	a = run(
	    "{\"mentors\":[{\"username\":\"mm1\",\"capacity\":2,\"values\":[\"x\"]},"
	    "{\"username\":\"mm2\",\"capacity\":2,\"values\":[\"x\"]}],"
	    "\"mentees\":[{\"username\":\"aaa\",\"values\":[\"x\"]},{\"username\":\"bbb\","
	    "\"values\":[\"x\"]},{\"username\":\"ccc\",\"values\":[\"x\"]},{\"username\":\"ddd\","
	    "\"values\":[\"x\"]}]}",
	    err);
	b = run(
	    "{\"mentees\":[{\"username\":\"ddd\",\"values\":[\"x\"]},{\"username\":\"bbb\","
	    "\"values\":[\"x\"]},{\"username\":\"aaa\",\"values\":[\"x\"]},{\"username\":\"ccc\","
	    "\"values\":[\"x\"]}],\"mentors\":[{\"username\":\"mm2\",\"capacity\":2,\"values\":"
	    "[\"x\"]},{\"username\":\"mm1\",\"capacity\":2,\"values\":[\"x\"]}]}",
	    err);
	ta = json_dumps(a, JSON_SORT_KEYS);
	tb = json_dumps(b, JSON_SORT_KEYS);
	assert_string_equal(ta, tb);
	free(ta);
	free(tb);
	json_decref(a);
	json_decref(b);
}

static void test_bad_input(void **state)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
	    {"[]", "must be a JSON object"},
	    {"{\"mentors\":[],\"mentees\":[{\"username\":\"a b\"}]}", "valid \"username\""},
	    {"{\"mentors\":[{\"username\":\"sam\"}],\"mentees\":[{\"username\":\"sam\"}]}",
	     "as a mentor and as a mentee"},
	    {"{\"mentors\":[{\"username\":\"sam\"},{\"username\":\"SAM\"}],\"mentees\":[]}",
	     "listed twice"},
	    {"{\"mentors\":[{\"username\":\"sam\",\"capacity\":6}],\"mentees\":[]}", "capacity"},
	    {"{\"mentors\":[],\"mentees\":[{\"username\":\"lea\",\"motivation\":7}]}",
	     "motivation"},
	    {"{\"mentors\":[],\"mentees\":[{\"username\":\"lea\",\"values\":[1]}]}", "every item"},
	    {"{\"mentors\":[],\"mentees\":[],\"weights\":{\"values\":50}}", "add up to 100"},
	    {"{\"mentors\":[],\"mentees\":[],\"constraints\":{\"never\":[[\"a\"]]}}", "\"never\""},
	    {"{\"mentors\":[],\"mentees\":[],\"constraints\":{\"same_workplace\":\"x\"}}",
	     "same_workplace"},
	    {"{\"mentors\":{},\"mentees\":[]}", "\"mentors\" must be a list"},
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *res = run(cases[i].json, err);

		if (res || !strstr(err, cases[i].want))
			fail_msg("%s: got \"%s\", wanted \"%s\"", cases[i].json, err,
			         cases[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_score_of_each_criterion),
	    cmocka_unit_test(test_best_total_not_greedy),
	    cmocka_unit_test(test_constraints),
	    cmocka_unit_test(test_capacity_and_groups),
	    cmocka_unit_test(test_explanation),
	    cmocka_unit_test(test_order_does_not_matter),
	    cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
