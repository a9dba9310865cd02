/* lib/sip/digest.h — HTTP Digest authentication for SIP (RFC 7616 as used
 * by RFC 3261 22 / RFC 8760): MD5 and SHA-256, qop=auth only.
 *
 * Server: nonces are stateless (time stamp + keyed hash, checked without a
 * table) and expire after ttl seconds (then verification says ESTALE:
 * challenge again with stale=true); replays are caught by remembering the
 * highest nonce-count seen per nonce in a fixed table. Credentials are
 * checked against HA1 (hex), so the password need not be stored.
 * Client: answer a challenge.
 *
 * Hashes come from OpenSSL libcrypto (EVP); comparisons are constant-time. */
#ifndef DPN_SIP_DIGEST_H
#define DPN_SIP_DIGEST_H

#include "sip/hdr.h"

enum sip_digest_alg { SIP_DIGEST_MD5, SIP_DIGEST_SHA256 };

/* Hex length of a hash plus NUL: enough for SHA-256. */
#define SIP_DIGEST_HEX 65

struct sip_digest_server;

/* A server for realm (no quotes, CR, LF) with a random key (getrandom).
 * Returns 0, EINVAL, ENOMEM, or the getrandom errno. */
int sip_digest_server_new(const char *realm, unsigned nonce_ttl_s,
			  struct sip_digest_server **out);
void sip_digest_server_free(struct sip_digest_server *s);

/* HA1 = H(user:realm:password) as hex into out (SIP_DIGEST_HEX bytes).
 * Returns 0 or EINVAL. */
int sip_digest_ha1(enum sip_digest_alg alg, const char *user,
		   const char *realm, const char *password, char *out);

/* The value of a WWW-Authenticate / Proxy-Authenticate header (without
 * the name) with a fresh nonce for time now_s. Returns 0 or ENOSPC. */
int sip_digest_challenge(struct sip_digest_server *s, enum sip_digest_alg alg,
			 uint64_t now_s, int stale, char *dst, size_t cap,
			 size_t *len);

/* The username in credentials (for the HA1 lookup). 0 or EBADMSG. */
int sip_digest_username(const struct sip_auth *cred, struct sip_str *user);

/* The algorithm credentials or a challenge name (none means MD5): 0, or
 * EBADMSG for one we do not know. */
int sip_digest_alg_of(const struct sip_auth *a, enum sip_digest_alg *alg);

/* Check credentials (parsed Authorization / Proxy-Authorization) for a
 * request with `method` and Request-URI `ruri`, given the user's HA1 hex
 * (of the algorithm the credentials name). Returns 0 (good), EBADMSG
 * (malformed, wrong scheme/realm/uri/qop, or unknown algorithm), EACCES
 * (wrong response or a nonce we did not make), ESTALE (nonce expired:
 * challenge again with stale=true), EALREADY (nonce-count replayed). */
int sip_digest_verify(struct sip_digest_server *s, const struct sip_auth *cred,
		      struct sip_str method, struct sip_str ruri,
		      const char *ha1_hex, uint64_t now_s);

/* Client: the Authorization value answering challenge `chal` (parsed
 * WWW-Authenticate), with nonce-count nc and client nonce cnonce.
 * Returns 0, EBADMSG (not a Digest challenge we can answer), ENOSPC. */
int sip_digest_answer(const struct sip_auth *chal, const char *user,
		      const char *password, struct sip_str method,
		      struct sip_str uri, uint32_t nc, const char *cnonce,
		      char *dst, size_t cap, size_t *len);

#endif
