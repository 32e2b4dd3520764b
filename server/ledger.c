/*
 * ledger.c - the consent ledger and the privacy notice.
 *
 * DESIGN. Every consent record is signed by its user over fixed-layout bytes
 * (em_consent_bytes) and chained: entry_hash = BLAKE2b-256("ementor ledger
 * v1\0" || prev_hash || seq || user_id || consent bytes || signature ||
 * recorded_us). Appends take a transaction-scoped advisory lock, so seqs are
 * gapless and each entry names its predecessor; a trigger refuses UPDATE,
 * DELETE and TRUNCATE. Someone with the database owner's rights can still
 * disable the trigger and edit, delete or re-order rows: verify-ledger finds
 * that (a changed row breaks its hash or signature, a deleted one a seq or a
 * link). Cutting off the newest rows keeps the chain valid, so verify-ledger
 * prints the head (seq and hash) for operators to record elsewhere, and checks
 * a head recorded earlier (--ledger-head SEQ:HASH) is still in the chain.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sodium.h>

#include "ledger.h"
#include "log.h"
#include "store.h"

#define LEDGER_LOCK  0x656d6c6564676572LL /* "emledger" */
#define CLOCK_SKEW_S 600
#define NOTICE_MAX   (256 * 1024)

static const char default_notice[] =
    "ementor privacy notice\n"
    "\n"
    "Your mentoring programme runs this ementor server. It keeps, for as long as your account\n"
    "exists: your username, display name and role; your public keys and a copy of your private\n"
    "keys locked with your password (the server cannot open it); the programmes and rooms you\n"
    "belong to; when you log in; the date, time, place and attendance of your checkpoint\n"
    "meetings; your signed agreements and consents. Messages are end-to-end encrypted: the\n"
    "server stores them but cannot read them, and neither can the programme manager, who sees\n"
    "only activity figures (who wrote when, how much, how fast people answer).\n"
    "\n"
    "You can export everything held about you (ementor export), withdraw a consent at any time\n"
    "(ementor consent withdraw), and have your account erased by withdrawing this consent.\n"
    "Messages and keys of a programme are deleted a set number of days after it ends.\n";

static const char default_notice_pl[] =
    "Informacja o prywatności ementor\n"
    "\n"
    "Ten serwer ementor prowadzi Twój program mentoringowy. Dopóki istnieje Twoje konto, "
    "przechowuje:\n"
    "Twoją nazwę użytkownika, nazwę wyświetlaną i rolę; Twoje klucze publiczne i kopię Twoich\n"
    "kluczy prywatnych zamkniętą Twoim hasłem (serwer nie może jej otworzyć); programy i pokoje,\n"
    "do których należysz; kiedy się logujesz; datę, godzinę, miejsce i obecność na spotkaniach;\n"
    "podpisane umowy i zgody. Wiadomości są szyfrowane end-to-end: serwer je przechowuje, ale\n"
    "nie może ich przeczytać, podobnie jak koordynator programu, który widzi tylko liczby\n"
    "(kto pisał kiedy, ile i jak szybko ludzie odpowiadają).\n"
    "\n"
    "Możesz pobrać wszystko, co jest o Tobie przechowywane (ementor export), wycofać zgodę w\n"
    "dowolnej chwili (ementor consent withdraw) i usunąć konto, wycofując tę zgodę.\n"
    "Wiadomości i klucze programu są usuwane określoną liczbę dni po jego zakończeniu.\n";

static const char share_text[] =
    "I agree that the programme manager may see figures about the progress of my goals in this "
    "programme (never their content).";

/* The notice per language: [0] English, [1] Polish (NULL text: the English one serves). */
static const char *const notice_langs[2] = {"en", "pl"};
static struct notice_text {
	char *text;
	char version[40];
	unsigned char hash[EM_HASH_BYTES];
} notices[2];
static unsigned char share_hash[EM_HASH_BYTES];

/* Takes text (who frees: the table); its hash and its version, "notice-" + 12 hex of the hash. */
static void notice_set(struct notice_text *n, char *text)
{
	char hex[6 * 2 + 1];

	free(n->text);
	n->text = text;
	if (!text)
		return;
	em_text_hash(text, n->hash);
	sodium_bin2hex(hex, sizeof(hex), n->hash, 6);
	snprintf(n->version, sizeof(n->version), "notice-%s", hex);
}

static const struct notice_text *notice_for(const char *lang)
{
	return lang && !strcmp(lang, "pl") && notices[1].text ? &notices[1] : &notices[0];
}

