/*
 * cmd_message.c - the non-interactive messaging commands: `send` (through the
 * outbox, so a message typed while the server is down is not lost), `read`
 * (a room's history, verified and decrypted on this device, with the reason
 * shown for any message that cannot be), and `outbox` (list, flush or drop
 * what is waiting). The protocol work, and every check, is the client
 * core's (core/emc.h: the `send`, `flush` and `read` tasks); this file parses
 * options and prints.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "drive.h"
#include "state_io.h"

/* History page size: 200 messages of at most ~22 KiB of base64 each. */
#define READ_PAGE 200

/* ---- shared ---- */

/* Explains a text_prepare() failure. Returns the exit code. */
static int message_text_error(struct cli *cli, int err)
{
	if (err == -EINVAL)
		return cli_usage_error(cli, "nothing to send: the message is empty");
	if (err == -E2BIG)
		return cli_usage_error(cli, "the message is longer than %d bytes",
		                       EM_MSG_PLAINTEXT_MAX);
	return cli_usage_error(cli, "the message is not valid UTF-8 text");
}

/* ---- send ---- */

static const char send_usage[] =
    "Usage: ementor send ROOM [TEXT...]\n"
    "\n"
    "Send a message to a room, end-to-end encrypted: only the room's members can\n"
    "read it, not the server or the programme's managers. Without TEXT, the\n"
    "message is all of standard input (at most 16,384 bytes; one trailing newline\n"
    "is removed).\n"
    "\n"
    "The message goes into the outbox first (outbox.json in the home directory)\n"
    "and leaves it when the server acknowledges it. When the server cannot be\n"
    "reached it stays queued, and is sent, exactly once, by the next command that\n"
    "connects (send, read, chat, outbox flush).\n"
    "\n"
    "Before sending, the room's member keys are compared with the ones pinned on\n"
    "this device; if one changed, nothing is sent until `ementor trust USER`.\n"
    "When the room needs a new key (a member joined or left, or the key is old),\n"
    "this command makes one and seals it to every member.\n"
    "\n"
    "Prints \"sent (seq N)\". Exit status 4 with \"queued: ...\" when the server is\n"
    "unreachable.\n"
    "\n"
    "Options:\n"
    "  --json   print {\"room_id\", \"seq\", \"duplicate\"}\n";

/* Reads all of stdin, at most max bytes. Who frees: the caller. */
static char *send_read_stdin(size_t max, size_t *len, int *too_long)
{
	size_t cap = max + 3, n = 0;
	char *buf = malloc(cap);

	*too_long = 0;
	if (!buf)
		return NULL;
	for (;;) {
		ssize_t r = read(STDIN_FILENO, buf + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == cap) {
			*too_long = 1;
			break;
		}
	}
	*len = n;
	return buf;
}

