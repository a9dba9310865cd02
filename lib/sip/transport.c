/* lib/sip/transport.c — UDP and TCP transports for SIP on a lib/event
 * loop: framing, size and idle limits, connection reuse, keep-alives,
 * received/rport, and 400 answers to malformed requests. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>

#include "sip/transport.h"
#include "sip/wbuf.h"
#include "sip/hdr.h"
#include "sip/build.h"

#define UDP_MAX 65507
#define UDP_BUF (UDP_MAX + 1)	/* one more: a datagram that fills it is
				   too large (MSG_TRUNC says so too) */
#define UDP_BATCH 8

struct conn {
	struct conn *next;
	struct sip_tp *tp;
	int fd, connecting, dead;
	uint32_t id;
	struct sip_peer peer;
	char *rbuf, *wbuf;
	size_t rlen, rcap, wlen, wcap;
	unsigned pongs;		/* lone CRLFs in a row (a split ping) */
	int outbound;		/* we opened it (its own budget) */
	int draining;		/* answered and half-closed: reads dropped */
	struct ev_timer idle;	/* no whole message for idle_ms */
	struct ev_timer deadline;	/* a begun message must end in time */
};

struct sip_tp {
	struct ev_loop *loop;
	struct sip_tp_cfg cfg;
	sip_tp_recv_cb cb;
	void *arg;
	int udp_fd, tcp_fd;
	unsigned udp_port, tcp_port;
	struct conn *conns;
	unsigned nconns, nout;
	uint32_t next_id;
	struct sip_tp_stats st;
	struct sip_msg msg;	/* the message handed to cb */
	struct sip_msg scratch;	/* for answers that must be trimmed */
	unsigned tokens;	/* answers left in the bucket */
	uint64_t refilled;	/* loop time of the last refill */
	char *udp_buf;
};

/* ---- addresses ---- */

int sip_peer_set(struct sip_peer *p, enum sip_proto proto,
		 struct sip_str host, unsigned port)
{
	char buf[INET6_ADDRSTRLEN + 2];
	struct sockaddr_in *a4 = (struct sockaddr_in *)&p->sa;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&p->sa;

	if (host.len >= 2 && host.s[0] == '[' && host.s[host.len - 1] == ']') {
		host.s++;
		host.len -= 2;
	}
	if (host.len == 0 || host.len >= sizeof(buf) || port == 0 ||
	    port > 65535)
		return EINVAL;
	memcpy(buf, host.s, host.len);
	buf[host.len] = '\0';
	memset(p, 0, sizeof(*p));
	p->proto = proto;
	if (inet_pton(AF_INET, buf, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		p->salen = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, buf, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		p->salen = sizeof(*a6);
		return 0;
	}
	return EINVAL;
}

/* Dotted quad of a (network order) into buf (16 bytes at least). */
static void ipv4_text(const struct in_addr *a, char *buf)
{
	const unsigned char *b = (const unsigned char *)&a->s_addr;
	char *p = buf;

	for (int i = 0; i < 4; i++) {
		p = sip_put_dec(p, b[i]);
		*p++ = i < 3 ? '.' : '\0';
	}
}

void sip_peer_addr(const struct sip_peer *p, char *buf, size_t cap,
		   unsigned *port)
{
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)&p->sa;
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&p->sa;

	if (p->sa.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &a6->sin6_addr, buf, (socklen_t)cap);
		*port = ntohs(a6->sin6_port);
	} else {
		if (cap >= INET_ADDRSTRLEN)
			ipv4_text(&a4->sin_addr, buf);
		else
			inet_ntop(AF_INET, &a4->sin_addr, buf, (socklen_t)cap);
		*port = ntohs(a4->sin_port);
	}
}

static int same_addr(const struct sip_peer *a, const struct sip_peer *b)
{
	return a->salen == b->salen && memcmp(&a->sa, &b->sa, a->salen) == 0;
}

/* ---- RFC 3581 ---- */

