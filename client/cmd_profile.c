/*
 * cmd_profile.c - participants' profiles for matching (PROTOCOL.md section
 * 14, MATCHING.md): `profile questions` (a programme's questions for
 * mentors or mentees; a manager edits them), `profile fill` (a mentor or
 * mentee answers, sealed to the managers their device verified), `profile
 * show` (your own profile, or a manager's view of the programme's) and
 * `profile anchor` (a manager's key fingerprint recorded as verified), plus
 * profile_match_load(), which `match suggest --programme` calls.
 *
 * DESIGN. The sealing, the choice of readers and every check on what the
 * server hands back are the client core's (core/profile.c,
 * core/profile_form.c): this file parses options and prints. Texts that came
 * through the server are made safe for the terminal before printing.
 *
 * Thread: main only.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drive.h"
#include "profile_form.h"
#include "state_io.h"

#define PROFILE_ANSWER_OPTS 64

struct profile_args {
	const char *role, *file, *key;
	int64_t programme;
	const char *answers[PROFILE_ANSWER_OPTS]; /* "ID=VALUE" */
	size_t nanswers;
	int bad, replace, pl;
};

static int profile_option(void *ctx, int opt, const char *arg)
{
	struct profile_args *a = ctx;

	switch (opt) {
	case 'r':
		a->role = arg;
		break;
	case 'p':
		if (cli_parse_id(arg, &a->programme))
			a->bad = 1;
		break;
	case 'f':
		a->file = arg;
		break;
	case 'k':
		a->key = arg;
		break;
	case 'x':
		a->replace = 1;
		break;
	case 'l':
		a->pl = arg && !strcmp(arg, "pl");
		break;
	case 'a':
		if (a->nanswers == PROFILE_ANSWER_OPTS)
			return cli_fail(CLI_EXIT_USAGE, "at most %d answers", PROFILE_ANSWER_OPTS);
		a->answers[a->nanswers++] = arg;
		break;
	default:
		break;
	}
	return CLI_CONTINUE;
}

static const struct option profile_opts[] = {
    {"role", required_argument, NULL, 'r'},
    {"programme", required_argument, NULL, 'p'},
    {"file", required_argument, NULL, 'f'},
    {"set", required_argument, NULL, 'f'},
    {"manager-key", required_argument, NULL, 'k'},
    {"replace", no_argument, NULL, 'x'},
    {"lang", required_argument, NULL, 'l'},
    {"answer", required_argument, NULL, 'a'},
    {NULL, 0, NULL, 0},
};

static const char profile_usage[] =
    "Usage: ementor profile questions --programme ID --role mentor|mentee [--set FILE]\n"
    "                                 [--lang en|pl]\n"
    "       ementor profile fill --programme ID [--answer ID=VALUE]... [--file FILE]\n"
    "                            [--manager-key FINGERPRINT|LINK] [--replace]\n"
    "       ementor profile show --programme ID\n"
    "       ementor profile anchor --programme ID --manager-key FINGERPRINT|LINK\n"
    "\n"
    "Your profile in a programme, for matching mentors with mentees: your needs\n"
    "and wishes (a mentee), your skills and experience (a mentor), and the words\n"
    "the matching compares (docs/MATCHING.md). `profile questions` shows what is\n"
    "asked; a manager changes it with --set FILE (JSON: {\"title\", \"questions\":\n"
    "[{\"id\", \"kind\": \"words\"|\"line\"|\"text\"|\"scale\", \"text\", \"text_pl\"}]}), a new\n"
    "version signed by them. `profile fill` answers (--answer values=honesty,openness;\n"
    "words are comma-separated, scales 1 to 5; --file holds {\"ID\": answer}); what\n"
    "you answered before stays unless you give --replace or an empty answer.\n"
    "\n"
    "Your answers are sealed on this device to the programme's managers this device\n"
    "verified, and to you; the server cannot read them. A manager is verified by the\n"
    "key fingerprint they gave you outside the server: the invite link their own\n"
    "client made carries it (...#join=CODE&m=FINGERPRINT), or they read it out\n"
    "(`ementor whoami`). Give it once with --manager-key. A manager the server names\n"
    "whom you have not verified is listed, never sealed to.\n";

