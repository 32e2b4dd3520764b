/*
 * profile.c - participants' profiles for matching as commands of the core
 * (docs/PROTOCOL.md section 14, SECURITY.md "Profiles for matching"):
 * "profile.form" (a programme's questions for mentors or mentees, their
 * signature checked), "profile.edit" (a manager signs a new version),
 * "profile.anchor" (a manager's key, given outside the server, recorded as
 * one this device may seal profiles to), "profile.fill" (a participant's
 * answers sealed to the verified managers and to themselves, and signed)
 * and "profile.show" (the profiles the server hands this device, each
 * checked and opened: a participant's own, or a manager's whole programme).
 *
 * DESIGN. Before any room exists there is no agreement naming the
 * programme's managers, and the server's list of managers is only its word:
 * a lying server could list an account of its own. A profile is therefore
 * sealed only to managers this device verified itself: (1) anchored by
 * their key fingerprint, given outside the server (the invite link the
 * manager's own client made carries it as "&m=HEX", or the manager reads it
 * out), checked against the keys the server shows and pinned; or (2) manager
 * parties of an agreement version of a room of this programme this device
 * verified (managers.c's anchor). A manager the server lists who is neither
 * is reported, never sealed to; with no verified manager nothing is sent.
 * Questions of version N >= 1 are believed only when signed by one of those
 * verified managers; the built-in version 0 needs no signature, and the
 * sealed profile carries the questions it answers. The signed context names
 * the programme, the role, the author, the questions' version and the
 * writer's clock (profile_form.c), so a server can neither move a profile
 * to another programme or person nor turn a mentee's into a mentor's.
 * Threads: the host's (core.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core.h"
#include "profile_form.h"

#define PROFILE_READERS ENVELOPE_RECIPIENTS

enum emc_profile_kind {
	EMC_PROFILE_FORM = 0,
	EMC_PROFILE_EDIT,
	EMC_PROFILE_ANCHOR,
	EMC_PROFILE_FILL,
	EMC_PROFILE_SHOW,
};

enum { SLOT_SHOW = 0, SLOT_FORM, SLOT_LIST, SLOT_MAIN, SLOT_N };

struct emc_profile {
	enum emc_profile_kind kind;
	int64_t programme;
	int anchored; /* the fingerprint given was checked and recorded */
	int pinned;   /* programme.show's people pinned */
	json_t *rows; /* profile.list's pages so far */
	int64_t after;
	json_t *cmd;
	struct emc_ask slots[SLOT_N];
};

static struct emc_ask *emc_profile_slot(struct emc_task *t, int64_t slot)
{
	struct emc_profile *q = t->data;

	return slot >= 0 && slot < SLOT_N ? &q->slots[slot] : NULL;
}

static void emc_profile_free(struct emc_task *t)
{
	struct emc_profile *q = t->data;

	if (!q)
		return;
	for (int i = 0; i < SLOT_N; i++)
		em_incoming_clear(&q->slots[i].reply);
	json_decref(q->rows);
	json_decref(q->cmd);
	free(q);
}

/* Asks op on slot once; EMC_DONE with its answer (a refusal fails t). Takes args. */
static int emc_profile_ask(struct emc *c, struct emc_task *t, int slot, enum em_op op, json_t *args)
{
	return emc_ask(c, t, &((struct emc_profile *)t->data)->slots[slot], slot, op, args, 0);
}

/* programme.show, its people pinned (trust on first use, key changes flagged). A need. */
static int emc_profile_people(struct emc *c, struct emc_task *t, json_t **people)
{
	struct emc_profile *q = t->data;
	int rc = emc_profile_ask(c, t, SLOT_SHOW, EM_OP_PROGRAMME_SHOW,
	                         json_pack("{s:I}", "programme_id", (json_int_t)q->programme));

	if (rc != EMC_DONE)
		return rc;
	*people = json_object_get(q->slots[SLOT_SHOW].reply.result, "people");
	if (!json_is_array(*people))
		return emc_fail(t, EMC_EXIT_NET, 0, "the server's answer is malformed");
	if (!q->pinned && emc_pin_people(c, *people) < 0)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	q->pinned = 1;
	return EMC_DONE;
}

