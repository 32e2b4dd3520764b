/*
 * em_proto.c - validation and encoding of ementor.v1 frames.
 *
 * Every op has a table of the arguments it takes (name, type, bounds, a check
 * for values such as usernames and dates). em_request_parse() walks the frame
 * against that table and stops at the first problem, so every hostile frame
 * is answered with one precise error code and a message naming the field.
 * Nothing after the parser ever sees an unchecked value.
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "em_crypto.h"
#include "em_proto.h"

/* the key backup is built by em_crypto.c and carried by the protocol */
_Static_assert(EM_BACKUP_BYTES == EM_KEY_BACKUP_BYTES, "backup size on the wire");

enum field_type {
	FT_STR, /* min/max in characters (code points) */
	FT_INT, /* min/max inclusive */
	FT_BOOL,
	FT_BIN,    /* base64url; min/max in decoded bytes */
	FT_STRARR, /* array of strings; min/max items; each item passes check */
	FT_OBJARR, /* array of objects; min/max items; each item checked by objarr_items() */
};

struct field_spec {
	const char *name;
	enum field_type type;
	int required;
	int64_t min, max;
	int (*check)(const char *s); /* EM_OK or a negative em_err */
	const char *check_hint;      /* what check expects, for the message */
};

struct op_spec {
	enum em_op op;
	const char *name;
	unsigned flags;
	const struct field_spec *fields; /* terminated by name == NULL */
};

static int check_role(const char *s)
{
	return (!strcmp(s, "manager") || !strcmp(s, "mentor") || !strcmp(s, "mentee"))
	           ? EM_OK
	           : EM_ERR_BAD_VALUE;
}

static int check_kind(const char *s)
{
	return (!strcmp(s, "pair") || !strcmp(s, "group")) ? EM_OK : EM_ERR_BAD_VALUE;
}

/* Printable text: no control characters (tabs and newlines included). */
/* An e-mail address as the wire takes it: printable ASCII, no space, one '@' (the server checks
 * more). */
static int check_email(const char *s)
{
	const char *at = strchr(s, '@');

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || strchr("<>()[],;:\\\"", *p))
			return EM_ERR_BAD_VALUE;
	return at && at != s && at[1] && !strchr(at + 1, '@') ? EM_OK : EM_ERR_BAD_VALUE;
}

static int check_email_or_empty(const char *s)
{
	return *s ? check_email(s) : EM_OK;
}

static int check_digits(const char *s)
{
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return EM_ERR_BAD_VALUE;
	return EM_OK;
}

static int check_lang(const char *s)
{
	return strcmp(s, "en") && strcmp(s, "pl") ? EM_ERR_BAD_VALUE : EM_OK;
}

/* The kinds of e-mail a person may choose, comma-separated ("" for none). */
static int check_mail_kinds(const char *s)
{
	static const char *const kinds[] = {"meeting", "agreement", "diary", "digest"};

	while (*s) {
		size_t n = strcspn(s, ","), i;

		for (i = 0; i < 4; i++)
			if (strlen(kinds[i]) == n && !strncmp(s, kinds[i], n))
				break;
		if (i == 4)
			return EM_ERR_BAD_VALUE;
		s += n;
		if (*s == ',' && *++s == '\0')
			return EM_ERR_BAD_VALUE;
	}
	return EM_OK;
}

static int check_text(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return EM_ERR_BAD_VALUE;
	return EM_OK;
}

/* Text that may span lines (agreement templates): no control characters but newline and tab. */
static int check_multiline(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
			return EM_ERR_BAD_VALUE;
	return EM_OK;
}

static int check_purpose(const char *s)
{
	return strcmp(s, "data_processing") && strcmp(s, "agreement") && strcmp(s, "share_progress")
	           ? EM_ERR_BAD_VALUE
	           : EM_OK;
}

/* Invite codes and tokens are base64url text. */
static int check_b64_text(const char *s)
{
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return EM_ERR_BAD_VALUE;
	return EM_OK;
}

#define ID_MAX EM_MAX_REQUEST_ID
#define F_USERNAME                                                                                 \
	{                                                                                          \
		"username", FT_STR, 1, EM_USERNAME_MIN, EM_USERNAME_MAX, em_check_username,        \
		    "a username (a-z 0-9 . _ -)"                                                   \
	}
#define F_KEY(n)                                                                                   \
	{                                                                                          \
		n, FT_BIN, 1, EM_KEY_BYTES, EM_KEY_BYTES, NULL, NULL                               \
	}
#define F_ID(n, req)                                                                               \
	{                                                                                          \
		n, FT_INT, req, 1, ID_MAX, NULL, NULL                                              \
	}
#define F_INVITE                                                                                   \
	{                                                                                          \
		"invite", FT_STR, 1, EM_INVITE_CODE_MIN, EM_INVITE_CODE_MAX, check_b64_text,       \
		    "an invite code"                                                               \
	}
#define F_KDF                                                                                      \
	{"salt", FT_BIN, 1, EM_SALT_BYTES, EM_SALT_BYTES, NULL, NULL},                             \
	    {"opslimit", FT_INT, 1, EM_KDF_OPSLIMIT_MIN, EM_KDF_OPSLIMIT_MAX, NULL, NULL},         \
	{                                                                                          \
		"memlimit", FT_INT, 1, (int64_t)EM_KDF_MEMLIMIT_MIN, (int64_t)EM_KDF_MEMLIMIT_MAX, \
		    NULL, NULL                                                                     \
	}
#define F_BACKUP                                                                                   \
	{                                                                                          \
		"key_backup", FT_BIN, 1, EM_KEY_BACKUP_BYTES, EM_KEY_BACKUP_BYTES, NULL, NULL      \
	}
#define F_SIG(n)                                                                                   \
	{                                                                                          \
		n, FT_BIN, 1, 64, 64, NULL, NULL                                                   \
	}
#define F_AT(n)                                                                                    \
	{                                                                                          \
		n, FT_INT, 1, 0, (int64_t)1 << 40, NULL, NULL                                      \
	}
#define F_END                                                                                      \
	{                                                                                          \
		NULL, 0, 0, 0, 0, NULL, NULL                                                       \
	}

static const struct field_spec f_none[] = {F_END};
static const struct field_spec f_prelogin[] = {F_USERNAME, F_END};
static const struct field_spec f_register[] = {
    F_INVITE,
    F_USERNAME,
    {"display_name", FT_STR, 1, 1, EM_DISPLAY_NAME_MAX, check_text, "printable text"},
    F_KDF,
    F_KEY("auth_key"),
    F_KEY("sign_pk"),
    F_KEY("box_pk"),
    F_BACKUP,
    {"privacy_version", FT_STR, 1, 1, EM_CONSENT_STR_MAX, check_text, "printable text"},
    F_AT("privacy_at"),
    F_SIG("privacy_signature"),
    /* a recovery code (PROTOCOL.md "Recovery code"): both or neither, checked by the server */
    {"recovery_auth", FT_BIN, 0, EM_KEY_BYTES, EM_KEY_BYTES, NULL, NULL},
    {"recovery_backup", FT_BIN, 0, EM_KEY_BACKUP_BYTES, EM_KEY_BACKUP_BYTES, NULL, NULL},
    F_END};
static const struct field_spec f_recovery_set[] = {
    F_KEY("auth_key"),
    F_KEY("recovery_auth"),
    {"recovery_backup", FT_BIN, 1, EM_KEY_BACKUP_BYTES, EM_KEY_BACKUP_BYTES, NULL, NULL},
    F_END};
static const struct field_spec f_recovery_open[] = {F_USERNAME, F_KEY("recovery_auth"), F_END};
static const struct field_spec f_recovery_reset[] = {
    F_USERNAME, F_KEY("recovery_auth"), F_KDF, F_KEY("new_auth_key"), F_BACKUP, F_END};
