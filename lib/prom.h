/* lib/prom.h — one Prometheus registry for a daemon: counters, gauges and
 * histograms with labels, rendered in the text exposition format.
 *
 * A family (one metric name) is declared once at start-up; its series (one
 * set of label values) are found or created on first use and then kept, so
 * a hot path looks its series up once and afterwards only adds atomically
 * (no lock, no allocation). Scrape-time values (read from a database, say)
 * come from collectors called while rendering. Thread-safe. */
#ifndef DPN_PROM_H
#define DPN_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define PROM_LABELS_MAX 4
#define PROM_SERIES_MAX 4096	/* per family: bounded whatever the input */
#define PROM_BUCKETS_MAX 24
#define PROM_LABELS_TEXT 1024	/* a series' escaped labels, in all */

enum prom_type { PROM_COUNTER, PROM_GAUGE, PROM_HISTOGRAM };

struct prom;
struct prom_family;
struct prom_series;
struct prom_text;

/* A new, empty registry in *out. 0 or ENOMEM. Free with prom_free. */
int prom_new(struct prom **out);
/* Frees the registry, its families and series. NULL is a no-op. */
void prom_free(struct prom *p);

/* Declares a family: name ([a-zA-Z_:][a-zA-Z0-9_:]*), one help line,
 * label names (NULL-terminated, at most PROM_LABELS_MAX; NULL for none),
 * and for a histogram its bucket upper bounds, increasing (at most
 * PROM_BUCKETS_MAX; +Inf is implied). 0, EINVAL (bad name, labels or
 * bounds; a name declared twice) or ENOMEM. *out belongs to the registry. */
int prom_family_add(struct prom *p, enum prom_type type, const char *name,
		    const char *help, const char *const *labels,
		    const double *bounds, size_t nbounds,
		    struct prom_family **out);

/* The series of these label values (one per label name; escaped as the
 * format wants), created at 0 on first use; no allocation once it exists.
 * 0, EINVAL (wrong count, or labels longer than PROM_LABELS_TEXT escaped),
 * EOVERFLOW (the family already has PROM_SERIES_MAX series: the caller
 * should count into an "other" series) or ENOMEM. *out belongs to the
 * registry and lives as long as it does. */
int prom_series(struct prom_family *f, const char *const *values,
		struct prom_series **out);

/* Counter: add n. Gauge: prom_set / prom_add (may be negative). Histogram:
 * prom_observe (value in the family's unit, e.g. seconds). Lock-free. */
void prom_inc(struct prom_series *s, uint64_t n);
void prom_set(struct prom_series *s, int64_t v);
void prom_add(struct prom_series *s, int64_t d);
void prom_observe(struct prom_series *s, double v);
/* The current value of a counter or gauge (tests, health checks). */
int64_t prom_value(const struct prom_series *s);

/* Calls fn(t, arg) at every render, after the families: it writes its own
 * lines (HELP, TYPE and samples) with prom_printf. 0 or ENOMEM. */
int prom_collector_add(struct prom *p,
		       void (*fn)(struct prom_text *t, void *arg), void *arg);
void prom_printf(struct prom_text *t, const char *fmt, ...) DPN_PRINTF(2, 3);
/* Writes a label value escaped (\\, \", \n) for use inside quotes. */
void prom_escape(struct prom_text *t, const char *value);

/* The exposition text of every family and collector: *out malloc'd (the
 * caller frees), *len its length. 0 or ENOMEM. */
int prom_render(struct prom *p, char **out, size_t *len);

#endif
