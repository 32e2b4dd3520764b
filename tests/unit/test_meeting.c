/*
 * test_meeting.c - a meeting topic's byte layout (core/meeting.h, PROTOCOL.md
 * 6.4) against what a hostile server can do with a stored topic: move it to
 * another meeting or room, present it under another epoch, author or
 * revision, change a byte of it or of its signature. Each must fail the
 * signature check (EM_MSG_BAD_SIGNATURE) before anything is decrypted; the
 * genuine topic opens with its text and the author's clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "meeting.h"

struct fixture {
	unsigned char key[EM_ROOM_KEY_BYTES], other_key[EM_ROOM_KEY_BYTES];
	unsigned char pk[EM_SIGN_PK_BYTES], sk[EM_SIGN_SK_BYTES];
	unsigned char pk2[EM_SIGN_PK_BYTES], sk2[EM_SIGN_SK_BYTES];
	struct emc_topic_ref ref;
	unsigned char ct[EM_TOPIC_CT_MAX], sig[EM_SIG_BYTES];
	int ct_len;
};

static const char topic[] = "Interview practice, then the CV";

static void fixture_make(struct fixture *f)
{
	assert_int_equal(sodium_init() >= 0, 1);
	memset(f, 0, sizeof(*f));
	randombytes_buf(f->key, sizeof(f->key));
	randombytes_buf(f->other_key, sizeof(f->other_key));
	crypto_sign_keypair(f->pk, f->sk);
	crypto_sign_keypair(f->pk2, f->sk2);
	f->ref = (struct emc_topic_ref){
	    .room_id = 7, .meeting_id = 41, .epoch = 3, .author_id = 12, .revision = 2};
	f->ct_len = emc_topic_seal(f->key, &f->ref, 1800000000000ULL, topic, strlen(topic), f->sk,
	                           f->ct, f->sig);
	assert_true(f->ct_len >= EM_TOPIC_CT_MIN && f->ct_len <= EM_TOPIC_CT_MAX);
	assert_int_equal((f->ct_len - 40) % EMC_TOPIC_PAD_BLOCK, 0); /* nonce + tag + padded */
}

static int open_as(const struct fixture *f, const struct emc_topic_ref *ref,
                   const unsigned char *key, const unsigned char *pk, const unsigned char *ct,
                   const unsigned char *sig, char *text, size_t *len, uint64_t *written)
{
	return emc_topic_open(key, ref, ct, (size_t)f->ct_len, sig, pk, written, text, len);
}

static void test_topic_genuine(void **state)
{
	struct fixture f;
	char text[EM_TOPIC_TEXT_MAX + 1];
	size_t len = 0;
	uint64_t written = 0;

	(void)state;
	fixture_make(&f);
	assert_int_equal(open_as(&f, &f.ref, f.key, f.pk, f.ct, f.sig, text, &len, &written),
	                 EM_MSG_OK);
	assert_int_equal(len, strlen(topic));
	assert_string_equal(text, topic);
	assert_true(written == 1800000000000ULL);
}

/* Every field the server hands out beside the ciphertext is bound by the signature. */
static void test_topic_moved_or_relabelled(void **state)
{
	struct fixture f;
	char text[EM_TOPIC_TEXT_MAX + 1];
	size_t len;
	uint64_t written;
	struct emc_topic_ref r;

	(void)state;
	fixture_make(&f);
	r = f.ref;
	r.meeting_id = 42; /* the same topic shown on another meeting of the room */
	assert_int_equal(open_as(&f, &r, f.key, f.pk, f.ct, f.sig, text, &len, &written),
	                 EM_MSG_BAD_SIGNATURE);
	r = f.ref;
	r.room_id = 8; /* ... on a meeting of another room */
	assert_int_equal(open_as(&f, &r, f.key, f.pk, f.ct, f.sig, text, &len, &written),
	                 EM_MSG_BAD_SIGNATURE);
	r = f.ref;
	r.epoch = 2;
	assert_int_equal(open_as(&f, &r, f.key, f.pk, f.ct, f.sig, text, &len, &written),
	                 EM_MSG_BAD_SIGNATURE);
	r = f.ref;
	r.author_id = 13; /* another author claimed, with that author's pinned key */
	assert_int_equal(open_as(&f, &r, f.key, f.pk2, f.ct, f.sig, text, &len, &written),
	                 EM_MSG_BAD_SIGNATURE);
	r = f.ref;
	r.revision = 3; /* an old revision shown as a newer one */
	assert_int_equal(open_as(&f, &r, f.key, f.pk, f.ct, f.sig, text, &len, &written),
	                 EM_MSG_BAD_SIGNATURE);
}

static void test_topic_altered(void **state)
{
	struct fixture f;
	char text[EM_TOPIC_TEXT_MAX + 1];
	size_t len;
	uint64_t written;
	unsigned char ct[EM_TOPIC_CT_MAX], sig[EM_SIG_BYTES];

	(void)state;
	fixture_make(&f);
	for (int at = 0; at < f.ct_len; at += 17) {
		memcpy(ct, f.ct, (size_t)f.ct_len);
		ct[at] ^= 1;
		assert_int_equal(open_as(&f, &f.ref, f.key, f.pk, ct, f.sig, text, &len, &written),
		                 EM_MSG_BAD_SIGNATURE);
	}
	memcpy(sig, f.sig, sizeof(sig));
	sig[5] ^= 0x80;
	assert_int_equal(open_as(&f, &f.ref, f.key, f.pk, f.ct, sig, text, &len, &written),
	                 EM_MSG_BAD_SIGNATURE);
	/* signed by the author but sealed to another key: it does not open */
	assert_int_equal(open_as(&f, &f.ref, f.other_key, f.pk, f.ct, f.sig, text, &len, &written),
	                 EM_MSG_UNDECRYPTABLE);
	/* a truncated ciphertext is refused before anything else */
	assert_int_equal(emc_topic_open(f.key, &f.ref, f.ct, EM_TOPIC_CT_MIN - 1, f.sig, f.pk,
	                                &written, text, &len),
	                 EM_MSG_MALFORMED);
}

static void test_topic_limits(void **state)
{
	struct fixture f;
	char big[EM_TOPIC_TEXT_MAX + 2];

	(void)state;
	fixture_make(&f);
	memset(big, 'a', sizeof(big));
	assert_int_equal(emc_topic_seal(f.key, &f.ref, 1, big, 0, f.sk, f.ct, f.sig), -1);
	assert_int_equal(
	    emc_topic_seal(f.key, &f.ref, 1, big, EM_TOPIC_TEXT_MAX + 1, f.sk, f.ct, f.sig), -1);
	assert_int_equal(
	    emc_topic_seal(f.key, &f.ref, 1, big, EM_TOPIC_TEXT_MAX, f.sk, f.ct, f.sig),
	    EM_TOPIC_CT_MAX);
	assert_int_equal(emc_topic_seal(f.key, &f.ref, 1, big, 1, f.sk, f.ct, f.sig),
	                 EM_TOPIC_CT_MIN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_topic_genuine),
	    cmocka_unit_test(test_topic_moved_or_relabelled),
	    cmocka_unit_test(test_topic_altered),
	    cmocka_unit_test(test_topic_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
