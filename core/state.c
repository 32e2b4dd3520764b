/*
 * state.c - the CLI's local messaging state (see state.h for the four files)
 * and the few pure rules of message handling: where a seq stands against a
 * cursor, what message text is acceptable, how a timestamp and a message are
 * shown on a terminal, and how a time typed in the user's zone becomes UTC.
 *
 * DESIGN. Each file is a small JSON object keyed by decimal ids, so that a
 * person can read it and jq can query it. Nothing here talks to the network
 * or prints; the callers (msg.c and the commands) decide what a failure
 * means. Every change goes through a read-modify-write under the storage's lock
 * (lock, re-read, change, write atomically, unlock) — two processes sharing a home (a long-running
 * `chat` and a `send` in another terminal) then merge rather than overwrite,
 * and all the changes are monotonic (pins added, keys added, cursors only
 * raised, outbox entries added or removed by id) so the order of two
 * processes' updates never matters. Room keys are secrets: buffers holding
 * the decoded key or the file's text are wiped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "state.h"

/* ---- helpers ---- */

/* The member `id` (decimal) of obj[section], created when `create`. */
static json_t *state_entry(json_t *root, const char *section, int64_t id, int create)
{
	json_t *sec = json_object_get(root, section), *e;
	char key[24];

	if (!json_is_object(sec)) {
		if (!create)
			return NULL;
		sec = json_object();
		if (!sec || json_object_set_new(root, section, sec))
			return NULL;
	}
	snprintf(key, sizeof(key), "%lld", (long long)id);
	e = json_object_get(sec, key);
	if (json_is_object(e) || !create)
		return json_is_object(e) ? e : NULL;
	e = json_object();
	if (!e || json_object_set_new(sec, key, e))
		return NULL;
	return e;
}

static int state_get_bin(json_t *obj, const char *key, unsigned char *out, size_t len)
{
	const char *v = json_string_value(json_object_get(obj, key));

	return v && em_b64_decode(v, out, len) == (int)len ? 0 : -EINVAL;
}

static void state_get_str(json_t *obj, const char *key, char *out, size_t len)
{
	const char *v = json_string_value(json_object_get(obj, key));

	snprintf(out, len, "%s", v ? v : "");
}

/* Sets obj[key] to base64url of bin; the encoded text is wiped (room keys). */
static int state_set_bin(json_t *obj, const char *key, const unsigned char *bin, size_t len)
{
	char *b64 = em_b64_encode(bin, len);
	int rc;

	if (!b64)
		return -ENOMEM;
	rc = json_object_set_new(obj, key, json_string(b64)) ? -ENOMEM : 0;
	sodium_memzero(b64, strlen(b64));
	free(b64);
	return rc;
}

/* ---- pins.json ---- */

int pins_get(json_t *pins, int64_t user_id, struct pin *out)
{
	json_t *e = state_entry(pins, "users", user_id, 0), *ch;

	memset(out, 0, sizeof(*out));
	if (!e)
		return -ENOENT;
	out->user_id = user_id;
	state_get_str(e, "username", out->username, sizeof(out->username));
	state_get_str(e, "first_seen", out->first_seen, sizeof(out->first_seen));
	if (state_get_bin(e, "sign_pk", out->sign_pk, sizeof(out->sign_pk)) ||
	    state_get_bin(e, "box_pk", out->box_pk, sizeof(out->box_pk)))
		return -EINVAL;
	em_fingerprint(out->sign_pk, out->box_pk, out->fingerprint);
	ch = json_object_get(e, "changed");
	if (json_is_object(ch) &&
	    !state_get_bin(ch, "sign_pk", out->new_sign_pk, sizeof(out->new_sign_pk)) &&
	    !state_get_bin(ch, "box_pk", out->new_box_pk, sizeof(out->new_box_pk))) {
		out->changed = 1;
		em_fingerprint(out->new_sign_pk, out->new_box_pk, out->new_fingerprint);
		state_get_str(ch, "seen_at", out->changed_seen, sizeof(out->changed_seen));
		state_get_str(ch, "username", out->new_username, sizeof(out->new_username));
		if (!out->new_username[0])
			memcpy(out->new_username, out->username, sizeof(out->username));
		out->name_changed = strcmp(out->new_username, out->username) != 0;
		out->keys_changed = sodium_memcmp(out->new_sign_pk, out->sign_pk, 32) ||
		                    sodium_memcmp(out->new_box_pk, out->box_pk, 32);
	}
	return 0;
}

