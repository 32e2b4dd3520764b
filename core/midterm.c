/*
 * midterm.c - the mid-term record as commands of the core (docs/PROTOCOL.md
 * 6.6): "midterm.write" (this user's part of what is said at the mid-term
 * session, sealed and signed here) and "midterm.show" (every part opened and
 * checked here, in the course's order).
 *
 * DESIGN. At the mid-term session each mentee gives their next steps, the
 * mentor the topics that remain, and then the mentees, the mentor and the
 * manager comment, in that order. Each part is an envelope (envelope.c)
 * sealed by its author to every party of the room's agreement version this
 * device verified (room.c) who has not withdrawn — the mentor, the mentees
 * and the manager party, who attends the mid-term: the one record of a room
 * the manager reads, by the course's design. The capacity the author speaks
 * in (kind: mentee, mentor or manager) is their role in that version, and is
 * inside the signed context with the room, the meeting, the author's version
 * of their part and the agreement version. The order is the reader's: parts
 * are shown by kind (mentees, then the mentor, then the manager), so a server
 * cannot reorder them; it cannot forge an author (the author's PINNED key
 * verifies first, and the author must hold that role in the version named),
 * move a part to another meeting, room or capacity (the context is rebuilt
 * from what the reader asked), or add a reader (the reader list is signed).
 * It can withhold a part, or show an older version of one: the versions of
 * an author's part are numbered and gaps are reported.
 *
 * Results: midterm.write {"version","kind"}; midterm.show {"room_id",
 * "checkpoint_id","records":[Opened, in the course's order]}.
 * Threads: the host's (core.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core.h"
#include "envelope.h"

#define MIDTERM_LABEL    "ementor midterm v1"
#define MIDTERM_TEXT_MAX 4000
#define MIDTERM_CTX_MAX  (8 + 8 + 4 + 4 + 4 + 7 + 8)
#define MIDTERM_RECORDS  200

struct emc_midterm {
	int write;
	int64_t room, checkpoint;
	json_t *cmd; /* the command as given */
	int64_t version;
	int shown;
	struct emc_ask ask;
};

/* The course's order: the mentees, the mentor, the manager. -1: not a kind. */
static int kind_rank(const char *kind)
{
	static const char *const order[] = {"mentee", "mentor", "manager"};

	for (int i = 0; kind && i < 3; i++)
		if (!strcmp(kind, order[i]))
			return i;
	return -1;
}

/* u64 room || u64 checkpoint || u32 version || u32 agreement_version || lp(kind) || u64 written */
static size_t midterm_ctx(unsigned char *out, int64_t room, int64_t checkpoint, int64_t version,
                          int64_t av, const char *kind, int64_t written_ms)
{
	unsigned char *p = out;

	p = envelope_put_u64(p, (uint64_t)room);
	p = envelope_put_u64(p, (uint64_t)checkpoint);
	p = envelope_put_u32(p, (uint32_t)version);
	p = envelope_put_u32(p, (uint32_t)av);
	p = envelope_put_lp(p, kind, strlen(kind));
	p = envelope_put_u64(p, (uint64_t)written_ms);
	return (size_t)(p - out);
}

/* The fields each capacity may say: mentee next_steps, mentor remaining_topics, all comment. */
static int midterm_field_ok(const char *kind, const char *field)
{
	if (!strcmp(field, "comment"))
		return 1;
	if (!strcmp(field, "next_steps"))
		return !strcmp(kind, "mentee");
	if (!strcmp(field, "remaining_topics"))
		return !strcmp(kind, "mentor");
	return 0;
}

/* Whether doc is a well-formed part for kind: known fields only, strings, at least one. */
static int midterm_doc_ok(const char *kind, json_t *doc)
{
	const char *field;
	json_t *v;
	int n = 0;

	if (!json_is_object(doc))
		return 0;
	json_object_foreach(doc, field, v)
	{
		if (!midterm_field_ok(kind, field) || !json_is_string(v) ||
		    json_string_length(v) > MIDTERM_TEXT_MAX)
			return 0;
		n += json_string_length(v) > 0;
	}
	return n > 0;
}

/* ---- the task ---- */

static struct emc_ask *emc_midterm_slot(struct emc_task *t, int64_t key)
{
	(void)key;
	return &((struct emc_midterm *)t->data)->ask;
}

static void emc_midterm_free(struct emc_task *t)
{
	struct emc_midterm *m = t->data;

	if (!m)
		return;
	em_incoming_clear(&m->ask.reply);
	json_decref(m->cmd);
	free(m);
}

