/*
 * cmd_trust.c - the two commands about whose keys this device trusts:
 * `verify USER` prints the safety number two people compare in person (at
 * their first meeting) to know that no one sits between them, and `trust
 * USER` accepts a user's changed keys after such a check. Both work from
 * pins.json; verify looks a user up in your rooms and programmes when they
 * are not pinned yet (and pins them, trust on first use). The pins, the
 * look-up and the numbers are the client core's (core/people.c: "verify",
 * "trust.show", "trust.accept"); this file parses, asks and prints.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drive.h"
#include "prompt.h"
#include "state_io.h"

/* The folded username argument, checked. Returns 0 or the usage exit code. */
static int trust_user_arg(struct cli *cli, const char *arg, char out[EM_USERNAME_MAX + 1])
{
	if (em_check_username(arg) != EM_OK)
		return cli_usage_error(cli, "'%s' is not a valid username", arg);
	em_username_fold(arg, out);
	return 0;
}

/* ---- verify ---- */

static const char verify_usage[] =
    "Usage: ementor verify USER\n"
    "\n"
    "Print the safety number of you and USER, computed on this device from your\n"
    "keys and the keys pinned for USER, and both fingerprints. Compare it with\n"
    "USER in person (at your first meeting): USER runs `ementor verify YOU` and\n"
    "must see the same 60 digits. If they differ, someone may be reading your\n"
    "messages.\n"
    "\n"
    "Options:\n"
    "  --json   {user, user_id, safety_number, your_fingerprint, their_fingerprint,\n"
    "            pinned_since, keys_changed}\n";

int cmd_verify(struct cli *cli, int argc, char **argv)
{
	char user[EM_USERNAME_MAX + 1];
	struct drive d;
	struct drive_end end = {0};
	json_t *res, *pin;
	const char *you, *them;
	int rc, first, inited = 0;

	rc = cli_parse(cli, argc, argv, NULL, verify_usage, NULL, NULL, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = trust_user_arg(cli, argv[first], user);
	if (rc)
		return rc;
	rc = drive_open(cli, &d, 0);
	inited = d.core != NULL;
	if (rc)
		goto out;
	if (!strcmp(user, d.session.username)) {
		rc = cli_usage_error(cli,
		                     "that is you: ask the other person to run `ementor verify "
		                     "%s`, and you run `ementor verify THEM`",
		                     user);
		goto out;
	}
	/* not pinned yet: the core looks in your rooms and programmes, online */
	if (drive_run(&d, json_pack("{s:s, s:s}", "cmd", "trust.show", "user", user), &end) != 0 ||
	    !end.ok) {
		rc = drive_connect(&d);
		if (rc)
			goto out;
	}
	drive_end_clear(&end);
	rc = drive_run_ok(&d, json_pack("{s:s, s:s}", "cmd", "verify", "user", user), &end);
	if (rc)
		goto out;
	res = end.result;
	pin = json_object_get(res, "pin");
	you = cli_str(res, "you", "?");
	them = cli_str(res, "user", "?");
	if (cli->json) {
		json_t *o = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "user",
		                      json_object_get(res, "user"), "user_id",
		                      json_object_get(res, "user_id"), "safety_number",
		                      json_object_get(res, "safety_number"), "your_fingerprint",
		                      json_object_get(res, "your_fingerprint"), "their_fingerprint",
		                      json_object_get(res, "their_fingerprint"), "pinned_since",
		                      json_object_get(res, "pinned_since"), "keys_changed",
		                      json_object_get(res, "keys_changed"));

		cli_print_json(o);
		json_decref(o);
	} else {
		char me_label[EM_USERNAME_MAX + 16], them_label[EM_USERNAME_MAX + 16];
		int w;

		snprintf(me_label, sizeof(me_label), "%s (you):", you);
		snprintf(them_label, sizeof(them_label), "%s:", them);
		w = (int)(strlen(me_label) > strlen(them_label) ? strlen(me_label)
		                                                : strlen(them_label));
		printf("Safety number of %s and %s:\n\n    %s\n\n", you, them,
		       cli_str(res, "safety_number", "?"));
		printf("Fingerprints:\n    %-*s %s\n    %-*s %s (pinned since %s)\n\n", w, me_label,
		       cli_str(res, "your_fingerprint", "?"), w, them_label,
		       cli_str(res, "their_fingerprint", "?"), cli_str(res, "pinned_since", "?"));
		printf(
		    "Compare this number with %s in person, for example at your first meeting:\n"
		    "%s runs `ementor verify %s` and must see exactly the same digits. If they\n"
		    "differ, someone may be intercepting your messages: do not use the room, and\n"
		    "tell your programme manager.\n",
		    them, them, you);
	}
	if (json_is_true(json_object_get(pin, "name_changed")))
		fprintf(stderr,
		        "\nWARNING: the server now calls %s \"%s\" (seen %s); see `ementor "
		        "trust %s`.\n",
		        them, cli_str(pin, "new_username", "?"), cli_str(pin, "changed_seen", "?"),
		        them);
	if (json_is_true(json_object_get(pin, "keys_changed")))
		fprintf(stderr,
		        "\nWARNING: the server now shows OTHER keys for %s (fingerprint "
		        "%s, seen %s).\n"
		        "The number above is for the keys pinned on this device. With the "
		        "new keys "
		        "it would be\n\n    %s\n\nIf %s confirms that one in person, run "
		        "`ementor "
		        "trust %s`.\n",
		        them, cli_str(pin, "new_fingerprint", "?"),
		        cli_str(pin, "changed_seen", "?"), cli_str(res, "next_safety_number", "?"),
		        them, them);
	rc = CLI_EXIT_OK;
out:
	drive_end_clear(&end);
	if (inited)
		drive_close(&d);
	return rc;
}

