/* lib/sip/core.c — the forking proxy core: forks (one server transaction,
 * N client branches), best-response choice, CANCEL in both directions,
 * and the stateless paths for ACKs and stray responses. See core.h. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/core.h"
#include "sip/build.h"
#include "sip/hangup.h"
#include "sip/hdr.h"
#include "sip/wbuf.h"

#define BUF 16384
#define AUTH_MAX 8

enum br_state { BR_IDLE, BR_CALLING, BR_PROCEEDING, BR_DONE };

struct branch {
	struct sip_fork *f;
	struct sip_tsx *cli;
	struct sip_peer to;
	char *ruri;
	size_t ruri_len;
	unsigned q;
	enum br_state state;
	int status;		/* final (received or counted) */
	int cancel;		/* CANCEL wanted: 1 plain, 2 with Reason 200 */
};

struct sip_fork {
	struct sip_core *c;
	struct sip_tsx *srv;
	struct sip_msg *req;	/* the server transaction's copy, edited;
				   branches are made from it; NULL once that
				   transaction ended */
	struct sip_str ruri0;	/* its Request-URI as received */
	enum sip_proto up_proto;
	unsigned up_local;	/* the local the request came in on */
	int hidden;		/* a branch left by a hiding local */
	int rr_in;		/* hidden: our incoming-side Record-Route to
				   put back into responses (-1: none) */
	char base[SIP_BRANCH_LEN];
	unsigned n, started;
	int serial, final, cancelled, serial_stop;
	unsigned winner;	/* 1 + the branch whose 2xx went up; 0 none */
	struct sip_msg *best;	/* best final so far, or NULL */
	int best_status;	/* its status, or a counted 408/503/487 */
	unsigned nauth;		/* 401/407 challenges to merge */
	unsigned held, held2xx;	/* responses the TU holds (ops->response) */
	struct { enum sip_hdr_id id; char *v; } auth[AUTH_MAX];
	void *user;
	/* Branches (sip_fork_add): one inline, an array once a second is
	 * added (also after the start: grow_branches moves the client
	 * transactions' pointers along). A fork lingers with its
	 * transactions (up to 64*T1 after the call's answer): room for
	 * SIP_FORK_MAX in every one was most of a busy proxy's memory. */
	struct branch *b;
	unsigned cap;
	struct branch inl[1];
};

/* A local address: its Via sent-by and its Record-Route. */
struct local {
	const char *host;
	size_t hostlen;
	unsigned port;
	int hide;
	char rr[128];
	size_t rrlen;
};

struct sip_core {
	struct sip_core_cfg cfg;
	const struct sip_core_ops *ops;
	void *arg;
	struct sip_tsx_layer *tsx;
	struct sip_proxy_self self;
	struct local loc[SIP_CORE_LOCALS_MAX];
	unsigned nloc;
	struct sip_core_stats st;
};

/* Headers taken out of a message for a while (topology hiding) with the
 * index each had. */
struct hidden {
	unsigned n;
	unsigned at[SIP_MAX_HDRS];
	struct sip_hdr h[SIP_MAX_HDRS];
};

static const char reason_200[] =
	"Reason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n";

/* ---- helpers ---- */

static int is_client_tsx(const struct sip_tsx *t)
{
	enum sip_tsx_kind k = sip_tsx_kind(t);

	return k == SIP_TSX_UAC_INVITE || k == SIP_TSX_UAC;
}

static int self_hostport(const struct sip_core *c, struct sip_str host,
			 unsigned port)
{
	for (unsigned i = 0; i < c->nloc; i++)
		if (sip_str_ieq(host, c->loc[i].host) &&
		    (port ? port : 5060) == c->loc[i].port)
			return 1;
	return 0;
}

static const struct local *local_of(const struct sip_core *c, unsigned i)
{
	return &c->loc[i < c->nloc ? i : 0];
}

/* Take every Via and Record-Route line out of m into *h. */
static void hide_lines(struct sip_msg *m, struct hidden *h)
{
	unsigned k = 0;

	h->n = 0;
	for (unsigned i = 0; i < m->nhdrs; i++) {
		if (m->hdrs[i].id == SIP_HDR_VIA ||
		    m->hdrs[i].id == SIP_HDR_RECORD_ROUTE) {
			h->at[h->n] = i;
			h->h[h->n++] = m->hdrs[i];
		} else {
			m->hdrs[k++] = m->hdrs[i];
		}
	}
	m->nhdrs = k;
	m->via0_memo = m->first_ok = 0;
}

/* Put what hide_lines took back where it was. */
static void unhide_lines(struct sip_msg *m, const struct hidden *h)
{
	for (unsigned k = 0; k < h->n; k++) {
		unsigned at = h->at[k];
		memmove(&m->hdrs[at + 1], &m->hdrs[at],
			(m->nhdrs - at) * sizeof(m->hdrs[0]));
		m->hdrs[at] = h->h[k];
		m->nhdrs++;
	}
	m->via0_memo = m->first_ok = 0;
}

/* Remove our own Via from a response; 0 or EBADMSG. */
static int strip_via(struct sip_msg *m)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_VIA, 0);

	return i < 0 || sip_msg_hdr_del_first_value(m, (unsigned)i) ?
	       EBADMSG : 0;
}

