/* tests/unit/test_dhcp_ident.c — circuit-id checks, flex-id keys and the
 * identity cache of the Kea hook (dhcp-hook/ident.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dhcp-hook/ident.h"
#include "lib/addr.h"

static const uint8_t MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x01, 0xaa };

static void flexid_is_circuit_then_mac(void **state)
{
	uint8_t out[DHCP_FLEXID_MAX];
	size_t len = 0;
	(void)state;

	assert_int_equal(dhcp_flexid_build((const uint8_t *)"1101-1201", 9, MAC,
					   6, out, &len), 0);
	assert_int_equal(len, 15);
	assert_memory_equal(out, "1101-1201", 9);
	assert_memory_equal(out + 9, MAC, 6);
}

static void flexid_refuses_bad_input(void **state)
{
	uint8_t out[DHCP_FLEXID_MAX], big[DHCP_CIRCUIT_MAX + 1];
	size_t len = 77;
	(void)state;

	memset(big, 'a', sizeof(big));
	assert_int_equal(dhcp_flexid_build(NULL, 0, MAC, 6, out, &len), EINVAL);
	assert_int_equal(dhcp_flexid_build((const uint8_t *)"", 0, MAC, 6, out, &len), EINVAL);
	assert_int_equal(dhcp_flexid_build(big, sizeof(big), MAC, 6, out, &len), EINVAL);
	assert_int_equal(dhcp_flexid_build(big, DHCP_CIRCUIT_MAX, MAC, 5, out, &len), EINVAL);
	assert_int_equal(dhcp_flexid_build(big, DHCP_CIRCUIT_MAX, NULL, 6, out, &len), EINVAL);
	assert_int_equal(dhcp_flexid_build((const uint8_t *)"a\0b", 3, MAC, 6, out, &len), EINVAL);
	assert_int_equal(dhcp_flexid_build((const uint8_t *)"a\nb", 3, MAC, 6, out, &len), EINVAL);
	assert_int_equal(dhcp_flexid_build((const uint8_t *)"\xff", 1, MAC, 6, out, &len), EINVAL);
	assert_int_equal(len, 77);	/* untouched on error */
	assert_int_equal(dhcp_flexid_build(big, DHCP_CIRCUIT_MAX, MAC, 6, out, &len), 0);
	assert_int_equal(len, DHCP_FLEXID_MAX);
}

static void mac_is_formatted_for_postgres(void **state)
{
	char s[18];
	(void)state;

	mac_format(MAC, s);
	assert_string_equal(s, "02:00:00:00:01:aa");
}

static void cache_remembers_until_ttl(void **state)
{
	struct dhcp_cache *c;
	uint8_t k1[DHCP_KEY_MAX], k2[DHCP_KEY_MAX];
	size_t l1 = dhcp_cache_key(7, 'd', (const uint8_t *)"abc", 3, k1);
	size_t l2 = dhcp_cache_key(8, 'd', (const uint8_t *)"abc", 3, k2);
	(void)state;

	assert_int_equal(dhcp_cache_new(100, &c), 0);
	assert_int_equal(dhcp_cache_get(c, k1, l1, 1000), DHCP_CACHE_MISS);
	dhcp_cache_put(c, k1, l1, DHCP_CACHE_KNOWN, 1000, 10);
	/* Kept at least 3/4 of the ttl (8 s of 10), at most all of it. */
	assert_int_equal(dhcp_cache_get(c, k1, l1, 1007), DHCP_CACHE_KNOWN);
	/* Same data, other subnet: another site's device. */
	assert_int_equal(dhcp_cache_get(c, k2, l2, 1007), DHCP_CACHE_MISS);
	assert_int_equal(dhcp_cache_get(c, k1, l1, 1010), DHCP_CACHE_MISS);
	dhcp_cache_put(c, k1, l1, DHCP_CACHE_UNKNOWN, 1010, 1);
	assert_int_equal(dhcp_cache_get(c, k1, l1, 1010), DHCP_CACHE_UNKNOWN);
	assert_int_equal(dhcp_cache_get(c, k1, l1, 1011), DHCP_CACHE_MISS);
	dhcp_cache_put(c, k1, l1, DHCP_CACHE_UNKNOWN, 1011, 5);
	dhcp_cache_del(c, k1, l1);
	assert_int_equal(dhcp_cache_get(c, k1, l1, 1011), DHCP_CACHE_MISS);
	dhcp_cache_free(c);
}

/* A packet thread asks the database while mgmtd's flush (a deletion)
 * empties the cache: its answer, older than the flush, is not kept. */
static void answer_older_than_a_clear_is_not_kept(void **state)
{
	struct dhcp_cache *c;
	uint8_t k[DHCP_KEY_MAX];
	size_t l = dhcp_cache_key(7, 'd', (const uint8_t *)"abc", 3, k);
	uint64_t gen;
	(void)state;

	assert_int_equal(dhcp_cache_new(100, &c), 0);
	gen = dhcp_cache_generation(c);
	dhcp_cache_clear(c);
	assert_int_equal(dhcp_cache_put_since(c, k, l, DHCP_CACHE_KNOWN, 1, 60, gen), 0);
	assert_int_equal(dhcp_cache_get(c, k, l, 1), DHCP_CACHE_MISS);
	/* Asked after the clear: kept. */
	gen = dhcp_cache_generation(c);
	assert_int_equal(dhcp_cache_put_since(c, k, l, DHCP_CACHE_KNOWN, 1, 60, gen), 1);
	assert_int_equal(dhcp_cache_get(c, k, l, 1), DHCP_CACHE_KNOWN);
	dhcp_cache_free(c);
}

