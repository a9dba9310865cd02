/* gatewayd/gw.h — the state of dpn-gatewayd shared by its files: the
 * settings, the flat's block and handsets as mgmtd last said, the SIP side.
 * One struct gw per process, owned by main.c. */
#ifndef DPN_GW_H
#define DPN_GW_H

#include <stdint.h>

#include "addr.h"
#include "conf.h"
#include "daemon.h"
#include "event/event.h"
#include "numplan.h"
#include "sip/digest.h"

struct gw_http;
struct sip_tp;
struct sip_core;
struct gw_uplink;

struct gw_conf {
	struct daemon_conf base;
	char *flat;		/* "100-1101-1201" */
	char *mgmtd_url;	/* "http://127.0.0.1:8080" */
	char *user;		/* gateway username; default gw-<flat> */
	char *secret_file;	/* the gateway secret, one line */
	char *mac;		/* the gateway's MAC */
	char *addresses;	/* CIDR the block must lie in */
	unsigned sip_port;
	struct conf_addr gatekeeper;
	unsigned reg_expires;	/* s, asked of the gatekeeper */
	unsigned poll_ms;	/* handsets poll */
	unsigned retry_max;	/* s, longest backoff */
	unsigned http_timeout;	/* ms */
	unsigned ring_timeout;	/* s, timer C of a flat call */
	unsigned flood_rate, flood_burst;	/* requests/s per source; 0 off */
	int decommission;
};

/* One handset as mgmtd gave it (no plaintext password, ever). */
struct gw_handset {
	unsigned suffix;
	char number[NUMPLAN_MAX_LEN];
	char user[72];
	char ha1_md5[SIP_DIGEST_HEX], ha1_sha256[SIP_DIGEST_HEX];
	char mac[MAC_STRLEN];
	uint32_t addr;		/* 0: none yet */
	int dnd;		/* do-not-disturb (settings.c) */
};

struct gw_backoff {
	unsigned cur_s;		/* next wait; 0: first try */
};

struct gw {
	struct daemon *d;
	struct gw_conf *cfg;
	struct ev_loop *loop;
	struct gw_http *http;
	char secret[160];
	char user[72];
	struct cidr4 allowed;
	int exit_code;
	/* the block */
	int have_block;
	uint32_t first, last;
	char first_text[ADDR4_STRLEN];
	/* handsets, from GET /api/v1/broker/handsets */
	struct gw_handset *hs;
	unsigned nhs;
	char hs_etag[96];
	int hs_known;
	/* mgmtd exchanges */
	struct ev_timer alloc_t, poll_t, report_t, regs_t;
	struct gw_backoff alloc_b, poll_b, report_b, regs_b;
	int report_busy, report_again, regs_busy, regs_again;
	/* SIP */
	struct sip_tp *tp;
	struct sip_core *core;
	struct gw_uplink *uplink;
	int bound;
	/* metrics */
	struct prom_series *m_mgmtd_ok, *m_mgmtd_err, *m_corrected,
	    *m_reachable, *m_handsets;
};

/* mgmt.c: the exchanges with mgmtd. */
/* Starts the allocation request (retried with backoff until it succeeds;
 * then gw_block_ready, the handsets poll and the report follow). 0 or
 * errno. */
int gw_mgmt_start(struct gw *g);
/* Sends the deletion request for the gateway and its block once; ends
 * the loop with g->exit_code 0 (done) or 1. 0 or errno. */
int gw_mgmt_decommission(struct gw *g);
/* Asks for a report of allotted/free addresses soon. */
void gw_mgmt_report_soon(struct gw *g);
/* Tells mgmtd the handsets' registration state soon (after a change). */
void gw_mgmt_registrations_soon(struct gw *g);
void gw_mgmt_stop(struct gw *g);

/* The next wait of a backoff (1 s, 2 s, 4 s ... max_s), in ms. */
unsigned gw_backoff_next(struct gw_backoff *b, unsigned max_s);

/* main.c: the block is known (first call or moved). */
void gw_block_ready(struct gw *g);
/* main.c: the handset table changed. */
void gw_handsets_changed(struct gw *g);

#endif
