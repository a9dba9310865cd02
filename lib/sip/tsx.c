/* lib/sip/tsx.c — the four transaction state machines of RFC 3261
 * section 17 and the table that matches messages to them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sip/tsx.h"
#include "sip/build.h"
#include "sip/hdr.h"
#include "sip/proxy.h"

/* The table starts small (a flat's gatewayd keeps a handful) and doubles
 * while transactions outnumber buckets twice: a proxy at 1,000 calls/s
 * keeps ~100,000 transactions lingering (Timer D/J/K, RFC 6026 Accepted),
 * where a fixed 4,096 buckets made matching a walk of 25-deep chains. */
#define BUCKETS_MIN_BITS 8
#define BUCKETS_MAX_BITS 20
#define TIMER_D 32000

struct sip_tsx {
	struct sip_tsx *next;	/* hash chain */
	struct sip_tsx_layer *l;
	uint64_t key;		/* hash of keytext, masked */
	enum sip_tsx_kind kind;
	enum sip_tsx_state state;
	struct sip_peer peer;
	int reliable, ending;
	enum sip_tsx_end why;
	struct sip_msg *req;	/* parsed request: a copy (server), or
				   parsed from rtext when first asked for
				   (client: most never need it) */
	char *rtext;		/* client: the request as sent */
	size_t rlen;
	struct sip_ack_stem *stem;	/* client INVITE until its final: what
					   its CANCEL and ACK repeat (or NULL) */
	int k3261;		/* the key is an RFC 3261 branch's */
	char *out;		/* what we retransmit: request, response */
	size_t outlen, outcap;	/* or ACK (client INVITE completed) */
	unsigned interval;
	struct ev_timer retr, tmo;
	void *user;
	size_t keylen;
	char keytext[];		/* the full key: matched after the hash */
};

struct sip_tsx_layer {
	struct ev_loop *loop;
	struct sip_tsx_cfg cfg;
	const struct sip_tsx_ops *ops;
	void *arg;
	unsigned count;
	uint64_t mask;		/* of key hashes (cfg.key_hash_bits) */
	unsigned bits;		/* 1 << bits buckets in b */
	struct sip_tsx **b;
};

static int is_client(const struct sip_tsx *t)
{
	return t->kind == SIP_TSX_UAC_INVITE || t->kind == SIP_TSX_UAC;
}

/* ---- table ---- */

static uint64_t key_hash(const struct sip_tsx_layer *l,
			 const struct sip_tsx_key *k)
{
	return k->hash & l->mask;
}

static struct sip_tsx **bucket(const struct sip_tsx_layer *l, uint64_t key)
{
	return &l->b[key & ((1ULL << l->bits) - 1)];
}

/* Twice the buckets, every chain re-threaded; on ENOMEM the table stays
 * as it is (longer chains, still correct). */
static void grow(struct sip_tsx_layer *l)
{
	size_t n = (size_t)1 << l->bits;
	struct sip_tsx **old = l->b;

	l->b = calloc(2 * n, sizeof(*l->b));
	if (!l->b) {
		l->b = old;
		return;
	}
	l->bits++;
	for (size_t i = 0; i < n; i++)
		while (old[i]) {
			struct sip_tsx *t = old[i], **b = bucket(l, t->key);

			old[i] = t->next;
			t->next = *b;
			*b = t;
		}
	free(old);
}

/* By hash, then by the whole key: two requests whose keys collide on the
 * hash stay two transactions. */
static struct sip_tsx *find(struct sip_tsx_layer *l,
			    const struct sip_tsx_key *k, int client)
{
	uint64_t h = key_hash(l, k);

	for (struct sip_tsx *t = *bucket(l, h); t; t = t->next)
		if (t->key == h && is_client(t) == client && !t->ending &&
		    t->keylen == k->len &&
		    memcmp(t->keytext, k->text, k->len) == 0)
			return t;
	return NULL;
}

static void unlink_tsx(struct sip_tsx *t)
{
	for (struct sip_tsx **pp = bucket(t->l, t->key); *pp;
	     pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			return;
		}
}

static void tsx_free(struct sip_tsx *t)
{
	ev_timer_stop(t->l->loop, &t->retr);
	ev_timer_stop(t->l->loop, &t->tmo);
	sip_msg_free(t->req);
	free(t->stem);
	if (t->out != t->rtext)
		free(t->out);
	free(t->rtext);
	free(t);
}

