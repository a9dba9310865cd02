/* tests/unit/test_dhcp_core.c — the hook core without a database: config
 * checks, the bounded event queue, verdicts for bad packets, back-off when
 * PostgreSQL cannot be reached, coalescing of renewals (seen-interval),
 * counters and their JSON. The database side
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
	cfg_unreachable(&c);
	c.enrol_batch = 0;
	assert_int_equal(dhcp_cfg_check(&c, err, sizeof(err)), EINVAL);
	assert_non_null(strstr(err, "'enrol-batch'"));
	c.enrol_batch = 257;
	assert_int_equal(dhcp_cfg_check(&c, err, sizeof(err)), EINVAL);
	c.enrol_batch = 256;
	assert_int_equal(dhcp_cfg_check(&c, err, sizeof(err)), 0);
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

/* Issue 14 item 1: a RELEASE or DECLINE acts only when it comes from the
 * port that holds the lease (a circuit-id whose reservation with the
 * lease's MAC exists); otherwise it is refused and counted, whatever
 * drop-unknown-circuit says. */
static void release_and_decline_only_from_the_holder(void **state)
{
	const uint8_t *circ = (const uint8_t *)"1101-1201";
	struct dhcp_cfg c;
	struct dhcp_core *core;
	struct dhcp_stats st;
	(void)state;

	cfg_unreachable(&c);
	c.drop_unknown = 0;
	assert_int_equal(dhcp_core_new(&c, &core), 0);
	assert_int_equal(dhcp_core_lease_from_holder(core, DHCP_EV_RELEASE, circ,
			 9, MAC, 6, 0x7f100001, 1), 1);
	assert_int_equal(dhcp_core_lease_from_holder(core, DHCP_EV_DECLINE, circ,
			 9, MAC, 6, 0x7f100001, 1), 1);
	/* Another port: no reservation for its circuit-id and this MAC. */
	assert_int_equal(dhcp_core_lease_from_holder(core, DHCP_EV_RELEASE, circ,
			 9, MAC, 6, 0x7f100001, 0), 0);
	/* No option 82, a binary circuit-id, a MAC of the wrong size. */
	assert_int_equal(dhcp_core_lease_from_holder(core, DHCP_EV_RELEASE, NULL,
			 0, MAC, 6, 0x7f100001, 1), 0);
	assert_int_equal(dhcp_core_lease_from_holder(core, DHCP_EV_DECLINE,
			 (const uint8_t *)"\x01", 1, MAC, 6, 0x7f100001, 1), 0);
	assert_int_equal(dhcp_core_lease_from_holder(core, DHCP_EV_DECLINE, circ,
			 9, MAC, 4, 0x7f100001, 1), 0);
	dhcp_core_stats(core, &st);
	assert_int_equal(st.release_refused, 2);
	assert_int_equal(st.decline_refused, 2);
	assert_int_equal(st.events_queued, 0);
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
	c.seen_s = 0;		/* the same event ten times: no coalescing */
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

static struct dhcp_event ev_make(enum dhcp_event_kind kind, uint32_t addr)
{
	struct dhcp_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.subnet_id = 7;
	ev.addr = addr;
	memcpy(ev.mac, MAC, 6);
	return ev;
}

/* The rules, with the clock in the test's hands: renewals of an unchanged
 * online device within the interval are coalesced; the first one after it,
 * an address change and an online transition are written; release,
 * decline and expire always are; interval 0 writes everything. */
static void seen_coalesces_unchanged_renewals(void **state)
{
	struct dhcp_seen *s;
	struct dhcp_event c1 = ev_make(DHCP_EV_COMMITTED, 0x7f100002);
	struct dhcp_event c2 = ev_make(DHCP_EV_COMMITTED, 0x7f100003);
	struct dhcp_event other = c1;
	enum dhcp_event_kind k;
	(void)state;

	assert_int_equal(dhcp_seen_new(0, &s), EINVAL);
	assert_int_equal(dhcp_seen_new(16, &s), 0);
	assert_int_equal(dhcp_seen_admit(s, &c1, 1000, 60), 1);	/* first */
	assert_int_equal(dhcp_seen_admit(s, &c1, 1500, 60), 0);
	assert_int_equal(dhcp_seen_admit(s, &c1, 60999, 60), 0);
	assert_int_equal(dhcp_seen_admit(s, &c1, 61000, 60), 1);	/* interval over */
	assert_int_equal(dhcp_seen_admit(s, &c1, 61001, 60), 0);
	assert_int_equal(dhcp_seen_admit(s, &c2, 62000, 60), 1);	/* new address */
	assert_int_equal(dhcp_seen_admit(s, &c2, 62001, 60), 0);
	/* Another pool or another MAC is another device. */
	other.subnet_id = 8;
	assert_int_equal(dhcp_seen_admit(s, &other, 62002, 60), 1);
	other = c2;
	other.mac[5] ^= 1;
	assert_int_equal(dhcp_seen_admit(s, &other, 62003, 60), 1);
	/* Release, decline, expire: written even twice in a row, and the
	 * next committed event (back online) is written too. */
	for (k = DHCP_EV_RELEASE; k <= DHCP_EV_EXPIRE; k++) {
		struct dhcp_event e = ev_make(k, c2.addr);
		assert_int_equal(dhcp_seen_admit(s, &e, 63000, 60), 1);
		assert_int_equal(dhcp_seen_admit(s, &e, 63001, 60), 1);
		assert_int_equal(dhcp_seen_admit(s, &c2, 63002, 60), 1);
		assert_int_equal(dhcp_seen_admit(s, &c2, 63003, 60), 0);
	}
	/* A clock that went backwards never coalesces. */
	assert_int_equal(dhcp_seen_admit(s, &c2, 100, 60), 1);
	/* Forgotten device, cleared table: written again. */
	dhcp_seen_forget(s, &c2);
	assert_int_equal(dhcp_seen_admit(s, &c2, 101, 60), 1);
	dhcp_seen_clear(s);
	assert_int_equal(dhcp_seen_admit(s, &c2, 102, 60), 1);
	/* Interval 0: every event. */
	assert_int_equal(dhcp_seen_admit(s, &c2, 103, 0), 1);
	assert_int_equal(dhcp_seen_admit(s, &c2, 103, 0), 1);
	dhcp_seen_free(s);
}

/* A full table evicts: a device pushed out is simply written again, and
 * memory stays what it was (16 slots here for 1000 devices). */
static void seen_eviction_writes_again(void **state)
{
	struct dhcp_seen *s;
	struct dhcp_event e = ev_make(DHCP_EV_COMMITTED, 1);
	unsigned i, again = 0;
	(void)state;

	assert_int_equal(dhcp_seen_new(1, &s), 0);
	assert_int_equal(s->nslots, 16);
	for (i = 0; i < 1000; i++) {
		e.mac[4] = (uint8_t)(i >> 8);
		e.mac[5] = (uint8_t)i;
		assert_int_equal(dhcp_seen_admit(s, &e, 10, 60), 1);
	}
	for (i = 0; i < 1000; i++) {
		e.mac[4] = (uint8_t)(i >> 8);
		e.mac[5] = (uint8_t)i;
		again += (unsigned)dhcp_seen_admit(s, &e, 11, 60);
	}
	assert_true(again >= 1000 - 16);
	dhcp_seen_free(s);
}

/* Through the core (database unreachable, so queued events stay queued):
 * coalesced renewals are counted, not queued; a cache flush (mgmtd's
 * deletion drain) makes the next one queued again; seen-interval 0 queues
 * every event; a renewal refused by a full queue is written next time. */
static void core_counts_coalesced_events(void **state)
{
	struct dhcp_cfg c;
	struct dhcp_core *core;
	struct dhcp_stats st;
	struct dhcp_event c1 = ev_make(DHCP_EV_COMMITTED, 0x7f100002);
	struct dhcp_event c2 = ev_make(DHCP_EV_COMMITTED, 0x7f100003);
	struct dhcp_event rel = ev_make(DHCP_EV_RELEASE, 0x7f100003);
	char err[160];
	int i;
	(void)state;

	cfg_unreachable(&c);
	assert_int_equal(c.seen_s, 60);		/* the default */
	c.seen_s = 86401;
	assert_int_equal(dhcp_cfg_check(&c, err, sizeof(err)), EINVAL);
	assert_non_null(strstr(err, "'seen-interval'"));
	c.seen_s = 60;
	assert_int_equal(dhcp_core_new(&c, &core), 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(dhcp_core_event(core, &c1), 0);
	assert_int_equal(dhcp_core_event(core, &c2), 0);
	assert_int_equal(dhcp_core_event(core, &c2), 0);
	assert_int_equal(dhcp_core_event(core, &rel), 0);
	assert_int_equal(dhcp_core_event(core, &c2), 0);
	dhcp_core_forget(core);
	assert_int_equal(dhcp_core_event(core, &c2), 0);
	dhcp_core_stats(core, &st);
	assert_int_equal(st.events_queued, 5);	/* c1, c2, rel, c2, c2 */
	assert_int_equal(st.events_coalesced, 5);	/* 4 x c1, 1 x c2 */
	assert_int_equal(st.queue_depth, 5);
	dhcp_core_free(core);

	c.seen_s = 0;
	assert_int_equal(dhcp_core_new(&c, &core), 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(dhcp_core_event(core, &c1), 0);
	dhcp_core_stats(core, &st);
	assert_int_equal(st.events_queued, 5);
	assert_int_equal(st.events_coalesced, 0);
	dhcp_core_free(core);

	c.seen_s = 60;
	c.queue_size = 1;
	assert_int_equal(dhcp_core_new(&c, &core), 0);
	assert_int_equal(dhcp_core_event(core, &c2), 0);
	assert_int_equal(dhcp_core_event(core, &c1), ENOSPC);
	assert_int_equal(dhcp_core_event(core, &c1), ENOSPC);	/* not coalesced */
	dhcp_core_stats(core, &st);
	assert_int_equal(st.events_dropped, 2);
	assert_int_equal(st.events_coalesced, 0);
	dhcp_core_free(core);
}

static void stats_json_is_complete_or_refused(void **state)
{
	struct dhcp_stats st;
	char buf[2048], small[16];
	(void)state;

	memset(&st, 0, sizeof(st));
	st.enrolled = 3;
	st.queue_depth = 7;
	st.db_errors = 18446744073709551615ULL;
	st.events_coalesced = 42;
	assert_int_equal(dhcp_stats_json(&st, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "\"enrolled\": 3,"));
	assert_non_null(strstr(buf, "\"queue-depth\": 7,"));
	assert_non_null(strstr(buf, "\"db-errors\": 18446744073709551615,"));
	assert_non_null(strstr(buf, "\"events-coalesced\": 42,"));
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
		cmocka_unit_test(release_and_decline_only_from_the_holder),
		cmocka_unit_test(database_down_serves_and_backs_off),
		cmocka_unit_test(full_queue_drops_and_counts),
		cmocka_unit_test(seen_coalesces_unchanged_renewals),
		cmocka_unit_test(seen_eviction_writes_again),
		cmocka_unit_test(core_counts_coalesced_events),
		cmocka_unit_test(stats_json_is_complete_or_refused),
		cmocka_unit_test(events_become_array_literals),
		cmocka_unit_test(full_batch_fits_and_no_more),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
