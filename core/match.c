/*
 * match.c - match suggestions (match.h; the score and the input layout are
 * docs/MATCHING.md). The manager's client runs it over profiles it has
 * decrypted itself; nothing here talks to a server.
 *
 * DESIGN. Every mentee-mentor pair gets a score from 0 to 100: a weighted
 * sum of one similarity per criterion of the mentoring course (what the
 * mentee expects against what the mentor offers, values, interests, the
 * industry the mentee wants, how they like to communicate, motivation,
 * personality). Hard constraints (the same workplace, pairs the manager
 * excludes, a minimum score) take a pair out altogether. The suggestion is
 * the assignment of mentees to mentor places (a mentor's capacity: 1 for a
 * pair, 2 to 5 for a group) with the largest total score, found exactly with
 * the Hungarian algorithm (O(n^2 m) for n mentees and m places); a mentee
 * may stay unmatched, at the cost of a score of `min_score`, so a forbidden
 * pair is never chosen. Tags are interned to integers and kept sorted, so a
 * set comparison is one merge. People are sorted by username first, which
 * makes the result independent of the input's order. Pure; any thread.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "em_proto.h"
#include "match.h"

#define MATCH_PEOPLE_MAX 5000
#define MATCH_TAGS_MAX   32
#define MATCH_TEXT_MAX   100
#define MATCH_CAPACITY   5
#define SCALE            100 /* score points to integer cost units */
#define COST_MAX         (100 * SCALE)
#define COST_FORBIDDEN   (1000 * COST_MAX) /* a hard constraint */
#define COST_BELOW       (500 * COST_MAX)  /* under the minimum score: never chosen either */

/* The criteria, in the order of the weights and the explanations. */
enum crit { C_EXPECT, C_VALUES, C_INTERESTS, C_INDUSTRY, C_COMM, C_MOTIVATION, C_PERSON, C_N };
enum { T_EXPECT, T_VALUES, T_INTERESTS, T_COMM, T_PERSON, T_N }; /* the tag lists */

static const char *const crit_name[C_N] = {"expectations",  "values",     "interests",  "industry",
                                           "communication", "motivation", "personality"};
static const int crit_weight[C_N] = {30, 20, 15, 15, 10, 5, 5};
static const char *const tag_mentee[T_N] = {"expectations", "values", "interests", "communication",
                                            "personality"};
static const char *const tag_mentor[T_N] = {"offers", "values", "interests", "communication",
                                            "personality"};
static const int tag_crit[T_N] = {C_EXPECT, C_VALUES, C_INTERESTS, C_COMM, C_PERSON};

struct person {
	char username[EM_USERNAME_MAX + 1]; /* folded */
	const char *workplace, *industry;   /* point into the input */
	int tags[T_N][MATCH_TAGS_MAX];      /* interned, ascending, unique */
	int ntags[T_N];
	int motivation; /* 1-5, 0 unknown */
	int capacity;   /* mentors: 1-5 */
};

struct vocab {
	char **words; /* lower-cased, sorted, unique once built */
	size_t n, cap;
};

struct match {
	struct person *mentors, *mentees;
	size_t nmentors, nmentees;
	struct vocab vocab;
	int weight[C_N];
	double min_score;
	int same_workplace_ok;
	const json_t *never; /* [[a, b], ...] */
	char *err;
	size_t errlen;
};

