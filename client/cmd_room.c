/*
 * cmd_room.c - room commands: a manager forms pair rooms (1 mentor, 1 mentee)
 * and group rooms (1 mentor, 2 to 5 mentees) and changes their members;
 * everyone lists and inspects the rooms they may see. Member fingerprints are
 * computed here from the public keys the server sends, so what the user
 * compares at the first meeting does not rest on the server's word.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A room with members: one paragraph and a members table. `lead` is "Room" or "Created room". */
static void room_print(json_t *room, const char *lead)
{
	static const char *const head[] = {"USERNAME", "ROLE", "DISPLAY NAME", "FINGERPRINT",
	                                   "ADDED"};
	json_t *members = json_object_get(room, "members"), *m;
	const char *name = cli_str(room, "name", NULL);
	struct cli_table t;
	int warn = 0;
	size_t i;

	printf("%s %lld%s%s%s\n", lead, (long long)json_integer_value(json_object_get(room, "id")),
	       name ? " \"" : "", name ? name : "", name ? "\"" : "");
	printf("  Programme: %lld\n",
	       (long long)json_integer_value(json_object_get(room, "programme_id")));
	printf("  Kind:      %s\n", cli_str(room, "kind", "-"));
	printf("  Status:    %s\n", cli_str(room, "status", "-"));
	printf("  Created:   %s\n", cli_str(room, "created_at", "-"));
	if (!json_array_size(members)) {
		printf("\nNo members yet.\n");
		return;
	}
	cli_table_init(&t, 5, head);
	json_array_foreach(members, i, m)
	{
		char fp[EM_FINGERPRINT_STRLEN];
		const char *row[] = {cli_str(m, "username", "-"), cli_str(m, "role", "-"),
		                     cli_str(m, "display_name", "-"), fp,
		                     cli_str(m, "added_at", "-")};

		if (cli_fingerprint(m, fp) == 1)
			warn = 1;
		if (cli_table_add(&t, row))
			break; /* out of memory: print what we have */
	}
	printf("\n");
	cli_table_print(&t, stdout, "");
	cli_table_free(&t);
	if (warn)
		fprintf(stderr, "WARNING: the server's fingerprint for a member does not match "
		                "that member's keys; the fingerprints above are computed from the "
		                "keys.\n");
}

/* ---- room create ---- */

static const char room_create_usage[] =
    "Usage: ementor room create --programme ID --kind pair|group [--name NAME]\n"
    "                           [--member USER]...\n"
    "\n"
    "Create a room in a programme you manage. A pair room holds one mentor and\n"
    "one mentee; a group room one mentor and 2 to 5 mentees (the programme's\n"
    "maximum). Members may be given now (all are added or none) or later with\n"
    "`ementor room add`.\n"
    "\n"
    "Options:\n"
    "  --programme ID    the programme\n"
    "  --kind KIND       pair or group\n"
    "  --name NAME       1 to 100 characters (optional)\n"
    "  --member USER     a mentor or mentee of the programme, or a manager of it as\n"
    "                    the room's mentor; repeat for each (at most 6)\n";

#define ROOM_MAX_MEMBERS (EM_GROUP_MENTEES_MAX + 1)

struct room_create_args {
	const char *programme;
	const char *kind;
	const char *name;
	const char *members[ROOM_MAX_MEMBERS];
	size_t nmembers;
	int too_many;
};

static int room_create_option(void *ctx, int opt, const char *arg)
{
	struct room_create_args *a = ctx;

	if (opt == 'p') {
		a->programme = arg;
	} else if (opt == 'k') {
		a->kind = arg;
	} else if (opt == 'n') {
		a->name = arg;
	} else if (opt == 'm') {
		if (a->nmembers < ROOM_MAX_MEMBERS)
			a->members[a->nmembers++] = arg;
		else
			a->too_many = 1;
	}
	return CLI_CONTINUE;
}

