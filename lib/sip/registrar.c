/* lib/sip/registrar.c — REGISTER handling and the binding table (see
 * registrar.h for the contract). The table is a fixed array of hash
 * buckets (sized from max_aors) chaining one entry per AOR, each with room
 * for max_bindings bindings. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/registrar.h"
#include "sip/proxy.h"

struct reg_aor {
	struct reg_aor *next;
	uint64_t hash;
	unsigned n;
	struct sip_reg_binding b[];
};

struct sip_reg {
	struct sip_reg_cfg cfg;
	char realm[64];
	struct sip_reg_ops ops;
	void *arg;
	struct sip_digest_server *digest;
	struct reg_aor **bucket;
	size_t nbuckets;		/* a power of two */
	unsigned naors, nbindings;
	uint64_t next_expiry;		/* no binding expires before this
					   (UINT64_MAX: none at all) */
	struct sip_reg_stats stats;
};

/* One Contact of the request. */
struct reg_contact {
	struct sip_str uri;
	uint64_t expires;
	uint16_t host_at, host_len, port;	/* in uri (binding's) */
};

/* The request as the registrar reads it. */
struct reg_req {
	char aor[SIP_REG_AOR_MAX];
	struct reg_contact c[SIP_REG_MAX_BINDINGS];
	unsigned nc;
	int star;
	struct sip_str call_id, ua;
	uint32_t cseq;
};

static void set_defaults(struct sip_reg_cfg *c)
{
	if (!c->nonce_ttl)
		c->nonce_ttl = 300;
	if (!c->min_expires)
		c->min_expires = 60;
	if (!c->max_expires)
		c->max_expires = 3600;
	if (!c->default_expires)
		c->default_expires = 3600;
	if (!c->max_bindings)
		c->max_bindings = 1;
	if (!c->max_aors)
		c->max_aors = 100000;
	if (!c->md5 && !c->sha256)
		c->md5 = c->sha256 = 1;
}

int sip_reg_new(const struct sip_reg_cfg *cfg, const struct sip_reg_ops *ops,
		void *arg, struct sip_reg **out)
{
	struct sip_reg *r;
	int rc;

	if (!cfg || !cfg->realm || !ops || !ops->ha1 ||
	    strlen(cfg->realm) >= sizeof(r->realm) ||
	    cfg->max_bindings > SIP_REG_MAX_BINDINGS)
		return EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return ENOMEM;
	r->next_expiry = UINT64_MAX;
	r->cfg = *cfg;
	set_defaults(&r->cfg);
	strcpy(r->realm, cfg->realm);
	r->cfg.realm = r->realm;
	r->ops = *ops;
	r->arg = arg;
	rc = EINVAL;
	if (r->cfg.min_expires > r->cfg.max_expires)
		goto fail;
	r->nbuckets = 64;
	while (r->nbuckets < r->cfg.max_aors && r->nbuckets < (1u << 20))
		r->nbuckets <<= 1;
	rc = ENOMEM;
	r->bucket = calloc(r->nbuckets, sizeof(*r->bucket));
	if (!r->bucket)
		goto fail;
	rc = sip_digest_server_new(r->realm, r->cfg.nonce_ttl, &r->digest);
	if (rc)
		goto fail;
	*out = r;
	return 0;
fail:
	sip_reg_free(r);
	return rc;
}

void sip_reg_free(struct sip_reg *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; r->bucket && i < r->nbuckets; i++) {
		struct reg_aor *a = r->bucket[i], *next;

		for (; a; a = next) {
			next = a->next;
			free(a);
		}
	}
	free(r->bucket);
	sip_digest_server_free(r->digest);
	free(r);
}

int sip_reg_set_expiry(struct sip_reg *r, unsigned min_expires,
		       unsigned max_expires)
{
	if (!min_expires || min_expires > max_expires)
		return EINVAL;
	r->cfg.min_expires = min_expires;
	r->cfg.max_expires = max_expires;
	return 0;
}

const struct sip_reg_stats *sip_reg_stats(const struct sip_reg *r)
{
	return &r->stats;
}

unsigned sip_reg_aors(const struct sip_reg *r)
{
	return r->naors;
}

