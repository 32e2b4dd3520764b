/*
 * events.c - the event table of events.h and the mapping between recorded
 * events and the cluster's announcements. Pure.
 */
#include <stdio.h>
#include <string.h>

#include "events.h"
#include "notify_codec.h"

static const struct event_row rows[EV__END] = {
    [EV_MESSAGE] = {.name = "message", .to = EV_TO_ROOM, .marks_seen = 1},
    [EV_RECEIPT] = {.name = "receipt", .to = EV_TO_ROOM, .notify_room = NOTIFY_RECEIPT},
    [EV_TYPING] = {.name = "typing", .to = EV_TO_ROOM},
    [EV_ROOM] = {.name = "room",
                 .to = EV_TO_ROOM | EV_TO_USER,
                 .notify_room = NOTIFY_ROOM,
                 .notify_user = NOTIFY_MEMBERSHIP,
                 .resubscribes = 1},
    [EV_EPOCH] = {.name = "epoch", .to = EV_TO_USER, .notify_user = NOTIFY_EPOCH},
    [EV_NOTICE] = {.name = "notice", .to = EV_TO_USER, .notify_user = NOTIFY_NOTICE},
    [EV_SYNCED] = {.name = "synced"},
};

const struct event_row *event_row(enum server_event ev)
{
	return ev > EV_NONE && ev < EV__END ? &rows[ev] : NULL;
}

const char *event_name(enum server_event ev)
{
	const struct event_row *row = event_row(ev);

	return row ? row->name : "";
}

static int64_t data_int(json_t *data, const char *key)
{
	json_t *v = json_object_get(data, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* Copies a string field of data into n->word; -1 when missing or too long. */
static int data_word(json_t *data, const char *key, struct notify *n)
{
	const char *s = json_string_value(json_object_get(data, key));

	if (!s || strlen(s) >= sizeof(n->word))
		return -1;
	snprintf(n->word, sizeof(n->word), "%s", s);
	return 0;
}

int event_announce(enum server_event ev, enum event_to to, int64_t id, json_t *data,
                   struct notify *n)
{
	const struct event_row *row = event_row(ev);
	char kind = row ? (to == EV_TO_ROOM ? row->notify_room : row->notify_user) : 0;

	memset(n, 0, sizeof(*n));
	if (!kind)
		return 0;
	n->kind = (enum notify_kind)kind;
	if (to == EV_TO_ROOM)
		n->room = id;
	else
		n->user = id, n->room = data_int(data, "room_id");
	switch (n->kind) {
	case NOTIFY_RECEIPT:
		n->user = data_int(data, "user_id");
		n->seq = data_int(data, "seq");
		if (n->user < 0 || n->seq < 0 || data_word(data, "username", n))
			return -1;
		break;
	case NOTIFY_ROOM:
	case NOTIFY_MEMBERSHIP:
		if (data_word(data, "change", n))
			return -1;
		break;
	case NOTIFY_EPOCH:
		n->epoch = data_int(data, "epoch");
		if (n->epoch < 0)
			return -1;
		break;
	case NOTIFY_NOTICE:
		n->room = 0;
		n->id = data_int(data, "id");
		if (n->id < 0)
			return -1;
		break;
	default:
		return -1;
	}
	return n->room < 0 ? -1 : 1;
}

int event_from_announcement(const struct notify *n, enum server_event *ev, enum event_to *to,
                            int64_t *id, json_t **data)
{
	switch (n->kind) {
	case NOTIFY_RECEIPT:
		*ev = EV_RECEIPT, *to = EV_TO_ROOM, *id = n->room;
		*data =
		    json_pack("{sIsIsssI}", "room_id", (json_int_t)n->room, "user_id",
		              (json_int_t)n->user, "username", n->word, "seq", (json_int_t)n->seq);
		return *data ? 1 : 0;
	case NOTIFY_ROOM:
		*ev = EV_ROOM, *to = EV_TO_ROOM, *id = n->room;
		*data = json_pack("{sIss}", "room_id", (json_int_t)n->room, "change", n->word);
		return *data ? 1 : 0;
	case NOTIFY_MEMBERSHIP:
		*ev = EV_ROOM, *to = EV_TO_USER, *id = n->user;
		*data = json_pack("{sIss}", "room_id", (json_int_t)n->room, "change", n->word);
		return *data ? 1 : 0;
	default:
		return 0;
	}
}
