/*
 * cmd_agreement.c - the mentoring agreement of a room (PROTOCOL.md section
 * 7): `agreement show` (the versions, their terms and parties, and whether
 * each party's signature verifies on this device), `agreement sign`,
 * `agreement propose` (a room-specific term, which makes a new version for
 * everyone to sign), `agreement template show|edit|default` (the programme's
 * terms, managers), and the lines `ementor notices` prints for an
 * agreement.changed notice.
 *
 * DESIGN. The server says who signed; this client believes only what it can
 * check, and the checking is the client core's (core/agree.c: the
 * "agreement.show" and "agreement.sign" commands): every party's keys
 * compared with the keys pinned on this device, every signature verified
 * over the agreement bytes, nothing signed when the version lists anyone
 * with keys other than the pinned ones. The difference between the active
 * and the pending version is the core's too, computed from the two texts on
 * this device; the counts in a notice are the server's and are shown only as
 * a pointer to `agreement show`. This file parses options, asks for
 * confirmation and prints what the core found.
 *
 * Thread: main only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drive.h"
#include "prompt.h"
#include "state_io.h"

/* ---- shared ---- */

static int agreement_yes_option(void *ctx, int opt, const char *arg)
{
	(void)opt;
	(void)arg;
	*(int *)ctx = 1;
	return CLI_CONTINUE;
}

/* The parties of a Version object in the order they are signed: ascending user_id. */
static size_t agreement_parties(json_t *vj, json_t **out, size_t max)
{
	json_t *p;
	size_t i, n = 0;

	json_array_foreach(json_object_get(vj, "parties"), i, p)
	{
		size_t j;

		if (n == max)
			break;
		for (j = n; j > 0 && json_integer_value(json_object_get(out[j - 1], "user_id")) >
		                         json_integer_value(json_object_get(p, "user_id"));
		     j--)
			out[j] = out[j - 1];
		out[j] = p;
		n++;
	}
	return n;
}

/* "sam, mia" of a list of names. */
static void agreement_join(json_t *names, char *out, size_t len)
{
	json_t *name;
	size_t i;

	out[0] = '\0';
	json_array_foreach(names, i, name)
	{
		if (out[0])
			strncat(out, ", ", len - strlen(out) - 1);
		strncat(out, json_string_value(name) ? json_string_value(name) : "?",
		        len - strlen(out) - 1);
	}
}

/* Prints text indented, made safe for a terminal. */
static void agreement_print_terms(const char *terms)
{
	char *safe = text_for_terminal(terms, strlen(terms));
	const char *line = safe ? safe : "(out of memory)";

	while (*line) {
		const char *nl = strchr(line, '\n');
		int n = nl ? (int)(nl - line) : (int)strlen(line);

		printf("    %.*s\n", n, line);
		line += n + (nl ? 1 : 0);
	}
	free(safe);
}

