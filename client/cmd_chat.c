/*
 * cmd_chat.c - `ementor chat ROOM`: an interactive session in one room.
 * Replays what arrived since the last session (`sync` from the saved
 * cursor), then shows new messages, read receipts, typing notices and key
 * changes as they come, and sends each line typed on stdin.
 *
 * DESIGN. One loop: conn_next() returns the next server event or says stdin
 * is readable. Messages are shown strictly in seq order (PROTOCOL.md 5.3):
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

#include "msg.h"

#define CHAT_TICK_MS         200
#define CHAT_TYPING_EVERY_MS 2000
#define CHAT_TYPING_SHOW_MS  10000 /* "x is typing" at most once in this long per person */
#define CHAT_SYNC_WAIT_MS    CONN_TIMEOUT_MS
#define CHAT_LINGER_MS       2000
#define CHAT_RECONNECT_S     120 /* default --reconnect */
#define CHAT_BACKOFF_MIN_MS  250
#define CHAT_BACKOFF_MAX_MS  8000
#define CHAT_PAGE            200

struct chat_typist {
	int64_t user_id;
	int64_t shown_at_ms;
};

struct chat {
	struct msg_ctx *m;
	int64_t room_id;
	int64_t cursor;       /* last contiguous seq shown */
	int64_t saved_cursor; /* last written to cursors.json */
	int64_t read_sent;    /* last seq acknowledged with a receipt */
	int64_t receipt_due;  /* highest seq shown from someone else */
	int synced;
	int64_t sync_deadline_ms;
	int64_t last_typing_ms;
	struct chat_typist typists[8];
	size_t replayed;

