/*
 * test_core_account.c - the client core's account commands (core/account.c)
 * against a scripted server: no network, storage in memory. Each test plays
 * the server's side frame by frame (the core's frames are parsed with the
 * server's own request parser, so their arguments are checked too) and
 * looks at what the core saved and reported: a login that saves the keys
 * and the session, a server that lists other public keys or a backup that
 * does not open (nothing saved, the session logged out), a KDF cost out of
 * bounds, registration's signed consent and key backup, passwd's prelogin
 * before the resume, logout, and no resume while a login runs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "client/mem_storage.h"
#include "core.h"
#include "em_crypto.h"
#include "em_proto.h"

#define NOW_MS   1700000000000LL
#define PASSWORD "correct horse battery"
#define MIB      (1024ULL * 1024)

/* ---- the scripted server ---- */

struct fixture {
	struct mem_storage store;
	struct emc *core;
	json_t *ended; /* the last "task" event */
	struct em_keys keys;
	unsigned char salt[EM_SALT_BYTES];
	unsigned char auth_key[32], wrap_key[32];
};

static struct fixture *fixture_new(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct emc_storage st = mem_storage_of(&f->store);

	assert_non_null(f);
	f->core = emc_new(&st, NOW_MS);
	assert_non_null(f->core);
	return f;
}

static void fixture_free(struct fixture *f)
{
	emc_free(f->core);
	json_decref(f->ended);
	mem_clear(&f->store);
	free(f);
}

/*
 * The core's next frame, parsed as the server parses it (NULL op when none):
 * events met on the way are read, a "task" one kept in f->ended.
 */
static int next_frame(struct fixture *f, struct em_request *req)
{
	char *text;
	size_t len;
	enum emc_output kind;

	memset(req, 0, sizeof(*req));
	while ((kind = emc_next(f->core, &text, &len)) != EMC_NONE) {
		if (kind == EMC_FRAME) {
			struct em_error_detail detail;
			int rc = em_request_parse(text, len, req, &detail);

			free(text);
			assert_int_equal(rc, EM_OK);
			return 1;
		}
		{
			json_t *ev = json_loadb(text, len, 0, NULL);

			if (!strcmp(json_string_value(json_object_get(ev, "ev")), "task")) {
				json_decref(f->ended);
				f->ended = ev;
			} else {
				json_decref(ev);
			}
		}
		free(text);
	}
	return 0;
}

/* The next frame must be `op`; its request is left in *req. */
static void expect_frame(struct fixture *f, enum em_op op, struct em_request *req)
{
	assert_int_equal(next_frame(f, req), 1);
	assert_string_equal(em_op_name(req->op), em_op_name(op));
}

static void reply_ok(struct fixture *f, int64_t id, json_t *result)
{
	char *text = em_encode_ok(id, result);

	assert_int_equal(emc_receive(f->core, text, strlen(text), NOW_MS), 0);
	free(text);
}

static void reply_error(struct fixture *f, int64_t id, int err)
{
	char *text = em_encode_error(id, err, "refused", 0);

	assert_int_equal(emc_receive(f->core, text, strlen(text), NOW_MS), 0);
	free(text);
}

static json_t *b64(const unsigned char *bin, size_t len)
{
	char *s = em_b64_encode(bin, len);
	json_t *v = json_string(s);

	free(s);
	return v;
}

static int64_t command(struct fixture *f, json_t *cmd)
{
	char *text = json_dumps(cmd, JSON_COMPACT);
	int64_t id = emc_command(f->core, text, NOW_MS);

	free(text);
	json_decref(cmd);
	return id;
}

/* The account as the server holds it: keys, salt, and what the password derives. */
static void account_make(struct fixture *f, const char *password)
{
	em_keys_generate(&f->keys);
	randombytes_buf(f->salt, sizeof(f->salt));
	assert_int_equal(em_kdf_derive_password(password, strlen(password), f->salt, 2, 64 * MIB,
	                                        f->auth_key, f->wrap_key),
	                 0);
}

