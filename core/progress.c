/*
 * progress.c - progress shared with the programme's managers under the
 * share_progress consent (docs/PROTOCOL.md 11.3): "progress.share" (a
 * mentee's client seals a new 4-10 rating or goal status to the manager
 * parties of the room's agreement) and "progress.list" (a manager's client
 * opens and checks every share of the programme and shows each mentee's
 * progress).
 *
 * DESIGN. Whether to share is decided here, from the mentee's own signed
 * consent records: the latest share_progress record for the programme must
 * be a grant whose signature verifies with our own key (the latest by the
 * signed time of each record, not the server's order), and no withdrawal
 * this device made (consent.c remembers them) may be as recent — so
 * a server that hides a withdrawal from consent.list does not make this
 * device share. Not granted: nothing is sealed, and the result says so
 * ("shared": false). Withdrawing stops new shares only; what was shared
 * before stays readable to the managers it was sealed to. The readers are
 * managers_readers() (managers.c), never a server's list. Only figures are
 * shared, as the consent text says: a rating's stage, date and value; a
 * goal's status and task counts — never a title, a description or a note.
 *
 * Results: progress.share {"shared": bool, "reason"?, "readers"?};
 * progress.list {"programme_id","shares":[Opened],"mentees":[{"user_id",
 * "username","ratings":[...],"goals":[...]}]}. Threads: the host's (core.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core.h"
#include "quest.h"

#define SHARE_LABEL   "ementor progress v1"
#define SHARE_CTX_MAX (8 + 16 + 4 + 4 + 6 + 8)
#define SHARES_MAX    2000

struct emc_progress {
	int list; /* progress.list, else progress.share */
	int64_t room, programme;
	json_t *cmd;
	int stage; /* share: 0 consent.list asked, 1 progress.share asked */
	int asked, answered;
	struct em_incoming reply;
};

static void emc_progress_reply(struct emc *c, int64_t room, int64_t task, struct em_incoming *in)
{
	struct emc_task *t = emc_task_find(c, task);
	struct emc_progress *g = t && !t->done ? t->data : NULL;

	(void)room;
	if (!g)
		return;
	g->answered = 1;
	em_incoming_clear(&g->reply);
	g->reply = *in; /* takes what in owns */
	memset(in, 0, sizeof(*in));
}

static void emc_progress_free(struct emc_task *t)
{
	struct emc_progress *g = t->data;

	if (!g)
		return;
	em_incoming_clear(&g->reply);
	json_decref(g->cmd);
	free(g);
}

static int emc_progress_ask(struct emc *c, struct emc_task *t, struct emc_progress *g,
                            enum em_op op, json_t *args)
{
	if (!g->asked) {
		if (emc_request(c, op, args, emc_progress_reply, 0, t->id) < 0)
			return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		g->asked = 1;
		return EMC_PENDING;
	}
	json_decref(args);
	if (!g->answered)
		return EMC_PENDING;
	if (!g->reply.result)
		return emc_fail_server(c, t, &g->reply);
	return EMC_DONE;
}

/* u64 room || record_id || u32 av || lp(kind) || u64 written_ms */
static size_t share_ctx(unsigned char *out, int64_t room, const unsigned char id[16], int64_t av,
                        const char *kind, int64_t written)
{
	unsigned char *p = out;

	p = envelope_put_u64(p, (uint64_t)room);
	memcpy(p, id, EM_RECORD_ID_BYTES);
	p += EM_RECORD_ID_BYTES;
	p = envelope_put_u32(p, (uint32_t)av);
	p = envelope_put_lp(p, kind, strlen(kind));
	p = envelope_put_u64(p, (uint64_t)written);
	return (size_t)(p - out);
}

/* ---- the decision ---- */

/*
 * Whether share_progress is granted for subject: among our own records for
 * it whose signature verifies with our key, the latest by their signed time
 * (`at`; the server's seq only breaks ties) is a grant, and it is newer than
 * any withdrawal this device made. A record that does not verify counts for
 * nothing; so a server can hide a grant (we share less), never invent one.
 */
