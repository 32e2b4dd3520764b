/*
 * dispatch.c - routes requests (see dispatch.h). The table below is the
 * authorisation policy at the level of roles: who may send which op at all.
 * Finer checks (is this your programme, your room) happen in SQL inside the
 * op's run function, because only the database knows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libwebsockets.h>

#include "db.h"
#include "dispatch.h"
#include "fanout.h"
#include "handlers.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "submit.h"

#define R_MANAGER 1u
#define R_MENTOR  2u
#define R_MENTEE  4u
#define R_ANY     (R_MANAGER | R_MENTOR | R_MENTEE)
/*
 * A manager who holds a mentor seat (room.add lets a manager be the mentor of
 * a room in a programme they manage). The bit opens a member op to them at
 * this first lock; the op's SQL (the second lock) then lets them act only in
 * the rooms they are a member of, as the mentor, like any mentor. A manager
 * without a seat is refused here as before.
 */
#define R_SEAT 8u

#define R_MEMBER (R_MENTOR | R_MENTEE | R_SEAT)

/*
 * One row per op the server answers: who may send it, and what answers it —
 * a function on the service thread (local), a DB job (run on a worker, then
 * done on the service thread; check first, on the service thread), or the
 * batch writer (batch: group commit). Size and shape limits of each op's
 * arguments are proto's (em_proto.c's op table), checked before this.
 */
struct handler {
	enum em_op op;
	unsigned roles; /* after login; ops allowed before login ignore it */
	int (*check)(const struct session *s, struct db_job *job);
	int (*run)(struct db_conn *c, struct db_job *job);
	void (*done)(struct session *s, struct db_job *job);
	/* answered on the service thread, without a DB job */
	int (*local)(struct session *s, const struct em_request *req, json_t **result, char *msg,
	             size_t msglen);
	/* run by the batch writer: every job of a batch in one transaction (db.h) */
	db_batch_runner batch;
};

static int ping_local(struct session *s, const struct em_request *req, json_t **result, char *msg,
                      size_t msglen)
{
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;

	(void)s;
	(void)req;
	(void)msg;
	(void)msglen;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	*result = json_pack("{ss}", "time", ts);
	return EM_OK;
}

/*
 * The role policy: which roles may send each op at all (managers never get
 * content, except a manager who is a room's mentor, in that room: R_SEAT).
 */
