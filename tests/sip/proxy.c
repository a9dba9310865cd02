/* tests/sip/proxy.c — a small stateful, record-routing, forking SIP proxy:
 * a thin main over the lib/sip proxy core (lib/sip/core.h), for testing the
 * stack against real SIP peers (sipp) and for the benchmarks. Requests for
 * the proxy's own address fork to every target (-t, repeatable); others go
 * by Route or Request-URI.
 *
 *   sip-proxy -l 127.0.0.1:PORT -t 127.0.0.1:PORT [-t ...] [-S] [-T]
 *             [-C ms] [-1 ms] [-v]
 *
 * -S: serial forking (targets in the order given, first highest q);
 * otherwise parallel. -C: timer C in ms (how long a callee may ring before
 * the proxy cancels). -1: T1 in ms (default 500; tests shorten timeouts).
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
#include "sip/core.h"
#include "sip/hdr.h"
#include "sip/transport.h"

#define MAX_TARGETS 8

struct target {
	char host[64], portstr[8];
	unsigned port;
	struct sip_peer peer;
};

struct proxy {
	struct ev_loop *loop;
	struct sip_tp *tp;
	struct sip_core *core;
	char host[64];
	unsigned port;
	enum sip_proto proto;	/* how we forward */
	int serial;
	unsigned ntargets;
	struct target targets[MAX_TARGETS];
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

static int is_self(const struct proxy *p, const struct sip_uri *u)
{
	return sip_str_eq(u->host, p->host) &&
	       (u->port ? u->port : 5060) == p->port;
}

/* Route, or a Request-URI that is not ours: one hop. 1 when m is for us. */
static int direct_hop(struct proxy *p, const struct sip_msg *m,
		      struct sip_peer *to, struct sip_uri *u)
{
	int rc = sip_route_target(m, p->proto, to);

	if (rc != ENOENT)
		return rc ? -1 : 0;
	if (sip_msg_ruri(m, u) || u->scheme != SIP_SCHEME_SIP)
		return -1;
	if (!is_self(p, u))
		return sip_peer_set(to, p->proto, u->host,
				    u->port ? u->port : 5060) ? -1 : 0;
	return 1;
}

/* sip:user@host:port of target t (no printf: once per call). Returns the
 * length, 0 if it does not fit. */
static size_t target_uri(const struct target *t, const struct sip_uri *u,
			 char *dst, size_t cap)
{
	size_t n = 4;

	if (u->user.len + sizeof(t->host) + 16 > cap)
		return 0;
	memcpy(dst, "sip:", 4);
	if (u->has_user) {
		memcpy(dst + n, u->user.s, u->user.len);
		n += u->user.len;
		dst[n++] = '@';
	}
	memcpy(dst + n, t->host, strlen(t->host));
	n += strlen(t->host);
	dst[n++] = ':';
	memcpy(dst + n, t->portstr, strlen(t->portstr));
	return n + strlen(t->portstr);
}

static void on_request(void *arg, struct sip_fork *f, const struct sip_msg *m,
		       const struct sip_peer *from)
{
	struct proxy *p = arg;
	struct sip_peer to;
	struct sip_uri u;
	char ruri[256];
	int rc = direct_hop(p, m, &to, &u);
	(void)from;

	if (rc == 0 && sip_fork_add(f, NULL, 0, &to, 1000) == 0) {
		sip_fork_start(f, 0);
		return;
	}
	if (rc < 0) {
		sip_fork_reply(f, 404, NULL, NULL);
		return;
	}
	for (unsigned i = 0; i < p->ntargets; i++) {
		struct target *t = &p->targets[i];
		size_t n = target_uri(t, &u, ruri, sizeof(ruri));
		if (!n || sip_fork_add(f, ruri, n, &t->peer, 1000 - i))
			break;
	}
	sip_fork_start(f, p->serial);
}

/* ACKs for 2xx: by Route or Request-URI, else to the first target. */
static int on_route(void *arg, struct sip_msg *m, const struct sip_peer *from,
		    struct sip_peer *to)
{
	struct proxy *p = arg;
	struct sip_uri u;
	int rc = direct_hop(p, m, to, &u);

