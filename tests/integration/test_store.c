/*
 * test_store.c - the SQL behind every account, programme and room operation,
 * run against a real PostgreSQL in a database of its own (created and dropped
 * here). Each test calls an op's run function the way a DB worker does and
 * checks the result or the error code a client would see.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "db.h"
#include "em_crypto.h"
#include "em_proto.h"
#include "handlers.h"
#include "ledger.h"
#include "migrate.h"
#include "server.h"
#include "store.h"

static char admin_conninfo[1024], test_conninfo[1200], dbname[64];
static struct db_conn conn;

static PGconn *admin_connect(void)
{
	PGconn *pg = PQconnectdb(admin_conninfo);

	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	return pg;
}

static void admin_exec(const char *sql)
{
	PGconn *pg = admin_connect();
	PGresult *r = PQexec(pg, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(pg);
}

static int group_setup(void **state)
{
	const char *ci = getenv("EMENTOR_TEST_DB");
	char sql[128];
	PGconn *pg;

	(void)state;
	if (!ci || !*ci) {
		fprintf(stderr, "EMENTOR_TEST_DB is not set: skipping (scripts/test sets it)\n");
		exit(77);
	}
	em_crypto_init();
	config_defaults(&server.cfg);
	assert_int_equal(ledger_notice_load(NULL), 0);
	randombytes_buf(server.prelogin_secret, sizeof(server.prelogin_secret));
	snprintf(admin_conninfo, sizeof(admin_conninfo), "%s", ci);
	snprintf(dbname, sizeof(dbname), "ementor_it_%d", (int)getpid());
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
	admin_exec(sql);
	/* a later keyword wins in a libpq conninfo string */
	snprintf(test_conninfo, sizeof(test_conninfo), "%s dbname=%s", ci, dbname);
	pg = PQconnectdb(test_conninfo);
	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	assert_true(migrate_run(pg, EM_SOURCE_DIR "/schema") >= 2);
	/* a second run changes nothing */
	assert_int_equal(migrate_run(pg, EM_SOURCE_DIR "/schema"), 0);
	PQfinish(pg);
	assert_int_equal(store_connect(&conn, test_conninfo), 0);
	return 0;
}

static int group_teardown(void **state)
{
	char sql[128];

	(void)state;
	store_disconnect(&conn);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", dbname);
	admin_exec(sql);
	return 0;
}

/* A logged-in identity, as the service thread would copy it into a job. */
struct who {
	int64_t user_id, session_id;
	char role[12], username[40];
	char token[64];
	struct em_keys keys;
};

/* Runs one op like a worker; the caller frees the job. args: a new reference. */
static struct db_job *run_op(int (*run)(struct db_conn *, struct db_job *), json_t *args,
                             const struct who *who)
{
	struct db_job *job = db_job_new();

	assert_non_null(job);
	job->args = args ? args : json_object();
	snprintf(job->addr, sizeof(job->addr), "127.0.0.1");
	if (who) {
		job->user_id = who->user_id;
		job->session_id = who->session_id;
		snprintf(job->role, sizeof(job->role), "%s", who->role);
		snprintf(job->username, sizeof(job->username), "%s", who->username);
	}
	job->err = EM_OK;
	run(&conn, job);
	if (job->err == EM_OK)
		assert_non_null(job->result);
	return job;
}

static void expect_err(int (*run)(struct db_conn *, struct db_job *), json_t *args,
                       const struct who *who, int want)
{
	struct db_job *job = run_op(run, args, who);

	if (job->err != want)
		fail_msg("expected %s, got %s (%s)", em_err_code(want), em_err_code(job->err),
		         job->message);
	db_job_free(job);
}

static json_t *b64(const void *bin, size_t len)
{
	char *s = em_b64_encode(bin, len);
	json_t *j = json_string(s);

	free(s);
	return j;
}

/* auth_key for a test "password": derived cheaply (no Argon2id needed here). */
static void test_auth_key(const char *username, const char *password, unsigned char out[32])
{
	char folded[EM_USERNAME_MAX + 1];

	em_username_fold(username, folded);
	crypto_generichash(out, 32, (const unsigned char *)password, strlen(password),
	                   (const unsigned char *)folded, strlen(folded));
}

static json_t *register_args(const char *invite, const char *username, const char *password,
                             struct em_keys *keys)
{
	unsigned char salt[16], auth_key[32], backup[EM_KEY_BACKUP_BYTES], sig[64];
	int64_t now = (int64_t)time(NULL);

	randombytes_buf(salt, sizeof(salt));
	randombytes_buf(backup, sizeof(backup));
	em_keys_generate(keys);
	test_auth_key(username, password, auth_key);
	em_consent_sign(keys->sign_pk, "data_processing", ledger_notice_version(NULL),
	                ledger_notice_hash(NULL), "grant", now, keys->sign_sk, sig);
	return json_pack("{sssssssosIsIsosososo ss sI so}", "invite", invite, "username", username,
	                 "display_name", username, "salt", b64(salt, 16), "opslimit", (json_int_t)2,
	                 "memlimit", (json_int_t)67108864, "auth_key", b64(auth_key, 32), "sign_pk",
	                 b64(keys->sign_pk, 32), "box_pk", b64(keys->box_pk, 32), "key_backup",
	                 b64(backup, sizeof(backup)), "privacy_version",
	                 ledger_notice_version(NULL), "privacy_at", (json_int_t)now,
	                 "privacy_signature", b64(sig, 64));
}

static void login(const char *username, const char *password, struct who *who)
{
	unsigned char auth_key[32];
	struct db_job *job;

	test_auth_key(username, password, auth_key);
	job =
	    run_op(auth_login_run,
	           json_pack("{ssso}", "username", username, "auth_key", b64(auth_key, 32)), NULL);
	if (job->err)
		fail_msg("login %s: %s %s", username, em_err_code(job->err), job->message);
	who->user_id = job->out_user_id;
	who->session_id = job->out_session_id;
	snprintf(who->role, sizeof(who->role), "%s", job->out_role);
	snprintf(who->username, sizeof(who->username), "%s", job->out_username);
	snprintf(who->token, sizeof(who->token), "%s",
	         json_string_value(json_object_get(job->result, "token")));
	db_job_free(job);
}

/* Makes an invite as the operator (programme 0 = none) or as a manager. */
static void make_invite(const char *role, int64_t programme_id, const struct who *manager,
                        char code[32])
{
	char expires[40];

	if (!manager) {
		assert_int_equal(
		    store_create_invite(conn.pg, role, programme_id, 0, 7, 0, code, expires), 0);
		return;
	}
	struct db_job *job = run_op(
	    invite_create_run,
	    json_pack("{sIss}", "programme_id", (json_int_t)programme_id, "role", role), manager);

	assert_int_equal(job->err, EM_OK);
	snprintf(code, 32, "%s", json_string_value(json_object_get(job->result, "code")));
	db_job_free(job);
}

/* Registers and logs in a user with a fresh invite. */
static void make_user(const char *role, int64_t programme_id, const struct who *manager,
                      const char *username, struct who *who)
{
	char code[32];
	struct db_job *job;

	make_invite(role, programme_id, manager, code);
	job = run_op(auth_register_run, register_args(code, username, "pw", &who->keys), NULL);
	if (job->err)
		fail_msg("register %s: %s %s", username, em_err_code(job->err), job->message);
	db_job_free(job);
	login(username, "pw", who);
}

/* Programmes of the tests before section 7 need no agreement to chat. */
static int64_t make_programme_ex(const struct who *manager, const char *name, int required)
{
	struct db_job *job = run_op(
	    programme_create_run,
	    json_pack("{ssssss}", "name", name, "starts_on", "2027-01-01", "ends_on", "2027-06-30"),
	    manager);
	unsigned char sig[64];
	int64_t id;

	assert_int_equal(job->err, EM_OK);
	id = json_integer_value(json_object_get(json_object_get(job->result, "programme"), "id"));
	db_job_free(job);
	if (required)
		return id;
	/* doing without agreements takes the creator's signature (PROTOCOL.md 7.3) */
	em_programme_sign((uint64_t)id, (uint64_t)manager->user_id, 0, manager->keys.sign_sk, sig);
	job = run_op(programme_settings_run,
	             json_pack("{sIsbso}", "programme_id", (json_int_t)id, "agreement_required", 0,
	                       "signature", b64(sig, 64)),
	             manager);
	if (job->err)
		fail_msg("programme.settings: %s %s", em_err_code(job->err), job->message);
	assert_false(json_is_true(
	    json_object_get(json_object_get(job->result, "programme"), "agreement_required")));
	db_job_free(job);
	return id;
}

static int64_t make_programme(const struct who *manager, const char *name)
{
	return make_programme_ex(manager, name, 0);
}

