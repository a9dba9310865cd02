/* lib/sip/transport.h — SIP over UDP and TCP on one lib/event loop.
 *
 * A transport binds one address and port for UDP and/or TCP. Each received
 * message is parsed and checked (sip_msg_parse + sip_msg_check); a request
 * that fails gets the 400/505/513 answer with the reason from the parser
 * (at most answers_per_s of them: a token bucket on the loop's clock),
 * anything else bad is dropped; both are counted. Requests get RFC 3581
 * received/rport in their top Via before the callback sees them.
 *
 * TCP: messages are framed by Content-Length across any split of reads; a
 * connection is closed when framing fails, when a message would exceed
 * max_msg (after a 513 answer), when a begun message is not complete
 * within msg_deadline_ms, or after idle_ms without a whole message or
 * keep-alive either way (bytes alone do not count: a trickle ends). CRLFCRLF pings are answered with
 * CRLF (RFC 5626). Outgoing messages reuse an open connection to the same
 * peer (the one a request came in on, or one opened earlier) and open one
 * otherwise; at most max_conns inbound connections (max_conns_per_src
 * from one address) and max_out_conns outbound ones, max_outq queued
 * bytes each.
 *
 * Addresses are numeric IPv4/IPv6: no name resolution here. */
#ifndef DPN_SIP_TRANSPORT_H
#define DPN_SIP_TRANSPORT_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "event/event.h"
#include "sip/msg.h"

enum sip_proto { SIP_PROTO_UDP = 1, SIP_PROTO_TCP = 2 };

/* Where a message came from or goes to. `conn` is the TCP connection id
 * that delivered a message (0 for UDP, or to let sip_tp_send choose).
 * `local` names the local address: a transport stamps its cfg.local on
 * every peer it delivers, and an element with several transports (a
 * public and a private side) sends to a peer through the transport of
 * that number; sip_tp_send itself ignores it. */
struct sip_peer {
	struct sockaddr_storage sa;
	socklen_t salen;
	enum sip_proto proto;
	uint32_t conn;
	unsigned local;
};

struct sip_tp_cfg {
	const char *host;	/* numeric address to bind, e.g. "127.0.0.1" */
	unsigned port;		/* 0: any free port (see sip_tp_port) */
	int udp, tcp;		/* which to open */
	size_t max_msg;		/* default SIP_MAX_MSG */
	unsigned idle_ms;	/* TCP: no whole message for this long closes
				   a connection; default 300000 */
	unsigned msg_deadline_ms;	/* TCP: a message begun must be
				   complete within this; default 10000 */
	unsigned max_conns;	/* inbound connections; default 256 */
	unsigned max_conns_per_src;	/* inbound from one address; 32 */
	unsigned max_out_conns;	/* connections we open; default 256 */
	size_t max_outq;	/* default 256 KiB */
	unsigned answers_per_s;	/* 400s sent per second, burst the same;
				   default 50 (no reflection floods) */
	int lean;		/* sip_msg_check_lean instead of
				   sip_msg_check (a proxy's hot path) */
	/* An outbound TCP connection failed before it was up (refused,
	 * reset) with data queued for `to`: called with the recv callback's
	 * arg, before the connection is closed. May be NULL. A proxy ends the
	 * transactions waiting on `to` (sip_core_peer_failed). */
	void (*failed)(void *arg, const struct sip_peer *to);
	size_t udp_rcvbuf;	/* SO_RCVBUF of the UDP socket, bytes (0: the
				   system's; capped by net.core.rmem_max): a
				   burst such as every gateway registering
				   after a power cut must fit in it */
	unsigned local;		/* stamped on every peer delivered (see
				   struct sip_peer); default 0 */
	/* Called with the recv callback's arg for each message's bytes
	 * before they are parsed (a UDP datagram, a framed TCP message) and
	 * for each accepted TCP connection (buf NULL, len 0): nonzero drops
	 * the message or closes the connection (counted in rx_refused), so
	 * a banned source costs no parsing. May be NULL. */
	int (*admit)(void *arg, const struct sip_peer *from, const char *buf,
		     size_t len);
	int lazy;		/* skip sip_msg_check: only the start line,
				   header names and framing are checked, and
				   the TU parses the values it reads */
};

struct sip_tp_stats {
	uint64_t rx_msgs, rx_bad, rx_dropped, tx_answers, rx_pings;
	uint64_t conns_accepted, conns_opened, conns_closed, conns_idle;
	uint64_t conns_refused, tx_errors, answers_limited, conns_slow;
	uint64_t rx_refused;	/* dropped by cfg.admit */
};

struct sip_tp;

/* Called for each good message; m and its buffer live until it returns
 * (sip_msg_dup to keep it). Edits made to m are released afterwards. */
typedef void (*sip_tp_recv_cb)(void *arg, struct sip_msg *m,
			       const struct sip_peer *from);

/* Open the sockets and watch them on loop. *out on success; close with
 * sip_tp_close. Returns 0, EINVAL (bad cfg or address), ENOMEM, or the
 * errno of socket/bind/listen. */
int sip_tp_open(struct ev_loop *loop, const struct sip_tp_cfg *cfg,
		sip_tp_recv_cb cb, void *arg, struct sip_tp **out);
/* Close every socket and connection, drop queued data, free tp. */
void sip_tp_close(struct sip_tp *tp);

/* Send len bytes (one whole message, or a keep-alive) to `to`. Returns 0,
 * EMSGSIZE (UDP datagram too big), ENOBUFS (TCP queue full), EMFILE
 * (max_conns), EPROTONOSUPPORT (that protocol is not open), or an errno
 * of the socket call. */
int sip_tp_send(struct sip_tp *tp, const struct sip_peer *to,
		const char *buf, size_t len);

/* The bound port of a protocol (0 if not open). */
unsigned sip_tp_port(const struct sip_tp *tp, enum sip_proto proto);
const struct sip_tp_stats *sip_tp_stats(const struct sip_tp *tp);
/* Number of open TCP connections. */
unsigned sip_tp_conns(const struct sip_tp *tp);

/* Fill p from a numeric host (IPv4, IPv6, or [IPv6]) and port. Returns 0
 * or EINVAL. */
int sip_peer_set(struct sip_peer *p, enum sip_proto proto,
		 struct sip_str host, unsigned port);
/* The numeric address of p into buf (cap >= INET6_ADDRSTRLEN) and its
 * port. */
void sip_peer_addr(const struct sip_peer *p, char *buf, size_t cap,
		   unsigned *port);

/* RFC 3581 on a received request: add received=<src> to the top Via when
 * its host differs from the source address, and fill an empty rport with
 * the source port (then received is always added). Returns 0, ENOMEM, or
 * EBADMSG. */
int sip_msg_via_received(struct sip_msg *m, const struct sip_peer *src);

#endif
