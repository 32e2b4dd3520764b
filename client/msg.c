/*
 * msg.c - the client side of end-to-end encrypted messaging (PROTOCOL.md
 * section 5): what `send`, `read`, `chat` and `outbox` share.
 *
 * DESIGN. Trust: every user the server shows in a room (members and former
 * members) is pinned on first sight in pins.json; a key that differs from
 * the pin is recorded, reported loudly, and blocks the room — nothing is
 * sent there and no room key is sealed to anyone — until the user checks it
 * and runs `ementor trust`. Signatures (room keys, messages) are checked
 * only against pinned keys, never against what the server sends this time.
 *
 * Keys: a room key is accepted only when its envelope opens with our box key
 * and its signature verifies with the committer's pinned key; then it is
 * stored in roomkeys.json for good (history stays readable). When the room
 * needs a new epoch (rotate_required, or we lack the current key), we make
 * one: a fresh key sealed to every current member's pinned box key, the
 * commit signed, `epoch.commit` at epoch + 1, and on `stale_epoch` (someone
 * else won the race) or `roster_mismatch` we look again and retry.
 *
 * Roster (PROTOCOL.md 7.2): a new key goes only to the members room.show
 * flags as on the roster, and, where the room's agreement is required, only
 * after each of them passes msg_party_check() against the *active* version:
 * a party of it, listed with the keys pinned here, with a signature that
 * verifies. One failure and nothing is committed: the user is told who, so
 * a server that adds a reader to the roster gains nothing.
 *
 * Delivery: a message is in outbox.json before the first attempt, and the
 * same client_msg_id is reused for every attempt, whatever the epoch; the
 * server stores one copy per (sender, client_msg_id) and answers a resend
 * with the original seq and `duplicate: true`. A message leaves the outbox
 * only on an acknowledgement (or when we are no longer a member, which no
 * retry can change), so delivery is exactly once across crashes, lost
 * connections and server restarts.
 *
 * Thread: main only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "msg.h"

/* How many times a send goes round refresh / rotate / retry before giving up. */
#define MSG_ATTEMPTS 6

/* ---- set-up ---- */

int msg_init(struct cli *cli, struct msg_ctx *m)
{
	int rc;

	memset(m, 0, sizeof(*m));
	m->cli = cli;
	rc = cli_session_load(cli, &m->session);
	if (rc)
		return rc;
	rc = home_keys_load(&cli->home, &m->keys);
	if (rc == -ENOENT)
		return cli_fail(CLI_EXIT_AUTH,
		                "your keys are not on this device; run `ementor login %s`.",
		                m->session.username);
	if (rc)
		return cli_home_error(cli, "read", HOME_KEYS_FILE, rc);
	if (strcmp(m->keys.username, m->session.username) != 0)
		return cli_fail(CLI_EXIT_AUTH,
		                "the keys on this device belong to %s, not to %s; run `ementor "
		                "login %s`.",
		                m->keys.username, m->session.username, m->session.username);
	rc = state_load(&cli->home, STATE_PINS_FILE, &m->pins);
	if (rc)
		return cli_home_error(cli, "read", STATE_PINS_FILE, rc);
	rc = state_load(&cli->home, STATE_ROOMKEYS_FILE, &m->roomkeys);
	if (rc)
		return cli_home_error(cli, "read", STATE_ROOMKEYS_FILE, rc);
	return CLI_EXIT_OK;
}

int msg_connect(struct msg_ctx *m)
{
	int rc = cli_connect(m->cli, cli_server(m->cli, &m->session), &m->conn);

	if (rc) {
		m->net_failed = 1;
		return rc;
	}
	rc = cli_session_resume(m->cli, m->conn, &m->session);
	if (rc == CLI_EXIT_NET)
		m->net_failed = 1;
	return rc;
}

void msg_free(struct msg_ctx *m)
{
	conn_free(m->conn);
	json_decref(m->pins);
	json_decref(m->roomkeys);
	home_session_wipe(&m->session);
	home_keys_wipe(&m->keys);
	sodium_memzero(m, sizeof(*m));
}

/* ---- requests ---- */

int msg_call(struct msg_ctx *m, enum em_op op, json_t *args, json_t **result)
{
	struct em_incoming in;
	int rc;

	*result = NULL;
	m->err = 0;
	m->errmsg[0] = '\0';
	m->retry_after_ms = 0;
	m->refused_here = 0;
	if (!m->conn || m->net_failed) {
		json_decref(args);
		return CLI_EXIT_NET;
	}
	rc = conn_call(m->conn, op, args, &in);
	if (rc != CONN_OK) {
		m->net_failed = 1;
		return cli_fail(CLI_EXIT_NET, "%s", conn_strerror(m->conn));
	}
	if (in.result) {
		*result = in.result;
		in.result = NULL;
		em_incoming_clear(&in);
		return CLI_EXIT_OK;
	}
	m->err = in.err;
	m->retry_after_ms = in.retry_after_ms;
	{
		char *safe = text_for_terminal(in.err_message, strlen(in.err_message));

		snprintf(m->errmsg, sizeof(m->errmsg), "%s", safe ? safe : "?");
		free(safe);
	}
	em_incoming_clear(&in);
	if (m->err == EM_ERR_SESSION_EXPIRED || m->err == EM_ERR_NOT_AUTHENTICATED)
		return cli_fail(CLI_EXIT_AUTH, "your session has expired; run `ementor login %s`.",
		                m->session.username);
	return CLI_EXIT_REFUSED;
}

/* Whether this device ever held a key of the room (then "no longer" a member). */
static int msg_knew_room(struct msg_ctx *m, int64_t room_id)
{
	char key[24];

	snprintf(key, sizeof(key), "%lld", (long long)room_id);
	return json_object_get(json_object_get(m->roomkeys, "rooms"), key) != NULL;
}

int msg_report(struct msg_ctx *m, int rc, int64_t room_id)
{
	char wait[48];

	if (rc != CLI_EXIT_REFUSED)
		return rc;
	if (m->refused_here)
		return cli_fail(rc, "%s", m->errmsg);
	if (m->err == EM_ERR_AGREEMENT_UNSIGNED)
		return cli_fail(rc,
		                "you have not signed the agreement of room %lld: run `ementor "
		                "agreement sign %lld` (agreement_unsigned)",
		                (long long)room_id, (long long)room_id);
	if (m->err == EM_ERR_NOT_MEMBER)
		return cli_fail(rc,
		                msg_knew_room(m, room_id)
		                    ? "you are no longer a member of room %lld"
		                    : "you are not a member of room %lld",
		                (long long)room_id);
	if (m->err == EM_ERR_NOT_FOUND && msg_knew_room(m, room_id))
		return cli_fail(rc, "you are no longer a member of room %lld", (long long)room_id);
	if (m->err == EM_ERR_NOT_FOUND)
		return cli_fail(rc, "room %lld does not exist, or you may not see it (%s)",
		                (long long)room_id, m->errmsg);
	if (em_err_retryable(m->err))
		return cli_fail(rc, "%s (%s); try again in %s.", m->errmsg, em_err_code(m->err),
		                cli_describe_wait(m->retry_after_ms, wait, sizeof(wait)));
	return cli_fail(rc, "%s (%s)", m->errmsg, em_err_code(m->err));
}