static const struct field_spec f_login[] = {F_USERNAME, F_KEY("auth_key"), F_END};
static const struct field_spec f_resume[] = {
    {"token", FT_STR, 1, 1, EM_TOKEN_MAX, check_b64_text, "a session token"}, F_END};
static const struct field_spec f_passwd[] = {F_KEY("auth_key"), F_KDF, F_KEY("new_auth_key"),
                                             F_BACKUP, F_END};
static const struct field_spec f_invite_create[] = {
    F_ID("programme_id", 1),
    {"role", FT_STR, 1, 1, 16, check_role, "manager, mentor or mentee"},
    {"expires_in_days", FT_INT, 0, 1, 90, NULL, NULL},
    {"email", FT_STR, 0, 3, 254, check_email, "an e-mail address"},
    {"lang", FT_STR, 0, 2, 2, check_lang, "en or pl"},
    F_END};
static const struct field_spec f_invite_accept[] = {F_INVITE, F_END};
static const struct field_spec f_programme_create[] = {
    {"name", FT_STR, 1, 1, EM_PROGRAMME_NAME_MAX, check_text, "printable text"},
    {"starts_on", FT_STR, 1, 10, 10, em_check_date, "a date YYYY-MM-DD"},
    {"ends_on", FT_STR, 1, 10, 10, em_check_date, "a date YYYY-MM-DD"},
    {"max_group_mentees", FT_INT, 0, EM_GROUP_MENTEES_MIN, EM_GROUP_MENTEES_MAX, NULL, NULL},
    {"agreement_required", FT_BOOL, 0, 0, 0, NULL, NULL},
    {"retention_days", FT_INT, 0, 1, EM_RETENTION_DAYS_MAX, NULL, NULL},
    F_END};
static const struct field_spec f_programme_id[] = {F_ID("programme_id", 1), F_END};
static const struct field_spec f_room_create[] = {
    F_ID("programme_id", 1),
    {"kind", FT_STR, 1, 1, 8, check_kind, "pair or group"},
    {"name", FT_STR, 0, 1, EM_ROOM_NAME_MAX, check_text, "printable text"},
    {"members", FT_STRARR, 0, 0, EM_GROUP_MENTEES_MAX + 1, em_check_username, "usernames"},
    F_END};
static const struct field_spec f_room_list[] = {F_ID("programme_id", 0), F_END};
static const struct field_spec f_room_id[] = {F_ID("room_id", 1), F_END};
static const struct field_spec f_room_member[] = {F_ID("room_id", 1), F_USERNAME, F_END};
static const struct field_spec f_cursor_item[] = {
    F_ID("room_id", 1), {"seq", FT_INT, 1, 0, ID_MAX, NULL, NULL}, F_END};
static const struct field_spec f_sync[] = {
    {"cursors", FT_OBJARR, 0, 0, EM_SYNC_ROOMS_MAX, NULL, NULL}, F_END};
static const struct field_spec f_history[] = {
    F_ID("room_id", 1),
    {"after_seq", FT_INT, 0, 0, ID_MAX, NULL, NULL},
    {"limit", FT_INT, 0, 1, EM_HISTORY_PAGE_MAX, NULL, NULL},
    F_END};
static const struct field_spec f_send[] = {
    F_ID("room_id", 1),
    {"epoch", FT_INT, 1, 1, INT32_MAX, NULL, NULL},
    {"client_msg_id", FT_BIN, 1, EM_MSG_ID_BYTES, EM_MSG_ID_BYTES, NULL, NULL},
    {"ciphertext", FT_BIN, 1, EM_MSG_CIPHERTEXT_MIN, EM_MSG_CIPHERTEXT_MAX, NULL, NULL},
    {"sig", FT_BIN, 1, EM_SIG_BYTES, EM_SIG_BYTES, NULL, NULL},
    F_END};
static const struct field_spec f_receipt[] = {
    F_ID("room_id", 1), {"seq", FT_INT, 1, 1, ID_MAX, NULL, NULL}, F_END};
static const struct field_spec f_envelope_item[] = {
    F_ID("recipient_id", 1),
    {"sealed", FT_BIN, 1, EM_SEALED_KEY_BYTES, EM_SEALED_KEY_BYTES, NULL, NULL},
    F_END};
static const struct field_spec f_epoch_commit[] = {
    F_ID("room_id", 1),
    {"epoch", FT_INT, 1, 1, INT32_MAX, NULL, NULL},
    {"agreement_version", FT_INT, 1, 0, EM_AGREEMENT_VERSION_MAX, NULL, NULL},
    {"envelopes", FT_OBJARR, 1, 1, EM_ROOM_MEMBERS_MAX, NULL, NULL},
    {"sig", FT_BIN, 1, EM_SIG_BYTES, EM_SIG_BYTES, NULL, NULL},
    F_END};

static int check_checkpoint_kind(const char *s)
{
	return (!strcmp(s, "initial") || !strcmp(s, "midterm") || !strcmp(s, "final"))
	           ? EM_OK
	           : EM_ERR_BAD_VALUE;
}

#define F_CHECKPOINT_TEXT(n)                                                                       \
	{                                                                                          \
		n, FT_STR, 1, 1, EM_CHECKPOINT_TEXT_MAX, check_text, "printable text"              \
	}
static const struct field_spec f_slot_item[] = {
    {"starts_at", FT_STR, 1, 20, 20, em_check_utc_minute, "a UTC time YYYY-MM-DDTHH:MM:00Z"},
    {"minutes", FT_INT, 1, 5, 600, NULL, NULL},
    F_CHECKPOINT_TEXT("place"),
    F_END};
static const struct field_spec f_checkpoint_list[] = {F_ID("room_id", 0), F_ID("programme_id", 0),
                                                      F_END};
static const struct field_spec f_checkpoint_propose[] = {
    F_ID("checkpoint_id", 1),
    {"slots", FT_OBJARR, 1, 1, EM_CHECKPOINT_SLOTS_MAX, NULL, NULL},
    F_END};
static const struct field_spec f_checkpoint_answer[] = {
    F_ID("slot_id", 1), {"accept", FT_BOOL, 1, 0, 0, NULL, NULL}, F_END};
static const struct field_spec f_checkpoint_reschedule[] = {
    F_ID("checkpoint_id", 1),
    F_CHECKPOINT_TEXT("reason"),
    {"slots", FT_OBJARR, 1, 1, EM_CHECKPOINT_SLOTS_MAX, NULL, NULL},
    F_END};
static const struct field_spec f_checkpoint_reason[] = {F_ID("checkpoint_id", 1),
                                                        F_CHECKPOINT_TEXT("reason"), F_END};
static const struct field_spec f_checkpoint_record[] = {
    F_ID("checkpoint_id", 1),
    {"held", FT_BOOL, 1, 0, 0, NULL, NULL},
    {"present", FT_STRARR, 0, 0, EM_GROUP_MENTEES_MAX + 2, em_check_username, "usernames"},
    F_END};
static const struct field_spec f_checkpoint_attend[] = {
    F_ID("checkpoint_id", 1), {"attended", FT_BOOL, 1, 0, 0, NULL, NULL}, F_END};
static const struct field_spec f_checkpoint_window[] = {
    F_ID("checkpoint_id", 0),
    {"opens_on", FT_STR, 0, 10, 10, em_check_date, "a date YYYY-MM-DD"},
    {"closes_on", FT_STR, 0, 10, 10, em_check_date, "a date YYYY-MM-DD"},
    F_ID("programme_id", 0),
    {"kind", FT_STR, 0, 1, 8, check_checkpoint_kind, "initial, midterm or final"},
    {"days", FT_INT, 0, 0, 366, NULL, NULL},
    F_END};
