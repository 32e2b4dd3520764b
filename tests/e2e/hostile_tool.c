/*
 * hostile_tool.c - what the attacker of tests/e2e/hostile.sh holds besides
 * psql: an operator who owns ementord's database (docs/SECURITY.md "A
 * malicious server") and wants to read a room. It makes key pairs for users
 * it inserts, seals room keys and signs commits and agreement versions with
 * them, opens envelopes sealed to keys it owns, and tries room keys on
 * stored message rows. It uses proto/ only, exactly like a client would
 * (and core/announce.c's documented byte layout for announcements), and is
 * never installed.
 *
 *   keygen SECRET              new keys; SECRET gets sign_sk || box_sk (hex),
 *                              stdout "SIGN_PK BOX_PK" (hex)
 *   roomkey                    a fresh room key (hex)
 *   seal SECRET ROOM EPOCH COMMITTER VERSION IDS KEY RECIPIENT BOX_PK
 *                              an envelope (hex), IDS "1,2,3" ascending
 *   commit-sign SECRET ROOM EPOCH COMMITTER VERSION
 *                              stdin "RECIPIENT SEALED_HEX" lines; the commit
 *                              signature (hex)
 *   agreement-sign SECRET ROOM VERSION STARTS ENDS TERMS_HEX
 *                              stdin "USER ROLE SIGN_PK BOX_PK" lines; the
 *                              party signature (hex)
 *   encrypt SECRET ROOM EPOCH SENDER KEY TEXT
 *                              a message as SENDER would send it (counter 1,
 *                              written now): "CMID CIPHERTEXT SIG" (hex)
 *   open SECRET SEALED_HEX     the room key inside an envelope sealed to
 *                              SECRET's box key (hex; nothing verified), or
 *                              exit 1
 *   decrypt KEY...             stdin psql rows "room|seq|epoch|sender|
 *                              cmid|ciphertext|sig|sender_sign_pk" (hex);
 *                              per row "SEQ open TEXT", "SEQ locked" or
 *                              "SEQ badsig". KEY is hex or base64url
 *   announce SECRET PROGRAMME AUDIENCE WRITTEN_MS MANAGER TEXT RECIPIENT BOX_PK
 *                              an announcement (PROTOCOL.md 15.2) signed with
 *                              SECRET's key in MANAGER's name, its content key
 *                              sealed to RECIPIENT: "BODY SEALED" (hex)
 *   listen PORTFILE LOG SECONDS
 *                              a plain TCP listener on 127.0.0.1: writes its
 *                              port to PORTFILE, then for each connection
 *                              appends "conn N" and what it received
 *                              (until a blank line) to LOG, until SECONDS
 *                              pass
 *
 * Exit status: 0, 1 (did not open / nothing), 2 (usage or bad input).
 * Thread: main only. Secret keys are wiped before exit.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <sodium.h>

#include "announce.h"
#include "em_crypto.h"
#include "em_proto.h"

#define TOOL_LINE_MAX (4 * EM_MSG_CIPHERTEXT_MAX)
#define TOOL_KEYS_MAX 16

/* Hex into exactly len bytes. Returns 0 or -1. */
static int tool_hex(const char *hex, unsigned char *out, size_t len)
{
	size_t got = 0;

	if (strlen(hex) != 2 * len ||
	    sodium_hex2bin(out, len, hex, strlen(hex), NULL, &got, NULL) != 0 || got != len)
		return -1;
	return 0;
}

/* Prints bin as hex and a newline. */
static void tool_print_hex(const unsigned char *bin, size_t len)
{
	char *hex = malloc(2 * len + 1);

	if (!hex)
		return;
	sodium_bin2hex(hex, 2 * len + 1, bin, len);
	printf("%s\n", hex);
	free(hex);
}

/* A room key given as 64 hex digits or as base64url (roomkeys.json). */
static int tool_room_key(const char *s, unsigned char key[EM_ROOM_KEY_BYTES])
{
	if (tool_hex(s, key, EM_ROOM_KEY_BYTES) == 0)
		return 0;
	return em_b64_decode(s, key, EM_ROOM_KEY_BYTES) == EM_ROOM_KEY_BYTES ? 0 : -1;
}

static int tool_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || end == s || *end ? -1 : 0;
}

