/*
 * mailer.h - the e-mail sender (mailer.c): one thread per node that claims
 * due rows of the outbox (mail_outbox, schema/015_mail.sql), sends each
 * through the operator's SMTP relay with libcurl, and records the result.
 * Never the service thread, never a DB worker: it has its own connection.
 */
#ifndef EMENTORD_MAILER_H
#define EMENTORD_MAILER_H

struct config;

/*
 * Main thread, before the service loop: reads the credentials file (if
 * any) and starts the thread. With no --smtp-url, e-mail is off and no
 * thread starts (returns 0). Returns 0, or -1 with the reason logged (a bad
 * option or an unreadable credentials file).
 */
int mailer_start(const struct config *cfg);
/* Main thread: stops the thread after the send in progress, if any; wipes the credentials. */
void mailer_stop(void);
/* Any thread: 1 if e-mail is on (a relay is configured). */
int mailer_enabled(void);

#endif