static json_t *prelogin_result(struct fixture *f, json_int_t memlimit)
{
	return json_pack("{s:o, s:s, s:i, s:I}", "salt", b64(f->salt, sizeof(f->salt)), "alg",
	                 "argon2id13", "opslimit", 2, "memlimit", memlimit);
}

/* login's answer: the user with sign_pk/box_pk, and the backup of `keys`. */
static json_t *login_result(struct fixture *f, const unsigned char *sign_pk,
                            const unsigned char *box_pk, const char *username)
{
	unsigned char backup[EM_BACKUP_BYTES];

	em_keys_wrap(&f->keys, f->wrap_key, username, backup);
	return json_pack("{s:s, s:s, s:o, s:{s:i, s:s, s:s, s:s, s:o, s:o}}", "token",
	                 "tok-0123456789abcdef", "expires_at", "2030-01-01T00:00:00Z", "key_backup",
	                 b64(backup, sizeof(backup)), "user", "id", 7, "username", username,
	                 "display_name", username, "role", "mentee", "sign_pk", b64(sign_pk, 32),
	                 "box_pk", b64(box_pk, 32));
}

static void assert_ended(struct fixture *f, int64_t task, int ok)
{
	assert_non_null(f->ended);
	assert_int_equal(json_integer_value(json_object_get(f->ended, "task")), task);
	assert_int_equal(json_is_true(json_object_get(f->ended, "ok")), ok);
}

/* Runs a login up to the login request; leaves its id in *login_id. */
static int64_t login_until_login(struct fixture *f, int64_t *login_id)
{
	struct em_request req;
	int64_t task;

	task = command(f, json_pack("{s:s, s:s, s:s, s:s}", "cmd", "login", "username", "Ann",
	                            "password", PASSWORD, "server", "wss://example.test"));
	assert_true(task > 0);
	emc_link(f->core, 1, NOW_MS);
	expect_frame(f, EM_OP_PRELOGIN, &req);
	assert_string_equal(json_string_value(json_object_get(req.args, "username")), "ann");
	reply_ok(f, req.id, prelogin_result(f, 64 * MIB));
	em_request_clear(&req);
	expect_frame(f, EM_OP_LOGIN, &req);
	{
		/* the auth_key is the one the password derives, nothing else is sent */
		unsigned char got[32];

		assert_int_equal(
		    em_b64_decode(json_string_value(json_object_get(req.args, "auth_key")), got,
		                  32),
		    32);
		assert_memory_equal(got, f->auth_key, 32);
	}
	*login_id = req.id;
	em_request_clear(&req);
	return task;
}

/* ---- tests ---- */

static void test_login_saves_session_and_keys(void **state)
{
	struct fixture *f = fixture_new();
	struct em_request req;
	json_t *session, *keys, *result;
	int64_t task, login_id;
	char *sk;

	(void)state;
	account_make(f, PASSWORD);
	task = login_until_login(f, &login_id);
	reply_ok(f, login_id, login_result(f, f->keys.sign_pk, f->keys.box_pk, "ann"));
	assert_int_equal(next_frame(f, &req), 0);
	assert_ended(f, task, 1);
	result = json_object_get(f->ended, "result");
	assert_null(json_object_get(result, "token"));
	assert_null(json_object_get(result, "key_backup"));
	assert_non_null(json_string_value(json_object_get(result, "fingerprint")));

	session = mem_json(&f->store, "session.json");
	assert_non_null(session);
	assert_string_equal(json_string_value(json_object_get(session, "server")),
	                    "wss://example.test");
	assert_string_equal(json_string_value(json_object_get(session, "username")), "ann");
	assert_int_equal(json_integer_value(json_object_get(session, "user_id")), 7);
	assert_string_equal(json_string_value(json_object_get(session, "role")), "mentee");
	assert_string_equal(json_string_value(json_object_get(session, "token")),
	                    "tok-0123456789abcdef");
	assert_string_equal(json_string_value(json_object_get(session, "expires_at")),
	                    "2030-01-01T00:00:00Z");
	keys = mem_json(&f->store, "keys.json");
	assert_non_null(keys);
	assert_string_equal(json_string_value(json_object_get(keys, "username")), "ann");
	sk = em_b64_encode(f->keys.sign_sk, sizeof(f->keys.sign_sk));
	assert_string_equal(json_string_value(json_object_get(keys, "sign_sk")), sk);
	free(sk);
	assert_int_equal(f->core->have_session && f->core->have_keys, 1);
	json_decref(session);
	json_decref(keys);
	fixture_free(f);
}

