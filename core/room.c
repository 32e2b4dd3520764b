/*
 * room.c - what the core knows and pins about rooms, their programmes and
 * their agreements (core.h): room.show applied and its users pinned; the
 * programme's agreement setting believed only with its creator's signature;
 * the room's programme pinned; members announced where there are no
 * agreements; agreement versions verified in full on this device and only
 * ever moving forward (docs/SECURITY.md "A malicious server", P1-P2, G1-G2,
 * A1-A2, S2).
 *
 * DESIGN. Each fact is a "need": emc_room_ready(), emc_room_agreement() and
 * emc_room_version() return EMC_DONE when the fact is known, ask the server
 * once and return EMC_PENDING when it is not, and EMC_FAILED (with the
 * task's error, or `why`) when asking failed. The reply handlers below
 * record what they learn on the room; the caller's task steps again.
 * Threads: the host's (core.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core.h"

struct emc_room *emc_room(struct emc *c, int64_t room_id)
{
	struct emc_room *r;

	for (size_t i = 0; i < c->nrooms; i++)
		if (c->rooms[i].id == room_id)
			return &c->rooms[i];
	if (c->nrooms == EMC_ROOMS_MAX || room_id < 1)
		return NULL;
	r = &c->rooms[c->nrooms++];
	memset(r, 0, sizeof(*r));
	r->id = room_id;
	return r;
}

int emc_user_keys(struct emc *c, int64_t user_id, struct pin *out)
{
	if (user_id == c->session.user_id) {
		memset(out, 0, sizeof(*out));
		out->user_id = user_id;
		snprintf(out->username, sizeof(out->username), "%s", c->session.username);
		memcpy(out->sign_pk, c->keys.sign_pk, sizeof(out->sign_pk));
		memcpy(out->box_pk, c->keys.box_pk, sizeof(out->box_pk));
		em_fingerprint(out->sign_pk, out->box_pk, out->fingerprint);
		return 0;
	}
	return pins_get(c->pins, user_id, out);
}

int emc_room_member(const struct emc *c, const struct emc_room *r)
{
	for (size_t i = 0; i < r->nmembers; i++)
		if (r->members[i] == c->session.user_id)
			return 1;
	return 0;
}

int emc_room_withdrew(const struct emc_room *r, int64_t user_id)
{
	for (size_t i = 0; i < r->nwithdrawn; i++)
		if (r->withdrawn[i] == user_id)
			return 1;
	return 0;
}

void emc_room_forget(struct emc_room *r)
{
	if (r->shown != EMC_FACT_ASKED)
		r->shown = EMC_FACT_NONE;
	if (r->agreement != EMC_FACT_ASKED)
		r->agreement = EMC_FACT_NONE;
	if (r->keys != EMC_FACT_ASKED)
		r->keys = EMC_FACT_NONE;
	r->trusted = 0;
}

/* ---- pinning users ---- */

/* One user as the server presented them. */
struct emc_seen {
	int64_t id;
	char username[EM_USERNAME_MAX + 1];
	unsigned char sign_pk[EM_SIGN_PK_BYTES];
	unsigned char box_pk[EM_BOX_PK_BYTES];
	int member; /* current member (else former) */
	int usable; /* id, username and keys are well-formed */
	int result; /* enum pin_seen, or -errno */
};

struct emc_observe {
	struct emc_seen *seen;
	size_t n;
	int64_t self;
	char now[STATE_TIME_LEN];
};

