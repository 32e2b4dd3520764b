/*
 * test_events.c - server/events.c with server/notify_codec.c: the event
 * table (every event has a row with a distinct name on the wire, nothing
 * else has one), the announcement of every (event, audience) pair as a
 * NOTIFY payload that encodes, and the way back from a decoded payload to
 * the same event, audience, id and data for the announcements that are plain
 * pushes (receipt, room, membership). A data object missing a field the
 * announcement needs gives -1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "events.h"
#include "notify_codec.h"

#define NODE "00000000deadbeef"

static void test_every_row_has_a_name(void **state)
{
	(void)state;
	for (int ev = EV_NONE + 1; ev < EV__END; ev++) {
		const struct event_row *row = event_row((enum server_event)ev);

		assert_non_null(row);
		assert_non_null(row->name);
		assert_true(row->name[0] != '\0');
		assert_string_equal(event_name((enum server_event)ev), row->name);
		for (int other = ev + 1; other < EV__END; other++)
			assert_string_not_equal(row->name, event_name((enum server_event)other));
	}
	assert_string_equal(event_name(EV_MESSAGE), "message");
	assert_string_equal(event_name(EV_RECEIPT), "receipt");
	assert_string_equal(event_name(EV_SYNCED), "synced");
}

static void test_not_events(void **state)
{
	(void)state;
	assert_null(event_row(EV_NONE));
	assert_null(event_row(EV__END));
	assert_null(event_row((enum server_event)(EV__END + 7)));
	assert_null(event_row((enum server_event) - 1));
	assert_string_equal(event_name(EV_NONE), "");
	assert_string_equal(event_name(EV__END), "");
}

/* Who an event may go to, and what pushing it changes (PROTOCOL.md section 5). */
static void test_audiences(void **state)
{
	(void)state;
	assert_int_equal(event_row(EV_MESSAGE)->to, EV_TO_ROOM);
	assert_int_equal(event_row(EV_RECEIPT)->to, EV_TO_ROOM);
	assert_int_equal(event_row(EV_TYPING)->to, EV_TO_ROOM);
	assert_int_equal(event_row(EV_ROOM)->to, EV_TO_ROOM | EV_TO_USER);
	assert_int_equal(event_row(EV_EPOCH)->to, EV_TO_USER);
	assert_int_equal(event_row(EV_NOTICE)->to, EV_TO_USER);
	assert_int_equal(event_row(EV_SYNCED)->to, 0);
	for (int ev = EV_NONE + 1; ev < EV__END; ev++) {
		const struct event_row *row = event_row((enum server_event)ev);

		assert_int_equal(row->marks_seen, ev == EV_MESSAGE);
		assert_int_equal(row->resubscribes, ev == EV_ROOM);
		/* announced only to audiences it may be recorded for */
		if (!(row->to & EV_TO_ROOM))
			assert_int_equal(row->notify_room, 0);
		if (!(row->to & EV_TO_USER))
			assert_int_equal(row->notify_user, 0);
	}
}

/* A complete data object for ev as the handlers record it (new reference). */
static json_t *full_data(enum server_event ev)
{
	switch (ev) {
	case EV_RECEIPT:
		return json_pack("{sIsIsssI}", "room_id", (json_int_t)7, "user_id", (json_int_t)3,
		                 "username", "mia.k", "seq", (json_int_t)41);
	case EV_ROOM:
		return json_pack("{sIss}", "room_id", (json_int_t)7, "change", "added");
	case EV_EPOCH:
		return json_pack("{sIsIsIsIss}", "room_id", (json_int_t)7, "epoch", (json_int_t)2,
		                 "committer_id", (json_int_t)5, "agreement_version", (json_int_t)1,
		                 "sealed", "AAAA");
	case EV_NOTICE:
		return json_pack("{sIss}", "id", (json_int_t)99, "kind", "reminder");
	case EV_TYPING:
		return json_pack("{sIsIss}", "room_id", (json_int_t)7, "user_id", (json_int_t)3,
		                 "username", "mia.k");
	case EV_MESSAGE:
		return json_pack("{sIsI}", "room_id", (json_int_t)7, "seq", (json_int_t)12);
	default:
		return json_object();
	}
}

