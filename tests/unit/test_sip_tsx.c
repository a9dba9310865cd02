/* tests/unit/test_sip_tsx.c — RFC 3261 section 17 transactions under a fake
 * clock: exact retransmission times and counts of timers A, E, G, the
 * timeouts B, F, H, the waits D, I, J, K, no retransmission over TCP, ACK
 * for non-2xx, 100 Trying, CANCEL matching, CANCEL sent from a client
 * INVITE (no parse: the same text as from the parsed INVITE), RFC 2543 matching, stray
 * messages, and the transaction limit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <cmocka.h>

#include "event/event.h"
#include "sip/tsx.h"
#include "sip/build.h"
#include "sip/hdr.h"
#include "sip/proxy.h"
#include "sip_testutil.h"

static uint64_t now;
static uint64_t clock_fn(void *a) { (void)a; return now; }

struct sent { uint64_t at; char line[64]; };
static struct sent sent[64];
static char last_text[2048];	/* the last message sent, whole */
static size_t last_len;
static unsigned nsent, nresp, nstray, nreq;
static int ended, end_why;
static uint64_t ended_at;
static struct sip_tsx *last_server;
static int last_status;

static int op_send(void *arg, const struct sip_peer *to, const char *buf,
		   size_t len)
{
	const char *nl = memchr(buf, '\r', len);
	(void)arg;
	(void)to;
	if (nsent < 64) {
		sent[nsent].at = now;
		snprintf(sent[nsent].line, sizeof(sent[0].line), "%.*s",
			 (int)(nl ? nl - buf : 0), buf);
	}
	nsent++;
	last_len = len < sizeof(last_text) ? len : sizeof(last_text);
	memcpy(last_text, buf, last_len);
	return 0;
}

static void op_request(void *arg, struct sip_tsx *t, struct sip_msg *m,
		       const struct sip_peer *from)
{
	(void)arg; (void)m; (void)from;
	nreq++;
	last_server = t;
}

static void op_response(void *arg, struct sip_tsx *t, struct sip_msg *m)
{
	(void)arg; (void)t;
	nresp++;
	last_status = m->status;
}

static void op_stray(void *arg, struct sip_msg *m, const struct sip_peer *f)
{
	(void)arg; (void)m; (void)f;
	nstray++;
}

static void op_terminated(void *arg, struct sip_tsx *t, enum sip_tsx_end why)
{
	(void)arg;
	if (t == last_server)
		last_server = NULL;
	ended++;
	end_why = (int)why;
	ended_at = now;
}

static unsigned nexpired;
static uint64_t expired_at;

static void op_expired(void *arg, struct sip_tsx *t)
{
	(void)arg;
	(void)t;
	nexpired++;
	expired_at = now;
}

static const struct sip_tsx_ops ops = { op_send, op_request, op_response,
					op_stray, op_terminated, op_expired };

static struct ev_loop *loop;
static struct sip_tsx_layer *layer;
static struct sip_peer udp, tcp;

static int setup(void **st)
{
	struct sip_tsx_cfg cfg = { .auto_100 = 1, .timer_c = 10000 };
	(void)st;
	now = 0;
	nexpired = 0;
	nsent = nresp = nstray = nreq = 0;
	ended = end_why = 0;
	last_server = NULL;
	assert_int_equal(ev_loop_new(&loop), 0);
	ev_set_clock(loop, clock_fn, NULL);
	assert_int_equal(sip_tsx_layer_new(loop, &cfg, &ops, NULL, &layer), 0);
	sip_peer_set(&udp, SIP_PROTO_UDP, SIP_STR("127.0.0.1"), 5099);
	sip_peer_set(&tcp, SIP_PROTO_TCP, SIP_STR("127.0.0.1"), 5099);
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	sip_tsx_layer_free(layer);
	ev_loop_free(loop);
	return 0;
}

/* Advance the fake clock to `until` in 50 ms steps, firing timers. */
static void run_to(uint64_t until)
{
	while (now < until) {
		now += 50;
		ev_run_timers(loop);
	}
}

static char *mkreq(const char *method, const char *branch, char *buf,
		   size_t *len)
{
	*len = (size_t)sprintf(buf,
		"%s sip:b@127.0.0.1 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 127.0.0.1:5060%s%s\r\n"
		"From: <sip:a@127.0.0.1>;tag=f1\r\nTo: <sip:b@127.0.0.1>\r\n"
		"Call-ID: c1@127.0.0.1\r\nCSeq: 1 %s\r\nMax-Forwards: 70\r\n"
		"Content-Length: 0\r\n\r\n", method,
		branch ? ";branch=" : "", branch ? branch : "", method);
	return buf;
}