/* The Via text with any valueless ";rport" removed. */
static size_t strip_rport(struct sip_str v, char *dst, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < v.len && o < cap; i++) {
		if (v.s[i] == ';' && i + 6 <= v.len &&
		    strncasecmp(v.s + i + 1, "rport", 5) == 0 &&
		    (i + 6 == v.len || v.s[i + 6] == ';' || v.s[i + 6] == ' ')) {
			i += 5;
			continue;
		}
		dst[o++] = v.s[i];
	}
	return o;
}

/* The new top Via value into out (capacity cap): first with received
 * (and rport filled), then the rest of the line. Returns the length. */
static size_t via_with_received(const struct sip_via *v, struct sip_str first,
				struct sip_str rest, const char *ip,
				unsigned port, char *out, size_t cap)
{
	size_t o = strip_rport(first, out, cap), n = strlen(ip);

	/* cap has room for these (sip_msg_via_received) */
	memcpy(out + o, ";received=", 10);
	memcpy(out + o + 10, ip, n);
	o += 10 + n;
	if (v->has_rport) {
		memcpy(out + o, ";rport=", 7);
		o = (size_t)(sip_put_dec(out + o + 7, port) - out);
	}
	if (rest.len) {
		out[o++] = ',';
		memcpy(out + o, rest.s, rest.len);
		o += rest.len;
	}
	return o;
}

/* Is `host` the IPv4 address of src, written the usual way? Without
 * formatting the address: this runs for every request. */
static int same_ipv4(struct sip_str host, const struct sip_peer *src)
{
	const struct sockaddr_in *a = (const struct sockaddr_in *)&src->sa;
	uint32_t want = ntohl(a->sin_addr.s_addr), got = 0, part = 0;
	unsigned dots = 0, digits = 0;

	if (src->sa.ss_family != AF_INET)
		return 0;
	for (size_t i = 0; i < host.len; i++) {
		char ch = host.s[i];
		if (ch == '.' && digits && dots < 3) {
			got = got << 8 | part;
			part = digits = 0;
			dots++;
		} else if (ch >= '0' && ch <= '9' && digits < 3 &&
			   !(digits && part == 0)) {
			part = part * 10 + (uint32_t)(ch - '0');
			if (part > 255)
				return 0;
			digits++;
		} else {
			return 0;
		}
	}
	return dots == 3 && digits && (got << 8 | part) == want;
}

int sip_msg_via_received(struct sip_msg *m, const struct sip_peer *src)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_VIA, 0), rc;
	struct sip_str first, line, rest;
	struct sip_via v;
	char ip[INET6_ADDRSTRLEN], *out;
	unsigned port;
	size_t pos = 0, cap, n;

	if (i < 0 || sip_msg_via(m, 0, &v))
		return EBADMSG;
	if (v.has_received || (!v.has_rport && same_ipv4(v.host, src)))
		return 0;	/* nothing to add, or set by an upstream hop */
	line = m->hdrs[i].value;
	if (sip_hdr_next_value(line, &pos, &first) != 1)
		return EBADMSG;
	sip_peer_addr(src, ip, sizeof(ip), &port);
	if (sip_str_eq(v.host, ip) && !v.has_rport)
		return 0;
	rest = (struct sip_str){ line.s + pos, line.len - pos };
	cap = first.len + rest.len + INET6_ADDRSTRLEN + 32;
	out = malloc(cap);
	if (!out)
		return ENOMEM;
	n = via_with_received(&v, first, rest, ip, port, out, cap);
	rc = sip_msg_hdr_set(m, (unsigned)i, out, n);
	free(out);
	return rc;
}

/* ---- receiving ---- */

/* Token bucket: answers_per_s per second, the same as burst. */
static int answer_allowed(struct sip_tp *tp)
{
	uint64_t now = ev_now(tp->loop), add;

	add = (now - tp->refilled) * tp->cfg.answers_per_s / 1000;
	if (add) {
		tp->tokens = tp->tokens + add > tp->cfg.answers_per_s ?
			     tp->cfg.answers_per_s : tp->tokens + (unsigned)add;
		tp->refilled = now;
	}
	if (!tp->tokens)
		return 0;
	tp->tokens--;
	return 1;
}

/* The answer to m when copying every Via would not fit: m with its first
 * Via line only (the answer goes there anyway), in tp's scratch message. */