int cmd_send(struct cli *cli, int argc, char **argv)
{
	struct drive d;
	char *text = NULL;
	size_t len = 0;
	int64_t room;
	int rc, first, too_long = 0, inited = 0;

	rc = cli_parse(cli, argc, argv, NULL, send_usage, NULL, NULL, 1, 1024, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_parse_id(argv[first], &room))
		return cli_usage_error(cli, "'%s' is not a room id", argv[first]);
	if (first + 1 < argc) {
		for (int i = first + 1; i < argc; i++)
			len += strlen(argv[i]) + 1;
		text = malloc(len + 2);
		if (!text)
			return cli_fail(CLI_EXIT_LOCAL, "out of memory");
		text[0] = '\0';
		for (int i = first + 1; i < argc; i++) {
			strcat(text, argv[i]);
			if (i + 1 < argc)
				strcat(text, " ");
		}
		len = strlen(text);
	} else {
		if (isatty(STDIN_FILENO))
			fprintf(stderr, "Type the message; end it with Ctrl-D.\n");
		text = send_read_stdin(EM_MSG_PLAINTEXT_MAX, &len, &too_long);
		if (!text)
			return cli_fail(CLI_EXIT_LOCAL, "cannot read standard input");
	}
	rc = too_long ? -E2BIG : text_prepare(text, &len);
	if (rc) {
		rc = message_text_error(cli, rc);
		goto out;
	}
	{
		struct drive_end end;
		const char *outcome;
		int64_t first_sent = 0;

		rc = drive_open(cli, &d, 1);
		inited = d.core != NULL;
		if (!d.core)
			goto out;
		if (rc && rc != CLI_EXIT_NET && rc != CLI_EXIT_REFUSED && rc != CLI_EXIT_AUTH)
			goto out;
		{
			int conn_rc = rc;

			text[len] = '\0';
			if (drive_run(&d,
			              json_pack("{s:s, s:I, s:s%}", "cmd", "send", "room",
			                        (json_int_t)room, "text", text, len),
			              &end) != 0) {
				rc = CLI_EXIT_LOCAL;
				goto out;
			}
			first_sent =
			    json_integer_value(json_object_get(end.result, "delivered_first"));
			if (first_sent)
				fprintf(stderr, "ementor: delivered %lld queued message%s first\n",
				        (long long)first_sent, first_sent == 1 ? "" : "s");
			if (end.ok) {
				rc = CLI_EXIT_OK;
				if (cli->json) {
					json_t *o = json_pack(
					    "{s:I, s:I, s:b}", "room_id", (json_int_t)room, "seq",
					    (json_int_t)json_integer_value(
					        json_object_get(end.result, "seq")),
					    "duplicate",
					    json_is_true(json_object_get(end.result, "duplicate")));

					cli_print_json(o);
					json_decref(o);
				} else {
					printf(
					    "sent (seq %lld)%s\n",
					    (long long)json_integer_value(
					        json_object_get(end.result, "seq")),
					    json_is_true(json_object_get(end.result, "duplicate"))
					        ? " (the server already had it)"
					        : "");
				}
				drive_end_clear(&end);
				goto out;
			}
			outcome = json_string_value(json_object_get(end.result, "outcome"));
			rc = end.exit;
			if (conn_rc) {
				/* whatever went wrong, the message is safe in the outbox */
				fprintf(stderr,
				        "queued: %s; it will be sent next time ementor connects.\n",
				        conn_rc == CLI_EXIT_AUTH ? "log in again first"
				                                 : "the server is unreachable");
				rc = conn_rc == CLI_EXIT_REFUSED ? CLI_EXIT_NET : conn_rc;
			} else if (outcome && !strcmp(outcome, "queued")) {
				if (rc == CLI_EXIT_NET)
					fprintf(stderr, "queued: the server is unreachable; it "
					                "will be sent next "
					                "time ementor connects.\n");
				else
					fprintf(
					    stderr,
					    "queued: it will be sent next time ementor connects "
					    "(`ementor outbox flush`).\n");
			} else if (outcome && !strcmp(outcome, "dropped")) {
				rc = CLI_EXIT_REFUSED;
			} else {
				fprintf(stderr, "not sent: the message stays in the outbox "
				                "(`ementor outbox list`).\n");
			}
			drive_end_clear(&end);
		}
	}
out:
	if (text) {
		sodium_memzero(text, len);
		free(text);
	}
	if (inited)
		drive_close(&d);
	return rc;
}

/* ---- read ---- */

static const char read_usage[] =
    "Usage: ementor read ROOM [--since SEQ] [--limit N]\n"
    "\n"
    "Show a room's messages, decrypted on this device, one per line:\n"
    "  [SEQ] YYYY-MM-DD HH:MM SENDER: TEXT        (local time)\n"
    "Each message's signature is checked with the sender's pinned key before it\n"
    "is decrypted. A message that cannot be verified or decrypted is shown with\n"
    "the reason instead of its text, never left out. Sends a read receipt for the\n"
    "last message shown.\n"
    "\n"
    "Options:\n"
    "  --since SEQ   only messages after SEQ (default: the whole history)\n"
    "  --limit N     at most N messages\n"
    "  --json        an array of {seq, sender, sender_id, epoch, sent_at, text|error}\n";