/* Asks op once; EMC_DONE when the answer is there (a refusal fails t). Takes args. */
static int emc_midterm_ask(struct emc *c, struct emc_task *t, struct emc_midterm *m, enum em_op op,
                           json_t *args)
{
	return emc_ask(c, t, &m->ask, 0, op, args, m->room);
}

/* The room shown, pinned, its agreement verified (a need). */
static int emc_midterm_room(struct emc *c, struct emc_task *t, struct emc_room **out)
{
	struct emc_room *r = emc_room(c, ((struct emc_midterm *)t->data)->room);
	int rc;

	if (!r)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "too many rooms on this device");
	*out = r;
	if ((rc = emc_room_ready(c, t, r)) != EMC_DONE)
		return rc;
	if (r->refused[0])
		return emc_fail(t, EMC_EXIT_REFUSED, 0, "%s", r->refused);
	if (!r->required)
		return emc_fail(t, EMC_EXIT_REFUSED, 0,
		                "room %lld's programme does without agreements, so there is no "
		                "signed list of parties to seal the mid-term record to",
		                (long long)r->id);
	return emc_room_agreement(c, t, r);
}

/* The server's midterm.show, checked to be the meeting and room asked about. A need. */
static int emc_midterm_records(struct emc *c, struct emc_task *t, struct emc_midterm *m,
                               json_t **records)
{
	int rc = emc_midterm_ask(c, t, m, EM_OP_MIDTERM_SHOW,
	                         json_pack("{s:I}", "checkpoint_id", (json_int_t)m->checkpoint));

	if (rc != EMC_DONE)
		return rc;
	*records = json_object_get(m->ask.reply.result, "records");
	if (json_integer_value(json_object_get(m->ask.reply.result, "room_id")) != m->room)
		return emc_fail(t, EMC_EXIT_REFUSED, 0,
		                "the server answers that meeting %lld is not in room %lld",
		                (long long)m->checkpoint, (long long)m->room);
	if (!json_is_array(*records) || json_array_size(*records) > MIDTERM_RECORDS)
		return emc_fail(t, EMC_EXIT_NET, 0, "the server's answer is malformed");
	return EMC_DONE;
}

/* ---- writing ---- */