static void test_register_login_resume_logout(void **state)
{
	struct who alice = {0}, bob = {0};
	char code[32];
	struct db_job *job;
	unsigned char wrong[32];

	(void)state;
	make_invite("manager", 0, NULL, code);
	job = run_op(auth_register_run, register_args(code, "Alice", "pw", &alice.keys), NULL);
	assert_int_equal(job->err, EM_OK);
	/* usernames are folded to lower case; the invite gave the role */
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(job->result, "user"), "username")),
	    "alice");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(job->result, "user"), "role")),
	    "manager");
	db_job_free(job);

	/* the invite is used up */
	expect_err(auth_register_run, register_args(code, "bob", "pw", &bob.keys), NULL,
	           EM_ERR_INVALID_INVITE);
	/* a taken username does not consume a fresh invite */
	make_invite("manager", 0, NULL, code);
	expect_err(auth_register_run, register_args(code, "ALICE", "pw", &bob.keys), NULL,
	           EM_ERR_USERNAME_TAKEN);
	job = run_op(auth_register_run, register_args(code, "bob", "pw", &bob.keys), NULL);
	assert_int_equal(job->err, EM_OK);
	db_job_free(job);

	login("alice", "pw", &alice);
	assert_string_equal(alice.role, "manager");
	assert_int_equal(strlen(alice.token), 43);

	test_auth_key("alice", "wrong", wrong);
	expect_err(auth_login_run,
	           json_pack("{ssso}", "username", "alice", "auth_key", b64(wrong, 32)), NULL,
	           EM_ERR_BAD_CREDENTIALS);
	expect_err(auth_login_run,
	           json_pack("{ssso}", "username", "nobody", "auth_key", b64(wrong, 32)), NULL,
	           EM_ERR_BAD_CREDENTIALS);

	job = run_op(auth_resume_run, json_pack("{ss}", "token", alice.token), NULL);
	assert_int_equal(job->err, EM_OK);
	assert_int_equal(job->out_user_id, alice.user_id);
	db_job_free(job);

	job = run_op(auth_whoami_run, NULL, &alice);
	assert_int_equal(job->err, EM_OK);
	db_job_free(job);

	job = run_op(auth_logout_run, NULL, &alice);
	assert_int_equal(job->err, EM_OK);
	db_job_free(job);
	expect_err(auth_resume_run, json_pack("{ss}", "token", alice.token), NULL,
	           EM_ERR_SESSION_EXPIRED);
	expect_err(auth_whoami_run, NULL, &alice, EM_ERR_SESSION_EXPIRED);
}

/* An invite code is typed as a command-line argument: it never starts with '-' (without the
 * rule, 1 token in 64 would: 10,000 draws all pass by chance with probability 3e-69). */
static void test_random_token_no_leading_dash(void **state)
{
	char token[48];

	(void)state;
	for (int i = 0; i < 10000; i++) {
		store_random_token(token, 15);
		assert_int_equal(strlen(token), 20);
		assert_true(token[0] != '-');
	}
}

static void test_prelogin(void **state)
{
	struct who carol = {0};
	struct db_job *a, *b, *c;

	(void)state;
	make_user("manager", 0, NULL, "carol", &carol);
	a = run_op(auth_prelogin_run, json_pack("{ss}", "username", "ghost"), NULL);
	b = run_op(auth_prelogin_run, json_pack("{ss}", "username", "GHOST"), NULL);
	c = run_op(auth_prelogin_run, json_pack("{ss}", "username", "ghost2"), NULL);
	assert_int_equal(a->err, EM_OK);
	/* stable for the same unknown name, different for another */
	assert_true(json_equal(a->result, b->result));
	assert_false(json_equal(a->result, c->result));
	assert_int_equal(json_integer_value(json_object_get(a->result, "opslimit")),
	                 EM_KDF_OPSLIMIT_DEFAULT);
	db_job_free(a);
	db_job_free(b);
	db_job_free(c);
	a = run_op(auth_prelogin_run, json_pack("{ss}", "username", "carol"), NULL);
	assert_int_equal(a->err, EM_OK);
	assert_int_equal(strlen(json_string_value(json_object_get(a->result, "salt"))), 22);
	db_job_free(a);
}

static void test_login_rate_limit(void **state)
{
	struct who dave = {0};
	unsigned char wrong[32], right[32];
	struct db_job *job;

	(void)state;
	make_user("manager", 0, NULL, "dave", &dave);
	test_auth_key("dave", "nope", wrong);
	test_auth_key("dave", "pw", right);
	for (int i = 0; i < 10; i++)
		expect_err(auth_login_run,
		           json_pack("{ssso}", "username", "dave", "auth_key", b64(wrong, 32)),
		           NULL, EM_ERR_BAD_CREDENTIALS);
	/* now even the right password waits */
	job = run_op(auth_login_run,
	             json_pack("{ssso}", "username", "dave", "auth_key", b64(right, 32)), NULL);
	assert_int_equal(job->err, EM_ERR_RATE_LIMITED);
	assert_true(job->retry_after_ms > 60 * 1000);
	assert_true(job->retry_after_ms <= 15 * 60 * 1000);
	db_job_free(job);
}

static void test_passwd_revokes_other_sessions(void **state)
{
	struct who erin = {0}, erin2 = {0};
	unsigned char old_key[32], new_key[32], salt[16], backup[EM_KEY_BACKUP_BYTES];
	struct db_job *job;

	(void)state;
	make_user("manager", 0, NULL, "erin", &erin);
	login("erin", "pw", &erin2);
	test_auth_key("erin", "pw", old_key);
	test_auth_key("erin", "new", new_key);
	randombytes_buf(salt, sizeof(salt));
	randombytes_buf(backup, sizeof(backup));
	expect_err(auth_passwd_run,
	           json_pack("{sosososIsIso}", "auth_key", b64(new_key, 32), "new_auth_key",
	                     b64(new_key, 32), "salt", b64(salt, 16), "opslimit", (json_int_t)2,
	                     "memlimit", (json_int_t)67108864, "key_backup",
	                     b64(backup, sizeof(backup))),
	           &erin, EM_ERR_BAD_CREDENTIALS);
	job = run_op(auth_passwd_run,
	             json_pack("{sosososIsIso}", "auth_key", b64(old_key, 32), "new_auth_key",
	                       b64(new_key, 32), "salt", b64(salt, 16), "opslimit", (json_int_t)2,
	                       "memlimit", (json_int_t)67108864, "key_backup",
	                       b64(backup, sizeof(backup))),
	             &erin);
	assert_int_equal(job->err, EM_OK);
	assert_int_equal(json_integer_value(json_object_get(job->result, "revoked_sessions")), 1);
	db_job_free(job);
	expect_err(auth_resume_run, json_pack("{ss}", "token", erin2.token), NULL,
	           EM_ERR_SESSION_EXPIRED);
	job = run_op(auth_resume_run, json_pack("{ss}", "token", erin.token), NULL);
	assert_int_equal(job->err, EM_OK);
	db_job_free(job);
	login("erin", "new", &erin2);
}

static json_t *member_list(const char *a, ...)
{
	json_t *list = json_array();
	va_list ap;

	va_start(ap, a);
	for (const char *s = a; s; s = va_arg(ap, const char *))
		json_array_append_new(list, json_string(s));
	va_end(ap);
	return list;
}

static int64_t room_id_of(const struct db_job *job)
{
	return json_integer_value(json_object_get(json_object_get(job->result, "room"), "id"));
}

static json_t *room_member(int64_t room, const char *user)
{
	return json_pack("{sIss}", "room_id", (json_int_t)room, "username", user);
}

