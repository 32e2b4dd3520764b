/*
 * fuzz_client.c - libFuzzer target for what the CLI does with a frame from
 * a (possibly hostile) server. The input is one frame as it arrives on the
 * WebSocket; it goes through em_incoming_parse() and then through every
 * handler of the client that can take it without a connection, in the
 * fixed world of client/fixture.h (a real home directory with session,
 * keys, pins, room keys and trust.json, on tmpfs when there is one), after
 * the world's own room.show answers for its two rooms:
 *   - events: `message` (msg_open(), printed and as JSON), `epoch`
 *     (msg_epoch_event()), `notice` (the chat and `read` run on the client
 *     core now: fuzz_core.c);
 *   - a result, as the answer of each request whose answer the client
 *     reads: room.show (msg_room_apply(), with the pins of programmes and
 *     rooms it checks), programme.show's people,
 *     agreement.show (msg_version_parse(), msg_party_check(), the printed
 *     version), consent.list (each entry's signature), history and sync
 *     pages (msg_open()), keys.get (each envelope), and, defanged as
 *     cli_call() does, the printers of programme, room, checkpoints,
 *     notices, the audit report (table and CSV) and whoami;
 *   - an error: its message made safe as cli_call() and msg_call() do.
 * What must hold, whatever the server sends:
 *   - no crash, leak or undefined behaviour (the sanitizers);
 *   - nothing written to the terminal (stdout and stderr are captured)
 *     carries a control character but newline, tab and the CRLF of CSV
 *     lines: no escape sequence, no lone carriage return, no C1 control;
 *   - the pins of users already pinned keep their keys and usernames (other
 *     keys or another name are only ever recorded as a pending change), a
 *     new pending change is announced with a WARNING naming the pinned
 *     user, and we are never pinned;
 *   - every room key stored is the genuine key of its room and epoch (the
 *     one a pinned member sealed: client/fixture.h), and the key of epoch 1
 *     is never replaced;
 *   - a message shown with text has a sender pinned now, named as pinned;
 *   - a room with a current member whose key change is pending, or whom
 *     room.show lists under another name than the pinned one, is blocked.
 * The same frame is replayed by ctest through replay.c; seeds.c writes the
 * seed frames (valid signatures, envelopes and messages of the fixture).
 */
#include <errno.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "client/fixture.h"
#include "client/views.h"
#include "fuzz.h"

#define TARGET  "fuzz_client"
#define OUT_MAX (1024 * 1024)

static struct {
	char dir[256];
	struct cli cli;
	json_t *pins, *roomkeys, *trust; /* what the files hold at the start of every input */
	json_t *shown[2];                /* the world's room.show answers of rooms 7 and 8 */
	FILE *out, *err;                 /* stdout and stderr while an input runs */
	char *out_buf, *err_buf;
	FILE *real_out, *real_err;
	int show; /* $FUZZ_CLIENT_SHOW: echo what each input printed (seeds.c's frames) */
} fx;

static void check(int ok, const char *what)
{
	fuzz_check(ok, TARGET, what);
}

/* Removes a home directory of this target (flat: files only). */
static void fx_remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
	rmdir(dir);
}

static void fx_cleanup(void)
{
	if (fx.dir[0])
		fx_remove_dir(fx.dir);
}

/*
 * libFuzzer ends a run with _Exit(), so atexit() does not always clean up:
 * the homes of processes that are gone (ementor-fuzz-client-PID) are
 * removed when the next one starts.
 */
static void fx_sweep(const char *base)
{
	static const char prefix[] = "ementor-fuzz-client-";
	DIR *d = opendir(base);
	struct dirent *e;
	char path[512];

	while (d && (e = readdir(d))) {
		long pid;
		char *end;

		if (strncmp(e->d_name, prefix, sizeof(prefix) - 1))
			continue;
		pid = strtol(e->d_name + sizeof(prefix) - 1, &end, 10);
		if (*end || pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH) ||
		    pid == (long)getpid()) {
			snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
			fx_remove_dir(path);
		}
	}
	if (d)
		closedir(d);
}

