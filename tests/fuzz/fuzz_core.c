/*
 * fuzz_core.c - libFuzzer target for what a hostile server's frames can do
 * to the client core (core/emc.h, libementor-client), through its public
 * API only. The world is client/fixture.h's (we are alice; pins, room 7's
 * epoch-1 key, trust.json with both programmes and rooms, dave's pending
 * key change to mallory's keys), held in memory (client/mem_storage.h)
 * that every input starts from afresh.
 *
 * The input is a script, one line at a time:
 *   - a line starting with '!' drives the host (only when it is printable:
 *     the host's own words are not what is fuzzed): `!read ROOM [AFTER [LIMIT]]`,
 *     `!send ROOM TEXT`, `!live ROOM`, `!flush`, `!typing ROOM`, `!stop`,
 *     `!call OP` (a pass-through op with no arguments), `!cmd JSON` (any
 *     command), `!cancel N` (the Nth task started), `!link 0|1`, `!tick MS`;
 *   - any other line is a frame from the server, given to emc_receive().
 *     A reply's "re" may name an operation ("re":"room.show": the oldest
 *     request of that op still unanswered) or any integer (an unanswered
 *     request's id stays; another one >= 0 picks an unanswered request by
 *     rank), so that mutated replies still reach the handlers that wait
 *     for them. Frames that are not JSON go in as they are.
 * The link is up at the start; the clock moves 50 ms per line and the core
 * is ticked after each; every output is drained after each call.
 * What must hold, whatever the server sends:
 *   - no crash, leak or undefined behaviour (the sanitizers), no hang;
 *   - every output is one JSON object of exactly the length reported: a
 *     frame is a request the server's own parser (em_request_parse())
 *     accepts (unless a `!call`/`!cmd` line passed arguments through), an
 *     event has an "ev"; every task ends at most once, with an exit code of
 *     docs/CLIENT-CORE.md;
 *   - what a host prints as it is carries no control character but newline
 *     and tab: the text of warnings, notices, reports, notes and status
 *     lines, a task's error message, a message's error and warning, a
 *     typing notice's username, a live room's member names;
 *   - a room key for a pinned user (or us) is sealed to the pinned key, and
 *     none to dave while his change to mallory's keys is pending (a user
 *     seen for the first time may be sealed to: SECURITY.md, programmes
 *     without agreements);
 *   - pinned keys and usernames are never replaced, we are never pinned;
 *   - every room key stored is the genuine one of its room and epoch
 *     (client/fixture.h) or one this core committed itself.
 * The same script is replayed by ctest through replay.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client/fixture.h"
#include "client/mem_storage.h"
#include "core.h"
#include "emc.h"
#include "fuzz.h"

#define TARGET        "fuzz_core"
#define PENDING_MAX   256
#define TASKS_MAX     64
#define COMMITTED_MAX 16
#define LINES_MAX     512
#define STEP_MS       50

/* ---- the world ---- */

static struct {
	struct mem_storage initial;    /* what every input starts from */
	struct em_keys alice, mallory; /* ours, and dave's pending keys */
	json_t *pins;                  /* the fixture's pins */
	int show;                      /* $FUZZ_CORE_SHOW: echo every output (to write seeds) */
} fx;

static void check(int ok, const char *what)
{
	fuzz_check(ok, TARGET, what);
}

static void world_save(const char *name, json_t *doc)
{
	char *text = json_dumps(doc, JSON_COMPACT);

	check(text && mem_save(&fx.initial, name, text, strlen(text)) == 0, "a world document");
	free(text);
}

