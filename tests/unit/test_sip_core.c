/* tests/unit/test_sip_core.c — the forking proxy core with a fake wire: an
 * INVITE forked to three branches, and what goes upstream and to each
 * branch for 401 + 407 + 486 (challenges merged into one 401), a 6xx
 * (forwarded at once, the ringing branch CANCELled without Reason), a 2xx
 * (the others CANCELled with Reason cause=200, a silent branch only once
 * it rings), an upstream CANCEL (200, CANCEL to the ringing branch, 487
 * up), no branch at all (480), and branches that cannot be sent (503 at
 * once, 500 upstream when nothing better came). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "event/event.h"
#include "sip/build.h"
#include "sip/core.h"

#define MAXSENT 64

struct sent {
	unsigned port;
	char text[4096];
	size_t len;
};

static struct sent sent[MAXSENT];
static unsigned nsent, nbranches = 3;
static uint64_t now;
static struct ev_loop *loop;
static struct sip_core *core;
static struct sip_peer uac, uas[3];

static uint64_t clock_fn(void *a) { (void)a; return now; }

static unsigned refuse_port;	/* sends there fail (0: none) */

static int fake_send(void *arg, const struct sip_peer *to, const char *buf,
		     size_t len)
{
	(void)arg;
	if (refuse_port &&
	    ntohs(((const struct sockaddr_in *)&to->sa)->sin_port) ==
	    refuse_port)
		return ECONNREFUSED;
	assert_true(nsent < MAXSENT && len < sizeof(sent[0].text));
	sent[nsent].port = ntohs(((const struct sockaddr_in *)&to->sa)->
				 sin_port);
	memcpy(sent[nsent].text, buf, len);
	sent[nsent].text[len] = '\0';
	sent[nsent++].len = len;
	return 0;
}

static void on_request(void *arg, struct sip_fork *f, const struct sip_msg *m,
		       const struct sip_peer *from)
{
	(void)arg;
	(void)m;
	(void)from;
	for (unsigned i = 0; i < nbranches; i++)
		assert_int_equal(sip_fork_add(f, NULL, 0, &uas[i], 1000), 0);
	assert_int_equal(sip_fork_start(f, 0), 0);
}

static int hold_on;			/* ops->response holds 2xx */
static struct sip_fork *held_fork;
static struct sip_msg *held;

static int on_response(void *arg, struct sip_fork *f, unsigned branch,
		       struct sip_msg *m)
{
	(void)arg;
	(void)branch;
	if (!hold_on || m->status < 200)
		return 0;
	if (hold_on == 2)
		return SIP_CORE_DROP;
	assert_null(held);
	assert_int_equal(sip_msg_dup(m, &held), 0);
	held_fork = f;
	return SIP_CORE_HOLD;
}

static struct sip_msg *held_ack;

/* 2xx ACKs go to branch 1's port; held (copied) when hold_on. */
static int on_route(void *arg, const struct sip_msg *m, struct sip_peer *to)
{
	(void)arg;
	*to = uas[1];
	if (!hold_on)
		return 0;
	assert_int_equal(sip_msg_dup(m, &held_ack), 0);
	return SIP_CORE_HOLD;
}

static const struct sip_core_ops ops = { .send = fake_send,
					 .request = on_request,
					 .response = on_response,
					 .route = on_route };

static int setup(void **st)
{
	struct sip_core_cfg cfg = { .host = "127.0.0.1", .port = 5060,
				    .record_route = 1,
				    .tsx = { .auto_100 = 1 } };
	(void)st;
	nsent = 0;
	nbranches = 3;
	hold_on = 0;
	held = NULL;
	refuse_port = 0;
	assert_int_equal(ev_loop_new(&loop), 0);
	ev_set_clock(loop, clock_fn, NULL);
	assert_int_equal(sip_core_new(loop, &cfg, &ops, NULL, &core), 0);
	sip_peer_set(&uac, SIP_PROTO_UDP, SIP_STR("127.0.0.1"), 5070);
	for (int i = 0; i < 3; i++)
		sip_peer_set(&uas[i], SIP_PROTO_UDP, SIP_STR("127.0.0.1"),
			     (unsigned)(6000 + i));
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	sip_core_free(core);
	ev_loop_free(loop);
	return 0;
}

static void feed(const char *text, size_t len, const struct sip_peer *from)
{
	struct sip_msg m;
	struct sip_perr e;

	assert_int_equal(sip_msg_parse(&m, text, len, 0, &e), 0);
	sip_core_recv(core, &m, from);
	sip_msg_release(&m);
}

static const char invite[] =
	"INVITE sip:100@127.0.0.1:5060 SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKuac1\r\n"
	"From: <sip:a@127.0.0.1>;tag=fa\r\nTo: <sip:100@127.0.0.1>\r\n"
	"Call-ID: core1@127.0.0.1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
	"Content-Length: 0\r\n\r\n";

