/* tests/unit/test_gk_flats.c — the gatekeeper's flat table and number
 * translation: dashed and dashless, with and without the complex part,
 * handset part kept, unknown flat (ENOENT), another complex (EXDEV),
 * garbage (EINVAL); replacing, deleting and the address index. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "gatekeeper/flats.h"

static struct gk_flats *table(void)
{
	struct numplan np = NUMPLAN_DEFAULT;
	struct gk_flats *t;
	struct gk_flat f = { .id = 7, .number = "100-1101-1201" };

	assert_int_equal(gk_flats_new(&np, 100, &t), 0);
	inet_pton(AF_INET, "127.16.0.1", &f.first);
	assert_int_equal(gk_flats_put(t, &f), 0);
	f.id = 8;
	strcpy(f.number, "100-1101-1202");
	inet_pton(AF_INET, "127.16.0.5", &f.first);
	assert_int_equal(gk_flats_put(t, &f), 0);
	return t;
}

static void expect(struct gk_flats *t, const char *s, int rc, int64_t id,
		   uint32_t hs)
{
	const struct gk_flat *f = NULL;
	uint32_t h = 99;

	assert_int_equal(gk_flats_lookup(t, s, strlen(s), &f, &h), rc);
	if (rc == 0) {
		assert_int_equal(f->id, id);
		assert_int_equal(h, hs);
	}
}

static void t_translation(void **st)
{
	struct gk_flats *t = table();
	(void)st;

	expect(t, "100-1101-1201", 0, 7, 0);
	expect(t, "10011011201", 0, 7, 0);
	expect(t, "100-1101-1201-3", 0, 7, 3);
	expect(t, "100110112013", 0, 7, 3);
	expect(t, "100-1101-1202-0", 0, 8, 0);
	/* inside the complex the complex part may be left out */
	expect(t, "1101-1202", 0, 8, 0);
	expect(t, "1101-1202-4", 0, 8, 4);
	expect(t, "11011202", 0, 8, 0);
	expect(t, "110112024", 0, 8, 4);
	/* unknown flat of this complex; another complex; not numbers */
	expect(t, "100-1101-1299", ENOENT, 0, 0);
	expect(t, "1101-1299", ENOENT, 0, 0);
	expect(t, "200-1101-1201", EXDEV, 0, 0);
	expect(t, "20011011201", EXDEV, 0, 0);
	expect(t, "", EINVAL, 0, 0);
	expect(t, "alice", EINVAL, 0, 0);
	expect(t, "100--1101-1201", EINVAL, 0, 0);
	expect(t, "1234567890123456789012345678901234567890123", EINVAL, 0, 0);
	gk_flats_free(t);
}

/* A flat's number as calls and records write it: canonical whatever the
 * row said, the handset part appended; too small a buffer refused. */
static void t_number(void **st)
{
	struct gk_flats *t = table();
	struct gk_flat f = { .id = 9, .number = "10011011204" };
	const struct gk_flat *got;
	char buf[NUMPLAN_MAX_LEN];
	uint32_t hs;
	(void)st;

	assert_int_equal(gk_flats_put(t, &f), 0);	/* dashless row */
	assert_int_equal(gk_flats_lookup(t, "1101-1204", 9, &got, &hs), 0);
	assert_string_equal(got->number, "100-1101-1204");
	assert_int_equal(gk_flats_number(t, got, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "100-1101-1204");
	assert_int_equal(gk_flats_number(t, got, 3, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "100-1101-1204-3");
	assert_int_equal(gk_flats_number(t, got, 0, buf, 13), ENOSPC);
	assert_int_equal(gk_flats_number(t, got, 3, buf, 15), ENOSPC);
	strcpy(f.number, "100-1101-12045");	/* a handset is no flat */
	assert_int_equal(gk_flats_put(t, &f), EINVAL);
	gk_flats_free(t);
}

static void t_put_del_addr(void **st)
{
	struct gk_flats *t = table();
	struct gk_flat f = { .id = 7, .number = "100-1101-1203" };
	struct in_addr a;
	(void)st;

	/* flat 7 renumbered and moved: the old number and address are gone */
	inet_pton(AF_INET, "127.16.0.9", &f.first);
	assert_int_equal(gk_flats_put(t, &f), 0);
	assert_int_equal(gk_flats_count(t), 2);
	expect(t, "100-1101-1201", ENOENT, 0, 0);
	expect(t, "100-1101-1203", 0, 7, 0);
	inet_pton(AF_INET, "127.16.0.1", &a);
	assert_null(gk_flats_by_addr(t, a));
	inet_pton(AF_INET, "127.16.0.9", &a);
	assert_int_equal(gk_flats_by_addr(t, a)->id, 7);
	assert_int_equal(gk_flats_del(t, 7), 0);
	assert_int_equal(gk_flats_del(t, 7), ENOENT);
	assert_null(gk_flats_by_addr(t, a));
	assert_null(gk_flats_by_id(t, 7));
	/* numbers of another complex or plan are refused */
	strcpy(f.number, "200-1101-1201");
	assert_int_equal(gk_flats_put(t, &f), EINVAL);
	strcpy(f.number, "100-1101-1201-1");
	assert_int_equal(gk_flats_put(t, &f), EINVAL);
	assert_int_equal(gk_flats_count(t), 1);
	gk_flats_free(t);
}

static void t_many(void **st)
{
	struct numplan np = NUMPLAN_DEFAULT;
	struct gk_flats *t;
	struct gk_flat f = { 0 };
	const struct gk_flat *g;
	uint32_t hs;
	(void)st;

	assert_int_equal(gk_flats_new(&np, 100, &t), 0);
	for (int i = 0; i < 20000; i++) {
		f.id = i + 1;
		snprintf(f.number, sizeof(f.number), "100-%04d-%04d", i / 100,
			 i % 100);
		f.first.s_addr = htonl(0x0a000000u + (uint32_t)i * 4 + 1);
		assert_int_equal(gk_flats_put(t, &f), 0);
	}
	assert_int_equal(gk_flats_count(t), 20000);
	assert_int_equal(gk_flats_lookup(t, "100-0123-0045", 13, &g, &hs), 0);
	assert_int_equal(g->id, 12346);
	f.first.s_addr = htonl(0x0a000000u + 12345 * 4 + 1);
	assert_int_equal(gk_flats_by_addr(t, f.first)->id, 12346);
	gk_flats_clear(t);
	assert_int_equal(gk_flats_count(t), 0);
	gk_flats_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_translation),
		cmocka_unit_test(t_number),
		cmocka_unit_test(t_put_del_addr),
		cmocka_unit_test(t_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
