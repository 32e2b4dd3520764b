/*
 * store.c - the libpq layer for worker threads (store.h). Statements are
 * prepared lazily per connection and remembered by address, so a module can
 * keep its SQL beside the logic that reads the rows. Parameters are sent with
 * binary bytea where needed; results are read in text form.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "em_proto.h"
#include "log.h"
#include "server.h"
#include "store.h"

/* libpq messages end in newlines and may span lines; logs want one line. */
struct line {
	char s[200];
};

static struct line one_line(const char *msg)
{
	struct line l;

	snprintf(l.s, sizeof(l.s), "%.*s", (int)strcspn(msg ? msg : "", "\n"), msg ? msg : "");
	return l;
}

void params_text(struct params *p, const char *s)
{
	p->values[p->n] = s;
	p->lengths[p->n] = 0;
	p->formats[p->n] = 0;
	p->n++;
}

void params_int(struct params *p, int64_t v)
{
	snprintf(p->ints[p->n], sizeof(p->ints[0]), "%" PRId64, v);
	params_text(p, p->ints[p->n]);
}

void params_bin(struct params *p, const void *data, size_t len)
{
	p->values[p->n] = data;
	p->lengths[p->n] = (int)len;
	p->formats[p->n] = 1;
	p->n++;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void notice_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/*
 * libpq settings every connection of the server starts from, so that a
 * database that cannot be reached shows as an error in seconds, not as a
 * request that hangs: a connection attempt gives up after 3 s, data sent and
 * not acknowledged for 10 s (a network cut, a host gone) breaks the
 * connection, and an idle one is probed by TCP keepalives (after 10 s idle,
 * every 3 s, 3 probes). They apply to TCP only; the operator's conninfo
 * overrides each of them.
 */
static const char *const conn_keys[] = {"connect_timeout",
                                        "keepalives_idle",
                                        "keepalives_interval",
                                        "keepalives_count",
                                        "tcp_user_timeout",
                                        "dbname",
                                        NULL};
static const char *const conn_defaults[] = {"3", "10", "3", "3", "10000"};

PGconn *store_open(const char *conninfo)
{
	const char *values[sizeof(conn_keys) / sizeof(conn_keys[0])];
	size_t n = sizeof(conn_defaults) / sizeof(conn_defaults[0]);

	memcpy(values, conn_defaults, sizeof(conn_defaults));
	values[n] = conninfo; /* "dbname", expanded: its settings come after ours and win */
	values[n + 1] = NULL;
	return PQconnectdbParams(conn_keys, values, 1);
}

int store_connect(struct db_conn *c, const char *conninfo)
{
	PGresult *r;

	c->n_prepared = 0;
	c->clock_offset = 0;
	c->pg = store_open(conninfo);
	if (PQstatus(c->pg) != CONNECTION_OK) {
		/* the first failure, then one line every 30 attempts (about 30 s) */
		if (c->failures++ % 30 == 0)
			log_warn("db connect failed worker=%d attempts=%d error=\"%s\"", c->index,
			         c->failures, one_line(PQerrorMessage(c->pg)).s);
		store_disconnect(c);
		return -1;
	}
	c->failures = 0;
	PQsetNoticeProcessor(c->pg, notice_quiet, NULL);
	/* acks follow commits: never let a session weaken durability */
	r = PQexec(c->pg, "SET synchronous_commit = on; SET TIME ZONE 'UTC'");
	PQclear(r);
	return 0;
}

int store_clock_sync(struct db_conn *c)
{
	int64_t want = server_clock_offset();
	char value[24];
	const char *values[1] = {value};
	PGresult *r;
	int ok;

	if (want == c->clock_offset || !c->pg)
		return 0; /* the usual case: 0 and never changed, no round trip */
	snprintf(value, sizeof(value), "%lld", (long long)want);
	r = PQexecParams(c->pg, "SELECT set_config('ementor.clock_offset_s', $1, false)", 1, NULL,
	                 values, NULL, NULL, 0);
	ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	PQclear(r);
	if (!ok)
		return -1; /* told next time */
	c->clock_offset = want;
	return 0;
}

void store_disconnect(struct db_conn *c)
{
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	c->n_prepared = 0;
}

int store_ping(struct db_conn *c, int timeout_ms)
{
	struct pollfd pfd = {.fd = PQsocket(c->pg), .events = POLLIN};
	int64_t deadline = mono_ms() + timeout_ms, left;
	PGresult *r;
	int ok = 0;

	if (!PQsendQuery(c->pg, "SELECT 1"))
		return -1;
	while (PQisBusy(c->pg)) {
		if ((left = deadline - mono_ms()) <= 0)
			return -1; /* no answer: the caller drops the connection */
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			return -1;
		if (!PQconsumeInput(c->pg))
			return -1;
	}
	while ((r = PQgetResult(c->pg))) {
		ok |= PQresultStatus(r) == PGRES_TUPLES_OK;
		PQclear(r);
	}
	return ok ? 0 : -1;
}

int store_usable(struct db_conn *c)
{
	struct pollfd pfd;

	if (!c->pg || PQstatus(c->pg) != CONNECTION_OK)
		return 0;
	/* idle: anything to read is the server going away (or a notice) */
	pfd.fd = PQsocket(c->pg);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) > 0 && !PQconsumeInput(c->pg))
		return 0;
	return PQstatus(c->pg) == CONNECTION_OK;
}

