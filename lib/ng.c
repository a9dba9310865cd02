/* lib/ng.c — rtpengine ng client: cookies, retransmission, deadline,
 * instance set with down-marking and ping probes. See ng.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "ng.h"

#define COOKIE_MAX 40

struct ng_req {
	struct ng_set *s;
	struct ev_timer t;
	unsigned slot, gen, inst, sends;
	int busy;
	ng_cb cb;
	void *arg;
	char *buf;
	size_t len;
};

struct ng_inst {
	int fd;
	int down;
	int pinging;
	char name[48];
};

struct ng_set {
	struct ev_loop *loop;
	struct ng_cfg cfg;
	struct ng_inst inst[NG_MAX_INSTANCES];
	unsigned n;
	uint32_t rnd;		/* cookie prefix: this process */
	struct ng_req *reqs;	/* cfg.max_pending slots */
	unsigned *free_slots, nfree;
	struct ev_timer ping;
	struct ng_stats st;
	char rx[NG_MAX_DGRAM + 1];
	struct ben_node nodes[NG_MAX_NODES];
};

static void defaults(struct ng_cfg *c)
{
	if (!c->timeout_ms)
		c->timeout_ms = 1000;
	if (!c->ping_ms)
		c->ping_ms = 1000;
	if (!c->max_pending)
		c->max_pending = 4096;
}

static unsigned retr_ms(const struct ng_set *s)
{
	unsigned ms = s->cfg.timeout_ms / (s->cfg.retries + 1);

	return ms ? ms : 1;
}

/* ---- requests ---- */

static void req_release(struct ng_set *s, struct ng_req *r)
{
	ev_timer_stop(s->loop, &r->t);
	free(r->buf);
	r->buf = NULL;
	r->busy = 0;
	r->gen++;
	s->free_slots[s->nfree++] = r->slot;
}

static void finish(struct ng_set *s, struct ng_req *r, struct ng_answer *a)
{
	ng_cb cb = r->cb;
	void *arg = r->arg;

	a->instance = r->inst;
	req_release(s, r);
	cb(arg, a);
}

static void on_retr(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct ng_req *r = arg;
	struct ng_set *s = r->s;
	struct ng_answer a = { .err = ETIMEDOUT };

	if (r->sends > s->cfg.retries) {
		s->st.timeouts++;
		if (!s->inst[r->inst].down)
			log_warnx("ng: %s does not answer: marked down",
				  s->inst[r->inst].name);
		s->inst[r->inst].down = 1;
		finish(s, r, &a);
		return;
	}
	r->sends++;
	s->st.retransmits++;
	(void)send(s->inst[r->inst].fd, r->buf, r->len, 0);
	ev_timer_start(loop, t, retr_ms(s));
}

static int cookie_of(const struct ng_set *s, const struct ng_req *r, char *c)
{
	return snprintf(c, COOKIE_MAX, "%08x_%x_%x", s->rnd, r->slot, r->gen);
}

int ng_send(struct ng_set *s, unsigned idx, const char *msg, size_t len,
	    ng_cb cb, void *arg, struct ng_req **out)
{
	char cookie[COOKIE_MAX];
	struct ng_req *r;
	int k;

	if (idx >= s->n || !cb || len > NG_MAX_DGRAM - COOKIE_MAX)
		return EINVAL;
	if (!s->nfree)
		return EBUSY;
	r = &s->reqs[s->free_slots[s->nfree - 1]];
	k = cookie_of(s, r, cookie);
	if (!(r->buf = malloc((size_t)k + 1 + len)))
		return ENOMEM;
	s->nfree--;
	memcpy(r->buf, cookie, (size_t)k);
	r->buf[k] = ' ';
	memcpy(r->buf + k + 1, msg, len);
	r->len = (size_t)k + 1 + len;
	r->inst = idx;
	r->cb = cb;
	r->arg = arg;
	r->sends = 1;
	r->busy = 1;
	s->st.sent++;
	(void)send(s->inst[idx].fd, r->buf, r->len, 0);	/* lost: retransmitted */
	ev_timer_start(s->loop, &r->t, retr_ms(s));
	if (out)
		*out = r;
	return 0;
}

