/*
 * test_fanout.c - server/fanout.c against a recording stub of session.h
 * (tests/unit/stubs): subscriptions and the user index, fanout_room and
 * fanout_user reaching exactly the right connections (never `except`, never
 * a closed one, never a new connection that took a closed one's slot), the
 * rooms' seen seq, fanout_forget at close, the closes of ended sessions
 * (logout, password change, erasure) and the typing limit, with enough
 * rooms and connections to make the indexes grow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "em_proto.h"
#include "fanout.h"
#include "session.h"
#include "stubs.h"

static struct session sess[STUB_SESSIONS];
static int n_sess;

/* A connection in the table, logged in as user (0: not logged in) with session sid. */
static struct session *conn(int64_t user, int64_t sid)
{
	struct session *s = &sess[n_sess++];

	memset(s, 0, sizeof(*s));
	assert_int_equal(stub_session_add(s), 0);
	s->user_id = user;
	s->session_id = sid;
	s->authenticated = user != 0;
	if (user)
		assert_int_equal(fanout_user_add(s), 0);
	return s;
}

static void count_room(int64_t room_id, void *arg)
{
	(void)room_id;
	(*(int *)arg)++;
}

static int rooms_listed(void)
{
	int n = 0;

	fanout_rooms_each(count_room, &n);
	return n;
}

static int setup(void **state)
{
	(void)state;
	stub_session_reset();
	memset(sess, 0, sizeof(sess));
	n_sess = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < n_sess; i++) {
		fanout_forget(&sess[i]);
		stub_session_drop(&sess[i]);
	}
	/* nothing of the test is left in the indexes */
	assert_int_equal(rooms_listed(), 0);
	stub_session_reset();
	return 0;
}

static void test_room_subscribers(void **state)
{
	struct session *a, *b, *c;

	(void)state;
	a = conn(1, 11);
	b = conn(2, 12);
	c = conn(3, 13);
	assert_int_equal(fanout_subscribe(a, 7), 0);
	assert_int_equal(fanout_subscribe(b, 7), 0);
	assert_int_equal(fanout_subscribe(b, 7), 0); /* twice: one subscription */
	assert_int_equal(fanout_subscribe(c, 8), 0);
	assert_true(fanout_is_subscribed(b, 7));
	assert_false(fanout_is_subscribed(c, 7));
	assert_int_equal(b->n_rooms, 1);
	assert_true(fanout_room_has(7));
	assert_false(fanout_room_has(9));
	assert_int_equal(rooms_listed(), 2);

	assert_int_equal(fanout_room(7, "{\"event\":\"x\"}", NULL), 2);
	assert_int_equal(stub_sent_to(a), 1);
	assert_int_equal(stub_sent_to(b), 1);
	assert_int_equal(stub_sent_to(c), 0);
	assert_string_equal(stub_sent_nth(a, 0), "{\"event\":\"x\"}");
	assert_ptr_not_equal(stub_sent_nth(a, 0), stub_sent_nth(b, 0)); /* a copy each */
	/* the sender's own connection is skipped */
	assert_int_equal(fanout_room(7, "m2", a), 1);
	assert_int_equal(stub_sent_to(a), 1);
	assert_int_equal(stub_sent_to(b), 2);
	assert_int_equal(fanout_room(9, "nobody", NULL), 0);
	/* unsubscribed: no more */
	fanout_unsubscribe(b, 7);
	fanout_unsubscribe(b, 7);
	assert_false(fanout_is_subscribed(b, 7));
	assert_int_equal(fanout_room(7, "m3", NULL), 1);
	assert_string_equal(stub_sent_nth(a, 1), "m3");
	assert_int_equal(stub_sent_to(b), 2);
	/* the last one leaves: the room is gone */
	fanout_unsubscribe(a, 7);
	assert_false(fanout_room_has(7));
	assert_int_equal(rooms_listed(), 1);
}

