/*
 * test_client_state.c - unit tests of the CLI's local messaging state
 * (client/state.c): pins, room keys, cursors, the outbox, and the pure rules
 * of message handling.
 *
 * What a user would notice if this broke: a changed key accepted silently
 * (or a trusted one still blocking a room), an old room key lost so history
 * becomes unreadable, a cursor moving backwards so messages repeat, a queued
 * message lost or sent twice — including when a `chat` and a `send` share a
 * home directory — a message shown out of order or skipped, a trailing
 * newline sent as part of a message, or a message driving the terminal with
 * escape sequences. File tests run in a fresh temporary home directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "state_io.h"

static const char *now1 = "2026-11-24T09:30:00Z";
static const char *now2 = "2026-11-25T10:00:00Z";

/* ---- pins ---- */

static void keypair(unsigned char spk[32], unsigned char bpk[32])
{
	struct em_keys k;

	em_keys_generate(&k);
	memcpy(spk, k.sign_pk, 32);
	memcpy(bpk, k.box_pk, 32);
	em_keys_wipe(&k);
}

static void test_pins_first_use_then_change(void **state)
{
	unsigned char s1[32], b1[32], s2[32], b2[32];
	json_t *pins = json_object();
	struct pin p;
	char fp1[EM_FINGERPRINT_STRLEN], fp2[EM_FINGERPRINT_STRLEN];

	keypair(s1, b1);
	keypair(s2, b2);
	em_fingerprint(s1, b1, fp1);
	em_fingerprint(s2, b2, fp2);

	assert_int_equal(pins_get(pins, 7, &p), -ENOENT);
	assert_int_equal(pins_observe(pins, 7, "alice", s1, b1, now1), PIN_NEW);
	assert_int_equal(pins_get(pins, 7, &p), 0);
	assert_string_equal(p.username, "alice");
	assert_memory_equal(p.sign_pk, s1, 32);
	assert_string_equal(p.fingerprint, fp1);
	assert_string_equal(p.first_seen, now1);
	assert_false(p.changed);
	assert_int_equal(pins_observe(pins, 7, "alice", s1, b1, now2), PIN_SAME);

	/* Another key: recorded, not trusted; the pin stays. */
	assert_int_equal(pins_observe(pins, 7, "alice", s2, b2, now2), PIN_CHANGED);
	assert_int_equal(pins_get(pins, 7, &p), 0);
	assert_memory_equal(p.sign_pk, s1, 32);
	assert_true(p.changed);
	assert_memory_equal(p.new_sign_pk, s2, 32);
	assert_string_equal(p.new_fingerprint, fp2);
	assert_string_equal(p.changed_seen, now2);
	/* Seen again later: still a change, first sighting kept. */
	assert_int_equal(pins_observe(pins, 7, "alice", s2, b2, "2027-01-01T00:00:00Z"),
	                 PIN_CHANGED);
	assert_int_equal(pins_get(pins, 7, &p), 0);
	assert_string_equal(p.changed_seen, now2);
	/* Only the box key changing is a change too. */
	assert_int_equal(pins_observe(pins, 7, "alice", s1, b2, now2), PIN_CHANGED);

	/* The server shows the pinned key again: the pending change is forgotten. */
	assert_int_equal(pins_observe(pins, 7, "alice", s1, b1, now2), PIN_SAME);
	assert_int_equal(pins_get(pins, 7, &p), 0);
	assert_false(p.changed);
	assert_int_equal(pins_accept(pins, 7, now2), 0);

	/* Accepting a change pins the new key. */
	assert_int_equal(pins_observe(pins, 7, "alice", s2, b2, now2), PIN_CHANGED);
	assert_int_equal(pins_accept(pins, 7, now2), 1);
	assert_int_equal(pins_get(pins, 7, &p), 0);
	assert_memory_equal(p.sign_pk, s2, 32);
	assert_memory_equal(p.box_pk, b2, 32);
	assert_false(p.changed);
	/* the replaced signing key is kept: what she signed before still verifies */
	{
		unsigned char old[32];

		assert_int_equal(pins_replaced_key(pins, 7, 0, old), 0);
		assert_memory_equal(old, s1, 32);
		assert_int_equal(pins_replaced_key(pins, 7, 1, old), -ENOENT);
		assert_int_equal(pins_replaced_key(pins, 99, 0, old), -ENOENT);
	}
	assert_int_equal(pins_observe(pins, 7, "alice", s2, b2, now2), PIN_SAME);
	assert_int_equal(pins_observe(pins, 7, "alice", s1, b1, now2), PIN_CHANGED);
	assert_int_equal(pins_accept(pins, 99, now2), -ENOENT);
	json_decref(pins);
}

