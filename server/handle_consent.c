/*
 * handle_consent.c - the consent ledger's ops (docs/PROTOCOL.md section 7)
 * on DB workers: consent.list, grant and withdraw, the consent a
 * registration carries, and erasure, which is the withdrawal of the
 * data-processing consent. The privacy notice and the closing of an erased
 * user's connections are svc_consent.c's (service thread).
 *
 * DESIGN. Every consent signature is checked over bytes the server rebuilds
 * from its own rows (em_consent_bytes). Granting, withdrawing and erasing
 * each run in one transaction with the ledger append, so a consent is
 * recorded exactly when it takes effect; an erasure is announced to the
 * other nodes after its commit and closes the user's connections here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "announce.h"
#include "handlers.h"
#include "ledger.h"
#include "log.h"
#include "model.h"
#include "server.h"
#include "store.h"

/* ---- consent ------------------------------------------------------------------ */

static const struct stmt st_entries = {"consent_entries",
                                       "SELECT consent_entry_doc(l)::text FROM consent_ledger l "
                                       "WHERE l.user_id = $1 ORDER BY l.seq LIMIT 10000"};
static const struct stmt st_current = {"consent_current", "SELECT consent_current($1)::text"};

json_t *consent_entries_of(struct db_conn *c, int64_t user, int *err)
{
	struct params p = {0};
	PGresult *r;
	json_t *list;

	params_int(&p, user);
	if (!(r = store_exec(c, &st_entries, &p, err, NULL)))
		return NULL;
	list = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(list, json_loads(store_str(r, i, 0), 0, NULL));
	PQclear(r);
	return list;
}

int consent_list_run(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	json_t *list;
	PGresult *r;
	int err;

	if (!(list = consent_entries_of(c, job->user_id, &err)))
		return db_job_fail(job, err, NULL);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_current, &p, &err, NULL))) {
		json_decref(list);
		return db_job_fail(job, err, NULL);
	}
	job->result = json_pack("{s:o, s:o}", "entries", list, "current",
	                        json_loads(store_str(r, 0, 0), 0, NULL));
	PQclear(r);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

/* The caller's sign_pk, locked against a concurrent erasure. */
static const struct stmt st_me = {
    "consent_me", "SELECT sign_pk FROM users WHERE id = $1 AND erased_at IS NULL FOR UPDATE"};

/* The latest record of (user, purpose, subject): action, text_hash. */
static const struct stmt st_state = {
    "consent_state", "SELECT action, text_hash FROM consent_ledger WHERE user_id = $1 "
                     "AND purpose = $2 AND subject = $3 ORDER BY seq DESC LIMIT 1"};

/* Any grant of (user, purpose, subject) over this text: $4 text_hash. */
static const struct stmt st_granted_text = {
    "consent_granted_text",
    "SELECT 1 FROM consent_ledger WHERE user_id = $1 AND purpose = $2 AND subject = $3 "
    "AND text_hash = $4 AND action = 'grant' LIMIT 1"};

static const struct stmt st_in_programme = {
    "consent_in_programme",
    "SELECT 1 FROM programme_people WHERE programme_id = $1 AND user_id = $2"};

/* the room row is locked first, as every writer of a room's rows does */
static const struct stmt st_in_room = {
    "consent_in_room",
    "SELECT 1 FROM rooms r WHERE r.id = $1 AND EXISTS (SELECT 1 FROM room_members m "
    "WHERE m.room_id = r.id AND m.user_id = $2 AND m.removed_at IS NULL) FOR UPDATE OF r"};

static const struct stmt st_withdraw_agreement = {
    "consent_withdraw_agreement",
    /* an active version keeps the signature, marked withdrawn; a pending one loses it */
    "UPDATE agreement_parties ap SET "
    "withdrawn_at = CASE WHEN v.activated_at IS NULL THEN NULL ELSE now() END, "
    "signature = CASE WHEN v.activated_at IS NULL THEN NULL ELSE ap.signature END, "
    "signed_at = CASE WHEN v.activated_at IS NULL THEN NULL ELSE ap.signed_at END "
    "FROM agreement_versions v WHERE v.id = ap.version_id AND v.room_id = $1 "
    "AND ap.user_id = $2 AND ap.signature IS NOT NULL AND ap.withdrawn_at IS NULL"};

static const struct stmt st_erase = {"consent_erase", "SELECT account_erase($1)"};

static const struct stmt st_erase_rooms = {
    "consent_erase_rooms",
    "SELECT room_id FROM room_members WHERE user_id = $1 AND removed_at IS NULL"};