/* A response to request text `req` with status, parsed into *m. */
static void mkresp(const char *req, size_t rlen, int status, struct sip_msg *m,
		   char *buf)
{
	struct sip_msg r;
	struct sip_perr e;
	size_t n;

	assert_int_equal(sip_msg_parse(&r, req, rlen, 0, &e), 0);
	assert_int_equal(sip_response_write(&r, status, NULL,
		status > 100 ? "t9" : NULL, NULL, (struct sip_str){ 0 }, buf,
		4096, &n), 0);
	assert_int_equal(sip_msg_parse(m, buf, n, 0, &e), 0);
}

static void feed(const char *buf, size_t len, const struct sip_peer *from)
{
	struct sip_msg m;
	struct sip_perr e;

	assert_int_equal(sip_msg_parse(&m, buf, len, 0, &e), 0);
	assert_int_equal(sip_tsx_layer_recv(layer, &m, from), 0);
}

static void assert_sent_at(const uint64_t *want, unsigned n)
{
	assert_int_equal(nsent, n);
	for (unsigned i = 0; i < n; i++)
		if (sent[i].at != want[i])
			fail_msg("send %u at %llu, want %llu", i,
				 (unsigned long long)sent[i].at,
				 (unsigned long long)want[i]);
}

static void t_uac_invite_timeout(void **st)
{
	static const uint64_t want[] = { 0, 500, 1500, 3500, 7500, 15500, 31500 };
	struct sip_tsx *t;
	char buf[1024];
	size_t n;
	(void)st;

	mkreq("INVITE", "z9hG4bKi1", buf, &n);
	assert_int_equal(sip_tsx_client(layer, buf, n, &udp, NULL, &t), 0);
	assert_int_equal(sip_tsx_client(layer, buf, n, &udp, NULL, &t), EEXIST);
	run_to(40000);
	assert_sent_at(want, 7);	/* timer A: 6 retransmissions */
	assert_int_equal(ended, 1);
	assert_int_equal(end_why, SIP_TSX_END_TIMEOUT);
	assert_int_equal(ended_at, 32000);	/* timer B = 64*T1 */
	assert_int_equal(sip_tsx_layer_count(layer), 0);
}

static void t_uac_noninvite_timeout(void **st)
{
	static const uint64_t want[] = { 0, 500, 1500, 3500, 7500, 11500, 15500,
					 19500, 23500, 27500, 31500 };
	struct sip_tsx *t;
	char buf[1024];
	size_t n;
	(void)st;

	mkreq("OPTIONS", "z9hG4bKo1", buf, &n);
	assert_int_equal(sip_tsx_client(layer, buf, n, &udp, NULL, &t), 0);
	run_to(40000);
	assert_sent_at(want, 11);	/* timer E capped at T2 */
	assert_int_equal(end_why, SIP_TSX_END_TIMEOUT);
	assert_int_equal(ended_at, 32000);	/* timer F */
}

static void t_uac_noninvite_proceeding(void **st)
{
	static const uint64_t want[] = { 0, 500, 1500, 5500, 9500, 13500, 17500 };
	struct sip_tsx *t;
	struct sip_msg r;
	char buf[1024], rb[4096];
	size_t n;
	(void)st;

	mkreq("REGISTER", "z9hG4bKr1", buf, &n);
	assert_int_equal(sip_tsx_client(layer, buf, n, &udp, NULL, &t), 0);
	run_to(600);
	mkresp(buf, n, 100, &r, rb);
	assert_int_equal(sip_tsx_layer_recv(layer, &r, &udp), 0);
	assert_int_equal(sip_tsx_state(t), SIP_TSX_PROCEEDING);
	run_to(20000);
	mkresp(buf, n, 200, &r, rb);
	assert_int_equal(sip_tsx_layer_recv(layer, &r, &udp), 0);
	assert_int_equal(nresp, 2);
	assert_int_equal(sip_tsx_state(t), SIP_TSX_COMPLETED);
	assert_int_equal(sip_tsx_layer_recv(layer, &r, &udp), 0);
	assert_int_equal(nresp, 2);	/* retransmitted final absorbed */
	run_to(40000);
	assert_sent_at(want, 7);	/* after 1xx, E runs at T2 */
	assert_int_equal(end_why, SIP_TSX_END_DONE);
	assert_int_equal(ended_at, 25000);	/* timer K = T4 */
}