/* ---- ending: always from a timer, so callers never see t vanish ---- */

static void on_end(struct ev_loop *loop, struct ev_timer *tm, void *arg)
{
	struct sip_tsx *t = arg;
	struct sip_tsx_layer *l = t->l;
	(void)loop;
	(void)tm;

	unlink_tsx(t);
	l->count--;
	if (l->ops->terminated)
		l->ops->terminated(l->arg, t, t->why);
	tsx_free(t);
}

/* (Re)arm timer tm with cb; a timer is stopped before it is re-inited so
 * that the heap never holds a stale entry. */
static void arm(struct sip_tsx *t, struct ev_timer *tm, ev_timer_cb cb,
		unsigned ms)
{
	ev_timer_stop(t->l->loop, tm);
	ev_timer_init(tm, cb, t);
	ev_timer_start(t->l->loop, tm, ms);
}

static void end_in(struct sip_tsx *t, unsigned ms, enum sip_tsx_end why)
{
	ev_timer_stop(t->l->loop, &t->retr);
	t->why = why;
	arm(t, &t->tmo, on_end, ms);
}

static void end_now(struct sip_tsx *t, enum sip_tsx_end why)
{
	t->state = SIP_TSX_TERMINATED;
	t->ending = 1;
	end_in(t, 0, why);
}

/* Keep what we may retransmit. The buffer is reused while it is big
 * enough (100, 180, 200 on one server transaction); a client's first
 * `out` is its request text (rtext), which must survive an ACK. */
static int store_out(struct sip_tsx *t, const char *buf, size_t len)
{
	char *p = t->out;

	if (!p || p == t->rtext || len > t->outcap) {
		p = malloc(len > 256 ? len : 256);
		if (!p)
			return ENOMEM;
		if (t->out != t->rtext)
			free(t->out);
		t->outcap = len > 256 ? len : 256;
	}
	memcpy(p, buf, len);
	t->out = p;
	t->outlen = len;
	return 0;
}

static int resend(struct sip_tsx *t)
{
	int rc;

	if (!t->out)
		return 0;
	rc = t->l->ops->send(t->l->arg, &t->peer, t->out, t->outlen);
	if (rc)
		end_now(t, SIP_TSX_END_TRANSPORT);
	return rc;
}

/* ---- timers ---- */

static void on_retr(struct ev_loop *loop, struct ev_timer *tm, void *arg)
{
	struct sip_tsx *t = arg;
	unsigned t2 = t->l->cfg.t2;
	(void)tm;

	if (resend(t))
		return;
	if (t->kind == SIP_TSX_UAC_INVITE)		/* timer A */
		t->interval *= 2;
	else if (t->state == SIP_TSX_PROCEEDING && t->kind == SIP_TSX_UAC)
		t->interval = t2;			/* timer E */
	else
		t->interval = t->interval * 2 < t2 ? t->interval * 2 : t2;
	ev_timer_start(loop, &t->retr, t->interval);
}

static void on_timeout(struct ev_loop *loop, struct ev_timer *tm, void *arg)
{
	struct sip_tsx *t = arg;	/* timers B, F, H */
	(void)loop;
	(void)tm;

	end_now(t, SIP_TSX_END_TIMEOUT);
}

static void start_retr(struct sip_tsx *t)
{
	if (t->reliable)
		return;
	t->interval = t->l->cfg.t1;
	arm(t, &t->retr, on_retr, t->interval);
}

/* Timer C: the TU cancels; we give the final 64*T1 more (like B). */
static void on_timer_c(struct ev_loop *loop, struct ev_timer *tm, void *arg)
{
	struct sip_tsx *t = arg;
	(void)loop;
	(void)tm;

	arm(t, &t->tmo, on_timeout, 64 * t->l->cfg.t1);
	if (t->l->ops->expired)
		t->l->ops->expired(t->l->arg, t);
}

static void start_timeout(struct sip_tsx *t)
{
	arm(t, &t->tmo, on_timeout, 64 * t->l->cfg.t1);
}

/* Enter a waiting state that ends the transaction after ms: D, I, J, K
 * (zero over TCP) or L, M (RFC 6026: on every transport). */
static void linger(struct sip_tsx *t, enum sip_tsx_state st, unsigned ms)
{
	t->state = st;
	end_in(t, t->reliable && st != SIP_TSX_ACCEPTED ? 0 : ms,
	       SIP_TSX_END_DONE);
}

/* ---- creation ---- */

