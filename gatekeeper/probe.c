/* gatekeeper/probe.c — OPTIONS probing of the route peers, and the probe
 * socket that gwprobe.c shares for the flat gateways. Every
 * probe-interval each UDP peer gets an OPTIONS from a socket of its own
 * (the public listen address, another port, so the proxy core never sees
 * the answers), each TCP peer one on a connection of its own
 * (tcpprobe.c); a probe not answered by the next round is a failure. Any response counts as alive (a peer
 * answering 404 or 405 to OPTIONS is up). probe-down failures in a row
 * mark a peer down (new calls skip it), probe-up answers in a row bring
 * it back. State changes are logged, counted in /metrics and written to
 * dpn.gk_peer_state for mgmtd. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gatekeeper/gk.h"
#include "log.h"

/* Write p's state for mgmtd (dpn.gk_peer_state). 0 or EIO. */
static int save_state(struct gk *g, const struct gk_peer *p)
{
	char id[24];
	const char *v[2] = { id, p->up ? "true" : "false" };
	PGresult *r;
	int rc = 0;

	if (!g->pg)
		return EIO;
	snprintf(id, sizeof(id), "%lld", (long long)p->id);
	r = PQexecParams(g->pg, "INSERT INTO dpn.gk_peer_state (peer_id, up) "
		"SELECT id, $2::bool FROM dpn.gk_peers WHERE id = $1 "
		"ON CONFLICT (peer_id) DO UPDATE SET up = EXCLUDED.up, "
		"changed_at = now()", 2, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		log_warnx("gatekeeper: peer state: %s", PQerrorMessage(g->pg));
		rc = EIO;
	}
	PQclear(r);
	return rc;
}

static void set_up(struct gk *g, struct gk_peer *p, int up)
{
	if (p->up == up) {
		if (!p->saved)		/* the first verdict, for mgmtd */
			p->saved = save_state(g, p) == 0;
		return;
	}
	p->up = up;
	log_info("gatekeeper: peer %s:%u %s", p->host, p->port,
		 up ? "up again" : "down (no answer to OPTIONS)");
	prom_inc(up ? g->om.peer_ups : g->om.peer_downs, 1);
	prom_set(g->om.peers_up, gk_routes_up(g->routes));
	p->saved = save_state(g, p) == 0;
}

static void failed(struct gk *g, struct gk_peer *p)
{
	prom_inc(g->om.probes_failed, 1);
	p->oks = 0;
	if (++p->fails >= g->cfg->probe_down)
		set_up(g, p, 0);
}

static void answered(struct gk *g, struct gk_peer *p)
{
	prom_inc(g->om.probes_ok, 1);
	p->waiting = 0;
	p->fails = 0;
	if (++p->oks >= g->cfg->probe_up)
		set_up(g, p, 1);
}

int gk_probe_text(const struct gk *g, const struct sip_peer *to, char kind,
		  int64_t id, uint32_t seq, unsigned lport, char *buf,
		  size_t cap, size_t *len)
{
	const struct sockaddr_in *sa = (const void *)&to->sa;
	const char *tp = to->proto == SIP_PROTO_TCP ? "TCP" : "UDP";
	char host[INET_ADDRSTRLEN];
	unsigned port = ntohs(sa->sin_port);
	int n;

	if (to->sa.ss_family != AF_INET)
		return EINVAL;
	inet_ntop(AF_INET, &sa->sin_addr, host, sizeof(host));
	n = snprintf(buf, cap,
		"OPTIONS sip:%s:%u%s SIP/2.0\r\n"
		"Via: SIP/2.0/%s %s:%u;branch=z9hG4bKgk%c%" PRId64 "x%" PRIu32 ";rport\r\n"
		"Max-Forwards: 70\r\n"
		"From: <sip:gatekeeper@%s>;tag=gkprobe\r\n"
		"To: <sip:%s:%u>\r\n"
		"Call-ID: gk%c-%" PRId64 "-%" PRIu32 "@%s\r\n"
		"CSeq: %" PRIu32 " OPTIONS\r\n"
		"Content-Length: 0\r\n\r\n",
		host, port, *tp == 'T' ? ";transport=tcp" : "", tp, g->host,
		lport, kind, id, seq, g->host, host, port, kind, id, seq,
		g->host, seq);
	if (n < 0 || (size_t)n >= cap)
		return ENOSPC;
	*len = (size_t)n;
	return 0;
}

int gk_probe_send(struct gk *g, const struct sip_peer *to, char kind,
		  int64_t id, uint32_t seq)
{
	char buf[768];
	size_t n;
	int rc;

	if (g->probe_fd < 0)
		return EINVAL;
	if ((rc = gk_probe_text(g, to, kind, id, seq, g->probe_port, buf,
				sizeof(buf), &n)) != 0)
		return rc;
	if (sendto(g->probe_fd, buf, n, MSG_DONTWAIT,
		   (const struct sockaddr *)&to->sa, to->salen) < 0) {
		log_debug("gatekeeper: probe: %s", strerror(errno));
		return errno;
	}
	return 0;
}