static int check_meeting_mode(const char *s)
{
	return (!strcmp(s, "in_person") || !strcmp(s, "online")) ? EM_OK : EM_ERR_BAD_VALUE;
}
static const struct field_spec f_meeting_add[] = {
    F_ID("room_id", 1),
    {"mode", FT_STR, 1, 6, 9, check_meeting_mode, "in_person or online"},
    {"slots", FT_OBJARR, 0, 1, EM_CHECKPOINT_SLOTS_MAX, NULL, NULL},
    F_END};
static const struct field_spec f_programme_edit[] = {
    F_ID("programme_id", 1),
    {"name", FT_STR, 0, 1, EM_PROGRAMME_NAME_MAX, check_text, "printable text"},
    {"starts_on", FT_STR, 0, 10, 10, em_check_date, "a date YYYY-MM-DD"},
    {"ends_on", FT_STR, 0, 10, 10, em_check_date, "a date YYYY-MM-DD"},
    F_END};
static const struct field_spec f_room_rename[] = {
    F_ID("room_id", 1),
    {"name", FT_STR, 1, 1, EM_ROOM_NAME_MAX, check_text, "printable text"},
    F_END};
static const struct field_spec f_meeting_topic[] = {
    F_ID("meeting_id", 1),
    {"revision", FT_INT, 1, 1, EM_TOPIC_REVISION_MAX, NULL, NULL},
    {"epoch", FT_INT, 1, 1, INT32_MAX, NULL, NULL},
    {"ciphertext", FT_BIN, 1, EM_TOPIC_CT_MIN, EM_TOPIC_CT_MAX, NULL, NULL},
    F_SIG("sig"),
    F_END};
static const struct field_spec f_notice_ack[] = {F_ID("upto", 1), F_END};
static const struct field_spec f_agreement_sign[] = {
    F_ID("room_id", 1),         {"version", FT_INT, 1, 1, EM_AGREEMENT_VERSION_MAX, NULL, NULL},
    F_SIG("signature"),         F_AT("consent_at"),
    F_SIG("consent_signature"), F_END};
static const struct field_spec f_agreement_show[] = {
    F_ID("room_id", 1), {"version", FT_INT, 0, 1, EM_AGREEMENT_VERSION_MAX, NULL, NULL}, F_END};
static const struct field_spec f_programme_settings[] = {
    F_ID("programme_id", 1),
    {"agreement_required", FT_BOOL, 1, 0, 0, NULL, NULL},
    F_SIG("signature"),
    F_END};
static const struct field_spec f_agreement_propose[] = {
    F_ID("room_id", 1), {"term", FT_STR, 1, 1, EM_TERM_MAX, check_text, "printable text"}, F_END};

static const struct field_spec f_template_set[] = {
    F_ID("programme_id", 1),
    {"text", FT_STR, 0, 1, EM_TEMPLATE_MAX, check_multiline, "text without control characters"},
    {"lang", FT_STR, 0, 2, 2, check_lang, "en or pl"},
    F_END};
static int check_format(const char *s)
{
	return strcmp(s, "table") && strcmp(s, "csv") && strcmp(s, "json") ? EM_ERR_BAD_VALUE
	                                                                   : EM_OK;
}
static const struct field_spec f_audit_report[] = {
    F_ID("programme_id", 0),
    F_ID("room_id", 0),
    {"format", FT_STR, 0, 1, 8, check_format, "table, csv or json"},
    {"offset", FT_INT, 0, 0, 1000000, NULL, NULL},
    {"limit", FT_INT, 0, 1, 200, NULL, NULL},
    F_END};
static const struct field_spec f_audit_thresholds[] = {
    F_ID("programme_id", 1),
    {"inactive_days", FT_INT, 0, 1, 365, NULL, NULL},
    {"unsigned_days", FT_INT, 0, 0, 365, NULL, NULL},
    {"never_logged_in_days", FT_INT, 0, 0, 365, NULL, NULL},
    F_END};
static const struct field_spec f_consent[] = {
    {"purpose", FT_STR, 1, 1, EM_CONSENT_STR_MAX, check_purpose,
     "data_processing, agreement or share_progress"},
    {"subject", FT_STR, 1, 1, EM_CONSENT_STR_MAX, check_text, "printable text"},
    {"text_hash", FT_BIN, 1, 32, 32, NULL, NULL},
    F_AT("at"),
    F_SIG("signature"),
    F_END};

static const struct field_spec f_checkpoint_id[] = {F_ID("checkpoint_id", 1), F_END};
static const struct field_spec f_diary_writer_set[] = {F_ID("checkpoint_id", 1), F_USERNAME, F_END};
#define F_DIARY_RECORD(number)                                                                     \
	F_ID("checkpoint_id", 1), {"epoch", FT_INT, 1, 1, INT32_MAX, NULL, NULL},                  \
	    {number, FT_INT, 1, 1, EM_DIARY_NUMBER_MAX, NULL, NULL},                               \
	    {"ciphertext", FT_BIN, 1, EM_MSG_CIPHERTEXT_MIN, EM_MSG_CIPHERTEXT_MAX, NULL, NULL},   \
	{                                                                                          \
		"sig", FT_BIN, 1, EM_SIG_BYTES, EM_SIG_BYTES, NULL, NULL                           \
	}
static const struct field_spec f_diary_write[] = {F_DIARY_RECORD("version"), F_END};
static const struct field_spec f_diary_remark[] = {F_DIARY_RECORD("number"), F_END};
static int check_goal_kind(const char *s)
{
	return strcmp(s, "personal") && strcmp(s, "group") ? EM_ERR_BAD_VALUE : EM_OK;
}
static int check_stage(const char *s)
{
	return strcmp(s, "start") && strcmp(s, "midterm") && strcmp(s, "final") && strcmp(s, "any")
	           ? EM_ERR_BAD_VALUE
	           : EM_OK;
}
#define F_RECORD_ID(n)                                                                             \
	{                                                                                          \
		n, FT_BIN, 1, EM_RECORD_ID_BYTES, EM_RECORD_ID_BYTES, NULL, NULL                   \
	}
#define F_RECORD_COMMON                                                                            \
	{"agreement_version", FT_INT, 1, 1, EM_AGREEMENT_VERSION_MAX, NULL, NULL},                 \
	    {"written_ms", FT_INT, 1, 0, (int64_t)1 << 50, NULL, NULL},                            \
	{                                                                                          \
		"blob", FT_BIN, 1, EM_RECORD_BLOB_MIN, EM_RECORD_BLOB_MAX, NULL, NULL              \
	}
static const struct field_spec f_goal_put[] = {
    F_ID("room_id", 1),
    F_RECORD_ID("goal_id"),
    {"version", FT_INT, 1, 1, EM_GOAL_VERSION_MAX, NULL, NULL},
    {"kind", FT_STR, 1, 1, 8, check_goal_kind, "personal or group"},
    {"shared", FT_BOOL, 1, 0, 0, NULL, NULL},
    {"tasks", FT_INT, 1, 0, EM_GOAL_TASKS_MAX, NULL, NULL},
    F_RECORD_COMMON,
    F_END};
static const struct field_spec f_goal_history[] = {F_ID("room_id", 1), F_RECORD_ID("goal_id"),
                                                   F_END};
static int check_midterm_kind(const char *s)
{
	return strcmp(s, "mentee") && strcmp(s, "mentor") && strcmp(s, "manager") ? EM_ERR_BAD_VALUE
	                                                                          : EM_OK;
}
static const struct field_spec f_midterm_write[] = {
    F_ID("checkpoint_id", 1),
    {"version", FT_INT, 1, 1, EM_MIDTERM_VERSION_MAX, NULL, NULL},
    {"kind", FT_STR, 1, 1, 8, check_midterm_kind, "mentee, mentor or manager"},
    F_RECORD_COMMON,
    F_END};
