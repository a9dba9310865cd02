/* tests/unit/test_gk_early.c — the early dialogs of a late-offer call
 * (gatekeeper/media_early.c, RFC 3262): one per To tag, found by its tag
 * only (a prefix or a longer tag is another), at most GK_EARLY_MAX (the
 * next is refused ENOSPC, a fork's 1xx then dropped), an offer's SDP kept
 * and replaced, one removed (the others kept), all freed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "gatekeeper/media_early.h"

static struct sip_str str(const char *s)
{
	return (struct sip_str){ s, strlen(s) };
}

static void t_find_by_tag(void **state)
{
	struct gk_early *list = NULL, *a, *b;
	(void)state;

	assert_int_equal(gk_early_add(&list, str("h1"), &a), 0);
	assert_int_equal(gk_early_add(&list, str("h12"), &b), 0);
	assert_int_equal(a->state, GK_EARLY_OFFERING);
	assert_ptr_equal(gk_early_find(list, str("h1")), a);
	assert_ptr_equal(gk_early_find(list, str("h12")), b);
	assert_null(gk_early_find(list, str("h")));
	assert_null(gk_early_find(list, str("h123")));
	assert_null(gk_early_find(NULL, str("h1")));
	gk_early_free(list);
}

static void t_offered_and_removed(void **state)
{
	struct gk_early *list = NULL, *a, *b;
	(void)state;

	assert_int_equal(gk_early_add(&list, str("a"), &a), 0);
	assert_int_equal(gk_early_add(&list, str("b"), &b), 0);
	assert_int_equal(gk_early_offered(a, str("v=0 first")), 0);
	assert_int_equal(gk_early_offered(a, str("v=0 again")), 0);
	assert_int_equal(a->state, GK_EARLY_OFFERED);
	assert_int_equal(a->len, 9);
	assert_memory_equal(a->sdp, "v=0 again", 9);
	gk_early_remove(&list, b);
	assert_null(gk_early_find(list, str("b")));
	assert_ptr_equal(gk_early_find(list, str("a")), a);
	gk_early_remove(&list, a);
	assert_null(list);
	gk_early_free(list);
}

static void t_bounded(void **state)
{
	struct gk_early *list = NULL, *e;
	char tag[8];
	(void)state;

	for (int i = 0; i < GK_EARLY_MAX; i++) {
		snprintf(tag, sizeof(tag), "t%d", i);
		assert_int_equal(gk_early_add(&list, str(tag), &e), 0);
	}
	assert_int_equal(gk_early_add(&list, str("one-more"), &e), ENOSPC);
	assert_null(gk_early_find(list, str("one-more")));
	assert_non_null(gk_early_find(list, str("t0")));
	gk_early_remove(&list, gk_early_find(list, str("t3")));
	assert_int_equal(gk_early_add(&list, str("one-more"), &e), 0);
	gk_early_free(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_find_by_tag),
		cmocka_unit_test(t_offered_and_removed),
		cmocka_unit_test(t_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
