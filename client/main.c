/*
 * main.c - entry point of `ementor`, the command-line client: reads the
 * global options (which may also follow the command, see cli_parse()), finds
 * the command in the table below and runs it. The exit status tells scripts
 * what kind of failure happened (enum cli_exit); `ementor --help` lists the
 * codes and every command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct command {
	const char *group;
	const char *verb; /* NULL for one-word commands */
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *synopsis;
};

static const struct command commands[] = {
    {"register", NULL, cmd_register,
     "register --invite CODE --username NAME [--display-name NAME] [--accept-privacy]"},
    {"login", NULL, cmd_login, "login USERNAME"},
    {"logout", NULL, cmd_logout, "logout"},
    {"whoami", NULL, cmd_whoami, "whoami"},
    {"passwd", NULL, cmd_passwd, "passwd"},
    {"recovery-code", NULL, cmd_recovery_code, "recovery-code"},
    {"recover", NULL, cmd_recover, "recover USERNAME"},
    {"reset", NULL, cmd_reset, "reset [--code CODE] USERNAME"},
    {"reset-code", NULL, cmd_reset_code, "reset-code --programme ID [--expires-days N] USERNAME"},
    {"programme", "create", cmd_programme_create,
     "programme create --name NAME --starts YYYY-MM-DD --ends YYYY-MM-DD "
     "[--max-group-mentees N] [--agreement required|optional] [--retention-days N]"},
    {"programme", "list", cmd_programme_list, "programme list"},
    {"programme", "show", cmd_programme_show, "programme show ID"},
    {"programme", "edit", cmd_programme_edit,
     "programme edit ID [--name NAME] [--starts DATE] [--ends DATE]"},
    {"programme", "end", cmd_programme_end, "programme end ID"},
    {"programme", "archive", cmd_programme_archive, "programme archive ID"},
    {"programme", "history", cmd_programme_history, "programme history ID"},
    {"invite", "create", cmd_invite_create,
     "invite create --programme ID --role mentor|mentee|manager [--expires-days N] "
     "[--email ADDRESS [--lang en|pl]]"},
    {"invite", "accept", cmd_invite_accept, "invite accept CODE"},
    {"room", "create", cmd_room_create,
     "room create --programme ID --kind pair|group [--name NAME] [--member USER]..."},
    {"room", "list", cmd_room_list, "room list [--programme ID]"},
    {"room", "show", cmd_room_show, "room show ID"},
    {"room", "add", cmd_room_add, "room add ID USER"},
    {"room", "remove", cmd_room_remove, "room remove ID USER"},
    {"room", "rename", cmd_room_rename, "room rename ID NAME"},
    {"match", "suggest", cmd_match_suggest, "match suggest FILE | --programme ID [FILE]"},
    {"match", "accept", cmd_match_accept, "match accept FILE --programme ID"},
    {"room", "access-log", cmd_room_access_log, "room access-log ROOM"},
    {"send", NULL, cmd_send, "send ROOM [TEXT]"},
    {"read", NULL, cmd_read, "read ROOM [--since SEQ] [--limit N]"},
    {"chat", NULL, cmd_chat, "chat ROOM [--linger SECONDS]"},
    {"outbox", NULL, cmd_outbox, "outbox [list | flush | drop ID]"},
    {"verify", NULL, cmd_verify, "verify USER"},
    {"trust", NULL, cmd_trust, "trust USER [--yes]"},
    {"checkpoint", "list", cmd_checkpoint_list, "checkpoint list [ROOM] [--programme ID]"},
    {"checkpoint", "propose", cmd_checkpoint_propose,
     "checkpoint propose CHECKPOINT --at TIME [--at TIME]... --minutes N --place TEXT"},
    {"checkpoint", "accept", cmd_checkpoint_accept, "checkpoint accept SLOT"},
    {"checkpoint", "decline", cmd_checkpoint_decline, "checkpoint decline SLOT"},
    {"checkpoint", "reschedule", cmd_checkpoint_reschedule,
     "checkpoint reschedule CHECKPOINT --reason TEXT --at TIME... --minutes N --place TEXT"},
    {"checkpoint", "cancel", cmd_checkpoint_cancel, "checkpoint cancel CHECKPOINT --reason TEXT"},
    {"checkpoint", "absent", cmd_checkpoint_absent, "checkpoint absent CHECKPOINT --reason TEXT"},
    {"checkpoint", "attendance", cmd_checkpoint_attendance,
     "checkpoint attendance CHECKPOINT (--held [--present USER,...] | --missed | --me yes|no)"},
    {"checkpoint", "window", cmd_checkpoint_window,
     "checkpoint window (CHECKPOINT --opens DATE --closes DATE | --programme ID --kind KIND "
     "--days N)"},
    {"meeting", "add", cmd_meeting_add,
     "meeting add ROOM --at TIME... --minutes N --place TEXT [--online] [--topic TEXT]"},
    {"meeting", "plan", cmd_meeting_plan, "meeting plan ROOM"},
    {"meeting", "topic", cmd_meeting_topic, "meeting topic ROOM MEETING TEXT"},
    {"notices", NULL, cmd_notices, "notices [--keep]"},
    {"calendar", "url", cmd_calendar_url, "calendar url"},
    {"calendar", "revoke", cmd_calendar_revoke, "calendar revoke"},
    {"calendar", "export", cmd_calendar_export, "calendar export"},
    {"diary", "writer", cmd_diary_writer, "diary writer CHECKPOINT [--set USER]"},
    {"diary", "write", cmd_diary_write, "diary write CHECKPOINT [TEXT]"},
    {"diary", "remark", cmd_diary_remark, "diary remark CHECKPOINT [TEXT]"},
    {"diary", "show", cmd_diary_show, "diary show CHECKPOINT"},
    {"diary", "list", cmd_diary_list, "diary list ROOM"},
    {"agreement", "show", cmd_agreement_show, "agreement show ROOM"},
    {"agreement", "sign", cmd_agreement_sign, "agreement sign ROOM [--yes]"},
    {"agreement", "propose", cmd_agreement_propose, "agreement propose ROOM --add-term TEXT"},
    {"agreement", "template", cmd_agreement_template,
     "agreement template show PROGRAMME | agreement template edit PROGRAMME --file PATH"},
    {"consent", "list", cmd_consent_list, "consent list"},
    {"consent", "grant", cmd_consent_grant, "consent grant share_progress --programme ID"},
    {"consent", "withdraw", cmd_consent_withdraw,
     "consent withdraw share_progress --programme ID | agreement --room ID | "
     "data_processing [--yes]"},
    {"goal", "add", cmd_goal_add,
     "goal add ROOM --title TEXT [--description TEXT] [--task TEXT]... [--group] [--share]"},
    {"goal", "list", cmd_goal_list, "goal list ROOM"},
    {"goal", "show", cmd_goal_show, "goal show ROOM GOAL [--history]"},
    {"goal", "update", cmd_goal_update,
     "goal update ROOM GOAL [--title TEXT] [--description TEXT] [--status STATUS]"},
    {"goal", "share", cmd_goal_share, "goal share ROOM GOAL [--unshare]"},
    {"goal", "task", cmd_goal_task,
     "goal task ROOM GOAL [--task TEXT]... [--task-status N=STATUS]..."},
    {"rating", "add", cmd_rating_add,
     "rating add ROOM --stage start|midterm|final|any --value 4..10 [--date DATE] [--note TEXT]"},
    {"rating", "list", cmd_rating_list, "rating list ROOM"},
    {"questionnaire", "show", cmd_questionnaire_show,
     "questionnaire show --stage initial|final (--room ROOM | --programme ID)"},
    {"questionnaire", "edit", cmd_questionnaire_edit,
     "questionnaire edit --programme ID --stage initial|final --file FILE"},
    {"questionnaire", "answer", cmd_questionnaire_answer,
     "questionnaire answer --room ROOM --stage initial|final --answer ID=VALUE..."},
    {"questionnaire", "results", cmd_questionnaire_results,
     "questionnaire results --programme ID [--stage initial|final]"},
    {"midterm", "write", cmd_midterm_write,
     "midterm write ROOM MIDTERM [--next-steps TEXT] [--remaining-topics TEXT] [--comment TEXT]"},
    {"midterm", "show", cmd_midterm_show, "midterm show ROOM MIDTERM"},
    {"export", NULL, cmd_export, "export [--output FILE]"},
    /* "audit thresholds" before the one-word "audit", which takes any other argument */
    {"audit", "progress", cmd_audit_progress, "audit progress --programme ID"},
    {"audit", "thresholds", cmd_audit_thresholds,
     "audit thresholds --programme ID [--inactive-days N] [--unsigned-days N] "
     "[--never-logged-in-days N]"},
    {"audit", NULL, cmd_audit, "audit [--programme ID] [--room ID] [--csv | --json]"},
    {"notify", "settings", cmd_notify_settings,
     "notify settings [--email ADDRESS | --no-email] [--lang en|pl] [--kinds KIND,...]"},
    {"notify", "verify", cmd_notify_verify, "notify verify CODE"},
    {"invite", "list", cmd_invite_list, "invite list --programme ID"},
    {"invite", "resend", cmd_invite_resend, "invite resend INVITE"},
    {"invite", "revoke", cmd_invite_revoke, "invite revoke INVITE"},
    {"import", NULL, cmd_import, "import --programme ID FILE"},
    {"report", "create", cmd_report_create,
     "report create ROOM --seq N[,M...] --note TEXT [--change-request]"},
    {"report", "list", cmd_report_list, "report list [--programme ID]"},
    {"report", "show", cmd_report_show, "report show REPORT"},
    {"report", "handle", cmd_report_handle,
     "report handle REPORT --state acknowledged|action_taken|closed [--note TEXT]"},
    {"profile", "questions", cmd_profile_questions,
     "profile questions --programme ID --role mentor|mentee [--set FILE] [--lang en|pl]"},
    {"profile", "fill", cmd_profile_fill,
     "profile fill --programme ID [--answer ID=VALUE]... [--file FILE] "
     "[--manager-key FINGERPRINT|LINK] [--replace]"},
    {"profile", "show", cmd_profile_show, "profile show --programme ID"},
    {"profile", "anchor", cmd_profile_anchor,
     "profile anchor --programme ID --manager-key FINGERPRINT|LINK"},
    {"support", "open", cmd_support_open, "support open [--programme ID] [USERNAME]"},
    {"announce", "send", cmd_announce_send,
     "announce send --programme ID --to mentors|all [--yes] TEXT"},
    {"announce", "list", cmd_announce_list, "announce list [--programme ID]"},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char usage_head[] =
    "Usage: ementor [OPTIONS] COMMAND [ARGS...]\n"
    "\n"
    "The command-line client of ementor, end-to-end encrypted e-mentoring.\n"
    "\n"
    "Account:\n"
    "  register --invite CODE --username NAME [--display-name NAME] [--accept-privacy]\n"
    "                     accept the privacy notice, create your account from an\n"
    "                     invite (its code, or the e-mailed link), then log in\n"
    "  login USERNAME     log in on this device and unlock your keys\n"
    "  logout             end the session saved on this device\n"
    "  whoami             who you are, your key fingerprint, your programmes\n"
    "  passwd             change your password (your keys stay the same)\n"
    "  recovery-code      a new recovery code (the one from registration stops working)\n"
    "  recover USERNAME   forgot your password? set a new one with your recovery code\n"
    "  reset USERNAME     no recovery code either? a new password and new keys with a\n"
    "                     manager's reset code (old messages stay unreadable to you)\n"
    "\n"
    "Programmes (create and invite: managers):\n"
    "  programme create --name NAME --starts YYYY-MM-DD --ends YYYY-MM-DD\n"
    "                   [--max-group-mentees N] [--agreement required|optional]\n"
    "                   [--retention-days N]\n"
    "  programme list\n"
    "  programme show ID\n"
    "  programme edit ID [--name NAME] [--starts DATE] [--ends DATE]\n"
    "                     rename it or move its dates (DATE: YYYY-MM-DD or 8.12.2026)\n"
    "  programme end ID   end it today, before its planned end\n"
    "  programme archive ID\n"
    "                     close an ended programme's rooms for good\n"
    "  programme history ID\n"
    "                     who changed the programme's name, dates or room names\n"
    "  invite create --programme ID --role mentor|mentee|manager [--expires-days N]\n"
    "                [--email ADDRESS [--lang en|pl]]   e-mail the invite link\n"
    "  invite list --programme ID   invites and their states\n"
    "  invite resend INVITE | invite revoke INVITE\n"
    "  import --programme ID FILE   invite everyone of a CSV (name, e-mail, role\n"
    "                     [, label, en|pl]) by e-mail, with a report per row\n"
    "  invite accept CODE   join another programme (a mentor here may be a mentee there)\n"
    "\n"
    "Programmes and rooms may be given by name as well as number in the programme,\n"
    "room, invite and audit commands; commands that write content take numbers.\n"
    "\n"
    "Rooms (create, add and remove: managers):\n"
    "  room create --programme ID --kind pair|group [--name NAME] [--member USER]...\n"
    "  room list [--programme ID]\n"
    "  room show ID\n"
    "  room add ID USER\n"
    "  room remove ID USER\n"
    "  room rename ID NAME    a new name (members and managers)\n"
    "  match suggest FILE     rooms suggested from profiles, with why (on this device)\n"
    "  match suggest --programme ID [FILE]\n"
    "                         the same from the profiles filled in (profile fill)\n"
    "  match accept FILE --programme ID\n"
    "                         create the rooms of a (possibly edited) suggestion\n"
    "  room access-log ROOM   who looked at the room's figures (the audit), and when\n"
    "\n"
    "Messages (end-to-end encrypted; only the room's members can read them):\n"
    "  send ROOM [TEXT]   send TEXT (or standard input); queued in the outbox\n"
    "                     when the server is unreachable\n"
    "  read ROOM [--since SEQ] [--limit N]\n"
    "                     show the room's messages, decrypted on this device\n"
    "  chat ROOM          interactive: new messages, receipts, typing; lines you\n"
    "                     type are sent\n"
    "  outbox [list | flush | drop ID]\n"
    "                     messages waiting to be sent\n"
    "  verify USER        the safety number to compare with USER in person\n"
    "  trust USER [--yes] accept USER's changed keys after checking them\n"
    "\n"
    "Checkpoints (the initial, mid-term and final meetings; not end-to-end\n"
    "encrypted; TIME is \"YYYY-MM-DD HH:MM\" in your time zone, or ...Z in UTC;\n"
    "CHECKPOINT is an id from `checkpoint list`, or ROOM KIND):\n"
    "  checkpoint list [ROOM] [--programme ID]\n"
    "                     state, times and places, answers, attendance\n"
    "  checkpoint propose CHECKPOINT --at TIME [--at TIME]... --minutes N\n"
    "                     --place TEXT\n"
    "  checkpoint accept SLOT | checkpoint decline SLOT\n"
    "  checkpoint reschedule CHECKPOINT --reason TEXT --at TIME... --minutes N\n"
    "                     --place TEXT\n"
    "  checkpoint cancel CHECKPOINT --reason TEXT    (mentor or manager)\n"
    "  checkpoint absent CHECKPOINT --reason TEXT    tell the others you cannot come\n"
    "  checkpoint attendance CHECKPOINT --held [--present USER,...] | --missed\n"
    "                     record the meeting (mentor; mid-term: also a manager)\n"
    "  checkpoint attendance CHECKPOINT --me yes|no  your own word\n"
    "  checkpoint window CHECKPOINT --opens DATE --closes DATE\n"
    "  checkpoint window --programme ID --kind KIND --days N   (managers)\n"
    "  notices [--keep]   what happened to your checkpoints; marks it read\n"
    "\n"
    "Sessions (further meetings of a room, face to face or online, planned by its\n"
    "mentor and mentees; a session's id works with every checkpoint command above\n"
    "in place of CHECKPOINT: accept, decline, reschedule, cancel, absent,\n"
    "attendance; its topic is end-to-end encrypted, its time and place are not):\n"
    "  meeting add ROOM --at TIME... --minutes N --place TEXT [--online]\n"
    "                     [--topic TEXT]\n"
    "  meeting plan ROOM  checkpoints and sessions in date order, topics checked\n"
    "  meeting topic ROOM MEETING TEXT   set or change a meeting's topic\n"
    "  calendar url       a secret feed URL for your calendar app\n"
    "  calendar revoke    turn the feed URL off\n"
    "  calendar export    the same iCalendar document on standard output\n"
    "\n"
    "Diary (after every held meeting; end-to-end encrypted, signed by its author):\n"
    "  diary writer CHECKPOINT [--set USER]   who writes it (group: one mentee)\n"
    "  diary write CHECKPOINT [TEXT]          the entry (the writer; again: a new version)\n"
    "  diary remark CHECKPOINT [TEXT]         a remark (the room's mentor)\n"
    "  diary show CHECKPOINT                  entry and remarks, verified here\n"
    "  diary list ROOM                        meetings and their diaries (counts)\n"
    "\n"
    "Agreements (every party of a room signs its mentoring agreement; only those\n"
    "who signed the active version are sealed the room's key):\n"
    "  agreement show ROOM           versions, terms, parties; signatures checked here\n"
    "  agreement sign ROOM [--yes]   sign the pending (or active) version\n"
    "  agreement propose ROOM --add-term TEXT\n"
    "                     add a term: a new version for everyone to sign\n"
    "  agreement template show PROGRAMME\n"
    "  agreement template edit PROGRAMME --file PATH   (managers; - for stdin)\n"
    "\n"
    "Goals and progress (end-to-end encrypted; GOAL is an id from `goal list`):\n"
    "  goal add ROOM --title TEXT [--description TEXT] [--task TEXT]... [--group]\n"
    "           [--share]    a personal goal (mentees: you and the mentor read it) or\n"
    "                     a group goal (--group: the whole room)\n"
    "  goal list ROOM | goal show ROOM GOAL [--history]\n"
    "  goal update ROOM GOAL [--title TEXT] [--description TEXT] [--status STATUS]\n"
    "  goal share ROOM GOAL [--unshare]    let the whole room read a personal goal\n"
    "  goal task ROOM GOAL [--task TEXT]... [--task-status N=STATUS]...\n"
    "  rating add ROOM --stage start|midterm|final|any --value 4..10 [--date DATE]\n"
    "                     place yourself on the 4-10 scale (mentees; sealed to you\n"
    "                     and the mentor)\n"
    "  rating list ROOM\n"
    "  midterm write ROOM MIDTERM [--next-steps TEXT] [--remaining-topics TEXT]\n"
    "                [--comment TEXT]   your part of the held mid-term's record\n"
    "                     (sealed to the agreement's parties, the manager included)\n"
    "  midterm show ROOM MIDTERM   the mentees, the mentor, then the manager\n"
    "\n"
    "Consent and your data:\n"
    "  consent list                  your consent records, signatures checked here\n"
    "  consent grant share_progress --programme ID\n"
    "  consent withdraw share_progress --programme ID\n"
    "  consent withdraw agreement --room ID    leave the room's roster\n"
    "  consent withdraw data_processing [--yes]\n"
    "                     ERASES YOUR ACCOUNT\n"
    "  export [--output FILE]\n"
    "                     everything the server holds about you, with your rooms'\n"
    "                     messages decrypted here, as JSON\n"
    "\n"
    "Audit (managers; figures from the envelope of messages, never their content;\n"
    "every report is recorded in the access log of the rooms it covers):\n"
    "  audit [--programme ID] [--room ID] [--csv | --json]\n"
    "                     rooms, activity, response times, agreements,\n"
    "                     checkpoints and flags\n"
    "  audit thresholds --programme ID [--inactive-days N] [--unsigned-days N]\n"
    "                   [--never-logged-in-days N]\n"
    "                     when the flags are raised\n"
    "\n"
    "E-mail (links and counts only, never content; if the server has a relay):\n"
    "  notify settings [--email ADDRESS | --no-email] [--lang en|pl] [--kinds LIST]\n"
    "                     what ementor e-mails you; LIST of meeting, agreement,\n"
    "                     diary, digest\n"
    "  notify verify CODE confirm your address with the e-mailed code\n"
    "\n"
    "Concern reports (sealed to the room's managers and you; members are not told):\n"
    "  report create ROOM --seq N[,M...] --note TEXT [--change-request]\n"
    "                     quote messages; the managers verify who wrote them\n"
    "  report list [--programme ID]\n"
    "  report show REPORT every quoted message checked, and the handling\n"
    "  report handle REPORT --state acknowledged|action_taken|closed [--note TEXT]\n"
    "\n"
    "Profiles for matching (sealed to the managers you verified and you):\n"
    "  profile questions --programme ID --role mentor|mentee [--set FILE]\n"
    "                     what is asked; a manager sets new, signed questions\n"
    "  profile fill --programme ID --answer ID=VALUE... [--manager-key FINGERPRINT]\n"
    "                     answer (a mentor or mentee); the key is your manager's\n"
    "  profile show --programme ID   your profile; a manager: everyone's, checked\n"
    "  profile anchor --programme ID --manager-key FINGERPRINT|LINK\n"
    "                     verify a manager by the fingerprint they gave you\n"
    "Support (end-to-end encrypted, between a manager and the programme's people):\n"
    "  support open [--programme ID] [USERNAME]\n"
    "                     your direct room with a participant (manager) or a manager\n"
    "  announce send --programme ID --to mentors|all [--yes] TEXT\n"
    "                     shows who it reaches, then seals it to each and signs it\n"
    "  announce list [--programme ID]   each one checked against its signature\n"
    "\n"
    "Options (before or after the command):\n"
    "  --server URL   the server (default: $EMENTOR_SERVER, else the server of the\n"
    "                 saved session, else " CLI_DEFAULT_SERVER ")\n"
    "  --ca FILE      trust the certificates in this PEM file for TLS, e.g. a dev\n"
    "                 server's self-signed certificate (default: $EMENTOR_CA, else\n"
    "                 the system's certificate authorities)\n"
    "  --home DIR     where the session and keys are kept (default: $EMENTOR_HOME,\n"
    "                 else $XDG_CONFIG_HOME/ementor, else ~/.config/ementor)\n"
    "  --json         print the server's result as JSON, for scripts\n"
    "  --insecure-plaintext-dev\n"
    "                 allow a ws:// (plaintext) server URL, for a development server\n"
    "                 on this machine only: the login key, session token and every\n"
    "                 request then cross the network unencrypted\n"
    "  -h, --help     show this help; `ementor COMMAND --help` for a command\n"
    "  -V, --version  show the version\n"
    "\n"
    "Environment:\n"
    "  EMENTOR_PASSWORD      the password, instead of asking on the terminal\n"
    "  EMENTOR_NEW_PASSWORD  the new password for `ementor passwd`\n"
    "  EMENTOR_DEBUG         if set, print libwebsockets' diagnostics\n"
    "\n"
    "Exit status:\n"
    "  0  success\n"
    "  1  the server refused the request (the error and its code are printed)\n"
    "  2  usage error\n"
    "  3  not logged in, or the session has expired\n"
    "  4  cannot reach the server, or a TLS or WebSocket failure (`send`: the\n"
    "     message is queued in the outbox)\n"
    "  5  local problem: home directory, files, terminal\n";

/* Usage of one group ("room"): its commands' synopses. */
static void main_group_usage(FILE *f, const char *group)
{
	fprintf(f, "Usage:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].group, group))
			fprintf(f, "  ementor %s\n", commands[i].synopsis);
	fprintf(f, "\n`ementor %s COMMAND --help` says more.\n", group);
}

/* Parses the options before the command; returns CLI_CONTINUE or an exit code. */
static int main_options(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_GLOBAL_OPTIONS,
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:hV", opts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage_head, stdout);
			return CLI_EXIT_OK;
		}
		if (opt == 'V') {
			printf("ementor %s (protocol %s)\n", EM_VERSION, EM_SUBPROTOCOL);
			return CLI_EXIT_OK;
		}
		if (opt == ':') {
			fprintf(stderr, "ementor: option '%s' needs a value\n", argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
		if (opt == '?' || cli_global_option(cli, opt, optarg) != 0) {
			fprintf(stderr, "ementor: unknown option '%s'\nTry 'ementor --help'.\n",
			        argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
	}
	return CLI_CONTINUE;
}

static int main_dispatch(struct cli *cli, int argc, char **argv)
{
	const char *group = argv[0], *verb = argc > 1 ? argv[1] : NULL;
	int known_group = 0;

	if (!strcmp(group, "help")) {
		fputs(usage_head, stdout);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const struct command *cmd = &commands[i];

		if (strcmp(cmd->group, group) != 0)
			continue;
		known_group = 1;
		if (!cmd->verb) {
			snprintf(cli->command, sizeof(cli->command), "%s", group);
			return cmd->run(cli, argc, argv);
		}
		if (verb && !strcmp(cmd->verb, verb)) {
			snprintf(cli->command, sizeof(cli->command), "%s %s", group, verb);
			return cmd->run(cli, argc - 1, argv + 1);
		}
	}
	if (!known_group) {
		fprintf(stderr, "ementor: unknown command '%s'\nTry 'ementor --help'.\n", group);
		return CLI_EXIT_USAGE;
	}
	if (verb && (!strcmp(verb, "--help") || !strcmp(verb, "-h"))) {
		main_group_usage(stdout, group);
		return CLI_EXIT_OK;
	}
	if (verb)
		fprintf(stderr, "ementor: unknown command '%s %s'\n", group, verb);
	else
		fprintf(stderr, "ementor: '%s' needs a command\n", group);
	main_group_usage(stderr, group);
	return CLI_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct cli cli;
	const char *env;
	int rc;

	memset(&cli, 0, sizeof(cli));
	if ((env = getenv("EMENTOR_SERVER")) && *env)
		cli.server = env;
	if ((env = getenv("EMENTOR_CA")) && *env)
		cli.ca = env;
	if (em_crypto_init() != 0)
		return cli_fail(CLI_EXIT_LOCAL, "cannot start libsodium");

	rc = main_options(&cli, argc, argv);
	if (rc != CLI_CONTINUE)
		return rc;
	if (optind >= argc) {
		fputs(usage_head, stderr);
		return CLI_EXIT_USAGE;
	}
	rc = main_dispatch(&cli, argc - optind, argv + optind);
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = cli_fail(CLI_EXIT_LOCAL, "cannot write the output");
	return rc;
}