/* ---- rooms and pins ---- */

struct msg_room *msg_room(struct msg_ctx *m, int64_t room_id)
{
	struct msg_room *r;

	for (size_t i = 0; i < m->nrooms; i++)
		if (m->rooms[i].id == room_id)
			return &m->rooms[i];
	if (m->nrooms == MSG_MAX_ROOMS)
		return NULL;
	r = &m->rooms[m->nrooms++];
	memset(r, 0, sizeof(*r));
	r->id = room_id;
	return r;
}

int msg_user_keys(struct msg_ctx *m, int64_t user_id, struct pin *out)
{
	if (user_id == m->session.user_id) {
		memset(out, 0, sizeof(*out));
		out->user_id = user_id;
		snprintf(out->username, sizeof(out->username), "%s", m->session.username);
		memcpy(out->sign_pk, m->keys.keys.sign_pk, sizeof(out->sign_pk));
		memcpy(out->box_pk, m->keys.keys.box_pk, sizeof(out->box_pk));
		em_fingerprint(out->sign_pk, out->box_pk, out->fingerprint);
		return 0;
	}
	return pins_get(m->pins, user_id, out);
}

/* One user as room.show presented them. */
struct msg_seen {
	int64_t id;
	char username[EM_USERNAME_MAX + 1];
	unsigned char sign_pk[EM_SIGN_PK_BYTES];
	unsigned char box_pk[EM_BOX_PK_BYTES];
	int member; /* current member (else former) */
	int usable; /* id, username and keys are well-formed */
	int result; /* enum pin_seen, or -errno */
};

struct msg_observe {
	struct msg_seen *seen;
	size_t n;
	int64_t self;
	char now[STATE_TIME_LEN];
};

static int msg_observe_fn(json_t *pins, void *arg)
{
	struct msg_observe *o = arg;
	json_t *before = json_deep_copy(pins);
	int changed;

	for (size_t i = 0; i < o->n; i++) {
		struct msg_seen *s = &o->seen[i];

		if (s->id == o->self)
			continue; /* compared by the caller, never pinned */
		if (!s->usable) {
			s->result = -EINVAL;
			continue;
		}
		s->result = pins_observe(pins, s->id, s->username, s->sign_pk, s->box_pk, o->now);
		if (s->result == -ENOMEM) {
			json_decref(before);
			return -ENOMEM;
		}
	}
	changed = !before || !json_equal(before, pins);
	json_decref(before);
	return changed;
}

static int msg_was_warned(struct msg_ctx *m, int64_t user_id)
{
	for (size_t i = 0; i < m->nwarned; i++)
		if (m->warned[i] == user_id)
			return 1;
	if (m->nwarned < sizeof(m->warned) / sizeof(m->warned[0]))
		m->warned[m->nwarned++] = user_id;
	return 0;
}

static void msg_warn_changed(struct msg_ctx *m, int64_t user_id)
{
	struct pin p;

	if (msg_was_warned(m, user_id) || pins_get(m->pins, user_id, &p) || !p.changed)
		return;
	fprintf(stderr,
	        "\n"
	        "WARNING: THE KEYS OF %s HAVE CHANGED.\n"
	        "  pinned fingerprint: %s (first seen %s)\n"
	        "  new fingerprint:    %s (seen %s)\n"
	        "This happens when %s set up a new account, but it is also what an attacker who\n"
	        "controls the server would do to read your messages. Until you have compared the\n"
	        "new fingerprint with %s in person and run `ementor trust %s`, ementor sends\n"
	        "nothing to rooms with %s and seals no room key to them, and messages signed with\n"
	        "the new key are shown as REJECTED.\n\n",
	        p.username, p.fingerprint, p.first_seen, p.new_fingerprint, p.changed_seen,
	        p.username, p.username, p.username, p.username);
}

/* Reads one User object of room.show into *s. */
static void msg_seen_from_json(struct msg_seen *s, json_t *user, int member)
{
	const char *name = json_string_value(json_object_get(user, "username"));
	const char *spk = json_string_value(json_object_get(user, "sign_pk"));
	const char *bpk = json_string_value(json_object_get(user, "box_pk"));
	json_t *id = json_object_get(user, "id");

	memset(s, 0, sizeof(*s));
	s->member = member;
	s->id = json_is_integer(id) ? json_integer_value(id) : 0;
	if (name && em_check_username(name) == EM_OK)
		em_username_fold(name, s->username);
	else
		snprintf(s->username, sizeof(s->username), "user%lld", (long long)s->id);
	s->usable = s->id > 0 && name && em_check_username(name) == EM_OK && spk && bpk &&
	            em_b64_decode(spk, s->sign_pk, sizeof(s->sign_pk)) == EM_SIGN_PK_BYTES &&
	            em_b64_decode(bpk, s->box_pk, sizeof(s->box_pk)) == EM_BOX_PK_BYTES;
}

/*
 * Pins what the server showed, under the home lock, and reports changed or
 * unreadable keys. Our own keys are compared with keys.json, never pinned;
 * *self_differs says they differ. Fills seen[i].result. Returns an exit code.
 */
static int msg_observe_users(struct msg_ctx *m, struct msg_seen *seen, size_t n, int *self_differs)
{
	struct msg_observe o = {.seen = seen, .n = n, .self = m->session.user_id};
	json_t *fresh = NULL;
	int rc;

	*self_differs = 0;
	for (size_t i = 0; i < n; i++) {
		if (seen[i].id != m->session.user_id)
			continue;
		seen[i].result = PIN_SAME;
		if (sodium_memcmp(seen[i].sign_pk, m->keys.keys.sign_pk, EM_SIGN_PK_BYTES) ||
		    sodium_memcmp(seen[i].box_pk, m->keys.keys.box_pk, EM_BOX_PK_BYTES))
			*self_differs = 1;
	}
	if (*self_differs && !msg_was_warned(m, m->session.user_id))
		fprintf(stderr,
		        "WARNING: the server shows other keys for you (%s) than the ones on this "
		        "device. Nothing is sent to rooms with you until this is cleared up: run "
		        "`ementor whoami` and tell your programme's operator.\n",
		        m->session.username);
	state_now(o.now);
	rc = state_update(&m->cli->home, STATE_PINS_FILE, msg_observe_fn, &o, &fresh);
	if (rc < 0)
		return cli_home_error(m->cli, "write", STATE_PINS_FILE, rc);
	json_decref(m->pins);
	m->pins = fresh;
	for (size_t i = 0; i < n; i++) {
		if (seen[i].id == m->session.user_id)
			continue;
		if (seen[i].result == PIN_CHANGED)
			msg_warn_changed(m, seen[i].id);
		if (seen[i].result < 0 && !msg_was_warned(m, seen[i].id))
			fprintf(
			    stderr,
			    "WARNING: the server sent unreadable keys for %s; nothing is sent to "
			    "rooms with them.\n",
			    seen[i].username);
	}
	return CLI_EXIT_OK;
}

