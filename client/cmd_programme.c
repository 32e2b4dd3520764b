/*
 * cmd_programme.c - programme and invite commands: a manager creates a
 * programme, lists and inspects programmes, and makes the invite codes
 * that bring managers, mentors and mentees into one. Arguments are checked
 * here as far as the client can (dates, ranges) so that typing mistakes get
 * a usage message instead of a round trip; the server checks everything again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "drive.h"
#include "state.h"

static void programme_print_one(json_t *p)
{
	json_t *max = json_object_get(p, "max_group_mentees");

	printf("Programme %lld: %s\n", (long long)json_integer_value(json_object_get(p, "id")),
	       cli_str(p, "name", "-"));
	printf("  Runs:        %s to %s\n", cli_str(p, "starts_on", "-"),
	       cli_str(p, "ends_on", "-"));
	if (json_is_integer(max))
		printf("  Group rooms: up to %lld mentees\n", (long long)json_integer_value(max));
	if (json_is_boolean(json_object_get(p, "agreement_required")))
		printf("  Agreement:   %s\n", json_is_true(json_object_get(p, "agreement_required"))
		                                  ? "required: every party signs before messaging"
		                                  : "optional");
	if (json_is_integer(json_object_get(p, "retention_days")))
		printf("  Retention:   messages deleted %lld days after the end%s%s\n",
		       (long long)json_integer_value(json_object_get(p, "retention_days")),
		       json_is_string(json_object_get(p, "purged_at")) ? "; purged " : "",
		       cli_str(p, "purged_at", ""));
	if (json_is_string(json_object_get(p, "ended_early_at")))
		printf("  Ended early: %s\n", cli_str(p, "ended_early_at", "-"));
	if (json_is_string(json_object_get(p, "archived_at")))
		printf("  Archived:    %s (its rooms are closed)\n",
		       cli_str(p, "archived_at", "-"));
	printf("  Created:     %s\n", cli_str(p, "created_at", "-"));
}

/* ---- programme create ---- */

/*
 * programme.settings through the client core, which signs the setting with
 * this device's key (SECURITY.md G1). Returns an exit code; *res is the
 * server's result (caller json_decref()s).
 */
static int programme_sign_settings(struct cli *cli, int64_t id, int required, json_t **res)
{
	struct drive d;
	struct drive_end end;
	int rc;

	*res = NULL;
	rc = drive_open(cli, &d, 1);
	if (rc)
		goto out;
	if (drive_run(&d,
	              json_pack("{s:s, s:I, s:b}", "cmd", "programme.settings", "programme",
	                        (json_int_t)id, "agreement_required", required),
	              &end) != 0) {
		rc = CLI_EXIT_LOCAL;
		goto out;
	}
	if (!end.ok) {
		rc = cli_fail(end.exit, "%s (%s)", end.message, end.code);
		drive_end_clear(&end);
		goto out;
	}
	*res = end.result;
	end.result = NULL;
	drive_end_clear(&end);
out:
	drive_close(&d);
	return rc;
}

static const char programme_create_usage[] =
    "Usage: ementor programme create --name NAME --starts YYYY-MM-DD --ends YYYY-MM-DD\n"
    "                                [--max-group-mentees N] [--agreement required|optional]\n"
    "                                [--retention-days N]\n"
    "\n"
    "Create a programme and become its manager (managers only).\n"
    "\n"
    "Options:\n"
    "  --name NAME              1 to 100 characters\n"
    "  --starts YYYY-MM-DD      first day (or D.M.YYYY: 8.12.2026)\n"
    "  --ends YYYY-MM-DD        last day, after the first\n"
    "  --max-group-mentees N    mentees per group room, 2 to 5 (default 5)\n"
    "  --agreement required|optional\n"
    "                           whether every party of a room must sign its mentoring\n"
    "                           agreement before the room's messages can be read\n"
    "                           (default required)\n"
    "  --retention-days N       days after the end date after which the programme's\n"
    "                           encrypted messages and keys are deleted, 1 to 3650\n"
    "                           (default 365)\n";

struct programme_create_args {
	const char *name;
	const char *starts;
	const char *ends;
	const char *max;
	const char *agreement;
	const char *retention;
};

