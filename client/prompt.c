/*
 * prompt.c - password entry. The password is the one secret the user types:
 * it is read from /dev/tty (never stdin, so that piped input and redirected
 * output do not leak or swallow it) with echo turned off, and the terminal is
 * restored even if the user presses Ctrl-C at the prompt. Scripts set
 * EMENTOR_PASSWORD (and EMENTOR_NEW_PASSWORD for a change) instead. Yes/no
 * confirmations (trusting a key, signing an agreement, erasing the account)
 * are asked on /dev/tty too; without a terminal the command wants --yes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "prompt.h"

/* Terminal state to restore from a signal handler; valid while tty_saved_fd >= 0. */
static volatile sig_atomic_t tty_saved_fd = -1;
static struct termios tty_saved;

static void prompt_on_signal(int sig)
{
	if (tty_saved_fd >= 0)
		tcsetattr(tty_saved_fd, TCSAFLUSH, &tty_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Reads one line from fd into buf without the newline. Returns its length or a prompt_err. */
static int prompt_read_line(int fd, char *buf)
{
	size_t len = 0;
	int too_long = 0;

	for (;;) {
		char ch;
		ssize_t n = read(fd, &ch, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || ch == '\n' || ch == '\r')
			break;
		if (len < PROMPT_PASSWORD_MAX)
			buf[len++] = ch;
		else
			too_long = 1;
	}
	buf[len] = '\0';
	if (too_long)
		return PROMPT_ERR_TOO_LONG;
	return len ? (int)len : PROMPT_ERR_EMPTY;
}

/* Shows prompt on the terminal and reads a line with echo off. */
static int prompt_tty(const char *prompt, char *buf)
{
	struct sigaction sa, old_int, old_term, old_hup;
	struct termios quiet;
	int fd, rc, echo_off = 0;

	fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return PROMPT_ERR_NO_TTY;
	if (write(fd, prompt, strlen(prompt)) < 0) {
		rc = PROMPT_ERR_NO_TTY;
		goto out;
	}
	if (tcgetattr(fd, &tty_saved) == 0) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = prompt_on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
		sigaction(SIGHUP, &sa, &old_hup);
		quiet = tty_saved;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
		quiet.c_lflag |= ICANON;
		tty_saved_fd = fd;
		echo_off = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
	}
	rc = prompt_read_line(fd, buf);
	if (echo_off) {
		tcsetattr(fd, TCSAFLUSH, &tty_saved);
		if (write(fd, "\n", 1) < 0)
			rc = rc < 0 ? rc : PROMPT_ERR_NO_TTY;
	}
	if (tty_saved_fd >= 0) {
		tty_saved_fd = -1;
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		sigaction(SIGHUP, &old_hup, NULL);
	}
out:
	close(fd);
	return rc;
}

int prompt_password(const char *env, const char *prompt, const char *confirm, char *buf)
{
	char again[PROMPT_PASSWORD_MAX + 1];
	const char *value = env ? getenv(env) : NULL;
	int len, len2;

	buf[0] = '\0';
	if (value) {
		len = (int)strlen(value);
		if (len > PROMPT_PASSWORD_MAX)
			return PROMPT_ERR_TOO_LONG;
		if (!len)
			return PROMPT_ERR_EMPTY;
		memcpy(buf, value, (size_t)len + 1);
	} else {
		len = prompt_tty(prompt, buf);
		if (len < 0)
			goto out;
		if (confirm) {
			len2 = prompt_tty(confirm, again);
			if (len2 != len || sodium_memcmp(buf, again, (size_t)len) != 0) {
				len = len2 < 0 && len2 != PROMPT_ERR_EMPTY ? len2
				                                           : PROMPT_ERR_MISMATCH;
				goto out;
			}
		}
	}
	if (confirm && len < PROMPT_PASSWORD_MIN)
		len = PROMPT_ERR_TOO_SHORT;
out:
	sodium_memzero(again, sizeof(again));
	if (len < 0)
		sodium_memzero(buf, PROMPT_PASSWORD_MAX + 1);
	return len;
}

int prompt_yes(const char *question)
{
	char answer[16];
	size_t n = 0;
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (write(fd, question, strlen(question)) < 0) {
		close(fd);
		return -1;
	}
	while (n + 1 < sizeof(answer)) {
		char ch;
		ssize_t r = read(fd, &ch, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || ch == '\n')
			break;
		answer[n++] = ch;
	}
	answer[n] = '\0';
	close(fd);
	return !strcasecmp(answer, "yes") || !strcasecmp(answer, "y");
}

const char *prompt_strerror(int err)
{
	switch (err) {
	case PROMPT_ERR_NO_TTY:
		return "no terminal to ask for the password on (set EMENTOR_PASSWORD)";
	case PROMPT_ERR_EMPTY:
		return "no password given";
	case PROMPT_ERR_TOO_LONG:
		return "the password is too long";
	case PROMPT_ERR_MISMATCH:
		return "the passwords do not match";
	case PROMPT_ERR_TOO_SHORT:
		return "the password is too short (at least 8 characters)";
	default:
		return "cannot read the password";
	}
}
