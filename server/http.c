/*
 * http.c - the plain HTTP side of the TLS port: GET /healthz for load
 * balancers and monitoring, GET /metrics (Prometheus, loopback clients only
 * unless --metrics any), GET /calendar/TOKEN.ics (a user's secret iCalendar
 * feed), GET and POST /unsubscribe/TOKEN (RFC 8058 one-click: a GET only shows
 * a button that POSTs), 404 for anything else, and the TLS context hardening that lws asks
 * protocols[0] to do; and the web app (webapp.c): GET / (index.html) and
 * GET /app/NAME from memory, under a strict Content-Security-Policy. Service
 * thread only. /healthz and /metrics read atomics
 * the other threads keep, so they never wait on PostgreSQL; a feed
 * request becomes a DB job, and the connection waits, found again by slot +
 * generation in a small table, like WebSocket sessions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/ssl.h>

#include "addr.h"
#include "db.h"
#include "em_proto.h"
#include "handlers.h"
#include "http.h"
#include "http_path.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "session.h"
#include "webapp.h"

#define FEED_PENDING_MAX  64 /* feed requests waiting on the database at once */
#define FEED_PER_ADDR_MAX 8  /* of which from one address (addr.h): 429 beyond */
#define FEED_CHUNK        4096
#define STATIC_CHUNK      4096 /* as FEED_CHUNK: one write an HTTP/2 stream always takes */

/*
 * The policy of every web app file: scripts, styles, images and connections
 * from this origin only (WebSocket to the same host included: connect-src
 * 'self' covers wss:// to it in current browsers), no inline script or style,
 * no eval; WebAssembly compilation is what 'wasm-unsafe-eval' allows (not
 * JavaScript eval). No frames, no forms, no <base>.
 */
#define WEB_CSP                                                                                    \
	"default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; "           \
	"style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "                  \
	"frame-ancestors 'none'"

/*
 * The unsubscribe page's: nothing at all may load, and its one form may post
 * only to this server (the page is the RFC 8058 button; it carries the token
 * in its URL, so no referrer either).
 */
#define UNSUB_CSP      "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
#define UNSUB_BODY_MAX 1024 /* "List-Unsubscribe=One-Click" and then some */

#define HTTP_STATUS_TOO_MANY 429 /* not in lws 4.1.6's enum */

static struct {
	struct lws *wsi;
	uint32_t gen;
	char addr[ADDR_KEY_MAX]; /* whose request, as the per-address limit counts */
} pending[FEED_PENDING_MAX];
static uint32_t pending_gen;

/*
 * A short plain-text answer: headers now, the body when writable (the
 * HTTP_WRITEABLE case sends pss->body and ends the transaction cleanly, on
 * HTTP/1.1 and HTTP/2 alike).
 */
static int simple_status(struct lws *wsi, unsigned status)
{
	struct http_pss *pss = lws_wsi_user(wsi);
	unsigned char buf[LWS_PRE + 256], *start = buf + LWS_PRE, *p = start,
	                                  *end = buf + sizeof(buf) - 1;
	const char *text = status == HTTP_STATUS_NOT_FOUND             ? "not found\n"
	                   : status == HTTP_STATUS_OK                  ? "ok\n"
	                   : status == HTTP_STATUS_SERVICE_UNAVAILABLE ? "unavailable; try again\n"
	                   : status == HTTP_STATUS_TOO_MANY ? "too many requests; retry shortly\n"
	                                                    : "error\n";

	pss->has_reply = 0;
	pss->file = NULL;
	pss->len = (size_t)snprintf(pss->body, sizeof(pss->body), "%s", text);
	if (lws_add_http_common_headers(wsi, status, "text/plain", pss->len, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
	                                 (const unsigned char *)"no-store", 8, &p, end) ||
	    (status == HTTP_STATUS_TOO_MANY &&
	     lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_RETRY_AFTER,
	                                  (const unsigned char *)"1", 1, &p, end)) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	lws_callback_on_writable(wsi);
	return 0;
}

/* Loopback peers only, unless --metrics any. */
static int metrics_allowed(struct lws *wsi)
{
	char peer[64] = "";

	if (!strcmp(server.cfg.metrics, "any"))
		return 1;
	if (strcmp(server.cfg.metrics, "local"))
		return 0;
	lws_get_peer_simple(wsi, peer, sizeof(peer));
	return !strcmp(peer, "127.0.0.1") || !strcmp(peer, "::1") ||
	       !strcmp(peer, "::ffff:127.0.0.1");
}

static void count_authenticated(struct session *s, void *arg)
{
	if (s->authenticated)
		(*(int *)arg)++;
}