static int share_granted(struct emc *c, json_t *ledger, const char *subject, const char **why)
{
	int64_t withdrawn = emc_consent_withdrawn_at(c, subject);
	json_t *e, *latest = NULL;
	size_t i;

	json_array_foreach(json_object_get(ledger, "entries"), i, e)
	{
		const char *p = json_string_value(json_object_get(e, "purpose"));
		const char *s = json_string_value(json_object_get(e, "subject"));
		int64_t at = json_integer_value(json_object_get(e, "at"));
		int64_t lat = json_integer_value(json_object_get(latest, "at"));

		if (!p || !s || strcmp(p, "share_progress") || strcmp(s, subject) ||
		    !emc_consent_entry_verified(c, e))
			continue;
		if (!latest || at > lat ||
		    (at == lat && json_integer_value(json_object_get(e, "seq")) >
		                      json_integer_value(json_object_get(latest, "seq"))))
			latest = e;
	}
	if (!latest) {
		*why = "you have not granted share_progress for this programme";
		return 0;
	}
	if (strcmp(json_string_value(json_object_get(latest, "action")) ?: "", "grant") != 0) {
		*why = "you withdrew share_progress for this programme";
		return 0;
	}
	if (withdrawn && json_integer_value(json_object_get(latest, "at")) <= withdrawn) {
		*why = "this device withdrew share_progress after the grant the server shows: the "
		       "withdrawal is hidden from the ledger";
		return 0;
	}
	return 1;
}

/* The shared document (figures only) of a share command. New reference or NULL. */
static json_t *share_doc(json_t *cmd, const char *kind)
{
	json_t *d = json_object_get(cmd, "doc");

	if (!strcmp(kind, "rating")) {
		json_t *v = json_object_get(d, "value");
		const char *stage = json_string_value(json_object_get(d, "stage"));
		const char *date = json_string_value(json_object_get(d, "rated_on"));

		if (!json_is_integer(v) || json_integer_value(v) < 4 ||
		    json_integer_value(v) > 10 || !stage || !date || em_check_date(date) != EM_OK)
			return NULL;
		return json_pack("{s:s, s:s, s:s, s:O}", "kind", "rating", "stage", stage,
		                 "rated_on", date, "value", v);
	}
	{
		const char *goal = json_string_value(json_object_get(d, "goal_id"));
		const char *status = json_string_value(json_object_get(d, "status"));
		json_t *tasks = json_object_get(d, "tasks"),
		       *done = json_object_get(d, "tasks_done");

		if (!goal || strlen(goal) > 32 || !emc_goal_status_ok(status) ||
		    !json_is_integer(tasks) || !json_is_integer(done) ||
		    json_integer_value(done) < 0 ||
		    json_integer_value(done) > json_integer_value(tasks) ||
		    json_integer_value(tasks) > EM_GOAL_TASKS_MAX)
			return NULL;
		return json_pack("{s:s, s:s, s:s, s:O, s:O}", "kind", "goal", "goal_id", goal,
		                 "status", status, "tasks", tasks, "tasks_done", done);
	}
}