int cmd_room_create(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"programme", required_argument, NULL, 'p'},
	    {"kind", required_argument, NULL, 'k'},
	    {"name", required_argument, NULL, 'n'},
	    {"member", required_argument, NULL, 'm'},
	    {NULL, 0, NULL, 0},
	};
	struct room_create_args a;
	json_t *args = NULL, *members = NULL, *res = NULL;
	int64_t programme;
	int rc, first;

	memset(&a, 0, sizeof(a));
	rc = cli_parse(cli, argc, argv, opts, room_create_usage, room_create_option, &a, 0, 0,
	               &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (!a.programme || !a.kind)
		return cli_usage_error(cli, "--programme and --kind are required");
	if ((rc = cli_programme_ref(cli, a.programme, &programme)) != CLI_CONTINUE)
		return rc;
	if (strcmp(a.kind, "pair") != 0 && strcmp(a.kind, "group") != 0)
		return cli_usage_error(cli, "--kind must be pair or group");
	if (a.name && !*a.name)
		return cli_usage_error(cli, "--name must not be empty");
	if (a.too_many)
		return cli_usage_error(cli, "at most %d --member options", ROOM_MAX_MEMBERS);
	for (size_t i = 0; i < a.nmembers; i++)
		if (em_check_username(a.members[i]) != EM_OK)
			return cli_usage_error(cli, "--member '%s' is not a valid username",
			                       a.members[i]);

	args = json_pack("{s:I, s:s}", "programme_id", (json_int_t)programme, "kind", a.kind);
	if (!args)
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	if (a.name)
		json_object_set_new(args, "name", json_string(a.name));
	if (a.nmembers) {
		members = json_array();
		for (size_t i = 0; members && i < a.nmembers; i++)
			json_array_append_new(members, json_string(a.members[i]));
		json_object_set_new(args, "members", members);
	}
	rc = cli_request(cli, EM_OP_ROOM_CREATE, args, &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	room_print(json_object_get(res, "room"), "Created room");
out:
	json_decref(res);
	return rc;
}

/* ---- room list ---- */

static const char room_list_usage[] =
    "Usage: ementor room list [--programme ID]\n"
    "\n"
    "List rooms: a manager sees the rooms of the programmes they manage, a mentor\n"
    "or mentee the rooms they are in.\n"
    "\n"
    "Options:\n"
    "  --programme ID    only the rooms of this programme\n";

static int room_list_option(void *ctx, int opt, const char *arg)
{
	*(const char **)ctx = arg;
	return CLI_CONTINUE;
}

int cmd_room_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"programme", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	static const char *const head[] = {"ID",     "PROGRAMME", "KIND", "STATUS",
	                                   "MENTOR", "MENTEES",   "NAME"};
	const char *programme_arg = NULL;
	struct cli_table t;
	json_t *args = NULL, *res = NULL, *rooms, *r;
	int64_t programme;
	size_t i;
	int rc, first;

	cli_table_init(&t, 7, head);
	rc = cli_parse(cli, argc, argv, opts, room_list_usage, room_list_option, &programme_arg, 0,
	               0, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if (programme_arg) {
		if ((rc = cli_programme_ref(cli, programme_arg, &programme)) != CLI_CONTINUE)
			return rc;
		args = json_pack("{s:I}", "programme_id", (json_int_t)programme);
	}
	rc = cli_request(cli, EM_OP_ROOM_LIST, args, &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	rooms = json_object_get(res, "rooms");
	if (!json_array_size(rooms)) {
		printf("No rooms.\n");
		goto out;
	}
	json_array_foreach(rooms, i, r)
	{
		char id[24], prog[24], count[24];
		const char *row[] = {cli_int_text(r, "id", id, sizeof(id)),
		                     cli_int_text(r, "programme_id", prog, sizeof(prog)),
		                     cli_str(r, "kind", "-"),
		                     cli_str(r, "status", "-"),
		                     cli_str(r, "mentor", "-"),
		                     cli_int_text(r, "mentee_count", count, sizeof(count)),
		                     cli_str(r, "name", "")};

		if (cli_table_add(&t, row)) {
			rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
			goto out;
		}
	}
	cli_table_print(&t, stdout, "");
out:
	cli_table_free(&t);
	json_decref(res);
	return rc;
}

/* ---- room show ---- */

static const char room_show_usage[] =
    "Usage: ementor room show ID\n"
    "\n"
    "Show a room and its members, with each member's key fingerprint (computed\n"
    "on this device from the member's public keys).\n";

int cmd_room_show(struct cli *cli, int argc, char **argv)
{
	json_t *res = NULL;
	int64_t id;
	int rc, first;

	rc = cli_parse(cli, argc, argv, NULL, room_show_usage, NULL, NULL, 1, 1, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if ((rc = cli_room_ref(cli, argv[first], &id)) != CLI_CONTINUE)
		return rc;
	rc = cli_request(cli, EM_OP_ROOM_SHOW, json_pack("{s:I}", "room_id", (json_int_t)id), &res);
	if (rc)
		goto out;
	if (cli->json)
		cli_print_json(res);
	else
		room_print(json_object_get(res, "room"), "Room");
out:
	json_decref(res);
	return rc;
}

/* ---- room add / remove ---- */

static const char room_add_usage[] =
    "Usage: ementor room add ID USER\n"
    "\n"
    "Add a mentor or mentee of the room's programme to the room (managers of the\n"
    "programme only). A manager of the programme joins as the room's mentor.\n";

static const char room_remove_usage[] = "Usage: ementor room remove ID USER\n"
                                        "\n"
                                        "Remove a member from the room (managers of the programme "
                                        "only).\n";

static int room_change(struct cli *cli, int argc, char **argv, enum em_op op, const char *usage)
{
	json_t *res = NULL, *room;
	char username[EM_USERNAME_MAX + 1];
	int64_t id;
	int rc, first;

	rc = cli_parse(cli, argc, argv, NULL, usage, NULL, NULL, 2, 2, &first);
	if (rc != CLI_CONTINUE)
		return rc;
	if ((rc = cli_room_ref(cli, argv[first], &id)) != CLI_CONTINUE)
		return rc;
	if (em_check_username(argv[first + 1]) != EM_OK)
		return cli_usage_error(cli, "'%s' is not a valid username", argv[first + 1]);
	em_username_fold(argv[first + 1], username);
	rc = cli_request(cli, op,
	                 json_pack("{s:I, s:s}", "room_id", (json_int_t)id, "username", username),
	                 &res);
	if (rc)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	room = json_object_get(res, "room");
	printf("%s %s %s room %lld; the room is now %s.\n",
	       op == EM_OP_ROOM_ADD ? "Added" : "Removed", username,
	       op == EM_OP_ROOM_ADD ? "to" : "from", (long long)id, cli_str(room, "status", "-"));
out:
	json_decref(res);
	return rc;
}

int cmd_room_add(struct cli *cli, int argc, char **argv)
{
	return room_change(cli, argc, argv, EM_OP_ROOM_ADD, room_add_usage);
}

int cmd_room_remove(struct cli *cli, int argc, char **argv)
{
	return room_change(cli, argc, argv, EM_OP_ROOM_REMOVE, room_remove_usage);
}
