/*
 * main.c - ementord's entry point: reads the configuration, then runs one of
 * the subcommands: `serve` (migrate, first-run invite, TLS context, DB
 * workers, the lws service loop), `migrate`, or `invite`. Everything that may
 * block (connecting, migrating) happens here before the service loop starts.
 */
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "announce.h"
#include "catchup.h"
#include "cluster.h"
#include "db.h"
#include "dispatch.h"
#include "em_crypto.h"
#include "em_proto.h"
#include "handlers.h"
#include "log.h"
#include "ledger.h"
#include "loop.h"
#include "migrate.h"
#include "remote.h"
#include "mailer.h"
#include "scheduler.h"
#include "server.h"
#include "session.h"
#include "store.h"
#include "webapp.h"
#include "ws.h"

#define STARTUP_DB_WAIT_S 30

/*
 * TLS 1.2 suites: ECDHE key exchange (forward secrecy) with an AEAD cipher,
 * for ECDSA and RSA certificates; no RSA key exchange, no finite-field DHE,
 * no CBC. TLS 1.3 keeps OpenSSL's defaults (all ECDHE/AEAD already).
 */
#define TLS12_CIPHERS                                                                              \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

#define H2_STREAMS_MAX 8 /* HTTP/2 requests at once on one connection */

static volatile sig_atomic_t interrupted, reload_requested;
static int saved_argc;
static char **saved_argv;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else
		interrupted = 1;
	if (server.context)
		lws_cancel_service(server.context);
}

static void print_web_version(int argc, char **argv);

/*
 * Parses defaults, the config file, the environment and argv (later wins) into
 * cfg; returns the subcommand, or NULL after printing an error. SIGHUP runs it
 * again on the saved argv.
 */
static const char *parse_args(struct config *cfg, int argc, char **argv, int *exit_code)
{
	const char *cmd = "serve", *config_file = getenv("EMENTOR_CONFIG");
	char err[512];
	int i;

	*exit_code = 2;
	config_defaults(cfg);
	/* first pass: --config, --help, --version and the subcommand */
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			config_print_help(argv[0]);
			*exit_code = 0;
			return NULL;
		}
		if (!strcmp(argv[i], "--version")) {
			printf("ementord %s (libwebsockets %s, %s)\n", EM_VERSION,
			       lws_get_library_version(), OpenSSL_version(OPENSSL_VERSION));
			print_web_version(argc, argv);
			*exit_code = 0;
			return NULL;
		}
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config_file = argv[++i];
		else if (!strncmp(argv[i], "--config=", 9))
			config_file = argv[i] + 9;
		else if (i == 1 && argv[i][0] != '-')
			cmd = argv[i];
	}
	if (strcmp(cmd, "serve") && strcmp(cmd, "migrate") && strcmp(cmd, "invite") &&
	    strcmp(cmd, "verify-ledger") && strcmp(cmd, "purge-expired")) {
		fprintf(stderr,
		        "ementord: unknown command \"%s\" (serve, migrate, invite, verify-ledger, "
		        "purge-expired; see --help)\n",
		        cmd);
		return NULL;
	}
	if (config_file && *config_file && config_load_file(cfg, config_file, err, sizeof(err))) {
		fprintf(stderr, "ementord: %s\n", err);
		return NULL;
	}
	if (config_load_env(cfg, err, sizeof(err))) {
		fprintf(stderr, "ementord: %s\n", err);
		return NULL;
	}
	for (i = (argc > 1 && argv[1][0] != '-') ? 2 : 1; i < argc; i++) {
		char name[64];
		const char *value = NULL, *arg = argv[i], *eq;

		if (strncmp(arg, "--", 2)) {
			fprintf(stderr, "ementord: unexpected argument \"%s\" (see --help)\n", arg);
			return NULL;
		}
		arg += 2;
		eq = strchr(arg, '=');
		snprintf(name, sizeof(name), "%.*s", (int)(eq ? (size_t)(eq - arg) : strlen(arg)),
		         arg);
		if (!strcmp(name, "config")) {
			if (!eq)
				i++;
			continue;
		}
		if (eq)
			value = eq + 1;
		else if (!config_is_switch(name)) {
			if (i + 1 >= argc) {
				fprintf(stderr, "ementord: --%s needs a value\n", name);
				return NULL;
			}
			value = argv[++i];
		}
		if (config_set(cfg, name, value, err, sizeof(err))) {
			fprintf(stderr, "ementord: %s\n", err);
			return NULL;
		}
	}
	*exit_code = 0;
	return cmd;
}