static void test_login_refuses_other_public_keys(void **state)
{
	struct fixture *f = fixture_new();
	struct em_keys other;
	struct em_request req;
	int64_t task, login_id;

	(void)state;
	account_make(f, PASSWORD);
	em_keys_generate(&other);
	task = login_until_login(f, &login_id);
	/* the backup opens, but the server lists keys of its own making */
	reply_ok(f, login_id, login_result(f, other.sign_pk, f->keys.box_pk, "ann"));
	expect_frame(f, EM_OP_LOGOUT, &req); /* the session is not kept */
	em_request_clear(&req);
	assert_int_equal(next_frame(f, &req), 0);
	assert_ended(f, task, 0);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(f->ended, "error"), "exit")),
	    EMC_EXIT_REFUSED);
	assert_null(mem_find(&f->store, "session.json", 0));
	assert_null(mem_find(&f->store, "keys.json", 0));
	fixture_free(f);
}

static void test_login_refuses_backup_of_another_password(void **state)
{
	struct fixture *f = fixture_new();
	struct em_request req;
	int64_t task, login_id;

	(void)state;
	account_make(f, PASSWORD);
	task = login_until_login(f, &login_id);
	randombytes_buf(f->wrap_key, sizeof(f->wrap_key)); /* the backup is locked otherwise */
	reply_ok(f, login_id, login_result(f, f->keys.sign_pk, f->keys.box_pk, "ann"));
	expect_frame(f, EM_OP_LOGOUT, &req);
	em_request_clear(&req);
	assert_int_equal(next_frame(f, &req), 0);
	assert_ended(f, task, 0);
	assert_null(mem_find(&f->store, "keys.json", 0));
	fixture_free(f);
}

static void test_login_refuses_kdf_out_of_bounds(void **state)
{
	struct fixture *f = fixture_new();
	struct em_request req;
	int64_t task;

	(void)state;
	account_make(f, PASSWORD);
	task = command(f, json_pack("{s:s, s:s, s:s}", "cmd", "login", "username", "ann",
	                            "password", PASSWORD));
	emc_link(f->core, 1, NOW_MS);
	expect_frame(f, EM_OP_PRELOGIN, &req);
	/* 4 GiB of Argon2id: a server wasting the client's memory */
	reply_ok(f, req.id, prelogin_result(f, (json_int_t)(4096 * MIB)));
	em_request_clear(&req);
	assert_int_equal(next_frame(f, &req), 0);
	assert_ended(f, task, 0);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(f->ended, "error"), "exit")),
	    EMC_EXIT_NET);
	fixture_free(f);
}

static void test_login_does_not_resume_stored_session(void **state)
{
	struct fixture *f = fixture_new();
	struct em_request req;

	(void)state;
	mem_save(&f->store, "session.json",
	         "{\"server\":\"s\",\"username\":\"bob\",\"user_id\":3,\"role\":\"mentor\","
	         "\"token\":\"old\",\"expires_at\":\"x\"}",
	         strlen("{\"server\":\"s\",\"username\":\"bob\",\"user_id\":3,\"role\":"
	                "\"mentor\",\"token\":\"old\",\"expires_at\":\"x\"}"));
	emc_account_load(f->core);
	assert_int_equal(f->core->have_session, 1);
	command(f, json_pack("{s:s, s:s, s:s}", "cmd", "login", "username", "ann", "password",
	                     PASSWORD));
	emc_link(f->core, 1, NOW_MS);
	expect_frame(f, EM_OP_PRELOGIN, &req); /* not resume */
	em_request_clear(&req);
	fixture_free(f);
}

