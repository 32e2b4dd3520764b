/*
 * announce.c - a manager's announcements to a programme, as commands of the
 * core (docs/PROTOCOL.md 15.2, SECURITY.md "Announcements"):
 * "announce.recipients" (who an announcement would reach, with the keys
 * pinned here), "announce.send" (encrypt once, sign, seal the key to each
 * recipient, send in batches) and "announce.list" (open and verify each
 * announcement this account received or sent).
 *
 * DESIGN. The text is encrypted once under a random content key and the key
 * sealed per recipient (crypto_box_seal, 80 bytes each), so a programme of
 * hundreds costs one ciphertext and hundreds of small seals, sent 250 per
 * frame (envelope.c's records, made for a room's handful of readers, would
 * carry every seal in one blob and top out at ENVELOPE_RECIPIENTS). The
 * manager signs the ciphertext with the programme, audience, a random id,
 * the time and their user id (announce.h), so the server, which keeps it,
 * can withhold an announcement but cannot forge, alter, re-address or
 * re-date one: a recipient checks the signature with the manager's key as
 * pinned on its own device (trust on first use, as for every user) and says
 * whether it verified. The recipients are the programme's people list as the
 * server gives it (programme.show): the server's word. announce.send takes
 * the ids the user was shown (announce.recipients) and refuses when the list
 * changed in between; it seals only to keys pinned here, and never to a
 * person whose keys changed since (listed as skipped). SECURITY.md says what
 * a server that adds or drops a recipient can do.
 *
 * Results. announce.recipients {programme, to}: {programme_id, audience,
 * recipients: [{user_id, username, role, fingerprint, changed}]}.
 * announce.send {programme, to, text, expect?: [user_id]}: {announcement_id,
 * recipients (sealed to, yourself included), skipped: [username]}.
 * announce.list {programme?}: {announcements: [{announcement_id,
 * programme_id, manager, manager_id, audience, written_ms, created_at,
 * recipients, verified, text | error}]}.
 * Threads: the host's (core.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "announce.h"
#include "core.h"
#include "envelope.h"

#define ANNOUNCE_LABEL "ementor announcement v1"
#define ANNOUNCE_CTX   (4 + sizeof(ANNOUNCE_LABEL) - 1 + 8 + 4 + 7 + ANNOUNCE_AID_BYTES + 8 + 8)
#define ANNOUNCE_PAD   256

/* ---- the format (announce.h) ---- */

static size_t announce_ctx(unsigned char *out, const struct announce_meta *m,
                           const unsigned char aid[ANNOUNCE_AID_BYTES])
{
	unsigned char *p = out;

	p = envelope_put_lp(p, ANNOUNCE_LABEL, strlen(ANNOUNCE_LABEL));
	p = envelope_put_u64(p, (uint64_t)m->programme);
	p = envelope_put_lp(p, m->audience, strlen(m->audience));
	memcpy(p, aid, ANNOUNCE_AID_BYTES);
	p += ANNOUNCE_AID_BYTES;
	p = envelope_put_u64(p, (uint64_t)m->written_ms);
	p = envelope_put_u64(p, (uint64_t)m->manager);
	return (size_t)(p - out);
}

/* The bytes signed: ctx || nonce || ciphertext, in buf (ANNOUNCE_CTX + body length). */
static size_t announce_signed(unsigned char *buf, const unsigned char *ctx, size_t ctx_len,
                              const unsigned char *nonce_ct, size_t n)
{
	memcpy(buf, ctx, ctx_len);
	memcpy(buf + ctx_len, nonce_ct, n);
	return ctx_len + n;
}

