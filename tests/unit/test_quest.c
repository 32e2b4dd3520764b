/*
 * test_quest.c - the monitoring questionnaires and the programme's managers
 * as readers (docs/PROTOCOL.md section 11, docs/SECURITY.md "Records for
 * the programme's managers"): first the pure logic (core/quest.c: the
 * built-in defaults, parsing, answer checks, aggregates, the comparison;
 * core/managers.c: the reader rule), then the client core's
 * questionnaire.answer against a scripted lying server in fuzz_client's
 * world (tests/fuzz/client/fixture.h: we are alice, a mentee of room 7;
 * bob its mentor, mona the manager, dave pinned but no party).
 *
 * What a server can try and what must happen: name dave as a manager (in
 * room.show, and in questionnaire.get's answer) — the answer is sealed to
 * alice and mona, the manager party of the agreement alice verified, and to
 * nobody else; hand over a questionnaire version signed by dave — refused;
 * an agreement with no manager party — nothing is sealed; reorder the
 * consent ledger, or slip in a grant it signed itself — progress.share
 * follows alice's own signed records and shares nothing.
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
#include "quest.h"

#define NOW_MS (FX_WRITTEN_MS + 60 * 1000)

/* ---- parsing ---- */

static void test_defaults_parse(void **state)
{
	const char *stages[] = {"initial", "final"}, *langs[] = {"en", "pl"}, *s, *l;
	unsigned char h[QUEST_HASH_BYTES];
	char why[256];

	(void)state;
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < 2; k++) {
			json_t *q =
			    quest_parse(quest_default(stages[i], langs[k]), why, sizeof(why));

			assert_non_null(q);
			/* the course's 4-10 scale is in both, so the comparison has it */
			assert_non_null(strstr(quest_default(stages[i], langs[k]), "\"position\""));
			json_decref(q);
			quest_hash(quest_default(stages[i], langs[k]), h);
			assert_true(quest_default_of(h, &s, &l));
			assert_string_equal(s, stages[i]);
			assert_string_equal(l, langs[k]);
		}
	/* anything but pl is English */
	assert_string_equal(quest_default("final", "de"), quest_default("final", "en"));
	assert_non_null(strstr(quest_default("initial", "en"), "strengths"));
	assert_non_null(strstr(quest_default("final", "pl"), "Końcowa"));
	h[0] ^= 1;
	assert_false(quest_default_of(h, &s, &l));
}

static void test_parse_refuses(void **state)
{
	static const struct {
		const char *doc, *why;
	} bad[] = {
	    {"[]", "JSON object"},
	    {"{\"questions\":[{\"id\":\"a\",\"kind\":\"text\",\"text\":\"?\"}]}", "title"},
	    {"{\"title\":\"t\",\"questions\":[]}", "1 to 40"},
	    {"{\"title\":\"t\",\"questions\":[{\"id\":\"A\",\"kind\":\"text\",\"text\":\"?\"}]}",
	     "id"},
	    {"{\"title\":\"t\",\"questions\":[{\"id\":\"a\",\"kind\":\"text\",\"text\":\"?\"},"
	     "{\"id\":\"a\",\"kind\":\"text\",\"text\":\"!\"}]}",
	     "same id"},
	    {"{\"title\":\"t\",\"questions\":[{\"id\":\"a\",\"kind\":\"scale\",\"text\":\"?\","
	     "\"min\":5,\"max\":5}]}",
	     "scale"},
	    {"{\"title\":\"t\",\"questions\":[{\"id\":\"a\",\"kind\":\"scale\",\"text\":\"?\","
	     "\"min\":0,\"max\":50}]}",
	     "scale"},
	    {"{\"title\":\"t\",\"questions\":[{\"id\":\"a\",\"kind\":\"choice\",\"text\":\"?\","
	     "\"options\":[\"x\"]}]}",
	     "2 to 12"},
	    {"{\"title\":\"t\",\"questions\":[{\"id\":\"a\",\"kind\":\"choice\",\"text\":\"?\","
	     "\"options\":[\"x\",\"x\"]}]}",
	     "the same"},
	    {"{\"title\":\"t\",\"questions\":[{\"id\":\"a\",\"kind\":\"essay\",\"text\":\"?\"}]}",
	     "kind"},
	    {"{\"title\":\"t\",\"questions\":[{\"id\":\"a\",\"kind\":\"text\",\"text\":\"\"}]}",
	     "text"},
	    {"{\"title\":\"t\",\"title\":\"u\",\"questions\":[]}", "JSON object"},
	};
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = 0;
		assert_null(quest_parse(bad[i].doc, why, sizeof(why)));
		if (!strstr(why, bad[i].why))
			fail_msg("doc %zu: '%s' does not say '%s'", i, why, bad[i].why);
	}
}

