/*
 * profile_form.c - the pure parts of participants' profiles for matching
 * (profile_form.h; docs/PROTOCOL.md section 14): the built-in questions for
 * mentees and mentors, checking questions and answers, the bytes a manager
 * signs for a version of the questions and the context a profile is signed
 * under, key fingerprints as people pass them on, the anchored managers
 * kept in trust.json, sealing and opening one profile, and the match input
 * of opened profiles.
 *
 * DESIGN. The built-in questions follow the mentoring course's recruitment
 * step: a mentee's application (needs, wishes about the mentor), a mentor's
 * interview (skills, experience, expectations), and what the manager
 * matches on (expectations, motivation, values, interests, industry, and the
 * "five things": values, communication, willingness, expectations,
 * personalities). A question whose id is one match.c scores must have the
 * kind match.c reads (words, a line, a 1-5 scale), so a manager's edit
 * cannot make the matching read an answer as something it is not. A sealed
 * profile carries the questions it answers, so a manager reads each answer
 * beside the exact question the participant was shown. Any thread.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "em_crypto.h"
#include "profile_form.h"

#define PROFILE_TITLE_MAX 200
#define PROFILE_QTEXT_MAX 500

/* The questions both forms ask (module I: what a good match shares), in both languages. */
#define PROFILE_SHARED_QUESTIONS                                                                     \
	"{\"id\":\"values\",\"kind\":\"words\",\"text\":\"Your values: what matters most to you? "   \
	"(comma-separated)\",\"text_pl\":\"Twoje wartości: co jest dla Ciebie najważniejsze? (po " \
	"przecinku)\"},"                                                                             \
	"{\"id\":\"interests\",\"kind\":\"words\",\"text\":\"Your interests "                        \
	"(comma-separated)\",\"text_pl\":\"Twoje zainteresowania (po przecinku)\"},"                 \
	"{\"id\":\"communication\",\"kind\":\"words\",\"text\":\"How do you like to communicate? "   \
	"(e.g. online, in person, weekly)\",\"text_pl\":\"Jak wolisz się porozumiewać? (np. "      \
	"online, osobiście, co tydzień)\"},"                                                       \
	"{\"id\":\"personality\",\"kind\":\"words\",\"text\":\"Describe yourself in a few words "    \
	"(e.g. calm, energetic)\",\"text_pl\":\"Opisz siebie kilkoma słowami (np. spokojny, "       \
	"energiczny)\"},"

static const char default_mentee[] =
    "{\"title\":\"Mentee profile\",\"title_pl\":\"Profil podopiecznego\",\"questions\":["
    "{\"id\":\"needs\",\"kind\":\"text\",\"text\":\"What do you need from mentoring? Your "
    "situation and what you want to change, in your own words.\",\"text_pl\":\"Czego "
    "potrzebujesz od mentoringu? Twoja sytuacja i to, co chcesz zmienić, własnymi "
    "słowami.\"},"
    "{\"id\":\"wishes\",\"kind\":\"text\",\"text\":\"What do you wish for in a "
    "mentor?\",\"text_pl\":\"Jakiego mentora chcesz mieć?\"},"
    "{\"id\":\"expectations\",\"kind\":\"words\",\"text\":\"What would you like help with? A "
    "few words, comma-separated (e.g. cv, interviews, first job).\",\"text_pl\":\"W czym "
    "chcesz pomocy? Kilka słów po przecinku (np. cv, rozmowy, pierwsza praca).\"},"
    "{\"id\":\"wants_industry\",\"kind\":\"line\",\"text\":\"In which industry would you like "
    "your mentor to work?\",\"text_pl\":\"W jakiej branży ma pracować Twój mentor?\"},"
    "{\"id\":\"workplace\",\"kind\":\"line\",\"text\":\"Where do you work or study? (You are "
    "not matched with a mentor from the same place.)\",\"text_pl\":\"Gdzie pracujesz lub się "
    "uczysz? (Nie dostaniesz mentora z tego samego miejsca.)\"}," PROFILE_SHARED_QUESTIONS
    "{\"id\":\"motivation\",\"kind\":\"scale\",\"text\":\"How much do you want to take part, "
    "from 1 (a little) to 5 (very much)?\",\"text_pl\":\"Jak bardzo chcesz wziąć udział, od 1 "
    "(trochę) do 5 (bardzo)?\"}]}";

