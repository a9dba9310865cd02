/* mgmtd/migrate.c — the schema migration runner: each schema/NNN_*.sql not
 * yet recorded in dpn.schema_migrations runs once, in order, in its own
 * transaction, under an advisory lock. */
#include "migrate.h"
#include "paths.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "file.h"
#include "pg.h"

#define MIGRATE_LOCK_KEY "7283921001"   /* pg_advisory_lock key of dpn */
#define MIGRATE_MAX      1000
#define MIGRATE_MAX_SIZE (16 * 1024 * 1024)

struct mig {
	int version;
	char name[NAME_MAX + 1];
};

static int mig_cmp(const void *a, const void *b)
{
	const struct mig *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

/* 0 and *version if name is NNN_something.sql (three digits), else -1. */
static int mig_parse_name(const char *name, int *version)
{
	size_t n = strlen(name);

	if (n < 9 || strcmp(name + n - 4, ".sql") != 0)
		return -1;
	if (!isdigit((unsigned char)name[0]) || !isdigit((unsigned char)name[1]) ||
	    !isdigit((unsigned char)name[2]) || name[3] != '_')
		return -1;
	*version = (name[0] - '0') * 100 + (name[1] - '0') * 10 + (name[2] - '0');
	return 0;
}

/* Lists the migrations of dir, sorted. *out is malloc'd (caller frees). */
static int mig_list(const char *dir, struct mig **out, size_t *count,
    char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct mig *v = NULL;
	size_t n = 0;
	int rc = 0, version;

	if (!d) {
		rc = errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(rc));
		return rc;
	}
	v = calloc(MIGRATE_MAX, sizeof(*v));
	if (!v) {
		rc = ENOMEM;
		goto out;
	}
	while ((de = readdir(d))) {
		if (mig_parse_name(de->d_name, &version) < 0)
			continue;
		if (n == MIGRATE_MAX) {
			rc = EINVAL;
			snprintf(err, errlen, "%s: too many migrations", dir);
			goto out;
		}
		v[n].version = version;
		snprintf(v[n].name, sizeof(v[n].name), "%s", de->d_name);
		n++;
	}
	qsort(v, n, sizeof(*v), mig_cmp);
	for (size_t i = 1; i < n; i++)
		if (v[i].version == v[i - 1].version) {
			rc = EINVAL;
			snprintf(err, errlen, "%s and %s share one number",
			    v[i - 1].name, v[i].name);
			goto out;
		}
	*out = v;
	*count = n;
	v = NULL;
out:
	free(v);
	closedir(d);
	return rc;
}


/* Runs a command that returns no rows (or tuples we ignore); EIO with the
 * server's message in err. */
static int exec_ok(PGconn *c, const char *sql, int nparams,
    const char *const *params, char *err, size_t errlen)
{
	PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	int rc = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "%s", PQresultErrorMessage(r));
		rc = EIO;
	}
	PQclear(r);
	return rc;
}

/* Multi-statement script (from our own schema folder, never from input). */
static int exec_script(PGconn *c, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	int rc = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
	    st != PGRES_EMPTY_QUERY) {
		snprintf(err, errlen, "%s", PQresultErrorMessage(r));
		rc = EIO;
	}
	PQclear(r);
	return rc;
}

static int mig_applied(PGconn *c, int version, int *yes, char *err, size_t errlen)
{
	char v[16];
	const char *p[1] = { v };
	PGresult *r;

	snprintf(v, sizeof(v), "%d", version);
	r = PQexecParams(c, "SELECT 1 FROM dpn.schema_migrations WHERE version = $1",
	    1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "%s", PQresultErrorMessage(r));
		PQclear(r);
		return EIO;
	}
	*yes = PQntuples(r) > 0;
	PQclear(r);
	return 0;
}

/* Applies one migration in its own transaction. */
static int mig_apply(PGconn *c, const char *dir, const struct mig *m,
    char *err, size_t errlen)
{
	char path[PATH_MAX], v[16], e[512] = "";
	const char *p[2] = { v, m->name };
	char *sql = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, m->name);
	snprintf(v, sizeof(v), "%d", m->version);
	if ((rc = file_read_all(path, MIGRATE_MAX_SIZE, &sql, NULL))) {
		snprintf(err, errlen, "%s: %s", path, strerror(rc));
		return rc;
	}
	if ((rc = exec_ok(c, "BEGIN", 0, NULL, e, sizeof(e))) ||
	    (rc = exec_script(c, sql, e, sizeof(e))) ||
	    (rc = exec_ok(c, "INSERT INTO dpn.schema_migrations (version, name) "
		"VALUES ($1, $2)", 2, p, e, sizeof(e))) ||
	    (rc = exec_ok(c, "COMMIT", 0, NULL, e, sizeof(e)))) {
		exec_ok(c, "ROLLBACK", 0, NULL, path, 0);
		snprintf(err, errlen, "%s: %s", m->name, e);
	}
	free(sql);
	return rc;
}

static int mig_prepare(PGconn *c, char *err, size_t errlen)
{
	int rc;

	if ((rc = exec_ok(c, "SET client_min_messages = warning", 0, NULL, err, errlen)) ||
	    (rc = exec_ok(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0,
		NULL, err, errlen)))
		return rc;
	if ((rc = exec_ok(c, "CREATE SCHEMA IF NOT EXISTS dpn", 0, NULL, err, errlen)))
		return rc;
	return exec_ok(c, "CREATE TABLE IF NOT EXISTS dpn.schema_migrations ("
	    " version integer PRIMARY KEY,"
	    " name text NOT NULL,"
	    " applied_at timestamptz NOT NULL DEFAULT now())", 0, NULL, err, errlen);
}

int migrate_run(const char *conninfo, const char *dir, int *applied,
    char *err, size_t errlen)
{
	struct mig *v = NULL;
	size_t n = 0;
	PGconn *c = NULL;
	int rc, yes, count = 0;

	if ((rc = mig_list(dir, &v, &n, err, errlen)))
		return rc;
	c = pg_connect(&(const struct pg_opts){ .conninfo = conninfo,
	    .app = "dpn-mgmtd-migrate" });
	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(err, errlen, "database: %s", PQerrorMessage(c));
		rc = EIO;
		goto out;
	}
	if ((rc = mig_prepare(c, err, errlen)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		if ((rc = mig_applied(c, v[i].version, &yes, err, errlen)))
			goto out;
		if (yes)
			continue;
		if ((rc = mig_apply(c, dir, &v[i], err, errlen)))
			goto out;
		count++;
	}
	if (applied)
		*applied = count;
out:
	PQfinish(c);   /* ends the session and so frees the advisory lock */
	free(v);
	return rc;
}

const char *migrate_default_dir(void)
{
	static char buf[PATH_MAX];

	return path_default("schema", DPN_SCHEMA_DIR, buf);
}
