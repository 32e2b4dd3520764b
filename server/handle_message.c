/*
 * handle_message.c - end-to-end encrypted messaging on the DB threads: send
 * (the batch writer's group commit), sync (the rooms, then the replay's
 * pages), history, receipt, epoch.commit, keys.get, and the reads of what
 * another node announced. The service thread's side (subscribing, paging,
 * typing) is svc_message.c's.
 *
 * DESIGN
 * - The server never sees a key or a plaintext. It checks what its own
 *   decisions depend on: membership, the room's epoch, and the signature of an
 *   epoch commit (whose recipients must be exactly the current members).
 * - send: jobs go to the batch writer. Its batch is one pipelined
 *   transaction of one statement per message (st_send), in arrival order
 *   within each room, the rooms in id order (concurrent writers lock rooms in
 *   the same order): the statement returns the original ack of a resend
 *   (UNIQUE(sender, client_msg_id)), checks membership, the room's epoch,
 *   rotation state and message limit, moves the room's gapless last_seq and
 *   inserts the row; what it refuses is diagnosed after the commit. Acks and
 *   live events go out only after the COMMIT that stored them returns. (One
 *   set-based statement per batch over arrays was tried and measured worse on
 *   a quiet machine: twice PostgreSQL's CPU and four times the latency at
 *   2,000 msg/s; bench/RESULTS.md.)
 * - sync: the first job lists the rooms and the service thread subscribes the
 *   connection to them; only then are the pages of the replay read, so a
 *   message committed meanwhile is either in the replay or pushed live (or
 *   both: clients drop a seq they already have), never lost. The first page
 *   also re-checks membership after subscribing, so a removal committed
 *   between the two halves does not leave the connection subscribed. A next page is
 *   fetched only when the connection's output queue has room (slow readers
 *   hold back the replay instead of being flooded).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "em_crypto.h"
#include "events.h"
#include "handlers.h"
#include "log.h"
#include "metrics.h"
#include "model.h"
#include "server.h"
#include "store.h"

#define SYNC_PAGE 500
/* Ciphertext per replay page or history reply, counted as twice its bytes (128 KiB of
 * ciphertext), so a page stays well under the per-connection output cap whatever the
 * message sizes. */
#define PAGE_BYTES (256 * 1024)

/* A bytea column as base64, made by PostgreSQL; b64_col() makes it base64url without
 * padding (encode's base64 has '=' padding and a newline every 76 characters). Not
 * translate() in SQL: per character it searches its list, multibyte-aware, and took
 * most of PostgreSQL's CPU in a replay (bench/RESULTS.md, B6). */
#define SQL_B64(col) "encode(" col ", 'base64')"

#define MSG_CID  SQL_B64("m.client_msg_id")
#define MSG_CT   SQL_B64("m.ciphertext")
#define MSG_SIG  SQL_B64("m.sig")
#define MSG_IDS  "m.room_id, m.seq, m.epoch, m.sender_id, COALESCE(u.username, ''), "
#define MSG_COLS MSG_IDS MSG_CID ", " MSG_CT ", " MSG_SIG ", " MSG_TAIL
#define MSG_TAIL SQL_TS("m.created_at") ", length(m.ciphertext)"
#define MSG_FROM "FROM messages m LEFT JOIN users u ON u.id = m.sender_id "

static const struct stmt st_send = {
    "msg_send",
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
    "SELECT false, seq, " SQL_TS("created_at") " FROM ins UNION ALL "
                                               "SELECT true, seq, " SQL_TS(
                                                   "created_at") " FROM dup"};

/* $1 rooms, $2 epochs, $3 senders, $4 client ids, $5 ciphertexts, $6 signatures (one
 * element per message, binary arrays), $7 messages per epoch, $8 days per epoch. Returns
 * (ordinal, duplicate, seq, sent_at) per message stored or recognised as a resend; the
 * FOR UPDATE in id order keeps the lock order of concurrent writers (other nodes). */
static const struct stmt st_send_why = {
    "msg_send_why",
    "SELECT r.epoch, r.rotate_required OR r.epoch = 0 OR r.epoch_msg_count >= $3 OR "
    "r.epoch_started_at <= now() - make_interval(days => $4::int), "
    "EXISTS (SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2 "
    "AND removed_at IS NULL), "
    "EXISTS (SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2 "
    "AND removed_at IS NULL AND roster), r.closed FROM rooms r WHERE r.id = $1"};

static const struct stmt st_member_room = {
    "msg_member_room",
    "SELECT r.last_seq, r.epoch FROM rooms r WHERE r.id = $1 AND EXISTS (SELECT 1 FROM "
    "room_members WHERE room_id = $1 AND user_id = $2 AND removed_at IS NULL)"};