/* trust.json as fuzz_client.c's world has it: what this device verified before. */
static json_t *world_trust(const struct em_keys *alice, const struct em_keys *bob)
{
	const struct trust_programme required = {FX_MONA, 1}, without = {FX_MONA, 0};
	struct trust_version v;
	struct trust_order_result order;
	unsigned char device[EM_DEVICE_ID_BYTES];
	json_t *t = json_object();

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
	check(t && trust_programme_pin(t, FX_PROGRAMME, &required) == TRUST_PIN_NEW &&
	          trust_programme_pin(t, FX_PROGRAMME_FREE, &without) == TRUST_PIN_NEW &&
	          trust_room_pin(t, FX_ROOM, FX_PROGRAMME) == TRUST_PIN_NEW &&
	          trust_room_pin(t, FX_ROOM_FREE, FX_PROGRAMME_FREE) == TRUST_PIN_NEW &&
	          trust_epoch_raise(t, FX_ROOM, 1) == 1 &&
	          trust_version_put(t, FX_ROOM, &v, 1) == 1 &&
	          trust_announce(t, FX_ROOM_FREE, FX_ALICE) == 1 &&
	          trust_announce(t, FX_ROOM_FREE, FX_CAROL) == 1,
	      "the world's programmes, rooms, agreement and members are pinned");
	for (int64_t i = 1; i <= FX_BOB_COUNTER; i++)
		check(trust_order_check(t, FX_ROOM, FX_BOB, device, (uint64_t)i, i, &order) == 0,
		      "bob's messages read");
	return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct em_keys bob, carol, dave, mona;
	unsigned char key[EM_ROOM_KEY_BYTES];
	const int64_t recipients[] = {FX_ALICE, FX_BOB};
	const char *now = "2026-12-01T09:00:00Z";
	char *ssk, *bsk, *spk, *bpk;
	json_t *doc, *rk, *trust;

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	/* jansson's hash seed orders objects' members, and the core's requests follow some of
	 * them: a fixed seed makes a run of a file the same in every process */
	json_object_seed(1);
	setenv("TZ", "UTC", 1);
	fx_keys('a', &fx.alice);
	fx_keys('b', &bob);
	fx_keys('c', &carol);
	fx_keys('d', &dave);
	fx_keys('m', &fx.mallory);
	fx_keys('n', &mona);
	doc = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "server", "wss://localhost:1", "username",
	                "alice", "user_id", (json_int_t)FX_ALICE, "role", "mentee", "token",
	                "token", "expires_at", "2027-01-01T00:00:00Z");
	world_save("session.json", doc);
	json_decref(doc);
	ssk = em_b64_encode(fx.alice.sign_sk, EM_SIGN_SK_BYTES);
	bsk = em_b64_encode(fx.alice.box_sk, EM_BOX_SK_BYTES);
	spk = em_b64_encode(fx.alice.sign_pk, EM_SIGN_PK_BYTES);
	bpk = em_b64_encode(fx.alice.box_pk, EM_BOX_PK_BYTES);
	check(ssk && bsk && spk && bpk, "keys encoded");
	doc = json_pack("{s:s, s:s, s:s, s:s, s:s}", "username", "alice", "sign_pk", spk, "sign_sk",
	                ssk, "box_pk", bpk, "box_sk", bsk);
	world_save("keys.json", doc);
	json_decref(doc);
	free(ssk);
	free(bsk);
	free(spk);
	free(bpk);
	fx.pins = json_object();
	pins_observe(fx.pins, FX_BOB, "bob", bob.sign_pk, bob.box_pk, now);
	pins_observe(fx.pins, FX_CAROL, "carol", carol.sign_pk, carol.box_pk, now);
	pins_observe(fx.pins, FX_DAVE, "dave", dave.sign_pk, dave.box_pk, now);
	pins_observe(fx.pins, FX_MONA, "mona", mona.sign_pk, mona.box_pk, now);
	check(pins_observe(fx.pins, FX_DAVE, "dave", fx.mallory.sign_pk, fx.mallory.box_pk, now) ==
	          PIN_CHANGED,
	      "dave has a pending key change");
	world_save(STATE_PINS_FILE, fx.pins);
	rk = json_object();
	fx_room_key(FX_ROOM, 1, key);
	check(roomkeys_put(rk, FX_ROOM, 1, key, FX_BOB, 1, now) == 1 &&
	          roomkeys_set_recipients(rk, FX_ROOM, 1, recipients, 2) == 1,
	      "room 7's key of epoch 1");
	world_save(STATE_ROOMKEYS_FILE, rk);
	json_decref(rk);
	trust = world_trust(&fx.alice, &bob);
	world_save(STATE_TRUST_FILE, trust);
	json_decref(trust);
	em_keys_wipe(&bob);
	em_keys_wipe(&carol);
	em_keys_wipe(&dave);
	em_keys_wipe(&mona);
	fx.show = getenv("FUZZ_CORE_SHOW") != NULL;
	for (int i = 0; fx.show && i < 2; i++) { /* the world's room.show answers, for seeds */
		json_t *res = fx_room_show(i ? FX_ROOM_FREE : FX_ROOM);
		char *text = json_dumps(res, JSON_COMPACT);

		fprintf(stderr, "world: {\"re\":\"room.show\",\"ok\":%s}\n", text ? text : "");
		free(text);
		json_decref(res);
	}
	return 0;
}

