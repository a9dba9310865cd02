/* tests/unit/test_dhcp_hostcache.c — the host reservation cache without
 * Kea or a database: keys, hits and misses, the generation check that keeps
 * an answer older than an invalidation out, expiry, eviction, every
 * notification payload (good and bad), no value leaked or released twice,
 * and several threads at once. The listener and Kea's use of the cache are
 * covered against real PostgreSQL and kea-dhcp4 by
 * tests/integration/test_dhcp_hostcache.py. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dhcp-hook/hostcache.h"

/* Values are heap ints; every release is counted, so a leak or a double
 * release shows as a count that does not add up (and ASan sees both). */
static int released;
static pthread_mutex_t released_lock = PTHREAD_MUTEX_INITIALIZER;

static void val_copy(const void *val, void *out)
{
	*(int *)out = *(const int *)val;
}

static void val_release(void *val)
{
	pthread_mutex_lock(&released_lock);
	released++;
	pthread_mutex_unlock(&released_lock);
	free(val);
}

static const struct dhcp_hc_ops ops = { val_copy, val_release };

static int *val(int v)
{
	int *p = malloc(sizeof(*p));

	assert_non_null(p);
	*p = v;
	return p;
}

static struct dhcp_hostcache *table(size_t nslots, unsigned ttl_s)
{
	struct dhcp_hc_cfg cfg = { .nslots = nslots, .ttl_s = ttl_s };
	struct dhcp_hostcache *hc = NULL;

	released = 0;
	assert_int_equal(dhcp_hostcache_new(&cfg, &ops, &hc), 0);
	return hc;
}

static struct dhcp_hc_stats stats(struct dhcp_hostcache *hc)
{
	struct dhcp_hc_stats st;

	dhcp_hostcache_stats(hc, &st);
	return st;
}

static const uint8_t FLEX[] = "1101-1201\x02\x00\x00\x00\x01\xaa";

static void keys_are_distinct_and_bounded(void **state)
{
	uint8_t a[DHCP_HC_KEY_MAX], b[DHCP_HC_KEY_MAX], big[DHCP_HC_ID_MAX + 1];
	const uint8_t four[4] = { 127, 16, 0, 2 };
	size_t na, nb;
	(void)state;

	memset(big, 'x', sizeof(big));
	assert_int_equal(dhcp_hc_id_key(1, 4, big, sizeof(big), a), 0);
	assert_int_equal(dhcp_hc_id_key(1, 4, big, 0, a), 0);
	assert_int_equal(dhcp_hc_id_key(1, 4, big, DHCP_HC_ID_MAX, a),
			 DHCP_HC_KEY_MAX);
	/* Same bytes as an identifier and as an address: different keys. */
	na = dhcp_hc_id_key(7, 0, four, 4, a);
	nb = dhcp_hc_addr_key(7, 0x7f100002u, b);
	assert_int_equal(na, nb);
	assert_memory_not_equal(a, b, na);
	/* Another subnet or identifier type: another key. */
	nb = dhcp_hc_id_key(8, 0, four, 4, b);
	assert_memory_not_equal(a, b, na);
	nb = dhcp_hc_id_key(7, 4, four, 4, b);
	assert_memory_not_equal(a, b, na);
}

static void new_refuses_bad_sizes(void **state)
{
	struct dhcp_hc_cfg cfg = { .nslots = 0, .ttl_s = 10 };
	struct dhcp_hostcache *hc = NULL;
	(void)state;

	assert_int_equal(dhcp_hostcache_new(&cfg, &ops, &hc), EINVAL);
	cfg.nslots = (1u << 24) + 1;
	assert_int_equal(dhcp_hostcache_new(&cfg, &ops, &hc), EINVAL);
	assert_null(hc);
}

static void miss_then_put_then_hit(void **state)
{
	struct dhcp_hostcache *hc = table(64, 100);
	uint8_t k[DHCP_HC_KEY_MAX];
	size_t n = dhcp_hc_id_key(3, 4, FLEX, sizeof(FLEX) - 1, k);
	int out = 0;
	(void)state;

	assert_int_equal(dhcp_hostcache_get(hc, k, n, 1000, &out), 0);
	dhcp_hostcache_put(hc, k, n, val(42), 1000);
	assert_int_equal(dhcp_hostcache_get(hc, k, n, 1001, &out), 1);
	assert_int_equal(out, 42);
	/* A put for the same key replaces (the old value is released). */
	assert_int_equal(dhcp_hostcache_get(hc, k, n, 1001, &out), 1);
	dhcp_hostcache_del(hc, k, n);
	assert_int_equal(dhcp_hostcache_get(hc, k, n, 1001, &out), 0);
	assert_int_equal(released, 1);
	dhcp_hostcache_put(hc, k, n, val(43), 1001);
	dhcp_hostcache_put(hc, k, n, val(44), 1001);
	assert_int_equal(released, 2);
	assert_int_equal(dhcp_hostcache_get(hc, k, n, 1001, &out), 1);
	assert_int_equal(out, 44);
	assert_int_equal(stats(hc).entries, 1);
	assert_int_equal(stats(hc).hits, 3);
	dhcp_hostcache_free(hc);
	assert_int_equal(released, 3);
}

