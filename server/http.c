/*
 * http.c - the plain HTTP side of the TLS port: GET /healthz for load
 * balancers and monitoring, 404 for anything else, and the TLS context
 * hardening that lws asks protocols[0] to do. Service thread only; the
 * database state comes from an atomic flag the workers keep, so a health
 * check never waits on PostgreSQL.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/ssl.h>

#include "db.h"
#include "em_proto.h"
#include "log.h"
#include "ws.h"

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
		int up = db_is_up();
		unsigned status = up ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE;

		if (!in || strcmp((const char *)in, "/healthz")) {
			if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
				return -1;
			return lws_http_transaction_completed(wsi) ? -1 : 0;
		}
		pss->len = (size_t)snprintf(pss->body, sizeof(pss->body),
		                            "{\"status\":\"%s\",\"database\":\"%s\","
		                            "\"version\":\"%s\"}\n",
		                            up ? "ok" : "degraded", up ? "up" : "down", EM_VERSION);
		if (lws_add_http_common_headers(wsi, status, "application/json", pss->len, &p,
		                                end) ||
		    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
		                                 (const unsigned char *)"no-store", 8, &p, end) ||
		    lws_finalize_write_http_header(wsi, start, &p, end))
			return 1;
		lws_callback_on_writable(wsi);
		return 0;
	}
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!pss || !pss->len)
			break;
		memcpy(start, pss->body, pss->len);
		if (lws_write(wsi, start, pss->len, LWS_WRITE_HTTP_FINAL) != (int)pss->len)
			return 1;
		pss->len = 0;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}
