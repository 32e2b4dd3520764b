/*
 * idle.c - ementor-idle: scenario B1 (idle hold) and the reconnect storm
 * (bench/README.md) against a real ementord, through the real ementor.v1
 * protocol over TLS.
 *
 * N connections each resume the same session token (one user logged in N
 * times: what the server holds per connection is the same as for N users;
 * bench/idle.sh says so with its figures) and `sync` with no cursors, then
 * stay idle, sending the protocol's `ping` every --ping seconds. Phases:
 *   1. connect: at most --parallel handshakes (TLS, upgrade, resume, sync)
 *      in flight at a time until all N are up;
 *   2. hold for --hold seconds;
 *   3. with --storm: every connection is dropped at once (no close
 *      handshake, as after a network blip or a server restart) and all N
 *      reconnect at once (--storm-parallel handshakes in flight), timed until
 *      every one has resumed and synced again, then held --hold seconds more;
 *   4. every connection is closed, and the process ends.
 * Each phase prints one line "ementor-idle: phase=... conns=... failed=...
 * seconds=... rate=..." on stdout, flushed, so that a script reading it can
 * sample the server's memory between phases. Errors other than a retryable
 * `busy` count as failed; a `busy` is retried after its retry_after_ms.
 *
 * Thread: everything on the main thread, inside lws_service().
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "em_proto.h"

enum idle_state { I_DOWN = 0, I_CONNECTING, I_RESUMING, I_SYNCING, I_UP, I_FAILED };

struct idle_conn {
	struct lws *wsi;
	enum idle_state state;
	int64_t next_ping_us; /* 0: none due */
	int64_t retry_at_us;  /* a busy answer: connect again then */
	char out[160];        /* the frame waiting for WRITEABLE ("" none) */
	char in[1024];        /* a reply being reassembled */
	size_t in_len;
};

static struct {
	const char *host, *path, *ca, *token;
	int port, conns, parallel, storm_parallel, hold_s, ping_s, storm;
	struct lws_context *ctx;
	struct idle_conn *c;
	int inflight, up, failed, busy, next; /* next: the first connection not started */
	int phase_parallel;
	int done;
	int64_t progress_us; /* the next progress line on stderr */
	lws_sorted_usec_list_t tick;
} g;

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void idle_send(struct idle_conn *c, const char *op, const char *args)
{
	snprintf(c->out, sizeof(c->out), "{\"id\":1,\"op\":\"%s\",\"args\":%s}", op, args);
	lws_callback_on_writable(c->wsi);
}

static const char *const sources[4] = {"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"};

static void idle_connect(struct idle_conn *c)
{
	struct lws_client_connect_info cc;

	memset(&cc, 0, sizeof(cc));
	cc.context = g.ctx;
	cc.address = g.host;
	cc.port = g.port;
	cc.path = g.path;
	cc.host = g.host;
	cc.protocol = EM_SUBPROTOCOL;
	cc.local_protocol_name = EM_SUBPROTOCOL;
	cc.ssl_connection = LCCSCF_USE_SSL;
	cc.opaque_user_data = c;
	cc.pwsi = &c->wsi;
	/*
	 * Source addresses 127.0.0.1 to .4 in turn: one address to one server
	 * port has about 14,000 ephemeral ports for connect() (Linux keeps
	 * half the range for bind()), fewer than B1's 19,000 connections.
	 */
	cc.iface = sources[(c - g.c) % 4];
	c->state = I_CONNECTING;
	c->in_len = 0;
	c->out[0] = '\0';
	g.inflight++;
	if (!lws_client_connect_via_info(&cc) && c->state == I_CONNECTING) {
		c->state = I_FAILED;
		g.inflight--;
		g.failed++;
	}
}

/* Starts handshakes while fewer than the phase's limit are in flight. */
static void idle_fill(void)
{
	int64_t t = now_us();

	for (int i = 0; i < g.conns && g.inflight < g.phase_parallel; i++) {
		struct idle_conn *c = &g.c[(g.next + i) % g.conns];

		if (c->state == I_DOWN && (!c->retry_at_us || c->retry_at_us <= t)) {
			c->retry_at_us = 0;
			idle_connect(c);
		}
	}
}