static const struct stmt st_my_rooms = {
    "msg_my_rooms",
    "SELECT rm.room_id, r.last_seq, r.epoch FROM room_members rm JOIN rooms r ON r.id = "
    "rm.room_id WHERE rm.user_id = $1 AND rm.removed_at IS NULL ORDER BY rm.room_id"};

static const struct stmt st_page = {
    "msg_page",
    "SELECT " MSG_COLS " " MSG_FROM "WHERE m.room_id = $1 AND m.seq > $2 AND EXISTS (SELECT 1 "
    "FROM room_members WHERE room_id = $1 AND user_id = $3 AND removed_at IS NULL) "
    "ORDER BY m.seq LIMIT $4"};

/* Which of these rooms the user is still a member of (the re-check after subscribing). */
static const struct stmt st_still_member = {
    "msg_still_member",
    "SELECT room_id FROM room_members WHERE user_id = $1 AND removed_at IS NULL "
    "AND room_id = ANY($2::bigint[])"};

static const struct stmt st_receipt = {
    "msg_receipt",
    "INSERT INTO receipts (room_id, user_id, read_seq) "
    "SELECT $1, $2, LEAST($3, r.last_seq) FROM rooms r WHERE r.id = $1 AND EXISTS (SELECT 1 "
    "FROM room_members WHERE room_id = $1 AND user_id = $2 AND removed_at IS NULL) "
    "ON CONFLICT (room_id, user_id) DO UPDATE SET read_seq = GREATEST(receipts.read_seq, "
    "EXCLUDED.read_seq), updated_at = now() RETURNING read_seq"};

/* The room, locked; the last column is the agreement version a commit must name:
 * the active one where the programme requires agreements (0 while none is
 * active: rooms older than agreements), else 0. */
static const struct stmt st_commit_room = {
    "msg_commit_room",
    "SELECT r.epoch, EXISTS (SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2 "
    "AND removed_at IS NULL), EXISTS (SELECT 1 FROM room_members WHERE room_id = $1 "
    "AND user_id = $2 AND removed_at IS NULL AND roster), r.closed, "
    "CASE WHEN (SELECT agreement_required FROM programmes WHERE id = r.programme_id) "
    "THEN COALESCE((SELECT max(version) FROM agreement_versions WHERE room_id = $1 "
    "AND activated_at IS NOT NULL), 0) ELSE 0 END "
    "FROM rooms r WHERE r.id = $1 FOR UPDATE OF r"};

static const struct stmt st_roster = {
    "msg_roster",
    "SELECT user_id FROM room_members WHERE room_id = $1 AND removed_at IS NULL AND roster "
    "ORDER BY user_id"};

static const struct stmt st_sign_pk = {"msg_sign_pk", "SELECT sign_pk FROM users WHERE id = $1"};

static const struct stmt st_epoch_insert = {
    "msg_epoch_insert",
    "INSERT INTO room_epochs (room_id, epoch, committer_id, commit_sig, agreement_version) "
    "VALUES ($1, $2, $3, $4, $5)"};

static const struct stmt st_envelope_insert = {
    "msg_envelope_insert",
    "INSERT INTO key_envelopes (room_id, epoch, recipient_id, sealed) VALUES ($1, $2, $3, $4)"};

static const struct stmt st_epoch_advance = {
    "msg_epoch_advance",
    "UPDATE rooms SET epoch = $2, epoch_msg_count = 0, epoch_started_at = now(), "
    "rotate_required = false WHERE id = $1"};

static const struct stmt st_keys = {
    "msg_keys",
    "SELECT k.epoch, e.committer_id, k.sealed, e.agreement_version FROM key_envelopes k "
    "JOIN room_epochs e ON "
    "e.room_id = k.room_id AND e.epoch = k.epoch WHERE k.room_id = $1 AND k.recipient_id = $2 "
    "ORDER BY k.epoch"};

/* A base64 column of MSG_COLS (SQL_B64) as a JSON string of base64url without padding
 * (ASCII: no UTF-8 check needed); NULL when out of memory. */
static json_t *b64_col(const PGresult *r, int row, int col)
{
	const char *v = PQgetvalue(r, row, col);
	size_t n = (size_t)PQgetlength(r, row, col), k = 0;
	char small[4096], *out = n <= sizeof(small) ? small : malloc(n);
	json_t *s;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '\n' || v[i] == '=')
			continue;
		out[k++] = v[i] == '+' ? '-' : v[i] == '/' ? '_' : v[i];
	}
	s = json_stringn_nocheck(out, k);
	if (out != small)
		free(out);
	return s;
}

