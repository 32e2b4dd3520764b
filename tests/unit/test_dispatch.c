/*
 * test_dispatch.c - server/dispatch.c (with server/server.c for the shared
 * configuration, server/job.c and server/events.c, pure) against recording
 * stubs of the session table, submit, fanout, db, metrics, log and every
 * handler (tests/unit/stubs). What a request becomes is read from what the
 * stubs saw: the frames sent to the session, the jobs submitted, the closes.
 *
 * The role policy is written here again from PROTOCOL.md (manager-only
 * operations, the member operations of section 5.3 a manager never gets)
 * and compared with what dispatch does for every op and every role; then
 * login state (not_authenticated, already_authenticated), requests held
 * beyond --max-inflight and released in order, the held-bytes cap (busy),
 * the pipeline before login (1008), busy while draining, the return path
 * (replies, done, errors, closed sessions) and the events pushed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "dispatch.h"
#include "em_proto.h"
#include "handlers.h"
#include "job.h"
#include "metrics.h"
#include "server.h"
#include "session.h"
#include "stubs.h"

/* PROTOCOL.md: operations only a manager may send. */
static const char *const manager_only[] = {
    "programme.edit",
    "programme.end",
    "programme.archive",
    "programme.history",
    "invite.create",
    "programme.create",
    "programme.settings",
    "room.create",
    "room.add",
    "room.remove",
    "checkpoint.window",
    "agreement.template.get",
    "agreement.template.set",
    "audit.report",
    "audit.thresholds",
    /* section 11: a programme's questionnaires and shared progress */
    "questionnaire.set",
    "progress.list",
    "invite.list",
    "invite.resend",
    "invite.revoke",
    "invite.import",
    "report.handle",
    "reset.issue",
    "profile.form_set",
    /* section 15: announcements */
    "announce.send",
    "announce.keys",
};
/* PROTOCOL.md section 5.3: a manager is not a room member unless seated as its mentor. */
static const char *const member_only[] = {
    "sync",
    "history",
    "send",
    "receipt",
    "typing",
    "epoch.commit",
    "keys.get",
    /* sessions: PROTOCOL.md 6.4 */
    "meeting.add",
    "meeting.plan",
    "meeting.topic",
    "diary.writer.get",
    "diary.writer.set",
    "diary.show",
    "diary.list",
    /* section 10: goals and ratings are the room's */
    "goal.create",
    "goal.update",
    "goal.list",
    "goal.history",
    "rating.add",
    "rating.list",
};
/* the diary's entry is a mentee's, its remarks the mentor's */
static const char *const mentee_only[] = {"diary.write", "questionnaire.answer", "progress.share"};
/* answers: a manager reads them all, a mentee their own; a mentor none */
static const char *const not_mentor[] = {"questionnaire.answers"};
static const char *const mentor_only[] = {"diary.remark"};

static int listed(const char *const *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], name))
			return 1;
	return 0;
}
#define LISTED(list, name) listed(list, sizeof(list) / sizeof(list[0]), name)

static struct session sess[STUB_SESSIONS];
static int n_sess;

/* A connection; role NULL: not logged in. */
static struct session *conn(const char *role)
{
	struct session *s = &sess[n_sess++];

	memset(s, 0, sizeof(*s));
	assert_int_equal(stub_session_add(s), 0);
	if (role) {
		s->authenticated = 1;
		s->user_id = 40 + n_sess;
		s->session_id = 900 + n_sess;
		snprintf(s->role, sizeof(s->role), "%s", role);
		snprintf(s->username, sizeof(s->username), "u%d", n_sess);
	}
	snprintf(s->addr, sizeof(s->addr), "192.0.2.%d", n_sess);
	return s;
}

/* Sends request (id, op) with args (taken; NULL: {}) of `bytes` parsed size. */
static void request_sized(struct session *s, int64_t id, enum em_op op, json_t *args, size_t bytes)
{
	struct em_request req = {.id = id, .op = op, .args = args ? args : json_object()};

	dispatch_request(s, &req, bytes);
	assert_null(req.args); /* always taken */
}

static void request(struct session *s, int64_t id, enum em_op op)
{
	request_sized(s, id, op, NULL, 200);
}

