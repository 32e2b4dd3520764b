/*
 * seeds.c - writes the seed frames of fuzz_client into a directory:
 * `fuzz_client_seeds tests/fuzz/corpus/client` (built on demand:
 * `cmake --build build --target fuzz_client_seeds`). The frames are what a
 * server could send in the world of fixture.h, with real signatures,
 * envelopes (PROTOCOL.md 5.1: committer, agreement version, recipient list)
 * and messages (device, counter and time signed inside) where the client
 * checks them, and hostile variants (forged, resealed, mislabelled,
 * misaddressed, renamed, reordered, escape sequences in text). Keys are
 * fixed, so rerunning it writes the same frames except for the random
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
static struct em_keys alice, bob, carol, dave, mallory, mona;

static void put(const char *name, json_t *frame)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.json", dir, name);
	f = fopen(path, "w");
	if (!frame || !f || json_dumpf(frame, f, JSON_COMPACT) != 0) {
		fprintf(stderr, "fuzz_client_seeds: cannot write %s\n", path);
		exit(1);
	}
	fclose(f);
	json_decref(frame);
}

static json_t *event(const char *ev, json_t *data)
{
	return json_pack("{s:s, s:o}", "ev", ev, "data", data);
}

static json_t *reply(json_t *result)
{
	return json_pack("{s:i, s:o}", "re", 1, "ok", result);
}

/* What a message says besides its text: who sends it from which device, and in what order. */
struct sent {
	long long room, seq, epoch, sender_id;
	const char *sender;           /* the name the server attaches */
	const struct em_keys *signer; /* whose key signs it */
	char device;                  /* fx_device() letter */
	unsigned long long counter;   /* the device's counter */
	long long written_ms;         /* the signed writing time */
};

/* A message encrypted with the world's key of its room and epoch. */
static json_t *message(const struct sent *s, const char *text)
{
	unsigned char key[EM_ROOM_KEY_BYTES], id[EM_MSG_ID_BYTES], sig[EM_SIG_BYTES];
	unsigned char *ct = malloc(EM_MSG_CIPHERTEXT_MAX);
	struct em_msg_meta meta;
	json_t *m;
	int n;

	fx_room_key(s->room, s->epoch, key);
	memset(id, (int)s->seq, sizeof(id));
	fx_device(s->device, meta.device);
	meta.counter = s->counter;
	meta.written_ms = (uint64_t)s->written_ms;
	n = em_msg_encrypt(key, (uint64_t)s->room, (uint64_t)s->epoch, (uint64_t)s->sender_id, id,
	                   &meta, (const unsigned char *)text, strlen(text), s->signer->sign_sk, ct,
	                   sig);
	m = json_pack("{s:I, s:I, s:I, s:I, s:s, s:s, s:o, s:o, s:o}", "room_id",
	              (json_int_t)s->room, "seq", (json_int_t)s->seq, "epoch", (json_int_t)s->epoch,
	              "sender_id", (json_int_t)s->sender_id, "sender", s->sender, "sent_at",
	              FX_SENT_AT, "client_msg_id", fx_b64(id, sizeof(id)), "ciphertext",
	              fx_b64(ct, (size_t)n), "sig", fx_b64(sig, sizeof(sig)));
	free(ct);
	return m;
}

/* bob's next message in room 7: seq and counter FX_BOB_COUNTER + 1, epoch 1. */
static struct sent bob_next(void)
{
	struct sent s = {
	    FX_ROOM,      FX_BOB_COUNTER + 1, 1, FX_BOB, "bob", &bob, 'b', FX_BOB_COUNTER + 1,
	    FX_WRITTEN_MS};

	return s;
}

/* What an envelope says and to whom it goes. */
struct sealing {
	long long room, epoch;
	long long committer;          /* sealed inside */
	const struct em_keys *signer; /* whose key signs it */
	long long recipient;          /* the recipient its signature names */
	unsigned version;             /* the agreement version sealed inside */
	size_t n;
	uint64_t recipients[EM_KEY_RECIPIENTS_MAX];
	int genuine;               /* the world's key, else a key the server made */
	long long named_committer; /* what the server says beside it (< 0: nothing) */
	long long named_version;   /* likewise */
};

