/*
 * send.c - the outbox and its delivery in the core (core.h): `send` puts a
 * message in the outbox (with this device's counter and the time it was
 * written, signed inside it) and delivers the outbox; `flush` delivers it.
 * Delivery checks everything SECURITY.md "A malicious server" asks before a
 * key is used (E1 epochs forward, A1-A2 the agreement in force, S4 a key
 * only while everyone it was sealed to may still read), rotates when it
 * must, and removes a message only on an acknowledgement (or when no retry
 * can change the refusal), so delivery is exactly once across crashes,
 * lost connections and restarts: the server stores one copy per (sender,
 * client_msg_id) and answers a resend with the original seq.
 *
 * Events: {"ev":"report","code","text"} for what the user should read
 * about other messages (the CLI prints "ementor: TEXT"), and the task's
 * result or error for the message the command was about. Threads: the
 * host's (core.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core.h"

/* How many times one message goes round refresh / rotate / retry before giving up. */
#define EMC_ATTEMPTS 6

enum emc_outcome {
	EMC_SENT = 1, /* acknowledged (maybe as a duplicate): removed from the outbox */
	EMC_QUEUED,   /* the server is unreachable or cannot store now: kept */
	EMC_BLOCKED,  /* a member's identity changed: kept until `ementor trust` */
	EMC_DROPPED,  /* we are not a member (any more): removed, reported */
	EMC_HELD,     /* an older message of the room waits: kept */
	EMC_FAILED_O, /* refused for another reason: kept, reported */
};

struct emc_delivery {
	enum emc_outcome outcome;
	int exit;
	int err;
	char text[512];
	int64_t seq;
	int duplicate;
	int64_t retry_after_ms; /* the server's hint when it could not take it now */
};

/* The message being delivered. */
struct emc_send_msg {
	int64_t room_id;
	unsigned char client_msg_id[EM_MSG_ID_BYTES];
	char id_b64[OUTBOX_ID_B64_LEN];
	char *text;
	size_t text_len;
	struct em_msg_meta meta;
};

struct emc_send {
	unsigned char watch[EM_MSG_ID_BYTES];
	int has_watch;
	int verbose;
	json_t *outbox; /* the outbox as the task found it */
	size_t next;    /* the next entry to deliver */
	int64_t held_rooms[EMC_ROOMS_MAX];
	struct emc_delivery held_d[EMC_ROOMS_MAX];
	size_t nheld;
	size_t sent;
	int worst_exit;
	char worst_text[512];
	int worst_err;
	int64_t worst_retry_ms;
	/* the current message */
	int busy;
	struct emc_send_msg cur;
	int attempts;
	int ack_wait; /* a `send` is in flight */
	int ack_done;
	struct em_incoming ack;
	int64_t ack_seq;
	int ack_duplicate;
	struct emc_delivery watched;
	int watched_set;
};

static void emc_send_msg_clear(struct emc_send_msg *m)
{
	if (m->text) {
		sodium_memzero(m->text, m->text_len);
		free(m->text);
	}
	memset(m, 0, sizeof(*m));
}

static void emc_send_free(struct emc_task *t)
{
	struct emc_send *s = t->data;

	if (!s)
		return;
	emc_send_msg_clear(&s->cur);
	json_decref(s->outbox);
	free(s->ack.err_message);
	sodium_memzero(s, sizeof(*s));
	free(s);
}

/* ---- the outbox document ---- */

struct emc_enqueue {
	int64_t room_id;
	const unsigned char *id;
	const char *text;
	size_t len;
	char now[STATE_TIME_LEN];
	int64_t now_ms;
};

static int emc_enqueue_fn(json_t *ob, void *arg)
{
	struct emc_enqueue *a = arg;

	return outbox_add(ob, a->room_id, a->id, a->text, a->len, a->now, a->now_ms);
}

static int emc_outbox_remove_fn(json_t *ob, void *arg)
{
	return outbox_remove(ob, arg);
}

