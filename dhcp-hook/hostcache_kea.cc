// dhcp-hook/hostcache_kea.cc — the host cache (hostcache.h) as Kea sees it:
// a CacheHostDataSource registered as host data source type "cache". Kea's
// HostMgr then asks it first for a client's reservation by identifier and
// by address, and gives it what the PostgreSQL backend answered. Kea puts
// a registered "cache" first among its host backends whenever it creates
// them (CfgDbAccess::createManagers), as with ISC's own host_cache hook.
//
// Only single lookups are answered here; every collection query
// (getAll*, getPage*) answers nothing, so that Kea merges only what the
// database returns. Writes pass through to the database backend untouched.
#include <dhcpsrv/cache_host_data_source.h>
#include <dhcpsrv/host_data_source_factory.h>
#include <dhcpsrv/host_mgr.h>

#include <time.h>

extern "C" {
#include "dhcp-hook/hostcache.h"
}
#include "dhcp-hook/hostcache_kea.h"

using namespace isc::dhcp;

namespace {

void host_copy(const void *val, void *out)
{
	*static_cast<ConstHostPtr *>(out) = *static_cast<const ConstHostPtr *>(val);
}

void host_release(void *val)
{
	delete static_cast<ConstHostPtr *>(val);
}

uint64_t mono_s()
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

class DpnHostCache : public CacheHostDataSource {
public:
	explicit DpnHostCache(struct dhcp_hostcache *hc) : hc_(hc) {}

	ConstHostPtr get4(const SubnetID& subnet_id,
			  const Host::IdentifierType& type,
			  const uint8_t *id, const size_t len) const override
	{
		uint8_t key[DHCP_HC_KEY_MAX];
		size_t n = dhcp_hc_id_key(subnet_id, (uint8_t)type, id, len, key);
		return lookup(key, n);
	}

	ConstHostPtr get4(const SubnetID& subnet_id,
			  const isc::asiolink::IOAddress& addr) const override
	{
		uint8_t key[DHCP_HC_KEY_MAX];
		if (!addr.isV4())
			return ConstHostPtr();
		size_t n = dhcp_hc_addr_key(subnet_id, addr.toUint32(), key);
		return lookup(key, n);
	}

	// Stores a host the database answered, under its identifier and
	// its address. Negative answers are not kept (HostMgr only makes
	// them when negative caching is on, which dpn leaves off).
	size_t insert(const ConstHostPtr& host, bool) override
	{
		uint8_t key[DHCP_HC_KEY_MAX];
		uint64_t now = mono_s();
		size_t n;

		if (!host || host->getNegative() ||
		    host->getIPv4SubnetID() == SUBNET_ID_UNUSED)
			return 0;
		const std::vector<uint8_t>& id = host->getIdentifier();
		n = dhcp_hc_id_key(host->getIPv4SubnetID(),
				   (uint8_t)host->getIdentifierType(), id.data(),
				   id.size(), key);
		if (n)
			dhcp_hostcache_put(hc_, key, n, new ConstHostPtr(host), now);
		const isc::asiolink::IOAddress& a = host->getIPv4Reservation();
		if (!a.isV4Zero()) {
			n = dhcp_hc_addr_key(host->getIPv4SubnetID(), a.toUint32(), key);
			dhcp_hostcache_put(hc_, key, n, new ConstHostPtr(host), now);
		}
		return 0;
	}

	bool remove(const HostPtr& host) override
	{
		forget(host);
		return true;
	}

	void flush(size_t) override { dhcp_hostcache_flush(hc_); }

	size_t size() const override
	{
		struct dhcp_hc_stats st;
		dhcp_hostcache_stats(hc_, &st);
		return st.entries;
	}

	size_t capacity() const override { return 0; }

	std::string getType() const override { return "cache"; }

	// Writes: the database backend after this one does them; here the
	// host is only forgotten (false: "not deleted here", so HostMgr goes
	// on to the database).
	void add(const HostPtr& host) override { forget(host); }

	bool del(const SubnetID& subnet_id,
		 const isc::asiolink::IOAddress& addr) override
	{
		uint8_t key[DHCP_HC_KEY_MAX];
		if (addr.isV4())
			dhcp_hostcache_del(hc_, key, dhcp_hc_addr_key(subnet_id,
					   addr.toUint32(), key));
		return false;
	}