int announce_body_seal(const struct announce_meta *m, const char *text, size_t text_len,
                       const unsigned char sign_sk[64], unsigned char key_out[ANNOUNCE_KEY_BYTES],
                       unsigned char *body, size_t *body_len)
{
	unsigned char ctx[ANNOUNCE_CTX], padded[EM_ANNOUNCE_TEXT_MAX + ANNOUNCE_PAD];
	unsigned char signed_buf[ANNOUNCE_CTX + ANNOUNCE_BODY_MAX];
	unsigned char *aid = body + 1, *nonce = body + 1 + ANNOUNCE_AID_BYTES, *ct = nonce + 24;
	unsigned long long ct_len = 0;
	size_t ctx_len, padded_len, n;

	if (text_len > EM_ANNOUNCE_TEXT_MAX || strlen(m->audience) > 7)
		return -1;
	body[0] = 1;
	randombytes_buf(aid, ANNOUNCE_AID_BYTES);
	randombytes_buf(nonce, 24);
	crypto_aead_xchacha20poly1305_ietf_keygen(key_out);
	memcpy(padded, text, text_len);
	if (sodium_pad(&padded_len, padded, text_len, ANNOUNCE_PAD, sizeof(padded)) != 0)
		return -1;
	ctx_len = announce_ctx(ctx, m, aid);
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ct_len, padded, padded_len, ctx, ctx_len,
	                                           NULL, nonce, key_out);
	sodium_memzero(padded, sizeof(padded));
	n = announce_signed(signed_buf, ctx, ctx_len, nonce, 24 + (size_t)ct_len);
	crypto_sign_detached(ct + ct_len, NULL, signed_buf, n, sign_sk);
	*body_len = 1 + ANNOUNCE_AID_BYTES + 24 + (size_t)ct_len + 64;
	return 0;
}

int announce_body_open(const struct announce_meta *m, const unsigned char *body, size_t len,
                       const unsigned char key[ANNOUNCE_KEY_BYTES], const unsigned char sign_pk[32],
                       char *text, size_t *text_len, unsigned char aid_out[ANNOUNCE_AID_BYTES])
{
	unsigned char ctx[ANNOUNCE_CTX], signed_buf[ANNOUNCE_CTX + ANNOUNCE_BODY_MAX];
	unsigned char padded[EM_ANNOUNCE_TEXT_MAX + ANNOUNCE_PAD];
	const unsigned char *nonce, *ct, *sig;
	unsigned long long padded_len = 0;
	size_t ctx_len, ct_len, n, unpadded;
	int rc = ANNOUNCE_MALFORMED;

	if (!body || len < ANNOUNCE_BODY_MIN || len > ANNOUNCE_BODY_MAX || body[0] != 1 ||
	    !m->audience || strlen(m->audience) > 7)
		return ANNOUNCE_MALFORMED;
	nonce = body + 1 + ANNOUNCE_AID_BYTES;
	ct = nonce + 24;
	ct_len = len - (1 + ANNOUNCE_AID_BYTES + 24 + 64);
	sig = ct + ct_len;
	ctx_len = announce_ctx(ctx, m, body + 1);
	n = announce_signed(signed_buf, ctx, ctx_len, nonce, 24 + ct_len);
	if (crypto_sign_verify_detached(sig, signed_buf, n, sign_pk) != 0)
		return ANNOUNCE_BAD_SIGNATURE;
	if (ct_len > sizeof(padded) + 16 ||
	    crypto_aead_xchacha20poly1305_ietf_decrypt(padded, &padded_len, NULL, ct, ct_len, ctx,
	                                               ctx_len, nonce, key) != 0)
		return ANNOUNCE_BAD_KEY;
	if (sodium_unpad(&unpadded, padded, (size_t)padded_len, ANNOUNCE_PAD) != 0 ||
	    unpadded > EM_ANNOUNCE_TEXT_MAX)
		goto out;
	memcpy(text, padded, unpadded);
	text[unpadded] = '\0';
	*text_len = unpadded;
	if (aid_out)
		memcpy(aid_out, body + 1, ANNOUNCE_AID_BYTES);
	rc = ANNOUNCE_OK;
out:
	sodium_memzero(padded, sizeof(padded));
	return rc;
}

int announce_key_seal(const unsigned char key[ANNOUNCE_KEY_BYTES], uint64_t recipient,
                      const unsigned char box_pk[32], unsigned char out[EM_ANNOUNCE_KEY_BYTES])
{
	envelope_put_u64(out, recipient);
	return crypto_box_seal(out + 8, key, ANNOUNCE_KEY_BYTES, box_pk) == 0 ? 0 : -1;
}

int announce_key_open(const unsigned char *sealed, size_t len, const unsigned char box_pk[32],
                      const unsigned char box_sk[32], unsigned char key[ANNOUNCE_KEY_BYTES])
{
	if (len != ANNOUNCE_SEALED)
		return -1;
	return crypto_box_seal_open(key, sealed, len, box_pk, box_sk) == 0 ? 0 : -1;
}

/* ---- commands ---- */

enum emc_ann_kind {
	EMC_ANN_RECIPIENTS = 0,
	EMC_ANN_SEND,
	EMC_ANN_LIST,
};

