/*
 * home.c - where the CLI keeps what must survive between commands: the
 * session token (session.json) and the user's private keys (keys.json). Both
 * are secrets, so the directory is created 0700, files are written 0600, and
 * every write goes to a temporary file that is fsynced and renamed over the
 * old one: a crash or a full disk never leaves half a key file behind. Buffers
 * that held file contents are wiped before they are freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "home.h"

/* Neither file is anywhere near this; a bigger one is not ours. */
#define HOME_MAX_FILE (64 * 1024)

int home_resolve(struct home *h, const char *dir)
{
	const char *env;
	int n;

	if (dir && *dir) {
		n = snprintf(h->dir, sizeof(h->dir), "%s", dir);
	} else if ((env = getenv("EMENTOR_HOME")) && *env) {
		n = snprintf(h->dir, sizeof(h->dir), "%s", env);
	} else if ((env = getenv("XDG_CONFIG_HOME")) && env[0] == '/') {
		n = snprintf(h->dir, sizeof(h->dir), "%s/ementor", env);
	} else {
		const char *user_home = getenv("HOME");

		if (!user_home || !*user_home) {
			struct passwd *pw = getpwuid(getuid());

			user_home = pw ? pw->pw_dir : NULL;
		}
		if (!user_home || !*user_home)
			return -ENOENT;
		n = snprintf(h->dir, sizeof(h->dir), "%s/.config/ementor", user_home);
	}
	if (n < 0 || (size_t)n >= sizeof(h->dir))
		return -ENAMETOOLONG;
	/* "dir/" and "dir" are the same place; keep messages tidy. */
	while (n > 1 && h->dir[n - 1] == '/')
		h->dir[--n] = '\0';
	return 0;
}

int home_ensure(const struct home *h)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s", h->dir);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return -errno;
	if (stat(path, &st) != 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return 0;
}

