/*
 * model.h - the JSON shapes of docs/PROTOCOL.md "Objects", built from rows.
 * The SELECT lists here and the builders below must stay in step: each
 * builder reads its columns starting at `col`. Worker threads.
 */
#ifndef EMENTORD_MODEL_H
#define EMENTORD_MODEL_H

#include <jansson.h>
#include <libpq-fe.h>

/* A JSON string of bin in base64 (new reference; NULL: no memory). */
json_t *model_b64(const unsigned char *bin, size_t len);
/* A bytea column of at most max bytes as a base64url string; NULL on failure. */
json_t *model_bytea_b64(const PGresult *r, int row, int col, size_t max);

/* An RFC 3339 UTC timestamp column. */
#define SQL_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* User: 6 columns from users AS u */
#define USER_COLS  "u.id, u.username, u.display_name, u.role, u.sign_pk, u.box_pk"
#define USER_NCOLS 6
/* Programme: 13 columns from programmes AS p */
/* clang-format off */
#define PROGRAMME_COLS                                                                             \
	"p.id, p.name, p.starts_on::text, p.ends_on::text, p.max_group_mentees, "                  \
	SQL_TS("p.created_at") ", p.agreement_required, p.retention_days, "                        \
	SQL_TS("p.purged_at") ", COALESCE(p.created_by, 0), p.settings_sig, "                      \
	SQL_TS("p.ended_early_at") ", " SQL_TS("p.archived_at")
/* clang-format on */
#define PROGRAMME_NCOLS 13

/* New references; NULL on allocation failure. */
json_t *model_user(const PGresult *r, int row, int col);
json_t *model_programme(const PGresult *r, int row, int col);

#endif