/* One version: header, parties with what the core found about each, and the terms. */
static void agreement_print_version(const char *title, json_t *vj)
{
	static const char *const head[] = {"PARTY", "ROLE", "FINGERPRINT", "SIGNED", "CHECK"};
	const char *shown[] = {cli_str(vj, "starts_on", NULL), cli_str(vj, "ends_on", NULL),
	                       cli_str(vj, "created_at", "-"), cli_str(vj, "activated_at", NULL)};
	char *safe[4], waiting[512] = "";
	json_t *party[EM_ROOM_MEMBERS_MAX * 2];
	struct cli_table t;
	size_t n = agreement_parties(vj, party, sizeof(party) / sizeof(party[0]));

	for (size_t i = 0; i < 4; i++)
		safe[i] = shown[i] ? text_for_terminal(shown[i], strlen(shown[i])) : NULL;
	printf("%s: version %lld, %s to %s, made %s", title,
	       (long long)json_integer_value(json_object_get(vj, "version")),
	       safe[0] ? safe[0] : "?", safe[1] ? safe[1] : "?", safe[2] ? safe[2] : "?");
	if (safe[3])
		printf(", active since %s", safe[3]);
	printf("\n");
	for (size_t i = 0; i < 4; i++)
		free(safe[i]);
	cli_table_init(&t, 5, head);
	for (size_t i = 0; i < n; i++) {
		json_t *p = party[i], *w = json_object_get(p, "withdrawn_at");
		unsigned char spk[EM_SIGN_PK_BYTES], bpk[EM_BOX_PK_BYTES];
		char fp[EM_FINGERPRINT_STRLEN] = "?", signed_at[64];
		const char *check = cli_str(p, "check", ""), *verdict;
		int is_signed = json_is_string(json_object_get(p, "signature"));

		if (em_b64_decode(cli_str(p, "sign_pk", ""), spk, sizeof(spk)) ==
		        (int)sizeof(spk) &&
		    em_b64_decode(cli_str(p, "box_pk", ""), bpk, sizeof(bpk)) == (int)sizeof(bpk))
			em_fingerprint(spk, bpk, fp);
		if (w && !json_is_null(w))
			snprintf(signed_at, sizeof(signed_at), "withdrawn %s",
			         cli_str(p, "withdrawn_at", "?"));
		else if (is_signed)
			snprintf(signed_at, sizeof(signed_at), "signed %s",
			         cli_str(p, "signed_at", "?"));
		else
			snprintf(signed_at, sizeof(signed_at), "not signed");
		if (!(is_signed && (!w || json_is_null(w)))) {
			if (waiting[0])
				strncat(waiting, ", ", sizeof(waiting) - strlen(waiting) - 1);
			strncat(waiting, cli_str(p, "username", "?"),
			        sizeof(waiting) - strlen(waiting) - 1);
		}
		if (!strcmp(check, "verified"))
			verdict = "verified";
		else if (!strcmp(check, "unsigned") || !strcmp(check, "withdrawn"))
			verdict = "-";
		else if (!strcmp(check, "no_pin"))
			verdict = "no pinned key";
		else if (!strcmp(check, "keys_changed"))
			verdict = "KEYS CHANGED: see `ementor trust`";
		else if (!strcmp(check, "keys_differ"))
			verdict = "NOT THE PINNED KEYS";
		else
			verdict = "SIGNATURE DOES NOT VERIFY";
		{
			const char *row[] = {cli_str(p, "username", "?"), cli_str(p, "role", "?"),
			                     fp, signed_at, verdict};

			cli_table_add(&t, row);
		}
	}
	cli_table_print(&t, stdout, "  ");
	cli_table_free(&t);
	if (waiting[0]) {
		char *w = text_for_terminal(waiting, strlen(waiting));

		printf("  Waiting for: %s\n", w ? w : "?");
		free(w);
	}
	printf("  Terms:\n");
	agreement_print_terms(cli_str(vj, "terms", ""));
}

/* The changed lines from the active to the pending version, as the core computed them. */
static void agreement_print_diff(json_t *result)
{
	json_t *diff = json_object_get(result, "diff"), *l;
	const char *refused = cli_str(result, "diff_refused", NULL);
	size_t i, shown = 0;

	if (refused) {
		fprintf(stderr, "\nNo changes shown: %s.\n", refused);
		return;
	}
	if (!json_is_object(diff))
		return;
	if (json_is_true(json_object_get(diff, "from_active"))) {
		printf(
		    "\nChanges from version %lld (active) to version %lld (pending), compared on "
		    "this device:\n",
		    (long long)json_integer_value(json_object_get(diff, "from")),
		    (long long)json_integer_value(json_object_get(diff, "to")));
	} else {
		char signers[512], *safe;

		agreement_join(json_object_get(diff, "signed_by"), signers, sizeof(signers));
		safe = text_for_terminal(signers, strlen(signers));
		printf("\nChanges from version %lld (signed by %s; never active) to version %lld "
		       "(pending), compared on this device:\n",
		       (long long)json_integer_value(json_object_get(diff, "from")),
		       safe ? safe : "?",
		       (long long)json_integer_value(json_object_get(diff, "to")));
		free(safe);
	}
	json_array_foreach(json_object_get(diff, "lines"), i, l)
	{
		const char *op = cli_str(l, "op", "="), *line = cli_str(l, "line", "");
		char *safe;

		if (!strcmp(op, "="))
			continue;
		safe = text_for_terminal(line, strlen(line));
		printf("  %s %s\n", op, safe ? safe : "?");
		free(safe);
		shown++;
	}
	if (!shown)
		printf("  (the terms are the same; the parties or dates changed)\n");
}

