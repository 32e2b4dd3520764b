/*
 * meeting.c - a room's session plan as commands of the core (PROTOCOL.md
 * 6.4): "meeting.plan" (the room's checkpoints and sessions in date order,
 * every topic verified and opened here) and "meeting.topic" (a topic
 * encrypted to the room key of the current epoch, signed with this device's
 * key, sent as the meeting's next revision). "meeting.add" carries no
 * content and goes through "call".
 *
 * DESIGN. A topic is opened like a message (SECURITY.md O1, M-T1..M-T3): the
 * signature is checked with the author's PINNED sign_pk over bytes that bind
 * the room the user asked about, the meeting id the plan lists, the epoch,
 * the author and the revision, before anything is decrypted. A server that
 * moves a topic to another meeting or room, changes a byte, or claims
 * another author gets "unverifiable", never a silent drop; a meeting of
 * another room, or an id listed twice, fails the whole plan. What the server
 * says about time, place, mode and attendance is its word (section 6) and is
 * passed on as it came. Sealing takes the same key decisions as `send`
 * (emc_check_epoch, emc_key_fit, emc_rotate): never an epoch turned back,
 * never a key sealed to someone who may no longer read.
 * Rollback: the device remembers the highest revision of each meeting's
 * topic it verified (topics.json), so a server that later serves an older
 * signed revision as the latest, or drops the topic, is named in a
 * "warning" / "error" of that topic; and it writes above that revision.
 * Threads: the host's (core.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core.h"
#include "meeting.h"

#define EMC_MEETING_ATTEMPTS 3
#define TOPICS_FILE          "topics.json"

static const char topic_label[] = "ementor meeting topic v1"; /* with its NUL */
#define TOPIC_AD_BYTES (sizeof(topic_label) + 4 * 8 + 4)

static unsigned char *topic_u64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
		*p++ = (unsigned char)(v >> (8 * i));
	return p;
}

static void topic_ad(const struct emc_topic_ref *ref, unsigned char ad[TOPIC_AD_BYTES])
{
	unsigned char *p = ad;

	memcpy(p, topic_label, sizeof(topic_label));
	p = topic_u64(p + sizeof(topic_label), ref->room_id);
	p = topic_u64(p, ref->meeting_id);
	p = topic_u64(p, ref->epoch);
	p = topic_u64(p, ref->author_id);
	p[0] = (unsigned char)(ref->revision >> 24);
	p[1] = (unsigned char)(ref->revision >> 16);
	p[2] = (unsigned char)(ref->revision >> 8);
	p[3] = (unsigned char)ref->revision;
}

/* ad || u32 len(ct) || ct into buf (room for TOPIC_AD_BYTES + 4 + EM_TOPIC_CT_MAX). */
static size_t topic_signed(const unsigned char ad[TOPIC_AD_BYTES], const unsigned char *ct,
                           size_t ct_len, unsigned char *buf)
{
	memcpy(buf, ad, TOPIC_AD_BYTES);
	buf[TOPIC_AD_BYTES] = (unsigned char)(ct_len >> 24);
	buf[TOPIC_AD_BYTES + 1] = (unsigned char)(ct_len >> 16);
	buf[TOPIC_AD_BYTES + 2] = (unsigned char)(ct_len >> 8);
	buf[TOPIC_AD_BYTES + 3] = (unsigned char)ct_len;
	memcpy(buf + TOPIC_AD_BYTES + 4, ct, ct_len);
	return TOPIC_AD_BYTES + 4 + ct_len;
}

