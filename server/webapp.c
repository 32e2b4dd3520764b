/*
 * webapp.c - the web app's files in memory (webapp.h). The browser client is
 * a handful of static files: index.html, the app's modules and style sheet,
 * and the WebAssembly client core. They are read once, at start-up, on the
 * main thread: the lws service thread then serves them from memory and never
 * waits on the disk, and a request can only ever name a file that was here
 * when the server started (a path from the network is never joined to a
 * directory). Each file carries an ETag (the start of its SHA-256), so a
 * browser revalidates with If-None-Match and gets 304 while the file is
 * unchanged; the whole set has one digest, the SHA-256 of a sha256sum-style
 * listing, which the app shows and `ementord --version` prints, so a user can
 * compare the code a server serves with a published build (SECURITY.md).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>
#include <sodium.h>

#include "em_proto.h"
#include "http_path.h"
#include "log.h"
#include "webapp.h"

/* Loaded by webapp_load() on the main thread, read-only afterwards. */
static struct webapp_file *files; /* [0] is index.html, then app/ files by name */
static size_t n_files;
static char digest[crypto_hash_sha256_BYTES * 2 + 1];

static const struct {
	const char *ext, *ctype;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".wasm", "application/wasm"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
};

const char *webapp_content_type(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n && !strcmp(name, "SHA256SUMS"))
		return "text/plain; charset=utf-8";
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t e = strlen(types[i].ext);

		if (n > e && !strcmp(name + n - e, types[i].ext))
			return types[i].ctype;
	}
	return NULL;
}

static void file_free(struct webapp_file *f)
{
	free(f->data);
	f->data = NULL;
}

void webapp_free(void)
{
	for (size_t i = 0; i < n_files; i++)
		file_free(&files[i]);
	free(files);
	files = NULL;
	n_files = 0;
	digest[0] = '\0';
}

/* Fills f's ETag from its data. */
static void file_etag(struct webapp_file *f)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	char hex[16 * 2 + 1];

	crypto_hash_sha256(h, f->data, f->len);
	sodium_bin2hex(hex, sizeof(hex), h, 16);
	f->etag[0] = '"';
	memcpy(f->etag + 1, hex, 32);
	memcpy(f->etag + 33, "\"", 2);
}

/*
 * Reads the regular file path (at most WEBAPP_FILE_MAX bytes) into f->data.
 * 0, or -1 with a message in err. f->data: freed by webapp_free().
 */
static int file_read(struct webapp_file *f, const char *path, char *err, size_t errlen)
{
	struct stat st;
	FILE *fp = NULL;
	int rc = -1;

	if (stat(path, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a readable file", path);
		goto out;
	}
	if (st.st_size > WEBAPP_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", path, WEBAPP_FILE_MAX);
		goto out;
	}
	f->len = (size_t)st.st_size;
	/* one byte more, a NUL after the bytes: never served, but a reader of text stops there */
	if (!(f->data = malloc(f->len + 1)) || !(fp = fopen(path, "rb")) ||
	    fread(f->data, 1, f->len, fp) != f->len) {
		snprintf(err, errlen, "%s: cannot read it", path);
		goto out;
	}
	f->data[f->len] = '\0';
	file_etag(f);
	rc = 0;
out:
	if (fp)
		fclose(fp);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct webapp_file *)a)->name, ((const struct webapp_file *)b)->name);
}

/* A generated file from text (copied), as the last of files. */
static int file_add_text(struct webapp_file *f, const char *name, const char *text)
{
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->len = strlen(text);
	if (!(f->data = malloc(f->len + 1)))
		return -1;
	memcpy(f->data, text, f->len + 1);
	f->ctype = webapp_content_type(name);
	file_etag(f);
	return 0;
}