/* The n-th frame sent to s, parsed (new reference). */
static json_t *frame_of(const struct session *s, int n)
{
	const char *text = stub_sent_nth(s, n);
	json_t *v;

	if (!text) {
		print_error("no frame %d to that session (%d sent)\n", n, stub_sent_to(s));
		fail();
	}
	v = json_loads(text, 0, NULL);
	assert_non_null(v);
	return v;
}

/* The n-th frame to s is the error `code` for request id; returns its retry_after_ms (0: none). */
static int64_t expect_error(const struct session *s, int n, int64_t id, const char *code)
{
	json_t *v = frame_of(s, n);
	json_t *e = json_object_get(v, "error");
	const char *got = json_string_value(json_object_get(e, "code"));
	int64_t retry;

	if (!got || strcmp(got, code)) {
		print_error("frame %d: %s, want error %s\n", n, stub_sent_nth(s, n), code);
		fail();
	}
	assert_int_equal(json_integer_value(json_object_get(v, "re")), id);
	retry = json_integer_value(json_object_get(e, "retry_after_ms"));
	json_decref(v);
	return retry;
}

static void expect_ok(const struct session *s, int n, int64_t id)
{
	json_t *v = frame_of(s, n);

	if (!json_object_get(v, "ok")) {
		print_error("frame %d: %s, want ok\n", n, stub_sent_nth(s, n));
		fail();
	}
	assert_int_equal(json_integer_value(json_object_get(v, "re")), id);
	json_decref(v);
}

static const char *error_message(const struct session *s, int n, char *out, size_t outlen)
{
	json_t *v = frame_of(s, n);

	snprintf(out, outlen, "%s",
	         json_string_value(json_object_get(json_object_get(v, "error"), "message")));
	json_decref(v);
	return out;
}

/* Completes submitted job i as the workers would (err EM_OK: result {"n": i}). */
static void complete(int i, int err)
{
	struct db_job *job = stub_submit_take(i);

	assert_non_null(job);
	job->err = err;
	if (err == EM_OK)
		job->result = json_pack("{si}", "n", i);
	em_list_append(&stub_db_completed, &job->link);
	dispatch_completions();
}

static int setup(void **state)
{
	(void)state;
	memset(&server, 0, sizeof(server));
	server.cfg.max_inflight = 1000;
	server.cfg.out_queue_kib = 1024;
	stub_session_reset();
	stub_submit_reset();
	stub_fanout_reset();
	stub_db_reset();
	stub_log_reset();
	stub_metrics_reset();
	stub_done_calls = stub_local_calls = 0;
	memset(sess, 0, sizeof(sess));
	n_sess = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < n_sess; i++) {
		dispatch_free_held(&sess[i]);
		/* held requests give back what they charged */
		assert_int_equal(sess[i].mem, 0);
		stub_session_drop(&sess[i]);
	}
	stub_submit_reset();
	stub_fanout_reset();
	stub_session_reset();
	stub_db_reset();
	return 0;
}

/*
 * Every op, every role, one fresh connection each: already_authenticated for
 * the login ops, forbidden where PROTOCOL.md says so, otherwise the op goes
 * to its handler (a job, or a local answer).
 */
