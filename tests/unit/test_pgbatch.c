/* tests/unit/test_pgbatch.c — the batched writer's queue without a server
 * (writes through a real PostgreSQL are in the gatekeeper's integration
 * tests): bad settings refused, a full queue drops and counts while the
 * database is unreachable (a socket folder that does not exist) and never
 * blocks the pusher, and stopping gives the queue up after its retries,
 * counting it as failed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <time.h>

#include "pgbatch.h"

struct item {
	int n;
	char text[40];
};

static int applied;

static int apply(void *arg, PGconn *pg, const void *item)
{
	(void)arg;
	(void)pg;
	(void)item;
	applied++;
	return 0;
}

static const struct pg_batch_cfg good = {
	.conninfo = "host=/nonexistent/pg dbname=dpn connect_timeout=2",
	.app = "dpn-test", .item_size = sizeof(struct item), .max_queue = 8,
	.apply = apply,
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bad_settings(void **state)
{
	struct pg_batch *b = NULL;
	struct pg_batch_cfg c;

	(void)state;
	c = good;
	c.conninfo = NULL;
	assert_int_equal(pg_batch_new(&c, &b), EINVAL);
	c = good;
	c.apply = NULL;
	assert_int_equal(pg_batch_new(&c, &b), EINVAL);
	c = good;
	c.item_size = 0;
	assert_int_equal(pg_batch_new(&c, &b), EINVAL);
	c = good;
	c.max_queue = 0;
	assert_int_equal(pg_batch_new(&c, &b), EINVAL);
	assert_null(b);
	pg_batch_free(NULL);
}

static void full_queue_counted_then_given_up(void **state)
{
	struct pg_batch_stats st;
	struct pg_batch *b;
	struct item it = { .text = "call" };
	double t0;
	int i;

	(void)state;
	applied = 0;
	assert_int_equal(pg_batch_new(&good, &b), 0);
	t0 = now_s();
	for (i = 0; i < 8; i++) {
		it.n = i;
		assert_int_equal(pg_batch_push(b, &it), 0);
	}
	for (i = 0; i < 5; i++)
		assert_int_equal(pg_batch_push(b, &it), ENOBUFS);
	assert_true(now_s() - t0 < 0.5);	/* the pusher never waits */
	pg_batch_stats(b, &st);
	assert_int_equal(st.queued, 8);
	assert_int_equal(st.dropped, 5);
	assert_int_equal(st.written, 0);
	t0 = now_s();
	pg_batch_free(b);		/* ~2 s of retries, then given up */
	assert_true(now_s() - t0 < 6);
	assert_int_equal(applied, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_settings),
		cmocka_unit_test(full_queue_counted_then_given_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