int ledger_notice_load(const char *path)
{
	char *text = NULL, *text_pl = NULL;

	if (path && *path) {
		FILE *f = fopen(path, "rb");
		size_t n;

		if (!f) {
			fprintf(stderr, "ementord: --privacy-notice %s: cannot open\n", path);
			return -1;
		}
		text = calloc(1, NOTICE_MAX + 1);
		n = text ? fread(text, 1, NOTICE_MAX + 1, f) : 0;
		fclose(f);
		if (!text || n == 0 || n > NOTICE_MAX || memchr(text, 0, n)) {
			fprintf(stderr,
			        "ementord: --privacy-notice %s: empty, over 256 KiB or binary\n",
			        path);
			free(text);
			return -1;
		}
	} else if (!(text = strdup(default_notice)) || !(text_pl = strdup(default_notice_pl))) {
		free(text);
		return -1;
	}
	/* an operator's own notice is the one text: no built-in translation of another text */
	notice_set(&notices[0], text);
	notice_set(&notices[1], text_pl);
	em_text_hash(share_text, share_hash);
	return 0;
}

const char *ledger_notice_version(const char *lang)
{
	return notice_for(lang)->version;
}

const char *ledger_notice_text(const char *lang)
{
	return notice_for(lang)->text;
}

const unsigned char *ledger_notice_hash(const char *lang)
{
	return notice_for(lang)->hash;
}

const char *ledger_notice_lang_of(const char *version)
{
	for (int i = 0; i < 2; i++)
		if (notices[i].text && version && !strcmp(notices[i].version, version))
			return notice_langs[i];
	return NULL;
}

const char *ledger_share_text(void)
{
	return share_text;
}

const unsigned char *ledger_share_hash(void)
{
	return share_hash;
}

int ledger_check(const struct consent *k, int64_t now_s)
{
	if (k->at < now_s - CLOCK_SKEW_S || k->at > now_s + CLOCK_SKEW_S)
		return EM_ERR_BAD_VALUE;
	if (em_consent_verify(k->sign_pk, k->purpose, k->subject, k->text_hash, k->action, k->at,
	                      k->sig))
		return EM_ERR_BAD_SIGNATURE;
	return EM_OK;
}

/* entry_hash of a record (em_ledger_entry_hash); 0, or -1 if a string is too long. */
static int entry_hash(const unsigned char prev[EM_HASH_BYTES], int64_t seq, const struct consent *k,
                      int64_t recorded_us, unsigned char out[32])
{
	unsigned char bytes[EM_CONSENT_BYTES_MAX];
	size_t n = em_consent_bytes(k->sign_pk, k->purpose, k->subject, k->text_hash, k->action,
	                            k->at, bytes);

	if (!n)
		return -1;
	em_ledger_entry_hash(prev, (uint64_t)seq, (uint64_t)k->user_id, bytes, n, k->sig,
	                     (uint64_t)recorded_us, out);
	return 0;
}

static const struct stmt st_lock = {"ledger_lock", "SELECT pg_advisory_xact_lock($1)"};
static const struct stmt st_head = {
    "ledger_head", "SELECT seq, entry_hash FROM consent_ledger ORDER BY seq DESC LIMIT 1"};
static const struct stmt st_insert = {
    "ledger_insert",
    "INSERT INTO consent_ledger (seq, user_id, sign_pk, purpose, subject, text_hash, action, at, "
    "signature, recorded_us, prev_hash, entry_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
    "$10, $11, $12) RETURNING consent_entry_doc(consent_ledger.*)::text"};

int ledger_append(struct db_conn *c, const struct consent *k, json_t **entry)
{
	unsigned char prev[EM_HASH_BYTES] = {0}, hash[EM_HASH_BYTES];
	struct params p = {0};
	struct timeval tv;
	int64_t seq = 1, recorded_us;
	PGresult *r;
	int err;

	params_int(&p, LEDGER_LOCK);
	if (!(r = store_exec(c, &st_lock, &p, &err, NULL)))
		return err;
	PQclear(r);
	memset(&p, 0, sizeof(p));
	if (!(r = store_exec(c, &st_head, &p, &err, NULL)))
		return err;
	if (PQntuples(r) == 1) {
		seq = store_int(r, 0, 0) + 1;
		if (store_bytea(r, 0, 1, prev, sizeof(prev)) != EM_HASH_BYTES) {
			PQclear(r);
			return EM_ERR_INTERNAL;
		}
	}
	PQclear(r);
	gettimeofday(&tv, NULL);
	recorded_us = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
	if (entry_hash(prev, seq, k, recorded_us, hash))
		return EM_ERR_BAD_VALUE;
	params_int(&p, seq);
	params_int(&p, k->user_id);
	params_bin(&p, k->sign_pk, EM_SIGN_PK_BYTES);
	params_text(&p, k->purpose);
	params_text(&p, k->subject);
	params_bin(&p, k->text_hash, EM_HASH_BYTES);
	params_text(&p, k->action);
	params_int(&p, k->at);
	params_bin(&p, k->sig, EM_SIG_BYTES);
	params_int(&p, recorded_us);
	params_bin(&p, prev, EM_HASH_BYTES);
	params_bin(&p, hash, EM_HASH_BYTES);
	if (!(r = store_exec(c, &st_insert, &p, &err, NULL)))
		return err;
	*entry = json_loads(store_str(r, 0, 0), 0, NULL);
	PQclear(r);
	return *entry ? EM_OK : EM_ERR_NOMEM;
}

