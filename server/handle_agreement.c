/*
 * handle_agreement.c - mentoring agreements, the consent ledger's ops, the
 * account export and erasure, and the retention job (docs/PROTOCOL.md
 * section 7).
 *
 * DESIGN. The versions, their parties and the roster live in SQL
 * (004_agreements.sql: agreement_refresh makes versions when members or
 * terms change, agreement_roster_sync recomputes room_members.roster,
 * agreement_doc builds the protocol's object). The C here checks what the
 * server must check itself: every agreement and consent signature, over
 * bytes it rebuilds from its own rows (em_agreement_bytes,
 * em_consent_bytes), never over anything the client says they contain.
 * Signing, withdrawing and erasing each run in one transaction with the
 * ledger append, so a consent is recorded exactly when it takes effect.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "cluster.h"
#include "handlers.h"
#include "ledger.h"
#include "log.h"
#include "model.h"
#include "server.h"
#include "session.h"
#include "fanout.h"
#include "store.h"

#define ADDITIONS_MAX 50

static int fail_db(struct db_conn *c, struct db_job *job, int err)
{
	store_rollback(c);
	return db_job_fail(job, err, NULL);
}

static json_t *b64_json(const unsigned char *bin, size_t len)
{
	char *s = em_b64_encode(bin, len);
	json_t *j = s ? json_string(s) : NULL;

	free(s);
	return j;
}

/* ---- privacy.notice (service thread, no database) ------------------------- */

int privacy_notice_local(struct session *s, const struct em_request *req, json_t **result,
                         char *msg, size_t msglen)
{
	(void)s, (void)req, (void)msg, (void)msglen;
	*result = json_pack("{s:s, s:s, s:o, s:s, s:o}", "version", ledger_notice_version(), "text",
	                    ledger_notice_text(), "text_hash", b64_json(ledger_notice_hash(), 32),
	                    "share_progress_text", ledger_share_text(), "share_progress_hash",
	                    b64_json(ledger_share_hash(), 32));
	return *result ? EM_OK : EM_ERR_NOMEM;
}

/* ---- the room and the caller ----------------------------------------------- */

/* $1 room, $2 user: programme, member?, manager?, agreement required; locks the room. */
static const struct stmt st_access = {
    "agr_access",
    "SELECT r.programme_id, EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = r.id "
    "AND m.user_id = $2 AND m.removed_at IS NULL), EXISTS (SELECT 1 FROM programme_people pp "
    "WHERE pp.programme_id = r.programme_id AND pp.user_id = $2 AND pp.role = 'manager') "
    "FROM rooms r WHERE r.id = $1 FOR UPDATE OF r"};
static const struct stmt st_access_read = {
    "agr_access_read",
    "SELECT r.programme_id, EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = r.id "
    "AND m.user_id = $2 AND m.removed_at IS NULL), EXISTS (SELECT 1 FROM programme_people pp "
    "WHERE pp.programme_id = r.programme_id AND pp.user_id = $2 AND pp.role = 'manager') "
    "FROM rooms r WHERE r.id = $1"};

static const struct stmt st_doc = {"agr_doc", "SELECT agreement_doc($1)::text"};

/* The pending and active versions: $1 room. Rows: id, version, activated? */
static const struct stmt st_versions = {
    "agr_versions", "(SELECT id, version, true FROM agreement_versions WHERE room_id = $1 "
                    "AND activated_at IS NOT NULL ORDER BY version DESC LIMIT 1) UNION ALL "
                    "(SELECT id, version, false FROM agreement_versions WHERE room_id = $1 "
                    "AND activated_at IS NULL ORDER BY version DESC LIMIT 1)"};

static const struct stmt st_version_doc = {"agr_version_doc",
                                           "SELECT agreement_version_doc($1)::text"};

/* One version of a room's agreement, by number (agreement.show "version"). */
static const struct stmt st_version_by_number = {
    "agr_version_by_number", "SELECT agreement_version_doc(id)::text FROM agreement_versions "
                             "WHERE room_id = $1 AND version = $2"};

