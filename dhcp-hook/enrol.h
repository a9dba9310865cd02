/* dhcp-hook/enrol.h — first-sight enrolments that wait at the same moment
 * share one transaction.
 *
 * Each enrolment writes a Kea reservation, whose trigger sends a NOTIFY
 * (schema 012, for the host caches). PostgreSQL serializes the commits of
 * transactions that sent a NOTIFY, the WAL flush included: one enrolment
 * per transaction caps a whole building at one fsync each, however many
 * Kea packet threads wait. Here the packet threads that need an enrolment
 * queue their request; one of them (the leader) takes everything queued
 * and runs it as one statement, hence one commit, while the next requests
 * queue behind it. With one thread waiting the batch is that one request:
 * no added latency. Thread-safe; no database code (the caller's run
 * function does that, dhcp_enrol_exec helps). */
#ifndef DPN_DHCP_ENROL_H
#define DPN_DHCP_ENROL_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "dhcp-hook/ident.h"

#define DHCP_ENROL_BATCH_MAX 256

/* One request, in its packet thread's stack while it waits. */
struct dhcp_enrol_req {
	uint32_t subnet_id;
	char circuit[DHCP_CIRCUIT_MAX + 1];	/* NUL-terminated */
	char mac[18];				/* "aa:bb:cc:dd:ee:ff" */
	char answer[16];	/* filled by run: dpn.dhcp_identify's word, or
				 * "" when it could not be asked */
	int done;		/* the group's own */
	struct dhcp_enrol_req *next;
};

/* What runs a batch: answers reqs[0..n) (on whatever thread called
 * dhcp_enrol_group_do as their leader). */
typedef void (*dhcp_enrol_run_fn)(void *arg, struct dhcp_enrol_req **reqs,
				  size_t n);

struct dhcp_enrol_group;

/* A group batching up to max (1..DHCP_ENROL_BATCH_MAX) requests per run.
 * Returns 0, EINVAL or ENOMEM; *out owned by the caller. */
int dhcp_enrol_group_new(size_t max, struct dhcp_enrol_group **out);
/* Frees; no request may be waiting. NULL is a no-op. */
void dhcp_enrol_group_free(struct dhcp_enrol_group *g);

/* Has req answered: queues it, and either waits until a leader has run it
 * or becomes the leader and calls run(arg, ...) for what is queued (req
 * among them), as often as needed until req is answered. Returns with
 * req->answer set. */
void dhcp_enrol_group_do(struct dhcp_enrol_group *g, struct dhcp_enrol_req *req,
			 dhcp_enrol_run_fn run, void *arg);

/* Formats reqs[0..n) as the three PostgreSQL array literals of
 * dhcp_enrol_exec ({pools}, {"circuits"}, {MACs}); circuits are quoted and
 * escaped. Returns 0, or ENOSPC when they do not fit in len bytes each. */
int dhcp_enrol_literals(struct dhcp_enrol_req *const *reqs, size_t n,
			char *lit[3], size_t len);

/* Asks dpn.dhcp_identify(pool, circuit, mac, true) for every request in one
 * statement, hence one transaction, on conn, and copies each answer. Returns
 * NULL when every request is answered, else the failed result (nothing
 * committed; the caller inspects and PQclears it). */
PGresult *dhcp_enrol_exec(PGconn *conn, struct dhcp_enrol_req *const *reqs,
			  size_t n);

#endif