static int emc_progress_share_step(struct emc *c, struct emc_task *t)
{
	struct emc_progress *g = t->data;
	const char *kind = json_string_value(json_object_get(g->cmd, "kind")), *why = NULL;
	unsigned char ctx[SHARE_CTX_MAX], id[EM_RECORD_ID_BYTES], pks[ENVELOPE_RECIPIENTS][32];
	unsigned char *blob = NULL;
	char subject[40], *text, *b64 = NULL, *id_b64 = NULL;
	int64_t me = c->session.user_id, written = emc_now(c);
	uint64_t ids[ENVELOPE_RECIPIENTS];
	struct emc_room *r = NULL;
	json_t *doc, *readers;
	size_t blob_len = 0, ctx_len;
	int rc, n;

	if (g->stage == 1) {
		rc = emc_progress_ask(c, t, g, EM_OP_NONE, NULL);
		if (rc == EMC_DONE)
			t->result = json_pack("{s:b, s:O}", "shared", 1, "readers",
			                      json_object_get(g->cmd, "_readers"));
		return rc;
	}
	if ((rc = emc_manager_anchor(c, t, g->room, &r)) != EMC_DONE)
		return rc;
	n = managers_readers(&r->active, me, ids);
	if (n < 0)
		return emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_WRONG_ROLE,
		                "only a signed mentee of room %lld shares progress",
		                (long long)r->id);
	if (n == 0) {
		t->result = json_pack("{s:b, s:s}", "shared", 0, "reason",
		                      "the room's agreement names no manager to share with");
		return EMC_DONE;
	}
	if ((rc = emc_progress_ask(c, t, g, EM_OP_CONSENT_LIST, NULL)) != EMC_DONE)
		return rc;
	snprintf(subject, sizeof(subject), "programme:%lld", (long long)r->programme_id);
	if (!share_granted(c, g->reply.result, subject, &why)) {
		t->result = json_pack("{s:b, s:s}", "shared", 0, "reason", why);
		return EMC_DONE;
	}
	if (!(doc = share_doc(g->cmd, kind)))
		return emc_fail(t, EMC_EXIT_USAGE, 0, "nothing to share: a malformed %s", kind);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	readers = json_array();
	for (int i = 0; i < n; i++) {
		struct pin p;

		if (emc_user_keys(c, (int64_t)ids[i], &p) != 0 || p.changed) {
			free(text);
			json_decref(readers);
			return emc_fail(t, EMC_EXIT_REFUSED, 0,
			                "not sharing: user %lld has no trusted key on this device",
			                (long long)ids[i]);
		}
		memcpy(pks[i], p.box_pk, 32);
		json_array_append_new(readers, json_string(p.username));
	}
	json_object_set_new(g->cmd, "_readers", readers);
	do
		randombytes_buf(id, sizeof(id));
	while ((id[0] >> 2) == 62);
	ctx_len = share_ctx(ctx, r->id, id, r->active.version, kind, written);
	if (!text ||
	    envelope_seal(SHARE_LABEL, ctx, ctx_len, (uint64_t)me, ids,
	                  (const unsigned char(*)[32])pks, (size_t)n, (const unsigned char *)text,
	                  strlen(text), c->keys.sign_sk, &blob, &blob_len) != ENVELOPE_OK) {
		rc = emc_fail(t, EMC_EXIT_LOCAL, 0, "cannot seal the share");
		goto out;
	}
	b64 = em_b64_encode(blob, blob_len);
	id_b64 = em_b64_encode(id, sizeof(id));
	g->stage = 1;
	g->asked = g->answered = 0;
	rc = emc_progress_ask(c, t, g, EM_OP_PROGRESS_SHARE,
	                      b64 && id_b64
	                          ? json_pack("{s:I, s:s, s:s, s:I, s:I, s:s}", "room_id",
	                                      (json_int_t)r->id, "record_id", id_b64, "kind", kind,
	                                      "agreement_version", (json_int_t)r->active.version,
	                                      "written_ms", (json_int_t)written, "blob", b64)
	                          : NULL);
out:
	if (text) {
		sodium_memzero(text, strlen(text));
		free(text);
	}
	free(blob);
	free(b64);
	free(id_b64);
	return rc;
}

