/* tests/unit/test_mgmtd_router.c — mgmtd's path router (mgmtd/router.c)
 * over a route table of its own: literal segments, {id} (positive decimal
 * only), {*}, HEAD taking GET routes, 405 versus 404, and odd paths. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mgmtd/server.h"

static void h_any(struct api_req *r) { (void)r; }

static const struct api_route table[] = {
	{ "GET", "/api/v1/sites", h_any, API_ADMIN },
	{ "POST", "/api/v1/sites", h_any, API_OPERATOR },
	{ "GET", "/api/v1/sites/{id}", h_any, API_ADMIN },
	{ "GET", "/api/v1/sites/{id}/pools/{id}", h_any, API_ADMIN },
	{ "GET", "/api/v1/numbers/{*}", h_any, API_ADMIN },
	API_ROUTES_END
};

const struct api_route *const api_route_tables[] = { table, NULL };

struct match {
	int rc, idx;
	int64_t id0, id1;
	char arg0[64];
};

static struct match try(const char *method, const char *url)
{
	struct api_http h;
	struct match m = { 0 };

	memset(&h, 0, sizeof(h));
	h.req.http = &h;
	m.rc = router_match(&h, method, url);
	m.idx = h.route_idx;
	m.id0 = h.req.id[0] ? h.req.idv[0] : -1;
	m.id1 = h.req.id[1] ? h.req.idv[1] : -1;
	if (h.req.arg[0])
		strncpy(m.arg0, h.req.arg[0], sizeof(m.arg0) - 1);
	free(h.path);
	return m;
}

static int setup(void **state)
{
	(void)state;
	return router_init();
}

static int teardown(void **state)
{
	(void)state;
	router_free();
	return 0;
}

static void test_literal_and_method(void **state)
{
	(void)state;
	assert_int_equal(router_count(), 5);
	assert_int_equal(try("GET", "/api/v1/sites").idx, 0);
	assert_int_equal(try("POST", "/api/v1/sites").idx, 1);
	assert_int_equal(try("HEAD", "/api/v1/sites").idx, 0);
	struct match m = try("DELETE", "/api/v1/sites");
	assert_int_equal(m.rc, ENOENT);
	assert_int_equal(m.idx, -2);           /* path known: 405 */
	m = try("GET", "/api/v1/nothing");
	assert_int_equal(m.rc, ENOENT);
	assert_int_equal(m.idx, -1);           /* unknown: 404 */
}

static void test_ids(void **state)
{
	struct match m;

	(void)state;
	m = try("GET", "/api/v1/sites/42");
	assert_int_equal(m.idx, 2);
	assert_int_equal(m.id0, 42);
	m = try("GET", "/api/v1/sites/7/pools/900000000000000001");
	assert_int_equal(m.idx, 3);
	assert_int_equal(m.id0, 7);
	assert_int_equal(m.id1, 900000000000000001LL);
	static const char *const bad[] = { "/api/v1/sites/0", "/api/v1/sites/007",
	    "/api/v1/sites/-1", "/api/v1/sites/1e3", "/api/v1/sites/12a",
	    "/api/v1/sites/ 1", "/api/v1/sites/1234567890123456789",
	    "/api/v1/sites/99999999999999999999", "/api/v1/sites/" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = try("GET", bad[i]);
		if (m.rc != ENOENT || m.idx != -1)
			fail_msg("%s matched (idx %d)", bad[i], m.idx);
	}
}

static void test_any_segment(void **state)
{
	struct match m;

	(void)state;
	m = try("GET", "/api/v1/numbers/100-1101-1201-1");
	assert_int_equal(m.idx, 4);
	assert_string_equal(m.arg0, "100-1101-1201-1");
	assert_int_equal(try("GET", "/api/v1/numbers/").idx, -1);
	assert_int_equal(try("GET", "/api/v1/numbers/1/2").idx, -1);
}

static void test_odd_paths(void **state)
{
	static const char *const odd[] = { "", "api/v1/sites", "/", "//",
	    "/api/v1/sites/", "/api//v1/sites", "/api/v1/sites?x=1",
	    "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p", "/API/v1/sites" };

	(void)state;
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		struct match m = try("GET", odd[i]);

		if (m.rc != ENOENT || m.idx != -1)
			fail_msg("'%s' matched (idx %d)", odd[i], m.idx);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal_and_method),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_any_segment),
		cmocka_unit_test(test_odd_paths),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