int emc_topic_seal(const unsigned char room_key[EM_ROOM_KEY_BYTES], const struct emc_topic_ref *ref,
                   uint64_t written_ms, const char *text, size_t len,
                   const unsigned char sign_sk[EM_SIGN_SK_BYTES], unsigned char *ct,
                   unsigned char sig[EM_SIG_BYTES])
{
	const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	unsigned char ad[TOPIC_AD_BYTES], padded[8 + EM_TOPIC_TEXT_MAX + EMC_TOPIC_PAD_BLOCK];
	unsigned char signed_buf[TOPIC_AD_BYTES + 4 + EM_TOPIC_CT_MAX];
	unsigned long long ct_len = 0;
	size_t padded_len, n;
	int rc = -1;

	if (len < 1 || len > EM_TOPIC_TEXT_MAX)
		return -1;
	topic_u64(padded, written_ms);
	memcpy(padded + 8, text, len);
	if (sodium_pad(&padded_len, padded, 8 + len, EMC_TOPIC_PAD_BLOCK, sizeof(padded)))
		goto out;
	topic_ad(ref, ad);
	randombytes_buf(ct, nb);
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct + nb, &ct_len, padded, padded_len, ad,
	                                           sizeof(ad), NULL, ct, room_key);
	ct_len += nb;
	n = topic_signed(ad, ct, (size_t)ct_len, signed_buf);
	crypto_sign_detached(sig, NULL, signed_buf, n, sign_sk);
	rc = (int)ct_len;
out:
	sodium_memzero(padded, sizeof(padded));
	return rc;
}

int emc_topic_open(const unsigned char room_key[EM_ROOM_KEY_BYTES], const struct emc_topic_ref *ref,
                   const unsigned char *ct, size_t ct_len, const unsigned char sig[EM_SIG_BYTES],
                   const unsigned char sign_pk[EM_SIGN_PK_BYTES], uint64_t *written_ms, char *text,
                   size_t *len)
{
	const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	unsigned char ad[TOPIC_AD_BYTES], signed_buf[TOPIC_AD_BYTES + 4 + EM_TOPIC_CT_MAX];
	unsigned char plain[EM_TOPIC_CT_MAX];
	unsigned long long plain_len = 0;
	size_t n, unpadded;
	int rc = EM_MSG_MALFORMED;

	if (ct_len < EM_TOPIC_CT_MIN || ct_len > EM_TOPIC_CT_MAX)
		return EM_MSG_MALFORMED;
	topic_ad(ref, ad);
	n = topic_signed(ad, ct, ct_len, signed_buf);
	if (crypto_sign_verify_detached(sig, signed_buf, n, sign_pk))
		return EM_MSG_BAD_SIGNATURE;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plain_len, NULL, ct + nb,
	                                               ct_len - nb, ad, sizeof(ad), ct, room_key))
		return EM_MSG_UNDECRYPTABLE;
	if (sodium_unpad(&unpadded, plain, (size_t)plain_len, EMC_TOPIC_PAD_BLOCK) ||
	    unpadded < 9 || unpadded - 8 > EM_TOPIC_TEXT_MAX)
		goto out;
	*written_ms = 0;
	for (int i = 0; i < 8; i++)
		*written_ms = (*written_ms << 8) | plain[i];
	*len = unpadded - 8;
	memcpy(text, plain + 8, *len);
	text[*len] = '\0';
	rc = EM_MSG_OK;
out:
	sodium_memzero(plain, sizeof(plain));
	return rc;
}

/* ---- the commands ---- */

struct emc_meeting {
	int64_t room_id, meeting_id;
	char *text; /* meeting.topic: the topic (wiped) */
	int asked, answered;
	struct em_incoming reply;
	int plan_done; /* the plan's topics opened (keys asked once) */
	int sent;      /* meeting.topic sent, waiting for its answer */
	int attempts;
	int64_t revision; /* the revision to send */
};

static void emc_meeting_reply(struct emc *c, int64_t room, int64_t task, struct em_incoming *in)
{
	struct emc_task *t = emc_task_find(c, task);
	struct emc_meeting *m = t && !t->done ? t->data : NULL;

	(void)room;
	if (!m)
		return;
	m->answered = 1;
	em_incoming_clear(&m->reply);
	m->reply = *in; /* takes what in owns */
	memset(in, 0, sizeof(*in));
}

