/*
 * diary.c - the diary after every meeting in the core (docs/PROTOCOL.md
 * 6.5): "diary.show" opens a meeting's entry and remarks, "diary.write" and
 * "diary.remark" seal and sign one, "diary.writer" and "diary.list" pass the
 * content-free answers through.
 *
 * DESIGN. A record is a message in all but its label: sealed with the room
 * key of the room's current epoch, its additional data naming room,
 * meeting, epoch, author, kind and number, and signed by its author. Writing
 * takes the room's keys exactly as a message does (send.c's checks: epochs
 * forward, the agreement in force verified, a key only while everyone it was
 * sealed to may still read, a rotation when needed). Reading verifies each
 * record with its author's PINNED key over the meeting this client asked
 * about and the room the server says that meeting is in, before decrypting:
 * a record the server moved to another meeting or room, renumbered, or
 * credited to another author does not verify and is shown as unverifiable,
 * never dropped. Threads: the host's (core.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core.h"

#define EMC_DIARY_ATTEMPTS 6

struct emc_diary {
	int64_t checkpoint;
	unsigned kind; /* 0: show; EM_DIARY_ENTRY: write; EM_DIARY_REMARK: remark */
	char *text;    /* what to write (wiped) */
	size_t text_len;
	json_t *doc; /* diary.show's answer */
	int asked;   /* diary.show in flight */
	int sending; /* diary.write / diary.remark in flight */
	int answered;
	struct em_incoming reply; /* the last answer kept (error or the write's result) */
	int attempts;
};

static void emc_diary_free(struct emc_task *t)
{
	struct emc_diary *dy = t->data;

	if (!dy)
		return;
	if (dy->text) {
		sodium_memzero(dy->text, dy->text_len);
		free(dy->text);
	}
	json_decref(dy->doc);
	em_incoming_clear(&dy->reply);
	free(dy);
}

static void emc_diary_shown(struct emc *c, int64_t room, int64_t task, struct em_incoming *in)
{
	struct emc_task *t = emc_task_find(c, task);
	struct emc_diary *dy = t ? t->data : NULL;

	(void)room;
	if (!dy || t->done)
		return;
	dy->asked = 0;
	if (in->result) {
		json_decref(dy->doc);
		dy->doc = json_incref(in->result);
	} else {
		dy->answered = 1;
		emc_reply_copy(&dy->reply, in);
	}
}

static void emc_diary_sent(struct emc *c, int64_t room, int64_t task, struct em_incoming *in)
{
	struct emc_task *t = emc_task_find(c, task);
	struct emc_diary *dy = t ? t->data : NULL;

	(void)room;
	if (!dy || t->done)
		return;
	dy->sending = 0;
	dy->answered = 1;
	emc_reply_copy(&dy->reply, in);
}

/* Asks diary.show. EMC_PENDING, or failed. */
static int emc_diary_ask(struct emc *c, struct emc_task *t, struct emc_diary *dy)
{
	if (!dy->asked) {
		if (emc_request(c, EM_OP_DIARY_SHOW,
		                json_pack("{s:I}", "checkpoint_id", (json_int_t)dy->checkpoint),
		                emc_diary_shown, 0, t->id) < 0)
			return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		dy->asked = 1;
	}
	return EMC_PENDING;
}

/* The room the server says the meeting is in (NULL with t failed). */
static struct emc_room *emc_diary_room(struct emc *c, struct emc_task *t, struct emc_diary *dy)
{
	int64_t room = json_integer_value(json_object_get(dy->doc, "room_id"));
	struct emc_room *r = room > 0 ? emc_room(c, room) : NULL;

	if (!r)
		emc_fail(t, EMC_EXIT_LOCAL, 0,
		         room > 0 ? "too many rooms in one command"
		                  : "the server's answer names no room for this meeting");
	return r;
}

/* ---- reading ---- */

/* The author's role in the verified agreement in force, or NULL (unknown, or no agreement). */
static const char *emc_diary_role(const struct emc_room *r, int64_t user)
{
	if (!r->active.version)
		return NULL;
	for (size_t i = 0; i < r->active.n; i++)
		if (r->active.parties[i].user_id == user)
			return r->active.parties[i].role;
	return NULL;
}