static const char default_mentor[] =
    "{\"title\":\"Mentor profile\",\"title_pl\":\"Profil mentora\",\"questions\":["
    "{\"id\":\"skills\",\"kind\":\"text\",\"text\":\"Your skills and "
    "competences\",\"text_pl\":\"Twoje umiejętności i kompetencje\"},"
    "{\"id\":\"experience\",\"kind\":\"text\",\"text\":\"Your experience (in mentoring too, if "
    "any)\",\"text_pl\":\"Twoje doświadczenie (także w mentoringu, jeśli je masz)\"},"
    "{\"id\":\"hopes\",\"kind\":\"text\",\"text\":\"What do you expect of mentoring in this "
    "programme?\",\"text_pl\":\"Czego oczekujesz od mentoringu w tym programie?\"},"
    "{\"id\":\"offers\",\"kind\":\"words\",\"text\":\"What can you help with? A few words, "
    "comma-separated (e.g. cv, interviews, first job).\",\"text_pl\":\"W czym możesz pomóc? "
    "Kilka słów po przecinku (np. cv, rozmowy, pierwsza praca).\"},"
    "{\"id\":\"industry\",\"kind\":\"line\",\"text\":\"Your industry\",\"text_pl\":\"Twoja "
    "branża\"},"
    "{\"id\":\"workplace\",\"kind\":\"line\",\"text\":\"Where do you work? (You are not "
    "matched with a mentee from the same place.)\",\"text_pl\":\"Gdzie pracujesz? (Nie "
    "dostaniesz podopiecznego z tego samego miejsca.)\"}," PROFILE_SHARED_QUESTIONS
    "{\"id\":\"motivation\",\"kind\":\"scale\",\"text\":\"How much do you want to mentor, from "
    "1 (a little) to 5 (very much)?\",\"text_pl\":\"Jak bardzo chcesz być mentorem, od 1 "
    "(trochę) do 5 (bardzo)?\"},"
    "{\"id\":\"capacity\",\"kind\":\"scale\",\"text\":\"How many mentees can you take: 1 (a "
    "pair) to 5 (a group)?\",\"text_pl\":\"Ilu podopiecznych możesz przyjąć: 1 (para) do 5 "
    "(grupa)?\"}]}";

/* The ids match.c scores, the kind each must have, and whose profile it is read from. */
static const struct {
	const char *id, *kind, *role; /* role NULL: both */
} scored[] = {
    {"workplace", "line", NULL},          {"industry", "line", "mentor"},
    {"wants_industry", "line", "mentee"}, {"offers", "words", "mentor"},
    {"expectations", "words", "mentee"},  {"values", "words", NULL},
    {"interests", "words", NULL},         {"communication", "words", NULL},
    {"personality", "words", NULL},       {"motivation", "scale", NULL},
    {"capacity", "scale", "mentor"},
};

const char *profile_form_default(const char *role)
{
	if (role && !strcmp(role, "mentee"))
		return default_mentee;
	if (role && !strcmp(role, "mentor"))
		return default_mentor;
	return NULL;
}

static int role_ok(const char *role)
{
	return role && (!strcmp(role, "mentor") || !strcmp(role, "mentee"));
}

static int id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n < 1 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)id[i]) && !isdigit((unsigned char)id[i]) &&
		    id[i] != '_')
			return 0;
	return 1;
}

static int str_ok(json_t *j, size_t max, int optional)
{
	const char *s = json_string_value(j);

	if (!j && optional)
		return 1;
	return s && s[0] && strlen(s) <= max && !strchr(s, '\n');
}