static int fail(struct match *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct match *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->err, m->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static char *lower_dup(const char *s)
{
	size_t n = strlen(s);
	char *d = malloc(n + 1);

	if (!d)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		d[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
	return d;
}

/* x to one decimal, and to whole cost units: scores are never negative (no libm needed). */
static double round1(double x)
{
	return (double)(long long)(x * 10 + 0.5) / 10;
}

static long long whole(double x)
{
	return (long long)(x + 0.5);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

static int cmp_person(const void *a, const void *b)
{
	return strcmp(((const struct person *)a)->username, ((const struct person *)b)->username);
}

/* A JSON string of at most MATCH_TEXT_MAX bytes, or "" when absent/null; NULL when it is not one.
 */
static const char *text_of(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v))
		return "";
	if (!json_is_string(v) || json_string_length(v) > MATCH_TEXT_MAX)
		return NULL;
	return json_string_value(v);
}

/* Pass 1: every tag word, lower-cased, into the vocabulary. */
static int vocab_collect(struct match *m, const json_t *list, const char *who, const char *field)
{
	const json_t *v;
	size_t i;

	if (!list || json_is_null(list))
		return 0;
	if (!json_is_array(list) || json_array_size(list) > MATCH_TAGS_MAX)
		return fail(m, "%s: \"%s\" must be a list of at most 32 words", who, field);
	json_array_foreach(list, i, v)
	{
		if (!json_is_string(v) || !json_string_length(v) ||
		    json_string_length(v) > MATCH_TEXT_MAX)
			return fail(m, "%s: every item of \"%s\" must be a word of 1 to 100 bytes",
			            who, field);
		if (m->vocab.n == m->vocab.cap) {
			size_t cap = m->vocab.cap ? m->vocab.cap * 2 : 256;
			char **w = realloc(m->vocab.words, cap * sizeof(*w));

			if (!w)
				return fail(m, "out of memory");
			m->vocab.words = w;
			m->vocab.cap = cap;
		}
		if (!(m->vocab.words[m->vocab.n] = lower_dup(json_string_value(v))))
			return fail(m, "out of memory");
		m->vocab.n++;
	}
	return 0;
}

static void vocab_build(struct vocab *v)
{
	size_t out = 0;

	if (!v->n)
		return; /* no words at all: words is NULL, which qsort may not be given */
	qsort(v->words, v->n, sizeof(*v->words), cmp_str);
	for (size_t i = 0; i < v->n; i++) {
		if (out && !strcmp(v->words[out - 1], v->words[i])) {
			free(v->words[i]);
			continue;
		}
		v->words[out++] = v->words[i];
	}
	v->n = out;
}

static int vocab_id(const struct vocab *v, const char *word)
{
	char *w, **at;

	if (!v->n || !(w = lower_dup(word)))
		return -1;
	at = bsearch(&w, v->words, v->n, sizeof(*v->words), cmp_str);
	free(w);
	return at ? (int)(at - v->words) : -1;
}

/* Pass 2: one profile. */
static int person_parse(struct match *m, const json_t *obj, int mentor, struct person *p)
{
	const char *const *fields = mentor ? tag_mentor : tag_mentee;
	const json_t *mot = json_object_get(obj, "motivation");
	const json_t *cap = json_object_get(obj, "capacity");
	const char *name = json_string_value(json_object_get(obj, "username"));

	memset(p, 0, sizeof(*p));
	if (!json_is_object(obj) || !name || em_check_username(name) != EM_OK)
		return fail(m, "every profile needs a valid \"username\"");
	em_username_fold(name, p->username);
	if (!(p->workplace = text_of(obj, "workplace")) ||
	    !(p->industry = text_of(obj, mentor ? "industry" : "wants_industry")))
		return fail(m, "%s: workplace and industry are text of at most 100 bytes", name);
	for (int t = 0; t < T_N; t++) {
		const json_t *list = json_object_get(obj, fields[t]), *v;
		size_t i;

		json_array_foreach(list, i, v)
		{
			p->tags[t][p->ntags[t]++] = vocab_id(&m->vocab, json_string_value(v));
		}
		qsort(p->tags[t], (size_t)p->ntags[t], sizeof(int), cmp_int);
		{ /* unique: a word given twice counts once */
			int o = 0;

			for (int k = 0; k < p->ntags[t]; k++)
				if (!o || p->tags[t][k] != p->tags[t][o - 1])
					p->tags[t][o++] = p->tags[t][k];
			p->ntags[t] = o;
		}
	}
	if (mot && !json_is_null(mot) &&
	    (!json_is_integer(mot) || json_integer_value(mot) < 1 || json_integer_value(mot) > 5))
		return fail(m, "%s: motivation is 1 to 5", name);
	p->motivation = json_is_integer(mot) ? (int)json_integer_value(mot) : 0;
	if (mentor) {
		if (cap && !json_is_null(cap) &&
		    (!json_is_integer(cap) || json_integer_value(cap) < 1 ||
		     json_integer_value(cap) > MATCH_CAPACITY))
			return fail(m, "%s: capacity is 1 (a pair) to 5 (a group of five)", name);
		p->capacity = json_is_integer(cap) ? (int)json_integer_value(cap) : 1;
	}
	return 0;
}

/* |a ∩ b| for sorted unique lists. */
static int common(const int *a, int na, const int *b, int nb)
{
	int i = 0, j = 0, n = 0;

	while (i < na && j < nb) {
		if (a[i] == b[j]) {
			n++;
			i++;
			j++;
		} else if (a[i] < b[j]) {
			i++;
		} else {
			j++;
		}
	}
	return n;
}

/*
 * Similarity 0..1 per criterion (docs/MATCHING.md "The score"); known[c] is 0
 * where one side said nothing, and the criterion counts as a neutral 0.5.
 */
static void similarities(const struct person *e, const struct person *r, double sim[C_N],
                         int known[C_N])
{
	for (int t = 0; t < T_N; t++) {
		int c = common(e->tags[t], e->ntags[t], r->tags[t], r->ntags[t]);
		int u = e->ntags[t] + r->ntags[t] - c, k = tag_crit[t];

		/* expectations: how much of what the mentee expects the mentor offers */
		known[k] = t == T_EXPECT ? e->ntags[t] > 0 : e->ntags[t] > 0 && r->ntags[t] > 0;
		sim[k] = !known[k] ? 0.5 : t == T_EXPECT ? (double)c / e->ntags[t] : (double)c / u;
	}
	known[C_INDUSTRY] = *e->industry && *r->industry;
	sim[C_INDUSTRY] = !known[C_INDUSTRY]                     ? 0.5
	                  : strcasecmp(e->industry, r->industry) ? 0.0
	                                                         : 1.0;
	known[C_MOTIVATION] = e->motivation && r->motivation;
	sim[C_MOTIVATION] =
	    known[C_MOTIVATION] ? 1.0 - abs(e->motivation - r->motivation) / 4.0 : 0.5;
}

static double score_of(const struct match *m, const double sim[C_N])
{
	double s = 0;

	for (int c = 0; c < C_N; c++)
		s += m->weight[c] * sim[c];
	return s; /* weights sum to 100 */
}

/* Whether the manager's constraints forbid the pair. */
static int forbidden(const struct match *m, const struct person *e, const struct person *r)
{
	const json_t *pair;
	size_t i;

	if (!m->same_workplace_ok && *e->workplace && *r->workplace &&
	    !strcasecmp(e->workplace, r->workplace))
		return 1;
	json_array_foreach(m->never, i, pair)
	{
		const char *a = json_string_value(json_array_get(pair, 0));
		const char *b = json_string_value(json_array_get(pair, 1));

		if (a && b &&
		    ((!strcasecmp(a, e->username) && !strcasecmp(b, r->username)) ||
		     (!strcasecmp(b, e->username) && !strcasecmp(a, r->username))))
			return 1;
	}
	return 0;
}

/* The words both lists share, for an explanation ("cv, interviews"); at most three. */
static void shared_words(const struct match *m, const int *a, int na, const int *b, int nb,
                         char *out, size_t len)
{
	int i = 0, j = 0, n = 0;
	size_t used = 0;

	out[0] = '\0';
	while (i < na && j < nb && n < 3) {
		if (a[i] == b[j]) {
			used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s%s",
			                         n ? ", " : "", m->vocab.words[a[i]]);
			n++;
			i++;
			j++;
		} else if (a[i] < b[j]) {
			i++;
		} else {
			j++;
		}
	}
}