static int cmd_migrate(void)
{
	PGconn *pg = store_connect_blocking(server.cfg.db, STARTUP_DB_WAIT_S);
	int n;

	if (!pg)
		return 1;
	n = migrate_run(pg, server.cfg.schema_dir);
	PQfinish(pg);
	if (n < 0)
		return 1;
	log_info("migrate done applied=%d", n);
	return 0;
}

/* verify-ledger and purge-expired: one connection, migrations applied first. */
static int cmd_ledger(const char *cmd)
{
	PGconn *pg = store_connect_blocking(server.cfg.db, STARTUP_DB_WAIT_S);
	int rc;

	if (!pg)
		return 2;
	if (!server.cfg.no_migrate && migrate_run(pg, server.cfg.schema_dir) < 0) {
		PQfinish(pg);
		return 2;
	}
	/* dates and weeks in UTC, as the workers' connections have them */
	PQclear(PQexec(pg, "SET TIME ZONE 'UTC'"));
	rc = !strcmp(cmd, "verify-ledger") ? ledger_verify(pg, server.cfg.ledger_head)
	                                   : retention_purge_now(pg);
	PQfinish(pg);
	return rc;
}

static int cmd_invite(void)
{
	PGconn *pg = NULL;
	char code[32], expires[40];
	int rc = 1;

	if (!server.cfg.role[0]) {
		fprintf(stderr, "ementord invite: --role manager|mentor|mentee is required\n");
		return 2;
	}
	if (strcmp(server.cfg.role, "manager") && !server.cfg.programme) {
		fprintf(stderr, "ementord invite: a %s invite needs --programme ID\n",
		        server.cfg.role);
		return 2;
	}
	pg = store_connect_blocking(server.cfg.db, 5);
	if (!pg)
		return 1;
	if (!server.cfg.no_migrate && migrate_run(pg, server.cfg.schema_dir) < 0)
		goto out;
	if (server.cfg.programme) {
		char id[24];
		const char *values[1] = {id};
		PGresult *r;
		int found;

		snprintf(id, sizeof(id), "%lld", server.cfg.programme);
		r = PQexecParams(pg, "SELECT 1 FROM programmes WHERE id = $1", 1, NULL, values,
		                 NULL, NULL, 0);
		found = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
		PQclear(r);
		if (!found) {
			fprintf(stderr, "ementord invite: no programme with id %lld\n",
			        server.cfg.programme);
			goto out;
		}
	}
	if (store_create_invite(pg, server.cfg.role, server.cfg.programme, 0,
	                        server.cfg.invite_ttl_days, 0, code, expires))
		goto out;
	printf("%s\n", code);
	fprintf(stderr, "ementord: one-time %s invite, valid until %s\n", server.cfg.role, expires);
	rc = 0;
out:
	PQfinish(pg);
	return rc;
}

