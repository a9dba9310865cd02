/* lib/conf.c — the settings table: defaults, config file, command line,
 * reload and --help (see conf.h). */
#include "conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "log.h"

#define LINE_MAX_LEN 4096
#define WHY_LEN 256

static void report(conf_err_fn err, void *arg, const char *fmt, ...)
	DPN_PRINTF(3, 4);
static void report(conf_err_fn err, void *arg, const char *fmt, ...)
{
	char msg[LINE_MAX_LEN + 512];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err(arg, msg);
}

static void *field_of(const struct conf_item *it, const void *cfg)
{
	return (char *)(uintptr_t)cfg + it->off;
}

static size_t field_size(enum conf_type t)
{
	switch (t) {
	case CONF_STR:
	case CONF_PATH: return sizeof(char *);
	case CONF_UINT:
	case CONF_DURATION: return sizeof(unsigned);
	case CONF_BOOL:
	case CONF_ENUM: return sizeof(int);
	case CONF_SIZE: return sizeof(uint64_t);
	case CONF_ADDR: return sizeof(struct conf_addr);
	case CONF_ADDRS: return sizeof(struct conf_addrs);
	}
	return 0;
}

static const struct conf_item *find(const struct conf_item *tab,
				    const char *name, size_t len)
{
	for (; tab->name; tab++)
		if (strlen(tab->name) == len && !memcmp(tab->name, name, len))
			return tab;
	return NULL;
}

/* Decimal digits into *out, then the rest of s in *rest. EINVAL for no
 * digits, ERANGE for overflow. */
static int parse_u64(const char *s, uint64_t *out, const char **rest)
{
	uint64_t v = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return ERANGE;
		v = v * 10 + d;
	}
	if (p == s)
		return EINVAL;
	*out = v;
	*rest = p;
	return 0;
}

static int mul_ok(uint64_t v, uint64_t m, uint64_t *out)
{
	if (m && v > UINT64_MAX / m)
		return ERANGE;
	*out = v * m;
	return 0;
}

static int in_range(const struct conf_item *it, uint64_t v, const char *unit,
		    char *why, size_t wlen)
{
	if ((it->min || it->max) && (v < it->min || v > it->max)) {
		snprintf(why, wlen, "must be %" PRIu64 " to %" PRIu64 "%s",
			 it->min, it->max, unit);
		return EINVAL;
	}
	return 0;
}

static int parse_uint(const struct conf_item *it, const char *s,
		      unsigned *out, char *why, size_t wlen)
{
	const char *rest;
	uint64_t v;

	if (parse_u64(s, &v, &rest) || *rest || v > UINT32_MAX) {
		snprintf(why, wlen, "want a whole number, not \"%s\"", s);
		return EINVAL;
	}
	if (in_range(it, v, "", why, wlen))
		return EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int parse_duration(const struct conf_item *it, const char *s,
			  unsigned *out, char *why, size_t wlen)
{
	uint64_t unit = it->unit ? it->unit : 1, v, ms;
	const char *rest;
	static const struct { const char *sfx; uint64_t ms; } sfx[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	uint64_t mul = 0;

	if (parse_u64(s, &v, &rest) == 0 && !*rest)
		mul = unit;
	for (size_t i = 0; !mul && *s && i < sizeof(sfx) / sizeof(sfx[0]); i++)
		if (parse_u64(s, &v, &rest) == 0 && !strcmp(rest, sfx[i].sfx))
			mul = sfx[i].ms;
	if (!mul || mul_ok(v, mul, &ms) || ms % unit || ms / unit > UINT32_MAX) {
		snprintf(why, wlen, "want a duration such as 500ms, 30s, 5m, 1h%s, "
			 "not \"%s\"", unit == 1000 ? " (whole seconds)" : "", s);
		return EINVAL;
	}
	if (in_range(it, ms / unit, unit == 1000 ? " s" : unit == 1 ? " ms" : "",
		     why, wlen))
		return EINVAL;
	*out = (unsigned)(ms / unit);
	return 0;
}

static int parse_size(const struct conf_item *it, const char *s,
		      uint64_t *out, char *why, size_t wlen)
{
	const char *rest;
	uint64_t v, mul = 0, bytes;

	if (parse_u64(s, &v, &rest) == 0) {
		if (!*rest)
			mul = 1;
		else if (!strcmp(rest, "k") || !strcmp(rest, "K"))
			mul = 1024;
		else if (!strcmp(rest, "M"))
			mul = 1024 * 1024;
		else if (!strcmp(rest, "G"))
			mul = 1024 * 1024 * 1024;
	}
	if (!mul || mul_ok(v, mul, &bytes)) {
		snprintf(why, wlen, "want a size such as 512, 64k, 2M, 1G, "
			 "not \"%s\"", s);
		return EINVAL;
	}
	if (in_range(it, bytes, " bytes", why, wlen))
		return EINVAL;
	*out = bytes;
	return 0;
}

static int parse_bool(const char *s, int *out, char *why, size_t wlen)
{
	static const char *const yes[] = { "yes", "true", "on", "1" },
			  *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
			*out = !strcasecmp(s, yes[i]);
			return 0;
		}
	}
	snprintf(why, wlen, "want yes or no, not \"%s\"", s);
	return EINVAL;
}

