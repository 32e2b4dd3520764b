/*
 * goal.c - goals, their tasks and the 4-10 self-ratings as commands of the
 * core (docs/PROTOCOL.md section 10): "goal.put" (a new goal or a new
 * version of one, sealed and signed here), "goal.list" and "goal.history"
 * (every record opened and checked here), "rating.add" and "rating.list".
 *
 * DESIGN. Every goal version and every rating is an envelope (envelope.c)
 * sealed to readers this device chooses from the room's agreement version it
 * verified itself (room.c: every party's signature checked, keys pinned), and
 * that version's number is inside the signed context — never from the
 * server's roster:
 *   - a personal goal not shared, and every rating: exactly its mentee and
 *     the mentor party of that version;
 *   - a group goal, or a personal goal its mentee shared with the room: the
 *     mentor and mentee parties of that version who have not withdrawn.
 * A reader verifies the author's signature with the author's PINNED key
 * first (the context rebuilt from the room it asked about and the fields the
 * server lists, so a record moved to another room, id, version, kind, owner
 * or sharing does not verify), then that it is a recipient, then the
 * recipient rule above against the version named, then decrypts. A record
 * that fails any check is listed with "verified": false and why, never
 * dropped and never shown as text. Per goal this device remembers the
 * highest version it saw (goals.json), so a server that later serves an
 * older version as the latest is reported. Rooms in programmes without
 * agreements have no signed roster to take the mentor from: goals are
 * refused there (the CLI says so).
 *
 * Results: goal.list {"room_id","goals":[Opened]}; goal.history
 * {"room_id","versions":[Opened]}; goal.put {"goal_id","version"};
 * rating.add {"rating_id","stage","rated_on"}; rating.list {"ratings":[...]}.
 * Threads: the host's (core.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core.h"
#include "envelope.h"

#define GOAL_LABEL      "ementor goal v1"
#define RATING_LABEL    "ementor rating v1"
#define GOALS_FILE      "goals.json"
#define GOAL_TITLE_MAX  200
#define GOAL_DESC_MAX   4000
#define GOAL_RECORDS    500
#define GOAL_CTX_MAX    (8 + 16 + 4 + 4 + 4 + 8 + 8 + 1 + 4 + 8)
#define RATING_CTX_MAX  (8 + 16 + 4 + 4 + 8 + 4 + 10 + 8)
#define GOAL_DOC_MAX    (EM_RECORD_BLOB_MAX - 2048)
#define RATING_NOTE_MAX 1000

enum emc_goal_kind {
	EMC_GOAL_PUT = 0,
	EMC_GOAL_LIST,
	EMC_GOAL_HISTORY,
	EMC_RATING_ADD,
	EMC_RATING_LIST,
};

struct emc_goal {
	enum emc_goal_kind kind;
	int64_t room;
	unsigned char id[EM_RECORD_ID_BYTES]; /* goal.put, goal.history, rating.add */
	int have_id;
	json_t *cmd; /* the command as given */
	struct emc_ask ask;
};

static const char *const goal_statuses[] = {"open", "in_progress", "done", "dropped"};

int emc_goal_status_ok(const char *s)
{
	for (size_t i = 0; s && i < sizeof(goal_statuses) / sizeof(goal_statuses[0]); i++)
		if (!strcmp(s, goal_statuses[i]))
			return 1;
	return 0;
}

static int stage_ok(const char *s)
{
	return s && (!strcmp(s, "start") || !strcmp(s, "midterm") || !strcmp(s, "final") ||
	             !strcmp(s, "any"));
}

/* ---- the signed contexts (PROTOCOL.md 10.1) ---- */

/* u64 room || goal_id || u32 version || u32 agreement_version || lp(kind) || u64 owner
 * || u8 shared || u32 tasks || u64 written_ms */
static size_t goal_ctx(unsigned char *out, int64_t room, const unsigned char id[16],
                       int64_t version, int64_t av, const char *kind, int64_t owner, int shared,
                       int64_t tasks, int64_t written_ms)
{
	unsigned char *p = out;

	p = envelope_put_u64(p, (uint64_t)room);
	memcpy(p, id, EM_RECORD_ID_BYTES);
	p += EM_RECORD_ID_BYTES;
	p = envelope_put_u32(p, (uint32_t)version);
	p = envelope_put_u32(p, (uint32_t)av);
	p = envelope_put_lp(p, kind, strlen(kind));
	p = envelope_put_u64(p, (uint64_t)owner);
	*p++ = shared ? 1 : 0;
	p = envelope_put_u32(p, (uint32_t)tasks);
	p = envelope_put_u64(p, (uint64_t)written_ms);
	return (size_t)(p - out);
}

/* u64 room || rating_id || u32 agreement_version || lp(stage) || lp(rated_on) || u64 written_ms */
static size_t rating_ctx(unsigned char *out, int64_t room, const unsigned char id[16], int64_t av,
                         const char *stage, const char *rated_on, int64_t written_ms)
{
	unsigned char *p = out;

	p = envelope_put_u64(p, (uint64_t)room);
	memcpy(p, id, EM_RECORD_ID_BYTES);
	p += EM_RECORD_ID_BYTES;
	p = envelope_put_u32(p, (uint32_t)av);
	p = envelope_put_lp(p, stage, strlen(stage));
	p = envelope_put_lp(p, rated_on, strlen(rated_on));
	p = envelope_put_u64(p, (uint64_t)written_ms);
	return (size_t)(p - out);
}

