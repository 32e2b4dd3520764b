/*
 * people.c - whose keys this device trusts, as commands of the core:
 * "verify" (the safety number two people compare in person, computed here
 * from our keys and the keys pinned for the other; a user not pinned yet is
 * looked up in our rooms and programmes and pinned, trust on first use),
 * "trust.show" (a user's pin and any change the server showed since) and
 * "trust.accept" (a change made the pin, after the user checked it).
 *
 * DESIGN. Pins change in one place only: here, when the user accepts a
 * change, and in room.c when the server shows someone (a change is then
 * recorded beside the pin, never over it). trust.accept takes the new
 * fingerprint and name the user was shown and refuses when the pending
 * change is another one by then.
 *
 * Results. verify {user}: {user, user_id, safety_number, your_fingerprint,
 * their_fingerprint, pinned_since, keys_changed (any change pending), you,
 * pin, next_safety_number (the number with the new keys, when they
 * changed)}. trust.show and trust.accept {user, new_fingerprint?,
 * new_username?}: {pin, accepted (accept)}. A pin is {user, user_id,
 * fingerprint, pinned_since, changed, keys_changed, name_changed,
 * new_username, new_fingerprint, changed_seen}.
 * Threads: the host's (core.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"

/* A pin as JSON. Who frees: the caller. */
static json_t *emc_pin_json(const struct pin *p)
{
	json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:b, s:b, s:b}", "user", p->username, "user_id",
	                      (json_int_t)p->user_id, "fingerprint", p->fingerprint, "pinned_since",
	                      p->first_seen, "changed", p->changed, "keys_changed", p->keys_changed,
	                      "name_changed", p->name_changed);

	if (o && p->changed) {
		json_object_set_new(o, "new_username", json_string(p->new_username));
		json_object_set_new(o, "new_fingerprint", json_string(p->new_fingerprint));
		json_object_set_new(o, "changed_seen", json_string(p->changed_seen));
	}
	return o;
}

/* The folded username of a command's "user". 0 or -EINVAL. */
static int emc_user_arg(json_t *cmd, char out[EM_USERNAME_MAX + 1])
{
	const char *user = json_string_value(json_object_get(cmd, "user"));

	if (!user || em_check_username(user) != EM_OK)
		return -EINVAL;
	em_username_fold(user, out);
	return 0;
}

/* ---- verify ---- */

enum emc_verify_phase {
	EMC_VERIFY_PIN = 0, /* is the user pinned? */
	EMC_VERIFY_ROOMS,   /* room.list asked */
	EMC_VERIFY_SHOW,    /* every room shown */
	EMC_VERIFY_PROGS,   /* programme.list asked */
	EMC_VERIFY_PEOPLE,  /* every programme shown, its people pinned */
	EMC_VERIFY_END,
};

struct emc_verify {
	char user[EM_USERNAME_MAX + 1];
	enum emc_verify_phase phase;
	int asked, answered;
	struct em_incoming reply;
	int64_t rooms[EMC_ROOMS_MAX];
	size_t nrooms;
	size_t waiting; /* programme.show answers still to come */
	int fresh;      /* the rooms' cached answers dropped: each is asked again */
};

static void emc_verify_reply(struct emc *c, int64_t room, int64_t task, struct em_incoming *in)
{
	struct emc_task *t = emc_task_find(c, task);
	struct emc_verify *v = t && !t->done ? t->data : NULL;

	(void)room;
	if (!v)
		return;
	v->answered = 1;
	em_incoming_clear(&v->reply);
	v->reply = *in; /* takes what in owns */
	memset(in, 0, sizeof(*in));
}

/* programme.show: its people pinned (trust on first use). */
static void emc_verify_people(struct emc *c, int64_t room, int64_t task, struct em_incoming *in)
{
	struct emc_task *t = emc_task_find(c, task);
	struct emc_verify *v = t && !t->done ? t->data : NULL;

	(void)room;
	if (in->result)
		emc_pin_people(c, json_object_get(in->result, "people"));
	if (v && v->waiting)
		v->waiting--;
}

static void emc_verify_free(struct emc_task *t)
{
	struct emc_verify *v = t->data;

	if (!v)
		return;
	em_incoming_clear(&v->reply);
	free(v);
}

/* Asks op once; EMC_DONE when answered (v->reply), whatever the answer. */
static int emc_verify_ask(struct emc *c, struct emc_task *t, struct emc_verify *v, enum em_op op)
{
	if (!v->asked) {
		if (emc_request(c, op, NULL, emc_verify_reply, 0, t->id) < 0)
			return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		v->asked = 1;
		v->answered = 0;
	}
	return v->answered ? EMC_DONE : EMC_PENDING;
}

