/* lib/sip/proxy.c — proxy helpers of RFC 3261 section 16 and transaction
 * keys of section 17. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "sip/proxy.h"

/* FNV-1a over 8-byte words (then the tail byte by byte): an eighth of the
 * multiplications of byte-wise FNV-1a, for the keys hashed per message. */
uint64_t sip_hash(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, b + i, 8);
		h ^= w;
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	for (; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t hash_str(uint64_t h, struct sip_str s)
{
	h = sip_hash(h, s.s, s.len);
	return sip_hash(h, "\0", 1);	/* keep field boundaries apart */
}

static uint64_t hash_lines(uint64_t h, const struct sip_msg *m,
			   enum sip_hdr_id id)
{
	for (int i = sip_msg_hdr_find(m, id, 0); i >= 0;
	     i = sip_msg_hdr_find(m, id, (unsigned)i + 1))
		h = hash_str(h, m->hdrs[i].value);
	return h;
}

static void hex16(char *dst, uint64_t v)
{
	static const char hx[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--, v >>= 4)
		dst[i] = hx[v & 15];
}

static int is_supported(const struct sip_proxy_self *self, struct sip_str t)
{
	if (!self->supported)
		return 0;
	for (const char *const *s = self->supported; *s; s++)
		if (sip_str_ieq(t, *s))
			return 1;
	return 0;
}

/* Calls fn on each Proxy-Require tag that self lacks; stops at nonzero. */
static int each_unsupported(const struct sip_msg *m,
			    const struct sip_proxy_self *self,
			    int (*fn)(void *, struct sip_str), void *arg)
{
	for (int i = sip_msg_hdr_find(m, SIP_HDR_PROXY_REQUIRE, 0); i >= 0;
	     i = sip_msg_hdr_find(m, SIP_HDR_PROXY_REQUIRE, (unsigned)i + 1)) {
		struct sip_str t;
		size_t pos = 0;
		int rc;
		while (sip_hdr_next_value(m->hdrs[i].value, &pos, &t) == 1)
			if (!is_supported(self, t) && (rc = fn(arg, t)) != 0)
				return rc;
	}
	return 0;
}

static int found(void *arg, struct sip_str t)
{
	(void)arg;
	(void)t;
	return 1;
}

struct list_out {
	char *dst;
	size_t cap, len;
};

static int append_tag(void *arg, struct sip_str t)
{
	struct list_out *o = arg;
	size_t need = t.len + (o->len ? 2 : 0);

	if (o->len + need + 1 > o->cap)
		return ENOSPC;
	if (o->len) {
		memcpy(o->dst + o->len, ", ", 2);
		o->len += 2;
	}
	memcpy(o->dst + o->len, t.s, t.len);
	o->len += t.len;
	o->dst[o->len] = '\0';
	return 0;
}

int sip_proxy_unsupported(const struct sip_msg *m,
			  const struct sip_proxy_self *self, char *dst,
			  size_t cap)
{
	struct list_out o = { dst, cap, 0 };

	if (cap == 0)
		return ENOSPC;
	dst[0] = '\0';
	return each_unsupported(m, self, append_tag, &o);
}

/* The hash of what identifies a request's path (16.6 step 8): if the same
 * request comes back with our Via carrying the same value, it looped; a
 * spiral changes the Request-URI or Route and so the value. */
static uint64_t loop_hash(const struct sip_msg *m)
{
	struct sip_str tag;
	struct sip_cseq cs;
	struct sip_str cid = { 0 };
	uint64_t h = hash_str(SIP_HASH_INIT, m->ruri);

	if (sip_msg_tag(m, SIP_HDR_FROM, &tag) == 0)
		h = hash_str(h, tag);
	if (sip_msg_tag(m, SIP_HDR_TO, &tag) == 0)
		h = hash_str(h, tag);
	if (sip_msg_callid(m, &cid) == 0)
		h = hash_str(h, cid);
	if (sip_msg_cseq(m, &cs) == 0)
		h = sip_hash(h, &cs.num, sizeof(cs.num));
	h = hash_lines(h, m, SIP_HDR_ROUTE);
	h = hash_lines(h, m, SIP_HDR_PROXY_REQUIRE);
	return hash_lines(h, m, SIP_HDR_PROXY_AUTHORIZATION);
}

static int is_self(const struct sip_proxy_self *self,
		   const struct sip_via *v)
{
	unsigned port = v->port ? v->port : 5060;

	return self->host && sip_str_ieq(v->host, self->host) &&
	       port == (self->port ? self->port : 5060);
}

static int looped(const struct sip_msg *m, const struct sip_proxy_self *self)
{
	char want[17];
	struct sip_via v;
	int have = 0;

	for (unsigned n = 0; sip_msg_via(m, n, &v) == 0; n++) {
		if (!is_self(self, &v) || v.branch.len < 17)
			continue;
		if (!have++) {	/* only when a Via of ours is there */
			hex16(want, loop_hash(m));
			want[16] = '\0';
		}
		if (memcmp(v.branch.s + v.branch.len - 17, ".", 1) == 0 &&
		    memcmp(v.branch.s + v.branch.len - 16, want, 16) == 0)
			return 1;
	}
	return 0;
}

int sip_proxy_check_request(const struct sip_msg *m,
			    const struct sip_proxy_self *self,
			    const char **reason)
{
	struct sip_uri u;
	unsigned mf;
	int rc;

	if (sip_msg_ruri(m, &u) || u.scheme == SIP_SCHEME_OTHER) {
		*reason = "Unsupported URI Scheme";
		return 416;
	}
	rc = sip_msg_max_forwards(m, &mf);
	if (rc == 0 && mf == 0) {
		*reason = "Too Many Hops";
		return 483;
	}
	if (looped(m, self)) {
		*reason = "Loop Detected";
		return 482;
	}
	if (m->method != SIP_ACK && m->method != SIP_CANCEL &&
	    each_unsupported(m, self, found, NULL)) {
		*reason = "Bad Extension";
		return 420;
	}
	return 0;
}

int sip_proxy_dec_max_forwards(struct sip_msg *m)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_MAX_FORWARDS, 0);
	char buf[8];
	unsigned mf;
	int n;

	if (i < 0)
		return sip_msg_hdr_add(m, SIP_HDR_MAX_FORWARDS, "70");
	if (sip_max_forwards_parse(m->hdrs[i].value, &mf, NULL) || mf == 0)
		return EBADMSG;
	mf--;
	n = mf >= 100 ? 3 : mf >= 10 ? 2 : 1;
	for (int d = n - 1; d >= 0; d--, mf /= 10)
		buf[d] = (char)('0' + mf % 10);
	return sip_msg_hdr_set(m, (unsigned)i, buf, (size_t)n);
}

