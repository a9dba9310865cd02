/* mgmtd/main.c — dpn-mgmtd: command line (migrate, serve, user add, token
 * add), option parsing, and the hand-off to the server. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "migrate.h"

static void usage(FILE *f)
{
	fputs("usage: dpn-mgmtd migrate --db CONNINFO [--schema-dir DIR]\n", f);
}

static int cmd_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'D' },
		{ "schema-dir", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = NULL, *dir = NULL;
	char err[1024] = "";
	int c, applied = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'D': db = optarg; break;
		case 'S': dir = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!db || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!dir)
		dir = migrate_default_dir();
	if (migrate_run(db, dir, &applied, err, sizeof(err))) {
		fprintf(stderr, "dpn-mgmtd: migrate: %s\n", err);
		return 1;
	}
	printf("dpn-mgmtd: %d migration%s applied from %s\n", applied,
	    applied == 1 ? "" : "s", dir);
	return 0;
}

int main(int argc, char **argv)
{
	log_init("dpn-mgmtd", 1, LOG_LVL_INFO);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "migrate") == 0)
		return cmd_migrate(argc - 1, argv + 1);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