static const char *person_role(json_t *people, int64_t user)
{
	json_t *u;
	size_t i;

	json_array_foreach(people, i, u)
	{
		if (json_integer_value(json_object_get(u, "id")) == user)
			return json_string_value(json_object_get(u, "role"));
	}
	return NULL;
}

/* Whether user's pinned keys are a manager party's of a verified agreement of programme. */
static int agreement_manager(struct emc *c, int64_t programme, int64_t user, const struct pin *p)
{
	json_t *rooms = json_object_get(c->trust, "rooms"), *e;
	const char *key;

	json_object_foreach(rooms, key, e)
	{
		int64_t room = strtoll(key, NULL, 10);
		struct trust_room tr;
		struct trust_version v;
		int i;

		(void)e;
		if (trust_room_get(c->trust, room, &tr) != 0 || tr.programme_id != programme ||
		    !tr.max_version || trust_version_get(c->trust, room, tr.max_version, &v) != 0)
			continue;
		i = trust_version_party(&v, user);
		if (i >= 0 && !strcmp(v.parties[i].role, "manager") &&
		    !memcmp(v.parties[i].sign_pk, p->sign_pk, 32) &&
		    !memcmp(v.parties[i].box_pk, p->box_pk, 32))
			return 1;
	}
	return 0;
}

/*
 * Whether `user` is a manager this device verified for programme, and how
 * ("fingerprint", "agreement"), or NULL with why.
 */
static const char *verified_manager(struct emc *c, int64_t programme, int64_t user, char *why,
                                    size_t len)
{
	const char *fpr = profile_anchor_get(c->trust, programme, user);
	char have[PROFILE_FPR_HEX + 1];
	struct pin p;

	if (emc_user_keys(c, user, &p) != 0) {
		snprintf(why, len, "no key of theirs is pinned on this device");
		return NULL;
	}
	if (p.changed) {
		snprintf(why, len, "their key changed since it was pinned (`ementor trust %s`)",
		         p.username);
		return NULL;
	}
	profile_fpr_of(p.sign_pk, p.box_pk, have);
	if (fpr && !strcmp(fpr, have))
		return "fingerprint";
	if (agreement_manager(c, programme, user, &p))
		return "agreement";
	snprintf(why, len,
	         fpr ? "their key is not the one whose fingerprint you were given"
	             : "not verified on this device: only the server says they are a manager");
	return NULL;
}

