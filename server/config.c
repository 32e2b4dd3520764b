/*
 * config.c - one table of options drives the flag parser, the environment,
 * the config file and --help, so the four can never disagree.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

#ifndef EMENTOR_SCHEMA_DIR
#define EMENTOR_SCHEMA_DIR "schema"
#endif
#ifndef EMENTOR_WEB_DIR
#define EMENTOR_WEB_DIR "web"
#endif

enum opt_type {
	OT_STR,
	OT_INT,
	OT_SWITCH,
	OT_ORIGIN,
	OT_LEVEL,
	OT_ROLE,
	OT_LLONG,
	OT_REMIND,
	OT_METRICS,
	OT_LOGFMT
};

struct opt {
	const char *name;
	enum opt_type type;
	size_t offset;
	size_t size; /* strings: buffer size */
	long long min, max;
	const char *help;
};

#define S(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)
#define I(field) offsetof(struct config, field), 0

static const struct opt opts[] = {
    {"listen", OT_STR, S(listen), 0, 0, "interface address to listen on (default: all)"},
    {"port", OT_INT, I(port), 1, 65535, "TLS port for WebSocket and HTTP (default 8443)"},
    {"cert", OT_STR, S(cert), 0, 0, "TLS certificate chain, PEM (required to serve)"},
    {"key", OT_STR, S(key), 0, 0, "TLS private key, PEM (required to serve)"},
    {"db", OT_STR, S(db), 0, 0,
     "PostgreSQL conninfo, e.g. \"host=/run/postgresql dbname=ementor\""},
    {"db-workers", OT_INT, I(db_workers), 1, 64, "database worker threads (default 2)"},
    {"db-queue", OT_INT, I(db_queue), 16, 1000000,
     "queued database jobs before requests get `busy` (default 4096)"},
    {"allow-origin", OT_ORIGIN, 0, 0, 0, 0,
     "browser Origin to accept, e.g. https://app.example.org (repeatable; env: comma-separated)"},
    {"auth-timeout", OT_INT, I(auth_timeout_s), 1, 3600,
     "seconds a new connection has to log in (default 10)"},
    {"session-ttl", OT_INT, I(session_ttl_days), 1, 365, "days a login session lasts (default 30)"},
    {"invite-ttl", OT_INT, I(invite_ttl_days), 1, 365, "days an operator invite lasts (default 7)"},
    {"max-inflight", OT_INT, I(max_inflight), 1, 1024,
     "requests in flight per connection before input pauses (default 32)"},
    {"out-queue", OT_INT, I(out_queue_kib), 64, 1048576,
     "KiB of queued output per connection before it is closed as a slow consumer (default 1024)"},
    {"preauth-memory", OT_INT, I(preauth_memory_mib), 1, 65536,
     "MiB held for all connections not logged in (their requests and output); past it they "
     "are closed with 1013 and new ones refused (default 64)"},
    {"rotate-messages", OT_INT, I(rotate_messages), 1, 1000000000,
     "messages per room key epoch before clients must rotate (default 100)"},
    {"rotate-days", OT_INT, I(rotate_days), 1, 365,
     "days per room key epoch before clients must rotate (default 7)"},
    {"batch-max", OT_INT, I(batch_max), 1, 4096,
     "messages written per group commit at most (default 256)"},
    {"batch-wait-us", OT_INT, I(batch_wait_us), 0, 100000,
     "microseconds a short batch waits for more messages before committing (default 1000)"},
    {"public-url", OT_STR, S(public_url), 0, 0,
     "the https origin users reach this server at, for links in calendar feeds and e-mails "
     "(default "
     "https://localhost:PORT)"},
    {"reminders", OT_REMIND, S(reminders), 0, 0,
     "minutes before a confirmed meeting that reminders go out, comma-separated (default "
     "2880,120)"},
    {"drain-timeout", OT_INT, I(drain_timeout_s), 1, 600,
     "seconds SIGTERM waits for in-flight requests before exiting (default 10)"},
    {"scheduler-interval", OT_INT, I(scheduler_interval_s), 1, 3600,
     "seconds between looks for due reminders (default 15)"},
    {"clock-offset", OT_INT, I(clock_offset_s), -315360000, 315360000,
     "seconds added to the server's clock (checkpoints, reminders, the audit, message times); "
     "for tests and drills only (default 0)"},
    {"privacy-notice", OT_STR, S(privacy_notice), 0, 0,
     "file with the privacy notice users consent to at registration (default: built-in); "
     "its version is derived from its text"},
    {"metrics", OT_METRICS, S(metrics), 0, 0,
     "who may read GET /metrics: off, local (loopback clients only) or any (default local)"},
    {"smtp-url", OT_STR, S(smtp_url), 0, 0,
     "SMTP relay for e-mail: smtp://HOST:PORT (STARTTLS, see --smtp-starttls) or "
     "smtps://HOST:PORT (TLS); without one (the default) e-mail is off"},
    {"smtp-starttls", OT_STR, S(smtp_starttls), 0, 0,
     "with smtp://: required (refuse a relay without STARTTLS) or optional (default "
     "required)"},
    {"smtp-credentials", OT_STR, S(smtp_credentials), 0, 0,
     "file with the relay's username (first line) and password (second line) (default: "
     "no login)"},
    {"smtp-ca", OT_STR, S(smtp_ca), 0, 0,
     "CA certificates (PEM) to check the relay's certificate with (default: the system's)"},
    {"mail-from", OT_STR, S(mail_from), 0, 0,
     "From address of e-mails (default: noreply@ the --public-url host)"},
    {"mail-digest", OT_INT, I(mail_digest_s), 0, 604800,
     "seconds between unread-message digests, at most one per room per interval; 0: none "
     "(default 3600)"},
    {"mail-retry-base", OT_INT, I(mail_retry_base_s), 1, 86400,
     "seconds before an e-mail's first retry, doubled after each failure up to an hour "
     "(default 60)"},
    {"mail-retry-max", OT_INT, I(mail_retry_max), 1, 100,
     "attempts before an e-mail fails for good (default 10)"},
    {"mail-claim-timeout", OT_INT, I(mail_claim_timeout_s), 1, 86400,
     "seconds after which an e-mail a stopped node was sending is sent again (default 300)"},
    {"no-migrate", OT_SWITCH, I(no_migrate), 0, 0, "do not apply schema migrations at start"},
    {"schema-dir", OT_STR, S(schema_dir), 0, 0,
     "directory of NNN_*.sql migrations (default: built-in path)"},
    {"web-dir", OT_STR, S(web_dir), 0, 0,
     "the web app to serve at / and /app/ (index.html and app/), read at start-up (default: "
     "BUILD_DIR/web, which scripts/run fills; missing: no web app)"},
    {"log-level", OT_LEVEL, S(log_level), 0, 0, "debug, info, warn or error (default info)"},
    {"log-format", OT_LOGFMT, S(log_format), 0, 0,
     "text (\"TIME LEVEL event key=value ...\") or json (one object per line) (default text)"},
    {"role", OT_ROLE, S(role), 0, 0, "invite: role of the invited user (manager, mentor, mentee)"},
    {"ledger-head", OT_STR, S(ledger_head), 0, 0,
     "verify-ledger: a head an earlier run printed (SEQ:HASH); reports the newest entries "
     "removed since"},
    {"programme", OT_LLONG, I(programme), 1, 9007199254740991LL,
     "invite: programme the invited user joins"},
};

