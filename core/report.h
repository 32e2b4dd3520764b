/*
 * report.h - the pure parts of concern reports (report.c; PROTOCOL.md 13):
 * who a report is sealed to, and the check of one quoted message a
 * manager's client makes without any room key. No I/O; any thread.
 */
#ifndef EMC_REPORT_H
#define EMC_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "envelope.h"
#include "trust.h"

/*
 * Whether user is a party of v who reads and handles its room's reports: a
 * manager party, or in a support room the manager seated there ("support").
 */
int report_manager_party(const struct trust_version *v, int64_t user);

/*
 * The readers of a report by `reporter` under agreement version v: the
 * reporter (any party of v) and v's manager parties (report_manager_party),
 * ascending. Their
 * count (1: no manager), or -1 when the reporter is not a party.
 */
int report_readers(const struct trust_version *v, int64_t reporter,
                   uint64_t ids[ENVELOPE_RECIPIENTS]);

/*
 * One quoted message of a report about room `room` (a Quote object,
 * PROTOCOL.md 13.1) checked against its sender's key as pinned on this
 * device (sender: their name, for why): the key the report names must be
 * that one, the sender's signature must cover this room, the quote's epoch,
 * sender id and message id and the exact ciphertext, and the ciphertext's
 * franking commitment must be the one the quoted fk, device, counter,
 * written_ms and text make. 0, or -1 with why.
 */
int report_quote_check(json_t *quote, int64_t room, const unsigned char sender_pk[32],
                       const char *sender, char *why, size_t len);

#endif
