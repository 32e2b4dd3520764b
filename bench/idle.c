/*
 * idle.c - ementor-idle: scenario B1 (idle hold) and the reconnect storm
 * (bench/README.md) against a real ementord, through the real ementor.v1
 * protocol over TLS.
 *
 * N connections each resume the same session token (one user logged in N
 * times: what the server holds per connection is the same as for N users;
 * bench/idle.sh says so with its figures) and `sync` with no cursors, then
 * stay idle, sending the protocol's `ping` every --ping seconds. A
 * connection counts as up once it has the `synced` event that ends sync's
 * replay. Phases:
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
 * sample the server's memory between phases, and then one self-check line
 * "ementor-idle: check phase=... ok|FAILED ..." (see idle_check()).
 *
 * Retryable answers: a `busy` reply to resume or sync is sent again on the
 * same connection after its retry_after_ms (PROTOCOL.md: nothing was
 * changed); a close with 1013 (server_busy) reconnects after 1 s with
 * jitter. Both count as `busy`. Anything else that stops a connection before
 * it is up counts as failed, by cause, and is not retried.
 *
 * Accounting: every connection attempt ends in exactly one
 * LWS_CALLBACK_WSI_DESTROY (lws 4.1.6 calls it from
 * __lws_close_free_wsi_final for every wsi it created, whatever its state);
 * that is the only place a connection stops being in flight or up. The
 * error and close callbacks only note the cause: lws reports a client that
 * dies before the upgrade as LWS_CALLBACK_CLOSED_CLIENT_HTTP (the wsi is
 * still in the h1 role then), not as CLIENT_CONNECTION_ERROR or
 * CLIENT_CLOSED.
 *
 * Thread: everything on the main thread, inside lws_service().
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "em_proto.h"

enum idle_state { I_DOWN = 0, I_CONNECTING, I_RESUMING, I_SYNCING, I_UP, I_FAILED, I_NSTATES };

static const char *const state_names[I_NSTATES] = {"down",    "connecting", "resuming",
                                                   "syncing", "up",         "failed"};

/* Why a connection failed: the first cause noted for its attempt. */
enum idle_why { W_NONE = 0, W_CONNECT, W_UPGRADE, W_CLOSED, W_REFUSED, W_NWHY };

static const char *const why_names[W_NWHY] = {"gone", "connect", "upgrade", "closed", "refused"};

#define IDLE_FAIL_LINES 5 /* failures described on stderr per cause; the rest are only counted */

struct idle_conn {
	struct lws *wsi; /* NULL exactly when lws holds no connection for it (WSI_DESTROY) */
	enum idle_state state;
	enum idle_why why;
	char why_text[96];
	int close_code;        /* the server's close code, 0 none */
	char close_reason[48]; /* and its reason text */
	int sync_answered;     /* I_SYNCING: sync's reply came; waiting for `synced` */
	int64_t next_ping_us;  /* 0: none due */
	int64_t retry_at_us;   /* I_DOWN after a 1013 close: connect again then */
	int64_t resend_at_us;  /* I_RESUMING / I_SYNCING after `busy`: send again then */
	char out[160];         /* the frame waiting for WRITEABLE ("" none) */
	char in[1024];         /* a reply being reassembled */
	size_t in_len;
};

static struct {
	const char *host, *path, *ca, *token;
	int port, conns, parallel, storm_parallel, hold_s, ping_s, storm, timeout_s;
	struct lws_context *ctx;
	struct idle_conn *c;
	int inflight, up, failed, busy, busy_closes, lost; /* busy: answers and 1013 closes */
	int why[W_NWHY];
	int phase_parallel;
	int dropping;                 /* closes are ours: up connections going are not lost */
	int checks_failed;            /* self-checks that did not hold */
	int base_sockets;             /* sockets open before any connection (lws's own) */
	struct idle_conn *connecting; /* inside lws_client_connect_via_info() for it */
	int64_t phase_t0_us;          /* when the current phase began */
	int64_t last_start_us;        /* when the phase's last handshake began */
	int64_t progress_us;          /* the next progress line on stderr */
	lws_sorted_usec_list_t tick;
} g;

/*
 * No validity timers on the client: lws 4.1.6 re-arms them on every frame
 * with a linear insert into one sorted list (O(n) per frame at n
 * connections, bench/RESULTS.md B1), and the protocol's own `ping` keeps
 * the connections alive.
 */
