/*
 * catchup.c - what a node's subscribers missed of other nodes' messages.
 * Nodes announce new messages with NOTIFY (cluster.c); an announcement is
 * lost when this node's LISTEN connection is down at that moment (a network
 * cut between this node and PostgreSQL, a database restart), or never made
 * when the announcing node loses its connection between its commit and its
 * NOTIFY. The sweep finds those messages without any announcement: for every
 * room with subscribers here it reads the room's last_seq and compares it
 * with the highest seq this node pushed or replayed there
 * (fanout_room_seen); each gap goes to remote_catch_up(), which reads and
 * pushes it in order like an announced range.
 *
 * DESIGN. A gap is acted on only when a second look, CONFIRM_MS later, still
 * finds it, and only up to the last_seq of the first look. A message just
 * committed here, or announced and being read, is briefly above the mark
 * too (the sweep's read can overtake the completion that pushes it); pushing
 * it again would be harmless (clients drop a seq they have) but wasteful
 * under load, while a message still missing a moment later was missed.
 * A sweep runs when the cluster's LISTEN connection is back after a gap (ws.c),
 * and at every scheduler tick while other nodes are heard (main.c). A room seen for the
 * first time (seen = -1: subscribed by a membership change, not by `sync`)
 * only records its last_seq.
 *
 * Threads: the lws service thread; the rooms' last_seq is read on a DB
 * worker by handle_message.c's message_last_seq_run.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libwebsockets.h>

#include "catchup.h"
#include "remote.h"
#include "db.h"
#include "fanout.h"
#include "log.h"
#include "server.h"
#include "handlers.h"

#define SWEEP_ROOMS_MAX 20000 /* rooms per sweep; the rest wait for the next one */
#define RETRY_US        LWS_US_PER_SEC
#define CONFIRM_US      (2 * LWS_US_PER_SEC) /* the second look at a gap */

/* A room whose last_seq was above the mark at the last look. */
struct suspect {
	int64_t room, last;
};

static struct {
	int running;        /* a sweep job is in flight */
	int confirming;     /* ... and it is the second look planned by the last one */
	int again;          /* a sweep was asked for while one ran */
	int retry_armed;    /* the retry timer is set */
	int timer_confirms; /* the timer's sweep is a second look */
	lws_sorted_usec_list_t retry_sul;
	struct suspect *suspects; /* from the last sweep, sorted by room {owned} */
	size_t n_suspects;
} cu;

static void sweep_start(int confirming);

static void retry_tick(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	cu.retry_armed = 0;
	sweep_start(cu.timer_confirms);
}

/*
 * Another sweep in `us` (unless one is planned already): a retry, or the
 * second look at suspects. A second look plans no third: its suspects wait
 * for the next scheduler tick, so a busy node does not sweep every 2 s.
 */
static void sweep_later(lws_usec_t us, int confirming)
{
	if (cu.retry_armed || !server.context)
		return;
	cu.retry_armed = 1;
	cu.timer_confirms = confirming;
	lws_sul_schedule(server.context, 0, &cu.retry_sul, retry_tick, us);
}

static int by_room(const void *a, const void *b)
{
	const struct suspect *x = a, *y = b;

	return x->room < y->room ? -1 : x->room > y->room;
}

struct room_list {
	int64_t room[SWEEP_ROOMS_MAX];
	int n;
};

static void collect(int64_t room_id, void *arg)
{
	struct room_list *l = arg;

	if (l->n < SWEEP_ROOMS_MAX)
		l->room[l->n++] = room_id;
}

static void sweep_finished(struct db_job *job)
{
	struct suspect *next = NULL, *prev, key;
	size_t i, n_next = 0;
	json_t *item;

	cu.running = 0;
	if (job->err != EM_OK) {
		sweep_later(RETRY_US, cu.confirming);
		return;
	}
	/* without memory no suspect is kept: the next sweep looks again */
	next = calloc(json_array_size(job->extra) + 1, sizeof(*next));
	json_array_foreach(job->extra, i, item)
	{
		int64_t room = json_integer_value(json_array_get(item, 0));
		int64_t last = json_integer_value(json_array_get(item, 1));
		/* the mark now, not when the sweep started: pushes may have moved it */
		int64_t seen = fanout_room_seen_seq(room);

		if (!fanout_room_has(room))
			continue; /* nobody here listens any more */
		if (seen < 0) {
			fanout_room_seen(room, last);
			continue;
		}
		if (seen >= last)
			continue;
		key.room = room;
		prev = cu.n_suspects
		           ? bsearch(&key, cu.suspects, cu.n_suspects, sizeof(key), by_room)
		           : NULL;
		if (prev && seen < prev->last)
			remote_catch_up(room, seen, prev->last); /* still missing: missed */
		if (next)
			next[n_next++] = (struct suspect){room, last};
	}
	free(cu.suspects);
	cu.suspects = next;
	cu.n_suspects = n_next;
	if (n_next)
		qsort(cu.suspects, n_next, sizeof(*next), by_room);
	if (cu.again) {
		cu.again = 0;
		sweep_start(0);
	} else if (n_next && !cu.confirming) {
		sweep_later(CONFIRM_US, 1);
	}
}

void catchup_sweep(void)
{
	sweep_start(0);
}

static void sweep_start(int confirming)
{
	struct room_list *l = NULL;
	char *text = NULL, *at;
	json_t *args;

	if (cu.running) {
		cu.again = 1;
		return;
	}
	if (!(l = calloc(1, sizeof(*l)))) {
		sweep_later(RETRY_US, confirming);
		goto out;
	}
	fanout_rooms_each(collect, l);
	if (!l->n)
		goto out;
	/* "{1,2,3}": at most 20 digits and a comma per room */
	if (!(text = malloc((size_t)l->n * 21 + 3))) {
		sweep_later(RETRY_US, confirming);
		goto out;
	}
	at = text;
	*at++ = '{';
	for (int i = 0; i < l->n; i++)
		at += sprintf(at, "%s%" PRId64, i ? "," : "", l->room[i]);
	strcpy(at, "}");
	args = json_pack("{ss}", "rooms", text);
	if (db_submit_background(message_last_seq_run, args, sweep_finished)) {
		sweep_later(RETRY_US, confirming);
		goto out;
	}
	cu.running = 1;
	cu.confirming = confirming;
out:
	free(text);
	free(l);
}

void catchup_stop(void)
{
	if (cu.retry_armed)
		lws_sul_cancel(&cu.retry_sul);
	cu.retry_armed = 0;
	free(cu.suspects);
	cu.suspects = NULL;
	cu.n_suspects = 0;
}
