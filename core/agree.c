/*
 * agree.c - a room's mentoring agreement as commands of the core
 * (PROTOCOL.md 7): "agreement.show" (every party of the active and pending
 * versions checked on this device) and "agreement.sign" (the version to
 * sign checked, then signed with our key and recorded as a consent).
 *
 * DESIGN. The server says who signed; the core believes only what it can
 * check. Every party's listed keys are compared with the keys pinned here
 * (the newest version's parties are pinned first, trust on first use, like
 * room members: a changed key is reported loudly) and every signature is
 * verified over the agreement bytes rebuilt from the version as shown.
 * Signing refuses when the version lists anyone, ourselves included, with
 * keys other than the pinned ones, or a signature that does not verify: a
 * signature endorses the list of parties and their keys, and those parties
 * are who room keys will be sealed to. A frontend only prints the result.
 *
 * Results. agreement.show: {"agreement": the server's answer, each party
 * with "check" (verified, absent, no_pin, keys_changed, keys_differ,
 * unsigned, withdrawn, bad_signature), "roster_names": [the roster as this
 * device names it], "bad": parties whose keys or signature are wrong, and
 * with a pending version "diff": {"from", "to", "from_active", "signed_by",
 * "lines": [{"op", "line"}]} computed here (agree_diff.c) from the active
 * version, or with none from the version before the pending one (fetched
 * with agreement.show {version}), or null with "diff_refused" when that
 * text is not verified}.
 * agreement.sign {room, version?, preview?}: {"state": "signed_before"
 * (nothing to do: "agreement", "waiting"), "preview" (checked, not signed)
 * or "signed" ("reply": the server's answer, "active", "waiting"),
 * "version", "view": {starts_on, ends_on, terms, parties: [{username, role,
 * fingerprint}]}}; when the server refuses the signature the error carries
 * the view as its result. agreement.propose {room, term}: the server's
 * answer. Threads: the host's (core.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core.h"

/* What emc_party_check() finds about one party. */
enum emc_party {
	EMC_PARTY_OK = 0,            /* signed with the pinned keys, signature verifies */
	EMC_PARTY_ABSENT = -1,       /* not a party of the version */
	EMC_PARTY_NO_PIN = -2,       /* no key pinned for the user on this device */
	EMC_PARTY_KEY_CHANGED = -3,  /* the pin has an untrusted change (`ementor trust`) */
	EMC_PARTY_KEYS_DIFFER = -4,  /* the version lists other keys than the pinned ones */
	EMC_PARTY_UNSIGNED = -5,     /* has not signed */
	EMC_PARTY_WITHDRAWN = -6,    /* signed, then withdrew */
	EMC_PARTY_BAD_SIGNATURE = -7 /* the signature does not verify */
};

static const char *const emc_party_names[] = {"verified",     "absent",       "no_pin",
                                              "keys_changed", "keys_differ",  "unsigned",
                                              "withdrawn",    "bad_signature"};

static const char *emc_party_text(int check)
{
	switch (check) {
	case EMC_PARTY_OK:
		return "signed; the signature verifies with the pinned key";
	case EMC_PARTY_ABSENT:
		return "is not a party of it";
	case EMC_PARTY_NO_PIN:
		return "has no key pinned on this device";
	case EMC_PARTY_KEY_CHANGED:
		return "has changed keys not trusted yet (see `ementor trust`)";
	case EMC_PARTY_KEYS_DIFFER:
		return "is listed with other keys than the ones pinned on this device";
	case EMC_PARTY_UNSIGNED:
		return "has not signed it";
	case EMC_PARTY_WITHDRAWN:
		return "withdrew their signature";
	case EMC_PARTY_BAD_SIGNATURE:
		return "has a signature that DOES NOT VERIFY";
	default:
		return "?";
	}
}

static int emc_version_index(const struct emc_version *v, int64_t user_id)
{
	for (size_t i = 0; i < v->n; i++)
		if (v->parties[i].user_id == (uint64_t)user_id)
			return (int)i;
	return -1;
}

