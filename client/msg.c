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
#define _GNU_SOURCE /* strptime, timegm */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "msg.h"

/* How many times a send goes round refresh / rotate / retry before giving up. */
#define MSG_ATTEMPTS 6

/* The wall clock in Unix milliseconds. */
static int64_t msg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- trust.json ---- */

struct msg_trust_change {
	int (*fn)(json_t *trust, void *arg);
	void *arg;
	json_t *ours; /* this command's copy, whose order records go in first */
};

static int msg_trust_change_fn(json_t *trust, void *arg)
{
	struct msg_trust_change *c = arg;
	int merged = trust_order_merge(trust, c->ours), rc = 0;

	if (merged < 0)
		return merged;
	if (c->fn)
		rc = c->fn(trust, c->arg);
	return rc < 0 ? rc : (rc || merged);
}

/*
 * Changes trust.json under the home lock with fn (NULL: only saves the order
 * records of messages read), then reloads m->trust. Returns fn's result
 * (>= 0) or -errno, reported.
 */
static int msg_trust_update(struct msg_ctx *m, int (*fn)(json_t *trust, void *arg), void *arg)
{
	struct msg_trust_change c = {.fn = fn, .arg = arg, .ours = m->trust};
	json_t *fresh = NULL;
	int rc = state_update(&m->cli->home, STATE_TRUST_FILE, msg_trust_change_fn, &c, &fresh);

	if (rc < 0) {
		cli_home_error(m->cli, "write", STATE_TRUST_FILE, rc);
		return rc;
	}
	json_decref(m->trust);
	m->trust = fresh;
	m->order_dirty = 0;
	return rc;
}

static int msg_verify_version(struct msg_ctx *m, struct msg_room *r, json_t *version,
                              uint32_t number, struct trust_version *out, char *why, size_t len);
static int msg_room_agreement(struct msg_ctx *m, struct msg_room *r);
static int msg_room_trust(struct msg_ctx *m, struct msg_room *r, int64_t programme_id);
static int msg_withdrew(const struct msg_room *r, int64_t user_id);

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
	rc = state_load(&cli->home, STATE_TRUST_FILE, &m->trust);
	if (rc)
		return cli_home_error(cli, "read", STATE_TRUST_FILE, rc);
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
	if (m->order_dirty && m->trust)
		msg_trust_update(m, NULL, NULL);
	conn_free(m->conn);
	json_decref(m->pins);
	json_decref(m->roomkeys);
	json_decref(m->trust);
	for (size_t i = 0; i < m->nrooms; i++)
		json_decref(m->rooms[i].agreement);
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

	/* marked as warned only when there is something to say */
	if (pins_get(m->pins, user_id, &p) || !p.changed || msg_was_warned(m, user_id))
		return;
	if (p.name_changed)
		fprintf(
		    stderr,
		    "\n"
		    "WARNING: THE SERVER NOW CALLS %s \"%s\".\n"
		    "  user %lld was pinned as %s (first seen %s); the server showed the name\n"
		    "  \"%s\" for them on %s.\n"
		    "A username does not change in ementor: a server that swaps names would make\n"
		    "one person's messages appear as another's. Until you have checked with %s in\n"
		    "person and run `ementor trust %s`, ementor sends nothing to rooms with them\n"
		    "and shows their messages under the pinned name.\n\n",
		    p.username, p.new_username, (long long)p.user_id, p.username, p.first_seen,
		    p.new_username, p.changed_seen, p.username, p.username);
	if (p.keys_changed)
		fprintf(
		    stderr,
		    "\n"
		    "WARNING: THE KEYS OF %s HAVE CHANGED.\n"
		    "  pinned fingerprint: %s (first seen %s)\n"
		    "  new fingerprint:    %s (seen %s)\n"
		    "This happens when %s set up a new account, but it is also what an attacker "
		    "who\n"
		    "controls the server would do to read your messages. Until you have compared "
		    "the\n"
		    "new fingerprint with %s in person and run `ementor trust %s`, ementor sends\n"
		    "nothing to rooms with %s and seals no room key to them, and messages signed "
		    "with\n"
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
	/* Changes first: an unreadable entry for the same user (listed twice) must
	 * not take the place of the warning about their pending change. */
	for (size_t i = 0; i < n; i++)
		if (seen[i].id != m->session.user_id && seen[i].result == PIN_CHANGED)
			msg_warn_changed(m, seen[i].id);
	for (size_t i = 0; i < n; i++) {
		struct pin p;

		if (seen[i].id == m->session.user_id || seen[i].result >= 0 ||
		    msg_was_warned(m, seen[i].id))
			continue;
		/* a pinned user by the pinned name, not the one the server sent */
		fprintf(stderr,
		        "WARNING: the server sent unreadable keys for %s; nothing is sent to rooms "
		        "with them.\n",
		        pins_get(m->pins, seen[i].id, &p) == 0 ? p.username : seen[i].username);
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
	struct msg_room *r = msg_room(m, room_id);
	json_t *res = NULL;
	int rc;

	if (out)
		*out = r;
	if (!r)
		return cli_fail(CLI_EXIT_LOCAL, "too many rooms in one command");
	rc = msg_call(m, EM_OP_ROOM_SHOW, json_pack("{s:I}", "room_id", (json_int_t)room_id), &res);
	if (rc)
		return rc;
	rc = msg_room_apply(m, r, res);
	json_decref(res);
	return rc;
}

int msg_room_apply(struct msg_ctx *m, struct msg_room *r, json_t *res)
{
	struct msg_seen *seen = NULL;
	json_t *room, *list, *former, *u;
	size_t i, n = 0;
	int rc, self_differs = 0;

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
	if (!seen)
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
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
		return rc;
	}
	for (i = 0; i < n; i++) {
		struct pin p;

		if (!seen[i].member || r->blocked_by[0])
			continue;
		if (seen[i].id == m->session.user_id
		        ? self_differs
		        : seen[i].result == PIN_CHANGED || seen[i].result < 0)
			/* the name `ementor trust` knows them by: the pinned one */
			snprintf(r->blocked_by, sizeof(r->blocked_by), "%s",
			         seen[i].id != m->session.user_id &&
			                 pins_get(m->pins, seen[i].id, &p) == 0
			             ? p.username
			             : seen[i].username);
	}
	free(seen);
	r->refused[0] = '\0';
	r->agreement_fetched = 0; /* looked at again before the next key or message */
	{
		json_t *prog = json_object_get(room, "programme_id");

		rc = msg_room_trust(m, r, json_is_integer(prog) ? json_integer_value(prog) : 0);
	}
	if (rc)
		return rc;
	r->shown = 1;
	return CLI_EXIT_OK;
}