static int parse_enum(const struct conf_item *it, const char *s, int *out,
		      char *why, size_t wlen)
{
	size_t n = 0;

	for (int i = 0; it->choices && it->choices[i]; i++) {
		if (!strcmp(s, it->choices[i])) {
			*out = i;
			return 0;
		}
	}
	n = (size_t)snprintf(why, wlen, "want one of");
	for (int i = 0; it->choices && it->choices[i] && n < wlen; i++)
		n += (size_t)snprintf(why + n, wlen - n, "%s%s", i ? ", " : " ",
				      it->choices[i]);
	return EINVAL;
}

/* "A.B.C.D:PORT" or "[V6]:PORT", numeric. */
static int parse_addr(const char *s, struct conf_addr *out, char *why,
		      size_t wlen)
{
	const char *colon = strrchr(s, ':'), *h = s, *rest;
	char host[INET6_ADDRSTRLEN + 2];
	struct conf_addr a;
	struct sockaddr_in *v4 = (struct sockaddr_in *)(void *)&a.sa;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)(void *)&a.sa;
	uint64_t port;
	size_t n;

	memset(&a, 0, sizeof(a));
	if (!colon || strlen(s) >= CONF_ADDR_TEXT ||
	    parse_u64(colon + 1, &port, &rest) || *rest || port > 65535)
		goto bad;
	n = (size_t)(colon - s);
	if (s[0] == '[' && n >= 2 && colon[-1] == ']')
		h++, n -= 2;
	if (n == 0 || n >= sizeof(host))
		goto bad;
	memcpy(host, h, n);
	host[n] = '\0';
	if (h == s && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		a.len = sizeof(*v4);
	} else if (h != s && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		a.len = sizeof(*v6);
	} else {
		goto bad;
	}
	snprintf(a.text, sizeof(a.text), "%s", s);
	*out = a;
	return 0;
bad:
	snprintf(why, wlen, "want a numeric ADDRESS:PORT or [IPv6]:PORT, not "
		 "\"%.80s\"", s);
	return EINVAL;
}

/* "A:P, B:P C:P": each parsed as CONF_ADDR, none twice. */
static int parse_addrs(const char *s, struct conf_addrs *out, char *why,
		       size_t wlen)
{
	struct conf_addrs l;
	char one[CONF_ADDR_TEXT + 1];
	size_t n;

	memset(&l, 0, sizeof(l));
	for (s += strspn(s, ", \t"); *s; s += strspn(s, ", \t")) {
		n = strcspn(s, ", \t");
		if (l.n == CONF_ADDRS_MAX || n > CONF_ADDR_TEXT) {
			snprintf(why, wlen, "at most %d addresses", CONF_ADDRS_MAX);
			return EINVAL;
		}
		memcpy(one, s, n);
		one[n] = '\0';
		if (parse_addr(one, &l.a[l.n], why, wlen))
			return EINVAL;
		for (unsigned i = 0; i < l.n; i++) {
			if (!strcmp(l.a[i].text, one)) {
				snprintf(why, wlen, "%s given twice", one);
				return EINVAL;
			}
		}
		l.n++;
		s += n;
	}
	if (l.n == 0) {
		snprintf(why, wlen, "want at least one ADDRESS:PORT");
		return EINVAL;
	}
	*out = l;
	return 0;
}

