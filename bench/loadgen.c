/*
 * loadgen.c - ementor-loadgen: the open-loop load generator of scenario B3
 * ("steady chat", bench/README.md)
 * against a real ementord, through the real ementor.v1 protocol.
 *
 * It exists so that the server's throughput and latency are measured the way
 * a user would feel them: every message is encrypted and signed as a client
 * does (em_msg_encrypt), persisted and acknowledged by the server, and pushed
 * to every member of its room; the generator records when each message was
 * due, written, acknowledged, and received by each member.
 *
 * DESIGN. One process, one lws context, one lws client connection per
 * simulated user, everything on the single lws service thread (like the
 * server). Three phases:
 *   1. setup (not timed): fetch the privacy notice, register a manager with
 *      --invite, create a programme, invites, R*M users (1 mentor + M-1
 *      mentees per room), the R rooms; every user syncs; each room's mentor
 *      commits epoch 1 and every member fetches its room key (keys.get).
 *      Argon2id is skipped: auth_key is BLAKE2b of a random password, which
 *      the server cannot tell apart. Every registration carries the
 *      data-processing consent the protocol requires (PROTOCOL.md 7.1),
 *      signed with em_consent_sign over the notice's text hash. The
 *      programme is created with "agreement_required": false: the bench
 *      measures messaging, and a room agreement (signed once per party at
 *      set-up, PROTOCOL.md section 7) would add only set-up steps, not
 *      per-message work; with it off every member is on the room's roster.
 *   2. run: a timerfd clock dispatches message k at start + k/rate (open
 *      loop: a slow server does not slow the offered load; latency is counted
 *      from the time the message was due, so queueing in the generator or in
 *      the socket is not hidden). Senders take turns round-robin, rooms
 *      interleaved. Frames are encrypted and encoded before the clock starts
 *      (unless --encrypt-live), so the generator's CPU goes to TLS and JSON
 *      only, as if the clients ran on other machines.
 *   3. drain: no new messages; wait until every message is acknowledged and
 *      received by every member, or --drain seconds pass; then report.
 * Scenario B6 (--catchup N) replaces 2 and 3: after set-up, --catchup-seed
 * (a shell command) writes N messages of the first room straight into
 * PostgreSQL, then the room's second member, who has seen none of them, sends
 * `sync` and receives all N; it checks each arrives once and in seq order,
 * and reports the rate from the request to `synced`, with the server's CPU
 * and its RSS sampled every 20 ms (--cpu's first process).
 * A `send` refused with rotate_required or stale_epoch makes that member
 * rotate the room key (room.show, epoch.commit, or keys.get when another
 * member won the race) and resend with the same client_msg_id; retryable
 * errors are resent after retry_after_ms. Receivers match `message` events by
 * client_msg_id; --decrypt also verifies and decrypts at every receiver.
 *
 * Bounds: connects only to a loopback URL; every phase has a deadline; the
 * process stops by itself.
 *
 * Thread: everything runs on the main thread; lws calls lg_callback() and the
 * timers from inside lws_service() on that same thread.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/timerfd.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <sodium.h>

#include "em_crypto.h"
#include "em_proto.h"

#define LG_MAX_MEMBERS   EM_ROOM_MEMBERS_MAX
#define LG_KEY_RING      8             /* room keys a user keeps (newest) */
#define LG_ATTEMPT_MASK  2047          /* send ids: k << 12 | attempt << 1 | 1 */
#define LG_MAX_ATTEMPTS  30            /* sends of one message before it counts as failed */
#define LG_IN_MAX        (1024 * 1024) /* largest frame we accept */
#define LG_HOUSE_US      10000         /* housekeeping period */
#define LG_CLOCK_MIN_US  200           /* wake-ups at least this far apart (coalescing) */
#define LG_GRACE_US      5000000       /* after the drain: time for events of acked messages */
#define LG_SETUP_STEP_MS 120000        /* deadline of each setup step */
#define LG_MAX_MSGS      4000000       /* bound on rate * (warmup + duration) */
#define LG_MAX_USERS     3000
#define LG_CPU_WATCH_MAX 8
#define LG_ERR_SLOTS     64 /* -em_err fits below this */

enum lg_conn_state { LG_CONN_IDLE, LG_CONN_CONNECTING, LG_CONN_OPEN, LG_CONN_CLOSED };
enum lg_phase { LG_PHASE_SETUP, LG_PHASE_RUN, LG_PHASE_DRAIN, LG_PHASE_GRACE, LG_PHASE_DONE };
enum lg_msg_state { LG_MSG_NEW, LG_MSG_SENT, LG_MSG_WAITING, LG_MSG_ACKED, LG_MSG_FAILED };

struct lg_opts {
	const char *url;
	int port2; /* a second node on the same host: odd room members connect there */
	const char *ca;
	const char *invite;
	int rooms;
	int members;
	double rate;
	double duration;
	double warmup;
	double drain;
	int size;
	int decrypt;
	int json;
	int encrypt_live;
	int setup_only;
	int verbose;
	const char *acks; /* --acks FILE: one line per acknowledged message */
	const char *label;
	int64_t catchup;          /* B6: messages to replay (0: B3) */
	const char *catchup_seed; /* B6: command that stores them */
	int catchup_scan;         /* B6: read a message event's seq without parsing the JSON */
	int ncpu;
	char cpu_name[LG_CPU_WATCH_MAX][32];
	int cpu_pid[LG_CPU_WATCH_MAX];
};

/* An outgoing frame: LWS_PRE bytes of headroom, then the JSON text. */
struct lg_frame {
	struct lg_frame *next;
	int64_t msg;   /* message index for a `send`, -1 for any other request */
	int64_t epoch; /* `send`: the epoch it was encrypted for */
	size_t len;
	unsigned char buf[];
};

struct lg_user;
typedef void (*lg_reply_fn)(struct lg_user *u, struct em_incoming *in, void *arg);

/* A control request (anything but `send`) waiting for its reply. */
struct lg_pending {
	struct lg_pending *next;
	int64_t id;
	lg_reply_fn fn;
	void *arg;
};

struct lg_epoch_key {
	int64_t epoch;
	unsigned char key[EM_ROOM_KEY_BYTES];
};

struct lg_member {
	int64_t id;
	unsigned char sign_pk[EM_SIGN_PK_BYTES];
	unsigned char box_pk[EM_BOX_PK_BYTES];
};

struct lg_room {
	int idx;
	int64_t id;
	struct lg_user *users[LG_MAX_MEMBERS]; /* slot 0 is the mentor */
	int n;
	struct lg_member members[LG_MAX_MEMBERS]; /* as the server last listed them */
	int nmembers;
};

struct lg_user {
	int idx; /* -1: the manager */
	struct lg_room *room;
	int slot;
	char username[EM_USERNAME_MAX + 1];
	char invite[EM_INVITE_CODE_MAX + 1];
	struct em_keys keys;
	unsigned char auth_key[EM_KEY_BYTES];
	int64_t id;

	struct lws *wsi;
	enum lg_conn_state state;
	int close_code;
	char *in;
	size_t in_len, in_cap;
	struct lg_frame *out_head, *out_tail;
	int64_t next_ctl_id; /* even ids; `send` ids are odd */
	struct lg_pending *pending;

	struct lg_epoch_key ring[LG_KEY_RING];
	int ring_n;
	int64_t epoch;        /* newest epoch we hold a key for */
	int64_t sent_counter; /* counter of the last message encrypted (PROTOCOL.md 5.1) */
	int64_t last_seq;
	int synced;

	int rotating;
	int rot_tries;
	int rot_notify;    /* setup: count lg.waiting down when the rotation ends */
	int64_t rot_epoch; /* the room's epoch in the last room.show, or the one we commit */
	unsigned char rot_key[EM_ROOM_KEY_BYTES]; /* the key of a commit in flight */
	int64_t rot_retry_at_us;
	int64_t *resend; /* messages waiting for a rotation or a retry */
	size_t resend_n, resend_cap;
	int64_t retry_at_us;
};

struct lg_msg {
	int64_t intended_us; /* when the open-loop schedule says it is sent */
	int64_t write_us;    /* first lws_write of it */
	int64_t ack_us;
	int64_t seq;          /* the seq of the ack */
	struct lg_frame *pre; /* precomputed frame, owned until queued */
	int32_t sender;
	uint16_t attempts;
	uint8_t recv_mask; /* bit per room slot that received it */
	uint8_t state;
	unsigned char cid[EM_MSG_ID_BYTES];
};

struct lg_samples {
	uint32_t *v; /* microseconds */
	size_t n, cap;
};

struct lg_cpu {
	double t; /* CPU seconds */
};

static struct {
	struct lg_opts o;
	struct lws_context *ctx;
	char host[256];
	int port;
	char path[512];
	int use_tls;
	char runid[8];

	struct lg_user manager;
	struct lg_user *users;
	int nusers;
	struct lg_room *rooms;
	int64_t programme_id;
	/* the privacy notice every registration consents to (privacy.notice) */
	char privacy_version[EM_CONSENT_STR_MAX + 1];
	unsigned char privacy_hash[EM_HASH_BYTES];

	enum lg_phase phase;
	int waiting; /* setup: replies / events still expected in this step */
	int fatal;
	char fatal_msg[512];
	int stopping;
	int64_t hard_deadline_us;
	int clock_fd; /* timerfd adopted into lws: the open-loop clock and housekeeping */
	struct lws *clock_wsi;
	int64_t last_house_us;
	int64_t last_progress_us;

	struct lg_msg *msgs;
	int64_t nmsgs, next_msg;
	int64_t start_us, t0_us, t1_us, drain_until_us;
	int64_t cutoff_us; /* acks after this are not judged for loss (INT64_MAX: all are) */
	int64_t *htab;     /* client_msg_id -> message index + 1 */
	uint64_t hmask;
	unsigned char *plain; /* plaintext template of --size bytes */
	int64_t last_scan_us;

	/* counters (all messages, warm-up included, unless said otherwise) */
	int64_t dispatched, written, acked, failed, dup_acks, late_acks;
	int64_t acked_in_window, delivered_in_window, frames_in_window;
	int64_t delivered, self_echoes, duplicates, unknown_msgs, foreign_room;
	int64_t decrypt_ok, decrypt_fail, key_fail, bad_frames, gaps, reordered;
	int64_t rotations, rot_races, resends, conn_closed, send_errors;
	int last_close_code;
	int64_t err_count[LG_ERR_SLOTS];
	int64_t err_other;

	struct lg_samples ack_lat, recv_lat, ack_wire, recv_wire, lag;

	/* B6: the replay at the catching-up member */
	int cu_active; /* the catch-up sync is under way (the phase stays SETUP) */
	int64_t cu_received, cu_dups, cu_disorder, cu_last_seq, cu_first_us, cu_synced_us;

	/* CPU at the start and end of the window */
	int cpu_sampled;
	double cpu0[LG_CPU_WATCH_MAX + 2], cpu1[LG_CPU_WATCH_MAX + 2];
	double machine0_busy, machine0_total, machine1_busy, machine1_total;
} lg;

static volatile sig_atomic_t lg_interrupted;

/* ------------------------------------------------------------------------ */
/* small helpers                                                            */
/* ------------------------------------------------------------------------ */

static int64_t lg_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void lg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Records the first fatal error; the main loop then stops. */
static void lg_fatal(const char *fmt, ...)
{
	va_list ap;

	if (lg.fatal)
		return;
	lg.fatal = 1;
	va_start(ap, fmt);
	vsnprintf(lg.fatal_msg, sizeof(lg.fatal_msg), fmt, ap);
	va_end(ap);
	if (lg.ctx)
		lws_cancel_service(lg.ctx);
}