static const struct field_spec f_rating_add[] = {
    F_ID("room_id", 1),
    F_RECORD_ID("rating_id"),
    {"stage", FT_STR, 1, 1, 8, check_stage, "start, midterm, final or any"},
    {"rated_on", FT_STR, 1, 10, 10, em_check_date, "a date YYYY-MM-DD"},
    F_RECORD_COMMON,
    F_END};

static int check_quest_stage(const char *s)
{
	return strcmp(s, "initial") && strcmp(s, "final") ? EM_ERR_BAD_VALUE : EM_OK;
}
static int check_share_kind(const char *s)
{
	return strcmp(s, "rating") && strcmp(s, "goal") ? EM_ERR_BAD_VALUE : EM_OK;
}
#define F_QUEST_STAGE(req)                                                                         \
	{                                                                                          \
		"stage", FT_STR, req, 1, 7, check_quest_stage, "initial or final"                  \
	}
static const struct field_spec f_quest_get[] = {
    F_ID("programme_id", 1),
    F_QUEST_STAGE(1),
    {"version", FT_INT, 0, 1, EM_QUEST_VERSION_MAX, NULL, NULL},
    F_END};
static const struct field_spec f_quest_set[] = {
    F_ID("programme_id", 1),
    F_QUEST_STAGE(1),
    {"version", FT_INT, 1, 1, EM_QUEST_VERSION_MAX, NULL, NULL},
    {"doc", FT_STR, 1, 2, EM_QUEST_DOC_MAX, check_multiline, "text without control characters"},
    F_SIG("signature"),
    F_END};
static const struct field_spec f_quest_answer[] = {
    F_ID("programme_id", 1), F_ID("room_id", 1),
    F_QUEST_STAGE(1),        {"q_version", FT_INT, 1, 0, EM_QUEST_VERSION_MAX, NULL, NULL},
    F_RECORD_COMMON,         F_END};
static const struct field_spec f_quest_answers[] = {F_ID("programme_id", 1), F_QUEST_STAGE(0),
                                                    F_END};
static int check_report_kind(const char *s)
{
	return strcmp(s, "concern") && strcmp(s, "change_request") ? EM_ERR_BAD_VALUE : EM_OK;
}
static int check_report_state(const char *s)
{
	return strcmp(s, "acknowledged") && strcmp(s, "action_taken") && strcmp(s, "closed")
	           ? EM_ERR_BAD_VALUE
	           : EM_OK;
}
static const struct field_spec f_report_create[] = {
    F_ID("room_id", 1),
    {"kind", FT_STR, 1, 1, 14, check_report_kind, "concern or change_request"},
    {"agreement_version", FT_INT, 1, 1, EM_AGREEMENT_VERSION_MAX, NULL, NULL},
    {"written_ms", FT_INT, 1, 0, (int64_t)1 << 50, NULL, NULL},
    {"blob", FT_BIN, 1, EM_RECORD_BLOB_MIN, EM_REPORT_BLOB_MAX, NULL, NULL},
    F_END};
static int check_audience(const char *s)
{
	return strcmp(s, "mentors") && strcmp(s, "all") ? EM_ERR_BAD_VALUE : EM_OK;
}
static const struct field_spec f_support_open[] = {
    F_ID("programme_id", 0), {"username", FT_STR, 0, 1, EM_USERNAME_MAX, NULL, NULL}, F_END};
#define F_ANNOUNCE_KEYS                                                                            \
	{"keys", FT_BIN, 1, EM_ANNOUNCE_KEY_BYTES, EM_ANNOUNCE_KEY_BYTES * EM_ANNOUNCE_BATCH_MAX,  \
	 NULL,   NULL},                                                                            \
	{                                                                                          \
		"more", FT_BOOL, 0, 0, 0, NULL, NULL                                               \
	}
static const struct field_spec f_announce_send[] = {
    F_ID("programme_id", 1),
    {"audience", FT_STR, 1, 1, 7, check_audience, "mentors or all"},
    {"written_ms", FT_INT, 1, 0, (int64_t)1 << 50, NULL, NULL},
    {"body", FT_BIN, 1, 1, EM_ANNOUNCE_BODY_MAX, NULL, NULL},
    F_ANNOUNCE_KEYS,
    F_END};
static const struct field_spec f_announce_keys[] = {F_ID("announcement_id", 1), F_ANNOUNCE_KEYS,
                                                    F_END};
static const struct field_spec f_report_list[] = {F_ID("programme_id", 0), F_END};
static const struct field_spec f_report_show[] = {F_ID("report_id", 1), F_END};
static const struct field_spec f_report_handle[] = {
    F_ID("report_id", 1),
    {"state", FT_STR, 1, 1, 12, check_report_state, "acknowledged, action_taken or closed"},
    {"written_ms", FT_INT, 1, 0, (int64_t)1 << 50, NULL, NULL},
    {"blob", FT_BIN, 1, EM_RECORD_BLOB_MIN, EM_RECORD_BLOB_MAX, NULL, NULL},
    F_END};
static int check_profile_role(const char *s)
{
	return strcmp(s, "mentor") && strcmp(s, "mentee") ? EM_ERR_BAD_VALUE : EM_OK;
}
static const struct field_spec f_profile_form[] = {
    F_ID("programme_id", 1),
    {"role", FT_STR, 1, 1, 6, check_profile_role, "mentor or mentee"},
    {"version", FT_INT, 0, 1, EM_QUEST_VERSION_MAX, NULL, NULL},
    F_END};
static const struct field_spec f_profile_form_set[] = {
    F_ID("programme_id", 1),
    {"role", FT_STR, 1, 1, 6, check_profile_role, "mentor or mentee"},
    {"version", FT_INT, 1, 1, EM_QUEST_VERSION_MAX, NULL, NULL},
    {"doc", FT_STR, 1, 2, EM_PROFILE_FORM_MAX, check_multiline, "text without control characters"},
    F_SIG("signature"),
    F_END};
static const struct field_spec f_profile_put[] = {
    F_ID("programme_id", 1),
    {"form_version", FT_INT, 1, 0, EM_QUEST_VERSION_MAX, NULL, NULL},
    {"written_ms", FT_INT, 1, 0, (int64_t)1 << 50, NULL, NULL},
    {"blob", FT_BIN, 1, EM_RECORD_BLOB_MIN, EM_PROFILE_BLOB_MAX, NULL, NULL},
    F_END};
static const struct field_spec f_profile_list[] = {F_ID("programme_id", 1), F_ID("after", 0),
                                                   F_END};
static const struct field_spec f_progress_share[] = {
    F_ID("room_id", 1),
    F_RECORD_ID("record_id"),
    {"kind", FT_STR, 1, 1, 6, check_share_kind, "rating or goal"},
    F_RECORD_COMMON,
    F_END};

/*
 * A row of a manager's list (invite.import): only its shape here; a bad
 * address, role or language is that row's answer, not the request's.
 */
static const struct field_spec f_import_row[] = {
    {"name", FT_STR, 0, 0, EM_DISPLAY_NAME_MAX, check_text, "printable text"},
    {"email", FT_STR, 1, 0, 320, check_text, "printable text"},
    {"role", FT_STR, 1, 0, 32, check_text, "printable text"},
    {"label", FT_STR, 0, 0, 64, check_text, "printable text"},
    {"lang", FT_STR, 0, 0, 16, check_text, "printable text"},
    F_END};

/* The item layout of each FT_OBJARR field, by field name. */
static const struct field_spec *objarr_items(const char *name)
{
	if (!strcmp(name, "cursors"))
		return f_cursor_item;
	if (!strcmp(name, "envelopes"))
		return f_envelope_item;
	if (!strcmp(name, "slots"))
		return f_slot_item;
	if (!strcmp(name, "rows"))
		return f_import_row;
	return NULL;
}

