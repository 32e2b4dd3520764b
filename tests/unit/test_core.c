/*
 * test_core.c - the client core (core/emc.h) against a scripted server that
 * lies: no network, the test hands emc_receive() the server's replies, built
 * with proto's crypto in fuzz_client's world (tests/fuzz/client/fixture.h:
 * we are alice; bob, carol, dave and mona pinned; room 7 with its epoch-1
 * key and a verified agreement; room 8 without a key yet), and checks the
 * frames and events emc_next() yields. The rules are docs/SECURITY.md's
 * "A malicious server": a member's key that differs from the pinned one is
 * never used (P1), epochs never go back (E1), and a lost link loses nothing.
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
#include "announce.h"
#include "core.h"
#include "emc.h"
#include "world.h"
#include "meeting.h"

#define NOW_MS (FX_WRITTEN_MS + 60 * 1000)

/* ---- the world in memory ---- */

static json_t *world_doc(struct world *w, const char *name)
{
	return mem_json(&w->store, name);
}

/* ---- the world (client/fixture.h) and the core on it ---- */

static json_t *b64(const unsigned char *bin, size_t len)
{
	return fx_b64(bin, len);
}

/* trust.json: programmes, rooms, room 7's verified version 1 (alice, bob), epoch high-water. */
static json_t *world_trust(int64_t room7_max_epoch)
{
	const struct trust_programme required = {FX_MONA, 1}, without = {FX_MONA, 0};
	struct em_keys alice, bob;
	struct trust_version v;
	json_t *t = json_object();

	fx_keys('a', &alice);
	fx_keys('b', &bob);
	memset(&v, 0, sizeof(v));
	v.version = 1;
	v.n = 2;
	v.parties[0].user_id = FX_ALICE;
	snprintf(v.parties[0].role, sizeof(v.parties[0].role), "mentee");
	memcpy(v.parties[0].sign_pk, alice.sign_pk, EM_SIGN_PK_BYTES);
	memcpy(v.parties[0].box_pk, alice.box_pk, EM_BOX_PK_BYTES);
	v.parties[1].user_id = FX_BOB;
	snprintf(v.parties[1].role, sizeof(v.parties[1].role), "mentor");
	memcpy(v.parties[1].sign_pk, bob.sign_pk, EM_SIGN_PK_BYTES);
	memcpy(v.parties[1].box_pk, bob.box_pk, EM_BOX_PK_BYTES);
	assert_int_equal(trust_programme_pin(t, FX_PROGRAMME, &required), TRUST_PIN_NEW);
	assert_int_equal(trust_programme_pin(t, FX_PROGRAMME_FREE, &without), TRUST_PIN_NEW);
	assert_int_equal(trust_room_pin(t, FX_ROOM, FX_PROGRAMME), TRUST_PIN_NEW);
	assert_int_equal(trust_room_pin(t, FX_ROOM_FREE, FX_PROGRAMME_FREE), TRUST_PIN_NEW);
	assert_int_equal(trust_epoch_raise(t, FX_ROOM, room7_max_epoch), 1);
	assert_int_equal(trust_version_put(t, FX_ROOM, &v, 1), 1);
	assert_int_equal(trust_announce(t, FX_ROOM_FREE, FX_ALICE), 1);
	assert_int_equal(trust_announce(t, FX_ROOM_FREE, FX_CAROL), 1);
	em_keys_wipe(&alice);
	em_keys_wipe(&bob);
	return t;
}

/* A core for alice; room 7's highest epoch used so far is room7_max_epoch. */
static struct world *world_new(int64_t room7_max_epoch)
{
	const char *now = "2026-12-01T09:00:00Z";
	const int64_t recipients[] = {FX_ALICE, FX_BOB};
	struct world *w = calloc(1, sizeof(*w));
	struct em_keys a, k;
	unsigned char key[EM_ROOM_KEY_BYTES];
	json_t *pins = json_object(), *rk = json_object();

	assert_non_null(w);
	fx_keys('a', &a);
	world_put(w, "session.json",
	          json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "server", "wss://localhost:1",
	                    "username", "alice", "user_id", (json_int_t)FX_ALICE, "role", "mentee",
	                    "token", "token", "expires_at", "2027-01-01T00:00:00Z"));
	world_put(w, "keys.json",
	          json_pack("{s:s, s:o, s:o, s:o, s:o}", "username", "alice", "sign_pk",
	                    b64(a.sign_pk, EM_SIGN_PK_BYTES), "sign_sk",
	                    b64(a.sign_sk, EM_SIGN_SK_BYTES), "box_pk",
	                    b64(a.box_pk, EM_BOX_PK_BYTES), "box_sk",
	                    b64(a.box_sk, EM_BOX_SK_BYTES)));
	em_keys_wipe(&a);
	fx_keys('b', &k);
	pins_observe(pins, FX_BOB, "bob", k.sign_pk, k.box_pk, now);
	fx_keys('c', &k);
	pins_observe(pins, FX_CAROL, "carol", k.sign_pk, k.box_pk, now);
	fx_keys('d', &k);
	pins_observe(pins, FX_DAVE, "dave", k.sign_pk, k.box_pk, now);
	fx_keys('n', &k);
	pins_observe(pins, FX_MONA, "mona", k.sign_pk, k.box_pk, now);
	em_keys_wipe(&k);
	world_put(w, STATE_PINS_FILE, pins);
	fx_room_key(FX_ROOM, 1, key);
	assert_int_equal(roomkeys_put(rk, FX_ROOM, 1, key, FX_BOB, 1, now), 1);
	assert_int_equal(roomkeys_set_recipients(rk, FX_ROOM, 1, recipients, 2), 1);
	world_put(w, STATE_ROOMKEYS_FILE, rk);
	world_put(w, STATE_TRUST_FILE, world_trust(room7_max_epoch));
	w->now = NOW_MS;
	world_start(w);
	return w;
}

static int64_t command(struct world *w, const char *json)
{
	int64_t id = emc_command(w->c, json, w->now);

	assert_true(id > 0);
	drain(w);
	return id;
}

/* The server refuses the last request of `op` with error `code` (retryable when retry_ms > 0). */
static void answer_error(struct world *w, const char *op, const char *code, int64_t retry_ms)
{
	json_t *f = frame_of(w, op), *reply;

	assert_non_null(f);
	reply = json_pack("{s:O, s:{s:s, s:s}}", "re", json_object_get(f, "id"), "error", "code",
	                  code, "message", "try again");
	if (retry_ms > 0)
		json_object_set_new(json_object_get(reply, "error"), "retry_after_ms",
		                    json_integer(retry_ms));
	server_says(w, reply);
}

/* room.show of room 7 as the world has it, with bob's keys replaced by `bob`'s when not NULL. */
static json_t *room7_show(const struct em_keys *bob, int64_t epoch)
{
	json_t *res = fx_room_show(FX_ROOM);
	json_t *room = json_object_get(res, "room");

	json_object_set_new(room, "epoch", json_integer(epoch));
	if (bob)
		json_array_set_new(json_object_get(room, "members"), 1,
		                   fx_user(FX_BOB, "bob", bob, 1));
	return res;
}