/*
 * One record opened: {"number","author_id","author","epoch","created_at",
 * "written_at"?,"text"|"error","warning"?}. `expect` is the number it should
 * have (its place in the list): another one is reported (withheld or
 * reordered by the server). Who frees: the caller.
 */
static json_t *emc_diary_open(struct emc *c, struct emc_room *r, int64_t checkpoint, unsigned kind,
                              json_t *rec, int64_t expect)
{
	const char *ct_b64 = json_string_value(json_object_get(rec, "ciphertext"));
	const char *sig_b64 = json_string_value(json_object_get(rec, "sig"));
	const char *created = json_string_value(json_object_get(rec, "created_at"));
	int64_t number = json_integer_value(json_object_get(rec, "number"));
	int64_t epoch = json_integer_value(json_object_get(rec, "epoch"));
	int64_t author = json_integer_value(json_object_get(rec, "author_id"));
	unsigned char *ct = malloc(EM_MSG_CIPHERTEXT_MAX), *plain = NULL;
	unsigned char sig[EM_SIG_BYTES], key[EM_ROOM_KEY_BYTES];
	char name[EM_USERNAME_MAX + 1] = "?", error[256] = "", warning[256] = "";
	int wrong_role = 0;
	struct em_diary_ref ref;
	uint64_t written_ms = 0;
	size_t plain_len = 0;
	int ct_len = -1, have_key = 0, st;
	const char *role;
	struct pin p;
	json_t *view;

	if (ct && ct_b64)
		ct_len = em_b64_decode(ct_b64, ct, EM_MSG_CIPHERTEXT_MAX);
	if (!ct || ct_len < 0 || number < 1 || number > EM_DIARY_NUMBER_MAX || epoch < 1 ||
	    author < 1 || !sig_b64 ||
	    em_b64_decode(sig_b64, sig, sizeof(sig)) != (int)sizeof(sig)) {
		snprintf(error, sizeof(error), "(cannot read: the server sent a malformed record)");
		goto out;
	}
	if (emc_user_keys(c, author, &p) != 0) {
		snprintf(
		    error, sizeof(error),
		    "(UNVERIFIABLE: no pinned key for user %lld — the server never showed them "
		    "as a member of room %lld)",
		    (long long)author, (long long)r->id);
		goto out;
	}
	snprintf(name, sizeof(name), "%s", p.username);
	have_key = roomkeys_get(c->roomkeys, r->id, epoch, key, NULL) == 0;
	if (!have_key)
		sodium_memzero(key, sizeof(key)); /* the signature is still checked first */
	if (!(plain = malloc((size_t)ct_len + 1))) {
		snprintf(error, sizeof(error), "(cannot decrypt: out of memory)");
		goto out;
	}
	ref = (struct em_diary_ref){.room_id = (uint64_t)r->id,
	                            .checkpoint_id = (uint64_t)checkpoint,
	                            .epoch = (uint64_t)epoch,
	                            .author_id = (uint64_t)author,
	                            .kind = kind,
	                            .number = (uint32_t)number};
	st = em_diary_decrypt(key, &ref, ct, (size_t)ct_len, sig, p.sign_pk, &written_ms, plain,
	                      &plain_len);
	if (st == EM_MSG_BAD_SIGNATURE)
		snprintf(error, sizeof(error),
		         "(UNVERIFIABLE: not signed by %s's pinned key for this %s of meeting %lld "
		         "in room %lld — moved, renumbered or forged%s)",
		         p.username, kind == EM_DIARY_ENTRY ? "entry" : "remark",
		         (long long)checkpoint, (long long)r->id,
		         p.changed ? "; their keys changed, see `ementor trust`" : "");
	else if (!have_key)
		snprintf(error, sizeof(error),
		         "(cannot decrypt: no key for epoch %lld of room %lld)", (long long)epoch,
		         (long long)r->id);
	else if (st == EM_MSG_UNDECRYPTABLE)
		snprintf(error, sizeof(error),
		         "(cannot decrypt: it does not open with the key of epoch %lld)",
		         (long long)epoch);
	else if (st != EM_MSG_OK || !text_is_utf8((const char *)plain, plain_len))
		snprintf(error, sizeof(error), "(cannot show: malformed contents)");
	if (error[0])
		goto out;
	role = emc_diary_role(r, author);
	if (role && strcmp(role, kind == EM_DIARY_ENTRY ? "mentee" : "mentor") && ++wrong_role)
		snprintf(warning, sizeof(warning),
		         "%s is the %s under the agreement: a %s is not theirs to write", name,
		         role, kind == EM_DIARY_ENTRY ? "diary entry" : "mentor's remark");
	else if (number != expect)
		snprintf(warning, sizeof(warning),
		         "number %lld where %lld was expected: the server withheld or reordered "
		         "records",
		         (long long)number, (long long)expect);
out:
	view = json_pack("{s:I, s:I, s:s, s:I, s:s}", "number", (json_int_t)number, "author_id",
	                 (json_int_t)author, "author", name, "epoch", (json_int_t)epoch,
	                 "created_at", created ? created : "");
	if (view) {
		if (error[0] || !plain) {
			json_object_set_new(view, "error",
			                    json_string(error[0] ? error : "(cannot read)"));
		} else {
			json_object_set_new(view, "text",
			                    json_stringn((const char *)plain, plain_len));
			json_object_set_new(view, "written_ms",
			                    json_integer((json_int_t)written_ms));
		}
		json_object_set_new(view, "verified", json_boolean(!error[0] && plain));
		if (wrong_role)
			json_object_set_new(view, "wrong_role", json_true());
		if (warning[0])
			json_object_set_new(view, "warning", json_string(warning));
	}
	if (plain) {
		sodium_memzero(plain, (size_t)ct_len + 1);
		free(plain);
	}
	free(ct);
	sodium_memzero(key, sizeof(key));
	return view;
}