static void emc_outbox_remove(struct emc *c, const unsigned char *id)
{
	int rc = emc_doc_update(c, STATE_OUTBOX_FILE, emc_outbox_remove_fn, (void *)id, NULL);

	if (rc < 0)
		emc_warn(c, "storage", "cannot write %s: %s", STATE_OUTBOX_FILE, strerror(-rc));
}

/* ---- wording ---- */

static void emc_wait_text(int64_t ms, char *buf, size_t len)
{
	int64_t s = (ms + 999) / 1000;

	if (ms <= 0)
		snprintf(buf, len, "a little while");
	else if (s <= 1)
		snprintf(buf, len, "about a second");
	else if (s < 90)
		snprintf(buf, len, "about %lld seconds", (long long)s);
	else if (s < 90 * 60)
		snprintf(buf, len, "about %lld minutes", (long long)((s + 30) / 60));
	else
		snprintf(buf, len, "about %lld hours", (long long)((s + 1800) / 3600));
}

/* Whether this device ever held a key of the room (then "no longer" a member). */
static int emc_knew_room(struct emc *c, int64_t room_id)
{
	char key[24];

	snprintf(key, sizeof(key), "%lld", (long long)room_id);
	return json_object_get(json_object_get(c->roomkeys, "rooms"), key) != NULL;
}

/* The server's refusal `err` about room_id in plain words (the CLI's wording). */
void emc_room_refusal(struct emc *c, int64_t room_id, int err, const char *msg,
                      int64_t retry_after_ms, char *out, size_t len)
{
	char wait[48];

	if (err == EM_ERR_AGREEMENT_UNSIGNED)
		snprintf(
		    out, len,
		    "you have not signed the agreement of room %lld: run `ementor agreement sign "
		    "%lld` (agreement_unsigned)",
		    (long long)room_id, (long long)room_id);
	else if (err == EM_ERR_NOT_MEMBER || (err == EM_ERR_NOT_FOUND && emc_knew_room(c, room_id)))
		snprintf(out, len,
		         emc_knew_room(c, room_id) ? "you are no longer a member of room %lld"
		                                   : "you are not a member of room %lld",
		         (long long)room_id);
	else if (err == EM_ERR_NOT_FOUND)
		snprintf(out, len, "room %lld does not exist, or you may not see it (%s)",
		         (long long)room_id, msg);
	else if (em_err_retryable(err)) {
		emc_wait_text(retry_after_ms, wait, sizeof(wait));
		snprintf(out, len, "%s (%s); try again in %s.", msg, em_err_code(err), wait);
	} else if (err == EMC_ERR_LINK)
		snprintf(out, len, "%s", msg);
	else
		snprintf(out, len, "%s (%s)", msg, em_err_code(err));
}

/* ---- the checks before a key is used ---- */

/*
 * E1 and A1: the server's epoch may not be lower than one this device used
 * or accepted a key of, and in a room that requires agreements the version
 * in force is verified. Sets r->refused. A need.
 *
 * The epoch checked is the last room.show's, which may predate a key
 * accepted since (a commit pushed while the answer was on its way): a lower
 * epoch is asked for once more, and only a fresh answer that still says less
 * is refused.
 */
int emc_check_epoch(struct emc *c, struct emc_task *t, struct emc_room *r)
{
	struct trust_room tr;

	if (trust_room_get(c->trust, r->id, &tr) == 0 && r->epoch < tr.max_epoch &&
	    !r->epoch_reasked) {
		r->epoch_reasked = 1;
		emc_room_forget(r);
		return emc_room_ready(c, t, r);
	}
	if (trust_room_get(c->trust, r->id, &tr) == 0 && r->epoch < tr.max_epoch) {
		snprintf(
		    r->refused, sizeof(r->refused),
		    "the server says room %lld is at key epoch %lld, but this device has already "
		    "used epoch %lld there: a server that turns epochs back could make us encrypt "
		    "for someone who was removed. Refusing",
		    (long long)r->id, (long long)r->epoch, (long long)tr.max_epoch);
		emc_warn(c, "epoch_rollback", "%s.", r->refused);
		r->epoch_reasked = 0;
		return EMC_DONE;
	}
	r->epoch_reasked = 0;
	return r->required || r->agreement != EMC_FACT_NONE ? emc_room_agreement(c, t, r)
	                                                    : EMC_DONE;
}

