/* gatekeeper/media.c — media anchoring through rtpengine (lib/ng.h).
 *
 * Which calls: a new INVITE whose sender and target are on different
 * sides (outside -> flat: the offerer is on the public side; flat ->
 * outside or another complex: on the private side) is anchored; flat ->
 * flat of this complex is not (direct media inside the complex). The
 * caller of gk_media_forward says which side sent it.
 *
 * Calls out through an outbound route (outbound.c adds the route's peers
 * to the fork) are offered first and the peers start, one after the
 * other, from the ng callback: the rewritten SDP serves every failover
 * branch. A peer that fails after a 183 with SDP keeps its early
 * monologue until the call ends: its ports are the ones the offer named,
 * which the next peer was given too (rtpengine relays them to the
 * caller), and deleting it while it is the offerer's only peer would end
 * the whole call at rtpengine. With topology hiding the outside knows a
 * call begun inside by another Call-ID: media maps it back (media_callid),
 * so a BYE or re-INVITE from either side finds the call.
 *
 * How it stays consistent with the call (the Kamailio rtpengine module's
 * rules for tags): every SDP in a request of an anchored call (INVITE,
 * re-INVITE, UPDATE) is an ng `offer` with from-tag = its From tag and
 * `direction` [offerer's side, other side]; every SDP in a 1xx/2xx to it
 * an ng `answer` with from-tag = From tag and to-tag = To tag, so forked
 * 183s of several handsets each get their own answer. The request waits
 * for the offer's answer without blocking (the branch starts from the ng
 * callback); a response is held through the core's ops->response and
 * forwarded when its answer came back. A 2xx retransmission gets the
 * answer it got the first time (cached). An INVITE without SDP (the
 * first, or a re-INVITE) is a late offer: its 2xx's SDP is the ng offer
 * of the end that answers, its ACK's the answer. RFC 3262: a 1xx with SDP
 * to a first INVITE without SDP (a reliable 183) is that offer, one early
 * dialog per To tag (media_early.c), the PRACK's SDP its answer; a PRACK
 * with SDP after a 1xx that answered offers, as an UPDATE does, and the
 * 200 to either answers. The SDP is the body or
 * the one application/sdp part of a multipart body (lib/sip/multipart.h,
 * the other parts kept); a body that cannot be rewritten safely is
 * refused (400), or fails as an answer. The call is `delete`d when a BYE
 * passes, or when its first INVITE ends without a 2xx (cancelled,
 * rejected, timed out). Calls live in a table by Call-ID; all requests of
 * a call go to the rtpengine instance its first offer used.
 *
 * Failures: no instance up, or the offer's instance not answering -> 503
 * to the sender ("Media relay unavailable"), counted; an answer that fails
 * for a 2xx -> 500 upstream instead of the 2xx (the callee, never ACKed,
 * ends its side itself); for a 1xx the 1xx is dropped. Never a call with
 * media that cannot flow. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatekeeper/gk.h"
#include "gatekeeper/media.h"
#include "gatekeeper/media_dlg.h"
#include "gatekeeper/media_early.h"
#include "log.h"
#include "ng.h"
#include "prom.h"
#include "sip/hdr.h"
#include "sip/multipart.h"

#define BUCKETS 4096
#define CALLS_MAX 65536
#define NG_MSG_MAX (SIP_MAX_MSG + 1024)

struct mcall {
	struct mcall *next;		/* Call-ID bucket */
	char *callid;
	size_t idlen;
	unsigned inst;
	uint64_t next_check;		/* media timeout: next ng query (ms) */
	int confirmed, querying;
	char *ans_key, *ans_sdp;	/* the 2xx answer, for retransmissions */
	size_t ans_len;
	struct gk_media_dlg *dlg;	/* what a media-timeout BYE needs */
	enum gk_media_side side;	/* sender of the INVITE (first or
					   re-INVITE) whose 2xx offers late */
	enum { LATE_NO, LATE_OFFER, LATE_ANSWER } late;	/* late offer:
					   waiting for the 2xx's offer, then
					   for the ACK's answer */
	uint32_t late_cseq;		/* that INVITE's CSeq */
	struct gk_early *early;		/* late offer: the early dialogs whose
					   1xx offered (media_early.c) */
	char *caller_tag;		/* the first INVITE's From tag */
	uint32_t early_cseq[2];		/* until dlg is kept, the highest
					   CSeq of the caller's and the
					   callee's requests (PRACK, UPDATE) */
};

enum mop_kind { OP_OFFER, OP_ANSWER, OP_ACK, OP_OTHER };

/* One ng request in flight, or (OP_OFFER) the record of a fork whose
 * request media offered, until the fork ends. */
struct mop {
	struct mop *fnext;		/* fork bucket (OP_OFFER) */
	struct mop *prev, *next;	/* every op, for gk_media_free */
	struct gk *g;
	struct gk_media *md;
	enum mop_kind kind;
	struct sip_fork *f;		/* NULL once the fork ended */
	struct ng_req *req;		/* NULL once answered */
	char *callid;
	size_t idlen;
	int initial;			/* the call's first INVITE */
	enum gk_media_side side;	/* OP_OFFER: the offerer's */
	int status;			/* OP_ANSWER: of the held response */
	int early_offer;		/* OP_ANSWER: the held 1xx offers */
	int err;			/* the failure failed_now reports */
	struct sip_msg *held;		/* OP_ANSWER */
	char *ruri;			/* OP_OFFER: where the branch goes */
	size_t rlen;
	struct sip_peer to;
	int added;			/* OP_OFFER: the caller added the
					   branches (to unused): serial */
	unsigned branch;		/* OP_ANSWER: of the held response */
	struct ev_timer now;		/* a failure reported from the loop */
};

struct gk_media {
	struct gk *g;
	struct ng_set *ng;
	struct mcall *calls[BUCKETS];
	struct mop *forks[BUCKETS];
	struct mop *ops;
	unsigned ncalls;
	unsigned nquery, qcur;		/* media checks out; next bucket */
	struct gk_media_stats st;
	char msg[NG_MSG_MAX];
};