static int tsx_new(struct sip_tsx_layer *l, const struct sip_msg *m,
		   enum sip_tsx_kind kind, const struct sip_tsx_key *k,
		   const struct sip_peer *peer, struct sip_tsx **out)
{
	uint64_t key = key_hash(l, k);
	struct sip_tsx *t;

	if (l->count >= l->cfg.max_tsx)
		return ENOSPC;
	t = calloc(1, sizeof(*t) + k->len);
	if (!t)
		return ENOMEM;
	if (m && sip_msg_dup(m, &t->req)) {
		free(t);
		return ENOMEM;
	}
	t->l = l;
	t->key = key;
	t->keylen = k->len;
	memcpy(t->keytext, k->text, k->len);
	t->kind = kind;
	t->peer = *peer;
	t->reliable = peer->proto == SIP_PROTO_TCP;
	ev_timer_init(&t->retr, on_retr, t);
	ev_timer_init(&t->tmo, on_timeout, t);
	if (l->count >= 2u << l->bits && l->bits < BUCKETS_MAX_BITS)
		grow(l);
	t->next = *bucket(l, key);
	*bucket(l, key) = t;
	l->count++;
	*out = t;
	return 0;
}

/* The stem of INVITE m (build.h), in one block with its text; NULL when
 * it does not fit or on ENOMEM (the CANCEL and ACK then parse rtext). */
static struct sip_ack_stem *stem_new(const struct sip_msg *m)
{
	struct sip_ack_stem st, *s;
	char text[4096];

	if (sip_ack_stem_fill(m, text, sizeof(text), &st) ||
	    !(s = malloc(sizeof(*s) + st.len)))
		return NULL;
	*s = st;
	memcpy(s + 1, text, st.len);
	s->text = (const char *)(s + 1);
	return s;
}

/* A client transaction for request req (len bytes) of `method` with key
 * k: sent, timers started. */
static int client_start(struct sip_tsx_layer *l, enum sip_method method,
			const struct sip_tsx_key *k, const char *req,
			size_t len, const struct sip_peer *to, void *user,
			struct sip_tsx **out)
{
	struct sip_tsx *t;
	int rc;

	if (find(l, k, 1))
		return EEXIST;
	rc = tsx_new(l, NULL, method == SIP_INVITE ? SIP_TSX_UAC_INVITE :
		     SIP_TSX_UAC, k, to, &t);
	if (rc)
		return rc;
	t->user = user;
	t->k3261 = k->rfc3261;
	t->state = t->kind == SIP_TSX_UAC_INVITE ? SIP_TSX_CALLING :
		   SIP_TSX_TRYING;
	t->rtext = malloc(len ? len : 1);
	rc = t->rtext ? 0 : ENOMEM;
	if (rc == 0) {
		memcpy(t->rtext, req, len);
		t->rlen = len;
		t->out = t->rtext;	/* retransmitted as it is */
		t->outlen = len;
	}
	if (rc || (rc = l->ops->send(l->arg, to, req, len)) != 0) {
		unlink_tsx(t);
		l->count--;
		tsx_free(t);
		return rc;
	}
	start_retr(t);
	start_timeout(t);
	*out = t;
	return 0;
}

int sip_tsx_client_msg(struct sip_tsx_layer *l, const struct sip_msg *m,
		       const char *req, size_t len, const struct sip_peer *to,
		       void *user, struct sip_tsx **out)
{
	struct sip_tsx_key k;
	int rc;

	if (!m->is_request || m->method == SIP_ACK || sip_tsx_key(m, 0, &k))
		return EBADMSG;
	rc = client_start(l, m->method, &k, req, len, to, user, out);
	if (rc == 0 && m->method == SIP_INVITE)
		(*out)->stem = stem_new(m);
	return rc;
}

int sip_tsx_client(struct sip_tsx_layer *l, const char *req, size_t len,
		   const struct sip_peer *to, void *user, struct sip_tsx **out)
{
	struct sip_msg m;
	struct sip_perr e;

	if (sip_msg_parse(&m, req, len, SIP_PARSE_STREAM, &e))
		return EBADMSG;
	return sip_tsx_client_msg(l, &m, req, len, to, user, out);
}

/* ---- client side ---- */

int sip_tsx_cancel(struct sip_tsx *inv, const char *extra, void *user,
		   struct sip_tsx **out)
{
	struct sip_ack_stem ls;
	const struct sip_ack_stem *s = inv->stem;
	const struct sip_msg *r;
	struct sip_tsx_key k;
	enum sip_method cm = SIP_CANCEL;
	char text[4096], buf[8192];
	size_t n;
	int rc;