/* ---- one run ---- */

struct pending {
	int64_t id;
	char op[40];
};

struct committed {
	int64_t room, epoch;
	unsigned char key[EM_ROOM_KEY_BYTES];
};

struct run {
	struct mem_storage st;
	struct emc *c;
	int64_t now;
	int passthrough; /* a !call or !cmd line: frames carry arguments as given */
	struct pending pending[PENDING_MAX];
	size_t npending;
	int64_t tasks[TASKS_MAX];
	int ended[TASKS_MAX];
	size_t ntasks;
	struct committed committed[COMMITTED_MAX];
	size_t ncommitted;
};

/* No control character but newline and tab (C0, DEL, C1 as UTF-8): a host prints it as it is. */
static int text_plain(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; s && *p; p++)
		if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f ||
		    (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			return 0;
	return 1;
}

static void run_pending_add(struct run *r, int64_t id, const char *op)
{
	if (r->npending == PENDING_MAX)
		return;
	r->pending[r->npending].id = id;
	snprintf(r->pending[r->npending].op, sizeof(r->pending[0].op), "%s", op);
	r->npending++;
}

static void run_pending_drop(struct run *r, size_t i)
{
	memmove(&r->pending[i], &r->pending[i + 1], (r->npending - i - 1) * sizeof(r->pending[0]));
	r->npending--;
}

/* An epoch.commit this core sent: sealed to no one untrusted; our own key remembered. */
static void run_commit(struct run *r, json_t *args)
{
	json_t *env;
	size_t i;
	int64_t room = json_integer_value(json_object_get(args, "room_id"));
	int64_t epoch = json_integer_value(json_object_get(args, "epoch"));

	json_array_foreach(json_object_get(args, "envelopes"), i, env)
	{
		const char *b64 = json_string_value(json_object_get(env, "sealed"));
		int64_t to = json_integer_value(json_object_get(env, "recipient_id"));
		unsigned char sealed[EM_SEALED_KEY_BYTES], key[EM_ROOM_KEY_BYTES],
		    sig[EM_SIG_BYTES];
		struct em_room_key_id id;

		check(to != FX_DAVE, "no room key is sealed to a member whose change is pending");
		check(b64 && em_b64_decode(b64, sealed, sizeof(sealed)) == (int)sizeof(sealed),
		      "an envelope is 208 bytes");
		if (to >= FX_ALICE && to <= FX_MONA) { /* pinned (or us): only to the pinned key */
			struct em_keys pinned;

			fx_keys("abcdn"[to - FX_ALICE], &pinned);
			check(em_room_key_open(sealed, &pinned, &id, key, sig) == 0,
			      "a room key for a pinned user is sealed to the pinned key");
			em_keys_wipe(&pinned);
		}
		if (to == FX_ALICE && em_room_key_open(sealed, &fx.alice, &id, key, sig) == 0 &&
		    r->ncommitted < COMMITTED_MAX) {
			r->committed[r->ncommitted].room = room;
			r->committed[r->ncommitted].epoch = epoch;
			memcpy(r->committed[r->ncommitted].key, key, sizeof(key));
			r->ncommitted++;
		}
		sodium_memzero(key, sizeof(key));
	}
}

