/* lib/conf.h — a daemon's settings, declared once in a table.
 *
 * Each row names one setting: its type, where it lands in the daemon's
 * config struct, its default, its range, whether SIGHUP may change it and a
 * one-line help. The config file parser, the command line parser, `-n` and
 * `--help` all read that table, so a setting is written in one place.
 *
 * The same names everywhere: `max-conns = 100` in the file is
 * `--max-conns 100` (or `--max-conns=100`) on the command line. The file is
 * `name = value` lines; `#` starts a comment; a value may be double-quoted
 * (with \" and \\ escapes) to keep spaces or `#`. The command line wins over
 * the file, the file over the defaults.
 *
 * Errors are reported one by one through a callback, as
 * "FILE:LINE: NAME: what is wrong" (or "--NAME: ..." for the command line),
 * and parsing goes on, so `-n` lists every mistake at once. Library code: it
 * never logs or exits. */
#ifndef DPN_CONF_H
#define DPN_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

enum conf_type {
	CONF_STR,	/* char *, owned by the config (conf_free) */
	CONF_PATH,	/* char *, like STR; CONF_EXISTS: must exist */
	CONF_UINT,	/* unsigned, in [min, max] */
	CONF_BOOL,	/* int 0/1: yes no true false on off 1 0 */
	CONF_DURATION,	/* unsigned, in units of `unit` ms: "30s" "500ms" "2m" "1h" */
	CONF_SIZE,	/* uint64_t bytes, in [min, max]: "64k" "2M" "1G" */
	CONF_ENUM,	/* int, index into choices */
	CONF_ADDR,	/* struct conf_addr: numeric "ADDR:PORT" or "[V6]:PORT" */
	CONF_ADDRS,	/* struct conf_addrs: 1..CONF_ADDRS_MAX of them,
			 * separated by commas and/or spaces */
};

#define CONF_RELOAD   0x1	/* SIGHUP may change it while running */
#define CONF_REQUIRED 0x2	/* no default: must be set */
#define CONF_EXISTS   0x4	/* CONF_PATH: the path must exist */
#define CONF_FLAG     0x8	/* CONF_BOOL: on the command line, `--name` alone
				 * means yes (no value follows) */

#define CONF_ADDR_TEXT 64
#define CONF_ADDRS_MAX 8
#define CONF_ERRORS_MAX 50	/* errors reported for one file, then it stops */

/* A listen or peer address, parsed numerically (no DNS). */
struct conf_addr {
	struct sockaddr_storage sa;
	socklen_t len;
	char text[CONF_ADDR_TEXT];	/* as written, for logs */
};

/* Several addresses (a daemon listening on a public and a private side). */
struct conf_addrs {
	unsigned n;
	struct conf_addr a[CONF_ADDRS_MAX];
};

/* Reports one problem; `msg` is the full line without newline. */
typedef void (*conf_err_fn)(void *arg, const char *msg);

struct conf_item {
	const char *name;	/* "max-conns"; NULL ends the table */
	enum conf_type type;
	size_t off;		/* offsetof(struct my_config, field) */
	const char *def;	/* default, as text; NULL: unset (0/NULL) */
	uint64_t min, max;	/* UINT, SIZE, DURATION (in `unit`s) ranges;
				 * both 0: no range */
	unsigned unit;		/* DURATION: ms per stored unit (1 ms, 1000 s);
				 * a bare number is in this unit; 0 means 1 */
	const char *const *choices;	/* ENUM: NULL-terminated names */
	unsigned flags;		/* CONF_RELOAD, ... */
	char short_opt;		/* '-d' style alias, or 0 */
	const char *arg;	/* --help's name of the value ("N", "ADDR:PORT") */
	const char *help;	/* one line */
	/* Optional: a further check of the parsed value (e.g. a libpq
	 * conninfo). Returns 0, or nonzero with the reason in err. */
	int (*check)(const void *field, char *err, size_t errlen);
};

/* What the command line says besides settings. */
struct conf_cli {
	const char *file;	/* -f/--config FILE, or NULL */
	int check_only;		/* -n/--check */
	int help;		/* -h/--help */
	int nargs;		/* positional arguments left (argv order) */
	char **args;
};

/* Sets every item of tab in cfg to its default (strings copied). Returns
 * 0, ENOMEM, or EINVAL when a default does not parse (a bug in the table;
 * reported through err). */
int conf_defaults(const struct conf_item *tab, void *cfg, conf_err_fn err,
		  void *arg);

/* Reads `path` into cfg over what is there. Each bad line (unknown name,
 * bad value, set twice, too long) is reported as "PATH:LINE: ..." and the
 * rest still read; after CONF_ERRORS_MAX errors, one more line says so and
 * reading stops. Returns 0, EINVAL (something reported), or the errno of
 * opening or reading the file (reported too). */
int conf_read_file(const struct conf_item *tab, void *cfg, const char *path,
		   conf_err_fn err, void *arg);

/* Parses argv[0..argc) (no program name) into cli and cfg. Reports and
 * returns EINVAL for an unknown option or bad value; positional arguments
 * are collected in cli->args (pointers into argv). cli->args is malloc'd:
 * free with conf_cli_free. */
int conf_parse_args(const struct conf_item *tab, void *cfg, int argc,
		    char **argv, struct conf_cli *cli, conf_err_fn err,
		    void *arg);
void conf_cli_free(struct conf_cli *cli);

/* The whole load: defaults, then the file named by -f (or `default_file`
 * if it exists and no -f was given; NULL: none), then the command line, then
 * the required check. Returns 0 or EINVAL/ENOMEM/errno (all reported). */
int conf_load(const struct conf_item *tab, void *cfg, int argc, char **argv,
	      const char *default_file, struct conf_cli *cli, conf_err_fn err,
	      void *arg);

/* Reports every CONF_REQUIRED item still unset; EINVAL if any. */
int conf_check_required(const struct conf_item *tab, const void *cfg,
			conf_err_fn err, void *arg);

/* Parses one value for item it into the field at `field`. 0 or EINVAL
 * with the reason in errbuf; ENOMEM. */
int conf_parse_value(const struct conf_item *it, void *field, const char *val,
		     char *errbuf, size_t errlen);

/* Whether item it differs between two configs. */
int conf_differs(const struct conf_item *it, const void *a, const void *b);

/* Moves the reloadable settings that differ from `fresh` into `live`
 * (fresh keeps what live had, to be freed with it). Each changed setting
 * that needs a restart is reported as "NAME: changed; needs a restart" and
 * left as it was. Returns how many settings changed in live. */
unsigned conf_apply_reload(const struct conf_item *tab, void *live,
			   void *fresh, conf_err_fn err, void *arg);

/* Frees the strings of cfg (not cfg itself). */
void conf_free(const struct conf_item *tab, void *cfg);

/* Writes the options of tab, generated from the table: names, value,
 * default, range, "(reload)" and help, plus -f, -n and -h. */
void conf_usage(const struct conf_item *tab, FILE *f);

#endif