	if (inv->kind != SIP_TSX_UAC_INVITE)
		return EINVAL;
	if (!s && (!(r = sip_tsx_request(inv)) ||
		   sip_ack_stem_fill(r, text, sizeof(text), &ls) != 0))
		return EINVAL;
	rc = sip_ack_stem_write(s ? s : &ls, SIP_CANCEL, NULL, extra, buf,
				sizeof(buf), &n);
	if (rc)
		return rc;
	if (!inv->k3261)	/* RFC 2543 key: the CANCEL's own fields */
		return sip_tsx_client(inv->l, buf, n, &inv->peer, user, out);
	/* Same branch, sent-by and port as the INVITE: only the method in
	 * the key differs (sip_tsx_key puts it first). */
	k.len = inv->keylen;
	memcpy(k.text, inv->keytext, k.len);
	memcpy(k.text, &cm, sizeof(cm));
	k.rfc3261 = 1;
	k.hash = sip_hash(SIP_HASH_INIT, k.text, k.len);
	return client_start(inv->l, SIP_CANCEL, &k, buf, n, &inv->peer, user,
			    out);
}

static void client_invite_final(struct sip_tsx *t, struct sip_msg *m)
{
	char ack[4096];
	size_t n;
	int rc = t->stem ?
		 sip_ack_stem_write(t->stem, SIP_ACK, m, NULL, ack, sizeof(ack),
				    &n) :
		 !sip_tsx_request(t) ? EINVAL :
		 sip_ack_cancel_write(t->req, SIP_ACK, m, ack, sizeof(ack), &n);

	free(t->stem);
	t->stem = NULL;
	if (rc || store_out(t, ack, n) || resend(t))
		return;
	/* The parsed request (a 6 kB struct) is not kept through timer D: it
	 * is parsed again from rtext if anyone asks. A flat call forked to 8
	 * handsets that are busy held ~50 kB for 32 s without this. */
	sip_msg_free(t->req);
	t->req = NULL;
	linger(t, SIP_TSX_COMPLETED, TIMER_D);
}

static void client_response(struct sip_tsx *t, struct sip_msg *m)
{
	const struct sip_tsx_ops *ops = t->l->ops;
	int final = m->status >= 200;

	if (t->state == SIP_TSX_ACCEPTED) {
		if (m->status >= 200 && m->status < 300)
			ops->response(t->l->arg, t, m);	/* RFC 6026 */
		return;
	}
	if (t->state == SIP_TSX_COMPLETED) {
		if (t->kind == SIP_TSX_UAC_INVITE && final)
			resend(t);	/* the final again: ACK again */
		return;
	}
	if (!final) {
		if (t->kind == SIP_TSX_UAC_INVITE) {
			/* A and B stop; C (re)starts with each provisional */
			ev_timer_stop(t->l->loop, &t->retr);
			arm(t, &t->tmo, on_timer_c, t->l->cfg.timer_c);
		}
		t->state = SIP_TSX_PROCEEDING;
		ops->response(t->l->arg, t, m);
		return;
	}
	ev_timer_stop(t->l->loop, &t->retr);
	ev_timer_stop(t->l->loop, &t->tmo);
	ops->response(t->l->arg, t, m);
	if (t->kind == SIP_TSX_UAC_INVITE && m->status < 300) {
		free(t->stem);		/* a 2xx's ACK is end to end */
		t->stem = NULL;
		linger(t, SIP_TSX_ACCEPTED, 64 * t->l->cfg.t1);	/* M */
	}
	else if (t->kind == SIP_TSX_UAC_INVITE)
		client_invite_final(t, m);
	else
		linger(t, SIP_TSX_COMPLETED, t->l->cfg.t4);
}

/* ---- server side ---- */

static void server_ack(struct sip_tsx *t)
{
	if (t->state != SIP_TSX_COMPLETED)
		return;		/* CONFIRMED: absorb */
	ev_timer_stop(t->l->loop, &t->retr);
	ev_timer_stop(t->l->loop, &t->tmo);
	linger(t, SIP_TSX_CONFIRMED, t->l->cfg.t4);
}

static void server_retransmission(struct sip_tsx *t)
{
	if (t->state == SIP_TSX_PROCEEDING || t->state == SIP_TSX_COMPLETED)
		resend(t);
}

