/*
 * conn.c - a small request/reply and event layer over one lws client
 * connection, which is all a command-line client needs: connect, send
 * requests, run lws_service() until the reply with the matching `re`
 * arrives, hand out the server's events (`message`, `epoch`, ...) in the
 * order they came, and say in plain words what went wrong when something
 * does (refused TCP connection, certificate that does not verify, refused
 * WebSocket upgrade, close by the server, timeout).
 *
 * DESIGN. Each struct conn owns its own lws context (one client vhost, TLS
 * trust from --ca or the system store), so a command may open a second
 * connection after a slow key derivation without sharing state. Outgoing
 * frames wait in a FIFO until lws says the socket is writeable (lws rule:
 * write only from LWS_CALLBACK_CLIENT_WRITEABLE), one frame per callback.
 * Incoming fragments accumulate in `in` up to CONN_MAX_MESSAGE; a complete
 * message is a reply (kept in a short list until someone claims its id) or
 * an event (kept in a FIFO of at most CONN_MAX_EVENTS; beyond that they are
 * counted as dropped so that the caller resynchronises, never silently
 * skips). Every wait is one loop, conn_run(), bounded by a deadline (lws_sul)
 * and ended early by a predicate. lws 4.1.6 ignores lws_service()'s timeout,
 * so waiting for stdin as well uses a 50 ms tick timer and a poll() of the
 * descriptor after each service round. Buffers that held requests or
 * replies are wiped: they carry tokens and keys.
 *
 * Thread: everything here runs on the caller's (main) thread; lws calls
 * conn_callback() from inside lws_service() on that same thread.
 */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libwebsockets.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "conn.h"
#include "em_list.h"

/* How long conn_free() waits for the server to answer our close frame. */
#define CONN_CLOSE_WAIT_MS 2000
/* How often conn_next() looks at its file descriptor. */
#define CONN_FD_TICK_MS 50

/* An outgoing frame, LWS_PRE bytes of headroom before the text (raw mode's received ones: none). */
struct conn_frame {
	struct em_link link; /* on c->out or c->raw_in */
	size_t len;
	unsigned char buf[];
};

/* A received reply or event. */
struct conn_msg {
	struct em_link link; /* on c->replies or c->events */
	struct em_incoming in;
};

static inline struct conn_frame *conn_frame_of(struct em_link *l)
{
	return em_item(l, struct conn_frame, link);
}

static inline struct conn_msg *conn_msg_of(struct em_link *l)
{
	return em_item(l, struct conn_msg, link);
}

enum conn_state {
	CONN_ST_IDLE,
	CONN_ST_CONNECTING,
	CONN_ST_OPEN,
	CONN_ST_CLOSED, /* closed after we asked for it */
	CONN_ST_FAILED, /* err and errmsg say why */
};

struct conn {
	char *url;
	char *ca_file;
	char host[256];
	int port;
	int use_tls;

	struct lws_context *ctx;
	struct lws *wsi; /* NULL once lws has let go of it */
	enum conn_state state;
	int err; /* enum conn_err of the failure */
	char errmsg[512];
	char tls_verify_error[128]; /* from the certificate check, if it failed */
	int64_t opened_at_ms;

	lws_sorted_usec_list_t deadline;
	int timed_out;

	struct em_list out; /* outgoing conn_frame, oldest first */
	int want_close;
	lws_sorted_usec_list_t tick;

	/* Incoming message being reassembled from fragments. */
	char *in;
	size_t in_len;
	size_t in_cap;

	int64_t next_id;
	struct em_list replies; /* conn_msg not yet claimed, newest first */
	struct em_list events;  /* conn_msg, oldest first */
	size_t dropped;

	/* Close frame from the server, if one came. */
	int close_code;
	char close_reason[128];

	/* Raw mode (conn_send_text / conn_recv_text): frames kept as text, oldest first. */
	int raw;
	struct em_list raw_in; /* conn_frame */
};

