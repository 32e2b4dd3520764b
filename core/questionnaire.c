/*
 * questionnaire.c - the initial and final monitoring questionnaires as
 * commands of the core (docs/PROTOCOL.md section 11): "questionnaire.show",
 * "questionnaire.edit" (a manager signs a new version), "questionnaire.answer"
 * (a mentee's answers sealed to the programme's managers and signed) and
 * "questionnaire.results" (a manager's client opens every answer, checks it
 * and computes the aggregates and the initial-versus-final comparison).
 *
 * DESIGN. The readers of an answer are managers_readers() of the room's
 * agreement version this device verified (managers.c): never a list from
 * the server. A questionnaire version a manager wrote is believed only when
 * its signature verifies with the pinned key of a manager party of that
 * same agreement version; the built-in defaults (quest.c) need no
 * signature. An answer's signed context names the programme, the room, the
 * stage, the questionnaire's version and the hash of its exact text, the
 * agreement version and the writer's clock, so a server cannot move an
 * answer, swap the questions under it or pass it off as another mentee's.
 * A manager's client shows an answer that fails any check as unverifiable,
 * with why, and leaves it out of every aggregate.
 *
 * Results: questionnaire.show {"programme_id","stage","version","lang",
 * "default","title","questions","signed_by"?}; questionnaire.edit
 * {"version"}; questionnaire.answer {"stage","q_version","readers"};
 * questionnaire.results {"programme_id","answers":[Opened],"aggregates":
 * [{"stage","version","title",...quest_aggregate}],"comparison":[...]}.
 * Threads: the host's (core.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core.h"
#include "quest.h"

#define ANSWER_LABEL   "ementor questionnaire answer v1"
#define ANSWER_CTX_MAX (8 + 8 + 4 + 7 + 4 + QUEST_HASH_BYTES + 4 + 8)
#define QUEST_SLOTS    16 /* questionnaire versions fetched by one results task */
#define QUEST_ANSWERS  1000

enum emc_quest_kind {
	EMC_QUEST_SHOW = 0,
	EMC_QUEST_EDIT,
	EMC_QUEST_ANSWER,
	EMC_QUEST_RESULTS,
};

/* One request in flight and its answer. */
struct quest_slot {
	char stage[8];
	int64_t version;
	struct emc_ask ask;
};

struct emc_quest {
	enum emc_quest_kind kind;
	int64_t room, programme;
	char stage[8];
	json_t *cmd;
	struct quest_slot main;  /* slot 0: the command's own requests, one after another */
	struct quest_slot fetch; /* slot 1: questionnaire.get before an answer or an edit */
	struct quest_slot versions[QUEST_SLOTS];
	size_t nversions;
};

/* Slot 0: main, 1: fetch, 2 and on: versions. */
static struct emc_ask *emc_quest_slot(struct emc_task *t, int64_t slot)
{
	struct emc_quest *q = t->data;

	return slot == 0                          ? &q->main.ask
	       : slot == 1                        ? &q->fetch.ask
	       : slot - 2 < (int64_t)q->nversions ? &q->versions[slot - 2].ask
	                                          : NULL;
}

static void emc_quest_free(struct emc_task *t)
{
	struct emc_quest *q = t->data;

	if (!q)
		return;
	em_incoming_clear(&q->main.ask.reply);
	em_incoming_clear(&q->fetch.ask.reply);
	for (size_t i = 0; i < q->nversions; i++)
		em_incoming_clear(&q->versions[i].ask.reply);
	json_decref(q->cmd);
	free(q);
}

/* Asks op on slot once; EMC_DONE with its answer (a refusal fails t). Takes args. */
static int emc_quest_ask(struct emc *c, struct emc_task *t, struct quest_slot *s, int64_t slot,
                         enum em_op op, json_t *args)
{
	return emc_ask(c, t, &s->ask, slot, op, args, 0);
}

/* u64 programme || u64 room || lp(stage) || u32 q_version || H(text) || u32 av || u64 written */
static size_t answer_ctx(unsigned char *out, int64_t programme, int64_t room, const char *stage,
                         int64_t qv, const unsigned char h[QUEST_HASH_BYTES], int64_t av,
                         int64_t written)
{
	unsigned char *p = out;

	p = envelope_put_u64(p, (uint64_t)programme);
	p = envelope_put_u64(p, (uint64_t)room);
	p = envelope_put_lp(p, stage, strlen(stage));
	p = envelope_put_u32(p, (uint32_t)qv);
	memcpy(p, h, QUEST_HASH_BYTES);
	p += QUEST_HASH_BYTES;
	p = envelope_put_u32(p, (uint32_t)av);
	p = envelope_put_u64(p, (uint64_t)written);
	return (size_t)(p - out);
}