static void test_rooms(void **state)
{
	struct who mgr = {0}, other_mgr = {0}, m1 = {0}, m2 = {0}, e[7], stranger = {0};
	char name[16];
	int64_t prog, other_prog, pair, group;
	struct db_job *job;

	(void)state;
	memset(e, 0, sizeof(e));
	make_user("manager", 0, NULL, "mgr", &mgr);
	make_user("manager", 0, NULL, "othermgr", &other_mgr);
	prog = make_programme(&mgr, "Spring");
	other_prog = make_programme(&other_mgr, "Elsewhere");
	make_user("mentor", prog, &mgr, "m1", &m1);
	make_user("mentor", prog, &mgr, "m2", &m2);
	for (int i = 1; i <= 6; i++) {
		snprintf(name, sizeof(name), "e%d", i);
		make_user("mentee", prog, &mgr, name, &e[i]);
	}
	make_user("mentee", other_prog, &other_mgr, "stranger", &stranger);

	/* a manager cannot invite into a programme they do not manage */
	expect_err(invite_create_run,
	           json_pack("{sIss}", "programme_id", (json_int_t)prog, "role", "mentee"),
	           &other_mgr, EM_ERR_NOT_FOUND);

	job = run_op(room_create_run,
	             json_pack("{sIssso}", "programme_id", (json_int_t)prog, "kind", "pair",
	                       "members", member_list("m1", "e1", NULL)),
	             &mgr);
	assert_int_equal(job->err, EM_OK);
	pair = room_id_of(job);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(job->result, "room"), "status")),
	    "ready");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(job->result, "room"), "name")),
	    "m1 & e1");
	db_job_free(job);

	expect_err(room_add_run, room_member(pair, "e2"), &mgr, EM_ERR_ROOM_FULL);
	expect_err(room_add_run, room_member(pair, "m2"), &mgr, EM_ERR_ROOM_HAS_MENTOR);
	expect_err(room_add_run, room_member(pair, "e1"), &mgr, EM_ERR_ALREADY_MEMBER);
	expect_err(room_add_run, room_member(pair, "othermgr"), &mgr, EM_ERR_WRONG_ROLE);
	expect_err(room_add_run, room_member(pair, "stranger"), &mgr, EM_ERR_NOT_IN_PROGRAMME);
	expect_err(room_add_run, room_member(pair, "nobody"), &mgr, EM_ERR_NOT_FOUND);
	/* another programme's manager cannot touch it, nor learn it exists */
	expect_err(room_add_run, room_member(pair, "e2"), &other_mgr, EM_ERR_NOT_FOUND);
	expect_err(room_show_run, json_pack("{sI}", "room_id", (json_int_t)pair), &other_mgr,
	           EM_ERR_NOT_FOUND);

	/* all or nothing: a bad member leaves no room behind */
	expect_err(room_create_run,
	           json_pack("{sIssso}", "programme_id", (json_int_t)prog, "kind", "group",
	                     "members", member_list("m2", "e2", "stranger", NULL)),
	           &mgr, EM_ERR_NOT_IN_PROGRAMME);

	job = run_op(room_create_run,
	             json_pack("{sIssssso}", "programme_id", (json_int_t)prog, "kind", "group",
	                       "name", "Group A", "members",
	                       member_list("m2", "e1", "e2", "e3", "e4", "e5", NULL)),
	             &mgr);
	assert_int_equal(job->err, EM_OK);
	group = room_id_of(job);
	assert_int_equal(
	    json_array_size(json_object_get(json_object_get(job->result, "room"), "members")), 6);
	db_job_free(job);
	expect_err(room_add_run, room_member(group, "e6"), &mgr, EM_ERR_ROOM_FULL);

	job = run_op(room_remove_run, room_member(group, "E3"), &mgr);
	assert_int_equal(job->err, EM_OK);
	db_job_free(job);
	expect_err(room_remove_run, room_member(group, "e3"), &mgr, EM_ERR_NOT_MEMBER);
	job = run_op(room_add_run, room_member(group, "e6"), &mgr);
	assert_int_equal(job->err, EM_OK);
	db_job_free(job);

	/* who sees what */
	job = run_op(room_show_run, json_pack("{sI}", "room_id", (json_int_t)group), &e[1]);
	assert_int_equal(job->err, EM_OK);
	db_job_free(job);
	expect_err(room_show_run, json_pack("{sI}", "room_id", (json_int_t)group), &e[3],
	           EM_ERR_NOT_FOUND);
	job = run_op(room_list_run, NULL, &e[1]);
	assert_int_equal(json_array_size(json_object_get(job->result, "rooms")), 2);
	db_job_free(job);
	job = run_op(room_list_run, NULL, &e[3]);
	assert_int_equal(json_array_size(json_object_get(job->result, "rooms")), 0);
	db_job_free(job);
	job = run_op(room_list_run, json_pack("{sI}", "programme_id", (json_int_t)prog), &mgr);
	assert_int_equal(json_array_size(json_object_get(job->result, "rooms")), 2);
	db_job_free(job);
	job = run_op(room_list_run, NULL, &other_mgr);
	assert_int_equal(json_array_size(json_object_get(job->result, "rooms")), 0);
	db_job_free(job);

	/*
	 * The programme's people: a manager sees all nine; a participant the
	 * managers, themselves and their rooms' people, former ones too (e2 is in
	 * the group with m2, e1, e4, e5, e6, and e3 was: not m1); outsiders nothing.
	 */
	job = run_op(programme_show_run, json_pack("{sI}", "programme_id", (json_int_t)prog), &mgr);
	assert_int_equal(json_array_size(json_object_get(job->result, "people")), 9);
	db_job_free(job);
	job =
	    run_op(programme_show_run, json_pack("{sI}", "programme_id", (json_int_t)prog), &e[2]);
	assert_int_equal(job->err, EM_OK);
	{
		char seen[256] = "";
		json_t *u;
		size_t i;

		json_array_foreach(json_object_get(job->result, "people"), i, u)
		{
			strncat(seen, json_string_value(json_object_get(u, "username")),
			        sizeof(seen) - strlen(seen) - 2);
			strcat(seen, " ");
		}
		assert_string_equal(seen, "mgr m2 e1 e2 e3 e4 e5 e6 ");
	}
	db_job_free(job);
	expect_err(programme_show_run, json_pack("{sI}", "programme_id", (json_int_t)prog),
	           &stranger, EM_ERR_NOT_FOUND);
}

static void test_invite_accept(void **state)
{
	struct who mgr = {0}, mentor = {0};
	char code[32];
	int64_t p1, p2;
	struct db_job *job;

	(void)state;
	make_user("manager", 0, NULL, "acceptmgr", &mgr);
	p1 = make_programme(&mgr, "One");
	p2 = make_programme(&mgr, "Two");
	make_user("mentor", p1, &mgr, "multi", &mentor);
	/* roles per programme: never a manager's rights from an invite to a member account */
	make_invite("manager", p2, &mgr, code);
	expect_err(invite_accept_run, json_pack("{ss}", "invite", code), &mentor,
	           EM_ERR_INVALID_INVITE);
	/* nor a second role in a programme the account is in */
	make_invite("mentee", p1, &mgr, code);
	expect_err(invite_accept_run, json_pack("{ss}", "invite", code), &mentor,
	           EM_ERR_INVALID_INVITE);
	/* a mentor of One may be a mentee of Two */
	make_invite("mentee", p2, &mgr, code);
	job = run_op(invite_accept_run, json_pack("{ss}", "invite", code), &mentor);
	assert_int_equal(job->err, EM_OK);
	assert_int_equal(job->out_also_mentee, 1);
	db_job_free(job);
	job = run_op(programme_list_run, NULL, &mentor);
	assert_int_equal(json_array_size(json_object_get(job->result, "programmes")), 2);
	db_job_free(job);
}

/* Seals a fresh room key to every member and commits epoch `epoch`; returns the job. */
static struct db_job *commit_epoch_v(int64_t room, int64_t epoch, const struct who *committer,
                                     const struct who *const *members, int n,
                                     unsigned char room_key[32], uint32_t version)
{
	struct em_commit_entry entries[6];
	struct em_commit commit = {.room_id = (uint64_t)room,
	                           .epoch = (uint64_t)epoch,
	                           .committer_id = (uint64_t)committer->user_id,
	                           .agreement_version = version};
	unsigned char sig[64];
	json_t *envs = json_array();

	randombytes_buf(room_key, 32);
	for (int i = 0; i < n; i++) {
		struct em_room_key_id kid = {.room_id = commit.room_id,
		                             .epoch = commit.epoch,
		                             .recipient_id = (uint64_t)members[i]->user_id,
		                             .committer_id = commit.committer_id,
		                             .agreement_version = version,
		                             .n_recipients = (uint32_t)n};

		for (int k = 0; k < n; k++) { /* ascending */
			int j = k;

			kid.recipients[k] = (uint64_t)members[k]->user_id;
			for (; j > 0 && kid.recipients[j - 1] > kid.recipients[j]; j--) {
				uint64_t t = kid.recipients[j];

				kid.recipients[j] = kid.recipients[j - 1];
				kid.recipients[j - 1] = t;
			}
		}

		entries[i].recipient_id = (uint64_t)members[i]->user_id;
		em_room_key_seal(room_key, &kid, committer->keys.sign_sk, members[i]->keys.box_pk,
		                 entries[i].sealed);
		json_array_append_new(envs, json_pack("{sIso}", "recipient_id",
		                                      (json_int_t)members[i]->user_id, "sealed",
		                                      b64(entries[i].sealed, EM_SEALED_KEY_BYTES)));
	}
	em_commit_sign(&commit, entries, (size_t)n, committer->keys.sign_sk, sig);
	return run_op(message_epoch_commit_run,
	              json_pack("{sIsIsIsoso}", "room_id", (json_int_t)room, "epoch",
	                        (json_int_t)epoch, "agreement_version", (json_int_t)version,
	                        "envelopes", envs, "sig", b64(sig, 64)),
	              committer);
}

/* An epoch of a room whose programme does without agreements (agreement version 0). */
static struct db_job *commit_epoch(int64_t room, int64_t epoch, const struct who *committer,
                                   const struct who *const *members, int n,
                                   unsigned char room_key[32])
{
	return commit_epoch_v(room, epoch, committer, members, n, room_key, 0);
}