/* The payload text of n announced by node NODE. */
static void encode(struct notify *n, char *out)
{
	memcpy(n->node, NODE, NOTIFY_NODE_LEN + 1);
	assert_true(notify_encode(n, out, NOTIFY_PAYLOAD_MAX + 1) > 0);
}

static void test_announce_every_pair(void **state)
{
	char text[NOTIFY_PAYLOAD_MAX + 1];
	struct notify n;
	json_t *data;

	(void)state;
	/* pairs not announced per job: messages go per batch, typing from the
	 * service thread, synced never leaves the requester; nothing for an
	 * audience the event is not recorded for */
	for (int ev = EV_NONE; ev <= EV__END; ev++)
		for (int to = EV_TO_ROOM; to <= EV_TO_USER; to++) {
			const struct event_row *row = event_row((enum server_event)ev);
			char kind =
			    row ? (to == EV_TO_ROOM ? row->notify_room : row->notify_user) : 0;

			data = full_data((enum server_event)ev);
			memset(&n, 0x5a, sizeof(n));
			assert_int_equal(
			    event_announce((enum server_event)ev, (enum event_to)to, 7, data, &n),
			    kind ? 1 : 0);
			if (!kind)
				assert_int_equal(n.kind, 0);
			json_decref(data);
		}

	data = full_data(EV_RECEIPT);
	assert_int_equal(event_announce(EV_RECEIPT, EV_TO_ROOM, 7, data, &n), 1);
	assert_int_equal(n.kind, NOTIFY_RECEIPT);
	encode(&n, text);
	assert_string_equal(text, NODE " r 7 3 41 mia.k");
	json_decref(data);

	data = full_data(EV_ROOM);
	assert_int_equal(event_announce(EV_ROOM, EV_TO_ROOM, 7, data, &n), 1);
	assert_int_equal(n.kind, NOTIFY_ROOM);
	encode(&n, text);
	assert_string_equal(text, NODE " Q 7 added");
	/* to a user: the user is the id, the room comes from the data */
	assert_int_equal(event_announce(EV_ROOM, EV_TO_USER, 3, data, &n), 1);
	assert_int_equal(n.kind, NOTIFY_MEMBERSHIP);
	encode(&n, text);
	assert_string_equal(text, NODE " R 3 7 added");
	json_decref(data);

	data = full_data(EV_EPOCH);
	assert_int_equal(event_announce(EV_EPOCH, EV_TO_USER, 3, data, &n), 1);
	assert_int_equal(n.kind, NOTIFY_EPOCH);
	encode(&n, text);
	assert_string_equal(text, NODE " e 3 7 2");
	json_decref(data);

	data = full_data(EV_NOTICE);
	assert_int_equal(event_announce(EV_NOTICE, EV_TO_USER, 3, data, &n), 1);
	assert_int_equal(n.kind, NOTIFY_NOTICE);
	encode(&n, text);
	assert_string_equal(text, NODE " n 3 99");
	json_decref(data);
}