/* A message of room 7, epoch 1, seq 4 "from bob", signed by `signer`. */
static json_t *room7_message(const struct em_keys *signer, const char *text)
{
	unsigned char key[EM_ROOM_KEY_BYTES], id[EM_MSG_ID_BYTES], sig[EM_SIG_BYTES];
	unsigned char *ct = malloc(EM_MSG_CIPHERTEXT_MAX);
	struct em_msg_meta meta;
	int n;

	assert_non_null(ct);
	fx_room_key(FX_ROOM, 1, key);
	memset(id, 4, sizeof(id));
	fx_device('b', meta.device);
	meta.counter = FX_BOB_COUNTER + 1;
	meta.written_ms = FX_WRITTEN_MS;
	n = em_msg_encrypt(key, FX_ROOM, 1, FX_BOB, id, &meta, (const unsigned char *)text,
	                   strlen(text), signer->sign_sk, ct, sig);
	assert_true(n > 0);
	json_t *m = json_pack("{s:I, s:I, s:I, s:I, s:s, s:s, s:o, s:o, s:o}", "room_id",
	                      (json_int_t)FX_ROOM, "seq", (json_int_t)(FX_BOB_COUNTER + 1), "epoch",
	                      (json_int_t)1, "sender_id", (json_int_t)FX_BOB, "sender", "bob",
	                      "sent_at", FX_SENT_AT, "client_msg_id", b64(id, sizeof(id)),
	                      "ciphertext", b64(ct, (size_t)n), "sig", b64(sig, sizeof(sig)));
	free(ct);
	return m;
}

/* ---- tests ---- */

/* The world itself: a message bob signed with his pinned key reads (the tests below can fail). */
static void test_read_genuine(void **state)
{
	struct world *w = world_new(1);
	struct em_keys bob;
	json_t *msg;

	int64_t read;

	(void)state;
	fx_keys('b', &bob);
	read = command(w, "{\"cmd\":\"read\",\"room\":7}");
	answer(w, "room.show", room7_show(NULL, 1));
	answer(w, "history",
	       json_pack("{s:I, s:[o]}", "room_id", (json_int_t)FX_ROOM, "messages",
	                 room7_message(&bob, "hello alice")));
	msg = event_of(w, "message", NULL);
	assert_non_null(msg);
	assert_string_equal(json_string_value(json_object_get(msg, "text")), "hello alice");
	assert_null(event_of(w, "warning", "keys_changed"));
	answer(w, "receipt", json_object());
	assert_non_null(task_end(w, read));
	assert_true(json_is_true(json_object_get(task_end(w, read), "ok")));
	em_keys_wipe(&bob);
	world_free(w);
}

/*
 * (a) room.show lists bob with other keys than the pinned ones (mallory's):
 * the change is reported, bob's pin keeps its keys, a message signed with the
 * new key is not shown as bob's, and nothing is sealed or sent to the room.
 */
static void test_read_member_key_changed(void **state)
{
	struct world *w = world_new(1);
	struct em_keys mallory, bob;
	struct pin p;
	json_t *msg, *pins;
	int64_t send;

	(void)state;
	fx_keys('m', &mallory);
	fx_keys('b', &bob);
	command(w, "{\"cmd\":\"read\",\"room\":7}");
	answer(w, "room.show", room7_show(&mallory, 1));
	assert_non_null(event_of(w, "warning", "keys_changed"));
	answer(w, "history",
	       json_pack("{s:I, s:[o]}", "room_id", (json_int_t)FX_ROOM, "messages",
	                 room7_message(&mallory, "it is me, bob")));
	msg = event_of(w, "message", NULL);
	assert_non_null(msg); /* shown as rejected, never with the text */
	assert_null(json_object_get(msg, "text"));
	assert_non_null(json_object_get(msg, "error"));
	/* a send to the room is refused or kept, never sealed to mallory or sent */
	send = command(w, "{\"cmd\":\"send\",\"room\":7,\"text\":\"secret\"}");
	if (frame_of(w, "room.show") && !task_end(w, send))
		answer(w, "room.show", room7_show(&mallory, 1));
	assert_int_equal(count_frames(w, "send"), 0);
	assert_int_equal(count_frames(w, "epoch.commit"), 0);
	assert_non_null(task_end(w, send));
	assert_false(json_is_true(json_object_get(task_end(w, send), "ok")));
	emc_free(w->c);
	w->c = NULL;
	pins = world_doc(w, STATE_PINS_FILE);
	assert_int_equal(pins_get(pins, FX_BOB, &p), 0);
	assert_memory_equal(p.sign_pk, bob.sign_pk, EM_SIGN_PK_BYTES);
	assert_memory_equal(p.box_pk, bob.box_pk, EM_BOX_PK_BYTES);
	assert_true(p.keys_changed);
	json_decref(pins);
	em_keys_wipe(&mallory);
	em_keys_wipe(&bob);
	world_free(w);
}

/*
 * (b) this device has used epoch 2 of room 7; the server says the room is at
 * epoch 1: nothing goes out under the old key, the message stays in the
 * outbox, and the rollback is reported.
 */
static void test_send_epoch_rollback(void **state)
{
	struct world *w = world_new(2);
	json_t *ob, *end;
	int64_t send;

	(void)state;
	send = command(w, "{\"cmd\":\"send\",\"room\":7,\"text\":\"after the rollback\"}");
	answer(w, "room.show", room7_show(NULL, 1));
	/* asked once more (the first answer may have been stale); the server says 1 again */
	assert_null(task_end(w, send));
	answer(w, "room.show", room7_show(NULL, 1));
	assert_int_equal(count_frames(w, "room.show"), 2);
	if (frame_of(w, "agreement.show") && !task_end(w, send))
		answer(w, "agreement.show",
		       json_pack("{s:I, s:b}", "room_id", (json_int_t)FX_ROOM, "required", 1));
	assert_int_equal(count_frames(w, "send"), 0);
	assert_int_equal(count_frames(w, "epoch.commit"), 0);
	assert_non_null(event_of(w, "warning", "epoch_rollback"));
	end = task_end(w, send);
	assert_non_null(end);
	assert_false(json_is_true(json_object_get(end, "ok")));
	ob = world_doc(w, STATE_OUTBOX_FILE);
	assert_int_equal(json_array_size(json_object_get(ob, "messages")), 1);
	json_decref(ob);
	world_free(w);
}

/* Room 7's key of `epoch`, sealed by bob (pinned) to alice under version 1, for alice and bob. */
static json_t *room7_envelope(int64_t epoch)
{
	unsigned char key[EM_ROOM_KEY_BYTES], sealed[EM_SEALED_KEY_BYTES];
	struct em_keys alice, bob;
	struct em_room_key_id id;

	fx_keys('a', &alice);
	fx_keys('b', &bob);
	memset(&id, 0, sizeof(id));
	id.room_id = FX_ROOM;
	id.epoch = (uint64_t)epoch;
	id.recipient_id = FX_ALICE;
	id.committer_id = FX_BOB;
	id.agreement_version = 1;
	id.n_recipients = 2;
	id.recipients[0] = FX_ALICE;
	id.recipients[1] = FX_BOB;
	fx_room_key(FX_ROOM, epoch, key);
	assert_int_equal(em_room_key_seal(key, &id, bob.sign_sk, alice.box_pk, sealed), 0);
	em_keys_wipe(&alice);
	em_keys_wipe(&bob);
	return json_pack("{s:I, s:I, s:o, s:I, s:I}", "room_id", (json_int_t)FX_ROOM, "epoch",
	                 (json_int_t)epoch, "sealed", b64(sealed, sizeof(sealed)), "committer_id",
	                 (json_int_t)FX_BOB, "agreement_version", (json_int_t)1);
}

/* agreement.show of room 7: version 1 signed by alice and bob (fuzz_client's seed, real
 * signatures). */
