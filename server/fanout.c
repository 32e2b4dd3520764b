/*
 * fanout.c - the room and user indexes behind fanout.h: two chained hash
 * tables keyed by id, each entry a small vector of (slot, generation)
 * references to sessions. Each session also keeps the list of rooms it is
 * subscribed to (with the time of its last typing notice), so closing a
 * connection removes exactly its own entries.
 */
#include <stdlib.h>
#include <string.h>

#include "fanout.h"
#include "session.h"

struct ref {
	uint32_t slot, gen;
};

struct entry {
	struct entry *next;
	int64_t key;
	struct ref *refs;
	int n, cap;
	int64_t seen; /* rooms: highest message seq pushed or replayed here, -1 unknown */
};

struct index {
	struct entry **buckets;
	size_t n_buckets, n_entries;
};

static struct index rooms_idx, users_idx;

/* The bucket of `key` among n_buckets (a power of two). */
static size_t bucket_in(int64_t key, size_t n_buckets)
{
	uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull;

	return (size_t)(h >> 32) & (n_buckets - 1);
}

static size_t bucket_of(const struct index *ix, int64_t key)
{
	return bucket_in(key, ix->n_buckets);
}

static int index_grow(struct index *ix)
{
	size_t n = ix->n_buckets ? ix->n_buckets * 2 : 1024;
	struct entry **b = calloc(n, sizeof(*b));

	if (!b)
		return -1;
	for (size_t i = 0; i < ix->n_buckets; i++) {
		struct entry *e = ix->buckets[i];

		while (e) {
			struct entry *next = e->next;
			size_t j = bucket_in(e->key, n);

			e->next = b[j];
			b[j] = e;
			e = next;
		}
	}
	free(ix->buckets);
	ix->buckets = b;
	ix->n_buckets = n;
	return 0;
}

static struct entry *index_find(const struct index *ix, int64_t key)
{
	if (!ix->n_buckets)
		return NULL;
	for (struct entry *e = ix->buckets[bucket_of(ix, key)]; e; e = e->next)
		if (e->key == key)
			return e;
	return NULL;
}

static int index_add(struct index *ix, int64_t key, const struct session *s)
{
	struct entry *e = index_find(ix, key);

	if (!e) {
		if ((ix->n_entries + 1 > ix->n_buckets * 2 || !ix->n_buckets) && index_grow(ix))
			return -1;
		e = calloc(1, sizeof(*e));
		if (!e)
			return -1;
		e->key = key;
		e->seen = -1;
		e->next = ix->buckets[bucket_of(ix, key)];
		ix->buckets[bucket_of(ix, key)] = e;
		ix->n_entries++;
	}
	for (int i = 0; i < e->n; i++)
		if (e->refs[i].slot == s->slot && e->refs[i].gen == s->gen)
			return 0;
	if (e->n == e->cap) {
		int cap = e->cap ? e->cap * 2 : 4;
		struct ref *r = realloc(e->refs, (size_t)cap * sizeof(*r));

		if (!r)
			return -1;
		e->refs = r;
		e->cap = cap;
	}
	e->refs[e->n++] = (struct ref){s->slot, s->gen};
	return 0;
}

static void index_remove(struct index *ix, int64_t key, const struct session *s)
{
	struct entry **pp, *e;

	if (!ix->n_buckets)
		return;
	for (pp = &ix->buckets[bucket_of(ix, key)]; (e = *pp); pp = &e->next)
		if (e->key == key)
			break;
	if (!e)
		return;
	for (int i = 0; i < e->n; i++) {
		if (e->refs[i].slot == s->slot && e->refs[i].gen == s->gen) {
			e->refs[i] = e->refs[--e->n];
			break;
		}
	}
	if (!e->n) {
		*pp = e->next;
		free(e->refs);
		free(e);
		ix->n_entries--;
	}
}

int fanout_subscribe(struct session *s, int64_t room_id)
{
	if (fanout_is_subscribed(s, room_id))
		return 0;
	if (s->n_rooms == s->cap_rooms) {
		int cap = s->cap_rooms ? s->cap_rooms * 2 : 4;
		struct session_room *r = realloc(s->rooms, (size_t)cap * sizeof(*r));

		if (!r)
			return -1;
		s->rooms = r;
		s->cap_rooms = cap;
	}
	if (index_add(&rooms_idx, room_id, s))
		return -1;
	s->rooms[s->n_rooms++] = (struct session_room){room_id, 0};
	return 0;
}