static void lg_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void lg_note(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "loadgen: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void lg_count_error(int err)
{
	if (err < 0 && -err < LG_ERR_SLOTS)
		lg.err_count[-err]++;
	else
		lg.err_other++;
}

static int lg_samples_init(struct lg_samples *s, size_t cap)
{
	s->n = 0;
	s->cap = cap ? cap : 1;
	s->v = malloc(s->cap * sizeof(*s->v));
	return s->v ? 0 : -1;
}

static void lg_sample(struct lg_samples *s, int64_t us)
{
	if (s->n >= s->cap)
		return; /* sized for the worst case; never reached */
	s->v[s->n++] = us < 0 ? 0 : (us > UINT32_MAX ? UINT32_MAX : (uint32_t)us);
}

static int lg_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile in ms of sorted samples; -1 when there are none. */
static double lg_pct(const struct lg_samples *s, double p)
{
	size_t i;

	if (!s->n)
		return -1;
	i = (size_t)ceil(p / 100.0 * (double)s->n);
	if (i < 1)
		i = 1;
	if (i > s->n)
		i = s->n;
	return s->v[i - 1] / 1000.0;
}

static double lg_mean(const struct lg_samples *s)
{
	double sum = 0;

	if (!s->n)
		return -1;
	for (size_t i = 0; i < s->n; i++)
		sum += s->v[i];
	return sum / (double)s->n / 1000.0;
}

static int lg_in_window(int64_t t)
{
	return t >= lg.t0_us && t < lg.t1_us;
}

static int lg_measured(const struct lg_msg *m)
{
	return lg_in_window(m->intended_us);
}

static int lg_b64_field(json_t *obj, const char *name, unsigned char *out, size_t len)
{
	const char *s = json_string_value(json_object_get(obj, name));

	return s && em_b64_decode(s, out, len) == (int)len ? 0 : -1;
}

static int64_t lg_int_field(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* Adds a base64url field to obj; returns 0, or -1 out of memory. */
static int lg_set_b64(json_t *obj, const char *name, const unsigned char *bin, size_t len)
{
	char *s = em_b64_encode(bin, len);
	int rc;

	if (!s)
		return -1;
	rc = json_object_set_new(obj, name, json_string(s));
	free(s);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* frames and requests                                                      */
/* ------------------------------------------------------------------------ */

/* Copies text into a new frame. Who frees: whoever dequeues it (lg_on_writeable). */
static struct lg_frame *lg_frame_new(const char *text, int64_t msg)
{
	size_t len = strlen(text);
	struct lg_frame *f = malloc(sizeof(*f) + LWS_PRE + len);

	if (!f)
		return NULL;
	f->next = NULL;
	f->msg = msg;
	f->epoch = 0;
	f->len = len;
	memcpy(f->buf + LWS_PRE, text, len);
	return f;
}

static void lg_queue(struct lg_user *u, struct lg_frame *f)
{
	if (u->out_tail)
		u->out_tail->next = f;
	else
		u->out_head = f;
	u->out_tail = f;
	if (u->wsi && u->state == LG_CONN_OPEN)
		lws_callback_on_writable(u->wsi);
}

/*
 * Sends a control request; fn runs with the reply (never for a request that
 * could not be queued: lg_fatal is set instead). Takes the reference to args.
 */
static void lg_request(struct lg_user *u, enum em_op op, json_t *args, lg_reply_fn fn, void *arg)
{
	struct lg_pending *p = malloc(sizeof(*p));
	struct lg_frame *f = NULL;
	char *text;

	u->next_ctl_id += 2;
	text = em_encode_request(u->next_ctl_id, op, args);
	if (text)
		f = lg_frame_new(text, -1);
	free(text);
	if (!p || !f) {
		free(p);
		free(f);
		lg_fatal("out of memory");
		return;
	}
	p->id = u->next_ctl_id;
	p->fn = fn;
	p->arg = arg;
	p->next = u->pending;
	u->pending = p;
	lg_queue(u, f);
}

/* ------------------------------------------------------------------------ */
/* room keys                                                                */
/* ------------------------------------------------------------------------ */

static const unsigned char *lg_key_for(const struct lg_user *u, int64_t epoch)
{
	int n = u->ring_n < LG_KEY_RING ? u->ring_n : LG_KEY_RING;

	for (int i = 0; i < n; i++)
		if (u->ring[i].epoch == epoch)
			return u->ring[i].key;
	return NULL;
}

static void lg_key_add(struct lg_user *u, int64_t epoch, const unsigned char key[32])
{
	struct lg_epoch_key *slot;

	if (lg_key_for(u, epoch))
		return;
	slot = &u->ring[u->ring_n % LG_KEY_RING];
	slot->epoch = epoch;
	memcpy(slot->key, key, EM_ROOM_KEY_BYTES);
	u->ring_n++;
	if (epoch > u->epoch)
		u->epoch = epoch;
}

static const struct lg_member *lg_member_by_id(const struct lg_room *r, int64_t id)
{
	for (int i = 0; i < r->nmembers; i++)
		if (r->members[i].id == id)
			return &r->members[i];
	return NULL;
}

/* Refreshes the room's member list from a Room object's `members`. Returns 0 or -1. */
static int lg_room_members_from(struct lg_room *r, json_t *room)
{
	json_t *members = json_object_get(room, "members"), *m;
	size_t i;
	int n = 0;

	if (!json_is_array(members))
		return -1;
	json_array_foreach(members, i, m)
	{
		if (n >= LG_MAX_MEMBERS)
			return -1;
		r->members[n].id = lg_int_field(m, "id");
		if (r->members[n].id <= 0 ||
		    lg_b64_field(m, "sign_pk", r->members[n].sign_pk, EM_SIGN_PK_BYTES) ||
		    lg_b64_field(m, "box_pk", r->members[n].box_pk, EM_BOX_PK_BYTES))
			return -1;
		n++;
	}
	r->nmembers = n;
	return 0;
}

/*
 * Opens a sealed room key addressed to u and checks the committer's
 * signature against the committer's key as listed by the server (the bench
 * pins what room.show / room.create returned). Returns 0 when the key is
 * added.
 */
static int lg_key_open(struct lg_user *u, int64_t epoch, int64_t committer_id,
                       const char *sealed_b64)
{
	unsigned char sealed[EM_SEALED_KEY_BYTES], key[EM_ROOM_KEY_BYTES], sig[EM_SIG_BYTES];
	const struct lg_member *committer = lg_member_by_id(u->room, committer_id);
	struct em_room_key_id kid = {.epoch = (uint64_t)epoch, .recipient_id = (uint64_t)u->id};
	int rc = -1;

	if (!sealed_b64 || !committer || !u->room ||
	    em_b64_decode(sealed_b64, sealed, sizeof(sealed)) != EM_SEALED_KEY_BYTES)
		goto out;
	kid.room_id = (uint64_t)u->room->id;
	if (em_room_key_open(sealed, &u->keys, &kid, key, sig) ||
	    (int64_t)kid.committer_id != committer_id || kid.agreement_version != 0)
		goto out;
	if (em_room_key_verify(key, &kid, sig, committer->sign_pk))
		goto out;
	lg_key_add(u, epoch, key);
	rc = 0;
out:
	if (rc)
		lg.key_fail++;
	sodium_memzero(key, sizeof(key));
	return rc;
}

/* ------------------------------------------------------------------------ */
/* messages                                                                 */
/* ------------------------------------------------------------------------ */

static void lg_msg_fail(int64_t k)
{
	struct lg_msg *m = &lg.msgs[k];

	if (m->state == LG_MSG_ACKED || m->state == LG_MSG_FAILED)
		return;
	m->state = LG_MSG_FAILED;
	lg.failed++;
}

/*
 * Encrypts, signs and encodes message k as u's `send` for u's newest epoch.
 * Returns a frame (who frees: the writer), or NULL (no key, out of memory).
 */
static struct lg_frame *lg_msg_frame(struct lg_user *u, int64_t k)
{
	static unsigned char ct[EM_MSG_CIPHERTEXT_MAX];
	struct lg_msg *m = &lg.msgs[k];
	const unsigned char *key = lg_key_for(u, u->epoch);
	unsigned char sig[EM_SIG_BYTES];
	struct em_msg_meta meta;
	struct lg_frame *f = NULL;
	char prefix[48];
	json_t *args = NULL;
	char *text = NULL;
	int prefix_len, ct_len;

	if (!key)
		return NULL;
	/* a clear prefix inside the plaintext that --decrypt checks at receivers */
	prefix_len = snprintf(prefix, sizeof(prefix), "lg %" PRId64 " ", k);
	memcpy(lg.plain, prefix,
	       (size_t)prefix_len < (size_t)lg.o.size ? (size_t)prefix_len : (size_t)lg.o.size);
	meta.counter = (uint64_t)++u->sent_counter;
	meta.written_ms = (uint64_t)time(NULL) * 1000;
	memcpy(meta.device, &u->id, sizeof(meta.device));
	ct_len =
	    em_msg_encrypt(key, (uint64_t)u->room->id, (uint64_t)u->epoch, (uint64_t)u->id, m->cid,
	                   &meta, lg.plain, (size_t)lg.o.size, u->keys.sign_sk, ct, sig);
	if (ct_len < 0)
		return NULL;
	args = json_object();
	if (!args || json_object_set_new(args, "room_id", json_integer(u->room->id)) ||
	    json_object_set_new(args, "epoch", json_integer(u->epoch)) ||
	    lg_set_b64(args, "client_msg_id", m->cid, EM_MSG_ID_BYTES) ||
	    lg_set_b64(args, "ciphertext", ct, (size_t)ct_len) ||
	    lg_set_b64(args, "sig", sig, sizeof(sig))) {
		json_decref(args);
		return NULL;
	}
	text = em_encode_request((k << 12) | ((int64_t)(m->attempts & LG_ATTEMPT_MASK) << 1) | 1,
	                         EM_OP_SEND, args);
	if (text)
		f = lg_frame_new(text, k);
	if (f)
		f->epoch = u->epoch;
	free(text);
	return f;
}

/* Queues message k on u's connection, encrypting it now unless a fresh precomputed frame fits. */
static void lg_send(struct lg_user *u, int64_t k)
{
	struct lg_msg *m = &lg.msgs[k];
	struct lg_frame *f;

	if (u->state != LG_CONN_OPEN) {
		lg_msg_fail(k);
		return;
	}
	if (m->pre && m->attempts == 0 && m->pre->epoch == u->epoch) {
		f = m->pre;
		m->pre = NULL;
	} else {
		free(m->pre);
		m->pre = NULL;
		f = lg_msg_frame(u, k);
	}
	if (!f) {
		lg_msg_fail(k);
		return;
	}
	m->state = LG_MSG_SENT;
	lg_queue(u, f);
}

static void lg_resend_later(struct lg_user *u, int64_t k, int64_t at_us)
{
	if (u->resend_n == u->resend_cap) {
		size_t cap = u->resend_cap ? u->resend_cap * 2 : 64;
		int64_t *grown = realloc(u->resend, cap * sizeof(*grown));

		if (!grown) {
			lg_msg_fail(k);
			return;
		}
		u->resend = grown;
		u->resend_cap = cap;
	}
	u->resend[u->resend_n++] = k;
	lg.msgs[k].state = LG_MSG_WAITING;
	if (at_us > u->retry_at_us)
		u->retry_at_us = at_us;
}

/* Sends everything u holds back, once no rotation runs and the retry time has come. */
static void lg_flush_resends(struct lg_user *u, int64_t now)
{
	size_t n = u->resend_n;

	if (!n || u->rotating || now < u->retry_at_us)
		return;
	u->resend_n = 0;
	u->retry_at_us = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t k = u->resend[i];
		struct lg_msg *m = &lg.msgs[k];

		if (m->state != LG_MSG_WAITING)
			continue;
		if (++m->attempts > LG_MAX_ATTEMPTS) {
			lg_msg_fail(k);
			continue;
		}
		lg.resends++;
		lg_send(u, k);
	}
}

static void lg_rot_start(struct lg_user *u);

/* The open-loop schedule reached message k. */
static void lg_dispatch(int64_t k)
{
	struct lg_msg *m = &lg.msgs[k];
	struct lg_user *u = &lg.users[m->sender];

	lg.dispatched++;
	if (u->rotating || u->resend_n)
		lg_resend_later(u, k, 0);
	else
		lg_send(u, k);
}

/* The reply to a `send` (odd request ids). */
static void lg_on_send_reply(struct lg_user *u, struct em_incoming *in, int64_t now)
{
	int64_t k = in->re >> 12;
	int attempt = (int)((in->re >> 1) & LG_ATTEMPT_MASK);
	struct lg_msg *m;

	if (k < 0 || k >= lg.nmsgs || lg.msgs[k].sender != u->idx) {
		lg.bad_frames++;
		return;
	}
	m = &lg.msgs[k];
	if (in->result) {
		if (m->state == LG_MSG_ACKED) {
			lg.late_acks++;
			return;
		}
		if (m->state == LG_MSG_FAILED)
			lg.failed--; /* a retry we had given up on made it after all */
		m->state = LG_MSG_ACKED;
		m->ack_us = now;
		m->seq = (int64_t)json_integer_value(json_object_get(in->result, "seq"));
		lg.acked++;
		if (json_is_true(json_object_get(in->result, "duplicate")))
			lg.dup_acks++;
		if (lg_in_window(now))
			lg.acked_in_window++;
		if (lg_measured(m)) {
			lg_sample(&lg.ack_lat, now - m->intended_us);
			lg_sample(&lg.ack_wire, now - m->write_us);
		}
		return;
	}
	lg.send_errors++;
	lg_count_error(in->err);
	if (lg.o.verbose && lg.send_errors <= 5)
		lg_note("%s: send refused: %s (%s)", u->username, em_err_code(in->err),
		        in->err_message ? in->err_message : "");
	if (attempt != (m->attempts & LG_ATTEMPT_MASK) || m->state != LG_MSG_SENT)
		return; /* an answer to an older attempt */
	if (in->err == EM_ERR_ROTATE_REQUIRED || in->err == EM_ERR_STALE_EPOCH) {
		lg_resend_later(u, k, 0);
		lg_rot_start(u);
	} else if (em_err_retryable(in->err)) {
		/* back off: 50 ms doubling to 1.6 s, or longer if the server says so */
		int64_t wait = 50000LL << (m->attempts < 5 ? m->attempts : 5);

		if (in->retry_after_ms * 1000 > wait)
			wait = in->retry_after_ms * 1000;
		lg_resend_later(u, k, now + wait);
	} else {
		lg_msg_fail(k);
	}
}

static int64_t lg_msg_lookup(const unsigned char cid[EM_MSG_ID_BYTES])
{
	uint64_t h;

	memcpy(&h, cid, sizeof(h));
	for (uint64_t i = h & lg.hmask;; i = (i + 1) & lg.hmask) {
		int64_t v = lg.htab[i];

		if (!v)
			return -1;
		if (!memcmp(lg.msgs[v - 1].cid, cid, EM_MSG_ID_BYTES))
			return v - 1;
	}
}

/* --decrypt: what every real reader does; checks the clear prefix too. */
static void lg_decrypt_check(struct lg_user *u, json_t *d, int64_t k)
{
	static unsigned char ct[EM_MSG_CIPHERTEXT_MAX], pt[EM_MSG_CIPHERTEXT_MAX];
	struct em_msg_meta meta;
	const char *ct_b64 = json_string_value(json_object_get(d, "ciphertext"));
	int64_t epoch = lg_int_field(d, "epoch"), sender_id = lg_int_field(d, "sender_id");
	const struct lg_member *sender = lg_member_by_id(u->room, sender_id);
	const unsigned char *key = lg_key_for(u, epoch);
	unsigned char sig[EM_SIG_BYTES];
	char prefix[48];
	size_t pt_len = 0;
	int ct_len, n;

	if (!ct_b64 || !sender || !key || lg_b64_field(d, "sig", sig, sizeof(sig)))
		goto bad;
	ct_len = em_b64_decode(ct_b64, ct, sizeof(ct));
	if (ct_len < 0)
		goto bad;
	if (em_msg_decrypt(key, (uint64_t)u->room->id, (uint64_t)epoch, (uint64_t)sender_id,
	                   lg.msgs[k].cid, ct, (size_t)ct_len, sig, sender->sign_pk, &meta, pt,
	                   &pt_len))
		goto bad;
	n = snprintf(prefix, sizeof(prefix), "lg %" PRId64 " ", k);
	if (pt_len != (size_t)lg.o.size ||
	    memcmp(pt, prefix, (size_t)n < pt_len ? (size_t)n : pt_len))
		goto bad;
	lg.decrypt_ok++;
	return;
bad:
	lg.decrypt_fail++;
}

static void lg_on_message_event(struct lg_user *u, json_t *d, int64_t now)
{
	unsigned char cid[EM_MSG_ID_BYTES];
	int64_t k, seq = lg_int_field(d, "seq");
	struct lg_msg *m;
	uint8_t bit;

	if (lg_int_field(d, "room_id") != u->room->id) {
		lg.foreign_room++;
		return;
	}
	if (seq > 0) {
		if (seq == u->last_seq + 1 || u->last_seq == 0)
			u->last_seq = seq;
		else if (seq > u->last_seq + 1) {
			lg.gaps++;
			u->last_seq = seq;
		} else {
			lg.reordered++;
		}
	}
	if (lg_b64_field(d, "client_msg_id", cid, sizeof(cid)) || (k = lg_msg_lookup(cid)) < 0) {
		lg.unknown_msgs++;
		return;
	}
	m = &lg.msgs[k];
	bit = (uint8_t)(1u << u->slot);
	if (m->recv_mask & bit) {
		lg.duplicates++;
		return;
	}
	m->recv_mask |= bit;
	if (lg_in_window(now))
		lg.frames_in_window++;
	if (lg.o.decrypt)
		lg_decrypt_check(u, d, k);
	if (m->sender == u->idx) {
		lg.self_echoes++;
		return;
	}
	lg.delivered++;
	if (lg_in_window(now))
		lg.delivered_in_window++;
	if (lg_measured(m)) {
		lg_sample(&lg.recv_lat, now - m->intended_us);
		if (m->write_us)
			lg_sample(&lg.recv_wire, now - m->write_us);
	}
}

/* ------------------------------------------------------------------------ */
/* key rotation: room.show -> epoch.commit (or keys.get) -> resend          */
/* ------------------------------------------------------------------------ */

static void lg_rot_show(struct lg_user *u);

static void lg_rot_end(struct lg_user *u, int ok)
{
	u->rotating = 0;
	u->rot_retry_at_us = 0;
	if (!ok) {
		for (size_t i = 0; i < u->resend_n; i++)
			lg_msg_fail(u->resend[i]);
		u->resend_n = 0;
	}
	if (u->rot_notify) {
		u->rot_notify = 0;
		lg.waiting--;
		if (!ok)
			lg_fatal("%s could not obtain the room key of room %" PRId64, u->username,
			         u->room->id);
	}
	lg_flush_resends(u, lg_now_us());
}

/* The room's member ids, ascending (an envelope's recipient list). */
static void lg_sorted_ids(const struct lg_room *r, uint64_t out[EM_KEY_RECIPIENTS_MAX])
{
	for (int i = 0; i < r->nmembers && i < EM_KEY_RECIPIENTS_MAX; i++) {
		int k = i;

		out[i] = (uint64_t)r->members[i].id;
		for (; k > 0 && out[k - 1] > out[k]; k--) {
			uint64_t t = out[k];

			out[k] = out[k - 1];
			out[k - 1] = t;
		}
	}
}

static void lg_rot_on_commit(struct lg_user *u, struct em_incoming *in, void *arg);
static void lg_rot_on_keys(struct lg_user *u, struct em_incoming *in, void *arg);

/* Makes a fresh room key for epoch e, seals it to every member, signs and commits. */
static void lg_rot_commit(struct lg_user *u, int64_t e)
{
	struct em_commit_entry entries[LG_MAX_MEMBERS];
	struct lg_room *r = u->room;
	unsigned char key[EM_ROOM_KEY_BYTES], sig[EM_SIG_BYTES];
	struct em_commit commit = {
	    .room_id = (uint64_t)r->id, .epoch = (uint64_t)e, .committer_id = (uint64_t)u->id};
	json_t *args = json_object(), *envs = json_array();

	randombytes_buf(key, sizeof(key));
	for (int i = 0; i < r->nmembers; i++) {
		struct em_room_key_id kid = {.room_id = commit.room_id,
		                             .epoch = commit.epoch,
		                             .recipient_id = (uint64_t)r->members[i].id,
		                             .committer_id = commit.committer_id,
		                             .n_recipients = (uint32_t)r->nmembers};

		lg_sorted_ids(r, kid.recipients);
		entries[i].recipient_id = kid.recipient_id;
		em_room_key_seal(key, &kid, u->keys.sign_sk, r->members[i].box_pk,
		                 entries[i].sealed);
	}
	em_commit_sign(&commit, entries, (size_t)r->nmembers, u->keys.sign_sk, sig);
	for (int i = 0; i < r->nmembers && envs; i++) {
		json_t *env = json_object();

		if (!env ||
		    json_object_set_new(env, "recipient_id",
		                        json_integer((json_int_t)entries[i].recipient_id)) ||
		    lg_set_b64(env, "sealed", entries[i].sealed, EM_SEALED_KEY_BYTES) ||
		    json_array_append_new(envs, env)) {
			json_decref(envs);
			envs = NULL;
		}
	}
	if (!args || !envs || json_object_set_new(args, "room_id", json_integer(r->id)) ||
	    json_object_set_new(args, "epoch", json_integer(e)) ||
	    json_object_set_new(args, "agreement_version", json_integer(0)) ||
	    json_object_set_new(args, "envelopes", envs) ||
	    lg_set_b64(args, "sig", sig, sizeof(sig))) {
		json_decref(args);
		sodium_memzero(key, sizeof(key));
		lg_fatal("out of memory");
		return;
	}
	/* Our own key goes in the ring when the server says the epoch is ours. */
	u->rot_epoch = e;
	memcpy(u->rot_key, key, sizeof(key));
	sodium_memzero(key, sizeof(key));
	lg_request(u, EM_OP_EPOCH_COMMIT, args, lg_rot_on_commit, NULL);
}

static void lg_rot_on_show(struct lg_user *u, struct em_incoming *in, void *arg)
{
	json_t *room = in->result ? json_object_get(in->result, "room") : NULL;
	int64_t e;

	(void)arg;
	if (!room) {
		lg_count_error(in->err);
		lg_rot_end(u, 0);
		return;
	}
	e = lg_int_field(room, "epoch");
	if (e < 0 || lg_room_members_from(u->room, room)) {
		lg.bad_frames++;
		lg_rot_end(u, 0);
		return;
	}
	if (json_is_true(json_object_get(room, "rotate_required"))) {
		lg_rot_commit(u, e + 1);
		return;
	}
	u->rot_epoch = e;
	if (e > 0 && lg_key_for(u, e)) {
		u->epoch = e;
		lg_rot_end(u, 1);
		return;
	}
	lg_request(u, EM_OP_KEYS_GET, json_pack("{sI}", "room_id", (json_int_t)u->room->id),
	           lg_rot_on_keys, NULL);
}

static void lg_rot_show(struct lg_user *u)
{
	if (++u->rot_tries > 200) {
		lg_rot_end(u, 0);
		return;
	}
	lg_request(u, EM_OP_ROOM_SHOW, json_pack("{sI}", "room_id", (json_int_t)u->room->id),
	           lg_rot_on_show, NULL);
}

/* A member found the room needs another key (or has one we lack): get in step. */
static void lg_rot_start(struct lg_user *u)
{
	if (u->rotating)
		return;
	u->rotating = 1;
	u->rot_tries = 0;
	lg_rot_show(u);
}

static void lg_rot_on_commit(struct lg_user *u, struct em_incoming *in, void *arg)
{
	(void)arg;
	if (in->result) {
		lg_key_add(u, u->rot_epoch, u->rot_key);
		sodium_memzero(u->rot_key, sizeof(u->rot_key));
		lg.rotations++;
		lg_rot_end(u, 1);
		return;
	}
	sodium_memzero(u->rot_key, sizeof(u->rot_key));
	lg_count_error(in->err);
	if (in->err == EM_ERR_STALE_EPOCH || in->err == EM_ERR_ROSTER_MISMATCH) {
		lg.rot_races++; /* another member rotated first: take theirs */
		lg_rot_show(u);
		return;
	}
	lg_rot_end(u, 0);
}

static void lg_rot_on_keys(struct lg_user *u, struct em_incoming *in, void *arg)
{
	json_t *envs = in->result ? json_object_get(in->result, "envelopes") : NULL, *env;
	size_t i;

	(void)arg;
	if (!json_is_array(envs)) {
		lg_count_error(in->err);
		lg_rot_end(u, 0);
		return;
	}
	json_array_foreach(envs, i, env)
	{
		int64_t e = lg_int_field(env, "epoch");

		if (e > 0 && !lg_key_for(u, e) && e + LG_KEY_RING > u->rot_epoch)
			lg_key_open(u, e, lg_int_field(env, "committer_id"),
			            json_string_value(json_object_get(env, "sealed")));
	}
	if (lg_key_for(u, u->rot_epoch)) {
		u->epoch = u->rot_epoch;
		lg_rot_end(u, 1);
		return;
	}
	/* the commit we saw in room.show is not readable yet: look again shortly */
	u->rot_retry_at_us = lg_now_us() + 5000;
}

/* ------------------------------------------------------------------------ */
/* incoming frames                                                          */
/* ------------------------------------------------------------------------ */

/* B6: one replayed message of the member catching up, checked for order. */
static void lg_cu_count(int64_t seq, int64_t now)
{
	if (!lg.cu_received++)
		lg.cu_first_us = now;
	if (seq <= lg.cu_last_seq)
		lg.cu_dups++;
	else if (seq != lg.cu_last_seq + 1)
		lg.cu_disorder++;
	if (seq > lg.cu_last_seq)
		lg.cu_last_seq = seq;
}

/*
 * B6 with --catchup-scan: the seq of a `message` event read from the frame as
 * ementord writes it ({"ev":"message","data":{"room_id":R,"seq":S,...), without
 * parsing the JSON (the parse was most of the generator's CPU). Returns 0 and
 * sets *seq, or -1 for any other shape (the frame is then parsed whole).
 */
static int lg_scan_message_seq(const char *buf, size_t len, int64_t *seq)
{
	static const char head[] = "{\"ev\":\"message\",\"data\":{\"room_id\":";
	const char *p = buf + sizeof(head) - 1, *end = buf + len;
	int64_t v = 0;

	if (len < sizeof(head) + 16 || memcmp(buf, head, sizeof(head) - 1))
		return -1;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	if (end - p < 8 || memcmp(p, ",\"seq\":", 7))
		return -1;
	p += 7;
	if (p >= end || *p < '0' || *p > '9')
		return -1;
	for (; p < end && *p >= '0' && *p <= '9' && v < INT64_MAX / 10 - 9; p++)
		v = v * 10 + (*p - '0');
	if (p >= end || *p != ',')
		return -1;
	*seq = v;
	return 0;
}

static void lg_on_event(struct lg_user *u, struct em_incoming *in, int64_t now)
{
	if (lg.cu_active) {
		/* B6: only the replay to the member catching up counts */
		if (u != lg.rooms[0].users[1])
			return;
		if (!strcmp(in->ev, "message")) {
			lg_cu_count(lg_int_field(in->data, "seq"), now);
		} else if (!strcmp(in->ev, "synced")) {
			lg.cu_synced_us = now;
		}
		return;
	}
	if (!strcmp(in->ev, "message")) {
		lg_on_message_event(u, in->data, now);
	} else if (!strcmp(in->ev, "epoch")) {
		int64_t e = lg_int_field(in->data, "epoch");

		if (u->room && lg_int_field(in->data, "room_id") == u->room->id && e > 0 &&
		    !lg_key_for(u, e))
			lg_key_open(u, e, lg_int_field(in->data, "committer_id"),
			            json_string_value(json_object_get(in->data, "sealed")));
	} else if (!strcmp(in->ev, "synced")) {
		if (!u->synced) {
			u->synced = 1;
			if (lg.phase == LG_PHASE_SETUP)
				lg.waiting--;
		}
	}
	/* receipt, typing, room and unknown events: nothing to measure */
}

static void lg_on_ctl_reply(struct lg_user *u, struct em_incoming *in)
{
	struct lg_pending **pp = &u->pending, *p;

	while (*pp && (*pp)->id != in->re)
		pp = &(*pp)->next;
	p = *pp;
	if (!p) {
		lg.bad_frames++;
		return;
	}
	*pp = p->next;
	p->fn(u, in, p->arg);
	free(p);
}

static void lg_on_frame(struct lg_user *u, const char *buf, size_t len)
{
	struct em_incoming in;
	int64_t now = lg_now_us(), seq;

	if (lg.cu_active && lg.o.catchup_scan && u == lg.rooms[0].users[1] &&
	    !lg_scan_message_seq(buf, len, &seq)) {
		lg_cu_count(seq, now);
		return;
	}
	if (em_incoming_parse(buf, len, &in) != EM_OK) {
		lg.bad_frames++;
		return;
	}
	if (in.is_event)
		lg_on_event(u, &in, now);
	else if (in.re >= 0 && (in.re & 1))
		lg_on_send_reply(u, &in, now);
	else if (in.re >= 0)
		lg_on_ctl_reply(u, &in);
	else {
		/* the server could not read an id from one of our frames: a bench bug */
		lg.bad_frames++;
		lg_count_error(in.err);
		if (lg.phase == LG_PHASE_SETUP)
			lg_fatal("the server could not read a request of %s: %s (%s)", u->username,
			         em_err_code(in.err), in.err_message ? in.err_message : "");
	}
	em_incoming_clear(&in);
}

static int lg_on_receive(struct lg_user *u, struct lws *wsi, const char *data, size_t len)
{
	if (lws_frame_is_binary(wsi)) {
		lg.bad_frames++;
		return 0;
	}
	if (!u->in_len && lws_is_final_fragment(wsi)) {
		lg_on_frame(u, data, len); /* the usual case: no copy */
		return 0;
	}
	if (len > LG_IN_MAX - u->in_len) {
		lg.bad_frames++;
		lg_fatal("%s received a message over %d bytes", u->username, LG_IN_MAX);
		return -1;
	}
	if (u->in_len + len > u->in_cap) {
		size_t cap = u->in_cap ? u->in_cap : 8192;
		char *grown;

		while (cap < u->in_len + len)
			cap *= 2;
		grown = realloc(u->in, cap);
		if (!grown) {
			lg_fatal("out of memory");
			return -1;
		}
		u->in = grown;
		u->in_cap = cap;
	}
	memcpy(u->in + u->in_len, data, len);
	u->in_len += len;
	if (lws_is_final_fragment(wsi)) {
		lg_on_frame(u, u->in, u->in_len);
		u->in_len = 0;
	}
	return 0;
}

static int lg_on_writeable(struct lg_user *u, struct lws *wsi)
{
	struct lg_frame *f = u->out_head;
	size_t len;
	int n;

	if (!f)
		return 0;
	u->out_head = f->next;
	if (!u->out_head)
		u->out_tail = NULL;
	len = f->len;
	n = lws_write(wsi, f->buf + LWS_PRE, len, LWS_WRITE_TEXT);
	if (f->msg >= 0) {
		struct lg_msg *m = &lg.msgs[f->msg];

		if (!m->write_us) {
			m->write_us = lg_now_us();
			lg.written++;
			if (lg_measured(m))
				lg_sample(&lg.lag, m->write_us - m->intended_us);
		}
	}
	free(f);
	if (n < (int)len) {
		lg_note("%s: write failed", u->username);
		return -1;
	}
	if (u->out_head)
		lws_callback_on_writable(wsi);
	return 0;
}

static void lg_on_closed(struct lg_user *u, const char *why)
{
	if (u->state == LG_CONN_CLOSED)
		return;
	u->state = LG_CONN_CLOSED;
	u->wsi = NULL;
	if (lg.stopping)
		return;
	lg.conn_closed++;
	lg.last_close_code = u->close_code;
	if (lg.phase == LG_PHASE_SETUP)
		lg_fatal("the connection of %s closed during set-up (%s%s%d)", u->username,
		         why ? why : "", why ? ", close code " : "close code ", u->close_code);
	else if (lg.conn_closed <= 3)
		lg_note("the connection of %s closed (close code %d)%s", u->username, u->close_code,
		        lg.conn_closed == 3 ? "; further closes are only counted" : "");
}

/* Thread: main, from inside lws_service(). */
static int lg_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
	struct lg_user *u = wsi ? lws_get_opaque_user_data(wsi) : NULL;
	char why[160];

	(void)user;
	if (!u)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		snprintf(why, sizeof(why), "%s", in ? (const char *)in : "connection error");
		lg_on_closed(u, why);
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		u->state = LG_CONN_OPEN;
		if (lg.phase == LG_PHASE_SETUP)
			lg.waiting--;
		if (u->out_head)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return lg_on_receive(u, wsi, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return lg_on_writeable(u, wsi);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2)
			u->close_code =
			    (((const unsigned char *)in)[0] << 8) | ((const unsigned char *)in)[1];
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		lg_on_closed(u, NULL);
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		if (u->wsi == wsi)
			lg_on_closed(u, "connection destroyed");
		break;
	default:
		break;
	}
	return 0;
}

