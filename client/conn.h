/*
 * conn.h - one ementor.v1 connection for the CLI: open a wss URL, send
 * requests, wait for "the reply to id N" while the server's events are
 * queued, and wait for "the next event or a line on stdin" (for `chat`).
 * Everything runs on the caller's thread, which drives lws_service() until
 * what it waits for (or a timeout) arrives.
 */
#ifndef CLIENT_CONN_H
#define CLIENT_CONN_H

#include <stdint.h>
#include <jansson.h>

#include "em_proto.h"

/* How long to wait for the connection, and then for each reply. */
#define CONN_TIMEOUT_MS 15000
/* Largest message the client accepts: a `history` page of 500 messages of
 * 16 KiB each is about 11 MiB. Requests stay under the server's 64 KiB. */
#define CONN_MAX_MESSAGE (32 * 1024 * 1024)
/* Events kept for conn_next(); beyond this they are counted and dropped. */
#define CONN_MAX_EVENTS 10000
/* Replies nobody waits for yet; the oldest is dropped beyond this. */
#define CONN_MAX_REPLIES 32

/* Why a connection failed. 0 is success, every failure is negative. */
enum conn_err {
	CONN_OK = 0,
	CONN_ERR_URL = -1,       /* the server URL cannot be used */
	CONN_ERR_CONNECT = -2,   /* TCP: refused, unreachable, name not found */
	CONN_ERR_TLS = -3,       /* TLS handshake or certificate verification */
	CONN_ERR_HANDSHAKE = -4, /* the WebSocket upgrade was refused */
	CONN_ERR_CLOSED = -5,    /* the server closed the connection */
	CONN_ERR_TIMEOUT = -6,   /* no answer in time */
	CONN_ERR_PROTOCOL = -7,  /* the server sent something we cannot read */
	CONN_ERR_NOMEM = -8,
};

struct conn;

/*
 * Creates an unconnected handle. `url` is ws:// or wss://HOST[:PORT][/PATH];
 * `ca_file` (may be NULL: system CAs) is a PEM file of certificates to trust.
 * Both strings are copied. Returns NULL only when out of memory.
 * Who frees: the caller, with conn_free().
 */
struct conn *conn_new(const char *url, const char *ca_file);

/*
 * Connects and completes the TLS and WebSocket handshakes. Returns CONN_OK or
 * a negative enum conn_err; conn_strerror() then says what happened.
 */
int conn_connect(struct conn *c);

/*
 * Queues one request for sending and returns at once. Takes the reference to
 * `args` (may be NULL for no arguments) whatever happens. *id (may be NULL)
 * receives the request id. Its reply is kept for conn_wait_reply(); a reply
 * nobody claims (a `typing` sent and forgotten) is eventually dropped.
 */
int conn_send(struct conn *c, enum em_op op, json_t *args, int64_t *id);

/*
 * Services the connection until the reply to request `id` arrives, the
 * connection fails, or timeout_ms pass. Events that arrive meanwhile are
 * queued for conn_next(). On CONN_OK, *reply holds the server's answer (a
 * result or an error); the caller clears it with em_incoming_clear(). On
 * failure *reply is empty.
 */
int conn_wait_reply(struct conn *c, int64_t id, int timeout_ms, struct em_incoming *reply);

/*
 * conn_send() and conn_wait_reply() with CONN_TIMEOUT_MS: one request and its
 * reply. Takes the reference to `args`. Events are queued, not lost.
 */
int conn_call(struct conn *c, enum em_op op, json_t *args, struct em_incoming *reply);

/*
 * Raw mode, for a host of the client core (core/emc.h), which makes
 * and matches its own frames: after conn_set_raw(), every frame received is
 * kept as text, replies and events alike, for conn_recv_text().
 * conn_send_text() queues a frame made elsewhere (copied). Returns CONN_OK
 * or a negative enum conn_err.
 */
void conn_set_raw(struct conn *c);
int conn_send_text(struct conn *c, const char *text, size_t len);
/*
 * The oldest frame received (CONN_NEXT_EVENT, *text malloc'd: the caller
 * frees it), or CONN_NEXT_FD when fd (>= 0) is readable, or CONN_NEXT_IDLE
 * after timeout_ms, or a negative enum conn_err when the connection failed.
 */
int conn_recv_text(struct conn *c, int fd, int timeout_ms, char **text, size_t *len);

/* What conn_next() returns when nothing failed. */
enum conn_next {
	CONN_NEXT_IDLE = 0,  /* timeout_ms passed */
	CONN_NEXT_EVENT = 1, /* *ev holds an event */
	CONN_NEXT_FD = 2,    /* fd is readable (or at end of file) */
};

/*
 * Takes the oldest queued event, or services the connection for up to
 * timeout_ms until one arrives. With fd >= 0, also returns CONN_NEXT_FD as
 * soon as fd is readable (checked at least every 50 ms); queued events come
 * first. Returns an enum conn_next, or a negative enum conn_err when the
 * connection failed (queued events are still returned first). On
 * CONN_NEXT_EVENT, the caller clears *ev with em_incoming_clear().
 */
int conn_next(struct conn *c, int fd, int timeout_ms, struct em_incoming *ev);

/* Events dropped because the queue was full, since the last call (then resynchronise). */
size_t conn_events_dropped(struct conn *c);

/* Milliseconds since the connection was established (0 when not connected). */
int64_t conn_age_ms(const struct conn *c);
/* Non-zero while the connection is up. */
int conn_is_open(const struct conn *c);

/* The last failure in a full sentence (no trailing period). Valid until the next call. */
const char *conn_strerror(const struct conn *c);

/* The close code the server sent (e.g. EM_CLOSE_SESSION_ENDED), or 0. NULL-safe. */
int conn_close_code(const struct conn *c);

/* Closes the connection politely (close code 1000) and frees everything. NULL-safe. */
void conn_free(struct conn *c);

#endif