/*
 * Pins everyone we can see: the members and former members of our rooms
 * (room.list, room.show each) and the people of our programmes
 * (programme.list, programme.show each). A need; only a failed room.list
 * fails the task, as before.
 */
static int emc_verify_look(struct emc *c, struct emc_task *t, struct emc_verify *v)
{
	size_t i;
	json_t *item;
	int rc;

	if (v->phase == EMC_VERIFY_ROOMS) {
		rc = emc_verify_ask(c, t, v, EM_OP_ROOM_LIST);
		if (rc != EMC_DONE)
			return rc;
		if (!v->reply.result) {
			struct pin p;

			/* no link: someone pinned is shown as pinned, as before */
			if (v->reply.err == EMC_ERR_LINK && pins_find(c->pins, v->user, &p) == 0)
				return EMC_DONE;
			return emc_fail_room_reply(c, t, &v->reply, 0);
		}
		json_array_foreach(json_object_get(v->reply.result, "rooms"), i, item)
		{
			int64_t id = json_integer_value(json_object_get(item, "id"));

			if (id > 0 && v->nrooms < EMC_ROOMS_MAX)
				v->rooms[v->nrooms++] = id;
		}
		v->phase = EMC_VERIFY_SHOW;
		v->asked = 0;
	}
	if (v->phase == EMC_VERIFY_SHOW) {
		int pending = 0, lost = 0;

		/* what the server says now, not what a long-lived client (a browser
		 * tab) was told hours ago: keys changed since must show here */
		if (!v->fresh) {
			for (i = 0; i < v->nrooms; i++) {
				struct emc_room *r = emc_room(c, v->rooms[i]);

				if (r)
					emc_room_forget(r);
			}
			v->fresh = 1;
		}

		for (i = 0; i < v->nrooms; i++) {
			struct emc_room *r = emc_room(c, v->rooms[i]);

			if (!r)
				continue;
			rc = emc_room_advance(c, r);
			if (rc == EMC_PENDING)
				pending = 1;
			else if (rc == EMC_FAILED && r->show_err == EMC_ERR_LINK)
				lost = 1;
		}
		if (pending)
			return EMC_PENDING;
		if (lost)
			return EMC_DONE;
		v->phase = EMC_VERIFY_PROGS;
	}
	if (v->phase == EMC_VERIFY_PROGS) {
		rc = emc_verify_ask(c, t, v, EM_OP_PROGRAMME_LIST);
		if (rc != EMC_DONE)
			return rc;
		if (!v->reply.result)
			return EMC_DONE;
		json_array_foreach(json_object_get(v->reply.result, "programmes"), i, item)
		{
			int64_t id = json_integer_value(json_object_get(item, "id"));

			if (id < 1)
				continue;
			if (emc_request(c, EM_OP_PROGRAMME_SHOW,
			                json_pack("{s:I}", "programme_id", (json_int_t)id),
			                emc_verify_people, 0, t->id) < 0)
				return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
			v->waiting++;
		}
		v->phase = EMC_VERIFY_PEOPLE;
	}
	return v->waiting ? EMC_PENDING : EMC_DONE;
}

static int emc_verify_step(struct emc *c, struct emc_task *t)
{
	struct emc_verify *v = t->data;
	char safety[EM_SAFETY_STRLEN], mine[EM_FINGERPRINT_STRLEN];
	struct pin p;
	int rc;

	/* With the link up, a look first even at someone pinned: the keys the
	 * server shows now decide whether a change is pending (a browser tab's
	 * core lives for hours). Without it (the CLI does not connect for someone
	 * pinned), the pin as it is. */
	if (v->phase == EMC_VERIFY_PIN) {
		if (!c->link_up && pins_find(c->pins, v->user, &p) == 0)
			goto found;
		v->phase = EMC_VERIFY_ROOMS;
	}
	rc = emc_verify_look(c, t, v);
	if (rc != EMC_DONE)
		return rc;
	if (pins_find(c->pins, v->user, &p) != 0)
		return emc_fail(t, EMC_EXIT_REFUSED, 0,
		                "%s is not in any of your rooms, so there is no key of theirs to "
		                "verify; keys are pinned when you first share a room.",
		                v->user);
found:
	em_fingerprint(c->keys.sign_pk, c->keys.box_pk, mine);
	em_safety_number(c->keys.sign_pk, c->keys.box_pk, p.sign_pk, p.box_pk, safety);
	t->result = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:b, s:s, s:o}", "user", p.username,
	                      "user_id", (json_int_t)p.user_id, "safety_number", safety,
	                      "your_fingerprint", mine, "their_fingerprint", p.fingerprint,
	                      "pinned_since", p.first_seen, "keys_changed", p.changed, "you",
	                      c->session.username, "pin", emc_pin_json(&p));
	if (t->result && p.keys_changed) {
		char next[EM_SAFETY_STRLEN];

		em_safety_number(c->keys.sign_pk, c->keys.box_pk, p.new_sign_pk, p.new_box_pk,
		                 next);
		json_object_set_new(t->result, "next_safety_number", json_string(next));
	}
	return EMC_DONE;
}

