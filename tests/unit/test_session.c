/*
 * test_session.c - server/session.c (with server/server.c for the shared
 * configuration and clock) against recording stubs of libwebsockets, log.h
 * and metrics.h (tests/unit/stubs): the session table (slot + generation:
 * a closed slot's generation changes, so a stale pair finds nothing, while
 * the slot is handed out again), the output queue (frames written in order,
 * joined into writes of up to 16 KiB, the per-connection cap closing a slow consumer with 4008 and
 * no more data, the smaller cap before login), closes (once, after the queued output, codes of
 * ended sessions), and the memory account (charge and release, the --preauth-memory cap on
 * connections not logged in, bytes moving at login).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "em_proto.h"
#include "metrics.h"
#include "server.h"
#include "session.h"
#include "stubs.h"

#define KIB 1024

/* Fake connections: session.c only hands the pointer to lws. */
static char wsi_store[512];
#define WSI(i) ((struct lws *)&wsi_store[i])

static struct session *sessions; /* the ones a test registered, unregistered at teardown */
static int n_sessions;

static struct session *new_session(int authenticated)
{
	struct session *s = &sessions[n_sessions];

	memset(s, 0, sizeof(*s));
	s->wsi = WSI(n_sessions);
	assert_int_equal(session_register(s), 0);
	if (authenticated) {
		session_set_authenticated(s, 1);
		snprintf(s->username, sizeof(s->username), "user%d", n_sessions);
	}
	n_sessions++;
	return s;
}

/* A malloc'd frame of exactly len bytes (session_send takes it). */
static char *frame(size_t len, char fill)
{
	char *t = malloc(len + 1);

	assert_non_null(t);
	memset(t, fill, len);
	t[len] = '\0';
	return t;
}

static int setup(void **state)
{
	(void)state;
	memset(&server, 0, sizeof(server));
	server.cfg.out_queue_kib = 4; /* 4 KiB of output per connection */
	server.cfg.preauth_memory_mib = 1;
	sessions = calloc(512, sizeof(*sessions));
	assert_non_null(sessions);
	n_sessions = 0;
	stub_lws_reset();
	stub_log_reset();
	stub_metrics_reset();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < n_sessions; i++) {
		session_free_buffers(&sessions[i]);
		session_unregister(&sessions[i]);
		/* nothing may stay charged once a connection is gone */
		assert_int_equal(sessions[i].mem, 0);
	}
	assert_int_equal(session_count(), 0);
	assert_int_equal(session_all_bytes(), 0);
	assert_int_equal(session_preauth_bytes(), 0);
	free(sessions);
	stub_lws_reset();
	return 0;
}

static void count_one(struct session *s, void *arg)
{
	(void)s;
	(*(int *)arg)++;
}

static void test_slot_and_generation(void **state)
{
	struct session *a, *b, *c;
	uint32_t a_slot, a_gen;
	int seen = 0;

	(void)state;
	a = new_session(0);
	b = new_session(0);
	assert_true(a->registered && b->registered);
	assert_int_not_equal(a->slot, b->slot);
	assert_int_equal(session_count(), 2);
	assert_ptr_equal(session_lookup(a->slot, a->gen), a);
	assert_ptr_equal(session_lookup(b->slot, b->gen), b);
	/* the right slot with another generation, or a slot never handed out: nothing */
	assert_null(session_lookup(a->slot, a->gen + 1));
	assert_null(session_lookup(a->slot, a->gen - 1));
	assert_null(session_lookup(1u << 30, a->gen));
	assert_null(session_lookup(UINT32_MAX, 1));
	/* a closes: its pair is stale from now on */
	a_slot = a->slot, a_gen = a->gen;
	session_unregister(a);
	assert_false(a->registered);
	assert_null(session_lookup(a_slot, a_gen));
	assert_int_equal(session_count(), 1);
	session_unregister(a); /* twice: no effect */
	assert_int_equal(session_count(), 1);
	/* the slot is handed out again, with a new generation */
	c = new_session(0);
	assert_int_equal(c->slot, a_slot);
	assert_int_not_equal(c->gen, a_gen);
	assert_null(session_lookup(a_slot, a_gen));
	assert_ptr_equal(session_lookup(c->slot, c->gen), c);
	session_foreach(count_one, &seen);
	assert_int_equal(seen, 2);
}

