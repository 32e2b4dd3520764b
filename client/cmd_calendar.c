/*
 * cmd_calendar.c - the calendar commands: get the secret feed URL a calendar
 * app subscribes to (PROTOCOL.md 6.3), revoke it, or export the same
 * iCalendar document once. The URL works without a login, so it is shown
 * with a warning and can be revoked; the export is written byte for byte as
 * the server sent it, so that `ementor calendar export > meetings.ics` gives
 * a file a calendar app can import.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* ---- calendar url ---- */

static const char calendar_url_usage[] =
    "Usage: ementor calendar url\n"
    "\n"
    "Make a new secret URL of your checkpoints' calendar feed, for a calendar app\n"
    "to subscribe to. Any URL you had before stops working. Anyone who has the URL\n"
    "sees your meetings' times, places and participants without logging in: keep\n"
    "it like a password, and run `ementor calendar revoke` if it leaks.\n";

int cmd_calendar_url(struct cli *cli, int argc, char **argv)
{
	json_t *res = NULL;
	int rc, first;

	rc = cli_parse(cli, argc, argv, NULL, calendar_url_usage, NULL, NULL, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_request(cli, EM_OP_CALENDAR_URL, NULL, &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	printf("Your calendar feed (subscribe to it in your calendar app):\n");
	printf("  %s\n", cli_str(res, "url", "-"));
	fflush(stdout); /* the URL first, then the warning, also when both go to one pipe */
	fprintf(stderr, "WARNING: this URL is a secret. Anyone who has it can see your meetings "
	                "without logging in. Any earlier URL of yours no longer works; "
	                "`ementor calendar revoke` turns this one off.\n");
out:
	json_decref(res);
	return rc;
}

/* ---- calendar revoke ---- */

static const char calendar_revoke_usage[] =
    "Usage: ementor calendar revoke\n"
    "\n"
    "Turn off your calendar feed URL: calendar apps subscribed to it get nothing\n"
    "more. `ementor calendar url` makes a new one.\n";

int cmd_calendar_revoke(struct cli *cli, int argc, char **argv)
{
	json_t *res = NULL;
	int rc, first;

	rc = cli_parse(cli, argc, argv, NULL, calendar_revoke_usage, NULL, NULL, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_request(cli, EM_OP_CALENDAR_REVOKE, NULL, &res);
	if (rc)
		goto out;
	if (cli->json)
		cli_print_json(res);
	else if (json_is_true(json_object_get(res, "revoked")))
		printf("Revoked your calendar feed URL; it no longer works.\n");
	else
		printf("You had no calendar feed URL; nothing to revoke.\n");
out:
	json_decref(res);
	return rc;
}

/* ---- calendar export ---- */

static const char calendar_export_usage[] =
    "Usage: ementor calendar export\n"
    "\n"
    "Print your checkpoints as an iCalendar document (the same as the feed), for\n"
    "example `ementor calendar export > meetings.ics` to import into a calendar.\n"
    "With --json, the server's result ({\"ics\": ...}) is printed instead.\n";

/*
 * Writes the document as it is to a file or pipe. On a terminal, control
 * characters (C0 other than line ends and tabs, DEL, C1) become '?': a
 * document from the server must not be able to drive the terminal.
 */
static int calendar_write(const char *ics, size_t len)
{
	int tty = isatty(STDOUT_FILENO);

	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)ics[i];

		if (tty && ch == 0xc2 && i + 1 < len && (unsigned char)ics[i + 1] >= 0x80 &&
		    (unsigned char)ics[i + 1] <= 0x9f) {
			/* a C1 control character, two bytes in UTF-8 */
			if (fputs("??", stdout) == EOF)
				return -1;
			i++;
			continue;
		}
		if (tty && ((ch < 0x20 && ch != '\r' && ch != '\n' && ch != '\t') || ch == 0x7f))
			ch = '?';
		if (putchar(ch) == EOF)
			return -1;
	}
	return 0;
}

int cmd_calendar_export(struct cli *cli, int argc, char **argv)
{
	json_t *res = NULL, *ics;
	int rc, first;

	rc = cli_parse(cli, argc, argv, NULL, calendar_export_usage, NULL, NULL, 0, 0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_request_raw(cli, EM_OP_CALENDAR_EXPORT, NULL, &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	ics = json_object_get(res, "ics");
	if (!json_is_string(ics)) {
		rc = cli_fail(CLI_EXIT_NET,
		              "the server's answer to calendar.export has no document");
		goto out;
	}
	if (calendar_write(json_string_value(ics), json_string_length(ics)) != 0)
		rc = cli_fail(CLI_EXIT_LOCAL, "cannot write the output");
out:
	json_decref(res);
	return rc;
}