int msg_pin_people(struct msg_ctx *m, json_t *users)
{
	struct msg_seen *seen = calloc(json_array_size(users) + 1, sizeof(*seen));
	size_t i, n = 0;
	json_t *u;
	int rc, self_differs;

	if (!seen)
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	json_array_foreach(users, i, u)
	{
		msg_seen_from_json(&seen[n++], u, 0);
	}
	rc = msg_observe_users(m, seen, n, &self_differs);
	free(seen);
	return rc;
}

int msg_room_show(struct msg_ctx *m, int64_t room_id, struct msg_room **out)
{
	struct msg_seen *seen = NULL;
	struct msg_room *r = msg_room(m, room_id);
	json_t *res = NULL, *room, *list, *former, *u;
	size_t i, n = 0;
	int rc, self_differs = 0;

	if (out)
		*out = r;
	if (!r)
		return cli_fail(CLI_EXIT_LOCAL, "too many rooms in one command");
	rc = msg_call(m, EM_OP_ROOM_SHOW, json_pack("{s:I}", "room_id", (json_int_t)room_id), &res);
	if (rc)
		return rc;
	room = json_object_get(res, "room");
	r->epoch = json_integer_value(json_object_get(room, "epoch"));
	r->last_seq = json_integer_value(json_object_get(room, "last_seq"));
	r->rotate_required = json_is_true(json_object_get(room, "rotate_required"));
	{
		const char *name = json_string_value(json_object_get(room, "name"));
		char *safe = name ? text_for_terminal(name, strlen(name)) : NULL;

		snprintf(r->name, sizeof(r->name), "%s", safe ? safe : "");
		free(safe);
	}
	r->nmembers = 0;
	r->on_roster = 0;
	r->blocked_by[0] = '\0';
	list = json_object_get(room, "members");
	former = json_object_get(room, "former_members");
	/* Former members too: their keys verify what they sent earlier. */
	seen = calloc(json_array_size(list) + json_array_size(former) + 1, sizeof(*seen));
	if (!seen) {
		json_decref(res);
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	}
	json_array_foreach(list, i, u)
	{
		if (r->nmembers == EM_ROOM_MEMBERS_MAX)
			break;
		msg_seen_from_json(&seen[n], u, 1);
		r->members[r->nmembers] = seen[n].id;
		r->roster[r->nmembers] = json_is_true(json_object_get(u, "roster"));
		if (seen[n].id == m->session.user_id && r->roster[r->nmembers])
			r->on_roster = 1;
		snprintf(r->member_names[r->nmembers], sizeof(r->member_names[0]), "%s",
		         seen[n].username);
		r->nmembers++;
		n++;
	}
	json_array_foreach(former, i, u)
	{
		msg_seen_from_json(&seen[n++], u, 0);
	}
	rc = msg_observe_users(m, seen, n, &self_differs);
	if (rc) {
		free(seen);
		json_decref(res);
		return rc;
	}
	for (i = 0; i < n; i++) {
		if (!seen[i].member || r->blocked_by[0])
			continue;
		if (seen[i].id == m->session.user_id
		        ? self_differs
		        : seen[i].result == PIN_CHANGED || seen[i].result < 0)
			snprintf(r->blocked_by, sizeof(r->blocked_by), "%s", seen[i].username);
	}
	r->shown = 1;
	free(seen);
	json_decref(res);
	return CLI_EXIT_OK;
}

/* ---- room keys ---- */

struct msg_key_put {
	int64_t room_id, epoch, committer;
	const unsigned char *key;
	char now[STATE_TIME_LEN];
};

static int msg_key_put_fn(json_t *rk, void *arg)
{
	struct msg_key_put *k = arg;

	return roomkeys_put(rk, k->room_id, k->epoch, k->key, k->committer, k->now);
}

/* Stores a verified key. Returns 0 or -1 (reported). */
static int msg_store_key(struct msg_ctx *m, int64_t room_id, int64_t epoch,
                         const unsigned char key[EM_ROOM_KEY_BYTES], int64_t committer)
{
	struct msg_key_put k = {
	    .room_id = room_id, .epoch = epoch, .committer = committer, .key = key};
	json_t *fresh = NULL;
	int rc;

	state_now(k.now);
	rc = state_update(&m->cli->home, STATE_ROOMKEYS_FILE, msg_key_put_fn, &k, &fresh);
	if (rc == -EEXIST) {
		fprintf(stderr,
		        "WARNING: received a second, different key for epoch %lld of room %lld; "
		        "keeping the first one.\n",
		        (long long)epoch, (long long)room_id);
		return 0;
	}
	if (rc < 0) {
		cli_home_error(m->cli, "write", STATE_ROOMKEYS_FILE, rc);
		return -1;
	}
	json_decref(m->roomkeys);
	m->roomkeys = fresh;
	return 0;
}

static int msg_epoch_bad(const struct msg_room *r, int64_t epoch)
{
	for (size_t i = 0; i < r->nbad; i++)
		if (r->bad_epochs[i] == epoch)
			return 1;
	return 0;
}

/* Records and reports an envelope we could not accept. */
static void msg_bad_envelope(struct msg_ctx *m, struct msg_room *r, int64_t epoch, const char *why)
{
	if (!r || msg_epoch_bad(r, epoch))
		return;
	if (r->nbad < sizeof(r->bad_epochs) / sizeof(r->bad_epochs[0]))
		r->bad_epochs[r->nbad++] = epoch;
	fprintf(stderr,
	        "WARNING: the key for epoch %lld of room %lld was not accepted: %s. Messages of "
	        "that epoch stay unreadable.\n",
	        (long long)epoch, (long long)r->id, why);
}

/*
 * Opens a sealed room key addressed to us and verifies it with the
 * committer's pinned key; stores it when good. committer_hint is what the
 * server says (< 0: nothing said). Returns 0 (stored or already held) or -1.
 */
static int msg_accept_envelope(struct msg_ctx *m, int64_t room_id, int64_t epoch,
                               int64_t committer_hint, const char *sealed_b64)
{
	unsigned char sealed[EM_SEALED_KEY_BYTES], key[EM_ROOM_KEY_BYTES], sig[EM_SIG_BYTES];
	struct msg_room *r = msg_room(m, room_id);
	uint64_t committer = 0;
	struct pin p;
	char why[200];
	int rc = -1;

	if (epoch < 1 || !sealed_b64 ||
	    em_b64_decode(sealed_b64, sealed, sizeof(sealed)) != (int)sizeof(sealed)) {
		msg_bad_envelope(m, r, epoch, "the server sent a malformed envelope");
		return -1;
	}
	if (roomkeys_get(m->roomkeys, room_id, epoch, key, NULL) == 0) {
		rc = 0; /* already held */
		goto out;
	}
	if (em_room_key_open(sealed, &m->keys.keys, &committer, key, sig) != 0) {
		msg_bad_envelope(m, r, epoch, "it does not open with your key");
		goto out;
	}
	if (committer_hint >= 0 && (uint64_t)committer_hint != committer) {
		msg_bad_envelope(m, r, epoch,
		                 "the server names another committer than the sealed one");
		goto out;
	}
	if (msg_user_keys(m, (int64_t)committer, &p) != 0 && r && !r->shown)
		msg_room_show(m, room_id, NULL); /* a new member may have committed */
	if (msg_user_keys(m, (int64_t)committer, &p) != 0) {
		snprintf(why, sizeof(why), "its committer (user %llu) has no pinned key",
		         (unsigned long long)committer);
		msg_bad_envelope(m, r, epoch, why);
		goto out;
	}
	if (em_room_key_verify(key, (uint64_t)room_id, (uint64_t)epoch,
	                       (uint64_t)m->session.user_id, committer, sig, p.sign_pk) != 0) {
		snprintf(why, sizeof(why), "it is not signed by %s's pinned key%s", p.username,
		         p.changed ? " (their keys changed: see `ementor trust`)" : "");
		msg_bad_envelope(m, r, epoch, why);
		goto out;
	}
	rc = msg_store_key(m, room_id, epoch, key, (int64_t)committer);
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(sig, sizeof(sig));
	return rc;
}