static void fx_save_state(void)
{
	check(home_json_save(&fx.cli.home, STATE_PINS_FILE, fx.pins) == 0 &&
	          home_json_save(&fx.cli.home, STATE_ROOMKEYS_FILE, fx.roomkeys) == 0 &&
	          home_json_save(&fx.cli.home, STATE_TRUST_FILE, fx.trust) == 0,
	      "the fixture's state files are written");
}

/* trust.json of the world (client/fixture.h): what this device verified before. */
static void fx_trust(const struct em_keys *alice, const struct em_keys *bob)
{
	const struct trust_programme required = {FX_MONA, 1}, without = {FX_MONA, 0};
	struct trust_version v;
	struct trust_order_result order;
	unsigned char device[EM_DEVICE_ID_BYTES];

	memset(&v, 0, sizeof(v));
	v.version = 1;
	v.n = 2;
	v.parties[0].user_id = FX_ALICE;
	snprintf(v.parties[0].role, sizeof(v.parties[0].role), "mentee");
	memcpy(v.parties[0].sign_pk, alice->sign_pk, EM_SIGN_PK_BYTES);
	memcpy(v.parties[0].box_pk, alice->box_pk, EM_BOX_PK_BYTES);
	v.parties[1].user_id = FX_BOB;
	snprintf(v.parties[1].role, sizeof(v.parties[1].role), "mentor");
	memcpy(v.parties[1].sign_pk, bob->sign_pk, EM_SIGN_PK_BYTES);
	memcpy(v.parties[1].box_pk, bob->box_pk, EM_BOX_PK_BYTES);
	fx_device('b', device);
	fx.trust = json_object();
	check(trust_programme_pin(fx.trust, FX_PROGRAMME, &required) == TRUST_PIN_NEW &&
	          trust_programme_pin(fx.trust, FX_PROGRAMME_FREE, &without) == TRUST_PIN_NEW &&
	          trust_room_pin(fx.trust, FX_ROOM, FX_PROGRAMME) == TRUST_PIN_NEW &&
	          trust_room_pin(fx.trust, FX_ROOM_FREE, FX_PROGRAMME_FREE) == TRUST_PIN_NEW &&
	          trust_epoch_raise(fx.trust, FX_ROOM, 1) == 1 &&
	          trust_version_put(fx.trust, FX_ROOM, &v, 1) == 1 &&
	          trust_announce(fx.trust, FX_ROOM_FREE, FX_ALICE) == 1 &&
	          trust_announce(fx.trust, FX_ROOM_FREE, FX_CAROL) == 1,
	      "the world's programmes, rooms, agreement and members are pinned");
	for (int64_t i = 1; i <= FX_BOB_COUNTER; i++)
		check(trust_order_check(fx.trust, FX_ROOM, FX_BOB, device, (uint64_t)i, i,
		                        &order) == 0,
		      "bob's messages read");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct home_session s;
	struct home_keys k;
	struct em_keys bob, carol, dave, mallory, mona;
	unsigned char key[EM_ROOM_KEY_BYTES];
	const int64_t recipients[] = {FX_ALICE, FX_BOB};
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	const char *now = "2026-12-01T09:00:00Z";

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	setenv("TZ", "UTC", 1);
	base = base ? base : "/tmp";
	fx_sweep(base);
	snprintf(fx.dir, sizeof(fx.dir), "%s/ementor-fuzz-client-%ld", base, (long)getpid());
	if (mkdir(fx.dir, 0700) != 0)
		abort();
	atexit(fx_cleanup);
	fx.cli.home_dir = fx.dir;
	check(home_resolve(&fx.cli.home, fx.dir) == 0 && home_ensure(&fx.cli.home) == 0,
	      "a home directory");
	memset(&s, 0, sizeof(s));
	snprintf(s.server, sizeof(s.server), "wss://localhost:1");
	snprintf(s.username, sizeof(s.username), "alice");
	s.user_id = FX_ALICE;
	snprintf(s.role, sizeof(s.role), "mentee");
	snprintf(s.token, sizeof(s.token), "token");
	snprintf(s.expires_at, sizeof(s.expires_at), "2027-01-01T00:00:00Z");
	memset(&k, 0, sizeof(k));
	snprintf(k.username, sizeof(k.username), "alice");
	fx_keys('a', &k.keys);
	check(home_session_save(&fx.cli.home, &s) == 0 && home_keys_save(&fx.cli.home, &k) == 0,
	      "session and keys written");
	fx_keys('b', &bob);
	fx_keys('c', &carol);
	fx_keys('d', &dave);
	fx_keys('m', &mallory);
	fx_keys('n', &mona);
	fx.pins = json_object();
	fx.roomkeys = json_object();
	pins_observe(fx.pins, FX_BOB, "bob", bob.sign_pk, bob.box_pk, now);
	pins_observe(fx.pins, FX_CAROL, "carol", carol.sign_pk, carol.box_pk, now);
	pins_observe(fx.pins, FX_DAVE, "dave", dave.sign_pk, dave.box_pk, now);
	pins_observe(fx.pins, FX_MONA, "mona", mona.sign_pk, mona.box_pk, now);
	check(pins_observe(fx.pins, FX_DAVE, "dave", mallory.sign_pk, mallory.box_pk, now) ==
	          PIN_CHANGED,
	      "dave has a pending key change");
	fx_room_key(FX_ROOM, 1, key);
	check(roomkeys_put(fx.roomkeys, FX_ROOM, 1, key, FX_BOB, 1, now) == 1 &&
	          roomkeys_set_recipients(fx.roomkeys, FX_ROOM, 1, recipients, 2) == 1,
	      "room 7's key of epoch 1");
	fx_trust(&k.keys, &bob);
	fx.shown[0] = fx_room_show(FX_ROOM);
	fx.shown[1] = fx_room_show(FX_ROOM_FREE);
	check(fx.shown[0] && fx.shown[1], "the world's room.show answers");
	fx_save_state();
	fx.out_buf = calloc(1, OUT_MAX + 1);
	fx.err_buf = calloc(1, OUT_MAX + 1);
	fx.out = fmemopen(fx.out_buf, OUT_MAX, "w");
	fx.err = fmemopen(fx.err_buf, OUT_MAX, "w");
	check(fx.out && fx.err, "capture buffers");
	fx.show = getenv("FUZZ_CLIENT_SHOW") != NULL;
	return 0;
}