/* The race the generation check closes: Kea misses, asks PostgreSQL, a
 * change commits and its notification is applied, then Kea stores the
 * answer it got before the change. That answer must not be kept. */
static void answer_older_than_an_invalidation_is_not_kept(void **state)
{
	struct dhcp_hostcache *hc = table(64, 100);
	uint8_t k[DHCP_HC_KEY_MAX];
	size_t n = dhcp_hc_addr_key(3, 0x7f100002u, k);
	int out = 0;
	(void)state;

	assert_int_equal(dhcp_hostcache_get(hc, k, n, 10, &out), 0);
	assert_int_equal(dhcp_hostcache_notify(hc, "3 4 31313031 2131755010"), 0);
	dhcp_hostcache_put(hc, k, n, val(1), 10);
	assert_int_equal(released, 1);
	assert_int_equal(stats(hc).skipped, 1);
	assert_int_equal(dhcp_hostcache_get(hc, k, n, 10, &out), 0);
	/* Asked again after the change: kept. */
	dhcp_hostcache_put(hc, k, n, val(2), 10);
	assert_int_equal(dhcp_hostcache_get(hc, k, n, 10, &out), 1);
	assert_int_equal(out, 2);
	/* A flush is an invalidation too. */
	assert_int_equal(dhcp_hostcache_get(hc, k, n + 0, 10, &out), 1);
	dhcp_hostcache_flush(hc);
	assert_int_equal(dhcp_hostcache_get(hc, k, n, 10, &out), 0);
	dhcp_hostcache_flush(hc);
	dhcp_hostcache_put(hc, k, n, val(3), 10);
	assert_int_equal(stats(hc).entries, 0);
	dhcp_hostcache_free(hc);
	assert_int_equal(released, 3);
}

static void entries_expire_within_the_ttl(void **state)
{
	struct dhcp_hostcache *hc = table(64, 100);
	uint8_t k[DHCP_HC_KEY_MAX];
	size_t n = dhcp_hc_addr_key(3, 99, k);
	int out = 0;
	(void)state;

	assert_int_equal(dhcp_hostcache_get(hc, k, n, 500, &out), 0);
	dhcp_hostcache_put(hc, k, n, val(5), 500);
	assert_int_equal(dhcp_hostcache_get(hc, k, n, 574, &out), 1);
	assert_int_equal(dhcp_hostcache_get(hc, k, n, 600, &out), 0);
	assert_int_equal(released, 1);
	assert_int_equal(stats(hc).entries, 0);
	dhcp_hostcache_free(hc);
	assert_int_equal(released, 1);
}

static void memory_is_bounded_by_the_slots(void **state)
{
	struct dhcp_hostcache *hc = table(16, 100);
	uint8_t k[DHCP_HC_KEY_MAX];
	uint32_t i;
	size_t n;
	int out;
	(void)state;

	for (i = 0; i < 1000; i++) {
		n = dhcp_hc_addr_key(1, i, k);
		dhcp_hostcache_get(hc, k, n, 1, &out);
		dhcp_hostcache_put(hc, k, n, val((int)i), 1);
	}
	assert_true(stats(hc).entries <= 16);
	assert_int_equal(stats(hc).evicted + stats(hc).entries, 1000);
	assert_int_equal(released, 1000 - (int)stats(hc).entries);
	dhcp_hostcache_free(hc);
	assert_int_equal(released, 1000);
}