/* GET /metrics: rendered at once (it only reads counters and gauges), sent in pieces. */
static int metrics_start(struct lws *wsi, struct http_pss *pss)
{
	struct metrics_gauges g = {
	    .connections = session_count(),
	    .conn_bytes = session_all_bytes(),
	    .preauth_bytes = session_preauth_bytes(),
	    .db_queue_depth = db_queue_depth(),
	    .db_up = db_is_up(),
	};

	if (!metrics_allowed(wsi))
		return simple_status(wsi, HTTP_STATUS_NOT_FOUND);
	session_foreach(count_authenticated, &g.authenticated);
	pss->doc = metrics_render(&g);
	if (!pss->doc)
		return simple_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE);
	pss->doc_len = strlen(pss->doc);
	pss->status = HTTP_STATUS_OK;
	pss->ctype = "text/plain; version=0.0.4; charset=utf-8";
	pss->has_reply = 1;
	lws_callback_on_writable(wsi);
	return 0;
}

static void http_job_done(struct db_job *job);

/*
 * Starts a feed request: a DB job; the answer comes in http_job_done. An
 * address already waiting on FEED_PER_ADDR_MAX feeds gets 429 (Retry-After:
 * 1), so one client cannot take all FEED_PENDING_MAX slots from the others.
 */
static int feed_start(struct lws *wsi, struct http_pss *pss, const char *token,
                      int (*run)(struct db_conn *c, struct db_job *job), int post)
{
	char peer[64] = "", addr[ADDR_KEY_MAX];
	struct db_job *job;
	int i, free_slot = -1, same = 0;

	lws_get_peer_simple(wsi, peer, sizeof(peer));
	addr_key(peer, addr, sizeof(addr));
	for (i = 0; i < FEED_PENDING_MAX; i++) {
		if (!pending[i].wsi) {
			if (free_slot < 0)
				free_slot = i;
		} else if (!strcmp(pending[i].addr, addr)) {
			same++;
		}
	}
	if (same >= FEED_PER_ADDR_MAX) {
		metrics_add(M_HTTP_FEEDS_LIMITED, 1);
		return simple_status(wsi, HTTP_STATUS_TOO_MANY);
	}
	i = free_slot;
	if (i < 0 || !db_is_up() || !(job = db_job_new()))
		return simple_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE);
	/* no session: the answer goes to the waiting connection, found by index + gen */
	job->slot = UINT32_MAX;
	job->no_reply = 1;
	job->op = EM_OP_CALENDAR_EXPORT;
	job->run = run;
	job->finished = http_job_done;
	job->args = json_pack("{sssisIsi}", "token", token, "pending", i, "pending_gen",
	                      (json_int_t)++pending_gen, "post", post);
	if (!job->args || db_submit(job)) {
		db_job_free(job);
		return simple_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE);
	}
	pending[i].wsi = wsi;
	pending[i].gen = pending_gen;
	snprintf(pending[i].addr, sizeof(pending[i].addr), "%s", addr);
	pss->waiting = 1;
	pss->slot = (uint32_t)i;
	pss->gen = pending_gen;
	return 0;
}

/* Service thread (the job's `finished`): the feed's answer to its connection. */
static void http_job_done(struct db_job *job)
{
	int64_t i = job_int(job, "pending", -1);
	struct http_pss *pss;
	struct lws *wsi;

	if (i < 0 || i >= FEED_PENDING_MAX ||
	    pending[i].gen != (uint32_t)job_int(job, "pending_gen", 0) || !(wsi = pending[i].wsi))
		return; /* the client went away */
	pending[i].wsi = NULL;
	pss = lws_wsi_user(wsi);
	pss->waiting = 0;
	pss->has_reply = 1;
	if (job->err == EM_OK && json_is_string(job->extra)) {
		pss->status = HTTP_STATUS_OK;
		pss->ctype = job->run == calendar_feed_run ? "text/calendar; charset=utf-8"
		             : job_int(job, "post", 1)     ? "text/plain; charset=utf-8"
		                                           : "text/html; charset=utf-8";
		pss->doc = strdup(json_string_value(job->extra));
		pss->doc_len = pss->doc ? strlen(pss->doc) : 0;
		if (!pss->doc)
			pss->status = HTTP_STATUS_INTERNAL_SERVER_ERROR;
	} else {
		pss->status = job->err == EM_ERR_NOT_FOUND ? HTTP_STATUS_NOT_FOUND
		                                           : HTTP_STATUS_SERVICE_UNAVAILABLE;
	}
	lws_callback_on_writable(wsi);
}

