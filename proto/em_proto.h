/*
 * em_proto.h - the ementor.v1 wire protocol: error codes, limits, request
 * validation and frame encoding.
 *
 * This is the one place that knows the shape of every frame. The server uses
 * it to reject hostile input before anything else looks at it; the CLI uses it
 * to build requests and read replies. It depends on jansson only: no sockets,
 * no lws, no libpq, so every function here is unit-testable and fuzzable.
 *
 * Frames (docs/PROTOCOL.md is the contract):
 *   request  {"id": <int>, "op": "<name>", "args": {...}}
 *   reply    {"re": <id>, "ok": {...}}  or  {"re": <id>, "error": {"code", "message",
 * "retry_after_ms"?}} event    {"ev": "<name>", "data": {...}}
 */
#ifndef EM_PROTO_H
#define EM_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "em_errors.h"

#define EM_SUBPROTOCOL "ementor.v1"
#define EM_VERSION     "0.1.0"

/* WebSocket close codes the server uses beyond RFC 6455's (PROTOCOL.md 1). */
#define EM_CLOSE_AUTH_TIMEOUT  4001 /* no login within the auth deadline */
#define EM_CLOSE_ERASED        4003 /* the account was erased (data-processing consent withdrawn) */
#define EM_CLOSE_SESSION_ENDED 4004 /* the session was revoked (logout, passwd) or expired */
#define EM_CLOSE_SLOW_CONSUMER 4008 /* output queue over the per-connection cap */

/* Limits a peer must respect; each one is documented in PROTOCOL.md. */
#define EM_MAX_FRAME             (64 * 1024)
#define EM_MAX_REQUEST_ID        9007199254740991LL /* 2^53 - 1: exact in a JS number */
#define EM_USERNAME_MIN          3
#define EM_USERNAME_MAX          32
#define EM_DISPLAY_NAME_MAX      64
#define EM_PROGRAMME_NAME_MAX    100
#define EM_ROOM_NAME_MAX         100
#define EM_CHECKPOINT_TEXT_MAX   200 /* a slot's place, a reason */
#define EM_CHECKPOINT_SLOTS_MAX  5   /* slots per propose / reschedule */
#define EM_IMPORT_ROWS_MAX       200 /* rows per invite.import (a client sends a long list in parts) */
#define EM_TOPIC_TEXT_MAX        1000 /* a meeting topic, UTF-8 bytes (section 6.4) */
#define EM_TOPIC_CT_MIN          104  /* nonce(24) + sodium_pad(9, 64) + tag(16) */
#define EM_TOPIC_CT_MAX          1064 /* nonce(24) + sodium_pad(1008, 64) + tag(16) */
#define EM_TOPIC_REVISION_MAX    1000000
#define EM_INVITE_CODE_MIN       16
#define EM_INVITE_CODE_MAX       64
#define EM_TOKEN_MAX             64
#define EM_SALT_BYTES            16
#define EM_KEY_BYTES             32
#define EM_KEY_BACKUP_BYTES      136 /* nonce(24) + sign_sk(64) + box_sk(32) + tag(16) */
#define EM_RESET_CODE_BYTES      20  /* a manager-issued identity reset code */
#define EM_SYNC_ROOMS_MAX        1000
#define EM_HISTORY_PAGE_MAX      500
#define EM_ROOM_MEMBERS_MAX      6     /* 1 mentor + 5 mentees */
#define EM_TERM_MAX              1000  /* one proposed addition to an agreement */
#define EM_TEMPLATE_MAX          20000 /* an agreement template */
#define EM_CONSENT_STR_MAX       64    /* purpose, subject, privacy notice version */
#define EM_RETENTION_DAYS_MAX    3650
#define EM_AGREEMENT_VERSION_MAX 1000000 /* versions of one room's agreement */
#define EM_DIARY_NUMBER_MAX      1000    /* versions of an entry, remarks per meeting */
#define EM_GROUP_MENTEES_MIN     2
#define EM_RECORD_ID_BYTES       16   /* a goal's or rating's client-made id */
#define EM_MIDTERM_VERSION_MAX   1000 /* versions of one author's mid-term record */
#define EM_RECORD_BLOB_MIN       64   /* a sealed goal or rating (PROTOCOL.md 10.1) */
#define EM_RECORD_BLOB_MAX       32768
#define EM_GOAL_VERSION_MAX      100000 /* versions of one goal */
#define EM_GOAL_TASKS_MAX        50     /* tasks of one goal */
#define EM_QUEST_DOC_MAX         20000  /* a questionnaire's JSON text (PROTOCOL.md 11.1) */
#define EM_QUEST_VERSION_MAX     100000 /* versions of one questionnaire */
#define EM_PROFILE_FORM_MAX      16000  /* a profile questionnaire's JSON text (PROTOCOL.md 14) */
#define EM_PROFILE_BLOB_MAX      24000  /* a sealed profile (PROTOCOL.md 14) */
#define EM_PROFILE_PAGE_MAX      200    /* profiles per profile.list page */
#define EM_REPORT_BLOB_MAX       45000  /* a sealed concern report (PROTOCOL.md 13): fits a frame */
#define EM_REPORT_MESSAGES_MAX   20     /* messages one report quotes */
#define EM_REPORT_NOTE_MAX       2000   /* a reporter's or manager's note, UTF-8 bytes */
#define EM_ANNOUNCE_TEXT_MAX     2000   /* an announcement's text, UTF-8 bytes (PROTOCOL.md 15.2) */
#define EM_ANNOUNCE_BODY_MAX     4096   /* its signed ciphertext */
#define EM_ANNOUNCE_KEY_BYTES    88     /* u64 user id || crypto_box_seal of a 32-byte key */
#define EM_ANNOUNCE_BATCH_MAX    250    /* key records per announce.send / announce.keys frame */
#define EM_ANNOUNCE_TO_MAX       5000   /* key records per announcement */
#define EM_GROUP_MENTEES_MAX     5
#define EM_KDF_OPSLIMIT_MIN      2
#define EM_KDF_OPSLIMIT_MAX      10
#define EM_KDF_MEMLIMIT_MIN      (64ULL * 1024 * 1024)
#define EM_KDF_MEMLIMIT_MAX      (1024ULL * 1024 * 1024)

