/*
 * read.c - reading in the core (core.h): opening a message (the sender's
 * signature with their pinned key first, then the key of its epoch, then
 * the order and date its sender signed: SECURITY.md O1-O3, P2), the `read`
 * task (a room's history in pages) and the `live` task (sync, then the
 * room's events as they come, gaps filled from history, never skipped).
 *
 * Events: {"ev":"message", …the opened message…} in seq order;
 * {"ev":"status","text"} for the live transcript ("alice read up to 42");
 * {"ev":"typing","room_id","user_id","username"}; {"ev":"synced"}.
 * Threads: the host's (core.h).
 */
#define _GNU_SOURCE /* strptime, timegm */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core.h"

#define EMC_PAGE          200
#define EMC_CLOCK_SKEW_MS (10 * 60 * 1000)

/* ---- opening ---- */

static int64_t emc_ts_ms(const char *ts)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (!ts || !(end = strptime(ts, "%Y-%m-%dT%H:%M:%SZ", &tm)) || *end)
		return -1;
	return (int64_t)timegm(&tm) * 1000;
}

/* The order and date checks of an opened message (O1-O3): a warning, or "". */
static void emc_check_order(struct emc *c, int64_t room_id, int64_t seq, int64_t sender_id,
                            const char *sender, const char *sent_at, const struct em_msg_meta *meta,
                            char *warning, size_t len)
{
	struct trust_order_result res;
	int64_t server_ms = emc_ts_ms(sent_at);

	warning[0] = '\0';
	if (meta->counter == 0) {
		snprintf(warning, len,
		         "%s's message carries no counter: its order cannot be checked", sender);
		return;
	}
	if (trust_order_check(c->trust, room_id, sender_id, meta->device, meta->counter, seq,
	                      &res) == 0)
		c->order_dirty = 1;
	else
		res.verdict = TRUST_ORDER_SEEN;
	if (res.verdict == TRUST_ORDER_GAP) {
		uint64_t missing = meta->counter - res.last_counter - 1;

		snprintf(
		    warning, len,
		    "%llu earlier message%s from %s never arrived (numbers %llu to %llu of their "
		    "device): the server did not deliver %s, or they were dropped",
		    (unsigned long long)missing, missing == 1 ? "" : "s", sender,
		    (unsigned long long)res.last_counter + 1, (unsigned long long)meta->counter - 1,
		    missing == 1 ? "it" : "them");
		return;
	}
	if (res.verdict == TRUST_ORDER_BACK) {
		snprintf(warning, len,
		         "OUT OF ORDER: this is message %llu of %s's device, but message %llu was "
		         "already "
		         "shown (at [%lld]): the server replayed or reordered it",
		         (unsigned long long)meta->counter, sender,
		         (unsigned long long)res.last_counter, (long long)res.last_seq);
		return;
	}
	if (server_ms >= 0 && (int64_t)meta->written_ms > server_ms + EMC_CLOCK_SKEW_MS) {
		time_t t = (time_t)(meta->written_ms / 1000);
		char when[40] = "";
		struct tm tm;

		if (gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(warning, len,
		         "the server dates this message %s, but %s signed it as written at %s: "
		         "back-dated by the server, or %s's clock is wrong",
		         sent_at, sender, when, sender);
	}
}

json_t *emc_open_message(struct emc *c, struct emc_room *r, json_t *message)
{
	unsigned char id[EM_MSG_ID_BYTES], sig[EM_SIG_BYTES], key[EM_ROOM_KEY_BYTES];
	unsigned char *ct = NULL, *plain = NULL;
	const char *ct_b64 = json_string_value(json_object_get(message, "ciphertext"));
	const char *id_b64 = json_string_value(json_object_get(message, "client_msg_id"));
	const char *sig_b64 = json_string_value(json_object_get(message, "sig"));
	const char *sender_in = json_string_value(json_object_get(message, "sender"));
	const char *sent_at = json_string_value(json_object_get(message, "sent_at"));
	int64_t seq = json_integer_value(json_object_get(message, "seq"));
	int64_t epoch = json_integer_value(json_object_get(message, "epoch"));
	int64_t sender_id = json_integer_value(json_object_get(message, "sender_id"));
	char sender[EM_USERNAME_MAX + 1], error[256] = "", warning[320] = "";
	struct em_msg_meta meta;
	struct pin p;
	size_t plain_len = 0;
	int ct_len = -1, have_key, st, earlier_key = 0;
	json_t *view;

	memset(&meta, 0, sizeof(meta));
	snprintf(sender, sizeof(sender), "%s",
	         sender_in && em_check_username(sender_in) == EM_OK ? sender_in : "?");
	ct = malloc(EM_MSG_CIPHERTEXT_MAX);
	if (ct_b64 && ct)
		ct_len = em_b64_decode(ct_b64, ct, EM_MSG_CIPHERTEXT_MAX);
	if (!r || seq < 1 || epoch < 1 || sender_id < 1 || !ct || ct_len < 0 || !id_b64 ||
	    em_b64_decode(id_b64, id, sizeof(id)) != (int)sizeof(id) || !sig_b64 ||
	    em_b64_decode(sig_b64, sig, sizeof(sig)) != (int)sizeof(sig)) {
		snprintf(error, sizeof(error),
		         "(cannot read: the server sent a malformed message)");
		goto out;
	}
	if (emc_user_keys(c, sender_id, &p) != 0) {
		snprintf(
		    error, sizeof(error),
		    "(REJECTED: no pinned key for %s — the server never showed them as a member of "
		    "room %lld)",
		    sender, (long long)r->id);
		goto out;
	}
	snprintf(sender, sizeof(sender), "%s", p.username);
	have_key = roomkeys_get(c->roomkeys, r->id, epoch, key, NULL) == 0;
	/* without the key, decrypting with a zero key still checks the signature
	 * first: a forgery is called a forgery, not a missing key */
	if (!have_key)
		sodium_memzero(key, sizeof(key));
	plain = malloc((size_t)ct_len + 1);
	if (!plain) {
		snprintf(error, sizeof(error), "(cannot decrypt: out of memory)");
		goto out;
	}
	st = em_msg_decrypt(key, (uint64_t)r->id, (uint64_t)epoch, (uint64_t)sender_id, id, ct,
	                    (size_t)ct_len, sig, p.sign_pk, &meta, plain, &plain_len);
	/* signed before a key change this device accepted: their earlier key */
	for (size_t i = 0; st == EM_MSG_BAD_SIGNATURE && i < PINS_REPLACED_MAX; i++) {
		unsigned char old[EM_SIGN_PK_BYTES];

		if (pins_replaced_key(c->pins, sender_id, i, old) != 0)
			break;
		st = em_msg_decrypt(key, (uint64_t)r->id, (uint64_t)epoch, (uint64_t)sender_id, id,
		                    ct, (size_t)ct_len, sig, old, &meta, plain, &plain_len);
		earlier_key = st != EM_MSG_BAD_SIGNATURE;
	}
	if (st == EM_MSG_BAD_SIGNATURE && sender_id == c->session.user_id) {
		snprintf(error, sizeof(error),
		         "(REJECTED: not signed with your current key — sent before your identity "
		         "was reset, or forged)");
	} else if (st == EM_MSG_BAD_SIGNATURE) {
		snprintf(error, sizeof(error),
		         "(REJECTED: bad signature — not from %s's pinned key%s)", p.username,
		         p.changed ? "; their keys changed, see `ementor trust`" : "");
	} else if (!have_key) {
		if (r->shown == EMC_FACT_HAVE && emc_room_member(c, r) && !r->on_roster)
			snprintf(
			    error, sizeof(error),
			    "(cannot decrypt: you have not signed the agreement of room %lld: run "
			    "`ementor agreement sign %lld`)",
			    (long long)r->id, (long long)r->id);
		else if (emc_epoch_bad(r, epoch))
			snprintf(error, sizeof(error),
			         "(cannot decrypt: the key for epoch %lld was not accepted)",
			         (long long)epoch);
		else if (r->keys == EMC_FACT_HAVE)
			snprintf(error, sizeof(error),
			         "(cannot decrypt: you were not a member at epoch %lld)",
			         (long long)epoch);
		else
			snprintf(error, sizeof(error),
			         "(cannot decrypt: key for epoch %lld not received yet)",
			         (long long)epoch);
	} else if (st == EM_MSG_UNDECRYPTABLE) {
		snprintf(error, sizeof(error),
		         "(cannot decrypt: it does not open with the key of epoch %lld)",
		         (long long)epoch);
	} else if (st == EM_MSG_BAD_COMMITMENT) {
		snprintf(error, sizeof(error),
		         "(REJECTED: %s's message does not match its own franking commitment)",
		         p.username);
	} else if (st != EM_MSG_OK) {
		snprintf(error, sizeof(error), "(cannot decrypt: malformed contents)");
	} else if (!text_is_utf8((const char *)plain, plain_len)) {
		snprintf(error, sizeof(error), "(cannot show: the text is not UTF-8)");
	} else {
		emc_check_order(c, r->id, seq, sender_id, sender, sent_at ? sent_at : "", &meta,
		                warning, sizeof(warning));
		if (earlier_key && !warning[0])
			snprintf(warning, sizeof(warning),
			         "signed with %s's earlier key, before the key change you accepted",
			         sender);
	}
out:
	view =
	    json_pack("{s:I, s:I, s:I, s:I, s:s, s:s}", "room_id", (json_int_t)(r ? r->id : 0),
	              "seq", (json_int_t)seq, "epoch", (json_int_t)epoch, "sender_id",
	              (json_int_t)sender_id, "sender", sender, "sent_at", sent_at ? sent_at : "");
	if (view) {
		if (!error[0] && plain)
			json_object_set_new(view, "text",
			                    json_stringn((const char *)plain, plain_len));
		else
			json_object_set_new(view, "error",
			                    json_string(error[0] ? error : "(cannot read)"));
		if (warning[0])
			json_object_set_new(view, "warning", json_string(warning));
		if (!error[0] && meta.counter)
			json_object_set_new(view, "counter",
			                    json_integer((json_int_t)meta.counter));
	}
	if (plain) {
		sodium_memzero(plain, (size_t)ct_len + 1);
		free(plain);
	}
	free(ct);
	sodium_memzero(key, sizeof(key));
	return view;
}

/*
 * What opening `message` needs first: the room looked at when its sender is
 * not pinned; the room's keys fetched (again, when the message is of an
 * epoch newer than keys.get last said) when its key is missing. A need; a
 * failure is not an error here (the message is shown with the reason).
 */
static int emc_message_ready(struct emc *c, struct emc_room *r, json_t *message)
{
	int64_t epoch = json_integer_value(json_object_get(message, "epoch"));
	int64_t sender = json_integer_value(json_object_get(message, "sender_id"));
	unsigned char key[EM_ROOM_KEY_BYTES];
	struct pin p;
	int rc;

	if (emc_user_keys(c, sender, &p) != 0 && !r->trusted) {
		rc = emc_room_advance(c, r);
		if (rc == EMC_PENDING)
			return EMC_PENDING;
	}
	if (!r->trusted && r->shown != EMC_FACT_FAILED && emc_room_advance(c, r) == EMC_PENDING)
		return EMC_PENDING;
	if (epoch < 1 || roomkeys_get(c->roomkeys, r->id, epoch, key, NULL) == 0) {
		sodium_memzero(key, sizeof(key));
		return EMC_DONE;
	}
	if (r->keys == EMC_FACT_HAVE && epoch > r->keys_epoch)
		r->keys = EMC_FACT_NONE; /* a newer epoch than keys.get knew: ask again */
	switch (r->keys) {
	case EMC_FACT_HAVE:
	case EMC_FACT_FAILED:
		return EMC_DONE;
	case EMC_FACT_ASKED:
		emc_keys_settle(c, r);
		return r->keys == EMC_FACT_ASKED ? EMC_PENDING : EMC_DONE;
	case EMC_FACT_NONE:
		break;
	}
	{
		/* a throwaway task only to carry a failure (none is reported) */
		struct emc_task dummy;

		memset(&dummy, 0, sizeof(dummy));
		rc = emc_room_keys(c, &dummy, r);
	}
	return rc == EMC_FAILED ? EMC_DONE : rc;
}

/* ---- cursors ---- */

struct emc_cursor {
	int64_t room_id, seq, read;
};

static int emc_cursor_fn(json_t *cur, void *arg)
{
	struct emc_cursor *cu = arg;

	return cursors_raise(cur, cu->room_id, cu->seq, cu->read);
}

static void emc_save_cursor(struct emc *c, int64_t room_id, int64_t seq, int64_t read)
{
	struct emc_cursor cu = {.room_id = room_id, .seq = seq, .read = read};
	int rc = emc_doc_update(c, STATE_CURSORS_FILE, emc_cursor_fn, &cu, NULL);

	if (rc < 0)
		emc_warn(c, "storage", "cannot write %s: %s", STATE_CURSORS_FILE, strerror(-rc));
}

/* ---- read ---- */

struct emc_read {
	int64_t room_id, since, limit, shown, cursor, highest, read_before;
	json_t *page; /* messages of the last history page still to show */
	size_t at;
	int more, asked, done_paging, receipt_asked, receipt_done;
	int keep_place; /* "mark": false (an export): no cursor saved, no receipt sent */
	int history_err;
	char history_msg[256];
	int64_t history_retry;
};

static void emc_read_free(struct emc_task *t)
{
	struct emc_read *rd = t->data;

	if (rd)
		json_decref(rd->page);
	free(rd);
}

static void emc_read_page(struct emc *c, int64_t room, int64_t task, struct em_incoming *in)
{
	struct emc_task *t = emc_task_find(c, task);
	struct emc_read *rd = t ? t->data : NULL;

	(void)room;
	if (!rd)
		return;
	rd->asked = 0;
	if (!in->result) {
		rd->history_err = in->err ? in->err : EM_ERR_INTERNAL;
		snprintf(rd->history_msg, sizeof(rd->history_msg), "%s",
		         in->err_message ? in->err_message : "");
		rd->history_retry = in->retry_after_ms;
		return;
	}
	json_decref(rd->page);
	rd->page = json_incref(json_object_get(in->result, "messages"));
	rd->at = 0;
	rd->more = json_is_true(json_object_get(in->result, "more"));
	if (!json_array_size(rd->page))
		rd->done_paging = 1;
}

static void emc_read_receipt(struct emc *c, int64_t room, int64_t task, struct em_incoming *in)
{
	struct emc_task *t = emc_task_find(c, task);
	struct emc_read *rd = t ? t->data : NULL;

	if (!rd)
		return;
	rd->receipt_done = 1;
	if (in->result)
		emc_save_cursor(c, room, 0, rd->highest);
	else if (in->err != EMC_ERR_LINK)
		emc_event(c, "report",
		          json_pack("{s:s, s:s+}", "code", "receipt", "text",
		                    "could not send the read receipt: ",
		                    in->err_message ? in->err_message : ""));
}

static int emc_read_step(struct emc *c, struct emc_task *t)
{
	struct emc_read *rd = t->data;
	struct emc_room *r = emc_room(c, rd->room_id);

	if (!r)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "too many rooms in one command");
	if (rd->history_err) {
		struct em_incoming in = {.err = rd->history_err,
		                         .err_message = rd->history_msg,
		                         .retry_after_ms = rd->history_retry};
		char text[512];

		rd->history_err = 0;
		emc_fail_reply(t, &in);
		if (in.err != EMC_ERR_LINK && t->exit == EMC_EXIT_REFUSED && !rd->keep_place) {
			emc_room_refusal(c, rd->room_id, in.err, rd->history_msg, in.retry_after_ms,
			                 text, sizeof(text));
			snprintf(t->message, sizeof(t->message), "%s", text);
		} else if (t->exit == EMC_EXIT_AUTH) {
			snprintf(t->message, sizeof(t->message),
			         "your session has expired; run `ementor login %s`.",
			         c->session.username);
		}
		return EMC_FAILED;
	}
	while (!rd->done_paging) {
		if (rd->asked)
			return EMC_PENDING;
		if (rd->at < json_array_size(rd->page)) {
			json_t *msg = json_array_get(rd->page, rd->at), *view;
			int64_t seq = json_integer_value(json_object_get(msg, "seq"));

			if (rd->limit && rd->shown >= rd->limit) {
				rd->done_paging = 1;
				break;
			}
			if (seq <= rd->since) { /* never backwards: the server must not loop us */
				rd->done_paging = 1;
				break;
			}
			if (emc_message_ready(c, r, msg) == EMC_PENDING)
				return EMC_PENDING;
			view = emc_open_message(c, r, msg);
			if (view)
				emc_event(c, "message", view);
			rd->since = seq;
			if (seq == rd->cursor + 1)
				rd->cursor = seq;
			if (seq > rd->highest)
				rd->highest = seq;
			rd->shown++;
			rd->at++;
			continue;
		}
		if (rd->page && (!rd->more || (rd->limit && rd->shown >= rd->limit))) {
			rd->done_paging = 1;
			break;
		}
		{
			int64_t want = rd->limit ? rd->limit - rd->shown : EMC_PAGE;

			if (want > EMC_PAGE)
				want = EMC_PAGE;
			if (emc_request(c, EM_OP_HISTORY,
			                json_pack("{s:I, s:I, s:I}", "room_id",
			                          (json_int_t)rd->room_id, "after_seq",
			                          (json_int_t)rd->since, "limit", (json_int_t)want),
			                emc_read_page, rd->room_id, t->id) < 0)
				return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
			rd->asked = 1;
			/* the room too, so members' keys are pinned before the first message */
			emc_room_advance(c, r);
			return EMC_PENDING;
		}
	}
	if (rd->keep_place)
		rd->receipt_asked = rd->receipt_done = 1;
	if (!rd->receipt_asked) {
		emc_save_cursor(c, rd->room_id, rd->cursor, 0);
		rd->receipt_asked = 1;
		if (rd->highest > rd->read_before) {
			if (emc_request(c, EM_OP_RECEIPT,
			                json_pack("{s:I, s:I}", "room_id", (json_int_t)rd->room_id,
			                          "seq", (json_int_t)rd->highest),
			                emc_read_receipt, rd->room_id, t->id) < 0)
				return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
			return EMC_PENDING;
		}
		rd->receipt_done = 1;
	}
	if (!rd->receipt_done)
		return EMC_PENDING;
	t->result = json_pack("{s:I, s:I, s:I}", "shown", (json_int_t)rd->shown, "cursor",
	                      (json_int_t)rd->cursor, "highest", (json_int_t)rd->highest);
	return EMC_DONE;
}