struct emc_ann {
	enum emc_ann_kind kind;
	json_t *cmd;
	int64_t programme;
	const char *audience; /* in cmd */
	struct emc_ask ask;
	/* send */
	unsigned char *keys; /* EM_ANNOUNCE_KEY_BYTES each */
	size_t nkeys, sent;
	unsigned char *body;
	size_t body_len;
	int64_t written_ms, announcement;
	json_t *skipped;
	/* list */
	json_t *list;     /* announce.list's answer (a reference) */
	json_t *shown;    /* programme ids whose people were pinned */
	size_t list_next; /* the next announcement to check */
};

static struct emc_ask *emc_ann_slot(struct emc_task *t, int64_t key)
{
	(void)key;
	return &((struct emc_ann *)t->data)->ask;
}

static void emc_ann_free(struct emc_task *t)
{
	struct emc_ann *q = t->data;

	if (!q)
		return;
	em_incoming_clear(&q->ask.reply);
	json_decref(q->cmd);
	json_decref(q->skipped);
	json_decref(q->list);
	json_decref(q->shown);
	free(q->keys);
	free(q->body);
	free(q);
}

/* Asks op once (takes args); EMC_DONE with q->ask.reply.result, until emc_ann_next(). */
static int emc_ann_ask(struct emc *c, struct emc_task *t, enum em_op op, json_t *args)
{
	return emc_ask(c, t, &((struct emc_ann *)t->data)->ask, 0, op, args, 0);
}

/* The answer was used: the next emc_ann_ask() asks again. */
static void emc_ann_next(struct emc_ann *q)
{
	q->ask.asked = q->ask.answered = 0;
	em_incoming_clear(&q->ask.reply);
	memset(&q->ask.reply, 0, sizeof(q->ask.reply));
}

/* Whether a person of role is in audience. */
static int emc_ann_audience(const char *audience, const char *role)
{
	return role &&
	       (!strcmp(role, "mentor") || (!strcmp(audience, "all") && !strcmp(role, "mentee")));
}

/*
 * The recipients of the programme.show answer in q->ask.reply (pinned first):
 * [{user_id, username, role, fingerprint, changed}], ascending ids, never
 * ourselves (added by the sender). Who frees: the caller. NULL: no memory.
 */
static json_t *emc_ann_people(struct emc *c, struct emc_ann *q)
{
	json_t *people = json_object_get(q->ask.reply.result, "people"), *u, *out = json_array();
	size_t i;

	if (!out || emc_pin_people(c, people) < 0) {
		json_decref(out);
		return NULL;
	}
	json_array_foreach(people, i, u)
	{
		int64_t id = json_integer_value(json_object_get(u, "id"));
		const char *role = json_string_value(json_object_get(u, "role"));
		struct pin p;

		if (id < 1 || id == c->session.user_id || !emc_ann_audience(q->audience, role))
			continue;
		if (emc_user_keys(c, id, &p) != 0)
			continue; /* never seen with keys: nothing to seal to */
		json_array_append_new(out, json_pack("{s:I, s:s, s:s, s:s, s:b}", "user_id",
		                                     (json_int_t)id, "username", p.username, "role",
		                                     role, "fingerprint", p.fingerprint, "changed",
		                                     p.changed));
	}
	return out;
}

/* Whether expect (user ids, any order) is exactly the ids of list. */
static int emc_ann_same(json_t *expect, json_t *list)
{
	json_t *x, *y;
	size_t i, j;

	if (json_array_size(expect) != json_array_size(list))
		return 0;
	json_array_foreach(list, i, x)
	{
		int found = 0;

		json_array_foreach(expect, j, y)
		{
			found |= json_integer_value(y) ==
			         json_integer_value(json_object_get(x, "user_id"));
		}
		if (!found)
			return 0;
	}
	return 1;
}

static int emc_ann_recipients_step(struct emc *c, struct emc_task *t)
{
	struct emc_ann *q = t->data;
	json_t *list;
	int rc;

	rc = emc_ann_ask(c, t, EM_OP_PROGRAMME_SHOW,
	                 json_pack("{s:I}", "programme_id", (json_int_t)q->programme));
	if (rc != EMC_DONE)
		return rc;
	if (!(list = emc_ann_people(c, q)))
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	t->result = json_pack("{s:I, s:s, s:o}", "programme_id", (json_int_t)q->programme,
	                      "audience", q->audience, "recipients", list);
	return t->result ? EMC_DONE : emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
}