/*
 * Whether a questionnaire.get answer (version > 0) is signed by a manager:
 * by `v`'s manager parties when v is given (the anchor), else by anyone
 * pinned here (a manager reading their own programme). 1, or 0 with why;
 * *signer gets the signer's username.
 */
static int quest_signed_ok(struct emc *c, json_t *got, int64_t programme, const char *stage,
                           const struct trust_version *v, char *signer, size_t signer_len,
                           char *why, size_t len)
{
	int64_t version = json_integer_value(json_object_get(got, "version"));
	int64_t author = json_integer_value(json_object_get(got, "author_id"));
	const char *doc = json_string_value(json_object_get(got, "doc"));
	const char *sig_b64 = json_string_value(json_object_get(got, "signature"));
	unsigned char bytes[QUEST_SIG_BYTES_MAX], sig[EM_SIG_BYTES];
	struct pin p;
	size_t n;

	if (!doc || !sig_b64 || em_b64_decode(sig_b64, sig, sizeof(sig)) != (int)sizeof(sig)) {
		snprintf(why, len, "the server's questionnaire is malformed");
		return 0;
	}
	if (emc_user_keys(c, author, &p) != 0 || p.changed) {
		snprintf(why, len,
		         "version %lld of the questionnaire is signed by user %lld, who has no "
		         "trusted key on this device",
		         (long long)version, (long long)author);
		return 0;
	}
	if (v && !managers_is_party(v, author)) {
		snprintf(why, len,
		         "version %lld of the questionnaire is signed by %s, who is not a manager "
		         "party of version %u of the room's agreement",
		         (long long)version, p.username, v->version);
		return 0;
	}
	n = quest_sig_bytes(bytes, programme, stage, version, doc);
	if (crypto_sign_verify_detached(sig, bytes, n, p.sign_pk) != 0) {
		snprintf(why, len,
		         "version %lld of the questionnaire does not verify with %s's pinned key: "
		         "it was altered",
		         (long long)version, p.username);
		return 0;
	}
	snprintf(signer, signer_len, "%s", p.username);
	return 1;
}

/* The questionnaire text of a questionnaire.get answer: its doc, or the default. */
static const char *quest_text_of(json_t *got, const char *stage)
{
	const char *doc = json_string_value(json_object_get(got, "doc"));

	return doc ? doc : quest_default(stage, json_string_value(json_object_get(got, "lang")));
}

/* The room shown, its agreement verified and active: the anchor. A need. */
static int emc_quest_room(struct emc *c, struct emc_task *t, struct emc_room **out)
{
	struct emc_quest *q = t->data;
	int rc = emc_manager_anchor(c, t, q->room, out);

	if (rc == EMC_DONE)
		q->programme = (*out)->programme_id;
	return rc;
}

int emc_manager_anchor(struct emc *c, struct emc_task *t, int64_t room, struct emc_room **out)
{
	struct emc_room *r = emc_room(c, room);
	int rc;

	if (!r)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "too many rooms on this device");
	*out = r;
	if ((rc = emc_room_ready(c, t, r)) != EMC_DONE)
		return rc;
	if (r->refused[0])
		return emc_fail(t, EMC_EXIT_REFUSED, 0, "%s", r->refused);
	if (!r->required)
		return emc_fail(t, EMC_EXIT_REFUSED, 0,
		                "room %lld's programme does without agreements, so no signed "
		                "agreement names its managers: nothing is sealed to a manager "
		                "the server names",
		                (long long)r->id);
	if ((rc = emc_room_agreement(c, t, r)) != EMC_DONE)
		return rc;
	if (r->active.version == 0)
		return emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_AGREEMENT_UNSIGNED,
		                "room %lld has no agreement signed by every party yet, so nothing "
		                "names the programme's managers to seal to: see `ementor agreement "
		                "show %lld`",
		                (long long)r->id, (long long)r->id);
	return EMC_DONE;
}

