/* lib/sip/tsx.h — SIP transactions (RFC 3261 section 17): INVITE and
 * non-INVITE, client and server, with timers A-K on a lib/event loop.
 *
 * The layer keeps a table of transactions keyed by sip_tsx_key() (branch
 * with the RFC 2543 fallback). Feed every received message to
 * sip_tsx_layer_recv(): retransmitted requests are answered with the last
 * response, an ACK for a non-2xx final is absorbed, a response goes to its
 * client transaction, and a new request makes a server transaction that is
 * handed to ops->request. What matches nothing (a 2xx retransmission after
 * its transaction ended, an ACK for a 2xx, a response to nobody) goes to
 * ops->stray for the TU to handle statelessly.
 *
 * INVITE transactions that saw a 2xx stay in the Accepted state of RFC
 * 6026 for 64*T1 (timers L and M): a server one absorbs retransmitted
 * INVITEs and lets the TU send more 2xx, a client one hands further 2xx
 * to ops->response (a proxy forwards them).
 *
 * Retransmissions and timeouts run only over UDP; over TCP the timers that
 * wait for stragglers (D, I, J, K) are zero, as the RFC says.
 *
 * Ownership: the layer owns transactions. A transaction is freed right
 * after ops->terminated is called for it; the TU must drop its pointer
 * there. Message copies kept by a transaction are its own. */
#ifndef DPN_SIP_TSX_H
#define DPN_SIP_TSX_H

#include "event/event.h"
#include "sip/msg.h"
#include "sip/transport.h"

enum sip_tsx_kind { SIP_TSX_UAC_INVITE, SIP_TSX_UAC, SIP_TSX_UAS_INVITE,
		    SIP_TSX_UAS };
enum sip_tsx_state { SIP_TSX_CALLING, SIP_TSX_TRYING, SIP_TSX_PROCEEDING,
		     SIP_TSX_COMPLETED, SIP_TSX_CONFIRMED, SIP_TSX_ACCEPTED,
		     SIP_TSX_TERMINATED };
/* Why a transaction ended (ops->terminated). */
enum sip_tsx_end { SIP_TSX_END_DONE, SIP_TSX_END_TIMEOUT,
		   SIP_TSX_END_TRANSPORT, SIP_TSX_END_SHUTDOWN };

struct sip_tsx;
struct sip_tsx_layer;

struct sip_tsx_ops {
	/* Put bytes on the wire; 0 or an errno (then the transaction ends
	 * with SIP_TSX_END_TRANSPORT). */
	int (*send)(void *arg, const struct sip_peer *to, const char *buf,
		    size_t len);
	/* A new server transaction for request m (valid during the call). */
	void (*request)(void *arg, struct sip_tsx *t, struct sip_msg *m,
			const struct sip_peer *from);
	/* A response for client transaction t (1xx, the first final, and
	 * further 2xx to an INVITE in Accepted). */
	void (*response)(void *arg, struct sip_tsx *t, struct sip_msg *m);
	/* A message no transaction matched. */
	void (*stray)(void *arg, struct sip_msg *m,
		      const struct sip_peer *from);
	/* t ends (after its last timer); t is freed when this returns. */
	void (*terminated)(void *arg, struct sip_tsx *t, enum sip_tsx_end why);
	/* Timer C (RFC 3261 16.6 step 11) fired on client INVITE t: no
	 * provisional for timer_c ms. The TU should CANCEL it; t waits 64*T1
	 * more for a final, then ends with SIP_TSX_END_TIMEOUT. May be NULL. */
	void (*expired)(void *arg, struct sip_tsx *t);
};

struct sip_tsx_cfg {
	unsigned t1, t2, t4;	/* ms; defaults 500, 4000, 5000 */
	unsigned max_tsx;	/* default 262144 (a proxy at 1,000 calls/s
				   keeps ~100,000 lingering); beyond: 503 */
	int auto_100;		/* answer a new INVITE with 100 Trying */
	unsigned timer_c;	/* ms, client INVITE in Proceeding; default
				   180000 (more than 3 minutes, 16.8) */
	unsigned key_hash_bits;	/* 0 (= 64): the whole key hash; tests use
				   fewer to make keys collide on purpose */
};