static const struct stmt st_party_sign = {
    "agr_party_sign",
    "UPDATE agreement_parties SET signature = $3, signed_at = now(), withdrawn_at = NULL "
    "WHERE version_id = $1 AND user_id = $2"};

static const struct stmt st_activate = {
    "agr_activate",
    "UPDATE agreement_versions v SET activated_at = now() WHERE v.id = $1 "
    "AND v.activated_at IS NULL AND NOT EXISTS (SELECT 1 FROM agreement_parties ap "
    "WHERE ap.version_id = v.id AND (ap.signature IS NULL OR ap.withdrawn_at IS NOT NULL))"};

static const struct stmt st_roster_sync = {"agr_roster_sync", "SELECT agreement_roster_sync($1)"};

static const struct stmt st_refresh = {"agr_refresh", "SELECT agreement_refresh($1, $2, $3)"};

static const struct stmt st_additions = {
    "agr_additions", "SELECT COALESCE((SELECT jsonb_array_length(additions) FROM "
                     "agreement_versions WHERE room_id = $1 ORDER BY version DESC LIMIT 1), 0)"};

struct access {
	int64_t programme_id;
	int member, manager;
};

/*
 * Begins, locks the room (unless read_only) and checks the caller may see it.
 * EM_OK or the job failed.
 */
static int room_open(struct db_conn *c, struct db_job *job, int64_t room, struct access *a,
                     int read_only)
{
	struct params p = {0};
	PGresult *r;
	int err;

	if ((err = store_begin(c)))
		return fail_db(c, job, err);
	params_int(&p, room);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, read_only ? &st_access_read : &st_access, &p, &err, NULL)))
		return fail_db(c, job, err);
	if (PQntuples(r) == 1) {
		a->programme_id = store_int(r, 0, 0);
		a->member = store_bool(r, 0, 1);
		a->manager = store_bool(r, 0, 2);
	}
	if (PQntuples(r) != 1 || (!a->member && !a->manager)) {
		PQclear(r);
		store_rollback(c);
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no room %lld that you are in or manage",
		                   (long long)room);
	}
	PQclear(r);
	return EM_OK;
}

/* agreement_doc of the room as a new reference, or NULL with *err. */
static json_t *room_doc(struct db_conn *c, int64_t room, int *err)
{
	struct params p = {0};
	PGresult *r;
	json_t *doc;

	params_int(&p, room);
	if (!(r = store_exec(c, &st_doc, &p, err, NULL)))
		return NULL;
	doc = json_loads(store_str(r, 0, 0), 0, NULL);
	PQclear(r);
	if (!doc)
		*err = EM_ERR_NOMEM;
	return doc;
}