/* A UDP peer's probe from the probe socket; a TCP peer's on a connection
 * of its own (tcpprobe.c; ENOSPC: every connection slot busy, the peer is
 * not probed this round). A probe that cannot be sent stays unanswered. */
static void send_probe(struct gk *g, struct gk_peer *p)
{
	p->seq++;
	p->waiting = 1;
	if (!p->tcp)
		gk_probe_send(g, &p->to, 'p', p->id, p->seq);
	else if (gk_tcprobe_send(g, p) == ENOSPC)
		p->waiting = 0;
}

static void on_round(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct gk *g = arg;
	struct gk_routes *rt = g->routes;

	gk_tcprobe_round(g);	/* connections of the last round closed */
	for (unsigned i = 0; rt && i < rt->npeers; i++) {
		struct gk_peer *p = &rt->peers[i];

		if (p->waiting)
			failed(g, p);
		send_probe(g, p);
	}
	ev_timer_start(loop, t, g->cfg->probe_ms);
}

static struct gk_peer *peer_by_id(struct gk *g, int64_t id)
{
	for (unsigned i = 0; g->routes && i < g->routes->npeers; i++)
		if (g->routes->peers[i].id == id)
			return &g->routes->peers[i];
	return NULL;
}

static void peer_answered(struct gk *g, int64_t id, uint32_t seq,
			  const struct sockaddr_in *src)
{
	struct gk_peer *p = peer_by_id(g, id);

	if (p && p->waiting && p->seq == seq &&
	    ((const struct sockaddr_in *)&p->to.sa)->sin_addr.s_addr ==
	    src->sin_addr.s_addr)
		answered(g, p);
}

void gk_probe_answer(struct gk *g, const char *buf, size_t len,
		     const struct sockaddr_in *src)
{
	struct sip_msg m;
	struct sip_perr err;
	char cid[64], kind;
	long long id;
	unsigned seq;
	int i;

	if (sip_msg_parse(&m, buf, len, 0, &err) || m.is_request)
		return;
	i = sip_msg_hdr_find(&m, SIP_HDR_CALL_ID, 0);
	if (i >= 0 && m.hdrs[i].value.len < sizeof(cid)) {
		memcpy(cid, m.hdrs[i].value.s, m.hdrs[i].value.len);
		cid[m.hdrs[i].value.len] = '\0';
		if (sscanf(cid, "gk%c-%lld-%u@", &kind, &id, &seq) != 3)
			;	/* not one of ours */
		else if (kind == 'p')
			peer_answered(g, id, seq, src);
		else if (kind == 'g')
			gk_gwprobe_answered(g, id, seq, src);
	}
	sip_msg_release(&m);
}

static void on_readable(struct ev_loop *loop, int fd, unsigned ev, void *arg)
{
	struct sockaddr_in src;
	socklen_t sl;
	char buf[4096];
	ssize_t n;
	(void)loop;
	(void)ev;

	for (int k = 0; k < 64; k++) {	/* bounded per wake-up */
		sl = sizeof(src);
		n = recvfrom(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT,
			     (struct sockaddr *)&src, &sl);
		if (n <= 0)
			return;
		if (src.sin_family == AF_INET)
			gk_probe_answer(arg, buf, (size_t)n, &src);
	}
}

static int open_socket(struct gk *g)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return errno;
	inet_pton(AF_INET, g->host, &a.sin_addr);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)&a, &al)) {
		int rc = errno;

		close(fd);
		return rc;
	}
	g->probe_fd = fd;
	g->probe_port = ntohs(a.sin_port);
	return 0;
}

int gk_probe_start(struct gk *g)
{
	int rc;

	g->probe_fd = -1;
	if (g->cfg->probe_ms == 0 && g->cfg->gw_probe_s == 0)
		return 0;		/* probing off */
	if ((rc = open_socket(g)) != 0)
		return rc;
	if (ev_io_add(g->d->loop, g->probe_fd, EV_READ, on_readable, g)) {
		close(g->probe_fd);
		g->probe_fd = -1;
		return EIO;
	}
	ev_timer_init(&g->probe_tick, on_round, g);
	if (g->cfg->probe_ms)
		ev_timer_start(g->d->loop, &g->probe_tick, g->cfg->probe_ms);
	return 0;
}

void gk_probe_stop(struct gk *g)
{
	gk_tcprobe_stop(g);
	if (g->probe_fd < 0)
		return;
	ev_timer_stop(g->d->loop, &g->probe_tick);
	ev_io_del(g->d->loop, g->probe_fd);
	close(g->probe_fd);
	g->probe_fd = -1;
}
