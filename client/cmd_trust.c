/*
 * cmd_trust.c - the two commands about whose keys this device trusts:
 * `verify USER` prints the safety number two people compare in person (at
 * their first meeting) to know that no one sits between them, and `trust
 * USER` accepts a user's changed keys after such a check. Both work from
 * pins.json; verify looks a user up in your rooms and programmes when they
 * are not pinned yet (and pins them, trust on first use).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"
#include "prompt.h"

/*
 * Pins everyone the caller can see: the members and former members of their
 * rooms (room.list, room.show each) and the people of their programmes
 * (programme.list, programme.show each). Returns an exit code.
 */
static int trust_pin_all(struct msg_ctx *m)
{
	json_t *res = NULL, *item, *shown = NULL;
	size_t i;
	int rc;

	rc = msg_connect(m);
	if (rc)
		return rc;
	rc = msg_call(m, EM_OP_ROOM_LIST, NULL, &res);
	if (rc)
		return msg_report(m, rc, 0);
	json_array_foreach(json_object_get(res, "rooms"), i, item)
	{
		int64_t id = json_integer_value(json_object_get(item, "id"));

		if (id > 0 && msg_room_show(m, id, NULL) == CLI_EXIT_NET)
			goto out;
	}
	json_decref(res);
	res = NULL;
	if (msg_call(m, EM_OP_PROGRAMME_LIST, NULL, &res) != CLI_EXIT_OK)
		goto out;
	json_array_foreach(json_object_get(res, "programmes"), i, item)
	{
		int64_t id = json_integer_value(json_object_get(item, "id"));

		if (id < 1 || msg_call(m, EM_OP_PROGRAMME_SHOW,
		                       json_pack("{s:I}", "programme_id", (json_int_t)id),
		                       &shown) != CLI_EXIT_OK)
			continue;
		msg_pin_people(m, json_object_get(shown, "people"));
		json_decref(shown);
		shown = NULL;
	}
out:
	json_decref(res);
	return CLI_EXIT_OK;
}

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
	struct msg_ctx m;
	char user[EM_USERNAME_MAX + 1], safety[EM_SAFETY_STRLEN], mine[EM_FINGERPRINT_STRLEN];
	struct pin p;
	int rc, first, inited = 0;

	rc = cli_parse(cli, argc, argv, NULL, verify_usage, NULL, NULL, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = trust_user_arg(cli, argv[first], user);
	if (rc)
		return rc;
	rc = msg_init(cli, &m);
	inited = 1;
	if (rc)
		goto out;
	if (!strcmp(user, m.session.username)) {
		rc = cli_usage_error(cli,
		                     "that is you: ask the other person to run `ementor verify "
		                     "%s`, and you run `ementor verify THEM`",
		                     user);
		goto out;
	}
	if (pins_find(m.pins, user, &p) != 0) {
		rc = trust_pin_all(&m);
		if (rc)
			goto out;
		if (pins_find(m.pins, user, &p) != 0) {
			rc = cli_fail(
			    CLI_EXIT_REFUSED,
			    "%s is not in any of your rooms, so there is no key of theirs to "
			    "verify; keys are pinned when you first share a room.",
			    user);
			goto out;
		}
	}
	em_fingerprint(m.keys.keys.sign_pk, m.keys.keys.box_pk, mine);
	em_safety_number(m.keys.keys.sign_pk, m.keys.keys.box_pk, p.sign_pk, p.box_pk, safety);
	if (cli->json) {
		json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:b}", "user", p.username,
		                      "user_id", (json_int_t)p.user_id, "safety_number", safety,
		                      "your_fingerprint", mine, "their_fingerprint", p.fingerprint,
		                      "pinned_since", p.first_seen, "keys_changed", p.changed);

		cli_print_json(o);
		json_decref(o);
	} else {
		char me_label[EM_USERNAME_MAX + 16], them_label[EM_USERNAME_MAX + 16];
		int w;

		snprintf(me_label, sizeof(me_label), "%s (you):", m.session.username);
		snprintf(them_label, sizeof(them_label), "%s:", p.username);
		w = (int)(strlen(me_label) > strlen(them_label) ? strlen(me_label)
		                                                : strlen(them_label));
		printf("Safety number of %s and %s:\n\n    %s\n\n", m.session.username, p.username,
		       safety);
		printf("Fingerprints:\n    %-*s %s\n    %-*s %s (pinned since %s)\n\n", w, me_label,
		       mine, w, them_label, p.fingerprint, p.first_seen);
		printf(
		    "Compare this number with %s in person, for example at your first meeting:\n"
		    "%s runs `ementor verify %s` and must see exactly the same digits. If they\n"
		    "differ, someone may be intercepting your messages: do not use the room, and\n"
		    "tell your programme manager.\n",
		    p.username, p.username, m.session.username);
	}
	if (p.changed) {
		char next[EM_SAFETY_STRLEN];

		em_safety_number(m.keys.keys.sign_pk, m.keys.keys.box_pk, p.new_sign_pk,
		                 p.new_box_pk, next);
		if (p.name_changed)
			fprintf(stderr,
			        "\nWARNING: the server now calls %s \"%s\" (seen %s); see `ementor "
			        "trust %s`.\n",
			        p.username, p.new_username, p.changed_seen, p.username);
		if (p.keys_changed)
			fprintf(stderr,
			        "\nWARNING: the server now shows OTHER keys for %s (fingerprint "
			        "%s, seen %s).\n"
			        "The number above is for the keys pinned on this device. With the "
			        "new keys "
			        "it would be\n\n    %s\n\nIf %s confirms that one in person, run "
			        "`ementor "
			        "trust %s`.\n",
			        p.username, p.new_fingerprint, p.changed_seen, next, p.username,
			        p.username);
	}
	rc = CLI_EXIT_OK;
