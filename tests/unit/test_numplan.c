/* tests/unit/test_numplan.c — number plan: parse, format, widths, garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "numplan.h"

static const struct numplan def = { 3, 4, 4, 1 };

static int parse(const struct numplan *np, const char *s, struct number *n)
{
	return numplan_parse(np, s, strlen(s), n);
}

static void expect_number(const struct numplan *np, const char *s,
    uint32_t c, uint32_t b, uint32_t f, uint32_t h)
{
	struct number n;

	assert_int_equal(parse(np, s, &n), 0);
	assert_int_equal(n.complex, c);
	assert_int_equal(n.building, b);
	assert_int_equal(n.flat, f);
	assert_int_equal(n.handset, h);
}

static void dashed_forms(void **state)
{
	(void)state;
	expect_number(&def, "100-1101-1201-1", 100, 1101, 1201, 1);
	expect_number(&def, "100-1101-1201", 100, 1101, 1201, 0);
	expect_number(&def, "100-1101-1201-0", 100, 1101, 1201, 0);
	/* shorter parts are values, not digit strings */
	expect_number(&def, "7-1-12-3", 7, 1, 12, 3);
}

static void dashless_forms(void **state)
{
	(void)state;
	expect_number(&def, "10011011201", 100, 1101, 1201, 0);
	expect_number(&def, "100110112011", 100, 1101, 1201, 1);
	expect_number(&def, "100110112010", 100, 1101, 1201, 0);
	expect_number(&def, "00100010001", 1, 1, 1, 0);
}

static void other_widths(void **state)
{
	const struct numplan np = { 2, 3, 3, 2 };

	(void)state;
	expect_number(&np, "42-101-305-12", 42, 101, 305, 12);
	expect_number(&np, "4210130512", 42, 101, 305, 12);
	expect_number(&np, "42101305", 42, 101, 305, 0);
	expect_number(&np, "42-101-305-00", 42, 101, 305, 0);
}

static void garbage_rejected(void **state)
{
	static const char *bad[] = {
		"", "-", "--", "100-1101", "100-1101-1201-1-1", "100--1201-1",
		"-100-1101-1201", "100-1101-1201-", "1000-1101-1201-1",
		"100-11010-1201", "100-1101-12010", "100-1101-1201-12",
		"1001101120", "1001101120111", "100110112011a", "10011011 201",
		"+10011011201", "100-1101-12a1", "100 1101 1201", "sip:100",
		"1e5-1101-1201", "٣00-1101-1201",
	};
	struct number n = { 9, 9, 9, 9 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(&def, bad[i], &n) != EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	/* *out untouched on failure */
	assert_int_equal(n.complex, 9);
	assert_int_equal(numplan_parse(&def, NULL, 0, &n), EINVAL);
}

static void embedded_nul_and_length(void **state)
{
	struct number n;

	(void)state;
	/* the length rules, not the NUL: a NUL inside is garbage */
	assert_int_equal(numplan_parse(&def, "10011011201\0" "1", 13, &n), EINVAL);
	/* a prefix of a longer buffer parses on its own */
	assert_int_equal(numplan_parse(&def, "100110112011xyz", 12, &n), 0);
	assert_int_equal(n.handset, 1);
}

static void invalid_plans(void **state)
{
	const struct numplan zero = { 0, 4, 4, 1 }, wide = { 3, 10, 4, 1 };
	struct number n;

	(void)state;
	assert_int_equal(numplan_valid(&def), 0);
	assert_int_equal(numplan_valid(&zero), EINVAL);
	assert_int_equal(numplan_valid(&wide), EINVAL);
	assert_int_equal(parse(&zero, "100-1101-1201", &n), EINVAL);
}

static void format_round_trip(void **state)
{
	const struct numplan np = { 3, 4, 4, 1 };
	struct number n = { 7, 12, 305, 0 }, back;
	char buf[NUMPLAN_MAX_LEN];

	(void)state;
	assert_int_equal(numplan_format(&np, &n, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "007-0012-0305");
	n.handset = 4;
	assert_int_equal(numplan_format(&np, &n, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "007-0012-0305-4");
	assert_int_equal(parse(&np, buf, &back), 0);
	assert_memory_equal(&n, &back, sizeof(n));
	/* every plan's longest number fits NUMPLAN_MAX_LEN */
	{
		const struct numplan big = { 9, 9, 9, 9 };
		struct number m = { 999999999, 999999999, 999999999, 999999999 };

		assert_int_equal(numplan_format(&big, &m, buf, sizeof(buf)), 0);
		assert_string_equal(buf, "999999999-999999999-999999999-"
				    "999999999");
	}
	/* exactly the room: the number and its NUL; one less: ENOSPC */
	assert_int_equal(numplan_format(&np, &n, buf, 16), 0);
	assert_string_equal(buf, "007-0012-0305-4");
	assert_int_equal(numplan_format(&np, &n, buf, 15), ENOSPC);
	n.handset = 0;
	n.complex = 0;
	assert_int_equal(numplan_format(&np, &n, buf, 14), 0);
	assert_string_equal(buf, "000-0012-0305");
}

static void format_refuses(void **state)
{
	struct number n = { 1000, 1, 1, 0 };
	char buf[NUMPLAN_MAX_LEN];

	(void)state;
	assert_int_equal(numplan_format(&def, &n, buf, sizeof(buf)), EINVAL);
	n.complex = 100;
	n.handset = 10;
	assert_int_equal(numplan_format(&def, &n, buf, sizeof(buf)), EINVAL);
	n.handset = 1;
	assert_int_equal(numplan_format(&def, &n, buf, 8), ENOSPC);
}

static void complex_prefix(void **state)
{
	uint32_t c;

	(void)state;
	assert_int_equal(numplan_complex("100-1101-1201", 13, 3, &c), 0);
	assert_int_equal(c, 100);
	assert_int_equal(numplan_complex("10011011201", 11, 3, &c), 0);
	assert_int_equal(c, 100);
	assert_int_equal(numplan_complex("42101305", 8, 2, &c), 0);
	assert_int_equal(c, 42);
	assert_int_equal(numplan_complex("10", 2, 3, &c), EINVAL);
	assert_int_equal(numplan_complex("1000-1", 6, 3, &c), EINVAL);
	assert_int_equal(numplan_complex("x00-1", 5, 3, &c), EINVAL);
	assert_int_equal(numplan_complex("-1", 2, 3, &c), EINVAL);
}

/* Random bytes never crash the parser and anything accepted formats back to
 * something that parses to the same number. */
static void random_input(void **state)
{
	const char alphabet[] = "0123456789--x ";
	char s[24], buf[NUMPLAN_MAX_LEN];
	struct number n, back;

	(void)state;
	srand(4475);
	for (int i = 0; i < 200000; i++) {
		size_t len = (size_t)(rand() % 20);

		for (size_t j = 0; j < len; j++)
			s[j] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
		if (numplan_parse(&def, s, len, &n) != 0)
			continue;
		assert_int_equal(numplan_format(&def, &n, buf, sizeof(buf)), 0);
		assert_int_equal(parse(&def, buf, &back), 0);
		assert_memory_equal(&n, &back, sizeof(n));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dashed_forms),
		cmocka_unit_test(dashless_forms),
		cmocka_unit_test(other_widths),
		cmocka_unit_test(garbage_rejected),
		cmocka_unit_test(embedded_nul_and_length),
		cmocka_unit_test(invalid_plans),
		cmocka_unit_test(format_round_trip),
		cmocka_unit_test(format_refuses),
		cmocka_unit_test(complex_prefix),
		cmocka_unit_test(random_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
