/*
 * emc.h - libementor-client: the client side of ementor.v1 (docs/PROTOCOL.md)
 * as a library with no I/O of its own. This is the one header a frontend
 * includes: the CLI, the web client (compiled to WebAssembly), a phone app.
 *
 * The core makes every security decision a client makes — which keys to
 * trust, whom to seal a room key to, which epoch to use, how to open and
 * check a message, how the outbox delivers exactly once (docs/SECURITY.md,
 * "A malicious server") — and nothing else: it opens no socket, reads no
 * file, starts no thread and never sleeps. A host gives it
 *
 *   - frames received from the server   emc_receive()
 *   - the state of its link             emc_link()
 *   - the clock                         now_ms on every call
 *   - commands from the user            emc_command()
 *   - storage                           struct emc_storage (named JSON documents)
 *
 * and takes back, with emc_next(), frames to send to the server and events
 * for the user interface, both as JSON text. Everything crossing this API is
 * a C string of UTF-8 JSON, so bindings (WebAssembly, JNI, Swift) stay thin.
 *
 * A command runs as a task: emc_command() returns its id at once; when the
 * task ends, an event {"ev":"task","task":ID,"ok":true,"result":{…}} or
 * {"ev":"task","task":ID,"ok":false,"error":{"code","message","exit"}} says
 * so. Commands, events and documents: docs/CLIENT-CORE.md.
 *
 * Threads: a struct emc is used by one thread at a time (the host's); several
 * struct emc may live in one process. Memory: every char * the core hands out
 * is the caller's to free() (emc_text_free() across a WebAssembly boundary).
 */
#ifndef EMC_H
#define EMC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EMC_API_VERSION 1

struct emc;

/*
 * Storage the host provides: named JSON documents ("session", "keys",
 * "pins", "roomkeys", "trust", "cursors", "outbox"), each a JSON object.
 * Every change is a read-modify-write between lock() and unlock(), reading
 * the document again first, so two cores sharing one storage (two CLI
 * processes on one home directory) never lose each other's changes. A host
 * with one writer (a browser tab holding a Web Lock) may leave lock and
 * unlock NULL.
 *
 * load: 0 with *text (malloc'd, the core frees it) and *len, -ENOENT when
 * the document does not exist, another -errno on failure. save: 0 or -errno;
 * the write must be atomic (a crash leaves the old or the new document).
 * remove: 0 (also when absent) or -errno. lock: 0 or -errno.
 */
struct emc_storage {
	void *ctx;
	int (*load)(void *ctx, const char *name, char **text, size_t *len);
	int (*save)(void *ctx, const char *name, const char *text, size_t len);
	int (*remove)(void *ctx, const char *name);
	int (*lock)(void *ctx);
	void (*unlock)(void *ctx);
};

/*
 * A core for the account whose session and keys the storage holds (or none
 * yet: `register` and `login` make them). Copies *storage. Returns NULL when
 * out of memory or libsodium cannot start. Who frees: emc_free().
 */
struct emc *emc_new(const struct emc_storage *storage, int64_t now_ms);
/* Saves what is pending, wipes every secret and frees. NULL-safe. */
void emc_free(struct emc *c);

/*
 * Starts a command (a JSON object with "cmd"; docs/CLIENT-CORE.md lists
 * them). Returns the task id (> 0), or a negative errno when the command
 * itself is malformed (-EINVAL) or cannot start (-ENOMEM). The task's
 * frames and events come out of emc_next().
 */
int64_t emc_command(struct emc *c, const char *json, int64_t now_ms);

