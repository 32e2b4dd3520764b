/*
 * test_report.c - a concern report's quoted messages as a manager's client
 * checks them (core/report.h, PROTOCOL.md 13.2), with no room key: an
 * honest quote of a franked (v3) message verifies; a quote whose text,
 * time or franking key was altered, whose sender was swapped (another id,
 * or another key than the one pinned), which names another room or epoch,
 * or which quotes a v2 message, fails with why. And who a report is sealed
 * to: the reporter and the manager parties of the agreement version.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "em_crypto.h"
#include "report.h"

#define ROOM   7
#define EPOCH  3
#define SENDER 12

static const char text[] = "you must not tell anyone about our meetings";

struct fixture {
	unsigned char key[EM_ROOM_KEY_BYTES];
	unsigned char pk[EM_SIGN_PK_BYTES], sk[EM_SIGN_SK_BYTES];
	unsigned char pk2[EM_SIGN_PK_BYTES], sk2[EM_SIGN_SK_BYTES];
};

static char *b64(const unsigned char *b, size_t n)
{
	size_t len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *s = malloc(len);

	assert_non_null(s);
	return sodium_bin2base64(s, len, b, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void set_b64(json_t *o, const char *k, const unsigned char *b, size_t n)
{
	char *s = b64(b, n);

	json_object_set_new(o, k, json_string(s));
	free(s);
}

/* A Quote of a message `sk` sent, as the reporter's client makes it (v3, or v2 with a random fk).
 */
static json_t *quote_make(const struct fixture *f, const unsigned char *sk, const unsigned char *pk,
                          int v3)
{
	struct em_msg_meta meta = {.device = {9, 8, 7, 6, 5, 4, 3, 2},
	                           .counter = 4,
	                           .written_ms = 1800000000000ULL},
	                   got;
	unsigned char id[16], *ct = malloc(EM_MSG_CIPHERTEXT_MAX),
	                      *plain = malloc(EM_MSG_CIPHERTEXT_MAX);
	unsigned char sig[EM_SIG_BYTES];
	struct em_msg_frank frank;
	size_t plain_len;
	json_t *q;
	int n;

	assert_non_null(ct);
	assert_non_null(plain);
	randombytes_buf(id, sizeof(id));
	n = (v3 ? em_msg_encrypt_v3 : em_msg_encrypt)(f->key, ROOM, EPOCH, SENDER, id, &meta,
	                                              (const unsigned char *)text, strlen(text), sk,
	                                              ct, sig);
	assert_true(n > 0);
	assert_int_equal(em_msg_open(f->key, ROOM, EPOCH, SENDER, id, ct, (size_t)n, sig, pk, &got,
	                             plain, &plain_len, &frank),
	                 EM_MSG_OK);
	assert_int_equal(frank.version, v3 ? 3 : 2);
	if (!v3)
		randombytes_buf(frank.fk, sizeof(frank.fk));
	q = json_pack("{s:i, s:i, s:i, s:s, s:I, s:I, s:s%}", "seq", 5, "epoch", EPOCH, "sender_id",
	              SENDER, "sender", "sam", "counter", (json_int_t)got.counter, "written_ms",
	              (json_int_t)got.written_ms, "text", (const char *)plain, plain_len);
	assert_non_null(q);
	set_b64(q, "client_msg_id", id, sizeof(id));
	set_b64(q, "ciphertext", ct, (size_t)n);
	set_b64(q, "sig", sig, sizeof(sig));
	set_b64(q, "fk", frank.fk, sizeof(frank.fk));
	set_b64(q, "device", got.device, sizeof(got.device));
	set_b64(q, "sender_sign_pk", pk, EM_SIGN_PK_BYTES);
	free(ct);
	free(plain);
	return q;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || sodium_init() < 0)
		return -1;
	randombytes_buf(f->key, sizeof(f->key));
	crypto_sign_keypair(f->pk, f->sk);
	crypto_sign_keypair(f->pk2, f->sk2);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

/* The check's verdict and why (why must match `want` when it fails). */
static void expect(json_t *q, int64_t room, const unsigned char *pk, int ok, const char *want)
{
	char why[320];
	int rc = report_quote_check(q, room, pk, "sam", why, sizeof(why));

	if (ok) {
		if (rc != 0)
			fail_msg("refused: %s", why);
		return;
	}
	assert_int_equal(rc, -1);
	if (!strstr(why, want))
		fail_msg("why is \"%s\", not about \"%s\"", why, want);
}

static void test_honest_quote_verifies(void **state)
{
	struct fixture *f = *state;
	json_t *q = quote_make(f, f->sk, f->pk, 1);

	expect(q, ROOM, f->pk, 1, NULL);
	json_decref(q);
}

