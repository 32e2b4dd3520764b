/*
 * pg_ingest.c - ementor-pg-ingest: the raw PostgreSQL baseline for scenario B3.
 *
 * It writes the rows ementord writes for chat messages (same columns, sizes,
 * indexes and foreign keys as `messages`), but with no server in between. Comparing
 * its rows/s with the loadgen's persisted msgs/s shows how much of the
 * end-to-end cost is PostgreSQL and how much is the server.
 *
 * DESIGN. A scratch schema `lg_ingest` gets copies of rooms, room_members and
 * messages (CREATE TABLE ... (LIKE public.x INCLUDING ALL), plus the foreign
 * keys of public.messages, which LIKE does not copy), R rooms of M members,
 * and is dropped at the end. The real tables are never touched. Each case
 * runs for --seconds with synchronous_commit = on, one connection, after a
 * TRUNCATE and a CHECKPOINT, and commits batches of 1, 10 or 100 rows:
 *   insert    one multi-row INSERT ... VALUES per batch (autocommit)
 *   pipeline  a libpq pipeline of single-row INSERTs, one transaction per batch
 *   server    a libpq pipeline of the server's own `send` statement (dup check,
 *             room counter row lock, membership check, insert), rows sorted by
 *             room, one transaction per batch: what ementord's batch writer
 *             asks of PostgreSQL. The SQL is a copy of st_send in
 *             server/handle_message.c: keep the two in step.
 *   set       the set-based alternative: five statements per batch (lock the
 *             rooms, find resends, check membership, advance, one INSERT of
 *             arrays), each a round trip, seqs assigned in C.
 *   batch     the set-based statement ementord's writer used for part of issue 18
 *             (removed: slower on a quiet machine, bench/RESULTS.md): one statement per batch, its
 *             rows as binary arrays (resends found with one join, membership
 *             with one semi-join, the rooms locked in id order and each moved
 *             once by its number of new rows, seqs numbered per room, one
 *             INSERT). Kept here as the record of what was measured.
 *
 * Thread: single-threaded.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "em_crypto.h"

#define PI_MAX_BATCH 1000
#define PI_COLS      7

/* Mirror of st_send in server/handle_message.c (search_path = lg_ingest). */
static const char pi_server_sql[] =
    "WITH dup AS (SELECT seq, created_at FROM messages WHERE room_id = $1 AND sender_id = $3 "
    "AND client_msg_id = $4), "
    "r AS (UPDATE rooms SET last_seq = last_seq + 1, epoch_msg_count = epoch_msg_count + 1 "
    "WHERE id = $1 AND epoch = $2 AND NOT rotate_required AND NOT closed AND epoch_msg_count < $7 "
    "AND epoch_started_at > now() - make_interval(days => $8::int) "
    "AND NOT EXISTS (SELECT 1 FROM dup) "
    "AND EXISTS (SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $3 "
    "AND removed_at IS NULL AND roster) RETURNING last_seq), "
    "ins AS (INSERT INTO messages (room_id, seq, sender_id, client_msg_id, epoch, ciphertext, "
    "sig) SELECT $1, last_seq, $3, $4, $2, $5, $6 FROM r RETURNING seq, created_at) "
    "SELECT false, seq, created_at FROM ins UNION ALL SELECT true, seq, created_at FROM dup";

/*
 * The set-based alternative to the writer (tried in ementord and measured
 * slower end to end, see bench/RESULTS.md): one transaction of these five
 * statements per batch, each a round trip, arrays as text literals.
 */
static const char *const pi_set_sql[5] = {
    "SELECT id, epoch, last_seq, epoch_msg_count, rotate_required OR epoch = 0 OR "
    "epoch_started_at <= now() - make_interval(days => 7), now() "
    "FROM rooms WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
    "SELECT t.i, m.seq, m.created_at FROM unnest($1::bigint[], $2::bigint[], $3::bytea[]) "
    "WITH ORDINALITY AS t(room, sender, mid, i) JOIN messages m ON m.room_id = t.room AND "
    "m.sender_id = t.sender AND m.client_msg_id = t.mid",
    "SELECT t.i FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS t(room, sender, i) "
    "WHERE EXISTS (SELECT 1 FROM room_members rm WHERE rm.room_id = t.room AND "
    "rm.user_id = t.sender AND rm.removed_at IS NULL)",
    "UPDATE rooms SET last_seq = v.last, epoch_msg_count = v.cnt FROM unnest($1::bigint[], "
    "$2::bigint[], $3::int[]) AS v(id, last, cnt) WHERE rooms.id = v.id",
    "INSERT INTO messages (room_id, seq, sender_id, client_msg_id, epoch, ciphertext, sig) "
    "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bytea[], $5::int[], "
    "$6::bytea[], $7::bytea[])"};