/* Reads SECRET (sign_sk || box_sk in hex) and derives the public halves. */
static int tool_load(const char *path, struct em_keys *k)
{
	char hex[2 * (EM_SIGN_SK_BYTES + EM_BOX_SK_BYTES) + 2] = "";
	unsigned char both[EM_SIGN_SK_BYTES + EM_BOX_SK_BYTES];
	FILE *f = fopen(path, "r");
	int rc = -1;

	memset(k, 0, sizeof(*k));
	if (!f || !fgets(hex, sizeof(hex), f))
		goto out;
	hex[strcspn(hex, "\n")] = '\0';
	if (tool_hex(hex, both, sizeof(both)))
		goto out;
	memcpy(k->sign_sk, both, EM_SIGN_SK_BYTES);
	memcpy(k->box_sk, both + EM_SIGN_SK_BYTES, EM_BOX_SK_BYTES);
	crypto_sign_ed25519_sk_to_pk(k->sign_pk, k->sign_sk);
	crypto_scalarmult_base(k->box_pk, k->box_sk);
	rc = 0;
out:
	if (f)
		fclose(f);
	sodium_memzero(hex, sizeof(hex));
	sodium_memzero(both, sizeof(both));
	if (rc)
		fprintf(stderr, "hostile_tool: cannot read the keys in %s\n", path);
	return rc;
}

static int tool_keygen(const char *path)
{
	unsigned char both[EM_SIGN_SK_BYTES + EM_BOX_SK_BYTES];
	char hex[2 * sizeof(both) + 1];
	struct em_keys k;
	FILE *f;
	int rc = 2;

	em_keys_generate(&k);
	memcpy(both, k.sign_sk, EM_SIGN_SK_BYTES);
	memcpy(both + EM_SIGN_SK_BYTES, k.box_sk, EM_BOX_SK_BYTES);
	sodium_bin2hex(hex, sizeof(hex), both, sizeof(both));
	f = fopen(path, "w");
	if (!f || fprintf(f, "%s\n", hex) < 0) {
		fprintf(stderr, "hostile_tool: cannot write %s\n", path);
		goto out;
	}
	{
		char spk[2 * EM_SIGN_PK_BYTES + 1], bpk[2 * EM_BOX_PK_BYTES + 1];

		sodium_bin2hex(spk, sizeof(spk), k.sign_pk, EM_SIGN_PK_BYTES);
		sodium_bin2hex(bpk, sizeof(bpk), k.box_pk, EM_BOX_PK_BYTES);
		printf("%s %s\n", spk, bpk);
	}
	rc = 0;
out:
	if (f && fclose(f) && rc == 0)
		rc = 2;
	em_keys_wipe(&k);
	sodium_memzero(both, sizeof(both));
	sodium_memzero(hex, sizeof(hex));
	return rc;
}

