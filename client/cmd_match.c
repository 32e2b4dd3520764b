/*
 * cmd_match.c - `ementor match suggest FILE` (rooms suggested from the
 * profiles in FILE, computed on this device by core/match.c, with why),
 * `ementor match suggest --programme ID` (the same from the profiles the
 * participants filled in, opened and checked on this device by
 * core/profile.c; cmd_profile.c fetches them) and
 * `ementor match accept FILE --programme ID` (the rooms of a suggestion,
 * possibly edited by the manager, created with room.create). The profiles
 * never go to the server; only the rooms the manager accepts do, as any
 * room.create would. docs/MATCHING.md has the file layouts and the score.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "match.h"
#include "state_io.h"

/* ---- match suggest ---- */

static const char match_suggest_usage[] =
    "Usage: ementor match suggest FILE [--json]\n"
    "       ementor match suggest --programme ID [FILE] [--json]\n"
    "\n"
    "Suggest pair and group rooms for a programme from the mentors' and mentees'\n"
    "profiles: each mentee gets the mentor place that gives the best total score\n"
    "over the course's criteria (expectations, values, interests, industry,\n"
    "communication, motivation, personality), never across a hard constraint (the\n"
    "same workplace, pairs you exclude, a minimum score). Each suggestion says why.\n"
    "With FILE alone the profiles are in FILE (JSON; docs/MATCHING.md) and nothing\n"
    "is sent. With --programme the profiles are the ones the programme's mentors and\n"
    "mentees filled in (`ementor profile fill`), fetched sealed and opened on this\n"
    "device; each is checked against its author's signature, and one that fails is\n"
    "left out and listed with why. FILE may then add \"constraints\" and \"weights\".\n"
    "Save it with --json, edit it if you like, and create the rooms with\n"
    "`ementor match accept`.\n";

static void match_print(json_t *res)
{
	json_t *room, *pair, *why, *u;
	size_t i, j, k;

	printf("%lld room(s) for %lld of %lld mentees (%lld mentor places); total score %.1f\n",
	       (long long)json_array_size(json_object_get(res, "rooms")),
	       (long long)(json_integer_value(json_object_get(res, "mentees")) -
	                   (json_int_t)json_array_size(json_object_get(res, "unmatched"))),
	       (long long)json_integer_value(json_object_get(res, "mentees")),
	       (long long)json_integer_value(json_object_get(res, "places")),
	       json_real_value(json_object_get(res, "total_score")));
	json_array_foreach(json_object_get(res, "rooms"), i, room)
	{
		printf("\n%zu. %s room, mentor %s, score %.1f\n", i + 1, cli_str(room, "kind", "?"),
		       cli_str(room, "mentor", "?"),
		       json_real_value(json_object_get(room, "score")));
		json_array_foreach(json_object_get(room, "pairs"), j, pair)
		{
			printf("   %-20s %5.1f  ", cli_str(pair, "mentee", "?"),
			       json_real_value(json_object_get(pair, "score")));
			json_array_foreach(json_object_get(pair, "why"), k, why)
			{
				printf("%s%s", k ? "; " : "", json_string_value(why));
			}
			printf("\n");
		}
	}
	if (json_array_size(json_object_get(res, "unmatched")))
		printf("\nNot matched:\n");
	json_array_foreach(json_object_get(res, "unmatched"), i, u)
	{
		printf("   %-20s %s\n", cli_str(u, "username", "?"), cli_str(u, "why", ""));
	}
	if (json_array_size(json_object_get(res, "idle_mentors"))) {
		printf("\nMentors without a mentee:");
		json_array_foreach(json_object_get(res, "idle_mentors"), i, u)
		{
			printf(" %s", json_string_value(u));
		}
		printf("\n");
	}
}

static int match_suggest_option(void *ctx, int opt, const char *arg)
{
	(void)opt;
	*(const char **)ctx = arg;
	return CLI_CONTINUE;
}

int cmd_match_suggest(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"programme", required_argument, NULL, 'p'},
	                                     {NULL, 0, NULL, 0}};
	const char *programme_arg = NULL, *file = NULL;
	json_error_t je;
	json_t *in = NULL, *res = NULL, *left_out = NULL, *extra = NULL, *u;
	int64_t programme = 0;
	char err[256];
	size_t i;
	int rc, first;

	rc = cli_parse(cli, argc, argv, opts, match_suggest_usage, match_suggest_option,
	               &programme_arg, 0, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (first < argc)
		file = argv[first];
	if (!file && !programme_arg)
		return cli_usage_error(cli, "give a profiles FILE or --programme ID");
	if (programme_arg &&
	    (rc = cli_programme_ref(cli, programme_arg, &programme)) != CLI_CONTINUE)
		return rc;
	rc = CLI_EXIT_OK;
	if (file && !(extra = json_load_file(file, JSON_REJECT_DUPLICATES, &je))) {
		rc = cli_fail(CLI_EXIT_LOCAL, "%s: line %d: %s", file, je.line, je.text);
		goto out;
	}
	if (programme) {
		if (!(in = profile_match_load(cli, programme, &left_out))) {
			rc = CLI_EXIT_REFUSED;
			goto out;
		}
		/* the manager's file adds constraints and weights, never profiles */
		if (json_object_get(extra, "constraints"))
			json_object_set(in, "constraints", json_object_get(extra, "constraints"));
		if (json_object_get(extra, "weights"))
			json_object_set(in, "weights", json_object_get(extra, "weights"));
	} else {
		in = extra;
		extra = NULL;
	}
	if (!(res = match_suggest(in, err, sizeof(err)))) {
		rc = cli_fail(CLI_EXIT_USAGE, "%s: %s", file ? file : "the profiles", err);
		goto out;
	}
	if (left_out)
		json_object_set(res, "left_out", left_out);
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	match_print(res);
	if (json_array_size(left_out))
		printf("\nLeft out (their profile could not be verified, so it was not used):\n");
	json_array_foreach(left_out, i, u)
	{
		char *name = text_for_terminal(cli_str(u, "username", "?"),
		                               strlen(cli_str(u, "username", "?")));
		char *why = text_for_terminal(cli_str(u, "why", ""), strlen(cli_str(u, "why", "")));

		printf("   %-20s %s\n", name ? name : "?", why ? why : "");
		free(name);
		free(why);
	}
out:
	json_decref(in);
	json_decref(extra);
	json_decref(res);
	json_decref(left_out);
	return rc;
}