/* Every request the protocol knows. Order is irrelevant; names are the wire. */
enum em_op {
	EM_OP_NONE = 0,
	EM_OP_PING,
	EM_OP_PRELOGIN,
	EM_OP_REGISTER,
	EM_OP_LOGIN,
	EM_OP_RESUME,
	EM_OP_LOGOUT,
	EM_OP_WHOAMI,
	EM_OP_PASSWD,
	EM_OP_INVITE_CREATE,
	EM_OP_INVITE_ACCEPT,
	EM_OP_PROGRAMME_CREATE,
	EM_OP_PROGRAMME_LIST,
	EM_OP_PROGRAMME_SHOW,
	EM_OP_ROOM_CREATE,
	EM_OP_ROOM_LIST,
	EM_OP_ROOM_SHOW,
	EM_OP_ROOM_ADD,
	EM_OP_ROOM_REMOVE,
	EM_OP_SYNC,
	EM_OP_HISTORY,
	EM_OP_SEND,
	EM_OP_RECEIPT,
	EM_OP_TYPING,
	EM_OP_EPOCH_COMMIT,
	EM_OP_KEYS_GET,
	EM_OP_CHECKPOINT_LIST,
	EM_OP_CHECKPOINT_PROPOSE,
	EM_OP_CHECKPOINT_ANSWER,
	EM_OP_CHECKPOINT_RESCHEDULE,
	EM_OP_CHECKPOINT_CANCEL,
	EM_OP_CHECKPOINT_ABSENT,
	EM_OP_CHECKPOINT_RECORD,
	EM_OP_CHECKPOINT_ATTEND,
	EM_OP_CHECKPOINT_WINDOW,
	EM_OP_CALENDAR_URL,
	EM_OP_CALENDAR_REVOKE,
	EM_OP_CALENDAR_EXPORT,
	EM_OP_NOTICE_LIST,
	EM_OP_NOTICE_ACK,
	EM_OP_PRIVACY_NOTICE,
	EM_OP_AGREEMENT_SHOW,
	EM_OP_AGREEMENT_SIGN,
	EM_OP_AGREEMENT_PROPOSE,
	EM_OP_AGREEMENT_TEMPLATE_GET,
	EM_OP_AGREEMENT_TEMPLATE_SET,
	EM_OP_CONSENT_LIST,
	EM_OP_CONSENT_GRANT,
	EM_OP_CONSENT_WITHDRAW,
	EM_OP_ACCOUNT_EXPORT,
	EM_OP_AUDIT_REPORT,
	EM_OP_AUDIT_THRESHOLDS,
	EM_OP_ROOM_ACCESS_LOG,
	EM_OP_PROGRAMME_SETTINGS,
	EM_OP_DIARY_WRITER_GET,
	EM_OP_DIARY_WRITER_SET,
	EM_OP_DIARY_WRITE,
	EM_OP_DIARY_REMARK,
	EM_OP_DIARY_SHOW,
	EM_OP_DIARY_LIST,
	EM_OP_GOAL_CREATE,
	EM_OP_GOAL_UPDATE,
	EM_OP_GOAL_LIST,
	EM_OP_GOAL_HISTORY,
	EM_OP_RATING_ADD,
	EM_OP_RATING_LIST,
	EM_OP_MEETING_ADD, /* section 6.4 */
	EM_OP_MEETING_PLAN,
	EM_OP_MEETING_TOPIC,
	EM_OP_PROGRAMME_EDIT, /* section 4.3 */
	EM_OP_PROGRAMME_END,
	EM_OP_PROGRAMME_ARCHIVE,
	EM_OP_PROGRAMME_HISTORY,
	EM_OP_ROOM_RENAME,
	EM_OP_RECOVERY_SET, /* section 4, "Recovery code" */
	EM_OP_RECOVERY_OPEN,
	EM_OP_RECOVERY_RESET,
	EM_OP_QUESTIONNAIRE_GET, /* section 11 */
	EM_OP_QUESTIONNAIRE_SET,
	EM_OP_QUESTIONNAIRE_ANSWER,
	EM_OP_QUESTIONNAIRE_ANSWERS,
	EM_OP_PROGRESS_SHARE,
	EM_OP_PROGRESS_LIST,
	EM_OP_MIDTERM_WRITE, /* section 6.6 */
	EM_OP_MIDTERM_SHOW,
	EM_OP_MAIL_SHOW, /* section 12: e-mail */
	EM_OP_MAIL_SET,
	EM_OP_MAIL_VERIFY,
	EM_OP_INVITE_LIST,
	EM_OP_INVITE_RESEND,
	EM_OP_INVITE_REVOKE,
	EM_OP_INVITE_IMPORT,
	EM_OP_REPORT_CREATE, /* section 13: concern reports */
	EM_OP_REPORT_LIST,
	EM_OP_REPORT_SHOW,
	EM_OP_REPORT_HANDLE,
	EM_OP_RESET_ISSUE, /* section 4, "Identity reset" */
	EM_OP_RESET_REDEEM,
	EM_OP_PROFILE_FORM, /* section 14: profiles for matching */
	EM_OP_PROFILE_FORM_SET,
	EM_OP_PROFILE_PUT,
	EM_OP_PROFILE_LIST,
	EM_OP_SUPPORT_OPEN, /* section 15: the manager's support channel */
	EM_OP_ANNOUNCE_SEND,
	EM_OP_ANNOUNCE_KEYS,
	EM_OP_ANNOUNCE_LIST,
	EM_OP__COUNT
};

