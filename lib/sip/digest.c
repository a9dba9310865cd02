/* lib/sip/digest.c — Digest (RFC 7616) server and client for SIP. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "sip/digest.h"

#define REPLAY_SLOTS 4096
#define NONCE_MAX 80

struct replay_slot {
	uint64_t nonce_hash;
	uint32_t nc;
};

struct sip_digest_server {
	char realm[128];
	unsigned char key[32];
	unsigned ttl;
	uint64_t seq;		/* makes each nonce unique (replay slots are
				 * per nonce) */
	struct replay_slot slots[REPLAY_SLOTS];
};

static const EVP_MD *md_of(enum sip_digest_alg alg)
{
	return alg == SIP_DIGEST_SHA256 ? EVP_sha256() : EVP_md5();
}

static void to_hex(const unsigned char *b, unsigned n, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (unsigned i = 0; i < n; i++) {
		out[2 * i] = hx[b[i] >> 4];
		out[2 * i + 1] = hx[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Hash the ':'-joined parts into hex. */
static int hash_hex(enum sip_digest_alg alg, const struct sip_str *parts,
		    unsigned n, char *out)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int ok;

	if (!c)
		return ENOMEM;
	ok = EVP_DigestInit_ex(c, md_of(alg), NULL);
	for (unsigned i = 0; ok && i < n; i++)
		ok = (i == 0 || EVP_DigestUpdate(c, ":", 1)) &&
		     EVP_DigestUpdate(c, parts[i].s, parts[i].len);
	ok = ok && EVP_DigestFinal_ex(c, md, &mdlen);
	EVP_MD_CTX_free(c);
	if (!ok)
		return EINVAL;
	to_hex(md, mdlen, out);
	return 0;
}

static struct sip_str cstr(const char *s)
{
	return (struct sip_str){ s, strlen(s) };
}

int sip_digest_ha1(enum sip_digest_alg alg, const char *user,
		   const char *realm, const char *password, char *out)
{
	struct sip_str p[3] = { cstr(user), cstr(realm), cstr(password) };

	return hash_hex(alg, p, 3, out);
}

int sip_digest_server_new(const char *realm, unsigned nonce_ttl_s,
			  struct sip_digest_server **out)
{
	struct sip_digest_server *s;

	if (!realm || strlen(realm) >= sizeof(s->realm) ||
	    strpbrk(realm, "\"\\\r\n"))
		return EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return ENOMEM;
	if (getrandom(s->key, sizeof(s->key), 0) != sizeof(s->key)) {
		int rc = errno ? errno : EIO;
		free(s);
		return rc;
	}
	snprintf(s->realm, sizeof(s->realm), "%s", realm);
	s->ttl = nonce_ttl_s ? nonce_ttl_s : 300;
	*out = s;
	return 0;
}

void sip_digest_server_free(struct sip_digest_server *s)
{
	if (s)
		OPENSSL_cleanse(s->key, sizeof(s->key));
	free(s);
}

/* nonce = 16 hex of the issue time + 16 hex of a sequence number + 32 hex
 * of SHA-256(key:time:seq:realm). The sequence number keeps two clients
 * challenged in the same second from sharing a nonce (and its nc slot). */
#define NONCE_LEN 64
static int make_nonce(const struct sip_digest_server *s, uint64_t t,
		      uint64_t seq, char *out)
{
	char ts[33], h[SIP_DIGEST_HEX];
	struct sip_str p[3] = { { (const char *)s->key, sizeof(s->key) },
				{ ts, 32 }, cstr(s->realm) };
	int rc;

	snprintf(ts, sizeof(ts), "%016llx%016llx", (unsigned long long)t,
		 (unsigned long long)seq);
	rc = hash_hex(SIP_DIGEST_SHA256, p, 3, h);
	if (rc)
		return rc;
	memcpy(out, ts, 32);
	memcpy(out + 32, h, 32);
	out[NONCE_LEN] = '\0';
	return 0;
}

int sip_digest_challenge(struct sip_digest_server *s, enum sip_digest_alg alg,
			 uint64_t now_s, int stale, char *dst, size_t cap,
			 size_t *len)
{
	char nonce[NONCE_MAX];
	int n;

	if (make_nonce(s, now_s, s->seq++, nonce))
		return EINVAL;
	n = snprintf(dst, cap, "Digest realm=\"%s\", nonce=\"%s\", "
		     "algorithm=%s, qop=\"auth\"%s", s->realm, nonce,
		     alg == SIP_DIGEST_SHA256 ? "SHA-256" : "MD5",
		     stale ? ", stale=true" : "");
	if (n < 0 || (size_t)n >= cap)
		return ENOSPC;
	*len = (size_t)n;
	return 0;
}

int sip_digest_username(const struct sip_auth *cred, struct sip_str *user)
{
	if (!sip_str_ieq(cred->scheme, "Digest") ||
	    !sip_auth_param(cred, "username", user) || user->len == 0)
		return EBADMSG;
	return 0;
}

int sip_digest_alg_of(const struct sip_auth *a, enum sip_digest_alg *alg)
{
	struct sip_str v;

	if (!sip_auth_param(a, "algorithm", &v) || sip_str_ieq(v, "MD5"))
		*alg = SIP_DIGEST_MD5;
	else if (sip_str_ieq(v, "SHA-256"))
		*alg = SIP_DIGEST_SHA256;
	else
		return EBADMSG;
	return 0;
}

/* nonce the server made and not expired: 0, EACCES, ESTALE. */
static int check_nonce(const struct sip_digest_server *s, struct sip_str n,
		       uint64_t now_s)
{
	char want[NONCE_MAX], ts[17], sq[17];
	uint64_t t, seq;

	if (n.len != NONCE_LEN)
		return EACCES;
	memcpy(ts, n.s, 16);
	ts[16] = '\0';
	memcpy(sq, n.s + 16, 16);
	sq[16] = '\0';
	if (strspn(ts, "0123456789abcdef") != 16 ||
	    strspn(sq, "0123456789abcdef") != 16 ||
	    sscanf(ts, "%16llx", (unsigned long long *)&t) != 1 ||
	    sscanf(sq, "%16llx", (unsigned long long *)&seq) != 1 ||
	    make_nonce(s, t, seq, want) ||
	    CRYPTO_memcmp(want, n.s, NONCE_LEN) != 0)
		return EACCES;
	if (t > now_s + 5 || now_s - t > s->ttl)
		return ESTALE;
	return 0;
}

/* nc must grow per nonce. Slots are overwritten by newer nonces, so a
 * replay of a very old nonce is caught by its expiry instead. */
static int check_replay(struct sip_digest_server *s, struct sip_str nonce,
			struct sip_str nc)
{
	uint64_t h = 0xcbf29ce484222325ULL, v;
	struct replay_slot *slot;
	char buf[9];

	if (nc.len != 8)
		return EBADMSG;
	memcpy(buf, nc.s, 8);
	buf[8] = '\0';
	if (strspn(buf, "0123456789abcdefABCDEF") != 8 ||
	    sscanf(buf, "%8llx", (unsigned long long *)&v) != 1 || v == 0)
		return EBADMSG;
	for (size_t i = 0; i < nonce.len; i++)
		h = (h ^ (unsigned char)nonce.s[i]) * 0x100000001b3ULL;
	slot = &s->slots[h % REPLAY_SLOTS];
	if (slot->nonce_hash == h && v <= slot->nc)
		return EALREADY;
	slot->nonce_hash = h;
	slot->nc = (uint32_t)v;
	return 0;
}

struct cred {
	struct sip_str user, realm, nonce, uri, resp, qop, nc, cnonce;
};

static int read_cred(const struct sip_auth *a, struct cred *c)
{
	if (sip_digest_username(a, &c->user) ||
	    !sip_auth_param(a, "realm", &c->realm) ||
	    !sip_auth_param(a, "nonce", &c->nonce) ||
	    !sip_auth_param(a, "uri", &c->uri) ||
	    !sip_auth_param(a, "response", &c->resp) ||
	    !sip_auth_param(a, "qop", &c->qop) ||
	    !sip_auth_param(a, "nc", &c->nc) ||
	    !sip_auth_param(a, "cnonce", &c->cnonce) ||
	    !sip_str_ieq(c->qop, "auth") || c->cnonce.len == 0)
		return EBADMSG;
	return 0;
}

static int response_hex(enum sip_digest_alg alg, struct sip_str ha1,
			struct sip_str method, struct sip_str uri,
			struct sip_str nonce, struct sip_str nc,
			struct sip_str cnonce, char *out)
{
	char ha2[SIP_DIGEST_HEX];
	struct sip_str p2[2] = { method, uri };
	struct sip_str p[6];
	int rc = hash_hex(alg, p2, 2, ha2);

	if (rc)
		return rc;
	p[0] = ha1;
	p[1] = nonce;
	p[2] = nc;
	p[3] = cnonce;
	p[4] = SIP_STR("auth");
	p[5] = cstr(ha2);
	return hash_hex(alg, p, 6, out);
}

int sip_digest_verify(struct sip_digest_server *s, const struct sip_auth *cred,
		      struct sip_str method, struct sip_str ruri,
		      const char *ha1_hex, uint64_t now_s)
{
	enum sip_digest_alg alg;
	struct cred c;
	char want[SIP_DIGEST_HEX];
	int rc;

	if (read_cred(cred, &c) || sip_digest_alg_of(cred, &alg) ||
	    !sip_str_eq(c.realm, s->realm) || !sip_str_eq_str(c.uri, ruri))
		return EBADMSG;
	if ((rc = check_nonce(s, c.nonce, now_s)) != 0)
		return rc;
	if (response_hex(alg, cstr(ha1_hex), method, c.uri, c.nonce, c.nc,
			 c.cnonce, want))
		return EBADMSG;
	if (c.resp.len != strlen(want) ||
	    CRYPTO_memcmp(want, c.resp.s, c.resp.len) != 0)
		return EACCES;
	return check_replay(s, c.nonce, c.nc);
}

int sip_digest_answer(const struct sip_auth *chal, const char *user,
		      const char *password, struct sip_str method,
		      struct sip_str uri, uint32_t nc, const char *cnonce,
		      char *dst, size_t cap, size_t *len)
{
	struct sip_str realm, nonce, opaque;
	enum sip_digest_alg alg;
	char ha1[SIP_DIGEST_HEX], resp[SIP_DIGEST_HEX], ncs[9], rbuf[160];
	int n;

	if (strpbrk(user, "\"\\\r\n") || strpbrk(cnonce, "\"\\\r\n") ||
	    !sip_str_ieq(chal->scheme, "Digest") ||
	    sip_digest_alg_of(chal, &alg) ||
	    !sip_auth_param(chal, "realm", &realm) ||
	    !sip_auth_param(chal, "nonce", &nonce) || realm.len >= sizeof(rbuf))
		return EBADMSG;
	memcpy(rbuf, realm.s, realm.len);
	rbuf[realm.len] = '\0';
	snprintf(ncs, sizeof(ncs), "%08x", nc);
	if (sip_digest_ha1(alg, user, rbuf, password, ha1) ||
	    response_hex(alg, cstr(ha1), method, uri, nonce, cstr(ncs),
			 cstr(cnonce), resp))
		return EBADMSG;
	n = snprintf(dst, cap, "Digest username=\"%s\", realm=\"%s\", "
		     "nonce=\"%.*s\", uri=\"%.*s\", response=\"%s\", "
		     "algorithm=%s, qop=auth, nc=%s, cnonce=\"%s\"", user, rbuf,
		     (int)nonce.len, nonce.s, (int)uri.len, uri.s, resp,
		     alg == SIP_DIGEST_SHA256 ? "SHA-256" : "MD5", ncs, cnonce);
	if (n > 0 && (size_t)n < cap && sip_auth_param(chal, "opaque", &opaque))
		n += snprintf(dst + n, cap - (size_t)n, ", opaque=\"%.*s\"",
			      (int)opaque.len, opaque.s);
	if (n < 0 || (size_t)n >= cap)
		return ENOSPC;
	*len = (size_t)n;
	return 0;
}