static const lws_retry_bo_t idle_retry = {.secs_since_valid_ping = 0, .secs_since_valid_hangup = 0};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int idle_in_flight(const struct idle_conn *c)
{
	return c->state == I_CONNECTING || c->state == I_RESUMING || c->state == I_SYNCING;
}

static void idle_send(struct idle_conn *c, const char *op, const char *args)
{
	snprintf(c->out, sizeof(c->out), "{\"id\":1,\"op\":\"%s\",\"args\":%s}", op, args);
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

/* The request of the connection's state: resume or sync. */
static void idle_send_step(struct idle_conn *c)
{
	char args[EM_TOKEN_MAX + 32];

	if (c->state == I_RESUMING) {
		snprintf(args, sizeof(args), "{\"token\":\"%s\"}", g.token);
		idle_send(c, "resume", args);
	} else if (c->state == I_SYNCING) {
		idle_send(c, "sync", "{\"cursors\":[]}");
	}
}

/* Notes the first cause of a failure of this attempt (counted when the wsi goes). */
static void idle_note(struct idle_conn *c, enum idle_why why, const char *text)
{
	if (c->why != W_NONE)
		return;
	c->why = why;
	snprintf(c->why_text, sizeof(c->why_text), "%s", text);
}

static void idle_fail(struct idle_conn *c)
{
	c->state = I_FAILED;
	g.failed++;
	g.why[c->why]++;
	if (g.why[c->why] <= IDLE_FAIL_LINES)
		fprintf(stderr, "ementor-idle: connection %d failed (%s): %s%s\n", (int)(c - g.c),
		        why_names[c->why], c->why_text[0] ? c->why_text : "destroyed with no error",
		        g.why[c->why] == IDLE_FAIL_LINES ? " (further ones are only counted)" : "");
}

static const char *const sources[4] = {"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"};

static void idle_connect(struct idle_conn *c)
{
	struct lws_client_connect_info cc;
	struct lws *wsi;

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
	cc.retry_and_idle_policy = &idle_retry;
	/*
	 * Source addresses 127.0.0.1 to .4 in turn. lws binds the source
	 * address before connect(), and bind() gives each socket its own
	 * ephemeral port per address (28,232 here: 32768-60999); four
	 * addresses leave room at 19,000. The storm's drop leaves no TIME_WAIT
	 * (README.md).
	 */
	cc.iface = sources[(c - g.c) % 4];
	c->state = I_CONNECTING;
	c->why = W_NONE;
	c->why_text[0] = '\0';
	c->close_code = 0;
	c->close_reason[0] = '\0';
	c->sync_answered = 0;
	c->retry_at_us = 0;
	c->resend_at_us = 0;
	c->in_len = 0;
	c->out[0] = '\0';
	g.inflight++;
	g.last_start_us = now_us();
	/*
	 * lws stores the wsi through cc.pwsi only once the connect has gone
	 * far enough; before that it reports no CONNECTION_ERROR (it returns
	 * NULL), and it may or may not have called WSI_DESTROY (a socket()
	 * failure frees the wsi without it). WSI_DESTROY leaves the state
	 * I_FAILED or I_DOWN, so I_CONNECTING here means nobody counted it.
	 */
	g.connecting = c;
	wsi = lws_client_connect_via_info(&cc);
	g.connecting = NULL;
	if (wsi) {
		c->wsi = wsi;
	} else if (c->state == I_CONNECTING) {
		g.inflight--;
		idle_note(c, W_CONNECT, "lws_client_connect_via_info failed");
		idle_fail(c);
	}
}

/* Starts handshakes while fewer than the phase's limit are in flight. */
static void idle_fill(void)
{
	int64_t t = now_us();

	for (int i = 0; i < g.conns && g.inflight < g.phase_parallel; i++) {
		struct idle_conn *c = &g.c[i];

		if (c->state == I_DOWN && (!c->retry_at_us || c->retry_at_us <= t))
			idle_connect(c);
	}
}

/* One frame: resume's and sync's replies and the `synced` event move the connection on. */
static void idle_frame(struct idle_conn *c)
{
	json_t *j = json_loadb(c->in, c->in_len, 0, NULL);
	json_t *err = json_object_get(j, "error");
	const char *ev = json_string_value(json_object_get(j, "ev"));

	if (!j)
		goto out;
	if (ev) {
		if (c->state == I_SYNCING && c->sync_answered && !strcmp(ev, "synced")) {
			c->state = I_UP;
			c->next_ping_us = now_us() + (int64_t)g.ping_s * 1000000;
			g.inflight--;
			g.up++;
		}
		goto out;
	}
	if (!json_object_get(j, "re") || c->state == I_UP)
		goto out; /* a ping's reply, or not a reply */
	if (err) {
		const char *code = json_string_value(json_object_get(err, "code"));
		char text[96];

		if (code && !strcmp(code, "busy")) {
			int64_t retry = json_integer_value(json_object_get(err, "retry_after_ms"));

			g.busy++;
			c->resend_at_us = now_us() + (retry > 0 ? retry : 500) * 1000;
		} else if (idle_in_flight(c)) {
			snprintf(text, sizeof(text), "%s refused: %s",
			         c->state == I_RESUMING ? "resume" : "sync", code ? code : "?");
			idle_note(c, W_REFUSED, text);
			g.inflight--;
			idle_fail(c);
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		}
	} else if (c->state == I_RESUMING) {
		c->state = I_SYNCING;
		idle_send_step(c);
	} else if (c->state == I_SYNCING) {
		c->sync_answered = 1;
	}
out:
	json_decref(j);
}

/*
 * Whether the server closed with 1013 (try again later: PROTOCOL.md says
 * reconnect with backoff). lws 4.1.6's client parser rewrites a received
 * 1012, 1013 or 1014 to 1002 before the callback sees it
 * (roles/ws/client-parser-ws.c) but keeps the reason text, so ementord's
 * 1013 is known by its reasons ("server busy; reconnect", "server_busy").
 */
static int idle_try_again(const struct idle_conn *c)
{
	return c->close_code == 1013 ||
	       (c->close_code == 1002 && (!strncmp(c->close_reason, "server busy", 11) ||
	                                  !strcmp(c->close_reason, "server_busy")));
}

/* The wsi of a connection is gone for good: the one place that ends an attempt. */
static void idle_gone(struct idle_conn *c)
{
	c->wsi = NULL;
	if (c->state == I_UP) {
		g.up--;
		if (!g.dropping)
			g.lost++;
		c->state = I_DOWN;
	} else if (idle_in_flight(c)) {
		g.inflight--;
		if (c == g.connecting) /* lws reports no CONNECTION_ERROR from inside the call */
			idle_note(c, W_CONNECT, "failed inside lws_client_connect_via_info");
		if (idle_try_again(c)) { /* reconnect with backoff and jitter */
			g.busy++;
			g.busy_closes++;
			c->state = I_DOWN;
			c->retry_at_us = now_us() + 1000000 + rand() % 1000000;
		} else if (g.dropping) {
			c->state = I_DOWN;
		} else {
			idle_fail(c);
		}
	}
}

static int idle_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
	struct idle_conn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
	unsigned char buf[LWS_PRE + sizeof(((struct idle_conn *)0)->out)];
	char text[96];

	(void)user;
	if (!c)
		return 0; /* the protocol's own callbacks (init, destroy) */
	if (c->wsi && c->wsi != wsi) {
		/* cannot happen: a connection starts again only after WSI_DESTROY */
		fprintf(stderr, "ementor-idle: callback %d for a stale wsi of connection %d\n",
		        (int)reason, (int)(c - g.c));
		g.checks_failed++;
		return 0;
	}
	if (!c->wsi && idle_in_flight(c) && c != g.connecting && reason != LWS_CALLBACK_WSI_DESTROY)
		c->wsi = wsi; /* cannot happen either: lws_client_connect_via_info() returned it */
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->state = I_RESUMING;
		idle_send_step(c);
		break;
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
			c->in_len = sizeof(c->in) + 1; /* too long: not a frame we wait for */
		}
		if (lws_is_final_fragment(wsi)) {
			if (c->in_len <= sizeof(c->in))
				idle_frame(c);
			c->in_len = 0;
		}
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		/* TCP or TLS failed or timed out, or the upgrade was refused */
		snprintf(text, sizeof(text), "%.*s", in ? (int)len : 1,
		         in ? (const char *)in : "?");
		idle_note(c, W_CONNECT, text);
		break;
	case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
		/* closed after TLS, before the server's 101: still lws's h1 role */
		idle_note(c, W_UPGRADE, "closed before the upgrade's answer");
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2) {
			c->close_code =
			    (((const unsigned char *)in)[0] << 8) | ((const unsigned char *)in)[1];
			snprintf(c->close_reason, sizeof(c->close_reason), "%.*s",
			         (int)(len - 2 < 47 ? len - 2 : 47), (const char *)in + 2);
		}
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		snprintf(text, sizeof(text), "closed while %s (close code %d \"%s\")",
		         state_names[c->state], c->close_code, c->close_reason);
		idle_note(c, W_CLOSED, text);
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		idle_gone(c);
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

