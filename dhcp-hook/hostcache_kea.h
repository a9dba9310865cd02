// dhcp-hook/hostcache_kea.h — hands the host cache to Kea (hostcache_kea.cc).
#ifndef DPN_DHCP_HOSTCACHE_KEA_H
#define DPN_DHCP_HOSTCACHE_KEA_H

struct dhcp_hc_ops;
struct dhcp_hostcache;

// What the table does with the Kea hosts it holds.
extern const struct dhcp_hc_ops dpn_host_ops;

// Registers hc as Kea's host data source "cache" (load()); and undoes it
// (unload(), before hc is freed).
void dpn_hostcache_register(struct dhcp_hostcache *hc);
void dpn_hostcache_deregister();

#endif
