/*
 * world.h - the client core in memory against a scripted server, for the
 * unit tests that drive core/ through emc.h (test_core, test_goal,
 * test_quest): a mem_storage the test fills with alice's files, the core on
 * it, and every frame and event the core put out. Each test builds its own
 * world (what alice has pinned and verified differs) and shares the rest.
 * cmocka asserts inside: call from a test only.
 */
#ifndef EMENTOR_TEST_WORLD_H
#define EMENTOR_TEST_WORLD_H

#include <stdint.h>

#include <jansson.h>

#include "client/mem_storage.h"
#include "emc.h"

struct world {
	struct mem_storage store;
	struct emc *c;
	int64_t now;
	json_t *frames; /* every frame the core sent, in order */
	json_t *events; /* every event */
};

/* Stores doc (taken) as the file `name`. */
void world_put(struct world *w, const char *name, json_t *doc);
/* The core on the files stored so far, at w->now; the link comes up as alice (world_link_up). */
void world_start(struct world *w);
/* The same storage opened by a new core (another run of the CLI on the same home), linked up. */
void world_reopen(struct world *w);
/* The link comes up: the core resumes the stored session first; the server takes it as alice's. */
void world_link_up(struct world *w);
void world_free(struct world *w);
/* Takes every output: frames and events, each checked to be a JSON object. */
void drain(struct world *w);
/* The last frame of `op` the core sent, or NULL. */
json_t *frame_of(struct world *w, const char *op);
size_t count_frames(struct world *w, const char *op);
/* The event named ev (with `code` when not NULL), or NULL. */
json_t *event_of(struct world *w, const char *ev, const char *code);
/* The "task" event that ended task id, or NULL. */
json_t *task_end(struct world *w, int64_t id);
/* The server sends `reply` (taken) 50 ms later; the core's outputs are drained. */
void server_says(struct world *w, json_t *reply);
/* The server answers the last request of `op` with `result` (taken); fails when none was sent. */
void answer(struct world *w, const char *op, json_t *result);

#endif