static void test_roles(void **state)
{
	static const char *const roles[] = {"manager", "mentor", "mentee"};
	int forbidden = 0, served = 0;

	(void)state;
	for (int op = EM_OP_NONE + 1; op < EM_OP__COUNT; op++) {
		const char *name = em_op_name((enum em_op)op);

		for (size_t r = 0; r < 3; r++) {
			struct session *s = conn(roles[r]);
			int jobs = stub_n_jobs, locals = stub_local_calls;
			int manager = !strcmp(roles[r], "manager");
			char msg[256], want[256];

			request(s, 7, (enum em_op)op);
			if (em_op_flags((enum em_op)op) & EM_OPF_NOAUTH) {
				expect_error(s, 0, 7, "already_authenticated");
				assert_int_equal(stub_n_jobs, jobs);
			} else if ((LISTED(manager_only, name) && !manager) ||
			           (LISTED(member_only, name) && manager) ||
			           (LISTED(mentee_only, name) && strcmp(roles[r], "mentee")) ||
			           (LISTED(mentor_only, name) && strcmp(roles[r], "mentor")) ||
			           (LISTED(not_mentor, name) && !strcmp(roles[r], "mentor"))) {
				expect_error(s, 0, 7, "forbidden");
				snprintf(want, sizeof(want), "a %s may not use %s", roles[r], name);
				assert_string_equal(error_message(s, 0, msg, sizeof(msg)), want);
				assert_int_equal(stub_n_jobs, jobs);
				assert_int_equal(stub_local_calls, locals);
				forbidden++;
			} else {
				/* served: a job, or a local answer (ping, typing, privacy.notice)
				 */
				if (stub_n_jobs == jobs + 1) {
					assert_int_equal(stub_jobs[jobs]->op, op);
					assert_int_equal(stub_jobs[jobs]->req_id, 7);
					assert_int_equal(stub_sent_to(s), 0);
				} else {
					assert_int_equal(stub_n_jobs, jobs);
					assert_int_equal(stub_sent_to(s), 1);
					assert_true(op == EM_OP_PING ||
					            stub_local_calls == locals + 1);
				}
				served++;
			}
			assert_int_equal(s->close_code, 0);
			stub_session_drop(s);
			n_sess--;
			stub_sent_clear();
			stub_submit_reset();
		}
	}
	/* the policy is not empty either way */
	assert_int_equal(forbidden,
	                 2 * 20 + 7 + 4 + 2 * 2 + 6 + 3 + 2 * 2 + 2 * 2 + 1 + 2 + 2 + 2 * 2);
	assert_true(served > 2 * 30);
	assert_int_equal(stub_metrics_errors[-EM_ERR_FORBIDDEN], forbidden);
}

/*
 * A manager who holds a mentor seat (PROTOCOL.md room.add): every member op
 * a mentor may send goes to its handler, whose SQL decides the room; the
 * mentee's own op (diary.write) stays forbidden, and so does every member op
 * for a manager without a seat (test_roles).
 */
static void test_seated_manager(void **state)
{
	int served = 0;

	(void)state;
	for (int op = EM_OP_NONE + 1; op < EM_OP__COUNT; op++) {
		const char *name = em_op_name((enum em_op)op);
		struct session *s = conn("manager");
		int jobs = stub_n_jobs, locals = stub_local_calls;

		s->mentor_seat = 1;
		request(s, 7, (enum em_op)op);
		if (em_op_flags((enum em_op)op) & EM_OPF_NOAUTH) {
			expect_error(s, 0, 7, "already_authenticated");
		} else if (LISTED(mentee_only, name)) {
			expect_error(s, 0, 7, "forbidden");
			assert_int_equal(stub_n_jobs, jobs);
		} else if (LISTED(member_only, name) || LISTED(mentor_only, name)) {
			assert_true(stub_n_jobs == jobs + 1 || stub_local_calls == locals + 1);
			served++;
		}
		stub_session_drop(s);
		n_sess--;
		stub_sent_clear();
		stub_submit_reset();
	}
	assert_int_equal(served, (int)(sizeof(member_only) / sizeof(member_only[0])) + 1);
}

/* A room "added" event to a manager's connection seats it (it was added as a mentor). */
static void test_seat_by_event(void **state)
{
	struct session *mgr, *mentee;

	(void)state;
	mgr = conn("manager");
	mentee = conn("mentee");
	stub_user_sessions[0] = mgr;
	stub_user_sessions[1] = mentee;
	stub_n_user_sessions = 2;
	request(mgr, 1, EM_OP_HISTORY);
	expect_error(mgr, 0, 1, "forbidden");
	dispatch_push_event(mgr->user_id, EV_TO_USER, EV_ROOM,
	                    json_pack("{siss}", "room_id", 9, "change", "added"));
	assert_int_equal(mgr->mentor_seat, 1);
	assert_int_equal(mentee->mentor_seat, 0); /* a mentee has no use for it */
	request(mgr, 2, EM_OP_HISTORY);
	assert_int_equal(stub_n_jobs, 1);
	assert_int_equal(stub_jobs[0]->op, EM_OP_HISTORY);
	request(mgr, 3, EM_OP_DIARY_WRITE);
	assert_int_equal(stub_n_jobs, 1);
	request(mgr, 4, EM_OP_AUDIT_REPORT); /* still a manager */
	assert_int_equal(stub_n_jobs, 2);
}