/* A send job as the service thread would submit it. */
static struct db_job *send_job(int64_t room, int64_t epoch, const struct who *who,
                               const unsigned char id[16], const unsigned char key[32],
                               const char *text)
{
	unsigned char ct[EM_MSG_CIPHERTEXT_MAX], sig[64];
	struct em_msg_meta meta = {.counter = 1, .written_ms = 1700000000000};
	int n =
	    em_msg_encrypt(key, (uint64_t)room, (uint64_t)epoch, (uint64_t)who->user_id, id, &meta,
	                   (const unsigned char *)text, strlen(text), who->keys.sign_sk, ct, sig);
	struct db_job *job = db_job_new();

	assert_true(n > 0);
	job->args = json_pack("{sIsIsososo}", "room_id", (json_int_t)room, "epoch",
	                      (json_int_t)epoch, "client_msg_id", b64(id, 16), "ciphertext",
	                      b64(ct, (size_t)n), "sig", b64(sig, 64));
	job->user_id = who->user_id;
	snprintf(job->username, sizeof(job->username), "%s", who->username);
	return job;
}

static void test_messaging(void **state)
{
	struct who mgr = {0}, mentor = {0}, mentee = {0}, other = {0};
	const struct who *members[2] = {&mentor, &mentee};
	unsigned char key[32], key2[32], id1[16], id2[16], id3[16];
	struct db_job *job, *batch[5];
	int64_t prog, room;

	(void)state;
	make_user("manager", 0, NULL, "msgmgr", &mgr);
	prog = make_programme(&mgr, "Messaging");
	make_user("mentor", prog, &mgr, "msgmentor", &mentor);
	make_user("mentee", prog, &mgr, "msgmentee", &mentee);
	make_user("mentee", prog, &mgr, "msgother", &other);
	job = run_op(room_create_run,
	             json_pack("{sIssso}", "programme_id", (json_int_t)prog, "kind", "pair",
	                       "members", member_list("msgmentor", "msgmentee", NULL)),
	             &mgr);
	room = room_id_of(job);
	assert_true(
	    json_is_true(json_object_get(json_object_get(job->result, "room"), "rotate_required")));
	db_job_free(job);

	/* the epoch commit is checked: CAS, roster, signature */
	job = commit_epoch(room, 2, &mentor, members, 2, key);
	assert_int_equal(job->err, EM_ERR_STALE_EPOCH);
	db_job_free(job);
	job = commit_epoch(room, 1, &mentor, members, 1, key);
	assert_int_equal(job->err, EM_ERR_ROSTER_MISMATCH);
	db_job_free(job);
	job = commit_epoch(room, 1, &mentor, members, 2, key);
	assert_int_equal(job->err, EM_OK);
	assert_int_equal(json_array_size(job->user_events), 2);
	db_job_free(job);
	/* the loser of a race on epoch 1 */
	job = commit_epoch(room, 1, &mentee, members, 2, key2);
	assert_int_equal(job->err, EM_ERR_STALE_EPOCH);
	db_job_free(job);

	randombytes_buf(id1, 16);
	randombytes_buf(id2, 16);
	randombytes_buf(id3, 16);
	batch[0] = send_job(room, 1, &mentor, id1, key, "hello");
	batch[1] = send_job(room, 1, &mentee, id2, key, "hi there");
	batch[2] = send_job(room, 1, &mentor, id1, key, "hello"); /* a resend in the same batch */
	batch[3] = send_job(room, 2, &mentor, id3, key, "wrong epoch");
	batch[4] = send_job(room, 1, &other, id3, key, "not a member");
	message_batch_run(&conn, batch, 5);
	assert_int_equal(batch[0]->err, EM_OK);
	assert_int_equal(json_integer_value(json_object_get(batch[0]->result, "seq")), 1);
	assert_int_equal(json_integer_value(json_object_get(batch[1]->result, "seq")), 2);
	assert_int_equal(batch[2]->err, EM_OK);
	assert_true(json_is_true(json_object_get(batch[2]->result, "duplicate")));
	assert_int_equal(json_integer_value(json_object_get(batch[2]->result, "seq")), 1);
	assert_int_equal(batch[3]->err, EM_ERR_STALE_EPOCH);
	assert_int_equal(batch[4]->err, EM_ERR_NOT_MEMBER);
	assert_non_null(batch[0]->room_events);
	assert_null(batch[2]->room_events); /* a duplicate is not pushed again */
	for (int i = 0; i < 5; i++)
		db_job_free(batch[i]);

	/* history decrypts for a member; a non-member is refused */
	job = run_op(message_history_run, json_pack("{sI}", "room_id", (json_int_t)room), &mentee);
	assert_int_equal(job->err, EM_OK);
	assert_int_equal(json_array_size(json_object_get(job->result, "messages")), 2);
	{
		json_t *m = json_array_get(json_object_get(job->result, "messages"), 0);
		unsigned char ct[EM_MSG_CIPHERTEXT_MAX], sig[64], mid[16],
		    pt[EM_MSG_CIPHERTEXT_MAX];
		struct em_msg_meta meta;
		int ctn = em_b64_decode(json_string_value(json_object_get(m, "ciphertext")), ct,
		                        sizeof(ct));
		size_t ptn = 0;

		em_b64_decode(json_string_value(json_object_get(m, "sig")), sig, sizeof(sig));
		em_b64_decode(json_string_value(json_object_get(m, "client_msg_id")), mid, 16);
		assert_int_equal(em_msg_decrypt(key, (uint64_t)room, 1, (uint64_t)mentor.user_id,
		                                mid, ct, (size_t)ctn, sig, mentor.keys.sign_pk,
		                                &meta, pt, &ptn),
		                 EM_MSG_OK);
		assert_int_equal(meta.counter, 1);
		assert_int_equal(ptn, 5);
		assert_memory_equal(pt, "hello", 5);
		/* another sender's key does not verify it */
		assert_int_equal(em_msg_decrypt(key, (uint64_t)room, 1, (uint64_t)mentor.user_id,
		                                mid, ct, (size_t)ctn, sig, mentee.keys.sign_pk,
		                                &meta, pt, &ptn),
		                 EM_MSG_BAD_SIGNATURE);
	}
	db_job_free(job);
	expect_err(message_history_run, json_pack("{sI}", "room_id", (json_int_t)room), &other,
	           EM_ERR_NOT_MEMBER);

	/* each member gets their own envelope back */
	job = run_op(message_keys_run, json_pack("{sI}", "room_id", (json_int_t)room), &mentee);
	assert_int_equal(job->err, EM_OK);
	assert_int_equal(json_array_size(json_object_get(job->result, "envelopes")), 1);
	db_job_free(job);

	/* a membership change requires a new epoch before more messages */
	job = run_op(room_add_run, room_member(room, "msgother"), &mgr);
	assert_int_equal(job->err, EM_ERR_ROOM_FULL);
	db_job_free(job);
	job = run_op(room_remove_run, room_member(room, "msgmentee"), &mgr);
	assert_int_equal(job->err, EM_OK);
	db_job_free(job);
	batch[0] = send_job(room, 1, &mentor, id3, key, "after removal");
	message_batch_run(&conn, batch, 1);
	assert_int_equal(batch[0]->err, EM_ERR_ROTATE_REQUIRED);
	db_job_free(batch[0]);
	expect_err(message_history_run, json_pack("{sI}", "room_id", (json_int_t)room), &mentee,
	           EM_ERR_NOT_MEMBER);
	expect_err(message_keys_run, json_pack("{sI}", "room_id", (json_int_t)room), &mentee,
	           EM_ERR_NOT_MEMBER);

	/* receipts: stored, capped at last_seq, never lowered */
	job = run_op(message_receipt_run,
	             json_pack("{sIsI}", "room_id", (json_int_t)room, "seq", (json_int_t)99),
	             &mentor);
	assert_int_equal(json_integer_value(json_object_get(job->result, "seq")), 2);
	db_job_free(job);
}

/* ---- section 7: agreements, roster, consent ledger, erasure, retention ---- */

static json_t *agreement_of(int64_t room, const struct who *who)
{
	struct db_job *job =
	    run_op(agreement_show_run, json_pack("{sI}", "room_id", (json_int_t)room), who);
	json_t *doc;

	assert_int_equal(job->err, EM_OK);
	doc = json_incref(job->result);
	db_job_free(job);
	return doc;
}

/* Signs VERSION (a Version object) as WHO; flip: corrupt the agreement signature. */
static struct db_job *sign_version(int64_t room, json_t *version, const struct who *who,
                                   const struct who *signer, int flip)
{
	json_t *parties = json_object_get(version, "parties"), *it;
	struct em_party p[7];
	unsigned char sig[64], hash[32], csig[64];
	int64_t v = json_integer_value(json_object_get(version, "version")), now = time(NULL);
	const char *a = json_string_value(json_object_get(version, "starts_on")),
	           *b = json_string_value(json_object_get(version, "ends_on")),
	           *t = json_string_value(json_object_get(version, "terms"));
	char subject[32];
	size_t i;

	json_array_foreach(parties, i, it)
	{
		p[i].user_id = (uint64_t)json_integer_value(json_object_get(it, "user_id"));
		p[i].role = json_string_value(json_object_get(it, "role"));
		em_b64_decode(json_string_value(json_object_get(it, "sign_pk")), p[i].sign_pk, 32);
		em_b64_decode(json_string_value(json_object_get(it, "box_pk")), p[i].box_pk, 32);
	}
	em_agreement_sign((uint64_t)room, (uint32_t)v, a, b, t, p, i, signer->keys.sign_sk, sig);
	em_agreement_hash((uint64_t)room, (uint32_t)v, a, b, t, p, i, hash);
	sig[5] ^= (unsigned char)flip;
	snprintf(subject, sizeof(subject), "room:%lld", (long long)room);
	em_consent_sign(who->keys.sign_pk, "agreement", subject, hash, "grant", now,
	                who->keys.sign_sk, csig);
	return run_op(agreement_sign_run,
	              json_pack("{sIsIsosIso}", "room_id", (json_int_t)room, "version",
	                        (json_int_t)v, "signature", b64(sig, 64), "consent_at",
	                        (json_int_t)now, "consent_signature", b64(csig, 64)),
	              who);
}

