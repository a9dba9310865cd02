/* tests/unit/test_sip_core.c — the forking proxy core with a fake wire: an
 * INVITE forked to three branches, and what goes upstream and to each
 * branch for 401 + 407 + 486 (challenges merged into one 401), a 6xx
 * (forwarded at once, the ringing branch CANCELled without Reason), a 2xx
 * (the others CANCELled with Reason cause=200, a silent branch only once
 * it rings), an upstream CANCEL (200, CANCEL to the ringing branch, 487
 * up), no branch at all (480), and branches that cannot be sent (503 at
 * once, 500 upstream when nothing better came); two branches answering 2xx
 * (every 2xx up in a plain proxy; with cfg.one_answer only the first, the
 * other ACKed and BYEd by the core, the `answer` op editing what goes
 * up) and sip_hangup_write's bad input; giving up on the ringing branches
 * (a ring timeout): CANCELled, a target added after the start rings next,
 * or the given status goes up at once. With two local addresses (a
 * public one that hides the topology and a private one): double
 * Record-Route when a request crosses sides, a hidden request carrying our
 * Via and Record-Route alone and its answer getting them back, both of
 * our Routes removed from an in-dialog request, the ACK of a 2xx hidden
 * too; ops->branch_out's edits undone after each branch. */
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
#include "sip/hangup.h"

#define MAXSENT 64

struct sent {
	unsigned port, local;
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
	sent[nsent].local = to->local;
	memcpy(sent[nsent].text, buf, len);
	sent[nsent].text[len] = '\0';
	sent[nsent++].len = len;
	return 0;
}

static struct sip_fork *last_fork;

static void on_request(void *arg, struct sip_fork *f, const struct sip_msg *m,
		       const struct sip_peer *from)
{
	(void)arg;
	last_fork = f;
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

/* 2xx ACKs go to branch 0's port; held (copied) when hold_on. */
static int on_route(void *arg, struct sip_msg *m, const struct sip_peer *from,
		    struct sip_peer *to)
{
	(void)arg;
	(void)from;
	*to = uas[0];
	if (!hold_on)
		return 0;
	assert_int_equal(sip_msg_dup(m, &held_ack), 0);
	return SIP_CORE_HOLD;
}

static const struct sip_core_ops ops = { .send = fake_send,
					 .request = on_request,
					 .response = on_response,
					 .route = on_route };

static int answers_seen;

/* The TU names the answering branch in the 2xx that goes up. */
static void on_answer(void *arg, struct sip_fork *f, unsigned branch,
		      struct sip_msg *resp)
{
	char v[64];
	(void)arg;

	assert_non_null(sip_fork_branch_peer(f, branch));
	assert_null(sip_fork_branch_peer(f, 99));
	snprintf(v, sizeof(v), "<sip:branch%u@127.0.0.1>", branch);
	assert_int_equal(sip_msg_hdr_add(resp, SIP_HDR_P_ASSERTED_IDENTITY, v),
			 0);
	answers_seen++;
}

static const struct sip_core_ops ops_answer = { .send = fake_send,
	.request = on_request, .answer = on_answer };

/* A core on the fake wire; one_answer and the answer op when `one`. */
static int setup_core(int one)
{
	struct sip_core_cfg cfg = { .host = "127.0.0.1", .port = 5060,
				    .record_route = 1, .one_answer = one,
				    .tsx = { .auto_100 = 1 } };

	nsent = 0;
	nbranches = one ? 2 : 3;
	hold_on = 0;
	held = NULL;
	refuse_port = 0;
	answers_seen = 0;
	assert_int_equal(ev_loop_new(&loop), 0);
	ev_set_clock(loop, clock_fn, NULL);
	assert_int_equal(sip_core_new(loop, &cfg, one ? &ops_answer : &ops,
				      NULL, &core), 0);
	sip_peer_set(&uac, SIP_PROTO_UDP, SIP_STR("127.0.0.1"), 5070);
	for (int i = 0; i < 3; i++)
		sip_peer_set(&uas[i], SIP_PROTO_UDP, SIP_STR("127.0.0.1"),
			     (unsigned)(6000 + i));
	return 0;
}

static int setup(void **st)
{
	(void)st;
	return setup_core(0);
}

static int setup_one(void **st)
{
	(void)st;
	return setup_core(1);
}

/* The same with two locals: 0 public (127.0.0.1, hiding), 1 private
 * (10.0.0.1); the caller on the private side, the branches public. */
static int setup_sides(void **st)
{
	static const struct sip_core_local loc[2] = {
		{ .host = "127.0.0.1", .port = 5060, .hide = 1 },
		{ .host = "10.0.0.1", .port = 5060 },
	};
	struct sip_core_cfg cfg = { .host = "127.0.0.1", .port = 5060,
				    .record_route = 1, .locals = loc,
				    .nlocals = 2, .tsx = { .auto_100 = 1 } };

	setup(st);
	sip_core_free(core);
	assert_int_equal(sip_core_new(loop, &cfg, &ops, NULL, &core), 0);
	uac.local = 1;
	return 0;
}

/* ops->branch_out rewrites the Call-ID of every branch's request. */
static unsigned branch_outs;

static int mask_callid(void *arg, struct sip_fork *f, struct sip_msg *m,
		       const struct sip_peer *to)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_CALL_ID, 0);
	(void)arg;
	(void)f;
	(void)to;
	branch_outs++;
	return sip_msg_hdr_set(m, (unsigned)i, "masked", 6);
}

