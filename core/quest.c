/*
 * quest.c - the monitoring questionnaires' pure logic (docs/PROTOCOL.md
 * section 11): the built-in defaults, checking a questionnaire and an
 * answer, the bytes a manager signs, and the aggregates and comparisons a
 * manager's client shows.
 *
 * DESIGN. The course gives each mentee an initial questionnaire (needs and
 * expectations of the process, strengths and weaknesses, what they would
 * share with the group) and its complement, a final one (where they
 * started, how they worked together, what worked, what they gained,
 * problems, what they would change, next steps) that tells the manager how
 * the needs were met. Both defaults are built into the client in English
 * and Polish (the programme's agreement_lang picks one; a server that picks
 * the other language changes no meaning and the answer names the text's
 * hash). A questionnaire is JSON text, and the exact bytes are what a
 * manager signs and an answer names by hash, so nobody can change the
 * questions under an answer. Questions with the same id in the initial and
 * the final questionnaire are compared per mentee ("position": the course's
 * 4-10 scale). Pure; any thread.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "quest.h"

#define QUEST_SIG_LABEL "ementor questionnaire v1"

static const char default_initial_en[] =
    "{\"title\":\"Initial monitoring "
    "questionnaire\",\"questions\":[{\"id\":\"expectations\",\"kind\":\"text\",\"text\":\"What do "
    "you expect from this mentoring process?\"},"
    "{\"id\":\"needs\",\"kind\":\"text\",\"text\":\"What do you need most from your mentor and "
    "from the group?\"},"
    "{\"id\":\"confidence\",\"kind\":\"scale\",\"text\":\"How confident are you today that you "
    "will reach your goals? (1 = not at all, 5 = fully)\",\"min\":1,\"max\":5},"
    "{\"id\":\"position\",\"kind\":\"scale\",\"text\":\"Where are you now on the scale from 4 to "
    "10?\",\"min\":4,\"max\":10},"
    "{\"id\":\"strengths\",\"kind\":\"text\",\"text\":\"What are your strengths?\"},"
    "{\"id\":\"weaknesses\",\"kind\":\"text\",\"text\":\"What are your weaknesses: what would you "
    "like to improve?\"},"
    "{\"id\":\"share\",\"kind\":\"text\",\"text\":\"What would you like to share with the "
    "group?\"},"
    "{\"id\":\"format\",\"kind\":\"choice\",\"text\":\"Which way of meeting suits you "
    "best?\",\"options\":[\"face to face\",\"online\",\"both\"]}]}";

static const char default_final_en[] =
    "{\"title\":\"Final monitoring "
    "questionnaire\",\"questions\":[{\"id\":\"start\",\"kind\":\"text\",\"text\":\"Where did you "
    "start: what did you need at the beginning?\"},"
    "{\"id\":\"needs_met\",\"kind\":\"scale\",\"text\":\"How well were your needs met? (1 = not at "
    "all, 5 = fully)\",\"min\":1,\"max\":5},"
    "{\"id\":\"position\",\"kind\":\"scale\",\"text\":\"Where are you now on the scale from 4 to "
    "10?\",\"min\":4,\"max\":10},"
    "{\"id\":\"together\",\"kind\":\"text\",\"text\":\"How did you work together?\"},"
    "{\"id\":\"worked\",\"kind\":\"text\",\"text\":\"What worked well?\"},"
    "{\"id\":\"gained\",\"kind\":\"text\",\"text\":\"What did you gain?\"},"
    "{\"id\":\"problems\",\"kind\":\"text\",\"text\":\"What problems did you meet?\"},"
    "{\"id\":\"change\",\"kind\":\"text\",\"text\":\"What would you change?\"},"
    "{\"id\":\"next\",\"kind\":\"text\",\"text\":\"What are your next steps?\"},"
    "{\"id\":\"recommend\",\"kind\":\"choice\",\"text\":\"Would you recommend mentoring to "
    "others?\",\"options\":[\"yes\",\"maybe\",\"no\"]}]}";

static const char default_initial_pl[] =
    "{\"title\":\"Początkowa ankieta "
    "monitorująca\",\"questions\":[{\"id\":\"expectations\",\"kind\":\"text\",\"text\":\"Czego "
    "oczekujesz od tego procesu mentoringu?\"},"
    "{\"id\":\"needs\",\"kind\":\"text\",\"text\":\"Czego najbardziej potrzebujesz od mentora i od "
    "grupy?\"},"
    "{\"id\":\"confidence\",\"kind\":\"scale\",\"text\":\"Jak bardzo jesteś dziś pewien lub pewna, "
    "że osiągniesz swoje cele? (1 = wcale, 5 = całkowicie)\",\"min\":1,\"max\":5},"
    "{\"id\":\"position\",\"kind\":\"scale\",\"text\":\"Gdzie jesteś teraz na skali od 4 do "
    "10?\",\"min\":4,\"max\":10},"
    "{\"id\":\"strengths\",\"kind\":\"text\",\"text\":\"Jakie są Twoje mocne strony?\"},"
    "{\"id\":\"weaknesses\",\"kind\":\"text\",\"text\":\"Jakie są Twoje słabe strony: co chcesz "
    "poprawić?\"},"
    "{\"id\":\"share\",\"kind\":\"text\",\"text\":\"Czym chcesz podzielić się z grupą?\"},"
    "{\"id\":\"format\",\"kind\":\"choice\",\"text\":\"Jaka forma spotkań najbardziej Ci "
    "odpowiada?\",\"options\":[\"osobiście\",\"online\",\"obie\"]}]}";

static const char default_final_pl[] =
    "{\"title\":\"Końcowa ankieta "
    "monitorująca\",\"questions\":[{\"id\":\"start\",\"kind\":\"text\",\"text\":\"Od czego "
    "zaczynałeś lub zaczynałaś: czego potrzebowałeś lub potrzebowałaś na początku?\"},"
    "{\"id\":\"needs_met\",\"kind\":\"scale\",\"text\":\"W jakim stopniu Twoje potrzeby zostały "
    "zaspokojone? (1 = wcale, 5 = w pełni)\",\"min\":1,\"max\":5},"
    "{\"id\":\"position\",\"kind\":\"scale\",\"text\":\"Gdzie jesteś teraz na skali od 4 do "
    "10?\",\"min\":4,\"max\":10},"
    "{\"id\":\"together\",\"kind\":\"text\",\"text\":\"Jak wyglądała Wasza współpraca?\"},"
    "{\"id\":\"worked\",\"kind\":\"text\",\"text\":\"Co się sprawdziło?\"},"
    "{\"id\":\"gained\",\"kind\":\"text\",\"text\":\"Co zyskałeś lub zyskałaś?\"},"
    "{\"id\":\"problems\",\"kind\":\"text\",\"text\":\"Jakie problemy napotkałeś lub "
    "napotkałaś?\"},"
    "{\"id\":\"change\",\"kind\":\"text\",\"text\":\"Co byś zmienił lub zmieniła?\"},"
    "{\"id\":\"next\",\"kind\":\"text\",\"text\":\"Jakie są Twoje kolejne kroki?\"},"
    "{\"id\":\"recommend\",\"kind\":\"choice\",\"text\":\"Czy poleciłbyś lub poleciłabyś mentoring "
    "innym?\",\"options\":[\"tak\",\"może\",\"nie\"]}]}";

int quest_stage_ok(const char *s)
{
	return s && (!strcmp(s, "initial") || !strcmp(s, "final"));
}

const char *quest_default(const char *stage, const char *lang)
{
	int pl = lang && !strcmp(lang, "pl"), fin = stage && !strcmp(stage, "final");

	return pl ? (fin ? default_final_pl : default_initial_pl)
	          : (fin ? default_final_en : default_initial_en);
}

void quest_hash(const char *text, unsigned char h[QUEST_HASH_BYTES])
{
	crypto_generichash(h, QUEST_HASH_BYTES, (const unsigned char *)text, strlen(text), NULL, 0);
}

int quest_default_of(const unsigned char h[QUEST_HASH_BYTES], const char **stage, const char **lang)
{
	static const char *const stages[] = {"initial", "final"}, *const langs[] = {"en", "pl"};
	unsigned char d[QUEST_HASH_BYTES];

	for (int s = 0; s < 2; s++)
		for (int l = 0; l < 2; l++) {
			quest_hash(quest_default(stages[s], langs[l]), d);
			if (!sodium_memcmp(d, h, QUEST_HASH_BYTES)) {
				*stage = stages[s];
				*lang = langs[l];
				return 1;
			}
		}
	return 0;
}

static int id_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 1 || n > QUEST_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
			return 0;
	return 1;
}

static int str_ok(const json_t *j, size_t max)
{
	const char *s = json_string_value(j);

	return s && s[0] && strlen(s) <= max;
}

/* Checks one question; NULL or why. */
static const char *question_check(json_t *q, json_t *ids)
{
	const char *id = json_string_value(json_object_get(q, "id"));
	const char *kind = json_string_value(json_object_get(q, "kind"));
	json_t *min = json_object_get(q, "min"), *max = json_object_get(q, "max");
	json_t *options = json_object_get(q, "options"), *o, *p;
	size_t i, k;

	if (!json_is_object(q) || !id_ok(id))
		return "a question needs an id of 1 to 32 characters a-z, 0-9 or _";
	if (json_object_get(ids, id))
		return "two questions have the same id";
	json_object_set_new(ids, id, json_true());
	if (!str_ok(json_object_get(q, "text"), QUEST_QTEXT_MAX))
		return "a question needs a text of 1 to 500 bytes";
	if (!kind)
		return "a question's kind is scale, choice or text";
	if (!strcmp(kind, "scale")) {
		if (!json_is_integer(min) || !json_is_integer(max) || json_integer_value(min) < 0 ||
		    json_integer_value(max) <= json_integer_value(min) ||
		    json_integer_value(max) - json_integer_value(min) > QUEST_SCALE_SPAN ||
		    json_integer_value(max) > 100)
			return "a scale question needs whole bounds 0 <= min < max <= 100, at most "
			       "20 "
			       "apart";
		return NULL;
	}
	if (!strcmp(kind, "choice")) {
		if (!json_is_array(options) || json_array_size(options) < 2 ||
		    json_array_size(options) > QUEST_OPTIONS_MAX)
			return "a choice question needs 2 to 12 options";
		json_array_foreach(options, i, o)
		{
			if (!str_ok(o, QUEST_OPTION_MAX))
				return "an option is 1 to 100 bytes of text";
			for (k = 0; k < i; k++) {
				p = json_array_get(options, k);
				if (!strcmp(json_string_value(p), json_string_value(o)))
					return "two options of a question are the same";
			}
		}
		return NULL;
	}
	if (!strcmp(kind, "text"))
		return NULL;
	return "a question's kind is scale, choice or text";
}

