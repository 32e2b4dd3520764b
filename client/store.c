/*
 * store.c - the client core's storage over the CLI's home directory
 * (store.h). Thread: main only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "state.h"
#include "store.h"

static int store_load(void *ctx, const char *name, char **text, size_t *len)
{
	struct store *s = ctx;

	return home_read(s->home, name, STATE_MAX_FILE, text, len);
}

static int store_save(void *ctx, const char *name, const char *text, size_t len)
{
	struct store *s = ctx;
	int rc = home_ensure(s->home);

	return rc ? rc : home_write(s->home, name, text, len);
}

static int store_remove(void *ctx, const char *name)
{
	struct store *s = ctx;

	return home_remove(s->home, name);
}

static int store_lock(void *ctx)
{
	struct store *s = ctx;
	int fd;

	if (s->depth++ > 0)
		return 0;
	fd = home_lock(s->home);
	if (fd < 0) {
		s->depth = 0;
		return fd;
	}
	s->lock_fd = fd;
	return 0;
}

static void store_unlock(void *ctx)
{
	struct store *s = ctx;

	if (s->depth == 0 || --s->depth > 0)
		return;
	home_unlock(s->lock_fd);
	s->lock_fd = -1;
}

void store_init(struct store *s, const struct home *home, struct emc_storage *st)
{
	s->home = home;
	s->lock_fd = -1;
	s->depth = 0;
	st->ctx = s;
	st->load = store_load;
	st->save = store_save;
	st->remove = store_remove;
	st->lock = store_lock;
	st->unlock = store_unlock;
}