/* Commits and answers {"agreement": doc} (changed) or the doc itself; tells the room. */
static int commit_with_doc(struct db_conn *c, struct db_job *job, int64_t room, int changed)
{
	json_t *doc;
	int err;

	if (!(doc = room_doc(c, room, &err)))
		return fail_db(c, job, err);
	if ((err = store_commit(c))) {
		json_decref(doc);
		return fail_db(c, job, err);
	}
	job->result = changed ? json_pack("{so}", "agreement", doc) : doc;
	if (changed)
		db_job_push(
		    &job->room_events, room, EV_ROOM,
		    json_pack("{s:I, s:s}", "room_id", (json_int_t)room, "change", "agreement"));
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int agreement_show_run(struct db_conn *c, struct db_job *job)
{
	int64_t room = job_int(job, "room_id", 0), want = job_int(job, "version", 0);
	struct access a = {0};
	struct params p = {0};
	json_t *version = NULL;
	PGresult *r;
	int err;

	if ((err = room_open(c, job, room, &a, 1)))
		return err;
	if (want) {
		params_int(&p, room);
		params_int(&p, want);
		if (!(r = store_exec(c, &st_version_by_number, &p, &err, NULL)))
			return fail_db(c, job, err);
		if (PQntuples(r) == 1)
			version = json_loads(store_str(r, 0, 0), 0, NULL);
		PQclear(r);
		if (!version) {
			store_rollback(c);
			return db_job_fail(job, EM_ERR_NOT_FOUND,
			                   "room %lld's agreement has no version %lld",
			                   (long long)room, (long long)want);
		}
	}
	if ((err = commit_with_doc(c, job, room, 0)) || !version) {
		json_decref(version);
		return err;
	}
	json_object_set_new(job->result, "version", version);
	return EM_OK;
}

/* Parties of a Version object as em_party (keys decoded). Returns n, or -1. */
static int version_parties(json_t *version, struct em_party *out, int max)
{
	json_t *parties = json_object_get(version, "parties"), *it;
	size_t i;

	if (json_array_size(parties) > (size_t)max)
		return -1;
	json_array_foreach(parties, i, it)
	{
		out[i].user_id = (uint64_t)json_integer_value(json_object_get(it, "user_id"));
		out[i].role = json_string_value(json_object_get(it, "role"));
		if (!out[i].role ||
		    em_b64_decode(json_string_value(json_object_get(it, "sign_pk")), out[i].sign_pk,
		                  32) != 32 ||
		    em_b64_decode(json_string_value(json_object_get(it, "box_pk")), out[i].box_pk,
		                  32) != 32)
			return -1;
	}
	return (int)json_array_size(parties);
}

static json_t *party_of(json_t *version, int64_t user_id)
{
	json_t *it;
	size_t i;

	json_array_foreach(json_object_get(version, "parties"), i, it)
	{
		if (json_integer_value(json_object_get(it, "user_id")) == user_id)
			return it;
	}
	return NULL;
}

int agreement_sign_run(struct db_conn *c, struct db_job *job)
{
	int64_t room = job_int(job, "room_id", 0), want = job_int(job, "version", 0), vid = 0;
	struct em_party parties[EM_ROOM_MEMBERS_MAX + 1];
	unsigned char sig[EM_SIG_BYTES];
	char subject[40];
	struct consent k = {0};
	struct access a = {0};
	struct params p = {0};
	json_t *version = NULL, *me, *entry = NULL;
	PGresult *r;
	int err, n, active = 0, changed = 0;

	if ((err = room_open(c, job, room, &a, 0)))
		return err;
	params_int(&p, room);
	if (!(r = store_exec(c, &st_versions, &p, &err, NULL)))
		return fail_db(c, job, err);
	for (int i = 0; i < PQntuples(r); i++)
		if (store_int(r, i, 1) == want) {
			vid = store_int(r, i, 0);
			active = store_bool(r, i, 2);
		}
	/* an unactivated version older than the active one is history, not pending */
	if (vid && !active && PQntuples(r) == 2 && store_int(r, 0, 1) > want)
		vid = 0;
	PQclear(r);
	if (!vid) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_STALE_VERSION,
		                   "version %lld of room %lld's agreement is not waiting for "
		                   "signatures: see agreement.show",
		                   (long long)want, (long long)room);
	}
	memset(&p, 0, sizeof(p));
	params_int(&p, vid);
	if (!(r = store_exec(c, &st_version_doc, &p, &err, NULL)))
		return fail_db(c, job, err);
	version = json_loads(store_str(r, 0, 0), 0, NULL);
	PQclear(r);
	if (!version)
		return fail_db(c, job, EM_ERR_NOMEM);
	if (!(me = party_of(version, job->user_id))) {
		json_decref(version);
		store_rollback(c);
		return db_job_fail(job, EM_ERR_FORBIDDEN, "you are not a party of this agreement");
	}
	if (active && json_is_string(json_object_get(me, "signature")) &&
	    json_is_null(json_object_get(me, "withdrawn_at"))) {
		json_decref(version);
		store_rollback(c);
		return db_job_fail(job, EM_ERR_STALE_VERSION,
		                   "you have signed version %lld already", (long long)want);
	}
	if ((n = version_parties(version, parties, EM_ROOM_MEMBERS_MAX + 1)) < 0) {
		json_decref(version);
		return fail_db(c, job, EM_ERR_INTERNAL);
	}
	em_b64_decode(json_string_value(json_object_get(me, "sign_pk")), k.sign_pk, 32);
	job_bin(job, "signature", sig, sizeof(sig));
	/* the server builds the bytes from its own rows */
	err = em_agreement_verify((uint64_t)room, (uint32_t)want,
	                          json_string_value(json_object_get(version, "starts_on")),
	                          json_string_value(json_object_get(version, "ends_on")),
	                          json_string_value(json_object_get(version, "terms")), parties,
	                          (size_t)n, k.sign_pk, sig)
	          ? EM_ERR_BAD_SIGNATURE
	          : EM_OK;
	if (!err)
		em_agreement_hash((uint64_t)room, (uint32_t)want,
		                  json_string_value(json_object_get(version, "starts_on")),
		                  json_string_value(json_object_get(version, "ends_on")),
		                  json_string_value(json_object_get(version, "terms")), parties,
		                  (size_t)n, k.text_hash);
	json_decref(version);
	if (err) {
		store_rollback(c);
		return db_job_fail(job, err,
		                   "the agreement signature does not verify with your key over "
		                   "version %lld",
		                   (long long)want);
	}
	snprintf(subject, sizeof(subject), "room:%lld", (long long)room);
	k.user_id = job->user_id;
	k.purpose = "agreement";
	k.subject = subject;
	k.action = "grant";
	k.at = job_int(job, "consent_at", 0);
	job_bin(job, "consent_signature", k.sig, sizeof(k.sig));
	if ((err = ledger_check(&k, (int64_t)time(NULL)))) {
		store_rollback(c);
		return db_job_fail(
		    job, err,
		    err == EM_ERR_BAD_VALUE
		        ? "consent_at is more than 10 minutes from the server's clock"
		        : "the consent signature does not verify");
	}
	memset(&p, 0, sizeof(p));
	params_int(&p, vid);
	params_int(&p, job->user_id);
	params_bin(&p, sig, sizeof(sig));
	if (!(r = store_exec(c, &st_party_sign, &p, &err, NULL)))
		return fail_db(c, job, err);
	PQclear(r);
	memset(&p, 0, sizeof(p));
	params_int(&p, vid);
	if (!(r = store_exec(c, &st_activate, &p, &err, NULL)))
		return fail_db(c, job, err);
	changed = atoi(PQcmdTuples(r)) > 0 || active;
	PQclear(r);
	if (changed) {
		memset(&p, 0, sizeof(p));
		params_int(&p, room);
		if (!(r = store_exec(c, &st_roster_sync, &p, &err, NULL)))
			return fail_db(c, job, err);
		PQclear(r);
	}
	/* the ledger's lock is always taken last (rooms, members, then ledger) */
	if ((err = ledger_append(c, &k, &entry)))
		return fail_db(c, job, err);
	json_decref(entry);
	log_info("agreement signed room=%lld version=%lld user_id=%lld", (long long)room,
	         (long long)want, (long long)job->user_id);
	return commit_with_doc(c, job, room, 1);
}