/* ---- recipients ---- */

/* The mentor party of v, or 0. */
static int64_t version_mentor(const struct trust_version *v)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->parties[i].role, "mentor"))
			return v->parties[i].user_id;
	return 0;
}

static int version_role(const struct trust_version *v, int64_t user, const char *role)
{
	int i = trust_version_party(v, user);

	return i >= 0 && !strcmp(v->parties[i].role, role);
}

static int cmp_ids(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Who a record must be sealed to under version v: `narrow` (a personal goal
 * not shared, a rating): the owner and the mentor; else every mentor and
 * mentee party (withdrawn ones left out when r is given). Ascending. The
 * count, or -1 when v has no mentor or the owner is not its mentee.
 */
int emc_goal_readers(const struct trust_version *v, const struct emc_room *r, int narrow,
                     int64_t owner, uint64_t *ids)
{
	int64_t mentor = version_mentor(v);
	size_t n = 0;

	if (!mentor)
		return -1;
	if (narrow) {
		if (!version_role(v, owner, "mentee"))
			return -1;
		ids[n++] = (uint64_t)owner;
		ids[n++] = (uint64_t)mentor;
	} else {
		for (size_t i = 0; i < v->n && n < ENVELOPE_RECIPIENTS; i++)
			if (trust_version_member(v, v->parties[i].user_id) &&
			    !(r && emc_room_withdrew(r, v->parties[i].user_id)))
				ids[n++] = (uint64_t)v->parties[i].user_id;
	}
	qsort(ids, n, sizeof(ids[0]), cmp_ids);
	return (int)n;
}

/*
 * Whether the signed list `got` fits the rule: narrow — exactly the owner and
 * v's mentor; wide — only mentor and mentee parties of v, the author among
 * them. 1 or 0, with why.
 */
int emc_goal_readers_ok(const struct trust_version *v, int narrow, int64_t owner, int64_t author,
                        const uint64_t *got, size_t n, char *why, size_t len)
{
	uint64_t want[ENVELOPE_RECIPIENTS];
	int k = emc_goal_readers(v, NULL, narrow, owner, want);
	int has_author = 0;

	if (k < 0) {
		snprintf(why, len,
		         "version %u of the room's agreement has no mentor, or the owner is not "
		         "one of its mentees",
		         v->version);
		return 0;
	}
	if (narrow) {
		if ((size_t)k != n || memcmp(want, got, n * sizeof(got[0])) != 0) {
			snprintf(why, len,
			         "it is sealed to other readers than its mentee and the mentor of "
			         "version %u of the room's agreement",
			         v->version);
			return 0;
		}
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!trust_version_member(v, (int64_t)got[i])) {
			snprintf(
			    why, len,
			    "it is sealed to user %llu, who is not a mentor or mentee of version "
			    "%u of the room's agreement",
			    (unsigned long long)got[i], v->version);
			return 0;
		}
		has_author |= got[i] == (uint64_t)author;
	}
	if (!has_author)
		snprintf(why, len, "its author is not among its readers");
	return has_author;
}

/* ---- the high-water marks of goal versions (goals.json) ---- */

struct goal_mark {
	char room[24];
	const char *goal;
	int64_t version;
	int64_t seen; /* out: the highest version recorded before */
};

static int goal_mark_fn(json_t *root, void *arg)
{
	struct goal_mark *m = arg;
	json_t *room = json_object_get(root, m->room), *v;

	if (!json_is_object(room)) {
		room = json_object();
		if (!room || json_object_set_new(root, m->room, room))
			return -ENOMEM;
	}
	v = json_object_get(room, m->goal);
	m->seen = json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
	if (m->version <= m->seen)
		return 0;
	return json_object_set_new(room, m->goal, json_integer(m->version)) ? -ENOMEM : 1;
}

/* Records version of goal (b64) and returns the highest seen before (0: none, -1: error). */
static int64_t goal_mark(struct emc *c, int64_t room, const char *goal, int64_t version)
{
	struct goal_mark m = {.goal = goal, .version = version};

	snprintf(m.room, sizeof(m.room), "%lld", (long long)room);
	return emc_doc_update(c, GOALS_FILE, goal_mark_fn, &m, NULL) < 0 ? -1 : m.seen;
}

/* ---- the task ---- */

static struct emc_ask *emc_goal_slot(struct emc_task *t, int64_t key)
{
	(void)key;
	return &((struct emc_goal *)t->data)->ask;
}

static void emc_goal_free(struct emc_task *t)
{
	struct emc_goal *g = t->data;

	if (!g)
		return;
	em_incoming_clear(&g->ask.reply);
	json_decref(g->cmd);
	free(g);
}

/* Asks op once; EMC_DONE when the answer is there (a refusal fails t). Takes args. */
static int emc_goal_ask(struct emc *c, struct emc_task *t, struct emc_goal *g, enum em_op op,
                        json_t *args)
{
	return emc_ask(c, t, &g->ask, 0, op, args, g->room);
}

