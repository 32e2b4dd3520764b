/*
 * seeds.c - writes the seed frames of fuzz_client into a directory:
 * `fuzz_client_seeds tests/fuzz/corpus/client` (built on demand:
 * `cmake --build build --target fuzz_client_seeds`). The frames are what a
 * server could send in the world of fixture.h, with real signatures,
 * envelopes and ciphertexts where the client checks them, and hostile
 * variants (forged, resealed, mislabelled, escape sequences in text). Keys
 * are fixed, so rerunning it writes the same frames except for the random
 * nonces of messages and sealed boxes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "em_crypto.h"
#include "em_proto.h"
#include "fixture.h"

static const char *dir;
static struct em_keys alice, bob, carol, dave, mallory;

static void put(const char *name, json_t *frame)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.json", dir, name);
	f = fopen(path, "w");
	if (!f || json_dumpf(frame, f, JSON_COMPACT) != 0) {
		fprintf(stderr, "fuzz_client_seeds: cannot write %s\n", path);
		exit(1);
	}
	fclose(f);
	json_decref(frame);
}

static json_t *b64(const unsigned char *bin, size_t len)
{
	char *s = em_b64_encode(bin, len);
	json_t *j = json_string(s);

	free(s);
	return j;
}

static json_t *event(const char *ev, json_t *data)
{
	return json_pack("{s:s, s:o}", "ev", ev, "data", data);
}

static json_t *reply(json_t *result)
{
	return json_pack("{s:i, s:o}", "re", 1, "ok", result);
}

/* A message of room 7 by `sender_id`, signed with `signer`, encrypted with the epoch's key. */
static json_t *message(int64_t seq, int64_t epoch, int64_t sender_id, const char *sender,
                       const struct em_keys *signer, const char *text)
{
	unsigned char key[EM_ROOM_KEY_BYTES], id[EM_MSG_ID_BYTES], sig[EM_SIG_BYTES];
	unsigned char *ct = malloc(EM_MSG_CIPHERTEXT_MAX);
	int n;
	json_t *m;

	fx_room_key(epoch, key);
	memset(id, (int)seq, sizeof(id));
	n = em_msg_encrypt(key, FX_ROOM, (uint64_t)epoch, (uint64_t)sender_id, id,
	                   (const unsigned char *)text, strlen(text), signer->sign_sk, ct, sig);
	m = json_pack("{s:i, s:I, s:I, s:I, s:s, s:s, s:o, s:o, s:o}", "room_id", FX_ROOM, "seq",
	              (json_int_t)seq, "epoch", (json_int_t)epoch, "sender_id",
	              (json_int_t)sender_id, "sender", sender, "sent_at", "2026-12-03T10:00:00Z",
	              "client_msg_id", b64(id, sizeof(id)), "ciphertext", b64(ct, (size_t)n), "sig",
	              b64(sig, sizeof(sig)));
	free(ct);
	return m;
}

/* Room 7's key of `epoch` as `committer` (with `signer`'s key) seals it to alice. */
static json_t *envelope(int64_t epoch, int64_t committer, const struct em_keys *signer,
                        int64_t named_committer, int genuine)
{
	unsigned char key[EM_ROOM_KEY_BYTES], sealed[EM_SEALED_KEY_BYTES];

	fx_room_key(epoch, key);
	if (!genuine)
		memset(key, 'X', sizeof(key));
	em_room_key_seal(key, FX_ROOM, (uint64_t)epoch, FX_ALICE, (uint64_t)committer,
	                 signer->sign_sk, alice.box_pk, sealed);
	return json_pack("{s:i, s:I, s:I, s:o}", "room_id", FX_ROOM, "epoch", (json_int_t)epoch,
	                 "committer_id", (json_int_t)named_committer, "sealed",
	                 b64(sealed, sizeof(sealed)));
}

