/*
 * handle_room.c - pair and group rooms: room.create, .list, .show, .add,
 * .remove.
 *
 * The room rules (one mentor; a pair has one mentee; a group up to the
 * programme's max_group_mentees; members must be in the room's programme; a
 * manager is a member only as the mentor, in a programme they manage) are checked inside one
 * transaction that holds the room row locked (SELECT ... FOR UPDATE), so two managers adding at
 * once cannot overfill a room. Partial unique indexes back the "one mentor" and "not twice" rules
 * in the schema as well.
 */
#include <stdio.h>
#include <string.h>

#include "handlers.h"
#include "log.h"
#include "model.h"
#include "server.h"
#include "store.h"

#define ROOM_LIST_MAX 1000

struct room {
	int64_t id, programme_id;
	char kind[8];
	char name[EM_ROOM_NAME_MAX * 4 + 1];
	char created_at[40];
	int max_group_mentees;
	int64_t epoch, last_seq, epoch_msg_count, epoch_age_s;
	int rotate_flag;
};

#define ROOM_SELECT                                                                                \
	"SELECT r.id, r.programme_id, r.kind, r.name, " SQL_TS(                                    \
	    "r.created_at") ", "                                                                   \
	                    "pr.max_group_mentees, r.epoch, r.last_seq, r.epoch_msg_count, "       \
	                    "extract(epoch FROM now() - r.epoch_started_at)::bigint, "             \
	                    "r.rotate_required "                                                   \
	                    "FROM rooms r JOIN programmes pr ON pr.id = r.programme_id WHERE "     \
	                    "r.id = $1"

static const struct stmt st_room_get = {"room_get", ROOM_SELECT};
static const struct stmt st_room_lock = {"room_lock", ROOM_SELECT " FOR UPDATE OF r"};

static const struct stmt st_access = {
    "room_access",
    "SELECT EXISTS (SELECT 1 FROM programme_people WHERE programme_id = $1 AND user_id = $2 "
    "AND role = 'manager'), EXISTS (SELECT 1 FROM room_members WHERE room_id = $3 "
    "AND user_id = $2 AND removed_at IS NULL)"};

static const struct stmt st_members = {
    "room_members", "SELECT " USER_COLS ", rm.role, " SQL_TS(
                        "rm.added_at") ", rm.roster FROM room_members rm "
                                       "JOIN users u ON u.id = rm.user_id WHERE rm.room_id = $1 "
                                       "AND rm.removed_at IS NULL "
                                       "ORDER BY rm.role = 'mentor' DESC, rm.added_at, u.username"};

static const struct stmt st_former = {
    "room_former",
    "SELECT " USER_COLS
    ", max(rm.role), " SQL_TS("max(rm.removed_at)") " FROM room_members rm "
                                                    "JOIN users u ON u.id = rm.user_id WHERE "
                                                    "rm.room_id = $1 AND rm.removed_at IS NOT NULL "
                                                    "AND NOT EXISTS (SELECT 1 FROM room_members a "
                                                    "WHERE a.room_id = $1 AND "
                                                    "a.user_id = rm.user_id AND a.removed_at IS "
                                                    "NULL) GROUP BY u.id ORDER BY u.username"};

/* Only a change of the roster needs a new key: an unsigned member joining or leaving does not. */
static const struct stmt st_rotate = {
    "room_rotate", "UPDATE rooms SET rotate_required = true WHERE id = $1 AND EXISTS (SELECT 1 "
                   "FROM room_members WHERE room_id = $1 AND user_id = $2 AND roster)"};

static const struct stmt st_room_insert = {
    "room_insert",
    "INSERT INTO rooms (programme_id, kind, name, created_by) VALUES ($1, $2, $3, $4) "
    "RETURNING id"};

static const struct stmt st_room_rename = {"room_rename",
                                           "UPDATE rooms SET name = $2 WHERE id = $1"};

static const struct stmt st_candidate = {
    "room_candidate", "SELECT u.id, u.role, pp.role FROM users u LEFT JOIN programme_people pp "
                      "ON pp.user_id = u.id AND pp.programme_id = $2 WHERE u.username = $1"};

static const struct stmt st_counts = {
    "room_counts",
    "SELECT count(*) FILTER (WHERE role = 'mentor'), count(*) FILTER (WHERE role = 'mentee'), "
    "COALESCE(bool_or(user_id = $2), false) FROM room_members "
    "WHERE room_id = $1 AND removed_at IS NULL"};

