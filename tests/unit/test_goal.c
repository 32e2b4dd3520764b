/*
 * test_goal.c - goals and ratings against a lying server (docs/PROTOCOL.md
 * section 10, docs/SECURITY.md "Goals and ratings"): first the sealed-record
 * envelope alone (core/envelope.c), then the client core's goal commands
 * (core/goal.c) through emc.h with a scripted server in fuzz_client's world
 * (tests/fuzz/client/fixture.h: we are alice, a mentee of room 7 whose
 * agreement version 1 — alice mentee, bob mentor — is verified; carol and
 * dave pinned but not parties).
 *
 * What a server can try and what must happen: add a reader to a record (the
 * signature breaks: nobody reads it as genuine, and the added reader holds
 * no key); swap the mentor (the writer seals to the mentor of the verified
 * agreement, whatever room.show says; a record sealed to anyone else than
 * the mentee and that mentor is refused by readers); move a record to another
 * room, or change its version, kind or sharing (the signature breaks); serve
 * an older version as the latest (reported against the version this device
 * saw before).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "client/fixture.h"
#include "client/mem_storage.h"
#include "core.h"
#include "emc.h"
#include "world.h"
#include "envelope.h"

#define NOW_MS (FX_WRITTEN_MS + 60 * 1000)
#define LABEL  "ementor goal v1"

/* ---- the envelope alone ---- */

static const char DOC[] = "{\"title\":\"read more\",\"status\":\"open\",\"tasks\":[]}";

/* alice seals DOC to ids under ctx. Who frees: caller. */
static unsigned char *seal_as(char author, int64_t author_id, const unsigned char *ctx,
                              size_t ctx_len, const uint64_t *ids, const char *who, size_t n,
                              size_t *len)
{
	unsigned char pks[ENVELOPE_RECIPIENTS][32], *blob = NULL;
	struct em_keys k, a;

	for (size_t i = 0; i < n; i++) {
		fx_keys(who[i], &k);
		memcpy(pks[i], k.box_pk, 32);
	}
	fx_keys(author, &a);
	assert_int_equal(envelope_seal(LABEL, ctx, ctx_len, (uint64_t)author_id, ids,
	                               (const unsigned char(*)[32])pks, n,
	                               (const unsigned char *)DOC, strlen(DOC), a.sign_sk, &blob,
	                               len),
	                 ENVELOPE_OK);
	em_keys_wipe(&k);
	em_keys_wipe(&a);
	return blob;
}

/* Opens blob as `who` (id me) from alice; the result, doc checked when ok. */
static int open_as(char who, int64_t me, const unsigned char *ctx, size_t ctx_len,
                   const unsigned char *blob, size_t len)
{
	struct em_keys k, alice;
	uint64_t ids[ENVELOPE_RECIPIENTS];
	unsigned char *doc = NULL;
	size_t n, doc_len;
	int rc;

	fx_keys(who, &k);
	fx_keys('a', &alice);
	rc = envelope_open(LABEL, ctx, ctx_len, FX_ALICE, alice.sign_pk, (uint64_t)me, k.box_pk,
	                   k.box_sk, blob, len, ids, &n, &doc, &doc_len);
	if (rc == ENVELOPE_OK) {
		assert_int_equal(doc_len, strlen(DOC));
		assert_memory_equal(doc, DOC, doc_len);
	}
	free(doc);
	em_keys_wipe(&k);
	em_keys_wipe(&alice);
	return rc;
}

static const unsigned char CTX7[] = "room 7, goal X, version 2";
static const unsigned char CTX8[] = "room 8, goal X, version 2";

