/* tests/unit/test_prom.c — the Prometheus registry: exact exposition text
 * of counters, gauges and histograms with labels, label escaping, bounds on
 * series, bad declarations, collectors, and exact counts from two threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

static char *render(struct prom *p)
{
	char *s;
	size_t len;

	assert_int_equal(prom_render(p, &s, &len), 0);
	assert_int_equal(strlen(s), len);
	return s;
}

static void counters_and_gauges(void **state)
{
	static const char *const lab[] = { "method", "code", NULL };
	static const char *const v1[] = { "GET", "200", NULL },
			  *const v2[] = { "POST", "4\"0\\0\n", NULL };
	struct prom *p;
	struct prom_family *c, *g;
	struct prom_series *s1, *s1b, *s2, *gs;
	char *text;

	(void)state;
	assert_int_equal(prom_new(&p), 0);
	assert_int_equal(prom_family_add(p, PROM_COUNTER, "dpn_requests_total",
					 "Requests.", lab, NULL, 0, &c), 0);
	assert_int_equal(prom_family_add(p, PROM_GAUGE, "dpn_registered",
					 "Bindings.", NULL, NULL, 0, &g), 0);
	assert_int_equal(prom_series(c, v1, &s1), 0);
	assert_int_equal(prom_series(c, v1, &s1b), 0);
	assert_ptr_equal(s1, s1b);
	assert_int_equal(prom_series(c, v2, &s2), 0);
	assert_int_equal(prom_series(g, NULL, &gs), 0);
	prom_inc(s1, 3);
	prom_inc(s2, 1);
	prom_set(gs, 10);
	prom_add(gs, -4);
	assert_int_equal(prom_value(gs), 6);
	text = render(p);
	assert_string_equal(text,
		"# HELP dpn_requests_total Requests.\n"
		"# TYPE dpn_requests_total counter\n"
		"dpn_requests_total{method=\"GET\",code=\"200\"} 3\n"
		"dpn_requests_total{method=\"POST\",code=\"4\\\"0\\\\0\\n\"} 1\n"
		"# HELP dpn_registered Bindings.\n"
		"# TYPE dpn_registered gauge\n"
		"dpn_registered 6\n");
	free(text);
	prom_free(p);
}

static void histogram_buckets(void **state)
{
	static const double b[] = { 0.001, 0.01, 0.1 };
	static const char *const lab[] = { "route", NULL }, *const v[] = { "/x", NULL };
	struct prom *p;
	struct prom_family *h;
	struct prom_series *s;
	char *text;

	(void)state;
	assert_int_equal(prom_new(&p), 0);
	assert_int_equal(prom_family_add(p, PROM_HISTOGRAM, "dpn_seconds", "Time.",
					 lab, b, 3, &h), 0);
	assert_int_equal(prom_series(h, v, &s), 0);
	prom_observe(s, 0.0005);
	prom_observe(s, 0.001);	/* le is inclusive */
	prom_observe(s, 0.05);
	prom_observe(s, 7);
	text = render(p);
	assert_non_null(strstr(text, "# TYPE dpn_seconds histogram\n"
		"dpn_seconds_bucket{route=\"/x\",le=\"0.001\"} 2\n"
		"dpn_seconds_bucket{route=\"/x\",le=\"0.01\"} 2\n"
		"dpn_seconds_bucket{route=\"/x\",le=\"0.1\"} 3\n"
		"dpn_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"
		"dpn_seconds_sum{route=\"/x\"} 7.0515\n"
		"dpn_seconds_count{route=\"/x\"} 4\n"));
	free(text);
	prom_free(p);
}