static int cmp_ids(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The readers of my profile: me and the managers listed in people whom this
 * device verified, ascending; *readers [{"username","via"}] and *skipped
 * [{"username","why"}] (new references). Their count.
 */
static size_t profile_readers(struct emc *c, int64_t programme, json_t *people,
                              uint64_t ids[PROFILE_READERS], json_t **readers, json_t **skipped)
{
	size_t n = 0, i;
	json_t *u;

	*readers = json_array();
	*skipped = json_array();
	ids[n++] = (uint64_t)c->session.user_id;
	json_array_foreach(people, i, u)
	{
		int64_t user = json_integer_value(json_object_get(u, "id"));
		const char *role = json_string_value(json_object_get(u, "role"));
		const char *name = json_string_value(json_object_get(u, "username"));
		const char *via;
		char why[160];

		if (!role || strcmp(role, "manager") != 0 || user == c->session.user_id)
			continue;
		via = verified_manager(c, programme, user, why, sizeof(why));
		if (via && n < PROFILE_READERS) {
			ids[n++] = (uint64_t)user;
			json_array_append_new(*readers,
			                      json_pack("{s:s?, s:I, s:s}", "username", name,
			                                "user_id", (json_int_t)user, "via", via));
		} else
			json_array_append_new(*skipped,
			                      json_pack("{s:s?, s:I, s:s}", "username", name,
			                                "user_id", (json_int_t)user, "why",
			                                via ? "too many readers" : why));
	}
	qsort(ids, n, sizeof(ids[0]), cmp_ids);
	return n;
}

/* The anchor step: the manager of people whose keys have the fingerprint given. */
static int anchor_fn(json_t *trust, void *arg)
{
	struct {
		int64_t programme, user;
		const char *fpr;
	} *a = arg;

	return profile_anchor_put(trust, a->programme, a->user, a->fpr);
}

static int emc_profile_anchor_given(struct emc *c, struct emc_task *t, json_t *people)
{
	struct emc_profile *q = t->data;
	const char *given = json_string_value(json_object_get(q->cmd, "fingerprint"));
	char fpr[PROFILE_FPR_HEX + 1], have[PROFILE_FPR_HEX + 1];
	json_t *u;
	size_t i;

	if (!given || q->anchored)
		return EMC_DONE;
	if (profile_fpr_parse(given, fpr) != 0)
		return emc_fail(t, EMC_EXIT_USAGE, 0,
		                "a manager's key fingerprint is 32 hexadecimal digits (spaces "
		                "allowed), or the invite link that carries it as m=...");
	json_array_foreach(people, i, u)
	{
		int64_t user = json_integer_value(json_object_get(u, "id"));
		const char *role = json_string_value(json_object_get(u, "role"));
		struct pin p;
		struct {
			int64_t programme, user;
			const char *fpr;
		} a = {q->programme, user, fpr};

		if (!role || strcmp(role, "manager") != 0 || emc_user_keys(c, user, &p) != 0)
			continue;
		if (p.changed) /* the key the server shows now is what counts */
			profile_fpr_of(p.new_sign_pk, p.new_box_pk, have);
		else
			profile_fpr_of(p.sign_pk, p.box_pk, have);
		if (strcmp(have, fpr) != 0)
			continue;
		if (p.changed)
			return emc_fail(
			    t, EMC_EXIT_REFUSED, 0,
			    "%s has that fingerprint, but their key changed since this "
			    "device pinned it: check it with them and run `ementor trust "
			    "%s` first. Nothing was recorded",
			    p.username, p.username);
		if (emc_trust_update(c, anchor_fn, &a) < 0)
			return emc_fail(t, EMC_EXIT_LOCAL, 0, "could not record the manager's key");
		q->anchored = 1;
		json_object_set_new(q->cmd, "_anchored", json_string(p.username));
		return EMC_DONE;
	}
	return emc_fail(t, EMC_EXIT_REFUSED, 0,
	                "no manager of programme %lld has the key with fingerprint %s: it is "
	                "mistyped, or the server does not show the manager who gave it to you. "
	                "Nothing was recorded",
	                (long long)q->programme, fpr);
}

/*
 * The questions of a profile.form answer: 1 with *text (borrowed or the
 * default) and signer, or 0 with why. For version N >= 1 the signer must be
 * among ids (the verified managers) when ids is given, else anyone pinned.
 */
static int form_ok(struct emc *c, json_t *got, int64_t programme, const char *role,
                   const uint64_t *ids, size_t n, const char **text, char *signer,
                   size_t signer_len, char *why, size_t len)
{
	int64_t version = json_integer_value(json_object_get(got, "version"));
	int64_t author = json_integer_value(json_object_get(got, "author_id"));
	const char *doc = json_string_value(json_object_get(got, "doc"));
	const char *sig_b64 = json_string_value(json_object_get(got, "signature"));
	unsigned char bytes[PROFILE_FORM_SIG_MAX], sig[EM_SIG_BYTES];
	int among = !ids;
	struct pin p;

	signer[0] = '\0';
	if (version == 0) {
		*text = profile_form_default(role);
		return 1;
	}
	if (!doc || !sig_b64 || em_b64_decode(sig_b64, sig, sizeof(sig)) != (int)sizeof(sig)) {
		snprintf(why, len, "the server's questions are malformed");
		return 0;
	}
	if (emc_user_keys(c, author, &p) != 0 || p.changed) {
		snprintf(why, len,
		         "version %lld of the %s questions is signed by user %lld, who has no "
		         "trusted key on this device",
		         (long long)version, role, (long long)author);
		return 0;
	}
	for (size_t i = 0; ids && i < n; i++)
		among |= ids[i] == (uint64_t)author && author != c->session.user_id;
	if (!among) {
		snprintf(why, len,
		         "version %lld of the %s questions is signed by %s, who is not a manager "
		         "this device verified",
		         (long long)version, role, p.username);
		return 0;
	}
	if (crypto_sign_verify_detached(
	        sig, bytes, profile_form_sig_bytes(bytes, programme, role, version, doc),
	        p.sign_pk) != 0) {
		snprintf(why, len,
		         "version %lld of the %s questions does not verify with %s's pinned key: "
		         "it was altered",
		         (long long)version, role, p.username);
		return 0;
	}
	snprintf(signer, signer_len, "%s", p.username);
	*text = doc;
	return 1;
}

static const char *cmd_role(json_t *cmd)
{
	const char *r = json_string_value(json_object_get(cmd, "role"));

	return r && (!strcmp(r, "mentor") || !strcmp(r, "mentee")) ? r : NULL;
}

/* ---- profile.form / profile.edit / profile.anchor ---- */

static int emc_profile_form_step(struct emc *c, struct emc_task *t)
{
	struct emc_profile *q = t->data;
	const char *role = cmd_role(q->cmd), *text = NULL, *me_role;
	char why[320] = "", signer[EM_USERNAME_MAX + 1];
	uint64_t ids[PROFILE_READERS];
	json_t *people, *readers, *skipped, *parsed, *got;
	size_t n;
	int rc, ok;

	if ((rc = emc_profile_people(c, t, &people)) != EMC_DONE)
		return rc;
	rc = emc_profile_ask(
	    c, t, SLOT_FORM, EM_OP_PROFILE_FORM,
	    json_pack("{s:I, s:s}", "programme_id", (json_int_t)q->programme, "role", role));
	if (rc != EMC_DONE)
		return rc;
	got = q->slots[SLOT_FORM].reply.result;
	n = profile_readers(c, q->programme, people, ids, &readers, &skipped);
	/* a manager believes questions signed by any manager whose key is pinned */
	me_role = person_role(people, c->session.user_id);
	ok =
	    form_ok(c, got, q->programme, role, me_role && !strcmp(me_role, "manager") ? NULL : ids,
	            n, &text, signer, sizeof(signer), why, sizeof(why));
	json_decref(readers);
	json_decref(skipped);
	if (!ok)
		return emc_fail(t, EMC_EXIT_REFUSED, 0, "%s", why);
	if (!(parsed = profile_form_parse(text, role, why, sizeof(why))))
		return emc_fail(t, EMC_EXIT_NET, 0, "the questions are malformed: %s", why);
	t->result = json_pack("{s:I, s:s, s:I, s:b, s:O, s:O?, s:O, s:s, s:s?}", "programme_id",
	                      (json_int_t)q->programme, "role", role, "version",
	                      (json_int_t)json_integer_value(json_object_get(got, "version")),
	                      "default", json_integer_value(json_object_get(got, "version")) == 0,
	                      "title", json_object_get(parsed, "title"), "title_pl",
	                      json_object_get(parsed, "title_pl"), "questions",
	                      json_object_get(parsed, "questions"), "text", text, "signed_by",
	                      signer[0] ? signer : NULL);
	json_decref(parsed);
	return EMC_DONE;
}

static int emc_profile_edit_step(struct emc *c, struct emc_task *t)
{
	struct emc_profile *q = t->data;
	const char *role = cmd_role(q->cmd);
	json_t *doc = json_object_get(q->cmd, "doc"), *parsed;
	unsigned char bytes[PROFILE_FORM_SIG_MAX], sig[EM_SIG_BYTES];
	char why[320], *text = NULL, *sig_b64 = NULL;
	int64_t version;
	int rc;

	if (q->slots[SLOT_MAIN].asked) {
		rc = emc_profile_ask(c, t, SLOT_MAIN, EM_OP_NONE, NULL);
		if (rc == EMC_DONE)
			t->result =
			    json_pack("{s:I, s:s, s:O}", "programme_id", (json_int_t)q->programme,
			              "role", role, "version",
			              json_object_get(q->slots[SLOT_MAIN].reply.result, "version"));
		return rc;
	}
	rc = emc_profile_ask(
	    c, t, SLOT_FORM, EM_OP_PROFILE_FORM,
	    json_pack("{s:I, s:s}", "programme_id", (json_int_t)q->programme, "role", role));
	if (rc != EMC_DONE)
		return rc;
	text = json_is_string(doc) ? strdup(json_string_value(doc))
	                           : json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!text)
		return emc_fail(t, EMC_EXIT_USAGE, 0, "no questions given");
	if (strlen(text) > EM_PROFILE_FORM_MAX) {
		free(text);
		return emc_fail(t, EMC_EXIT_USAGE, 0, "the questions are too long");
	}
	if (!(parsed = profile_form_parse(text, role, why, sizeof(why)))) {
		free(text);
		return emc_fail(t, EMC_EXIT_USAGE, 0, "%s", why);
	}
	json_decref(parsed);
	version =
	    json_integer_value(json_object_get(q->slots[SLOT_FORM].reply.result, "version")) + 1;
	crypto_sign_detached(sig, NULL, bytes,
	                     profile_form_sig_bytes(bytes, q->programme, role, version, text),
	                     c->keys.sign_sk);
	sig_b64 = em_b64_encode(sig, sizeof(sig));
	rc = emc_profile_ask(c, t, SLOT_MAIN, EM_OP_PROFILE_FORM_SET,
	                     sig_b64
	                         ? json_pack("{s:I, s:s, s:I, s:s, s:s}", "programme_id",
	                                     (json_int_t)q->programme, "role", role, "version",
	                                     (json_int_t)version, "doc", text, "signature", sig_b64)
	                         : NULL);
	free(sig_b64);
	free(text);
	return rc;
}

