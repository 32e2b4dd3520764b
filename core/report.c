/*
 * report.c - concern reports as commands of the core (docs/PROTOCOL.md
 * section 13, SECURITY.md "Concern reports"): "report.create" (a member
 * quotes franked messages of a room to the programme's managers with a
 * note), "report.show" (the reporter or a manager opens a report, checks
 * every quoted message against its sender's signature, and reads the
 * handling), "report.handle" (a manager records a state and a note) and
 * "report.list" (the server's list, as it is).
 *
 * DESIGN. A quoted message is a v3 (franked) message this device opened
 * itself with the room key; the report carries, per message, the exact
 * ciphertext and signature the server stored, the body it decrypted to
 * (text, device, counter, written_ms) and the message's franking key, never
 * a room key. A reader's client recomputes the commitment from the body and
 * key, and checks the sender's signature over it with the sender's key
 * pinned on the reader's own device, for the report's room, epoch and
 * sender (em_msg_frank_verify()): a text altered by the reporter or the
 * server, a swapped sender, a message of another room, all fail, and a
 * message that fails is shown as unverifiable with why, never with its
 * text. The report and each note are envelopes (envelope.c) sealed to the
 * manager parties of the room's agreement version this device verified
 * (never a list from the server) and to the reporter, and signed; their
 * signed context names the programme, room, kind, agreement version and
 * clock (a note: the report, the state and clock), so the server can
 * neither move a report to another room nor change a handling state
 * unnoticed. Results: see each command. Threads: the host's (core.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core.h"
#include "quest.h"
#include "report.h"

#define REPORT_LABEL  "ementor report v1"
#define ACTION_LABEL  "ementor report action v1"
#define REPORT_CTX    (8 + 8 + 4 + 14 + 4 + 8)
#define ACTION_CTX    (8 + 4 + 12 + 8)
#define REPORT_SPAN   EM_HISTORY_PAGE_MAX /* quoted messages lie within one history page */
#define REPORT_SHOW_N 100

enum emc_report_kind {
	EMC_REPORT_CREATE = 0,
	EMC_REPORT_SHOW,
	EMC_REPORT_HANDLE,
};

struct emc_report {
	enum emc_report_kind kind;
	int64_t room, report;
	json_t *cmd;
	struct emc_ask main;  /* report.create / report.handle */
	struct emc_ask fetch; /* history / report.show */
};

/* Slot 0: main, 1: fetch. */
static struct emc_ask *emc_report_slot(struct emc_task *t, int64_t slot)
{
	struct emc_report *q = t->data;

	return slot == 0 ? &q->main : &q->fetch;
}

static void emc_report_free(struct emc_task *t)
{
	struct emc_report *q = t->data;

	if (!q)
		return;
	em_incoming_clear(&q->main.reply);
	em_incoming_clear(&q->fetch.reply);
	json_decref(q->cmd);
	free(q);
}

/* Asks op on slot once; EMC_DONE with its answer (a refusal fails t). Takes args. */
static int emc_report_ask(struct emc *c, struct emc_task *t, struct emc_ask *s, int64_t slot,
                          enum em_op op, json_t *args)
{
	return emc_ask(c, t, s, slot, op, args, 0);
}