static json_t *user(int64_t id, const char *name, const struct em_keys *k, int roster)
{
	char fp[EM_FINGERPRINT_STRLEN];

	em_fingerprint(k->sign_pk, k->box_pk, fp);
	return json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:s, s:b}", "id", (json_int_t)id,
	                 "username", name, "display_name", name, "role",
	                 id == FX_BOB ? "mentor" : "mentee", "sign_pk",
	                 b64(k->sign_pk, EM_SIGN_PK_BYTES), "box_pk",
	                 b64(k->box_pk, EM_BOX_PK_BYTES), "fingerprint", fp, "roster", roster);
}

/* A Version of room 7 between alice and bob; `sign` says who signs (a, b, forged m). */
static json_t *version(uint32_t number, const char *terms, const char *sign_alice,
                       const char *sign_bob)
{
	struct em_party parties[2] = {{FX_ALICE, "mentee", {0}, {0}}, {FX_BOB, "mentor", {0}, {0}}};
	const char *starts = "2026-01-01", *ends = "2026-12-31";
	const char *how[2] = {sign_alice, sign_bob};
	const struct em_keys *keys[2] = {&alice, &bob};
	json_t *list = json_array();

	memcpy(parties[0].sign_pk, alice.sign_pk, 32);
	memcpy(parties[0].box_pk, alice.box_pk, 32);
	memcpy(parties[1].sign_pk, bob.sign_pk, 32);
	memcpy(parties[1].box_pk, bob.box_pk, 32);
	for (int i = 0; i < 2; i++) {
		unsigned char sig[EM_SIG_BYTES];
		struct em_party copy[2];
		json_t *p = json_pack(
		    "{s:I, s:s, s:s, s:s, s:o, s:o}", "user_id", (json_int_t)parties[i].user_id,
		    "username", i ? "bob" : "alice", "display_name", i ? "Bob" : "Alice", "role",
		    parties[i].role, "sign_pk", b64(parties[i].sign_pk, 32), "box_pk",
		    b64(parties[i].box_pk, 32));

		memcpy(copy, parties, sizeof(copy));
		if (how[i][0] == 's' || how[i][0] == 'w') {
			em_agreement_sign(FX_ROOM, number, starts, ends, terms, copy, 2,
			                  keys[i]->sign_sk, sig);
			json_object_set_new(p, "signature", b64(sig, sizeof(sig)));
			json_object_set_new(p, "signed_at", json_string("2026-01-02T10:00:00Z"));
		} else if (how[i][0] == 'f') {
			em_agreement_sign(FX_ROOM, number, starts, ends, terms, copy, 2,
			                  mallory.sign_sk, sig);
			json_object_set_new(p, "signature", b64(sig, sizeof(sig)));
			json_object_set_new(p, "signed_at", json_string("2026-01-02T10:00:00Z"));
		} else {
			json_object_set_new(p, "signature", json_null());
		}
		json_object_set_new(p, "withdrawn_at",
		                    how[i][0] == 'w' ? json_string("2026-02-01T10:00:00Z")
		                                     : json_null());
		json_array_append_new(list, p);
	}
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s?, s:o}", "version", (json_int_t)number,
	                 "starts_on", starts, "ends_on", ends, "terms", terms, "created_at",
	                 "2026-01-01T09:00:00Z", "activated_at",
	                 number == 1 ? "2026-01-02T10:00:00Z" : NULL, "parties", list);
}

static json_t *consent_entry(int64_t seq, const char *purpose, const char *subject,
                             const char *action, const struct em_keys *signer)
{
	unsigned char hash[EM_HASH_BYTES], sig[EM_SIG_BYTES];
	int64_t at = 1796292000;

	em_text_hash("the privacy notice", hash);
	em_consent_sign(alice.sign_pk, purpose, subject, hash, action, at, signer->sign_sk, sig);
	return json_pack("{s:I, s:s, s:s, s:o, s:s, s:I, s:o, s:s}", "seq", (json_int_t)seq,
	                 "purpose", purpose, "subject", subject, "text_hash",
	                 b64(hash, sizeof(hash)), "action", action, "at", (json_int_t)at,
	                 "signature", b64(sig, sizeof(sig)), "recorded_at", "2026-12-03T10:00:00Z");
}