/* ---- the terminal ---- */

static void capture_start(void)
{
	fseek(fx.out, 0, SEEK_SET);
	fseek(fx.err, 0, SEEK_SET);
	fx.real_out = stdout;
	fx.real_err = stderr;
	stdout = fx.out;
	stderr = fx.err;
}

/* Nothing printed may drive the terminal: C0 but LF and TAB, DEL, C1 (as UTF-8). */
static void check_terminal(FILE *f, const char *buf)
{
	long n;

	fflush(f);
	n = ftell(f);
	for (long i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];
		/* CR only as the CRLF line end of the audit's CSV (RFC 4180) */
		int c0 = (c < 0x20 && c != '\n' && c != '\t' &&
		          !(c == '\r' && i + 1 < n && buf[i + 1] == '\n')) ||
		         c == 0x7f;
		int c1 = c == 0xc2 && i + 1 < n && (unsigned char)buf[i + 1] >= 0x80 &&
		         (unsigned char)buf[i + 1] <= 0x9f;

		if (c0 || c1) {
			long from = i, to = i;

			/* the line it is on, for the report */
			while (from > 0 && buf[from - 1] != '\n')
				from--;
			while (to < n && buf[to] != '\n')
				to++;
			fprintf(stderr, "%s: printed: \"", TARGET);
			for (long k = from; k < to; k++)
				fprintf(stderr,
				        (unsigned char)buf[k] < 0x20 || buf[k] == 0x7f ? "\\x%02x"
				                                                       : "%c",
				        (unsigned char)buf[k]);
			fprintf(stderr, "\"\n");
		}
		check(!c0, "no control character reaches the terminal");
		check(!c1, "no C1 control reaches the terminal");
	}
}

