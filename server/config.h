/*
 * config.h - ementord's settings: defaults, then an optional config file,
 * then EMENTOR_* environment variables, then command-line flags; the later
 * source wins. Every option has one name used by all three sources
 * (flag --db-workers, env EMENTOR_DB_WORKERS, file "db-workers = 4").
 */
#ifndef EMENTORD_CONFIG_H
#define EMENTORD_CONFIG_H

#include <stddef.h>

#define CONFIG_MAX_ORIGINS   16
#define CONFIG_MAX_REMINDERS 4
#define CONFIG_FILE_MAX      (1024 * 1024) /* a config file is a few KiB */

struct config {
	char listen[64]; /* interface address; empty = all */
	int port;
	char cert[512];
	char key[512];
	char db[1024]; /* libpq conninfo */
	char schema_dir[512];
	int db_workers;
	int db_queue; /* max queued jobs before `busy` */
	char origins[CONFIG_MAX_ORIGINS][256];
	int n_origins;
	int auth_timeout_s;
	int session_ttl_days;
	int invite_ttl_days; /* default expiry of operator invites */
	int no_migrate;
	int max_inflight;  /* requests in flight per connection */
	int out_queue_kib; /* queued output per connection before the slow consumer is closed */
	int preauth_memory_mib; /* memory held for connections not logged in, all together */
	int rotate_messages;    /* messages per key epoch */
	int rotate_days;        /* days per key epoch */
	int batch_max;          /* messages per group commit */
	int batch_wait_us;      /* how long a short batch waits to fill */
	char public_url[256];   /* base URL for calendar feed links; "" = https://localhost:PORT */
	char reminders[64];     /* minutes before a meeting, comma-separated */
	int remind_minutes[CONFIG_MAX_REMINDERS];
	int n_remind;
	int scheduler_interval_s;   /* how often due reminders are looked for */
	int drain_timeout_s;        /* SIGTERM: longest wait for in-flight work before exit */
	int clock_offset_s;         /* tests and drills: shifts the checkpoint clock */
	char privacy_notice[512];   /* file of the privacy notice; "" = built-in */
	char web_dir[512];          /* the web app's files (webapp.c), read at start-up */
	char ledger_head[128];      /* verify-ledger: SEQ:HASH recorded earlier; "" = none */
	char metrics[8];            /* who may GET /metrics: off, local (loopback peers) or any */
	char smtp_url[512];         /* "" = e-mail off */
	char smtp_starttls[16];     /* smtp://: required or optional */
	char smtp_credentials[512]; /* file: username line, password line */
	char smtp_ca[512];          /* CA bundle for the relay's certificate; "" = the system's */
	char mail_from[256];        /* "" = noreply@ the public URL's host */
	int mail_digest_s;          /* unread digest interval; 0 = no digests */
	int mail_retry_base_s;      /* first retry delay, doubled per failure */
	int mail_retry_max;         /* attempts before a row fails */
	int mail_claim_timeout_s;   /* a 'sending' row of a dead node is claimed again after this */
	char log_level[16];
	char log_format[8];  /* text or json */
	char role[16];       /* `invite` subcommand */
	long long programme; /* `invite` subcommand */
};

void config_defaults(struct config *cfg);
/*
 * Applies one option by its long name. Returns 0, or -1 with a message in err
 * (size errlen) if the name is unknown or the value invalid.
 */
int config_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen);
/*
 * Applies a config file's text: "name = value" lines (the value may be in
 * double quotes), a switch's name alone, blank lines and # comments, of any
 * length. `source` names the text in messages ("FILE:LINE: ..."). Stops at the
 * first bad line. Returns 0, or -1 with a message in err. Pure: no I/O.
 */
int config_parse(struct config *cfg, const char *text, size_t len, const char *source, char *err,
                 size_t errlen);
/* Reads a file of at most CONFIG_FILE_MAX bytes and config_parse()s it. */
int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen);
int config_load_env(struct config *cfg, char *err, size_t errlen);
/* Non-zero if the option takes no value (a switch such as --no-migrate). */
int config_is_switch(const char *name);
void config_print_help(const char *argv0);

#endif