static void events(void)
{
	put("ev-message", event("message", message(1, 1, FX_BOB, "bob", &bob, "hello alice")));
	put("ev-message-forged",
	    event("message", message(1, 1, FX_BOB, "bob", &mallory, "I am bob, really")));
	put("ev-message-changed-key",
	    event("message", message(1, 1, FX_DAVE, "dave", &mallory, "new phone, same dave")));
	put("ev-message-unknown-sender",
	    event("message", message(1, 1, 9, "eve", &mallory, "hi from nowhere")));
	put("ev-message-escapes", event("message", message(1, 1, FX_CAROL, "carol", &carol,
	                                                   "\x1b]0;owned\x07\x1b[2J\r\xc2\x9b"
	                                                   "31mred")));
	put("ev-message-gap",
	    event("message", message(5, 1, FX_BOB, "bob", &bob, "where did 2-4 go")));
	put("ev-message-no-key",
	    event("message", message(1, 3, FX_BOB, "bob", &bob, "epoch 3, key never sent")));
	put("ev-epoch", event("epoch", envelope(2, FX_BOB, &bob, FX_BOB, 1)));
	put("ev-epoch-misnamed", event("epoch", envelope(2, FX_BOB, &bob, FX_CAROL, 1)));
	put("ev-epoch-forged", event("epoch", envelope(2, FX_BOB, &mallory, FX_BOB, 0)));
	put("ev-epoch-unpinned", event("epoch", envelope(2, 9, &mallory, 9, 0)));
	put("ev-epoch-replaces-1", event("epoch", envelope(1, FX_CAROL, &carol, FX_CAROL, 0)));
	put("ev-receipt",
	    event("receipt", json_pack("{s:i, s:i, s:s, s:i}", "room_id", FX_ROOM, "user_id",
	                               FX_BOB, "username", "bob", "seq", 1)));
	put("ev-typing-escapes",
	    event("typing", json_pack("{s:i, s:i, s:s}", "room_id", FX_ROOM, "user_id", 9,
	                              "username", "\x1b[31mroot")));
	put("ev-room-removed",
	    event("room", json_pack("{s:i, s:s}", "room_id", FX_ROOM, "change", "removed")));
	put("ev-synced", event("synced", json_object()));
	put("ev-notice",
	    event("notice", json_pack("{s:i, s:s, s:s, s:i, s:i, s:s, s:s, s:s}", "id", 4, "kind",
	                              "checkpoint.cancelled", "at", "2026-12-01T10:00:00Z",
	                              "checkpoint_id", 3, "room_id", FX_ROOM, "checkpoint_kind",
	                              "midterm", "by", "bob", "reason", "ill\r\n\x1b[2J")));
}

