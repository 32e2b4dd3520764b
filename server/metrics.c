/*
 * metrics.c - the counters behind GET /metrics (see metrics.h) and their
 * Prometheus text rendering. Names follow Prometheus conventions: a unit
 * suffix, `_total` for counters, base units (seconds). No label carries a
 * user, room or anything a user typed: only error codes and DB paths.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "em_proto.h"
#include "metrics.h"

#define ERR_SLOTS 64 /* em_err values are -1 .. -63 */

static const struct {
	const char *name, *help;
} counter_info[M__COUNTERS] = {
    [M_CONNECTIONS_OPENED] = {"ementord_connections_opened_total",
                              "WebSocket connections accepted."},
    [M_CONNECTIONS_CLOSED] = {"ementord_connections_closed_total", "WebSocket connections closed."},
    [M_FRAMES_IN] = {"ementord_frames_received_total", "Complete WebSocket messages received."},
    [M_FRAMES_OUT] = {"ementord_frames_sent_total", "WebSocket messages sent."},
    [M_BYTES_IN] = {"ementord_received_bytes_total", "Bytes of WebSocket messages received."},
    [M_BYTES_OUT] = {"ementord_sent_bytes_total", "Bytes of WebSocket messages sent."},
    [M_LOGINS] = {"ementord_logins_total", "Successful logins and resumes."},
    [M_MESSAGES_PERSISTED] = {"ementord_messages_persisted_total",
                              "Chat messages committed to PostgreSQL."},
    [M_MESSAGES_DUPLICATE] = {"ementord_messages_duplicate_total",
                              "Resent messages recognised and answered with the original ack."},
    [M_SLOW_CONSUMERS] = {"ementord_slow_consumers_closed_total",
                          "Connections closed because they did not read their output."},
    [M_REMINDERS_SENT] = {"ementord_reminders_sent_total",
                          "Meeting reminders turned into notices."},
    [M_HTTP_REQUESTS] = {"ementord_http_requests_total",
                         "Plain HTTP requests (health, metrics, calendar feeds)."},
    [M_CLUSTER_PUBLISHED] = {"ementord_cluster_published_total",
                             "Events announced to the other nodes (NOTIFY)."},
    [M_CLUSTER_RECEIVED] = {"ementord_cluster_received_total",
                            "Announcements of other nodes heard (LISTEN)."},
    [M_CLUSTER_RETRIED] = {"ementord_cluster_read_retries_total",
                           "Remote message ranges read again after a failed or refused read."},
    [M_CLUSTER_MERGED] = {"ementord_cluster_ranges_merged_total",
                          "Unfetched remote ranges merged because a room had too many."},
    [M_CLUSTER_REFUSED] = {"ementord_cluster_refused_total",
                           "Announcements heard that are not a valid payload (dropped)."},
    [M_CLUSTER_CAUGHT_UP] = {"ementord_cluster_caught_up_total",
                             "Messages the catch-up sweep found missing here (an announcement "
                             "missed while LISTEN was down, or never made) and read."},
    [M_SESSIONS_ENDED] = {"ementord_sessions_ended_total",
                          "Connections closed by the session sweep: their session was revoked, "
                          "expired or erased."},
    [M_HTTP_FEEDS_LIMITED] = {"ementord_http_feeds_limited_total",
                              "Calendar feed requests answered 429: their address already "
                              "waited on its share of feeds."},
    [M_PREAUTH_PIPELINE] = {"ementord_preauth_pipeline_closed_total",
                            "Connections closed (1008) for sending more requests before login "
                            "than may wait."},
    [M_PREAUTH_OVERLOADED] = {"ementord_preauth_memory_closed_total",
                              "Connections not logged in closed (1013), or handshakes refused, "
                              "because the memory held for such connections reached "
                              "--preauth-memory."},
};

static atomic_ullong counters[M__COUNTERS];
static atomic_ullong errors[ERR_SLOTS];

/* Histograms: cumulative buckets are computed when rendering. */
static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define N_LAT (sizeof(latency_bounds) / sizeof(latency_bounds[0]))
static const int batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
#define N_BATCH (sizeof(batch_bounds) / sizeof(batch_bounds[0]))

struct histogram {
	atomic_ullong bucket[16]; /* per bucket, not cumulative; the last is +Inf */
	atomic_ullong count;
	atomic_ullong sum_micro; /* sum in millionths of the unit */
};

static struct histogram db_latency[2]; /* 0: worker jobs, 1: batch writer */
static struct histogram batch_size;

void metrics_add(enum metric_counter c, uint64_t n)
{
	if ((unsigned)c < M__COUNTERS)
		atomic_fetch_add_explicit(&counters[c], n, memory_order_relaxed);
}

void metrics_error(int err)
{
	if (err < 0 && -err < ERR_SLOTS)
		atomic_fetch_add_explicit(&errors[-err], 1, memory_order_relaxed);
}

void metrics_db_latency(int64_t us, int batch)
{
	struct histogram *h = &db_latency[batch ? 1 : 0];
	double s = (double)us / 1e6;
	size_t i = 0;

	while (i < N_LAT && s > latency_bounds[i])
		i++;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_micro, (unsigned long long)(us > 0 ? us : 0),
	                          memory_order_relaxed);
}

void metrics_batch(int n)
{
	size_t i = 0;

	while (i < N_BATCH && n > batch_bounds[i])
		i++;
	atomic_fetch_add_explicit(&batch_size.bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&batch_size.count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&batch_size.sum_micro, (unsigned long long)n * 1000000ULL,
	                          memory_order_relaxed);
}