static void emc_meeting_free(struct emc_task *t)
{
	struct emc_meeting *m = t->data;

	if (!m)
		return;
	em_incoming_clear(&m->reply);
	if (m->text) {
		sodium_memzero(m->text, strlen(m->text));
		free(m->text);
	}
	free(m);
}

/* Asks op once (takes args); EMC_DONE when the answer is there, kept in m->reply. */
static int emc_meeting_ask(struct emc *c, struct emc_task *t, struct emc_meeting *m, enum em_op op,
                           json_t *args)
{
	if (!m->asked) {
		if (emc_request(c, op, args, emc_meeting_reply, m->room_id, t->id) < 0)
			return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		m->asked = 1;
		m->answered = 0;
		return EMC_PENDING;
	}
	json_decref(args);
	return m->answered ? EMC_DONE : EMC_PENDING;
}

/* ---- the high-water marks of topic revisions (topics.json) ---- */

struct topic_mark {
	char room[24], meeting[24];
	int64_t revision; /* to record; 0: only read */
	int64_t seen;     /* out: the highest revision recorded before */
};

static int topic_mark_fn(json_t *root, void *arg)
{
	struct topic_mark *m = arg;
	json_t *room = json_object_get(root, m->room), *v;

	v = json_is_object(room) ? json_object_get(room, m->meeting) : NULL;
	m->seen = json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
	if (m->revision <= m->seen)
		return 0;
	if (!json_is_object(room)) {
		room = json_object();
		if (!room || json_object_set_new(root, m->room, room))
			return -ENOMEM;
	}
	return json_object_set_new(room, m->meeting, json_integer(m->revision)) ? -ENOMEM : 1;
}

/*
 * Records a verified revision (0: records nothing) of the topic of meeting in
 * room; returns the highest revision seen before, 0 for none, -1 on error.
 */
static int64_t topic_mark(struct emc *c, int64_t room, int64_t meeting, int64_t revision)
{
	struct topic_mark m = {.revision = revision};

	snprintf(m.room, sizeof(m.room), "%lld", (long long)room);
	snprintf(m.meeting, sizeof(m.meeting), "%lld", (long long)meeting);
	return emc_doc_update(c, TOPICS_FILE, topic_mark_fn, &m, NULL) < 0 ? -1 : m.seen;
}

/*
 * Replaces a Meeting's "topic" (as the server sent it) with what this device
 * makes of it: {"revision", "author", "text", "written_ms"} when it verifies
 * and opens, {"revision", "author", "error"} when it does not.
 */