static json_t *room7_agreement(void)
{
	json_t *reply = json_load_file(
	    EM_SOURCE_DIR "/tests/fuzz/corpus/client/re-agreement-show.json", 0, NULL);
	json_t *res = json_incref(json_object_get(reply, "ok"));

	assert_non_null(res);
	json_decref(reply);
	return res;
}

/*
 * agreement.show of room 7: the active version 1 (signed by alice and bob) and
 * the pending version 2; with `tamper` the server rewrites the active text.
 * Answers every request the command makes; returns its result (a new ref).
 */
static json_t *agreement_show_result(struct world *w, int tamper)
{
	json_t *doc = room7_agreement(), *end, *res;
	int64_t task;

	if (tamper) /* "nothing changed": the active text made to read like the pending one */
		json_object_set_new(json_object_get(doc, "active"), "terms",
		                    json_string("We meet weekly."));
	task = command(w, "{\"cmd\":\"agreement.show\",\"room\":7}");
	answer(w, "agreement.show", doc);
	for (int i = 0; i < 4 && !task_end(w, task); i++) {
		if (frame_of(w, "room.show") && count_frames(w, "room.show") > (size_t)i)
			answer(w, "room.show", room7_show(NULL, 1));
		else
			break;
	}
	end = task_end(w, task);
	assert_non_null(end);
	assert_true(json_is_true(json_object_get(end, "ok")));
	res = json_object_get(end, "result");
	assert_non_null(res);
	return json_incref(res);
}

/*
 * What changed between the active and the pending version is computed on the
 * client from the two texts: the active text only when its signatures
 * verify. A server that rewrites the active text (so the change looks
 * smaller) gets no diff, and the refusal says why.
 */
static void test_agreement_diff_is_the_clients(void **state)
{
	struct world *w = world_new(1);
	json_t *res, *lines;
	char *text;

	(void)state;
	res = agreement_show_result(w, 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "diff"), "from")),
	                 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "diff"), "to")),
	                 2);
	lines = json_object_get(json_object_get(res, "diff"), "lines");
	text = json_dumps(lines, JSON_COMPACT);
	assert_string_equal(text, "[{\"op\":\"-\",\"line\":\"We meet every two weeks.\"},"
	                          "{\"op\":\"+\",\"line\":\"We meet weekly.\"},"
	                          "{\"op\":\"+\",\"line\":\"\\u001B[2J\"}]");
	free(text);
	assert_null(json_object_get(res, "diff_refused"));
	json_decref(res);
	world_free(w);

	w = world_new(1);
	res = agreement_show_result(w, 1);
	assert_true(json_is_null(json_object_get(res, "diff")));
	assert_non_null(strstr(json_string_value(json_object_get(res, "diff_refused")),
	                       "signatures do not all verify"));
	assert_true(json_integer_value(json_object_get(res, "bad")) >= 2);
	json_decref(res);
	world_free(w);
}

/*
 * With no active version the diff is from the version before the pending one,
 * fetched by number: only when it is that version and a signature over it
 * verifies. The server answers version 1 as alice and bob signed it, then
 * with its text rewritten, then with another version's number.
 */
static void test_agreement_diff_from_the_version_before(void **state)
{
	static const char *const want_refused[] = {NULL, "signatures that do not verify",
	                                           "did not give the version before"};

	(void)state;
	for (int lie = 0; lie < 3; lie++) {
		struct world *w = world_new(1);
		json_t *doc = room7_agreement(), *v1, *end, *res, *diff;
		int64_t task;

		v1 = json_deep_copy(json_object_get(doc, "active"));
		json_object_set_new(doc, "active", json_null());
		if (lie == 1)
			json_object_set_new(v1, "terms", json_string("We meet weekly."));
		if (lie == 2)
			json_object_set_new(v1, "version", json_integer(2));
		task = command(w, "{\"cmd\":\"agreement.show\",\"room\":7}");
		answer(w, "agreement.show", json_deep_copy(doc));
		for (int i = 0; i < 6 && !task_end(w, task); i++) {
			json_t *last = json_array_get(w->frames, json_array_size(w->frames) - 1);
			const char *op = json_string_value(json_object_get(last, "op"));

			if (op && !strcmp(op, "room.show"))
				answer(w, "room.show", room7_show(NULL, 1));
			else if (op && !strcmp(op, "agreement.show")) {
				json_t *r = json_deep_copy(doc);

				json_object_set(r, "version", v1);
				answer(w, "agreement.show", r);
			} else
				break;
		}
		end = task_end(w, task);
		assert_non_null(end);
		assert_true(json_is_true(json_object_get(end, "ok")));
		res = json_object_get(end, "result");
		diff = json_object_get(res, "diff");
		if (!want_refused[lie]) {
			assert_false(json_is_true(json_object_get(diff, "from_active")));
			assert_int_equal(json_integer_value(json_object_get(diff, "from")), 1);
			assert_int_equal(json_array_size(json_object_get(diff, "signed_by")), 2);
			assert_null(json_object_get(res, "diff_refused"));
		} else {
			assert_false(json_is_object(diff));
			assert_non_null(json_string_value(json_object_get(res, "diff_refused")));
			if (!strstr(json_string_value(json_object_get(res, "diff_refused")),
			            want_refused[lie]))
				fail_msg("lie %d: %s", lie,
				         json_string_value(json_object_get(res, "diff_refused")));
		}
		json_decref(v1);
		json_decref(doc);
		world_free(w);
	}
}

/* The line diff itself: common lines kept, a moved line removed and added, empty texts. */
static void test_line_diff(void **state)
{
	static const struct {
		const char *from, *to, *want;
	} cases[] = {
	    {"a\nb\nc", "a\nb\nc", "=a =b =c"},
	    {"a\nb\nc", "a\nc", "=a -b =c"},
	    {"a\nc", "a\nb\nc", "=a +b =c"},
	    {"a\nb\nc\n", "c\na\nb\n", "+c =a =b -c ="},
	    {"", "x", "- +x"},
	    {"x\nx\ny", "x\ny\ny", "=x -x +y =y"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *d = emc_line_diff(cases[i].from, cases[i].to), *l;
		char got[256] = "";
		size_t k;

		assert_non_null(d);
		json_array_foreach(d, k, l)
		{
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s%s",
			         k ? " " : "", json_string_value(json_object_get(l, "op")),
			         json_string_value(json_object_get(l, "line")));
		}
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("diff %zu: got '%s', want '%s'", i, got, cases[i].want);
		json_decref(d);
	}
}

/*
 * (b) the server moves room 7 to epoch 2 (bob's genuine key: a message goes
 * out under it), and to the next run of the client says epoch 1 again: the
 * epoch seen is remembered, nothing goes out under epoch 1's key.
 */
static void test_send_epoch_seen_then_rollback(void **state)
{
	struct world *w = world_new(1);
	json_t *send_frame, *ob;
	int64_t send;

	(void)state;
	send = command(w, "{\"cmd\":\"send\",\"room\":7,\"text\":\"under epoch 2\"}");
	answer(w, "room.show", room7_show(NULL, 2));
	answer(w, "agreement.show", room7_agreement());
	answer(w, "keys.get",
	       json_pack("{s:I, s:I, s:[o]}", "room_id", (json_int_t)FX_ROOM, "epoch",
	                 (json_int_t)2, "envelopes", room7_envelope(2)));
	send_frame = frame_of(w, "send");
	assert_non_null(send_frame);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(send_frame, "args"), "epoch")), 2);
	answer(w, "send", json_pack("{s:I, s:s}", "seq", (json_int_t)4, "sent_at", FX_SENT_AT));
	assert_true(json_is_true(json_object_get(task_end(w, send), "ok")));

	world_reopen(w);
	send = command(w, "{\"cmd\":\"send\",\"room\":7,\"text\":\"after the rollback\"}");
	answer(w, "room.show", room7_show(NULL, 1));
	answer(w, "room.show", room7_show(NULL, 1)); /* the second, fresh answer says 1 too */
	assert_int_equal(count_frames(w, "send"), 0);
	assert_int_equal(count_frames(w, "epoch.commit"), 0);
	assert_non_null(event_of(w, "warning", "epoch_rollback"));
	assert_false(json_is_true(json_object_get(task_end(w, send), "ok")));
	ob = world_doc(w, STATE_OUTBOX_FILE);
	assert_int_equal(json_array_size(json_object_get(ob, "messages")), 1);
	json_decref(ob);
	world_free(w);
}