int store_map_error(struct db_conn *c, const PGresult *r, char sqlstate[6])
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	if (sqlstate) {
		memset(sqlstate, 0, 6);
		if (state)
			memcpy(sqlstate, state, 5);
	}
	if (PQstatus(c->pg) != CONNECTION_OK || !state || !strncmp(state, "08", 2) ||
	    !strncmp(state, "57P", 3))
		return EM_ERR_DB_UNAVAILABLE;
	if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03"))
		return EM_ERR_BUSY;
	/* insufficient resources (disk full, out of memory, too many connections) and
	 * I/O errors pass when the operator acts: the client retries, nothing is lost */
	if (!strncmp(state, "53", 2) || !strcmp(state, "58030"))
		return EM_ERR_DB_UNAVAILABLE;
	if (!strncmp(state, "23", 2))
		return EM_ERR_BAD_VALUE; /* constraint: the caller usually knows better */
	return EM_ERR_INTERNAL;
}

int store_prepare(struct db_conn *c, const struct stmt *st, int *err)
{
	PGresult *r;

	for (int i = 0; i < c->n_prepared; i++)
		if (c->prepared[i] == st)
			return 0;
	if (c->n_prepared >= DB_MAX_PREPARED) {
		*err = EM_ERR_INTERNAL;
		log_error("db too many prepared statements");
		return -1;
	}
	r = PQprepare(c->pg, st->name, st->sql, 0, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		*err = store_map_error(c, r, NULL);
		log_error("db prepare failed stmt=%s error=\"%s\"", st->name,
		          one_line(PQresultErrorMessage(r)).s);
		PQclear(r);
		return -1;
	}
	PQclear(r);
	c->prepared[c->n_prepared++] = st;
	return 0;
}

PGresult *store_exec(struct db_conn *c, const struct stmt *st, const struct params *p, int *err,
                     char sqlstate[6])
{
	static const struct params none;
	PGresult *r;
	ExecStatusType status;

	*err = EM_OK;
	if (!p)
		p = &none;
	if (store_prepare(c, st, err))
		return NULL;
	r = PQexecPrepared(c->pg, st->name, p->n, p->values, p->lengths, p->formats, 0);
	status = PQresultStatus(r);
	if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
		return r;
	*err = store_map_error(c, r, sqlstate);
	if (*err != EM_ERR_BAD_VALUE)
		log_warn("db statement failed stmt=%s error=\"%s\"", st->name,
		         r ? one_line(PQresultErrorMessage(r)).s : "no result");
	PQclear(r);
	return NULL;
}

static int simple(struct db_conn *c, const char *sql)
{
	PGresult *r = PQexec(c->pg, sql);
	int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? EM_OK : store_map_error(c, r, NULL);

	PQclear(r);
	return rc;
}

int store_begin(struct db_conn *c)
{
	return simple(c, "BEGIN");
}

int store_commit(struct db_conn *c)
{
	return simple(c, "COMMIT");
}

void store_rollback(struct db_conn *c)
{
	if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		simple(c, "ROLLBACK");
}

int store_fail(struct db_conn *c, struct db_job *job, int err)
{
	store_rollback(c);
	return db_job_fail(job, err, NULL);
}

int store_fail_msg(struct db_conn *c, struct db_job *job, int err, const char *msg)
{
	store_rollback(c);
	return db_job_fail(job, err, "%s", msg ? msg : "");
}

int store_run(struct db_conn *c, const struct stmt *st, const struct params *p)
{
	int err;
	PGresult *r = store_exec(c, st, p, &err, NULL);

	if (!r)
		return err;
	PQclear(r);
	return EM_OK;
}

const char *store_str(const PGresult *r, int row, int col)
{
	if (!r || row >= PQntuples(r) || PQgetisnull(r, row, col))
		return NULL;
	return PQgetvalue(r, row, col);
}

int64_t store_int(const PGresult *r, int row, int col)
{
	const char *s = store_str(r, row, col);

	return s ? strtoll(s, NULL, 10) : 0;
}

int store_bool(const PGresult *r, int row, int col)
{
	const char *s = store_str(r, row, col);

	return s && s[0] == 't';
}