static int ledger_ok(void)
{
	PGconn *pg = PQconnectdb(test_conninfo);
	int rc;

	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	rc = ledger_verify(pg, NULL);
	PQfinish(pg);
	return rc;
}

static int64_t sql_int(const char *sql)
{
	PGconn *pg = PQconnectdb(test_conninfo);
	PGresult *r = PQexec(pg, sql);
	int64_t v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	v = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(pg);
	return v;
}

static void test_agreements(void **state)
{
	struct who mgr = {0}, mentor = {0}, e1 = {0}, e2 = {0}, e3 = {0};
	const struct who *both[2] = {&mentor, &e1}, *three[3] = {&mentor, &e1, &e2};
	const struct who *parties3[3] = {&mgr, &mentor, &e1};
	unsigned char key[32], id[16], sig[64], hash[32];
	struct db_job *job, *batch[1];
	json_t *doc, *pending;
	int64_t prog, room, now = time(NULL);
	char sql[256];

	(void)state;
	make_user("manager", 0, NULL, "agrmgr", &mgr);
	prog = make_programme_ex(&mgr, "Agreements", 1);
	make_user("mentor", prog, &mgr, "agrmentor", &mentor);
	make_user("mentee", prog, &mgr, "agre1", &e1);
	make_user("mentee", prog, &mgr, "agre2", &e2);
	make_user("mentee", prog, &mgr, "agre3", &e3);
	job = run_op(room_create_run,
	             json_pack("{sIssso}", "programme_id", (json_int_t)prog, "kind", "group",
	                       "members", member_list("agrmentor", "agre1", NULL)),
	             &mgr);
	room = room_id_of(job);
	db_job_free(job);

	/* one pending version with three parties, nobody on the roster */
	doc = agreement_of(room, &e1);
	pending = json_object_get(doc, "pending");
	if (!json_is_object(pending))
		fail_msg("no pending version: %s", json_dumps(doc, 0));
	assert_true(json_is_null(json_object_get(doc, "active")));
	assert_int_equal(json_array_size(json_object_get(pending, "parties")), 3);
	assert_non_null(strstr(json_string_value(json_object_get(pending, "terms")),
	                       "at least two days (48 hours) beforehand"));
	assert_int_equal(json_array_size(json_object_get(doc, "roster")), 0);
	/* unsigned: no epoch, no message */
	job = commit_epoch(room, 1, &mentor, both, 2, key);
	assert_int_equal(job->err, EM_ERR_AGREEMENT_UNSIGNED);
	db_job_free(job);

	/* forged, wrong signer, stranger, wrong version */
	job = sign_version(room, pending, &e1, &e1, 1);
	assert_int_equal(job->err, EM_ERR_BAD_SIGNATURE);
	db_job_free(job);
	job = sign_version(room, pending, &e1, &mentor, 0); /* signed with another key */
	assert_int_equal(job->err, EM_ERR_BAD_SIGNATURE);
	db_job_free(job);
	job = sign_version(room, pending, &e2, &e2, 0); /* not in the room */
	assert_int_equal(job->err, EM_ERR_NOT_FOUND);
	db_job_free(job);
	json_object_set_new(pending, "version", json_integer(9));
	job = sign_version(room, pending, &e1, &e1, 0);
	assert_int_equal(job->err, EM_ERR_STALE_VERSION);
	db_job_free(job);
	json_decref(doc);

	/* everyone signs: active, all three on... the roster is the two members */
	for (int i = 0; i < 3; i++) {
		doc = agreement_of(room, parties3[i]);
		job = sign_version(room, json_object_get(doc, "pending"), parties3[i], parties3[i],
		                   0);
		if (job->err)
			fail_msg("sign %d: %s %s", i, em_err_code(job->err), job->message);
		db_job_free(job);
		json_decref(doc);
	}
	doc = agreement_of(room, &mgr);
	assert_non_null(json_object_get(doc, "active"));
	assert_true(json_is_null(json_object_get(doc, "pending")));
	assert_int_equal(json_array_size(json_object_get(doc, "roster")), 2);
	json_decref(doc);
	job = commit_epoch(room, 1, &mentor, both, 2, key); /* naming no agreement version */
	assert_int_equal(job->err, EM_ERR_STALE_VERSION);
	db_job_free(job);
	job = commit_epoch_v(room, 1, &mentor, both, 2, key, 1);
	assert_int_equal(job->err, EM_OK);
	db_job_free(job);
	randombytes_buf(id, 16);
	batch[0] = send_job(room, 1, &e1, id, key, "signed and sealed");
	message_batch_run(&conn, batch, 1);
	assert_int_equal(batch[0]->err, EM_OK);
	db_job_free(batch[0]);

	/* a new mentee: a pending version, the old one still rules; not on the roster */
	job = run_op(room_add_run,
	             json_pack("{sIss}", "room_id", (json_int_t)room, "username", "agre2"), &mgr);
	assert_int_equal(job->err, EM_OK);
	db_job_free(job);
	doc = agreement_of(room, &e2);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(doc, "pending"), "version")), 2);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(doc, "active"), "version")), 1);
	json_decref(doc);
	job = commit_epoch_v(room, 2, &mentor, three, 3, key, 1); /* sealing to e2: refused */
	assert_int_equal(job->err, EM_ERR_ROSTER_MISMATCH);
	db_job_free(job);
	job = commit_epoch_v(room, 2, &e2, three, 2, key, 1); /* e2 commits: not on the roster */
	assert_int_equal(job->err, EM_ERR_AGREEMENT_UNSIGNED);
	db_job_free(job);
	job = commit_epoch_v(room, 2, &mentor, both, 2, key, 2); /* the pending version */
	assert_int_equal(job->err, EM_ERR_STALE_VERSION);
	db_job_free(job);
	job = commit_epoch_v(room, 2, &mentor, both, 2, key, 1);
	assert_int_equal(job->err, EM_OK);
	db_job_free(job);
	randombytes_buf(id, 16);
	batch[0] = send_job(room, 2, &e2, id, key, "let me in");
	message_batch_run(&conn, batch, 1);
	assert_int_equal(batch[0]->err, EM_ERR_AGREEMENT_UNSIGNED);
	db_job_free(batch[0]);

	/* propose a term: version 3 replaces the pending 2 */
	job = run_op(agreement_propose_run,
	             json_pack("{sIss}", "room_id", (json_int_t)room, "term", "Phones off"), &e1);
	assert_int_equal(job->err, EM_OK);
	pending = json_object_get(json_object_get(job->result, "agreement"), "pending");
	assert_int_equal(json_integer_value(json_object_get(pending, "version")), 3);
	assert_non_null(strstr(json_string_value(json_object_get(pending, "terms")),
	                       "Added by agre1: Phones off"));
	db_job_free(job);

	/* e1 withdraws: off the roster, the room must rotate */
	doc = agreement_of(room, &e1);
	{
		json_t *act = json_object_get(doc, "active"), *it;
		struct em_party p[7];
		size_t i;

		json_array_foreach(json_object_get(act, "parties"), i, it)
		{
			p[i].user_id = (uint64_t)json_integer_value(json_object_get(it, "user_id"));
			p[i].role = json_string_value(json_object_get(it, "role"));
			em_b64_decode(json_string_value(json_object_get(it, "sign_pk")),
			              p[i].sign_pk, 32);
			em_b64_decode(json_string_value(json_object_get(it, "box_pk")), p[i].box_pk,
			              32);
		}
		em_agreement_hash((uint64_t)room, 1,
		                  json_string_value(json_object_get(act, "starts_on")),
		                  json_string_value(json_object_get(act, "ends_on")),
		                  json_string_value(json_object_get(act, "terms")), p, i, hash);
	}
	json_decref(doc);
	snprintf(sql, sizeof(sql), "room:%lld", (long long)room);
	em_consent_sign(e1.keys.sign_pk, "agreement", sql, hash, "withdraw", now, e1.keys.sign_sk,
	                sig);
	job = run_op(consent_withdraw_run,
	             json_pack("{sssssosIso}", "purpose", "agreement", "subject", sql, "text_hash",
	                       b64(hash, 32), "at", (json_int_t)now, "signature", b64(sig, 64)),
	             &e1);
	if (job->err)
		fail_msg("withdraw: %s %s", em_err_code(job->err), job->message);
	db_job_free(job);
	doc = agreement_of(room, &mgr);
	assert_int_equal(json_array_size(json_object_get(doc, "roster")), 1);
	json_decref(doc);
	randombytes_buf(id, 16);
	batch[0] = send_job(room, 2, &e1, id, key, "still here?");
	message_batch_run(&conn, batch, 1);
	assert_int_equal(batch[0]->err, EM_ERR_AGREEMENT_UNSIGNED);
	db_job_free(batch[0]);
	/* withdrawing twice: nothing standing */
	em_consent_sign(e1.keys.sign_pk, "agreement", sql, hash, "withdraw", now, e1.keys.sign_sk,
	                sig);
	expect_err(consent_withdraw_run,
	           json_pack("{sssssosIso}", "purpose", "agreement", "subject", sql, "text_hash",
	                     b64(hash, 32), "at", (json_int_t)now, "signature", b64(sig, 64)),
	           &e1, EM_ERR_BAD_STATE);
	/* granting an agreement outside agreement.sign is refused */
	em_consent_sign(e1.keys.sign_pk, "agreement", sql, hash, "grant", now, e1.keys.sign_sk,
	                sig);
	expect_err(consent_grant_run,
	           json_pack("{sssssosIso}", "purpose", "agreement", "subject", sql, "text_hash",
	                     b64(hash, 32), "at", (json_int_t)now, "signature", b64(sig, 64)),
	           &e1, EM_ERR_BAD_VALUE);

	/* the ledger: intact, then an edited row is found */
	assert_int_equal(ledger_ok(), 0);
	{
		PGconn *pg = PQconnectdb(test_conninfo);
		PGresult *r =
		    PQexec(pg, "ALTER TABLE consent_ledger DISABLE TRIGGER USER; "
		               "UPDATE consent_ledger SET subject = 'room:999' WHERE seq = 7; "
		               "ALTER TABLE consent_ledger ENABLE TRIGGER USER");

		assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
		PQclear(r);
		assert_int_equal(ledger_verify(pg, NULL), 1);
		r = PQexec(pg, "UPDATE consent_ledger SET subject = 'x' WHERE seq = 1");
		assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR); /* the trigger refuses */
		PQclear(r);
		PQfinish(pg);
	}

	/* erasure: e3 withdraws data processing */
	em_consent_sign(e3.keys.sign_pk, "data_processing", ledger_notice_version(NULL),
	                ledger_notice_hash(NULL), "withdraw", now, e3.keys.sign_sk, sig);
	job = run_op(consent_withdraw_run,
	             json_pack("{sssssosIso}", "purpose", "data_processing", "subject",
	                       ledger_notice_version(NULL), "text_hash",
	                       b64(ledger_notice_hash(NULL), 32), "at", (json_int_t)now,
	                       "signature", b64(sig, 64)),
	             &e3);
	if (job->err)
		fail_msg("erase: %s %s", em_err_code(job->err), job->message);
	db_job_free(job);
	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM users WHERE id = %lld AND erased_at IS NOT NULL AND "
	         "length(key_backup) = 0 AND username LIKE '~erased-%%' AND sign_pk = "
	         "'\\x%064d'::bytea",
	         (long long)e3.user_id, 0);
	assert_int_equal(sql_int(sql), 1);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM sessions WHERE user_id = %lld",
	         (long long)e3.user_id);
	assert_int_equal(sql_int(sql), 0);
	{
		unsigned char auth_key[32];

		test_auth_key("agre3", "pw", auth_key);
		expect_err(auth_login_run,
		           json_pack("{ssso}", "username", "agre3", "auth_key", b64(auth_key, 32)),
		           NULL, EM_ERR_BAD_CREDENTIALS);
	}

	/* retention: the programme ended long ago for a clock 1000 days ahead */
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM messages WHERE room_id = %lld",
	         (long long)room);
	assert_true(sql_int(sql) > 0);
	server_set_clock_offset(0);
	{
		PGconn *pg = PQconnectdb(test_conninfo);

		server_set_clock_offset(1000 * 86400);
		assert_int_equal(retention_purge_now(pg), 0);
		server_set_clock_offset(0);
		PQfinish(pg);
	}
	assert_int_equal(sql_int(sql), 0);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM key_envelopes WHERE room_id = %lld",
	         (long long)room);
	assert_int_equal(sql_int(sql), 0);
	snprintf(sql, sizeof(sql), "SELECT sum(messages) FROM room_activity WHERE room_id = %lld",
	         (long long)room);
	assert_int_equal(sql_int(sql), 1);
}

