/* gatekeeper/banlog.h — bans written to dpn.gk_bans behind the hot path:
 * the loop thread queues each ban, hit update or lift (gk_banlog_push
 * never blocks on the database); a writer thread with its own connection
 * writes them in order, reconnecting after a failure. A full queue drops
 * the write and counts it (a ban's next hit update writes its row again). */
#ifndef DPN_GK_BANLOG_H
#define DPN_GK_BANLOG_H

#include <stdint.h>

#include "gatekeeper/guard.h"

struct gk_banlog;

struct gk_banlog_stats {
	uint64_t written, dropped, failed;
};

/* A writer for site_id's bans on conninfo with room for max_queue writes.
 * 0, EINVAL, ENOMEM, or the pthread error. */
int gk_banlog_new(const char *conninfo, int64_t site_id, unsigned max_queue,
		  struct gk_banlog **out);
/* Writes what is queued (giving the database ~2 s), stops, frees. NULL is
 * fine. */
void gk_banlog_free(struct gk_banlog *l);
/* Queue an upsert of b (ended 0), the deletion of its row (ended 1), or
 * (ended GK_BANLOG_PURGE, b NULL) of the site's rows over for a day.
 * b's times are wall-clock ms. 0, or ENOBUFS (dropped and counted). */
#define GK_BANLOG_PURGE 2
int gk_banlog_push(struct gk_banlog *l, const struct gk_ban *b, int ended);
void gk_banlog_stats(struct gk_banlog *l, struct gk_banlog_stats *out);

#endif
