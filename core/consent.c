/*
 * consent.c - the consent ledger as commands of the core (PROTOCOL.md 7.1):
 * "consent.list" (our records, each signature checked with our own key),
 * "consent.grant" and "consent.withdraw" (records signed here), and
 * "agreement.withdraw" (consent.withdraw of a room's agreement).
 *
 * DESIGN. A consent record is signed by this device over the exact bytes of
 * PROTOCOL.md 7.1, so the ledger proves what the user agreed to and the
 * server cannot invent or alter a record without consent.list showing it as
 * failing. A withdrawal names the same text hash as the grant it withdraws
 * (taken from the ledger, and only when the latest record of that purpose
 * and subject is a grant), and a grant of share_progress signs the hash of
 * the sentence the user is shown, after checking the server's hash of it.
 * The share_progress withdrawals made here are remembered (withdrawals.json)
 * by their signed time, so progress.c shares nothing under an older grant a
 * server shows after hiding the withdrawal.
 *
 * Results. consent.list: the server's answer, each entry with "verified".
 * consent.grant {purpose: "share_progress", subject: "programme:ID", text_hash?}:
 * {"text": the sentence agreed to, "reply": the server's answer} (on a
 * refusal, the error carries {"text"}). consent.withdraw {purpose, subject
 * (none for data_processing), preview?}: {"subject", "seq" (the grant
 * withdrawn), "reply"} — with "preview", the checks only.
 * Threads: the host's (core.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core.h"

#define WITHDRAWALS_FILE "withdrawals.json"

enum emc_consent_kind {
	EMC_CONSENT_LIST = 0,
	EMC_CONSENT_GRANT,
	EMC_CONSENT_WITHDRAW,
};

struct emc_consent {
	enum emc_consent_kind kind;
	char purpose[EM_CONSENT_STR_MAX + 1];
	char subject[EM_CONSENT_STR_MAX + 1];
	int preview;
	int stage; /* 0: the list or notice asked; 1: the record sent */
	int asked, answered;
	struct em_incoming reply;
	char *text; /* grant: the sentence agreed to */
	/* grant: the hash of the sentence shown to the user ("text_hash"), if the host gave it */
	unsigned char expect[EM_HASH_BYTES];
	int have_expect;
	int64_t seq; /* withdraw: the grant withdrawn */
	int64_t at;  /* the signed time of the record sent */
};

static void emc_consent_reply(struct emc *c, int64_t room, int64_t task, struct em_incoming *in)
{
	struct emc_task *t = emc_task_find(c, task);
	struct emc_consent *k = t && !t->done ? t->data : NULL;

	(void)room;
	if (!k)
		return;
	k->answered = 1;
	em_incoming_clear(&k->reply);
	k->reply = *in; /* takes what in owns */
	memset(in, 0, sizeof(*in));
}

static void emc_consent_free(struct emc_task *t)
{
	struct emc_consent *k = t->data;

	if (!k)
		return;
	em_incoming_clear(&k->reply);
	free(k->text);
	free(k);
}

/* Asks op once; EMC_DONE when the answer is there (a refusal fails t). */
static int emc_consent_ask(struct emc *c, struct emc_task *t, struct emc_consent *k, enum em_op op,
                           json_t *args)
{
	if (!k->asked) {
		if (emc_request(c, op, args, emc_consent_reply, 0, t->id) < 0)
			return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		k->asked = 1;
		return EMC_PENDING;
	}
	json_decref(args);
	if (!k->answered)
		return EMC_PENDING;
	if (!k->reply.result)
		return emc_fail_server(c, t, &k->reply);
	return EMC_DONE;
}

/* Whether a ledger entry's signature verifies with our own sign_pk. */
int emc_consent_entry_verified(const struct emc *c, json_t *e)
{
	unsigned char hash[EM_HASH_BYTES], sig[EM_SIG_BYTES];
	const char *purpose = json_string_value(json_object_get(e, "purpose"));
	const char *subject = json_string_value(json_object_get(e, "subject"));
	const char *action = json_string_value(json_object_get(e, "action"));
	const char *hash_b64 = json_string_value(json_object_get(e, "text_hash"));
	const char *sig_b64 = json_string_value(json_object_get(e, "signature"));
	json_t *at = json_object_get(e, "at");

	return purpose && subject && action && json_is_integer(at) && hash_b64 && sig_b64 &&
	       em_b64_decode(hash_b64, hash, sizeof(hash)) == (int)sizeof(hash) &&
	       em_b64_decode(sig_b64, sig, sizeof(sig)) == (int)sizeof(sig) &&
	       em_consent_verify(c->keys.sign_pk, purpose, subject, hash, action,
	                         (int64_t)json_integer_value(at), sig) == 0;
}