static const struct stmt st_member_insert = {
    "room_member_insert",
    "INSERT INTO room_members (room_id, user_id, role, added_by) VALUES ($1, $2, $3, $4)"};

static const struct stmt st_member_remove = {
    "room_member_remove",
    "UPDATE room_members rm SET removed_at = now(), removed_by = $3 FROM users u "
    "WHERE u.id = rm.user_id AND u.username = $2 AND rm.room_id = $1 AND rm.removed_at IS NULL "
    "RETURNING rm.user_id"};

static const struct stmt st_room_list = {
    "room_list",
    "SELECT r.id, r.programme_id, r.kind, r.name, " SQL_TS(
        "r.created_at") ", "
                        "(SELECT u.username FROM room_members m JOIN users u ON u.id = m.user_id "
                        " WHERE m.room_id = r.id AND m.removed_at IS NULL AND m.role = 'mentor'), "
                        "(SELECT count(*) FROM room_members m WHERE m.room_id = r.id AND "
                        "m.removed_at IS NULL "
                        " AND m.role = 'mentee'), "
                        "(SELECT u.username FROM room_members m JOIN users u ON u.id = m.user_id "
                        " WHERE m.room_id = r.id AND m.removed_at IS NULL AND m.role = 'support') "
                        "FROM rooms r WHERE ($2::bigint IS NULL OR r.programme_id = $2) AND ("
                        " (r.kind <> 'support' AND EXISTS (SELECT 1 FROM programme_people pp "
                        "WHERE pp.programme_id = r.programme_id "
                        "  AND pp.user_id = $1 AND pp.role = 'manager')) OR "
                        " EXISTS (SELECT 1 FROM room_members me WHERE me.room_id = r.id AND "
                        "me.user_id = $1 "
                        "  AND me.removed_at IS NULL)) "
                        "ORDER BY r.id LIMIT "
                        "1001"};

/* Loads a room (optionally locking it). 1 found, 0 not found, -1 error (*err). */
static int room_load(struct db_conn *c, int64_t room_id, int lock, struct room *room, int *err)
{
	struct params p = {0};
	PGresult *r;
	int found;

	params_int(&p, room_id);
	r = store_exec(c, lock ? &st_room_lock : &st_room_get, &p, err, NULL);
	if (!r)
		return -1;
	found = PQntuples(r) == 1;
	if (found) {
		room->id = store_int(r, 0, 0);
		room->programme_id = store_int(r, 0, 1);
		snprintf(room->kind, sizeof(room->kind), "%s", store_str(r, 0, 2));
		snprintf(room->name, sizeof(room->name), "%s", store_str(r, 0, 3));
		snprintf(room->created_at, sizeof(room->created_at), "%s", store_str(r, 0, 4));
		room->max_group_mentees = (int)store_int(r, 0, 5);
		room->epoch = store_int(r, 0, 6);
		room->last_seq = store_int(r, 0, 7);
		room->epoch_msg_count = store_int(r, 0, 8);
		room->epoch_age_s = store_int(r, 0, 9);
		room->rotate_flag = store_bool(r, 0, 10);
	}
	PQclear(r);
	return found;
}

/* What the user may do with the room's programme and room. -1 on error (*err). */
static int room_access(struct db_conn *c, int64_t programme_id, int64_t room_id, int64_t user_id,
                       int *is_manager, int *is_member, int *err)
{
	struct params p = {0};
	PGresult *r;

	params_int(&p, programme_id);
	params_int(&p, user_id);
	params_int(&p, room_id);
	r = store_exec(c, &st_access, &p, err, NULL);
	if (!r)
		return -1;
	*is_manager = store_bool(r, 0, 0);
	*is_member = store_bool(r, 0, 1);
	PQclear(r);
	return 0;
}

static const char *room_status(const char *kind, int has_mentor, int64_t mentees)
{
	int64_t needed = strcmp(kind, "pair") ? EM_GROUP_MENTEES_MIN : 1;

	if (!strcmp(kind, "support"))
		return "ready"; /* its two members are there from the start, for good */
	return has_mentor && mentees >= needed ? "ready" : "incomplete";
}