static int cmp_ids(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Whether user is a party of v who reads and handles its room's reports: a
 * manager party, or in a support room the manager seated there ("support").
 */
int report_manager_party(const struct trust_version *v, int64_t user)
{
	int i = trust_version_party(v, user);

	return i >= 0 &&
	       (!strcmp(v->parties[i].role, "manager") || !strcmp(v->parties[i].role, "support"));
}

int report_readers(const struct trust_version *v, int64_t reporter,
                   uint64_t ids[ENVELOPE_RECIPIENTS])
{
	size_t n = 0;

	if (trust_version_party(v, reporter) < 0)
		return -1;
	ids[n++] = (uint64_t)reporter;
	for (size_t k = 0; k < v->n && n < ENVELOPE_RECIPIENTS; k++)
		if (report_manager_party(v, v->parties[k].user_id) &&
		    v->parties[k].user_id != reporter)
			ids[n++] = (uint64_t)v->parties[k].user_id;
	qsort(ids, n, sizeof(ids[0]), cmp_ids);
	return (int)n;
}

/* Whether got[0..n) is exactly report_readers(v, reporter). */
static int report_readers_ok(const struct trust_version *v, int64_t reporter, const uint64_t *got,
                             size_t n)
{
	uint64_t want[ENVELOPE_RECIPIENTS];
	int k = report_readers(v, reporter, want);

	return k > 1 && (size_t)k == n && !memcmp(want, got, n * sizeof(want[0]));
}

/* u64 programme || u64 room || lp(kind) || u32 agreement version || u64 written_ms */
static size_t report_ctx(unsigned char *out, int64_t programme, int64_t room, const char *kind,
                         int64_t av, int64_t written)
{
	unsigned char *p = out;

	p = envelope_put_u64(p, (uint64_t)programme);
	p = envelope_put_u64(p, (uint64_t)room);
	p = envelope_put_lp(p, kind, strlen(kind));
	p = envelope_put_u32(p, (uint32_t)av);
	p = envelope_put_u64(p, (uint64_t)written);
	return (size_t)(p - out);
}

/* u64 report || lp(state) || u64 written_ms */
static size_t action_ctx(unsigned char *out, int64_t report, const char *state, int64_t written)
{
	unsigned char *p = out;

	p = envelope_put_u64(p, (uint64_t)report);
	p = envelope_put_lp(p, state, strlen(state));
	p = envelope_put_u64(p, (uint64_t)written);
	return (size_t)(p - out);
}

static char *b64_of(const unsigned char *b, size_t n)
{
	return em_b64_encode(b, n);
}

static const char *str_or_empty(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* Seals doc to ids (pinned keys only). *b64 malloc'd (who frees: caller). EMC_DONE or fails t. */
static int emc_report_seal(struct emc *c, struct emc_task *t, const char *label,
                           const unsigned char *ctx, size_t ctx_len, const uint64_t *ids, size_t n,
                           const char *doc, size_t max, char **b64)
{
	unsigned char pks[ENVELOPE_RECIPIENTS][32], *blob = NULL;
	size_t blob_len = 0;
	int rc = EMC_DONE;

	*b64 = NULL;
	for (size_t i = 0; i < n; i++) {
		struct pin p;

		if (emc_user_keys(c, (int64_t)ids[i], &p) != 0 || p.changed)
			return emc_fail(t, EMC_EXIT_REFUSED, 0,
			                "not sealing: user %lld has no trusted key on this device "
			                "(`ementor trust`). Nothing was sent",
			                (long long)ids[i]);
		memcpy(pks[i], p.box_pk, 32);
	}
	if (envelope_seal(label, ctx, ctx_len, (uint64_t)c->session.user_id, ids,
	                  (const unsigned char(*)[32])pks, n, (const unsigned char *)doc,
	                  strlen(doc), c->keys.sign_sk, &blob, &blob_len) != ENVELOPE_OK ||
	    blob_len > max)
		rc = emc_fail(t, EMC_EXIT_USAGE, 0,
		              "the report is too long to send: quote fewer or shorter messages, or "
		              "write a shorter note");
	else if (!(*b64 = em_b64_encode(blob, blob_len)))
		rc = emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	free(blob);
	return rc;
}

/*
 * One quoted message, opened here with the room key: {"seq","epoch",
 * "sender_id","client_msg_id","ciphertext","sig","sender_sign_pk","fk",
 * "device","counter","written_ms","text","sent_at"}, or NULL with why.
 */
static json_t *report_quote(struct emc *c, struct emc_room *r, json_t *m, char *why, size_t len)
{
	const char *ct_b64 = json_string_value(json_object_get(m, "ciphertext"));
	const char *id_b64 = json_string_value(json_object_get(m, "client_msg_id"));
	const char *sig_b64 = json_string_value(json_object_get(m, "sig"));
	int64_t seq = json_integer_value(json_object_get(m, "seq"));
	int64_t epoch = json_integer_value(json_object_get(m, "epoch"));
	int64_t sender = json_integer_value(json_object_get(m, "sender_id"));
	unsigned char key[EM_ROOM_KEY_BYTES], id[EM_MSG_ID_BYTES], sig[EM_SIG_BYTES];
	unsigned char *ct = malloc(EM_MSG_CIPHERTEXT_MAX), *plain = NULL;
	char *fk_b64 = NULL, *dev_b64 = NULL, *pk_b64 = NULL;
	struct em_msg_frank frank;
	struct em_msg_meta meta;
	size_t plain_len = 0;
	json_t *out = NULL;
	struct pin p;
	int ct_len = -1, st;

	memset(&frank, 0, sizeof(frank));
	if (ct && ct_b64)
		ct_len = em_b64_decode(ct_b64, ct, EM_MSG_CIPHERTEXT_MAX);
	if (ct_len < 0 || !id_b64 || em_b64_decode(id_b64, id, sizeof(id)) != (int)sizeof(id) ||
	    !sig_b64 || em_b64_decode(sig_b64, sig, sizeof(sig)) != (int)sizeof(sig)) {
		snprintf(why, len, "message %lld: the server sent it malformed", (long long)seq);
		goto out;
	}
	if (emc_user_keys(c, sender, &p) != 0 || p.changed) {
		snprintf(why, len, "message %lld: its sender (user %lld) has no trusted key here",
		         (long long)seq, (long long)sender);
		goto out;
	}
	if (roomkeys_get(c->roomkeys, r->id, epoch, key, NULL) != 0) {
		snprintf(why, len, "message %lld: you hold no key of epoch %lld", (long long)seq,
		         (long long)epoch);
		goto out;
	}
	plain = malloc((size_t)ct_len + 1);
	st = plain ? em_msg_open(key, (uint64_t)r->id, (uint64_t)epoch, (uint64_t)sender, id, ct,
	                         (size_t)ct_len, sig, p.sign_pk, &meta, plain, &plain_len, &frank)
	           : EM_MSG_MALFORMED;
	sodium_memzero(key, sizeof(key));
	if (st != EM_MSG_OK) {
		snprintf(why, len,
		         "message %lld does not open or verify here, so it cannot be quoted",
		         (long long)seq);
		goto out;
	}
	if (frank.version != 3) {
		snprintf(
		    why, len,
		    "message %lld was sent in the v2 format, before messages carried a franking "
		    "commitment: it stays readable, but a manager could not verify it, so it "
		    "cannot be quoted in a report",
		    (long long)seq);
		goto out;
	}
	fk_b64 = b64_of(frank.fk, sizeof(frank.fk));
	dev_b64 = b64_of(meta.device, sizeof(meta.device));
	pk_b64 = b64_of(p.sign_pk, sizeof(p.sign_pk));
	if (fk_b64 && dev_b64 && pk_b64)
		out = json_pack(
		    "{s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s%, s:O?}",
		    "seq", (json_int_t)seq, "epoch", (json_int_t)epoch, "sender_id",
		    (json_int_t)sender, "sender", p.username, "client_msg_id", id_b64, "ciphertext",
		    ct_b64, "sig", sig_b64, "sender_sign_pk", pk_b64, "fk", fk_b64, "device",
		    dev_b64, "counter", (json_int_t)meta.counter, "written_ms",
		    (json_int_t)meta.written_ms, "text", (const char *)plain, plain_len, "sent_at",
		    json_object_get(m, "sent_at"));
	if (!out)
		snprintf(why, len, "out of memory");
out:
	sodium_memzero(&frank, sizeof(frank));
	if (plain) {
		sodium_memzero(plain, (size_t)ct_len + 1);
		free(plain);
	}
	if (fk_b64) {
		sodium_memzero(fk_b64, strlen(fk_b64));
		free(fk_b64);
	}
	free(dev_b64);
	free(pk_b64);
	free(ct);
	return out;
}

/* The seqs of cmd: 1..EM_REPORT_MESSAGES_MAX ascending distinct, within REPORT_SPAN. */
static int report_seqs(json_t *seqs, int64_t *lo, int64_t *hi)
{
	size_t i, n = json_array_size(seqs);
	int64_t prev = 0;
	json_t *x;

	if (!json_is_array(seqs) || n > EM_REPORT_MESSAGES_MAX)
		return -1;
	*lo = *hi = 0;
	json_array_foreach(seqs, i, x)
	{
		int64_t s = json_integer_value(x);

		if (!json_is_integer(x) || s <= prev)
			return -1;
		if (!*lo)
			*lo = s;
		*hi = prev = s;
	}
	return n && *hi - *lo >= REPORT_SPAN ? -1 : 0;
}

/* report.create: {"report_id","room_id","kind","messages","readers"} */
static int emc_report_create_step(struct emc *c, struct emc_task *t)
{
	struct emc_report *q = t->data;
	json_t *seqs = json_object_get(q->cmd, "seqs"), *quotes = NULL, *doc_j = NULL, *x, *readers;
	const char *note = json_string_value(json_object_get(q->cmd, "note"));
	const char *kind = json_string_value(json_object_get(q->cmd, "kind"));
	int64_t me = c->session.user_id, written = emc_now(c), lo = 0, hi = 0;
	unsigned char ctx[REPORT_CTX];
	char why[400] = "", *doc = NULL, *b64 = NULL;
	uint64_t ids[ENVELOPE_RECIPIENTS];
	struct emc_room *r = NULL;
	size_t i, ctx_len;
	int rc, n;

	if (q->main.asked) {
		rc = emc_report_ask(c, t, &q->main, 0, EM_OP_NONE, NULL);
		if (rc == EMC_DONE)
			t->result = json_pack("{s:O?, s:I, s:s, s:I, s:O?}", "report_id",
			                      json_object_get(q->main.reply.result, "report_id"),
			                      "room_id", (json_int_t)q->room, "kind", kind,
			                      "messages", (json_int_t)json_array_size(seqs),
			                      "readers", json_object_get(q->cmd, "_readers"));
		return rc;
	}
	if ((rc = emc_manager_anchor(c, t, q->room, &r)) != EMC_DONE)
		return rc;
	n = report_readers(&r->active, me, ids);
	if (n < 0 || emc_room_withdrew(r, me))
		return emc_fail(
		    t, EMC_EXIT_REFUSED, EM_ERR_WRONG_ROLE,
		    "you are not a party of room %lld's agreement, so you cannot report "
		    "from it",
		    (long long)r->id);
	if (n == 1)
		return emc_fail(t, EMC_EXIT_REFUSED, 0,
		                "version %u of room %lld's agreement names no manager, so there is "
		                "nobody this device may send the report to. Nothing was sent",
		                r->active.version, (long long)r->id);
	if (report_seqs(seqs, &lo, &hi) != 0)
		return emc_fail(t, EMC_EXIT_USAGE, 0,
		                "quote at most %d messages, in ascending order, within %d of each "
		                "other",
		                EM_REPORT_MESSAGES_MAX, REPORT_SPAN);
	if (json_array_size(seqs)) {
		if ((rc = emc_room_keys(c, t, r)) != EMC_DONE)
			return rc;
		rc = emc_report_ask(c, t, &q->fetch, 1, EM_OP_HISTORY,
		                    json_pack("{s:I, s:I, s:I}", "room_id", (json_int_t)r->id,
		                              "after_seq", (json_int_t)(lo - 1), "limit",
		                              (json_int_t)(hi - lo + 1)));
		if (rc != EMC_DONE)
			return rc;
	}
	quotes = json_array();
	json_array_foreach(seqs, i, x)
	{
		json_t *m, *found = NULL, *quote;
		size_t k;

		json_array_foreach(json_object_get(q->fetch.reply.result, "messages"), k, m)
		{
			if (json_integer_value(json_object_get(m, "seq")) == json_integer_value(x))
				found = m;
		}
		if (!found) {
			json_decref(quotes);
			return emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_NOT_FOUND,
			                "room %lld has no message %lld", (long long)r->id,
			                (long long)json_integer_value(x));
		}
		if (!(quote = report_quote(c, r, found, why, sizeof(why)))) {
			json_decref(quotes);
			return emc_fail(t, EMC_EXIT_REFUSED, 0, "%s. Nothing was sent", why);
		}
		json_array_append_new(quotes, quote);
	}
	doc_j = json_pack("{s:s, s:s, s:o}", "kind", kind, "note", note ? note : "", "messages",
	                  quotes);
	doc = doc_j ? json_dumps(doc_j, JSON_COMPACT) : NULL;
	json_decref(doc_j);
	if (!doc)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	ctx_len = report_ctx(ctx, r->programme_id, r->id, kind, r->active.version, written);
	rc = emc_report_seal(c, t, REPORT_LABEL, ctx, ctx_len, ids, (size_t)n, doc,
	                     EM_REPORT_BLOB_MAX, &b64);
	sodium_memzero(doc, strlen(doc));
	free(doc);
	if (rc != EMC_DONE)
		return rc;
	readers = json_array();
	for (int k = 0; k < n; k++) {
		struct pin p;

		if ((int64_t)ids[k] != me)
			json_array_append_new(readers,
			                      json_string(emc_user_keys(c, (int64_t)ids[k], &p) == 0
			                                      ? p.username
			                                      : "?"));
	}
	json_object_set_new(q->cmd, "_readers", readers);
	rc = emc_report_ask(c, t, &q->main, 0, EM_OP_REPORT_CREATE,
	                    json_pack("{s:I, s:s, s:I, s:I, s:s}", "room_id", (json_int_t)r->id,
	                              "kind", kind, "agreement_version",
	                              (json_int_t)r->active.version, "written_ms",
	                              (json_int_t)written, "blob", b64));
	free(b64);
	return rc;
}

/* Checks one quoted message of an opened report; sets "verified" and "text" or "error" on out. */
int report_quote_check(json_t *m, int64_t room, const unsigned char sender_pk[32],
                       const char *sender, char *why, size_t len)
{
	int64_t epoch = json_integer_value(json_object_get(m, "epoch"));
	int64_t sender_id = json_integer_value(json_object_get(m, "sender_id"));
	json_t *text = json_object_get(m, "text");
	unsigned char id[EM_MSG_ID_BYTES], sig[EM_SIG_BYTES], fk[EM_MSG_FRANK_BYTES], pk[32];
	unsigned char *ct = malloc(EM_MSG_CIPHERTEXT_MAX);
	struct em_msg_meta meta;
	int ct_len = -1, st = EM_MSG_MALFORMED;

	why[0] = '\0';
	memset(&meta, 0, sizeof(meta));
	if (ct)
		ct_len = em_b64_decode(str_or_empty(m, "ciphertext"), ct, EM_MSG_CIPHERTEXT_MAX);
	if (!json_is_string(text) || ct_len < 0 || epoch < 1 || sender_id < 1 ||
	    !json_is_integer(json_object_get(m, "counter")) ||
	    !json_is_integer(json_object_get(m, "written_ms")) ||
	    em_b64_decode(str_or_empty(m, "client_msg_id"), id, sizeof(id)) != (int)sizeof(id) ||
	    em_b64_decode(str_or_empty(m, "sig"), sig, sizeof(sig)) != (int)sizeof(sig) ||
	    em_b64_decode(str_or_empty(m, "fk"), fk, sizeof(fk)) != (int)sizeof(fk) ||
	    em_b64_decode(str_or_empty(m, "device"), meta.device, sizeof(meta.device)) !=
	        (int)sizeof(meta.device) ||
	    em_b64_decode(str_or_empty(m, "sender_sign_pk"), pk, sizeof(pk)) != (int)sizeof(pk)) {
		snprintf(why, len, "the quoted message is malformed");
		goto out;
	}
	meta.counter = (uint64_t)json_integer_value(json_object_get(m, "counter"));
	meta.written_ms = (uint64_t)json_integer_value(json_object_get(m, "written_ms"));
	if (sodium_memcmp(pk, sender_pk, sizeof(pk)) != 0) {
		snprintf(why, len,
		         "the report names another key for %s than the one pinned on this device",
		         sender);
		goto out;
	}
	st = em_msg_frank_verify((uint64_t)room, (uint64_t)epoch, (uint64_t)sender_id, id, ct,
	                         (size_t)ct_len, sig, sender_pk, fk, &meta,
	                         (const unsigned char *)json_string_value(text),
	                         json_string_length(text));
	if (st == EM_MSG_BAD_SIGNATURE)
		snprintf(why, len,
		         "%s did not sign this message in room %lld at epoch %lld (another sender, "
		         "room or epoch, or an altered ciphertext)",
		         sender, (long long)room, (long long)epoch);
	else if (st == EM_MSG_BAD_COMMITMENT)
		snprintf(why, len,
		         "the quoted text, time or key differs from what %s signed: it was altered",
		         sender);
	else if (st != EM_MSG_OK)
		snprintf(why, len, "the quoted message is malformed");
out:
	sodium_memzero(fk, sizeof(fk));
	free(ct);
	return st == EM_MSG_OK && !why[0] ? 0 : -1;
}

/* Checks one quoted message of an opened report; sets "verified" and "text" or "error" on out. */
static void report_check_quote(struct emc *c, int64_t room, json_t *m, json_t *out)
{
	int64_t sender = json_integer_value(json_object_get(m, "sender_id"));
	char why[320] = "";
	struct pin p;

	if (emc_user_keys(c, sender, &p) != 0 || p.changed)
		snprintf(why, sizeof(why),
		         "its sender (user %lld) has no trusted key on this device",
		         (long long)sender);
	else if (report_quote_check(m, room, p.sign_pk, p.username, why, sizeof(why)) == 0)
		json_object_set_new(out, "sender", json_string(p.username));
	if (why[0]) {
		json_object_set_new(out, "verified", json_false());
		json_object_set_new(out, "error", json_string(why));
		return;
	}
	json_object_set_new(out, "verified", json_true());
	json_object_set(out, "text", json_object_get(m, "text"));
	json_object_set(out, "written_ms", json_object_get(m, "written_ms"));
	json_object_set(out, "counter", json_object_get(m, "counter"));
}

/*
 * Opens an action (a manager's handling step) of report `got` under v; sets
 * "verified" and "note" or "error" on out.
 */
static void report_open_action(struct emc *c, int64_t report, int64_t reporter,
                               const struct trust_version *v, json_t *a, json_t *out)
{
	int64_t manager = json_integer_value(json_object_get(a, "manager_id"));
	int64_t written = json_integer_value(json_object_get(a, "written_ms"));
	const char *state = str_or_empty(a, "state");
	unsigned char ctx[ACTION_CTX], *blob = malloc(EM_RECORD_BLOB_MAX), *doc = NULL;
	uint64_t ids[ENVELOPE_RECIPIENTS];
	size_t n = 0, doc_len = 0;
	json_t *parsed = NULL;
	char why[320] = "";
	struct pin p;
	int len = -1, rc;

	if (blob)
		len = em_b64_decode(str_or_empty(a, "blob"), blob, EM_RECORD_BLOB_MAX);
	if (len < 0 || strlen(state) > 12) {
		snprintf(why, sizeof(why), "the server's record is malformed");
		goto out;
	}
	if (emc_user_keys(c, manager, &p) != 0 || p.changed || !report_manager_party(v, manager)) {
		snprintf(
		    why, sizeof(why),
		    "its author (user %lld) is not a manager party of version %u of the room's "
		    "agreement with a trusted key here",
		    (long long)manager, v->version);
		goto out;
	}
	rc = envelope_open(ACTION_LABEL, ctx, action_ctx(ctx, report, state, written),
	                   (uint64_t)manager, p.sign_pk, (uint64_t)c->session.user_id,
	                   c->keys.box_pk, c->keys.box_sk, blob, (size_t)len, ids, &n, &doc,
	                   &doc_len);
	if (rc == ENVELOPE_MALFORMED || rc == ENVELOPE_BAD_SIGNATURE) {
		snprintf(
		    why, sizeof(why),
		    "it does not verify with %s's pinned key for this report and state: it was "
		    "altered",
		    p.username);
		goto out;
	}
	if (!report_readers_ok(v, reporter, ids, n)) {
		snprintf(why, sizeof(why), "it is not sealed to the reporter and the managers");
		goto out;
	}
	if (rc != ENVELOPE_OK ||
	    !(parsed = json_loadb((const char *)doc, doc_len, JSON_REJECT_DUPLICATES, NULL)) ||
	    !json_is_string(json_object_get(parsed, "note"))) {
		snprintf(why, sizeof(why), "it does not open with your key");
		goto out;
	}
	json_object_set_new(out, "manager", json_string(p.username));
out:
	json_object_set_new(out, "state", json_string(state));
	json_object_set_new(out, "verified", json_boolean(!why[0]));
	if (why[0])
		json_object_set_new(out, "error", json_string(why));
	else
		json_object_set(out, "note", json_object_get(parsed, "note"));
	json_decref(parsed);
	if (doc) {
		sodium_memzero(doc, doc_len);
		free(doc);
	}
	free(blob);
}

/*
 * Opens report `got` (a report.show answer) under v: "verified", "note",
 * "messages" (each checked) or "error"; "actions", and "state" (the last
 * verified action's; "open" without one).
 */
static void report_open(struct emc *c, json_t *got, const struct trust_version *v, json_t *out)
{
	int64_t report = json_integer_value(json_object_get(got, "report_id"));
	int64_t programme = json_integer_value(json_object_get(got, "programme_id"));
	int64_t room = json_integer_value(json_object_get(got, "room_id"));
	int64_t reporter = json_integer_value(json_object_get(got, "reporter_id"));
	int64_t av = json_integer_value(json_object_get(got, "agreement_version"));
	int64_t written = json_integer_value(json_object_get(got, "written_ms"));
	const char *kind = str_or_empty(got, "kind"), *state = "open";
	unsigned char ctx[REPORT_CTX], *blob = malloc(EM_REPORT_BLOB_MAX), *doc = NULL;
	uint64_t ids[ENVELOPE_RECIPIENTS];
	json_t *parsed = NULL, *msgs, *m, *a, *actions = json_array();
	size_t n = 0, doc_len = 0, i;
	char why[320] = "";
	struct pin p;
	int len = -1, rc;

	if (blob)
		len = em_b64_decode(str_or_empty(got, "blob"), blob, EM_REPORT_BLOB_MAX);
	if (len < 0 || strlen(kind) > 14) {
		snprintf(why, sizeof(why), "the server's record is malformed");
		goto out;
	}
	if (emc_user_keys(c, reporter, &p) != 0 || p.changed) {
		snprintf(why, sizeof(why),
		         "its reporter (user %lld) has no trusted key on this device",
		         (long long)reporter);
		goto out;
	}
	rc = envelope_open(REPORT_LABEL, ctx, report_ctx(ctx, programme, room, kind, av, written),
	                   (uint64_t)reporter, p.sign_pk, (uint64_t)c->session.user_id,
	                   c->keys.box_pk, c->keys.box_sk, blob, (size_t)len, ids, &n, &doc,
	                   &doc_len);
	if (rc == ENVELOPE_MALFORMED || rc == ENVELOPE_BAD_SIGNATURE) {
		snprintf(
		    why, sizeof(why),
		    "it does not verify with %s's pinned key for this programme, room and kind: "
		    "it was altered or moved",
		    p.username);
		goto out;
	}
	if (!report_readers_ok(v, reporter, ids, n)) {
		snprintf(
		    why, sizeof(why),
		    "it is not sealed to exactly the reporter and the manager parties of version "
		    "%u of the room's agreement",
		    v->version);
		goto out;
	}
	if (rc != ENVELOPE_OK ||
	    !(parsed = json_loadb((const char *)doc, doc_len, JSON_REJECT_DUPLICATES, NULL)) ||
	    !json_is_array(json_object_get(parsed, "messages")) ||
	    json_array_size(json_object_get(parsed, "messages")) > EM_REPORT_MESSAGES_MAX) {
		snprintf(why, sizeof(why), "it does not open with your key");
		goto out;
	}
	msgs = json_array();
	json_array_foreach(json_object_get(parsed, "messages"), i, m)
	{
		json_t *o = json_pack("{s:O?, s:O?, s:O?}", "seq", json_object_get(m, "seq"),
		                      "sender_id", json_object_get(m, "sender_id"), "sent_at",
		                      json_object_get(m, "sent_at"));

		if (!o)
			continue;
		report_check_quote(c, room, m, o);
		json_array_append_new(msgs, o);
	}
	json_object_set_new(out, "messages", msgs);
	json_object_set(out, "note", json_object_get(parsed, "note"));
	json_object_set_new(out, "reporter", json_string(p.username));
out:
	json_object_set_new(out, "verified", json_boolean(!why[0]));
	if (why[0])
		json_object_set_new(out, "error", json_string(why));
	json_array_foreach(json_object_get(got, "actions"), i, a)
	{
		json_t *o =
		    json_pack("{s:O?, s:O?}", "created_at", json_object_get(a, "created_at"),
		              "manager", json_object_get(a, "manager"));

		if (!o)
			continue;
		report_open_action(c, report, reporter, v, a, o);
		if (json_is_true(json_object_get(o, "verified")))
			state = json_string_value(json_object_get(o, "state"));
		json_array_append_new(actions, o);
	}
	json_object_set_new(out, "state", json_string(state));
	json_object_set_new(out, "actions", actions);
	json_decref(parsed);
	if (doc) {
		sodium_memzero(doc, doc_len);
		free(doc);
	}
	free(blob);
}

/* The report fetched, its room shown and its agreement version verified. A need. */
static int emc_report_fetch(struct emc *c, struct emc_task *t, struct trust_version *v, char *why,
                            size_t len)
{
	struct emc_report *q = t->data;
	struct emc_room *r;
	json_t *got;
	int64_t av;
	int rc;

	rc = emc_report_ask(c, t, &q->fetch, 1, EM_OP_REPORT_SHOW,
	                    json_pack("{s:I}", "report_id", (json_int_t)q->report));
	if (rc != EMC_DONE)
		return rc;
	got = q->fetch.reply.result;
	av = json_integer_value(json_object_get(got, "agreement_version"));
	q->room = json_integer_value(json_object_get(got, "room_id"));
	if (q->room < 1 || av < 1 || av > EM_AGREEMENT_VERSION_MAX)
		return emc_fail(t, EMC_EXIT_NET, 0, "the server's report is malformed");
	if (!(r = emc_room(c, q->room)))
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "too many rooms on this device");
	if ((rc = emc_room_ready(c, t, r)) != EMC_DONE)
		return rc;
	rc = emc_room_version(c, r, (uint32_t)av, v, why, len);
	if (rc == EMC_FAILED && !why[0])
		snprintf(why, len, "version %lld of the room's agreement does not verify",
		         (long long)av);
	return rc == EMC_FAILED ? EMC_DONE : rc;
}

