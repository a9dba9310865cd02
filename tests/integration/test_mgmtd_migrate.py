#!/usr/bin/env python3
"""test_mgmtd_migrate — `dpn-mgmtd migrate`: the project's schema applies on a
fresh database and a second run is a no-op; a failing migration leaves
nothing behind; two runners at once apply each migration once."""
import os
import shutil
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run, tmpdir  # noqa: E402
import mgmtd  # noqa: E402


def dump(pg):
    """Schema-only dump of database dpn, for before/after comparisons."""
    return pg.psql("SELECT table_schema, table_name, column_name, data_type "
                   "FROM information_schema.columns "
                   "WHERE table_schema IN ('dpn','public') ORDER BY 1,2,3")


@case
def project_schema_applies_and_twice_is_a_noop(pg):
    p = mgmtd.migrate(pg)
    files = sorted(f for f in os.listdir(mgmtd.SCHEMA) if f.endswith('.sql'))
    check(files, 'schema/ has migrations')
    check('%d migration' % len(files) in p.stdout, 'first run: ' + p.stdout)
    rows = pg.psql('SELECT name FROM dpn.schema_migrations ORDER BY version')
    check_eq([r[0] for r in rows], files, 'recorded migrations')
    check(pg.scalar("SELECT to_regclass('dpn.sites') IS NOT NULL") == 't',
          'dpn.sites exists')
    before = dump(pg)
    p = mgmtd.migrate(pg)
    check('0 migrations applied' in p.stdout, 'second run: ' + p.stdout)
    check_eq(dump(pg), before, 'schema after a second run')


def scratch(files):
    d = tmpdir()
    for name, sql in files.items():
        with open(os.path.join(d, name), 'w') as f:
            f.write(sql)
    return d


@case
def failing_migration_is_rolled_back_and_named(pg):
    d = scratch({'900_ok.sql': 'CREATE TABLE dpn.m900 (a int);',
                 '901_bad.sql': 'CREATE TABLE dpn.m901 (a int);\nSELECT nope;',
                 'README': 'not a migration'})
    try:
        p = mgmtd.migrate(pg, d, check=False)
        check(p.returncode != 0, 'a failing migration fails the command')
        check('901_bad.sql' in p.stderr and 'nope' in p.stderr,
              'error names the file and the cause: ' + p.stderr)
        check_eq(pg.scalar("SELECT to_regclass('dpn.m901') IS NULL"), 't',
                 'the failed migration left no table')
        check_eq(pg.scalar('SELECT count(*) FROM dpn.schema_migrations '
                           'WHERE version = 901'), '0', '901 not recorded')
        check_eq(pg.scalar('SELECT count(*) FROM dpn.schema_migrations '
                           'WHERE version = 900'), '1', '900 recorded')
        with open(os.path.join(d, '901_bad.sql'), 'w') as f:
            f.write('CREATE TABLE dpn.m901 (a int);')
        mgmtd.migrate(pg, d)
        check_eq(pg.scalar("SELECT to_regclass('dpn.m901') IS NOT NULL"), 't',
                 'fixed migration applies on the next run')
    finally:
        shutil.rmtree(d)


@case
def bad_folder_and_duplicate_numbers_are_refused(pg):
    p = mgmtd.migrate(pg, '/nonexistent/schema', check=False)
    check(p.returncode != 0 and '/nonexistent/schema' in p.stderr,
          'missing folder named: ' + p.stderr)
    d = scratch({'910_a.sql': 'SELECT 1;', '910_b.sql': 'SELECT 1;'})
    try:
        p = mgmtd.migrate(pg, d, check=False)
        check(p.returncode != 0 and '910_a.sql' in p.stderr,
              'duplicate number named: ' + p.stderr)
        check_eq(pg.scalar('SELECT count(*) FROM dpn.schema_migrations '
                           'WHERE version = 910'), '0', 'nothing applied')
    finally:
        shutil.rmtree(d)


@case
def concurrent_runners_apply_each_migration_once(pg):
    # Not idempotent on purpose: a second application would fail.
    d = scratch({'920_slow.sql': 'CREATE TABLE dpn.m920 (a int); '
                 'SELECT pg_sleep(0.5);',
                 '921_next.sql': 'CREATE TABLE dpn.m921 (a int);'})
    try:
        procs = [subprocess.Popen([mgmtd.MGMTD, 'migrate', '--db', pg.conninfo,
                                   '--schema-dir', d], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
        outs = [p.communicate(timeout=60) for p in procs]
        for p, (out, err) in zip(procs, outs):
            check_eq(p.returncode, 0, 'runner exit (%s)' % err)
        applied = sorted(int(o.split()[1]) for o, _ in outs)
        check_eq(applied, [0, 0, 0, 2], 'migrations applied per runner')
    finally:
        shutil.rmtree(d)


@case
def usage_errors(pg):
    p = subprocess.run([mgmtd.MGMTD, 'migrate'], capture_output=True, text=True)
    check(p.returncode == 2 and 'usage' in p.stderr, 'no --db: usage')
    d = scratch({'930_a.sql': 'SELECT 1;'})
    p = subprocess.run([mgmtd.MGMTD, 'migrate', '--db', 'host=/nonexistent dbname=x',
                        '--schema-dir', d], capture_output=True, text=True)
    shutil.rmtree(d)
    check(p.returncode == 1 and 'database' in p.stderr, 'bad db: ' + p.stderr)


if __name__ == '__main__':
    with Cluster() as cluster:
        run(cluster)
