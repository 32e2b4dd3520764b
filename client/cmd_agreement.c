/*
 * cmd_agreement.c - the mentoring agreement of a room (PROTOCOL.md section
 * 7): `agreement show` (the versions, their terms and parties, and whether
 * each party's signature verifies on this device), `agreement sign`,
 * `agreement propose` (a room-specific term, which makes a new version for
 * everyone to sign) and `agreement template show|edit` (the programme's
 * terms, managers).
 *
 * DESIGN. The server says who signed; this client believes only what it can
 * check. Every party's keys are compared with the keys pinned on this device
 * (the same trust-on-first-use pins as messaging, msg.c: a changed key is
 * reported loudly) and every signature is verified over the agreement bytes
 * rebuilt from the version as shown. Signing refuses when the version lists
 * anyone, ourselves included, with keys other than the pinned ones: a
 * signature endorses the list of parties and their keys, and those parties
 * are who room keys will be sealed to.
 *
 * Thread: main only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "msg.h"
#include "prompt.h"

/* ---- shared ---- */

static int agreement_yes_option(void *ctx, int opt, const char *arg)
{
	(void)opt;
	(void)arg;
	*(int *)ctx = 1;
	return CLI_CONTINUE;
}

/* Connects with the messaging context (pins, keys). Returns an exit code. */
static int agreement_open(struct cli *cli, struct msg_ctx *m)
{
	int rc = msg_init(cli, m);

	if (rc)
		return rc;
	return msg_connect(m);
}

/*
 * agreement.show for a room, with the room's members pinned first (room.show)
 * so that the parties are checked against what this device already trusts.
 * Who frees: the caller, json_decref(*res).
 */
static int agreement_fetch(struct msg_ctx *m, int64_t room, json_t **res)
{
	int rc =
	    msg_call(m, EM_OP_AGREEMENT_SHOW, json_pack("{s:I}", "room_id", (json_int_t)room), res);

	if (rc)
		return msg_report(m, rc, room);
	rc = msg_room_show(m, room, NULL);
	if (rc == CLI_EXIT_REFUSED)
		rc = CLI_EXIT_OK; /* a manager who left the programme: the parties still show */
	return rc;
}

