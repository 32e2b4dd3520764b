/*
 * metrics.h - counters, gauges and histograms for GET /metrics (Prometheus
 * text format 0.0.4). Updating is lock-free (C11 atomics) and safe from any
 * thread: the service thread, DB workers and the batch writer. The module
 * knows nothing else of the server: the caller of metrics_render() reads the
 * gauges (http.c, on the service thread), so it never waits for anything.
 */
#ifndef EMENTORD_METRICS_H
#define EMENTORD_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum metric_counter {
	M_CONNECTIONS_OPENED,
	M_CONNECTIONS_CLOSED,
	M_FRAMES_IN,
	M_FRAMES_OUT,
	M_BYTES_IN,
	M_BYTES_OUT,
	M_LOGINS,
	M_MESSAGES_PERSISTED,
	M_MESSAGES_DUPLICATE,
	M_SLOW_CONSUMERS,
	M_REMINDERS_SENT,
	M_HTTP_REQUESTS,
	M_CLUSTER_PUBLISHED,
	M_CLUSTER_RECEIVED,
	M_CLUSTER_RETRIED,
	M_CLUSTER_MERGED,
	M_CLUSTER_REFUSED,
	M_CLUSTER_CAUGHT_UP,
	M_SESSIONS_ENDED,
	M_HTTP_FEEDS_LIMITED,
	M_PREAUTH_PIPELINE,
	M_PREAUTH_OVERLOADED,
	M__COUNTERS
};

void metrics_add(enum metric_counter c, uint64_t n);
/* An error reply of em_err `err` (negative) was sent. */
void metrics_error(int err);
/* A DB job ran for `us` microseconds on a worker (batch = 0) or the batch writer (1). */
void metrics_db_latency(int64_t us, int batch);
/* The batch writer committed a batch of n sends. */
void metrics_batch(int n);

/* The gauges of one exposition, read by the caller when it renders. */
struct metrics_gauges {
	int connections;      /* WebSocket connections open */
	int authenticated;    /* of those, logged in */
	size_t conn_bytes;    /* bytes held for connections */
	size_t preauth_bytes; /* of those, for connections not logged in */
	int db_queue_depth;   /* DB jobs waiting for a worker */
	int db_up;            /* 1 if a worker reached PostgreSQL recently */
};

/*
 * Any thread: the whole exposition (malloc'd text) with the counters as they
 * are and the caller's gauges. NULL: no memory.
 */
char *metrics_render(const struct metrics_gauges *g);

#endif