/* Why a pair scores what it does: the criteria that gave most, in words. */
static json_t *explain(const struct match *m, const struct person *e, const struct person *r,
                       const double sim[C_N], const int known[C_N])
{
	json_t *why = json_array();
	int order[C_N];
	char words[256], line[400];

	for (int c = 0; c < C_N; c++)
		order[c] = c;
	for (int a = 0; a < C_N; a++) /* by contribution, then by the criteria's order */
		for (int b = a + 1; b < C_N; b++)
			if (m->weight[order[b]] * sim[order[b]] >
			    m->weight[order[a]] * sim[order[a]]) {
				int t = order[a];

				order[a] = order[b];
				order[b] = t;
			}
	for (int k = 0; k < C_N && json_array_size(why) < 3; k++) {
		int c = order[k];
		double got = m->weight[c] * sim[c];

		if (got <= 0 || !known[c])
			continue; /* nothing to say about a criterion one side left empty */
		words[0] = '\0';
		for (int t = 0; t < T_N; t++)
			if (tag_crit[t] == c)
				shared_words(m, e->tags[t], e->ntags[t], r->tags[t], r->ntags[t],
				             words, sizeof(words));
		if (c == C_INDUSTRY)
			snprintf(line, sizeof(line), "industry: %s, as wished (%.0f of %d)",
			         r->industry, got, m->weight[c]);
		else if (c == C_MOTIVATION)
			snprintf(line, sizeof(line), "motivation: %d and %d (%.0f of %d)",
			         e->motivation, r->motivation, got, m->weight[c]);
		else if (c == C_EXPECT)
			snprintf(line, sizeof(line), "expectations met: %s (%.0f of %d)", words,
			         got, m->weight[c]);
		else
			snprintf(line, sizeof(line), "%s in common: %s (%.0f of %d)", crit_name[c],
			         words, got, m->weight[c]);
		json_array_append_new(why, json_string(line));
	}
	if (!json_array_size(why))
		json_array_append_new(why, json_string("no criterion stands out: little is known"));
	return why;
}

