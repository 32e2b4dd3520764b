/*
 * test_http_path.c - the plain HTTP side's pure parts: which resource a
 * request path names (server/http_path.c), with hostile paths among them
 * (traversal, encoded dots, hidden files, huge paths), the same-origin rule
 * of a WebSocket upgrade, and the web app's files in memory
 * (server/webapp.c): what a directory loads, what it skips, the types, the
 * ETags and the SHA256SUMS listing with its digest.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "http_path.h"
#include "webapp.h"

static enum http_route route(const char *path, char *arg)
{
	return http_path_route(path, arg);
}

static void test_routes(void **state)
{
	char arg[HTTP_PATH_ARG_MAX + 1];

	(void)state;
	assert_int_equal(route("/", arg), HTTP_ROUTE_INDEX);
	assert_string_equal(arg, "");
	assert_int_equal(route("/healthz", arg), HTTP_ROUTE_HEALTHZ);
	assert_int_equal(route("/metrics", arg), HTTP_ROUTE_METRICS);
	assert_int_equal(route("/app/app.mjs", arg), HTTP_ROUTE_APP);
	assert_string_equal(arg, "app.mjs");
	assert_int_equal(route("/app/ementor-core-wasm.wasm", arg), HTTP_ROUTE_APP);
	assert_string_equal(arg, "ementor-core-wasm.wasm");
	assert_int_equal(route("/app/SHA256SUMS", arg), HTTP_ROUTE_APP);
	assert_int_equal(route("/calendar/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.ics", arg),
	                 HTTP_ROUTE_FEED);
	assert_int_equal(strlen(arg), HTTP_FEED_TOKEN_LEN);
	assert_int_equal(route("/unsubscribe/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", arg),
	                 HTTP_ROUTE_UNSUBSCRIBE);
	assert_string_equal(arg, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	/* the token's canonical form only: one character short, long, or with spare low bits */
	assert_int_equal(route("/unsubscribe/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", arg),
	                 HTTP_ROUTE_NOT_FOUND);
	assert_int_equal(route("/unsubscribe/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", arg),
	                 HTTP_ROUTE_NOT_FOUND);
	assert_int_equal(route("/unsubscribe/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", arg),
	                 HTTP_ROUTE_NOT_FOUND);
	assert_int_equal(route(NULL, arg), HTTP_ROUTE_NOT_FOUND);
}

static void test_hostile_paths(void **state)
{
	static const char *bad[] = {
	    "",
	    "//",
	    "/index.html", /* only "/" names it */
	    "/app",
	    "/app/",
	    "/app//app.mjs",
	    "/app/../etc/passwd",
	    "/app/..",
	    "/app/a..b.mjs",
	    "/app/.hidden.mjs",
	    "/app/-x.mjs",
	    "/app/_x.mjs",
	    "/app/sub/app.mjs",
	    "/app/%2e%2e/etc/passwd",
	    "/app/%2e%2e%2fkey.pem",
	    "/app/app.mjs?v=1",
	    "/app/app.mjs#x",
	    "/app/app mjs",
	    "/app/app\\mjs",
	    "/APP/app.mjs",
	    "/app/app.mjs/",
	    "/../app/app.mjs",
	    "/calendar/../app/app.mjs",
	};
	char arg[HTTP_PATH_ARG_MAX + 1], huge[4096];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(arg, 'x', sizeof(arg));
		assert_int_equal(route(bad[i], arg), HTTP_ROUTE_NOT_FOUND);
		assert_string_equal(arg, "");
	}
	/* 64 characters are a name, 65 are not; a huge path is not */
	memcpy(huge, "/app/", 5);
	memset(huge + 5, 'a', 64);
	huge[69] = '\0';
	assert_int_equal(route(huge, arg), HTTP_ROUTE_APP);
	huge[69] = 'a';
	huge[70] = '\0';
	assert_int_equal(route(huge, arg), HTTP_ROUTE_NOT_FOUND);
	memset(huge + 5, 'a', sizeof(huge) - 6);
	huge[sizeof(huge) - 1] = '\0';
	assert_int_equal(route(huge, arg), HTTP_ROUTE_NOT_FOUND);
	assert_string_equal(arg, "");
}

