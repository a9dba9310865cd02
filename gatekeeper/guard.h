/* gatekeeper/guard.h — the gatekeeper's protections against an internet
 * full of scanners, in the manner of Kamailio's default config (pike +
 * htable ipban + a User-Agent test), without the database or the SIP core:
 *
 *  - Flood: every request from a source is counted in a sampling window
 *    (window_ms); more than `limit` in one window bans the source for ban_s
 *    seconds. A banned source's datagrams are dropped before parsing
 *    (gk_guard_admit is called by the transport on the raw bytes), and each
 *    one counts as a hit of its ban.
 *  - Brute force: failed digest authentications are counted per (username,
 *    source): auth_fails of them within auth_window_s lock that username
 *    for that source for lock_s (a good password from another source still
 *    works: an attacker cannot lock a gateway out). Failures of any user
 *    from one source are counted too: src_auth_fails of them ban the
 *    source (someone trying many usernames).
 *  - Scanners: a User-Agent containing one of the configured names (case
 *    insensitive substring) is dropped, and the source banned when
 *    scanner_ban is set.
 *  - Trusted sources (CIDR list) are exempt from all of it.
 *  - Route peers (addresses set by gk_guard_set_peers: trunks, other
 *    complexes' gatekeepers, which send many requests from one address)
 *    are exempt from the flood limit and never banned; a scanner's
 *    User-Agent is still dropped and a username still locked there.
 *
 * Bounded: at most max_entries sources and (username, source) pairs; when
 * the table is full, a new source is not tracked (admitted, counted in
 * stats.untracked) until gk_guard_sweep forgets idle ones — bans in force
 * stay.
 * Time is the caller's wall clock in milliseconds (ban times are shown to
 * operators), the same clock for every call.
 *
 * Lists are comma separated: names "friendly-scanner, sipvicious" and
 * prefixes "127.0.0.1, 10.0.0.0/8, ::1/128". */
#ifndef DPN_GK_GUARD_H
#define DPN_GK_GUARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define GK_GUARD_USER_MAX 48

/* The names of known SIP scanners (the default of `scanners`). */
#define GK_GUARD_SCANNERS "friendly-scanner, sipvicious, sipcli, " \
	"VaxSIPUserAgent, sundayddr, iWar, sip-scan, SIVuS, pplsip"

struct gk_guard_cfg {
	unsigned window_ms;	/* sampling window; 0 disables flood bans */
	unsigned limit;		/* requests per window and source */
	unsigned ban_s;		/* how long a ban lasts */
	unsigned auth_fails;	/* per (username, source) ... */
	unsigned auth_window_s;	/* ... within this -> locked */
	unsigned lock_s;	/* how long a lock lasts */
	unsigned src_auth_fails;	/* per source, any user -> ban */
	int scanner_ban;	/* ban scanner sources too */
	unsigned max_entries;	/* table bound */
	const char *scanners;	/* comma list; NULL or "" none */
	const char *trusted;	/* comma list of CIDR prefixes */
};

enum gk_ban_reason { GK_BAN_FLOOD, GK_BAN_AUTH, GK_BAN_SCANNER,
		     GK_BAN_LOCKOUT, GK_BAN_REASONS };

/* A ban (source ban, user empty) or a lockout of user at source. Times in
 * ms of the caller's clock. */
struct gk_ban {
	struct sockaddr_storage addr;	/* port 0 */
	char user[GK_GUARD_USER_MAX];
	enum gk_ban_reason reason;
	uint64_t since_ms, until_ms;
	uint64_t hits;			/* requests dropped under it */
};

struct gk_guard_ops {
	/* A ban or lockout began, or its hits changed (from gk_guard_sweep);
	 * `ended` when it was lifted. May be NULL. */
	void (*ban)(void *arg, const struct gk_ban *b, int ended);
};

struct gk_guard_stats {
	uint64_t dropped_banned, dropped_scanner, refused_locked;
	uint64_t auth_failures, untracked;
	uint64_t bans[GK_BAN_REASONS];	/* bans begun, by reason */
};

struct gk_guard;

/* Parse a list of prefixes: 0, or EINVAL with the bad item in why. */
int gk_guard_trusted_check(const char *list, char *why, size_t cap);

/* A guard with cfg (lists copied). Returns 0, EINVAL (a bad trusted list,
 * max_entries 0), ENOMEM. */
int gk_guard_new(const struct gk_guard_cfg *cfg, const struct gk_guard_ops *ops,
		 void *arg, struct gk_guard **out);
/* New settings (a reload); bans and counters kept. 0, EINVAL or ENOMEM
 * (nothing changed then). max_entries is not changed. */
int gk_guard_set(struct gk_guard *g, const struct gk_guard_cfg *cfg);
void gk_guard_free(struct gk_guard *g);

/* A message of len bytes from sa (a request unless it starts "SIP/"):
 * 0 to let it in, EPERM to drop it (banned; counted as a hit). Requests
 * are counted and may start a flood ban (then EPERM). */
int gk_guard_admit(struct gk_guard *g, const struct sockaddr *sa,
		   const char *buf, size_t len, uint64_t now_ms);
/* 1 when sa is trusted. */
int gk_guard_trusted(const struct gk_guard *g, const struct sockaddr *sa);
/* 1 when the User-Agent value ua (len bytes) names a scanner and sa is not
 * trusted: the caller drops the message (counted; the source banned when
 * scanner_ban). */
int gk_guard_scanner(struct gk_guard *g, const struct sockaddr *sa,
		     const char *ua, size_t len, uint64_t now_ms);

/* 1 when user may not authenticate from sa now (counted). */
int gk_guard_locked(struct gk_guard *g, const char *user,
		    const struct sockaddr *sa, uint64_t now_ms);
/* Authentication of user from sa failed (counts; may lock or ban) or
 * succeeded (clears that pair's failures). */
void gk_guard_auth(struct gk_guard *g, const char *user,
		   const struct sockaddr *sa, int ok, uint64_t now_ms);

/* The route peers' addresses (n of them, copied), replacing the last
 * set: each gets an entry of the table marked as a peer's (found by the
 * lookup every message does anyway: no cost for other sources), and a
 * ban of it is lifted (ops->ban ended). 0, EINVAL (not IPv4/IPv6) or
 * ENOMEM (the last set kept), ENOSPC (the table is full: the peers that
 * found no entry are not exempt). */
int gk_guard_set_peers(struct gk_guard *g,
		       const struct sockaddr_storage *addrs, unsigned n);

/* Ban sa for secs (an operator, a test). 0, ENOSPC (table full). */
int gk_guard_ban(struct gk_guard *g, const struct sockaddr *sa,
		 enum gk_ban_reason why, unsigned secs, uint64_t now_ms);
/* Put back a ban read from the database (b's times and hits kept; not
 * reported to ops->ban). 0, ESTALE (over), ENOSPC, EAFNOSUPPORT. */
int gk_guard_restore(struct gk_guard *g, const struct gk_ban *b,
		     uint64_t now_ms);
/* Lift the ban of sa (user NULL or "") or the lockout of user at sa.
 * 0 or ENOENT. */
int gk_guard_lift(struct gk_guard *g, const struct sockaddr *sa,
		  const char *user);

/* Forget stale entries, end expired bans, report hits that changed
 * (ops->ban). Call about once a second. Returns bans in force. */
unsigned gk_guard_sweep(struct gk_guard *g, uint64_t now_ms);
const struct gk_guard_stats *gk_guard_stats(const struct gk_guard *g);
const char *gk_ban_reason_name(enum gk_ban_reason r);

#endif