/* The readers result of a task: {"readers", "not_sealed_to"}. */
static int emc_profile_anchor_step(struct emc *c, struct emc_task *t)
{
	struct emc_profile *q = t->data;
	uint64_t ids[PROFILE_READERS];
	json_t *people, *readers, *skipped;
	int rc;

	if ((rc = emc_profile_people(c, t, &people)) != EMC_DONE)
		return rc;
	if ((rc = emc_profile_anchor_given(c, t, people)) != EMC_DONE)
		return rc;
	profile_readers(c, q->programme, people, ids, &readers, &skipped);
	t->result = json_pack("{s:I, s:O?, s:o, s:o}", "programme_id", (json_int_t)q->programme,
	                      "anchored", json_object_get(q->cmd, "_anchored"), "readers", readers,
	                      "not_sealed_to", skipped);
	return EMC_DONE;
}

/* ---- opening profiles ---- */

/* One row of profile.list checked and opened: {"user_id","username","role",...,"verified"}. */
static json_t *emc_profile_open_row(struct emc *c, int64_t programme, json_t *x)
{
	int64_t author = json_integer_value(json_object_get(x, "user_id"));
	int64_t fv = json_integer_value(json_object_get(x, "form_version"));
	int64_t written = json_integer_value(json_object_get(x, "written_ms"));
	const char *role = json_string_value(json_object_get(x, "role"));
	const char *b64 = json_string_value(json_object_get(x, "blob"));
	json_t *o = json_pack("{s:I, s:O?, s:s?, s:I, s:I, s:O?}", "user_id", (json_int_t)author,
	                      "username", json_object_get(x, "username"), "role", role,
	                      "form_version", (json_int_t)fv, "written_ms", (json_int_t)written,
	                      "updated_at", json_object_get(x, "updated_at"));
	unsigned char *blob = malloc(EM_PROFILE_BLOB_MAX);
	uint64_t ids[ENVELOPE_RECIPIENTS];
	json_t *opened = NULL, *readers;
	char why[320] = "";
	struct pin p;
	size_t n = 0;
	int len = -1;

	memset(&p, 0, sizeof(p));
	if (!o)
		goto out;
	if (!blob || !b64 || (len = em_b64_decode(b64, blob, EM_PROFILE_BLOB_MAX)) < 0 || !role) {
		snprintf(why, sizeof(why), "the server's record is malformed");
		goto out;
	}
	if (emc_user_keys(c, author, &p) != 0 || p.changed) {
		snprintf(
		    why, sizeof(why), "its author (user %lld) has no trusted key on this device%s",
		    (long long)author, p.changed ? ": their key changed (`ementor trust`)" : "");
		goto out;
	}
	json_object_set_new(o, "username", json_string(p.username)); /* the pinned name */
	opened = profile_open(blob, (size_t)len, programme, role, author, fv, written, p.sign_pk,
	                      c->session.user_id, c->keys.box_pk, c->keys.box_sk, ids, &n, why,
	                      sizeof(why));
	if (!opened)
		goto out;
	readers = json_array();
	for (size_t i = 0; i < n; i++) {
		struct pin r;

		json_array_append_new(readers, emc_user_keys(c, (int64_t)ids[i], &r) == 0
		                                   ? json_string(r.username)
		                                   : json_sprintf("user %lld", (long long)ids[i]));
	}
	json_object_set_new(o, "readers", readers);
	json_object_set(o, "form", json_object_get(opened, "form"));
	json_object_set(o, "answers", json_object_get(opened, "answers"));
out:
	if (o) {
		json_object_set_new(o, "verified", json_boolean(opened != NULL));
		if (!opened)
			json_object_set_new(o, "error", json_string(why[0] ? why : "unreadable"));
	}
	json_decref(opened);
	free(blob);
	return o;
}