/* Flags describing who may send an op; the server enforces them. */
#define EM_OPF_PREAUTH 1 /* allowed before authentication */
#define EM_OPF_NOAUTH  2 /* only allowed before authentication */

const char *em_op_name(enum em_op op);
enum em_op em_op_from_name(const char *name);
unsigned em_op_flags(enum em_op op);

/* A validated request. `args` is owned by the request. */
struct em_request {
	int64_t id;
	enum em_op op;
	json_t *args;
};

/*
 * Details of a validation failure, for the error message sent back. `field`
 * names the offending field ("args.username"); `message` is a full sentence.
 */
struct em_error_detail {
	char field[96];
	char message[224];
};

/*
 * Parse and fully validate one request frame: JSON syntax, envelope, op name,
 * and every argument (presence, type, length, range, encoding, no unknown
 * fields). On success fills *req (free with em_request_clear()). On failure
 * returns a negative em_err, leaves *req empty except req->id, which holds the
 * request id if one could be read (so the error can still be correlated), and
 * fills *detail.
 */
int em_request_parse(const char *buf, size_t len, struct em_request *req,
                     struct em_error_detail *detail);
void em_request_clear(struct em_request *req);

/* Typed access to validated args. Absent optional fields give the fallback. */
const char *em_arg_str(const struct em_request *req, const char *name);
int64_t em_arg_int(const struct em_request *req, const char *name, int64_t fallback);
int em_arg_bool(const struct em_request *req, const char *name, int fallback);
/* Decodes a base64url field already checked by the parser; returns the byte count or -1. */
int em_arg_bin(const struct em_request *req, const char *name, unsigned char *out, size_t outlen);

