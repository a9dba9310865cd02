/* tests/unit/test_bencode.c — lib/bencode: whole answers of rtpengine,
 * every truncation of them, byte-at-a-time garbage, depth and node limits,
 * integer ranges, and the writer's ENOSPC. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bencode.h"

static struct ben_node nodes[256];

static int dec(const char *s, unsigned *n)
{
	unsigned tmp;

	return ben_decode(s, strlen(s), nodes, 256, n ? n : &tmp);
}

static void test_answer(void **state)
{
	const char *a = "d3:sdp10:v=0\r\nc=IN 6:result2:ok4:listl1:ai-42eee";
	const struct ben_node *v;
	unsigned n;
	(void)state;

	assert_int_equal(dec(a, &n), 0);
	assert_int_equal(nodes[0].type, BEN_DICT);
	v = ben_dict_get(nodes, 0, "result");
	assert_true(ben_str_is(v, "ok"));
	v = ben_dict_get(nodes, 0, "sdp");
	assert_non_null(v);
	assert_int_equal(v->len, 10);
	v = ben_dict_get(nodes, 0, "list");
	assert_int_equal(v->type, BEN_LIST);
	assert_true(ben_str_is(&nodes[v->child], "a"));
	assert_int_equal(nodes[nodes[v->child].next].i, -42);
	assert_null(ben_dict_get(nodes, 0, "missing"));
	assert_null(ben_dict_get(nodes, 1, "x"));	/* not a dict */
}

static void test_truncated(void **state)
{
	const char *a = "d3:sdp4:abcd6:resultl2:okd1:xi10eeee";
	size_t l = strlen(a);
	unsigned n;
	(void)state;

	assert_int_equal(dec(a, &n), 0);
	for (size_t k = 0; k < l; k++)
		assert_int_not_equal(ben_decode(a, k, nodes, 256, &n), 0);
	for (size_t k = 1; k < l; k++)	/* every suffix: no crash */
		(void)ben_decode(a + k, l - k, nodes, 256, &n);
}

static void test_bad(void **state)
{
	static const char *const bad[] = { "", "x", "i12", "ie", "i-e",
		"i-0e", "i01e", "i1x2e", "3:ab", "03:abc", "-1:a", "d1:ae",
		"di1e1:ae", "l", "d", "lee", "1:ab", "i9223372036854775808e",
		"99999999999999999999999:a", "e", ":", "le1:a", NULL };
	unsigned n;
	(void)state;

	for (int i = 0; bad[i]; i++) {
		int rc = dec(bad[i], &n);
		if (rc == 0)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(dec("i9223372036854775807e", &n), 0);
	assert_int_equal(nodes[0].i, INT64_MAX);
	assert_int_equal(dec("i-9223372036854775808e", &n), 0);
	assert_int_equal(nodes[0].i, INT64_MIN);
	assert_int_equal(dec("0:", &n), 0);
	assert_int_equal(dec("de", &n), 0);
	assert_int_equal(nodes[0].child, 0);
}

static void test_limits(void **state)
{
	char deep[2 * BEN_DEPTH + 4], big[1024];
	unsigned n, k = 0;
	(void)state;

	memset(deep, 'l', BEN_DEPTH);
	memset(deep + BEN_DEPTH, 'e', BEN_DEPTH);
	deep[2 * BEN_DEPTH] = '\0';
	assert_int_equal(dec(deep, &n), 0);
	memset(deep, 'l', BEN_DEPTH + 1);
	memset(deep + BEN_DEPTH + 1, 'e', BEN_DEPTH + 1);
	deep[2 * BEN_DEPTH + 2] = '\0';
	assert_int_equal(dec(deep, &n), EBADMSG);

	big[k++] = 'l';
	for (int i = 0; i < 300; i++)
		big[k++] = 'i', big[k++] = '1', big[k++] = 'e';
	big[k++] = 'e';
	big[k] = '\0';
	assert_int_equal(dec(big, &n), E2BIG);
}

/* Random bytes and random mutations of a valid answer: never a crash, and
 * anything accepted is well-formed (children in range). */
static void test_garbage(void **state)
{
	const char *a = "d3:sdp4:abcd6:resultl2:okd1:xi10eeee";
	char buf[64];
	unsigned n;
	(void)state;

	srand(7);
	for (int it = 0; it < 20000; it++) {
		size_t l = strlen(a);
		memcpy(buf, a, l);
		for (int m = 0; m < 1 + it % 4; m++)
			buf[rand() % l] = (char)(rand() % 256);
		if (ben_decode(buf, l, nodes, 256, &n) == 0)
			for (unsigned i = 0; i < n; i++) {
				assert_true(nodes[i].child < n);
				assert_true(nodes[i].next < n);
			}
	}
}

static void test_writer(void **state)
{
	char buf[64];
	struct ben_w w;
	unsigned n;
	(void)state;

	ben_w_init(&w, buf, sizeof(buf));
	ben_open(&w, 'd');
	ben_put_cstr(&w, "command");
	ben_put_cstr(&w, "offer");
	ben_put_cstr(&w, "n");
	ben_put_int(&w, -5);
	ben_put_cstr(&w, "l");
	ben_open(&w, 'l');
	ben_put_cstr(&w, "pub");
	ben_end(&w);
	ben_end(&w);
	assert_int_equal(w.err, 0);
	assert_int_equal(ben_decode(buf, w.len, nodes, 256, &n), 0);
	assert_true(ben_str_is(ben_dict_get(nodes, 0, "command"), "offer"));
	assert_int_equal(ben_dict_get(nodes, 0, "n")->i, -5);

	ben_w_init(&w, buf, 8);
	ben_put_cstr(&w, "abc");
	ben_put_cstr(&w, "defgh");	/* does not fit: nothing of it */
	assert_int_equal(w.err, ENOSPC);
	assert_int_equal(w.len, 5);
	ben_put_cstr(&w, "");
	assert_int_equal(w.len, 5);
}

int main(void)
{
	const struct CMUnitTest t[] = {
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_writer),
	};

	return cmocka_run_group_tests(t, NULL, NULL);
}
