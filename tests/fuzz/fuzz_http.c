/*
 * fuzz_http.c - libFuzzer target for the plain HTTP paths (server/http_path.c),
 * the one thing anyone who reaches the port chooses before any login. The
 * input, up to its first NUL (lws hands the path over as a C string), is
 * routed, and the answer is compared with a second, independent reading of
 * the rules: /healthz and /metrics exactly; /calendar/TOKEN.ics where TOKEN
 * is 43 characters of the base64url alphabet whose last one leaves the
 * unused low bits zero (the only form calendar.url issues), the token handed
 * over being exactly those 43 characters; anything else not found, with no
 * token.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = malloc(size + 1), token[HTTP_FEED_TOKEN_LEN + 1];
	enum http_route route;

	memcpy(path, data, size);
	path[size] = '\0';
	memset(token, 'x', sizeof(token));
	route = http_path_route(path, token);
	fuzz_check((route == HTTP_ROUTE_HEALTHZ) == !strcmp(path, "/healthz"), TARGET,
	           "/healthz exactly");
	fuzz_check((route == HTTP_ROUTE_METRICS) == !strcmp(path, "/metrics"), TARGET,
	           "/metrics exactly");
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
	else
		fuzz_check(token[0] == '\0', TARGET, "no token unless a feed or an unsubscribe");
	fuzz_check(route == HTTP_ROUTE_NOT_FOUND || route == HTTP_ROUTE_HEALTHZ ||
	               route == HTTP_ROUTE_METRICS || route == HTTP_ROUTE_FEED ||
	               route == HTTP_ROUTE_UNSUBSCRIBE,
	           TARGET, "a known route");
	route = http_path_route(NULL, token);
	fuzz_check(route == HTTP_ROUTE_NOT_FOUND && token[0] == '\0', TARGET, "no path, no route");
	free(path);
	return 0;
}
