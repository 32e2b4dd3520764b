/*
 * http_path.h - which plain HTTP resource a request path names (http.c
 * serves them): GET /healthz, GET /metrics, GET /calendar/TOKEN.ics, or
 * nothing (404). Pure: no lws, any thread.
 */
#ifndef EMENTORD_HTTP_PATH_H
#define EMENTORD_HTTP_PATH_H

#define HTTP_FEED_TOKEN_LEN 43 /* base64url of 32 bytes, no padding */

enum http_route {
	HTTP_ROUTE_NOT_FOUND = 0,
	HTTP_ROUTE_HEALTHZ,
	HTTP_ROUTE_METRICS,
	HTTP_ROUTE_FEED,        /* token filled */
	HTTP_ROUTE_UNSUBSCRIBE, /* GET /unsubscribe/TOKEN (e-mail); token filled */
};

/*
 * The resource of `path` (NUL-terminated, as lws gives it; NULL: none). For
 * HTTP_ROUTE_FEED, token receives the feed token: exactly the canonical
 * base64url text of 32 bytes, the form calendar.url issues, so every token
 * that reaches the database could have been issued. Paths match exactly:
 * no trailing slash, no query, no case folding.
 */
enum http_route http_path_route(const char *path, char token[HTTP_FEED_TOKEN_LEN + 1]);

#endif
