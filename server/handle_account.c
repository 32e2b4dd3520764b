/*
 * handle_account.c - a person's data over time: account.export, everything
 * the server holds about the caller in one document (docs/PROTOCOL.md
 * section 7), and retention, the purge of programmes past their retention
 * (the scheduler's job, and `ementord purge-expired`). DB worker threads,
 * or the main thread before the service loop (retention_purge_now).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handlers.h"
#include "log.h"
#include "model.h"
#include "server.h"
#include "store.h"

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
    "'diary', COALESCE((SELECT jsonb_agg(jsonb_build_object('checkpoint_id', d.checkpoint_id, "
    "'room_id', d.room_id, 'kind', d.kind, 'number', d.number, 'epoch', d.epoch, 'bytes', "
    "octet_length(d.ciphertext), 'created_at', utc_text(d.created_at)) ORDER BY d.id) "
    "FROM diary_records d WHERE d.author_id = $1), '[]'), "
    "'diary_writer_of', COALESCE((SELECT jsonb_agg(w.checkpoint_id ORDER BY w.checkpoint_id) "
    "FROM diary_writers w WHERE w.user_id = $1), '[]'), "
    "'sessions', COALESCE((SELECT jsonb_agg(jsonb_build_object('created_at', "
    "utc_text(s.created_at), 'expires_at', utc_text(s.expires_at), 'revoked_at', "
    "utc_text(s.revoked_at)) ORDER BY s.id) FROM sessions s WHERE s.user_id = $1), '[]'), "
    "'profiles', COALESCE((SELECT jsonb_agg(jsonb_build_object('programme_id', x.programme_id, "
    "'role', x.role, 'form_version', x.form_version, 'written_ms', x.written_ms, 'blob', "
    "b64url(x.blob), 'updated_at', utc_text(x.updated_at)) ORDER BY x.programme_id) "
    "FROM profiles x WHERE x.user_id = $1), '[]'), "
    "'last_login_at', (SELECT utc_text(last_login_at) FROM users WHERE id = $1), "
    "'email', mail_export_doc($1), "
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
		return store_fail(c, job, err);
	params_int(&p, job->user_id);
	params_int(&p, server_clock_s());
	if (!(r = store_exec(c, &st_export, &p, &err, NULL)))
		return store_fail(c, job, err);
	doc = json_loads(store_str(r, 0, 0), 0, NULL);
	PQclear(r);
	if (!doc)
		return store_fail(c, job, EM_ERR_NOMEM);
	if (!(programmes = programmes_of_user(c, job->user_id, &err)) ||
	    !(entries = consent_entries_of(c, job->user_id, &err)) ||
	    !(user = user_by_id(c, job->user_id, &err))) {
		json_decref(doc);
		json_decref(programmes);
		json_decref(entries);
		return store_fail(c, job, err);
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