/* Every epoch the records use has its key, or keys.get said what it has. A need. */
static int emc_diary_keys(struct emc *c, struct emc_room *r, json_t *doc)
{
	const char *lists[] = {"entries", "remarks"};
	unsigned char key[EM_ROOM_KEY_BYTES];
	int64_t want = 0;
	struct emc_task dummy;
	json_t *rec;
	size_t i;
	int rc;

	for (size_t l = 0; l < 2; l++)
		json_array_foreach(json_object_get(doc, lists[l]), i, rec)
		{
			int64_t epoch = json_integer_value(json_object_get(rec, "epoch"));

			if (epoch > 0 && roomkeys_get(c->roomkeys, r->id, epoch, key, NULL) != 0 &&
			    epoch > want)
				want = epoch;
		}
	sodium_memzero(key, sizeof(key));
	if (!want)
		return EMC_DONE;
	if (r->keys == EMC_FACT_HAVE && want > r->keys_epoch)
		r->keys = EMC_FACT_NONE;
	if (r->keys == EMC_FACT_HAVE || r->keys == EMC_FACT_FAILED)
		return EMC_DONE;
	if (r->keys == EMC_FACT_ASKED) {
		emc_keys_settle(c, r);
		return r->keys == EMC_FACT_ASKED ? EMC_PENDING : EMC_DONE;
	}
	memset(&dummy, 0, sizeof(dummy)); /* a failure is shown per record, not reported */
	rc = emc_room_keys(c, &dummy, r);
	return rc == EMC_FAILED ? EMC_DONE : rc;
}

static json_t *emc_diary_list_open(struct emc *c, struct emc_room *r, int64_t checkpoint,
                                   unsigned kind, json_t *list, int *all_ok)
{
	json_t *out = json_array(), *rec;
	size_t i;

	json_array_foreach(list, i, rec)
	{
		json_t *view = emc_diary_open(c, r, checkpoint, kind, rec, (int64_t)i + 1);

		if (!view)
			continue;
		if (!json_is_true(json_object_get(view, "verified")) ||
		    json_object_get(view, "warning"))
			*all_ok = 0;
		json_array_append_new(out, view);
	}
	return out;
}