/* A Message object (PROTOCOL.md 5.4) from MSG_COLS starting at col. */
static json_t *message_json(const PGresult *r, int row)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:s, s:o, s:o, s:o, s:s}", "room_id",
	                 (json_int_t)store_int(r, row, 0), "seq", (json_int_t)store_int(r, row, 1),
	                 "epoch", (json_int_t)store_int(r, row, 2), "sender_id",
	                 (json_int_t)store_int(r, row, 3), "sender", store_str(r, row, 4),
	                 "client_msg_id", b64_col(r, row, 5), "ciphertext", b64_col(r, row, 6),
	                 "sig", b64_col(r, row, 7), "sent_at", store_str(r, row, 8));
}

/*
 * Checks the caller is an active member of the room; fills last_seq and epoch.
 * Returns EM_OK, or fails the job (not_member or a DB error).
 */
static int member_check(struct db_conn *c, struct db_job *job, int64_t room_id, int64_t *last_seq,
                        int64_t *epoch)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, room_id);
	params_int(&p, job->user_id);
	r = store_exec(c, &st_member_room, &p, &err, NULL);
	if (!r)
		return store_fail(c, job, err);
	if (PQntuples(r) != 1) {
		PQclear(r);
		store_rollback(c);
		return db_job_fail(job, EM_ERR_NOT_MEMBER, "you are not a member of room %lld",
		                   (long long)room_id);
	}
	if (last_seq)
		*last_seq = store_int(r, 0, 0);
	if (epoch)
		*epoch = store_int(r, 0, 1);
	PQclear(r);
	return EM_OK;
}

/* ---- send: the batch writer --------------------------------------------- */

struct pending_send {
	struct db_job *job;
	int index; /* arrival order, to keep one sender's order within a room */
	int64_t room_id, epoch;
	unsigned char id[EM_MSG_ID_BYTES], sig[EM_SIG_BYTES];
	unsigned char *ct;
	int ct_len;
	int state; /* 0 not sent, 1 stored, 2 duplicate, 3 refused, 4 for st_send */
	int64_t seq;
	char sent_at[40];
};

static int by_room(const void *a, const void *b)
{
	const struct pending_send *x = a, *y = b;

	if (x->room_id != y->room_id)
		return x->room_id < y->room_id ? -1 : 1;
	return x->index - y->index;
}

/* Fills a refused send's error: why did the statement return no row? */
static void send_diagnose(struct db_conn *c, struct pending_send *ps)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, ps->room_id);
	params_int(&p, ps->job->user_id);
	params_int(&p, server.cfg.rotate_messages);
	params_int(&p, server.cfg.rotate_days);
	r = store_exec(c, &st_send_why, &p, &err, NULL);
	if (!r) {
		db_job_fail(ps->job, err, NULL);
		return;
	}
	if (PQntuples(r) != 1 || !store_bool(r, 0, 2))
		db_job_fail(ps->job, EM_ERR_NOT_MEMBER, "you are not a member of room %lld",
		            (long long)ps->room_id);
	else if (store_bool(r, 0, 4))
		db_job_fail(ps->job, EM_ERR_FORBIDDEN,
		            "room %lld is closed: its programme's retention period has ended",
		            (long long)ps->room_id);
	else if (!store_bool(r, 0, 3))
		db_job_fail(ps->job, EM_ERR_AGREEMENT_UNSIGNED,
		            "you are not on the roster of room %lld: sign its agreement first",
		            (long long)ps->room_id);
	else if (store_bool(r, 0, 1))
		db_job_fail(ps->job, EM_ERR_ROTATE_REQUIRED,
		            "room %lld needs a new key epoch (it is at epoch %lld)",
		            (long long)ps->room_id, (long long)store_int(r, 0, 0));
	else
		db_job_fail(ps->job, EM_ERR_STALE_EPOCH, "room %lld is at epoch %lld, not %lld",
		            (long long)ps->room_id, (long long)store_int(r, 0, 0),
		            (long long)ps->epoch);
	PQclear(r);
}