/*
 * Encoders. Each returns a NUL-terminated compact JSON string the caller frees
 * with free(), or NULL on allocation failure. Ownership of `result` / `data`
 * (a reference) passes to the function.
 */
char *em_encode_request(int64_t id, enum em_op op, json_t *args);
char *em_encode_ok(int64_t id, json_t *result);
char *em_encode_error(int64_t id, int err, const char *message, int64_t retry_after_ms);
char *em_encode_event(const char *name, json_t *data);

/* A frame received by a client: a reply (re >= 0 or an error before an id) or an event. */
struct em_incoming {
	int is_event;
	int64_t re;        /* reply: request id; -1 when the server could not read one */
	json_t *result;    /* reply ok: owned */
	int err;           /* reply error: em_err */
	char *err_message; /* reply error: owned */
	int64_t retry_after_ms;
	char *ev;     /* event name: owned */
	json_t *data; /* event data: owned */
};
int em_incoming_parse(const char *buf, size_t len, struct em_incoming *in);
void em_incoming_clear(struct em_incoming *in);

/* base64url without padding, as every binary field on the wire. */
/* Returns a malloc'd string the caller frees, or NULL. */
char *em_b64_encode(const unsigned char *bin, size_t len);
/* Returns the decoded length, or -1 if s is NULL, not valid base64url or longer than outlen. */
int em_b64_decode(const char *s, unsigned char *out, size_t outlen);
/* What em_b64_decode() would return for s given room enough, without decoding:
 * the decoded length, or -1 if s is NULL or not canonical base64url (a check
 * of public text: not constant-time). */
int em_b64_decoded_len(const char *s);

/* Checks shared by client and server. Return EM_OK or a negative em_err. */
int em_check_username(const char *s);
int em_check_date(const char *s); /* YYYY-MM-DD, a real calendar date */
/* YYYY-MM-DDTHH:MM:00Z, a real UTC minute (seconds must be 00) */
int em_check_utc_minute(const char *s);
/*
 * A consent subject "PREFIX:ID" (PROTOCOL.md 7.1: "room:12", "programme:3")
 * with ID in canonical decimal from 1 to 2^53 - 1: no sign, space or leading
 * zero, nothing after. Returns 0 with *id set, or -1 (subject may be NULL).
 */
int em_subject_id(const char *subject, const char *prefix, int64_t *id);
/* Canonical form of a username: lower case. Writes into out (size EM_USERNAME_MAX + 1). */
void em_username_fold(const char *in, char *out);

#endif