/* questionnaire.show: with a room (a mentee: checked against its agreement) or a programme. */
static int emc_quest_show_step(struct emc *c, struct emc_task *t)
{
	struct emc_quest *q = t->data;
	struct emc_room *r = NULL;
	char why[320] = "", signer[EM_USERNAME_MAX + 1] = "";
	const char *text;
	json_t *got, *parsed;
	int rc;

	if (q->room && (rc = emc_quest_room(c, t, &r)) != EMC_DONE)
		return rc;
	rc = emc_quest_ask(
	    c, t, &q->main, 0, EM_OP_QUESTIONNAIRE_GET,
	    json_pack("{s:I, s:s}", "programme_id", (json_int_t)q->programme, "stage", q->stage));
	if (rc != EMC_DONE)
		return rc;
	got = q->main.ask.reply.result;
	if (json_integer_value(json_object_get(got, "version")) > 0 &&
	    !quest_signed_ok(c, got, q->programme, q->stage, r ? &r->active : NULL, signer,
	                     sizeof(signer), why, sizeof(why)))
		return emc_fail(t, EMC_EXIT_REFUSED, 0, "%s", why);
	text = quest_text_of(got, q->stage);
	if (!(parsed = quest_parse(text, why, sizeof(why))))
		return emc_fail(t, EMC_EXIT_NET, 0, "the questionnaire is malformed: %s", why);
	t->result = json_pack("{s:I, s:s, s:I, s:s?, s:b, s:O, s:O, s:s, s:s?}", "programme_id",
	                      (json_int_t)q->programme, "stage", q->stage, "version",
	                      (json_int_t)json_integer_value(json_object_get(got, "version")),
	                      "lang", json_string_value(json_object_get(got, "lang")), "default",
	                      json_integer_value(json_object_get(got, "version")) == 0, "title",
	                      json_object_get(parsed, "title"), "questions",
	                      json_object_get(parsed, "questions"), "text", text, "signed_by",
	                      signer[0] ? signer : NULL);
	json_decref(parsed);
	return EMC_DONE;
}

/* questionnaire.edit: the next version, signed here. */
static int emc_quest_edit_step(struct emc *c, struct emc_task *t)
{
	struct emc_quest *q = t->data;
	json_t *doc = json_object_get(q->cmd, "doc"), *parsed;
	unsigned char bytes[QUEST_SIG_BYTES_MAX], sig[EM_SIG_BYTES];
	char why[256], *text = NULL, *sig_b64 = NULL;
	int64_t version;
	size_t n;
	int rc;

	if (q->main.ask.asked) {
		rc = emc_quest_ask(c, t, &q->main, 0, EM_OP_NONE, NULL);
		if (rc == EMC_DONE)
			t->result = json_incref(q->main.ask.reply.result);
		return rc;
	}
	rc = emc_quest_ask(
	    c, t, &q->fetch, 1, EM_OP_QUESTIONNAIRE_GET,
	    json_pack("{s:I, s:s}", "programme_id", (json_int_t)q->programme, "stage", q->stage));
	if (rc != EMC_DONE)
		return rc;
	text = json_is_string(doc) ? strdup(json_string_value(doc))
	                           : json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!text)
		return emc_fail(t, EMC_EXIT_USAGE, 0, "no questionnaire given");
	if (strlen(text) > EM_QUEST_DOC_MAX)
		snprintf(why, sizeof(why), "the questionnaire is too long");
	if (strlen(text) > EM_QUEST_DOC_MAX || !(parsed = quest_parse(text, why, sizeof(why)))) {
		free(text);
		return emc_fail(t, EMC_EXIT_USAGE, 0, "%s", why);
	}
	json_decref(parsed);
	version = json_integer_value(json_object_get(q->fetch.ask.reply.result, "version")) + 1;
	n = quest_sig_bytes(bytes, q->programme, q->stage, version, text);
	crypto_sign_detached(sig, NULL, bytes, n, c->keys.sign_sk);
	sig_b64 = em_b64_encode(sig, sizeof(sig));
	rc = emc_quest_ask(c, t, &q->main, 0, EM_OP_QUESTIONNAIRE_SET,
	                   sig_b64
	                       ? json_pack("{s:I, s:s, s:I, s:s, s:s}", "programme_id",
	                                   (json_int_t)q->programme, "stage", q->stage, "version",
	                                   (json_int_t)version, "doc", text, "signature", sig_b64)
	                       : NULL);
	free(sig_b64);
	free(text);
	return rc;
}