/* announce.send, first step: the recipients, the body and a key per recipient. */
static int emc_ann_prepare(struct emc *c, struct emc_task *t)
{
	struct emc_ann *q = t->data;
	const char *text = json_string_value(json_object_get(q->cmd, "text"));
	json_t *expect = json_object_get(q->cmd, "expect"), *list, *x;
	unsigned char key[ANNOUNCE_KEY_BYTES];
	struct announce_meta m = {q->programme, c->session.user_id, 0, q->audience};
	size_t i;
	int rc;

	rc = emc_ann_ask(c, t, EM_OP_PROGRAMME_SHOW,
	                 json_pack("{s:I}", "programme_id", (json_int_t)q->programme));
	if (rc != EMC_DONE)
		return rc;
	if (!(list = emc_ann_people(c, q)))
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	emc_ann_next(q);
	if (expect && !emc_ann_same(expect, list)) {
		json_decref(list);
		return emc_fail(t, EMC_EXIT_REFUSED, 0,
		                "the programme's people changed since you were shown the "
		                "recipients: nothing was sent; look at them again");
	}
	q->keys = malloc((json_array_size(list) + 1) * EM_ANNOUNCE_KEY_BYTES);
	q->body = malloc(ANNOUNCE_BODY_MAX);
	q->skipped = json_array();
	if (!q->keys || !q->body || !q->skipped) {
		json_decref(list);
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	}
	m.written_ms = q->written_ms = emc_now(c);
	if (announce_body_seal(&m, text, strlen(text), c->keys.sign_sk, key, q->body,
	                       &q->body_len) != 0) {
		json_decref(list);
		return emc_fail(t, EMC_EXIT_USAGE, 0, "the text is longer than %d bytes",
		                EM_ANNOUNCE_TEXT_MAX);
	}
	/* ourselves first: the sender reads it back like anyone */
	rc = announce_key_seal(key, (uint64_t)c->session.user_id, c->keys.box_pk, q->keys);
	q->nkeys = 1;
	json_array_foreach(list, i, x)
	{
		struct pin p;

		if (emc_user_keys(c, json_integer_value(json_object_get(x, "user_id")), &p) != 0 ||
		    p.changed) {
			json_array_append_new(q->skipped, json_string(json_string_value(
			                                      json_object_get(x, "username"))));
			continue;
		}
		rc |= announce_key_seal(key, (uint64_t)p.user_id, p.box_pk,
		                        q->keys + q->nkeys * EM_ANNOUNCE_KEY_BYTES);
		q->nkeys++;
	}
	sodium_memzero(key, sizeof(key));
	json_decref(list);
	if (rc)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "a key could not be sealed");
	return EMC_DONE;
}

static int emc_ann_send_step(struct emc *c, struct emc_task *t)
{
	struct emc_ann *q = t->data;
	size_t batch;
	char *keys_b64, *body_b64 = NULL;
	json_t *args;
	int rc;

	if (!q->body && (rc = emc_ann_prepare(c, t)) != EMC_DONE)
		return rc;
	/* until every batch is sent and the last one answered */
	while (q->ask.asked || q->sent < q->nkeys || !q->announcement) {
		if (q->ask.asked) {
			if ((rc = emc_ann_ask(c, t, EM_OP_NONE, NULL)) != EMC_DONE)
				return rc;
			q->announcement = json_integer_value(
			    json_object_get(q->ask.reply.result, "announcement_id"));
			emc_ann_next(q);
			if (q->announcement < 1)
				return emc_fail(t, EMC_EXIT_NET, 0,
				                "the server's answer is malformed");
			continue;
		}
		batch = q->nkeys - q->sent;
		if (batch > EM_ANNOUNCE_BATCH_MAX)
			batch = EM_ANNOUNCE_BATCH_MAX;
		keys_b64 = em_b64_encode(q->keys + q->sent * EM_ANNOUNCE_KEY_BYTES,
		                         batch * EM_ANNOUNCE_KEY_BYTES);
		if (!q->announcement)
			body_b64 = em_b64_encode(q->body, q->body_len);
		if (!keys_b64 || (!q->announcement && !body_b64)) {
			free(keys_b64);
			free(body_b64);
			return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		}
		q->sent += batch;
		if (!q->announcement)
			args = json_pack("{s:I, s:s, s:I, s:s, s:s, s:b}", "programme_id",
			                 (json_int_t)q->programme, "audience", q->audience,
			                 "written_ms", (json_int_t)q->written_ms, "body", body_b64,
			                 "keys", keys_b64, "more", q->sent < q->nkeys);
		else
			args = json_pack("{s:I, s:s, s:b}", "announcement_id",
			                 (json_int_t)q->announcement, "keys", keys_b64, "more",
			                 q->sent < q->nkeys);
		free(keys_b64);
		free(body_b64);
		body_b64 = NULL;
		rc = emc_ann_ask(c, t, q->announcement ? EM_OP_ANNOUNCE_KEYS : EM_OP_ANNOUNCE_SEND,
		                 args);
		if (rc != EMC_DONE)
			return rc;
	}
	t->result = json_pack("{s:I, s:I, s:O}", "announcement_id", (json_int_t)q->announcement,
	                      "recipients", (json_int_t)q->nkeys, "skipped", q->skipped);
	return t->result ? EMC_DONE : emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
}

