/*
 * session.c - the session table (slot + generation), each session's bounded
 * output queue, and the account of memory held for connections: per
 * session, for all sessions not logged in (capped: --preauth-memory), and
 * the heap given back to the system after a fall (malloc_trim). Service
 * thread only, except the JSON allocation counter (any thread, its own).
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <libwebsockets.h>

#include "em_proto.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "session.h"

/* A frame's bytes, shared by the queues it is on (lws_write writes the same
 * header into the headroom for every connection: one thread, one at a time). */
struct session_frame {
	int refs;
	size_t len;
	unsigned char buf[]; /* LWS_PRE bytes of headroom, then the frame */
};

struct out_msg {
	struct em_link link; /* on the session's out list */
	size_t len;
	struct session_frame *f; /* a reference {owned} */
};

/* What one queued frame is charged to its connection: as if it were its own copy. */
#define OUT_CHARGE(len) CHUNK(sizeof(struct out_msg) + LWS_PRE + (len))

/* Queued output of a connection not logged in: a reply beyond this closes it
 * (4008), unless its queue is empty (one large reply, the privacy notice). */
#define PREAUTH_OUT_MAX (256 * 1024)

/* malloc_trim when the held bytes fell this much (and by half) since their peak,
 * or this many connections closed since the connection count's peak */
#define TRIM_FALL_BYTES (4 * 1024 * 1024)
#define TRIM_FALL_CONNS 64

/* frames written per writable callback at most (each write checked with lws_send_pipe_choked) */
#define WRITE_BURST_FRAMES 32

/* Queued frames are joined into one write of at most this many bytes, their
 * WebSocket headers included: one TLS record (16 KiB of plaintext at most),
 * one write() to the socket, instead of a record and a write() per frame.
 * Below 65,536, so a joined frame's header is 2 or 4 bytes. What the socket
 * does not take of one write, lws keeps and sends before calling back for
 * more (lws_send_pipe_choked), so a connection holds at most one write in
 * lws beyond its capped queue, as when each frame was a write of its own. */
#define WRITE_JOIN_BYTES 16384

/* the heap chunk a malloc(n) takes in glibc, roughly: n + header, 16-aligned */
#define CHUNK(n) (((n) + 16 + 15) & ~(size_t)15)

static size_t preauth_bytes, all_bytes; /* service thread */
static size_t peak_bytes;               /* all_bytes' peak since the last trim */
static uint32_t peak_conns;             /* connections' peak since the last trim */

static _Thread_local size_t json_bytes; /* allocated by jansson on this thread */

static void *counting_malloc(size_t n)
{
	json_bytes += CHUNK(n);
	return malloc(n);
}

void session_mem_init(void)
{
	json_set_alloc_funcs(counting_malloc, free);
}

size_t session_json_allocated(void)
{
	return json_bytes;
}

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

int session_mem_charge(struct session *s, size_t n)
{
	if (!s->authenticated) {
		size_t cap = (size_t)server.cfg.preauth_memory_mib * 1024 * 1024;

		if (preauth_bytes + n > cap)
			return -1;
		preauth_bytes += n;
	}
	s->mem += n;
	all_bytes += n;
	if (all_bytes > peak_bytes)
		peak_bytes = all_bytes;
	return 0;
}

void session_mem_release(struct session *s, size_t n)
{
	if (n > s->mem)
		n = s->mem;
	s->mem -= n;
	all_bytes -= n;
	if (!s->authenticated)
		preauth_bytes -= n;
}

void session_set_authenticated(struct session *s, int on)
{
	on = !!on;
	if (s->authenticated == on)
		return;
	if (on)
		preauth_bytes -= s->mem;
	else
		preauth_bytes += s->mem;
	s->authenticated = on;
}

size_t session_preauth_bytes(void)
{
	return preauth_bytes;
}

size_t session_all_bytes(void)
{
	return all_bytes;
}

void session_mem_tick(void)
{
	if (table.used > peak_conns)
		peak_conns = table.used;
	if ((peak_bytes - all_bytes >= TRIM_FALL_BYTES && all_bytes <= peak_bytes / 2) ||
	    peak_conns - table.used >= TRIM_FALL_CONNS) {
		int64_t t0 = server_now_ms();

		malloc_trim(0);
		log_debug("memory trimmed held_bytes=%zu peak_bytes=%zu connections=%u ms=%lld",
		          all_bytes, peak_bytes, table.used, (long long)(server_now_ms() - t0));
		peak_bytes = all_bytes;
		peak_conns = table.used;
	}
}