/*
 * The checks of PROTOCOL.md 7.2 for one user: a party of v, whose listed
 * keys equal the keys this device trusts for them, whose signature verifies
 * over the version's agreement bytes and who has not withdrawn. Returns an
 * enum emc_party.
 */
static int emc_party_check(struct emc *c, struct emc_version *v, int64_t user_id)
{
	unsigned char sig[EM_SIG_BYTES];
	const char *sig_b64;
	json_t *withdrawn;
	struct pin p;
	int i = emc_version_index(v, user_id);

	if (i < 0)
		return EMC_PARTY_ABSENT;
	if (emc_user_keys(c, user_id, &p) != 0)
		return EMC_PARTY_NO_PIN;
	if (p.changed)
		return EMC_PARTY_KEY_CHANGED;
	if (sodium_memcmp(p.sign_pk, v->parties[i].sign_pk, EM_SIGN_PK_BYTES) != 0 ||
	    sodium_memcmp(p.box_pk, v->parties[i].box_pk, EM_BOX_PK_BYTES) != 0)
		return EMC_PARTY_KEYS_DIFFER;
	sig_b64 = json_string_value(json_object_get(v->party[i], "signature"));
	if (!sig_b64)
		return EMC_PARTY_UNSIGNED;
	withdrawn = json_object_get(v->party[i], "withdrawn_at");
	if (withdrawn && !json_is_null(withdrawn))
		return EMC_PARTY_WITHDRAWN;
	if (em_b64_decode(sig_b64, sig, sizeof(sig)) != (int)sizeof(sig) ||
	    em_agreement_verify((uint64_t)v->room_id, v->version, v->starts_on, v->ends_on,
	                        v->terms, v->parties, v->n, p.sign_pk, sig) != 0)
		return EMC_PARTY_BAD_SIGNATURE;
	return EMC_PARTY_OK;
}

/* The usernames of the parties who have not signed v, or withdrew. Who frees: the caller. */
static json_t *emc_waiting(const struct emc_version *v)
{
	json_t *out = json_array();

	for (size_t i = 0; out && i < v->n; i++) {
		json_t *p = v->party[i], *w = json_object_get(p, "withdrawn_at");
		const char *name = json_string_value(json_object_get(p, "username"));

		if (json_is_string(json_object_get(p, "signature")) && (!w || json_is_null(w)))
			continue;
		json_array_append_new(out, json_string(name ? name : "?"));
	}
	return out;
}

int emc_fail_server(struct emc *c, struct emc_task *t, const struct em_incoming *in)
{
	emc_fail_reply(t, in);
	if (t->exit == EMC_EXIT_AUTH)
		snprintf(t->message, sizeof(t->message),
		         "your session has expired; run `ementor login %s`.", c->session.username);
	return EMC_FAILED;
}

int emc_fail_room_reply(struct emc *c, struct emc_task *t, const struct em_incoming *in,
                        int64_t room_id)
{
	char text[512];

	emc_fail_server(c, t, in);
	if (t->exit == EMC_EXIT_REFUSED) {
		emc_room_refusal(c, room_id, in->err, in->err_message ? in->err_message : "",
		                 in->retry_after_ms, text, sizeof(text));
		snprintf(t->message, sizeof(t->message), "%s", text);
	}
	return EMC_FAILED;
}

void emc_ask_reply(struct emc *c, int64_t key, int64_t task, struct em_incoming *in)
{
	struct emc_task *t = emc_task_find(c, task);
	struct emc_ask *a = t && !t->done && t->ask_slot ? t->ask_slot(t, key) : NULL;

	if (!a)
		return;
	a->answered = 1;
	em_incoming_clear(&a->reply);
	a->reply = *in; /* takes what in owns */
	memset(in, 0, sizeof(*in));
}

int emc_ask(struct emc *c, struct emc_task *t, struct emc_ask *a, int64_t key, enum em_op op,
            json_t *args, int64_t room_id)
{
	if (!a->asked) {
		if (!args || emc_request(c, op, args, emc_ask_reply, key, t->id) < 0)
			return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		a->asked = 1;
		return EMC_PENDING;
	}
	json_decref(args);
	if (!a->answered)
		return EMC_PENDING;
	if (!a->reply.result)
		return room_id ? emc_fail_room_reply(c, t, &a->reply, room_id)
		               : emc_fail_server(c, t, &a->reply);
	return EMC_DONE;
}

