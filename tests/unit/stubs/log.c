/*
 * log.c (stub) - server/log.h's log_msg() counting lines by level instead of
 * writing them, so tests can check that a module logged without the noise.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "stubs.h"

int stub_log_lines[4];
char stub_log_last[512];

void stub_log_reset(void)
{
	memset(stub_log_lines, 0, sizeof(stub_log_lines));
	stub_log_last[0] = '\0';
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if ((unsigned)level < 4)
		stub_log_lines[level]++;
	va_start(ap, fmt);
	vsnprintf(stub_log_last, sizeof(stub_log_last), fmt, ap);
	va_end(ap);
}
