/*
 * cli.c - the plumbing every command shares, so that each cmd_*.c reads as
 * the steps of its command and nothing else: option parsing with the global
 * options accepted anywhere, the login-required preamble (load session.json,
 * connect, `resume`), the mapping from error replies and connection failures
 * to messages and exit codes (see enum cli_exit), and plain-text tables.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "state.h"

#define CLI_MAX_OPTIONS 24

int cli_global_option(struct cli *cli, int opt, const char *arg)
{
	switch (opt) {
	case CLI_OPT_SERVER:
		cli->server = arg;
		return 0;
	case CLI_OPT_CA:
		cli->ca = arg;
		return 0;
	case CLI_OPT_HOME:
		cli->home_dir = arg;
		return 0;
	case CLI_OPT_JSON:
		cli->json = 1;
		return 0;
	case CLI_OPT_INSECURE:
		cli->insecure_dev = 1;
		return 0;
	default:
		return -1;
	}
}

int cli_usage_error(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ementor %s: ", cli->command);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'ementor %s --help'.\n", cli->command);
	return CLI_EXIT_USAGE;
}

int cli_fail(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("ementor: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

int cli_parse(struct cli *cli, int argc, char **argv, const struct option *opts, const char *usage,
              int (*on_option)(void *ctx, int opt, const char *arg), void *ctx, int min_pos,
              int max_pos, int *first)
{
	static const struct option global[] = {CLI_GLOBAL_OPTIONS};
	struct option all[CLI_MAX_OPTIONS];
	size_t n = 0, npos;
	int opt, rc;

	for (; opts && opts[n].name && n + 1 < CLI_MAX_OPTIONS; n++)
		all[n] = opts[n];
	for (size_t i = 0; i < sizeof(global) / sizeof(global[0]) && n + 1 < CLI_MAX_OPTIONS; i++)
		all[n++] = global[i];
	memset(&all[n], 0, sizeof(all[n]));

	opterr = 0;
	optind = 0; /* GNU: start afresh, with argument permutation */
	while ((opt = getopt_long(argc, argv, ":h", all, NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage, stdout);
			return CLI_EXIT_OK;
		}
		if (opt == '?') {
			if (optopt > ' ' && optopt < 0x7f)
				return cli_usage_error(
				    cli,
				    "unknown option '-%c' (an argument that starts "
				    "with '-' goes after '--')",
				    optopt);
			return cli_usage_error(cli,
			                       "unknown option '%s' (an argument that starts with "
			                       "'-' goes after '--')",
			                       argv[optind - 1]);
		}
		if (opt == ':')
			return cli_usage_error(cli, "option '%s' needs a value", argv[optind - 1]);
		if (cli_global_option(cli, opt, optarg) == 0)
			continue;
		rc = on_option ? on_option(ctx, opt, optarg) : CLI_EXIT_USAGE;
		if (rc != CLI_CONTINUE)
			return rc;
	}
	npos = (size_t)(argc - optind);
	if (npos < (size_t)min_pos)
		return cli_usage_error(cli, "missing argument");
	if (npos > (size_t)max_pos)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind + max_pos]);
	*first = optind;
	return CLI_CONTINUE;
}

int cli_home(struct cli *cli)
{
	int rc = home_resolve(&cli->home, cli->home_dir);

	if (rc == -ENOENT)
		return cli_fail(CLI_EXIT_LOCAL, "cannot find a home directory: set HOME, "
		                                "EMENTOR_HOME or --home DIR");
	if (rc)
		return cli_fail(CLI_EXIT_LOCAL, "the home directory path is too long");
	return CLI_EXIT_OK;
}

int cli_home_error(const struct cli *cli, const char *doing, const char *name, int err)
{
	char path[PATH_MAX];

	if (!name || home_path(&cli->home, name, path, sizeof(path)))
		snprintf(path, sizeof(path), "%s", cli->home.dir);
	if (err == -EINVAL)
		return cli_fail(CLI_EXIT_LOCAL, "%s is damaged (not what ementor wrote there)",
		                path);
	return cli_fail(CLI_EXIT_LOCAL, "cannot %s %s: %s", doing, path, strerror(-err));
}