static void test_user_connections(void **state)
{
	struct session *a1, *a2, *b, *anon;

	(void)state;
	a1 = conn(100, 1);
	a2 = conn(100, 2);
	b = conn(200, 3);
	anon = conn(0, 0);
	assert_int_equal(fanout_user_add(a1), 0); /* twice: once in the index */
	assert_true(fanout_user_has(100));
	assert_false(fanout_user_has(300));
	assert_int_equal(fanout_user(100, "n1"), 2);
	assert_int_equal(stub_sent_to(a1), 1);
	assert_int_equal(stub_sent_to(a2), 1);
	assert_int_equal(stub_sent_to(b), 0);
	assert_int_equal(stub_sent_to(anon), 0);
	assert_int_equal(fanout_user(300, "n2"), 0);
	/* logout of one connection */
	fanout_user_remove(a1);
	assert_int_equal(fanout_user(100, "n3"), 1);
	assert_int_equal(stub_sent_to(a1), 1);
	assert_int_equal(stub_sent_to(a2), 2);
	fanout_user_remove(anon); /* never added: nothing */
	fanout_user_remove(a2);
	assert_false(fanout_user_has(100));
	assert_true(fanout_user_has(200));
}

/*
 * A connection that closed without being forgotten is skipped by its stale
 * (slot, generation); a new connection in its slot is not reached through
 * the old entry.
 */
static void test_stale_references(void **state)
{
	struct session *a, *b, *late;

	(void)state;
	a = conn(1, 1);
	b = conn(2, 2);
	assert_int_equal(fanout_subscribe(a, 5), 0);
	assert_int_equal(fanout_subscribe(b, 5), 0);
	stub_session_drop(b);
	late = conn(3, 3); /* takes b's slot, with a new generation */
	assert_int_equal(late->slot, b->slot);
	assert_int_not_equal(late->gen, b->gen);
	assert_int_equal(fanout_room(5, "only a", NULL), 1);
	assert_int_equal(stub_sent_to(a), 1);
	assert_int_equal(stub_sent_to(b), 0);
	assert_int_equal(stub_sent_to(late), 0);
	assert_int_equal(fanout_user(2, "to b"), 0);
	assert_int_equal(stub_sent_to(late), 0);
	fanout_forget(b);
}

static void test_room_seen(void **state)
{
	struct session *a, *b;

	(void)state;
	a = conn(1, 1);
	b = conn(2, 2);
	/* nobody here subscribed: nothing recorded */
	fanout_room_seen(7, 10);
	assert_int_equal(fanout_room_seen_seq(7), -1);
	assert_int_equal(fanout_subscribe(a, 7), 0);
	assert_int_equal(fanout_room_seen_seq(7), -1);
	fanout_room_seen(7, 10);
	assert_int_equal(fanout_room_seen_seq(7), 10);
	fanout_room_seen(7, 4); /* never lowered */
	assert_int_equal(fanout_room_seen_seq(7), 10);
	fanout_room_seen(7, 11);
	assert_int_equal(fanout_room_seen_seq(7), 11);
	/* another subscriber keeps it; per room */
	assert_int_equal(fanout_subscribe(b, 7), 0);
	assert_int_equal(fanout_subscribe(b, 8), 0);
	assert_int_equal(fanout_room_seen_seq(7), 11);
	assert_int_equal(fanout_room_seen_seq(8), -1);
	fanout_room_seen(8, 3);
	fanout_unsubscribe(a, 7);
	assert_int_equal(fanout_room_seen_seq(7), 11);
	assert_int_equal(fanout_room_seen_seq(8), 3);
	/* the room's last subscriber leaves: it is unknown again */
	fanout_unsubscribe(b, 7);
	assert_int_equal(fanout_room_seen_seq(7), -1);
}

static void test_forget_at_close(void **state)
{
	struct session *a, *b;

	(void)state;
	a = conn(1, 1);
	b = conn(2, 2);
	for (int64_t room = 1; room <= 6; room++)
		assert_int_equal(fanout_subscribe(a, room), 0);
	assert_int_equal(fanout_subscribe(b, 3), 0);
	assert_int_equal(rooms_listed(), 6);
	fanout_forget(a);
	assert_int_equal(a->n_rooms, 0);
	assert_null(a->rooms);
	assert_false(fanout_user_has(1));
	assert_int_equal(rooms_listed(), 1); /* only b's room 3 */
	assert_true(fanout_room_has(3));
	for (int64_t room = 1; room <= 6; room++)
		fanout_room(room, "x", NULL);
	assert_int_equal(stub_sent_to(a), 0);
	assert_int_equal(stub_sent_to(b), 1);
	fanout_forget(a); /* twice: nothing */
	/* forgetting a connection not logged in and never subscribed */
	fanout_forget(conn(0, 0));
}

