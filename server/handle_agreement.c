/*
 * handle_agreement.c - mentoring agreements: a room's versions, signing,
 * proposing changes, and the programme's template (docs/PROTOCOL.md section
 * 7). DB worker threads.
 *
 * DESIGN. The versions, their parties and the roster live in SQL
 * (004_agreements.sql: agreement_refresh makes versions when members or
 * terms change, agreement_roster_sync recomputes room_members.roster,
 * agreement_doc builds the protocol's object). The C here checks what the
 * server must check itself: every agreement signature, over bytes it
 * rebuilds from its own rows (em_agreement_bytes), never over anything the
 * client says they contain. Signing runs in one transaction with the consent
 * ledger's append, so a consent is recorded exactly when it takes effect.
 * A proposal or a template edit that makes a version waiting for signatures
 * writes an agreement.changed notice to its parties in the same transaction
 * (012_agreement_template.sql: agreement_notify, agreement_template_apply)
 * and pushes it once committed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "handlers.h"
#include "ledger.h"
#include "log.h"
#include "model.h"
#include "server.h"
#include "store.h"

#define ADDITIONS_MAX 50

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

int agreement_roster_sync(struct db_conn *c, int64_t room, int *err)
{
	struct params p = {0};
	PGresult *r;

	params_int(&p, room);
	if (!(r = store_exec(c, &st_roster_sync, &p, err, NULL)))
		return -1;
	PQclear(r);
	return 0;
}

static const struct stmt st_refresh = {"agr_refresh", "SELECT agreement_refresh($1, $2, $3)"};

static const struct stmt st_additions = {
    "agr_additions", "SELECT COALESCE((SELECT jsonb_array_length(additions) FROM "
                     "agreement_versions WHERE room_id = $1 ORDER BY version DESC LIMIT 1), 0)"};

/* $1 room, $2 actor: the agreement.changed notices of a proposal (nid, uid, doc). */
static const struct stmt st_notify_term = {
    "agr_notify_term", "SELECT nid, uid, doc FROM agreement_notify($1, $2, 'term', now())"};

/* Queues the live push of notices rows (user, Notice text in column 2). */
static void notices_push(struct db_job *job, PGresult *r)
{
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *doc = json_loads(store_str(r, i, 2), 0, NULL);

		if (doc)
			db_job_push(&job->user_events, store_int(r, i, 1), EV_NOTICE, doc);
	}
}

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
		return store_fail(c, job, err);
	params_int(&p, room);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, read_only ? &st_access_read : &st_access, &p, &err, NULL)))
		return store_fail(c, job, err);
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
		return store_fail(c, job, err);
	if ((err = store_commit(c))) {
		json_decref(doc);
		return store_fail(c, job, err);
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
			return store_fail(c, job, err);
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
		return store_fail(c, job, err);
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
		return store_fail(c, job, err);
	version = json_loads(store_str(r, 0, 0), 0, NULL);
	PQclear(r);
	if (!version)
		return store_fail(c, job, EM_ERR_NOMEM);
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
		return store_fail(c, job, EM_ERR_INTERNAL);
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
		return store_fail(c, job, err);
	PQclear(r);
	memset(&p, 0, sizeof(p));
	params_int(&p, vid);
	if (!(r = store_exec(c, &st_activate, &p, &err, NULL)))
		return store_fail(c, job, err);
	changed = atoi(PQcmdTuples(r)) > 0 || active;
	PQclear(r);
	if (changed) {
		memset(&p, 0, sizeof(p));
		params_int(&p, room);
		if (!(r = store_exec(c, &st_roster_sync, &p, &err, NULL)))
			return store_fail(c, job, err);
		PQclear(r);
	}
	/* the ledger's lock is always taken last (rooms, members, then ledger) */
	if ((err = ledger_append(c, &k, &entry)))
		return store_fail(c, job, err);
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
		return store_fail(c, job, err);
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
		return store_fail(c, job, err);
	PQclear(r);
	memset(&p, 0, sizeof(p));
	params_int(&p, room);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_notify_term, &p, &err, NULL)))
		return store_fail(c, job, err);
	notices_push(job, r);
	PQclear(r);
	return commit_with_doc(c, job, room, 1);
}