/* Main thread, before serving: migrations, secrets, first-run invite. */
static int prepare_database(void)
{
	PGconn *pg = store_connect_blocking(server.cfg.db, STARTUP_DB_WAIT_S);
	int rc = -1, empty;

	if (!pg)
		return -1;
	if (!server.cfg.no_migrate && migrate_run(pg, server.cfg.schema_dir) < 0)
		goto out;
	if (store_load_server_secret(pg, server.prelogin_secret)) {
		log_error("db cannot load the server secret (are migrations applied?)");
		goto out;
	}
	empty = store_is_empty(pg);
	if (empty == 1) {
		char code[32], expires[40];
		PGresult *r =
		    PQexec(pg, "UPDATE invites SET expires_at = now() "
		               "WHERE first_run AND used_at IS NULL AND expires_at > now()");

		PQclear(r);
		if (store_create_invite(pg, "manager", 0, 0, server.cfg.invite_ttl_days, 1, code,
		                        expires))
			goto out;
		printf(
		    "\n  First run: no accounts yet. Register the first programme manager with\n\n"
		    "    ementor register --invite %s --username YOUR_NAME\n\n"
		    "  This one-time code is valid until %s. A new one is printed at each\n"
		    "  start until someone registers; `ementord invite --role manager` makes\n"
		    "  more.\n\n",
		    code, expires);
		fflush(stdout);
	}
	rc = 0;
out:
	PQfinish(pg);
	return rc;
}

/*
 * SIGTERM/SIGINT: stop taking new connections and requests (new requests get
 * the retryable `busy`), let every request in flight finish and be answered,
 * close each connection with 1001 ("going away": reconnect) once it has
 * nothing in flight, and return when all are closed and the DB queue is
 * empty, or after --drain-timeout seconds. Workers then finish what is queued
 * (db_stop), so an acknowledged message is always committed, and a request
 * that was never answered is simply sent again by the client.
 */
static void drain_close_idle(struct session *s, void *arg)
{
	(void)arg;
	if (!s->inflight && em_list_empty(&s->held))
		session_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "server restarting; reconnect");
}

static void drain(void)
{
	int64_t deadline = server_now_ms() + server.cfg.drain_timeout_s * 1000LL;

	server.draining = 1;
	log_info("draining connections=%d timeout_s=%d", session_count(),
	         server.cfg.drain_timeout_s);
	session_foreach(drain_close_idle, NULL);
	while (server_now_ms() < deadline && (session_count() > 0 || db_queue_depth() > 0)) {
		/* a turn ends at least every second (the ws tick); completions
		 * close their sessions in dispatch_completions() */
		if (loop_run_once(server.context) < 0)
			break;
		session_foreach(drain_close_idle, NULL);
	}
	if (session_count() > 0)
		log_warn("drain timeout: closing connections=%d with work in flight",
		         session_count());
	else
		log_info("drained");
}

/* Reads a whole small file (a PEM) into a malloc'd buffer; NULL on failure. */
static char *read_small_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < 1024 * 1024 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
	    fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = 0;
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/*
 * SIGHUP: reads the configuration again (file, environment, the original
 * command line) and applies what can change under open connections — the
 * log level, allowed origins, /metrics access, drain and auth timeouts, the
 * per-connection limits — and loads the certificate and key again from their
 * paths into the running TLS context. Connections stay open. Options that
 * only the start uses (port, database, workers, ...) are reported as needing a
 * restart. A configuration that does not parse changes nothing. Service
 * thread; the two PEM reads are the only file I/O, once per SIGHUP.
 */