static const struct handler handlers[] = {
    {.op = EM_OP_PING, .roles = R_ANY, .local = ping_local},
    {.op = EM_OP_PRELOGIN, .roles = R_ANY, .run = auth_prelogin_run},
    {.op = EM_OP_REGISTER,
     .roles = R_ANY,
     .check = recovery_register_check,
     .run = auth_register_run},
    {.op = EM_OP_LOGIN, .roles = R_ANY, .run = auth_login_run, .done = auth_login_done},
    {.op = EM_OP_RESUME, .roles = R_ANY, .run = auth_resume_run, .done = auth_login_done},
    {.op = EM_OP_LOGOUT, .roles = R_ANY, .run = auth_logout_run, .done = auth_logout_done},
    {.op = EM_OP_WHOAMI, .roles = R_ANY, .run = auth_whoami_run},
    {.op = EM_OP_PASSWD, .roles = R_ANY, .run = auth_passwd_run},
    {.op = EM_OP_INVITE_CREATE, .roles = R_MANAGER, .run = invite_create_run},
    {.op = EM_OP_INVITE_ACCEPT, .roles = R_ANY, .run = invite_accept_run, .done = auth_roles_done},
    {.op = EM_OP_PROGRAMME_CREATE,
     .roles = R_MANAGER,
     .check = programme_create_check,
     .run = programme_create_run},
    {.op = EM_OP_PROGRAMME_LIST, .roles = R_ANY, .run = programme_list_run},
    {.op = EM_OP_PROGRAMME_SHOW, .roles = R_ANY, .run = programme_show_run},
    {.op = EM_OP_PROGRAMME_SETTINGS, .roles = R_MANAGER, .run = programme_settings_run},
    {.op = EM_OP_ROOM_CREATE, .roles = R_MANAGER, .run = room_create_run},
    {.op = EM_OP_ROOM_LIST, .roles = R_ANY, .run = room_list_run},
    {.op = EM_OP_ROOM_SHOW, .roles = R_ANY, .run = room_show_run},
    {.op = EM_OP_ROOM_ADD, .roles = R_MANAGER, .run = room_add_run},
    {.op = EM_OP_ROOM_REMOVE, .roles = R_MANAGER, .run = room_remove_run},
    {.op = EM_OP_SYNC, .roles = R_MEMBER, .run = message_sync_run, .done = message_sync_done},
    {.op = EM_OP_HISTORY, .roles = R_MEMBER, .run = message_history_run},
    {.op = EM_OP_SEND, .roles = R_MEMBER, .batch = message_batch_run},
    {.op = EM_OP_RECEIPT, .roles = R_MEMBER, .run = message_receipt_run},
    {.op = EM_OP_TYPING, .roles = R_MEMBER, .local = message_typing_local},
    {.op = EM_OP_EPOCH_COMMIT, .roles = R_MEMBER, .run = message_epoch_commit_run},
    {.op = EM_OP_KEYS_GET, .roles = R_MEMBER, .run = message_keys_run},
    /* checkpoints: who may act on which checkpoint is decided per checkpoint in SQL */
    {.op = EM_OP_CHECKPOINT_LIST, .roles = R_ANY, .run = checkpoint_list_run},
    {.op = EM_OP_CHECKPOINT_PROPOSE, .roles = R_ANY, .run = checkpoint_propose_run},
    {.op = EM_OP_CHECKPOINT_ANSWER, .roles = R_ANY, .run = checkpoint_answer_run},
    {.op = EM_OP_CHECKPOINT_RESCHEDULE, .roles = R_ANY, .run = checkpoint_reschedule_run},
    {.op = EM_OP_CHECKPOINT_CANCEL, .roles = R_ANY, .run = checkpoint_cancel_run},
    {.op = EM_OP_CHECKPOINT_ABSENT, .roles = R_ANY, .run = checkpoint_absent_run},
    {.op = EM_OP_CHECKPOINT_RECORD, .roles = R_ANY, .run = checkpoint_record_run},
    {.op = EM_OP_CHECKPOINT_ATTEND, .roles = R_ANY, .run = checkpoint_attend_run},
    {.op = EM_OP_CHECKPOINT_WINDOW, .roles = R_MANAGER, .run = checkpoint_window_run},
    /* sessions (section 6.4): a room's members only; decided per room in SQL */
    {.op = EM_OP_MEETING_ADD, .roles = R_MEMBER, .run = meeting_add_run},
    {.op = EM_OP_MEETING_PLAN, .roles = R_MEMBER, .run = meeting_plan_run},
    {.op = EM_OP_MEETING_TOPIC, .roles = R_MEMBER, .run = meeting_topic_run},
    {.op = EM_OP_CALENDAR_URL, .roles = R_ANY, .run = calendar_url_run},
    {.op = EM_OP_CALENDAR_REVOKE, .roles = R_ANY, .run = calendar_revoke_run},
    {.op = EM_OP_CALENDAR_EXPORT, .roles = R_ANY, .run = calendar_export_run},
    {.op = EM_OP_NOTICE_LIST, .roles = R_ANY, .run = notice_list_run},
    {.op = EM_OP_NOTICE_ACK, .roles = R_ANY, .run = notice_ack_run},
    {.op = EM_OP_PRIVACY_NOTICE, .roles = R_ANY, .local = privacy_notice_local},
    {.op = EM_OP_AGREEMENT_SHOW, .roles = R_ANY, .run = agreement_show_run},
    {.op = EM_OP_AGREEMENT_SIGN, .roles = R_ANY, .run = agreement_sign_run},
    {.op = EM_OP_AGREEMENT_PROPOSE, .roles = R_ANY, .run = agreement_propose_run},
    {.op = EM_OP_AGREEMENT_TEMPLATE_GET, .roles = R_MANAGER, .run = agreement_template_get_run},
    {.op = EM_OP_AGREEMENT_TEMPLATE_SET, .roles = R_MANAGER, .run = agreement_template_set_run},
    {.op = EM_OP_CONSENT_LIST, .roles = R_ANY, .run = consent_list_run},
    {.op = EM_OP_CONSENT_GRANT, .roles = R_ANY, .run = consent_grant_run},
    {.op = EM_OP_CONSENT_WITHDRAW, .roles = R_ANY, .run = consent_withdraw_run},
    {.op = EM_OP_ACCOUNT_EXPORT, .roles = R_ANY, .run = account_export_run},
    {.op = EM_OP_AUDIT_REPORT, .roles = R_MANAGER, .run = audit_report_run},
    {.op = EM_OP_AUDIT_THRESHOLDS, .roles = R_MANAGER, .run = audit_thresholds_run},
    {.op = EM_OP_ROOM_ACCESS_LOG, .roles = R_ANY, .run = room_access_log_run},
    /* the diary: members only (a manager never reads it); who writes is decided in SQL */
    {.op = EM_OP_DIARY_WRITER_GET, .roles = R_MEMBER, .run = diary_writer_get_run},
    {.op = EM_OP_DIARY_WRITER_SET, .roles = R_MEMBER, .run = diary_writer_set_run},
    {.op = EM_OP_DIARY_WRITE, .roles = R_MENTEE, .run = diary_write_run},
    {.op = EM_OP_DIARY_REMARK, .roles = R_MENTOR | R_SEAT, .run = diary_remark_run},
    {.op = EM_OP_DIARY_SHOW, .roles = R_MEMBER, .run = diary_show_run},
    {.op = EM_OP_DIARY_LIST, .roles = R_MEMBER, .run = diary_list_run},
    /* goals and ratings (section 10): room members only; who writes what is goal_put's */
    {.op = EM_OP_GOAL_CREATE, .roles = R_MEMBER, .run = goal_create_run},
    {.op = EM_OP_GOAL_UPDATE, .roles = R_MEMBER, .run = goal_update_run},
    {.op = EM_OP_GOAL_LIST, .roles = R_MEMBER, .run = goal_list_run},
    {.op = EM_OP_GOAL_HISTORY, .roles = R_MEMBER, .run = goal_history_run},
    {.op = EM_OP_RATING_ADD, .roles = R_MEMBER, .run = rating_add_run},
    {.op = EM_OP_RATING_LIST, .roles = R_MEMBER, .run = rating_list_run},
    /* programme administration (section 4.3): managers of the programme; a room's name also
       its members */
    {.op = EM_OP_PROGRAMME_EDIT,
     .roles = R_MANAGER,
     .check = programme_edit_check,
     .run = programme_edit_run},
    {.op = EM_OP_PROGRAMME_END, .roles = R_MANAGER, .run = programme_end_run},
    {.op = EM_OP_PROGRAMME_ARCHIVE, .roles = R_MANAGER, .run = programme_archive_run},
    {.op = EM_OP_PROGRAMME_HISTORY, .roles = R_MANAGER, .run = programme_history_run},
    {.op = EM_OP_ROOM_RENAME, .roles = R_ANY, .run = room_rename_run},
    /* recovery codes: set while logged in (with the password), used before login */
    {.op = EM_OP_RECOVERY_SET, .roles = R_ANY, .run = recovery_set_run},
    {.op = EM_OP_RECOVERY_OPEN, .roles = R_ANY, .run = recovery_open_run},
    {.op = EM_OP_RECOVERY_RESET, .roles = R_ANY, .run = recovery_reset_run},
    /* questionnaires and shared progress (section 11): who answers and reads is decided in SQL */
    {.op = EM_OP_QUESTIONNAIRE_GET, .roles = R_ANY, .run = questionnaire_get_run},
    {.op = EM_OP_QUESTIONNAIRE_SET, .roles = R_MANAGER, .run = questionnaire_set_run},
    {.op = EM_OP_QUESTIONNAIRE_ANSWER, .roles = R_MENTEE, .run = questionnaire_answer_run},
    {.op = EM_OP_QUESTIONNAIRE_ANSWERS,
     .roles = R_MANAGER | R_MENTEE,
     .run = questionnaire_answers_run},
    {.op = EM_OP_PROGRESS_SHARE, .roles = R_MENTEE, .run = progress_share_run},
    {.op = EM_OP_PROGRESS_LIST, .roles = R_MANAGER, .run = progress_list_run},
    /* the mid-term record (6.6): members, and the manager party of the room's agreement (SQL) */
    {.op = EM_OP_MIDTERM_WRITE, .roles = R_ANY, .run = midterm_write_run},
    {.op = EM_OP_MIDTERM_SHOW, .roles = R_ANY, .run = midterm_show_run},
    /* e-mail (section 12): one's own settings; invites: the programme's managers */
    {.op = EM_OP_MAIL_SHOW, .roles = R_ANY, .run = mail_show_run},
    {.op = EM_OP_MAIL_SET, .roles = R_ANY, .run = mail_set_run},
    {.op = EM_OP_MAIL_VERIFY, .roles = R_ANY, .run = mail_verify_run},
    {.op = EM_OP_INVITE_LIST, .roles = R_MANAGER, .run = invite_list_run},
    {.op = EM_OP_INVITE_RESEND, .roles = R_MANAGER, .run = invite_resend_run},
    {.op = EM_OP_INVITE_REVOKE, .roles = R_MANAGER, .run = invite_revoke_run},
    {.op = EM_OP_INVITE_IMPORT, .roles = R_MANAGER, .run = invite_import_run},
    /* concern reports (section 13): a room's members report, its programme's managers handle (SQL)
     */
    {.op = EM_OP_REPORT_CREATE, .roles = R_ANY, .run = report_create_run},
    {.op = EM_OP_REPORT_LIST, .roles = R_ANY, .run = report_list_run},
    {.op = EM_OP_REPORT_SHOW, .roles = R_ANY, .run = report_show_run},
    {.op = EM_OP_REPORT_HANDLE, .roles = R_MANAGER, .run = report_handle_run},
    /* identity resets: a programme's managers issue, the person redeems before login */
    {.op = EM_OP_RESET_ISSUE, .roles = R_MANAGER, .run = reset_issue_run},
    {.op = EM_OP_RESET_REDEEM, .roles = R_ANY, .run = reset_redeem_run},
    /* profiles for matching (section 14): the programme's people; who may do what is in SQL */
    {.op = EM_OP_PROFILE_FORM, .roles = R_ANY, .run = profile_form_run},
    {.op = EM_OP_PROFILE_FORM_SET, .roles = R_MANAGER, .run = profile_form_set_run},
    {.op = EM_OP_PROFILE_PUT, .roles = R_ANY, .run = profile_put_run},
    {.op = EM_OP_PROFILE_LIST, .roles = R_ANY, .run = profile_list_run},
    /* the support channel and announcements (section 15): room rules and audiences in SQL */
    {.op = EM_OP_SUPPORT_OPEN, .roles = R_ANY, .run = support_open_run},
    {.op = EM_OP_ANNOUNCE_SEND, .roles = R_MANAGER, .run = announce_send_run},
    {.op = EM_OP_ANNOUNCE_KEYS, .roles = R_MANAGER, .run = announce_keys_run},
    {.op = EM_OP_ANNOUNCE_LIST, .roles = R_ANY, .run = announce_list_run},
};

