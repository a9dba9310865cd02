/* mgmtd/migrate.h — applies the numbered schema migrations (schema/NNN_*.sql). */
#ifndef DPN_MGMTD_MIGRATE_H
#define DPN_MGMTD_MIGRATE_H

#include <stddef.h>

/* Applies, in order, every dir/NNN_name.sql whose number is not yet recorded
 * in dpn.schema_migrations, each in its own transaction, while holding an
 * advisory lock so that two runners never interleave. Creates schema dpn and
 * that table first. *applied (may be NULL) gets how many ran. Returns 0,
 * ENOENT (no such dir), EINVAL (two files with one number, or a bad name),
 * EIO (database error; err says which file and why). */
int migrate_run(const char *conninfo, const char *dir, int *applied,
    char *err, size_t errlen);

/* The default schema folder (path_default of "schema"). Static storage. */
const char *migrate_default_dir(void);

#endif