/* Seals doc to ids (pinned keys only). *b64 malloc'd (who frees: caller). EMC_DONE or fails t. */
static int emc_quest_seal(struct emc *c, struct emc_task *t, const char *label,
                          const unsigned char *ctx, size_t ctx_len, const uint64_t *ids, size_t n,
                          const char *doc, char **b64)
{
	unsigned char pks[ENVELOPE_RECIPIENTS][32], *blob = NULL;
	size_t blob_len = 0;
	int rc = EMC_DONE;

	*b64 = NULL;
	for (size_t i = 0; i < n; i++) {
		struct pin p;

		if (emc_user_keys(c, (int64_t)ids[i], &p) != 0 || p.changed)
			return emc_fail(t, EMC_EXIT_REFUSED, 0,
			                "not sealing: user %lld has no trusted key on this device "
			                "(`ementor trust`). Nothing was sent",
			                (long long)ids[i]);
		memcpy(pks[i], p.box_pk, 32);
	}
	if (envelope_seal(label, ctx, ctx_len, (uint64_t)c->session.user_id, ids,
	                  (const unsigned char(*)[32])pks, n, (const unsigned char *)doc,
	                  strlen(doc), c->keys.sign_sk, &blob, &blob_len) != ENVELOPE_OK ||
	    blob_len > EM_RECORD_BLOB_MAX)
		rc = emc_fail(t, EMC_EXIT_USAGE, 0, "the answers are too long to seal");
	else if (!(*b64 = em_b64_encode(blob, blob_len)))
		rc = emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	free(blob);
	return rc;
}

/* questionnaire.answer: checked against the questionnaire, sealed to the room's managers. */
static int emc_quest_answer_step(struct emc *c, struct emc_task *t)
{
	struct emc_quest *q = t->data;
	json_t *answers = json_object_get(q->cmd, "answers"), *got, *parsed, *readers;
	int64_t me = c->session.user_id, written = emc_now(c), qv;
	unsigned char ctx[ANSWER_CTX_MAX], h[QUEST_HASH_BYTES];
	char why[320] = "", signer[EM_USERNAME_MAX + 1], *doc = NULL, *b64 = NULL;
	uint64_t ids[ENVELOPE_RECIPIENTS];
	struct emc_room *r = NULL;
	const char *text;
	size_t ctx_len;
	int rc, n;

	if (q->main.ask.asked) {
		rc = emc_quest_ask(c, t, &q->main, 0, EM_OP_NONE, NULL);
		if (rc == EMC_DONE) {
			t->result = json_pack("{s:s, s:O, s:O}", "stage", q->stage, "q_version",
			                      json_object_get(q->cmd, "_q_version"), "readers",
			                      json_object_get(q->cmd, "_readers"));
		}
		return rc;
	}
	if ((rc = emc_quest_room(c, t, &r)) != EMC_DONE)
		return rc;
	n = managers_readers(&r->active, me, ids);
	if (n < 0 || emc_room_withdrew(r, me))
		return emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_WRONG_ROLE,
		                "only a signed mentee of room %lld answers the monitoring "
		                "questionnaires",
		                (long long)r->id);
	if (n == 0)
		return emc_fail(t, EMC_EXIT_REFUSED, 0,
		                "version %u of room %lld's agreement names no manager, so there is "
		                "nobody this device may seal the answers to. Nothing was sent",
		                r->active.version, (long long)r->id);
	rc = emc_quest_ask(
	    c, t, &q->fetch, 1, EM_OP_QUESTIONNAIRE_GET,
	    json_pack("{s:I, s:s}", "programme_id", (json_int_t)q->programme, "stage", q->stage));
	if (rc != EMC_DONE)
		return rc;
	got = q->fetch.ask.reply.result;
	qv = json_integer_value(json_object_get(got, "version"));
	if (qv < 0 || (qv > 0 && !quest_signed_ok(c, got, q->programme, q->stage, &r->active,
	                                          signer, sizeof(signer), why, sizeof(why))))
		return emc_fail(t, EMC_EXIT_REFUSED, 0, "%s. Nothing was sent",
		                why[0] ? why : "the server's questionnaire is malformed");
	text = quest_text_of(got, q->stage);
	if (!(parsed = quest_parse(text, why, sizeof(why))))
		return emc_fail(t, EMC_EXIT_NET, 0, "the questionnaire is malformed: %s", why);
	rc = quest_answers_ok(parsed, answers, why, sizeof(why));
	json_decref(parsed);
	if (!rc)
		return emc_fail(t, EMC_EXIT_USAGE, 0, "%s", why);
	quest_hash(text, h);
	ctx_len = answer_ctx(ctx, q->programme, r->id, q->stage, qv, h, r->active.version, written);
	parsed = json_pack("{s:O}", "answers", answers);
	doc = parsed ? json_dumps(parsed, JSON_COMPACT) : NULL;
	json_decref(parsed);
	if (!doc)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	rc = emc_quest_seal(c, t, ANSWER_LABEL, ctx, ctx_len, ids, (size_t)n, doc, &b64);
	sodium_memzero(doc, strlen(doc));
	free(doc);
	if (rc != EMC_DONE)
		return rc;
	readers = json_array();
	for (int i = 0; i < n; i++) {
		struct pin p;

		json_array_append_new(
		    readers,
		    json_string(emc_user_keys(c, (int64_t)ids[i], &p) == 0 ? p.username : "?"));
	}
	json_object_set_new(q->cmd, "_readers", readers);
	json_object_set_new(q->cmd, "_q_version", json_integer(qv));
	rc = emc_quest_ask(c, t, &q->main, 0, EM_OP_QUESTIONNAIRE_ANSWER,
	                   json_pack("{s:I, s:I, s:s, s:I, s:I, s:I, s:s}", "programme_id",
	                             (json_int_t)q->programme, "room_id", (json_int_t)r->id,
	                             "stage", q->stage, "q_version", (json_int_t)qv,
	                             "agreement_version", (json_int_t)r->active.version,
	                             "written_ms", (json_int_t)written, "blob", b64));
	free(b64);
	return rc;
}

