/* mgmtd/kea_ctrl.h — removes from Kea the leases of deleted assignments:
 * drains dpn.lease_deletions (filled by the schema's trigger when an
 * assignment goes or moves) and sends each one as "lease4-del" to
 * kea-dhcp4's control socket (Debian's lease_cmds hook), so the device's
 * next REQUEST is NAKed. Only the rows of the subnets its own Kea serves.
 * Runs in its own thread with its own connection. */
#ifndef DPN_MGMTD_KEA_CTRL_H
#define DPN_MGMTD_KEA_CTRL_H

struct kea_ctrl;

/* Starts the drain thread: conninfo for PostgreSQL, sock_path of Kea's
 * unix control socket (the "control-socket" of kea-dhcp4), poll_ms between
 * rounds (50..60000). It takes only the deletions of the subnets that Kea
 * serves (learnt from Kea's config-get), so that sites whose ranges
 * overlap, one Kea and one mgmtd each, can share one database. Returns 0, EINVAL, ENOMEM or
 * the pthread error. *out owned by the caller: kea_ctrl_stop frees it. */
int kea_ctrl_start(const char *conninfo, const char *sock_path,
    unsigned poll_ms, struct kea_ctrl **out);

/* Stops the thread (bounded by the socket and statement timeouts) and
 * frees everything. NULL is a no-op. */
void kea_ctrl_stop(struct kea_ctrl *k);

/* Deletions sent to Kea and acknowledged (deleted, or no such lease). */
unsigned long kea_ctrl_done(struct kea_ctrl *k);

/* Failed attempts (Kea or PostgreSQL unreachable, Kea refused). */
unsigned long kea_ctrl_errors(struct kea_ctrl *k);

/* How many subnets of its Kea the drain takes deletions for, as last
 * read (0 until Kea's configuration could be read). */
unsigned long kea_ctrl_subnets(struct kea_ctrl *k);

#endif
