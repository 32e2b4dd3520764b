/*
 * agree_diff.c - the line diff between two versions of a room's agreement,
 * computed on this device from the texts it checks (PROTOCOL.md 7.3,
 * docs/SECURITY.md): `agreement show` tells a party what changed between the
 * version in force and the one waiting for their signature.
 *
 * DESIGN. The server's agreement.changed notice carries counts it computed;
 * a client never relies on them. This diff is the client's own, over the
 * active version's terms (whose signatures the caller has verified) and the
 * pending version's terms (the very text whose hash the user signs). The
 * common first and last lines are skipped, then the lines between are
 * matched by a longest common subsequence (a table of at most
 * EMC_DIFF_CELLS cells); a larger middle is shown as removed then added in
 * full, which is still a true diff, only not the shortest one.
 *
 * Threads: the host's (core.h). No state.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define EMC_DIFF_CELLS (1u << 20) /* 4 MiB of table at most */
#define EMC_DIFF_LINES 32768      /* lines of one text (a template of only newlines has 20,001) */

struct emc_lines {
	const char *at[EMC_DIFF_LINES];
	size_t len[EMC_DIFF_LINES];
	size_t n;
};

/* Splits text into lines (no terminator kept). -1 when it has too many. */
static int emc_diff_split(const char *text, struct emc_lines *out)
{
	const char *p = text;

	out->n = 0;
	for (;;) {
		const char *nl = strchr(p, '\n');

		if (out->n == EMC_DIFF_LINES)
			return -1;
		out->at[out->n] = p;
		out->len[out->n] = nl ? (size_t)(nl - p) : strlen(p);
		out->n++;
		if (!nl)
			return 0;
		p = nl + 1;
	}
}

static int emc_diff_same(const struct emc_lines *a, size_t i, const struct emc_lines *b, size_t j)
{
	return a->len[i] == b->len[j] && !memcmp(a->at[i], b->at[j], a->len[i]);
}

/* Appends {"op": op, "line": the line}; -1 out of memory. */
static int emc_diff_add(json_t *out, const char *op, const char *line, size_t len)
{
	json_t *s = json_stringn(line, len);

	if (!s || json_array_append_new(out, json_pack("{s:s, s:o}", "op", op, "line", s)))
		return -1;
	return 0;
}

/*
 * The middle lines a[lo_a, hi_a) and b[lo_b, hi_b) of the diff: LCS when
 * the table fits, else all removed then all added. 0 or -1 out of memory.
 */
static int emc_diff_middle(const struct emc_lines *a, size_t lo_a, size_t hi_a,
                           const struct emc_lines *b, size_t lo_b, size_t hi_b, json_t *out)
{
	size_t n = hi_a - lo_a, m = hi_b - lo_b, i, j;
	uint32_t *t = NULL; /* t[i][j]: LCS length of a[lo_a + i ..) and b[lo_b + j ..) */
	int rc = -1;

	if ((n + 1) * (m + 1) <= EMC_DIFF_CELLS)
		t = calloc((n + 1) * (m + 1), sizeof(*t));
	if (!t) {
		for (i = lo_a; i < hi_a; i++)
			if (emc_diff_add(out, "-", a->at[i], a->len[i]))
				return -1;
		for (j = lo_b; j < hi_b; j++)
			if (emc_diff_add(out, "+", b->at[j], b->len[j]))
				return -1;
		return 0;
	}
#define T(x, y) t[(x) * (m + 1) + (y)]
	for (i = n; i-- > 0;)
		for (j = m; j-- > 0;)
			T(i, j) = emc_diff_same(a, lo_a + i, b, lo_b + j)
			              ? T(i + 1, j + 1) + 1
			              : (T(i + 1, j) >= T(i, j + 1) ? T(i + 1, j) : T(i, j + 1));
	i = j = 0;
	while (i < n || j < m) {
		if (i < n && j < m && emc_diff_same(a, lo_a + i, b, lo_b + j)) {
			if (emc_diff_add(out, "=", a->at[lo_a + i], a->len[lo_a + i]))
				goto out;
			i++;
			j++;
		} else if (i < n && (j == m || T(i + 1, j) >= T(i, j + 1))) {
			/* on a tie the removed line first, as diff(1) shows them */
			if (emc_diff_add(out, "-", a->at[lo_a + i], a->len[lo_a + i]))
				goto out;
			i++;
		} else {
			if (emc_diff_add(out, "+", b->at[lo_b + j], b->len[lo_b + j]))
				goto out;
			j++;
		}
	}
#undef T
	rc = 0;
out:
	free(t);
	return rc;
}

json_t *emc_line_diff(const char *from, const char *to)
{
	struct emc_lines *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	json_t *out = json_array(), *res = NULL;
	size_t pre = 0, suf = 0, i;

	if (!a || !b || !out || emc_diff_split(from, a) || emc_diff_split(to, b))
		goto out;
	while (pre < a->n && pre < b->n && emc_diff_same(a, pre, b, pre))
		pre++;
	while (suf < a->n - pre && suf < b->n - pre &&
	       emc_diff_same(a, a->n - 1 - suf, b, b->n - 1 - suf))
		suf++;
	for (i = 0; i < pre; i++)
		if (emc_diff_add(out, "=", a->at[i], a->len[i]))
			goto out;
	if (emc_diff_middle(a, pre, a->n - suf, b, pre, b->n - suf, out))
		goto out;
	for (i = a->n - suf; i < a->n; i++)
		if (emc_diff_add(out, "=", a->at[i], a->len[i]))
			goto out;
	res = out;
	out = NULL;
out:
	json_decref(out);
	free(a);
	free(b);
	return res;
}
