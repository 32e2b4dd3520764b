/*
 * api.c - libementor-client's API (emc.h): a core on the host's storage,
 * the link and the session resumed on it first, the server's frames handed
 * to the requests that wait for them, and the command table. The machinery
 * under it (outputs, requests, tasks, documents) is engine.c's; the
 * commands are the modules' (account.c, send.c, read.c, ...).
 *
 * DESIGN. Nothing here waits. emc_command() creates a task and steps it;
 * emc_receive() hands a reply to the handler its request named, and
 * emc_run() (engine.c) steps every task again. Frames made while the link is down are held and
 * released in order when it comes up; a request that was in flight when the link went down fails
 * its task with "unreachable" (exit 4) — the host reconnects and starts the command again, which is
 * safe because every command is idempotent (the outbox keeps a message until it is acknowledged).
 * Threads: the host's, one at a time (emc.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core.h"

/* After each round of emc_run(): key envelopes waiting for what a reply brought (keys.c). */
static void emc_each_round(struct emc *c)
{
	for (size_t i = 0; i < c->nrooms; i++)
		if (json_array_size(c->rooms[i].envelopes))
			emc_keys_settle(c, &c->rooms[i]);
}

/* A task ended: a live session restarts its outbox after a send or flush (read.c). 1: progress. */
static int emc_task_ended(struct emc *c, const struct emc_task *t)
{
	return (!strcmp(t->cmd, "flush") || !strcmp(t->cmd, "send")) &&
	       emc_live_flush_done(c, t->id, t->exit, t->retry_after_ms);
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
	c->hooks.each_round = emc_each_round;
	c->hooks.task_ended = emc_task_ended;
	emc_account_load(c);
	if (emc_doc_load(c, STATE_PINS_FILE, &c->pins) ||
	    emc_doc_load(c, STATE_ROOMKEYS_FILE, &c->roomkeys) ||
	    emc_doc_load(c, STATE_TRUST_FILE, &c->trust)) {
		emc_free(c);
		return NULL;
	}
	return c;
}

/* Frees (and wipes) every output on the list, which is left empty. */
static void emc_outputs_free(struct em_list *list)
{
	struct em_link *l;

	while ((l = em_list_pop(list))) {
		struct emc_output_item *o = em_item(l, struct emc_output_item, link);

		sodium_memzero(o->text, o->len);
		free(o->text);
		free(o);
	}
}

void emc_free(struct emc *c)
{
	struct em_link *l;

	if (!c)
		return;
	if (c->order_dirty && c->trust)
		emc_trust_update(c, NULL, NULL);
	while ((l = em_list_pop(&c->tasks)))
		emc_task_drop(emc_task_of(l));
	while ((l = em_list_pop(&c->requests)))
		free(em_item(l, struct emc_request, link));
	for (size_t i = 0; i < c->nrooms; i++) {
		json_decref(c->rooms[i].agreement_doc);
		json_decref(c->rooms[i].envelopes);
		if (c->rooms[i].commit) {
			sodium_memzero(c->rooms[i].commit, sizeof(*c->rooms[i].commit));
			free(c->rooms[i].commit);
		}
	}
	emc_outputs_free(&c->out);
	emc_outputs_free(&c->held);
	emc_outputs_free(&c->preauth);
	json_decref(c->pins);
	json_decref(c->roomkeys);
	json_decref(c->trust);
	sodium_memzero(c, sizeof(*c));
	free(c);
}

/* ---- inputs ---- */

static struct emc_request *emc_request_take(struct emc *c, int64_t id)
{
	for (struct em_link *l = c->requests.head; l; l = l->next) {
		struct emc_request *rq = em_item(l, struct emc_request, link);

		if (rq->id == id) {
			em_list_remove(&c->requests, l);
			return rq;
		}
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
	struct em_link *l;

	/* the head each time: a handler may send a request, and that one fails too */
	while ((l = em_list_pop(&c->requests))) {
		struct emc_request *rq = em_item(l, struct emc_request, link);
		struct em_incoming in;

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
	em_list_splice(&c->out, &c->held);
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
		emc_outputs_free(&c->held);
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
	em_list_prepend(&c->requests, &rq->link);
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
		if (!em_list_empty(&c->preauth)) {
			/* requests that must precede the resume (passwd's prelogin) */
			c->preauth_waiting += (int)c->preauth.count;
			em_list_splice(&c->out, &c->preauth);
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

	for (const struct em_link *l = c->tasks.head; l; l = l->next) {
		const struct emc_task *t = emc_task_of(l);

		if (!t->done && t->wake_at_ms) {
			int64_t in = t->wake_at_ms > now_ms ? t->wake_at_ms - now_ms : 0;

			if (best < 0 || in < best)
				best = in;
		}
	}
	return best;
}

void emc_cancel(struct emc *c, int64_t task, int64_t now_ms)
{
	struct emc_task *t = emc_task_find(c, task);

	c->now_ms = now_ms;
	if (t && !t->done)
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
    {"diary.show", emc_cmd_diary_show, 1},
    {"diary.write", emc_cmd_diary_write, 1},
    {"diary.remark", emc_cmd_diary_write, 1},
    {"diary.writer", emc_cmd_diary_writer, 1},
    {"diary.list", emc_cmd_diary_list, 1},
    {"goal.put", emc_cmd_goal_put, 1},
    {"goal.list", emc_cmd_goal_list, 1},
    {"goal.history", emc_cmd_goal_history, 1},
    {"rating.add", emc_cmd_rating_add, 1},
    {"rating.list", emc_cmd_rating_list, 1},
    {"meeting.plan", emc_cmd_meeting_plan, 1},
    {"meeting.topic", emc_cmd_meeting_topic, 1},
    {"questionnaire.show", emc_cmd_questionnaire_show, 1},
    {"questionnaire.edit", emc_cmd_questionnaire_edit, 1},
    {"questionnaire.answer", emc_cmd_questionnaire_answer, 1},
    {"questionnaire.results", emc_cmd_questionnaire_results, 1},
    {"progress.share", emc_cmd_progress_share, 1},
    {"progress.list", emc_cmd_progress_list, 1},
    {"midterm.write", emc_cmd_midterm_write, 1},
    {"midterm.show", emc_cmd_midterm_show, 1},
    {"report.create", emc_cmd_report_create, 1},
    {"report.show", emc_cmd_report_show, 1},
    {"report.handle", emc_cmd_report_handle, 1},
    {"report.list", emc_cmd_report_list, 1},
    {"profile.form", emc_cmd_profile_form, 1},
    {"profile.edit", emc_cmd_profile_edit, 1},
    {"profile.anchor", emc_cmd_profile_anchor, 1},
    {"profile.fill", emc_cmd_profile_fill, 1},
    {"profile.show", emc_cmd_profile_show, 1},
    {"announce.recipients", emc_cmd_announce_recipients, 1},
    {"announce.send", emc_cmd_announce_send, 1},
    {"announce.list", emc_cmd_announce_list, 1},
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