static int emc_diary_show_step(struct emc *c, struct emc_task *t)
{
	struct emc_diary *dy = t->data;
	struct emc_task dummy;
	struct emc_room *r;
	json_t *entries, *remarks, *latest = NULL, *view;
	int rc, all_ok = 1;
	size_t i;

	if (dy->answered)
		return emc_fail_server(c, t, &dy->reply);
	if (!dy->doc)
		return emc_diary_ask(c, t, dy);
	if (!(r = emc_diary_room(c, t, dy)))
		return EMC_FAILED;
	if ((rc = emc_room_ready(c, t, r)) != EMC_DONE)
		return rc;
	if (r->required && r->agreement != EMC_FACT_HAVE && r->agreement != EMC_FACT_FAILED) {
		/* the roles the agreement signs (best effort: without it, none is checked) */
		memset(&dummy, 0, sizeof(dummy));
		if (emc_room_agreement(c, &dummy, r) == EMC_PENDING)
			return EMC_PENDING;
	}
	if ((rc = emc_diary_keys(c, r, dy->doc)) != EMC_DONE)
		return rc;
	entries = emc_diary_list_open(c, r, dy->checkpoint, EM_DIARY_ENTRY,
	                              json_object_get(dy->doc, "entries"), &all_ok);
	remarks = emc_diary_list_open(c, r, dy->checkpoint, EM_DIARY_REMARK,
	                              json_object_get(dy->doc, "remarks"), &all_ok);
	json_array_foreach(entries, i, view)
	{
		if (json_is_true(json_object_get(view, "verified")) &&
		    !json_object_get(view, "wrong_role"))
			latest = view; /* the latest version a mentee verifiably wrote */
	}
	t->result = json_deep_copy(dy->doc);
	if (!t->result || !entries || !remarks) {
		json_decref(entries);
		json_decref(remarks);
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	}
	json_object_set(t->result, "entry", latest ? latest : json_null());
	json_object_set_new(t->result, "entries", entries);
	json_object_set_new(t->result, "remarks", remarks);
	json_object_set_new(t->result, "verified", json_boolean(all_ok));
	json_object_set_new(t->result, "roles_checked", json_boolean(r->active.version != 0));
	return EMC_DONE;
}

/* ---- writing ---- */

/* The number the next record of our kind takes: one past the highest listed. */
static int64_t emc_diary_next(const struct emc_diary *dy)
{
	json_t *rec;
	int64_t max = 0;
	size_t i;

	json_array_foreach(
	    json_object_get(dy->doc, dy->kind == EM_DIARY_ENTRY ? "entries" : "remarks"), i, rec)
	{
		int64_t n = json_integer_value(json_object_get(rec, "number"));

		if (n > max)
			max = n;
	}
	return max + 1;
}

/* Seals, signs and sends the record at the room's current epoch. EMC_PENDING or failed. */
static int emc_diary_send(struct emc *c, struct emc_task *t, struct emc_diary *dy,
                          struct emc_room *r, const unsigned char key[EM_ROOM_KEY_BYTES])
{
	int64_t number = emc_diary_next(dy);
	unsigned char *ct = malloc(EM_MSG_CIPHERTEXT_MAX), sig[EM_SIG_BYTES];
	struct em_diary_ref ref = {.room_id = (uint64_t)r->id,
	                           .checkpoint_id = (uint64_t)dy->checkpoint,
	                           .epoch = (uint64_t)r->epoch,
	                           .author_id = (uint64_t)c->session.user_id,
	                           .kind = dy->kind,
	                           .number = (uint32_t)number};
	char *ct_b64 = NULL, *sig_b64 = NULL;
	int n, rc = EMC_PENDING;