static int parse_str(const struct conf_item *it, const char *s, char **out,
		     char *why, size_t wlen)
{
	struct stat st;
	char *c;

	if (it->type == CONF_PATH && !*s) {
		snprintf(why, wlen, "want a path, not nothing");
		return EINVAL;
	}
	if ((it->flags & CONF_EXISTS) && stat(s, &st)) {
		snprintf(why, wlen, "%s: %s", s, strerror(errno));
		return EINVAL;
	}
	if (!(c = strdup(s))) {
		snprintf(why, wlen, "out of memory");
		return ENOMEM;
	}
	free(*out);
	*out = c;
	return 0;
}

int conf_parse_value(const struct conf_item *it, void *field, const char *val,
		     char *why, size_t wlen)
{
	int rc = EINVAL;

	switch (it->type) {
	case CONF_STR:
	case CONF_PATH: rc = parse_str(it, val, field, why, wlen); break;
	case CONF_UINT: rc = parse_uint(it, val, field, why, wlen); break;
	case CONF_BOOL: rc = parse_bool(val, field, why, wlen); break;
	case CONF_DURATION: rc = parse_duration(it, val, field, why, wlen); break;
	case CONF_SIZE: rc = parse_size(it, val, field, why, wlen); break;
	case CONF_ENUM: rc = parse_enum(it, val, field, why, wlen); break;
	case CONF_ADDR: rc = parse_addr(val, field, why, wlen); break;
	case CONF_ADDRS: rc = parse_addrs(val, field, why, wlen); break;
	}
	if (rc == 0 && it->check && it->check(field, why, wlen))
		rc = EINVAL;
	return rc;
}

/* Parses val into a scratch copy first, so that a bad value leaves the
 * field as it was. */
static int set_value(const struct conf_item *it, void *cfg, const char *val,
		     char *why, size_t wlen)
{
	union { char *s; unsigned u; int i; uint64_t z; struct conf_addrs a; } tmp;
	void *f = field_of(it, cfg);
	size_t size = field_size(it->type);
	int rc;

	memset(&tmp, 0, sizeof(tmp));
	rc = conf_parse_value(it, &tmp, val, why, wlen);
	if (rc) {
		if (it->type == CONF_STR || it->type == CONF_PATH)
			free(tmp.s);
		return rc;
	}
	if (it->type == CONF_STR || it->type == CONF_PATH)
		free(*(char **)f);
	memcpy(f, &tmp, size);
	return 0;
}

int conf_defaults(const struct conf_item *tab, void *cfg, conf_err_fn err,
		  void *arg)
{
	char why[WHY_LEN];
	int rc = 0, r;

	conf_free(tab, cfg);
	for (const struct conf_item *it = tab; it->name; it++)
		memset(field_of(it, cfg), 0, field_size(it->type));
	for (const struct conf_item *it = tab; it->name; it++) {
		if (!it->def)
			continue;
		if ((r = set_value(it, cfg, it->def, why, sizeof(why)))) {
			report(err, arg, "default of %s: %s", it->name, why);
			rc = rc ? rc : r;
		}
	}
	return rc;
}

/* Splits one config line into name and value, in place. 0 with *name
 * NULL for a blank or comment line; EINVAL with the reason in why. */
static int split_line(char *s, char **name, char **val, char *why, size_t wlen)
{
	char *eq, *e, *p, *q;

	*name = NULL;
	s += strspn(s, " \t");
	if (!*s || *s == '#' || *s == '\n' || *s == '\r')
		return 0;
	if (!(eq = strchr(s, '='))) {
		snprintf(why, wlen, "want NAME = VALUE");
		return EINVAL;
	}
	for (e = eq; e > s && (e[-1] == ' ' || e[-1] == '\t'); e--)
		;
	*e = '\0';
	p = eq + 1 + strspn(eq + 1, " \t");
	if (*p == '"') {
		for (q = *val = ++p; *p && *p != '"'; p++) {
			if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
				p++;
			*q++ = *p;
		}
		if (*p != '"') {
			snprintf(why, wlen, "no closing quote");
			return EINVAL;
		}
		*q = '\0';
		p += 1 + strspn(p + 1, " \t\r\n");
		if (*p && *p != '#') {
			snprintf(why, wlen, "text after the closing quote");
			return EINVAL;
		}
	} else {
		*val = p;
		p += strcspn(p, "#\r\n");
		while (p > *val && (p[-1] == ' ' || p[-1] == '\t'))
			p--;
		*p = '\0';
	}
	*name = s;
	return 0;
}

