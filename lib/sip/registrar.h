/* lib/sip/registrar.h — a SIP registrar (RFC 3261 section 10) shared by
 * the gatekeeper (flat gateways) and gatewayd (handsets): REGISTER handling
 * with digest authentication, a source-address check, at most N bindings
 * per address-of-record, and an in-memory binding table with expiry.
 *
 * The registrar knows no database and no transport. Feed it each REGISTER
 * (sip_reg_handle); it says what to answer and reports
 * every change of the table through ops->changed, so the daemon can persist
 * bindings behind the hot path and restore them on start
 * (sip_reg_restore). Time is the caller's clock in seconds (the same one
 * for every call; tests pass their own).
 *
 * The address-of-record (AOR) is the user part of the To URI, unescaped
 * (e.g. "100-1101-1201"); the host part is not compared (one realm).
 * Contacts are compared as URI text, byte for byte.
 *
 * Handling of one REGISTER, in order:
 *  1. To without a user part, a bad Contact or Expires -> 400 naming it;
 *     Contact "*" with other contacts or an expiry other than 0 -> 400.
 *  2. No Authorization for our realm -> 401 with one challenge per
 *     configured algorithm (SHA-256 first, RFC 8760).
 *  3. ops->ha1(aor, username, alg) -> 0 and the HA1 hex; ENOENT (unknown
 *     user) is answered like a wrong password (401, a fresh challenge),
 *     EACCES (this user may not register this AOR) -> 403.
 *  4. sip_digest_verify: EACCES / EALREADY -> 401 fresh challenge, ESTALE
 *     -> 401 stale=true, EBADMSG -> 400.
 *  5. ops->source_ok (may be NULL): nonzero -> 403 (wrong source address).
 *  6. Same Call-ID as a binding with a CSeq not higher -> 500 (out of
 *     order, 10.3 step 7). An expiry (Contact ;expires=, else Expires,
 *     else cfg.default_expires) below cfg.min_expires and not 0 -> 423
 *     with Min-Expires; above cfg.max_expires it is lowered.
 *  7. Apply: expiry 0 removes, others add or refresh. A new contact when
 *     the AOR has cfg.max_bindings already replaces the binding that
 *     expires first (a rebooted gateway registers from a new port; the
 *     old binding is stale). 200 lists the AOR's bindings with their
 *     remaining expiry; no Contact is a query (200, the list).
 *  When the table holds cfg.max_aors AORs, a new AOR gets 503.
 *
 * Ownership: the registrar owns its table; pointers it hands out
 * (sip_reg_find, the argument of ops->changed) are valid until the next
 * call that changes the table. */
#ifndef DPN_SIP_REGISTRAR_H
#define DPN_SIP_REGISTRAR_H

#include "sip/digest.h"
#include "sip/transport.h"

#define SIP_REG_MAX_BINDINGS 8
#define SIP_REG_AOR_MAX 64
#define SIP_REG_URI_MAX 256
#define SIP_REG_UA_MAX 96
#define SIP_REG_CALLID_MAX 128

/* One binding. Strings are NUL-terminated. */
struct sip_reg_binding {
	char aor[SIP_REG_AOR_MAX];
	char contact[SIP_REG_URI_MAX];		/* the Contact URI */
	/* Its host, contact[host_at] for host_len bytes (0: unparsed), and
	 * port (0: none): read when bound, not on every request routed to
	 * it. Set by the registrar (sip_reg_restore too). */
	uint16_t host_at, host_len, port;
	char user_agent[SIP_REG_UA_MAX];	/* may be empty */
	char call_id[SIP_REG_CALLID_MAX];
	uint32_t cseq;
	struct sip_peer source;		/* where the REGISTER came from (NAT:
					 * reach the contact there) */
	uint64_t since;			/* first registered, caller's clock */
	uint64_t expires;		/* absolute, caller's clock */
};

enum sip_reg_change {
	SIP_REG_ADDED,		/* a new binding */
	SIP_REG_REFRESHED,	/* same contact, new expiry/source/CSeq */
	SIP_REG_REMOVED,	/* by the UA (expires=0, "*") or replaced */
	SIP_REG_EXPIRED		/* by sip_reg_expire */
};

struct sip_reg_cfg {
	const char *realm;		/* digest realm, e.g. "dpn" */
	unsigned nonce_ttl;		/* seconds; default 300 */
	unsigned min_expires;		/* default 60 */
	unsigned max_expires;		/* default 3600 */
	unsigned default_expires;	/* default 3600 */
	unsigned max_bindings;		/* per AOR, 1..SIP_REG_MAX_BINDINGS;
					 * default 1 */
	unsigned max_aors;		/* table bound; default 100000 */
	int md5, sha256;		/* algorithms to offer; both 0 = both */
};