/* Lower is better (16.7 step 6 and the preferences of the issue). */
static int rank(int st)
{
	if (st >= 600)
		return 0;
	if (st < 400)
		return 100;
	switch (st) {
	case 401: case 407: return 200;
	case 486: return 210;
	case 415: case 420: case 484: return 220;
	case 480: return 240;
	case 408: return 250;
	case 487: return 260;
	default: return st < 500 ? 230 : 300;
	}
}

/* ---- sending upstream ---- */

static int respond_text(struct sip_fork *f, const char *buf, size_t n,
			int status)
{
	int rc;

	if (!f->srv)
		return EINVAL;
	rc = sip_tsx_respond(f->srv, buf, n);
	if (rc == 0 && status >= 200 && !f->final) {
		f->final = status;
		if (f->c->ops->final)
			f->c->ops->final(f->c->arg, f, status);
	}
	return rc;
}

int sip_fork_reply(struct sip_fork *f, int status, const char *reason,
		   const char *extra)
{
	char out[BUF];
	size_t n;
	int rc;

	if (f->final || !f->srv)
		return EINVAL;
	rc = sip_response_write(sip_tsx_request(f->srv), status, reason,
				status > 100 ? f->c->cfg.to_tag : NULL, extra,
				(struct sip_str){ 0 }, out, sizeof(out), &n);
	if (rc == 0 && (rc = respond_text(f, out, n, status)) == 0)
		f->c->st.answered++;
	return rc;
}

/* A response without a server transaction: to the next Via (16.11,
 * RFC 3581 aware), and only if the top Via is ours. */
static void forward_stateless(struct sip_core *c, struct sip_msg *m,
			      enum sip_proto proto)
{
	struct sip_peer to;
	struct sip_str host;
	struct sip_via v;
	unsigned port;
	char out[BUF];
	size_t n;

	if (sip_msg_via(m, 0, &v) || !self_hostport(c, v.host, v.port)) {
		c->st.stray_dropped++;
		return;
	}
	if (sip_proxy_response_target(m, &host, &port) ||
	    sip_peer_set(&to, proto, host, port) || strip_via(m) ||
	    (c->ops->response_out &&
	     c->ops->response_out(c->arg, NULL, m, &to)) ||
	    sip_msg_serialize(m, out, sizeof(out), &n) ||
	    c->ops->send(c->arg, &to, out, n))
		return;
	c->st.stray_fwd++;
}

/* Insert the lines of `from` with id at index *at of m, in order. */
static int copy_lines(struct sip_msg *m, unsigned *at,
		      const struct sip_msg *from, enum sip_hdr_id id)
{
	int rc = 0;

	for (int i = sip_msg_hdr_find(from, id, 0); rc == 0 && i >= 0;
	     i = sip_msg_hdr_find(from, id, (unsigned)i + 1))
		rc = sip_msg_hdr_insert(m, (*at)++, id, NULL,
					from->hdrs[i].value.s,
					from->hdrs[i].value.len);
	return rc;
}

/* A response to a hidden request (our Via gone): the request's Vias in
 * place of any it has, and after its Record-Routes our incoming-side one
 * and the request's. 0 or an errno of the edits. */
static int unhide_response(struct sip_fork *f, struct sip_msg *m)
{
	const struct sip_msg *req = f->req;
	unsigned at = 0;
	int i, last = -1, rc;

	if (!f->hidden || !req)
		return 0;
	while ((i = sip_msg_hdr_find(m, SIP_HDR_VIA, 0)) >= 0)
		sip_msg_hdr_del(m, (unsigned)i);
	if ((rc = copy_lines(m, &at, req, SIP_HDR_VIA)) != 0)
		return rc;
	for (i = sip_msg_hdr_find(m, SIP_HDR_RECORD_ROUTE, 0); i >= 0;
	     i = sip_msg_hdr_find(m, SIP_HDR_RECORD_ROUTE, (unsigned)i + 1))
		last = i;
	if (last < 0)
		return 0;	/* no dialog-forming answer */
	at = (unsigned)last + 1;
	if (f->rr_in >= 0) {
		const struct local *l = local_of(f->c, (unsigned)f->rr_in);
		if ((rc = sip_msg_hdr_insert(m, at++, SIP_HDR_RECORD_ROUTE,
					     NULL, l->rr, l->rrlen)) != 0)
			return rc;
	}
	return copy_lines(m, &at, req, SIP_HDR_RECORD_ROUTE);
}

/* Forward a branch's response upstream (our Via removed): through the
 * server transaction while it can take it (no final yet, or more 2xx
 * after a 2xx), else a 2xx statelessly; anything else after a final is
 * dropped. */
static void forward_up(struct sip_fork *f, struct sip_msg *m)
{
	int ok2xx = m->status >= 200 && m->status < 300;
	struct sip_peer to;
	char out[BUF];
	size_t n;

	if (f->srv && (!f->final || (ok2xx && f->final < 300))) {
		to = *sip_tsx_peer(f->srv);
		if (strip_via(m) == 0 && unhide_response(f, m) == 0 &&
		    (!f->c->ops->response_out ||
		     f->c->ops->response_out(f->c->arg, f, m, &to) == 0) &&
		    sip_msg_serialize(m, out, sizeof(out), &n) == 0)
			respond_text(f, out, n, m->status);
		return;
	}
	if (ok2xx)
		forward_stateless(f->c, m, f->up_proto);
}