unsigned sip_reg_bindings(const struct sip_reg *r)
{
	return r->nbindings;
}

/* ---- the table ---- */

static uint64_t aor_hash(const char *aor)
{
	return sip_hash(SIP_HASH_INIT, aor, strlen(aor));
}

static struct reg_aor **aor_slot(const struct sip_reg *r, const char *aor)
{
	uint64_t h = aor_hash(aor);
	struct reg_aor **p = &r->bucket[h & (r->nbuckets - 1)];

	for (; *p; p = &(*p)->next)
		if ((*p)->hash == h && strcmp((*p)->b[0].aor, aor) == 0)
			break;
	return p;
}

/* The entry of aor, created when absent and `create`. NULL: absent, or
 * ENOSPC/ENOMEM in *err. Entries keep b[0].aor set even when n == 0. */
static struct reg_aor *aor_get(struct sip_reg *r, const char *aor, int create,
			       int *err)
{
	struct reg_aor **p = aor_slot(r, aor), *a;

	*err = 0;
	if (*p || !create)
		return *p;
	*err = ENOSPC;
	if (r->naors >= r->cfg.max_aors)
		return NULL;
	*err = ENOMEM;
	a = calloc(1, sizeof(*a) + r->cfg.max_bindings * sizeof(a->b[0]));
	if (!a)
		return NULL;
	a->hash = aor_hash(aor);
	snprintf(a->b[0].aor, sizeof(a->b[0].aor), "%s", aor);
	*p = a;
	r->naors++;
	*err = 0;
	return a;
}

/* Free an entry left without bindings. */
static void aor_drop_if_empty(struct sip_reg *r, struct reg_aor *a)
{
	struct reg_aor **p;

	if (a->n)
		return;
	p = aor_slot(r, a->b[0].aor);
	if (*p != a)
		return;
	*p = a->next;
	r->naors--;
	free(a);
}

/* Remove binding i of a, telling ops->changed. Keeps b[0].aor set. */
static void binding_del(struct sip_reg *r, struct reg_aor *a, unsigned i,
			enum sip_reg_change why)
{
	struct sip_reg_binding gone = a->b[i];

	a->n--;
	if (i != a->n)
		a->b[i] = a->b[a->n];
	if (a->n == 0)
		snprintf(a->b[0].aor, sizeof(a->b[0].aor), "%s", gone.aor);
	r->nbindings--;
	if (r->ops.changed)
		r->ops.changed(r->arg, &gone, why);
}

static int binding_index(const struct reg_aor *a, struct sip_str uri)
{
	unsigned i;

	for (i = 0; i < a->n; i++)
		if (sip_str_eq(uri, a->b[i].contact))
			return (int)i;
	return -1;
}

const struct sip_reg_binding *sip_reg_find(const struct sip_reg *r,
					   const char *aor, uint64_t now)
{
	const struct sip_reg_binding *best = NULL;
	const struct reg_aor *a = *aor_slot(r, aor);
	unsigned i;

	for (i = 0; a && i < a->n; i++)
		if (a->b[i].expires > now &&
		    (!best || a->b[i].expires > best->expires))
			best = &a->b[i];
	return best;
}

unsigned sip_reg_find_all(const struct sip_reg *r, const char *aor,
			  uint64_t now, const struct sip_reg_binding **out,
			  unsigned cap)
{
	const struct reg_aor *a = *aor_slot(r, aor);
	unsigned i, n = 0;

	for (i = 0; a && i < a->n && n < cap; i++)
		if (a->b[i].expires > now)
			out[n++] = &a->b[i];
	return n;
}

/* The whole table is walked only when a binding may have expired: the
 * gatekeeper's table has a bucket per possible flat (up to 2^20), and a
 * walk every second cost it 3 M instructions idle. next_expiry only moves
 * down between walks (a refresh leaves it early: one walk finds nothing
 * and sets it right). */