/* Every 100 ms: start handshakes, resend after `busy`, send the pings that are due. */
static void idle_tick(lws_sorted_usec_list_t *sul)
{
	int64_t t = now_us();

	idle_fill();
	if (t >= g.progress_us) {
		g.progress_us = t + 5000000;
		fprintf(stderr, "ementor-idle: %.0f s: up=%d in_flight=%d failed=%d busy=%d\n",
		        (double)(t - g.phase_t0_us) / 1e6, g.up, g.inflight, g.failed, g.busy);
	}
	for (int i = 0; i < g.conns; i++) {
		struct idle_conn *c = &g.c[i];

		if (c->resend_at_us && c->resend_at_us <= t && idle_in_flight(c) && !c->out[0]) {
			c->resend_at_us = 0;
			idle_send_step(c);
		}
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
		if (now_us() > deadline_us)
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

/* Sockets this process has open, from /proc/self/fd (independent of lws and of g). */
static int idle_count_sockets(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	struct stat st;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && !fstatat(dirfd(d), e->d_name, &st, 0) &&
		    S_ISSOCK(st.st_mode))
			n++;
	closedir(d);
	return n;
}

/*
 * The self-check at the end of a phase: the connections by state add up to
 * N and match the running counters; every connection in flight or up has a
 * wsi with a socket, no other one has a wsi; and the sockets the kernel
 * says this process holds are exactly those of the connections with one.
 * One line on stdout; a failure also on stderr and in the exit status.
 */
static void idle_check(const char *phase)
{
	int n[I_NSTATES] = {0}, sum = 0, inflight_nowsi = 0, up_nowsi = 0, stray = 0;
	int with_socket = 0, sockets = idle_count_sockets() - g.base_sockets;
	int ok;

	for (int i = 0; i < g.conns; i++) {
		struct idle_conn *c = &g.c[i];

		n[c->state]++;
		if (c->wsi && lws_get_socket_fd(c->wsi) >= 0)
			with_socket++;
		if (idle_in_flight(c) && (!c->wsi || lws_get_socket_fd(c->wsi) < 0))
			inflight_nowsi++;
		else if (c->state == I_UP && (!c->wsi || lws_get_socket_fd(c->wsi) < 0))
			up_nowsi++;
		else if ((c->state == I_DOWN || c->state == I_FAILED) && c->wsi)
			stray++;
	}
	for (int s = 0; s < I_NSTATES; s++)
		sum += n[s];
	ok = sum == g.conns && n[I_UP] == g.up && n[I_FAILED] == g.failed &&
	     n[I_CONNECTING] + n[I_RESUMING] + n[I_SYNCING] == g.inflight && !inflight_nowsi &&
	     !up_nowsi && !stray && sockets == with_socket;
	if (!ok)
		g.checks_failed++;
	printf("ementor-idle: check phase=%s %s: down=%d connecting=%d resuming=%d syncing=%d "
	       "up=%d failed=%d sum=%d/%d counters(up=%d in_flight=%d failed=%d) "
	       "in_flight_without_socket=%d up_without_socket=%d stray_wsi=%d sockets=%d "
	       "conns_with_socket=%d\n",
	       phase, ok ? "ok" : "FAILED", n[I_DOWN], n[I_CONNECTING], n[I_RESUMING], n[I_SYNCING],
	       n[I_UP], n[I_FAILED], sum, g.conns, g.up, g.inflight, g.failed, inflight_nowsi,
	       up_nowsi, stray, sockets, with_socket);
	fflush(stdout);
	if (!ok)
		fprintf(stderr, "ementor-idle: SELF-CHECK FAILED at phase %s (see stdout)\n",
		        phase);
}

static void idle_report(const char *phase, int64_t t0, int timed_out)
{
	double s = (double)(now_us() - t0) / 1e6;

	printf("ementor-idle: phase=%s conns=%d up=%d in_flight=%d failed=%d busy=%d "
	       "busy_closes=%d lost=%d "
	       "seconds=%.2f rate=%.0f/s last_start=%.2f%s failed_by=connect:%d,upgrade:%d,"
	       "closed:%d,refused:%d,gone:%d\n",
	       phase, g.conns, g.up, g.inflight, g.failed, g.busy, g.busy_closes, g.lost, s,
	       s > 0.01 ? g.up / s : 0.0,
	       g.last_start_us > t0 ? (double)(g.last_start_us - t0) / 1e6 : 0.0,
	       timed_out ? " TIMED_OUT" : "", g.why[W_CONNECT], g.why[W_UPGRADE], g.why[W_CLOSED],
	       g.why[W_REFUSED], g.why[W_NONE]);
	fflush(stdout);
	idle_check(phase);
}

/* Connects every connection that is down, at most `parallel` at a time. */
static int idle_phase_connect(const char *phase, int parallel)
{
	int64_t t0 = now_us();
	int rc;

	g.busy = 0;
	g.busy_closes = 0;
	g.phase_t0_us = t0;
	g.progress_us = t0 + 5000000;
	g.phase_parallel = parallel;
	idle_fill();
	rc = idle_until(all_settled, t0 + 600 * 1000000LL);
	idle_report(phase, t0, rc != 0);
	return rc;
}

static void idle_hold(void)
{
	idle_until(never, now_us() + (int64_t)g.hold_s * 1000000);
	idle_report("held", now_us(), 0);
}

/* Drops (storm: no close handshake) or closes every connection; waits until all are gone. */
static void idle_drop_all(int abrupt)
{
	int64_t t0 = now_us();
	int rc;

	g.phase_parallel = 0; /* start nothing meanwhile */
	g.dropping = 1;
	for (int i = 0; i < g.conns; i++) {
		g.c[i].retry_at_us = 0;
		if (g.c[i]
		        .wsi) /* KILL_SYNC: WSI_DESTROY clears it before lws_set_timeout returns */
			lws_set_timeout(g.c[i].wsi, PENDING_TIMEOUT_USER_OK,
			                abrupt ? LWS_TO_KILL_SYNC : LWS_TO_KILL_ASYNC);
	}
	rc = idle_until(none_left, t0 + 60 * 1000000LL);
	g.dropping = 0;
	idle_report(abrupt ? "dropped" : "closed", t0, rc != 0);
}

static const char usage[] =
    "Usage: ementor-idle --url wss://127.0.0.1:PORT --ca CERT.pem --token TOKEN\n"
    "                    [--conns N] [--parallel P] [--hold S] [--ping S]\n"
    "                    [--storm] [--storm-parallel P] [--timeout S]\n";

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
	    {"timeout", required_argument, NULL, 'T'},
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
	g.timeout_s = 30;
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
		case 'T':
			g.timeout_s = atoi(optarg);
			break;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!url || !g.ca || !g.token || g.conns < 1 || g.parallel < 1 || g.ping_s < 1 ||
	    g.hold_s < 0 || g.storm_parallel < 1 || g.timeout_s < 1 ||
	    strlen(g.token) > EM_TOKEN_MAX ||
	    sscanf(url, "wss://%255[^:/]:%d", host, &g.port) != 2 || strcmp(host, "127.0.0.1")) {
		fputs(usage, stderr);
		fputs("(loopback only: the URL must be wss://127.0.0.1:PORT)\n", stderr);
		return 2;
	}
	g.host = host;
	/*
	 * One descriptor per connection, as many as the hard limit allows.
	 * Closed sockets give their descriptor back at once (a socket in
	 * TIME_WAIT holds none), so the storm needs no more than N.
	 */
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
	srand((unsigned)now_us());
	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.gid = -1;
	info.uid = -1;
	/*
	 * One service thread (count_threads 0: one) with a table for every
	 * connection: lws sizes its pollfd array and its fd-to-wsi table by
	 * this, and refuses a descriptor at or above it.
	 */
	info.fd_limit_per_thread = (unsigned)g.conns + 64;
	/* lws's per-step handshake timeout (its default is 5 s): see README.md */
	info.timeout_secs = (unsigned)g.timeout_s;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.client_ssl_ca_filepath = g.ca;
	g.ctx = lws_create_context(&info);
	if (!g.ctx) {
		fprintf(stderr, "ementor-idle: cannot create the lws context\n");
		goto out;
	}
	g.base_sockets = idle_count_sockets();
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
	rc = g.failed || g.checks_failed ? 1 : 0;
out:
	if (g.checks_failed)
		fprintf(stderr, "ementor-idle: %d self-check(s) FAILED\n", g.checks_failed);
	if (g.ctx)
		lws_context_destroy(g.ctx);
	free(g.c);
	return rc;
}