static void t_uac_invite_486_acks(void **st)
{
	struct sip_tsx *t;
	struct sip_msg r;
	char buf[1024], rb[4096];
	size_t n;
	(void)st;

	mkreq("INVITE", "z9hG4bKi2", buf, &n);
	assert_int_equal(sip_tsx_client(layer, buf, n, &udp, NULL, &t), 0);
	run_to(1000);	/* sends at 0, 500 */
	mkresp(buf, n, 486, &r, rb);
	assert_int_equal(sip_tsx_layer_recv(layer, &r, &udp), 0);
	assert_int_equal(nsent, 3);
	assert_string_equal(sent[2].line, "ACK sip:b@127.0.0.1 SIP/2.0");
	assert_int_equal(sip_tsx_layer_recv(layer, &r, &udp), 0);
	assert_int_equal(nsent, 4);	/* ACK again, 486 not passed up again */
	assert_string_equal(sent[3].line, "ACK sip:b@127.0.0.1 SIP/2.0");
	assert_int_equal(nresp, 1);
	assert_int_equal(last_status, 486);
	run_to(40000);
	assert_int_equal(nsent, 4);	/* no INVITE retransmission after */
	assert_int_equal(ended_at, 33000);	/* timer D = 32 s */
	assert_int_equal(end_why, SIP_TSX_END_DONE);
}

static void t_uac_invite_2xx_ends(void **st)
{
	struct sip_tsx *t;
	struct sip_msg r;
	char buf[1024], rb[4096];
	size_t n;
	(void)st;

	mkreq("INVITE", "z9hG4bKi3", buf, &n);
	assert_int_equal(sip_tsx_client(layer, buf, n, &tcp, NULL, &t), 0);
	run_to(5000);
	assert_int_equal(nsent, 1);	/* TCP: no timer A */
	mkresp(buf, n, 180, &r, rb);
	assert_int_equal(sip_tsx_layer_recv(layer, &r, &tcp), 0);
	mkresp(buf, n, 200, &r, rb);
	assert_int_equal(sip_tsx_layer_recv(layer, &r, &tcp), 0);
	assert_int_equal(nresp, 2);
	assert_int_equal(sip_tsx_state(t), SIP_TSX_ACCEPTED);
	/* RFC 6026: a 2xx retransmission in Accepted goes to the TU */
	assert_int_equal(sip_tsx_layer_recv(layer, &r, &tcp), 0);
	assert_int_equal(nresp, 3);
	run_to(40000);
	assert_int_equal(ended, 1);
	assert_int_equal(ended_at, 37000);	/* timer M = 64*T1, even on TCP */
	/* after it, a 2xx matches nothing: the TU gets it as stray */
	assert_int_equal(sip_tsx_layer_recv(layer, &r, &tcp), 0);
	assert_int_equal(nstray, 1);
}

static void t_uac_invite_timer_c(void **st)
{
	struct sip_tsx *t;
	struct sip_msg r;
	char buf[1024], rb[4096];
	size_t n;
	(void)st;

	mkreq("INVITE", "z9hG4bKc9", buf, &n);
	assert_int_equal(sip_tsx_client(layer, buf, n, &udp, NULL, &t), 0);
	run_to(100);
	mkresp(buf, n, 180, &r, rb);
	assert_int_equal(sip_tsx_layer_recv(layer, &r, &udp), 0);
	run_to(5000);
	assert_int_equal(sip_tsx_layer_recv(layer, &r, &udp), 0); /* resets C */
	run_to(60000);
	assert_int_equal(nexpired, 1);
	assert_int_equal(expired_at, 15000);	/* 10 s after the last 180 */
	assert_int_equal(ended_at, 47000);	/* then 64*T1 for a final */
	assert_int_equal(end_why, SIP_TSX_END_TIMEOUT);
	assert_int_equal(nsent, 1);		/* no timer A after the 1xx */
}