unsigned sip_reg_expire(struct sip_reg *r, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	unsigned done = 0, i;
	size_t k;

	if (now < r->next_expiry)
		return 0;
	for (k = 0; k < r->nbuckets; k++) {
		struct reg_aor *a = r->bucket[k], *nx;

		for (; a; a = nx) {
			nx = a->next;
			for (i = a->n; i-- > 0;)
				if (a->b[i].expires <= now) {
					binding_del(r, a, i, SIP_REG_EXPIRED);
					done++;
				} else if (a->b[i].expires < next) {
					next = a->b[i].expires;
				}
			aor_drop_if_empty(r, a);
		}
	}
	r->next_expiry = next;
	return done;
}

unsigned sip_reg_remove_aor(struct sip_reg *r, const char *aor)
{
	struct reg_aor *a = *aor_slot(r, aor);
	unsigned done = 0;

	if (!a)
		return 0;
	while (a->n) {
		binding_del(r, a, a->n - 1, SIP_REG_REMOVED);
		done++;
	}
	aor_drop_if_empty(r, a);
	return done;
}

/* The binding's host and port from its contact (restored from a store). */
static void contact_host(struct sip_reg_binding *b)
{
	struct sip_uri u;

	b->host_at = b->host_len = b->port = 0;
	if (sip_uri_parse((struct sip_str){ b->contact, strlen(b->contact) },
			  &u, NULL) == 0 && u.host.len) {
		b->host_at = (uint16_t)(u.host.s - b->contact);
		b->host_len = (uint16_t)u.host.len;
		b->port = (uint16_t)u.port;
	}
}

int sip_reg_restore(struct sip_reg *r, const struct sip_reg_binding *b,
		    uint64_t now)
{
	struct reg_aor *a;
	int err, i;

	if (!b->aor[0] || !b->contact[0] ||
	    !memchr(b->aor, 0, sizeof(b->aor)) ||
	    !memchr(b->contact, 0, sizeof(b->contact)))
		return EINVAL;
	if (b->expires <= now)
		return ESTALE;
	a = aor_get(r, b->aor, 1, &err);
	if (!a)
		return err == ENOMEM ? ENOMEM : ENOSPC;
	i = binding_index(a, (struct sip_str){ b->contact,
					       strlen(b->contact) });
	if (b->expires < r->next_expiry)
		r->next_expiry = b->expires;
	if (i >= 0) {
		a->b[i] = *b;
		contact_host(&a->b[i]);
		return 0;
	}
	if (a->n >= r->cfg.max_bindings) {
		aor_drop_if_empty(r, a);
		return ENOSPC;
	}
	a->b[a->n] = *b;
	contact_host(&a->b[a->n++]);
	r->nbindings++;
	return 0;
}

/* ---- reading the request ---- */

static int bad(struct sip_reg *r, struct sip_reg_answer *ans,
	       const char *why)
{
	r->stats.bad++;
	ans->status = 400;
	ans->reason = why;
	return 0;
}

static int read_aor(const struct sip_msg *m, struct reg_req *q)
{
	struct sip_addr to;
	size_t n;

	if (sip_msg_to(m, &to) || !to.uri.has_user || to.uri.user.len == 0 ||
	    (to.uri.scheme != SIP_SCHEME_SIP &&
	     to.uri.scheme != SIP_SCHEME_SIPS))
		return EBADMSG;
	if (sip_unescape(to.uri.user, q->aor, sizeof(q->aor) - 1, &n) ||
	    memchr(q->aor, 0, n))
		return EBADMSG;
	q->aor[n] = '\0';
	return 0;
}

/* The Expires header, or dflt. */
static int read_expires_hdr(const struct sip_msg *m, uint64_t dflt,
			    uint64_t *out)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_EXPIRES, 0);

	*out = dflt;
	if (i < 0)
		return 0;
	return sip_delta_parse(m->hdrs[i].value, UINT32_MAX, out, NULL);
}

static int add_contact(struct reg_req *q, const struct sip_addr *a,
		       uint64_t dflt)
{
	struct sip_str v;
	struct reg_contact *c;

	if (a->star) {
		q->star = 1;
		return 0;
	}
	if (q->nc >= SIP_REG_MAX_BINDINGS ||
	    a->uri_str.len >= SIP_REG_URI_MAX || a->uri_str.len == 0)
		return EBADMSG;
	c = &q->c[q->nc++];
	c->uri = a->uri_str;
	c->expires = dflt;
	c->host_at = (uint16_t)(a->uri.host.s - a->uri_str.s);
	c->host_len = (uint16_t)a->uri.host.len;
	c->port = (uint16_t)a->uri.port;
	if (sip_param_find(a->params, "expires", &v))
		return sip_delta_parse(v, UINT32_MAX, &c->expires, NULL);
	return 0;
}

