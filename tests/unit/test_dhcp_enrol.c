/* tests/unit/test_dhcp_enrol.c — the hook's enrolment group without a
 * database: requests from many threads at once are each answered exactly
 * once, by batches never larger than the group's maximum, and waiting
 * requests are grouped; the array literals of a batch quote any
 * circuit-id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dhcp-hook/enrol.h"

#define THREADS 8
#define PER_THREAD 200

struct run_log {
	atomic_uint runs, asked, biggest, answered[THREADS * PER_THREAD];
	size_t max;
};

/* The run function: answers each request with its own index and sleeps a
 * moment, as a commit would, so that others queue meanwhile. */
static void fake_run(void *arg, struct dhcp_enrol_req **reqs, size_t n)
{
	struct run_log *log = arg;
	struct timespec ts = { 0, 200000 };

	assert_true(n >= 1 && n <= log->max);
	atomic_fetch_add(&log->runs, 1);
	atomic_fetch_add(&log->asked, (unsigned)n);
	if (n > atomic_load(&log->biggest))
		atomic_store(&log->biggest, (unsigned)n);
	for (size_t i = 0; i < n; i++) {
		snprintf(reqs[i]->answer, sizeof(reqs[i]->answer), "%u",
			 reqs[i]->subnet_id);
		atomic_fetch_add(&log->answered[reqs[i]->subnet_id], 1);
	}
	nanosleep(&ts, NULL);
}

struct worker {
	struct dhcp_enrol_group *g;
	struct run_log *log;
	int id, wrong;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		struct dhcp_enrol_req r = { .subnet_id = (uint32_t)(w->id * PER_THREAD + i) };
		char want[16];

		snprintf(r.circuit, sizeof(r.circuit), "1101-%04d", i);
		dhcp_enrol_group_do(w->g, &r, fake_run, w->log);
		snprintf(want, sizeof(want), "%u", r.subnet_id);
		w->wrong += strcmp(r.answer, want) != 0;
	}
	return NULL;
}

static void run_threads(size_t max, struct run_log *log)
{
	struct dhcp_enrol_group *g;
	struct worker w[THREADS];
	pthread_t t[THREADS];

	memset(log, 0, sizeof(*log));
	log->max = max;
	assert_int_equal(dhcp_enrol_group_new(max, &g), 0);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .g = g, .log = log, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].wrong, 0);
	}
	for (int i = 0; i < THREADS * PER_THREAD; i++)
		assert_int_equal(atomic_load(&log->answered[i]), 1);
	assert_int_equal(atomic_load(&log->asked), THREADS * PER_THREAD);
	dhcp_enrol_group_free(g);
}

static void every_request_answered_once_in_shared_runs(void **state)
{
	struct run_log log;
	(void)state;

	run_threads(64, &log);
	/* Eight threads waiting on one run at a time: they share runs. */
	assert_true(atomic_load(&log.runs) < THREADS * PER_THREAD / 2);
	assert_true(atomic_load(&log.biggest) > 1);
}

static void a_batch_of_one_runs_each_alone(void **state)
{
	struct run_log log;
	(void)state;

	run_threads(1, &log);
	assert_int_equal(atomic_load(&log.runs), THREADS * PER_THREAD);
	assert_int_equal(atomic_load(&log.biggest), 1);
}

static void bad_sizes_are_refused(void **state)
{
	struct dhcp_enrol_group *g = NULL;
	(void)state;

	assert_int_equal(dhcp_enrol_group_new(0, &g), EINVAL);
	assert_int_equal(dhcp_enrol_group_new(DHCP_ENROL_BATCH_MAX + 1, &g), EINVAL);
	assert_null(g);
	dhcp_enrol_group_free(NULL);
}

static void literals_quote_every_circuit_id(void **state)
{
	struct dhcp_enrol_req a = { .subnet_id = 7, .circuit = "1101-1201",
				    .mac = "02:00:00:00:00:01" };
	struct dhcp_enrol_req b = { .subnet_id = 4294967295u,
				    .circuit = "a\"b\\c,{d} e",
				    .mac = "02:00:00:00:00:02" };
	struct dhcp_enrol_req *reqs[2] = { &a, &b };
	char buf[3][256], *lit[3] = { buf[0], buf[1], buf[2] };
	(void)state;

	assert_int_equal(dhcp_enrol_literals(reqs, 2, lit, sizeof(buf[0])), 0);
	assert_string_equal(buf[0], "{7,4294967295}");
	assert_string_equal(buf[1], "{\"1101-1201\",\"a\\\"b\\\\c,{d} e\"}");
	assert_string_equal(buf[2], "{02:00:00:00:00:01,02:00:00:00:00:02}");
	assert_int_equal(dhcp_enrol_literals(reqs, 1, lit, sizeof(buf[0])), 0);
	assert_string_equal(buf[1], "{\"1101-1201\"}");
	/* Too small a buffer is refused, never overrun. */
	assert_int_equal(dhcp_enrol_literals(reqs, 2, lit, 20), ENOSPC);
	assert_int_equal(dhcp_enrol_literals(reqs, 0, lit, 3), 0);
	assert_string_equal(buf[0], "{}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_request_answered_once_in_shared_runs),
		cmocka_unit_test(a_batch_of_one_runs_each_alone),
		cmocka_unit_test(bad_sizes_are_refused),
		cmocka_unit_test(literals_quote_every_circuit_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