/* The room shown, pinned, and its agreement verified. A need. */
static int emc_goal_room(struct emc *c, struct emc_task *t, struct emc_room **out)
{
	struct emc_room *r = emc_room(c, ((struct emc_goal *)t->data)->room);
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
		                "signed roster to seal goals and ratings to: they are kept only in "
		                "rooms with a signed agreement",
		                (long long)r->id);
	if ((rc = emc_room_agreement(c, t, r)) != EMC_DONE)
		return rc;
	if (r->active.version == 0)
		return emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_AGREEMENT_UNSIGNED,
		                "room %lld has no agreement signed by every party yet: see "
		                "`ementor agreement show %lld`",
		                (long long)r->id, (long long)r->id);
	return EMC_DONE;
}

/* Opens one record: what the checks found goes into out. Takes nothing. */
struct emc_record {
	const char *label;
	unsigned char ctx[GOAL_CTX_MAX > RATING_CTX_MAX ? GOAL_CTX_MAX : RATING_CTX_MAX];
	size_t ctx_len;
	int64_t author, owner;
	int narrow;
	const char *blob_b64;
	const struct trust_version *v;
};

/* Sets "verified" and "doc" (or "error") on out. */
static void emc_record_open(struct emc *c, const struct emc_record *rec, json_t *out)
{
	uint64_t ids[ENVELOPE_RECIPIENTS];
	unsigned char *blob = malloc(EM_RECORD_BLOB_MAX), *doc = NULL;
	size_t n = 0, doc_len = 0;
	char why[320] = "";
	json_t *readers = json_array(), *parsed = NULL;
	struct pin author;
	int len, rc;

	if (!blob || !readers) {
		snprintf(why, sizeof(why), "out of memory");
		goto out;
	}
	if (!rec->blob_b64 || (len = em_b64_decode(rec->blob_b64, blob, EM_RECORD_BLOB_MAX)) < 0) {
		snprintf(why, sizeof(why), "the server's record is malformed");
		goto out;
	}
	if (emc_user_keys(c, rec->author, &author) != 0) {
		snprintf(why, sizeof(why),
		         "its author (user %lld) has no key pinned on this device",
		         (long long)rec->author);
		goto out;
	}
	if (author.changed) {
		snprintf(why, sizeof(why),
		         "%s's identity changed and is not accepted yet (`ementor trust`)",
		         author.username);
		goto out;
	}
	if (!trust_version_member(rec->v, rec->author)) {
		snprintf(why, sizeof(why),
		         "its author %s is not a mentor or mentee of version %u of the room's "
		         "agreement",
		         author.username, rec->v->version);
		goto out;
	}
	rc = envelope_open(rec->label, rec->ctx, rec->ctx_len, (uint64_t)rec->author,
	                   author.sign_pk, (uint64_t)c->session.user_id, c->keys.box_pk,
	                   c->keys.box_sk, blob, (size_t)len, ids, &n, &doc, &doc_len);
	if (rc == ENVELOPE_MALFORMED || rc == ENVELOPE_BAD_SIGNATURE) {
		snprintf(why, sizeof(why),
		         "its signature does not verify with %s's pinned key for this room, record "
		         "and version: it was altered or moved",
		         author.username);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct pin p;

		json_array_append_new(
		    readers, json_string(emc_user_keys(c, (int64_t)ids[i], &p) == 0 ? p.username
		                                                                    : "(unknown)"));
	}
	if (!emc_goal_readers_ok(rec->v, rec->narrow, rec->owner, rec->author, ids, n, why,
	                         sizeof(why)))
		goto out;
	if (rc == ENVELOPE_NOT_RECIPIENT) {
		snprintf(why, sizeof(why), "it is not sealed to you");
		goto out;
	}
	if (rc != ENVELOPE_OK ||
	    !(parsed = json_loadb((const char *)doc, doc_len, JSON_REJECT_DUPLICATES, NULL)) ||
	    !json_is_object(parsed)) {
		snprintf(why, sizeof(why), "it does not open with your key");
		goto out;
	}
out:
	json_object_set_new(out, "readers", readers ? readers : json_array());
	if (why[0] || !parsed) {
		json_object_set_new(out, "verified", json_false());
		json_object_set_new(out, "error", json_string(why[0] ? why : "unreadable"));
		json_decref(parsed);
	} else {
		json_object_set_new(out, "verified", json_true());
		json_object_set_new(out, "doc", parsed);
	}
	if (doc) {
		sodium_memzero(doc, doc_len);
		free(doc);
	}
	free(blob);
}

/* Checks an opened goal document against the signed task count; moves it into out. */
static void emc_goal_doc_check(json_t *out, int64_t tasks)
{
	json_t *doc = json_object_get(out, "doc"), *list = json_object_get(doc, "tasks"), *task;
	const char *title = json_string_value(json_object_get(doc, "title"));
	const char *status = json_string_value(json_object_get(doc, "status"));
	const char *why = NULL;
	size_t i;

	if (!doc)
		return;
	if (!title || !emc_goal_status_ok(status) || !json_is_array(list))
		why = "its document is malformed";
	else if ((int64_t)json_array_size(list) != tasks)
		why = "it holds another number of tasks than its signed count";
	json_array_foreach(list, i, task)
	{
		if (!json_is_string(json_object_get(task, "title")) ||
		    !emc_goal_status_ok(json_string_value(json_object_get(task, "status"))))
			why = "a task is malformed";
	}
	if (why) {
		json_object_del(out, "doc");
		json_object_set_new(out, "verified", json_false());
		json_object_set_new(out, "error", json_string(why));
	}
}

