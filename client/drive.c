/*
 * drive.c - the CLI's host loop around the client core (drive.h).
 *
 * DESIGN. The core never waits; this file does: it sends every frame the
 * core produced, hands every frame received to emc_receive(), and wakes the
 * core on its timers, until the task the command started ends. Events the
 * command does not handle itself are printed as the CLI always printed
 * them: warnings and notices on stderr, reports as "ementor: …".
 * Thread: main only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "drive.h"
#include "state.h"

int64_t drive_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void drive_end_clear(struct drive_end *end)
{
	json_decref(end->result);
	memset(end, 0, sizeof(*end));
}

/* Prints an event nobody else handled. */
static void drive_print(json_t *ev)
{
	const char *name = json_string_value(json_object_get(ev, "ev"));
	const char *code = json_string_value(json_object_get(ev, "code"));
	const char *text = json_string_value(json_object_get(ev, "text"));

	if (!name)
		return;
	if (!strcmp(name, "warning")) {
		if (code && (!strcmp(code, "keys_changed") || !strcmp(code, "name_changed")))
			fprintf(stderr, "\nWARNING: %s\n\n", text ? text : "");
		else
			fprintf(stderr, "WARNING: %s\n", text ? text : "");
	} else if (!strcmp(name, "notice")) {
		fprintf(stderr, "NOTICE: %s\n", text ? text : "");
	} else if (!strcmp(name, "report")) {
		fprintf(stderr, "ementor: %s\n", text ? text : "");
	} else if (!strcmp(name, "note")) {
		fprintf(stderr, "note: %s\n", text ? text : "");
	}
}

static void drive_end_from(struct drive_end *end, json_t *ev)
{
	json_t *err = json_object_get(ev, "error");
	const char *s;

	memset(end, 0, sizeof(*end));
	end->ok = json_is_true(json_object_get(ev, "ok"));
	end->result = json_incref(json_object_get(ev, "result"));
	if (end->ok)
		return;
	end->exit = (int)json_integer_value(json_object_get(err, "exit"));
	if (!end->exit)
		end->exit = CLI_EXIT_REFUSED;
	snprintf(end->code, sizeof(end->code), "%s",
	         (s = json_string_value(json_object_get(err, "code"))) ? s : "");
	snprintf(end->message, sizeof(end->message), "%s",
	         (s = json_string_value(json_object_get(err, "message"))) ? s : "");
	end->client = json_is_true(json_object_get(err, "client"));
	end->retry_after_ms = json_integer_value(json_object_get(err, "retry_after_ms"));
}

/* Sends the core's frames and handles its events. Sets *ended for task `task`. */
static void drive_flush(struct drive *d, int64_t task, struct drive_end *end, int *ended)
{
	char *text;
	size_t len;
	enum emc_output kind;

	while ((kind = emc_next(d->core, &text, &len)) != EMC_NONE) {
		if (kind == EMC_FRAME) {
			if (d->conn && !d->link_lost)
				conn_send_text(d->conn, text, len);
		} else {
			json_t *ev = json_loadb(text, len, 0, NULL);
			const char *name = json_string_value(json_object_get(ev, "ev"));

			if (name && !strcmp(name, "task") &&
			    json_integer_value(json_object_get(ev, "task")) == task && task > 0) {
				if (end)
					drive_end_from(end, ev);
				if (ended)
					*ended = 1;
			} else if (!(d->on_event && d->on_event(d, ev, d->arg))) {
				drive_print(ev);
			}
			json_decref(ev);
		}
		sodium_memzero(text, len);
		free(text);
	}
}

void drive_disconnect(struct drive *d)
{
	conn_free(d->conn);
	d->conn = NULL;
	emc_link(d->core, 0, drive_now_ms());
}