void dispatch_start(int batch_max, int batch_wait_us)
{
	/* the one batched op's runner is the batch writer's (db.h has one writer) */
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (handlers[i].batch)
			db_set_batch_runner(handlers[i].batch, batch_max, batch_wait_us);
}

static const struct handler *handler_find(enum em_op op)
{
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (handlers[i].op == op)
			return &handlers[i];
	return NULL;
}

static unsigned role_bits(const struct session *s)
{
	const char *role = s->role;

	/* roles per programme: a mentor of one programme may be a mentee of another */
	unsigned also = (s->also_mentor ? R_MENTOR : 0) | (s->also_mentee ? R_MENTEE : 0);

	if (!strcmp(role, "manager"))
		return R_MANAGER | (s->mentor_seat ? R_SEAT : 0);
	if (!strcmp(role, "mentor"))
		return R_MENTOR | also;
	if (!strcmp(role, "mentee"))
		return R_MENTEE | also;
	return 0;
}

static void reply_error(struct session *s, int64_t id, int err, const char *msg,
                        int64_t retry_after_ms)
{
	metrics_error(err);
	if (em_err_retryable(err) && retry_after_ms <= 0)
		retry_after_ms = 1000;
	session_send(s, em_encode_error(id, err, msg, retry_after_ms));
}

