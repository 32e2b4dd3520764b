/*
 * mail_text.h - what an e-mail says and how it is written (mail_text.c):
 * address syntax, the retry backoff, and the whole RFC 5322 message of an
 * outbox row from its kind, language and params, in English or Polish.
 * Pure: no I/O, any thread.
 */
#ifndef EMENTORD_MAIL_TEXT_H
#define EMENTORD_MAIL_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>

#define MAIL_ADDRESS_MAX 254 /* RFC 5321's path limit less the brackets */

/*
 * 1 if `addr` is an address ementor sends to: local@domain, printable ASCII
 * without spaces, quotes, brackets or separators in the local part (no
 * quoted local parts), a domain of letters, digits and hyphens in at least
 * two dot-separated labels, at most MAIL_ADDRESS_MAX bytes. Nothing that
 * could end a header line or a SMTP command gets through.
 */
int mail_address_ok(const char *addr);

/*
 * Seconds to wait before attempt `attempts` + 1 after `attempts` failed ones
 * (attempts >= 1): base_s doubled per failure, at most cap_s.
 */
int64_t mail_backoff_s(int attempts, int base_s, int cap_s);

/* A row of the outbox and where it goes. */
struct mail_in {
	const char *kind;        /* verify, invite, meeting, agreement, diary, digest, reset */
	const char *lang;        /* en or pl (anything else: en) */
	const json_t *params;    /* the row's params (schema/015_mail.sql) */
	const char *from;        /* the envelope and header From address */
	const char *to;          /* checked with mail_address_ok() by the caller */
	const char *message_id;  /* "<...@...>" */
	const char *public_url;  /* the https origin of links, without a trailing slash */
	const char *unsub_token; /* NULL: no unsubscribe link (verify, invite, reset) */
	time_t date;
};

/*
 * The message, headers and body (base64 of UTF-8 text), CRLF line ends.
 * Only the params named in schema/015_mail.sql are read, each as a number,
 * a time or one of a fixed set of words: no text from a row reaches the
 * message unchecked. Returns NULL for an unknown kind or a missing param.
 * Who frees: the caller, with free().
 */
char *mail_render(const struct mail_in *in);

#endif