/* ---- the tasks ---- */

enum emc_agree_phase {
	EMC_AGREE_FETCH = 0, /* agreement.show asked */
	EMC_AGREE_ROOM,      /* the room's members pinned first (room.show) */
	EMC_AGREE_CHECK,     /* parties pinned and checked */
	EMC_AGREE_SIGN,      /* agreement.sign asked */
	EMC_AGREE_PREV,      /* show: the version before the pending one asked (no active one) */
	EMC_AGREE_PREV_DONE, /* show: and answered (a->signed_ holds it) */
};

struct emc_agree {
	int64_t room;
	int sign;      /* agreement.sign (else show) */
	int preview;   /* sign: check only */
	uint32_t want; /* sign: the version the user saw (0: any) */
	enum emc_agree_phase phase;
	int asked, answered;
	struct em_incoming reply;   /* agreement.show's */
	struct em_incoming signed_; /* agreement.sign's, or show's version before the pending one */
	uint32_t version;
	json_t *view;
};

static void emc_agree_reply(struct emc *c, int64_t room, int64_t task, struct em_incoming *in)
{
	struct emc_task *t = emc_task_find(c, task);
	struct emc_agree *a = t && !t->done ? t->data : NULL;
	struct em_incoming *slot;

	(void)room;
	if (!a)
		return;
	slot = a->phase == EMC_AGREE_SIGN || a->phase == EMC_AGREE_PREV ? &a->signed_ : &a->reply;
	a->answered = 1;
	em_incoming_clear(slot);
	*slot = *in; /* takes what in owns */
	memset(in, 0, sizeof(*in));
}

static void emc_agree_free(struct emc_task *t)
{
	struct emc_agree *a = t->data;

	if (!a)
		return;
	em_incoming_clear(&a->reply);
	em_incoming_clear(&a->signed_);
	json_decref(a->view);
	free(a);
}

/* The room's members pinned first, so the parties are checked against what this device trusts. */
static int emc_agree_room(struct emc *c, struct emc_task *t, struct emc_agree *a)
{
	struct emc_room *r = emc_room(c, a->room);
	struct em_incoming in;
	int rc;

	if (!r)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "too many rooms in one command");
	rc = emc_room_advance(c, r);
	if (rc == EMC_PENDING || rc == EMC_DONE)
		return rc;
	emc_room_failed(r, &in);
	if (!in.err)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "%s", r->show_msg);
	if (in.err == EMC_ERR_LINK || in.err == EM_ERR_SESSION_EXPIRED ||
	    in.err == EM_ERR_NOT_AUTHENTICATED)
		return emc_fail_room_reply(c, t, &in, a->room);
	return EMC_DONE; /* a manager who left the programme: the parties still show */
}

/* Fetches agreement.show and pins the room. A need. */
static int emc_agree_fetch(struct emc *c, struct emc_task *t, struct emc_agree *a)
{
	if (a->phase == EMC_AGREE_FETCH) {
		if (!a->asked) {
			if (emc_request(c, EM_OP_AGREEMENT_SHOW,
			                json_pack("{s:I}", "room_id", (json_int_t)a->room),
			                emc_agree_reply, a->room, t->id) < 0)
				return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
			a->asked = 1;
		}
		if (!a->answered)
			return EMC_PENDING;
		if (!a->reply.result)
			return emc_fail_room_reply(c, t, &a->reply, a->room);
		a->phase = EMC_AGREE_ROOM;
		a->asked = a->answered = 0;
	}
	if (a->phase == EMC_AGREE_ROOM) {
		int rc = emc_agree_room(c, t, a);

		if (rc != EMC_DONE)
			return rc;
		a->phase = EMC_AGREE_CHECK;
	}
	return EMC_DONE;
}