/* S4: everyone the key of `epoch` was sealed to may still read the room. */
int emc_write_key(struct emc *c, struct emc_task *t, struct emc_room *r,
                  unsigned char key[EM_ROOM_KEY_BYTES], int *have)
{
	int rc;

	*have = r->epoch > 0 && !r->rotate_required &&
	        roomkeys_get(c->roomkeys, r->id, r->epoch, key, NULL) == 0;
	if (!*have && r->epoch > 0 && !r->rotate_required && r->keys != EMC_FACT_HAVE) {
		if ((rc = emc_room_keys(c, t, r)) != EMC_DONE)
			return rc;
		*have = roomkeys_get(c->roomkeys, r->id, r->epoch, key, NULL) == 0;
	}
	if (*have && emc_key_fit(c, r, r->epoch))
		return EMC_DONE;
	sodium_memzero(key, EM_ROOM_KEY_BYTES);
	*have = 0; /* none, or sealed to someone who may no longer read: a new key first */
	return emc_rotate(c, t, r);
}

int emc_key_fit(struct emc *c, struct emc_room *r, int64_t epoch)
{
	int64_t ids[EM_KEY_RECIPIENTS_MAX];
	int n = roomkeys_recipients(c->roomkeys, r->id, epoch, ids);

	if (n < 1 || (r->required && r->active.version == 0))
		return 0;
	for (int i = 0; i < n; i++) {
		int ok = 0;

		if (r->required) {
			ok = trust_version_member(&r->active, ids[i]) &&
			     !emc_room_withdrew(r, ids[i]);
		} else {
			for (size_t k = 0; k < r->nmembers && !ok; k++)
				ok = r->members[k] == ids[i];
		}
		if (!ok)
			return 0;
	}
	return 1;
}

/* U1: once per core and room, who cannot read because they have not signed. */
static void emc_tell_unsigned(struct emc *c, struct emc_room *r)
{
	char names[256] = "";

	if (!r->required || r->told_unsigned)
		return;
	r->told_unsigned = 1;
	for (size_t i = 0; i < r->nmembers; i++) {
		if (r->members[i] == c->session.user_id ||
		    (trust_version_member(&r->active, r->members[i]) &&
		     !emc_room_withdrew(r, r->members[i])))
			continue;
		if (names[0])
			strncat(names, ", ", sizeof(names) - strlen(names) - 1);
		strncat(names, r->member_names[i], sizeof(names) - strlen(names) - 1);
	}
	if (names[0]) {
		char text[512];

		snprintf(
		    text, sizeof(text),
		    "%s cannot read this: they are in room %lld but have not signed the agreement "
		    "in force (version %u), so the room key is not sealed to them. They read what "
		    "is sent after they sign (`ementor agreement show %lld`).",
		    names, (long long)r->id, r->active.version, (long long)r->id);
		emc_event(c, "note",
		          json_pack("{s:s, s:I, s:s}", "code", "unsigned_members", "room_id",
		                    (json_int_t)r->id, "text", text));
	}
}

/* ---- one message ---- */

static void emc_acked(struct emc *c, int64_t room, int64_t task, struct em_incoming *in)
{
	struct emc_task *t = emc_task_find(c, task);
	struct emc_send *s = t ? t->data : NULL;

	(void)room;
	if (!s || !s->ack_wait)
		return;
	s->ack_wait = 0;
	s->ack_done = 1;
	free(s->ack.err_message);
	memset(&s->ack, 0, sizeof(s->ack));
	if (in->result) {
		s->ack_seq = json_integer_value(json_object_get(in->result, "seq"));
		s->ack_duplicate = json_is_true(json_object_get(in->result, "duplicate"));
		return;
	}
	s->ack.err = in->err;
	s->ack.retry_after_ms = in->retry_after_ms;
	s->ack.err_message = strdup(in->err_message ? in->err_message : "");
}