	(void)from;
	if (rc == 1)
		*to = p->targets[0].peer;
	return rc < 0 ? EINVAL : 0;
}

static const struct sip_core_ops ops = {
	.send = send_cb, .request = on_request, .route = on_route,
};

static void on_msg(void *arg, struct sip_msg *m, const struct sip_peer *from)
{
	struct proxy *p = arg;

	sip_core_recv(p->core, m, from);
}

static void on_failed(void *arg, const struct sip_peer *to)
{
	struct proxy *p = arg;

	sip_core_peer_failed(p->core, to);
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
		" [-t ...] [-S] [-T] [-C ms] [-1 ms] [-v]\n");
	exit(2);
}

static void run(struct proxy *p)
{
	const struct sip_core_stats *s;

	while (!quit)
		ev_run_once(p->loop, 200);
	s = sip_core_stats(p->core);
	printf("forwarded=%llu answered=%llu stray=%llu timeouts=%llu "
	       "rx_bad=%llu dropped=%llu cancels=%llu send_failed=%llu\n",
	       (unsigned long long)s->forwarded,
	       (unsigned long long)s->answered,
	       (unsigned long long)s->stray_fwd,
	       (unsigned long long)s->timeouts,
	       (unsigned long long)sip_tp_stats(p->tp)->rx_bad,
	       (unsigned long long)s->stray_dropped,
	       (unsigned long long)s->cancels,
	       (unsigned long long)s->send_failed);
}

static int add_target(struct proxy *p, const char *arg)
{
	struct target *t = &p->targets[p->ntargets];

	if (p->ntargets >= MAX_TARGETS ||
	    parse_hostport(arg, t->host, sizeof(t->host), &t->port))
		return EINVAL;
	snprintf(t->portstr, sizeof(t->portstr), "%u", t->port);
	p->ntargets++;
	return 0;
}

static void parse_args(int argc, char **argv, struct proxy *p,
		       struct sip_tp_cfg *cfg, struct sip_core_cfg *ccfg)
{
	int c;

	while ((c = getopt(argc, argv, "l:t:STC:1:v")) != -1) {
		if (c == 'l' && !parse_hostport(optarg, p->host,
						sizeof(p->host), &p->port))
			continue;
		if (c == 't' && !add_target(p, optarg))
			continue;
		if (c == 'S' || c == 'v') {
			p->serial |= c == 'S';
			continue;
		}
		if (c == 'T') {
			cfg->tcp = 1;
			p->proto = SIP_PROTO_TCP;
			continue;
		}
		if (c == 'C' || c == '1') {
			*(c == 'C' ? &ccfg->tsx.timer_c : &ccfg->tsx.t1) =
				(unsigned)strtoul(optarg, NULL, 10);
			continue;
		}
		usage();
	}
	if (!p->port || !p->ntargets)
		usage();
}

int main(int argc, char **argv)
{
	static struct proxy p = { .proto = SIP_PROTO_UDP };
	struct sip_tp_cfg cfg = { .udp = 1, .lean = 1, .failed = on_failed };
	struct sip_core_cfg ccfg = { .tsx = { .auto_100 = 1 },
				     .record_route = 1, .to_tag = "px" };
	int rc;

	parse_args(argc, argv, &p, &cfg, &ccfg);
	log_init("sip-proxy", 1, LOG_LVL_INFO);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	for (unsigned i = 0; i < p.ntargets; i++) {
		struct target *t = &p.targets[i];
		if (sip_peer_set(&t->peer, p.proto, (struct sip_str){ t->host,
				 strlen(t->host) }, t->port))
			fatalx("bad target");
	}
	cfg.host = ccfg.host = p.host;
	cfg.port = ccfg.port = p.port;
	if ((rc = ev_loop_new(&p.loop)) != 0 ||
	    (rc = sip_tp_open(p.loop, &cfg, on_msg, &p, &p.tp)) != 0 ||
	    (rc = sip_core_new(p.loop, &ccfg, &ops, &p, &p.core)) != 0) {
		errno = rc;
		fatal("start");
	}
	printf("ready\n");
	fflush(stdout);
	run(&p);
	sip_core_free(p.core);
	sip_tp_close(p.tp);
	ev_loop_free(p.loop);
	return 0;
}