static void run_frame_out(struct run *r, const char *text, size_t len)
{
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	const char *op = json_string_value(json_object_get(j, "op"));
	json_t *id = json_object_get(j, "id");

	check(j && json_is_object(j), "a frame is a JSON object");
	check(op && json_is_integer(id), "a frame has an id and an op");
	if (!r->passthrough) {
		struct em_request req;
		struct em_error_detail detail;
		int rc = em_request_parse(text, len, &req, &detail);

		if (rc != EM_OK)
			fprintf(stderr, "%s: refused frame %.*s: %s: %s\n", TARGET, (int)len, text,
			        detail.field, detail.message);
		check(rc == EM_OK, "the server's parser accepts every frame");
		em_request_clear(&req);
	}
	if (!strcmp(op, "epoch.commit"))
		run_commit(r, json_object_get(j, "args"));
	run_pending_add(r, json_integer_value(id), op);
	json_decref(j);
}

static void run_event_out(struct run *r, const char *text, size_t len)
{
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	const char *ev = json_string_value(json_object_get(j, "ev"));

	check(j && json_is_object(j) && ev, "an event is a JSON object with \"ev\"");
	if (!strcmp(ev, "warning") || !strcmp(ev, "notice") || !strcmp(ev, "report") ||
	    !strcmp(ev, "note") || !strcmp(ev, "status")) {
		const char *t = json_string_value(json_object_get(j, "text"));

		if (!text_plain(t))
			fprintf(stderr, "%s: event %.*s\n", TARGET, (int)len, text);
		check(text_plain(t), "an event's text carries no control character");
	} else if (!strcmp(ev, "message")) {
		/* the CLI makes text and sender safe itself; the core's own words it prints as they
		 * are */
		check(text_plain(json_string_value(json_object_get(j, "error"))) &&
		          text_plain(json_string_value(json_object_get(j, "warning"))),
		      "a message's error and warning carry no control character");
	} else if (!strcmp(ev, "live")) {
		json_t *m;
		size_t i;

		json_array_foreach(json_object_get(j, "members"), i, m)
		{
			check(text_plain(json_string_value(m)),
			      "a live room's member names carry no control character");
		}
	} else if (!strcmp(ev, "typing")) {
		check(text_plain(json_string_value(json_object_get(j, "username"))),
		      "a typing notice's username carries no control character");
	} else if (!strcmp(ev, "task")) {
		int64_t task = json_integer_value(json_object_get(j, "task"));
		json_t *ok = json_object_get(j, "ok");
		size_t i;

		check(json_is_boolean(ok), "a task event says ok or not");
		if (json_is_false(ok)) {
			json_t *err = json_object_get(j, "error");
			int64_t exit = json_integer_value(json_object_get(err, "exit"));

			check(text_plain(json_string_value(json_object_get(err, "message"))),
			      "a task's error message carries no control character");
			check(json_is_string(json_object_get(err, "code")) &&
			          json_is_string(json_object_get(err, "message")) && exit >= 1 &&
			          exit <= EMC_EXIT_LOCAL,
			      "a failed task has a code, a message and an exit code 1-5");
		}
		for (i = 0; i < r->ntasks && r->tasks[i] != task; i++)
			;
		if (i < r->ntasks) {
			check(!r->ended[i], "a task ends once");
			r->ended[i] = 1;
		}
	}
	json_decref(j);
}

static void run_drain(struct run *r)
{
	char *text;
	size_t len;
	enum emc_output kind;

	while ((kind = emc_next(r->c, &text, &len)) != EMC_NONE) {
		check(text && strlen(text) == len,
		      "an output is a C string of the length reported");
		if (fx.show)
			fprintf(stderr, "%s %s\n", kind == EMC_FRAME ? ">>" : "ev", text);
		if (kind == EMC_FRAME)
			run_frame_out(r, text, len);
		else
			run_event_out(r, text, len);
		emc_text_free(text);
	}
}