/* ---- the withdrawals made on this device (withdrawals.json) ---- */

struct withdrawn_mark {
	const char *key; /* "PURPOSE:SUBJECT" */
	int64_t at;      /* the signed time of the latest withdrawal made here */
};

static int withdrawn_put(json_t *root, void *arg)
{
	struct withdrawn_mark *m = arg;

	if (json_integer_value(json_object_get(root, m->key)) >= m->at)
		return 0;
	return json_object_set_new(root, m->key, json_integer(m->at)) ? -ENOMEM : 1;
}

static int withdrawn_get(json_t *root, void *arg)
{
	struct withdrawn_mark *m = arg;

	m->at = json_integer_value(json_object_get(root, m->key));
	return 0;
}

int64_t emc_consent_withdrawn_at(struct emc *c, const char *subject)
{
	char key[2 * EM_CONSENT_STR_MAX + 2];
	struct withdrawn_mark m = {key, 0};

	snprintf(key, sizeof(key), "share_progress:%s", subject);
	emc_doc_update(c, WITHDRAWALS_FILE, withdrawn_get, &m, NULL);
	return m.at;
}

/* Signs a record of k's purpose and subject and sends it (consent.grant or .withdraw). */
static int emc_consent_send(struct emc *c, struct emc_task *t, struct emc_consent *k,
                            const unsigned char hash[EM_HASH_BYTES])
{
	enum em_op op = k->kind == EMC_CONSENT_GRANT ? EM_OP_CONSENT_GRANT : EM_OP_CONSENT_WITHDRAW;
	const char *action = k->kind == EMC_CONSENT_GRANT ? "grant" : "withdraw";
	unsigned char sig[EM_SIG_BYTES];
	int64_t at = emc_now(c) / 1000;
	char *sig_b64 = NULL, *hash_b64 = NULL;
	int rc;

	k->at = at;
	if (em_consent_sign(c->keys.sign_pk, k->purpose, k->subject, hash, action, at,
	                    c->keys.sign_sk, sig) != 0)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "cannot sign the consent record");
	sig_b64 = em_b64_encode(sig, sizeof(sig));
	hash_b64 = em_b64_encode(hash, EM_HASH_BYTES);
	sodium_memzero(sig, sizeof(sig));
	k->stage = 1;
	k->asked = k->answered = 0;
	rc = !sig_b64 || !hash_b64
	         ? emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory")
	         : emc_consent_ask(c, t, k, op,
	                           json_pack("{s:s, s:s, s:s, s:I, s:s}", "purpose", k->purpose,
	                                     "subject", k->subject, "text_hash", hash_b64, "at",
	                                     (json_int_t)at, "signature", sig_b64));
	free(sig_b64);
	free(hash_b64);
	return rc;
}

static int emc_consent_list_step(struct emc *c, struct emc_task *t)
{
	struct emc_consent *k = t->data;
	int rc = emc_consent_ask(c, t, k, EM_OP_CONSENT_LIST, NULL);
	size_t i;
	json_t *e;

	if (rc != EMC_DONE)
		return rc;
	json_array_foreach(json_object_get(k->reply.result, "entries"), i, e)
	{
		json_object_set_new(e, "verified", json_boolean(emc_consent_entry_verified(c, e)));
	}
	t->result = json_incref(k->reply.result);
	return EMC_DONE;
}