/* Contact lines into q; `dflt` is the expiry without a parameter. */
static int read_contacts(const struct sip_msg *m, struct reg_req *q,
			 uint64_t dflt)
{
	int i = -1;

	while ((i = sip_msg_hdr_find(m, SIP_HDR_CONTACT, (unsigned)(i + 1))) >= 0) {
		size_t pos = 0;
		struct sip_str v;
		struct sip_addr a;
		int more;

		while ((more = sip_hdr_next_value(m->hdrs[i].value, &pos, &v)) > 0)
			if (sip_addr_parse(v, SIP_ADDR_ALLOW_STAR, &a, NULL) ||
			    add_contact(q, &a, dflt))
				return EBADMSG;
		if (more < 0)
			return EBADMSG;
	}
	return 0;
}

/* Everything but credentials; 0 or a reason for 400 in *why. */
static int read_request(const struct sip_reg *r, const struct sip_msg *m,
			struct reg_req *q, const char **why)
{
	struct sip_cseq cs;
	uint64_t dflt;
	int i;

	memset(q, 0, sizeof(*q));
	*why = "Bad To (no user)";
	if (read_aor(m, q))
		return EBADMSG;
	*why = "Bad Expires";
	if (read_expires_hdr(m, r->cfg.default_expires, &dflt))
		return EBADMSG;
	*why = "Bad Contact";
	if (read_contacts(m, q, dflt))
		return EBADMSG;
	*why = "Contact * needs Expires: 0 and no other Contact";
	if (q->star && (q->nc || dflt != 0 ||
			sip_msg_hdr_find(m, SIP_HDR_EXPIRES, 0) < 0))
		return EBADMSG;
	*why = "Bad Call-ID or CSeq";
	if (sip_msg_callid(m, &q->call_id) || sip_msg_cseq(m, &cs) ||
	    q->call_id.len >= SIP_REG_CALLID_MAX)
		return EBADMSG;
	q->cseq = cs.num;
	i = sip_msg_hdr_find(m, SIP_HDR_USER_AGENT, 0);
	if (i >= 0)
		q->ua = m->hdrs[i].value;
	return 0;
}

/* ---- answers ---- */

__attribute__((format(printf, 2, 3)))
static int extra_printf(struct sip_reg_answer *ans, const char *fmt, ...)
{
	size_t room = sizeof(ans->extra) - ans->extra_len;
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(ans->extra + ans->extra_len, room, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= room) {
		ans->extra[ans->extra_len] = '\0';
		return ENOSPC;
	}
	ans->extra_len += (size_t)w;
	return 0;
}

static void answer(struct sip_reg_answer *ans, int status, const char *why)
{
	ans->status = status;
	ans->reason = why;
}

static void challenge_one(struct sip_reg *r, struct sip_reg_answer *ans,
			  enum sip_digest_alg alg, uint64_t now, int stale)
{
	char v[384];
	size_t n;

	if (!sip_digest_challenge(r->digest, alg, now, stale, v, sizeof(v), &n))
		extra_printf(ans, "WWW-Authenticate: %.*s\r\n", (int)n, v);
}

static void challenge(struct sip_reg *r, struct sip_reg_answer *ans,
		      uint64_t now, int stale)
{
	answer(ans, 401, "Unauthorized");
	if (r->cfg.sha256)
		challenge_one(r, ans, SIP_DIGEST_SHA256, now, stale);
	if (r->cfg.md5)
		challenge_one(r, ans, SIP_DIGEST_MD5, now, stale);
}

/* 200 with the AOR's live bindings. */
static void answer_bindings(struct sip_reg *r, const char *aor, uint64_t now,
			    struct sip_reg_answer *ans)
{
	const struct sip_reg_binding *b[SIP_REG_MAX_BINDINGS];
	unsigned n = sip_reg_find_all(r, aor, now, b, SIP_REG_MAX_BINDINGS), i;

