/* tests/unit/test_gk_routes.c — the gatekeeper's outbound route table:
 * longest prefix (dashes skipped, no match, empty table), peer order by
 * Call-ID hash (stable per call, every peer a start for some call, by
 * weight, down peers skipped, none up), peers per group capped, bad prefixes and
 * addresses refused, probing state kept across a reload only for the same
 * peer, lookup of a peer by source address; the Call-ID -> peer table
 * (set, replace, forget, expire, a full table making room). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "gatekeeper/routes.h"
#include "gatekeeper/sessions.h"

static void add_peer(struct gk_routes *t, int64_t id, int64_t group,
		     const char *host, int rc)
{
	struct gk_peer p = { .id = id, .group_id = group, .port = 5060 };

	snprintf(p.host, sizeof(p.host), "%s", host);
	assert_int_equal(gk_routes_add_peer(t, &p), rc);
}

/* Group 1: three peers, group 2: one; routes 2009 -> 2, 200 -> 1, 3 -> 2. */
static struct gk_routes *table(void)
{
	struct gk_routes *t;

	assert_int_equal(gk_routes_new(&t), 0);
	add_peer(t, 11, 1, "127.0.2.1", 0);
	add_peer(t, 12, 1, "127.0.2.2", 0);
	add_peer(t, 13, 1, "127.0.2.3", 0);
	add_peer(t, 21, 2, "127.0.3.1", 0);
	assert_int_equal(gk_routes_add_route(t, "2009", 2), 0);
	assert_int_equal(gk_routes_add_route(t, "200", 1), 0);
	assert_int_equal(gk_routes_add_route(t, "3", 2), 0);
	return t;
}

static struct sip_str str(const char *s)
{
	return (struct sip_str){ s, strlen(s) };
}

static void longest_prefix_wins(void **state)
{
	struct gk_routes *t = table(), *empty;
	(void)state;

	assert_string_equal(gk_routes_match(t, "200-1101-0101")->prefix, "200");
	assert_string_equal(gk_routes_match(t, "2009-1101-0101")->prefix, "2009");
	assert_string_equal(gk_routes_match(t, "20091101010")->prefix, "2009");
	assert_string_equal(gk_routes_match(t, "300")->prefix, "3");
	assert_null(gk_routes_match(t, "201-1101-0101"));
	assert_null(gk_routes_match(t, "20"));		/* shorter than 200 */
	assert_null(gk_routes_match(t, ""));
	assert_null(gk_routes_match(t, "alice"));
	assert_int_equal(gk_routes_match(t, "200")->n, 3);
	assert_int_equal(gk_routes_match(t, "2009")->n, 1);
	assert_int_equal(gk_routes_new(&empty), 0);
	assert_null(gk_routes_match(empty, "200"));
	gk_routes_free(empty);
	gk_routes_free(t);
}

static void order_by_call_id_skips_down_peers(void **state)
{
	struct gk_routes *t = table();
	const struct gk_route *r = gk_routes_match(t, "200");
	struct gk_peer *a[GK_GROUP_PEERS_MAX], *b[GK_GROUP_PEERS_MAX];
	int starts[3] = { 0 };
	char cid[32];
	(void)state;

	assert_int_equal(gk_routes_order(t, r, str("call-1"), a), 3);
	assert_int_equal(gk_routes_order(t, r, str("call-1"), b), 3);
	assert_memory_equal(a, b, 3 * sizeof(a[0]));	/* stable per call */
	assert_true(a[0] != a[1] && a[1] != a[2] && a[0] != a[2]);
	for (int i = 0; i < 300; i++) {
		snprintf(cid, sizeof(cid), "%d@host", i);
		gk_routes_order(t, r, str(cid), a);
		starts[a[0]->id - 11]++;
	}
	for (int i = 0; i < 3; i++)		/* spread, not all on one */
		assert_true(starts[i] > 50);
	t->peers[2].weight = 4;		/* 4 of 6 calls start there */
	memset(starts, 0, sizeof(starts));
	for (int i = 0; i < 600; i++) {
		snprintf(cid, sizeof(cid), "w%d@host", i);
		gk_routes_order(t, r, str(cid), a);
		starts[a[0]->id - 11]++;
	}
	assert_true(starts[2] > 330 && starts[2] < 470);
	assert_true(starts[0] > 50 && starts[1] > 50);
	t->peers[2].weight = 0;
	t->peers[1].up = 0;
	for (int i = 0; i < 50; i++) {
		snprintf(cid, sizeof(cid), "%d@host", i);
		assert_int_equal(gk_routes_order(t, r, str(cid), a), 2);
		assert_true(a[0]->id != 12 && a[1]->id != 12);
	}
	assert_int_equal(gk_routes_up(t), 3);
	t->peers[0].up = t->peers[2].up = 0;
	assert_int_equal(gk_routes_order(t, r, str("x"), a), 0);
	gk_routes_free(t);
}