/* "1,2,3" into id->recipients / n_recipients. */
static int tool_ids(const char *s, struct em_room_key_id *id)
{
	char *copy = strdup(s), *save = NULL, *tok;
	int rc = -1;

	id->n_recipients = 0;
	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (id->n_recipients == EM_KEY_RECIPIENTS_MAX ||
		    tool_u64(tok, &id->recipients[id->n_recipients]))
			goto out;
		id->n_recipients++;
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

static int tool_seal(char **a)
{
	unsigned char key[EM_ROOM_KEY_BYTES], box_pk[EM_BOX_PK_BYTES], sealed[EM_SEALED_KEY_BYTES];
	struct em_room_key_id id = {0};
	uint64_t version;
	struct em_keys k;
	int rc = 2;

	if (tool_load(a[0], &k))
		return 2;
	if (tool_u64(a[1], &id.room_id) || tool_u64(a[2], &id.epoch) ||
	    tool_u64(a[3], &id.committer_id) || tool_u64(a[4], &version) || tool_ids(a[5], &id) ||
	    tool_room_key(a[6], key) || tool_u64(a[7], &id.recipient_id) ||
	    tool_hex(a[8], box_pk, sizeof(box_pk))) {
		fprintf(stderr, "hostile_tool seal: bad arguments\n");
		goto out;
	}
	id.agreement_version = (uint32_t)version;
	if (em_room_key_seal(key, &id, k.sign_sk, box_pk, sealed)) {
		fprintf(stderr, "hostile_tool seal: the recipient list is not sealable\n");
		goto out;
	}
	tool_print_hex(sealed, sizeof(sealed));
	rc = 0;
out:
	em_keys_wipe(&k);
	sodium_memzero(key, sizeof(key));
	return rc;
}

static int tool_commit_sign(char **a)
{
	struct em_commit_entry entries[EM_KEY_RECIPIENTS_MAX];
	struct em_commit c = {0};
	unsigned char sig[EM_SIG_BYTES];
	char line[2 * EM_SEALED_KEY_BYTES + 64], hex[2 * EM_SEALED_KEY_BYTES + 2];
	size_t n = 0;
	uint64_t version;
	struct em_keys k;
	int rc = 2;

	if (tool_load(a[0], &k))
		return 2;
	if (tool_u64(a[1], &c.room_id) || tool_u64(a[2], &c.epoch) ||
	    tool_u64(a[3], &c.committer_id) || tool_u64(a[4], &version))
		goto out;
	c.agreement_version = (uint32_t)version;
	while (fgets(line, sizeof(line), stdin)) {
		unsigned long long rid;

		if (n == EM_KEY_RECIPIENTS_MAX || sscanf(line, "%llu %416s", &rid, hex) != 2 ||
		    tool_hex(hex, entries[n].sealed, EM_SEALED_KEY_BYTES)) {
			fprintf(stderr, "hostile_tool commit-sign: bad entry: %s", line);
			goto out;
		}
		entries[n++].recipient_id = rid;
	}
	if (em_commit_sign(&c, entries, n, k.sign_sk, sig))
		goto out;
	tool_print_hex(sig, sizeof(sig));
	rc = 0;
out:
	em_keys_wipe(&k);
	return rc;
}

static int tool_agreement_sign(char **a)
{
	struct em_party parties[EM_ROOM_MEMBERS_MAX + 2];
	char roles[EM_ROOM_MEMBERS_MAX + 2][16], line[256], spk[80], bpk[80];
	unsigned char sig[EM_SIG_BYTES];
	char *terms = NULL;
	size_t n = 0, tlen = strlen(a[5]) / 2, got = 0;
	uint64_t room, version;
	struct em_keys k;
	int rc = 2;

	if (tool_load(a[0], &k))
		return 2;
	terms = calloc(1, tlen + 1);
	if (!terms || tool_u64(a[1], &room) || tool_u64(a[2], &version) ||
	    sodium_hex2bin((unsigned char *)terms, tlen, a[5], strlen(a[5]), NULL, &got, NULL) ||
	    got != tlen) {
		fprintf(stderr, "hostile_tool agreement-sign: bad arguments\n");
		goto out;
	}
	while (fgets(line, sizeof(line), stdin)) {
		unsigned long long uid;

		if (n == sizeof(parties) / sizeof(parties[0]) ||
		    sscanf(line, "%llu %15s %79s %79s", &uid, roles[n], spk, bpk) != 4 ||
		    tool_hex(spk, parties[n].sign_pk, EM_SIGN_PK_BYTES) ||
		    tool_hex(bpk, parties[n].box_pk, EM_BOX_PK_BYTES)) {
			fprintf(stderr, "hostile_tool agreement-sign: bad party: %s", line);
			goto out;
		}
		parties[n].user_id = uid;
		parties[n].role = roles[n];
		n++;
	}
	if (em_agreement_sign(room, (uint32_t)version, a[3], a[4], terms, parties, n, k.sign_sk,
	                      sig))
		goto out;
	tool_print_hex(sig, sizeof(sig));
	rc = 0;
out:
	free(terms);
	em_keys_wipe(&k);
	return rc;
}

static int tool_open(char **a)
{
	unsigned char sealed[EM_SEALED_KEY_BYTES], key[EM_ROOM_KEY_BYTES], sig[EM_SIG_BYTES];
	struct em_room_key_id id = {0};
	struct em_keys k;
	int rc = 1;

	if (tool_load(a[0], &k))
		return 2;
	if (tool_hex(a[1], sealed, sizeof(sealed))) {
		rc = 2;
		goto out;
	}
	if (em_room_key_open(sealed, &k, &id, key, sig) == 0) {
		tool_print_hex(key, sizeof(key));
		rc = 0;
	}
out:
	em_keys_wipe(&k);
	sodium_memzero(key, sizeof(key));
	return rc;
}

static int tool_encrypt(char **a)
{
	unsigned char key[EM_ROOM_KEY_BYTES], cmid[EM_MSG_ID_BYTES], sig[EM_SIG_BYTES];
	unsigned char *ct = malloc(EM_MSG_CIPHERTEXT_MAX);
	struct em_msg_meta meta = {.counter = 1, .written_ms = (uint64_t)time(NULL) * 1000};
	uint64_t room, epoch, sender;
	char *ct_hex = NULL;
	struct em_keys k;
	int n, rc = 2;

	if (tool_load(a[0], &k)) {
		free(ct);
		return 2;
	}
	if (!ct || tool_u64(a[1], &room) || tool_u64(a[2], &epoch) || tool_u64(a[3], &sender) ||
	    tool_room_key(a[4], key))
		goto out;
	randombytes_buf(cmid, sizeof(cmid));
	randombytes_buf(meta.device, sizeof(meta.device));
	n = em_msg_encrypt(key, room, epoch, sender, cmid, &meta, (const unsigned char *)a[5],
	                   strlen(a[5]), k.sign_sk, ct, sig);
	if (n < 0 || !(ct_hex = malloc(2 * (size_t)n + 1)))
		goto out;
	sodium_bin2hex(ct_hex, 2 * (size_t)n + 1, ct, (size_t)n);
	{
		char id_hex[2 * EM_MSG_ID_BYTES + 1], sig_hex[2 * EM_SIG_BYTES + 1];

		sodium_bin2hex(id_hex, sizeof(id_hex), cmid, sizeof(cmid));
		sodium_bin2hex(sig_hex, sizeof(sig_hex), sig, sizeof(sig));
		printf("%s %s %s\n", id_hex, ct_hex, sig_hex);
	}
	rc = 0;
out:
	free(ct_hex);
	free(ct);
	em_keys_wipe(&k);
	sodium_memzero(key, sizeof(key));
	return rc;
}

/* One psql row "room|seq|epoch|sender|cmid|ct|sig|spk" against every key. */
static void tool_decrypt_row(char *line, unsigned char keys[][EM_ROOM_KEY_BYTES], size_t nkeys,
                             unsigned char *ct, unsigned char *plain)
{
	char *f[8], *save = NULL;
	unsigned char cmid[EM_MSG_ID_BYTES], sig[EM_SIG_BYTES], spk[EM_SIGN_PK_BYTES];
	uint64_t room, seq, epoch, sender;
	size_t ct_len = 0, plain_len = 0, i;
	struct em_msg_meta meta;
	int badsig = 0;

	line[strcspn(line, "\n")] = '\0';
	for (i = 0; i < 8; i++)
		if (!(f[i] = strtok_r(i ? NULL : line, "|", &save)))
			break;
	if (i < 8 || tool_u64(f[0], &room) || tool_u64(f[1], &seq) || tool_u64(f[2], &epoch) ||
	    tool_u64(f[3], &sender) || tool_hex(f[4], cmid, sizeof(cmid)) ||
	    sodium_hex2bin(ct, EM_MSG_CIPHERTEXT_MAX, f[5], strlen(f[5]), NULL, &ct_len, NULL) ||
	    tool_hex(f[6], sig, sizeof(sig)) || tool_hex(f[7], spk, sizeof(spk))) {
		fprintf(stderr, "hostile_tool decrypt: bad row\n");
		return;
	}
	for (i = 0; i < nkeys; i++) {
		int st = em_msg_decrypt(keys[i], room, epoch, sender, cmid, ct, ct_len, sig, spk,
		                        &meta, plain, &plain_len);

		if (st == EM_MSG_OK) {
			printf("%llu open %.*s\n", (unsigned long long)seq, (int)plain_len,
			       (const char *)plain);
			sodium_memzero(plain, plain_len);
			return;
		}
		badsig |= st == EM_MSG_BAD_SIGNATURE;
	}
	printf("%llu %s\n", (unsigned long long)seq, badsig ? "badsig" : "locked");
}

static int tool_decrypt(int argc, char **argv)
{
	unsigned char keys[TOOL_KEYS_MAX][EM_ROOM_KEY_BYTES];
	unsigned char *ct = malloc(EM_MSG_CIPHERTEXT_MAX), *plain = malloc(EM_MSG_CIPHERTEXT_MAX);
	char *line = malloc(TOOL_LINE_MAX);
	size_t nkeys = 0;
	int rc = 2;

	if (!ct || !plain || !line || argc > TOOL_KEYS_MAX)
		goto out;
	for (int i = 0; i < argc; i++)
		if (tool_room_key(argv[i], keys[nkeys++])) {
			fprintf(stderr, "hostile_tool decrypt: '%s' is not a room key\n", argv[i]);
			goto out;
		}
	while (fgets(line, TOOL_LINE_MAX, stdin))
		if (line[0] != '\n')
			tool_decrypt_row(line, keys, nkeys, ct, plain);
	rc = 0;
out:
	sodium_memzero(keys, sizeof(keys));
	free(ct);
	free(plain);
	free(line);
	return rc;
}

/* Appends what one connection sends (up to a blank line, 2 s at most) to log. */
static void tool_listen_one(int fd, int n, FILE *log)
{
	char buf[4096];
	size_t len = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	while (len < sizeof(buf) - 1 && poll(&p, 1, 2000) == 1) {
		ssize_t got = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (got <= 0)
			break;
		len += (size_t)got;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	buf[len] = '\0';
	fprintf(log, "conn %d (%zu bytes)\n%s\n", n, len, buf);
	fflush(log);
}

static int tool_listen(char **a)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t alen = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0), n = 0, rc = 2;
	time_t until = time(NULL) + atoi(a[2]);
	FILE *log = NULL, *pf;

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, 8) ||
	    getsockname(fd, (struct sockaddr *)&addr, &alen) || !(log = fopen(a[1], "a")))
		goto out;
	/* the port file appears whole: written aside, then renamed */
	{
		char tmp[4096];
		int bad;

		snprintf(tmp, sizeof(tmp), "%s.tmp", a[0]);
		if (!(pf = fopen(tmp, "w")))
			goto out;
		bad = fprintf(pf, "%u\n", ntohs(addr.sin_port)) < 0;
		bad |= fclose(pf) != 0;
		if (bad || rename(tmp, a[0]))
			goto out;
	}
	while (time(NULL) < until) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int c;

		if (poll(&p, 1, 200) != 1)
			continue;
		c = accept(fd, NULL, NULL);
		if (c < 0)
			continue;
		tool_listen_one(c, ++n, log);
		close(c);
	}
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "hostile_tool listen: %s\n", strerror(errno));
	if (log)
		fclose(log);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* announce SECRET PROGRAMME AUDIENCE WRITTEN_MS MANAGER TEXT RECIPIENT BOX_PK */
