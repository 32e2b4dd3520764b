/*
 * session.h - one WebSocket connection on the service thread: its login
 * state, its reassembly buffer, its bounded output queue, and the table that
 * lets a finished DB job find it again by slot + generation.
 *
 * Lifetime: lws allocates struct session as per-session data; it is entered
 * in the table at LWS_CALLBACK_ESTABLISHED and removed at LWS_CALLBACK_CLOSED,
 * which bumps the slot's generation, so a late job result finds nothing and is
 * dropped. No pointer to a session ever leaves the service thread.
 */
#ifndef EMENTORD_SESSION_H
#define EMENTORD_SESSION_H

#include <stddef.h>
#include <stdint.h>

struct lws;
struct out_msg;
struct db_job;
struct held_req;

/* A room this connection is subscribed to (after sync). */
struct session_room {
	int64_t room_id;
	int64_t typing_at; /* last typing notice sent, ms */
};

struct session {
	struct lws *wsi;
	uint32_t slot, gen;
	int registered; /* in the table */

	/* login state: set only by completions of login/resume/logout */
	int authenticated;
	int64_t user_id;
	int64_t session_id; /* sessions.id */
	char role[12];
	char username[40];

	char addr[64]; /* peer address */
	int64_t auth_deadline_ms;

	int inflight;                           /* jobs submitted and not yet answered */
	struct held_req *held_head, *held_tail; /* requests waiting for room in flight */
	size_t held_bytes;

	char *rx_buf; /* fragments of the message being received */
	size_t rx_len;

	struct out_msg *out_head, *out_tail;
	size_t out_bytes;

	struct session_room *rooms; /* subscriptions (fanout.c) */
	int n_rooms, cap_rooms;
	int synced;            /* sync has subscribed this connection */
	struct db_job *parked; /* next replay page, held while output is queued */

	int close_code; /* non-zero: close once the queue is flushed */
	char close_reason[64];
};

/* Service thread. */
int session_register(struct session *s);
void session_unregister(struct session *s);
struct session *session_lookup(uint32_t slot, uint32_t gen);
/* Calls fn for every live session. */
void session_foreach(void (*fn)(struct session *s, void *arg), void *arg);
int session_count(void);

/*
 * Queues a frame for sending; takes ownership of text (malloc'd, freed here).
 * If the queue would pass the per-connection cap, the connection is closed as a
 * slow consumer instead. NULL text (allocation failure) closes too.
 */
void session_send(struct session *s, char *text);
/* Closes after the queued output is sent, with a WebSocket close code. */
void session_close(struct session *s, int code, const char *reason);
/* Frees queued output and buffers (at LWS_CALLBACK_CLOSED). */
void session_free_buffers(struct session *s);
/* Writes one queued frame; returns -1 if the connection must close now. */
int session_write_one(struct session *s);

#endif