static char *safe(const char *s)
{
	char *out = text_for_terminal(s ? s : "", strlen(s ? s : ""));

	return out ? out : strdup("?");
}

static void print_safe(const char *before, const char *s, const char *after)
{
	char *t = safe(s);

	printf("%s%s%s", before, t, after);
	free(t);
}

static int profile_begin(struct cli *cli, int argc, char **argv, struct profile_args *a)
{
	int first, rc = cli_parse(cli, argc, argv, profile_opts, profile_usage, profile_option, a,
	                          0, 0, &first);

	if (rc != CLI_CONTINUE)
		return rc;
	if (a->bad || !a->programme)
		return cli_usage_error(cli, "--programme ID is required");
	if (a->role && strcmp(a->role, "mentor") && strcmp(a->role, "mentee"))
		return cli_usage_error(cli, "--role is mentor or mentee");
	return CLI_CONTINUE;
}

/* Runs cmd on a fresh connection; prints the JSON result with --json. 0 or an exit code. */
static int profile_run(struct cli *cli, json_t *cmd, struct drive_end *end, int print_json)
{
	struct drive d = {0};
	int rc = drive_open(cli, &d, 1);

	if (!rc)
		rc = drive_run_ok(&d, cmd, end);
	else
		json_decref(cmd);
	if (d.core)
		drive_close(&d);
	if (!rc && cli->json && print_json)
		cli_print_json(end->result);
	return rc;
}

static void print_value(json_t *v)
{
	json_t *w;
	size_t i;

	if (json_is_integer(v))
		printf("%lld", (long long)json_integer_value(v));
	else if (json_is_string(v))
		print_safe("", json_string_value(v), "");
	else if (json_is_array(v))
		json_array_foreach(v, i, w)
		{
			print_safe(i ? ", " : "", json_string_value(w), "");
		}
	else
		printf("-");
}

static const char *qtext(json_t *q, int pl)
{
	const char *t = pl ? cli_str(q, "text_pl", NULL) : NULL;

	return t ? t : cli_str(q, "text", "");
}

int cmd_profile_questions(struct cli *cli, int argc, char **argv)
{
	struct profile_args a = {0};
	struct drive_end end = {0};
	json_error_t err;
	json_t *q, *doc;
	size_t i;
	int rc;

	if ((rc = profile_begin(cli, argc, argv, &a)) != CLI_CONTINUE)
		return rc;
	if (!a.role)
		return cli_usage_error(cli, "--role mentor|mentee is required");
	if (a.file) {
		doc = json_load_file(a.file, JSON_REJECT_DUPLICATES | JSON_PRESERVE_ORDER, &err);
		if (!doc)
			return cli_fail(CLI_EXIT_USAGE, "%s: not JSON (%s, line %d)", a.file,
			                err.text, err.line);
		rc = profile_run(cli,
		                 json_pack("{s:s, s:I, s:s, s:o}", "cmd", "profile.edit",
		                           "programme", (json_int_t)a.programme, "role", a.role,
		                           "doc", doc),
		                 &end, 1);
		if (!rc && !cli->json)
			printf(
			    "The %s profile questions of programme %lld are now version %lld, "
			    "signed by you.\n",
			    a.role, (long long)a.programme,
			    (long long)json_integer_value(json_object_get(end.result, "version")));
		drive_end_clear(&end);
		return rc;
	}
	rc = profile_run(cli,
	                 json_pack("{s:s, s:I, s:s}", "cmd", "profile.form", "programme",
	                           (json_int_t)a.programme, "role", a.role),
	                 &end, 1);
	if (rc || cli->json)
		goto out;
	print_safe("",
	           a.pl && cli_str(end.result, "title_pl", NULL)
	               ? cli_str(end.result, "title_pl", "")
	               : cli_str(end.result, "title", "?"),
	           "");
	printf(" (version %lld%s",
	       (long long)json_integer_value(json_object_get(end.result, "version")),
	       json_is_true(json_object_get(end.result, "default")) ? ", the built-in questions"
	                                                            : "");
	if (cli_str(end.result, "signed_by", NULL))
		print_safe(", signed by ", cli_str(end.result, "signed_by", ""), "");
	printf(")\n");
	json_array_foreach(json_object_get(end.result, "questions"), i, q)
	{
		print_safe("  ", cli_str(q, "id", "?"), "");
		print_safe(" [", cli_str(q, "kind", "?"), "");
		printf("%s] ", !strcmp(cli_str(q, "kind", ""), "scale") ? " 1-5" : "");
		print_safe("", qtext(q, a.pl), "\n");
	}
out:
	drive_end_clear(&end);
	return rc;
}