int msg_room_keys(struct msg_ctx *m, int64_t room_id)
{
	struct msg_room *r = msg_room(m, room_id);
	json_t *res = NULL, *env;
	size_t i;
	int rc;

	if (!r)
		return cli_fail(CLI_EXIT_LOCAL, "too many rooms in one command");
	rc = msg_call(m, EM_OP_KEYS_GET, json_pack("{s:I}", "room_id", (json_int_t)room_id), &res);
	if (rc)
		return rc;
	json_array_foreach(json_object_get(res, "envelopes"), i, env)
	{
		json_t *committer = json_object_get(env, "committer_id");

		msg_accept_envelope(m, room_id, json_integer_value(json_object_get(env, "epoch")),
		                    json_is_integer(committer) ? json_integer_value(committer) : -1,
		                    json_string_value(json_object_get(env, "sealed")));
	}
	if (json_integer_value(json_object_get(res, "epoch")) > r->epoch)
		r->epoch = json_integer_value(json_object_get(res, "epoch"));
	r->keys_fetched = 1;
	r->keys_epoch = json_integer_value(json_object_get(res, "epoch"));
	json_decref(res);
	return CLI_EXIT_OK;
}

int msg_epoch_event(struct msg_ctx *m, json_t *data)
{
	json_t *room = json_object_get(data, "room_id"), *committer;
	int64_t epoch = json_integer_value(json_object_get(data, "epoch"));
	struct msg_room *r;

	if (!json_is_integer(room) || json_integer_value(room) < 1)
		return -1;
	committer = json_object_get(data, "committer_id");
	r = msg_room(m, json_integer_value(room));
	if (r && epoch > r->epoch) {
		r->epoch = epoch;
		r->rotate_required = 0;
	}
	return msg_accept_envelope(m, json_integer_value(room), epoch,
	                           json_is_integer(committer) ? json_integer_value(committer) : -1,
	                           json_string_value(json_object_get(data, "sealed")));
}

/* ---- agreements ---- */

int msg_version_parse(json_t *version, int64_t room_id, struct msg_version *out)
{
	json_t *parties = json_object_get(version, "parties"), *p;
	json_t *num = json_object_get(version, "version");
	size_t i;

	memset(out, 0, sizeof(*out));
	out->room_id = room_id;
	out->starts_on = json_string_value(json_object_get(version, "starts_on"));
	out->ends_on = json_string_value(json_object_get(version, "ends_on"));
	out->terms = json_string_value(json_object_get(version, "terms"));
	if (!json_is_integer(num) || json_integer_value(num) < 1 ||
	    json_integer_value(num) > UINT32_MAX || !out->starts_on || !out->ends_on ||
	    !out->terms || !json_is_array(parties) || json_array_size(parties) > MSG_MAX_PARTIES)
		return -1;
	out->version = (uint32_t)json_integer_value(num);
	json_array_foreach(parties, i, p)
	{
		struct em_party e;
		json_t *id = json_object_get(p, "user_id");
		const char *role = json_string_value(json_object_get(p, "role"));
		const char *spk = json_string_value(json_object_get(p, "sign_pk"));
		const char *bpk = json_string_value(json_object_get(p, "box_pk"));
		size_t j;

		memset(&e, 0, sizeof(e));
		if (!json_is_integer(id) || json_integer_value(id) < 1 || !role || !spk || !bpk ||
		    em_b64_decode(spk, e.sign_pk, sizeof(e.sign_pk)) != EM_SIGN_PK_BYTES ||
		    em_b64_decode(bpk, e.box_pk, sizeof(e.box_pk)) != EM_BOX_PK_BYTES)
			return -1;
		e.user_id = (uint64_t)json_integer_value(id);
		e.role = role;
		/* insertion in ascending user_id; a user listed twice is malformed */
		for (j = out->n; j > 0 && out->parties[j - 1].user_id > e.user_id; j--) {
			out->parties[j] = out->parties[j - 1];
			out->party[j] = out->party[j - 1];
		}
		if (j > 0 && out->parties[j - 1].user_id == e.user_id)
			return -1;
		out->parties[j] = e;
		out->party[j] = p;
		out->n++;
	}
	return 0;
}

int msg_version_party(const struct msg_version *v, int64_t user_id)
{
	for (size_t i = 0; i < v->n; i++)
		if (v->parties[i].user_id == (uint64_t)user_id)
			return (int)i;
	return -1;
}

int msg_party_check(struct msg_ctx *m, struct msg_version *v, int64_t user_id)
{
	unsigned char sig[EM_SIG_BYTES];
	const char *sig_b64;
	json_t *withdrawn;
	struct pin p;
	int i = msg_version_party(v, user_id);

	if (i < 0)
		return MSG_PARTY_ABSENT;
	if (msg_user_keys(m, user_id, &p) != 0)
		return MSG_PARTY_NO_PIN;
	if (p.changed)
		return MSG_PARTY_KEY_CHANGED;
	if (sodium_memcmp(p.sign_pk, v->parties[i].sign_pk, EM_SIGN_PK_BYTES) != 0 ||
	    sodium_memcmp(p.box_pk, v->parties[i].box_pk, EM_BOX_PK_BYTES) != 0)
		return MSG_PARTY_KEYS_DIFFER;
	sig_b64 = json_string_value(json_object_get(v->party[i], "signature"));
	if (!sig_b64)
		return MSG_PARTY_UNSIGNED;
	withdrawn = json_object_get(v->party[i], "withdrawn_at");
	if (withdrawn && !json_is_null(withdrawn))
		return MSG_PARTY_WITHDRAWN;
	if (em_b64_decode(sig_b64, sig, sizeof(sig)) != (int)sizeof(sig) ||
	    em_agreement_verify((uint64_t)v->room_id, v->version, v->starts_on, v->ends_on,
	                        v->terms, v->parties, v->n, p.sign_pk, sig) != 0)
		return MSG_PARTY_BAD_SIGNATURE;
	return MSG_PARTY_OK;
}