/* The Room object with members. New reference, or NULL with *err. */
static json_t *room_json(struct db_conn *c, const struct room *room, int *err)
{
	struct params p = {0};
	PGresult *r;
	json_t *members, *former, *obj;
	int has_mentor = 0, mentees = 0;

	params_int(&p, room->id);
	r = store_exec(c, &st_members, &p, err, NULL);
	if (!r)
		return NULL;
	members = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *m = model_user(r, i, 0);
		const char *role = store_str(r, i, USER_NCOLS);

		has_mentor |= !strcmp(role, "mentor");
		mentees += !strcmp(role, "mentee");
		json_object_set_new(m, "role", json_string(role));
		json_object_set_new(m, "added_at", json_string(store_str(r, i, USER_NCOLS + 1)));
		json_object_set_new(m, "roster", json_boolean(store_bool(r, i, USER_NCOLS + 2)));
		json_array_append_new(members, m);
	}
	PQclear(r);
	if (!(r = store_exec(c, &st_former, &p, err, NULL))) {
		json_decref(members);
		return NULL;
	}
	former = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *m = model_user(r, i, 0);

		json_object_set_new(m, "role", json_string(store_str(r, i, USER_NCOLS)));
		json_object_set_new(m, "removed_at", json_string(store_str(r, i, USER_NCOLS + 1)));
		json_array_append_new(former, m);
	}
	PQclear(r);
	obj = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:o}", "id", (json_int_t)room->id,
	                "programme_id", (json_int_t)room->programme_id, "kind", room->kind, "name",
	                room->name, "status", room_status(room->kind, has_mentor, mentees),
	                "created_at", room->created_at, "max_mentees",
	                (json_int_t)(strcmp(room->kind, "pair") ? room->max_group_mentees : 1),
	                "mentee_count", (json_int_t)mentees, "members", members);
	if (!obj) {
		json_decref(former);
		*err = EM_ERR_NOMEM;
		return NULL;
	}
	json_object_set_new(obj, "former_members", former);
	json_object_set_new(obj, "epoch", json_integer(room->epoch));
	json_object_set_new(obj, "last_seq", json_integer(room->last_seq));
	json_object_set_new(obj, "rotate_required",
	                    json_boolean(room->rotate_flag || room->epoch == 0 ||
	                                 room->epoch_msg_count >= server.cfg.rotate_messages ||
	                                 room->epoch_age_s >= server.cfg.rotate_days * 86400LL));
	return obj;
}

/*
 * Inside the room's transaction: a member joined or left; if they are (were) on
 * the roster the next message needs a new key epoch. Tells the user and the
 * room once committed.
 */
static int members_changed(struct db_conn *c, struct db_job *job, int64_t room_id, int64_t user_id,
                           const char *change)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, room_id);
	params_int(&p, user_id);
	if (!(r = store_exec(c, &st_rotate, &p, &err, NULL)))
		return err;
	PQclear(r);
	db_job_push(&job->room_events, room_id, EV_ROOM,
	            json_pack("{s:I, s:s}", "room_id", (json_int_t)room_id, "change", "members"));
	db_job_push(&job->user_events, user_id, EV_ROOM,
	            json_pack("{s:I, s:s}", "room_id", (json_int_t)room_id, "change", change));
	return EM_OK;
}

