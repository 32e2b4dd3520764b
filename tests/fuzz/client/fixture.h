/*
 * fixture.h - the fixed world fuzz_client.c runs the client in, shared with
 * seeds.c, which writes seed frames valid in it: we are alice (user 1) in
 * room 7; bob (2) and carol (3) are pinned; dave (4) is pinned and the
 * server has since shown other keys for him (mallory's), not yet trusted;
 * roomkeys.json holds room 7's epoch 1 key, committed by bob. Every key is
 * derived from a fixed seed, so a corpus file always means the same.
 */
#ifndef EMENTOR_FUZZ_CLIENT_FIXTURE_H
#define EMENTOR_FUZZ_CLIENT_FIXTURE_H

#include <string.h>

#include "em_crypto.h"

#define FX_ROOM  7
#define FX_ALICE 1
#define FX_BOB   2
#define FX_CAROL 3
#define FX_DAVE  4

/* The key pairs of 'a'lice, 'b'ob, 'c'arol, 'd'ave and 'm'allory. */
static inline void fx_keys(char who, struct em_keys *k)
{
	unsigned char seed[32];

	memset(seed, who, sizeof(seed));
	crypto_sign_seed_keypair(k->sign_pk, k->sign_sk, seed);
	crypto_box_seed_keypair(k->box_pk, k->box_sk, seed);
}

/* Room 7's key of an epoch. */
static inline void fx_room_key(long long epoch, unsigned char key[EM_ROOM_KEY_BYTES])
{
	memset(key, (int)('k' + epoch), EM_ROOM_KEY_BYTES);
}

#endif