/* Roles per programme: a mentor who is a mentee of another programme may send a mentee's op. */
static void test_roles_per_programme(void **state)
{
	struct session *mentor = conn("mentor"), *both = conn("mentor"), *mentee = conn("mentee");

	(void)state;
	both->also_mentee = 1;
	mentee->also_mentor = 1;
	request(mentor, 1, EM_OP_DIARY_WRITE);
	expect_error(mentor, 0, 1, "forbidden");
	request(both, 2, EM_OP_DIARY_WRITE);
	request(both, 3, EM_OP_DIARY_REMARK);
	request(mentee, 4, EM_OP_DIARY_REMARK);
	assert_int_equal(stub_n_jobs, 3);
	request(both, 5, EM_OP_ROOM_CREATE); /* never a manager's */
	expect_error(both, 0, 5, "forbidden");
	assert_int_equal(stub_n_jobs, 3);
}

/* A role the table does not know may use nothing. */
static void test_unknown_role(void **state)
{
	struct session *s;

	(void)state;
	s = conn("admin");
	request(s, 1, EM_OP_WHOAMI);
	request(s, 2, EM_OP_CHECKPOINT_LIST);
	expect_error(s, 0, 1, "forbidden");
	expect_error(s, 1, 2, "forbidden");
	assert_int_equal(stub_n_jobs, 0);
}

static void test_which_handler(void **state)
{
	struct session *anon, *mentee;

	(void)state;
	anon = conn(NULL);
	mentee = conn("mentee");
	request(anon, 1, EM_OP_LOGIN);
	request(mentee, 2, EM_OP_SEND);
	request(mentee, 3, EM_OP_SYNC);
	assert_int_equal(stub_n_jobs, 3);
	assert_ptr_equal(stub_jobs[0]->run, auth_login_run);
	assert_ptr_equal(stub_jobs[0]->done, auth_login_done);
	assert_int_equal(stub_jobs_batched[0], 0);
	assert_int_equal(stub_jobs_batched[1], 1); /* send: the batch writer */
	assert_null(stub_jobs[1]->run);
	assert_ptr_equal(stub_jobs[2]->run, message_sync_run);
	assert_ptr_equal(stub_jobs[2]->done, message_sync_done);
	/* the job was stamped with who asked */
	assert_int_equal(stub_jobs[1]->slot, mentee->slot);
	assert_int_equal(stub_jobs[1]->gen, mentee->gen);
	assert_int_equal(stub_jobs[1]->user_id, mentee->user_id);
	/* the batch writer's runner is the batched op's */
	dispatch_start(64, 1000);
	assert_ptr_equal(stub_db_batch_runner, message_batch_run);
}

/* Before login only the pre-login ops; after it, never those again. */
static void test_login_state(void **state)
{
	(void)state;
	for (int op = EM_OP_NONE + 1; op < EM_OP__COUNT; op++) {
		struct session *s = conn(NULL);
		int jobs = stub_n_jobs;

		request(s, 3, (enum em_op)op);
		if (em_op_flags((enum em_op)op) & EM_OPF_PREAUTH) {
			if (stub_n_jobs == jobs)
				expect_ok(s, 0, 3); /* ping, privacy.notice: local */
		} else {
			expect_error(s, 0, 3, "not_authenticated");
			assert_int_equal(stub_n_jobs, jobs);
		}
		stub_session_drop(s);
		n_sess--;
		stub_sent_clear();
		stub_submit_reset();
	}
	/* the pre-login ops are exactly these */
	assert_int_equal(em_op_flags(EM_OP_LOGIN) & EM_OPF_PREAUTH, EM_OPF_PREAUTH);
	assert_int_equal(em_op_flags(EM_OP_WHOAMI) & EM_OPF_PREAUTH, 0);
	/* an op nobody serves */
	{
		struct session *s = conn("mentor");

		request(s, 4, EM_OP_NONE);
		expect_error(s, 0, 4, "unknown_op");
	}
}

