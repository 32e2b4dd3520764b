/*
 * mail_text.c - the e-mails themselves (mail_text.h): fixed sentences in
 * English and Polish, filled only with numbers, times, a few fixed words and
 * links, so that no e-mail can carry a message, a topic, a diary's text, a
 * place, a reason or a name. Whatever the database holds, a param is used
 * only if it has the one shape expected of it; otherwise the message is not
 * made at all. Pure: no I/O, any thread.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "mail_text.h"

/* ---- address syntax and backoff ---------------------------------------------------- */

static int local_char_ok(unsigned char c)
{
	return isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL;
}

int mail_address_ok(const char *addr)
{
	const char *at, *p, *label;
	size_t n, labels = 0;

	if (!addr || (n = strlen(addr)) < 3 || n > MAIL_ADDRESS_MAX)
		return 0;
	at = strchr(addr, '@');
	if (!at || at == addr || at - addr > 64 || strchr(at + 1, '@'))
		return 0;
	for (p = addr; p < at; p++)
		if (!local_char_ok((unsigned char)*p))
			return 0;
	if (addr[0] == '.' || at[-1] == '.' || strstr(addr, "..") != NULL)
		return 0;
	for (label = p = at + 1;; p++) {
		if (*p == '.' || *p == '\0') {
			size_t len = (size_t)(p - label);

			if (len == 0 || len > 63 || label[0] == '-' || p[-1] == '-')
				return 0;
			labels++;
			if (*p == '\0')
				break;
			label = p + 1;
		} else if (!isalnum((unsigned char)*p) && *p != '-') {
			return 0;
		}
	}
	return labels >= 2;
}

int64_t mail_backoff_s(int attempts, int base_s, int cap_s)
{
	int64_t s = base_s > 0 ? base_s : 1;

	for (int i = 1; i < attempts && s < cap_s; i++)
		s *= 2;
	return s < cap_s ? s : cap_s;
}

/* ---- a growing string -------------------------------------------------------------- */

struct buf {
	char *s;
	size_t len, cap;
	int failed;
};