static const struct sip_core_ops ops_tu = { .send = fake_send,
	.request = on_request, .branch_out = mask_callid };

static int setup_tu(void **st)
{
	struct sip_core_cfg cfg = { .host = "127.0.0.1", .port = 5060,
				    .record_route = 1,
				    .tsx = { .auto_100 = 1 } };

	setup(st);
	sip_core_free(core);
	branch_outs = 0;
	assert_int_equal(sip_core_new(loop, &cfg, &ops_tu, NULL, &core), 0);
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

static const char invite_rr[] =
	"INVITE sip:100@127.0.0.1:6000 SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bKuac2\r\n"
	"Record-Route: <sip:10.0.0.5;lr>\r\n"
	"From: <sip:a@dpn>;tag=fa\r\nTo: <sip:100@127.0.0.1>\r\n"
	"Call-ID: core2\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
	"Content-Length: 0\r\n\r\n";

static void t_hidden_branch_and_its_answer(void **st)
{
	const char *t, *up;
	(void)st;

	nbranches = 1;
	feed(invite_rr, sizeof(invite_rr) - 1, &uac);
	t = sent[branch_invite(0)].text;
	assert_int_equal(sent[branch_invite(0)].local, 0);
	assert_null(strstr(t, "10.0.0."));	/* no private address */
	assert_non_null(strstr(t, "\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;"));
	assert_non_null(strstr(t, "Record-Route: <sip:127.0.0.1:5060;lr>"));
	assert_null(strstr(strstr(t, "Via:") + 4, "Via:"));
	branch_says(0, 200, "Record-Route: <sip:127.0.0.1:5060;lr>\r\n");
	up = last_to(5070, "SIP/2.0 200 ");
	assert_non_null(up);
	assert_int_equal(sent[nsent - 1].local, 1);
	assert_non_null(strstr(up, "\r\nVia: SIP/2.0/UDP 10.0.0.9:5070;"
			       "branch=z9hG4bKuac2"));
	assert_null(strstr(up, "Via: SIP/2.0/UDP 127.0.0.1"));
	assert_non_null(strstr(up, "Record-Route: <sip:127.0.0.1:5060;lr>\r\n"
			       "Record-Route: <sip:10.0.0.1:5060;lr>\r\n"
			       "Record-Route: <sip:10.0.0.5;lr>\r\n"));
}

/* From the public side to the private one: nothing hidden, two
 * Record-Routes (the private one on top). */
static void t_double_record_route(void **st)
{
	static const char inv[] =
		"INVITE sip:100@127.0.0.1:5060 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKuac3\r\n"
		"From: <sip:a@127.0.0.1>;tag=fa\r\nTo: <sip:100@127.0.0.1>\r\n"
		"Call-ID: core3\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
		"Content-Length: 0\r\n\r\n";
	const char *t;
	(void)st;

	nbranches = 1;
	uac.local = 0;
	uas[0].local = 1;
	feed(inv, sizeof(inv) - 1, &uac);
	t = sent[branch_invite(0)].text;
	assert_non_null(strstr(t, "\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;"));
	assert_non_null(strstr(t, "Record-Route: <sip:10.0.0.1:5060;lr>\r\n"
			       "Record-Route: <sip:127.0.0.1:5060;lr>\r\n"));
	assert_non_null(strstr(t, "Via: SIP/2.0/UDP 127.0.0.1:5070;"));
}

/* An in-dialog request with both our Routes and another: ours go; a 2xx
 * ACK leaving by the hiding side keeps only our Via. */
static void t_both_routes_removed_and_ack_hidden(void **st)
{
	static const char bye[] =
		"BYE sip:b@127.0.0.1:6000 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bKbye4\r\n"
		"Route: <sip:10.0.0.1:5060;lr>, <sip:127.0.0.1:5060;lr>\r\n"
		"Route: <sip:192.0.2.1;lr>\r\n"
		"From: <sip:a@dpn>;tag=fa\r\nTo: <sip:b@x>;tag=tb\r\n"
		"Call-ID: core4\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\n"
		"Content-Length: 0\r\n\r\n";
	static const char ack[] =
		"ACK sip:b@127.0.0.1:6000 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bKack4\r\n"
		"Route: <sip:10.0.0.1:5060;lr>, <sip:127.0.0.1:5060;lr>\r\n"
		"From: <sip:a@dpn>;tag=fa\r\nTo: <sip:b@x>;tag=tb\r\n"
		"Call-ID: core4\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\n"
		"Content-Length: 0\r\n\r\n";
	const char *t;
	(void)st;

	nbranches = 1;
	feed(bye, sizeof(bye) - 1, &uac);
	t = last_to(6000, "BYE ");
	assert_non_null(t);
	assert_null(strstr(t, "10.0.0."));
	assert_non_null(strstr(t, "\r\nRoute: <sip:192.0.2.1;lr>\r\n"));
	feed(ack, sizeof(ack) - 1, &uac);
	t = last_to(6000, "ACK ");
	assert_non_null(t);
	assert_null(strstr(t, "10.0.0."));
	assert_non_null(strstr(t, "\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;"));
}

/* The TU's edits reach the branch only: the core's own answer upstream
 * is made from the request as it came. */
static void t_branch_out_edits_undone(void **st)
{
	const char *up;
	(void)st;

	nbranches = 2;
	refuse_port = 6001;
	feed(invite, sizeof(invite) - 1, &uac);
	assert_int_equal(branch_outs, 2);
	assert_non_null(strstr(sent[branch_invite(0)].text,
			       "\r\nCall-ID: masked\r\n"));
	branch_says(0, 503, NULL);
	up = last_to(5070, "SIP/2.0 500 ");
	assert_non_null(up);
	assert_non_null(strstr(up, "\r\nCall-ID: core1@127.0.0.1\r\n"));
}

/* Ring timeout with a forward target: the ringing branch is CANCELled, the
 * silent one once it rings, and the target added after the start rings
 * at once; its answer goes up. The third branch grows the branch array
 * while two transactions point into it (ASan sees it if they stay). */
static void t_give_up_then_next_target(void **st)
{
	static const char fwd[] = "sip:fwd@127.0.0.1";
	(void)st;
	nbranches = 2;
	start_call();
	branch_says(0, 180, NULL);
	assert_int_equal(sip_fork_add(last_fork, fwd, sizeof(fwd) - 1, &uas[2], 1000), 0);
	assert_null(last_to(6002, "INVITE "));		/* waits */
	assert_int_equal(sip_fork_cancel_branches(last_fork, 408), 0);
	assert_non_null(last_to(6000, "CANCEL "));
	assert_null(last_to(6001, "CANCEL "));		/* no 1xx yet (9.1) */
	assert_non_null(last_to(6002, "INVITE sip:fwd@127.0.0.1 "));
	assert_null(last_to(5070, "SIP/2.0 4"));
	branch_says(1, 180, NULL);
	assert_non_null(last_to(6001, "CANCEL "));
	branch_says(2, 200, NULL);
	assert_non_null(last_to(5070, "SIP/2.0 200 "));
	assert_null(last_to(5070, "SIP/2.0 4"));
}

/* A handset given up on answers after all, while the target rings: its
 * 2xx goes up and the target is CANCELled with Reason. */
static void t_late_answer_after_give_up(void **st)
{
	static const char fwd[] = "sip:fwd@127.0.0.1";
	const char *c;
	(void)st;
	nbranches = 2;
	start_call();
	branch_says(0, 180, NULL);
	branch_says(1, 180, NULL);
	assert_int_equal(sip_fork_add(last_fork, fwd, sizeof(fwd) - 1, &uas[2], 1000), 0);
	assert_int_equal(sip_fork_cancel_branches(last_fork, 408), 0);
	branch_says(2, 180, NULL);
	branch_says(0, 200, NULL);
	assert_non_null(last_to(5070, "SIP/2.0 200 "));
	c = last_to(6002, "CANCEL ");
	assert_non_null(c);
	assert_non_null(strstr(c, "cause=200"));
}

/* Ring timeout alone: the status goes up at once, not the 487s. */
static void t_give_up_answers_status(void **st)
{
	(void)st;
	nbranches = 2;
	start_call();
	branch_says(0, 180, NULL);
	branch_says(1, 180, NULL);
	assert_int_equal(sip_fork_cancel_branches(last_fork, 408), 0);
	assert_non_null(last_to(5070, "SIP/2.0 408 "));
	assert_non_null(last_to(6000, "CANCEL "));
	assert_non_null(last_to(6001, "CANCEL "));
	branch_says(0, 487, NULL);
	assert_null(last_to(5070, "SIP/2.0 487 "));
	assert_int_equal(sip_fork_cancel_branches(last_fork, 408), EINVAL);
	assert_int_equal(sip_fork_add(last_fork, NULL, 0, &uas[2], 1000), EINVAL);
}

/* ---- two answers (cfg.one_answer, lib/sip/hangup.c) ---- */

#define CONTACT(i) "Contact: <sip:h" #i "@127.0.0.1:600" #i ">\r\n"

static unsigned count_to(unsigned port, const char *start)
{
	unsigned k = 0;

	for (unsigned i = 0; i < nsent; i++)
		if (sent[i].port == port &&
		    strncmp(sent[i].text, start, strlen(start)) == 0)
			k++;
	return k;
}

/* Both branches ring, then both answer at the same moment. */
static void both_answer(const char *second_contact)
{
	feed(invite, sizeof(invite) - 1, &uac);
	branch_says(0, 180, NULL);
	branch_says(1, 180, NULL);
	branch_says(0, 200, CONTACT(0));
	branch_says(1, 200, second_contact);
}

/* Branch i answers the BYE the core sent it with 200. */
static void answer_bye(unsigned i)
{
	const char *bye = last_to(6000 + i, "BYE ");
	struct sip_msg m;
	struct sip_perr e;
	char out[4096];
	size_t n;

	assert_non_null(bye);
	assert_int_equal(sip_msg_parse(&m, bye, strlen(bye), 0, &e), 0);
	assert_int_equal(sip_response_write(&m, 200, NULL, NULL, NULL,
		(struct sip_str){ 0 }, out, sizeof(out), &n), 0);
	feed(out, n, &uas[i]);
}

static void t_second_answer_gets_ack_and_bye(void **st)
{
	const char *ack, *bye, *up;
	(void)st;

	both_answer(CONTACT(1));
	assert_int_equal(count_to(5070, "SIP/2.0 200 "), 1);
	up = last_to(5070, "SIP/2.0 200 ");
	assert_non_null(strstr(up, "To: <sip:100@127.0.0.1>;tag=b0\r\n"));
	assert_non_null(strstr(up, "P-Asserted-Identity: <sip:branch0@"));
	assert_int_equal(answers_seen, 1);
	ack = last_to(6001, "ACK sip:h1@127.0.0.1:6001 SIP/2.0\r\n");
	bye = last_to(6001, "BYE sip:h1@127.0.0.1:6001 SIP/2.0\r\n");
	assert_non_null(ack);
	assert_non_null(bye);
	assert_true(ack < bye);
	assert_non_null(strstr(ack, "To: <sip:100@127.0.0.1>;tag=b1\r\n"));
	assert_non_null(strstr(ack, "CSeq: 1 ACK\r\n"));
	assert_non_null(strstr(ack, "Call-ID: core1@127.0.0.1\r\n"));
	assert_non_null(strstr(bye, "CSeq: 2 BYE\r\n"));
	assert_non_null(strstr(bye, "From: <sip:a@127.0.0.1>;tag=fa\r\n"));
	assert_non_null(strstr(bye, "Reason: SIP;cause=200;"));
	assert_non_null(strstr(bye, "Via: SIP/2.0/UDP 127.0.0.1:5060;branch="
			       "z9hG4bK"));
	assert_int_equal(sip_core_stats(core)->answers_ended, 1);

	/* The loser retransmits its 2xx: ACKed again, no second BYE, nothing
	 * upstream; the winner's retransmission still goes up. */
	branch_says(1, 200, CONTACT(1));
	assert_int_equal(count_to(6001, "ACK "), 2);
	assert_int_equal(count_to(6001, "BYE "), 1);
	assert_int_equal(count_to(5070, "SIP/2.0 200 "), 1);
	branch_says(0, 200, CONTACT(0));
	assert_int_equal(count_to(5070, "SIP/2.0 200 "), 2);
	assert_int_equal(count_to(6000, "BYE "), 0);

	/* The BYE answered: no retransmission of it. */
	answer_bye(1);
	for (int k = 0; k < 40; k++) {
		now += 100;
		ev_run_timers(loop);
	}
	assert_int_equal(count_to(6001, "BYE "), 1);
}

/* A plain proxy (the gatekeeper) forwards every 2xx (16.7 step 5). */
static void t_plain_proxy_forwards_every_2xx(void **st)
{
	(void)st;
	both_answer(CONTACT(1));
	assert_int_equal(count_to(5070, "SIP/2.0 200 "), 2);
	assert_int_equal(count_to(6001, "BYE "), 0);
	assert_int_equal(sip_core_stats(core)->answers_ended, 0);
}

/* A second answer whose Contact does not parse: not up, no BYE to a
 * made-up target, no crash. */
static void t_malformed_second_answer(void **st)
{
	(void)st;
	both_answer("Contact: <sip:@@>;;\r\n");
	assert_int_equal(count_to(5070, "SIP/2.0 200 "), 1);
	assert_int_equal(count_to(6001, "BYE "), 0);
	assert_int_equal(sip_core_stats(core)->answers_ended, 0);
}

/* one_answer and a forked request other than INVITE: the second 2xx is
 * dropped, with no ACK or BYE (those belong to INVITE dialogs). */
static void t_second_answer_not_invite(void **st)
{
	static const char opt[] =
		"OPTIONS sip:100@127.0.0.1:5060 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKopt1\r\n"
		"From: <sip:a@127.0.0.1>;tag=fa\r\nTo: <sip:100@127.0.0.1>\r\n"
		"Call-ID: opt1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n"
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
	(void)st;

	feed(opt, sizeof(opt) - 1, &uac);
	for (unsigned i = 0; i < 2; i++) {
		const char *req = last_to(6000 + i, "OPTIONS ");
		struct sip_msg m;
		struct sip_perr e;
		char out[4096];
		size_t n;

		assert_non_null(req);
		assert_int_equal(sip_msg_parse(&m, req, strlen(req), 0, &e), 0);
		assert_int_equal(sip_response_write(&m, 200, NULL, "o", NULL,
			(struct sip_str){ 0 }, out, sizeof(out), &n), 0);
		sip_msg_release(&m);
		feed(out, n, &uas[i]);
	}
	assert_int_equal(count_to(5070, "SIP/2.0 200 "), 1);
	assert_int_equal(count_to(6001, "ACK "), 0);
	assert_int_equal(count_to(6001, "BYE "), 0);
}

static void t_hangup_write_bad_input(void **st)
{
	static const char resp[] =
		"SIP/2.0 %d X\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx\r\n"
		"From: <sip:a@127.0.0.1>;tag=fa\r\nTo: <sip:100@127.0.0.1>;tag=t\r\n"
		"Call-ID: core1@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
		"Content-Length: 0\r\n\r\n";
	static const char via[] = "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKq";
	struct sip_msg inv, r2, r4;
	struct sip_perr e;
	char ok[512], busy[512], out[2048], tiny[40];
	size_t n;
	(void)st;

	snprintf(ok, sizeof(ok), resp, 200);
	snprintf(busy, sizeof(busy), resp, 486);
	assert_int_equal(sip_msg_parse(&inv, invite, sizeof(invite) - 1, 0, &e), 0);
	assert_int_equal(sip_msg_parse(&r2, ok, strlen(ok), 0, &e), 0);
	assert_int_equal(sip_msg_parse(&r4, busy, strlen(busy), 0, &e), 0);
	assert_int_equal(sip_hangup_write(&inv, &r4, SIP_BYE, via, NULL, out,
					  sizeof(out), &n), EINVAL);
	assert_int_equal(sip_hangup_write(&inv, &r2, SIP_INVITE, via, NULL,
					  out, sizeof(out), &n), EINVAL);
	assert_int_equal(sip_hangup_write(&inv, &r2, SIP_BYE, NULL, NULL, out,
					  sizeof(out), &n), EINVAL);
	assert_int_equal(sip_hangup_write(&inv, &r2, SIP_BYE, via, NULL, tiny,
					  sizeof(tiny), &n), ENOSPC);
	/* No Contact: the INVITE's Request-URI is the target. */
	assert_int_equal(sip_hangup_write(&inv, &r2, SIP_BYE, via, NULL, out,
					  sizeof(out), &n), 0);
	out[n] = '\0';
	assert_non_null(strstr(out, "BYE sip:100@127.0.0.1:5060 SIP/2.0\r\n"));
	sip_msg_release(&inv);
	sip_msg_release(&r2);
	sip_msg_release(&r4);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define T2(f) cmocka_unit_test_setup_teardown(f, setup_sides, teardown)
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(t_challenges_merged), T(t_6xx_ends_the_fork),
		T(t_2xx_cancels_the_others_with_reason), T(t_upstream_cancel),
		T(t_no_branch_480), T(t_send_failure_counts_at_once),
		T(t_send_failure_alone_is_500),
		T(t_held_2xx_released_edited), T(t_held_2xx_dropped),
		T(t_dropped_2xx), T(t_held_ack_forwarded),
		T2(t_hidden_branch_and_its_answer), T2(t_double_record_route),
		T2(t_both_routes_removed_and_ack_hidden),
		cmocka_unit_test_setup_teardown(t_branch_out_edits_undone,
						setup_tu, teardown),
		cmocka_unit_test_setup_teardown(t_second_answer_gets_ack_and_bye,
						setup_one, teardown),
		T(t_plain_proxy_forwards_every_2xx),
		cmocka_unit_test_setup_teardown(t_malformed_second_answer,
						setup_one, teardown),
		cmocka_unit_test_setup_teardown(t_second_answer_not_invite,
						setup_one, teardown),
		cmocka_unit_test(t_hangup_write_bad_input),
		T(t_give_up_then_next_target), T(t_give_up_answers_status),
		T(t_late_answer_after_give_up),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
