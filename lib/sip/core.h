/* lib/sip/core.h — a stateful, forking, record-routing proxy core (RFC 3261
 * section 16) on the transaction layer: what the gatekeeper and gatewayd
 * share, and what the test proxy (tests/sip/proxy.c) is a thin main over.
 *
 * The core owns a transaction layer. Feed it every message the transport
 * delivers (sip_core_recv). For each new request that passes the proxy
 * checks of 16.3 (416, 483, 482, 420 are answered here) the core removes a
 * Route naming itself (16.4), decrements Max-Forwards, adds Record-Route to
 * an INVITE when asked, and hands the TU a fork: the server transaction with
 * room for SIP_FORK_MAX client branches. The TU adds targets
 * (sip_fork_add) and starts them (sip_fork_start), or answers
 * (sip_fork_reply); it may do so later, from another callback, as long as
 * the fork is alive (until ops->done).
 *
 * Forking: parallel (every branch at once, ring-all) or serial by q-value
 * (highest first; equal q in parallel; the next group starts when the last
 * one ended without a 2xx or 6xx). Responses, per RFC 3261 16.7: 1xx other
 * than 100 and every 2xx are forwarded at once (unless the TU holds one
 * to edit it first: ops->response); a 2xx CANCELs the other
 * pending branches with `Reason: SIP;cause=200;text="Call completed
 * elsewhere"` (RFC 3326); a 6xx CANCELs the others and is forwarded at
 * once; otherwise the best final is chosen when every branch has ended
 * (6xx, then 3xx, then 4xx preferring 401/407 — their challenges merged —
 * then 486, then other 4xx, 480, 408; 5xx last; 503 becomes 500).
 *
 * A branch whose request cannot be sent counts as 503 at once (also when
 * its TCP connection is refused later: sip_core_peer_failed); one whose
 * transaction times out counts as 408 at once. Timer C (tsx cfg.timer_c)
 * runs per branch: when it fires the branch is CANCELled. A CANCEL from
 * upstream is answered 200 and cancels every pending branch; a branch that
 * has not had a provisional yet cannot be CANCELled (9.1) and counts as 487
 * at once, so the caller gets its 487 without waiting for it.
 *
 * Several local addresses (cfg.locals, e.g. a public and a private
 * side, each its own transport): a request's side is its peer's `local`;
 * each branch gets the Via of the local it leaves by (to.local); an INVITE
 * is record-routed per branch, and when the branch leaves by another local
 * than the request came in on, twice (the outgoing address on top, the
 * incoming one below: double Record-Route), so in-dialog requests from
 * either end enter where they should. Every Route naming us at the top of
 * a request is removed (both of a double Record-Route).
 *
 * Topology hiding (locals[i].hide): a request leaving by local i carries
 * our Via alone and only our own Record-Route; the Vias and Record-Routes
 * it had are kept in the server transaction and put back into the
 * responses that go upstream (the Vias in place of ours, the
 * Record-Routes after the response's own, behind our incoming-side one).
 * A 2xx ACK leaving by it keeps only our Via too. What else must not cross
 * (Contact, Call-ID, ...) is the TU's: ops->branch_out sees every request
 * as it leaves for a branch, ops->response_out every response before it
 * goes upstream, ops->route every 2xx ACK.
 *
 * With cfg.one_answer (gatewayd: a flat of handsets, where a second
 * answer is a second call nobody wants) the first 2xx wins outright: a 2xx
 * of another branch is not forwarded; the core ACKs it (every
 * retransmission) and ends that dialog with a BYE carrying the same Reason
 * (RFC 3261 13.2.2.4, acting as the UAC of that branch). A plain proxy (the
 * gatekeeper) leaves it off and forwards every 2xx (16.7 step 5).
 *
 * ACKs for 2xx and responses without a transaction are handled
 * statelessly: an ACK goes where ops->route says; a response goes to the
 * next Via only when the top Via is this proxy's (16.11; others are
 * dropped and counted).
 *
 * Ownership: the core owns forks. A fork lives until its server
 * transaction and every branch transaction have ended; ops->done is called
 * once then, and the fork is freed when it returns. */
#ifndef DPN_SIP_CORE_H
#define DPN_SIP_CORE_H

#include "sip/proxy.h"
#include "sip/transport.h"
#include "sip/tsx.h"

#define SIP_FORK_MAX 16

struct sip_core;
struct sip_fork;

/* One local address of a proxy with several (sip_peer.local indexes
 * them). `hide`: topology hiding towards it (see above). */
struct sip_core_local {
	const char *host;
	unsigned port;
	int hide;
};

#define SIP_CORE_LOCALS_MAX 4

