/* tests/unit/test_sip_transport.c — UDP and TCP transports on 127.0.0.1
 * with real sockets on ports the kernel picks: received/rport, 400 for a
 * malformed request, TCP byte-at-a-time framing, keep-alive ping/pong,
 * connection reuse both ways, size cap, idle limit, connection limit;
 * every peer delivered carries the transport's `local`. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <poll.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "event/event.h"
#include "sip/transport.h"
#include "sip/hdr.h"
#include "sip/build.h"
#include "sip_testutil.h"

struct rx {
	int n;
	char via[256];
	struct sip_peer from;
	int answer;		/* reply 200 through sip_tp_send */
	struct sip_tp *tp;
};

static void on_msg(void *arg, struct sip_msg *m, const struct sip_peer *from)
{
	struct rx *r = arg;
	int i = sip_msg_hdr_find(m, SIP_HDR_VIA, 0);
	char out[1024];
	size_t n;

	r->n++;
	snprintf(r->via, sizeof(r->via), "%.*s", (int)m->hdrs[i].value.len,
		 m->hdrs[i].value.s);
	r->from = *from;
	if (r->answer && m->is_request &&
	    sip_response_write(m, 200, NULL, "t1", NULL, (struct sip_str){ 0 },
			       out, sizeof(out), &n) == 0)
		assert_int_equal(sip_tp_send(r->tp, from, out, n), 0);
}

static const char options[] =
	"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 127.0.0.9:5999;branch=z9hG4bKt1;rport\r\n"
	"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\n"
	"Call-ID: t1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
	"Content-Length: 0\r\n\r\n";

static struct sip_tp *open_tp(struct ev_loop *l, struct rx *r,
			      struct sip_tp_cfg *cfg)
{
	struct sip_tp *tp;

	cfg->host = "127.0.0.1";
	assert_int_equal(sip_tp_open(l, cfg, on_msg, r, &tp), 0);
	r->tp = tp;
	return tp;
}

/* Run the loop until *flag becomes true, for at most 3 s. */
static void spin(struct ev_loop *l, const int *flag)
{
	for (int i = 0; i < 300 && !*flag; i++)
		ev_run_once(l, 10);
	assert_true(*flag);
}

static int sock_to(int type, unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, type, 0);

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Read what the peer sends while the loop runs (at most 3 s). */
static ssize_t read_spin(struct ev_loop *l, int fd, char *buf, size_t cap)
{
	for (int i = 0; i < 300; i++) {
		struct pollfd p = { fd, POLLIN, 0 };
		ev_run_once(l, 5);
		if (poll(&p, 1, 5) == 1)
			return read(fd, buf, cap);
	}
	return -2;
}

/* The transport closed the connection: EOF, or a reset when it closed
 * with our bytes unread. */
static void assert_closed(struct ev_loop *l, int fd)
{
	char buf[64];
	ssize_t n = read_spin(l, fd, buf, sizeof(buf));

	assert_true(n == 0 || (n == -1 && errno == ECONNRESET));
}

static void t_udp_received_rport(void **st)
{
	struct ev_loop *l;
	struct rx r = { 0 };
	struct sip_tp_cfg cfg = { .udp = 1, .local = 3 };
	struct sip_tp *tp;
	struct sockaddr_in me;
	socklen_t ml = sizeof(me);
	char want[128];
	int fd;
	(void)st;

	assert_int_equal(ev_loop_new(&l), 0);
	tp = open_tp(l, &r, &cfg);
	fd = sock_to(SOCK_DGRAM, sip_tp_port(tp, SIP_PROTO_UDP));
	getsockname(fd, (struct sockaddr *)&me, &ml);
	assert_int_equal(send(fd, options, sizeof(options) - 1, 0),
			 (ssize_t)sizeof(options) - 1);
	spin(l, &r.n);
	snprintf(want, sizeof(want), "SIP/2.0/UDP 127.0.0.9:5999;"
		 "branch=z9hG4bKt1;received=127.0.0.1;rport=%u",
		 ntohs(me.sin_port));
	assert_string_equal(r.via, want);
	assert_int_equal(r.from.proto, SIP_PROTO_UDP);
	assert_int_equal(r.from.local, 3);	/* the side it came in on */
	close(fd);
	sip_tp_close(tp);
	ev_loop_free(l);
}

