/*
 * test_metrics.c - server/metrics.c alone: counters added from several
 * threads at once lose nothing; the exposition names every counter once
 * with its value, shows the gauges the caller gave, sums error replies by
 * protocol code (em_errs that share a code add up, unknown ones are
 * ignored), and writes each histogram with cumulative buckets that never
 * fall and end with +Inf equal to _count. The counters are process-wide, so
 * each check works on the difference between two renders.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "em_proto.h"
#include "metrics.h"

static const struct metrics_gauges no_gauges;

/* The value of the sample line that starts with `series ` (name and labels); -1 if none. */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *line = text; line && *line; line = strchr(line, '\n'), line += !!line) {
		if (!strncmp(line, series, n) && line[n] == ' ')
			return strtod(line + n + 1, NULL);
	}
	return -1;
}

static char *render(void)
{
	char *text = metrics_render(&no_gauges);

	assert_non_null(text);
	return text;
}

#define THREADS     4
#define ADDS_PER    200000
#define THREAD_STEP 3

static void *adder(void *arg)
{
	(void)arg;
	for (int i = 0; i < ADDS_PER; i++) {
		metrics_add(M_FRAMES_IN, 1);
		metrics_add(M_BYTES_IN, THREAD_STEP);
		metrics_error(EM_ERR_BUSY);
	}
	return NULL;
}

static void test_threads_lose_nothing(void **state)
{
	pthread_t t[THREADS];
	char *before = render(), *after;

	(void)state;
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, adder, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	after = render();
	assert_true(sample(after, "ementord_frames_received_total") -
	                sample(before, "ementord_frames_received_total") ==
	            (double)THREADS * ADDS_PER);
	assert_true(sample(after, "ementord_received_bytes_total") -
	                sample(before, "ementord_received_bytes_total") ==
	            (double)THREADS * ADDS_PER * THREAD_STEP);
	assert_true(sample(after, "ementord_errors_total{code=\"busy\"}") -
	                sample(before, "ementord_errors_total{code=\"busy\"}") ==
	            (double)THREADS * ADDS_PER);
	free(before);
	free(after);
}

/* Every counter once, as a counter, with the value added to it. */
static void test_every_counter(void **state)
{
	char *before = render(), *after, *p;
	int typed = 0;
	double added = 0, delta = 0;

	(void)state;
	for (int c = 0; c < M__COUNTERS; c++) {
		metrics_add((enum metric_counter)c, 1000u * (unsigned)(c + 1));
		added += 1000.0 * (c + 1);
	}
	metrics_add(M__COUNTERS, 5); /* not a counter: ignored */
	metrics_add((enum metric_counter) - 1, 5);
	after = render();
	/* each "# TYPE NAME counter" but the two error counters is one of ours */
	for (p = strstr(after, "# TYPE "); p; p = strstr(p + 1, "# TYPE ")) {
		char name[128], kind[32], series[160];
		int n_same = 0;

		assert_int_equal(sscanf(p, "# TYPE %127s %31s", name, kind), 2);
		if (strcmp(kind, "counter") || !strcmp(name, "ementord_errors_total") ||
		    !strcmp(name, "ementord_rate_limited_total"))
			continue;
		typed++;
		assert_true(strlen(name) > 6 && !strcmp(name + strlen(name) - 6, "_total"));
		snprintf(series, sizeof(series), "# TYPE %s ", name);
		for (char *q = strstr(after, series); q; q = strstr(q + 1, series))
			n_same++;
		assert_int_equal(n_same, 1);
		snprintf(series, sizeof(series), "# HELP %s ", name);
		assert_non_null(strstr(after, series));
		assert_true(sample(after, name) >= 0);
		delta += sample(after, name) - sample(before, name);
	}
	assert_int_equal(typed, M__COUNTERS);
	/* the values added show up, each on one counter: the sum of the differences */
	assert_true(delta == added);
	/* and one by name */
	assert_true(sample(after, "ementord_slow_consumers_closed_total") -
	                sample(before, "ementord_slow_consumers_closed_total") ==
	            1000.0 * (M_SLOW_CONSUMERS + 1));
	free(before);
	free(after);
}