/* ---- results (a manager) ---- */

/* The slot of a fetched questionnaire version, asked for when new. NULL: too many. */
static struct quest_slot *emc_quest_version(struct emc *c, struct emc_task *t, const char *stage,
                                            int64_t version)
{
	struct emc_quest *q = t->data;
	struct quest_slot *s;

	for (size_t i = 0; i < q->nversions; i++)
		if (q->versions[i].version == version && !strcmp(q->versions[i].stage, stage))
			return &q->versions[i];
	if (q->nversions == QUEST_SLOTS)
		return NULL;
	s = &q->versions[q->nversions++];
	snprintf(s->stage, sizeof(s->stage), "%s", stage);
	s->version = version;
	emc_quest_ask(c, t, s, (int64_t)(q->nversions + 1), EM_OP_QUESTIONNAIRE_GET,
	              json_pack("{s:I, s:s, s:I}", "programme_id", (json_int_t)q->programme,
	                        "stage", stage, "version", (json_int_t)version));
	return s;
}

/* Sets "verified" and "answers" (or "error") on out for one answer the server listed. */
static void emc_quest_open(struct emc *c, struct emc_task *t, json_t *x, json_t *out)
{
	struct emc_quest *q = t->data;
	int64_t room = json_integer_value(json_object_get(x, "room_id"));
	int64_t author = json_integer_value(json_object_get(x, "user_id"));
	int64_t qv = json_integer_value(json_object_get(x, "q_version"));
	int64_t av = json_integer_value(json_object_get(x, "agreement_version"));
	int64_t written = json_integer_value(json_object_get(x, "written_ms"));
	const char *stage = json_string_value(json_object_get(x, "stage"));
	const char *b64 = json_string_value(json_object_get(x, "blob"));
	unsigned char ctx[ANSWER_CTX_MAX], h[QUEST_HASH_BYTES], *blob = NULL, *doc = NULL;
	char why[320] = "", signer[EM_USERNAME_MAX + 1];
	uint64_t ids[ENVELOPE_RECIPIENTS];
	struct emc_room *r = emc_room(c, room);
	struct trust_version v;
	json_t *parsed = NULL, *answers = NULL, *got;
	const char *text = NULL;
	size_t n = 0, doc_len = 0, ctx_len;
	struct pin p;
	int len, rc = ENVELOPE_MALFORMED, tries;

	if (!r || !quest_stage_ok(stage) || av < 1 || av > EM_AGREEMENT_VERSION_MAX || qv < 0 ||
	    !b64) {
		snprintf(why, sizeof(why), "the server's record is malformed");
		goto out;
	}
	if (r->programme_id != q->programme) {
		snprintf(why, sizeof(why), "room %lld is not in programme %lld", (long long)room,
		         (long long)q->programme);
		goto out;
	}
	if (emc_room_version(c, r, (uint32_t)av, &v, why, sizeof(why)) != EMC_DONE) {
		if (!why[0])
			snprintf(why, sizeof(why), "version %lld of the agreement is not verified",
			         (long long)av);
		goto out;
	}
	if (emc_user_keys(c, author, &p) != 0 || p.changed) {
		snprintf(why, sizeof(why),
		         "its author (user %lld) has no trusted key on this device",
		         (long long)author);
		goto out;
	}
	if (qv > 0) {
		struct quest_slot *s = emc_quest_version(c, t, stage, qv);

		got = s && s->ask.answered ? s->ask.reply.result : NULL;
		if (!got) {
			snprintf(why, sizeof(why),
			         "version %lld of the questionnaire is not available",
			         (long long)qv);
			goto out;
		}
		if (!quest_signed_ok(c, got, q->programme, stage, &v, signer, sizeof(signer), why,
		                     sizeof(why)))
			goto out;
		text = json_string_value(json_object_get(got, "doc"));
	}
	blob = malloc(EM_RECORD_BLOB_MAX);
	if (!blob || (len = em_b64_decode(b64, blob, EM_RECORD_BLOB_MAX)) < 0) {
		snprintf(why, sizeof(why), "the server's record is malformed");
		goto out;
	}
	/* the default text: in English or Polish, whichever the mentee was shown */
	for (tries = 0; tries < (qv > 0 ? 1 : 2); tries++) {
		if (qv == 0)
			text = quest_default(stage, tries ? "pl" : "en");
		quest_hash(text, h);
		ctx_len = answer_ctx(ctx, q->programme, room, stage, qv, h, av, written);
		free(doc);
		doc = NULL;
		rc = envelope_open(ANSWER_LABEL, ctx, ctx_len, (uint64_t)author, p.sign_pk,
		                   (uint64_t)c->session.user_id, c->keys.box_pk, c->keys.box_sk,
		                   blob, (size_t)len, ids, &n, &doc, &doc_len);
		if (rc != ENVELOPE_BAD_SIGNATURE && rc != ENVELOPE_MALFORMED)
			break;
	}
	if (rc == ENVELOPE_MALFORMED || rc == ENVELOPE_BAD_SIGNATURE) {
		snprintf(why, sizeof(why),
		         "its signature does not verify with %s's pinned key for this programme, "
		         "room, stage and questionnaire: it was altered or moved",
		         p.username);
		goto out;
	}
	if (!managers_readers_ok(&v, author, ids, n, why, sizeof(why)))
		goto out;
	if (rc == ENVELOPE_NOT_RECIPIENT) {
		snprintf(why, sizeof(why), "it is not sealed to you");
		goto out;
	}
	if (rc != ENVELOPE_OK ||
	    !(parsed = json_loadb((const char *)doc, doc_len, JSON_REJECT_DUPLICATES, NULL))) {
		snprintf(why, sizeof(why), "it does not open with your key");
		goto out;
	}
	answers = json_object_get(parsed, "answers");
	{
		json_t *quest = quest_parse(text, why, sizeof(why));

		if (!quest || !quest_answers_ok(quest, answers, why, sizeof(why))) {
			json_decref(quest);
			goto out;
		}
		json_decref(quest);
	}
out:
	if (why[0] || !answers) {
		json_object_set_new(out, "verified", json_false());
		json_object_set_new(out, "error", json_string(why[0] ? why : "unreadable"));
	} else {
		json_object_set_new(out, "verified", json_true());
		json_object_set(out, "answers", answers);
		json_object_set_new(out, "text", json_string(text));
	}
	json_decref(parsed);
	if (doc) {
		sodium_memzero(doc, doc_len);
		free(doc);
	}
	free(blob);
}