int store_bytea(const PGresult *r, int row, int col, unsigned char *out, size_t outlen)
{
	const char *s = store_str(r, row, col);
	size_t n = 0;

	if (!s || s[0] != '\\' || s[1] != 'x')
		return -1;
	if (sodium_hex2bin(out, outlen, s + 2, strlen(s + 2), NULL, &n, NULL))
		return -1;
	return (int)n;
}

void store_hash(const void *data, size_t len, unsigned char out[32])
{
	crypto_generichash(out, 32, data, len, NULL, 0);
}

void store_random_token(char out[48], size_t nbytes)
{
	unsigned char raw[32];

	if (nbytes > sizeof(raw))
		nbytes = sizeof(raw);
	/* never a leading '-': an invite code is typed as a command-line argument, where
	 * `-…` reads as an option (this drops 1 in 64 tokens: 0.02 bits of the 120 or more) */
	do {
		randombytes_buf(raw, nbytes);
		sodium_bin2base64(out, 48, raw, nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	} while (out[0] == '-');
	sodium_memzero(raw, sizeof(raw));
}

PGconn *store_connect_blocking(const char *conninfo, int wait_s)
{
	for (int waited = 0;; waited++) {
		PGconn *pg = store_open(conninfo);

		if (PQstatus(pg) == CONNECTION_OK) {
			PQsetNoticeProcessor(pg, notice_quiet, NULL);
			return pg;
		}
		if (waited >= wait_s) {
			log_error("db cannot connect error=\"%s\"", one_line(PQerrorMessage(pg)).s);
			PQfinish(pg);
			return NULL;
		}
		if (waited == 0)
			log_warn("db not reachable yet, waiting up to %ds error=\"%s\"", wait_s,
			         one_line(PQerrorMessage(pg)).s);
		PQfinish(pg);
		sleep(1);
	}
}

int store_load_server_secret(PGconn *pg, unsigned char out[32])
{
	unsigned char fresh[32];
	const char *values[1] = {(const char *)fresh};
	const int lengths[1] = {32}, formats[1] = {1};
	PGresult *r;
	int rc = -1;
	size_t n = 0;

	randombytes_buf(fresh, sizeof(fresh));
	r = PQexecParams(pg,
	                 "INSERT INTO server_secrets (name, value) VALUES ('prelogin', $1) "
	                 "ON CONFLICT (name) DO NOTHING",
	                 1, NULL, values, lengths, formats, 0);
	PQclear(r);
	r = PQexec(pg, "SELECT value FROM server_secrets WHERE name = 'prelogin'");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		const char *s = PQgetvalue(r, 0, 0);

		if (s[0] == '\\' &&
		    !sodium_hex2bin(out, 32, s + 2, strlen(s + 2), NULL, &n, NULL) && n == 32)
			rc = 0;
	}
	PQclear(r);
	sodium_memzero(fresh, sizeof(fresh));
	return rc;
}

int store_create_invite(PGconn *pg, const char *role, int64_t programme_id, int64_t created_by,
                        int ttl_days, int first_run, char code[32], char expires_at[40])
{
	char token[48], prog[24], by[24], ttl[24];
	unsigned char hash[32];
	const char *values[6];
	int lengths[6] = {32, 0, 0, 0, 0, 0}, formats[6] = {1, 0, 0, 0, 0, 0};
	PGresult *r;
	int rc = -1;

	store_random_token(token, 15); /* 120 bits, 20 characters */
	store_hash(token, strlen(token), hash);
	snprintf(prog, sizeof(prog), "%" PRId64, programme_id);
	snprintf(by, sizeof(by), "%" PRId64, created_by);
	snprintf(ttl, sizeof(ttl), "%d", ttl_days);
	values[0] = (const char *)hash;
	values[1] = role;
	values[2] = programme_id ? prog : NULL;
	values[3] = created_by ? by : NULL;
	values[4] = ttl;
	values[5] = first_run ? "true" : "false";
	r = PQexecParams(
	    pg,
	    "INSERT INTO invites (code_hash, role, programme_id, created_by, expires_at, "
	    "first_run) VALUES ($1, $2, $3, $4, now() + make_interval(days => $5::int), $6) "
	    "RETURNING to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
	    6, NULL, values, lengths, formats, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		snprintf(code, 32, "%.31s", token);
		snprintf(expires_at, 40, "%s", PQgetvalue(r, 0, 0));
		rc = 0;
	} else {
		log_error("db cannot create invite error=\"%s\"",
		          one_line(PQresultErrorMessage(r)).s);
	}
	PQclear(r);
	sodium_memzero(token, sizeof(token));
	return rc;
}

int store_is_empty(PGconn *pg)
{
	PGresult *r = PQexec(pg, "SELECT NOT EXISTS (SELECT 1 FROM users)");
	int rc = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		rc = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	return rc;
}
