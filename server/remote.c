/*
 * remote.c - the service thread's side of the cluster (cluster.c hears,
 * this file acts): an announcement of another node becomes a push to this
 * node's connections (typing, receipts, room changes), a close (an erasure,
 * a logout, a password change), or a small read job for the rows it
 * announced (messages, key envelopes, notices), marked `remote` so it is
 * never announced again.
 *
 * DESIGN. Each room keeps the ranges announced and not yet read (ranges.h),
 * sorted and merged where they touch; one range per room is read at a time,
 * lowest first, so a node's subscribers see a remote sender's messages in
 * order. A range whose read failed (database down, queue full) goes back in
 * the list and is tried again on a timer: an announced message is pushed or
 * the node keeps trying. The catch-up sweep (catchup.c) hands this file the
 * gaps no announcement covered (remote_catch_up).
 *
 * Threads: everything here runs on the lws service thread; the read jobs'
 * `run` functions (handle_message.c, handle_checkpoint.c) on DB workers.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libwebsockets.h>

#include "db.h"
#include "dispatch.h"
#include "fanout.h"
#include "handlers.h"
#include "log.h"
#include "metrics.h"
#include "notify_codec.h"
#include "ranges.h"
#include "remote.h"

#define ROOMS_TRACK 4096 /* rooms whose remote messages are being read */
#define RETRY_US    (500 * LWS_US_PER_MS)

/* Per room: the announced ranges not yet read. */
struct room_fetch {
	int64_t room;
	int busy;             /* a read of the room is in flight */
	struct range reading; /* the range being read while busy */
	struct range_list todo;
};

static struct {
	struct lws_context *context;
	struct room_fetch *rooms; /* ROOMS_TRACK slots, allocated at first use */
	int retry_armed;
	lws_sorted_usec_list_t retry_sul;
} rm;

static void room_fetch_next(struct room_fetch *f);

static void retry_tick(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	rm.retry_armed = 0;
	for (int i = 0; rm.rooms && i < ROOMS_TRACK; i++)
		if (rm.rooms[i].room)
			room_fetch_next(&rm.rooms[i]);
}

static void retry_later(void)
{
	if (rm.retry_armed || !rm.context)
		return;
	rm.retry_armed = 1;
	lws_sul_schedule(rm.context, 0, &rm.retry_sul, retry_tick, RETRY_US);
}

static struct room_fetch *room_find(int64_t room)
{
	for (int i = 0; rm.rooms && i < ROOMS_TRACK; i++)
		if (rm.rooms[i].room == room)
			return &rm.rooms[i];
	return NULL;
}

static struct room_fetch *room_slot(int64_t room)
{
	struct room_fetch *free_slot = NULL;

	if (!rm.rooms && !(rm.rooms = calloc(ROOMS_TRACK, sizeof(*rm.rooms))))
		return NULL;
	for (int i = 0; i < ROOMS_TRACK; i++) {
		if (rm.rooms[i].room == room)
			return &rm.rooms[i];
		if (!free_slot && !rm.rooms[i].busy && !rm.rooms[i].todo.n)
			free_slot = &rm.rooms[i];
	}
	if (free_slot)
		free_slot->room = room, free_slot->todo.n = 0, free_slot->busy = 0;
	return free_slot;
}

/* Adds FIRST..LAST to the room's ranges to read (ranges_add), counting merges and losses. */
static void room_add(struct room_fetch *f, int64_t first, int64_t last)
{
	int merges = ranges_add(&f->todo, first, last);

	if (merges > 0)
		metrics_add(M_CLUSTER_MERGED, (uint64_t)merges);
	else if (merges < 0)
		log_warn("cluster: out of memory; room %" PRId64 " missed %" PRId64 "..%" PRId64,
		         f->room, first, last);
}

static void range_finished(struct db_job *job)
{
	struct room_fetch *f = room_find(job_int(job, "room_id", 0));

	if (!f)
		return;
	f->busy = 0;
	if (job->err != EM_OK) {
		/* not read: back in the list, tried again shortly */
		room_add(f, job_int(job, "from", 0), job_int(job, "to", 0));
		metrics_add(M_CLUSTER_RETRIED, 1);
		retry_later();
		return;
	}
	room_fetch_next(f);
}

static struct db_job *read_job(int (*run)(struct db_conn *, struct db_job *), json_t *args)
{
	struct db_job *job = db_job_new();

	if (!job || !args) {
		json_decref(args);
		db_job_free(job);
		return NULL;
	}
	job->slot = UINT32_MAX; /* no session: only the pushed events matter */
	job->no_reply = 1;
	job->remote = 1; /* read on another node's word: never announced again */
	job->run = run;
	job->args = args;
	return job;
}

static void submit_read(int (*run)(struct db_conn *, struct db_job *), json_t *args)
{
	struct db_job *job = read_job(run, args);

	if (job && db_submit(job)) {
		log_warn("cluster read dropped: database queue full");
		db_job_free(job);
	}
}

