/*
 * session.c (stub) - server/session.h for a module that uses sessions but
 * is not the session table: lookups in a small table the test fills, and
 * every frame sent and every close recorded in order. A close sets the
 * session's close_code as the real one does (the first close wins), so the
 * module under test sees the state it would see.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "em_proto.h"
#include "session.h"
#include "stubs.h"

struct stub_sent stub_sent[STUB_SENT];
int stub_n_sent;
struct stub_close stub_closes[STUB_SENT];
int stub_n_closes;
int stub_mem_refuse;

static struct session *table[STUB_SESSIONS];
static uint32_t gens[STUB_SESSIONS];

void stub_sent_clear(void)
{
	for (int i = 0; i < stub_n_sent; i++)
		free(stub_sent[i].text);
	memset(stub_sent, 0, sizeof(stub_sent));
	memset(stub_closes, 0, sizeof(stub_closes));
	stub_n_sent = stub_n_closes = 0;
}

void stub_session_reset(void)
{
	stub_sent_clear();
	stub_mem_refuse = 0;
	memset(table, 0, sizeof(table));
}

int stub_session_add(struct session *s)
{
	for (uint32_t i = 0; i < STUB_SESSIONS; i++) {
		if (table[i])
			continue;
		table[i] = s;
		s->slot = i;
		s->gen = ++gens[i];
		s->registered = 1;
		return 0;
	}
	return -1;
}

void stub_session_drop(struct session *s)
{
	if (!s->registered)
		return;
	table[s->slot] = NULL;
	gens[s->slot]++;
	s->registered = 0;
}

struct session *session_lookup(uint32_t slot, uint32_t gen)
{
	if (slot >= STUB_SESSIONS || gens[slot] != gen)
		return NULL;
	return table[slot];
}

int stub_sent_to(const struct session *s)
{
	int n = 0;

	for (int i = 0; i < stub_n_sent; i++)
		n += stub_sent[i].s == s;
	return n;
}

const char *stub_sent_nth(const struct session *s, int nth)
{
	for (int i = 0; i < stub_n_sent; i++)
		if (stub_sent[i].s == s && nth-- == 0)
			return stub_sent[i].text;
	return NULL;
}

void session_send(struct session *s, char *text)
{
	if (stub_n_sent == STUB_SENT) {
		free(text);
		return;
	}
	stub_sent[stub_n_sent++] = (struct stub_sent){.s = s, .text = text};
}

/* A shared frame is its text here; each recipient records its own copy. */
struct session_frame {
	char *text;
};

struct session_frame *session_frame_new(const char *text)
{
	struct session_frame *f = text ? malloc(sizeof(*f)) : NULL;

	if (f && !(f->text = strdup(text))) {
		free(f);
		f = NULL;
	}
	return f;
}

void session_send_frame(struct session *s, struct session_frame *f)
{
	session_send(s, f ? strdup(f->text) : NULL);
}

void session_frame_put(struct session_frame *f)
{
	if (f) {
		free(f->text);
		free(f);
	}
}

void session_close(struct session *s, int code, const char *reason)
{
	if (stub_n_closes < STUB_SENT) {
		struct stub_close *c = &stub_closes[stub_n_closes++];

		c->s = s;
		c->code = code;
		snprintf(c->reason, sizeof(c->reason), "%s", reason ? reason : "");
	}
	if (!s->close_code)
		s->close_code = code;
}

void session_close_ended(struct session *s, int erased)
{
	session_close(s, erased ? EM_CLOSE_ERASED : EM_CLOSE_SESSION_ENDED,
	              erased ? "account erased" : "session ended");
}

void session_close_overloaded(struct session *s)
{
	session_close(s, SESSION_CLOSE_TRY_AGAIN, "server_busy");
}

int session_mem_charge(struct session *s, size_t n)
{
	if (stub_mem_refuse)
		return -1;
	s->mem += n;
	return 0;
}

void session_mem_release(struct session *s, size_t n)
{
	s->mem -= n < s->mem ? n : s->mem;
}
