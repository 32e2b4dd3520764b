/*
 * dispatch.h - the one place a validated request is routed: authentication
 * and role checks, then either an immediate answer or a DB job; and the
 * return path that turns finished jobs into replies. Service thread only.
 */
#ifndef EMENTORD_DISPATCH_H
#define EMENTORD_DISPATCH_H

#include "em_proto.h"
#include "events.h"
#include "session.h"

/*
 * Answers or submits one request (`bytes`: its parsed size). Takes ownership of
 * req->args. Beyond --max-inflight, requests wait in the session in order;
 * before login, more than a few waiting close the connection (1008).
 */
/* Main thread, before db_start: the batch writer runs the batched op's rows (send). */
void dispatch_start(int batch_max, int batch_wait_us);
void dispatch_request(struct session *s, struct em_request *req, size_t bytes);
/* Frees requests still waiting (at close). */
void dispatch_free_held(struct session *s);
/* Collects finished DB jobs and answers their sessions (LWS_CALLBACK_EVENT_WAIT_CANCELLED). */
void dispatch_completions(void);

/*
 * Service thread: pushes one event to the connections subscribed to room `id`
 * (to_room) or logged in as user `id`, as a job's events are pushed (data:
 * reference taken).
 */
void dispatch_push_event(int64_t id, enum event_to to, enum server_event ev, json_t *data);

#endif
