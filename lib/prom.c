/* lib/prom.c — the Prometheus registry (see prom.h). One mutex guards the
 * lists (declaring, creating a series, rendering); values are atomics. */
#include "prom.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NHASH 64

struct prom_series {
	struct prom_series *next;	/* creation order */
	struct prom_series *hnext;	/* hash chain */
	_Atomic int64_t v;		/* counter, gauge; histogram count */
	_Atomic uint64_t sum_bits;	/* histogram: double sum */
	const struct prom_family *fam;
	char *labels;			/* `a="x",b="y"`, or "" */
	_Atomic uint64_t buckets[];	/* histogram: per bound (+Inf last) */
};

struct prom_family {
	struct prom_family *next;
	struct prom *reg;
	enum prom_type type;
	char *name, *help;
	char *label[PROM_LABELS_MAX];
	size_t nlabels, nbounds, nseries;
	double bounds[PROM_BUCKETS_MAX];
	struct prom_series *first, **last;
	struct prom_series *hash[NHASH];
};

struct collector {
	struct collector *next;
	void (*fn)(struct prom_text *t, void *arg);
	void *arg;
};

struct prom {
	pthread_mutex_t lock;
	struct prom_family *first, **last;
	struct collector *coll, **coll_last;
};

struct prom_text {
	char *s;
	size_t len, cap;
	int failed;
};

int prom_new(struct prom **out)
{
	struct prom *p = calloc(1, sizeof(*p));

	if (!p)
		return ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	p->last = &p->first;
	p->coll_last = &p->coll;
	*out = p;
	return 0;
}

static void family_free(struct prom_family *f)
{
	struct prom_series *s, *n;

	for (s = f->first; s; s = n) {
		n = s->next;
		free(s->labels);
		free(s);
	}
	for (size_t i = 0; i < f->nlabels; i++)
		free(f->label[i]);
	free(f->name);
	free(f->help);
	free(f);
}

void prom_free(struct prom *p)
{
	struct prom_family *f, *fn;
	struct collector *c, *cn;

	if (!p)
		return;
	for (f = p->first; f; f = fn) {
		fn = f->next;
		family_free(f);
	}
	for (c = p->coll; c; c = cn) {
		cn = c->next;
		free(c);
	}
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static int name_ok(const char *s, int colon)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || (colon && *s == ':')))
			return 0;
	return 1;
}

static int family_args_ok(struct prom *p, enum prom_type type,
			  const char *name, const char *const *labels,
			  const double *bounds, size_t nbounds)
{
	size_t n = 0;

	if (!name_ok(name, 1) || (type == PROM_HISTOGRAM) != (nbounds > 0) ||
	    nbounds > PROM_BUCKETS_MAX)
		return 0;
	for (size_t i = 1; i < nbounds; i++)
		if (!(bounds[i] > bounds[i - 1]))
			return 0;
	for (; labels && labels[n]; n++)
		if (n == PROM_LABELS_MAX || !name_ok(labels[n], 0) ||
		    (type == PROM_HISTOGRAM && !strcmp(labels[n], "le")))
			return 0;
	for (struct prom_family *f = p->first; f; f = f->next)
		if (!strcmp(f->name, name))
			return 0;
	return 1;
}

static int family_fill(struct prom_family *f, const char *name,
		       const char *help, const char *const *labels)
{
	if (!(f->name = strdup(name)) || !(f->help = strdup(help ? help : "")))
		return ENOMEM;
	for (; labels && labels[f->nlabels]; f->nlabels++)
		if (!(f->label[f->nlabels] = strdup(labels[f->nlabels])))
			return ENOMEM;
	return 0;
}

int prom_family_add(struct prom *p, enum prom_type type, const char *name,
		    const char *help, const char *const *labels,
		    const double *bounds, size_t nbounds,
		    struct prom_family **out)
{
	struct prom_family *f;
	int rc = EINVAL;