const char *cli_server(const struct cli *cli, const struct home_session *s)
{
	if (cli->server && *cli->server)
		return cli->server;
	if (s && s->server[0])
		return s->server;
	return CLI_DEFAULT_SERVER;
}

int cli_connect(const struct cli *cli, const char *server, struct conn **out)
{
	struct conn *c = NULL;
	int rc;

	*out = NULL;
	if (!strncasecmp(server, "ws://", 5)) {
		if (!cli->insecure_dev)
			return cli_fail(
			    CLI_EXIT_USAGE,
			    "refusing the plaintext server URL '%s': without TLS anyone on "
			    "the network sees your login key, your session token and every "
			    "request, and can change what the server answers. Use wss://. "
			    "(A test server on your own machine only: "
			    "--insecure-plaintext-dev.)",
			    server);
		fprintf(stderr,
		        "WARNING: --insecure-plaintext-dev: talking to %s WITHOUT TLS. The "
		        "login key, the session token and every request cross the network "
		        "in clear text. Never use this outside a development machine.\n",
		        server);
	}
	if (cli->ca && access(cli->ca, R_OK) != 0)
		return cli_fail(CLI_EXIT_LOCAL, "cannot read the CA file %s: %s", cli->ca,
		                strerror(errno));
	c = conn_new(server, cli->ca);
	if (!c)
		return cli_fail(CLI_EXIT_LOCAL, "out of memory");
	rc = conn_connect(c);
	if (rc != CONN_OK) {
		cli_fail(rc == CONN_ERR_URL ? CLI_EXIT_USAGE : CLI_EXIT_NET, "%s",
		         conn_strerror(c));
		conn_free(c);
		return rc == CONN_ERR_URL ? CLI_EXIT_USAGE : CLI_EXIT_NET;
	}
	*out = c;
	return CLI_EXIT_OK;
}

const char *cli_describe_wait(int64_t ms, char *buf, size_t len)
{
	int64_t s = (ms + 999) / 1000;

	if (ms <= 0)
		snprintf(buf, len, "a little while");
	else if (s <= 1)
		snprintf(buf, len, "about a second");
	else if (s < 90)
		snprintf(buf, len, "about %lld seconds", (long long)s);
	else if (s < 90 * 60)
		snprintf(buf, len, "about %lld minutes", (long long)((s + 30) / 60));
	else
		snprintf(buf, len, "about %lld hours", (long long)((s + 1800) / 3600));
	return buf;
}

/*
 * Replaces terminal control characters (C0, DEL and UTF-8-encoded C1) with
 * '?' in place: a display name must not be able to drive the user's terminal.
 */
void cli_defang(char *p)
{
	for (; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch < 0x20 || ch == 0x7f) {
			*p = '?';
		} else if (ch == 0xc2 && (unsigned char)p[1] >= 0x80 &&
		           (unsigned char)p[1] <= 0x9f) {
			p[0] = '?';
			p[1] = '?';
			p++;
		}
	}
}

/* Defangs every string in a server result before it is printed as text. */
static void cli_defang_json(json_t *v)
{
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, key, item)
		{
			cli_defang_json(item);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
		{
			cli_defang_json(item);
		}
	} else if (json_is_string(v)) {
		char *copy = strdup(json_string_value(v));

		if (copy) {
			cli_defang(copy);
			json_string_set(v, copy);
			free(copy);
		}
	}
}