/* Every record's agreement version verified here (or failed). A need. */
static int emc_goal_versions(struct emc *c, struct emc_room *r, json_t *records)
{
	struct trust_version v;
	char why[256];
	json_t *rec;
	size_t i;
	int pending = 0;

	json_array_foreach(records, i, rec)
	{
		int64_t av = json_integer_value(json_object_get(rec, "agreement_version"));

		if (av < 1 || av > EM_AGREEMENT_VERSION_MAX)
			continue;
		if (emc_room_version(c, r, (uint32_t)av, &v, why, sizeof(why)) == EMC_PENDING)
			pending = 1;
	}
	return pending ? EMC_PENDING : EMC_DONE;
}

/* A goal version as the server lists it, opened and checked. New reference. */
static json_t *emc_goal_open(struct emc *c, struct emc_room *r, json_t *g)
{
	const char *id_b64 = json_string_value(json_object_get(g, "goal_id"));
	const char *kind = json_string_value(json_object_get(g, "kind"));
	int64_t version = json_integer_value(json_object_get(g, "version"));
	int64_t av = json_integer_value(json_object_get(g, "agreement_version"));
	int64_t owner = json_integer_value(json_object_get(g, "owner_id"));
	int64_t tasks = json_integer_value(json_object_get(g, "tasks"));
	int64_t written = json_integer_value(json_object_get(g, "written_ms"));
	int shared = json_is_true(json_object_get(g, "shared"));
	struct emc_record rec = {.label = GOAL_LABEL};
	unsigned char id[EM_RECORD_ID_BYTES];
	struct trust_version v;
	struct pin p;
	char why[256] = "";
	json_t *out;

	rec.author = json_integer_value(json_object_get(g, "author_id"));
	out = json_pack("{s:s?, s:I, s:s?, s:b, s:I, s:I, s:I, s:I, s:s?}", "goal_id", id_b64,
	                "version", (json_int_t)version, "kind", kind, "shared", shared, "owner_id",
	                (json_int_t)owner, "author_id", (json_int_t)rec.author, "tasks",
	                (json_int_t)tasks, "written_ms", (json_int_t)written, "created_at",
	                json_string_value(json_object_get(g, "created_at")));
	if (!out)
		return NULL;
	if (emc_user_keys(c, rec.author, &p) == 0)
		json_object_set_new(out, "author", json_string(p.username));
	if (owner && emc_user_keys(c, owner, &p) == 0)
		json_object_set_new(out, "owner", json_string(p.username));
	if (!id_b64 || em_b64_decode(id_b64, id, sizeof(id)) != (int)sizeof(id) || !kind ||
	    (strcmp(kind, "personal") && strcmp(kind, "group")) || version < 1 || tasks < 0 ||
	    tasks > EM_GOAL_TASKS_MAX || av < 1 || av > EM_AGREEMENT_VERSION_MAX) {
		snprintf(why, sizeof(why), "the server's record is malformed");
	} else if (!strcmp(kind, "personal") && owner != rec.author) {
		snprintf(why, sizeof(why),
		         "a personal goal written by someone else than its mentee");
	} else if (!strcmp(kind, "group") && (owner != 0 || !shared)) {
		snprintf(why, sizeof(why), "the server's record is malformed");
	} else if (emc_room_version(c, r, (uint32_t)av, &v, why, sizeof(why)) != EMC_DONE) {
		if (!why[0])
			snprintf(why, sizeof(why), "version %lld of the agreement is not verified",
			         (long long)av);
	}
	if (!why[0] && !strcmp(kind, "personal") && !version_role(&v, owner, "mentee"))
		snprintf(
		    why, sizeof(why),
		    "a personal goal of someone who is not a mentee of version %lld of the room's "
		    "agreement",
		    (long long)av);
	if (why[0]) {
		json_object_set_new(out, "verified", json_false());
		json_object_set_new(out, "error", json_string(why));
		return out;
	}
	rec.owner = owner;
	rec.narrow = !strcmp(kind, "personal") && !shared;
	rec.blob_b64 = json_string_value(json_object_get(g, "blob"));
	rec.v = &v;
	rec.ctx_len =
	    goal_ctx(rec.ctx, r->id, id, version, av, kind, owner, shared, tasks, written);
	emc_record_open(c, &rec, out);
	emc_goal_doc_check(out, tasks);
	return out;
}