	answer(ans, 200, "OK");
	for (i = 0; i < n; i++)
		extra_printf(ans, "Contact: <%s>;expires=%llu\r\n",
			     b[i]->contact,
			     (unsigned long long)(b[i]->expires - now));
}

/* ---- authentication ---- */

/* The Authorization for our realm: 0, ENOENT (none), EBADMSG. */
static int find_cred(const struct sip_reg *r, const struct sip_msg *m,
		     struct sip_auth *cred)
{
	int i = -1;
	struct sip_str realm;

	while ((i = sip_msg_hdr_find(m, SIP_HDR_AUTHORIZATION,
				     (unsigned)(i + 1))) >= 0) {
		if (sip_auth_parse(m->hdrs[i].value, cred, NULL))
			return EBADMSG;
		if (sip_auth_param(cred, "realm", &realm) &&
		    sip_str_eq(realm, r->realm))
			return 0;
	}
	return ENOENT;
}

/* 0 when authenticated; otherwise ans is filled. */
static int authenticate(struct sip_reg *r, const struct sip_msg *m,
			const char *aor, uint64_t now,
			struct sip_reg_answer *ans)
{
	char user[SIP_REG_AOR_MAX + 8], ha1[SIP_DIGEST_HEX];
	enum sip_digest_alg alg;
	struct sip_auth cred;
	struct sip_str u;
	int rc = find_cred(r, m, &cred);

	if (rc == ENOENT) {
		r->stats.challenged++;
		challenge(r, ans, now, 0);
		return EACCES;
	}
	if (rc || sip_digest_username(&cred, &u) ||
	    sip_digest_alg_of(&cred, &alg) ||
	    u.len >= sizeof(user) || memchr(u.s, 0, u.len)) {
		bad(r, ans, "Bad Authorization");
		return EBADMSG;
	}
	memcpy(user, u.s, u.len);
	user[u.len] = '\0';
	if ((alg == SIP_DIGEST_MD5 && !r->cfg.md5) ||
	    (alg == SIP_DIGEST_SHA256 && !r->cfg.sha256)) {
		r->stats.challenged++;
		challenge(r, ans, now, 0);
		return EACCES;
	}
	rc = r->ops.ha1(r->arg, aor, user, alg, ha1);
	if (rc == EACCES) {
		r->stats.forbidden++;
		answer(ans, 403, "Forbidden (user may not register this AOR)");
		return EACCES;
	}
	if (rc == 0) {
		ha1[SIP_DIGEST_HEX - 1] = '\0';
		rc = sip_digest_verify(r->digest, &cred, m->method_str, m->ruri,
				       ha1, now);
	}
	if (rc == 0)
		return 0;
	if (rc == EBADMSG) {
		bad(r, ans, "Bad Authorization");
		return rc;
	}
	r->stats.auth_failed++;
	challenge(r, ans, now, rc == ESTALE);
	return rc;
}

/* ---- applying ---- */

/* 500 when a binding of the same Call-ID has a CSeq not lower. */
static int out_of_order(const struct reg_aor *a, const struct reg_req *q)
{
	unsigned i;

	for (i = 0; a && i < a->n; i++)
		if (sip_str_eq(q->call_id, a->b[i].call_id) &&
		    a->b[i].cseq >= q->cseq)
			return 1;
	return 0;
}

static void fill_binding(struct sip_reg_binding *b, const struct reg_req *q,
			 const struct reg_contact *c,
			 const struct sip_peer *from, uint64_t now)
{
	size_t ua = q->ua.len < SIP_REG_UA_MAX ? q->ua.len : SIP_REG_UA_MAX - 1;

	snprintf(b->aor, sizeof(b->aor), "%s", q->aor);
	memcpy(b->contact, c->uri.s, c->uri.len);
	b->contact[c->uri.len] = '\0';
	b->host_at = c->host_at;
	b->host_len = c->host_len;
	b->port = c->port;
	if (ua)
		memcpy(b->user_agent, q->ua.s, ua);
	b->user_agent[ua] = '\0';
	memcpy(b->call_id, q->call_id.s, q->call_id.len);
	b->call_id[q->call_id.len] = '\0';
	b->cseq = q->cseq;
	b->source = *from;
	b->expires = now + c->expires;
}