static int cmp_ids(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int emc_midterm_write_step(struct emc *c, struct emc_task *t)
{
	struct emc_midterm *m = t->data;
	int64_t me = c->session.user_id, written = emc_now(c), latest = 0;
	unsigned char ctx[MIDTERM_CTX_MAX], (*pks)[32] = NULL, *blob = NULL;
	uint64_t ids[ENVELOPE_RECIPIENTS];
	struct emc_room *r = NULL;
	json_t *records, *rec, *doc = NULL, *args = NULL;
	const char *kind, *field;
	char *text = NULL, *b64 = NULL;
	size_t n = 0, blob_len = 0, i;
	json_t *v;
	int rc, party;

	if (m->shown) { /* sent: the answer */
		rc = emc_midterm_ask(c, t, m, EM_OP_NONE, NULL);
		if (rc == EMC_DONE)
			t->result = json_incref(m->ask.reply.result);
		return rc;
	}
	if ((rc = emc_midterm_room(c, t, &r)) != EMC_DONE)
		return rc;
	if (r->active.version == 0)
		return emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_AGREEMENT_UNSIGNED,
		                "room %lld has no agreement signed by every party that you are a "
		                "party of: see `ementor agreement show %lld`",
		                (long long)r->id, (long long)r->id);
	party = trust_version_party(&r->active, me);
	if (party < 0 || emc_room_withdrew(r, me))
		return emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_FORBIDDEN,
		                "you are not a signed party of room %lld's agreement",
		                (long long)r->id);
	kind = r->active.parties[party].role;
	/* the fields given must be this capacity's */
	json_object_foreach(json_object_get(m->cmd, "doc"), field, v)
	{
		if (!midterm_field_ok(kind, field))
			return emc_fail(t, EMC_EXIT_USAGE, EM_ERR_WRONG_ROLE,
			                "as the room's %s you do not give %s at the mid-term", kind,
			                field);
	}
	if (!midterm_doc_ok(kind, json_object_get(m->cmd, "doc")))
		return emc_fail(t, EMC_EXIT_USAGE, 0,
		                "say something: each part is 1 to %d bytes of text",
		                MIDTERM_TEXT_MAX);
	if ((rc = emc_midterm_records(c, t, m, &records)) != EMC_DONE)
		return rc;
	json_array_foreach(records, i, rec)
	{
		if (json_integer_value(json_object_get(rec, "author_id")) == me &&
		    json_integer_value(json_object_get(rec, "version")) > latest)
			latest = json_integer_value(json_object_get(rec, "version"));
	}
	m->version = latest + 1;
	if (m->version > EM_MIDTERM_VERSION_MAX)
		return emc_fail(t, EMC_EXIT_REFUSED, 0, "your part has %d versions already",
		                EM_MIDTERM_VERSION_MAX);
	/* every party of the version in force who has not withdrawn, this writer included */
	for (i = 0; i < r->active.n && n < ENVELOPE_RECIPIENTS; i++)
		if (!emc_room_withdrew(r, r->active.parties[i].user_id))
			ids[n++] = (uint64_t)r->active.parties[i].user_id;
	qsort(ids, n, sizeof(ids[0]), cmp_ids);
	pks = calloc(ENVELOPE_RECIPIENTS, 32);
	doc = json_deep_copy(json_object_get(m->cmd, "doc"));
	text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (!pks || !text) {
		rc = emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct pin p;
		int k = trust_version_party(&r->active, (int64_t)ids[i]);

		/* the verified version's keys; they equal the pinned ones (7.2) */
		if (k < 0 || emc_user_keys(c, (int64_t)ids[i], &p) != 0 || p.changed) {
			rc = emc_fail(
			    t, EMC_EXIT_REFUSED, 0,
			    "not sealing to room %lld: user %lld has no trusted key on this "
			    "device (`ementor trust`). Nothing was sent",
			    (long long)r->id, (long long)ids[i]);
			goto out;
		}
		memcpy(pks[i], r->active.parties[k].box_pk, 32);
	}
	if (envelope_seal(MIDTERM_LABEL, ctx,
	                  midterm_ctx(ctx, r->id, m->checkpoint, m->version, r->active.version,
	                              kind, written),
	                  (uint64_t)me, ids, (const unsigned char(*)[32])pks, n,
	                  (const unsigned char *)text, strlen(text), c->keys.sign_sk, &blob,
	                  &blob_len) != ENVELOPE_OK ||
	    blob_len > EM_RECORD_BLOB_MAX || !(b64 = em_b64_encode(blob, blob_len))) {
		rc = emc_fail(t, EMC_EXIT_USAGE, 0, "the record is too long to seal");
		goto out;
	}
	args = json_pack("{s:I, s:I, s:s, s:I, s:I, s:s}", "checkpoint_id",
	                 (json_int_t)m->checkpoint, "version", (json_int_t)m->version, "kind", kind,
	                 "agreement_version", (json_int_t)r->active.version, "written_ms",
	                 (json_int_t)written, "blob", b64);
	m->ask.asked = m->ask.answered = 0;
	em_incoming_clear(&m->ask.reply);
	m->shown = 1;
	rc = emc_midterm_ask(c, t, m, EM_OP_MIDTERM_WRITE, args);
out:
	if (text) {
		sodium_memzero(text, strlen(text));
		free(text);
	}
	json_decref(doc);
	free(pks);
	free(blob);
	free(b64);
	return rc;
}

/* ---- reading ---- */

/* Every record's agreement version verified here (or failed). A need. */
static int emc_midterm_versions(struct emc *c, struct emc_room *r, json_t *records)
{
	struct trust_version v;
	char why[256];
	json_t *rec;
	size_t i;
	int pending = 0;

	json_array_foreach(records, i, rec)
	{
		int64_t av = json_integer_value(json_object_get(rec, "agreement_version"));

		if (av >= 1 && av <= EM_AGREEMENT_VERSION_MAX &&
		    emc_room_version(c, r, (uint32_t)av, &v, why, sizeof(why)) == EMC_PENDING)
			pending = 1;
	}
	return pending ? EMC_PENDING : EMC_DONE;
}