/* Reads the rest of an over-long line. */
static void skip_line(FILE *f)
{
	int c;

	while ((c = getc(f)) != EOF && c != '\n')
		;
}

/* One line of a config file; `seen` holds the line each item was set on. */
static int file_line(const struct conf_item *tab, void *cfg, char *line,
		     unsigned *seen, const char *path, unsigned ln,
		     conf_err_fn err, void *arg)
{
	const struct conf_item *it;
	char why[WHY_LEN], *name, *val;

	if (split_line(line, &name, &val, why, sizeof(why))) {
		report(err, arg, "%s:%u: %s", path, ln, why);
		return EINVAL;
	}
	if (!name)
		return 0;
	if (!(it = find(tab, name, strlen(name)))) {
		report(err, arg, "%s:%u: %s: no such setting", path, ln, name);
		return EINVAL;
	}
	if (seen[it - tab]) {
		report(err, arg, "%s:%u: %s: set twice (first on line %u)", path,
		       ln, name, seen[it - tab]);
		return EINVAL;
	}
	seen[it - tab] = ln;
	if (set_value(it, cfg, val, why, sizeof(why))) {
		report(err, arg, "%s:%u: %s: %s", path, ln, name, why);
		return EINVAL;
	}
	return 0;
}

static size_t tab_len(const struct conf_item *tab)
{
	size_t n = 0;

	while (tab[n].name)
		n++;
	return n;
}

int conf_read_file(const struct conf_item *tab, void *cfg, const char *path,
		   conf_err_fn err, void *arg)
{
	char *line = NULL;
	unsigned *seen = NULL, ln = 0, nerr = 0;
	int rc = 0;
	FILE *f;

	if (!(f = fopen(path, "re"))) {
		rc = errno;
		report(err, arg, "%s: %s", path, strerror(rc));
		return rc;
	}
	if (!(seen = calloc(tab_len(tab) + 1, sizeof(*seen))) ||
	    !(line = malloc(LINE_MAX_LEN + 2))) {
		rc = ENOMEM;
		report(err, arg, "%s: out of memory", path);
		goto out;
	}
	while (fgets(line, LINE_MAX_LEN + 2, f)) {
		size_t n = strlen(line);

		ln++;
		if (nerr == CONF_ERRORS_MAX) {
			report(err, arg, "%s:%u: too many errors; stopping", path, ln);
			break;
		}
		if (n > LINE_MAX_LEN && line[n - 1] != '\n') {
			report(err, arg, "%s:%u: line longer than %d bytes", path,
			       ln, LINE_MAX_LEN);
			skip_line(f);
			rc = EINVAL;
			nerr++;
			continue;
		}
		if (file_line(tab, cfg, line, seen, path, ln, err, arg)) {
			rc = EINVAL;
			nerr++;
		}
	}
	if (ferror(f)) {
		rc = errno ? errno : EIO;
		report(err, arg, "%s: %s", path, strerror(rc));
	}
out:
	free(line);
	free(seen);
	fclose(f);
	return rc;
}

/* Whether name[0..len) is the built-in option -s or --lng. */
static int is_opt(const char *name, size_t len, char s, const char *lng)
{
	return len == 1 ? *name == s :
	       len == strlen(lng) && !memcmp(name, lng, len);
}

/* A --long or -s option. *used is how many argv entries it took. */
static int cli_opt(const struct conf_item *tab, void *cfg, char **argv,
		   int left, struct conf_cli *cli, int *used, conf_err_fn err,
		   void *arg)
{
	const char *a = argv[0], *name, *val = NULL, *eq;
	const struct conf_item *it = NULL;
	char why[WHY_LEN];
	size_t len;

	*used = 1;
	if (a[1] != '-') {	/* -x */
		name = a + 1;
		len = 1;
		if (a[2] && (a[1] == 'n' || a[1] == 'h'))
			goto unknown;
		if (a[2])
			val = a + 2;
		for (const struct conf_item *t = tab; t->name && !it; t++)
			if (t->short_opt && t->short_opt == a[1])
				it = t;
	} else {
		name = a + 2;
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		val = eq ? eq + 1 : NULL;
		it = find(tab, name, len);
	}
	if (!it && is_opt(name, len, 'n', "check")) {
		if (val)
			goto unknown;
		cli->check_only = 1;
		return 0;
	}
	if (!it && is_opt(name, len, 'h', "help")) {
		if (val)
			goto unknown;
		cli->help = 1;
		return 0;
	}
	if (!it && is_opt(name, len, 'f', "config")) {
		if (!val && left > 1)
			val = argv[(*used)++];
		if (!val)
			goto noval;
		cli->file = val;
		return 0;
	}
	if (!it)
		goto unknown;
	if (!val && it->type == CONF_BOOL && (it->flags & CONF_FLAG))
		val = "yes";
	if (!val && left > 1)
		val = argv[(*used)++];
	if (!val)
		goto noval;
	if (set_value(it, cfg, val, why, sizeof(why))) {
		report(err, arg, "--%s: %s", it->name, why);
		return EINVAL;
	}
	return 0;
noval:
	report(err, arg, "%s: wants a value", a);
	return EINVAL;
unknown:
	report(err, arg, "%s: no such option (try --help)", a);
	return EINVAL;
}