static void test_envelope_readers(void **state)
{
	const uint64_t ids[] = {FX_ALICE, FX_BOB};
	uint64_t got[ENVELOPE_RECIPIENTS];
	size_t len, n;
	unsigned char *blob = seal_as('a', FX_ALICE, CTX7, sizeof(CTX7), ids, "ab", 2, &len);

	(void)state;
	assert_int_equal(open_as('a', FX_ALICE, CTX7, sizeof(CTX7), blob, len), ENVELOPE_OK);
	assert_int_equal(open_as('b', FX_BOB, CTX7, sizeof(CTX7), blob, len), ENVELOPE_OK);
	/* carol is not a reader, and holds nothing that opens it */
	assert_int_equal(open_as('c', FX_CAROL, CTX7, sizeof(CTX7), blob, len),
	                 ENVELOPE_NOT_RECIPIENT);
	/* carol pretending to be bob (the server hands her bob's slot) cannot open bob's key */
	assert_int_equal(open_as('c', FX_BOB, CTX7, sizeof(CTX7), blob, len), ENVELOPE_UNREADABLE);
	assert_int_equal(envelope_recipients(blob, len, got, &n), ENVELOPE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(got[0], FX_ALICE);
	assert_int_equal(got[1], FX_BOB);
	free(blob);
}

/* The server adds carol: her id and a key it sealed to her spliced into the body. */
static void test_envelope_server_adds_reader(void **state)
{
	const uint64_t ids[] = {FX_ALICE, FX_BOB};
	unsigned char *blob, *forged, key[32], *p;
	size_t len, head = 5 + 8 * 2, flen;
	struct em_keys carol;

	(void)state;
	blob = seal_as('a', FX_ALICE, CTX7, sizeof(CTX7), ids, "ab", 2, &len);
	forged = malloc(len + 8 + ENVELOPE_SEALED_BYTES);
	assert_non_null(forged);
	fx_keys('c', &carol);
	randombytes_buf(key, sizeof(key));
	p = forged;
	*p++ = ENVELOPE_FORMAT;
	p = envelope_put_u32(p, 3);
	memcpy(p, blob + 5, 16);
	p = envelope_put_u64(p + 16, FX_CAROL);
	memcpy(p, blob + head, 2 * ENVELOPE_SEALED_BYTES);
	p += 2 * ENVELOPE_SEALED_BYTES;
	assert_int_equal(crypto_box_seal(p, key, sizeof(key), carol.box_pk), 0);
	p += ENVELOPE_SEALED_BYTES;
	memcpy(p, blob + head + 2 * ENVELOPE_SEALED_BYTES, len - head - 2 * ENVELOPE_SEALED_BYTES);
	flen = len + 8 + ENVELOPE_SEALED_BYTES;
	/* alice's signature no longer covers the body: nobody takes it as hers */
	assert_int_equal(open_as('a', FX_ALICE, CTX7, sizeof(CTX7), forged, flen),
	                 ENVELOPE_BAD_SIGNATURE);
	assert_int_equal(open_as('c', FX_CAROL, CTX7, sizeof(CTX7), forged, flen),
	                 ENVELOPE_BAD_SIGNATURE);
	em_keys_wipe(&carol);
	free(forged);
	free(blob);
}

static void test_envelope_bound_to_context(void **state)
{
	const uint64_t ids[] = {FX_ALICE, FX_BOB};
	uint64_t got[ENVELOPE_RECIPIENTS];
	unsigned char *blob, *doc = NULL, swapped[ENVELOPE_SEALED_BYTES];
	size_t len, n, doc_len;
	struct em_keys bob;

	(void)state;
	blob = seal_as('a', FX_ALICE, CTX7, sizeof(CTX7), ids, "ab", 2, &len);
	/* moved to room 8 (or any other id, version, kind, sharing: all in the context) */
	assert_int_equal(open_as('b', FX_BOB, CTX8, sizeof(CTX8), blob, len),
	                 ENVELOPE_BAD_SIGNATURE);
	/* another purpose's label */
	fx_keys('b', &bob);
	{
		struct em_keys alice;

		fx_keys('a', &alice);
		assert_int_equal(envelope_open("ementor rating v1", CTX7, sizeof(CTX7), FX_ALICE,
		                               alice.sign_pk, FX_BOB, bob.box_pk, bob.box_sk, blob,
		                               len, got, &n, &doc, &doc_len),
		                 ENVELOPE_BAD_SIGNATURE);
		/* named as bob's: checked with bob's key, it fails */
		assert_int_equal(envelope_open(LABEL, CTX7, sizeof(CTX7), FX_BOB, bob.sign_pk,
		                               FX_BOB, bob.box_pk, bob.box_sk, blob, len, got, &n,
		                               &doc, &doc_len),
		                 ENVELOPE_BAD_SIGNATURE);
		em_keys_wipe(&alice);
	}
	/* the sealed keys swapped between readers */
	memcpy(swapped, blob + 21, ENVELOPE_SEALED_BYTES);
	memcpy(blob + 21, blob + 21 + ENVELOPE_SEALED_BYTES, ENVELOPE_SEALED_BYTES);
	memcpy(blob + 21 + ENVELOPE_SEALED_BYTES, swapped, ENVELOPE_SEALED_BYTES);
	assert_int_equal(open_as('b', FX_BOB, CTX7, sizeof(CTX7), blob, len),
	                 ENVELOPE_BAD_SIGNATURE);
	memcpy(blob + 21 + ENVELOPE_SEALED_BYTES, blob + 21, ENVELOPE_SEALED_BYTES);
	memcpy(blob + 21, swapped, ENVELOPE_SEALED_BYTES);
	assert_int_equal(open_as('b', FX_BOB, CTX7, sizeof(CTX7), blob, len), ENVELOPE_OK);
	/* one bit of the ciphertext, and a truncated record */
	blob[len - 70] ^= 1;
	assert_int_equal(open_as('b', FX_BOB, CTX7, sizeof(CTX7), blob, len),
	                 ENVELOPE_BAD_SIGNATURE);
	assert_int_equal(open_as('b', FX_BOB, CTX7, sizeof(CTX7), blob, len - 1),
	                 ENVELOPE_MALFORMED);
	assert_int_equal(open_as('b', FX_BOB, CTX7, sizeof(CTX7), blob, 20), ENVELOPE_MALFORMED);
	em_keys_wipe(&bob);
	free(blob);
}

/* The recipient rule of core/goal.c on a verified version. */
static void test_goal_readers_rule(void **state)
{
	struct trust_version v;
	uint64_t ids[ENVELOPE_RECIPIENTS];
	const uint64_t swapped[] = {FX_ALICE, FX_CAROL}, added[] = {FX_ALICE, FX_BOB, FX_CAROL},
	               right[] = {FX_ALICE, FX_BOB}, outsider[] = {FX_ALICE, FX_BOB, FX_DAVE};
	char why[256];

	(void)state;
	memset(&v, 0, sizeof(v));
	v.version = 3;
	v.n = 4;
	v.parties[0].user_id = FX_ALICE;
	snprintf(v.parties[0].role, sizeof(v.parties[0].role), "mentee");
	v.parties[1].user_id = FX_BOB;
	snprintf(v.parties[1].role, sizeof(v.parties[1].role), "mentor");
	v.parties[2].user_id = FX_CAROL;
	snprintf(v.parties[2].role, sizeof(v.parties[2].role), "mentee");
	v.parties[3].user_id = FX_MONA;
	snprintf(v.parties[3].role, sizeof(v.parties[3].role), "manager");
	/* narrow: the mentee and the mentor; wide: mentor and mentees, never the manager */
	assert_int_equal(emc_goal_readers(&v, NULL, 1, FX_ALICE, ids), 2);
	assert_int_equal(ids[0], FX_ALICE);
	assert_int_equal(ids[1], FX_BOB);
	assert_int_equal(emc_goal_readers(&v, NULL, 0, FX_ALICE, ids), 3);
	assert_int_equal(ids[2], FX_CAROL);
	assert_int_equal(emc_goal_readers(&v, NULL, 1, FX_BOB, ids), -1); /* the mentor's own */
	assert_true(emc_goal_readers_ok(&v, 1, FX_ALICE, FX_ALICE, right, 2, why, sizeof(why)));
	assert_false(emc_goal_readers_ok(&v, 1, FX_ALICE, FX_ALICE, swapped, 2, why, sizeof(why)));
	assert_non_null(strstr(why, "mentor of version 3"));
	assert_false(emc_goal_readers_ok(&v, 1, FX_ALICE, FX_ALICE, added, 3, why, sizeof(why)));
	assert_true(emc_goal_readers_ok(&v, 0, 0, FX_BOB, added, 3, why, sizeof(why)));
	assert_false(emc_goal_readers_ok(&v, 0, 0, FX_BOB, outsider, 3, why, sizeof(why)));
	assert_non_null(strstr(why, "not a mentor or mentee"));
	assert_false(emc_goal_readers_ok(&v, 0, 0, FX_DAVE, right, 2, why, sizeof(why)));
}

/* ---- the core against a scripted server ---- */

static struct world *world_new(void)
{
	const char *now = "2026-12-01T09:00:00Z";
	const struct trust_programme required = {FX_MONA, 1};
	struct world *w = calloc(1, sizeof(*w));
	struct trust_version v;
	struct em_keys a, k;
	json_t *pins = json_object(), *t = json_object();

	assert_non_null(w);
	fx_keys('a', &a);
	world_put(w, "session.json",
	          json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "server", "wss://localhost:1",
	                    "username", "alice", "user_id", (json_int_t)FX_ALICE, "role", "mentee",
	                    "token", "token", "expires_at", "2027-01-01T00:00:00Z"));
	world_put(w, "keys.json",
	          json_pack("{s:s, s:o, s:o, s:o, s:o}", "username", "alice", "sign_pk",
	                    fx_b64(a.sign_pk, 32), "sign_sk", fx_b64(a.sign_sk, 64), "box_pk",
	                    fx_b64(a.box_pk, 32), "box_sk", fx_b64(a.box_sk, 32)));
	memset(&v, 0, sizeof(v));
	v.version = 1;
	v.n = 2;
	v.parties[0].user_id = FX_ALICE;
	snprintf(v.parties[0].role, sizeof(v.parties[0].role), "mentee");
	memcpy(v.parties[0].sign_pk, a.sign_pk, 32);
	memcpy(v.parties[0].box_pk, a.box_pk, 32);
	fx_keys('b', &k);
	v.parties[1].user_id = FX_BOB;
	snprintf(v.parties[1].role, sizeof(v.parties[1].role), "mentor");
	memcpy(v.parties[1].sign_pk, k.sign_pk, 32);
	memcpy(v.parties[1].box_pk, k.box_pk, 32);
	pins_observe(pins, FX_BOB, "bob", k.sign_pk, k.box_pk, now);
	fx_keys('c', &k);
	pins_observe(pins, FX_CAROL, "carol", k.sign_pk, k.box_pk, now);
	fx_keys('d', &k);
	pins_observe(pins, FX_DAVE, "dave", k.sign_pk, k.box_pk, now);
	fx_keys('n', &k);
	pins_observe(pins, FX_MONA, "mona", k.sign_pk, k.box_pk, now);
	em_keys_wipe(&k);
	em_keys_wipe(&a);
	world_put(w, STATE_PINS_FILE, pins);
	assert_int_equal(trust_programme_pin(t, FX_PROGRAMME, &required), TRUST_PIN_NEW);
	assert_int_equal(trust_room_pin(t, FX_ROOM, FX_PROGRAMME), TRUST_PIN_NEW);
	assert_int_equal(trust_epoch_raise(t, FX_ROOM, 1), 1);
	assert_int_equal(trust_version_put(t, FX_ROOM, &v, 1), 1);
	world_put(w, STATE_TRUST_FILE, t);
	w->now = NOW_MS;
	world_start(w);
	return w;
}