struct read_args {
	const char *since;
	const char *limit;
};

static int read_option(void *ctx, int opt, const char *arg)
{
	struct read_args *a = ctx;

	if (opt == 's')
		a->since = arg;
	else if (opt == 'l')
		a->limit = arg;
	return CLI_CONTINUE;
}

static int read_parse_count(const char *s, int64_t *out)
{
	if (s && !strcmp(s, "0")) {
		*out = 0;
		return 0;
	}
	return cli_parse_id(s, out);
}

/* A message of the read task: printed, or kept for --json. */
struct read_out {
	json_t *arr;
	int64_t shown;
};

static int read_on_event(struct drive *d, json_t *ev, void *arg)
{
	struct read_out *o = arg;

	(void)d;
	if (strcmp(json_string_value(json_object_get(ev, "ev")) ?: "", "message"))
		return 0;
	o->shown++;
	if (o->arr) {
		json_t *v = json_pack(
		    "{s:O, s:O, s:O, s:O, s:O}", "seq", json_object_get(ev, "seq"), "sender",
		    json_object_get(ev, "sender"), "sender_id", json_object_get(ev, "sender_id"),
		    "epoch", json_object_get(ev, "epoch"), "sent_at",
		    json_object_get(ev, "sent_at"));

		if (json_object_get(ev, "text"))
			json_object_set(v, "text", json_object_get(ev, "text"));
		else
			json_object_set(v, "error", json_object_get(ev, "error"));
		if (json_object_get(ev, "warning"))
			json_object_set(v, "warning", json_object_get(ev, "warning"));
		if (json_object_get(ev, "counter"))
			json_object_set(v, "counter", json_object_get(ev, "counter"));
		json_array_append_new(o->arr, v);
	} else {
		cli_print_message(ev);
	}
	return 1;
}

int cmd_read(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"since", required_argument, NULL, 's'},
	    {"limit", required_argument, NULL, 'l'},
	    {NULL, 0, NULL, 0},
	};
	struct read_args a = {0};
	struct read_out o = {0};
	struct drive d;
	struct drive_end end = {0};
	int64_t room, since = 0, limit = 0;
	int rc, first, inited = 0;

	rc = cli_parse(cli, argc, argv, opts, read_usage, read_option, &a, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_parse_id(argv[first], &room))
		return cli_usage_error(cli, "'%s' is not a room id", argv[first]);
	if (a.since && read_parse_count(a.since, &since))
		return cli_usage_error(cli, "--since '%s' is not a message number", a.since);
	if (a.limit && cli_parse_id(a.limit, &limit))
		return cli_usage_error(cli, "--limit '%s' is not a positive number", a.limit);

	rc = drive_open(cli, &d, 1);
	inited = d.core != NULL;
	if (rc)
		goto out;
	/* what waits in the outbox goes first */
	if (drive_run(&d, json_pack("{s:s}", "cmd", "flush"), &end) == 0) {
		int64_t sent = json_integer_value(json_object_get(end.result, "delivered"));

		if (sent)
			fprintf(stderr, "ementor: delivered %lld queued message%s first\n",
			        (long long)sent, sent == 1 ? "" : "s");
	}
	drive_end_clear(&end);
	if (cli->json)
		o.arr = json_array();
	d.on_event = read_on_event;
	d.arg = &o;
	if (drive_run(&d,
	              json_pack("{s:s, s:I, s:I, s:I}", "cmd", "read", "room", (json_int_t)room,
	                        "after", (json_int_t)since, "limit", (json_int_t)limit),
	              &end) != 0) {
		rc = CLI_EXIT_LOCAL;
		goto out;
	}
	if (!end.ok) {
		rc = cli_fail(end.exit, "%s", end.message);
		goto out;
	}
	if (o.arr)
		cli_print_json(o.arr);
	else if (!o.shown)
		printf("No messages.\n");
	fflush(stdout);
	rc = CLI_EXIT_OK;