static void capture_end(void)
{
	stdout = fx.real_out;
	stderr = fx.real_err;
	check_terminal(fx.out, fx.out_buf);
	check_terminal(fx.err, fx.err_buf);
	/* what this input printed, as strings (checked after the frame) */
	fx.out_buf[ftell(fx.out)] = '\0';
	fx.err_buf[ftell(fx.err)] = '\0';
}

/* What an input made the client print, and the room keys held after it (on stderr). */
static void fx_show(struct msg_ctx *m)
{
	json_t *epochs;
	const char *room;

	fprintf(stderr, "--- stdout\n%s--- stderr\n%s--- room keys:", fx.out_buf, fx.err_buf);
	json_object_foreach(json_object_get(m->roomkeys, "rooms"), room, epochs)
	{
		const char *epoch;
		json_t *entry;

		json_object_foreach(epochs, epoch, entry)
		{
			(void)entry;
			fprintf(stderr, " room %s epoch %s;", room, epoch);
		}
	}
	fprintf(stderr, "\n");
}

/* ---- handlers ---- */

static void open_and_show(struct msg_ctx *m, json_t *message)
{
	struct msg_view v;
	struct pin p;
	json_t *j;

	msg_open(m, message, &v);
	check((v.text != NULL) != (v.error[0] != '\0'), "a message has text or says why not");
	if (v.text) {
		check(msg_user_keys(m, v.sender_id, &p) == 0 && !strcmp(p.username, v.sender),
		      "a message with text has a pinned sender, named as pinned");
		check(text_is_utf8(v.text, v.text_len), "its text is UTF-8");
	}
	msg_view_print(&v);
	j = msg_view_json(&v);
	json_decref(j);
	msg_view_clear(&v);
}

/* The room an object is about (its `key`), else room 7. */
static int64_t room_by(json_t *obj, const char *key)
{
	json_t *id = json_object_get(obj, key);

	return json_is_integer(id) && json_integer_value(id) > 0 ? json_integer_value(id) : FX_ROOM;
}

static int64_t room_of(json_t *obj)
{
	return room_by(obj, "room_id");
}

static void on_event(struct msg_ctx *m, struct em_incoming *in)
{
	json_t *d = in->data;

	if (!strcmp(in->ev, "message")) {
		open_and_show(m, d);
	} else if (!strcmp(in->ev, "epoch")) {
		msg_epoch_event(m, d);
	} else if (!strcmp(in->ev, "notice")) {
		json_t *copy = json_deep_copy(d);

		view_defang(copy);
		view_notice(copy);
		json_decref(copy);
	}
}

/*
 * The checks of a room after room.show: a member with an untrusted change
 * (keys or name), or shown under another name than the pinned one, blocks it.
 */
static void check_room(struct msg_ctx *m, const struct msg_room *r)
{
	check(r->nmembers <= EM_ROOM_MEMBERS_MAX, "at most six members");
	for (size_t i = 0; i < r->nmembers; i++) {
		struct pin p;

		if (r->members[i] == m->session.user_id || pins_get(m->pins, r->members[i], &p))
			continue;
		if (p.changed)
			check(r->blocked_by[0] != '\0', "a member with a pending change blocks");
		if (strcmp(p.username, r->member_names[i]))
			check(r->blocked_by[0] != '\0',
			      "a member shown under another name than the pinned one blocks");
	}
}