/* {"cmd":"read","room","after"?,"limit"?,"mark"?}: "mark": false reads without
 * moving the cursor or sending a receipt (an export). */
int64_t emc_cmd_read(struct emc *c, json_t *cmd)
{
	struct emc_read *rd = calloc(1, sizeof(*rd));
	json_t *cursors = NULL;
	struct emc_task *t;

	if (!rd)
		return -ENOMEM;
	rd->room_id = json_integer_value(json_object_get(cmd, "room"));
	rd->since = json_integer_value(json_object_get(cmd, "after"));
	rd->limit = json_integer_value(json_object_get(cmd, "limit"));
	rd->keep_place = json_is_false(json_object_get(cmd, "mark"));
	if (rd->room_id < 1 || rd->since < 0 || rd->limit < 0) {
		free(rd);
		return -EINVAL;
	}
	t = emc_task_new(c, "read", emc_read_step, emc_read_free, rd);
	if (!t) {
		free(rd);
		return -ENOMEM;
	}
	if (emc_doc_load(c, STATE_CURSORS_FILE, &cursors) == 0) {
		rd->cursor = cursors_seq(cursors, rd->room_id);
		rd->read_before = cursors_read(cursors, rd->room_id);
	}
	json_decref(cursors);
	return t->id;
}

/* ---- live ---- */