static json_t *agreement7(void)
{
	json_t *reply = json_load_file(
	    EM_SOURCE_DIR "/tests/fuzz/corpus/client/re-agreement-show.json", 0, NULL);
	json_t *res = json_incref(json_object_get(reply, "ok"));

	assert_non_null(res);
	json_decref(reply);
	return res;
}

static int64_t command(struct world *w, const char *json)
{
	int64_t id = emc_command(w->c, json, w->now);

	assert_true(id > 0);
	drain(w);
	return id;
}

/* A goal record as the server lists it, sealed by `author` to `who` (ids) under the context
 * the given fields make (room_ctx: the room in the signed context). */
struct rec {
	int64_t room_ctx, room_listed, version, owner, author;
	const char *kind;
	int shared, shared_listed;
	unsigned char id[16];
	const char *title;
};

static json_t *goal_record(const struct rec *g, const uint64_t *ids, const char *who, size_t n)
{
	unsigned char ctx[128], *p = ctx, pks[ENVELOPE_RECIPIENTS][32], *blob = NULL;
	char doc[256];
	struct em_keys k, a;
	size_t len;
	json_t *j;

	p = envelope_put_u64(p, (uint64_t)g->room_ctx);
	memcpy(p, g->id, 16);
	p = envelope_put_u32(p + 16, (uint32_t)g->version);
	p = envelope_put_u32(p, 1);
	p = envelope_put_lp(p, g->kind, strlen(g->kind));
	p = envelope_put_u64(p, (uint64_t)g->owner);
	*p++ = (unsigned char)g->shared;
	p = envelope_put_u32(p, 0);
	p = envelope_put_u64(p, FX_WRITTEN_MS);
	snprintf(doc, sizeof(doc),
	         "{\"title\":\"%s\",\"description\":\"\",\"status\":\"open\","
	         "\"tasks\":[]}",
	         g->title);
	for (size_t i = 0; i < n; i++) {
		fx_keys(who[i], &k);
		memcpy(pks[i], k.box_pk, 32);
	}
	fx_keys(g->author == FX_BOB ? 'b' : 'a', &a);
	assert_int_equal(envelope_seal(LABEL, ctx, (size_t)(p - ctx), (uint64_t)g->author, ids,
	                               (const unsigned char(*)[32])pks, n,
	                               (const unsigned char *)doc, strlen(doc), a.sign_sk, &blob,
	                               &len),
	                 ENVELOPE_OK);
	j = json_pack("{s:I, s:o, s:I, s:s, s:I, s:I, s:b, s:I, s:I, s:I, s:o, s:s}", "room_id",
	              (json_int_t)g->room_listed, "goal_id", fx_b64(g->id, 16), "version",
	              (json_int_t)g->version, "kind", g->kind, "owner_id", (json_int_t)g->owner,
	              "author_id", (json_int_t)g->author, "shared", g->shared_listed,
	              "agreement_version", (json_int_t)1, "tasks", (json_int_t)0, "written_ms",
	              (json_int_t)FX_WRITTEN_MS, "blob", fx_b64(blob, len), "created_at",
	              FX_SENT_AT);
	free(blob);
	em_keys_wipe(&k);
	em_keys_wipe(&a);
	return j;
}