int drive_pump(struct drive *d, int fd, int timeout_ms, int64_t task, struct drive_end *end,
               int *ended)
{
	int64_t wake;
	char *frame = NULL;
	size_t len = 0;
	int rc;

	drive_flush(d, task, end, ended);
	if (ended && *ended)
		return 0;
	wake = emc_wake_in(d->core, drive_now_ms());
	if (wake >= 0 && wake < timeout_ms)
		timeout_ms = (int)(wake > 0 ? wake : 1);
	if (!d->conn) {
		if (fd < 0 && timeout_ms > 0) {
			struct timespec ts = {timeout_ms / 1000,
			                      (long)(timeout_ms % 1000) * 1000000L};

			nanosleep(&ts, NULL);
		}
		emc_tick(d->core, drive_now_ms());
		drive_flush(d, task, end, ended);
		return 0;
	}
	rc = conn_recv_text(d->conn, fd, timeout_ms, &frame, &len);
	if (rc == CONN_NEXT_EVENT) {
		emc_receive(d->core, frame, len, drive_now_ms());
		sodium_memzero(frame, len);
		free(frame);
	} else if (rc < 0) {
		if (!d->link_lost && !d->quiet_link)
			fprintf(stderr, "ementor: %s\n", conn_strerror(d->conn));
		d->link_lost = 1;
		d->close_code = conn_close_code(d->conn);
		snprintf(d->link_error, sizeof(d->link_error), "%s", conn_strerror(d->conn));
		drive_disconnect(d);
	} else {
		emc_tick(d->core, drive_now_ms());
	}
	drive_flush(d, task, end, ended);
	return rc == CONN_NEXT_FD ? CONN_NEXT_FD : (rc < 0 ? rc : 0);
}

int64_t drive_start(struct drive *d, json_t *cmd)
{
	char *text = json_dumps(cmd, JSON_COMPACT);
	int64_t task;

	json_decref(cmd);
	if (!text)
		return cli_fail(CLI_EXIT_LOCAL, "out of memory"), -1;
	task = emc_command(d->core, text, drive_now_ms());
	sodium_memzero(text, strlen(text)); /* a command may carry a password */
	free(text);
	if (task < 0) {
		cli_fail(CLI_EXIT_LOCAL, "the client core refused the command (%s)",
		         strerror((int)-task));
		return -1;
	}
	return task;
}

int drive_run(struct drive *d, json_t *cmd, struct drive_end *end)
{
	int64_t task = drive_start(d, cmd);
	int ended = 0;

	memset(end, 0, sizeof(*end));
	if (task < 0)
		return -1;
	while (!ended)
		drive_pump(d, -1, 1000, task, end, &ended);
	return 0;
}

int drive_end_fail(const struct drive_end *end)
{
	char *safe = text_for_terminal(end->message, strlen(end->message));

	cli_fail(end->exit, "%s", safe ? safe : end->message);
	free(safe);
	return end->exit;
}

int drive_run_ok(struct drive *d, json_t *cmd, struct drive_end *end)
{
	if (drive_run(d, cmd, end) != 0)
		return CLI_EXIT_LOCAL;
	return end->ok ? CLI_EXIT_OK : drive_end_fail(end);
}

/* Prints a failed task the way the CLI prints a server's refusal. Returns its exit code. */
static int drive_refusal(struct drive *d, const struct drive_end *end)
{
	char *safe = text_for_terminal(end->message, strlen(end->message));

	if (end->exit == CLI_EXIT_AUTH)
		cli_fail(end->exit, "your session has expired; run `ementor login %s`.",
		         d->session.username);
	else if (end->exit != CLI_EXIT_REFUSED || end->client)
		cli_fail(end->exit, "%s", safe ? safe : end->message);
	else
		fprintf(stderr, "error: %s (%s)\n", safe ? safe : "?", end->code);
	free(safe);
	return end->exit;
}

