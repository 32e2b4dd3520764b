/*
 * migrate.h - applies schema/NNN_name.sql files in order, each in its own
 * transaction, recording them in schema_migrations. Runs on the main thread
 * before the server starts serving (or from `ementord migrate`).
 */
#ifndef EMENTORD_MIGRATE_H
#define EMENTORD_MIGRATE_H

#include <libpq-fe.h>

/* Returns the number of migrations applied (0 if up to date), or -1. */
int migrate_run(PGconn *pg, const char *schema_dir);

#endif
