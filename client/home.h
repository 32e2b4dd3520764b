/*
 * home.h - the CLI's home directory and the files it keeps there:
 * session.json (which server, who, and the session token), keys.json (the
 * user's signing and box key pairs), and the messaging state of state.h
 * (pins, room keys, cursors, outbox), read and written with home_json_load()
 * and home_json_save() under home_lock(). Functions return 0 or a negative
 * errno; they print nothing, so that callers can say what the failure means.
 */
#ifndef CLIENT_HOME_H
#define CLIENT_HOME_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "em_crypto.h"
#include "em_proto.h"

#define HOME_SESSION_FILE "session.json"
#define HOME_KEYS_FILE    "keys.json"

struct home {
	char dir[PATH_MAX];
};

/* The saved login. `token` is a secret: wipe with home_session_wipe(). */
struct home_session {
	char server[512];
	char username[EM_USERNAME_MAX + 1];
	int64_t user_id;
	char role[16];
	char token[EM_TOKEN_MAX + 1];
	char expires_at[40];
};

/* The user's key pairs; secret halves wiped with home_keys_wipe(). */
struct home_keys {
	char username[EM_USERNAME_MAX + 1];
	struct em_keys keys;
};

/*
 * Picks the directory: `dir` if not NULL, else $EMENTOR_HOME, else
 * $XDG_CONFIG_HOME/ementor, else ~/.config/ementor. Does not create it.
 * Returns 0, or -ENOENT when no home can be found, -ENAMETOOLONG.
 */
int home_resolve(struct home *h, const char *dir);

/* Creates the directory and missing parents, mode 0700. Returns 0 or -errno. */
int home_ensure(const struct home *h);

/* Writes DIR/name into out. Returns 0 or -ENAMETOOLONG. */
int home_path(const struct home *h, const char *name, char *out, size_t outlen);

/*
 * Replaces DIR/name with `len` bytes of data, atomically (temporary file,
 * fsync, rename), mode 0600. Returns 0 or -errno.
 */
int home_write(const struct home *h, const char *name, const char *data, size_t len);

/*
 * Reads DIR/name (at most max_bytes) and parses it as a JSON object. Returns
 * 0, -ENOENT when it does not exist, -EINVAL when it is not a JSON object,
 * -EFBIG when larger than max_bytes, or another -errno. The raw bytes are
 * wiped. Who frees: the caller, json_decref(*out).
 */
/*
 * The whole file `name` of the home directory, NUL-terminated, at most
 * max_bytes (-EFBIG past it): 0 with *out (malloc'd; wipe and free it) and
 * *len, or -errno (-ENOENT when absent).
 */
int home_read(const struct home *h, const char *name, size_t max_bytes, char **out, size_t *len);
int home_json_load(const struct home *h, const char *name, size_t max_bytes, json_t **out);

/* Writes `root` as indented JSON to DIR/name with home_write(). The text is wiped. */
int home_json_save(const struct home *h, const char *name, json_t *root);

/*
 * Takes an exclusive lock on DIR/.lock (created 0600), so that two ementor
 * processes sharing a home (a `chat` and a `send` in another terminal) never
 * lose each other's read-modify-write of a state file. Blocks until the lock
 * is free. Returns a file descriptor >= 0 for home_unlock(), or -errno.
 */
int home_lock(const struct home *h);
void home_unlock(int fd);

/* Deletes DIR/name. Returns 0 (also when it did not exist) or -errno. */
int home_remove(const struct home *h, const char *name);

/*
 * Load and save the two files. Loading returns 0, -ENOENT when the file does
 * not exist, -EINVAL when it is damaged (not the expected JSON, keys that do
 * not belong together), or another -errno.
 */
int home_session_load(const struct home *h, struct home_session *s);
int home_session_save(const struct home *h, const struct home_session *s);
void home_session_wipe(struct home_session *s);

int home_keys_load(const struct home *h, struct home_keys *k);
void home_keys_wipe(struct home_keys *k);

#endif