int agreement_propose_run(struct db_conn *c, struct db_job *job)
{
	int64_t room = job_int(job, "room_id", 0);
	struct access a = {0};
	struct params p = {0};
	PGresult *r;
	int err;

	if ((err = room_open(c, job, room, &a, 0)))
		return err;
	params_int(&p, room);
	if (!(r = store_exec(c, &st_additions, &p, &err, NULL)))
		return fail_db(c, job, err);
	if (store_int(r, 0, 0) >= ADDITIONS_MAX) {
		PQclear(r);
		store_rollback(c);
		return db_job_fail(job, EM_ERR_TOO_MANY, "room %lld's agreement has %d added terms",
		                   (long long)room, ADDITIONS_MAX);
	}
	PQclear(r);
	memset(&p, 0, sizeof(p));
	params_int(&p, room);
	params_text(&p, job_str(job, "term"));
	params_text(&p, job->username);
	if (!(r = store_exec(c, &st_refresh, &p, &err, NULL)))
		return fail_db(c, job, err);
	PQclear(r);
	return commit_with_doc(c, job, room, 1);
}

/* ---- templates --------------------------------------------------------------- */

static const struct stmt st_template_get = {
    "agr_template_get",
    "SELECT COALESCE(p.agreement_template, agreement_default_template()), " SQL_TS(
        "COALESCE(p.template_updated_at, p.created_at)") ", EXISTS (SELECT 1 FROM "
                                                         "programme_people pp WHERE "
                                                         "pp.programme_id = p.id AND "
                                                         "pp.user_id = $2 AND pp.role = "
                                                         "'manager') FROM programmes p WHERE "
                                                         "p.id = $1"};

