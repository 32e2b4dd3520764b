/*
 * cmd_consent.c - consent and your data (PROTOCOL.md section 7): `consent
 * list` (your records in the server's consent ledger, each signature checked
 * here with your own key), `consent grant` and `consent withdraw` (signed
 * records; withdrawing data_processing erases the account), and `export`
 * (everything the server holds about you, with your rooms' messages
 * decrypted on this device).
 *
 * DESIGN. A consent record is signed by this client over the exact bytes of
 * PROTOCOL.md 7.1, so the ledger proves what the user agreed to and the
 * server cannot invent or alter a record without the list below showing it
 * as failing. A withdrawal names the same text hash as the grant it
 * withdraws (taken from the ledger), and a grant of share_progress signs the
 * hash of the sentence shown, after checking the server's hash of it.
 *
 * Thread: main only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "msg.h"
#include "prompt.h"

/* History page size for the export. */
#define EXPORT_PAGE 200

/* ---- shared ---- */

static int consent_open(struct cli *cli, struct msg_ctx *m)
{
	int rc = msg_init(cli, m);

	if (rc)
		return rc;
	return msg_connect(m);
}

/* Prints a refusal of the last msg_call() the way cli_call() does; returns rc. */
static int consent_refused(const struct msg_ctx *m, int rc)
{
	if (rc == CLI_EXIT_REFUSED)
		fprintf(stderr, "error: %s (%s)\n", m->errmsg, em_err_code(m->err));
	return rc;
}

/* Whether a ledger entry's signature verifies with our own sign_pk. */
static int consent_entry_ok(const struct msg_ctx *m, json_t *e)
{
	unsigned char hash[EM_HASH_BYTES], sig[EM_SIG_BYTES];
	const char *purpose = cli_str(e, "purpose", NULL), *subject = cli_str(e, "subject", NULL);
	const char *action = cli_str(e, "action", NULL);
	json_t *at = json_object_get(e, "at");

	return purpose && subject && action && json_is_integer(at) &&
	       em_b64_decode(cli_str(e, "text_hash", ""), hash, sizeof(hash)) ==
	           (int)sizeof(hash) &&
	       em_b64_decode(cli_str(e, "signature", ""), sig, sizeof(sig)) == (int)sizeof(sig) &&
	       em_consent_verify(m->keys.keys.sign_pk, purpose, subject, hash, action,
	                         (int64_t)json_integer_value(at), sig) == 0;
}

/*
 * Signs a record and sends it as `op` (consent.grant or consent.withdraw).
 * Returns an exit code (refusals reported). Who frees: the caller, *res.
 */
static int consent_send(struct msg_ctx *m, enum em_op op, const char *purpose, const char *subject,
                        const unsigned char hash[EM_HASH_BYTES], json_t **res)
{
	unsigned char sig[EM_SIG_BYTES];
	const char *action = op == EM_OP_CONSENT_GRANT ? "grant" : "withdraw";
	int64_t at = (int64_t)time(NULL);
	char *sig_b64 = NULL, *hash_b64 = NULL;
	int rc;

	if (em_consent_sign(m->keys.keys.sign_pk, purpose, subject, hash, action, at,
	                    m->keys.keys.sign_sk, sig) != 0)
		return cli_fail(CLI_EXIT_LOCAL, "cannot sign the consent record");
	sig_b64 = em_b64_encode(sig, sizeof(sig));
	hash_b64 = em_b64_encode(hash, EM_HASH_BYTES);
	sodium_memzero(sig, sizeof(sig));
	if (!sig_b64 || !hash_b64) {
		free(sig_b64);
		free(hash_b64);
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	}
	rc = msg_call(m, op,
	              json_pack("{s:s, s:s, s:s, s:I, s:s}", "purpose", purpose, "subject", subject,
	                        "text_hash", hash_b64, "at", (json_int_t)at, "signature", sig_b64),
	              res);
	free(sig_b64);
	free(hash_b64);
	return consent_refused(m, rc);
}

/* ---- consent list ---- */

static const char list_usage[] =
    "Usage: ementor consent list\n"
    "\n"
    "Your records in the server's consent ledger, oldest first: what you granted or\n"
    "withdrew, when, and whether the record's signature verifies with your own key\n"
    "on this device (a record that does not was not made by you). Then what stands\n"
    "now, per purpose.\n"
    "\n"
    "Options:\n"
    "  --json   the server's answer, each entry with \"verified\": true|false\n";