/* One reply: resume's and sync's move the connection on; ping's is ignored. */
static void idle_reply(struct idle_conn *c)
{
	json_t *j = json_loadb(c->in, c->in_len, 0, NULL);
	json_t *err = json_object_get(j, "error");

	if (!j || !json_object_get(j, "re")) {
		json_decref(j);
		return; /* an event: nothing to do */
	}
	if (err) {
		const char *code = json_string_value(json_object_get(err, "code"));

		if (c->state != I_UP && code && !strcmp(code, "busy")) {
			int64_t retry = json_integer_value(json_object_get(err, "retry_after_ms"));

			g.busy++;
			c->retry_at_us = now_us() + (retry > 0 ? retry : 500) * 1000;
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		} else if (c->state != I_UP) {
			fprintf(stderr, "ementor-idle: %s refused: %s\n",
			        c->state == I_RESUMING ? "resume" : "sync", code ? code : "?");
			c->state = I_FAILED;
			g.inflight--;
			g.failed++;
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		}
	} else if (c->state == I_RESUMING) {
		c->state = I_SYNCING;
		idle_send(c, "sync", "{\"cursors\":[]}");
	} else if (c->state == I_SYNCING) {
		c->state = I_UP;
		c->next_ping_us = now_us() + (int64_t)g.ping_s * 1000000;
		g.inflight--;
		g.up++;
	}
	json_decref(j);
}

static int idle_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
	struct idle_conn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
	unsigned char buf[LWS_PRE + sizeof(((struct idle_conn *)0)->out)];

	(void)user;
	if (!c)
		return 0; /* the protocol's own callbacks (init, destroy) */
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED: {
		char args[EM_TOKEN_MAX + 32];

		c->state = I_RESUMING;
		snprintf(args, sizeof(args), "{\"token\":\"%s\"}", g.token);
		idle_send(c, "resume", args);
		break;
	}
	case LWS_CALLBACK_CLIENT_WRITEABLE: {
		size_t n = strlen(c->out);

		if (!n)
			break;
		memcpy(buf + LWS_PRE, c->out, n);
		c->out[0] = '\0';
		if (lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT) < (int)n)
			return -1;
		break;
	}
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (c->in_len + len <= sizeof(c->in)) {
			memcpy(c->in + c->in_len, in, len);
			c->in_len += len;
		} else {
			c->in_len = sizeof(c->in) + 1; /* too long: not a reply we wait for */
		}
		if (lws_is_final_fragment(wsi)) {
			if (c->in_len <= sizeof(c->in))
				idle_reply(c);
			c->in_len = 0;
		}
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c->state == I_UP) {
			g.up--;
		} else if (c->state != I_DOWN && c->state != I_FAILED) {
			g.inflight--;
			if (!c->retry_at_us) { /* not a busy answer being retried */
				if (reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR)
					fprintf(stderr, "ementor-idle: connect failed: %s\n",
					        in ? (const char *)in : "?");
				g.failed++;
				c->state = I_FAILED;
				break;
			}
		}
		if (c->state != I_FAILED)
			c->state = I_DOWN;
		c->wsi = NULL;
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
    {.name = EM_SUBPROTOCOL, .callback = idle_callback},
    {.name = NULL, .callback = NULL},
};

/* Every 100 ms: start handshakes, send the pings that are due. */
static void idle_tick(lws_sorted_usec_list_t *sul)
{
	int64_t t = now_us();

	idle_fill();
	if (t >= g.progress_us) {
		g.progress_us = t + 5000000;
		fprintf(stderr, "ementor-idle: up=%d in_flight=%d failed=%d busy=%d\n", g.up,
		        g.inflight, g.failed, g.busy);
	}
	for (int i = 0; i < g.conns; i++) {
		struct idle_conn *c = &g.c[i];

		if (c->state == I_UP && c->next_ping_us && c->next_ping_us <= t && !c->out[0]) {
			c->next_ping_us = t + (int64_t)g.ping_s * 1000000;
			idle_send(c, "ping", "{}");
		}
	}
	lws_sul_schedule(g.ctx, 0, sul, idle_tick, 100 * LWS_US_PER_MS);
}

/* Services until pred() or the deadline; returns 0, or -1 at the deadline. */
static int idle_until(int (*pred)(void), int64_t deadline_us)
{
	while (!pred()) {
		if (now_us() > deadline_us || g.done)
			return -1;
		lws_service(g.ctx, 0);
	}
	return 0;
}

static int all_settled(void)
{
	return g.up + g.failed >= g.conns;
}

static int none_left(void)
{
	for (int i = 0; i < g.conns; i++)
		if (g.c[i].wsi)
			return 0;
	return 1;
}

static int never(void)
{
	return 0;
}

static void idle_report(const char *phase, int64_t t0)
{
	double s = (double)(now_us() - t0) / 1e6;

	printf("ementor-idle: phase=%s conns=%d up=%d failed=%d busy=%d seconds=%.2f rate=%.0f/s\n",
	       phase, g.conns, g.up, g.failed, g.busy, s, s > 0.01 ? g.up / s : 0.0);
	fflush(stdout);
}