/* The INVITE sent to branch i (its index in sent[]). */
static unsigned branch_invite(unsigned i)
{
	for (unsigned k = 0; k < nsent; k++)
		if (sent[k].port == 6000 + i &&
		    strncmp(sent[k].text, "INVITE ", 7) == 0)
			return k;
	fail_msg("no INVITE to branch %u", i);
	return 0;
}

/* Branch i answers its INVITE with status (+ extra header lines). */
static void branch_says(unsigned i, int status, const char *extra)
{
	const struct sent *s = &sent[branch_invite(i)];
	struct sip_msg m;
	struct sip_perr e;
	char out[4096], tag[8];
	size_t n;

	snprintf(tag, sizeof(tag), "b%u", i);
	assert_int_equal(sip_msg_parse(&m, s->text, s->len, 0, &e), 0);
	assert_int_equal(sip_response_write(&m, status, NULL,
		status > 100 ? tag : NULL, extra, (struct sip_str){ 0 }, out,
		sizeof(out), &n), 0);
	feed(out, n, &uas[i]);
}

/* The last message sent to port starting with `start`, or NULL. */
static const char *last_to(unsigned port, const char *start)
{
	for (unsigned k = nsent; k-- > 0;)
		if (sent[k].port == port &&
		    strncmp(sent[k].text, start, strlen(start)) == 0)
			return sent[k].text;
	return NULL;
}

static void start_call(void)
{
	feed(invite, sizeof(invite) - 1, &uac);
	assert_non_null(last_to(5070, "SIP/2.0 100 "));
	for (unsigned i = 0; i < nbranches; i++) {
		const char *t = sent[branch_invite(i)].text;
		assert_non_null(strstr(t, "Record-Route: <sip:127.0.0.1:5060;lr>"));
		assert_non_null(strstr(t, "Max-Forwards: 69\r\n"));
	}
}

static void t_challenges_merged(void **st)
{
	const char *up;
	(void)st;

	start_call();
	branch_says(0, 401, "WWW-Authenticate: Digest realm=\"a\", "
		    "nonce=\"1\"\r\n");
	branch_says(1, 407, "Proxy-Authenticate: Digest realm=\"b\", "
		    "nonce=\"2\"\r\n");
	assert_null(last_to(5070, "SIP/2.0 4"));	/* not before the last */
	branch_says(2, 486, NULL);
	up = last_to(5070, "SIP/2.0 401 ");
	assert_non_null(up);
	assert_non_null(strstr(up, "WWW-Authenticate: Digest realm=\"a\""));
	assert_non_null(strstr(up, "Proxy-Authenticate: Digest realm=\"b\""));
	assert_non_null(strstr(up, "\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;"));
	assert_null(strstr(strstr(up, "Via:") + 4, "Via:"));	/* ours gone */
	assert_non_null(last_to(6000, "ACK "));	/* hop-by-hop ACKs */
	assert_non_null(last_to(6002, "ACK "));
}

static void t_6xx_ends_the_fork(void **st)
{
	const char *c;
	(void)st;

	start_call();
	branch_says(0, 180, NULL);
	assert_non_null(last_to(5070, "SIP/2.0 180 "));
	branch_says(1, 603, NULL);
	assert_non_null(last_to(5070, "SIP/2.0 603 "));
	c = last_to(6000, "CANCEL ");
	assert_non_null(c);
	assert_null(strstr(c, "Reason:"));
	assert_null(last_to(6002, "CANCEL "));	/* no 1xx: not yet (9.1) */
}

static void t_2xx_cancels_the_others_with_reason(void **st)
{
	const char *c;
	(void)st;

	start_call();
	branch_says(0, 180, NULL);
	branch_says(1, 200, NULL);
	assert_non_null(last_to(5070, "SIP/2.0 200 "));
	c = last_to(6000, "CANCEL ");
	assert_non_null(c);
	assert_non_null(strstr(c, "\r\nReason: SIP;cause=200;text=\"Call "
			       "completed elsewhere\"\r\n"));
	assert_null(last_to(6002, "CANCEL "));
	branch_says(2, 180, NULL);		/* rings late: cancelled now */
	c = last_to(6002, "CANCEL ");
	assert_non_null(c);
	assert_non_null(strstr(c, "cause=200"));
	assert_int_equal(sip_core_stats(core)->cancels, 2);
}

static void t_upstream_cancel(void **st)
{
	static const char cancel[] =
		"CANCEL sip:100@127.0.0.1:5060 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKuac1\r\n"
		"From: <sip:a@127.0.0.1>;tag=fa\r\nTo: <sip:100@127.0.0.1>\r\n"
		"Call-ID: core1@127.0.0.1\r\nCSeq: 1 CANCEL\r\n"
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
	(void)st;

	start_call();
	branch_says(0, 180, NULL);
	feed(cancel, sizeof(cancel) - 1, &uac);
	assert_non_null(last_to(5070, "SIP/2.0 200 "));
	assert_non_null(last_to(6000, "CANCEL "));
	assert_null(last_to(6001, "CANCEL "));
	assert_null(last_to(5070, "SIP/2.0 487 "));	/* branch 0 rings */
	branch_says(0, 487, NULL);
	assert_non_null(last_to(5070, "SIP/2.0 487 "));
}