static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
		char *s = realloc(b->s, cap);

		if (!s) {
			b->failed = 1;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

/* ---- params, each in its one shape ------------------------------------------------- */

static int param_id(const json_t *params, const char *name, long long *out)
{
	const json_t *v = json_object_get(params, name);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (long long)json_integer_value(v);
	return 0;
}

/* "YYYY-MM-DDTHH:MM[:SS]Z" -> "YYYY-MM-DD HH:MM UTC" */
static int param_time(const json_t *params, const char *name, char out[32])
{
	const char *s = json_string_value(json_object_get(params, name));
	static const char shape[] = "dddd-dd-ddTdd:dd";

	if (!s || strlen(s) < sizeof(shape) - 1 || s[strlen(s) - 1] != 'Z' || strlen(s) > 20)
		return -1;
	for (size_t i = 0; i < sizeof(shape) - 1; i++)
		if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
			return -1;
	snprintf(out, 32, "%.10s %.5s UTC", s, s + 11);
	return 0;
}

/* One of `words` (NULL-terminated), or -1. */
static int param_word(const json_t *params, const char *name, const char *const *words)
{
	const char *s = json_string_value(json_object_get(params, name));

	for (int i = 0; s && words[i]; i++)
		if (!strcmp(s, words[i]))
			return i;
	return -1;
}

/* An invite or verification code: base64url text, 6 to 64 characters. */
static const char *param_code(const json_t *params)
{
	const char *s = json_string_value(json_object_get(params, "code"));
	size_t n = s ? strlen(s) : 0;

	if (n < 6 || n > 64)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return NULL;
	return s;
}

/* ---- the sentences ----------------------------------------------------------------- */

enum lang { EN, PL };

static const char *const checkpoint_kinds[] = {"initial", "midterm", "final", "session", NULL};
static const char *const checkpoint_words[2][4] = {
    {"initial meeting", "mid-term meeting", "final meeting", "meeting"},
    {"spotkanie początkowe", "spotkanie śródokresowe", "spotkanie końcowe", "spotkanie"}};
static const char *const roles[] = {"mentor", "mentee", "manager", NULL};
static const char *const role_words[2][3] = {{"mentor", "mentee", "programme manager"},
                                             {"mentor", "mentee", "koordynator programu"}};
static const char *const meeting_events[] = {"checkpoint.proposed",
                                             "checkpoint.confirmed",
                                             "checkpoint.rescheduled",
                                             "checkpoint.cancelled",
                                             "reminder",
                                             NULL};
static const char *const diary_events[] = {"diary.writer", "diary.missing", NULL};

/* Subject and body of one kind; 0, or -1 when a param is missing or malformed. */
static int render_text(const struct mail_in *in, enum lang l, struct buf *subject, struct buf *body)
{
	const json_t *pa = in->params;
	const char *code;
	long long room = 0, n = 0;
	char when[32];
	int k, e;

	if (!strcmp(in->kind, "verify")) {
		if (!(code = param_code(pa)))
			return -1;
		buf_printf(subject, l == PL ? "Potwierdź swój adres e-mail w ementor"
		                            : "Confirm your e-mail address for ementor");
		buf_printf(body,
		           l == PL
		               ? "Ktoś (mamy nadzieję, że Ty) poprosił ementor o wysyłanie "
		                 "wiadomości na ten adres.\r\n\r\nTwój kod: %s\r\n\r\n"
		                 "Wpisz go poleceniem:\r\n  ementor notify verify %s\r\n"
		                 "albo otwórz:\r\n  %s/#verify=%s\r\n\r\n"
		                 "Jeśli to nie Ty, zignoruj tę wiadomość: nic więcej nie "
		                 "przyjdzie na ten adres.\r\n"
		               : "Someone (we hope you) asked ementor to send e-mail to this "
		                 "address.\r\n\r\nYour code: %s\r\n\r\nEnter it with:\r\n"
		                 "  ementor notify verify %s\r\nor open:\r\n  %s/#verify=%s\r\n\r\n"
		                 "If it was not you, ignore this e-mail: nothing more will come "
		                 "to this address.\r\n",
		           code, code, in->public_url, code);
		return 0;
	}
	if (!strcmp(in->kind, "invite")) {
		if (!(code = param_code(pa)) || (k = param_word(pa, "role", roles)) < 0 ||
		    param_time(pa, "expires_at", when))
			return -1;
		buf_printf(subject, l == PL ? "Zaproszenie do programu mentoringowego"
		                            : "You are invited to a mentoring programme");
		buf_printf(body,
		           l == PL
		               ? "Zapraszamy Cię do programu mentoringowego w ementor (rola: "
		                 "%s).\r\n\r\nOtwórz ten link, aby założyć konto:\r\n  "
		                 "%s/#join=%s\r\n\r\nAlbo w kliencie wiersza poleceń:\r\n"
		                 "  ementor register --invite '%s/#join=%s' --username LOGIN\r\n"
		                 "\r\nZaproszenie jest tylko dla Ciebie i wygasa %s.\r\n"
		               : "You are invited to join a mentoring programme on ementor as "
		                 "a %s.\r\n\r\nOpen this link to create your account:\r\n  "
		                 "%s/#join=%s\r\n\r\nOr, with the command-line client:\r\n"
		                 "  ementor register --invite '%s/#join=%s' --username NAME\r\n"
		                 "\r\nThe invitation is for you alone and expires on %s.\r\n",
		           role_words[l][k], in->public_url, code, in->public_url, code, when);
		return 0;
	}
	if (!strcmp(in->kind, "reset")) {
		if (!(code = param_code(pa)) || param_time(pa, "expires_at", when))
			return -1;
		buf_printf(subject, l == PL ? "Nowe hasło i nowe klucze w ementor"
		                            : "A new password and new keys for ementor");
		buf_printf(
		    body,
		    l == PL
		        ? "Koordynator Twojego programu wydał kod, którym ustawisz nowe hasło "
		          "i nową tożsamość (nowe klucze).\r\n\r\nOtwórz:\r\n  %s/#reset=%s"
		          "\r\n\r\nAlbo w kliencie wiersza poleceń:\r\n  ementor reset "
		          "--code %s LOGIN\r\n\r\nStarych wiadomości nie odczytasz nowymi "
		          "kluczami; osoby z Twoich pokoi zobaczą zmianę kluczy i sprawdzą ją z "
		          "Tobą. Kod działa raz i wygasa %s. Jeśli o niego nie prosiłeś, "
		          "powiedz o tym koordynatorowi.\r\n"
		        : "A manager of your programme issued a code with which you set a new "
		          "password and a new identity (new keys).\r\n\r\nOpen:\r\n  "
		          "%s/#reset=%s\r\n\r\nOr, with the command-line client:\r\n  "
		          "ementor reset --code %s NAME\r\n\r\nYour new keys cannot open old "
		          "messages; the people of your rooms will see your keys change and "
		          "check them with you. The code works once and expires on %s. If you "
		          "did not ask for it, tell your programme's manager.\r\n",
		    in->public_url, code, code, when);
		return 0;
	}
	if (param_id(pa, "room_id", &room))
		return -1;
	if (!strcmp(in->kind, "meeting")) {
		const char *what;

		if ((e = param_word(pa, "event", meeting_events)) < 0 ||
		    (k = param_word(pa, "checkpoint_kind", checkpoint_kinds)) < 0)
			return -1;
		what = checkpoint_words[l][k];
		if ((e == 1 || e == 4) && param_time(pa, "starts_at", when))
			return -1;
		switch (e) {
		case 0:
			buf_printf(subject,
			           l == PL ? "Propozycja terminu: %s" : "A time proposed: %s",
			           what);
			buf_printf(body,
			           l == PL
			               ? "Zaproponowano termin (%s, pokój %lld). Odpowiedz w "
			                 "ementor.\r\n"
			               : "A time was proposed for your %s in room %lld. Answer it "
			                 "in ementor.\r\n",
			           what, room);
			break;
		case 1:
			buf_printf(subject, l == PL ? "Potwierdzono: %s, %s" : "Confirmed: %s, %s",
			           what, when);
			buf_printf(body,
			           l == PL ? "Potwierdzono termin (%s, pokój %lld): %s.\r\n"
			                   : "Your %s in room %lld is confirmed for %s.\r\n",
			           what, room, when);
			break;
		case 2:
			buf_printf(subject, l == PL ? "Przełożono: %s" : "Moved: %s", what);
			buf_printf(body,
			           l == PL
			               ? "Przełożono termin (%s, pokój %lld); potrzebny jest nowy."
			                 "\r\n"
			               : "Your %s in room %lld was moved; it needs a new time.\r\n",
			           what, room);
			break;
		case 3:
			buf_printf(subject, l == PL ? "Odwołano: %s" : "Cancelled: %s", what);
			buf_printf(body,
			           l == PL ? "Odwołano termin (%s, pokój %lld).\r\n"
			                   : "Your %s in room %lld was cancelled.\r\n",
			           what, room);
			break;
		default:
			buf_printf(subject, l == PL ? "Przypomnienie: %s, %s" : "Reminder: %s, %s",
			           what, when);
			buf_printf(body,
			           l == PL ? "Przypomnienie: %s (pokój %lld) zaczyna się %s.\r\n"
			                   : "Reminder: your %s in room %lld starts at %s.\r\n",
			           what, room, when);
			break;
		}
	} else if (!strcmp(in->kind, "agreement")) {
		if (param_id(pa, "version", &n))
			return -1;
		buf_printf(subject, l == PL ? "Umowa czeka na Twój podpis"
		                            : "An agreement waits for your signature");
		buf_printf(body,
		           l == PL ? "Wersja %lld umowy pokoju %lld czeka na Twój podpis. "
		                     "Przeczytaj ją i podpisz w ementor.\r\n"
		                   : "Version %lld of the agreement of room %lld waits for your "
		                     "signature. Read it and sign it in ementor.\r\n",
		           n, room);
	} else if (!strcmp(in->kind, "diary")) {
		if ((e = param_word(pa, "event", diary_events)) < 0)
			return -1;
		k = param_word(pa, "checkpoint_kind", checkpoint_kinds);
		if (k < 0)
			k = 3;
		if (e == 0) {
			buf_printf(subject, l == PL ? "Wybrano Cię do napisania dziennika spotkania"
			                            : "You were chosen to write a meeting's diary");
			buf_printf(body,
			           l == PL
			               ? "Wybrano Cię do napisania dziennika (%s, pokój %lld).\r\n"
			               : "You were chosen to write the diary of a %s in room "
			                 "%lld.\r\n",
			           checkpoint_words[l][k], room);
		} else {
			buf_printf(subject, l == PL ? "Czas na wpis w dzienniku spotkania"
			                            : "A meeting's diary entry is due");
			buf_printf(body,
			           l == PL ? "Czas na wpis w dzienniku (%s, pokój %lld).\r\n"
			                   : "The diary entry of a %s in room %lld is due.\r\n",
			           checkpoint_words[l][k], room);
		}
	} else if (!strcmp(in->kind, "digest")) {
		if (param_id(pa, "unread", &n) || n < 1)
			return -1;
		buf_printf(subject, l == PL ? "Nieprzeczytane wiadomości w pokoju mentoringowym"
		                            : "Unread messages in your mentoring room");
		if (l == PL)
			buf_printf(body, "Nieprzeczytane wiadomości w pokoju %lld: %lld.\r\n", room,
			           n);
		else
			buf_printf(body, "You have %lld unread message%s in room %lld.\r\n", n,
			           n == 1 ? "" : "s", room);
	} else {
		return -1;
	}
	buf_printf(body,
	           l == PL ? "\r\nOtwórz:\r\n  %s/#room=%lld\r\n"
	                   : "\r\nOpen:\r\n  %s/#room=%lld\r\n",
	           in->public_url, room);
	return 0;
}

/* ---- the message ------------------------------------------------------------------- */

static int is_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	return 1;
}