static const struct stmt st_template_set = {
    "agr_template_set", "UPDATE programmes SET agreement_template = $2, template_updated_at = "
                        "now() WHERE id = $1"};

/* Rooms of the programme without an active version get the new terms. */
static const struct stmt st_template_refresh = {
    "agr_template_refresh",
    "SELECT agreement_refresh(r.id, NULL, NULL) FROM rooms r WHERE r.programme_id = $1 "
    "AND NOT EXISTS (SELECT 1 FROM agreement_versions v WHERE v.room_id = r.id "
    "AND v.activated_at IS NOT NULL)"};

static int template_answer(struct db_conn *c, struct db_job *job, int64_t programme)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, programme);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_template_get, &p, &err, NULL)))
		return fail_db(c, job, err);
	if (PQntuples(r) != 1 || !store_bool(r, 0, 2)) {
		/* another programme's manager learns nothing, not even that it exists */
		PQclear(r);
		store_rollback(c);
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no programme %lld that you manage",
		                   (long long)programme);
	}
	job->result = json_pack("{s:I, s:s, s:s}", "programme_id", (json_int_t)programme, "text",
	                        store_str(r, 0, 0), "updated_at", store_str(r, 0, 1));
	PQclear(r);
	return job->result ? EM_OK : fail_db(c, job, EM_ERR_NOMEM);
}

int agreement_template_get_run(struct db_conn *c, struct db_job *job)
{
	int err;

	if ((err = store_begin(c)))
		return fail_db(c, job, err);
	if ((err = template_answer(c, job, job_int(job, "programme_id", 0))))
		return err;
	store_rollback(c); /* read only */
	return EM_OK;
}

int agreement_template_set_run(struct db_conn *c, struct db_job *job)
{
	int64_t programme = job_int(job, "programme_id", 0);
	struct params p = {0};
	PGresult *r;
	int err;

	if ((err = store_begin(c)))
		return fail_db(c, job, err);
	/* authorise first: the answer of a refused request says nothing else */
	if ((err = template_answer(c, job, programme)))
		return err;
	json_decref(job->result);
	job->result = NULL;
	params_int(&p, programme);
	params_text(&p, job_str(job, "text"));
	if (!(r = store_exec(c, &st_template_set, &p, &err, NULL)))
		return fail_db(c, job, err);
	PQclear(r);
	memset(&p, 0, sizeof(p));
	params_int(&p, programme);
	if (!(r = store_exec(c, &st_template_refresh, &p, &err, NULL)))
		return fail_db(c, job, err);
	PQclear(r);
	if ((err = template_answer(c, job, programme)))
		return err;
	if ((err = store_commit(c)))
		return fail_db(c, job, err);
	log_info("agreement template set programme=%lld by=%lld", (long long)programme,
	         (long long)job->user_id);
	return EM_OK;
}

/* ---- consent ------------------------------------------------------------------ */

static const struct stmt st_entries = {"consent_entries",
                                       "SELECT consent_entry_doc(l)::text FROM consent_ledger l "
                                       "WHERE l.user_id = $1 ORDER BY l.seq LIMIT 10000"};