static json_t *opened(json_t *task, const char *title_or_id)
{
	json_t *g;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(task, "result"), "goals"), i, g)
	{
		const char *t =
		    json_string_value(json_object_get(json_object_get(g, "doc"), "title"));
		const char *id = json_string_value(json_object_get(g, "goal_id"));

		if ((t && !strcmp(t, title_or_id)) || (id && !strcmp(id, title_or_id)))
			return g;
	}
	return NULL;
}

/*
 * goal.list: a genuine group goal of bob reads; a record sealed to a
 * swapped mentor, one moved from room 8, one whose sharing the server
 * changed, one with an added reader are each "verified": false with no text;
 * then the server serves version 1 of the group goal as its latest.
 */
static void test_core_goal_list_lies(void **state)
{
	const uint64_t ab[] = {FX_ALICE, FX_BOB}, ad[] = {FX_ALICE, FX_DAVE};
	struct rec group = {FX_ROOM, FX_ROOM, 2, 0, FX_BOB, "group", 1, 1, {1}, "genuine group"};
	struct rec swapped = {FX_ROOM,    FX_ROOM, 1, FX_ALICE, FX_ALICE,
	                      "personal", 0,       0, {2},      "sealed to dave"};
	struct rec moved = {FX_ROOM_FREE, FX_ROOM, 1, 0, FX_BOB, "group", 1, 1, {3}, "from room 8"};
	struct rec unshared = {FX_ROOM,    FX_ROOM, 1, FX_ALICE, FX_ALICE,
	                       "personal", 0,       1, {4},      "called shared"};
	struct world *w = world_new();
	json_t *end, *g, *list;
	char *gid;
	int64_t t;

	(void)state;
	t = command(w, "{\"cmd\":\"goal.list\",\"room\":7}");
	answer(w, "room.show", fx_room_show(FX_ROOM));
	answer(w, "agreement.show", agreement7());
	list = json_pack("[o, o, o, o]", goal_record(&group, ab, "ab", 2),
	                 goal_record(&swapped, ad, "ad", 2), goal_record(&moved, ab, "ab", 2),
	                 goal_record(&unshared, ab, "ab", 2));
	answer(w, "goal.list", json_pack("{s:o}", "goals", list));
	end = task_end(w, t);
	assert_non_null(end);
	assert_true(json_is_true(json_object_get(end, "ok")));
	g = opened(end, "genuine group");
	assert_non_null(g);
	assert_true(json_is_true(json_object_get(g, "verified")));
	assert_null(json_object_get(g, "warning"));
	gid = strdup(json_string_value(json_object_get(g, "goal_id")));
	for (unsigned char k = 2; k <= 4; k++) {
		unsigned char id[16] = {k};
		json_t *b = fx_b64(id, 16);

		g = opened(end, json_string_value(b));
		json_decref(b);
		assert_non_null(g);
		assert_false(json_is_true(json_object_get(g, "verified")));
		assert_null(json_object_get(g, "doc")); /* no text shown */
		if (k == 2)
			assert_non_null(strstr(json_string_value(json_object_get(g, "error")),
			                       "other readers than its mentee and the mentor"));
		else
			assert_non_null(
			    strstr(json_string_value(json_object_get(g, "error")), "signature"));
	}

	/* the next run: the server serves version 1 of the group goal as the latest */
	world_reopen(w);
	group.version = 1;
	t = command(w, "{\"cmd\":\"goal.list\",\"room\":7}");
	answer(w, "room.show", fx_room_show(FX_ROOM));
	answer(w, "agreement.show", agreement7());
	answer(w, "goal.list", json_pack("{s:[o]}", "goals", goal_record(&group, ab, "ab", 2)));
	end = task_end(w, t);
	g = opened(end, gid);
	assert_non_null(g);
	assert_true(json_is_true(json_object_get(g, "verified")));
	assert_non_null(
	    strstr(json_string_value(json_object_get(g, "warning")) ?: "", "has seen version 2"));
	free(gid);
	world_free(w);
}

