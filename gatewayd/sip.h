/* gatewayd/sip.h — the SIP side of dpn-gatewayd: one transport (UDP and
 * TCP) on the flat's first address, the lib proxy core, the shared
 * registrar for the flat's handsets, and the routing of requests:
 *
 *   from the gatekeeper, the flat number     -> every registered handset
 *                                               (parallel fork, first 2xx
 *                                               wins, others CANCELled)
 *   from the gatekeeper, a handset number    -> that handset
 *   from a registered handset, a suffix or a number of this flat
 *                                            -> that handset (stays inside)
 *   from a registered handset, anything else -> the gatekeeper
 *   in-dialog requests                       -> by Route / Request-URI,
 *                                               only to the gatekeeper or
 *                                               a handset of the block
 *
 * A handset is known by the source address of its REGISTER: it must come
 * from the handset's own second address (mgmtd's view), so an INVITE from
 * that address and port is the handset's. */
#ifndef DPN_GW_SIP_H
#define DPN_GW_SIP_H

#include "sip/msg.h"

struct gw;

/* Opens the transport on g->first_text:sip-port and starts the core and
 * the registrar. 0 or errno (logged). */
int gw_sip_start(struct gw *g);
/* The block moved: the transport moves to the new first address; the
 * bindings stay (handsets keep their offsets). 0 or errno (logged). */
int gw_sip_rebind(struct gw *g);
void gw_sip_stop(struct gw *g);
/* mgmtd gave a new handset list: bindings of handsets that went or whose
 * credentials changed are removed. */
void gw_sip_handsets_changed(struct gw *g);
struct sip_reg_binding;
/* The live binding of handset `number`, or NULL. */
const struct sip_reg_binding *gw_sip_binding(struct gw *g, const char *number);
struct sip_fork;
struct sip_peer;
/* P-Asserted-Identity of f's request becomes <sip:number@first address>
 * (any the sender put there goes). 0 or errno. */
int gw_sip_assert_identity(struct gw *g, struct sip_fork *f, const char *number);
/* The gatekeeper as a peer, and as "ADDR:PORT" (a static buffer). */
const struct sip_peer *gw_sip_gatekeeper(struct gw *g);
const char *gw_sip_gatekeeper_text(struct gw *g);
/* "ADDR:PORT" of an IPv4 peer into buf (len >= 22); returns buf. */
const char *gw_peer_text(const struct sip_peer *p, char *buf, size_t len);
/* Sends a whole message (the uplink's REGISTER, keep-alives). 0 or errno. */
int gw_sip_send(struct gw *g, const char *buf, size_t len);

#endif
