/*
 * announce.h - announcing what a node committed to the other nodes (NOTIFY;
 * see announce.c). The listening side is cluster.c's.
 */
#ifndef EMENTORD_ANNOUNCE_H
#define EMENTORD_ANNOUNCE_H

#include <stdint.h>

#define ANNOUNCE_CHANNEL "ementor_events"

struct db_conn;
struct db_job;

/* Main or service thread, before the DB threads run: this node's id (16 hex digits). */
void announce_set_node(const char *node);
/* DB worker, after a job succeeded (db.h's post-commit hook): announces its events. */
void announce_job(struct db_conn *c, struct db_job *job);
/* Batch writer, after the commit (db.h's hook): the new message ranges per room. */
void announce_messages(struct db_conn *c, struct db_job **jobs, int n);
/* DB worker, after an erasure committed: the other nodes close the user's connections. */
void announce_erased(struct db_conn *c, int64_t user);
/* DB worker, after the commit: USER's session SID ended (logout). */
void announce_session_ended(struct db_conn *c, int64_t user, int64_t sid);
/* DB worker, after the commit: every session of USER but KEEP was revoked (passwd). */
void announce_sessions_revoked(struct db_conn *c, int64_t user, int64_t keep);
/* DB worker: a job whose args {"text": payload} is an encoded payload; sends it. */
int announce_text_run(struct db_conn *c, struct db_job *job);

#endif
