/*
 * cluster.h - several ementord nodes on one PostgreSQL (LISTEN/NOTIFY); see
 * cluster.c for the payloads and the design.
 */
#ifndef EMENTORD_CLUSTER_H
#define EMENTORD_CLUSTER_H

#include <stdint.h>

struct db_conn;
struct db_job;
struct lws_context;

/* Service thread, after db_start: a node id and the LISTEN thread. 0 or -1. */
int cluster_start(const char *conninfo, struct lws_context *context);
void cluster_stop(void);
const char *cluster_node_id(void);

/* Service thread: tells the other nodes USER is typing in ROOM (only if another node is up). */
void cluster_typing(int64_t room, int64_t user, const char *username);
/* Service thread, from the scheduler: says this node is alive, once a minute. */
void cluster_tick(void);
/*
 * Service thread: hands every notification heard since the last call to
 * handle (remote.c's remote_handle). Returns 1 when the LISTEN connection came
 * back after a gap since the last call (announcements may have been missed:
 * the caller runs the catch-up sweep).
 */
struct notify;
int cluster_drain(void (*handle)(const struct notify *n));
/* Service thread: 1 while another node was heard recently (typing goes out, sweeps run). */
int cluster_peers_alive(void);

#endif