/*
 * (b'') the same device, but the first room.show it gets is stale (epoch 1,
 * sent before a commit it has since accepted a key of): the fresh answer
 * says 2, and the message goes out under epoch 2 with no warning.
 */
static void test_send_stale_show_then_fresh(void **state)
{
	struct world *w = world_new(1);
	json_t *send_frame;
	int64_t send;

	(void)state;
	send = command(w, "{\"cmd\":\"send\",\"room\":7,\"text\":\"under epoch 2\"}");
	answer(w, "room.show", room7_show(NULL, 2));
	answer(w, "agreement.show", room7_agreement());
	answer(w, "keys.get",
	       json_pack("{s:I, s:I, s:[o]}", "room_id", (json_int_t)FX_ROOM, "epoch",
	                 (json_int_t)2, "envelopes", room7_envelope(2)));
	answer(w, "send", json_pack("{s:I, s:s}", "seq", (json_int_t)4, "sent_at", FX_SENT_AT));
	assert_true(json_is_true(json_object_get(task_end(w, send), "ok")));

	world_reopen(w);
	send = command(w, "{\"cmd\":\"send\",\"room\":7,\"text\":\"after a stale answer\"}");
	answer(w, "room.show", room7_show(NULL, 1));
	assert_null(task_end(w, send));
	answer(w, "room.show", room7_show(NULL, 2));
	if (!frame_of(w, "send") && frame_of(w, "agreement.show"))
		answer(w, "agreement.show", room7_agreement());
	send_frame = frame_of(w, "send");
	assert_non_null(send_frame);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(send_frame, "args"), "epoch")), 2);
	assert_null(event_of(w, "warning", "epoch_rollback"));
	answer(w, "send", json_pack("{s:I, s:s}", "seq", (json_int_t)5, "sent_at", FX_SENT_AT));
	assert_true(json_is_true(json_object_get(task_end(w, send), "ok")));
	world_free(w);
}

/*
 * (b''') one core that lives on (the browser's): the key of epoch 2 arrives
 * as an event before this core has checked the room, so the envelope waits
 * for room.show (which says epoch 1: it was read before the commit) and the
 * agreement. Once accepted, the room is at epoch 2 here too: the next send
 * goes out under it, and the core does not take its own epoch 1 for a
 * rollback.
 */
static void test_epoch_event_accepted_later(void **state)
{
	struct world *w = world_new(1);
	json_t *send_frame;
	int64_t send;

	(void)state;
	server_says(w, json_pack("{s:s, s:o}", "ev", "epoch", "data", room7_envelope(2)));
	answer(w, "room.show", room7_show(NULL, 1));
	send = command(w, "{\"cmd\":\"send\",\"room\":7,\"text\":\"under epoch 2\"}");
	answer(w, "agreement.show", room7_agreement());
	assert_null(event_of(w, "warning", "epoch_rollback"));
	send_frame = frame_of(w, "send");
	assert_non_null(send_frame);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(send_frame, "args"), "epoch")), 2);
	answer(w, "send", json_pack("{s:I, s:s}", "seq", (json_int_t)4, "sent_at", FX_SENT_AT));
	assert_true(json_is_true(json_object_get(task_end(w, send), "ok")));
	world_free(w);
}

/* (c) the link goes down while `send` waits: the task ends with exit 4, the outbox keeps it. */
static void test_send_link_down(void **state)
{
	struct world *w = world_new(1);
	json_t *ob, *end, *err;
	int64_t send;

	(void)state;
	send = command(w, "{\"cmd\":\"send\",\"room\":7,\"text\":\"through a tunnel\"}");
	assert_non_null(frame_of(w, "room.show"));
	assert_null(task_end(w, send));
	emc_link(w->c, 0, w->now + 10);
	drain(w);
	end = task_end(w, send);
	assert_non_null(end);
	assert_false(json_is_true(json_object_get(end, "ok")));
	/* exit 4 ("the server is unreachable"); the message waits in the outbox (emc.h) */
	err = json_object_get(end, "error");
	assert_int_equal(json_integer_value(json_object_get(err, "exit")), EMC_EXIT_NET);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(end, "result"), "outcome")),
	    "queued");
	assert_int_equal(count_frames(w, "send"), 0);
	ob = world_doc(w, STATE_OUTBOX_FILE);
	assert_int_equal(json_array_size(json_object_get(ob, "messages")), 1);
	json_decref(ob);
	world_free(w);
}

/* (c) the link goes down while `read` waits for history: "unreachable", exit 4. */
static void test_read_link_down(void **state)
{
	struct world *w = world_new(1);
	json_t *end, *err;
	int64_t read;

	(void)state;
	read = command(w, "{\"cmd\":\"read\",\"room\":7}");
	answer(w, "room.show", room7_show(NULL, 1));
	assert_null(task_end(w, read));
	emc_link(w->c, 0, w->now + 10);
	drain(w);
	end = task_end(w, read);
	assert_non_null(end);
	err = json_object_get(end, "error");
	assert_string_equal(json_string_value(json_object_get(err, "code")), "unreachable");
	assert_int_equal(json_integer_value(json_object_get(err, "exit")), EMC_EXIT_NET);
	world_free(w);
}

/*
 * The session is refused when the link comes back (it expired meanwhile): the
 * read started while the link was down ends with exit 3, and none of its
 * requests ever left (they waited for the resume's answer).
 */
static void test_resume_refused(void **state)
{
	struct world *w = world_new(1);
	json_t *f, *reply, *end, *err;
	char *text;
	int64_t read;

	(void)state;
	emc_link(w->c, 0, w->now + 10);
	drain(w);
	json_array_clear(w->frames);
	read = command(w, "{\"cmd\":\"read\",\"room\":7}");
	assert_int_equal(json_array_size(w->frames), 0); /* held: the link is down */
	emc_link(w->c, 1, w->now + 20);
	drain(w);
	assert_int_equal(json_array_size(w->frames), 1);
	f = frame_of(w, "resume");
	assert_non_null(f);
	reply = json_pack("{s:O, s:{s:s, s:s}}", "re", json_object_get(f, "id"), "error", "code",
	                  "session_expired", "message", "session expired");
	text = json_dumps(reply, JSON_COMPACT);
	assert_int_equal(emc_receive(w->c, text, strlen(text), w->now + 30), 0);
	free(text);
	json_decref(reply);
	drain(w);
	assert_int_equal(json_array_size(w->frames), 1); /* still only the resume */
	end = task_end(w, read);
	assert_non_null(end);
	err = json_object_get(end, "error");
	assert_int_equal(json_integer_value(json_object_get(err, "exit")), EMC_EXIT_AUTH);
	assert_non_null(event_of(w, "session", NULL));
	world_free(w);
}