/* Many more keys than slots: memory stays bounded, answers stay right
 * (a key either hits with its own state or misses). */
static void cache_is_bounded_and_never_wrong(void **state)
{
	struct dhcp_cache *c;
	uint8_t k[DHCP_KEY_MAX];
	uint32_t i, hits = 0;
	(void)state;

	assert_int_equal(dhcp_cache_new(16, &c), 0);
	assert_int_equal(c->nslots, 16);
	for (i = 0; i < 5000; i++) {
		size_t l = dhcp_cache_key(i, 'd', (const uint8_t *)"x", 1, k);
		dhcp_cache_put(c, k, l, (i & 1) ? DHCP_CACHE_KNOWN : DHCP_CACHE_UNKNOWN, 1, 60);
	}
	for (i = 0; i < 5000; i++) {
		size_t l = dhcp_cache_key(i, 'd', (const uint8_t *)"x", 1, k);
		enum dhcp_cache_state s = dhcp_cache_get(c, k, l, 2);
		if (s != DHCP_CACHE_MISS) {
			hits++;
			assert_int_equal(s, (i & 1) ? DHCP_CACHE_KNOWN : DHCP_CACHE_UNKNOWN);
		}
	}
	assert_true(hits > 0 && hits <= 16);
	dhcp_cache_free(c);
}

static void cache_refuses_bad_sizes(void **state)
{
	struct dhcp_cache *c = NULL;
	uint8_t k[DHCP_KEY_MAX + 10];
	(void)state;

	assert_int_equal(dhcp_cache_new(0, &c), EINVAL);
	assert_null(c);
	assert_int_equal(dhcp_cache_key(1, 'd', k, DHCP_KEY_MAX, k), 0);
	assert_int_equal(dhcp_cache_new(1, &c), 0);
	memset(k, 1, sizeof(k));
	dhcp_cache_put(c, k, sizeof(k), DHCP_CACHE_KNOWN, 1, 60);	/* ignored */
	assert_int_equal(dhcp_cache_get(c, k, sizeof(k), 1), DHCP_CACHE_MISS);
	assert_int_equal(dhcp_cache_get(c, k, 0, 1), DHCP_CACHE_MISS);
	dhcp_cache_free(c);
	dhcp_cache_free(NULL);
}

/* ttl 0 turns the cache off: every packet asks the database. */
static void cache_ttl_zero_stores_nothing(void **state)
{
	struct dhcp_cache *c;
	uint8_t k[DHCP_KEY_MAX];
	size_t l = dhcp_cache_key(1, 'd', (const uint8_t *)"a", 1, k);
	(void)state;

	assert_int_equal(dhcp_cache_new(16, &c), 0);
	dhcp_cache_put(c, k, l, DHCP_CACHE_KNOWN, 1, 0);
	assert_int_equal(dhcp_cache_get(c, k, l, 1), DHCP_CACHE_MISS);
	dhcp_cache_free(c);
}

/* Devices cached in the same second (a warm-up) expire spread over the
 * last quarter of the ttl, not all in one second: none before 3/4 of it,
 * all by its end, and no second holds more than a few of them. */
static void cache_expiry_is_spread(void **state)
{
	struct dhcp_cache *c;
	uint8_t k[DHCP_KEY_MAX], mac[6] = { 2, 0, 0, 0, 0, 0 };
	unsigned i, t, stored = 0, left, prev, most = 0;
	size_t l;
	(void)state;

	assert_int_equal(dhcp_cache_new(1 << 16, &c), 0);
	for (i = 0; i < 1000; i++) {
		mac[4] = (uint8_t)(i >> 8);
		mac[5] = (uint8_t)i;
		l = dhcp_cache_key(7, 'd', mac, 6, k);
		dhcp_cache_put(c, k, l, DHCP_CACHE_KNOWN, 0, 300);
	}
	prev = 0;
	for (t = 0; t <= 300; t++) {
		left = 0;
		for (i = 0; i < 1000; i++) {
			mac[4] = (uint8_t)(i >> 8);
			mac[5] = (uint8_t)i;
			l = dhcp_cache_key(7, 'd', mac, 6, k);
			left += dhcp_cache_get(c, k, l, t) == DHCP_CACHE_KNOWN;
		}
		if (t == 0)
			stored = left;
		else if (prev - left > most)
			most = prev - left;
		if (t < 225)
			assert_int_equal(left, stored);
		prev = left;
	}
	assert_true(stored > 950);	/* a few collisions evict */
	assert_int_equal(prev, 0);
	assert_true(most < 60);		/* ~13 a second on average */
	dhcp_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flexid_is_circuit_then_mac),
		cmocka_unit_test(flexid_refuses_bad_input),
		cmocka_unit_test(mac_is_formatted_for_postgres),
		cmocka_unit_test(cache_remembers_until_ttl),
		cmocka_unit_test(answer_older_than_a_clear_is_not_kept),
		cmocka_unit_test(cache_expiry_is_spread),
		cmocka_unit_test(cache_is_bounded_and_never_wrong),
		cmocka_unit_test(cache_refuses_bad_sizes),
		cmocka_unit_test(cache_ttl_zero_stores_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
