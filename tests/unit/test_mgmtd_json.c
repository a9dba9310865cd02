/* tests/unit/test_mgmtd_json.c — mgmtd's strict request decoding
 * (mgmtd/json.c with the answers of mgmtd/answer.c): whole bodies, every
 * truncation, garbage, oversized and nested input, each refusal naming its
 * field, and MAC canonicalisation. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mgmtd/server.h"

/* A request holding body, as http.c would make it. */
static struct api_http *req(const char *body, size_t len)
{
	struct api_http *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	h->resp_fd = -1;
	h->req.http = h;
	h->req.method = "POST";
	h->req.path = "/test";
	h->req.body = body;
	h->req.body_len = len;
	return h;
}

static void req_done(struct api_http *h)
{
	http_req_cleanup(h);
	free(h);
}

/* The "field" of the error answered, or "" when none. */
static void answered_field(struct api_http *h, char *out, size_t size)
{
	json_object *o = json_tokener_parse(h->resp), *f;

	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "error", NULL));
	snprintf(out, size, "%s", json_object_object_get_ex(o, "field", &f) ?
	    json_object_get_string(f) : "");
	json_object_put(o);
}

struct site {
	int64_t number;
	const char *name, *mac;
	int active;
	json_object *widths, *list;
};

#define SITE_FIELDS(s) {                                              \
	API_INT("number", API_REQUIRED, &(s)->number, 0, 999),         \
	API_STR("name", 0, &(s)->name, 1, 10),                          \
	API_MAC("mac", 0, &(s)->mac),                                   \
	API_BOOL("active", 0, &(s)->active),                            \
	API_OBJ("widths", 0, &(s)->widths),                             \
	API_ARR("list", 0, &(s)->list, 3),                              \
	API_FIELDS_END }

/* Decodes body against the site fields; returns the status answered (0 if
 * none) and the field named. */
static unsigned decode(const char *body, size_t len, char *field, size_t fsize)
{
	struct site s = { 0 };
	struct api_field f[] = SITE_FIELDS(&s);
	struct api_http *h = req(body, len);
	int rc = api_decode(&h->req, f);
	unsigned status = h->status;

	assert_true((rc == 0) == (status == 0));
	field[0] = '\0';
	if (status)
		answered_field(h, field, fsize);
	req_done(h);
	return status;
}

static void test_whole_body(void **state)
{
	const char *body = "{\"number\": 100, \"name\": \"Block A\", \"mac\": "
	    "\"AA-BB-CC-DD-EE-0F\", \"active\": true, \"widths\": {\"flat\": 4}, "
	    "\"list\": [1, 2]}";
	struct site s = { 0 };
	struct api_field f[] = SITE_FIELDS(&s);
	struct api_http *h = req(body, strlen(body));

	(void)state;
	assert_int_equal(api_decode(&h->req, f), 0);
	assert_int_equal(h->status, 0);
	assert_int_equal(s.number, 100);
	assert_string_equal(f[0].text, "100");
	assert_string_equal(s.name, "Block A");
	assert_string_equal(s.mac, "aa:bb:cc:dd:ee:0f");
	assert_int_equal(s.active, 1);
	assert_int_equal(json_object_array_length(s.list), 2);
	for (int i = 0; i < 6; i++)
		assert_int_equal(f[i].present, 1);
	assert_string_equal(api_param(&f[0]), "100");
	assert_string_equal(api_param(&f[3]), "true");
	assert_string_equal(api_param(&f[5]), "[1,2]");
	req_done(h);
}

static void test_optional_fields_absent(void **state)
{
	struct site s = { 0 };
	struct api_field f[] = SITE_FIELDS(&s);
	struct api_http *h = req("{\"number\": 0}", 13);

	(void)state;
	assert_int_equal(api_decode(&h->req, f), 0);
	assert_int_equal(f[0].present, 1);
	assert_int_equal(f[1].present, 0);
	assert_null(api_param(&f[1]));
	req_done(h);
}

/* Every proper prefix of a valid body is refused with 400. */
static void test_every_truncation(void **state)
{
	const char *body = "{\"number\": 12, \"name\": \"x\", \"list\": [1, 2, 3], "
	    "\"widths\": {\"a\": [true, null]}}";
	char field[64];

	(void)state;
	for (size_t n = 0; n < strlen(body); n++)
		assert_int_equal(decode(body, n, field, sizeof(field)), 400);
	assert_int_equal(decode(body, strlen(body), field, sizeof(field)), 0);
}

