/*
 * fanout.h - who receives pushed events: an index from room id to the
 * connections subscribed to that room (after `sync`), and from user id to the
 * user's logged-in connections. Entries are (slot, generation) pairs, never
 * pointers, and are removed when a connection closes. Service thread only.
 */
#ifndef EMENTORD_FANOUT_H
#define EMENTORD_FANOUT_H

#include <stdint.h>

struct session;

/* Subscriptions of one session to rooms; 0 or -1 (out of memory). */
int fanout_subscribe(struct session *s, int64_t room_id);
void fanout_unsubscribe(struct session *s, int64_t room_id);
int fanout_is_subscribed(const struct session *s, int64_t room_id);
/* The user index: call at login, and at logout or close. */
int fanout_user_add(struct session *s);
void fanout_user_remove(struct session *s);
/* At close: drops every index entry of the session. */
void fanout_forget(struct session *s);

/*
 * Sends a copy of text (not taken) to every session subscribed to the room /
 * logged in as the user, except `except` (may be NULL). Returns the count.
 */
int fanout_room(int64_t room_id, const char *text, const struct session *except);
int fanout_user(int64_t user_id, const char *text);
/* 1 if some local connection is subscribed to the room / logged in as the user. */
int fanout_room_has(int64_t room_id);
int fanout_user_has(int64_t user_id);
/*
 * The highest message seq this node has pushed to the room's subscribers or
 * replayed to one of them (catchup.c compares it with the room's last_seq):
 * raised by every `message` event and by `sync`; -1 until then.
 */
void fanout_room_seen(int64_t room_id, int64_t seq);
int64_t fanout_room_seen_seq(int64_t room_id);
/* Calls fn for every room some local connection is subscribed to. */
void fanout_rooms_each(void (*fn)(int64_t room_id, void *arg), void *arg);
/* Calls fn for every session of the user. */
void fanout_user_sessions(int64_t user_id, void (*fn)(struct session *s, void *arg), void *arg);

/*
 * Closes the connections of a session that ended: USER's session SID
 * (logout), every session of USER but KEEP (password change), or all of
 * USER's (erasure, 4003). Closes are session_close_ended()'s.
 */
void fanout_close_session(int64_t user, int64_t sid);
void fanout_close_other_sessions(int64_t user, int64_t keep);
void fanout_close_erased(int64_t user);

/* Typing notices: 1 if this session may send one for the room now (and records it). */
int fanout_typing_allowed(struct session *s, int64_t room_id, int64_t now_ms, int64_t every_ms);

#endif
