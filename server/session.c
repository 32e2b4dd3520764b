/*
 * session.c - the session table (slot + generation) and each session's
 * bounded output queue. Service thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <libwebsockets.h>

#include "em_proto.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "session.h"

struct out_msg {
	struct out_msg *next;
	size_t len;
	unsigned char buf[]; /* LWS_PRE bytes of headroom, then the frame */
};

static struct {
	struct session **slots; /* NULL = free */
	uint32_t *gens;
	uint32_t n, used;
	uint32_t *free_list;
	uint32_t n_free;
} table;

static int table_grow(void)
{
	uint32_t n = table.n ? table.n * 2 : 256;
	struct session **slots = realloc(table.slots, n * sizeof(*slots));
	uint32_t *gens, *free_list;

	if (!slots)
		return -1;
	table.slots = slots;
	gens = realloc(table.gens, n * sizeof(*gens));
	if (!gens)
		return -1;
	table.gens = gens;
	free_list = realloc(table.free_list, n * sizeof(*free_list));
	if (!free_list)
		return -1;
	table.free_list = free_list;
	for (uint32_t i = table.n; i < n; i++) {
		table.slots[i] = NULL;
		table.gens[i] = 1;
	}
	/* hand out low slots first */
	for (uint32_t i = n; i > table.n; i--)
		table.free_list[table.n_free++] = i - 1;
	table.n = n;
	return 0;
}

int session_register(struct session *s)
{
	uint32_t slot;

	if (!table.n_free && table_grow())
		return -1;
	slot = table.free_list[--table.n_free];
	table.slots[slot] = s;
	s->slot = slot;
	s->gen = table.gens[slot];
	s->registered = 1;
	table.used++;
	return 0;
}

void session_unregister(struct session *s)
{
	if (!s->registered)
		return;
	table.slots[s->slot] = NULL;
	table.gens[s->slot]++;
	table.free_list[table.n_free++] = s->slot;
	table.used--;
	s->registered = 0;
}

struct session *session_lookup(uint32_t slot, uint32_t gen)
{
	if (slot >= table.n || table.gens[slot] != gen)
		return NULL;
	return table.slots[slot];
}

void session_foreach(void (*fn)(struct session *s, void *arg), void *arg)
{
	for (uint32_t i = 0; i < table.n; i++)
		if (table.slots[i])
			fn(table.slots[i], arg);
}

int session_count(void)
{
	return (int)table.used;
}

void session_close(struct session *s, int code, const char *reason)
{
	if (s->close_code)
		return;
	s->close_code = code;
	snprintf(s->close_reason, sizeof(s->close_reason), "%s", reason ? reason : "");
	lws_callback_on_writable(s->wsi);
}

void session_send(struct session *s, char *text)
{
	size_t len, cap = (size_t)server.cfg.out_queue_kib * 1024;
	struct out_msg *m;

	if (s->close_code) {
		free(text);
		return;
	}
	if (!text) {
		session_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
		return;
	}
	len = strlen(text);
	if (s->out_bytes + len > cap) {
		free(text);
		log_warn("ws slow consumer closed user=%s queued=%zu", s->username, s->out_bytes);
		metrics_add(M_SLOW_CONSUMERS, 1);
		session_close(s, EM_CLOSE_SLOW_CONSUMER, "slow_consumer");
		return;
	}
	m = malloc(sizeof(*m) + LWS_PRE + len);
	if (!m) {
		free(text);
		session_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
		return;
	}
	m->next = NULL;
	m->len = len;
	memcpy(m->buf + LWS_PRE, text, len);
	free(text);
	if (s->out_tail)
		s->out_tail->next = m;
	else
		s->out_head = m;
	s->out_tail = m;
	s->out_bytes += len;
	lws_callback_on_writable(s->wsi);
}

int session_write_one(struct session *s)
{
	struct out_msg *m = s->out_head;

	if (!m) {
		if (s->close_code) {
			lws_close_reason(s->wsi, (enum lws_close_status)s->close_code,
			                 (unsigned char *)s->close_reason, strlen(s->close_reason));
			return -1;
		}
		return 0;
	}
	if (s->close_code == EM_CLOSE_SLOW_CONSUMER) {
		/* a slow consumer gets no more data, only the close */
		session_free_buffers(s);
		lws_close_reason(s->wsi, (enum lws_close_status)s->close_code,
		                 (unsigned char *)s->close_reason, strlen(s->close_reason));
		return -1;
	}
	if (lws_write(s->wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len)
		return -1;
	metrics_add(M_FRAMES_OUT, 1);
	metrics_add(M_BYTES_OUT, m->len);
	s->out_head = m->next;
	if (!s->out_head)
		s->out_tail = NULL;
	s->out_bytes -= m->len;
	free(m);
	if (s->out_head || s->close_code)
		lws_callback_on_writable(s->wsi);
	return 0;
}

void session_free_buffers(struct session *s)
{
	while (s->out_head) {
		struct out_msg *m = s->out_head;

		s->out_head = m->next;
		free(m);
	}
	s->out_tail = NULL;
	s->out_bytes = 0;
	free(s->rx_buf);
	s->rx_buf = NULL;
	s->rx_len = 0;
}