void ng_cancel(struct ng_set *s, struct ng_req *r)
{
	if (r && r->busy)
		req_release(s, r);
}

/* ---- answers ---- */

/* The request a cookie names, or NULL (unknown, old, another process). */
static struct ng_req *req_of_cookie(struct ng_set *s, const char *c, size_t n,
				    unsigned inst)
{
	unsigned rnd, slot, gen;
	char tmp[COOKIE_MAX], end;
	struct ng_req *r;

	if (n == 0 || n >= sizeof(tmp))
		return NULL;
	memcpy(tmp, c, n);
	tmp[n] = '\0';
	if (sscanf(tmp, "%8x_%x_%x%c", &rnd, &slot, &gen, &end) != 3 ||
	    rnd != s->rnd || slot >= s->cfg.max_pending)
		return NULL;
	r = &s->reqs[slot];
	return r->busy && r->gen == gen && r->inst == inst ? r : NULL;
}

static void answer_of(struct ng_set *s, const char *body, size_t n,
		      struct ng_answer *a)
{
	const struct ben_node *res, *why;
	unsigned cnt;

	a->nodes = s->nodes;
	if (ben_decode(body, n, s->nodes, NG_MAX_NODES, &cnt) ||
	    !(res = ben_dict_get(s->nodes, 0, "result")) ||
	    res->type != BEN_STR) {
		a->err = EBADMSG;
		return;
	}
	if (ben_str_is(res, "ok") || ben_str_is(res, "pong"))
		return;
	a->err = EPROTO;
	why = ben_dict_get(s->nodes, 0, "error-reason");
	if (why && why->type == BEN_STR) {
		a->reason = why->s;
		a->reason_len = why->len;
	}
}

static void on_datagram(struct ng_set *s, unsigned inst, size_t n)
{
	const char *sp = memchr(s->rx, ' ', n);
	struct ng_answer a = { 0 };
	struct ng_req *r;

	r = sp ? req_of_cookie(s, s->rx, (size_t)(sp - s->rx), inst) : NULL;
	if (!r) {
		s->st.late++;
		return;
	}
	s->inst[inst].down = 0;	/* it answers */
	answer_of(s, sp + 1, n - (size_t)(sp + 1 - s->rx), &a);
	if (a.err == EBADMSG)
		s->st.bad++;
	else if (a.err)
		s->st.errors++;
	else
		s->st.answered++;
	finish(s, r, &a);
}

static void on_read(struct ev_loop *loop, int fd, unsigned ev, void *arg)
{
	struct ng_set *s = arg;
	unsigned i;
	ssize_t n;
	(void)loop;
	(void)ev;

	for (i = 0; i < s->n && s->inst[i].fd != fd; i++)
		;
	if (i == s->n)
		return;
	for (int k = 0; k < 64; k++) {	/* bounded: share the loop */
		n = recv(fd, s->rx, NG_MAX_DGRAM, 0);
		if (n < 0)
			return;	/* EAGAIN, or ECONNREFUSED: the deadline tells */
		on_datagram(s, i, (size_t)n);
	}
}

/* ---- instances ---- */

static void on_pong(void *arg, const struct ng_answer *a)
{
	struct ng_inst *in = arg;

	in->pinging = 0;
	if (a->err != ETIMEDOUT && in->down == 0)
		log_info("ng: %s answers again: up", in->name);
}

static void on_ping(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	static const char ping[] = "d7:command4:pinge";
	struct ng_set *s = arg;

	for (unsigned i = 0; i < s->n; i++) {
		struct ng_inst *in = &s->inst[i];
		if (in->down && !in->pinging &&
		    ng_send(s, i, ping, sizeof(ping) - 1, on_pong, in, NULL) == 0)
			in->pinging = 1;
	}
	ev_timer_start(loop, t, s->cfg.ping_ms);
}