/* Opens one share the server listed: sets "verified" and "doc" (or "error") on out. */
static void emc_progress_open(struct emc *c, struct emc_progress *g, json_t *x, json_t *out)
{
	int64_t room = json_integer_value(json_object_get(x, "room_id"));
	int64_t author = json_integer_value(json_object_get(x, "user_id"));
	int64_t av = json_integer_value(json_object_get(x, "agreement_version"));
	int64_t written = json_integer_value(json_object_get(x, "written_ms"));
	const char *kind = json_string_value(json_object_get(x, "kind"));
	const char *id_b64 = json_string_value(json_object_get(x, "record_id"));
	const char *b64 = json_string_value(json_object_get(x, "blob"));
	unsigned char ctx[SHARE_CTX_MAX], id[EM_RECORD_ID_BYTES], *blob = NULL, *doc = NULL;
	uint64_t ids[ENVELOPE_RECIPIENTS];
	struct emc_room *r = room > 0 ? emc_room(c, room) : NULL;
	struct trust_version v;
	char why[320] = "";
	json_t *parsed = NULL, *want = NULL;
	size_t n = 0, doc_len = 0;
	struct pin p;
	int len, rc;

	if (!r || !kind || (strcmp(kind, "rating") && strcmp(kind, "goal")) || !id_b64 ||
	    em_b64_decode(id_b64, id, sizeof(id)) != (int)sizeof(id) || !b64 || av < 1 ||
	    av > EM_AGREEMENT_VERSION_MAX) {
		snprintf(why, sizeof(why), "the server's record is malformed");
		goto out;
	}
	if (r->programme_id != g->programme) {
		snprintf(why, sizeof(why), "room %lld is not in programme %lld", (long long)room,
		         (long long)g->programme);
		goto out;
	}
	if (emc_room_version(c, r, (uint32_t)av, &v, why, sizeof(why)) != EMC_DONE) {
		if (!why[0])
			snprintf(why, sizeof(why), "version %lld of the agreement is not verified",
			         (long long)av);
		goto out;
	}
	if (emc_user_keys(c, author, &p) != 0 || p.changed) {
		snprintf(why, sizeof(why),
		         "its author (user %lld) has no trusted key on this device",
		         (long long)author);
		goto out;
	}
	blob = malloc(EM_RECORD_BLOB_MAX);
	if (!blob || (len = em_b64_decode(b64, blob, EM_RECORD_BLOB_MAX)) < 0) {
		snprintf(why, sizeof(why), "the server's record is malformed");
		goto out;
	}
	rc =
	    envelope_open(SHARE_LABEL, ctx, share_ctx(ctx, room, id, av, kind, written),
	                  (uint64_t)author, p.sign_pk, (uint64_t)c->session.user_id, c->keys.box_pk,
	                  c->keys.box_sk, blob, (size_t)len, ids, &n, &doc, &doc_len);
	if (rc == ENVELOPE_MALFORMED || rc == ENVELOPE_BAD_SIGNATURE) {
		snprintf(why, sizeof(why),
		         "its signature does not verify with %s's pinned key for this room and "
		         "record: it was altered or moved",
		         p.username);
		goto out;
	}
	if (!managers_readers_ok(&v, author, ids, n, why, sizeof(why)))
		goto out;
	if (rc != ENVELOPE_OK) {
		snprintf(why, sizeof(why),
		         rc == ENVELOPE_NOT_RECIPIENT ? "it is not sealed to you"
		                                      : "it does not open with your key");
		goto out;
	}
	parsed = json_loadb((const char *)doc, doc_len, JSON_REJECT_DUPLICATES, NULL);
	if (parsed) {
		json_t *wrap = json_pack("{s:O}", "doc", parsed);

		want = wrap ? share_doc(wrap, kind) : NULL;
		json_decref(wrap);
	}
	if (!want || strcmp(json_string_value(json_object_get(parsed, "kind")) ?: "", kind)) {
		snprintf(why, sizeof(why), "its document is malformed");
		goto out;
	}
out:
	if (why[0]) {
		json_object_set_new(out, "verified", json_false());
		json_object_set_new(out, "error", json_string(why));
	} else {
		json_object_set_new(out, "verified", json_true());
		json_object_set(out, "doc", parsed);
	}
	json_decref(parsed);
	json_decref(want);
	if (doc) {
		sodium_memzero(doc, doc_len);
		free(doc);
	}
	free(blob);
}

