/*
 * state_io.c - the state files of state.h read and written in the CLI's home
 * directory: for the commands that work on them directly (the outbox list
 * and drop); everything else goes through the client core's storage
 * (store.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "state_io.h"

/* ---- files ---- */

int state_load(const struct home *h, const char *name, json_t **out)
{
	int rc = home_json_load(h, name, STATE_MAX_FILE, out);

	if (rc == -ENOENT) {
		*out = json_object();
		return *out ? 0 : -ENOMEM;
	}
	return rc;
}

int state_update(const struct home *h, const char *name, int (*fn)(json_t *root, void *arg),
                 void *arg, json_t **fresh)
{
	json_t *root = NULL;
	int lock, rc;

	if (fresh)
		*fresh = NULL;
	lock = home_lock(h);
	if (lock < 0)
		return lock;
	rc = state_load(h, name, &root);
	if (rc)
		goto out;
	rc = fn(root, arg);
	if (rc > 0) {
		int wrc = home_json_save(h, name, root);

		if (wrc)
			rc = wrc;
	}
	if (rc >= 0 && fresh) {
		*fresh = root;
		root = NULL;
	}
out:
	json_decref(root);
	home_unlock(lock);
	return rc;
}

void state_now(char out[STATE_TIME_LEN])
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, STATE_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