static int inst_open(struct ng_set *s, struct ng_inst *in,
		     const struct conf_addr *a)
{
	int rc;

	snprintf(in->name, sizeof(in->name), "%s", a->text);
	in->fd = socket(a->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
			SOCK_CLOEXEC, 0);
	if (in->fd < 0)
		return errno;
	if (connect(in->fd, (const struct sockaddr *)&a->sa, a->len) < 0)
		return errno;
	rc = ev_io_add(s->loop, in->fd, EV_READ, on_read, s);
	if (rc) {
		close(in->fd);
		in->fd = -1;
	}
	return rc;
}

static int slots_new(struct ng_set *s)
{
	unsigned m = s->cfg.max_pending;

	s->reqs = calloc(m, sizeof(*s->reqs));
	s->free_slots = calloc(m, sizeof(*s->free_slots));
	if (!s->reqs || !s->free_slots)
		return ENOMEM;
	for (unsigned i = 0; i < m; i++) {
		s->reqs[i].s = s;
		s->reqs[i].slot = i;
		ev_timer_init(&s->reqs[i].t, on_retr, &s->reqs[i]);
		s->free_slots[s->nfree++] = m - 1 - i;
	}
	return 0;
}

int ng_set_new(struct ev_loop *loop, const struct ng_cfg *cfg,
	       const struct conf_addr *addrs, unsigned n,
	       struct ng_set **out)
{
	struct ng_set *s;
	int rc = 0;

	if (n == 0 || n > NG_MAX_INSTANCES)
		return EINVAL;
	if (!(s = calloc(1, sizeof(*s))))
		return ENOMEM;
	s->loop = loop;
	s->cfg = *cfg;
	defaults(&s->cfg);
	if (getrandom(&s->rnd, sizeof(s->rnd), 0) != sizeof(s->rnd))
		s->rnd = (uint32_t)getpid() ^ (uint32_t)ev_now(loop);
	for (unsigned i = 0; i < NG_MAX_INSTANCES; i++)
		s->inst[i].fd = -1;
	rc = slots_new(s);
	for (unsigned i = 0; rc == 0 && i < n; i++, s->n++)
		rc = inst_open(s, &s->inst[i], &addrs[i]);
	if (rc) {
		ng_set_free(s);
		return rc;
	}
	ev_timer_init(&s->ping, on_ping, s);
	ev_timer_start(loop, &s->ping, s->cfg.ping_ms);
	*out = s;
	return 0;
}

void ng_set_free(struct ng_set *s)
{
	if (!s)
		return;
	ev_timer_stop(s->loop, &s->ping);
	for (unsigned i = 0; s->reqs && i < s->cfg.max_pending; i++)
		if (s->reqs[i].busy)
			req_release(s, &s->reqs[i]);
	for (unsigned i = 0; i < NG_MAX_INSTANCES; i++) {
		if (s->inst[i].fd < 0)
			continue;
		ev_io_del(s->loop, s->inst[i].fd);
		close(s->inst[i].fd);
	}
	free(s->reqs);
	free(s->free_slots);
	free(s);
}

/* FNV-1a: stable across restarts, so a call keeps its instance. */
static uint64_t hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	while (n--) {
		h ^= (unsigned char)*p++;
		h *= 1099511628211ULL;
	}
	return h;
}

int ng_pick(const struct ng_set *s, const char *callid, size_t len,
	    unsigned *idx)
{
	unsigned up = 0, k;

	for (unsigned i = 0; i < s->n; i++)
		up += !s->inst[i].down;
	if (!up)
		return ENETDOWN;
	k = (unsigned)(hash(callid, len) % up);
	for (unsigned i = 0; i < s->n; i++)
		if (!s->inst[i].down && k-- == 0) {
			*idx = i;
			return 0;
		}
	return ENETDOWN;
}

int ng_up(const struct ng_set *s, unsigned idx)
{
	return idx < s->n && !s->inst[idx].down;
}

unsigned ng_count(const struct ng_set *s)
{
	return s->n;
}

const struct ng_stats *ng_stats(const struct ng_set *s)
{
	return &s->st;
}
