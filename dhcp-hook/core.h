/* dhcp-hook/core.h — the C core of dpn's Kea DHCPv4 hook: decides whether a
 * packet is served (identity, first-sight enrolment through the broker,
 * unknown circuits), queues lease events and writes them to PostgreSQL from
 * its own thread, sweeps gateways whose grace period ran out, and keeps the
 * counters. The C++ shim (shim.cc) only translates Kea objects to calls
 * here. Library code: it never logs itself, it hands lines to cfg.log. */
#ifndef DPN_DHCP_CORE_H
#define DPN_DHCP_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "dhcp-hook/hostcache.h"
#include "dhcp-hook/ident.h"
#include "dhcp-hook/queue.h"
#include "dhcp-hook/seen.h"

#define DHCP_CONNINFO_MAX 1024
#define DHCP_BATCH_MAX 512		/* events per transaction at most */
#define DHCP_LIT_MAX (DHCP_BATCH_MAX * 24 + 8)	/* one array literal */

/* Hook parameters (docs/dhcp.md lists them with their Kea names). */
struct dhcp_cfg {
	char conninfo[DHCP_CONNINFO_MAX];  /* "database" */
	unsigned db_pool;	  /* "db-pool": connections for identify, 1..64 */
	unsigned db_timeout_ms;	  /* "db-timeout-ms": statement timeout */
	unsigned retry_ms;	  /* "db-retry-ms": back-off after an error */
	unsigned queue_size;	  /* "queue-size": lease events held at most */
	unsigned batch;		  /* "batch-size": events per transaction */
	unsigned cache_size;	  /* "cache-size": identity cache slots */
	unsigned cache_ttl_s;	  /* "cache-ttl": seconds a device stays known */
	unsigned unknown_ttl_s;	  /* "unknown-ttl": seconds an unknown
				   * circuit-id stays unknown */
	unsigned grace_s;	  /* "gateway-grace": seconds before a gone
				   * gateway's block is deleted */
	unsigned probation_s;	  /* "decline-probation": seconds a declined
				   * address is held back */
	unsigned sweep_s;	  /* "sweep-interval": grace check period */
	unsigned seen_s;	  /* "seen-interval": seconds within which a
				   * renewal of an unchanged device is not
				   * written again (0: write every event) */
	int drop_unknown;	  /* "drop-unknown-circuit" */
	int enrol;		  /* "enrol": first-sight enrolment on */
	unsigned enrol_batch;	  /* "enrol-batch": first-sight enrolments
				   * sharing one transaction at most
				   * (enrol.h); 1: one each */
	int host_cache;		  /* "host-cache": cache Kea's reservations */
	unsigned hc_size;	  /* "host-cache-size": slots (2 per device) */
	unsigned hc_ttl_s;	  /* "host-cache-ttl": seconds at most */
	/* Set by the shim: what the host cache does with Kea's Host objects.
	 * NULL: no host cache (the core alone, as in the unit tests). */
	const struct dhcp_hc_ops *hc_ops;
	/* Where the core's log lines go (level 0 warn, 1 info); may be NULL. */
	void (*log)(int level, const char *line);
};

/* Fills cfg with the defaults (no database). */
void dhcp_cfg_defaults(struct dhcp_cfg *cfg);

/* Checks cfg; on error returns EINVAL and names the parameter in err. */
int dhcp_cfg_check(const struct dhcp_cfg *cfg, char *err, size_t errlen);

enum dhcp_msg { DHCP_MSG_DISCOVER, DHCP_MSG_REQUEST, DHCP_MSG_OTHER };

enum dhcp_verdict {
	DHCP_SERVE,	/* let Kea go on (reservations decide the address) */
	DHCP_DROP,	/* drop the packet (counted) */
	DHCP_REFUSE,	/* a REQUEST from a known flat port whose device has no
			 * reservation (deleted): Kea must answer NAK */
};

struct dhcp_stats {
	uint64_t enrolled, known, lookups, dropped_unknown, dropped_invalid,
		 refused, release_refused, decline_refused, enrol_failed,
		 enrol_asked, enrol_txns, db_skipped, events_queued, events_written,
		 events_dropped, events_coalesced, db_errors, db_reconnects,
		 gateways_deleted,
		 queue_depth, queue_size;
	struct dhcp_hc_stats hc;	/* all 0 without a host cache */
};