/* ---- agreement show ---- */

static const char show_usage[] =
    "Usage: ementor agreement show ROOM\n"
    "\n"
    "Show the mentoring agreement of a room: the active version (the last one every\n"
    "party signed) and a pending one waiting for signatures, each with its dates,\n"
    "terms and parties. For each party: their role, key fingerprint, whether they\n"
    "signed or withdrew, and whether the signature verifies on this device with the\n"
    "keys pinned for them. Only the room's roster (the members whose signature on\n"
    "the active version holds) is sealed the room's key. With a pending version, the\n"
    "lines it adds (+) or removes (-) follow, compared on this device with the\n"
    "active version (or, with none, the version before it), and only when that\n"
    "version's signatures verify with the keys pinned here.\n"
    "\n"
    "Options:\n"
    "  --json   the server's answer, each party with \"check\": verified, unsigned,\n"
    "           withdrawn, keys_differ, keys_changed, no_pin or bad_signature, and\n"
    "           \"diff\": {from, to, from_active, signed_by, lines: [{op, line}]}\n"
    "           (computed here) or \"diff_refused\": why there is none\n";

int cmd_agreement_show(struct cli *cli, int argc, char **argv)
{
	struct drive d;
	struct drive_end end = {0};
	json_t *res, *aj, *pj;
	int64_t room;
	int rc, first, bad, inited = 0;

	rc = cli_parse(cli, argc, argv, NULL, show_usage, NULL, NULL, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_parse_id(argv[first], &room))
		return cli_usage_error(cli, "'%s' is not a room id", argv[first]);
	rc = drive_open(cli, &d, 1);
	inited = d.core != NULL;
	if (rc)
		goto out;
	rc = drive_run_ok(
	    &d, json_pack("{s:s, s:I}", "cmd", "agreement.show", "room", (json_int_t)room), &end);
	if (rc)
		goto out;
	res = json_object_get(end.result, "agreement");
	if (cli->json) {
		/* the server's answer with the core's checks, and the core's own diff */
		if (json_object_get(end.result, "diff"))
			json_object_set(res, "diff", json_object_get(end.result, "diff"));
		if (json_object_get(end.result, "diff_refused"))
			json_object_set(res, "diff_refused",
			                json_object_get(end.result, "diff_refused"));
		cli_print_json(res);
		goto out;
	}
	aj = json_object_get(res, "active");
	pj = json_object_get(res, "pending");
	bad = (int)json_integer_value(json_object_get(end.result, "bad"));
	printf("Agreement of room %lld (%s)\n", (long long)room,
	       json_is_false(json_object_get(res, "required"))
	           ? "optional in this programme: every member reads the room"
	           : "required: only those who signed the active version read the room");
	{
		char roster[512];

		agreement_join(json_object_get(end.result, "roster_names"), roster, sizeof(roster));
		printf("Roster (sealed the room key): %s\n\n", roster[0] ? roster : "nobody yet");
	}
	if (json_is_object(aj))
		agreement_print_version("Active", aj);
	else
		printf("Active: none yet (no version has been signed by every party)\n");
	if (json_is_object(pj)) {
		printf("\n");
		agreement_print_version("Pending", pj);
	}
	agreement_print_diff(end.result);
	if (bad) {
		fprintf(
		    stderr,
		    "\nWARNING: %d signature%s or key%s above do%s not check out on this device. "
		    "No room key is sealed to a member whose check fails.\n",
		    bad, bad == 1 ? "" : "s", bad == 1 ? "" : "s", bad == 1 ? "es" : "");
	}
out:
	drive_end_clear(&end);
	if (inited)
		drive_close(&d);
	return rc;
}

/* ---- agreement sign ---- */