static int64_t conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_fail(struct conn *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first failure; later ones are consequences and would only confuse. */
static void conn_fail(struct conn *c, int err, const char *fmt, ...)
{
	va_list ap;

	if (c->state == CONN_ST_FAILED)
		return;
	c->state = CONN_ST_FAILED;
	c->err = err;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
}

/* Copies printable ASCII only: close reasons and lws messages come from outside. */
static void conn_copy_printable(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	size_t j = 0;

	for (size_t i = 0; i < srclen && src[i] && j + 1 < dstlen; i++)
		dst[j++] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[j] = '\0';
}

static int conn_contains_nocase(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return 0;
}

/* Turns lws's view of a failed connection attempt into one clear sentence. */
static void conn_fail_connect(struct conn *c, struct lws *wsi, const char *why)
{
	char reason[200] = "";
	unsigned int status = wsi ? lws_http_client_http_response(wsi) : 0;

	if (why)
		conn_copy_printable(reason, sizeof(reason), why, strlen(why));
	if (c->tls_verify_error[0]) {
		conn_fail(c, CONN_ERR_TLS, "cannot verify the TLS certificate of %s: %s%s", c->host,
		          c->tls_verify_error,
		          c->ca_file ? " (is the --ca file the certificate this server uses?)"
		                     : " (for a server with a self-signed certificate, pass that "
		                       "certificate with --ca FILE)");
	} else if (status == 403) {
		conn_fail(c, CONN_ERR_HANDSHAKE,
		          "the server at %s:%d refused the WebSocket connection (HTTP 403 "
		          "Forbidden)",
		          c->host, c->port);
	} else if (status && status != 101) {
		conn_fail(c, CONN_ERR_HANDSHAKE,
		          "the server at %s:%d refused the WebSocket connection (HTTP %u); is "
		          "this an ementor server?",
		          c->host, c->port, status);
	} else if (conn_contains_nocase(reason, "HS:") || conn_contains_nocase(reason, "upgrade") ||
	           conn_contains_nocase(reason, "protocol")) {
		conn_fail(c, CONN_ERR_HANDSHAKE,
		          "the server at %s:%d refused the WebSocket handshake (%s); is this an "
		          "ementor server speaking %s?",
		          c->host, c->port, reason, EM_SUBPROTOCOL);
	} else if (conn_contains_nocase(reason, "tls") || conn_contains_nocase(reason, "ssl")) {
		conn_fail(c, CONN_ERR_TLS, "the TLS handshake with %s:%d failed (%s)%s", c->host,
		          c->port, reason,
		          c->use_tls ? "; does the server speak TLS on this port?" : "");
	} else {
		conn_fail(c, CONN_ERR_CONNECT,
		          "cannot connect to %s:%d (%s); is the server running, and is the "
		          "address right?",
		          c->host, c->port, reason[0] ? reason : "connection failed");
	}
}

static void conn_on_peer_close(struct conn *c, const unsigned char *p, size_t len)
{
	if (len < 2)
		return;
	c->close_code = (p[0] << 8) | p[1];
	conn_copy_printable(c->close_reason, sizeof(c->close_reason), (const char *)p + 2, len - 2);
}

static void conn_on_closed(struct conn *c)
{
	if (c->want_close) {
		if (c->state != CONN_ST_FAILED)
			c->state = CONN_ST_CLOSED;
		return;
	}
	if (c->state == CONN_ST_CONNECTING) {
		conn_fail(c, CONN_ERR_CONNECT,
		          "the connection to %s:%d failed before it was set up", c->host, c->port);
		return;
	}
	if (c->close_code && c->close_reason[0])
		conn_fail(c, CONN_ERR_CLOSED, "the server closed the connection (code %d: %s)",
		          c->close_code, c->close_reason);
	else if (c->close_code)
		conn_fail(c, CONN_ERR_CLOSED, "the server closed the connection (code %d)",
		          c->close_code);
	else
		conn_fail(c, CONN_ERR_CLOSED, "the server closed the connection");
}

static void conn_msg_free(struct conn_msg *m)
{
	if (m) {
		em_incoming_clear(&m->in);
		free(m);
	}
}

/* Keeps a reply; the oldest unclaimed one goes when there are too many. */
static void conn_keep_reply(struct conn *c, struct conn_msg *m)
{
	em_list_prepend(&c->replies, &m->link);
	if (c->replies.count > CONN_MAX_REPLIES) {
		struct conn_msg *oldest = conn_msg_of(c->replies.tail);

		em_list_remove(&c->replies, &oldest->link);
		conn_msg_free(oldest);
	}
}

static void conn_keep_event(struct conn *c, struct conn_msg *m)
{
	if (c->events.count >= CONN_MAX_EVENTS) {
		c->dropped++;
		conn_msg_free(m);
		return;
	}
	em_list_append(&c->events, &m->link);
}

/* Raw mode: keeps the frame's text for conn_recv_text(). Returns 0 or -1. */
static int conn_on_raw(struct conn *c)
{
	struct conn_frame *f;

	if (c->raw_in.count >= CONN_MAX_EVENTS) {
		conn_fail(c, CONN_ERR_PROTOCOL, "the server sent more than %d frames unread",
		          CONN_MAX_EVENTS);
		return -1;
	}
	f = malloc(sizeof(*f) + c->in_len + 1);
	if (!f) {
		conn_fail(c, CONN_ERR_NOMEM, "out of memory");
		return -1;
	}
	f->len = c->in_len;
	memcpy(f->buf, c->in, c->in_len);
	f->buf[c->in_len] = '\0';
	sodium_memzero(c->in, c->in_len);
	c->in_len = 0;
	em_list_append(&c->raw_in, &f->link);
	return 0;
}

/* Handles one complete incoming message. Returns 0, or -1 to drop the connection. */
static int conn_on_message(struct conn *c)
{
	struct conn_msg *m;
	int rc;

	if (c->raw)
		return conn_on_raw(c);
	m = calloc(1, sizeof(*m));
	if (!m) {
		conn_fail(c, CONN_ERR_NOMEM, "out of memory");
		return -1;
	}
	rc = em_incoming_parse(c->in, c->in_len, &m->in);
	sodium_memzero(c->in, c->in_len);
	c->in_len = 0;
	if (rc != EM_OK) {
		free(m);
		conn_fail(c, CONN_ERR_PROTOCOL,
		          "the server sent a frame that is not %s JSON (%s); is this an ementor "
		          "server of the same version?",
		          EM_SUBPROTOCOL, em_err_code(rc));
		return -1;
	}
	if (m->in.is_event)
		conn_keep_event(c, m);
	else
		conn_keep_reply(c, m);
	return 0;
}

static int conn_on_receive(struct conn *c, struct lws *wsi, const void *data, size_t len)
{
	if (lws_frame_is_binary(wsi)) {
		conn_fail(c, CONN_ERR_PROTOCOL, "the server sent a binary frame");
		lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, NULL, 0);
		return -1;
	}
	if (len > CONN_MAX_MESSAGE - c->in_len) {
		conn_fail(c, CONN_ERR_PROTOCOL, "the server sent a message larger than %d bytes",
		          CONN_MAX_MESSAGE);
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
		return -1;
	}
	if (c->in_len + len > c->in_cap) {
		size_t cap = c->in_cap ? c->in_cap : 4096;
		char *grown;

		while (cap < c->in_len + len)
			cap *= 2;
		if (cap > CONN_MAX_MESSAGE)
			cap = CONN_MAX_MESSAGE;
		grown = malloc(cap);
		if (!grown) {
			conn_fail(c, CONN_ERR_NOMEM, "out of memory");
			return -1;
		}
		if (c->in) {
			memcpy(grown, c->in, c->in_len);
			sodium_memzero(c->in, c->in_cap);
			free(c->in);
		}
		c->in = grown;
		c->in_cap = cap;
	}
	memcpy(c->in + c->in_len, data, len);
	c->in_len += len;
	if (!lws_is_final_fragment(wsi))
		return 0;
	return conn_on_message(c);
}