/* Keep a 401/407's challenges for merging (16.7 step 7). */
static void keep_auth(struct sip_fork *f, const struct sip_msg *m)
{
	enum sip_hdr_id id = m->status == 401 ? SIP_HDR_WWW_AUTHENTICATE :
			     SIP_HDR_PROXY_AUTHENTICATE;

	for (int i = sip_msg_hdr_find(m, id, 0); i >= 0 && f->nauth < AUTH_MAX;
	     i = sip_msg_hdr_find(m, id, (unsigned)i + 1)) {
		char *v = strndup(m->hdrs[i].value.s, m->hdrs[i].value.len);
		if (!v)
			return;
		f->auth[f->nauth].id = id;
		f->auth[f->nauth++].v = v;
	}
}

static void merge_auth(struct sip_fork *f, struct sip_msg *m)
{
	int i;

	while ((i = sip_msg_hdr_find(m, SIP_HDR_WWW_AUTHENTICATE, 0)) >= 0 ||
	       (i = sip_msg_hdr_find(m, SIP_HDR_PROXY_AUTHENTICATE, 0)) >= 0)
		sip_msg_hdr_del(m, (unsigned)i);
	for (unsigned k = 0; k < f->nauth; k++)
		sip_msg_hdr_add(m, f->auth[k].id, f->auth[k].v);
}

/* The best final goes upstream (all branches ended, or a 6xx). */
static void send_best(struct sip_fork *f)
{
	int st = f->best_status ? f->best_status : 480;

	if (f->final || !f->srv || f->held2xx)
		return;
	if (!f->best) {
		sip_fork_reply(f, st == 503 ? 500 : st, NULL, NULL);
		return;
	}
	if (st == 401 || st == 407)
		merge_auth(f, f->best);
	if (st == 503) {
		sip_fork_reply(f, 500, NULL, NULL);
		return;
	}
	forward_up(f, f->best);
}

/* ---- branches ---- */

static void send_cancel(struct branch *b)
{
	struct sip_tsx *t;

	if (!b->cli)
		return;
	if (sip_tsx_cancel(b->cli, b->cancel == 2 ? reason_200 : NULL, NULL,
			   &t) == 0)
		b->f->c->st.cancels++;
	b->cancel = 0;
}

static void complete(struct sip_fork *f);

/* Branch b has a final: a received one (m) or a counted one (m NULL). */
static void branch_final(struct branch *b, int status, struct sip_msg *m)
{
	struct sip_fork *f = b->f;

	b->state = BR_DONE;
	b->status = status;
	if (m && (status == 401 || status == 407))
		keep_auth(f, m);
	if (!f->best_status || rank(status) < rank(f->best_status) ||
	    (m && !f->best && rank(status) == rank(f->best_status))) {
		struct sip_msg *d = NULL;
		if (m && sip_msg_dup(m, &d))
			d = NULL;
		sip_msg_free(f->best);
		f->best = d;
		f->best_status = status;
	}
}

/* Cancel every pending branch but `except`; kind 1 plain, 2 with Reason. */
static void cancel_others(struct sip_fork *f, const struct branch *except,
			  int kind)
{
	for (unsigned i = 0; i < f->n; i++) {
		struct branch *b = &f->b[i];
		if (b == except || b->state == BR_DONE)
			continue;
		if (b->state == BR_IDLE) {
			b->state = BR_DONE;	/* serial: never started */
			b->status = 487;
			continue;
		}
		b->cancel = kind;
		if (b->state == BR_PROCEEDING)
			send_cancel(b);
		else if (f->cancelled)	/* 9.1: no CANCEL before a 1xx */
			branch_final(b, 487, NULL);
	}
}

static char *put_cstr(char *dst, const char *s, size_t n)
{
	memcpy(dst, s, n);
	return dst + n;
}

/* "SIP/2.0/UDP host:port;branch=" + branch (blen bytes): our Via without
 * printf, for every request forwarded. Returns the length, 0 if it does
 * not fit in cap. */
static size_t self_via(const struct local *l, enum sip_proto proto,
		       const char *branch, size_t blen, char *via, size_t cap)
{
	char *p = via;

	if (l->hostlen + blen + 48 > cap)
		return 0;
	p = put_cstr(p, proto == SIP_PROTO_TCP ? "SIP/2.0/TCP " :
		     "SIP/2.0/UDP ", 12);
	p = put_cstr(p, l->host, l->hostlen);
	*p++ = ':';
	p = sip_put_dec(p, l->port);
	p = put_cstr(p, ";branch=", 8);
	p = put_cstr(p, branch, blen);
	return (size_t)(p - via);
}

/* Our Via for branch i: the index goes before the loop hash, which must
 * stay last (sip_proxy_check_request looks for it). */
static size_t branch_via(const struct sip_fork *f, unsigned i, char *via,
			 size_t cap)
{
	char br[SIP_BRANCH_LEN + 16], *p = br;
	size_t k;

	p = put_cstr(p, f->base, 23);
	p = sip_put_dec(p, i);
	p = put_cstr(p, f->base + 23, SIP_BRANCH_LEN - 1 - 23);
	k = self_via(local_of(f->c, f->b[i].to.local), f->b[i].to.proto, br,
		     (size_t)(p - br), via, cap - 6);
	if (!k)
		return 0;
	memcpy(via + k, ";rport", 6);
	return k + 6;
}

/* Put our Via (text from branch_via) on top of f->req and fill the
 * message's parse memo with what sip_via_parse would find in it, so the
 * client transaction's key costs no parse; CSeq is untouched by the
 * insert and keeps its memo. */