/* Encrypts at the room's current epoch and sends. A need for the ack. */
static int emc_send_once(struct emc *c, struct emc_task *t, struct emc_room *r,
                         const unsigned char key[EM_ROOM_KEY_BYTES])
{
	struct emc_send *s = t->data;
	unsigned char *ct = malloc(EM_MSG_CIPHERTEXT_MAX), sig[EM_SIG_BYTES];
	char *ct_b64 = NULL, *sig_b64 = NULL;
	int n;

	if (!ct)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	/* v3: franked, so any reader can later quote it in a concern report (PROTOCOL.md 13) */
	n = em_msg_encrypt_v3(key, (uint64_t)r->id, (uint64_t)r->epoch,
	                      (uint64_t)c->session.user_id, s->cur.client_msg_id, &s->cur.meta,
	                      (const unsigned char *)s->cur.text, s->cur.text_len, c->keys.sign_sk,
	                      ct, sig);
	if (n < 0) {
		free(ct);
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "the message is longer than %d bytes",
		                EM_MSG_PLAINTEXT_MAX);
	}
	ct_b64 = em_b64_encode(ct, (size_t)n);
	sig_b64 = em_b64_encode(sig, sizeof(sig));
	free(ct);
	if (!ct_b64 || !sig_b64 ||
	    emc_request(c, EM_OP_SEND,
	                json_pack("{s:I, s:I, s:s, s:s, s:s}", "room_id", (json_int_t)r->id,
	                          "epoch", (json_int_t)r->epoch, "client_msg_id", s->cur.id_b64,
	                          "ciphertext", ct_b64, "sig", sig_b64),
	                emc_acked, r->id, t->id) < 0) {
		free(ct_b64);
		free(sig_b64);
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	}
	free(ct_b64);
	free(sig_b64);
	s->ack_wait = 1;
	s->ack_done = 0;
	return EMC_PENDING;
}

/*
 * One step of delivering s->cur. EMC_PENDING while waiting; otherwise *d is
 * the outcome (EMC_DONE). Task errors raised by the needs are turned into
 * outcomes here and the task's own error is cleared.
 */
