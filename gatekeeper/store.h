/* gatekeeper/store.h — bindings written to PostgreSQL behind the hot path:
 * the loop thread queues each change of the registrar's table
 * (gk_store_push never blocks on the database), a writer thread with its
 * own connection applies them in order, reconnecting after a failure. A
 * full queue drops the change and counts it (the next REGISTER of that
 * gateway writes its row again). */
#ifndef DPN_GK_STORE_H
#define DPN_GK_STORE_H

#include <stdint.h>

#include "sip/registrar.h"

struct gk_store;

struct gk_store_stats {
	uint64_t written, dropped, failed;
	unsigned queued;
};

/* A writer for conninfo with room for max_queue changes. 0, EINVAL,
 * ENOMEM, or the pthread error. */
int gk_store_new(const char *conninfo, unsigned max_queue,
		 struct gk_store **out);
/* Writes what is queued (waiting at most ~2 s for the database), stops
 * the thread, frees. NULL is fine. */
void gk_store_free(struct gk_store *s);

/* Queue: upsert (del 0) or delete (del 1) the binding b of flat_id.
 * 0, or ENOBUFS (queue full: dropped and counted). */
int gk_store_push(struct gk_store *s, int64_t flat_id,
		  const struct sip_reg_binding *b, int del);

void gk_store_stats(struct gk_store *s, struct gk_store_stats *out);

#endif
