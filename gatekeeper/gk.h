/* gatekeeper/gk.h — dpn-gatekeeper's shared state and the functions its
 * files give each other: main.c (settings, start, the loop), db.c (the
 * site's flats from PostgreSQL, kept true by LISTEN dpn_gk; bindings
 * restored on start), route.c (what each request gets: registrar, number
 * translation, routing, asserted identity), media.c (media anchoring
 * through rtpengine, media.h). */
#ifndef DPN_GK_H
#define DPN_GK_H

#include <libpq-fe.h>

#include "daemon.h"
#include "event/event.h"
#include "gatekeeper/flats.h"
#include "gatekeeper/media.h"
#include "gatekeeper/protect.h"
#include "gatekeeper/store.h"
#include "sip/core.h"
#include "sip/registrar.h"
#include "sip/transport.h"

struct gk_conf {
	struct daemon_conf base;
	char *db;
	struct conf_addr listen;
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
	struct gk_protect_conf prot;	/* protect.h */
};

/* Counters of /metrics. */
struct gk_metrics {
	struct prom_series *reg[6];	/* 200 401 403 423 400 other */
	struct prom_series *calls_in, *calls_flat, *calls_404, *calls_480,
			   *relay_refused, *in_dialog, *pai_set, *pai_replaced;
	struct prom_series *flats, *bindings, *notifies;
};

struct gk {
	struct daemon *d;
	struct gk_conf *cfg;
	struct sip_tp *tp;
	struct sip_core *core;
	struct sip_reg *reg;
	struct gk_flats *flats;
	struct gk_store *store;
	int64_t site_id;
	PGconn *pg;			/* loads and LISTEN, loop thread */
	int pg_fd;
	struct ev_timer tick;
	char host[64];
	unsigned port;
	enum sip_proto proto;		/* how requests are forwarded */
	struct gk_media *media;		/* NULL: media not anchored */
	struct gk_metrics m;
	struct gk_protect *prot;	/* protect.c */
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

/* route.c */
extern const struct sip_core_ops gk_core_ops;
extern const struct sip_reg_ops gk_reg_ops;
uint64_t gk_now(void);

#endif
