/*
 * test_notify_codec.c - server/notify_codec.c: the NOTIFY payloads between
 * nodes. Every kind written as the exact text other nodes expect and read
 * back; everything the writer could not have written refused (signs,
 * leading zeros, spacing, out-of-range numbers, backwards ranges, bad names,
 * truncation, trailing bytes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "notify_codec.h"

#define NODE "0123456789abcdef"

static void round_trip(const struct notify *n, const char *want)
{
	char out[NOTIFY_PAYLOAD_MAX + 1];
	struct notify back;
	int len = notify_encode(n, out, sizeof(out));

	assert_int_equal(len, (int)strlen(want));
	assert_string_equal(out, want);
	assert_int_equal(notify_decode(out, (size_t)len, &back), 0);
	assert_memory_equal(&back, n, sizeof(back));
}

static struct notify make(enum notify_kind kind)
{
	struct notify n;

	memset(&n, 0, sizeof(n));
	memcpy(n.node, NODE, NOTIFY_NODE_LEN);
	n.kind = kind;
	return n;
}

static void test_every_kind(void **state)
{
	struct notify n;

	(void)state;
	n = make(NOTIFY_MESSAGES);
	n.room = 7, n.first = 10, n.last = 12;
	round_trip(&n, NODE " m 7 10 12");
	n = make(NOTIFY_RECEIPT);
	n.room = 7, n.user = 3, n.seq = 41;
	strcpy(n.word, "mia.k");
	round_trip(&n, NODE " r 7 3 41 mia.k");
	n = make(NOTIFY_ROOM);
	n.room = 7;
	strcpy(n.word, "agreement");
	round_trip(&n, NODE " Q 7 agreement");
	n = make(NOTIFY_MEMBERSHIP);
	n.user = 3, n.room = 7;
	strcpy(n.word, "removed");
	round_trip(&n, NODE " R 3 7 removed");
	n = make(NOTIFY_EPOCH);
	n.user = 3, n.room = 7, n.epoch = 2147483647;
	round_trip(&n, NODE " e 3 7 2147483647");
	n = make(NOTIFY_NOTICE);
	n.user = 3, n.id = 9007199254740991LL;
	round_trip(&n, NODE " n 3 9007199254740991");
	n = make(NOTIFY_TYPING);
	n.room = 7, n.user = 3;
	strcpy(n.word, "Sam_2");
	round_trip(&n, NODE " t 7 3 Sam_2");
	n = make(NOTIFY_ERASED);
	n.user = 3;
	round_trip(&n, NODE " x 3");
	n = make(NOTIFY_SESSION_ENDED);
	n.user = 3, n.id = 55;
	round_trip(&n, NODE " k 3 55");
	n = make(NOTIFY_SESSIONS_REVOKED);
	n.user = 3, n.id = 56;
	round_trip(&n, NODE " K 3 56");
	n = make(NOTIFY_HELLO);
	round_trip(&n, NODE " h");
	/* the longest payload fits the documented bound */
	n = make(NOTIFY_RECEIPT);
	n.room = n.user = n.seq = 9007199254740991LL;
	memset(n.word, 'a', NOTIFY_WORD_MAX);
	n.word[NOTIFY_WORD_MAX] = '\0';
	{
		char out[NOTIFY_PAYLOAD_MAX + 1];

		assert_true(notify_encode(&n, out, sizeof(out)) > 0);
	}
}

static void refused(const char *text)
{
	struct notify n;

	memset(&n, 0x55, sizeof(n));
	if (notify_decode(text, strlen(text), &n) == 0)
		fail_msg("accepted: \"%s\"", text);
	/* a refusal leaves nothing half-read */
	for (size_t i = 0; i < sizeof(n); i++)
		assert_int_equal(((unsigned char *)&n)[i], 0);
}

static void test_decode_refuses(void **state)
{
	static const char *const bad[] = {
	    "",
	    NODE,
	    NODE " ",
	    NODE " z 1",                /* unknown kind */
	    "0123456789ABCDEF m 1 1 1", /* upper-case node id */
	    "0123456789abcde m 1 1 1",  /* short node id */
	    NODE "  m 1 1 1",           /* two spaces */
	    NODE " m 1 1 1 ",           /* trailing space */
	    NODE " m 1 1",              /* missing field */
	    NODE " m 1 1 1 1",          /* extra field */
	    NODE " m 1 1 1x",
	    NODE " m +1 1 1",
	    NODE " m -1 1 1",
	    NODE " m 01 1 1",
	    NODE " m 0 1 1",
	    NODE " m 1 5 4",                /* backwards range */
	    NODE " m 1 1 9007199254740992", /* 2^53 */
	    NODE " m 1 1 99999999999999999",
	    NODE " e 1 1 2147483648", /* epoch beyond INT32_MAX */
	    NODE " r 1 1 1 x",        /* username too short */
	    NODE " r 1 1 1 -abc",     /* username must start with a letter or digit */
	    NODE " r 1 1 1 ab\xc3\xa9",
	    NODE " t 1 1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 33 characters */
	    NODE " Q 1 Added",                               /* change words are lower case */
	    NODE " Q 1 added2",
	    NODE " R 1 1",
	    NODE " h 1",
	    NODE " x\t1",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused(bad[i]);
}

/* The length is the payload's: bytes after it are not read, a NUL inside is refused. */
static void test_decode_length(void **state)
{
	static const char text[] = NODE " x 12\0 9";
	struct notify n;

	(void)state;
	assert_int_equal(notify_decode(text, strlen(NODE " x 12"), &n), 0);
	assert_int_equal(n.user, 12);
	assert_int_equal(notify_decode(text, sizeof(text) - 1, &n), -1);
	assert_int_equal(notify_decode(text, strlen(NODE " x 1"), &n), 0);
	assert_int_equal(n.user, 1);
}

static void test_encode_refuses(void **state)
{
	char out[NOTIFY_PAYLOAD_MAX + 1];
	struct notify n = make(NOTIFY_MESSAGES);

	(void)state;
	n.room = 1, n.first = 3, n.last = 2;
	assert_int_equal(notify_encode(&n, out, sizeof(out)), -1);
	n.first = 0, n.last = 2;
	assert_int_equal(notify_encode(&n, out, sizeof(out)), -1);
	n.first = 1;
	assert_int_equal(notify_encode(&n, out, 10), -1);
	assert_int_equal(notify_encode(&n, out, strlen(NODE " m 1 1 2")), -1);
	assert_int_equal(notify_encode(&n, out, strlen(NODE " m 1 1 2") + 1), 18 + 6);
	n = make(NOTIFY_ROOM);
	n.room = 1;
	assert_int_equal(notify_encode(&n, out, sizeof(out)), -1); /* no change word */
	n = make(NOTIFY_TYPING);
	n.room = 1, n.user = 2;
	strcpy(n.word, "a b");
	assert_int_equal(notify_encode(&n, out, sizeof(out)), -1);
	n = make(NOTIFY_HELLO);
	n.node[3] = 'G';
	assert_int_equal(notify_encode(&n, out, sizeof(out)), -1);
	n = make(NOTIFY_HELLO);
	n.kind = (enum notify_kind)'?';
	assert_int_equal(notify_encode(&n, out, sizeof(out)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_kind),
	    cmocka_unit_test(test_decode_refuses),
	    cmocka_unit_test(test_decode_length),
	    cmocka_unit_test(test_encode_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