static void reload(void)
{
	struct config *n = malloc(sizeof(*n));
	enum log_level level;
	size_t cert_len = 0, key_len = 0;
	char *cert = NULL, *key = NULL;
	int ec, restart = 0;

	if (!n || !parse_args(n, saved_argc, saved_argv, &ec)) {
		log_error(
		    "reload refused: the configuration has an error (above); nothing changed");
		free(n);
		return;
	}
#define RESTART_ONLY(field)                                                                        \
	if (memcmp(&n->field, &server.cfg.field, sizeof(n->field))) {                              \
		log_warn("reload: %s changed; it takes effect at the next restart", #field);       \
		restart = 1;                                                                       \
	}
	RESTART_ONLY(listen)
	RESTART_ONLY(port)
	RESTART_ONLY(cert)
	RESTART_ONLY(key)
	RESTART_ONLY(db)
	RESTART_ONLY(schema_dir)
	RESTART_ONLY(db_workers)
	RESTART_ONLY(db_queue)
	RESTART_ONLY(session_ttl_days)
	RESTART_ONLY(rotate_messages)
	RESTART_ONLY(rotate_days)
	RESTART_ONLY(batch_max)
	RESTART_ONLY(batch_wait_us)
	RESTART_ONLY(public_url)
	RESTART_ONLY(privacy_notice)
	RESTART_ONLY(web_dir)
	RESTART_ONLY(remind_minutes)
	RESTART_ONLY(scheduler_interval_s)
	RESTART_ONLY(smtp_url)
	RESTART_ONLY(smtp_starttls)
	RESTART_ONLY(smtp_credentials)
	RESTART_ONLY(smtp_ca)
	RESTART_ONLY(mail_from)
	RESTART_ONLY(mail_digest_s)
	RESTART_ONLY(mail_retry_base_s)
	RESTART_ONLY(mail_retry_max)
	RESTART_ONLY(mail_claim_timeout_s)
#undef RESTART_ONLY
	/* read only on the service thread: safe to change here */
	memcpy(server.cfg.origins, n->origins, sizeof(n->origins));
	server.cfg.n_origins = n->n_origins;
	memcpy(server.cfg.metrics, n->metrics, sizeof(n->metrics));
	server.cfg.drain_timeout_s = n->drain_timeout_s;
	server.cfg.auth_timeout_s = n->auth_timeout_s;
	server.cfg.max_inflight = n->max_inflight;
	server.cfg.out_queue_kib = n->out_queue_kib;
	server.cfg.preauth_memory_mib = n->preauth_memory_mib;
	server.cfg.clock_offset_s = n->clock_offset_s;
	server_set_clock_offset(n->clock_offset_s); /* read by DB threads: atomic */
	memcpy(server.cfg.log_level, n->log_level, sizeof(n->log_level));
	memcpy(server.cfg.log_format, n->log_format, sizeof(n->log_format));
	log_set_json(!strcmp(server.cfg.log_format, "json"));
	if (!log_level_parse(server.cfg.log_level, &level))
		log_set_level(level);
	free(n);

	/* the certificate: same paths, new contents */
	cert = read_small_file(server.cfg.cert, &cert_len);
	key = read_small_file(server.cfg.key, &key_len);
	if (!cert || !key)
		log_error("reload: cannot read the certificate or key; TLS unchanged");
	else if (lws_tls_cert_updated(server.context, server.cfg.cert, server.cfg.key, cert,
	                              cert_len, key, key_len))
		log_error("reload: the new certificate or key was refused; TLS unchanged");
	else
		log_info("reload certificate=%s", server.cfg.cert);
	if (key)
		sodium_memzero(key, key_len);
	free(cert);
	free(key);
	log_info("reloaded origins=%d metrics=%s log_level=%s restart_needed=%d",
	         server.cfg.n_origins, server.cfg.metrics, server.cfg.log_level, restart);
}

/* The catch-up sweep runs while other nodes are heard (catchup.c). */
static void catchup_tick(void)
{
	if (cluster_peers_alive())
		catchup_sweep();
}

/*
 * Everything periodic (scheduler.h), on the service thread. The first turn
 * is a second after start; then every --scheduler-interval seconds, but the
 * audit's rollups, which follow the messages a little at a time.
 */
static struct sched_entry schedule[] = {
    {.name = "reminders", .first_ms = 1000, .run = reminders_run},
    {.name = "retention", .first_ms = 1000, .run = retention_run},
    {.name = "diary reminders", .first_ms = 1000, .run = diary_missing_run},
    {.name = "session sweep",
     .first_ms = 1000,
     .args = session_sweep_args,
     .run = session_sweep_run,
     .finished = session_sweep_finished},
    {.name = "cluster heartbeat", .first_ms = 1000, .tick = cluster_tick},
    {.name = "catch-up sweep", .first_ms = 1000, .tick = catchup_tick},
    {.name = "audit rollup",
     .first_ms = AUDIT_ROLLUP_EVERY_S * 1000,
     .every_ms = AUDIT_ROLLUP_EVERY_S * 1000,
     .run = audit_rollup_run},
    {.name = "mail digest", .first_ms = 1000, .args = mail_digest_args, .run = mail_digest_run},
};

static void schedule_start(void)
{
	int n = (int)(sizeof(schedule) / sizeof(schedule[0]));

	for (int i = 0; i < n; i++) {
		if (schedule[i].run == mail_digest_run && server.cfg.mail_digest_s > 0)
			schedule[i].every_ms = (int64_t)server.cfg.mail_digest_s * 1000;
		if (!schedule[i].every_ms) /* --scheduler-interval */
			schedule[i].every_ms = (int64_t)server.cfg.scheduler_interval_s * 1000;
	}
	scheduler_start(server.context, schedule, n);
}

/*
 * One descriptor per connection: the soft limit on open files (often 1,024)
 * is raised to the hard one, so a node holds as many idle connections as the
 * system lets it (bench/idle.sh). lws sizes its fd table from the limit.
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		log_warn("cannot raise the open-file limit to %llu",
		         (unsigned long long)rl.rlim_max);
}

/* Main thread, before the service thread: the web app into memory, or a warning. */
static void web_load(void)
{
	char err[600];

	if (webapp_load(server.cfg.web_dir, err, sizeof(err)))
		log_warn("web app not served (/ and /app/ answer 404): %s", err);
	else
		log_info("web app dir=%s files=%zu web_sha256=%s", server.cfg.web_dir,
		         webapp_count(), webapp_digest());
}

/*
 * --version's second line: the digest of the web app this server would serve
 * (the directory from --web-dir / EMENTOR_WEB_DIR on the command line or in
 * the environment, else the default), for comparing with what the app shows.
 */
static void print_web_version(int argc, char **argv)
{
	struct config cfg;
	char err[600];

	config_defaults(&cfg);
	if (getenv("EMENTOR_WEB_DIR"))
		snprintf(cfg.web_dir, sizeof(cfg.web_dir), "%s", getenv("EMENTOR_WEB_DIR"));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--web-dir") && i + 1 < argc)
			snprintf(cfg.web_dir, sizeof(cfg.web_dir), "%s", argv[++i]);
		else if (!strncmp(argv[i], "--web-dir=", 10))
			snprintf(cfg.web_dir, sizeof(cfg.web_dir), "%s", argv[i] + 10);
	}
	if (em_crypto_init() || webapp_load(cfg.web_dir, err, sizeof(err)))
		printf("web app: none (%s)\n", cfg.web_dir);
	else
		printf("web app: sha256 %s (%zu files in %s)\n", webapp_digest(), webapp_count(),
		       cfg.web_dir);
	webapp_free();
}