static const int pi_set_nparams[5] = {1, 3, 2, 3, 7};

/* The set-based statement ementord's writer had for a while (search_path = lg_ingest). */
static const char pi_batch_sql[] =
    "WITH i AS (SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::bytea[], "
    "$5::bytea[], $6::bytea[]) WITH ORDINALITY AS t(room, epoch, sender, cid, ct, sig, ord)), "
    "dup AS (SELECT i.ord, m.seq, m.created_at FROM i JOIN messages m ON m.room_id = i.room "
    "AND m.sender_id = i.sender AND m.client_msg_id = i.cid), "
    "ok AS (SELECT i.*, row_number() OVER (PARTITION BY i.room ORDER BY i.ord) AS rn FROM i "
    "WHERE NOT EXISTS (SELECT 1 FROM dup WHERE dup.ord = i.ord) AND EXISTS (SELECT 1 FROM "
    "room_members rm WHERE rm.room_id = i.room AND rm.user_id = i.sender AND "
    "rm.removed_at IS NULL AND rm.roster)), "
    "k AS (SELECT room, min(epoch) AS epoch, max(epoch) AS epoch_max, count(*) AS n FROM ok "
    "GROUP BY room), "
    "lk AS (SELECT id FROM rooms WHERE id IN (SELECT room FROM k) ORDER BY id FOR UPDATE), "
    "r AS (UPDATE rooms SET last_seq = last_seq + k.n, epoch_msg_count = epoch_msg_count + k.n "
    "FROM k WHERE rooms.id = k.room AND rooms.id IN (SELECT id FROM lk) AND "
    "rooms.epoch = k.epoch AND k.epoch = k.epoch_max AND NOT rotate_required AND NOT closed "
    "AND epoch_msg_count + k.n <= $7 AND epoch_started_at > now() - make_interval(days => "
    "$8::int) RETURNING rooms.id, rooms.last_seq - k.n AS base), "
    "ins AS (INSERT INTO messages (room_id, seq, sender_id, client_msg_id, epoch, ciphertext, "
    "sig) SELECT ok.room, r.base + ok.rn, ok.sender, ok.cid, ok.epoch, ok.ct, ok.sig "
    "FROM ok JOIN r ON r.id = ok.room RETURNING created_at) "
    "SELECT ok.ord, false, r.base + ok.rn, (SELECT created_at FROM ins LIMIT 1) "
    "FROM ok JOIN r ON r.id = ok.room "
    "UNION ALL SELECT ord, true, seq, created_at FROM dup";

static const char pi_insert1_sql[] =
    "INSERT INTO messages (room_id, seq, sender_id, client_msg_id, epoch, ciphertext, sig) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7)";

enum pi_mode { PI_INSERT, PI_PIPELINE, PI_SERVER, PI_SET, PI_BATCH, PI_MODES };
static const char *const pi_mode_names[] = {"insert", "pipeline", "server", "set", "batch"};

struct pi_opts {
	const char *db;
	double seconds;
	int rooms, members, size;
	int batches[8], nbatches;
	int modes[PI_MODES], nmodes;
	int json, keep;
};

/* One row's parameters, as the server binds them (ints as text, bytea binary). */
struct pi_row {
	int64_t room, seq, sender;
	unsigned char cid[EM_MSG_ID_BYTES];
	char room_s[24], seq_s[24], sender_s[24];
};

static struct {
	struct pi_opts o;
	PGconn *pg;
	unsigned char ct[EM_MSG_CIPHERTEXT_MAX], sig[EM_SIG_BYTES];
	int ct_len;
	int64_t *room_seq; /* client-side seq per room for insert/pipeline */
	int64_t next_row;
	struct pi_row rows[PI_MAX_BATCH];
	uint32_t *lat; /* per-commit latency, microseconds */
	size_t nlat, caplat;
} pi;

static int64_t pi_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Runs one utility statement; returns 0, or -1 after printing the error. */
static int pi_exec(const char *sql)
{
	PGresult *r = PQexec(pi.pg, sql);
	ExecStatusType st = PQresultStatus(r);
	int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;

	if (rc)
		fprintf(stderr, "ementor-pg-ingest: %.60s...: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	return rc;
}

/* First column of the first row of a query, copied into out; "" on failure. */
static void pi_value(const char *sql, char *out, size_t outlen)
{
	PGresult *r = PQexec(pi.pg, sql);

	snprintf(out, outlen, "%s",
	         PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0)
	                                                                  : "");
	PQclear(r);
}

