/* dhcp-hook/hostcache.c — the host reservation cache: lib/ncache (the
 * NOTIFY-kept table and its listener) with the hook's keys and the payload
 * of the hosts trigger (see hostcache.h). */
#include "dhcp-hook/hostcache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hex.h"
#include "lib/ncache.h"

#define HC_CHANNEL "dpn_hosts"

struct dhcp_hostcache {
	struct ncache *c;
};

size_t dhcp_hc_id_key(uint32_t subnet_id, uint8_t id_type, const uint8_t *id,
		      size_t len, uint8_t out[DHCP_HC_KEY_MAX])
{
	if (len == 0 || len > DHCP_HC_ID_MAX)
		return 0;
	out[0] = 'i';
	out[1] = id_type;
	out[2] = (uint8_t)(subnet_id >> 24);
	out[3] = (uint8_t)(subnet_id >> 16);
	out[4] = (uint8_t)(subnet_id >> 8);
	out[5] = (uint8_t)subnet_id;
	memcpy(out + 6, id, len);
	return 6 + len;
}

size_t dhcp_hc_addr_key(uint32_t subnet_id, uint32_t addr,
			uint8_t out[DHCP_HC_KEY_MAX])
{
	uint8_t a[4] = { (uint8_t)(addr >> 24), (uint8_t)(addr >> 16),
			 (uint8_t)(addr >> 8), (uint8_t)addr };
	size_t n = dhcp_hc_id_key(subnet_id, 0, a, sizeof(a), out);

	out[0] = 'a';
	return n;
}

/* "SUBNET TYPE HEXID ADDR" -> the two keys; 0 or EINVAL. */
static int payload_parse(const char *p, uint8_t idk[DHCP_HC_KEY_MAX],
			 size_t *idlen, uint8_t ak[DHCP_HC_KEY_MAX],
			 size_t *alen)
{
	unsigned long long subnet, type, addr;
	char hex[2 * DHCP_HC_ID_MAX + 2];
	uint8_t id[DHCP_HC_ID_MAX];
	size_t i, n;
	int end = -1;

	if (sscanf(p, "%llu %llu %257s %llu%n", &subnet, &type, hex, &addr,
		   &end) != 4 || end < 0 || p[end] != '\0' ||
	    subnet > UINT32_MAX || type > 255 || addr > UINT32_MAX)
		return EINVAL;
	n = strlen(hex);
	/* encode(..., 'hex') writes lowercase: anything else is not ours. */
	if (n == 0 || n % 2 || n / 2 > DHCP_HC_ID_MAX ||
	    strspn(hex, "0123456789abcdef") != n)
		return EINVAL;
	for (i = 0; i < n / 2; i++)
		id[i] = (uint8_t)(hex_digit(hex[2 * i]) << 4 |
				  hex_digit(hex[2 * i + 1]));
	*idlen = dhcp_hc_id_key((uint32_t)subnet, (uint8_t)type, id, n / 2, idk);
	*alen = addr ? dhcp_hc_addr_key((uint32_t)subnet, (uint32_t)addr, ak) : 0;
	return 0;
}

/* ncache's keys function: the identifier's key and the address's. */
static int payload_keys(const char *p, uint8_t keys[][NCACHE_KEY_MAX],
			size_t *lens, size_t *n)
{
	int rc = payload_parse(p, keys[0], &lens[0], keys[1], &lens[1]);

	if (rc)
		return rc;
	/* An identifier key of length 0 is not cacheable: forget all. */
	if (lens[0] == 0)
		return EINVAL;
	*n = lens[1] ? 2 : 1;
	return 0;
}

int dhcp_hostcache_new(const struct dhcp_hc_cfg *cfg, const struct dhcp_hc_ops *ops,
		       struct dhcp_hostcache **out)
{
	const struct ncache_cfg nc = { .nslots = cfg->nslots,
		.ttl_s = cfg->ttl_s, .conninfo = cfg->conninfo,
		.channel = HC_CHANNEL, .app = "dpn-dhcp-hostcache",
		.timeout_ms = cfg->timeout_ms, .retry_ms = cfg->retry_ms,
		.log = cfg->log };
	const struct ncache_ops no = { .copy = ops->copy,
		.release = ops->release, .keys = payload_keys };
	struct dhcp_hostcache *hc = calloc(1, sizeof(*hc));
	int rc;

	if (!hc)
		return ENOMEM;
	if ((rc = ncache_new(&nc, &no, &hc->c))) {
		free(hc);
		return rc;
	}
	*out = hc;
	return 0;
}

void dhcp_hostcache_free(struct dhcp_hostcache *hc)
{
	if (!hc)
		return;
	ncache_free(hc->c);
	free(hc);
}

int dhcp_hostcache_get(struct dhcp_hostcache *hc, const uint8_t *key,
		       size_t len, uint64_t now_s, void *out)
{
	return ncache_get(hc->c, key, len, now_s, out);
}

void dhcp_hostcache_put(struct dhcp_hostcache *hc, const uint8_t *key,
			size_t len, void *val, uint64_t now_s)
{
	ncache_put(hc->c, key, len, val, now_s);
}

void dhcp_hostcache_del(struct dhcp_hostcache *hc, const uint8_t *key,
			size_t len)
{
	ncache_del(hc->c, key, len);
}

void dhcp_hostcache_flush(struct dhcp_hostcache *hc)
{
	ncache_flush(hc->c);
}

int dhcp_hostcache_notify(struct dhcp_hostcache *hc, const char *payload)
{
	return ncache_notify(hc->c, payload);
}

void dhcp_hostcache_stats(struct dhcp_hostcache *hc, struct dhcp_hc_stats *out)
{
	struct ncache_stats s;

	ncache_get_stats(hc->c, &s);
	*out = (struct dhcp_hc_stats){ .hits = s.hits, .misses = s.misses,
		.inserts = s.inserts, .skipped = s.skipped,
		.evicted = s.evicted, .invalidated = s.invalidated,
		.notifications = s.notifications,
		.bad_notifications = s.bad_notifications,
		.flushes = s.flushes, .entries = s.entries,
		.listening = s.listening };
}
