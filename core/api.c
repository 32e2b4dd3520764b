/*
 * core.c - libementor-client's engine (emc.h, core.h): the account on this
 * device, documents through the host's storage, the output queue, requests
 * in flight and their replies, tasks and the loop that steps them, and the
 * command table.
 *
 * DESIGN. Nothing here waits. emc_command() creates a task and steps it;
 * a step asks for what it lacks (emc_request(), which queues a frame) and
 * returns EMC_PENDING; emc_receive() hands a reply to the handler its
 * request named, which records what it learnt, and emc_run() steps every
 * task again. Frames made while the link is down are held and released in
 * order when it comes up; a request that was in flight when the link went
 * down fails its task with "unreachable" (exit 4) — the host reconnects and
 * starts the command again, which is safe because every command is
 * idempotent (the outbox keeps a message until it is acknowledged).
 * Threads: the host's, one at a time (emc.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core.h"

/* ---- outputs ---- */

static void emc_push(struct emc *c, enum emc_output kind, char *text, int hold)
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
	if (hold && c->queue_preauth) {
		if (c->preauth_tail)
			c->preauth_tail->next = o;
		else
			c->preauth_head = o;
		c->preauth_tail = o;
		return;
	}
	if (hold) {
		if (c->held_tail)
			c->held_tail->next = o;
		else
			c->held_head = o;
		c->held_tail = o;
		return;
	}
	if (c->out_tail)
		c->out_tail->next = o;
	else
		c->out_head = o;
	c->out_tail = o;
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
	rq->next = c->requests;
	c->requests = rq;
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
	if (id > 0)
		c->requests->preauth = 1; /* emc_request() put it first */
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
	struct emc_output_item *o = c ? c->out_head : NULL;
	enum emc_output kind;

	*text = NULL;
	if (len)
		*len = 0;
	if (!o)
		return EMC_NONE;
	c->out_head = o->next;
	if (!c->out_head)
		c->out_tail = NULL;
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
	struct emc_task *t = calloc(1, sizeof(*t)), **tail;

	if (!t)
		return NULL;
	t->id = ++c->next_task;
	t->cmd = cmd;
	t->step = step;
	t->free_fn = free_fn;
	t->data = data;
	for (tail = &c->tasks; *tail; tail = &(*tail)->next)
		;
	*tail = t;
	return t;
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