static int insert_own_via(struct sip_fork *f, const struct local *c,
			  const char *via, size_t k)
{
	struct sip_msg *m = f->req;
	struct sip_cseq cs = m->cseq;
	int cs_memo = m->cseq_memo, rc;
	struct sip_via *v = &m->via0;
	const char *s, *e;

	rc = sip_msg_hdr_insert(m, 0, SIP_HDR_VIA, NULL, via, k);
	if (rc || memchr(c->host, ':', c->hostlen))
		return rc;	/* IPv6: let sip_via_parse say what host is */
	s = m->hdrs[0].value.s;		/* the copy in the message's arena */
	e = s + k;
	memset(v, 0, sizeof(*v));
	v->proto = (struct sip_str){ s, 3 };
	v->version = (struct sip_str){ s + 4, 3 };
	v->transport = (struct sip_str){ s + 8, 3 };
	v->host = (struct sip_str){ s + 12, c->hostlen };
	v->port = c->port;
	s = memchr(s + 12 + c->hostlen, ';', (size_t)(e - s) - 12 - c->hostlen);
	v->params = (struct sip_str){ s + 1, (size_t)(e - s - 1) };
	v->branch = (struct sip_str){ s + 8, (size_t)(e - s) - 8 - 6 };
	v->has_branch = v->has_rport = 1;
	m->via0_memo = 1;
	m->cseq = cs;
	m->cseq_memo = cs_memo;
	return 0;
}

/* Branch i's request: f->req with its Request-URI and our Via, written to
 * out and handed to a new client transaction with the parsed form (no
 * re-parse); the Via comes off again for the next branch. */
/* Our Record-Route(s) for a branch leaving by `out`: that local's on top,
 * and below it the incoming one when they differ (double Record-Route),
 * unless the branch is hidden (then the incoming one goes into the
 * responses instead). Returns how many were inserted at the top, or -1. */
static int insert_rr(struct sip_fork *f, unsigned out, int hide)
{
	const struct local *o = local_of(f->c, out);
	const struct local *in = local_of(f->c, f->up_local);
	int n = 0;

	f->rr_in = -1;
	if (!f->c->cfg.record_route || f->req->method != SIP_INVITE)
		return 0;
	if (o != in && hide) {
		f->rr_in = (int)(in - f->c->loc);
	} else if (o != in) {
		if (sip_msg_hdr_insert(f->req, 0, SIP_HDR_RECORD_ROUTE, NULL,
				       in->rr, in->rrlen))
			return -1;
		n++;
	}
	if (sip_msg_hdr_insert(f->req, 0, SIP_HDR_RECORD_ROUTE, NULL, o->rr,
			       o->rrlen)) {
		if (n)
			sip_msg_hdr_del(f->req, 0);
		return -1;
	}
	return n + 1;
}

static int set_branch_ruri(struct sip_fork *f, const struct branch *b)
{
	if (b->ruri)
		return sip_msg_set_ruri(f->req, b->ruri, b->ruri_len);
	if (f->req->ruri.s != f->ruri0.s)
		return sip_msg_set_ruri(f->req, f->ruri0.s, f->ruri0.len);
	return 0;
}

/* The TU's last word on a branch's request (ops->branch_out), its edits
 * undone afterwards from the copy of the header table in *keep. */
static int branch_out(struct sip_fork *f, struct branch *b,
		      struct hidden *keep)
{
	struct sip_msg *m = f->req;

	keep->n = m->nhdrs;
	memcpy(keep->h, m->hdrs, m->nhdrs * sizeof(m->hdrs[0]));
	return f->c->ops->branch_out(f->c->arg, f, m, &b->to) ? EACCES : 0;
}

static void branch_undo(struct sip_msg *m, const struct hidden *keep)
{
	m->nhdrs = keep->n;
	memcpy(m->hdrs, keep->h, keep->n * sizeof(m->hdrs[0]));
	m->via0_memo = m->cseq_memo = m->first_ok = 0;
}

/* Branch i's request written to out and handed to a new client
 * transaction with the parsed form (no re-parse). */
static int emit_branch(struct sip_fork *f, struct branch *b, const char *via,
		       size_t k, const struct local *l)
{
	int tu = f->c->ops->branch_out != NULL;
	struct hidden keep;
	char out[BUF];
	size_t n;
	int rc = insert_own_via(f, l, via, k);

	if (rc)
		return rc;
	if (tu)
		rc = branch_out(f, b, &keep);
	if (rc == 0)
		rc = sip_msg_serialize(f->req, out, sizeof(out), &n);
	if (rc == 0)
		rc = sip_tsx_client_msg(f->c->tsx, f->req, out, n, &b->to, b,
					&b->cli);
	if (tu)
		branch_undo(f->req, &keep);
	sip_msg_hdr_del(f->req, 0);
	return rc;
}

/* Branch i's request: f->req with its Request-URI, our Record-Route(s)
 * and Via (alone when its local hides), sent; f->req is put back as it
 * was for the next branch and the answers. */
static int send_branch(struct sip_fork *f, unsigned i)
{
	struct branch *b = &f->b[i];
	const struct local *l = local_of(f->c, b->to.local);
	struct hidden h;
	char via[256];
	size_t k = branch_via(f, i, via, sizeof(via));
	int rc, rr;

	if (!k || !f->req)
		return k ? EINVAL : ENOSPC;
	if ((rc = set_branch_ruri(f, b)) != 0)
		return rc;
	h.n = 0;
	if (l->hide) {
		hide_lines(f->req, &h);
		f->hidden = 1;
	}
	rr = insert_rr(f, b->to.local, l->hide);
	rc = rr < 0 ? ENOMEM : emit_branch(f, b, via, k, l);
	while (rr-- > 0)
		sip_msg_hdr_del(f->req, 0);
	unhide_lines(f->req, &h);
	return rc;
}