static const char sign_usage[] =
    "Usage: ementor agreement sign ROOM [--yes]\n"
    "\n"
    "Sign the room's mentoring agreement with your key: the pending version, or the\n"
    "active one if there is no pending version and you are not a current signer\n"
    "(after withdrawing). The terms and parties are shown first and you are asked to\n"
    "confirm. Your signature is also recorded as a consent in the server's ledger.\n"
    "When every party has signed, the version becomes active and its signers form\n"
    "the room's roster: only they are sealed the room's key.\n"
    "\n"
    "Nothing is signed when the version lists anyone with other keys than the ones\n"
    "pinned on this device.\n"
    "\n"
    "Options:\n"
    "  --yes    do not ask (for scripts)\n";

/* The version to sign, its parties and terms, before it is signed. */
static void sign_print_preview(int64_t room, json_t *res)
{
	json_t *view = json_object_get(res, "view"), *p;
	size_t i;

	printf("Agreement of room %lld, version %lld (%s to %s)\n\nParties:\n", (long long)room,
	       (long long)json_integer_value(json_object_get(res, "version")),
	       cli_str(view, "starts_on", "?"), cli_str(view, "ends_on", "?"));
	json_array_foreach(json_object_get(view, "parties"), i, p)
	{
		printf("  %-20s %-8s %s\n", cli_str(p, "username", "?"), cli_str(p, "role", "?"),
		       cli_str(p, "fingerprint", "?"));
	}
	printf("\nTerms:\n");
	agreement_print_terms(cli_str(view, "terms", ""));
	printf("\n");
	fflush(stdout);
}

/* "You have signed version N ...": nothing to sign. */
static void sign_print_before(struct cli *cli, int64_t room, json_t *res)
{
	char waiting[512];
	long long version = (long long)json_integer_value(json_object_get(res, "version"));

	agreement_join(json_object_get(res, "waiting"), waiting, sizeof(waiting));
	if (cli->json)
		cli_print_json(json_object_get(res, "agreement"));
	else if (waiting[0])
		printf("You have signed version %lld of the agreement of room %lld; waiting "
		       "for: %s.\n",
		       version, (long long)room, waiting);
	else
		printf("You have signed version %lld of the agreement of room %lld; it is "
		       "active.\n",
		       version, (long long)room);
}

int cmd_agreement_sign(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"yes", no_argument, NULL, 'y'},
	    {NULL, 0, NULL, 0},
	};
	struct drive d;
	struct drive_end end = {0};
	json_t *cmd, *res;
	const char *state;
	char question[128];
	int64_t room;
	int rc, first, yes = 0, inited = 0, previewed = 0;

	rc = cli_parse(cli, argc, argv, opts, sign_usage, agreement_yes_option, &yes, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_parse_id(argv[first], &room))
		return cli_usage_error(cli, "'%s' is not a room id", argv[first]);
	rc = drive_open(cli, &d, 1);
	inited = d.core != NULL;
	if (rc)
		goto out;
	cmd = json_pack("{s:s, s:I}", "cmd", "agreement.sign", "room", (json_int_t)room);
	if (!yes) {
		/* the core checks the version and the parties; signing waits for the user */
		int ok;

		rc = drive_run_ok(&d,
		                  json_pack("{s:s, s:I, s:b}", "cmd", "agreement.sign", "room",
		                            (json_int_t)room, "preview", 1),
		                  &end);
		if (rc) {
			json_decref(cmd);
			goto out;
		}
		if (!strcmp(cli_str(end.result, "state", ""), "signed_before")) {
			json_decref(cmd);
			sign_print_before(cli, room, end.result);
			goto out;
		}
		if (!cli->json)
			sign_print_preview(room, end.result);
		previewed = 1;
		snprintf(question, sizeof(question),
		         "Sign version %lld of the agreement of room %lld? [y/N] ",
		         (long long)json_integer_value(json_object_get(end.result, "version")),
		         (long long)room);
		ok = prompt_yes(question);
		if (ok <= 0) {
			json_decref(cmd);
			if (ok < 0) {
				rc = cli_usage_error(cli,
				                     "no terminal to ask on: pass --yes to sign");
			} else {
				printf("Not signed.\n");
				rc = CLI_EXIT_REFUSED;
			}
			goto out;
		}
		/* exactly the version shown, or nothing */
		json_object_set(cmd, "version", json_object_get(end.result, "version"));
		drive_end_clear(&end);
	}
	if (drive_run(&d, cmd, &end) != 0) {
		rc = CLI_EXIT_LOCAL;
		goto out;
	}
	res = end.result;
	state = cli_str(res, "state", "");
	if (!previewed && !cli->json && json_object_get(res, "view"))
		sign_print_preview(room, res);
	if (!end.ok) {
		rc = drive_end_fail(&end);
		goto out;
	}
	if (!strcmp(state, "signed_before")) {
		sign_print_before(cli, room, res);
		goto out;
	}
	if (cli->json) {
		cli_print_json(json_object_get(res, "reply"));
		goto out;
	}
	printf("Signed version %lld of the agreement of room %lld.\n",
	       (long long)json_integer_value(json_object_get(res, "version")), (long long)room);
	if (json_is_true(json_object_get(res, "active"))) {
		printf("Every party has signed: version %lld is active.\n",
		       (long long)json_integer_value(json_object_get(res, "version")));
	} else if (json_object_get(res, "waiting")) {
		char waiting[512];

		agreement_join(json_object_get(res, "waiting"), waiting, sizeof(waiting));
		printf("Waiting for: %s.\n", waiting[0] ? waiting : "-");
	}