/* More connections than the table's first size: it grows, every pair still finds its session. */
static void test_table_grows(void **state)
{
	int seen = 0;

	(void)state;
	for (int i = 0; i < 300; i++)
		new_session(i % 2);
	assert_int_equal(session_count(), 300);
	for (int i = 0; i < 300; i++)
		assert_ptr_equal(session_lookup(sessions[i].slot, sessions[i].gen), &sessions[i]);
	for (int i = 0; i < 300; i += 3)
		session_unregister(&sessions[i]);
	for (int i = 0; i < 300; i++)
		if (i % 3)
			assert_ptr_equal(session_lookup(sessions[i].slot, sessions[i].gen),
			                 &sessions[i]);
		else
			assert_null(session_lookup(sessions[i].slot, sessions[i].gen));
	session_foreach(count_one, &seen);
	assert_int_equal(seen, 200);
	assert_int_equal(session_count(), 200);
}

static void test_frames_in_order(void **state)
{
	struct session *s;
	size_t mem0;

	(void)state;
	s = new_session(1);
	mem0 = s->mem;
	session_send(s, strdup("{\"a\":1}"));
	session_send(s, strdup("{\"b\":2}"));
	session_send(s, strdup("{\"c\":3}"));
	assert_int_equal(s->out_bytes, 21);
	assert_true(s->mem > mem0 + 21); /* the frames' memory, headroom included */
	assert_int_equal(session_all_bytes(), s->mem);
	assert_int_equal(session_preauth_bytes(), 0); /* logged in: not in the capped sum */
	assert_true(stub_lws_writable >= 1);
	assert_ptr_equal(stub_lws_last_wsi, s->wsi);
	/* one write callback: the three go out in order, joined into one write
	 * (even when the socket takes no more writes after it) */
	assert_int_equal(session_write_one(s), 0);
	assert_int_equal(stub_lws_n_writes, 1);
	assert_int_equal(stub_lws_n_frames, 3);
	assert_string_equal(stub_lws_frames[0], "{\"a\":1}");
	assert_string_equal(stub_lws_frames[1], "{\"b\":2}");
	assert_string_equal(stub_lws_frames[2], "{\"c\":3}");
	assert_int_equal(stub_metrics[M_FRAMES_OUT], 3);
	assert_int_equal(stub_metrics[M_BYTES_OUT], 21);
	assert_int_equal(s->out_bytes, 0);
	assert_true(em_list_empty(&s->out));
	assert_int_equal(s->mem, mem0);
	/* nothing queued, no close: nothing to do */
	assert_int_equal(session_write_one(s), 0);
	assert_int_equal(stub_lws_n_frames, 3);
	/* two frames too large to share a write: a choked socket takes one per
	 * callback, one that takes more both in one callback */
	server.cfg.out_queue_kib = 64;
	session_send(s, frame(10 * KIB, 'e'));
	session_send(s, frame(10 * KIB, 'f'));
	assert_int_equal(session_write_one(s), 0);
	assert_int_equal(stub_lws_n_writes, 2);
	assert_int_equal(session_write_one(s), 0);
	assert_int_equal(stub_lws_n_writes, 3);
	stub_lws_choked = 0;
	session_send(s, frame(10 * KIB, 'g'));
	session_send(s, frame(10 * KIB, 'h'));
	assert_int_equal(session_write_one(s), 0);
	assert_int_equal(stub_lws_n_writes, 5);
	assert_int_equal(stub_lws_n_frames, 7);
	assert_true(stub_lws_frames[3][0] == 'e' && stub_lws_frames[4][0] == 'f');
	assert_true(stub_lws_frames[5][0] == 'g' && stub_lws_frames[6][0] == 'h');
	assert_true(em_list_empty(&s->out));
	assert_int_equal(s->mem, mem0);
	stub_lws_choked = 1;
	/* a short socket write closes */
	session_send(s, strdup("{\"d\":4}"));
	stub_lws_write_short = 1;
	assert_int_equal(session_write_one(s), -1);
}

/* Frames of length len filled with c, checked. */
static void assert_frame(int i, size_t len, char c)
{
	assert_non_null(stub_lws_frames[i]);
	assert_int_equal(strlen(stub_lws_frames[i]), len);
	for (size_t k = 0; k < len; k++)
		assert_int_equal(stub_lws_frames[i][k], c);
}