static int pi_setup_schema(void)
{
	char sql[1024];
	PGresult *fk = NULL;
	int rc = -1;

	pi_value("SELECT to_regclass('public.messages') IS NOT NULL", sql, sizeof(sql));
	if (strcmp(sql, "t")) {
		fprintf(stderr, "ementor-pg-ingest: no table public.messages: apply the migrations "
		                "first (start ementord once, or `ementord migrate`)\n");
		return -1;
	}
	/* the foreign keys of messages, printed while only public is visible */
	if (pi_exec("SET search_path = public"))
		return -1;
	fk = PQexec(pi.pg, "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
	                   "WHERE conrelid = 'public.messages'::regclass AND contype = 'f'");
	if (PQresultStatus(fk) != PGRES_TUPLES_OK)
		goto out;
	if (pi_exec("DROP SCHEMA IF EXISTS lg_ingest CASCADE") ||
	    pi_exec("CREATE SCHEMA lg_ingest") ||
	    pi_exec("CREATE TABLE lg_ingest.rooms (LIKE public.rooms INCLUDING ALL)") ||
	    pi_exec(
	        "CREATE TABLE lg_ingest.room_members (LIKE public.room_members INCLUDING ALL)") ||
	    pi_exec("CREATE TABLE lg_ingest.messages (LIKE public.messages INCLUDING ALL)") ||
	    pi_exec("SET search_path = lg_ingest"))
		goto out;
	for (int i = 0; i < PQntuples(fk); i++) {
		snprintf(sql, sizeof(sql), "ALTER TABLE messages ADD CONSTRAINT \"%s\" %s",
		         PQgetvalue(fk, i, 0), PQgetvalue(fk, i, 1));
		if (pi_exec(sql))
			goto out;
	}
	snprintf(sql, sizeof(sql),
	         "INSERT INTO rooms (id, programme_id, kind, name, epoch, rotate_required) "
	         "SELECT g, 1, 'group', 'bench', 1, false FROM generate_series(1, %d) g",
	         pi.o.rooms);
	if (pi_exec(sql))
		goto out;
	snprintf(sql, sizeof(sql),
	         "INSERT INTO room_members (id, room_id, user_id, role, roster) "
	         "SELECT (r - 1) * %d + s, r, (r - 1) * %d + s, "
	         "CASE WHEN s = 1 THEN 'mentor' ELSE 'mentee' END, true "
	         "FROM generate_series(1, %d) r, generate_series(1, %d) s",
	         pi.o.members, pi.o.members, pi.o.rooms, pi.o.members);
	if (pi_exec(sql) || pi_exec("ANALYZE rooms") || pi_exec("ANALYZE room_members"))
		goto out;
	rc = 0;
out:
	PQclear(fk);
	return rc;
}

/* Fills the next n rows: rooms round-robin, senders in turn within each room. */
static void pi_next_rows(int n, int with_seq)
{
	for (int i = 0; i < n; i++) {
		struct pi_row *row = &pi.rows[i];
		int64_t k = pi.next_row++;

		row->room = k % pi.o.rooms + 1;
		row->sender = (row->room - 1) * pi.o.members + (k / pi.o.rooms) % pi.o.members + 1;
		row->seq = with_seq ? ++pi.room_seq[row->room - 1] : 0;
		randombytes_buf(row->cid, sizeof(row->cid));
		snprintf(row->room_s, sizeof(row->room_s), "%" PRId64, row->room);
		snprintf(row->seq_s, sizeof(row->seq_s), "%" PRId64, row->seq);
		snprintf(row->sender_s, sizeof(row->sender_s), "%" PRId64, row->sender);
	}
}

static int pi_cmp_room(const void *a, const void *b)
{
	const struct pi_row *x = a, *y = b;

	return x->room < y->room ? -1 : x->room > y->room;
}

static int pi_prepare(const char *name, const char *sql)
{
	PGresult *r = PQprepare(pi.pg, name, sql, 0, NULL);
	int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;

	if (rc)
		fprintf(stderr, "ementor-pg-ingest: prepare %s: %s", name, PQresultErrorMessage(r));
	PQclear(r);
	return rc;
}

/* Prepares "ins_B": one INSERT of B rows. */
static int pi_prepare_multi(int b)
{
	size_t cap = 256 + (size_t)b * 64;
	char *sql = malloc(cap), name[32];
	size_t len;
	int rc;

	if (!sql)
		return -1;
	len = (size_t)snprintf(sql, cap,
	                       "INSERT INTO messages (room_id, seq, sender_id, client_msg_id, "
	                       "epoch, ciphertext, sig) VALUES ");
	for (int i = 0; i < b; i++) {
		int p = i * PI_COLS;

		len += (size_t)snprintf(sql + len, cap - len,
		                        "%s($%d, $%d, $%d, $%d, $%d, $%d, $%d)", i ? ", " : "",
		                        p + 1, p + 2, p + 3, p + 4, p + 5, p + 6, p + 7);
	}
	snprintf(name, sizeof(name), "ins_%d", b);
	rc = pi_prepare(name, sql);
	free(sql);
	return rc;
}