/* An envelope sealed to alice's box key. */
static json_t *envelope(const struct sealing *s)
{
	unsigned char key[EM_ROOM_KEY_BYTES], sealed[EM_SEALED_KEY_BYTES];
	struct em_room_key_id id;
	json_t *e;

	memset(&id, 0, sizeof(id));
	id.room_id = (uint64_t)s->room;
	id.epoch = (uint64_t)s->epoch;
	id.recipient_id = (uint64_t)s->recipient;
	id.committer_id = (uint64_t)s->committer;
	id.agreement_version = s->version;
	id.n_recipients = (uint32_t)s->n;
	memcpy(id.recipients, s->recipients, sizeof(id.recipients));
	fx_room_key(s->room, s->epoch, key);
	if (!s->genuine)
		memset(key, 'X', sizeof(key));
	if (em_room_key_seal(key, &id, s->signer->sign_sk, alice.box_pk, sealed) != 0) {
		fprintf(stderr, "fuzz_client_seeds: an envelope does not seal\n");
		exit(1);
	}
	e = json_pack("{s:I, s:I, s:o}", "room_id", (json_int_t)s->room, "epoch",
	              (json_int_t)s->epoch, "sealed", fx_b64(sealed, sizeof(sealed)));
	if (s->named_committer >= 0)
		json_object_set_new(e, "committer_id", json_integer(s->named_committer));
	if (s->named_version >= 0)
		json_object_set_new(e, "agreement_version", json_integer(s->named_version));
	return e;
}

/* bob's genuine envelope of room 7's epoch 2 under version 1, for alice and bob. */
static struct sealing bob_epoch2(void)
{
	struct sealing s = {FX_ROOM, 2,      FX_BOB, &bob, FX_ALICE, 1, 2, {FX_ALICE, FX_BOB},
	                    1,       FX_BOB, 1};

	return s;
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
		    parties[i].role, "sign_pk", fx_b64(parties[i].sign_pk, 32), "box_pk",
		    fx_b64(parties[i].box_pk, 32));

		memcpy(copy, parties, sizeof(copy));
		if (how[i][0] == 's' || how[i][0] == 'w') {
			em_agreement_sign(FX_ROOM, number, starts, ends, terms, copy, 2,
			                  keys[i]->sign_sk, sig);
			json_object_set_new(p, "signature", fx_b64(sig, sizeof(sig)));
			json_object_set_new(p, "signed_at", json_string("2026-01-02T10:00:00Z"));
		} else if (how[i][0] == 'f') {
			em_agreement_sign(FX_ROOM, number, starts, ends, terms, copy, 2,
			                  mallory.sign_sk, sig);
			json_object_set_new(p, "signature", fx_b64(sig, sizeof(sig)));
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
	                 fx_b64(hash, sizeof(hash)), "action", action, "at", (json_int_t)at,
	                 "signature", fx_b64(sig, sizeof(sig)), "recorded_at", FX_SENT_AT);
}

/* The world's room.show of a room with `members` instead (and programme_id). */
static json_t *room_show(long long room, long long programme, json_t *members)
{
	json_t *res = fx_room_show(room), *r = json_object_get(res, "room");

	json_object_set_new(r, "members", members);
	if (programme > 0)
		json_object_set_new(r, "programme_id", json_integer(programme));
	else
		json_object_del(r, "programme_id");
	return reply(res);
}