/* Adds "check" to every party of v; returns how many are wrong (keys or signature). */
static int emc_agree_annotate(struct emc *c, struct emc_version *v)
{
	int bad = 0;

	for (size_t i = 0; i < v->n; i++) {
		int check = emc_party_check(c, v, (int64_t)v->parties[i].user_id);

		if (check == EMC_PARTY_KEY_CHANGED || check == EMC_PARTY_KEYS_DIFFER ||
		    check == EMC_PARTY_BAD_SIGNATURE || check == EMC_PARTY_ABSENT)
			bad++;
		json_object_set_new(v->party[i], "check", json_string(emc_party_names[-check]));
	}
	return bad;
}

/*
 * "diff" of the result: what changed from version `from` (the active one,
 * or with none the one before the pending one) to the pending one, computed
 * here from the two texts (never taken from the server). Only from a text
 * that at least one party signed with the key pinned for them, and whose
 * other signatures are all sound (withdrawn ones are not checked; an
 * unsigned party is allowed only in a version that was never active):
 * otherwise "diff" is null and "diff_refused" says why. "signed_by" names
 * the parties whose signature over `from` verifies, as pinned here.
 */
static void emc_agree_diff(struct emc *c, json_t *result, const struct emc_version *from,
                           const struct emc_version *to, int from_active)
{
	json_t *lines, *signers = json_array();
	char why[160];
	int wrong = 0;

	for (size_t i = 0; i < from->n; i++) {
		const char *check = json_string_value(json_object_get(from->party[i], "check"));
		struct pin p;

		if (check && !strcmp(check, "verified")) {
			if (emc_user_keys(c, (int64_t)from->parties[i].user_id, &p) == 0)
				json_array_append_new(signers, json_string(p.username));
		} else if (!check || (strcmp(check, "withdrawn") != 0 &&
		                      (from_active || strcmp(check, "unsigned") != 0))) {
			wrong++;
		}
	}
	if (wrong || !json_array_size(signers)) {
		if (from_active)
			snprintf(
			    why, sizeof(why),
			    "the active version's signatures do not all verify on this device: "
			    "no diff against its text");
		else
			snprintf(why, sizeof(why), "version %u has %s: no diff against its text",
			         from->version,
			         wrong ? "signatures that do not verify on this device"
			               : "no signature that verifies on this device");
		json_decref(signers);
		json_object_set_new(result, "diff", json_null());
		json_object_set_new(result, "diff_refused", json_string(why));
		return;
	}
	lines = emc_line_diff(from->terms, to->terms);
	if (!lines) {
		json_decref(signers);
		json_object_set_new(result, "diff", json_null());
		json_object_set_new(result, "diff_refused",
		                    json_string("the texts are too long to compare"));
		return;
	}
	json_object_set_new(result, "diff",
	                    json_pack("{s:i, s:i, s:b, s:o, s:o}", "from", (int)from->version, "to",
	                              (int)to->version, "from_active", from_active, "signed_by",
	                              signers, "lines", lines));
}

/*
 * With no active version and a pending one after version 1, asks for the
 * version before it (what the parties may have signed). A need: EMC_DONE
 * once answered, whatever the answer.
 */
static int emc_agree_prev(struct emc *c, struct emc_task *t, struct emc_agree *a)
{
	json_t *res = a->reply.result, *pj = json_object_get(res, "pending");
	json_int_t v = json_integer_value(json_object_get(pj, "version"));

	if (a->phase == EMC_AGREE_PREV_DONE || json_is_object(json_object_get(res, "active")) ||
	    !json_is_object(pj) || v < 2)
		return EMC_DONE;
	if (a->phase != EMC_AGREE_PREV) {
		if (emc_request(
		        c, EM_OP_AGREEMENT_SHOW,
		        json_pack("{s:I, s:I}", "room_id", (json_int_t)a->room, "version", v - 1),
		        emc_agree_reply, a->room, t->id) < 0)
			return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		a->phase = EMC_AGREE_PREV;
		a->answered = 0;
	}
	if (!a->answered)
		return EMC_PENDING;
	a->phase = EMC_AGREE_PREV_DONE;
	return EMC_DONE;
}