static void test_register_signs_consent_and_logs_in(void **state)
{
	struct fixture *f = fixture_new();
	unsigned char hash[EM_HASH_BYTES], sig[EM_SIG_BYTES], backup[EM_BACKUP_BYTES];
	unsigned char sign_pk[32], box_pk[32];
	struct em_request req;
	json_t *a;
	int64_t task, at;

	(void)state;
	em_text_hash("We keep your data safe.", hash);
	task = command(f, json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:o}}", "cmd", "register",
	                            "invite", "INVITE-0123456789abcdef", "username", "Cleo",
	                            "password", PASSWORD, "privacy", "version", "notice-1",
	                            "text_hash", b64(hash, sizeof(hash))));
	assert_true(task > 0);
	emc_link(f->core, 1, NOW_MS);
	expect_frame(f, EM_OP_REGISTER, &req);
	a = req.args;
	assert_string_equal(json_string_value(json_object_get(a, "username")), "cleo");
	assert_string_equal(json_string_value(json_object_get(a, "display_name")), "cleo");
	assert_string_equal(json_string_value(json_object_get(a, "privacy_version")), "notice-1");
	assert_int_equal(
	    em_b64_decode(json_string_value(json_object_get(a, "sign_pk")), sign_pk, 32), 32);
	assert_int_equal(em_b64_decode(json_string_value(json_object_get(a, "box_pk")), box_pk, 32),
	                 32);
	assert_int_equal(em_b64_decode(json_string_value(json_object_get(a, "privacy_signature")),
	                               sig, sizeof(sig)),
	                 (int)sizeof(sig));
	at = json_integer_value(json_object_get(a, "privacy_at"));
	assert_int_equal(at, NOW_MS / 1000);
	assert_int_equal(
	    em_consent_verify(sign_pk, "data_processing", "notice-1", hash, "grant", at, sig), 0);
	/* the backup opens with what the password derives with the salt sent */
	assert_int_equal(
	    em_b64_decode(json_string_value(json_object_get(a, "salt")), f->salt, sizeof(f->salt)),
	    (int)sizeof(f->salt));
	assert_int_equal(
	    em_kdf_derive_password(PASSWORD, strlen(PASSWORD), f->salt,
	                           (uint64_t)json_integer_value(json_object_get(a, "opslimit")),
	                           (uint64_t)json_integer_value(json_object_get(a, "memlimit")),
	                           f->auth_key, f->wrap_key),
	    0);
	assert_int_equal(em_b64_decode(json_string_value(json_object_get(a, "key_backup")), backup,
	                               sizeof(backup)),
	                 (int)sizeof(backup));
	assert_int_equal(em_keys_unwrap(&f->keys, f->wrap_key, "cleo", backup, sizeof(backup)), 0);
	assert_memory_equal(f->keys.sign_pk, sign_pk, 32);
	assert_memory_equal(f->keys.box_pk, box_pk, 32);
	reply_ok(
	    f, req.id,
	    json_pack("{s:{s:i, s:s}, s:i}", "user", "id", 9, "role", "mentee", "programme_id", 1));
	em_request_clear(&req);
	expect_frame(f, EM_OP_LOGIN, &req);
	reply_ok(f, req.id, login_result(f, sign_pk, box_pk, "cleo"));
	em_request_clear(&req);
	assert_int_equal(next_frame(f, &req), 0);
	assert_ended(f, task, 1);
	assert_non_null(json_object_get(json_object_get(f->ended, "result"), "fingerprint"));
	assert_non_null(mem_find(&f->store, "keys.json", 0));
	fixture_free(f);
}