static const char QUEST[] =
    "{\"title\":\"t\",\"questions\":["
    "{\"id\":\"pos\",\"kind\":\"scale\",\"text\":\"where?\",\"min\":4,\"max\":10},"
    "{\"id\":\"way\",\"kind\":\"choice\",\"text\":\"how?\",\"options\":[\"online\",\"both\"]},"
    "{\"id\":\"why\",\"kind\":\"text\",\"text\":\"why?\"}]}";

static void test_answers_ok(void **state)
{
	static const struct {
		const char *answers;
		int ok;
		const char *why;
	} cases[] = {
	    {"{\"pos\":4,\"way\":\"both\",\"why\":\"because\"}", 1, ""},
	    {"{\"pos\":10}", 1, ""},
	    {"{}", 0, "no answers"},
	    {"{\"pos\":3}", 0, "from 4 to 10"},
	    {"{\"pos\":11}", 0, "from 4 to 10"},
	    {"{\"pos\":\"7\"}", 0, "from 4 to 10"},
	    {"{\"way\":\"by post\"}", 0, "options"},
	    {"{\"why\":\"\"}", 0, "text"},
	    {"{\"why\":5}", 0, "text"},
	    {"{\"who\":\"me\"}", 0, "no question 'who'"},
	};
	json_t *q;
	char why[256];

	(void)state;
	q = quest_parse(QUEST, why, sizeof(why));
	assert_non_null(q);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *a = json_loads(cases[i].answers, 0, NULL);

		why[0] = 0;
		assert_int_equal(quest_answers_ok(q, a, why, sizeof(why)), cases[i].ok);
		if (!cases[i].ok && !strstr(why, cases[i].why))
			fail_msg("case %zu: '%s' does not say '%s'", i, why, cases[i].why);
		json_decref(a);
	}
	json_decref(q);
}

/* ---- aggregates and the comparison ---- */

static void test_aggregate(void **state)
{
	json_t *q, *answers, *agg, *pos, *way, *why_q;
	char why[256];

	(void)state;
	q = quest_parse(QUEST, why, sizeof(why));
	/* three mentees; one answer out of bounds (a hostile writer) is left out, not counted */
	answers = json_loads("["
	                     "{\"username\":\"lea\",\"answers\":{\"pos\":5,\"way\":\"online\","
	                     "\"why\":\"a plan\"}},"
	                     "{\"username\":\"ola\",\"answers\":{\"pos\":8,\"way\":\"online\"}},"
	                     "{\"username\":\"kim\",\"answers\":{\"pos\":12,\"way\":\"both\","
	                     "\"why\":\"peers\"}}]",
	                     0, NULL);
	agg = quest_aggregate(q, answers);
	assert_int_equal(json_integer_value(json_object_get(agg, "respondents")), 3);
	pos = json_array_get(json_object_get(agg, "questions"), 0);
	way = json_array_get(json_object_get(agg, "questions"), 1);
	why_q = json_array_get(json_object_get(agg, "questions"), 2);
	assert_int_equal(json_integer_value(json_object_get(pos, "n")), 2);
	assert_true(json_real_value(json_object_get(pos, "mean")) == 6.5);
	/* every value of the scale, zeros included */
	assert_int_equal(json_object_size(json_object_get(pos, "distribution")), 7);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(pos, "distribution"), "5")), 1);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(pos, "distribution"), "8")), 1);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(pos, "distribution"), "4")), 0);
	assert_int_equal(json_integer_value(json_object_get(way, "n")), 3);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(way, "counts"), "online")), 2);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(way, "counts"), "both")), 1);
	assert_int_equal(json_array_size(json_object_get(why_q, "answers")), 2);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(why_q, "answers"), 1), "text")),
	                    "peers");
	json_decref(agg);
	/* nobody answered: n 0 and no mean */
	json_array_clear(answers);
	agg = quest_aggregate(q, answers);
	pos = json_array_get(json_object_get(agg, "questions"), 0);
	assert_int_equal(json_integer_value(json_object_get(pos, "n")), 0);
	assert_true(json_is_null(json_object_get(pos, "mean")));
	json_decref(agg);
	json_decref(answers);
	json_decref(q);
}

