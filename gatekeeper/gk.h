/* gatekeeper/gk.h — dpn-gatekeeper's shared state and the functions its
 * files give each other: main.c (settings, start, the loop), db.c (the
 * site's flats from PostgreSQL, kept true by LISTEN dpn_gk; bindings
 * restored on start), route.c (what each request gets: registrar, number
 * translation, routing, asserted identity), cdr.c (call records), media.c
 * (media anchoring through rtpengine, media.h). */
#ifndef DPN_GK_H
#define DPN_GK_H

#include <libpq-fe.h>

#include "daemon.h"
#include "event/event.h"
#include "gatekeeper/flats.h"
#include "gatekeeper/media.h"
#include "gatekeeper/routes.h"
#include "gatekeeper/sessions.h"
#include "gatekeeper/protect.h"
#include "gatekeeper/store.h"
#include "sip/core.h"
#include "sip/registrar.h"
#include "sip/transport.h"

struct gk_conf {
	struct daemon_conf base;
	char *db;
	struct conf_addr listen;
	struct conf_addr listen_public, listen_private;	/* sides.c */
	unsigned max_dialogs, dialog_idle_s;		/* topo.c */
	int transport;			/* 0 udp, 1 tcp, 2 both */
	unsigned site;
	unsigned min_expires, max_expires;
	unsigned max_flats;
	unsigned max_queue;
	unsigned ring_s;
	unsigned t1_ms;
	uint64_t udp_rcvbuf;
	char *domain;			/* host part of asserted identities */
	/* media anchoring (media.c) */
	struct conf_addrs rtpengine;	/* ng addresses; none: not anchored */
	char *media_public, *media_private;	/* rtpengine interface names */
	unsigned ng_timeout_ms;
	unsigned media_check_s;		/* media-timeout query period */
	unsigned probe_ms, probe_down, probe_up;	/* outbound.c, probe.c */
	unsigned gw_probe_s;			/* gwprobe.c */
	/* call records (cdr.c) */
	unsigned max_calls, cdr_queue, call_max_s, call_keep_days;
	struct gk_protect_conf prot;	/* protect.h */
};

/* Counters of /metrics. */
struct gk_metrics {
	struct prom_series *reg[6];	/* 200 401 403 423 400 other */
	struct prom_series *calls_in, *calls_flat, *calls_404, *calls_480,
			   *relay_refused, *in_dialog, *pai_set, *pai_replaced;
	struct prom_series *flats, *bindings, *notifies;
	struct prom_series *reg_public, *topo_dialogs, *topo_full,
			   *topo_unknown;	/* sides.c, topo.c */
	struct prom_series *side_msgs[2][3], *side_conns[2];	/* sides.c */
};

/* Counters of outbound routing and probing (outbound.c, probe.c). */
struct gk_out_metrics {
	struct prom_series *routed, *no_peer, *failovers, *peers_up, *loads,
			   *peer_downs, *peer_ups, *probes_ok, *probes_failed;
	struct prom_series *gw_unreachable, *gw_probes_ok, *gw_probes_failed;
};
struct gk_topo;
struct gk_topostore;
struct gk_tcprobe;

struct gk {
	struct daemon *d;
	struct gk_conf *cfg;
	struct sip_tp *tp;
	struct sip_core *core;
	struct sip_reg *reg;
	struct gk_flats *flats;
	struct gk_store *store;
	struct gk_cdr *cdr;		/* call records (cdr.c) */
	int64_t site_id;
	PGconn *pg;			/* loads and LISTEN, loop thread */
	int pg_fd;
	struct ev_timer tick;
	char host[64];			/* the public side */
	unsigned port;
	/* sides.c: a public and a private side, each its own transport
	 * (tp_priv NULL and priv 0 when both are one address) */
	struct sip_tp *tp_priv;
	char phost[64];
	unsigned pport;
	unsigned priv;			/* sip_peer.local of the private side */
	struct gk_topo *topo;		/* topo.c; NULL with one side */
	struct gk_topostore *topostore;	/* topostore.c: topo in PostgreSQL */
	enum sip_proto proto;		/* how requests are forwarded */
	struct gk_media *media;		/* NULL: media not anchored */
	struct gk_metrics m;
	/* outbound routes and peer probing (outbound.c, probe.c) */
	struct gk_routes *routes;
	struct gk_sessions *sessions;	/* Call-ID -> the peer a call took */
	struct gk_out_metrics om;
	int probe_fd;
	unsigned probe_port;
	struct ev_timer probe_tick;
	unsigned gw_slice, gw_cycle_down;	/* gwprobe.c */
	struct gk_gw_change { int64_t flat_id; int reachable; } gw_pending[512];
	unsigned gw_npending;
	struct gk_protect *prot;	/* protect.c */
	struct gk_tcprobe *tcprobe;	/* tcpprobe.c; NULL until a TCP probe */
};

