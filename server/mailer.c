/*
 * mailer.c - the e-mail sender (mailer.h). One thread per node, with its own
 * PostgreSQL connection and one libcurl handle (which keeps the connection
 * to the relay between messages), so neither the service thread nor the DB
 * workers ever wait on SMTP.
 *
 * DESIGN. The outbox row is the unit of delivery. A round claims up to
 * MAILER_BATCH due rows in one statement (state 'sending', attempts + 1,
 * claimed_at, its Message-ID fixed at the first claim; SKIP LOCKED, so nodes
 * never share a row), sends them one by one, and records each result at
 * once: 'sent'; or back to 'pending' after mail_backoff_s() (a temporary
 * failure: no connection, a 4xx); or 'failed' (a 5xx refusal, a row that
 * cannot be rendered, or --mail-retry-max attempts). Nothing is lost: a row
 * leaves the outbox only by being sent or failing for good. Exactly once is
 * not possible over SMTP: if the process dies after the relay accepted the
 * message and before 'sent' is committed, the row stays 'sending' and is
 * claimed again after --mail-claim-timeout, and the relay gets it a second
 * time with the same Message-ID (which lets mail systems and people see the
 * repeat for what it is). That window is one message per node, the one in
 * flight; tests/e2e/mail.sh kills the server inside it and counts.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <sodium.h>

#include "cluster.h"
#include "config.h"
#include "log.h"
#include "mail_text.h"
#include "mailer.h"
#include "store.h"

#define MAILER_BATCH        20
#define MAILER_POLL_MS      1000
#define MAILER_BACKOFF_CAP  3600      /* seconds between attempts at most */
#define MAILER_MAX_AGE      "7 days"  /* a row still unsent after this fails */
#define MAILER_KEEP         "30 days" /* sent and failed rows are deleted after this */
#define MAILER_HOUSEKEEP_MS (60 * 1000)

/* Set by mailer_start on the main thread; read-only while the thread runs. */
static struct {
	char url[512], from[256], ca[512], public_url[256], host[256], db[1024];
	char user[256], pass[256];
	int starttls_required, retry_base_s, retry_max, claim_timeout_s;
} mc;

static pthread_t thread;
static int started;
static atomic_int enabled;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static int stopping; /* lock */

static const struct stmt st_claim = {
    "mail_claim",
    "WITH due AS (SELECT id FROM mail_outbox WHERE (state = 'pending' AND next_at <= now()) "
    "OR (state = 'sending' AND claimed_at < now() - make_interval(secs => $2)) "
    "ORDER BY next_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) "
    "UPDATE mail_outbox o SET state = 'sending', claimed_at = now(), claimed_by = $3, "
    "attempts = o.attempts + 1, message_id = COALESCE(o.message_id, '<' || o.id || '.' || "
    "o.msg_token || '@' || $4::text || '>') FROM due WHERE o.id = due.id "
    "RETURNING o.id, o.address, o.kind, o.lang, o.params::text, o.message_id, o.attempts, "
    "(SELECT s.unsub_token FROM mail_settings s WHERE s.user_id = o.user_id), "
    "extract(epoch FROM o.created_at)::bigint"};

/* the code of a verification or an invite is not kept once it went out */
static const struct stmt st_sent = {
    "mail_sent", "UPDATE mail_outbox SET state = 'sent', sent_at = now(), last_error = NULL, "
                 "params = params - 'code' WHERE id = $1 AND state = 'sending' "
                 "AND claimed_by = $2"};

static const struct stmt st_retry = {
    "mail_retry",
    "UPDATE mail_outbox SET state = CASE WHEN $3::boolean OR attempts >= $4 THEN 'failed' "
    "ELSE 'pending' END, next_at = now() + make_interval(secs => $5), last_error = $2, "
    "params = CASE WHEN $3::boolean OR attempts >= $4 THEN params - 'code' ELSE params END "
    "WHERE id = $1 AND state = 'sending' AND claimed_by = $6"};

/*
 * Right before each send: the row is still ours (not claimed again by
 * another node after a long batch, not deleted by an erasure), and its claim
 * starts again from now. No row, no send.
 */
static const struct stmt st_touch = {
    "mail_touch", "UPDATE mail_outbox SET claimed_at = now() WHERE id = $1 AND state = "
                  "'sending' AND claimed_by = $2 RETURNING id"};