/* ---- what this device pins about programmes and rooms ---- */

struct msg_pin_arg {
	int64_t id, other;
	struct trust_programme prog;
	int result;
};

static int msg_programme_pin_fn(json_t *trust, void *arg)
{
	struct msg_pin_arg *a = arg;

	a->result = trust_programme_pin(trust, a->id, &a->prog);
	return a->result < 0 ? a->result : a->result == TRUST_PIN_NEW;
}

static int msg_room_pin_fn(json_t *trust, void *arg)
{
	struct msg_pin_arg *a = arg;

	a->result = trust_room_pin(trust, a->id, a->other);
	return a->result < 0 ? a->result : a->result == TRUST_PIN_NEW;
}

/*
 * The pinned setting of a programme; on first sight, programme.show: a
 * programme does without agreements only when its creator's signature over
 * that setting verifies with the creator's pinned key (PROTOCOL.md 7.3);
 * anything less counts as requiring them. Returns an exit code.
 */
static int msg_programme_pin(struct msg_ctx *m, int64_t programme_id, struct trust_programme *out)
{
	struct msg_pin_arg a = {.id = programme_id};
	unsigned char sig[EM_SIG_BYTES];
	json_t *res = NULL, *prog, *creator;
	const char *sig_b64;
	struct pin p;
	int rc;

	if (trust_programme_get(m->trust, programme_id, out) == 0)
		return CLI_EXIT_OK;
	rc = msg_call(m, EM_OP_PROGRAMME_SHOW,
	              json_pack("{s:I}", "programme_id", (json_int_t)programme_id), &res);
	if (rc)
		return rc;
	rc = msg_pin_people(m, json_object_get(res, "people"));
	if (rc)
		goto out;
	prog = json_object_get(res, "programme");
	creator = json_object_get(prog, "created_by");
	sig_b64 = json_string_value(json_object_get(prog, "settings_sig"));
	a.prog.creator_id = json_is_integer(creator) ? json_integer_value(creator) : 0;
	a.prog.required = 1;
	if (json_is_false(json_object_get(prog, "agreement_required"))) {
		if (a.prog.creator_id > 0 && msg_user_keys(m, a.prog.creator_id, &p) == 0 &&
		    !p.changed && sig_b64 &&
		    em_b64_decode(sig_b64, sig, sizeof(sig)) == (int)sizeof(sig) &&
		    em_programme_verify((uint64_t)programme_id, (uint64_t)a.prog.creator_id, 0,
		                        p.sign_pk, sig) == 0)
			a.prog.required = 0;
		else
			fprintf(
			    stderr,
			    "WARNING: the server says programme %lld does without agreements, "
			    "but its manager's signature on that setting is missing or does not "
			    "verify. This device treats the programme as requiring them: room "
			    "keys go only to members who signed their room's agreement.\n",
			    (long long)programme_id);
	}
	if (msg_trust_update(m, msg_programme_pin_fn, &a) < 0) {
		rc = CLI_EXIT_LOCAL;
		goto out;
	}
	*out = a.prog;
out:
	json_decref(res);
	return rc;
}

/*
 * Announces, in a room of a programme without agreements, every member this
 * device has not announced before: there the server decides who is in the
 * room, and a member is sealed the next room key as soon as they are added.
 * The first sight of a room lists who is in it.
 */
struct msg_announce_arg {
	const struct msg_room *r;
	int first;
	int64_t fresh[EM_ROOM_MEMBERS_MAX];
	size_t nfresh;
};

static int msg_announce_fn(json_t *trust, void *arg)
{
	struct msg_announce_arg *a = arg;
	int changed = 0;

	a->first = !trust_announced_any(trust, a->r->id);
	a->nfresh = 0;
	for (size_t i = 0; i < a->r->nmembers; i++) {
		int rc = trust_announce(trust, a->r->id, a->r->members[i]);

		if (rc < 0)
			return rc;
		if (rc > 0)
			a->fresh[a->nfresh++] = a->r->members[i];
		changed |= rc;
	}
	return changed;
}

static void msg_announce(struct msg_ctx *m, struct msg_room *r)
{
	struct msg_announce_arg a = {.r = r};
	int any = 0;

	for (size_t i = 0; i < r->nmembers && !any; i++)
		any = !trust_announced(m->trust, r->id, r->members[i]);
	if (!any || msg_trust_update(m, msg_announce_fn, &a) < 0 || !a.nfresh)
		return;
	for (size_t i = 0; i < a.nfresh; i++) {
		struct pin p;
		const char *name;

		if (a.fresh[i] == m->session.user_id || msg_user_keys(m, a.fresh[i], &p) != 0)
			continue;
		name = p.username;
		if (a.first)
			fprintf(stderr,
			        "NOTICE: room %lld is in a programme without agreements: %s "
			        "(fingerprint %s) is a member and reads the room.\n",
			        (long long)r->id, name, p.fingerprint);
		else
			fprintf(stderr,
			        "NOTICE: %s (fingerprint %s) JOINED room %lld. This programme does "
			        "without agreements, so %s is sealed the next room key and reads "
			        "new messages from then on.\n",
			        name, p.fingerprint, (long long)r->id, name);
	}
}

/*
 * Pins the room's programme and the programme's setting (first sight), and
 * refuses the room when the server moves it to another programme. Sets
 * r->required. Returns an exit code.
 */