/*
 * Frames queued together go out joined into writes of at most 16 KiB (the
 * stub takes every joined write apart and checks each header: 2 bytes under
 * 126, 4 bytes from 126); one that cannot share a write goes alone; the burst
 * stops at 32 frames and asks to be called again.
 */
static void test_frames_joined(void **state)
{
	static const size_t lens[] = {5, 125, 126, 300, 10 * KIB, 10 * KIB, 20 * KIB, 7};
	struct session *s;
	size_t mem0;
	int writable;

	(void)state;
	server.cfg.out_queue_kib = 128;
	stub_lws_choked = 0;
	s = new_session(1);
	mem0 = s->mem;
	for (size_t i = 0; i < 8; i++)
		session_send(s, frame(lens[i], (char)('a' + i)));
	assert_int_equal(session_write_one(s), 0);
	/* [5 125 126 300 10K] joined (10,812 bytes with headers), the next 10 KiB
	 * would pass 16 KiB; [10K] alone (20K cannot join); [20K]; [7] alone */
	assert_int_equal(stub_lws_n_writes, 4);
	assert_int_equal(stub_lws_n_frames, 8);
	for (int i = 0; i < 8; i++)
		assert_frame(i, lens[i], (char)('a' + i));
	assert_int_equal(stub_metrics[M_FRAMES_OUT], 8);
	assert_true(em_list_empty(&s->out));
	assert_int_equal(s->out_bytes, 0);
	assert_int_equal(s->mem, mem0);

	/* 40 small frames: 32 in the first callback (one write), which asks for
	 * another; the other 8 in the next */
	for (int i = 0; i < 40; i++)
		session_send(s, frame(100, (char)('A' + i % 26)));
	writable = stub_lws_writable;
	assert_int_equal(session_write_one(s), 0);
	assert_int_equal(stub_lws_n_writes, 5);
	assert_int_equal(stub_lws_n_frames, 8 + 32);
	assert_int_equal(stub_lws_writable, writable + 1);
	assert_int_equal(session_write_one(s), 0);
	assert_int_equal(stub_lws_n_writes, 6);
	assert_int_equal(stub_lws_n_frames, 8 + 40);
	for (int i = 0; i < 40; i++)
		assert_frame(8 + i, 100, (char)('A' + i % 26));
	assert_int_equal(s->mem, mem0);

	/* on an HTTP/2 stream, nothing is joined: one write per frame */
	stub_lws_h2_network = WSI(500);
	session_send(s, frame(10, 'p'));
	session_send(s, frame(10, 'q'));
	assert_int_equal(session_write_one(s), 0);
	assert_int_equal(stub_lws_n_writes, 8);
	assert_int_equal(stub_lws_n_frames, 8 + 42);
	stub_lws_h2_network = NULL;

	/* a joined write cut short closes, as a single one does */
	session_send(s, frame(10, 'x'));
	session_send(s, frame(10, 'y'));
	stub_lws_write_short = 1;
	assert_int_equal(session_write_one(s), -1);
}

static void test_slow_consumer(void **state)
{
	struct session *s, *other;

	(void)state;
	s = new_session(1);
	other = new_session(1);
	session_send(s, frame(3 * KIB, 'a'));
	session_send(s, frame(KIB, 'b')); /* exactly the 4 KiB cap */
	assert_int_equal(s->close_code, 0);
	assert_int_equal(s->out_bytes, 4 * KIB);
	session_send(s, frame(1, 'c')); /* one byte over */
	assert_int_equal(s->close_code, EM_CLOSE_SLOW_CONSUMER);
	assert_string_equal(s->close_reason, "slow_consumer");
	assert_int_equal(stub_metrics[M_SLOW_CONSUMERS], 1);
	assert_int_equal(stub_log_lines[2], 1);
	assert_int_equal(s->out_bytes, 4 * KIB); /* the frame over the cap was not queued */
	/* once closing, nothing more is queued (and each text is freed) */
	session_send(s, strdup("late"));
	session_send(s, NULL);
	assert_int_equal(s->out_bytes, 4 * KIB);
	assert_int_equal(s->close_code, EM_CLOSE_SLOW_CONSUMER);
	/* the next write sends no data, only the close; the queue is dropped */
	assert_int_equal(session_write_one(s), 0);
	assert_int_equal(stub_lws_kills, 1);
	assert_int_equal(stub_lws_n_frames, 0);
	assert_int_equal(stub_lws_close_status, EM_CLOSE_SLOW_CONSUMER);
	assert_string_equal(stub_lws_close_text, "slow_consumer");
	assert_int_equal(s->out_bytes, 0);
	assert_int_equal(s->mem, 0);
	/* another connection is not affected */
	session_send(other, frame(4 * KIB, 'd'));
	assert_int_equal(other->close_code, 0);
	assert_int_equal(stub_metrics[M_SLOW_CONSUMERS], 1);
}

