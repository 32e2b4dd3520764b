/*
 * loop.c - the service loop. lws 4.1.6's default loop is poll() over every
 * descriptor: each wake-up scans all of them, so with 10,000 idle connections
 * pinging every 30 s two thirds of ementord's CPU went to the kernel's
 * sock_poll/tcp_poll (bench/RESULTS.md B1). Here the loop is libuv's (epoll),
 * where a wake-up costs what is ready. lws joins it as a foreign loop through
 * its libuv plugin (libwebsockets-evlib_uv.so, Debian's
 * libwebsockets-evlib-uv), which lws loads when the context is created; the
 * loop stays ementord's, run one turn at a time, so main.c keeps its signal
 * flags, drain and reload exactly as with lws_service().
 *
 * What lws does on the foreign loop: a poll handle per descriptor (the
 * listening socket, each connection, the pipe that lws_cancel_service()
 * writes to), a timer for its sorted timer list (lws_sul), and an idle handle
 * for TLS records and input already read but not yet handed over ("forced
 * service"). libuv runs active idle handles on every turn (and then does not
 * block in epoll), so that work is never left waiting behind ready sockets —
 * where libev, tried before, ran its idle watchers only in a turn with
 * nothing else ready, and lost connections in a reconnect storm.
 *
 * Service thread (the main thread), but for lws_cancel_service(), which any
 * thread and the signal handlers call.
 */
#include <uv.h>

#include "log.h"
#include "loop.h"

static uv_loop_t uvloop;
static int uv_up;                         /* uvloop initialised: lws runs on it */
static struct lws_context *context_alive; /* lws writes NULL when it has freed it */

/* Runs the loop until lws has freed a context it is destroying (or 1,000 turns). */
static void uv_finish_destroy(void)
{
	/* On a foreign loop lws closes its handles on later turns; once they are
	 * closed, a second lws_context_destroy() frees the context (lws 4.1.6's
	 * libuv plugin finishes by itself only on a loop of its own). */
	for (int i = 0; context_alive && i < 1000; i++) {
		uv_run(&uvloop, UV_RUN_NOWAIT);
		if (i == 100 && context_alive)
			lws_context_destroy(context_alive);
	}
}

/*
 * On a foreign libuv loop, lws 4.1.6 returns a context even when it failed
 * (e.g. the port is in use: no vhost), already being destroyed. It is usable
 * only if the vhost is there and listening on the port asked for.
 */
static int uv_context_listening(struct lws_context *ctx,
                                const struct lws_context_creation_info *info)
{
	struct lws_vhost *vh =
	    lws_get_vhost_by_name(ctx, info->vhost_name ? info->vhost_name : "default");

	return vh && lws_get_vhost_listen_port(vh) == info->port;
}

struct lws_context *loop_context_create(struct lws_context_creation_info *info)
{
	struct lws_context *ctx = NULL;
	void *foreign[1];

	info->pcontext = &context_alive;
	if (!uv_loop_init(&uvloop)) {
		uv_up = 1;
		foreign[0] = &uvloop; /* lws needs the array only while it creates the context */
		info->foreign_loops = foreign;
		info->options |= LWS_SERVER_OPTION_LIBUV;
		ctx = lws_create_context(info);
		info->foreign_loops = NULL;
		info->options &= ~(uint64_t)LWS_SERVER_OPTION_LIBUV;
		if (ctx && uv_context_listening(ctx, info)) {
			log_info("event loop: libuv (epoll)");
			goto out;
		}
		if (ctx) { /* failed, and being destroyed: not retried on poll() */
			context_alive = ctx;
			lws_context_destroy(ctx);
			uv_finish_destroy();
			ctx = NULL;
			goto out;
		}
		/* the plugin did not load: lws's own loop */
		uv_run(&uvloop, UV_RUN_NOWAIT);
		uv_loop_close(&uvloop);
		uv_up = 0;
	}
	ctx = lws_create_context(info);
	if (ctx)
		log_warn("event loop: poll(), whose cost grows with the connections (lws's libuv "
		         "plugin did not start: is libwebsockets-evlib-uv installed?)");
out:
	context_alive = ctx;
	/* a first wake-up, so that lws arms its timer for the suls of its init */
	if (ctx)
		lws_cancel_service(ctx);
	return ctx;
}

int loop_run_once(struct lws_context *context)
{
	if (!uv_up)
		return lws_service(context, 0);
	uv_run(&uvloop, UV_RUN_ONCE);
	return context_alive ? 0 : -1;
}

void loop_context_destroy(struct lws_context *context)
{
	if (context)
		lws_context_destroy(context);
	if (uv_up)
		uv_finish_destroy();
	if (context_alive)
		log_warn("lws context not freed at exit");
	context_alive = NULL;
	if (uv_up) {
		uv_run(&uvloop, UV_RUN_NOWAIT);
		if (uv_loop_close(&uvloop))
			log_warn("event loop: handles still open at exit");
	}
	uv_up = 0;
}