static int msg_room_trust(struct msg_ctx *m, struct msg_room *r, int64_t programme_id)
{
	struct msg_pin_arg a = {.id = r->id, .other = programme_id};
	struct trust_programme prog;
	struct trust_room tr;
	int rc;

	if (programme_id < 1) {
		snprintf(r->refused, sizeof(r->refused),
		         "the server did not say which programme room %lld belongs to",
		         (long long)r->id);
		return CLI_EXIT_OK;
	}
	if (trust_room_get(m->trust, r->id, &tr) == 0 && tr.programme_id > 0 &&
	    tr.programme_id != programme_id) {
		snprintf(r->refused, sizeof(r->refused),
		         "the server now puts room %lld in programme %lld, but this device "
		         "knows it as part of programme %lld: refusing it",
		         (long long)r->id, (long long)programme_id, (long long)tr.programme_id);
		fprintf(stderr, "WARNING: %s.\n", r->refused);
		return CLI_EXIT_OK;
	}
	rc = msg_programme_pin(m, programme_id, &prog);
	if (rc)
		return rc;
	if (tr.programme_id != programme_id && msg_trust_update(m, msg_room_pin_fn, &a) < 0)
		return CLI_EXIT_LOCAL;
	r->programme_id = programme_id;
	r->required = prog.required;
	if (!r->required)
		msg_announce(m, r);
	return CLI_EXIT_OK;
}

/* ---- room keys ---- */

struct msg_key_put {
	int64_t room_id, epoch, committer, version;
	const int64_t *recipients;
	size_t n;
	const unsigned char *key;
	char now[STATE_TIME_LEN];
};

static int msg_key_put_fn(json_t *rk, void *arg)
{
	struct msg_key_put *k = arg;

	int rc = roomkeys_put(rk, k->room_id, k->epoch, k->key, k->committer, k->version, k->now);

	if (rc == 1 && roomkeys_set_recipients(rk, k->room_id, k->epoch, k->recipients, k->n) < 0)
		return -ENOMEM;
	return rc;
}

