/* mgmtd/cli.c — the account commands: `dpn-mgmtd user add` (password from
 * stdin, or generated and printed once) and `dpn-mgmtd token add` (an admin
 * API token, printed once, stored as SHA-256). */
#include <crypt.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg.h"
#include "server.h"

#define PW_MIN 8
#define PW_MAX 1024

/* Connects, or prints why and returns NULL. */
static PGconn *cli_connect(const char *db)
{
	PGconn *c = pg_connect(&(const struct pg_opts){ .conninfo = db,
	    .app = "dpn-mgmtd" });

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "dpn-mgmtd: database: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

/* Runs one statement; prints the server's message on failure. */
static int cli_exec(PGconn *c, PGresult **out, const char *sql, int n,
    const char *const *p)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		fprintf(stderr, "dpn-mgmtd: %s", PQresultErrorMessage(r));
		PQclear(r);
		return EIO;
	}
	if (out)
		*out = r;
	else
		PQclear(r);
	return 0;
}

/* Reads the password: the first line of stdin; empty stdin -> generated
 * (*generated set). */
static int read_password(char *pw, size_t size, int *generated)
{
	char tok[65];
	size_t n;

	*generated = 0;
	if (!fgets(pw, (int)size, stdin) || pw[0] == '\0' || pw[0] == '\n') {
		if (auth_random_hex(tok, 32))
			return EIO;
		snprintf(pw, size, "%.20s", tok);
		*generated = 1;
		return 0;
	}
	n = strlen(pw);
	if (n && pw[n - 1] == '\n')
		pw[--n] = '\0';
	if (n && pw[n - 1] == '\r')
		pw[--n] = '\0';
	if (n < PW_MIN || n >= PW_MAX - 1) {
		fprintf(stderr, "dpn-mgmtd: the password must be %d to %d bytes\n",
		    PW_MIN, PW_MAX - 2);
		return EINVAL;
	}
	return 0;
}

static int user_insert(PGconn *c, const char *name, const char *role,
    const char *hash, char **buildings, int nb)
{
	const char *p[3] = { name, hash, role };
	PGresult *r;
	int rc;

	if ((rc = cli_exec(c, NULL, "BEGIN", 0, NULL)) ||
	    (rc = cli_exec(c, &r, "INSERT INTO dpn.users (username, password_hash, role) "
		"VALUES ($1, $2, $3) RETURNING id", 3, p)))
		goto out;
	char id[24];
	snprintf(id, sizeof(id), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	for (int i = 0; i < nb; i++) {
		const char *q[2] = { id, buildings[i] };

		if ((rc = cli_exec(c, NULL, "INSERT INTO dpn.user_buildings "
		    "(user_id, building_id) VALUES ($1, $2)", 2, q)))
			goto out;
	}
	const char *a[2] = { name, role };
	if ((rc = cli_exec(c, NULL, "INSERT INTO dpn.audit_log (actor, action, object, "
	    "detail) VALUES ('cli', 'user.create', $1, jsonb_build_object('role', $2::text))",
	    2, a)))
		goto out;
	rc = cli_exec(c, NULL, "COMMIT", 0, NULL);
out:
	if (rc)
		cli_exec(c, NULL, "ROLLBACK", 0, NULL);
	return rc;
}

static void user_usage(FILE *f)
{
	fputs("usage: dpn-mgmtd user add --db CONNINFO [--role operator|manager] "
	    "[--building ID]... NAME\n  (password: first line of stdin; empty stdin "
	    "-> generated and printed once)\n", f);
}

int cmd_user_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'D' },
		{ "role", required_argument, NULL, 'r' },
		{ "building", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = NULL, *role = "operator";
	char *buildings[64], pw[PW_MAX], hash[CRYPT_OUTPUT_SIZE];
	int c, nb = 0, generated, rc = 1;
	PGconn *pg = NULL;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'D')
			db = optarg;
		else if (c == 'r')
			role = optarg;
		else if (c == 'b' && nb < 64)
			buildings[nb++] = optarg;
		else {
			user_usage(stderr);
			return 2;
		}
	}
	if (!db || optind != argc - 1 || (strcmp(role, "operator") && strcmp(role, "manager"))) {
		user_usage(stderr);
		return 2;
	}
	if (read_password(pw, sizeof(pw), &generated) || auth_password_hash(pw, hash, sizeof(hash)))
		goto out;
	if (!(pg = cli_connect(db)) ||
	    user_insert(pg, argv[optind], role, hash, buildings, nb))
		goto out;
	if (generated)
		printf("password: %s\n", pw);
	else
		printf("user %s added\n", argv[optind]);
	rc = 0;
out:
	explicit_bzero(pw, sizeof(pw));
	PQfinish(pg);
	return rc;
}

int cmd_token_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'D' },
		{ "name", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = NULL, *name = NULL;
	char tok[65], hash[65], defname[64];
	int c, rc = 1;
	PGconn *pg = NULL;
	PGresult *r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'D')
			db = optarg;
		else if (c == 'n')
			name = optarg;
		else
			goto usage;
	}
	if (!db || optind != argc - 1)
		goto usage;
	if (auth_random_hex(tok, 32))
		return 1;
	auth_sha256_hex(tok, 64, hash);
	snprintf(defname, sizeof(defname), "token-%.12s", hash);
	const char *p[3] = { argv[optind], hash, name ? name : defname };
	if (!(pg = cli_connect(db)) ||
	    cli_exec(pg, &r, "INSERT INTO dpn.api_tokens (token_hash, user_id, name) "
		"SELECT decode($2, 'hex'), u.id, $3 FROM dpn.users u WHERE u.username = $1 "
		"RETURNING id", 3, p))
		goto out;
	if (PQntuples(r) == 0)
		fprintf(stderr, "dpn-mgmtd: no such user: %s\n", argv[optind]);
	else
		printf("%s\n", tok), rc = 0;
	PQclear(r);
out:
	PQfinish(pg);
	return rc;
usage:
	fputs("usage: dpn-mgmtd token add --db CONNINFO [--name NAME] USER\n", stderr);
	return 2;
}