static int parse_people(struct match *m, const json_t *list, int mentor, struct person **out,
                        size_t *n)
{
	const char *what = mentor ? "mentors" : "mentees";
	const json_t *v;
	size_t i;

	if (!json_is_array(list) || json_array_size(list) > MATCH_PEOPLE_MAX)
		return fail(m, "\"%s\" must be a list of at most 5000 profiles", what);
	*n = json_array_size(list);
	if (!(*out = calloc(*n ? *n : 1, sizeof(**out))))
		return fail(m, "out of memory");
	json_array_foreach(list, i, v)
	{
		if (person_parse(m, v, mentor, &(*out)[i]))
			return -1;
	}
	qsort(*out, *n, sizeof(**out), cmp_person);
	for (i = 1; i < *n; i++)
		if (!strcmp((*out)[i - 1].username, (*out)[i].username))
			return fail(m, "%s is listed twice", (*out)[i].username);
	return 0;
}

static int parse_input(struct match *m, const json_t *in)
{
	const json_t *mentors = json_object_get(in, "mentors"),
	             *mentees = json_object_get(in, "mentees");
	const json_t *cons = json_object_get(in, "constraints"),
	             *w = json_object_get(in, "weights");
	const json_t *v, *ms;
	const char *sw;
	size_t i, j;
	int sum = 0;

	if (!json_is_object(in))
		return fail(m, "the profiles must be a JSON object");
	for (int pass = 0; pass < 2; pass++) {
		const json_t *list = pass ? mentors : mentees;

		json_array_foreach(list, i, v)
		{
			const char *who = json_string_value(json_object_get(v, "username"));

			for (int t = 0; t < T_N; t++)
				if (vocab_collect(
				        m, json_object_get(v, (pass ? tag_mentor : tag_mentee)[t]),
				        who ? who : "a profile",
				        (pass ? tag_mentor : tag_mentee)[t]))
					return -1;
		}
	}
	vocab_build(&m->vocab);
	if (parse_people(m, mentors, 1, &m->mentors, &m->nmentors) ||
	    parse_people(m, mentees, 0, &m->mentees, &m->nmentees))
		return -1;
	for (i = 0; i < m->nmentees; i++) /* nobody is both */
		for (j = 0; j < m->nmentors; j++)
			if (!strcmp(m->mentees[i].username, m->mentors[j].username))
				return fail(m, "%s is listed as a mentor and as a mentee",
				            m->mentees[i].username);
	memcpy(m->weight, crit_weight, sizeof(m->weight));
	if (w && !json_is_null(w)) {
		if (!json_is_object(w))
			return fail(m, "\"weights\" must be an object");
		for (int c = 0; c < C_N; c++) {
			v = json_object_get(w, crit_name[c]);
			if (!v)
				continue;
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > 100)
				return fail(m, "weight of %s must be 0 to 100", crit_name[c]);
			m->weight[c] = (int)json_integer_value(v);
		}
	}
	for (int c = 0; c < C_N; c++)
		sum += m->weight[c];
	if (sum != 100)
		return fail(m, "the weights must add up to 100");
	m->never = json_array();
	if (cons && !json_is_null(cons)) {
		const json_t *never = json_object_get(cons, "never");

		if (!json_is_object(cons))
			return fail(m, "\"constraints\" must be an object");
		sw = json_string_value(json_object_get(cons, "same_workplace"));
		if (json_object_get(cons, "same_workplace") &&
		    (!sw || (strcmp(sw, "forbid") && strcmp(sw, "allow"))))
			return fail(m, "same_workplace is \"forbid\" (the default) or \"allow\"");
		m->same_workplace_ok = sw && !strcmp(sw, "allow");
		ms = json_object_get(cons, "min_score");
		if (ms && (!json_is_number(ms) || json_number_value(ms) < 0 ||
		           json_number_value(ms) > 100))
			return fail(m, "min_score must be 0 to 100");
		m->min_score = ms ? json_number_value(ms) : 0;
		if (never) {
			if (!json_is_array(never))
				return fail(m, "\"never\" must be a list of [username, username]");
			json_array_foreach(never, i, v)
			{
				if (json_array_size(v) != 2 ||
				    !json_is_string(json_array_get(v, 0)) ||
				    !json_is_string(json_array_get(v, 1)))
					return fail(
					    m, "\"never\" must be a list of [username, username]");
			}
			json_decref((json_t *)m->never);
			m->never = json_incref((json_t *)never);
		}
	}
	return 0;
}