static int lg_clock_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                             void *in, size_t len);

static const struct lws_protocols lg_protocols[] = {
    {.name = EM_SUBPROTOCOL, .callback = lg_callback},
    {.name = "lg-clock", .callback = lg_clock_callback},
    {.name = NULL, .callback = NULL},
};

/* ------------------------------------------------------------------------ */
/* CPU accounting: /proc utime + stime at the start and end of the window   */
/* ------------------------------------------------------------------------ */

/* CPU seconds of one process (all threads), and its parent id; -1 if gone. */
static double lg_proc_cpu(int pid, int *ppid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	int parent = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (!p || sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &parent,
	                 &ut, &st) != 3)
		return -1;
	if (ppid)
		*ppid = parent;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds of a process and its direct children (PostgreSQL backends). */
static double lg_tree_cpu(int pid)
{
	double sum = lg_proc_cpu(pid, NULL);
	struct dirent *de;
	DIR *d;

	if (sum < 0)
		return -1;
	d = opendir("/proc");
	if (!d)
		return sum;
	while ((de = readdir(d))) {
		int child = atoi(de->d_name), ppid = 0;
		double t;

		if (child <= 0 || child == pid)
			continue;
		t = lg_proc_cpu(child, &ppid);
		if (t >= 0 && ppid == pid)
			sum += t;
	}
	closedir(d);
	return sum;
}