static void print_readers(json_t *res)
{
	json_t *r;
	size_t i;

	printf("Sealed to you");
	json_array_foreach(json_object_get(res, "readers"), i, r)
	{
		print_safe(", ", cli_str(r, "username", "?"), "");
		printf(" (verified by %s)", !strcmp(cli_str(r, "via", ""), "agreement")
		                                ? "a signed agreement"
		                                : "key fingerprint");
	}
	printf(".\n");
	json_array_foreach(json_object_get(res, "not_sealed_to"), i, r)
	{
		print_safe("NOT sealed to ", cli_str(r, "username", "?"),
		           ", whom the server names ");
		print_safe("as a manager: ", cli_str(r, "why", ""), "\n");
	}
}

int cmd_profile_fill(struct cli *cli, int argc, char **argv)
{
	struct profile_args a = {0};
	struct drive_end end = {0};
	json_error_t err;
	json_t *answers, *v;
	const char *key;
	size_t i;
	int rc;

	if ((rc = profile_begin(cli, argc, argv, &a)) != CLI_CONTINUE)
		return rc;
	if (!a.nanswers && !a.file)
		return cli_usage_error(cli, "give --answer ID=VALUE or --file FILE");
	answers = a.file ? json_load_file(a.file, JSON_REJECT_DUPLICATES, &err) : json_object();
	if (!json_is_object(answers)) {
		json_decref(answers);
		return cli_fail(CLI_EXIT_USAGE, "%s: not a JSON object of answers", a.file);
	}
	for (i = 0; i < a.nanswers; i++) {
		const char *eq = strchr(a.answers[i], '=');
		char id[64];

		if (!eq || eq == a.answers[i] || (size_t)(eq - a.answers[i]) >= sizeof(id)) {
			json_decref(answers);
			return cli_usage_error(cli, "--answer is ID=VALUE");
		}
		snprintf(id, sizeof(id), "%.*s", (int)(eq - a.answers[i]), a.answers[i]);
		json_object_set_new(answers, id,
		                    json_string(eq + 1)); /* the core reads it by kind */
	}
	rc = profile_run(cli,
	                 json_pack("{s:s, s:I, s:o, s:s?, s:b}", "cmd", "profile.fill", "programme",
	                           (json_int_t)a.programme, "answers", answers, "fingerprint",
	                           a.key, "merge", !a.replace),
	                 &end, 1);
	if (!rc && !cli->json) {
		if (cli_str(end.result, "anchored", NULL))
			print_safe("Verified manager: ", cli_str(end.result, "anchored", ""),
			           " (the key fingerprint you gave matches).\n");
		printf("Your %s profile in programme %lld:\n", cli_str(end.result, "role", "?"),
		       (long long)a.programme);
		json_object_foreach(json_object_get(end.result, "answers"), key, v)
		{
			print_safe("  ", key, ": ");
			print_value(v);
			printf("\n");
		}
		print_readers(end.result);
	}
	drive_end_clear(&end);
	return rc;
}

int cmd_profile_anchor(struct cli *cli, int argc, char **argv)
{
	struct profile_args a = {0};
	struct drive_end end = {0};
	int rc;

	if ((rc = profile_begin(cli, argc, argv, &a)) != CLI_CONTINUE)
		return rc;
	if (!a.key)
		return cli_usage_error(cli, "--manager-key is required");
	rc = profile_run(cli,
	                 json_pack("{s:s, s:I, s:s}", "cmd", "profile.anchor", "programme",
	                           (json_int_t)a.programme, "fingerprint", a.key),
	                 &end, 1);
	if (!rc && !cli->json) {
		print_safe("Verified manager: ", cli_str(end.result, "anchored", "?"), ".\n");
		printf("Profiles you fill in programme %lld are sealed to: ",
		       (long long)a.programme);
		print_readers(end.result);
	}
	drive_end_clear(&end);
	return rc;
}

