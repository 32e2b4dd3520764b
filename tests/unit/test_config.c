/*
 * test_config.c - server/config.c: the config file parser. The file format
 * (quotes, switches, comments, CRLF, errors with their line), and the
 * regressions tests/fuzz/fuzz_config.c and its review found: a comment
 * longer than 2 KiB spilled into an option, an empty reminder list left no
 * reminders, a bad list changed some of them, a mistyped switch meant "off".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

static int parse(struct config *cfg, const char *text, char *err, size_t errlen)
{
	config_defaults(cfg);
	err[0] = '\0';
	return config_parse(cfg, text, strlen(text), "t.conf", err, errlen);
}

static void test_format(void **state)
{
	struct config cfg;
	char err[256];

	(void)state;
	assert_int_equal(
	    parse(&cfg,
	          "# comment\r\n\r\n  port = 9443 \r\ndb = \"host=/run/pg dbname=e\"\r\n"
	          "no-migrate\r\nallow-origin = https://a.example, https://b.example\n"
	          "reminders=60\n\tlog-level = warn",
	          err, sizeof(err)),
	    0);
	assert_int_equal(cfg.port, 9443);
	assert_string_equal(cfg.db, "host=/run/pg dbname=e");
	assert_int_equal(cfg.no_migrate, 1);
	assert_int_equal(cfg.n_origins, 2);
	assert_string_equal(cfg.origins[1], "https://b.example");
	assert_int_equal(cfg.n_remind, 1);
	assert_int_equal(cfg.remind_minutes[0], 60);
	assert_string_equal(cfg.log_level, "warn");
}

static void test_errors_name_the_line(void **state)
{
	struct config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse(&cfg, "port = 1\n\nport = 0\n", err, sizeof(err)), -1);
	assert_string_equal(err, "t.conf:3: port must be a whole number from 1 to 65535");
	assert_int_equal(parse(&cfg, "# x\nport\n", err, sizeof(err)), -1);
	assert_string_equal(err, "t.conf:2: expected \"name = value\"");
	assert_int_equal(parse(&cfg, "colour = blue\n", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "t.conf:1: unknown option \"colour\""));
	assert_int_equal(config_parse(&cfg, "port = 1\0\n", 10, "t.conf", err, sizeof(err)), -1);
	assert_string_equal(err, "t.conf: the file contains a NUL byte");
}

/* A comment of any length is one line: nothing after its 2 KiB is an option. */
static void test_long_comment(void **state)
{
	size_t pad = 5000;
	char *text = malloc(pad + 64), err[256], path[] = "/tmp/ementor-test-config-XXXXXX";
	struct config cfg;
	FILE *f;
	int fd;

	(void)state;
	text[0] = '#';
	memset(text + 1, 'x', 2046);
	strcpy(text + 2047, "port = 1234\n");
	assert_int_equal(parse(&cfg, text, err, sizeof(err)), 0);
	assert_int_equal(cfg.port, 8443);
	/* the same through the file, as ementord --config reads it */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	config_defaults(&cfg);
	assert_int_equal(config_load_file(&cfg, path, err, sizeof(err)), 0);
	assert_int_equal(cfg.port, 8443);
	unlink(path);
	free(text);
}

static void test_reminders(void **state)
{
	struct config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse(&cfg, "reminders = \n", err, sizeof(err)), -1);
	assert_int_equal(parse(&cfg, "reminders = ,\n", err, sizeof(err)), -1);
	assert_int_equal(parse(&cfg, "reminders = 1,2,3,4,5\n", err, sizeof(err)), -1);
	/* a bad list changes nothing, not even its good start */
	config_defaults(&cfg);
	assert_int_equal(config_set(&cfg, "reminders", "30,x", err, sizeof(err)), -1);
	assert_int_equal(cfg.n_remind, 2);
	assert_int_equal(cfg.remind_minutes[0], 2880);
	assert_int_equal(cfg.remind_minutes[1], 120);
	assert_int_equal(parse(&cfg, "reminders = 1,20160\n", err, sizeof(err)), 0);
	assert_int_equal(cfg.n_remind, 2);
	assert_int_equal(cfg.remind_minutes[1], 20160);
}

static void test_switches(void **state)
{
	struct config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse(&cfg, "no-migrate = yes\n", err, sizeof(err)), 0);
	assert_int_equal(cfg.no_migrate, 1);
	assert_int_equal(parse(&cfg, "no-migrate = off\n", err, sizeof(err)), 0);
	assert_int_equal(cfg.no_migrate, 0);
	assert_int_equal(parse(&cfg, "no-migrate = ture\n", err, sizeof(err)), -1);
	assert_string_equal(
	    err, "t.conf:1: no-migrate is a switch: yes or no (1/0, true/false, on/off)");
	config_defaults(&cfg);
	assert_int_equal(config_set(&cfg, "no-migrate", NULL, err, sizeof(err)), 0);
	assert_int_equal(cfg.no_migrate, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format),       cmocka_unit_test(test_errors_name_the_line),
	    cmocka_unit_test(test_long_comment), cmocka_unit_test(test_reminders),
	    cmocka_unit_test(test_switches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
