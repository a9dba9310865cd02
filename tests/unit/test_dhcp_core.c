/* tests/unit/test_dhcp_core.c — the hook core without a database: config
 * checks, the bounded event queue, verdicts for bad packets, back-off when
 * PostgreSQL cannot be reached, counters and their JSON. The database side
 * is covered against real PostgreSQL and kea-dhcp4 by
 * tests/integration/test_dhcp_*.py. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "dhcp-hook/core.h"

static const uint8_t MAC[6] = { 0x02, 0, 0, 0, 1, 0xaa };

/* A database that cannot exist: connecting fails at once. */
static void cfg_unreachable(struct dhcp_cfg *c)
{
	dhcp_cfg_defaults(c);
	snprintf(c->conninfo, sizeof(c->conninfo),
		 "host=/nonexistent/dpn-test dbname=dpn user=dpn");
	c->retry_ms = 60000;
	c->sweep_s = 3600;
}

static void cfg_check_names_the_parameter(void **state)
{
	struct dhcp_cfg c;
	char err[160];
	(void)state;

	dhcp_cfg_defaults(&c);
	assert_int_equal(dhcp_cfg_check(&c, err, sizeof(err)), EINVAL);
	assert_non_null(strstr(err, "'database'"));
	cfg_unreachable(&c);
	assert_int_equal(dhcp_cfg_check(&c, err, sizeof(err)), 0);
	c.db_pool = 0;
	assert_int_equal(dhcp_cfg_check(&c, err, sizeof(err)), EINVAL);
	assert_non_null(strstr(err, "'db-pool'"));
	cfg_unreachable(&c);
	c.queue_size = 0;
	assert_int_equal(dhcp_cfg_check(&c, err, sizeof(err)), EINVAL);
	assert_non_null(strstr(err, "'queue-size'"));
	cfg_unreachable(&c);
	c.batch = 100000;
	assert_int_equal(dhcp_cfg_check(&c, err, sizeof(err)), EINVAL);
	assert_non_null(strstr(err, "'batch-size'"));
	cfg_unreachable(&c);
	c.sweep_s = 0;
	assert_int_equal(dhcp_cfg_check(&c, err, sizeof(err)), EINVAL);
	assert_non_null(strstr(err, "'sweep-interval'"));
}

static void core_new_refuses_bad_cfg(void **state)
{
	struct dhcp_cfg c;
	struct dhcp_core *core = NULL;
	(void)state;

	dhcp_cfg_defaults(&c);
	assert_int_equal(dhcp_core_new(&c, &core), EINVAL);
	assert_null(core);
}

static void queue_is_fifo_and_bounded(void **state)
{
	struct dhcp_queue *q;
	struct dhcp_event ev, out[8];
	unsigned i;
	(void)state;

	assert_int_equal(dhcp_queue_new(0, &q), EINVAL);
	assert_int_equal(dhcp_queue_new(3, &q), 0);
	memset(&ev, 0, sizeof(ev));
	for (i = 0; i < 3; i++) {
		ev.addr = i;
		assert_int_equal(dhcp_queue_push(q, &ev), 0);
	}
	ev.addr = 99;
	assert_int_equal(dhcp_queue_push(q, &ev), ENOSPC);
	assert_int_equal(dhcp_queue_peek(q, out, 2, 0), 2);
	assert_int_equal(out[0].addr, 0);
	assert_int_equal(out[1].addr, 1);
	/* Peek does not remove: a failed batch is retried whole. */
	assert_int_equal(dhcp_queue_depth(q), 3);
	dhcp_queue_pop(q, 2);
	ev.addr = 3;
	assert_int_equal(dhcp_queue_push(q, &ev), 0);
	ev.addr = 4;
	assert_int_equal(dhcp_queue_push(q, &ev), 0);	/* wraps around */
	assert_int_equal(dhcp_queue_peek(q, out, 8, 0), 3);
	assert_int_equal(out[0].addr, 2);
	assert_int_equal(out[1].addr, 3);
	assert_int_equal(out[2].addr, 4);
	dhcp_queue_pop(q, 100);
	assert_int_equal(dhcp_queue_depth(q), 0);
	assert_int_equal(dhcp_queue_peek(q, out, 8, 20), 0);	/* timeout */
	dhcp_queue_close(q);
	assert_int_equal(dhcp_queue_peek(q, out, 8, 60000), 0);	/* no wait */
	dhcp_queue_free(q);
}