static void emc_task_drop(struct emc_task *t)
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
		struct emc_task **pt = &c->tasks;

		progress = 0;
		/* envelopes waiting for what a reply may have brought */
		for (size_t i = 0; i < c->nrooms; i++)
			if (json_array_size(c->rooms[i].envelopes))
				emc_keys_settle(c, &c->rooms[i]);
		while (*pt) {
			struct emc_task *t = *pt;

			if (!t->done && (!t->wake_at_ms || t->wake_at_ms <= c->now_ms)) {
				int rc;

				t->wake_at_ms = 0;
				rc = t->step(c, t);
				if (rc == EMC_DONE)
					t->done = 1;
				if (rc != EMC_PENDING)
					progress = 1;
			}
			if (t->done) {
				*pt = t->next;
				emc_task_report(c, t);
				if ((!strcmp(t->cmd, "flush") || !strcmp(t->cmd, "send")) &&
				    emc_live_flush_done(c, t->id, t->exit, t->retry_after_ms))
					progress = 1;
				emc_task_drop(t);
				continue;
			}
			pt = &t->next;
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

struct emc *emc_new(const struct emc_storage *storage, int64_t now_ms)
{
	struct emc *c;

	if (!storage || !storage->load || !storage->save || em_crypto_init())
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->st = *storage;
	c->now_ms = now_ms;
	emc_account_load(c);
	if (emc_doc_load(c, STATE_PINS_FILE, &c->pins) ||
	    emc_doc_load(c, STATE_ROOMKEYS_FILE, &c->roomkeys) ||
	    emc_doc_load(c, STATE_TRUST_FILE, &c->trust)) {
		emc_free(c);
		return NULL;
	}
	return c;
}

static void emc_outputs_free(struct emc_output_item *o)
{
	while (o) {
		struct emc_output_item *next = o->next;

		sodium_memzero(o->text, o->len);
		free(o->text);
		free(o);
		o = next;
	}
}

void emc_free(struct emc *c)
{
	if (!c)
		return;
	if (c->order_dirty && c->trust)
		emc_trust_update(c, NULL, NULL);
	while (c->tasks) {
		struct emc_task *t = c->tasks;

		c->tasks = t->next;
		emc_task_drop(t);
	}
	while (c->requests) {
		struct emc_request *rq = c->requests;

		c->requests = rq->next;
		free(rq);
	}
	for (size_t i = 0; i < c->nrooms; i++) {
		json_decref(c->rooms[i].agreement_doc);
		json_decref(c->rooms[i].envelopes);
		if (c->rooms[i].commit) {
			sodium_memzero(c->rooms[i].commit, sizeof(*c->rooms[i].commit));
			free(c->rooms[i].commit);
		}
	}
	emc_outputs_free(c->out_head);
	emc_outputs_free(c->held_head);
	emc_outputs_free(c->preauth_head);
	json_decref(c->pins);
	json_decref(c->roomkeys);
	json_decref(c->trust);
	sodium_memzero(c, sizeof(*c));
	free(c);
}

/* ---- inputs ---- */

static struct emc_request *emc_request_take(struct emc *c, int64_t id)
{
	for (struct emc_request **p = &c->requests; *p; p = &(*p)->next)
		if ((*p)->id == id) {
			struct emc_request *rq = *p;

			*p = rq->next;
			return rq;
		}
	return NULL;
}

static void emc_resume_start(struct emc *c);

int emc_receive(struct emc *c, const char *frame, size_t len, int64_t now_ms)
{
	struct em_incoming in;
	int rc = 0;

	c->now_ms = now_ms;
	if (em_incoming_parse(frame, len, &in) != EM_OK)
		return -EPROTO;
	if (in.err_message) {
		/* The server's words reach the user's terminal in reports and task errors
		 * (hosts print them as they are): control characters become '?', in place. */
		size_t n = strlen(in.err_message);
		char *safe = text_for_terminal(in.err_message, n);

		if (!safe) {
			em_incoming_clear(&in);
			return -ENOMEM;
		}
		memcpy(in.err_message, safe, n);
		free(safe);
	}
	if (in.is_event) {
		emc_live_event(c, &in);
	} else {
		struct emc_request *rq = emc_request_take(c, in.re);

		if (rq) {
			if (rq->fn)
				rq->fn(c, rq->room, rq->aux, &in);
			if (rq->preauth && c->preauth_waiting > 0 && --c->preauth_waiting == 0 &&
			    c->resume_deferred) {
				c->resume_deferred = 0;
				emc_resume_start(c);
			}
			free(rq);
		}
	}
	em_incoming_clear(&in);
	emc_run(c);
	return rc;
}

/*
 * Fails every request waiting for a reply with err (handlers see a synthetic
 * error reply): EMC_ERR_LINK when the link went down, the resume's error
 * when the session could not be resumed (then no frame of theirs went out).
 */
static void emc_requests_fail(struct emc *c, int err, const char *message, int64_t retry_after_ms)
{
	while (c->requests) {
		struct emc_request *rq = c->requests;
		struct em_incoming in;

		c->requests = rq->next;
		memset(&in, 0, sizeof(in));
		in.re = rq->id;
		in.err = err;
		/* owned, like a parsed reply's: a handler may take it */
		in.err_message = message ? strdup(message) : NULL;
		in.retry_after_ms = retry_after_ms;
		if (rq->fn)
			rq->fn(c, rq->room, rq->aux, &in);
		em_incoming_clear(&in);
		free(rq);
	}
}

/* The frames held while the link was down or the session not resumed go out, in order. */
static void emc_release_held(struct emc *c)
{
	if (!c->held_head)
		return;
	if (c->out_tail)
		c->out_tail->next = c->held_head;
	else
		c->out_head = c->held_head;
	c->out_tail = c->held_tail;
	c->held_head = c->held_tail = NULL;
}

static int emc_session_fn(json_t *root, void *arg)
{
	const struct home_session_core *hs = arg;

	json_object_set_new(root, "expires_at", json_string(hs->expires_at));
	json_object_set_new(root, "role", json_string(hs->role));
	return 0;
}

/*
 * The answer to the resume sent when the link came up. Taken: the session's
 * expiry (and role) are kept in step with the server's, held frames go out.
 * Refused: every request waiting fails with the refusal, so each task reports
 * it as it reports the same error from any request ("your session has
 * expired", or retry later for busy / db_unavailable); the link stays
 * unusable until the host brings it up again.
 */
static void emc_resume_reply(struct emc *c, int64_t room, int64_t aux, struct em_incoming *in)
{
	json_t *user;
	const char *expires, *role;

	(void)room;
	(void)aux;
	if (in->err == EMC_ERR_LINK)
		return; /* the link went down first: emc_link() fails the rest */
	if (!in->result) {
		c->resume_sent = 0; /* the link is not authenticated: login may use it */
		emc_outputs_free(c->held_head);
		c->held_head = c->held_tail = NULL;
		emc_requests_fail(c, in->err, in->err_message, in->retry_after_ms);
		emc_event(c, "session",
		          json_pack("{s:s, s:s, s:s?}", "state", "refused", "code",
		                    em_err_code(in->err), "message", in->err_message));
		return;
	}
	user = json_object_get(in->result, "user");
	expires = json_string_value(json_object_get(in->result, "expires_at"));
	role = json_string_value(json_object_get(user, "role"));
	if ((expires && strcmp(expires, c->session.expires_at) &&
	     strlen(expires) < sizeof(c->session.expires_at)) ||
	    (role && strcmp(role, c->session.role) && strlen(role) < sizeof(c->session.role))) {
		json_t *fresh = NULL;

		if (expires && strlen(expires) < sizeof(c->session.expires_at))
			snprintf(c->session.expires_at, sizeof(c->session.expires_at), "%s",
			         expires);
		if (role && strlen(role) < sizeof(c->session.role))
			snprintf(c->session.role, sizeof(c->session.role), "%s", role);
		if (emc_doc_update(c, "session.json", emc_session_fn, &c->session, &fresh))
			emc_warn(c, "storage", "could not update the saved session");
		json_decref(fresh);
	}
	c->ready = 1;
	emc_release_held(c);
	emc_event(c, "session",
	          json_pack("{s:s, s:s, s:I}", "state", "ready", "expires_at",
	                    c->session.expires_at, "user_id", (json_int_t)c->session.user_id));
}

/*
 * Resumes the stored session on the link just up (or lets requests go when
 * there is none, or a login or register wants the link unauthenticated).
 */
static void emc_resume_start(struct emc *c)
{
	int64_t id;
	struct emc_request *rq;
	char *text;

	if (!c->have_session || c->fresh_link > 0) {
		c->ready = 1;
		emc_release_held(c);
		return;
	}
	/* resume first, alone; everything else waits for its answer */
	id = ++c->next_request;
	rq = calloc(1, sizeof(*rq));
	text =
	    rq ? em_encode_request(id, EM_OP_RESUME, json_pack("{s:s}", "token", c->session.token))
	       : NULL;
	if (!text) {
		free(rq);
		emc_requests_fail(c, EM_ERR_NOMEM, "out of memory", 0);
		return;
	}
	rq->id = id;
	rq->op = EM_OP_RESUME;
	rq->fn = emc_resume_reply;
	rq->next = c->requests;
	c->requests = rq;
	c->resume_sent = 1;
	emc_push(c, EMC_FRAME, text, 0);
}

void emc_link(struct emc *c, int up, int64_t now_ms)
{
	c->now_ms = now_ms;
	if (up && !c->link_up) {
		c->link_up = 1;
		c->ready = 0;
		c->link_gen++;
		c->resume_sent = 0;
		if (c->preauth_head) {
			/* requests that must precede the resume (passwd's prelogin) */
			for (struct emc_output_item *o = c->preauth_head; o; o = o->next)
				c->preauth_waiting++;
			if (c->out_tail)
				c->out_tail->next = c->preauth_head;
			else
				c->out_head = c->preauth_head;
			c->out_tail = c->preauth_tail;
			c->preauth_head = c->preauth_tail = NULL;
			c->resume_deferred = 1;
		} else {
			emc_resume_start(c);
		}
	} else if (!up && c->link_up) {
		c->link_up = 0;
		c->ready = 0;
		c->resume_sent = 0;
		c->resume_deferred = 0;
		emc_requests_fail(c, EMC_ERR_LINK, "the connection to the server was lost", 0);
		c->preauth_waiting = 0;
	}
	emc_run(c);
}

void emc_tick(struct emc *c, int64_t now_ms)
{
	c->now_ms = now_ms;
	emc_run(c);
}

int64_t emc_wake_in(const struct emc *c, int64_t now_ms)
{
	int64_t best = -1;

	for (const struct emc_task *t = c->tasks; t; t = t->next)
		if (!t->done && t->wake_at_ms) {
			int64_t in = t->wake_at_ms > now_ms ? t->wake_at_ms - now_ms : 0;

			if (best < 0 || in < best)
				best = in;
		}
	return best;
}

void emc_cancel(struct emc *c, int64_t task, int64_t now_ms)
{
	c->now_ms = now_ms;
	for (struct emc_task *t = c->tasks; t; t = t->next)
		if (t->id == task && !t->done)
			emc_fail(t, EMC_EXIT_REFUSED, 0, "cancelled");
	emc_run(c);
}

/* ---- commands ---- */

/* A task that is over as soon as it starts (a command with nothing to wait for). */
static int64_t emc_instant(struct emc *c, const char *name, json_t *result)
{
	struct emc_task *t = emc_task_new(c, name, NULL, NULL, NULL);

	if (!t) {
		json_decref(result);
		return -ENOMEM;
	}
	t->result = result;
	t->done = 1;
	return t->id;
}

/* {"cmd":"typing","room"}: a typing notice, sent and forgotten. */
static int64_t emc_cmd_typing(struct emc *c, json_t *cmd)
{
	int64_t room = json_integer_value(json_object_get(cmd, "room"));

	if (room < 1)
		return -EINVAL;
	emc_send_only(c, EM_OP_TYPING, json_pack("{s:I}", "room_id", (json_int_t)room));
	return emc_instant(c, "typing", NULL);
}

/* {"cmd":"stop"}: ends the live task (its receipt and cursor saved). */
static int64_t emc_cmd_stop(struct emc *c, json_t *cmd)
{
	(void)cmd;
	emc_live_stop(c);
	return emc_instant(c, "stop", NULL);
}

static const struct {
	const char *name;
	int64_t (*start)(struct emc *c, json_t *cmd);
	int needs_account;
} emc_commands[] = {
    {"send", emc_cmd_send, 1},
    {"flush", emc_cmd_flush, 1},
    {"read", emc_cmd_read, 1},
    {"live", emc_cmd_live, 1},
    {"typing", emc_cmd_typing, 1},
    {"stop", emc_cmd_stop, 0},
    {"call", emc_cmd_call, 1},
    {"programme.settings", emc_cmd_programme_settings, 1},
    {"agreement.show", emc_cmd_agreement_show, 1},
    {"agreement.sign", emc_cmd_agreement_sign, 1},
    {"agreement.withdraw", emc_cmd_agreement_withdraw, 1},
    {"agreement.propose", emc_cmd_agreement_propose, 1},
    {"consent.list", emc_cmd_consent_list, 1},
    {"consent.grant", emc_cmd_consent_grant, 1},
    {"consent.withdraw", emc_cmd_consent_withdraw, 1},
    {"verify", emc_cmd_verify, 1},
    {"trust.show", emc_cmd_trust_show, 0},
    {"trust.accept", emc_cmd_trust_accept, 0},
};

int64_t emc_command(struct emc *c, const char *json, int64_t now_ms)
{
	json_t *cmd = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
	const char *name = json_string_value(json_object_get(cmd, "cmd"));
	int64_t id = -EINVAL;

	c->now_ms = now_ms;
	if (name) /* the account's commands (account.c) */
		id = emc_account_command(c, name, cmd);
	if (id != -ENOENT)
		name = NULL;
	else
		id = -EINVAL;
	for (size_t i = 0; name && i < sizeof(emc_commands) / sizeof(emc_commands[0]); i++) {
		if (strcmp(emc_commands[i].name, name))
			continue;
		if (emc_commands[i].needs_account && !(c->have_session && c->have_keys)) {
			struct emc_task *t =
			    emc_task_new(c, emc_commands[i].name, NULL, NULL, NULL);

			if (!t) {
				id = -ENOMEM;
				break;
			}
			emc_fail(t, EMC_EXIT_AUTH, 0, "you are not logged in on this device");
			id = t->id;
			break;
		}
		id = emc_commands[i].start(c, cmd);
		break;
	}
	json_decref(cmd);
	emc_run(c);
	return id;
}
