/*
 * http_path.h - which plain HTTP resource a request path names (http.c
 * serves them): GET /healthz, GET /metrics, GET /calendar/TOKEN.ics, the web
 * app (GET / and GET /app/NAME), GET /unsubscribe/TOKEN (an e-mail's one-link
 * unsubscribe), or nothing (404). Pure: no lws, any thread.
 */
#ifndef EMENTORD_HTTP_PATH_H
#define EMENTORD_HTTP_PATH_H

#define HTTP_FEED_TOKEN_LEN 43 /* base64url of 32 bytes, no padding */
#define HTTP_APP_NAME_MAX   64 /* longest file name under /app/ */
#define HTTP_PATH_ARG_MAX   64 /* the larger of the two above */

enum http_route {
	HTTP_ROUTE_NOT_FOUND = 0,
	HTTP_ROUTE_HEALTHZ,
	HTTP_ROUTE_METRICS,
	HTTP_ROUTE_FEED,        /* arg: the feed token */
	HTTP_ROUTE_INDEX,       /* "/": the web app's index.html */
	HTTP_ROUTE_APP,         /* arg: a file name under /app/ */
	HTTP_ROUTE_UNSUBSCRIBE, /* GET /unsubscribe/TOKEN (e-mail); arg: the token */
};

/*
 * The resource of `path` (NUL-terminated, as lws gives it; NULL: none). arg
 * receives the route's argument, or "" when it has none:
 * - HTTP_ROUTE_FEED, HTTP_ROUTE_UNSUBSCRIBE: exactly the canonical base64url
 *   text of 32 bytes, the form calendar.url and the mailer issue, so every
 *   token that reaches the database could have been issued;
 * - HTTP_ROUTE_APP: the NAME of "/app/NAME": 1 to HTTP_APP_NAME_MAX
 *   characters of [A-Za-z0-9._-], starting with a letter or digit, with no
 *   ".." anywhere: a plain file name that cannot leave the directory or name
 *   a hidden file. The caller looks it up among the files loaded at start-up
 *   (webapp.c); nothing here or there touches the disk.
 * Paths match exactly: no trailing slash, no query, no case folding, no
 * percent-decoding (a '%' is simply not in the alphabet).
 */
enum http_route http_path_route(const char *path, char arg[HTTP_PATH_ARG_MAX + 1]);

/* Whether name is a file name HTTP_ROUTE_APP accepts (the rule above). */
int http_path_app_name_ok(const char *name);

/*
 * Whether a WebSocket upgrade's Origin is the origin of the page this server
 * served itself: exactly "https://" + host, host being the request's Host
 * (or HTTP/2 :authority) header, which a browser sets to the name the user
 * reached the server by. A page elsewhere has its own origin and does not
 * match; a name rebound to this server's address fails TLS (the certificate
 * does not name it) before any upgrade. Pure.
 */
int http_path_same_origin(const char *origin, const char *host);

#endif
