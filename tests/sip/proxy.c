/* tests/sip/proxy.c — a small stateful, record-routing SIP proxy built only
 * from lib/sip and lib/event, for testing the stack against real SIP peers
 * (sipp). Requests for the proxy's own address are sent to the target;
 * others go by Route or Request-URI. CANCEL is answered and forwarded;
 * a client transaction timeout becomes 408; ACKs for 2xx and stray
 * responses are forwarded statelessly (RFC 3261 16.7, 16.11).
 *
 *   sip-proxy -l 127.0.0.1:PORT -t 127.0.0.1:PORT [-T] [-C ms] [-v]
 *
 * -C: timer C in ms (how long a callee may ring before the proxy cancels).
 * -T: listen on TCP too and forward everything over TCP (requests by
 * connection reuse or a new connection; responses on the connection the
 * request came in on). Prints "ready" on stdout when listening; exits
 * on SIGTERM/SIGINT after printing its counters. Loopback only by intent:
 * it refuses to bind or target other addresses. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event/event.h"
#include "log.h"
#include "sip/build.h"
#include "sip/hdr.h"
#include "sip/proxy.h"
#include "sip/transport.h"
#include "sip/tsx.h"

#define BUF 8192

/* One forwarded request: its server and client transactions. */
struct fwd {
	struct sip_tsx *srv, *cli;
	int got_1xx, final_sent, cancel_pending;
};

struct proxy {
	struct ev_loop *loop;
	struct sip_tp *tp;
	struct sip_tsx_layer *tsx;
	struct sip_proxy_self self;
	char host[64], rr[128];
	unsigned port;
	enum sip_proto proto;	/* how we forward */
	struct sip_peer target;
	char target_host[64];
	unsigned target_port;
	unsigned long forwarded, answered, stray_fwd, timeouts;
};

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static int send_cb(void *arg, const struct sip_peer *to, const char *buf,
		   size_t len)
{
	struct proxy *p = arg;

	return sip_tp_send(p->tp, to, buf, len);
}

static void reply(struct proxy *p, struct sip_tsx *t, int status,
		  const char *reason, const char *extra)
{
	char out[BUF];
	size_t n;

	if (sip_response_write(sip_tsx_request(t), status, reason, "px", extra,
			       (struct sip_str){ 0 }, out, sizeof(out), &n) == 0 &&
	    sip_tsx_respond(t, out, n) == 0)
		p->answered++;
}

static int is_self(const struct proxy *p, const struct sip_uri *u)
{
	return sip_str_eq(u->host, p->host) &&
	       (u->port ? u->port : 5060) == p->port;
}

/* Route header handling and the next hop (16.4, 16.6 steps 6-7). */
static int next_hop(struct proxy *p, struct sip_msg *m, struct sip_peer *to)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_ROUTE, 0);
	struct sip_addr a;
	struct sip_str v;
	size_t pos = 0;
	struct sip_uri u;
	char ruri[256];
	int n;

	if (i >= 0 && sip_hdr_next_value(m->hdrs[i].value, &pos, &v) == 1 &&
	    sip_addr_parse(v, 0, &a, NULL) == 0 && is_self(p, &a.uri))
		sip_msg_hdr_del_first_value(m, (unsigned)i);
	i = sip_msg_hdr_find(m, SIP_HDR_ROUTE, 0);
	pos = 0;
	if (i >= 0 && sip_hdr_next_value(m->hdrs[i].value, &pos, &v) == 1 &&
	    sip_addr_parse(v, 0, &a, NULL) == 0)
		return sip_peer_set(to, p->proto, a.uri.host,
				    a.uri.port ? a.uri.port : 5060);
	if (sip_uri_parse(m->ruri, &u, NULL) || u.scheme != SIP_SCHEME_SIP)
		return EINVAL;
	if (!is_self(p, &u))
		return sip_peer_set(to, p->proto, u.host,
				    u.port ? u.port : 5060);
	n = snprintf(ruri, sizeof(ruri), "sip:%.*s%s%s:%u", (int)u.user.len,
		     u.user.s, u.has_user ? "@" : "", p->target_host,
		     p->target_port);
	if (n < 0 || (size_t)n >= sizeof(ruri) ||
	    sip_msg_set_ruri(m, ruri, (size_t)n))
		return EINVAL;
	*to = p->target;
	return 0;
}

