/*
 * conn.h - one synchronous ementor.v1 connection for the CLI: open a wss URL,
 * send a request, wait for its reply. Everything runs on the caller's thread,
 * which drives lws_service() until the answer (or a timeout) arrives.
 */
#ifndef CLIENT_CONN_H
#define CLIENT_CONN_H

#include <stdint.h>
#include <jansson.h>

#include "em_proto.h"

/* How long to wait for the connection, and then for each reply. */
#define CONN_TIMEOUT_MS 15000
/* Largest message the client accepts; the server's own limit is far lower. */
#define CONN_MAX_MESSAGE (1024 * 1024)

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
 * Sends one request and waits for the reply that carries its id, ignoring
 * events and stray replies. Takes the reference to `args` (may be NULL for
 * no arguments) whatever happens. On CONN_OK, *reply holds the server's
 * answer, which is either a result or an error; the caller clears it with
 * em_incoming_clear(). On failure *reply is empty.
 */
int conn_call(struct conn *c, enum em_op op, json_t *args, struct em_incoming *reply);

/* Milliseconds since the connection was established (0 when not connected). */
int64_t conn_age_ms(const struct conn *c);
/* Non-zero while the connection is up. */
int conn_is_open(const struct conn *c);

/* The last failure in a full sentence (no trailing period). Valid until the next call. */
const char *conn_strerror(const struct conn *c);

/* Closes the connection politely (close code 1000) and frees everything. NULL-safe. */
void conn_free(struct conn *c);

#endif