static void test_pins_find_and_bad_input(void **state)
{
	unsigned char s[32], b[32];
	json_t *pins = json_object();
	struct pin p;

	keypair(s, b);
	assert_int_equal(pins_observe(pins, 3, "bob", s, b, now1), PIN_NEW);
	assert_int_equal(pins_observe(pins, 12, "carol", s, b, now1), PIN_NEW);
	assert_int_equal(pins_find(pins, "carol", &p), 0);
	assert_int_equal(p.user_id, 12);
	assert_int_equal(pins_find(pins, "dave", &p), -ENOENT);
	assert_int_equal(pins_observe(pins, 0, "zero", s, b, now1), -EINVAL);
	assert_int_equal(pins_observe(pins, 5, "Bad Name!", s, b, now1), -EINVAL);
	/* A damaged entry carries no trust: the next sighting pins afresh. */
	json_object_set_new(json_object_get(json_object_get(pins, "users"), "3"), "sign_pk",
	                    json_string("not base64!"));
	assert_int_equal(pins_get(pins, 3, &p), -EINVAL);
	assert_int_equal(pins_observe(pins, 3, "bob", s, b, now2), PIN_NEW);
	json_decref(pins);
}

/* Identity is (user id, username, keys): two users' names swapped by the server are
 * changes of both, and the pinned names stay until the user accepts. */
static void test_pins_name_swap(void **state)
{
	unsigned char s1[32], b1[32], s2[32], b2[32];
	json_t *pins = json_object();
	struct pin p;

	(void)state;
	keypair(s1, b1);
	keypair(s2, b2);
	assert_int_equal(pins_observe(pins, 3, "sam", s1, b1, now1), PIN_NEW);
	assert_int_equal(pins_observe(pins, 4, "lea", s2, b2, now1), PIN_NEW);
	assert_int_equal(pins_observe(pins, 3, "lea", s1, b1, now2), PIN_CHANGED);
	assert_int_equal(pins_observe(pins, 4, "sam", s2, b2, now2), PIN_CHANGED);
	assert_int_equal(pins_get(pins, 3, &p), 0);
	assert_string_equal(p.username, "sam");
	assert_true(p.changed);
	assert_true(p.name_changed);
	assert_false(p.keys_changed);
	assert_string_equal(p.new_username, "lea");
	assert_int_equal(pins_find(pins, "sam", &p), 0); /* found by the pinned name */
	assert_int_equal(p.user_id, 3);
	/* shown the pinned name again: the change is forgotten */
	assert_int_equal(pins_observe(pins, 4, "lea", s2, b2, now2), PIN_SAME);
	assert_int_equal(pins_get(pins, 4, &p), 0);
	assert_false(p.changed);
	/* accepted: the new name is pinned */
	assert_int_equal(pins_accept(pins, 3, now2), 1);
	assert_int_equal(pins_get(pins, 3, &p), 0);
	assert_string_equal(p.username, "lea");
	assert_false(p.changed);
	/* while both are named lea, the one with a change waiting is the one found */
	assert_int_equal(pins_observe(pins, 4, "sam", s2, b2, now2), PIN_CHANGED);
	assert_int_equal(pins_find(pins, "lea", &p), 0);
	assert_int_equal(p.user_id, 4);
	assert_true(p.changed);
	json_decref(pins);
}