/* Writes the feed's answer: headers, then the document in chunks. */
static int feed_write(struct lws *wsi, struct http_pss *pss)
{
	unsigned char buf[LWS_PRE + FEED_CHUNK], *start = buf + LWS_PRE, *p = start,
	                                         *end = buf + sizeof(buf) - 1;
	size_t n;

	if (!pss->headers_sent) {
		pss->headers_sent = 1;
		if (pss->status != HTTP_STATUS_OK)
			return simple_status(wsi, pss->status);
		if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, pss->ctype, pss->doc_len, &p,
		                                end) ||
		    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
		                                 (const unsigned char *)"no-store", 8, &p, end) ||
		    (!strncmp(pss->ctype, "text/html", 9) &&
		     (lws_add_http_header_by_name(
		          wsi, (const unsigned char *)"content-security-policy:",
		          (const unsigned char *)UNSUB_CSP, (int)strlen(UNSUB_CSP), &p, end) ||
		      lws_add_http_header_by_name(wsi,
		                                  (const unsigned char *)"x-content-type-options:",
		                                  (const unsigned char *)"nosniff", 7, &p, end) ||
		      lws_add_http_header_by_name(wsi, (const unsigned char *)"referrer-policy:",
		                                  (const unsigned char *)"no-referrer", 11, &p,
		                                  end))) ||
		    lws_finalize_write_http_header(wsi, start, &p, end))
			return -1;
		lws_callback_on_writable(wsi);
		return 0;
	}
	n = pss->doc_len - pss->doc_off;
	if (n > FEED_CHUNK)
		n = FEED_CHUNK;
	memcpy(start, pss->doc + pss->doc_off, n);
	pss->doc_off += n;
	if (lws_write(wsi, start, n,
	              pss->doc_off == pss->doc_len ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) !=
	    (int)n)
		return -1;
	if (pss->doc_off < pss->doc_len) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	free(pss->doc);
	pss->doc = NULL;
	pss->has_reply = 0;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Whether the request is a POST (HTTP/1.1's request line, or HTTP/2's :method). */
static int http_is_post(struct lws *wsi)
{
	char *uri = NULL, method[8] = "";
	int len = 0;

	/* HTTP/2 first: lws files its :path under the GET token whatever the method */
	if (lws_hdr_copy(wsi, method, sizeof(method), WSI_TOKEN_HTTP_COLON_METHOD) > 0)
		return !strcmp(method, "POST");
	return lws_http_get_uri_and_method(wsi, &uri, &len) == LWSHUMETH_POST;
}

/* Adds one header by name (lower case: HTTP/2 needs it); non-zero when it does not fit. */
static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                      unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
	                                   (const unsigned char *)value, (int)strlen(value), p,
	                                   end);
}

/*
 * GET / or /app/NAME: the file's headers now (304 when If-None-Match names
 * its ETag), the body from memory when writable (static_write). Nothing is
 * read from disk: a name not loaded at start-up is 404.
 */
