/*
 * test_client_trust.c - the rules a client keeps instead of believing the
 * server (client/trust.c): pins that are compared and never overwritten,
 * epochs and agreement versions that only move forward, the parties of
 * verified versions, announced members, and the per-device order of
 * messages (dropped, reordered, replayed).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "trust.h"

static void party(struct trust_party *p, int64_t id, const char *role)
{
	memset(p, 0, sizeof(*p));
	p->user_id = id;
	snprintf(p->role, sizeof(p->role), "%s", role);
	memset(p->sign_pk, (int)id, sizeof(p->sign_pk));
	memset(p->box_pk, (int)id + 100, sizeof(p->box_pk));
}

/* manager 1, mentor 2, mentees 3.. */
static void version(struct trust_version *v, uint32_t number, const int64_t *mentees, size_t n)
{
	memset(v, 0, sizeof(*v));
	v->version = number;
	party(&v->parties[v->n++], 1, "manager");
	party(&v->parties[v->n++], 2, "mentor");
	for (size_t i = 0; i < n; i++)
		party(&v->parties[v->n++], mentees[i], "mentee");
}

static void test_programme_and_room_pins(void **state)
{
	json_t *t = json_object();
	struct trust_programme p = {.creator_id = 1, .required = 1}, got;
	struct trust_room r;

	(void)state;
	assert_int_equal(trust_programme_get(t, 5, &got), -ENOENT);
	assert_int_equal(trust_programme_pin(t, 5, &p), TRUST_PIN_NEW);
	assert_int_equal(trust_programme_pin(t, 5, &p), TRUST_PIN_SAME);
	/* the server flipping the setting, or naming another creator, is a difference */
	p.required = 0;
	assert_int_equal(trust_programme_pin(t, 5, &p), TRUST_PIN_DIFF);
	p.required = 1;
	p.creator_id = 9;
	assert_int_equal(trust_programme_pin(t, 5, &p), TRUST_PIN_DIFF);
	assert_int_equal(trust_programme_get(t, 5, &got), 0);
	assert_int_equal(got.creator_id, 1);
	assert_true(got.required);

	assert_int_equal(trust_room_get(t, 7, &r), -ENOENT);
	assert_int_equal(trust_room_pin(t, 7, 5), TRUST_PIN_NEW);
	assert_int_equal(trust_room_pin(t, 7, 5), TRUST_PIN_SAME);
	assert_int_equal(trust_room_pin(t, 7, 6), TRUST_PIN_DIFF); /* moved to another programme */
	assert_int_equal(trust_room_get(t, 7, &r), 0);
	assert_int_equal(r.programme_id, 5);
	json_decref(t);
}

static void test_epochs_only_move_forward(void **state)
{
	json_t *t = json_object();
	struct trust_room r;

	(void)state;
	assert_int_equal(trust_epoch_raise(t, 3, 2), 1);
	assert_int_equal(trust_epoch_raise(t, 3, 2), 0);
	assert_int_equal(trust_epoch_raise(t, 3, 1), 0); /* a rollback does not lower it */
	assert_int_equal(trust_room_get(t, 3, &r), 0);
	assert_int_equal(r.max_epoch, 2);
	assert_int_equal(trust_epoch_raise(t, 3, 5), 1);
	assert_int_equal(trust_room_get(t, 3, &r), 0);
	assert_int_equal(r.max_epoch, 5);
	json_decref(t);
}

static void test_versions(void **state)
{
	const int64_t two[] = {3, 4}, one[] = {3};
	struct trust_version v1, v2, v3, got;
	struct trust_room r;
	json_t *t = json_object();

	(void)state;
	version(&v1, 1, two, 2);
	version(&v2, 2, one, 1); /* mentee 4 left */
	assert_int_equal(trust_version_put(t, 3, &v1, 1), 1);
	assert_int_equal(trust_version_put(t, 3, &v1, 1), 0);
	assert_int_equal(trust_version_put(t, 3, &v2, 1), 1);
	assert_int_equal(trust_room_get(t, 3, &r), 0);
	assert_int_equal(r.max_version, 2);
	/* an older version verified later (history) does not lower it */
	assert_int_equal(trust_version_put(t, 3, &v1, 1), 0);
	assert_int_equal(trust_room_get(t, 3, &r), 0);
	assert_int_equal(r.max_version, 2);
	/* the same number with other parties is refused; the first record stays */
	version(&v3, 2, two, 2);
	assert_int_equal(trust_version_put(t, 3, &v3, 1), -EEXIST);
	assert_int_equal(trust_version_get(t, 3, 2, &got), 0);
	assert_int_equal(got.n, 3);
	assert_memory_equal(got.parties[2].sign_pk, v2.parties[2].sign_pk, 32);
	assert_int_equal(trust_version_get(t, 3, 9, &got), -ENOENT);

	/* who may hold keys: mentor and mentees, never the manager */
	assert_true(trust_version_member(&v1, 2));
	assert_true(trust_version_member(&v1, 4));
	assert_false(trust_version_member(&v1, 1));
	assert_false(trust_version_member(&v2, 4));
	assert_false(trust_version_member(&v1, 99));
	/* a key sealed under v1 (to 4 as well) is not fit once 4 left; one under v2 is fit under v1
	 */
	assert_false(trust_version_covers(&v2, &v1));
	assert_true(trust_version_covers(&v1, &v2));
	assert_true(trust_version_covers(&v2, &v2));

	v3 = v1;
	snprintf(v3.parties[1].role, sizeof(v3.parties[1].role), "boss");
	v3.version = 7;
	assert_int_equal(trust_version_put(t, 3, &v3, 1), -EINVAL);
	json_decref(t);
}