/* goal.list / goal.history: the answer's records opened. */
static int emc_goal_read_step(struct emc *c, struct emc_task *t)
{
	struct emc_goal *g = t->data;
	int history = g->kind == EMC_GOAL_HISTORY;
	const char *key = history ? "versions" : "goals";
	struct emc_room *r = NULL;
	json_t *records, *list, *rec;
	int64_t prev = 0;
	size_t i;
	int rc;

	if ((rc = emc_goal_room(c, t, &r)) != EMC_DONE)
		return rc;
	if (history) {
		char *id = em_b64_encode(g->id, sizeof(g->id));

		rc = emc_goal_ask(
		    c, t, g, EM_OP_GOAL_HISTORY,
		    id ? json_pack("{s:I, s:s}", "room_id", (json_int_t)g->room, "goal_id", id)
		       : NULL);
		free(id);
	} else {
		rc = emc_goal_ask(c, t, g, EM_OP_GOAL_LIST,
		                  json_pack("{s:I}", "room_id", (json_int_t)g->room));
	}
	if (rc != EMC_DONE)
		return rc;
	records = json_object_get(g->ask.reply.result, key);
	if (!json_is_array(records) || json_array_size(records) > GOAL_RECORDS)
		return emc_fail(t, EMC_EXIT_NET, 0, "the server's answer is malformed");
	if ((rc = emc_goal_versions(c, r, records)) != EMC_DONE)
		return rc;
	list = json_array();
	json_array_foreach(records, i, rec)
	{
		json_t *o = emc_goal_open(c, r, rec);
		const char *id = json_string_value(json_object_get(o, "goal_id"));
		int64_t version = json_integer_value(json_object_get(o, "version"));

		if (!o)
			continue;
		if (json_is_true(json_object_get(o, "verified")) && id) {
			int64_t seen = goal_mark(c, g->room, id, version);

			if (!history && seen > version)
				json_object_set_new(
				    o, "warning",
				    json_sprintf(
				        "the server shows version %lld as the latest, but this "
				        "device has seen version %lld: an older version is "
				        "passed off as the latest",
				        (long long)version, (long long)seen));
		}
		/* versions hidden from you (a personal goal before it was shared) leave gaps */
		if (history && version != ++prev &&
		    (!strcmp(json_string_value(json_object_get(o, "kind"))
		                 ? json_string_value(json_object_get(o, "kind"))
		                 : "",
		             "group") ||
		     json_integer_value(json_object_get(o, "owner_id")) == c->session.user_id))
			json_object_set_new(o, "warning",
			                    json_sprintf("versions are missing before version %lld",
			                                 (long long)version));
		prev = version;
		json_array_append_new(list, o);
	}
	t->result = json_pack("{s:I, s:o}", "room_id", (json_int_t)g->room, key, list);
	return EMC_DONE;
}

/* Checks and copies the document of a goal.put. NULL with *why. */
static json_t *goal_doc(json_t *in, const char **why)
{
	const char *title = json_string_value(json_object_get(in, "title"));
	const char *desc = json_string_value(json_object_get(in, "description"));
	const char *status = json_string_value(json_object_get(in, "status"));
	json_t *tasks = json_object_get(in, "tasks"), *out, *list, *task;
	size_t i;

	if (!title || !title[0] || strlen(title) > GOAL_TITLE_MAX) {
		*why = "a goal needs a title of 1 to 200 bytes";
		return NULL;
	}
	if (desc && strlen(desc) > GOAL_DESC_MAX) {
		*why = "a description is at most 4000 bytes";
		return NULL;
	}
	if (!status)
		status = "open";
	if (!emc_goal_status_ok(status)) {
		*why = "a status is open, in_progress, done or dropped";
		return NULL;
	}
	if (tasks && (!json_is_array(tasks) || json_array_size(tasks) > EM_GOAL_TASKS_MAX)) {
		*why = "a goal has at most 50 tasks";
		return NULL;
	}
	list = json_array();
	json_array_foreach(tasks, i, task)
	{
		const char *tt = json_string_value(json_object_get(task, "title"));
		const char *ts = json_string_value(json_object_get(task, "status"));

		if (!ts)
			ts = "open";
		if (!tt || !tt[0] || strlen(tt) > GOAL_TITLE_MAX || !emc_goal_status_ok(ts)) {
			json_decref(list);
			*why = "a task needs a title of 1 to 200 bytes and a status open, "
			       "in_progress, done or dropped";
			return NULL;
		}
		json_array_append_new(list, json_pack("{s:s, s:s}", "title", tt, "status", ts));
	}
	out = json_pack("{s:s, s:s, s:s, s:o}", "title", title, "description", desc ? desc : "",
	                "status", status, "tasks", list);
	if (!out)
		*why = "out of memory";
	return out;
}

/* Seals doc_text to the readers of v and sends op with the record's fields. */
static int emc_record_send(struct emc *c, struct emc_task *t, struct emc_goal *g,
                           struct emc_room *r, const char *label, const unsigned char *ctx,
                           size_t ctx_len, const uint64_t *ids, size_t n, const char *doc_text,
                           enum em_op op, json_t *args)
{
	unsigned char(*pks)[32] = calloc(ENVELOPE_RECIPIENTS, 32), *blob = NULL;
	size_t blob_len = 0;
	char *b64 = NULL;
	int rc;