/* Every page of profile.list into q->rows (a page after the last user id, while "more"). A need. */
static int emc_profile_pages(struct emc *c, struct emc_task *t)
{
	struct emc_profile *q = t->data;
	struct emc_ask *s = &q->slots[SLOT_LIST];
	json_t *page, *last;
	int rc;

	for (;;) {
		rc = emc_profile_ask(
		    c, t, SLOT_LIST, EM_OP_PROFILE_LIST,
		    q->after ? json_pack("{s:I, s:I}", "programme_id", (json_int_t)q->programme,
		                         "after", (json_int_t)q->after)
		             : json_pack("{s:I}", "programme_id", (json_int_t)q->programme));
		if (rc != EMC_DONE)
			return rc;
		page = json_object_get(s->reply.result, "profiles");
		if (!json_is_array(page))
			return emc_fail(t, EMC_EXIT_NET, 0, "the server's answer is malformed");
		if (!q->rows && !(q->rows = json_array()))
			return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		json_array_extend(q->rows, page);
		last = json_array_get(page, json_array_size(page) - 1);
		if (!json_is_true(json_object_get(s->reply.result, "more")) || !last ||
		    json_integer_value(json_object_get(last, "user_id")) <= q->after)
			return EMC_DONE; /* a page that does not move forward ends the list */
		q->after = json_integer_value(json_object_get(last, "user_id"));
		em_incoming_clear(&s->reply);
		s->asked = s->answered = 0;
	}
}