/*
 * Requests beyond --max-inflight wait in the session, in arrival order, up to
 * HELD_MAX_BYTES of parsed requests (what jansson allocated for them, not the
 * frames' bytes: a small request takes 20 to 40 times its size parsed); past that
 * the client is told `busy`. (lws 4.1.6's lws_rx_flow_control() spins the
 * service loop on TLS connections with buffered input, so back-pressure is
 * applied here instead.) Before login a connection may have at most
 * PREAUTH_PIPELINE requests in flight and waiting together; one more closes
 * it (1008): logging in takes two requests one after the other.
 */
#define HELD_MAX_BYTES   (1024 * 1024)
#define PREAUTH_PIPELINE 8

struct held_req {
	struct em_link link; /* on the session's held list */
	struct em_request req;
	size_t bytes;
};

static void dispatch_now(struct session *s, struct em_request *req);

/* 0: held; -1: over the connection's cap (busy); -2: over --preauth-memory (closed). */
static int hold(struct session *s, struct em_request *req, size_t bytes)
{
	struct held_req *h;

	bytes += sizeof(*h) + 16;
	if (s->held_bytes + bytes > HELD_MAX_BYTES)
		return -1;
	if (session_mem_charge(s, bytes)) {
		session_close_overloaded(s);
		return -2;
	}
	if (!(h = calloc(1, sizeof(*h)))) {
		session_mem_release(s, bytes);
		return -1;
	}
	h->req = *req;
	h->bytes = bytes;
	req->args = NULL; /* the held copy owns them now */
	em_list_append(&s->held, &h->link);
	s->held_bytes += bytes;
	return 0;
}

