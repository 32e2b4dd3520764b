/*
 * server.h - state shared by the server's modules: the configuration, the
 * lws context and the secret for pre-login answers. Set up by main.c before
 * the service loop starts; read-only afterwards, so any thread may read it.
 */
#ifndef EMENTORD_SERVER_H
#define EMENTORD_SERVER_H

#include <stdint.h>

#include "config.h"

struct lws_context;

struct server {
	struct config cfg;
	struct lws_context *context;
	unsigned char prelogin_secret[32]; /* keys the fake salts of unknown users */
	int draining; /* SIGTERM/SIGINT seen: finishing work, closing with 1001 (service thread) */
};

extern struct server server;

/* Wall-clock milliseconds (for deadlines on the service thread). */
int64_t server_now_ms(void);
/*
 * Unix seconds on the server's clock: wall-clock time plus --clock-offset.
 * Checkpoints, reminders, calendars and the audit use it (passed to SQL as a
 * parameter); messages' times and read delays use the database's
 * ementor_now(), which adds the same offset (each DB connection is told it:
 * store_clock_sync()). So tests and drills move time without waiting.
 */
int64_t server_clock_s(void);
/* Any thread: --clock-offset in seconds; set at start and by a reload. */
int64_t server_clock_offset(void);
void server_set_clock_offset(int64_t seconds);

#endif