static void test_announced(void **state)
{
	json_t *t = json_object();

	(void)state;
	assert_false(trust_announced_any(t, 4));
	assert_int_equal(trust_announce(t, 4, 2), 1);
	assert_int_equal(trust_announce(t, 4, 2), 0);
	assert_true(trust_announced_any(t, 4));
	assert_true(trust_announced(t, 4, 2));
	assert_false(trust_announced(t, 4, 3));
	assert_false(trust_announced(t, 5, 2));
	json_decref(t);
}

static void test_order(void **state)
{
	unsigned char a[EM_DEVICE_ID_BYTES], b[EM_DEVICE_ID_BYTES];
	struct trust_order_result res;
	json_t *t = json_object(), *other;

	(void)state;
	memset(a, 0xaa, sizeof(a));
	memset(b, 0xbb, sizeof(b));
	/* first sight: nothing to compare with */
	assert_int_equal(trust_order_check(t, 1, 2, a, 4, 10, &res), 0);
	assert_int_equal(res.verdict, TRUST_ORDER_FIRST);
	assert_int_equal(trust_order_check(t, 1, 2, a, 5, 11, &res), 0);
	assert_int_equal(res.verdict, TRUST_ORDER_NEXT);
	/* another device of the same user, and the same device in another room, are apart */
	assert_int_equal(trust_order_check(t, 1, 2, b, 1, 12, &res), 0);
	assert_int_equal(res.verdict, TRUST_ORDER_FIRST);
	assert_int_equal(trust_order_check(t, 2, 2, a, 1, 1, &res), 0);
	assert_int_equal(res.verdict, TRUST_ORDER_FIRST);
	/* a dropped message: 6 and 7 never came */
	assert_int_equal(trust_order_check(t, 1, 2, a, 8, 13, &res), 0);
	assert_int_equal(res.verdict, TRUST_ORDER_GAP);
	assert_int_equal(res.last_counter, 5);
	/* 7 arrives late (reordered), then 5 again under a new seq (replayed) */
	assert_int_equal(trust_order_check(t, 1, 2, a, 7, 14, &res), 0);
	assert_int_equal(res.verdict, TRUST_ORDER_BACK);
	assert_int_equal(trust_order_check(t, 1, 2, a, 5, 15, &res), 0);
	assert_int_equal(res.verdict, TRUST_ORDER_BACK);
	assert_int_equal(res.last_counter, 8); /* a lower counter never replaces a higher one */
	/* reading the history again is not an alarm */
	assert_int_equal(trust_order_check(t, 1, 2, a, 5, 11, &res), 0);
	assert_int_equal(res.verdict, TRUST_ORDER_SEEN);
	assert_int_equal(trust_order_check(t, 1, 2, a, 9, 16, &res), 0);
	assert_int_equal(res.verdict, TRUST_ORDER_NEXT);

	/* merging another command's record keeps the newer one per device */
	other = json_object();
	assert_int_equal(trust_order_check(other, 1, 2, a, 12, 20, &res), 0);
	assert_int_equal(trust_order_check(other, 1, 2, b, 1, 3, &res), 0); /* older than ours */
	assert_int_equal(trust_order_merge(t, other), 1);
	assert_int_equal(trust_order_merge(t, other), 0);
	assert_int_equal(trust_order_check(t, 1, 2, a, 13, 21, &res), 0);
	assert_int_equal(res.verdict, TRUST_ORDER_NEXT);
	assert_int_equal(trust_order_check(t, 1, 2, b, 2, 22, &res), 0);
	assert_int_equal(res.verdict, TRUST_ORDER_NEXT);
	json_decref(other);
	json_decref(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_programme_and_room_pins),
	    cmocka_unit_test(test_epochs_only_move_forward),
	    cmocka_unit_test(test_versions),
	    cmocka_unit_test(test_announced),
	    cmocka_unit_test(test_order),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
