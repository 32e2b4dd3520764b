/*
 * cluster.c - several ementord nodes on one PostgreSQL. A node announces what
 * happened with NOTIFY on channel "ementor_events" after the commit; every
 * other node hears it on a LISTEN connection of its own and pushes the event
 * to its own connections, reading rows from PostgreSQL where the event has
 * data (messages, key envelopes, notices). Nodes hold no state another node
 * needs: a client may reconnect to any of them and `sync` from its cursors.
 *
 * Payloads (short text, never content, keys or tokens) are written and read
 * by notify_codec.c, which lists them; a payload that is not exactly one of
 * them is dropped and counted.
 *
 * DESIGN. Publishing runs on the thread that ran the job, on its own
 * connection, after the job's commit (dispatch happens later on the service
 * thread, so a remote node can never see an event before its rows). The
 * listener thread only parses and queues; the service thread drains the
 * queue (EVENT_WAIT_CANCELLED), pushes what needs no rows, and submits small
 * read jobs for the rest, marked `remote` so they are never published again.
 * Each room keeps the ranges announced and not yet fetched, sorted and merged
 * where they touch; one range per room is read at a time, lowest first, so a
 * node's subscribers see a remote sender's messages in order. A range whose
 * read failed (database down, queue full) goes back in the list and is tried
 * again on a timer: an announced message is pushed or the node keeps trying. Messages whose
 * announcement was missed while the LISTEN connection was down (a network cut, a database
 * restart), or never made (the announcing node lost its connection right after its commit), are
 * found by the catch-up sweep (catchup.c): when LISTEN comes back, and at every scheduler tick
 * while other nodes are heard, it compares each subscribed room's last_seq with what this node
 * pushed there and hands the gap to cluster_catch_up(). Receipts and typing notices missed are
 * not replayed; an erasure or a revoked session missed is caught by the session sweep
 * (handle_auth.c) at the next scheduler tick.
 */
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libwebsockets.h>
#include <sodium.h>

#include "announce.h"
#include "cluster.h"
#include "db.h"
#include "em_list.h"
#include "log.h"
#include "metrics.h"
#include "notify_codec.h"
#include "server.h"
#include "store.h" /* store_open */

#define QUEUE_MAX   100000 /* notifications waiting for the service thread */
#define HELLO_MS    60000  /* how often a node says it is alive */
#define PEER_TTL_MS 180000 /* typing goes out while another node was heard this recently */

struct note {
	struct em_link link; /* on cl.notes */
	struct notify n;     /* decoded by the listener thread */
};

static struct {
	char node[17];
	char *conninfo;
	struct lws_context *context;
	pthread_t thread;
	int started;
	atomic_int stopping;
	atomic_int relistened; /* LISTEN is back after a gap: sweep (catchup.c) */
	pthread_mutex_t lock;
	struct em_list notes;            /* of struct note, heard and not yet handled {lock} */
	int64_t peer_heard_ms, hello_ms; /* service thread */
} cl = {.lock = PTHREAD_MUTEX_INITIALIZER};

const char *cluster_node_id(void)
{
	return cl.node;
}

/* Service thread: encodes n as this node's and hands it to a worker. */
static void submit_notify(struct notify *n)
{
	char payload[NOTIFY_PAYLOAD_MAX + 1];

	if (!cl.started)
		return;
	memcpy(n->node, cl.node, sizeof(n->node));
	if (notify_encode(n, payload, sizeof(payload)) < 0)
		return;
	db_submit_background(announce_text_run, json_pack("{ss}", "text", payload), NULL);
}

void cluster_typing(int64_t room, int64_t user, const char *username)
{
	struct notify n = {.kind = NOTIFY_TYPING, .room = room, .user = user};

	if (!cluster_peers_alive())
		return;
	snprintf(n.word, sizeof(n.word), "%s", username);
	submit_notify(&n);
}

void cluster_tick(void)
{
	int64_t now = server_now_ms();
	struct notify n = {.kind = NOTIFY_HELLO};

	if (cl.started && now - cl.hello_ms >= HELLO_MS) {
		cl.hello_ms = now;
		submit_notify(&n);
	}
}

/* ---- listening (its own thread and connection) ----------------------------------- */