static void test_compare(void **state)
{
	const char *fin =
	    "{\"title\":\"f\",\"questions\":["
	    "{\"id\":\"pos\",\"kind\":\"scale\",\"text\":\"now?\",\"min\":4,\"max\":10},"
	    "{\"id\":\"way\",\"kind\":\"text\",\"text\":\"how was it?\"},"
	    "{\"id\":\"gain\",\"kind\":\"text\",\"text\":\"gained?\"}]}";
	json_t *qi, *qf, *ai, *af, *cmp, *x;
	char why[256];

	(void)state;
	qi = quest_parse(QUEST, why, sizeof(why));
	qf = quest_parse(fin, why, sizeof(why));
	assert_non_null(qi);
	assert_non_null(qf);
	ai = json_loads("{\"pos\":5,\"way\":\"online\",\"why\":\"x\"}", 0, NULL);
	af = json_loads("{\"pos\":9,\"way\":\"fine\",\"gain\":\"y\"}", 0, NULL);
	cmp = quest_compare(qi, qf, ai, af);
	/* only pos: way changed kind (choice, then text), why and gain are in one of them only */
	assert_int_equal(json_array_size(cmp), 1);
	x = json_array_get(cmp, 0);
	assert_string_equal(json_string_value(json_object_get(x, "id")), "pos");
	assert_int_equal(json_integer_value(json_object_get(x, "initial")), 5);
	assert_int_equal(json_integer_value(json_object_get(x, "final")), 9);
	assert_int_equal(json_integer_value(json_object_get(x, "change")), 4);
	json_decref(cmp);
	/* a final answer out of its bounds is no answer: no change computed */
	json_object_set_new(af, "pos", json_integer(3));
	cmp = quest_compare(qi, qf, ai, af);
	x = json_array_get(cmp, 0);
	assert_true(json_is_null(json_object_get(x, "final")));
	assert_null(json_object_get(x, "change"));
	json_decref(cmp);
	json_decref(ai);
	json_decref(af);
	json_decref(qi);
	json_decref(qf);
}

static void test_sig_bytes_bind(void **state)
{
	unsigned char a[QUEST_SIG_BYTES_MAX], b[QUEST_SIG_BYTES_MAX];
	size_t na, nb;

	(void)state;
	na = quest_sig_bytes(a, 1, "initial", 2, QUEST);
	nb = quest_sig_bytes(b, 1, "initial", 2, QUEST);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na);
	/* programme, stage, version and text each change the bytes */
	nb = quest_sig_bytes(b, 2, "initial", 2, QUEST);
	assert_true(na != nb || memcmp(a, b, na) != 0);
	nb = quest_sig_bytes(b, 1, "final", 2, QUEST);
	assert_true(na != nb || memcmp(a, b, na) != 0);
	nb = quest_sig_bytes(b, 1, "initial", 3, QUEST);
	assert_true(na != nb || memcmp(a, b, na) != 0);
	nb = quest_sig_bytes(b, 1, "initial", 2, "{}");
	assert_true(na != nb || memcmp(a, b, na) != 0);
}

/* ---- the manager readers ---- */

static void party(struct trust_version *v, int64_t id, const char *role)
{
	v->parties[v->n].user_id = id;
	snprintf(v->parties[v->n].role, sizeof(v->parties[v->n].role), "%s", role);
	v->n++;
}