/* ---- tables ---- */

/* A NUL-terminated copy of n bytes (a slice of a message), or NULL. */
static char *memdup0(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static unsigned hash_id(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--) {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return h % BUCKETS;
}

static unsigned hash_ptr(const void *p)
{
	return (unsigned)(((uintptr_t)p >> 4) * 2654435761u) % BUCKETS;
}

static struct mcall **call_slot(struct gk_media *md, struct sip_str id)
{
	struct mcall **p = &md->calls[hash_id(id.s, id.len)];

	while (*p && ((*p)->idlen != id.len ||
		      memcmp((*p)->callid, id.s, id.len) != 0))
		p = &(*p)->next;
	return p;
}

static struct mcall *call_find(struct gk_media *md, struct sip_str id)
{
	return *call_slot(md, id);
}

static void call_free(struct gk_media *md, struct mcall *c)
{
	struct mcall **p = call_slot(md, (struct sip_str){ c->callid,
							   c->idlen });

	if (*p == c) {
		*p = c->next;
		md->ncalls--;
	}
	free(c->callid);
	free(c->ans_key);
	free(c->ans_sdp);
	gk_media_dlg_free(c->dlg);
	gk_early_free(c->early);
	free(c->caller_tag);
	free(c);
}

/* A new call of Call-ID id on instance inst, begun by request m. */
static int call_new(struct gk_media *md, struct sip_str id, unsigned inst,
		    const struct sip_msg *m, struct mcall **out)
{
	struct sip_str tag = { "", 0 };
	struct mcall *c;

	if (md->ncalls >= CALLS_MAX) {
		md->st.table_full++;
		return ENOSPC;
	}
	sip_msg_tag(m, SIP_HDR_FROM, &tag);
	if (!(c = calloc(1, sizeof(*c))) ||
	    !(c->callid = memdup0(id.s, id.len)) ||
	    !(c->caller_tag = memdup0(tag.s, tag.len))) {
		if (c)
			free(c->callid);
		free(c);
		return ENOMEM;
	}
	c->idlen = id.len;
	c->inst = inst;
	c->next = md->calls[hash_id(id.s, id.len)];
	md->calls[hash_id(id.s, id.len)] = c;
	md->ncalls++;
	*out = c;
	return 0;
}

static void fork_link(struct gk_media *md, struct mop *op)
{
	unsigned h = hash_ptr(op->f);

	op->fnext = md->forks[h];
	md->forks[h] = op;
}

/* The OP_OFFER record of fork f, unlinked, or NULL. */
static struct mop *fork_unlink(struct gk_media *md, const struct sip_fork *f)
{
	struct mop **p = &md->forks[hash_ptr(f)], *op;

	while (*p && (*p)->f != f)
		p = &(*p)->fnext;
	if (!(op = *p))
		return NULL;
	*p = op->fnext;
	return op;
}

static void mop_free(struct mop *op)
{
	struct gk_media *md;

	if (!op)
		return;
	md = op->md;
	if (op->prev)
		op->prev->next = op->next;
	else
		md->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	ev_timer_stop(op->g->d->loop, &op->now);
	sip_msg_free(op->held);
	free(op->callid);
	free(op->ruri);
	free(op);
}

/* ---- ng messages ---- */

static void put_kv(struct ben_w *w, const char *k, struct sip_str v)
{
	ben_put_cstr(w, k);
	ben_put_str(w, v.s, v.len);
}

/* d command=CMD call-id=ID ...: the head every message shares. */
static void msg_head(struct ben_w *w, struct gk_media *md, const char *cmd,
		     struct sip_str id)
{
	ben_w_init(w, md->msg, sizeof(md->msg));
	ben_open(w, 'd');
	ben_put_cstr(w, "command");
	ben_put_cstr(w, cmd);
	put_kv(w, "call-id", id);
}

/* The SDP of m (its body, or its multipart part: lib/sip/multipart.h);
 * a message without one leaves w in error. */
static void put_sdp(struct ben_w *w, const struct sip_msg *m)
{
	struct sip_str sdp = { NULL, 0 };

	if (sip_msg_sdp(m, &sdp, NULL))
		w->err = EBADMSG;
	put_kv(w, "sdp", sdp);
	ben_put_cstr(w, "replace");
	ben_open(w, 'l');
	ben_put_cstr(w, "origin");
	ben_put_cstr(w, "session-connection");
	ben_end(w);
}

static void put_direction(struct ben_w *w, struct gk *g,
			  enum gk_media_side side)
{
	const char *pub = g->cfg->media_public, *priv = g->cfg->media_private;

	ben_put_cstr(w, "direction");
	ben_open(w, 'l');
	ben_put_cstr(w, side == GK_MEDIA_FROM_PRIVATE ? priv : pub);
	ben_put_cstr(w, side == GK_MEDIA_FROM_PRIVATE ? pub : priv);
	ben_end(w);
}

static void on_deleted(void *arg, const struct ng_answer *a)
{
	struct gk_media *md = arg;

	if (a->err)
		log_debug("media: delete: %s", strerror(a->err));
	else
		md->st.deleted++;
}

/* Delete the call's streams (fire and forget: counted when answered). */
static void ng_delete(struct gk_media *md, struct sip_str id, unsigned inst)
{
	struct ben_w w;

	msg_head(&w, md, "delete", id);
	ben_end(&w);
	if (w.err || ng_send(md->ng, inst, w.buf, w.len, on_deleted, md, NULL))
		log_warnx("media: %.*s: delete not sent", (int)id.len, id.s);
}

/* The Call-ID media keys m's call by: the one the gatekeeper saw first.
 * With topology hiding a dialog begun inside is known outside by another
 * (gk-KEY@PUBLIC): what the outside end sends names that one, and gets
 * the private one back (topo.c). Its storage is m's or the dialog's: use
 * it before either goes. 0 or EBADMSG. */
static int media_callid(struct gk *g, const struct sip_msg *m,
			struct sip_str *id)
{
	const char *priv;

	if (sip_msg_callid(m, id))
		return EBADMSG;
	if ((priv = gk_topo_private_callid(g, *id)) != NULL)
		*id = (struct sip_str){ priv, strlen(priv) };
	return 0;
}

/* ---- starting branches ---- */

/* One branch to `to`, or (to NULL) the branches the caller added, one
 * after the other (an outbound route's peers: failover). */
static void start_branch(struct sip_fork *fk, const char *ruri, size_t len,
			 const struct sip_peer *to)
{
	if (to ? sip_fork_add(fk, ruri, len, to, 1000) ||
		 sip_fork_start(fk, 0) : sip_fork_start(fk, 1))
		sip_fork_reply(fk, 500, NULL, NULL);
}

static void no_relay(struct gk_media *md, struct sip_fork *fk,
		     struct sip_str id, const char *why)
{
	md->st.no_relay++;
	log_warnx("media: %.*s: 503: %s", (int)id.len, id.s, why);
	sip_fork_reply(fk, 503, "Media relay unavailable", NULL);
}

/* A body media cannot rewrite safely (lib/sip/multipart.h: malformed
 * multipart, two SDP parts, ...): 400, counted; nothing goes on. */
static void bad_body(struct gk_media *md, struct sip_fork *fk,
		     struct sip_str id, const char *why)
{
	static struct log_rl rl = LOG_RL_INIT(10, 60);

	md->st.bad_body++;
	log_warnx_rl(&rl, "media: %.*s: 400: %s", (int)id.len, id.s, why);
	sip_fork_reply(fk, 400, why, NULL);
}

/* The answer's "sdp" string, or an empty slice. */
static struct sip_str answer_sdp(const struct ng_answer *a)
{
	const struct ben_node *n = a->err ? NULL :
				   ben_dict_get(a->nodes, 0, "sdp");

	if (!n || n->type != BEN_STR || n->len == 0)
		return (struct sip_str){ NULL, 0 };
	return (struct sip_str){ n->s, n->len };
}

/* ---- offers (requests) ---- */

static int offer_msg(struct gk_media *md, const struct sip_msg *m,
		     struct sip_str id, enum gk_media_side side,
		     struct ben_w *w);
static void on_offer(void *arg, const struct ng_answer *a);

/* The instance of a new call's offer did not answer (it is marked down
 * now): the offer once more on another that is up. 1 when resent. */
static int offer_elsewhere(struct gk_media *md, struct mop *op,
			   struct mcall *c, const struct ng_answer *a)
{
	struct sip_str id = { op->callid, op->idlen };
	const struct sip_msg *m = sip_fork_request(op->f);
	unsigned inst;
	struct ben_w w;

	if (a->err != ETIMEDOUT || !op->initial || !c || !m ||
	    ng_pick(md->ng, id.s, id.len, &inst) || inst == c->inst ||
	    offer_msg(md, m, id, op->side, &w) ||
	    ng_send(md->ng, inst, w.buf, w.len, on_offer, op, &op->req))
		return 0;
	c->inst = inst;
	return 1;
}

/* The early dialog a PRACK m acknowledges, or NULL. */
static struct gk_early *prack_early(struct mcall *c, const struct sip_msg *m)
{
	struct sip_str tag;

	if (m->method != SIP_PRACK || !c || sip_msg_tag(m, SIP_HDR_TO, &tag))
		return NULL;
	return gk_early_find(c->early, tag);
}

/* A PRACK m answers the offer of the 1xx it acknowledges (RFC 3262) when
 * that early dialog's offer was forwarded and not yet answered: 1, and
 * the answer is on its way (one answer per offer). */
static int prack_answers(struct mcall *c, const struct sip_msg *m)
{
	struct gk_early *e = prack_early(c, m);

	if (!e || e->state != GK_EARLY_OFFERED)
		return 0;
	e->state = GK_EARLY_ANSWERING;
	return 1;
}

/* rtpengine took (ok) or not the answer in PRACK m: its early dialog is
 * answered, or waits for another PRACK's answer. */
static void prack_answered(struct mcall *c, const struct sip_msg *m, int ok)
{
	struct gk_early *e = prack_early(c, m);

	if (e && e->state == GK_EARLY_ANSWERING)
		e->state = ok ? GK_EARLY_DONE : GK_EARLY_OFFERED;
}

static void on_offer(void *arg, const struct ng_answer *a)
{
	struct mop *op = arg;
	struct gk_media *md = op->md;
	struct sip_str id = { op->callid, op->idlen }, sdp = answer_sdp(a);
	struct mcall *c = call_find(md, id);
	struct sip_msg *em;
	int ok;

	op->req = NULL;
	if (!op->f) {			/* the request ended meanwhile */
		if (op->initial && c) {
			ng_delete(md, id, c->inst);
			call_free(md, c);
		}
		mop_free(op);
		return;
	}
	if (offer_elsewhere(md, op, c, a))
		return;
	em = sip_fork_request_edit(op->f);
	ok = sdp.len && em && sip_msg_set_sdp(em, sdp.s, sdp.len) == 0;
	if (c && em)
		prack_answered(c, em, ok);
	if (!ok) {
		if (op->initial && c)
			call_free(md, c);	/* rtpengine has nothing */
		if (a->err == EPROTO)
			log_warnx("media: %.*s: offer refused: %.*s",
				  (int)id.len, id.s, (int)a->reason_len,
				  a->reason);
		no_relay(md, op->f, id, a->err ? strerror(a->err) : "no SDP");
		return;
	}
	md->st.anchored += op->initial;
	start_branch(op->f, op->ruri, op->rlen, op->added ? NULL : &op->to);
}

static int offer_msg(struct gk_media *md, const struct sip_msg *m,
		     struct sip_str id, enum gk_media_side side,
		     struct ben_w *w)
{
	struct sip_str tag;

	if (sip_msg_tag(m, SIP_HDR_FROM, &tag))
		return EBADMSG;
	msg_head(w, md, "offer", id);
	put_kv(w, "from-tag", tag);
	put_direction(w, md->g, side);
	put_sdp(w, m);
	ben_end(w);
	return w->err;
}

static void on_answer(void *arg, const struct ng_answer *a);
static void on_ack(void *arg, const struct ng_answer *a);

/* ng_send failed at once: the op's callback runs from the loop (never
 * inside the core callback that sent it) with ENETDOWN. */
static void failed_now(struct ev_loop *l, struct ev_timer *t, void *arg)
{
	struct mop *op = arg;
	struct ng_answer a = { .err = op->err ? op->err : ENETDOWN };
	(void)l;
	(void)t;

	if (op->kind == OP_OFFER)
		on_offer(op, &a);
	else if (op->kind == OP_ACK)
		on_ack(op, &a);
	else
		on_answer(op, &a);
}

static int mop_new(struct gk *g, enum mop_kind kind, struct sip_fork *f,
		   struct sip_str id, struct mop **out)
{
	struct mop *op = calloc(1, sizeof(*op));

	if (!op || !(op->callid = memdup0(id.s, id.len))) {
		free(op);
		return ENOMEM;
	}
	op->g = g;
	op->md = g->media;
	op->kind = kind;
	op->f = f;
	op->idlen = id.len;
	ev_timer_init(&op->now, failed_now, op);
	op->next = g->media->ops;
	if (op->next)
		op->next->prev = op;
	g->media->ops = op;
	*out = op;
	return 0;
}

/* Where an offered request's branch goes; NULL: the caller added them. */
static void set_to(struct mop *op, const struct sip_peer *to)
{
	op->added = to == NULL;
	if (to)
		op->to = *to;
}

/* Request fk goes on when rtpengine answered w (an offer; or the answer
 * in a PRACK): its SDP rewritten, its branch started from on_offer. */
static void offer(struct gk *g, struct sip_fork *fk, struct mcall *c,
		  struct sip_str id, const char *ruri, size_t len,
		  const struct sip_peer *to, enum gk_media_side side,
		  int initial, const struct ben_w *w)
{
	struct gk_media *md = g->media;
	unsigned inst;
	struct mop *op;

	if (!c && ng_pick(md->ng, id.s, id.len, &inst)) {
		no_relay(md, fk, id, "no rtpengine answers");
		return;
	}
	if (w->err || mop_new(g, OP_OFFER, fk, id, &op)) {
		sip_fork_reply(fk, 500, NULL, NULL);
		return;
	}
	if ((ruri && !(op->ruri = memdup0(ruri, len))) ||
	    (!c && call_new(md, id, inst, sip_fork_request(fk), &c))) {
		mop_free(op);
		no_relay(md, fk, id, "too many calls");
		return;
	}
	op->rlen = len;
	set_to(op, to);
	op->side = side;
	op->initial = initial;
	if (initial)
		c->side = side;
	fork_link(md, op);
	if (ng_send(md->ng, c->inst, w->buf, w->len, on_offer, op, &op->req))
		ev_timer_start(g->d->loop, &op->now, 0);
}

/* INVITE m (no SDP) from `side` makes its 2xx carry the offer and the
 * ACK the answer: the first INVITE of a late-offer call, or a re-INVITE
 * without SDP in an anchored call (RFC 3261 14.1; its 2xx's offer may come
 * from either end, so the side is the re-INVITE's sender's). */
static void late_offer_expect(struct mcall *c, const struct sip_msg *m,
			      enum gk_media_side side)
{
	struct sip_cseq cs;

	if (sip_msg_cseq(m, &cs))
		return;
	c->side = side == GK_MEDIA_DIRECT ? GK_MEDIA_FROM_PUBLIC : side;
	c->late = LATE_OFFER;
	c->late_cseq = cs.num;
	gk_early_free(c->early);	/* those of an earlier INVITE */
	c->early = NULL;
}

/* A new anchored INVITE without SDP (late offer): the call is placed on
 * an instance now and the branch starts at once; the 2xx carries the
 * offer (gk_media_response), the ACK the answer (gk_media_ack). */
static void late_call(struct gk *g, struct sip_fork *fk, struct sip_str id,
		      const char *ruri, size_t len, const struct sip_peer *to,
		      enum gk_media_side side)
{
	struct gk_media *md = g->media;
	struct mcall *c;
	unsigned inst;
	struct mop *op;

	if (ng_pick(md->ng, id.s, id.len, &inst)) {
		no_relay(md, fk, id, "no rtpengine answers");
		return;
	}
	if (mop_new(g, OP_OFFER, fk, id, &op)) {
		sip_fork_reply(fk, 500, NULL, NULL);
		return;
	}
	if (call_new(md, id, inst, sip_fork_request(fk), &c)) {
		mop_free(op);
		no_relay(md, fk, id, "too many calls");
		return;
	}
	late_offer_expect(c, sip_fork_request(fk), side);
	op->initial = 1;
	set_to(op, to);
	op->side = side;
	fork_link(md, op);
	md->st.anchored++;
	start_branch(fk, ruri, len, to);
}

/* The ng answer in m: a response answers its request's offer (from-tag
 * = From tag, to-tag = To tag); with `late`, an ACK or a PRACK m answers
 * an offer the other end made in a response (a 2xx, or a 1xx of a
 * late-offer call: RFC 3262): the offerer is m's To (from-tag). */
static int answer_msg(struct gk_media *md, const struct sip_msg *m,
		      struct sip_str id, int late, struct ben_w *w)
{
	struct sip_str ft, tt;

	if (sip_msg_tag(m, SIP_HDR_FROM, &ft) ||
	    sip_msg_tag(m, SIP_HDR_TO, &tt) || !tt.len)
		return w->err = EBADMSG;
	msg_head(w, md, "answer", id);
	put_kv(w, "from-tag", late ? tt : ft);
	put_kv(w, "to-tag", late ? ft : tt);
	put_sdp(w, m);
	ben_end(w);
	return w->err;
}

/* The SDP of request fk of an anchored call: the answer to an early
 * dialog's 1xx offer (its PRACK), or an offer (INVITE, re-INVITE, UPDATE,
 * a PRACK after a 1xx that answered). */
static void request_sdp(struct gk *g, struct sip_fork *fk, struct mcall *c,
			struct sip_str id, const char *ruri, size_t len,
			const struct sip_peer *to, enum gk_media_side side,
			int initial)
{
	const struct sip_msg *m = sip_fork_request(fk);
	struct ben_w w;

	if (prack_answers(c, m))
		answer_msg(g->media, m, id, 1, &w);
	else
		w.err = offer_msg(g->media, m, id, side, &w);
	offer(g, fk, c, id, ruri, len, to, side, initial, &w);
}

/* An in-dialog request m of call c: its sender's CSeq (and a target
 * refresh) goes to the dialog a media-timeout BYE follows; before that
 * dialog is kept (the early dialog: a PRACK, an UPDATE), it is kept for
 * it. */
static void note_request(struct mcall *c, const struct sip_msg *m)
{
	struct sip_str tag;
	struct sip_cseq cs;
	uint32_t *n;

	if (c->dlg) {
		gk_media_dlg_request(c->dlg, m);
		return;
	}
	if (sip_msg_tag(m, SIP_HDR_FROM, &tag) || sip_msg_cseq(m, &cs))
		return;
	n = &c->early_cseq[!sip_str_eq(tag, c->caller_tag)];
	if (cs.num > *n)
		*n = cs.num;
}

void gk_media_forward(struct gk *g, struct sip_fork *fk, const char *ruri,
		      size_t len, const struct sip_peer *to,
		      enum gk_media_side side)
{
	struct gk_media *md = g->media;
	const struct sip_msg *m = sip_fork_request(fk);
	struct sip_str id, tag, sdp;
	const char *why = "bad body";
	struct mcall *c;
	int in_dialog, anchor, rc;

	if (!md || !m || media_callid(g, m, &id)) {
		start_branch(fk, ruri, len, to);
		return;
	}
	c = call_find(md, id);
	in_dialog = sip_msg_tag(m, SIP_HDR_TO, &tag) == 0 && tag.len;
	if (c && in_dialog)
		note_request(c, m);
	anchor = c || (!in_dialog && side != GK_MEDIA_DIRECT &&
		       m->method == SIP_INVITE);
	rc = anchor && (m->method == SIP_INVITE || m->method == SIP_UPDATE ||
			(c && m->method == SIP_PRACK)) ?
	     sip_msg_sdp(m, &sdp, &why) : ENOENT;
	if (rc == EBADMSG) {
		bad_body(md, fk, id, why);
		return;
	}
	if (rc == 0) {
		request_sdp(g, fk, c, id, ruri, len, to,
			    side == GK_MEDIA_DIRECT ? GK_MEDIA_FROM_PUBLIC : side,
			    !in_dialog);
		return;
	}
	if (anchor && !c) {		/* a new INVITE without SDP */
		late_call(g, fk, id, ruri, len, to, side);
		return;
	}
	if (c && m->method == SIP_BYE) {
		ng_delete(md, id, c->inst);
		call_free(md, c);
	} else if (c && in_dialog && m->method == SIP_INVITE) {
		late_offer_expect(c, m, side);	/* a re-INVITE without SDP */
	} else if (!in_dialog && m->method == SIP_INVITE) {
		md->st.direct++;
	}
	start_branch(fk, ruri, len, to);
}

/* ---- answers (responses) ---- */

/* "TOTAG CSEQ" of a response, the key of its cached answer. */
static int answer_key(const struct sip_msg *m, char *key, size_t cap)
{
	struct sip_str tag;
	struct sip_cseq cs;
	int n;

	if (sip_msg_tag(m, SIP_HDR_TO, &tag) || sip_msg_cseq(m, &cs))
		return EBADMSG;
	n = snprintf(key, cap, "%.*s %u", (int)tag.len, tag.s, cs.num);
	return n < 0 || (size_t)n >= cap ? ENOSPC : 0;
}

static void cache_answer(struct mcall *c, const struct sip_msg *m)
{
	char key[160];

	if (m->status < 200 || answer_key(m, key, sizeof(key)))
		return;
	free(c->ans_key);
	free(c->ans_sdp);
	c->ans_key = strdup(key);
	c->ans_sdp = malloc(m->body.len);
	if (c->ans_sdp)
		memcpy(c->ans_sdp, m->body.s, m->body.len);
	c->ans_len = c->ans_sdp ? m->body.len : 0;
}

/* A 2xx retransmission: its body from the cache. 1 when done. */
static int cached_answer(struct mcall *c, struct sip_msg *m)
{
	char key[160];

	return m->status >= 200 && c->ans_key && c->ans_len &&
	       answer_key(m, key, sizeof(key)) == 0 &&
	       strcmp(key, c->ans_key) == 0 &&
	       sip_msg_set_body(m, c->ans_sdp, c->ans_len) == 0;
}

static struct mop *fork_op(struct gk_media *md, const struct sip_fork *f)
{
	struct mop *op = md->forks[hash_ptr(f)];

	while (op && op->f != f)
		op = op->fnext;
	return op;
}

/* The 2xx m answered the call's first INVITE (fork f): keep what a
 * media-timeout BYE to each end needs (media_dlg.c). */
static void keep_dialog(struct gk_media *md, struct mcall *c,
			struct sip_fork *f, const struct sip_msg *m)
{
	const struct sip_msg *req = sip_fork_request(f);
	const struct mop *offer = fork_op(md, f);
	struct gk *g = md->g;

	if (!req || !offer || !offer->initial ||
	    gk_media_dlg_new(g, req, m, &offer->to,
			     offer->side == GK_MEDIA_FROM_PRIVATE, &c->dlg))
		return;
	gk_media_dlg_cseqs(c->dlg, c->early_cseq[0], c->early_cseq[1]);
	c->next_check = ev_now(g->d->loop) +
			(uint64_t)g->cfg->media_check_s * 1000;
}

/* Fork f of a 2xx that `branch` sent; its offer's record now names that
 * branch as the callee (a route's failover: not known when the offer was
 * made). */
static struct sip_fork *answered_by(struct gk_media *md, struct sip_fork *f,
				    unsigned branch)
{
	const struct sip_peer *p = sip_fork_branch_peer(f, branch);
	struct mop *offer = fork_op(md, f);

	if (offer && p)
		offer->to = *p;
	return f;
}

/* rtpengine answered (sdp) or not (empty) the offer of a 1xx m of call
 * c: its early dialog keeps the SDP, or goes (a retransmission of the 1xx
 * tries again). */
static void early_offered(struct mcall *c, const struct sip_msg *m,
			  struct sip_str sdp)
{
	struct gk_early *e;
	struct sip_str tag;

	if (sip_msg_tag(m, SIP_HDR_TO, &tag) ||
	    !(e = gk_early_find(c->early, tag)))
		return;
	if (!sdp.len || gk_early_offered(e, sdp))
		gk_early_remove(&c->early, e);
}

static void on_answer(void *arg, const struct ng_answer *a)
{
	struct mop *op = arg;
	struct gk_media *md = op->md;
	struct sip_str sdp = answer_sdp(a);
	struct mcall *c = call_find(md, (struct sip_str){ op->callid,
							  op->idlen });
	struct sip_msg *m = op->held;

	op->req = NULL;
	if (op->early_offer && c)
		early_offered(c, m, sdp);
	if (sdp.len && sip_msg_set_sdp(m, sdp.s, sdp.len) == 0) {
		if (c) {
			cache_answer(c, m);
			if (m->status >= 200 && !c->dlg)
				keep_dialog(md, c, answered_by(md, op->f,
							       op->branch), m);
		}
		sip_fork_release(op->f, op->status, m);
	} else {
		md->st.failed++;
		log_warnx("media: %.*s: answer to %d failed: %s",
			  (int)op->idlen, op->callid, op->status,
			  a->err ? strerror(a->err) : "no SDP");
		if (op->status >= 200)
			sip_fork_reply(op->f, 500, "Media relay failed", NULL);
		sip_fork_release(op->f, op->status, NULL);
	}
	mop_free(op);
}

/* The offer a 2xx carries in a late-offer call: its offerer is the
 * callee (from-tag = To tag), on the other side from the caller. */
static int late_offer_msg(struct gk_media *md, const struct sip_msg *m,
			  struct sip_str id, enum gk_media_side caller,
			  struct ben_w *w)
{
	struct sip_str tt;

	if (sip_msg_tag(m, SIP_HDR_TO, &tt) || !tt.len)
		return EBADMSG;
	msg_head(w, md, "offer", id);
	put_kv(w, "from-tag", tt);
	put_direction(w, md->g, caller == GK_MEDIA_FROM_PUBLIC ?
		      GK_MEDIA_FROM_PRIVATE : GK_MEDIA_FROM_PUBLIC);
	put_sdp(w, m);
	ben_end(w);
	return w->err;
}

/* A response m with SDP to the INVITE without SDP of call c (waiting for
 * the offer): a 1xx offers (RFC 3262: a reliable 183; the PRACK answers),
 * one early dialog per To tag (forked handsets); every later 1xx or 2xx
 * of that tag carries rtpengine's SDP of that offer again (RFC 6337 3.1:
 * the same SDP), its 2xx leaves the answer to the ACK unless the PRACK
 * gave it. Returns -1 when m is for the caller to handle (*fresh: a 1xx
 * whose offer goes to rtpengine now; else a 2xx offering), or what
 * gk_media_response returns. */
static int early_response(struct mcall *c, struct sip_msg *m, int *fresh)
{
	struct gk_early *e;
	struct sip_str tag;

	*fresh = 0;
	if (sip_msg_tag(m, SIP_HDR_TO, &tag) || !tag.len)
		return -1;
	if (!(e = gk_early_find(c->early, tag))) {
		if (m->status >= 200)
			return -1;
		if (gk_early_add(&c->early, tag, &e))
			return SIP_CORE_DROP;
		*fresh = 1;
		return -1;
	}
	if (e->state == GK_EARLY_OFFERING ||	/* retransmitted meanwhile */
	    sip_msg_set_sdp(m, e->sdp, e->len))
		return SIP_CORE_DROP;		/* never the unanchored SDP */
	if (m->status >= 200) {
		c->late = e->state == GK_EARLY_OFFERED ? LATE_ANSWER : LATE_NO;
		cache_answer(c, m);
	}
	return 0;
}

int gk_media_response(void *arg, struct sip_fork *f, unsigned branch,
		      struct sip_msg *m)
{
	struct gk *g = arg;
	struct gk_media *md = g->media;
	struct sip_str id, sdp;
	struct sip_cseq cs;
	struct mcall *c;
	struct mop *op = NULL;
	struct ben_w w;
	int late, body, rc, fresh = 0;

	if (!md || media_callid(g, m, &id))
		return 0;
	if ((c = call_find(md, id)) != NULL)
		gk_media_dlg_answer(c->dlg, m);	/* a target refresh */
	if ((body = sip_msg_sdp(m, &sdp, NULL)) == ENOENT) {
		if (c && !c->dlg && m->status >= 200 && m->status < 300)
			keep_dialog(md, c, answered_by(md, f, branch), m);
		return 0;		/* (offer and answer were early) */
	}
	if (!c)				/* a 2xx after the call failed */
		return fork_op(md, f) ? SIP_CORE_DROP : 0;
	if (sip_msg_cseq(m, &cs) ||
	    (cs.method != SIP_INVITE && cs.method != SIP_UPDATE &&
	     cs.method != SIP_PRACK) ||
	    cached_answer(c, m))
		return 0;
	late = c->late != LATE_NO && cs.method == SIP_INVITE &&
	       cs.num == c->late_cseq;
	if (late && c->late == LATE_OFFER &&
	    (rc = early_response(c, m, &fresh)) >= 0)
		return rc;
	late = late && (m->status >= 200 || fresh);
	if (late && c->late == LATE_ANSWER)
		return SIP_CORE_DROP;	/* a retransmission while the offer
					   is at rtpengine: the next one is
					   answered from the cache */
	rc = late ? late_offer_msg(md, m, id, c->side, &w) :
		    answer_msg(md, m, id, 0, &w);
	if (mop_new(g, OP_ANSWER, f, id, &op) || sip_msg_dup(m, &op->held)) {
		if (op)
			mop_free(op);
		if (fresh)		/* a retransmission tries again */
			early_offered(c, m, (struct sip_str){ NULL, 0 });
		m->body.len = 0;	/* never the unanchored SDP */
		md->st.failed++;
		return 0;
	}
	op->status = m->status;
	op->branch = branch;
	op->early_offer = fresh;
	md->st.bad_body += body == EBADMSG;
	if (rc) {	/* nothing to ask rtpengine: it fails from the loop
			   (500 instead of a 2xx, a 1xx dropped) */
		op->err = rc;
		ev_timer_start(g->d->loop, &op->now, 0);
		return SIP_CORE_HOLD;
	}
	if (late && !fresh)
		c->late = LATE_ANSWER;
	if (ng_send(md->ng, c->inst, w.buf, w.len, on_answer, op, &op->req))
		ev_timer_start(g->d->loop, &op->now, 0);
	return SIP_CORE_HOLD;
}

/* ---- late offer: the answer in the ACK ---- */

static void on_ack(void *arg, const struct ng_answer *a)
{
	struct mop *op = arg;
	struct gk_media *md = op->md;
	struct sip_str sdp = answer_sdp(a);
	struct mcall *c = call_find(md, (struct sip_str){ op->callid,
							  op->idlen });

	op->req = NULL;
	if (sdp.len && sip_msg_set_sdp(op->held, sdp.s, sdp.len) == 0) {
		if (c)
			c->late = LATE_NO;
		sip_core_ack_forward(md->g->core, op->held, &op->to);
	} else {
		md->st.failed++;	/* the ACK is lost: the callee's 2xx
					   retransmission brings another */
		log_warnx("media: %.*s: answer in the ACK failed: %s",
			  (int)op->idlen, op->callid,
			  a->err ? strerror(a->err) : "no SDP");
	}
	mop_free(op);
}

int gk_media_ack(struct gk *g, const struct sip_msg *m,
		 const struct sip_peer *to)
{
	struct gk_media *md = g->media;
	struct sip_str id, sdp;
	struct sip_cseq cs;
	struct mcall *c;
	struct mop *op;
	struct ben_w w;
	int body;

	if (!md || (body = sip_msg_sdp(m, &sdp, NULL)) == ENOENT ||
	    media_callid(g, m, &id) || !(c = call_find(md, id)) ||
	    c->late != LATE_ANSWER || sip_msg_cseq(m, &cs) ||
	    cs.num != c->late_cseq)
		return 0;
	md->st.bad_body += body == EBADMSG;
	if (body || answer_msg(md, m, id, 1, &w) ||
	    mop_new(g, OP_ACK, NULL, id, &op))
		return 1;
	if (sip_msg_dup(m, &op->held)) {
		mop_free(op);
		return 1;
	}
	op->to = *to;
	if (ng_send(md->ng, c->inst, w.buf, w.len, on_ack, op, &op->req))
		ev_timer_start(g->d->loop, &op->now, 0);
	return 1;
}

/* A final went upstream: the first INVITE of a call failed (rejected,
 * cancelled, timed out) deletes the call at once, not when the fork's
 * transactions have lingered out. */
void gk_media_final(void *arg, struct sip_fork *f, int status)
{
	struct gk *g = arg;
	struct gk_media *md = g->media;
	struct mop *op = md && status >= 300 ? fork_op(md, f) : NULL;
	struct mcall *c;

	if (!op || !op->initial || op->req ||
	    !(c = call_find(md, (struct sip_str){ op->callid, op->idlen })))
		return;
	ng_delete(md, (struct sip_str){ op->callid, op->idlen }, c->inst);
	call_free(md, c);
}

/* A fork ends: an offer in flight learns it; the first INVITE of a call
 * that ended without a 2xx deletes the call. */
void gk_media_done(void *arg, struct sip_fork *f, int status)
{
	struct gk *g = arg;
	struct gk_media *md = g->media;
	struct mop *op = md ? fork_unlink(md, f) : NULL;
	struct mcall *c;

	if (!op)
		return;
	op->f = NULL;
	c = call_find(md, (struct sip_str){ op->callid, op->idlen });
	if (op->initial && c && status >= 200 && status < 300)
		c->confirmed = 1;
	else if (op->initial && c && !op->req) {
		ng_delete(md, (struct sip_str){ op->callid, op->idlen },
			  c->inst);
		call_free(md, c);
	}
	if (!op->req && !ev_timer_active(&op->now))
		mop_free(op);
}

/* ---- life ---- */

/* One counter family with a label: HELP, TYPE and n samples. */
static void family(struct prom_text *t, const char *name, const char *help,
		   const char *label, const char *const *vals,
		   const uint64_t *nums, unsigned n)
{
	prom_printf(t, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (unsigned i = 0; i < n; i++)
		prom_printf(t, "%s{%s=\"%s\"} %llu\n", name, label, vals[i],
			    (unsigned long long)nums[i]);
}

/* /metrics lines (read at scrape time; plain counters of the loop). */
static void collect(struct prom_text *t, void *arg)
{
	static const char *const calls[] = { "anchored", "direct", "no_relay" };
	static const char *const ev[] = { "answer_failed", "deleted",
					  "media_timeout", "table_full",
					  "bad_body" };
	static const char *const ng[] = { "sent", "retransmitted", "answered",
		"error", "timeout", "late", "bad" };
	const struct gk_media *md = arg;
	const struct ng_stats *n = ng_stats(md->ng);
	const struct gk_media_stats *s = &md->st;
	uint64_t c[] = { s->anchored, s->direct, s->no_relay };
	uint64_t e[] = { s->failed, s->deleted, s->timeouts, s->table_full,
			 s->bad_body };
	uint64_t q[] = { n->sent, n->retransmits, n->answered, n->errors,
			 n->timeouts, n->late, n->bad };

	family(t, "dpn_gk_media_calls_total", "new INVITEs by media handling",
	       "result", calls, c, 3);
	family(t, "dpn_gk_media_events_total", "media events", "event", ev, e,
	       5);
	family(t, "dpn_gk_ng_total", "ng requests to rtpengine", "what", ng, q,
	       7);
	prom_printf(t, "# HELP dpn_gk_media_calls anchored calls held\n"
		    "# TYPE dpn_gk_media_calls gauge\ndpn_gk_media_calls %u\n",
		    md->ncalls);
}

int gk_media_new(struct gk *g, struct gk_media **out)
{
	struct ng_cfg nc = { .timeout_ms = g->cfg->ng_timeout_ms,
			     .retries = 2, .ping_ms = 1000 };
	struct gk_media *md;
	int rc;

	*out = NULL;
	if (!g->cfg->rtpengine.n) {
		log_info("gatekeeper: no rtpengine set: media not anchored");
		return 0;
	}
	if (!(md = calloc(1, sizeof(*md))))
		return ENOMEM;
	md->g = g;
	rc = ng_set_new(g->d->loop, &nc, g->cfg->rtpengine.a,
			g->cfg->rtpengine.n, &md->ng);
	if (rc == 0 && g->d->metrics)
		rc = prom_collector_add(g->d->metrics, collect, md);
	if (rc) {
		ng_set_free(md->ng);
		free(md);
		return rc;
	}
	*out = md;
	return 0;
}

/* Before the core is freed: held responses are dropped (released), so
 * the core can free their forks. */
void gk_media_free(struct gk_media *md)
{
	if (!md)
		return;
	md->g->media = NULL;	/* the core's hooks see no media any more */
	for (struct mop *op = md->ops; op; op = op->next)
		if (op->kind == OP_ANSWER && op->f) {
			sip_fork_release(op->f, op->status, NULL);
			op->f = NULL;
		}
	ng_set_free(md->ng);	/* pending ops: no callbacks any more */
	for (unsigned i = 0; i < BUCKETS; i++) {
		while (md->calls[i])
			call_free(md, md->calls[i]);
		md->forks[i] = NULL;
	}
	while (md->ops)
		mop_free(md->ops);
	free(md);
}

/* ---- media timeout ---- */

/* rtpengine no longer knows the call (its --timeout ended it): end it
 * both ways through each end's route set (media_dlg.c), and tell the
 * call records (gk_cdr_ended). */
static void media_timed_out(struct gk_media *md, struct mcall *c)
{
	md->st.timeouts++;	/* first: whoever got a BYE sees it counted */
	gk_media_dlg_bye(md->g, c->dlg, c->callid,
			 "Reason: Q.850;cause=16;text=\"media timeout\"\r\n");
	log_info("media: %s: call ended both ways: media timeout", c->callid);
	gk_cdr_ended(md->g, c->callid, "media timeout");	/* its record */
	call_free(md, c);
}

static void query_due(struct gk_media *md);

static void on_query(void *arg, const struct ng_answer *a)
{
	struct mop *op = arg;
	struct gk_media *md = op->md;
	struct mcall *c = call_find(md, (struct sip_str){ op->callid,
							  op->idlen });

	op->req = NULL;
	md->nquery--;
	if (c) {
		c->querying = 0;
		if (a->err == EPROTO && c->dlg)
			media_timed_out(md, c);
	}
	mop_free(op);
	query_due(md);		/* the next one takes its place */
}

static void query(struct gk_media *md, struct mcall *c)
{
	struct sip_str id = { c->callid, c->idlen };
	struct mop *op;
	struct ben_w w;

	msg_head(&w, md, "query", id);
	ben_end(&w);
	if (w.err || mop_new(md->g, OP_OTHER, NULL, id, &op))
		return;
	if (ng_send(md->ng, c->inst, w.buf, w.len, on_query, op, &op->req)) {
		mop_free(op);
		return;
	}
	c->querying = 1;
	md->nquery++;
}

/* Media checks: each confirmed call is queried once every media-check,
 * with at most QUERY_WINDOW queries out at once; an answer sends the next
 * (query_due from on_query), the one-second tick starts each round. Why
 * a window: calls set up together fall due together, and a thousand
 * queries sent back to back overflow rtpengine's ng socket buffer; the
 * lost ones, retransmitted in the same burst, time out and mark the
 * instance down, so new calls got 503 (bench/gk_media.py, 1,000 calls:
 * 1,915 timeouts in 25 s). The scan goes on from bucket qcur, at most
 * once round the table a call. */
#define QUERY_WINDOW 32
static void query_due(struct gk_media *md)
{
	uint64_t now = ev_now(md->g->d->loop);
	uint64_t period = (uint64_t)md->g->cfg->media_check_s * 1000;

	for (unsigned n = 0; n < BUCKETS && md->nquery < QUERY_WINDOW; n++) {
		for (struct mcall *c = md->calls[md->qcur]; c; c = c->next)
			if (c->dlg && !c->querying && now >= c->next_check) {
				c->next_check = now + period;
				query(md, c);
				if (md->nquery >= QUERY_WINDOW)
					return;	/* this bucket again next time */
			}
		md->qcur = (md->qcur + 1) % BUCKETS;
	}
}

void gk_media_tick(struct gk *g)
{
	if (g->media)
		query_due(g->media);
}

const struct gk_media_stats *gk_media_stats(const struct gk_media *md)
{
	return &md->st;
}

unsigned gk_media_calls(const struct gk_media *md)
{
	return md ? md->ncalls : 0;
}