static void agreement(struct msg_ctx *m, json_t *res)
{
	static const char *const which[] = {"active", "pending"};

	for (size_t k = 0; k < 2; k++) {
		json_t *vj = json_object_get(res, which[k]);
		struct msg_version v;

		if (msg_version_parse(vj, room_of(res), &v) != 0)
			continue;
		check(v.n <= MSG_MAX_PARTIES, "at most 16 parties");
		for (size_t i = 0; i < v.n; i++) {
			check(i == 0 || v.parties[i - 1].user_id < v.parties[i].user_id,
			      "parties sorted, each once");
			check(msg_party_check(m, &v, (int64_t)v.parties[i].user_id) <= MSG_PARTY_OK,
			      "a party check is an enum msg_party");
		}
		view_agreement_version(m, &v, vj);
	}
}

static void on_result(struct msg_ctx *m, json_t *res)
{
	json_t *item, *copy;
	size_t i;

	/* what msg_call() hands on as it came (its users make text safe themselves) */
	if (json_is_object(json_object_get(res, "room"))) {
		struct msg_room *r = msg_room(m, room_by(json_object_get(res, "room"), "id"));

		if (r && msg_room_apply(m, r, res) == CLI_EXIT_OK)
			check_room(m, r);
	}
	msg_pin_people(m, json_object_get(res, "people"));
	agreement(m, res);
	json_array_foreach(json_object_get(res, "entries"), i, item)
	{
		view_consent_entry_ok(m, item);
	}
	json_array_foreach(json_object_get(res, "messages"), i, item)
	{
		open_and_show(m, item);
	}
	json_array_foreach(json_object_get(res, "envelopes"), i, item)
	{
		json_t *data =
		    json_pack("{s:I, s:O?, s:O?, s:O?, s:O?}", "room_id", (json_int_t)room_of(res),
		              "epoch", json_object_get(item, "epoch"), "committer_id",
		              json_object_get(item, "committer_id"), "agreement_version",
		              json_object_get(item, "agreement_version"), "sealed",
		              json_object_get(item, "sealed"));

		if (data)
			msg_epoch_event(m, data);
		json_decref(data);
	}
	/* what cli_call() hands on: defanged, then printed */
	copy = json_deep_copy(res);
	if (!copy)
		return;
	view_defang(copy);
	view_programme(json_object_get(copy, "programme"));
	view_room(json_object_get(copy, "room"));
	json_array_foreach(json_object_get(copy, "checkpoints"), i, item)
	{
		view_checkpoint(item);
	}
	if (json_is_object(json_object_get(copy, "checkpoint")))
		view_checkpoint(json_object_get(copy, "checkpoint"));
	json_array_foreach(json_object_get(copy, "notices"), i, item)
	{
		view_notice(item);
	}
	view_audit(copy);
	view_whoami(&fx.cli, &m->session, copy);
	json_decref(copy);
}

static void on_error(struct em_incoming *in)
{
	char wait[48], *safe = text_for_terminal(in->err_message, strlen(in->err_message));

	/* msg_call() keeps text_for_terminal()'s; cli_call() prints the defanged message */
	fprintf(stderr, "error: %s (%s); try again in %s.\n", safe ? safe : "?",
	        em_err_code(in->err), cli_describe_wait(in->retry_after_ms, wait, sizeof(wait)));
	free(safe);
	view_defang_text(in->err_message);
	fprintf(stderr, "error: %s (%s)\n", in->err_message, em_err_code(in->err));
}

/* ---- after the frame ---- */

/* Whether a pin's pending change is another one than before's (or new). */
static int pin_new_change(const struct pin *before, const struct pin *after)
{
	return after->changed &&
	       (!before->changed || strcmp(before->new_username, after->new_username) ||
	        memcmp(before->new_sign_pk, after->new_sign_pk, EM_SIGN_PK_BYTES) ||
	        memcmp(before->new_box_pk, after->new_box_pk, EM_BOX_PK_BYTES));
}

/* Whether err carries the warnings of a pin's pending change (msg.c's wording). */
static int pin_announced(const struct pin *p, const char *err)
{
	char keys[EM_USERNAME_MAX + 40], name[2 * EM_USERNAME_MAX + 40];

	snprintf(keys, sizeof(keys), "WARNING: THE KEYS OF %s HAVE CHANGED.", p->username);
	snprintf(name, sizeof(name), "WARNING: THE SERVER NOW CALLS %s \"%s\".", p->username,
	         p->new_username);
	return (!p->keys_changed || strstr(err, keys)) && (!p->name_changed || strstr(err, name));
}

