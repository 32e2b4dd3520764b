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

#include "em_list.h"

/* RFC 6455 "try again later" (lws 4.1.6 has no name for it) */
#define SESSION_CLOSE_TRY_AGAIN 1013

struct lws;
struct db_job;

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
	/* a manager holding a mentor seat: since login, or since a room.add told this connection */
	int mentor_seat;
	/* roles per programme: a mentor or mentee of some programme (login, invite.accept) */
	int also_mentor, also_mentee;
	char username[40];

	char addr[64]; /* peer address */
	int64_t auth_deadline_ms;
	int auth_sent; /* a login or resume was taken before login: the deadline's grace (ws.c) */

	int inflight;        /* jobs submitted and not yet answered */
	struct em_list held; /* of struct held_req (dispatch.c): waiting for room in flight */
	size_t held_bytes;   /* parsed size of the held requests */

	size_t mem; /* bytes held for this connection: held requests, queued output, rx buffer */

	char *rx_buf; /* fragments of the message being received */
	size_t rx_len;

	struct em_list out; /* of struct out_msg (session.c), oldest first */
	size_t out_bytes;

	struct session_room *rooms; /* subscriptions (fanout.c) */
	int n_rooms, cap_rooms;
	int synced;            /* sync has subscribed this connection */
	struct db_job *parked; /* next replay page, held while output is queued */

	int close_code; /* non-zero: close once the queue is flushed */
	char close_reason[64];
};

/*
 * Memory held for connections (service thread). Every buffer a peer can grow
 * — held requests (parsed size), queued output, the reassembly buffer — is
 * charged to its session when allocated and released when freed. The sum
 * over connections that are not logged in is capped (--preauth-memory): a
 * charge that would pass the cap fails, and the caller closes that
 * connection (1013). session_set_authenticated() moves a session's bytes
 * in or out of that sum.
 */
int session_mem_charge(struct session *s, size_t n); /* 0, or -1: over the cap, not charged */
void session_mem_release(struct session *s, size_t n);
void session_set_authenticated(struct session *s, int on);
/* Bytes held for connections not logged in, and for all connections. */
size_t session_preauth_bytes(void);
size_t session_all_bytes(void);
/* Once a second: gives freed heap back to the system (malloc_trim) after a fall. */
void session_mem_tick(void);
/* Closes a connection whose charge failed (1013, its queued output dropped). */
void session_close_overloaded(struct session *s);
/* Counts a connection closed or refused for --preauth-memory; logs one line a second at most. */
void session_note_overloaded(const char *what, const struct session *s);
/*
 * Main thread, at start: jansson allocates through a counter, so that a
 * request's parsed size is known. session_json_allocated() is the count of
 * the calling thread (heap chunks, roughly as glibc takes them).
 */
void session_mem_init(void);
size_t session_json_allocated(void);

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
/*
 * One frame queued on many connections (a room's event): its bytes are
 * copied once and shared, each queue holding a reference. Service thread.
 * session_frame_new copies text (NULL when out of memory); session_send_frame
 * queues f on s like session_send (a NULL f closes s); session_frame_put drops
 * the caller's reference.
 */
struct session_frame *session_frame_new(const char *text);
void session_send_frame(struct session *s, struct session_frame *f);
void session_frame_put(struct session_frame *f);
/* Closes after the queued output is sent, with a WebSocket close code. */
void session_close(struct session *s, int code, const char *reason);
/* Closes a connection whose session ended: 4004, or 4003 when the account was erased. */
void session_close_ended(struct session *s, int erased);
/* Frees queued output and buffers (at LWS_CALLBACK_CLOSED). */
void session_free_buffers(struct session *s);
/* Writes queued frames (one, or a few while the socket takes them), then, once
 * none is left, starts the close asked for with session_close(); returns -1
 * when a write failed (lws then drops the connection at once). */
int session_write_one(struct session *s);

#endif
