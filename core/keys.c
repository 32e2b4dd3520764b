/*
 * keys.c - room keys in the core (core.h): envelopes received (keys.get and
 * `epoch` events) accepted only when every check holds, and new epochs
 * sealed to the checked roster (docs/SECURITY.md "A malicious server",
 * K1-K4, S1-S4, E1).
 *
 * DESIGN. Envelopes wait on their room (r->envelopes) until what checking
 * them needs is known — the room shown and pinned, the agreement version
 * they name verified — and are then accepted or refused, once; the room's
 * keys are "known" when keys.get answered and nothing waits any more. A
 * commit this core sends is kept on its room until the answer comes: the
 * key is stored only when the server took it (an epoch is merged after the
 * acknowledgement, as MLS does), and a race lost (stale_epoch) makes the
 * room be looked at again. Threads: the host's (core.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core.h"

/* ---- storing ---- */

struct emc_key_put {
	int64_t room_id, epoch, committer, version;
	const int64_t *recipients;
	size_t n;
	const unsigned char *key;
	char now[STATE_TIME_LEN];
};

static int emc_key_put_fn(json_t *rk, void *arg)
{
	struct emc_key_put *k = arg;
	int rc = roomkeys_put(rk, k->room_id, k->epoch, k->key, k->committer, k->version, k->now);

	if (rc == 1 && roomkeys_set_recipients(rk, k->room_id, k->epoch, k->recipients, k->n) < 0)
		return -ENOMEM;
	return rc;
}