/* Sends the statement of every row in state 4 in one pipeline = one transaction. */
static int send_pipeline(struct db_conn *c, struct pending_send *all, int n_all)
{
	struct pending_send **ps = calloc((size_t)n_all + 1, sizeof(*ps));
	PGresult *r;
	int err = EM_OK, i, n = 0;

	if (!ps)
		return EM_ERR_NOMEM;
	for (i = 0; i < n_all; i++)
		if (all[i].state == 4)
			ps[n++] = &all[i];
	if (!n)
		goto out;
	if (store_prepare(c, &st_send, &err))
		goto out;
	if (!PQenterPipelineMode(c->pg)) {
		err = EM_ERR_INTERNAL;
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct params p = {0};

		params_int(&p, ps[i]->room_id);
		params_int(&p, ps[i]->epoch);
		params_int(&p, ps[i]->job->user_id);
		params_bin(&p, ps[i]->id, EM_MSG_ID_BYTES);
		params_bin(&p, ps[i]->ct, (size_t)ps[i]->ct_len);
		params_bin(&p, ps[i]->sig, EM_SIG_BYTES);
		params_int(&p, server.cfg.rotate_messages);
		params_int(&p, server.cfg.rotate_days);
		if (!PQsendQueryPrepared(c->pg, st_send.name, p.n, p.values, p.lengths, p.formats,
		                         0)) {
			err = EM_ERR_DB_UNAVAILABLE;
			break;
		}
	}
	if (err || !PQpipelineSync(c->pg)) {
		/* the pipeline is in an unknown state: drop the connection */
		store_disconnect(c);
		err = EM_ERR_DB_UNAVAILABLE;
		goto out;
	}
	for (i = 0; i < n; i++) {
		r = PQgetResult(c->pg);
		if (!r) {
			err = EM_ERR_DB_UNAVAILABLE;
			break;
		}
		if (PQresultStatus(r) == PGRES_TUPLES_OK) {
			if (PQntuples(r) == 1) {
				ps[i]->state = store_bool(r, 0, 0) ? 2 : 1;
				ps[i]->seq = store_int(r, 0, 1);
				snprintf(ps[i]->sent_at, sizeof(ps[i]->sent_at), "%s",
				         store_str(r, 0, 2));
			} else {
				ps[i]->state = 3;
			}
		} else if (!err) {
			err = PQresultStatus(r) == PGRES_PIPELINE_ABORTED
			          ? EM_ERR_INTERNAL
			          : store_map_error(c, r, NULL);
			if (PQresultStatus(r) == PGRES_FATAL_ERROR)
				log_warn("db send batch failed error=\"%.200s\"",
				         PQresultErrorMessage(r));
		}
		PQclear(r);
		PQclear(PQgetResult(c->pg)); /* the NULL that ends each query */
	}
	if (i == n) {
		r = PQgetResult(c->pg); /* the sync: COMMIT happened here */
		if (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
			if (!err)
				err = r ? store_map_error(c, r, NULL) : EM_ERR_DB_UNAVAILABLE;
		}
		PQclear(r);
	}
	if (i < n || !PQexitPipelineMode(c->pg)) {
		store_disconnect(c);
		if (!err)
			err = EM_ERR_DB_UNAVAILABLE;
	}
out:
	free(ps);
	return err;
}

/* Writer thread: runs a batch of `send` jobs in one transaction. */
void message_batch_run(struct db_conn *c, struct db_job **jobs, int n)
{
	struct pending_send *ps = calloc((size_t)n, sizeof(*ps));
	int err = EM_OK, i;

	if (!ps) {
		for (i = 0; i < n; i++)
			db_job_fail(jobs[i], EM_ERR_NOMEM, NULL);
		return;
	}
	for (i = 0; i < n; i++) {
		ps[i].job = jobs[i];
		ps[i].index = i;
		ps[i].room_id = job_int(jobs[i], "room_id", 0);
		ps[i].epoch = job_int(jobs[i], "epoch", 0);
		job_bin(jobs[i], "client_msg_id", ps[i].id, sizeof(ps[i].id));
		job_bin(jobs[i], "sig", ps[i].sig, sizeof(ps[i].sig));
		/* the bytes' own size, not the maximum (validated by proto already) */
		ps[i].ct_len = em_b64_decoded_len(job_str(jobs[i], "ciphertext"));
		ps[i].ct = ps[i].ct_len >= 0 ? malloc((size_t)ps[i].ct_len + 1) : NULL;
		ps[i].ct_len =
		    ps[i].ct ? job_bin(jobs[i], "ciphertext", ps[i].ct, (size_t)ps[i].ct_len + 1)
		             : -1;
		if (ps[i].ct_len < 0)
			err = EM_ERR_NOMEM;
	}
	/* rooms in id order: concurrent transactions lock rooms in the same order */
	qsort(ps, (size_t)n, sizeof(*ps), by_room);
	if (!err) {
		for (i = 0; i < n; i++)
			ps[i].state = 4;
		err = send_pipeline(c, ps, n);
	}
	for (i = 0; i < n; i++) {
		struct db_job *job = ps[i].job;

		if (err) {
			db_job_fail(job, err, NULL);
		} else if (ps[i].state == 3) {
			send_diagnose(c, &ps[i]);
		} else {
			metrics_add(ps[i].state == 1 ? M_MESSAGES_PERSISTED : M_MESSAGES_DUPLICATE,
			            1);
			job->result =
			    json_pack("{s:I, s:s, s:b}", "seq", (json_int_t)ps[i].seq, "sent_at",
			              ps[i].sent_at, "duplicate", ps[i].state == 2);
			if (ps[i].state == 1)
				db_job_push(
				    &job->room_events, ps[i].room_id, EV_MESSAGE,
				    json_pack(
				        "{s:I, s:I, s:I, s:I, s:s, s:O, s:O, s:O, s:s}", "room_id",
				        (json_int_t)ps[i].room_id, "seq", (json_int_t)ps[i].seq,
				        "epoch", (json_int_t)ps[i].epoch, "sender_id",
				        (json_int_t)job->user_id, "sender", job->username,
				        "client_msg_id",
				        json_object_get(job->args, "client_msg_id"), "ciphertext",
				        json_object_get(job->args, "ciphertext"), "sig",
				        json_object_get(job->args, "sig"), "sent_at",
				        ps[i].sent_at));
		}
		free(ps[i].ct);
	}
	free(ps);
}