static void emc_topic_view(struct emc *c, struct emc_room *r, json_t *meeting)
{
	json_t *topic = json_object_get(meeting, "topic"), *view;
	const char *ct_b64 = json_string_value(json_object_get(topic, "ciphertext"));
	const char *sig_b64 = json_string_value(json_object_get(topic, "sig"));
	int64_t epoch = json_integer_value(json_object_get(topic, "epoch"));
	int64_t author = json_integer_value(json_object_get(topic, "author_id"));
	int64_t revision = json_integer_value(json_object_get(topic, "revision"));
	unsigned char ct[EM_TOPIC_CT_MAX], sig[EM_SIG_BYTES], key[EM_ROOM_KEY_BYTES];
	char text[EM_TOPIC_TEXT_MAX + 1], error[256] = "", name[EM_USERNAME_MAX + 1] = "?";
	struct emc_topic_ref ref;
	uint64_t written_ms = 0;
	size_t len = 0;
	struct pin p;
	int ct_len = -1, have_key = 0, st;
	int64_t seen;

	if (!json_is_object(topic)) {
		/* none sent: fine, unless this device verified one before */
		seen = topic_mark(c, r->id, json_integer_value(json_object_get(meeting, "id")), 0);
		if (seen > 0)
			json_object_set_new(
			    meeting, "topic",
			    json_pack("{s:I, s:s, s:I, s:o}", "revision", (json_int_t)seen,
			              "author", "?", "author_id", (json_int_t)0, "error",
			              json_sprintf("(missing: the server sends no topic, but this "
			                           "device verified revision %lld of it)",
			                           (long long)seen)));
		return;
	}
	if (ct_b64)
		ct_len = em_b64_decode(ct_b64, ct, sizeof(ct));
	if (ct_len < 0 || !sig_b64 ||
	    em_b64_decode(sig_b64, sig, sizeof(sig)) != (int)sizeof(sig) || epoch < 1 ||
	    author < 1 || revision < 1 || revision > EM_TOPIC_REVISION_MAX) {
		snprintf(error, sizeof(error), "(unverifiable: the server sent a malformed topic)");
		goto out;
	}
	if (emc_user_keys(c, author, &p) != 0) {
		snprintf(
		    error, sizeof(error),
		    "(unverifiable: no pinned key for its author, user %lld — never shown as a "
		    "member of room %lld)",
		    (long long)author, (long long)r->id);
		goto out;
	}
	snprintf(name, sizeof(name), "%s", p.username);
	have_key = roomkeys_get(c->roomkeys, r->id, epoch, key, NULL) == 0;
	if (!have_key) /* the signature is still checked first: a forgery is called one */
		sodium_memzero(key, sizeof(key));
	ref.room_id = (uint64_t)r->id;
	ref.meeting_id = (uint64_t)json_integer_value(json_object_get(meeting, "id"));
	ref.epoch = (uint64_t)epoch;
	ref.author_id = (uint64_t)author;
	ref.revision = (uint32_t)revision;
	st = emc_topic_open(key, &ref, ct, (size_t)ct_len, sig, p.sign_pk, &written_ms, text, &len);
	if (st == EM_MSG_BAD_SIGNATURE)
		snprintf(error, sizeof(error),
		         "(unverifiable: not signed by %s's pinned key for this meeting of this "
		         "room)",
		         p.username);
	else if (!have_key)
		snprintf(error, sizeof(error),
		         "(cannot decrypt: no key for epoch %lld of room %lld)", (long long)epoch,
		         (long long)r->id);
	else if (st == EM_MSG_UNDECRYPTABLE)
		snprintf(error, sizeof(error),
		         "(unverifiable: it does not open with the key of epoch %lld)",
		         (long long)epoch);
	else if (st != EM_MSG_OK)
		snprintf(error, sizeof(error), "(unverifiable: malformed contents)");
	else if (!text_is_utf8(text, len))
		snprintf(error, sizeof(error), "(cannot show: the topic is not UTF-8)");
out:
	view = json_pack("{s:I, s:s, s:I}", "revision", (json_int_t)revision, "author", name,
	                 "author_id", (json_int_t)author);
	if (view && !error[0]) {
		json_object_set_new(view, "text", json_stringn(text, len));
		json_object_set_new(view, "written_ms", json_integer((json_int_t)written_ms));
		seen = topic_mark(c, r->id, (int64_t)ref.meeting_id, revision);
		if (seen > revision)
			json_object_set_new(
			    view, "warning",
			    json_sprintf(
			        "this device has seen revision %lld of this topic: an older "
			        "revision is passed off as the latest",
			        (long long)seen));
	} else if (view) {
		json_object_set_new(view, "error", json_string(error));
	}
	json_object_set_new(meeting, "topic", view ? view : json_null());
	sodium_memzero(text, sizeof(text));
	sodium_memzero(key, sizeof(key));
}