static void test_garbage(void **state)
{
	static const char *const bad[] = { "", " ", "null", "[]", "\"s\"", "12",
	    "{'number': 1}", "{\"number\": 1,}", "{\"number\": 1} x", "{number: 1}",
	    "{\"number\": 0x10}", "{\"number\": NaN}", "{\"number\": 1}}",
	    "\xff\xfe", "{\"number\":\x01 1}" };
	unsigned char buf[64];
	unsigned seed = 7;
	char field[64];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(decode(bad[i], strlen(bad[i]), field, sizeof(field)), 400);
	for (int round = 0; round < 2000; round++) {
		size_t n = (size_t)(rand_r(&seed) % sizeof(buf));

		for (size_t k = 0; k < n; k++)
			buf[k] = (unsigned char)rand_r(&seed);
		unsigned st = decode((const char *)buf, n, field, sizeof(field));
		assert_true(st == 400 || st == 422 || st == 0);
	}
}

static void test_fields_are_named(void **state)
{
	static const struct { const char *body, *field; unsigned status; } c[] = {
		{ "{}", "number", 400 },
		{ "{\"number\": null}", "number", 400 },
		{ "{\"number\": \"1\"}", "number", 400 },
		{ "{\"number\": 1.5}", "number", 400 },
		{ "{\"number\": 1000}", "number", 422 },
		{ "{\"number\": -1}", "number", 422 },
		{ "{\"number\": 99999999999999999999999}", "number", 422 },
		{ "{\"number\": 1, \"name\": \"\"}", "name", 422 },
		{ "{\"number\": 1, \"name\": \"12345678901\"}", "name", 422 },
		{ "{\"number\": 1, \"name\": \"a\\u0000b\"}", "name", 400 },
		{ "{\"number\": 1, \"name\": 5}", "name", 400 },
		{ "{\"number\": 1, \"mac\": \"aa:bb:cc:dd:ee\"}", "mac", 422 },
		{ "{\"number\": 1, \"mac\": \"aa:bb-cc:dd:ee:ff\"}", "mac", 422 },
		{ "{\"number\": 1, \"mac\": \"gg:bb:cc:dd:ee:ff\"}", "mac", 422 },
		{ "{\"number\": 1, \"active\": 1}", "active", 400 },
		{ "{\"number\": 1, \"widths\": []}", "widths", 400 },
		{ "{\"number\": 1, \"list\": [1, 2, 3, 4]}", "list", 422 },
		{ "{\"number\": 1, \"bogus\": 1}", "bogus", 400 },
	};
	char field[64];

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		unsigned st = decode(c[i].body, strlen(c[i].body), field, sizeof(field));

		if (st != c[i].status || strcmp(field, c[i].field) != 0)
			fail_msg("%s: got %u %s, want %u %s", c[i].body, st, field,
			    c[i].status, c[i].field);
	}
}