static int emc_deliver(struct emc *c, struct emc_task *t, struct emc_delivery *d)
{
	struct emc_send *s = t->data;
	struct emc_room *r = emc_room(c, s->cur.room_id);
	unsigned char key[EM_ROOM_KEY_BYTES];
	int rc = EMC_DONE;

	memset(d, 0, sizeof(*d));
	if (!r) {
		d->outcome = EMC_FAILED_O;
		d->exit = EMC_EXIT_LOCAL;
		snprintf(d->text, sizeof(d->text), "too many rooms in one command");
		return EMC_DONE;
	}
	while (s->attempts < EMC_ATTEMPTS) {
		int have;

		if (s->ack_wait)
			return EMC_PENDING;
		if (s->ack_done) { /* the answer to our `send` */
			s->ack_done = 0;
			if (!s->ack.err) {
				emc_outbox_remove(c, s->cur.client_msg_id);
				emc_epoch_seen(c, r->id, r->epoch);
				emc_tell_unsigned(c, r);
				d->outcome = EMC_SENT;
				d->seq = s->ack_seq;
				d->duplicate = s->ack_duplicate;
				return EMC_DONE;
			}
			if (s->ack.err == EM_ERR_STALE_EPOCH) {
				emc_room_forget(r);
				s->attempts++;
				continue;
			}
			if (s->ack.err == EM_ERR_ROTATE_REQUIRED) {
				r->rotate_required = 1;
				s->attempts++;
				continue;
			}
			rc = emc_fail_reply(t, &s->ack);
			break;
		}
		if ((rc = emc_room_ready(c, t, r)) != EMC_DONE)
			break;
		if (!emc_room_member(c, r)) {
			if (!strcmp(c->session.role, "manager"))
				rc = emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_FORBIDDEN,
				              "a manager may not send messages: only the members "
				              "of room %lld "
				              "can, and only they can read them",
				              (long long)r->id);
			else
				rc = emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_NOT_MEMBER,
				              "you are not a member of this room");
			break;
		}
		if (r->blocked_by[0]) {
			d->outcome = EMC_BLOCKED;
			d->exit = EMC_EXIT_REFUSED;
			snprintf(
			    d->text, sizeof(d->text),
			    "not sending to room %lld: the keys or the name of %s changed. Check "
			    "with "
			    "%s in person (`ementor verify %s`), then run `ementor trust %s`; the "
			    "message stays in the outbox.",
			    (long long)r->id, r->blocked_by, r->blocked_by, r->blocked_by,
			    r->blocked_by);
			return EMC_DONE;
		}
		if (!r->refused[0] && (rc = emc_check_epoch(c, t, r)) != EMC_DONE)
			break;
		if (r->refused[0]) {
			rc = emc_fail(t, EMC_EXIT_REFUSED, 0, "not sending to room %lld: %s",
			              (long long)r->id, r->refused);
			break;
		}
		rc = emc_write_key(c, t, r, key, &have);
		if (rc == EMC_RETRY) {
			s->attempts++;
			continue;
		}
		if (rc != EMC_DONE)
			break;
		if (!have)
			continue; /* with the new key */
		rc = emc_send_once(c, t, r, key);
		sodium_memzero(key, sizeof(key));
		if (rc == EMC_PENDING)
			return EMC_PENDING;
		break;
	}
	sodium_memzero(key, sizeof(key));
	if (rc == EMC_PENDING)
		return EMC_PENDING;
	if (rc != EMC_FAILED && s->attempts >= EMC_ATTEMPTS) {
		d->outcome = EMC_FAILED_O;
		d->exit = EMC_EXIT_REFUSED;
		snprintf(
		    d->text, sizeof(d->text),
		    "room %lld kept changing its key epoch; the message stays in the outbox, try "
		    "again",
		    (long long)s->cur.room_id);
		return EMC_DONE;
	}
	/* the task's error becomes this message's outcome */
	d->exit = t->exit;
	d->err = t->err;
	d->retry_after_ms = t->retry_after_ms;
	if (t->exit == EMC_EXIT_NET || t->exit == EMC_EXIT_AUTH || t->exit == EMC_EXIT_LOCAL) {
		d->outcome = EMC_QUEUED;
		if (t->exit == EMC_EXIT_AUTH)
			snprintf(d->text, sizeof(d->text),
			         "your session has expired; run `ementor login %s`.",
			         c->session.username);
		else
			snprintf(d->text, sizeof(d->text), "%s", t->message);
		if (t->err != EMC_ERR_LINK) /* the host says what happened to the link itself */
			emc_event(c, "report",
			          json_pack("{s:s, s:s}", "code", "queued", "text", d->text));
	} else if (!t->err) {
		d->outcome = EMC_FAILED_O; /* this client's own refusal: as it is */
		snprintf(d->text, sizeof(d->text), "%s", t->message);
		emc_event(c, "report", json_pack("{s:s, s:s}", "code", "refused", "text", d->text));
	} else {
		emc_room_refusal(c, s->cur.room_id, t->err, t->message, t->retry_after_ms, d->text,
		                 sizeof(d->text));
		emc_event(c, "report", json_pack("{s:s, s:s}", "code", "refused", "text", d->text));
		if (t->err == EM_ERR_NOT_MEMBER || t->err == EM_ERR_NOT_FOUND ||
		    t->err == EM_ERR_FORBIDDEN) {
			/* no retry can change these: the message leaves the outbox, said aloud */
			char line[200];

			snprintf(line, sizeof(line),
			         "dropped a message to room %lld from the outbox: %.60s%s",
			         (long long)s->cur.room_id, s->cur.text,
			         s->cur.text_len > 60 ? "..." : "");
			emc_event(c, "report",
			          json_pack("{s:s, s:s}", "code", "dropped", "text", line));
			emc_outbox_remove(c, s->cur.client_msg_id);
			d->outcome = EMC_DROPPED;
		} else if (em_err_retryable(t->err)) {
			d->outcome =
			    EMC_QUEUED; /* the server cannot take it now: like unreachable */
			d->exit = EMC_EXIT_NET;
		} else {
			d->outcome = EMC_FAILED_O;
		}
	}
	t->done = 0; /* the task goes on with the next message */
	t->exit = 0;
	t->err = 0;
	t->message[0] = '\0';
	t->retry_after_ms = 0;
	return EMC_DONE;
}