/*
 * The pins of the fixture keep their keys and names; a new pending change
 * was announced on stderr (err: what was printed there); we are not pinned.
 */
static void check_pins(struct msg_ctx *m, const char *err)
{
	static const int64_t pinned[] = {FX_BOB, FX_CAROL, FX_DAVE, FX_MONA};
	struct pin before, after;

	for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		check(pins_get(fx.pins, pinned[i], &before) == 0, "fixture pin");
		check(pins_get(m->pins, pinned[i], &after) == 0, "a pin is never dropped");
		check(!memcmp(before.sign_pk, after.sign_pk, EM_SIGN_PK_BYTES) &&
		          !memcmp(before.box_pk, after.box_pk, EM_BOX_PK_BYTES),
		      "a pinned key is never replaced by what the server says");
		check(!strcmp(before.username, after.username),
		      "a pinned username is never replaced by what the server says");
		if (pin_new_change(&before, &after))
			check(pin_announced(&after, err),
			      "a new pending change is announced, under the pinned name");
	}
	check(pins_get(m->pins, m->session.user_id, &after) != 0, "we are never pinned");
}

/* Every room key held is the genuine one of its room and epoch. */
static void check_roomkeys(struct msg_ctx *m)
{
	json_t *rooms = json_object_get(m->roomkeys, "rooms"), *epochs;
	const char *room;

	json_object_foreach(rooms, room, epochs)
	{
		const char *epoch;
		json_t *entry;

		json_object_foreach(epochs, epoch, entry)
		{
			unsigned char got[EM_ROOM_KEY_BYTES], want[EM_ROOM_KEY_BYTES];
			long long e = atoll(epoch);

			(void)entry;
			check(atoll(room) == FX_ROOM || atoll(room) == FX_ROOM_FREE,
			      "room keys only for the rooms that have them");
			check(roomkeys_get(m->roomkeys, atoll(room), e, got, NULL) == 0,
			      "a stored key reads");
			fx_room_key(atoll(room), e, want);
			check(!memcmp(got, want, sizeof(got)),
			      "a stored room key is the one a pinned member sealed");
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct em_incoming in;
	struct msg_ctx m;
	int rc, reset;

	if (em_incoming_parse((const char *)data, size, &in) != EM_OK)
		return 0;
	rc = msg_init(&fx.cli, &m);
	check(rc == CLI_EXIT_OK, "the fixture loads");
	capture_start();
	/* the command has asked for its rooms first, and the server told the truth */
	for (size_t i = 0; i < 2; i++) {
		struct msg_room *r = msg_room(&m, i ? FX_ROOM_FREE : FX_ROOM);

		check(r && msg_room_apply(&m, r, fx.shown[i]) == CLI_EXIT_OK && !r->blocked_by[0] &&
		          !r->refused[0],
		      "the world's rooms are shown, neither blocked nor refused");
	}
	if (in.is_event)
		on_event(&m, &in);
	else if (in.result)
		on_result(&m, in.result);
	else
		on_error(&in);
	capture_end();
	if (fx.show) /* FUZZ_CLIENT_SHOW=1: what the client printed, and the keys it holds */
		fx_show(&m);
	check_pins(&m, fx.err_buf);
	check_roomkeys(&m);
	/* the next input starts from the same files (msg_free() saves the order records) */
	reset = !json_equal(m.pins, fx.pins) || !json_equal(m.roomkeys, fx.roomkeys) ||
	        !json_equal(m.trust, fx.trust) || m.order_dirty;
	msg_free(&m);
	if (reset)
		fx_save_state();
	home_remove(&fx.cli.home, STATE_CURSORS_FILE);
	em_incoming_clear(&in);
	return 0;
}