/* Inside the room's transaction (room row locked): applies the room rules and adds. */
static int member_add(struct db_conn *c, struct db_job *job, const struct room *room,
                      const char *username_in)
{
	char username[EM_USERNAME_MAX + 1], role[16];
	struct params p = {0};
	PGresult *r;
	int64_t user_id, mentors, mentees;
	int err, already;

	em_username_fold(username_in, username);
	params_text(&p, username);
	params_int(&p, room->programme_id);
	if (!(r = store_exec(c, &st_candidate, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) != 1) {
		PQclear(r);
		store_rollback(c);
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no user named \"%s\"", username);
	}
	user_id = store_int(r, 0, 0);
	/* a manager joins only as the mentor, and only in a programme they manage */
	if (!strcmp(store_str(r, 0, 1), "manager") &&
	    (!store_str(r, 0, 2) || strcmp(store_str(r, 0, 2), "manager"))) {
		PQclear(r);
		store_rollback(c);
		return db_job_fail(job, EM_ERR_WRONG_ROLE,
		                   "%s is a manager, not of programme %lld; a manager is a room's "
		                   "mentor only in a programme they manage",
		                   username, (long long)room->programme_id);
	}
	if (!store_str(r, 0, 2)) {
		PQclear(r);
		store_rollback(c);
		return db_job_fail(job, EM_ERR_NOT_IN_PROGRAMME, "%s is not in programme %lld",
		                   username, (long long)room->programme_id);
	}
	snprintf(role, sizeof(role), "%s",
	         strcmp(store_str(r, 0, 2), "manager") ? store_str(r, 0, 2) : "mentor");
	PQclear(r);

	memset(&p, 0, sizeof(p));
	params_int(&p, room->id);
	params_int(&p, user_id);
	if (!(r = store_exec(c, &st_counts, &p, &err, NULL)))
		return store_fail(c, job, err);
	mentors = store_int(r, 0, 0);
	mentees = store_int(r, 0, 1);
	already = store_bool(r, 0, 2);
	PQclear(r);
	err = EM_OK;
	if (already)
		err = db_job_fail(job, EM_ERR_ALREADY_MEMBER, "%s is already in room %lld",
		                  username, (long long)room->id);
	else if (!strcmp(role, "mentor") && mentors > 0)
		err = db_job_fail(job, EM_ERR_ROOM_HAS_MENTOR, "room %lld already has a mentor",
		                  (long long)room->id);
	else if (!strcmp(role, "mentee") && !strcmp(room->kind, "pair") && mentees >= 1)
		err = db_job_fail(job, EM_ERR_ROOM_FULL,
		                  "room %lld is a pair and already has its mentee",
		                  (long long)room->id);
	else if (!strcmp(role, "mentee") && mentees >= room->max_group_mentees)
		err = db_job_fail(job, EM_ERR_ROOM_FULL,
		                  "room %lld already has %lld mentees, the programme's maximum",
		                  (long long)room->id, (long long)mentees);
	if (err) {
		store_rollback(c);
		return err;
	}
	memset(&p, 0, sizeof(p));
	params_int(&p, room->id);
	params_int(&p, user_id);
	params_text(&p, role);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_member_insert, &p, &err, NULL)))
		return store_fail(c, job, err);
	PQclear(r);
	if ((err = members_changed(c, job, room->id, user_id, "added")))
		return store_fail(c, job, err);
	return EM_OK;
}

/* Finishes a room transaction: commit, then answer with the Room. */
static int commit_with_room(struct db_conn *c, struct db_job *job, const struct room *room)
{
	json_t *obj;
	int err;

	if ((err = store_commit(c)))
		return store_fail(c, job, err);
	obj = room_json(c, room, &err);
	if (!obj)
		return db_job_fail(job, err, NULL);
	job->result = json_pack("{so}", "room", obj);
	return EM_OK;
}

int room_create_run(struct db_conn *c, struct db_job *job)
{
	json_t *members = json_object_get(job->args, "members"), *m;
	const char *name = job_str(job, "name");
	struct room room = {0};
	struct params p = {0};
	PGresult *r;
	size_t i;
	int err, is_manager = 0, is_member = 0;

	room.programme_id = job_int(job, "programme_id", 0);
	snprintf(room.kind, sizeof(room.kind), "%s", job_str(job, "kind"));
	if ((err = store_begin(c)))
		return store_fail(c, job, err);
	if (room_access(c, room.programme_id, 0, job->user_id, &is_manager, &is_member, &err))
		return store_fail(c, job, err);
	if (!is_manager) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no programme %lld that you manage",
		                   (long long)room.programme_id);
	}
	params_int(&p, room.programme_id);
	params_text(&p, room.kind);
	params_text(&p, name ? name : room.kind);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_room_insert, &p, &err, NULL)))
		return store_fail(c, job, err);
	room.id = store_int(r, 0, 0);
	PQclear(r);
	/* lock it like room.add does, and read the programme's group limit */
	if (room_load(c, room.id, 1, &room, &err) != 1)
		return store_fail(c, job, err ? err : EM_ERR_INTERNAL);
	json_array_foreach(members, i, m)
	{
		if ((err = member_add(c, job, &room, json_string_value(m))))
			return err;
	}
	if (!name) {
		/* a readable default: the members' names, else "pair 12" */
		char def[sizeof(room.name)] = "";
		size_t n = 0;

		json_array_foreach(members, i, m)
		{
			char u[EM_USERNAME_MAX + 1];

			em_username_fold(json_string_value(m), u);
			n += (size_t)snprintf(def + n, sizeof(def) - n, "%s%s", i ? " & " : "", u);
			if (n >= EM_ROOM_NAME_MAX)
				break;
		}
		if (!n || n > EM_ROOM_NAME_MAX)
			snprintf(def, sizeof(def), "%s %lld", room.kind, (long long)room.id);
		snprintf(room.name, sizeof(room.name), "%s", def);
		memset(&p, 0, sizeof(p));
		params_int(&p, room.id);
		params_text(&p, room.name);
		if (!(r = store_exec(c, &st_room_rename, &p, &err, NULL)))
			return store_fail(c, job, err);
		PQclear(r);
	}
	log_info("room created id=%lld programme=%lld kind=%s by=%lld", (long long)room.id,
	         (long long)room.programme_id, room.kind, (long long)job->user_id);
	return commit_with_room(c, job, &room);
}