static void test_register_refuses_short_password(void **state)
{
	struct fixture *f = fixture_new();
	struct em_request req;
	int64_t task;

	(void)state;
	task = command(f, json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "cmd", "register",
	                            "invite", "INVITE-0123456789abcdef", "username", "cleo",
	                            "password", "short", "privacy", "version", "n", "text_hash",
	                            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	emc_link(f->core, 1, NOW_MS);
	assert_int_equal(next_frame(f, &req), 0); /* nothing sent */
	assert_ended(f, task, 0);
	fixture_free(f);
}

/* A core logged in as ann (after a scripted login). */
static struct fixture *logged_in(void)
{
	struct fixture *f = fixture_new();
	struct em_request req;
	int64_t login_id;

	account_make(f, PASSWORD);
	login_until_login(f, &login_id);
	reply_ok(f, login_id, login_result(f, f->keys.sign_pk, f->keys.box_pk, "ann"));
	assert_int_equal(next_frame(f, &req), 0);
	emc_link(f->core, 0, NOW_MS);
	return f;
}

static void test_passwd_prelogin_before_resume(void **state)
{
	struct fixture *f = logged_in();
	unsigned char backup[EM_BACKUP_BYTES], salt[EM_SALT_BYTES], auth[32], wrap[32], got[32];
	struct em_keys opened;
	struct em_request req;
	int64_t task, resume_id, prelogin_id;

	(void)state;
	task = command(f, json_pack("{s:s, s:s, s:s}", "cmd", "passwd", "password", PASSWORD,
	                            "new_password", "a new battery staple"));
	assert_true(task > 0);
	emc_link(f->core, 1, NOW_MS);
	expect_frame(f, EM_OP_PRELOGIN, &req);
	prelogin_id = req.id;
	em_request_clear(&req);
	assert_int_equal(next_frame(f, &req), 0); /* the resume waits for prelogin's answer */
	reply_ok(f, prelogin_id, prelogin_result(f, 64 * MIB));
	expect_frame(f, EM_OP_RESUME, &req);
	resume_id = req.id;
	em_request_clear(&req);
	emc_tick(f->core, NOW_MS + 10);           /* the derivations */
	assert_int_equal(next_frame(f, &req), 0); /* passwd waits for the resume */
	reply_ok(f, resume_id,
	         json_pack("{s:s, s:{s:s}}", "expires_at", "2030-01-01T00:00:00Z", "user", "role",
	                   "mentee"));
	expect_frame(f, EM_OP_PASSWD, &req);
	assert_int_equal(
	    em_b64_decode(json_string_value(json_object_get(req.args, "auth_key")), got, 32), 32);
	assert_memory_equal(got, f->auth_key, 32);
	em_b64_decode(json_string_value(json_object_get(req.args, "salt")), salt, sizeof(salt));
	assert_int_equal(em_kdf_derive_password(
	                     "a new battery staple", strlen("a new battery staple"), salt,
	                     (uint64_t)json_integer_value(json_object_get(req.args, "opslimit")),
	                     (uint64_t)json_integer_value(json_object_get(req.args, "memlimit")),
	                     auth, wrap),
	                 0);
	em_b64_decode(json_string_value(json_object_get(req.args, "new_auth_key")), got, 32);
	assert_memory_equal(got, auth, 32);
	em_b64_decode(json_string_value(json_object_get(req.args, "key_backup")), backup,
	              sizeof(backup));
	assert_int_equal(em_keys_unwrap(&opened, wrap, "ann", backup, sizeof(backup)), 0);
	assert_memory_equal(opened.sign_pk, f->keys.sign_pk, 32); /* the same keys */
	reply_ok(f, req.id, json_pack("{s:i}", "revoked_sessions", 2));
	em_request_clear(&req);
	assert_int_equal(next_frame(f, &req), 0);
	assert_ended(f, task, 1);
	fixture_free(f);
}

static void test_logout_deletes_session_first(void **state)
{
	struct fixture *f = logged_in();
	struct em_request req;
	int64_t task;

	(void)state;
	task = command(f, json_pack("{s:s}", "cmd", "logout"));
	assert_null(mem_find(&f->store, "session.json", 0)); /* gone before the server is asked */
	assert_non_null(mem_find(&f->store, "keys.json", 0));
	emc_link(f->core, 1, NOW_MS);
	expect_frame(f, EM_OP_RESUME, &req);
	/* the server had already ended the session: logged out all the same */
	reply_error(f, req.id, EM_ERR_SESSION_EXPIRED);
	em_request_clear(&req);
	assert_int_equal(next_frame(f, &req), 0);
	assert_ended(f, task, 1);
	assert_int_equal(f->core->have_session, 0);
	fixture_free(f);
}

/* Not an account command, but the same reply path: "call" when the link is lost. */
static void test_call_survives_lost_link(void **state)
{
	struct fixture *f = logged_in();
	struct em_request req;
	int64_t task;

	(void)state;
	task = command(f, json_pack("{s:s, s:s}", "cmd", "call", "op", "room.list"));
	emc_link(f->core, 1, NOW_MS);
	expect_frame(f, EM_OP_RESUME, &req);
	reply_ok(f, req.id,
	         json_pack("{s:s, s:{s:s}}", "expires_at", "2030-01-01T00:00:00Z", "user", "role",
	                   "mentee"));
	em_request_clear(&req);
	expect_frame(f, EM_OP_ROOM_LIST, &req);
	em_request_clear(&req);
	emc_link(f->core, 0, NOW_MS); /* the core's own "unreachable" failure */
	assert_int_equal(next_frame(f, &req), 0);
	assert_ended(f, task, 0);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(f->ended, "error"), "code")),
	    "unreachable");
	fixture_free(f);
}