static void send_100(struct sip_tsx *t)
{
	char buf[4096];
	size_t n;

	if (sip_response_write(t->req, 100, NULL, NULL, NULL,
			       (struct sip_str){ 0 }, buf, sizeof(buf), &n) == 0)
		sip_tsx_respond(t, buf, n);
}

static void answer_503(struct sip_tsx_layer *l, const struct sip_msg *m,
		       const struct sip_peer *from)
{
	char buf[4096];
	size_t n;

	if (m->method != SIP_ACK &&
	    sip_response_write(m, 503, NULL, NULL, "Retry-After: 5\r\n",
			       (struct sip_str){ 0 }, buf, sizeof(buf), &n) == 0)
		l->ops->send(l->arg, from, buf, n);
}

static int new_server(struct sip_tsx_layer *l, struct sip_msg *m,
		      const struct sip_tsx_key *key, const struct sip_peer *from)
{
	int inv = m->method == SIP_INVITE;
	struct sip_tsx *t;
	int rc = tsx_new(l, m, inv ? SIP_TSX_UAS_INVITE : SIP_TSX_UAS, key,
			 from, &t);

	if (rc) {
		answer_503(l, m, from);
		return rc;
	}
	t->state = inv ? SIP_TSX_PROCEEDING : SIP_TSX_TRYING;
	if (inv && l->cfg.auto_100)
		send_100(t);
	l->ops->request(l->arg, t, m, from);
	return 0;
}

static int recv_request(struct sip_tsx_layer *l, struct sip_msg *m,
			const struct sip_peer *from)
{
	struct sip_tsx_key k;
	struct sip_tsx *t;

	if (sip_tsx_key(m, m->method == SIP_ACK || m->method == SIP_INVITE ?
			SIP_INVITE : 0, &k))
		return EBADMSG;
	t = find(l, &k, 0);
	if (m->method == SIP_ACK) {
		if (t && t->kind == SIP_TSX_UAS_INVITE &&
		    t->state != SIP_TSX_ACCEPTED)
			server_ack(t);
		else	/* a 2xx ACK: the TU's (RFC 6026 Accepted too) */
			l->ops->stray(l->arg, m, from);
		return 0;
	}
	if (t) {
		server_retransmission(t);
		return 0;
	}
	return new_server(l, m, &k, from);
}

int sip_tsx_layer_recv(struct sip_tsx_layer *l, struct sip_msg *m,
		       const struct sip_peer *from)
{
	struct sip_tsx_key k;
	struct sip_tsx *t;

	if (m->is_request)
		return recv_request(l, m, from);
	if (sip_tsx_key(m, 0, &k))
		return EBADMSG;
	t = find(l, &k, 1);
	if (t)
		client_response(t, m);
	else
		l->ops->stray(l->arg, m, from);
	return 0;
}

/* The status of a response we are given to send: its first line is
 * enough (the TU wrote or forwarded a whole message). */
static int status_of(const char *resp, size_t len, int *status)
{
	if (len < 12 || memcmp(resp, "SIP/2.0 ", 8) != 0 ||
	    resp[8] < '1' || resp[8] > '6' || resp[9] < '0' || resp[9] > '9' ||
	    resp[10] < '0' || resp[10] > '9' || resp[11] != ' ')
		return EINVAL;
	*status = (resp[8] - '0') * 100 + (resp[9] - '0') * 10 +
		  (resp[10] - '0');
	return 0;
}

int sip_tsx_respond(struct sip_tsx *t, const char *resp, size_t len)
{
	struct { int status; } m;
	int rc;

	if (is_client(t) || t->ending || t->state == SIP_TSX_COMPLETED ||
	    t->state == SIP_TSX_CONFIRMED)
		return EINVAL;
	if (status_of(resp, len, &m.status))
		return EINVAL;
	if (t->state == SIP_TSX_ACCEPTED)	/* only more 2xx (RFC 6026) */
		return m.status >= 200 && m.status < 300 ?
		       t->l->ops->send(t->l->arg, &t->peer, resp, len) : EINVAL;
	if ((rc = store_out(t, resp, len)) != 0 || (rc = resend(t)) != 0)
		return rc;
	if (m.status < 200) {
		t->state = SIP_TSX_PROCEEDING;
	} else if (t->kind == SIP_TSX_UAS) {
		linger(t, SIP_TSX_COMPLETED, 64 * t->l->cfg.t1);	/* J */
	} else if (m.status < 300) {
		linger(t, SIP_TSX_ACCEPTED, 64 * t->l->cfg.t1);	/* L */
	} else {
		t->state = SIP_TSX_COMPLETED;
		start_retr(t);		/* G */
		start_timeout(t);	/* H */
	}
	return 0;
}