static int kind_ok(const char *k)
{
	return k && (!strcmp(k, "words") || !strcmp(k, "line") || !strcmp(k, "text") ||
	             !strcmp(k, "scale"));
}

/* NULL, or why question q cannot be in role's form. */
static const char *question_check(json_t *q, const char *role, json_t *ids)
{
	const char *id = json_string_value(json_object_get(q, "id"));
	const char *kind = json_string_value(json_object_get(q, "kind"));

	if (!json_is_object(q) || !id_ok(id))
		return "a question needs an id of 1 to 32 characters a-z, 0-9 or _";
	if (json_object_get(ids, id))
		return "two questions have the same id";
	json_object_set_new(ids, id, json_true());
	if (!str_ok(json_object_get(q, "text"), PROFILE_QTEXT_MAX, 0) ||
	    !str_ok(json_object_get(q, "text_pl"), PROFILE_QTEXT_MAX, 1))
		return "a question needs a text (and may have a text_pl) of 1 to 500 bytes on one "
		       "line";
	if (!kind_ok(kind))
		return "a question's kind is words, line, text or scale (1 to 5)";
	for (size_t i = 0; i < sizeof(scored) / sizeof(scored[0]); i++)
		if (!strcmp(scored[i].id, id) &&
		    (!scored[i].role || !strcmp(scored[i].role, role)) &&
		    strcmp(scored[i].kind, kind) != 0)
			return "a question the matching scores (docs/MATCHING.md) must keep its "
			       "kind: "
			       "workplace, industry and wants_industry are line; offers, "
			       "expectations, "
			       "values, interests, communication and personality are words; "
			       "motivation and capacity are scale";
	return NULL;
}

json_t *profile_form_parse(const char *text, const char *role, char *why, size_t len)
{
	json_t *f = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
	json_t *list = json_object_get(f, "questions"), *ids = json_object(), *x;
	const char *bad = NULL;
	size_t i;

	if (!role_ok(role))
		bad = "a profile is a mentor's or a mentee's";
	else if (!json_is_object(f))
		bad = "the questions are a JSON object";
	else if (!str_ok(json_object_get(f, "title"), PROFILE_TITLE_MAX, 0) ||
	         !str_ok(json_object_get(f, "title_pl"), PROFILE_TITLE_MAX, 1))
		bad = "the questions need a title of 1 to 200 bytes";
	else if (!json_is_array(list) || !json_array_size(list) ||
	         json_array_size(list) > PROFILE_QUESTIONS)
		bad = "there are 1 to 40 questions";
	json_array_foreach(list, i, x)
	{
		if (!bad && !ids)
			bad = "out of memory";
		if (!bad)
			bad = question_check(x, role, ids);
	}
	json_decref(ids);
	if (bad) {
		snprintf(why, len, "%s", bad);
		json_decref(f);
		return NULL;
	}
	return f;
}

static json_t *question_of(json_t *form, const char *id)
{
	json_t *q;
	size_t i;

	json_array_foreach(json_object_get(form, "questions"), i, q)
	{
		if (!strcmp(json_string_value(json_object_get(q, "id")), id))
			return q;
	}
	return NULL;
}

