/* tests/unit/test_ncache.c — the NOTIFY-kept cache without a database:
 * hits and expiry, the generation check (an answer fetched before an
 * invalidation is not stored), notifications through the caller's keys
 * function (one payload, several keys; "flush"; garbage empties the
 * table), eviction in a full table, and bad configurations. The listener
 * itself runs against real PostgreSQL in tests/integration/
 * test_dhcp_hostcache.py (the hook's host cache is an ncache). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncache.h"

static int released;

static void copy(const void *val, void *out) { *(int *)out = *(const int *)val; }
static void release(void *val) { released++; free(val); }

/* A number cache's payloads: "NUMBER[,NUMBER...]", each a key. */
static int keys(const char *p, uint8_t k[][NCACHE_KEY_MAX], size_t *lens,
		size_t *n)
{
	*n = 0;
	while (*p) {
		size_t len = strspn(p, "0123456789");

		if (len == 0 || len > NCACHE_KEY_MAX || *n == NCACHE_NOTIFY_KEYS ||
		    (p[len] && p[len] != ','))
			return EINVAL;
		memcpy(k[*n], p, len);
		lens[(*n)++] = len;
		p += len + (p[len] == ',');
	}
	return 0;
}

static const struct ncache_ops ops = { copy, release, keys };

static int *val(int v)
{
	int *p = malloc(sizeof(*p));

	*p = v;
	return p;
}

#define K(s) (const uint8_t *)(s), strlen(s)

static struct ncache *new_cache(size_t slots, unsigned ttl)
{
	const struct ncache_cfg cfg = { .nslots = slots, .ttl_s = ttl };
	struct ncache *c;

	assert_int_equal(ncache_new(&cfg, &ops, &c), 0);
	released = 0;
	return c;
}

static struct ncache_stats stats(struct ncache *c)
{
	struct ncache_stats st;

	ncache_get_stats(c, &st);
	return st;
}

static void hit_and_expiry(void **state)
{
	struct ncache *c = new_cache(64, 100);
	int out = 0;

	(void)state;
	assert_int_equal(ncache_get(c, K("1001101"), 10, &out), 0);
	ncache_put(c, K("1001101"), val(7), 10);
	assert_int_equal(ncache_get(c, K("1001101"), 50, &out), 1);
	assert_int_equal(out, 7);
	/* Gone after the ttl (spread over its last quarter, never later). */
	assert_int_equal(ncache_get(c, K("1001101"), 110, &out), 0);
	assert_int_equal(stats(c).entries, 0);
	assert_int_equal(released, 1);
	ncache_free(c);
}

static void answer_older_than_a_change_is_not_kept(void **state)
{
	struct ncache *c = new_cache(64, 100);
	int out;

	(void)state;
	assert_int_equal(ncache_get(c, K("42"), 1, &out), 0);
	/* ...the caller queries the database; meanwhile 42 changes... */
	assert_int_equal(ncache_notify(c, "42"), 0);
	ncache_put(c, K("42"), val(1), 1);
	assert_int_equal(ncache_get(c, K("42"), 1, &out), 0);
	assert_int_equal(stats(c).skipped, 1);
	assert_int_equal(released, 1);
	/* A fresh miss then a put is kept. */
	ncache_put(c, K("42"), val(2), 1);
	assert_int_equal(ncache_get(c, K("42"), 1, &out), 1);
	assert_int_equal(out, 2);
	ncache_free(c);
}

/* Under a stream of changes to other keys (a building enrolling, one
 * notification per device) an answer is still kept; a change to its own
 * key or a flush since the miss still drops it. */
static void changes_to_other_keys_do_not_drop_an_answer(void **state)
{
	struct ncache *c = new_cache(1024, 100);
	int out;

	(void)state;
	assert_int_equal(ncache_get(c, K("42"), 1, &out), 0);
	assert_int_equal(ncache_notify(c, "7"), 0);
	ncache_del(c, K("8"));
	ncache_put(c, K("42"), val(1), 1);
	assert_int_equal(ncache_get(c, K("42"), 1, &out), 1);
	assert_int_equal(out, 1);
	assert_int_equal(stats(c).skipped, 0);
	/* Its own key changed, or everything flushed, since the miss: dropped. */
	assert_int_equal(ncache_get(c, K("43"), 1, &out), 0);
	ncache_del(c, K("43"));
	ncache_put(c, K("43"), val(2), 1);
	assert_int_equal(ncache_get(c, K("44"), 1, &out), 0);
	ncache_flush(c);
	ncache_put(c, K("44"), val(3), 1);
	assert_int_equal(stats(c).skipped, 2);
	assert_int_equal(stats(c).entries, 0);
	ncache_free(c);
	assert_int_equal(released, 3);
}

