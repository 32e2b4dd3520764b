/*
 * fuzz_notify.c - libFuzzer target for the NOTIFY payloads between nodes
 * (server/notify_codec.c), which anyone who may NOTIFY on the database can
 * send. The input is used twice:
 *   - as a payload heard: notify_decode() either refuses it and leaves
 *     nothing behind, or accepts it, and then notify_encode() of what was
 *     read gives back exactly the same bytes (one encoding per payload);
 *   - as the fields of a payload to send: whatever notify_encode() accepts,
 *     notify_decode() reads back field for field, and what it refuses has a
 *     field out of range for its kind.
 */
#include <string.h>

#include "em_proto.h"
#include "fuzz.h"
#include "notify_codec.h"

#define TARGET "fuzz_notify"

static const char kinds[] = "mrQRentxkKh";

static void heard(const uint8_t *data, size_t size)
{
	char again[NOTIFY_PAYLOAD_MAX + 1];
	struct notify n, zero;
	int len;

	memset(&zero, 0, sizeof(zero));
	if (notify_decode((const char *)data, size, &n) != 0) {
		fuzz_check(!memcmp(&n, &zero, sizeof(n)), TARGET, "a refusal leaves nothing read");
		return;
	}
	fuzz_check(size <= NOTIFY_PAYLOAD_MAX, TARGET, "an accepted payload fits the bound");
	fuzz_check(strchr(kinds, (int)n.kind) != NULL, TARGET, "a known kind");
	len = notify_encode(&n, again, sizeof(again));
	fuzz_check(len == (int)size && !memcmp(again, data, size), TARGET,
	           "what was read writes back to the same bytes");
}

/* Which fields a kind carries, as notify_codec.h lists them. */
static int carries(char kind, char field)
{
	static const char *const layout[] = {"mRFL", "rRUSN", "QRC", "RURC", "eURE", "nUI",
	                                     "tRUN", "xU",    "kUI", "KUI",  "h"};

	for (size_t i = 0; i < sizeof(layout) / sizeof(layout[0]); i++)
		if (layout[i][0] == kind)
			return strchr(layout[i] + 1, field) != NULL;
	return 0;
}

static int in_range(int64_t v, int64_t max)
{
	return v >= 1 && v <= max;
}

/* Whether every field n's kind carries is one the writer may write. */
static int writable(const struct notify *n)
{
	char k = (char)n->kind;
	int ok = strchr(kinds, k) != NULL && k != '\0';

	for (size_t i = 0; ok && i < NOTIFY_NODE_LEN; i++)
		ok = (n->node[i] >= '0' && n->node[i] <= '9') ||
		     (n->node[i] >= 'a' && n->node[i] <= 'f');
	ok = ok && strlen(n->node) == NOTIFY_NODE_LEN;
	if (ok && carries(k, 'R'))
		ok = in_range(n->room, NOTIFY_INT_MAX);
	if (ok && carries(k, 'U'))
		ok = in_range(n->user, NOTIFY_INT_MAX);
	if (ok && carries(k, 'F'))
		ok = in_range(n->first, NOTIFY_INT_MAX) && in_range(n->last, NOTIFY_INT_MAX) &&
		     n->first <= n->last;
	if (ok && carries(k, 'S'))
		ok = in_range(n->seq, NOTIFY_INT_MAX);
	if (ok && carries(k, 'E'))
		ok = in_range(n->epoch, 2147483647);
	if (ok && carries(k, 'I'))
		ok = in_range(n->id, NOTIFY_INT_MAX);
	if (ok && carries(k, 'N'))
		ok = em_check_username(n->word) == EM_OK;
	if (ok && carries(k, 'C')) {
		ok = n->word[0] != '\0';
		for (const char *p = n->word; ok && *p; p++)
			ok = *p >= 'a' && *p <= 'z';
	}
	return ok;
}

/* A value that is often at a boundary: small, near 2^31 or 2^53, or anything. */
static int64_t take_int(struct fuzz_in *in)
{
	uint64_t sel = fuzz_take(in, 1), v = fuzz_take(in, 8);

	switch (sel % 5) {
	case 0:
		return (int64_t)(v % 16) - 1;
	case 1:
		return 2147483647LL - 2 + (int64_t)(v % 4);
	case 2:
		return NOTIFY_INT_MAX - 2 + (int64_t)(v % 4);
	default:
		return (int64_t)v;
	}
}

static void sent(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	char out[NOTIFY_PAYLOAD_MAX + 1], node[NOTIFY_NODE_LEN + 1] = {0};
	struct notify n, back;
	int len;

	memset(&n, 0, sizeof(n));
	n.kind = (enum notify_kind)kinds[fuzz_take(&in, 1) % (sizeof(kinds) - 1)];
	if (fuzz_take(&in, 1) & 1)
		memcpy(n.node, "00112233aabbccdd", NOTIFY_NODE_LEN);
	else
		memcpy(n.node, fuzz_take_str(&in, node, NOTIFY_NODE_LEN), NOTIFY_NODE_LEN + 1);
	n.room = take_int(&in);
	n.user = take_int(&in);
	n.first = take_int(&in);
	n.last = take_int(&in);
	n.seq = take_int(&in);
	n.epoch = take_int(&in);
	n.id = take_int(&in);
	fuzz_take_str(&in, n.word, NOTIFY_WORD_MAX);
	/* fields the kind does not carry are 0 in what decode gives back */
	if (!carries((char)n.kind, 'R'))
		n.room = 0;
	if (!carries((char)n.kind, 'U'))
		n.user = 0;
	if (!carries((char)n.kind, 'F'))
		n.first = n.last = 0;
	if (!carries((char)n.kind, 'S'))
		n.seq = 0;
	if (!carries((char)n.kind, 'E'))
		n.epoch = 0;
	if (!carries((char)n.kind, 'I'))
		n.id = 0;
	if (!carries((char)n.kind, 'N') && !carries((char)n.kind, 'C'))
		memset(n.word, 0, sizeof(n.word));
	len = notify_encode(&n, out, sizeof(out));
	fuzz_check((len > 0) == writable(&n), TARGET,
	           "the writer accepts exactly the fields in range for the kind");
	if (len < 0)
		return;
	fuzz_check((size_t)len == strlen(out), TARGET, "the length is the text's");
	fuzz_check(notify_decode(out, (size_t)len, &back) == 0, TARGET, "what is written reads");
	fuzz_check(!memcmp(&back, &n, sizeof(n)), TARGET, "and reads back field for field");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	heard(data, size);
	sent(data, size);
	return 0;
}
