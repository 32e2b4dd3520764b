/*
 * ws.c - the ementor.v1 WebSocket protocol callback: Origin allowlist,
 * session registration, message reassembly with the 64 KiB limit, request
 * parsing and dispatch, writing queued output, the auth deadline, and the
 * return path for finished DB jobs. Service thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "catchup.h"
#include "cluster.h"
#include "dispatch.h"
#include "em_proto.h"
#include "fanout.h"
#include "http_path.h"
#include "log.h"
#include "remote.h"
#include "metrics.h"
#include "server.h"
#include "session.h"
#include "submit.h"
#include "http.h"
#include "ws.h"

static lws_sorted_usec_list_t tick_sul; /* once a second: auth deadlines */

/*
 * A connection not logged in by its deadline is closed, unless it sent a
 * `login` or `resume` in time: it then gets one more auth timeout, no more,
 * so that the server's slowness is not charged to a client that sent its
 * login in time (in a reconnect storm thousands of `resume`s wait for the DB
 * workers: bench/RESULTS.md, the storm).
 */
static void tick_session(struct session *s, void *arg)
{
	int64_t now = *(int64_t *)arg;
	int64_t grace = s->auth_sent ? server.cfg.auth_timeout_s * 1000LL : 0;

	if (!s->authenticated && !s->close_code && now > s->auth_deadline_ms + grace) {
		log_info("ws closed unauthenticated connection addr=%s", s->addr);
		session_close(s, EM_CLOSE_AUTH_TIMEOUT, "auth_timeout");
	}
}

static void tick(lws_sorted_usec_list_t *sul)
{
	int64_t now = server_now_ms();

	session_foreach(tick_session, &now);
	session_mem_tick();
	lws_sul_schedule(server.context, 0, sul, tick, LWS_US_PER_SEC);
}

/* Whether origin is https:// + the request's Host (or :authority) header. */
static int host_matches(struct lws *wsi, enum lws_token_indexes token, const char *origin)
{
	char host[256];
	int n = lws_hdr_total_length(wsi, token);

	if (n <= 0 || n >= (int)sizeof(host) || lws_hdr_copy(wsi, host, sizeof(host), token) < 0)
		return 0;
	return http_path_same_origin(origin, host);
}

static int origin_allowed(struct lws *wsi)
{
	char origin[256];
	int n = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);

	if (n <= 0)
		return 1; /* native clients send no Origin */
	if (n >= (int)sizeof(origin) ||
	    lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) < 0)
		return 0;
	for (int i = 0; i < server.cfg.n_origins; i++)
		if (!strcmp(origin, server.cfg.origins[i]))
			return 1;
	/* the web app this server serves itself: its page's Origin is https:// + Host */
	if (host_matches(wsi, WSI_TOKEN_HOST, origin) ||
	    host_matches(wsi, WSI_TOKEN_HTTP_COLON_AUTHORITY, origin))
		return 1;
	log_info("ws refused origin=\"%.100s\"", origin);
	return 0;
}

static void handle_message(struct session *s, const char *buf, size_t len)
{
	struct em_request req;
	struct em_error_detail detail;
	size_t before = session_json_allocated();
	int rc = em_request_parse(buf, len, &req, &detail);

	metrics_add(M_FRAMES_IN, 1);
	metrics_add(M_BYTES_IN, len);
	if (rc) {
		metrics_error(rc);
		session_send(s, em_encode_error(req.id, rc, detail.message, 0));
		return;
	}
	/* what jansson allocated for it: the parsed size, an upper bound of what is kept */
	dispatch_request(s, &req, session_json_allocated() - before);
}

