/*
 * fuzz_http.c - libFuzzer target for the plain HTTP paths (server/http_path.c),
 * the one thing anyone who reaches the port chooses before any login. The
 * input, up to its first NUL (lws hands the path over as a C string), is
 * routed, and the answer is compared with a second, independent reading of
 * the rules: /healthz and /metrics exactly; /calendar/TOKEN.ics where TOKEN
 * is 43 characters of the base64url alphabet whose last one leaves the
 * unused low bits zero (the only form calendar.url issues), the token handed
 * over being exactly those 43 characters; / the web app's index; /app/NAME
 * where NAME is 1-64 characters of [A-Za-z0-9._-] starting with a letter or
 * digit and holding no "..", handed over as it is; anything else not found,
 * with no argument. The same-origin check of a WebSocket upgrade is fuzzed
 * too: the input split at its first newline into Origin and Host.
 */
#include <string.h>

#include "fuzz.h"
#include "http_path.h"

#define TARGET "fuzz_http"

static int b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* The path of a calendar feed, read without the module's help. */
static int is_feed(const char *path)
{
	/* 32 bytes = 256 bits in 43 characters of 6 bits: the last character's two low bits are 0
	 */
	static const char last_ok[] = "AEIMQUYcgkosw048";
	size_t n = strlen(path);

	if (n != 10 + HTTP_FEED_TOKEN_LEN + 4 || memcmp(path, "/calendar/", 10) ||
	    memcmp(path + n - 4, ".ics", 4))
		return 0;
	for (size_t i = 10; i < 10 + HTTP_FEED_TOKEN_LEN; i++)
		if (!b64url_char(path[i]))
			return 0;
	return strchr(last_ok, path[10 + HTTP_FEED_TOKEN_LEN - 1]) != NULL;
}

/* A web app file path, read without the module's help: its name, or NULL. */
static const char *app_name(const char *path)
{
	const char *name = path + 5;
	size_t n;

	if (strncmp(path, "/app/", 5))
		return NULL;
	n = strlen(name);
	if (n < 1 || n > 64 || strstr(name, ".."))
		return NULL;
	if (!((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') ||
	      (name[0] >= '0' && name[0] <= '9')))
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!b64url_char(name[i]) && name[i] != '.')
			return NULL;
	return name;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = malloc(size + 1), token[HTTP_PATH_ARG_MAX + 1], *nl;
	const char *name;
	enum http_route route;

	memcpy(path, data, size);
	path[size] = '\0';
	memset(token, 'x', sizeof(token));
	route = http_path_route(path, token);
	fuzz_check((route == HTTP_ROUTE_HEALTHZ) == !strcmp(path, "/healthz"), TARGET,
	           "/healthz exactly");
	fuzz_check((route == HTTP_ROUTE_METRICS) == !strcmp(path, "/metrics"), TARGET,
	           "/metrics exactly");
	fuzz_check((route == HTTP_ROUTE_INDEX) == !strcmp(path, "/"), TARGET, "/ exactly");
	name = app_name(path);
	fuzz_check((route == HTTP_ROUTE_APP) == (name != NULL), TARGET,
	           "/app/ + a plain file name");
	if (route == HTTP_ROUTE_APP)
		fuzz_check(!strcmp(token, name) && !strchr(token, '/'), TARGET,
		           "the name is the path's, with no slash");
	fuzz_check((route == HTTP_ROUTE_FEED) == is_feed(path), TARGET,
	           "a feed path is /calendar/ + a canonical 32-byte token + .ics");
	if (route == HTTP_ROUTE_FEED)
		fuzz_check(strlen(token) == HTTP_FEED_TOKEN_LEN &&
		               !memcmp(token, path + 10, HTTP_FEED_TOKEN_LEN),
		           TARGET, "the token is the path's");
	else if (route == HTTP_ROUTE_UNSUBSCRIBE)
		fuzz_check(strlen(path) == 13 + HTTP_FEED_TOKEN_LEN &&
		               !memcmp(path, "/unsubscribe/", 13) &&
		               !memcmp(token, path + 13, HTTP_FEED_TOKEN_LEN + 1),
		           TARGET, "an unsubscribe path is /unsubscribe/ + the token");
	else if (route != HTTP_ROUTE_APP)
		fuzz_check(token[0] == '\0', TARGET,
		           "no argument unless a feed, an unsubscribe or a file");
	fuzz_check(route == HTTP_ROUTE_NOT_FOUND || route == HTTP_ROUTE_HEALTHZ ||
	               route == HTTP_ROUTE_METRICS || route == HTTP_ROUTE_FEED ||
	               route == HTTP_ROUTE_INDEX || route == HTTP_ROUTE_APP ||
	               route == HTTP_ROUTE_UNSUBSCRIBE,
	           TARGET, "a known route");
	if ((nl = strchr(path, '\n'))) {
		*nl = '\0';
		fuzz_check(http_path_same_origin(path, nl + 1) ==
		               (!strncmp(path, "https://", 8) && nl[1] && !strchr(nl + 1, '/') &&
		                !strcmp(path + 8, nl + 1)),
		           TARGET, "same origin: https:// + host exactly");
	}
	route = http_path_route(NULL, token);
	fuzz_check(route == HTTP_ROUTE_NOT_FOUND && token[0] == '\0', TARGET, "no path, no route");
	free(path);
	return 0;
}