/*
 * Before login the output cap is PREAUTH_OUT_MAX (256 KiB) once something
 * is queued: one large reply passes (the privacy notice), a second one
 * behind it closes.
 */
static void test_preauth_output_cap(void **state)
{
	struct session *s, *t;

	(void)state;
	server.cfg.out_queue_kib = 1024;
	s = new_session(0);
	session_send(s, frame(300 * KIB, 'p'));
	assert_int_equal(s->close_code, 0);
	session_send(s, frame(16, 'q'));
	assert_int_equal(s->close_code, EM_CLOSE_SLOW_CONSUMER);
	/* logged in, the configured cap holds */
	t = new_session(1);
	session_send(t, frame(300 * KIB, 'p'));
	session_send(t, frame(300 * KIB, 'q'));
	assert_int_equal(t->close_code, 0);
	assert_int_equal(t->out_bytes, 600 * KIB);
	/* before login, small replies queue up to the smaller cap */
	t = new_session(0);
	for (int i = 0; i < 64; i++)
		session_send(t, frame(4 * KIB, 'r'));
	assert_int_equal(t->close_code, 0);
	session_send(t, frame(1, 's'));
	assert_int_equal(t->close_code, EM_CLOSE_SLOW_CONSUMER);
	server.cfg.out_queue_kib = 4;
}

static void test_close_after_output(void **state)
{
	struct session *s, *e, *x;

	(void)state;
	s = new_session(1);
	session_send(s, strdup("one"));
	session_close(s, EM_CLOSE_SESSION_ENDED, "bye");
	session_close(s, EM_CLOSE_AUTH_TIMEOUT, "ignored"); /* the first close stays */
	assert_int_equal(s->close_code, EM_CLOSE_SESSION_ENDED);
	/* the queued frame goes first, then the close */
	assert_int_equal(session_write_one(s), 0);
	assert_int_equal(stub_lws_n_frames, 1);
	assert_string_equal(stub_lws_frames[0], "one");
	assert_int_equal(stub_lws_close_status, 0);
	assert_int_equal(stub_lws_kills, 0);
	assert_int_equal(session_write_one(s), 0);
	assert_int_equal(stub_lws_kills, 1);
	assert_int_equal(stub_lws_close_status, EM_CLOSE_SESSION_ENDED);
	assert_string_equal(stub_lws_close_text, "bye");
	/* ended sessions: 4004, or 4003 when the account was erased */
	e = new_session(1);
	x = new_session(1);
	session_close_ended(e, 0);
	session_close_ended(x, 1);
	assert_int_equal(e->close_code, EM_CLOSE_SESSION_ENDED);
	assert_int_equal(x->close_code, EM_CLOSE_ERASED);
	assert_int_equal(session_write_one(x), 0);
	assert_int_equal(stub_lws_close_status, EM_CLOSE_ERASED);
	/* NULL text (allocation failed upstream) closes with 1011 */
	s = new_session(1);
	session_send(s, NULL);
	assert_int_equal(s->close_code, 1011);
}

