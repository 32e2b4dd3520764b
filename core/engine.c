/*
 * engine.c - the machinery under every command of libementor-client
 * (core.h): the output queue, requests in flight, events and reports,
 * documents through the host's storage, tasks and the loop that steps them
 * (emc_run), and the account loaded from storage. The command modules
 * (account.c, send.c, read.c, ...) are written on it; api.c, above them
 * all, holds the API of emc.h and the command table.
 *
 * DESIGN. Nothing here waits. A task's step asks for what it lacks
 * (emc_request(), which queues a frame) and returns EMC_PENDING; the reply's
 * handler records what it learnt, and emc_run() steps every task again.
 * What emc_run() must do for the modules above it (settle key envelopes
 * after each round, restart a live session's outbox when a send ends) it
 * does through the hooks api.c sets (struct emc_hooks), so this file calls
 * no module.
 * Threads: the host's, one at a time (emc.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core.h"

/* ---- outputs ---- */

void emc_push(struct emc *c, enum emc_output kind, char *text, int hold)
{
	struct emc_output_item *o;

	if (!text)
		return;
	o = calloc(1, sizeof(*o));
	if (!o) {
		free(text);
		return;
	}
	o->kind = kind;
	o->text = text;
	o->len = strlen(text);
	if (!hold)
		em_list_append(&c->out, &o->link);
	else if (c->queue_preauth)
		em_list_append(&c->preauth, &o->link);
	else
		em_list_append(&c->held, &o->link);
}

int64_t emc_request(struct emc *c, enum em_op op, json_t *args, emc_reply_fn fn, int64_t room,
                    int64_t aux)
{
	struct emc_request *rq = calloc(1, sizeof(*rq));
	int64_t id = ++c->next_request;
	char *text;

	if (!rq) {
		json_decref(args);
		return -1;
	}
	text = em_encode_request(id, op, args ? args : json_object()); /* takes args */
	if (!text) {
		free(rq);
		return -1;
	}
	rq->id = id;
	rq->op = op;
	rq->fn = fn;
	rq->room = room;
	rq->aux = aux;
	em_list_prepend(&c->requests, &rq->link);
	emc_push(c, EMC_FRAME, text, !c->ready);
	return id;
}

int64_t emc_request_preauth(struct emc *c, enum em_op op, json_t *args, emc_reply_fn fn,
                            int64_t room, int64_t aux)
{
	int64_t id;

	if (c->link_up)
		return emc_request(c, op, args, fn, room, aux);
	c->queue_preauth = 1; /* emc_push() puts it on the list that goes before the resume */
	id = emc_request(c, op, args, fn, room, aux);
	c->queue_preauth = 0;
	if (id > 0) /* emc_request() put it first */
		em_list_first(&c->requests, struct emc_request, link)->preauth = 1;
	return id;
}

void emc_send_only(struct emc *c, enum em_op op, json_t *args)
{
	if (c->ready)
		emc_push(c, EMC_FRAME,
		         em_encode_request(++c->next_request, op, args ? args : json_object()), 0);
	else
		json_decref(args);
}

void emc_event(struct emc *c, const char *name, json_t *data)
{
	json_t *ev = data ? data : json_object();

	if (!ev)
		return;
	json_object_set_new(ev, "ev", json_string(name));
	emc_push(c, EMC_EVENT, json_dumps(ev, JSON_COMPACT | JSON_ENSURE_ASCII), 0);
	json_decref(ev);
}