int sip_proxy_branch(const struct sip_msg *m, char *dst, size_t cap)
{
	struct sip_tsx_key k;
	int rc = sip_tsx_key(m, SIP_INVITE, &k);

	if (rc)
		return rc;
	if (cap < SIP_BRANCH_LEN)
		return ENOSPC;
	memcpy(dst, "z9hG4bK", 7);
	hex16(dst + 7, k.hash);
	dst[23] = '.';
	hex16(dst + 24, loop_hash(m));
	dst[40] = '\0';
	return 0;
}

static int forwardable(struct sip_str host)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr a;
	uint32_t x;

	if (host.len == 0 || host.len >= sizeof(buf))
		return host.len > 0;	/* names and IPv6 are resolved later */
	memcpy(buf, host.s, host.len);
	buf[host.len] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return 1;
	x = ntohl(a.s_addr);
	return x != 0 && x != 0xffffffffU && (x >> 28) != 0xe;
}

int sip_proxy_response_target(const struct sip_msg *m, struct sip_str *host,
			      unsigned *port)
{
	struct sip_via v;
	int rc = sip_msg_via(m, 1, &v);

	if (rc)
		return rc;
	*host = v.has_received && v.received.len ? v.received : v.host;
	if (v.has_maddr && v.maddr.len)
		*host = v.maddr;
	if (!forwardable(*host))
		return EADDRNOTAVAIL;
	*port = v.has_rport && v.rport_val ? v.rport_val :
		(v.port ? v.port : 5060);
	return 0;
}

static int rfc3261_branch(const struct sip_via *v)
{
	return v->has_branch && v->branch.len > 7 &&
	       memcmp(v->branch.s, "z9hG4bK", 7) == 0;
}

/* Key text: fields each followed by a NUL, so no two keys run together. */
static void key_put(struct sip_tsx_key *k, const void *p, size_t n, int *full)
{
	if (k->len + n + 1 > sizeof(k->text)) {
		*full = 1;
		return;
	}
	if (n)
		memcpy(k->text + k->len, p, n);
	k->len += n;
	k->text[k->len++] = '\0';
}

static void key_str(struct sip_tsx_key *k, struct sip_str s, int *full)
{
	key_put(k, s.s, s.len, full);
}

static void key_2543(const struct sip_msg *m, int own, struct sip_tsx_key *k,
		     int *full)
{
	struct sip_str tag;
	struct sip_str cid = { 0 };

	if (m->is_request)
		key_str(k, m->ruri, full);
	if (sip_msg_tag(m, SIP_HDR_FROM, &tag) == 0)
		key_str(k, tag, full);
	if (own && sip_msg_tag(m, SIP_HDR_TO, &tag) == 0)
		key_str(k, tag, full);
	if (sip_msg_callid(m, &cid) == 0)
		key_str(k, cid, full);
}

int sip_tsx_key(const struct sip_msg *m, enum sip_method method,
		struct sip_tsx_key *key)
{
	struct sip_via v;
	struct sip_cseq cs;
	int own = method == SIP_METHOD_OTHER, full = 0;

	if (sip_msg_via(m, 0, &v) || sip_msg_cseq(m, &cs))
		return EBADMSG;
	if (own)
		method = cs.method;
	key->len = 0;
	key->rfc3261 = rfc3261_branch(&v);
	key_put(key, &method, sizeof(method), &full);
	if (method == SIP_METHOD_OTHER)
		key_str(key, cs.method_str, &full);
	if (key->rfc3261) {
		key_str(key, v.branch, &full);
	} else {
		key_2543(m, own, key, &full);
		key_put(key, &cs.num, sizeof(cs.num), &full);
	}
	key_str(key, v.host, &full);
	key_put(key, &v.port, sizeof(v.port), &full);
	if (full)
		return EBADMSG;
	key->hash = sip_hash(SIP_HASH_INIT, key->text, key->len);
	return 0;
}
