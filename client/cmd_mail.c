/*
 * cmd_mail.c - e-mail from the command line (docs/PROTOCOL.md section 12):
 * `notify settings` (your address, language and the kinds you get),
 * `notify verify` (the code e-mailed to a new address), and a manager's
 * `invite list`, `invite resend` and `invite revoke`. Also the one place that
 * reads an invite link (PUBLIC_URL/#join=CODE, or CODE&m=FINGERPRINT) as
 * the code in it.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

const char *cli_invite_code(const char *arg)
{
	static char code[256]; /* main thread only */
	const char *p = arg ? strstr(arg, "#join=") : NULL;

	p = p ? p + 6 : arg;
	/* a link the manager's client made carries their key fingerprint: CODE&m=HEX */
	if (p && strchr(p, '&')) {
		snprintf(code, sizeof(code), "%.*s", (int)(strchr(p, '&') - p), p);
		return code;
	}
	return p;
}

/* ---- notify settings ---- */

static const char notify_settings_usage[] =
    "Usage: ementor notify settings [--email ADDRESS | --no-email] [--lang en|pl]\n"
    "                               [--kinds KIND,...]\n"
    "\n"
    "Show or change what ementor e-mails you. A new address gets a code first\n"
    "(`ementor notify verify CODE`); nothing else goes to it until then.\n"
    "E-mails never hold messages, topics, diary text or names: only what\n"
    "happened, when, in which room number, and a link.\n"
    "\n"
    "Options:\n"
    "  --email ADDRESS   your address (a new code is sent to it)\n"
    "  --no-email        remove your address: no more e-mail\n"
    "  --lang en|pl      the language of your e-mails\n"
    "  --kinds LIST      comma-separated, of: meeting (proposed, confirmed,\n"
    "                    moved, cancelled, reminders), agreement (waiting for\n"
    "                    your signature), diary (you write it; an entry is\n"
    "                    due), digest (unread messages after you were away);\n"
    "                    \"\" for none\n";

struct notify_args {
	const char *email, *lang, *kinds;
	int no_email;
};

static int notify_option(void *ctx, int opt, const char *arg)
{
	struct notify_args *a = ctx;

	if (opt == 'e')
		a->email = arg;
	else if (opt == 'n')
		a->no_email = 1;
	else if (opt == 'l')
		a->lang = arg;
	else if (opt == 'k')
		a->kinds = arg;
	return CLI_CONTINUE;
}

static void notify_print(json_t *res)
{
	const char *addr = cli_str(res, "address", NULL);
	const char *kinds = cli_str(res, "kinds", "");

	if (!json_is_true(json_object_get(res, "mail_on")))
		printf("This server sends no e-mail (its operator has configured no relay).\n");
	if (!addr)
		printf("Address:   none\n");
	else
		printf(
		    "Address:   %s (%s)\n", addr,
		    json_is_true(json_object_get(res, "verified"))
		        ? "verified"
		        : "not verified: run `ementor notify verify CODE` with the e-mailed code");
	printf("Language:  %s\n", cli_str(res, "lang", "en"));
	printf("Kinds:     %s\n", *kinds ? kinds : "none");
}

int cmd_notify_settings(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"email", required_argument, NULL, 'e'},
	    {"no-email", no_argument, NULL, 'n'},
	    {"lang", required_argument, NULL, 'l'},
	    {"kinds", required_argument, NULL, 'k'},
	    {NULL, 0, NULL, 0},
	};
	struct notify_args a = {0};
	json_t *args = NULL, *res = NULL;
	int rc, first;

	rc = cli_parse(cli, argc, argv, opts, notify_settings_usage, notify_option, &a, 0, 0,
	               &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (a.email && a.no_email)
		return cli_usage_error(cli, "--email and --no-email exclude each other");
	if (a.email || a.no_email || a.lang || a.kinds) {
		args = json_object();
		if (a.email || a.no_email)
			json_object_set_new(args, "address",
			                    json_string(a.no_email ? "" : a.email));
		if (a.lang)
			json_object_set_new(args, "lang", json_string(a.lang));
		if (a.kinds)
			json_object_set_new(args, "kinds", json_string(a.kinds));
		rc = cli_request(cli, EM_OP_MAIL_SET, args, &res);
	} else {
		rc = cli_request(cli, EM_OP_MAIL_SHOW, NULL, &res);
	}
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	notify_print(res);
	if (a.email)
		printf("A code is on its way to %s: run `ementor notify verify CODE`.\n", a.email);
out:
	json_decref(res);
	return rc;
}