static const struct field_spec f_mail_set[] = {
    {"address", FT_STR, 0, 0, 254, check_email_or_empty, "an e-mail address, or \"\" for none"},
    {"lang", FT_STR, 0, 2, 2, check_lang, "en or pl"},
    {"kinds", FT_STR, 0, 0, 64, check_mail_kinds,
     "comma-separated: meeting, agreement, diary, digest (\"\": none)"},
    F_END};
static const struct field_spec f_mail_verify[] = {
    {"code", FT_STR, 1, 8, 8, check_digits, "the 8-digit code e-mailed to you"}, F_END};
static const struct field_spec f_invite_id[] = {F_ID("invite_id", 1), F_END};
static const struct field_spec f_privacy_notice[] = {
    {"lang", FT_STR, 0, 2, 2, check_lang, "en or pl"}, F_END};
/* an identity reset (PROTOCOL.md "Identity reset"): the code's 20 bytes, the new keys */
static const struct field_spec f_reset_issue[] = {
    F_ID("programme_id", 1), F_USERNAME, {"expires_in_days", FT_INT, 0, 1, 14, NULL, NULL}, F_END};
static const struct field_spec f_reset_redeem[] = {
    F_USERNAME,
    {"code", FT_BIN, 1, EM_RESET_CODE_BYTES, EM_RESET_CODE_BYTES, NULL, NULL},
    F_KDF,
    F_KEY("auth_key"),
    F_KEY("sign_pk"),
    F_KEY("box_pk"),
    F_BACKUP,
    {"recovery_auth", FT_BIN, 0, EM_KEY_BYTES, EM_KEY_BYTES, NULL, NULL},
    {"recovery_backup", FT_BIN, 0, EM_KEY_BACKUP_BYTES, EM_KEY_BACKUP_BYTES, NULL, NULL},
    F_END};
static const struct field_spec f_invite_import[] = {
    F_ID("programme_id", 1), {"rows", FT_OBJARR, 1, 1, EM_IMPORT_ROWS_MAX, NULL, NULL}, F_END};

static const struct op_spec op_specs[] = {
    {EM_OP_PING, "ping", EM_OPF_PREAUTH, f_none},
    {EM_OP_PRELOGIN, "prelogin", EM_OPF_PREAUTH | EM_OPF_NOAUTH, f_prelogin},
    {EM_OP_REGISTER, "register", EM_OPF_PREAUTH | EM_OPF_NOAUTH, f_register},
    {EM_OP_LOGIN, "login", EM_OPF_PREAUTH | EM_OPF_NOAUTH, f_login},
    {EM_OP_RESUME, "resume", EM_OPF_PREAUTH | EM_OPF_NOAUTH, f_resume},
    {EM_OP_LOGOUT, "logout", 0, f_none},
    {EM_OP_WHOAMI, "whoami", 0, f_none},
    {EM_OP_PASSWD, "passwd", 0, f_passwd},
    {EM_OP_INVITE_CREATE, "invite.create", 0, f_invite_create},
    {EM_OP_INVITE_ACCEPT, "invite.accept", 0, f_invite_accept},
    {EM_OP_PROGRAMME_CREATE, "programme.create", 0, f_programme_create},
    {EM_OP_PROGRAMME_LIST, "programme.list", 0, f_none},
    {EM_OP_PROGRAMME_SHOW, "programme.show", 0, f_programme_id},
    {EM_OP_ROOM_CREATE, "room.create", 0, f_room_create},
    {EM_OP_ROOM_LIST, "room.list", 0, f_room_list},
    {EM_OP_ROOM_SHOW, "room.show", 0, f_room_id},
    {EM_OP_ROOM_ADD, "room.add", 0, f_room_member},
    {EM_OP_ROOM_REMOVE, "room.remove", 0, f_room_member},
    {EM_OP_SYNC, "sync", 0, f_sync},
    {EM_OP_HISTORY, "history", 0, f_history},
    {EM_OP_SEND, "send", 0, f_send},
    {EM_OP_RECEIPT, "receipt", 0, f_receipt},
    {EM_OP_TYPING, "typing", 0, f_room_id},
    {EM_OP_EPOCH_COMMIT, "epoch.commit", 0, f_epoch_commit},
    {EM_OP_KEYS_GET, "keys.get", 0, f_room_id},
    {EM_OP_CHECKPOINT_LIST, "checkpoint.list", 0, f_checkpoint_list},
    {EM_OP_CHECKPOINT_PROPOSE, "checkpoint.propose", 0, f_checkpoint_propose},
    {EM_OP_CHECKPOINT_ANSWER, "checkpoint.answer", 0, f_checkpoint_answer},
    {EM_OP_CHECKPOINT_RESCHEDULE, "checkpoint.reschedule", 0, f_checkpoint_reschedule},
    {EM_OP_CHECKPOINT_CANCEL, "checkpoint.cancel", 0, f_checkpoint_reason},
    {EM_OP_CHECKPOINT_ABSENT, "checkpoint.absent", 0, f_checkpoint_reason},
    {EM_OP_CHECKPOINT_RECORD, "checkpoint.record", 0, f_checkpoint_record},
    {EM_OP_CHECKPOINT_ATTEND, "checkpoint.attend", 0, f_checkpoint_attend},
    {EM_OP_CHECKPOINT_WINDOW, "checkpoint.window", 0, f_checkpoint_window},
    {EM_OP_CALENDAR_URL, "calendar.url", 0, f_none},
    {EM_OP_CALENDAR_REVOKE, "calendar.revoke", 0, f_none},
    {EM_OP_CALENDAR_EXPORT, "calendar.export", 0, f_none},
    {EM_OP_NOTICE_LIST, "notice.list", 0, f_none},
    {EM_OP_NOTICE_ACK, "notice.ack", 0, f_notice_ack},
    {EM_OP_PRIVACY_NOTICE, "privacy.notice", EM_OPF_PREAUTH, f_privacy_notice},
    {EM_OP_AGREEMENT_SHOW, "agreement.show", 0, f_agreement_show},
    {EM_OP_AGREEMENT_SIGN, "agreement.sign", 0, f_agreement_sign},
    {EM_OP_AGREEMENT_PROPOSE, "agreement.propose", 0, f_agreement_propose},
    {EM_OP_AGREEMENT_TEMPLATE_GET, "agreement.template.get", 0, f_programme_id},
    {EM_OP_AGREEMENT_TEMPLATE_SET, "agreement.template.set", 0, f_template_set},
    {EM_OP_CONSENT_LIST, "consent.list", 0, f_none},
    {EM_OP_CONSENT_GRANT, "consent.grant", 0, f_consent},
    {EM_OP_CONSENT_WITHDRAW, "consent.withdraw", 0, f_consent},
    {EM_OP_ACCOUNT_EXPORT, "account.export", 0, f_none},
    {EM_OP_AUDIT_REPORT, "audit.report", 0, f_audit_report},
    {EM_OP_AUDIT_THRESHOLDS, "audit.thresholds", 0, f_audit_thresholds},
    {EM_OP_ROOM_ACCESS_LOG, "room.access_log", 0, f_room_id},
    {EM_OP_DIARY_WRITER_GET, "diary.writer.get", 0, f_checkpoint_id},
    {EM_OP_DIARY_WRITER_SET, "diary.writer.set", 0, f_diary_writer_set},
    {EM_OP_DIARY_WRITE, "diary.write", 0, f_diary_write},
    {EM_OP_DIARY_REMARK, "diary.remark", 0, f_diary_remark},
    {EM_OP_DIARY_SHOW, "diary.show", 0, f_checkpoint_id},
    {EM_OP_DIARY_LIST, "diary.list", 0, f_room_id},
    {EM_OP_PROGRAMME_SETTINGS, "programme.settings", 0, f_programme_settings},
    {EM_OP_GOAL_CREATE, "goal.create", 0, f_goal_put},
    {EM_OP_GOAL_UPDATE, "goal.update", 0, f_goal_put},
    {EM_OP_GOAL_LIST, "goal.list", 0, f_room_id},
    {EM_OP_GOAL_HISTORY, "goal.history", 0, f_goal_history},
    {EM_OP_RATING_ADD, "rating.add", 0, f_rating_add},
    {EM_OP_RATING_LIST, "rating.list", 0, f_room_id},
    {EM_OP_MEETING_ADD, "meeting.add", 0, f_meeting_add},
    {EM_OP_MEETING_PLAN, "meeting.plan", 0, f_room_id},
    {EM_OP_MEETING_TOPIC, "meeting.topic", 0, f_meeting_topic},
    {EM_OP_PROGRAMME_EDIT, "programme.edit", 0, f_programme_edit},
    {EM_OP_PROGRAMME_END, "programme.end", 0, f_programme_id},
    {EM_OP_PROGRAMME_ARCHIVE, "programme.archive", 0, f_programme_id},
    {EM_OP_PROGRAMME_HISTORY, "programme.history", 0, f_programme_id},
    {EM_OP_ROOM_RENAME, "room.rename", 0, f_room_rename},
    {EM_OP_RECOVERY_SET, "recovery.set", 0, f_recovery_set},
    {EM_OP_RECOVERY_OPEN, "recovery.open", EM_OPF_PREAUTH | EM_OPF_NOAUTH, f_recovery_open},
    {EM_OP_RECOVERY_RESET, "recovery.reset", EM_OPF_PREAUTH | EM_OPF_NOAUTH, f_recovery_reset},
    {EM_OP_QUESTIONNAIRE_GET, "questionnaire.get", 0, f_quest_get},
    {EM_OP_QUESTIONNAIRE_SET, "questionnaire.set", 0, f_quest_set},
    {EM_OP_QUESTIONNAIRE_ANSWER, "questionnaire.answer", 0, f_quest_answer},
    {EM_OP_QUESTIONNAIRE_ANSWERS, "questionnaire.answers", 0, f_quest_answers},
    {EM_OP_PROGRESS_SHARE, "progress.share", 0, f_progress_share},
    {EM_OP_PROGRESS_LIST, "progress.list", 0, f_programme_id},
    {EM_OP_MIDTERM_WRITE, "midterm.write", 0, f_midterm_write},
    {EM_OP_MIDTERM_SHOW, "midterm.show", 0, f_checkpoint_id},
    {EM_OP_MAIL_SHOW, "mail.show", 0, f_none},
    {EM_OP_MAIL_SET, "mail.set", 0, f_mail_set},
    {EM_OP_MAIL_VERIFY, "mail.verify", 0, f_mail_verify},
    {EM_OP_INVITE_LIST, "invite.list", 0, f_programme_id},
    {EM_OP_INVITE_RESEND, "invite.resend", 0, f_invite_id},
    {EM_OP_INVITE_REVOKE, "invite.revoke", 0, f_invite_id},
    {EM_OP_INVITE_IMPORT, "invite.import", 0, f_invite_import},
    {EM_OP_REPORT_CREATE, "report.create", 0, f_report_create},
    {EM_OP_REPORT_LIST, "report.list", 0, f_report_list},
    {EM_OP_REPORT_SHOW, "report.show", 0, f_report_show},
    {EM_OP_REPORT_HANDLE, "report.handle", 0, f_report_handle},
    {EM_OP_RESET_ISSUE, "reset.issue", 0, f_reset_issue},
    {EM_OP_RESET_REDEEM, "reset.redeem", EM_OPF_PREAUTH | EM_OPF_NOAUTH, f_reset_redeem},
    {EM_OP_PROFILE_FORM, "profile.form", 0, f_profile_form},
    {EM_OP_PROFILE_FORM_SET, "profile.form_set", 0, f_profile_form_set},
    {EM_OP_PROFILE_PUT, "profile.put", 0, f_profile_put},
    {EM_OP_PROFILE_LIST, "profile.list", 0, f_profile_list},
    {EM_OP_SUPPORT_OPEN, "support.open", 0, f_support_open},
    {EM_OP_ANNOUNCE_SEND, "announce.send", 0, f_announce_send},
    {EM_OP_ANNOUNCE_KEYS, "announce.keys", 0, f_announce_keys},
    {EM_OP_ANNOUNCE_LIST, "announce.list", 0, f_report_list},
};

