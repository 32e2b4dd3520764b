/*
 * world.c - the client core in memory against a scripted server (world.h),
 * shared by the unit tests that drive core/ through emc.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/fixture.h"
#include "world.h"

void world_put(struct world *w, const char *name, json_t *doc)
{
	char *text = json_dumps(doc, JSON_COMPACT);

	assert_non_null(text);
	assert_int_equal(mem_save(&w->store, name, text, strlen(text)), 0);
	free(text);
	json_decref(doc);
}

void world_start(struct world *w)
{
	struct emc_storage st = mem_storage_of(&w->store);

	w->frames = json_array();
	w->events = json_array();
	w->c = emc_new(&st, w->now);
	assert_non_null(w->c);
	world_link_up(w);
}

void world_reopen(struct world *w)
{
	struct emc_storage st = mem_storage_of(&w->store);

	emc_free(w->c);
	json_array_clear(w->frames);
	json_array_clear(w->events);
	w->c = emc_new(&st, w->now);
	assert_non_null(w->c);
	world_link_up(w);
}

void world_link_up(struct world *w)
{
	emc_link(w->c, 1, w->now);
	drain(w);
	assert_int_equal(count_frames(w, "resume"), 1);
	assert_int_equal(json_array_size(w->frames), 1); /* nothing before the resume's answer */
	answer(w, "resume",
	       json_pack("{s:{s:I, s:s, s:s}, s:s}", "user", "id", (json_int_t)FX_ALICE, "username",
	                 "alice", "role", "mentee", "expires_at", "2027-01-01T00:00:00Z"));
	assert_non_null(event_of(w, "session", NULL));
}

void world_free(struct world *w)
{
	emc_free(w->c);
	mem_clear(&w->store);
	json_decref(w->frames);
	json_decref(w->events);
	free(w);
}

void drain(struct world *w)
{
	enum emc_output kind;
	char *text;
	size_t len;

	while ((kind = emc_next(w->c, &text, &len)) != EMC_NONE) {
		json_t *j = json_loadb(text, len, 0, NULL);

		assert_true(json_is_object(j));
		json_array_append_new(kind == EMC_FRAME ? w->frames : w->events, j);
		free(text);
	}
}

static int named(json_t *o, const char *key, const char *want)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v && !strcmp(v, want);
}

json_t *frame_of(struct world *w, const char *op)
{
	json_t *found = NULL, *f;
	size_t i;

	json_array_foreach(w->frames, i, f)
	{
		if (named(f, "op", op))
			found = f;
	}
	return found;
}

size_t count_frames(struct world *w, const char *op)
{
	json_t *f;
	size_t i, n = 0;

	json_array_foreach(w->frames, i, f)
	{
		n += named(f, "op", op);
	}
	return n;
}

json_t *event_of(struct world *w, const char *ev, const char *code)
{
	json_t *e;
	size_t i;

	json_array_foreach(w->events, i, e)
	{
		if (named(e, "ev", ev) && (!code || named(e, "code", code)))
			return e;
	}
	return NULL;
}

json_t *task_end(struct world *w, int64_t id)
{
	json_t *e;
	size_t i;

	json_array_foreach(w->events, i, e)
	{
		if (named(e, "ev", "task") && json_integer_value(json_object_get(e, "task")) == id)
			return e;
	}
	return NULL;
}

void server_says(struct world *w, json_t *reply)
{
	char *text = json_dumps(reply, JSON_COMPACT);

	assert_non_null(text);
	w->now += 50;
	assert_int_equal(emc_receive(w->c, text, strlen(text), w->now), 0);
	free(text);
	json_decref(reply);
	drain(w);
}

void answer(struct world *w, const char *op, json_t *result)
{
	json_t *f = frame_of(w, op);

	if (!f)
		fail_msg("no %s frame was sent", op);
	server_says(w, json_pack("{s:O, s:o}", "re", json_object_get(f, "id"), "ok", result));
}