/* Each field the announcement needs, removed in turn (or of the wrong type): -1. */
static void test_missing_field(void **state)
{
	static const struct {
		enum server_event ev;
		enum event_to to;
		const char *field;
	} need[] = {
	    {EV_RECEIPT, EV_TO_ROOM, "user_id"},  {EV_RECEIPT, EV_TO_ROOM, "seq"},
	    {EV_RECEIPT, EV_TO_ROOM, "username"}, {EV_ROOM, EV_TO_ROOM, "change"},
	    {EV_ROOM, EV_TO_USER, "change"},      {EV_ROOM, EV_TO_USER, "room_id"},
	    {EV_EPOCH, EV_TO_USER, "epoch"},      {EV_EPOCH, EV_TO_USER, "room_id"},
	    {EV_NOTICE, EV_TO_USER, "id"},
	};
	struct notify n;

	(void)state;
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		json_t *data = full_data(need[i].ev);

		assert_int_equal(event_announce(need[i].ev, need[i].to, 7, data, &n), 1);
		assert_int_equal(json_object_set_new(data, need[i].field, json_true()), 0);
		assert_int_equal(event_announce(need[i].ev, need[i].to, 7, data, &n), -1);
		assert_int_equal(json_object_del(data, need[i].field), 0);
		assert_int_equal(event_announce(need[i].ev, need[i].to, 7, data, &n), -1);
		json_decref(data);
	}
	/* a username longer than a NOTIFY word */
	{
		json_t *data = full_data(EV_RECEIPT);

		json_object_set_new(data, "username",
		                    json_string("abcdefghijklmnopqrstuvwxyz0123456"));
		assert_int_equal(event_announce(EV_RECEIPT, EV_TO_ROOM, 7, data, &n), -1);
		json_decref(data);
	}
	/* no data object at all */
	assert_int_equal(event_announce(EV_ROOM, EV_TO_ROOM, 7, NULL, &n), -1);
}

/*
 * The recorded event announced, encoded, decoded on the other node and
 * turned back into an event: the same event, audience, id and data.
 */
static void round_trip(enum server_event ev, enum event_to to, int64_t id, json_t *data)
{
	char text[NOTIFY_PAYLOAD_MAX + 1];
	struct notify n, heard;
	enum server_event ev_back = EV_NONE;
	enum event_to to_back = 0;
	int64_t id_back = 0;
	json_t *back = NULL;

	assert_int_equal(event_announce(ev, to, id, data, &n), 1);
	encode(&n, text);
	assert_int_equal(notify_decode(text, strlen(text), &heard), 0);
	assert_int_equal(event_from_announcement(&heard, &ev_back, &to_back, &id_back, &back), 1);
	assert_int_equal(ev_back, ev);
	assert_int_equal(to_back, to);
	assert_int_equal(id_back, id);
	assert_non_null(back);
	if (!json_equal(back, data)) {
		char *a = json_dumps(data, JSON_SORT_KEYS), *b = json_dumps(back, JSON_SORT_KEYS);

		print_error("sent %s, got back %s\n", a, b);
		free(a);
		free(b);
		fail();
	}
	json_decref(back);
}

static void test_from_announcement(void **state)
{
	json_t *data;

	(void)state;
	data = full_data(EV_RECEIPT);
	round_trip(EV_RECEIPT, EV_TO_ROOM, 7, data);
	json_decref(data);
	data = json_pack("{sIss}", "room_id", (json_int_t)7, "change", "agreement");
	round_trip(EV_ROOM, EV_TO_ROOM, 7, data);
	json_decref(data);
	data = json_pack("{sIss}", "room_id", (json_int_t)12, "change", "removed");
	round_trip(EV_ROOM, EV_TO_USER, 3, data);
	json_decref(data);
}

/* The announcements that need more than a push are not turned into events. */
static void test_not_plain_pushes(void **state)
{
	static const enum notify_kind kinds[] = {
	    NOTIFY_MESSAGES, NOTIFY_EPOCH,         NOTIFY_NOTICE,           NOTIFY_TYPING,
	    NOTIFY_ERASED,   NOTIFY_SESSION_ENDED, NOTIFY_SESSIONS_REVOKED, NOTIFY_HELLO,
	};
	struct notify n;

	(void)state;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		enum server_event ev = EV_NONE;
		enum event_to to = 0;
		int64_t id = 0;
		json_t *data = NULL;

		memset(&n, 0, sizeof(n));
		n.kind = kinds[i];
		n.room = 7, n.user = 3;
		assert_int_equal(event_from_announcement(&n, &ev, &to, &id, &data), 0);
		assert_null(data);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_row_has_a_name),
	    cmocka_unit_test(test_not_events),
	    cmocka_unit_test(test_audiences),
	    cmocka_unit_test(test_announce_every_pair),
	    cmocka_unit_test(test_missing_field),
	    cmocka_unit_test(test_from_announcement),
	    cmocka_unit_test(test_not_plain_pushes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