int pins_find(json_t *pins, const char *username, struct pin *out)
{
	json_t *users = json_object_get(pins, "users"), *e;
	const char *key;
	int64_t found = 0;

	/* Two pins can share a name for a while (after a swap, the first one
	 * accepted takes the name the other still holds): the one with a change
	 * waiting is the one a user still has to decide about. */
	json_object_foreach(users, key, e)
	{
		const char *name = json_string_value(json_object_get(e, "username"));
		char *end = NULL;
		long long id = strtoll(key, &end, 10);

		if (!name || strcmp(name, username) || !end || *end || id < 1)
			continue;
		if (!found || json_is_object(json_object_get(e, "changed")))
			found = id;
		if (json_is_object(json_object_get(e, "changed")))
			break;
	}
	if (found)
		return pins_get(pins, found, out);
	memset(out, 0, sizeof(*out));
	return -ENOENT;
}

/* Fills obj with sign_pk, box_pk, fingerprint and a timestamp under `time_key`. */
static int pins_set_keys(json_t *obj, const unsigned char *sign_pk, const unsigned char *box_pk,
                         const char *time_key, const char *now)
{
	char fp[EM_FINGERPRINT_STRLEN];

	em_fingerprint(sign_pk, box_pk, fp);
	if (state_set_bin(obj, "sign_pk", sign_pk, EM_SIGN_PK_BYTES) ||
	    state_set_bin(obj, "box_pk", box_pk, EM_BOX_PK_BYTES) ||
	    json_object_set_new(obj, "fingerprint", json_string(fp)) ||
	    json_object_set_new(obj, time_key, json_string(now)))
		return -ENOMEM;
	return 0;
}

int pins_observe(json_t *pins, int64_t user_id, const char *username,
                 const unsigned char sign_pk[EM_SIGN_PK_BYTES],
                 const unsigned char box_pk[EM_BOX_PK_BYTES], const char *now)
{
	struct pin p;
	json_t *e, *ch;
	int rc;

	if (user_id < 1 || !username || em_check_username(username) != EM_OK)
		return -EINVAL;
	rc = pins_get(pins, user_id, &p);
	if (rc == -ENOENT || rc == -EINVAL) {
		/* New (or a damaged entry, which carries no trust): pin what we see. */
		e = state_entry(pins, "users", user_id, 1);
		if (!e)
			return -ENOMEM;
		json_object_clear(e);
		if (json_object_set_new(e, "username", json_string(username)) ||
		    pins_set_keys(e, sign_pk, box_pk, "first_seen", now))
			return -ENOMEM;
		return PIN_NEW;
	}
	e = state_entry(pins, "users", user_id, 0);
	/* Identity is (user id, username, keys): another name is a change too. */
	if (!strcmp(p.username, username) && !sodium_memcmp(p.sign_pk, sign_pk, EM_SIGN_PK_BYTES) &&
	    !sodium_memcmp(p.box_pk, box_pk, EM_BOX_PK_BYTES)) {
		json_object_del(e, "changed");
		return PIN_SAME;
	}
	if (p.changed && !strcmp(p.new_username, username) &&
	    !sodium_memcmp(p.new_sign_pk, sign_pk, EM_SIGN_PK_BYTES) &&
	    !sodium_memcmp(p.new_box_pk, box_pk, EM_BOX_PK_BYTES))
		return PIN_CHANGED; /* the same change as before: keep when it was first seen */
	ch = json_object();
	if (!ch || json_object_set_new(e, "changed", ch) ||
	    pins_set_keys(ch, sign_pk, box_pk, "seen_at", now) ||
	    json_object_set_new(ch, "username", json_string(username)))
		return -ENOMEM;
	return PIN_CHANGED;
}

