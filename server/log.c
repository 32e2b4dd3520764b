/*
 * log.c - the server's log lines. Kept deliberately small: a level filter, a
 * UTC timestamp, one write per line so lines from worker threads never
 * interleave mid-line.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
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