static void pi_bind_row(const struct pi_row *row, const char **v, int *l, int *f, int server)
{
	static const char epoch[] = "1", limit[] = "2000000000", days[] = "7";

	if (server) { /* $1 room, $2 epoch, $3 sender, $4 cid, $5 ct, $6 sig, $7, $8 */
		v[0] = row->room_s, v[1] = epoch, v[2] = row->sender_s;
		v[3] = (const char *)row->cid, l[3] = EM_MSG_ID_BYTES, f[3] = 1;
		v[4] = (const char *)pi.ct, l[4] = pi.ct_len, f[4] = 1;
		v[5] = (const char *)pi.sig, l[5] = EM_SIG_BYTES, f[5] = 1;
		v[6] = limit, v[7] = days;
		return;
	}
	/* room_id, seq, sender_id, client_msg_id, epoch, ciphertext, sig */
	v[0] = row->room_s, v[1] = row->seq_s, v[2] = row->sender_s;
	v[3] = (const char *)row->cid, l[3] = EM_MSG_ID_BYTES, f[3] = 1;
	v[4] = epoch;
	v[5] = (const char *)pi.ct, l[5] = pi.ct_len, f[5] = 1;
	v[6] = (const char *)pi.sig, l[6] = EM_SIG_BYTES, f[6] = 1;
}

/* One batch as one multi-row INSERT (autocommit). Returns rows written or -1. */
static int pi_batch_insert(int b)
{
	static const char *v[PI_MAX_BATCH * PI_COLS];
	static int l[PI_MAX_BATCH * PI_COLS], f[PI_MAX_BATCH * PI_COLS];
	char name[32];
	PGresult *r;
	int rc;

	memset(l, 0, sizeof(int) * (size_t)b * PI_COLS);
	memset(f, 0, sizeof(int) * (size_t)b * PI_COLS);
	pi_next_rows(b, 1);
	for (int i = 0; i < b; i++)
		pi_bind_row(&pi.rows[i], v + i * PI_COLS, l + i * PI_COLS, f + i * PI_COLS, 0);
	snprintf(name, sizeof(name), "ins_%d", b);
	r = PQexecPrepared(pi.pg, name, b * PI_COLS, v, l, f, 0);
	rc = PQresultStatus(r) == PGRES_COMMAND_OK ? b : -1;
	if (rc < 0)
		fprintf(stderr, "ementor-pg-ingest: insert: %s", PQresultErrorMessage(r));
	PQclear(r);
	return rc;
}

/*
 * One batch as a pipeline of b statements = one implicit transaction: plain
 * INSERTs, or (server) the writer's own statement, rows sorted by room.
 */
static int pi_batch_pipeline(int b, int server)
{
	const char *v[8];
	int l[8], f[8], rows = 0, err = 0;
	PGresult *r;

	pi_next_rows(b, !server);
	if (server)
		qsort(pi.rows, (size_t)b, sizeof(pi.rows[0]), pi_cmp_room);
	if (!PQenterPipelineMode(pi.pg))
		return -1;
	for (int i = 0; i < b; i++) {
		memset(l, 0, sizeof(l));
		memset(f, 0, sizeof(f));
		pi_bind_row(&pi.rows[i], v, l, f, server);
		if (!PQsendQueryPrepared(pi.pg, server ? "send" : "ins1", server ? 8 : PI_COLS, v,
		                         l, f, 0))
			return -1;
	}
	if (!PQpipelineSync(pi.pg))
		return -1;
	for (int i = 0; i < b; i++) {
		r = PQgetResult(pi.pg);
		if (!r)
			return -1;
		if (PQresultStatus(r) == PGRES_TUPLES_OK && server && PQntuples(r) == 1)
			rows++;
		else if (PQresultStatus(r) == PGRES_COMMAND_OK && !server)
			rows++;
		else if (!err) {
			fprintf(stderr, "ementor-pg-ingest: pipeline: %s%s",
			        PQresultErrorMessage(r),
			        PQresultStatus(r) == PGRES_TUPLES_OK ? "(a send stored nothing)\n"
			                                             : "");
			err = 1;
		}
		PQclear(r);
		PQclear(PQgetResult(pi.pg)); /* the NULL after each statement */
	}
	r = PQgetResult(pi.pg); /* the sync: the COMMIT happened here */
	if (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC)
		err = 1;
	PQclear(r);
	if (!PQexitPipelineMode(pi.pg))
		return -1;
	return err ? -1 : rows;
}

/* A growing text literal of a PostgreSQL array: '{1,2}' or '{"\\x0a0b"}'. */
struct pi_text {
	char *s;
	size_t len, cap;
};