/* cli_call() and cli_call_raw(): `defang` says whether the result's strings are defanged. */
static int cli_call_as(struct conn *c, enum em_op op, json_t *args, json_t **result, int defang)
{
	struct em_incoming in;
	char wait[48];
	int rc;

	*result = NULL;
	rc = conn_call(c, op, args, &in);
	if (rc != CONN_OK)
		return cli_fail(CLI_EXIT_NET, "%s", conn_strerror(c));
	if (in.result) {
		if (defang)
			cli_defang_json(in.result);
		*result = in.result;
		in.result = NULL;
		em_incoming_clear(&in);
		return CLI_EXIT_OK;
	}
	cli_defang(in.err_message);
	switch (in.err) {
	case EM_ERR_SESSION_EXPIRED:
	case EM_ERR_NOT_AUTHENTICATED:
		fprintf(stderr, "error: %s (%s)\n", in.err_message, em_err_code(in.err));
		rc = CLI_EXIT_AUTH;
		break;
	default:
		if (em_err_retryable(in.err)) {
			cli_describe_wait(in.retry_after_ms, wait, sizeof(wait));
			fprintf(stderr, "error: %s (%s); try again in %s.\n", in.err_message,
			        em_err_code(in.err), wait);
		} else {
			fprintf(stderr, "error: %s (%s)\n", in.err_message, em_err_code(in.err));
		}
		rc = CLI_EXIT_REFUSED;
		break;
	}
	em_incoming_clear(&in);
	return rc;
}

int cli_call(const struct cli *cli, struct conn *c, enum em_op op, json_t *args, json_t **result)
{
	return cli_call_as(c, op, args, result, !cli->json);
}

int cli_call_raw(struct conn *c, enum em_op op, json_t *args, json_t **result)
{
	return cli_call_as(c, op, args, result, 0);
}

int cli_session_load(struct cli *cli, struct home_session *s)
{
	int rc = cli_home(cli);

	if (rc)
		return rc;
	rc = home_session_load(&cli->home, s);
	if (rc == -ENOENT)
		return cli_fail(CLI_EXIT_AUTH,
		                "you are not logged in; run `ementor login USERNAME`.");
	if (rc)
		return cli_home_error(cli, "read", HOME_SESSION_FILE, rc);
	return CLI_EXIT_OK;
}

int cli_session_resume(struct cli *cli, struct conn *c, struct home_session *s)
{
	struct em_incoming in;
	json_t *user;
	const char *expires;
	char wait[48];
	int rc;

	rc = conn_call(c, EM_OP_RESUME, json_pack("{s:s}", "token", s->token), &in);
	if (rc != CONN_OK)
		return cli_fail(CLI_EXIT_NET, "%s", conn_strerror(c));
	if (!in.result) {
		cli_defang(in.err_message);
		if (in.err == EM_ERR_SESSION_EXPIRED)
			rc = cli_fail(CLI_EXIT_AUTH,
			              "your session has expired; run `ementor login %s`.",
			              s->username);
		else if (em_err_retryable(in.err))
			rc = cli_fail(CLI_EXIT_REFUSED,
			              "cannot resume your session: %s (%s); try again in %s.",
			              in.err_message, em_err_code(in.err),
			              cli_describe_wait(in.retry_after_ms, wait, sizeof(wait)));
		else
			rc = cli_fail(CLI_EXIT_AUTH,
			              "cannot resume your session: %s (%s); run `ementor login "
			              "%s`.",
			              in.err_message, em_err_code(in.err), s->username);
		em_incoming_clear(&in);
		return rc;
	}
	/* Keep the saved copy in step with what the server says. */
	user = json_object_get(in.result, "user");
	expires = cli_str(in.result, "expires_at", NULL);
	if (expires && strcmp(expires, s->expires_at) != 0 &&
	    strlen(expires) < sizeof(s->expires_at)) {
		snprintf(s->expires_at, sizeof(s->expires_at), "%s", expires);
		snprintf(s->role, sizeof(s->role), "%s", cli_str(user, "role", s->role));
		if (home_session_save(&cli->home, s) != 0)
			fprintf(stderr, "ementor: warning: could not update %s/%s\n", cli->home.dir,
			        HOME_SESSION_FILE);
	}
	em_incoming_clear(&in);
	return CLI_EXIT_OK;
}

