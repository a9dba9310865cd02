/* gatewayd/settings.h — the flat settings mgmtd gives with the handsets
 * (GET /api/v1/broker/handsets: "settings" and each handset's "dnd") and
 * what a call does with them:
 *
 *   do-not-disturb      the flat fork skips the handset; dialled directly
 *                       it answers 486
 *   ring timeout        (the flat's, else the ring-timeout setting) the
 *                       handsets are CANCELled; 408 upstream, or, for the
 *                       flat number with forward on no answer, the call
 *                       goes out through the gatekeeper to the target
 *   nobody registered   with forward when unregistered, forwarded at once
 *
 * A forwarded call keeps the caller's From; its Request-URI is the target
 * (a number: sip:NUMBER@gatekeeper), P-Asserted-Identity the flat number
 * (the gatekeeper asserts it again), Diversion the flat. Counted in
 * /metrics. */
#ifndef DPN_GW_SETTINGS_H
#define DPN_GW_SETTINGS_H

#include <json-c/json.h>

struct gw;
struct gw_handset;
struct sip_fork;

/* Declares the metrics. 0 or ENOMEM. */
int gw_settings_metrics(struct gw *g);
/* Takes the settings and each handset's dnd from a handsets answer o
 * (after g->hs was made from it, in the same order). A malformed part is
 * logged and read as the default (no forward, no DND, the configured ring
 * timeout). */
void gw_settings_take(struct gw *g, json_object *o);
/* 1 when handset h is on do-not-disturb (counted: skipped by a flat fork,
 * or refused when `direct`), else 0. */
int gw_dnd(struct gw *g, const struct gw_handset *h, int direct);

/* Starts the ring timeout of fork f, just started (`flat`: a call to the
 * flat number, which may be forwarded). Without memory the core's timer C
 * still ends the call. */
void gw_ring_arm(struct gw *g, struct sip_fork *f, int flat);
/* A flat call that rings nobody: 486 when `dnd` registered handsets were
 * skipped, forwarded when nobody is registered and the flat says so, else
 * 480. */
void gw_ring_none(struct gw *g, struct sip_fork *f, unsigned dnd, const char *cid);
/* Fork f ends (core ops->done): its ring timeout goes. */
void gw_ring_done(struct gw *g, struct sip_fork *f);

#endif