/* ---- sync, history, keys ---------------------------------------------------- */

int message_sync_run(struct db_conn *c, struct db_job *job)
{
	json_t *cursors = json_object_get(job->args, "cursors"), *cur, *rooms, *todo;
	struct params p = {0};
	PGresult *r;
	size_t i;
	int err;

	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_my_rooms, &p, &err, NULL)))
		return store_fail(c, job, err);
	rooms = json_array();
	todo = json_array();
	for (int row = 0; row < PQntuples(r); row++) {
		int64_t room = store_int(r, row, 0), last = store_int(r, row, 1), from = 0;

		json_array_foreach(cursors, i, cur)
		{
			if (json_integer_value(json_object_get(cur, "room_id")) == room)
				from = json_integer_value(json_object_get(cur, "seq"));
		}
		json_array_append_new(
		    rooms, json_pack("{s:I, s:I, s:I}", "room_id", (json_int_t)room, "last_seq",
		                     (json_int_t)last, "epoch", (json_int_t)store_int(r, row, 2)));
		if (from < last)
			json_array_append_new(
			    todo, json_pack("[II]", (json_int_t)room, (json_int_t)from));
	}
	PQclear(r);
	job->result = json_pack("{s:o}", "rooms", rooms);
	job->extra = json_pack("{s:o, s:O}", "todo", todo, "rooms", rooms);
	return job->result && job->extra ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

/*
 * Worker: the rooms of `rooms` the user is no longer a member of. Runs with
 * the first page, after the service thread subscribed the connection: a
 * removal that committed between the room list and the subscription is
 * found here; one that commits later finds the connection subscribed and
 * unsubscribes it itself (dispatch.c room_change).
 */
static int sync_recheck(struct db_conn *c, struct db_job *job, json_t *rooms, json_t **gone)
{
	struct params p = {0};
	json_t *room;
	char *ids = NULL;
	size_t i, len = 0,
	          cap = 3 + json_array_size(rooms) * 21; /* "{", ids and commas, "}", NUL */
	PGresult *r;
	int err;

	*gone = json_array();
	ids = malloc(cap);
	if (!*gone || !ids) {
		free(ids);
		return EM_ERR_NOMEM;
	}
	ids[len++] = '{';
	json_array_foreach(rooms, i, room)
	{
		len += (size_t)snprintf(
		    ids + len, cap - len, "%s%lld", i ? "," : "",
		    (long long)json_integer_value(json_object_get(room, "room_id")));
	}
	snprintf(ids + len, cap - len, "}");
	params_int(&p, job->user_id);
	params_text(&p, ids);
	r = store_exec(c, &st_still_member, &p, &err, NULL);
	free(ids);
	if (!r)
		return err;
	json_array_foreach(rooms, i, room)
	{
		int64_t id = json_integer_value(json_object_get(room, "room_id"));
		int found = 0;

		for (int row = 0; row < PQntuples(r) && !found; row++)
			found = store_int(r, row, 0) == id;
		if (!found)
			json_array_append_new(*gone, json_integer((json_int_t)id));
	}
	PQclear(r);
	return EM_OK;
}

/*
 * The page's `message` events as frame texts, made here so that the service
 * thread only queues them (the dump of each message was most of its work in
 * a replay: bench/RESULTS.md, B6). Consumes messages. EM_OK or EM_ERR_NOMEM.
 */
static int sync_page_texts(struct db_job *job, json_t *messages)
{
	size_t i, n = json_array_size(messages);
	json_t *m;
	int rc = EM_OK;

	job->texts = n ? calloc(n, sizeof(*job->texts)) : NULL;
	if (n && !job->texts) {
		rc = EM_ERR_NOMEM;
		goto out;
	}
	json_array_foreach(messages, i, m)
	{
		job->texts[i] = em_encode_event(event_name(EV_MESSAGE), json_incref(m));
		if (!job->texts[i]) {
			rc = EM_ERR_NOMEM;
			goto out;
		}
		job->n_texts = i + 1;
	}
out:
	json_decref(messages);
	return rc;
}

/* Worker: one page of the replay; args {"todo": [[room, after_seq], ...], "rooms": [...],
 * "recheck"?: true} */