static void test_managers_rule(void **state)
{
	struct trust_version v;
	uint64_t ids[ENVELOPE_RECIPIENTS];
	const uint64_t right[] = {FX_ALICE, FX_MONA}, added[] = {FX_ALICE, FX_DAVE, FX_MONA},
	               swapped[] = {FX_ALICE, FX_DAVE}, mentor[] = {FX_ALICE, FX_BOB, FX_MONA},
	               alone[] = {FX_ALICE};
	char why[256];

	(void)state;
	memset(&v, 0, sizeof(v));
	v.version = 4;
	party(&v, FX_ALICE, "mentee");
	party(&v, FX_BOB, "mentor");
	party(&v, FX_CAROL, "mentee");
	party(&v, FX_MONA, "manager");
	/* the author and the manager party, ascending; never the mentor or another mentee */
	assert_int_equal(managers_readers(&v, FX_ALICE, ids), 2);
	assert_int_equal(ids[0], FX_ALICE);
	assert_int_equal(ids[1], FX_MONA);
	assert_int_equal(managers_readers(&v, FX_CAROL, ids), 2);
	assert_int_equal(managers_readers(&v, FX_BOB, ids), -1);  /* the mentor writes none */
	assert_int_equal(managers_readers(&v, FX_DAVE, ids), -1); /* no party at all */
	assert_true(managers_is_party(&v, FX_MONA));
	assert_false(managers_is_party(&v, FX_BOB));
	assert_true(managers_readers_ok(&v, FX_ALICE, right, 2, why, sizeof(why)));
	/* a fake manager added, swapped in, the mentor added, the manager left out: refused */
	assert_false(managers_readers_ok(&v, FX_ALICE, added, 3, why, sizeof(why)));
	assert_non_null(strstr(why, "manager parties of version 4"));
	assert_false(managers_readers_ok(&v, FX_ALICE, swapped, 2, why, sizeof(why)));
	assert_false(managers_readers_ok(&v, FX_ALICE, mentor, 3, why, sizeof(why)));
	assert_false(managers_readers_ok(&v, FX_ALICE, alone, 1, why, sizeof(why)));
	/* no manager party: no anchor, nothing to seal to, nothing accepted */
	v.n = 3;
	assert_int_equal(managers_readers(&v, FX_ALICE, ids), 0);
	assert_false(managers_readers_ok(&v, FX_ALICE, alone, 1, why, sizeof(why)));
	assert_non_null(strstr(why, "names no manager"));
}

/* ---- the core against a scripted server ---- */

static struct world *world_new(void)
{
	const char *now = "2026-12-01T09:00:00Z";
	const struct trust_programme required = {FX_MONA, 1};
	struct world *w = calloc(1, sizeof(*w));
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
	fx_keys('b', &k);
	pins_observe(pins, FX_BOB, "bob", k.sign_pk, k.box_pk, now);
	fx_keys('d', &k);
	pins_observe(pins, FX_DAVE, "dave", k.sign_pk, k.box_pk, now);
	fx_keys('n', &k);
	pins_observe(pins, FX_MONA, "mona", k.sign_pk, k.box_pk, now);
	em_keys_wipe(&k);
	em_keys_wipe(&a);
	world_put(w, STATE_PINS_FILE, pins);
	assert_int_equal(trust_programme_pin(t, FX_PROGRAMME, &required), TRUST_PIN_NEW);
	assert_int_equal(trust_room_pin(t, FX_ROOM, FX_PROGRAMME), TRUST_PIN_NEW);
	world_put(w, STATE_TRUST_FILE, t);
	w->now = NOW_MS;
	world_start(w);
	return w;
}

/*
 * agreement.show of room 7 whose active version 1 every party signed:
 * alice (mentee), bob (mentor) and, with_manager, mona (manager).
 */
static json_t *agreement(int with_manager)
{
	struct em_keys keys[3];
	struct em_party parties[3] = {{FX_ALICE, "mentee", {0}, {0}},
	                              {FX_BOB, "mentor", {0}, {0}},
	                              {FX_MONA, "manager", {0}, {0}}};
	const char *names[3] = {"alice", "bob", "mona"}, who[3] = {'a', 'b', 'n'};
	const char *terms = "We meet every two weeks.";
	size_t n = with_manager ? 3 : 2;
	json_t *list = json_array();

	for (size_t i = 0; i < n; i++) {
		fx_keys(who[i], &keys[i]);
		memcpy(parties[i].sign_pk, keys[i].sign_pk, 32);
		memcpy(parties[i].box_pk, keys[i].box_pk, 32);
	}
	for (size_t i = 0; i < n; i++) {
		struct em_party copy[3];
		unsigned char sig[EM_SIG_BYTES];

		memcpy(copy, parties, sizeof(copy));
		assert_int_equal(em_agreement_sign(FX_ROOM, 1, "2026-01-01", "2026-12-31", terms,
		                                   copy, n, keys[i].sign_sk, sig),
		                 0);
		json_array_append_new(
		    list,
		    json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:n}", "user_id",
		              (json_int_t)parties[i].user_id, "username", names[i], "display_name",
		              names[i], "role", parties[i].role, "sign_pk",
		              fx_b64(keys[i].sign_pk, 32), "box_pk", fx_b64(keys[i].box_pk, 32),
		              "signature", fx_b64(sig, sizeof(sig)), "signed_at",
		              "2026-01-02T10:00:00Z", "withdrawn_at"));
	}
	for (size_t i = 0; i < n; i++)
		em_keys_wipe(&keys[i]);
	return json_pack("{s:I, s:b, s:{s:i, s:s, s:s, s:s, s:s, s:s, s:o}, s:n, s:[I, I]}",
	                 "room_id", (json_int_t)FX_ROOM, "required", 1, "active", "version", 1,
	                 "starts_on", "2026-01-01", "ends_on", "2026-12-31", "terms", terms,
	                 "created_at", "2026-01-01T09:00:00Z", "activated_at",
	                 "2026-01-02T10:00:00Z", "parties", list, "pending", "roster",
	                 (json_int_t)FX_ALICE, (json_int_t)FX_BOB);
}