/* ---- room keys ---- */

static void test_roomkeys_keep_every_epoch(void **state)
{
	unsigned char k1[32], k2[32], k3[32], got[32];
	json_t *rk = json_object();
	int64_t committer = 0;

	randombytes_buf(k1, 32);
	randombytes_buf(k2, 32);
	randombytes_buf(k3, 32);
	assert_int_equal(roomkeys_get(rk, 4, 1, got, NULL), -ENOENT);
	assert_int_equal(roomkeys_put(rk, 4, 1, k1, 10, 3, now1), 1);
	assert_int_equal(roomkeys_put(rk, 4, 2, k2, 11, 3, now1), 1);
	assert_int_equal(roomkeys_put(rk, 5, 1, k3, 10, 3, now1), 1);
	assert_int_equal(roomkeys_get(rk, 4, 1, got, &committer), 0);
	assert_memory_equal(got, k1, 32);
	assert_int_equal(committer, 10);
	assert_int_equal(roomkeys_get(rk, 4, 2, got, &committer), 0);
	assert_memory_equal(got, k2, 32);
	assert_int_equal(committer, 11);
	assert_int_equal(roomkeys_get(rk, 5, 1, got, NULL), 0);
	assert_memory_equal(got, k3, 32);
	assert_int_equal(roomkeys_version(rk, 5, 1), 3);
	assert_int_equal(roomkeys_version(rk, 5, 2), -1);
	/* The same key again changes nothing; another key for an epoch is refused. */
	assert_int_equal(roomkeys_put(rk, 4, 1, k1, 10, 3, now2), 0);
	assert_int_equal(roomkeys_put(rk, 4, 1, k3, 12, 3, now2), -EEXIST);
	assert_int_equal(roomkeys_get(rk, 4, 1, got, NULL), 0);
	assert_memory_equal(got, k1, 32);
	assert_int_equal(roomkeys_put(rk, 4, 0, k1, 10, 3, now2), -EINVAL);
	/* An entry not marked verified is not a key. */
	json_object_set_new(
	    json_object_get(json_object_get(json_object_get(rk, "rooms"), "4"), "2"), "verified",
	    json_false());
	assert_int_equal(roomkeys_get(rk, 4, 2, got, NULL), -ENOENT);
	json_decref(rk);
}

/* ---- cursors ---- */

static void test_cursors_only_rise(void **state)
{
	json_t *cur = json_object();

	assert_int_equal(cursors_seq(cur, 3), 0);
	assert_int_equal(cursors_read(cur, 3), 0);
	assert_int_equal(cursors_raise(cur, 3, 10, 0), 1);
	assert_int_equal(cursors_raise(cur, 3, 7, 0), 0);
	assert_int_equal(cursors_seq(cur, 3), 10);
	assert_int_equal(cursors_raise(cur, 3, 0, 8), 1);
	assert_int_equal(cursors_read(cur, 3), 8);
	assert_int_equal(cursors_seq(cur, 3), 10);
	assert_int_equal(cursors_raise(cur, 3, 10, 8), 0);
	assert_int_equal(cursors_raise(cur, 4, 1, 1), 1);
	assert_int_equal(cursors_seq(cur, 3), 10);
	assert_int_equal(cursors_seq(cur, 4), 1);
	json_decref(cur);
}

/* ---- outbox ---- */