static const struct stmt st_current = {"consent_current", "SELECT consent_current($1)::text"};

static json_t *entries_of(struct db_conn *c, int64_t user, int *err)
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

	if (!(list = entries_of(c, job->user_id, &err)))
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
		if (!withdraw && (strcmp(k->subject, ledger_notice_version()) ||
		                  sodium_memcmp(k->text_hash, ledger_notice_hash(), 32))) {
			store_rollback(c);
			return db_job_fail(job, EM_ERR_STALE_TEXT,
			                   "the current privacy notice is %s: fetch it with "
			                   "privacy.notice",
			                   ledger_notice_version());
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
				return fail_db(c, job, err);
			store_rollback(c);
			return db_job_fail(job, EM_ERR_NOT_FOUND, "you are not in programme %lld",
			                   (long long)*id);
		}
	} else if (!subject_id(k->subject, "room:", id)) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_BAD_VALUE, "subject: room:ID for agreement");
	} else if ((rc = row_exists(c, &st_in_room, *id, job->user_id, &err)) <= 0) {
		if (rc < 0)
			return fail_db(c, job, err);
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
		return fail_db(c, job, err);
	granted = PQntuples(r) == 1 && !strcmp(store_str(r, 0, 0), "grant");
	PQclear(r);
	if (!granted) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_BAD_STATE, "you have no standing %s consent for %s",
		                   k->purpose, k->subject);
	}
	params_bin(&p, k->text_hash, 32);
	if (!(r = store_exec(c, &st_granted_text, &p, &err, NULL)))
		return fail_db(c, job, err);
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

/* Service thread, after an erasure: the user's connections here are closed. */
static void consent_erased_finished(struct db_job *job)
{
	if (job->err == EM_OK)
		fanout_close_erased(job->user_id);
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
		return fail_db(c, job, err);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_me, &p, &err, NULL)))
		return fail_db(c, job, err);
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
		memset(&p, 0, sizeof(p));
		params_int(&p, id);
		if (!(r = store_exec(c, &st_roster_sync, &p, &err, NULL)))
			goto db_error;
		PQclear(r);
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
		cluster_publish_erased(c, job->user_id);
	job->result = json_pack("{so}", "entry", entry);
	log_info("consent %s purpose=%s user_id=%lld%s", k.action, k.purpose,
	         (long long)job->user_id, erase ? " (account erased)" : "");
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
db_error:
	json_decref(entry);
	json_decref(job->room_events);
	job->room_events = NULL;
	return fail_db(c, job, err);
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
	memcpy(k->text_hash, ledger_notice_hash(), 32);
	job_bin(job, "privacy_signature", k->sig, 64);
	if (strcmp(k->subject, ledger_notice_version()))
		return db_job_fail(job, EM_ERR_STALE_TEXT,
		                   "the current privacy notice is %s: fetch it with privacy.notice",
		                   ledger_notice_version());
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

/* ---- account.export -------------------------------------------------------------- */