static void lg_machine_cpu(double *busy, double *total)
{
	unsigned long long v[8] = {0};
	FILE *f = fopen("/proc/stat", "r");

	*busy = *total = 0;
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
	           &v[4], &v[5], &v[6], &v[7]) == 8) {
		for (int i = 0; i < 8; i++)
			*total += (double)v[i];
		*busy = *total - (double)v[3] - (double)v[4];
		*busy /= (double)sysconf(_SC_CLK_TCK);
		*total /= (double)sysconf(_SC_CLK_TCK);
	}
	fclose(f);
}

static void lg_cpu_sample(double *cpu, double *busy, double *total)
{
	for (int i = 0; i < lg.o.ncpu; i++)
		cpu[i] = lg_tree_cpu(lg.o.cpu_pid[i]);
	cpu[lg.o.ncpu] = lg_proc_cpu(getpid(), NULL);
	lg_machine_cpu(busy, total);
}

/* ------------------------------------------------------------------------ */
/* timers                                                                   */
/* ------------------------------------------------------------------------ */

/* Every member still connected has message k (the sender's own copy included). */
static int lg_msg_delivered(const struct lg_msg *m)
{
	const struct lg_room *r = lg.users[m->sender].room;

	for (int i = 0; i < r->n; i++)
		if (!(m->recv_mask & (1u << i)) && r->users[i]->state == LG_CONN_OPEN)
			return 0;
	return 1;
}

/*
 * Drain: done when every message is acked (or failed) and delivered.
 * Grace (after the drain timed out): done when every message acked before
 * the cut-off is delivered; later acks are not judged.
 */
static int lg_all_complete(int grace)
{
	for (int64_t k = 0; k < lg.next_msg; k++) {
		const struct lg_msg *m = &lg.msgs[k];

		if (m->state == LG_MSG_FAILED)
			continue;
		if (m->state != LG_MSG_ACKED) {
			if (!grace)
				return 0;
			continue;
		}
		if (grace && m->ack_us > lg.cutoff_us)
			continue;
		if (!lg_msg_delivered(m))
			return 0;
	}
	return 1;
}

static void lg_progress(int64_t now)
{
	fprintf(stderr,
	        "loadgen: %+6.1fs sent %" PRId64 " acked %" PRId64 " delivered %" PRId64
	        " in flight %" PRId64 " errors %" PRId64 " rotations %" PRId64 "\n",
	        (double)(now - lg.t0_us) / 1e6, lg.dispatched, lg.acked, lg.delivered,
	        lg.dispatched - lg.acked - lg.failed, lg.send_errors, lg.rotations);
}

/* Housekeeping: deadlines, rotation retries, resends, CPU samples, progress, drain. */
static void lg_house(int64_t now)
{
	if (now > lg.hard_deadline_us)
		lg_fatal("the run did not finish before its deadline");
	for (int i = 0; i < lg.nusers; i++) {
		struct lg_user *u = &lg.users[i];

		if (u->rotating && u->rot_retry_at_us && now >= u->rot_retry_at_us) {
			u->rot_retry_at_us = 0;
			lg_rot_show(u);
		}
		lg_flush_resends(u, now);
	}
	if (lg.phase == LG_PHASE_RUN || lg.phase == LG_PHASE_DRAIN || lg.phase == LG_PHASE_GRACE) {
		if (lg.cpu_sampled == 0 && now >= lg.t0_us) {
			lg_cpu_sample(lg.cpu0, &lg.machine0_busy, &lg.machine0_total);
			lg.cpu_sampled = 1;
		}
		if (lg.cpu_sampled == 1 && now >= lg.t1_us) {
			lg_cpu_sample(lg.cpu1, &lg.machine1_busy, &lg.machine1_total);
			lg.cpu_sampled = 2;
		}
		if (now - lg.last_progress_us >= 1000000) {
			lg.last_progress_us = now;
			if (lg.o.verbose || now >= lg.t0_us)
				lg_progress(now);
		}
	}
	if ((lg.phase == LG_PHASE_DRAIN || lg.phase == LG_PHASE_GRACE) && lg.cpu_sampled == 2 &&
	    now - lg.last_scan_us >= 100000) {
		lg.last_scan_us = now;
		if (lg.phase == LG_PHASE_DRAIN && lg_all_complete(0)) {
			lg.phase = LG_PHASE_DONE;
		} else if (lg.phase == LG_PHASE_DRAIN && now >= lg.drain_until_us) {
			/* still unacked work: judge only what was acked by now, give its
			 * events time to arrive (they may queue behind a backlog) */
			lg.phase = LG_PHASE_GRACE;
			lg.cutoff_us = now;
			lg.drain_until_us = now + LG_GRACE_US;
		} else if (lg.phase == LG_PHASE_GRACE &&
		           (now >= lg.drain_until_us || lg_all_complete(1))) {
			lg.phase = LG_PHASE_DONE;
		}
	}
}

/* Arms the clock for an absolute CLOCK_MONOTONIC time in microseconds. */
static void lg_clock_arm(int64_t at_us)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (at_us < 1)
		at_us = 1; /* zero would disarm it */
	its.it_value.tv_sec = at_us / 1000000;
	its.it_value.tv_nsec = (long)(at_us % 1000000) * 1000;
	if (timerfd_settime(lg.clock_fd, TFD_TIMER_ABSTIME, &its, NULL))
		lg_fatal("timerfd_settime: %s", strerror(errno));
}

/*
 * The clock fired: dispatch every message that is due (open loop), run the
 * housekeeping when its period is up, and arm for whichever comes next.
 * A timerfd rather than lws_sul: lws 4.1 rounds its poll() timeout down to
 * whole milliseconds, so a timer less than 1 ms away makes it spin.
 */
static void lg_on_clock(void)
{
	int64_t now = lg_now_us(), next;

	if (lg.phase == LG_PHASE_RUN) {
		while (lg.next_msg < lg.nmsgs && lg.msgs[lg.next_msg].intended_us <= now)
			lg_dispatch(lg.next_msg++);
		if (lg.next_msg >= lg.nmsgs || lg_interrupted) {
			lg.phase = LG_PHASE_DRAIN;
			lg.drain_until_us =
			    (now > lg.t1_us ? now : lg.t1_us) + (int64_t)(lg.o.drain * 1e6);
		}
	}
	if (now - lg.last_house_us >= LG_HOUSE_US) {
		lg.last_house_us = now;
		lg_house(now);
	}
	next = lg.last_house_us + LG_HOUSE_US;
	if (lg.phase == LG_PHASE_RUN && lg.msgs[lg.next_msg].intended_us < next)
		next = lg.msgs[lg.next_msg].intended_us;
	if (next < now + LG_CLOCK_MIN_US)
		next = now + LG_CLOCK_MIN_US;
	lg_clock_arm(next);
}