#define EMC_LIVE_SYNC_WAIT_MS  10000
#define EMC_LIVE_TICK_MS       200
#define EMC_BACKOFF_MIN_MS     250
#define EMC_BACKOFF_MAX_MS     8000
#define EMC_RETRY_AFTER_MAX_MS 60000 /* the longest retry_after_ms believed */

enum emc_live_phase {
	EMC_LIVE_START = 0, /* the room and its keys */
	EMC_LIVE_LIST,      /* room.list asked */
	EMC_LIVE_SYNC,      /* sync asked */
	EMC_LIVE_ON,        /* replaying, then live */
	EMC_LIVE_DOWN,      /* the link is down: resync when it is back */
};

struct emc_live {
	int64_t room_id;
	enum emc_live_phase phase;
	uint64_t link_gen; /* the link (core.h) this task last synced on; 0: none yet */
	int asked;
	json_t *reply; /* the answer waited for (room.list, sync) */
	int reply_err;
	int64_t reply_retry_ms;
	char reply_msg[256];
	int64_t cursor, saved_cursor, read_sent, receipt_due;
	int synced;
	size_t replayed;
	int64_t sync_deadline_ms;
	json_t *queue; /* [[ev, data]]: the room's events in arrival order */
	json_t *fill;  /* a history page filling a gap */
	int fill_asked;
	int ended;
	int64_t flush_task;
	int64_t retry_at_ms, backoff_ms;
	int64_t resync_at_ms, resync_backoff_ms; /* room.list/sync refused for now: again then */
	int started_once;
	int room_forgot; /* the queued "room" event's forget is done: a wake re-enters after it */
};