	if (number > EM_DIARY_NUMBER_MAX) {
		free(ct);
		return emc_fail(t, EMC_EXIT_REFUSED, 0, "this meeting has %d records of that kind",
		                EM_DIARY_NUMBER_MAX);
	}
	n = ct ? em_diary_encrypt(key, &ref, (uint64_t)emc_now(c), (const unsigned char *)dy->text,
	                          dy->text_len, c->keys.sign_sk, ct, sig)
	       : -1;
	if (n >= 0) {
		ct_b64 = em_b64_encode(ct, (size_t)n);
		sig_b64 = em_b64_encode(sig, sizeof(sig));
	}
	free(ct);
	if (!ct_b64 || !sig_b64 ||
	    emc_request(c, dy->kind == EM_DIARY_ENTRY ? EM_OP_DIARY_WRITE : EM_OP_DIARY_REMARK,
	                json_pack("{s:I, s:I, s:I, s:s, s:s}", "checkpoint_id",
	                          (json_int_t)dy->checkpoint, "epoch", (json_int_t)r->epoch,
	                          dy->kind == EM_DIARY_ENTRY ? "version" : "number",
	                          (json_int_t)number, "ciphertext", ct_b64, "sig", sig_b64),
	                emc_diary_sent, r->id, t->id) < 0)
		rc = emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	else
		dy->sending = 1;
	free(ct_b64);
	free(sig_b64);
	return rc;
}

/* The answer to our write: done, or look again (a new epoch, a number taken). */
static int emc_diary_answer(struct emc *c, struct emc_task *t, struct emc_diary *dy,
                            struct emc_room *r)
{
	int err = dy->reply.err;

	dy->answered = 0;
	if (dy->reply.result) {
		emc_epoch_seen(c, r->id, r->epoch);
		t->result = json_incref(dy->reply.result);
		return EMC_DONE;
	}
	if (++dy->attempts >= EMC_DIARY_ATTEMPTS ||
	    (err != EM_ERR_STALE_EPOCH && err != EM_ERR_ROTATE_REQUIRED &&
	     err != EM_ERR_STALE_VERSION))
		return emc_fail_room_reply(c, t, &dy->reply, r->id);
	if (err == EM_ERR_STALE_EPOCH)
		emc_room_forget(r);
	else if (err == EM_ERR_ROTATE_REQUIRED)
		r->rotate_required = 1;
	json_decref(dy->doc); /* the numbers again */
	dy->doc = NULL;
	em_incoming_clear(&dy->reply);
	return EMC_RETRY;
}

static int emc_diary_write_step(struct emc *c, struct emc_task *t)
{
	struct emc_diary *dy = t->data;
	unsigned char key[EM_ROOM_KEY_BYTES];
	struct emc_room *r;
	int rc, have;

	for (;;) {
		if (dy->sending || dy->asked)
			return EMC_PENDING;
		if (dy->answered && !dy->doc)
			return emc_fail_server(c, t, &dy->reply); /* diary.show refused */
		if (!dy->doc)
			return emc_diary_ask(c, t, dy);
		if (!(r = emc_diary_room(c, t, dy)))
			return EMC_FAILED;
		if (dy->answered) {
			if ((rc = emc_diary_answer(c, t, dy, r)) == EMC_RETRY)
				continue;
			return rc;
		}
		if ((rc = emc_room_ready(c, t, r)) != EMC_DONE)
			return rc;
		if (!emc_room_member(c, r))
			return emc_fail(t, EMC_EXIT_REFUSED, EM_ERR_NOT_MEMBER,
			                "you are not a member of room %lld", (long long)r->id);
		if (r->blocked_by[0])
			return emc_fail(
			    t, EMC_EXIT_REFUSED, 0,
			    "not writing to room %lld: the keys or the name of %s changed. "
			    "Check with %s in person (`ementor verify %s`), then run "
			    "`ementor trust %s`",
			    (long long)r->id, r->blocked_by, r->blocked_by, r->blocked_by,
			    r->blocked_by);
		if (!r->refused[0] && (rc = emc_check_epoch(c, t, r)) != EMC_DONE)
			return rc;
		if (r->refused[0])
			return emc_fail(t, EMC_EXIT_REFUSED, 0, "not writing to room %lld: %s",
			                (long long)r->id, r->refused);
		rc = emc_write_key(c, t, r, key, &have);
		if (rc != EMC_DONE || !have) {
			if (rc == EMC_RETRY && ++dy->attempts < EMC_DIARY_ATTEMPTS)
				continue;
			if (rc == EMC_DONE)
				continue; /* with the new key */
			return rc == EMC_RETRY
			           ? emc_fail(t, EMC_EXIT_REFUSED, 0,
			                      "room %lld kept changing its key epoch; try "
			                      "again",
			                      (long long)r->id)
			           : rc;
		}
		rc = emc_diary_send(c, t, dy, r, key);
		sodium_memzero(key, sizeof(key));
		return rc;
	}
}

