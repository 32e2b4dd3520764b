/*
 * webapp.h - the web app's files (web/app and the WebAssembly client core,
 * assembled into one directory by scripts/lib.sh's em_web_assemble), read
 * into memory once at start-up so that the lws service thread never touches
 * the disk to serve them. http.c serves them at / and /app/NAME.
 */
#ifndef EMENTORD_WEBAPP_H
#define EMENTORD_WEBAPP_H

#include <stddef.h>

#define WEBAPP_FILES_MAX 64                 /* files under DIR/app/ */
#define WEBAPP_FILE_MAX  (8 * 1024 * 1024)  /* bytes in one file */
#define WEBAPP_TOTAL_MAX (32 * 1024 * 1024) /* bytes in all of them */

struct webapp_file {
	char name[72]; /* "index.html", or the NAME of /app/NAME */
	unsigned char *data;
	size_t len;
	const char *ctype; /* Content-Type */
	char etag[40];     /* "\"<32 hex digits>\"": the start of the file's SHA-256 */
};

/*
 * The Content-Type a file name's extension gives (.html .mjs .js .css .wasm
 * .json .svg .png .ico .txt, and SHA256SUMS), or NULL: such a file is not
 * served. Pure.
 */
const char *webapp_content_type(const char *name);

/*
 * Reads DIR/index.html (required) and every regular file of DIR/app/ whose
 * name http_path_app_name_ok() accepts and whose type webapp_content_type()
 * knows (others are skipped and logged), within the limits above; then makes
 * two more files: app/SHA256SUMS (sha256sum's format, one line per file
 * above, relative to DIR, sorted) and app/version.json ({"version",
 * "web_sha256"}: the server's version and the SHA-256 of SHA256SUMS, which
 * `ementord --version` prints too). Replaces what was loaded before. Returns
 * 0, or -1 with a message in err (nothing loaded then). Main thread, before
 * the service thread starts (or alone, for --version).
 */
int webapp_load(const char *dir, char *err, size_t errlen);

/* The loaded index.html, or NULL when nothing is loaded. Any thread after webapp_load(). */
const struct webapp_file *webapp_index(void);
/* The loaded /app/NAME, or NULL. Any thread after webapp_load(). */
const struct webapp_file *webapp_app(const char *name);
/* The hex SHA-256 of SHA256SUMS ("" when nothing is loaded), and the number of files. */
const char *webapp_digest(void);
size_t webapp_count(void);
/* Frees every file (main thread, after the service thread has stopped). */
void webapp_free(void);

#endif
