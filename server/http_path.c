/*
 * http_path.c - maps a request path to a plain HTTP resource (http_path.h).
 * The path comes from anyone who reaches the port, before any login, so it
 * is matched exactly: a feed token is checked for its one possible form
 * before a database job is spent on it, and a web app file name for a plain
 * name that cannot climb out of /app/ (only files loaded at start-up are
 * ever served, but the name is refused here before it is even looked up).
 * Pure: no I/O, any thread.
 */
#include <string.h>

#include "em_proto.h"
#include "http_path.h"

#define FEED_PREFIX      "/calendar/"
#define FEED_SUFFIX      ".ics"
#define FEED_TOKEN_BYTES 32
#define APP_PREFIX       "/app/"

/* "/calendar/TOKEN.ics" -> token; 0, or -1 when the path is not a feed. */
static int http_path_feed(const char *path, char token[HTTP_PATH_ARG_MAX + 1])
{
	const size_t pre = sizeof(FEED_PREFIX) - 1, suf = sizeof(FEED_SUFFIX) - 1;
	unsigned char bytes[FEED_TOKEN_BYTES];
	size_t n = strlen(path);
	int rc = -1;

	if (n != pre + HTTP_FEED_TOKEN_LEN + suf || strncmp(path, FEED_PREFIX, pre) ||
	    strcmp(path + n - suf, FEED_SUFFIX))
		goto out;
	memcpy(token, path + pre, HTTP_FEED_TOKEN_LEN);
	token[HTTP_FEED_TOKEN_LEN] = '\0';
	/* base64url alphabet, 32 bytes, unused low bits zero: the canonical form */
	if (em_b64_decode(token, bytes, sizeof(bytes)) != FEED_TOKEN_BYTES)
		goto out;
	rc = 0;
out:
	if (rc)
		token[0] = '\0';
	return rc;
}

/* "/unsubscribe/TOKEN" -> token (the same canonical form as a feed's); 0, or -1. */
static int http_path_unsubscribe(const char *path, char token[HTTP_PATH_ARG_MAX + 1])
{
	static const char pre[] = "/unsubscribe/";
	unsigned char bytes[FEED_TOKEN_BYTES];

	token[0] = '\0';
	if (strlen(path) != sizeof(pre) - 1 + HTTP_FEED_TOKEN_LEN ||
	    strncmp(path, pre, sizeof(pre) - 1))
		return -1;
	memcpy(token, path + sizeof(pre) - 1, HTTP_FEED_TOKEN_LEN + 1);
	if (em_b64_decode(token, bytes, sizeof(bytes)) != FEED_TOKEN_BYTES) {
		token[0] = '\0';
		return -1;
	}
	return 0;
}

static int name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

int http_path_app_name_ok(const char *name)
{
	size_t n, i;

	if (!name)
		return 0;
	n = strlen(name);
	if (n < 1 || n > HTTP_APP_NAME_MAX || !name_char(name[0]) || name[0] == '.' ||
	    name[0] == '-' || name[0] == '_' || strstr(name, ".."))
		return 0;
	for (i = 0; i < n; i++)
		if (!name_char(name[i]))
			return 0;
	return 1;
}

enum http_route http_path_route(const char *path, char arg[HTTP_PATH_ARG_MAX + 1])
{
	const size_t pre = sizeof(APP_PREFIX) - 1;

	arg[0] = '\0';
	if (!path)
		return HTTP_ROUTE_NOT_FOUND;
	if (!strcmp(path, "/"))
		return HTTP_ROUTE_INDEX;
	if (!strcmp(path, "/healthz"))
		return HTTP_ROUTE_HEALTHZ;
	if (!strcmp(path, "/metrics"))
		return HTTP_ROUTE_METRICS;
	if (!strncmp(path, APP_PREFIX, pre) && http_path_app_name_ok(path + pre)) {
		strcpy(arg, path + pre); /* at most HTTP_APP_NAME_MAX: checked just now */
		return HTTP_ROUTE_APP;
	}
	if (!http_path_feed(path, arg))
		return HTTP_ROUTE_FEED;
	if (!http_path_unsubscribe(path, arg))
		return HTTP_ROUTE_UNSUBSCRIBE;
	return HTTP_ROUTE_NOT_FOUND;
}

int http_path_same_origin(const char *origin, const char *host)
{
	const size_t pre = sizeof("https://") - 1;

	if (!origin || !host || !host[0] || strchr(host, '/') || strncmp(origin, "https://", pre))
		return 0;
	return !strcmp(origin + pre, host);
}