/* Beyond --max-inflight requests wait, in order, and go as jobs finish; ping never waits. */
static void test_held_in_order(void **state)
{
	struct session *s;

	(void)state;
	server.cfg.max_inflight = 2;
	s = conn("mentor");
	for (int id = 1; id <= 5; id++)
		request(s, id, EM_OP_WHOAMI);
	assert_int_equal(stub_n_jobs, 2);
	assert_int_equal(s->inflight, 2);
	assert_int_equal((int)s->held.count, 3);
	assert_true(s->held_bytes > 3 * 200);
	assert_int_equal(s->mem, s->held_bytes); /* held requests are charged */
	assert_int_equal(stub_sent_to(s), 0);
	request(s, 6, EM_OP_PING);
	expect_ok(s, 0, 6);
	assert_int_equal((int)s->held.count, 3);
	/* job 1 done: its reply, and request 3 goes */
	complete(0, EM_OK);
	expect_ok(s, 1, 1);
	assert_int_equal(stub_n_jobs, 3);
	assert_int_equal(stub_jobs[2]->req_id, 3);
	assert_int_equal(s->inflight, 2);
	assert_int_equal((int)s->held.count, 2);
	/* a failed job frees its place too */
	complete(1, EM_ERR_NOT_FOUND);
	expect_error(s, 2, 2, "not_found");
	assert_int_equal(stub_jobs[3]->req_id, 4);
	complete(2, EM_OK);
	assert_int_equal(stub_jobs[4]->req_id, 5);
	assert_int_equal((int)s->held.count, 0);
	assert_int_equal(s->held_bytes, 0);
	assert_int_equal(s->mem, 0);
	complete(3, EM_OK);
	complete(4, EM_OK);
	assert_int_equal(s->inflight, 0);
	expect_ok(s, 3, 3);
	expect_ok(s, 4, 4);
	expect_ok(s, 5, 5);
	assert_int_equal(stub_sent_to(s), 6);
	/* nothing is released to a connection that is closing */
	request(s, 7, EM_OP_WHOAMI);
	request(s, 8, EM_OP_WHOAMI);
	request(s, 9, EM_OP_WHOAMI);
	assert_int_equal((int)s->held.count, 1);
	session_close(s, 1001, "going away");
	complete(5, EM_OK);
	assert_int_equal((int)s->held.count, 1);
	assert_int_equal(stub_n_jobs, 7);
}

/* Held requests past HELD_MAX_BYTES (1 MiB parsed) are answered busy. */
static void test_held_bytes_cap(void **state)
{
	struct session *s;
	int64_t retry;
	char msg[256];

	(void)state;
	server.cfg.max_inflight = 1;
	s = conn("mentee");
	request(s, 1, EM_OP_WHOAMI); /* in flight */
	for (int id = 2; id <= 4; id++)
		request_sized(s, id, EM_OP_WHOAMI, NULL, 300 * 1024);
	assert_int_equal((int)s->held.count, 3);
	assert_int_equal(stub_sent_to(s), 0);
	request_sized(s, 5, EM_OP_WHOAMI, NULL, 300 * 1024);
	assert_int_equal((int)s->held.count, 3);
	retry = expect_error(s, 0, 5, "busy");
	assert_int_equal(retry, 200);
	assert_non_null(strstr(error_message(s, 0, msg, sizeof(msg)), "in flight"));
	assert_int_equal(stub_metrics_errors[-EM_ERR_BUSY], 1);
	/* a small one still fits */
	request_sized(s, 6, EM_OP_WHOAMI, NULL, 100);
	assert_int_equal((int)s->held.count, 4);
	assert_int_equal(s->close_code, 0);
	/* the memory cap of connections not logged in refuses a charge: closed 1013, no reply */
	stub_mem_refuse = 1;
	request(s, 7, EM_OP_WHOAMI);
	assert_int_equal((int)s->held.count, 4);
	assert_int_equal(s->close_code, SESSION_CLOSE_TRY_AGAIN);
	assert_int_equal(stub_sent_to(s), 1);
	stub_mem_refuse = 0;
	/* at close the held requests are freed, their memory released (teardown checks) */
	dispatch_free_held(s);
	assert_int_equal((int)s->held.count, 0);
	assert_true(em_list_empty(&s->held));
	assert_int_equal(s->mem, 0);
}

/* Before login, more than 8 requests in flight and waiting together close the connection. */
static void test_preauth_pipeline(void **state)
{
	struct session *anon, *user;

	(void)state;
	server.cfg.max_inflight = 2;
	anon = conn(NULL);
	for (int id = 1; id <= 8; id++)
		request(anon, id, EM_OP_PRELOGIN);
	assert_int_equal(anon->close_code, 0);
	assert_int_equal(anon->inflight + (int)anon->held.count, 8);
	request(anon, 9, EM_OP_PRELOGIN);
	assert_int_equal(anon->close_code, 1008);
	assert_int_equal(stub_n_closes, 1);
	assert_string_equal(stub_closes[0].reason, "too many requests before login");
	assert_int_equal(stub_metrics[M_PREAUTH_PIPELINE], 1);
	assert_int_equal(stub_sent_to(anon), 0);
	assert_int_equal((int)anon->held.count, 6);
	/* pings count too */
	anon = conn(NULL);
	for (int id = 1; id <= 8; id++)
		request(anon, id, EM_OP_PRELOGIN);
	request(anon, 9, EM_OP_PING);
	assert_int_equal(anon->close_code, 1008);
	/* logged in, the same pipeline only waits */
	user = conn("mentor");
	for (int id = 1; id <= 12; id++)
		request(user, id, EM_OP_WHOAMI);
	assert_int_equal(user->close_code, 0);
	assert_int_equal((int)user->held.count, 10);
}