/* Thread: main, from inside lws_service(): the adopted timerfd. */
static int lg_clock_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                             void *in, size_t len)
{
	uint64_t expirations;

	(void)wsi;
	(void)user;
	(void)in;
	(void)len;
	if (reason == LWS_CALLBACK_RAW_RX_FILE) {
		if (read(lg.clock_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
			lg_fatal("timerfd read: %s", strerror(errno));
		lg_on_clock();
	} else if (reason == LWS_CALLBACK_RAW_CLOSE_FILE) {
		lg.clock_wsi = NULL;
	}
	return 0;
}

static int lg_clock_start(void)
{
	lws_sock_file_fd_type fd;

	lg.clock_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (lg.clock_fd < 0)
		return -1;
	fd.filefd = lg.clock_fd;
	lg.clock_wsi = lws_adopt_descriptor_vhost(lws_get_vhost_by_name(lg.ctx, "default"),
	                                          LWS_ADOPT_RAW_FILE_DESC, fd, "lg-clock", NULL);
	if (!lg.clock_wsi)
		return -1;
	lg.last_house_us = lg_now_us();
	lg_clock_arm(lg.last_house_us + LG_HOUSE_US);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* set-up                                                                   */
/* ------------------------------------------------------------------------ */

/* Services lws until the step's expected answers are in. Returns 0 or -1. */
static int lg_wait(const char *step)
{
	int64_t deadline = lg_now_us() + (int64_t)LG_SETUP_STEP_MS * 1000;

	while (lg.waiting > 0 && !lg.fatal && !lg_interrupted) {
		if (lg_now_us() > deadline) {
			lg_fatal("set-up step \"%s\" timed out (%d answers missing)", step,
			         lg.waiting);
			break;
		}
		if (lws_service(lg.ctx, 0) < 0) {
			lg_fatal("lws_service failed");
			break;
		}
	}
	if (lg_interrupted)
		lg_fatal("interrupted");
	if (!lg.fatal && lg.o.verbose)
		lg_note("set-up: %s done", step);
	return lg.fatal ? -1 : 0;
}

static json_t *lg_ok(struct lg_user *u, struct em_incoming *in, const char *what)
{
	if (in->result)
		return in->result;
	lg_fatal("%s: %s failed: %s (%s)", u->username, what, em_err_code(in->err),
	         in->err_message ? in->err_message : "");
	return NULL;
}

static int lg_connect(struct lg_user *u)
{
	struct lws_client_connect_info cc;

	memset(&cc, 0, sizeof(cc));
	cc.context = lg.ctx;
	cc.address = lg.host;
	cc.port = lg.o.port2 && u->room && (u->slot % 2) ? lg.o.port2 : lg.port;
	cc.path = lg.path;
	cc.host = lg.host;
	cc.origin = NULL; /* a native client: no Origin */
	cc.protocol = EM_SUBPROTOCOL;
	cc.local_protocol_name = EM_SUBPROTOCOL;
	cc.ssl_connection = lg.use_tls ? LCCSCF_USE_SSL : 0;
	cc.opaque_user_data = u;
	cc.pwsi = &u->wsi;
	u->state = LG_CONN_CONNECTING;
	lg.waiting++;
	if (!lws_client_connect_via_info(&cc) && u->state == LG_CONN_CONNECTING) {
		lg_fatal("cannot start a connection to %s:%d", lg.host, lg.port);
		return -1;
	}
	return 0;
}

/*
 * Account keys without Argon2id: master = BLAKE2b(random password), then the
 * protocol's own KDF steps. The server only ever sees auth_key and the
 * wrapped backup, so it cannot tell (and RESULTS.md says so).
 */
static void lg_user_keys(struct lg_user *u, unsigned char wrap_key[32])
{
	unsigned char pw[32], master[32];

	randombytes_buf(pw, sizeof(pw));
	crypto_generichash(master, sizeof(master), pw, sizeof(pw), NULL, 0);
	crypto_kdf_derive_from_key(u->auth_key, 32, 1, "ementor_", master);
	crypto_kdf_derive_from_key(wrap_key, 32, 2, "ementor_", master);
	em_keys_generate(&u->keys);
	sodium_memzero(pw, sizeof(pw));
	sodium_memzero(master, sizeof(master));
}

static void lg_on_login(struct lg_user *u, struct em_incoming *in, void *arg)
{
	json_t *res = lg_ok(u, in, "login");

	(void)arg;
	if (!res)
		return;
	u->id = lg_int_field(json_object_get(res, "user"), "id");
	if (u->id <= 0) {
		lg_fatal("%s: login answered without a user id", u->username);
		return;
	}
	lg.waiting--;
}

static void lg_on_register(struct lg_user *u, struct em_incoming *in, void *arg)
{
	json_t *args;

	(void)arg;
	if (!lg_ok(u, in, "register"))
		return;
	args = json_object();
	if (!args || json_object_set_new(args, "username", json_string(u->username)) ||
	    lg_set_b64(args, "auth_key", u->auth_key, 32)) {
		json_decref(args);
		lg_fatal("out of memory");
		return;
	}
	lg_request(u, EM_OP_LOGIN, args, lg_on_login, NULL);
}

/*
 * The privacy notice: its version and text hash, kept for every registration.
 * The hash is checked against the text, as a client that shows the text to
 * the person registering must (what is signed is what was shown).
 */
static void lg_on_privacy(struct lg_user *u, struct em_incoming *in, void *arg)
{
	json_t *res = lg_ok(u, in, "privacy.notice");
	const char *version = res ? json_string_value(json_object_get(res, "version")) : NULL;
	const char *text = res ? json_string_value(json_object_get(res, "text")) : NULL;
	unsigned char mine[EM_HASH_BYTES];

	(void)arg;
	if (!res)
		return;
	if (!version || !*version || strlen(version) > EM_CONSENT_STR_MAX || !text ||
	    lg_b64_field(res, "text_hash", lg.privacy_hash, sizeof(lg.privacy_hash))) {
		lg_fatal("privacy.notice answered without a usable version, text and text_hash");
		return;
	}
	em_text_hash(text, mine);
	if (sodium_memcmp(mine, lg.privacy_hash, sizeof(mine)) != 0) {
		lg_fatal("privacy.notice: text_hash is not BLAKE2b-256 of the text");
		return;
	}
	snprintf(lg.privacy_version, sizeof(lg.privacy_version), "%s", version);
	lg.waiting--;
}

/* The data-processing grant of a registration (PROTOCOL.md 7.3 `register`). */
static int lg_set_privacy(json_t *args, const struct lg_user *u)
{
	unsigned char sig[EM_SIG_BYTES];
	int64_t at = (int64_t)time(NULL);

	if (em_consent_sign(u->keys.sign_pk, "data_processing", lg.privacy_version, lg.privacy_hash,
	                    "grant", at, u->keys.sign_sk, sig))
		return -1;
	return json_object_set_new(args, "privacy_version", json_string(lg.privacy_version)) ||
	               json_object_set_new(args, "privacy_at", json_integer(at)) ||
	               lg_set_b64(args, "privacy_signature", sig, sizeof(sig))
	           ? -1
	           : 0;
}

/* register with u->invite, then log in; counts lg.waiting down once logged in. */
static void lg_register(struct lg_user *u, const char *display_name)
{
	unsigned char wrap_key[32], salt[EM_SALT_BYTES], backup[EM_BACKUP_BYTES];
	json_t *args = json_object();

	lg_user_keys(u, wrap_key);
	em_keys_wrap(&u->keys, wrap_key, u->username, backup);
	sodium_memzero(wrap_key, sizeof(wrap_key));
	randombytes_buf(salt, sizeof(salt));
	if (!args || lg_set_privacy(args, u) ||
	    json_object_set_new(args, "invite", json_string(u->invite)) ||
	    json_object_set_new(args, "username", json_string(u->username)) ||
	    json_object_set_new(args, "display_name", json_string(display_name)) ||
	    lg_set_b64(args, "salt", salt, sizeof(salt)) ||
	    json_object_set_new(args, "opslimit", json_integer(EM_KDF_OPSLIMIT_DEFAULT)) ||
	    json_object_set_new(args, "memlimit", json_integer(EM_KDF_MEMLIMIT_DEFAULT)) ||
	    lg_set_b64(args, "auth_key", u->auth_key, 32) ||
	    lg_set_b64(args, "sign_pk", u->keys.sign_pk, EM_SIGN_PK_BYTES) ||
	    lg_set_b64(args, "box_pk", u->keys.box_pk, EM_BOX_PK_BYTES) ||
	    lg_set_b64(args, "key_backup", backup, sizeof(backup))) {
		json_decref(args);
		lg_fatal("out of memory");
		return;
	}
	lg.waiting++;
	lg_request(u, EM_OP_REGISTER, args, lg_on_register, NULL);
}

static void lg_on_programme(struct lg_user *u, struct em_incoming *in, void *arg)
{
	json_t *res = lg_ok(u, in, "programme.create");

	(void)arg;
	if (!res)
		return;
	lg.programme_id = lg_int_field(json_object_get(res, "programme"), "id");
	if (lg.programme_id <= 0)
		lg_fatal("programme.create answered without an id");
	lg.waiting--;
}

static void lg_on_settings(struct lg_user *u, struct em_incoming *in, void *arg)
{
	(void)arg;
	if (lg_ok(u, in, "programme.settings"))
		lg.waiting--;
}

static void lg_on_invite(struct lg_user *u, struct em_incoming *in, void *arg)
{
	struct lg_user *invitee = arg;
	json_t *res = lg_ok(u, in, "invite.create");
	const char *code = res ? json_string_value(json_object_get(res, "code")) : NULL;

	if (!res)
		return;
	if (!code || strlen(code) > EM_INVITE_CODE_MAX) {
		lg_fatal("invite.create answered without a usable code");
		return;
	}
	snprintf(invitee->invite, sizeof(invitee->invite), "%s", code);
	lg.waiting--;
}

static void lg_on_room_create(struct lg_user *u, struct em_incoming *in, void *arg)
{
	struct lg_room *r = arg;
	json_t *res = lg_ok(u, in, "room.create"), *room;

	if (!res)
		return;
	room = json_object_get(res, "room");
	r->id = lg_int_field(room, "id");
	if (r->id <= 0 || lg_room_members_from(r, room) || r->nmembers != r->n) {
		lg_fatal("room.create answered without the room's %d members", r->n);
		return;
	}
	for (int i = 0; i < r->n; i++)
		if (!lg_member_by_id(r, r->users[i]->id)) {
			lg_fatal("room %" PRId64 " lacks member %s", r->id, r->users[i]->username);
			return;
		}
	lg.waiting--;
}

static void lg_on_sync(struct lg_user *u, struct em_incoming *in, void *arg)
{
	(void)arg;
	if (lg_ok(u, in, "sync"))
		lg.waiting--;
}

static void lg_date(char out[11], int days_from_now)
{
	time_t t = time(NULL) + (time_t)days_from_now * 86400;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

static int lg_setup(void)
{
	struct lg_user *mgr = &lg.manager;
	char name[64], starts[11], ends[11];
	int R = lg.o.rooms, M = lg.o.members;

	/* the manager */
	mgr->idx = -1;
	snprintf(mgr->username, sizeof(mgr->username), "lg%sm", lg.runid);
	snprintf(mgr->invite, sizeof(mgr->invite), "%s", lg.o.invite);
	if (lg_connect(mgr) || lg_wait("manager connects"))
		return -1;
	lg.waiting++;
	lg_request(mgr, EM_OP_PRIVACY_NOTICE, json_object(), lg_on_privacy, NULL);
	if (lg_wait("privacy.notice"))
		return -1;
	lg_register(mgr, "Bench Manager");
	if (lg_wait("manager registers and logs in"))
		return -1;
	lg_date(starts, -1);
	lg_date(ends, 365);
	snprintf(name, sizeof(name), "bench %s", lg.runid);
	lg.waiting++;
	lg_request(mgr, EM_OP_PROGRAMME_CREATE,
	           json_pack("{sssssssi}", "name", name, "starts_on", starts, "ends_on", ends,
	                     "max_group_mentees", EM_GROUP_MENTEES_MAX),
	           lg_on_programme, NULL);
	if (lg_wait("programme.create"))
		return -1;
	/* the bench measures messaging: a programme without agreements, signed */
	{
		unsigned char sig[EM_SIG_BYTES];
		json_t *args = json_pack("{sIsb}", "programme_id", (json_int_t)lg.programme_id,
		                         "agreement_required", 0);

		em_programme_sign((uint64_t)lg.programme_id, (uint64_t)mgr->id, 0,
		                  mgr->keys.sign_sk, sig);
		if (!args || lg_set_b64(args, "signature", sig, sizeof(sig))) {
			json_decref(args);
			lg_fatal("out of memory");
			return -1;
		}
		lg.waiting++;
		lg_request(mgr, EM_OP_PROGRAMME_SETTINGS, args, lg_on_settings, NULL);
		if (lg_wait("programme.settings"))
			return -1;
	}
	for (int i = 0; i < lg.nusers; i++) {
		struct lg_user *u = &lg.users[i];

		lg.waiting++;
		lg_request(mgr, EM_OP_INVITE_CREATE,
		           json_pack("{sIsssi}", "programme_id", (json_int_t)lg.programme_id,
		                     "role", u->slot == 0 ? "mentor" : "mentee", "expires_in_days",
		                     1),
		           lg_on_invite, u);
	}
	if (lg_wait("invite.create"))
		return -1;

	/* the users */
	for (int i = 0; i < lg.nusers; i++)
		if (lg_connect(&lg.users[i]))
			return -1;
	if (lg_wait("users connect"))
		return -1;
	lg_note("set-up: %d users connected", lg.nusers);
	for (int i = 0; i < lg.nusers; i++) {
		snprintf(name, sizeof(name), "Bench User %d", i);
		lg_register(&lg.users[i], name);
	}
	if (lg_wait("users register and log in"))
		return -1;

	/* the rooms, mentor first */
	for (int r = 0; r < R; r++) {
		struct lg_room *room = &lg.rooms[r];
		json_t *members = json_array();

		for (int s = 0; s < M; s++)
			json_array_append_new(members, json_string(room->users[s]->username));
		snprintf(name, sizeof(name), "bench room %d", r);
		lg.waiting++;
		lg_request(mgr, EM_OP_ROOM_CREATE,
		           json_pack("{sIsssssO}", "programme_id", (json_int_t)lg.programme_id,
		                     "kind", M == 2 ? "pair" : "group", "name", name, "members",
		                     members),
		           lg_on_room_create, room);
		json_decref(members);
	}
	if (lg_wait("room.create"))
		return -1;
	lg_note("set-up: %d rooms of %d members created", R, M);
	if (lg.o.setup_only)
		return 0;

	/* subscribe everyone, then the first key of every room */
	for (int i = 0; i < lg.nusers; i++) {
		lg.waiting += 2; /* the reply and the `synced` event */
		lg_request(&lg.users[i], EM_OP_SYNC, json_object(), lg_on_sync, NULL);
	}
	if (lg_wait("sync"))
		return -1;
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < lg.nusers; i++) {
			struct lg_user *u = &lg.users[i];

			if ((pass == 0) != (u->slot == 0))
				continue;
			u->rot_notify = 1;
			lg.waiting++;
			lg_rot_start(u);
		}
		if (lg_wait(pass == 0 ? "mentors commit epoch 1" : "members fetch the room key"))
			return -1;
	}
	for (int i = 0; i < lg.nusers; i++)
		if (lg.users[i].epoch < 1 || !lg_key_for(&lg.users[i], lg.users[i].epoch)) {
			lg_fatal("%s has no room key after set-up", lg.users[i].username);
			return -1;
		}
	lg_note("set-up: every room has a key (epoch commits: %" PRId64 ", races: %" PRId64 ")",
	        lg.rotations, lg.rot_races);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* the run                                                                  */
/* ------------------------------------------------------------------------ */

/* Message k goes to the k-th sender in round-robin order, rooms interleaved. */
static struct lg_user *lg_sender_of(int64_t k)
{
	int j = (int)(k % lg.nusers), R = lg.o.rooms;

	return lg.rooms[j % R].users[j / R];
}

static int lg_prepare(void)
{
	int64_t n = (int64_t)ceil(lg.o.rate * (lg.o.warmup + lg.o.duration));
	uint64_t hsize = 1;
	int64_t t_start = lg_now_us();
	size_t per = (size_t)lg.o.members - 1;

	lg.nmsgs = n;
	lg.msgs = calloc((size_t)n, sizeof(*lg.msgs));
	while (hsize < (uint64_t)n * 2)
		hsize <<= 1;
	lg.htab = calloc(hsize, sizeof(*lg.htab));
	lg.hmask = hsize - 1;
	if (!lg.msgs || !lg.htab || lg_samples_init(&lg.ack_lat, (size_t)n) ||
	    lg_samples_init(&lg.ack_wire, (size_t)n) || lg_samples_init(&lg.lag, (size_t)n) ||
	    lg_samples_init(&lg.recv_lat, (size_t)n * per) ||
	    lg_samples_init(&lg.recv_wire, (size_t)n * per)) {
		lg_fatal("out of memory for %" PRId64 " messages", n);
		return -1;
	}
	for (int64_t k = 0; k < n; k++) {
		struct lg_msg *m = &lg.msgs[k];
		struct lg_user *u = lg_sender_of(k);
		uint64_t h;

		m->sender = u->idx;
		m->intended_us = (int64_t)((double)k * 1e6 / lg.o.rate);
		do {
			randombytes_buf(m->cid, sizeof(m->cid));
		} while (lg_msg_lookup(m->cid) >= 0);
		memcpy(&h, m->cid, sizeof(h));
		for (h &= lg.hmask; lg.htab[h]; h = (h + 1) & lg.hmask)
			;
		lg.htab[h] = k + 1;
		if (!lg.o.encrypt_live) {
			m->pre = lg_msg_frame(u, k);
			if (!m->pre) {
				lg_fatal("cannot encrypt message %" PRId64, k);
				return -1;
			}
		}
	}
	lg_note("prepared %" PRId64 " messages in %.1f s (%s)", n,
	        (double)(lg_now_us() - t_start) / 1e6,
	        lg.o.encrypt_live ? "encrypted when due" : "encrypted and signed ahead");
	return 0;
}

static int lg_run(void)
{
	int64_t now = lg_now_us();

	lg.start_us = now + 20000;
	for (int64_t k = 0; k < lg.nmsgs; k++)
		lg.msgs[k].intended_us += lg.start_us;
	lg.t0_us = lg.start_us + (int64_t)(lg.o.warmup * 1e6);
	lg.t1_us = lg.t0_us + (int64_t)(lg.o.duration * 1e6);
	lg.cutoff_us = INT64_MAX;
	lg.hard_deadline_us = lg.t1_us + (int64_t)(lg.o.drain * 1e6) + LG_GRACE_US + 60 * 1000000LL;
	lg.last_progress_us = now;
	lg.phase = LG_PHASE_RUN;
	lg_note("running: %.0f msg/s for %.0f s after %.0f s of warm-up", lg.o.rate, lg.o.duration,
	        lg.o.warmup);
	lg_clock_arm(lg.start_us);
	while (lg.phase != LG_PHASE_DONE && !lg.fatal && !lg_interrupted)
		if (lws_service(lg.ctx, 0) < 0)
			lg_fatal("lws_service failed");
	if (lg.cpu_sampled < 2) {
		lg_cpu_sample(lg.cpu1, &lg.machine1_busy, &lg.machine1_total);
		if (lg.cpu_sampled == 0)
			memcpy(lg.cpu0, lg.cpu1, sizeof(lg.cpu0));
		lg.cpu_sampled = 2;
	}
	return lg.fatal ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* B6: catch-up                                                             */
/* ------------------------------------------------------------------------ */

static long lg_rss_kib(int pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static void lg_on_catchup_sync(struct lg_user *u, struct em_incoming *in, void *arg)
{
	(void)arg;
	lg_ok(u, in, "sync");
}

/* Seeds the first room with --catchup messages, then its second member syncs them all. */
static int lg_catchup(void)
{
	struct lg_room *r = &lg.rooms[0];
	struct lg_user *u = r->users[1];
	int pid = lg.o.ncpu ? lg.o.cpu_pid[0] : 0;
	char v[32];
	long rss0 = -1, rss_peak = -1, rss_end = -1;
	double cpu0 = -1, cpu1 = -1, own0 = lg_proc_cpu((int)getpid(), NULL), own1, secs;
	int64_t t0, last_sample = 0, deadline;
	int rc;

	snprintf(v, sizeof(v), "%" PRId64, r->id);
	setenv("LG_ROOM_ID", v, 1);
	snprintf(v, sizeof(v), "%" PRId64, r->users[0]->id);
	setenv("LG_SENDER_ID", v, 1);
	snprintf(v, sizeof(v), "%" PRId64, r->users[0]->epoch);
	setenv("LG_EPOCH", v, 1);
	snprintf(v, sizeof(v), "%" PRId64, lg.o.catchup);
	setenv("LG_COUNT", v, 1);
	t0 = lg_now_us();
	rc = system(lg.o.catchup_seed);
	if (rc != 0) {
		lg_fatal("--catchup-seed failed (status %d)", rc);
		return -1;
	}
	lg_note("seeded %" PRId64 " messages in room %" PRId64 " in %.1f s", lg.o.catchup, r->id,
	        (double)(lg_now_us() - t0) / 1e6);
	if (pid) {
		rss0 = rss_peak = lg_rss_kib(pid);
		cpu0 = lg_proc_cpu(pid, NULL);
	}
	lg.cu_active = 1;
	t0 = lg_now_us();
	deadline = t0 + 600 * 1000000LL;
	lg_request(u, EM_OP_SYNC, json_object(), lg_on_catchup_sync, NULL);
	while (!lg.cu_synced_us && !lg.fatal && !lg_interrupted && lg_now_us() < deadline &&
	       u->state == LG_CONN_OPEN) {
		if (lws_service(lg.ctx, 0) < 0)
			lg_fatal("lws_service failed");
		if (pid && lg_now_us() - last_sample > 20000) {
			long k = lg_rss_kib(pid);

			last_sample = lg_now_us();
			if (k > rss_peak)
				rss_peak = k;
		}
	}
	lg.cu_active = 0;
	own1 = lg_proc_cpu((int)getpid(), NULL);
	if (pid) {
		cpu1 = lg_proc_cpu(pid, NULL);
		rss_end = lg_rss_kib(pid);
	}
	secs = lg.cu_synced_us ? (double)(lg.cu_synced_us - t0) / 1e6 : 0;
	printf("B6 catch-up: %" PRId64 " of %" PRId64 " messages in %.2f s = %.0f msg/s "
	       "(first after %.1f ms); duplicates %" PRId64 ", out of order %" PRId64
	       ", missing %" PRId64 "; ementord CPU %.2f s (%.1f us/msg), RSS %ld KiB before, "
	       "peak %ld KiB (+%ld), %ld KiB after; loadgen CPU %.2f s (%s)\n",
	       lg.cu_received, lg.o.catchup, secs, secs > 0 ? (double)lg.cu_received / secs : 0,
	       lg.cu_first_us ? (double)(lg.cu_first_us - t0) / 1e3 : -1, lg.cu_dups,
	       lg.cu_disorder,
	       lg.o.catchup - (lg.cu_last_seq < lg.o.catchup ? lg.cu_last_seq : lg.o.catchup),
	       cpu1 - cpu0, lg.cu_received ? (cpu1 - cpu0) * 1e6 / (double)lg.cu_received : 0, rss0,
	       rss_peak, rss_peak - rss0, rss_end, own1 - own0,
	       lg.o.catchup_scan ? "each seq scanned from the frame" : "each frame parsed");
	if (lg.o.json) {
		json_t *o = json_pack(
		    "{s:s, s:s, s:s, s:I, s:I, s:f, s:f, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:f}",
		    "scenario", "B6", "label", lg.o.label ? lg.o.label : "", "client_reads",
		    lg.o.catchup_scan ? "scan" : "json", "messages", (json_int_t)lg.o.catchup,
		    "received", (json_int_t)lg.cu_received, "seconds", secs, "msgs_per_s",
		    secs > 0 ? (double)lg.cu_received / secs : 0.0, "duplicates",
		    (json_int_t)lg.cu_dups, "out_of_order", (json_int_t)lg.cu_disorder, "last_seq",
		    (json_int_t)lg.cu_last_seq, "ementord_cpu_s", cpu1 - cpu0,
		    "ementord_rss_kib_before", (json_int_t)rss0, "ementord_rss_kib_peak",
		    (json_int_t)rss_peak, "ementord_rss_kib_after", (json_int_t)rss_end,
		    "loadgen_cpu_s", own1 - own0);
		char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

		if (text)
			printf("%s\n", text);
		free(text);
		json_decref(o);
	}
	if (!lg.cu_synced_us && !lg.fatal)
		lg_fatal("the catch-up did not finish (%" PRId64 " received)", lg.cu_received);
	return lg.fatal || lg.cu_received != lg.o.catchup || lg.cu_dups || lg.cu_disorder ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* report                                                                   */
/* ------------------------------------------------------------------------ */

struct lg_result {
	double window_s;
	int64_t sent_window, acked_window_msgs, lost, lost_self, unacked;
	int64_t undelivered_closed; /* acked, missing only at members whose connection closed */
	int64_t acked_unjudged;     /* acked after the drain's cut-off: delivery not checked */
	double cpu_cores[LG_CPU_WATCH_MAX + 1];
	double machine_cores;
	double other_cores; /* machine minus the watched processes and the generator */
};

static void lg_sort(struct lg_samples *s)
{
	qsort(s->v, s->n, sizeof(*s->v), lg_cmp_u32);
}

static void lg_print_lat(FILE *f, const char *name, const struct lg_samples *s)
{
	if (!s->n) {
		fprintf(f, "  %-24s no samples\n", name);
		return;
	}
	fprintf(f, "  %-24s p50 %8.2f  p95 %8.2f  p99 %8.2f  max %8.2f  mean %8.2f  (n=%zu)\n",
	        name, lg_pct(s, 50), lg_pct(s, 95), lg_pct(s, 99), lg_pct(s, 100), lg_mean(s),
	        s->n);
}

static void lg_json_lat(json_t *o, const char *name, const struct lg_samples *s)
{
	json_object_set_new(o, name,
	                    json_pack("{sfsfsfsfsfsI}", "p50", lg_pct(s, 50), "p95", lg_pct(s, 95),
	                              "p99", lg_pct(s, 99), "max", lg_pct(s, 100), "mean",
	                              lg_mean(s), "n", (json_int_t)s->n));
}

static void lg_compute(struct lg_result *r)
{
	memset(r, 0, sizeof(*r));
	r->window_s = lg.o.duration;
	for (int64_t k = 0; k < lg.next_msg; k++) {
		const struct lg_msg *m = &lg.msgs[k];
		const struct lg_user *s = &lg.users[m->sender];
		uint8_t full = (uint8_t)((1u << s->room->n) - 1), self = (uint8_t)(1u << s->slot);

		if (lg_measured(m)) {
			r->sent_window++;
			if (m->state == LG_MSG_ACKED)
				r->acked_window_msgs++;
		}
		if (m->state == LG_MSG_ACKED && m->ack_us > lg.cutoff_us) {
			r->acked_unjudged++;
		} else if (m->state == LG_MSG_ACKED) {
			uint8_t missing = (uint8_t)(full & ~(m->recv_mask | self)),
			        open_missing = 0;

			for (int i = 0; i < s->room->n; i++)
				if ((missing & (1u << i)) &&
				    s->room->users[i]->state == LG_CONN_OPEN)
					open_missing = 1;
			if (open_missing)
				r->lost++;
			else if (missing)
				r->undelivered_closed++;
			if (!(m->recv_mask & self) && s->state == LG_CONN_OPEN)
				r->lost_self++;
		} else if (m->state != LG_MSG_FAILED) {
			r->unacked++;
		}
	}
	for (int i = 0; i <= lg.o.ncpu; i++)
		r->cpu_cores[i] = (lg.cpu0[i] < 0 || lg.cpu1[i] < 0)
		                      ? -1
		                      : (lg.cpu1[i] - lg.cpu0[i]) / r->window_s;
	r->machine_cores = (lg.machine1_busy - lg.machine0_busy) / r->window_s;
	r->other_cores = r->machine_cores;
	for (int i = 0; i <= lg.o.ncpu; i++)
		if (r->cpu_cores[i] > 0)
			r->other_cores -= r->cpu_cores[i];
	lg_sort(&lg.ack_lat);
	lg_sort(&lg.recv_lat);
	lg_sort(&lg.ack_wire);
	lg_sort(&lg.recv_wire);
	lg_sort(&lg.lag);
}

static void lg_report_text(const struct lg_result *r, int aborted)
{
	FILE *f = stdout;
	double w = r->window_s;
	int any = 0;

	fprintf(f,
	        "ementor-loadgen B3%s: %d rooms x %d members (%d connections), %d-byte plaintext, "
	        "offered %.0f msg/s for %.0f s after %.0f s warm-up%s\n",
	        aborted ? " (ABORTED)" : "", lg.o.rooms, lg.o.members, lg.nusers, lg.o.size,
	        lg.o.rate, lg.o.duration, lg.o.warmup, lg.o.decrypt ? ", decrypting" : "");
	fprintf(f, "  sent in window           %" PRId64 " (acked %" PRId64 ")\n", r->sent_window,
	        r->acked_window_msgs);
	fprintf(f, "  persisted (acks)         %.1f msg/s\n", (double)lg.acked_in_window / w);
	fprintf(f,
	        "  delivered (events)       %.1f msg/s to other members, %.1f message frames/s "
	        "with the sender's own copy\n",
	        (double)lg.delivered_in_window / w, (double)lg.frames_in_window / w);
	fprintf(f, "  latency, ms, from when each message was due (open loop):\n");
	lg_print_lat(f, "send->ack", &lg.ack_lat);
	lg_print_lat(f, "send->receive", &lg.recv_lat);
	fprintf(f, "  latency, ms, from the write to the socket:\n");
	lg_print_lat(f, "send->ack", &lg.ack_wire);
	lg_print_lat(f, "send->receive", &lg.recv_wire);
	lg_print_lat(f, "generator lag (write-due)", &lg.lag);
	fprintf(f, "  errors by code:");
	for (int i = 0; i < LG_ERR_SLOTS; i++)
		if (lg.err_count[i]) {
			fprintf(f, " %s=%" PRId64, em_err_code(-i), lg.err_count[i]);
			any = 1;
		}
	if (lg.err_other) {
		fprintf(f, " other=%" PRId64, lg.err_other);
		any = 1;
	}
	fprintf(f, "%s\n", any ? "" : " none");
	fprintf(f,
	        "  rotations %" PRId64 " (races %" PRId64 "), resends %" PRId64 ", failed %" PRId64
	        ", unacked %" PRId64 ", duplicate acks %" PRId64 ", closed connections %" PRId64
	        " (last close code %d)\n",
	        lg.rotations, lg.rot_races, lg.resends, lg.failed, r->unacked, lg.dup_acks,
	        lg.conn_closed, lg.last_close_code);
	fprintf(f,
	        "  LOST %" PRId64
	        " (acked, never received by a member still connected), DUPLICATES %" PRId64
	        "\n  undelivered to closed connections %" PRId64 ", own copy missing %" PRId64
	        ", seq gaps %" PRId64 ", unknown %" PRId64 ", bad frames %" PRId64
	        ", key failures %" PRId64 "\n",
	        r->lost, lg.duplicates, r->undelivered_closed, r->lost_self, lg.gaps,
	        lg.unknown_msgs, lg.bad_frames, lg.key_fail);
	if (r->acked_unjudged)
		fprintf(f,
		        "  %" PRId64
		        " messages acked after the drain timed out: delivery not judged\n",
		        r->acked_unjudged);
	if (lg.o.decrypt)
		fprintf(f, "  decrypted ok %" PRId64 ", failed %" PRId64 "\n", lg.decrypt_ok,
		        lg.decrypt_fail);
	fprintf(f, "  CPU in window (cores):");
	for (int i = 0; i < lg.o.ncpu; i++)
		fprintf(f, " %s %.2f", lg.o.cpu_name[i], r->cpu_cores[i]);
	fprintf(f, " loadgen %.2f other %.2f; machine %.2f of %ld\n", r->cpu_cores[lg.o.ncpu],
	        r->other_cores, r->machine_cores, sysconf(_SC_NPROCESSORS_ONLN));
}

static void lg_report_json(const struct lg_result *r, int aborted)
{
	json_t *o = json_object(), *errs = json_object(), *cpu = json_object();
	char *text;

	for (int i = 0; i < LG_ERR_SLOTS; i++)
		if (lg.err_count[i])
			json_object_set_new(errs, em_err_code(-i), json_integer(lg.err_count[i]));
	if (lg.err_other)
		json_object_set_new(errs, "other", json_integer(lg.err_other));
	for (int i = 0; i < lg.o.ncpu; i++)
		json_object_set_new(cpu, lg.o.cpu_name[i], json_real(r->cpu_cores[i]));
	json_object_set_new(cpu, "loadgen", json_real(r->cpu_cores[lg.o.ncpu]));
	json_object_set_new(cpu, "other", json_real(r->other_cores));
	json_object_set_new(cpu, "machine", json_real(r->machine_cores));
	json_object_set_new(o, "bench", json_string("B3"));
	if (lg.o.label)
		json_object_set_new(o, "label", json_string(lg.o.label));
	json_object_set_new(o, "aborted", json_boolean(aborted));
	json_object_set_new(o, "rooms", json_integer(lg.o.rooms));
	json_object_set_new(o, "members", json_integer(lg.o.members));
	json_object_set_new(o, "connections", json_integer(lg.nusers));
	json_object_set_new(o, "size", json_integer(lg.o.size));
	json_object_set_new(o, "decrypt", json_boolean(lg.o.decrypt));
	json_object_set_new(o, "encrypt_live", json_boolean(lg.o.encrypt_live));
	json_object_set_new(o, "offered_rate", json_real(lg.o.rate));
	json_object_set_new(o, "duration_s", json_real(lg.o.duration));
	json_object_set_new(o, "warmup_s", json_real(lg.o.warmup));
	json_object_set_new(o, "sent_window", json_integer(r->sent_window));
	json_object_set_new(o, "acked_window_msgs", json_integer(r->acked_window_msgs));
	json_object_set_new(o, "persisted_per_s",
	                    json_real((double)lg.acked_in_window / r->window_s));
	json_object_set_new(o, "delivered_per_s",
	                    json_real((double)lg.delivered_in_window / r->window_s));
	json_object_set_new(o, "frames_per_s",
	                    json_real((double)lg.frames_in_window / r->window_s));
	lg_json_lat(o, "ack_ms", &lg.ack_lat);
	lg_json_lat(o, "recv_ms", &lg.recv_lat);
	lg_json_lat(o, "ack_wire_ms", &lg.ack_wire);
	lg_json_lat(o, "recv_wire_ms", &lg.recv_wire);
	lg_json_lat(o, "lag_ms", &lg.lag);
	json_object_set_new(o, "errors", errs);
	json_object_set_new(o, "rotations", json_integer(lg.rotations));
	json_object_set_new(o, "rotation_races", json_integer(lg.rot_races));
	json_object_set_new(o, "resends", json_integer(lg.resends));
	json_object_set_new(o, "failed", json_integer(lg.failed));
	json_object_set_new(o, "unacked", json_integer(r->unacked));
	json_object_set_new(o, "duplicate_acks", json_integer(lg.dup_acks));
	json_object_set_new(o, "lost", json_integer(r->lost));
	json_object_set_new(o, "lost_self", json_integer(r->lost_self));
	json_object_set_new(o, "undelivered_closed", json_integer(r->undelivered_closed));
	json_object_set_new(o, "acked_unjudged", json_integer(r->acked_unjudged));
	json_object_set_new(o, "duplicates", json_integer(lg.duplicates));
	json_object_set_new(o, "seq_gaps", json_integer(lg.gaps));
	json_object_set_new(o, "unknown", json_integer(lg.unknown_msgs));
	json_object_set_new(o, "bad_frames", json_integer(lg.bad_frames));
	json_object_set_new(o, "closed_connections", json_integer(lg.conn_closed));
	json_object_set_new(o, "last_close_code", json_integer(lg.last_close_code));
	if (lg.o.decrypt) {
		json_object_set_new(o, "decrypt_ok", json_integer(lg.decrypt_ok));
		json_object_set_new(o, "decrypt_fail", json_integer(lg.decrypt_fail));
	}
	json_object_set_new(o, "cpu_cores", cpu);
	json_object_set_new(o, "nproc", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
	text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
	if (text)
		printf("%s\n", text);
	free(text);
	json_decref(o);
}

/* ------------------------------------------------------------------------ */
/* options and main                                                         */
/* ------------------------------------------------------------------------ */

static void lg_usage(FILE *f, const char *argv0)
{
	fprintf(f,
	        "Usage: %s --url wss://127.0.0.1:PORT --ca CERT.pem --invite CODE [OPTIONS]\n"
	        "\n"
	        "Open-loop load generator for ementord (scenario B3, steady chat). Registers a\n"
	        "manager with the manager invite CODE (`ementord invite --role manager`), then\n"
	        "R rooms of M users through the real protocol, and sends end-to-end encrypted\n"
	        "messages at a fixed total rate spread over every user. Every account consents\n"
	        "to the server's privacy notice; the programme has no room agreements\n"
	        "(\"agreement_required\": false): the bench measures messaging.\n"
	        "\n"
	        "  --url URL        server, ws:// or wss:// on a loopback address (required)\n"
	        "  --port2 PORT     a second node on the same host: members 2, 4, 6 of each room\n"
	        "                   connect there, so every message crosses nodes\n"
	        "  --ca FILE        PEM certificate(s) to trust for wss://\n"
	        "  --invite CODE    a one-time manager invite (required)\n"
	        "  --rooms R        rooms (default 50)\n"
	        "  --members M      members per room, 2-6: 1 mentor + M-1 mentees (default 4)\n"
	        "  --rate N         total messages per second (default 1000)\n"
	        "  --duration S     measured seconds (default 20)\n"
	        "  --warmup S       seconds of load before measuring (default 5)\n"
	        "  --drain S        seconds to wait for the last acks and deliveries (default 10)\n"
	        "  --size BYTES     plaintext bytes per message, 16-16384 (default 256)\n"
	        "  --decrypt        verify and decrypt every message at every receiver\n"
	        "  --encrypt-live   encrypt and sign each message when due, not ahead of time\n"
	        "  --cpu NAME=PID   report CPU of PID and its children during the window\n"
	        "                   (repeatable, e.g. ementord=123 postgres=456)\n"
	        "  --label TEXT     copied into the JSON result\n"
	        "  --acks FILE      at the end, write \"ROOM SEQ CLIENT_MSG_ID\" (hex) for every\n"
	        "                   acknowledged message, to compare with the rows stored\n"
	        "  --json           also print the result as one JSON line (last line)\n"
	        "  --setup-only     stop once the accounts and rooms exist (smoke test)\n"
	        "  --catchup N      scenario B6 instead of B3: --catchup-seed CMD stores N\n"
	        "                   messages of the first room (sh -c, with LG_ROOM_ID,\n"
	        "                   LG_SENDER_ID, LG_EPOCH, LG_COUNT set), then its second\n"
	        "                   member syncs and receives them all; one result line\n"
	        "  --catchup-scan   B6: read each replayed message's seq from the frame's text\n"
	        "                   instead of parsing its JSON (a lighter client; other\n"
	        "                   frames are still parsed)\n"
	        "  -v, --verbose    progress during set-up and warm-up\n"
	        "\n"
	        "Exit status: 0 when every message was acknowledged and reached every member\n"
	        "exactly once; 3 when messages were lost, duplicated, refused or never\n"
	        "acknowledged; 1 on an error; 2 on a usage error.\n",
	        argv0);
}

static int lg_parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

static int lg_is_loopback(const char *host)
{
	return !strcmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "::1") ||
	       !strcmp(host, "[::1]");
}

static int lg_parse_url(const char *url)
{
	char buf[1024];
	const char *prot = NULL, *ads = NULL, *p = NULL;
	int port = 0;

	if (strlen(url) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", url);
	if (!strstr(buf, "://") || lws_parse_uri(buf, &prot, &ads, &port, &p) || !ads[0])
		return -1;
	if (!strcasecmp(prot, "wss"))
		lg.use_tls = 1;
	else if (strcasecmp(prot, "ws"))
		return -1;
	if (port <= 0 || port > 65535)
		return -1;
	snprintf(lg.host, sizeof(lg.host), "%s", ads);
	lg.port = port;
	snprintf(lg.path, sizeof(lg.path), "/%s", p ? p : "");
	return 0;
}

static int lg_parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"port2", required_argument, NULL, '2'},
	    {"ca", required_argument, NULL, 'c'},
	    {"invite", required_argument, NULL, 'i'},
	    {"rooms", required_argument, NULL, 'R'},
	    {"members", required_argument, NULL, 'M'},
	    {"rate", required_argument, NULL, 'r'},
	    {"duration", required_argument, NULL, 'd'},
	    {"warmup", required_argument, NULL, 'w'},
	    {"drain", required_argument, NULL, 'D'},
	    {"size", required_argument, NULL, 's'},
	    {"decrypt", no_argument, NULL, 'x'},
	    {"json", no_argument, NULL, 'j'},
	    {"encrypt-live", no_argument, NULL, 'L'},
	    {"setup-only", no_argument, NULL, 'S'},
	    {"cpu", required_argument, NULL, 'C'},
	    {"label", required_argument, NULL, 'l'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"acks", required_argument, NULL, 'a'},
	    {"catchup", required_argument, NULL, 'K'},
	    {"catchup-seed", required_argument, NULL, 'k'},
	    {"catchup-scan", no_argument, NULL, 'Q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct lg_opts *o = &lg.o;
	double v;
	int c, li = -1;

	o->rooms = 50;
	o->members = 4;
	o->rate = 1000;
	o->duration = 20;
	o->warmup = 5;
	o->drain = 10;
	o->size = 256;
	while ((c = getopt_long(argc, argv, "vh", longopts, &li)) != -1) {
		switch (c) {
		case 'u':
			o->url = optarg;
			break;
		case '2':
			o->port2 = atoi(optarg);
			if (o->port2 <= 0 || o->port2 > 65535) {
				fprintf(stderr, "ementor-loadgen: --port2 must be a port number\n");
				return -1;
			}
			break;
		case 'c':
			o->ca = optarg;
			break;
		case 'i':
			o->invite = optarg;
			break;
		case 'R':
			if (lg_parse_double(optarg, 1, 1000, &v) || v != (int)v)
				goto bad;
			o->rooms = (int)v;
			break;
		case 'M':
			if (lg_parse_double(optarg, 2, LG_MAX_MEMBERS, &v) || v != (int)v)
				goto bad;
			o->members = (int)v;
			break;
		case 'r':
			if (lg_parse_double(optarg, 0.1, 1e6, &o->rate))
				goto bad;
			break;
		case 'd':
			if (lg_parse_double(optarg, 1, 3600, &o->duration))
				goto bad;
			break;
		case 'w':
			if (lg_parse_double(optarg, 0, 600, &o->warmup))
				goto bad;
			break;
		case 'D':
			if (lg_parse_double(optarg, 0, 600, &o->drain))
				goto bad;
			break;
		case 's':
			if (lg_parse_double(optarg, 16, EM_MSG_PLAINTEXT_MAX, &v) || v != (int)v)
				goto bad;
			o->size = (int)v;
			break;
		case 'x':
			o->decrypt = 1;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'L':
			o->encrypt_live = 1;
			break;
		case 'S':
			o->setup_only = 1;
			break;
		case 'l':
			o->label = optarg;
			break;
		case 'a':
			o->acks = optarg;
			break;
		case 'K':
			if (lg_parse_double(optarg, 1, 1e8, &v) || v != (int64_t)v)
				goto bad;
			o->catchup = (int64_t)v;
			break;
		case 'k':
			o->catchup_seed = optarg;
			break;
		case 'Q':
			o->catchup_scan = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'C': {
			const char *eq = strchr(optarg, '=');

			if (o->ncpu >= LG_CPU_WATCH_MAX || !eq || eq == optarg ||
			    (size_t)(eq - optarg) >= sizeof(o->cpu_name[0]) || atoi(eq + 1) <= 0)
				goto bad;
			snprintf(o->cpu_name[o->ncpu], sizeof(o->cpu_name[0]), "%.*s",
			         (int)(eq - optarg), optarg);
			o->cpu_pid[o->ncpu++] = atoi(eq + 1);
			break;
		}
		case 'h':
			lg_usage(stdout, argv[0]);
			exit(0);
		default:
			goto usage;
		}
	}
	if (optind < argc || !o->url || !o->invite)
		goto usage;
	if (lg_parse_url(o->url)) {
		fprintf(stderr,
		        "ementor-loadgen: cannot use the URL '%s' (wss://HOST:PORT[/PATH])\n",
		        o->url);
		return -1;
	}
	if (!lg_is_loopback(lg.host)) {
		fprintf(stderr,
		        "ementor-loadgen: refusing to load %s: only loopback servers "
		        "(127.0.0.0/8, ::1, localhost)\n",
		        lg.host);
		return -1;
	}
	if (o->catchup && !o->catchup_seed) {
		fprintf(stderr, "ementor-loadgen: --catchup needs --catchup-seed\n");
		return -1;
	}
	if ((int64_t)o->rooms * o->members > LG_MAX_USERS) {
		fprintf(stderr, "ementor-loadgen: at most %d users (rooms x members)\n",
		        LG_MAX_USERS);
		return -1;
	}
	if (o->rate * (o->warmup + o->duration) > LG_MAX_MSGS) {
		fprintf(stderr, "ementor-loadgen: rate x (warmup + duration) is over %d messages\n",
		        LG_MAX_MSGS);
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "ementor-loadgen: bad value for --%s: '%s'\n",
	        li >= 0 ? longopts[li].name : "?", optarg);
usage:
	lg_usage(stderr, argv[0]);
	return -1;
}

/*
 * --acks FILE: "ROOM SEQ CLIENT_MSG_ID" (hex) per acknowledged message, so a
 * fault test can check each one against the rows PostgreSQL holds. 0 or -1.
 */
static int lg_write_acks(const char *path)
{
	FILE *f = fopen(path, "w");
	char hex[EM_MSG_ID_BYTES * 2 + 1];
	int rc = 0;

	if (!f) {
		fprintf(stderr, "ementor-loadgen: cannot write %s\n", path);
		return -1;
	}
	for (int64_t k = 0; k < lg.next_msg; k++) {
		const struct lg_msg *m = &lg.msgs[k];

		if (m->state != LG_MSG_ACKED)
			continue;
		sodium_bin2hex(hex, sizeof(hex), m->cid, sizeof(m->cid));
		fprintf(f, "%" PRId64 " %" PRId64 " %s\n", lg.users[m->sender].room->id, m->seq,
		        hex);
	}
	if (fclose(f)) {
		fprintf(stderr, "ementor-loadgen: cannot write %s\n", path);
		rc = -1;
	}
	return rc;
}

static void lg_on_signal(int sig)
{
	(void)sig;
	lg_interrupted = 1;
	if (lg.ctx)
		lws_cancel_service(lg.ctx);
}

static int lg_alloc_users(void)
{
	int R = lg.o.rooms, M = lg.o.members;

	lg.nusers = R * M;
	lg.users = calloc((size_t)lg.nusers, sizeof(*lg.users));
	lg.rooms = calloc((size_t)R, sizeof(*lg.rooms));
	lg.plain = malloc((size_t)lg.o.size);
	if (!lg.users || !lg.rooms || !lg.plain)
		return -1;
	memset(lg.plain, 'x', (size_t)lg.o.size);
	for (int r = 0; r < R; r++) {
		struct lg_room *room = &lg.rooms[r];

		room->idx = r;
		room->n = M;
		for (int s = 0; s < M; s++) {
			struct lg_user *u = &lg.users[r * M + s];

			u->idx = r * M + s;
			u->room = room;
			u->slot = s;
			char name[64]; /* R and M are capped: the name fits EM_USERNAME_MAX */

			snprintf(name, sizeof(name), "lg%sr%du%d", lg.runid, r, s);
			snprintf(u->username, sizeof(u->username), "%.32s", name);
			room->users[s] = u;
		}
	}
	return 0;
}

static void lg_free_user(struct lg_user *u)
{
	while (u->out_head) {
		struct lg_frame *f = u->out_head;

		u->out_head = f->next;
		free(f);
	}
	while (u->pending) {
		struct lg_pending *p = u->pending;

		u->pending = p->next;
		free(p);
	}
	free(u->in);
	free(u->resend);
	em_keys_wipe(&u->keys);
	sodium_memzero(u->auth_key, sizeof(u->auth_key));
	sodium_memzero(u->ring, sizeof(u->ring));
	sodium_memzero(u->rot_key, sizeof(u->rot_key));
}

static void lg_cleanup(void)
{
	lg.stopping = 1;
	if (lg.ctx) {
		lws_context_destroy(lg.ctx);
		lg.ctx = NULL;
	}
	/* lws closes an adopted descriptor with its wsi; close it here only if it did not */
	if (lg.clock_fd > 0 && fcntl(lg.clock_fd, F_GETFD) != -1)
		close(lg.clock_fd);
	lg_free_user(&lg.manager);
	for (int i = 0; i < lg.nusers && lg.users; i++)
		lg_free_user(&lg.users[i]);
	for (int64_t k = 0; k < lg.nmsgs && lg.msgs; k++)
		free(lg.msgs[k].pre);
	free(lg.msgs);
	free(lg.htab);
	free(lg.users);
	free(lg.rooms);
	free(lg.plain);
	free(lg.ack_lat.v);
	free(lg.recv_lat.v);
	free(lg.ack_wire.v);
	free(lg.recv_wire.v);
	free(lg.lag.v);
}

int main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct lg_result res;
	unsigned char rid[3];
	int rc = 1, ran = 0;

	if (lg_parse_args(argc, argv))
		return 2;
	if (em_crypto_init()) {
		fprintf(stderr, "ementor-loadgen: libsodium does not start\n");
		return 1;
	}
	randombytes_buf(rid, sizeof(rid));
	snprintf(lg.runid, sizeof(lg.runid), "%02x%02x%02x", rid[0], rid[1], rid[2]);
	if (lg_alloc_users()) {
		fprintf(stderr, "ementor-loadgen: out of memory\n");
		goto out;
	}
	lws_set_log_level(lg.o.verbose ? LLL_ERR | LLL_WARN : LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = lg_protocols;
	info.gid = -1;
	info.uid = -1;
	info.fd_limit_per_thread = (unsigned)lg.nusers + 64;
	info.pt_serv_buf_size = 32768; /* read more per SSL_read: fewer calls per frame */
	if (lg.use_tls) {
		info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.client_ssl_ca_filepath = lg.o.ca;
	}
	lg.ctx = lws_create_context(&info);
	if (!lg.ctx) {
		fprintf(stderr, "ementor-loadgen: cannot create the lws context%s\n",
		        lg.o.ca ? " (is --ca a PEM file?)" : "");
		goto out;
	}
	signal(SIGINT, lg_on_signal);
	signal(SIGTERM, lg_on_signal);
	signal(SIGPIPE, SIG_IGN);
	lg.hard_deadline_us = lg_now_us() + 30 * 60 * 1000000LL; /* set-up; lg_run narrows it */
	if (lg_clock_start()) {
		fprintf(stderr, "ementor-loadgen: cannot start the clock (timerfd)\n");
		goto out;
	}

	lg_note("run %s: %d rooms x %d members against %s", lg.runid, lg.o.rooms, lg.o.members,
	        lg.o.url);
	if (lg_setup())
		goto out;
	if (lg.o.setup_only) {
		printf("ementor-loadgen: set-up only: manager %s, programme %" PRId64
		       ", %d users, %d rooms: ok\n",
		       lg.manager.username, lg.programme_id, lg.nusers, lg.o.rooms);
		rc = 0;
		goto out;
	}
	if (lg.o.catchup) {
		rc = lg_catchup() ? 3 : 0;
		if (lg.fatal)
			rc = 1;
		goto out;
	}
	if (lg_prepare())
		goto out;
	ran = 1;
	lg_run();
out:
	if (ran) {
		lg_compute(&res);
		lg_report_text(&res, lg.fatal || lg_interrupted);
		if (lg.o.json)
			lg_report_json(&res, lg.fatal || lg_interrupted);
		if (lg.o.acks && lg_write_acks(lg.o.acks)) {
			lg.fatal = 1;
			snprintf(lg.fatal_msg, sizeof(lg.fatal_msg), "--acks: could not write %s",
			         lg.o.acks);
		}
		if (!lg.fatal && !lg_interrupted)
			rc = (res.lost || lg.duplicates || res.unacked || lg.failed ||
			      res.undelivered_closed || lg.conn_closed)
			         ? 3
			         : 0;
	}
	if (lg.fatal)
		fprintf(stderr, "ementor-loadgen: %s\n", lg.fatal_msg);
	fflush(stdout);
	lg_cleanup();
	return rc;
}