#define N_OPS (sizeof(op_specs) / sizeof(op_specs[0]))

static const struct op_spec *op_spec_find(enum em_op op)
{
	for (size_t i = 0; i < N_OPS; i++)
		if (op_specs[i].op == op)
			return &op_specs[i];
	return NULL;
}

const char *em_op_name(enum em_op op)
{
	const struct op_spec *spec = op_spec_find(op);

	return spec ? spec->name : NULL;
}

enum em_op em_op_from_name(const char *name)
{
	for (size_t i = 0; name && i < N_OPS; i++)
		if (!strcmp(op_specs[i].name, name))
			return op_specs[i].op;
	return EM_OP_NONE;
}

unsigned em_op_flags(enum em_op op)
{
	const struct op_spec *spec = op_spec_find(op);

	return spec ? spec->flags : 0;
}

/* Number of code points in a valid UTF-8 string (jansson has validated it). */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xc0) != 0x80)
			n++;
	return n;
}

static int fail(struct em_error_detail *d, int err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void utf8_sanitize(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		int n = *p < 0x80             ? 1
		        : (*p & 0xe0) == 0xc0 ? 2
		        : (*p & 0xf0) == 0xe0 ? 3
		        : (*p & 0xf8) == 0xf0 ? 4
		                              : 0;
		int ok = n > 0;

		for (int i = 1; ok && i < n; i++)
			ok = (p[i] & 0xc0) == 0x80;
		if (!ok) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}

static int fail(struct em_error_detail *d, int err, const char *field, const char *fmt, ...)
{
	va_list ap;
	char what[120];

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(d->field, sizeof(d->field), "%s", field ? field : "");
	if (field && *field)
		snprintf(d->message, sizeof(d->message), "%s: %s", field, what);
	else
		snprintf(d->message, sizeof(d->message), "%s", what);
	utf8_sanitize(d->field);
	utf8_sanitize(d->message);
	return err;
}

static int check_string(const struct field_spec *f, const char *s, const char *path,
                        struct em_error_detail *d)
{
	size_t n = utf8_chars(s);
	int rc;

	if ((int64_t)n < f->min)
		return fail(d, EM_ERR_TOO_SHORT, path, "too short (at least %lld characters)",
		            (long long)f->min);
	if ((int64_t)n > f->max)
		return fail(d, EM_ERR_TOO_LONG, path, "too long (at most %lld characters)",
		            (long long)f->max);
	if (f->check && (rc = f->check(s)) != EM_OK)
		return fail(d, rc, path, "not %s", f->check_hint ? f->check_hint : "allowed");
	return EM_OK;
}

static int check_object(const struct field_spec *fields, const char *op_name, const char *prefix,
                        json_t *obj, struct em_error_detail *d);

/* An array field: its type and item count. */
static int check_array(const struct field_spec *f, json_t *v, const char *path,
                       struct em_error_detail *d)
{
	if (!json_is_array(v))
		return fail(d, EM_ERR_WRONG_TYPE, path, "must be an array");
	if ((int64_t)json_array_size(v) < f->min)
		return fail(d, EM_ERR_TOO_SHORT, path, "needs at least %lld items",
		            (long long)f->min);
	if ((int64_t)json_array_size(v) > f->max)
		return fail(d, EM_ERR_TOO_LONG, path, "takes at most %lld items",
		            (long long)f->max);
	return EM_OK;
}

static int check_field(const struct field_spec *f, const char *prefix, json_t *v,
                       struct em_error_detail *d)
{
	char path[128];
	int n;

	snprintf(path, sizeof(path), "%s.%s", prefix, f->name);
	switch (f->type) {
	case FT_STR:
		if (!json_is_string(v))
			return fail(d, EM_ERR_WRONG_TYPE, path, "must be a string");
		return check_string(f, json_string_value(v), path, d);
	case FT_INT: {
		json_int_t i;

		if (!json_is_integer(v))
			return fail(d, EM_ERR_WRONG_TYPE, path, "must be an integer");
		i = json_integer_value(v);
		if (i < f->min || i > f->max)
			return fail(d, EM_ERR_OUT_OF_RANGE, path, "must be between %lld and %lld",
			            (long long)f->min, (long long)f->max);
		return EM_OK;
	}
	case FT_BOOL:
		if (!json_is_boolean(v))
			return fail(d, EM_ERR_WRONG_TYPE, path, "must be true or false");
		return EM_OK;
	case FT_BIN:
		if (!json_is_string(v))
			return fail(d, EM_ERR_WRONG_TYPE, path, "must be a base64url string");
		/* the length and the alphabet only: decoding (and a buffer of the
		 * field's maximum per field) is left to whoever needs the bytes */
		n = em_b64_decoded_len(json_string_value(v));
		if (n < 0 || n < f->min || n > f->max) {
			if (f->min == f->max)
				return fail(d, EM_ERR_BAD_ENCODING, path,
				            "must be base64url (no padding) of %lld bytes",
				            (long long)f->min);
			return fail(d, EM_ERR_BAD_ENCODING, path,
			            "must be base64url (no padding) of %lld to %lld bytes",
			            (long long)f->min, (long long)f->max);
		}
		return EM_OK;
	case FT_OBJARR: {
		const struct field_spec *items = objarr_items(f->name);
		size_t i;
		json_t *item;
		int rc;

		if ((rc = check_array(f, v, path, d)))
			return rc;
		json_array_foreach(v, i, item)
		{
			char ipath[96];

			snprintf(ipath, sizeof(ipath), "%.60s[%zu]", path, i);
			if (!json_is_object(item))
				return fail(d, EM_ERR_WRONG_TYPE, ipath, "must be an object");
			rc = check_object(items, f->name, ipath, item, d);
			if (rc)
				return rc;
		}
		return EM_OK;
	}
	case FT_STRARR: {
		size_t i;
		json_t *item;
		int rc;
		struct field_spec item_spec = {
		    f->name, FT_STR, 1, EM_USERNAME_MIN, EM_USERNAME_MAX, f->check, f->check_hint};

		if ((rc = check_array(f, v, path, d)))
			return rc;
		json_array_foreach(v, i, item)
		{
			char ipath[96];

			snprintf(ipath, sizeof(ipath), "%.60s[%zu]", path, i);
			if (!json_is_string(item))
				return fail(d, EM_ERR_WRONG_TYPE, ipath, "must be a string");
			rc = check_string(&item_spec, json_string_value(item), ipath, d);
			if (rc)
				return rc;
		}
		return EM_OK;
	}
	}
	return fail(d, EM_ERR_INTERNAL, path, "unchecked type");
}

static int check_object(const struct field_spec *fields, const char *op_name, const char *prefix,
                        json_t *obj, struct em_error_detail *d)
{
	const char *key;
	json_t *v;
	int rc;

	json_object_foreach(obj, key, v)
	{
		const struct field_spec *f = fields;

		while (f->name && strcmp(f->name, key))
			f++;
		if (!f->name) {
			char path[128];

			snprintf(path, sizeof(path), "%.60s.%.40s", prefix, key);
			return fail(d, EM_ERR_UNKNOWN_FIELD, path, "not a field of %s", op_name);
		}
		rc = check_field(f, prefix, v, d);
		if (rc)
			return rc;
	}
	for (const struct field_spec *f = fields; f->name; f++) {
		if (f->required && !json_object_get(obj, f->name)) {
			char path[128];

			snprintf(path, sizeof(path), "%.60s.%s", prefix, f->name);
			return fail(d, EM_ERR_MISSING_FIELD, path, "is required");
		}
	}
	return EM_OK;
}

static int check_args(const struct op_spec *spec, json_t *args, struct em_error_detail *d)
{
	return check_object(spec->fields, spec->name, "args", args, d);
}

int em_request_parse(const char *buf, size_t len, struct em_request *req, struct em_error_detail *d)
{
	json_error_t jerr;
	json_t *root = NULL, *id, *op, *args;
	const struct op_spec *spec;
	const char *key;
	json_t *v;
	int rc;

	memset(req, 0, sizeof(*req));
	req->id = -1;
	memset(d, 0, sizeof(*d));

	if (len > EM_MAX_FRAME) {
		rc = fail(d, EM_ERR_FRAME_TOO_LARGE, NULL, "message larger than %d bytes",
		          EM_MAX_FRAME);
		goto out;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root) {
		rc = fail(d, EM_ERR_BAD_JSON, NULL, "invalid JSON at line %d column %d: %.80s",
		          jerr.line, jerr.column, jerr.text);
		goto out;
	}
	if (!json_is_object(root)) {
		rc = fail(d, EM_ERR_BAD_FRAME, NULL, "a request must be a JSON object");
		goto out;
	}
	/* Read the id first so every later error can be correlated. */
	id = json_object_get(root, "id");
	if (json_is_integer(id) && json_integer_value(id) >= 0 &&
	    json_integer_value(id) <= EM_MAX_REQUEST_ID)
		req->id = json_integer_value(id);
	else {
		rc = fail(d, EM_ERR_BAD_FRAME, "id",
		          id ? "must be an integer from 0 to 2^53-1" : "is required");
		goto out;
	}
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "id") && strcmp(key, "op") && strcmp(key, "args")) {
			rc = fail(d, EM_ERR_BAD_FRAME, NULL,
			          "unknown top-level field \"%.40s\" (a request has id, op, args)",
			          key);
			goto out;
		}
	}
	op = json_object_get(root, "op");
	if (!json_is_string(op)) {
		rc = fail(d, EM_ERR_BAD_FRAME, "op", op ? "must be a string" : "is required");
		goto out;
	}
	req->op = em_op_from_name(json_string_value(op));
	spec = op_spec_find(req->op);
	if (!spec) {
		rc = fail(d, EM_ERR_UNKNOWN_OP, "op", "\"%.60s\" is not an operation",
		          json_string_value(op));
		goto out;
	}
	args = json_object_get(root, "args");
	if (args && !json_is_object(args)) {
		rc = fail(d, EM_ERR_BAD_FRAME, "args", "must be an object");
		goto out;
	}
	req->args = args ? json_incref(args) : json_object();
	if (!req->args) {
		rc = fail(d, EM_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	rc = check_args(spec, req->args, d);
out:
	json_decref(root);
	if (rc) {
		json_decref(req->args);
		req->args = NULL;
		req->op = EM_OP_NONE;
	}
	return rc;
}

void em_request_clear(struct em_request *req)
{
	if (!req)
		return;
	json_decref(req->args);
	req->args = NULL;
	req->op = EM_OP_NONE;
}

const char *em_arg_str(const struct em_request *req, const char *name)
{
	return json_string_value(json_object_get(req->args, name));
}

int64_t em_arg_int(const struct em_request *req, const char *name, int64_t fallback)
{
	json_t *v = json_object_get(req->args, name);

	return json_is_integer(v) ? json_integer_value(v) : fallback;
}

int em_arg_bool(const struct em_request *req, const char *name, int fallback)
{
	json_t *v = json_object_get(req->args, name);

	return json_is_boolean(v) ? json_is_true(v) : fallback;
}

int em_arg_bin(const struct em_request *req, const char *name, unsigned char *out, size_t outlen)
{
	const char *s = em_arg_str(req, name);

	return s ? em_b64_decode(s, out, outlen) : -1;
}

/* Takes the reference to `value`; returns malloc'd text or NULL. */
static char *dump_frame(json_t *frame)
{
	char *s = NULL;

	if (frame)
		s = json_dumps(frame, JSON_COMPACT);
	json_decref(frame);
	return s;
}

char *em_encode_request(int64_t id, enum em_op op, json_t *args)
{
	const char *name = em_op_name(op);

	if (!name) {
		json_decref(args);
		return NULL;
	}
	return dump_frame(json_pack("{sIssso}", "id", (json_int_t)id, "op", name, "args",
	                            args ? args : json_object()));
}

char *em_encode_ok(int64_t id, json_t *result)
{
	return dump_frame(
	    json_pack("{sIso}", "re", (json_int_t)id, "ok", result ? result : json_object()));
}

char *em_encode_error(int64_t id, int err, const char *message, int64_t retry_after_ms)
{
	json_t *e = json_pack("{ssss}", "code", em_err_code(err), "message",
	                      message && *message ? message : em_strerror(err));

	if (e && retry_after_ms > 0)
		json_object_set_new(e, "retry_after_ms", json_integer(retry_after_ms));
	if (!e)
		return NULL;
	return dump_frame(
	    json_pack("{soso}", "re", id >= 0 ? json_integer(id) : json_null(), "error", e));
}

char *em_encode_event(const char *name, json_t *data)
{
	return dump_frame(json_pack("{ssso}", "ev", name, "data", data ? data : json_object()));
}

int em_incoming_parse(const char *buf, size_t len, struct em_incoming *in)
{
	json_t *root, *v;
	int rc = EM_ERR_BAD_FRAME;

	memset(in, 0, sizeof(*in));
	in->re = -1;
	root = json_loadb(buf, len, 0, NULL);
	if (!json_is_object(root)) {
		rc = root ? EM_ERR_BAD_FRAME : EM_ERR_BAD_JSON;
		goto out;
	}
	if ((v = json_object_get(root, "ev"))) {
		if (!json_is_string(v))
			goto out;
		in->is_event = 1;
		in->ev = strdup(json_string_value(v));
		in->data = json_incref(json_object_get(root, "data"));
		rc = in->ev ? EM_OK : EM_ERR_NOMEM;
		goto out;
	}
	v = json_object_get(root, "re");
	if (json_is_integer(v))
		in->re = json_integer_value(v);
	else if (!json_is_null(v))
		goto out;
	if ((v = json_object_get(root, "ok"))) {
		in->result = json_incref(v);
		rc = EM_OK;
	} else if (json_is_object(v = json_object_get(root, "error"))) {
		const char *msg = json_string_value(json_object_get(v, "message"));
		json_t *retry = json_object_get(v, "retry_after_ms");

		in->err = em_err_from_code(json_string_value(json_object_get(v, "code")));
		in->err_message = strdup(msg ? msg : em_strerror(in->err));
		in->retry_after_ms = json_is_integer(retry) ? json_integer_value(retry) : 0;
		rc = in->err_message ? EM_OK : EM_ERR_NOMEM;
	}
out:
	json_decref(root);
	if (rc)
		em_incoming_clear(in);
	return rc;
}

void em_incoming_clear(struct em_incoming *in)
{
	if (!in)
		return;
	json_decref(in->result);
	json_decref(in->data);
	free(in->err_message);
	free(in->ev);
	memset(in, 0, sizeof(*in));
	in->re = -1;
}

char *em_b64_encode(const unsigned char *bin, size_t len)
{
	size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *s = malloc(n);

	if (s)
		sodium_bin2base64(s, n, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return s;
}

#define B64URL_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

int em_b64_decode(const char *s, unsigned char *out, size_t outlen)
{
	size_t binlen = 0, slen;
	const char *end = NULL;

	if (!s)
		return -1; /* a field that was absent or not a string */
	slen = strlen(s);
	/* base64 of outlen bytes needs at most 4*ceil(outlen/3) characters */
	if (slen > (outlen + 2) / 3 * 4)
		return -1;
	/*
	 * The alphabet first: libsodium 1.0.18 reads the text as (signed) char,
	 * and its constant-time comparisons then take every byte from 0x80 up
	 * for '_' ("\xff\xff\xff\xff" decoded to ff ff ff; found by fuzz_crypto).
	 */
	if (strspn(s, B64URL_ALPHABET) != slen)
		return -1;
	if (sodium_base642bin(out, outlen, s, slen, NULL, &binlen, &end,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return -1;
	if (end != s + slen)
		return -1;
	return (int)binlen;
}

static signed char b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return (signed char)(c - 'A');
	if (c >= 'a' && c <= 'z')
		return (signed char)(c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (signed char)(c - '0' + 52);
	if (c == '-')
		return 62;
	return c == '_' ? 63 : -1;
}

int em_b64_decoded_len(const char *s)
{
	size_t slen;
	int last;

	if (!s)
		return -1;
	slen = strlen(s);
	if (slen > (size_t)INT_MAX / 3 || strspn(s, B64URL_ALPHABET) != slen || slen % 4 == 1)
		return -1;
	/* libsodium's rule: the bits left over after the last whole byte are zero */
	last = slen ? b64_value((unsigned char)s[slen - 1]) : 0;
	if ((slen % 4 == 2 && (last & 0x0f)) || (slen % 4 == 3 && (last & 0x03)))
		return -1;
	return (int)(slen / 4 * 3 + (slen % 4 ? slen % 4 - 1 : 0));
}

int em_subject_id(const char *subject, const char *prefix, int64_t *id)
{
	size_t n = strlen(prefix), digits;
	const char *p;
	int64_t v = 0;

	if (!subject || strncmp(subject, prefix, n))
		return -1;
	p = subject + n;
	digits = strspn(p, "0123456789");
	/* canonical: 1 to 16 digits, no leading zero, nothing after */
	if (digits < 1 || digits > 16 || p[0] == '0' || p[digits] != '\0')
		return -1;
	for (size_t i = 0; i < digits; i++)
		v = v * 10 + (p[i] - '0');
	if (v > EM_MAX_REQUEST_ID)
		return -1;
	*id = v;
	return 0;
}

int em_check_username(const char *s)
{
	size_t n = strlen(s);

	if (n < EM_USERNAME_MIN || n > EM_USERNAME_MAX)
		return EM_ERR_BAD_VALUE;
	if (!isalnum((unsigned char)s[0]))
		return EM_ERR_BAD_VALUE;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(isalnum(c) || c == '.' || c == '_' || c == '-') || c > 0x7f)
			return EM_ERR_BAD_VALUE;
	}
	return EM_OK;
}

void em_username_fold(const char *in, char *out)
{
	size_t i = 0;

	for (; in[i] && i < EM_USERNAME_MAX; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

int em_check_utc_minute(const char *s)
{
	char date[11];

	if (strlen(s) != 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' ||
	    s[17] != '0' || s[18] != '0')
		return EM_ERR_BAD_VALUE;
	for (int i = 11; i < 16; i++)
		if (i != 13 && !isdigit((unsigned char)s[i]))
			return EM_ERR_BAD_VALUE;
	if (atoi(s + 11) > 23 || atoi(s + 14) > 59)
		return EM_ERR_BAD_VALUE;
	memcpy(date, s, 10);
	date[10] = 0;
	return em_check_date(date);
}

int em_check_date(const char *s)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, m, d, leap;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return EM_ERR_BAD_VALUE;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
			return EM_ERR_BAD_VALUE;
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (y < 2000 || y > 2200 || m < 1 || m > 12 || d < 1)
		return EM_ERR_BAD_VALUE;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[m - 1] + (m == 2 && leap))
		return EM_ERR_BAD_VALUE;
	return EM_OK;
}
