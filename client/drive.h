/*
 * drive.h - the CLI as a host of the client core (core/emc.h): it opens the
 * core on the home directory (store.c), connects and resumes the session
 * (conn.c in raw mode), and pumps frames both ways and the clock until a
 * task is over, printing the core's warnings, notices and reports the way
 * the CLI always has. Thread: main only.
 */
#ifndef CLIENT_DRIVE_H
#define CLIENT_DRIVE_H

#include <jansson.h>

#include "cli.h"
#include "conn.h"
#include "emc.h"
#include "store.h"

struct drive;

/* A command's own handling of an event (a message, a status line); return 1 when handled. */
typedef int (*drive_event_fn)(struct drive *d, json_t *ev, void *arg);

struct drive {
	struct cli *cli;
	struct home_session session;
	struct store store;
	struct emc_storage storage;
	struct emc *core;
	struct conn *conn; /* NULL when not connected */
	int link_lost;     /* the connection failed (already reported) */
	int quiet_link;    /* do not print a link failure (the command says it its way) */
	int close_code;    /* the server's close code when the link failed (e.g. 4004) */
	char link_error[512];
	drive_event_fn on_event;
	void *arg;
};

/* A task's end, as the "task" event said. */
struct drive_end {
	int ok;
	int exit;      /* emc exit code (CLI_EXIT_*) */
	char code[32]; /* the error code ("not_member", "refused", "unreachable") */
	char message[512];
	int client; /* the refusal is the client's own */
	int64_t retry_after_ms;
	json_t *result; /* owned by the caller: json_decref() */
};

/*
 * Loads the session and opens the core. With `connect`, also connects,
 * resumes the session and brings the core's link up; a failure to connect
 * is printed and leaves d->conn NULL (a command may then work offline).
 * Returns an exit code. Who frees: drive_close().
 */
int drive_open(struct cli *cli, struct drive *d, int connect);
/*
 * Opens the core on the home directory alone, logged in or not, offline:
 * for commands that only read and change this device's pins. Returns an
 * exit code. Who frees: drive_close().
 */
int drive_open_local(struct cli *cli, struct drive *d);
/*
 * Opens the core for an account command (login, register, passwd, logout):
 * the home directory is created if missing, no keys are required, and
 * session.json is loaded only `with_session` (then required). Does not
 * connect: the command starts first (core/emc.h). Returns an exit code.
 * Who frees: drive_close().
 */
int drive_open_account(struct cli *cli, struct drive *d, int with_session);
/* Connects (again) and brings the link up. Returns an exit code (printed). */
int drive_connect(struct drive *d);
/* The link went down: tells the core, frees the connection. */
void drive_disconnect(struct drive *d);

/*
 * Starts command `cmd` (takes the reference) and pumps until its task is
 * over; fills *end. Events other than the task's end go to d->on_event,
 * else are printed. Returns 0, or -1 when the command could not start
 * (printed).
 */
int drive_run(struct drive *d, json_t *cmd, struct drive_end *end);
/*
 * As drive_run(), for commands that report a failed task plainly. Returns 0
 * when the task ended ok, CLI_EXIT_LOCAL when it could not start, else the
 * task's exit code, printed by drive_end_fail().
 */
int drive_run_ok(struct drive *d, json_t *cmd, struct drive_end *end);
/* Prints a failed task's message as "ementor: MESSAGE", made safe for the terminal. Returns its
 * exit code. */
int drive_end_fail(const struct drive_end *end);
/*
 * Opens the session's store, runs cmd (takes it) on a fresh connection and
 * closes again. On success *result holds the task's result (the caller's
 * reference). A failure is printed the way the CLI prints a server's
 * refusal ("error: MESSAGE (CODE)"; an expired session says to log in).
 * Returns 0 or the exit code.
 */
int drive_once(struct cli *cli, json_t *cmd, json_t **result);
/* drive_once() on a drive already open (several commands on one connection). */
int drive_run_result(struct drive *d, json_t *cmd, json_t **result);

/*
 * One round of pumping: sends what the core has, prints or hands on its
 * events, then waits up to timeout_ms for a frame (or fd readable, or the
 * core's next timer). Returns CONN_NEXT_FD when fd is readable, 0 otherwise,
 * or a negative conn error when the link failed (the core was told).
 * Events of task `task` ending set *end (when not NULL) and *ended.
 */
int drive_pump(struct drive *d, int fd, int timeout_ms, int64_t task, struct drive_end *end,
               int *ended);

/* Starts a command without waiting. Returns the task id, or -1 (printed). */
int64_t drive_start(struct drive *d, json_t *cmd);

void drive_end_clear(struct drive_end *end);
void drive_close(struct drive *d);

/* The wall clock, Unix milliseconds. */
int64_t drive_now_ms(void);

#endif