struct out {
	char *s;
	size_t len, cap;
	int failed;
};

static void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void outf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->s + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		char *grown = realloc(o->s, o->cap * 2 + (size_t)n);

		if (!grown) {
			o->failed = 1;
			return;
		}
		o->s = grown;
		o->cap = o->cap * 2 + (size_t)n;
	}
}

static void render_histogram(struct out *o, const char *name, const char *labels,
                             const struct histogram *h, int is_latency)
{
	unsigned long long cum = 0;
	size_t n = is_latency ? N_LAT : N_BATCH;

	for (size_t i = 0; i <= n; i++) {
		cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		if (i == n)
			outf(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
			     *labels ? "," : "", cum);
		else if (is_latency)
			outf(o, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, *labels ? "," : "",
			     latency_bounds[i], cum);
		else
			outf(o, "%s_bucket{%s%sle=\"%d\"} %llu\n", name, labels, *labels ? "," : "",
			     batch_bounds[i], cum);
	}
	outf(o, "%s_sum%s%s%s %.6f\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
	     (double)atomic_load_explicit(&h->sum_micro, memory_order_relaxed) / 1e6);
	outf(o, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
	     (unsigned long long)atomic_load_explicit(&h->count, memory_order_relaxed));
}

char *metrics_render(const struct metrics_gauges *g)
{
	struct out o = {malloc(8192), 0, 8192, 0};
	const char *seen[ERR_SLOTS];
	int n_seen = 0;

	if (!o.s)
		return NULL;
	o.s[0] = 0;
	outf(&o,
	     "# HELP ementord_connections WebSocket connections open now.\n"
	     "# TYPE ementord_connections gauge\nementord_connections %d\n",
	     g->connections);
	outf(&o,
	     "# HELP ementord_sessions_authenticated Open connections that are logged in.\n"
	     "# TYPE ementord_sessions_authenticated gauge\nementord_sessions_authenticated %d\n",
	     g->authenticated);
	outf(
	    &o,
	    "# HELP ementord_connection_memory_bytes Bytes held for connections (requests "
	    "waiting, output queued, fragments).\n"
	    "# TYPE ementord_connection_memory_bytes gauge\nementord_connection_memory_bytes %zu\n",
	    g->conn_bytes);
	outf(&o,
	     "# HELP ementord_preauth_memory_bytes Of those, bytes held for connections not "
	     "logged in (capped by --preauth-memory).\n"
	     "# TYPE ementord_preauth_memory_bytes gauge\nementord_preauth_memory_bytes %zu\n",
	     g->preauth_bytes);
	outf(&o,
	     "# HELP ementord_db_queue_depth Database jobs waiting for a worker.\n"
	     "# TYPE ementord_db_queue_depth gauge\nementord_db_queue_depth %d\n",
	     g->db_queue_depth);
	outf(&o,
	     "# HELP ementord_db_up 1 if a worker reached PostgreSQL recently.\n"
	     "# TYPE ementord_db_up gauge\nementord_db_up %d\n",
	     g->db_up);
	for (int c = 0; c < M__COUNTERS; c++)
		outf(&o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", counter_info[c].name,
		     counter_info[c].help, counter_info[c].name, counter_info[c].name,
		     (unsigned long long)atomic_load_explicit(&counters[c], memory_order_relaxed));

	/* errors by protocol code; several em_errs may share a code (internal) */
	outf(&o, "# HELP ementord_errors_total Error replies sent, by protocol error code.\n"
	         "# TYPE ementord_errors_total counter\n");
	for (int e = 1; e < ERR_SLOTS; e++) {
		const char *code = em_err_code(-e);
		unsigned long long sum = 0;
		int dup = 0;

		if (!strcmp(em_strerror(-e), "unknown error"))
			continue;
		for (int k = 0; k < n_seen; k++)
			dup |= !strcmp(seen[k], code);
		if (dup)
			continue;
		seen[n_seen++] = code;
		for (int f = e; f < ERR_SLOTS; f++)
			if (!strcmp(em_err_code(-f), code) &&
			    strcmp(em_strerror(-f), "unknown error"))
				sum += atomic_load_explicit(&errors[f], memory_order_relaxed);
		outf(&o, "ementord_errors_total{code=\"%s\"} %llu\n", code, sum);
	}
	outf(&o,
	     "# HELP ementord_rate_limited_total Requests refused with rate_limited.\n"
	     "# TYPE ementord_rate_limited_total counter\nementord_rate_limited_total %llu\n",
	     (unsigned long long)atomic_load_explicit(&errors[-EM_ERR_RATE_LIMITED],
	                                              memory_order_relaxed));

	outf(&o, "# HELP ementord_db_job_seconds Time a database job took, by path.\n"
	         "# TYPE ementord_db_job_seconds histogram\n");
	render_histogram(&o, "ementord_db_job_seconds", "path=\"worker\"", &db_latency[0], 1);
	render_histogram(&o, "ementord_db_job_seconds", "path=\"batch_writer\"", &db_latency[1], 1);
	outf(&o, "# HELP ementord_batch_messages Messages per group commit of the batch writer.\n"
	         "# TYPE ementord_batch_messages histogram\n");
	render_histogram(&o, "ementord_batch_messages", "", &batch_size, 0);
	if (o.failed) {
		free(o.s);
		return NULL;
	}
	return o.s;
}