out:
	drive_end_clear(&end);
	if (inited)
		drive_close(&d);
	return rc;
}

/* ---- agreement propose ---- */

static const char propose_usage[] =
    "Usage: ementor agreement propose ROOM --add-term TEXT\n"
    "\n"
    "Add a room-specific term to the room's agreement (members and the programme's\n"
    "managers). This makes a new pending version, shown as a line\n"
    "\"Added by YOU: TEXT\" after the programme's terms, which every party signs\n"
    "again; the active version keeps the room working meanwhile.\n"
    "\n"
    "Options:\n"
    "  --add-term TEXT   the term, one line of at most 1,000 characters\n";

/* The one option of propose (--add-term): keeps its value. */
static int one_arg_option(void *ctx, int opt, const char *arg)
{
	(void)opt;
	*(const char **)ctx = arg;
	return CLI_CONTINUE;
}

int cmd_agreement_propose(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"add-term", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0},
	};
	struct drive d;
	struct drive_end end = {0};
	json_t *res, *pending;
	const char *term = NULL;
	int64_t room;
	int rc, first, inited = 0;

	rc = cli_parse(cli, argc, argv, opts, propose_usage, one_arg_option, &term, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_parse_id(argv[first], &room))
		return cli_usage_error(cli, "'%s' is not a room id", argv[first]);
	if (!term || !*term)
		return cli_usage_error(cli, "--add-term TEXT is required");
	if (strlen(term) > EM_TERM_MAX)
		return cli_usage_error(cli, "the term is longer than %d bytes", EM_TERM_MAX);
	for (const unsigned char *p = (const unsigned char *)term; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return cli_usage_error(cli, "the term must be one line of printable text");
	if (!text_is_utf8(term, strlen(term)))
		return cli_usage_error(cli, "the term is not valid UTF-8 text");
	rc = drive_open(cli, &d, 1);
	inited = d.core != NULL;
	if (rc)
		goto out;
	if (drive_run(&d,
	              json_pack("{s:s, s:I, s:s}", "cmd", "agreement.propose", "room",
	                        (json_int_t)room, "term", term),
	              &end) != 0) {
		rc = CLI_EXIT_LOCAL;
		goto out;
	}
	if (!end.ok) {
		/* the server's refusal as cli_call() prints one */
		char *safe = text_for_terminal(end.message, strlen(end.message));
		char wait[48];

		rc = end.exit;
		if (end.exit == CLI_EXIT_AUTH)
			cli_fail(rc, "your session has expired; run `ementor login %s`.",
			         d.session.username);
		else if (end.exit != CLI_EXIT_REFUSED || end.client)
			cli_fail(rc, "%s", safe ? safe : end.message);
		else if (em_err_retryable(em_err_from_code(end.code)))
			fprintf(stderr, "error: %s (%s); try again in %s.\n", safe ? safe : "?",
			        end.code,
			        cli_describe_wait(end.retry_after_ms, wait, sizeof(wait)));
		else
			fprintf(stderr, "error: %s (%s)\n", safe ? safe : "?", end.code);
		free(safe);
		goto out;
	}
	res = end.result;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	pending = json_object_get(json_object_get(res, "agreement"), "pending");
	printf("Proposed. Version %lld of the agreement of room %lld is pending until every party "
	       "signs it (`ementor agreement sign %lld`)%s.\n",
	       (long long)json_integer_value(json_object_get(pending, "version")), (long long)room,
	       (long long)room,
	       json_is_object(json_object_get(json_object_get(res, "agreement"), "active"))
	           ? "; the active version stays in force meanwhile"
	           : "");
out:
	drive_end_clear(&end);
	if (inited)
		drive_close(&d);
	return rc;
}