out:
	drive_end_clear(&end);
	json_decref(o.arr);
	if (inited)
		drive_close(&d);
	return rc;
}

/* ---- outbox ---- */

static const char outbox_usage[] =
    "Usage: ementor outbox [list | flush | drop ID]\n"
    "\n"
    "Messages that `send` or `chat` could not deliver yet wait in the outbox\n"
    "(outbox.json in the home directory) and are sent by the next command that\n"
    "connects. Each keeps its message id, so a message the server already stored\n"
    "before a lost connection is not stored twice.\n"
    "\n"
    "  list      show the waiting messages (the default; works offline)\n"
    "  flush     connect and deliver them now\n"
    "  drop ID   delete a waiting message without sending it (ID as listed, or\n"
    "            its first characters; one that starts with '-' goes after '--':\n"
    "            ementor outbox drop -- -Xy3)\n"
    "\n"
    "Options:\n"
    "  --json    list as JSON\n";

static int outbox_list_cmd(struct cli *cli)
{
	static const char *const head[] = {"ID", "ROOM", "QUEUED AT", "TEXT"};
	struct cli_table t;
	json_t *ob = NULL, *arr = NULL;
	size_t n;
	int rc;

	rc = state_load(&cli->home, STATE_OUTBOX_FILE, &ob);
	if (rc)
		return cli_home_error(cli, "read", STATE_OUTBOX_FILE, rc);
	n = outbox_count(ob);
	cli_table_init(&t, 4, head);
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		struct outbox_msg om;
		char room[24], preview[64];
		size_t j, k = 0;

		if (outbox_at(ob, i, &om))
			continue;
		if (cli->json) {
			json_array_append_new(arr,
			                      json_pack("{s:I, s:s, s:s, s:s%}", "room_id",
			                                (json_int_t)om.room_id, "client_msg_id",
			                                om.id_b64, "created_at", om.created_at,
			                                "text", om.text, om.text_len));
			continue;
		}
		snprintf(room, sizeof(room), "%lld", (long long)om.room_id);
		for (j = 0; j < om.text_len && k + 4 < sizeof(preview) - 1; j++)
			preview[k++] = om.text[j] == '\n' ? ' ' : om.text[j];
		preview[k] = '\0';
		/* Do not cut a UTF-8 sequence in half. */
		while (k && ((unsigned char)preview[k - 1] & 0xc0) == 0x80)
			k--;
		if (k && (unsigned char)preview[k - 1] >= 0xc0)
			k--;
		if (j < om.text_len) {
			preview[k] = '\0';
			strcat(preview, "...");
		}
		{
			const char *row[] = {om.id_b64, room, om.created_at, preview};

			cli_table_add(&t, row);
		}
	}
	if (cli->json)
		cli_print_json(arr);
	else if (!n)
		printf("The outbox is empty.\n");
	else
		cli_table_print(&t, stdout, "");
	cli_table_free(&t);
	json_decref(arr);
	json_decref(ob);
	return CLI_EXIT_OK;
}

static int outbox_on_event(struct drive *d, json_t *ev, void *arg)
{
	(void)d;
	(void)arg;
	if (strcmp(json_string_value(json_object_get(ev, "ev")) ?: "", "delivered"))
		return 0;
	fprintf(stderr, "ementor: delivered a queued message to room %lld (seq %lld%s)\n",
	        (long long)json_integer_value(json_object_get(ev, "room_id")),
	        (long long)json_integer_value(json_object_get(ev, "seq")),
	        json_is_true(json_object_get(ev, "duplicate")) ? "; the server already had it"
	                                                       : "");
	return 1;
}