struct sip_core_cfg {
	struct sip_tsx_cfg tsx;
	const char *host;	/* our Via sent-by and Record-Route host */
	unsigned port;
	const char *const *supported;	/* option tags (Proxy-Require) */
	int record_route;	/* add Record-Route to INVITEs */
	const char *to_tag;	/* for the core's own answers; default "dpn" */
	/* Several local addresses (NULL: host and port are the only one).
	 * host/port stay what loop detection looks for in Vias. */
	const struct sip_core_local *locals;
	unsigned nlocals;	/* 1..SIP_CORE_LOCALS_MAX */
	int one_answer;		/* end a fork's second 2xx here (see above) */
};

struct sip_core_ops {
	/* Put bytes on the wire: 0 or an errno. */
	int (*send)(void *arg, const struct sip_peer *to, const char *buf,
		    size_t len);
	/* A new request on fork f (m = the edited request, valid while f
	 * lives). Add branches and start them, or reply. */
	void (*request)(void *arg, struct sip_fork *f, const struct sip_msg *m,
			const struct sip_peer *from);
	/* Next hop of a request outside any transaction (an ACK for a 2xx)
	 * that came from `from`: fill *to and return 0, or nonzero to drop
	 * it; the TU may edit m (e.g. its Request-URI). SIP_CORE_HOLD: the
	 * TU keeps a copy of m (as edited: our Route gone, Max-Forwards
	 * lowered) to edit and send later with sip_core_ack_forward. May be
	 * NULL (drop). */
	int (*route)(void *arg, struct sip_msg *m, const struct sip_peer *from,
		     struct sip_peer *to);
	/* Every response a branch receives, before the core acts on it. May
	 * be NULL. */
	void (*branch_response)(void *arg, struct sip_fork *f, unsigned branch,
				const struct sip_msg *resp);
	/* The first final response (>= 200) went upstream on f, with
	 * `status`: the call's outcome, before the transactions linger for
	 * ACKs and retransmissions. Must not reply on f. May be NULL. */
	void (*final)(void *arg, struct sip_fork *f, int status);
	/* A request about to leave for a branch to `to`: f's request with
	 * the branch's Request-URI, our Via and Record-Route(s) on. The TU
	 * may edit its headers (Contact, Call-ID, ...; not the Request-URI,
	 * set by sip_fork_add); the edits are undone once it is sent, so the
	 * core's own answers upstream still match the request as it came.
	 * Nonzero: the branch is not sent (it counts as 503). May be NULL. */
	int (*branch_out)(void *arg, struct sip_fork *f, struct sip_msg *m,
			  const struct sip_peer *to);
	/* A response about to go upstream to `to` (our Via removed, hidden
	 * Vias and Record-Routes back): the TU may edit it, or return nonzero
	 * to drop it. f is NULL for a response sent statelessly; then the TU
	 * may also set to->local (the core cannot know the side). May be
	 * NULL. */
	int (*response_out)(void *arg, struct sip_fork *f, struct sip_msg *m,
			    struct sip_peer *to);
	/* A 2xx of branch `branch` about to go upstream: the TU may edit it
	 * (P-Asserted-Identity of the answerer). May be NULL. */
	void (*answer)(void *arg, struct sip_fork *f, unsigned branch,
		       struct sip_msg *resp);
	/* f ends; `status` is the final sent upstream (0 if none). May be
	 * NULL. f is freed when this returns. */
	void (*done)(void *arg, struct sip_fork *f, int status);
	/* A 1xx (not 100) or 2xx of `branch` about to go upstream; the TU
	 * may edit m (its body: a media anchor rewrites SDP). Return 0 to
	 * forward it now, SIP_CORE_DROP to never forward it (a 2xx still
	 * counts as the branch's answer), or SIP_CORE_HOLD to forward it
	 * later: the core
	 * then sends nothing of it, and the TU keeps its own copy
	 * (sip_msg_dup) and hands it back exactly once, from any callback,
	 * with sip_fork_release. While a 2xx is held the core sends no
	 * other final upstream (it still CANCELs the other branches); the
	 * fork lives until every held response is released. May be NULL. */
	int (*response)(void *arg, struct sip_fork *f, unsigned branch,
			struct sip_msg *m);
};

#define SIP_CORE_HOLD 1
#define SIP_CORE_DROP 2

struct sip_core_stats {
	uint64_t forwarded;	/* requests forked (one per request) */
	uint64_t branches;	/* client branches started */
	uint64_t answered;	/* answers the core or TU made itself */
	uint64_t stray_fwd;	/* ACKs and responses sent statelessly */
	uint64_t stray_dropped;	/* responses whose top Via is not ours */
	uint64_t timeouts;	/* branches that timed out (408) */
	uint64_t send_failed;	/* branches that could not be sent (503) */
	uint64_t cancels;	/* CANCELs sent to branches */
	uint64_t answers_ended;	/* second answers ACKed and BYEd (one_answer) */
};