/* One part as the server lists it, opened and checked. New reference or NULL. */
static json_t *emc_midterm_open(struct emc *c, struct emc_room *r, int64_t checkpoint, json_t *rec)
{
	const char *kind = json_string_value(json_object_get(rec, "kind"));
	const char *blob_b64 = json_string_value(json_object_get(rec, "blob"));
	int64_t author = json_integer_value(json_object_get(rec, "author_id"));
	int64_t version = json_integer_value(json_object_get(rec, "version"));
	int64_t av = json_integer_value(json_object_get(rec, "agreement_version"));
	int64_t written = json_integer_value(json_object_get(rec, "written_ms"));
	unsigned char ctx[MIDTERM_CTX_MAX], *blob = malloc(EM_RECORD_BLOB_MAX), *doc = NULL;
	uint64_t ids[ENVELOPE_RECIPIENTS];
	size_t n = 0, doc_len = 0;
	struct trust_version v;
	json_t *out, *parsed = NULL, *readers = json_array();
	char why[320] = "";
	struct pin p;
	int len, rc, k;

	out = json_pack("{s:I, s:s?, s:I, s:I, s:I, s:s?}", "author_id", (json_int_t)author, "kind",
	                kind, "version", (json_int_t)version, "agreement_version", (json_int_t)av,
	                "written_ms", (json_int_t)written, "created_at",
	                json_string_value(json_object_get(rec, "created_at")));
	if (!out || !blob || !readers) {
		json_decref(out);
		out = NULL;
		goto done;
	}
	if (kind_rank(kind) < 0 || version < 1 || version > EM_MIDTERM_VERSION_MAX || av < 1 ||
	    av > EM_AGREEMENT_VERSION_MAX || !blob_b64 ||
	    (len = em_b64_decode(blob_b64, blob, EM_RECORD_BLOB_MAX)) < 0) {
		snprintf(why, sizeof(why), "the server's record is malformed");
		goto done;
	}
	if (emc_user_keys(c, author, &p) != 0) {
		snprintf(why, sizeof(why),
		         "its author (user %lld) has no key pinned on this device",
		         (long long)author);
		goto done;
	}
	json_object_set_new(out, "author", json_string(p.username));
	if (p.changed) {
		snprintf(why, sizeof(why),
		         "%s's identity changed and is not accepted yet (`ementor trust`)",
		         p.username);
		goto done;
	}
	if (emc_room_version(c, r, (uint32_t)av, &v, why, sizeof(why)) != EMC_DONE) {
		if (!why[0])
			snprintf(why, sizeof(why), "version %lld of the agreement is not verified",
			         (long long)av);
		goto done;
	}
	k = trust_version_party(&v, author);
	if (k < 0 || strcmp(v.parties[k].role, kind) != 0) {
		snprintf(
		    why, sizeof(why),
		    "its author %s is not the %s party of version %lld of the room's agreement",
		    p.username, kind, (long long)av);
		goto done;
	}
	rc = envelope_open(
	    MIDTERM_LABEL, ctx, midterm_ctx(ctx, r->id, checkpoint, version, av, kind, written),
	    (uint64_t)author, p.sign_pk, (uint64_t)c->session.user_id, c->keys.box_pk,
	    c->keys.box_sk, blob, (size_t)len, ids, &n, &doc, &doc_len);
	if (rc == ENVELOPE_MALFORMED || rc == ENVELOPE_BAD_SIGNATURE) {
		snprintf(
		    why, sizeof(why),
		    "its signature does not verify with %s's pinned key for this meeting, room, "
		    "capacity and version: it was altered or moved",
		    p.username);
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		struct pin q;

		if (trust_version_party(&v, (int64_t)ids[i]) < 0) {
			snprintf(
			    why, sizeof(why),
			    "it is sealed to user %llu, who is not a party of version %lld of the "
			    "room's agreement",
			    (unsigned long long)ids[i], (long long)av);
			goto done;
		}
		json_array_append_new(
		    readers, json_string(emc_user_keys(c, (int64_t)ids[i], &q) == 0 ? q.username
		                                                                    : "(unknown)"));
	}
	if (rc == ENVELOPE_NOT_RECIPIENT) {
		snprintf(why, sizeof(why), "it is not sealed to you");
		goto done;
	}
	if (rc != ENVELOPE_OK ||
	    !(parsed = json_loadb((const char *)doc, doc_len, JSON_REJECT_DUPLICATES, NULL))) {
		snprintf(why, sizeof(why), "it does not open with your key");
		goto done;
	}
	if (!midterm_doc_ok(kind, parsed))
		snprintf(why, sizeof(why), "its contents are not a %s's part of the mid-term",
		         kind);
done:
	if (out) {
		json_object_set_new(out, "readers", readers ? readers : json_array());
		readers = NULL;
		if (why[0] || !parsed) {
			json_object_set_new(out, "verified", json_false());
			json_object_set_new(out, "error", json_string(why[0] ? why : "unreadable"));
		} else {
			json_object_set_new(out, "verified", json_true());
			json_object_set_new(out, "doc", json_incref(parsed));
		}
	}
	json_decref(readers);
	json_decref(parsed);
	if (doc) {
		sodium_memzero(doc, doc_len);
		free(doc);
	}
	free(blob);
	return out;
}