const char *msg_party_text(int check)
{
	switch (check) {
	case MSG_PARTY_OK:
		return "signed; the signature verifies with the pinned key";
	case MSG_PARTY_ABSENT:
		return "is not a party of it";
	case MSG_PARTY_NO_PIN:
		return "has no key pinned on this device";
	case MSG_PARTY_KEY_CHANGED:
		return "has changed keys not trusted yet (see `ementor trust`)";
	case MSG_PARTY_KEYS_DIFFER:
		return "is listed with other keys than the ones pinned on this device";
	case MSG_PARTY_UNSIGNED:
		return "has not signed it";
	case MSG_PARTY_WITHDRAWN:
		return "withdrew their signature";
	case MSG_PARTY_BAD_SIGNATURE:
		return "has a signature that DOES NOT VERIFY";
	default:
		return "?";
	}
}

int msg_pin_parties(struct msg_ctx *m, struct msg_version *v)
{
	json_t *users = json_array();
	int rc;

	if (!users)
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	for (size_t i = 0; i < v->n; i++) {
		json_t *p = v->party[i];

		json_array_append_new(users, json_pack("{s:O, s:O, s:O, s:O}", "id",
		                                       json_object_get(p, "user_id"), "username",
		                                       json_object_get(p, "username"), "sign_pk",
		                                       json_object_get(p, "sign_pk"), "box_pk",
		                                       json_object_get(p, "box_pk")));
	}
	rc = msg_pin_people(m, users);
	json_decref(users);
	return rc;
}

/* A refusal of this client's own (not the server's), for msg_report(). */
static int msg_refuse(struct msg_ctx *m, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int msg_refuse(struct msg_ctx *m, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->errmsg, sizeof(m->errmsg), fmt, ap);
	va_end(ap);
	m->err = err;
	m->refused_here = 1;
	return CLI_EXIT_REFUSED;
}

/*
 * The members a new room key may be sealed to (PROTOCOL.md 7.2): those
 * room.show flags as on the roster, each checked against the active
 * agreement when the room requires one. Fills ids[] (at most
 * EM_ROOM_MEMBERS_MAX). Returns an exit code; CLI_EXIT_REFUSED with
 * m->errmsg naming who failed, and then nothing may be committed.
 */
static int msg_roster(struct msg_ctx *m, struct msg_room *r, int64_t *ids, size_t *n)
{
	struct msg_version v;
	json_t *res = NULL, *active;
	int rc;

	*n = 0;
	rc = msg_call(m, EM_OP_AGREEMENT_SHOW, json_pack("{s:I}", "room_id", (json_int_t)r->id),
	              &res);
	if (rc)
		return rc;
	if (!r->on_roster) {
		json_t *pending = json_object_get(res, "pending");
		int me;

		/* Signed the pending version already: say who is missing, not "sign". */
		if (json_is_object(pending) && msg_version_parse(pending, r->id, &v) == 0 &&
		    (me = msg_version_party(&v, m->session.user_id)) >= 0 &&
		    json_is_string(json_object_get(v.party[me], "signature"))) {
			char waiting[256] = "";

			for (size_t i = 0; i < v.n; i++) {
				if (json_is_string(json_object_get(v.party[i], "signature")))
					continue;
				if (waiting[0])
					strncat(waiting, ", ",
					        sizeof(waiting) - strlen(waiting) - 1);
				strncat(waiting, cli_str(v.party[i], "username", "?"),
				        sizeof(waiting) - strlen(waiting) - 1);
			}
			rc = msg_refuse(
			    m, EM_ERR_AGREEMENT_UNSIGNED,
			    "you have signed version %u of the agreement of room %lld, but "
			    "it is in force only once every party has: waiting for %s "
			    "(agreement_unsigned)",
			    v.version, (long long)r->id, waiting[0] ? waiting : "-");
		} else {
			m->err = EM_ERR_AGREEMENT_UNSIGNED;
			rc = CLI_EXIT_REFUSED;
		}
		goto out;
	}
	active = json_object_get(res, "active");
	if (!json_is_false(json_object_get(res, "required"))) {
		if (!json_is_object(active)) {
			rc = msg_refuse(
			    m, EM_ERR_AGREEMENT_UNSIGNED,
			    "room %lld has no agreement signed by every party yet, so no "
			    "room key is sealed: see `ementor agreement show %lld`",
			    (long long)r->id, (long long)r->id);
			goto out;
		}
		if (msg_version_parse(active, r->id, &v) != 0) {
			rc = msg_refuse(m, EM_ERR_BAD_VALUE,
			                "the server sent a malformed agreement for room %lld; no "
			                "room key is sealed",
			                (long long)r->id);
			goto out;
		}
	}
	for (size_t i = 0; i < r->nmembers; i++) {
		int check;

		if (!r->roster[i])
			continue;
		if (json_is_false(json_object_get(res, "required"))) {
			ids[(*n)++] = r->members[i];
			continue;
		}
		check = msg_party_check(m, &v, r->members[i]);
		if (check != MSG_PARTY_OK) {
			rc =
			    msg_refuse(m, EM_ERR_ROSTER_MISMATCH,
			               "not sealing a new key for room %lld: the server puts %s on "
			               "its roster, but %s %s (active agreement, version %u). "
			               "Nothing was sent; check `ementor agreement show %lld`",
			               (long long)r->id, r->member_names[i], r->member_names[i],
			               msg_party_text(check), v.version, (long long)r->id);
			goto out;
		}
		ids[(*n)++] = r->members[i];
	}
out:
	json_decref(res);
	return rc;
}

/* ---- rotation ---- */

static int msg_is_member(const struct msg_ctx *m, const struct msg_room *r)
{
	for (size_t i = 0; i < r->nmembers; i++)
		if (r->members[i] == m->session.user_id)
			return 1;
	return 0;
}

/*
 * Starts epoch r->epoch + 1 with a fresh key sealed to every member on the
 * checked roster (msg_roster()). Returns an exit code; *retry is set when
 * the room changed under us (stale_epoch, roster_mismatch): look again and
 * retry.
 */
