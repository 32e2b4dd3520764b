/*
 * test_mail_text.c - the e-mails' pure parts (server/mail_text.c): address
 * syntax, the retry backoff, and rendered messages — headers, the body in
 * both languages, links, and params that are refused or never shown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "mail_text.h"

static void test_address(void **state)
{
	char long_local[80], long_addr[300];

	(void)state;
	assert_true(mail_address_ok("ala@example.org"));
	assert_true(mail_address_ok("a.b+tag@sub.example-1.pl"));
	assert_false(mail_address_ok("ala@localhost")); /* one label */
	assert_false(mail_address_ok("ala"));
	assert_false(mail_address_ok("@example.org"));
	assert_false(mail_address_ok("ala@"));
	assert_false(mail_address_ok("ala@@example.org"));
	assert_false(mail_address_ok("a@b@example.org"));
	assert_false(mail_address_ok("ala @example.org"));
	assert_false(mail_address_ok("ala@example.org\r\nBcc: x@example.org"));
	assert_false(mail_address_ok("ala@example.org>"));
	assert_false(mail_address_ok("\"ala\"@example.org"));
	assert_false(mail_address_ok(".ala@example.org"));
	assert_false(mail_address_ok("al..a@example.org"));
	assert_false(mail_address_ok("ala.@example.org"));
	assert_false(mail_address_ok("ala@-example.org"));
	assert_false(mail_address_ok("ala@example..org"));
	assert_false(mail_address_ok("ala@exa_mple.org"));
	assert_false(mail_address_ok("ala@example.org."));
	assert_false(mail_address_ok(NULL));
	memset(long_local, 'a', 65);
	long_local[65] = '\0';
	snprintf(long_addr, sizeof(long_addr), "%s@example.org", long_local);
	assert_false(mail_address_ok(long_addr)); /* local part over 64 */
	long_local[64] = '\0';
	snprintf(long_addr, sizeof(long_addr), "%s@example.org", long_local);
	assert_true(mail_address_ok(long_addr));
}

static void test_backoff(void **state)
{
	(void)state;
	assert_int_equal(mail_backoff_s(1, 60, 3600), 60);
	assert_int_equal(mail_backoff_s(2, 60, 3600), 120);
	assert_int_equal(mail_backoff_s(3, 60, 3600), 240);
	assert_int_equal(mail_backoff_s(6, 60, 3600), 1920);
	assert_int_equal(mail_backoff_s(7, 60, 3600), 3600); /* capped */
	assert_int_equal(mail_backoff_s(1000, 60, 3600), 3600);
	assert_int_equal(mail_backoff_s(1, 0, 3600), 1);
}

/* The body of a rendered message, decoded (base64 lines after the blank line). */
static char *body_of(const char *msg)
{
	const char *p = strstr(msg, "\r\n\r\n");
	char *b64 = calloc(1, strlen(msg) + 1), *out = calloc(1, strlen(msg) + 1);
	size_t n = 0, len = 0;

	assert_non_null(p);
	for (p += 4; *p; p++)
		if (*p != '\r' && *p != '\n')
			b64[n++] = *p;
	assert_int_equal(sodium_base642bin((unsigned char *)out, strlen(msg), b64, n, NULL, &len,
	                                   NULL, sodium_base64_VARIANT_ORIGINAL),
	                 0);
	out[len] = '\0';
	free(b64);
	return out;
}

static char *render(const char *kind, const char *lang, const char *params_json, const char *unsub)
{
	json_t *params = json_loads(params_json, 0, NULL);
	struct mail_in in = {.kind = kind,
	                     .lang = lang,
	                     .params = params,
	                     .from = "noreply@mentor.example.org",
	                     .to = "ala@example.org",
	                     .message_id = "<7.tok@mentor.example.org>",
	                     .public_url = "https://mentor.example.org",
	                     .unsub_token = unsub,
	                     .date = 1796000000};
	char *msg;

	assert_non_null(params);
	msg = mail_render(&in);
	json_decref(params);
	return msg;
}