static const struct sip_msg *top_via_only(struct sip_tp *tp,
					  const struct sip_msg *m)
{
	struct sip_msg *s = &tp->scratch;
	int via = 0;

	*s = *m;
	s->nhdrs = 0;
	s->first_ok = 0;
	for (unsigned i = 0; i < m->nhdrs; i++) {
		if (m->hdrs[i].id == SIP_HDR_VIA && via++)
			continue;
		s->hdrs[s->nhdrs++] = m->hdrs[i];
	}
	return s;
}

static void answer_bad(struct sip_tp *tp, const struct sip_msg *m,
		       const struct sip_perr *e, const struct sip_peer *from)
{
	char out[8192];
	size_t n;
	int rc;

	if (!m->is_request || m->method == SIP_ACK || e->status < 400 ||
	    sip_msg_hdr_find(m, SIP_HDR_VIA, 0) < 0) {
		tp->st.rx_dropped++;
		return;
	}
	if (!answer_allowed(tp)) {
		tp->st.answers_limited++;
		return;
	}
	rc = sip_response_write(m, e->status, e->reason, NULL, NULL,
				(struct sip_str){ 0 }, out, sizeof(out), &n);
	if (rc == ENOSPC)
		rc = sip_response_write(top_via_only(tp, m), e->status,
					e->reason, NULL, NULL,
					(struct sip_str){ 0 }, out, sizeof(out),
					&n);
	if (rc || sip_tp_send(tp, from, out, n))
		return;
	tp->st.tx_answers++;
}

static void deliver(struct sip_tp *tp, const char *buf, size_t len,
		    unsigned flags, const struct sip_peer *from)
{
	struct sip_msg *m = &tp->msg;
	struct sip_perr e = { 0 };

	if (tp->cfg.admit && tp->cfg.admit(tp->arg, from, buf, len)) {
		tp->st.rx_refused++;
		return;
	}
	if (sip_msg_parse(m, buf, len, flags, &e) ||
	    (!tp->cfg.lazy && (tp->cfg.lean ? sip_msg_check_lean(m, &e) :
			       sip_msg_check(m, &e)))) {
		tp->st.rx_bad++;
		answer_bad(tp, m, &e, from);
		return;
	}
	tp->st.rx_msgs++;
	if (m->is_request && sip_msg_via_received(m, from)) {
		tp->st.rx_dropped++;
		sip_msg_release(m);
		return;
	}
	tp->cb(tp->arg, m, from);
	sip_msg_release(m);
}

/* One received datagram. */
static void udp_datagram(struct sip_tp *tp, char *buf, size_t n, int trunc,
			 struct sip_peer *from)
{
	if (trunc || n > tp->cfg.max_msg || n > UDP_MAX) {
		tp->st.rx_bad++;
		return;
	}
	if (n <= 4 && (n == 0 || memchr("\r\n", buf[0], 2))) {
		tp->st.rx_pings++;	/* UDP keep-alive: ignore */
		return;
	}
	deliver(tp, buf, n, 0, from);
}

/* Datagrams come UDP_BATCH to a recvmmsg: a short batch means the socket
 * is empty, so a quiet socket costs one call per wake-up, not a second
 * one that says EAGAIN. Bounded: at most 8 batches per wake-up. */