/* report.show: the report.show answer's fields, opened and checked (report_open()). */
static int emc_report_show_step(struct emc *c, struct emc_task *t)
{
	struct emc_report *q = t->data;
	struct trust_version v;
	char why[320] = "";
	json_t *got, *out;
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = emc_report_fetch(c, t, &v, why, sizeof(why))) != EMC_DONE)
		return rc;
	got = q->fetch.reply.result;
	out = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "report_id",
	                json_object_get(got, "report_id"), "programme_id",
	                json_object_get(got, "programme_id"), "room_id",
	                json_object_get(got, "room_id"), "reporter_id",
	                json_object_get(got, "reporter_id"), "kind", json_object_get(got, "kind"),
	                "created_at", json_object_get(got, "created_at"), "server_state",
	                json_object_get(got, "state"), "manager", json_object_get(got, "manager"));
	if (!out)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	if (why[0]) {
		json_object_set_new(out, "verified", json_false());
		json_object_set_new(out, "error", json_string(why));
		json_object_set_new(out, "state", json_string("?"));
	} else {
		report_open(c, got, &v, out);
	}
	t->result = out;
	return EMC_DONE;
}

/* report.handle: {"report_id","state","readers"} */
static int emc_report_handle_step(struct emc *c, struct emc_task *t)
{
	struct emc_report *q = t->data;
	const char *state = json_string_value(json_object_get(q->cmd, "state"));
	const char *note = json_string_value(json_object_get(q->cmd, "note"));
	int64_t me = c->session.user_id, written = emc_now(c), reporter;
	unsigned char ctx[ACTION_CTX];
	uint64_t ids[ENVELOPE_RECIPIENTS];
	char why[320] = "", *doc = NULL, *b64 = NULL;
	struct trust_version v;
	json_t *doc_j;
	int rc, n;

	if (q->main.asked) {
		rc = emc_report_ask(c, t, &q->main, 0, EM_OP_NONE, NULL);
		if (rc == EMC_DONE)
			t->result = json_pack("{s:I, s:s, s:O?}", "report_id",
			                      (json_int_t)q->report, "state", state, "action_id",
			                      json_object_get(q->main.reply.result, "action_id"));
		return rc;
	}
	memset(&v, 0, sizeof(v));
	if ((rc = emc_report_fetch(c, t, &v, why, sizeof(why))) != EMC_DONE)
		return rc;
	if (why[0])
		return emc_fail(t, EMC_EXIT_REFUSED, 0, "%s: nothing was sent", why);
	if (!report_manager_party(&v, me))
		return emc_fail(
		    t, EMC_EXIT_REFUSED, EM_ERR_WRONG_ROLE,
		    "you are not a manager party of version %u of room %lld's agreement, "
		    "so you do not handle its reports",
		    v.version, (long long)q->room);
	reporter = json_integer_value(json_object_get(q->fetch.reply.result, "reporter_id"));
	if ((n = report_readers(&v, reporter, ids)) < 2)
		return emc_fail(t, EMC_EXIT_REFUSED, 0,
		                "the reporter is not a party of version %u of the room's agreement",
		                v.version);
	doc_j = json_pack("{s:s}", "note", note ? note : "");
	doc = doc_j ? json_dumps(doc_j, JSON_COMPACT) : NULL;
	json_decref(doc_j);
	if (!doc)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	rc = emc_report_seal(c, t, ACTION_LABEL, ctx, action_ctx(ctx, q->report, state, written),
	                     ids, (size_t)n, doc, EM_RECORD_BLOB_MAX, &b64);
	sodium_memzero(doc, strlen(doc));
	free(doc);
	if (rc != EMC_DONE)
		return rc;
	rc = emc_report_ask(c, t, &q->main, 0, EM_OP_REPORT_HANDLE,
	                    json_pack("{s:I, s:s, s:I, s:s}", "report_id", (json_int_t)q->report,
	                              "state", state, "written_ms", (json_int_t)written, "blob",
	                              b64));
	free(b64);
	return rc;
}