static int tool_announce(char **a)
{
	unsigned char body[ANNOUNCE_BODY_MAX], key[ANNOUNCE_KEY_BYTES], box_pk[EM_BOX_PK_BYTES];
	unsigned char sealed[EM_ANNOUNCE_KEY_BYTES];
	uint64_t programme, written, manager, recipient;
	struct announce_meta m;
	struct em_keys k;
	size_t len = 0;
	int rc = 2;

	if (tool_load(a[0], &k) || tool_u64(a[1], &programme) || tool_u64(a[3], &written) ||
	    tool_u64(a[4], &manager) || tool_u64(a[6], &recipient) ||
	    tool_hex(a[7], box_pk, sizeof(box_pk)))
		goto out;
	m = (struct announce_meta){(int64_t)programme, (int64_t)manager, (int64_t)written, a[2]};
	if (announce_body_seal(&m, a[5], strlen(a[5]), k.sign_sk, key, body, &len) ||
	    announce_key_seal(key, recipient, box_pk, sealed))
		goto out;
	{
		char *b = malloc(2 * len + 1), s[2 * ANNOUNCE_SEALED + 1];

		if (!b)
			goto out;
		sodium_bin2hex(b, 2 * len + 1, body, len);
		sodium_bin2hex(s, sizeof(s), sealed + 8, ANNOUNCE_SEALED);
		printf("%s %s\n", b, s);
		free(b);
	}
	rc = 0;
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(&k, sizeof(k));
	return rc;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (em_crypto_init())
		return 2;
	if (!strcmp(cmd, "keygen") && argc == 3)
		return tool_keygen(argv[2]);
	if (!strcmp(cmd, "roomkey") && argc == 2) {
		unsigned char key[EM_ROOM_KEY_BYTES];

		randombytes_buf(key, sizeof(key));
		tool_print_hex(key, sizeof(key));
		sodium_memzero(key, sizeof(key));
		return 0;
	}
	if (!strcmp(cmd, "seal") && argc == 11)
		return tool_seal(argv + 2);
	if (!strcmp(cmd, "commit-sign") && argc == 7)
		return tool_commit_sign(argv + 2);
	if (!strcmp(cmd, "agreement-sign") && argc == 8)
		return tool_agreement_sign(argv + 2);
	if (!strcmp(cmd, "encrypt") && argc == 8)
		return tool_encrypt(argv + 2);
	if (!strcmp(cmd, "open") && argc == 4)
		return tool_open(argv + 2);
	if (!strcmp(cmd, "decrypt") && argc >= 3)
		return tool_decrypt(argc - 2, argv + 2);
	if (!strcmp(cmd, "announce") && argc == 10)
		return tool_announce(argv + 2);
	if (!strcmp(cmd, "listen") && argc == 5)
		return tool_listen(argv + 2);
	fprintf(stderr,
	        "usage: hostile_tool keygen|roomkey|seal|commit-sign|agreement-sign|encrypt|"
	        "open|decrypt|announce|listen ... (see the top of tests/e2e/hostile_tool.c)\n");
	return 2;
}
