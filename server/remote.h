/*
 * remote.h - what other nodes' announcements (cluster.c) mean for this
 * node's connections: pushes, closes, and reads of the rows they announced,
 * one range per room at a time, in seq order. Service thread.
 */
#ifndef EMENTORD_REMOTE_H
#define EMENTORD_REMOTE_H

#include <stdint.h>

struct lws_context;
struct notify;

/* Service thread, at start: the context for the retry timer. */
void remote_start(struct lws_context *context);
/* Service thread, at shutdown: cancels the retry timer, frees the ranges. */
void remote_stop(void);
/* Service thread: one announcement heard (cluster_drain's handler). */
void remote_handle(const struct notify *n);
/*
 * Service thread (catchup.c): ROOM's last_seq is LAST but this node has
 * pushed only up to SEEN there; reads and pushes what is missing, in order,
 * like an announced range (less what is already being read).
 */
void remote_catch_up(int64_t room, int64_t seen, int64_t last);

#endif
