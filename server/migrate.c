/*
 * migrate.c - schema migrations. Files are named NNN_name.sql; NNN is the
 * version. An advisory lock makes concurrent starts of several nodes safe:
 * one applies, the others wait and then find nothing to do.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#include "log.h"
#include "migrate.h"

#define MIGRATE_LOCK_KEY  "7311"
#define MAX_MIGRATIONS    1000
#define MAX_MIGRATION_SQL (4 * 1024 * 1024)

struct migration {
	int version;
	char name[256];
};

static int by_version(const void *a, const void *b)
{
	return ((const struct migration *)a)->version - ((const struct migration *)b)->version;
}

static int exec_ok(PGconn *pg, const char *sql, const char *what)
{
	PGresult *r = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(r);
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok)
		log_error("migrate %s failed: %s", what, PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

/* Returns a malloc'd NUL-terminated file content (caller frees) or NULL. */
static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || n > MAX_MIGRATION_SQL ||
	    fseek(f, 0, SEEK_SET))
		goto out;
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
		goto out;
	}
	if (buf)
		buf[n] = '\0';
out:
	fclose(f);
	return buf;
}

static int list_migrations(const char *dir, struct migration *out, int max)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d) {
		log_error("migrate cannot open schema dir %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len < 9 || strcmp(e->d_name + len - 4, ".sql") ||
		    !isdigit((unsigned char)e->d_name[0]) ||
		    !isdigit((unsigned char)e->d_name[1]) ||
		    !isdigit((unsigned char)e->d_name[2]) || e->d_name[3] != '_' ||
		    len >= sizeof(out[0].name))
			continue;
		if (n >= max)
			break;
		out[n].version = atoi(e->d_name);
		snprintf(out[n].name, sizeof(out[n].name), "%s", e->d_name);
		n++;
	}
	closedir(d);
	qsort(out, (size_t)n, sizeof(out[0]), by_version);
	for (int i = 1; i < n; i++) {
		if (out[i].version == out[i - 1].version) {
			log_error("migrate two files with version %03d", out[i].version);
			return -1;
		}
	}
	return n;
}

int migrate_run(PGconn *pg, const char *schema_dir)
{
	struct migration *list = calloc(MAX_MIGRATIONS, sizeof(*list));
	int n, applied = 0, rc = -1;

	if (!list)
		return -1;
	n = list_migrations(schema_dir, list, MAX_MIGRATIONS);
	if (n < 0)
		goto out;
	if (exec_ok(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", "lock"))
		goto out;
	if (exec_ok(pg,
	            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
	            "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
	            "bookkeeping"))
		goto unlock;
	for (int i = 0; i < n; i++) {
		char query[128], path[1024], *sql;
		const char *values[2];
		char version[16];
		PGresult *r;
		int done;

		snprintf(query, sizeof(query), "SELECT 1 FROM schema_migrations WHERE version = %d",
		         list[i].version);
		r = PQexec(pg, query);
		done = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			log_error("migrate cannot read schema_migrations: %s",
			          PQresultErrorMessage(r));
			PQclear(r);
			goto unlock;
		}
		PQclear(r);
		if (done)
			continue;
		snprintf(path, sizeof(path), "%s/%s", schema_dir, list[i].name);
		sql = read_file(path);
		if (!sql) {
			log_error("migrate cannot read %s", path);
			goto unlock;
		}
		if (exec_ok(pg, "BEGIN", "begin")) {
			free(sql);
			goto unlock;
		}
		if (exec_ok(pg, sql, list[i].name)) {
			free(sql);
			exec_ok(pg, "ROLLBACK", "rollback");
			goto unlock;
		}
		free(sql);
		snprintf(version, sizeof(version), "%d", list[i].version);
		values[0] = version;
		values[1] = list[i].name;
		r = PQexecParams(pg,
		                 "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
		                 NULL, values, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK || exec_ok(pg, "COMMIT", "commit")) {
			PQclear(r);
			exec_ok(pg, "ROLLBACK", "rollback");
			goto unlock;
		}
		PQclear(r);
		log_info("migrate applied %s", list[i].name);
		applied++;
	}
	rc = applied;
unlock:
	exec_ok(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", "unlock");
out:
	free(list);
	return rc;
}
