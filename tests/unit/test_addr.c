/*
 * test_addr.c - the address keys the per-address limits count by
 * (server/addr.c): IPv4 as it is, IPv4-mapped IPv6 as IPv4, IPv6 by /64.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "addr.h"

static void expect_key(const char *peer, const char *want)
{
	char out[ADDR_KEY_MAX];

	addr_key(peer, out, sizeof(out));
	assert_string_equal(out, want);
}

static void test_ipv4(void **state)
{
	(void)state;
	expect_key("192.0.2.7", "192.0.2.7");
	expect_key("127.0.0.1", "127.0.0.1");
}

static void test_ipv4_mapped(void **state)
{
	(void)state;
	expect_key("::ffff:192.0.2.7", "192.0.2.7");
	expect_key("::ffff:127.0.0.1", "127.0.0.1");
}

static void test_ipv6_by_64(void **state)
{
	(void)state;
	expect_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64");
	expect_key("2001:db8:1:2::1", "2001:db8:1:2::/64");
	/* another /64 is another client */
	expect_key("2001:db8:1:3::1", "2001:db8:1:3::/64");
	expect_key("::1", "::/64");
}

static void test_not_an_address(void **state)
{
	char out[8];

	(void)state;
	expect_key("getpeername: Bad file descriptor", "getpeername: Bad file descriptor");
	expect_key("", "");
	addr_key("198.51.100.200", out, sizeof(out));
	assert_string_equal(out, "198.51.");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipv4),
	    cmocka_unit_test(test_ipv4_mapped),
	    cmocka_unit_test(test_ipv6_by_64),
	    cmocka_unit_test(test_not_an_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