void session_close(struct session *s, int code, const char *reason)
{
	if (s->close_code)
		return;
	s->close_code = code;
	snprintf(s->close_reason, sizeof(s->close_reason), "%s", reason ? reason : "");
	lws_callback_on_writable(s->wsi);
}

struct session_frame *session_frame_new(const char *text)
{
	size_t len = text ? strlen(text) : 0;
	struct session_frame *f = text ? malloc(sizeof(*f) + LWS_PRE + len) : NULL;

	if (!f)
		return NULL;
	f->refs = 1;
	f->len = len;
	memcpy(f->buf + LWS_PRE, text, len);
	return f;
}

void session_frame_put(struct session_frame *f)
{
	if (f && --f->refs == 0)
		free(f);
}

void session_send_frame(struct session *s, struct session_frame *f)
{
	size_t len, cap = (size_t)server.cfg.out_queue_kib * 1024;
	struct out_msg *m;

	if (s->close_code)
		return;
	if (!f) {
		session_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
		return;
	}
	len = f->len;
	if (!s->authenticated && s->out_bytes && cap > PREAUTH_OUT_MAX)
		cap = PREAUTH_OUT_MAX;
	if (s->out_bytes + len > cap) {
		log_warn("ws slow consumer closed user=%s queued=%zu", s->username, s->out_bytes);
		metrics_add(M_SLOW_CONSUMERS, 1);
		session_close(s, EM_CLOSE_SLOW_CONSUMER, "slow_consumer");
		return;
	}
	if (session_mem_charge(s, OUT_CHARGE(len))) {
		session_close_overloaded(s);
		return;
	}
	m = malloc(sizeof(*m));
	if (!m) {
		session_mem_release(s, OUT_CHARGE(len));
		session_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
		return;
	}
	m->len = len;
	m->f = f;
	f->refs++;
	em_list_append(&s->out, &m->link);
	s->out_bytes += len;
	lws_callback_on_writable(s->wsi);
}

void session_send(struct session *s, char *text)
{
	struct session_frame *f;

	if (s->close_code) {
		free(text);
		return;
	}
	f = session_frame_new(text);
	free(text);
	session_send_frame(s, f);
	session_frame_put(f);
}

/* Unlinks nothing: frees a queued frame's reference and releases its charge. */
static void out_msg_free(struct session *s, struct out_msg *m)
{
	session_mem_release(s, OUT_CHARGE(m->len));
	session_frame_put(m->f);
	free(m);
}

/* Writes into h the header of an unfragmented text frame of len bytes from
 * the server (RFC 6455 5.2: FIN, opcode 1, no mask) for len < 65,536; returns
 * its size. */
static size_t ws_text_header(unsigned char *h, size_t len)
{
	h[0] = 0x81;
	if (len < 126) {
		h[1] = (unsigned char)len;
		return 2;
	}
	h[1] = 126;
	h[2] = (unsigned char)(len >> 8);
	h[3] = (unsigned char)len;
	return 4;
}

static size_t ws_text_header_size(size_t len)
{
	return len < 126 ? 2 : 4;
}

/* Pops the first queued frame, counting it as sent. */
static void out_pop_sent(struct session *s, struct out_msg *m)
{
	metrics_add(M_FRAMES_OUT, 1);
	metrics_add(M_BYTES_OUT, m->len);
	em_list_remove(&s->out, &m->link);
	s->out_bytes -= m->len;
	out_msg_free(s, m);
}

/*
 * Writes the frames at the head of the queue, up to max of them, as one write
 * when at least two fit in WRITE_JOIN_BYTES: the frames are copied with their
 * headers into one buffer and handed to lws as raw bytes (LWS_WRITE_HTTP on a
 * WebSocket connection of its own is written as it is, after anything lws
 * still holds; not on an HTTP/2 stream).
 * Returns the frames written, 0 when there was nothing to join (the first
 * frame goes out alone, without a copy), -1 when the write failed.
 */
