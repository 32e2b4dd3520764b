/*
 * fanout.c (stub) - the parts of server/fanout.h that server/dispatch.c
 * uses, recorded in order instead of delivered (fanout.c has its own test).
 */
#include <stdlib.h>
#include <string.h>

#include "fanout.h"
#include "stubs.h"

struct stub_push stub_pushes[STUB_PUSHES];
int stub_n_pushes;
struct session *stub_user_sessions[8];
int stub_n_user_sessions;

void stub_fanout_reset(void)
{
	for (int i = 0; i < stub_n_pushes; i++)
		free(stub_pushes[i].text);
	memset(stub_pushes, 0, sizeof(stub_pushes));
	stub_n_pushes = 0;
	stub_n_user_sessions = 0;
}

static void record(char kind, int64_t id, int64_t seq, const char *text, const struct session *s)
{
	if (stub_n_pushes == STUB_PUSHES)
		return;
	stub_pushes[stub_n_pushes++] = (struct stub_push){
	    .kind = kind, .id = id, .seq = seq, .text = text ? strdup(text) : NULL, .s = s};
}

int fanout_room(int64_t room_id, const char *text, const struct session *except)
{
	record('r', room_id, 0, text, except);
	return 1;
}

int fanout_user(int64_t user_id, const char *text)
{
	record('u', user_id, 0, text, NULL);
	return 1;
}

void fanout_room_seen(int64_t room_id, int64_t seq)
{
	record('s', room_id, seq, NULL, NULL);
}

int fanout_subscribe(struct session *s, int64_t room_id)
{
	record('+', room_id, 0, NULL, s);
	return 0;
}

void fanout_unsubscribe(struct session *s, int64_t room_id)
{
	record('-', room_id, 0, NULL, s);
}

void fanout_user_sessions(int64_t user_id, void (*fn)(struct session *s, void *arg), void *arg)
{
	(void)user_id;
	for (int i = 0; i < stub_n_user_sessions; i++)
		fn(stub_user_sessions[i], arg);
}