/* `live` on room 7 up to its first sync request. */
static int64_t live_until_sync(struct world *w)
{
	int64_t live = command(w, "{\"cmd\":\"live\",\"room\":7}");

	answer(w, "room.show", room7_show(NULL, 1));
	answer(w, "keys.get",
	       json_pack("{s:I, s:I, s:[]}", "room_id", (json_int_t)FX_ROOM, "epoch", (json_int_t)1,
	                 "envelopes"));
	assert_non_null(event_of(w, "live", NULL));
	answer(w, "room.list", json_pack("{s:[{s:I}]}", "rooms", "id", (json_int_t)FX_ROOM));
	assert_non_null(frame_of(w, "sync"));
	assert_null(task_end(w, live));
	return live;
}

/*
 * (c) The link goes down while `live` waits for its sync (a restarting
 * server, a second drop during a reconnect): when it is back, the task syncs
 * again from its cursor instead of ending with the lost request's error.
 */
static void test_live_link_down_during_sync(void **state)
{
	struct world *w = world_new(1);
	int64_t live;

	(void)state;
	live = live_until_sync(w);
	emc_link(w->c, 0, w->now + 10);
	drain(w);
	w->now += 1000;
	emc_tick(w->c, w->now);
	drain(w);
	assert_null(task_end(w, live));
	json_array_clear(w->frames);
	world_link_up(w);
	w->now += 300;
	emc_tick(w->c, w->now);
	drain(w);
	assert_null(task_end(w, live));
	answer(w, "room.list", json_pack("{s:[{s:I}]}", "rooms", "id", (json_int_t)FX_ROOM));
	assert_non_null(frame_of(w, "sync"));
	answer(w, "sync",
	       json_pack("{s:[{s:I, s:I}]}", "rooms", "room_id", (json_int_t)FX_ROOM, "last_seq",
	                 (json_int_t)0));
	assert_null(task_end(w, live));
	assert_non_null(event_of(w, "subscribed", NULL));
	world_free(w);
}

/*
 * Receipts and typing name people by the keys pinned on this device, never by
 * the server's word: a receipt for bob that the server labels "mallory"
 * shows bob, and someone this device has never pinned shows as "someone".
 */
static void test_live_names_are_pinned(void **state)
{
	struct world *w = world_new(1);
	json_t *e;

	(void)state;
	live_until_sync(w);
	answer(w, "sync",
	       json_pack("{s:[{s:I, s:I}]}", "rooms", "room_id", (json_int_t)FX_ROOM, "last_seq",
	                 (json_int_t)0));
	assert_non_null(event_of(w, "subscribed", NULL));
	server_says(w, json_pack("{s:s, s:{s:I, s:I, s:s, s:I}}", "ev", "receipt", "data",
	                         "room_id", (json_int_t)FX_ROOM, "user_id", (json_int_t)FX_BOB,
	                         "username", "mallory", "seq", (json_int_t)3));
	w->now += 1000;
	emc_tick(w->c, w->now);
	drain(w);
	e = event_of(w, "receipt", NULL);
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "username")), "bob");
	server_says(w, json_pack("{s:s, s:{s:I, s:I, s:s}}", "ev", "typing", "data", "room_id",
	                         (json_int_t)FX_ROOM, "user_id", (json_int_t)999, "username",
	                         "mallory"));
	w->now += 1000;
	emc_tick(w->c, w->now);
	drain(w);
	e = event_of(w, "typing", NULL);
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "username")), "someone");
	world_free(w);
}

/*
 * (c) A server that cannot take the sync for now (`busy` while it restarts,
 * `db_unavailable`): `live` asks again after retry_after_ms instead of ending.
 */
static void test_live_sync_busy(void **state)
{
	struct world *w = world_new(1);
	int64_t live;

	(void)state;
	live = live_until_sync(w);
	answer_error(w, "sync", "busy", 1000);
	assert_null(task_end(w, live));
	json_array_clear(w->frames);
	w->now += 200;
	emc_tick(w->c, w->now);
	drain(w);
	assert_null(frame_of(w, "room.list")); /* not before retry_after_ms */
	assert_null(frame_of(w, "sync"));
	w->now += 10000;
	emc_tick(w->c, w->now);
	drain(w);
	assert_null(task_end(w, live));
	answer_error(w, "room.list", "db_unavailable", 0);
	assert_null(task_end(w, live));
	json_array_clear(w->frames);
	w->now += 10000;
	emc_tick(w->c, w->now);
	drain(w);
	answer(w, "room.list", json_pack("{s:[{s:I}]}", "rooms", "id", (json_int_t)FX_ROOM));
	answer(w, "sync",
	       json_pack("{s:[{s:I, s:I}]}", "rooms", "room_id", (json_int_t)FX_ROOM, "last_seq",
	                 (json_int_t)0));
	assert_null(task_end(w, live));
	assert_non_null(event_of(w, "subscribed", NULL));
	world_free(w);
}

/*
 * (c) A "room" event while `live` runs (a member signed, the roster moved):
 * the room is asked about once, and once answered the chat goes on; the
 * handler runs again when room.show answers, and must not ask again then.
 */
static void test_live_room_event_asks_once(void **state)
{
	struct world *w = world_new(1);
	int64_t live;

	(void)state;
	live = live_until_sync(w);
	answer(w, "sync",
	       json_pack("{s:[{s:I, s:I}]}", "rooms", "room_id", (json_int_t)FX_ROOM, "last_seq",
	                 (json_int_t)0));
	json_array_clear(w->frames);
	server_says(w, json_pack("{s:s, s:{s:I, s:s}}", "ev", "room", "data", "room_id",
	                         (json_int_t)FX_ROOM, "change", "agreement"));
	w->now += 1000;
	emc_tick(w->c, w->now);
	drain(w);
	assert_int_equal(count_frames(w, "room.show"), 1);
	answer(w, "room.show", room7_show(NULL, 1));
	if (frame_of(w, "agreement.show"))
		answer(w, "agreement.show", room7_agreement());
	for (int i = 0; i < 5; i++) {
		w->now += 1000;
		emc_tick(w->c, w->now);
		drain(w);
	}
	assert_int_equal(count_frames(w, "room.show"), 1);
	assert_null(task_end(w, live));
	world_free(w);
}

/*
 * (c) A hostile server answers `busy` with a retry_after_ms of a year to park
 * the chat: it is believed only up to a minute, then `live` asks again.
 */
static void test_live_retry_after_capped(void **state)
{
	struct world *w = world_new(1);
	int64_t live;

	(void)state;
	live = live_until_sync(w);
	answer_error(w, "sync", "busy", 365LL * 86400 * 1000);
	json_array_clear(w->frames);
	w->now += 59000;
	emc_tick(w->c, w->now);
	drain(w);
	assert_null(frame_of(w, "room.list")); /* a minute is believed */
	w->now += 2000;
	emc_tick(w->c, w->now);
	drain(w);
	assert_non_null(frame_of(w, "room.list")); /* a year is not */
	assert_null(task_end(w, live));
	world_free(w);
}

/* A diary record of room 7, epoch 1: written for `checkpoint` by `author` (id) as kind/number,
 * signed by `signer`; listed as `listed_author`. */