/* ---- notify verify ---- */

static const char notify_verify_usage[] = "Usage: ementor notify verify CODE\n"
                                          "\n"
                                          "Confirm your e-mail address with the 8-digit code "
                                          "e-mailed to it.\n";

int cmd_notify_verify(struct cli *cli, int argc, char **argv)
{
	json_t *res = NULL;
	int rc, first;

	rc = cli_parse(cli, argc, argv, NULL, notify_verify_usage, NULL, NULL, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_request(cli, EM_OP_MAIL_VERIFY, json_pack("{ss}", "code", argv[first]), &res);
	if (rc)
		goto out;
	if (cli->json)
		cli_print_json(res);
	else
		printf("Your address %s is verified.\n", cli_str(res, "address", "-"));
out:
	json_decref(res);
	return rc;
}

/* ---- invite list / resend / revoke ---- */

static const char invite_list_usage[] =
    "Usage: ementor invite list --programme ID\n"
    "\n"
    "The invites of a programme you manage, with their state: created (not\n"
    "e-mailed), sending, sent, failed (the e-mail could not be delivered),\n"
    "registered, expired or revoked. Whether an e-mailed link was opened is not\n"
    "known: the code is in the link's fragment, which never reaches the server.\n";

static int programme_option(void *ctx, int opt, const char *arg)
{
	(void)opt;
	*(const char **)ctx = arg;
	return CLI_CONTINUE;
}

int cmd_invite_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"programme", required_argument, NULL, 'p'},
	                                     {NULL, 0, NULL, 0}};
	const char *programme_arg = NULL;
	json_t *res = NULL, *list, *it;
	int64_t programme;
	size_t i;
	int rc, first;

	rc = cli_parse(cli, argc, argv, opts, invite_list_usage, programme_option, &programme_arg,
	               0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (!programme_arg || cli_parse_id(programme_arg, &programme))
		return cli_usage_error(cli, "--programme ID is required");
	rc = cli_request(cli, EM_OP_INVITE_LIST,
	                 json_pack("{sI}", "programme_id", (json_int_t)programme), &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	list = json_object_get(res, "invites");
	printf("%-6s %-8s %-11s %-20s %-30s %s\n", "ID", "ROLE", "STATE", "EXPIRES", "E-MAIL",
	       "USER");
	json_array_foreach(list, i, it)
	{
		char email[64], user[48];

		snprintf(email, sizeof(email), "%s", cli_str(it, "email", "-"));
		snprintf(user, sizeof(user), "%s", cli_str(it, "username", "-"));
		cli_defang(email);
		cli_defang(user);
		printf("%-6lld %-8s %-11s %-20s %-30s %s\n",
		       (long long)json_integer_value(json_object_get(it, "invite_id")),
		       cli_str(it, "role", "-"), cli_str(it, "state", "-"),
		       cli_str(it, "expires_at", "-"), email, user);
	}
	if (!json_array_size(list))
		printf("(no invites)\n");
out:
	json_decref(res);
	return rc;
}

static const char invite_resend_usage[] =
    "Usage: ementor invite resend INVITE\n"
    "\n"
    "E-mail an invite again, with a new code: the link of the earlier e-mail\n"
    "stops working. Only invites made with --email, not yet used, revoked or\n"
    "expired.\n";

static const char invite_revoke_usage[] = "Usage: ementor invite revoke INVITE\n"
                                          "\n"
                                          "Revoke an invite not yet used: its code and link "
                                          "stop working.\n";

static int invite_by_id(struct cli *cli, int argc, char **argv, enum em_op op, const char *usage)
{
	json_t *res = NULL;
	int64_t id;
	int rc, first;

	rc = cli_parse(cli, argc, argv, NULL, usage, NULL, NULL, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_parse_id(argv[first], &id))
		return cli_usage_error(cli, "'%s' is not an invite id", argv[first]);
	rc = cli_request(cli, op, json_pack("{sI}", "invite_id", (json_int_t)id), &res);
	if (rc)
		goto out;
	if (cli->json)
		cli_print_json(res);
	else if (op == EM_OP_INVITE_RESEND)
		printf("Invite %lld e-mailed again with a new code:\n  %s\n", (long long)id,
		       cli_str(res, "code", "-"));
	else
		printf("Invite %lld revoked.\n", (long long)id);
out:
	json_decref(res);
	return rc;
}

int cmd_invite_resend(struct cli *cli, int argc, char **argv)
{
	return invite_by_id(cli, argc, argv, EM_OP_INVITE_RESEND, invite_resend_usage);
}

int cmd_invite_revoke(struct cli *cli, int argc, char **argv)
{
	return invite_by_id(cli, argc, argv, EM_OP_INVITE_REVOKE, invite_revoke_usage);
}

/* ---- import ---- */

static const char import_usage[] =
    "Usage: ementor import --programme ID FILE\n"
    "\n"
    "Invite everyone of a CSV file to a programme you manage, each by e-mail with\n"
    "a personal link (the server must have an SMTP relay). Columns: name, e-mail,\n"
    "role (mentor, mentee or manager), and optionally a group or pair label and\n"
    "the language of the e-mail (en or pl); a first line naming the columns is\n"
    "skipped. Each row is reported: invited, already invited, already registered\n"
    "or invalid (with the reason). Importing the same file again changes nothing\n"
    "for the rows already invited. FILE - reads standard input.\n"
    "\n"
    "Rows sharing a label become one room, made as soon as everyone of the label\n"
    "has registered, named after the label: one mentor and one mentee make a pair,\n"
    "one mentor and 2 to 5 mentees (the programme's maximum) a group; any other\n"
    "mix makes no room and is reported. Each label is reported: the room it made\n"
    "or already has, how many have registered, or why it makes none.\n";

#define IMPORT_CHUNK    100
#define IMPORT_LINE_MAX 4096

/*
 * Splits one CSV record (RFC 4180: commas, double quotes, "" inside quotes)
 * into at most `max` fields, in place. Returns the field count, or -1 when
 * the record is malformed (a quote left open).
 */
static int csv_split(char *line, char **fields, int max)
{
	char *r = line, *w = line;
	int n = 0;

	line[strcspn(line, "\r\n")] = '\0';
	while (n < max) {
		int quoted = *r == '"';

		fields[n++] = w;
		if (quoted) {
			r++;
			for (;;) {
				if (!*r)
					return -1;
				if (*r == '"' && r[1] == '"') {
					*w++ = '"';
					r += 2;
				} else if (*r == '"') {
					r++;
					break;
				} else {
					*w++ = *r++;
				}
			}
			while (*r && *r != ',')
				r++;
		} else {
			while (*r && *r != ',')
				*w++ = *r++;
		}
		if (*r != ',') {
			*w = '\0';
			break;
		}
		*w++ = '\0';
		r++;
	}
	/* trim spaces around unquoted values */
	for (int i = 0; i < n; i++) {
		char *e;

		while (*fields[i] == ' ')
			fields[i]++;
		e = fields[i] + strlen(fields[i]);
		while (e > fields[i] && e[-1] == ' ')
			*--e = '\0';
	}
	return n;
}

static int import_send(struct cli *cli, int64_t programme, json_t *rows, const int *lines,
                       json_t *all, json_t *labels, int *counts)
{
	json_t *res = NULL, *it;
	size_t i;
	int rc;

	rc = cli_request(cli, EM_OP_INVITE_IMPORT,
	                 json_pack("{sIsO}", "programme_id", (json_int_t)programme, "rows", rows),
	                 &res);
	if (rc)
		goto out;
	json_array_foreach(json_object_get(res, "rows"), i, it)
	{
		size_t row = (size_t)json_integer_value(json_object_get(it, "row"));
		const char *status = cli_str(it, "status", "-");
		json_t *in = json_array_get(rows, row - 1);
		char email[96];

		json_object_set_new(it, "line", json_integer(row >= 1 ? lines[row - 1] : 0));
		json_object_set(it, "email", json_object_get(in, "email"));
		json_array_append(all, it);
		counts[!strcmp(status, "invited") ? 0 : !strcmp(status, "invalid") ? 2 : 1]++;
		if (cli->json)
			continue;
		snprintf(email, sizeof(email), "%s", cli_str(in, "email", ""));
		cli_defang(email);
		printf("line %d: %s: %s", row >= 1 ? lines[row - 1] : 0, email, status);
		if (json_object_get(it, "invite_id"))
			printf(" (invite %lld)",
			       (long long)json_integer_value(json_object_get(it, "invite_id")));
		if (json_object_get(it, "reason"))
			printf(": %s", cli_str(it, "reason", ""));
		printf("\n");
	}
	/* a label's latest report wins: a list sent in parts reports it again */
	json_array_foreach(json_object_get(res, "labels"), i, it)
	{
		json_object_set(labels, cli_str(it, "label", "?"), it);
	}
out:
	json_decref(res);
	return rc;
}

/* One line per label: the room it made, or what it waits for, or why it makes none. */
static void import_print_labels(json_t *labels)
{
	const char *label;
	json_t *it;

	json_object_foreach(labels, label, it)
	{
		char safe[160];
		const char *status = cli_str(it, "status", "?");
		long long mentors = (long long)json_integer_value(json_object_get(it, "mentors"));
		long long mentees = (long long)json_integer_value(json_object_get(it, "mentees"));
		long long reg = (long long)json_integer_value(json_object_get(it, "registered"));

		snprintf(safe, sizeof(safe), "%s", label);
		cli_defang(safe);
		printf("label \"%s\": ", safe);
		if (!strcmp(status, "created") || !strcmp(status, "exists"))
			printf("%s room %lld (%s, %lld mentee%s)\n",
			       !strcmp(status, "created") ? "made" : "already has",
			       (long long)json_integer_value(json_object_get(it, "room_id")),
			       cli_str(it, "kind", "?"), mentees, mentees == 1 ? "" : "s");
		else if (!strcmp(status, "waiting"))
			printf("a %s room once everyone has registered (%lld of %lld so far)\n",
			       cli_str(it, "kind", "?"), reg, mentors + mentees);
		else
			printf("no room: %s\n", cli_str(it, "reason", status));
	}
}

int cmd_import(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"programme", required_argument, NULL, 'p'},
	                                     {NULL, 0, NULL, 0}};
	const char *programme_arg = NULL;
	json_t *rows = NULL, *all = NULL, *labels = json_object();
	int lines[IMPORT_CHUNK], counts[3] = {0, 0, 0}, lineno = 0, rc, first;
	char line[IMPORT_LINE_MAX], *f[6];
	int64_t programme;
	FILE *in = NULL;

	rc = cli_parse(cli, argc, argv, opts, import_usage, programme_option, &programme_arg, 1, 1,
	               &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (!programme_arg || cli_parse_id(programme_arg, &programme))
		return cli_usage_error(cli, "--programme ID is required");
	in = strcmp(argv[first], "-") ? fopen(argv[first], "r") : stdin;
	if (!in) {
		fprintf(stderr, "ementor: cannot read %s\n", argv[first]);
		return CLI_EXIT_LOCAL;
	}
	rows = json_array();
	all = json_array();
	while (fgets(line, sizeof(line), in)) {
		json_t *row;
		int n;

		lineno++;
		if (!strchr(line, '\n') && !feof(in)) {
			fprintf(stderr, "ementor: %s line %d is longer than %d bytes\n",
			        argv[first], lineno, IMPORT_LINE_MAX - 1);
			rc = CLI_EXIT_LOCAL;
			goto out;
		}
		n = csv_split(line, f, 6);
		if (n == 1 && !*f[0])
			continue; /* a blank line */
		if (lineno == 1 && n >= 2 && !strchr(f[1], '@'))
			continue; /* the column names */
		/* a quote left open (n < 0): an empty row, which the server reports invalid */
		row = json_pack("{s:s, s:s, s:s}", "name", n > 0 ? f[0] : "", "email",
		                n > 1 ? f[1] : "", "role", n > 2 ? f[2] : "");
		if (n > 3 && *f[3])
			json_object_set_new(row, "label", json_string(f[3]));
		if (n > 4 && *f[4])
			json_object_set_new(row, "lang", json_string(f[4]));
		lines[json_array_size(rows)] = lineno;
		json_array_append_new(rows, row);
		if (json_array_size(rows) == IMPORT_CHUNK) {
			if ((rc = import_send(cli, programme, rows, lines, all, labels, counts)))
				goto out;
			json_array_clear(rows);
		}
	}
	if (json_array_size(rows) &&
	    (rc = import_send(cli, programme, rows, lines, all, labels, counts)))
		goto out;
	if (cli->json) {
		cli_print_json(json_object_size(labels)
		                   ? json_pack("{s:O, s:O}", "rows", all, "labels", labels)
		                   : json_incref(all));
	} else {
		import_print_labels(labels);
		printf("%d invited, %d unchanged (already invited or registered), %d invalid\n",
		       counts[0], counts[1], counts[2]);
	}
out:
	if (in && in != stdin)
		fclose(in);
	json_decref(rows);
	json_decref(all);
	json_decref(labels);
	return rc;
}