/* app/SHA256SUMS and app/version.json for the n files loaded; their digest into sum. */
static int make_listing(struct webapp_file *all, size_t n, char sum[sizeof(digest)], char *err,
                        size_t errlen)
{
	size_t cap = n * (crypto_hash_sha256_BYTES * 2 + 2 + 5 + sizeof(all[0].name) + 1) + 1,
	       off = 0;
	char *sums = malloc(cap), *version = NULL;
	unsigned char h[crypto_hash_sha256_BYTES];
	json_t *v = NULL;
	int rc = -1;

	if (!sums)
		goto oom;
	sums[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char hex[sizeof(h) * 2 + 1];

		crypto_hash_sha256(h, all[i].data, all[i].len);
		sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
		off += (size_t)snprintf(sums + off, cap - off, "%s  %s%s\n", hex, i ? "app/" : "",
		                        all[i].name);
	}
	crypto_hash_sha256(h, (const unsigned char *)sums, off);
	sodium_bin2hex(sum, sizeof(digest), h, sizeof(h));
	v = json_pack("{ssss}", "version", EM_VERSION, "web_sha256", sum);
	if (!v || !(version = json_dumps(v, JSON_COMPACT)) ||
	    file_add_text(&all[n], "SHA256SUMS", sums) ||
	    file_add_text(&all[n + 1], "version.json", version))
		goto oom;
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	free(sums);
	free(version);
	json_decref(v);
	return rc;
}

int webapp_load(const char *dir, char *err, size_t errlen)
{
	struct webapp_file *all = NULL;
	size_t n = 0, total = 0;
	char path[1024], sum[sizeof(digest)];
	DIR *d = NULL;
	struct dirent *e;
	int rc = -1;

	/* index.html, up to WEBAPP_FILES_MAX app files, SHA256SUMS, version.json */
	if (!(all = calloc(WEBAPP_FILES_MAX + 3, sizeof(*all)))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	snprintf(all[0].name, sizeof(all[0].name), "index.html");
	all[0].ctype = webapp_content_type("index.html");
	snprintf(path, sizeof(path), "%s/index.html", dir);
	if (file_read(&all[0], path, err, errlen))
		goto out;
	total = all[0].len;
	n = 1;
	snprintf(path, sizeof(path), "%s/app", dir);
	if (!(d = opendir(path))) {
		snprintf(err, errlen, "%s: not a readable directory", path);
		goto out;
	}
	while ((e = readdir(d))) {
		struct webapp_file *f = &all[n];

		if (e->d_name[0] == '.')
			continue;
		if (!http_path_app_name_ok(e->d_name) || !webapp_content_type(e->d_name) ||
		    !strcmp(e->d_name, "SHA256SUMS") || !strcmp(e->d_name, "version.json")) {
			log_warn("web app: skipped %s/app/%.80s (not a name or type it serves)",
			         dir, e->d_name);
			continue;
		}
		if (n - 1 >= WEBAPP_FILES_MAX) {
			snprintf(err, errlen, "%s: more than %d files", path, WEBAPP_FILES_MAX);
			goto out;
		}
		memcpy(f->name, e->d_name, strlen(e->d_name) + 1); /* at most HTTP_APP_NAME_MAX */
		f->ctype = webapp_content_type(f->name);
		snprintf(path, sizeof(path), "%s/app/%s", dir, e->d_name);
		if (file_read(f, path, err, errlen))
			goto out;
		n++;
		if ((total += f->len) > WEBAPP_TOTAL_MAX) {
			snprintf(err, errlen, "%s/app: more than %d bytes in all", dir,
			         WEBAPP_TOTAL_MAX);
			goto out;
		}
	}
	qsort(all + 1, n - 1, sizeof(*all), by_name);
	if (make_listing(all, n, sum, err, errlen))
		goto out;
	webapp_free();
	memcpy(digest, sum, sizeof(digest));
	files = all;
	n_files = n + 2;
	all = NULL;
	rc = 0;
out:
	if (d)
		closedir(d);
	if (all) {
		for (size_t i = 0; i < WEBAPP_FILES_MAX + 3; i++)
			file_free(&all[i]);
		free(all);
	}
	return rc;
}

const struct webapp_file *webapp_index(void)
{
	return n_files ? &files[0] : NULL;
}

const struct webapp_file *webapp_app(const char *name)
{
	for (size_t i = 1; i < n_files && name; i++)
		if (!strcmp(files[i].name, name))
			return &files[i];
	return NULL;
}

const char *webapp_digest(void)
{
	return digest;
}

size_t webapp_count(void)
{
	return n_files;
}
