/*
 * svc_message.c - the service thread's side of messaging (handle_message.c
 * runs the SQL on DB workers): after `sync`, the connection subscribes to
 * its rooms, then the replay goes out page by page (each page a job of its
 * own, parked while the connection's output is backed up), then `synced`;
 * and typing notices, which are never stored: answered here, pushed to the
 * room's subscribers on this node and announced to the others.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libwebsockets.h>

#include "cluster.h"
#include "events.h"
#include "fanout.h"
#include "handlers.h"
#include "server.h"
#include "session.h"
#include "submit.h"

static void sync_page_done(struct session *s, struct db_job *job);

/* Service thread: submits the next replay page, or parks it while output is queued. */
static void sync_next(struct session *s, json_t *todo, json_t *rooms, int recheck)
{
	struct db_job *job = db_job_new();

	if (!job) {
		session_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "sync failed");
		return;
	}
	job->op = EM_OP_SYNC;
	job->no_reply = 1;
	job->args = json_pack("{s:O, s:O, s:b}", "todo", todo, "rooms", rooms, "recheck", recheck);
	job->run = message_sync_page_run;
	job->done = sync_page_done;
	submit_internal(s, job);
}

static void sync_page_done(struct session *s, struct db_job *job)
{
	json_t *todo = json_object_get(job->extra, "todo"), *gone;
	json_t *rooms = json_object_get(job->extra, "rooms");
	size_t i, k;

	/* Removed while we subscribed: unsubscribe, and leave them out of `synced`. */
	json_array_foreach(json_object_get(job->extra, "gone"), i, gone)
	{
		fanout_unsubscribe(s, json_integer_value(gone));
		for (k = 0; k < json_array_size(rooms); k++)
			if (json_integer_value(json_object_get(
			        json_array_get(rooms, k), "room_id")) == json_integer_value(gone))
				json_array_remove(rooms, k--);
	}
	for (i = 0; i < job->n_texts; i++) {
		session_send(s, job->texts[i]); /* takes the text */
		job->texts[i] = NULL;
	}
	if (json_array_size(todo)) {
		sync_next(s, todo, rooms, 0);
		return;
	}
	session_send(s, em_encode_event(event_name(EV_SYNCED), json_pack("{s:O}", "rooms", rooms)));
}

/* Service thread: subscribe first, then re-check and replay (see DESIGN above). */
void message_sync_done(struct session *s, struct db_job *job)
{
	json_t *rooms = json_object_get(job->extra, "rooms"), *room;
	size_t i;

	json_array_foreach(rooms, i, room)
	{
		int64_t id = json_integer_value(json_object_get(room, "room_id"));

		if (fanout_subscribe(s, id)) {
			session_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
			return;
		}
		/* the replay brings the session up to here (catchup.c) */
		fanout_room_seen(id, json_integer_value(json_object_get(room, "last_seq")));
	}
	s->synced = 1;
	sync_next(s, json_object_get(job->extra, "todo"), rooms, 1);
}

int message_typing_local(struct session *s, const struct em_request *req, json_t **result,
                         char *msg, size_t msglen)
{
	int64_t room = em_arg_int(req, "room_id", 0);
	char *text;

	if (!fanout_is_subscribed(s, room)) {
		snprintf(msg, msglen,
		         "you are not a member of room %lld, or this connection has not synced",
		         (long long)room);
		return EM_ERR_NOT_MEMBER;
	}
	if (!fanout_typing_allowed(s, room, server_now_ms(), 2000)) {
		snprintf(msg, msglen, "at most one typing notice per room every 2 s");
		return EM_ERR_RATE_LIMITED;
	}
	text = em_encode_event(event_name(EV_TYPING),
	                       json_pack("{s:I, s:I, s:s}", "room_id", (json_int_t)room, "user_id",
	                                 (json_int_t)s->user_id, "username", s->username));
	if (text)
		fanout_room(room, text, s);
	free(text);
	cluster_typing(room, s->user_id, s->username);
	*result = json_object();
	return EM_OK;
}