	if (!pks) {
		json_decref(args);
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		struct pin p;

		if (emc_user_keys(c, (int64_t)ids[i], &p) != 0 || p.changed) {
			rc = emc_fail(
			    t, EMC_EXIT_REFUSED, 0,
			    "not sealing to room %lld: user %lld has no trusted key on this "
			    "device (`ementor trust`). Nothing was sent",
			    (long long)r->id, (long long)ids[i]);
			goto out;
		}
		memcpy(pks[i], p.box_pk, 32);
	}
	if (envelope_seal(label, ctx, ctx_len, (uint64_t)c->session.user_id, ids,
	                  (const unsigned char(*)[32])pks, n, (const unsigned char *)doc_text,
	                  strlen(doc_text), c->keys.sign_sk, &blob, &blob_len) != ENVELOPE_OK ||
	    blob_len > EM_RECORD_BLOB_MAX) {
		rc = emc_fail(t, EMC_EXIT_USAGE, 0, "the record is too long to seal");
		goto out;
	}
	if (!(b64 = em_b64_encode(blob, blob_len)) ||
	    json_object_set_new(args, "blob", json_string(b64))) {
		rc = emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		goto out;
	}
	rc = emc_goal_ask(c, t, g, op, args);
	args = NULL;
out:
	json_decref(args);
	free(pks);
	free(blob);
	free(b64);
	return rc;
}

static int emc_goal_put_step(struct emc *c, struct emc_task *t)
{
	struct emc_goal *g = t->data;
	const char *kind = json_string_value(json_object_get(g->cmd, "kind")), *why = NULL;
	int64_t version = json_integer_value(json_object_get(g->cmd, "version"));
	int shared = json_is_true(json_object_get(g->cmd, "shared")) || !strcmp(kind, "group");
	int64_t me = c->session.user_id, written = emc_now(c);
	unsigned char ctx[GOAL_CTX_MAX];
	uint64_t ids[ENVELOPE_RECIPIENTS];
	struct emc_room *r = NULL;
	json_t *doc, *args;
	char *text, *id_b64;
	int64_t ntasks;
	size_t ctx_len;
	int rc, n;

	if (g->ask.asked) {
		rc = emc_goal_ask(c, t, g, EM_OP_NONE, NULL);
		if (rc == EMC_DONE) {
			id_b64 = em_b64_encode(g->id, sizeof(g->id));
			if (id_b64)
				goal_mark(c, g->room, id_b64, version);
			t->result = json_pack("{s:s?, s:I}", "goal_id", id_b64, "version",
			                      (json_int_t)version);
			free(id_b64);
		}
		return rc;
	}
	if ((rc = emc_goal_room(c, t, &r)) != EMC_DONE)
		return rc;
	if (!trust_version_member(&r->active, me) || emc_room_withdrew(r, me))
		return emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_AGREEMENT_UNSIGNED,
		                "you are not a signed mentor or mentee of room %lld's agreement",
		                (long long)r->id);
	if (!strcmp(kind, "personal") && !version_role(&r->active, me, "mentee"))
		return emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_WRONG_ROLE,
		                "only a mentee has personal goals (room %lld)", (long long)r->id);
	n = emc_goal_readers(&r->active, r, !shared, me, ids);
	if (n < 1)
		return emc_fail(t, EMC_EXIT_REFUSED, 0,
		                "room %lld's agreement has no mentor to seal the goal to",
		                (long long)r->id);
	if (!(doc = goal_doc(json_object_get(g->cmd, "doc"), &why)))
		return emc_fail(t, EMC_EXIT_USAGE, 0, "%s", why);
	ntasks = (int64_t)json_array_size(json_object_get(doc, "tasks"));
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	id_b64 = em_b64_encode(g->id, sizeof(g->id));
	if (!text || !id_b64 || strlen(text) > GOAL_DOC_MAX) {
		free(text);
		free(id_b64);
		return emc_fail(t, EMC_EXIT_USAGE, 0, "the goal is too long");
	}
	ctx_len = goal_ctx(ctx, r->id, g->id, version, r->active.version, kind,
	                   !strcmp(kind, "personal") ? me : 0, shared, ntasks, written);
	args = json_pack("{s:I, s:s, s:I, s:s, s:b, s:I, s:I, s:I}", "room_id", (json_int_t)r->id,
	                 "goal_id", id_b64, "version", (json_int_t)version, "kind", kind, "shared",
	                 shared, "tasks", (json_int_t)ntasks, "agreement_version",
	                 (json_int_t)r->active.version, "written_ms", (json_int_t)written);
	rc = emc_record_send(c, t, g, r, GOAL_LABEL, ctx, ctx_len, ids, (size_t)n, text,
	                     version == 1 ? EM_OP_GOAL_CREATE : EM_OP_GOAL_UPDATE, args);
	sodium_memzero(text, strlen(text));
	free(text);
	free(id_b64);
	return rc;
}