/* {"cmd":"verify","user"} */
int64_t emc_cmd_verify(struct emc *c, json_t *cmd)
{
	struct emc_verify *v = calloc(1, sizeof(*v));
	struct emc_task *t;

	if (!v)
		return -ENOMEM;
	if (emc_user_arg(cmd, v->user)) {
		free(v);
		return -EINVAL;
	}
	t = emc_task_new(c, "verify", emc_verify_step, emc_verify_free, v);
	if (!t) {
		free(v);
		return -ENOMEM;
	}
	if (!strcmp(v->user, c->session.username))
		emc_fail(
		    t, EMC_EXIT_USAGE, 0,
		    "that is you: ask the other person to run `ementor verify %s`, and you run "
		    "`ementor verify THEM`",
		    v->user);
	return t->id;
}

/* ---- trust.show, trust.accept ---- */

struct emc_accept {
	int64_t user_id;
	const char *fingerprint, *username; /* the change the user was shown (NULL: any) */
	char now[STATE_TIME_LEN];
	int result; /* 1 accepted, 0 nothing pending, -ESTALE another change by now */
};

static int emc_accept_fn(json_t *pins, void *arg)
{
	struct emc_accept *a = arg;
	struct pin p;

	if (pins_get(pins, a->user_id, &p) != 0)
		return a->result = -ENOENT;
	if (p.changed && ((a->fingerprint && strcmp(a->fingerprint, p.new_fingerprint)) ||
	                  (a->username && strcmp(a->username, p.new_username))))
		return (a->result = -ESTALE), 0;
	a->result = pins_accept(pins, a->user_id, a->now);
	return a->result;
}

static int64_t emc_trust_cmd(struct emc *c, json_t *cmd, int accept)
{
	const char *name = accept ? "trust.accept" : "trust.show";
	struct emc_task *t = emc_task_new(c, name, NULL, NULL, NULL);
	char user[EM_USERNAME_MAX + 1];
	struct pin p;

	if (!t)
		return -ENOMEM;
	if (emc_user_arg(cmd, user)) {
		emc_fail(t, EMC_EXIT_USAGE, 0, "not a valid username");
		return t->id;
	}
	t->done = 1;
	if (pins_find(c->pins, user, &p) != 0) {
		emc_fail(t, EMC_EXIT_REFUSED, 0,
		         "no keys are pinned for %s on this device; they are pinned when you first "
		         "share a room (`ementor verify %s` looks).",
		         user, user);
		return t->id;
	}
	t->result = json_pack("{s:o}", "pin", emc_pin_json(&p));
	if (accept && p.changed) {
		struct emc_accept a = {
		    .user_id = p.user_id,
		    .fingerprint = json_string_value(json_object_get(cmd, "new_fingerprint")),
		    .username = json_string_value(json_object_get(cmd, "new_username")),
		};
		time_t now = (time_t)(emc_now(c) / 1000);
		struct tm tm;
		int rc;

		if (gmtime_r(&now, &tm))
			strftime(a.now, sizeof(a.now), "%Y-%m-%dT%H:%M:%SZ", &tm);
		rc = emc_pins_update(c, emc_accept_fn, &a);
		if (rc < 0)
			emc_fail(t, EMC_EXIT_LOCAL, 0, "cannot write %s: %s", STATE_PINS_FILE,
			         strerror(-rc));
		else if (a.result == -ESTALE)
			emc_fail(t, EMC_EXIT_REFUSED, 0,
			         "the server has shown yet another identity for %s since; nothing "
			         "changed: look again (`ementor trust %s`)",
			         p.username, p.username);
		else
			json_object_set_new(t->result, "accepted", json_boolean(a.result > 0));
	}
	return t->id;
}

/* {"cmd":"trust.show","user"} */
int64_t emc_cmd_trust_show(struct emc *c, json_t *cmd)
{
	return emc_trust_cmd(c, cmd, 0);
}

/* {"cmd":"trust.accept","user","new_fingerprint"?,"new_username"?} */
int64_t emc_cmd_trust_accept(struct emc *c, json_t *cmd)
{
	return emc_trust_cmd(c, cmd, 1);
}