int drive_run_result(struct drive *d, json_t *cmd, json_t **result)
{
	struct drive_end end = {0};
	int rc = 0;

	*result = NULL;
	if (drive_run(d, cmd, &end) != 0)
		rc = CLI_EXIT_LOCAL;
	else if (!end.ok)
		rc = drive_refusal(d, &end);
	else
		*result = json_incref(end.result);
	drive_end_clear(&end);
	return rc;
}

int drive_once(struct cli *cli, json_t *cmd, json_t **result)
{
	struct drive d;
	int rc;

	*result = NULL;
	rc = drive_open(cli, &d, 1);
	if (rc) {
		json_decref(cmd);
		if (d.core)
			drive_close(&d);
		return rc;
	}
	rc = drive_run_result(&d, cmd, result);
	drive_close(&d);
	return rc;
}

int drive_connect(struct drive *d)
{
	int rc = cli_connect(d->cli, cli_server(d->cli, &d->session), &d->conn);

	if (rc) {
		d->conn = NULL;
		return rc;
	}
	/* the core resumes the session first (emc_link), before any other frame */
	conn_set_raw(d->conn);
	d->link_lost = 0;
	emc_link(d->core, 1, drive_now_ms());
	return CLI_EXIT_OK;
}

int drive_open(struct cli *cli, struct drive *d, int connect)
{
	struct home_keys keys;
	int rc;

	memset(d, 0, sizeof(*d));
	d->cli = cli;
	rc = cli_session_load(cli, &d->session);
	if (rc)
		return rc;
	rc = home_keys_load(&cli->home, &keys);
	if (rc == -ENOENT)
		return cli_fail(CLI_EXIT_AUTH,
		                "your keys are not on this device; run `ementor login %s`.",
		                d->session.username);
	if (rc)
		return cli_home_error(cli, "read", HOME_KEYS_FILE, rc);
	if (strcmp(keys.username, d->session.username) != 0) {
		home_keys_wipe(&keys);
		return cli_fail(
		    CLI_EXIT_AUTH,
		    "the keys on this device belong to %s, not to %s; run `ementor login %s`.",
		    keys.username, d->session.username, d->session.username);
	}
	home_keys_wipe(&keys);
	store_init(&d->store, &cli->home, &d->storage);
	d->core = emc_new(&d->storage, drive_now_ms());
	if (!d->core)
		return cli_fail(CLI_EXIT_LOCAL, "cannot open the client state in %s (damaged?)",
		                cli->home.dir);
	if (connect) {
		rc = drive_connect(d);
		if (rc == CLI_EXIT_NET || rc == CLI_EXIT_REFUSED)
			d->link_lost = 1;
		return rc;
	}
	return CLI_EXIT_OK;
}

/* The core on the home directory, without keys or a connection (see the two below). */
static int drive_open_core(struct cli *cli, struct drive *d, int create, int with_session)
{
	int rc;

	memset(d, 0, sizeof(*d));
	d->cli = cli;
	rc = cli_home(cli);
	if (rc)
		return rc;
	if (create) {
		rc = home_ensure(&cli->home);
		if (rc)
			return cli_home_error(cli, "create", NULL, rc);
	}
	if (with_session) {
		rc = cli_session_load(cli, &d->session);
		if (rc)
			return rc;
	}
	store_init(&d->store, &cli->home, &d->storage);
	d->core = emc_new(&d->storage, drive_now_ms());
	if (!d->core)
		return cli_fail(CLI_EXIT_LOCAL, "cannot open the client state in %s (damaged?)",
		                cli->home.dir);
	return CLI_EXIT_OK;
}

int drive_open_local(struct cli *cli, struct drive *d)
{
	return drive_open_core(cli, d, 0, 0);
}

int drive_open_account(struct cli *cli, struct drive *d, int with_session)
{
	return drive_open_core(cli, d, 1, with_session);
}

void drive_close(struct drive *d)
{
	emc_free(d->core); /* saves what is pending */
	d->core = NULL;
	conn_free(d->conn);
	d->conn = NULL;
	home_session_wipe(&d->session);
}