/* Everything the answers need: their rooms, agreement versions and questionnaire versions. */
static int emc_quest_needs(struct emc *c, struct emc_task *t, json_t *list)
{
	struct trust_version v;
	int pending = 0;
	char why[256];
	json_t *x;
	size_t i;

	json_array_foreach(list, i, x)
	{
		int64_t room = json_integer_value(json_object_get(x, "room_id"));
		int64_t av = json_integer_value(json_object_get(x, "agreement_version"));
		int64_t qv = json_integer_value(json_object_get(x, "q_version"));
		const char *stage = json_string_value(json_object_get(x, "stage"));
		struct emc_room *r = room > 0 ? emc_room(c, room) : NULL;
		struct quest_slot *s;
		int rc;

		if (qv > 0 && quest_stage_ok(stage) && (s = emc_quest_version(c, t, stage, qv)) &&
		    !s->ask.answered)
			pending = 1;
		if (!r)
			continue;
		rc = emc_room_advance(c, r);
		if (rc == EMC_PENDING)
			pending = 1;
		if (rc != EMC_DONE || av < 1 || av > EM_AGREEMENT_VERSION_MAX)
			continue;
		if (emc_room_version(c, r, (uint32_t)av, &v, why, sizeof(why)) == EMC_PENDING)
			pending = 1;
	}
	return pending ? EMC_PENDING : EMC_DONE;
}

