/*
 * fuzz_client.c - libFuzzer target for what the CLI itself does with a frame
 * from a (possibly hostile) server. Every decision about keys, rosters,
 * epochs, agreements, consent and messages is the client core's (core/) and
 * is fuzzed through its API by fuzz_core.c; what is left in client/ is
 * printing. The input is one frame as it arrives on the WebSocket; it goes
 * through em_incoming_parse() and then through the CLI's printers in the
 * fixed world of client/fixture.h (a real home directory with a session and
 * keys, on tmpfs when there is one):
 *   - a `notice` event, as the chat prints it;
 *   - a result, defanged as cli_call() does, through the printers of
 *     programme, room, checkpoints, notices, the audit report (table and
 *     CSV) and whoami;
 *   - an error: its message made safe as cli_call() does.
 * What must hold, whatever the server sends:
 *   - no crash, leak or undefined behaviour (the sanitizers);
 *   - nothing written to the terminal (stdout and stderr are captured)
 *     carries a control character but newline, tab and the CRLF of CSV
 *     lines: no escape sequence, no lone carriage return, no C1 control.
 * The same frame is replayed by ctest through replay.c; seeds.c writes the
 * seed frames.
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
	struct home_session session; /* the world's, as whoami prints it */
	FILE *out, *err;             /* stdout and stderr while an input runs */
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

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct home_session s;
	struct home_keys k;
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");

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
	/* keys.json as the client core writes it (core/account.c) */
	{
		char *spk = em_b64_encode(k.keys.sign_pk, EM_SIGN_PK_BYTES);
		char *ssk = em_b64_encode(k.keys.sign_sk, EM_SIGN_SK_BYTES);
		char *bpk = em_b64_encode(k.keys.box_pk, EM_BOX_PK_BYTES);
		char *bsk = em_b64_encode(k.keys.box_sk, EM_BOX_SK_BYTES);
		json_t *keys =
		    json_pack("{s:s, s:s?, s:s?, s:s?, s:s?}", "username", k.username, "sign_pk",
		              spk, "sign_sk", ssk, "box_pk", bpk, "box_sk", bsk);

		check(spk && ssk && bpk && bsk && keys &&
		          home_session_save(&fx.cli.home, &s) == 0 &&
		          home_json_save(&fx.cli.home, HOME_KEYS_FILE, keys) == 0,
		      "session and keys written");
		json_decref(keys);
		free(spk);
		free(ssk);
		free(bpk);
		free(bsk);
	}
	fx.session = s;
	home_keys_wipe(&k);
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

/* What an input made the client print (on stderr). */
static void fx_show(void)
{
	fprintf(stderr, "--- stdout\n%s--- stderr\n%s", fx.out_buf, fx.err_buf);
}

/* ---- handlers ---- */

static void on_event(struct em_incoming *in)
{
	if (!strcmp(in->ev, "notice")) {
		json_t *copy = json_deep_copy(in->data);

		view_defang(copy);
		view_notice(copy);
		json_decref(copy);
	}
}

/* What cli_call() hands on: defanged, then printed. */
static void on_result(json_t *res)
{
	json_t *item, *copy = json_deep_copy(res);
	size_t i;

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
	view_whoami(&fx.cli, &fx.session, copy);
	json_decref(copy);
}

static void on_error(struct em_incoming *in)
{
	char wait[48];

	view_defang_text(in->err_message);
	fprintf(stderr, "error: %s (%s); try again in %s.\n", in->err_message, em_err_code(in->err),
	        cli_describe_wait(in->retry_after_ms, wait, sizeof(wait)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct em_incoming in;

	if (em_incoming_parse((const char *)data, size, &in) != EM_OK)
		return 0;
	capture_start();
	if (in.is_event)
		on_event(&in);
	else if (in.result)
		on_result(in.result);
	else if (in.err_message)
		on_error(&in);
	capture_end();
	if (fx.show) /* FUZZ_CLIENT_SHOW=1: what the client printed */
		fx_show();
	em_incoming_clear(&in);
	return 0;
}
