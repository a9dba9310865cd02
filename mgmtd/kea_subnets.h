/* mgmtd/kea_subnets.h — the subnet ids a kea-dhcp4 serves, read from its
 * "config-get" answer: mgmtd's lease-deletion drain (kea_ctrl.c) takes
 * only the deletions of the pools its own Kea serves (dpn pool id = Kea
 * subnet id), so that several Keas (one per complex whose private ranges
 * overlap) can share one database. */
#ifndef DPN_MGMTD_KEA_SUBNETS_H
#define DPN_MGMTD_KEA_SUBNETS_H

#include <stddef.h>
#include <stdint.h>

/* At most this many subnets are accepted from one Kea. */
#define KEA_SUBNETS_MAX 4096

struct kea_subnets {
	uint32_t *ids;		/* sorted, no duplicates; NULL when n == 0 */
	size_t n;
};

/* Reads the subnet ids from a config-get answer of len bytes
 * ({"result": 0, "arguments": {"Dhcp4": {"subnet4": [{"id": N, ...}],
 * "shared-networks": [{"subnet4": [...]}]}}}); a configuration without
 * subnets gives n == 0. Returns 0, EINVAL when the answer is not that
 * (not JSON, trailing bytes, result not 0, a subnet without an id in
 * 1..4294967295, a list that is not a list), E2BIG for more than
 * KEA_SUBNETS_MAX subnets, or ENOMEM; on error err (errlen bytes) says
 * why and *out is untouched. On success *out is owned by the caller:
 * kea_subnets_free. */
int kea_subnets_parse(const char *answer, size_t len, struct kea_subnets *out,
    char *err, size_t errlen);

/* The ids as a PostgreSQL array literal ("{1,7}", "{}" when none), for a
 * $n::bigint[] parameter. Returns 0 or ENOMEM; *out is malloc'd, the
 * caller frees it. */
int kea_subnets_sql(const struct kea_subnets *s, char **out);

/* Whether both hold the same ids. */
int kea_subnets_equal(const struct kea_subnets *a, const struct kea_subnets *b);

/* Frees the ids and empties s. */
void kea_subnets_free(struct kea_subnets *s);

#endif
