/* tests/unit/test_addr.c — IPv4, CIDR and MAC parsing and arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "addr.h"

static int a4(const char *s, uint32_t *a) { return addr4_parse(s, strlen(s), a); }
static int c4(const char *s, struct cidr4 *c) { return cidr4_parse(s, strlen(s), c); }

static void addr_round_trip(void **state)
{
	static const char *good[] = { "0.0.0.0", "127.16.0.1", "10.0.0.255",
		"255.255.255.255", "192.168.100.1" };
	char buf[ADDR4_STRLEN];
	uint32_t a;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(a4(good[i], &a), 0);
		assert_string_equal(addr4_format(a, buf), good[i]);
	}
	assert_int_equal(a4("127.16.0.1", &a), 0);
	assert_int_equal(a, 0x7f100001u);
}

static void addr_garbage(void **state)
{
	static const char *bad[] = { "", "1.2.3", "1.2.3.4.5", "256.0.0.1",
		"1.2.3.-4", "01.2.3.4", "1..2.3", "1.2.3.4 ", " 1.2.3.4",
		"1.2.3.4/8", "a.b.c.d", "1.2.3.1000", "0x7f.0.0.1", "1.2.3." };
	uint32_t a = 7;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (a4(bad[i], &a) != EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(a, 7);
	assert_int_equal(addr4_parse("1.2.3.4", 6, &a), EINVAL); /* cut short */
}

static void cidr_arith(void **state)
{
	struct cidr4 c, d;
	char buf[CIDR4_STRLEN];

	(void)state;
	assert_int_equal(c4("127.16.0.0/16", &c), 0);
	assert_int_equal(cidr4_size(&c), 65536);
	assert_int_equal(cidr4_first(&c), 0x7f100000u);
	assert_int_equal(cidr4_last(&c), 0x7f10ffffu);
	assert_true(cidr4_contains(&c, 0x7f10abcdu));
	assert_false(cidr4_contains(&c, 0x7f110000u));
	assert_true(cidr4_contains_range(&c, 0x7f100008u, 0x7f10000fu));
	assert_false(cidr4_contains_range(&c, 0x7f10fff8u, 0x7f110007u));
	assert_false(cidr4_contains_range(&c, 0x7f10000fu, 0x7f100008u));
	assert_string_equal(cidr4_format(&c, buf), "127.16.0.0/16");

	assert_int_equal(c4("0.0.0.0/0", &d), 0);
	assert_int_equal(cidr4_size(&d), 1ULL << 32);
	assert_int_equal(cidr4_last(&d), UINT32_MAX);
	assert_true(cidr4_overlap(&c, &d));
	assert_int_equal(c4("127.17.0.0/16", &d), 0);
	assert_false(cidr4_overlap(&c, &d));
	assert_int_equal(c4("127.16.255.252/30", &d), 0);
	assert_true(cidr4_overlap(&c, &d));
	assert_int_equal(c4("10.1.2.3/32", &d), 0);
	assert_int_equal(cidr4_size(&d), 1);
}

static void cidr_garbage(void **state)
{
	static const char *bad[] = { "127.16.0.0", "127.16.0.0/", "127.16.0.0/33",
		"127.16.0.1/16", "127.16.0.0/016", "127.16.0.0/1a", "/16",
		"127.16.0.0/16/1", "127.16.0/16", "127.16.0.0 /16" };
	struct cidr4 c = { 1, 1 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (c4(bad[i], &c) != EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(c.net, 1);
}

static void mac(void **state)
{
	uint8_t m[6], want[6] = { 0x02, 0x00, 0x5e, 0x10, 0xab, 0xcd };
	char buf[MAC_STRLEN];
	static const char *bad[] = { "", "02:00:5e:10:ab", "02:00:5e:10:ab:cd:ef",
		"02:00-5e:10:ab:cd", "02.00.5e.10.ab.cd", "02:00:5e:10:ab:cg",
		"0200.5e10.abcd", "02:00:5e:10:ab:c", " 2:00:5e:10:ab:cd" };

	(void)state;
	assert_int_equal(mac_parse("02:00:5E:10:ab:CD", 17, m), 0);
	assert_memory_equal(m, want, 6);
	assert_int_equal(mac_parse("02-00-5e-10-ab-cd", 17, m), 0);
	assert_memory_equal(m, want, 6);
	assert_string_equal(mac_format(m, buf), "02:00:5e:10:ab:cd");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mac_parse(bad[i], strlen(bad[i]), m) != EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(addr_round_trip),
		cmocka_unit_test(addr_garbage),
		cmocka_unit_test(cidr_arith),
		cmocka_unit_test(cidr_garbage),
		cmocka_unit_test(mac),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