int cmd_consent_list(struct cli *cli, int argc, char **argv)
{
	static const char *const head[] = {"SEQ",     "WHEN",   "PURPOSE",
	                                   "SUBJECT", "ACTION", "SIGNATURE"};
	static const char *const head_now[] = {"PURPOSE", "SUBJECT", "STATE", "SINCE"};
	struct msg_ctx m;
	struct cli_table t, now;
	json_t *res = NULL, *e;
	size_t i, bad = 0;
	int rc, first;

	cli_table_init(&t, 6, head);
	cli_table_init(&now, 4, head_now);
	rc = cli_parse(cli, argc, argv, NULL, list_usage, NULL, NULL, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = consent_open(cli, &m);
	if (rc)
		goto out;
	rc = msg_call(&m, EM_OP_CONSENT_LIST, NULL, &res);
	if (rc) {
		rc = consent_refused(&m, rc);
		goto out;
	}
	json_array_foreach(json_object_get(res, "entries"), i, e)
	{
		int ok = consent_entry_ok(&m, e);
		char seq[24], when[40];

		bad += !ok;
		if (cli->json) {
			json_object_set_new(e, "verified", json_boolean(ok));
			continue;
		}
		text_local_time(cli_str(e, "recorded_at", ""), when, sizeof(when));
		{
			const char *row[] = {cli_int_text(e, "seq", seq, sizeof(seq)),
			                     when,
			                     cli_str(e, "purpose", "?"),
			                     cli_str(e, "subject", "?"),
			                     cli_str(e, "action", "?"),
			                     ok ? "verified" : "DOES NOT VERIFY"};

			cli_table_add(&t, row);
		}
	}
	if (cli->json) {
		cli_print_json(res);
	} else if (!t.nrows) {
		printf("No consent records.\n");
	} else {
		cli_table_print(&t, stdout, "");
		json_array_foreach(json_object_get(res, "current"), i, e)
		{
			char when[40];
			const char *row[] = {
			    cli_str(e, "purpose", "?"), cli_str(e, "subject", "?"),
			    json_is_true(json_object_get(e, "granted")) ? "granted" : "withdrawn",
			    when};

			text_local_time(cli_str(e, "at", ""), when, sizeof(when));
			cli_table_add(&now, row);
		}
		if (now.nrows) {
			printf("\nNow:\n");
			cli_table_print(&now, stdout, "  ");
		}
	}
	if (bad)
		fprintf(stderr,
		        "WARNING: %zu record%s of the ledger %s not signed by your key: the server "
		        "shows consents you did not give. Tell your programme's operator.\n",
		        bad, bad == 1 ? "" : "s", bad == 1 ? "is" : "are");
out:
	cli_table_free(&t);
	cli_table_free(&now);
	json_decref(res);
	msg_free(&m);
	return rc;
}

/* ---- consent grant | withdraw ---- */

struct consent_args {
	const char *programme;
	const char *room;
	int yes;
};

static int consent_option(void *ctx, int opt, const char *arg)
{
	struct consent_args *a = ctx;

	if (opt == 'p')
		a->programme = arg;
	else if (opt == 'r')
		a->room = arg;
	else if (opt == 'y')
		a->yes = 1;
	return CLI_CONTINUE;
}

/*
 * The subject of a purpose from the options: "programme:ID", "room:ID", or
 * "" for data_processing (its subject is the notice version, found in the
 * ledger). Returns CLI_CONTINUE or a usage exit code.
 */
static int consent_subject(struct cli *cli, const char *purpose, const struct consent_args *a,
                           char *out, size_t len)
{
	int64_t id;

	out[0] = '\0';
	if (!strcmp(purpose, "share_progress")) {
		if (!a->programme || a->room || cli_parse_id(a->programme, &id))
			return cli_usage_error(cli, "share_progress needs --programme ID");
		snprintf(out, len, "programme:%lld", (long long)id);
	} else if (!strcmp(purpose, "agreement")) {
		if (!a->room || a->programme || cli_parse_id(a->room, &id))
			return cli_usage_error(cli, "agreement needs --room ID");
		snprintf(out, len, "room:%lld", (long long)id);
	} else if (!strcmp(purpose, "data_processing")) {
		if (a->room || a->programme)
			return cli_usage_error(cli,
			                       "data_processing takes no --room or --programme");
	} else {
		return cli_usage_error(cli,
		                       "unknown purpose '%s': data_processing, agreement or "
		                       "share_progress",
		                       purpose);
	}
	return CLI_CONTINUE;
}

static const char grant_usage[] =
    "Usage: ementor consent grant share_progress --programme ID\n"
    "\n"
    "Allow the programme's managers to see your progress in that programme. The\n"
    "sentence you agree to is shown; the record is signed with your key.\n"
    "(data_processing is granted at registration; an agreement is signed with\n"
    "`ementor agreement sign ROOM`.)\n";

int cmd_consent_grant(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"programme", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	unsigned char hash[EM_HASH_BYTES], want[EM_HASH_BYTES];
	struct consent_args a = {0};
	struct msg_ctx m;
	json_t *notice = NULL, *res = NULL;
	const char *purpose, *text;
	char subject[EM_CONSENT_STR_MAX + 1];
	int rc, first;

	memset(&m, 0, sizeof(m));
	rc = cli_parse(cli, argc, argv, opts, grant_usage, consent_option, &a, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	purpose = argv[first];
	if (!strcmp(purpose, "agreement"))
		return cli_usage_error(cli, "sign a room's agreement with `ementor agreement sign "
		                            "ROOM`");
	if (!strcmp(purpose, "data_processing"))
		return cli_usage_error(cli, "data_processing is granted when you register");
	rc = consent_subject(cli, purpose, &a, subject, sizeof(subject));
	if (rc != CLI_CONTINUE)
		return rc;
	rc = consent_open(cli, &m);
	if (rc)
		goto out;
	rc = msg_call(&m, EM_OP_PRIVACY_NOTICE, NULL, &notice);
	if (rc) {
		rc = consent_refused(&m, rc);
		goto out;
	}
	text = cli_str(notice, "share_progress_text", NULL);
	if (!text || em_b64_decode(cli_str(notice, "share_progress_hash", ""), hash,
	                           sizeof(hash)) != (int)sizeof(hash)) {
		rc = cli_fail(CLI_EXIT_NET, "the server's privacy notice is incomplete");
		goto out;
	}
	em_text_hash(text, want);
	if (sodium_memcmp(want, hash, sizeof(hash)) != 0) {
		rc = cli_fail(CLI_EXIT_NET, "the server's share_progress text does not match its "
		                            "hash; nothing was granted");
		goto out;
	}
	if (!cli->json) {
		char *safe = text_for_terminal(text, strlen(text));

		printf("You agree to: %s\n", safe ? safe : "?");
		free(safe);
	}
	rc = consent_send(&m, EM_OP_CONSENT_GRANT, purpose, subject, hash, &res);
	if (rc)
		goto out;
	if (cli->json)
		cli_print_json(res);
	else
		printf("Granted %s for %s (ledger entry %lld).\n", purpose, subject,
		       (long long)json_integer_value(
		           json_object_get(json_object_get(res, "entry"), "seq")));
out:
	json_decref(notice);
	json_decref(res);
	msg_free(&m);
	return rc;
}

static const char withdraw_usage[] =
    "Usage: ementor consent withdraw share_progress --programme ID\n"
    "       ementor consent withdraw agreement --room ID\n"
    "       ementor consent withdraw data_processing [--yes]\n"
    "\n"
    "Withdraw a consent you gave; the withdrawal is signed with your key.\n"
    "  share_progress    the programme's managers no longer see your progress\n"
    "  agreement         you leave the room's roster: you are sealed no new room\n"
    "                    key and cannot read what is sent from then on; sign again\n"
    "                    with `ementor agreement sign ROOM` to come back\n"
    "  data_processing   ERASES YOUR ACCOUNT: your keys, sessions and personal data\n"
    "                    are deleted on the server, you leave every room and can\n"
    "                    never log in again. Asks for confirmation unless --yes.\n";

int cmd_consent_withdraw(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"programme", required_argument, NULL, 'p'},
	    {"room", required_argument, NULL, 'r'},
	    {"yes", no_argument, NULL, 'y'},
	    {NULL, 0, NULL, 0},
	};
	unsigned char hash[EM_HASH_BYTES];
	struct consent_args a = {0};
	struct msg_ctx m;
	json_t *list = NULL, *res = NULL, *e, *latest = NULL;
	const char *purpose;
	char subject[EM_CONSENT_STR_MAX + 1], question[160];
	size_t i;
	int rc, first, erase;

	memset(&m, 0, sizeof(m));
	rc = cli_parse(cli, argc, argv, opts, withdraw_usage, consent_option, &a, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	purpose = argv[first];
	rc = consent_subject(cli, purpose, &a, subject, sizeof(subject));
	if (rc != CLI_CONTINUE)
		return rc;
	erase = !strcmp(purpose, "data_processing");
	if (a.yes && !erase)
		return cli_usage_error(cli, "--yes is for withdrawing data_processing");
	rc = consent_open(cli, &m);
	if (rc)
		goto out;
	/* The record withdrawn: the latest of that purpose and subject, which must be a grant. */
	rc = msg_call(&m, EM_OP_CONSENT_LIST, NULL, &list);
	if (rc) {
		rc = consent_refused(&m, rc);
		goto out;
	}
	json_array_foreach(json_object_get(list, "entries"), i, e)
	{
		if (strcmp(cli_str(e, "purpose", ""), purpose) != 0 ||
		    (!erase && strcmp(cli_str(e, "subject", ""), subject) != 0))
			continue;
		if (!latest || json_integer_value(json_object_get(e, "seq")) >
		                   json_integer_value(json_object_get(latest, "seq")))
			latest = e;
	}
	if (!latest || strcmp(cli_str(latest, "action", ""), "grant") != 0) {
		rc = cli_fail(CLI_EXIT_REFUSED, "there is no %s consent of yours%s%s to withdraw",
		              purpose, subject[0] ? " for " : "", subject);
		goto out;
	}
	if (erase)
		snprintf(subject, sizeof(subject), "%s", cli_str(latest, "subject", ""));
	if (!subject[0] || strlen(subject) > EM_CONSENT_STR_MAX ||
	    em_b64_decode(cli_str(latest, "text_hash", ""), hash, sizeof(hash)) !=
	        (int)sizeof(hash)) {
		rc = cli_fail(CLI_EXIT_NET, "the server's ledger entry %lld is malformed",
		              (long long)json_integer_value(json_object_get(latest, "seq")));
		goto out;
	}
	if (erase) {
		fprintf(stderr,
		        "Withdrawing your consent to data processing ERASES YOUR ACCOUNT %s:\n"
		        "  - your keys, sessions, calendar feeds and notices are deleted on the "
		        "server;\n"
		        "  - your username and display name are replaced by a placeholder;\n"
		        "  - you leave every room, and you can never log in again.\n"
		        "Messages you sent stay in the rooms' history, readable only by the other\n"
		        "members. The consent ledger keeps its records under your numeric id.\n"
		        "This cannot be undone.\n",
		        m.session.username);
		if (!a.yes) {
			int ok;

			snprintf(question, sizeof(question),
			         "Erase the account %s for good? [y/N] ", m.session.username);
			ok = prompt_yes(question);
			if (ok < 0) {
				rc = cli_usage_error(cli,
				                     "no terminal to ask on: pass --yes to erase "
				                     "your account");
				goto out;
			}
			if (!ok) {
				printf("Nothing was withdrawn; your account stays.\n");
				rc = CLI_EXIT_REFUSED;
				goto out;
			}
		}
	}
	rc = consent_send(&m, EM_OP_CONSENT_WITHDRAW, purpose, subject, hash, &res);
	if (rc)
		goto out;
	if (erase) {
		int gone = home_remove(&cli->home, HOME_SESSION_FILE);

		if (gone)
			cli_home_error(cli, "delete", HOME_SESSION_FILE, gone);
	}
	if (cli->json)
		cli_print_json(res);
	else if (erase)
		printf("Your account %s was erased. The session on this device was deleted.\n",
		       m.session.username);
	else if (!strcmp(purpose, "agreement"))
		printf("Withdrew your signature of the agreement of %s: you are off the room's "
		       "roster and will not be sealed its next key. `ementor agreement sign %s` "
		       "brings you back.\n",
		       subject, subject + strlen("room:"));
	else
		printf("Withdrew %s for %s.\n", purpose, subject);
out:
	json_decref(list);
	json_decref(res);
	msg_free(&m);
	return rc;
}

/* ---- export ---- */

static const char export_usage[] =
    "Usage: ementor export [--output FILE]\n"
    "\n"
    "Everything the server holds about you (profile, programmes, rooms, agreements,\n"
    "consents, checkpoints, attendance), plus every message of your rooms that\n"
    "your keys can open, decrypted on this device:\n"
    "  \"messages\": [{room_id, seq, sender, sent_at, text | \"undecryptable\": true}]\n"
    "written as JSON to FILE (created 0600) or to standard output.\n"
    "\n"
    "Options:\n"
    "  --output FILE   where to write (default: standard output)\n";

static int export_option(void *ctx, int opt, const char *arg)
{
	(void)opt;
	*(const char **)ctx = arg;
	return CLI_CONTINUE;
}

/* Appends the decrypted history of one room to out. Returns an exit code. */
static int export_room(struct msg_ctx *m, int64_t room, json_t *out)
{
	json_t *res = NULL, *msg;
	int64_t after = 0;
	int rc = CLI_EXIT_OK, more = 1, shown = 0;
	size_t i;

	while (more) {
		json_decref(res);
		res = NULL;
		rc = msg_call(m, EM_OP_HISTORY,
		              json_pack("{s:I, s:I, s:I}", "room_id", (json_int_t)room, "after_seq",
		                        (json_int_t)after, "limit", (json_int_t)EXPORT_PAGE),
		              &res);
		if (rc)
			break;
		if (!shown++) { /* fresh member keys before the first message is checked */
			int src = msg_room_show(m, room, NULL);

			if (src == CLI_EXIT_NET || src == CLI_EXIT_AUTH || src == CLI_EXIT_LOCAL) {
				rc = src;
				break;
			}
		}
		more = json_is_true(json_object_get(res, "more"));
		json_array_foreach(json_object_get(res, "messages"), i, msg)
		{
			struct msg_view v;
			json_t *o;

			msg_open(m, msg, &v);
			if (v.seq <= after) { /* never backwards */
				msg_view_clear(&v);
				more = 0;
				break;
			}
			after = v.seq;
			o = json_pack("{s:I, s:I, s:s, s:s}", "room_id", (json_int_t)room, "seq",
			              (json_int_t)v.seq, "sender", v.sender, "sent_at", v.sent_at);
			if (o && v.text)
				json_object_set_new(o, "text", json_stringn(v.text, v.text_len));
			else if (o) {
				json_object_set_new(o, "undecryptable", json_true());
				json_object_set_new(o, "reason", json_string(v.error));
			}
			json_array_append_new(out, o);
			msg_view_clear(&v);
		}
		if (!json_array_size(json_object_get(res, "messages")))
			break;
	}
	json_decref(res);
	return rc;
}

/* Writes text and a newline to a new file of mode 0600. Returns 0 or an errno. */
static int export_write(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(text), done = 0;
	int err = 0;

	if (fd < 0)
		return errno;
	while (done < len && !err) {
		ssize_t w = write(fd, text + done, len - done);

		if (w < 0 && errno != EINTR)
			err = errno;
		else if (w > 0)
			done += (size_t)w;
	}
	if (!err && write(fd, "\n", 1) != 1)
		err = errno ? errno : EIO;
	if (close(fd) != 0 && !err)
		err = errno;
	return err;
}

int cmd_export(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {NULL, 0, NULL, 0},
	};
	struct msg_ctx m;
	json_t *res = NULL, *messages = NULL, *room;
	const char *output = NULL;
	char *text = NULL;
	size_t i;
	int rc, first;

	memset(&m, 0, sizeof(m));
	rc = cli_parse(cli, argc, argv, opts, export_usage, export_option, &output, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = consent_open(cli, &m);
	if (rc)
		goto out;
	rc = msg_call(&m, EM_OP_ACCOUNT_EXPORT, NULL, &res);
	if (rc) {
		rc = consent_refused(&m, rc);
		goto out;
	}
	messages = json_array();
	json_array_foreach(json_object_get(res, "rooms"), i, room)
	{
		int64_t id = json_integer_value(json_object_get(room, "room_id"));
		int rrc;

		if (id < 1)
			continue;
		rrc = export_room(&m, id, messages);
		if (rrc == CLI_EXIT_REFUSED) {
			/* A room you left: its history is no longer yours to fetch. */
			json_object_set_new(
			    room, "messages_unavailable",
			    json_string(m.errmsg[0] ? m.errmsg : em_err_code(m.err)));
		} else if (rrc) {
			rc = rrc;
			goto out;
		}
	}
	json_object_set(res, "messages", messages);
	text = json_dumps(res, JSON_INDENT(2));
	if (!text) {
		rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
		goto out;
	}
	if (output) {
		int err = export_write(output, text);

		if (err) {
			rc = cli_fail(CLI_EXIT_LOCAL, "cannot write %s: %s", output, strerror(err));
			goto out;
		}
		fprintf(stderr, "Exported your data and %zu message%s to %s.\n",
		        json_array_size(messages), json_array_size(messages) == 1 ? "" : "s",
		        output);
	} else {
		printf("%s\n", text);
	}
out:
	if (text) {
		sodium_memzero(text, strlen(text));
		free(text);
	}
	json_decref(messages);
	json_decref(res);
	msg_free(&m);
	return rc;
}