static int msg_rotate(struct msg_ctx *m, struct msg_room *r, int *retry)
{
	struct em_commit_entry entries[EM_ROOM_MEMBERS_MAX];
	unsigned char key[EM_ROOM_KEY_BYTES], sig[EM_SIG_BYTES];
	int64_t epoch = r->epoch + 1, me = m->session.user_id;
	int64_t ids[EM_ROOM_MEMBERS_MAX];
	size_t n = 0;
	json_t *envelopes = NULL, *res = NULL;
	int rc = CLI_EXIT_OK;
	char *b64;

	*retry = 0;
	if (!msg_is_member(m, r)) {
		m->err = EM_ERR_NOT_MEMBER;
		snprintf(m->errmsg, sizeof(m->errmsg), "you are not a member of this room");
		return CLI_EXIT_REFUSED;
	}
	rc = msg_roster(m, r, ids, &n);
	if (rc)
		return rc;
	randombytes_buf(key, sizeof(key));
	for (size_t i = 0; i < n; i++) {
		struct pin p;

		if (msg_user_keys(m, ids[i], &p) != 0 || p.changed) {
			/* msg_room_show() pins every member; this is a damaged pins.json. */
			rc = CLI_EXIT_REFUSED;
			m->err = EM_ERR_BAD_VALUE;
			snprintf(m->errmsg, sizeof(m->errmsg), "no trusted key for user %lld",
			         (long long)ids[i]);
			goto out;
		}
		entries[i].recipient_id = (uint64_t)ids[i];
		em_room_key_seal(key, (uint64_t)r->id, (uint64_t)epoch, (uint64_t)ids[i],
		                 (uint64_t)me, m->keys.keys.sign_sk, p.box_pk, entries[i].sealed);
	}
	if (em_commit_sign((uint64_t)r->id, (uint64_t)epoch, (uint64_t)me, entries, n,
	                   m->keys.keys.sign_sk, sig) != 0) {
		rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
		goto out;
	}
	envelopes = json_array();
	for (size_t i = 0; envelopes && i < n; i++) {
		b64 = em_b64_encode(entries[i].sealed, EM_SEALED_KEY_BYTES);
		if (!b64 ||
		    json_array_append_new(envelopes, json_pack("{s:I, s:s}", "recipient_id",
		                                               (json_int_t)entries[i].recipient_id,
		                                               "sealed", b64))) {
			free(b64);
			rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
			goto out;
		}
		free(b64);
	}
	b64 = em_b64_encode(sig, sizeof(sig));
	if (!envelopes || !b64) {
		free(b64);
		rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
		goto out;
	}
	rc = msg_call(m, EM_OP_EPOCH_COMMIT,
	              json_pack("{s:I, s:I, s:O, s:s}", "room_id", (json_int_t)r->id, "epoch",
	                        (json_int_t)epoch, "envelopes", envelopes, "sig", b64),
	              &res);
	free(b64);
	if (rc == CLI_EXIT_REFUSED &&
	    (m->err == EM_ERR_STALE_EPOCH || m->err == EM_ERR_ROSTER_MISMATCH)) {
		*retry = 1;
		r->shown = 0;
		r->keys_fetched = 0;
		rc = CLI_EXIT_OK;
		goto out;
	}
	if (rc)
		goto out;
	if (msg_store_key(m, r->id, epoch, key, me) != 0) {
		rc = CLI_EXIT_LOCAL;
		goto out;
	}
	r->epoch = epoch;
	r->rotate_required = 0;
out:
	json_decref(envelopes);
	json_decref(res);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(entries, sizeof(entries));
	return rc;
}

/* ---- delivery ---- */

struct msg_enqueue_arg {
	int64_t room_id;
	const unsigned char *id;
	const char *text;
	size_t len;
	char now[STATE_TIME_LEN];
};

static int msg_enqueue_fn(json_t *ob, void *arg)
{
	struct msg_enqueue_arg *a = arg;

	return outbox_add(ob, a->room_id, a->id, a->text, a->len, a->now);
}

int msg_enqueue(struct cli *cli, int64_t room_id, const char *text, size_t len,
                unsigned char id[EM_MSG_ID_BYTES])
{
	struct msg_enqueue_arg a = {.room_id = room_id, .id = id, .text = text, .len = len};
	int rc;

	randombytes_buf(id, EM_MSG_ID_BYTES);
	state_now(a.now);
	rc = state_update(&cli->home, STATE_OUTBOX_FILE, msg_enqueue_fn, &a, NULL);
	if (rc < 0)
		return cli_home_error(cli, "write", STATE_OUTBOX_FILE, rc);
	return CLI_EXIT_OK;
}

struct msg_outbox_del {
	const unsigned char *id;
};

static int msg_outbox_remove_fn(json_t *ob, void *arg)
{
	return outbox_remove(ob, ((struct msg_outbox_del *)arg)->id);
}

static void msg_outbox_remove(struct msg_ctx *m, const unsigned char *id)
{
	struct msg_outbox_del d = {.id = id};
	int rc = state_update(&m->cli->home, STATE_OUTBOX_FILE, msg_outbox_remove_fn, &d, NULL);

	if (rc < 0)
		cli_home_error(m->cli, "write", STATE_OUTBOX_FILE, rc);
}

/* Encrypts and sends at the room's current epoch. Returns an exit code. */
static int msg_send_once(struct msg_ctx *m, struct msg_room *r, const struct outbox_msg *om,
                         const unsigned char key[EM_ROOM_KEY_BYTES], struct msg_delivery *d)
{
	unsigned char *ct = malloc(EM_MSG_CIPHERTEXT_MAX), sig[EM_SIG_BYTES];
	char *ct_b64 = NULL, *sig_b64 = NULL;
	json_t *res = NULL;
	int n, rc;

	if (!ct)
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	n = em_msg_encrypt(key, (uint64_t)r->id, (uint64_t)r->epoch, (uint64_t)m->session.user_id,
	                   om->client_msg_id, (const unsigned char *)om->text, om->text_len,
	                   m->keys.keys.sign_sk, ct, sig);
	if (n < 0) {
		free(ct);
		return cli_fail(CLI_EXIT_LOCAL, "the message is longer than %d bytes",
		                EM_MSG_PLAINTEXT_MAX);
	}
	ct_b64 = em_b64_encode(ct, (size_t)n);
	sig_b64 = em_b64_encode(sig, sizeof(sig));
	free(ct);
	if (!ct_b64 || !sig_b64) {
		free(ct_b64);
		free(sig_b64);
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	}
	rc = msg_call(m, EM_OP_SEND,
	              json_pack("{s:I, s:I, s:s, s:s, s:s}", "room_id", (json_int_t)r->id, "epoch",
	                        (json_int_t)r->epoch, "client_msg_id", om->id_b64, "ciphertext",
	                        ct_b64, "sig", sig_b64),
	              &res);
	free(ct_b64);
	free(sig_b64);
	if (rc == CLI_EXIT_OK) {
		d->seq = json_integer_value(json_object_get(res, "seq"));
		d->duplicate = json_is_true(json_object_get(res, "duplicate"));
	}
	json_decref(res);
	return rc;
}