/* db.c */
/* Connect, read the site (plan) and its flats, LISTEN dpn_gk, watch the
 * connection on the loop. 0 or an errno (logged). */
int gk_db_start(struct gk *g);
/* Put the site's unexpired bindings back into the registrar. */
int gk_db_restore(struct gk *g);
/* Reconnect and reload when the connection was lost (from the tick). */
void gk_db_tick(struct gk *g);
void gk_db_stop(struct gk *g);
/* The flat of a registrar AOR (a canonical flat number), or NULL. */
const struct gk_flat *gk_flat_of_aor(struct gk *g, const char *aor);

/* outbound.c: routes to other complexes */
/* (Re)load the site's routes and peers; the old table stays on failure.
 * 0 or an errno (logged). */
int gk_outbound_load(struct gk *g);
/* Free the routes and the call table (at exit). */
void gk_outbound_free(struct gk *g);
/* Route a new request of gateway gw for number num (not of this complex):
 * forwarded to the route's peers, or answered (403 no route, 503 no peer
 * up). */
void gk_outbound_call(struct gk *g, struct sip_fork *fk, const char *num,
		      const struct gk_flat *gw);
/* sip_core_ops.branch_response: failover only after 503 and timeouts. */
void gk_outbound_branch_response(void *arg, struct sip_fork *f,
				 unsigned branch, const struct sip_msg *resp);
/* 1 when `from` is a trusted peer (its identity headers are kept). */
int gk_outbound_trusted(struct gk *g, const struct sip_peer *from);
/* Where a 2xx ACK sent to the number num at the gatekeeper (without a
 * Route) goes: the peer m's call took, else the one a new call of m's
 * Call-ID would try first. 0 and *to, or ENOENT. */
int gk_outbound_first_peer(struct gk *g, const struct sip_msg *m,
			   const char *num, struct sip_peer *to);
/* 1 when `to` is the address of a route peer. */
int gk_outbound_is_peer(struct gk *g, const struct sip_peer *to);
/* Register the outbound and probing counters in /metrics. */
int gk_outbound_metrics(struct gk *g);

/* probe.c: OPTIONS probing of route peers (probe-interval 0: off) */
int gk_probe_start(struct gk *g);
void gk_probe_stop(struct gk *g);
/* An OPTIONS from the probe socket to `to` (UDP), Call-ID
 * "gk<kind>-<id>-<seq>@host". 0 or an errno. */
int gk_probe_send(struct gk *g, const struct sip_peer *to, char kind,
		  int64_t id, uint32_t seq);
/* That OPTIONS as text for to->proto, its Via naming our public address
 * and lport, into buf (cap bytes; *len). 0, EINVAL (not IPv4), ENOSPC. */
int gk_probe_text(const struct gk *g, const struct sip_peer *to, char kind,
		  int64_t id, uint32_t seq, unsigned lport, char *buf,
		  size_t cap, size_t *len);
/* A response to one of our probes (len bytes, one message) from src: its
 * Call-ID names what was probed (gkp- a peer, gkg- a flat's gateway), its
 * id and round; anything else is ignored. */
void gk_probe_answer(struct gk *g, const char *buf, size_t len,
		     const struct sockaddr_in *src);

/* tcpprobe.c: probes of TCP route peers, each on a connection of its own,
 * closed at the next round (see the file). */
/* Open a connection to peer p and send its probe (p->seq) when it is up.
 * 0, ENOSPC (every connection slot busy: not probed), or an errno (the
 * probe stays unanswered). */
int gk_tcprobe_send(struct gk *g, const struct gk_peer *p);
/* Close the connections of the last round (their probes unanswered). */
void gk_tcprobe_round(struct gk *g);
void gk_tcprobe_stop(struct gk *g);

/* gwprobe.c: OPTIONS probing of registered flat gateways, a slice of the
 * flats per one-second tick (gateway-probe-interval 0: off) */
