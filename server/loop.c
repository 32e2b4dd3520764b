/*
 * loop.c - the service loop. lws 4.1.6's default loop is poll() over every
 * descriptor: each wake-up scans all of them, so with 10,000 idle connections
 * pinging every 30 s two thirds of ementord's CPU went to the kernel's
 * sock_poll/tcp_poll (bench/RESULTS.md B1). Here the loop is libev's with the
 * epoll backend, where a wake-up costs what is ready. lws joins it as a
 * foreign loop through its libev plugin (libwebsockets-evlib_ev.so, Debian's
 * libwebsockets-evlib-ev), which lws loads when the context is created; the
 * loop stays ementord's, run one turn at a time, so main.c keeps its signal
 * flags, drain and reload exactly as with lws_service().
 *
 * What lws does on the foreign loop: a watcher per descriptor (the listening
 * socket, each connection, the pipe that lws_cancel_service() writes to), a
 * timer for its sorted timer list (lws_sul), re-armed after each turn that
 * handled a descriptor and from the timer itself, and an idle watcher for
 * TLS records already read but not yet handed over. A sul scheduled outside
 * any lws callback (main.c's own code between turns) is seen at the next
 * wake-up; the ws tick (ws.c) makes one at least every second.
 *
 * Service thread (the main thread), but for lws_cancel_service(), which any
 * thread and the signal handlers call.
 */
#include <ev.h>

#include "log.h"
#include "loop.h"

static struct ev_loop *loop;              /* NULL: lws's own poll() loop */
static struct lws_context *context_alive; /* lws writes NULL when it has freed it */

struct lws_context *loop_context_create(struct lws_context_creation_info *info)
{
	struct lws_context *ctx = NULL;
	void *foreign[1];

	info->pcontext = &context_alive;
	loop = ev_loop_new(EVBACKEND_EPOLL);
	if (loop) {
		foreign[0] = loop; /* lws needs the array only while it creates the context */
		info->foreign_loops = foreign;
		info->options |= LWS_SERVER_OPTION_LIBEV;
		ctx = lws_create_context(info);
		info->foreign_loops = NULL;
		info->options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
		if (ctx) {
			log_info("event loop: libev (epoll)");
			goto out;
		}
		ev_loop_destroy(loop);
		loop = NULL;
	}
	ctx = lws_create_context(info);
	if (ctx)
		log_warn("event loop: poll(), whose cost grows with the connections (lws's libev "
		         "plugin did not start: is libwebsockets-evlib-ev installed?)");
out:
	context_alive = ctx;
	/* a first wake-up, so that lws arms its timer for the suls of its init */
	if (ctx)
		lws_cancel_service(ctx);
	return ctx;
}

int loop_run_once(struct lws_context *context)
{
	if (!loop)
		return lws_service(context, 0);
	ev_run(loop, EVRUN_ONCE);
	return context_alive ? 0 : -1;
}

void loop_context_destroy(struct lws_context *context)
{
	if (context)
		lws_context_destroy(context);
	/* on a foreign loop lws may finish its closes on later turns */
	for (int i = 0; loop && context_alive && i < 1000; i++)
		ev_run(loop, EVRUN_NOWAIT);
	if (context_alive)
		log_warn("lws context not freed at exit");
	context_alive = NULL;
	if (loop)
		ev_loop_destroy(loop);
	loop = NULL;
}