static void user_session_count(struct session *s, void *arg)
{
	(void)s;
	(*(int *)arg)++;
}

static void test_closes_of_ended_sessions(void **state)
{
	struct session *s1, *s2a, *s2b, *s3, *other;
	int n = 0;

	(void)state;
	s1 = conn(100, 1);
	s2a = conn(100, 2);
	s2b = conn(100, 2); /* two connections of one login */
	s3 = conn(100, 3);
	other = conn(200, 2); /* same session number, another user */
	fanout_user_sessions(100, user_session_count, &n);
	assert_int_equal(n, 4);

	/* logout of session 2: its two connections, 4004 */
	fanout_close_session(100, 2);
	assert_int_equal(stub_n_closes, 2);
	assert_int_equal(s2a->close_code, EM_CLOSE_SESSION_ENDED);
	assert_int_equal(s2b->close_code, EM_CLOSE_SESSION_ENDED);
	assert_int_equal(s1->close_code, 0);
	assert_int_equal(s3->close_code, 0);
	assert_int_equal(other->close_code, 0);

	/* password change keeping session 3: every other of user 100 */
	stub_n_closes = 0;
	fanout_close_other_sessions(100, 3);
	assert_int_equal(s1->close_code, EM_CLOSE_SESSION_ENDED);
	assert_int_equal(s3->close_code, 0);
	assert_int_equal(other->close_code, 0);
	for (int i = 0; i < stub_n_closes; i++)
		assert_true(stub_closes[i].s != s3 && stub_closes[i].s != other);

	/* erasure: all of user 100, 4003 */
	stub_n_closes = 0;
	fanout_close_erased(100);
	assert_int_equal(stub_n_closes, 4);
	for (int i = 0; i < stub_n_closes; i++) {
		assert_int_equal(stub_closes[i].code, EM_CLOSE_ERASED);
		assert_true(stub_closes[i].s != other);
	}
	assert_int_equal(s3->close_code, EM_CLOSE_ERASED);
	assert_int_equal(other->close_code, 0);
	/* a user with no connection here: nothing */
	stub_n_closes = 0;
	fanout_close_erased(999);
	fanout_close_session(999, 1);
	assert_int_equal(stub_n_closes, 0);
}

static void test_typing_limit(void **state)
{
	struct session *a;

	(void)state;
	a = conn(1, 1);
	assert_false(fanout_typing_allowed(a, 7, 1000, 3000)); /* not subscribed */
	assert_int_equal(fanout_subscribe(a, 7), 0);
	assert_int_equal(fanout_subscribe(a, 8), 0);
	assert_true(fanout_typing_allowed(a, 7, 1000, 3000));
	assert_false(fanout_typing_allowed(a, 7, 3999, 3000));
	assert_true(fanout_typing_allowed(a, 8, 3999, 3000)); /* per room */
	assert_true(fanout_typing_allowed(a, 7, 4000, 3000));
	assert_false(fanout_typing_allowed(a, 7, 4001, 3000));
}

/* Thousands of rooms (the room index grows and rehashes), dozens of connections in one. */
static void test_many(void **state)
{
	(void)state;
	for (int i = 0; i < 40; i++)
		conn(1000 + i, i + 1);
	for (int64_t room = 1; room <= 5000; room++)
		assert_int_equal(fanout_subscribe(&sess[room % 40], room * 7919), 0);
	assert_int_equal(rooms_listed(), 5000);
	for (int i = 0; i < 40; i++)
		assert_int_equal(fanout_subscribe(&sess[i], 1), 0);
	for (int64_t room = 1; room <= 5000; room += 499) {
		assert_int_equal(fanout_room(room * 7919, "r", NULL), 1);
		assert_int_equal(stub_sent_to(&sess[room % 40]), 1);
		assert_true(fanout_is_subscribed(&sess[room % 40], room * 7919));
		stub_sent_clear();
	}
	assert_int_equal(fanout_room(1, "all", &sess[5]), 39);
	assert_int_equal(stub_sent_to(&sess[5]), 0);
	assert_int_equal(fanout_user(1017, "u"), 1);
	assert_int_equal(stub_sent_to(&sess[17]), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_room_subscribers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_user_connections, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_references, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_room_seen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_forget_at_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_closes_of_ended_sessions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_typing_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