/* The latest verified answers of one stage and questionnaire version. */
static json_t *quest_group(json_t *opened, const char *stage, int64_t qv)
{
	json_t *out = json_array(), *o;
	size_t i;

	json_array_foreach(opened, i, o)
	{
		if (json_is_true(json_object_get(o, "verified")) &&
		    !strcmp(json_string_value(json_object_get(o, "stage")), stage) &&
		    json_integer_value(json_object_get(o, "q_version")) == qv)
			json_array_append(out, o);
	}
	return out;
}

static int emc_quest_results_step(struct emc *c, struct emc_task *t)
{
	struct emc_quest *q = t->data;
	json_t *list, *opened, *aggregates, *comparison, *x, *o, *done;
	size_t i, k;
	int rc;

	rc = emc_quest_ask(c, t, &q->main, 0, EM_OP_QUESTIONNAIRE_ANSWERS,
	                   q->stage[0]
	                       ? json_pack("{s:I, s:s}", "programme_id", (json_int_t)q->programme,
	                                   "stage", q->stage)
	                       : json_pack("{s:I}", "programme_id", (json_int_t)q->programme));
	if (rc != EMC_DONE)
		return rc;
	list = json_object_get(q->main.ask.reply.result, "answers");
	if (!json_is_array(list) || json_array_size(list) > QUEST_ANSWERS)
		return emc_fail(t, EMC_EXIT_NET, 0, "the server's answer is malformed");
	if ((rc = emc_quest_needs(c, t, list)) != EMC_DONE)
		return rc;
	opened = json_array();
	json_array_foreach(list, i, x)
	{
		o = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "room_id",
		              json_object_get(x, "room_id"), "user_id",
		              json_object_get(x, "user_id"), "username",
		              json_object_get(x, "username"), "stage", json_object_get(x, "stage"),
		              "q_version", json_object_get(x, "q_version"), "created_at",
		              json_object_get(x, "created_at"));
		emc_quest_open(c, t, x, o);
		json_array_append_new(opened, o);
	}
	/* aggregates per stage and questionnaire version, over the verified answers */
	aggregates = json_array();
	done = json_object();
	json_array_foreach(opened, i, o)
	{
		const char *stage = json_string_value(json_object_get(o, "stage"));
		int64_t qv = json_integer_value(json_object_get(o, "q_version"));
		char key[32];
		json_t *group, *quest, *agg;
		char why[256];

		if (!json_is_true(json_object_get(o, "verified")))
			continue;
		snprintf(key, sizeof(key), "%s:%lld", stage, (long long)qv);
		if (json_object_get(done, key))
			continue;
		json_object_set_new(done, key, json_true());
		quest =
		    quest_parse(json_string_value(json_object_get(o, "text")), why, sizeof(why));
		group = quest_group(opened, stage, qv);
		agg = quest ? quest_aggregate(quest, group) : NULL;
		if (agg) {
			json_object_set_new(agg, "stage", json_string(stage));
			json_object_set_new(agg, "version", json_integer(qv));
			json_object_set(agg, "title", json_object_get(quest, "title"));
			json_array_append_new(aggregates, agg);
		}
		json_decref(group);
		json_decref(quest);
	}
	json_decref(done);
	/* initial versus final, per mentee who answered both */
	comparison = json_array();
	json_array_foreach(opened, i, o)
	{
		json_t *f = NULL, *qi, *qf, *cmp;
		char why[256];

		if (!json_is_true(json_object_get(o, "verified")) ||
		    strcmp(json_string_value(json_object_get(o, "stage")), "initial") != 0)
			continue;
		json_array_foreach(opened, k, x)
		{
			if (json_is_true(json_object_get(x, "verified")) &&
			    !strcmp(json_string_value(json_object_get(x, "stage")), "final") &&
			    json_integer_value(json_object_get(x, "user_id")) ==
			        json_integer_value(json_object_get(o, "user_id")))
				f = x;
		}
		if (!f)
			continue;
		qi = quest_parse(json_string_value(json_object_get(o, "text")), why, sizeof(why));
		qf = quest_parse(json_string_value(json_object_get(f, "text")), why, sizeof(why));
		if (qi && qf) {
			cmp = quest_compare(qi, qf, json_object_get(o, "answers"),
			                    json_object_get(f, "answers"));
			json_array_append_new(comparison,
			                      json_pack("{s:O, s:O, s:o}", "user_id",
			                                json_object_get(o, "user_id"), "username",
			                                json_object_get(o, "username"), "questions",
			                                cmp));
		}
		json_decref(qi);
		json_decref(qf);
	}
	json_array_foreach(opened, i, o)
	{
		json_object_del(o, "text");
	}
	t->result =
	    json_pack("{s:I, s:o, s:o, s:o}", "programme_id", (json_int_t)q->programme, "answers",
	              opened, "aggregates", aggregates, "comparison", comparison);
	return EMC_DONE;
}