static void t_uac_tcp_timeout(void **st)
{
	struct sip_tsx *t;
	char buf[1024];
	size_t n;
	(void)st;

	mkreq("OPTIONS", "z9hG4bKo2", buf, &n);
	assert_int_equal(sip_tsx_client(layer, buf, n, &tcp, NULL, &t), 0);
	run_to(40000);
	assert_int_equal(nsent, 1);
	assert_int_equal(ended_at, 32000);
}

static void respond(struct sip_tsx *t, int status)
{
	char rb[4096];
	size_t n;

	assert_int_equal(sip_response_write(sip_tsx_request(t), status, NULL,
		"u1", NULL, (struct sip_str){ 0 }, rb, sizeof(rb), &n), 0);
	assert_int_equal(sip_tsx_respond(t, rb, n), 0);
}

static void t_uas_invite_486_no_ack(void **st)
{
	static const uint64_t want[] = { 0, 0, 1000, 1500, 2500, 4500, 8500,
		12500, 16500, 20500, 24500, 28500, 32500 };
	char buf[1024];
	size_t n;
	(void)st;

	mkreq("INVITE", "z9hG4bKs1", buf, &n);
	feed(buf, n, &udp);
	assert_int_equal(nreq, 1);
	assert_string_equal(sent[0].line, "SIP/2.0 100 Trying");
	feed(buf, n, &udp);	/* retransmission: 100 again, no new tsx */
	assert_int_equal(nreq, 1);
	assert_int_equal(nsent, 2);
	run_to(1000);
	respond(last_server, 486);
	run_to(40000);
	/* 486 at 1000, then timer G: +500, +1000, +2000, +4000 (T2) ... */
	assert_sent_at(want, 13);
	assert_string_equal(sent[12].line, "SIP/2.0 486 Busy Here");
	assert_int_equal(end_why, SIP_TSX_END_TIMEOUT);
	assert_int_equal(ended_at, 33000);	/* timer H = 64*T1 */
}

static void t_uas_invite_486_acked(void **st)
{
	char buf[1024], ack[1024];
	size_t n, an;
	(void)st;

	mkreq("INVITE", "z9hG4bKs2", buf, &n);
	feed(buf, n, &udp);
	respond(last_server, 486);
	run_to(600);	/* one retransmission at 500 */
	mkreq("ACK", "z9hG4bKs2", ack, &an);
	feed(ack, an, &udp);
	assert_int_equal(sip_tsx_state(last_server), SIP_TSX_CONFIRMED);
	feed(ack, an, &udp);	/* absorbed in Confirmed */
	assert_int_equal(nstray, 0);
	run_to(40000);
	assert_int_equal(nsent, 3);	/* 100, 486, one 486 retransmission */
	assert_int_equal(end_why, SIP_TSX_END_DONE);
	assert_int_equal(ended_at, 5600);	/* timer I = T4 */
}

static void t_uas_invite_2xx_and_ack(void **st)
{
	char buf[1024], ack[1024];
	size_t n, an;
	(void)st;

	mkreq("INVITE", "z9hG4bKs3", buf, &n);
	feed(buf, n, &udp);
	respond(last_server, 200);
	assert_int_equal(nsent, 2);			/* 100, 200 */
	assert_int_equal(sip_tsx_state(last_server), SIP_TSX_ACCEPTED);
	feed(buf, n, &udp);	/* RFC 6026: INVITE retransmission absorbed */
	assert_int_equal(nreq, 1);
	assert_int_equal(nsent, 2);			/* the TU resends 2xx */
	respond(last_server, 200);			/* ... like this */
	assert_int_equal(nsent, 3);
	{	/* a non-2xx after a 2xx: refused (the message itself is fine) */
		char rb[4096];
		size_t rn;
		assert_int_equal(sip_response_write(sip_tsx_request(last_server),
			486, NULL, "u1", NULL, (struct sip_str){ 0 }, rb,
			sizeof(rb), &rn), 0);
		assert_int_equal(sip_tsx_respond(last_server, rb, rn), EINVAL);
	}
	mkreq("ACK", "z9hG4bKnew", ack, &an);	/* 2xx ACK: new branch */
	feed(ack, an, &udp);
	assert_int_equal(nstray, 1);
	mkreq("ACK", "z9hG4bKs3", ack, &an);	/* same branch: still the TU's */
	feed(ack, an, &udp);
	assert_int_equal(nstray, 2);
	run_to(40000);
	assert_int_equal(ended, 1);
	assert_int_equal(ended_at, 32000);	/* timer L = 64*T1 */
}

