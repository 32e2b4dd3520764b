/*
 * events.h - the events the server pushes (PROTOCOL.md section 5), as a
 * typed enum with one table row each: the name on the wire, whom it may go
 * to (a room's subscribers, a user's connections), how it is announced to
 * the other nodes (the NOTIFY kind of notify_codec.h), and what pushing it
 * does to this node's bookkeeping. A job records its events as
 * [id, event, data] (db_job_push); dispatch.c pushes them, cluster.c
 * announces them, remote.c turns announcements heard back into events.
 * Pure: no lws, no libpq, any thread.
 */
#ifndef EMENTORD_EVENTS_H
#define EMENTORD_EVENTS_H

#include <stdint.h>
#include <jansson.h>

struct notify;

enum server_event {
	EV_NONE = 0,
	EV_MESSAGE, /* room: a stored message (announced per batch: NOTIFY m) */
	EV_RECEIPT, /* room: a member read up to seq */
	EV_TYPING,  /* room: a member is typing (never stored; NOTIFY t from the service thread) */
	EV_ROOM,    /* room: its members or agreement changed; user: added to or removed from it */
	EV_EPOCH,   /* user: a room key sealed to the user */
	EV_NOTICE,  /* user: a notice (reminder, checkpoint change) */
	EV_SYNCED,  /* the requester: the replay of `sync` is over (never to a room or user) */
	EV__END
};

/* To whom a recorded event goes. */
enum event_to {
	EV_TO_ROOM = 1, /* the connections subscribed to room id */
	EV_TO_USER = 2, /* the connections of user id */
};

struct event_row {
	const char *name; /* on the wire */
	unsigned to;      /* enum event_to bits it may be recorded for */
	char notify_room; /* NOTIFY kind announcing it to a room's subscribers elsewhere; 0: none
	                     per job */
	char notify_user; /* ... to a user's connections elsewhere */
	int marks_seen;   /* to a room: raises the room's pushed seq (fanout_room_seen) */
	int resubscribes; /* to a user: "added"/"removed" changes the user's subscriptions */
};

/* The row of ev; NULL when ev is not an event. */
const struct event_row *event_row(enum server_event ev);
/* The wire name of ev ("" when not an event). */
const char *event_name(enum server_event ev);

/*
 * Fills *n (kind and fields, not the node) with the announcement of event ev
 * recorded for `to` id with data. Returns 1 when there is one, 0 when ev is
 * not announced per job (messages go per batch), -1 when data lacks a field
 * the announcement needs.
 */
int event_announce(enum server_event ev, enum event_to to, int64_t id, json_t *data,
                   struct notify *n);
/*
 * The inverse, for the announcements that are plain pushes (receipts, room
 * changes, membership): fills *ev, *to, *id and *data (new reference) and
 * returns 1; 0 for any other kind (messages, keys, notices, typing and
 * closes need more than a push: remote.c's).
 */
int event_from_announcement(const struct notify *n, enum server_event *ev, enum event_to *to,
                            int64_t *id, json_t **data);

#endif