static int emc_rating_add_step(struct emc *c, struct emc_task *t)
{
	struct emc_goal *g = t->data;
	const char *stage = json_string_value(json_object_get(g->cmd, "stage"));
	const char *date = json_string_value(json_object_get(g->cmd, "date"));
	const char *note = json_string_value(json_object_get(g->cmd, "note"));
	int64_t value = json_integer_value(json_object_get(g->cmd, "value"));
	int64_t me = c->session.user_id, written = emc_now(c);
	unsigned char ctx[RATING_CTX_MAX];
	uint64_t ids[ENVELOPE_RECIPIENTS];
	struct emc_room *r = NULL;
	char *text, *id_b64;
	size_t ctx_len;
	json_t *doc;
	int rc, n;

	if (g->ask.asked) {
		rc = emc_goal_ask(c, t, g, EM_OP_NONE, NULL);
		if (rc == EMC_DONE) {
			id_b64 = em_b64_encode(g->id, sizeof(g->id));
			t->result = json_pack("{s:s?, s:s, s:s, s:I}", "rating_id", id_b64, "stage",
			                      stage, "rated_on", date, "value", (json_int_t)value);
			free(id_b64);
		}
		return rc;
	}
	if ((rc = emc_goal_room(c, t, &r)) != EMC_DONE)
		return rc;
	if (!version_role(&r->active, me, "mentee") || emc_room_withdrew(r, me))
		return emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_WRONG_ROLE,
		                "only a signed mentee of room %lld rates themselves",
		                (long long)r->id);
	if ((n = emc_goal_readers(&r->active, r, 1, me, ids)) != 2)
		return emc_fail(t, EMC_EXIT_REFUSED, 0,
		                "room %lld's agreement has no mentor to seal the rating to",
		                (long long)r->id);
	doc = note ? json_pack("{s:I, s:s}", "value", (json_int_t)value, "note", note)
	           : json_pack("{s:I}", "value", (json_int_t)value);
	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	id_b64 = em_b64_encode(g->id, sizeof(g->id));
	if (!text || !id_b64) {
		free(text);
		free(id_b64);
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	}
	ctx_len = rating_ctx(ctx, r->id, g->id, r->active.version, stage, date, written);
	rc = emc_record_send(
	    c, t, g, r, RATING_LABEL, ctx, ctx_len, ids, (size_t)n, text, EM_OP_RATING_ADD,
	    json_pack("{s:I, s:s, s:s, s:s, s:I, s:I}", "room_id", (json_int_t)r->id, "rating_id",
	              id_b64, "stage", stage, "rated_on", date, "agreement_version",
	              (json_int_t)r->active.version, "written_ms", (json_int_t)written));
	sodium_memzero(text, strlen(text));
	free(text);
	free(id_b64);
	return rc;
}

/* A rating as the server lists it, opened and checked. New reference. */
static json_t *emc_rating_open(struct emc *c, struct emc_room *r, json_t *x)
{
	const char *id_b64 = json_string_value(json_object_get(x, "rating_id"));
	const char *stage = json_string_value(json_object_get(x, "stage"));
	const char *date = json_string_value(json_object_get(x, "rated_on"));
	int64_t av = json_integer_value(json_object_get(x, "agreement_version"));
	int64_t written = json_integer_value(json_object_get(x, "written_ms"));
	struct emc_record rec = {.label = RATING_LABEL, .narrow = 1};
	unsigned char id[EM_RECORD_ID_BYTES];
	struct trust_version v;
	char why[256] = "";
	struct pin p;
	json_t *out, *value;

	rec.author = rec.owner = json_integer_value(json_object_get(x, "user_id"));
	out = json_pack("{s:s?, s:I, s:s?, s:s?, s:s?}", "rating_id", id_b64, "user_id",
	                (json_int_t)rec.author, "stage", stage, "rated_on", date, "created_at",
	                json_string_value(json_object_get(x, "created_at")));
	if (!out)
		return NULL;
	if (emc_user_keys(c, rec.author, &p) == 0)
		json_object_set_new(out, "username", json_string(p.username));
	if (!id_b64 || em_b64_decode(id_b64, id, sizeof(id)) != (int)sizeof(id) ||
	    !stage_ok(stage) || !date || em_check_date(date) != EM_OK || av < 1 ||
	    av > EM_AGREEMENT_VERSION_MAX)
		snprintf(why, sizeof(why), "the server's record is malformed");
	else if (emc_room_version(c, r, (uint32_t)av, &v, why, sizeof(why)) != EMC_DONE && !why[0])
		snprintf(why, sizeof(why), "version %lld of the agreement is not verified",
		         (long long)av);
	if (why[0]) {
		json_object_set_new(out, "verified", json_false());
		json_object_set_new(out, "error", json_string(why));
		return out;
	}
	rec.blob_b64 = json_string_value(json_object_get(x, "blob"));
	rec.v = &v;
	rec.ctx_len = rating_ctx(rec.ctx, r->id, id, av, stage, date, written);
	emc_record_open(c, &rec, out);
	value = json_object_get(json_object_get(out, "doc"), "value");
	if (json_object_get(out, "doc")) {
		if (!json_is_integer(value) || json_integer_value(value) < 4 ||
		    json_integer_value(value) > 10) {
			json_object_set_new(out, "verified", json_false());
			json_object_set_new(out, "error", json_string("its value is not 4 to 10"));
		} else {
			json_object_set_new(out, "value", json_incref(value));
			if (json_is_string(json_object_get(json_object_get(out, "doc"), "note")))
				json_object_set(
				    out, "note",
				    json_object_get(json_object_get(out, "doc"), "note"));
		}
		json_object_del(out, "doc");
	}
	return out;
}

