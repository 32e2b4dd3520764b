/*
 * http.h - the "http" protocol of the lws protocols table (ws.c): GET
 * /healthz, /metrics, calendar feeds and the web app's files (/, /app/NAME);
 * everything else 404. Service thread.
 */
#ifndef EMENTORD_HTTP_H
#define EMENTORD_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <libwebsockets.h>

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
	/* a web app file: headers now, the file from memory (webapp.c) in pieces */
	const struct webapp_file *file; /* not owned */
	size_t file_off;
	int not_modified; /* 304: no body */
	/* a POST to /unsubscribe/TOKEN: its token, kept until the body has arrived */
	int unsub_post;
	size_t body_seen;
	char unsub_token[65]; /* HTTP_PATH_ARG_MAX + 1 */
};

struct webapp_file;

int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len);

#endif