static void test_altered_quote_fails(void **state)
{
	struct fixture *f = *state;
	json_t *q = quote_make(f, f->sk, f->pk, 1);
	unsigned char fk[32];

	json_object_set_new(q, "text", json_string("you may tell anyone about our meetings"));
	expect(q, ROOM, f->pk, 0, "altered");
	json_decref(q);

	q = quote_make(f, f->sk, f->pk, 1);
	json_object_set_new(q, "written_ms", json_integer(1800000000001LL));
	expect(q, ROOM, f->pk, 0, "altered");
	json_decref(q);

	q = quote_make(f, f->sk, f->pk, 1);
	json_object_set_new(q, "counter", json_integer(5));
	expect(q, ROOM, f->pk, 0, "altered");
	json_decref(q);

	q = quote_make(f, f->sk, f->pk, 1);
	randombytes_buf(fk, sizeof(fk));
	set_b64(q, "fk", fk, sizeof(fk));
	expect(q, ROOM, f->pk, 0, "altered");
	json_decref(q);
}

static void test_swapped_sender_fails(void **state)
{
	struct fixture *f = *state;
	json_t *q = quote_make(f, f->sk, f->pk, 1);

	/* another sender id: not what the signature covers */
	json_object_set_new(q, "sender_id", json_integer(SENDER + 1));
	expect(q, ROOM, f->pk, 0, "did not sign");
	json_decref(q);

	/* someone else's message passed off as sam's: sam's pinned key does not verify it */
	q = quote_make(f, f->sk2, f->pk2, 1);
	set_b64(q, "sender_sign_pk", f->pk, sizeof(f->pk));
	expect(q, ROOM, f->pk, 0, "did not sign");
	json_decref(q);

	/* and naming the other key is refused before anything is checked */
	q = quote_make(f, f->sk2, f->pk2, 1);
	expect(q, ROOM, f->pk, 0, "another key");
	json_decref(q);
}

static void test_other_room_or_epoch_fails(void **state)
{
	struct fixture *f = *state;
	json_t *q = quote_make(f, f->sk, f->pk, 1);

	expect(q, ROOM + 1, f->pk, 0, "did not sign");
	json_object_set_new(q, "epoch", json_integer(EPOCH + 1));
	expect(q, ROOM, f->pk, 0, "did not sign");
	json_decref(q);
}

static void test_v2_and_malformed_fail(void **state)
{
	struct fixture *f = *state;
	json_t *q = quote_make(f, f->sk, f->pk, 0);

	/* a v2 message has no commitment: too short for v3 here, a bad v3 signature when longer */
	expect(q, ROOM, f->pk, 0, "");
	json_decref(q);

	q = quote_make(f, f->sk, f->pk, 1);
	json_object_del(q, "text");
	expect(q, ROOM, f->pk, 0, "malformed");
	json_decref(q);

	q = quote_make(f, f->sk, f->pk, 1);
	json_object_set_new(q, "fk", json_string("c2hvcnQ"));
	expect(q, ROOM, f->pk, 0, "malformed");
	json_decref(q);
}

static void party(struct trust_version *v, int64_t id, const char *role)
{
	v->parties[v->n].user_id = id;
	snprintf(v->parties[v->n].role, sizeof(v->parties[v->n].role), "%s", role);
	v->n++;
}

static void test_readers(void **state)
{
	struct trust_version v;
	uint64_t ids[ENVELOPE_RECIPIENTS];

	(void)state;
	memset(&v, 0, sizeof(v));
	v.version = 2;
	party(&v, 1, "manager");
	party(&v, 2, "mentor");
	party(&v, 3, "mentee");
	party(&v, 9, "manager");
	assert_int_equal(report_readers(&v, 3, ids), 3);
	assert_true(ids[0] == 1 && ids[1] == 3 && ids[2] == 9);
	assert_int_equal(report_readers(&v, 2, ids), 3); /* the mentor reports too */
	assert_true(ids[0] == 1 && ids[1] == 2 && ids[2] == 9);
	assert_int_equal(report_readers(&v, 4, ids), -1); /* no party */
	memset(&v, 0, sizeof(v));
	party(&v, 2, "mentor");
	party(&v, 3, "mentee");
	assert_int_equal(report_readers(&v, 3, ids), 1); /* no manager to send to */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_honest_quote_verifies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_altered_quote_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_swapped_sender_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_room_or_epoch_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v2_and_malformed_fail, setup, teardown),
	    cmocka_unit_test(test_readers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