static void on_udp(struct ev_loop *loop, int fd, unsigned ev, void *arg)
{
	struct sip_tp *tp = arg;
	struct mmsghdr mm[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct sip_peer from[UDP_BATCH];
	(void)loop;
	(void)ev;

	for (int round = 0; round < 8; round++) {
		int n;
		memset(mm, 0, sizeof(mm));
		for (int i = 0; i < UDP_BATCH; i++) {
			iov[i].iov_base = tp->udp_buf + (size_t)i * UDP_BUF;
			iov[i].iov_len = UDP_BUF;
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
			mm[i].msg_hdr.msg_name = &from[i].sa;
			mm[i].msg_hdr.msg_namelen = sizeof(from[i].sa);
		}
		n = recvmmsg(fd, mm, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		for (int i = 0; i < n; i++) {
			from[i].salen = mm[i].msg_hdr.msg_namelen;
			from[i].proto = SIP_PROTO_UDP;
			from[i].conn = 0;
			from[i].local = tp->cfg.local;
			udp_datagram(tp, iov[i].iov_base, mm[i].msg_len,
				     (mm[i].msg_hdr.msg_flags & MSG_TRUNC) != 0,
				     &from[i]);
		}
		if (n < UDP_BATCH)
			return;
	}
}

/* ---- TCP connections ---- */

static void conn_close(struct conn *c)
{
	struct sip_tp *tp = c->tp;

	for (struct conn **pp = &tp->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	tp->nconns--;
	tp->nout -= (unsigned)c->outbound;
	tp->st.conns_closed++;
	ev_timer_stop(tp->loop, &c->idle);
	ev_timer_stop(tp->loop, &c->deadline);
	ev_io_del(tp->loop, c->fd);
	close(c->fd);
	free(c->rbuf);
	free(c->wbuf);
	free(c);
}

static void on_idle(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct conn *c = arg;
	(void)loop;
	(void)t;

	c->tp->st.conns_idle++;
	conn_close(c);
}

/* A message begun and not finished in msg_deadline_ms: a trickle does not
 * hold the connection. Also ends the linger of a draining connection. */
static void on_deadline(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct conn *c = arg;
	(void)loop;
	(void)t;

	if (!c->draining)
		c->tp->st.conns_slow++;
	conn_close(c);
}

/* Traffic that counts against idleness: a whole message or keep-alive
 * received, or something sent. Bytes alone do not. */
static void touch(struct conn *c)
{
	ev_timer_start(c->tp->loop, &c->idle, c->tp->cfg.idle_ms);
}

/* Arm the message deadline while a partial message is buffered. */
static void watch_partial(struct conn *c)
{
	if (!c->rlen)
		ev_timer_stop(c->tp->loop, &c->deadline);
	else if (!ev_timer_active(&c->deadline))
		ev_timer_start(c->tp->loop, &c->deadline,
			       c->tp->cfg.msg_deadline_ms);
}

static int conn_flush(struct conn *c)
{
	while (c->wlen) {
		ssize_t n = send(c->fd, c->wbuf, c->wlen, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return errno;
		}
		memmove(c->wbuf, c->wbuf + n, c->wlen - (size_t)n);
		c->wlen -= (size_t)n;
	}
	return ev_io_mod(c->tp->loop, c->fd,
			 EV_READ | (c->wlen ? EV_WRITE : 0));
}

static int conn_queue(struct conn *c, const char *buf, size_t len)
{
	if (c->wlen + len > c->tp->cfg.max_outq)
		return ENOBUFS;
	if (c->wlen + len > c->wcap) {
		size_t cap = c->wcap ? c->wcap : 4096;
		char *w;
		while (cap < c->wlen + len)
			cap *= 2;
		w = realloc(c->wbuf, cap);
		if (!w)
			return ENOMEM;
		c->wbuf = w;
		c->wcap = cap;
	}
	memcpy(c->wbuf + c->wlen, buf, len);
	c->wlen += len;
	touch(c);
	return c->connecting ? 0 : conn_flush(c);
}

/* A message past max_msg: answer 513 from its head when it has one we can
 * answer, half-close, and drop what else comes until the peer closes or a
 * second passes (closing at once could reset the answer away). */
static void answer_too_large(struct conn *c)
{
	struct sip_tp *tp = c->tp;
	struct sip_msg *m = &tp->msg;
	struct sip_perr e = { 0 };

	if (sip_msg_parse(m, c->rbuf, c->rlen, 0, &e) == 0)
		sip_msg_release(m);
	e.status = 513;
	e.reason = "Message Too Large";
	answer_bad(tp, m, &e, &c->peer);
	c->draining = 1;
	c->rlen = 0;
	shutdown(c->fd, SHUT_WR);
	ev_timer_stop(tp->loop, &c->idle);
	ev_timer_start(tp->loop, &c->deadline, 1000);
}

/* Frame and deliver what is buffered. Returns nonzero when c was closed
 * or must be. */
static int conn_consume(struct conn *c)
{
	struct sip_frame f;
	size_t off = 0;
	int rc;

	while ((rc = sip_frame(c->rbuf + off, c->rlen - off, c->tp->cfg.max_msg,
			       &f)) == 0) {
		touch(c);
		if (f.kind == SIP_FRAME_MSG) {
			c->pongs = 0;
			deliver(c->tp, c->rbuf + off, f.len, SIP_PARSE_STREAM,
				&c->peer);
		} else if (f.kind == SIP_FRAME_PING ||
			   (f.kind == SIP_FRAME_PONG && ++c->pongs == 2)) {
			c->pongs = 0;
			c->tp->st.rx_pings++;
			if (conn_queue(c, "\r\n", 2))
				return 1;
		}
		off += f.len;
	}
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
	if (rc == EAGAIN) {
		watch_partial(c);
		return 0;
	}
	c->tp->st.rx_bad++;
	if (rc == EMSGSIZE)
		answer_too_large(c);
	return !c->draining;
}

static void on_conn(struct ev_loop *loop, int fd, unsigned ev, void *arg)
{
	struct conn *c = arg;
	(void)loop;

	if (ev & EV_WRITE) {
		int was_connecting = c->connecting;
		c->connecting = 0;
		if (conn_flush(c)) {
			c->tp->st.tx_errors++;
			if (was_connecting && c->outbound && c->tp->cfg.failed)
				c->tp->cfg.failed(c->tp->arg, &c->peer);
			conn_close(c);
			return;
		}
	}
	if (!(ev & EV_READ))
		return;
	for (;;) {
		ssize_t n = read(fd, c->rbuf + c->rlen, c->rcap - c->rlen);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		if (c->draining) {
			continue;	/* the answer is out: drop the rest */
		}
		c->rlen += (size_t)n;
		if (conn_consume(c) || c->dead) {
			conn_close(c);
			return;
		}
	}
}

static unsigned conns_from(const struct sip_tp *tp, const struct sip_peer *p)
{
	const struct sockaddr_in *a = (const struct sockaddr_in *)&p->sa;
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&p->sa;
	unsigned n = 0;

	for (const struct conn *c = tp->conns; c; c = c->next) {
		const struct sockaddr_storage *b = &c->peer.sa;
		if (c->outbound || b->ss_family != p->sa.ss_family)
			continue;
		if (b->ss_family == AF_INET ? ((const struct sockaddr_in *)b)->
		    sin_addr.s_addr == a->sin_addr.s_addr :
		    memcmp(&((const struct sockaddr_in6 *)b)->sin6_addr,
			   &a6->sin6_addr, sizeof(a6->sin6_addr)) == 0)
			n++;
	}
	return n;
}

/* Inbound connections: max_conns in all, max_conns_per_src from one
 * address; outbound ones have their own max_out_conns, so a crowd of idle
 * callers cannot stop the element from reaching its next hops. */
static int conn_allowed(const struct sip_tp *tp, const struct sip_peer *p,
			int outbound)
{
	if (outbound)
		return tp->nout < tp->cfg.max_out_conns;
	return tp->nconns - tp->nout < tp->cfg.max_conns &&
	       conns_from(tp, p) < tp->cfg.max_conns_per_src;
}

static struct conn *conn_new(struct sip_tp *tp, int fd,
			     const struct sip_peer *peer, int outbound)
{
	struct conn *c;

	if (!conn_allowed(tp, peer, outbound)) {
		tp->st.conns_refused++;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->rcap = tp->cfg.max_msg + 4;
	c->rbuf = malloc(c->rcap);
	if (!c->rbuf || ev_io_add(tp->loop, fd, EV_READ, on_conn, c)) {
		free(c->rbuf);
		free(c);
		return NULL;
	}
	c->tp = tp;
	c->fd = fd;
	c->peer = *peer;
	c->peer.proto = SIP_PROTO_TCP;
	c->peer.local = tp->cfg.local;
	c->id = c->peer.conn = ++tp->next_id ? tp->next_id : ++tp->next_id;
	ev_timer_init(&c->idle, on_idle, c);
	ev_timer_init(&c->deadline, on_deadline, c);
	touch(c);
	c->outbound = outbound;
	c->next = tp->conns;
	tp->conns = c;
	tp->nconns++;
	tp->nout += (unsigned)outbound;
	return c;
}

static void on_accept(struct ev_loop *loop, int fd, unsigned ev, void *arg)
{
	struct sip_tp *tp = arg;
	(void)loop;
	(void)ev;

	for (int i = 0; i < 16; i++) {
		struct sip_peer p = { .salen = sizeof(p.sa) };
		int cfd = accept4(fd, (struct sockaddr *)&p.sa, &p.salen,
				  SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			return;
		p.proto = SIP_PROTO_TCP;
		p.local = tp->cfg.local;
		if (tp->cfg.admit && tp->cfg.admit(tp->arg, &p, NULL, 0)) {
			tp->st.rx_refused++;
			close(cfd);
			continue;
		}
		if (!conn_new(tp, cfd, &p, 0)) {
			close(cfd);
			continue;
		}
		tp->st.conns_accepted++;
	}
}

static struct conn *conn_find(struct sip_tp *tp, const struct sip_peer *to)
{
	struct conn *by_addr = NULL;

	for (struct conn *c = tp->conns; c; c = c->next) {
		if (c->dead || c->draining)
			continue;
		if (to->conn && c->id == to->conn)
			return c;
		if (!by_addr && same_addr(&c->peer, to))
			by_addr = c;
	}
	return by_addr;
}

static int conn_open(struct sip_tp *tp, const struct sip_peer *to,
		     struct conn **out)
{
	int fd = socket(to->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
			SOCK_CLOEXEC, 0), rc;
	struct conn *c;

	if (fd < 0)
		return errno;
	if (connect(fd, (const struct sockaddr *)&to->sa, to->salen) < 0 &&
	    errno != EINPROGRESS) {
		rc = errno;
		close(fd);
		return rc;
	}
	c = conn_new(tp, fd, to, 1);
	if (!c) {
		close(fd);
		return tp->nout >= tp->cfg.max_out_conns ? EMFILE : ENOMEM;
	}
	c->connecting = 1;
	tp->st.conns_opened++;
	ev_io_mod(tp->loop, fd, EV_READ | EV_WRITE);
	*out = c;
	return 0;
}

int sip_tp_send(struct sip_tp *tp, const struct sip_peer *to,
		const char *buf, size_t len)
{
	struct conn *c;
	int rc;

	if (to->proto == SIP_PROTO_UDP) {
		if (tp->udp_fd < 0)
			return EPROTONOSUPPORT;
		if (len > UDP_MAX)
			return EMSGSIZE;
		if (sendto(tp->udp_fd, buf, len, 0,
			   (const struct sockaddr *)&to->sa, to->salen) < 0) {
			tp->st.tx_errors++;
			return errno;
		}
		return 0;
	}
	if (tp->tcp_fd < 0)
		return EPROTONOSUPPORT;
	c = conn_find(tp, to);
	if (!c && (rc = conn_open(tp, to, &c)) != 0)
		return rc;
	rc = conn_queue(c, buf, len);
	if (rc && rc != ENOBUFS) {
		/* Not closed here: we may be inside this connection's own
		 * callback. The shutdown wakes on_conn, which closes it. */
		tp->st.tx_errors++;
		c->dead = 1;
		shutdown(c->fd, SHUT_RDWR);
	}
	return rc;
}

/* ---- setup ---- */

static int bind_socket(struct sip_tp *tp, int type, unsigned port, int *fdp,
		       unsigned *bound)
{
	struct sip_peer p;
	int fd, one = 1, rc;

	if (sip_peer_set(&p, SIP_PROTO_UDP, (struct sip_str){ tp->cfg.host,
			 strlen(tp->cfg.host) }, port ? port : 1))
		return EINVAL;
	if (!port)
		((struct sockaddr_in *)&p.sa)->sin_port = 0; /* same offset v6 */
	fd = socket(p.sa.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&p.sa, p.salen) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 128) < 0)) {
		rc = errno;
		close(fd);
		return rc;
	}
	p.salen = sizeof(p.sa);
	getsockname(fd, (struct sockaddr *)&p.sa, &p.salen);
	*bound = ntohs(((struct sockaddr_in *)&p.sa)->sin_port);
	*fdp = fd;
	return 0;
}

static void apply_defaults(struct sip_tp_cfg *c)
{
	if (!c->max_msg || c->max_msg > SIP_MAX_MSG)
		c->max_msg = SIP_MAX_MSG;
	if (!c->idle_ms)
		c->idle_ms = 300000;
	if (!c->max_conns)
		c->max_conns = 256;
	if (!c->max_out_conns)
		c->max_out_conns = 256;
	if (!c->max_conns_per_src)
		c->max_conns_per_src = 32;
	if (!c->msg_deadline_ms)
		c->msg_deadline_ms = 10000;
	if (!c->max_outq)
		c->max_outq = 256 * 1024;
	if (!c->answers_per_s)
		c->answers_per_s = 50;
}

static int open_sockets(struct sip_tp *tp)
{
	unsigned port = tp->cfg.port;
	int rc;

	if (tp->cfg.udp) {
		rc = bind_socket(tp, SOCK_DGRAM, port, &tp->udp_fd,
				 &tp->udp_port);
		if (rc == 0 && tp->cfg.udp_rcvbuf) {
			int v = tp->cfg.udp_rcvbuf > INT32_MAX / 2 ?
				INT32_MAX / 2 : (int)tp->cfg.udp_rcvbuf;

			/* best effort: the kernel caps it at rmem_max */
			(void)setsockopt(tp->udp_fd, SOL_SOCKET, SO_RCVBUF, &v,
					 sizeof(v));
		}
		if (rc || (rc = ev_io_add(tp->loop, tp->udp_fd, EV_READ,
					  on_udp, tp)) != 0)
			return rc;
		port = port ? port : tp->udp_port;
	}
	if (tp->cfg.tcp) {
		rc = bind_socket(tp, SOCK_STREAM, port, &tp->tcp_fd,
				 &tp->tcp_port);
		if (rc || (rc = ev_io_add(tp->loop, tp->tcp_fd, EV_READ,
					  on_accept, tp)) != 0)
			return rc;
	}
	return 0;
}

int sip_tp_open(struct ev_loop *loop, const struct sip_tp_cfg *cfg,
		sip_tp_recv_cb cb, void *arg, struct sip_tp **out)
{
	struct sip_tp *tp;
	int rc;

	if (!cfg->host || !cb || (!cfg->udp && !cfg->tcp))
		return EINVAL;
	tp = calloc(1, sizeof(*tp));
	if (!tp)
		return ENOMEM;
	tp->loop = loop;
	tp->cfg = *cfg;
	apply_defaults(&tp->cfg);
	tp->cb = cb;
	tp->arg = arg;
	tp->udp_fd = tp->tcp_fd = -1;
	tp->tokens = tp->cfg.answers_per_s;
	tp->refilled = ev_now(loop);
	tp->udp_buf = malloc((size_t)UDP_BATCH * UDP_BUF);	/* pages
				   are touched only as far as datagrams go */
	rc = tp->udp_buf ? open_sockets(tp) : ENOMEM;
	if (rc) {
		sip_tp_close(tp);
		return rc;
	}
	*out = tp;
	return 0;
}

void sip_tp_close(struct sip_tp *tp)
{
	if (!tp)
		return;
	while (tp->conns)
		conn_close(tp->conns);
	if (tp->udp_fd >= 0) {
		ev_io_del(tp->loop, tp->udp_fd);
		close(tp->udp_fd);
	}
	if (tp->tcp_fd >= 0) {
		ev_io_del(tp->loop, tp->tcp_fd);
		close(tp->tcp_fd);
	}
	free(tp->udp_buf);
	free(tp);
}

unsigned sip_tp_port(const struct sip_tp *tp, enum sip_proto proto)
{
	return proto == SIP_PROTO_UDP ? tp->udp_port : tp->tcp_port;
}

const struct sip_tp_stats *sip_tp_stats(const struct sip_tp *tp)
{
	return &tp->st;
}

unsigned sip_tp_conns(const struct sip_tp *tp)
{
	return tp->nconns;
}