/* "call" passes a manager's room.show on, without its members' keys and fingerprints. */
static void test_call_room_show_without_keys(void **state)
{
	struct fixture *f = logged_in();
	struct em_request req;
	json_t *member;
	int64_t task;

	(void)state;
	task = command(f, json_pack("{s:s, s:s, s:{s:i}}", "cmd", "call", "op", "room.show", "args",
	                            "room_id", 7));
	emc_link(f->core, 1, NOW_MS);
	expect_frame(f, EM_OP_RESUME, &req);
	reply_ok(f, req.id,
	         json_pack("{s:s, s:{s:s}}", "expires_at", "2030-01-01T00:00:00Z", "user", "role",
	                   "manager"));
	em_request_clear(&req);
	expect_frame(f, EM_OP_ROOM_SHOW, &req);
	reply_ok(f, req.id,
	         json_pack("{s:{s:i, s:[{s:s, s:s, s:s, s:s, s:s}]}}", "room", "id", 7, "members",
	                   "username", "bob", "role", "mentee", "sign_pk", "AAAA", "box_pk", "BBBB",
	                   "fingerprint", "3f2a"));
	em_request_clear(&req);
	assert_int_equal(next_frame(f, &req), 0);
	assert_ended(f, task, 1);
	member = json_array_get(
	    json_object_get(json_object_get(json_object_get(f->ended, "result"), "room"),
	                    "members"),
	    0);
	assert_string_equal(json_string_value(json_object_get(member, "username")), "bob");
	assert_null(json_object_get(member, "sign_pk"));
	assert_null(json_object_get(member, "box_pk"));
	assert_null(json_object_get(member, "fingerprint"));
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_login_saves_session_and_keys),
	    cmocka_unit_test(test_login_refuses_other_public_keys),
	    cmocka_unit_test(test_login_refuses_backup_of_another_password),
	    cmocka_unit_test(test_login_refuses_kdf_out_of_bounds),
	    cmocka_unit_test(test_login_does_not_resume_stored_session),
	    cmocka_unit_test(test_register_signs_consent_and_logs_in),
	    cmocka_unit_test(test_register_refuses_short_password),
	    cmocka_unit_test(test_passwd_prelogin_before_resume),
	    cmocka_unit_test(test_logout_deletes_session_first),
	    cmocka_unit_test(test_call_survives_lost_link),
	    cmocka_unit_test(test_call_room_show_without_keys),
	};

	if (em_crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