static void message_events(void)
{
	struct sent s;
	json_t *m;

	s = bob_next();
	put("ev-message", event("message", message(&s, "hello alice")));
	s = bob_next();
	s.signer = &mallory;
	put("ev-message-forged", event("message", message(&s, "I am bob, really")));
	s = bob_next();
	s.sender = "carol";
	put("ev-message-sender-renamed", event("message", message(&s, "bob, called carol")));
	s = (struct sent){FX_ROOM, 4, 1, FX_DAVE, "dave", &mallory, 'm', 1, FX_WRITTEN_MS};
	put("ev-message-changed-key", event("message", message(&s, "new phone, same dave")));
	s = (struct sent){FX_ROOM, 4, 1, 9, "eve", &mallory, 'm', 1, FX_WRITTEN_MS};
	put("ev-message-unknown-sender", event("message", message(&s, "hi from nowhere")));
	s = (struct sent){FX_ROOM, 4, 1, FX_CAROL, "carol", &carol, 'c', 1, FX_WRITTEN_MS};
	put("ev-message-escapes", event("message", message(&s, "\x1b]0;owned\x07\x1b[2J\r\xc2\x9b"
	                                                       "31mred")));
	s = bob_next();
	m = message(&s, "dated by the server");
	json_object_set_new(m, "sent_at", json_string("\x1b[2J\x1b]0;owned\x07\x7f"));
	put("ev-message-sent-at-escapes", event("message", m));
	s = bob_next();
	s.seq = 6;
	put("ev-message-seq-gap", event("message", message(&s, "where did seq 5 go")));
	s = bob_next();
	s.counter = FX_BOB_COUNTER + 4;
	put("ev-message-counter-gap", event("message", message(&s, "messages 4-6 never came")));
	s = bob_next();
	s.counter = FX_BOB_COUNTER - 1;
	put("ev-message-replayed", event("message", message(&s, "said before, new seq")));
	s = bob_next();
	s.seq = FX_BOB_COUNTER - 1;
	s.counter = FX_BOB_COUNTER - 1;
	put("ev-message-seen", event("message", message(&s, "read already")));
	s = bob_next();
	s.counter = 0;
	put("ev-message-no-counter", event("message", message(&s, "no counter")));
	s = bob_next();
	s.written_ms = FX_WRITTEN_MS + 3600 * 1000;
	put("ev-message-backdated", event("message", message(&s, "written an hour later")));
	s = bob_next();
	s.epoch = 3;
	put("ev-message-no-key", event("message", message(&s, "epoch 3, key never sent")));
	s = (struct sent){FX_ROOM_FREE, 1, 1, FX_CAROL, "carol", &carol, 'c', 1, FX_WRITTEN_MS};
	put("ev-message-room8-no-key", event("message", message(&s, "in the open room")));
}

static void epoch_events(void)
{
	struct sealing s;

	s = bob_epoch2();
	put("ev-epoch", event("epoch", envelope(&s)));
	s.named_committer = FX_CAROL;
	put("ev-epoch-misnamed", event("epoch", envelope(&s)));
	s = bob_epoch2();
	s.named_version = 2;
	put("ev-epoch-version-misnamed", event("epoch", envelope(&s)));
	s = bob_epoch2();
	s.named_committer = s.named_version = -1;
	put("ev-epoch-unnamed", event("epoch", envelope(&s)));
	s = bob_epoch2();
	s.signer = &mallory;
	s.genuine = 0;
	put("ev-epoch-forged", event("epoch", envelope(&s)));
	s = bob_epoch2();
	s.committer = s.named_committer = 9;
	s.signer = &mallory;
	s.genuine = 0;
	put("ev-epoch-unpinned", event("epoch", envelope(&s)));
	s = bob_epoch2();
	s.epoch = 1;
	s.committer = s.named_committer = FX_CAROL;
	s.signer = &carol;
	s.genuine = 0;
	put("ev-epoch-replaces-1", event("epoch", envelope(&s)));
	s = bob_epoch2();
	s.committer = s.named_committer = FX_CAROL;
	s.signer = &carol;
	put("ev-epoch-committer-not-party", event("epoch", envelope(&s)));
	s = bob_epoch2();
	s.n = 3;
	s.recipients[2] = FX_CAROL;
	put("ev-epoch-recipient-not-party", event("epoch", envelope(&s)));
	s = bob_epoch2();
	s.recipient = FX_BOB;
	put("ev-epoch-for-bob", event("epoch", envelope(&s)));
	s = bob_epoch2();
	s.recipient = FX_BOB;
	s.n = 1;
	s.recipients[0] = FX_BOB;
	s.recipients[1] = 0;
	put("ev-epoch-not-naming-alice", event("epoch", envelope(&s)));
	s = bob_epoch2();
	s.version = 0;
	s.named_version = 0;
	put("ev-epoch-no-agreement", event("epoch", envelope(&s)));
	s = bob_epoch2();
	s.version = 2;
	s.named_version = 2;
	put("ev-epoch-unverified-version", event("epoch", envelope(&s)));
	s = (struct sealing){FX_ROOM_FREE,         1, FX_CAROL, &carol, FX_ALICE, 0, 2,
	                     {FX_ALICE, FX_CAROL}, 1, FX_CAROL, 0};
	put("ev-epoch-room8", event("epoch", envelope(&s)));
	s.n = 3;
	s.recipients[2] = 9;
	put("ev-epoch-room8-unannounced", event("epoch", envelope(&s)));
}