/* room.show of room 7 that also names dave, as a manager member. */
static json_t *room_show_with_fake_manager(void)
{
	json_t *show = fx_room_show(FX_ROOM), *dave;
	struct em_keys k;

	fx_keys('d', &k);
	dave = fx_user(FX_DAVE, "dave", &k, 1);
	json_object_set_new(dave, "role", json_string("manager"));
	json_array_append_new(json_object_get(json_object_get(show, "room"), "members"), dave);
	em_keys_wipe(&k);
	return show;
}

static int64_t command(struct world *w, const char *json)
{
	int64_t id = emc_command(w->c, json, w->now);

	assert_true(id > 0);
	drain(w);
	return id;
}

static const char ANSWER_CMD[] = "{\"cmd\":\"questionnaire.answer\",\"room\":7,\"stage\":"
                                 "\"initial\",\"answers\":{\"position\":6,\"format\":\"both\"}}";

/*
 * The server names dave as a manager twice (room.show, and a "managers"
 * list in questionnaire.get); the answer is sealed to alice and mona only.
 */
static void test_core_answer_ignores_fake_manager(void **state)
{
	struct world *w = world_new();
	unsigned char *blob = malloc(EM_RECORD_BLOB_MAX);
	uint64_t ids[ENVELOPE_RECIPIENTS];
	json_t *f, *end;
	struct em_keys dave;
	size_t n;
	int64_t t;
	int len;

	(void)state;
	assert_non_null(blob);
	fx_keys('d', &dave);
	t = command(w, ANSWER_CMD);
	answer(w, "room.show", room_show_with_fake_manager());
	answer(w, "agreement.show", agreement(1));
	answer(w, "questionnaire.get",
	       json_pack("{s:I, s:s, s:s, s:i, s:n, s:[o]}", "programme_id",
	                 (json_int_t)FX_PROGRAMME, "stage", "initial", "lang", "en", "version", 0,
	                 "doc", "managers", fx_user(FX_DAVE, "dave", &dave, 1)));
	f = frame_of(w, "questionnaire.answer");
	assert_non_null(f);
	len = em_b64_decode(json_string_value(json_object_get(json_object_get(f, "args"), "blob")),
	                    blob, EM_RECORD_BLOB_MAX);
	assert_true(len > 0);
	assert_int_equal(envelope_recipients(blob, (size_t)len, ids, &n), ENVELOPE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], FX_ALICE);
	assert_int_equal(ids[1], FX_MONA);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(f, "args"), "agreement_version")),
	    1);
	answer(w, "questionnaire.answer", json_pack("{s:s}", "stage", "initial"));
	end = task_end(w, t);
	assert_non_null(end);
	assert_true(json_is_true(json_object_get(end, "ok")));
	/* rebuilt as mona's client does: mona opens it, dave's key opens nothing in it */
	{
		const char *text = quest_default("initial", "en");
		unsigned char ctx[128], h[QUEST_HASH_BYTES], *p = ctx, *doc = NULL;
		int64_t written =
		    json_integer_value(json_object_get(json_object_get(f, "args"), "written_ms"));
		size_t doc_len, m;
		struct em_keys alice, mona;
		uint64_t got[ENVELOPE_RECIPIENTS];

		quest_hash(text, h);
		p = envelope_put_u64(p, FX_PROGRAMME);
		p = envelope_put_u64(p, FX_ROOM);
		p = envelope_put_lp(p, "initial", 7);
		p = envelope_put_u32(p, 0);
		memcpy(p, h, sizeof(h));
		p += sizeof(h);
		p = envelope_put_u32(p, 1);
		p = envelope_put_u64(p, (uint64_t)written);
		fx_keys('a', &alice);
		fx_keys('n', &mona);
		assert_int_equal(envelope_open("ementor questionnaire answer v1", ctx,
		                               (size_t)(p - ctx), FX_ALICE, alice.sign_pk, FX_MONA,
		                               mona.box_pk, mona.box_sk, blob, (size_t)len, got, &m,
		                               &doc, &doc_len),
		                 ENVELOPE_OK);
		assert_non_null(strstr((const char *)doc, "\"position\":6"));
		free(doc);
		doc = NULL;
		assert_int_equal(envelope_open("ementor questionnaire answer v1", ctx,
		                               (size_t)(p - ctx), FX_ALICE, alice.sign_pk, FX_DAVE,
		                               dave.box_pk, dave.box_sk, blob, (size_t)len, got, &m,
		                               &doc, &doc_len),
		                 ENVELOPE_NOT_RECIPIENT);
		free(doc);
		em_keys_wipe(&alice);
		em_keys_wipe(&mona);
	}
	em_keys_wipe(&dave);
	free(blob);
	world_free(w);
}