/* Opens the transaction, locks the room and checks the caller manages it. */
static int begin_managed(struct db_conn *c, struct db_job *job, struct room *room)
{
	int64_t room_id = job_int(job, "room_id", 0);
	int err, is_manager = 0, is_member = 0;

	if ((err = store_begin(c)))
		return store_fail(c, job, err);
	switch (room_load(c, room_id, 1, room, &err)) {
	case -1:
		return store_fail(c, job, err);
	case 0:
		store_rollback(c);
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no room %lld", (long long)room_id);
	}
	if (room_access(c, room->programme_id, room->id, job->user_id, &is_manager, &is_member,
	                &err))
		return store_fail(c, job, err);
	if (!is_manager || (!strcmp(room->kind, "support") && !is_member)) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no room %lld that you manage",
		                   (long long)room_id);
	}
	if (!strcmp(room->kind, "support")) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_FORBIDDEN,
		                   "room %lld is a support room: its two members stay as they are",
		                   (long long)room_id);
	}
	return EM_OK;
}

int room_add_run(struct db_conn *c, struct db_job *job)
{
	struct room room = {0};
	int err;

	if ((err = begin_managed(c, job, &room)))
		return err;
	if ((err = member_add(c, job, &room, job_str(job, "username"))))
		return err;
	log_info("room member added room=%lld by=%lld", (long long)room.id,
	         (long long)job->user_id);
	return commit_with_room(c, job, &room);
}

int room_remove_run(struct db_conn *c, struct db_job *job)
{
	char username[EM_USERNAME_MAX + 1];
	struct room room = {0};
	struct params p = {0};
	PGresult *r;
	int64_t removed_id;
	int err, removed;

	if ((err = begin_managed(c, job, &room)))
		return err;
	em_username_fold(job_str(job, "username"), username);
	params_int(&p, room.id);
	params_text(&p, username);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_member_remove, &p, &err, NULL)))
		return store_fail(c, job, err);
	removed = PQntuples(r);
	removed_id = removed ? store_int(r, 0, 0) : 0;
	PQclear(r);
	if (!removed) {
		store_rollback(c);
		return db_job_fail(job, EM_ERR_NOT_MEMBER, "%s is not in room %lld", username,
		                   (long long)room.id);
	}
	if ((err = members_changed(c, job, room.id, removed_id, "removed")))
		return store_fail(c, job, err);
	log_info("room member removed room=%lld by=%lld", (long long)room.id,
	         (long long)job->user_id);
	return commit_with_room(c, job, &room);
}

int room_show_run(struct db_conn *c, struct db_job *job)
{
	int64_t room_id = job_int(job, "room_id", 0);
	struct room room = {0};
	json_t *obj;
	int err, found, is_manager = 0, is_member = 0;

	found = room_load(c, room_id, 0, &room, &err);
	if (found < 0)
		return store_fail(c, job, err);
	if (found &&
	    room_access(c, room.programme_id, room.id, job->user_id, &is_manager, &is_member, &err))
		return store_fail(c, job, err);
	/* a support room is its two members' own: another manager does not see it */
	if (found && !strcmp(room.kind, "support") && !is_member)
		is_manager = 0;
	if (!found || (!is_manager && !is_member))
		return db_job_fail(job, EM_ERR_NOT_FOUND, "no room %lld that you can see",
		                   (long long)room_id);
	obj = room_json(c, &room, &err);
	if (!obj)
		return store_fail(c, job, err);
	job->result = json_pack("{so}", "room", obj);
	return EM_OK;
}