static int64_t emc_report_start(struct emc *c, enum emc_report_kind kind, json_t *cmd)
{
	static const char *const names[] = {"report.create", "report.show", "report.handle"};
	static const emc_step_fn steps[] = {emc_report_create_step, emc_report_show_step,
	                                    emc_report_handle_step};
	const char *note = json_string_value(json_object_get(cmd, "note"));
	const char *k = json_string_value(json_object_get(cmd, "kind"));
	const char *state = json_string_value(json_object_get(cmd, "state"));
	struct emc_report *q;
	struct emc_task *t;

	if (note && strlen(note) > EM_REPORT_NOTE_MAX)
		return -EINVAL;
	if (kind == EMC_REPORT_CREATE &&
	    (json_integer_value(json_object_get(cmd, "room")) < 1 || !k ||
	     (strcmp(k, "concern") && strcmp(k, "change_request")) ||
	     !json_is_array(json_object_get(cmd, "seqs"))))
		return -EINVAL;
	if (kind != EMC_REPORT_CREATE && json_integer_value(json_object_get(cmd, "report")) < 1)
		return -EINVAL;
	if (kind == EMC_REPORT_HANDLE &&
	    (!state || (strcmp(state, "acknowledged") && strcmp(state, "action_taken") &&
	                strcmp(state, "closed"))))
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->kind = kind;
	q->room = json_integer_value(json_object_get(cmd, "room"));
	q->report = json_integer_value(json_object_get(cmd, "report"));
	q->cmd = json_deep_copy(cmd);
	t = q->cmd ? emc_task_new(c, names[kind], steps[kind], emc_report_free, q) : NULL;
	if (!t) {
		emc_report_free(&(struct emc_task){.data = q});
		return -ENOMEM;
	}
	t->ask_slot = emc_report_slot;
	return t->id;
}

/* {"cmd":"report.create","room","kind":"concern"|"change_request","seqs":[N..],"note"} */
int64_t emc_cmd_report_create(struct emc *c, json_t *cmd)
{
	return emc_report_start(c, EMC_REPORT_CREATE, cmd);
}

/* {"cmd":"report.show","report"} */
int64_t emc_cmd_report_show(struct emc *c, json_t *cmd)
{
	return emc_report_start(c, EMC_REPORT_SHOW, cmd);
}

/* {"cmd":"report.handle","report","state","note"} */
int64_t emc_cmd_report_handle(struct emc *c, json_t *cmd)
{
	return emc_report_start(c, EMC_REPORT_HANDLE, cmd);
}

/* {"cmd":"report.list","programme"?}: the server's list as it is (states in clear). */
int64_t emc_cmd_report_list(struct emc *c, json_t *cmd)
{
	int64_t programme = json_integer_value(json_object_get(cmd, "programme"));

	return emc_call_start(c, "report.list", EM_OP_REPORT_LIST,
	                      programme > 0
	                          ? json_pack("{s:I}", "programme_id", (json_int_t)programme)
	                          : json_object());
}