/* Parses "room:ID" / "programme:ID" into *id; 0 if the subject is not of that form. */
static int subject_id(const char *subject, const char *prefix, int64_t *id)
{
	/* canonical only: "room:05" or "room:+5" would be another subject in the ledger */
	return em_subject_id(subject, prefix, id) == 0;
}

static int row_exists(struct db_conn *c, const struct stmt *st, int64_t a, int64_t b, int *err)
{
	struct params p = {0};
	PGresult *r;
	int n;

	params_int(&p, a);
	params_int(&p, b);
	if (!(r = store_exec(c, st, &p, err, NULL)))
		return -1;
	n = PQntuples(r);
	PQclear(r);
	return n > 0;
}

/*
 * Checks what a grant or withdrawal refers to (section 7.1's table) inside the
 * transaction. EM_OK, or fails the job.
 */
static int consent_subject_check(struct db_conn *c, struct db_job *job, struct consent *k,
                                 int withdraw, int64_t *id)
{
	struct params p = {0};
	PGresult *r;
	int err, granted = 0, rc;

	if (!strcmp(k->purpose, "agreement") && !withdraw) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_BAD_VALUE,
		                   "an agreement is consented to by signing it (agreement.sign)");
	}
	if (!strcmp(k->purpose, "data_processing")) {
		/* the current notice in any of its languages, with that language's hash */
		const char *lang = ledger_notice_lang_of(k->subject);

		if (!withdraw &&
		    (!lang || sodium_memcmp(k->text_hash, ledger_notice_hash(lang), 32))) {
			store_rollback(c);
			return db_job_fail(job, EM_ERR_STALE_TEXT,
			                   "the current privacy notice is %s: fetch it with "
			                   "privacy.notice",
			                   ledger_notice_version(NULL));
		}
	} else if (!strcmp(k->purpose, "share_progress")) {
		if (!subject_id(k->subject, "programme:", id)) {
			store_rollback(c);
			return db_job_fail(job, EM_ERR_BAD_VALUE,
			                   "subject: programme:ID for share_progress");
		}
		if (!withdraw && sodium_memcmp(k->text_hash, ledger_share_hash(), 32)) {
			store_rollback(c);
			return db_job_fail(
			    job, EM_ERR_STALE_TEXT,
			    "text_hash is not the share_progress text of privacy.notice");
		}
		if ((rc = row_exists(c, &st_in_programme, *id, job->user_id, &err)) <= 0) {
			if (rc < 0)
				return store_fail(c, job, err);
			store_rollback(c);
			return db_job_fail(job, EM_ERR_NOT_FOUND, "you are not in programme %lld",
			                   (long long)*id);
		}
	} else if (!subject_id(k->subject, "room:", id)) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_BAD_VALUE, "subject: room:ID for agreement");
	} else if ((rc = row_exists(c, &st_in_room, *id, job->user_id, &err)) <= 0) {
		if (rc < 0)
			return store_fail(c, job, err);
		store_rollback(c);
		return db_job_fail(job, EM_ERR_NOT_FOUND, "you are not in room %lld",
		                   (long long)*id);
	}
	if (!withdraw)
		return EM_OK;
	/* a withdrawal needs a standing grant, over a text the user agreed to */
	params_int(&p, job->user_id);
	params_text(&p, k->purpose);
	params_text(&p, k->subject);
	if (!(r = store_exec(c, &st_state, &p, &err, NULL)))
		return store_fail(c, job, err);
	granted = PQntuples(r) == 1 && !strcmp(store_str(r, 0, 0), "grant");
	PQclear(r);
	if (!granted) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_BAD_STATE, "you have no standing %s consent for %s",
		                   k->purpose, k->subject);
	}
	params_bin(&p, k->text_hash, 32);
	if (!(r = store_exec(c, &st_granted_text, &p, &err, NULL)))
		return store_fail(c, job, err);
	granted = PQntuples(r) == 1;
	PQclear(r);
	if (!granted) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_STALE_TEXT,
		                   "text_hash is not that of a text you consented to for %s",
		                   k->subject);
	}
	return EM_OK;
}

