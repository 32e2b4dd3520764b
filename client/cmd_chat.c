/*
 * cmd_chat.c - `ementor chat ROOM`: an interactive session in one room.
 * Replays what arrived since the last session (`sync` from the saved
 * cursor), then shows new messages, read receipts, typing notices and key
 * changes as they come, and sends each line typed on stdin.
 *
 * DESIGN. The client core's `live` task does the protocol (core/read.c):
 * sync from the saved cursor, the room's events in seq order with gaps filled
 * from history, receipts and the cursor written when idle, the outbox sent
 * again after a refusal the server may lift; this file is the terminal
 * around it. One loop: drive_pump() hands the core what the server sent and
 * says when stdin is readable. Messages are shown strictly in seq order (PROTOCOL.md 5.3):
 * a seq at or below the cursor is a duplicate and dropped, one past it is
 * shown, a gap is filled from `history` first — nothing is ever skipped.
 * Our own lines go through the outbox like `send`, so a line typed while the
 * connection drops is delivered next time; they appear on screen when the
 * server echoes them as `message` events, so the transcript is in the
 * server's order for everyone. Receipts and the cursor are written when the
 * loop is idle, not per message.
 *
 * stdin: in a terminal the line discipline hands us whole lines, so the
 * CLI cannot see keystrokes; it sends one `typing` notice (at most every 2
 * s, the server's limit) just before sending each line. When stdin is not a
 * terminal (a script), lines are read as they come; at end of input the
 * session goes on for --linger seconds (default 2) to receive the echoes
 * and replies, then ends. In a terminal, Ctrl-D or /quit ends it at once.
 *
 * A lost connection (a server restart closes with 1001, a network drop) is
 * taken up again: reconnect with exponential backoff and jitter (0.25 s
 * doubling to 8 s, each wait 0.5-1.5 times that) for up to --reconnect
 * seconds, resend the outbox, and `sync` from the cursor, so nothing is
 * missed or shown twice. A line the server could not take while the
 * connection stayed up (`db_unavailable`, `busy`: its database is down or it
 * is overloaded) stays in the outbox too, and the chat sends it again by
 * itself: after the server's retry_after_ms, then with backoff and jitter up
 * to 8 s, until it is stored.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "drive.h"
#include "state.h"

#define CHAT_TICK_MS         200
#define CHAT_TYPING_EVERY_MS 2000
#define CHAT_TYPING_SHOW_MS  10000 /* "x is typing" at most once in this long per person */
#define CHAT_LINGER_MS       2000
#define CHAT_RECONNECT_S     120 /* default --reconnect */
#define CHAT_BACKOFF_MIN_MS  250
#define CHAT_BACKOFF_MAX_MS  8000

struct chat_typist {
	int64_t user_id;
	int64_t shown_at_ms;
};

struct chat {
	struct drive *d;
	int64_t room_id;
	int64_t live_task;
	int synced;
	int64_t last_typing_ms;
	struct chat_typist typists[8];

	char in[EM_MSG_PLAINTEXT_MAX + 2];
	size_t in_len;
	int discarding; /* inside a line that was too long */
	int stdin_open;
	int stdin_tty;
	int64_t linger_ms;
	int64_t linger_until_ms;
	int quit;
	int exit_code;
	int64_t reconnect_ms; /* how long to keep trying after a lost connection */
};