static struct emc_live *emc_live_of(struct emc *c, struct emc_task **out)
{
	for (struct em_link *l = c->tasks.head; l; l = l->next) {
		struct emc_task *t = emc_task_of(l);

		if (!t->done && t->cmd && !strcmp(t->cmd, "live")) {
			if (out)
				*out = t;
			return t->data;
		}
	}
	return NULL;
}

static void emc_live_free(struct emc_task *t)
{
	struct emc_live *lv = t->data;

	if (!lv)
		return;
	json_decref(lv->reply);
	json_decref(lv->queue);
	json_decref(lv->fill);
	free(lv);
}

static void emc_status(struct emc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emc_status(struct emc *c, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	emc_event(c, "status", json_pack("{s:s}", "text", text));
}

void emc_live_event(struct emc *c, struct em_incoming *in)
{
	struct emc_task *t = NULL;
	struct emc_live *lv;
	int64_t room = json_integer_value(json_object_get(in->data, "room_id"));

	if (!strcmp(in->ev, "epoch")) {
		emc_epoch_event(c, in->data);
		return;
	}
	lv = emc_live_of(c, &t);
	if (!lv)
		return;
	if (!strcmp(in->ev, "synced")) {
		/* in order with the replay it ends */
		if (!lv->queue)
			lv->queue = json_array();
		json_array_append_new(lv->queue, json_pack("[s{}]", "synced"));
		return;
	}
	if (room != lv->room_id)
		return; /* other rooms are for other sessions */
	if (!lv->queue)
		lv->queue = json_array();
	json_array_append_new(lv->queue, json_pack("[sO]", in->ev, in->data));
}

/*
 * The next wait after a retryable refusal: *backoff_ms doubles from first_ms
 * up to EMC_BACKOFF_MAX_MS, each wait 0.5-1.5 times it, and is never shorter
 * than the server's retry_after_ms, which is believed only up to
 * EMC_RETRY_AFTER_MAX_MS: a server cannot park a client longer than that.
 */
static int64_t emc_backoff_next(int64_t *backoff_ms, int64_t first_ms, int64_t retry_after_ms)
{
	int64_t delay = *backoff_ms ? *backoff_ms * 2 : first_ms;

	if (delay > EMC_BACKOFF_MAX_MS)
		delay = EMC_BACKOFF_MAX_MS;
	*backoff_ms = delay;
	delay = delay / 2 + (int64_t)randombytes_uniform((uint32_t)delay + 1);
	if (retry_after_ms > EMC_RETRY_AFTER_MAX_MS)
		retry_after_ms = EMC_RETRY_AFTER_MAX_MS;
	return delay < retry_after_ms ? retry_after_ms : delay;
}

/*
 * The server could not take room.list, sync or history for now (busy while it
 * restarts, its database down): ask again after its retry_after_ms, backing
 * off from EMC_BACKOFF_MIN_MS * 2 to EMC_BACKOFF_MAX_MS, each wait 0.5-1.5
 * times that, instead of ending the session or skipping a message.
 */
static void emc_live_hold(struct emc *c, struct emc_live *lv, int64_t retry_after_ms)
{
	lv->resync_at_ms = c->now_ms + emc_backoff_next(&lv->resync_backoff_ms,
	                                                EMC_BACKOFF_MIN_MS * 2, retry_after_ms);
}

/* Still holding off after a retryable refusal: the task wakes when it is over. */
static int emc_live_held(struct emc *c, struct emc_task *t, struct emc_live *lv)
{
	if (!lv->resync_at_ms || c->now_ms >= lv->resync_at_ms)
		return 0;
	t->wake_at_ms = lv->resync_at_ms;
	return 1;
}

static void emc_live_reply(struct emc *c, int64_t room, int64_t task, struct em_incoming *in)
{
	struct emc_task *t = emc_task_find(c, task);
	struct emc_live *lv = t ? t->data : NULL;

	(void)room;
	if (!lv)
		return;
	lv->asked = 0;
	if (in->err == EMC_ERR_LINK)
		return; /* the link went down: the task syncs again when it is back */
	json_decref(lv->reply);
	lv->reply = in->result ? json_incref(in->result) : NULL;
	lv->reply_err = in->result ? 0 : (in->err ? in->err : EM_ERR_INTERNAL);
	lv->reply_retry_ms = in->retry_after_ms;
	snprintf(lv->reply_msg, sizeof(lv->reply_msg), "%s",
	         in->err_message ? in->err_message : "");
}

static void emc_live_filled(struct emc *c, int64_t room, int64_t task, struct em_incoming *in)
{
	struct emc_task *t = emc_task_find(c, task);
	struct emc_live *lv = t ? t->data : NULL;

	(void)room;
	if (!lv)
		return;
	lv->fill_asked = 0;
	if (in->err == EMC_ERR_LINK)
		return; /* the sync after the link is back replays it */
	if (em_err_retryable(in->err)) {
		emc_live_hold(c, lv, in->retry_after_ms); /* the gap is asked for again then */
		return;
	}
	json_decref(lv->fill);
	lv->fill = in->result ? json_incref(json_object_get(in->result, "messages")) : json_array();
	if (!in->result)
		emc_event(c, "report",
		          json_pack("{s:s, s:s}", "code", "history", "text",
		                    in->err_message ? in->err_message : "history failed"));
}

/* Shows one message (cursor + 1) once what it needs is known. A need. */
static int emc_live_show(struct emc *c, struct emc_live *lv, struct emc_room *r, json_t *msg)
{
	json_t *view;
	int64_t sender = json_integer_value(json_object_get(msg, "sender_id"));

	if (emc_message_ready(c, r, msg) == EMC_PENDING)
		return EMC_PENDING;
	view = emc_open_message(c, r, msg);
	if (view)
		emc_event(c, "message", view);
	lv->cursor = json_integer_value(json_object_get(msg, "seq"));
	if (!lv->synced)
		lv->replayed++;
	if (sender != c->session.user_id)
		lv->receipt_due = lv->cursor;
	return EMC_DONE;
}

/* One event of the room. EMC_DONE when handled (drop it), EMC_PENDING to wait. */
static int emc_live_handle(struct emc *c, struct emc_task *t, struct emc_live *lv,
                           struct emc_room *r, const char *ev, json_t *d)
{
	int64_t user = json_integer_value(json_object_get(d, "user_id"));
	/* receipts and typing name the person as pinned here, never as the server says */
	const char *username = NULL;
	struct pin p;

	if (!strcmp(ev, "synced")) {
		if (!lv->synced) {
			lv->synced = 1;
			if (lv->replayed)
				emc_status(c, "%zu message%s since last time; now live",
				           lv->replayed, lv->replayed == 1 ? "" : "s");
			emc_event(c, "synced",
			          json_pack("{s:I}", "room_id", (json_int_t)lv->room_id));
		}
		return EMC_DONE;
	}
	if (!strcmp(ev, "message")) {
		int64_t seq = json_integer_value(json_object_get(d, "seq"));

		switch (seq_check(lv->cursor, seq)) {
		case SEQ_DUP:
			return EMC_DONE;
		case SEQ_NEXT:
			return emc_live_show(c, lv, r, d);
		case SEQ_GAP:
			break;
		}
		/* fill the gap from history first: never skip */
		while (lv->fill && json_array_size(lv->fill)) {
			json_t *m = json_array_get(lv->fill, 0);

			if (seq_check(lv->cursor, json_integer_value(json_object_get(m, "seq"))) ==
			        SEQ_NEXT &&
			    emc_live_show(c, lv, r, m) == EMC_PENDING)
				return EMC_PENDING;
			json_array_remove(lv->fill, 0);
		}
		if (seq_check(lv->cursor, seq) == SEQ_NEXT) {
			json_decref(lv->fill);
			lv->fill = NULL;
			return emc_live_show(c, lv, r, d);
		}
		if (lv->fill && !json_array_size(lv->fill)) { /* history brought nothing: go on */
			json_decref(lv->fill);
			lv->fill = NULL;
			return EMC_DONE;
		}
		if (lv->fill_asked || emc_live_held(c, t, lv))
			return EMC_PENDING;
		if (emc_request(c, EM_OP_HISTORY,
		                json_pack("{s:I, s:I, s:I}", "room_id", (json_int_t)lv->room_id,
		                          "after_seq", (json_int_t)lv->cursor, "limit",
		                          (json_int_t)EMC_PAGE),
		                emc_live_filled, lv->room_id, t->id) < 0)
			return EMC_DONE;
		lv->fill_asked = 1;
		return EMC_PENDING;
	}
	if (!strcmp(ev, "receipt")) {
		if (user == c->session.user_id)
			return EMC_DONE;
		if (emc_user_keys(c, user, &p) == 0)
			username = p.username;
		if (!username || em_check_username(username) != EM_OK)
			username = "someone";
		emc_status(c, "%s read up to %lld", username,
		           (long long)json_integer_value(json_object_get(d, "seq")));
		emc_event(c, "receipt",
		          json_pack("{s:I, s:I, s:s, s:I}", "room_id", (json_int_t)lv->room_id,
		                    "user_id", (json_int_t)user, "username", username, "seq",
		                    (json_int_t)json_integer_value(json_object_get(d, "seq"))));
		return EMC_DONE;
	}
	if (!strcmp(ev, "typing")) {
		if (user == c->session.user_id)
			return EMC_DONE;
		if (emc_user_keys(c, user, &p) == 0)
			username = p.username;
		emc_event(c, "typing",
		          json_pack("{s:I, s:I, s:s}", "room_id", (json_int_t)lv->room_id,
		                    "user_id", (json_int_t)user, "username",
		                    username && em_check_username(username) == EM_OK ? username
		                                                                     : "someone"));
		return EMC_DONE;
	}
	if (!strcmp(ev, "room")) {
		const char *change = json_string_value(json_object_get(d, "change"));

		if (change && !strcmp(change, "removed")) {
			lv->ended = 1;
			emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_NOT_MEMBER,
			         "you are no longer a member of room %lld", (long long)lv->room_id);
			return EMC_DONE;
		}
		if (change && (!strcmp(change, "goal") || !strcmp(change, "rating"))) {
			emc_status(c, "a %s changed in this room: see `ementor %s list %lld`",
			           change, change, (long long)lv->room_id);
			return EMC_DONE;
		}
		if (change && !strcmp(change, "midterm")) {
			emc_status(
			    c,
			    "a part of this room's mid-term record was written: see `ementor "
			    "midterm show %lld MIDTERM`",
			    (long long)lv->room_id);
			return EMC_DONE;
		}
		/* once per event: the handler runs again when room.show answers, and
		 * forgetting then would ask again, for ever */
		if (!lv->room_forgot) {
			emc_room_forget(r);
			lv->room_forgot = 1;
		}
		if (emc_room_advance(c, r) == EMC_PENDING)
			return EMC_PENDING;
		if (change && !strcmp(change, "agreement")) {
			emc_status(
			    c, "the room's agreement changed%s: see `ementor agreement show %lld`",
			    r->on_roster ? "" : " (you are not on its roster)",
			    (long long)lv->room_id);
			/* for a page that shows who has yet to sign: ask agreement.sign's preview
			 */
			emc_event(c, "room",
			          json_pack("{s:I, s:s, s:b}", "room_id", (json_int_t)lv->room_id,
			                    "change", "agreement", "on_roster", r->on_roster));
		} else {
			char names[EM_ROOM_MEMBERS_MAX * (EM_USERNAME_MAX + 2) + 1] = "";

			for (size_t i = 0; i < r->nmembers; i++) {
				if (i)
					strcat(names, ", ");
				strcat(names, r->member_names[i]);
			}
			emc_status(c, "the members of the room changed: %s", names);
		}
		return EMC_DONE;
	}
	return EMC_DONE;
}

