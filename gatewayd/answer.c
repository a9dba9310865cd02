/* gatewayd/answer.c — the answering handset's number in the 2xx that goes
 * upstream (see guard.h): the gatekeeper's call records and the caller see
 * which handset of the flat took the call. */
#include <stdio.h>
#include <netinet/in.h>

#include "gatewayd/guard.h"
#include "gatewayd/gw.h"
#include "sip/core.h"
#include "sip/hdr.h"

/* The handset whose address a branch was sent to, or NULL: a binding is
 * reached at its REGISTER's source address (the handset's own, checked
 * when it registered) or at a Contact on that same address. */
static const struct gw_handset *handset_of(struct gw *g,
					   const struct sip_peer *to)
{
	uint32_t a;

	if (!to || to->sa.ss_family != AF_INET)
		return NULL;
	a = ntohl(((const struct sockaddr_in *)(const void *)&to->sa)->
	    sin_addr.s_addr);
	for (unsigned i = 0; i < g->nhs; i++)
		if (g->hs[i].addr && g->hs[i].addr == a)
			return &g->hs[i];
	return NULL;
}

void gw_answer_identity(void *arg, struct sip_fork *f, unsigned branch,
			struct sip_msg *resp)
{
	struct gw *g = arg;
	const struct gw_handset *h;
	struct sip_cseq cs;
	char v[NUMPLAN_MAX_LEN + 80];
	int i;

	if (sip_msg_cseq(resp, &cs) || cs.method != SIP_INVITE ||
	    !(h = handset_of(g, sip_fork_branch_peer(f, branch))))
		return;
	while ((i = sip_msg_hdr_find(resp, SIP_HDR_P_ASSERTED_IDENTITY, 0)) >= 0)
		if (sip_msg_hdr_del(resp, (unsigned)i))
			return;
	snprintf(v, sizeof(v), "<sip:%s@%s>", h->number, g->first_text);
	sip_msg_hdr_add(resp, SIP_HDR_P_ASSERTED_IDENTITY, v);
}