static int emc_profile_show_step(struct emc *c, struct emc_task *t)
{
	struct emc_profile *q = t->data;
	json_t *people, *list, *x, *out;
	size_t i;
	int rc;

	if ((rc = emc_profile_people(c, t, &people)) != EMC_DONE)
		return rc;
	if ((rc = emc_profile_pages(c, t)) != EMC_DONE)
		return rc;
	list = q->rows;
	out = json_array();
	json_array_foreach(list, i, x)
	{
		json_array_append_new(out, emc_profile_open_row(c, q->programme, x));
	}
	t->result =
	    json_pack("{s:I, s:o}", "programme_id", (json_int_t)q->programme, "profiles", out);
	return EMC_DONE;
}

/* ---- profile.fill ---- */

static int emc_profile_fill_step(struct emc *c, struct emc_task *t)
{
	struct emc_profile *q = t->data;
	int64_t me = c->session.user_id, written = emc_now(c), fv;
	json_t *people, *readers = NULL, *skipped = NULL, *got, *form = NULL, *answers = NULL;
	json_t *given = json_object_get(q->cmd, "answers"), *doc = NULL;
	unsigned char pks[PROFILE_READERS][32], *blob = NULL;
	char why[320] = "", signer[EM_USERNAME_MAX + 1], *text = NULL, *b64 = NULL;
	uint64_t ids[PROFILE_READERS];
	const char *role, *qtext = NULL;
	size_t n, blob_len = 0;
	int rc;

	if (q->slots[SLOT_MAIN].asked) {
		rc = emc_profile_ask(c, t, SLOT_MAIN, EM_OP_NONE, NULL);
		if (rc == EMC_DONE)
			t->result = json_pack("{s:I, s:O, s:O, s:O, s:O, s:O, s:O?}",
			                      "programme_id", (json_int_t)q->programme, "role",
			                      json_object_get(q->cmd, "_role"), "form_version",
			                      json_object_get(q->cmd, "_form_version"), "readers",
			                      json_object_get(q->cmd, "_readers"), "not_sealed_to",
			                      json_object_get(q->cmd, "_skipped"), "answers",
			                      json_object_get(q->cmd, "_answers"), "anchored",
			                      json_object_get(q->cmd, "_anchored"));
		return rc;
	}
	if ((rc = emc_profile_people(c, t, &people)) != EMC_DONE)
		return rc;
	if ((rc = emc_profile_anchor_given(c, t, people)) != EMC_DONE)
		return rc;
	role = person_role(people, me);
	if (!role || (strcmp(role, "mentor") != 0 && strcmp(role, "mentee") != 0))
		return emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_WRONG_ROLE,
		                "only the mentors and mentees of programme %lld fill in a profile "
		                "there",
		                (long long)q->programme);
	n = profile_readers(c, q->programme, people, ids, &readers, &skipped);
	if (n < 2) {
		json_decref(readers);
		json_decref(skipped);
		return emc_fail(
		    t, EMC_EXIT_REFUSED, 0,
		    "no manager of programme %lld is verified on this device, so there "
		    "is nobody to seal your profile to: give the key fingerprint your "
		    "manager gave you (the invite link they made carries it as m=...; "
		    "they see it with `ementor whoami`) with --manager-key. Nothing was "
		    "sent",
		    (long long)q->programme);
	}
	rc = emc_profile_ask(
	    c, t, SLOT_FORM, EM_OP_PROFILE_FORM,
	    json_pack("{s:I, s:s}", "programme_id", (json_int_t)q->programme, "role", role));
	if (rc == EMC_DONE && json_is_true(json_object_get(q->cmd, "merge")))
		rc = emc_profile_ask(c, t, SLOT_LIST, EM_OP_PROFILE_LIST,
		                     json_pack("{s:I}", "programme_id", (json_int_t)q->programme));
	if (rc != EMC_DONE)
		goto out;
	got = q->slots[SLOT_FORM].reply.result;
	fv = json_integer_value(json_object_get(got, "version"));
	if (!form_ok(c, got, q->programme, role, ids, n, &qtext, signer, sizeof(signer), why,
	             sizeof(why))) {
		rc = emc_fail(t, EMC_EXIT_REFUSED, 0, "%s. Nothing was sent", why);
		goto out;
	}
	if (!(form = profile_form_parse(qtext, role, why, sizeof(why)))) {
		rc = emc_fail(t, EMC_EXIT_NET, 0, "the questions are malformed: %s", why);
		goto out;
	}
	/* --merge: what this device can open of the stored profile, then the new answers */
	if (json_is_true(json_object_get(q->cmd, "merge"))) {
		json_t *list = json_object_get(q->slots[SLOT_LIST].reply.result, "profiles"), *x;
		json_t *merged = json_object(), *keep = json_object(), *old, *v, *qq;
		size_t i;

		/* the new answers are checked as given: a question that is not asked is refused */
		json_decref(answers);
		if (!(answers = profile_answers_norm(form, given, why, sizeof(why)))) {
			json_decref(merged);
			json_decref(keep);
			rc = emc_fail(t, EMC_EXIT_USAGE, 0, "%s", why);
			goto out;
		}
		json_decref(answers);
		answers = NULL;

		json_array_foreach(list, i, x)
		{
			if (json_integer_value(json_object_get(x, "user_id")) != me)
				continue;
			old = emc_profile_open_row(c, q->programme, x);
			json_object_update(merged, json_object_get(old, "answers"));
			json_decref(old);
		}
		json_object_update(merged, given);
		/* answers to questions no longer asked are dropped */
		json_array_foreach(json_object_get(form, "questions"), i, qq)
		{
			const char *id = json_string_value(json_object_get(qq, "id"));

			if ((v = json_object_get(merged, id)))
				json_object_set(keep, id, v);
		}
		answers = profile_answers_norm(form, keep, why, sizeof(why));
		json_decref(merged);
		json_decref(keep);
	} else
		answers = profile_answers_norm(form, given, why, sizeof(why));
	if (!answers) {
		rc = emc_fail(t, EMC_EXIT_USAGE, 0, "%s", why);
		goto out;
	}
	doc =
	    json_pack("{s:I, s:s, s:I, s:O, s:O}", "programme_id", (json_int_t)q->programme, "role",
	              role, "form_version", (json_int_t)fv, "form", form, "answers", answers);
	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	if (!text) {
		rc = emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct pin p;

		if (emc_user_keys(c, (int64_t)ids[i], &p) != 0) {
			rc = emc_fail(t, EMC_EXIT_LOCAL, 0, "a reader's key went missing");
			goto out;
		}
		memcpy(pks[i], p.box_pk, 32);
	}
	if (profile_seal(q->programme, role, me, fv, written, ids, (const unsigned char(*)[32])pks,
	                 n, text, c->keys.sign_sk, &blob, &blob_len) != ENVELOPE_OK ||
	    blob_len > EM_PROFILE_BLOB_MAX) {
		rc = emc_fail(t, EMC_EXIT_USAGE, 0,
		              "the profile is too long: write shorter answers");
		goto out;
	}
	if (!(b64 = em_b64_encode(blob, blob_len))) {
		rc = emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		goto out;
	}
	json_object_set_new(q->cmd, "_role", json_string(role));
	json_object_set_new(q->cmd, "_form_version", json_integer(fv));
	json_object_set(q->cmd, "_readers", readers);
	json_object_set(q->cmd, "_skipped", skipped);
	json_object_set(q->cmd, "_answers", answers);
	rc = emc_profile_ask(c, t, SLOT_MAIN, EM_OP_PROFILE_PUT,
	                     json_pack("{s:I, s:I, s:I, s:s}", "programme_id",
	                               (json_int_t)q->programme, "form_version", (json_int_t)fv,
	                               "written_ms", (json_int_t)written, "blob", b64));