/* Delivers one outbox message; fills *d. */
static void msg_deliver(struct msg_ctx *m, const struct outbox_msg *om, struct msg_delivery *d)
{
	unsigned char key[EM_ROOM_KEY_BYTES];
	struct msg_room *r = msg_room(m, om->room_id);
	int rc = CLI_EXIT_OK, retry;

	memset(d, 0, sizeof(*d));
	if (!r) {
		d->outcome = MSG_FAILED;
		d->exit_code = cli_fail(CLI_EXIT_LOCAL, "too many rooms in one command");
		return;
	}
	for (int attempt = 0; attempt < MSG_ATTEMPTS; attempt++) {
		int have;

		if (!r->shown && (rc = msg_room_show(m, om->room_id, NULL)) != CLI_EXIT_OK)
			break;
		if (!msg_is_member(m, r)) {
			rc = CLI_EXIT_REFUSED;
			if (!strcmp(m->session.role, "manager")) {
				m->err = EM_ERR_FORBIDDEN;
				snprintf(
				    m->errmsg, sizeof(m->errmsg),
				    "a manager may not send messages: only the members of room "
				    "%lld can, and only they can read them",
				    (long long)r->id);
			} else {
				m->err = EM_ERR_NOT_MEMBER;
			}
			break;
		}
		if (r->blocked_by[0]) {
			d->outcome = MSG_BLOCKED;
			d->exit_code = CLI_EXIT_REFUSED;
			return;
		}
		have = r->epoch > 0 && !r->rotate_required &&
		       roomkeys_get(m->roomkeys, r->id, r->epoch, key, NULL) == 0;
		if (!have && r->epoch > 0 && !r->rotate_required && !r->keys_fetched) {
			if ((rc = msg_room_keys(m, r->id)) != CLI_EXIT_OK)
				break;
			have = roomkeys_get(m->roomkeys, r->id, r->epoch, key, NULL) == 0;
		}
		if (!have) {
			rc = msg_rotate(m, r, &retry);
			if (rc != CLI_EXIT_OK)
				break;
			continue; /* with the new key, or after a fresh look at the room */
		}
		rc = msg_send_once(m, r, om, key, d);
		sodium_memzero(key, sizeof(key));
		if (rc == CLI_EXIT_OK) {
			msg_outbox_remove(m, om->client_msg_id);
			d->outcome = MSG_SENT;
			return;
		}
		if (rc == CLI_EXIT_REFUSED && m->err == EM_ERR_STALE_EPOCH) {
			r->shown = 0;
			r->keys_fetched = 0;
			continue;
		}
		if (rc == CLI_EXIT_REFUSED && m->err == EM_ERR_ROTATE_REQUIRED) {
			r->rotate_required = 1;
			continue;
		}
		break;
	}
	sodium_memzero(key, sizeof(key));
	if (rc == CLI_EXIT_OK) { /* out of attempts */
		d->outcome = MSG_FAILED;
		d->exit_code =
		    cli_fail(CLI_EXIT_REFUSED,
		             "room %lld kept changing its key epoch; the message stays in "
		             "the outbox, try again",
		             (long long)om->room_id);
		return;
	}
	d->exit_code = rc;
	if (rc == CLI_EXIT_NET || rc == CLI_EXIT_AUTH || rc == CLI_EXIT_LOCAL) {
		d->outcome = MSG_QUEUED;
		return;
	}
	/* No retry can change these: the message leaves the outbox, said aloud. */
	if (m->err == EM_ERR_NOT_MEMBER || m->err == EM_ERR_NOT_FOUND ||
	    m->err == EM_ERR_FORBIDDEN) {
		msg_report(m, rc, om->room_id);
		fprintf(stderr,
		        "ementor: dropped a message to room %lld from the outbox: %.60s%s\n",
		        (long long)om->room_id, om->text, om->text_len > 60 ? "..." : "");
		msg_outbox_remove(m, om->client_msg_id);
		d->outcome = MSG_DROPPED;
		return;
	}
	msg_report(m, rc, om->room_id);
	d->outcome = MSG_FAILED;
	if (em_err_retryable(m->err)) {
		/* The server cannot take it now: for the user, like unreachable. */
		d->outcome = MSG_QUEUED;
		d->exit_code = CLI_EXIT_NET;
	}
}

int msg_flush(struct msg_ctx *m, const unsigned char *watch, struct msg_delivery *watched,
              int verbose)
{
	int64_t held[MSG_MAX_ROOMS];
	struct msg_delivery held_d[MSG_MAX_ROOMS];
	size_t nheld = 0, n, sent = 0;
	json_t *ob = NULL;
	int rc, worst = CLI_EXIT_OK;

	if (watched) {
		memset(watched, 0, sizeof(*watched));
		watched->outcome = MSG_QUEUED;
		watched->exit_code = CLI_EXIT_NET;
	}
	rc = state_load(&m->cli->home, STATE_OUTBOX_FILE, &ob);
	if (rc)
		return cli_home_error(m->cli, "read", STATE_OUTBOX_FILE, rc);
	n = outbox_count(ob);
	for (size_t i = 0; i < n; i++) {
		struct outbox_msg om;
		struct msg_delivery d;
		size_t h;
		int is_watched;

		if (outbox_at(ob, i, &om) != 0) {
			fprintf(stderr, "ementor: skipping a damaged entry of %s/%s\n",
			        m->cli->home.dir, STATE_OUTBOX_FILE);
			continue;
		}
		is_watched = watch && !memcmp(watch, om.client_msg_id, EM_MSG_ID_BYTES);
		for (h = 0; h < nheld && held[h] != om.room_id; h++)
			;
		if (h < nheld) {
			d = held_d[h]; /* an older message of this room is still waiting */
		} else if (m->net_failed || !m->conn) {
			d.outcome = MSG_QUEUED;
			d.exit_code = CLI_EXIT_NET;
		} else {
			msg_deliver(m, &om, &d);
		}
		if (is_watched && watched)
			*watched = d;
		if (d.outcome == MSG_SENT) {
			sent += !is_watched;
			if (!is_watched && verbose)
				fprintf(stderr,
				        "ementor: delivered a queued message to room %lld (seq "
				        "%lld%s)\n",
				        (long long)om.room_id, (long long)d.seq,
				        d.duplicate ? "; the server already had it" : "");
			continue;
		}
		if (d.outcome == MSG_DROPPED)
			continue;
		if (d.outcome == MSG_BLOCKED && h == nheld) {
			struct msg_room *r = msg_room(m, om.room_id);

			fprintf(
			    stderr,
			    "ementor: not sending to room %lld: the keys of %s changed. Compare "
			    "the "
			    "new fingerprint with %s in person, then run `ementor trust %s`; the "
			    "message stays in the outbox.\n",
			    (long long)om.room_id, r ? r->blocked_by : "a member",
			    r ? r->blocked_by : "them", r ? r->blocked_by : "USER");
		}
		if (h == nheld && nheld < MSG_MAX_ROOMS) {
			held[nheld] = om.room_id;
			held_d[nheld++] = d;
		}
		if (worst == CLI_EXIT_OK)
			worst = d.exit_code ? d.exit_code : CLI_EXIT_REFUSED;
	}
	if (sent && !verbose)
		fprintf(stderr, "ementor: delivered %zu queued message%s first\n", sent,
		        sent == 1 ? "" : "s");
	json_decref(ob);
	return worst;
}

/* ---- reading ---- */

void msg_view_clear(struct msg_view *v)
{
	if (v->text) {
		sodium_memzero(v->text, v->text_len);
		free(v->text);
	}
	memset(v, 0, sizeof(*v));
}