int message_sync_page_run(struct db_conn *c, struct db_job *job)
{
	json_t *todo = json_object_get(job->args, "todo"), *left = json_array(),
	       *messages = json_array(), *gone = NULL;
	size_t budget = SYNC_PAGE, bytes = 0, i;
	json_t *item;
	int err;

	if (json_is_true(json_object_get(job->args, "recheck")) &&
	    (err = sync_recheck(c, job, json_object_get(job->args, "rooms"), &gone))) {
		json_decref(gone);
		json_decref(left);
		json_decref(messages);
		return store_fail(c, job, err);
	}
	json_array_foreach(todo, i, item)
	{
		int64_t room = json_integer_value(json_array_get(item, 0));
		int64_t after = json_integer_value(json_array_get(item, 1));
		struct params p = {0};
		PGresult *r;
		int n, row;

		if (!budget || bytes >= PAGE_BYTES) {
			json_array_append(left, item);
			continue;
		}
		params_int(&p, room);
		params_int(&p, after);
		params_int(&p, job->user_id);
		params_int(&p, (int64_t)budget + 1);
		if (!(r = store_exec(c, &st_page, &p, &err, NULL))) {
			json_decref(gone);
			json_decref(left);
			json_decref(messages);
			return store_fail(c, job, err);
		}
		n = PQntuples(r);
		for (row = 0; row < n && budget && bytes < PAGE_BYTES; row++, budget--) {
			json_array_append_new(messages, message_json(r, row));
			bytes += 2 * (size_t)store_int(r, row, 9);
			after = store_int(r, row, 1);
		}
		if (row < n) /* stopped early: the room has more, continue after `after` */
			json_array_append_new(
			    left, json_pack("[II]", (json_int_t)room, (json_int_t)after));
		PQclear(r);
	}
	job->result = json_object();
	job->extra =
	    json_pack("{s:o, s:O, s:o}", "todo", left, "rooms", json_object_get(job->args, "rooms"),
	              "gone", gone ? gone : json_array());
	if (sync_page_texts(job, messages) != EM_OK)
		return db_job_fail(job, EM_ERR_NOMEM, "out of memory");
	return EM_OK;
}