static int emc_agree_show_step(struct emc *c, struct emc_task *t)
{
	struct emc_agree *a = t->data;
	struct emc_version active, pending, prev;
	json_t *res, *aj, *pj, *id, *names;
	int rc, has_active = 0, has_pending = 0, has_prev = 0, bad = 0;
	size_t i;

	rc = emc_agree_fetch(c, t, a);
	if (rc != EMC_DONE)
		return rc;
	rc = emc_agree_prev(c, t, a);
	if (rc != EMC_DONE)
		return rc;
	res = a->reply.result;
	aj = json_object_get(res, "active");
	pj = json_object_get(res, "pending");
	if (json_is_object(aj)) {
		if (emc_version_parse(aj, a->room, &active) != 0)
			return emc_fail(t, EMC_EXIT_NET, 0,
			                "the server sent a malformed agreement");
		has_active = 1;
	}
	if (json_is_object(pj)) {
		if (emc_version_parse(pj, a->room, &pending) != 0)
			return emc_fail(t, EMC_EXIT_NET, 0,
			                "the server sent a malformed agreement");
		has_pending = 1;
	}
	/* the newest version's parties are the room's people as they are now */
	if ((has_pending || has_active) && emc_pin_parties(c, has_pending ? &pending : &active) < 0)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "cannot record the parties' keys");
	if (has_active)
		bad += emc_agree_annotate(c, &active);
	if (has_pending)
		bad += emc_agree_annotate(c, &pending);
	/* the version before the pending one, as asked for: that version of this room or nothing */
	if (has_pending && !has_active && a->signed_.result &&
	    json_is_object(json_object_get(a->signed_.result, "version")) &&
	    emc_version_parse(json_object_get(a->signed_.result, "version"), a->room, &prev) == 0 &&
	    prev.version + 1 == pending.version) {
		emc_agree_annotate(c, &prev);
		has_prev = 1;
	}
	names = json_array();
	json_array_foreach(json_object_get(res, "roster"), i, id)
	{
		struct pin p;
		char name[48];

		if (emc_user_keys(c, json_integer_value(id), &p) == 0)
			snprintf(name, sizeof(name), "%s", p.username);
		else
			snprintf(name, sizeof(name), "user %lld",
			         (long long)json_integer_value(id));
		json_array_append_new(names, json_string(name));
	}
	t->result =
	    json_pack("{s:O, s:o, s:i}", "agreement", res, "roster_names", names, "bad", bad);
	if (t->result && has_active && has_pending)
		emc_agree_diff(c, t->result, &active, &pending, 1);
	else if (t->result && has_prev)
		emc_agree_diff(c, t->result, &prev, &pending, 0);
	else if (t->result && has_pending && !has_active && pending.version > 1)
		json_object_set_new(t->result, "diff_refused",
		                    json_string("the server did not give the version before the "
		                                "pending one"));
	return EMC_DONE;
}

/* {username, role, fingerprint} of every party, in the order signed (ascending user_id).
 * Who frees: the caller. */
static json_t *emc_agree_view(const struct emc_version *v)
{
	json_t *parties = json_array(), *view;

	for (size_t i = 0; parties && i < v->n; i++) {
		char fp[EM_FINGERPRINT_STRLEN];
		const char *name = json_string_value(json_object_get(v->party[i], "username"));
		const char *role = json_string_value(json_object_get(v->party[i], "role"));

		em_fingerprint(v->parties[i].sign_pk, v->parties[i].box_pk, fp);
		json_array_append_new(parties,
		                      json_pack("{s:s, s:s, s:s}", "username", name ? name : "?",
		                                "role", role ? role : "?", "fingerprint", fp));
	}
	view = json_pack("{s:s, s:s, s:s, s:o}", "starts_on", v->starts_on, "ends_on", v->ends_on,
	                 "terms", v->terms, "parties", parties);
	return view;
}

/* Signs v and asks agreement.sign. A step's return. */
static int emc_agree_send(struct emc *c, struct emc_task *t, struct emc_agree *a,
                          struct emc_version *v)
{
	unsigned char sig[EM_SIG_BYTES], csig[EM_SIG_BYTES], hash[EM_HASH_BYTES];
	char subject[32], *sig_b64 = NULL, *csig_b64 = NULL;
	int64_t at = emc_now(c) / 1000;
	int rc = EMC_PENDING;