/* Stores a verified key. Returns 0 or -1 (reported). */
static int msg_store_key(struct msg_ctx *m, int64_t room_id, int64_t epoch,
                         const unsigned char key[EM_ROOM_KEY_BYTES], int64_t committer,
                         uint32_t version, const int64_t *recipients, size_t n)
{
	struct msg_key_put k = {.room_id = room_id,
	                        .epoch = epoch,
	                        .committer = committer,
	                        .version = version,
	                        .recipients = recipients,
	                        .n = n,
	                        .key = key};
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

struct msg_epoch_arg {
	int64_t room_id, epoch;
};

static int msg_epoch_raise_fn(json_t *trust, void *arg)
{
	struct msg_epoch_arg *a = arg;

	return trust_epoch_raise(trust, a->room_id, a->epoch);
}

/* Raises the room's epoch high-water mark on this device. Returns 0 or -1 (reported). */
static int msg_epoch_seen(struct msg_ctx *m, int64_t room_id, int64_t epoch)
{
	struct msg_epoch_arg a = {.room_id = room_id, .epoch = epoch};
	struct trust_room tr;

	if (trust_room_get(m->trust, room_id, &tr) == 0 && tr.max_epoch >= epoch)
		return 0;
	return msg_trust_update(m, msg_epoch_raise_fn, &a) < 0 ? -1 : 0;
}

/*
 * Whether the committer may have committed this key, and everyone it names
 * may hold it (docs/SECURITY.md "A malicious server", K3-K5): in a room that
 * requires agreements, the committer and every recipient are mentor or
 * mentee parties of the version the envelope names, which this device
 * verified in full and of which we are a party too; otherwise the committer
 * and every recipient are members announced on this device. Returns 0, or 1
 * with `why`.
 */
static int msg_committer_ok(struct msg_ctx *m, struct msg_room *r, const struct em_room_key_id *kid,
                            char *why, size_t len)
{
	int64_t committer = (int64_t)kid->committer_id;
	struct trust_version v;
	int rc;

	if (!r->shown && (rc = msg_room_show(m, r->id, NULL)) != CLI_EXIT_OK) {
		snprintf(why, len, "the room could not be checked (%s)",
		         rc == CLI_EXIT_REFUSED ? em_err_code(m->err) : "no answer");
		return 1;
	}
	if (r->refused[0]) {
		snprintf(why, len, "%s", r->refused);
		return 1;
	}
	if (!r->required) {
		for (uint32_t i = 0; i < kid->n_recipients; i++) {
			int64_t id = (int64_t)kid->recipients[i];

			if (id != m->session.user_id && !trust_announced(m->trust, r->id, id)) {
				snprintf(
				    why, len,
				    "it was also sealed to user %lld, who was never announced as a "
				    "member of the room here",
				    (long long)id);
				return 1;
			}
		}
		if (committer == m->session.user_id || trust_announced(m->trust, r->id, committer))
			return 0;
		snprintf(why, len, "its committer (user %lld) was never a member of the room here",
		         (long long)committer);
		return 1;
	}
	if (kid->agreement_version < 1) {
		snprintf(why, len, "it names no agreement, and the room requires one");
		return 1;
	}
	rc = msg_verify_version(m, r, NULL, kid->agreement_version, &v, why, len);
	if (rc < 0) {
		snprintf(why, len, "version %u of the agreement could not be fetched",
		         kid->agreement_version);
		return 1;
	}
	if (rc > 0)
		return 1;
	if (!trust_version_member(&v, committer)) {
		snprintf(
		    why, len,
		    "its committer (user %lld) is not a mentor or mentee party of version %u of "
		    "the agreement it names",
		    (long long)committer, kid->agreement_version);
		return 1;
	}
	for (uint32_t i = 0; i < kid->n_recipients; i++)
		if (!trust_version_member(&v, (int64_t)kid->recipients[i])) {
			snprintf(
			    why, len,
			    "it was also sealed to user %lld, who is not a mentor or mentee party "
			    "of version %u of the agreement",
			    (long long)kid->recipients[i], kid->agreement_version);
			return 1;
		}
	return 0;
}

/*
 * Opens a sealed room key addressed to us and accepts it only when every
 * check holds (docs/SECURITY.md "A malicious server"): it opens with our box
 * key; the committer and agreement version sealed inside are those the
 * server names; the committer's signature over room, epoch, recipient (us)
 * and version verifies with their pinned key; the committer may commit
 * (msg_committer_ok()); and, for an epoch newer than any this device holds,
 * the agreement version does not go back. Then it is stored for good and the
 * epoch high-water mark raised. committer_hint / version_hint are what the
 * server says (< 0: nothing said). Returns 0 (stored or already held) or -1.
 */
static int msg_accept_envelope(struct msg_ctx *m, int64_t room_id, int64_t epoch,
                               int64_t committer_hint, int64_t version_hint, const char *sealed_b64)
{
	unsigned char sealed[EM_SEALED_KEY_BYTES], key[EM_ROOM_KEY_BYTES], sig[EM_SIG_BYTES];
	struct msg_room *r = msg_room(m, room_id);
	struct em_room_key_id kid = {.room_id = (uint64_t)room_id,
	                             .epoch = (uint64_t)epoch,
	                             .recipient_id = (uint64_t)m->session.user_id};
	int64_t recipients[EM_KEY_RECIPIENTS_MAX];
	uint64_t committer = 0;
	struct trust_room tr;
	struct pin p;
	char why[320];
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
	if (em_room_key_open(sealed, &m->keys.keys, &kid, key, sig) != 0) {
		msg_bad_envelope(m, r, epoch, "it does not open with your key");
		goto out;
	}
	committer = kid.committer_id;
	if (committer_hint >= 0 && (uint64_t)committer_hint != committer) {
		msg_bad_envelope(m, r, epoch,
		                 "the server names another committer than the sealed one");
		goto out;
	}
	if (version_hint >= 0 && (uint64_t)version_hint != kid.agreement_version) {
		msg_bad_envelope(m, r, epoch,
		                 "the server names another agreement version than the sealed one");
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
	if (!em_room_key_names(&kid, (uint64_t)m->session.user_id)) {
		msg_bad_envelope(m, r, epoch, "it does not name you among its recipients");
		goto out;
	}
	if (em_room_key_verify(key, &kid, sig, p.sign_pk) != 0) {
		snprintf(why, sizeof(why), "it is not signed by %s's pinned key%s", p.username,
		         p.changed ? " (their keys changed: see `ementor trust`)" : "");
		msg_bad_envelope(m, r, epoch, why);
		goto out;
	}
	if (!r) {
		msg_bad_envelope(m, r, epoch, "too many rooms in one command");
		goto out;
	}
	if (msg_committer_ok(m, r, &kid, why, sizeof(why))) {
		msg_bad_envelope(m, r, epoch, why);
		goto out;
	}
	/* a newer epoch never goes back to an older agreement version */
	if (trust_room_get(m->trust, room_id, &tr) == 0 && epoch > tr.max_epoch &&
	    tr.max_epoch > 0 && roomkeys_version(m->roomkeys, room_id, tr.max_epoch) >= 0 &&
	    (int64_t)kid.agreement_version < roomkeys_version(m->roomkeys, room_id, tr.max_epoch)) {
		snprintf(
		    why, sizeof(why),
		    "it goes back to version %u of the agreement after epoch %lld used version "
		    "%lld",
		    kid.agreement_version, (long long)tr.max_epoch,
		    (long long)roomkeys_version(m->roomkeys, room_id, tr.max_epoch));
		msg_bad_envelope(m, r, epoch, why);
		goto out;
	}
	for (uint32_t i = 0; i < kid.n_recipients; i++)
		recipients[i] = (int64_t)kid.recipients[i];
	rc = msg_store_key(m, room_id, epoch, key, (int64_t)committer, kid.agreement_version,
	                   recipients, kid.n_recipients);
	if (rc == 0)
		rc = msg_epoch_seen(m, room_id, epoch);
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
		json_t *version = json_object_get(env, "agreement_version");

		msg_accept_envelope(m, room_id, json_integer_value(json_object_get(env, "epoch")),
		                    json_is_integer(committer) ? json_integer_value(committer) : -1,
		                    json_is_integer(version) ? json_integer_value(version) : -1,
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
	json_t *room = json_object_get(data, "room_id"), *committer, *version;
	int64_t epoch = json_integer_value(json_object_get(data, "epoch"));
	struct msg_room *r;
	int rc;

	if (!json_is_integer(room) || json_integer_value(room) < 1)
		return -1;
	committer = json_object_get(data, "committer_id");
	version = json_object_get(data, "agreement_version");
	r = msg_room(m, json_integer_value(room));
	rc = msg_accept_envelope(m, json_integer_value(room), epoch,
	                         json_is_integer(committer) ? json_integer_value(committer) : -1,
	                         json_is_integer(version) ? json_integer_value(version) : -1,
	                         json_string_value(json_object_get(data, "sealed")));
	if (rc == 0 && r && epoch > r->epoch) {
		r->epoch = epoch;
		r->rotate_required = 0;
	}
	return rc;
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

/* ---- verified agreement versions ---- */

struct msg_version_put {
	int64_t room_id;
	const struct trust_version *v;
	int result;
};

static int msg_version_put_fn(json_t *trust, void *arg)
{
	struct msg_version_put *a = arg;

	a->result = trust_version_put(trust, a->room_id, a->v, 1);
	return a->result == -EEXIST ? 0 : a->result;
}

/*
 * Verifies a version of the room's agreement in full, as this device: it
 * was activated; we are a party, listed with our own keys; every party is
 * listed with the keys pinned here (pinned now on first sight) and their
 * signature verifies (a later withdrawal does not undo a signature given).
 * Then it is recorded in trust.json (a verified version's number raises the
 * room's max_version). `version` is the Version object, or NULL to fetch
 * number with agreement.show. Returns 0 with *out filled, 1 when it does not
 * verify (`why` says why), or minus an exit code (the request failed).
 */
static int msg_verify_version(struct msg_ctx *m, struct msg_room *r, json_t *version,
                              uint32_t number, struct trust_version *out, char *why, size_t len)
{
	struct msg_version_put put = {.room_id = r->id, .v = out};
	struct msg_version v;
	json_t *res = NULL, *activated;
	int rc = 1;

	if (trust_version_get(m->trust, r->id, number, out) == 0)
		return 0;
	if (!version) {
		rc = msg_call(m, EM_OP_AGREEMENT_SHOW,
		              json_pack("{s:I, s:I}", "room_id", (json_int_t)r->id, "version",
		                        (json_int_t)number),
		              &res);
		if (rc == CLI_EXIT_REFUSED) {
			snprintf(why, len,
			         "the server does not show version %u of its agreement (%s)",
			         number, em_err_code(m->err));
			return 1;
		}
		if (rc)
			return -rc;
		rc = 1;
		version = json_object_get(res, "version");
	}
	activated = json_object_get(version, "activated_at");
	if (msg_version_parse(version, r->id, &v) != 0 || v.version != number) {
		snprintf(why, len, "the server sent a malformed version %u of its agreement",
		         number);
		goto out;
	}
	if (!json_is_string(activated)) {
		snprintf(why, len, "version %u of its agreement was never signed by every party",
		         number);
		goto out;
	}
	if (msg_version_party(&v, m->session.user_id) < 0) {
		snprintf(why, len, "you are not a party of version %u of its agreement", number);
		goto out;
	}
	if (v.n > TRUST_PARTIES_MAX) {
		snprintf(why, len, "version %u of its agreement has too many parties", number);
		goto out;
	}
	if ((rc = msg_pin_parties(m, &v)) != CLI_EXIT_OK) {
		rc = -rc;
		goto out;
	}
	rc = 1;
	memset(out, 0, sizeof(*out));
	out->version = number;
	for (size_t i = 0; i < v.n; i++) {
		unsigned char sig[EM_SIG_BYTES];
		const char *sig_b64 = json_string_value(json_object_get(v.party[i], "signature"));
		const char *name = cli_str(v.party[i], "username", "?");
		struct pin p;

		if (msg_user_keys(m, (int64_t)v.parties[i].user_id, &p) != 0 || p.changed ||
		    sodium_memcmp(p.sign_pk, v.parties[i].sign_pk, EM_SIGN_PK_BYTES) ||
		    sodium_memcmp(p.box_pk, v.parties[i].box_pk, EM_BOX_PK_BYTES)) {
			snprintf(
			    why, len,
			    "version %u of its agreement lists %s with other keys than the ones "
			    "pinned on this device",
			    number, p.username[0] ? p.username : name);
			goto out;
		}
		if (!sig_b64 || em_b64_decode(sig_b64, sig, sizeof(sig)) != (int)sizeof(sig) ||
		    em_agreement_verify((uint64_t)r->id, v.version, v.starts_on, v.ends_on, v.terms,
		                        v.parties, v.n, p.sign_pk, sig) != 0) {
			snprintf(
			    why, len,
			    "the signature of %s on version %u of its agreement does not verify",
			    p.username, number);
			goto out;
		}
		out->parties[i].user_id = (int64_t)v.parties[i].user_id;
		snprintf(out->parties[i].role, sizeof(out->parties[i].role), "%s",
		         v.parties[i].role);
		memcpy(out->parties[i].sign_pk, v.parties[i].sign_pk, EM_SIGN_PK_BYTES);
		memcpy(out->parties[i].box_pk, v.parties[i].box_pk, EM_BOX_PK_BYTES);
		out->n++;
	}
	if (msg_trust_update(m, msg_version_put_fn, &put) < 0) {
		rc = -CLI_EXIT_LOCAL;
		goto out;
	}
	if (put.result == -EEXIST) {
		snprintf(why, len,
		         "the server shows version %u of its agreement with other parties than "
		         "it did before",
		         number);
		goto out;
	}
	rc = 0;
out:
	json_decref(res);
	return rc;
}

/*
 * agreement.show, once per command, for a room that requires agreements:
 * the active version verified here (r->active; version 0 when none) and who
 * withdrew from it. A version lower than one this device verified before is
 * a downgrade: the room is refused. Returns an exit code.
 */
static int msg_room_agreement(struct msg_ctx *m, struct msg_room *r)
{
	struct trust_room tr;
	json_t *active, *party;
	char why[256];
	size_t i;
	int rc;

	if (r->agreement_fetched)
		return CLI_EXIT_OK;
	json_decref(r->agreement);
	r->agreement = NULL;
	memset(&r->active, 0, sizeof(r->active));
	r->nwithdrawn = 0;
	rc = msg_call(m, EM_OP_AGREEMENT_SHOW, json_pack("{s:I}", "room_id", (json_int_t)r->id),
	              &r->agreement);
	if (rc)
		return rc;
	r->agreement_fetched = 1;
	if (r->required && json_is_false(json_object_get(r->agreement, "required")))
		fprintf(
		    stderr,
		    "WARNING: the server now says room %lld needs no signed agreement, but this "
		    "device knows its programme as requiring one. Keys still go only to "
		    "members who signed it.\n",
		    (long long)r->id);
	if (!r->required && !json_is_false(json_object_get(r->agreement, "required")))
		r->required = 1; /* the server asks for more than the pin: the stricter rule */
	active = json_object_get(r->agreement, "active");
	if (!r->required || !json_is_object(active))
		return CLI_EXIT_OK;
	trust_room_get(m->trust, r->id, &tr);
	if (!json_is_integer(json_object_get(active, "version")) ||
	    json_integer_value(json_object_get(active, "version")) < tr.max_version) {
		snprintf(r->refused, sizeof(r->refused),
		         "the server shows version %lld of room %lld's agreement as the one in "
		         "force, but this device has already verified version %u: refusing the "
		         "older one",
		         (long long)json_integer_value(json_object_get(active, "version")),
		         (long long)r->id, tr.max_version);
		fprintf(stderr, "WARNING: %s.\n", r->refused);
		return CLI_EXIT_OK;
	}
	{
		struct msg_version v;

		/* not a party of it (joined since, or withdrew and left): nothing to seal
		 * or verify here; sending answers agreement_unsigned */
		if (msg_version_parse(active, r->id, &v) == 0 &&
		    msg_version_party(&v, m->session.user_id) < 0)
			return CLI_EXIT_OK;
	}
	rc = msg_verify_version(m, r, active,
	                        (uint32_t)json_integer_value(json_object_get(active, "version")),
	                        &r->active, why, sizeof(why));
	if (rc < 0)
		return -rc;
	if (rc > 0) {
		memset(&r->active, 0, sizeof(r->active));
		snprintf(r->refused, sizeof(r->refused), "room %lld: %s", (long long)r->id, why);
		fprintf(stderr, "WARNING: %s.\n", r->refused);
		return CLI_EXIT_OK;
	}
	json_array_foreach(json_object_get(active, "parties"), i, party)
	{
		json_t *w = json_object_get(party, "withdrawn_at");

		if (w && !json_is_null(w) && r->nwithdrawn < MSG_PARTIES_WITHDRAWN_MAX)
			r->withdrawn[r->nwithdrawn++] =
			    json_integer_value(json_object_get(party, "user_id"));
	}
	return CLI_EXIT_OK;
}

/* Whether user_id withdrew from the room's active version. */
static int msg_withdrew(const struct msg_room *r, int64_t user_id)
{
	for (size_t i = 0; i < r->nwithdrawn; i++)
		if (r->withdrawn[i] == user_id)
			return 1;
	return 0;
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
 * The members a new room key may be sealed to (PROTOCOL.md 7.2, SECURITY.md
 * "A malicious server" S1-S4): those room.show flags as on the roster, each
 * a mentor or mentee party of the active agreement version verified on this
 * device (msg_room_agreement()), not withdrawn, with the keys pinned here;
 * in a programme without agreements (pinned as such), the members room.show
 * flags, each announced first. Fills ids[] (at most EM_ROOM_MEMBERS_MAX) and
 * *version (the version the commit names). Returns an exit code;
 * CLI_EXIT_REFUSED with m->errmsg naming who failed, and then nothing may be
 * committed.
 */
static int msg_roster(struct msg_ctx *m, struct msg_room *r, int64_t *ids, size_t *n,
                      uint32_t *version)
{
	struct msg_version v;
	json_t *pending;
	int rc;

	*n = 0;
	*version = 0;
	if (r->refused[0])
		return msg_refuse(m, EM_ERR_ROSTER_MISMATCH, "not sealing a new key: %s",
		                  r->refused);
	rc = msg_room_agreement(m, r);
	if (rc)
		return rc;
	if (r->refused[0])
		return msg_refuse(m, EM_ERR_ROSTER_MISMATCH, "not sealing a new key: %s",
		                  r->refused);
	if (!r->on_roster) {
		int me;

		pending = json_object_get(r->agreement, "pending");
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
			return msg_refuse(
			    m, EM_ERR_AGREEMENT_UNSIGNED,
			    "you have signed version %u of the agreement of room %lld, but "
			    "it is in force only once every party has: waiting for %s "
			    "(agreement_unsigned)",
			    v.version, (long long)r->id, waiting[0] ? waiting : "-");
		}
		m->err = EM_ERR_AGREEMENT_UNSIGNED;
		return CLI_EXIT_REFUSED;
	}
	if (r->required && r->active.version == 0)
		return msg_refuse(m, EM_ERR_AGREEMENT_UNSIGNED,
		                  "room %lld has no agreement signed by every party yet, so no "
		                  "room key is sealed: see `ementor agreement show %lld`",
		                  (long long)r->id, (long long)r->id);
	if (r->required && !trust_version_member(&r->active, m->session.user_id))
		return msg_refuse(m, EM_ERR_AGREEMENT_UNSIGNED,
		                  "you are not a member party of version %u of room %lld's "
		                  "agreement, so you may not seal its key",
		                  r->active.version, (long long)r->id);
	for (size_t i = 0; i < r->nmembers; i++) {
		struct pin p;

		if (!r->roster[i])
			continue;
		if (msg_user_keys(m, r->members[i], &p) != 0 || p.changed)
			return msg_refuse(
			    m, EM_ERR_ROSTER_MISMATCH,
			    "not sealing a new key for room %lld: %s has no trusted key "
			    "on this device. Nothing was sent",
			    (long long)r->id, r->member_names[i]);
		if (r->required && (!trust_version_member(&r->active, r->members[i]) ||
		                    msg_withdrew(r, r->members[i])))
			return msg_refuse(
			    m, EM_ERR_ROSTER_MISMATCH,
			    "not sealing a new key for room %lld: the server puts %s on its "
			    "roster, "
			    "but %s %s version %u of the agreement in force. Nothing was sent; "
			    "check `ementor agreement show %lld`",
			    (long long)r->id, p.username, p.username,
			    msg_withdrew(r, r->members[i]) ? "withdrew from"
			                                   : "is not a signed member party of",
			    r->active.version, (long long)r->id);
		if (!r->required && !trust_announced(m->trust, r->id, r->members[i]))
			return msg_refuse(
			    m, EM_ERR_ROSTER_MISMATCH,
			    "not sealing a new key for room %lld: %s was not announced "
			    "on this device yet. Try again",
			    (long long)r->id, p.username);
		ids[(*n)++] = r->members[i];
	}
	*version = r->required ? r->active.version : 0;
	return CLI_EXIT_OK;
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
	struct em_commit commit = {
	    .room_id = (uint64_t)r->id, .epoch = (uint64_t)epoch, .committer_id = (uint64_t)me};
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
	rc = msg_roster(m, r, ids, &n, &commit.agreement_version);
	if (rc)
		return rc;
	randombytes_buf(key, sizeof(key));
	/* the recipients every envelope names, ascending */
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0 && ids[k - 1] > ids[k]; k--) {
			int64_t t = ids[k];

			ids[k] = ids[k - 1];
			ids[k - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		struct pin p;
		struct em_room_key_id kid = {.room_id = commit.room_id,
		                             .epoch = commit.epoch,
		                             .recipient_id = (uint64_t)ids[i],
		                             .committer_id = commit.committer_id,
		                             .agreement_version = commit.agreement_version,
		                             .n_recipients = (uint32_t)n};

		for (size_t k = 0; k < n; k++)
			kid.recipients[k] = (uint64_t)ids[k];
		if (msg_user_keys(m, ids[i], &p) != 0 || p.changed) {
			/* msg_room_show() pins every member; this is a damaged pins.json. */
			rc = CLI_EXIT_REFUSED;
			m->err = EM_ERR_BAD_VALUE;
			snprintf(m->errmsg, sizeof(m->errmsg), "no trusted key for user %lld",
			         (long long)ids[i]);
			goto out;
		}
		entries[i].recipient_id = (uint64_t)ids[i];
		if (em_room_key_seal(key, &kid, m->keys.keys.sign_sk, p.box_pk,
		                     entries[i].sealed)) {
			rc = msg_refuse(m, EM_ERR_BAD_VALUE,
			                "room %lld: %zu recipients cannot be sealed",
			                (long long)r->id, n);
			goto out;
		}
	}
	if (em_commit_sign(&commit, entries, n, m->keys.keys.sign_sk, sig) != 0) {
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
	              json_pack("{s:I, s:I, s:I, s:O, s:s}", "room_id", (json_int_t)r->id, "epoch",
	                        (json_int_t)epoch, "agreement_version",
	                        (json_int_t)commit.agreement_version, "envelopes", envelopes, "sig",
	                        b64),
	              &res);
	free(b64);
	if (rc == CLI_EXIT_REFUSED &&
	    (m->err == EM_ERR_STALE_EPOCH || m->err == EM_ERR_ROSTER_MISMATCH ||
	     m->err == EM_ERR_STALE_VERSION)) {
		*retry = 1;
		r->shown = 0;
		r->keys_fetched = 0;
		r->agreement_fetched = 0;
		rc = CLI_EXIT_OK;
		goto out;
	}
	if (rc)
		goto out;
	if (msg_store_key(m, r->id, epoch, key, me, commit.agreement_version, ids, n) != 0 ||
	    msg_epoch_seen(m, r->id, epoch) != 0) {
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
	int64_t now_ms;
};

static int msg_enqueue_fn(json_t *ob, void *arg)
{
	struct msg_enqueue_arg *a = arg;

	return outbox_add(ob, a->room_id, a->id, a->text, a->len, a->now, a->now_ms);
}

int msg_enqueue(struct cli *cli, int64_t room_id, const char *text, size_t len,
                unsigned char id[EM_MSG_ID_BYTES])
{
	struct msg_enqueue_arg a = {.room_id = room_id, .id = id, .text = text, .len = len};
	int rc;

	randombytes_buf(id, EM_MSG_ID_BYTES);
	state_now(a.now);
	a.now_ms = msg_now_ms();
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
	                   om->client_msg_id, &om->meta, (const unsigned char *)om->text,
	                   om->text_len, m->keys.keys.sign_sk, ct, sig);
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

/*
 * Before anything is sealed or sent (SECURITY.md "A malicious server" E1,
 * A1): the server's epoch may not be lower than one this device already
 * used or accepted a key of (a rollback to a key a removed member holds),
 * and in a room that requires agreements the version in force is verified
 * here (msg_room_agreement()). Sets r->refused. Returns an exit code.
 */
static int msg_check_epoch(struct msg_ctx *m, struct msg_room *r)
{
	struct trust_room tr;

	if (trust_room_get(m->trust, r->id, &tr) == 0 && r->epoch < tr.max_epoch) {
		snprintf(r->refused, sizeof(r->refused),
		         "the server says room %lld is at key epoch %lld, but this device has "
		         "already used epoch %lld there: a server that turns epochs back could "
		         "make us encrypt for someone who was removed. Refusing",
		         (long long)r->id, (long long)r->epoch, (long long)tr.max_epoch);
		fprintf(stderr, "WARNING: %s.\n", r->refused);
		return CLI_EXIT_OK;
	}
	return r->required ? msg_room_agreement(m, r) : CLI_EXIT_OK;
}

/*
 * Whether the key of `epoch` may carry new messages: everyone it was sealed
 * to (the recipients its envelope names) may still read the room — in a room
 * that requires agreements, a mentor or mentee party of the version in force
 * who did not withdraw; otherwise a current member.
 */
static int msg_key_fit(struct msg_ctx *m, struct msg_room *r, int64_t epoch)
{
	int64_t ids[EM_KEY_RECIPIENTS_MAX];
	int n = roomkeys_recipients(m->roomkeys, r->id, epoch, ids);

	if (n < 1 || (r->required && r->active.version == 0))
		return 0;
	for (int i = 0; i < n; i++) {
		int ok = 0;

		if (r->required) {
			ok = trust_version_member(&r->active, ids[i]) && !msg_withdrew(r, ids[i]);
		} else {
			for (size_t k = 0; k < r->nmembers && !ok; k++)
				ok = r->members[k] == ids[i];
		}
		if (!ok)
			return 0;
	}
	return 1;
}

/*
 * After a message went out in a room that requires agreements: says once
 * per command which members cannot read it because they are not (yet)
 * signed parties of the agreement in force.
 */
static void msg_tell_unsigned(struct msg_ctx *m, struct msg_room *r)
{
	char names[256] = "";

	if (!r->required || r->told_unsigned)
		return;
	r->told_unsigned = 1;
	for (size_t i = 0; i < r->nmembers; i++) {
		struct pin p;
		const char *name = r->member_names[i];

		if (r->members[i] == m->session.user_id ||
		    (trust_version_member(&r->active, r->members[i]) &&
		     !msg_withdrew(r, r->members[i])))
			continue;
		if (msg_user_keys(m, r->members[i], &p) == 0)
			name = p.username;
		if (names[0])
			strncat(names, ", ", sizeof(names) - strlen(names) - 1);
		strncat(names, name, sizeof(names) - strlen(names) - 1);
	}
	if (names[0])
		fprintf(stderr,
		        "note: %s cannot read this: they are in room %lld but have not signed the "
		        "agreement in force (version %u), so the room key is not sealed to them. "
		        "They read what is sent after they sign (`ementor agreement show "
		        "%lld`).\n",
		        names, (long long)r->id, r->active.version, (long long)r->id);
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
		if (!r->refused[0] && (rc = msg_check_epoch(m, r)) != CLI_EXIT_OK)
			break;
		if (r->refused[0]) {
			rc = msg_refuse(m, EM_ERR_ROSTER_MISMATCH, "not sending to room %lld: %s",
			                (long long)r->id, r->refused);
			break;
		}
		have = r->epoch > 0 && !r->rotate_required &&
		       roomkeys_get(m->roomkeys, r->id, r->epoch, key, NULL) == 0;
		if (!have && r->epoch > 0 && !r->rotate_required && !r->keys_fetched) {
			if ((rc = msg_room_keys(m, r->id)) != CLI_EXIT_OK)
				break;
			have = roomkeys_get(m->roomkeys, r->id, r->epoch, key, NULL) == 0;
		}
		if (have && !msg_key_fit(m, r, r->epoch)) {
			sodium_memzero(key, sizeof(key));
			have = 0; /* sealed to someone who is no longer a party: a new key first */
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
			msg_epoch_seen(m, r->id, r->epoch);
			msg_tell_unsigned(m, r);
			d->outcome = MSG_SENT;
			return;
		}
		if (rc == CLI_EXIT_REFUSED && m->err == EM_ERR_STALE_EPOCH) {
			r->shown = 0;
			r->keys_fetched = 0;
			r->agreement_fetched = 0;
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

			fprintf(stderr,
			        "ementor: not sending to room %lld: the keys or the name of %s "
			        "changed. Check with %s in person (`ementor verify %s`), then run "
			        "`ementor trust %s`; the message stays in the outbox.\n",
			        (long long)om.room_id, r ? r->blocked_by : "a member",
			        r ? r->blocked_by : "them", r ? r->blocked_by : "USER",
			        r ? r->blocked_by : "USER");
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

/* A server timestamp (RFC 3339 UTC, whole seconds) in Unix milliseconds; -1 if unreadable. */
static int64_t msg_ts_ms(const char *ts)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (!ts || !(end = strptime(ts, "%Y-%m-%dT%H:%M:%SZ", &tm)) || *end)
		return -1;
	return (int64_t)timegm(&tm) * 1000;
}

/* How far the server's time may run ahead of the sender's signed time (clocks differ). */
#define MSG_CLOCK_SKEW_MS (10 * 60 * 1000)

/*
 * The order and date of an opened message against what its sender signed
 * (SECURITY.md "A malicious server" O1-O3): the per-device counter must
 * follow the last one read from that device, and the server may not date a
 * message before its sender wrote it. Problems go to v->warning; the
 * record goes to trust.json when the command ends.
 */
static void msg_check_order(struct msg_ctx *m, struct msg_view *v, const char *sender)
{
	struct trust_order_result res;
	int64_t server_ms = msg_ts_ms(v->sent_at);
	char when[40] = "";

	if (v->meta.counter == 0) {
		snprintf(v->warning, sizeof(v->warning),
		         "%s's message carries no counter: its order cannot be checked", sender);
		return;
	}
	if (trust_order_check(m->trust, v->room_id, v->sender_id, v->meta.device, v->meta.counter,
	                      v->seq, &res) == 0)
		m->order_dirty = 1;
	else
		res.verdict = TRUST_ORDER_SEEN;
	switch (res.verdict) {
	case TRUST_ORDER_GAP:
		snprintf(v->warning, sizeof(v->warning),
		         "%llu earlier message%s from %s never arrived (numbers %llu to %llu of "
		         "their device): the server did not deliver %s, or they were dropped",
		         (unsigned long long)(v->meta.counter - res.last_counter - 1),
		         v->meta.counter - res.last_counter - 1 == 1 ? "" : "s", sender,
		         (unsigned long long)res.last_counter + 1,
		         (unsigned long long)v->meta.counter - 1,
		         v->meta.counter - res.last_counter - 1 == 1 ? "it" : "them");
		return;
	case TRUST_ORDER_BACK:
		snprintf(v->warning, sizeof(v->warning),
		         "OUT OF ORDER: this is message %llu of %s's device, but message %llu was "
		         "already shown (at [%lld]): the server replayed or reordered it",
		         (unsigned long long)v->meta.counter, sender,
		         (unsigned long long)res.last_counter, (long long)res.last_seq);
		return;
	default:
		break;
	}
	if (server_ms >= 0 && (int64_t)v->meta.written_ms > server_ms + MSG_CLOCK_SKEW_MS) {
		time_t t = (time_t)(v->meta.written_ms / 1000);
		struct tm tm;

		if (gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(v->warning, sizeof(v->warning),
		         "the server dates this message %s, but %s signed it as written at %s: "
		         "back-dated by the server, or %s's clock is wrong",
		         v->sent_at, sender, when, sender);
	}
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
	                    id, ct, (size_t)ct_len, sig, p.sign_pk, &v->meta, plain, &plain_len);
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
		msg_check_order(m, v, p.username);
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
	if (v->warning[0])
		printf("  ! WARNING: %s\n", v->warning);
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
	if (v->warning[0])
		json_object_set_new(o, "warning", json_string(v->warning));
	if (v->text && v->meta.counter)
		json_object_set_new(o, "counter", json_integer((json_int_t)v->meta.counter));
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