/* Whether every topic of the plan has its epoch's key, or cannot get it. Asks keys.get once. */
static int emc_plan_keys(struct emc *c, struct emc_meeting *m, struct emc_room *r, json_t *list)
{
	unsigned char key[EM_ROOM_KEY_BYTES];
	int64_t newest = 0;
	json_t *meeting;
	size_t i;
	int missing = 0;

	json_array_foreach(list, i, meeting)
	{
		int64_t e =
		    json_integer_value(json_object_get(json_object_get(meeting, "topic"), "epoch"));

		if (e < 1 || roomkeys_get(c->roomkeys, r->id, e, key, NULL) == 0)
			continue;
		missing = 1;
		newest = e > newest ? e : newest;
	}
	sodium_memzero(key, sizeof(key));
	if (!missing || m->plan_done)
		return EMC_DONE;
	if (r->keys == EMC_FACT_HAVE && newest > r->keys_epoch)
		r->keys = EMC_FACT_NONE; /* newer than keys.get knew: ask again */
	if (r->keys == EMC_FACT_HAVE || r->keys == EMC_FACT_FAILED)
		return EMC_DONE;
	{
		/* a throwaway task: a failure shows as "cannot decrypt" on the topic */
		struct emc_task dummy;

		memset(&dummy, 0, sizeof(dummy));
		return emc_room_keys(c, &dummy, r) == EMC_PENDING ? EMC_PENDING : EMC_DONE;
	}
}

/*
 * The server's plan checked: every meeting of the room asked about, no id
 * twice (M-T4). 0, or -1 with the task failed.
 */
static int emc_plan_check(struct emc_task *t, int64_t room_id, json_t *list)
{
	json_t *meeting, *other;
	size_t i, j;

	if (!json_is_array(list))
		return emc_fail(t, EMC_EXIT_NET, 0, "the server's plan has no list of meetings"),
		       -1;
	json_array_foreach(list, i, meeting)
	{
		int64_t id = json_integer_value(json_object_get(meeting, "id"));

		if (id < 1 || json_integer_value(json_object_get(meeting, "room_id")) != room_id) {
			emc_fail(
			    t, EMC_EXIT_NET, 0,
			    "the server's plan of room %lld lists meeting %lld of another room: "
			    "refused",
			    (long long)room_id, (long long)id);
			return -1;
		}
		json_array_foreach(list, j, other)
		{
			if (j < i && json_integer_value(json_object_get(other, "id")) == id) {
				emc_fail(t, EMC_EXIT_NET, 0,
				         "the server's plan of room %lld lists meeting %lld twice: "
				         "refused",
				         (long long)room_id, (long long)id);
				return -1;
			}
		}
	}
	return 0;
}

static int emc_meeting_plan_step(struct emc *c, struct emc_task *t)
{
	struct emc_meeting *m = t->data;
	struct emc_room *r = emc_room(c, m->room_id);
	json_t *list, *meeting;
	size_t i;
	int rc;

	if (!r)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "too many rooms in one command");
	if ((rc = emc_room_ready(c, t, r)) != EMC_DONE) /* the members pinned first */
		return rc;
	rc = emc_meeting_ask(c, t, m, EM_OP_MEETING_PLAN,
	                     json_pack("{s:I}", "room_id", (json_int_t)m->room_id));
	if (rc != EMC_DONE)
		return rc;
	if (!m->reply.result)
		return emc_fail_room_reply(c, t, &m->reply, m->room_id);
	list = json_object_get(m->reply.result, "meetings");
	if (emc_plan_check(t, m->room_id, list))
		return EMC_FAILED;
	if (emc_plan_keys(c, m, r, list) == EMC_PENDING)
		return EMC_PENDING;
	m->plan_done = 1;
	json_array_foreach(list, i, meeting) emc_topic_view(c, r, meeting);
	t->result = json_incref(m->reply.result);
	return EMC_DONE;
}