/* ---- section 8: the manager's audit --------------------------------------------- */

static void sql_exec(const char *sql)
{
	PGconn *pg = PQconnectdb(test_conninfo);
	PGresult *r = PQexec(pg, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(pg);
}

/* One login of a parallel burst: its own connection, like one DB worker of one node. */
struct racer {
	pthread_t thread;
	pthread_barrier_t *start;
	struct db_conn conn;
	char username[40], addr[64];
	unsigned char auth_key[32];
	int err;
};

static void *racer_run(void *arg)
{
	struct racer *r = arg;
	struct db_job *job = db_job_new();
	char *key = em_b64_encode(r->auth_key, 32);

	job->args = json_pack("{ssss}", "username", r->username, "auth_key", key);
	snprintf(job->addr, sizeof(job->addr), "%s", r->addr);
	job->err = EM_OK;
	pthread_barrier_wait(r->start);
	auth_login_run(&r->conn, job);
	r->err = job->err;
	db_job_free(job);
	free(key);
	return NULL;
}

/*
 * n logins at once (racers[i] filled by the caller), each on a connection
 * of its own, released together; counts the answers with code `want`.
 */
static int race_logins(struct racer *racers, int n, int want)
{
	pthread_barrier_t start;
	int i, count = 0;

	pthread_barrier_init(&start, NULL, (unsigned)n);
	for (i = 0; i < n; i++) {
		assert_int_equal(store_connect(&racers[i].conn, test_conninfo), 0);
		racers[i].start = &start;
	}
	for (i = 0; i < n; i++)
		assert_int_equal(pthread_create(&racers[i].thread, NULL, racer_run, &racers[i]), 0);
	for (i = 0; i < n; i++) {
		pthread_join(racers[i].thread, NULL);
		store_disconnect(&racers[i].conn);
		count += racers[i].err == want;
	}
	pthread_barrier_destroy(&start);
	return count;
}

#define RACERS 64

/*
 * The limits hold under races: 64 wrong logins at once for one account from
 * one address let exactly 10 be tried (the others: rate_limited), and 64 at
 * once for 64 accounts from one address exactly 50.
 */
static void test_login_limit_concurrent(void **state)
{
	struct racer *racers = calloc(RACERS, sizeof(*racers));
	struct who frank = {0};
	int i, tried;

	(void)state;
	assert_non_null(racers);
	make_user("manager", 0, NULL, "frank", &frank);
	for (i = 0; i < RACERS; i++) {
		snprintf(racers[i].username, sizeof(racers[i].username), "frank");
		snprintf(racers[i].addr, sizeof(racers[i].addr), "198.51.100.7");
		test_auth_key("frank", "guess", racers[i].auth_key);
		racers[i].auth_key[0] ^= (unsigned char)i;
	}
	tried = race_logins(racers, RACERS, EM_ERR_BAD_CREDENTIALS);
	assert_int_equal(tried, 10);
	for (i = 0; i < RACERS; i++)
		assert_true(racers[i].err == EM_ERR_BAD_CREDENTIALS ||
		            racers[i].err == EM_ERR_RATE_LIMITED);
	assert_int_equal(sql_int("SELECT count(*) FROM login_attempts WHERE username = 'frank' "
	                         "AND addr = '198.51.100.7' AND NOT ok"),
	                 10);

	memset(racers, 0, RACERS * sizeof(*racers));
	for (i = 0; i < RACERS; i++) {
		snprintf(racers[i].username, sizeof(racers[i].username), "sprayed%d", i);
		snprintf(racers[i].addr, sizeof(racers[i].addr), "198.51.100.8");
		test_auth_key(racers[i].username, "guess", racers[i].auth_key);
	}
	tried = race_logins(racers, RACERS, EM_ERR_BAD_CREDENTIALS);
	assert_int_equal(tried, 50);
	assert_int_equal(
	    sql_int("SELECT count(*) FROM login_attempts WHERE addr = '198.51.100.8' AND NOT ok"),
	    50);
	free(racers);
}

/* One login of username from addr; returns the job (the caller frees it). */
static struct db_job *login_from(const char *username, const char *password, const char *addr)
{
	unsigned char key[32];
	struct db_job *job = db_job_new();

	test_auth_key(username, password, key);
	job->args = json_pack("{ssso}", "username", username, "auth_key", b64(key, 32));
	snprintf(job->addr, sizeof(job->addr), "%s", addr);
	job->err = EM_OK;
	auth_login_run(&conn, job);
	return job;
}

static int login_err(const char *username, const char *password, const char *addr,
                     int64_t *retry_after_ms)
{
	struct db_job *job = login_from(username, password, addr);
	int err = job->err;

	if (retry_after_ms)
		*retry_after_ms = job->retry_after_ms;
	db_job_free(job);
	return err;
}

/*
 * A stranger cannot lock a person out: their wrong guesses block their own
 * address for that account after 10; the user logs in at once from an
 * address they used before, and from a new one after a delay that grows
 * with the failures but never passes 60 s.
 */
static void test_login_stranger(void **state)
{
	struct who gina = {0};
	int64_t retry;
	int i;

	(void)state;
	make_user("mentor", 0, NULL, "gina", &gina); /* logs in from 127.0.0.1 */
	for (i = 0; i < 10; i++)
		assert_int_equal(login_err("gina", "guess", "203.0.113.9", NULL),
		                 EM_ERR_BAD_CREDENTIALS);
	/* the stranger's address is done with this account for 15 minutes */
	assert_int_equal(login_err("gina", "guess", "203.0.113.9", &retry), EM_ERR_RATE_LIMITED);
	assert_in_range(retry, 14 * 60 * 1000, 15 * 60 * 1000);
	assert_int_equal(login_err("gina", "pw", "203.0.113.9", NULL), EM_ERR_RATE_LIMITED);
	/* gina, from where she logged in before: at once */
	assert_int_equal(login_err("gina", "pw", "127.0.0.1", NULL), EM_OK);
	/* from a new address: after the account's delay (1 s after 10 failures) */
	assert_int_equal(login_err("gina", "pw", "192.0.2.1", &retry), EM_ERR_RATE_LIMITED);
	assert_in_range(retry, 1, 1000);
	sql_exec("UPDATE login_attempts SET at = at - interval '1 s' WHERE username = 'gina'");
	assert_int_equal(login_err("gina", "pw", "192.0.2.1", NULL), EM_OK);

	/* many strangers (one guess per address): each failure doubles the delay, up to 60 s */
	for (i = 0; i < 12; i++) {
		char addr[32];

		snprintf(addr, sizeof(addr), "203.0.113.%d", 100 + i);
		sql_exec("UPDATE login_attempts SET at = at - interval '61 s' WHERE username = "
		         "'gina'");
		assert_int_equal(login_err("gina", "guess", addr, NULL), EM_ERR_BAD_CREDENTIALS);
		assert_int_equal(login_err("gina", "guess", "203.0.113.200", &retry),
		                 EM_ERR_RATE_LIMITED);
		assert_in_range(retry, 1, 60 * 1000);
	}
	/* 22 failures: the delay is at its 60 s ceiling, not more (the step below it is
	 * 32 s; the time since the last failure is taken off, over a second on a loaded
	 * machine) */
	assert_in_range(retry, 50 * 1000, 60 * 1000);
	assert_int_equal(login_err("gina", "pw", "198.51.100.200", &retry), EM_ERR_RATE_LIMITED);
	assert_in_range(retry, 50 * 1000, 60 * 1000);
	sql_exec("UPDATE login_attempts SET at = at - interval '60 s' WHERE username = 'gina'");
	assert_int_equal(login_err("gina", "pw", "198.51.100.200", NULL), EM_OK);
	/* and from her known addresses never */
	assert_int_equal(login_err("gina", "pw", "192.0.2.1", NULL), EM_OK);
}

static json_t *room_in_report(json_t *report, int64_t room)
{
	json_t *it;
	size_t i;

	json_array_foreach(json_object_get(report, "rooms"), i, it)
	{
		if (json_integer_value(json_object_get(it, "room_id")) == room)
			return it;
	}
	return NULL;
}

static int has_flag(json_t *room, const char *code)
{
	json_t *it;
	size_t i;

	json_array_foreach(json_object_get(room, "flags"), i, it)
	{
		if (!strcmp(json_string_value(json_object_get(it, "code")), code))
			return 1;
	}
	return 0;
}

static void test_audit(void **state)
{
	struct who mgr = {0}, mgr2 = {0}, mentor = {0}, e1 = {0}, m2 = {0}, e2 = {0};
	const struct who *pair1[2] = {&mentor, &e1}, *pair2[2] = {&m2, &e2};
	unsigned char key[32], id[16];
	struct db_job *job, *batch[1];
	json_t *rep, *room;
	int64_t prog, prog2, busy, quiet;
	char sql[512];

	(void)state;
	make_user("manager", 0, NULL, "audmgr", &mgr);
	make_user("manager", 0, NULL, "audmgr2", &mgr2);
	prog = make_programme(&mgr, "Audit");
	prog2 = make_programme(&mgr2, "Other");
	make_user("mentor", prog, &mgr, "audmentor", &mentor);
	make_user("mentee", prog, &mgr, "aude1", &e1);
	make_user("mentor", prog, &mgr, "audm2", &m2);
	make_user("mentee", prog, &mgr, "aude2", &e2);
	job = run_op(room_create_run,
	             json_pack("{sIssso}", "programme_id", (json_int_t)prog, "kind", "pair",
	                       "members", member_list("audmentor", "aude1", NULL)),
	             &mgr);
	busy = room_id_of(job);
	db_job_free(job);
	job = run_op(room_create_run,
	             json_pack("{sIssso}", "programme_id", (json_int_t)prog, "kind", "pair",
	                       "members", member_list("audm2", "aude2", NULL)),
	             &mgr);
	quiet = room_id_of(job);
	db_job_free(job);
	job = commit_epoch(busy, 1, &mentor, pair1, 2, key);
	assert_int_equal(job->err, EM_OK);
	db_job_free(job);
	/* mentee, mentee, mentor, mentee, mentor */
	const struct who *order[5] = {&e1, &e1, &mentor, &e1, &mentor};
	for (int i = 0; i < 5; i++) {
		randombytes_buf(id, 16);
		batch[0] = send_job(busy, 1, order[i], id, key, "hello");
		message_batch_run(&conn, batch, 1);
		assert_int_equal(batch[0]->err, EM_OK);
		db_job_free(batch[0]);
	}
	/* the busy room's messages are 10, 20, ... minutes apart; the quiet room's one message is
	 * 30 days old */
	snprintf(sql, sizeof(sql),
	         "UPDATE messages SET created_at = now() - interval '2 hours' + seq * interval '10 "
	         "minutes' WHERE room_id = %lld",
	         (long long)busy);
	sql_exec(sql);
	job = commit_epoch(quiet, 1, &m2, pair2, 2, key);
	db_job_free(job);
	randombytes_buf(id, 16);
	batch[0] = send_job(quiet, 1, &m2, id, key, "anyone?");
	message_batch_run(&conn, batch, 1);
	db_job_free(batch[0]);
	snprintf(sql, sizeof(sql),
	         "UPDATE messages SET created_at = now() - interval '30 days 1 hour' WHERE room_id "
	         "= %lld; "
	         "UPDATE rooms SET created_at = now() - interval '40 days' WHERE id = %lld",
	         (long long)quiet, (long long)quiet);
	sql_exec(sql);

	/* who may ask */
	expect_err(audit_report_run, json_pack("{sI}", "programme_id", (json_int_t)prog), &mgr2,
	           EM_ERR_NOT_FOUND);
	expect_err(audit_report_run, json_pack("{sI}", "room_id", (json_int_t)busy), &mgr2,
	           EM_ERR_NOT_FOUND);
	expect_err(
	    audit_report_run,
	    json_pack("{sIsI}", "programme_id", (json_int_t)prog2, "room_id", (json_int_t)busy),
	    &mgr2, EM_ERR_NOT_FOUND);

	/* before the programme starts (2027-01-01) no room is flagged inactive */
	job = run_op(audit_report_run, json_pack("{sI}", "programme_id", (json_int_t)prog), &mgr);
	if (job->err)
		fail_msg("audit: %s %s", em_err_code(job->err), job->message);
	assert_false(has_flag(room_in_report(job->result, quiet), "inactive"));
	db_job_free(job);
	snprintf(
	    sql, sizeof(sql),
	    "UPDATE programmes SET starts_on = current_date - 60, ends_on = current_date + 120 "
	    "WHERE id = %lld",
	    (long long)prog);
	sql_exec(sql);
	job = run_op(audit_report_run, json_pack("{sI}", "programme_id", (json_int_t)prog), &mgr);
	if (job->err)
		fail_msg("audit: %s %s", em_err_code(job->err), job->message);
	rep = job->result;
	room = room_in_report(rep, busy);
	assert_non_null(room);
	assert_int_equal(json_integer_value(json_object_get(room, "messages")), 5);
	/*
	 * mentor answered at +30 min (run began +10) and +50 (run began +40): 20
	 * and 10 min, so the lower median is 10 min and the 90th percentile 20 min;
	 * the mentee answered once, after 10 min. Histograms: within 2.5 %.
	 */
	{
		json_t *rm = json_object_get(json_object_get(room, "response"), "mentor");
		json_t *re = json_object_get(json_object_get(room, "response"), "mentee");

		assert_int_equal(json_integer_value(json_object_get(rm, "n")), 2);
		assert_in_range(json_integer_value(json_object_get(rm, "median_s")), 585, 615);
		assert_in_range(json_integer_value(json_object_get(rm, "p90_s")), 1170, 1230);
		assert_int_equal(json_integer_value(json_object_get(re, "n")), 1);
		assert_in_range(json_integer_value(json_object_get(re, "median_s")), 585, 615);
	}
	assert_false(has_flag(room, "inactive"));
	room = room_in_report(rep, quiet);
	assert_true(has_flag(room, "inactive"));
	assert_int_equal(json_integer_value(json_object_get(room, "days_inactive")), 30);
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_object_get(json_object_get(rep, "summary"), "flags"), "inactive")),
	    1);
	{
		char *dump = json_dumps(rep, 0);

		assert_null(strstr(dump, "ciphertext"));
		free(dump);
	}
	db_job_free(job);

	/* pages of rooms: the summary still covers both */
	job = run_op(
	    audit_report_run,
	    json_pack("{sIsIsI}", "programme_id", (json_int_t)prog, "offset", 1, "limit", 1), &mgr);
	assert_int_equal(job->err, EM_OK);
	assert_int_equal(json_array_size(json_object_get(job->result, "rooms")), 1);
	assert_int_equal(json_integer_value(json_object_get(job->result, "rooms_total")), 2);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(job->result, "summary"), "rooms")),
	    2);
	assert_non_null(room_in_report(job->result, quiet));
	db_job_free(job);

	/* thresholds: 60 days of silence is fine now */
	job = run_op(audit_thresholds_run,
	             json_pack("{sIsI}", "programme_id", (json_int_t)prog, "inactive_days", 60),
	             &mgr);
	assert_int_equal(job->err, EM_OK);
	db_job_free(job);
	job = run_op(
	    audit_report_run,
	    json_pack("{sIsI}", "programme_id", (json_int_t)prog, "room_id", (json_int_t)quiet),
	    &mgr);
	assert_int_equal(job->err, EM_OK);
	assert_int_equal(json_array_size(json_object_get(job->result, "rooms")), 1);
	assert_false(has_flag(room_in_report(job->result, quiet), "inactive"));
	db_job_free(job);

	/*
	 * the trail: every report is recorded for every room its summary covers,
	 * whatever page of rooms came back — four views of the quiet room (three
	 * of the programme, one of the room), three of the busy room
	 */
	job = run_op(room_access_log_run, json_pack("{sI}", "room_id", (json_int_t)quiet), &e2);
	assert_int_equal(job->err, EM_OK);
	assert_int_equal(json_array_size(json_object_get(job->result, "views")), 4);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(job->result, "views"), 0), "viewer")),
	    "audmgr");
	db_job_free(job);
	job = run_op(room_access_log_run, json_pack("{sI}", "room_id", (json_int_t)busy), &e1);
	assert_int_equal(json_array_size(json_object_get(job->result, "views")), 3);
	db_job_free(job);
	/* a page past the end returns no room but the summary: still recorded */
	job = run_op(audit_report_run,
	             json_pack("{sIsIsI}", "programme_id", (json_int_t)prog, "room_id",
	                       (json_int_t)busy, "offset", 5),
	             &mgr);
	assert_int_equal(job->err, EM_OK);
	assert_int_equal(json_array_size(json_object_get(job->result, "rooms")), 0);
	db_job_free(job);
	job = run_op(room_access_log_run, json_pack("{sI}", "room_id", (json_int_t)busy), &e1);
	assert_int_equal(json_array_size(json_object_get(job->result, "views")), 4);
	db_job_free(job);
	expect_err(room_access_log_run, json_pack("{sI}", "room_id", (json_int_t)busy), &e2,
	           EM_ERR_NOT_FOUND);

	/* enforced, not promised: the views carry no content, the role reads nothing else */
	assert_int_equal(
	    sql_int(
	        "SELECT count(*) FROM information_schema.columns WHERE table_name LIKE 'audit\\_%' "
	        "AND column_name ~ "
	        "'(cipher|^sig$|signature|seal|_pk$|key|nonce|hash|reason|place|token|secret)'"),
	    0);
	assert_int_equal(sql_int("SELECT count(*) FROM information_schema.role_table_grants WHERE "
	                         "grantee = 'ementor_audit' AND table_name NOT LIKE 'audit\\_%'"),
	                 0);
	{
		PGconn *pg = PQconnectdb(test_conninfo);
		PGresult *r =
		    PQexec(pg, "BEGIN; SET LOCAL ROLE ementor_audit; SELECT ciphertext FROM "
		               "messages LIMIT 1");

		assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
		assert_non_null(strstr(PQresultErrorMessage(r), "permission denied"));
		PQclear(r);
		PQfinish(pg);
	}
}