/* Dispatches held requests while there is room in flight. */
static void release_held(struct session *s)
{
	while (!em_list_empty(&s->held) && s->inflight < server.cfg.max_inflight &&
	       !s->close_code) {
		struct held_req *h = em_item(em_list_pop(&s->held), struct held_req, link);

		s->held_bytes -= h->bytes;
		session_mem_release(s, h->bytes);
		dispatch_now(s, &h->req);
		free(h);
	}
}

void dispatch_free_held(struct session *s)
{
	struct em_link *l;

	while ((l = em_list_pop(&s->held))) {
		struct held_req *h = em_item(l, struct held_req, link);

		session_mem_release(s, h->bytes);
		em_request_clear(&h->req);
		free(h);
	}
	s->held_bytes = 0;
}

/* Fills the job's identity from the session and hands it to the workers. */
void dispatch_request(struct session *s, struct em_request *req, size_t bytes)
{
	if (server.draining && req->op != EM_OP_PING) {
		reply_error(s, req->id, EM_ERR_BUSY,
		            "the server is restarting; reconnect and retry", 1000);
		em_request_clear(req);
		return;
	}
	if (!s->authenticated && s->inflight + (int)s->held.count >= PREAUTH_PIPELINE) {
		log_info("ws closed: %d requests waiting before login addr=%s",
		         s->inflight + (int)s->held.count, s->addr);
		metrics_add(M_PREAUTH_PIPELINE, 1);
		session_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
		              "too many requests before login");
		em_request_clear(req);
		return;
	}
	if ((!em_list_empty(&s->held) || s->inflight >= server.cfg.max_inflight) &&
	    req->op != EM_OP_PING) {
		int rc = hold(s, req, bytes);

		if (rc == -1)
			reply_error(s, req->id, EM_ERR_BUSY,
			            "too many requests in flight on this connection; slow down",
			            200);
		if (rc)
			em_request_clear(req);
		return;
	}
	dispatch_now(s, req);
}

