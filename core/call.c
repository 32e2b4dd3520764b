/*
 * call.c - the "call" command: a request the core passes through to the
 * server and whose answer it hands back as it came.
 *
 * DESIGN. A frontend needs the operations that carry no content, keys or
 * signatures — room lists, checkpoints, calendars, audit reports — and the
 * core has nothing to decide about them. Rather than a command per
 * operation, "call" sends one on the core's link (so the host keeps one
 * WebSocket and one session) and returns the server's result unchanged. The
 * operations whose answers a client must check or whose arguments it must
 * seal or sign (messages, keys, agreements, consent, accounts, room and
 * programme views that pin keys) are refused here: they have commands of
 * their own that make those checks. A result of "call" is the server's word
 * only; docs/CLIENT-CORE.md says so.
 *
 * A manager's operations carry names, dates, roles and counts only
 * (programme.create/edit/end/archive/history, room.rename, invite.list/
 * resend/revoke, agreement.template.set: the template is the plain text
 * every party later reads and signs through agreement.sign, which checks
 * what it signs), so they pass too. room.show passes with its members'
 * keys and fingerprints taken out: the core pins keys from its own
 * room.show, and a frontend must not show a fingerprint the core did not
 * compute (the "verify" command gives those).
 *
 * "programme.settings" is the same request with one thing the core adds:
 * the programme's setting signed with this device's key (SECURITY.md G1:
 * members believe a programme without agreements only with its creator's
 * signature), so that no frontend signs it itself. "agreement.propose"
 * (agree.c) is one too, once its term is checked: emc_call_start() serves
 * all three.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* What "call" may pass through: nothing a client must seal, sign or check. */
static const enum em_op emc_call_ops[] = {
    EM_OP_PING,
    EM_OP_WHOAMI,
    EM_OP_INVITE_CREATE,
    EM_OP_PROGRAMME_LIST,
    EM_OP_ROOM_CREATE,
    EM_OP_ROOM_LIST,
    EM_OP_ROOM_ADD,
    EM_OP_ROOM_REMOVE,
    EM_OP_CHECKPOINT_LIST,
    EM_OP_CHECKPOINT_PROPOSE,
    EM_OP_CHECKPOINT_ANSWER,
    EM_OP_CHECKPOINT_RESCHEDULE,
    EM_OP_CHECKPOINT_CANCEL,
    EM_OP_CHECKPOINT_ABSENT,
    EM_OP_CHECKPOINT_RECORD,
    EM_OP_CHECKPOINT_ATTEND,
    EM_OP_CHECKPOINT_WINDOW,
    EM_OP_MEETING_ADD, /* time, place and mode only; its topic is meeting.c's */
    EM_OP_CALENDAR_URL,
    EM_OP_CALENDAR_REVOKE,
    EM_OP_CALENDAR_EXPORT,
    EM_OP_NOTICE_LIST,
    EM_OP_NOTICE_ACK,
    EM_OP_AGREEMENT_TEMPLATE_GET,
    EM_OP_AUDIT_REPORT,
    EM_OP_AUDIT_THRESHOLDS,
    EM_OP_ROOM_ACCESS_LOG,
    EM_OP_ACCOUNT_EXPORT, /* the export's data as the server holds it; messages are opened by "read"
                           */
    EM_OP_PROGRAMME_CREATE,
    EM_OP_PROGRAMME_EDIT,
    EM_OP_PROGRAMME_END,
    EM_OP_PROGRAMME_ARCHIVE,
    EM_OP_PROGRAMME_HISTORY,
    EM_OP_ROOM_SHOW, /* members' keys taken out: emc_call_unkeyed() */
    EM_OP_ROOM_RENAME,
    EM_OP_INVITE_LIST,
    EM_OP_INVITE_RESEND,
    EM_OP_INVITE_REVOKE,
    EM_OP_AGREEMENT_TEMPLATE_SET,
    EM_OP_SUPPORT_OPEN, /* a room like room.create's (keys taken out): its trust is room.c's */
};

struct emc_call {
	enum em_op op;
	json_t *args;
	int asked;
	int answered;
	struct em_incoming reply; /* result or error, owned */
};

static int emc_call_allowed(enum em_op op)
{
	for (size_t i = 0; i < sizeof(emc_call_ops) / sizeof(emc_call_ops[0]); i++)
		if (emc_call_ops[i] == op)
			return 1;
	return 0;
}