void sip_tsx_layer_peer_failed(struct sip_tsx_layer *l,
			       const struct sip_peer *to)
{
	for (size_t i = 0; i < (size_t)1 << l->bits; i++)
		for (struct sip_tsx *t = l->b[i]; t; t = t->next)
			if (is_client(t) && !t->ending &&
			    (t->state == SIP_TSX_CALLING ||
			     t->state == SIP_TSX_TRYING) &&
			    t->peer.proto == to->proto &&
			    t->peer.salen == to->salen &&
			    memcmp(&t->peer.sa, &to->sa, to->salen) == 0)
				end_now(t, SIP_TSX_END_TRANSPORT);
}

struct sip_tsx *sip_tsx_find_invite(struct sip_tsx_layer *l,
				    const struct sip_msg *m)
{
	struct sip_tsx_key k;
	struct sip_tsx *t;

	if (sip_tsx_key(m, SIP_INVITE, &k))
		return NULL;
	t = find(l, &k, 0);
	return t && t->kind == SIP_TSX_UAS_INVITE ? t : NULL;
}

/* ---- layer ---- */

int sip_tsx_layer_new(struct ev_loop *loop, const struct sip_tsx_cfg *cfg,
		      const struct sip_tsx_ops *ops, void *arg,
		      struct sip_tsx_layer **out)
{
	struct sip_tsx_layer *l = calloc(1, sizeof(*l));

	if (!l)
		return ENOMEM;
	l->bits = BUCKETS_MIN_BITS;
	l->b = calloc((size_t)1 << l->bits, sizeof(*l->b));
	if (!l->b) {
		free(l);
		return ENOMEM;
	}
	l->loop = loop;
	l->cfg = *cfg;
	if (!l->cfg.t1)
		l->cfg.t1 = 500;
	if (!l->cfg.t2)
		l->cfg.t2 = 4000;
	if (!l->cfg.t4)
		l->cfg.t4 = 5000;
	if (!l->cfg.max_tsx)
		l->cfg.max_tsx = 262144;
	if (!l->cfg.timer_c)
		l->cfg.timer_c = 180000;
	l->mask = !l->cfg.key_hash_bits || l->cfg.key_hash_bits >= 64 ?
		  ~0ULL : (1ULL << l->cfg.key_hash_bits) - 1;
	l->ops = ops;
	l->arg = arg;
	*out = l;
	return 0;
}

void sip_tsx_layer_free(struct sip_tsx_layer *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < (size_t)1 << l->bits; i++)
		while (l->b[i]) {
			struct sip_tsx *t = l->b[i];
			l->b[i] = t->next;
			if (l->ops->terminated)
				l->ops->terminated(l->arg, t,
						   SIP_TSX_END_SHUTDOWN);
			tsx_free(t);
		}
	free(l->b);
	free(l);
}

enum sip_tsx_kind sip_tsx_kind(const struct sip_tsx *t) { return t->kind; }
enum sip_tsx_state sip_tsx_state(const struct sip_tsx *t) { return t->state; }
const struct sip_msg *sip_tsx_request(const struct sip_tsx *t)
{
	struct sip_tsx *w = (struct sip_tsx *)t;	/* a cache fill */
	struct sip_msg *m;
	struct sip_perr e;

	if (t->req || !t->rtext)
		return t->req;
	m = malloc(sizeof(*m));
	if (!m)
		return NULL;
	if (sip_msg_parse(m, t->rtext, t->rlen, SIP_PARSE_STREAM, &e)) {
		free(m);
		return NULL;
	}
	w->req = m;
	return m;
}
const struct sip_peer *sip_tsx_peer(const struct sip_tsx *t) { return &t->peer; }
struct sip_msg *sip_tsx_request_edit(struct sip_tsx *t)
{
	return is_client(t) ? NULL : t->req;
}

void *sip_tsx_user(const struct sip_tsx *t) { return t->user; }
void sip_tsx_set_user(struct sip_tsx *t, void *user) { t->user = user; }
unsigned sip_tsx_layer_count(const struct sip_tsx_layer *l) { return l->count; }