/*
 * The Hungarian algorithm (potentials; rows 1..n, columns 1..cols, n <=
 * cols): row_of[j] is the row given column j. cost(i, j) comes from the
 * callback. Returns 0, or -1 when out of memory.
 */
static int hungarian(int n, int cols, long long (*cost)(void *, int, int), void *ctx, int *row_of)
{
	long long *u = calloc((size_t)n + 1, sizeof(*u)), *v = calloc((size_t)cols + 1, sizeof(*v));
	long long *minv = malloc(((size_t)cols + 1) * sizeof(*minv));
	int *way = calloc((size_t)cols + 1, sizeof(*way));
	char *used = malloc((size_t)cols + 1);
	int rc = -1;

	if (!u || !v || !minv || !way || !used)
		goto out;
	memset(row_of, 0, ((size_t)cols + 1) * sizeof(*row_of));
	for (int i = 1; i <= n; i++) {
		int j0 = 0;

		row_of[0] = i;
		for (int j = 0; j <= cols; j++)
			minv[j] = LLONG_MAX;
		memset(used, 0, (size_t)cols + 1);
		do {
			int i0 = row_of[j0], j1 = 0;
			long long delta = LLONG_MAX;

			used[j0] = 1;
			for (int j = 1; j <= cols; j++) {
				long long cur;

				if (used[j])
					continue;
				cur = cost(ctx, i0, j) - u[i0] - v[j];
				if (cur < minv[j]) {
					minv[j] = cur;
					way[j] = j0;
				}
				if (minv[j] < delta) {
					delta = minv[j];
					j1 = j;
				}
			}
			for (int j = 0; j <= cols; j++) {
				if (used[j]) {
					u[row_of[j]] += delta;
					v[j] -= delta;
				} else {
					minv[j] -= delta;
				}
			}
			j0 = j1;
		} while (row_of[j0]);
		do {
			int j1 = way[j0];

			row_of[j0] = row_of[j1];
			j0 = j1;
		} while (j0);
	}
	rc = 0;
out:
	free(u);
	free(v);
	free(minv);
	free(way);
	free(used);
	return rc;
}