static int emc_consent_grant_step(struct emc *c, struct emc_task *t)
{
	struct emc_consent *k = t->data;
	unsigned char hash[EM_HASH_BYTES], want[EM_HASH_BYTES];
	const char *text, *hash_b64;
	int rc;

	if (k->stage == 1) {
		rc = emc_consent_ask(c, t, k, EM_OP_CONSENT_GRANT, NULL);
		if (rc == EMC_FAILED)
			t->result = json_pack("{s:s}", "text", k->text);
		else if (rc == EMC_DONE)
			t->result =
			    json_pack("{s:s, s:O}", "text", k->text, "reply", k->reply.result);
		return rc;
	}
	rc = emc_consent_ask(c, t, k, EM_OP_PRIVACY_NOTICE, NULL);
	if (rc != EMC_DONE)
		return rc;
	text = json_string_value(json_object_get(k->reply.result, "share_progress_text"));
	hash_b64 = json_string_value(json_object_get(k->reply.result, "share_progress_hash"));
	if (!text || !hash_b64 || em_b64_decode(hash_b64, hash, sizeof(hash)) != (int)sizeof(hash))
		return emc_fail(t, EMC_EXIT_NET, 0, "the server's privacy notice is incomplete");
	em_text_hash(text, want);
	if (sodium_memcmp(want, hash, sizeof(hash)) != 0)
		return emc_fail(t, EMC_EXIT_NET, 0,
		                "the server's share_progress text does not match its hash; nothing "
		                "was granted");
	if (k->have_expect && sodium_memcmp(k->expect, hash, sizeof(hash)) != 0)
		return emc_fail(t, EMC_EXIT_REFUSED, 0,
		                "the server's share_progress text is not the one you were shown; "
		                "nothing was granted");
	k->text = strdup(text);
	if (!k->text)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	return emc_consent_send(c, t, k, hash);
}

static int emc_consent_withdraw_step(struct emc *c, struct emc_task *t)
{
	struct emc_consent *k = t->data;
	unsigned char hash[EM_HASH_BYTES];
	int erase = !strcmp(k->purpose, "data_processing");
	json_t *e, *latest = NULL;
	const char *s;
	size_t i;
	int rc;

	if (k->stage == 1) {
		rc = emc_consent_ask(c, t, k, EM_OP_CONSENT_WITHDRAW, NULL);
		/* progress.c shares nothing under a grant older than this withdrawal */
		if (rc == EMC_DONE && !strcmp(k->purpose, "share_progress")) {
			char key[2 * EM_CONSENT_STR_MAX + 2];
			struct withdrawn_mark m = {key, k->at > 0 ? k->at : 1};

			snprintf(key, sizeof(key), "share_progress:%s", k->subject);
			emc_doc_update(c, WITHDRAWALS_FILE, withdrawn_put, &m, NULL);
		}
		if (rc == EMC_DONE)
			t->result = json_pack("{s:s, s:I, s:O}", "subject", k->subject, "seq",
			                      (json_int_t)k->seq, "reply", k->reply.result);
		return rc;
	}
	/* the record withdrawn: the latest of that purpose and subject, which must be a grant */
	rc = emc_consent_ask(c, t, k, EM_OP_CONSENT_LIST, NULL);
	if (rc != EMC_DONE)
		return rc;
	json_array_foreach(json_object_get(k->reply.result, "entries"), i, e)
	{
		if (strcmp((s = json_string_value(json_object_get(e, "purpose"))) ? s : "",
		           k->purpose) != 0 ||
		    (!erase &&
		     strcmp((s = json_string_value(json_object_get(e, "subject"))) ? s : "",
		            k->subject) != 0))
			continue;
		if (!latest || json_integer_value(json_object_get(e, "seq")) >
		                   json_integer_value(json_object_get(latest, "seq")))
			latest = e;
	}
	s = json_string_value(json_object_get(latest, "action"));
	if (!latest || !s || strcmp(s, "grant") != 0)
		return emc_fail(t, EMC_EXIT_REFUSED, 0,
		                "there is no %s consent of yours%s%s to withdraw", k->purpose,
		                k->subject[0] ? " for " : "", k->subject);
	k->seq = json_integer_value(json_object_get(latest, "seq"));
	if (erase) {
		s = json_string_value(json_object_get(latest, "subject"));
		snprintf(k->subject, sizeof(k->subject), "%s",
		         s && strlen(s) < sizeof(k->subject) ? s : "");
	}
	s = json_string_value(json_object_get(latest, "text_hash"));
	if (!k->subject[0] || !s || em_b64_decode(s, hash, sizeof(hash)) != (int)sizeof(hash))
		return emc_fail(t, EMC_EXIT_NET, 0, "the server's ledger entry %lld is malformed",
		                (long long)k->seq);
	if (k->preview) {
		t->result =
		    json_pack("{s:s, s:I}", "subject", k->subject, "seq", (json_int_t)k->seq);
		return EMC_DONE;
	}
	return emc_consent_send(c, t, k, hash);
}