/* ---- templates --------------------------------------------------------------- */

static const struct stmt st_template_get = {
    "agr_template_get",
    "SELECT agreement_template_of(p), " SQL_TS(
        "COALESCE(p.template_updated_at, p.created_at)") ", EXISTS (SELECT 1 FROM "
                                                         "programme_people pp WHERE "
                                                         "pp.programme_id = p.id AND "
                                                         "pp.user_id = $2 AND pp.role = "
                                                         "'manager'), p.agreement_template "
                                                         "IS NULL, p.agreement_lang FROM "
                                                         "programmes p WHERE p.id = $1"};

/* $1 programme, $2 text or NULL (the default), $3 language or NULL (unchanged). */
static const struct stmt st_template_set = {
    "agr_template_set",
    "UPDATE programmes SET agreement_template = $2, agreement_lang = COALESCE($3, "
    "agreement_lang), template_updated_at = now() WHERE id = $1"};

/* Rooms of the programme without an active version get the new terms; their parties a notice. */
static const struct stmt st_template_apply = {
    "agr_template_apply", "SELECT nid, uid, doc FROM agreement_template_apply($1, $2, now())"};

static int template_answer(struct db_conn *c, struct db_job *job, int64_t programme)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, programme);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_template_get, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) != 1 || !store_bool(r, 0, 2)) {
		/* another programme's manager learns nothing, not even that it exists */
		PQclear(r);
		store_rollback(c);
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no programme %lld that you manage",
		                   (long long)programme);
	}
	/* lang: the language of the default text in use, null for the programme's own text */
	job->result = json_pack("{s:I, s:s, s:s, s:s?}", "programme_id", (json_int_t)programme,
	                        "text", store_str(r, 0, 0), "updated_at", store_str(r, 0, 1),
	                        "lang", store_bool(r, 0, 3) ? store_str(r, 0, 4) : NULL);
	PQclear(r);
	return job->result ? EM_OK : store_fail(c, job, EM_ERR_NOMEM);
}

int agreement_template_get_run(struct db_conn *c, struct db_job *job)
{
	int err;

	if ((err = store_begin(c)))
		return store_fail(c, job, err);
	if ((err = template_answer(c, job, job_int(job, "programme_id", 0))))
		return err;
	store_rollback(c); /* read only */
	return EM_OK;
}

int agreement_template_set_run(struct db_conn *c, struct db_job *job)
{
	int64_t programme = job_int(job, "programme_id", 0);
	const char *text = job_str(job, "text"), *lang = job_str(job, "lang");
	struct params p = {0};
	PGresult *r;
	int err, told;

	/* the text, or the default in a language: one of them */
	if (!text == !lang)
		return db_job_fail(job, EM_ERR_BAD_VALUE,
		                   "give either text (the programme's own terms) or lang (the "
		                   "default terms in that language)");
	if ((err = store_begin(c)))
		return store_fail(c, job, err);
	/* authorise first: the answer of a refused request says nothing else */
	if ((err = template_answer(c, job, programme)))
		return err;
	json_decref(job->result);
	job->result = NULL;
	params_int(&p, programme);
	params_text(&p, text); /* NULL: the default text */
	params_text(&p, lang); /* NULL: the language stays */
	if (!(r = store_exec(c, &st_template_set, &p, &err, NULL)))
		return store_fail(c, job, err);
	PQclear(r);
	memset(&p, 0, sizeof(p));
	params_int(&p, programme);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_template_apply, &p, &err, NULL)))
		return store_fail(c, job, err);
	notices_push(job, r);
	told = PQntuples(r);
	PQclear(r);
	if ((err = template_answer(c, job, programme)))
		return err;
	if ((err = store_commit(c)))
		return store_fail(c, job, err);
	log_info("agreement template set programme=%lld by=%lld notices=%d", (long long)programme,
	         (long long)job->user_id, told);
	return EM_OK;
}