int pins_accept(json_t *pins, int64_t user_id, const char *now)
{
	struct pin p;
	json_t *e;
	int rc = pins_get(pins, user_id, &p);

	if (rc)
		return rc;
	if (!p.changed)
		return 0;
	e = state_entry(pins, "users", user_id, 0);
	if (p.keys_changed) {
		/* the key they signed with until now: what they sent before still verifies */
		json_t *old = json_object_get(e, "replaced_sign_pks");
		char *b64 = em_b64_encode(p.sign_pk, sizeof(p.sign_pk));

		if (!json_is_array(old)) {
			old = json_array();
			if (!old || json_object_set_new(e, "replaced_sign_pks", old)) {
				free(b64);
				return -ENOMEM;
			}
		}
		if (!b64 || (json_array_size(old) < PINS_REPLACED_MAX &&
		             json_array_append_new(old, json_string(b64)))) {
			free(b64);
			return -ENOMEM;
		}
		free(b64);
	}
	if (pins_set_keys(e, p.new_sign_pk, p.new_box_pk, "first_seen", now) ||
	    json_object_set_new(e, "replaced_fingerprint", json_string(p.fingerprint)) ||
	    (p.name_changed &&
	     (json_object_set_new(e, "replaced_username", json_string(p.username)) ||
	      json_object_set_new(e, "username", json_string(p.new_username)))))
		return -ENOMEM;
	json_object_del(e, "changed");
	return 1;
}

int pins_replaced_key(json_t *pins, int64_t user_id, size_t i, unsigned char out[EM_SIGN_PK_BYTES])
{
	json_t *e = state_entry(pins, "users", user_id, 0);
	const char *s =
	    json_string_value(json_array_get(json_object_get(e, "replaced_sign_pks"), i));

	return s && em_b64_decode(s, out, EM_SIGN_PK_BYTES) == EM_SIGN_PK_BYTES ? 0 : -ENOENT;
}

/* ---- roomkeys.json ---- */

/* rooms["room"]["epoch"], created when `create`. */
static json_t *roomkeys_entry(json_t *rk, int64_t room_id, int64_t epoch, int create)
{
	json_t *room = state_entry(rk, "rooms", room_id, create), *e;
	char key[24];

	if (!room)
		return NULL;
	snprintf(key, sizeof(key), "%lld", (long long)epoch);
	e = json_object_get(room, key);
	if (json_is_object(e) || !create)
		return json_is_object(e) ? e : NULL;
	e = json_object();
	if (!e || json_object_set_new(room, key, e))
		return NULL;
	return e;
}

int roomkeys_get(json_t *rk, int64_t room_id, int64_t epoch, unsigned char key[EM_ROOM_KEY_BYTES],
                 int64_t *committer)
{
	json_t *e = roomkeys_entry(rk, room_id, epoch, 0);

	if (!e || !json_is_true(json_object_get(e, "verified")) ||
	    state_get_bin(e, "key", key, EM_ROOM_KEY_BYTES)) {
		sodium_memzero(key, EM_ROOM_KEY_BYTES);
		return -ENOENT;
	}
	if (committer)
		*committer = json_integer_value(json_object_get(e, "committer_id"));
	return 0;
}

int64_t roomkeys_version(json_t *rk, int64_t room_id, int64_t epoch)
{
	json_t *e = roomkeys_entry(rk, room_id, epoch, 0);
	json_t *v = json_object_get(e, "agreement_version");

	return json_is_true(json_object_get(e, "verified")) && json_is_integer(v) &&
	               json_integer_value(v) >= 0
	           ? json_integer_value(v)
	           : -1;
}

int roomkeys_recipients(json_t *rk, int64_t room_id, int64_t epoch,
                        int64_t out[EM_KEY_RECIPIENTS_MAX])
{
	json_t *list = json_object_get(roomkeys_entry(rk, room_id, epoch, 0), "recipients"), *id;
	size_t i;

	if (!json_is_array(list) || !json_array_size(list) ||
	    json_array_size(list) > EM_KEY_RECIPIENTS_MAX)
		return -1;
	json_array_foreach(list, i, id)
	{
		if (!json_is_integer(id) || json_integer_value(id) < 1)
			return -1;
		out[i] = json_integer_value(id);
	}
	return (int)json_array_size(list);
}

