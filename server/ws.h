/*
 * ws.h - the lws protocols table: "http" (GET /healthz, everything else 404)
 * and "ementor.v1" (the WebSocket protocol). All callbacks run on the one lws
 * service thread.
 */
#ifndef EMENTORD_WS_H
#define EMENTORD_WS_H

#include <libwebsockets.h>

extern const struct lws_protocols ws_protocols[];

/* Per-connection data of the "http" protocol (http.c). */
struct http_pss {
	char body[256];
	size_t len;
	/* a calendar feed: waiting for its DB job, then the document in pieces */
	int waiting, has_reply;
	uint32_t slot, gen;
	unsigned status;
	const char *ctype; /* of doc */
	char *doc;
	size_t doc_len, doc_off;
	int headers_sent;
};

int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len);

#endif