/* ---- the task ---- */

static const char *emc_outcome_name(enum emc_outcome o)
{
	switch (o) {
	case EMC_SENT:
		return "sent";
	case EMC_QUEUED:
		return "queued";
	case EMC_BLOCKED:
		return "blocked";
	case EMC_DROPPED:
		return "dropped";
	case EMC_HELD:
		return "held";
	default:
		return "failed";
	}
}

/* Takes the next outbox entry into s->cur. 1, 0 when there is none. */
static int emc_send_take(struct emc *c, struct emc_send *s)
{
	while (s->next < outbox_count(s->outbox)) {
		struct outbox_msg om;

		if (outbox_at(s->outbox, s->next++, &om) != 0) {
			emc_event(c, "report",
			          json_pack("{s:s, s:s}", "code", "damaged", "text",
			                    "skipping a damaged entry of the outbox"));
			continue;
		}
		emc_send_msg_clear(&s->cur);
		s->cur.room_id = om.room_id;
		memcpy(s->cur.client_msg_id, om.client_msg_id, EM_MSG_ID_BYTES);
		memcpy(s->cur.id_b64, om.id_b64, sizeof(s->cur.id_b64));
		s->cur.text = malloc(om.text_len + 1);
		if (!s->cur.text)
			return -1;
		memcpy(s->cur.text, om.text, om.text_len);
		s->cur.text[om.text_len] = '\0';
		s->cur.text_len = om.text_len;
		s->cur.meta = om.meta;
		s->attempts = 0;
		s->ack_wait = s->ack_done = 0;
		return 1;
	}
	return 0;
}

static int emc_send_step(struct emc *c, struct emc_task *t)
{
	struct emc_send *s = t->data;

	for (;;) {
		struct emc_delivery d;
		int is_watched;
		size_t h;

		if (!s->busy) {
			int rc = emc_send_take(c, s);

			if (rc < 0)
				return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
			if (!rc)
				break;
			s->busy = 1;
		}
		for (h = 0; h < s->nheld && s->held_rooms[h] != s->cur.room_id; h++)
			;
		if (h < s->nheld) {
			d = s->held_d[h]; /* an older message of this room is still waiting */
		} else if (!c->link_up) {
			memset(&d, 0, sizeof(d));
			d.outcome = EMC_QUEUED;
			d.exit = EMC_EXIT_NET;
			snprintf(d.text, sizeof(d.text), "the server is unreachable");
		} else if (emc_deliver(c, t, &d) == EMC_PENDING) {
			return EMC_PENDING;
		}
		s->busy = 0;
		is_watched =
		    s->has_watch && !memcmp(s->watch, s->cur.client_msg_id, EM_MSG_ID_BYTES);
		if (is_watched) {
			s->watched = d;
			s->watched_set = 1;
		}
		if (d.outcome == EMC_SENT) {
			if (!is_watched) {
				s->sent++;
				emc_event(c, "delivered",
				          json_pack("{s:I, s:I, s:b}", "room_id",
				                    (json_int_t)s->cur.room_id, "seq",
				                    (json_int_t)d.seq, "duplicate", d.duplicate));
			}
			continue;
		}
		if (d.outcome == EMC_DROPPED)
			continue;
		if (d.outcome == EMC_BLOCKED && h == s->nheld)
			emc_event(c, "report",
			          json_pack("{s:s, s:s}", "code", "blocked", "text", d.text));
		if (h == s->nheld && s->nheld < EMC_ROOMS_MAX) {
			s->held_rooms[s->nheld] = s->cur.room_id;
			s->held_d[s->nheld++] = d;
		}
		if (!s->worst_exit) {
			s->worst_exit = d.exit ? d.exit : EMC_EXIT_REFUSED;
			s->worst_err = d.err;
			s->worst_retry_ms = d.retry_after_ms;
			snprintf(s->worst_text, sizeof(s->worst_text), "%s", d.text);
		}
	}
	/* done: the result is about the watched message (send) or everything (flush) */
	if (s->has_watch) {
		struct emc_delivery *w = &s->watched;

		if (!s->watched_set) {
			memset(w, 0, sizeof(*w));
			w->outcome = EMC_QUEUED;
			w->exit = EMC_EXIT_NET;
		}
		if (w->outcome == EMC_SENT) {
			t->result =
			    json_pack("{s:I, s:I, s:b, s:I}", "room_id", (json_int_t)s->cur.room_id,
			              "seq", (json_int_t)w->seq, "duplicate", w->duplicate,
			              "delivered_first", (json_int_t)s->sent);
			return EMC_DONE;
		}
		emc_fail(t, w->exit ? w->exit : EMC_EXIT_REFUSED, w->err, "%s", w->text);
		t->retry_after_ms = w->retry_after_ms;
		t->result = json_pack("{s:s, s:I}", "outcome", emc_outcome_name(w->outcome),
		                      "delivered_first", (json_int_t)s->sent);
		return EMC_FAILED;
	}
	if (s->worst_exit) {
		emc_fail(t, s->worst_exit, s->worst_err, "%s", s->worst_text);
		t->retry_after_ms = s->worst_retry_ms;
		t->result = json_pack("{s:I}", "delivered", (json_int_t)s->sent);
		return EMC_FAILED;
	}
	t->result = json_pack("{s:I}", "delivered", (json_int_t)s->sent);
	return EMC_DONE;
}