/* While draining: busy (retry after 1 s) for everything but ping, before any other check. */
static void test_draining(void **state)
{
	struct session *anon, *mentor;

	(void)state;
	server.draining = 1;
	anon = conn(NULL);
	mentor = conn("mentor");
	request(anon, 1, EM_OP_LOGIN);
	request(mentor, 2, EM_OP_WHOAMI);
	request(mentor, 3, EM_OP_INVITE_CREATE); /* would be forbidden */
	request(mentor, 4, EM_OP_PING);
	assert_int_equal(expect_error(anon, 0, 1, "busy"), 1000);
	assert_int_equal(expect_error(mentor, 0, 2, "busy"), 1000);
	assert_int_equal(expect_error(mentor, 1, 3, "busy"), 1000);
	expect_ok(mentor, 2, 4);
	assert_int_equal(stub_n_jobs, 0);
	server.draining = 0;
	request(mentor, 5, EM_OP_WHOAMI);
	assert_int_equal(stub_n_jobs, 1);
}

static void test_refusals_on_the_way(void **state)
{
	struct session *manager, *mentee;
	char msg[256];

	(void)state;
	manager = conn("manager");
	mentee = conn("mentee");
	/* the op's check refuses: its error and message, nothing submitted */
	request_sized(manager, 1, EM_OP_PROGRAMME_CREATE, json_pack("{sb}", "refuse", 1), 100);
	expect_error(manager, 0, 1, "bad_dates");
	assert_string_equal(error_message(manager, 0, msg, sizeof(msg)), "stub check refused");
	assert_int_equal(stub_n_jobs, 0);
	request(manager, 2, EM_OP_PROGRAMME_CREATE);
	assert_int_equal(stub_n_jobs, 1);
	/* the queue is full: busy, retry after 500 ms */
	stub_submit_rc = EM_ERR_BUSY;
	request(mentee, 3, EM_OP_HISTORY);
	assert_int_equal(expect_error(mentee, 0, 3, "busy"), 500);
	assert_int_equal(mentee->inflight, 0);
	stub_submit_rc = 0;
	/* local answers: an error with its message, or a result */
	request(mentee, 4, EM_OP_TYPING);
	expect_error(mentee, 1, 4, "not_member");
	assert_string_equal(error_message(mentee, 1, msg, sizeof(msg)), "stub typing refused");
	request(mentee, 5, EM_OP_PRIVACY_NOTICE);
	expect_ok(mentee, 2, 5);
	assert_non_null(strstr(stub_sent_nth(mentee, 2), "stub notice"));
}

static int finished_calls;

static void on_finished(struct db_job *job)
{
	(void)job;
	finished_calls++;
}

/* The return path: done on success, errors with their retry hint, closed sessions. */
static void test_completions(void **state)
{
	struct session *anon, *gone, *s;
	struct db_job *job;

	(void)state;
	anon = conn(NULL);
	request(anon, 1, EM_OP_LOGIN);
	complete(0, EM_OK);
	expect_ok(anon, 0, 1);
	assert_int_equal(stub_done_calls, 1);
	assert_int_equal(stub_done_op, EM_OP_LOGIN);
	/* a retryable error without a hint gets one (1 s) */
	request(anon, 2, EM_OP_LOGIN);
	complete(1, EM_ERR_DB_UNAVAILABLE);
	assert_int_equal(expect_error(anon, 1, 2, "db_unavailable"), 1000);
	assert_int_equal(stub_done_calls, 1);
	/* a finished job whose connection closed: no reply, no done, finished still runs */
	gone = conn("mentor");
	request(gone, 3, EM_OP_SYNC);
	stub_jobs[2]->finished = on_finished;
	stub_session_drop(gone);
	complete(2, EM_OK);
	assert_int_equal(stub_sent_to(gone), 0);
	assert_int_equal(stub_done_calls, 1);
	assert_int_equal(finished_calls, 1);
	/* an internal continuation (no reply) that failed closes the connection */
	s = conn("mentor");
	request(s, 4, EM_OP_SYNC);
	stub_jobs[3]->no_reply = 1;
	complete(3, EM_ERR_INTERNAL);
	assert_int_equal(s->close_code, 1011);
	assert_int_equal(stub_sent_to(s), 0);
	/* and one that succeeded sends nothing but runs done */
	request(s, 5, EM_OP_SYNC);
	job = stub_jobs[4];
	job->no_reply = 1;
	complete(4, EM_OK);
	assert_int_equal(stub_sent_to(s), 0);
	assert_int_equal(stub_done_calls, 2);
}