/* Returns 0, EINVAL (no host/port/send), ENOMEM. */
int sip_core_new(struct ev_loop *loop, const struct sip_core_cfg *cfg,
		 const struct sip_core_ops *ops, void *arg,
		 struct sip_core **out);
/* Ends every transaction (ops->done for each fork) and frees the core. */
void sip_core_free(struct sip_core *c);
/* Send an ACK the TU held (ops->route returned SIP_CORE_HOLD) to `to`,
 * with the Via the core would have given it (m: the TU's copy, which it
 * still owns; our Via is added to it). Returns 0, EBADMSG, ENOSPC, or
 * the error of ops->send. */
int sip_core_ack_forward(struct sip_core *c, struct sip_msg *m,
			 const struct sip_peer *to);
/* Feed a received message (a sip_tp_recv_cb can call this). */
void sip_core_recv(struct sip_core *c, struct sip_msg *m,
		   const struct sip_peer *from);
/* `to` cannot be reached (a sip_tp_cfg.failed callback can call this):
 * branches still waiting on it count as 503 now. */
void sip_core_peer_failed(struct sip_core *c, const struct sip_peer *to);
const struct sip_core_stats *sip_core_stats(const struct sip_core *c);
struct sip_tsx_layer *sip_core_tsx(struct sip_core *c);

/* Add a target: `ruri` (len bytes, copied; NULL keeps the request's), sent
 * to `to`, with q in 0..1000 (serial forking; higher first). A target
 * added to a started fork waits until every pending branch has ended, then
 * starts (unless a 2xx or 6xx came). Returns 0, E2BIG (SIP_FORK_MAX),
 * EINVAL (answered or CANCELled already), ENOMEM. */
int sip_fork_add(struct sip_fork *f, const char *ruri, size_t len,
		 const struct sip_peer *to, unsigned q);
/* Start the branches: all at once, or by q when `serial`. With no branch
 * the caller gets 480. Returns 0 or EINVAL (started or answered). A branch
 * that cannot be sent counts as 503; when none could, the best of those
 * goes upstream at once. */
int sip_fork_start(struct sip_fork *f, int serial);
/* Give up on the pending branches (a ring timeout): each is CANCELled
 * (one without a provisional yet when its first one comes, 9.1) and
 * counts as `status` at once, without waiting for its 487. Targets added
 * since (sip_fork_add) start now; without any, the best final goes
 * upstream. Returns 0, or EINVAL (not started, answered, CANCELled). */
int sip_fork_cancel_branches(struct sip_fork *f, int status);
/* Answer the request with a final (or provisional) status; `extra` are
 * whole header lines (CRLF-ended) or NULL. Returns 0, EINVAL (a final was
 * sent already), or an error of the transaction layer. */
int sip_fork_reply(struct sip_fork *f, int status, const char *reason,
		   const char *extra);

/* Hand back a response held by ops->response (`status` its status): m
 * (the TU's copy, edited; the TU still owns it) goes upstream as the
 * core would have sent it, or nothing when m is NULL (a dropped 2xx lets
 * the best other final go up once every branch ended). */
void sip_fork_release(struct sip_fork *f, int status, struct sip_msg *m);

/* The request as edited for forwarding; valid until the server
 * transaction ends (then NULL). */
const struct sip_msg *sip_fork_request(const struct sip_fork *f);
/* The same request for the TU to edit before sip_fork_start (headers such
 * as P-Asserted-Identity: every branch is written from it when it starts).
 * Not its top Via; the Request-URI is set per branch by sip_fork_add. NULL
 * once the server transaction ended. */
struct sip_msg *sip_fork_request_edit(struct sip_fork *f);
unsigned sip_fork_branches(const struct sip_fork *f);
/* Serial forking: start no further group (a TU's failover that must not
 * go on after, say, a 486; call it from ops->branch_response). The branches
 * not started yet never run; the best final so far goes upstream. */
void sip_fork_serial_stop(struct sip_fork *f);
/* The final status of branch i so far (0 while pending). */
int sip_fork_branch_status(const struct sip_fork *f, unsigned i);
/* The final status sent upstream so far (0: none yet). */
int sip_fork_final(const struct sip_fork *f);
/* Whether the caller CANCELled the request (not timer C). */
int sip_fork_cancelled(const struct sip_fork *f);
/* Where branch i is sent, or NULL for no such branch. */
const struct sip_peer *sip_fork_branch_peer(const struct sip_fork *f,
					    unsigned i);
void *sip_fork_user(const struct sip_fork *f);
void sip_fork_set_user(struct sip_fork *f, void *user);

/* The next hop named by the top Route of m (after the core removed its
 * own), as a peer of `proto`. Returns 0, ENOENT (no Route), EINVAL. */
int sip_route_target(const struct sip_msg *m, enum sip_proto proto,
		     struct sip_peer *to);

#endif