static int64_t emc_diary_start(struct emc *c, json_t *cmd, unsigned kind)
{
	struct emc_diary *dy;
	struct emc_task *t;
	const char *text = json_string_value(json_object_get(cmd, "text"));
	int64_t checkpoint = json_integer_value(json_object_get(cmd, "checkpoint"));

	if (checkpoint < 1 || (kind && (!text || !*text)))
		return -EINVAL;
	if (!(dy = calloc(1, sizeof(*dy))))
		return -ENOMEM;
	dy->checkpoint = checkpoint;
	dy->kind = kind;
	t = emc_task_new(c,
	                 kind == EM_DIARY_ENTRY    ? "diary.write"
	                 : kind == EM_DIARY_REMARK ? "diary.remark"
	                                           : "diary.show",
	                 kind ? emc_diary_write_step : emc_diary_show_step, emc_diary_free, dy);
	if (!t) {
		free(dy);
		return -ENOMEM;
	}
	if (kind) {
		dy->text_len = strlen(text);
		if (dy->text_len > EM_MSG_PLAINTEXT_MAX)
			emc_fail(t, EMC_EXIT_USAGE, 0, "the text is longer than %d bytes",
			         EM_MSG_PLAINTEXT_MAX);
		else if (!text_is_utf8(text, dy->text_len))
			emc_fail(t, EMC_EXIT_USAGE, 0, "the text is not valid UTF-8");
		else if (!(dy->text = malloc(dy->text_len + 1)))
			emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		else
			memcpy(dy->text, text, dy->text_len + 1);
	}
	return t->id;
}

/* {"cmd":"diary.show","checkpoint"}: the meeting's diary, every record verified and opened. */
int64_t emc_cmd_diary_show(struct emc *c, json_t *cmd)
{
	return emc_diary_start(c, cmd, 0);
}

/* {"cmd":"diary.write"|"diary.remark","checkpoint","text"}: a new entry version or remark. */
int64_t emc_cmd_diary_write(struct emc *c, json_t *cmd)
{
	const char *name = json_string_value(json_object_get(cmd, "cmd"));

	return emc_diary_start(
	    c, cmd, name && !strcmp(name, "diary.remark") ? EM_DIARY_REMARK : EM_DIARY_ENTRY);
}

/* {"cmd":"diary.writer","checkpoint","set"?: username}: the server's word on who writes. */
int64_t emc_cmd_diary_writer(struct emc *c, json_t *cmd)
{
	int64_t checkpoint = json_integer_value(json_object_get(cmd, "checkpoint"));
	const char *set = json_string_value(json_object_get(cmd, "set"));

	if (checkpoint < 1 || (json_object_get(cmd, "set") && !set))
		return -EINVAL;
	if (set)
		return emc_call_start(c, "diary.writer", EM_OP_DIARY_WRITER_SET,
		                      json_pack("{s:I, s:s}", "checkpoint_id",
		                                (json_int_t)checkpoint, "username", set));
	return emc_call_start(c, "diary.writer", EM_OP_DIARY_WRITER_GET,
	                      json_pack("{s:I}", "checkpoint_id", (json_int_t)checkpoint));
}

/* {"cmd":"diary.list","room"}: the room's meetings and how many records each has. */
int64_t emc_cmd_diary_list(struct emc *c, json_t *cmd)
{
	int64_t room = json_integer_value(json_object_get(cmd, "room"));

	if (room < 1)
		return -EINVAL;
	return emc_call_start(c, "diary.list", EM_OP_DIARY_LIST,
	                      json_pack("{s:I}", "room_id", (json_int_t)room));
}