static void start_branch(struct sip_fork *f, unsigned i)
{
	struct branch *b = &f->b[i];

	b->state = BR_CALLING;
	f->c->st.branches++;
	if (send_branch(f, i)) {
		b->cli = NULL;
		f->c->st.send_failed++;
		branch_final(b, 503, NULL);
	}
}

/* Start the next serial group: every idle branch with the highest q. */
static int start_group(struct sip_fork *f)
{
	unsigned top = 0;
	int any = 0;

	for (unsigned i = 0; i < f->n; i++)
		if (f->b[i].state == BR_IDLE && (!any || f->b[i].q > top)) {
			top = f->b[i].q;
			any = 1;
		}
	for (unsigned i = 0; any && i < f->n; i++)
		if (f->b[i].state == BR_IDLE &&
		    (!f->serial || f->b[i].q == top))
			start_branch(f, i);
	return any;
}

/* After a branch ended: next serial group, or the best final upstream. */
static void complete(struct sip_fork *f)
{
	for (unsigned i = 0; i < f->n; i++)
		if (f->b[i].state == BR_CALLING ||
		    f->b[i].state == BR_PROCEEDING)
			return;
	/* idle branches: the next serial group (unless the TU stopped the
	 * failover), or added after the start */
	if (!f->final && !f->cancelled && !(f->serial && f->serial_stop) &&
	    start_group(f)) {
		complete(f);	/* every new branch may have failed at once */
		return;
	}
	send_best(f);
}

/* Room for twice the branches (at most SIP_FORK_MAX). A started fork's
 * client transactions point at their branch: they follow it. 0 or ENOMEM. */
static int grow_branches(struct sip_fork *f)
{
	unsigned cap = f->cap * 2 > SIP_FORK_MAX ? SIP_FORK_MAX : f->cap * 2;
	struct branch *nb = malloc(cap * sizeof(*nb));

	if (!nb)
		return ENOMEM;
	memcpy(nb, f->b, f->n * sizeof(*nb));
	for (unsigned i = 0; i < f->n; i++)
		if (nb[i].cli)
			sip_tsx_set_user(nb[i].cli, &nb[i]);
	if (f->b != f->inl)
		free(f->b);
	f->b = nb;
	f->cap = cap;
	return 0;
}

int sip_fork_add(struct sip_fork *f, const char *ruri, size_t len,
		 const struct sip_peer *to, unsigned q)
{
	struct branch *b;

	if (f->final || f->cancelled)
		return EINVAL;
	if (f->n >= SIP_FORK_MAX)
		return E2BIG;
	if (f->n == f->cap && grow_branches(f))
		return ENOMEM;
	b = &f->b[f->n];
	memset(b, 0, sizeof(*b));
	if (ruri && !(b->ruri = strndup(ruri, len)))
		return ENOMEM;
	b->ruri_len = len;
	b->f = f;
	b->to = *to;
	b->q = q > 1000 ? 1000 : q;
	f->n++;
	return 0;
}

void sip_fork_serial_stop(struct sip_fork *f)
{
	f->serial_stop = 1;
}

int sip_fork_start(struct sip_fork *f, int serial)
{
	if (f->started || f->final)
		return EINVAL;
	f->started = 1;
	f->serial = serial;
	f->c->st.forwarded++;
	start_group(f);
	complete(f);
	return 0;
}

int sip_fork_cancel_branches(struct sip_fork *f, int status)
{
	if (!f->started || f->final || f->cancelled || !f->srv)
		return EINVAL;
	for (unsigned i = 0; i < f->n; i++) {
		struct branch *b = &f->b[i];

		if (b->state != BR_CALLING && b->state != BR_PROCEEDING)
			continue;
		b->cancel = 1;	/* 9.1: a branch without a 1xx yet gets its
				   CANCEL when the 1xx comes */
		if (b->state == BR_PROCEEDING)
			send_cancel(b);
		branch_final(b, status, NULL);
	}
	complete(f);
	return 0;
}

/* ---- 2xx ---- */

/* Our Via for the ACK (kind 'a') or BYE ('b') that ends branch b's
 * answer: the branch's own label with a marker, so it is unique. */
static size_t hangup_via(const struct branch *b, char kind, char *via,
			 size_t cap)
{
	const struct sip_fork *f = b->f;
	char br[SIP_BRANCH_LEN + 16], *p = br;
	size_t k;

	p = put_cstr(p, f->base, 23);
	*p++ = 'h';
	p = sip_put_dec(p, (unsigned)(b - f->b));
	*p++ = kind;
	k = self_via(local_of(f->c, b->to.local), b->to.proto, br, (size_t)(p - br), via, cap - 1);
	via[k] = '\0';		/* a C string for sip_hangup_write */
	return k;
}

/* one_answer: branch b answered 2xx after another branch had: ACK it
 * (again for each retransmission) and, the first time, BYE it. Sent where
 * the INVITE went, not to the Contact's host: no relay to elsewhere. */