static int on_receive(struct session *s, const char *in, size_t len)
{
	int final = lws_is_final_fragment(s->wsi);
	char *grown;

	if (lws_frame_is_binary(s->wsi)) {
		lws_close_reason(s->wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
		                 (unsigned char *)"binary frames are not accepted", 30);
		return -1;
	}
	if (s->close_code)
		return 0; /* closing: ignore further input */
	if (s->rx_len + len > EM_MAX_FRAME) {
		lws_close_reason(s->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
		                 (unsigned char *)"frame_too_large", 15);
		return -1;
	}
	if (final && !s->rx_len) {
		handle_message(s, in, len); /* the common case: no copy */
		return 0;
	}
	if (session_mem_charge(s, len)) {
		session_close_overloaded(s);
		return 0;
	}
	grown = realloc(s->rx_buf, s->rx_len + len + 1);
	if (!grown) {
		session_mem_release(s, len);
		return -1;
	}
	s->rx_buf = grown;
	memcpy(s->rx_buf + s->rx_len, in, len);
	s->rx_len += len;
	if (final) {
		handle_message(s, s->rx_buf, s->rx_len);
		/* fragmented messages are rare: give the buffer back */
		session_mem_release(s, s->rx_len);
		free(s->rx_buf);
		s->rx_buf = NULL;
		s->rx_len = 0;
	}
	return 0;
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
	struct session *s = user;

	switch (reason) {
	case LWS_CALLBACK_PROTOCOL_INIT:
		lws_sul_schedule(server.context, 0, &tick_sul, tick, LWS_US_PER_SEC);
		break;
	case LWS_CALLBACK_PROTOCOL_DESTROY:
		lws_sul_schedule(server.context, 0, &tick_sul, NULL, LWS_SET_TIMER_USEC_CANCEL);
		break;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (server.draining)
			return -1; /* restarting: connect to another node or again shortly */
		if (session_preauth_bytes() >=
		    (size_t)server.cfg.preauth_memory_mib * 1024 * 1024) {
			session_note_overloaded("refused a handshake", NULL);
			return -1;
		}
		return origin_allowed(wsi) ? 0 : -1;
	case LWS_CALLBACK_ESTABLISHED:
		s->wsi = wsi;
		if (session_register(s))
			return -1;
		metrics_add(M_CONNECTIONS_OPENED, 1);
		lws_get_peer_simple(wsi, s->addr, sizeof(s->addr));
		s->auth_deadline_ms = server_now_ms() + server.cfg.auth_timeout_s * 1000LL;
		log_debug("ws connected addr=%s slot=%u", s->addr, s->slot);
		break;
	case LWS_CALLBACK_RECEIVE:
		return on_receive(s, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (session_write_one(s))
			return -1;
		if (s->parked && s->out_bytes < (size_t)server.cfg.out_queue_kib * 1024 / 4)
			submit_unpark(s);
		return 0;
	case LWS_CALLBACK_CLOSED:
		log_debug("ws closed addr=%s user=%s", s->addr, s->username);
		metrics_add(M_CONNECTIONS_CLOSED, 1);
		fanout_forget(s);
		session_unregister(s);
		session_free_buffers(s);
		db_job_free(s->parked);
		s->parked = NULL;
		dispatch_free_held(s);
		if (s->mem)
			log_error("ws memory account off by %zu bytes at close", s->mem);
		session_mem_release(s, s->mem);
		break;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		dispatch_completions();
		if (cluster_drain(remote_handle))
			catchup_sweep(); /* announcements may have been missed meanwhile */
		break;
	default:
		break;
	}
	return 0;
}

/*
 * lws's per-connection receive buffer, allocated at the upgrade and held until
 * the close: a frame larger than this arrives in pieces that on_receive()
 * joins (up to EM_MAX_FRAME). A `send` is about 1 KiB for up to 487 bytes of
 * text and just under 2 KiB for up to 1,255 (the ciphertext grows in 256-byte
 * steps, then base64), so the common frames still go through without a copy.
 * Each KiB here is a KiB per idle connection (bench/RESULTS.md B1: 16 KiB,
 * then 4 KiB, now 2 KiB).
 */
#define WS_RX_BUFFER 2048

/*
 * The most lws hands to one SSL_write. Unset, it is the receive buffer's size
 * (2 KiB): a larger frame, or frames joined into one write (session.c, up to
 * 16 KiB), would go out 2 KiB per trip round the service loop, the rest
 * copied and held by lws meanwhile. Nothing is allocated for it per connection.
 */
#define WS_TX_PACKET (64 * 1024)

const struct lws_protocols ws_protocols[] = {
    {"http", http_callback, sizeof(struct http_pss), 0, 0, NULL, 0},
    {EM_SUBPROTOCOL, ws_callback, sizeof(struct session), WS_RX_BUFFER, 0, NULL, WS_TX_PACKET},
    {NULL, NULL, 0, 0, 0, NULL, 0}};