void gk_gwprobe_tick(struct gk *g);
void gk_gwprobe_answered(struct gk *g, int64_t flat_id, uint32_t seq,
			 const struct sockaddr_in *src);
/* sides.c */
/* Open the public and private transports and the proxy core on them.
 * 0 or an errno (logged by the caller). */
int gk_sides_open(struct gk *g);
void gk_sides_close(struct gk *g);
/* The sides' and topology hiding's series of /metrics. */
int gk_sides_metrics(struct gk *g);
/* Each second: the transports' counts into /metrics, idle hidden
 * dialogs forgotten. */
void gk_sides_tick(struct gk *g);
/* The core's send: by the transport of to->local. */
int gk_side_send(struct gk *g, const struct sip_peer *to, const char *buf,
		 size_t len);
/* Did p come by the private side (always, with one side)? */
int gk_side_private(const struct gk *g, const struct sip_peer *p);
/* Is host:port (0: 5060) one of our listen addresses? */
int gk_side_self(const struct gk *g, struct sip_str host, unsigned port);
/* The private-side peer of a gateway's registered source. */
struct sip_peer gk_side_gateway(const struct gk *g, const struct sip_peer *src);
/* Set p->local for a peer outside any transaction: private when it is a
 * flat's first address, public otherwise. */
void gk_side_choose(const struct gk *g, struct sip_peer *p);
/* Put `num` as From's display name (calls leaving a flat). 0 or an
 * errno; m unchanged on error. */
int gk_from_display(struct sip_msg *m, const char *num);

/* topo.c: topology hiding on the public side (see docs/gatekeeper.md). */
/* A table of at most max dialogs, idle ones forgotten after ttl_s, those
 * not answered 2xx yet after pending_s. */
int gk_topo_new(unsigned max, unsigned ttl_s, unsigned pending_s,
		struct gk_topo **out);
void gk_topo_free(struct gk_topo *t);
/* Forget dialogs idle past their time (from the tick); with a store,
 * tell it what changed (below). */
void gk_topo_expire(struct gk_topo *t, uint64_t now);
/* A dialog as its store keeps it (strings owned by the table: copy). */
struct gk_topo_row {
	uint64_t key, expires;		/* expires: gk_now() seconds */
	int masked;
	const char *callid, *contact, *route;	/* route "" for none */
};
/* Save (del 0) or delete row r; called from gk_topo_expire for answered
 * dialogs that are new, changed or kept alive past their stored expiry
 * (a quarter of dialog-idle), and for saved ones that end. Must not
 * block. */
typedef void (*gk_topo_save_fn)(void *arg, const struct gk_topo_row *r,
				int del);
void gk_topo_set_store(struct gk_topo *t, gk_topo_save_fn fn, void *arg);
/* Put back an answered dialog from the store (as saved). 0, EEXIST (its
 * key or Call-ID is held, or key 0), ENOSPC (table full), ENOMEM. */
int gk_topo_restore(struct gk_topo *t, const struct gk_topo_row *r);
unsigned gk_topo_count(const struct gk_topo *t);
/* A new INVITE from outside to a flat: its dialog entry. 0, ENOSPC (the
 * table is full: answer 503) or ENOMEM. */
int gk_topo_inbound(struct gk *g, const struct sip_msg *m);
/* The core's branch_out hook: a request leaving by the public side gets
 * our Contact with its dialog's key (a dialog made when needed: any
 * request routed out, outbound calls included, is covered) and, for a
 * dialog begun inside, the public Call-ID; one leaving by the private side
 * gets the private Call-ID back. 0 or an errno (the branch is not sent). */
int gk_topo_branch_out(void *arg, struct sip_fork *f, struct sip_msg *m,
		       const struct sip_peer *to);
/* The same for a 2xx ACK routed to `to`: by the public side, the public
 * Call-ID, our address in From and To, no Contact. */
int gk_topo_ack_out(struct gk *g, struct sip_msg *m, const struct sip_peer *to);
/* A request from outside whose Request-URI carries a dialog key: the
 * private party's Contact into ruri (cap bytes, NUL-ended) and the
 * private route set put into m. 0, ENOENT (no such request: not ours),
 * ESRCH (unknown or expired dialog: 481), ENOSPC. */
/* The private Call-ID of a dialog begun inside whose public Call-ID (one
 * the gatekeeper made up, gk-KEY@public) is cid; NULL for any other. */