static int emc_rating_list_step(struct emc *c, struct emc_task *t)
{
	struct emc_goal *g = t->data;
	struct emc_room *r = NULL;
	json_t *records, *list, *x;
	size_t i;
	int rc;

	if ((rc = emc_goal_room(c, t, &r)) != EMC_DONE)
		return rc;
	rc = emc_goal_ask(c, t, g, EM_OP_RATING_LIST,
	                  json_pack("{s:I}", "room_id", (json_int_t)g->room));
	if (rc != EMC_DONE)
		return rc;
	records = json_object_get(g->ask.reply.result, "ratings");
	if (!json_is_array(records) || json_array_size(records) > GOAL_RECORDS)
		return emc_fail(t, EMC_EXIT_NET, 0, "the server's answer is malformed");
	if ((rc = emc_goal_versions(c, r, records)) != EMC_DONE)
		return rc;
	list = json_array();
	json_array_foreach(records, i, x)
	{
		json_array_append_new(list, emc_rating_open(c, r, x));
	}
	t->result = json_pack("{s:I, s:o}", "room_id", (json_int_t)g->room, "ratings", list);
	return EMC_DONE;
}

static int64_t emc_goal_start(struct emc *c, enum emc_goal_kind kind, json_t *cmd)
{
	static const char *const names[] = {"goal.put", "goal.list", "goal.history", "rating.add",
	                                    "rating.list"};
	static const emc_step_fn steps[] = {emc_goal_put_step, emc_goal_read_step,
	                                    emc_goal_read_step, emc_rating_add_step,
	                                    emc_rating_list_step};
	int64_t room = json_integer_value(json_object_get(cmd, "room"));
	const char *id = json_string_value(json_object_get(cmd, "goal_id"));
	struct emc_goal *g;
	struct emc_task *t;

	if (room < 1)
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->kind = kind;
	g->room = room;
	g->cmd = json_incref(cmd);
	if (id) {
		if (em_b64_decode(id, g->id, sizeof(g->id)) != (int)sizeof(g->id))
			goto inval;
		g->have_id = 1;
	} else if (kind == EMC_GOAL_PUT || kind == EMC_RATING_ADD) {
		/* a new record's id, made here; never one whose base64url starts with '-'
		 * (6 bits 62), which a command line would take for an option */
		do
			randombytes_buf(g->id, sizeof(g->id));
		while ((g->id[0] >> 2) == 62);
		g->have_id = 1;
	}
	if (kind == EMC_GOAL_HISTORY && !g->have_id)
		goto inval;
	if (kind == EMC_GOAL_PUT) {
		const char *k = json_string_value(json_object_get(cmd, "kind"));
		int64_t version = json_integer_value(json_object_get(cmd, "version"));

		if (!k || (strcmp(k, "personal") && strcmp(k, "group")) || version < 1 ||
		    version > EM_GOAL_VERSION_MAX || (version == 1) == (id != NULL))
			goto inval;
	}
	if (kind == EMC_RATING_ADD) {
		const char *stage = json_string_value(json_object_get(cmd, "stage"));
		const char *date = json_string_value(json_object_get(cmd, "date"));
		const char *note = json_string_value(json_object_get(cmd, "note"));
		json_t *value = json_object_get(cmd, "value");

		/* the course's scale: each mentee places themselves from 4 to 10 */
		if (!stage_ok(stage) || !date || em_check_date(date) != EM_OK ||
		    !json_is_integer(value) || json_integer_value(value) < 4 ||
		    json_integer_value(value) > 10 || (note && strlen(note) > RATING_NOTE_MAX))
			goto inval;
	}
	t = emc_task_new(c, names[kind], steps[kind], emc_goal_free, g);
	if (!t) {
		emc_goal_free(&(struct emc_task){.data = g});
		return -ENOMEM;
	}
	t->ask_slot = emc_goal_slot;
	return t->id;
inval:
	json_decref(g->cmd);
	free(g);
	return -EINVAL;
}

/* {"cmd":"goal.put","room","goal_id"? (absent: a new goal, version 1),"version","kind",
 *  "shared"?,"doc":{"title","description"?,"status"?,"tasks"?:[{"title","status"?}]}} */
int64_t emc_cmd_goal_put(struct emc *c, json_t *cmd)
{
	return emc_goal_start(c, EMC_GOAL_PUT, cmd);
}

/* {"cmd":"goal.list","room"} */
int64_t emc_cmd_goal_list(struct emc *c, json_t *cmd)
{
	return emc_goal_start(c, EMC_GOAL_LIST, cmd);
}

/* {"cmd":"goal.history","room","goal_id"} */
int64_t emc_cmd_goal_history(struct emc *c, json_t *cmd)
{
	return emc_goal_start(c, EMC_GOAL_HISTORY, cmd);
}

/* {"cmd":"rating.add","room","stage","date","value" (4-10),"note"?} */
int64_t emc_cmd_rating_add(struct emc *c, json_t *cmd)
{
	return emc_goal_start(c, EMC_RATING_ADD, cmd);
}

/* {"cmd":"rating.list","room"} */
int64_t emc_cmd_rating_list(struct emc *c, json_t *cmd)
{
	return emc_goal_start(c, EMC_RATING_LIST, cmd);
}