/* The edits every forwarded request gets; writes it into out. */
static int prepare(struct proxy *p, struct sip_msg *m, struct sip_peer *to,
		   char *out, size_t *n)
{
	char branch[SIP_BRANCH_LEN], via[160];
	int k, rc;

	if ((rc = sip_proxy_dec_max_forwards(m)) != 0 ||
	    (rc = sip_proxy_branch(m, branch, sizeof(branch))) != 0 ||
	    (rc = next_hop(p, m, to)) != 0)
		return rc;
	k = snprintf(via, sizeof(via), "SIP/2.0/%s %s:%u;branch=%s;rport",
		     p->proto == SIP_PROTO_TCP ? "TCP" : "UDP", p->host, p->port,
		     branch);
	if ((rc = sip_msg_hdr_insert(m, 0, SIP_HDR_VIA, NULL, via,
				     (size_t)k)) != 0)
		return rc;
	if (m->method == SIP_INVITE &&
	    (rc = sip_msg_hdr_insert(m, 1, SIP_HDR_RECORD_ROUTE, NULL, p->rr,
				     strlen(p->rr))) != 0)
		return rc;
	return sip_msg_serialize(m, out, BUF, n);
}

static void send_cancel(struct proxy *p, struct fwd *f)
{
	char out[BUF];
	size_t n;
	struct sip_tsx *t;

	f->cancel_pending = 0;
	if (!f->cli || sip_ack_cancel_write(sip_tsx_request(f->cli), SIP_CANCEL,
					    NULL, out, sizeof(out), &n))
		return;
	sip_tsx_client(p->tsx, out, n, sip_tsx_peer(f->cli), NULL, &t);
}

static void on_cancel(struct proxy *p, struct sip_tsx *t, struct sip_msg *m)
{
	struct sip_tsx *inv = sip_tsx_find_invite(p->tsx, m);
	struct fwd *f = inv ? sip_tsx_user(inv) : NULL;

	if (!f) {
		reply(p, t, 481, NULL, NULL);
		return;
	}
	reply(p, t, 200, NULL, NULL);
	if (f->final_sent)
		return;
	if (f->got_1xx)
		send_cancel(p, f);
	else
		f->cancel_pending = 1;	/* 9.1: not before a provisional */
}

static void on_request(void *arg, struct sip_tsx *t, struct sip_msg *m,
		       const struct sip_peer *from)
{
	struct proxy *p = arg;
	struct sip_peer to;
	struct fwd *f;
	const char *why;
	char out[BUF], unsup[256], extra[300];
	size_t n;
	int st;
	(void)from;

	if (m->method == SIP_CANCEL) {
		on_cancel(p, t, m);
		return;
	}
	st = sip_proxy_check_request(m, &p->self, &why);
	if (st) {
		extra[0] = '\0';
		if (st == 420 && sip_proxy_unsupported(m, &p->self, unsup,
						       sizeof(unsup)) == 0)
			snprintf(extra, sizeof(extra), "Unsupported: %s\r\n",
				 unsup);
		reply(p, t, st, why, extra[0] ? extra : NULL);
		return;
	}
	f = calloc(1, sizeof(*f));
	if (!f || prepare(p, m, &to, out, &n) ||
	    sip_tsx_client(p->tsx, out, n, &to, f, &f->cli)) {
		free(f);
		reply(p, t, 500, NULL, NULL);
		return;
	}
	f->srv = t;
	sip_tsx_set_user(t, f);
	p->forwarded++;
}

/* Remove our Via and write the response for the next hop. */
static int strip_via(struct sip_msg *m, char *out, size_t *n)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_VIA, 0);

	if (i < 0 || sip_msg_hdr_del_first_value(m, (unsigned)i))
		return EBADMSG;
	return sip_msg_serialize(m, out, BUF, n);
}

/* A response without a server transaction: by the next Via (16.11,
 * RFC 3581 aware). */
static void forward_response(struct proxy *p, struct sip_msg *m)
{
	struct sip_peer to;
	struct sip_str host;
	unsigned port;
	char out[BUF];
	size_t n;

	if (sip_proxy_response_target(m, &host, &port) ||
	    sip_peer_set(&to, p->proto, host, port) ||
	    strip_via(m, out, &n) || sip_tp_send(p->tp, &to, out, n))
		return;
	p->stray_fwd++;
}

static void on_response(void *arg, struct sip_tsx *t, struct sip_msg *m)
{
	struct proxy *p = arg;
	struct fwd *f = sip_tsx_user(t);
	char out[BUF];
	size_t n;

	if (!f)
		return;		/* our own CANCEL's 200 */
	if (m->status < 200)
		f->got_1xx = 1;
	if (f->cancel_pending && m->status < 200)
		send_cancel(p, f);
	if (m->status == 100)
		return;
	if (!f->srv) {		/* a late 2xx: the server side is gone */
		forward_response(p, m);
		return;
	}
	if (strip_via(m, out, &n) == 0 &&
	    sip_tsx_respond(f->srv, out, n) == 0 && m->status >= 200)
		f->final_sent = 1;
}