static int pi_text_put(struct pi_text *t, const char *s, size_t n)
{
	if (t->len + n + 2 > t->cap) {
		size_t cap = (t->len + n + 2) * 2;
		char *grown = realloc(t->s, cap);

		if (!grown)
			return -1;
		t->s = grown, t->cap = cap;
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = 0;
	return 0;
}

static int pi_text_item(struct pi_text *t, const char *s, size_t n)
{
	return pi_text_put(t, t->len > 1 ? "," : "", t->len > 1) || pi_text_put(t, s, n);
}

static int pi_text_int(struct pi_text *t, int64_t v)
{
	char buf[24];

	return pi_text_item(t, buf, (size_t)snprintf(buf, sizeof(buf), "%" PRId64, v));
}

static int pi_text_bytea(struct pi_text *t, const unsigned char *b, size_t n)
{
	char hex[2 * EM_MSG_CIPHERTEXT_MAX + 8];

	memcpy(hex, "\"\\\\x", 4);
	sodium_bin2hex(hex + 4, sizeof(hex) - 4, b, n);
	hex[4 + 2 * n] = '"';
	return pi_text_item(t, hex, 4 + 2 * n + 1);
}

static PGresult *pi_set_exec(int stmt, struct pi_text *a)
{
	const char *v[7];
	char name[16];
	PGresult *r;

	for (int k = 0; k < pi_set_nparams[stmt]; k++)
		if (pi_text_put(&a[k], "}", 1))
			return NULL;
		else
			v[k] = a[k].s;
	snprintf(name, sizeof(name), "set%d", stmt);
	r = PQexecPrepared(pi.pg, name, pi_set_nparams[stmt], v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "ementor-pg-ingest: set %d: %s", stmt, PQresultErrorMessage(r));
		PQclear(r);
		return NULL;
	}
	for (int k = 0; k < 7; k++)
		a[k].len = 0, pi_text_put(&a[k], "{", 1);
	return r;
}

/*
 * One batch the set-based way: lock the rooms, look for resends, check
 * membership, assign seqs here, advance the rooms, one INSERT of arrays.
 */
static int pi_batch_set(int b)
{
	static struct pi_text a[7];
	static int64_t last[PI_MAX_BATCH], ids[PI_MAX_BATCH];
	PGresult *r = NULL;
	int nr = 0, k, err = -1;

	pi_next_rows(b, 0);
	qsort(pi.rows, (size_t)b, sizeof(pi.rows[0]), pi_cmp_room);
	for (k = 0; k < 7; k++)
		a[k].len = 0, pi_text_put(&a[k], "{", 1);
	if (pi_exec("BEGIN"))
		return -1;
	for (int i = 0; i < b; i++)
		if (!i || pi.rows[i].room != pi.rows[i - 1].room)
			pi_text_int(&a[0], pi.rows[i].room);
	if (!(r = pi_set_exec(0, a)))
		goto out;
	nr = PQntuples(r);
	for (k = 0; k < nr; k++)
		ids[k] = atoll(PQgetvalue(r, k, 0)), last[k] = atoll(PQgetvalue(r, k, 2));
	PQclear(r);
	for (int i = 0; i < b; i++) {
		pi_text_int(&a[0], pi.rows[i].room);
		pi_text_int(&a[1], pi.rows[i].sender);
		pi_text_bytea(&a[2], pi.rows[i].cid, EM_MSG_ID_BYTES);
	}
	if (!(r = pi_set_exec(1, a)))
		goto out;
	PQclear(r);
	for (int i = 0; i < b; i++) {
		pi_text_int(&a[0], pi.rows[i].room);
		pi_text_int(&a[1], pi.rows[i].sender);
	}
	if (!(r = pi_set_exec(2, a)))
		goto out;
	if (PQntuples(r) != b) {
		fprintf(stderr, "ementor-pg-ingest: set: %d of %d senders are members\n",
		        PQntuples(r), b);
		goto out;
	}
	PQclear(r);
	for (int i = 0, j = 0; i < b; i++) {
		while (j < nr && ids[j] < pi.rows[i].room)
			j++;
		pi.rows[i].seq = ++last[j];
	}
	for (k = 0; k < nr; k++) {
		pi_text_int(&a[0], ids[k]);
		pi_text_int(&a[1], last[k]);
		pi_text_int(&a[2], last[k]);
	}
	if (!(r = pi_set_exec(3, a)))
		goto out;
	PQclear(r);
	for (int i = 0; i < b; i++) {
		pi_text_int(&a[0], pi.rows[i].room);
		pi_text_int(&a[1], pi.rows[i].seq);
		pi_text_int(&a[2], pi.rows[i].sender);
		pi_text_bytea(&a[3], pi.rows[i].cid, EM_MSG_ID_BYTES);
		pi_text_int(&a[4], 1);
		pi_text_bytea(&a[5], pi.ct, (size_t)pi.ct_len);
		pi_text_bytea(&a[6], pi.sig, EM_SIG_BYTES);
	}
	if (!(r = pi_set_exec(4, a)))
		goto out;
	err = 0;
out:
	PQclear(r);
	if (pi_exec(err ? "ROLLBACK" : "COMMIT"))
		return -1;
	return err ? -1 : b;
}