static void run_command(struct run *r, json_t *cmd)
{
	char *text = cmd ? json_dumps(cmd, JSON_COMPACT) : NULL;
	int64_t id;

	json_decref(cmd);
	if (!text)
		return;
	id = emc_command(r->c, text, r->now);
	free(text);
	check(id > 0 || id == -EINVAL || id == -ENOMEM, "a command starts or is refused");
	if (id > 0 && r->ntasks < TASKS_MAX)
		r->tasks[r->ntasks++] = id;
}

/* A host line: "!verb args". */
static void run_directive(struct run *r, char *line)
{
	char verb[16] = "", *rest;
	long long a = 0, b = 0, n = 0;

	sscanf(line + 1, "%15s", verb);
	rest = line + 1 + strlen(verb);
	rest += *rest == ' ';
	n = sscanf(rest, "%lld %lld", &a, &b);
	if (!strcmp(verb, "read")) {
		json_t *cmd = json_pack("{s:s, s:I}", "cmd", "read", "room", (json_int_t)a);

		if (n >= 2)
			json_object_set_new(cmd, "after", json_integer(b));
		run_command(r, cmd);
	} else if (!strcmp(verb, "send")) {
		char *text = strchr(rest, ' ');

		run_command(r, json_pack("{s:s, s:I, s:s?}", "cmd", "send", "room", (json_int_t)a,
		                         "text", text ? text + 1 : NULL));
	} else if (!strcmp(verb, "live") || !strcmp(verb, "typing")) {
		run_command(r, json_pack("{s:s, s:I}", "cmd", verb, "room", (json_int_t)a));
	} else if (!strcmp(verb, "flush") || !strcmp(verb, "stop")) {
		run_command(r, json_pack("{s:s}", "cmd", verb));
	} else if (!strcmp(verb, "call")) {
		r->passthrough = 1;
		run_command(r, json_pack("{s:s, s:s, s:{}}", "cmd", "call", "op", rest, "args"));
	} else if (!strcmp(verb, "cmd")) {
		int64_t id;

		r->passthrough = 1;
		id = emc_command(r->c, rest, r->now);
		check(id > 0 || id == -EINVAL || id == -ENOMEM, "a command starts or is refused");
		if (id > 0 && r->ntasks < TASKS_MAX)
			r->tasks[r->ntasks++] = id;
	} else if (!strcmp(verb, "cancel")) {
		emc_cancel(r->c, a >= 0 && (size_t)a < r->ntasks ? r->tasks[a] : a, r->now);
	} else if (!strcmp(verb, "link")) {
		emc_link(r->c, a != 0, r->now);
		if (!a)
			r->npending = 0; /* the core failed them */
	} else if (!strcmp(verb, "tick")) {
		r->now += a > 0 && a < 24LL * 3600 * 1000 ? a : 0;
		emc_tick(r->c, r->now);
	}
}

/* A frame line: its "re" pointed at a request waiting (see the top), then received. */
static void run_frame_in(struct run *r, const char *line, size_t len)
{
	json_t *j = json_loadb(line, len, 0, NULL);
	json_t *re = json_object_get(j, "re");
	char *text = NULL;
	size_t pick = PENDING_MAX;

	if (json_is_string(re)) {
		for (size_t i = 0; i < r->npending && pick == PENDING_MAX; i++)
			if (!strcmp(r->pending[i].op, json_string_value(re)))
				pick = i;
	} else if (json_is_integer(re) && json_integer_value(re) >= 0) {
		for (size_t i = 0; i < r->npending && pick == PENDING_MAX; i++)
			if (r->pending[i].id == json_integer_value(re))
				pick = i;
		if (pick == PENDING_MAX && r->npending)
			pick = (size_t)(json_integer_value(re) % (json_int_t)r->npending);
	}
	if (pick < r->npending) {
		json_object_set_new(j, "re", json_integer(r->pending[pick].id));
		run_pending_drop(r, pick);
	}
	if (re)
		text = json_dumps(j, JSON_COMPACT);
	emc_receive(r->c, text ? text : line, text ? strlen(text) : len, r->now);
	free(text);
	json_decref(j);
}

/* ---- after the run ---- */

static json_t *run_doc(struct run *r, const char *name)
{
	char *text = NULL;
	size_t len = 0;
	json_t *j = NULL;

	if (mem_load(&r->st, name, &text, &len) == 0)
		j = json_loadb(text, len, 0, NULL);
	free(text);
	return j;
}