int roomkeys_set_recipients(json_t *rk, int64_t room_id, int64_t epoch, const int64_t *ids,
                            size_t n)
{
	json_t *e = roomkeys_entry(rk, room_id, epoch, 0), *list;

	if (!e || n < 1 || n > EM_KEY_RECIPIENTS_MAX)
		return -EINVAL;
	list = json_array();
	for (size_t i = 0; list && i < n; i++)
		if (json_array_append_new(list, json_integer(ids[i]))) {
			json_decref(list);
			list = NULL;
		}
	if (!list || json_object_set_new(e, "recipients", list))
		return -ENOMEM;
	return 1;
}

int roomkeys_put(json_t *rk, int64_t room_id, int64_t epoch,
                 const unsigned char key[EM_ROOM_KEY_BYTES], int64_t committer, int64_t version,
                 const char *now)
{
	unsigned char old[EM_ROOM_KEY_BYTES];
	json_t *e;
	int rc;

	if (room_id < 1 || epoch < 1)
		return -EINVAL;
	if (roomkeys_get(rk, room_id, epoch, old, NULL) == 0) {
		rc = sodium_memcmp(old, key, sizeof(old)) ? -EEXIST : 0;
		sodium_memzero(old, sizeof(old));
		return rc;
	}
	e = roomkeys_entry(rk, room_id, epoch, 1);
	if (!e)
		return -ENOMEM;
	json_object_clear(e);
	if (state_set_bin(e, "key", key, EM_ROOM_KEY_BYTES) ||
	    json_object_set_new(e, "committer_id", json_integer(committer)) ||
	    json_object_set_new(e, "agreement_version", json_integer(version)) ||
	    json_object_set_new(e, "verified", json_true()) ||
	    json_object_set_new(e, "received_at", json_string(now)))
		return -ENOMEM;
	return 1;
}

/* ---- cursors.json ---- */

