/*
 * server.c - the shared server state (server.h) and the clock. Kept apart
 * from main.c so that tests can link the server's modules without its main().
 */
#include <stdatomic.h>
#include <time.h>

#include "server.h"

struct server server;

int64_t server_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --clock-offset: set at start and by a reload, read by every thread */
static _Atomic int64_t clock_offset_s;

void server_set_clock_offset(int64_t seconds)
{
	atomic_store(&clock_offset_s, seconds);
}

int64_t server_clock_offset(void)
{
	return atomic_load(&clock_offset_s);
}

int64_t server_clock_s(void)
{
	return (int64_t)time(NULL) + server_clock_offset();
}