void fanout_unsubscribe(struct session *s, int64_t room_id)
{
	for (int i = 0; i < s->n_rooms; i++) {
		if (s->rooms[i].room_id == room_id) {
			s->rooms[i] = s->rooms[--s->n_rooms];
			index_remove(&rooms_idx, room_id, s);
			return;
		}
	}
}

int fanout_is_subscribed(const struct session *s, int64_t room_id)
{
	for (int i = 0; i < s->n_rooms; i++)
		if (s->rooms[i].room_id == room_id)
			return 1;
	return 0;
}

int fanout_user_add(struct session *s)
{
	return index_add(&users_idx, s->user_id, s);
}

void fanout_user_remove(struct session *s)
{
	if (s->user_id)
		index_remove(&users_idx, s->user_id, s);
}

void fanout_forget(struct session *s)
{
	fanout_user_remove(s);
	while (s->n_rooms)
		fanout_unsubscribe(s, s->rooms[s->n_rooms - 1].room_id);
	free(s->rooms);
	s->rooms = NULL;
	s->cap_rooms = 0;
}

/* The frame is copied once and shared by every recipient's queue (session.h). */
static int send_to_entry(struct entry *e, const char *text, const struct session *except)
{
	struct session_frame *f = NULL;
	int sent = 0;

	for (int i = 0; e && i < e->n; i++) {
		struct session *s = session_lookup(e->refs[i].slot, e->refs[i].gen);

		if (!s || s == except)
			continue;
		if (!f)
			f = session_frame_new(text);
		session_send_frame(s, f);
		sent++;
	}
	session_frame_put(f);
	return sent;
}

int fanout_room(int64_t room_id, const char *text, const struct session *except)
{
	return send_to_entry(index_find(&rooms_idx, room_id), text, except);
}

int fanout_room_has(int64_t room_id)
{
	struct entry *e = index_find(&rooms_idx, room_id);

	return e && e->n > 0;
}

void fanout_room_seen(int64_t room_id, int64_t seq)
{
	struct entry *e = index_find(&rooms_idx, room_id);

	if (e && seq > e->seen)
		e->seen = seq;
}

int64_t fanout_room_seen_seq(int64_t room_id)
{
	struct entry *e = index_find(&rooms_idx, room_id);

	return e ? e->seen : -1;
}

void fanout_rooms_each(void (*fn)(int64_t room_id, void *arg), void *arg)
{
	for (size_t i = 0; i < rooms_idx.n_buckets; i++)
		for (struct entry *e = rooms_idx.buckets[i]; e; e = e->next)
			if (e->n > 0)
				fn(e->key, arg);
}

int fanout_user_has(int64_t user_id)
{
	struct entry *e = index_find(&users_idx, user_id);

	return e && e->n > 0;
}

int fanout_user(int64_t user_id, const char *text)
{
	return send_to_entry(index_find(&users_idx, user_id), text, NULL);
}

void fanout_user_sessions(int64_t user_id, void (*fn)(struct session *s, void *arg), void *arg)
{
	struct entry *e = index_find(&users_idx, user_id);

	/* fn may unsubscribe rooms, never users: the vector is stable */
	for (int i = 0; e && i < e->n; i++) {
		struct session *s = session_lookup(e->refs[i].slot, e->refs[i].gen);

		if (s)
			fn(s, arg);
	}
}

int fanout_typing_allowed(struct session *s, int64_t room_id, int64_t now_ms, int64_t every_ms)
{
	for (int i = 0; i < s->n_rooms; i++) {
		if (s->rooms[i].room_id != room_id)
			continue;
		if (s->rooms[i].typing_at && now_ms - s->rooms[i].typing_at < every_ms)
			return 0;
		s->rooms[i].typing_at = now_ms;
		return 1;
	}
	return 0;
}

/* arg is the session id that ended */
static void close_session_ended(struct session *s, void *arg)
{
	if (s->session_id == *(const int64_t *)arg)
		session_close_ended(s, 0);
}

/* arg is the one session id kept */
static void close_session_revoked(struct session *s, void *arg)
{
	if (s->session_id != *(const int64_t *)arg)
		session_close_ended(s, 0);
}

static void close_session_erased(struct session *s, void *arg)
{
	(void)arg;
	session_close_ended(s, 1);
}

void fanout_close_session(int64_t user, int64_t sid)
{
	fanout_user_sessions(user, close_session_ended, &sid);
}

void fanout_close_other_sessions(int64_t user, int64_t keep)
{
	fanout_user_sessions(user, close_session_revoked, &keep);
}

void fanout_close_erased(int64_t user)
{
	fanout_user_sessions(user, close_session_erased, NULL);
}