static int outbox_flush_cmd(struct cli *cli)
{
	struct drive d;
	struct drive_end end = {0};
	json_t *ob = NULL;
	size_t before = 0, after = 0;
	int rc, inited = 0;

	if (state_load(&cli->home, STATE_OUTBOX_FILE, &ob) == 0)
		before = outbox_count(ob);
	json_decref(ob);
	ob = NULL;
	if (!before) {
		printf("The outbox is empty.\n");
		return CLI_EXIT_OK;
	}
	rc = drive_open(cli, &d, 1);
	inited = d.core != NULL;
	if (rc) {
		fprintf(stderr, "queued: %zu message%s stay%s in the outbox.\n", before,
		        before == 1 ? "" : "s", before == 1 ? "s" : "");
		goto out;
	}
	d.on_event = outbox_on_event;
	if (drive_run(&d, json_pack("{s:s}", "cmd", "flush"), &end) != 0) {
		rc = CLI_EXIT_LOCAL;
		goto out;
	}
	rc = end.ok ? CLI_EXIT_OK : end.exit;
	if (state_load(&cli->home, STATE_OUTBOX_FILE, &ob) == 0)
		after = outbox_count(ob);
	printf("outbox: %zu delivered, %zu still queued\n", before > after ? before - after : 0,
	       after);
out:
	drive_end_clear(&end);
	json_decref(ob);
	if (inited)
		drive_close(&d);
	return rc;
}

struct outbox_drop_arg {
	const char *prefix;
	int matches;
	unsigned char id[EM_MSG_ID_BYTES];
};

static int outbox_drop_fn(json_t *ob, void *arg)
{
	struct outbox_drop_arg *a = arg;
	size_t n = outbox_count(ob);

	a->matches = 0;
	for (size_t i = 0; i < n; i++) {
		struct outbox_msg om;

		if (outbox_at(ob, i, &om) == 0 &&
		    !strncmp(om.id_b64, a->prefix, strlen(a->prefix))) {
			a->matches++;
			memcpy(a->id, om.client_msg_id, sizeof(a->id));
		}
	}
	if (a->matches != 1)
		return 0;
	return outbox_remove(ob, a->id);
}

static int outbox_drop_cmd(struct cli *cli, const char *prefix)
{
	struct outbox_drop_arg a = {.prefix = prefix};
	int rc;

	if (strlen(prefix) < 4)
		return cli_usage_error(cli, "give at least 4 characters of the message id");
	rc = state_update(&cli->home, STATE_OUTBOX_FILE, outbox_drop_fn, &a, NULL);
	if (rc < 0)
		return cli_home_error(cli, "write", STATE_OUTBOX_FILE, rc);
	if (a.matches == 0)
		return cli_fail(CLI_EXIT_USAGE, "no message in the outbox has an id starting '%s'",
		                prefix);
	if (a.matches > 1)
		return cli_fail(CLI_EXIT_USAGE,
		                "%d messages have an id starting '%s': give more characters",
		                a.matches, prefix);
	printf("Dropped the message from the outbox; it was not sent.\n");
	return CLI_EXIT_OK;
}

int cmd_outbox(struct cli *cli, int argc, char **argv)
{
	const char *verb;
	int rc, first;

	rc = cli_parse(cli, argc, argv, NULL, outbox_usage, NULL, NULL, 0, 2, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_home(cli);
	if (rc)
		return rc;
	verb = first < argc ? argv[first] : "list";
	if (!strcmp(verb, "list") && argc - first <= 1)
		return outbox_list_cmd(cli);
	if (!strcmp(verb, "flush") && argc - first == 1)
		return outbox_flush_cmd(cli);
	if (!strcmp(verb, "drop") && argc - first == 2)
		return outbox_drop_cmd(cli, argv[first + 1]);
	return cli_usage_error(cli, "expected list, flush or drop ID");
}