	snprintf(subject, sizeof(subject), "room:%lld", (long long)a->room);
	if (em_agreement_sign((uint64_t)a->room, v->version, v->starts_on, v->ends_on, v->terms,
	                      v->parties, v->n, c->keys.sign_sk, sig) != 0 ||
	    em_agreement_hash((uint64_t)a->room, v->version, v->starts_on, v->ends_on, v->terms,
	                      v->parties, v->n, hash) != 0 ||
	    em_consent_sign(c->keys.sign_pk, "agreement", subject, hash, "grant", at,
	                    c->keys.sign_sk, csig) != 0) {
		rc = emc_fail(t, EMC_EXIT_LOCAL, 0, "cannot sign the agreement (out of memory?)");
		goto out;
	}
	sig_b64 = em_b64_encode(sig, sizeof(sig));
	csig_b64 = em_b64_encode(csig, sizeof(csig));
	if (!sig_b64 || !csig_b64 ||
	    emc_request(c, EM_OP_AGREEMENT_SIGN,
	                json_pack("{s:I, s:I, s:s, s:I, s:s}", "room_id", (json_int_t)a->room,
	                          "version", (json_int_t)v->version, "signature", sig_b64,
	                          "consent_at", (json_int_t)at, "consent_signature", csig_b64),
	                emc_agree_reply, a->room, t->id) < 0) {
		rc = emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		goto out;
	}
	a->phase = EMC_AGREE_SIGN;
	a->asked = 1;
out:
	sodium_memzero(sig, sizeof(sig));
	sodium_memzero(csig, sizeof(csig));
	free(sig_b64);
	free(csig_b64);
	return rc;
}

/* The answer to agreement.sign: the outcome as a result. */
static int emc_agree_signed(struct emc *c, struct emc_task *t, struct emc_agree *a)
{
	json_t *now, *act, *pj;
	struct emc_version after;

	if (!a->answered)
		return EMC_PENDING;
	if (!a->signed_.result) {
		emc_fail_room_reply(c, t, &a->signed_, a->room);
		t->result = json_pack("{s:s, s:I, s:O}", "state", "refused", "version",
		                      (json_int_t)a->version, "view", a->view);
		return EMC_FAILED;
	}
	now = json_object_get(a->signed_.result, "agreement");
	act = json_object_get(now, "active");
	pj = json_object_get(now, "pending");
	t->result =
	    json_pack("{s:s, s:I, s:O, s:O, s:b}", "state", "signed", "version",
	              (json_int_t)a->version, "view", a->view, "reply", a->signed_.result, "active",
	              json_is_object(act) && json_integer_value(json_object_get(act, "version")) ==
	                                         (json_int_t)a->version);
	if (t->result && json_is_object(pj) && emc_version_parse(pj, a->room, &after) == 0)
		json_object_set_new(t->result, "waiting", emc_waiting(&after));
	return EMC_DONE;
}