static void test_memory_account(void **state)
{
	struct session *a, *b;
	size_t cap = 1024 * KIB;

	(void)state;
	a = new_session(0);
	b = new_session(0);
	assert_int_equal(session_mem_charge(a, 1000), 0);
	assert_int_equal(session_mem_charge(b, 500), 0);
	assert_int_equal(a->mem, 1000);
	assert_int_equal(session_preauth_bytes(), 1500);
	assert_int_equal(session_all_bytes(), 1500);
	/* over the cap (1 MiB for all connections not logged in): refused, not charged */
	assert_int_equal(session_mem_charge(b, cap - 1500 + 1), -1);
	assert_int_equal(b->mem, 500);
	assert_int_equal(session_preauth_bytes(), 1500);
	assert_int_equal(session_mem_charge(b, cap - 1500), 0);
	assert_int_equal(session_preauth_bytes(), cap);
	assert_int_equal(session_mem_charge(a, 1), -1);
	session_mem_release(b, cap - 1500);
	/* a logs in: its bytes leave the capped sum, and its charges are never refused */
	session_set_authenticated(a, 1);
	session_set_authenticated(a, 1); /* twice: no double move */
	assert_int_equal(session_preauth_bytes(), 500);
	assert_int_equal(session_all_bytes(), 1500);
	assert_int_equal(session_mem_charge(a, 2 * cap), 0);
	assert_int_equal(session_preauth_bytes(), 500);
	session_mem_release(a, 2 * cap);
	/* logs out: back in */
	session_set_authenticated(a, 0);
	assert_int_equal(session_preauth_bytes(), 1500);
	/* a release never takes more than was charged */
	session_mem_release(a, 5000);
	assert_int_equal(a->mem, 0);
	assert_int_equal(session_preauth_bytes(), 500);
	assert_int_equal(session_all_bytes(), 500);
	session_mem_release(b, 500);
	assert_int_equal(session_all_bytes(), 0);
}

/* The reassembly buffer counts too; freeing a connection's buffers releases all. */
static void test_free_buffers(void **state)
{
	struct session *s;

	(void)state;
	s = new_session(0);
	s->rx_buf = malloc(100);
	s->rx_len = 100;
	assert_int_equal(session_mem_charge(s, 100), 0);
	session_send(s, strdup("queued"));
	assert_true(s->mem > 100);
	assert_int_equal(session_preauth_bytes(), s->mem);
	session_free_buffers(s);
	assert_int_equal(s->mem, 0);
	assert_null(s->rx_buf);
	assert_true(em_list_empty(&s->out));
	assert_int_equal(session_preauth_bytes(), 0);
}

/* Output that would pass --preauth-memory closes with 1013 and sends no data. */
static void test_preauth_memory_closes(void **state)
{
	struct session *hog, *s;
	int warned = stub_log_lines[2];

	(void)state;
	server.cfg.out_queue_kib = 4096;
	hog = new_session(0);
	assert_int_equal(session_mem_charge(hog, 1024 * KIB - 100), 0);
	s = new_session(0);
	session_send(s, frame(200, 'z'));
	assert_int_equal(s->close_code, SESSION_CLOSE_TRY_AGAIN);
	assert_int_equal(stub_metrics[M_PREAUTH_OVERLOADED], 1);
	assert_true(em_list_empty(&s->out));
	assert_int_equal(session_write_one(s), 0);
	assert_int_equal(stub_lws_n_frames, 0);
	assert_int_equal(stub_lws_close_status, SESSION_CLOSE_TRY_AGAIN);
	/* a logged-in connection's output is not in that sum */
	s = new_session(1);
	session_send(s, frame(200, 'y'));
	assert_int_equal(s->close_code, 0);
	session_mem_release(hog, 1024 * KIB - 100);
	/* many overloads in a row: all counted, at most one log line for them */
	for (int i = 0; i < 50; i++)
		session_note_overloaded("refused a handshake", NULL);
	assert_int_equal(stub_metrics[M_PREAUTH_OVERLOADED], 51);
	assert_true(stub_log_lines[2] - warned <= 2);
	server.cfg.out_queue_kib = 4;
}

/* After many connections closed the heap is given back once (a debug line), not each tick. */
static void test_mem_tick(void **state)
{
	int before;

	(void)state;
	for (int i = 0; i < 100; i++)
		new_session(0);
	session_mem_tick(); /* the peak: 100 connections */
	before = stub_log_lines[0];
	for (int i = 0; i < 100; i++)
		session_unregister(&sessions[i]);
	session_mem_tick();
	assert_int_equal(stub_log_lines[0], before + 1);
	session_mem_tick();
	assert_int_equal(stub_log_lines[0], before + 1);
}

/* With session_mem_init, jansson's allocations on this thread are counted. */
static void test_json_counted(void **state)
{
	size_t before;
	json_t *v;

	(void)state;
	session_mem_init();
	before = session_json_allocated();
	v = json_pack("{ss}", "key", "a value long enough to allocate");
	assert_non_null(v);
	assert_true(session_json_allocated() > before);
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_slot_and_generation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_table_grows, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_frames_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_frames_joined, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_consumer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_preauth_output_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_after_output, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_memory_account, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_buffers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_preauth_memory_closes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mem_tick, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_json_counted, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