static const struct stmt st_export = {
    "account_export",
    "SELECT jsonb_build_object("
    "'rooms', COALESCE((SELECT jsonb_agg(jsonb_build_object('room_id', r.id, 'name', r.name, "
    "'kind', r.kind, 'programme_id', r.programme_id, 'role', m.role, 'added_at', "
    "utc_text(m.added_at), 'removed_at', utc_text(m.removed_at), 'roster', m.roster) "
    "ORDER BY m.id) FROM room_members m JOIN rooms r ON r.id = m.room_id "
    "WHERE m.user_id = $1), '[]'), "
    "'agreements', COALESCE((SELECT jsonb_agg(jsonb_build_object('room_id', v.room_id) || "
    "agreement_version_doc(v.id) ORDER BY v.room_id, v.version) FROM agreement_versions v "
    "WHERE EXISTS (SELECT 1 FROM agreement_parties ap WHERE ap.version_id = v.id "
    "AND ap.user_id = $1)), '[]'), "
    "'checkpoints', COALESCE((SELECT jsonb_agg(checkpoint_doc(c.id, to_timestamp($2::bigint)) "
    "ORDER BY c.id) FROM checkpoints c WHERE c.room_id IN (SELECT room_id FROM room_members "
    "WHERE user_id = $1 AND removed_at IS NULL)), '[]'), "
    "'attendance', COALESCE((SELECT jsonb_agg(to_jsonb(a) - 'user_id' ORDER BY a.checkpoint_id) "
    "FROM attendance a WHERE a.user_id = $1), '[]'), "
    "'sessions', COALESCE((SELECT jsonb_agg(jsonb_build_object('created_at', "
    "utc_text(s.created_at), 'expires_at', utc_text(s.expires_at), 'revoked_at', "
    "utc_text(s.revoked_at)) ORDER BY s.id) FROM sessions s WHERE s.user_id = $1), '[]'), "
    "'last_login_at', (SELECT utc_text(last_login_at) FROM users WHERE id = $1), "
    "'created_at', (SELECT utc_text(created_at) FROM users WHERE id = $1))::text"};

static const struct stmt st_user = {"account_user",
                                    "SELECT " USER_COLS " FROM users u WHERE u.id = $1"};

static json_t *user_by_id(struct db_conn *c, int64_t id, int *err)
{
	struct params p = {0};
	PGresult *r;
	json_t *u = NULL;

	params_int(&p, id);
	if (!(r = store_exec(c, &st_user, &p, err, NULL)))
		return NULL;
	if (PQntuples(r) == 1)
		u = model_user(r, 0, 0);
	PQclear(r);
	if (!u)
		*err = EM_ERR_NOT_FOUND;
	return u;
}

int account_export_run(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	json_t *doc, *user = NULL, *programmes = NULL, *entries = NULL;
	PGresult *r;
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	int err;

	if ((err = store_begin(c)))
		return fail_db(c, job, err);
	params_int(&p, job->user_id);
	params_int(&p, server_clock_s());
	if (!(r = store_exec(c, &st_export, &p, &err, NULL)))
		return fail_db(c, job, err);
	doc = json_loads(store_str(r, 0, 0), 0, NULL);
	PQclear(r);
	if (!doc)
		return fail_db(c, job, EM_ERR_NOMEM);
	if (!(programmes = programmes_of_user(c, job->user_id, &err)) ||
	    !(entries = entries_of(c, job->user_id, &err)) ||
	    !(user = user_by_id(c, job->user_id, &err))) {
		json_decref(doc);
		json_decref(programmes);
		json_decref(entries);
		return fail_db(c, job, err);
	}
	store_rollback(c); /* read only */
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(doc, "exported_at", json_string(ts));
	json_object_set_new(doc, "user", user);
	json_object_set_new(doc, "programmes", programmes);
	json_object_set_new(doc, "consents", entries);
	job->result = doc;
	return EM_OK;
}

/* ---- retention ------------------------------------------------------------------- */

static const struct stmt st_purge = {"retention_purge",
                                     "SELECT retention_purge(to_timestamp($1::bigint)::date)"};

int retention_run(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, server_clock_s());
	if (!(r = store_exec(c, &st_purge, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	for (int i = 0; i < PQntuples(r); i++)
		log_info("retention purged programme=%lld", (long long)store_int(r, i, 0));
	PQclear(r);
	return EM_OK;
}

int retention_purge_now(PGconn *pg)
{
	char sql[128];
	PGresult *r;
	int n;

	snprintf(sql, sizeof(sql), "SELECT retention_purge(to_timestamp(%lld)::date)",
	         (long long)server_clock_s());
	r = PQexec(pg, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "ementord purge-expired: %s", PQerrorMessage(pg));
		PQclear(r);
		return 2;
	}
	n = PQntuples(r);
	for (int i = 0; i < n; i++)
		printf("purged programme %s\n", PQgetvalue(r, i, 0));
	printf("%d programme(s) purged\n", n);
	PQclear(r);
	return 0;
}