/* A questionnaire version signed by dave (pinned, but no manager party): refused, nothing sent. */
static void test_core_answer_refuses_questions_of_non_manager(void **state)
{
	const char *doc = "{\"title\":\"t\",\"questions\":[{\"id\":\"position\",\"kind\":\"scale\","
	                  "\"text\":\"Your bank PIN?\",\"min\":4,\"max\":10}]}";
	unsigned char bytes[QUEST_SIG_BYTES_MAX], sig[EM_SIG_BYTES];
	struct world *w = world_new();
	struct em_keys dave;
	json_t *end;
	size_t nb;
	int64_t t;

	(void)state;
	fx_keys('d', &dave);
	nb = quest_sig_bytes(bytes, FX_PROGRAMME, "initial", 1, doc);
	crypto_sign_detached(sig, NULL, bytes, nb, dave.sign_sk);
	t = command(w, "{\"cmd\":\"questionnaire.answer\",\"room\":7,\"stage\":\"initial\","
	               "\"answers\":{\"position\":6}}");
	answer(w, "room.show", room_show_with_fake_manager());
	answer(w, "agreement.show", agreement(1));
	answer(w, "questionnaire.get",
	       json_pack("{s:I, s:s, s:s, s:i, s:s, s:I, s:o, s:s}", "programme_id",
	                 (json_int_t)FX_PROGRAMME, "stage", "initial", "lang", "en", "version", 1,
	                 "doc", doc, "author_id", (json_int_t)FX_DAVE, "signature",
	                 fx_b64(sig, sizeof(sig)), "created_at", FX_SENT_AT));
	end = task_end(w, t);
	assert_non_null(end);
	assert_false(json_is_true(json_object_get(end, "ok")));
	assert_non_null(strstr(
	    json_string_value(json_object_get(json_object_get(end, "error"), "message")) ?: "",
	    "not a manager party"));
	assert_null(frame_of(w, "questionnaire.answer"));
	em_keys_wipe(&dave);
	world_free(w);
}

/* An agreement that names no manager: no anchor, nothing sealed, and the user is told. */
static void test_core_answer_without_anchor(void **state)
{
	struct world *w = world_new();
	json_t *end;
	int64_t t;

	(void)state;
	t = command(w, ANSWER_CMD);
	answer(w, "room.show", room_show_with_fake_manager());
	answer(w, "agreement.show", agreement(0));
	end = task_end(w, t);
	assert_non_null(end);
	assert_false(json_is_true(json_object_get(end, "ok")));
	assert_non_null(strstr(
	    json_string_value(json_object_get(json_object_get(end, "error"), "message")) ?: "",
	    "names no manager"));
	assert_null(frame_of(w, "questionnaire.get"));
	assert_null(frame_of(w, "questionnaire.answer"));
	world_free(w);
}