static void results(void)
{
	json_t *members, *former;

	members = json_pack("[o, o, o, o]", user(FX_ALICE, "alice", &alice, 1),
	                    user(FX_BOB, "bob", &bob, 1), user(FX_CAROL, "carol", &carol, 0),
	                    user(FX_DAVE, "dave", &mallory, 0));
	former = json_pack("[o, o]", user(9, "eve", &mallory, 0), user(10, "\x1b[2Jx", &bob, 0));
	put("re-room-show",
	    reply(json_pack("{s:{s:i, s:i, s:s, s:s, s:s, s:i, s:i, s:b, s:o, s:o, s:s}}", "room",
	                    "id", FX_ROOM, "programme_id", 1, "name", "pair \x1b[31m", "kind",
	                    "group", "status", "active", "epoch", 1, "last_seq", 4,
	                    "rotate_required", 0, "members", members, "former_members", former,
	                    "created_at", "2026-01-01T09:00:00Z")));
	put("re-room-show-dave-back",
	    reply(json_pack("{s:{s:i, s:i, s:o}}", "room", "id", FX_ROOM, "epoch", 1, "members",
	                    json_pack("[o, o]", user(FX_ALICE, "alice", &alice, 1),
	                              user(FX_DAVE, "dave", &dave, 1)))));
	put("re-programme-show",
	    reply(json_pack("{s:{s:i, s:s, s:s, s:s, s:i, s:b, s:i, s:s}, s:o}", "programme", "id",
	                    1, "name", "Spring \x1b[5m", "starts_on", "2026-01-01", "ends_on",
	                    "2026-12-31", "max_group_mentees", 5, "agreement_required", 1,
	                    "retention_days", 365, "created_at", "2025-12-01T09:00:00Z", "people",
	                    json_pack("[o, o, o]", user(FX_BOB, "bob", &bob, 0),
	                              user(FX_CAROL, "carol", &mallory, 0),
	                              user(11, "frank", &mallory, 0)))));
	put("re-agreement-show",
	    reply(json_pack("{s:i, s:b, s:o, s:o, s:[i, i]}", "room_id", FX_ROOM, "required", 1,
	                    "active", version(1, "We meet every two weeks.", "s", "s"), "pending",
	                    version(2, "We meet weekly.\n\x1b[2J", "w", "f"), "roster", FX_ALICE,
	                    FX_BOB)));
	put("re-agreement-escapes",
	    reply(json_pack("{s:i, s:o}", "room_id", FX_ROOM, "active",
	                    json_pack("{s:i, s:s, s:s, s:s, s:s, s:[]}", "version", 3, "starts_on",
	                              "\x1b[2J", "ends_on", "\r", "terms", "x", "created_at",
	                              "\x1b[31m", "parties"))));
	put("re-consent-list",
	    reply(json_pack("{s:[o, o, o], s:[{s:s, s:s, s:b, s:s}]}", "entries",
	                    consent_entry(1, "data_processing", "v1", "grant", &alice),
	                    consent_entry(2, "share_progress", "programme:1", "grant", &mallory),
	                    consent_entry(3, "agreement", "room:7", "withdraw", &alice), "current",
	                    "purpose", "data_processing", "subject", "v1", "granted", 1, "at",
	                    "2026-12-03T10:00:00Z")));
	put("re-history",
	    reply(json_pack("{s:i, s:[o, o, o], s:b}", "room_id", FX_ROOM, "messages",
	                    message(1, 1, FX_BOB, "bob", &bob, "one"),
	                    message(2, 1, FX_ALICE, "alice", &alice, "two"),
	                    message(3, 1, FX_CAROL, "carol", &bob, "three, forged"), "more", 0)));
	put("re-keys-get", reply(json_pack("{s:i, s:i, s:[o, o, o]}", "room_id", FX_ROOM, "epoch",
	                                   2, "envelopes", envelope(1, FX_BOB, &bob, FX_BOB, 1),
	                                   envelope(2, FX_CAROL, &carol, FX_CAROL, 1),
	                                   envelope(3, FX_DAVE, &mallory, FX_DAVE, 0))));
	put("re-checkpoints",
	    reply(json_pack(
	        "{s:[{s:i, s:i, s:s, s:i, s:s, s:s, s:s, s:s, s:i, s:b, s:[{s:s, s:s, s:b}], "
	        "s:[{s:i, s:s, s:s, s:i, s:s, s:s, s:{s:b, s:b}}], s:n, s:i, "
	        "s:[{s:s, s:s, s:s}], s:[{s:s, s:b, s:n}], s:[s, s], s:[{s:s, s:i}]}]}",
	        "checkpoints", "id", 3, "room_id", FX_ROOM, "room_name", "pair", "programme_id", 1,
	        "kind", "midterm", "opens_on", "2026-06-01", "closes_on", "2026-06-30", "state",
	        "open", "sequence", 2, "manager_required", 1, "participants", "username", "bob",
	        "role", "mentor", "required", 1, "slots", "id", 5, "starts_at",
	        "2026-06-03T10:00:00Z", "ends_at", "2026-06-03T11:00:00Z", "minutes", 60, "place",
	        "Caf\xc3\xa9 \x1b[31m", "proposed_by", "bob", "answers", "bob", 1, "alice", 0,
	        "confirmed_slot", "late_changes", 1, "absences", "username", "carol", "reason",
	        "ill\r", "at", "2026-06-02T10:00:00Z", "attendance", "username", "bob", "attended",
	        1, "confirmed", "flags", "late_change", "overdue", "overlaps", "username", "bob",
	        "checkpoint_id", 9)));
	put("re-notices",
	    reply(json_pack("{s:[{s:i, s:s, s:s, s:i, s:i, s:s, s:s, s:i}]}", "notices", "id", 1,
	                    "kind", "reminder", "at", "2026-06-01T10:00:00Z", "checkpoint_id", 3,
	                    "room_id", FX_ROOM, "checkpoint_kind", "midterm", "starts_at",
	                    "2026-06-03T10:00:00Z", "lead_minutes", 2880)));
	put("re-audit",
	    reply(json_pack(
	        "{s:{s:i, s:s, s:s, s:s, s:b, s:{s:i, s:i, s:i}}, s:s, s:n, s:i, s:i, "
	        "s:{s:i, s:i, s:f, s:i, s:i, s:i, s:f, s:f, s:{s:i}, s:[{s:s, s:i, s:i}]}, "
	        "s:[{s:i, s:s, s:s, s:i, s:s, s:i, s:b, s:{s:{s:f, s:f, s:i}, s:n}, s:f, "
	        "s:{s:i, s:i, s:[]}, s:[], s:[{s:i, s:s, s:s, s:s, s:s, s:b, s:i, s:n, s:i, s:i, "
	        "s:f, s:n, s:b, s:s, s:{s:s}}], s:[{s:s, s:s}]}]}",
	        "programme", "id", 1, "name", "Spring", "starts_on", "2026-01-01", "ends_on",
	        "2026-12-31", "agreement_required", 1, "thresholds", "inactive_days", 14,
	        "unsigned_days", 14, "never_logged_in_days", 7, "now", "2026-12-03T10:00:00Z",
	        "room_id", "rooms_total", 1, "offset", 0, "summary", "rooms", 1, "active_rooms", 1,
	        "active_share", 1.0, "messages", 12, "checkpoints", 3, "checkpoints_held", 1,
	        "checkpoint_completion", 0.5, "median_response_s", 1e300, "flags", "inactive", 1,
	        "weeks", "week", "2026-11-30", "messages", 12, "active_rooms", 1, "rooms",
	        "room_id", FX_ROOM, "name", "pair \xe2\x80\xae evil", "kind", "pair", "messages",
	        12, "last_activity", "2026-12-01T10:00:00Z", "days_inactive", 2, "active", 1,
	        "response", "mentor", "median_s", 3600.0, "p90_s", -1e308, "n", 4, "mentee",
	        "read_median_s", 9e18, "agreement", "active_version", 1, "latest_version", 1,
	        "parties", "checkpoints", "members", "user_id", FX_BOB, "username", "bob",
	        "display_name", "Bob; \"quoted\"\n", "role", "mentor", "added_at",
	        "2026-01-01T09:00:00Z", "on_roster", 1, "messages", 12, "last_sent_at",
	        "days_inactive", -1, "messages_last_week", 3, "messages_per_week", 2.5,
	        "last_login_at", "never_logged_in", 0, "agreement", "signed", "consents",
	        "agreement:room:7", "grant", "flags", "code", "inactive", "detail", "14 days")));
	put("re-whoami",
	    reply(json_pack("{s:o, s:s, s:[{s:i, s:s, s:s, s:s}]}", "user",
	                    user(FX_ALICE, "alice", &mallory, 1), "expires_at",
	                    "2027-01-01T00:00:00Z", "programmes", "id", 1, "name", "Spring\x1b[0m",
	                    "starts_on", "2026-01-01", "ends_on", "2026-12-31")));
	put("re-error-escapes", json_pack("{s:i, s:{s:s, s:s, s:I}}", "re", 1, "error", "code",
	                                  "rate_limited", "message", "slow down \x1b[2J\r\xc2\x9b",
	                                  "retry_after_ms", (json_int_t)9007199254740991LL));
}

int main(int argc, char **argv)
{
	if (argc != 2 || sodium_init() < 0) {
		fprintf(stderr, "usage: fuzz_client_seeds DIR\n");
		return 2;
	}
	dir = argv[1];
	fx_keys('a', &alice);
	fx_keys('b', &bob);
	fx_keys('c', &carol);
	fx_keys('d', &dave);
	fx_keys('m', &mallory);
	events();
	results();
	return 0;
}
