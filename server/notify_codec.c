/*
 * notify_codec.c - writes and reads the NOTIFY payloads of notify_codec.h.
 *
 * DESIGN. A payload comes from another node, through PostgreSQL: anyone who
 * can run NOTIFY on the database can send one, so the reader takes nothing
 * on trust. One table says which fields each kind carries, in order, and
 * both directions walk it, so the writer and the reader cannot disagree.
 * The reader accepts exactly what the writer produces (one space between
 * fields, canonical decimals, bounded values) and nothing else: a value the
 * writer could not have written is refused before it reaches the range list
 * or a push. Pure: no I/O, no allocation, any thread.
 */
#include <stdio.h>
#include <string.h>

#include "em_proto.h"
#include "notify_codec.h"

#define EPOCH_MAX 2147483647LL /* INT32_MAX: epochs on the wire (PROTOCOL.md) */

/*
 * The fields of each kind, in order: R room, U user, F first, L last, S seq,
 * E epoch, I id, N a username, C a change word.
 */
static const struct layout {
	char kind;
	const char *fields;
} layouts[] = {
    {NOTIFY_MESSAGES, "RFL"},        {NOTIFY_RECEIPT, "RUSN"}, {NOTIFY_ROOM, "RC"},
    {NOTIFY_MEMBERSHIP, "URC"},      {NOTIFY_EPOCH, "URE"},    {NOTIFY_NOTICE, "UI"},
    {NOTIFY_TYPING, "RUN"},          {NOTIFY_ERASED, "U"},     {NOTIFY_SESSION_ENDED, "UI"},
    {NOTIFY_SESSIONS_REVOKED, "UI"}, {NOTIFY_HELLO, ""},
};

static const char *notify_fields(int kind)
{
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (layouts[i].kind == kind)
			return layouts[i].fields;
	return NULL;
}

/* The integer field of n named by `f` (NULL for a word). */
static int64_t *notify_int_field(struct notify *n, char f)
{
	switch (f) {
	case 'R':
		return &n->room;
	case 'U':
		return &n->user;
	case 'F':
		return &n->first;
	case 'L':
		return &n->last;
	case 'S':
		return &n->seq;
	case 'E':
		return &n->epoch;
	case 'I':
		return &n->id;
	default:
		return NULL;
	}
}

static int notify_node_ok(const char *s, size_t len)
{
	if (len != NOTIFY_NODE_LEN)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* A change word: 1..NOTIFY_WORD_MAX lower-case ASCII letters. */
static int notify_change_ok(const char *s, size_t len)
{
	if (len < 1 || len > NOTIFY_WORD_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 'a' || s[i] > 'z')
			return 0;
	return 1;
}

static int notify_name_ok(const char *s, size_t len)
{
	char name[NOTIFY_WORD_MAX + 1];

	if (len < 1 || len > NOTIFY_WORD_MAX || memchr(s, '\0', len))
		return 0;
	memcpy(name, s, len);
	name[len] = '\0';
	return em_check_username(name) == EM_OK;
}

static int notify_word_ok(char f, const char *s, size_t len)
{
	return f == 'N' ? notify_name_ok(s, len) : notify_change_ok(s, len);
}

static int notify_int_ok(char f, int64_t v)
{
	return v >= 1 && v <= (f == 'E' ? EPOCH_MAX : NOTIFY_INT_MAX);
}

/* Cross-field rules: a range does not run backwards. */
static int notify_ranges_ok(const struct notify *n)
{
	return n->kind != NOTIFY_MESSAGES || n->first <= n->last;
}

int notify_encode(const struct notify *n, char *out, size_t outlen)
{
	const char *fields = notify_fields(n->kind);
	struct notify copy = *n; /* notify_int_field() wants a mutable struct */
	size_t len;
	int w;

	if (!fields || !notify_node_ok(n->node, strnlen(n->node, sizeof(n->node))) ||
	    !notify_ranges_ok(n) || outlen < NOTIFY_NODE_LEN + 3)
		return -1;
	memcpy(out, n->node, NOTIFY_NODE_LEN);
	out[NOTIFY_NODE_LEN] = ' ';
	out[NOTIFY_NODE_LEN + 1] = (char)n->kind;
	len = NOTIFY_NODE_LEN + 2;
	for (const char *f = fields; *f; f++) {
		int64_t *v = notify_int_field(&copy, *f);

		if (v) {
			if (!notify_int_ok(*f, *v))
				return -1;
			w = snprintf(out + len, outlen - len, " %lld", (long long)*v);
		} else {
			if (!notify_word_ok(*f, n->word, strnlen(n->word, sizeof(n->word))))
				return -1;
			w = snprintf(out + len, outlen - len, " %s", n->word);
		}
		if (w < 0 || (size_t)w >= outlen - len)
			return -1;
		len += (size_t)w;
	}
	out[len] = '\0';
	return (int)len;
}

/* A canonical decimal of 1..16 digits at s[0..len); -1 when it is not one. */
static int notify_parse_int(const char *s, size_t len, int64_t *out)
{
	int64_t v = 0;

	if (len < 1 || len > 16 || (s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int notify_decode(const char *text, size_t len, struct notify *out)
{
	const char *fields, *p = text, *end = text + len;

	memset(out, 0, sizeof(*out));
	/* "NODE K", then " field" per field */
	if (len < NOTIFY_NODE_LEN + 2 || !notify_node_ok(text, NOTIFY_NODE_LEN) ||
	    text[NOTIFY_NODE_LEN] != ' ' || !(fields = notify_fields(text[NOTIFY_NODE_LEN + 1])))
		goto bad;
	memcpy(out->node, text, NOTIFY_NODE_LEN);
	out->kind = (enum notify_kind)text[NOTIFY_NODE_LEN + 1];
	p = text + NOTIFY_NODE_LEN + 2;
	for (const char *f = fields; *f; f++) {
		const char *start;
		int64_t *v = notify_int_field(out, *f);
		size_t n;

		if (p == end || *p != ' ')
			goto bad;
		start = ++p;
		while (p < end && *p != ' ')
			p++;
		n = (size_t)(p - start);
		if (v) {
			if (notify_parse_int(start, n, v) || !notify_int_ok(*f, *v))
				goto bad;
		} else {
			if (!notify_word_ok(*f, start, n))
				goto bad;
			memcpy(out->word, start, n);
			out->word[n] = '\0';
		}
	}
	if (p != end || !notify_ranges_ok(out))
		goto bad;
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return -1;
}