/* One of alice's share_progress records for programme 1, as consent.list lists it. */
static json_t *consent_entry(int64_t seq, const char *action, int64_t at, char signer)
{
	unsigned char hash[EM_HASH_BYTES], sig[EM_SIG_BYTES];
	struct em_keys alice, k;

	fx_keys('a', &alice);
	fx_keys(signer, &k);
	em_text_hash("the share_progress text", hash);
	assert_int_equal(em_consent_sign(alice.sign_pk, "share_progress", "programme:1", hash,
	                                 action, at, k.sign_sk, sig),
	                 0);
	em_keys_wipe(&alice);
	em_keys_wipe(&k);
	return json_pack("{s:I, s:s, s:s, s:o, s:s, s:I, s:o, s:s}", "seq", (json_int_t)seq,
	                 "purpose", "share_progress", "subject", "programme:1", "text_hash",
	                 fx_b64(hash, sizeof(hash)), "action", action, "at", (json_int_t)at,
	                 "signature", fx_b64(sig, sizeof(sig)), "recorded_at", FX_SENT_AT);
}

/* Runs progress.share of a rating with the given ledger; the task's end event. */
static json_t *share_with(struct world *w, json_t *entries)
{
	int64_t t = command(w, "{\"cmd\":\"progress.share\",\"room\":7,\"kind\":\"rating\","
	                       "\"doc\":{\"stage\":\"midterm\",\"rated_on\":\"2027-06-10\","
	                       "\"value\":7}}");

	answer(w, "room.show", room_show_with_fake_manager());
	answer(w, "agreement.show", agreement(1));
	answer(w, "consent.list", json_pack("{s:o, s:[]}", "entries", entries, "current"));
	return task_end(w, t);
}

/*
 * progress.share decides from alice's own signed records: a grant shares (to
 * alice and mona only); a withdrawal signed later wins whatever the server's
 * seq says; a grant signed by someone else (the server) counts for nothing.
 */
static void test_core_share_follows_signed_records(void **state)
{
	unsigned char *blob = malloc(EM_RECORD_BLOB_MAX);
	uint64_t ids[ENVELOPE_RECIPIENTS];
	struct world *w;
	json_t *end, *f;
	size_t n;
	int len;

	(void)state;
	assert_non_null(blob);
	/* granted: shared, sealed to alice and the manager party */
	w = world_new();
	end = share_with(w, json_pack("[o]", consent_entry(10, "grant", 1796290000, 'a')));
	assert_null(end); /* waiting for progress.share's answer */
	f = frame_of(w, "progress.share");
	assert_non_null(f);
	len = em_b64_decode(json_string_value(json_object_get(json_object_get(f, "args"), "blob")),
	                    blob, EM_RECORD_BLOB_MAX);
	assert_int_equal(envelope_recipients(blob, (size_t)len, ids, &n), ENVELOPE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], FX_ALICE);
	assert_int_equal(ids[1], FX_MONA);
	world_free(w);

	/* the withdrawal was signed after the grant; the server numbers it before: not shared */
	w = world_new();
	end = share_with(w, json_pack("[o, o]", consent_entry(12, "grant", 1796290000, 'a'),
	                              consent_entry(11, "withdraw", 1796290100, 'a')));
	assert_non_null(end);
	assert_true(json_is_true(json_object_get(end, "ok")));
	assert_true(json_is_false(json_object_get(json_object_get(end, "result"), "shared")));
	assert_null(frame_of(w, "progress.share"));
	world_free(w);

	/* a newer "grant" the server made up (not alice's signature): not shared */
	w = world_new();
	end = share_with(w, json_pack("[o, o]", consent_entry(11, "withdraw", 1796290100, 'a'),
	                              consent_entry(12, "grant", 1796290200, 'd')));
	assert_non_null(end);
	assert_true(json_is_false(json_object_get(json_object_get(end, "result"), "shared")));
	assert_null(frame_of(w, "progress.share"));
	world_free(w);
	free(blob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_parse),
	    cmocka_unit_test(test_parse_refuses),
	    cmocka_unit_test(test_answers_ok),
	    cmocka_unit_test(test_aggregate),
	    cmocka_unit_test(test_compare),
	    cmocka_unit_test(test_sig_bytes_bind),
	    cmocka_unit_test(test_managers_rule),
	    cmocka_unit_test(test_core_answer_ignores_fake_manager),
	    cmocka_unit_test(test_core_answer_refuses_questions_of_non_manager),
	    cmocka_unit_test(test_core_answer_without_anchor),
	    cmocka_unit_test(test_core_share_follows_signed_records),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