static int64_t cursors_field(json_t *cur, int64_t room_id, const char *field)
{
	json_t *v = json_object_get(state_entry(cur, "rooms", room_id, 0), field);

	return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

int64_t cursors_seq(json_t *cur, int64_t room_id)
{
	return cursors_field(cur, room_id, "seq");
}

int64_t cursors_read(json_t *cur, int64_t room_id)
{
	return cursors_field(cur, room_id, "read");
}

int cursors_raise(json_t *cur, int64_t room_id, int64_t seq, int64_t read)
{
	json_t *e;
	int changed = 0;

	if (seq <= cursors_seq(cur, room_id) && read <= cursors_read(cur, room_id))
		return 0;
	e = state_entry(cur, "rooms", room_id, 1);
	if (!e)
		return -ENOMEM;
	if (seq > cursors_seq(cur, room_id)) {
		if (json_object_set_new(e, "seq", json_integer(seq)))
			return -ENOMEM;
		changed = 1;
	}
	if (read > cursors_read(cur, room_id)) {
		if (json_object_set_new(e, "read", json_integer(read)))
			return -ENOMEM;
		changed = 1;
	}
	return changed;
}

/* ---- outbox.json ---- */

static json_t *outbox_list(json_t *ob, int create)
{
	json_t *list = json_object_get(ob, "messages");

	if (json_is_array(list) || !create)
		return json_is_array(list) ? list : NULL;
	list = json_array();
	if (!list || json_object_set_new(ob, "messages", list))
		return NULL;
	return list;
}

int outbox_device(json_t *ob, unsigned char device[EM_DEVICE_ID_BYTES])
{
	if (state_get_bin(ob, "device", device, EM_DEVICE_ID_BYTES) == 0)
		return 0;
	randombytes_buf(device, EM_DEVICE_ID_BYTES);
	return state_set_bin(ob, "device", device, EM_DEVICE_ID_BYTES) ? -ENOMEM : 1;
}

int outbox_add(json_t *ob, int64_t room_id, const unsigned char client_msg_id[EM_MSG_ID_BYTES],
               const char *text, size_t text_len, const char *now, int64_t now_ms)
{
	json_t *list = outbox_list(ob, 1), *counters, *m, *t;
	unsigned char device[EM_DEVICE_ID_BYTES];
	char key[24];
	int64_t counter;

	if (!list)
		return -ENOMEM;
	if (room_id < 1 || text_len > EM_MSG_PLAINTEXT_MAX || now_ms < 0)
		return -EINVAL;
	if (outbox_device(ob, device) < 0)
		return -ENOMEM;
	counters = json_object_get(ob, "counters");
	if (!json_is_object(counters)) {
		counters = json_object();
		if (!counters || json_object_set_new(ob, "counters", counters))
			return -ENOMEM;
	}
	snprintf(key, sizeof(key), "%lld", (long long)room_id);
	counter = json_integer_value(json_object_get(counters, key)) + 1;
	if (counter < 1)
		return -EINVAL;
	t = json_stringn(text, text_len);
	if (!t)
		return -EILSEQ; /* not UTF-8 */
	m = json_pack("{s:I, s:o, s:o, s:s, s:I, s:I}", "room_id", (json_int_t)room_id, "text", t,
	              "client_msg_id", json_null(), "created_at", now, "counter",
	              (json_int_t)counter, "written_ms", (json_int_t)now_ms);
	if (!m)
		return -ENOMEM;
	if (state_set_bin(m, "client_msg_id", client_msg_id, EM_MSG_ID_BYTES) ||
	    json_array_append_new(list, m) ||
	    json_object_set_new(counters, key, json_integer((json_int_t)counter)))
		return -ENOMEM;
	return 1;
}

size_t outbox_count(json_t *ob)
{
	return json_array_size(outbox_list(ob, 0));
}

int outbox_at(json_t *ob, size_t i, struct outbox_msg *out)
{
	json_t *m = json_array_get(outbox_list(ob, 0), i);
	json_t *room = json_object_get(m, "room_id"), *text = json_object_get(m, "text");
	const char *id = json_string_value(json_object_get(m, "client_msg_id"));

	memset(out, 0, sizeof(*out));
	if (!m)
		return -ENOENT;
	if (!json_is_integer(room) || json_integer_value(room) < 1 || !json_is_string(text) ||
	    !id || strlen(id) >= sizeof(out->id_b64) ||
	    em_b64_decode(id, out->client_msg_id, EM_MSG_ID_BYTES) != EM_MSG_ID_BYTES)
		return -EINVAL;
	out->room_id = json_integer_value(room);
	memcpy(out->id_b64, id, strlen(id) + 1);
	out->text = json_string_value(text);
	out->text_len = json_string_length(text);
	state_get_str(m, "created_at", out->created_at, sizeof(out->created_at));
	/* what the sender signs about it (an entry of an older outbox has none: counter 0) */
	out->meta.counter = (uint64_t)json_integer_value(json_object_get(m, "counter"));
	out->meta.written_ms = (uint64_t)json_integer_value(json_object_get(m, "written_ms"));
	if (state_get_bin(ob, "device", out->meta.device, EM_DEVICE_ID_BYTES))
		memset(out->meta.device, 0, EM_DEVICE_ID_BYTES);
	return 0;
}

/* Index of the message with that id, or -1. */
static long outbox_index(json_t *ob, const unsigned char client_msg_id[EM_MSG_ID_BYTES])
{
	size_t n = outbox_count(ob);
	struct outbox_msg m;

	for (size_t i = 0; i < n; i++)
		if (outbox_at(ob, i, &m) == 0 &&
		    !memcmp(m.client_msg_id, client_msg_id, EM_MSG_ID_BYTES))
			return (long)i;
	return -1;
}

int outbox_remove(json_t *ob, const unsigned char client_msg_id[EM_MSG_ID_BYTES])
{
	long i = outbox_index(ob, client_msg_id);

	if (i < 0)
		return 0;
	json_array_remove(outbox_list(ob, 0), (size_t)i);
	return 1;
}

int outbox_has(json_t *ob, const unsigned char client_msg_id[EM_MSG_ID_BYTES])
{
	return outbox_index(ob, client_msg_id) >= 0;
}

/* ---- pure helpers ---- */

enum seq_verdict seq_check(int64_t cursor, int64_t seq)
{
	if (seq <= cursor)
		return SEQ_DUP;
	return seq == cursor + 1 ? SEQ_NEXT : SEQ_GAP;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 (RFC 3629: no overlongs, surrogates). */
static size_t text_utf8_char(const unsigned char *p, size_t left)
{
	size_t n;
	uint32_t cp;

	if (p[0] < 0x80)
		return p[0] ? 1 : 0;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

int text_is_utf8(const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text;

	for (size_t i = 0; i < len;) {
		size_t c = text_utf8_char(p + i, len - i);

		if (!c)
			return 0;
		i += c;
	}
	return 1;
}

int text_prepare(const char *text, size_t *len)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t n = *len;

	if (n && p[n - 1] == '\n') {
		n--;
		if (n && p[n - 1] == '\r')
			n--;
	}
	*len = n;
	if (!n)
		return -EINVAL;
	if (n > EM_MSG_PLAINTEXT_MAX)
		return -E2BIG;
	return text_is_utf8(text, n) ? 0 : -EILSEQ;
}

/* The first `max` bytes of a server's text, made safe for a terminal. */
static void local_copy(const char *text, size_t max, char *out, size_t outlen)
{
	char *safe = text ? text_for_terminal(text, strnlen(text, max)) : NULL;

	snprintf(out, outlen, "%s", safe ? safe : "?");
	free(safe);
}

/*
 * A server time ("YYYY-MM-DDTHH:MM:SSZ") in the local zone, "2026-12-03 15:00"
 * or, with `when`, "Thu 2026-12-03 15:00 CET"; on anything unexpected, the
 * start of the text as given, control characters replaced.
 */
static void local_format(const char *rfc3339, int when, char *out, size_t outlen)
{
	size_t fallback = when ? 20 : 16;
	struct tm tm;
	time_t t;
	int y, mo, d, h, mi, s;
	char z = 0;

	memset(&tm, 0, sizeof(tm));
	if (!rfc3339 ||
	    sscanf(rfc3339, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &s, &z) < 7 ||
	    (z != 'Z' && z != '.')) {
		local_copy(rfc3339, fallback, out, outlen);
		return;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	t = timegm(&tm);
	if (t == (time_t)-1 || !localtime_r(&t, &tm) ||
	    !(when ? strftime(out, outlen, "%a %Y-%m-%d %H:%M %Z", &tm)
	           : strftime(out, outlen, "%Y-%m-%d %H:%M", &tm)))
		local_copy(rfc3339, fallback, out, outlen);
}

void text_local_time(const char *rfc3339, char *out, size_t outlen)
{
	local_format(rfc3339, 0, out, outlen);
}

void text_local_when(const char *rfc3339, char *out, size_t outlen)
{
	local_format(rfc3339, 1, out, outlen);
}

/* Whether two broken-down times show the same minute on the wall clock. */
static int text_same_minute(const struct tm *a, const struct tm *b)
{
	return a->tm_year == b->tm_year && a->tm_mon == b->tm_mon && a->tm_mday == b->tm_mday &&
	       a->tm_hour == b->tm_hour && a->tm_min == b->tm_min;
}

/*
 * The instant at which the local wall clock shows `want` with daylight saving
 * time off (isdst 0) or on (1); (time_t)-1 when it never does.
 */
static time_t text_local_instant(const struct tm *want, int isdst)
{
	struct tm tm = *want, back;
	time_t t;

	tm.tm_isdst = isdst;
	t = mktime(&tm);
	if (t == (time_t)-1 || !localtime_r(&t, &back) || back.tm_isdst != isdst ||
	    !text_same_minute(&back, want))
		return (time_t)-1;
	return t;
}

int text_date(const char *text, char out[11])
{
	unsigned day, month, year;
	int used = 0;

	if (strlen(text) == 10 && em_check_date(text) == EM_OK) {
		memcpy(out, text, 11);
		return 0;
	}
	/* D.M.YYYY: one or two digits, one or two digits, four digits, nothing after */
	if (strspn(text, "0123456789.") != strlen(text) ||
	    sscanf(text, "%2u.%2u.%4u%n", &day, &month, &year, &used) != 3 ||
	    (size_t)used != strlen(text) || strlen(strrchr(text, '.') + 1) != 4)
		return -1;
	snprintf(out, 11, "%04u-%02u-%02u", year % 10000, month % 100, day % 100);
	return em_check_date(out) == EM_OK ? 0 : -1;
}

/* "D.M.YYYY H:MM" or "D.M.YYYY HH:MM" as "YYYY-MM-DD HH:MM" in iso; 0 or -1. */
static int text_dotted_minute(const char *text, char iso[17])
{
	const char *sp = strchr(text, ' ');
	char date[16], day[11];
	size_t n;

	if (!sp || (size_t)(sp - text) >= sizeof(date))
		return -1;
	memcpy(date, text, (size_t)(sp - text));
	date[sp - text] = '\0';
	n = strlen(sp + 1);
	if (!strchr(date, '.') || text_date(date, day) || (n != 4 && n != 5) ||
	    sp[1 + n - 3] != ':')
		return -1;
	snprintf(iso, 17, "%s %s%s", day, n == 4 ? "0" : "", sp + 1);
	return 0;
}

int text_utc_minute(const char *text, char out[TEXT_UTC_MINUTE_LEN])
{
	static const int digits[] = {11, 12, 14, 15};
	struct tm want, tm;
	const char *rest;
	char date[11], iso[17];
	time_t t, std, dst;

	if (!text_dotted_minute(text, iso))
		text = iso;

	/* "YYYY-MM-DD", ' ' or 'T', "HH:MM", then "", "Z" or ":00Z" */
	if (strlen(text) < 16 || (text[10] != ' ' && text[10] != 'T') || text[13] != ':')
		return TEXT_TIME_BAD;
	for (size_t i = 0; i < sizeof(digits) / sizeof(digits[0]); i++)
		if (text[digits[i]] < '0' || text[digits[i]] > '9')
			return TEXT_TIME_BAD;
	rest = text + 16;
	if (*rest && strcmp(rest, "Z") != 0 && strcmp(rest, ":00Z") != 0)
		return TEXT_TIME_BAD;
	memcpy(date, text, 10);
	date[10] = 0;
	if (em_check_date(date) != EM_OK)
		return TEXT_TIME_BAD;
	memset(&want, 0, sizeof(want));
	want.tm_year = atoi(date) - 1900;
	want.tm_mon = atoi(date + 5) - 1;
	want.tm_mday = atoi(date + 8);
	want.tm_hour = (text[11] - '0') * 10 + (text[12] - '0');
	want.tm_min = (text[14] - '0') * 10 + (text[15] - '0');
	if (want.tm_hour > 23 || want.tm_min > 59)
		return TEXT_TIME_BAD;
	if (*rest) {
		t = timegm(&want);
	} else {
		tm = want;
		tm.tm_isdst = -1; /* the zone's rules decide */
		t = mktime(&tm);
		if (t == (time_t)-1 || !localtime_r(&t, &tm) || !text_same_minute(&tm, &want))
			return TEXT_TIME_SKIPPED; /* mktime moved it past the gap */
		std = text_local_instant(&want, 0);
		dst = text_local_instant(&want, 1);
		if (std != (time_t)-1 && dst != (time_t)-1 && std != dst)
			return TEXT_TIME_AMBIGUOUS;
	}
	if (t == (time_t)-1 || !gmtime_r(&t, &tm) ||
	    !strftime(out, TEXT_UTC_MINUTE_LEN, "%Y-%m-%dT%H:%M:00Z", &tm) ||
	    em_check_utc_minute(out) != EM_OK)
		return TEXT_TIME_BAD;
	return 0;
}

char *text_for_terminal(const char *text, size_t len)
{
	char *out = malloc(len + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];

		if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f) {
			out[i] = '?';
		} else if (ch == 0xc2 && i + 1 < len && (unsigned char)text[i + 1] >= 0x80 &&
		           (unsigned char)text[i + 1] <= 0x9f) {
			out[i] = '?';
			out[++i] = '?';
		} else {
			out[i] = (char)ch;
		}
	}
	out[len] = '\0';
	return out;
}