/* ---- match accept ---- */

static const char match_accept_usage[] =
    "Usage: ementor match accept FILE --programme ID\n"
    "\n"
    "Create the rooms of a suggestion (the JSON `match suggest --json` printed,\n"
    "edited or not: each room's \"mentor\" and \"mentees\") in a programme you\n"
    "manage, one room.create each; a room the server refuses is reported and the\n"
    "others are still made. Every member must already be in the programme.\n";

static int match_accept_option(void *ctx, int opt, const char *arg)
{
	(void)opt;
	*(const char **)ctx = arg;
	return CLI_CONTINUE;
}

int cmd_match_accept(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"programme", required_argument, NULL, 'p'},
	                                     {NULL, 0, NULL, 0}};
	const char *programme_arg = NULL;
	json_error_t je;
	json_t *in = NULL, *room, *out = NULL;
	int64_t programme;
	size_t i, made = 0, refused = 0;
	int rc, first;

	rc = cli_parse(cli, argc, argv, opts, match_accept_usage, match_accept_option,
	               &programme_arg, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (!programme_arg)
		return cli_usage_error(cli, "--programme is required");
	if ((rc = cli_programme_ref(cli, programme_arg, &programme)) != CLI_CONTINUE)
		return rc;
	rc = CLI_EXIT_OK;
	if (!(in = json_load_file(argv[first], JSON_REJECT_DUPLICATES, &je))) {
		rc = cli_fail(CLI_EXIT_LOCAL, "%s: line %d: %s", argv[first], je.line, je.text);
		goto out;
	}
	if (!json_is_array(json_object_get(in, "rooms"))) {
		rc = cli_fail(CLI_EXIT_USAGE,
		              "%s: no \"rooms\" list (the output of `match suggest "
		              "--json`)",
		              argv[first]);
		goto out;
	}
	out = json_array();
	json_array_foreach(json_object_get(in, "rooms"), i, room)
	{
		json_t *mentees = json_object_get(room, "mentees"), *members, *res = NULL, *m;
		const char *mentor = json_string_value(json_object_get(room, "mentor"));
		size_t j;
		int r;

		if (!mentor || !json_is_array(mentees) || !json_array_size(mentees) ||
		    json_array_size(mentees) > EM_GROUP_MENTEES_MAX) {
			fprintf(stderr,
			        "room %zu: needs a \"mentor\" and 1 to %d \"mentees\"; skipped\n",
			        i + 1, EM_GROUP_MENTEES_MAX);
			refused++;
			continue;
		}
		members = json_pack("[s]", mentor);
		json_array_foreach(mentees, j, m)
		{
			json_array_append(members, m);
		}
		r = cli_request(cli, EM_OP_ROOM_CREATE,
		                json_pack("{s:I, s:s, s:o}", "programme_id", (json_int_t)programme,
		                          "kind", json_array_size(mentees) > 1 ? "group" : "pair",
		                          "members", members),
		                &res);
		if (r) {
			refused++;
			fprintf(stderr, "room %zu (mentor %s) was not created\n", i + 1, mentor);
		} else {
			made++;
			json_array_append(out, json_object_get(res, "room"));
			if (!cli->json)
				printf("Room %lld: %s room of %s with %zu mentee(s).\n",
				       (long long)json_integer_value(
				           json_object_get(json_object_get(res, "room"), "id")),
				       json_array_size(mentees) > 1 ? "group" : "pair", mentor,
				       json_array_size(mentees));
		}
		json_decref(res);
	}
	if (cli->json) {
		json_t *doc = json_pack("{s:O, s:I}", "rooms", out, "refused", (json_int_t)refused);

		cli_print_json(doc);
		json_decref(doc);
	} else
		printf("%zu room(s) created, %zu not.\n", made, refused);
	rc = refused ? CLI_EXIT_REFUSED : CLI_EXIT_OK;
out:
	json_decref(in);
	json_decref(out);
	return rc;
}