static void run_check_state(struct run *r)
{
	static const int64_t pinned[] = {FX_BOB, FX_CAROL, FX_DAVE, FX_MONA};
	json_t *pins = run_doc(r, STATE_PINS_FILE), *rk = run_doc(r, STATE_ROOMKEYS_FILE);
	json_t *rooms = json_object_get(rk, "rooms"), *epochs;
	struct pin before, after;
	const char *room;

	check(pins && rk, "pins and room keys are still JSON");
	for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		check(pins_get(fx.pins, pinned[i], &before) == 0, "fixture pin");
		check(pins_get(pins, pinned[i], &after) == 0, "a pin is never dropped");
		check(!memcmp(before.sign_pk, after.sign_pk, EM_SIGN_PK_BYTES) &&
		          !memcmp(before.box_pk, after.box_pk, EM_BOX_PK_BYTES),
		      "a pinned key is never replaced by what the server says");
		check(!strcmp(before.username, after.username),
		      "a pinned username is never replaced by what the server says");
	}
	check(pins_get(pins, FX_ALICE, &after) != 0, "we are never pinned");
	json_object_foreach(rooms, room, epochs)
	{
		const char *epoch;
		json_t *entry;

		json_object_foreach(epochs, epoch, entry)
		{
			unsigned char got[EM_ROOM_KEY_BYTES], want[EM_ROOM_KEY_BYTES];
			long long e = atoll(epoch);
			int64_t committer = 0;
			int ours = 0;

			(void)entry;
			check(roomkeys_get(rk, atoll(room), e, got, &committer) == 0,
			      "a stored key reads");
			fx_room_key(atoll(room), e, want);
			for (size_t i = 0; i < r->ncommitted; i++)
				ours |= r->committed[i].room == atoll(room) &&
				        r->committed[i].epoch == e &&
				        !memcmp(r->committed[i].key, got, sizeof(got));
			check((committer != FX_ALICE && !memcmp(got, want, sizeof(got)) &&
			       (atoll(room) == FX_ROOM || atoll(room) == FX_ROOM_FREE)) ||
			          (committer == FX_ALICE && ours),
			      "a stored room key is one a pinned member sealed, or ours");
		}
	}
	json_decref(pins);
	json_decref(rk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct emc_storage st;
	struct run *r = calloc(1, sizeof(*r));
	char *buf = malloc(size + 1), *line, *save = NULL;
	size_t lines = 0;

	check(r && buf, "memory");
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (size_t i = 0; i < MEM_DOCS_MAX; i++)
		if (fx.initial.docs[i].name[0])
			check(mem_save(&r->st, fx.initial.docs[i].name, fx.initial.docs[i].text,
			               fx.initial.docs[i].len) == 0,
			      "the world copied");
	st = mem_storage_of(&r->st);
	r->now = FX_WRITTEN_MS + 60 * 1000;
	r->c = emc_new(&st, r->now);
	check(r->c != NULL, "the core starts");
	emc_link(r->c, 1, r->now);
	run_drain(r);
	/* a frame is a line; a NUL ends the script (emc_receive takes C strings' bytes) */
	for (line = strtok_r(buf, "\n", &save); line && lines < LINES_MAX;
	     line = strtok_r(NULL, "\n", &save), lines++) {
		r->now += STEP_MS;
		if (fx.show)
			fprintf(stderr, "<< %.200s\n", line);
		if (line[0] == '!') {
			/* the host's own words are not the server's: only printable ones, so that
			 * what the core says back about them (an unknown op) is not counted */
			if (text_plain(line))
				run_directive(r, line);
		} else {
			run_frame_in(r, line, strlen(line));
		}
		run_drain(r);
		emc_tick(r->c, r->now);
		run_drain(r);
	}
	emc_free(r->c);
	run_check_state(r);
	mem_clear(&r->st);
	sodium_memzero(r, sizeof(*r));
	free(r);
	free(buf);
	return 0;
}