struct sip_reg_ops {
	/* The HA1 (hex, NUL-terminated, into ha1 of SIP_DIGEST_HEX bytes) of
	 * `user` for algorithm alg, when user may register `aor`. Returns 0,
	 * ENOENT (no such user, or no HA1 of that algorithm), EACCES (user
	 * exists but may not register aor). Required. */
	int (*ha1)(void *arg, const char *aor, const char *user,
		   enum sip_digest_alg alg, char *ha1);
	/* 0 when `from` may register aor, nonzero otherwise (403). May be
	 * NULL (any source). */
	int (*source_ok)(void *arg, const char *aor,
			 const struct sip_peer *from);
	/* The table changed. May be NULL. */
	void (*changed)(void *arg, const struct sip_reg_binding *b,
			enum sip_reg_change what);
};

struct sip_reg_stats {
	uint64_t registers;	/* REGISTERs handled */
	uint64_t challenged;	/* 401 without credentials */
	uint64_t auth_failed;	/* wrong credentials, unknown user, replay */
	uint64_t forbidden;	/* 403: user/AOR mismatch or wrong source */
	uint64_t bad;		/* 400 */
	uint64_t too_brief;	/* 423 */
	uint64_t full;		/* 503: max_aors reached */
	uint64_t bound;		/* 200 with bindings changed */
};

struct sip_reg;

/* A registrar. cfg is copied (realm too). Returns 0, EINVAL
 * (no realm or ha1, max_bindings out of range, min > max expiry), ENOMEM,
 * or an error of sip_digest_server_new. */
int sip_reg_new(const struct sip_reg_cfg *cfg, const struct sip_reg_ops *ops,
		void *arg, struct sip_reg **out);
/* Frees the table (no changed callbacks). NULL is fine. */
void sip_reg_free(struct sip_reg *r);

/* What to answer: status, reason phrase (static) and whole header lines
 * (CRLF-ended: WWW-Authenticate, Contact, Min-Expires) for the response
 * (sip_response_write, or sip_fork_reply in a proxy). */
#define SIP_REG_EXTRA_MAX 3072
struct sip_reg_answer {
	int status;
	const char *reason;
	char extra[SIP_REG_EXTRA_MAX];
	size_t extra_len;
};

/* New expiry limits (a reload); bindings are kept. 0, or EINVAL (0, or
 * min above max; nothing changed). */
int sip_reg_set_expiry(struct sip_reg *r, unsigned min_expires,
		       unsigned max_expires);

/* Handle REGISTER m (parsed, passed sip_msg_check_lean or better) from
 * `from` at time now; *ans says what to answer. Returns 0, or EINVAL (m is
 * not a REGISTER; nothing answered). */
int sip_reg_handle(struct sip_reg *r, const struct sip_msg *m,
		   const struct sip_peer *from, uint64_t now,
		   struct sip_reg_answer *ans);

/* The live binding of aor (NUL-terminated) that expires last, or NULL when
 * there is none (expired ones do not count). */
const struct sip_reg_binding *sip_reg_find(const struct sip_reg *r,
					   const char *aor, uint64_t now);
/* Every live binding of aor into out (up to cap); returns how many. */
unsigned sip_reg_find_all(const struct sip_reg *r, const char *aor,
			  uint64_t now, const struct sip_reg_binding **out,
			  unsigned cap);

/* Remove bindings that expired at or before now (ops->changed with
 * SIP_REG_EXPIRED for each); returns how many. */
unsigned sip_reg_expire(struct sip_reg *r, uint64_t now);

/* Remove every binding of aor (ops->changed with SIP_REG_REMOVED): the
 * flat or handset was deleted. Returns how many. */
unsigned sip_reg_remove_aor(struct sip_reg *r, const char *aor);

/* Put a binding back (from the database, on start) without calling
 * ops->changed. Returns 0, ESTALE (already expired at now), ENOSPC (the
 * AOR is full or the table is), EINVAL (empty aor or contact). */
int sip_reg_restore(struct sip_reg *r, const struct sip_reg_binding *b,
		    uint64_t now);

/* Number of AORs with at least one binding (expired ones included until
 * sip_reg_expire), and of bindings. */
unsigned sip_reg_aors(const struct sip_reg *r);
unsigned sip_reg_bindings(const struct sip_reg *r);
const struct sip_reg_stats *sip_reg_stats(const struct sip_reg *r);

#endif