static void test_gauges(void **state)
{
	struct metrics_gauges g = {.connections = 17,
	                           .authenticated = 9,
	                           .conn_bytes = 123456789,
	                           .preauth_bytes = 4321,
	                           .db_queue_depth = 3,
	                           .db_up = 1};
	char *text;

	(void)state;
	text = metrics_render(&g);
	assert_non_null(text);
	assert_true(sample(text, "ementord_connections") == 17);
	assert_true(sample(text, "ementord_sessions_authenticated") == 9);
	assert_true(sample(text, "ementord_connection_memory_bytes") == 123456789);
	assert_true(sample(text, "ementord_preauth_memory_bytes") == 4321);
	assert_true(sample(text, "ementord_db_queue_depth") == 3);
	assert_true(sample(text, "ementord_db_up") == 1);
	assert_non_null(strstr(text, "# TYPE ementord_connections gauge\n"));
	free(text);
	text = metrics_render(&no_gauges);
	assert_true(sample(text, "ementord_connections") == 0);
	assert_true(sample(text, "ementord_db_up") == 0);
	free(text);
}

/* Error replies by protocol code: several em_errs may share one ("internal"). */
static void test_errors_by_code(void **state)
{
	char *before = render(), *after, series[128];
	int shared = 0;

	(void)state;
	/* err -e is counted e times */
	for (int e = 1; e < 64; e++)
		for (int k = 0; k < e; k++)
			metrics_error(-e);
	metrics_error(0);
	metrics_error(1);
	metrics_error(-64);
	metrics_error(-100000);
	after = render();
	for (int e = 1; e < 64; e++) {
		const char *code = em_err_code(-e);
		double want = 0;
		int first = 1;

		if (!strcmp(em_strerror(-e), "unknown error"))
			continue;
		for (int f = 1; f < 64; f++) {
			if (!strcmp(em_strerror(-f), "unknown error") ||
			    strcmp(em_err_code(-f), code))
				continue;
			want += f;
			if (f < e)
				first = 0;
			if (f != e)
				shared = 1;
		}
		snprintf(series, sizeof(series), "ementord_errors_total{code=\"%s\"}", code);
		assert_true(sample(after, series) >= 0);
		/* one line per code */
		assert_null(strstr(strstr(after, series) + 1, series));
		if (!first)
			continue;
		if (sample(after, series) - sample(before, series) != want) {
			print_error("%s: %g, want %g\n", series,
			            sample(after, series) - sample(before, series), want);
			fail();
		}
	}
	/* the table does have codes shared by several errors (internal, out of memory) */
	assert_true(shared);
	assert_true(sample(after, "ementord_errors_total{code=\"internal\"}") -
	                sample(before, "ementord_errors_total{code=\"internal\"}") ==
	            -EM_ERR_INTERNAL - EM_ERR_NOMEM);
	assert_true(sample(after, "ementord_rate_limited_total") -
	                sample(before, "ementord_rate_limited_total") ==
	            -EM_ERR_RATE_LIMITED);
	free(before);
	free(after);
}

/*
 * The buckets of the histogram series `name{labels` in text: cumulative
 * counts in order, checked never to fall, the last one +Inf and equal to
 * _count. Returns the number of buckets; the counts go to cum.
 */