static void bad_declarations(void **state)
{
	static const double up[] = { 1, 2 }, down[] = { 2, 1 };
	static const char *const le[] = { "le", NULL }, *const bad[] = { "a-b", NULL },
			  *const five[] = { "a", "b", "c", "d", "e", NULL },
			  *const one[] = { "a", NULL }, *const two[] = { "x", "y", NULL };
	struct prom *p;
	struct prom_family *f;
	struct prom_series *s;

	(void)state;
	assert_int_equal(prom_new(&p), 0);
	assert_int_equal(prom_family_add(p, PROM_COUNTER, "9bad", "", NULL, NULL, 0, &f), EINVAL);
	assert_int_equal(prom_family_add(p, PROM_COUNTER, "a b", "", NULL, NULL, 0, &f), EINVAL);
	assert_int_equal(prom_family_add(p, PROM_COUNTER, "x", "", bad, NULL, 0, &f), EINVAL);
	assert_int_equal(prom_family_add(p, PROM_COUNTER, "x", "", five, NULL, 0, &f), EINVAL);
	assert_int_equal(prom_family_add(p, PROM_HISTOGRAM, "x", "", NULL, NULL, 0, &f), EINVAL);
	assert_int_equal(prom_family_add(p, PROM_HISTOGRAM, "x", "", NULL, down, 2, &f), EINVAL);
	assert_int_equal(prom_family_add(p, PROM_HISTOGRAM, "x", "", le, up, 2, &f), EINVAL);
	assert_int_equal(prom_family_add(p, PROM_COUNTER, "x", "", one, NULL, 0, &f), 0);
	assert_int_equal(prom_family_add(p, PROM_GAUGE, "x", "", NULL, NULL, 0, &f), EINVAL);
	assert_int_equal(prom_series(f, NULL, &s), EINVAL);
	assert_int_equal(prom_series(f, two, &s), EINVAL);
	/* A label value from the network cannot make a series of any size. */
	char big[PROM_LABELS_TEXT];
	const char *bigv[] = { big, NULL };
	memset(big, '"', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(prom_series(f, bigv, &s), EINVAL);
	big[PROM_LABELS_TEXT / 2 - 8] = '\0';	/* doubled by escaping: fits */
	assert_int_equal(prom_series(f, bigv, &s), 0);
	prom_free(p);
}

static void series_are_bounded(void **state)
{
	static const char *const lab[] = { "src", NULL };
	struct prom *p;
	struct prom_family *f;
	struct prom_series *s;
	char v[32];
	const char *vals[] = { v, NULL };

	(void)state;
	assert_int_equal(prom_new(&p), 0);
	assert_int_equal(prom_family_add(p, PROM_COUNTER, "c", "", lab, NULL, 0, &f), 0);
	for (int i = 0; i < PROM_SERIES_MAX; i++) {
		snprintf(v, sizeof(v), "%d", i);
		assert_int_equal(prom_series(f, vals, &s), 0);
	}
	snprintf(v, sizeof(v), "one more");
	assert_int_equal(prom_series(f, vals, &s), EOVERFLOW);
	snprintf(v, sizeof(v), "17");
	assert_int_equal(prom_series(f, vals, &s), 0);	/* old ones still found */
	prom_free(p);
}

static void coll(struct prom_text *t, void *arg)
{
	prom_printf(t, "# TYPE pool gauge\npool{site=\"");
	prom_escape(t, arg);
	prom_printf(t, "\"} %d\n", 5);
}

static void collectors_run_at_render(void **state)
{
	struct prom *p;
	char *text;

	(void)state;
	assert_int_equal(prom_new(&p), 0);
	assert_int_equal(prom_collector_add(p, coll, "1\"00"), 0);
	text = render(p);
	assert_string_equal(text, "# TYPE pool gauge\npool{site=\"1\\\"00\"} 5\n");
	free(text);
	prom_free(p);
}

#define ROUNDS 200000

static void *bump(void *arg)
{
	for (int i = 0; i < ROUNDS; i++)
		prom_inc(arg, 1);
	return NULL;
}

static void threads_count_exactly(void **state)
{
	struct prom *p;
	struct prom_family *f;
	struct prom_series *s;
	pthread_t t[2];

	(void)state;
	assert_int_equal(prom_new(&p), 0);
	assert_int_equal(prom_family_add(p, PROM_COUNTER, "c", "", NULL, NULL, 0, &f), 0);
	assert_int_equal(prom_series(f, NULL, &s), 0);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, bump, s);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(prom_value(s), 2 * ROUNDS);
	prom_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counters_and_gauges),
		cmocka_unit_test(histogram_buckets),
		cmocka_unit_test(bad_declarations),
		cmocka_unit_test(series_are_bounded),
		cmocka_unit_test(collectors_run_at_render),
		cmocka_unit_test(threads_count_exactly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