static void end_answer(struct branch *b, const struct sip_msg *m, int first)
{
	struct sip_core *c = b->f->c;
	const struct sip_msg *inv = b->cli ? sip_tsx_request(b->cli) : NULL;
	char via[256], out[BUF];
	size_t n;
	struct sip_tsx *t;

	if (!inv || inv->method != SIP_INVITE ||	/* others: just dropped */
	    !hangup_via(b, 'a', via, sizeof(via)))
		return;
	if (sip_hangup_write(inv, m, SIP_ACK, via, NULL, out, sizeof(out),
			     &n) == 0)
		c->ops->send(c->arg, &b->to, out, n);
	if (!first || !hangup_via(b, 'b', via, sizeof(via)) ||
	    sip_hangup_write(inv, m, SIP_BYE, via, reason_200, out,
			     sizeof(out), &n) ||
	    sip_tsx_client(c->tsx, out, n, &b->to, NULL, &t))
		return;
	c->st.answers_ended++;
}

static void pass_up(struct sip_fork *f, const struct branch *b,
		    struct sip_msg *m);

/* A 2xx from branch b: up (every one, 16.7 step 5, unless one_answer
 * keeps only the first branch's), and the others CANCELled. */
static void on_2xx(struct sip_fork *f, struct branch *b, struct sip_msg *m)
{
	unsigned i = (unsigned)(b - f->b);
	/* not a retransmission: also a branch given up on (counted,
	   sip_fork_cancel_branches) that answers after all */
	int first = b->state != BR_DONE || b->status < 200 || b->status >= 300;

	b->state = BR_DONE;
	b->status = m->status;
	if (f->c->cfg.one_answer && f->winner && f->winner != i + 1) {
		end_answer(b, m, first);
		return;
	}
	if (!f->winner)
		f->winner = i + 1;
	if (f->c->ops->answer)
		f->c->ops->answer(f->c->arg, f, i, m);
	pass_up(f, b, m);
	if (first)
		cancel_others(f, b, 2);
}

/* ---- the fork's life ---- */

static void fork_free(struct sip_fork *f)
{
	for (unsigned i = 0; i < f->n; i++)
		free(f->b[i].ruri);
	for (unsigned i = 0; i < f->nauth; i++)
		free(f->auth[i].v);
	sip_msg_free(f->best);
	if (f->b != f->inl)
		free(f->b);
	free(f);
}

static void maybe_free(struct sip_fork *f)
{
	if (f->srv || f->held)
		return;
	for (unsigned i = 0; i < f->n; i++)
		if (f->b[i].cli)
			return;
	if (f->c->ops->done)
		f->c->ops->done(f->c->arg, f, f->final);
	fork_free(f);
}

/* Is the top Route of m ours? Its index into *idx. */
static int top_route_is_self(const struct sip_core *c,
			     const struct sip_msg *m, int *idx)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_ROUTE, 0);
	struct sip_addr a;
	struct sip_str v;
	size_t pos = 0;

	*idx = i;
	return i >= 0 && sip_hdr_next_value(m->hdrs[i].value, &pos, &v) == 1 &&
	       sip_addr_parse(v, 0, &a, NULL) == 0 &&
	       self_hostport(c, a.uri.host, a.uri.port);
}

/* 16.4: the Routes naming us go (two after a double Record-Route); 16.6
 * step 3: Max-Forwards - 1. Record-Route is added per branch. */
static int edit_request(struct sip_core *c, struct sip_msg *m)
{
	int i, rc;

	for (unsigned k = 0; k < c->nloc && top_route_is_self(c, m, &i); k++)
		if ((rc = sip_msg_hdr_del_first_value(m, (unsigned)i)) != 0)
			return rc;
	return sip_proxy_dec_max_forwards(m);
}

static int fork_new(struct sip_core *c, struct sip_tsx *t,
		    const struct sip_peer *from, struct sip_fork **out)
{
	struct sip_fork *f = malloc(sizeof(*f));
	int rc;

	if (!f)
		return ENOMEM;
	memset(f, 0, sizeof(*f));
	f->b = f->inl;
	f->cap = 1;
	f->req = sip_tsx_request_edit(t);	/* edited in place: no copy */
	/* Hashed from the copy before its edits (the same text as m): the
	 * From/To tags it reads stay memoised there for the TU. */
	if ((rc = sip_proxy_branch(f->req, f->base, sizeof(f->base))) != 0 ||
	    (rc = edit_request(c, f->req)) != 0) {
		free(f);
		return rc;
	}
	f->c = c;
	f->srv = t;
	f->ruri0 = f->req->ruri;
	f->up_proto = from->proto;
	f->up_local = from->local;
	f->rr_in = -1;
	*out = f;
	return 0;
}

/* ---- CANCEL from upstream ---- */

static void on_cancel(struct sip_core *c, struct sip_tsx *t,
		      struct sip_msg *m)
{
	struct sip_tsx *inv = sip_tsx_find_invite(c->tsx, m);
	struct sip_fork *f = inv ? sip_tsx_user(inv) : NULL;
	struct sip_fork tmp = { .c = c, .srv = t };

	if (!f) {
		sip_fork_reply(&tmp, 481, NULL, NULL);
		return;
	}
	sip_fork_reply(&tmp, 200, NULL, NULL);
	if (f->final || f->cancelled)
		return;
	f->cancelled = 1;
	if (!f->best_status || rank(487) < rank(f->best_status))
		f->best_status = 487;	/* replaced by any real final */
	cancel_others(f, NULL, 1);
	complete(f);
}

/* ---- transaction callbacks ---- */

static int tsx_send(void *arg, const struct sip_peer *to, const char *buf,
		    size_t len)
{
	struct sip_core *c = arg;

	return c->ops->send(c->arg, to, buf, len);
}