struct costs {
	int *pair; /* nmentees x nmentors: cost, or COST_FORBIDDEN */
	int *slot; /* column 1..places -> mentor index */
	size_t nmentors;
	int places;
	long long stay; /* a column past the places: the mentee stays unmatched */
};

static long long cost_at(void *ctx, int i, int j)
{
	const struct costs *k = ctx;

	if (j > k->places)
		return k->stay;
	return k->pair[(size_t)(i - 1) * k->nmentors + (size_t)k->slot[j]];
}

static json_t *result_build(struct match *m, const struct costs *k, const int *row_of)
{
	json_t *rooms = json_array(), *unmatched = json_array(), *idle = json_array(), *res;
	int *mentor_of = malloc((m->nmentees ? m->nmentees : 1) * sizeof(int));
	double total = 0;

	if (!rooms || !unmatched || !idle || !mentor_of)
		goto fail;
	for (size_t e = 0; e < m->nmentees; e++)
		mentor_of[e] = -1;
	for (int j = 1; j <= k->places; j++)
		if (row_of[j])
			mentor_of[row_of[j] - 1] = k->slot[j];
	for (size_t r = 0; r < m->nmentors; r++) {
		json_t *pairs = json_array(), *names = json_array();
		double sum = 0;
		int count = 0;

		for (size_t e = 0; e < m->nmentees; e++) {
			double sim[C_N], s;
			int known[C_N];

			if (mentor_of[e] != (int)r)
				continue;
			similarities(&m->mentees[e], &m->mentors[r], sim, known);
			s = score_of(m, sim);
			sum += s;
			count++;
			json_array_append_new(names, json_string(m->mentees[e].username));
			json_array_append_new(
			    pairs,
			    json_pack("{s:s, s:f, s:o}", "mentee", m->mentees[e].username, "score",
			              round1(s), "why",
			              explain(m, &m->mentees[e], &m->mentors[r], sim, known)));
		}
		if (!count) {
			json_decref(pairs);
			json_decref(names);
			json_array_append_new(idle, json_string(m->mentors[r].username));
			continue;
		}
		total += sum;
		json_array_append_new(
		    rooms, json_pack("{s:s, s:o, s:s, s:f, s:o}", "mentor", m->mentors[r].username,
		                     "mentees", names, "kind", count > 1 ? "group" : "pair",
		                     "score", round1(sum / count), "pairs", pairs));
	}
	for (size_t e = 0; e < m->nmentees; e++) {
		int any_allowed = 0, any_good = 0;
		const char *why;

		if (mentor_of[e] >= 0)
			continue;
		for (size_t r = 0; r < m->nmentors; r++) {
			int c = k->pair[e * m->nmentors + r];

			any_allowed |= c != COST_FORBIDDEN;
			any_good |= c < COST_BELOW;
		}
		why = !m->nmentors ? "there are no mentors"
		      : !any_allowed
		          ? "every mentor is excluded (the same workplace, or a pair the "
		            "manager excluded)"
		      : !any_good ? "no mentor reaches the minimum score"
		                  : "every mentor place went to a mentee who fits better";
		json_array_append_new(unmatched, json_pack("{s:s, s:s}", "username",
		                                           m->mentees[e].username, "why", why));
	}
	free(mentor_of);
	res = json_pack("{s:o, s:o, s:o, s:f, s:i, s:i}", "rooms", rooms, "unmatched", unmatched,
	                "idle_mentors", idle, "total_score", round1(total), "places", k->places,
	                "mentees", (int)m->nmentees);
	if (res) {
		json_t *crit = json_object();

		for (int c = 0; c < C_N; c++)
			json_object_set_new(crit, crit_name[c], json_integer(m->weight[c]));
		json_object_set_new(res, "weights", crit);
	}
	return res;
fail:
	free(mentor_of);
	json_decref(rooms);
	json_decref(unmatched);
	json_decref(idle);
	return NULL;
}