static json_t *diary_record(const struct em_keys *signer, int64_t author, int64_t listed_author,
                            int64_t checkpoint, unsigned kind, uint32_t number, const char *text)
{
	unsigned char key[EM_ROOM_KEY_BYTES], sig[EM_SIG_BYTES];
	unsigned char *ct = malloc(EM_MSG_CIPHERTEXT_MAX);
	struct em_diary_ref ref = {.room_id = FX_ROOM,
	                           .checkpoint_id = (uint64_t)checkpoint,
	                           .epoch = 1,
	                           .author_id = (uint64_t)author,
	                           .kind = kind,
	                           .number = number};
	json_t *rec;
	int n;

	assert_non_null(ct);
	fx_room_key(FX_ROOM, 1, key);
	n = em_diary_encrypt(key, &ref, FX_WRITTEN_MS, (const unsigned char *)text, strlen(text),
	                     signer->sign_sk, ct, sig);
	assert_true(n > 0);
	rec =
	    json_pack("{s:I, s:I, s:s, s:I, s:I, s:I, s:o, s:o, s:s}", "checkpoint_id",
	              (json_int_t)21, "room_id", (json_int_t)FX_ROOM, "kind",
	              kind == EM_DIARY_ENTRY ? "entry" : "remark", "number", (json_int_t)number,
	              "author_id", (json_int_t)listed_author, "epoch", (json_int_t)1, "ciphertext",
	              b64(ct, (size_t)n), "sig", b64(sig, sizeof(sig)), "created_at", FX_SENT_AT);
	free(ct);
	return rec;
}

/*
 * The diary of meeting 21 of room 7 as a lying server shows it: alice's
 * genuine entry (read), her entry for meeting 22 moved here, a remark by bob
 * credited to carol, an "entry" bob signed although he is the room's mentor
 * under the verified agreement: each is shown for what it is, none dropped,
 * no text of a record that does not verify.
 */
static void test_diary_show_lies(void **state)
{
	struct world *w = world_new(1);
	struct em_keys alice, bob;
	json_t *end, *res, *entries, *remarks;
	int64_t show;

	(void)state;
	fx_keys('a', &alice);
	fx_keys('b', &bob);
	show = command(w, "{\"cmd\":\"diary.show\",\"checkpoint\":21}");
	answer(w, "diary.show",
	       json_pack(
	           "{s:I, s:I, s:s, s:[o, o, o], s:[o, o]}", "checkpoint_id", (json_int_t)21,
	           "room_id", (json_int_t)FX_ROOM, "state", "held", "entries",
	           diary_record(&alice, FX_ALICE, FX_ALICE, 21, EM_DIARY_ENTRY, 1, "our goals"),
	           diary_record(&alice, FX_ALICE, FX_ALICE, 22, EM_DIARY_ENTRY, 2, "moved"),
	           diary_record(&bob, FX_BOB, FX_BOB, 21, EM_DIARY_ENTRY, 3, "not his"), "remarks",
	           diary_record(&bob, FX_BOB, FX_BOB, 21, EM_DIARY_REMARK, 1, "well done"),
	           diary_record(&bob, FX_BOB, FX_CAROL, 21, EM_DIARY_REMARK, 2, "who?")));
	if (!task_end(w, show) && frame_of(w, "room.show"))
		answer(w, "room.show", room7_show(NULL, 1));
	if (!task_end(w, show) && frame_of(w, "agreement.show"))
		answer(w, "agreement.show", room7_agreement());
	end = task_end(w, show);
	assert_non_null(end);
	assert_true(json_is_true(json_object_get(end, "ok")));
	res = json_object_get(end, "result");
	entries = json_object_get(res, "entries");
	remarks = json_object_get(res, "remarks");
	assert_int_equal(json_array_size(entries), 3);
	assert_int_equal(json_array_size(remarks), 2);
	assert_false(json_is_true(json_object_get(res, "verified")));
	/* the genuine ones */
	assert_string_equal(json_string_value(json_object_get(json_array_get(entries, 0), "text")),
	                    "our goals");
	assert_string_equal(json_string_value(json_object_get(json_array_get(remarks, 0), "text")),
	                    "well done");
	/* moved from meeting 22, re-attributed to carol: unverifiable, no text */
	assert_null(json_object_get(json_array_get(entries, 1), "text"));
	assert_non_null(
	    strstr(json_string_value(json_object_get(json_array_get(entries, 1), "error")),
	           "UNVERIFIABLE"));
	assert_null(json_object_get(json_array_get(remarks, 1), "text"));
	assert_non_null(
	    strstr(json_string_value(json_object_get(json_array_get(remarks, 1), "error")),
	           "UNVERIFIABLE"));
	/* the mentor's signed "entry": read, but flagged by the agreement's roles */
	assert_true(json_is_true(json_object_get(res, "roles_checked")));
	assert_non_null(strstr(
	    json_string_value(json_object_get(json_array_get(entries, 2), "warning")), "mentor"));
	/* the entry shown is the latest verified version by a mentee: the genuine one */
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(res, "entry"), "text")), "our goals");
	em_keys_wipe(&alice);
	em_keys_wipe(&bob);
	world_free(w);
}

/* A Meeting of room `room` numbered `id`, with revision `revision` of bob's topic `text`
 * sealed for meeting `sealed_for`.
 */
static json_t *room7_meeting_rev(int64_t room, int64_t id, int64_t sealed_for, const char *text,
                                 uint32_t revision)
{
	unsigned char key[EM_ROOM_KEY_BYTES], ct[EM_TOPIC_CT_MAX], sig[EM_SIG_BYTES];
	struct emc_topic_ref ref = {.room_id = FX_ROOM,
	                            .meeting_id = (uint64_t)sealed_for,
	                            .epoch = 1,
	                            .author_id = FX_BOB,
	                            .revision = revision};
	struct em_keys bob;
	json_t *m = json_pack("{s:I, s:I, s:s, s:s, s:n}", "id", (json_int_t)id, "room_id",
	                      (json_int_t)room, "kind", "session", "state", "open", "topic");
	int n;

	if (!text)
		return m;
	fx_keys('b', &bob);
	fx_room_key(FX_ROOM, 1, key);
	n = emc_topic_seal(key, &ref, FX_WRITTEN_MS, text, strlen(text), bob.sign_sk, ct, sig);
	assert_true(n > 0);
	json_object_set_new(m, "topic",
	                    json_pack("{s:i, s:i, s:I, s:s, s:o, s:o}", "revision", (int)revision,
	                              "epoch", 1, "author_id", (json_int_t)FX_BOB, "author", "bob",
	                              "ciphertext", b64(ct, (size_t)n), "sig",
	                              b64(sig, sizeof(sig))));
	em_keys_wipe(&bob);
	return m;
}

static json_t *room7_meeting(int64_t room, int64_t id, int64_t sealed_for, const char *text)
{
	return room7_meeting_rev(room, id, sealed_for, text, 1);
}

/* The topic of the first meeting of a finished meeting.plan task. */
static json_t *plan_topic(struct world *w, int64_t plan)
{
	json_t *end = task_end(w, plan);

	assert_non_null(end);
	assert_true(json_is_true(json_object_get(end, "ok")));
	return json_object_get(
	    json_array_get(json_object_get(json_object_get(end, "result"), "meetings"), 0),
	    "topic");
}

/*
 * M-T4: the device remembers the highest revision of a topic it verified. A
 * server that then serves an older signed revision as the latest is named in
 * a warning (the older text is still bob's); one that drops the topic gets an
 * error, never "none yet"; a revision the device never went past is plain.
 */