/* the format attribute tells clang (the WebAssembly build) that fmt is checked at the callers */
static void emc_say(struct emc *c, const char *ev, const char *code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void emc_say(struct emc *c, const char *ev, const char *code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void emc_say(struct emc *c, const char *ev, const char *code, const char *fmt, va_list ap)
{
	char text[1024];

	vsnprintf(text, sizeof(text), fmt, ap);
	emc_event(c, ev, json_pack("{s:s, s:s}", "code", code, "text", text));
}

void emc_warn(struct emc *c, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emc_say(c, "warning", code, fmt, ap);
	va_end(ap);
}

void emc_notice(struct emc *c, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emc_say(c, "notice", code, fmt, ap);
	va_end(ap);
}

int emc_was_warned(struct emc *c, int64_t user_id)
{
	for (size_t i = 0; i < c->nwarned; i++)
		if (c->warned[i] == user_id)
			return 1;
	if (c->nwarned < sizeof(c->warned) / sizeof(c->warned[0]))
		c->warned[c->nwarned++] = user_id;
	return 0;
}

enum emc_output emc_next(struct emc *c, char **text, size_t *len)
{
	struct em_link *l = c ? em_list_pop(&c->out) : NULL;
	struct emc_output_item *o;
	enum emc_output kind;

	*text = NULL;
	if (len)
		*len = 0;
	if (!l)
		return EMC_NONE;
	o = em_item(l, struct emc_output_item, link);
	kind = o->kind;
	*text = o->text;
	if (len)
		*len = o->len;
	free(o);
	return kind;
}

void emc_text_free(char *text)
{
	free(text);
}

/* ---- documents ---- */

int emc_doc_load(struct emc *c, const char *name, json_t **out)
{
	char *text = NULL;
	size_t len = 0;
	json_error_t je;
	int rc;

	*out = NULL;
	rc = c->st.load(c->st.ctx, name, &text, &len);
	if (rc == -ENOENT) {
		*out = json_object();
		return *out ? 0 : -ENOMEM;
	}
	if (rc)
		return rc;
	*out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	sodium_memzero(text, len);
	free(text);
	if (!*out || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return -EINVAL;
	}
	return 0;
}

static int emc_doc_save(struct emc *c, const char *name, json_t *root)
{
	char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	int rc;

	if (!text)
		return -ENOMEM;
	rc = c->st.save(c->st.ctx, name, text, strlen(text));
	sodium_memzero(text, strlen(text));
	free(text);
	return rc;
}

int emc_doc_update(struct emc *c, const char *name, int (*fn)(json_t *root, void *arg), void *arg,
                   json_t **fresh)
{
	json_t *root = NULL;
	int rc;

	if (fresh)
		*fresh = NULL;
	if (c->st.lock && (rc = c->st.lock(c->st.ctx)) < 0)
		return rc;
	rc = emc_doc_load(c, name, &root);
	if (rc)
		goto out;
	rc = fn(root, arg);
	if (rc > 0) {
		int wrc = emc_doc_save(c, name, root);

		if (wrc)
			rc = wrc;
	}
	if (rc >= 0 && fresh) {
		*fresh = root;
		root = NULL;
	}
out:
	if (c->st.unlock)
		c->st.unlock(c->st.ctx);
	json_decref(root);
	return rc;
}

struct emc_trust_change {
	int (*fn)(json_t *trust, void *arg);
	void *arg;
	json_t *ours;
};

static int emc_trust_change_fn(json_t *trust, void *arg)
{
	struct emc_trust_change *tc = arg;
	int merged = trust_order_merge(trust, tc->ours), rc = 0;

	if (merged < 0)
		return merged;
	if (tc->fn)
		rc = tc->fn(trust, tc->arg);
	return rc < 0 ? rc : (rc || merged);
}

int emc_trust_update(struct emc *c, int (*fn)(json_t *trust, void *arg), void *arg)
{
	struct emc_trust_change tc = {.fn = fn, .arg = arg, .ours = c->trust};
	json_t *fresh = NULL;
	int rc = emc_doc_update(c, STATE_TRUST_FILE, emc_trust_change_fn, &tc, &fresh);

	if (rc < 0) {
		emc_warn(c, "storage", "cannot write %s: %s", STATE_TRUST_FILE, strerror(-rc));
		return rc;
	}
	json_decref(c->trust);
	c->trust = fresh;
	c->order_dirty = 0;
	return rc;
}

static int emc_replace(struct emc *c, const char *name, json_t **slot,
                       int (*fn)(json_t *root, void *arg), void *arg)
{
	json_t *fresh = NULL;
	int rc = emc_doc_update(c, name, fn, arg, &fresh);

	if (rc < 0) {
		emc_warn(c, "storage", "cannot write %s: %s", name, strerror(-rc));
		return rc;
	}
	json_decref(*slot);
	*slot = fresh;
	return rc;
}

int emc_pins_update(struct emc *c, int (*fn)(json_t *pins, void *arg), void *arg)
{
	return emc_replace(c, STATE_PINS_FILE, &c->pins, fn, arg);
}

int emc_roomkeys_update(struct emc *c, int (*fn)(json_t *rk, void *arg), void *arg)
{
	return emc_replace(c, STATE_ROOMKEYS_FILE, &c->roomkeys, fn, arg);
}

/* ---- tasks ---- */

struct emc_task *emc_task_new(struct emc *c, const char *cmd, emc_step_fn step,
                              emc_task_free_fn free_fn, void *data)
{
	struct emc_task *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->id = ++c->next_task;
	t->cmd = cmd;
	t->step = step;
	t->free_fn = free_fn;
	t->data = data;
	em_list_append(&c->tasks, &t->link);
	return t;
}

struct emc_task *emc_task_find(struct emc *c, int64_t id)
{
	for (struct em_link *l = c->tasks.head; l; l = l->next) {
		struct emc_task *t = emc_task_of(l);

		if (t->id == id)
			return t;
	}
	return NULL;
}

void emc_reply_copy(struct em_incoming *keep, const struct em_incoming *in)
{
	em_incoming_clear(keep);
	keep->re = in->re;
	keep->err = in->err;
	keep->retry_after_ms = in->retry_after_ms;
	keep->result = json_incref(in->result);
	keep->err_message = in->err_message ? strdup(in->err_message) : NULL;
}

int emc_fail(struct emc_task *t, int exit, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->message, sizeof(t->message), fmt, ap);
	va_end(ap);
	t->exit = exit;
	t->err = err;
	t->done = 1;
	return EMC_FAILED;
}

int emc_fail_reply(struct emc_task *t, const struct em_incoming *in)
{
	snprintf(t->message, sizeof(t->message), "%s", in->err_message ? in->err_message : "");
	t->err = in->err;
	t->retry_after_ms = in->retry_after_ms;
	t->exit = in->err == EMC_ERR_LINK ? EMC_EXIT_NET
	          : in->err == EM_ERR_SESSION_EXPIRED || in->err == EM_ERR_NOT_AUTHENTICATED
	              ? EMC_EXIT_AUTH
	              : EMC_EXIT_REFUSED;
	t->done = 1;
	return EMC_FAILED;
}

/* The "task" event that ends t. */
static void emc_task_report(struct emc *c, struct emc_task *t)
{
	json_t *ev;

	if (t->exit == EMC_EXIT_OK) {
		ev = json_pack("{s:I, s:s, s:b, s:o}", "task", (json_int_t)t->id, "cmd", t->cmd,
		               "ok", 1, "result", t->result ? t->result : json_object());
		t->result = NULL;
	} else {
		json_t *err = json_pack("{s:s, s:s, s:i}", "code",
		                        t->err == EMC_ERR_LINK ? "unreachable"
		                        : t->err               ? em_err_code(t->err)
		                                               : "refused",
		                        "message", t->message, "exit", t->exit);

		if (err && t->retry_after_ms > 0)
			json_object_set_new(err, "retry_after_ms", json_integer(t->retry_after_ms));
		if (err && !t->err)
			json_object_set_new(err, "client",
			                    json_true()); /* refused by this client */
		ev = json_pack("{s:I, s:s, s:b, s:o}", "task", (json_int_t)t->id, "cmd", t->cmd,
		               "ok", 0, "error", err);
		if (ev && t->result) { /* what is known despite the failure (an outcome) */
			json_object_set_new(ev, "result", t->result);
			t->result = NULL;
		}
	}
	emc_event(c, "task", ev);
}

void emc_task_drop(struct emc_task *t)
{
	if (t->free_fn)
		t->free_fn(t);
	json_decref(t->result);
	sodium_memzero(t->message, sizeof(t->message));
	free(t);
}

void emc_run(struct emc *c)
{
	int progress = 1, rounds = 0;

	if (c->running)
		return; /* a step that sent a request and got no reply yet: the caller runs again */
	c->running = 1;
	while (progress && rounds++ < 64) {
		struct em_link *l;

		progress = 0;
		/* what waits for what a reply may have brought (keys.c: envelopes) */
		if (c->hooks.each_round)
			c->hooks.each_round(c);
		/*
		 * Not em_list_each(): the next task is read after the step (and after
		 * task_ended), so a task either of them starts is stepped this round.
		 */
		for (l = c->tasks.head; l;) {
			struct emc_task *t = emc_task_of(l);
			struct em_link *prev;

			if (!t->done && (!t->wake_at_ms || t->wake_at_ms <= c->now_ms)) {
				int rc;

				t->wake_at_ms = 0;
				rc = t->step(c, t);
				if (rc == EMC_DONE)
					t->done = 1;
				if (rc != EMC_PENDING)
					progress = 1;
			}
			if (!t->done) {
				l = l->next;
				continue;
			}
			prev = l->prev;
			em_list_remove(&c->tasks, l);
			emc_task_report(c, t);
			if (c->hooks.task_ended && c->hooks.task_ended(c, t))
				progress = 1;
			emc_task_drop(t);
			l = prev ? prev->next : c->tasks.head;
		}
	}
	c->running = 0;
}

/* ---- the account ---- */

/* session and keys from storage; a core without them can only register or log in. */
void emc_account_load(struct emc *c)
{
	json_t *s = NULL, *k = NULL;
	const char *str;

	c->have_session = 0;
	c->have_keys = 0;
	if (emc_doc_load(c, "session.json", &s) == 0 && json_object_size(s)) {
		struct home_session_core *hs = &c->session;

		memset(hs, 0, sizeof(*hs));
		snprintf(hs->server, sizeof(hs->server), "%s",
		         (str = json_string_value(json_object_get(s, "server"))) ? str : "");
		snprintf(hs->username, sizeof(hs->username), "%s",
		         (str = json_string_value(json_object_get(s, "username"))) ? str : "");
		hs->user_id = json_integer_value(json_object_get(s, "user_id"));
		snprintf(hs->role, sizeof(hs->role), "%s",
		         (str = json_string_value(json_object_get(s, "role"))) ? str : "");
		snprintf(hs->token, sizeof(hs->token), "%s",
		         (str = json_string_value(json_object_get(s, "token"))) ? str : "");
		snprintf(hs->expires_at, sizeof(hs->expires_at), "%s",
		         (str = json_string_value(json_object_get(s, "expires_at"))) ? str : "");
		c->have_session = hs->user_id > 0 && hs->username[0] && hs->token[0];
	}
	if (emc_doc_load(c, "keys.json", &k) == 0 && json_object_size(k)) {
		const char *ssk = json_string_value(json_object_get(k, "sign_sk"));
		const char *bsk = json_string_value(json_object_get(k, "box_sk"));
		const char *name = json_string_value(json_object_get(k, "username"));

		if (ssk && bsk && name && !strcmp(name, c->session.username) &&
		    em_b64_decode(ssk, c->keys.sign_sk, EM_SIGN_SK_BYTES) == EM_SIGN_SK_BYTES &&
		    em_b64_decode(bsk, c->keys.box_sk, EM_BOX_SK_BYTES) == EM_BOX_SK_BYTES) {
			crypto_sign_ed25519_sk_to_pk(c->keys.sign_pk, c->keys.sign_sk);
			crypto_scalarmult_base(c->keys.box_pk, c->keys.box_sk);
			c->have_keys = 1;
		}
	}
	json_decref(s);
	json_decref(k);
}