static int64_t emc_quest_start(struct emc *c, enum emc_quest_kind kind, json_t *cmd)
{
	static const char *const names[] = {"questionnaire.show", "questionnaire.edit",
	                                    "questionnaire.answer", "questionnaire.results"};
	static const emc_step_fn steps[] = {emc_quest_show_step, emc_quest_edit_step,
	                                    emc_quest_answer_step, emc_quest_results_step};
	const char *stage = json_string_value(json_object_get(cmd, "stage"));
	int64_t room = json_integer_value(json_object_get(cmd, "room"));
	int64_t programme = json_integer_value(json_object_get(cmd, "programme"));
	struct emc_quest *q;
	struct emc_task *t;

	/* a mentee answers (and may look) from a room: its agreement is the anchor */
	if (kind == EMC_QUEST_ANSWER ? room < 1
	    : kind == EMC_QUEST_SHOW ? (room < 1) == (programme < 1)
	                             : programme < 1)
		return -EINVAL;
	if (kind == EMC_QUEST_RESULTS ? stage && !quest_stage_ok(stage) : !quest_stage_ok(stage))
		return -EINVAL;
	if (kind == EMC_QUEST_ANSWER && !json_is_object(json_object_get(cmd, "answers")))
		return -EINVAL;
	if (kind == EMC_QUEST_EDIT && !json_object_get(cmd, "doc"))
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->kind = kind;
	q->room = kind == EMC_QUEST_EDIT || kind == EMC_QUEST_RESULTS ? 0 : room;
	q->programme = programme;
	snprintf(q->stage, sizeof(q->stage), "%s", stage ? stage : "");
	q->cmd = json_deep_copy(cmd);
	t = q->cmd ? emc_task_new(c, names[kind], steps[kind], emc_quest_free, q) : NULL;
	if (!t) {
		emc_quest_free(&(struct emc_task){.data = q});
		return -ENOMEM;
	}
	t->ask_slot = emc_quest_slot;
	return t->id;
}

/* {"cmd":"questionnaire.show","room"|"programme","stage"} */
int64_t emc_cmd_questionnaire_show(struct emc *c, json_t *cmd)
{
	return emc_quest_start(c, EMC_QUEST_SHOW, cmd);
}

/* {"cmd":"questionnaire.edit","programme","stage","doc": object or JSON text} */
int64_t emc_cmd_questionnaire_edit(struct emc *c, json_t *cmd)
{
	return emc_quest_start(c, EMC_QUEST_EDIT, cmd);
}

/* {"cmd":"questionnaire.answer","room","stage","answers":{id: value}} */
int64_t emc_cmd_questionnaire_answer(struct emc *c, json_t *cmd)
{
	return emc_quest_start(c, EMC_QUEST_ANSWER, cmd);
}

/* {"cmd":"questionnaire.results","programme","stage"?} */
int64_t emc_cmd_questionnaire_results(struct emc *c, json_t *cmd)
{
	return emc_quest_start(c, EMC_QUEST_RESULTS, cmd);
}