const char *gk_topo_private_callid(struct gk *g, struct sip_str cid);
int gk_topo_request_in(struct gk *g, struct sip_msg *m, char *ruri,
		       size_t cap);
/* The core's response_out hook: responses towards the public side lose
 * private Record-Routes and get our Contact. */
int gk_topo_response_out(void *arg, struct sip_fork *f, struct sip_msg *m,
			 struct sip_peer *to);

/* topostore.c: the topology-hiding table kept in dpn.gk_topo_dialogs */
/* The writer, the table's store hook, the site's dialogs put back (the
 * expired ones deleted). 0 or an errno (logged). */
int gk_topostore_start(struct gk *g);
/* Each second, after gk_topo_expire: the writer's counts into /metrics. */
void gk_topostore_tick(struct gk *g);
/* Writes what is queued and stops (after gk_topo_free). */
void gk_topostore_stop(struct gk *g);

/* route.c */
/* P-Asserted-Identity of gateway gw's flat (and claimed handset) on m. */
void gk_assert_identity(struct gk *g, struct sip_msg *m,
			const struct gk_flat *gw);
extern const struct sip_core_ops gk_core_ops;
extern const struct sip_reg_ops gk_reg_ops;
uint64_t gk_now(void);
/* The flat whose registered gateway sent a request from `from`, or NULL. */
const struct gk_flat *gk_gateway_of(struct gk *g, const struct sip_peer *from);
/* The Request-URI's number (user part or tel:), decoded, into buf (cap
 * bytes). 0 or EINVAL. */
int gk_dialled(const struct sip_msg *m, char *buf, size_t cap);

/* cdr.c — call records (dpn.calls). Every INVITE dialog that concerns a
 * flat of the site is tracked by Call-ID in a table of max-calls entries
 * (loop thread only) and written when it ends, in batches, by a writer
 * thread (a full queue or table is counted in /metrics, never waited
 * for). The hooks below are called by route.c; each is a no-op for calls
 * that are not tracked. */
/* The table, the writer thread and the metrics. 0 or an errno. */
int gk_cdr_start(struct gk *g);
/* Answered calls still up are written as ended now; then the writer
 * empties its queue (at most ~2 s without a database). Call after
 * sip_core_free (whose fork ends are recorded). NULL cdr is fine. */
void gk_cdr_stop(struct gk *g);
/* What route.c found for a new request, handed to the call record
 * instead of being looked up again. */
struct gk_dial {
	const struct gk_flat *gw;	/* the calling flat's gateway; NULL:
					 * not from a flat */
	const struct gk_flat *flat;	/* the flat dialled; NULL: none of
					 * ours (num says what was dialled) */
	uint32_t hs;			/* its handset part; 0: the flat */
	char num[64];			/* the Request-URI's number, decoded;
					 * "": none (or too long) */
};
/* A new INVITE on fork f, after routing (its P-Asserted-Identity set);
 * d is what routing found. */
void gk_cdr_invite(struct gk *g, struct sip_fork *f, const struct sip_msg *m,
		   const struct gk_dial *d);
/* Every response a branch of f gets (ops->branch_response): a 2xx
 * answers the call (the handset its P-Asserted-Identity names, when one
 * of the called flat), a final >= 300 is kept for the record. */
void gk_cdr_response(struct gk *g, struct sip_fork *f, unsigned branch,
		     const struct sip_msg *resp);
/* The first final went upstream on f (ops->final): an unanswered call
 * ends here (refused, cancelled by the caller, timed out). */
void gk_cdr_final(struct gk *g, struct sip_fork *f, int status);
/* f is freed (ops->done): an answered call stays up until its BYE. */
void gk_cdr_done(struct gk *g, struct sip_fork *f, int status);
/* A BYE (in-dialog, before it is relayed): the call ends, hung up by the
 * caller when its From tag is the INVITE's, else by the callee. */
void gk_cdr_bye(struct gk *g, const struct sip_msg *m);
/* End an answered call from outside SIP (the media relay saw its media
 * stop): ended_by "media", `reason` (copied, may be NULL) as Reason.
 * 0, or ENOENT (no answered call of that Call-ID is up). */
int gk_cdr_ended(struct gk *g, const char *callid, const char *reason);
/* Once a second: calls without a BYE past call-max-duration end (by
 * timeout), hourly pruning past call-retention-days, /metrics. */
void gk_cdr_tick(struct gk *g);

#endif