/* Receipts and the cursor, when nothing else is going on. */
static void emc_live_idle(struct emc *c, struct emc_live *lv)
{
	if (lv->receipt_due > lv->read_sent && c->ready) {
		/* fire and forget: a lost receipt is repeated next time */
		emc_send_only(c, EM_OP_RECEIPT,
		              json_pack("{s:I, s:I}", "room_id", (json_int_t)lv->room_id, "seq",
		                        (json_int_t)lv->receipt_due));
		lv->read_sent = lv->receipt_due;
		emc_save_cursor(c, lv->room_id, 0, lv->read_sent);
	}
	if (lv->cursor > lv->saved_cursor) {
		emc_save_cursor(c, lv->room_id, lv->cursor, 0);
		lv->saved_cursor = lv->cursor;
	}
	if (lv->phase == EMC_LIVE_ON && !lv->synced && c->now_ms > lv->sync_deadline_ms) {
		emc_event(c, "report",
		          json_pack("{s:s, s:s}", "code", "replay_slow", "text",
		                    "the server did not finish the replay in time; going on"));
		lv->synced = 1;
		emc_event(c, "synced", json_pack("{s:I}", "room_id", (json_int_t)lv->room_id));
	}
}

/* The outbox again after a flush that left lines the server could not take yet. */
static void emc_live_outbox(struct emc *c, struct emc_live *lv)
{
	int64_t id;

	if (lv->flush_task || !c->ready || (lv->retry_at_ms && c->now_ms < lv->retry_at_ms))
		return;
	if (!lv->retry_at_ms && lv->started_once)
		return;
	lv->retry_at_ms = 0;
	id = emc_cmd_flush(c, NULL); /* a task of its own; stepped by the running loop */
	if (id > 0)
		lv->flush_task = id;
}

