/* gatekeeper/tcpprobe.c — OPTIONS probes of route peers reached over TCP.
 * Each probe has a connection of its own from the public listen address:
 * non-blocking connect, the OPTIONS written when it connects, the first
 * response framed (at most 4 KB) and handed to probe.c as a UDP answer
 * would be, then closed. Whatever is not done when the next round starts
 * (no connection, no answer, a black hole) is closed then and counts as
 * an unanswered probe: each probe is bounded by probe-interval. At most
 * TCPROBE_MAX connections at once (a peer beyond them is not probed that
 * round), each ~5 KB while it is open. The proxy core and its transport never see these connections. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gatekeeper/gk.h"
#include "log.h"

#define TCPROBE_MAX 256		/* connections at once */
#define TCPROBE_IN 4096		/* bytes of an answer read */

struct tconn {
	int fd;
	unsigned slot;		/* in gk_tcprobe.c */
	struct gk *g;
	struct sockaddr_in peer;
	size_t out_len, out_off, in_len;
	char out[768];
	char in[TCPROBE_IN];
};

struct gk_tcprobe {
	struct tconn *c[TCPROBE_MAX];	/* NULL: free */
	unsigned open;
};

static void conn_close(struct tconn *c)
{
	struct gk_tcprobe *t = c->g->tcprobe;

	ev_io_del(c->g->d->loop, c->fd);
	close(c->fd);
	t->c[c->slot] = NULL;
	t->open--;
	free(c);
}

/* A free slot's index, the table made when needed. 0, ENOSPC, ENOMEM. */
static int conn_slot(struct gk *g, unsigned *slot)
{
	struct gk_tcprobe *t = g->tcprobe;

	if (!t && !(t = g->tcprobe = calloc(1, sizeof(*t))))
		return ENOMEM;
	for (unsigned i = 0; i < TCPROBE_MAX; i++)
		if (!t->c[i]) {
			*slot = i;
			return 0;
		}
	return ENOSPC;
}

/* The first complete message on the connection: an answer to probe.c
 * (CRLF keep-alives before it skipped). 0 when one was handed over or the
 * connection is useless (close it), EAGAIN to read on. */
static int take_answer(struct tconn *c)
{
	struct sip_frame fr;
	int rc;

	while ((rc = sip_frame(c->in, c->in_len, sizeof(c->in), &fr)) == 0 &&
	       fr.kind != SIP_FRAME_MSG) {
		memmove(c->in, c->in + fr.len, c->in_len - fr.len);
		c->in_len -= fr.len;
	}
	if (rc == 0)
		gk_probe_answer(c->g, c->in, fr.len, &c->peer);
	return rc == EAGAIN ? EAGAIN : 0;
}

static void on_readable(struct tconn *c)
{
	ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len,
			 MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		c->in_len += (size_t)n;
		if (take_answer(c) == EAGAIN)
			return;
	}
	conn_close(c);		/* answered, closed by the peer, or garbage */
}

/* Connected (or failed): write what is left of the OPTIONS, then wait
 * for the answer. */
static void on_writable(struct tconn *c)
{
	int err = 0;
	socklen_t el = sizeof(err);
	ssize_t n;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) || err) {
		log_debug("gatekeeper: TCP probe of %s:%u: %s",
			  inet_ntoa(c->peer.sin_addr), ntohs(c->peer.sin_port),
			  strerror(err ? err : errno));
		conn_close(c);
		return;
	}
	n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		 MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	c->out_off += (size_t)n;
	if (c->out_off == c->out_len &&
	    ev_io_mod(c->g->d->loop, c->fd, EV_READ))
		conn_close(c);
}

static void on_io(struct ev_loop *loop, int fd, unsigned ev, void *arg)
{
	struct tconn *c = arg;
	(void)loop;
	(void)fd;

	if (ev & EV_WRITE)
		on_writable(c);
	else
		on_readable(c);
}

/* A non-blocking socket bound to the public address (any port),
 * connecting to c->peer; its port into *lport. 0 or an errno. */
static int conn_open(struct gk *g, struct tconn *c, unsigned *lport)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc = 0;

	if (fd < 0)
		return errno;
	inet_pton(AF_INET, g->host, &a.sin_addr);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)&a, &al) ||
	    (connect(fd, (struct sockaddr *)&c->peer, sizeof(c->peer)) &&
	     errno != EINPROGRESS))
		rc = errno;
	else if (ev_io_add(g->d->loop, fd, EV_WRITE, on_io, c))
		rc = EIO;
	if (rc) {
		close(fd);
		return rc;
	}
	c->fd = fd;
	*lport = ntohs(a.sin_port);
	return 0;
}

int gk_tcprobe_send(struct gk *g, const struct gk_peer *p)
{
	struct tconn *c;
	unsigned slot, lport = 0;
	int rc;

	if (p->to.sa.ss_family != AF_INET)
		return EAFNOSUPPORT;
	if ((rc = conn_slot(g, &slot)) != 0)
		return rc;
	if (!(c = calloc(1, sizeof(*c))))
		return ENOMEM;
	c->g = g;
	c->slot = slot;
	memcpy(&c->peer, &p->to.sa, sizeof(c->peer));
	if ((rc = conn_open(g, c, &lport)) != 0) {
		log_debug("gatekeeper: TCP probe of %s:%u: %s", p->host,
			  p->port, strerror(rc));
		free(c);
		return rc;
	}
	g->tcprobe->c[slot] = c;
	g->tcprobe->open++;
	rc = gk_probe_text(g, &p->to, 'p', p->id, p->seq, lport, c->out,
			   sizeof(c->out), &c->out_len);
	if (rc)
		conn_close(c);
	return rc;
}

void gk_tcprobe_round(struct gk *g)
{
	struct gk_tcprobe *t = g->tcprobe;

	for (unsigned i = 0; t && t->open && i < TCPROBE_MAX; i++)
		if (t->c[i])
			conn_close(t->c[i]);
}

void gk_tcprobe_stop(struct gk *g)
{
	gk_tcprobe_round(g);
	free(g->tcprobe);
	g->tcprobe = NULL;
}
