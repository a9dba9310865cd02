/* tests/unit/test_event.c — lib/event: timers in order under a fake clock,
 * stop and restart, a heap of many timers, I/O on a pipe, callbacks that
 * remove watchers, and ev_run ending with ev_stop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <unistd.h>
#include <cmocka.h>

#include "event/event.h"

static uint64_t fake_now;
static uint64_t fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

static uint64_t fired_at[512];
static unsigned nfired;

static void record(struct ev_loop *l, struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	fired_at[nfired++] = ev_now(l);
}

static void t_timer_order(void **st)
{
	struct ev_loop *l;
	struct ev_timer a, b, c;
	(void)st;

	assert_int_equal(ev_loop_new(&l), 0);
	fake_now = 1000;
	ev_set_clock(l, fake_clock, NULL);
	nfired = 0;
	ev_timer_init(&a, record, NULL);
	ev_timer_init(&b, record, NULL);
	ev_timer_init(&c, record, NULL);
	assert_int_equal(ev_timer_start(l, &a, 500), 0);
	assert_int_equal(ev_timer_start(l, &b, 100), 0);
	assert_int_equal(ev_timer_start(l, &c, 300), 0);
	ev_timer_stop(l, &c);
	assert_false(ev_timer_active(&c));
	fake_now = 1099;
	assert_int_equal(ev_run_timers(l), 0);
	fake_now = 1100;
	assert_int_equal(ev_run_timers(l), 1);
	assert_false(ev_timer_active(&b));
	assert_int_equal(ev_timer_start(l, &a, 50), 0);	/* restart earlier */
	fake_now = 2000;
	assert_int_equal(ev_run_timers(l), 1);
	assert_int_equal(nfired, 2);
	assert_int_equal(fired_at[0], 1100);
	ev_loop_free(l);
}

static void t_many_timers(void **st)
{
	struct ev_loop *l;
	static struct ev_timer t[500];
	uint32_t x = 7;
	(void)st;

	assert_int_equal(ev_loop_new(&l), 0);
	fake_now = 0;
	ev_set_clock(l, fake_clock, NULL);
	nfired = 0;
	for (int i = 0; i < 500; i++) {
		ev_timer_init(&t[i], record, NULL);
		x = x * 1103515245u + 12345u;
		assert_int_equal(ev_timer_start(l, &t[i], (x >> 8) % 10000), 0);
	}
	for (int i = 0; i < 500; i += 5)
		ev_timer_stop(l, &t[i]);
	for (fake_now = 0; fake_now <= 10000; fake_now += 37)
		ev_run_timers(l);
	assert_int_equal(nfired, 400);
	for (unsigned i = 1; i < nfired; i++)
		assert_true(fired_at[i - 1] <= fired_at[i]);
	ev_loop_free(l);
}

/* Random starts, restarts and stops of 2,000 timers against a reference:
 * every live timer fires exactly once, in (deadline, start order), and a
 * stopped one never fires. Starting cannot fail: nothing is allocated. */
static struct ev_timer big[2000];
static uint64_t want_when[2000], want_seq[2000], last_when, last_seq;
static int live[2000], bad_order, fired_dead;
static uint64_t seq_ctr;

static void check_order(struct ev_loop *l, struct ev_timer *t, void *arg)
{
	size_t i = (size_t)(t - big);
	(void)l;
	(void)arg;

	if (!live[i])
		fired_dead++;
	if (want_when[i] < last_when ||
	    (want_when[i] == last_when && want_seq[i] < last_seq))
		bad_order++;
	last_when = want_when[i];
	last_seq = want_seq[i];
	live[i] = 0;
	nfired++;
}

static void t_pairing_heap_order(void **st)
{
	struct ev_loop *l;
	uint32_t x = 99;
	unsigned nlive = 0;
	(void)st;

	assert_int_equal(ev_loop_new(&l), 0);
	fake_now = 0;
	ev_set_clock(l, fake_clock, NULL);
	nfired = 0;
	for (int i = 0; i < 2000; i++)
		ev_timer_init(&big[i], check_order, NULL);
	for (int k = 0; k < 20000; k++) {
		size_t i;
		x = x * 1103515245u + 12345u;
		i = (x >> 8) % 2000;
		if ((x >> 20) % 4 == 0) {
			ev_timer_stop(l, &big[i]);
			live[i] = 0;
			continue;
		}
		assert_int_equal(ev_timer_start(l, &big[i], (x >> 4) % 50), 0);
		want_when[i] = (x >> 4) % 50;
		want_seq[i] = ++seq_ctr;
		live[i] = 1;
	}
	for (int i = 0; i < 2000; i++)
		nlive += (unsigned)live[i];
	fake_now = 100;
	assert_int_equal(ev_run_timers(l), nlive);
	assert_int_equal(bad_order, 0);
	assert_int_equal(fired_dead, 0);
	for (int i = 0; i < 2000; i++)
		assert_false(ev_timer_active(&big[i]));
	ev_loop_free(l);
}

struct io_state {
	int reads, fd_removed;
	char got[16];
};

static void on_read(struct ev_loop *l, int fd, unsigned ev, void *arg)
{
	struct io_state *s = arg;
	ssize_t n;

	assert_true(ev & EV_READ);
	n = read(fd, s->got, sizeof(s->got));
	s->reads++;
	if (n <= 0) {
		ev_io_del(l, fd);
		s->fd_removed = 1;
		ev_stop(l);
	}
}

static void stop_timer(struct ev_loop *l, struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	ev_stop(l);
}

static void t_io_pipe(void **st)
{
	struct ev_loop *l;
	struct io_state s = { 0 };
	struct ev_timer guard;
	int p[2];
	(void)st;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(ev_loop_new(&l), 0);
	assert_int_equal(ev_io_add(l, p[0], EV_READ, on_read, &s), 0);
	assert_int_equal(ev_io_add(l, p[0], EV_READ, on_read, &s), EEXIST);
	assert_int_equal(ev_io_mod(l, 999, EV_READ), ENOENT);
	assert_int_equal(ev_io_add(l, -1, EV_READ, on_read, &s), EINVAL);
	assert_int_equal(write(p[1], "hi", 2), 2);
	assert_int_equal(ev_run_once(l, 1000), 0);
	assert_int_equal(s.reads, 1);
	assert_memory_equal(s.got, "hi", 2);
	close(p[1]);	/* EOF: the callback removes itself and stops */
	ev_timer_init(&guard, stop_timer, NULL);
	assert_int_equal(ev_timer_start(l, &guard, 5000), 0);
	assert_int_equal(ev_run(l), 0);
	assert_true(s.fd_removed);
	assert_int_equal(ev_io_del(l, p[0]), ENOENT);
	close(p[0]);
	ev_loop_free(l);
}

static void t_run_stops_on_timer(void **st)
{
	struct ev_loop *l;
	struct ev_timer t;
	uint64_t t0;
	(void)st;

	assert_int_equal(ev_loop_new(&l), 0);
	ev_timer_init(&t, stop_timer, NULL);
	t0 = ev_now(l);
	assert_int_equal(ev_timer_start(l, &t, 20), 0);
	assert_int_equal(ev_run(l), 0);
	assert_true(ev_now(l) >= t0 + 20);
	ev_loop_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_timer_order),
		cmocka_unit_test(t_many_timers),
		cmocka_unit_test(t_pairing_heap_order),
		cmocka_unit_test(t_io_pipe),
		cmocka_unit_test(t_run_stops_on_timer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