static void test_depth_and_size_are_bounded(void **state)
{
	char deep[200], field[64];
	size_t n = 0;
	char *big;

	(void)state;
	n += (size_t)snprintf(deep, sizeof(deep), "{\"number\": 1, \"widths\": ");
	for (int i = 0; i < 20; i++)
		deep[n++] = '[';
	for (int i = 0; i < 20; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	assert_int_equal(decode(deep, n, field, sizeof(field)), 400);
	big = malloc(70000);
	assert_non_null(big);
	n = (size_t)snprintf(big, 70000, "{\"number\": 1, \"name\": \"");
	memset(big + n, 'x', 60000);
	memcpy(big + n + 60000, "\"}", 3);
	assert_int_equal(decode(big, strlen(big), field, sizeof(field)), 422);
	assert_string_equal(field, "name");
	free(big);
}

static void test_nested_names_are_dotted(void **state)
{
	const char *body = "{\"number\": 1, \"widths\": {\"flat\": 10}}";
	struct site s = { 0 };
	struct api_field f[] = SITE_FIELDS(&s);
	int64_t flat = 0;
	struct api_field w[] = { API_INT("flat", API_REQUIRED, &flat, 1, 9),
	    API_FIELDS_END };
	struct api_http *h = req(body, strlen(body));
	char field[64];

	(void)state;
	assert_int_equal(api_decode(&h->req, f), 0);
	assert_int_not_equal(api_decode_obj(&h->req, s.widths, "widths", w), 0);
	assert_int_equal(h->status, 422);
	answered_field(h, field, sizeof(field));
	assert_string_equal(field, "widths.flat");
	req_done(h);
}

static void test_mac_canon(void **state)
{
	char out[18];

	(void)state;
	assert_int_equal(api_mac_canon("AA:bb:CC:00:11:ff", out), 0);
	assert_string_equal(out, "aa:bb:cc:00:11:ff");
	assert_int_equal(api_mac_canon("aa-bb-cc-00-11-ff", out), 0);
	assert_string_equal(out, "aa:bb:cc:00:11:ff");
	assert_int_equal(api_mac_canon("aabbcc0011ff", out), EINVAL);
	assert_int_equal(api_mac_canon("aa:bb:cc:00:11:f", out), EINVAL);
	assert_int_equal(api_mac_canon("aa:bb:cc:00:11:ff:", out), EINVAL);
	assert_int_equal(api_mac_canon("aa:bb-cc:00:11:ff", out), EINVAL);
	assert_int_equal(api_mac_canon(" a:bb:cc:00:11:ff", out), EINVAL);
	assert_int_equal(api_mac_canon("", out), EINVAL);
}

static void test_empty_body_rule(void **state)
{
	struct api_http *h = req("", 0);

	(void)state;
	assert_int_equal(api_decode_empty(&h->req), 0);
	req_done(h);
	h = req("{}", 2);
	assert_int_equal(api_decode_empty(&h->req), EINVAL);
	assert_int_equal(h->status, 400);
	req_done(h);
}

/* json-c keeps the last of two equal names and turns a lone surrogate
 * into U+FFFD; the decoder refuses both, naming where. */
static void test_duplicates_and_surrogates(void **state)
{
	static const struct { const char *body, *field; } bad[] = {
		{ "{\"number\": 1, \"number\": 2}", "number" },
		{ "{\"number\": 1, \"n\\u0061me\": \"a\", \"name\": \"b\"}", "name" },
		{ "{\"number\": 1, \"widths\": {\"a\": 1, \"b\": {}, \"a\": 2}}", "widths.a" },
		{ "{\"number\": 1, \"list\": [{}, {\"x\": 1, \"x\": 1}]}", "list[1].x" },
		{ "{\"number\": 1, \"name\": \"\\ud800\"}", "name" },
		{ "{\"number\": 1, \"name\": \"\\udfff\\ud800\"}", "name" },
		{ "{\"number\": 1, \"name\": \"\\ud800\\u0041\"}", "name" },
		{ "{\"number\": 1, \"list\": [\"ok\", \"\\uDBFF\"]}", "list[1]" },
	};
	char field[64];
	struct site s = { 0 };
	struct api_field f[] = SITE_FIELDS(&s);
	const char *pair = "{\"number\": 1, \"name\": \"\\ud83d\\ude00\\\"\\\\\"}";
	struct api_http *h = req(pair, strlen(pair));

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(decode(bad[i].body, strlen(bad[i].body), field,
		    sizeof(field)), 400);
		assert_string_equal(field, bad[i].field);
	}
	assert_int_equal(api_decode(&h->req, f), 0);
	assert_string_equal(s.name, "\xf0\x9f\x98\x80\"\\");
	req_done(h);
}

static void test_empty_patch_is_refused(void **state)
{
	struct site s = { 0 };
	struct api_field f[] = { API_STR("name", 0, &s.name, 1, 10), API_FIELDS_END };
	struct api_http *h = req("{}", 2);

	(void)state;
	h->req.method = "PATCH";
	assert_int_equal(api_decode(&h->req, f), EINVAL);
	assert_int_equal(h->status, 400);
	req_done(h);
	h = req("{\"name\": \"x\"}", strlen("{\"name\": \"x\"}"));
	h->req.method = "PATCH";
	assert_int_equal(api_decode(&h->req, f), 0);
	req_done(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_body),
		cmocka_unit_test(test_optional_fields_absent),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_fields_are_named),
		cmocka_unit_test(test_depth_and_size_are_bounded),
		cmocka_unit_test(test_nested_names_are_dotted),
		cmocka_unit_test(test_mac_canon),
		cmocka_unit_test(test_empty_body_rule),
		cmocka_unit_test(test_duplicates_and_surrogates),
		cmocka_unit_test(test_empty_patch_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