/* A binary PostgreSQL array of n elements of type oid (bytea 17, int8 20). */
struct pi_arr {
	unsigned char *b;
	size_t len, cap;
};

static int pi_arr_put(struct pi_arr *a, const void *p, size_t n)
{
	if (a->len + n > a->cap) {
		size_t cap = (a->len + n) * 2 + 64;
		unsigned char *g = realloc(a->b, cap);

		if (!g)
			return -1;
		a->b = g, a->cap = cap;
	}
	memcpy(a->b + a->len, p, n);
	a->len += n;
	return 0;
}

static int pi_arr_u32(struct pi_arr *a, uint32_t v)
{
	unsigned char be[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
	                       (unsigned char)(v >> 8), (unsigned char)v};

	return pi_arr_put(a, be, 4);
}

static int pi_arr_start(struct pi_arr *a, uint32_t oid, int n)
{
	a->len = 0;
	return pi_arr_u32(a, 1) || pi_arr_u32(a, 0) || pi_arr_u32(a, oid) ||
	       pi_arr_u32(a, (uint32_t)n) || pi_arr_u32(a, 1);
}

static int pi_arr_bytes(struct pi_arr *a, const void *p, size_t n)
{
	return pi_arr_u32(a, (uint32_t)n) || pi_arr_put(a, p, n);
}

static int pi_arr_int8(struct pi_arr *a, int64_t v)
{
	return pi_arr_u32(a, 8) || pi_arr_u32(a, (uint32_t)((uint64_t)v >> 32)) ||
	       pi_arr_u32(a, (uint32_t)v);
}

