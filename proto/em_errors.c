/*
 * em_errors.c - the table behind enum em_err: wire code, human sentence and
 * whether a client should retry. Adding an error means adding a row here and a
 * row in docs/PROTOCOL.md section 3; tests/unit/test_proto.c checks every row
 * round-trips.
 */
#include <string.h>

#include "em_errors.h"

struct err_row {
	int err;
	const char *code;
	const char *text;
	int retryable;
};

static const struct err_row err_rows[] = {
    {EM_OK, "ok", "success", 0},
    {EM_ERR_BAD_JSON, "bad_json", "the frame is not valid JSON", 0},
    {EM_ERR_BAD_FRAME, "bad_frame", "the frame does not have the shape of a request", 0},
    {EM_ERR_UNKNOWN_OP, "unknown_op", "unknown operation", 0},
    {EM_ERR_MISSING_FIELD, "missing_field", "a required field is missing", 0},
    {EM_ERR_WRONG_TYPE, "wrong_type", "a field has the wrong type", 0},
    {EM_ERR_UNKNOWN_FIELD, "unknown_field", "a field is not part of this operation", 0},
    {EM_ERR_TOO_LONG, "too_long", "a value is too long", 0},
    {EM_ERR_TOO_SHORT, "too_short", "a value is too short", 0},
    {EM_ERR_OUT_OF_RANGE, "out_of_range", "a number is out of range", 0},
    {EM_ERR_BAD_ENCODING, "bad_encoding",
     "a binary field is not valid base64url of the right length", 0},
    {EM_ERR_BAD_VALUE, "bad_value", "a value is not allowed", 0},
    {EM_ERR_FRAME_TOO_LARGE, "frame_too_large", "the message is larger than 65536 bytes", 0},
    {EM_ERR_NOT_AUTHENTICATED, "not_authenticated", "log in first", 0},
    {EM_ERR_ALREADY_AUTHENTICATED, "already_authenticated", "this connection is already logged in",
     0},
    {EM_ERR_BAD_CREDENTIALS, "bad_credentials", "wrong username or password", 0},
    {EM_ERR_SESSION_EXPIRED, "session_expired",
     "the session has expired or was revoked; log in again", 0},
    {EM_ERR_FORBIDDEN, "forbidden", "your role does not allow this", 0},
    {EM_ERR_RATE_LIMITED, "rate_limited", "too many attempts; wait and try again", 1},
    {EM_ERR_NOT_FOUND, "not_found", "not found", 0},
    {EM_ERR_USERNAME_TAKEN, "username_taken", "that username is taken", 0},
    {EM_ERR_INVALID_INVITE, "invalid_invite", "the invite code is unknown, used or expired", 0},
    {EM_ERR_WRONG_ROLE, "wrong_role", "that user's role does not fit here", 0},
    {EM_ERR_NOT_IN_PROGRAMME, "not_in_programme", "that user is not in the room's programme", 0},
    {EM_ERR_ROOM_FULL, "room_full", "the room has no place for another mentee", 0},
    {EM_ERR_ROOM_HAS_MENTOR, "room_has_mentor", "the room already has a mentor", 0},
    {EM_ERR_ALREADY_MEMBER, "already_member", "that user is already in the room", 0},
    {EM_ERR_NOT_MEMBER, "not_member", "that user is not in the room", 0},
    {EM_ERR_BAD_DATES, "bad_dates", "the end date must be after the start date", 0},
    {EM_ERR_STALE_EPOCH, "stale_epoch", "the room is at another key epoch", 0},
    {EM_ERR_ROTATE_REQUIRED, "rotate_required", "the room key must be rotated first", 0},
    {EM_ERR_ROSTER_MISMATCH, "roster_mismatch", "the recipients are not the room's members", 0},
    {EM_ERR_BAD_SIGNATURE, "bad_signature", "the signature does not verify", 0},
    {EM_ERR_BAD_STATE, "bad_state", "the checkpoint is not in a state that allows this", 0},
    {EM_ERR_OUTSIDE_WINDOW, "outside_window", "the slot is outside the checkpoint's window", 0},
    {EM_ERR_IN_THE_PAST, "in_the_past", "that time has passed", 0},
    {EM_ERR_TOO_EARLY, "too_early", "the meeting has not started yet", 0},
    {EM_ERR_TOO_MANY, "too_many", "too many open slots", 0},
    {EM_ERR_AGREEMENT_UNSIGNED, "agreement_unsigned",
     "not on the room's roster: sign the room's agreement first", 0},
    {EM_ERR_STALE_VERSION, "stale_version",
     "that agreement version is not the one waiting for signatures", 0},
    {EM_ERR_STALE_TEXT, "stale_text", "the text you agreed to is not the current one", 0},
    {EM_ERR_DB_UNAVAILABLE, "db_unavailable", "the database is unreachable; try again shortly", 1},
    {EM_ERR_BUSY, "busy", "the server is busy; try again shortly", 1},
    {EM_ERR_INTERNAL, "internal", "internal server error", 1},
    {EM_ERR_NOMEM, "internal", "out of memory", 1},
};

#define N_ERR_ROWS (sizeof(err_rows) / sizeof(err_rows[0]))

static const struct err_row *err_row_find(int err)
{
	for (size_t i = 0; i < N_ERR_ROWS; i++)
		if (err_rows[i].err == err)
			return &err_rows[i];
	return NULL;
}

const char *em_err_code(int err)
{
	const struct err_row *row = err_row_find(err);

	return row ? row->code : "internal";
}

const char *em_strerror(int err)
{
	const struct err_row *row = err_row_find(err);

	return row ? row->text : "unknown error";
}

int em_err_from_code(const char *code)
{
	if (!code)
		return EM_ERR_INTERNAL;
	for (size_t i = 0; i < N_ERR_ROWS; i++)
		if (!strcmp(err_rows[i].code, code))
			return err_rows[i].err;
	return EM_ERR_INTERNAL;
}

int em_err_retryable(int err)
{
	const struct err_row *row = err_row_find(err);

	return row ? row->retryable : 0;
}