static void test_outbox_order_and_removal(void **state)
{
	unsigned char a[16], b[16], c[16];
	json_t *ob = json_object();
	struct outbox_msg m;

	randombytes_buf(a, 16);
	randombytes_buf(b, 16);
	randombytes_buf(c, 16);
	assert_int_equal(outbox_count(ob), 0);
	assert_int_equal(outbox_add(ob, 3, a, "first", 5, now1, 1000), 1);
	assert_int_equal(outbox_add(ob, 4, b, "second\nline", 11, now1, 1000), 1);
	assert_int_equal(outbox_add(ob, 3, c, "third", 5, now2, 1000), 1);
	assert_int_equal(outbox_count(ob), 3);
	assert_int_equal(outbox_at(ob, 1, &m), 0);
	assert_int_equal(m.room_id, 4);
	assert_memory_equal(m.client_msg_id, b, 16);
	assert_int_equal(m.text_len, 11);
	assert_memory_equal(m.text, "second\nline", 11);
	assert_int_equal(strlen(m.id_b64), 22);
	assert_string_equal(m.created_at, now1);
	assert_true(outbox_has(ob, b));

	assert_int_equal(outbox_remove(ob, b), 1);
	assert_int_equal(outbox_remove(ob, b), 0); /* a second ack removes nothing */
	assert_false(outbox_has(ob, b));
	assert_int_equal(outbox_count(ob), 2);
	assert_int_equal(outbox_at(ob, 0, &m), 0);
	assert_memory_equal(m.client_msg_id, a, 16);
	assert_int_equal(outbox_at(ob, 1, &m), 0);
	assert_memory_equal(m.client_msg_id, c, 16);
	assert_int_equal(outbox_at(ob, 2, &m), -ENOENT);

	assert_int_equal(outbox_add(ob, 3, a, "\xff\xfe", 2, now1, 1000), -EILSEQ);
	assert_int_equal(outbox_add(ob, 0, a, "x", 1, now1, 1000), -EINVAL);
	json_decref(ob);
}

/* Counters are per room, start at 1, survive the removal of messages, and the
 * device id is made once and carried by every message. */
static void test_outbox_counters_and_device(void **state)
{
	unsigned char a[16], b[16], c[16], device[EM_DEVICE_ID_BYTES];
	json_t *ob = json_object();
	struct outbox_msg m;

	(void)state;
	randombytes_buf(a, 16);
	randombytes_buf(b, 16);
	randombytes_buf(c, 16);
	assert_int_equal(outbox_add(ob, 3, a, "one", 3, now1, 1700000000123), 1);
	assert_int_equal(outbox_add(ob, 4, b, "other room", 10, now1, 1700000000124), 1);
	assert_int_equal(outbox_at(ob, 0, &m), 0);
	assert_int_equal(m.meta.counter, 1);
	assert_int_equal(m.meta.written_ms, 1700000000123);
	assert_int_equal(outbox_device(ob, device), 0); /* made by the first add */
	assert_memory_equal(m.meta.device, device, EM_DEVICE_ID_BYTES);
	assert_int_equal(outbox_at(ob, 1, &m), 0);
	assert_int_equal(m.meta.counter, 1);
	assert_int_equal(outbox_remove(ob, a), 1);
	assert_int_equal(outbox_add(ob, 3, c, "two", 3, now2, 1700000000200), 1);
	assert_int_equal(outbox_at(ob, 1, &m), 0);
	assert_memory_equal(m.client_msg_id, c, 16);
	assert_int_equal(m.meta.counter, 2);
	assert_memory_equal(m.meta.device, device, EM_DEVICE_ID_BYTES);
	json_decref(ob);
}

/* A fresh home directory under /tmp; removed by the teardown. */
static int home_setup(void **state)
{
	struct home *h = calloc(1, sizeof(*h));
	char tmpl[] = "/tmp/ementor-unit.XXXXXX";

	if (!h || !mkdtemp(tmpl))
		return -1;
	snprintf(h->dir, sizeof(h->dir), "%s/home", tmpl);
	*state = h;
	return 0;
}

static int home_teardown(void **state)
{
	struct home *h = *state;
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(strrchr(h->dir, '/') - h->dir), h->dir);
	if (system(cmd) != 0)
		return -1;
	free(h);
	return 0;
}

struct add_arg {
	int64_t room;
	unsigned char id[16];
	const char *text;
};

static int add_fn(json_t *ob, void *arg)
{
	struct add_arg *a = arg;

	return outbox_add(ob, a->room, a->id, a->text, strlen(a->text), now1, 1000);
}

static int remove_fn(json_t *ob, void *arg)
{
	return outbox_remove(ob, ((struct add_arg *)arg)->id);
}