	pthread_mutex_lock(&p->lock);
	if (!family_args_ok(p, type, name, labels, bounds, nbounds))
		goto out;
	rc = ENOMEM;
	if (!(f = calloc(1, sizeof(*f))))
		goto out;
	if (family_fill(f, name, help, labels)) {
		family_free(f);
		goto out;
	}
	f->reg = p;
	f->type = type;
	f->nbounds = nbounds;
	if (nbounds)
		memcpy(f->bounds, bounds, nbounds * sizeof(*bounds));
	f->last = &f->first;
	*p->last = f;
	p->last = &f->next;
	*out = f;
	rc = 0;
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static void text_grow(struct prom_text *t, size_t need)
{
	size_t cap = t->cap ? t->cap : 4096;
	char *s;

	while (cap < t->len + need + 1)
		cap *= 2;
	if (cap == t->cap)
		return;
	if (!(s = realloc(t->s, cap))) {
		t->failed = 1;
		return;
	}
	t->s = s;
	t->cap = cap;
	t->s[t->len] = '\0';
}

static void tputc(struct prom_text *t, char c)
{
	text_grow(t, 1);
	if (t->failed)
		return;
	t->s[t->len++] = c;
	t->s[t->len] = '\0';
}

void prom_printf(struct prom_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || t->failed) {
		t->failed = 1;
		return;
	}
	text_grow(t, (size_t)n);
	if (t->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

void prom_escape(struct prom_text *t, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			tputc(t, '\\');
		if (*v == '\n') {
			tputc(t, '\\');
			tputc(t, 'n');
		} else {
			tputc(t, *v);
		}
	}
}

/* Appends s to buf (PROM_LABELS_TEXT bytes) at *n, escaped for a quoted
 * label value if esc. 0 or E2BIG. */
static int put(char *buf, size_t *n, const char *s, int esc)
{
	for (; *s; s++) {
		char c = *s == '\n' && esc ? 'n' : *s;
		int two = esc && (*s == '\\' || *s == '"' || *s == '\n');

		if (*n + 2 + (size_t)two >= PROM_LABELS_TEXT)
			return E2BIG;
		if (two)
			buf[(*n)++] = '\\';
		buf[(*n)++] = c;
	}
	buf[*n] = '\0';
	return 0;
}

/* The label string of values (`a="x",b="y"`) into buf. 0, or EINVAL for
 * the wrong number of values or a text over PROM_LABELS_TEXT bytes. */
static int labels_text(const struct prom_family *f, const char *const *values,
		       char buf[PROM_LABELS_TEXT])
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < f->nlabels; i++) {
		if (!values || !values[i] || put(buf, &n, i ? "," : "", 0) ||
		    put(buf, &n, f->label[i], 0) || put(buf, &n, "=\"", 0) ||
		    put(buf, &n, values[i], 1) || put(buf, &n, "\"", 0))
			return EINVAL;
	}
	if (f->nlabels && values[f->nlabels])
		return EINVAL;
	return 0;
}

static size_t hash_of(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	return (size_t)(h % NHASH);
}

/* Finds or creates the series with label text lt (lock held). */
static int series_locked(struct prom_family *f, const char *lt,
			 struct prom_series **out)
{
	size_t h = hash_of(lt), nb = f->type == PROM_HISTOGRAM ? f->nbounds + 1 : 0;
	struct prom_series *s;

	for (s = f->hash[h]; s; s = s->hnext) {
		if (!strcmp(s->labels, lt)) {
			*out = s;
			return 0;
		}
	}
	if (f->nseries >= PROM_SERIES_MAX)
		return EOVERFLOW;
	if (!(s = calloc(1, sizeof(*s) + nb * sizeof(s->buckets[0]))) ||
	    !(s->labels = strdup(lt))) {
		free(s);
		return ENOMEM;
	}
	s->fam = f;
	s->hnext = f->hash[h];
	f->hash[h] = s;
	*f->last = s;
	f->last = &s->next;
	f->nseries++;
	*out = s;
	return 0;
}

int prom_series(struct prom_family *f, const char *const *values,
		struct prom_series **out)
{
	char lt[PROM_LABELS_TEXT];
	int rc;

	if ((rc = labels_text(f, values, lt)))
		return rc;
	pthread_mutex_lock(&f->reg->lock);
	rc = series_locked(f, lt, out);
	pthread_mutex_unlock(&f->reg->lock);
	return rc;
}