/* "sam, mia" of the parties that have not signed (or withdrew). */
static void agreement_waiting(struct msg_version *v, char *out, size_t len)
{
	out[0] = '\0';
	for (size_t i = 0; i < v->n; i++) {
		json_t *p = v->party[i], *w = json_object_get(p, "withdrawn_at");

		if (json_is_string(json_object_get(p, "signature")) && (!w || json_is_null(w)))
			continue;
		if (out[0])
			strncat(out, ", ", len - strlen(out) - 1);
		strncat(out, cli_str(p, "username", "?"), len - strlen(out) - 1);
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

/*
 * One version: header, parties with what this device found about each, and
 * the terms. Returns the number of parties whose keys or signature are wrong.
 */
static int agreement_print_version(struct msg_ctx *m, const char *title, struct msg_version *v,
                                   json_t *vj)
{
	static const char *const head[] = {"PARTY", "ROLE", "FINGERPRINT", "SIGNED", "CHECK"};
	/* agreement.show comes through msg_call(), not cli_call(): its text is made safe here */
	const char *shown[] = {v->starts_on, v->ends_on, cli_str(vj, "created_at", "-"),
	                       cli_str(vj, "activated_at", NULL)};
	char *safe[4], waiting[512];
	struct cli_table t;
	int bad = 0;

	for (size_t i = 0; i < 4; i++)
		safe[i] = shown[i] ? text_for_terminal(shown[i], strlen(shown[i])) : NULL;
	printf("%s: version %u, %s to %s, made %s", title, v->version, safe[0] ? safe[0] : "?",
	       safe[1] ? safe[1] : "?", safe[2] ? safe[2] : "?");
	if (safe[3])
		printf(", active since %s", safe[3]);
	printf("\n");
	for (size_t i = 0; i < 4; i++)
		free(safe[i]);
	cli_table_init(&t, 5, head);
	for (size_t i = 0; i < v->n; i++) {
		json_t *p = v->party[i], *w = json_object_get(p, "withdrawn_at");
		char fp[EM_FINGERPRINT_STRLEN], signed_at[64];
		int check = msg_party_check(m, v, (int64_t)v->parties[i].user_id);
		const char *verdict;

		em_fingerprint(v->parties[i].sign_pk, v->parties[i].box_pk, fp);
		if (w && !json_is_null(w))
			snprintf(signed_at, sizeof(signed_at), "withdrawn %s",
			         cli_str(p, "withdrawn_at", "?"));
		else if (json_is_string(json_object_get(p, "signature")))
			snprintf(signed_at, sizeof(signed_at), "signed %s",
			         cli_str(p, "signed_at", "?"));
		else
			snprintf(signed_at, sizeof(signed_at), "not signed");
		switch (check) {
		case MSG_PARTY_OK:
			verdict = "verified";
			break;
		case MSG_PARTY_UNSIGNED:
		case MSG_PARTY_WITHDRAWN:
			verdict = "-";
			break;
		case MSG_PARTY_NO_PIN:
			verdict = "no pinned key";
			break;
		case MSG_PARTY_KEY_CHANGED:
			verdict = "KEYS CHANGED: see `ementor trust`";
			bad++;
			break;
		case MSG_PARTY_KEYS_DIFFER:
			verdict = "NOT THE PINNED KEYS";
			bad++;
			break;
		default:
			verdict = "SIGNATURE DOES NOT VERIFY";
			bad++;
			break;
		}
		{
			const char *row[] = {cli_str(p, "username", "?"), cli_str(p, "role", "?"),
			                     fp, signed_at, verdict};

			cli_table_add(&t, row);
		}
	}
	cli_table_print(&t, stdout, "  ");
	cli_table_free(&t);
	agreement_waiting(v, waiting, sizeof(waiting));
	if (waiting[0]) {
		char *w = text_for_terminal(waiting, strlen(waiting));

		printf("  Waiting for: %s\n", w ? w : "?");
		free(w);
	}
	printf("  Terms:\n");
	agreement_print_terms(v->terms);
	return bad;
}

/* Adds "check" (what msg_party_check() found) to every party of a version, for --json. */
static void agreement_annotate(struct msg_ctx *m, struct msg_version *v)
{
	static const char *const names[] = {"verified",     "absent",       "no_pin",
	                                    "keys_changed", "keys_differ",  "unsigned",
	                                    "withdrawn",    "bad_signature"};

	for (size_t i = 0; i < v->n; i++) {
		int check = msg_party_check(m, v, (int64_t)v->parties[i].user_id);

		json_object_set_new(v->party[i], "check", json_string(names[-check]));
	}
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
    "the active version holds) is sealed the room's key.\n"
    "\n"
    "Options:\n"
    "  --json   the server's answer, each party with \"check\": verified, unsigned,\n"
    "           withdrawn, keys_differ, keys_changed, no_pin or bad_signature\n";

int cmd_agreement_show(struct cli *cli, int argc, char **argv)
{
	struct msg_ctx m;
	struct msg_version active, pending;
	json_t *res = NULL, *aj, *pj;
	int64_t room;
	int rc, first, bad = 0, has_active = 0, has_pending = 0;

	rc = cli_parse(cli, argc, argv, NULL, show_usage, NULL, NULL, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_parse_id(argv[first], &room))
		return cli_usage_error(cli, "'%s' is not a room id", argv[first]);
	rc = agreement_open(cli, &m);
	if (rc)
		goto out;
	rc = agreement_fetch(&m, room, &res);
	if (rc)
		goto out;
	aj = json_object_get(res, "active");
	pj = json_object_get(res, "pending");
	if (json_is_object(aj)) {
		if (msg_version_parse(aj, room, &active) != 0) {
			rc = cli_fail(CLI_EXIT_NET, "the server sent a malformed agreement");
			goto out;
		}
		has_active = 1;
	}
	if (json_is_object(pj)) {
		if (msg_version_parse(pj, room, &pending) != 0) {
			rc = cli_fail(CLI_EXIT_NET, "the server sent a malformed agreement");
			goto out;
		}
		has_pending = 1;
	}
	/* The newest version's parties are the room's people as they are now. */
	if (has_pending)
		rc = msg_pin_parties(&m, &pending);
	else if (has_active)
		rc = msg_pin_parties(&m, &active);
	if (rc)
		goto out;
	if (cli->json) {
		if (has_active)
			agreement_annotate(&m, &active);
		if (has_pending)
			agreement_annotate(&m, &pending);
		cli_print_json(res);
		goto out;
	}
	printf("Agreement of room %lld (%s)\n", (long long)room,
	       json_is_false(json_object_get(res, "required"))
	           ? "optional in this programme: every member reads the room"
	           : "required: only those who signed the active version read the room");
	{
		char roster[512] = "";
		size_t i;
		json_t *id;

		json_array_foreach(json_object_get(res, "roster"), i, id)
		{
			struct pin p;
			char name[48];

			if (msg_user_keys(&m, json_integer_value(id), &p) == 0)
				snprintf(name, sizeof(name), "%s", p.username);
			else
				snprintf(name, sizeof(name), "user %lld",
				         (long long)json_integer_value(id));
			if (roster[0])
				strncat(roster, ", ", sizeof(roster) - strlen(roster) - 1);
			strncat(roster, name, sizeof(roster) - strlen(roster) - 1);
		}
		printf("Roster (sealed the room key): %s\n\n", roster[0] ? roster : "nobody yet");
	}
	if (has_active)
		bad += agreement_print_version(&m, "Active", &active, aj);
	else
		printf("Active: none yet (no version has been signed by every party)\n");
	if (has_pending) {
		printf("\n");
		bad += agreement_print_version(&m, "Pending", &pending, pj);
	}
	if (bad) {
		fprintf(
		    stderr,
		    "\nWARNING: %d signature%s or key%s above do%s not check out on this device. "
		    "No room key is sealed to a member whose check fails.\n",
		    bad, bad == 1 ? "" : "s", bad == 1 ? "" : "s", bad == 1 ? "es" : "");
	}
out:
	json_decref(res);
	msg_free(&m);
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

int cmd_agreement_sign(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"yes", no_argument, NULL, 'y'},
	    {NULL, 0, NULL, 0},
	};
	unsigned char sig[EM_SIG_BYTES], csig[EM_SIG_BYTES], hash[EM_HASH_BYTES];
	struct msg_ctx m;
	struct msg_version v;
	json_t *res = NULL, *signed_res = NULL, *vj = NULL, *aj, *pj, *mine;
	char subject[32], question[128], *sig_b64 = NULL, *csig_b64 = NULL;
	int64_t room, at;
	int rc, first, yes = 0, me;

	rc = cli_parse(cli, argc, argv, opts, sign_usage, agreement_yes_option, &yes, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_parse_id(argv[first], &room))
		return cli_usage_error(cli, "'%s' is not a room id", argv[first]);
	rc = agreement_open(cli, &m);
	if (rc)
		goto out;
	rc = agreement_fetch(&m, room, &res);
	if (rc)
		goto out;
	aj = json_object_get(res, "active");
	pj = json_object_get(res, "pending");
	if (json_is_object(pj)) {
		vj = pj;
	} else if (json_is_object(aj)) {
		vj = aj;
	} else {
		rc = cli_fail(CLI_EXIT_REFUSED, "room %lld has no agreement to sign",
		              (long long)room);
		goto out;
	}
	if (msg_version_parse(vj, room, &v) != 0) {
		rc = cli_fail(CLI_EXIT_NET, "the server sent a malformed agreement");
		goto out;
	}
	me = msg_version_party(&v, m.session.user_id);
	if (me < 0) {
		rc = cli_fail(CLI_EXIT_REFUSED,
		              "you are not a party of version %u of the agreement of room %lld",
		              v.version, (long long)room);
		goto out;
	}
	mine = json_object_get(v.party[me], "withdrawn_at");
	if (json_is_string(json_object_get(v.party[me], "signature")) &&
	    (!mine || json_is_null(mine))) {
		char waiting[512];

		agreement_waiting(&v, waiting, sizeof(waiting));
		if (cli->json)
			cli_print_json(res);
		else if (waiting[0])
			printf("You have signed version %u of the agreement of room %lld; waiting "
			       "for: %s.\n",
			       v.version, (long long)room, waiting);
		else
			printf("You have signed version %u of the agreement of room %lld; it is "
			       "active.\n",
			       v.version, (long long)room);
		goto out;
	}
	rc = msg_pin_parties(&m, &v);
	if (rc)
		goto out;
	for (size_t i = 0; i < v.n; i++) {
		int check = msg_party_check(&m, &v, (int64_t)v.parties[i].user_id);

		if (check == MSG_PARTY_KEYS_DIFFER || check == MSG_PARTY_KEY_CHANGED ||
		    check == MSG_PARTY_NO_PIN || check == MSG_PARTY_BAD_SIGNATURE) {
			rc = cli_fail(CLI_EXIT_REFUSED,
			              "not signing: in version %u, %s %s%s. Nothing was signed.",
			              v.version, cli_str(v.party[i], "username", "?"),
			              msg_party_text(check),
			              (int)i == me ? " (your own keys: run `ementor whoami`)" : "");
			goto out;
		}
	}
	if (!cli->json) {
		printf("Agreement of room %lld, version %u (%s to %s)\n\nParties:\n",
		       (long long)room, v.version, v.starts_on, v.ends_on);
		for (size_t i = 0; i < v.n; i++) {
			char fp[EM_FINGERPRINT_STRLEN];

			em_fingerprint(v.parties[i].sign_pk, v.parties[i].box_pk, fp);
			printf("  %-20s %-8s %s\n", cli_str(v.party[i], "username", "?"),
			       cli_str(v.party[i], "role", "?"), fp);
		}
		printf("\nTerms:\n");
		agreement_print_terms(v.terms);
		printf("\n");
		fflush(stdout);
	}
	if (!yes) {
		int ok;

		snprintf(question, sizeof(question),
		         "Sign version %u of the agreement of room %lld? [y/N] ", v.version,
		         (long long)room);
		ok = prompt_yes(question);
		if (ok < 0) {
			rc = cli_usage_error(cli, "no terminal to ask on: pass --yes to sign");
			goto out;
		}
		if (!ok) {
			printf("Not signed.\n");
			rc = CLI_EXIT_REFUSED;
			goto out;
		}
	}
	snprintf(subject, sizeof(subject), "room:%lld", (long long)room);
	at = (int64_t)time(NULL);
	if (em_agreement_sign((uint64_t)room, v.version, v.starts_on, v.ends_on, v.terms, v.parties,
	                      v.n, m.keys.keys.sign_sk, sig) != 0 ||
	    em_agreement_hash((uint64_t)room, v.version, v.starts_on, v.ends_on, v.terms, v.parties,
	                      v.n, hash) != 0 ||
	    em_consent_sign(m.keys.keys.sign_pk, "agreement", subject, hash, "grant", at,
	                    m.keys.keys.sign_sk, csig) != 0) {
		rc = cli_fail(CLI_EXIT_LOCAL, "cannot sign the agreement (out of memory?)");
		goto out;
	}
	sig_b64 = em_b64_encode(sig, sizeof(sig));
	csig_b64 = em_b64_encode(csig, sizeof(csig));
	if (!sig_b64 || !csig_b64) {
		rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
		goto out;
	}
	rc = msg_call(&m, EM_OP_AGREEMENT_SIGN,
	              json_pack("{s:I, s:I, s:s, s:I, s:s}", "room_id", (json_int_t)room, "version",
	                        (json_int_t)v.version, "signature", sig_b64, "consent_at",
	                        (json_int_t)at, "consent_signature", csig_b64),
	              &signed_res);
	if (rc) {
		rc = msg_report(&m, rc, room);
		goto out;
	}
	if (cli->json) {
		cli_print_json(signed_res);
		goto out;
	}
	printf("Signed version %u of the agreement of room %lld.\n", v.version, (long long)room);
	{
		json_t *now = json_object_get(signed_res, "agreement");
		json_t *act = json_object_get(now, "active");
		struct msg_version after;

		if (json_is_object(act) &&
		    json_integer_value(json_object_get(act, "version")) == (json_int_t)v.version) {
			printf("Every party has signed: version %u is active.\n", v.version);
		} else if (json_is_object(json_object_get(now, "pending")) &&
		           msg_version_parse(json_object_get(now, "pending"), room, &after) == 0) {
			char waiting[512];

			agreement_waiting(&after, waiting, sizeof(waiting));
			printf("Waiting for: %s.\n", waiting[0] ? waiting : "-");
		}
	}
out:
	sodium_memzero(sig, sizeof(sig));
	sodium_memzero(csig, sizeof(csig));
	free(sig_b64);
	free(csig_b64);
	json_decref(res);
	json_decref(signed_res);
	msg_free(&m);
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

/* The one option of propose (--add-term) and template (--file): keeps its value. */
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
	struct home_session s;
	struct conn *c = NULL;
	json_t *res = NULL, *pending;
	const char *term = NULL;
	int64_t room;
	int rc, first;

	memset(&s, 0, sizeof(s));
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
	rc = cli_session_open(cli, &s, &c);
	if (rc)
		goto out;
	rc = cli_call(cli, c, EM_OP_AGREEMENT_PROPOSE,
	              json_pack("{s:I, s:s}", "room_id", (json_int_t)room, "term", term), &res);
	if (rc)
		goto out;
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
	json_decref(res);
	conn_free(c);
	home_session_wipe(&s);
	return rc;
}

/* ---- agreement template show | edit ---- */

static const char template_usage[] =
    "Usage: ementor agreement template show PROGRAMME\n"
    "       ementor agreement template edit PROGRAMME --file PATH\n"
    "\n"
    "The programme's agreement template (managers of the programme): the terms every\n"
    "room's agreement starts with. New programmes start with the default terms of\n"
    "mentoring and code of ethics. Editing it refreshes the pending version of every\n"
    "room of the programme that has no active agreement yet; rooms with an active\n"
    "agreement keep it.\n"
    "\n"
    "Options:\n"
    "  --file PATH   the new text (UTF-8, at most 20,000 bytes); - for standard input\n";

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
	    {NULL, 0, NULL, 0},
	};
	struct home_session s;
	struct conn *c = NULL;
	json_t *res = NULL;
	const char *file = NULL, *verb;
	char *text = NULL;
	size_t len = 0, w = 0;
	int64_t programme;
	int rc, first, edit, err;

	memset(&s, 0, sizeof(s));
	rc = cli_parse(cli, argc, argv, opts, template_usage, one_arg_option, &file, 2, 2, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	verb = argv[first];
	edit = !strcmp(verb, "edit");
	if (!edit && strcmp(verb, "show") != 0)
		return cli_usage_error(cli, "expected show or edit, not '%s'", verb);
	if (cli_parse_id(argv[first + 1], &programme))
		return cli_usage_error(cli, "'%s' is not a programme id", argv[first + 1]);
	if (edit && !file)
		return cli_usage_error(cli, "--file PATH is required (- for standard input)");
	if (!edit && file)
		return cli_usage_error(cli, "--file is for `agreement template edit`");
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
	rc = cli_session_open(cli, &s, &c);
	if (rc)
		goto out;
	if (edit)
		rc = cli_call(
		    cli, c, EM_OP_AGREEMENT_TEMPLATE_SET,
		    json_pack("{s:I, s:s}", "programme_id", (json_int_t)programme, "text", text),
		    &res);
	else
		rc = cli_call_raw(c, EM_OP_AGREEMENT_TEMPLATE_GET,
		                  json_pack("{s:I}", "programme_id", (json_int_t)programme), &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	if (edit) {
		printf(
		    "Saved the agreement template of programme %lld (%zu bytes). Rooms without an "
		    "active agreement have a new pending version to sign.\n",
		    (long long)programme, len);
	} else {
		printf("Agreement template of programme %lld (updated %s):\n\n",
		       (long long)programme, cli_str(res, "updated_at", "never: the default"));
		agreement_print_terms(cli_str(res, "text", ""));
	}
out:
	free(text);
	json_decref(res);
	conn_free(c);
	home_session_wipe(&s);
	return rc;
}