static void t_uas_noninvite(void **st)
{
	char buf[1024];
	size_t n;
	(void)st;

	mkreq("OPTIONS", "z9hG4bKs4", buf, &n);
	feed(buf, n, &udp);
	assert_int_equal(nsent, 0);	/* no 100 for non-INVITE */
	feed(buf, n, &udp);		/* Trying: retransmission discarded */
	assert_int_equal(nsent, 0);
	respond(last_server, 200);
	feed(buf, n, &udp);		/* Completed: the 200 again */
	assert_int_equal(nsent, 2);
	assert_int_equal(sip_tsx_respond(last_server, "x", 1), EINVAL);
	run_to(40000);
	assert_int_equal(ended_at, 32000);	/* timer J = 64*T1 */
	assert_int_equal(nreq, 1);
}

static void t_cancel_matches_invite(void **st)
{
	char inv[1024], can[1024];
	size_t n, cn;
	struct sip_msg m;
	struct sip_perr e;
	struct sip_tsx *it;
	(void)st;

	mkreq("INVITE", "z9hG4bKc1", inv, &n);
	feed(inv, n, &udp);
	it = last_server;
	mkreq("CANCEL", "z9hG4bKc1", can, &cn);
	feed(can, cn, &udp);
	assert_int_equal(nreq, 2);
	assert_ptr_not_equal(last_server, it);	/* its own transaction */
	assert_int_equal(sip_tsx_kind(last_server), SIP_TSX_UAS);
	assert_int_equal(sip_msg_parse(&m, can, cn, 0, &e), 0);
	assert_ptr_equal(sip_tsx_find_invite(layer, &m), it);
	mkreq("CANCEL", "z9hG4bKother", can, &cn);
	assert_int_equal(sip_msg_parse(&m, can, cn, 0, &e), 0);
	assert_null(sip_tsx_find_invite(layer, &m));
}

static void t_rfc2543_matching(void **st)
{
	char inv[1024], ack[1024];
	size_t n, an;
	char *p;
	(void)st;

	mkreq("INVITE", NULL, inv, &n);		/* no branch at all */
	feed(inv, n, &udp);
	feed(inv, n, &udp);
	assert_int_equal(nreq, 1);		/* retransmission matched */
	respond(last_server, 404);
	mkreq("ACK", NULL, ack, &an);
	/* the ACK carries the To tag of the 404 */
	p = strstr(ack, "To: <sip:b@127.0.0.1>");
	memmove(p + 28, p + 21, an - (size_t)(p + 21 - ack));
	memcpy(p + 21, ";tag=u1", 7);
	an += 7;
	feed(ack, an, &udp);
	assert_int_equal(nstray, 0);
	assert_int_equal(sip_tsx_state(last_server), SIP_TSX_CONFIRMED);
}

static void t_limit_503(void **st)
{
	struct sip_tsx_layer *small;
	struct sip_tsx_cfg cfg = { .max_tsx = 1 };
	struct sip_msg m;
	struct sip_perr e;
	char a[1024], b[1024];
	size_t an, bn;
	(void)st;

	assert_int_equal(sip_tsx_layer_new(loop, &cfg, &ops, NULL, &small), 0);
	mkreq("OPTIONS", "z9hG4bKl1", a, &an);
	mkreq("OPTIONS", "z9hG4bKl2", b, &bn);
	assert_int_equal(sip_msg_parse(&m, a, an, 0, &e), 0);
	assert_int_equal(sip_tsx_layer_recv(small, &m, &udp), 0);
	assert_int_equal(sip_msg_parse(&m, b, bn, 0, &e), 0);
	assert_int_equal(sip_tsx_layer_recv(small, &m, &udp), ENOSPC);
	assert_string_equal(sent[nsent - 1].line,
			    "SIP/2.0 503 Service Unavailable");
	sip_tsx_layer_free(small);
}

/* Two branches whose keys agree in the low `bits` of their hash: found by
 * trying suffixes (a birthday search over sip_tsx_key). */