/* The usable key of the room's current epoch in key, or a need (send.c's decisions). */
static int emc_topic_key(struct emc *c, struct emc_task *t, struct emc_room *r,
                         unsigned char key[EM_ROOM_KEY_BYTES])
{
	int rc, have;

	if ((rc = emc_room_ready(c, t, r)) != EMC_DONE)
		return rc;
	if (!emc_room_member(c, r))
		return emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_NOT_MEMBER,
		                "you are not a member of room %lld: only its members write the "
		                "topics of its meetings",
		                (long long)r->id);
	if (r->blocked_by[0])
		return emc_fail(t, EMC_EXIT_REFUSED, 0,
		                "not writing to room %lld: the keys or the name of %s changed. "
		                "Check with %s in person (`ementor verify %s`), then run "
		                "`ementor trust %s`",
		                (long long)r->id, r->blocked_by, r->blocked_by, r->blocked_by,
		                r->blocked_by);
	if (!r->refused[0] && (rc = emc_check_epoch(c, t, r)) != EMC_DONE)
		return rc;
	if (r->refused[0])
		return emc_fail(t, EMC_EXIT_REFUSED, 0, "not writing to room %lld: %s",
		                (long long)r->id, r->refused);
	rc = emc_write_key(c, t, r, key, &have);
	return rc == EMC_DONE && !have ? EMC_RETRY : rc; /* rotated: look again */
}

static int emc_meeting_topic_step(struct emc *c, struct emc_task *t)
{
	struct emc_meeting *m = t->data;
	struct emc_room *r = emc_room(c, m->room_id);
	unsigned char key[EM_ROOM_KEY_BYTES], ct[EM_TOPIC_CT_MAX], sig[EM_SIG_BYTES];
	char *ct_b64 = NULL, *sig_b64 = NULL;
	struct emc_topic_ref ref;
	json_t *meeting, *list;
	int64_t seen;
	size_t i;
	int rc, n;

	if (!r)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "too many rooms in one command");
	if (m->sent) {
		if (!m->answered)
			return EMC_PENDING;
		m->sent = 0;
		if (m->reply.result) {
			meeting = json_object_get(m->reply.result, "meeting");
			if (json_integer_value(json_object_get(meeting, "id")) == m->meeting_id &&
			    json_integer_value(json_object_get(meeting, "room_id")) == m->room_id)
				emc_topic_view(c, r, meeting);
			emc_epoch_seen(c, r->id, r->epoch);
			t->result = json_incref(m->reply.result);
			return EMC_DONE;
		}
		if (++m->attempts >= EMC_MEETING_ATTEMPTS ||
		    (m->reply.err != EM_ERR_STALE_EPOCH && m->reply.err != EM_ERR_STALE_VERSION))
			return emc_fail_room_reply(c, t, &m->reply, m->room_id);
		if (m->reply.err == EM_ERR_STALE_EPOCH)
			emc_room_forget(r);
		m->asked = 0; /* the plan again: the revision, or the room's epoch, moved */
		m->revision = 0;
	}
	for (;;) {
		rc = emc_topic_key(c, t, r, key);
		if (rc != EMC_RETRY)
			break;
		if (++m->attempts >= EMC_MEETING_ATTEMPTS)
			return emc_fail(t, EMC_EXIT_REFUSED, 0,
			                "room %lld kept changing its key epoch; try again",
			                (long long)r->id);
	}
	if (rc != EMC_DONE)
		goto out;
	if (!m->revision) {
		rc = emc_meeting_ask(c, t, m, EM_OP_MEETING_PLAN,
		                     json_pack("{s:I}", "room_id", (json_int_t)m->room_id));
		if (rc != EMC_DONE)
			goto out;
		if (!m->reply.result) {
			rc = emc_fail_room_reply(c, t, &m->reply, m->room_id);
			goto out;
		}
		list = json_object_get(m->reply.result, "meetings");
		if (emc_plan_check(t, m->room_id, list)) {
			rc = EMC_FAILED;
			goto out;
		}
		json_array_foreach(list, i, meeting)
		{
			if (json_integer_value(json_object_get(meeting, "id")) == m->meeting_id)
				m->revision =
				    1 + json_integer_value(json_object_get(
				            json_object_get(meeting, "topic"), "revision"));
		}
		if (!m->revision) {
			rc = emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_NOT_FOUND,
			              "meeting %lld is not in the plan of room %lld",
			              (long long)m->meeting_id, (long long)m->room_id);
			goto out;
		}
		/* never at or below a revision this device verified (a plan turned back) */
		seen = topic_mark(c, m->room_id, m->meeting_id, 0);
		if (seen >= m->revision)
			m->revision = seen + 1;
		if (m->revision < 1 || m->revision > EM_TOPIC_REVISION_MAX) {
			rc = emc_fail(t, EMC_EXIT_NET, 0,
			              "the server's topic revision is out of range");
			goto out;
		}
	}
	ref.room_id = (uint64_t)m->room_id;
	ref.meeting_id = (uint64_t)m->meeting_id;
	ref.epoch = (uint64_t)r->epoch;
	ref.author_id = (uint64_t)c->session.user_id;
	ref.revision = (uint32_t)m->revision;
	n = emc_topic_seal(key, &ref, (uint64_t)emc_now(c), m->text, strlen(m->text),
	                   c->keys.sign_sk, ct, sig);
	if (n < 0) {
		rc = emc_fail(t, EMC_EXIT_USAGE, 0, "a topic has 1 to %d bytes", EM_TOPIC_TEXT_MAX);
		goto out;
	}
	ct_b64 = em_b64_encode(ct, (size_t)n);
	sig_b64 = em_b64_encode(sig, sizeof(sig));
	if (!ct_b64 || !sig_b64) {
		rc = emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		goto out;
	}
	m->asked = 0;
	rc = emc_meeting_ask(c, t, m, EM_OP_MEETING_TOPIC,
	                     json_pack("{s:I, s:I, s:I, s:s, s:s}", "meeting_id",
	                               (json_int_t)m->meeting_id, "revision",
	                               (json_int_t)m->revision, "epoch", (json_int_t)r->epoch,
	                               "ciphertext", ct_b64, "sig", sig_b64));
	m->sent = rc == EMC_PENDING;