static const struct stmt st_housekeep = {
    "mail_housekeep",
    "WITH old AS (UPDATE mail_outbox SET state = 'failed', last_error = 'expired', "
    "params = params - 'code' WHERE state = 'pending' AND created_at < now() - "
    "interval '" MAILER_MAX_AGE "' RETURNING id) "
    "DELETE FROM mail_outbox WHERE state IN ('sent', 'failed') AND "
    "COALESCE(sent_at, next_at) < now() - interval '" MAILER_KEEP "' "
    "AND (invite_id IS NULL OR invite_id NOT IN (SELECT id FROM invites "
    "WHERE used_at IS NULL AND revoked_at IS NULL AND expires_at > now()))"};

int mailer_enabled(void)
{
	return atomic_load(&enabled);
}

/* ---- one message over SMTP --------------------------------------------------------- */

struct upload {
	const char *data;
	size_t len, off;
};

static size_t upload_read(char *out, size_t size, size_t nmemb, void *arg)
{
	struct upload *u = arg;
	size_t n = size * nmemb;

	if (n > u->len - u->off)
		n = u->len - u->off;
	memcpy(out, u->data + u->off, n);
	u->off += n;
	return n;
}

/*
 * Sends one message. Returns 0 when the relay accepted it, 1 for a temporary
 * failure, 2 for a permanent one; err gets a short reason (no address).
 * Mailer thread.
 */
static int smtp_send(CURL *h, const char *to, const char *msg, char *err, size_t errlen)
{
	struct curl_slist *rcpt = NULL;
	struct upload u = {msg, strlen(msg), 0};
	char from[300], rcpt_to[300], curl_err[CURL_ERROR_SIZE] = "";
	long code = 0;
	CURLcode rc;
	int result = 1;

	snprintf(from, sizeof(from), "<%s>", mc.from);
	snprintf(rcpt_to, sizeof(rcpt_to), "<%s>", to);
	if (!(rcpt = curl_slist_append(NULL, rcpt_to))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, mc.url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	if (!strncmp(mc.url, "smtp://", 7))
		curl_easy_setopt(h, CURLOPT_USE_SSL,
		                 mc.starttls_required ? (long)CURLUSESSL_ALL
		                                      : (long)CURLUSESSL_TRY);
	if (mc.ca[0])
		curl_easy_setopt(h, CURLOPT_CAINFO, mc.ca);
	if (mc.user[0]) {
		curl_easy_setopt(h, CURLOPT_USERNAME, mc.user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, mc.pass);
	}
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, upload_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &u);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	{
		long conns = 0;

		curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &conns);
		if (conns)
			log_debug("mail new relay connection");
	}
	if (rc == CURLE_OK) {
		result = 0;
		goto out;
	}
	/* a 5xx answer to the message itself is final; auth and connection trouble is not */
	result = code >= 500 && code < 600 && code != 530 && code != 535 &&
	                 rc != CURLE_COULDNT_CONNECT && rc != CURLE_OPERATION_TIMEDOUT
	             ? 2
	             : 1;
	snprintf(err, errlen, "%s (SMTP %ld)%s%.120s", curl_easy_strerror(rc), code,
	         curl_err[0] ? ": " : "", curl_err);
out:
	curl_slist_free_all(rcpt);
	return result;
}

/* ---- a round ------------------------------------------------------------------------ */

static int record(struct db_conn *c, int64_t id, int outcome, int attempts, const char *err)
{
	struct params p = {0};
	int rc;

	params_int(&p, id);
	if (outcome == 0) {
		params_text(&p, cluster_node_id());
		return store_run(c, &st_sent, &p);
	}
	params_text(&p, err);
	params_text(&p, outcome == 2 ? "true" : "false");
	params_int(&p, mc.retry_max);
	params_int(&p, mail_backoff_s(attempts, mc.retry_base_s, MAILER_BACKOFF_CAP));
	params_text(&p, cluster_node_id());
	rc = store_run(c, &st_retry, &p);
	return rc;
}