/* ---- notices ---- */

void agreement_notice_print(json_t *n)
{
	long long room = (long long)json_integer_value(json_object_get(n, "room_id"));
	long long version = (long long)json_integer_value(json_object_get(n, "version"));
	const char *by = cli_str(n, "by", "someone"), *cause = cli_str(n, "cause", "");
	char *safe = text_for_terminal(by, strlen(by));

	if (strcmp(cli_str(n, "kind", ""), "agreement.changed") != 0) {
		printf("%s about the agreement of room %lld.\n", cli_str(n, "kind", "?"), room);
		free(safe);
		return;
	}
	printf("%s %s the agreement of room %lld: version %lld needs your signature again "
	       "(the server counts %lld line%s added, %lld removed).\n"
	       "    See what changed: `ementor agreement show %lld`; then sign: `ementor "
	       "agreement sign %lld`.\n",
	       safe ? safe : "?",
	       !strcmp(cause, "term") ? "proposed a term for" : "changed the template of", room,
	       version, (long long)json_integer_value(json_object_get(n, "lines_added")),
	       json_integer_value(json_object_get(n, "lines_added")) == 1 ? "" : "s",
	       (long long)json_integer_value(json_object_get(n, "lines_removed")), room, room);
	free(safe);
}

/* ---- agreement template show | edit | default ---- */

static const char template_usage[] =
    "Usage: ementor agreement template show PROGRAMME\n"
    "       ementor agreement template edit PROGRAMME --file PATH\n"
    "       ementor agreement template default PROGRAMME --lang en|pl\n"
    "\n"
    "The programme's agreement template (managers of the programme): the terms every\n"
    "room's agreement starts with. New programmes start with the default terms of\n"
    "mentoring and code of ethics in English; `default --lang pl` puts the Polish\n"
    "default in place (and `--lang en` the English one) instead of the programme's\n"
    "own text. Editing it makes a new pending version in every room of the programme\n"
    "that has no active agreement yet, and its parties get a notice to sign again;\n"
    "rooms with an active agreement keep it, and their next version (a term\n"
    "proposed, a member added or removed) is made from the new template.\n"
    "\n"
    "Options:\n"
    "  --file PATH   the new text (UTF-8, at most 20,000 bytes); - for standard input\n"
    "  --lang LANG   the language of the default terms: en (English) or pl (Polish)\n";

struct template_args {
	const char *file, *lang;
};

static int template_option(void *ctx, int opt, const char *arg)
{
	struct template_args *a = ctx;

	if (opt == 'f')
		a->file = arg;
	else
		a->lang = arg;
	return CLI_CONTINUE;
}

/* Reads a whole file (or stdin for "-"), at most max bytes. Who frees: the caller. */
static char *template_read(const char *path, size_t max, size_t *len, int *err)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	char *buf = NULL;
	size_t n;

	*err = 0;
	if (!f) {
		*err = errno;
		return NULL;
	}
	buf = malloc(max + 2);
	if (!buf) {
		*err = ENOMEM;
		goto out;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f)) {
		*err = EIO;
		free(buf);
		buf = NULL;
		goto out;
	}
	if (n > max) {
		*err = E2BIG;
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
	*len = n;
out:
	if (f != stdin)
		fclose(f);
	return buf;
}