/*
 * days_inactive at its lower boundary: a room made and a member added this
 * very moment are 0 days inactive, never -1, and so is a room whose activity
 * the database stamped a little ahead of the server's clock (another node's,
 * or PostgreSQL's own on another host).
 */
static void test_audit_days_inactive(void **state)
{
	struct who mgr = {0}, mentor = {0}, mentee = {0}, mentor2 = {0}, mentee2 = {0};
	struct db_job *job;
	json_t *room, *member;
	int64_t prog, now_room, ahead_room;
	size_t i;
	char sql[512];

	(void)state;
	make_user("manager", 0, NULL, "dimgr", &mgr);
	prog = make_programme(&mgr, "Boundary");
	make_user("mentor", prog, &mgr, "dimentor", &mentor);
	make_user("mentee", prog, &mgr, "dimentee", &mentee);
	make_user("mentor", prog, &mgr, "dimentor2", &mentor2);
	make_user("mentee", prog, &mgr, "dimentee2", &mentee2);
	job = run_op(room_create_run,
	             json_pack("{sIssso}", "programme_id", (json_int_t)prog, "kind", "pair",
	                       "members", member_list("dimentor", "dimentee", NULL)),
	             &mgr);
	now_room = room_id_of(job);
	db_job_free(job);
	job = run_op(room_create_run,
	             json_pack("{sIssso}", "programme_id", (json_int_t)prog, "kind", "pair",
	                       "members", member_list("dimentor2", "dimentee2", NULL)),
	             &mgr);
	ahead_room = room_id_of(job);
	db_job_free(job);
	/* the first room and its members: now, to the microsecond; the second: 1.5 s ahead */
	snprintf(sql, sizeof(sql),
	         "UPDATE rooms SET created_at = clock_timestamp() WHERE id = %lld; "
	         "UPDATE room_members SET added_at = clock_timestamp() WHERE room_id = %lld; "
	         "UPDATE rooms SET created_at = clock_timestamp() + interval '1.5 s' WHERE id = "
	         "%lld; UPDATE room_members SET added_at = clock_timestamp() + interval '1.5 s' "
	         "WHERE room_id = %lld",
	         (long long)now_room, (long long)now_room, (long long)ahead_room,
	         (long long)ahead_room);
	sql_exec(sql);
	job = run_op(audit_report_run, json_pack("{sI}", "programme_id", (json_int_t)prog), &mgr);
	if (job->err)
		fail_msg("audit: %s %s", em_err_code(job->err), job->message);
	for (int k = 0; k < 2; k++) {
		room = room_in_report(job->result, k ? ahead_room : now_room);
		assert_non_null(room);
		assert_int_equal(json_integer_value(json_object_get(room, "days_inactive")), 0);
		assert_true(json_is_true(json_object_get(room, "active")));
		assert_false(has_flag(room, "inactive"));
		json_array_foreach(json_object_get(room, "members"), i, member)
		{
			assert_int_equal(
			    json_integer_value(json_object_get(member, "days_inactive")), 0);
		}
		assert_int_equal(json_array_size(json_object_get(room, "members")), 2);
	}
	db_job_free(job);

	/* one day ago to the second, by the database's clock: 1 day */
	snprintf(sql, sizeof(sql),
	         "UPDATE rooms SET created_at = clock_timestamp() - interval '1 day' WHERE id = "
	         "%lld",
	         (long long)now_room);
	sql_exec(sql);
	job = run_op(
	    audit_report_run,
	    json_pack("{sIsI}", "programme_id", (json_int_t)prog, "room_id", (json_int_t)now_room),
	    &mgr);
	assert_int_equal(job->err, EM_OK);
	room = room_in_report(job->result, now_room);
	assert_int_equal(json_integer_value(json_object_get(room, "days_inactive")), 1);
	db_job_free(job);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_register_login_resume_logout),
	    cmocka_unit_test(test_prelogin),
	    cmocka_unit_test(test_random_token_no_leading_dash),
	    cmocka_unit_test(test_login_rate_limit),
	    cmocka_unit_test(test_login_limit_concurrent),
	    cmocka_unit_test(test_login_stranger),
	    cmocka_unit_test(test_passwd_revokes_other_sessions),
	    cmocka_unit_test(test_rooms),
	    cmocka_unit_test(test_invite_accept),
	    cmocka_unit_test(test_messaging),
	    cmocka_unit_test(test_audit),
	    cmocka_unit_test(test_audit_days_inactive),
	    cmocka_unit_test(test_agreements),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