int home_path(const struct home *h, const char *name, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/%s", h->dir, name);

	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static int home_write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int home_write(const struct home *h, const char *name, const char *data, size_t len)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int fd = -1, rc;

	rc = home_ensure(h);
	if (rc)
		goto out;
	if (home_path(h, name, path, sizeof(path)) ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	unlink(tmp); /* a leftover from a crashed run with our pid */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = home_write_all(fd, data, len);
	if (!rc && fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && !rc)
		rc = -errno;
	fd = -1;
	if (!rc && rename(tmp, path) != 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	if (!rc) {
		/* Make the rename itself durable. */
		int dfd = open(h->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int home_remove(const struct home *h, const char *name)
{
	char path[PATH_MAX];

	if (home_path(h, name, path, sizeof(path)))
		return -ENAMETOOLONG;
	if (unlink(path) != 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int home_read(const struct home *h, const char *name, size_t max_bytes, char **out, size_t *out_len)
{
	char path[PATH_MAX];
	char *buf = NULL;
	size_t len = 0, cap = 0;
	struct stat st;
	int fd = -1, rc = 0;

	*out = NULL;
	*out_len = 0;
	if (home_path(h, name, path, sizeof(path)))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = -errno;
		goto out;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > max_bytes) {
		rc = -EFBIG;
		goto out;
	}
	/* Files are replaced by rename, never rewritten in place: the size holds.
	 * One spare byte tells a file that grew anyway; one more for the NUL. */
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap) {
			rc = -EFBIG;
			goto out;
		}
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	buf = NULL;
out:
	if (buf) {
		sodium_memzero(buf, cap + 1);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

int home_json_load(const struct home *h, const char *name, size_t max_bytes, json_t **out)
{
	char *buf;
	size_t len;
	int rc = home_read(h, name, max_bytes, &buf, &len);

	*out = NULL;
	if (rc)
		return rc;
	*out = json_loadb(buf, len, 0, NULL);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		rc = -EINVAL;
	}
	sodium_memzero(buf, len + 1);
	free(buf);
	return rc;
}

static int home_read_json(const struct home *h, const char *name, json_t **out)
{
	return home_json_load(h, name, HOME_MAX_FILE, out);
}

int home_json_save(const struct home *h, const char *name, json_t *root)
{
	char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	size_t len;
	int rc;

	if (!text)
		return -ENOMEM;
	len = strlen(text);
	text[len] = '\n'; /* json_dumps leaves no newline; the NUL is not written */
	rc = home_write(h, name, text, len + 1);
	sodium_memzero(text, len + 1);
	free(text);
	return rc;
}

int home_lock(const struct home *h)
{
	char path[PATH_MAX];
	int fd, rc;

	rc = home_ensure(h);
	if (rc)
		return rc;
	if (home_path(h, ".lock", path, sizeof(path)))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			rc = -errno;
			close(fd);
			return rc;
		}
	}
	return fd;
}

void home_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* closing the last descriptor releases the flock */
}

/* Copies string field `key` into dst; -EINVAL if absent, not a string, empty or too long. */
static int home_get_str(json_t *obj, const char *key, char *dst, size_t dstlen)
{
	const char *v = json_string_value(json_object_get(obj, key));

	if (!v || !*v || strlen(v) >= dstlen)
		return -EINVAL;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/* Decodes base64url field `key` of exactly `len` bytes. */
static int home_get_bin(json_t *obj, const char *key, unsigned char *dst, size_t len)
{
	const char *v = json_string_value(json_object_get(obj, key));

	if (!v || em_b64_decode(v, dst, len) != (int)len)
		return -EINVAL;
	return 0;
}

int home_session_load(const struct home *h, struct home_session *s)
{
	json_t *root = NULL, *id;
	int rc;

	memset(s, 0, sizeof(*s));
	rc = home_read_json(h, HOME_SESSION_FILE, &root);
	if (rc)
		goto out;
	id = json_object_get(root, "user_id");
	if (home_get_str(root, "server", s->server, sizeof(s->server)) ||
	    home_get_str(root, "username", s->username, sizeof(s->username)) ||
	    home_get_str(root, "role", s->role, sizeof(s->role)) ||
	    home_get_str(root, "token", s->token, sizeof(s->token)) ||
	    home_get_str(root, "expires_at", s->expires_at, sizeof(s->expires_at)) ||
	    !json_is_integer(id) || em_check_username(s->username) != EM_OK) {
		rc = -EINVAL;
		goto out;
	}
	s->user_id = json_integer_value(id);
out:
	json_decref(root);
	if (rc)
		home_session_wipe(s);
	return rc;
}

int home_session_save(const struct home *h, const struct home_session *s)
{
	json_t *root;
	char *text = NULL;
	int rc;

	root = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "server", s->server, "username",
	                 s->username, "user_id", (json_int_t)s->user_id, "role", s->role, "token",
	                 s->token, "expires_at", s->expires_at);
	if (root)
		text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	if (!text)
		return -ENOMEM;
	rc = home_write(h, HOME_SESSION_FILE, text, strlen(text));
	sodium_memzero(text, strlen(text));
	free(text);
	return rc;
}

void home_session_wipe(struct home_session *s)
{
	sodium_memzero(s, sizeof(*s));
}

int home_keys_load(const struct home *h, struct home_keys *k)
{
	json_t *root = NULL;
	unsigned char pk[32];
	int rc;

	memset(k, 0, sizeof(*k));
	rc = home_read_json(h, HOME_KEYS_FILE, &root);
	if (rc)
		goto out;
	if (home_get_str(root, "username", k->username, sizeof(k->username)) ||
	    home_get_bin(root, "sign_pk", k->keys.sign_pk, sizeof(k->keys.sign_pk)) ||
	    home_get_bin(root, "sign_sk", k->keys.sign_sk, sizeof(k->keys.sign_sk)) ||
	    home_get_bin(root, "box_pk", k->keys.box_pk, sizeof(k->keys.box_pk)) ||
	    home_get_bin(root, "box_sk", k->keys.box_sk, sizeof(k->keys.box_sk))) {
		rc = -EINVAL;
		goto out;
	}
	/* The public halves must be the ones the secret halves imply. */
	crypto_sign_ed25519_sk_to_pk(pk, k->keys.sign_sk);
	if (sodium_memcmp(pk, k->keys.sign_pk, sizeof(pk)) != 0) {
		rc = -EINVAL;
		goto out;
	}
	crypto_scalarmult_base(pk, k->keys.box_sk);
	if (sodium_memcmp(pk, k->keys.box_pk, sizeof(pk)) != 0)
		rc = -EINVAL;
out:
	json_decref(root);
	if (rc)
		home_keys_wipe(k);
	return rc;
}

void home_keys_wipe(struct home_keys *k)
{
	sodium_memzero(k, sizeof(*k));
}
