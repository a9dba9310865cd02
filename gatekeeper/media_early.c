/* gatekeeper/media_early.c — the early dialogs of an anchored late-offer
 * call whose offer came in a 1xx (media.c, RFC 3262), one per To tag: a
 * short list per call (at most GK_EARLY_MAX: forked handsets), each with
 * the state of its offer and rtpengine's SDP for it, which every later
 * 1xx or 2xx of that tag carries (a retransmitted reliable 183, the 2xx
 * that repeats the offer: RFC 6337 3.1 wants the same SDP). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gatekeeper/media_early.h"

struct gk_early *gk_early_find(struct gk_early *list, struct sip_str tag)
{
	while (list && (list->tlen != tag.len ||
			memcmp(list->tag, tag.s, tag.len) != 0))
		list = list->next;
	return list;
}

int gk_early_add(struct gk_early **list, struct sip_str tag,
		 struct gk_early **out)
{
	struct gk_early *e;
	unsigned n = 0;

	for (e = *list; e; e = e->next)
		n++;
	if (n >= GK_EARLY_MAX)
		return ENOSPC;
	if (!(e = calloc(1, sizeof(*e))) || !(e->tag = malloc(tag.len + 1))) {
		free(e);
		return ENOMEM;
	}
	memcpy(e->tag, tag.s, tag.len);
	e->tag[tag.len] = '\0';
	e->tlen = tag.len;
	e->state = GK_EARLY_OFFERING;
	e->next = *list;
	*list = e;
	*out = e;
	return 0;
}

int gk_early_offered(struct gk_early *e, struct sip_str sdp)
{
	char *p = malloc(sdp.len ? sdp.len : 1);

	if (!p)
		return ENOMEM;
	memcpy(p, sdp.s, sdp.len);
	free(e->sdp);
	e->sdp = p;
	e->len = sdp.len;
	e->state = GK_EARLY_OFFERED;
	return 0;
}

static void early_free1(struct gk_early *e)
{
	free(e->tag);
	free(e->sdp);
	free(e);
}

void gk_early_remove(struct gk_early **list, struct gk_early *e)
{
	struct gk_early **p = list;

	while (*p && *p != e)
		p = &(*p)->next;
	if (*p) {
		*p = e->next;
		early_free1(e);
	}
}

void gk_early_free(struct gk_early *list)
{
	while (list) {
		struct gk_early *next = list->next;

		early_free1(list);
		list = next;
	}
}