struct dhcp_core;

/* Creates the core and starts its writer thread; connections open lazily.
 * Returns 0, EINVAL (bad cfg), ENOMEM or the pthread error. *out owned by
 * the caller: dhcp_core_free stops the thread and closes everything. */
int dhcp_core_new(const struct dhcp_cfg *cfg, struct dhcp_core **out);

/* Stops the writer (it makes one last attempt to write what is queued,
 * bounded by the statement timeout), closes connections, frees. */
void dhcp_core_free(struct dhcp_core *core);

/* Decides about one client packet of subnet_id (= dpn pool id): circuit is
 * option 82.1 (NULL if absent), mac the client's hardware address. A
 * DISCOVER from a device without a reservation on a known flat port is
 * enrolled (dpn.broker_enrol) before returning, possibly in one
 * transaction with the enrolments other threads asked for at the same
 * moment (enrol.h). On DHCP_SERVE with a valid
 * identity, the flex-id is written to flexid (DHCP_FLEXID_MAX bytes) and
 * *flexid_len set; otherwise *flexid_len is 0. Never fails: a database
 * error is counted and the packet served (Kea falls back on what it has). */
enum dhcp_verdict dhcp_core_identify(struct dhcp_core *core, enum dhcp_msg msg,
				     uint32_t subnet_id, const uint8_t *circuit,
				     size_t clen, const uint8_t *mac,
				     size_t mac_len, uint8_t *flexid,
				     size_t *flexid_len);

/* Decides whether a RELEASE or DECLINE (kind) of the lease of mac on addr
 * (host order, for the log) may act: only when it comes from the port that
 * holds the lease, i.e. it carries a valid circuit-id (circuit, clen; NULL
 * if absent) and Kea has a reservation for circuit || mac in the lease's
 * subnet (reserved: what the shim's lookup found, 1 or 0; the address
 * need not be the lease's: a device whose block moved still holds its old
 * lease until it renews). Returns 1 (act: Kea releases or declines, the
 * caller queues the event) or 0 (ignore: counted in release-refused or
 * decline-refused, logged at most once per 30 s; the caller must keep Kea
 * from touching the lease). */
int dhcp_core_lease_from_holder(struct dhcp_core *core,
				enum dhcp_event_kind kind,
				const uint8_t *circuit, size_t clen,
				const uint8_t *mac, size_t mac_len, uint32_t addr,
				int reserved);

/* Queues a lease event for the writer, unless it is a renewal of a device
 * whose last queued state (same address, online) is younger than
 * cfg.seen_s: that one is only counted as coalesced (see seen.h). Returns
 * 0 (queued or coalesced), or ENOSPC when the queue is full (the event is
 * dropped and counted). */
int dhcp_core_event(struct dhcp_core *core, const struct dhcp_event *ev);

/* Forgets what the database said about every device, so the next packet
 * asks again (after deletions: a deleted device must be enrolled anew),
 * every cached reservation, and what was last written about each device,
 * so its next event is written. */
void dhcp_core_forget(struct dhcp_core *core);

/* The host cache (NULL when off), for the shim to hand to Kea. */
struct dhcp_hostcache *dhcp_core_hostcache(struct dhcp_core *core);

/* Copies the counters. */
void dhcp_core_stats(struct dhcp_core *core, struct dhcp_stats *out);

/* Formats up to DHCP_BATCH_MAX events as the five PostgreSQL array
 * literals dpn.dhcp_lease_events takes ({kinds}, {pools}, {addresses},
 * {MACs}, {times}); items are words, digits and MACs, never quoted.
 * Returns 0, or ENOSPC when n is too big (lit then unusable). */
int dhcp_events_literals(const struct dhcp_event *evs, size_t n,
			 char lit[5][DHCP_LIT_MAX]);

/* Writes the counters as a JSON object into buf. Returns 0 or ENOSPC. */
int dhcp_stats_json(const struct dhcp_stats *st, char *buf, size_t len);

#endif