/* 1 if the row is still ours to send (its claim renewed), 0 if not, -1 on a database error. */
static int still_ours(struct db_conn *c, int64_t id)
{
	struct params p = {0};
	PGresult *r;
	int err, n;

	params_int(&p, id);
	params_text(&p, cluster_node_id());
	if (!(r = store_exec(c, &st_touch, &p, &err, NULL)))
		return -1;
	n = PQntuples(r);
	PQclear(r);
	return n == 1;
}

/* Claims and sends one batch: the rows handled, or -1 on a database error. Mailer thread. */
static int mailer_round(struct db_conn *c, CURL *h)
{
	struct params p = {0};
	PGresult *r;
	int err, n, done = 0;

	params_int(&p, MAILER_BATCH);
	params_int(&p, mc.claim_timeout_s);
	params_text(&p, cluster_node_id());
	params_text(&p, mc.host);
	if (!(r = store_exec(c, &st_claim, &p, &err, NULL)))
		return -1;
	n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		int64_t id = store_int(r, i, 0);
		int attempts = (int)store_int(r, i, 6), outcome;
		json_t *params = json_loads(store_str(r, i, 4), 0, NULL);
		struct mail_in in = {
		    .kind = store_str(r, i, 2),
		    .lang = store_str(r, i, 3),
		    .params = params,
		    .from = mc.from,
		    .to = store_str(r, i, 1),
		    .message_id = store_str(r, i, 5),
		    .public_url = mc.public_url,
		    .unsub_token = store_str(r, i, 7),
		    .date = time(NULL),
		};
		char reason[256] = "", *msg;

		if (!strcmp(in.kind, "verify") || !strcmp(in.kind, "invite") ||
		    !strcmp(in.kind, "reset"))
			in.unsub_token = NULL;
		switch (still_ours(c, id)) {
		case -1:
			json_decref(params);
			PQclear(r);
			return -1;
		case 0:
			json_decref(params);
			continue;
		}
		msg = mail_render(&in);
		if (!msg) {
			outcome = 2;
			snprintf(reason, sizeof(reason), "cannot render this kind or its params");
		} else {
			outcome = smtp_send(h, in.to, msg, reason, sizeof(reason));
			sodium_memzero(msg, strlen(msg));
			free(msg);
		}
		json_decref(params);
		if (outcome == 0)
			log_info("mail sent id=%lld kind=%s attempt=%d", (long long)id, in.kind,
			         attempts);
		else
			log_warn("mail %s id=%lld kind=%s attempt=%d error=\"%s\"",
			         outcome == 2 || attempts >= mc.retry_max ? "failed" : "deferred",
			         (long long)id, in.kind, attempts, reason);
		if (record(c, id, outcome, attempts, reason)) {
			PQclear(r);
			return -1; /* the rest stay 'sending' and are claimed again later */
		}
		done++;
	}
	PQclear(r);
	return done;
}

/* Waits up to ms or until mailer_stop; returns 1 when stopping. */
static int mailer_sleep(int ms)
{
	struct timespec ts;
	int stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&lock);
	if (!stopping)
		pthread_cond_timedwait(&wake, &lock, &ts);
	stop = stopping;
	pthread_mutex_unlock(&lock);
	return stop;
}

/* The mailer thread. */
static void *mailer_main(void *arg)
{
	struct db_conn c = {.index = -1};
	CURL *h = curl_easy_init();
	struct timespec last = {0}, now;
	int n;

	(void)arg;
	if (!h) {
		log_error("mail: libcurl handle failed; e-mail stays in the outbox");
		return NULL;
	}
	for (;;) {
		if (!c.pg && store_connect(&c, mc.db)) {
			if (mailer_sleep(MAILER_POLL_MS))
				break;
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - last.tv_sec) * 1000 >= MAILER_HOUSEKEEP_MS) {
			last = now;
			if (store_run(&c, &st_housekeep, &(struct params){0}))
				log_warn("mail: outbox housekeeping failed");
		}
		n = mailer_round(&c, h);
		if (n < 0) {
			log_warn("mail: database error; reconnecting");
			store_disconnect(&c);
		}
		if (n < MAILER_BATCH && mailer_sleep(MAILER_POLL_MS))
			break;
		pthread_mutex_lock(&lock);
		n = stopping;
		pthread_mutex_unlock(&lock);
		if (n)
			break;
	}
	if (c.pg)
		store_disconnect(&c);
	curl_easy_cleanup(h);
	return NULL;
}

