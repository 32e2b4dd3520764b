/*
 * store.h - the client core's storage (emc.h struct emc_storage) as files in
 * the CLI's home directory: each document is DIR/NAME, written atomically
 * (home_write), read-modify-writes under DIR/.lock (home_lock) so two
 * ementor processes sharing a home merge their changes.
 */
#ifndef CLIENT_STORE_H
#define CLIENT_STORE_H

#include "emc.h"
#include "home.h"

struct store {
	const struct home *home;
	int lock_fd; /* -1 when not locked */
	int depth;   /* nested lock() calls */
};

/* Fills *st to use `s` (which must outlive the core). */
void store_init(struct store *s, const struct home *home, struct emc_storage *st);

#endif