int msg_open(struct msg_ctx *m, json_t *message, struct msg_view *v)
{
	unsigned char id[EM_MSG_ID_BYTES], sig[EM_SIG_BYTES], key[EM_ROOM_KEY_BYTES];
	unsigned char *ct = NULL, *plain = NULL;
	const char *ct_b64 = json_string_value(json_object_get(message, "ciphertext"));
	const char *id_b64 = json_string_value(json_object_get(message, "client_msg_id"));
	const char *sig_b64 = json_string_value(json_object_get(message, "sig"));
	const char *sender = json_string_value(json_object_get(message, "sender"));
	const char *sent_at = json_string_value(json_object_get(message, "sent_at"));
	struct msg_room *r;
	struct pin p;
	size_t plain_len = 0;
	int ct_len = -1, have_pin, have_key, st, rc = -1;

	memset(v, 0, sizeof(*v));
	v->room_id = json_integer_value(json_object_get(message, "room_id"));
	v->seq = json_integer_value(json_object_get(message, "seq"));
	v->epoch = json_integer_value(json_object_get(message, "epoch"));
	v->sender_id = json_integer_value(json_object_get(message, "sender_id"));
	snprintf(v->sender, sizeof(v->sender), "%s",
	         sender && em_check_username(sender) == EM_OK ? sender : "?");
	snprintf(v->sent_at, sizeof(v->sent_at), "%s", sent_at ? sent_at : "");
	r = v->room_id > 0 ? msg_room(m, v->room_id) : NULL;
	ct = malloc(EM_MSG_CIPHERTEXT_MAX);
	if (ct_b64)
		ct_len = em_b64_decode(ct_b64, ct, EM_MSG_CIPHERTEXT_MAX);
	if (!r || v->seq < 1 || v->epoch < 1 || v->sender_id < 1 || !ct || ct_len < 0 || !id_b64 ||
	    em_b64_decode(id_b64, id, sizeof(id)) != (int)sizeof(id) || !sig_b64 ||
	    em_b64_decode(sig_b64, sig, sizeof(sig)) != (int)sizeof(sig)) {
		snprintf(v->error, sizeof(v->error),
		         "(cannot read: the server sent a malformed message)");
		goto out;
	}
	have_pin = msg_user_keys(m, v->sender_id, &p) == 0;
	if (!have_pin && !r->shown && m->conn && !m->net_failed) {
		msg_room_show(m, v->room_id, NULL); /* a member we have not seen yet */
		have_pin = msg_user_keys(m, v->sender_id, &p) == 0;
	}
	if (!have_pin) {
		snprintf(v->error, sizeof(v->error),
		         "(REJECTED: no pinned key for %s — the server never showed them as a "
		         "member of room %lld)",
		         v->sender, (long long)v->room_id);
		rc = 0;
		goto out;
	}
	snprintf(v->sender, sizeof(v->sender), "%s", p.username);
	have_key = roomkeys_get(m->roomkeys, v->room_id, v->epoch, key, NULL) == 0;
	if (!have_key && (!r->keys_fetched || v->epoch > r->keys_epoch) && m->conn &&
	    !m->net_failed) {
		msg_room_keys(m, v->room_id);
		have_key = roomkeys_get(m->roomkeys, v->room_id, v->epoch, key, NULL) == 0;
	}
	/* Without the key, decrypting with a zero key still checks the
	 * signature first: a forgery is called a forgery, not a missing key. */
	if (!have_key)
		sodium_memzero(key, sizeof(key));
	plain = malloc((size_t)ct_len + 1);
	if (!plain) {
		snprintf(v->error, sizeof(v->error), "(cannot decrypt: out of memory)");
		goto out;
	}
	st = em_msg_decrypt(key, (uint64_t)v->room_id, (uint64_t)v->epoch, (uint64_t)v->sender_id,
	                    id, ct, (size_t)ct_len, sig, p.sign_pk, plain, &plain_len);
	rc = 0;
	if (st == EM_MSG_BAD_SIGNATURE) {
		snprintf(v->error, sizeof(v->error),
		         "(REJECTED: bad signature — not from %s's pinned key%s)", p.username,
		         p.changed ? "; their keys changed, see `ementor trust`" : "");
	} else if (!have_key) {
		if (r->shown && msg_is_member(m, r) && !r->on_roster)
			snprintf(v->error, sizeof(v->error),
			         "(cannot decrypt: you have not signed the agreement of room %lld: "
			         "run `ementor agreement sign %lld`)",
			         (long long)v->room_id, (long long)v->room_id);
		else if (msg_epoch_bad(r, v->epoch))
			snprintf(v->error, sizeof(v->error),
			         "(cannot decrypt: the key for epoch %lld was not accepted)",
			         (long long)v->epoch);
		else if (r->keys_fetched)
			snprintf(v->error, sizeof(v->error),
			         "(cannot decrypt: you were not a member at epoch %lld)",
			         (long long)v->epoch);
		else
			snprintf(v->error, sizeof(v->error),
			         "(cannot decrypt: key for epoch %lld not received yet)",
			         (long long)v->epoch);
	} else if (st == EM_MSG_UNDECRYPTABLE) {
		snprintf(v->error, sizeof(v->error),
		         "(cannot decrypt: it does not open with the key of epoch %lld)",
		         (long long)v->epoch);
	} else if (st != EM_MSG_OK) {
		snprintf(v->error, sizeof(v->error), "(cannot decrypt: malformed contents)");
	} else if (!text_is_utf8((const char *)plain, plain_len)) {
		snprintf(v->error, sizeof(v->error), "(cannot show: the text is not UTF-8)");
	} else {
		plain[plain_len] = '\0';
		v->text = (char *)plain;
		v->text_len = plain_len;
		plain = NULL;
	}
out:
	if (plain) {
		sodium_memzero(plain, (size_t)ct_len + 1);
		free(plain);
	}
	free(ct);
	sodium_memzero(key, sizeof(key));
	return rc;
}

void msg_view_print(const struct msg_view *v)
{
	char when[40];
	char *text = v->text ? text_for_terminal(v->text, v->text_len) : NULL;

	text_local_time(v->sent_at, when, sizeof(when));
	printf("[%lld] %s %s: %s\n", (long long)v->seq, when, v->sender, text ? text : v->error);
	free(text);
}

json_t *msg_view_json(const struct msg_view *v)
{
	json_t *o = json_pack("{s:I, s:s, s:I, s:I, s:s}", "seq", (json_int_t)v->seq, "sender",
	                      v->sender, "sender_id", (json_int_t)v->sender_id, "epoch",
	                      (json_int_t)v->epoch, "sent_at", v->sent_at);

	if (!o)
		return NULL;
	if (v->text)
		json_object_set_new(o, "text", json_stringn(v->text, v->text_len));
	else
		json_object_set_new(o, "error", json_string(v->error));
	return o;
}

/* ---- cursors ---- */

struct msg_cursor {
	int64_t room_id, seq, read;
};

static int msg_cursor_fn(json_t *cur, void *arg)
{
	struct msg_cursor *c = arg;

	return cursors_raise(cur, c->room_id, c->seq, c->read);
}

int msg_save_cursor(struct msg_ctx *m, int64_t room_id, int64_t seq, int64_t read)
{
	struct msg_cursor c = {.room_id = room_id, .seq = seq, .read = read};
	int rc = state_update(&m->cli->home, STATE_CURSORS_FILE, msg_cursor_fn, &c, NULL);

	if (rc < 0) {
		cli_home_error(m->cli, "write", STATE_CURSORS_FILE, rc);
		return rc;
	}
	return 0;
}