/* One announcement of announce.list opened and checked: a new object. */
static json_t *emc_ann_check(struct emc *c, json_t *a)
{
	const char *audience = json_string_value(json_object_get(a, "audience"));
	const char *body_b64 = json_string_value(json_object_get(a, "body"));
	const char *key_b64 = json_string_value(json_object_get(a, "key"));
	int64_t manager = json_integer_value(json_object_get(a, "manager_id"));
	unsigned char body[ANNOUNCE_BODY_MAX], sealed[ANNOUNCE_SEALED + 1], key[ANNOUNCE_KEY_BYTES];
	char text[EM_ANNOUNCE_TEXT_MAX + 1], why[256] = "";
	struct announce_meta m = {0};
	size_t text_len = 0;
	struct pin p;
	json_t *out;
	int blen, klen, rc;

	out = json_pack(
	    "{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "announcement_id",
	    json_object_get(a, "announcement_id"), "programme_id",
	    json_object_get(a, "programme_id"), "manager", json_object_get(a, "manager"),
	    "manager_id", json_object_get(a, "manager_id"), "audience",
	    json_object_get(a, "audience"), "written_ms", json_object_get(a, "written_ms"),
	    "created_at", json_object_get(a, "created_at"), "recipients",
	    json_object_get(a, "recipients"));
	if (!out)
		return NULL;
	m.programme = json_integer_value(json_object_get(a, "programme_id"));
	m.manager = manager;
	m.written_ms = json_integer_value(json_object_get(a, "written_ms"));
	m.audience = audience;
	blen = body_b64 ? em_b64_decode(body_b64, body, sizeof(body)) : -1;
	klen = key_b64 ? em_b64_decode(key_b64, sealed, sizeof(sealed)) : -1;
	if (!audience || blen < 0 || klen < 0) {
		snprintf(why, sizeof(why),
		         "the server's record is malformed or holds no key for you");
		goto out;
	}
	if (emc_user_keys(c, manager, &p) != 0) {
		snprintf(why, sizeof(why), "its sender (user %lld) has no keys pinned here",
		         (long long)manager);
		goto out;
	}
	if (p.changed) {
		snprintf(why, sizeof(why),
		         "%s's keys changed since they were pinned here: check them (ementor trust "
		         "show %s) first",
		         p.username, p.username);
		goto out;
	}
	if (announce_key_open(sealed, (size_t)klen, c->keys.box_pk, c->keys.box_sk, key) != 0) {
		snprintf(why, sizeof(why), "the key sealed to you does not open");
		goto out;
	}
	rc = announce_body_open(&m, body, (size_t)blen, key, p.sign_pk, text, &text_len, NULL);
	sodium_memzero(key, sizeof(key));
	if (rc == ANNOUNCE_BAD_SIGNATURE)
		snprintf(why, sizeof(why),
		         "it does not verify with %s's pinned key for this programme, audience and "
		         "time: it was forged or altered",
		         p.username);
	else if (rc == ANNOUNCE_BAD_KEY)
		snprintf(why, sizeof(why),
		         "it is signed by %s but the key sealed to you does not "
		         "open it",
		         p.username);
	else if (rc != ANNOUNCE_OK)
		snprintf(why, sizeof(why), "it is malformed");
	else
		json_object_set_new(out, "text", json_stringn(text, text_len));
	sodium_memzero(text, sizeof(text));
out:
	json_object_set_new(out, "verified", json_boolean(!why[0]));
	if (why[0])
		json_object_set_new(out, "error", json_string(why));
	return out;
}