/* Connects every connection that is down, at most `parallel` at a time. */
static int idle_phase_connect(const char *phase, int parallel)
{
	int64_t t0 = now_us();
	int rc;

	g.busy = 0;
	g.phase_parallel = parallel;
	idle_fill();
	rc = idle_until(all_settled, t0 + 600 * 1000000LL);
	idle_report(phase, t0);
	return rc;
}

static void idle_hold(void)
{
	idle_until(never, now_us() + (int64_t)g.hold_s * 1000000);
	idle_report("held", now_us());
}

/* Drops (storm: no close handshake) or closes every connection; waits until all are gone. */
static void idle_drop_all(int abrupt)
{
	int64_t t0 = now_us();

	g.phase_parallel = 0; /* start nothing meanwhile */
	for (int i = 0; i < g.conns; i++)
		if (g.c[i].wsi)
			lws_set_timeout(g.c[i].wsi, PENDING_TIMEOUT_USER_OK,
			                abrupt ? LWS_TO_KILL_SYNC : LWS_TO_KILL_ASYNC);
	idle_until(none_left, t0 + 60 * 1000000LL);
	for (int i = 0; i < g.conns; i++)
		if (g.c[i].state != I_FAILED)
			g.c[i].state = I_DOWN;
	idle_report(abrupt ? "dropped" : "closed", t0);
}

static const char usage[] =
    "Usage: ementor-idle --url wss://127.0.0.1:PORT --ca CERT.pem --token TOKEN\n"
    "                    [--conns N] [--parallel P] [--hold S] [--ping S]\n"
    "                    [--storm] [--storm-parallel P]\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"ca", required_argument, NULL, 'a'},
	    {"token", required_argument, NULL, 't'},
	    {"conns", required_argument, NULL, 'n'},
	    {"parallel", required_argument, NULL, 'p'},
	    {"hold", required_argument, NULL, 'h'},
	    {"ping", required_argument, NULL, 'i'},
	    {"storm", no_argument, NULL, 's'},
	    {"storm-parallel", required_argument, NULL, 'P'},
	    {NULL, 0, NULL, 0},
	};
	struct lws_context_creation_info info;
	static char host[256];
	const char *url = NULL;
	struct rlimit rl;
	int o, rc = 1;

	g.conns = 1000;
	g.parallel = 200;
	g.storm_parallel = 2000;
	g.hold_s = 30;
	g.ping_s = 30;
	g.path = "/";
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'u':
			url = optarg;
			break;
		case 'a':
			g.ca = optarg;
			break;
		case 't':
			g.token = optarg;
			break;
		case 'n':
			g.conns = atoi(optarg);
			break;
		case 'p':
			g.parallel = atoi(optarg);
			break;
		case 'h':
			g.hold_s = atoi(optarg);
			break;
		case 'i':
			g.ping_s = atoi(optarg);
			break;
		case 's':
			g.storm = 1;
			break;
		case 'P':
			g.storm_parallel = atoi(optarg);
			break;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!url || !g.ca || !g.token || g.conns < 1 || g.parallel < 1 || g.ping_s < 1 ||
	    g.hold_s < 0 || g.storm_parallel < 1 || strlen(g.token) > EM_TOKEN_MAX ||
	    sscanf(url, "wss://%255[^:/]:%d", host, &g.port) != 2 || strcmp(host, "127.0.0.1")) {
		fputs(usage, stderr);
		fputs("(loopback only: the URL must be wss://127.0.0.1:PORT)\n", stderr);
		return 2;
	}
	g.host = host;
	/* one fd per connection: as many as the hard limit allows */
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)g.conns + 64) {
			fprintf(
			    stderr,
			    "ementor-idle: %d connections need %d open files; the limit is %lu\n",
			    g.conns, g.conns + 64, (unsigned long)rl.rlim_cur);
			return 2;
		}
	}
	if (!(g.c = calloc((size_t)g.conns, sizeof(*g.c))))
		return 1;
	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.gid = -1;
	info.uid = -1;
	info.fd_limit_per_thread = (unsigned)g.conns + 64;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.client_ssl_ca_filepath = g.ca;
	g.ctx = lws_create_context(&info);
	if (!g.ctx) {
		fprintf(stderr, "ementor-idle: cannot create the lws context\n");
		goto out;
	}
	lws_sul_schedule(g.ctx, 0, &g.tick, idle_tick, 100 * LWS_US_PER_MS);
	if (idle_phase_connect("connected", g.parallel))
		goto out;
	idle_hold();
	if (g.storm) {
		idle_drop_all(1);
		if (idle_phase_connect("reconnected", g.storm_parallel))
			goto out;
		idle_hold();
	}
	idle_drop_all(0);
	rc = g.failed ? 1 : 0;
out:
	if (g.ctx)
		lws_context_destroy(g.ctx);
	free(g.c);
	return rc;
}