static void on_stray(void *arg, struct sip_msg *m, const struct sip_peer *from)
{
	struct proxy *p = arg;
	struct sip_peer to;
	char out[BUF];
	size_t n;
	(void)from;

	if (m->is_request) {	/* an ACK for a 2xx: forward statelessly */
		if (prepare(p, m, &to, out, &n) == 0 &&
		    sip_tp_send(p->tp, &to, out, n) == 0)
			p->stray_fwd++;
		return;
	}
	forward_response(p, m);
}

static void on_terminated(void *arg, struct sip_tsx *t, enum sip_tsx_end why)
{
	struct proxy *p = arg;
	struct fwd *f = sip_tsx_user(t);

	if (!f)
		return;
	if (t == f->cli) {
		f->cli = NULL;
		if (why != SIP_TSX_END_DONE && why != SIP_TSX_END_SHUTDOWN &&
		    f->srv && !f->final_sent) {
			p->timeouts++;
			reply(p, f->srv, 408, NULL, NULL);
			f->final_sent = 1;
		}
	} else {
		f->srv = NULL;
	}
	if (!f->cli && !f->srv)
		free(f);
}

/* Timer C: the callee rang too long; cancel it (the 487 goes upstream). */
static void on_expired(void *arg, struct sip_tsx *t)
{
	struct fwd *f = sip_tsx_user(t);

	if (f && !f->final_sent)
		send_cancel(arg, f);
}

static const struct sip_tsx_ops ops = { send_cb, on_request, on_response,
					on_stray, on_terminated, on_expired };

static void on_msg(void *arg, struct sip_msg *m, const struct sip_peer *from)
{
	struct proxy *p = arg;

	sip_tsx_layer_recv(p->tsx, m, from);
}

/* host:port, numeric, in 127.0.0.0/8 only (a test tool: loopback only). */
static int parse_hostport(const char *s, char *host, size_t cap,
			  unsigned *port)
{
	const char *c = strrchr(s, ':');

	if (!c || (size_t)(c - s) >= cap || strncmp(s, "127.", 4) != 0)
		return EINVAL;
	memcpy(host, s, (size_t)(c - s));
	host[c - s] = '\0';
	*port = (unsigned)strtoul(c + 1, NULL, 10);
	return *port > 0 && *port < 65536 ? 0 : EINVAL;
}

static void usage(void)
{
	fprintf(stderr, "usage: sip-proxy -l 127.x.x.x:port -t 127.x.x.x:port"
		" [-T] [-C ms] [-v]\n");
	exit(2);
}

static void run(struct proxy *p)
{
	while (!quit)
		ev_run_once(p->loop, 200);
	printf("forwarded=%lu answered=%lu stray=%lu timeouts=%lu rx_bad=%llu\n",
	       p->forwarded, p->answered, p->stray_fwd, p->timeouts,
	       (unsigned long long)sip_tp_stats(p->tp)->rx_bad);
}

int main(int argc, char **argv)
{
	struct proxy p = { .proto = SIP_PROTO_UDP };
	struct sip_tp_cfg cfg = { .udp = 1 };
	struct sip_tsx_cfg tcfg = { .auto_100 = 1 };
	int c, rc;

	while ((c = getopt(argc, argv, "l:t:TC:v")) != -1) {
		if (c == 'l' && !parse_hostport(optarg, p.host, sizeof(p.host),
						&p.port))
			continue;
		if (c == 't' && !parse_hostport(optarg, p.target_host,
			sizeof(p.target_host), &p.target_port))
			continue;
		if (c == 'T') {
			cfg.tcp = 1;
			p.proto = SIP_PROTO_TCP;
			continue;
		}
		if (c == 'C') {
			tcfg.timer_c = (unsigned)strtoul(optarg, NULL, 10);
			continue;
		}
		if (c == 'v')
			continue;
		usage();
	}
	if (!p.port || !p.target_port)
		usage();
	log_init("sip-proxy", 1, LOG_LVL_INFO);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	p.self = (struct sip_proxy_self){ p.host, p.port, NULL };
	snprintf(p.rr, sizeof(p.rr), "<sip:%s:%u;lr>", p.host, p.port);
	cfg.host = p.host;
	cfg.port = p.port;
	if (sip_peer_set(&p.target, p.proto, (struct sip_str){
		p.target_host, strlen(p.target_host) }, p.target_port))
		fatalx("bad target");
	if ((rc = ev_loop_new(&p.loop)) != 0 ||
	    (rc = sip_tp_open(p.loop, &cfg, on_msg, &p, &p.tp)) != 0 ||
	    (rc = sip_tsx_layer_new(p.loop, &tcfg, &ops, &p, &p.tsx)) != 0) {
		errno = rc;
		fatal("start");
	}
	printf("ready\n");
	fflush(stdout);
	run(&p);
	sip_tsx_layer_free(p.tsx);
	sip_tp_close(p.tp);
	ev_loop_free(p.loop);
	return 0;
}