static void test_plan_topic_rollback(void **state)
{
	struct world *w = world_new(1);
	json_t *topic;
	int64_t plan;

	(void)state;
	plan = command(w, "{\"cmd\":\"meeting.plan\",\"room\":7}");
	answer(w, "room.show", room7_show(NULL, 1));
	answer(w, "meeting.plan",
	       json_pack("{s:I, s:I, s:[o]}", "room_id", (json_int_t)FX_ROOM, "epoch",
	                 (json_int_t)1, "meetings",
	                 room7_meeting_rev(FX_ROOM, 41, 41, "the CV, revised", 2)));
	topic = plan_topic(w, plan);
	assert_string_equal(json_string_value(json_object_get(topic, "text")), "the CV, revised");
	assert_null(json_object_get(topic, "warning"));
	json_array_clear(w->events);
	plan = command(w, "{\"cmd\":\"meeting.plan\",\"room\":7}");
	answer(w, "meeting.plan",
	       json_pack("{s:I, s:I, s:[o]}", "room_id", (json_int_t)FX_ROOM, "epoch",
	                 (json_int_t)1, "meetings",
	                 room7_meeting_rev(FX_ROOM, 41, 41, "the CV", 1)));
	topic = plan_topic(w, plan);
	assert_string_equal(json_string_value(json_object_get(topic, "text")), "the CV");
	assert_non_null(
	    strstr(json_string_value(json_object_get(topic, "warning")), "has seen revision 2"));
	json_array_clear(w->events);
	plan = command(w, "{\"cmd\":\"meeting.plan\",\"room\":7}");
	answer(w, "meeting.plan",
	       json_pack("{s:I, s:I, s:[o]}", "room_id", (json_int_t)FX_ROOM, "epoch",
	                 (json_int_t)1, "meetings", room7_meeting_rev(FX_ROOM, 41, 41, NULL, 1)));
	topic = plan_topic(w, plan);
	assert_null(json_object_get(topic, "text"));
	assert_non_null(
	    strstr(json_string_value(json_object_get(topic, "error")), "verified revision 2"));
	world_free(w);
}

/*
 * meeting.plan (PROTOCOL.md 6.4, SECURITY.md M-T1): bob's topic of meeting
 * 41 opens there; the same topic listed under meeting 42 is unverifiable,
 * never its text.
 */
static void test_plan_topic_moved(void **state)
{
	struct world *w = world_new(1);
	json_t *end, *meetings;
	int64_t plan;

	(void)state;
	plan = command(w, "{\"cmd\":\"meeting.plan\",\"room\":7}");
	answer(w, "room.show", room7_show(NULL, 1));
	answer(w, "meeting.plan",
	       json_pack("{s:I, s:I, s:[o, o]}", "room_id", (json_int_t)FX_ROOM, "epoch",
	                 (json_int_t)1, "meetings",
	                 room7_meeting(FX_ROOM, 41, 41, "goals and the CV"),
	                 room7_meeting(FX_ROOM, 42, 41, "goals and the CV")));
	end = task_end(w, plan);
	assert_non_null(end);
	assert_true(json_is_true(json_object_get(end, "ok")));
	meetings = json_object_get(json_object_get(end, "result"), "meetings");
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(json_array_get(meetings, 0), "topic"), "text")),
	                    "goals and the CV");
	assert_null(json_object_get(json_object_get(json_array_get(meetings, 1), "topic"), "text"));
	assert_non_null(strstr(json_string_value(json_object_get(
	                           json_object_get(json_array_get(meetings, 1), "topic"), "error")),
	                       "unverifiable"));
	world_free(w);
}

/* M-T2: a plan of room 7 that lists a meeting of room 8, or one id twice, is refused whole.
 */
static void test_plan_wrong_room_or_twice(void **state)
{
	struct world *w = world_new(1);
	json_t *end;
	int64_t plan;

	(void)state;
	plan = command(w, "{\"cmd\":\"meeting.plan\",\"room\":7}");
	answer(w, "room.show", room7_show(NULL, 1));
	answer(w, "meeting.plan",
	       json_pack("{s:I, s:I, s:[o, o]}", "room_id", (json_int_t)FX_ROOM, "epoch",
	                 (json_int_t)1, "meetings", room7_meeting(FX_ROOM, 41, 41, NULL),
	                 room7_meeting(FX_ROOM_FREE, 43, 43, NULL)));
	end = task_end(w, plan);
	assert_non_null(end);
	assert_true(json_is_false(json_object_get(end, "ok")));
	assert_non_null(
	    strstr(json_string_value(json_object_get(json_object_get(end, "error"), "message")),
	           "another room"));
	json_array_clear(w->events);
	plan = command(w, "{\"cmd\":\"meeting.plan\",\"room\":7}");
	answer(w, "meeting.plan",
	       json_pack("{s:I, s:I, s:[o, o]}", "room_id", (json_int_t)FX_ROOM, "epoch",
	                 (json_int_t)1, "meetings", room7_meeting(FX_ROOM, 41, 41, NULL),
	                 room7_meeting(FX_ROOM, 41, 41, NULL)));
	end = task_end(w, plan);
	assert_non_null(end);
	assert_true(json_is_false(json_object_get(end, "ok")));
	assert_non_null(strstr(
	    json_string_value(json_object_get(json_object_get(end, "error"), "message")), "twice"));
	world_free(w);
}

/*
 * A4 (SECURITY.md): a version that seats a `support` party (a manager who holds
 * the room key in a support room, PROTOCOL.md 15.1) beside more than one
 * mentor or mentee is refused before any signature is looked at: the server
 * cannot make a manager a key holder of a mentoring room under that role.
 */
static void test_support_party_in_a_group_refused(void **state)
{
	struct world *w = world_new(1);
	json_t *doc = room7_agreement(), *parties, *warning;
	struct em_keys carol;

	(void)state;
	fx_keys('c', &carol);
	parties = json_object_get(json_object_get(doc, "active"), "parties");
	json_object_set_new(json_array_get(parties, 1), "role", json_string("support"));
	json_array_append_new(parties,
	                      json_pack("{s:I, s:s, s:s, s:o, s:o, s:n}", "user_id",
	                                (json_int_t)FX_CAROL, "username", "carol", "role", "mentee",
	                                "sign_pk", b64(carol.sign_pk, EM_SIGN_PK_BYTES), "box_pk",
	                                b64(carol.box_pk, EM_BOX_PK_BYTES), "signature"));
	/* version 2, new to this device (version 1 is verified here already) */
	json_object_set_new(json_object_get(doc, "active"), "version", json_integer(2));
	command(w, "{\"cmd\":\"send\",\"room\":7,\"text\":\"hello\"}");
	answer(w, "room.show", room7_show(NULL, 1));
	if (frame_of(w, "agreement.show"))
		answer(w, "agreement.show", doc);
	else
		json_decref(doc);
	warning = event_of(w, "warning", "agreement_refused");
	if (!warning) {
		char *dbg = json_dumps(w->frames, JSON_COMPACT),
		     *ev = json_dumps(w->events, JSON_COMPACT);
		fprintf(stderr, "frames: %.1200s\nevents: %.1500s\n", dbg, ev);
		free(dbg);
		free(ev);
	}
	assert_non_null(warning);
	assert_non_null(strstr(json_string_value(json_object_get(warning, "text")) ?: "",
	                       "seats a manager as a support room's member beside someone else"));
	em_keys_wipe(&carol);
	world_free(w);
}

/*
 * An announcement to a programme of 300 (PROTOCOL.md 15.2): the body and the
 * first 250 key records go in announce.send (more: true), the other 51 (300
 * and our own) in announce.keys, and the task waits for that last answer.
 * Every person listed gets exactly one key record, which opens with their box
 * key to the content key that opens the body signed with our key.
 */
