/* dhcp-hook/seen.h — what the hook last queued for writing about each
 * device (pool, MAC): its address, whether it was online and when. Lets the
 * core coalesce renewals of an unchanged device: a committed event for a
 * device whose last written state (same address, online) is younger than
 * the seen interval is not written again. Fixed memory: a direct-mapped
 * table where a new device replaces whatever shared its slot (the evicted
 * device's next event is then simply written). Thread-safe. */
#ifndef DPN_DHCP_SEEN_H
#define DPN_DHCP_SEEN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "dhcp-hook/queue.h"

struct dhcp_seen {
	pthread_mutex_t lock;
	size_t nslots;
	struct dhcp_seen_slot *slots;
};

/* Allocates a table of nslots (rounded up to a power of two, at least 16).
 * Returns 0, EINVAL for 0 or more than 1<<24 slots, or ENOMEM. *out owned
 * by the caller: free with dhcp_seen_free. */
int dhcp_seen_new(size_t nslots, struct dhcp_seen **out);
void dhcp_seen_free(struct dhcp_seen *s);

/* Decides whether ev must be written at now_ms (monotonic milliseconds)
 * with a seen interval of interval_s seconds. Returns 1 (write it: the
 * table now records ev's state as written at now_ms) or 0 (a renewal of
 * an unchanged device within the interval: coalesce it, table unchanged).
 * Release, decline and expire always return 1 and record the device as
 * offline; interval_s 0 always returns 1. */
int dhcp_seen_admit(struct dhcp_seen *s, const struct dhcp_event *ev,
		    int64_t now_ms, unsigned interval_s);

/* Forgets ev's device (its event could not be queued after all), so that
 * the next event about it is written. */
void dhcp_seen_forget(struct dhcp_seen *s, const struct dhcp_event *ev);

/* Forgets every device. */
void dhcp_seen_clear(struct dhcp_seen *s);

#endif