/* ---- trust ---- */

static const char trust_usage[] =
    "Usage: ementor trust USER [--yes]\n"
    "\n"
    "Accept USER's changed keys or name. When the server shows other keys, or\n"
    "another username, for someone than what is pinned on this device, ementor\n"
    "stops sending to rooms with them and rejects messages signed with new keys.\n"
    "USER is the name pinned on this device. Do this only after comparing the new\n"
    "fingerprint (or `ementor verify USER`) and name with USER in person.\n"
    "\n"
    "Options:\n"
    "  --yes   do not ask (for scripts)\n";

static int trust_option(void *ctx, int opt, const char *arg)
{
	*(int *)ctx = 1;
	return CLI_CONTINUE;
}

int cmd_trust(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"yes", no_argument, NULL, 'y'},
	    {NULL, 0, NULL, 0},
	};
	char user[EM_USERNAME_MAX + 1], question[160];
	struct drive d;
	struct drive_end end = {0};
	json_t *p;
	const char *name;
	int rc, first, yes = 0, inited = 0, keys_changed;

	rc = cli_parse(cli, argc, argv, opts, trust_usage, trust_option, &yes, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = trust_user_arg(cli, argv[first], user);
	if (rc)
		return rc;
	rc = drive_open_local(cli, &d);
	inited = d.core != NULL;
	if (rc)
		goto out;
	rc = drive_run_ok(&d, json_pack("{s:s, s:s}", "cmd", "trust.show", "user", user), &end);
	if (rc)
		goto out;
	p = json_object_get(end.result, "pin");
	name = cli_str(p, "user", "?");
	keys_changed = json_is_true(json_object_get(p, "keys_changed"));
	if (!json_is_true(json_object_get(p, "changed"))) {
		printf("%s's keys have not changed (fingerprint %s, pinned since %s); nothing to "
		       "do.\n",
		       name, cli_str(p, "fingerprint", "?"), cli_str(p, "pinned_since", "?"));
		rc = CLI_EXIT_OK;
		goto out;
	}
	if (json_is_true(json_object_get(p, "name_changed")))
		printf("The server now calls %s (user %lld) \"%s\".\n"
		       "  pinned name: %s (since %s)\n"
		       "  new name:    %s (seen %s)\n",
		       name, (long long)json_integer_value(json_object_get(p, "user_id")),
		       cli_str(p, "new_username", "?"), name, cli_str(p, "pinned_since", "?"),
		       cli_str(p, "new_username", "?"), cli_str(p, "changed_seen", "?"));
	if (keys_changed)
		printf("The keys of %s changed.\n"
		       "  pinned fingerprint: %s (since %s)\n"
		       "  new fingerprint:    %s (seen %s)\n",
		       name, cli_str(p, "fingerprint", "?"), cli_str(p, "pinned_since", "?"),
		       cli_str(p, "new_fingerprint", "?"), cli_str(p, "changed_seen", "?"));
	printf("Accept this only if %s confirmed it to you in person.\n", name);
	fflush(stdout);
	if (!yes) {
		int ok;

		snprintf(question, sizeof(question),
		         "Trust the new %s of %s? Type yes: ", keys_changed ? "keys" : "name",
		         name);
		ok = prompt_yes(question);
		if (ok < 0) {
			rc = cli_usage_error(cli, "no terminal to ask on: pass --yes to accept");
			goto out;
		}
		if (!ok) {
			printf("Not trusted; nothing changed.\n");
			rc = CLI_EXIT_REFUSED;
			goto out;
		}
	}
	{
		/* the change accepted is the one shown, or nothing */
		struct drive_end acc = {0};

		rc = drive_run_ok(&d,
		                  json_pack("{s:s, s:s, s:O, s:O}", "cmd", "trust.accept", "user",
		                            user, "new_fingerprint",
		                            json_object_get(p, "new_fingerprint"), "new_username",
		                            json_object_get(p, "new_username")),
		                  &acc);
		drive_end_clear(&acc);
		if (rc)
			goto out;
	}
	printf("Trusted: %s (user %lld) is now pinned as %s with fingerprint %s; rooms with "
	       "them are open again.\n",
	       name, (long long)json_integer_value(json_object_get(p, "user_id")),
	       cli_str(p, "new_username", "?"), cli_str(p, "new_fingerprint", "?"));
	rc = CLI_EXIT_OK;
out:
	drive_end_clear(&end);
	if (inited)
		drive_close(&d);
	return rc;
}
