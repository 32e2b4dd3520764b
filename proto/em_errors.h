/*
 * em_errors.h - the protocol's error codes: one enum for everything that can
 * go on the wire, its stable strings and sentences (em_errors.c). Pure.
 */
#ifndef EM_ERRORS_H
#define EM_ERRORS_H

/*
 * One error enum for everything that can go on the wire. 0 is success, every
 * failure is negative. em_err_code() gives the stable snake_case string that
 * travels in error frames; em_strerror() a sentence for humans.
 */
enum em_err {
	EM_OK = 0,
	/* frame and field validation (proto) */
	EM_ERR_BAD_JSON = -1,
	EM_ERR_BAD_FRAME = -2,
	EM_ERR_UNKNOWN_OP = -3,
	EM_ERR_MISSING_FIELD = -4,
	EM_ERR_WRONG_TYPE = -5,
	EM_ERR_UNKNOWN_FIELD = -6,
	EM_ERR_TOO_LONG = -7,
	EM_ERR_TOO_SHORT = -8,
	EM_ERR_OUT_OF_RANGE = -9,
	EM_ERR_BAD_ENCODING = -10,
	EM_ERR_BAD_VALUE = -11,
	EM_ERR_FRAME_TOO_LARGE = -12,
	/* session and authorisation */
	EM_ERR_NOT_AUTHENTICATED = -20,
	EM_ERR_ALREADY_AUTHENTICATED = -21,
	EM_ERR_BAD_CREDENTIALS = -22,
	EM_ERR_SESSION_EXPIRED = -23,
	EM_ERR_FORBIDDEN = -24,
	EM_ERR_RATE_LIMITED = -25,
	/* resources */
	EM_ERR_NOT_FOUND = -30,
	EM_ERR_USERNAME_TAKEN = -31,
	EM_ERR_INVALID_INVITE = -32,
	EM_ERR_WRONG_ROLE = -33,
	EM_ERR_NOT_IN_PROGRAMME = -34,
	EM_ERR_ROOM_FULL = -35,
	EM_ERR_ROOM_HAS_MENTOR = -36,
	EM_ERR_ALREADY_MEMBER = -37,
	EM_ERR_NOT_MEMBER = -38,
	EM_ERR_BAD_DATES = -39,
	/* messaging */
	EM_ERR_STALE_EPOCH = -40,
	EM_ERR_ROTATE_REQUIRED = -41,
	EM_ERR_ROSTER_MISMATCH = -42,
	EM_ERR_BAD_SIGNATURE = -43,
	/* checkpoints */
	EM_ERR_BAD_STATE = -44,
	EM_ERR_OUTSIDE_WINDOW = -45,
	EM_ERR_IN_THE_PAST = -46,
	EM_ERR_TOO_EARLY = -47,
	EM_ERR_TOO_MANY = -48,
	EM_ERR_AGREEMENT_UNSIGNED = -60,
	EM_ERR_STALE_VERSION = -61,
	EM_ERR_STALE_TEXT = -62,
	/* server condition: retryable */
	EM_ERR_DB_UNAVAILABLE = -50,
	EM_ERR_BUSY = -51,
	EM_ERR_INTERNAL = -52,
	EM_ERR_NOMEM = -53,
};

const char *em_err_code(int err);
const char *em_strerror(int err);
/* Inverse of em_err_code(); EM_ERR_INTERNAL for an unknown string. */
int em_err_from_code(const char *code);
/* Non-zero for errors a client should retry after a pause. */
int em_err_retryable(int err);

#endif