static void test_same_origin(void **state)
{
	(void)state;
	assert_true(http_path_same_origin("https://localhost:8443", "localhost:8443"));
	assert_true(http_path_same_origin("https://mentor.example.org", "mentor.example.org"));
	assert_false(http_path_same_origin("http://localhost:8443", "localhost:8443"));
	assert_false(http_path_same_origin("https://evil.example", "localhost:8443"));
	assert_false(http_path_same_origin("https://localhost:8443", "localhost:9443"));
	assert_false(http_path_same_origin("https://localhost:8443.evil", "localhost:8443"));
	assert_false(http_path_same_origin("https://", ""));
	assert_false(http_path_same_origin("https://a/b", "a/b"));
	assert_false(http_path_same_origin(NULL, "localhost"));
	assert_false(http_path_same_origin("https://localhost", NULL));
	assert_false(http_path_same_origin("null", "localhost"));
}

static void test_content_types(void **state)
{
	(void)state;
	assert_string_equal(webapp_content_type("index.html"), "text/html; charset=utf-8");
	assert_string_equal(webapp_content_type("app.mjs"), "text/javascript; charset=utf-8");
	assert_string_equal(webapp_content_type("app.css"), "text/css; charset=utf-8");
	assert_string_equal(webapp_content_type("x.wasm"), "application/wasm");
	assert_string_equal(webapp_content_type("SHA256SUMS"), "text/plain; charset=utf-8");
	assert_null(webapp_content_type("key.pem"));
	assert_null(webapp_content_type(".mjs"));
	assert_null(webapp_content_type("mjs"));
	assert_null(webapp_content_type(NULL));
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[1024];
	FILE *f;

	assert_true(snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path));
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static void test_load(void **state)
{
	char dir[] = "/tmp/test_http_path.XXXXXX", app[600], err[600], cmd[700];
	unsigned char h[crypto_hash_sha256_BYTES];
	char hex[sizeof(h) * 2 + 1], line[200];
	const struct webapp_file *f, *sums;

	(void)state;
	assert_int_equal(sodium_init() >= 0, 1);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(webapp_load(dir, err, sizeof(err)), -1); /* no index.html */
	assert_null(webapp_index());
	put(dir, "index.html", "<!doctype html><title>t</title>");
	assert_int_equal(webapp_load(dir, err, sizeof(err)), -1); /* no app/ */
	snprintf(app, sizeof(app), "%s/app", dir);
	assert_int_equal(mkdir(app, 0700), 0);
	put(app, "app.mjs", "export const x = 1;\n");
	put(app, "key.pem", "secret\n");    /* a type it does not serve */
	put(app, ".app.mjs", "hidden\n");   /* hidden */
	put(app, "SHA256SUMS", "forged\n"); /* made by the server only */
	put(app, "version.json", "{}\n");   /* likewise */
	put(app, "a..b.css", "body{}\n");   /* not a name it serves */
	snprintf(cmd, sizeof(cmd), "%s/sub.css", app);
	assert_int_equal(mkdir(cmd, 0700), 0); /* a directory, even with a good name */
	assert_int_equal(webapp_load(dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "sub.css"));
	assert_int_equal(rmdir(cmd), 0);
	assert_int_equal(webapp_load(dir, err, sizeof(err)), 0);
	/* index.html, app.mjs, SHA256SUMS, version.json */
	assert_int_equal(webapp_count(), 4);
	assert_non_null(f = webapp_index());
	/* the data is the file's bytes, not a C string: compare with the length */
	assert_int_equal(f->len, strlen("<!doctype html><title>t</title>"));
	assert_memory_equal(f->data, "<!doctype html><title>t</title>", f->len);
	assert_non_null(f = webapp_app("app.mjs"));
	assert_int_equal(f->len, strlen("export const x = 1;\n"));
	assert_string_equal(f->ctype, "text/javascript; charset=utf-8");
	crypto_hash_sha256(h, f->data, f->len);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(line, sizeof(line), "\"%.32s\"", hex);
	assert_string_equal(f->etag, line);
	assert_null(webapp_app("key.pem"));
	assert_null(webapp_app(".app.mjs"));
	assert_null(webapp_app("index.html")); /* only at / */
	assert_non_null(sums = webapp_app("SHA256SUMS"));
	snprintf(line, sizeof(line), "%s  app/app.mjs\n", hex);
	assert_non_null(strstr((const char *)sums->data, line));
	assert_non_null(strstr((const char *)sums->data, "  index.html\n"));
	assert_null(strstr((const char *)sums->data, "forged"));
	crypto_hash_sha256(h, sums->data, sums->len);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	assert_string_equal(webapp_digest(), hex);
	assert_non_null(f = webapp_app("version.json"));
	assert_non_null(strstr((const char *)f->data, hex));
	webapp_free();
	assert_null(webapp_index());
	assert_int_equal(webapp_count(), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_routes),      cmocka_unit_test(test_hostile_paths),
	    cmocka_unit_test(test_same_origin), cmocka_unit_test(test_content_types),
	    cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