/*
 * goal.put and rating.add: room.show names dave as the room's mentor (and
 * bob is gone from it); the core seals to the mentor of the agreement it
 * verified, bob, and to alice — never to dave.
 */
static void test_core_put_seals_to_agreement(void **state)
{
	struct world *w = world_new();
	struct em_keys dave;
	json_t *show, *members, *f;
	uint64_t ids[ENVELOPE_RECIPIENTS];
	unsigned char *blob = malloc(EM_RECORD_BLOB_MAX);
	const char *ops[] = {"goal.create", "rating.add"};
	const char *cmds[] = {
	    "{\"cmd\":\"goal.put\",\"room\":7,\"version\":1,\"kind\":\"personal\","
	    "\"doc\":{\"title\":\"mine\"}}",
	    "{\"cmd\":\"rating.add\",\"room\":7,\"stage\":\"start\",\"date\":\"2027-01-10\","
	    "\"value\":6}"};
	size_t n;
	int len;

	(void)state;
	assert_non_null(blob);
	fx_keys('d', &dave);
	for (int k = 0; k < 2; k++) {
		int64_t t = command(w, cmds[k]);

		if (k == 0) {
			show = fx_room_show(FX_ROOM);
			members = json_object_get(json_object_get(show, "room"), "members");
			json_array_set_new(members, 1, fx_user(FX_DAVE, "dave", &dave, 1));
			json_object_set_new(json_array_get(members, 1), "role",
			                    json_string("mentor"));
			answer(w, "room.show", show);
			answer(w, "agreement.show", agreement7());
		}
		f = frame_of(w, ops[k]);
		assert_non_null(f);
		len = em_b64_decode(
		    json_string_value(json_object_get(json_object_get(f, "args"), "blob")), blob,
		    EM_RECORD_BLOB_MAX);
		assert_true(len > 0);
		assert_int_equal(envelope_recipients(blob, (size_t)len, ids, &n), ENVELOPE_OK);
		assert_int_equal(n, 2);
		assert_int_equal(ids[0], FX_ALICE);
		assert_int_equal(ids[1], FX_BOB);
		answer(w, ops[k],
		       k ? json_pack("{s:s}", "stage", "start")
		         : json_pack("{s:I}", "version", (json_int_t)1));
		assert_true(json_is_true(json_object_get(task_end(w, t), "ok")));
	}
	/* a value outside the course's 4-10 scale never starts */
	assert_true(emc_command(w->c,
	                        "{\"cmd\":\"rating.add\",\"room\":7,\"stage\":\"start\","
	                        "\"date\":\"2027-01-10\",\"value\":11}",
	                        w->now) < 0);
	em_keys_wipe(&dave);
	free(blob);
	world_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_envelope_readers),
	    cmocka_unit_test(test_envelope_server_adds_reader),
	    cmocka_unit_test(test_envelope_bound_to_context),
	    cmocka_unit_test(test_goal_readers_rule),
	    cmocka_unit_test(test_core_goal_list_lies),
	    cmocka_unit_test(test_core_put_seals_to_agreement),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