static void notifications(void **state)
{
	struct ncache *c = new_cache(1024, 100);
	static const char *const k[] = { "1", "22", "333", "4444" };
	int out;

	(void)state;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(ncache_get(c, K(k[i]), 1, &out), 0);
		ncache_put(c, K(k[i]), val(i), 1);
	}
	assert_int_equal(stats(c).entries, 4);
	assert_int_equal(ncache_notify(c, "1,333,999"), 0);	/* several keys */
	assert_int_equal(ncache_get(c, K("1"), 1, &out), 0);
	assert_int_equal(ncache_get(c, K("333"), 1, &out), 0);
	assert_int_equal(ncache_get(c, K("22"), 1, &out), 1);
	assert_int_equal(stats(c).entries, 2);
	assert_int_equal(ncache_notify(c, "flush"), 0);
	assert_int_equal(stats(c).entries, 0);
	ncache_put(c, K("22"), val(5), 1);	/* miss before the flush */
	assert_int_equal(stats(c).entries, 0);
	/* Garbage, or too many keys: everything goes, counted. */
	assert_int_equal(ncache_get(c, K("22"), 1, &out), 0);
	ncache_put(c, K("22"), val(5), 1);
	assert_int_equal(stats(c).entries, 1);
	assert_int_equal(ncache_notify(c, "22;drop table"), EINVAL);
	assert_int_equal(stats(c).entries, 0);
	assert_int_equal(ncache_notify(c, "1,2,3,4,5"), EINVAL);
	assert_int_equal(ncache_notify(c, ""), 0);	/* names nothing */
	assert_int_equal(stats(c).notifications, 5);
	assert_int_equal(stats(c).bad_notifications, 2);
	ncache_free(c);
	assert_int_equal(released, 6);
}

static void bounded_memory(void **state)
{
	struct ncache *c = new_cache(16, 100);
	char k[32];
	int out;

	(void)state;
	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "%d", 100000 + i);
		ncache_get(c, K(k), 1, &out);
		ncache_put(c, K(k), val(i), 1);
	}
	assert_true(stats(c).entries <= 16);
	assert_int_equal(stats(c).evicted + stats(c).entries, 1000);
	/* Keys too long or empty are not stored. */
	uint8_t big[NCACHE_KEY_MAX + 1] = { 0 };
	ncache_get(c, big, sizeof(big), 1, &out);
	ncache_put(c, big, sizeof(big), val(1), 1);
	ncache_put(c, big, 0, val(1), 1);
	assert_int_equal(stats(c).skipped, 2);
	ncache_free(c);
	assert_int_equal(released, 1002);
}

static void bad_config(void **state)
{
	struct ncache_cfg cfg = { .nslots = 16, .ttl_s = 1,
				  .conninfo = "dbname=x", .channel = "dpn numbers" };
	const struct ncache_ops no_keys = { copy, release, NULL };
	struct ncache *c = NULL;

	(void)state;
	assert_int_equal(ncache_new(&cfg, &ops, &c), EINVAL);	/* spliced in LISTEN */
	cfg.channel = "1abc";
	assert_int_equal(ncache_new(&cfg, &ops, &c), EINVAL);
	cfg.channel = NULL;
	assert_int_equal(ncache_new(&cfg, &ops, &c), EINVAL);
	cfg.conninfo = NULL;
	cfg.nslots = 0;
	assert_int_equal(ncache_new(&cfg, &ops, &c), EINVAL);
	cfg.nslots = 16;
	assert_int_equal(ncache_new(&cfg, &no_keys, &c), EINVAL);
	assert_null(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hit_and_expiry),
		cmocka_unit_test(answer_older_than_a_change_is_not_kept),
		cmocka_unit_test(changes_to_other_keys_do_not_drop_an_answer),
		cmocka_unit_test(notifications),
		cmocka_unit_test(bounded_memory),
		cmocka_unit_test(bad_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