static void conn_frame_free(struct conn_frame *f)
{
	if (f) {
		sodium_memzero(f->buf, LWS_PRE + f->len);
		free(f);
	}
}

static int conn_on_writeable(struct conn *c, struct lws *wsi)
{
	struct em_link *l = em_list_pop(&c->out);
	struct conn_frame *f;
	int n;

	if (!l && c->want_close) {
		/* Frames queued before the close (a last receipt) went out first. */
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	if (!l)
		return 0;
	f = conn_frame_of(l);
	n = lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
	if (n < (int)f->len) {
		conn_frame_free(f);
		conn_fail(c, CONN_ERR_CLOSED, "sending to the server failed");
		return -1;
	}
	conn_frame_free(f);
	if (!em_list_empty(&c->out) || c->want_close)
		lws_callback_on_writable(wsi);
	return 0;
}

/* Thread: main, from inside lws_service(). */
static int conn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
	struct conn *c = lws_context_user(lws_get_context(wsi));

	if (!c)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
		/* user is the X509_STORE_CTX, len is preverify_ok; lws decides. */
		if (!len && user) {
			int e = X509_STORE_CTX_get_error((X509_STORE_CTX *)user);

			if (e != X509_V_OK && !c->tls_verify_error[0])
				snprintf(c->tls_verify_error, sizeof(c->tls_verify_error), "%s",
				         X509_verify_cert_error_string(e));
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		conn_fail_connect(c, wsi, in);
		c->wsi = NULL;
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->state = CONN_ST_OPEN;
		c->opened_at_ms = conn_now_ms();
		if (!em_list_empty(&c->out))
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return conn_on_receive(c, wsi, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return conn_on_writeable(c, wsi);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		conn_on_peer_close(c, in, len);
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		conn_on_closed(c);
		c->wsi = NULL;
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		if (wsi == c->wsi) {
			if (c->state == CONN_ST_CONNECTING || c->state == CONN_ST_OPEN)
				conn_on_closed(c);
			c->wsi = NULL;
		}
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols conn_protocols[] = {
    {.name = EM_SUBPROTOCOL, .callback = conn_callback},
    {.name = NULL, .callback = NULL},
};

static void conn_on_deadline(lws_sorted_usec_list_t *sul)
{
	struct conn *c = lws_container_of(sul, struct conn, deadline);

	c->timed_out = 1;
	/* Ripe timers run before lws_service() computes its poll wait, so without
	 * this the poll would sleep on until some other timer or I/O. */
	lws_cancel_service(c->ctx);
}

static void conn_on_tick(lws_sorted_usec_list_t *sul)
{
	struct conn *c = lws_container_of(sul, struct conn, tick);

	lws_cancel_service(c->ctx); /* only to end the poll wait: see conn_on_deadline() */
}

/*
 * Services lws until done(c, arg) is true, the deadline of timeout_ms passes,
 * or lws fails. With tick_ms > 0, each service round lasts at most that long,
 * so that done() also sees things lws does not watch (stdin).
 */
static void conn_run(struct conn *c, int timeout_ms, int tick_ms,
                     int (*done)(struct conn *c, void *arg), void *arg)
{
	c->timed_out = 0;
	lws_sul_schedule(c->ctx, 0, &c->deadline, conn_on_deadline,
	                 (lws_usec_t)timeout_ms * LWS_US_PER_MS);
	while (!c->timed_out && !done(c, arg)) {
		if (tick_ms > 0)
			lws_sul_schedule(c->ctx, 0, &c->tick, conn_on_tick,
			                 (lws_usec_t)tick_ms * LWS_US_PER_MS);
		if (lws_service(c->ctx, 0) < 0)
			break;
	}
	lws_sul_cancel(&c->tick);
	lws_sul_cancel(&c->deadline);
}

static int conn_done_connecting(struct conn *c, void *arg)
{
	return c->state != CONN_ST_CONNECTING;
}

static int conn_done_closing(struct conn *c, void *arg)
{
	return c->state != CONN_ST_OPEN;
}

/* The kept reply to request *(int64_t *)arg, unlinked; NULL if none yet. */
static struct conn_msg *conn_take_reply(struct conn *c, int64_t id)
{
	for (struct em_link *l = c->replies.head; l; l = l->next) {
		struct conn_msg *m = conn_msg_of(l);

		/* An error without an id answers a frame the server could not
		 * read; with one request waited for at a time, it is ours. */
		if (m->in.re == id || (m->in.re < 0 && !m->in.result)) {
			em_list_remove(&c->replies, l);
			return m;
		}
	}
	return NULL;
}

static int conn_done_reply(struct conn *c, void *arg)
{
	int64_t id = *(const int64_t *)arg;

	if (c->state != CONN_ST_OPEN)
		return 1;
	for (struct em_link *l = c->replies.head; l; l = l->next) {
		const struct conn_msg *m = conn_msg_of(l);

		if (m->in.re == id || (m->in.re < 0 && !m->in.result))
			return 1;
	}
	return 0;
}

/* Whether fd has input (or end of file, or an error) without blocking. */
static int conn_fd_ready(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL));
}

static int conn_done_next(struct conn *c, void *arg)
{
	int fd = *(const int *)arg;

	return !em_list_empty(&c->events) || c->state != CONN_ST_OPEN ||
	       (fd >= 0 && conn_fd_ready(fd));
}

struct conn *conn_new(const char *url, const char *ca_file)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->url = strdup(url);
	c->ca_file = ca_file ? strdup(ca_file) : NULL;
	if (!c->url || (ca_file && !c->ca_file)) {
		conn_free(c);
		return NULL;
	}
	lws_set_log_level(getenv("EMENTOR_DEBUG") ? LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO : 0,
	                  NULL);
	return c;
}

