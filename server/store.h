/*
 * store.h - how worker threads talk to PostgreSQL: connect, prepared
 * statements declared next to the code that uses them, typed parameters,
 * typed result access, transactions, and SQLSTATE to em_err mapping.
 * Every function here runs on a DB worker thread (or on the main thread
 * before the service loop starts), never on the lws service thread.
 */
#ifndef EMENTORD_STORE_H
#define EMENTORD_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "job.h"

/* A statement, prepared on each connection the first time it is used. */
struct stmt {
	const char *name;
	const char *sql;
};

#define STORE_MAX_PARAMS 12

/* Parameters for one statement. Values point into the struct or to caller memory. */
struct params {
	int n;
	const char *values[STORE_MAX_PARAMS];
	int lengths[STORE_MAX_PARAMS];
	int formats[STORE_MAX_PARAMS];
	char ints[STORE_MAX_PARAMS][24];
};

void params_text(struct params *p, const char *s); /* NULL gives SQL NULL */
void params_int(struct params *p, int64_t v);
void params_bin(struct params *p, const void *data, size_t len);

/*
 * A blocking connection with the server's defaults (connect_timeout,
 * keepalives, tcp_user_timeout; the conninfo's own settings win). The caller
 * PQfinish()es it, whatever its status. Any thread but the service thread.
 */
PGconn *store_open(const char *conninfo);
int store_connect(struct db_conn *c, const char *conninfo);
void store_disconnect(struct db_conn *c);
/*
 * Tells the connection the server's --clock-offset (the database's
 * ementor_now() adds it: message times, read delays) if it changed since the
 * connection was last told: a round trip only then. 0, or -1 (tried again
 * before the next job).
 */
int store_clock_sync(struct db_conn *c);
/* SELECT 1, answered within timeout_ms: 0, or -1 (then drop the connection). */
int store_ping(struct db_conn *c, int timeout_ms);
/*
 * Without a round trip: 1 if the idle connection still looks usable, 0 if
 * the server has closed it (a restart, a crash, a terminated backend).
 */
int store_usable(struct db_conn *c);

/*
 * Runs a prepared statement. Returns the result (caller PQclear()s it) or
 * NULL when the statement failed; then *err holds the em_err and, for a
 * constraint violation, sqlstate (6 chars + NUL) the SQLSTATE.
 */
PGresult *store_exec(struct db_conn *c, const struct stmt *st, const struct params *p, int *err,
                     char sqlstate[6]);
/* Prepares st on this connection if not yet done (for pipeline mode). 0 or -1 (*err). */
int store_prepare(struct db_conn *c, const struct stmt *st, int *err);
/* The em_err for a failed result (NULL result: connection trouble); fills sqlstate if given. */
int store_map_error(struct db_conn *c, const PGresult *r, char sqlstate[6]);
/* BEGIN / COMMIT / ROLLBACK. Return EM_OK or a negative em_err. */
int store_begin(struct db_conn *c);
int store_commit(struct db_conn *c);
void store_rollback(struct db_conn *c);
/* Rolls back and records err on the job (db_job_fail); returns err. */
int store_fail(struct db_conn *c, struct db_job *job, int err);
/* The same with the client's message (NULL or "": the error's default text). */
int store_fail_msg(struct db_conn *c, struct db_job *job, int err, const char *msg);
/* Runs a statement whose rows are not needed. EM_OK or an em_err. */
int store_run(struct db_conn *c, const struct stmt *st, const struct params *p);

/* Result access by row and column; NULL-safe conveniences. */
const char *store_str(const PGresult *r, int row, int col); /* NULL for SQL NULL */
int64_t store_int(const PGresult *r, int row, int col);     /* 0 for SQL NULL */
int store_bool(const PGresult *r, int row, int col);
/* A bytea column in text (hex) form; returns the byte count or -1. */
int store_bytea(const PGresult *r, int row, int col, unsigned char *out, size_t outlen);

/* BLAKE2b-256 of a secret string (tokens, invite codes, auth keys). */
void store_hash(const void *data, size_t len, unsigned char out[32]);

/* Main thread at start-up (blocking is fine there). */
PGconn *store_connect_blocking(const char *conninfo, int wait_s);
/* Loads (creating on first start) the server secret used for fake pre-login salts. */
int store_load_server_secret(PGconn *pg, unsigned char out[32]);
/*
 * Creates an invite and writes its code (NUL-terminated, < 32 chars) to code.
 * programme_id 0 = none; created_by 0 = the operator. Returns 0 or -1.
 */
int store_create_invite(PGconn *pg, const char *role, int64_t programme_id, int64_t created_by,
                        int ttl_days, int first_run, char code[32], char expires_at[40]);
/* 1 if no user exists yet, 0 if some do, -1 on error. */
int store_is_empty(PGconn *pg);

/* Makes a fresh random token (base64url of nbytes, at most 32: up to 43 chars + NUL), never
 * starting with '-' (invite codes are typed as command-line arguments). */
void store_random_token(char out[48], size_t nbytes);

#endif
