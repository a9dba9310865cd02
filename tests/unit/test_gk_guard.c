/* tests/unit/test_gk_guard.c — the gatekeeper's guard without a network:
 * the flood window (limit reached, ban, hits, expiry, a new window), other
 * sources unaffected, responses not counted, lockout per (username,
 * source) with the right user from elsewhere untouched, a source banned
 * for failures of many usernames, scanners by substring, trusted prefixes
 * (IPv4 and IPv6) exempt, route peers exempt from the flood limit and
 * bans only, bad trusted lists, lift and restore, the ban
 * callback, a full table (untracked, bans kept), reload. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "gatekeeper/guard.h"

static const char req[] = "OPTIONS sip:x SIP/2.0\r\n";
static const char resp[] = "SIP/2.0 200 OK\r\n";

static struct { unsigned began, ended, updates; struct gk_ban last; } seen;

static void on_ban(void *arg, const struct gk_ban *b, int ended)
{
	(void)arg;
	if (ended)
		seen.ended++;
	else if (b->hits == 0)
		seen.began++;
	else
		seen.updates++;
	seen.last = *b;
}

static const struct gk_guard_ops ops = { .ban = on_ban };

static struct sockaddr_storage v4(const char *a)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s = (void *)&ss;

	s->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, a, &s->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage v6(const char *a)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in6 *s = (void *)&ss;

	s->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, a, &s->sin6_addr), 1);
	return ss;
}

#define SA(x) ((const struct sockaddr *)&(x))

static struct gk_guard *guard(unsigned entries)
{
	struct gk_guard_cfg c = { .window_ms = 2000, .limit = 5, .ban_s = 60,
		.auth_fails = 3, .auth_window_s = 60, .lock_s = 120,
		.src_auth_fails = 6, .scanner_ban = 1, .max_entries = entries,
		.scanners = GK_GUARD_SCANNERS, .trusted = "10.0.0.0/8, ::1" };
	struct gk_guard *g;

	memset(&seen, 0, sizeof(seen));
	assert_int_equal(gk_guard_new(&c, &ops, NULL, &g), 0);
	return g;
}

static int admit(struct gk_guard *g, struct sockaddr_storage a, uint64_t t)
{
	return gk_guard_admit(g, SA(a), req, sizeof(req) - 1, t);
}

static void t_flood(void **state)
{
	struct gk_guard *g = guard(64);
	struct sockaddr_storage a = v4("192.0.2.1"), b = v4("192.0.2.2");
	(void)state;

	for (int i = 0; i < 5; i++)
		assert_int_equal(admit(g, a, 1000 + (uint64_t)i), 0);
	for (int i = 0; i < 20; i++)	/* responses are not counted */
		assert_int_equal(gk_guard_admit(g, SA(a), resp, sizeof(resp) - 1,
						1010), 0);
	assert_int_equal(admit(g, a, 1020), EPERM);	/* the 6th: banned */
	assert_int_equal(seen.began, 1);
	assert_int_equal(seen.last.reason, GK_BAN_FLOOD);
	assert_int_equal(seen.last.until_ms - seen.last.since_ms, 60000);
	assert_int_equal(admit(g, b, 1020), 0);		/* another source */
	assert_int_equal(gk_guard_admit(g, SA(a), resp, sizeof(resp) - 1, 1030),
			 EPERM);			/* banned: all of it */
	assert_int_equal(admit(g, a, 30000), EPERM);
	assert_int_equal(gk_guard_sweep(g, 30000), 1);
	assert_int_equal(seen.updates, 1);
	assert_int_equal(seen.last.hits, 2);
	assert_int_equal(gk_guard_stats(g)->dropped_banned, 3);
	assert_int_equal(gk_guard_stats(g)->bans[GK_BAN_FLOOD], 1);
	/* over: a fresh window */
	assert_int_equal(admit(g, a, 61020), 0);
	assert_int_equal(gk_guard_sweep(g, 61020), 0);
	gk_guard_free(g);
}