/* Listener thread: queues a decoded payload for the service thread. */
static void enqueue(const struct notify *payload)
{
	struct note *n;

	pthread_mutex_lock(&cl.lock);
	if (cl.notes.count >= QUEUE_MAX || !(n = calloc(1, sizeof(*n)))) {
		pthread_mutex_unlock(&cl.lock);
		log_warn("cluster queue full: dropping a notification");
		return;
	}
	n->n = *payload;
	em_list_append(&cl.notes, &n->link);
	pthread_mutex_unlock(&cl.lock);
}

/*
 * Listener thread: one notification heard. Our own announcements come back
 * too and are skipped; anything that is not a payload is dropped here.
 * Returns 1 when something was queued.
 */
static int hear(const char *text)
{
	struct notify n;

	if (notify_decode(text, strlen(text), &n)) {
		metrics_add(M_CLUSTER_REFUSED, 1);
		return 0;
	}
	if (!strcmp(n.node, cl.node))
		return 0;
	enqueue(&n);
	metrics_add(M_CLUSTER_RECEIVED, 1);
	return 1;
}

static void *listener_main(void *arg)
{
	PGconn *pg = NULL;
	int failures = 0, listened = 0;

	(void)arg;
	while (!atomic_load(&cl.stopping)) {
		struct pollfd pfd;
		PGnotify *note;
		int got = 0;

		if (!pg || PQstatus(pg) != CONNECTION_OK) {
			PGresult *r;

			PQfinish(pg);
			pg = store_open(cl.conninfo);
			r = PQstatus(pg) == CONNECTION_OK ? PQexec(pg, "LISTEN " ANNOUNCE_CHANNEL)
			                                  : NULL;
			if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
				if (failures++ % 30 == 0)
					log_warn("cluster listen failed attempts=%d", failures);
				PQclear(r);
				PQfinish(pg);
				pg = NULL;
				sleep(1);
				continue;
			}
			PQclear(r);
			if (listened) {
				log_info("cluster listening again node=%s", cl.node);
				atomic_store(&cl.relistened, 1);
				lws_cancel_service(cl.context);
			}
			listened = 1;
			failures = 0;
		}
		pfd.fd = PQsocket(pg);
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		if (!PQconsumeInput(pg))
			continue; /* broken: reconnect on the next turn */
		while ((note = PQnotifies(pg))) {
			got |= hear(note->extra);
			PQfreemem(note);
		}
		if (got)
			lws_cancel_service(cl.context);
	}
	PQfinish(pg);
	return NULL;
}

int cluster_start(const char *conninfo, struct lws_context *context)
{
	unsigned char id[8];

	randombytes_buf(id, sizeof(id));
	sodium_bin2hex(cl.node, sizeof(cl.node), id, sizeof(id));
	announce_set_node(cl.node);
	cl.context = context;
	if (!(cl.conninfo = strdup(conninfo)))
		return -1;
	if (pthread_create(&cl.thread, NULL, listener_main, NULL))
		return -1;
	cl.started = 1;
	log_info("cluster node=%s channel=%s", cl.node, ANNOUNCE_CHANNEL);
	return 0;
}

void cluster_stop(void)
{
	struct em_link *l;

	if (cl.started) {
		atomic_store(&cl.stopping, 1);
		pthread_join(cl.thread, NULL);
		cl.started = 0;
	}
	while ((l = em_list_pop(&cl.notes)))
		free(em_item(l, struct note, link));
	free(cl.conninfo);
	cl.conninfo = NULL;
}

/* ---- the service thread: the notifications heard ------------------------------- */

int cluster_drain(void (*handle)(const struct notify *n))
{
	struct em_list heard = {0};
	struct em_link *l;
	int relistened = atomic_exchange(&cl.relistened, 0);

	pthread_mutex_lock(&cl.lock);
	em_list_splice(&heard, &cl.notes);
	pthread_mutex_unlock(&cl.lock);
	while ((l = em_list_pop(&heard))) {
		struct note *n = em_item(l, struct note, link);

		cl.peer_heard_ms = server_now_ms();
		handle(&n->n);
		free(n);
	}
	return relistened;
}

int cluster_peers_alive(void)
{
	return cl.started && cl.peer_heard_ms && server_now_ms() - cl.peer_heard_ms <= PEER_TTL_MS;
}