int emc_live_flush_done(struct emc *c, int64_t task, int exit, int64_t retry_after_ms)
{
	struct emc_live *lv = emc_live_of(c, NULL);

	if (!lv)
		return 0;
	if (lv->flush_task == task)
		lv->flush_task = 0;
	if (exit != EMC_EXIT_NET) { /* delivered, or held for a reason no retry lifts */
		if (!lv->flush_task) {
			lv->retry_at_ms = 0;
			lv->backoff_ms = 0;
		}
		return 1;
	}
	/* the server could not take it for now: again after its retry_after_ms, then
	 * backing off to EMC_BACKOFF_MAX_MS, each wait 0.5-1.5 times that */
	lv->retry_at_ms =
	    c->now_ms + emc_backoff_next(&lv->backoff_ms, EMC_BACKOFF_MIN_MS * 4, retry_after_ms);
	return 1;
}

/*
 * room.list or sync refused with a retryable error: back to room.list once
 * the hold is over. Returns 1 when the task waits for that.
 */
static int emc_live_retry_later(struct emc *c, struct emc_task *t, struct emc_live *lv)
{
	if (!lv->reply_err || !em_err_retryable(lv->reply_err))
		return 0;
	lv->reply_err = 0;
	emc_live_hold(c, lv, lv->reply_retry_ms);
	lv->phase = EMC_LIVE_LIST;
	t->wake_at_ms = lv->resync_at_ms;
	return 1;
}