/* Route peers: no flood limit, never banned (an old ban lifted when the
 * set names them), a scanner dropped and a username locked all the same;
 * a new set replaces the last. */
static void t_route_peers(void **state)
{
	struct gk_guard *g = guard(64);
	struct sockaddr_storage p[2] = { v4("192.0.2.7"), v6("2001:db8::7") },
				other = v4("192.0.2.8"), bad = { 0 };
	static const char ua[] = "friendly-scanner";
	(void)state;

	assert_int_equal(gk_guard_ban(g, SA(p[0]), GK_BAN_FLOOD, 60, 0), 0);
	assert_int_equal(admit(g, p[0], 10), EPERM);
	assert_int_equal(gk_guard_set_peers(g, p, 2), 0);
	assert_int_equal(seen.ended, 1);		/* its ban lifted */
	for (uint64_t i = 0; i < 100; i++) {
		assert_int_equal(admit(g, p[0], 100 + i), 0);
		assert_int_equal(admit(g, p[1], 100 + i), 0);
	}
	assert_int_equal(gk_guard_scanner(g, SA(p[0]), ua, sizeof(ua) - 1, 300), 1);
	for (int i = 0; i < 6; i++)
		gk_guard_auth(g, i < 3 ? "u" : "v", SA(p[0]), 0, 400);
	assert_int_equal(gk_guard_locked(g, "u", SA(p[0]), 500), 1);
	assert_int_equal(admit(g, p[0], 600), 0);	/* the source: not banned */
	assert_int_equal(gk_guard_stats(g)->bans[GK_BAN_SCANNER] +
			 gk_guard_stats(g)->bans[GK_BAN_AUTH], 0);
	for (int i = 0; i < 5; i++)		/* another source: limited */
		assert_int_equal(admit(g, other, 100 + (uint64_t)i), 0);
	assert_int_equal(admit(g, other, 200), EPERM);
	/* a new set: p[0] no longer a peer, limited again */
	assert_int_equal(gk_guard_set_peers(g, &p[1], 1), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(admit(g, p[0], 5000 + (uint64_t)i), 0);
	assert_int_equal(admit(g, p[0], 5010), EPERM);
	assert_int_equal(admit(g, p[1], 5010), 0);
	/* an operator's ban of a peer is lifted without unmaking the peer */
	assert_int_equal(gk_guard_ban(g, SA(p[1]), GK_BAN_FLOOD, 60, 5020), 0);
	assert_int_equal(gk_guard_lift(g, SA(p[1]), NULL), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(admit(g, p[1], 5030 + (uint64_t)i), 0);
	/* a bad address: EINVAL, the set kept; an empty set */
	assert_int_equal(gk_guard_set_peers(g, &bad, 1), EINVAL);
	assert_int_equal(admit(g, p[1], 5020), 0);
	assert_int_equal(gk_guard_set_peers(g, NULL, 0), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(admit(g, p[1], 9000 + (uint64_t)i), 0);
	assert_int_equal(admit(g, p[1], 9010), EPERM);
	/* peers again (their bans lifted), idle for an hour: still peers */
	assert_int_equal(gk_guard_set_peers(g, p, 2), 0);
	gk_guard_sweep(g, 3609010);
	for (uint64_t i = 0; i < 20; i++)
		assert_int_equal(admit(g, p[0], 3609010 + i), 0);
	gk_guard_free(g);
}

static void t_window_resets(void **state)
{
	struct gk_guard *g = guard(64);
	struct sockaddr_storage a = v4("192.0.2.1");
	(void)state;

	for (uint64_t t = 0; t < 40; t++)	/* 4 per 2 s window */
		assert_int_equal(admit(g, a, t * 500), 0);
	gk_guard_free(g);
}

static void t_lockout(void **state)
{
	struct gk_guard *g = guard(64);
	struct sockaddr_storage bad = v4("203.0.113.5"), home = v4("192.0.2.9");
	(void)state;

	for (int i = 0; i < 3; i++) {
		assert_false(gk_guard_locked(g, "gw-1", SA(bad), 100));
		gk_guard_auth(g, "gw-1", SA(bad), 0, 100);
	}
	assert_true(gk_guard_locked(g, "gw-1", SA(bad), 200));
	assert_string_equal(seen.last.user, "gw-1");
	assert_int_equal(seen.last.reason, GK_BAN_LOCKOUT);
	assert_false(gk_guard_locked(g, "gw-1", SA(home), 200));
	assert_false(gk_guard_locked(g, "gw-2", SA(bad), 200));
	assert_int_equal(admit(g, bad, 200), 0);	/* the source is not banned */
	assert_false(gk_guard_locked(g, "gw-1", SA(bad), 120100));	/* over */
	/* a good password clears the count */
	gk_guard_auth(g, "gw-3", SA(home), 0, 200000);
	gk_guard_auth(g, "gw-3", SA(home), 0, 200000);
	gk_guard_auth(g, "gw-3", SA(home), 1, 200000);
	gk_guard_auth(g, "gw-3", SA(home), 0, 200000);
	assert_false(gk_guard_locked(g, "gw-3", SA(home), 200000));
	gk_guard_free(g);
}

static void t_many_users_ban_the_source(void **state)
{
	struct gk_guard *g = guard(64);
	struct sockaddr_storage a = v4("203.0.113.6");
	char user[16];
	(void)state;

	for (int i = 0; i < 6; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		gk_guard_auth(g, user, SA(a), 0, 1000);
	}
	assert_int_equal(gk_guard_stats(g)->bans[GK_BAN_AUTH], 1);
	assert_int_equal(admit(g, a, 1001), EPERM);
	assert_int_equal(gk_guard_stats(g)->auth_failures, 6);
	gk_guard_free(g);
}

static void t_scanner_and_trusted(void **state)
{
	struct gk_guard *g = guard(64);
	struct sockaddr_storage a = v4("198.51.100.1"), t4 = v4("10.1.2.3"),
				t6 = v6("::1"), o6 = v6("::2");
	const char *ua = "Friendly-Scanner/1.0", *ok = "Linphone 5 (sip)";
	(void)state;

	assert_false(gk_guard_scanner(g, SA(a), ok, strlen(ok), 1));
	assert_true(gk_guard_scanner(g, SA(a), ua, strlen(ua), 1));
	assert_int_equal(admit(g, a, 2), EPERM);	/* scanner-ban */
	assert_false(gk_guard_scanner(g, SA(t4), ua, strlen(ua), 1));
	assert_true(gk_guard_trusted(g, SA(t4)));
	assert_true(gk_guard_trusted(g, SA(t6)));
	assert_false(gk_guard_trusted(g, SA(o6)));
	for (int i = 0; i < 100; i++)
		assert_int_equal(admit(g, t4, 3), 0);
	for (int i = 0; i < 5; i++)
		gk_guard_auth(g, "x", SA(t6), 0, 3);
	assert_false(gk_guard_locked(g, "x", SA(t6), 3));
	/* a substring cut short at the end of the value does not match */
	assert_false(gk_guard_scanner(g, SA(o6), "sipvic", 6, 3));
	gk_guard_free(g);
}

static void t_bad_lists(void **state)
{
	struct gk_guard_cfg c = { .max_entries = 16 };
	struct gk_guard *g;
	char why[96];
	(void)state;

	assert_int_equal(gk_guard_trusted_check("10.0.0.0/33", why, sizeof(why)),
			 EINVAL);
	assert_non_null(strstr(why, "10.0.0.0/33"));
	assert_int_equal(gk_guard_trusted_check("example.com", why, sizeof(why)),
			 EINVAL);
	assert_int_equal(gk_guard_trusted_check("1.2.3.4/", why, sizeof(why)),
			 EINVAL);
	assert_int_equal(gk_guard_trusted_check(" , ::/0 ,1.2.3.4/32", why,
						sizeof(why)), 0);
	c.trusted = "1.2.3.4/x";
	assert_int_equal(gk_guard_new(&c, NULL, NULL, &g), EINVAL);
	c.trusted = NULL;
	c.max_entries = 0;
	assert_int_equal(gk_guard_new(&c, NULL, NULL, &g), EINVAL);
}

static void t_lift_restore(void **state)
{
	struct gk_guard *g = guard(64);
	struct sockaddr_storage a = v4("192.0.2.50");
	struct gk_ban b = { .addr = v6("2001:db8::1"), .reason = GK_BAN_SCANNER,
			    .since_ms = 0, .until_ms = 5000, .hits = 7 };
	(void)state;

	assert_int_equal(gk_guard_ban(g, SA(a), GK_BAN_FLOOD, 10, 0), 0);
	assert_int_equal(admit(g, a, 1), EPERM);
	assert_int_equal(gk_guard_lift(g, SA(a), NULL), 0);
	assert_int_equal(seen.ended, 1);
	assert_int_equal(admit(g, a, 2), 0);
	assert_int_equal(gk_guard_lift(g, SA(a), ""), ENOENT);
	assert_int_equal(gk_guard_restore(g, &b, 6000), ESTALE);
	assert_int_equal(gk_guard_restore(g, &b, 10), 0);
	assert_int_equal(admit(g, b.addr, 11), EPERM);
	assert_int_equal(gk_guard_sweep(g, 12), 1);
	assert_int_equal(seen.last.hits, 8);	/* 7 restored + 1 */
	gk_guard_free(g);
}

static void t_full_table(void **state)
{
	struct gk_guard *g = guard(16);
	struct sockaddr_storage a;
	char ip[32];
	(void)state;

	a = v4("192.0.2.200");
	assert_int_equal(gk_guard_ban(g, SA(a), GK_BAN_FLOOD, 600, 0), 0);
	for (int i = 0; i < 100; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i);
		a = v4(ip);
		assert_int_equal(admit(g, a, 10), 0);
	}
	assert_true(gk_guard_stats(g)->untracked > 0);
	a = v4("192.0.2.200");
	assert_int_equal(admit(g, a, 11), EPERM);	/* the ban stays */
	/* stale entries make room again */
	assert_int_equal(gk_guard_sweep(g, 100000), 1);
	a = v4("198.51.100.250");
	for (int i = 0; i < 5; i++)
		assert_int_equal(admit(g, a, 100001), 0);
	assert_int_equal(admit(g, a, 100001), EPERM);
	gk_guard_free(g);
}

static void t_reload(void **state)
{
	struct gk_guard *g = guard(64);
	struct sockaddr_storage a = v4("192.0.2.77");
	struct gk_guard_cfg c = { .window_ms = 2000, .limit = 1, .ban_s = 60,
				  .max_entries = 1 };
	(void)state;

	assert_int_equal(gk_guard_set(g, &c), 0);
	assert_int_equal(admit(g, a, 0), 0);
	assert_int_equal(admit(g, a, 0), EPERM);
	c.trusted = "192.0.2.0/24";
	assert_int_equal(gk_guard_set(g, &c), 0);
	assert_int_equal(admit(g, a, 1), 0);	/* trusted now */
	c.trusted = "bad";
	assert_int_equal(gk_guard_set(g, &c), EINVAL);
	assert_int_equal(admit(g, a, 2), 0);	/* unchanged */
	gk_guard_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_flood),
		cmocka_unit_test(t_window_resets),
		cmocka_unit_test(t_route_peers),
		cmocka_unit_test(t_lockout),
		cmocka_unit_test(t_many_users_ban_the_source),
		cmocka_unit_test(t_scanner_and_trusted),
		cmocka_unit_test(t_bad_lists),
		cmocka_unit_test(t_lift_restore),
		cmocka_unit_test(t_full_table),
		cmocka_unit_test(t_reload),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