static void bad_input_refused(void **state)
{
	struct gk_routes *t;
	(void)state;

	assert_int_equal(gk_routes_new(&t), 0);
	add_peer(t, 1, 1, "peer.example", EINVAL);
	for (int i = 0; i < GK_GROUP_PEERS_MAX; i++)
		add_peer(t, 100 + i, 5, "127.0.4.1", 0);
	add_peer(t, 200, 5, "127.0.4.2", EINVAL);	/* the 17th */
	assert_int_equal(gk_routes_add_route(t, "", 5), EINVAL);
	assert_int_equal(gk_routes_add_route(t, "2x", 5), EINVAL);
	assert_int_equal(gk_routes_add_route(t, "123456789012345678901234567890123",
					     5), EINVAL);
	assert_int_equal(gk_routes_add_route(t, "9", 5), 0);
	assert_int_equal(gk_routes_match(t, "9")->n, GK_GROUP_PEERS_MAX);
	assert_int_equal(gk_routes_add_route(t, "8", 77), 0);	/* no peers */
	assert_int_equal(gk_routes_match(t, "8")->n, 0);
	gk_routes_free(t);
}

static void reload_keeps_state_of_the_same_peer(void **state)
{
	struct gk_routes *old = table(), *t;
	(void)state;

	old->peers[0].up = 0;
	old->peers[0].fails = 3;
	old->peers[1].up = 0;
	assert_int_equal(gk_routes_new(&t), 0);
	add_peer(t, 11, 1, "127.0.2.1", 0);	/* the same */
	add_peer(t, 12, 1, "127.0.2.9", 0);	/* moved: a new peer */
	gk_routes_keep_state(t, old);
	assert_int_equal(t->peers[0].up, 0);
	assert_int_equal(t->peers[0].fails, 3);
	assert_int_equal(t->peers[1].up, 1);
	gk_routes_keep_state(t, NULL);
	gk_routes_free(old);
	gk_routes_free(t);
}

static void peer_by_source_address(void **state)
{
	struct gk_routes *t = table();
	struct sip_peer from;
	(void)state;

	assert_int_equal(sip_peer_set(&from, SIP_PROTO_UDP, str("127.0.2.2"),
				      40000), 0);
	assert_int_equal(gk_routes_peer_at(t, &from)->id, 12);
	assert_int_equal(sip_peer_set(&from, SIP_PROTO_UDP, str("127.0.9.9"),
				      5060), 0);
	assert_null(gk_routes_peer_at(t, &from));
	assert_null(gk_routes_peer_at(NULL, &from));
	gk_routes_free(t);
}

static void sessions_by_call_id(void **state)
{
	struct gk_sessions *s;
	struct sip_peer a, b, got;
	char cid[32];
	(void)state;

	assert_int_equal(gk_sessions_new(10, 100, &s), 0);	/* 64 slots */
	assert_int_equal(sip_peer_set(&a, SIP_PROTO_UDP, str("127.0.2.1"), 5060), 0);
	assert_int_equal(sip_peer_set(&b, SIP_PROTO_TCP, str("127.0.2.2"), 5070), 0);
	assert_int_equal(gk_sessions_get(s, str("c1"), 10, &got), ENOENT);
	gk_sessions_put(s, str("c1"), &a, 10);
	gk_sessions_put(s, str("c2"), &b, 10);
	assert_int_equal(gk_sessions_get(s, str("c1"), 20, &got), 0);
	assert_memory_equal(&got.sa, &a.sa, sizeof(struct sockaddr_in));
	assert_int_equal(gk_sessions_get(s, str("c2"), 20, &got), 0);
	assert_int_equal(got.proto, SIP_PROTO_TCP);
	gk_sessions_put(s, str("c1"), &b, 30);			/* replaced */
	assert_int_equal(gk_sessions_get(s, str("c1"), 30, &got), 0);
	assert_memory_equal(&got.sa, &b.sa, sizeof(struct sockaddr_in));
	assert_int_equal(gk_sessions_count(s, 30), 2);
	gk_sessions_del(s, str("c1"));
	assert_int_equal(gk_sessions_get(s, str("c1"), 30, &got), ENOENT);
	assert_int_equal(gk_sessions_get(s, str("c2"), 110, &got), ENOENT); /* ttl */
	for (int i = 0; i < 1000; i++) {	/* far more calls than slots */
		snprintf(cid, sizeof(cid), "%d@x", i);
		gk_sessions_put(s, str(cid), &a, 200 + (uint64_t)i);
	}
	assert_true(gk_sessions_count(s, 1200) <= 64);
	assert_int_equal(gk_sessions_get(s, str("999@x"), 1200, &got), 0);
	gk_sessions_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(longest_prefix_wins),
		cmocka_unit_test(order_by_call_id_skips_down_peers),
		cmocka_unit_test(bad_input_refused),
		cmocka_unit_test(reload_keeps_state_of_the_same_peer),
		cmocka_unit_test(peer_by_source_address),
		cmocka_unit_test(sessions_by_call_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
