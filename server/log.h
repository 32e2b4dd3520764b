/*
 * log.h - one line per event on stderr: "TIMESTAMP LEVEL event key=value ...".
 * Callers never pass content, passwords, keys or tokens (SECURITY.md).
 * Safe from any thread: each line is one fprintf.
 */
#ifndef EMENTORD_LOG_H
#define EMENTORD_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
/*
 * text: "TIME LEVEL event words key=value ..." (the default); json: one JSON
 * object per line, {"ts", "level", "event", key: value, ...}, the event being
 * the words before the first key=value. Either way one event per line.
 */
void log_set_json(int json);
int log_level_parse(const char *s, enum log_level *out);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Routes libwebsockets' own warnings and errors through log_msg. */
void log_hook_lws(void);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