static int nothing_fn(json_t *ob, void *arg)
{
	return 0;
}

static void test_outbox_file_survives_and_is_private(void **state)
{
	struct home *h = *state;
	struct add_arg a = {.room = 9, .text = "queued while offline"};
	json_t *ob = NULL;
	struct outbox_msg m;
	struct stat st;
	char path[PATH_MAX];

	/* No file yet is an empty outbox, and reading does not create one. */
	assert_int_equal(state_load(h, STATE_OUTBOX_FILE, &ob), 0);
	assert_int_equal(outbox_count(ob), 0);
	json_decref(ob);
	assert_int_equal(state_update(h, STATE_OUTBOX_FILE, nothing_fn, NULL, NULL), 0);
	assert_int_equal(home_path(h, STATE_OUTBOX_FILE, path, sizeof(path)), 0);
	assert_int_equal(stat(path, &st), -1);

	randombytes_buf(a.id, 16);
	assert_int_equal(state_update(h, STATE_OUTBOX_FILE, add_fn, &a, &ob), 1);
	assert_int_equal(outbox_count(ob), 1);
	json_decref(ob);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* A later process finds it with the same id: a resend is recognisable. */
	assert_int_equal(state_load(h, STATE_OUTBOX_FILE, &ob), 0);
	assert_int_equal(outbox_at(ob, 0, &m), 0);
	assert_memory_equal(m.client_msg_id, a.id, 16);
	assert_string_equal(m.text, "queued while offline");
	json_decref(ob);

	assert_int_equal(state_update(h, STATE_OUTBOX_FILE, remove_fn, &a, NULL), 1);
	assert_int_equal(state_update(h, STATE_OUTBOX_FILE, remove_fn, &a, NULL), 0);
	assert_int_equal(state_load(h, STATE_OUTBOX_FILE, &ob), 0);
	assert_int_equal(outbox_count(ob), 0);
	json_decref(ob);

	/* A damaged file is reported, not treated as empty. */
	assert_int_equal(home_write(h, STATE_OUTBOX_FILE, "[1,2", 4), 0);
	assert_int_equal(state_load(h, STATE_OUTBOX_FILE, &ob), -EINVAL);
	assert_int_equal(state_update(h, STATE_OUTBOX_FILE, add_fn, &a, NULL), -EINVAL);
}