static void test_headers_and_invite(void **state)
{
	char *msg, *body;

	(void)state;
	msg = render("invite", "en",
	             "{\"code\":\"abcDEF123_-xyz\",\"role\":\"mentee\",\"expires_at\":"
	             "\"2026-12-20T10:00:00Z\"}",
	             NULL);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "From: ementor <noreply@mentor.example.org>\r\n"));
	assert_non_null(strstr(msg, "To: <ala@example.org>\r\n"));
	assert_non_null(strstr(msg, "Message-ID: <7.tok@mentor.example.org>\r\n"));
	assert_non_null(strstr(msg, "Subject: You are invited to a mentoring programme\r\n"));
	assert_non_null(strstr(msg, "Content-Language: en\r\n"));
	assert_non_null(strstr(msg, "Date: "));
	assert_null(strstr(msg, "List-Unsubscribe")); /* an invite has none, nor its -Post */
	body = body_of(msg);
	assert_non_null(strstr(body, "https://mentor.example.org/#join=abcDEF123_-xyz"));
	assert_non_null(strstr(body, "as a mentee"));
	assert_non_null(strstr(body, "2026-12-20 10:00 UTC"));
	free(body);
	free(msg);
}

static void test_polish_meeting(void **state)
{
	char *msg, *body;

	(void)state;
	msg = render("meeting", "pl",
	             "{\"event\":\"checkpoint.confirmed\",\"room_id\":12,\"checkpoint_id\":40,"
	             "\"checkpoint_kind\":\"midterm\",\"starts_at\":\"2026-12-08T17:00:00Z\"}",
	             "TOKEN43TOKEN43TOKEN43TOKEN43TOKEN43TOKEN43x");
	assert_non_null(msg);
	/* a Polish subject is RFC 2047 encoded */
	assert_non_null(strstr(msg, "Subject: =?UTF-8?B?"));
	assert_non_null(strstr(msg, "Content-Language: pl\r\n"));
	assert_non_null(strstr(msg, "List-Unsubscribe: <https://mentor.example.org/unsubscribe/"
	                            "TOKEN43TOKEN43TOKEN43TOKEN43TOKEN43TOKEN43x>"));
	assert_non_null(strstr(msg, "\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
	body = body_of(msg);
	assert_non_null(strstr(body, "Potwierdzono termin (spotkanie śródokresowe, pokój 12): "
	                             "2026-12-08 17:00 UTC."));
	assert_non_null(strstr(body, "https://mentor.example.org/#room=12"));
	assert_non_null(strstr(body, "Wyłącz wszystkie wiadomości"));
	free(body);
	free(msg);
}

static void test_only_known_params(void **state)
{
	char *msg, *body;

	(void)state;
	/* a row with text in it: none of it is shown */
	msg = render(
	    "meeting", "en",
	    "{\"event\":\"checkpoint.cancelled\",\"room_id\":3,\"checkpoint_kind\":\"final\","
	    "\"reason\":\"SECRET-REASON\",\"by\":\"SECRET-NAME\",\"place\":\"SECRET-PLACE\"}",
	    NULL);
	assert_non_null(msg);
	assert_null(strstr(msg, "SECRET"));
	body = body_of(msg);
	assert_null(strstr(body, "SECRET"));
	assert_non_null(strstr(body, "Your final meeting in room 3 was cancelled."));
	free(body);
	free(msg);
	/* a param of the wrong shape: no message at all */
	assert_null(render("meeting", "en",
	                   "{\"event\":\"checkpoint.cancelled\",\"room_id\":3,\"checkpoint_kind\":"
	                   "\"a topic\"}",
	                   NULL));
	assert_null(render("meeting", "en",
	                   "{\"event\":\"checkpoint.confirmed\",\"room_id\":3,\"checkpoint_kind\":"
	                   "\"final\",\"starts_at\":\"tomorrow at Anna's\"}",
	                   NULL));
	assert_null(render("digest", "en", "{\"room_id\":\"3\",\"unread\":2}", NULL));
	assert_null(render("invite", "en",
	                   "{\"code\":\"bad code with spaces\",\"role\":\"mentee\",\"expires_at\":"
	                   "\"2026-12-20T10:00:00Z\"}",
	                   NULL));
	assert_null(render("newsletter", "en", "{\"room_id\":3}", NULL));
}

static void test_digest_plural_and_verify(void **state)
{
	char *msg, *body;

	(void)state;
	msg = render("digest", "en", "{\"room_id\":5,\"unread\":1}", "T");
	body = body_of(msg);
	assert_non_null(strstr(body, "You have 1 unread message in room 5."));
	free(body);
	free(msg);
	msg = render("digest", "en", "{\"room_id\":5,\"unread\":3}", "T");
	body = body_of(msg);
	assert_non_null(strstr(body, "You have 3 unread messages in room 5."));
	free(body);
	free(msg);
	msg = render("verify", "pl", "{\"code\":\"12345678\"}", NULL);
	body = body_of(msg);
	assert_non_null(strstr(body, "Twój kod: 12345678"));
	assert_non_null(strstr(body, "ementor notify verify 12345678"));
	free(body);
	free(msg);
}

static void test_diary_and_agreement(void **state)
{
	char *msg, *body;

	(void)state;
	msg = render("diary", "en",
	             "{\"event\":\"diary.missing\",\"room_id\":4,\"checkpoint_kind\":\"final\"}",
	             "T");
	body = body_of(msg);
	assert_non_null(strstr(body, "The diary entry of a final meeting in room 4 is due."));
	free(body);
	free(msg);
	msg = render("diary", "pl", "{\"event\":\"diary.writer\",\"room_id\":4}", "T");
	body = body_of(msg);
	assert_non_null(strstr(body, "Wybrano Cię do napisania dziennika (spotkanie, pokój 4)."));
	free(body);
	free(msg);
	msg = render("agreement", "en",
	             "{\"event\":\"agreement.changed\",\"room_id\":9,\"version\":3}", "T");
	body = body_of(msg);
	assert_non_null(
	    strstr(body, "Version 3 of the agreement of room 9 waits for your signature."));
	free(body);
	free(msg);
	assert_null(render("agreement", "en", "{\"room_id\":9}", "T")); /* no version */
	assert_null(render("diary", "en", "{\"event\":\"diary.written\",\"room_id\":4}", "T"));
}

/* A manager's reset code: the link, its expiry, what is lost; no code-less or odd code renders. */
static void test_reset(void **state)
{
	char *msg, *body;

	(void)state;
	msg = render("reset", "en",
	             "{\"code\":\"000G-40R4-0M30-E209-185G-R38E-1W81-24GK\","
	             "\"expires_at\":\"2026-12-09T12:00:00Z\"}",
	             NULL);
	assert_non_null(msg);
	assert_null(strstr(msg, "List-Unsubscribe")); /* not a notification */
	body = body_of(msg);
	assert_non_null(strstr(
	    body, "https://mentor.example.org/#reset=000G-40R4-0M30-E209-185G-R38E-1W81-24GK"));
	assert_non_null(strstr(body, "ementor reset --code 000G-40R4"));
	assert_non_null(strstr(body, "cannot open old messages"));
	assert_non_null(strstr(body, "2026-12-09 12:00 UTC"));
	free(body);
	free(msg);
	msg = render("reset", "pl",
	             "{\"code\":\"000G-40R4-0M30-E209-185G-R38E-1W81-24GK\","
	             "\"expires_at\":\"2026-12-09T12:00:00Z\"}",
	             NULL);
	body = body_of(msg);
	assert_non_null(strstr(body, "Starych wiadomości nie odczytasz nowymi kluczami"));
	free(body);
	free(msg);
	assert_null(render("reset", "en", "{\"expires_at\":\"2026-12-09T12:00:00Z\"}", NULL));
	assert_null(render("reset", "en",
	                   "{\"code\":\"a b\\r\\nX: y\",\"expires_at\":"
	                   "\"2026-12-09T12:00:00Z\"}",
	                   NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_address),
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_headers_and_invite),
	    cmocka_unit_test(test_polish_meeting),
	    cmocka_unit_test(test_only_known_params),
	    cmocka_unit_test(test_digest_plural_and_verify),
	    cmocka_unit_test(test_diary_and_agreement),
	    cmocka_unit_test(test_reset),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