static int buckets(const char *text, const char *name, const char *labels, double *cum, int max,
                   double *sum)
{
	char prefix[160], series[160];
	int n = 0;
	size_t len;
	const char *p;

	snprintf(prefix, sizeof(prefix), "%s_bucket{%s%sle=\"", name, labels, *labels ? "," : "");
	len = strlen(prefix);
	for (p = strstr(text, prefix); p; p = strstr(p + 1, prefix)) {
		const char *end = strchr(p + len, '"');

		assert_non_null(end);
		assert_true(n < max);
		cum[n] = strtod(strchr(end, ' ') + 1, NULL);
		if (n > 0)
			assert_true(cum[n] >= cum[n - 1]);
		n++;
		if (!strncmp(p + len, "+Inf\"", 5))
			break;
	}
	assert_non_null(p); /* ended with +Inf */
	assert_null(strstr(p + 1, prefix));
	snprintf(series, sizeof(series), "%s_count%s%s%s", name, *labels ? "{" : "", labels,
	         *labels ? "}" : "");
	assert_true(sample(text, series) == cum[n - 1]);
	snprintf(series, sizeof(series), "%s_sum%s%s%s", name, *labels ? "{" : "", labels,
	         *labels ? "}" : "");
	*sum = sample(text, series);
	return n;
}

static void test_histograms(void **state)
{
	double b0[32], b1[32], sum0, sum1;
	int n0, n1;
	char *before = render(), *after;

	(void)state;
	n0 = buckets(before, "ementord_db_job_seconds", "path=\"worker\"", b0, 32, &sum0);
	assert_int_equal(n0, 13);
	/* 100 us and 500 us go in le=0.0005 (le: less or equal), 700 us in 0.001, 3 s past 2.5 */
	metrics_db_latency(100, 0);
	metrics_db_latency(500, 0);
	metrics_db_latency(700, 0);
	metrics_db_latency(3000000, 0);
	metrics_db_latency(-5, 0); /* a clock step back: counted as 0 */
	after = render();
	n1 = buckets(after, "ementord_db_job_seconds", "path=\"worker\"", b1, 32, &sum1);
	assert_int_equal(n1, n0);
	assert_true(b1[0] - b0[0] == 3);   /* le=0.0005: -5, 100, 500 */
	assert_true(b1[1] - b0[1] == 4);   /* le=0.001 */
	assert_true(b1[11] - b0[11] == 4); /* le=2.5 */
	assert_true(b1[12] - b0[12] == 5); /* +Inf */
	assert_true(sum1 - sum0 > 3.0012995 && sum1 - sum0 < 3.0013005);
	/* the batch writer's series did not move */
	n0 = buckets(before, "ementord_db_job_seconds", "path=\"batch_writer\"", b0, 32, &sum0);
	n1 = buckets(after, "ementord_db_job_seconds", "path=\"batch_writer\"", b1, 32, &sum1);
	assert_int_equal(n0, n1);
	assert_true(b1[n1 - 1] == b0[n0 - 1]);
	free(before);
	free(after);

	before = render();
	n0 = buckets(before, "ementord_batch_messages", "", b0, 32, &sum0);
	metrics_batch(1);
	metrics_batch(3);
	metrics_batch(4);
	metrics_batch(5000);
	metrics_db_latency(20000, 1);
	after = render();
	n1 = buckets(after, "ementord_batch_messages", "", b1, 32, &sum1);
	assert_int_equal(n1, 13);
	assert_int_equal(n0, n1);
	assert_true(b1[0] - b0[0] == 1);   /* le=1 */
	assert_true(b1[1] - b0[1] == 1);   /* le=2 */
	assert_true(b1[2] - b0[2] == 3);   /* le=4: 1, 3, 4 */
	assert_true(b1[11] - b0[11] == 3); /* le=4096 */
	assert_true(b1[12] - b0[12] == 4); /* +Inf */
	assert_true(sum1 - sum0 == 5008);
	n1 = buckets(after, "ementord_db_job_seconds", "path=\"batch_writer\"", b1, 32, &sum1);
	assert_true(b1[n1 - 1] >= 1);
	free(before);
	free(after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_threads_lose_nothing),
	    cmocka_unit_test(test_every_counter),
	    cmocka_unit_test(test_gauges),
	    cmocka_unit_test(test_errors_by_code),
	    cmocka_unit_test(test_histograms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