static void notification_forgets_both_keys(void **state)
{
	struct dhcp_hostcache *hc = table(1024, 100);
	uint8_t ki[DHCP_HC_KEY_MAX], ka[DHCP_HC_KEY_MAX], ko[DHCP_HC_KEY_MAX];
	const uint8_t id[] = { 0x31, 0x31, 0xaa };
	size_t ni = dhcp_hc_id_key(12, 4, id, sizeof(id), ki);
	size_t na = dhcp_hc_addr_key(12, 2131755010u, ka);
	size_t no = dhcp_hc_addr_key(12, 2131755011u, ko);
	int out;
	(void)state;

	dhcp_hostcache_get(hc, ki, ni, 1, &out);
	dhcp_hostcache_put(hc, ki, ni, val(1), 1);
	dhcp_hostcache_put(hc, ka, na, val(1), 1);
	dhcp_hostcache_put(hc, ko, no, val(2), 1);
	assert_int_equal(stats(hc).entries, 3);
	/* Another subnet, another identifier: nothing goes. */
	assert_int_equal(dhcp_hostcache_notify(hc, "13 4 3131aa 2131755010"), 0);
	assert_int_equal(dhcp_hostcache_notify(hc, "12 4 3131ab 0"), 0);
	assert_int_equal(stats(hc).entries, 3);
	assert_int_equal(dhcp_hostcache_notify(hc, "12 4 3131aa 2131755010"), 0);
	assert_int_equal(dhcp_hostcache_get(hc, ki, ni, 1, &out), 0);
	assert_int_equal(dhcp_hostcache_get(hc, ka, na, 1, &out), 0);
	assert_int_equal(dhcp_hostcache_get(hc, ko, no, 1, &out), 1);
	assert_int_equal(dhcp_hostcache_notify(hc, "flush"), 0);
	assert_int_equal(stats(hc).entries, 0);
	assert_int_equal(stats(hc).notifications, 4);
	assert_int_equal(stats(hc).bad_notifications, 0);
	dhcp_hostcache_free(hc);
	assert_int_equal(released, 3);
}

static void bad_notification_empties_the_table(void **state)
{
	static const char *bad[] = {
		"", "flush ", "12", "12 4 3131aa", "12 4 3131a 5", "12 4 zz 5",
		"12 4 3131AA 5", "4294967296 4 31 5", "12 256 31 5",
		"12 4 31 4294967296", "12 4 31 5 6", "-1 4 31 5", "12 4 31 5x",
	};
	struct dhcp_hostcache *hc = table(64, 100);
	uint8_t k[DHCP_HC_KEY_MAX], longid[300];
	size_t n = dhcp_hc_addr_key(1, 1, k), i;
	int out;
	(void)state;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dhcp_hostcache_get(hc, k, n, 1, &out);
		dhcp_hostcache_put(hc, k, n, val(1), 1);
		assert_int_equal(stats(hc).entries, 1);
		assert_int_equal(dhcp_hostcache_notify(hc, bad[i]), EINVAL);
		assert_int_equal(stats(hc).entries, 0);
	}
	/* An identifier longer than Kea's longest. */
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	memcpy(longid, "1 4 ", 4);
	memcpy(longid + sizeof(longid) - 3, " 5", 3);
	assert_int_equal(dhcp_hostcache_notify(hc, (const char *)longid), EINVAL);
	assert_int_equal(stats(hc).bad_notifications,
			 sizeof(bad) / sizeof(bad[0]) + 1);
	dhcp_hostcache_free(hc);
	assert_int_equal(released, (int)(sizeof(bad) / sizeof(bad[0])));
}

static struct dhcp_hostcache *shared;
static int puts_made;

static void *hammer(void *arg)
{
	uint8_t k[DHCP_HC_KEY_MAX];
	uintptr_t t = (uintptr_t)arg;
	unsigned i;
	size_t n;
	int out;

	for (i = 0; i < 20000; i++) {
		n = dhcp_hc_addr_key((uint32_t)t, i % 300, k);
		if (!dhcp_hostcache_get(shared, k, n, 1, &out)) {
			dhcp_hostcache_put(shared, k, n, val((int)i), 1);
			pthread_mutex_lock(&released_lock);
			puts_made++;
			pthread_mutex_unlock(&released_lock);
		} else if (out < 0 || out >= 20000) {
			fail();
		}
		if (i % 997 == 0)
			dhcp_hostcache_notify(shared, i % 2 ? "flush" : "1 0 01 1");
	}
	return NULL;
}

static void threads_share_the_table(void **state)
{
	pthread_t th[4];
	uintptr_t i;
	(void)state;

	shared = table(256, 100);
	puts_made = 0;
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer, (void *)i), 0);
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_true(stats(shared).entries <= 256);
	assert_true(stats(shared).hits > 0);
	dhcp_hostcache_free(shared);
	/* Every value put was released exactly once (ASan would see a
	 * double free; a leak shows as a smaller count). */
	assert_int_equal(released, puts_made);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keys_are_distinct_and_bounded),
		cmocka_unit_test(new_refuses_bad_sizes),
		cmocka_unit_test(miss_then_put_then_hit),
		cmocka_unit_test(answer_older_than_an_invalidation_is_not_kept),
		cmocka_unit_test(entries_expire_within_the_ttl),
		cmocka_unit_test(memory_is_bounded_by_the_slots),
		cmocka_unit_test(notification_forgets_both_keys),
		cmocka_unit_test(bad_notification_empties_the_table),
		cmocka_unit_test(threads_share_the_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