static int emc_observe_fn(json_t *pins, void *arg)
{
	struct emc_observe *o = arg;
	json_t *before = json_deep_copy(pins);
	int changed;

	for (size_t i = 0; i < o->n; i++) {
		struct emc_seen *s = &o->seen[i];

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

/* The warning of a pending identity change, once per core, by the pinned name. */
static void emc_warn_changed(struct emc *c, int64_t user_id)
{
	struct pin p;

	if (pins_get(c->pins, user_id, &p) || !p.changed || emc_was_warned(c, user_id))
		return;
	if (p.name_changed)
		emc_warn(
		    c, "name_changed",
		    "THE SERVER NOW CALLS %s \"%s\".\n"
		    "  user %lld was pinned as %s (first seen %s); the server showed the name\n"
		    "  \"%s\" for them on %s.\n"
		    "A username does not change in ementor: a server that swaps names would make\n"
		    "one person's messages appear as another's. Until you have checked with %s in\n"
		    "person and run `ementor trust %s`, ementor sends nothing to rooms with them\n"
		    "and shows their messages under the pinned name.",
		    p.username, p.new_username, (long long)p.user_id, p.username, p.first_seen,
		    p.new_username, p.changed_seen, p.username, p.username);
	if (p.keys_changed)
		emc_warn(
		    c, "keys_changed",
		    "THE KEYS OF %s HAVE CHANGED.\n"
		    "  pinned fingerprint: %s (first seen %s)\n"
		    "  new fingerprint:    %s (seen %s)\n"
		    "This happens when %s set up a new account, but it is also what an attacker "
		    "who\n"
		    "controls the server would do to read your messages. Until you have compared "
		    "the\n"
		    "new fingerprint with %s in person and run `ementor trust %s`, ementor sends\n"
		    "nothing to rooms with %s and seals no room key to them, and messages signed "
		    "with\n"
		    "the new key are shown as REJECTED.",
		    p.username, p.fingerprint, p.first_seen, p.new_fingerprint, p.changed_seen,
		    p.username, p.username, p.username, p.username);
}

static void emc_seen_from_json(struct emc_seen *s, json_t *user, int member)
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

/* The current time as RFC 3339 UTC, from the host's clock. */
static void emc_now_text(const struct emc *c, char out[STATE_TIME_LEN])
{
	time_t t = (time_t)(c->now_ms / 1000);
	struct tm tm;

	if (gmtime_r(&t, &tm))
		strftime(out, STATE_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
	else
		snprintf(out, STATE_TIME_LEN, "1970-01-01T00:00:00Z");
}

/*
 * Pins what the server showed and warns about changed or unreadable keys.
 * Our own keys are compared with ours, never pinned; *self_differs says they
 * differ. Fills seen[i].result. Returns 0 or -errno.
 */
static int emc_observe_users(struct emc *c, struct emc_seen *seen, size_t n, int *self_differs)
{
	struct emc_observe o = {.seen = seen, .n = n, .self = c->session.user_id};
	int rc;

	*self_differs = 0;
	for (size_t i = 0; i < n; i++) {
		if (seen[i].id != c->session.user_id)
			continue;
		seen[i].result = PIN_SAME;
		if (sodium_memcmp(seen[i].sign_pk, c->keys.sign_pk, EM_SIGN_PK_BYTES) ||
		    sodium_memcmp(seen[i].box_pk, c->keys.box_pk, EM_BOX_PK_BYTES))
			*self_differs = 1;
	}
	if (*self_differs && !emc_was_warned(c, c->session.user_id))
		emc_warn(c, "own_keys",
		         "the server shows other keys for you (%s) than the ones on this device. "
		         "Nothing is sent to rooms with you until this is cleared up: run `ementor "
		         "whoami` and tell your programme's operator.",
		         c->session.username);
	emc_now_text(c, o.now);
	rc = emc_pins_update(c, emc_observe_fn, &o);
	if (rc < 0)
		return rc;
	/* changes first: an unreadable entry for the same user (listed twice) must
	 * not take the place of the warning about their pending change */
	for (size_t i = 0; i < n; i++)
		if (seen[i].id != c->session.user_id && seen[i].result == PIN_CHANGED)
			emc_warn_changed(c, seen[i].id);
	for (size_t i = 0; i < n; i++) {
		struct pin p;

		if (seen[i].id == c->session.user_id || seen[i].result >= 0 ||
		    emc_was_warned(c, seen[i].id))
			continue;
		emc_warn(
		    c, "unreadable_keys",
		    "the server sent unreadable keys for %s; nothing is sent to rooms with them.",
		    pins_get(c->pins, seen[i].id, &p) == 0 ? p.username : seen[i].username);
	}
	return 0;
}

int emc_pin_people(struct emc *c, json_t *users)
{
	struct emc_seen *seen = calloc(json_array_size(users) + 1, sizeof(*seen));
	size_t i, n = 0;
	json_t *u;
	int rc, self_differs;

	if (!seen)
		return -ENOMEM;
	json_array_foreach(users, i, u)
	{
		emc_seen_from_json(&seen[n++], u, 0);
	}
	rc = emc_observe_users(c, seen, n, &self_differs);
	free(seen);
	return rc;
}

/* ---- room.show ---- */

int emc_room_apply(struct emc *c, struct emc_room *r, json_t *res)
{
	struct emc_seen *seen = NULL;
	json_t *room = json_object_get(res, "room"), *list, *former, *u, *prog;
	size_t i, n = 0;
	int rc, self_differs = 0;

	r->epoch = json_integer_value(json_object_get(room, "epoch"));
	r->last_seq = json_integer_value(json_object_get(room, "last_seq"));
	r->rotate_required = json_is_true(json_object_get(room, "rotate_required"));
	{
		const char *name = json_string_value(json_object_get(room, "name"));

		snprintf(r->name, sizeof(r->name), "%s", name ? name : "");
	}
	prog = json_object_get(room, "programme_id");
	r->programme_id = json_is_integer(prog) ? json_integer_value(prog) : 0;
	r->nmembers = 0;
	r->on_roster = 0;
	r->blocked_by[0] = '\0';
	list = json_object_get(room, "members");
	former = json_object_get(room, "former_members");
	/* former members too: their keys verify what they sent earlier */
	seen = calloc(json_array_size(list) + json_array_size(former) + 1, sizeof(*seen));
	if (!seen)
		return -ENOMEM;
	json_array_foreach(list, i, u)
	{
		if (r->nmembers == EM_ROOM_MEMBERS_MAX)
			break;
		emc_seen_from_json(&seen[n], u, 1);
		r->members[r->nmembers] = seen[n].id;
		r->roster[r->nmembers] = json_is_true(json_object_get(u, "roster"));
		if (seen[n].id == c->session.user_id && r->roster[r->nmembers])
			r->on_roster = 1;
		snprintf(r->member_names[r->nmembers], sizeof(r->member_names[0]), "%s",
		         seen[n].username);
		r->nmembers++;
		n++;
	}
	json_array_foreach(former, i, u)
	{
		emc_seen_from_json(&seen[n++], u, 0);
	}
	rc = emc_observe_users(c, seen, n, &self_differs);
	if (rc) {
		free(seen);
		return rc;
	}
	for (i = 0; i < n; i++) {
		struct pin p;

		if (!seen[i].member || r->blocked_by[0])
			continue;
		if (seen[i].id == c->session.user_id
		        ? self_differs
		        : seen[i].result == PIN_CHANGED || seen[i].result < 0)
			/* the name `trust` knows them by: the pinned one */
			snprintf(r->blocked_by, sizeof(r->blocked_by), "%s",
			         seen[i].id != c->session.user_id &&
			                 pins_get(c->pins, seen[i].id, &p) == 0
			             ? p.username
			             : seen[i].username);
	}
	free(seen);
	/* the names as pinned: what the user knows them by */
	for (i = 0; i < r->nmembers; i++) {
		struct pin p;

		if (emc_user_keys(c, r->members[i], &p) == 0)
			snprintf(r->member_names[i], sizeof(r->member_names[i]), "%s", p.username);
	}
	r->refused[0] = '\0';
	r->agreement = r->agreement == EMC_FACT_ASKED ? EMC_FACT_ASKED : EMC_FACT_NONE;
	r->trusted = 0;
	return 0;
}

static void emc_room_shown(struct emc *c, int64_t room, int64_t aux, struct em_incoming *in)
{
	struct emc_room *r = emc_room(c, room);

	(void)aux;
	if (!r)
		return;
	if (!in->result) {
		r->shown = EMC_FACT_FAILED;
		r->show_err = in->err;
		snprintf(r->show_msg, sizeof(r->show_msg), "%s",
		         in->err_message ? in->err_message : "");
		return;
	}
	r->shown = emc_room_apply(c, r, in->result) == 0 ? EMC_FACT_HAVE : EMC_FACT_FAILED;
	if (r->shown == EMC_FACT_FAILED) {
		r->show_err = EM_ERR_NOMEM;
		snprintf(r->show_msg, sizeof(r->show_msg), "cannot record room %lld",
		         (long long)room);
	}
}

/* ---- programmes ---- */

struct emc_pin_arg {
	int64_t id, other;
	struct trust_programme prog;
	int result;
};

static int emc_programme_pin_fn(json_t *trust, void *arg)
{
	struct emc_pin_arg *a = arg;

	a->result = trust_programme_pin(trust, a->id, &a->prog);
	return a->result < 0 ? a->result : a->result == TRUST_PIN_NEW;
}

static int emc_room_pin_fn(json_t *trust, void *arg)
{
	struct emc_pin_arg *a = arg;

	a->result = trust_room_pin(trust, a->id, a->other);
	return a->result < 0 ? a->result : a->result == TRUST_PIN_NEW;
}

/*
 * programme.show, on first sight of a programme: it does without agreements
 * only when its creator's signature over that setting verifies with the
 * creator's pinned key (PROTOCOL.md 7.1); anything less counts as
 * requiring them.
 */
static void emc_programme_shown(struct emc *c, int64_t room, int64_t programme_id,
                                struct em_incoming *in)
{
	struct emc_room *r = emc_room(c, room);
	struct emc_pin_arg a = {.id = programme_id};
	unsigned char sig[EM_SIG_BYTES];
	json_t *prog, *creator;
	const char *sig_b64;
	struct pin p;

	if (!r)
		return;
	if (!in->result) {
		r->programme = EMC_FACT_FAILED;
		r->show_err = in->err;
		snprintf(r->show_msg, sizeof(r->show_msg), "%s",
		         in->err_message ? in->err_message : "");
		return;
	}
	if (emc_pin_people(c, json_object_get(in->result, "people")) < 0) {
		r->programme = EMC_FACT_FAILED;
		r->show_err = EM_ERR_NOMEM;
		return;
	}
	prog = json_object_get(in->result, "programme");
	creator = json_object_get(prog, "created_by");
	sig_b64 = json_string_value(json_object_get(prog, "settings_sig"));
	a.prog.creator_id = json_is_integer(creator) ? json_integer_value(creator) : 0;
	a.prog.required = 1;
	if (json_is_false(json_object_get(prog, "agreement_required"))) {
		if (a.prog.creator_id > 0 && emc_user_keys(c, a.prog.creator_id, &p) == 0 &&
		    !p.changed && sig_b64 &&
		    em_b64_decode(sig_b64, sig, sizeof(sig)) == (int)sizeof(sig) &&
		    em_programme_verify((uint64_t)programme_id, (uint64_t)a.prog.creator_id, 0,
		                        p.sign_pk, sig) == 0)
			a.prog.required = 0;
		else
			emc_warn(
			    c, "unsigned_setting",
			    "the server says programme %lld does without agreements, but its "
			    "manager's signature on that setting is missing or does not verify. "
			    "This device treats the programme as requiring them: room keys go "
			    "only to members who signed their room's agreement.",
			    (long long)programme_id);
	}
	r->programme =
	    emc_trust_update(c, emc_programme_pin_fn, &a) < 0 ? EMC_FACT_FAILED : EMC_FACT_HAVE;
}

/* ---- announcing members (programmes without agreements) ---- */

struct emc_announce_arg {
	const struct emc_room *r;
	int first;
	int64_t fresh[EM_ROOM_MEMBERS_MAX];
	size_t nfresh;
};

static int emc_announce_fn(json_t *trust, void *arg)
{
	struct emc_announce_arg *a = arg;
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

/*
 * Announces, in a room of a programme without agreements, every member this
 * device has not announced before: there the server decides who is in the
 * room, and a member is sealed the next room key as soon as they are added.
 * The first sight of a room lists who is in it.
 */
static void emc_announce(struct emc *c, struct emc_room *r)
{
	struct emc_announce_arg a = {.r = r};
	int any = 0;

	for (size_t i = 0; i < r->nmembers && !any; i++)
		any = !trust_announced(c->trust, r->id, r->members[i]);
	if (!any || emc_trust_update(c, emc_announce_fn, &a) < 0 || !a.nfresh)
		return;
	for (size_t i = 0; i < a.nfresh; i++) {
		struct pin p;

		if (a.fresh[i] == c->session.user_id || emc_user_keys(c, a.fresh[i], &p) != 0)
			continue;
		if (a.first)
			emc_notice(
			    c, "member",
			    "room %lld is in a programme without agreements: %s (fingerprint %s) "
			    "is a member and reads the room.",
			    (long long)r->id, p.username, p.fingerprint);
		else
			emc_notice(
			    c, "joined",
			    "%s (fingerprint %s) JOINED room %lld. This programme does without "
			    "agreements, so %s is sealed the next room key and reads new messages "
			    "from then on.",
			    p.username, p.fingerprint, (long long)r->id, p.username);
	}
}

/* Pins of the room's programme and setting; refuses a room moved to another programme. */
static int emc_room_trust(struct emc *c, struct emc_room *r)
{
	struct emc_pin_arg a = {.id = r->id, .other = r->programme_id};
	struct trust_programme prog;
	struct trust_room tr;

	if (r->programme_id < 1) {
		snprintf(r->refused, sizeof(r->refused),
		         "the server did not say which programme room %lld belongs to",
		         (long long)r->id);
		return 0;
	}
	if (trust_room_get(c->trust, r->id, &tr) == 0 && tr.programme_id > 0 &&
	    tr.programme_id != r->programme_id) {
		snprintf(
		    r->refused, sizeof(r->refused),
		    "the server now puts room %lld in programme %lld, but this device knows it "
		    "as part of programme %lld: refusing it",
		    (long long)r->id, (long long)r->programme_id, (long long)tr.programme_id);
		emc_warn(c, "room_moved", "%s.", r->refused);
		return 0;
	}
	if (trust_programme_get(c->trust, r->programme_id, &prog) != 0)
		return -EINVAL; /* not pinned: the caller asks programme.show first */
	if (tr.programme_id != r->programme_id && emc_trust_update(c, emc_room_pin_fn, &a) < 0)
		return -EIO;
	r->required = prog.required;
	if (!r->required)
		emc_announce(c, r);
	return 0;
}

int emc_room_advance(struct emc *c, struct emc_room *r)
{
	struct trust_programme prog;

	if (r->trusted)
		return EMC_DONE;
	switch (r->shown) {
	case EMC_FACT_NONE:
		if (emc_request(c, EM_OP_ROOM_SHOW,
		                json_pack("{s:I}", "room_id", (json_int_t)r->id), emc_room_shown,
		                r->id, 0) < 0) {
			r->show_err = 0;
			snprintf(r->show_msg, sizeof(r->show_msg), "out of memory");
			return EMC_FAILED;
		}
		r->shown = EMC_FACT_ASKED;
		return EMC_PENDING;
	case EMC_FACT_ASKED:
		return EMC_PENDING;
	case EMC_FACT_FAILED:
		return EMC_FAILED;
	case EMC_FACT_HAVE:
		break;
	}
	{
		struct trust_room tr;

		/* a room the server moved is refused before its new programme is asked about */
		if (trust_room_get(c->trust, r->id, &tr) == 0 && tr.programme_id > 0 &&
		    tr.programme_id != r->programme_id) {
			emc_room_trust(c, r);
			r->trusted = 1;
			return EMC_DONE;
		}
	}
	if (r->programme_id > 0 && trust_programme_get(c->trust, r->programme_id, &prog) != 0) {
		switch (r->programme) {
		case EMC_FACT_NONE:
		case EMC_FACT_HAVE: /* pinned meanwhile and lost? ask again */
			if (emc_request(
			        c, EM_OP_PROGRAMME_SHOW,
			        json_pack("{s:I}", "programme_id", (json_int_t)r->programme_id),
			        emc_programme_shown, r->id, r->programme_id) < 0) {
				r->show_err = 0;
				snprintf(r->show_msg, sizeof(r->show_msg), "out of memory");
				return EMC_FAILED;
			}
			r->programme = EMC_FACT_ASKED;
			return EMC_PENDING;
		case EMC_FACT_ASKED:
			return EMC_PENDING;
		case EMC_FACT_FAILED:
			return EMC_FAILED;
		}
	}
	if (emc_room_trust(c, r) < 0) {
		r->show_err = 0;
		snprintf(r->show_msg, sizeof(r->show_msg),
		         "cannot record what this device knows about room %lld", (long long)r->id);
		return EMC_FAILED;
	}
	r->trusted = 1;
	return EMC_DONE;
}

void emc_room_failed(struct emc_room *r, struct em_incoming *in)
{
	if (r->shown == EMC_FACT_FAILED)
		r->shown = EMC_FACT_NONE;
	if (r->programme == EMC_FACT_FAILED)
		r->programme = EMC_FACT_NONE;
	memset(in, 0, sizeof(*in));
	in->err = r->show_err;
	in->err_message = r->show_msg;
}

int emc_room_ready(struct emc *c, struct emc_task *t, struct emc_room *r)
{
	int rc = emc_room_advance(c, r);
	struct em_incoming in;

	if (rc != EMC_FAILED)
		return rc;
	emc_room_failed(r, &in);
	if (!in.err)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "%s", r->show_msg);
	return emc_fail_reply(t, &in);
}

/* ---- agreement versions ---- */

int emc_version_parse(json_t *version, int64_t room_id, struct emc_version *out)
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
	    !out->terms || !json_is_array(parties) || json_array_size(parties) > TRUST_PARTIES_MAX)
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

int emc_version_has(const struct emc_version *v, int64_t user_id)
{
	for (size_t i = 0; i < v->n; i++)
		if (v->parties[i].user_id == (uint64_t)user_id)
			return 1;
	return 0;
}

/*
 * A "support" party (the manager seated in a support room, who holds its key:
 * PROTOCOL.md 15.1) is one of exactly two parties, the other a mentor or
 * mentee: a server cannot make a manager a key holder of a mentoring room by
 * calling them "support" without every party signing a version that shows it,
 * and not even then beside more than one other person.
 */
static int emc_version_support_ok(const struct emc_version *v)
{
	int support = 0, others = 0;

	for (size_t i = 0; i < v->n; i++) {
		if (!strcmp(v->parties[i].role, "support"))
			support++;
		else if (!strcmp(v->parties[i].role, "mentor") ||
		         !strcmp(v->parties[i].role, "mentee"))
			others++;
		else
			others += 100;
	}
	return !support || (support == 1 && others == 1 && v->n == 2);
}

/*
 * Pins the parties of v (all of them, or with `unpinned_only` only those this
 * device has no pin for, never itself). An older version lists people with
 * the keys they had then: seeing those again is not a key change (a person
 * whose identity a manager reset is listed with their old keys until the new
 * version is signed), so versions other than the newest pin only first sights.
 */
static int emc_pin_version(struct emc *c, struct emc_version *v, int unpinned_only)
{
	json_t *users = json_array();
	int rc;

	if (!users)
		return -ENOMEM;
	for (size_t i = 0; i < v->n; i++) {
		json_t *p = v->party[i];
		struct pin pin;

		if (unpinned_only && ((int64_t)v->parties[i].user_id == c->session.user_id ||
		                      pins_get(c->pins, (int64_t)v->parties[i].user_id, &pin) == 0))
			continue;

		json_array_append_new(users, json_pack("{s:O, s:O, s:O, s:O}", "id",
		                                       json_object_get(p, "user_id"), "username",
		                                       json_object_get(p, "username"), "sign_pk",
		                                       json_object_get(p, "sign_pk"), "box_pk",
		                                       json_object_get(p, "box_pk")));
	}
	rc = emc_pin_people(c, users);
	json_decref(users);
	return rc;
}

int emc_pin_parties(struct emc *c, struct emc_version *v)
{
	return emc_pin_version(c, v, 0);
}

struct emc_version_put {
	int64_t room_id;
	const struct trust_version *v;
	int result;
};

static int emc_version_put_fn(json_t *trust, void *arg)
{
	struct emc_version_put *a = arg;

	a->result = trust_version_put(trust, a->room_id, a->v, 1);
	return a->result == -EEXIST ? 0 : a->result;
}

/*
 * Verifies a Version object in full, as this device: activated; we are a
 * party; every party is listed with the keys pinned here (pinned now on
 * first sight) and their signature verifies (a later withdrawal does not
 * undo a signature given). Then it is recorded in trust.json. Returns 0 with
 * *out, or 1 with `why`, or -errno.
 */
static int emc_verify_version(struct emc *c, struct emc_room *r, json_t *version, uint32_t number,
                              struct trust_version *out, char *why, size_t len)
{
	struct emc_version_put put = {.room_id = r->id, .v = out};
	struct emc_version v;
	int rc;

	if (emc_version_parse(version, r->id, &v) != 0 || v.version != number) {
		snprintf(why, len, "the server sent a malformed version %u of its agreement",
		         number);
		return 1;
	}
	if (!json_is_string(json_object_get(version, "activated_at"))) {
		snprintf(why, len, "version %u of its agreement was never signed by every party",
		         number);
		return 1;
	}
	if (!emc_version_has(&v, c->session.user_id)) {
		snprintf(why, len, "you are not a party of version %u of its agreement", number);
		return 1;
	}
	if (!emc_version_support_ok(&v)) {
		snprintf(why, len,
		         "version %u of its agreement seats a manager as a support room's member "
		         "beside someone else than one mentor or mentee",
		         number);
		return 1;
	}
	if ((rc = emc_pin_version(c, &v, 1)) < 0)
		return rc;
	memset(out, 0, sizeof(*out));
	out->version = number;
	for (size_t i = 0; i < v.n; i++) {
		unsigned char sig[EM_SIG_BYTES];
		const char *sig_b64 = json_string_value(json_object_get(v.party[i], "signature"));
		const char *name = json_string_value(json_object_get(v.party[i], "username"));
		struct pin p;

		if (emc_user_keys(c, (int64_t)v.parties[i].user_id, &p) != 0 || p.changed ||
		    sodium_memcmp(p.sign_pk, v.parties[i].sign_pk, EM_SIGN_PK_BYTES) ||
		    sodium_memcmp(p.box_pk, v.parties[i].box_pk, EM_BOX_PK_BYTES)) {
			snprintf(
			    why, len,
			    "version %u of its agreement lists %s with other keys than the ones "
			    "pinned on this device",
			    number, p.username[0] ? p.username : (name ? name : "?"));
			return 1;
		}
		if (!sig_b64 || em_b64_decode(sig_b64, sig, sizeof(sig)) != (int)sizeof(sig) ||
		    em_agreement_verify((uint64_t)r->id, v.version, v.starts_on, v.ends_on, v.terms,
		                        v.parties, v.n, p.sign_pk, sig) != 0) {
			snprintf(
			    why, len,
			    "the signature of %s on version %u of its agreement does not verify",
			    p.username, number);
			return 1;
		}
		out->parties[i].user_id = (int64_t)v.parties[i].user_id;
		snprintf(out->parties[i].role, sizeof(out->parties[i].role), "%s",
		         v.parties[i].role);
		memcpy(out->parties[i].sign_pk, v.parties[i].sign_pk, EM_SIGN_PK_BYTES);
		memcpy(out->parties[i].box_pk, v.parties[i].box_pk, EM_BOX_PK_BYTES);
		out->n++;
	}
	if (emc_trust_update(c, emc_version_put_fn, &put) < 0)
		return -EIO;
	if (put.result == -EEXIST) {
		snprintf(
		    why, len,
		    "the server shows version %u of its agreement with other parties than it did "
		    "before",
		    number);
		return 1;
	}
	return 0;
}

static void emc_version_failed(struct emc_room *r, uint32_t version, const char *why)
{
	struct emc_version_failure *f;

	if (r->nvfail == EMC_VERSIONS_FAILED)
		memmove(&r->vfail[0], &r->vfail[1],
		        sizeof(r->vfail[0]) * (EMC_VERSIONS_FAILED - 1));
	else
		r->nvfail++;
	f = &r->vfail[r->nvfail - 1];
	f->version = version;
	snprintf(f->why, sizeof(f->why), "%s", why);
}

static void emc_version_fetched(struct emc *c, int64_t room, int64_t number, struct em_incoming *in)
{
	struct emc_room *r = emc_room(c, room);
	struct trust_version v;
	char why[256];
	int rc;

	if (!r)
		return;
	r->version_asked = 0;
	if (!in->result) {
		if (in->err == EMC_ERR_LINK)
			return; /* asked again when the link is back */
		snprintf(why, sizeof(why),
		         "the server does not show version %lld of its agreement (%s)",
		         (long long)number, em_err_code(in->err));
		emc_version_failed(r, (uint32_t)number, why);
		return;
	}
	rc = emc_verify_version(c, r, json_object_get(in->result, "version"), (uint32_t)number, &v,
	                        why, sizeof(why));
	if (rc > 0)
		emc_version_failed(r, (uint32_t)number, why);
	else if (rc < 0)
		emc_version_failed(r, (uint32_t)number, "cannot record it on this device");
}

int emc_room_version(struct emc *c, struct emc_room *r, uint32_t version, struct trust_version *out,
                     char *why, size_t len)
{
	if (trust_version_get(c->trust, r->id, version, out) == 0)
		return EMC_DONE;
	for (size_t i = 0; i < r->nvfail; i++)
		if (r->vfail[i].version == version) {
			snprintf(why, len, "%s", r->vfail[i].why);
			return EMC_FAILED;
		}
	if (r->version_asked)
		return EMC_PENDING; /* one at a time: the others wait their turn */
	if (emc_request(c, EM_OP_AGREEMENT_SHOW,
	                json_pack("{s:I, s:I}", "room_id", (json_int_t)r->id, "version",
	                          (json_int_t)version),
	                emc_version_fetched, r->id, version) < 0) {
		snprintf(why, len, "out of memory");
		return EMC_FAILED;
	}
	r->version_asked = version;
	return EMC_PENDING;
}

/* ---- the agreement in force ---- */

static void emc_agreement_shown(struct emc *c, int64_t room, int64_t aux, struct em_incoming *in)
{
	struct emc_room *r = emc_room(c, room);
	struct trust_room tr;
	struct emc_version v;
	json_t *active, *party;
	char why[256];
	size_t i;
	int rc;

	(void)aux;
	if (!r)
		return;
	json_decref(r->agreement_doc);
	r->agreement_doc = NULL;
	memset(&r->active, 0, sizeof(r->active));
	r->nwithdrawn = 0;
	if (!in->result) {
		r->agreement = EMC_FACT_FAILED;
		r->show_err = in->err;
		snprintf(r->show_msg, sizeof(r->show_msg), "%s",
		         in->err_message ? in->err_message : "");
		return;
	}
	r->agreement_doc = json_incref(in->result);
	r->agreement = EMC_FACT_HAVE;
	if (r->required && json_is_false(json_object_get(r->agreement_doc, "required")))
		emc_warn(
		    c, "required_dropped",
		    "the server now says room %lld needs no signed agreement, but this device "
		    "knows "
		    "its programme as requiring one. Keys still go only to members who signed it.",
		    (long long)r->id);
	if (!r->required && !json_is_false(json_object_get(r->agreement_doc, "required")))
		r->required = 1; /* the server asks for more than the pin: the stricter rule */
	active = json_object_get(r->agreement_doc, "active");
	if (!r->required || !json_is_object(active))
		return;
	trust_room_get(c->trust, r->id, &tr);
	if (!json_is_integer(json_object_get(active, "version")) ||
	    json_integer_value(json_object_get(active, "version")) < tr.max_version) {
		snprintf(
		    r->refused, sizeof(r->refused),
		    "the server shows version %lld of room %lld's agreement as the one in force, "
		    "but this device has already verified version %u: refusing the older one",
		    (long long)json_integer_value(json_object_get(active, "version")),
		    (long long)r->id, tr.max_version);
		emc_warn(c, "version_downgrade", "%s.", r->refused);
		return;
	}
	/* not a party of it (joined since, or withdrew and left): nothing to seal
	 * or verify here; sending answers agreement_unsigned */
	if (emc_version_parse(active, r->id, &v) == 0 && !emc_version_has(&v, c->session.user_id))
		return;
	rc = emc_verify_version(c, r, active,
	                        (uint32_t)json_integer_value(json_object_get(active, "version")),
	                        &r->active, why, sizeof(why));
	if (rc != 0) {
		memset(&r->active, 0, sizeof(r->active));
		snprintf(r->refused, sizeof(r->refused), "room %lld: %s", (long long)r->id,
		         rc < 0 ? "cannot record its agreement on this device" : why);
		emc_warn(c, "agreement_refused", "%s.", r->refused);
		return;
	}
	json_array_foreach(json_object_get(active, "parties"), i, party)
	{
		json_t *w = json_object_get(party, "withdrawn_at");

		if (w && !json_is_null(w) && r->nwithdrawn < EMC_PARTIES_WITHDRAWN)
			r->withdrawn[r->nwithdrawn++] =
			    json_integer_value(json_object_get(party, "user_id"));
	}
}

int emc_room_agreement(struct emc *c, struct emc_task *t, struct emc_room *r)
{
	switch (r->agreement) {
	case EMC_FACT_HAVE:
		return EMC_DONE;
	case EMC_FACT_ASKED:
		return EMC_PENDING;
	case EMC_FACT_FAILED: {
		struct em_incoming in = {.err = r->show_err, .err_message = r->show_msg};

		r->agreement = EMC_FACT_NONE;
		return emc_fail_reply(t, &in);
	}
	case EMC_FACT_NONE:
		break;
	}
	if (emc_request(c, EM_OP_AGREEMENT_SHOW, json_pack("{s:I}", "room_id", (json_int_t)r->id),
	                emc_agreement_shown, r->id, 0) < 0)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	r->agreement = EMC_FACT_ASKED;
	return EMC_PENDING;
}