static int emc_agree_sign_step(struct emc *c, struct emc_task *t)
{
	struct emc_agree *a = t->data;
	struct emc_version v;
	json_t *res, *vj, *mine;
	int rc, me;

	if (a->phase == EMC_AGREE_SIGN)
		return emc_agree_signed(c, t, a);
	rc = emc_agree_fetch(c, t, a);
	if (rc != EMC_DONE)
		return rc;
	res = a->reply.result;
	vj = json_object_get(res, "pending");
	if (!json_is_object(vj))
		vj = json_object_get(res, "active");
	if (!json_is_object(vj))
		return emc_fail(t, EMC_EXIT_REFUSED, 0, "room %lld has no agreement to sign",
		                (long long)a->room);
	if (emc_version_parse(vj, a->room, &v) != 0)
		return emc_fail(t, EMC_EXIT_NET, 0, "the server sent a malformed agreement");
	a->version = v.version;
	me = emc_version_index(&v, c->session.user_id);
	if (me < 0)
		return emc_fail(t, EMC_EXIT_REFUSED, 0,
		                "you are not a party of version %u of the agreement of room %lld",
		                v.version, (long long)a->room);
	mine = json_object_get(v.party[me], "withdrawn_at");
	if (json_is_string(json_object_get(v.party[me], "signature")) &&
	    (!mine || json_is_null(mine))) {
		t->result =
		    json_pack("{s:s, s:I, s:O, s:o}", "state", "signed_before", "version",
		              (json_int_t)v.version, "agreement", res, "waiting", emc_waiting(&v));
		return EMC_DONE;
	}
	if (emc_pin_parties(c, &v) < 0)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "cannot record the parties' keys");
	for (size_t i = 0; i < v.n; i++) {
		int check = emc_party_check(c, &v, (int64_t)v.parties[i].user_id);
		const char *name = json_string_value(json_object_get(v.party[i], "username"));

		if (check == EMC_PARTY_KEYS_DIFFER || check == EMC_PARTY_KEY_CHANGED ||
		    check == EMC_PARTY_NO_PIN || check == EMC_PARTY_BAD_SIGNATURE)
			return emc_fail(t, EMC_EXIT_REFUSED, 0,
			                "not signing: in version %u, %s %s%s. Nothing was signed.",
			                v.version, name ? name : "?", emc_party_text(check),
			                (int)i == me ? " (your own keys: run `ementor whoami`)"
			                             : "");
	}
	if (a->want && a->want != v.version)
		return emc_fail(t, EMC_EXIT_REFUSED, 0,
		                "version %u of the agreement of room %lld is the one to sign now, "
		                "not version %u: nothing was signed; look at it again",
		                v.version, (long long)a->room, a->want);
	json_decref(a->view);
	a->view = emc_agree_view(&v);
	if (!a->view)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	if (a->preview) {
		t->result = json_pack("{s:s, s:I, s:O}", "state", "preview", "version",
		                      (json_int_t)v.version, "view", a->view);
		return EMC_DONE;
	}
	return emc_agree_send(c, t, a, &v);
}

static int64_t emc_agree_start(struct emc *c, json_t *cmd, int sign)
{
	struct emc_agree *a;
	struct emc_task *t;
	json_t *version = json_object_get(cmd, "version");
	int64_t room = json_integer_value(json_object_get(cmd, "room"));

	if (room < 1 || (version && (!json_is_integer(version) || json_integer_value(version) < 1 ||
	                             json_integer_value(version) > UINT32_MAX)))
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->room = room;
	a->sign = sign;
	a->preview = json_is_true(json_object_get(cmd, "preview"));
	a->want = version ? (uint32_t)json_integer_value(version) : 0;
	t = emc_task_new(c, sign ? "agreement.sign" : "agreement.show",
	                 sign ? emc_agree_sign_step : emc_agree_show_step, emc_agree_free, a);
	if (!t) {
		free(a);
		return -ENOMEM;
	}
	return t->id;
}

/* {"cmd":"agreement.show","room"} */
int64_t emc_cmd_agreement_show(struct emc *c, json_t *cmd)
{
	return emc_agree_start(c, cmd, 0);
}

/* {"cmd":"agreement.sign","room","version"?,"preview"?} */
int64_t emc_cmd_agreement_sign(struct emc *c, json_t *cmd)
{
	return emc_agree_start(c, cmd, 1);
}

/* ---- agreement.propose ---- */

/* {"cmd":"agreement.propose","room","term"}: the term is one line of printable UTF-8. */
int64_t emc_cmd_agreement_propose(struct emc *c, json_t *cmd)
{
	int64_t room = json_integer_value(json_object_get(cmd, "room"));
	const char *term = json_string_value(json_object_get(cmd, "term"));

	if (room < 1 || !term || !*term || strlen(term) > EM_TERM_MAX ||
	    !text_is_utf8(term, strlen(term)))
		return -EINVAL;
	for (const unsigned char *p = (const unsigned char *)term; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return -EINVAL;
	return emc_call_start(c, "agreement.propose", EM_OP_AGREEMENT_PROPOSE,
	                      json_pack("{s:I, s:s}", "room_id", (json_int_t)room, "term", term));
}
