/*
 * state_io.h - the client core's state documents (core/state.h) as files in
 * the CLI's home directory, for the commands that read or change them
 * directly. Functions return 0 or -errno.
 */
#ifndef CLIENT_STATE_IO_H
#define CLIENT_STATE_IO_H

#include "home.h"
#include "state.h"

/* ---- files ---- */

/*
 * Loads a state file; a file that does not exist is an empty object.
 * Returns 0 or -errno (-EINVAL: damaged). Who frees: the caller, json_decref(*out).
 */
int state_load(const struct home *h, const char *name, json_t **out);

/*
 * Read-modify-write under home_lock(): loads `name`, calls fn(root, arg) and
 * saves the file when fn returns > 0 (fn returns 0 when nothing changed, or
 * -errno to abandon the change). Returns fn's non-negative result or -errno.
 * When `fresh` is not NULL and the call succeeds, *fresh is the file's
 * content after the change. Who frees: the caller, json_decref(*fresh).
 */
int state_update(const struct home *h, const char *name, int (*fn)(json_t *root, void *arg),
                 void *arg, json_t **fresh);

/* The current time as RFC 3339 UTC. */
void state_now(char out[STATE_TIME_LEN]);

#endif