static void t_no_branch_480(void **st)
{
	(void)st;
	nbranches = 0;
	feed(invite, sizeof(invite) - 1, &uac);
	assert_non_null(last_to(5070, "SIP/2.0 480 "));
}

/* A branch that cannot be sent counts as 503 at once (no 32 s wait): with
 * the other two busy, 486 goes up as soon as they answered; alone, it is
 * a 500 (16.7: a 503 is not forwarded as such). */
static void t_send_failure_counts_at_once(void **st)
{
	(void)st;
	refuse_port = 6001;
	feed(invite, sizeof(invite) - 1, &uac);
	assert_int_equal(sip_core_stats(core)->send_failed, 1);
	branch_says(0, 486, NULL);
	assert_null(last_to(5070, "SIP/2.0 4"));
	branch_says(2, 486, NULL);
	assert_non_null(last_to(5070, "SIP/2.0 486 "));
}

static void t_send_failure_alone_is_500(void **st)
{
	(void)st;
	refuse_port = 6000;
	nbranches = 1;
	feed(invite, sizeof(invite) - 1, &uac);
	assert_non_null(last_to(5070, "SIP/2.0 500 "));
}

/* A 2xx the TU holds (ops->response): nothing goes up, not even the best
 * final of the other branches, until it is released edited. */
static void t_held_2xx_released_edited(void **st)
{
	(void)st;
	hold_on = 1;
	start_call();
	branch_says(0, 180, NULL);
	branch_says(1, 200, NULL);
	assert_null(last_to(5070, "SIP/2.0 200 "));
	assert_non_null(last_to(6000, "CANCEL "));	/* others cancelled */
	branch_says(0, 487, NULL);
	branch_says(2, 486, NULL);
	assert_null(last_to(5070, "SIP/2.0 4"));
	assert_int_equal(sip_msg_hdr_add(held, SIP_HDR_SUBJECT, "edited"), 0);
	sip_fork_release(held_fork, 200, held);
	assert_non_null(last_to(5070, "SIP/2.0 200 "));
	assert_non_null(strstr(last_to(5070, "SIP/2.0 200 "), "edited"));
	assert_null(last_to(5070, "SIP/2.0 4"));
	sip_msg_free(held);
}

/* A held 2xx dropped by the TU: the best other final goes up. */
static void t_held_2xx_dropped(void **st)
{
	(void)st;
	hold_on = 1;
	nbranches = 2;
	start_call();
	branch_says(0, 200, NULL);
	branch_says(1, 486, NULL);
	assert_null(last_to(5070, "SIP/2.0 2"));
	assert_null(last_to(5070, "SIP/2.0 4"));
	sip_fork_reply(held_fork, 503, "No media relay", NULL);
	sip_fork_release(held_fork, 200, NULL);
	assert_non_null(last_to(5070, "SIP/2.0 503 "));
	assert_null(last_to(5070, "SIP/2.0 200 "));
	sip_msg_free(held);
}

/* A 2xx the TU drops: never upstream, the others still CANCELled. */
static void t_dropped_2xx(void **st)
{
	(void)st;
	hold_on = 2;
	start_call();
	branch_says(0, 180, NULL);
	branch_says(1, 200, NULL);
	assert_null(last_to(5070, "SIP/2.0 200 "));
	assert_non_null(last_to(6000, "CANCEL "));
}

/* A 2xx ACK the TU holds goes out later, edited, with the core's Via. */
static void t_held_ack_forwarded(void **st)
{
	static const char ack[] =
		"ACK sip:100@127.0.0.1:6001 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKack1\r\n"
		"From: <sip:a@127.0.0.1>;tag=fa\r\nTo: <sip:100@127.0.0.1>;tag=b1\r\n"
		"Call-ID: core1@127.0.0.1\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\n"
		"Content-Length: 0\r\n\r\n";
	const char *out;
	(void)st;

	hold_on = 1;
	feed(ack, sizeof(ack) - 1, &uac);
	assert_null(last_to(6001, "ACK "));
	assert_non_null(held_ack);
	assert_int_equal(sip_msg_set_body(held_ack, "v=0\r\n", 5), 0);
	assert_int_equal(sip_core_ack_forward(core, held_ack, &uas[1]), 0);
	out = last_to(6001, "ACK ");
	assert_non_null(out);
	assert_non_null(strstr(out, "\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK"));
	assert_non_null(strstr(out, "Max-Forwards: 69\r\n"));
	assert_non_null(strstr(out, "\r\n\r\nv=0\r\n"));
	sip_msg_free(held_ack);
	held_ack = NULL;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(t_challenges_merged), T(t_6xx_ends_the_fork),
		T(t_2xx_cancels_the_others_with_reason), T(t_upstream_cancel),
		T(t_no_branch_480), T(t_send_failure_counts_at_once),
		T(t_send_failure_alone_is_500),
		T(t_held_2xx_released_edited), T(t_held_2xx_dropped),
		T(t_dropped_2xx), T(t_held_ack_forwarded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
