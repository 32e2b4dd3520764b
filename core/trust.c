/*
 * trust.c - the pure rules behind trust.json (trust.h): pins of programmes
 * and rooms, forward-only epochs and agreement versions, the parties of
 * every verified version, members announced, and the order of each
 * sender's messages. No I/O: callers load and save through state_update().
 *
 * DESIGN. Everything here answers "has this device seen it before, and was
 * it the same?" — the questions a client asks instead of believing the
 * server (docs/SECURITY.md "A malicious server"). Values only move forward:
 * a high-water mark is raised, never lowered, and a pin, once made, is
 * compared, never overwritten. A damaged entry reads as absent, which makes
 * callers verify again rather than trust less.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "trust.h"

static json_t *trust_obj(json_t *parent, const char *key, int create)
{
	json_t *o = json_object_get(parent, key);

	if (json_is_object(o) || !create)
		return json_is_object(o) ? o : NULL;
	o = json_object();
	if (!o || json_object_set_new(parent, key, o))
		return NULL;
	return o;
}

static json_t *trust_entry(json_t *t, const char *section, int64_t id, int create)
{
	char key[24];
	json_t *s = trust_obj(t, section, create);

	if (!s || id < 1)
		return NULL;
	snprintf(key, sizeof(key), "%lld", (long long)id);
	return trust_obj(s, key, create);
}

static int64_t trust_int(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static int trust_set_int(json_t *o, const char *key, int64_t v)
{
	return json_object_set_new(o, key, json_integer((json_int_t)v)) ? -ENOMEM : 0;
}

static int trust_get_key(json_t *o, const char *name, unsigned char out[32])
{
	const char *s = json_string_value(json_object_get(o, name));

	return s && em_b64_decode(s, out, 32) == 32 ? 0 : -EINVAL;
}

static json_t *trust_b64(const unsigned char *bin, size_t len)
{
	char *s = em_b64_encode(bin, len);
	json_t *j = s ? json_string(s) : NULL;

	free(s);
	return j;
}

/* ---- programmes and rooms ---- */

int trust_programme_get(json_t *t, int64_t programme_id, struct trust_programme *out)
{
	json_t *e = trust_entry(t, "programmes", programme_id, 0);
	json_t *req = json_object_get(e, "required");

	memset(out, 0, sizeof(*out));
	if (!e || !json_is_boolean(req))
		return -ENOENT;
	out->creator_id = trust_int(e, "creator");
	out->required = json_is_true(req);
	return 0;
}

int trust_programme_pin(json_t *t, int64_t programme_id, const struct trust_programme *p)
{
	struct trust_programme have;
	json_t *e;

	if (trust_programme_get(t, programme_id, &have) == 0)
		return have.creator_id == p->creator_id && have.required == !!p->required
		           ? TRUST_PIN_SAME
		           : TRUST_PIN_DIFF;
	e = trust_entry(t, "programmes", programme_id, 1);
	if (!e || trust_set_int(e, "creator", p->creator_id) ||
	    json_object_set_new(e, "required", json_boolean(p->required)))
		return -ENOMEM;
	return TRUST_PIN_NEW;
}

int trust_room_get(json_t *t, int64_t room_id, struct trust_room *out)
{
	json_t *e = trust_entry(t, "rooms", room_id, 0);
	int64_t version = trust_int(e, "max_version");

	memset(out, 0, sizeof(*out));
	if (!e)
		return -ENOENT;
	out->programme_id = trust_int(e, "programme");
	out->max_epoch = trust_int(e, "max_epoch");
	out->max_version = version > 0 && version <= UINT32_MAX ? (uint32_t)version : 0;
	return 0;
}

int trust_room_pin(json_t *t, int64_t room_id, int64_t programme_id)
{
	json_t *e = trust_entry(t, "rooms", room_id, 1);
	int64_t have;

	if (!e || programme_id < 1)
		return e ? -EINVAL : -ENOMEM;
	have = trust_int(e, "programme");
	if (have > 0)
		return have == programme_id ? TRUST_PIN_SAME : TRUST_PIN_DIFF;
	return trust_set_int(e, "programme", programme_id) ? -ENOMEM : TRUST_PIN_NEW;
}

int trust_epoch_raise(json_t *t, int64_t room_id, int64_t epoch)
{
	json_t *e = trust_entry(t, "rooms", room_id, 1);

	if (!e)
		return -ENOMEM;
	if (epoch <= trust_int(e, "max_epoch"))
		return 0;
	return trust_set_int(e, "max_epoch", epoch) ? -ENOMEM : 1;
}