json_t *quest_parse(const char *text, char *why, size_t len)
{
	json_t *q = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
	json_t *list = json_object_get(q, "questions"), *ids = json_object(), *x;
	const char *bad = NULL;
	size_t i;

	if (!json_is_object(q))
		bad = "a questionnaire is a JSON object";
	else if (!str_ok(json_object_get(q, "title"), QUEST_TITLE_MAX))
		bad = "a questionnaire needs a title of 1 to 200 bytes";
	else if (!json_is_array(list) || json_array_size(list) < 1 ||
	         json_array_size(list) > QUEST_QUESTIONS_MAX)
		bad = "a questionnaire has 1 to 40 questions";
	else
		json_array_foreach(list, i, x)
		{
			if ((bad = question_check(x, ids)))
				break;
		}
	json_decref(ids);
	if (bad) {
		snprintf(why, len, "%s", bad);
		json_decref(q);
		return NULL;
	}
	return q;
}

/* The question of a parsed questionnaire with id, or NULL. */
static json_t *question_of(const json_t *quest, const char *id)
{
	json_t *q;
	size_t i;

	json_array_foreach(json_object_get(quest, "questions"), i, q)
	{
		if (!strcmp(json_string_value(json_object_get(q, "id")), id))
			return q;
	}
	return NULL;
}

