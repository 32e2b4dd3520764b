/*
 * loop.h - ementord's service loop: a libuv loop (epoll) that lws joins as a
 * foreign loop through its libuv plugin, or lws's own poll() loop where the
 * plugin cannot be loaded.
 */
#ifndef EMENTORD_LOOP_H
#define EMENTORD_LOOP_H

#include <libwebsockets.h>

/*
 * Creates the lws context from info on the libuv loop (info's options,
 * foreign_loops and pcontext are set here), or on lws's poll() loop with a
 * warning when lws cannot load its libuv plugin. NULL when neither starts.
 * Main thread, before any other thread uses the context.
 */
struct lws_context *loop_context_create(struct lws_context_creation_info *info);

/*
 * One turn: waits until a descriptor is ready, a timer (lws_sul) is due or
 * lws_cancel_service() is called (DB workers, the cluster listener, signal
 * handlers), runs their callbacks and returns. Negative when the context is
 * gone. Service thread.
 */
int loop_run_once(struct lws_context *context);

/* Destroys the context and then the loop. Service thread, after db_stop(). */
void loop_context_destroy(struct lws_context *context);

#endif