static int programme_create_option(void *ctx, int opt, const char *arg)
{
	struct programme_create_args *a = ctx;

	if (opt == 'n')
		a->name = arg;
	else if (opt == 's')
		a->starts = arg;
	else if (opt == 'e')
		a->ends = arg;
	else if (opt == 'm')
		a->max = arg;
	else if (opt == 'a')
		a->agreement = arg;
	else if (opt == 'r')
		a->retention = arg;
	return CLI_CONTINUE;
}

int cmd_programme_create(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"starts", required_argument, NULL, 's'},
	    {"ends", required_argument, NULL, 'e'},
	    {"max-group-mentees", required_argument, NULL, 'm'},
	    {"agreement", required_argument, NULL, 'a'},
	    {"retention-days", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	struct programme_create_args a = {NULL, NULL, NULL, NULL, NULL, NULL};
	json_t *args = NULL, *res = NULL, *p;
	char starts[11], ends[11];
	int64_t max = 0, retention = 0;
	int rc, first;

	rc = cli_parse(cli, argc, argv, opts, programme_create_usage, programme_create_option, &a,
	               0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (!a.name || !a.starts || !a.ends)
		return cli_usage_error(cli, "--name, --starts and --ends are required");
	if (!*a.name)
		return cli_usage_error(cli, "--name must not be empty");
	if (text_date(a.starts, starts))
		return cli_usage_error(cli, "--starts '%s' is not a date (YYYY-MM-DD or D.M.YYYY)",
		                       a.starts);
	if (text_date(a.ends, ends))
		return cli_usage_error(cli, "--ends '%s' is not a date (YYYY-MM-DD or D.M.YYYY)",
		                       a.ends);
	a.starts = starts;
	a.ends = ends;
	if (strcmp(a.ends, a.starts) <= 0)
		return cli_usage_error(cli, "--ends must be after --starts");
	if (a.max &&
	    (cli_parse_id(a.max, &max) || max < EM_GROUP_MENTEES_MIN || max > EM_GROUP_MENTEES_MAX))
		return cli_usage_error(cli, "--max-group-mentees must be %d to %d",
		                       EM_GROUP_MENTEES_MIN, EM_GROUP_MENTEES_MAX);
	if (a.agreement && strcmp(a.agreement, "required") != 0 &&
	    strcmp(a.agreement, "optional") != 0)
		return cli_usage_error(cli, "--agreement must be required or optional");
	if (a.retention &&
	    (cli_parse_id(a.retention, &retention) || retention > EM_RETENTION_DAYS_MAX))
		return cli_usage_error(cli, "--retention-days must be 1 to %d",
		                       EM_RETENTION_DAYS_MAX);

	args =
	    json_pack("{s:s, s:s, s:s}", "name", a.name, "starts_on", a.starts, "ends_on", a.ends);
	if (args && a.max)
		json_object_set_new(args, "max_group_mentees", json_integer(max));
	if (args && a.retention)
		json_object_set_new(args, "retention_days", json_integer(retention));
	rc = cli_request(cli, EM_OP_PROGRAMME_CREATE, args, &res);
	if (rc)
		goto out;
	if (a.agreement && !strcmp(a.agreement, "optional")) {
		/* Doing without agreements lowers what members' clients check before
		 * sealing a room key: they believe it only with our signature. */
		int64_t id =
		    json_integer_value(json_object_get(json_object_get(res, "programme"), "id"));

		json_decref(res);
		rc = programme_sign_settings(cli, id, 0, &res);
		if (rc)
			goto out;
	}
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	p = json_object_get(res, "programme");
	printf("Created programme %lld \"%s\" (%s to %s); you are its manager.\n",
	       (long long)json_integer_value(json_object_get(p, "id")), cli_str(p, "name", "-"),
	       cli_str(p, "starts_on", "-"), cli_str(p, "ends_on", "-"));
out:
	json_decref(res);
	return rc;
}

/* ---- programme list ---- */

static const char programme_list_usage[] = "Usage: ementor programme list\n"
                                           "\n"
                                           "List the programmes you manage or take part in.\n";

int cmd_programme_list(struct cli *cli, int argc, char **argv)
{
	static const char *const head[] = {"ID", "NAME", "STARTS", "ENDS", "GROUP MAX"};
	struct cli_table t;
	json_t *res = NULL, *list, *p;
	size_t i;
	int rc, first;

	cli_table_init(&t, 5, head);
	rc = cli_parse(cli, argc, argv, NULL, programme_list_usage, NULL, NULL, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_request(cli, EM_OP_PROGRAMME_LIST, NULL, &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	list = json_object_get(res, "programmes");
	if (!json_array_size(list)) {
		printf("No programmes.\n");
		goto out;
	}
	json_array_foreach(list, i, p)
	{
		char id[24], max[24];
		const char *row[] = {cli_int_text(p, "id", id, sizeof(id)), cli_str(p, "name", "-"),
		                     cli_str(p, "starts_on", "-"), cli_str(p, "ends_on", "-"),
		                     cli_int_text(p, "max_group_mentees", max, sizeof(max))};

		if (cli_table_add(&t, row)) {
			rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
			goto out;
		}
	}
	cli_table_print(&t, stdout, "");
out:
	cli_table_free(&t);
	json_decref(res);
	return rc;
}

/* ---- programme show ---- */

static const char programme_show_usage[] =
    "Usage: ementor programme show ID\n"
    "\n"
    "Show a programme and its people, with each person's key fingerprint.\n";

int cmd_programme_show(struct cli *cli, int argc, char **argv)
{
	static const char *const head[] = {"USERNAME", "ROLE", "DISPLAY NAME", "FINGERPRINT"};
	struct cli_table t;
	json_t *res = NULL, *people, *u;
	int64_t id;
	size_t i;
	int rc, first;

	cli_table_init(&t, 4, head);
	rc = cli_parse(cli, argc, argv, NULL, programme_show_usage, NULL, NULL, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if ((rc = cli_programme_ref(cli, argv[first], &id)) != CLI_CONTINUE)
		return rc;
	rc = cli_request(cli, EM_OP_PROGRAMME_SHOW,
	                 json_pack("{s:I}", "programme_id", (json_int_t)id), &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	programme_print_one(json_object_get(res, "programme"));
	people = json_object_get(res, "people");
	if (!json_array_size(people)) {
		printf("\nNo people yet.\n");
		goto out;
	}
	json_array_foreach(people, i, u)
	{
		char fp[EM_FINGERPRINT_STRLEN];
		const char *row[] = {cli_str(u, "username", "-"), cli_str(u, "role", "-"),
		                     cli_str(u, "display_name", "-"), fp};

		cli_fingerprint(u, fp);
		if (cli_table_add(&t, row)) {
			rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
			goto out;
		}
	}
	printf("\n");
	cli_table_print(&t, stdout, "");
out:
	cli_table_free(&t);
	json_decref(res);
	return rc;
}

/* ---- invite create ---- */

static const char invite_create_usage[] =
    "Usage: ementor invite create --programme ID --role mentor|mentee|manager\n"
    "                             [--expires-days N] [--email ADDRESS [--lang en|pl]]\n"
    "\n"
    "Make an invite code for one person to join a programme (managers of that\n"
    "programme only). A manager invite makes a co-manager. The code is shown\n"
    "once: pass it on to the person, who runs `ementor register --invite CODE`.\n"
    "\n"
    "Options:\n"
    "  --programme ID      the programme\n"
    "  --role ROLE         mentor, mentee or manager\n"
    "  --expires-days N    days the code stays valid, 1 to 90 (default 14)\n"
    "  --email ADDRESS     also e-mail the person a link with the code (the\n"
    "                      server must have an SMTP relay); the invite's state\n"
    "                      is in `ementor invite list`\n"
    "  --lang en|pl        the language of that e-mail (default en)\n"
    "\n"
    "With --json, the result (code, role, programme_id, expires_at) is printed as\n"
    "JSON.\n";

struct invite_create_args {
	const char *programme;
	const char *role;
	const char *days;
	const char *email, *lang;
};

static int invite_create_option(void *ctx, int opt, const char *arg)
{
	struct invite_create_args *a = ctx;

	if (opt == 'p')
		a->programme = arg;
	else if (opt == 'r')
		a->role = arg;
	else if (opt == 'd')
		a->days = arg;
	else if (opt == 'e')
		a->email = arg;
	else if (opt == 'l')
		a->lang = arg;
	return CLI_CONTINUE;
}

int cmd_invite_create(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"programme", required_argument, NULL, 'p'},    {"role", required_argument, NULL, 'r'},
	    {"expires-days", required_argument, NULL, 'd'}, {"email", required_argument, NULL, 'e'},
	    {"lang", required_argument, NULL, 'l'},         {NULL, 0, NULL, 0},
	};
	struct invite_create_args a = {NULL, NULL, NULL, NULL, NULL};
	json_t *args = NULL, *res = NULL;
	char fp[256];
	struct home_keys k;
	int64_t programme, days = 0;
	const char *role;
	int rc, first;

	rc = cli_parse(cli, argc, argv, opts, invite_create_usage, invite_create_option, &a, 0, 0,
	               &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (!a.programme || !a.role)
		return cli_usage_error(cli, "--programme and --role are required");
	if ((rc = cli_programme_ref(cli, a.programme, &programme)) != CLI_CONTINUE)
		return rc;
	if (strcmp(a.role, "mentor") != 0 && strcmp(a.role, "mentee") != 0 &&
	    strcmp(a.role, "manager") != 0)
		return cli_usage_error(cli, "--role must be mentor, mentee or manager");
	if (a.days && (cli_parse_id(a.days, &days) || days > 90))
		return cli_usage_error(cli, "--expires-days must be 1 to 90");

	args = json_pack("{s:I, s:s}", "programme_id", (json_int_t)programme, "role", a.role);
	if (args && a.days)
		json_object_set_new(args, "expires_in_days", json_integer(days));
	if (args && a.email)
		json_object_set_new(args, "email", json_string(a.email));
	if (args && a.lang)
		json_object_set_new(args, "lang", json_string(a.lang));
	rc = cli_request(cli, EM_OP_INVITE_CREATE, args, &res);
	if (rc)
		goto out;
	role = cli_str(res, "role", a.role);
	/* the code with this manager's key fingerprint (PROTOCOL.md 14.1): made here, not by the
	 * server, so it anchors the profiles the invitee seals */
	fp[0] = '\0';
	if (strcmp(role, "manager") != 0 && home_keys_load(&cli->home, &k) == 0) {
		char spaced[EM_FINGERPRINT_STRLEN];
		size_t n = 0;

		em_fingerprint(k.keys.sign_pk, k.keys.box_pk, spaced);
		home_keys_wipe(&k);
		n = (size_t)snprintf(fp, sizeof(fp), "%s&m=", cli_str(res, "code", "-"));
		for (const char *c = spaced; *c && n + 1 < sizeof(fp); c++)
			if (*c != ' ')
				fp[n++] = *c;
		fp[n] = '\0';
		json_object_set_new(res, "code_with_key", json_string(fp));
	}
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	/* mentor, mentee, manager: all take "a" */
	printf("Invite code for a %s in programme %lld (expires %s):\n", role, (long long)programme,
	       cli_str(res, "expires_at", "-"));
	printf("  %s\n", cli_str(res, "code", "-"));
	if (fp[0])
		printf(
		    "The same with your key's fingerprint, so that their client can seal their "
		    "profile\nto you (`ementor register --invite` and `ementor profile fill` take "
		    "it); give\nthem this one if you can:\n  %s\n",
		    fp);
	if (a.email)
		printf("E-mailed to %s as a link (invite %lld; `ementor invite list --programme "
		       "%lld` shows whether it went out).\n",
		       a.email, (long long)json_integer_value(json_object_get(res, "invite_id")),
		       (long long)programme);
out:
	json_decref(res);
	return rc;
}

static const char invite_accept_usage[] =
    "Usage: ementor invite accept CODE\n"
    "\n"
    "Join another programme with this account. Roles are per programme: a mentor\n"
    "may be a mentee in another programme and the other way round; a manager stays\n"
    "a manager (and may mentor a room of a programme they manage: `room add`).\n";

int cmd_invite_accept(struct cli *cli, int argc, char **argv)
{
	json_t *res = NULL;
	int rc, first;

	rc = cli_parse(cli, argc, argv, NULL, invite_accept_usage, NULL, NULL, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_request(cli, EM_OP_INVITE_ACCEPT,
	                 json_pack("{s:s}", "invite", cli_invite_code(argv[first])), &res);
	if (rc)
		goto out;
	if (cli->json)
		cli_print_json(res);
	else
		printf("You joined programme %lld.\n",
		       (long long)json_integer_value(
		           json_object_get(json_object_get(res, "programme"), "id")));
	profile_anchor_after_join(
	    cli, json_integer_value(json_object_get(json_object_get(res, "programme"), "id")),
	    argv[first]);
out:
	json_decref(res);
	return rc;
}