/* ---- start and stop ---------------------------------------------------------------- */

/* First line the username, second the password; trailing newlines dropped. */
static int read_credentials(const char *path)
{
	FILE *f = fopen(path, "r");
	int rc = -1;

	if (!f) {
		log_error("mail: cannot read --smtp-credentials %s", path);
		return -1;
	}
	if (fgets(mc.user, sizeof(mc.user), f) && fgets(mc.pass, sizeof(mc.pass), f)) {
		mc.user[strcspn(mc.user, "\r\n")] = '\0';
		mc.pass[strcspn(mc.pass, "\r\n")] = '\0';
		rc = mc.user[0] ? 0 : -1;
	}
	fclose(f);
	if (rc)
		log_error("mail: --smtp-credentials %s must hold the username on its first line "
		          "and the password on its second",
		          path);
	return rc;
}

int mailer_start(const struct config *cfg)
{
	const char *h;
	size_t n;

	if (!cfg->smtp_url[0]) {
		log_info("mail off: no --smtp-url; nothing is e-mailed");
		return 0;
	}
	memset(&mc, 0, sizeof(mc));
	if (strncmp(cfg->smtp_url, "smtp://", 7) && strncmp(cfg->smtp_url, "smtps://", 8)) {
		log_error("mail: --smtp-url must start with smtp:// or smtps://");
		return -1;
	}
	if (strcmp(cfg->smtp_starttls, "required") && strcmp(cfg->smtp_starttls, "optional")) {
		log_error("mail: --smtp-starttls must be required or optional");
		return -1;
	}
	snprintf(mc.url, sizeof(mc.url), "%s", cfg->smtp_url);
	snprintf(mc.ca, sizeof(mc.ca), "%s", cfg->smtp_ca);
	snprintf(mc.db, sizeof(mc.db), "%s", cfg->db);
	mc.starttls_required = !strcmp(cfg->smtp_starttls, "required");
	mc.retry_base_s = cfg->mail_retry_base_s;
	mc.retry_max = cfg->mail_retry_max;
	mc.claim_timeout_s = cfg->mail_claim_timeout_s;
	if (cfg->public_url[0])
		snprintf(mc.public_url, sizeof(mc.public_url), "%s", cfg->public_url);
	else
		snprintf(mc.public_url, sizeof(mc.public_url), "https://localhost:%d", cfg->port);
	n = strlen(mc.public_url);
	while (n && mc.public_url[n - 1] == '/')
		mc.public_url[--n] = '\0';
	/* the Message-ID's right side: the public URL's host */
	h = strstr(mc.public_url, "://");
	h = h ? h + 3 : mc.public_url;
	snprintf(mc.host, sizeof(mc.host), "%.*s", (int)strcspn(h, ":/[]"), h);
	if (!mc.host[0])
		snprintf(mc.host, sizeof(mc.host), "localhost");
	if (cfg->mail_from[0])
		snprintf(mc.from, sizeof(mc.from), "%s", cfg->mail_from);
	else
		snprintf(mc.from, sizeof(mc.from), "noreply@%.200s", mc.host);
	if (!mail_address_ok(mc.from)) {
		log_error("mail: --mail-from \"%s\" is not an address ementor sends from "
		          "(local@domain.tld)",
		          mc.from);
		return -1;
	}
	if (cfg->smtp_credentials[0] && read_credentials(cfg->smtp_credentials))
		return -1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		log_error("mail: libcurl failed to initialise");
		return -1;
	}
	stopping = 0;
	if (pthread_create(&thread, NULL, mailer_main, NULL)) {
		log_error("mail: cannot start the sender thread");
		curl_global_cleanup();
		return -1;
	}
	started = 1;
	atomic_store(&enabled, 1);
	log_info("mail on from=%s starttls=%s retry_base_s=%d retry_max=%d", mc.from,
	         cfg->smtp_starttls, mc.retry_base_s, mc.retry_max);
	return 0;
}

void mailer_stop(void)
{
	if (!started)
		return;
	pthread_mutex_lock(&lock);
	stopping = 1;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	started = 0;
	atomic_store(&enabled, 0);
	curl_global_cleanup();
	sodium_memzero(mc.pass, sizeof(mc.pass));
}