int conf_parse_args(const struct conf_item *tab, void *cfg, int argc,
		    char **argv, struct conf_cli *cli, conf_err_fn err,
		    void *arg)
{
	int i = 0, used, rc = 0, opts = 1;

	memset(cli, 0, sizeof(*cli));
	if (!(cli->args = calloc((size_t)argc + 1, sizeof(char *)))) {
		report(err, arg, "out of memory");
		return ENOMEM;
	}
	while (i < argc) {
		if (opts && !strcmp(argv[i], "--")) {
			opts = 0;
			i++;
		} else if (opts && argv[i][0] == '-' && argv[i][1]) {
			if (cli_opt(tab, cfg, argv + i, argc - i, cli, &used,
				    err, arg))
				rc = EINVAL;
			i += used;
		} else {
			cli->args[cli->nargs++] = argv[i++];
		}
	}
	return rc;
}

void conf_cli_free(struct conf_cli *cli)
{
	free(cli->args);
	cli->args = NULL;
	cli->nargs = 0;
}

int conf_check_required(const struct conf_item *tab, const void *cfg,
			conf_err_fn err, void *arg)
{
	int rc = 0;

	for (const struct conf_item *it = tab; it->name; it++) {
		const void *f = field_of(it, cfg);
		int unset = (it->type == CONF_STR || it->type == CONF_PATH) ?
			    !*(char *const *)f :
			    it->type == CONF_ADDR ?
			    !((const struct conf_addr *)f)->len :
			    it->type == CONF_ADDRS ?
			    !((const struct conf_addrs *)f)->n : 0;

		if ((it->flags & CONF_REQUIRED) && unset) {
			report(err, arg, "%s: must be set (in the config file "
			       "or as --%s)", it->name, it->name);
			rc = EINVAL;
		}
	}
	return rc;
}