static void bad_packets_are_dropped_and_counted(void **state)
{
	struct dhcp_cfg c;
	struct dhcp_core *core;
	struct dhcp_stats st;
	uint8_t fid[DHCP_FLEXID_MAX];
	size_t flen = 5;
	(void)state;

	cfg_unreachable(&c);
	assert_int_equal(dhcp_core_new(&c, &core), 0);
	/* No option 82 at all. */
	assert_int_equal(dhcp_core_identify(core, DHCP_MSG_DISCOVER, 1, NULL, 0,
					    MAC, 6, fid, &flen), DHCP_DROP);
	assert_int_equal(flen, 0);
	/* Binary garbage as circuit-id; a MAC of the wrong size. */
	assert_int_equal(dhcp_core_identify(core, DHCP_MSG_DISCOVER, 1,
					    (const uint8_t *)"\x01\x02", 2, MAC,
					    6, fid, &flen), DHCP_DROP);
	assert_int_equal(dhcp_core_identify(core, DHCP_MSG_REQUEST, 1,
					    (const uint8_t *)"1101-1201", 9, MAC,
					    16, fid, &flen), DHCP_DROP);
	dhcp_core_stats(core, &st);
	assert_int_equal(st.dropped_invalid, 3);
	assert_int_equal(st.db_errors, 0);
	dhcp_core_free(core);

	/* drop-unknown-circuit false: counted but served. */
	c.drop_unknown = 0;
	assert_int_equal(dhcp_core_new(&c, &core), 0);
	assert_int_equal(dhcp_core_identify(core, DHCP_MSG_DISCOVER, 1, NULL, 0,
					    MAC, 6, fid, &flen), DHCP_SERVE);
	dhcp_core_stats(core, &st);
	assert_int_equal(st.dropped_invalid, 1);
	dhcp_core_free(core);
}

/* PostgreSQL unreachable: the packet is served (Kea decides with what it
 * has), the error counted once, and later packets skip the database during
 * the back-off instead of each waiting for a connection. */