static int consent_run(struct db_conn *c, struct db_job *job, int withdraw)
{
	struct consent k = {0};
	struct params p = {0};
	json_t *entry = NULL;
	int64_t id = 0;
	PGresult *r;
	int err, erase;

	k.user_id = job->user_id;
	k.purpose = job_str(job, "purpose");
	k.subject = job_str(job, "subject");
	k.action = withdraw ? "withdraw" : "grant";
	k.at = job_int(job, "at", 0);
	job_bin(job, "text_hash", k.text_hash, 32);
	job_bin(job, "signature", k.sig, 64);
	erase = withdraw && !strcmp(k.purpose, "data_processing");

	if ((err = store_begin(c)))
		return store_fail(c, job, err);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_me, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) != 1 || store_bytea(r, 0, 0, k.sign_pk, 32) != 32) {
		PQclear(r);
		store_rollback(c);
		return db_job_fail(job, EM_ERR_SESSION_EXPIRED, "this account no longer exists");
	}
	PQclear(r);
	if ((err = consent_subject_check(c, job, &k, withdraw, &id)))
		return err;
	if ((err = ledger_check(&k, (int64_t)time(NULL)))) {
		store_rollback(c);
		return db_job_fail(job, err,
		                   err == EM_ERR_BAD_VALUE
		                       ? "at is more than 10 minutes from the server's clock"
		                       : "the consent signature does not verify with your key");
	}
	if (withdraw && !strcmp(k.purpose, "agreement")) {
		memset(&p, 0, sizeof(p));
		params_int(&p, id);
		params_int(&p, job->user_id);
		if (!(r = store_exec(c, &st_withdraw_agreement, &p, &err, NULL)))
			goto db_error;
		PQclear(r);
		if (agreement_roster_sync(c, id, &err))
			goto db_error;
		db_job_push(
		    &job->room_events, id, EV_ROOM,
		    json_pack("{s:I, s:s}", "room_id", (json_int_t)id, "change", "agreement"));
	}
	if (erase) {
		memset(&p, 0, sizeof(p));
		params_int(&p, job->user_id);
		if (!(r = store_exec(c, &st_erase_rooms, &p, &err, NULL)))
			goto db_error;
		for (int i = 0; i < PQntuples(r); i++)
			db_job_push(&job->room_events, store_int(r, i, 0), EV_ROOM,
			            json_pack("{s:I, s:s}", "room_id",
			                      (json_int_t)store_int(r, i, 0), "change", "members"));
		PQclear(r);
		if (!(r = store_exec(c, &st_erase, &p, &err, NULL)))
			goto db_error;
		PQclear(r);
		job->finished = consent_erased_finished;
	}
	/* the ledger's lock is always taken last (rooms, members, then ledger) */
	if ((err = ledger_append(c, &k, &entry)))
		goto db_error;
	if ((err = store_commit(c)))
		goto db_error;
	if (erase)
		announce_erased(c, job->user_id);
	job->result = json_pack("{so}", "entry", entry);
	log_info("consent %s purpose=%s user_id=%lld%s", k.action, k.purpose,
	         (long long)job->user_id, erase ? " (account erased)" : "");
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
db_error:
	json_decref(entry);
	json_decref(job->room_events);
	job->room_events = NULL;
	return store_fail(c, job, err);
}

int consent_grant_run(struct db_conn *c, struct db_job *job)
{
	return consent_run(c, job, 0);
}

int consent_withdraw_run(struct db_conn *c, struct db_job *job)
{
	return consent_run(c, job, 1);
}

/* ---- registration's consent (called by auth_register_run) -------------------- */

int consent_register_check(struct db_job *job, const unsigned char sign_pk[32], struct consent *k)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->sign_pk, sign_pk, 32);
	k->purpose = "data_processing";
	k->subject = job_str(job, "privacy_version");
	k->action = "grant";
	k->at = job_int(job, "privacy_at", 0);
	job_bin(job, "privacy_signature", k->sig, 64);
	/* the notice the person read, in whichever language: its version names it */
	if (!ledger_notice_lang_of(k->subject))
		return db_job_fail(job, EM_ERR_STALE_TEXT,
		                   "the current privacy notice is %s: fetch it with privacy.notice",
		                   ledger_notice_version(NULL));
	memcpy(k->text_hash, ledger_notice_hash(ledger_notice_lang_of(k->subject)), 32);
	switch (ledger_check(k, (int64_t)time(NULL))) {
	case EM_OK:
		return EM_OK;
	case EM_ERR_BAD_VALUE:
		return db_job_fail(job, EM_ERR_BAD_VALUE,
		                   "privacy_at is more than 10 minutes from the server's clock");
	default:
		return db_job_fail(job, EM_ERR_BAD_SIGNATURE,
		                   "privacy_signature does not verify with sign_pk over the "
		                   "privacy notice");
	}
}
