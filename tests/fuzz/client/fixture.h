/*
 * fixture.h - the fixed world fuzz_client.c runs the client in, shared with
 * seeds.c, which writes seed frames valid in it. We are alice (user 1).
 *   - bob (2), carol (3) and mona (5, the manager who created both
 *     programmes) are pinned; dave (4) is pinned and the server has since
 *     shown other keys for him (mallory's), not yet trusted;
 *   - room 7 is in programme 1, which requires agreements: alice (mentee)
 *     and bob (mentor) are on its roster, carol is a member who has not
 *     signed; version 1 of its agreement (alice and bob) is verified on
 *     this device; roomkeys.json holds its epoch 1 key, committed by bob
 *     under version 1 for alice and bob; bob's device has sent messages 1..3
 *     (read as seqs 1..3);
 *   - room 8 is in programme 2, which does without agreements (pinned with
 *     mona's signature): alice and carol are its members, both announced;
 *     it has no key yet.
 * trust.json pins both programmes and rooms. Before each frame the harness
 * applies this world's own room.show answers (fx_room_show()), as a
 * command does before it reads a room, so the room-shown state exists
 * without a connection. Every key is derived from a fixed seed, so a corpus
 * file always means the same.
 */
#ifndef EMENTOR_FUZZ_CLIENT_FIXTURE_H
#define EMENTOR_FUZZ_CLIENT_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "em_crypto.h"
#include "em_proto.h"

#define FX_ROOM           7 /* requires agreements */
#define FX_ROOM_FREE      8 /* in a programme without agreements */
#define FX_PROGRAMME      1
#define FX_PROGRAMME_FREE 2
#define FX_ALICE          1
#define FX_BOB            2
#define FX_CAROL          3
#define FX_DAVE           4
#define FX_MONA           5
/* bob's device in room 7: messages 1..FX_BOB_COUNTER were read, as seqs 1..FX_BOB_COUNTER */
#define FX_BOB_COUNTER 3
/* sent_at of the world's messages, and the written_ms their senders signed */
#define FX_SENT_AT    "2026-12-03T10:00:00Z"
#define FX_WRITTEN_MS 1796292000000LL

/* The key pairs of 'a'lice, 'b'ob, 'c'arol, 'd'ave, 'm'allory and mo'n'a. */
static inline void fx_keys(char who, struct em_keys *k)
{
	unsigned char seed[32];

	memset(seed, who, sizeof(seed));
	crypto_sign_seed_keypair(k->sign_pk, k->sign_sk, seed);
	crypto_box_seed_keypair(k->box_pk, k->box_sk, seed);
}

/* The room key of a room and epoch. */
static inline void fx_room_key(long long room, long long epoch,
                               unsigned char key[EM_ROOM_KEY_BYTES])
{
	memset(key, (int)((room == FX_ROOM ? 'k' : 'K') + epoch) & 0xff, EM_ROOM_KEY_BYTES);
}

/* The device id of a sender ('b' for bob's): eight times the letter. */
static inline void fx_device(char who, unsigned char device[EM_DEVICE_ID_BYTES])
{
	memset(device, who, EM_DEVICE_ID_BYTES);
}

/* base64url of bytes as a JSON string. Who frees: the caller. */
static inline json_t *fx_b64(const unsigned char *bin, size_t len)
{
	char *s = em_b64_encode(bin, len);
	json_t *j = json_string(s);

	free(s);
	return j;
}

/* A User object of room.show or programme.show. Who frees: the caller. */
static inline json_t *fx_user(long long id, const char *name, const struct em_keys *k, int roster)
{
	char fp[EM_FINGERPRINT_STRLEN];

	em_fingerprint(k->sign_pk, k->box_pk, fp);
	return json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:s, s:b}", "id", (json_int_t)id,
	                 "username", name, "display_name", name, "role",
	                 id == FX_BOB    ? "mentor"
	                 : id == FX_MONA ? "manager"
	                                 : "mentee",
	                 "sign_pk", fx_b64(k->sign_pk, EM_SIGN_PK_BYTES), "box_pk",
	                 fx_b64(k->box_pk, EM_BOX_PK_BYTES), "fingerprint", fp, "roster", roster);
}

/* The room.show answer of a room as the world has it (members as pinned). Who frees: caller. */
static inline json_t *fx_room_show(long long room)
{
	struct em_keys alice, bob, carol;
	json_t *members;

	fx_keys('a', &alice);
	fx_keys('b', &bob);
	fx_keys('c', &carol);
	if (room == FX_ROOM)
		members = json_pack("[o, o, o]", fx_user(FX_ALICE, "alice", &alice, 1),
		                    fx_user(FX_BOB, "bob", &bob, 1),
		                    fx_user(FX_CAROL, "carol", &carol, 0));
	else
		members = json_pack("[o, o]", fx_user(FX_ALICE, "alice", &alice, 1),
		                    fx_user(FX_CAROL, "carol", &carol, 1));
	em_keys_wipe(&alice);
	em_keys_wipe(&bob);
	em_keys_wipe(&carol);
	return json_pack("{s:{s:I, s:I, s:s, s:s, s:s, s:I, s:i, s:b, s:o, s:[], s:s}}", "room",
	                 "id", (json_int_t)room, "programme_id",
	                 (json_int_t)(room == FX_ROOM ? FX_PROGRAMME : FX_PROGRAMME_FREE), "name",
	                 room == FX_ROOM ? "pair" : "open", "kind", "group", "status", "active",
	                 "epoch", (json_int_t)(room == FX_ROOM ? 1 : 0), "last_seq",
	                 room == FX_ROOM ? FX_BOB_COUNTER : 0, "rotate_required", room != FX_ROOM,
	                 "members", members, "former_members", "created_at",
	                 "2026-01-01T09:00:00Z");
}

#endif
