/*
 * ledger.h - the consent ledger (docs/PROTOCOL.md 7.1): an append-only,
 * hash-chained table of consent records each signed by its user, and the
 * privacy notice the data-processing consent refers to.
 */
#ifndef EM_LEDGER_H
#define EM_LEDGER_H

#include <stdint.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "job.h"
#include "em_crypto.h"

/* One consent record as the user signed it. */
struct consent {
	int64_t user_id;
	unsigned char sign_pk[EM_SIGN_PK_BYTES];
	const char *purpose, *subject, *action;
	unsigned char text_hash[EM_HASH_BYTES];
	int64_t at; /* the client's clock, Unix seconds */
	unsigned char sig[EM_SIG_BYTES];
};

/*
 * Loads the privacy notice (NULL or "": the built-in ones, in English and
 * Polish; a file: that one text for every language). 0, or -1 with a message.
 */
int ledger_notice_load(const char *path);
/* The notice in `lang` ("en", "pl"; NULL or another: English): its version, text and hash. */
const char *ledger_notice_version(const char *lang);
const char *ledger_notice_text(const char *lang);
const unsigned char *ledger_notice_hash(const char *lang);
/* The language of the notice whose version this is ("en" or "pl"), or NULL: none of ours. */
const char *ledger_notice_lang_of(const char *version);
/* The sentence a share_progress consent agrees to, and its hash. */
const char *ledger_share_text(void);
const unsigned char *ledger_share_hash(void);

/*
 * Checks a record's signature and clock (within 10 minutes of now); EM_OK,
 * EM_ERR_BAD_SIGNATURE or EM_ERR_BAD_VALUE.
 */
int ledger_check(const struct consent *k, int64_t now_s);
/*
 * Inside the caller's transaction: appends the record to the chain
 * (serialised by an advisory lock) and returns its Entry object in *entry.
 * EM_OK or an em_err (the caller rolls back).
 */
int ledger_append(struct db_conn *c, const struct consent *k, json_t **entry);
/*
 * `ementord verify-ledger`: walks the chain, checks every link and
 * signature, prints the first problem found. `head` ("SEQ:HASH", as an
 * earlier run printed it; NULL or "" for none) must still be in the chain:
 * that is how removing the newest entries is found. Returns 0 if intact, 1
 * if not, 2 if the database could not be read or `head` is malformed.
 */
int ledger_verify(PGconn *pg, const char *head);

#endif