/* "SEQ:HEX64" into seq and hash; -1 if malformed. */
static int parse_head(const char *text, int64_t *seq, unsigned char hash[EM_HASH_BYTES])
{
	char *end;
	size_t len;
	long long v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno || v < 1 || *end != ':')
		return -1;
	end++;
	if (strlen(end) != EM_HASH_BYTES * 2 ||
	    sodium_hex2bin(hash, EM_HASH_BYTES, end, EM_HASH_BYTES * 2, NULL, &len, NULL) ||
	    len != EM_HASH_BYTES)
		return -1;
	*seq = v;
	return 0;
}

int ledger_verify(PGconn *pg, const char *head)
{
	unsigned char want_hash[EM_HASH_BYTES], seen_hash[EM_HASH_BYTES];
	int64_t want_seq = 0;

	if (head && *head && parse_head(head, &want_seq, want_hash)) {
		fprintf(stderr,
		        "ementord verify-ledger: --ledger-head '%s' is not SEQ:HASH (a number, a "
		        "colon and 64 hex digits, as a previous run printed them)\n",
		        head);
		return 2;
	}

	PGresult *r;

	r = PQexec(pg, "SELECT seq, user_id, sign_pk, purpose, subject, text_hash, "
	               "action, at, signature, recorded_us, prev_hash, entry_hash "
	               "FROM consent_ledger ORDER BY seq");
	unsigned char prev[EM_HASH_BYTES] = {0}, hash[EM_HASH_BYTES], have_prev[EM_HASH_BYTES],
	              have_hash[EM_HASH_BYTES];
	char hex[EM_HASH_BYTES * 2 + 1];
	int n, bad = 0;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "ementord verify-ledger: %s", PQerrorMessage(pg));
		PQclear(r);
		return 2;
	}
	n = PQntuples(r);
	for (int i = 0; i < n && !bad; i++) {
		struct consent k = {0};
		int64_t seq = store_int(r, i, 0);

		k.user_id = store_int(r, i, 1);
		k.purpose = store_str(r, i, 3);
		k.subject = store_str(r, i, 4);
		k.action = store_str(r, i, 6);
		k.at = store_int(r, i, 7);
		if (seq != i + 1) {
			printf("ledger: entry %" PRId64 " found where %d was expected: entries are "
			       "missing\n",
			       seq, i + 1);
			bad = 1;
		} else if (store_bytea(r, i, 2, k.sign_pk, 32) != 32 ||
		           store_bytea(r, i, 5, k.text_hash, 32) != 32 ||
		           store_bytea(r, i, 8, k.sig, 64) != 64 ||
		           store_bytea(r, i, 10, have_prev, 32) != 32 ||
		           store_bytea(r, i, 11, have_hash, 32) != 32) {
			printf("ledger: entry %" PRId64 " has a malformed key, hash or signature\n",
			       seq);
			bad = 1;
		} else if (sodium_memcmp(have_prev, prev, 32)) {
			printf("ledger: entry %" PRId64 " does not link to entry %" PRId64
			       " (an entry was changed, removed or re-ordered)\n",
			       seq, seq - 1);
			bad = 1;
		} else if (entry_hash(prev, seq, &k, store_int(r, i, 9), hash) ||
		           sodium_memcmp(hash, have_hash, 32)) {
			printf("ledger: entry %" PRId64
			       " was changed after it was recorded (its hash "
			       "does not match)\n",
			       seq);
			bad = 1;
		} else if (em_consent_verify(k.sign_pk, k.purpose, k.subject, k.text_hash, k.action,
		                             k.at, k.sig)) {
			printf("ledger: entry %" PRId64 " has a signature that does not verify\n",
			       seq);
			bad = 1;
		} else {
			memcpy(prev, hash, 32);
			if (seq == want_seq)
				memcpy(seen_hash, hash, 32);
		}
	}
	PQclear(r);
	if (!bad && want_seq > n) {
		printf("ledger: entry %" PRId64
		       " of the recorded head is gone: the chain ends at %d "
		       "(the newest entries were removed)\n",
		       want_seq, n);
		bad = 1;
	} else if (!bad && want_seq && sodium_memcmp(seen_hash, want_hash, 32)) {
		printf("ledger: entry %" PRId64
		       " is not the recorded head (the ledger was rewritten "
		       "from there on)\n",
		       want_seq);
		bad = 1;
	}
	if (bad) {
		printf("ledger: NOT intact\n");
		return 1;
	}
	sodium_bin2hex(hex, sizeof(hex), prev, 32);
	printf("ledger: %d entries, intact; head %d:%s\n", n, n, hex);
	if (want_seq)
		printf("ledger: the recorded head %" PRId64 " is in the chain\n", want_seq);
	printf("(record the head elsewhere and give it to the next run as --ledger-head: "
	       "removing the newest entries cannot be seen otherwise)\n");
	return 0;
}