static int emc_live_step(struct emc *c, struct emc_task *t)
{
	struct emc_live *lv = t->data;
	struct emc_room *r = emc_room(c, lv->room_id);
	int rc;

	if (!r)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "too many rooms in one command");
	if (lv->ended)
		return EMC_FAILED;
	/*
	 * A link that went down and came back between two steps (the host
	 * reconnected before this task woke) is a link down too: the new
	 * connection is subscribed to nothing until the task syncs again.
	 */
	if (c->link_up && lv->link_gen != c->link_gen) {
		if (lv->link_gen && lv->phase != EMC_LIVE_DOWN && lv->phase != EMC_LIVE_START) {
			lv->phase = EMC_LIVE_DOWN;
			lv->asked = 0;
			lv->fill_asked = 0;
		}
		lv->link_gen = c->link_gen;
	}
	if (!c->link_up) {
		if (lv->phase != EMC_LIVE_DOWN && lv->phase != EMC_LIVE_START) {
			lv->phase = EMC_LIVE_DOWN;
			lv->asked = 0;
			lv->fill_asked = 0;
		}
		t->wake_at_ms = c->now_ms + EMC_LIVE_TICK_MS;
		return EMC_PENDING;
	}
	switch (lv->phase) {
	case EMC_LIVE_DOWN: /* back: the outbox first, then sync from the cursor */
		lv->synced = 0;
		lv->resync_at_ms = 0; /* a new connection: no need to wait */
		lv->phase = EMC_LIVE_LIST;
		lv->retry_at_ms = c->now_ms;
		emc_live_outbox(c, lv);
		return emc_live_step(c, t);
	case EMC_LIVE_START:
		if ((rc = emc_room_ready(c, t, r)) != EMC_DONE)
			return rc;
		if (r->keys == EMC_FACT_NONE || r->keys == EMC_FACT_ASKED) {
			struct emc_task dummy;

			memset(&dummy, 0, sizeof(dummy));
			if (emc_room_keys(c, &dummy, r) == EMC_PENDING)
				return EMC_PENDING;
		}
		{
			json_t *members = json_array();

			for (size_t i = 0; i < r->nmembers; i++)
				json_array_append_new(members, json_string(r->member_names[i]));
			emc_event(c, "live",
			          json_pack("{s:I, s:s, s:o}", "room_id", (json_int_t)r->id, "name",
			                    r->name, "members", members));
		}
		lv->started_once = 0;
		lv->retry_at_ms = c->now_ms;
		emc_live_outbox(c, lv);
		lv->started_once = 1;
		lv->phase = EMC_LIVE_LIST;
		/* fall through */
	case EMC_LIVE_LIST:
		if (emc_live_retry_later(c, t, lv))
			return EMC_PENDING;
		if (emc_live_held(c, t, lv))
			return EMC_PENDING;
		if (!lv->asked && !lv->reply && !lv->reply_err) {
			if (emc_request(c, EM_OP_ROOM_LIST, NULL, emc_live_reply, lv->room_id,
			                t->id) < 0)
				return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
			lv->asked = 1;
		}
		if (lv->asked)
			return EMC_PENDING;
		{
			json_t *cursors, *room;
			size_t i;

			if (lv->reply_err) {
				struct em_incoming in = {.err = lv->reply_err,
				                         .err_message = lv->reply_msg};

				lv->reply_err = 0;
				return emc_fail_reply(t, &in);
			}
			cursors = json_array();
			json_array_append_new(cursors, json_pack("{s:I, s:I}", "room_id",
			                                         (json_int_t)lv->room_id, "seq",
			                                         (json_int_t)lv->cursor));
			/* other rooms' cursors past their end, so they replay nothing */
			json_array_foreach(json_object_get(lv->reply, "rooms"), i, room)
			{
				int64_t id = json_integer_value(json_object_get(room, "id"));

				if (id > 0 && id != lv->room_id &&
				    json_array_size(cursors) < EM_SYNC_ROOMS_MAX)
					json_array_append_new(
					    cursors,
					    json_pack("{s:I, s:I}", "room_id", (json_int_t)id,
					              "seq", (json_int_t)EM_MAX_REQUEST_ID));
			}
			json_decref(lv->reply);
			lv->reply = NULL;
			if (emc_request(c, EM_OP_SYNC, json_pack("{s:o}", "cursors", cursors),
			                emc_live_reply, lv->room_id, t->id) < 0)
				return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
			lv->asked = 1;
			lv->phase = EMC_LIVE_SYNC;
		}
		return EMC_PENDING;
	case EMC_LIVE_SYNC: {
		json_t *room;
		size_t i;
		int found = 0;

		if (lv->asked)
			return EMC_PENDING;
		if (emc_live_retry_later(c, t, lv))
			return EMC_PENDING;
		if (lv->reply_err) {
			struct em_incoming in = {.err = lv->reply_err,
			                         .err_message = lv->reply_msg};

			lv->reply_err = 0;
			return emc_fail_reply(t, &in);
		}
		lv->resync_backoff_ms = 0;
		json_array_foreach(json_object_get(lv->reply, "rooms"), i, room)
		{
			if (json_integer_value(json_object_get(room, "room_id")) == lv->room_id)
				found = 1;
		}
		json_decref(lv->reply);
		lv->reply = NULL;
		if (!found)
			return emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_NOT_MEMBER,
			                "you are not a member of room %lld",
			                (long long)lv->room_id);
		lv->phase = EMC_LIVE_ON;
		lv->sync_deadline_ms = c->now_ms + EMC_LIVE_SYNC_WAIT_MS;
		emc_event(c, "subscribed", json_pack("{s:I}", "room_id", (json_int_t)lv->room_id));
	}
		/* fall through */
	case EMC_LIVE_ON:
		while (json_array_size(lv->queue)) {
			json_t *item = json_array_get(lv->queue, 0);

			if (emc_live_handle(c, t, lv, r, json_string_value(json_array_get(item, 0)),
			                    json_array_get(item, 1)) == EMC_PENDING)
				return EMC_PENDING;
			json_array_remove(lv->queue, 0);
			lv->room_forgot = 0;
			if (lv->ended)
				return EMC_FAILED;
		}
		emc_live_idle(c, lv);
		emc_live_outbox(c, lv);
		t->wake_at_ms = c->now_ms + EMC_LIVE_TICK_MS;
		return EMC_PENDING;
	}
	return EMC_PENDING;
}

