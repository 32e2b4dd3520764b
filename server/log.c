/*
 * log.c - the server's log lines. Kept deliberately small: a level filter, a
 * UTC timestamp, text or JSON (jansson), one write per line so lines from
 * worker threads never interleave mid-line. Call sites write
 * "event words key=value ..." and never pass content, tokens, keys or
 * passwords (tests/e2e/confidentiality.sh greps the log for them).
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <libwebsockets.h>

#include "log.h"

static atomic_int min_level = LOG_INFO; /* SIGHUP may change it while workers log */
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
	atomic_store(&min_level, (int)level);
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i <= LOG_ERROR; i++) {
		if (!strcmp(s, level_names[i])) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static atomic_int json_lines;

void log_set_json(int json)
{
	atomic_store(&json_lines, json);
}

/*
 * The message "event words k=v k2=\"quoted v\" ..." as a JSON line. Values stay
 * strings; a word without '=' after the first pair is appended to "text".
 */
static void emit_json(const char *ts, enum log_level level, const char *msg)
{
	json_t *o = json_pack("{ssss}", "ts", ts, "level", level_names[level]);
	char event[256] = "", text[1024] = "", *line;
	const char *p = msg;
	int pairs = 0;

	while (o && *p) {
		const char *w = p, *eq;
		size_t n;

		while (*p == ' ')
			p++;
		w = p;
		n = strcspn(p, " =");
		eq = p[n] == '=' ? p + n : NULL;
		if (eq && n > 0 && n < 64) {
			char key[64], val[512];
			const char *v = eq + 1, *end;

			if (*v == '"' && (end = strchr(v + 1, '"'))) {
				snprintf(val, sizeof(val), "%.*s", (int)(end - v - 1), v + 1);
				p = end + 1;
			} else {
				size_t m = strcspn(v, " ");

				snprintf(val, sizeof(val), "%.*s", (int)m, v);
				p = v + m;
			}
			snprintf(key, sizeof(key), "%.*s", (int)n, w);
			if (!strcmp(key, "ts") || !strcmp(key, "level") || !strcmp(key, "event"))
				strncat(key, "_", sizeof(key) - strlen(key) - 1);
			json_object_set_new(o, key, json_string(val));
			pairs++;
			continue;
		}
		n = strcspn(p, " ");
		if (!n)
			break;
		if (!pairs)
			snprintf(event + strlen(event), sizeof(event) - strlen(event), "%s%.*s",
			         *event ? " " : "", (int)n, w);
		else
			snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%.*s",
			         *text ? " " : "", (int)n, w);
		p += n;
	}
	if (!o)
		return;
	json_object_set_new(o, "event", json_string(event));
	if (*text)
		json_object_set_new(o, "text", json_string(text));
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (line)
		fprintf(stderr, "%s\n", line);
	free(line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024], ts[32];
	struct timespec now;
	struct tm tm;
	va_list ap;
	int n;

	if ((int)level < atomic_load(&min_level))
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	if (atomic_load(&json_lines)) {
		char full[64];

		snprintf(full, sizeof(full), "%s.%03dZ", ts, (int)(now.tv_nsec / 1000000));
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		emit_json(full, level, line);
		return;
	}
	n = snprintf(line, sizeof(line), "%s.%03ldZ %-5s ", ts, now.tv_nsec / 1000000,
	             level_names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}

static void lws_emit(int lws_level, const char *line)
{
	size_t n = strlen(line);

	/* lws lines carry their own timestamp and a trailing newline */
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	log_msg(lws_level == LLL_ERR ? LOG_ERROR : LOG_WARN, "lws %.*s", (int)n, line);
}

void log_hook_lws(void)
{
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_emit);
}