	char in[EM_MSG_PLAINTEXT_MAX + 2];
	size_t in_len;
	int discarding; /* inside a line that was too long */
	int stdin_open;
	int stdin_tty;
	int64_t linger_ms;
	int64_t linger_until_ms;
	int quit;
	int exit_code;
	int64_t reconnect_ms;       /* how long to keep trying after a lost connection */
	int64_t outbox_retry_at_ms; /* 0, or when to send the outbox again */
	int64_t outbox_backoff_ms;
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

/*
 * After a flush of the outbox: when it left lines the server could not take
 * for now (exit code CLI_EXIT_NET: unreachable, or a retryable error), plans
 * the next attempt: not before the server's retry_after_ms, then doubling to
 * CHAT_BACKOFF_MAX_MS, each wait 0.5-1.5 times that. Otherwise nothing is
 * planned (a line blocked by a changed key waits for `ementor trust`).
 */
static void chat_outbox_plan(struct chat *ch, int flush_rc)
{
	int64_t delay;

	if (flush_rc != CLI_EXIT_NET) {
		ch->outbox_retry_at_ms = 0;
		ch->outbox_backoff_ms = 0;
		return;
	}
	delay = ch->outbox_backoff_ms ? ch->outbox_backoff_ms * 2 : CHAT_BACKOFF_MIN_MS * 4;
	if (delay > CHAT_BACKOFF_MAX_MS)
		delay = CHAT_BACKOFF_MAX_MS;
	ch->outbox_backoff_ms = delay;
	delay = delay / 2 + (int64_t)randombytes_uniform((uint32_t)delay + 1);
	if (delay < ch->m->retry_after_ms)
		delay = ch->m->retry_after_ms;
	ch->outbox_retry_at_ms = chat_now_ms() + delay;
}

/* Sends the outbox again when planned and the connection is up. */
static void chat_outbox_retry(struct chat *ch)
{
	if (!ch->outbox_retry_at_ms || chat_now_ms() < ch->outbox_retry_at_ms || !ch->m->conn ||
	    !conn_is_open(ch->m->conn))
		return;
	chat_outbox_plan(ch, msg_flush(ch->m, NULL, NULL, 0));
}

/* Shows one message (already known to be cursor + 1) and moves the cursor. */
static void chat_show(struct chat *ch, json_t *message)
{
	struct msg_view v;

	msg_open(ch->m, message, &v);
	msg_view_print(&v);
	fflush(stdout);
	ch->cursor = v.seq;
	if (!ch->synced)
		ch->replayed++;
	if (v.sender_id != ch->m->session.user_id) {
		ch->receipt_due = v.seq;
		for (size_t i = 0; i < sizeof(ch->typists) / sizeof(ch->typists[0]); i++)
			if (ch->typists[i].user_id == v.sender_id)
				ch->typists[i].shown_at_ms = 0; /* typing again will show again */
	}
	msg_view_clear(&v);
}

/*
 * Fetches and shows the messages after the cursor up to at least `upto`
 * (or everything there is). Returns 0, or -1 when the history could not be
 * fetched (the cursor then stays, and a later message retries).
 */
static int chat_fill(struct chat *ch, int64_t upto)
{
	json_t *res = NULL, *msg;
	size_t i;
	int more = 1, rc;

	while (more && ch->cursor < upto) {
		int64_t before = ch->cursor;

		rc = msg_call(ch->m, EM_OP_HISTORY,
		              json_pack("{s:I, s:I, s:I}", "room_id", (json_int_t)ch->room_id,
		                        "after_seq", (json_int_t)ch->cursor, "limit",
		                        (json_int_t)CHAT_PAGE),
		              &res);
		if (rc) {
			msg_report(ch->m, rc, ch->room_id);
			return -1;
		}
		more = json_is_true(json_object_get(res, "more"));
		json_array_foreach(json_object_get(res, "messages"), i, msg)
		{
			if (seq_check(ch->cursor,
			              json_integer_value(json_object_get(msg, "seq"))) == SEQ_NEXT)
				chat_show(ch, msg);
		}
		json_decref(res);
		res = NULL;
		if (ch->cursor == before)
			break; /* no progress: do not loop */
	}
	return 0;
}

static void chat_on_message(struct chat *ch, json_t *data)
{
	int64_t seq = json_integer_value(json_object_get(data, "seq"));

	switch (seq_check(ch->cursor, seq)) {
	case SEQ_DUP:
		return;
	case SEQ_GAP:
		if (chat_fill(ch, seq - 1) != 0 || seq_check(ch->cursor, seq) != SEQ_NEXT)
			return;
		chat_show(ch, data);
		return;
	case SEQ_NEXT:
		chat_show(ch, data);
		return;
	}
}

static void chat_on_typing(struct chat *ch, int64_t user_id, const char *username)
{
	struct chat_typist *slot = NULL;
	int64_t now = chat_now_ms();
	size_t n = sizeof(ch->typists) / sizeof(ch->typists[0]);
	struct pin p;

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
	if (msg_user_keys(ch->m, user_id, &p) == 0)
		username = p.username;
	chat_status("%s is typing…",
	            username && em_check_username(username) == EM_OK ? username : "someone");
}

static void chat_on_room(struct chat *ch, const char *change)
{
	struct msg_room *r = NULL;

	if (change && !strcmp(change, "removed")) {
		fprintf(stderr, "ementor: you are no longer a member of room %lld\n",
		        (long long)ch->room_id);
		ch->exit_code = CLI_EXIT_REFUSED;
		ch->quit = 1;
		return;
	}
	if (msg_room_show(ch->m, ch->room_id, &r) != CLI_EXIT_OK || !r)
		return;
	if (change && !strcmp(change, "agreement")) {
		chat_status("the room's agreement changed%s: see `ementor agreement show %lld`",
		            r->on_roster ? "" : " (you are not on its roster)",
		            (long long)ch->room_id);
		return;
	}
	{
		char names[EM_ROOM_MEMBERS_MAX * (EM_USERNAME_MAX + 2) + 1] = "";

		for (size_t i = 0; i < r->nmembers; i++) {
			if (i)
				strcat(names, ", ");
			strcat(names, r->member_names[i]);
		}
		chat_status("the members of the room changed: %s", names);
	}
}

static void chat_on_event(struct chat *ch, struct em_incoming *ev)
{
	json_t *d = ev->data;
	int64_t room = json_integer_value(json_object_get(d, "room_id"));
	int64_t user = json_integer_value(json_object_get(d, "user_id"));
	const char *username = json_string_value(json_object_get(d, "username"));

	if (!strcmp(ev->ev, "epoch")) {
		msg_epoch_event(ch->m, d);
		return;
	}
	if (!strcmp(ev->ev, "synced")) {
		if (!ch->synced) {
			ch->synced = 1;
			if (ch->replayed)
				chat_status("%zu message%s since last time; now live", ch->replayed,
				            ch->replayed == 1 ? "" : "s");
		}
		return;
	}
	if (room != ch->room_id)
		return; /* other rooms are for other sessions */
	if (!strcmp(ev->ev, "message")) {
		chat_on_message(ch, d);
	} else if (!strcmp(ev->ev, "receipt")) {
		struct pin p;

		if (user == ch->m->session.user_id)
			return;
		if (msg_user_keys(ch->m, user, &p) == 0)
			username = p.username;
		chat_status("%s read up to %lld",
		            username && em_check_username(username) == EM_OK ? username : "someone",
		            (long long)json_integer_value(json_object_get(d, "seq")));
	} else if (!strcmp(ev->ev, "typing")) {
		if (user != ch->m->session.user_id)
			chat_on_typing(ch, user, username);
	} else if (!strcmp(ev->ev, "room")) {
		chat_on_room(ch, json_string_value(json_object_get(d, "change")));
	}
}

/* Receipt and cursor, written when nothing else is going on. */
static void chat_idle(struct chat *ch)
{
	if (ch->receipt_due > ch->read_sent && ch->m->conn && conn_is_open(ch->m->conn)) {
		/* Fire and forget: a lost receipt is repeated next time. */
		if (conn_send(ch->m->conn, EM_OP_RECEIPT,
		              json_pack("{s:I, s:I}", "room_id", (json_int_t)ch->room_id, "seq",
		                        (json_int_t)ch->receipt_due),
		              NULL) == CONN_OK) {
			ch->read_sent = ch->receipt_due;
			msg_save_cursor(ch->m, ch->room_id, 0, ch->read_sent);
		}
	}
	if (ch->cursor > ch->saved_cursor &&
	    msg_save_cursor(ch->m, ch->room_id, ch->cursor, 0) == 0)
		ch->saved_cursor = ch->cursor;
	if (!ch->synced && chat_now_ms() > ch->sync_deadline_ms) {
		fprintf(stderr,
		        "ementor: the server did not finish the replay in time; going on\n");
		ch->synced = 1;
	}
}

/* Sends one typed line. */
static void chat_send_line(struct chat *ch, char *line, size_t len)
{
	unsigned char id[EM_MSG_ID_BYTES];
	struct msg_delivery d;
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
		fprintf(stderr,
		        "ementor: unknown command '%s': /quit leaves; start a line with // "
		        "to send one that begins with /\n",
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
	if (now - ch->last_typing_ms >= CHAT_TYPING_EVERY_MS && conn_is_open(ch->m->conn)) {
		conn_send(ch->m->conn, EM_OP_TYPING,
		          json_pack("{s:I}", "room_id", (json_int_t)ch->room_id), NULL);
		ch->last_typing_ms = now;
	}
	if (msg_enqueue(ch->m->cli, ch->room_id, line, len, id) != CLI_EXIT_OK)
		return;
	rc = msg_flush(ch->m, id, &d, 0);
	if (d.outcome == MSG_QUEUED || d.outcome == MSG_BLOCKED || d.outcome == MSG_FAILED)
		fprintf(stderr, "ementor: not sent yet; the line stays in the outbox%s\n",
		        d.outcome == MSG_QUEUED ? " and is sent again shortly" : "");
	chat_outbox_plan(ch, d.outcome == MSG_QUEUED ? CLI_EXIT_NET : rc);
	if (d.outcome == MSG_DROPPED) {
		ch->exit_code = CLI_EXIT_REFUSED;
		ch->quit = 1;
	}
}

/* Reads what stdin has; sends every complete line. */
static void chat_on_stdin(struct chat *ch)
{
	ssize_t n = read(STDIN_FILENO, ch->in + ch->in_len, sizeof(ch->in) - 1 - ch->in_len);
	size_t start = 0;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* End of input: a last line without a newline is still a line. */
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

/* A validation error of PROTOCOL.md section 3 (bad_frame ... frame_too_large). */
static int chat_is_validation(int err)
{
	return err <= EM_ERR_BAD_FRAME && err >= EM_ERR_FRAME_TOO_LARGE;
}

/* `sync` with our cursor; other rooms' cursors are set past their end so they replay nothing. */
static int chat_sync(struct chat *ch)
{
	json_t *res = NULL, *rooms = NULL, *cursors = json_array(), *r;
	size_t i;
	int rc, found = 0;

	rc = msg_call(ch->m, EM_OP_ROOM_LIST, NULL, &rooms);
	if (rc)
		goto out;
	json_array_append_new(cursors, json_pack("{s:I, s:I}", "room_id", (json_int_t)ch->room_id,
	                                         "seq", (json_int_t)ch->cursor));
	json_array_foreach(json_object_get(rooms, "rooms"), i, r)
	{
		int64_t id = json_integer_value(json_object_get(r, "id"));

		if (id > 0 && id != ch->room_id && json_array_size(cursors) < EM_SYNC_ROOMS_MAX)
			json_array_append_new(cursors,
			                      json_pack("{s:I, s:I}", "room_id", (json_int_t)id,
			                                "seq", (json_int_t)EM_MAX_REQUEST_ID));
	}
	rc = msg_call(ch->m, EM_OP_SYNC, json_pack("{s:O}", "cursors", cursors), &res);
	if (rc == CLI_EXIT_REFUSED && chat_is_validation(ch->m->err)) {
		/* A server that will not take cursors past the end: replay the other
		 * rooms too; their messages are ignored below. */
		json_array_clear(cursors);
		json_array_append_new(cursors,
		                      json_pack("{s:I, s:I}", "room_id", (json_int_t)ch->room_id,
		                                "seq", (json_int_t)ch->cursor));
		rc = msg_call(ch->m, EM_OP_SYNC, json_pack("{s:O}", "cursors", cursors), &res);
	}
	if (rc) {
		msg_report(ch->m, rc, ch->room_id);
		goto out;
	}
	json_array_foreach(json_object_get(res, "rooms"), i, r)
	{
		if (json_integer_value(json_object_get(r, "room_id")) == ch->room_id)
			found = 1;
	}
	if (!found) {
		ch->m->err = EM_ERR_NOT_MEMBER;
		rc = msg_report(ch->m, CLI_EXIT_REFUSED, ch->room_id);
	}
out:
	json_decref(rooms);
	json_decref(cursors);
	json_decref(res);
	return rc;
}

/* Why the server closed: the session is gone for good (NULL: reconnecting may help). */
static const char *chat_session_gone(const struct conn *c)
{
	switch (conn_close_code(c)) {
	case EM_CLOSE_SESSION_ENDED:
		return "your session ended (a logout or a password change elsewhere, or it "
		       "expired): log in again with `ementor login`";
	case EM_CLOSE_ERASED:
		return "this account was erased";
	default:
		return NULL;
	}
}

/*
 * After a lost connection: reconnects with backoff and jitter until
 * reconnect_ms has passed, flushes the outbox and syncs from the cursor.
 * Returns 0 when the chat can go on.
 */
static int chat_reconnect(struct chat *ch)
{
	int64_t deadline = chat_now_ms() + ch->reconnect_ms, delay = CHAT_BACKOFF_MIN_MS;
	int tries = 0;

	if (ch->reconnect_ms <= 0)
		return -1;
	if (chat_session_gone(ch->m->conn))
		return -1; /* no point: the session is gone */
	chat_status("connection lost (%s); reconnecting", conn_strerror(ch->m->conn));
	while (chat_now_ms() < deadline) {
		/* 0.5 to 1.5 times the delay, so clients of a restarted server spread out */
		int64_t wait = delay / 2 + (int64_t)randombytes_uniform((uint32_t)delay + 1);

		usleep((useconds_t)(wait * 1000));
		tries++;
		conn_free(ch->m->conn);
		ch->m->conn = NULL;
		ch->m->net_failed = 0;
		if (msg_connect(ch->m) == 0) {
			ch->outbox_backoff_ms = 0;
			chat_outbox_plan(ch, msg_flush(ch->m, NULL, NULL, 0));
			ch->synced = 0;
			ch->sync_deadline_ms = chat_now_ms() + CHAT_SYNC_WAIT_MS;
			if (chat_sync(ch) == 0) {
				chat_status("reconnected after %d attempt%s", tries,
				            tries == 1 ? "" : "s");
				return 0;
			}
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
	struct msg_ctx m;
	struct chat *ch = NULL;
	struct msg_room *r = NULL;
	json_t *cursors = NULL;
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
	ch->m = &m;
	ch->room_id = room;
	ch->stdin_open = 1;
	ch->stdin_tty = isatty(STDIN_FILENO);
	ch->linger_ms = linger_s * 1000;
	ch->reconnect_ms = reconnect_s * 1000;

	rc = msg_init(cli, &m);
	inited = 1;
	if (rc)
		goto out;
	rc = state_load(&cli->home, STATE_CURSORS_FILE, &cursors);
	if (rc) {
		rc = cli_home_error(cli, "read", STATE_CURSORS_FILE, rc);
		goto out;
	}
	ch->cursor = ch->saved_cursor = cursors_seq(cursors, room);
	ch->read_sent = cursors_read(cursors, room);
	rc = msg_connect(&m);
	if (rc)
		goto out;
	chat_outbox_plan(ch, msg_flush(&m, NULL, NULL, 0));
	rc = msg_room_show(&m, room, &r);
	if (rc) {
		rc = msg_report(&m, rc, room);
		goto out;
	}
	msg_room_keys(&m, room);
	rc = chat_sync(ch);
	if (rc)
		goto out;
	{
		char names[EM_ROOM_MEMBERS_MAX * (EM_USERNAME_MAX + 2) + 1] = "";

		for (size_t i = 0; i < r->nmembers; i++) {
			if (i)
				strcat(names, ", ");
			strcat(names, r->member_names[i]);
		}
		fprintf(stderr, "Chat in room %lld%s%s%s with %s.%s\n", (long long)room,
		        r->name[0] ? " \"" : "", r->name, r->name[0] ? "\"" : "", names,
		        ch->stdin_tty ? " Type a message and press Enter; /quit or Ctrl-D leaves."
		                      : "");
	}
	ch->sync_deadline_ms = chat_now_ms() + CHAT_SYNC_WAIT_MS;

	while (!ch->quit) {
		struct em_incoming ev;
		int64_t now = chat_now_ms(), wait = CHAT_TICK_MS;
		int fd = ch->synced && ch->stdin_open ? STDIN_FILENO : -1;
		const char *gone;
		int got;

		if (!ch->stdin_open) {
			if (now >= ch->linger_until_ms)
				break;
			if (ch->linger_until_ms - now < wait)
				wait = ch->linger_until_ms - now;
		}
		got = conn_next(m.conn, fd, (int)wait, &ev);
		if (got == CONN_NEXT_EVENT) {
			chat_on_event(ch, &ev);
			em_incoming_clear(&ev);
		} else if (got == CONN_NEXT_FD) {
			chat_on_stdin(ch);
		} else if (got == CONN_NEXT_IDLE) {
			chat_idle(ch);
		} else {
			if (!ch->quit && chat_reconnect(ch) == 0)
				continue;
			if ((gone = chat_session_gone(m.conn))) {
				fprintf(stderr, "ementor: %s\n", gone);
				ch->exit_code = CLI_EXIT_AUTH;
				break;
			}
			fprintf(stderr, "ementor: the connection was lost: %s\n",
			        m.conn ? conn_strerror(m.conn) : "cannot reconnect");
			ch->exit_code = CLI_EXIT_NET;
			break;
		}
		if (conn_events_dropped(m.conn))
			chat_fill(ch, INT64_MAX); /* the event queue overflowed: catch up */
		chat_outbox_retry(ch);
	}
	chat_idle(ch);
	rc = ch->exit_code;
out:
	json_decref(cursors);
	free(ch);
	if (inited)
		msg_free(&m);
	return rc;
}