out:
	json_decref(readers);
	json_decref(skipped);
	json_decref(form);
	json_decref(answers);
	json_decref(doc);
	if (text) {
		sodium_memzero(text, strlen(text));
		free(text);
	}
	free(blob);
	free(b64);
	return rc;
}

static int64_t emc_profile_start(struct emc *c, enum emc_profile_kind kind, json_t *cmd)
{
	static const char *const names[] = {"profile.form", "profile.edit", "profile.anchor",
	                                    "profile.fill", "profile.show"};
	static const emc_step_fn steps[] = {emc_profile_form_step, emc_profile_edit_step,
	                                    emc_profile_anchor_step, emc_profile_fill_step,
	                                    emc_profile_show_step};
	int64_t programme = json_integer_value(json_object_get(cmd, "programme"));
	struct emc_profile *q;
	struct emc_task *t;

	if (programme < 1)
		return -EINVAL;
	if ((kind == EMC_PROFILE_FORM || kind == EMC_PROFILE_EDIT) && !cmd_role(cmd))
		return -EINVAL;
	if (kind == EMC_PROFILE_EDIT && !json_object_get(cmd, "doc"))
		return -EINVAL;
	if (kind == EMC_PROFILE_ANCHOR && !json_is_string(json_object_get(cmd, "fingerprint")))
		return -EINVAL;
	if (kind == EMC_PROFILE_FILL && !json_is_object(json_object_get(cmd, "answers")))
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->kind = kind;
	q->programme = programme;
	q->cmd = json_deep_copy(cmd);
	t = q->cmd ? emc_task_new(c, names[kind], steps[kind], emc_profile_free, q) : NULL;
	if (!t) {
		emc_profile_free(&(struct emc_task){.data = q});
		return -ENOMEM;
	}
	t->ask_slot = emc_profile_slot;
	return t->id;
}

/* {"cmd":"profile.form","programme","role"} */
int64_t emc_cmd_profile_form(struct emc *c, json_t *cmd)
{
	return emc_profile_start(c, EMC_PROFILE_FORM, cmd);
}

/* {"cmd":"profile.edit","programme","role","doc": object or JSON text} */
int64_t emc_cmd_profile_edit(struct emc *c, json_t *cmd)
{
	return emc_profile_start(c, EMC_PROFILE_EDIT, cmd);
}

/* {"cmd":"profile.anchor","programme","fingerprint"} */
int64_t emc_cmd_profile_anchor(struct emc *c, json_t *cmd)
{
	return emc_profile_start(c, EMC_PROFILE_ANCHOR, cmd);
}

/* {"cmd":"profile.fill","programme","answers":{id: value},"fingerprint"?,"merge"?} */
int64_t emc_cmd_profile_fill(struct emc *c, json_t *cmd)
{
	return emc_profile_start(c, EMC_PROFILE_FILL, cmd);
}

/* {"cmd":"profile.show","programme"} */
int64_t emc_cmd_profile_show(struct emc *c, json_t *cmd)
{
	return emc_profile_start(c, EMC_PROFILE_SHOW, cmd);
}