/* Whether value is a fit answer to question q. */
static int answer_fits(const json_t *q, const json_t *value)
{
	const char *kind = json_string_value(json_object_get(q, "kind"));
	json_t *o;
	size_t i;

	if (!strcmp(kind, "scale"))
		return json_is_integer(value) &&
		       json_integer_value(value) >= json_integer_value(json_object_get(q, "min")) &&
		       json_integer_value(value) <= json_integer_value(json_object_get(q, "max"));
	if (!strcmp(kind, "choice")) {
		if (!json_is_string(value))
			return 0;
		json_array_foreach(json_object_get(q, "options"), i, o)
		{
			if (!strcmp(json_string_value(o), json_string_value(value)))
				return 1;
		}
		return 0;
	}
	return str_ok(value, QUEST_ANSWER_TEXT_MAX);
}

int quest_answers_ok(const json_t *quest, const json_t *answers, char *why, size_t len)
{
	const char *id;
	json_t *value, *q;

	if (!json_is_object(answers) || json_object_size(answers) == 0) {
		snprintf(why, len, "no answers");
		return 0;
	}
	json_object_foreach((json_t *)answers, id, value)
	{
		if (!(q = question_of(quest, id))) {
			snprintf(why, len, "the questionnaire has no question '%.32s'", id);
			return 0;
		}
		if (!answer_fits(q, value)) {
			const char *kind = json_string_value(json_object_get(q, "kind"));

			if (!strcmp(kind, "scale"))
				snprintf(why, len, "'%.32s' is a whole number from %lld to %lld",
				         id,
				         (long long)json_integer_value(json_object_get(q, "min")),
				         (long long)json_integer_value(json_object_get(q, "max")));
			else if (!strcmp(kind, "choice"))
				snprintf(why, len, "'%.32s' is one of the question's options", id);
			else
				snprintf(why, len, "'%.32s' is a text of 1 to 4000 bytes", id);
			return 0;
		}
	}
	return 1;
}