/* A finished job's events: rooms get the event (and the seen seq), users theirs, resubscribing. */
static void test_events_pushed(void **state)
{
	struct session *s, *synced, *unsynced;
	struct db_job *job;
	int rooms = 0, users = 0;

	(void)state;
	s = conn("manager");
	synced = conn("mentee");
	unsynced = conn("mentee");
	synced->synced = 1;
	stub_user_sessions[0] = synced;
	stub_user_sessions[1] = unsynced;
	stub_n_user_sessions = 2;
	request(s, 1, EM_OP_ROOM_ADD);
	job = stub_jobs[0];
	db_job_push(&job->room_events, 7, EV_MESSAGE, json_pack("{sisi}", "room_id", 7, "seq", 12));
	db_job_push(&job->room_events, 7, EV_EPOCH,
	            json_pack("{si}", "room_id", 7)); /* not a room's */
	db_job_push(&job->user_events, 55, EV_ROOM,
	            json_pack("{siss}", "room_id", 9, "change", "added"));
	db_job_push(&job->user_events, 56, EV_ROOM,
	            json_pack("{siss}", "room_id", 8, "change", "removed"));
	complete(0, EM_OK);
	expect_ok(s, 0, 1);
	for (int i = 0; i < stub_n_pushes; i++) {
		const struct stub_push *p = &stub_pushes[i];

		switch (p->kind) {
		case 's':
			assert_int_equal(p->id, 7);
			assert_int_equal(p->seq, 12);
			break;
		case 'r':
			rooms++;
			assert_int_equal(p->id, 7);
			assert_non_null(strstr(p->text, "\"ev\":\"message\""));
			assert_null(p->s);
			break;
		case 'u':
			users++;
			assert_true(p->id == 55 || p->id == 56);
			assert_non_null(strstr(p->text, "\"ev\":\"room\""));
			break;
		case '+':
			assert_int_equal(p->id, 9);
			assert_ptr_equal(p->s, synced); /* only a synced connection subscribes */
			break;
		case '-':
			assert_int_equal(p->id, 8);
			break;
		}
	}
	assert_int_equal(rooms, 1); /* the epoch event recorded for a room is not pushed */
	assert_int_equal(users, 2);
	assert_int_equal(stub_log_lines[3], 1); /* ...and logged as an error */
	/* a failed job pushes nothing */
	stub_fanout_reset();
	request(s, 2, EM_OP_ROOM_ADD);
	db_job_push(&stub_jobs[1]->room_events, 7, EV_ROOM,
	            json_pack("{siss}", "room_id", 7, "change", "members"));
	complete(1, EM_ERR_FORBIDDEN);
	assert_int_equal(stub_n_pushes, 0);
	/* one event pushed directly (remote.c's announcements heard) */
	dispatch_push_event(
	    7, EV_TO_ROOM, EV_RECEIPT,
	    json_pack("{sisisssi}", "room_id", 7, "user_id", 3, "username", "mia", "seq", 4));
	assert_int_equal(stub_n_pushes, 1);
	assert_int_equal(stub_pushes[0].kind, 'r');
	assert_non_null(strstr(stub_pushes[0].text, "\"ev\":\"receipt\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_roles, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_role, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_seated_manager, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_seat_by_event, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_roles_per_programme, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_which_handler, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_login_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_held_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_held_bytes_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_preauth_pipeline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_draining, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refusals_on_the_way, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_completions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events_pushed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
