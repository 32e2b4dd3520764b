/*
 * announce.c - a node's announcements to the other nodes of the cluster:
 * NOTIFY on channel ANNOUNCE_CHANNEL, sent on the DB thread that committed
 * what it announces, on that thread's own connection, after the commit (a
 * remote node can never hear of rows it cannot read yet). Payloads are
 * notify_codec.c's; which events are announced, and how, is events.c's.
 * DB worker threads and the batch writer; the node id is set once before
 * they run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "announce.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "notify_codec.h"
#include "store.h"

static const struct stmt st_notify = {"cluster_notify",
                                      "SELECT pg_notify('" ANNOUNCE_CHANNEL "', $1)"};

static struct {
	char node[NOTIFY_NODE_LEN + 1]; /* read-only once the workers run */
} an;

void announce_set_node(const char *node)
{
	snprintf(an.node, sizeof(an.node), "%s", node);
}

/* Sends a payload already encoded (with a node id) on c. */
static void publish_text(struct db_conn *c, const char *payload)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_text(&p, payload);
	if ((r = store_exec(c, &st_notify, &p, &err, NULL))) {
		PQclear(r);
		metrics_add(M_CLUSTER_PUBLISHED, 1);
	} else
		log_warn("cluster notify failed worker=%d", c->index);
}

/* Encodes n as this node's and sends it; a payload that cannot be encoded is logged. */
static void publish(struct db_conn *c, struct notify *n)
{
	char payload[NOTIFY_PAYLOAD_MAX + 1];

	memcpy(n->node, an.node, sizeof(n->node));
	if (notify_encode(n, payload, sizeof(payload)) < 0) {
		log_warn("cluster: event kind=%c not announced (a field is out of range)",
		         (char)n->kind);
		return;
	}
	publish_text(c, payload);
}

static int64_t data_int(json_t *data, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(data, key));
}

/* Announces the events of one list (events.h says which are, and how). */
static void publish_events(struct db_conn *c, json_t *list, enum event_to to)
{
	json_t *item;
	size_t i;

	json_array_foreach(list, i, item)
	{
		struct notify n;
		enum server_event ev =
		    (enum server_event)json_integer_value(json_array_get(item, 1));
		int rc = event_announce(ev, to, json_integer_value(json_array_get(item, 0)),
		                        json_array_get(item, 2), &n);

		if (rc > 0)
			publish(c, &n);
		else if (rc < 0)
			log_warn("cluster: event %s not announced (its data lacks a field)",
			         event_name(ev));
	}
}

void announce_job(struct db_conn *c, struct db_job *job)
{
	if (job->remote || job->err != EM_OK)
		return;
	publish_events(c, job->room_events, EV_TO_ROOM);
	publish_events(c, job->user_events, EV_TO_USER);
}

void announce_erased(struct db_conn *c, int64_t user)
{
	struct notify n = {.kind = NOTIFY_ERASED, .user = user};

	publish(c, &n);
}

void announce_session_ended(struct db_conn *c, int64_t user, int64_t sid)
{
	struct notify n = {.kind = NOTIFY_SESSION_ENDED, .user = user, .id = sid};

	publish(c, &n);
}

void announce_sessions_revoked(struct db_conn *c, int64_t user, int64_t keep)
{
	struct notify n = {.kind = NOTIFY_SESSIONS_REVOKED, .user = user, .id = keep};

	publish(c, &n);
}

void announce_messages(struct db_conn *c, struct db_job **jobs, int n)
{
	/*
	 * One announcement per room: the lowest and highest new seq of the batch.
	 * The jobs are in arrival order and the writer numbered them in its own
	 * (room) order, so a room's seqs may appear in any order here: take the
	 * range over the whole batch, never over runs of neighbours.
	 */
	struct notify *r = calloc((size_t)n + 1, sizeof(*r));
	int nr = 0;

	if (!r) {
		log_warn("cluster: out of memory; %d messages not announced", n);
		return;
	}
	for (int i = 0; i < n; i++) {
		json_t *item = jobs[i]->err == EM_OK && !jobs[i]->remote
		                   ? json_array_get(jobs[i]->room_events, 0)
		                   : NULL;
		int64_t room, seq;
		int k;

		if (!item)
			continue;
		room = json_integer_value(json_array_get(item, 0));
		seq = data_int(json_array_get(item, 2), "seq");
		for (k = 0; k < nr && r[k].room != room; k++)
			;
		if (k == nr) {
			r[nr].kind = NOTIFY_MESSAGES;
			r[nr].room = room, r[nr].first = seq, r[nr].last = seq;
			nr++;
		} else {
			if (seq < r[k].first)
				r[k].first = seq;
			if (seq > r[k].last)
				r[k].last = seq;
		}
	}
	for (int k = 0; k < nr; k++)
		publish(c, &r[k]);
	free(r);
}

/* A one-statement job that sends an encoded payload (service thread -> any worker). */
int announce_text_run(struct db_conn *c, struct db_job *job)
{
	const char *text = job_str(job, "text");

	if (text)
		publish_text(c, text);
	return EM_OK;
}