/*
 * The account commands (core/account.c). A core with no session stored can
 * run privacy, login and register. The core cannot prompt: passwords come in
 * the command's JSON (UTF-8; the core normalises them to NFC before
 * Argon2id). The core wipes its copies, including the string in the parsed
 * command; the host must wipe the buffer it passed to emc_command() (and any
 * copy it made). jansson's parser frees its scratch buffer without wiping it:
 * a copy of the password may stay in freed heap of the process.
 *
 *   {"cmd":"privacy"}
 *       privacy.notice, its text_hash checked against its text. Result
 *       {"version","text","text_hash"}: the host shows the text and, when the
 *       user accepts, passes version and text_hash to register.
 *   {"cmd":"login","username","password","server"?}
 *       prelogin (the KDF cost bounded), Argon2id, login; the key backup must
 *       open with the derived wrap_key for our folded username and the public
 *       keys the server lists for the user must be the ones inside it (else
 *       the new session is logged out and nothing is saved). Writes keys.json
 *       and session.json ("server" is stored as given; absent: the stored
 *       session's), and the core uses that account from then on. Result:
 *       login's without token and key_backup, plus "fingerprint" and, when
 *       another user's saved login was replaced, "replaced".
 *   {"cmd":"register","invite","username","display_name"?,"password",
 *    "privacy":{"version","text_hash"},"server"?}
 *       new keys, a fresh salt, Argon2id, the key backup, the
 *       data_processing consent signed with the new key over the accepted
 *       notice; register, then login as above on the same link. Result:
 *       register's, plus "fingerprint". If the account was made but the
 *       login failed, the task fails with "registered": true in its result.
 *       A new password has at least 8 bytes (at most 1024).
 *   {"cmd":"passwd","password","new_password"}
 *       prelogin (before the session is resumed), both derivations, the
 *       same keys locked again with the new wrap_key, passwd. Result:
 *       passwd's ({"revoked_sessions"}).
 *   {"cmd":"logout"}
 *       deletes session.json at once (this device is logged out whatever
 *       the server says; keys.json stays), then asks the server to revoke
 *       the token. Result {"revoked":true,"already_ended"?}; when the server
 *       could not be asked, the task fails with {"revoked":false}.
 *
 * Links: the server answers prelogin, login and register only on a link
 * that is not authenticated. Start login and register before bringing the
 * link up (emc_link): while one runs the core does not resume the stored
 * session. Started on a link already resumed, they fail (exit 2: use a new
 * link). passwd likewise starts before the link comes up: its prelogin goes
 * out first and the resume waits for its answer. Argon2id (about a second,
 * 64 MiB at the defaults) runs inside the emc_*() call that steps the task:
 * a host with a user interface thread runs the core off it. The server
 * closes a link that has not logged in within 10 s; a login whose link was
 * lost ends with "unreachable" and may simply be started again.
 */

/* Cancels a task: it ends with the error "cancelled". */
void emc_cancel(struct emc *c, int64_t task, int64_t now_ms);

/*
 * A frame the server sent (one WebSocket text message). Returns 0, or
 * -EPROTO when it is not a frame of ementor.v1 (the host should close the
 * connection); either way the core stays usable.
 */
int emc_receive(struct emc *c, const char *frame, size_t len, int64_t now_ms);

/*
 * The link to the server came up (1: connected, the WebSocket is open) or
 * went down (0). When it comes up and storage holds a session, the core's
 * first frame resumes it; every other frame waits for the answer, and an
 * event {"ev":"session","state":"ready","expires_at","user_id"} or
 * {"ev":"session","state":"refused","code","message"} says how it went (when
 * refused, each waiting task ends with that error, e.g. session_expired,
 * exit 3). A task waiting for a reply when the link goes down ends
 * with the error "unreachable" (exit 4) unless it can wait (the outbox
 * keeps its messages). Frames produced while the link is down stay queued
 * until it is up.
 */
void emc_link(struct emc *c, int up, int64_t now_ms);

/* Time passes: timeouts and retries fire. Call it at least every second. */
void emc_tick(struct emc *c, int64_t now_ms);

/* What emc_next() returns. */
enum emc_output {
	EMC_NONE = 0,  /* nothing to do now */
	EMC_FRAME = 1, /* *text is a frame to send to the server */
	EMC_EVENT = 2, /* *text is an event for the user interface */
};

/*
 * Takes the oldest output. *text is a NUL-terminated JSON text of *len
 * bytes. Who frees: the caller (free(), or emc_text_free()).
 */
enum emc_output emc_next(struct emc *c, char **text, size_t *len);

/* free() for hosts that cannot call it directly. */
void emc_text_free(char *text);

/*
 * The milliseconds until the core wants emc_tick() again (a retry, a
 * timeout), or -1 when nothing is scheduled.
 */
int64_t emc_wake_in(const struct emc *c, int64_t now_ms);

#ifdef __cplusplus
}
#endif

#endif