static void silent(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

int conf_load(const struct conf_item *tab, void *cfg, int argc, char **argv,
	      const char *default_file, struct conf_cli *cli, conf_err_fn err,
	      void *arg)
{
	int rc, r;
	struct stat st;

	/* The command line names the file, yet wins over it: read it once
	 * to find the file (and report its errors), and again after. */
	if ((rc = conf_parse_args(tab, cfg, argc, argv, cli, err, arg)))
		return rc;
	if (cli->help)
		return 0;
	if ((rc = conf_defaults(tab, cfg, err, arg)))
		return rc;
	if (!cli->file && default_file && stat(default_file, &st) == 0)
		cli->file = default_file;
	rc = cli->file ? conf_read_file(tab, cfg, cli->file, err, arg) : 0;
	conf_cli_free(cli);
	r = conf_parse_args(tab, cfg, argc, argv, cli, silent, NULL);
	if (!cli->file && default_file && stat(default_file, &st) == 0)
		cli->file = default_file;
	rc = rc ? rc : r;
	if ((r = conf_check_required(tab, cfg, err, arg)))
		rc = rc ? rc : r;
	return rc;
}

int conf_differs(const struct conf_item *it, const void *a, const void *b)
{
	const void *fa = field_of(it, a), *fb = field_of(it, b);

	if (it->type == CONF_STR || it->type == CONF_PATH) {
		const char *sa = *(char *const *)fa, *sb = *(char *const *)fb;

		return (!sa || !sb) ? sa != sb : strcmp(sa, sb) != 0;
	}
	if (it->type == CONF_ADDR)
		return strcmp(((const struct conf_addr *)fa)->text,
			      ((const struct conf_addr *)fb)->text) != 0;
	if (it->type == CONF_ADDRS) {
		const struct conf_addrs *la = fa, *lb = fb;
		unsigned i = 0;

		while (i < la->n && i < lb->n && !strcmp(la->a[i].text, lb->a[i].text))
			i++;
		return la->n != lb->n || i != la->n;
	}
	return memcmp(fa, fb, field_size(it->type)) != 0;
}

unsigned conf_apply_reload(const struct conf_item *tab, void *live,
			   void *fresh, conf_err_fn err, void *arg)
{
	unsigned changed = 0;
	union { char *s; struct conf_addrs a; uint64_t z; } tmp;

	for (const struct conf_item *it = tab; it->name; it++) {
		size_t n = field_size(it->type);

		if (!conf_differs(it, live, fresh))
			continue;
		if (!(it->flags & CONF_RELOAD)) {
			report(err, arg, "%s: changed; needs a restart", it->name);
			continue;
		}
		memcpy(&tmp, field_of(it, live), n);
		memcpy(field_of(it, live), field_of(it, fresh), n);
		memcpy(field_of(it, fresh), &tmp, n);
		changed++;
	}
	return changed;
}

void conf_free(const struct conf_item *tab, void *cfg)
{
	for (const struct conf_item *it = tab; it->name; it++) {
		if (it->type == CONF_STR || it->type == CONF_PATH) {
			char **s = field_of(it, cfg);

			free(*s);
			*s = NULL;
		}
	}
}

static const char *arg_name(const struct conf_item *it, char *buf, size_t len)
{
	size_t n = 0;

	if (it->arg)
		return it->arg;
	switch (it->type) {
	case CONF_STR: return "TEXT";
	case CONF_PATH: return "PATH";
	case CONF_UINT: return "N";
	case CONF_BOOL: return "yes|no";
	case CONF_DURATION: return "DURATION";
	case CONF_SIZE: return "SIZE";
	case CONF_ADDR: return "ADDR:PORT";
	case CONF_ADDRS: return "ADDR:PORT,...";
	case CONF_ENUM: break;
	}
	buf[0] = '\0';
	for (int i = 0; it->choices && it->choices[i] && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? "|" : "",
				      it->choices[i]);
	return buf;
}

static void usage_item(const struct conf_item *it, FILE *f)
{
	char opt[96], a[128], notes[192] = "";
	int flag = it->type == CONF_BOOL && (it->flags & CONF_FLAG);
	size_t n = 0;

	snprintf(opt, sizeof(opt), "%s%s%s--%s%s%s", it->short_opt ? "-" : "",
		 it->short_opt ? (char[2]){ it->short_opt, 0 } : "",
		 it->short_opt ? ", " : "", it->name, flag ? "" : " ",
		 flag ? "" : arg_name(it, a, sizeof(a)));
	if (it->flags & CONF_REQUIRED)
		n += (size_t)snprintf(notes + n, sizeof(notes) - n, "; required");
	if (it->def && n < sizeof(notes))
		n += (size_t)snprintf(notes + n, sizeof(notes) - n, "; default %s",
				      it->def);
	if ((it->min || it->max) && n < sizeof(notes))
		n += (size_t)snprintf(notes + n, sizeof(notes) - n,
				      "; %" PRIu64 "..%" PRIu64 "%s", it->min,
				      it->max, it->type != CONF_DURATION ? "" :
				      it->unit == 1000 ? " s" : " ms");
	if ((it->flags & CONF_RELOAD) && n < sizeof(notes))
		n += (size_t)snprintf(notes + n, sizeof(notes) - n, "; reload");
	fprintf(f, "  %-32s %s%s%s%s\n", opt, it->help ? it->help : "",
		n ? " [" : "", n ? notes + 2 : "", n ? "]" : "");
}

void conf_usage(const struct conf_item *tab, FILE *f)
{
	fputs("  -f, --config FILE                read settings from FILE (NAME = VALUE lines)\n"
	      "  -n, --check                      check the settings and exit\n"
	      "  -h, --help                       this help\n", f);
	for (const struct conf_item *it = tab; it->name; it++)
		usage_item(it, f);
	fputs("Every --NAME is also a NAME = VALUE line of the config file; the "
	      "command line wins.\n\"reload\": SIGHUP applies a change while "
	      "running.\n", f);
}
