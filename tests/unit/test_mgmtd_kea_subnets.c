/* tests/unit/test_mgmtd_kea_subnets.c — reading the subnet ids of a Kea
 * from its config-get answer (mgmtd/kea_subnets.c), which decides what
 * mgmtd's lease-deletion drain takes: Kea's real answer shape (subnets at
 * the top and in shared networks), every truncation of it, garbage,
 * wrong types, ids out of range, error answers, too many subnets. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mgmtd/kea_subnets.h"

/* Trimmed from kea-dhcp4 2.2's own config-get answer. */
static const char GOOD[] =
    "{ \"arguments\": { \"Dhcp4\": { \"authoritative\": true, "
    "\"hooks-libraries\": [ { \"library\": \"/x/libdpn_dhcp.so\", "
    "\"parameters\": { \"database\": \"host=/run/postgresql\" } } ], "
    "\"shared-networks\": [ { \"name\": \"x\", \"subnet4\": [ { \"id\": 9, "
    "\"subnet\": \"127.17.0.0/16\", \"pools\": [  ], \"relay\": "
    "{ \"ip-addresses\": [  ] } } ] } ], \"subnet4\": [ { \"id\": 7, "
    "\"subnet\": \"127.16.0.0/16\", \"option-data\": [  ] }, { \"id\": 4294967295, "
    "\"subnet\": \"127.18.0.0/16\" }, { \"id\": 7, \"subnet\": \"127.16.0.0/16\" } ] }, "
    "\"hash\": \"AB\" }, \"result\": 0 }\n";

static int parse(const char *text, size_t len, struct kea_subnets *s)
{
	char err[128] = "";
	int rc = kea_subnets_parse(text, len, s, err, sizeof(err));

	if (rc)
		assert_true(err[0] != '\0');	/* every refusal says why */
	return rc;
}

static void test_good_answer(void **state)
{
	struct kea_subnets s = { 0 };
	char *sql;

	(void)state;
	assert_int_equal(parse(GOOD, strlen(GOOD), &s), 0);
	assert_int_equal(s.n, 3);		/* sorted, duplicate 7 once */
	assert_int_equal(s.ids[0], 7);
	assert_int_equal(s.ids[1], 9);
	assert_true(s.ids[2] == 4294967295u);
	assert_int_equal(kea_subnets_sql(&s, &sql), 0);
	assert_string_equal(sql, "{7,9,4294967295}");
	free(sql);
	kea_subnets_free(&s);
	assert_null(s.ids);
}

static void test_no_subnets(void **state)
{
	static const char none[] = "{\"result\": 0, \"arguments\": {\"Dhcp4\": {}}}";
	struct kea_subnets s = { 0 }, t = { 0 };
	char *sql;

	(void)state;
	assert_int_equal(parse(none, strlen(none), &s), 0);
	assert_int_equal(s.n, 0);
	assert_true(kea_subnets_equal(&s, &t));
	assert_int_equal(kea_subnets_sql(&s, &sql), 0);
	assert_string_equal(sql, "{}");
	free(sql);
}

/* Every prefix of the answer is refused (only the whole one is JSON). */
static void test_truncated(void **state)
{
	size_t len, whole = strlen(GOOD) - 1;	/* without the newline */
	struct kea_subnets s = { 0 };

	(void)state;
	for (len = 0; len < whole; len++) {
		char *cut = malloc(len + 1);

		assert_non_null(cut);
		memcpy(cut, GOOD, len);
		cut[len] = '\0';
		assert_int_equal(parse(cut, len, &s), EINVAL);
		free(cut);
	}
	assert_null(s.ids);
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"", "garbage", "[]", "null", "{}", "{\"result\": \"0\"}",
		"{\"result\": 1, \"text\": \"no\"}",
		"{\"result\": 2, \"text\": \"'config-get' command not supported.\"}",
		"{\"result\": 0}", "{\"result\": 0, \"arguments\": {}}",
		"{\"result\": 0, \"arguments\": {\"Dhcp4\": []}}",
		"{\"result\": 0, \"arguments\": {\"Dhcp4\": {\"subnet4\": {}}}}",
		"{\"result\": 0, \"arguments\": {\"Dhcp4\": {\"subnet4\": [1]}}}",
		"{\"result\": 0, \"arguments\": {\"Dhcp4\": {\"subnet4\": [{}]}}}",
		"{\"result\": 0, \"arguments\": {\"Dhcp4\": {\"subnet4\": [{\"id\": \"1\"}]}}}",
		"{\"result\": 0, \"arguments\": {\"Dhcp4\": {\"subnet4\": [{\"id\": 1.5}]}}}",
		"{\"result\": 0, \"arguments\": {\"Dhcp4\": {\"subnet4\": [{\"id\": 0}]}}}",
		"{\"result\": 0, \"arguments\": {\"Dhcp4\": {\"subnet4\": [{\"id\": -3}]}}}",
		"{\"result\": 0, \"arguments\": {\"Dhcp4\": {\"subnet4\": [{\"id\": 4294967296}]}}}",
		"{\"result\": 0, \"arguments\": {\"Dhcp4\": {\"shared-networks\": {}}}}",
		"{\"result\": 0, \"arguments\": {\"Dhcp4\": {\"shared-networks\": [3]}}}",
		"{\"result\": 0, \"arguments\": {\"Dhcp4\": {\"shared-networks\": "
		    "[{\"subnet4\": [{\"id\": 0}]}]}}}",
		"{\"result\": 0, \"arguments\": {\"Dhcp4\": {}}} trailing",
		"{\"result\": 0, \"arguments\": {\"Dhcp4\": {}}}{}",
	};
	struct kea_subnets s = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], strlen(bad[i]), &s) != EINVAL)
			fail_msg("accepted: %s", bad[i]);
	}
	assert_null(s.ids);
	/* A NUL inside the given length is not white space either. */
	{
		static const char nul[] =
		    "{\"result\": 0, \"arguments\": {\"Dhcp4\": {}}}\0x";

		assert_int_equal(parse(nul, sizeof(nul) - 1, &s), EINVAL);
	}
}

/* n subnets with ids 1..n, as Kea would list them. */
static char *many(size_t n)
{
	size_t i, cap = 100 + n * 16, off;
	char *p = malloc(cap);

	assert_non_null(p);
	off = (size_t)snprintf(p, cap, "{\"result\": 0, \"arguments\": {\"Dhcp4\": {\"subnet4\": [");
	for (i = 1; i <= n; i++)
		off += (size_t)snprintf(p + off, cap - off, "%s{\"id\": %zu}",
		    i > 1 ? "," : "", i);
	snprintf(p + off, cap - off, "]}}}");
	return p;
}

static void test_too_many(void **state)
{
	struct kea_subnets s = { 0 };
	char *p;

	(void)state;
	p = many(KEA_SUBNETS_MAX);
	assert_int_equal(parse(p, strlen(p), &s), 0);
	assert_int_equal(s.n, KEA_SUBNETS_MAX);
	kea_subnets_free(&s);
	free(p);
	p = many(KEA_SUBNETS_MAX + 1);
	assert_int_equal(parse(p, strlen(p), &s), E2BIG);
	assert_null(s.ids);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_answer),
		cmocka_unit_test(test_no_subnets),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_too_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