/* Returns 0, ENOMEM. */
int sip_tsx_layer_new(struct ev_loop *loop, const struct sip_tsx_cfg *cfg,
		      const struct sip_tsx_ops *ops, void *arg,
		      struct sip_tsx_layer **out);
/* Free the layer and every transaction; ops->terminated is called for
 * each with SIP_TSX_END_SHUTDOWN (send nothing from there). */
void sip_tsx_layer_free(struct sip_tsx_layer *l);

/* Feed a received message (from the transport callback). Returns 0, or
 * EBADMSG (no usable Via/CSeq), ENOMEM, ENOSPC (too many transactions; a
 * 503 was sent for a request). */
int sip_tsx_layer_recv(struct sip_tsx_layer *l, struct sip_msg *m,
		       const struct sip_peer *from);

/* Start a client transaction: send request req (a whole message; its top
 * Via branch must be unique) to `to` and run timers A/B or E/F.
 * Returns 0 and *out (owned by the layer), EEXIST (same key in use),
 * EBADMSG, ENOMEM, ENOSPC, or the send error. */
int sip_tsx_client(struct sip_tsx_layer *l, const char *req, size_t len,
		   const struct sip_peer *to, void *user, struct sip_tsx **out);

/* The same for a request the caller has parsed already: m must be what
 * req (len bytes) parses to, e.g. an edited message and its serialisation;
 * nothing is parsed again. */
int sip_tsx_client_msg(struct sip_tsx_layer *l, const struct sip_msg *m,
		       const char *req, size_t len, const struct sip_peer *to,
		       void *user, struct sip_tsx **out);

/* CANCEL client INVITE transaction inv (RFC 3261 9.1): a new client
 * transaction to inv's peer whose request repeats inv's Request-URI, top
 * Via, Route, Max-Forwards, From, To, Call-ID and CSeq number, with
 * `extra` (whole header lines ending in CRLF, e.g. a Reason; may be NULL)
 * before Content-Length. Written from what inv kept when it was sent:
 * nothing is parsed (after inv's final it parses inv's text). Returns 0
 * and *out (owned by the layer), EINVAL (inv is not a client INVITE, or
 * its request is unusable), EEXIST (a CANCEL is pending already), ENOMEM,
 * ENOSPC, or the send error. */
int sip_tsx_cancel(struct sip_tsx *inv, const char *extra, void *user,
		   struct sip_tsx **out);

/* Send a response on server transaction t: a whole message whose Via,
 * CSeq etc. match the request. Moves the state machine (a 2xx to INVITE
 * moves to Accepted, where only more 2xx may be sent: the TU or the other
 * end retransmits them). Returns 0, EINVAL (t is not a server transaction,
 * or has a final already), or the send error. */
int sip_tsx_respond(struct sip_tsx *t, const char *resp, size_t len);

/* The transport could not reach `to` over TCP (sip_tp_cfg.failed): every
 * client transaction still waiting for its first response from it ends
 * now with SIP_TSX_END_TRANSPORT (from a timer, as always), not after
 * timer B/F. */
void sip_tsx_layer_peer_failed(struct sip_tsx_layer *l,
			       const struct sip_peer *to);

/* The server INVITE transaction that a CANCEL (or ACK) names, or NULL. */
struct sip_tsx *sip_tsx_find_invite(struct sip_tsx_layer *l,
				    const struct sip_msg *m);

/* Accessors. The request is the parsed copy the transaction keeps. */
enum sip_tsx_kind sip_tsx_kind(const struct sip_tsx *t);
enum sip_tsx_state sip_tsx_state(const struct sip_tsx *t);
const struct sip_msg *sip_tsx_request(const struct sip_tsx *t);
const struct sip_peer *sip_tsx_peer(const struct sip_tsx *t);
/* A server transaction's own copy of its request, for a TU that edits it
 * to forward it (the proxy core: one copy per request, not two). Edits
 * must leave Via, From, To, Call-ID and CSeq as they are (answers are
 * built from them) or undo them before the transaction answers. Valid
 * until the transaction ends. NULL for a client transaction. */
struct sip_msg *sip_tsx_request_edit(struct sip_tsx *t);
void *sip_tsx_user(const struct sip_tsx *t);
void sip_tsx_set_user(struct sip_tsx *t, void *user);
unsigned sip_tsx_layer_count(const struct sip_tsx_layer *l);

#endif