int room_list_run(struct db_conn *c, struct db_job *job)
{
	int64_t programme_id = job_int(job, "programme_id", 0);
	struct params p = {0};
	PGresult *r;
	json_t *rooms;
	int err, n;

	params_int(&p, job->user_id);
	if (programme_id)
		params_int(&p, programme_id);
	else
		params_text(&p, NULL);
	if (!(r = store_exec(c, &st_room_list, &p, &err, NULL)))
		return store_fail(c, job, err);
	rooms = json_array();
	n = PQntuples(r);
	for (int i = 0; i < n && i < ROOM_LIST_MAX; i++) {
		const char *kind = store_str(r, i, 2), *mentor = store_str(r, i, 5);
		const char *support = store_str(r, i, 7);
		int64_t mentees = store_int(r, i, 6);
		json_t *row = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:o, s:I}", "id",
		                        (json_int_t)store_int(r, i, 0), "programme_id",
		                        (json_int_t)store_int(r, i, 1), "kind", kind, "name",
		                        store_str(r, i, 3), "created_at", store_str(r, i, 4),
		                        "status", room_status(kind, mentor != NULL, mentees),
		                        "mentor", mentor ? json_string(mentor) : json_null(),
		                        "mentee_count", (json_int_t)mentees);

		if (row && support)
			json_object_set_new(row, "manager", json_string(support));
		json_array_append_new(rooms, row);
	}
	PQclear(r);
	job->result = json_pack("{sosb}", "rooms", rooms, "truncated", n > ROOM_LIST_MAX);
	return EM_OK;
}

/* ---- support rooms (PROTOCOL.md 15.1) ---- */

/*
 * $1 caller, $2 programme (0: any), $3 the other's username ('' : any).
 * The (programme, manager, participant, participant's role) the caller may
 * open a support room for: a manager of the programme with a mentor or mentee
 * of it, or a mentor or mentee of it with a manager of it. Locks nothing.
 */
static const struct stmt st_support_pairs = {
    "support_pairs",
    "SELECT me.programme_id, CASE WHEN me.role = 'manager' THEN me.user_id ELSE o.user_id END, "
    "CASE WHEN me.role = 'manager' THEN o.user_id ELSE me.user_id END, "
    "CASE WHEN me.role = 'manager' THEN o.role ELSE me.role END, u.username "
    "FROM programme_people me JOIN programme_people o ON o.programme_id = me.programme_id "
    "AND o.user_id <> me.user_id JOIN users u ON u.id = o.user_id "
    "JOIN programmes p ON p.id = me.programme_id "
    "WHERE me.user_id = $1 AND ($2::bigint = 0 OR me.programme_id = $2) "
    "AND ($3 = '' OR u.username = $3) AND p.archived_at IS NULL "
    "AND ((me.role = 'manager' AND o.role IN ('mentor', 'mentee')) OR "
    "(me.role IN ('mentor', 'mentee') AND o.role = 'manager')) "
    "ORDER BY me.programme_id, u.username LIMIT 21"};

static const struct stmt st_support_find = {
    "support_find", "SELECT room_id FROM support_rooms WHERE programme_id = $1 AND "
                    "manager_id = $2 AND participant_id = $3"};

static const struct stmt st_support_lock = {"support_lock",
                                            "SELECT 1 FROM programmes WHERE id = $1 FOR UPDATE"};

static const struct stmt st_support_insert = {
    "support_insert", "INSERT INTO support_rooms (room_id, programme_id, manager_id, "
                      "participant_id) VALUES ($1, $2, $3, $4)"};

/* $1 room: the support room's name, from its two members' usernames. */
static const struct stmt st_support_name = {
    "support_name", "UPDATE rooms r SET name = 'Support: ' || m.username || ' & ' || p.username "
                    "FROM support_rooms s JOIN users m ON m.id = s.manager_id "
                    "JOIN users p ON p.id = s.participant_id WHERE s.room_id = r.id AND r.id = $1"};

/* Inside the transaction: seats user_id with role in room (no room rules: a support room's). */
static int support_seat(struct db_conn *c, struct db_job *job, int64_t room, int64_t user_id,
                        const char *role)
{
	struct params p = {0};
	PGresult *r;
	int err;

	params_int(&p, room);
	params_int(&p, user_id);
	params_text(&p, role);
	params_int(&p, job->user_id);
	if (!(r = store_exec(c, &st_member_insert, &p, &err, NULL)))
		return err;
	PQclear(r);
	return members_changed(c, job, room, user_id, "added");
}