static int write_joined(struct session *s, int max)
{
	static unsigned char buf[LWS_PRE + WRITE_JOIN_BYTES]; /* service thread */
	struct em_link *l;
	size_t total = 0;
	int n = 0;

	/* a WebSocket carried on an HTTP/2 stream (RFC 8441, as Chromium opens it
	 * on the page's connection): lws must wrap each write in DATA frames,
	 * which it does only for the frames it makes itself */
	if (lws_get_network_wsi(s->wsi) != s->wsi)
		return 0;
	for (l = s->out.head; l && n < max; l = l->next, n++) {
		size_t len = em_item(l, struct out_msg, link)->len;

		if (len >= WRITE_JOIN_BYTES ||
		    total + ws_text_header_size(len) + len > WRITE_JOIN_BYTES)
			break;
		total += ws_text_header_size(len) + len;
	}
	if (n < 2)
		return 0;
	total = 0;
	for (int i = 0; i < n; i++) {
		struct out_msg *m = em_list_first(&s->out, struct out_msg, link);

		total += ws_text_header(buf + LWS_PRE + total, m->len);
		memcpy(buf + LWS_PRE + total, m->f->buf + LWS_PRE, m->len);
		total += m->len;
		out_pop_sent(s, m);
	}
	if (lws_write(s->wsi, buf + LWS_PRE, total, LWS_WRITE_HTTP) < (int)total)
		return -1;
	return n;
}

/*
 * Starts the closing handshake with the session's code and reason (lws writes
 * the close frame, then waits for the peer's) from lws's timer at once, not by
 * returning -1 from the writable callback: on the libuv loop, Debian's lws
 * 4.1.6 (built with _DEBUG) closes a connection a second time right after
 * that return (its "uv repeat test"), which killed it before the close frame
 * went out (clients saw 1006, not the code). The timer's close is lws's
 * ordinary one; this timeout reason is the one lws does not take for a dead
 * peer (any other makes it drop the socket without the close frame).
 */
static void close_from_timer(struct session *s)
{
	lws_close_reason(s->wsi, (enum lws_close_status)s->close_code,
	                 (unsigned char *)s->close_reason, strlen(s->close_reason));
	lws_set_timeout(s->wsi, PENDING_TIMEOUT_HTTP_KEEPALIVE_IDLE, LWS_TO_KILL_ASYNC);
}

int session_write_one(struct session *s)
{
	struct out_msg *m = em_list_first(&s->out, struct out_msg, link);

	if (!m) {
		if (s->close_code)
			close_from_timer(s);
		return 0;
	}
	if (s->close_code == EM_CLOSE_SLOW_CONSUMER || s->close_code == SESSION_CLOSE_TRY_AGAIN) {
		/* a slow consumer gets no more data, only the close; nor does a
		 * connection closed to free memory */
		session_free_buffers(s);
		close_from_timer(s);
		return 0;
	}
	/* several frames per writable callback while the socket takes them (a
	 * replay, a burst), joined into few writes: fewer trips round the
	 * service loop, TLS records and write()s per frame */
	for (int n = 0; m;) {
		int k = write_joined(s, WRITE_BURST_FRAMES - n);

		if (k < 0)
			return -1;
		if (!k) {
			if (lws_write(s->wsi, m->f->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) <
			    (int)m->len)
				return -1;
			out_pop_sent(s, m);
			k = 1;
		}
		n += k;
		m = em_list_first(&s->out, struct out_msg, link);
		if (!m || n >= WRITE_BURST_FRAMES || lws_send_pipe_choked(s->wsi))
			break;
	}
	if (!em_list_empty(&s->out) || s->close_code)
		lws_callback_on_writable(s->wsi);
	return 0;
}

void session_free_buffers(struct session *s)
{
	struct em_link *l;

	while ((l = em_list_pop(&s->out))) {
		out_msg_free(s, em_item(l, struct out_msg, link));
	}
	s->out_bytes = 0;
	session_mem_release(s, s->rx_len);
	free(s->rx_buf);
	s->rx_buf = NULL;
	s->rx_len = 0;
}

void session_note_overloaded(const char *what, const struct session *s)
{
	static int64_t last_ms;
	static unsigned quiet; /* events since the last line */
	int64_t now = server_now_ms();

	metrics_add(M_PREAUTH_OVERLOADED, 1);
	/* a flood must not flood the log too: one line a second at most */
	if (now - last_ms < 1000) {
		quiet++;
		return;
	}
	log_warn("ws %s: memory for connections not logged in is full addr=%s preauth_bytes=%zu "
	         "cap_mib=%d unlogged_since_last=%u",
	         what, s ? s->addr : "-", preauth_bytes, server.cfg.preauth_memory_mib, quiet);
	last_ms = now;
	quiet = 0;
}

void session_close_ended(struct session *s, int erased)
{
	if (erased)
		session_close(s, EM_CLOSE_ERASED, "account erased");
	else
		session_close(s, EM_CLOSE_SESSION_ENDED, "session ended");
}

void session_close_overloaded(struct session *s)
{
	session_note_overloaded("closed a connection (1013)", s);
	session_close(s, SESSION_CLOSE_TRY_AGAIN, "server_busy");
}
