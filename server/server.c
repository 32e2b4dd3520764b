/*
 * server.c - the shared server state (server.h) and the clock. Kept apart
 * from main.c so that tests can link the server's modules without its main().
 */
#include <time.h>

#include "server.h"

struct server server;

int64_t server_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t server_clock_s(void)
{
	return (int64_t)time(NULL) + server.cfg.clock_offset_s;
}
