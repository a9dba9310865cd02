/* gatewayd/flood.c — per-source request limits (see guard.h): a token
 * bucket per IPv4 source in a small direct-mapped table, so the cost is
 * constant and the memory fixed (a box with 256 MB and ~30 handsets). A
 * source that collides with another takes its slot and starts with a full
 * bucket: at worst a flooder spoofing many addresses gets a burst per
 * address, and each still costs it the same parse. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <netinet/in.h>

#include "gatewayd/guard.h"
#include "gatewayd/gw.h"
#include "log.h"
#include "prom.h"

#define SLOTS 256

struct bucket {
	uint32_t addr;		/* host order; 0: free */
	uint32_t milli;		/* tokens x 1000 */
	uint64_t last_ms;
	int dropping;		/* logged this episode */
};

static struct bucket T[SLOTS];
static struct prom_series *m_dropped;
static struct log_rl flood_rl = LOG_RL_INIT(5, 60);

int gw_flood_init(struct gw *g)
{
	struct prom_family *f;

	memset(T, 0, sizeof(T));
	return prom_family_add(g->d->metrics, PROM_COUNTER,
	    "dpn_gw_flood_dropped_total",
	    "Requests dropped because their source sent more than flood-rate "
	    "a second (beyond flood-burst).", NULL, NULL, 0, &f) ||
	    prom_series(f, NULL, &m_dropped) ? ENOMEM : 0;
}

static uint32_t ip_of(const struct sockaddr_storage *sa)
{
	const struct sockaddr_in *sin = (const void *)sa;

	return sa->ss_family == AF_INET ? ntohl(sin->sin_addr.s_addr) : 0;
}

/* Refill b for the time since its last request; take one token. 1 when
 * there was none. */
static int take(struct bucket *b, uint64_t now, unsigned rate, unsigned burst)
{
	uint64_t cap = (uint64_t)burst * 1000, add;

	add = (now - b->last_ms) * rate;
	b->milli = (uint32_t)(b->milli + add > cap ? cap : b->milli + add);
	b->last_ms = now;
	if (b->milli == cap)
		b->dropping = 0;	/* quiet long enough: a new episode */
	if (b->milli < 1000)
		return 1;
	b->milli -= 1000;
	return 0;
}

/* Whether a request from `from` now is over its source's limit. */
static int over(struct gw *g, const struct sip_peer *from)
{
	uint32_t a = ip_of(&from->sa), gk = ip_of(&g->cfg->gatekeeper.sa);
	uint64_t now = ev_now(g->loop);
	struct bucket *b;

	if (!a || a == gk || !g->cfg->flood_rate)
		return 0;
	b = &T[(a * 2654435761u) >> 24];
	if (b->addr != a)
		*b = (struct bucket){ a, g->cfg->flood_burst * 1000u, now, 0 };
	if (!take(b, now, g->cfg->flood_rate, g->cfg->flood_burst))
		return 0;
	prom_inc(m_dropped, 1);
	if (!b->dropping) {
		b->dropping = 1;
		log_warnx_rl(&flood_rl, "flood from %u.%u.%u.%u: over %u requests/s,"
		    " dropping", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255,
		    g->cfg->flood_rate);
	}
	return 1;
}

int gw_flood_admit(void *arg, const struct sip_peer *from, const char *buf,
		   size_t len)
{
	if (!buf || (len >= 8 && memcmp(buf, "SIP/2.0 ", 8) == 0))
		return 0;	/* a new TCP connection, a response */
	return over(arg, from);
}