static int64_t chat_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void chat_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A line of the transcript that is not a message: "— alice read up to 42". */
static void chat_status(const char *fmt, ...)
{
	va_list ap;

	fputs("— ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static void chat_on_typing(struct chat *ch, int64_t user_id, const char *username)
{
	struct chat_typist *slot = NULL;
	int64_t now = chat_now_ms();
	size_t n = sizeof(ch->typists) / sizeof(ch->typists[0]);

	for (size_t i = 0; i < n && !slot; i++)
		if (ch->typists[i].user_id == user_id)
			slot = &ch->typists[i];
	for (size_t i = 0; i < n && !slot; i++)
		if (!ch->typists[i].user_id)
			slot = &ch->typists[i];
	if (!slot)
		slot = &ch->typists[0];
	if (slot->user_id == user_id && slot->shown_at_ms &&
	    now - slot->shown_at_ms < CHAT_TYPING_SHOW_MS)
		return;
	slot->user_id = user_id;
	slot->shown_at_ms = now;
	chat_status("%s is typing…", username ? username : "someone");
}

/* The core's events for the terminal. Returns 1 when handled. */
static int chat_on_event(struct drive *d, json_t *ev, void *arg)
{
	struct chat *ch = arg;
	const char *name = json_string_value(json_object_get(ev, "ev"));

	(void)d;
	if (!name)
		return 0;
	if (!strcmp(name, "message")) {
		int64_t sender = json_integer_value(json_object_get(ev, "sender_id"));

		cli_print_message(ev);
		fflush(stdout);
		for (size_t i = 0; i < sizeof(ch->typists) / sizeof(ch->typists[0]); i++)
			if (ch->typists[i].user_id == sender)
				ch->typists[i].shown_at_ms = 0; /* typing again will show again */
		return 1;
	}
	if (!strcmp(name, "status")) {
		chat_status("%s", json_string_value(json_object_get(ev, "text")) ?: "");
		return 1;
	}
	if (!strcmp(name, "typing")) {
		chat_on_typing(ch, json_integer_value(json_object_get(ev, "user_id")),
		               json_string_value(json_object_get(ev, "username")));
		return 1;
	}
	if (!strcmp(name, "synced")) {
		ch->synced = 1;
		return 1;
	}
	if (!strcmp(name, "live")) {
		char names[EM_ROOM_MEMBERS_MAX * (EM_USERNAME_MAX + 2) + 1] = "";
		const char *room_name = json_string_value(json_object_get(ev, "name"));
		json_t *m;
		size_t i;

		json_array_foreach(json_object_get(ev, "members"), i, m)
		{
			if (i)
				strcat(names, ", ");
			strncat(names, json_string_value(m) ?: "?", EM_USERNAME_MAX);
		}
		{
			char *safe =
			    room_name ? text_for_terminal(room_name, strlen(room_name)) : NULL;

			fprintf(stderr, "Chat in room %lld%s%s%s with %s.%s\n",
			        (long long)ch->room_id, safe && safe[0] ? " \"" : "",
			        safe ? safe : "", safe && safe[0] ? "\"" : "", names,
			        ch->stdin_tty
			            ? " Type a message and press Enter; /quit or Ctrl-D leaves."
			            : "");
			free(safe);
		}
		return 1;
	}
	if (!strcmp(name, "delivered"))
		return 1; /* a queued line went out: its echo shows it */
	if (!strcmp(name, "task")) {
		const char *cmd = json_string_value(json_object_get(ev, "cmd"));
		json_t *result = json_object_get(ev, "result");
		const char *outcome = json_string_value(json_object_get(result, "outcome"));

		if (cmd && !strcmp(cmd, "flush") && json_is_true(json_object_get(ev, "ok"))) {
			int64_t n = json_integer_value(json_object_get(result, "delivered"));

			if (n)
				fprintf(stderr, "ementor: delivered %lld queued message%s first\n",
				        (long long)n, n == 1 ? "" : "s");
			return 1;
		}
		if (cmd && !strcmp(cmd, "send") && !json_is_true(json_object_get(ev, "ok"))) {
			if (outcome && !strcmp(outcome, "dropped")) {
				ch->exit_code = CLI_EXIT_REFUSED;
				ch->quit = 1;
			} else {
				fprintf(stderr,
				        "ementor: not sent yet; the line stays in the outbox%s\n",
				        outcome && !strcmp(outcome, "queued")
				            ? " and is sent again shortly"
				            : "");
			}
		}
		return 1;
	}
	return 0;
}

/* Sends one typed line. */
static void chat_send_line(struct chat *ch, char *line, size_t len)
{
	int64_t now = chat_now_ms();
	int rc;

	if (len && line[len - 1] == '\r')
		line[--len] = '\0';
	if (!len)
		return;
	if (!strcmp(line, "/quit")) {
		ch->quit = 1;
		return;
	}
	if (line[0] == '/' && line[1] != '/') {
		fprintf(
		    stderr,
		    "ementor: unknown command '%s': /quit leaves; start a line with // to send one "
		    "that begins with /\n",
		    line);
		return;
	}
	if (line[0] == '/') {
		line++;
		len--;
	}
	rc = text_prepare(line, &len);
	if (rc == -EILSEQ) {
		fprintf(stderr, "ementor: not sent: the line is not valid UTF-8 text\n");
		return;
	}
	if (rc)
		return;
	line[len] = '\0';
	if (now - ch->last_typing_ms >= CHAT_TYPING_EVERY_MS) {
		drive_start(ch->d, json_pack("{s:s, s:I}", "cmd", "typing", "room",
		                             (json_int_t)ch->room_id));
		ch->last_typing_ms = now;
	}
	drive_start(ch->d, json_pack("{s:s, s:I, s:s%}", "cmd", "send", "room",
	                             (json_int_t)ch->room_id, "text", line, len));
}

/* Reads what stdin has; sends every complete line. */
static void chat_on_stdin(struct chat *ch)
{
	ssize_t n = read(STDIN_FILENO, ch->in + ch->in_len, sizeof(ch->in) - 1 - ch->in_len);
	size_t start = 0;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* end of input: a last line without a newline is still a line */
		if (ch->in_len && !ch->discarding) {
			ch->in[ch->in_len] = '\0';
			chat_send_line(ch, ch->in, ch->in_len);
		}
		ch->in_len = 0;
		ch->stdin_open = 0;
		if (ch->stdin_tty)
			ch->quit = 1;
		else
			ch->linger_until_ms = chat_now_ms() + ch->linger_ms;
		return;
	}
	ch->in_len += (size_t)n;
	for (size_t i = 0; i < ch->in_len && !ch->quit; i++) {
		if (ch->in[i] != '\n')
			continue;
		ch->in[i] = '\0';
		if (!ch->discarding)
			chat_send_line(ch, ch->in + start, i - start);
		ch->discarding = 0;
		start = i + 1;
	}
	memmove(ch->in, ch->in + start, ch->in_len - start);
	ch->in_len -= start;
	if (ch->in_len == sizeof(ch->in) - 1) {
		fprintf(stderr, "ementor: not sent: a line is longer than %d bytes\n",
		        EM_MSG_PLAINTEXT_MAX);
		ch->in_len = 0;
		ch->discarding = 1;
	}
}

/* Why the server closed: the session is gone for good (NULL: reconnecting may help). */
static const char *chat_session_gone(int close_code)
{
	switch (close_code) {
	case EM_CLOSE_SESSION_ENDED:
		return "your session ended (a logout or a password change elsewhere, or it "
		       "expired): "
		       "log in again with `ementor login`";
	case EM_CLOSE_ERASED:
		return "this account was erased";
	default:
		return NULL;
	}
}

/*
 * After a lost connection: reconnects with backoff and jitter until
 * reconnect_ms has passed; the core then sends the outbox and syncs from the
 * cursor by itself. Returns 0 when the chat can go on.
 */
static int chat_reconnect(struct chat *ch)
{
	int64_t deadline = chat_now_ms() + ch->reconnect_ms, delay = CHAT_BACKOFF_MIN_MS;
	int tries = 0;

	if (ch->reconnect_ms <= 0 || chat_session_gone(ch->d->close_code))
		return -1;
	chat_status("connection lost (%s); reconnecting", ch->d->link_error);
	while (chat_now_ms() < deadline) {
		/* 0.5 to 1.5 times the delay, so clients of a restarted server spread out */
		int64_t wait = delay / 2 + (int64_t)randombytes_uniform((uint32_t)delay + 1);

		usleep((useconds_t)(wait * 1000));
		tries++;
		if (drive_connect(ch->d) == 0) {
			ch->synced = 0;
			chat_status("reconnected after %d attempt%s", tries, tries == 1 ? "" : "s");
			return 0;
		}
		delay = delay * 2 > CHAT_BACKOFF_MAX_MS ? CHAT_BACKOFF_MAX_MS : delay * 2;
	}
	return -1;
}

static const char chat_usage[] =
    "Usage: ementor chat ROOM [--linger SECONDS] [--reconnect SECONDS]\n"
    "\n"
    "Chat in a room: shows the messages that arrived since your last session,\n"
    "then new messages, read receipts (\"— alice read up to 42\") and typing\n"
    "notices as they come. Each line you type is sent, end-to-end encrypted,\n"
    "through the outbox (see `ementor send --help`). /quit or Ctrl-D leaves; start\n"
    "a line with // to send a line that begins with /.\n"
    "\n"
    "In line mode the CLI cannot see keystrokes: it sends the typing notice just\n"
    "before each line. When standard input is not a terminal, its lines are sent\n"
    "as they come, and after its end the session stays for --linger seconds to\n"
    "receive the replies, then ends.\n"
    "\n"
    "Options:\n"
    "  --linger SECONDS   after the end of piped input, keep receiving this long\n"
    "                     (default 2; 0 to leave at once)\n"
    "  --reconnect SECONDS  when the connection is lost (e.g. the server restarts),\n"
    "                     keep trying to reconnect this long, with backoff and\n"
    "                     jitter (default 120; 0 to leave at once, exit 4)\n";

struct chat_opts {
	const char *linger, *reconnect;
};

static int chat_option(void *ctx, int opt, const char *arg)
{
	struct chat_opts *o = ctx;

	if (opt == 'r')
		o->reconnect = arg;
	else
		o->linger = arg;
	return CLI_CONTINUE;
}

int cmd_chat(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"linger", required_argument, NULL, 'l'},
	    {"reconnect", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	struct chat_opts o = {NULL, NULL};
	const char *linger;
	int64_t reconnect_s = CHAT_RECONNECT_S;
	struct drive d;
	struct drive_end end = {0};
	struct chat *ch = NULL;
	int64_t room, linger_s = CHAT_LINGER_MS / 1000;
	int rc, first, inited = 0;

	rc = cli_parse(cli, argc, argv, opts, chat_usage, chat_option, &o, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	linger = o.linger;
	if (o.reconnect && strcmp(o.reconnect, "0") != 0 &&
	    (cli_parse_id(o.reconnect, &reconnect_s) || reconnect_s > 86400))
		return cli_usage_error(
		    cli, "--reconnect '%s' is not a number of seconds (0 to 86400)", o.reconnect);
	if (o.reconnect && !strcmp(o.reconnect, "0"))
		reconnect_s = 0;
	if (cli_parse_id(argv[first], &room))
		return cli_usage_error(cli, "'%s' is not a room id", argv[first]);
	if (linger && strcmp(linger, "0") != 0 &&
	    (cli_parse_id(linger, &linger_s) || linger_s > 3600))
		return cli_usage_error(cli, "--linger '%s' is not a number of seconds (0 to 3600)",
		                       linger);
	if (linger && !strcmp(linger, "0"))
		linger_s = 0;
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	ch->room_id = room;
	ch->stdin_open = 1;
	ch->stdin_tty = isatty(STDIN_FILENO);
	ch->linger_ms = linger_s * 1000;
	ch->reconnect_ms = reconnect_s * 1000;

	rc = drive_open(cli, &d, 1);
	inited = d.core != NULL;
	if (rc)
		goto out;
	ch->d = &d;
	d.on_event = chat_on_event;
	d.arg = ch;
	d.quiet_link = 1;
	ch->live_task =
	    drive_start(&d, json_pack("{s:s, s:I}", "cmd", "live", "room", (json_int_t)room));
	if (ch->live_task < 0) {
		rc = CLI_EXIT_LOCAL;
		goto out;
	}
	while (!ch->quit) {
		int64_t now = chat_now_ms(), wait = CHAT_TICK_MS;
		int fd = ch->synced && ch->stdin_open ? STDIN_FILENO : -1;
		int ended = 0, got;

		if (!ch->stdin_open) {
			if (now >= ch->linger_until_ms)
				break;
			if (ch->linger_until_ms - now < wait)
				wait = ch->linger_until_ms - now;
		}
		got = drive_pump(&d, fd, (int)wait, ch->live_task, &end, &ended);
		if (ended) {
			if (!end.ok) {
				fprintf(stderr, "ementor: %s\n", end.message);
				ch->exit_code = end.exit;
			}
			drive_end_clear(&end);
			ch->live_task = 0;
			break;
		}
		if (got == CONN_NEXT_FD) {
			chat_on_stdin(ch);
		} else if (got < 0) {
			const char *gone;

			if (!ch->quit && chat_reconnect(ch) == 0)
				continue;
			if ((gone = chat_session_gone(d.close_code))) {
				fprintf(stderr, "ementor: %s\n", gone);
				ch->exit_code = CLI_EXIT_AUTH;
				break;
			}
			fprintf(stderr, "ementor: the connection was lost: %s\n",
			        d.link_error[0] ? d.link_error : "cannot reconnect");
			ch->exit_code = CLI_EXIT_NET;
			break;
		}
	}
	/* receipts and the cursor, and the frames still queued, before leaving */
	if (ch->live_task > 0) {
		int ended = 0;

		drive_start(&d, json_pack("{s:s}", "cmd", "stop"));
		for (int i = 0; i < 5 && !ended && d.conn; i++)
			drive_pump(&d, -1, 50, ch->live_task, &end, &ended);
		drive_end_clear(&end);
	}
	rc = ch->exit_code;
out:
	free(ch);
	if (inited)
		drive_close(&d);
	return rc;
}