static void other_events(void)
{
	put("ev-receipt",
	    event("receipt", json_pack("{s:i, s:i, s:s, s:i}", "room_id", FX_ROOM, "user_id",
	                               FX_BOB, "username", "bob", "seq", 1)));
	put("ev-typing-escapes",
	    event("typing", json_pack("{s:i, s:i, s:s}", "room_id", FX_ROOM, "user_id", 9,
	                              "username", "\x1b[31mroot")));
	put("ev-room-removed",
	    event("room", json_pack("{s:i, s:s}", "room_id", FX_ROOM, "change", "removed")));
	put("ev-room-agreement",
	    event("room", json_pack("{s:i, s:s}", "room_id", FX_ROOM, "change", "agreement")));
	put("ev-synced", event("synced", json_object()));
	put("ev-notice",
	    event("notice", json_pack("{s:i, s:s, s:s, s:i, s:i, s:s, s:s, s:s}", "id", 4, "kind",
	                              "checkpoint.cancelled", "at", "2026-12-01T10:00:00Z",
	                              "checkpoint_id", 3, "room_id", FX_ROOM, "checkpoint_kind",
	                              "midterm", "by", "bob", "reason", "ill\r\n\x1b[2J")));
}

static void room_results(void)
{
	json_t *res, *former;

	res = room_show(FX_ROOM, FX_PROGRAMME,
	                json_pack("[o, o, o, o]", fx_user(FX_ALICE, "alice", &alice, 1),
	                          fx_user(FX_BOB, "bob", &bob, 1),
	                          fx_user(FX_CAROL, "carol", &carol, 0),
	                          fx_user(FX_DAVE, "dave", &mallory, 0)));
	former =
	    json_pack("[o, o]", fx_user(9, "eve", &mallory, 0), fx_user(10, "\x1b[2Jx", &bob, 0));
	json_object_set_new(json_object_get(json_object_get(res, "ok"), "room"), "former_members",
	                    former);
	json_object_set_new(json_object_get(json_object_get(res, "ok"), "room"), "name",
	                    json_string("pair \x1b[31m"));
	put("re-room-show", res);
	put("re-room-show-dave-back",
	    room_show(FX_ROOM, FX_PROGRAMME,
	              json_pack("[o, o]", fx_user(FX_ALICE, "alice", &alice, 1),
	                        fx_user(FX_DAVE, "dave", &dave, 1))));
	/* the finding of the first fuzzing run: carol's keys under the name dave */
	put("re-room-show-renamed",
	    room_show(FX_ROOM, FX_PROGRAMME,
	              json_pack("[o, o]", fx_user(FX_ALICE, "alice", &alice, 1),
	                        fx_user(FX_CAROL, "dave", &carol, 1))));
	put("re-room-show-name-swap",
	    room_show(FX_ROOM, FX_PROGRAMME,
	              json_pack("[o, o, o]", fx_user(FX_ALICE, "alice", &alice, 1),
	                        fx_user(FX_BOB, "carol", &bob, 1),
	                        fx_user(FX_CAROL, "bob", &carol, 0))));
	put("re-room-show-renamed-and-back",
	    room_show(FX_ROOM, FX_PROGRAMME,
	              json_pack("[o, o, o]", fx_user(FX_ALICE, "alice", &alice, 1),
	                        fx_user(FX_BOB, "mallory", &bob, 1),
	                        fx_user(FX_BOB, "bob", &bob, 1))));
	/* carol listed twice: under another name with unreadable keys, then with other
	 * keys: the warning about her pending change must still come, under "carol" */
	put("re-room-show-unreadable-then-changed",
	    room_show(FX_ROOM, FX_PROGRAMME,
	              json_pack("[o, {s:i, s:s, s:s, s:s}, o]",
	                        fx_user(FX_ALICE, "alice", &alice, 1), "id", FX_CAROL, "username",
	                        "bob", "sign_pk", "AAAA", "box_pk", "AAAA",
	                        fx_user(FX_CAROL, "carol", &mallory, 0))));
	put("re-room-show-me-other-keys",
	    room_show(FX_ROOM, FX_PROGRAMME,
	              json_pack("[o, o]", fx_user(FX_ALICE, "alice", &mallory, 1),
	                        fx_user(FX_BOB, "bob", &bob, 1))));
	put("re-room-show-other-programme",
	    room_show(FX_ROOM, FX_PROGRAMME_FREE,
	              json_pack("[o, o]", fx_user(FX_ALICE, "alice", &alice, 1),
	                        fx_user(FX_BOB, "bob", &bob, 1))));
	put("re-room-show-no-programme",
	    room_show(FX_ROOM, 0,
	              json_pack("[o, o]", fx_user(FX_ALICE, "alice", &alice, 1),
	                        fx_user(FX_BOB, "bob", &bob, 1))));
	put("re-room-show-room8-joined",
	    room_show(FX_ROOM_FREE, FX_PROGRAMME_FREE,
	              json_pack("[o, o, o]", fx_user(FX_ALICE, "alice", &alice, 1),
	                        fx_user(FX_CAROL, "carol", &carol, 1),
	                        fx_user(9, "eve", &mallory, 1))));
	put("re-room-show-room8-dave",
	    room_show(FX_ROOM_FREE, FX_PROGRAMME_FREE,
	              json_pack("[o, o, o]", fx_user(FX_ALICE, "alice", &alice, 1),
	                        fx_user(FX_CAROL, "carol", &carol, 1),
	                        fx_user(FX_DAVE, "dave", &mallory, 1))));
	/* a room whose programme this device has not seen: programme.show needs a connection */
	put("re-room-show-new-programme",
	    room_show(11, 3,
	              json_pack("[o, o]", fx_user(FX_ALICE, "alice", &alice, 1),
	                        fx_user(FX_BOB, "bob", &bob, 1))));
}

