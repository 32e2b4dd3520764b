/*
 * views.h - the client's static functions that handle what a server sends,
 * reached by fuzz_client.c without a connection. Each views_NAME.c includes
 * one client source file whole (so client/ keeps its `static`s and needs no
 * change for the fuzzer) and exports a thin wrapper; the fuzz target links
 * these instead of those files. What moved into the client core (core/:
 * reading, sending, the chat's live task) is fuzzed through the core's own
 * API by fuzz_core.c instead.
 */
#ifndef EMENTOR_FUZZ_CLIENT_VIEWS_H
#define EMENTOR_FUZZ_CLIENT_VIEWS_H

#include <jansson.h>

#include "home.h"
#include "cli.h"

/* cli.c: what cli_call() does to a result (and an error message) before printing. */
void view_defang(json_t *result);
void view_defang_text(char *text);
/* cmd_programme.c, cmd_room.c, cmd_account.c: the printers of cli_call() results. */
void view_programme(json_t *programme);
void view_room(json_t *room);
void view_whoami(const struct cli *cli, const struct home_session *s, json_t *res);
/* cmd_checkpoint.c */
void view_checkpoint(json_t *cp);
void view_notice(json_t *notice);
/* cmd_audit.c: the report as a table (all rooms, one room) and as CSV. */
void view_audit(json_t *report);

#endif