out:
	sodium_memzero(key, sizeof(key));
	free(ct_b64);
	free(sig_b64);
	return rc;
}

static int64_t emc_meeting_start(struct emc *c, const char *name, emc_step_fn step,
                                 struct emc_meeting *m)
{
	struct emc_task *t = emc_task_new(c, name, step, emc_meeting_free, m);

	if (!t) {
		emc_meeting_free(&(struct emc_task){.data = m});
		return -ENOMEM;
	}
	return t->id;
}

/* {"cmd":"meeting.plan","room"} */
int64_t emc_cmd_meeting_plan(struct emc *c, json_t *cmd)
{
	struct emc_meeting *m;
	int64_t room = json_integer_value(json_object_get(cmd, "room"));

	if (room < 1)
		return -EINVAL;
	if (!(m = calloc(1, sizeof(*m))))
		return -ENOMEM;
	m->room_id = room;
	return emc_meeting_start(c, "meeting.plan", emc_meeting_plan_step, m);
}

/* {"cmd":"meeting.topic","room","meeting","text"} */
int64_t emc_cmd_meeting_topic(struct emc *c, json_t *cmd)
{
	struct emc_meeting *m;
	int64_t room = json_integer_value(json_object_get(cmd, "room"));
	int64_t meeting = json_integer_value(json_object_get(cmd, "meeting"));
	const char *text = json_string_value(json_object_get(cmd, "text"));

	if (room < 1 || meeting < 1 || !text)
		return -EINVAL;
	if (!(m = calloc(1, sizeof(*m))))
		return -ENOMEM;
	m->room_id = room;
	m->meeting_id = meeting;
	if (!(m->text = strdup(text))) {
		free(m);
		return -ENOMEM;
	}
	return emc_meeting_start(c, "meeting.topic", emc_meeting_topic_step, m);
}