size_t quest_sig_bytes(unsigned char out[QUEST_SIG_BYTES_MAX], int64_t programme, const char *stage,
                       int64_t version, const char *text)
{
	unsigned char *p = out;

	memcpy(p, QUEST_SIG_LABEL, sizeof(QUEST_SIG_LABEL)); /* with its 0x00 */
	p += sizeof(QUEST_SIG_LABEL);
	p = envelope_put_u64(p, (uint64_t)programme);
	p = envelope_put_lp(p, stage, strlen(stage));
	p = envelope_put_u32(p, (uint32_t)version);
	quest_hash(text, p);
	p += QUEST_HASH_BYTES;
	return (size_t)(p - out);
}

json_t *quest_aggregate(const json_t *quest, const json_t *answers)
{
	json_t *out = json_array(), *q, *a;
	size_t i, k;

	json_array_foreach(json_object_get(quest, "questions"), i, q)
	{
		const char *id = json_string_value(json_object_get(q, "id"));
		const char *kind = json_string_value(json_object_get(q, "kind"));
		json_t *item = json_pack("{s:s, s:s, s:O}", "id", id, "kind", kind, "text",
		                         json_object_get(q, "text"));
		json_int_t n = 0;

		if (!strcmp(kind, "scale")) {
			json_int_t lo = json_integer_value(json_object_get(q, "min"));
			json_int_t hi = json_integer_value(json_object_get(q, "max")), sum = 0;
			json_t *dist = json_object();
			char key[24];

			for (json_int_t v = lo; v <= hi; v++) {
				snprintf(key, sizeof(key), "%lld", (long long)v);
				json_object_set_new(dist, key, json_integer(0));
			}
			json_array_foreach(answers, k, a)
			{
				json_t *v = json_object_get(json_object_get(a, "answers"), id);

				if (!answer_fits(q, v))
					continue;
				snprintf(key, sizeof(key), "%lld",
				         (long long)json_integer_value(v));
				json_object_set_new(
				    dist, key,
				    json_integer(json_integer_value(json_object_get(dist, key)) +
				                 1));
				sum += json_integer_value(v);
				n++;
			}
			json_object_set_new(item, "mean",
			                    n ? json_real((double)sum / (double)n) : json_null());
			json_object_set_new(item, "distribution", dist);
		} else if (!strcmp(kind, "choice")) {
			json_t *counts = json_object(), *o;

			json_array_foreach(json_object_get(q, "options"), k, o)
			{
				json_object_set_new(counts, json_string_value(o), json_integer(0));
			}
			json_array_foreach(answers, k, a)
			{
				json_t *v = json_object_get(json_object_get(a, "answers"), id);
				const char *s = json_string_value(v);

				if (!answer_fits(q, v))
					continue;
				json_object_set_new(
				    counts, s,
				    json_integer(json_integer_value(json_object_get(counts, s)) +
				                 1));
				n++;
			}
			json_object_set_new(item, "counts", counts);
		} else {
			json_t *texts = json_array();

			json_array_foreach(answers, k, a)
			{
				json_t *v = json_object_get(json_object_get(a, "answers"), id);

				if (!answer_fits(q, v))
					continue;
				json_array_append_new(
				    texts, json_pack("{s:O?, s:O}", "username",
				                     json_object_get(a, "username"), "text", v));
				n++;
			}
			json_object_set_new(item, "answers", texts);
		}
		json_object_set_new(item, "n", json_integer(n));
		json_array_append_new(out, item);
	}
	return json_pack("{s:I, s:o}", "respondents", (json_int_t)json_array_size(answers),
	                 "questions", out);
}

json_t *quest_compare(const json_t *initial_q, const json_t *final_q, const json_t *initial_a,
                      const json_t *final_a)
{
	json_t *out = json_array(), *q, *f;
	size_t i;

	json_array_foreach(json_object_get(initial_q, "questions"), i, q)
	{
		const char *id = json_string_value(json_object_get(q, "id"));
		const char *kind = json_string_value(json_object_get(q, "kind"));
		json_t *a = json_object_get(initial_a, id), *b, *item;

		f = question_of(final_q, id);
		if (!f || strcmp(kind, json_string_value(json_object_get(f, "kind"))) != 0)
			continue;
		b = json_object_get(final_a, id);
		a = answer_fits(q, a) ? a : NULL;
		b = answer_fits(f, b) ? b : NULL;
		if (!a && !b)
			continue;
		item = json_pack("{s:s, s:s, s:O, s:O}", "id", id, "kind", kind, "initial",
		                 a ? a : json_null(), "final", b ? b : json_null());
		if (a && b && !strcmp(kind, "scale"))
			json_object_set_new(
			    item, "change",
			    json_integer(json_integer_value(b) - json_integer_value(a)));
		json_array_append_new(out, item);
	}
	return out;
}