static void database_down_serves_and_backs_off(void **state)
{
	struct dhcp_cfg c;
	struct dhcp_core *core;
	struct dhcp_stats st;
	uint8_t fid[DHCP_FLEXID_MAX];
	size_t flen;
	int i;
	(void)state;

	cfg_unreachable(&c);
	assert_int_equal(dhcp_core_new(&c, &core), 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(dhcp_core_identify(core, DHCP_MSG_DISCOVER, 1,
						    (const uint8_t *)"1101-1201",
						    9, MAC, 6, fid, &flen),
				 DHCP_SERVE);
	assert_int_equal(flen, 15);
	assert_memory_equal(fid, "1101-1201", 9);
	dhcp_core_stats(core, &st);
	assert_int_equal(st.db_errors, 1);
	assert_int_equal(st.db_skipped, 4);
	assert_int_equal(st.enrolled, 0);
	dhcp_core_free(core);
}

/* Events go to the queue; when it is full they are dropped and counted;
 * what cannot be written at shutdown is counted as dropped too. */
static void full_queue_drops_and_counts(void **state)
{
	struct dhcp_cfg c;
	struct dhcp_core *core;
	struct dhcp_stats st;
	struct dhcp_event ev;
	int i, refused = 0;
	(void)state;

	cfg_unreachable(&c);
	c.queue_size = 4;
	assert_int_equal(dhcp_core_new(&c, &core), 0);
	memset(&ev, 0, sizeof(ev));
	memcpy(ev.mac, MAC, 6);
	for (i = 0; i < 10; i++)
		if (dhcp_core_event(core, &ev) == ENOSPC)
			refused++;
	assert_int_equal(refused, 6);
	dhcp_core_stats(core, &st);
	assert_int_equal(st.events_queued, 4);
	assert_int_equal(st.events_dropped, 6);
	assert_int_equal(st.queue_depth, 4);
	assert_int_equal(st.queue_size, 4);
	assert_int_equal(st.events_written, 0);
	dhcp_core_free(core);
}

static void stats_json_is_complete_or_refused(void **state)
{
	struct dhcp_stats st;
	char buf[1024], small[16];
	(void)state;

	memset(&st, 0, sizeof(st));
	st.enrolled = 3;
	st.queue_depth = 7;
	st.db_errors = 18446744073709551615ULL;
	assert_int_equal(dhcp_stats_json(&st, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "\"enrolled\": 3,"));
	assert_non_null(strstr(buf, "\"queue-depth\": 7,"));
	assert_non_null(strstr(buf, "\"db-errors\": 18446744073709551615,"));
	assert_int_equal(buf[strlen(buf) - 1], '}');
	assert_int_equal(dhcp_stats_json(&st, small, sizeof(small)), ENOSPC);
}

static char lit[5][DHCP_LIT_MAX];

static void events_become_array_literals(void **state)
{
	struct dhcp_event ev[2];
	(void)state;

	memset(ev, 0, sizeof(ev));
	ev[0].kind = DHCP_EV_COMMITTED;
	ev[0].subnet_id = 7;
	ev[0].addr = 0x7f100002;
	memcpy(ev[0].mac, MAC, 6);
	ev[0].at_us = 1763700000123456LL;
	ev[1].kind = DHCP_EV_DECLINE;
	ev[1].subnet_id = 4294967294u;
	ev[1].addr = 0xffffffff;
	ev[1].at_us = 1;
	assert_int_equal(dhcp_events_literals(ev, 2, lit), 0);
	assert_string_equal(lit[0], "{committed,decline}");
	assert_string_equal(lit[1], "{7,4294967294}");
	assert_string_equal(lit[2], "{2131755010,4294967295}");
	assert_string_equal(lit[3], "{02:00:00:00:01:aa,00:00:00:00:00:00}");
	assert_string_equal(lit[4], "{1763700000123456,1}");
	assert_int_equal(dhcp_events_literals(ev, 0, lit), 0);
	assert_string_equal(lit[0], "{}");
}

/* A full batch of the widest values fits; one more than the batch does not. */
static void full_batch_fits_and_no_more(void **state)
{
	static struct dhcp_event ev[DHCP_BATCH_MAX + 1];
	size_t i;
	(void)state;

	for (i = 0; i < DHCP_BATCH_MAX + 1; i++) {
		ev[i].kind = DHCP_EV_COMMITTED;
		ev[i].subnet_id = 4294967295u;
		ev[i].addr = 4294967295u;
		memset(ev[i].mac, 0xff, 6);
		ev[i].at_us = 9999999999999999LL;
	}
	assert_int_equal(dhcp_events_literals(ev, DHCP_BATCH_MAX, lit), 0);
	assert_int_equal(lit[3][strlen(lit[3]) - 1], '}');
	assert_int_equal(dhcp_events_literals(ev, DHCP_BATCH_MAX + 1, lit), ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cfg_check_names_the_parameter),
		cmocka_unit_test(core_new_refuses_bad_cfg),
		cmocka_unit_test(queue_is_fifo_and_bounded),
		cmocka_unit_test(bad_packets_are_dropped_and_counted),
		cmocka_unit_test(database_down_serves_and_backs_off),
		cmocka_unit_test(full_queue_drops_and_counts),
		cmocka_unit_test(stats_json_is_complete_or_refused),
		cmocka_unit_test(events_become_array_literals),
		cmocka_unit_test(full_batch_fits_and_no_more),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