#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->port = 8443;
	cfg->db_workers = 2;
	cfg->db_queue = 4096;
	cfg->auth_timeout_s = 10;
	cfg->session_ttl_days = 30;
	cfg->invite_ttl_days = 7;
	cfg->max_inflight = 32;
	cfg->out_queue_kib = 1024;
	cfg->preauth_memory_mib = 64;
	cfg->rotate_messages = 100;
	cfg->rotate_days = 7;
	cfg->batch_max = 256;
	cfg->batch_wait_us = 1000;
	cfg->scheduler_interval_s = 15;
	cfg->drain_timeout_s = 10;
	snprintf(cfg->smtp_starttls, sizeof(cfg->smtp_starttls), "required");
	cfg->mail_digest_s = 3600;
	cfg->mail_retry_base_s = 60;
	cfg->mail_retry_max = 10;
	cfg->mail_claim_timeout_s = 300;
	snprintf(cfg->metrics, sizeof(cfg->metrics), "local");
	cfg->remind_minutes[0] = 2880;
	cfg->remind_minutes[1] = 120;
	cfg->n_remind = 2;
	snprintf(cfg->reminders, sizeof(cfg->reminders), "2880,120");
	snprintf(cfg->db, sizeof(cfg->db), "dbname=ementor");
	snprintf(cfg->schema_dir, sizeof(cfg->schema_dir), "%s", EMENTOR_SCHEMA_DIR);
	snprintf(cfg->web_dir, sizeof(cfg->web_dir), "%s", EMENTOR_WEB_DIR);
	snprintf(cfg->log_level, sizeof(cfg->log_level), "info");
	snprintf(cfg->log_format, sizeof(cfg->log_format), "text");
}