/* The course's order: kind (mentees, mentor, manager), then author, then version. */
static int midterm_cmp(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int rx = kind_rank(json_string_value(json_object_get(x, "kind")));
	int ry = kind_rank(json_string_value(json_object_get(y, "kind")));
	json_int_t ax = json_integer_value(json_object_get(x, "author_id"));
	json_int_t ay = json_integer_value(json_object_get(y, "author_id"));
	json_int_t vx = json_integer_value(json_object_get(x, "version"));
	json_int_t vy = json_integer_value(json_object_get(y, "version"));

	if (rx != ry)
		return rx < ry ? -1 : 1;
	if (ax != ay)
		return ax < ay ? -1 : 1;
	return (vx > vy) - (vx < vy);
}

static int emc_midterm_show_step(struct emc *c, struct emc_task *t)
{
	struct emc_midterm *m = t->data;
	struct emc_room *r = NULL;
	json_t *records, *rec, **opened = NULL, *list;
	size_t i, n = 0;
	int rc;

	if ((rc = emc_midterm_room(c, t, &r)) != EMC_DONE)
		return rc;
	if ((rc = emc_midterm_records(c, t, m, &records)) != EMC_DONE)
		return rc;
	if ((rc = emc_midterm_versions(c, r, records)) != EMC_DONE)
		return rc;
	opened = calloc(json_array_size(records) + 1, sizeof(*opened));
	list = json_array();
	if (!opened || !list) {
		free(opened);
		json_decref(list);
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	}
	json_array_foreach(records, i, rec)
	{
		json_t *o = emc_midterm_open(c, r, m->checkpoint, rec);

		if (o)
			opened[n++] = o;
	}
	qsort(opened, n, sizeof(*opened), midterm_cmp);
	for (i = 0; i < n; i++) {
		json_int_t author = json_integer_value(json_object_get(opened[i], "author_id"));
		json_int_t version = json_integer_value(json_object_get(opened[i], "version"));
		int last = i + 1 == n || json_integer_value(
		                             json_object_get(opened[i + 1], "author_id")) != author;
		int first = i == 0 || json_integer_value(
		                          json_object_get(opened[i - 1], "author_id")) != author;

		/* an author's versions are 1, 2, ...: a gap is a part withheld */
		if ((first && version != 1) ||
		    (!first &&
		     version != json_integer_value(json_object_get(opened[i - 1], "version")) + 1))
			json_object_set_new(
			    opened[i], "warning",
			    json_string("versions of this part are missing before it"));
		json_object_set_new(opened[i], "latest", json_boolean(last));
		json_array_append_new(list, opened[i]);
	}
	free(opened);
	t->result = json_pack("{s:I, s:I, s:o, s:[s, s, s]}", "room_id", (json_int_t)m->room,
	                      "checkpoint_id", (json_int_t)m->checkpoint, "records", list, "order",
	                      "mentee", "mentor", "manager");
	return t->result ? EMC_DONE : emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
}

/* ---- commands ---- */

static int64_t emc_midterm_start(struct emc *c, json_t *cmd, int write)
{
	int64_t room = json_integer_value(json_object_get(cmd, "room"));
	int64_t checkpoint = json_integer_value(json_object_get(cmd, "checkpoint"));
	struct emc_midterm *m;
	struct emc_task *t;

	if (room < 1 || checkpoint < 1 || (write && !json_is_object(json_object_get(cmd, "doc"))))
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->write = write;
	m->room = room;
	m->checkpoint = checkpoint;
	m->cmd = json_incref(cmd);
	t = emc_task_new(c, write ? "midterm.write" : "midterm.show",
	                 write ? emc_midterm_write_step : emc_midterm_show_step, emc_midterm_free,
	                 m);
	if (!t) {
		emc_midterm_free(&(struct emc_task){.data = m});
		return -ENOMEM;
	}
	t->ask_slot = emc_midterm_slot;
	return t->id;
}

/* {"cmd":"midterm.write","room","checkpoint","doc":{"next_steps"?,"remaining_topics"?,
 *  "comment"?}} */
int64_t emc_cmd_midterm_write(struct emc *c, json_t *cmd)
{
	return emc_midterm_start(c, cmd, 1);
}

/* {"cmd":"midterm.show","room","checkpoint"} */
int64_t emc_cmd_midterm_show(struct emc *c, json_t *cmd)
{
	return emc_midterm_start(c, cmd, 0);
}
