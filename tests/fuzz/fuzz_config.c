/*
 * fuzz_config.c - libFuzzer target for ementord's config file parser
 * (config_parse() in server/config.c). The input is a config file's text.
 * Checked on every input:
 *   - whatever the text, every setting stays within what --help documents
 *     (numbers in their ranges, strings terminated within their buffers,
 *     1 to 4 reminders, at most 16 non-empty origins, known enum values);
 *   - a failure says where: "SOURCE:LINE: ..." or "SOURCE: ...";
 *   - comments and blank lines have no effect: the same text with them
 *     removed gives the same result, byte for byte (a long comment once
 *     spilled into the next "line" of a 2 KiB fgets() buffer);
 *   - line ends do not matter: CRLF gives the same result as LF;
 *   - the parse is deterministic.
 */
#include <string.h>

#include "config.h"
#include "fuzz.h"

#define TARGET "fuzz_config"

static void check(int ok, const char *what)
{
	fuzz_check(ok, TARGET, what);
}

static int in(long long v, long long min, long long max)
{
	return v >= min && v <= max;
}

static int terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

#define TERMINATED(field) terminated(cfg->field, sizeof(cfg->field))

static int one_of(const char *s, const char *a, const char *b, const char *c)
{
	return !strcmp(s, a) || !strcmp(s, b) || (c && !strcmp(s, c));
}

static void check_config(const struct config *cfg)
{
	check(in(cfg->port, 1, 65535) && in(cfg->db_workers, 1, 64) &&
	          in(cfg->db_queue, 16, 1000000) && in(cfg->auth_timeout_s, 1, 3600) &&
	          in(cfg->session_ttl_days, 1, 365) && in(cfg->invite_ttl_days, 1, 365) &&
	          in(cfg->max_inflight, 1, 1024) && in(cfg->out_queue_kib, 64, 1048576) &&
	          in(cfg->rotate_messages, 1, 1000000000) && in(cfg->rotate_days, 1, 365) &&
	          in(cfg->batch_max, 1, 4096) && in(cfg->batch_wait_us, 0, 100000) &&
	          in(cfg->drain_timeout_s, 1, 600) && in(cfg->scheduler_interval_s, 1, 3600) &&
	          in(cfg->clock_offset_s, -315360000, 315360000) &&
	          (cfg->programme == 0 || in(cfg->programme, 1, 9007199254740991LL)) &&
	          in(cfg->no_migrate, 0, 1),
	      "numbers stay in their documented ranges");
	check(TERMINATED(listen) && TERMINATED(cert) && TERMINATED(key) && TERMINATED(db) &&
	          TERMINATED(schema_dir) && TERMINATED(public_url) && TERMINATED(reminders) &&
	          TERMINATED(privacy_notice) && TERMINATED(ledger_head) && TERMINATED(metrics) &&
	          TERMINATED(log_level) && TERMINATED(log_format) && TERMINATED(role),
	      "strings end within their buffers");
	check(in(cfg->n_remind, 1, CONFIG_MAX_REMINDERS), "1 to 4 reminders");
	for (int i = 0; i < cfg->n_remind; i++)
		check(in(cfg->remind_minutes[i], 1, 20160), "reminders from 1 to 20160 minutes");
	check(in(cfg->n_origins, 0, CONFIG_MAX_ORIGINS), "at most 16 origins");
	for (int i = 0; i < cfg->n_origins; i++)
		check(TERMINATED(origins[i]) && cfg->origins[i][0] && cfg->origins[i][0] != ' ' &&
		          !strchr(cfg->origins[i], ','),
		      "an origin is one non-empty item of the list");
	check(one_of(cfg->metrics, "off", "local", "any"), "metrics off, local or any");
	check(one_of(cfg->log_format, "text", "json", NULL), "log-format text or json");
	check(!strcmp(cfg->log_level, "debug") || one_of(cfg->log_level, "info", "warn", "error"),
	      "a known log level");
	check(!cfg->role[0] || one_of(cfg->role, "manager", "mentor", "mentee"), "a known role");
}

/* Parses text from the defaults; returns config_parse()'s result. */
static int parse(const char *text, size_t len, struct config *cfg, char *err, size_t errlen)
{
	config_defaults(cfg);
	err[0] = '\0';
	return config_parse(cfg, text, len, "test.conf", err, errlen);
}

/* Whether a line is blank or a comment, as the file format defines them. */
static int ignorable(const char *line, size_t n)
{
	size_t i = 0;

	while (i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\v' ||
	                 line[i] == '\f'))
		i++;
	return i == n || line[i] == '#';
}

/* The text without comment and blank lines (out has room for len bytes). */
static size_t strip_comments(const char *text, size_t len, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;

		if (!ignorable(text + i, n)) {
			memcpy(out + o, text + i, n);
			o += n;
			out[o++] = '\n';
		}
		i += n + 1;
	}
	return o;
}

/* The text with every LF as CRLF (out has room for 2 * len bytes). */
static size_t to_crlf(const char *text, size_t len, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n')
			out[o++] = '\r';
		out[o++] = text[i];
	}
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct config *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	char *other = malloc(2 * size + 1), err[512], err2[512];
	int rc, rc2;
	size_t n;

	rc = parse(text, size, a, err, sizeof(err));
	check(rc == 0 || rc == -1, "0 or -1");
	if (rc == 0)
		check_config(a);
	else
		check(!strncmp(err, "test.conf:", 10), "a failure names the file");
	rc2 = parse(text, size, b, err2, sizeof(err2));
	check(rc2 == rc && !memcmp(a, b, sizeof(*a)) && !strcmp(err, err2), "deterministic");
	if (!memchr(text, '\0', size)) {
		n = strip_comments(text, size, other);
		rc2 = parse(other, n, b, err2, sizeof(err2));
		check(rc2 == rc && (rc || !memcmp(a, b, sizeof(*a))),
		      "comments and blank lines have no effect");
		n = to_crlf(text, size, other);
		rc2 = parse(other, n, b, err2, sizeof(err2));
		check(rc2 == rc && (rc || !memcmp(a, b, sizeof(*a))), "CRLF reads as LF");
	}
	free(other);
	free(a);
	free(b);
	return 0;
}