/* The words of a list or of "a, b, c". New reference, or NULL with why. */
static json_t *words_of(json_t *v, const char *id, char *why, size_t len)
{
	json_t *out = json_array(), *w;
	size_t i;

	if (json_is_string(v)) {
		char *s = strdup(json_string_value(v)), *save = NULL, *tok;

		for (tok = s ? strtok_r(s, ",", &save) : NULL; tok;
		     tok = strtok_r(NULL, ",", &save)) {
			char *e = tok + strlen(tok);

			while (*tok == ' ' || *tok == '\t')
				tok++;
			while (e > tok && (e[-1] == ' ' || e[-1] == '\t'))
				*--e = '\0';
			if (*tok)
				json_array_append_new(out, json_string(tok));
		}
		free(s);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, w)
		{
			if (json_is_string(w) && json_string_length(w))
				json_array_append(out, w);
			else {
				snprintf(why, len, "'%s': every word is text", id);
				json_decref(out);
				return NULL;
			}
		}
	} else {
		snprintf(why, len, "'%s': give words, comma-separated", id);
		json_decref(out);
		return NULL;
	}
	if (json_array_size(out) > PROFILE_WORDS) {
		snprintf(why, len, "'%s': at most %d words", id, PROFILE_WORDS);
		json_decref(out);
		return NULL;
	}
	json_array_foreach(out, i, w)
	{
		if (!json_string_value(w) || json_string_length(w) > PROFILE_WORD_MAX) {
			snprintf(why, len, "'%s': a word is at most %d bytes", id,
			         PROFILE_WORD_MAX);
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* One answer normalised; json_null() for "no answer"; NULL with why. New reference. */
static json_t *answer_norm(json_t *q, const char *id, json_t *v, char *why, size_t len)
{
	const char *kind = json_string_value(json_object_get(q, "kind"));
	const char *s = json_string_value(v);

	if (json_is_null(v) || (s && !s[0]))
		return json_null();
	if (!strcmp(kind, "words")) {
		json_t *w = words_of(v, id, why, len);

		if (w && !json_array_size(w)) {
			json_decref(w);
			return json_null();
		}
		return w;
	}
	if (!strcmp(kind, "scale")) {
		long long n = json_is_integer(v) ? (long long)json_integer_value(v) : 0;
		char *end = NULL;

		if (s) {
			n = strtoll(s, &end, 10);
			if (!end || *end)
				n = 0;
		}
		if (n < 1 || n > 5) {
			snprintf(why, len, "'%s' is a whole number from 1 to 5", id);
			return NULL;
		}
		return json_integer(n);
	}
	if (!s) {
		snprintf(why, len, "'%s' is text", id);
		return NULL;
	}
	if (!strcmp(kind, "line") && (strlen(s) > PROFILE_WORD_MAX || strchr(s, '\n'))) {
		snprintf(why, len, "'%s' is one line of at most %d bytes", id, PROFILE_WORD_MAX);
		return NULL;
	}
	if (strlen(s) > PROFILE_TEXT_MAX) {
		snprintf(why, len, "'%s' is at most %d bytes", id, PROFILE_TEXT_MAX);
		return NULL;
	}
	return json_string(s);
}

json_t *profile_answers_norm(json_t *form, json_t *answers, char *why, size_t len)
{
	json_t *out = json_object(), *v, *q, *n;
	const char *id;

	if (!json_is_object(answers)) {
		snprintf(why, len, "the answers are an object: {\"question id\": answer}");
		goto fail;
	}
	json_object_foreach(answers, id, v)
	{
		if (!(q = question_of(form, id))) {
			snprintf(why, len, "the questions have no '%.32s'", id);
			goto fail;
		}
		if (!(n = answer_norm(q, id, v, why, len)))
			goto fail;
		if (json_is_null(n))
			json_decref(n);
		else
			json_object_set_new(out, id, n);
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

size_t profile_form_sig_bytes(unsigned char out[PROFILE_FORM_SIG_MAX], int64_t programme,
                              const char *role, int64_t version, const char *doc)
{
	unsigned char *p = out;

	memcpy(p, PROFILE_FORM_LABEL, sizeof(PROFILE_FORM_LABEL)); /* with its NUL */
	p += sizeof(PROFILE_FORM_LABEL);
	p = envelope_put_u64(p, (uint64_t)programme);
	p = envelope_put_lp(p, role, strlen(role));
	p = envelope_put_u32(p, (uint32_t)version);
	crypto_generichash(p, 32, (const unsigned char *)doc, strlen(doc), NULL, 0);
	p += 32;
	return (size_t)(p - out);
}

size_t profile_ctx(unsigned char out[PROFILE_CTX_MAX], int64_t programme, const char *role,
                   int64_t author, int64_t form_version, int64_t written)
{
	unsigned char *p = out;

	p = envelope_put_u64(p, (uint64_t)programme);
	p = envelope_put_lp(p, role, strlen(role));
	p = envelope_put_u64(p, (uint64_t)author);
	p = envelope_put_u32(p, (uint32_t)form_version);
	p = envelope_put_u64(p, (uint64_t)written);
	return (size_t)(p - out);
}

void profile_fpr_of(const unsigned char sign_pk[32], const unsigned char box_pk[32],
                    char out[PROFILE_FPR_HEX + 1])
{
	char spaced[EM_FINGERPRINT_STRLEN];
	size_t n = 0;

	em_fingerprint(sign_pk, box_pk, spaced);
	for (size_t i = 0; spaced[i] && n < PROFILE_FPR_HEX; i++)
		if (isxdigit((unsigned char)spaced[i]))
			out[n++] = (char)tolower((unsigned char)spaced[i]);
	out[n] = '\0';
}

int profile_fpr_parse(const char *in, char out[PROFILE_FPR_HEX + 1])
{
	const char *m = in ? strstr(in, "m=") : NULL;
	size_t n = 0;

	if (!in)
		return -1;
	if (m && (m == in || m[-1] == '&' || m[-1] == '#' || m[-1] == '?'))
		in = m + 2;
	for (; *in && *in != '&'; in++) {
		if (*in == ' ' || *in == '-' || *in == ':')
			continue;
		if (!isxdigit((unsigned char)*in) || n == PROFILE_FPR_HEX)
			return -1;
		out[n++] = (char)tolower((unsigned char)*in);
	}
	out[n] = '\0';
	return n == PROFILE_FPR_HEX ? 0 : -1;
}

static json_t *anchor_entry(json_t *trust, int64_t programme, int create)
{
	json_t *all = json_object_get(trust, "profile_anchors"), *e;
	char key[24];

	if (!all && create) {
		all = json_object();
		if (!all || json_object_set_new(trust, "profile_anchors", all))
			return NULL;
	}
	snprintf(key, sizeof(key), "%lld", (long long)programme);
	e = json_object_get(all, key);
	if (!e && all && create) {
		e = json_object();
		if (!e || json_object_set_new(all, key, e))
			return NULL;
	}
	return json_is_object(e) ? e : NULL;
}

int profile_anchor_put(json_t *trust, int64_t programme, int64_t user, const char *fpr)
{
	char key[24];
	const char *have;
	json_t *e;

	if (programme < 1 || user < 1 || !fpr || strlen(fpr) != PROFILE_FPR_HEX)
		return -EINVAL;
	if (!(e = anchor_entry(trust, programme, 1)))
		return -ENOMEM;
	snprintf(key, sizeof(key), "%lld", (long long)user);
	have = json_string_value(json_object_get(e, key));
	if (have && !strcmp(have, fpr))
		return 0;
	return json_object_set_new(e, key, json_string(fpr)) ? -ENOMEM : 1;
}

const char *profile_anchor_get(json_t *trust, int64_t programme, int64_t user)
{
	char key[24];

	snprintf(key, sizeof(key), "%lld", (long long)user);
	return json_string_value(json_object_get(anchor_entry(trust, programme, 0), key));
}

int profile_seal(int64_t programme, const char *role, int64_t author, int64_t form_version,
                 int64_t written, const uint64_t *ids, const unsigned char (*box_pks)[32], size_t n,
                 const char *doc, const unsigned char sign_sk[64], unsigned char **out,
                 size_t *out_len)
{
	unsigned char ctx[PROFILE_CTX_MAX];
	size_t ctx_len = profile_ctx(ctx, programme, role, author, form_version, written);

	return envelope_seal(PROFILE_LABEL, ctx, ctx_len, (uint64_t)author, ids, box_pks, n,
	                     (const unsigned char *)doc, strlen(doc), sign_sk, out, out_len);
}

json_t *profile_open(const unsigned char *blob, size_t blob_len, int64_t programme,
                     const char *role, int64_t author, int64_t form_version, int64_t written,
                     const unsigned char author_pk[32], int64_t me,
                     const unsigned char me_box_pk[32], const unsigned char me_box_sk[32],
                     uint64_t ids[ENVELOPE_RECIPIENTS], size_t *n, char *why, size_t len)
{
	unsigned char ctx[PROFILE_CTX_MAX], *doc = NULL;
	size_t ctx_len, doc_len = 0, k;
	json_t *parsed = NULL, *form = NULL, *answers = NULL, *out = NULL;
	char *form_text = NULL;
	int rc, has_author = 0;

	*n = 0;
	if (!role_ok(role) || programme < 1 || author < 1 || form_version < 0) {
		snprintf(why, len, "the server's record is malformed");
		goto out;
	}
	ctx_len = profile_ctx(ctx, programme, role, author, form_version, written);
	rc = envelope_open(PROFILE_LABEL, ctx, ctx_len, (uint64_t)author, author_pk, (uint64_t)me,
	                   me_box_pk, me_box_sk, blob, blob_len, ids, n, &doc, &doc_len);
	if (rc == ENVELOPE_MALFORMED || rc == ENVELOPE_BAD_SIGNATURE) {
		snprintf(why, len,
		         "its signature does not verify with its author's pinned key for this "
		         "programme, role and author: it was altered, moved, or passed off as "
		         "someone else's");
		goto out;
	}
	for (k = 0; k < *n; k++)
		has_author |= ids[k] == (uint64_t)author;
	if (!has_author) {
		snprintf(why, len, "it is not sealed to its own author");
		goto out;
	}
	if (rc == ENVELOPE_NOT_RECIPIENT) {
		snprintf(why, len, "it is not sealed to you");
		goto out;
	}
	if (rc != ENVELOPE_OK ||
	    !(parsed = json_loadb((const char *)doc, doc_len, JSON_REJECT_DUPLICATES, NULL))) {
		snprintf(why, len, "it does not open with your key");
		goto out;
	}
	if (json_integer_value(json_object_get(parsed, "programme_id")) != programme ||
	    json_integer_value(json_object_get(parsed, "form_version")) != form_version ||
	    !json_string_value(json_object_get(parsed, "role")) ||
	    strcmp(json_string_value(json_object_get(parsed, "role")), role) != 0) {
		snprintf(why, len, "what it says inside does not match what its author signed");
		goto out;
	}
	form_text = json_dumps(json_object_get(parsed, "form"), JSON_COMPACT);
	if (!(form = profile_form_parse(form_text, role, why, len)))
		goto out;
	if (!(answers = profile_answers_norm(form, json_object_get(parsed, "answers"), why, len)))
		goto out;
	out = json_pack("{s:O, s:O}", "form", form, "answers", answers);
out:
	json_decref(answers);
	json_decref(form);
	free(form_text);
	if (parsed) {
		json_object_clear(parsed);
		json_decref(parsed);
	}
	if (doc) {
		sodium_memzero(doc, doc_len);
		free(doc);
	}
	return out;
}

json_t *profile_match_input(json_t *opened)
{
	json_t *out = json_pack("{s:[], s:[]}", "mentors", "mentees"), *o, *p;
	const char *id;
	size_t i, k;

	json_array_foreach(opened, i, o)
	{
		const char *role = json_string_value(json_object_get(o, "role"));
		json_t *answers = json_object_get(o, "answers"), *v;

		if (!out || !json_is_true(json_object_get(o, "verified")) || !role_ok(role))
			continue;
		p = json_pack("{s:O}", "username", json_object_get(o, "username"));
		for (k = 0; p && k < sizeof(scored) / sizeof(scored[0]); k++) {
			id = scored[k].id;
			if (scored[k].role && strcmp(scored[k].role, role) != 0)
				continue;
			if ((v = json_object_get(answers, id)))
				json_object_set(p, id, v);
		}
		if (p)
			json_array_append_new(
			    json_object_get(out, !strcmp(role, "mentor") ? "mentors" : "mentees"),
			    p);
	}
	return out;
}