static int cmd_serve(void)
{
	struct lws_context_creation_info info;
	int rc = 1;

	if (!server.cfg.cert[0] || !server.cfg.key[0]) {
		fprintf(stderr, "ementord: --cert and --key are required to serve (TLS only)\n");
		return 2;
	}
	if (ledger_notice_load(server.cfg.privacy_notice))
		return 1;
	web_load();
	if (prepare_database())
		return 1;
	raise_fd_limit();

	memset(&info, 0, sizeof(info));
	info.port = server.cfg.port;
	info.iface = server.cfg.listen[0] ? server.cfg.listen : NULL;
	info.protocols = ws_protocols;
	info.vhost_name = "ementor";
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_VALIDATE_UTF8;
	info.ssl_cert_filepath = server.cfg.cert;
	info.ssl_private_key_filepath = server.cfg.key;
	info.ssl_cipher_list = TLS12_CIPHERS;
	info.ssl_options_set = SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 |
	                       SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE;
	/* HTTP/2: lws's own settings, but 8 streams per connection (lws: 24) and the
	 * RFC's 4 KiB header table (lws: 64 KiB, held per connection) */
	info.http2_settings[0] = 1;
	info.http2_settings[H2SET_HEADER_TABLE_SIZE] = 4096;
	info.http2_settings[H2SET_ENABLE_PUSH] = 0;
	info.http2_settings[H2SET_MAX_CONCURRENT_STREAMS] = H2_STREAMS_MAX;
	info.http2_settings[H2SET_INITIAL_WINDOW_SIZE] = 0; /* lws sends WINDOW_UPDATEs itself */
	info.http2_settings[H2SET_MAX_FRAME_SIZE] = 16384;
	info.http2_settings[H2SET_MAX_HEADER_LIST_SIZE] = 4096;
	/*
	 * Dead peers are found by the kernel's TCP keepalive (probes after 60 s
	 * of silence, 10 s apart, the third unanswered closes), not by lws's
	 * retry policy: lws 4.1.6 keeps its timers in one sorted list with a
	 * linear insert and re-arms a connection's validity timer on every
	 * frame, O(n) per frame, which stalled the service thread at 14,000 idle
	 * connections (bench/RESULTS.md B1). Pinging from a once-a-second look
	 * at the sessions was tried and measured too: it costs more than it
	 * saves (the same section).
	 */
	info.ka_time = 60;
	info.ka_probes = 3;
	info.ka_interval = 10;
	info.timeout_secs = 10;

	server.context = loop_context_create(&info);
	if (!server.context) {
		log_error("cannot start: lws context failed (port %d in use, or bad certificate?)",
		          server.cfg.port);
		return 1;
	}
	dispatch_start(server.cfg.batch_max, server.cfg.batch_wait_us);
	db_set_hooks(&(struct db_hooks){.on_job = announce_job, .on_batch = announce_messages});
	if (db_start(server.cfg.db, server.cfg.db_workers, server.cfg.db_queue, server.context)) {
		log_error("cannot start database workers");
		goto out;
	}
	remote_start(server.context);
	if (cluster_start(server.cfg.db, server.context)) {
		log_error("cannot start the cluster listener");
		goto out;
	}
	if (mailer_start(&server.cfg)) {
		log_error("cannot start the e-mail sender");
		goto out;
	}
	schedule_start();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	log_info("listening port=%d version=%s db_workers=%d origins=%d", server.cfg.port,
	         EM_VERSION, server.cfg.db_workers, server.cfg.n_origins);
	/* a wake-up, so that lws arms its timer for the suls scheduled so far */
	lws_cancel_service(server.context);
	while (!interrupted) {
		if (loop_run_once(server.context) < 0)
			break;
		if (reload_requested) {
			reload_requested = 0;
			reload();
		}
	}
	if (interrupted)
		drain();
	log_info("shutting down");
	scheduler_stop();
	rc = 0;
out:
	mailer_stop();
	cluster_stop();
	remote_stop();
	catchup_stop();
	db_stop(); /* first: workers call lws_cancel_service() on the context */
	loop_context_destroy(server.context);
	server.context = NULL;
	webapp_free();
	return rc;
}

int main(int argc, char **argv)
{
	enum log_level level = LOG_INFO;
	const char *cmd;
	int exit_code;

	saved_argc = argc;
	saved_argv = argv;
	cmd = parse_args(&server.cfg, argc, argv, &exit_code);
	if (!cmd)
		return exit_code;
	server_set_clock_offset(server.cfg.clock_offset_s);
	log_level_parse(server.cfg.log_level, &level);
	log_set_level(level);
	log_set_json(!strcmp(server.cfg.log_format, "json"));
	log_hook_lws();
	session_mem_init();
	if (em_crypto_init()) {
		log_error("libsodium failed to initialise");
		return 1;
	}
	if (!strcmp(cmd, "migrate"))
		return cmd_migrate();
	if (!strcmp(cmd, "invite"))
		return cmd_invite();
	if (!strcmp(cmd, "verify-ledger") || !strcmp(cmd, "purge-expired"))
		return cmd_ledger(cmd);
	return cmd_serve();
}