void prom_inc(struct prom_series *s, uint64_t n)
{
	atomic_fetch_add_explicit(&s->v, (int64_t)n, memory_order_relaxed);
}

void prom_set(struct prom_series *s, int64_t v)
{
	atomic_store_explicit(&s->v, v, memory_order_relaxed);
}

void prom_add(struct prom_series *s, int64_t d)
{
	atomic_fetch_add_explicit(&s->v, d, memory_order_relaxed);
}

int64_t prom_value(const struct prom_series *s)
{
	return atomic_load_explicit(&s->v, memory_order_relaxed);
}

void prom_observe(struct prom_series *s, double v)
{
	const struct prom_family *f = s->fam;
	size_t b = 0;
	uint64_t old, new;
	double sum;

	while (b < f->nbounds && v > f->bounds[b])
		b++;
	atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
	old = atomic_load_explicit(&s->sum_bits, memory_order_relaxed);
	do {
		memcpy(&sum, &old, sizeof(sum));
		sum += v;
		memcpy(&new, &sum, sizeof(new));
	} while (!atomic_compare_exchange_weak(&s->sum_bits, &old, new));
	atomic_fetch_add_explicit(&s->v, 1, memory_order_relaxed);
}

int prom_collector_add(struct prom *p,
		       void (*fn)(struct prom_text *t, void *arg), void *arg)
{
	struct collector *c = calloc(1, sizeof(*c));

	if (!c)
		return ENOMEM;
	c->fn = fn;
	c->arg = arg;
	pthread_mutex_lock(&p->lock);
	*p->coll_last = c;
	p->coll_last = &c->next;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static void render_histogram(struct prom_text *t, const struct prom_family *f,
			     struct prom_series *s)
{
	const char *sep = s->labels[0] ? "," : "";
	uint64_t cum = 0, bits = atomic_load(&s->sum_bits);
	double sum;

	for (size_t b = 0; b <= f->nbounds; b++) {
		cum += atomic_load(&s->buckets[b]);
		if (b < f->nbounds)
			prom_printf(t, "%s_bucket{%s%sle=\"%g\"} %llu\n", f->name,
				    s->labels, sep, f->bounds[b],
				    (unsigned long long)cum);
		else
			prom_printf(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n",
				    f->name, s->labels, sep,
				    (unsigned long long)cum);
	}
	memcpy(&sum, &bits, sizeof(sum));
	prom_printf(t, "%s_sum%s%s%s %.9g\n%s_count%s%s%s %lld\n", f->name,
		    s->labels[0] ? "{" : "", s->labels, s->labels[0] ? "}" : "",
		    sum, f->name, s->labels[0] ? "{" : "", s->labels,
		    s->labels[0] ? "}" : "", (long long)atomic_load(&s->v));
}

static void render_family(struct prom_text *t, const struct prom_family *f)
{
	static const char *const type[] = { "counter", "gauge", "histogram" };

	prom_printf(t, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help,
		    f->name, type[f->type]);
	for (struct prom_series *s = f->first; s; s = s->next) {
		if (f->type == PROM_HISTOGRAM)
			render_histogram(t, f, s);
		else
			prom_printf(t, "%s%s%s%s %lld\n", f->name,
				    s->labels[0] ? "{" : "", s->labels,
				    s->labels[0] ? "}" : "",
				    (long long)atomic_load(&s->v));
	}
}

int prom_render(struct prom *p, char **out, size_t *len)
{
	struct prom_text t = { 0 };
	struct collector *c;

	pthread_mutex_lock(&p->lock);
	for (struct prom_family *f = p->first; f; f = f->next)
		render_family(&t, f);
	c = p->coll;
	pthread_mutex_unlock(&p->lock);
	/* Collectors may be slow (a database query): not under the lock;
	 * the list only grows, so walking it unlocked is safe. */
	for (; c; c = c->next)
		c->fn(&t, c->arg);
	text_grow(&t, 0);
	if (t.failed) {
		free(t.s);
		return ENOMEM;
	}
	*out = t.s;
	*len = t.len;
	return 0;
}