int64_t emc_cmd_live(struct emc *c, json_t *cmd)
{
	struct emc_live *lv = calloc(1, sizeof(*lv));
	json_t *cursors = NULL;
	struct emc_task *t;

	if (!lv)
		return -ENOMEM;
	lv->room_id = json_integer_value(json_object_get(cmd, "room"));
	if (lv->room_id < 1 || emc_live_of(c, NULL)) {
		free(lv);
		return -EINVAL;
	}
	t = emc_task_new(c, "live", emc_live_step, emc_live_free, lv);
	if (!t) {
		free(lv);
		return -ENOMEM;
	}
	if (emc_doc_load(c, STATE_CURSORS_FILE, &cursors) == 0) {
		lv->cursor = lv->saved_cursor = cursors_seq(cursors, lv->room_id);
		lv->read_sent = cursors_read(cursors, lv->room_id);
	}
	json_decref(cursors);
	return t->id;
}

/* Ends the live task: receipts and cursor saved. */
void emc_live_stop(struct emc *c)
{
	struct emc_task *t = NULL;
	struct emc_live *lv = emc_live_of(c, &t);

	if (!lv)
		return;
	emc_live_idle(c, lv);
	t->done = 1;
	t->result = json_pack("{s:I}", "cursor", (json_int_t)lv->cursor);
}