/* base64 of bytes into b, in lines of at most 76 characters */
static void buf_base64(struct buf *b, const char *s, size_t n, int lines)
{
	char enc[80];

	for (size_t off = 0; off < n; off += 57) {
		size_t chunk = n - off < 57 ? n - off : 57;

		sodium_bin2base64(enc, sizeof(enc), (const unsigned char *)s + off, chunk,
		                  sodium_base64_VARIANT_ORIGINAL);
		buf_printf(b, lines ? "%s\r\n" : "%s", enc);
	}
}

char *mail_render(const struct mail_in *in)
{
	struct buf subject = {0}, body = {0}, msg = {0};
	enum lang l = in->lang && !strcmp(in->lang, "pl") ? PL : EN;
	char date[64];
	struct tm tm;

	if (!in->kind || !json_is_object(in->params) || !mail_address_ok(in->to) ||
	    !mail_address_ok(in->from) || !in->message_id || strpbrk(in->message_id, "\r\n") ||
	    !in->public_url || strpbrk(in->public_url, "\r\n") ||
	    render_text(in, l, &subject, &body))
		goto out;
	if (in->unsub_token) {
		buf_printf(&body,
		           l == PL
		               ? "\r\n-- \r\nTa wiadomość nie zawiera treści: wszystko "
		                 "przeczytasz w ementor, szyfrowane end-to-end.\r\nWybierz, "
		                 "jakie wiadomości dostajesz: ementor notify settings\r\n"
		                 "Wyłącz wszystkie wiadomości z ementor:\r\n  %s/unsubscribe/%s\r\n"
		               : "\r\n-- \r\nThis e-mail holds no content: read everything in "
		                 "ementor, end-to-end encrypted.\r\nChoose which e-mails you get: "
		                 "ementor notify settings\r\nStop all e-mail from ementor:\r\n"
		                 "  %s/unsubscribe/%s\r\n",
		           in->public_url, in->unsub_token);
	}
	if (subject.failed || body.failed)
		goto out;
	gmtime_r(&in->date, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	buf_printf(&msg, "From: ementor <%s>\r\nTo: <%s>\r\nSubject: ", in->from, in->to);
	if (is_ascii(subject.s, subject.len)) {
		buf_printf(&msg, "%s", subject.s);
	} else {
		buf_printf(&msg, "=?UTF-8?B?");
		buf_base64(&msg, subject.s, subject.len, 0);
		buf_printf(&msg, "?=");
	}
	buf_printf(&msg,
	           "\r\nDate: %s\r\nMessage-ID: %s\r\nMIME-Version: 1.0\r\n"
	           "Content-Type: text/plain; charset=utf-8\r\n"
	           "Content-Transfer-Encoding: base64\r\nContent-Language: %s\r\n"
	           "Auto-Submitted: auto-generated\r\nX-Ementor-Kind: %s\r\n",
	           date, in->message_id, l == PL ? "pl" : "en", in->kind);
	if (in->unsub_token) /* RFC 8058: a POST to the link unsubscribes, a GET only asks */
		buf_printf(&msg,
		           "List-Unsubscribe: <%s/unsubscribe/%s>\r\n"
		           "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
		           in->public_url, in->unsub_token);
	buf_printf(&msg, "\r\n");
	buf_base64(&msg, body.s, body.len, 1);
out:
	free(subject.s);
	if (body.s)
		sodium_memzero(body.s, body.cap); /* a code may be in it */
	free(body.s);
	if (msg.failed || !msg.s || body.failed || subject.failed) {
		free(msg.s);
		return NULL;
	}
	return msg.s;
}