static int emc_progress_list_step(struct emc *c, struct emc_task *t)
{
	struct emc_progress *g = t->data;
	json_t *list, *opened, *mentees, *x, *o, *m;
	struct trust_version v;
	int pending = 0, rc;
	char why[256];
	size_t i;

	rc = emc_progress_ask(c, t, g, EM_OP_PROGRESS_LIST,
	                      json_pack("{s:I}", "programme_id", (json_int_t)g->programme));
	if (rc != EMC_DONE)
		return rc;
	list = json_object_get(g->reply.result, "shares");
	if (!json_is_array(list) || json_array_size(list) > SHARES_MAX)
		return emc_fail(t, EMC_EXIT_NET, 0, "the server's answer is malformed");
	json_array_foreach(list, i, x)
	{
		int64_t room = json_integer_value(json_object_get(x, "room_id"));
		int64_t av = json_integer_value(json_object_get(x, "agreement_version"));
		struct emc_room *r = room > 0 ? emc_room(c, room) : NULL;

		if (!r || (rc = emc_room_advance(c, r)) == EMC_FAILED)
			continue;
		if (rc == EMC_PENDING) {
			pending = 1;
			continue;
		}
		if (av >= 1 && av <= EM_AGREEMENT_VERSION_MAX &&
		    emc_room_version(c, r, (uint32_t)av, &v, why, sizeof(why)) == EMC_PENDING)
			pending = 1;
	}
	if (pending)
		return EMC_PENDING;
	opened = json_array();
	mentees = json_object();
	json_array_foreach(list, i, x)
	{
		char key[24];

		o = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?}", "room_id",
		              json_object_get(x, "room_id"), "user_id",
		              json_object_get(x, "user_id"), "username",
		              json_object_get(x, "username"), "kind", json_object_get(x, "kind"),
		              "created_at", json_object_get(x, "created_at"));
		emc_progress_open(c, g, x, o);
		json_array_append_new(opened, o);
		if (!json_is_true(json_object_get(o, "verified")))
			continue;
		snprintf(key, sizeof(key), "%lld",
		         (long long)json_integer_value(json_object_get(o, "user_id")));
		if (!(m = json_object_get(mentees, key))) {
			m = json_pack("{s:O, s:O, s:[], s:{}}", "user_id",
			              json_object_get(o, "user_id"), "username",
			              json_object_get(o, "username"), "ratings", "goals");
			json_object_set_new(mentees, key, m);
		}
		if (!strcmp(json_string_value(json_object_get(o, "kind")), "rating"))
			json_array_append(json_object_get(m, "ratings"), json_object_get(o, "doc"));
		else /* the latest status of each goal: shares come oldest first */
			json_object_set(json_object_get(m, "goals"),
			                json_string_value(
			                    json_object_get(json_object_get(o, "doc"), "goal_id")),
			                json_object_get(o, "doc"));
	}
	{
		json_t *arr = json_array(), *goals;
		const char *k;

		json_object_foreach(mentees, k, m)
		{
			json_t *glist = json_array(), *gv;
			const char *gk;

			goals = json_object_get(m, "goals");
			json_object_foreach(goals, gk, gv)
			{
				json_array_append(glist, gv);
			}
			json_object_set_new(m, "goals", glist);
			json_array_append(arr, m);
		}
		json_decref(mentees);
		mentees = arr;
	}
	t->result = json_pack("{s:I, s:o, s:o}", "programme_id", (json_int_t)g->programme, "shares",
	                      opened, "mentees", mentees);
	return EMC_DONE;
}

static int64_t emc_progress_start(struct emc *c, int list, json_t *cmd)
{
	const char *kind = json_string_value(json_object_get(cmd, "kind"));
	struct emc_progress *g;
	struct emc_task *t;

	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->list = list;
	g->room = json_integer_value(json_object_get(cmd, "room"));
	g->programme = json_integer_value(json_object_get(cmd, "programme"));
	if (list ? g->programme < 1
	         : g->room < 1 || !kind || (strcmp(kind, "rating") && strcmp(kind, "goal")) ||
	               !json_is_object(json_object_get(cmd, "doc"))) {
		free(g);
		return -EINVAL;
	}
	g->cmd = json_deep_copy(cmd);
	t = g->cmd ? emc_task_new(c, list ? "progress.list" : "progress.share",
	                          list ? emc_progress_list_step : emc_progress_share_step,
	                          emc_progress_free, g)
	           : NULL;
	if (!t) {
		emc_progress_free(&(struct emc_task){.data = g});
		return -ENOMEM;
	}
	return t->id;
}

/* {"cmd":"progress.share","room","kind":"rating"|"goal","doc":{...figures}} */
int64_t emc_cmd_progress_share(struct emc *c, json_t *cmd)
{
	return emc_progress_start(c, 0, cmd);
}

/* {"cmd":"progress.list","programme"} */
int64_t emc_cmd_progress_list(struct emc *c, json_t *cmd)
{
	return emc_progress_start(c, 1, cmd);
}