/* Whether subject fits purpose: "programme:ID", "room:ID", or nothing for data_processing. */
static int emc_consent_subject_ok(const char *purpose, const char *subject)
{
	const char *prefix = !strcmp(purpose, "share_progress") ? "programme:"
	                     : !strcmp(purpose, "agreement")    ? "room:"
	                                                        : NULL;
	char *end;
	long long id;

	if (!strcmp(purpose, "data_processing"))
		return !subject[0];
	if (!prefix || strncmp(subject, prefix, strlen(prefix)) != 0)
		return 0;
	id = strtoll(subject + strlen(prefix), &end, 10);
	return id > 0 && !*end && subject[strlen(prefix)] >= '1' && subject[strlen(prefix)] <= '9';
}

static int64_t emc_consent_start(struct emc *c, enum emc_consent_kind kind, const char *purpose,
                                 const char *subject, int preview,
                                 const unsigned char expect[EM_HASH_BYTES])
{
	static const char *const names[] = {"consent.list", "consent.grant", "consent.withdraw"};
	static const emc_step_fn steps[] = {emc_consent_list_step, emc_consent_grant_step,
	                                    emc_consent_withdraw_step};
	struct emc_consent *k;
	struct emc_task *t;

	if (kind != EMC_CONSENT_LIST &&
	    (!purpose || strlen(purpose) > EM_CONSENT_STR_MAX ||
	     strlen(subject) > EM_CONSENT_STR_MAX || !emc_consent_subject_ok(purpose, subject)))
		return -EINVAL;
	/* a grant signs a text shown to the user: only share_progress has one here */
	if (kind == EMC_CONSENT_GRANT && strcmp(purpose, "share_progress") != 0)
		return -EINVAL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->kind = kind;
	snprintf(k->purpose, sizeof(k->purpose), "%s", purpose ? purpose : "");
	snprintf(k->subject, sizeof(k->subject), "%s", subject);
	k->preview = preview;
	if (expect) {
		memcpy(k->expect, expect, sizeof(k->expect));
		k->have_expect = 1;
	}
	t = emc_task_new(c, names[kind], steps[kind], emc_consent_free, k);
	if (!t) {
		free(k);
		return -ENOMEM;
	}
	return t->id;
}

/* {"cmd":"consent.list"} */
int64_t emc_cmd_consent_list(struct emc *c, json_t *cmd)
{
	(void)cmd;
	return emc_consent_start(c, EMC_CONSENT_LIST, NULL, "", 0, NULL);
}

/*
 * {"cmd":"consent.grant","purpose","subject","text_hash"?}: with "text_hash"
 * (base64, the share_progress_hash of the "privacy" result the user was
 * shown), nothing is signed unless the server's sentence is still that one.
 */
int64_t emc_cmd_consent_grant(struct emc *c, json_t *cmd)
{
	const char *subject = json_string_value(json_object_get(cmd, "subject"));
	const char *expect_b64 = json_string_value(json_object_get(cmd, "text_hash"));
	unsigned char expect[EM_HASH_BYTES];

	if (json_object_get(cmd, "text_hash") &&
	    (!expect_b64 ||
	     em_b64_decode(expect_b64, expect, sizeof(expect)) != (int)sizeof(expect)))
		return -EINVAL;
	return emc_consent_start(c, EMC_CONSENT_GRANT,
	                         json_string_value(json_object_get(cmd, "purpose")),
	                         subject ? subject : "", 0, expect_b64 ? expect : NULL);
}

/* {"cmd":"consent.withdraw","purpose","subject"?,"preview"?} */
int64_t emc_cmd_consent_withdraw(struct emc *c, json_t *cmd)
{
	const char *subject = json_string_value(json_object_get(cmd, "subject"));

	return emc_consent_start(
	    c, EMC_CONSENT_WITHDRAW, json_string_value(json_object_get(cmd, "purpose")),
	    subject ? subject : "", json_is_true(json_object_get(cmd, "preview")), NULL);
}

/* {"cmd":"agreement.withdraw","room"}: our signature of the room's agreement withdrawn. */
int64_t emc_cmd_agreement_withdraw(struct emc *c, json_t *cmd)
{
	int64_t room = json_integer_value(json_object_get(cmd, "room"));
	char subject[32];

	if (room < 1)
		return -EINVAL;
	snprintf(subject, sizeof(subject), "room:%lld", (long long)room);
	return emc_consent_start(c, EMC_CONSENT_WITHDRAW, "agreement", subject,
	                         json_is_true(json_object_get(cmd, "preview")), NULL);
}