/* Reads the room's lowest unread range if no read of the room is in flight. */
static void room_fetch_next(struct room_fetch *f)
{
	struct db_job *job;
	struct range r;

	if (f->busy || !f->todo.n)
		return;
	r = f->todo.r[0];
	job = read_job(message_range_run,
	               json_pack("{sIsIsI}", "room_id", (json_int_t)f->room, "from",
	                         (json_int_t)r.first, "to", (json_int_t)r.last));
	if (!job) {
		retry_later();
		return;
	}
	job->finished = range_finished;
	if (db_submit(job)) {
		/* queue full: keep the range and try again shortly */
		db_job_free(job);
		metrics_add(M_CLUSTER_RETRIED, 1);
		retry_later();
		return;
	}
	f->busy = 1;
	ranges_take_first(&f->todo, &f->reading);
}

void remote_handle(const struct notify *n)
{
	switch (n->kind) {
	case NOTIFY_TYPING:
		if (fanout_room_has(n->room)) {
			char *ev = em_encode_event(
			    event_name(EV_TYPING),
			    json_pack("{s:I, s:I, s:s}", "room_id", (json_int_t)n->room, "user_id",
			              (json_int_t)n->user, "username", n->word));

			if (ev)
				fanout_room(n->room, ev, NULL);
			free(ev);
		}
		break;
	case NOTIFY_HELLO:
		break;
	case NOTIFY_ERASED:
		if (fanout_user_has(n->user))
			fanout_close_erased(n->user);
		break;
	case NOTIFY_SESSION_ENDED:
		if (fanout_user_has(n->user))
			fanout_close_session(n->user, n->id);
		break;
	case NOTIFY_SESSIONS_REVOKED:
		if (fanout_user_has(n->user))
			fanout_close_other_sessions(n->user, n->id);
		break;
	case NOTIFY_MESSAGES:
		if (fanout_room_has(n->room)) {
			struct room_fetch *f = room_slot(n->room);

			if (!f) {
				log_warn("cluster: too many rooms in flight; room %" PRId64
				         " missed %" PRId64 "..%" PRId64,
				         n->room, n->first, n->last);
				return;
			}
			room_add(f, n->first, n->last);
			room_fetch_next(f);
		}
		break;
	case NOTIFY_RECEIPT:
	case NOTIFY_ROOM:
	case NOTIFY_MEMBERSHIP: { /* plain pushes (events.h), to whoever is here */
		enum server_event ev;
		enum event_to to;
		int64_t id;
		json_t *data;

		if ((n->kind == NOTIFY_MEMBERSHIP ? fanout_user_has(n->user)
		                                  : fanout_room_has(n->room)) &&
		    event_from_announcement(n, &ev, &to, &id, &data) == 1)
			dispatch_push_event(id, to, ev, data);
		break;
	}
	case NOTIFY_EPOCH:
		if (fanout_user_has(n->user))
			submit_read(message_envelope_run,
			            json_pack("{sIsIsI}", "user_id", (json_int_t)n->user, "room_id",
			                      (json_int_t)n->room, "epoch", (json_int_t)n->epoch));
		break;
	case NOTIFY_NOTICE:
		if (fanout_user_has(n->user))
			submit_read(notice_fetch_run,
			            json_pack("{sIsI}", "user_id", (json_int_t)n->user, "id",
			                      (json_int_t)n->id));
		break;
	}
}

void remote_catch_up(int64_t room, int64_t seen, int64_t last)
{
	struct room_fetch *f;
	int64_t first = seen + 1, missing;

	if (first > last)
		return;
	if (!(f = room_slot(room))) {
		log_warn("cluster: too many rooms in flight; room %" PRId64 " catches up later",
		         room);
		return;
	}
	missing = (last - first + 1) -
	          ranges_covered(&f->todo, f->busy ? &f->reading : NULL, first, last);
	if (!missing)
		return;
	metrics_add(M_CLUSTER_CAUGHT_UP, (uint64_t)missing);
	/* ranges waiting merge with this one; the range being read is left out */
	if (f->busy && f->reading.first <= last && f->reading.last >= first) {
		if (f->reading.first > first)
			room_add(f, first, f->reading.first - 1);
		first = f->reading.last + 1;
	}
	if (first <= last)
		room_add(f, first, last);
	room_fetch_next(f);
}

void remote_start(struct lws_context *context)
{
	rm.context = context;
}

void remote_stop(void)
{
	if (rm.retry_armed)
		lws_sul_cancel(&rm.retry_sul), rm.retry_armed = 0;
	for (int i = 0; rm.rooms && i < ROOMS_TRACK; i++)
		ranges_free(&rm.rooms[i].todo);
	free(rm.rooms);
	rm.rooms = NULL;
}