static const struct opt *opt_find(const char *name)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (!strcmp(opts[i].name, name))
			return &opts[i];
	return NULL;
}

int config_is_switch(const char *name)
{
	const struct opt *o = opt_find(name);

	return o && o->type == OT_SWITCH;
}

static int parse_ll(const char *s, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return (errno || end == s || *end) ? -1 : 0;
}

int config_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
	const struct opt *o = opt_find(name);
	char *base = (char *)cfg;
	long long v;

	if (!o) {
		snprintf(err, errlen, "unknown option \"%s\" (see --help)", name);
		return -1;
	}
	switch (o->type) {
	case OT_SWITCH:
		/* alone (a flag, a bare line) it is on; a typo is an error, not "off" */
		if (!value || !*value || !strcmp(value, "1") || !strcmp(value, "true") ||
		    !strcmp(value, "yes") || !strcmp(value, "on")) {
			*(int *)(base + o->offset) = 1;
			return 0;
		}
		if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no") ||
		    !strcmp(value, "off")) {
			*(int *)(base + o->offset) = 0;
			return 0;
		}
		snprintf(err, errlen, "%s is a switch: yes or no (1/0, true/false, on/off)", name);
		return -1;
	case OT_INT:
	case OT_LLONG:
		if (!value || parse_ll(value, &v) || v < o->min || v > o->max) {
			snprintf(err, errlen, "%s must be a whole number from %lld to %lld", name,
			         o->min, o->max);
			return -1;
		}
		if (o->type == OT_INT)
			*(int *)(base + o->offset) = (int)v;
		else
			*(long long *)(base + o->offset) = v;
		return 0;
	case OT_LEVEL: {
		enum log_level level;

		if (!value || log_level_parse(value, &level)) {
			snprintf(err, errlen, "log-level must be debug, info, warn or error");
			return -1;
		}
		break;
	}
	case OT_REMIND: {
		/* "2880,120": minutes before a meeting, 1 to 4 of them, each 1..20160 */
		char copy[64], *tok, *save = NULL;
		int minutes[CONFIG_MAX_REMINDERS], n = 0,
		                                   ok = value && strlen(value) < sizeof(copy);

		if (ok) {
			snprintf(copy, sizeof(copy), "%s", value);
			for (tok = strtok_r(copy, ",", &save); ok && tok;
			     tok = strtok_r(NULL, ",", &save)) {
				ok = !parse_ll(tok, &v) && v >= 1 && v <= 20160 &&
				     n < CONFIG_MAX_REMINDERS;
				if (ok)
					minutes[n++] = (int)v;
			}
		}
		/* nothing changes unless the whole list is good; an empty list is not */
		if (!ok || n == 0) {
			snprintf(err, errlen,
			         "reminders must be 1 to %d minute counts from 1 to 20160, "
			         "comma-separated, such as 2880,120",
			         CONFIG_MAX_REMINDERS);
			return -1;
		}
		memcpy(cfg->remind_minutes, minutes, sizeof(minutes[0]) * (size_t)n);
		cfg->n_remind = n;
		break;
	}
	case OT_LOGFMT:
		if (!value || (strcmp(value, "text") && strcmp(value, "json"))) {
			snprintf(err, errlen, "log-format must be text or json");
			return -1;
		}
		break;
	case OT_METRICS:
		if (!value ||
		    (strcmp(value, "off") && strcmp(value, "local") && strcmp(value, "any"))) {
			snprintf(err, errlen, "metrics must be off, local or any");
			return -1;
		}
		break;
	case OT_ROLE:
		if (!value || (strcmp(value, "manager") && strcmp(value, "mentor") &&
		               strcmp(value, "mentee"))) {
			snprintf(err, errlen, "role must be manager, mentor or mentee");
			return -1;
		}
		break;
	case OT_ORIGIN: {
		/* comma-separated, so the environment can carry several */
		const char *p = value ? value : "";

		while (*p) {
			size_t n = strcspn(p, ",");

			while (n && isspace((unsigned char)*p)) {
				p++;
				n--;
			}
			if (n) {
				if (cfg->n_origins >= CONFIG_MAX_ORIGINS ||
				    n >= sizeof(cfg->origins[0])) {
					snprintf(err, errlen, "too many or too long origins");
					return -1;
				}
				snprintf(cfg->origins[cfg->n_origins++], sizeof(cfg->origins[0]),
				         "%.*s", (int)n, p);
			}
			p += n;
			if (*p == ',')
				p++;
		}
		return 0;
	}
	case OT_STR:
		break;
	}
	if (!value || strlen(value) >= o->size) {
		snprintf(err, errlen, "%s needs a value shorter than %zu characters", name,
		         o->size);
		return -1;
	}
	snprintf(base + o->offset, o->size, "%s", value);
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int config_parse(struct config *cfg, const char *text, size_t len, const char *source, char *err,
                 size_t errlen)
{
	char *copy = NULL, *next, msg[256];
	int lineno = 0, rc = -1;

	if (memchr(text, '\0', len)) {
		snprintf(err, errlen, "%s: the file contains a NUL byte", source);
		goto out;
	}
	if (!(copy = malloc(len + 1))) {
		snprintf(err, errlen, "%s: out of memory", source);
		goto out;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	/* whole lines, however long: a long comment never spills into an option */
	for (char *line = copy; line; line = next) {
		char *s, *eq, *name, *value;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		s = trim(line);
		if (!*s || *s == '#')
			continue;
		eq = strchr(s, '=');
		name = s;
		value = NULL;
		if (eq) {
			*eq = '\0';
			name = trim(s);
			value = trim(eq + 1);
			if (value[0] == '"' && strlen(value) >= 2 &&
			    value[strlen(value) - 1] == '"') {
				value[strlen(value) - 1] = '\0';
				value++;
			}
		} else if (!config_is_switch(name)) {
			snprintf(err, errlen, "%s:%d: expected \"name = value\"", source, lineno);
			goto out;
		}
		if (config_set(cfg, name, value, msg, sizeof(msg))) {
			snprintf(err, errlen, "%s:%d: %s", source, lineno, msg);
			goto out;
		}
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t len = 0;
	int rc = -1;

	if (!f) {
		snprintf(err, errlen, "cannot open config file %s: %s", path, strerror(errno));
		goto out;
	}
	if (!(text = malloc(CONFIG_FILE_MAX + 1))) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	len = fread(text, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(errno));
		goto out;
	}
	if (len > CONFIG_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
		goto out;
	}
	rc = config_parse(cfg, text, len, path, err, errlen);
out:
	free(text);
	if (f)
		fclose(f);
	return rc;
}

int config_load_env(struct config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < N_OPTS; i++) {
		char env[64] = "EMENTOR_", msg[256];
		const char *v;
		size_t n = strlen(env);

		for (const char *p = opts[i].name; *p && n < sizeof(env) - 1; p++)
			env[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
		env[n] = '\0';
		if (opts[i].type == OT_ROLE || opts[i].type == OT_LLONG)
			continue; /* subcommand arguments come from flags only */
		v = getenv(env);
		if (!v || !*v)
			continue;
		if (config_set(cfg, opts[i].name, v, msg, sizeof(msg))) {
			snprintf(err, errlen, "%s: %s", env, msg);
			return -1;
		}
	}
	return 0;
}

void config_print_help(const char *argv0)
{
	printf("Usage: %s [serve] [OPTIONS]      run the server (default)\n"
	       "       %s migrate [OPTIONS]      apply schema migrations and exit\n"
	       "       %s invite --role ROLE [--programme ID] [OPTIONS]\n"
	       "                                  print a one-time invite code and exit\n"
	       "       %s verify-ledger [OPTIONS] check the consent ledger's chain and signatures\n"
	       "                                  (exit 0 intact, 1 not intact, 2 database error)\n"
	       "       %s purge-expired [OPTIONS] run the retention purge once and exit\n"
	       "       %s --help | --version\n\n"
	       "ementord is the ementor server: end-to-end encrypted mentoring over a TLS\n"
	       "WebSocket (subprotocol ementor.v1) with GET /healthz on the same port.\n\n"
	       "Options (each also read from the environment as EMENTOR_<NAME>, e.g.\n"
	       "EMENTOR_DB, and from a config file of \"name = value\" lines given by\n"
	       "--config FILE or EMENTOR_CONFIG; flags win over the environment, which\n"
	       "wins over the file):\n",
	       argv0, argv0, argv0, argv0, argv0, argv0);
	printf("  --%-16s %s\n", "config FILE", "read options from FILE");
	for (size_t i = 0; i < N_OPTS; i++) {
		char flag[40];

		snprintf(flag, sizeof(flag), "%s%s", opts[i].name,
		         opts[i].type == OT_SWITCH ? "" : " V");
		printf("  --%-16s %s\n", flag, opts[i].help);
	}
	printf("\nExit status: 0 on a clean shutdown, 1 on a start-up or runtime error,\n"
	       "2 on a usage error.\n");
}
