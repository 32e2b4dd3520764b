/*
 * prompt.h - reading passwords: from the environment for scripts, else from
 * the terminal with echo off.
 */
#ifndef CLIENT_PROMPT_H
#define CLIENT_PROMPT_H

#include <stddef.h>

/* Longest password accepted, in bytes. */
#define PROMPT_PASSWORD_MAX 1024
/* Shortest new password accepted, in bytes. */
#define PROMPT_PASSWORD_MIN 8

enum prompt_err {
	PROMPT_OK = 0,
	PROMPT_ERR_NO_TTY = -1,   /* no terminal and no environment variable */
	PROMPT_ERR_EMPTY = -2,    /* nothing typed (or end of input) */
	PROMPT_ERR_TOO_LONG = -3, /* longer than PROMPT_PASSWORD_MAX */
	PROMPT_ERR_MISMATCH = -4, /* the two entries of a new password differ */
	PROMPT_ERR_TOO_SHORT = -5,
};

/*
 * Reads a password into buf (size PROMPT_PASSWORD_MAX + 1, NUL-terminated).
 * If the environment variable `env` is set, its value is used; otherwise
 * `prompt` is shown on /dev/tty and the answer read without echo. When
 * `confirm` is not NULL the password is new: it is asked twice (the second
 * time with `confirm`) and must be at least PROMPT_PASSWORD_MIN bytes.
 * Returns the length, or a negative enum prompt_err. The caller wipes buf.
 */
int prompt_password(const char *env, const char *prompt, const char *confirm, char *buf);

/*
 * Asks a yes/no question on /dev/tty (never stdin: piped input is data).
 * Returns 1 for "y" or "yes", 0 for anything else, -1 when there is no
 * terminal (the caller then asks for --yes or an --accept flag).
 */
int prompt_yes(const char *question);

/* A sentence for a prompt_err. */
const char *prompt_strerror(int err);

#endif