/* Two processes adding to one outbox at once lose nothing (the home lock). */
static void test_outbox_concurrent_writers(void **state)
{
	struct home *h = *state;
	json_t *ob = NULL;
	pid_t pid[2];
	int status;

	for (int p = 0; p < 2; p++) {
		pid[p] = fork();
		assert_true(pid[p] >= 0);
		if (pid[p] == 0) {
			for (int i = 0; i < 40; i++) {
				struct add_arg a = {.room = 1 + p,
				                    .text = p ? "from chat" : "from send"};

				randombytes_buf(a.id, 16);
				if (state_update(h, STATE_OUTBOX_FILE, add_fn, &a, NULL) != 1)
					_exit(1);
			}
			_exit(0);
		}
	}
	for (int p = 0; p < 2; p++) {
		assert_int_equal(waitpid(pid[p], &status, 0), pid[p]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(state_load(h, STATE_OUTBOX_FILE, &ob), 0);
	assert_int_equal(outbox_count(ob), 80);
	json_decref(ob);
}

/* ---- seq ordering ---- */

static void test_seq_check(void **state)
{
	assert_int_equal(seq_check(0, 1), SEQ_NEXT);
	assert_int_equal(seq_check(0, 2), SEQ_GAP);
	assert_int_equal(seq_check(5, 5), SEQ_DUP);
	assert_int_equal(seq_check(5, 3), SEQ_DUP);
	assert_int_equal(seq_check(5, 6), SEQ_NEXT);
	assert_int_equal(seq_check(5, 100), SEQ_GAP);
}

/*
 * The rule chat applies (PROTOCOL.md 5.3), run against a made-up stream: a
 * replay interleaved with live messages, duplicates and a gap. A gap is
 * filled from "history" (here: every seq up to the one that arrived). Each
 * seq must be shown exactly once, in order.
 */
static void test_seq_stream_in_order_exactly_once(void **state)
{
	const int64_t stream[] = {1, 2, 2, 7, 3, 4, 5, 6, 7, 8, 8, 10, 9, 11};
	int64_t shown[32], cursor = 0;
	size_t nshown = 0;

	for (size_t i = 0; i < sizeof(stream) / sizeof(stream[0]); i++) {
		int64_t seq = stream[i];

		switch (seq_check(cursor, seq)) {
		case SEQ_DUP:
			break;
		case SEQ_GAP:
			for (int64_t s = cursor + 1; s < seq; s++) /* history(after=cursor) */
				shown[nshown++] = cursor = s;
			shown[nshown++] = cursor = seq; /* now it is the next one */
			break;
		case SEQ_NEXT:
			shown[nshown++] = cursor = seq;
			break;
		}
	}
	assert_int_equal(nshown, 11);
	for (size_t i = 0; i < nshown; i++)
		assert_int_equal(shown[i], (int64_t)i + 1);
}

/* ---- text ---- */

static void test_text_prepare(void **state)
{
	char big[EM_MSG_PLAINTEXT_MAX + 2];
	size_t len;

	len = 6;
	assert_int_equal(text_prepare("hello\n", &len), 0);
	assert_int_equal(len, 5);
	len = 8;
	assert_int_equal(text_prepare("hello\n\n\n", &len), 0);
	assert_int_equal(len, 7); /* only one newline is trimmed */
	len = 7;
	assert_int_equal(text_prepare("hello\r\n", &len), 0);
	assert_int_equal(len, 5);
	len = 1;
	assert_int_equal(text_prepare("\n", &len), -EINVAL);
	len = 0;
	assert_int_equal(text_prepare("", &len), -EINVAL);
	len = strlen("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	assert_int_equal(text_prepare("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", &len), 0);
	len = 3;
	assert_int_equal(text_prepare("a\xff"
	                              "b",
	                              &len),
	                 -EILSEQ);
	len = 2;
	assert_int_equal(text_prepare("\xc0\xaf", &len), -EILSEQ); /* overlong '/' */
	len = 3;
	assert_int_equal(text_prepare("\xed\xa0\x80", &len), -EILSEQ); /* surrogate */
	len = 1;
	assert_int_equal(text_prepare("\xc3", &len), -EILSEQ); /* cut short */
	len = 3;
	assert_int_equal(text_prepare("a\0b", &len), -EILSEQ);

	memset(big, 'x', sizeof(big));
	len = EM_MSG_PLAINTEXT_MAX;
	assert_int_equal(text_prepare(big, &len), 0);
	big[EM_MSG_PLAINTEXT_MAX] = '\n';
	len = EM_MSG_PLAINTEXT_MAX + 1;
	assert_int_equal(text_prepare(big, &len), 0);
	assert_int_equal(len, EM_MSG_PLAINTEXT_MAX);
	len = EM_MSG_PLAINTEXT_MAX + 1;
	big[EM_MSG_PLAINTEXT_MAX] = 'x';
	assert_int_equal(text_prepare(big, &len), -E2BIG);
}

static void test_text_for_terminal(void **state)
{
	const char in[] = "hi\x1b[2J\tthere\nnext\x7f\xc2\x9b"
	                  "31m caf\xc3\xa9";
	char *out = text_for_terminal(in, sizeof(in) - 1);

	assert_non_null(out);
	assert_string_equal(out, "hi?[2J\tthere\nnext???31m caf\xc3\xa9");
	free(out);
}

static void test_text_local_time(void **state)
{
	char out[40];

	setenv("TZ", "UTC0", 1);
	tzset();
	text_local_time("2026-11-24T09:30:59Z", out, sizeof(out));
	assert_string_equal(out, "2026-11-24 09:30");
	setenv("TZ", "CET-1", 1); /* POSIX form: no tzdata needed */
	tzset();
	text_local_time("2026-11-24T23:30:00Z", out, sizeof(out));
	assert_string_equal(out, "2026-11-25 00:30");
	text_local_time("2026-11-24T09:30:00.123Z", out, sizeof(out));
	assert_string_equal(out, "2026-11-24 10:30");
	text_local_time("yesterday", out, sizeof(out));
	assert_string_equal(out, "yesterday");
	text_local_time(NULL, out, sizeof(out));
	assert_string_equal(out, "?");
	/* a server's text is copied without control characters (fuzz_client) */
	text_local_time("20\x7f\x1b[2J\r\xc2\x9b", out, sizeof(out));
	assert_string_equal(out, "20??[2J???");
	text_local_when("\x1b]0;owned\x07 and more text", out, sizeof(out));
	assert_string_equal(out, "?]0;owned? and more ");
}

/* Dates and times as people type them where they live (issue: "8.12.2026 18:00"). */
static void test_text_date_forms(void **state)
{
	char d[11], t[TEXT_UTC_MINUTE_LEN];

	(void)state;
	assert_int_equal(text_date("2026-12-08", d), 0);
	assert_string_equal(d, "2026-12-08");
	assert_int_equal(text_date("8.12.2026", d), 0);
	assert_string_equal(d, "2026-12-08");
	assert_int_equal(text_date("08.02.2027", d), 0);
	assert_string_equal(d, "2027-02-08");
	assert_int_equal(text_date("29.02.2028", d), 0);
	assert_int_equal(text_date("29.02.2027", d), -1); /* not a leap year */
	assert_int_equal(text_date("31.04.2027", d), -1);
	assert_int_equal(text_date("8/12/2026", d), -1); /* which day? refused */
	assert_int_equal(text_date("8.12.26", d), -1);
	assert_int_equal(text_date("8.12.2026 ", d), -1);
	assert_int_equal(text_date("123.1.2026", d), -1);
	assert_int_equal(text_date("", d), -1);
	setenv("TZ", "CET-1", 1);
	tzset();
	assert_int_equal(text_utc_minute("8.12.2026 18:00", t), 0);
	assert_string_equal(t, "2026-12-08T17:00:00Z");
	assert_int_equal(text_utc_minute("8.12.2026 9:30", t), 0);
	assert_string_equal(t, "2026-12-08T08:30:00Z");
	assert_int_equal(text_utc_minute("2026-12-08 18:00", t), 0);
	assert_string_equal(t, "2026-12-08T17:00:00Z");
	assert_int_equal(text_utc_minute("8.12.2026 25:00", t), TEXT_TIME_BAD);
	assert_int_equal(text_utc_minute("8.12.2026 18:0", t), TEXT_TIME_BAD);
	assert_int_equal(text_utc_minute("8.12.2026", t), TEXT_TIME_BAD);
	assert_int_equal(text_utc_minute("8.13.2026 18:00", t), TEXT_TIME_BAD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pins_first_use_then_change),
	    cmocka_unit_test(test_pins_find_and_bad_input),
	    cmocka_unit_test(test_pins_name_swap),
	    cmocka_unit_test(test_roomkeys_keep_every_epoch),
	    cmocka_unit_test(test_cursors_only_rise),
	    cmocka_unit_test(test_outbox_order_and_removal),
	    cmocka_unit_test(test_outbox_counters_and_device),
	    cmocka_unit_test_setup_teardown(test_outbox_file_survives_and_is_private, home_setup,
	                                    home_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_concurrent_writers, home_setup,
	                                    home_teardown),
	    cmocka_unit_test(test_seq_check),
	    cmocka_unit_test(test_seq_stream_in_order_exactly_once),
	    cmocka_unit_test(test_text_prepare),
	    cmocka_unit_test(test_text_for_terminal),
	    cmocka_unit_test(test_text_local_time),
	    cmocka_unit_test(test_text_date_forms),
	};

	if (em_crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