json_t *match_suggest(const json_t *input, char *err, size_t errlen)
{
	struct match m;
	struct costs k;
	int *row_of = NULL, cols;
	json_t *res = NULL;

	memset(&m, 0, sizeof(m));
	memset(&k, 0, sizeof(k));
	m.err = err;
	m.errlen = errlen;
	err[0] = '\0';
	if (parse_input(&m, input))
		goto out;
	k.nmentors = m.nmentors;
	for (size_t r = 0; r < m.nmentors; r++)
		k.places += m.mentors[r].capacity;
	k.pair = malloc((m.nmentees && m.nmentors ? m.nmentees * m.nmentors : 1) * sizeof(int));
	k.slot = malloc(((size_t)k.places + 1) * sizeof(int));
	cols = k.places + (int)m.nmentees; /* a place for every mentee, or staying unmatched */
	row_of = malloc(((size_t)cols + 1) * sizeof(int));
	if (!k.pair || !k.slot || !row_of) {
		fail(&m, "out of memory");
		goto out;
	}
	for (size_t r = 0, j = 1; r < m.nmentors; r++)
		for (int c = 0; c < m.mentors[r].capacity; c++)
			k.slot[j++] = (int)r;
	for (size_t e = 0; e < m.nmentees; e++)
		for (size_t r = 0; r < m.nmentors; r++) {
			double sim[C_N], s;
			int known[C_N];

			similarities(&m.mentees[e], &m.mentors[r], sim, known);
			s = score_of(&m, sim);
			k.pair[e * m.nmentors + r] =
			    forbidden(&m, &m.mentees[e], &m.mentors[r]) ? COST_FORBIDDEN
			    : s < m.min_score                           ? COST_BELOW
			                      : COST_MAX - (int)whole(s * SCALE);
		}
	/* staying unmatched costs what a pair at the minimum score costs, plus one: any allowed
	 * pair is better than nobody */
	k.stay = COST_MAX - (long long)whole(m.min_score * SCALE) + 1;
	if (m.nmentees && hungarian((int)m.nmentees, cols, cost_at, &k, row_of)) {
		fail(&m, "out of memory");
		goto out;
	}
	if (!m.nmentees)
		memset(row_of, 0, ((size_t)cols + 1) * sizeof(int));
	if (!(res = result_build(&m, &k, row_of)))
		fail(&m, "out of memory");
out:
	for (size_t i = 0; i < m.vocab.n; i++)
		free(m.vocab.words[i]);
	free(m.vocab.words);
	free(m.mentors);
	free(m.mentees);
	json_decref((json_t *)m.never);
	free(k.pair);
	free(k.slot);
	free(row_of);
	return res;
}