#define ANN_PEOPLE 300
static void test_announce_batches(void **state)
{
	struct world *w = world_new(1);
	unsigned char(*box_sk)[32] = calloc(ANN_PEOPLE, 32), spk[32], ssk[64], bpk[32];
	unsigned char *keys = malloc(2 * EM_ANNOUNCE_BATCH_MAX * EM_ANNOUNCE_KEY_BYTES), body[4096];
	unsigned char key[ANNOUNCE_KEY_BYTES];
	char text[EM_ANNOUNCE_TEXT_MAX + 1];
	int seen[ANN_PEOPLE] = {0};
	json_t *people = json_array(), *f;
	struct announce_meta m;
	struct em_keys alice;
	size_t nkeys = 0, n;
	int64_t id;
	int len, blen;

	(void)state;
	assert_non_null(box_sk);
	assert_non_null(keys);
	for (int i = 0; i < ANN_PEOPLE; i++) {
		char name[16];

		crypto_sign_keypair(spk, ssk);
		crypto_box_keypair(bpk, box_sk[i]);
		snprintf(name, sizeof(name), "p%d", 1000 + i);
		json_array_append_new(people, json_pack("{s:I, s:s, s:s, s:s, s:o, s:o}", "id",
		                                        (json_int_t)(1000 + i), "username", name,
		                                        "display_name", name, "role",
		                                        i % 2 ? "mentee" : "mentor", "sign_pk",
		                                        b64(spk, 32), "box_pk", b64(bpk, 32)));
	}
	/* a refused last batch fails the task: nothing says it was delivered */
	id = command(w, "{\"cmd\":\"announce.send\",\"programme\":1,\"to\":\"all\","
	                "\"text\":\"the mid-term week starts on Monday\"}");
	answer(w, "programme.show",
	       json_pack("{s:{s:I}, s:O}", "programme", "id", (json_int_t)FX_PROGRAMME, "people",
	                 people));
	answer(
	    w, "announce.send",
	    json_pack("{s:i, s:b, s:i}", "announcement_id", 4, "delivered", 0, "recipients", 250));
	assert_null(task_end(w, id));
	answer_error(w, "announce.keys", "not_in_programme", 0);
	assert_false(json_is_true(json_object_get(task_end(w, id), "ok")));
	json_array_clear(w->frames);
	/* and all the way */
	id = command(w, "{\"cmd\":\"announce.send\",\"programme\":1,\"to\":\"all\","
	                "\"text\":\"the mid-term week starts on Monday\"}");
	answer(w, "programme.show",
	       json_pack("{s:{s:I}, s:o}", "programme", "id", (json_int_t)FX_PROGRAMME, "people",
	                 people));
	f = frame_of(w, "announce.send");
	assert_non_null(f);
	assert_true(json_is_true(json_object_get(json_object_get(f, "args"), "more")));
	len = em_b64_decode(json_string_value(json_object_get(json_object_get(f, "args"), "keys")),
	                    keys, 2 * EM_ANNOUNCE_BATCH_MAX * EM_ANNOUNCE_KEY_BYTES);
	assert_int_equal(len, EM_ANNOUNCE_BATCH_MAX * EM_ANNOUNCE_KEY_BYTES);
	nkeys = (size_t)len / EM_ANNOUNCE_KEY_BYTES;
	blen = em_b64_decode(json_string_value(json_object_get(json_object_get(f, "args"), "body")),
	                     body, sizeof(body));
	assert_true(blen > 0);
	m = (struct announce_meta){
	    FX_PROGRAMME, FX_ALICE,
	    json_integer_value(json_object_get(json_object_get(f, "args"), "written_ms")), "all"};
	assert_null(frame_of(w, "announce.keys"));
	answer(
	    w, "announce.send",
	    json_pack("{s:i, s:b, s:i}", "announcement_id", 5, "delivered", 0, "recipients", 250));
	f = frame_of(w, "announce.keys");
	assert_non_null(f);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(f, "args"), "announcement_id")), 5);
	assert_false(json_is_true(json_object_get(json_object_get(f, "args"), "more")));
	len = em_b64_decode(json_string_value(json_object_get(json_object_get(f, "args"), "keys")),
	                    keys + nkeys * EM_ANNOUNCE_KEY_BYTES,
	                    EM_ANNOUNCE_BATCH_MAX * EM_ANNOUNCE_KEY_BYTES);
	assert_int_equal(len, (ANN_PEOPLE + 1 - EM_ANNOUNCE_BATCH_MAX) * EM_ANNOUNCE_KEY_BYTES);
	nkeys += (size_t)len / EM_ANNOUNCE_KEY_BYTES;
	assert_null(task_end(w, id)); /* the last batch is not answered yet */
	answer(
	    w, "announce.keys",
	    json_pack("{s:i, s:b, s:i}", "announcement_id", 5, "delivered", 1, "recipients", 301));
	assert_true(json_is_true(json_object_get(task_end(w, id), "ok")));
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(task_end(w, id), "result"), "recipients")),
	                 ANN_PEOPLE + 1);
	/* each person once, each record opening to the key of the body alice signed */
	fx_keys('a', &alice);
	for (size_t k = 0; k < nkeys; k++) {
		const unsigned char *r = keys + k * EM_ANNOUNCE_KEY_BYTES;
		uint64_t uid = 0;

		for (int b = 0; b < 8; b++)
			uid = uid << 8 | r[b];
		if (uid == FX_ALICE)
			continue;
		assert_true(uid >= 1000 && uid < 1000 + ANN_PEOPLE);
		assert_int_equal(seen[uid - 1000]++, 0);
		crypto_scalarmult_base(bpk, box_sk[uid - 1000]);
		assert_int_equal(
		    announce_key_open(r + 8, ANNOUNCE_SEALED, bpk, box_sk[uid - 1000], key), 0);
		if (k == 7) {
			assert_int_equal(announce_body_open(&m, body, (size_t)blen, key,
			                                    alice.sign_pk, text, &n, NULL),
			                 ANNOUNCE_OK);
			assert_string_equal(text, "the mid-term week starts on Monday");
		}
	}
	for (int i = 0; i < ANN_PEOPLE; i++)
		assert_int_equal(seen[i], 1);
	em_keys_wipe(&alice);
	free(keys);
	free(box_sk);
	world_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read_genuine),
	    cmocka_unit_test(test_resume_refused),
	    cmocka_unit_test(test_read_member_key_changed),
	    cmocka_unit_test(test_send_epoch_rollback),
	    cmocka_unit_test(test_send_epoch_seen_then_rollback),
	    cmocka_unit_test(test_send_stale_show_then_fresh),
	    cmocka_unit_test(test_epoch_event_accepted_later),
	    cmocka_unit_test(test_send_link_down),
	    cmocka_unit_test(test_read_link_down),
	    cmocka_unit_test(test_live_link_down_during_sync),
	    cmocka_unit_test(test_live_sync_busy),
	    cmocka_unit_test(test_live_names_are_pinned),
	    cmocka_unit_test(test_live_room_event_asks_once),
	    cmocka_unit_test(test_live_retry_after_capped),
	    cmocka_unit_test(test_diary_show_lies),
	    cmocka_unit_test(test_agreement_diff_is_the_clients),
	    cmocka_unit_test(test_agreement_diff_from_the_version_before),
	    cmocka_unit_test(test_line_diff),
	    cmocka_unit_test(test_plan_topic_moved),
	    cmocka_unit_test(test_plan_wrong_room_or_twice),
	    cmocka_unit_test(test_plan_topic_rollback),
	    cmocka_unit_test(test_announce_batches),
	    cmocka_unit_test(test_support_party_in_a_group_refused),
	};

	if (sodium_init() < 0)
		return 1;
	setenv("TZ", "UTC", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