static int emc_ann_list_step(struct emc *c, struct emc_task *t)
{
	struct emc_ann *q = t->data;
	json_t *a, *checked;
	size_t i;
	int rc;

	if (!q->list) {
		rc = emc_ann_ask(c, t, EM_OP_ANNOUNCE_LIST,
		                 q->programme
		                     ? json_pack("{s:I}", "programme_id", (json_int_t)q->programme)
		                     : json_object());
		if (rc != EMC_DONE)
			return rc;
		q->list = json_incref(json_object_get(q->ask.reply.result, "announcements"));
		emc_ann_next(q);
		if (!json_is_array(q->list) || !(q->shown = json_object()))
			return emc_fail(t, EMC_EXIT_NET, 0, "the server's answer is malformed");
	}
	/* a sender never seen here: pin the programme's people first (programme.show) */
	for (; q->list_next < json_array_size(q->list); q->list_next++) {
		struct pin p;
		char key[24];

		a = json_array_get(q->list, q->list_next);
		snprintf(key, sizeof(key), "%lld",
		         (long long)json_integer_value(json_object_get(a, "programme_id")));
		if (emc_user_keys(c, json_integer_value(json_object_get(a, "manager_id")), &p) ==
		        0 ||
		    json_object_get(q->shown, key))
			continue;
		if (!q->ask.asked) {
			if (emc_request(
			        c, EM_OP_PROGRAMME_SHOW,
			        json_pack("{s:I}", "programme_id",
			                  json_integer_value(json_object_get(a, "programme_id"))),
			        emc_ask_reply, 0, t->id) < 0)
				return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
			q->ask.asked = 1;
		}
		if (!q->ask.answered)
			return EMC_PENDING;
		/* a programme we no longer see: its announcements say the sender is unknown */
		if (q->ask.reply.result)
			emc_pin_people(c, json_object_get(q->ask.reply.result, "people"));
		emc_ann_next(q);
		json_object_set_new(q->shown, key, json_true());
	}
	checked = json_array();
	json_array_foreach(q->list, i, a)
	{
		json_array_append_new(checked, emc_ann_check(c, a));
	}
	t->result = checked ? json_pack("{s:o}", "announcements", checked) : NULL;
	return t->result ? EMC_DONE : emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
}

static int64_t emc_ann_start(struct emc *c, enum emc_ann_kind kind, json_t *cmd)
{
	static const char *const names[] = {"announce.recipients", "announce.send",
	                                    "announce.list"};
	static const emc_step_fn steps[] = {emc_ann_recipients_step, emc_ann_send_step,
	                                    emc_ann_list_step};
	const char *to = json_string_value(json_object_get(cmd, "to"));
	const char *text = json_string_value(json_object_get(cmd, "text"));
	int64_t programme = json_integer_value(json_object_get(cmd, "programme"));
	json_t *expect = json_object_get(cmd, "expect");
	struct emc_ann *q;
	struct emc_task *t;

	if (kind != EMC_ANN_LIST &&
	    (programme < 1 || !to || (strcmp(to, "mentors") && strcmp(to, "all"))))
		return -EINVAL;
	if (kind == EMC_ANN_SEND && (!text || !*text || strlen(text) > EM_ANNOUNCE_TEXT_MAX ||
	                             (expect && !json_is_array(expect))))
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->kind = kind;
	q->programme = programme > 0 ? programme : 0;
	q->cmd = json_deep_copy(cmd);
	q->audience = q->cmd ? json_string_value(json_object_get(q->cmd, "to")) : NULL;
	t = q->cmd ? emc_task_new(c, names[kind], steps[kind], emc_ann_free, q) : NULL;
	if (!t) {
		emc_ann_free(&(struct emc_task){.data = q});
		return -ENOMEM;
	}
	t->ask_slot = emc_ann_slot;
	return t->id;
}

/* {"cmd":"announce.recipients","programme","to":"mentors"|"all"} */
int64_t emc_cmd_announce_recipients(struct emc *c, json_t *cmd)
{
	return emc_ann_start(c, EMC_ANN_RECIPIENTS, cmd);
}

/* {"cmd":"announce.send","programme","to","text","expect"?:[user_id]} */
int64_t emc_cmd_announce_send(struct emc *c, json_t *cmd)
{
	return emc_ann_start(c, EMC_ANN_SEND, cmd);
}

/* {"cmd":"announce.list","programme"?} */
int64_t emc_cmd_announce_list(struct emc *c, json_t *cmd)
{
	return emc_ann_start(c, EMC_ANN_LIST, cmd);
}