static void colliding_branches(unsigned bits, const char *method,
			       char *b1, char *b2)
{
	static uint64_t seen[4096];
	char req[1024];
	size_t n;
	struct sip_msg m;
	struct sip_perr e;
	struct sip_tsx_key k;
	uint64_t mask = (1ULL << bits) - 1;

	for (unsigned i = 0; i < 4096; i++) {
		char br[32];
		snprintf(br, sizeof(br), "z9hG4bKcol%u", i);
		mkreq(method, br, req, &n);
		assert_int_equal(sip_msg_parse(&m, req, n, 0, &e), 0);
		assert_int_equal(sip_tsx_key(&m, SIP_INVITE, &k), 0);
		seen[i] = k.hash & mask;
		for (unsigned j = 0; j < i; j++)
			if (seen[j] == seen[i]) {
				sprintf(b1, "z9hG4bKcol%u", j);
				strcpy(b2, br);
				return;
			}
	}
	fail_msg("no collision in 4096 tries");
}

/* Keys that collide on the hash stay two transactions: server side (two
 * INVITEs, each with its own CANCEL) and client side (two requests out, a
 * response to each reaches its own). */
static void t_hash_collision_full_key(void **st)
{
	struct sip_tsx_layer *cl;
	struct sip_tsx_cfg cfg = { .key_hash_bits = 16 };
	struct sip_tsx *s1, *s2, *c1, *c2;
	char b1[32], b2[32], r1[1024], r2[1024], rb[4096];
	size_t n1, n2;
	struct sip_msg m;
	struct sip_perr e;
	(void)st;

	assert_int_equal(sip_tsx_layer_new(loop, &cfg, &ops, NULL, &cl), 0);
	colliding_branches(16, "INVITE", b1, b2);
	mkreq("INVITE", b1, r1, &n1);
	mkreq("INVITE", b2, r2, &n2);
	assert_int_equal(sip_msg_parse(&m, r1, n1, 0, &e), 0);
	assert_int_equal(sip_tsx_layer_recv(cl, &m, &udp), 0);
	s1 = last_server;
	assert_int_equal(sip_msg_parse(&m, r2, n2, 0, &e), 0);
	assert_int_equal(sip_tsx_layer_recv(cl, &m, &udp), 0);
	s2 = last_server;
	assert_int_equal(nreq, 2);		/* not a retransmission of 1 */
	assert_ptr_not_equal(s1, s2);
	mkreq("CANCEL", b2, r2, &n2);
	assert_int_equal(sip_msg_parse(&m, r2, n2, 0, &e), 0);
	assert_ptr_equal(sip_tsx_find_invite(cl, &m), s2);

	/* client side: both go out; each response finds its own */
	mkreq("OPTIONS", b1, r1, &n1);
	mkreq("OPTIONS", b2, r2, &n2);
	assert_int_equal(sip_tsx_client(cl, r1, n1, &udp, NULL, &c1), 0);
	assert_int_equal(sip_tsx_client(cl, r2, n2, &udp, NULL, &c2), 0);
	mkresp(r2, n2, 200, &m, rb);
	nresp = 0;
	assert_int_equal(sip_tsx_layer_recv(cl, &m, &udp), 0);
	assert_int_equal(nresp, 1);
	assert_int_equal(sip_tsx_state(c2), SIP_TSX_COMPLETED);
	assert_int_equal(sip_tsx_state(c1), SIP_TSX_TRYING);
	sip_tsx_layer_free(cl);
}

/* 20,000 transactions (the table grows from 256 buckets past 8,192 on the
 * way): every one is still found — its retransmission is absorbed, not a
 * new request — and its CANCEL finds its INVITE. */
static void t_table_grows(void **st)
{
	enum { N = 20000 };
	static struct sip_tsx *made[N];
	struct sip_msg m;
	struct sip_perr e;
	char br[32], r[1024];
	size_t n;
	(void)st;

	nreq = 0;
	for (unsigned i = 0; i < N; i++) {
		snprintf(br, sizeof(br), "z9hG4bKgrow%u", i);
		mkreq("INVITE", br, r, &n);
		assert_int_equal(sip_msg_parse(&m, r, n, 0, &e), 0);
		assert_int_equal(sip_tsx_layer_recv(layer, &m, &udp), 0);
		made[i] = last_server;
	}
	assert_int_equal(nreq, N);
	assert_int_equal(sip_tsx_layer_count(layer), N);
	for (unsigned i = 0; i < N; i += 7) {
		snprintf(br, sizeof(br), "z9hG4bKgrow%u", i);
		mkreq("INVITE", br, r, &n);
		feed(r, n, &udp);		/* a retransmission */
		mkreq("CANCEL", br, r, &n);
		assert_int_equal(sip_msg_parse(&m, r, n, 0, &e), 0);
		assert_ptr_equal(sip_tsx_find_invite(layer, &m), made[i]);
	}
	assert_int_equal(nreq, N);
}