/* Stores a verified key for good. 0 or -1 (reported). */
static int emc_store_key(struct emc *c, int64_t room_id, int64_t epoch,
                         const unsigned char key[EM_ROOM_KEY_BYTES], int64_t committer,
                         uint32_t version, const int64_t *recipients, size_t n)
{
	struct emc_key_put k = {.room_id = room_id,
	                        .epoch = epoch,
	                        .committer = committer,
	                        .version = version,
	                        .recipients = recipients,
	                        .n = n,
	                        .key = key};
	time_t t = (time_t)(c->now_ms / 1000);
	struct tm tm;
	int rc;

	if (gmtime_r(&t, &tm))
		strftime(k.now, sizeof(k.now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	rc = emc_roomkeys_update(c, emc_key_put_fn, &k);
	if (rc == -EEXIST) {
		emc_warn(
		    c, "second_key",
		    "received a second, different key for epoch %lld of room %lld; keeping the "
		    "first one.",
		    (long long)epoch, (long long)room_id);
		return 0;
	}
	return rc < 0 ? -1 : 0;
}

struct emc_epoch_arg {
	int64_t room_id, epoch;
};

static int emc_epoch_raise_fn(json_t *trust, void *arg)
{
	struct emc_epoch_arg *a = arg;

	return trust_epoch_raise(trust, a->room_id, a->epoch);
}

int emc_epoch_seen(struct emc *c, int64_t room_id, int64_t epoch)
{
	struct emc_epoch_arg a = {.room_id = room_id, .epoch = epoch};
	struct trust_room tr;

	if (trust_room_get(c->trust, room_id, &tr) == 0 && tr.max_epoch >= epoch)
		return 0;
	return emc_trust_update(c, emc_epoch_raise_fn, &a) < 0 ? -1 : 0;
}

int emc_epoch_bad(const struct emc_room *r, int64_t epoch)
{
	for (size_t i = 0; i < r->nbad; i++)
		if (r->bad_epochs[i] == epoch)
			return 1;
	return 0;
}

/* Records and reports an envelope we could not accept (once per epoch). */
static void emc_bad_envelope(struct emc *c, struct emc_room *r, int64_t epoch, const char *why)
{
	if (emc_epoch_bad(r, epoch))
		return;
	if (r->nbad < sizeof(r->bad_epochs) / sizeof(r->bad_epochs[0]))
		r->bad_epochs[r->nbad++] = epoch;
	emc_warn(c, "key_refused",
	         "the key for epoch %lld of room %lld was not accepted: %s. Messages of that epoch "
	         "stay unreadable.",
	         (long long)epoch, (long long)r->id, why);
}

/* ---- accepting ---- */

/*
 * Whether the committer may have committed this key, and everyone it names
 * may hold it (K3): in a room that requires agreements, the committer and
 * every recipient are mentor or mentee parties of the version the envelope
 * names, verified in full here with us among its parties; otherwise the
 * committer and every recipient are members announced on this device.
 * EMC_DONE, EMC_PENDING (a version asked for), EMC_FAILED with `why`.
 */
static int emc_committer_ok(struct emc *c, struct emc_room *r, const struct em_room_key_id *kid,
                            char *why, size_t len)
{
	int64_t committer = (int64_t)kid->committer_id;
	struct trust_version v;
	int rc;

	if (r->refused[0]) {
		snprintf(why, len, "%s", r->refused);
		return EMC_FAILED;
	}
	if (!r->required) {
		for (uint32_t i = 0; i < kid->n_recipients; i++) {
			int64_t id = (int64_t)kid->recipients[i];

			if (id != c->session.user_id && !trust_announced(c->trust, r->id, id)) {
				snprintf(why, len,
				         "it was also sealed to user %lld, who was never announced "
				         "as a member "
				         "of the room here",
				         (long long)id);
				return EMC_FAILED;
			}
		}
		if (committer == c->session.user_id || trust_announced(c->trust, r->id, committer))
			return EMC_DONE;
		snprintf(why, len, "its committer (user %lld) was never a member of the room here",
		         (long long)committer);
		return EMC_FAILED;
	}
	if (kid->agreement_version < 1) {
		snprintf(why, len, "it names no agreement, and the room requires one");
		return EMC_FAILED;
	}
	rc = emc_room_version(c, r, kid->agreement_version, &v, why, len);
	if (rc != EMC_DONE)
		return rc;
	if (!trust_version_member(&v, committer)) {
		snprintf(why, len,
		         "its committer (user %lld) is not a mentor or mentee party of version %u "
		         "of the "
		         "agreement it names",
		         (long long)committer, kid->agreement_version);
		return EMC_FAILED;
	}
	for (uint32_t i = 0; i < kid->n_recipients; i++)
		if (!trust_version_member(&v, (int64_t)kid->recipients[i])) {
			snprintf(why, len,
			         "it was also sealed to user %lld, who is not a mentor or mentee "
			         "party of "
			         "version %u of the agreement",
			         (long long)kid->recipients[i], kid->agreement_version);
			return EMC_FAILED;
		}
	return EMC_DONE;
}

/*
 * One envelope {"epoch", "committer_id"?, "agreement_version"?, "sealed"}
 * addressed to us: accepted only when every check holds (K1-K4), then
 * stored for good and the epoch high-water mark raised. EMC_DONE (stored,
 * held already, or refused and reported), EMC_PENDING (waiting for the room
 * or a version).
 */
static int emc_accept_envelope(struct emc *c, struct emc_room *r, json_t *env)
{
	unsigned char sealed[EM_SEALED_KEY_BYTES], key[EM_ROOM_KEY_BYTES], sig[EM_SIG_BYTES];
	int64_t epoch = json_integer_value(json_object_get(env, "epoch"));
	json_t *hint_c = json_object_get(env, "committer_id");
	json_t *hint_v = json_object_get(env, "agreement_version");
	const char *sealed_b64 = json_string_value(json_object_get(env, "sealed"));
	struct em_room_key_id kid = {.room_id = (uint64_t)r->id,
	                             .epoch = (uint64_t)epoch,
	                             .recipient_id = (uint64_t)c->session.user_id};
	int64_t recipients[EM_KEY_RECIPIENTS_MAX];
	struct trust_room tr;
	struct pin p;
	char why[320];
	int rc = EMC_DONE;

	if (epoch < 1 || !sealed_b64 ||
	    em_b64_decode(sealed_b64, sealed, sizeof(sealed)) != (int)sizeof(sealed)) {
		emc_bad_envelope(c, r, epoch, "the server sent a malformed envelope");
		return EMC_DONE;
	}
	if (roomkeys_get(c->roomkeys, r->id, epoch, key, NULL) == 0)
		goto out; /* already held */
	if (emc_epoch_bad(r, epoch))
		goto out; /* refused before */
	if (em_room_key_open(sealed, &c->keys, &kid, key, sig) != 0) {
		emc_bad_envelope(c, r, epoch, "it does not open with your key");
		goto out;
	}
	if (json_is_integer(hint_c) && (uint64_t)json_integer_value(hint_c) != kid.committer_id) {
		emc_bad_envelope(c, r, epoch,
		                 "the server names another committer than the sealed one");
		goto out;
	}
	if (json_is_integer(hint_v) &&
	    (uint64_t)json_integer_value(hint_v) != kid.agreement_version) {
		emc_bad_envelope(c, r, epoch,
		                 "the server names another agreement version than the sealed one");
		goto out;
	}
	if (r->trusted == 0) {
		rc = EMC_PENDING; /* the room first: its members are pinned by room.show */
		goto out;
	}
	if (emc_user_keys(c, (int64_t)kid.committer_id, &p) != 0) {
		snprintf(why, sizeof(why), "its committer (user %llu) has no pinned key",
		         (unsigned long long)kid.committer_id);
		emc_bad_envelope(c, r, epoch, why);
		goto out;
	}
	if (!em_room_key_names(&kid, (uint64_t)c->session.user_id)) {
		emc_bad_envelope(c, r, epoch, "it does not name you among its recipients");
		goto out;
	}
	if (em_room_key_verify(key, &kid, sig, p.sign_pk) != 0) {
		snprintf(why, sizeof(why), "it is not signed by %s's pinned key%s", p.username,
		         p.changed ? " (their keys changed: see `ementor trust`)" : "");
		emc_bad_envelope(c, r, epoch, why);
		goto out;
	}
	rc = emc_committer_ok(c, r, &kid, why, sizeof(why));
	if (rc == EMC_PENDING)
		goto out;
	if (rc == EMC_FAILED) {
		emc_bad_envelope(c, r, epoch, why);
		rc = EMC_DONE;
		goto out;
	}
	/* a newer epoch never goes back to an older agreement version (K4) */
	if (trust_room_get(c->trust, r->id, &tr) == 0 && epoch > tr.max_epoch && tr.max_epoch > 0 &&
	    roomkeys_version(c->roomkeys, r->id, tr.max_epoch) >= 0 &&
	    (int64_t)kid.agreement_version < roomkeys_version(c->roomkeys, r->id, tr.max_epoch)) {
		snprintf(why, sizeof(why),
		         "it goes back to version %u of the agreement after epoch %lld used "
		         "version %lld",
		         kid.agreement_version, (long long)tr.max_epoch,
		         (long long)roomkeys_version(c->roomkeys, r->id, tr.max_epoch));
		emc_bad_envelope(c, r, epoch, why);
		goto out;
	}
	for (uint32_t i = 0; i < kid.n_recipients; i++)
		recipients[i] = (int64_t)kid.recipients[i];
	if (emc_store_key(c, r->id, epoch, key, (int64_t)kid.committer_id, kid.agreement_version,
	                  recipients, kid.n_recipients) == 0) {
		emc_epoch_seen(c, r->id, epoch);
		/* a member committed it and the server delivered it: the room is at
		 * least there, whatever an earlier room.show said */
		if (epoch > r->epoch) {
			r->epoch = epoch;
			r->rotate_required = 0;
		}
	}
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(sig, sizeof(sig));
	return rc;
}

void emc_keys_settle(struct emc *c, struct emc_room *r)
{
	size_t i = 0;

	if (json_array_size(r->envelopes) && !r->trusted) {
		int rc = emc_room_advance(c, r);

		if (rc == EMC_FAILED) {
			/* the room cannot be checked: its envelopes stay unaccepted (asked again
			 * later) */
			json_decref(r->envelopes);
			r->envelopes = NULL;
			if (r->shown == EMC_FACT_FAILED)
				r->shown = EMC_FACT_NONE;
			if (r->programme == EMC_FACT_FAILED)
				r->programme = EMC_FACT_NONE;
		}
	}
	while (i < json_array_size(r->envelopes)) {
		if (emc_accept_envelope(c, r, json_array_get(r->envelopes, i)) == EMC_PENDING) {
			i++;
			continue;
		}
		json_array_remove(r->envelopes, i);
	}
	if (r->keys == EMC_FACT_ASKED && r->keys_answered && !json_array_size(r->envelopes))
		r->keys = EMC_FACT_HAVE;
}

static void emc_keys_queue(struct emc_room *r, json_t *env)
{
	if (!r->envelopes)
		r->envelopes = json_array();
	if (r->envelopes)
		json_array_append(r->envelopes, env);
}

static void emc_keys_got(struct emc *c, int64_t room, int64_t aux, struct em_incoming *in)
{
	struct emc_room *r = emc_room(c, room);
	json_t *env;
	size_t i;

	(void)aux;
	if (!r)
		return;
	if (!in->result) {
		r->keys = EMC_FACT_FAILED;
		r->show_err = in->err;
		snprintf(r->show_msg, sizeof(r->show_msg), "%s",
		         in->err_message ? in->err_message : "");
		return;
	}
	json_array_foreach(json_object_get(in->result, "envelopes"), i, env)
	{
		emc_keys_queue(r, env);
	}
	r->keys_epoch = json_integer_value(json_object_get(in->result, "epoch"));
	if (r->keys_epoch > r->epoch)
		r->epoch = r->keys_epoch;
	r->keys_answered = 1;
	emc_keys_settle(c, r);
}

int emc_room_keys(struct emc *c, struct emc_task *t, struct emc_room *r)
{
	switch (r->keys) {
	case EMC_FACT_HAVE:
		return EMC_DONE;
	case EMC_FACT_ASKED:
		emc_keys_settle(c, r);
		return r->keys == EMC_FACT_HAVE ? EMC_DONE : EMC_PENDING;
	case EMC_FACT_FAILED: {
		struct em_incoming in = {.err = r->show_err, .err_message = r->show_msg};

		r->keys = EMC_FACT_NONE;
		return emc_fail_reply(t, &in);
	}
	case EMC_FACT_NONE:
		break;
	}
	if (emc_request(c, EM_OP_KEYS_GET, json_pack("{s:I}", "room_id", (json_int_t)r->id),
	                emc_keys_got, r->id, 0) < 0)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	r->keys = EMC_FACT_ASKED;
	r->keys_answered = 0;
	return EMC_PENDING;
}

void emc_epoch_event(struct emc *c, json_t *data)
{
	json_t *room = json_object_get(data, "room_id");
	struct emc_room *r;
	int64_t epoch = json_integer_value(json_object_get(data, "epoch"));

	if (!json_is_integer(room) || !(r = emc_room(c, json_integer_value(room))))
		return;
	emc_keys_queue(r, data);
	emc_keys_settle(c, r);
	if (epoch > r->epoch &&
	    roomkeys_get(c->roomkeys, r->id, epoch, (unsigned char[32]){0}, NULL) == 0) {
		r->epoch = epoch;
		r->rotate_required = 0;
	}
}

/* ---- sealing a new epoch ---- */

/*
 * The members a new room key may be sealed to (S1-S2): those room.show
 * flags as on the roster, each a mentor or mentee party of the active
 * agreement version verified here, not withdrawn, with untouched pins; in a
 * programme without agreements, the members room.show flags, each
 * announced first. Fills ids[] and *version. EMC_DONE, or EMC_FAILED with
 * t's error naming who failed (then nothing may be committed).
 */
static int emc_roster(struct emc *c, struct emc_task *t, struct emc_room *r, int64_t *ids,
                      size_t *n, uint32_t *version)
{
	json_t *pending;

	*n = 0;
	*version = 0;
	if (r->refused[0])
		return emc_fail(t, EMC_EXIT_REFUSED, 0, "not sealing a new key: %s", r->refused);
	if (!r->on_roster) {
		json_t *parties, *p, *me = NULL;
		size_t i;

		pending = json_object_get(r->agreement_doc, "pending");
		parties = json_object_get(pending, "parties");
		json_array_foreach(parties, i, p)
		{
			if (json_integer_value(json_object_get(p, "user_id")) == c->session.user_id)
				me = p;
		}
		/* signed the pending version already: say who is missing, not "sign" */
		if (me && json_is_string(json_object_get(me, "signature"))) {
			char waiting[256] = "";

			json_array_foreach(parties, i, p)
			{
				const char *name =
				    json_string_value(json_object_get(p, "username"));

				if (json_is_string(json_object_get(p, "signature")))
					continue;
				if (waiting[0])
					strncat(waiting, ", ",
					        sizeof(waiting) - strlen(waiting) - 1);
				strncat(waiting, name ? name : "?",
				        sizeof(waiting) - strlen(waiting) - 1);
			}
			return emc_fail(
			    t, EMC_EXIT_REFUSED, EM_ERR_AGREEMENT_UNSIGNED,
			    "you have signed version %lld of the agreement of room %lld, but it is "
			    "in force only once every party has: waiting for %s "
			    "(agreement_unsigned)",
			    (long long)json_integer_value(json_object_get(pending, "version")),
			    (long long)r->id, waiting[0] ? waiting : "-");
		}
		return emc_fail(
		    t, EMC_EXIT_REFUSED, EM_ERR_AGREEMENT_UNSIGNED,
		    "you have not signed the agreement of room %lld: run `ementor agreement "
		    "sign %lld` (agreement_unsigned)",
		    (long long)r->id, (long long)r->id);
	}
	if (r->required && r->active.version == 0)
		return emc_fail(
		    t, EMC_EXIT_REFUSED, EM_ERR_AGREEMENT_UNSIGNED,
		    "room %lld has no agreement signed by every party yet, so no room key is "
		    "sealed: see `ementor agreement show %lld`",
		    (long long)r->id, (long long)r->id);
	if (r->required && !trust_version_member(&r->active, c->session.user_id))
		return emc_fail(
		    t, EMC_EXIT_REFUSED, EM_ERR_AGREEMENT_UNSIGNED,
		    "you are not a member party of version %u of room %lld's agreement, so "
		    "you may not seal its key",
		    r->active.version, (long long)r->id);
	for (size_t i = 0; i < r->nmembers; i++) {
		struct pin p;

		if (!r->roster[i])
			continue;
		if (emc_user_keys(c, r->members[i], &p) != 0 || p.changed)
			return emc_fail(
			    t, EMC_EXIT_REFUSED, 0,
			    "not sealing a new key for room %lld: %s has no trusted key on this "
			    "device. Nothing was sent",
			    (long long)r->id, r->member_names[i]);
		if (r->required && (!trust_version_member(&r->active, r->members[i]) ||
		                    emc_room_withdrew(r, r->members[i])))
			return emc_fail(t, EMC_EXIT_REFUSED, 0,
			                "not sealing a new key for room %lld: the server puts %s "
			                "on its roster, but %s "
			                "%s version %u of the agreement in force. Nothing was "
			                "sent; check `ementor "
			                "agreement show %lld`",
			                (long long)r->id, p.username, p.username,
			                emc_room_withdrew(r, r->members[i])
			                    ? "withdrew from"
			                    : "is not a signed member party of",
			                r->active.version, (long long)r->id);
		if (!r->required && !trust_announced(c->trust, r->id, r->members[i]))
			return emc_fail(
			    t, EMC_EXIT_REFUSED, 0,
			    "not sealing a new key for room %lld: %s was not announced on this "
			    "device yet. Try again",
			    (long long)r->id, p.username);
		ids[(*n)++] = r->members[i];
	}
	*version = r->required ? r->active.version : 0;
	return EMC_DONE;
}

/* epoch.commit answered: the key is ours only now; a lost race looks at the room again. */
static void emc_committed(struct emc *c, int64_t room, int64_t aux, struct em_incoming *in)
{
	struct emc_room *r = emc_room(c, room);
	struct emc_commit_pending *cp = r ? r->commit : NULL;

	(void)aux;
	if (!cp)
		return;
	if (in->result) {
		cp->outcome = EMC_COMMIT_OK;
		if (emc_store_key(c, r->id, cp->epoch, cp->key, c->session.user_id, cp->version,
		                  cp->ids, cp->n) != 0 ||
		    emc_epoch_seen(c, r->id, cp->epoch) != 0) {
			cp->outcome = EMC_COMMIT_ERROR;
			cp->err = 0;
			snprintf(cp->msg, sizeof(cp->msg),
			         "cannot store the new room key on this device");
			return;
		}
		r->epoch = cp->epoch;
		r->rotate_required = 0;
		return;
	}
	if (in->err == EM_ERR_STALE_EPOCH || in->err == EM_ERR_ROSTER_MISMATCH ||
	    in->err == EM_ERR_STALE_VERSION) {
		cp->outcome = EMC_COMMIT_RETRY;
		emc_room_forget(r);
		return;
	}
	cp->outcome = EMC_COMMIT_ERROR;
	cp->err = in->err;
	cp->retry_after_ms = in->retry_after_ms;
	snprintf(cp->msg, sizeof(cp->msg), "%s", in->err_message ? in->err_message : "");
}

int emc_rotate(struct emc *c, struct emc_task *t, struct emc_room *r)
{
	struct em_commit_entry entries[EM_ROOM_MEMBERS_MAX];
	struct emc_commit_pending *cp = r->commit;
	struct em_commit commit;
	unsigned char sig[EM_SIG_BYTES];
	json_t *envelopes = NULL;
	char *b64 = NULL;
	int rc;

	if (cp) {
		struct em_incoming in;

		switch (cp->outcome) {
		case EMC_COMMIT_SENT:
			return EMC_PENDING;
		case EMC_COMMIT_OK:
			rc = EMC_DONE;
			break;
		case EMC_COMMIT_RETRY:
			rc = EMC_RETRY;
			break;
		default:
			memset(&in, 0, sizeof(in));
			in.err = cp->err;
			in.err_message = cp->msg;
			in.retry_after_ms = cp->retry_after_ms;
			rc = cp->err ? emc_fail_reply(t, &in)
			             : emc_fail(t, EMC_EXIT_LOCAL, 0, "%s", cp->msg);
			break;
		}
		sodium_memzero(cp, sizeof(*cp));
		free(cp);
		r->commit = NULL;
		return rc;
	}
	if (!emc_room_member(c, r))
		return emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_NOT_MEMBER,
		                "you are not a member of room %lld", (long long)r->id);
	cp = calloc(1, sizeof(*cp));
	if (!cp)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	rc = emc_roster(c, t, r, cp->ids, &cp->n, &cp->version);
	if (rc != EMC_DONE) {
		free(cp);
		return rc;
	}
	cp->epoch = r->epoch + 1;
	commit.room_id = (uint64_t)r->id;
	commit.epoch = (uint64_t)cp->epoch;
	commit.committer_id = (uint64_t)c->session.user_id;
	commit.agreement_version = cp->version;
	randombytes_buf(cp->key, sizeof(cp->key));
	for (size_t i = 1; i < cp->n; i++) /* the recipient list every envelope names, ascending */
		for (size_t k = i; k > 0 && cp->ids[k - 1] > cp->ids[k]; k--) {
			int64_t tmp = cp->ids[k];

			cp->ids[k] = cp->ids[k - 1];
			cp->ids[k - 1] = tmp;
		}
	rc = EMC_FAILED;
	for (size_t i = 0; i < cp->n; i++) {
		struct em_room_key_id kid = {.room_id = commit.room_id,
		                             .epoch = commit.epoch,
		                             .recipient_id = (uint64_t)cp->ids[i],
		                             .committer_id = commit.committer_id,
		                             .agreement_version = commit.agreement_version,
		                             .n_recipients = (uint32_t)cp->n};
		struct pin p;

		for (size_t k = 0; k < cp->n; k++)
			kid.recipients[k] = (uint64_t)cp->ids[k];
		entries[i].recipient_id = (uint64_t)cp->ids[i];
		if (emc_user_keys(c, cp->ids[i], &p) != 0 || p.changed ||
		    em_room_key_seal(cp->key, &kid, c->keys.sign_sk, p.box_pk, entries[i].sealed)) {
			emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_BAD_VALUE,
			         "no trusted key for user %lld", (long long)cp->ids[i]);
			goto out;
		}
	}
	if (em_commit_sign(&commit, entries, cp->n, c->keys.sign_sk, sig) != 0 ||
	    !(envelopes = json_array()) || !(b64 = em_b64_encode(sig, sizeof(sig)))) {
		emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < cp->n; i++) {
		char *sealed = em_b64_encode(entries[i].sealed, EM_SEALED_KEY_BYTES);

		if (!sealed ||
		    json_array_append_new(envelopes, json_pack("{s:I, s:s}", "recipient_id",
		                                               (json_int_t)entries[i].recipient_id,
		                                               "sealed", sealed))) {
			free(sealed);
			emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
			goto out;
		}
		free(sealed);
	}
	if (emc_request(c, EM_OP_EPOCH_COMMIT,
	                json_pack("{s:I, s:I, s:I, s:O, s:s}", "room_id", (json_int_t)r->id,
	                          "epoch", (json_int_t)cp->epoch, "agreement_version",
	                          (json_int_t)cp->version, "envelopes", envelopes, "sig", b64),
	                emc_committed, r->id, 0) < 0) {
		emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		goto out;
	}
	cp->outcome = EMC_COMMIT_SENT;
	r->commit = cp;
	cp = NULL;
	rc = EMC_PENDING;
out:
	if (cp) {
		sodium_memzero(cp, sizeof(*cp));
		free(cp);
	}
	json_decref(envelopes);
	free(b64);
	sodium_memzero(entries, sizeof(entries));
	return rc;
}