static int64_t emc_send_start(struct emc *c, const char *name, const unsigned char *watch)
{
	struct emc_send *s = calloc(1, sizeof(*s));
	struct emc_task *t;
	int rc;

	if (!s)
		return -ENOMEM;
	if (watch) {
		memcpy(s->watch, watch, EM_MSG_ID_BYTES);
		s->has_watch = 1;
	}
	t = emc_task_new(c, name, emc_send_step, emc_send_free, s);
	if (!t) {
		free(s);
		return -ENOMEM;
	}
	rc = emc_doc_load(c, STATE_OUTBOX_FILE, &s->outbox);
	if (rc)
		emc_fail(t, EMC_EXIT_LOCAL, 0, "cannot read %s: %s", STATE_OUTBOX_FILE,
		         strerror(-rc));
	return t->id;
}

int64_t emc_cmd_send(struct emc *c, json_t *cmd)
{
	struct emc_enqueue a = {.room_id = json_integer_value(json_object_get(cmd, "room"))};
	const char *text = json_string_value(json_object_get(cmd, "text"));
	unsigned char id[EM_MSG_ID_BYTES];
	size_t len = text ? json_string_length(json_object_get(cmd, "text")) : 0;
	time_t now = (time_t)(c->now_ms / 1000);
	struct tm tm;
	int rc;

	if (a.room_id < 1 || !text || text_prepare(text, &len))
		return -EINVAL;
	randombytes_buf(id, sizeof(id));
	a.id = id;
	a.text = text;
	a.len = len;
	a.now_ms = c->now_ms;
	if (gmtime_r(&now, &tm))
		strftime(a.now, sizeof(a.now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	rc = emc_doc_update(c, STATE_OUTBOX_FILE, emc_enqueue_fn, &a, NULL);
	if (rc < 0) {
		struct emc_task *t = emc_task_new(c, "send", NULL, NULL, NULL);

		if (!t)
			return -ENOMEM;
		emc_fail(t, EMC_EXIT_LOCAL, 0, "cannot write %s: %s", STATE_OUTBOX_FILE,
		         strerror(-rc));
		return t->id;
	}
	emc_event(c, "queued", json_pack("{s:I}", "room_id", (json_int_t)a.room_id));
	return emc_send_start(c, "send", id);
}

int64_t emc_cmd_flush(struct emc *c, json_t *cmd)
{
	(void)cmd;
	return emc_send_start(c, "flush", NULL);
}