int support_open_run(struct db_conn *c, struct db_job *job)
{
	char other[EM_USERNAME_MAX + 1] = "", role[16];
	const char *who = job_str(job, "username");
	int64_t programme, manager, participant, existing = 0;
	struct room room = {0};
	struct params p = {0};
	PGresult *r;
	int err, n, created = 0;
	json_t *obj;

	if (who)
		em_username_fold(who, other);
	params_int(&p, job->user_id);
	params_int(&p, job_int(job, "programme_id", 0));
	params_text(&p, other);
	if ((err = store_begin(c)))
		return store_fail(c, job, err);
	if (!(r = store_exec(c, &st_support_pairs, &p, &err, NULL)))
		return store_fail(c, job, err);
	n = PQntuples(r);
	if (n != 1) {
		/* none, or a choice the caller has to make: name the choices */
		char names[EM_USERNAME_MAX * 8 + 64] = "";
		size_t len = 0;

		for (int i = 0; i < n && i < 6; i++)
			len += (size_t)snprintf(names + len, sizeof(names) - len,
			                        "%s%s (programme %lld)", i ? ", " : "",
			                        store_str(r, i, 4), (long long)store_int(r, i, 0));
		PQclear(r);
		store_rollback(c);
		if (!n) /* the same words whether the name exists or not */
			return db_job_fail(job, EM_ERR_NOT_FOUND,
			                   "nobody you may open a support room with%s",
			                   other[0] ? " by that name" : "");
		return db_job_fail(job, EM_ERR_BAD_VALUE,
		                   "choose one with --programme and a username: %s%s", names,
		                   n > 6 ? ", ..." : "");
	}
	programme = store_int(r, 0, 0);
	manager = store_int(r, 0, 1);
	participant = store_int(r, 0, 2);
	snprintf(role, sizeof(role), "%s", store_str(r, 0, 3));
	PQclear(r);

	/* one opener at a time per programme: "open again" finds the same room */
	memset(&p, 0, sizeof(p));
	params_int(&p, programme);
	if (!(r = store_exec(c, &st_support_lock, &p, &err, NULL)))
		return store_fail(c, job, err);
	PQclear(r);
	params_int(&p, manager);
	params_int(&p, participant);
	if (!(r = store_exec(c, &st_support_find, &p, &err, NULL)))
		return store_fail(c, job, err);
	if (PQntuples(r) == 1)
		existing = store_int(r, 0, 0);
	PQclear(r);
	if (existing) {
		room.id = existing;
	} else {
		memset(&p, 0, sizeof(p));
		params_int(&p, programme);
		params_text(&p, "support");
		params_text(&p, "support");
		params_int(&p, job->user_id);
		if (!(r = store_exec(c, &st_room_insert, &p, &err, NULL)))
			return store_fail(c, job, err);
		room.id = store_int(r, 0, 0);
		PQclear(r);
		memset(&p, 0, sizeof(p));
		params_int(&p, room.id);
		params_int(&p, programme);
		params_int(&p, manager);
		params_int(&p, participant);
		if (!(r = store_exec(c, &st_support_insert, &p, &err, NULL)))
			return store_fail(c, job, err);
		PQclear(r);
		memset(&p, 0, sizeof(p));
		params_int(&p, room.id);
		if (!(r = store_exec(c, &st_support_name, &p, &err, NULL)))
			return store_fail(c, job, err);
		PQclear(r);
		if ((err = support_seat(c, job, room.id, manager, "support")) ||
		    (err = support_seat(c, job, room.id, participant, role)))
			return store_fail(c, job, err);
		created = 1;
		log_info("support room opened id=%lld programme=%lld by=%lld", (long long)room.id,
		         (long long)programme, (long long)job->user_id);
	}
	if (room_load(c, room.id, 0, &room, &err) != 1)
		return store_fail(c, job, err ? err : EM_ERR_INTERNAL);
	if ((err = store_commit(c)))
		return store_fail(c, job, err);
	if (!(obj = room_json(c, &room, &err)))
		return db_job_fail(job, err, NULL);
	job->result = json_pack("{s:o, s:b}", "room", obj, "created", created);
	return job->result ? EM_OK : db_job_fail(job, EM_ERR_NOMEM, NULL);
}