	bool del4(const SubnetID& subnet_id, const Host::IdentifierType& type,
		  const uint8_t *id, const size_t len) override
	{
		uint8_t key[DHCP_HC_KEY_MAX];
		size_t n = dhcp_hc_id_key(subnet_id, (uint8_t)type, id, len, key);
		if (n)
			dhcp_hostcache_del(hc_, key, n);
		else
			dhcp_hostcache_flush(hc_);
		return false;
	}

	bool del6(const SubnetID&, const Host::IdentifierType&, const uint8_t *,
		  const size_t) override { return false; }

	bool setIPReservationsUnique(const bool) override { return true; }

	// Collections and DHCPv6: the database answers.
	ConstHostCollection getAll(const Host::IdentifierType&, const uint8_t *,
				   const size_t) const override { return none(); }
	ConstHostCollection getAll4(const SubnetID&) const override { return none(); }
	ConstHostCollection getAll6(const SubnetID&) const override { return none(); }
	ConstHostCollection getAllbyHostname(const std::string&) const override
	{ return none(); }
	ConstHostCollection getAllbyHostname4(const std::string&,
					      const SubnetID&) const override
	{ return none(); }
	ConstHostCollection getAllbyHostname6(const std::string&,
					      const SubnetID&) const override
	{ return none(); }
	ConstHostCollection getPage4(const SubnetID&, size_t&, uint64_t,
				     const HostPageSize&) const override
	{ return none(); }
	ConstHostCollection getPage6(const SubnetID&, size_t&, uint64_t,
				     const HostPageSize&) const override
	{ return none(); }
	ConstHostCollection getPage4(size_t&, uint64_t,
				     const HostPageSize&) const override
	{ return none(); }
	ConstHostCollection getPage6(size_t&, uint64_t,
				     const HostPageSize&) const override
	{ return none(); }
	ConstHostCollection getAll4(const isc::asiolink::IOAddress&) const override
	{ return none(); }
	ConstHostCollection getAll4(const SubnetID&,
				    const isc::asiolink::IOAddress&) const override
	{ return none(); }
	ConstHostCollection getAll6(const SubnetID&,
				    const isc::asiolink::IOAddress&) const override
	{ return none(); }
	ConstHostPtr get6(const SubnetID&, const Host::IdentifierType&,
			  const uint8_t *, const size_t) const override
	{ return ConstHostPtr(); }
	ConstHostPtr get6(const isc::asiolink::IOAddress&,
			  const uint8_t) const override { return ConstHostPtr(); }
	ConstHostPtr get6(const SubnetID&,
			  const isc::asiolink::IOAddress&) const override
	{ return ConstHostPtr(); }

private:
	static ConstHostCollection none() { return ConstHostCollection(); }

	ConstHostPtr lookup(const uint8_t *key, size_t n) const
	{
		ConstHostPtr host;
		if (n)
			dhcp_hostcache_get(hc_, key, n, mono_s(), &host);
		return host;
	}

	void forget(const ConstHostPtr& host)
	{
		if (!host)
			return;
		const std::vector<uint8_t>& id = host->getIdentifier();
		del4(host->getIPv4SubnetID(), host->getIdentifierType(), id.data(),
		     id.size());
		del(host->getIPv4SubnetID(), host->getIPv4Reservation());
	}

	struct dhcp_hostcache *hc_;
};

boost::shared_ptr<DpnHostCache> g_cache;

HostDataSourcePtr factory(const isc::db::DatabaseConnection::ParameterMap&)
{
	return g_cache;
}

} // namespace

const struct dhcp_hc_ops dpn_host_ops = { host_copy, host_release };

void dpn_hostcache_register(struct dhcp_hostcache *hc)
{
	g_cache.reset(new DpnHostCache(hc));
	HostDataSourceFactory::registerFactory("cache", factory);
}

void dpn_hostcache_deregister()
{
	// Kea must not keep a pointer into this library once it is unloaded.
	HostMgr::delBackend("cache");
	HostDataSourceFactory::deregisterFactory("cache");
	g_cache.reset();
}