static void dispatch_now(struct session *s, struct em_request *req)
{
	const struct handler *h = handler_find(req->op);
	unsigned flags = em_op_flags(req->op);
	struct db_job *job = NULL;
	char msg[224] = "";
	int rc;

	if (!h) {
		reply_error(s, req->id, EM_ERR_UNKNOWN_OP, "operation not served", 0);
		goto out;
	}
	if (!s->authenticated && !(flags & EM_OPF_PREAUTH)) {
		reply_error(s, req->id, EM_ERR_NOT_AUTHENTICATED, "log in first (login or resume)",
		            0);
		goto out;
	}
	if (s->authenticated && (flags & EM_OPF_NOAUTH)) {
		reply_error(s, req->id, EM_ERR_ALREADY_AUTHENTICATED, NULL, 0);
		goto out;
	}
	if (s->authenticated && !(h->roles & role_bits(s))) {
		snprintf(msg, sizeof(msg), "a %s may not use %s", s->role, em_op_name(req->op));
		reply_error(s, req->id, EM_ERR_FORBIDDEN, msg, 0);
		goto out;
	}
	if (h->local) {
		json_t *result = NULL;

		rc = h->local(s, req, &result, msg, sizeof(msg));
		if (rc)
			reply_error(s, req->id, rc, msg, 0);
		else
			session_send(s, em_encode_ok(req->id, result));
		goto out;
	}
	job = db_job_new();
	if (!job) {
		reply_error(s, req->id, EM_ERR_NOMEM, NULL, 0);
		goto out;
	}
	job->req_id = req->id;
	job->op = req->op;
	job->args = req->args;
	req->args = NULL;
	job->run = h->run;
	job->done = h->done;
	if (h->check && (rc = h->check(s, job)) != EM_OK) {
		reply_error(s, req->id, rc, job->message, 0);
		goto out;
	}
	rc = submit_job(s, job, h->batch != NULL);
	if (rc) {
		reply_error(s, req->id, rc, "the server is busy; try again shortly", 500);
		goto out;
	}
	job = NULL; /* the workers own it now */
	if (!s->authenticated && (req->op == EM_OP_LOGIN || req->op == EM_OP_RESUME))
		s->auth_sent = 1;
out:
	db_job_free(job);
	em_request_clear(req);
}

/* Changes subscriptions when a user joins or leaves a room (see room events). */
static void room_change(struct session *s, void *arg)
{
	json_t *data = arg;
	int64_t room = json_integer_value(json_object_get(data, "room_id"));
	const char *change = json_string_value(json_object_get(data, "change"));

	if (!change)
		return;
	if (!strcmp(change, "removed"))
		fanout_unsubscribe(s, room);
	else if (!strcmp(change, "added") && !strcmp(s->role, "manager"))
		s->mentor_seat = 1; /* as a room's mentor (room.add) or a support room's manager */
	if (!strcmp(change, "added") && s->synced)
		fanout_subscribe(s, room);
}

/* Pushes a job's [id, event, data] events (events.h) to rooms or users. */
static void push_events(json_t *list, enum event_to to, const struct session *except)
{
	json_t *item;
	size_t i;

	json_array_foreach(list, i, item)
	{
		int64_t id = json_integer_value(json_array_get(item, 0));
		const struct event_row *row =
		    event_row((enum server_event)json_integer_value(json_array_get(item, 1)));
		json_t *data = json_array_get(item, 2);
		char *text;

		if (!row || !(row->to & to)) {
			log_error("event %" JSON_INTEGER_FORMAT " not pushed: not one for a %s",
			          json_integer_value(json_array_get(item, 1)),
			          to == EV_TO_ROOM ? "room" : "user");
			continue;
		}
		if (!(text = em_encode_event(row->name, json_incref(data))))
			continue;
		if (to == EV_TO_ROOM) {
			if (row->marks_seen)
				fanout_room_seen(id,
				                 json_integer_value(json_object_get(data, "seq")));
			fanout_room(id, text, except);
		} else {
			fanout_user(id, text);
			if (row->resubscribes)
				fanout_user_sessions(id, room_change, data);
		}
		free(text);
	}
}

void dispatch_push_event(int64_t id, enum event_to to, enum server_event ev, json_t *data)
{
	json_t *list = NULL;

	db_job_push(&list, id, ev, data);
	push_events(list, to, NULL);
	json_decref(list);
}

void dispatch_completions(void)
{
	struct em_list done = {0};
	struct em_link *l;

	db_take_completed(&done);
	while ((l = em_list_pop(&done))) {
		struct db_job *job = db_job_of(l);
		struct session *s = session_lookup(job->slot, job->gen);

		if (s) {
			s->inflight--;
			if (job->err == EM_OK) {
				if (!job->no_reply) {
					session_send(s, em_encode_ok(job->req_id, job->result));
					job->result = NULL; /* the encoder took it */
				}
				if (job->done)
					job->done(s, job);
			} else if (job->no_reply) {
				session_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
				              "sync failed; reconnect");
			} else {
				reply_error(s, job->req_id, job->err, job->message,
				            job->retry_after_ms);
			}
			release_held(s);
		}
		/* events go out whether or not the requester is still connected */
		if (job->err == EM_OK) {
			push_events(job->room_events, EV_TO_ROOM, NULL);
			push_events(job->user_events, EV_TO_USER, NULL);
		}
		if (job->finished)
			job->finished(job);
		db_job_free(job);
	}
}