static int static_start(struct lws *wsi, struct http_pss *pss, const struct webapp_file *f)
{
	unsigned char buf[LWS_PRE + 2048], *start = buf + LWS_PRE, *p = start,
	                                   *end = buf + sizeof(buf) - 1;
	char inm[64] = "";
	int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_IF_NONE_MATCH);

	if (!f)
		return simple_status(wsi, HTTP_STATUS_NOT_FOUND);
	memset(pss, 0, sizeof(*pss));
	if (n > 0 && n < (int)sizeof(inm))
		lws_hdr_copy(wsi, inm, sizeof(inm), WSI_TOKEN_HTTP_IF_NONE_MATCH);
	pss->file = f;
	pss->not_modified = inm[0] && !strcmp(inm, f->etag);
	if (lws_add_http_common_headers(
	        wsi, pss->not_modified ? HTTP_STATUS_NOT_MODIFIED : HTTP_STATUS_OK, f->ctype,
	        pss->not_modified ? 0 : f->len, &p, end) ||
	    add_header(wsi, "content-security-policy:", WEB_CSP, &p, end) ||
	    add_header(wsi, "x-content-type-options:", "nosniff", &p, end) ||
	    add_header(wsi, "referrer-policy:", "no-referrer", &p, end) ||
	    add_header(wsi, "cross-origin-opener-policy:", "same-origin", &p, end) ||
	    add_header(wsi, "cross-origin-resource-policy:", "same-origin", &p, end) ||
	    add_header(wsi, "x-frame-options:", "DENY", &p, end) ||
	    /* revalidated on every use: a new server version is picked up at once */
	    add_header(wsi, "cache-control:", "no-cache", &p, end) ||
	    add_header(wsi, "etag:", f->etag, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	lws_callback_on_writable(wsi);
	return 0;
}

/* The body of a web app file, up to STATIC_CHUNK bytes per writable callback. */
static int static_write(struct lws *wsi, struct http_pss *pss)
{
	unsigned char buf[LWS_PRE + STATIC_CHUNK], *start = buf + LWS_PRE;
	const struct webapp_file *f = pss->file;
	size_t n = pss->not_modified ? 0 : f->len - pss->file_off;
	lws_fileofs_t allowed = lws_get_peer_write_allowance(wsi);
	int final;

	if (n > STATIC_CHUNK)
		n = STATIC_CHUNK;
	if (allowed >= 0 && (lws_fileofs_t)n > allowed)
		n = (size_t)allowed; /* HTTP/2 flow control: the peer takes no more now */
	memcpy(start, f->data + pss->file_off, n);
	pss->file_off += n;
	final = pss->not_modified || pss->file_off == f->len;
	if (lws_write(wsi, start, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
		return -1;
	if (!final) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	pss->file = NULL;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
	struct http_pss *pss = user;
	unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start,
	                                  *end = buf + sizeof(buf) - 1;

	switch (reason) {
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS: {
		SSL_CTX *ctx = user;

		/* ~30 KiB less per idle connection; no TLS below 1.2 */
		SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
		SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
		return 0;
	}
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* a WebSocket upgrade without our subprotocol lands here: refuse it */
		log_info("ws refused handshake without subprotocol " EM_SUBPROTOCOL);
		return -1;
	case LWS_CALLBACK_HTTP: {
		int up = db_is_up() && !server.draining;
		unsigned status = up ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE;

		char token[HTTP_PATH_ARG_MAX + 1];
		enum http_route route = http_path_route((const char *)in, token);

		metrics_add(M_HTTP_REQUESTS, 1);
		/* the path only where it can hold no secret (a feed's token is one) */
		log_debug("http request path=%.100s",
		          route == HTTP_ROUTE_INDEX || route == HTTP_ROUTE_APP ||
		                  route == HTTP_ROUTE_HEALTHZ || route == HTTP_ROUTE_METRICS
		              ? (const char *)in
		              : "(not logged)");
		if (route == HTTP_ROUTE_INDEX)
			return static_start(wsi, pss, webapp_index());
		if (route == HTTP_ROUTE_APP)
			return static_start(wsi, pss, webapp_app(token));
		if (route == HTTP_ROUTE_METRICS) {
			memset(pss, 0, sizeof(*pss));
			return metrics_start(wsi, pss);
		}
		if (route == HTTP_ROUTE_FEED) {
			memset(pss, 0, sizeof(*pss));
			return feed_start(wsi, pss, token, calendar_feed_run, 0);
		}
		if (route == HTTP_ROUTE_UNSUBSCRIBE) {
			memset(pss, 0, sizeof(*pss));
			if (!http_is_post(wsi))
				return feed_start(wsi, pss, token, mail_unsubscribe_run, 0);
			/* RFC 8058: the POST unsubscribes, once its body has arrived */
			snprintf(pss->unsub_token, sizeof(pss->unsub_token), "%s", token);
			if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
				return feed_start(wsi, pss, pss->unsub_token, mail_unsubscribe_run,
				                  1);
			pss->unsub_post = 1;
			return 0;
		}
		if (route != HTTP_ROUTE_HEALTHZ)
			return simple_status(wsi, HTTP_STATUS_NOT_FOUND);
		pss->len = (size_t)snprintf(pss->body, sizeof(pss->body),
		                            "{\"status\":\"%s\",\"database\":\"%s\","
		                            "\"version\":\"%s\"}\n",
		                            server.draining ? "draining"
		                            : up            ? "ok"
		                                            : "degraded",
		                            db_is_up() ? "up" : "down", EM_VERSION);
		if (lws_add_http_common_headers(wsi, status, "application/json", pss->len, &p,
		                                end) ||
		    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
		                                 (const unsigned char *)"no-store", 8, &p, end) ||
		    lws_finalize_write_http_header(wsi, start, &p, end))
			return 1;
		lws_callback_on_writable(wsi);
		return 0;
	}
	case LWS_CALLBACK_HTTP_BODY:
		if (!pss || !pss->unsub_post)
			break;
		pss->body_seen += len; /* the form's one field: its value is not needed */
		return pss->body_seen > UNSUB_BODY_MAX ? -1 : 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!pss || !pss->unsub_post)
			break;
		pss->unsub_post = 0;
		return feed_start(wsi, pss, pss->unsub_token, mail_unsubscribe_run, 1);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (pss && pss->file)
			return static_write(wsi, pss);
		if (pss && pss->has_reply)
			return feed_write(wsi, pss);
		if (!pss || !pss->len)
			break;
		memcpy(start, pss->body, pss->len);
		if (lws_write(wsi, start, pss->len, LWS_WRITE_HTTP_FINAL) != (int)pss->len)
			return 1;
		pss->len = 0;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_CLOSED_HTTP:
		if (pss && pss->waiting && pss->slot < FEED_PENDING_MAX &&
		    pending[pss->slot].gen == pss->gen)
			pending[pss->slot].wsi = NULL;
		if (pss) {
			free(pss->doc);
			pss->doc = NULL;
			pss->file = NULL;
			pss->waiting = pss->has_reply = 0;
		}
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}