static void results(void)
{
	struct sealing s1, s2, s3;
	struct sent m1, m2, m3;

	put("re-programme-show",
	    reply(json_pack("{s:{s:i, s:s, s:s, s:s, s:i, s:b, s:i, s:s, s:i, s:n}, s:o}",
	                    "programme", "id", FX_PROGRAMME, "name", "Spring \x1b[5m", "starts_on",
	                    "2026-01-01", "ends_on", "2026-12-31", "max_group_mentees", 5,
	                    "agreement_required", 1, "retention_days", 365, "created_at",
	                    "2025-12-01T09:00:00Z", "created_by", FX_MONA, "settings_sig", "people",
	                    json_pack("[o, o, o, o]", fx_user(FX_MONA, "mona", &mona, 0),
	                              fx_user(FX_BOB, "bob", &bob, 0),
	                              fx_user(FX_CAROL, "carol", &mallory, 0),
	                              fx_user(11, "frank", &mallory, 0)))));
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
	                    FX_SENT_AT)));
	m1 = bob_next();
	m2 = (struct sent){FX_ROOM, 5, 1, FX_ALICE, "alice", &alice, 'a', 1, FX_WRITTEN_MS};
	m3 = (struct sent){FX_ROOM, 6, 1, FX_CAROL, "carol", &bob, 'c', 1, FX_WRITTEN_MS};
	put("re-history", reply(json_pack("{s:i, s:[o, o, o], s:b}", "room_id", FX_ROOM, "messages",
	                                  message(&m1, "one"), message(&m2, "two"),
	                                  message(&m3, "three, forged"), "more", 0)));
	m1 = bob_next();
	m2 = bob_next();
	m2.seq++;
	m3 = bob_next();
	m3.seq += 2;
	m3.counter += 2;
	put("re-history-order",
	    reply(json_pack("{s:i, s:[o, o, o], s:b}", "room_id", FX_ROOM, "messages",
	                    message(&m1, "four"), message(&m2, "four again"),
	                    message(&m3, "after a missing one"), "more", 0)));
	s1 = bob_epoch2();
	s1.epoch = 1;
	s2 = bob_epoch2();
	s3 = bob_epoch2();
	s3.epoch = 3;
	s3.committer = s3.named_committer = FX_DAVE;
	s3.signer = &mallory;
	s3.genuine = 0;
	put("re-keys-get",
	    reply(json_pack("{s:i, s:i, s:[o, o, o]}", "room_id", FX_ROOM, "epoch", 2, "envelopes",
	                    envelope(&s1), envelope(&s2), envelope(&s3))));
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
	        "unsigned_days", 14, "never_logged_in_days", 7, "now", FX_SENT_AT, "room_id",
	        "rooms_total", 1, "offset", 0, "summary", "rooms", 1, "active_rooms", 1,
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
	                    fx_user(FX_ALICE, "alice", &mallory, 1), "expires_at",
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
	fx_keys('n', &mona);
	message_events();
	epoch_events();
	other_events();
	room_results();
	results();
	return 0;
}
