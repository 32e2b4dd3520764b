/*
 * metrics.c (stub) - server/metrics.h's updates counted in plain arrays, so
 * a test can check what a module counted (metrics.c itself has its own test).
 */
#include <string.h>

#include "metrics.h"
#include "stubs.h"

_Static_assert(M__COUNTERS <= 64, "stub_metrics holds every counter");

uint64_t stub_metrics[64];
int stub_metrics_errors[64];

void stub_metrics_reset(void)
{
	memset(stub_metrics, 0, sizeof(stub_metrics));
	memset(stub_metrics_errors, 0, sizeof(stub_metrics_errors));
}

void metrics_add(enum metric_counter c, uint64_t n)
{
	if ((unsigned)c < 64)
		stub_metrics[c] += n;
}

void metrics_error(int err)
{
	if (err < 0 && err > -64)
		stub_metrics_errors[-err]++;
}

void metrics_db_latency(int64_t us, int batch)
{
	(void)us;
	(void)batch;
}

void metrics_batch(int n)
{
	(void)n;
}