/* The binding that expires first (to make room). */
static unsigned oldest(const struct reg_aor *a)
{
	unsigned i, o = 0;

	for (i = 1; i < a->n; i++)
		if (a->b[i].expires < a->b[o].expires)
			o = i;
	return o;
}

static void apply_one(struct sip_reg *r, struct reg_aor *a,
		      const struct reg_req *q, const struct reg_contact *c,
		      const struct sip_peer *from, uint64_t now)
{
	int i = binding_index(a, c->uri);
	struct sip_reg_binding *b;

	if (c->expires == 0) {
		if (i >= 0)
			binding_del(r, a, (unsigned)i, SIP_REG_REMOVED);
		return;
	}
	if (now + c->expires < r->next_expiry)
		r->next_expiry = now + c->expires;
	if (i >= 0) {
		b = &a->b[i];
		fill_binding(b, q, c, from, now);
		if (r->ops.changed)
			r->ops.changed(r->arg, b, SIP_REG_REFRESHED);
		return;
	}
	if (a->n >= r->cfg.max_bindings)
		binding_del(r, a, oldest(a), SIP_REG_REMOVED);
	b = &a->b[a->n++];
	r->nbindings++;
	memset(b, 0, sizeof(*b));
	fill_binding(b, q, c, from, now);
	b->since = now;
	if (r->ops.changed)
		r->ops.changed(r->arg, b, SIP_REG_ADDED);
}

/* Expiry checks (423) and clamping; 0 to go on. */
static int check_expiry(struct sip_reg *r, struct reg_req *q,
			struct sip_reg_answer *ans)
{
	unsigned i;

	for (i = 0; i < q->nc; i++) {
		if (q->c[i].expires && q->c[i].expires < r->cfg.min_expires) {
			r->stats.too_brief++;
			answer(ans, 423, "Interval Too Brief");
			extra_printf(ans, "Min-Expires: %u\r\n",
				     r->cfg.min_expires);
			return EINVAL;
		}
		if (q->c[i].expires > r->cfg.max_expires)
			q->c[i].expires = r->cfg.max_expires;
	}
	return 0;
}

static void apply(struct sip_reg *r, struct reg_req *q,
		  const struct sip_peer *from, uint64_t now,
		  struct sip_reg_answer *ans)
{
	struct reg_aor *a;
	unsigned i;
	int err;

	if (!q->star && !q->nc) {
		answer_bindings(r, q->aor, now, ans);
		return;
	}
	a = aor_get(r, q->aor, !q->star, &err);
	if (!a && err) {
		r->stats.full++;
		answer(ans, 503, "Registrar full");
		return;
	}
	if (out_of_order(a, q)) {
		answer(ans, 500, "Out of order (CSeq)");
		goto out;
	}
	while (a && q->star && a->n)
		binding_del(r, a, a->n - 1, SIP_REG_REMOVED);
	for (i = 0; i < q->nc; i++)
		apply_one(r, a, q, &q->c[i], from, now);
	r->stats.bound++;
	answer_bindings(r, q->aor, now, ans);
out:
	if (a)
		aor_drop_if_empty(r, a);
}

int sip_reg_handle(struct sip_reg *r, const struct sip_msg *m,
		   const struct sip_peer *from, uint64_t now,
		   struct sip_reg_answer *ans)
{
	struct reg_req q;
	const char *why;

	if (!m->is_request || m->method != SIP_REGISTER)
		return EINVAL;
	r->stats.registers++;
	ans->extra_len = 0;
	ans->extra[0] = '\0';
	if (read_request(r, m, &q, &why))
		return bad(r, ans, why);
	if (authenticate(r, m, q.aor, now, ans))
		return 0;
	if (r->ops.source_ok && r->ops.source_ok(r->arg, q.aor, from)) {
		r->stats.forbidden++;
		answer(ans, 403, "Forbidden (wrong source address)");
		return 0;
	}
	if (check_expiry(r, &q, ans))
		return 0;
	apply(r, &q, from, now, ans);
	return 0;
}