int cli_session_open(struct cli *cli, struct home_session *s, struct conn **out)
{
	struct conn *c = NULL;
	int rc;

	*out = NULL;
	rc = cli_session_load(cli, s);
	if (rc)
		goto out;
	rc = cli_connect(cli, cli_server(cli, s), &c);
	if (rc)
		goto out;
	rc = cli_session_resume(cli, c, s);
	if (rc)
		goto out;
	*out = c;
	c = NULL;
out:
	conn_free(c);
	if (rc)
		home_session_wipe(s);
	return rc;
}

/* cli_request() and cli_request_raw(): `defang` as for cli_call_as(). */
static int cli_request_as(struct cli *cli, enum em_op op, json_t *args, json_t **res, int defang)
{
	struct home_session s;
	struct conn *c = NULL;
	int rc;

	memset(&s, 0, sizeof(s));
	*res = NULL;
	rc = cli_session_open(cli, &s, &c);
	if (rc) {
		json_decref(args);
		goto out;
	}
	rc = cli_call_as(c, op, args, res, defang);
out:
	conn_free(c);
	home_session_wipe(&s);
	return rc;
}

int cli_request(struct cli *cli, enum em_op op, json_t *args, json_t **res)
{
	return cli_request_as(cli, op, args, res, !cli->json);
}

int cli_request_raw(struct cli *cli, enum em_op op, json_t *args, json_t **res)
{
	return cli_request_as(cli, op, args, res, 0);
}

void cli_print_json(json_t *result)
{
	json_dumpf(result, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
}

const char *cli_str(json_t *obj, const char *key, const char *fallback)
{
	const char *v = json_string_value(json_object_get(obj, key));

	return v ? v : fallback;
}

const char *cli_int_text(json_t *obj, const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else
		snprintf(buf, len, "%s", json_is_null(v) ? "" : "-");
	return buf;
}

int cli_fingerprint(json_t *user, char out[EM_FINGERPRINT_STRLEN])
{
	unsigned char sign_pk[EM_SIGN_PK_BYTES], box_pk[EM_BOX_PK_BYTES];
	const char *spk = cli_str(user, "sign_pk", NULL), *bpk = cli_str(user, "box_pk", NULL);
	const char *claimed = cli_str(user, "fingerprint", NULL);

	if (!spk || !bpk || em_b64_decode(spk, sign_pk, sizeof(sign_pk)) != (int)sizeof(sign_pk) ||
	    em_b64_decode(bpk, box_pk, sizeof(box_pk)) != (int)sizeof(box_pk)) {
		snprintf(out, EM_FINGERPRINT_STRLEN, "%s", claimed ? claimed : "-");
		return -1;
	}
	em_fingerprint(sign_pk, box_pk, out);
	return claimed && strcmp(claimed, out) != 0 ? 1 : 0;
}

int cli_parse_id(const char *s, int64_t *out)
{
	char *end = NULL;
	long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 1 || v > EM_MAX_REQUEST_ID)
		return -1;
	*out = v;
	return 0;
}

/* cli_programme_ref() and cli_room_ref(): one list op, its array, and what to call the thing. */
static int cli_ref(struct cli *cli, const char *text, int64_t *id, enum em_op op, const char *array,
                   const char *what)
{
	json_t *res = NULL, *item;
	char ids[160] = "";
	size_t i, n = 0;
	int rc;

	if (!cli_parse_id(text, id))
		return CLI_CONTINUE;
	if (!*text)
		return cli_usage_error(cli, "an empty %s name", what);
	rc = cli_request(cli, op, json_object(), &res);
	if (rc)
		goto out;
	json_array_foreach(json_object_get(res, array), i, item)
	{
		const char *name = json_string_value(json_object_get(item, "name"));
		size_t len = strlen(ids);

		if (!name || strcasecmp(name, text))
			continue;
		*id = json_integer_value(json_object_get(item, "id"));
		if (len + 24 < sizeof(ids))
			snprintf(ids + len, sizeof(ids) - len, "%s%lld", n ? ", " : "",
			         (long long)*id);
		n++;
	}
	if (n == 1)
		rc = CLI_CONTINUE;
	else if (!n)
		rc = cli_usage_error(
		    cli, "no %s of yours is named '%s' (give its number, or see `ementor %s list`)",
		    what, text, what);
	else
		rc = cli_usage_error(cli, "%zu %ss are named '%s' (%s): give the number", n, what,
		                     text, ids);
out:
	json_decref(res);
	return rc;
}