static void t_udp_bad_request_gets_400(void **st)
{
	static const char bad[] = "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKt2\r\n"
		"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\n"
		"Call-ID: t2@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
		"Content-Length: 0\r\n\r\n";
	struct ev_loop *l;
	struct rx r = { 0 };
	struct sip_tp_cfg cfg = { .udp = 1 };
	struct sip_tp *tp;
	struct sip_msg m;
	struct sip_perr e;
	char buf[2048];
	ssize_t n;
	int fd;
	(void)st;

	assert_int_equal(ev_loop_new(&l), 0);
	tp = open_tp(l, &r, &cfg);
	fd = sock_to(SOCK_DGRAM, sip_tp_port(tp, SIP_PROTO_UDP));
	assert_true(send(fd, bad, sizeof(bad) - 1, 0) > 0);
	n = read_spin(l, fd, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(sip_msg_parse(&m, buf, (size_t)n, 0, &e), 0);
	assert_int_equal(m.status, 400);
	assert_slice(m.reason, "Bad CSeq: method does not match Request-Line");
	assert_int_equal(r.n, 0);
	/* garbage is dropped and counted, never answered */
	assert_true(send(fd, "\x01\x02garbage", 9, 0) > 0);
	for (int i = 0; i < 20; i++)
		ev_run_once(l, 5);
	assert_int_equal(sip_tp_stats(tp)->rx_bad, 2);
	assert_int_equal(sip_tp_stats(tp)->tx_answers, 1);
	close(fd);
	sip_tp_close(tp);
	/* lazy: the CSeq is not looked at, so the request reaches the TU */
	cfg.lazy = 1;
	tp = open_tp(l, &r, &cfg);
	fd = sock_to(SOCK_DGRAM, sip_tp_port(tp, SIP_PROTO_UDP));
	assert_true(send(fd, bad, sizeof(bad) - 1, 0) > 0);
	spin(l, &r.n);
	assert_int_equal(sip_tp_stats(tp)->rx_bad, 0);
	close(fd);
	sip_tp_close(tp);
	ev_loop_free(l);
}

static uint64_t frozen_clock(void *arg)
{
	return *(uint64_t *)arg;
}

/* With the clock stopped, exactly answers_per_s bad requests are answered
 * and the rest only counted; once the clock moves, answers resume. */
static void t_udp_answers_are_rate_limited(void **st)
{
	static const char bad[] = "OPTIONS sip:x@127.0.0.1 SIP/3.0\r\n"
		"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKt3\r\n"
		"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\n"
		"Call-ID: t3@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n\r\n";
	struct ev_loop *l;
	struct rx r = { 0 };
	struct sip_tp_cfg cfg = { .udp = 1, .answers_per_s = 5 };
	struct sip_tp *tp;
	uint64_t t = 1000;
	int fd;
	(void)st;

	assert_int_equal(ev_loop_new(&l), 0);
	ev_set_clock(l, frozen_clock, &t);
	tp = open_tp(l, &r, &cfg);
	fd = sock_to(SOCK_DGRAM, sip_tp_port(tp, SIP_PROTO_UDP));
	for (int i = 0; i < 20; i++)
		assert_true(send(fd, bad, sizeof(bad) - 1, 0) > 0);
	for (int i = 0; i < 100 && sip_tp_stats(tp)->rx_bad < 20; i++)
		ev_run_once(l, 10);
	assert_int_equal(sip_tp_stats(tp)->rx_bad, 20);
	assert_int_equal(sip_tp_stats(tp)->tx_answers, 5);
	assert_int_equal(sip_tp_stats(tp)->answers_limited, 15);
	t += 1000;	/* a second later: the bucket is full again */
	assert_true(send(fd, bad, sizeof(bad) - 1, 0) > 0);
	for (int i = 0; i < 100 && sip_tp_stats(tp)->rx_bad < 21; i++)
		ev_run_once(l, 10);
	assert_int_equal(sip_tp_stats(tp)->tx_answers, 6);
	close(fd);
	sip_tp_close(tp);
	ev_loop_free(l);
}

static void t_tcp_bytewise_and_reuse(void **st)
{
	struct ev_loop *l;
	struct rx r = { .answer = 1 };
	struct sip_tp_cfg cfg = { .tcp = 1, .local = 1 };
	struct sip_tp *tp;
	struct sip_msg m;
	struct sip_perr e;
	char buf[2048];
	ssize_t n;
	int fd;
	(void)st;

	assert_int_equal(ev_loop_new(&l), 0);
	tp = open_tp(l, &r, &cfg);
	fd = sock_to(SOCK_STREAM, sip_tp_port(tp, SIP_PROTO_TCP));
	for (size_t i = 0; i < sizeof(options) - 1; i++) {
		assert_int_equal(write(fd, options + i, 1), 1);
		ev_run_once(l, 0);
	}
	spin(l, &r.n);
	assert_int_equal(r.from.proto, SIP_PROTO_TCP);
	assert_int_equal(r.from.local, 1);
	assert_true(r.from.conn != 0);
	/* the 200 came back on the same connection */
	n = read_spin(l, fd, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(sip_msg_parse(&m, buf, (size_t)n, SIP_PARSE_STREAM,
				       &e), 0);
	assert_int_equal(m.status, 200);
	assert_int_equal(sip_tp_conns(tp), 1);
	assert_int_equal(sip_tp_stats(tp)->conns_opened, 0);
	/* keep-alive ping gets a pong */
	assert_int_equal(write(fd, "\r\n\r\n", 4), 4);
	n = read_spin(l, fd, buf, sizeof(buf));
	assert_int_equal(n, 2);
	assert_memory_equal(buf, "\r\n", 2);
	/* two messages in one write */
	memcpy(buf, options, sizeof(options) - 1);
	memcpy(buf + sizeof(options) - 1, options, sizeof(options) - 1);
	assert_true(write(fd, buf, 2 * (sizeof(options) - 1)) > 0);
	for (int i = 0; i < 300 && r.n < 3; i++)
		ev_run_once(l, 10);
	assert_int_equal(r.n, 3);
	close(fd);
	sip_tp_close(tp);
	ev_loop_free(l);
}

static void t_tcp_limits(void **st)
{
	struct ev_loop *l;
	struct rx r = { 0 };
	struct sip_tp_cfg cfg = { .tcp = 1, .max_msg = 1024, .idle_ms = 50,
				  .max_conns = 2 };
	struct sip_tp *tp;
	char big[3000];
	int a, b, c;
	unsigned port;
	(void)st;

	assert_int_equal(ev_loop_new(&l), 0);
	tp = open_tp(l, &r, &cfg);
	port = sip_tp_port(tp, SIP_PROTO_TCP);
	/* a header block past max_msg: the connection is closed */
	a = sock_to(SOCK_STREAM, port);
	memset(big, 'a', sizeof(big));
	memcpy(big, "OPTIONS sip:a@b SIP/2.0\r\nX: ", 28);
	assert_true(write(a, big, sizeof(big)) > 0);
	assert_closed(l, a);
	close(a);
	/* idle: closed after idle_ms without traffic */
	b = sock_to(SOCK_STREAM, port);
	assert_closed(l, b);
	assert_true(sip_tp_stats(tp)->conns_idle >= 1);
	close(b);
	/* at most max_conns at once: the third is refused */
	a = sock_to(SOCK_STREAM, port);
	b = sock_to(SOCK_STREAM, port);
	for (int i = 0; i < 5; i++)
		ev_run_once(l, 2);
	c = sock_to(SOCK_STREAM, port);
	assert_closed(l, c);
	assert_true(sip_tp_stats(tp)->conns_refused >= 1);
	close(a);
	close(b);
	close(c);
	sip_tp_close(tp);
	ev_loop_free(l);
}

static void t_tcp_outgoing_reuse(void **st)
{
	struct ev_loop *l;
	struct rx r = { 0 };
	struct sip_tp_cfg cfg = { .tcp = 1 };
	struct sip_tp *tp;
	struct sip_peer to;
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	char buf[4096];
	size_t got = 0;
	int lfd, cfd;
	(void)st;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	getsockname(lfd, (struct sockaddr *)&a, &al);
	assert_int_equal(ev_loop_new(&l), 0);
	tp = open_tp(l, &r, &cfg);
	assert_int_equal(sip_peer_set(&to, SIP_PROTO_TCP, SIP_STR("127.0.0.1"),
				      ntohs(a.sin_port)), 0);
	assert_int_equal(sip_tp_send(tp, &to, options, sizeof(options) - 1), 0);
	assert_int_equal(sip_tp_send(tp, &to, options, sizeof(options) - 1), 0);
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);
	while (got < 2 * (sizeof(options) - 1)) {
		ssize_t n = read_spin(l, cfd, buf + got, sizeof(buf) - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_int_equal(got, 2 * (sizeof(options) - 1));
	assert_int_equal(sip_tp_stats(tp)->conns_opened, 1);
	to.proto = SIP_PROTO_UDP;
	assert_int_equal(sip_tp_send(tp, &to, "x", 1), EPROTONOSUPPORT);
	assert_int_equal(sip_peer_set(&to, SIP_PROTO_TCP, SIP_STR("nohost"), 1),
			 EINVAL);
	assert_int_equal(sip_peer_set(&to, SIP_PROTO_TCP, SIP_STR("[::1]"), 5060),
			 0);
	close(cfd);
	close(lfd);
	sip_tp_close(tp);
	ev_loop_free(l);
}

static int nfailed;
static struct sip_peer failed_peer;

static void on_failed(void *arg, const struct sip_peer *to)
{
	(void)arg;
	nfailed++;
	failed_peer = *to;
}

/* A TCP send to a port where nobody listens: queued, then the refused
 * connection is reported (cfg.failed: the proxy ends its branch at once),
 * closed and counted, and nothing is left open. */
static void t_tcp_connect_refused(void **st)
{
	struct ev_loop *l;
	struct rx r = { 0 };
	struct sip_tp_cfg cfg = { .tcp = 1, .failed = on_failed };
	struct sip_tp *tp;
	struct sip_peer to;
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	(void)st;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(fd, (struct sockaddr *)&a, &al);
	close(fd);	/* the port is now closed */
	assert_int_equal(ev_loop_new(&l), 0);
	tp = open_tp(l, &r, &cfg);
	assert_int_equal(sip_peer_set(&to, SIP_PROTO_TCP, SIP_STR("127.0.0.1"),
				      ntohs(a.sin_port)), 0);
	assert_int_equal(sip_tp_send(tp, &to, options, sizeof(options) - 1), 0);
	for (int i = 0; i < 300 && sip_tp_conns(tp); i++)
		ev_run_once(l, 10);
	assert_int_equal(sip_tp_conns(tp), 0);
	assert_int_equal(sip_tp_stats(tp)->tx_errors, 1);
	assert_int_equal(nfailed, 1);
	assert_memory_equal(&failed_peer.sa, &to.sa, to.salen);
	sip_tp_close(tp);
	ev_loop_free(l);
}

/* A TCP connection from `src` (a 127.x address) to port. */
static int sock_from(const char *src, unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET }, to = {
		.sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, src, &a.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
	return fd;
}

/* A trickle (a byte every 20 ms, never a whole message) is closed after
 * msg_deadline_ms although the idle limit is far off: bytes alone do not
 * keep a connection. */
static void t_tcp_trickle_hits_deadline(void **st)
{
	struct ev_loop *l;
	struct rx r = { 0 };
	struct sip_tp_cfg cfg = { .tcp = 1, .idle_ms = 60000,
				  .msg_deadline_ms = 150 };
	struct sip_tp *tp;
	int fd, closed = 0;
	(void)st;

	assert_int_equal(ev_loop_new(&l), 0);
	tp = open_tp(l, &r, &cfg);
	fd = sock_to(SOCK_STREAM, sip_tp_port(tp, SIP_PROTO_TCP));
	for (int i = 0; i < 60 && !closed; i++) {
		closed = send(fd, options + i, 1, MSG_NOSIGNAL) < 0;
		for (int k = 0; k < 4; k++)
			ev_run_once(l, 5);
		closed |= sip_tp_conns(tp) == 0;
	}
	assert_true(closed);
	assert_int_equal(sip_tp_stats(tp)->conns_slow, 1);
	assert_int_equal(r.n, 0);
	close(fd);
	sip_tp_close(tp);
	ev_loop_free(l);
}

/* Inbound connections are capped per source address; when inbound ones
 * fill max_conns, the element can still open its own (max_out_conns). */
static void t_tcp_per_source_and_outbound_budget(void **st)
{
	struct ev_loop *l;
	struct rx r = { 0 };
	struct sip_tp_cfg cfg = { .tcp = 1, .max_conns = 2,
				  .max_conns_per_src = 1, .max_out_conns = 1 };
	struct sip_tp *tp;
	struct sip_peer to;
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int lfd, x, y, z;
	unsigned port;
	(void)st;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	getsockname(lfd, (struct sockaddr *)&a, &al);
	assert_int_equal(ev_loop_new(&l), 0);
	tp = open_tp(l, &r, &cfg);
	port = sip_tp_port(tp, SIP_PROTO_TCP);
	x = sock_from("127.0.0.2", port);
	for (int i = 0; i < 5; i++)
		ev_run_once(l, 2);
	y = sock_from("127.0.0.2", port);	/* same source: refused */
	assert_closed(l, y);
	z = sock_from("127.0.0.3", port);	/* another source: fine */
	for (int i = 0; i < 5; i++)
		ev_run_once(l, 2);
	assert_int_equal(sip_tp_conns(tp), 2);	/* inbound budget full */
	assert_int_equal(sip_peer_set(&to, SIP_PROTO_TCP, SIP_STR("127.0.0.1"),
				      ntohs(a.sin_port)), 0);
	assert_int_equal(sip_tp_send(tp, &to, options, sizeof(options) - 1), 0);
	assert_int_equal(sip_tp_conns(tp), 3);
	to.sa.ss_family = AF_INET;	/* a second outbound: over budget */
	((struct sockaddr_in *)&to.sa)->sin_port = htons(1);
	assert_int_equal(sip_tp_send(tp, &to, options, sizeof(options) - 1),
			 EMFILE);
	close(x);
	close(y);
	close(z);
	close(lfd);
	sip_tp_close(tp);
	ev_loop_free(l);
}

/* A request whose header block passes max_msg over TCP gets 513 before
 * the connection is closed; 200 Vias over UDP get 513 too (the answer
 * carries the top Via when all of them would not fit). */
static void t_oversized_gets_513(void **st)
{
	struct ev_loop *l;
	struct rx r = { 0 };
	struct sip_tp_cfg cfg = { .tcp = 1, .max_msg = 1024 };
	struct sip_tp *tp;
	static char big[16000], ans[4096];
	size_t n = 0;
	ssize_t k;
	int fd;
	(void)st;

	assert_int_equal(ev_loop_new(&l), 0);
	tp = open_tp(l, &r, &cfg);
	n += (size_t)sprintf(big, "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n");
	for (int i = 0; i < 200; i++)
		n += (size_t)sprintf(big + n, "Via: SIP/2.0/TCP 127.0.0.9:%d"
				     ";branch=z9hG4bKv%d\r\n", 5000 + i, i);
	fd = sock_to(SOCK_STREAM, sip_tp_port(tp, SIP_PROTO_TCP));
	assert_true(write(fd, big, n) > 0);
	k = read_spin(l, fd, ans, sizeof(ans) - 1);
	assert_true(k > 0);
	ans[k] = '\0';
	assert_non_null(strstr(ans, "SIP/2.0 513 "));
	assert_closed(l, fd);
	close(fd);
	sip_tp_close(tp);

	cfg = (struct sip_tp_cfg){ .udp = 1 };
	tp = open_tp(l, &r, &cfg);
	fd = sock_to(SOCK_DGRAM, sip_tp_port(tp, SIP_PROTO_UDP));
	{
		struct sockaddr_in me;
		socklen_t ml = sizeof(me);
		getsockname(fd, (struct sockaddr *)&me, &ml);
		n = (size_t)sprintf(big, "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n"
				    "Via: SIP/2.0/UDP 127.0.0.1:%d;branch="
				    "z9hG4bKu;rport\r\n", ntohs(me.sin_port));
	}
	for (int i = 0; i < 199; i++)
		n += (size_t)sprintf(big + n, "Via: SIP/2.0/UDP 127.0.0.9:%d"
				     ";branch=z9hG4bKv%d\r\n", 5000 + i, i);
	n += (size_t)sprintf(big + n, "From: <sip:a@b>;tag=1\r\nTo: <sip:x@b>"
			     "\r\nCall-ID: v@b\r\nCSeq: 1 OPTIONS\r\n"
			     "Content-Length: 0\r\n\r\n");
	assert_true(write(fd, big, n) > 0);
	k = read_spin(l, fd, ans, sizeof(ans) - 1);
	assert_true(k > 0);
	ans[k] = '\0';
	assert_non_null(strstr(ans, "SIP/2.0 513 "));
	close(fd);
	sip_tp_close(tp);
	ev_loop_free(l);
}

static void t_via_received_multi(void **st)
{
	static const char msg[] = "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 127.0.0.9;branch=z9hG4bKa, "
		"SIP/2.0/UDP 127.0.0.8;branch=z9hG4bKb\r\n"
		"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\n"
		"Call-ID: v@1\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n";
	struct sip_msg m;
	struct sip_perr e;
	struct sip_peer p;
	char *big;
	size_t n = 0;
	(void)st;

	assert_int_equal(sip_peer_set(&p, SIP_PROTO_UDP, SIP_STR("127.0.0.1"),
				      5000), 0);
	assert_int_equal(sip_msg_parse(&m, msg, sizeof(msg) - 1, 0, &e), 0);
	assert_int_equal(sip_msg_via_received(&m, &p), 0);
	assert_slice(m.hdrs[0].value, "SIP/2.0/UDP 127.0.0.9;branch=z9hG4bKa;"
		     "received=127.0.0.1, SIP/2.0/UDP 127.0.0.8;branch=z9hG4bKb");
	sip_msg_release(&m);
	/* a Via line far longer than any fixed buffer */
	big = malloc(20000);
	n += (size_t)sprintf(big, "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: "
			     "SIP/2.0/UDP 127.0.0.9;rport;branch=z9hG4bKa");
	for (int i = 0; i < 200; i++)
		n += (size_t)sprintf(big + n, ", SIP/2.0/UDP 127.0.0.8;branch="
				     "z9hG4bK%d", i);
	n += (size_t)sprintf(big + n, "\r\nCall-ID: v@1\r\nl: 0\r\n\r\n");
	assert_int_equal(sip_msg_parse(&m, big, n, 0, &e), 0);
	assert_int_equal(sip_msg_via_received(&m, &p), 0);
	assert_memory_equal(m.hdrs[0].value.s, "SIP/2.0/UDP 127.0.0.9;"
		"branch=z9hG4bKa;received=127.0.0.1;rport=5000, ", 65);
	assert_int_equal(m.hdrs[0].value.len > 6000, 1);
	sip_msg_release(&m);
	free(big);
}

/* cfg.admit sees the raw bytes before parsing: a refused source's
 * datagrams never reach the callback (not even garbage is parsed or
 * answered), its TCP connections are closed at accept; counted. */
static int admitted, refused_tcp;

static int admit_not_127_0_0_1(void *arg, const struct sip_peer *from,
			       const char *buf, size_t len)
{
	const struct sockaddr_in *a = (const void *)&from->sa;
	(void)arg;

	if (!buf) {
		assert_int_equal(len, 0);
		refused_tcp += a->sin_addr.s_addr == htonl(0x7f000001);
	}
	admitted++;
	return a->sin_addr.s_addr == htonl(0x7f000001) ? EPERM : 0;
}

static void t_admit_drops_before_parsing(void **st)
{
	struct ev_loop *l;
	struct rx r = { 0 };
	struct sip_tp_cfg cfg = { .udp = 1, .tcp = 1,
				  .admit = admit_not_127_0_0_1 };
	struct sip_tp *tp;
	int fd, tfd, ok;
	(void)st;

	assert_int_equal(ev_loop_new(&l), 0);
	tp = open_tp(l, &r, &cfg);
	fd = sock_to(SOCK_DGRAM, sip_tp_port(tp, SIP_PROTO_UDP));
	send(fd, options, sizeof(options) - 1, 0);
	send(fd, "garbage\r\n\r\n", 11, 0);
	for (int i = 0; i < 100 && sip_tp_stats(tp)->rx_refused < 2; i++)
		ev_run_once(l, 10);
	assert_int_equal(sip_tp_stats(tp)->rx_refused, 2);
	assert_int_equal(sip_tp_stats(tp)->rx_bad, 0);
	assert_int_equal(sip_tp_stats(tp)->tx_answers, 0);
	assert_int_equal(r.n, 0);
	tfd = sock_to(SOCK_STREAM, sip_tp_port(tp, SIP_PROTO_TCP));
	assert_closed(l, tfd);
	assert_int_equal(refused_tcp, 1);
	assert_int_equal(sip_tp_conns(tp), 0);
	close(tfd);
	/* another source is let in */
	tfd = sock_from("127.0.0.2", sip_tp_port(tp, SIP_PROTO_TCP));
	send(tfd, options, sizeof(options) - 1, MSG_NOSIGNAL);
	spin(l, &r.n);
	ok = admitted >= 4;
	assert_true(ok);
	close(tfd);
	close(fd);
	sip_tp_close(tp);
	ev_loop_free(l);
}

/* sip_peer_addr writes IPv4 without inet_ntop: the same text, for every
 * width of octet; a short buffer still gets inet_ntop's answer. */
static void t_peer_addr_text(void **st)
{
	static const char *const addrs[] = { "0.0.0.0", "255.255.255.255",
		"10.20.100.9", "127.38.0.1", "1.0.10.100", "192.168.1.254" };
	struct sip_peer p;
	char buf[64];
	unsigned port;
	(void)st;

	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		struct sip_str a = { addrs[i], strlen(addrs[i]) };
		assert_int_equal(sip_peer_set(&p, SIP_PROTO_UDP, a, 5060 + i), 0);
		memset(buf, 'x', sizeof(buf));
		sip_peer_addr(&p, buf, sizeof(buf), &port);
		assert_string_equal(buf, addrs[i]);
		assert_int_equal(port, 5060 + i);
	}
	sip_peer_addr(&p, buf, 8, &port);	/* too short: inet_ntop's */
	assert_int_equal(port, 5065);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_udp_received_rport),
		cmocka_unit_test(t_udp_bad_request_gets_400),
		cmocka_unit_test(t_udp_answers_are_rate_limited),
		cmocka_unit_test(t_tcp_bytewise_and_reuse),
		cmocka_unit_test(t_tcp_limits),
		cmocka_unit_test(t_tcp_outgoing_reuse),
		cmocka_unit_test(t_via_received_multi),
		cmocka_unit_test(t_tcp_connect_refused),
		cmocka_unit_test(t_tcp_trickle_hits_deadline),
		cmocka_unit_test(t_tcp_per_source_and_outbound_budget),
		cmocka_unit_test(t_oversized_gets_513),
		cmocka_unit_test(t_admit_drops_before_parsing),
		cmocka_unit_test(t_peer_addr_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