out:
	if (inited)
		msg_free(&m);
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

struct trust_accept {
	int64_t user_id;
	char now[STATE_TIME_LEN];
};

static int trust_accept_fn(json_t *pins, void *arg)
{
	struct trust_accept *a = arg;

	return pins_accept(pins, a->user_id, a->now);
}

int cmd_trust(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"yes", no_argument, NULL, 'y'},
	    {NULL, 0, NULL, 0},
	};
	char user[EM_USERNAME_MAX + 1], question[160];
	struct trust_accept a;
	json_t *pins = NULL;
	struct pin p;
	int rc, first, yes = 0;

	rc = cli_parse(cli, argc, argv, opts, trust_usage, trust_option, &yes, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = trust_user_arg(cli, argv[first], user);
	if (rc)
		return rc;
	rc = cli_home(cli);
	if (rc)
		return rc;
	rc = state_load(&cli->home, STATE_PINS_FILE, &pins);
	if (rc)
		return cli_home_error(cli, "read", STATE_PINS_FILE, rc);
	if (pins_find(pins, user, &p) != 0) {
		rc = cli_fail(CLI_EXIT_REFUSED,
		              "no keys are pinned for %s on this device; they are pinned when you "
		              "first share a room (`ementor verify %s` looks).",
		              user, user);
		goto out;
	}
	if (!p.changed) {
		printf("%s's keys have not changed (fingerprint %s, pinned since %s); nothing to "
		       "do.\n",
		       p.username, p.fingerprint, p.first_seen);
		rc = CLI_EXIT_OK;
		goto out;
	}
	if (p.name_changed)
		printf("The server now calls %s (user %lld) \"%s\".\n"
		       "  pinned name: %s (since %s)\n"
		       "  new name:    %s (seen %s)\n",
		       p.username, (long long)p.user_id, p.new_username, p.username, p.first_seen,
		       p.new_username, p.changed_seen);
	if (p.keys_changed)
		printf("The keys of %s changed.\n"
		       "  pinned fingerprint: %s (since %s)\n"
		       "  new fingerprint:    %s (seen %s)\n",
		       p.username, p.fingerprint, p.first_seen, p.new_fingerprint, p.changed_seen);
	printf("Accept this only if %s confirmed it to you in person.\n", p.username);
	fflush(stdout);
	if (!yes) {
		int ok;

		snprintf(question, sizeof(question),
		         "Trust the new %s of %s? Type yes: ", p.keys_changed ? "keys" : "name",
		         p.username);
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
	a.user_id = p.user_id;
	state_now(a.now);
	rc = state_update(&cli->home, STATE_PINS_FILE, trust_accept_fn, &a, NULL);
	if (rc < 0) {
		rc = cli_home_error(cli, "write", STATE_PINS_FILE, rc);
		goto out;
	}
	printf("Trusted: %s (user %lld) is now pinned as %s with fingerprint %s; rooms with "
	       "them are open again.\n",
	       p.username, (long long)p.user_id, p.new_username, p.new_fingerprint);
	rc = CLI_EXIT_OK;
out:
	json_decref(pins);
	return rc;
}