int cli_programme_ref(struct cli *cli, const char *text, int64_t *id)
{
	return cli_ref(cli, text, id, EM_OP_PROGRAMME_LIST, "programmes", "programme");
}

int cli_room_ref(struct cli *cli, const char *text, int64_t *id)
{
	return cli_ref(cli, text, id, EM_OP_ROOM_LIST, "rooms", "room");
}

void cli_table_init(struct cli_table *t, size_t ncols, const char *const *head)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->head = head;
}

int cli_table_add(struct cli_table *t, const char *const *row)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		char **cells = realloc(t->cells, cap * t->ncols * sizeof(*cells));

		if (!cells)
			return -1;
		t->cells = cells;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->ncols; i++) {
		char *cell = strdup(row[i] ? row[i] : "-");

		if (!cell) {
			while (i--)
				free(t->cells[t->nrows * t->ncols + i]);
			return -1;
		}
		/* Server text goes to a terminal: no control characters (C0, DEL, C1). */
		cli_defang(cell);
		t->cells[t->nrows * t->ncols + i] = cell;
	}
	t->nrows++;
	return 0;
}

/* Display width of UTF-8 text, counting code points (good enough for names). */
static size_t cli_text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

void cli_table_print(const struct cli_table *t, FILE *f, const char *indent)
{
	size_t width[16] = {0};
	size_t ncols = t->ncols < 16 ? t->ncols : 16;

	for (size_t c = 0; c < ncols; c++) {
		width[c] = cli_text_width(t->head[c]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t w = cli_text_width(t->cells[r * t->ncols + c]);

			if (w > width[c])
				width[c] = w;
		}
	}
	for (size_t r = 0; r <= t->nrows; r++) {
		size_t last = ncols; /* pad up to the last non-empty cell only */

		while (last > 1 &&
		       !*(r ? t->cells[(r - 1) * t->ncols + last - 1] : t->head[last - 1]))
			last--;
		fputs(indent, f);
		for (size_t c = 0; c < last; c++) {
			const char *cell = r ? t->cells[(r - 1) * t->ncols + c] : t->head[c];

			fputs(cell, f);
			if (c + 1 < last)
				fprintf(f, "%*s", (int)(width[c] - cli_text_width(cell) + 2), "");
		}
		fputc('\n', f);
	}
}

void cli_table_free(struct cli_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

void cli_print_message(json_t *ev)
{
	const char *text = json_string_value(json_object_get(ev, "text"));
	const char *error = json_string_value(json_object_get(ev, "error"));
	const char *sent_at = json_string_value(json_object_get(ev, "sent_at"));
	const char *warning = json_string_value(json_object_get(ev, "warning"));
	const char *sender = json_string_value(json_object_get(ev, "sender"));
	char when[40];
	char *safe =
	    text ? text_for_terminal(text, json_string_length(json_object_get(ev, "text"))) : NULL;
	char *safe_sender = sender ? text_for_terminal(sender, strlen(sender)) : NULL;

	text_local_time(sent_at ? sent_at : "", when, sizeof(when));
	printf("[%lld] %s %s: %s\n", (long long)json_integer_value(json_object_get(ev, "seq")),
	       when, safe_sender ? safe_sender : "?",
	       safe ? safe : (error ? error : "(cannot read)"));
	if (warning)
		printf("  ! WARNING: %s\n", warning);
	free(safe);
	free(safe_sender);
}