/* ---- verified versions ---- */

static int trust_role_ok(const char *role)
{
	return !strcmp(role, "manager") || !strcmp(role, "mentor") || !strcmp(role, "mentee") ||
	       !strcmp(role, "support");
}

static json_t *trust_version_json(const struct trust_version *v)
{
	json_t *list = json_array();

	for (size_t i = 0; list && i < v->n; i++) {
		const struct trust_party *p = &v->parties[i];
		json_t *o = json_pack("{s:I, s:s, s:o, s:o}", "user_id", (json_int_t)p->user_id,
		                      "role", p->role, "sign_pk", trust_b64(p->sign_pk, 32),
		                      "box_pk", trust_b64(p->box_pk, 32));

		if (!o || json_array_append_new(list, o)) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

static int trust_version_from_json(json_t *list, uint32_t version, struct trust_version *out)
{
	json_t *o;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!json_is_array(list) || json_array_size(list) > TRUST_PARTIES_MAX)
		return -EINVAL;
	out->version = version;
	json_array_foreach(list, i, o)
	{
		struct trust_party *p = &out->parties[i];
		const char *role = json_string_value(json_object_get(o, "role"));

		p->user_id = trust_int(o, "user_id");
		if (p->user_id < 1 || !role || !trust_role_ok(role) ||
		    trust_get_key(o, "sign_pk", p->sign_pk) ||
		    trust_get_key(o, "box_pk", p->box_pk))
			return -EINVAL;
		snprintf(p->role, sizeof(p->role), "%s", role);
	}
	out->n = json_array_size(list);
	return 0;
}

int trust_version_put(json_t *t, int64_t room_id, const struct trust_version *v, int active)
{
	struct trust_version have;
	json_t *e, *versions, *list;
	char key[16];
	int changed = 0;

	if (v->version < 1 || v->n > TRUST_PARTIES_MAX)
		return -EINVAL;
	for (size_t i = 0; i < v->n; i++)
		if (v->parties[i].user_id < 1 || !trust_role_ok(v->parties[i].role))
			return -EINVAL;
	e = trust_entry(t, "rooms", room_id, 1);
	versions = e ? trust_obj(e, "versions", 1) : NULL;
	if (!versions)
		return -ENOMEM;
	snprintf(key, sizeof(key), "%u", v->version);
	if (trust_version_get(t, room_id, v->version, &have) == 0) {
		if (have.n != v->n)
			return -EEXIST;
		for (size_t i = 0; i < v->n; i++)
			if (have.parties[i].user_id != v->parties[i].user_id ||
			    strcmp(have.parties[i].role, v->parties[i].role) ||
			    memcmp(have.parties[i].sign_pk, v->parties[i].sign_pk, 32) ||
			    memcmp(have.parties[i].box_pk, v->parties[i].box_pk, 32))
				return -EEXIST;
	} else {
		list = trust_version_json(v);
		if (!list || json_object_set_new(versions, key, list))
			return -ENOMEM;
		changed = 1;
	}
	if (active && v->version > (uint32_t)trust_int(e, "max_version")) {
		if (trust_set_int(e, "max_version", v->version))
			return -ENOMEM;
		changed = 1;
	}
	return changed;
}

int trust_version_get(json_t *t, int64_t room_id, uint32_t version, struct trust_version *out)
{
	json_t *e = trust_entry(t, "rooms", room_id, 0);
	char key[16];

	memset(out, 0, sizeof(*out));
	snprintf(key, sizeof(key), "%u", version);
	if (!e || trust_version_from_json(json_object_get(trust_obj(e, "versions", 0), key),
	                                  version, out))
		return -ENOENT;
	return 0;
}

int trust_version_party(const struct trust_version *v, int64_t user_id)
{
	for (size_t i = 0; i < v->n; i++)
		if (v->parties[i].user_id == user_id)
			return (int)i;
	return -1;
}

int trust_version_member(const struct trust_version *v, int64_t user_id)
{
	int i = trust_version_party(v, user_id);

	/* "support": the manager seated in a support room holds its key (PROTOCOL.md 15.1) */
	return i >= 0 &&
	       (!strcmp(v->parties[i].role, "mentor") || !strcmp(v->parties[i].role, "mentee") ||
	        !strcmp(v->parties[i].role, "support"));
}

int trust_version_covers(const struct trust_version *newer, const struct trust_version *older)
{
	for (size_t i = 0; i < older->n; i++)
		if (trust_version_member(older, older->parties[i].user_id) &&
		    !trust_version_member(newer, older->parties[i].user_id))
			return 0;
	return 1;
}

/* ---- announced members ---- */

int trust_announced(json_t *t, int64_t room_id, int64_t user_id)
{
	json_t *list = json_object_get(trust_entry(t, "rooms", room_id, 0), "announced"), *id;
	size_t i;

	json_array_foreach(list, i, id)
	{
		if (json_integer_value(id) == user_id)
			return 1;
	}
	return 0;
}

int trust_announced_any(json_t *t, int64_t room_id)
{
	return json_is_array(json_object_get(trust_entry(t, "rooms", room_id, 0), "announced"));
}

int trust_announce(json_t *t, int64_t room_id, int64_t user_id)
{
	json_t *e = trust_entry(t, "rooms", room_id, 1), *list;

	if (!e)
		return -ENOMEM;
	list = json_object_get(e, "announced");
	if (!json_is_array(list)) {
		list = json_array();
		if (!list || json_object_set_new(e, "announced", list))
			return -ENOMEM;
	}
	if (user_id < 1 || trust_announced(t, room_id, user_id))
		return 0;
	return json_array_append_new(list, json_integer((json_int_t)user_id)) ? -ENOMEM : 1;
}

/* ---- order ---- */

static void trust_stream_key(int64_t sender_id, const unsigned char device[EM_DEVICE_ID_BYTES],
                             char out[24 + 2 * EM_DEVICE_ID_BYTES + 2])
{
	int n = snprintf(out, 24, "%lld:", (long long)sender_id);

	sodium_bin2hex(out + n, 2 * EM_DEVICE_ID_BYTES + 1, device, EM_DEVICE_ID_BYTES);
}

int trust_order_check(json_t *t, int64_t room_id, int64_t sender_id,
                      const unsigned char device[EM_DEVICE_ID_BYTES], uint64_t counter, int64_t seq,
                      struct trust_order_result *out)
{
	char key[24 + 2 * EM_DEVICE_ID_BYTES + 2];
	json_t *e = trust_entry(t, "rooms", room_id, 1), *senders, *s;
	uint64_t last;

	memset(out, 0, sizeof(*out));
	senders = e ? trust_obj(e, "senders", 1) : NULL;
	if (!senders)
		return -ENOMEM;
	trust_stream_key(sender_id, device, key);
	s = trust_obj(senders, key, 0);
	if (!s) {
		out->verdict = TRUST_ORDER_FIRST;
		s = json_pack("{s:I, s:I}", "counter", (json_int_t)counter, "seq", (json_int_t)seq);
		return !s || json_object_set_new(senders, key, s) ? -ENOMEM : 0;
	}
	last = (uint64_t)trust_int(s, "counter");
	out->last_counter = last;
	out->last_seq = trust_int(s, "seq");
	if (seq <= out->last_seq) {
		out->verdict = TRUST_ORDER_SEEN;
		return 0;
	}
	if (counter == last + 1)
		out->verdict = TRUST_ORDER_NEXT;
	else if (counter > last + 1)
		out->verdict = TRUST_ORDER_GAP;
	else
		out->verdict = TRUST_ORDER_BACK;
	if (trust_set_int(s, "seq", seq))
		return -ENOMEM;
	if (counter > last && trust_set_int(s, "counter", (int64_t)counter))
		return -ENOMEM;
	return 0;
}

int trust_order_merge(json_t *t, json_t *from)
{
	json_t *rooms = trust_obj(from, "rooms", 0), *room, *stream;
	const char *room_key, *stream_key;
	int changed = 0;

	json_object_foreach(rooms, room_key, room)
	{
		json_t *senders = trust_obj(room, "senders", 0), *dst_room, *dst;

		if (!senders)
			continue;
		dst_room = trust_obj(trust_obj(t, "rooms", 1), room_key, 1);
		dst = dst_room ? trust_obj(dst_room, "senders", 1) : NULL;
		if (!dst)
			return -ENOMEM;
		json_object_foreach(senders, stream_key, stream)
		{
			json_t *have = json_object_get(dst, stream_key);

			if (!json_is_object(stream) ||
			    (json_is_object(have) &&
			     trust_int(have, "seq") >= trust_int(stream, "seq")))
				continue;
			if (json_object_set_new(dst, stream_key, json_deep_copy(stream)))
				return -ENOMEM;
			changed = 1;
		}
	}
	return changed;
}
