/* lib/ng.h — an asynchronous client of rtpengine's ng control protocol
 * (bencoded dictionaries over UDP, "COOKIE MESSAGE") for a set of
 * rtpengine instances, on the lib/event loop.
 *
 * Requests never block: ng_send queues the datagram and returns; the
 * callback runs later from the loop with the decoded answer, or with an
 * error when the deadline passed. A request is retransmitted (same cookie;
 * rtpengine answers a repeated cookie from its cache) every
 * timeout/(retries + 1) ms until it is answered or the deadline passes.
 * Answers with an unknown or old cookie (late), or that do not decode, are
 * counted and dropped.
 *
 * Instances: a call is placed on ng_pick's instance (a hash of its
 * Call-ID, skipping instances marked down); every later request of the
 * call goes to the same instance by index. An instance whose request
 * timed out is marked down; a down instance is probed with ng `ping`
 * every ping_ms and is up again at its first answer (any answer). */
#ifndef DPN_NG_H
#define DPN_NG_H

#include <stdint.h>

#include "bencode.h"
#include "conf.h"
#include "event/event.h"

#define NG_MAX_INSTANCES 16
#define NG_MAX_NODES 2048	/* bencode nodes of one answer */
#define NG_MAX_DGRAM 65535

struct ng_set;
struct ng_req;

struct ng_cfg {
	unsigned timeout_ms;	/* deadline of one request (default 1000) */
	unsigned retries;	/* retransmissions before it (default 2) */
	unsigned ping_ms;	/* probing of down instances (default 1000) */
	unsigned max_pending;	/* requests outstanding at once (default 4096) */
};

struct ng_stats {
	uint64_t sent, retransmits, answered, errors, timeouts, late, bad;
};

/* The answer of one request. err: 0 (nodes[0] is the answer dictionary
 * and its "result" is "ok"), EPROTO ("result" is "error": the
 * "error-reason" string is in `reason`), EBADMSG (it did not decode or
 * has no result), ETIMEDOUT (no answer by the deadline). nodes is valid
 * only during the call. */
struct ng_answer {
	int err;
	unsigned instance;
	const struct ben_node *nodes;
	const char *reason;
	size_t reason_len;
};
typedef void (*ng_cb)(void *arg, const struct ng_answer *a);

/* A set of instances (addresses as the config parsed them), each with its
 * own connected UDP socket. Returns 0, EINVAL (no or too many instances),
 * ENOMEM, or the errno of socket/connect. */
int ng_set_new(struct ev_loop *loop, const struct ng_cfg *cfg,
	       const struct conf_addr *addrs, unsigned n,
	       struct ng_set **out);
/* Closes the sockets; pending requests are dropped without a callback. */
void ng_set_free(struct ng_set *s);

/* The instance for a new call: a hash of callid picks among the instances
 * that are up. Returns 0 and *idx, or ENETDOWN (every instance down). */
int ng_pick(const struct ng_set *s, const char *callid, size_t len,
	    unsigned *idx);
/* 1 when instance idx is up. */
int ng_up(const struct ng_set *s, unsigned idx);
unsigned ng_count(const struct ng_set *s);

/* Send msg (len bytes, a bencoded dictionary without cookie) to instance
 * idx; cb(arg, answer) runs exactly once later unless ng_cancel is called
 * first. *out (may be NULL) is a handle for ng_cancel, valid until cb
 * runs. Returns 0, EINVAL (bad idx, too long), EBUSY (max_pending
 * outstanding), or the errno of send. */
int ng_send(struct ng_set *s, unsigned idx, const char *msg, size_t len,
	    ng_cb cb, void *arg, struct ng_req **out);
/* Forget a pending request: its callback will not run. */
void ng_cancel(struct ng_set *s, struct ng_req *r);

const struct ng_stats *ng_stats(const struct ng_set *s);

#endif