static void on_request(void *arg, struct sip_tsx *t, struct sip_msg *m,
		       const struct sip_peer *from)
{
	struct sip_core *c = arg;
	struct sip_fork tmp = { .c = c, .srv = t }, *f;
	const char *why;
	char unsup[256], extra[300];
	int st;

	if (m->method == SIP_CANCEL) {
		on_cancel(c, t, m);
		return;
	}
	st = sip_proxy_check_request(m, &c->self, &why);
	if (st) {
		extra[0] = '\0';
		if (st == 420 && sip_proxy_unsupported(m, &c->self, unsup,
						       sizeof(unsup)) == 0)
			snprintf(extra, sizeof(extra), "Unsupported: %s\r\n",
				 unsup);
		sip_fork_reply(&tmp, st, why, extra[0] ? extra : NULL);
		return;
	}
	if (fork_new(c, t, from, &f)) {
		sip_fork_reply(&tmp, 500, NULL, NULL);
		return;
	}
	sip_tsx_set_user(t, f);
	c->ops->request(c->arg, f, f->req, from);
}

/* A 1xx or 2xx for upstream: now, or when the TU releases it. */
static void pass_up(struct sip_fork *f, const struct branch *b,
		    struct sip_msg *m)
{
	const struct sip_core_ops *ops = f->c->ops;
	int rc = ops->response ? ops->response(f->c->arg, f,
					      (unsigned)(b - f->b), m) : 0;

	if (rc == SIP_CORE_HOLD) {
		f->held++;
		f->held2xx += m->status >= 200;
	} else if (rc != SIP_CORE_DROP) {
		forward_up(f, m);
	}
}

void sip_fork_release(struct sip_fork *f, int status, struct sip_msg *m)
{
	if (!f->held)
		return;
	f->held--;
	if (status >= 200 && f->held2xx)
		f->held2xx--;
	if (m)
		forward_up(f, m);
	else if (status >= 200)
		complete(f);
	maybe_free(f);
}

static void on_response(void *arg, struct sip_tsx *t, struct sip_msg *m)
{
	struct branch *b = sip_tsx_user(t);
	struct sip_fork *f;
	(void)arg;

	if (!b)
		return;		/* our CANCEL's answer */
	f = b->f;
	if (f->c->ops->branch_response)
		f->c->ops->branch_response(f->c->arg, f,
					   (unsigned)(b - f->b), m);
	if (m->status < 200) {
		if (b->state == BR_CALLING)
			b->state = BR_PROCEEDING;
		if (b->cancel)
			send_cancel(b);
		if (m->status > 100 && !f->cancelled)
			pass_up(f, b, m);
		return;
	}
	if (m->status < 300) {
		on_2xx(f, b, m);
		return;
	}
	if (b->state == BR_DONE)
		return;
	branch_final(b, m->status, m);
	if (m->status >= 600) {
		cancel_others(f, b, 1);
		send_best(f);
	}
	complete(f);
}

static void on_terminated(void *arg, struct sip_tsx *t, enum sip_tsx_end why)
{
	struct sip_core *c = arg;
	void *u = sip_tsx_user(t);
	struct branch *b;

	if (!u)
		return;
	if (!is_client_tsx(t)) {
		((struct sip_fork *)u)->srv = NULL;
		((struct sip_fork *)u)->req = NULL;	/* it was t's */
		maybe_free(u);
		return;
	}
	b = u;
	b->cli = NULL;
	if (b->state != BR_DONE && why != SIP_TSX_END_SHUTDOWN) {
		int st = why == SIP_TSX_END_TIMEOUT ? 408 : 503;
		if (st == 408)
			c->st.timeouts++;
		else
			c->st.send_failed++;
		branch_final(b, st, NULL);
		complete(b->f);
	}
	maybe_free(b->f);
}

/* Timer C fired on a branch: CANCEL it; its final (487) or its timeout
 * (408) ends it. */
static void on_expired(void *arg, struct sip_tsx *t)
{
	struct branch *b = sip_tsx_user(t);
	(void)arg;

	if (b && b->state != BR_DONE) {
		b->cancel = 1;
		if (b->state == BR_PROCEEDING)
			send_cancel(b);
	}
}

/* The branch of a forwarded 2xx ACK: stateless, so derived from the ACK
 * itself (a retransmission gets the same one); no loop hash, as an ACK is
 * never answered and an ACK loop ends with Max-Forwards. */
static int ack_branch(const struct sip_msg *m, char *dst)
{
	static const char hx[] = "0123456789abcdef";
	struct sip_tsx_key k;
	uint64_t v;

	if (sip_tsx_key(m, 0, &k))
		return EBADMSG;
	memcpy(dst, "z9hG4bK", 7);
	v = k.hash;
	for (int i = 22; i >= 7; i--, v >>= 4)
		dst[i] = hx[v & 15];
	dst[23] = '\0';
	return 0;
}

/* An ACK for a 2xx (or another request no transaction wants). */
int sip_core_ack_forward(struct sip_core *c, struct sip_msg *m,
			 const struct sip_peer *to)
{
	const struct local *l = local_of(c, to->local);
	char branch[SIP_BRANCH_LEN], via[256], out[BUF];
	size_t n, k;
	int i, rc;

	if (ack_branch(m, branch))
		return EBADMSG;
	if (l->hide)
		while ((i = sip_msg_hdr_find(m, SIP_HDR_VIA, 0)) >= 0)
			sip_msg_hdr_del(m, (unsigned)i);
	k = self_via(l, to->proto, branch, 23, via, sizeof(via));
	if (!k || sip_msg_hdr_insert(m, 0, SIP_HDR_VIA, NULL, via, k) ||
	    sip_msg_serialize(m, out, sizeof(out), &n))
		return ENOSPC;
	if ((rc = c->ops->send(c->arg, to, out, n)) == 0)
		c->st.stray_fwd++;
	return rc;
}