int cmd_profile_show(struct cli *cli, int argc, char **argv)
{
	struct profile_args a = {0};
	struct drive_end end = {0};
	json_t *p, *q, *v, *r;
	size_t i, k;
	int rc;

	if ((rc = profile_begin(cli, argc, argv, &a)) != CLI_CONTINUE)
		return rc;
	rc = profile_run(
	    cli,
	    json_pack("{s:s, s:I}", "cmd", "profile.show", "programme", (json_int_t)a.programme),
	    &end, 1);
	if (rc)
		goto out;
	if (cli->json) {
		json_array_foreach(json_object_get(end.result, "profiles"), i, p)
		{
			if (!json_is_true(json_object_get(p, "verified")))
				rc = CLI_EXIT_REFUSED;
		}
		goto out;
	}
	if (!json_array_size(json_object_get(end.result, "profiles")))
		printf("No profile in programme %lld yet.\n", (long long)a.programme);
	json_array_foreach(json_object_get(end.result, "profiles"), i, p)
	{
		print_safe("== ", cli_str(p, "username", "?"), "");
		printf(" (%s, questions version %lld, %s)\n", cli_str(p, "role", "?"),
		       (long long)json_integer_value(json_object_get(p, "form_version")),
		       cli_str(p, "updated_at", "?"));
		if (!json_is_true(json_object_get(p, "verified"))) {
			print_safe("   UNVERIFIABLE, left out: ", cli_str(p, "error", "?"), "\n");
			rc = CLI_EXIT_REFUSED; /* after printing the others */
			continue;
		}
		json_array_foreach(json_object_get(json_object_get(p, "form"), "questions"), k, q)
		{
			if (!(v = json_object_get(json_object_get(p, "answers"),
			                          cli_str(q, "id", ""))))
				continue;
			print_safe("   ", qtext(q, a.pl), "\n      ");
			print_value(v);
			printf("\n");
		}
		printf("   Readers:");
		json_array_foreach(json_object_get(p, "readers"), k, r)
		{
			print_safe(k ? ", " : " ", json_string_value(r), "");
		}
		printf("\n");
	}
out:
	drive_end_clear(&end);
	return rc;
}

json_t *profile_match_load(struct cli *cli, int64_t programme, json_t **left_out)
{
	struct drive_end end = {0};
	json_t *input = NULL, *p;
	size_t i;

	*left_out = json_array();
	if (profile_run(
	        cli,
	        json_pack("{s:s, s:I}", "cmd", "profile.show", "programme", (json_int_t)programme),
	        &end, 0))
		goto out;
	input = profile_match_input(json_object_get(end.result, "profiles"));
	json_array_foreach(json_object_get(end.result, "profiles"), i, p)
	{
		if (!json_is_true(json_object_get(p, "verified")))
			json_array_append_new(*left_out,
			                      json_pack("{s:O?, s:O?}", "username",
			                                json_object_get(p, "username"), "why",
			                                json_object_get(p, "error")));
	}
out:
	drive_end_clear(&end);
	return input;
}

int profile_anchor_after_join(struct cli *cli, int64_t programme, const char *invite)
{
	struct drive_end end = {0};
	char fpr[PROFILE_FPR_HEX + 1];
	int rc;

	if (!invite || !strstr(invite, "m=") || programme < 1)
		return 0;
	if (profile_fpr_parse(invite, fpr) != 0) {
		fprintf(stderr, "The manager's key fingerprint in the invite is malformed: nothing "
		                "was verified.\n");
		return 0;
	}
	rc = profile_run(cli,
	                 json_pack("{s:s, s:I, s:s}", "cmd", "profile.anchor", "programme",
	                           (json_int_t)programme, "fingerprint", fpr),
	                 &end, 0);
	if (!rc && !cli->json)
		print_safe("Verified manager: ", cli_str(end.result, "anchored", "?"),
		           " (their key has the fingerprint in your invite): your profile will be "
		           "sealed to them.\n");
	drive_end_clear(&end);
	return rc;
}