/* CANCEL (with a Reason) and ACK of a client INVITE written from what the
 * transaction kept: the same text the builders write from the parsed
 * INVITE, and the answers find their transactions. `branch` NULL: an RFC
 * 2543 INVITE, whose CANCEL is keyed on its own fields (its text only is
 * checked: a client transaction without a branch matches no answer that
 * adds a To tag, before this change as after). */
static void uac_cancel(const char *branch)
{
	static const char reason[] = "Reason: SIP;cause=200;text=\"x\"\r\n";
	struct sip_tsx *t, *c, *o;
	struct sip_msg inv, r, cm;
	struct sip_perr e;
	char buf[1024], rb[4096], want[2048], cbuf[2048];
	size_t n, wn, cn;

	mkreq("INVITE", branch, buf, &n);
	assert_int_equal(sip_tsx_client(layer, buf, n, &udp, NULL, &t), 0);
	mkresp(buf, n, 180, &r, rb);
	assert_int_equal(sip_tsx_layer_recv(layer, &r, &udp), 0);
	assert_int_equal(sip_tsx_cancel(t, reason, NULL, &c), 0);
	assert_int_equal(sip_tsx_kind(c), SIP_TSX_UAC);
	assert_int_equal(sip_msg_parse(&inv, buf, n, 0, &e), 0);
	assert_int_equal(sip_ack_cancel_write(&inv, SIP_CANCEL, NULL, want,
					      sizeof(want), &wn), 0);
	/* the Reason goes just before the Content-Length line */
	memmove(want + wn - 21 + sizeof(reason) - 1, want + wn - 21, 21);
	memcpy(want + wn - 21, reason, sizeof(reason) - 1);
	wn += sizeof(reason) - 1;
	assert_int_equal(last_len, wn);
	assert_memory_equal(last_text, want, wn);
	memcpy(cbuf, last_text, last_len);
	cn = last_len;
	assert_int_equal(sip_msg_parse(&cm, cbuf, cn, 0, &e), 0);
	assert_int_equal(sip_msg_check(&cm, &e), 0);
	assert_int_equal(sip_tsx_cancel(t, NULL, NULL, &o), EEXIST);
	if (!branch)	/* answers with a To tag match no RFC 2543 client */
		return;
	mkresp(cbuf, cn, 200, &r, rb);		/* the CANCEL's 200 */
	assert_int_equal(sip_tsx_layer_recv(layer, &r, &udp), 0);
	assert_int_equal(nstray, 0);
	assert_int_equal(sip_tsx_state(c), SIP_TSX_COMPLETED);
	mkresp(buf, n, 487, &r, rb);		/* the INVITE's 487: ACK */
	assert_int_equal(sip_tsx_layer_recv(layer, &r, &udp), 0);
	assert_int_equal(sip_ack_cancel_write(&inv, SIP_ACK, &r, want,
					      sizeof(want), &wn), 0);
	assert_int_equal(last_len, wn);
	assert_memory_equal(last_text, want, wn);
	assert_int_equal(nresp, 3);		/* 180, CANCEL's 200, 487 */
	assert_int_equal(sip_tsx_cancel(c, NULL, NULL, &o), EINVAL);
}

static void t_uac_cancel(void **st)
{
	(void)st;
	uac_cancel("z9hG4bKcx1");
}

static void t_uac_cancel_rfc2543(void **st)
{
	(void)st;
	uac_cancel(NULL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(t_uac_invite_timeout), T(t_uac_noninvite_timeout),
		T(t_uac_noninvite_proceeding), T(t_uac_invite_486_acks),
		T(t_uac_invite_2xx_ends), T(t_uac_tcp_timeout),
		T(t_uac_invite_timer_c),
		T(t_uas_invite_486_no_ack), T(t_uas_invite_486_acked),
		T(t_uas_invite_2xx_and_ack), T(t_uas_noninvite),
		T(t_cancel_matches_invite), T(t_rfc2543_matching),
		T(t_limit_503), T(t_hash_collision_full_key),
		T(t_table_grows), T(t_uac_cancel), T(t_uac_cancel_rfc2543),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