static void stray_request(struct sip_core *c, struct sip_msg *m,
			  const struct sip_peer *from)
{
	struct sip_peer to;

	if (m->method != SIP_ACK || !c->ops->route || edit_request(c, m) ||
	    c->ops->route(c->arg, m, from, &to))
		return;		/* dropped, or held by the TU */
	sip_core_ack_forward(c, m, &to);
}

static void on_stray(void *arg, struct sip_msg *m, const struct sip_peer *from)
{
	struct sip_core *c = arg;

	if (m->is_request)
		stray_request(c, m, from);
	else
		forward_stateless(c, m, from->proto);
}

static const struct sip_tsx_ops tsx_ops = { tsx_send, on_request,
	on_response, on_stray, on_terminated, on_expired };

/* ---- the core ---- */

void sip_core_recv(struct sip_core *c, struct sip_msg *m,
		   const struct sip_peer *from)
{
	sip_tsx_layer_recv(c->tsx, m, from);
}

static int local_set(struct local *l, const char *host, unsigned port,
		     int hide)
{
	int k = snprintf(l->rr, sizeof(l->rr), "<sip:%s:%u;lr>", host, port);

	if (!host || !port || k < 0 || (size_t)k >= sizeof(l->rr))
		return EINVAL;
	l->rrlen = (size_t)k;
	l->host = host;
	l->hostlen = strlen(host);
	l->port = port;
	l->hide = hide;
	return 0;
}

/* The local addresses: cfg->locals, or host/port alone. */
static int locals_set(struct sip_core *c, const struct sip_core_cfg *cfg)
{
	int rc = 0;

	if (!cfg->locals) {
		c->nloc = 1;
		return local_set(&c->loc[0], cfg->host, cfg->port, 0);
	}
	if (cfg->nlocals == 0 || cfg->nlocals > SIP_CORE_LOCALS_MAX)
		return EINVAL;
	c->nloc = cfg->nlocals;
	for (unsigned i = 0; rc == 0 && i < c->nloc; i++)
		rc = local_set(&c->loc[i], cfg->locals[i].host,
			       cfg->locals[i].port, cfg->locals[i].hide);
	return rc;
}

int sip_core_new(struct ev_loop *loop, const struct sip_core_cfg *cfg,
		 const struct sip_core_ops *ops, void *arg,
		 struct sip_core **out)
{
	struct sip_core *c;
	int rc;

	if (!cfg->host || !cfg->port || !ops->send || !ops->request)
		return EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return ENOMEM;
	c->cfg = *cfg;
	if (!c->cfg.to_tag)
		c->cfg.to_tag = "dpn";
	c->ops = ops;
	c->arg = arg;
	c->self = (struct sip_proxy_self){ cfg->host, cfg->port,
					   cfg->supported };
	if ((rc = locals_set(c, cfg)) != 0) {
		free(c);
		return rc;
	}
	rc = sip_tsx_layer_new(loop, &cfg->tsx, &tsx_ops, c, &c->tsx);
	if (rc) {
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void sip_core_free(struct sip_core *c)
{
	if (!c)
		return;
	sip_tsx_layer_free(c->tsx);
	free(c);
}

void sip_core_peer_failed(struct sip_core *c, const struct sip_peer *to)
{
	sip_tsx_layer_peer_failed(c->tsx, to);
}

const struct sip_core_stats *sip_core_stats(const struct sip_core *c)
{
	return &c->st;
}

struct sip_tsx_layer *sip_core_tsx(struct sip_core *c)
{
	return c->tsx;
}

const struct sip_msg *sip_fork_request(const struct sip_fork *f)
{
	return f->req;
}

struct sip_msg *sip_fork_request_edit(struct sip_fork *f)
{
	return f->req;
}

int sip_fork_final(const struct sip_fork *f)
{
	return f->final;
}

int sip_fork_cancelled(const struct sip_fork *f)
{
	return f->cancelled;
}

unsigned sip_fork_branches(const struct sip_fork *f)
{
	return f->n;
}

int sip_fork_branch_status(const struct sip_fork *f, unsigned i)
{
	return i < f->n ? f->b[i].status : 0;
}

const struct sip_peer *sip_fork_branch_peer(const struct sip_fork *f,
					    unsigned i)
{
	return i < f->n ? &f->b[i].to : NULL;
}

void *sip_fork_user(const struct sip_fork *f)
{
	return f->user;
}

void sip_fork_set_user(struct sip_fork *f, void *user)
{
	f->user = user;
}

int sip_route_target(const struct sip_msg *m, enum sip_proto proto,
		     struct sip_peer *to)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_ROUTE, 0);
	struct sip_addr a;
	struct sip_str v;
	size_t pos = 0;

	if (i < 0)
		return ENOENT;
	if (sip_hdr_next_value(m->hdrs[i].value, &pos, &v) != 1 ||
	    sip_addr_parse(v, 0, &a, NULL))
		return EINVAL;
	return sip_peer_set(to, proto, a.uri.host,
			    a.uri.port ? a.uri.port : 5060);
}