/* One batch as one statement of arrays (its own transaction). */
static int pi_batch_arrays(int b)
{
	static struct pi_arr a[6];
	static const char limit[] = "2000000000", days[] = "7";
	const char *v[8];
	int l[8] = {0}, f[8] = {0}, rows = -1;
	PGresult *r;

	pi_next_rows(b, 0);
	if (pi_arr_start(&a[0], 20, b) || pi_arr_start(&a[1], 23, b) ||
	    pi_arr_start(&a[2], 20, b) || pi_arr_start(&a[3], 17, b) ||
	    pi_arr_start(&a[4], 17, b) || pi_arr_start(&a[5], 17, b))
		return -1;
	for (int k = 0; k < b; k++) {
		unsigned char one[4] = {0, 0, 0, 1};

		pi_arr_int8(&a[0], pi.rows[k].room);
		pi_arr_bytes(&a[1], one, 4);
		pi_arr_int8(&a[2], pi.rows[k].sender);
		pi_arr_bytes(&a[3], pi.rows[k].cid, EM_MSG_ID_BYTES);
		pi_arr_bytes(&a[4], pi.ct, (size_t)pi.ct_len);
		pi_arr_bytes(&a[5], pi.sig, EM_SIG_BYTES);
	}
	for (int k = 0; k < 6; k++)
		v[k] = (const char *)a[k].b, l[k] = (int)a[k].len, f[k] = 1;
	v[6] = limit, v[7] = days;
	r = PQexecPrepared(pi.pg, "batch", 8, v, l, f, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		rows = PQntuples(r);
	else
		fprintf(stderr, "ementor-pg-ingest: batch: %s", PQresultErrorMessage(r));
	PQclear(r);
	if (rows >= 0 && rows != b) {
		fprintf(stderr, "ementor-pg-ingest: batch: %d of %d rows stored\n", rows, b);
		rows = -1;
	}
	return rows;
}

static int pi_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double pi_pct(double p)
{
	size_t i;

	if (!pi.nlat)
		return -1;
	i = (size_t)ceil(p / 100.0 * (double)pi.nlat);
	if (i < 1)
		i = 1;
	if (i > pi.nlat)
		i = pi.nlat;
	return pi.lat[i - 1] / 1000.0;
}

static int pi_case(enum pi_mode mode, int b)
{
	int64_t rows = 0, commits = 0, t0, t_end, t;
	double secs, rps;

	if (pi_exec("TRUNCATE messages") ||
	    pi_exec("UPDATE rooms SET last_seq = 0, "
	            "epoch_msg_count = 0, epoch_started_at = now()"))
		return -1;
	PQclear(PQexec(pi.pg, "CHECKPOINT")); /* needs superuser; without it, just go on */
	memset(pi.room_seq, 0, sizeof(*pi.room_seq) * (size_t)pi.o.rooms);
	if (mode == PI_INSERT && pi_prepare_multi(b))
		return -1;
	pi.nlat = 0;
	t0 = pi_now_us();
	t_end = t0 + (int64_t)(pi.o.seconds * 1e6);
	do {
		int64_t start = pi_now_us();
		int n = mode == PI_INSERT  ? pi_batch_insert(b)
		        : mode == PI_SET   ? pi_batch_set(b)
		        : mode == PI_BATCH ? pi_batch_arrays(b)
		                           : pi_batch_pipeline(b, mode == PI_SERVER);

		if (n < 0)
			return -1;
		t = pi_now_us();
		rows += n;
		commits++;
		if (pi.nlat == pi.caplat) {
			size_t cap = pi.caplat ? pi.caplat * 2 : 65536;
			uint32_t *grown = realloc(pi.lat, cap * sizeof(*grown));

			if (!grown)
				return -1;
			pi.lat = grown;
			pi.caplat = cap;
		}
		pi.lat[pi.nlat++] = (uint32_t)(t - start);
	} while (t < t_end);
	if (mode == PI_INSERT) {
		char sql[64];

		snprintf(sql, sizeof(sql), "DEALLOCATE ins_%d", b);
		pi_exec(sql);
	}
	secs = (double)(t - t0) / 1e6;
	rps = (double)rows / secs;
	qsort(pi.lat, pi.nlat, sizeof(*pi.lat), pi_cmp_u32);
	printf("  %-8s batch %4d  %9.0f rows/s  %8.0f commits/s  commit ms p50 %6.2f p99 %6.2f max "
	       "%7.2f  (%" PRId64 " rows in %.1f s)\n",
	       pi_mode_names[mode], b, rps, (double)commits / secs, pi_pct(50), pi_pct(99),
	       pi_pct(100), rows, secs);
	if (pi.o.json)
		printf(
		    "{\"bench\":\"pg_ingest\",\"mode\":\"%s\",\"batch\":%d,\"rows_per_s\":%.1f,"
		    "\"commits_per_s\":%.1f,\"commit_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},"
		    "\"rows\":%" PRId64
		    ",\"seconds\":%.3f,\"rooms\":%d,\"members\":%d,\"size\":%d}\n",
		    pi_mode_names[mode], b, rps, (double)commits / secs, pi_pct(50), pi_pct(99),
		    pi_pct(100), rows, secs, pi.o.rooms, pi.o.members, pi.o.size);
	fflush(stdout);
	return 0;
}

static void pi_usage(FILE *f, const char *argv0)
{
	fprintf(f,
	        "Usage: %s --db CONNINFO [OPTIONS]\n"
	        "\n"
	        "Raw PostgreSQL baseline of ementor's message rows: commits batches of rows\n"
	        "into copies of rooms / room_members / messages in a scratch schema lg_ingest\n"
	        "(dropped at the end), synchronous_commit = on, one connection.\n"
	        "\n"
	        "  --db CONNINFO      the database ementord uses (migrations applied)\n"
	        "  --seconds S        seconds per case (default 5)\n"
	        "  --batches LIST     rows per commit, comma-separated (default 1,10,100)\n"
	        "  --modes LIST       insert,pipeline,server,set,batch (default: all five)\n"
	        "  --rooms R          rooms the rows are spread over (default 50)\n"
	        "  --members M        members per room (default 4)\n"
	        "  --size BYTES       plaintext size the ciphertext is made for (default 256)\n"
	        "  --json             also print one JSON line per case\n"
	        "  --keep             keep the lg_ingest schema\n",
	        argv0);
}

static int pi_parse_list(char *s, int *out, int max, int is_mode)
{
	int n = 0;

	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		int v = -1;

		if (n >= max)
			return -1;
		if (is_mode) {
			for (int m = 0; m < PI_MODES; m++)
				if (!strcmp(tok, pi_mode_names[m]))
					v = m;
		} else {
			v = atoi(tok);
			if (v < 1 || v > PI_MAX_BATCH)
				v = -1;
		}
		if (v < 0)
			return -1;
		out[n++] = v;
	}
	return n ? n : -1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"db", required_argument, NULL, 'd'},
	    {"seconds", required_argument, NULL, 's'},
	    {"batches", required_argument, NULL, 'b'},
	    {"modes", required_argument, NULL, 'm'},
	    {"rooms", required_argument, NULL, 'R'},
	    {"members", required_argument, NULL, 'M'},
	    {"size", required_argument, NULL, 'z'},
	    {"json", no_argument, NULL, 'j'},
	    {"keep", no_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct pi_opts *o = &pi.o;
	char sc[32], fs[32], ver[128], wal[32];
	unsigned char pt[EM_MSG_PLAINTEXT_MAX], key[EM_ROOM_KEY_BYTES], cid[EM_MSG_ID_BYTES];
	struct em_keys keys;
	int c, rc = 1;

	o->seconds = 5;
	o->rooms = 50;
	o->members = 4;
	o->size = 256;
	o->batches[0] = 1, o->batches[1] = 10, o->batches[2] = 100, o->nbatches = 3;
	o->modes[0] = PI_INSERT, o->modes[1] = PI_PIPELINE, o->modes[2] = PI_SERVER,
	o->modes[3] = PI_SET, o->modes[4] = PI_BATCH, o->nmodes = PI_MODES;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->db = optarg;
			break;
		case 's':
			o->seconds = atof(optarg);
			break;
		case 'b':
			o->nbatches = pi_parse_list(optarg, o->batches, 8, 0);
			break;
		case 'm':
			o->nmodes = pi_parse_list(optarg, o->modes, PI_MODES, 1);
			break;
		case 'R':
			o->rooms = atoi(optarg);
			break;
		case 'M':
			o->members = atoi(optarg);
			break;
		case 'z':
			o->size = atoi(optarg);
			break;
		case 'j':
			o->json = 1;
			break;
		case 'k':
			o->keep = 1;
			break;
		case 'h':
			pi_usage(stdout, argv[0]);
			return 0;
		default:
			pi_usage(stderr, argv[0]);
			return 2;
		}
	}
	if (!o->db || optind < argc || o->nbatches < 0 || o->nmodes < 0 || o->seconds <= 0 ||
	    o->seconds > 600 || o->rooms < 1 || o->rooms > 100000 || o->members < 2 ||
	    o->members > 6 || o->size < 1 || o->size > EM_MSG_PLAINTEXT_MAX) {
		pi_usage(stderr, argv[0]);
		return 2;
	}
	if (em_crypto_init())
		return 1;
	/* one real ciphertext and signature of the right sizes, reused for every row */
	memset(pt, 'x', (size_t)o->size);
	randombytes_buf(key, sizeof(key));
	randombytes_buf(cid, sizeof(cid));
	em_keys_generate(&keys);
	pi.ct_len = em_msg_encrypt(key, 1, 1, 1, cid, &(struct em_msg_meta){.counter = 1}, pt,
	                           (size_t)o->size, keys.sign_sk, pi.ct, pi.sig);
	em_keys_wipe(&keys);
	pi.room_seq = calloc((size_t)o->rooms, sizeof(*pi.room_seq));
	if (pi.ct_len < 0 || !pi.room_seq)
		goto out;

	pi.pg = PQconnectdb(o->db);
	if (PQstatus(pi.pg) != CONNECTION_OK) {
		fprintf(stderr, "ementor-pg-ingest: cannot connect: %s", PQerrorMessage(pi.pg));
		goto out;
	}
	if (pi_exec("SET synchronous_commit = on"))
		goto out;
	pi_value("SHOW synchronous_commit", sc, sizeof(sc));
	pi_value("SHOW fsync", fs, sizeof(fs));
	pi_value("SHOW wal_sync_method", wal, sizeof(wal));
	pi_value("SHOW server_version", ver, sizeof(ver));
	printf(
	    "ementor-pg-ingest: PostgreSQL %s, synchronous_commit=%s fsync=%s wal_sync_method=%s, "
	    "%d rooms x %d members, ciphertext %d bytes, %.0f s per case, 1 connection\n",
	    ver, sc, fs, wal, o->rooms, o->members, pi.ct_len, o->seconds);
	if (pi_setup_schema() || pi_prepare("ins1", pi_insert1_sql) ||
	    pi_prepare("send", pi_server_sql) || pi_prepare("set0", pi_set_sql[0]) ||
	    pi_prepare("set1", pi_set_sql[1]) || pi_prepare("set2", pi_set_sql[2]) ||
	    pi_prepare("set3", pi_set_sql[3]) || pi_prepare("set4", pi_set_sql[4]) ||
	    pi_prepare("batch", pi_batch_sql))
		goto out;
	for (int m = 0; m < o->nmodes; m++)
		for (int b = 0; b < o->nbatches; b++)
			if (pi_case((enum pi_mode)o->modes[m], o->batches[b]))
				goto out;
	rc = 0;
out:
	if (pi.pg && PQstatus(pi.pg) == CONNECTION_OK && !o->keep)
		pi_exec("DROP SCHEMA IF EXISTS lg_ingest CASCADE");
	PQfinish(pi.pg);
	free(pi.room_seq);
	free(pi.lat);
	return rc;
}