int cmd_agreement_template(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"file", required_argument, NULL, 'f'},
	    {"lang", required_argument, NULL, 'l'},
	    {NULL, 0, NULL, 0},
	};
	struct template_args ta = {0};
	json_t *res = NULL;
	const char *file, *verb;
	char *text = NULL;
	size_t len = 0, w = 0;
	int64_t programme;
	int rc, first, edit, dflt, err;

	rc = cli_parse(cli, argc, argv, opts, template_usage, template_option, &ta, 2, 2, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	file = ta.file;
	verb = argv[first];
	edit = !strcmp(verb, "edit");
	dflt = !strcmp(verb, "default");
	if (!edit && !dflt && strcmp(verb, "show") != 0)
		return cli_usage_error(cli, "expected show, edit or default, not '%s'", verb);
	if (cli_parse_id(argv[first + 1], &programme))
		return cli_usage_error(cli, "'%s' is not a programme id", argv[first + 1]);
	if (edit && !file)
		return cli_usage_error(cli, "--file PATH is required (- for standard input)");
	if (!edit && file)
		return cli_usage_error(cli, "--file is for `agreement template edit`");
	if (dflt && (!ta.lang || (strcmp(ta.lang, "en") && strcmp(ta.lang, "pl"))))
		return cli_usage_error(cli, "--lang en or --lang pl is required");
	if (!dflt && ta.lang)
		return cli_usage_error(cli, "--lang is for `agreement template default`");
	if (edit) {
		text = template_read(file, EM_TEMPLATE_MAX * 2, &len, &err);
		if (!text && err == E2BIG)
			return cli_usage_error(cli, "the template is longer than %d bytes",
			                       EM_TEMPLATE_MAX);
		if (!text)
			return cli_fail(CLI_EXIT_LOCAL, "cannot read %s: %s",
			                strcmp(file, "-") ? file : "standard input", strerror(err));
		/* CRLF line ends become LF; other control characters are refused. */
		for (size_t r = 0; r < len; r++) {
			unsigned char ch = (unsigned char)text[r];

			if (ch == '\r' && r + 1 < len && text[r + 1] == '\n')
				continue;
			if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f) {
				free(text);
				return cli_usage_error(cli,
				                       "the template holds control characters");
			}
			text[w++] = (char)ch;
		}
		text[w] = '\0';
		len = w;
		if (!len || len > EM_TEMPLATE_MAX || !text_is_utf8(text, len)) {
			free(text);
			return cli_usage_error(cli,
			                       "the template must be 1 to %d bytes of UTF-8 text",
			                       EM_TEMPLATE_MAX);
		}
	}
	snprintf(cli->command, sizeof(cli->command), "agreement template %s", verb);
	if (edit || dflt)
		rc = cli_request(cli, EM_OP_AGREEMENT_TEMPLATE_SET,
		                 json_pack("{s:I, s:s}", "programme_id", (json_int_t)programme,
		                           edit ? "text" : "lang", edit ? text : ta.lang),
		                 &res);
	else
		rc = cli_request_raw(cli, EM_OP_AGREEMENT_TEMPLATE_GET,
		                     json_pack("{s:I}", "programme_id", (json_int_t)programme),
		                     &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	if (edit || dflt) {
		if (edit)
			printf("Saved the agreement template of programme %lld (%zu bytes).",
			       (long long)programme, len);
		else
			printf("Programme %lld now uses the default agreement template in %s.",
			       (long long)programme, !strcmp(ta.lang, "pl") ? "Polish" : "English");
		printf(" Rooms without an active agreement have a new pending version to sign; "
		       "their parties are told.\n");
	} else {
		const char *lang = cli_str(res, "lang", NULL);

		printf("Agreement template of programme %lld (%s, updated %s):\n\n",
		       (long long)programme,
		       !lang                 ? "the programme's own text"
		       : !strcmp(lang, "pl") ? "the default, in Polish"
		                             : "the default, in English",
		       cli_str(res, "updated_at", "?"));
		agreement_print_terms(cli_str(res, "text", ""));
	}
out:
	free(text);
	json_decref(res);
	return rc;
}