static void emc_call_reply(struct emc *c, int64_t room, int64_t task, struct em_incoming *in)
{
	struct emc_task *t = emc_task_find(c, task);
	struct emc_call *k;

	(void)room;
	if (!t || t->done)
		return;
	k = t->data;
	k->answered = 1;
	emc_reply_copy(&k->reply, in);
}

static void emc_call_free(struct emc_task *t)
{
	struct emc_call *k = t->data;

	if (!k)
		return;
	json_decref(k->args);
	em_incoming_clear(&k->reply);
	free(k);
}

/*
 * room.show's result without its members' public keys and fingerprints (a
 * copy; the caller owns it), or NULL when out of memory.
 */
static json_t *emc_call_unkeyed(json_t *result)
{
	json_t *copy = json_deep_copy(result), *m;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(copy, "room"), "members"), i, m)
	{
		json_object_del(m, "sign_pk");
		json_object_del(m, "box_pk");
		json_object_del(m, "fingerprint");
	}
	return copy;
}

static int emc_call_step(struct emc *c, struct emc_task *t)
{
	struct emc_call *k = t->data;

	if (!k->asked) {
		if (emc_request(c, k->op, json_incref(k->args), emc_call_reply, 0, t->id) < 0)
			return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
		k->asked = 1;
	}
	if (!k->answered)
		return EMC_PENDING;
	if (!k->reply.result)
		return emc_fail_reply(t, &k->reply);
	t->result = k->op == EM_OP_ROOM_SHOW || k->op == EM_OP_SUPPORT_OPEN
	                ? emc_call_unkeyed(k->reply.result)
	                : json_incref(k->reply.result);
	if (!t->result)
		return emc_fail(t, EMC_EXIT_LOCAL, 0, "out of memory");
	return EMC_DONE;
}

int64_t emc_call_start(struct emc *c, const char *name, enum em_op op, json_t *args)
{
	struct emc_call *k = args ? calloc(1, sizeof(*k)) : NULL;
	struct emc_task *t = k ? emc_task_new(c, name, emc_call_step, emc_call_free, k) : NULL;

	if (!t) {
		json_decref(args);
		free(k);
		return -ENOMEM;
	}
	k->op = op;
	k->args = args;
	return t->id;
}

/* {"cmd":"call","op":"room.list","args":{…}}: the server's result as it is. */
int64_t emc_cmd_call(struct emc *c, json_t *cmd)
{
	const char *name = json_string_value(json_object_get(cmd, "op"));
	json_t *args = json_object_get(cmd, "args");
	enum em_op op = name ? em_op_from_name(name) : EM_OP_NONE;
	struct emc_task *t;

	if (args && !json_is_object(args))
		return -EINVAL;
	if (op == EM_OP_NONE || !emc_call_allowed(op)) {
		t = emc_task_new(c, "call", NULL, NULL, NULL);
		if (!t)
			return -ENOMEM;
		emc_fail(t, EMC_EXIT_USAGE, 0,
		         "\"call\" does not pass %s through: it is not an operation, or one the "
		         "core carries out itself (docs/CLIENT-CORE.md)",
		         name ? name : "this");
		return t->id;
	}
	return emc_call_start(c, "call", op, args ? json_deep_copy(args) : json_object());
}

/*
 * {"cmd":"programme.settings","programme":ID,"agreement_required":false}:
 * the setting signed here with our key (as the programme's creator; the
 * server refuses anyone else's) and sent; the server's result.
 */
int64_t emc_cmd_programme_settings(struct emc *c, json_t *cmd)
{
	json_int_t id = json_integer_value(json_object_get(cmd, "programme"));
	json_t *req = json_object_get(cmd, "agreement_required");
	unsigned char sig[EM_SIG_BYTES];
	json_t *args;
	char *sig_b64;

	if (id < 1 || !json_is_boolean(req))
		return -EINVAL;
	em_programme_sign((uint64_t)id, (uint64_t)c->session.user_id, json_is_true(req),
	                  c->keys.sign_sk, sig);
	sig_b64 = em_b64_encode(sig, sizeof(sig));
	if (!sig_b64)
		return -ENOMEM;
	args = json_pack("{s:I, s:b, s:s}", "programme_id", id, "agreement_required",
	                 json_is_true(req), "signature", sig_b64);
	free(sig_b64);
	return emc_call_start(c, "programme.settings", EM_OP_PROGRAMME_SETTINGS, args);
}