int message_history_run(struct db_conn *c, struct db_job *job)
{
	int64_t room = job_int(job, "room_id", 0), after = job_int(job, "after_seq", 0);
	int64_t limit = job_int(job, "limit", 200), last_seq = 0;
	struct params p = {0};
	json_t *messages;
	PGresult *r;
	size_t bytes = 0;
	int err, n, row;

	if ((err = member_check(c, job, room, &last_seq, NULL)))
		return err;
	params_int(&p, room);
	params_int(&p, after);
	params_int(&p, job->user_id);
	params_int(&p, limit + 1);
	if (!(r = store_exec(c, &st_page, &p, &err, NULL)))
		return store_fail(c, job, err);
	n = PQntuples(r);
	messages = json_array();
	for (row = 0; row < n && row < limit && bytes < PAGE_BYTES; row++) {
		json_array_append_new(messages, message_json(r, row));
		bytes += 2 * (size_t)store_int(r, row, 9);
	}
	PQclear(r);
	job->result = json_pack("{s:o, s:I, s:b}", "messages", messages, "last_seq",
	                        (json_int_t)last_seq, "more", n > limit);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

/* Messages FROM..TO of a room another node committed (cluster.c), as room events. */
static const struct stmt st_range = {
    "msg_range", "SELECT " MSG_COLS " " MSG_FROM "WHERE m.room_id = $1 AND m.seq BETWEEN $2 AND $3 "
                 "ORDER BY m.seq LIMIT 1000"};

int message_range_run(struct db_conn *c, struct db_job *job)
{
	int64_t room = job_int(job, "room_id", 0);
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, room);
	params_int(&p, job_int(job, "from", 0));
	params_int(&p, job_int(job, "to", 0));
	if (!(r = store_exec(c, &st_range, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	for (int i = 0; i < PQntuples(r); i++)
		db_job_push(&job->room_events, room, EV_MESSAGE, message_json(r, i));
	PQclear(r);
	return EM_OK;
}

/* The envelope of an epoch another node committed, for one recipient (cluster.c). */
static const struct stmt st_envelope = {
    "msg_envelope",
    "SELECT e.sealed, COALESCE(re.committer_id, 0), re.agreement_version FROM key_envelopes e "
    "JOIN room_epochs re ON "
    "re.room_id = e.room_id AND re.epoch = e.epoch WHERE e.room_id = $1 AND e.epoch = $2 AND "
    "e.recipient_id = $3"};

int message_envelope_run(struct db_conn *c, struct db_job *job)
{
	int64_t room = job_int(job, "room_id", 0), user = job_int(job, "user_id", 0),
	        epoch = job_int(job, "epoch", 0);
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, room);
	params_int(&p, epoch);
	params_int(&p, user);
	if (!(r = store_exec(c, &st_envelope, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	if (PQntuples(r) == 1)
		db_job_push(&job->user_events, user, EV_EPOCH,
		            json_pack("{s:I, s:I, s:I, s:I, s:o}", "room_id", (json_int_t)room,
		                      "epoch", (json_int_t)epoch, "committer_id",
		                      (json_int_t)store_int(r, 0, 1), "agreement_version",
		                      (json_int_t)store_int(r, 0, 2), "sealed",
		                      model_bytea_b64(r, 0, 0, EM_SEALED_KEY_BYTES)));
	PQclear(r);
	return EM_OK;
}

int message_keys_run(struct db_conn *c, struct db_job *job)
{
	int64_t room = job_int(job, "room_id", 0), epoch = 0;
	struct params p = {0};
	json_t *list;
	PGresult *r;
	int err;

	if ((err = member_check(c, job, room, NULL, &epoch)))
		return err;
	params_int(&p, room);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_keys, &p, &err, NULL)))
		return store_fail(c, job, err);
	list = json_array();
	for (int row = 0; row < PQntuples(r); row++)
		json_array_append_new(
		    list,
		    json_pack("{s:I, s:I, s:I, s:o}", "epoch", (json_int_t)store_int(r, row, 0),
		              "committer_id", (json_int_t)store_int(r, row, 1), "agreement_version",
		              (json_int_t)store_int(r, row, 3), "sealed",
		              model_bytea_b64(r, row, 2, EM_SEALED_KEY_BYTES)));
	PQclear(r);
	job->result = json_pack("{s:I, s:o}", "epoch", (json_int_t)epoch, "envelopes", list);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}

int message_receipt_run(struct db_conn *c, struct db_job *job)
{
	int64_t room = job_int(job, "room_id", 0), seq;
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, room);
	params_int(&p, job->user_id);
	params_int(&p, job_int(job, "seq", 0));
	if (!(r = store_exec(c, &st_receipt, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) != 1) {
		PQclear(r);
		return db_job_fail(job, EM_ERR_NOT_MEMBER, "you are not a member of room %lld",
		                   (long long)room);
	}
	seq = store_int(r, 0, 0);
	PQclear(r);
	job->result = json_pack("{s:I}", "seq", (json_int_t)seq);
	db_job_push(&job->room_events, room, EV_RECEIPT,
	            json_pack("{s:I, s:I, s:s, s:I}", "room_id", (json_int_t)room, "user_id",
	                      (json_int_t)job->user_id, "username", job->username, "seq",
	                      (json_int_t)seq));
	return EM_OK;
}

/* ---- epochs --------------------------------------------------------------- */

int message_epoch_commit_run(struct db_conn *c, struct db_job *job)
{
	int64_t room = job_int(job, "room_id", 0), epoch = job_int(job, "epoch", 0);
	int64_t version = job_int(job, "agreement_version", 0);
	struct em_commit commit = {.room_id = (uint64_t)room,
	                           .epoch = (uint64_t)epoch,
	                           .committer_id = (uint64_t)job->user_id,
	                           .agreement_version = (uint32_t)version};
	json_t *envelopes = json_object_get(job->args, "envelopes"), *env;
	struct em_commit_entry entries[EM_ROOM_MEMBERS_MAX];
	unsigned char sig[EM_SIG_BYTES], sign_pk[EM_SIGN_PK_BYTES];
	size_t n = json_array_size(envelopes), i;
	struct params p = {0};
	PGresult *r;
	int err, bad;

	json_array_foreach(envelopes, i, env)
	{
		entries[i].recipient_id =
		    (uint64_t)json_integer_value(json_object_get(env, "recipient_id"));
		em_b64_decode(json_string_value(json_object_get(env, "sealed")), entries[i].sealed,
		              EM_SEALED_KEY_BYTES);
	}
	job_bin(job, "sig", sig, sizeof(sig));

	if ((err = store_begin(c)))
		return store_fail(c, job, err);
	params_int(&p, room);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_commit_room, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) != 1 || !store_bool(r, 0, 1)) {
		PQclear(r);
		store_rollback(c);
		return db_job_fail(job, EM_ERR_NOT_MEMBER, "you are not a member of room %lld",
		                   (long long)room);
	}
	if (store_bool(r, 0, 3)) {
		PQclear(r);
		store_rollback(c);
		return db_job_fail(
		    job, EM_ERR_FORBIDDEN,
		    "room %lld is closed: its programme's retention period has ended",
		    (long long)room);
	}
	if (!store_bool(r, 0, 2)) {
		PQclear(r);
		store_rollback(c);
		return db_job_fail(
		    job, EM_ERR_AGREEMENT_UNSIGNED,
		    "you are not on the roster of room %lld: sign its agreement first",
		    (long long)room);
	}
	if (store_int(r, 0, 0) + 1 != epoch) {
		int64_t now = store_int(r, 0, 0);

		PQclear(r);
		store_rollback(c);
		return db_job_fail(job, EM_ERR_STALE_EPOCH,
		                   "room %lld is at epoch %lld: commit epoch %lld", (long long)room,
		                   (long long)now, (long long)now + 1);
	}
	if (store_int(r, 0, 4) != version) {
		int64_t want = store_int(r, 0, 4);

		PQclear(r);
		store_rollback(c);
		return db_job_fail(job, EM_ERR_STALE_VERSION,
		                   want ? "room %lld's agreement in force is version %lld: commit "
		                          "under it"
		                        : "room %lld has no agreement in force (%lld): commit with "
		                          "agreement_version 0",
		                   (long long)room, (long long)want);
	}
	PQclear(r);

	/* the recipients must be exactly the current roster (members who signed) */
	memset(&p, 0, sizeof(p));
	params_int(&p, room);
	if (!(r = store_exec(c, &st_roster, &p, &err, NULL)))
		return store_fail(c, job, err);
	bad = (size_t)PQntuples(r) != n;
	for (i = 0; !bad && i < n; i++) {
		int found = 0;

		for (size_t k = 0; k < n; k++)
			found |= entries[k].recipient_id == (uint64_t)store_int(r, (int)i, 0);
		bad = !found;
		for (size_t k = i + 1; !bad && k < n; k++)
			bad = entries[k].recipient_id == entries[i].recipient_id;
	}
	PQclear(r);
	if (bad) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_ROSTER_MISMATCH,
		                   "the envelopes must go to exactly the room's current members");
	}

	memset(&p, 0, sizeof(p));
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_sign_pk, &p, &err, NULL)))
		return store_fail(c, job, err);
	bad = PQntuples(r) != 1 || store_bytea(r, 0, 0, sign_pk, sizeof(sign_pk)) != 32;
	PQclear(r);
	if (bad || em_commit_verify(&commit, entries, n, sign_pk, sig)) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_BAD_SIGNATURE,
		                   "the commit signature does not verify with your key");
	}

	memset(&p, 0, sizeof(p));
	params_int(&p, room);
	params_int(&p, epoch);
	params_int(&p, job->user_id);
	params_bin(&p, sig, sizeof(sig));
	params_int(&p, version);
	if (!(r = store_exec(c, &st_epoch_insert, &p, &err, NULL)))
		return store_fail(c, job, err);
	PQclear(r);
	for (i = 0; i < n; i++) {
		memset(&p, 0, sizeof(p));
		params_int(&p, room);
		params_int(&p, epoch);
		params_int(&p, (int64_t)entries[i].recipient_id);
		params_bin(&p, entries[i].sealed, EM_SEALED_KEY_BYTES);
		if (!(r = store_exec(c, &st_envelope_insert, &p, &err, NULL)))
			return store_fail(c, job, err);
		PQclear(r);
	}
	memset(&p, 0, sizeof(p));
	params_int(&p, room);
	params_int(&p, epoch);
	if (!(r = store_exec(c, &st_epoch_advance, &p, &err, NULL)))
		return store_fail(c, job, err);
	PQclear(r);
	if ((err = store_commit(c)))
		return store_fail(c, job, err);

	job->result = json_pack("{s:I}", "epoch", (json_int_t)epoch);
	json_array_foreach(envelopes, i, env)
	{
		db_job_push(&job->user_events,
		            json_integer_value(json_object_get(env, "recipient_id")), EV_EPOCH,
		            json_pack("{s:I, s:I, s:I, s:I, s:O}", "room_id", (json_int_t)room,
		                      "epoch", (json_int_t)epoch, "committer_id",
		                      (json_int_t)job->user_id, "agreement_version",
		                      (json_int_t)version, "sealed",
		                      json_object_get(env, "sealed")));
	}
	log_info("room epoch room=%lld epoch=%lld by=%lld members=%zu", (long long)room,
	         (long long)epoch, (long long)job->user_id, n);
	return EM_OK;
}

static const struct stmt st_last_seq = {
    "catchup_last_seq", "SELECT id, last_seq FROM rooms WHERE id = ANY($1::bigint[])"};

/* DB worker (catchup.c's sweep): args {"rooms": "{1,2,...}"}; extra = [[room, last_seq], ...]. */
int message_last_seq_run(struct db_conn *c, struct db_job *job)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_text(&p, job_str(job, "rooms"));
	if (!(r = store_exec(c, &st_last_seq, &p, &err, NULL)))
		return db_job_fail(job, err, NULL);
	job->extra = json_array();
	for (int i = 0; job->extra && i < PQntuples(r); i++)
		json_array_append_new(job->extra, json_pack("[II]", (json_int_t)store_int(r, i, 0),
		                                            (json_int_t)store_int(r, i, 1)));
	PQclear(r);
	return job->extra ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}