/* Splits the URL; fills host, port, use_tls and path (with its leading '/'). */
static int conn_parse_url(struct conn *c, char *path, size_t pathlen)
{
	char buf[1024];
	const char *prot = NULL, *ads = NULL, *p = NULL;
	int port = 0;

	if (strlen(c->url) >= sizeof(buf)) {
		conn_fail(c, CONN_ERR_URL, "the server URL is too long");
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", c->url);
	if (!strstr(buf, "://") || lws_parse_uri(buf, &prot, &ads, &port, &p) || !ads[0]) {
		conn_fail(c, CONN_ERR_URL,
		          "cannot use the server URL '%s': expected wss://HOST[:PORT][/PATH]",
		          c->url);
		return -1;
	}
	if (!strcasecmp(prot, "wss")) {
		c->use_tls = 1;
	} else if (!strcasecmp(prot, "ws")) {
		c->use_tls = 0;
	} else {
		conn_fail(c, CONN_ERR_URL, "cannot use the server URL '%s': it must start wss://",
		          c->url);
		return -1;
	}
	if (port <= 0 || port > 65535) {
		conn_fail(c, CONN_ERR_URL, "the server URL '%s' has a bad port", c->url);
		return -1;
	}
	snprintf(c->host, sizeof(c->host), "%s", ads);
	c->port = port;
	snprintf(path, pathlen, "/%s", p ? p : "");
	return 0;
}

int conn_connect(struct conn *c)
{
	struct lws_context_creation_info info;
	struct lws_client_connect_info cc;
	char path[1024];

	if (c->state != CONN_ST_IDLE)
		return c->state == CONN_ST_OPEN ? CONN_OK : c->err;
	if (conn_parse_url(c, path, sizeof(path)))
		return c->err;

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = conn_protocols;
	info.gid = -1;
	info.uid = -1;
	info.fd_limit_per_thread = 8;
	info.user = c;
	if (c->use_tls) {
		info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.client_ssl_ca_filepath = c->ca_file;
	}
	c->ctx = lws_create_context(&info);
	if (!c->ctx) {
		if (c->ca_file)
			conn_fail(c, CONN_ERR_TLS,
			          "cannot set up TLS with the certificates in %s (is it a PEM "
			          "file?)",
			          c->ca_file);
		else
			conn_fail(c, CONN_ERR_NOMEM, "cannot set up the network library");
		return c->err;
	}

	memset(&cc, 0, sizeof(cc));
	cc.context = c->ctx;
	cc.address = c->host;
	cc.port = c->port;
	cc.path = path;
	cc.host = c->host;
	cc.origin = NULL; /* native clients send no Origin (PROTOCOL.md section 1) */
	cc.protocol = EM_SUBPROTOCOL;
	cc.local_protocol_name = EM_SUBPROTOCOL;
	cc.ssl_connection = c->use_tls ? LCCSCF_USE_SSL : 0;
	cc.pwsi = &c->wsi;
	c->state = CONN_ST_CONNECTING;
	if (!lws_client_connect_via_info(&cc)) {
		/* The error callback may already have said why; if not, lws gave up
		 * before connecting, which in practice means the name did not resolve. */
		conn_fail(c, CONN_ERR_CONNECT, "cannot connect to %s:%d (is the host name right?)",
		          c->host, c->port);
		return c->err;
	}
	conn_run(c, CONN_TIMEOUT_MS, 0, conn_done_connecting, NULL);
	if (c->state == CONN_ST_OPEN)
		return CONN_OK;
	if (c->state == CONN_ST_CONNECTING)
		conn_fail(c, CONN_ERR_TIMEOUT, "no answer from %s:%d within %d s", c->host, c->port,
		          CONN_TIMEOUT_MS / 1000);
	return c->err ? c->err : CONN_ERR_CONNECT;
}

/* Queues a copy of text for the writeable callback. Returns CONN_OK or CONN_ERR_NOMEM. */
static int conn_queue(struct conn *c, const char *text, size_t len)
{
	struct conn_frame *f = malloc(sizeof(*f) + LWS_PRE + len);

	if (!f) {
		conn_fail(c, CONN_ERR_NOMEM, "out of memory");
		return c->err;
	}
	f->len = len;
	memcpy(f->buf + LWS_PRE, text, len);
	em_list_append(&c->out, &f->link);
	lws_callback_on_writable(c->wsi);
	return CONN_OK;
}

int conn_send(struct conn *c, enum em_op op, json_t *args, int64_t *id)
{
	char *text = NULL;
	size_t len;
	int rc;

	if (id)
		*id = -1;
	if (c->state != CONN_ST_OPEN || !c->wsi) {
		json_decref(args);
		if (c->state != CONN_ST_FAILED)
			conn_fail(c, CONN_ERR_CLOSED, "the connection to the server is closed");
		return c->err;
	}
	c->next_id++;
	text = em_encode_request(c->next_id, op, args); /* takes args */
	if (!text) {
		conn_fail(c, CONN_ERR_NOMEM, "out of memory");
		return c->err;
	}
	len = strlen(text);
	rc = conn_queue(c, text, len);
	sodium_memzero(text, len);
	free(text);
	if (rc == CONN_OK && id)
		*id = c->next_id;
	return rc;
}

void conn_set_raw(struct conn *c)
{
	c->raw = 1;
}

int conn_send_text(struct conn *c, const char *text, size_t len)
{
	if (c->state != CONN_ST_OPEN || !c->wsi) {
		if (c->state != CONN_ST_FAILED)
			conn_fail(c, CONN_ERR_CLOSED, "the connection to the server is closed");
		return c->err;
	}
	return conn_queue(c, text, len);
}

static int conn_done_raw(struct conn *c, void *arg)
{
	int fd = *(int *)arg;

	return !em_list_empty(&c->raw_in) || c->state != CONN_ST_OPEN ||
	       (fd >= 0 && conn_fd_ready(fd));
}

int conn_recv_text(struct conn *c, int fd, int timeout_ms, char **text, size_t *len)
{
	struct em_link *l;

	*text = NULL;
	*len = 0;
	if (em_list_empty(&c->raw_in) && c->state == CONN_ST_OPEN && timeout_ms > 0 &&
	    !conn_done_raw(c, &fd))
		conn_run(c, timeout_ms, fd >= 0 ? CONN_FD_TICK_MS : 0, conn_done_raw, &fd);
	else if (c->state == CONN_ST_OPEN && !em_list_empty(&c->out))
		conn_run(c, 0, 0, conn_done_raw, &fd); /* let queued frames go out */
	l = em_list_pop(&c->raw_in);
	if (l) {
		struct conn_frame *f = conn_frame_of(l);

		*len = f->len;
		*text = malloc(f->len + 1);
		if (*text)
			memcpy(*text, f->buf, f->len + 1);
		sodium_memzero(f->buf, f->len);
		free(f);
		return *text ? CONN_NEXT_EVENT : CONN_ERR_NOMEM;
	}
	if (fd >= 0 && conn_fd_ready(fd))
		return CONN_NEXT_FD;
	if (c->state != CONN_ST_OPEN) {
		if (c->state != CONN_ST_FAILED)
			conn_fail(c, CONN_ERR_CLOSED, "the connection to the server is closed");
		return c->err ? c->err : CONN_ERR_CLOSED;
	}
	return CONN_NEXT_IDLE;
}

int conn_wait_reply(struct conn *c, int64_t id, int timeout_ms, struct em_incoming *reply)
{
	struct conn_msg *m;

	memset(reply, 0, sizeof(*reply));
	reply->re = -1;
	if (c->state == CONN_ST_OPEN && !conn_done_reply(c, &id))
		conn_run(c, timeout_ms, 0, conn_done_reply, &id);
	m = conn_take_reply(c, id);
	if (m) {
		*reply = m->in;
		free(m);
		return CONN_OK;
	}
	if (c->state == CONN_ST_OPEN)
		conn_fail(c, CONN_ERR_TIMEOUT, "the server did not answer within %d s",
		          timeout_ms / 1000);
	else if (c->state != CONN_ST_FAILED)
		conn_fail(c, CONN_ERR_CLOSED, "the connection to the server is closed");
	return c->err ? c->err : CONN_ERR_CLOSED;
}

int conn_call(struct conn *c, enum em_op op, json_t *args, struct em_incoming *reply)
{
	int64_t id;
	int rc = conn_send(c, op, args, &id);

	if (rc != CONN_OK) {
		memset(reply, 0, sizeof(*reply));
		reply->re = -1;
		return rc;
	}
	rc = conn_wait_reply(c, id, CONN_TIMEOUT_MS, reply);
	if (rc == CONN_ERR_TIMEOUT)
		snprintf(c->errmsg, sizeof(c->errmsg),
		         "the server did not answer the %s request within %d s", em_op_name(op),
		         CONN_TIMEOUT_MS / 1000);
	return rc;
}

int conn_next(struct conn *c, int fd, int timeout_ms, struct em_incoming *ev)
{
	struct em_link *l;

	memset(ev, 0, sizeof(*ev));
	ev->re = -1;
	if (em_list_empty(&c->events) && c->state == CONN_ST_OPEN && timeout_ms > 0 &&
	    !conn_done_next(c, &fd))
		conn_run(c, timeout_ms, fd >= 0 ? CONN_FD_TICK_MS : 0, conn_done_next, &fd);
	l = em_list_pop(&c->events);
	if (l) {
		struct conn_msg *m = conn_msg_of(l);

		*ev = m->in;
		free(m);
		return CONN_NEXT_EVENT;
	}
	if (fd >= 0 && conn_fd_ready(fd))
		return CONN_NEXT_FD;
	if (c->state != CONN_ST_OPEN) {
		if (c->state != CONN_ST_FAILED)
			conn_fail(c, CONN_ERR_CLOSED, "the connection to the server is closed");
		return c->err ? c->err : CONN_ERR_CLOSED;
	}
	return CONN_NEXT_IDLE;
}

size_t conn_events_dropped(struct conn *c)
{
	size_t n = c->dropped;

	c->dropped = 0;
	return n;
}

int64_t conn_age_ms(const struct conn *c)
{
	return c->state == CONN_ST_OPEN ? conn_now_ms() - c->opened_at_ms : 0;
}

int conn_is_open(const struct conn *c)
{
	return c->state == CONN_ST_OPEN && c->wsi;
}

const char *conn_strerror(const struct conn *c)
{
	return c->errmsg[0] ? c->errmsg : "no error";
}

int conn_close_code(const struct conn *c)
{
	return c ? c->close_code : 0;
}

static void conn_raw_free(struct conn *c)
{
	struct em_link *l;

	while ((l = em_list_pop(&c->raw_in))) {
		struct conn_frame *f = conn_frame_of(l);

		sodium_memzero(f->buf, f->len);
		free(f);
	}
}

void conn_free(struct conn *c)
{
	struct em_link *l;

	if (!c)
		return;
	if (c->ctx && c->state == CONN_ST_OPEN && c->wsi) {
		c->want_close = 1;
		lws_callback_on_writable(c->wsi);
		conn_run(c, CONN_CLOSE_WAIT_MS, 0, conn_done_closing, NULL);
	}
	if (c->ctx)
		lws_context_destroy(c->ctx);
	while ((l = em_list_pop(&c->out)))
		conn_frame_free(conn_frame_of(l));
	if (c->in) {
		sodium_memzero(c->in, c->in_cap);
		free(c->in);
	}
	while ((l = em_list_pop(&c->replies)))
		conn_msg_free(conn_msg_of(l));
	conn_raw_free(c);
	while ((l = em_list_pop(&c->events)))
		conn_msg_free(conn_msg_of(l));
	free(c->url);
	free(c->ca_file);
	free(c);
}
