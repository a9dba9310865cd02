// dhcp-hook/shim.cc — the thin C++ layer between Kea 2.2's hooks API and
// the hook's C core (core.h): reads the parameters, turns packets and
// leases into plain C values, and maps the core's verdicts to Kea's
// next-step statuses. No decision is taken here.
#include <cc/command_interpreter.h>
#include <cc/data.h>
#include <dhcp/dhcp4.h>
#include <dhcp/pkt4.h>
#include <dhcpsrv/host.h>
#include <dhcpsrv/host_mgr.h>
#include <dhcpsrv/lease.h>
#include <dhcpsrv/subnet.h>
#include <hooks/hooks.h>
#include <log/logger.h>
#include <log/macros.h>
#include <log/message_initializer.h>

#include <cstring>
#include <string>
#include <sys/time.h>
#include <vector>

extern "C" {
#include "dhcp-hook/core.h"
}
#include "dhcp-hook/hostcache_kea.h"

using namespace isc::data;
using namespace isc::dhcp;
using namespace isc::hooks;

namespace {

const char *dpn_messages[] = {
	"DPN_DHCP_WARN", "%1",
	"DPN_DHCP_INFO", "%1",
	NULL
};
const isc::log::MessageInitializer dpn_init(dpn_messages);
isc::log::Logger dpn_logger("dpn-dhcp");

struct dhcp_core *g_core;

void core_log(int level, const char *line)
{
	if (level == 0)
		LOG_WARN(dpn_logger, isc::log::MessageID("DPN_DHCP_WARN")).arg(line);
	else
		LOG_INFO(dpn_logger, isc::log::MessageID("DPN_DHCP_INFO")).arg(line);
}

int64_t now_us()
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

// Reads an unsigned parameter if present; false when of the wrong type or
// out of range (load then fails and Kea refuses the configuration).
bool param_uint(LibraryHandle& h, const char *name, unsigned& out)
{
	ConstElementPtr e = h.getParameter(name);
	if (!e)
		return true;
	if (e->getType() != Element::integer || e->intValue() < 0 ||
	    e->intValue() > 0x7fffffff)
		return false;
	out = (unsigned)e->intValue();
	return true;
}

bool param_bool(LibraryHandle& h, const char *name, int& out)
{
	ConstElementPtr e = h.getParameter(name);
	if (!e)
		return true;
	if (e->getType() != Element::boolean)
		return false;
	out = e->boolValue() ? 1 : 0;
	return true;
}

bool param_string(LibraryHandle& h, const char *name, char *out, size_t len)
{
	ConstElementPtr e = h.getParameter(name);
	if (!e)
		return true;
	if (e->getType() != Element::string || e->stringValue().size() >= len)
		return false;
	std::strcpy(out, e->stringValue().c_str());
	return true;
}

// Fills cfg from the hook's parameters; on error names the parameter.
bool read_params(LibraryHandle& h, struct dhcp_cfg& c, std::string& bad)
{
	struct { const char *name; unsigned *v; } u[] = {
		{ "db-pool", &c.db_pool }, { "db-timeout-ms", &c.db_timeout_ms },
		{ "db-retry-ms", &c.retry_ms }, { "queue-size", &c.queue_size },
		{ "batch-size", &c.batch }, { "cache-size", &c.cache_size },
		{ "cache-ttl", &c.cache_ttl_s }, { "unknown-ttl", &c.unknown_ttl_s },
		{ "gateway-grace", &c.grace_s },
		{ "decline-probation", &c.probation_s },
		{ "sweep-interval", &c.sweep_s },
		{ "seen-interval", &c.seen_s },
		{ "host-cache-size", &c.hc_size },
		{ "host-cache-ttl", &c.hc_ttl_s },
		{ "enrol-batch", &c.enrol_batch },
	};
	for (auto& p : u)
		if (!param_uint(h, p.name, *p.v)) {
			bad = p.name;
			return false;
		}
	if (!param_bool(h, "drop-unknown-circuit", c.drop_unknown)) {
		bad = "drop-unknown-circuit";
		return false;
	}
	if (!param_bool(h, "enrol", c.enrol)) {
		bad = "enrol";
		return false;
	}
	if (!param_bool(h, "host-cache", c.host_cache)) {
		bad = "host-cache";
		return false;
	}
	if (!param_string(h, "database", c.conninfo, sizeof(c.conninfo))) {
		bad = "database";
		return false;
	}
	return true;
}

// The circuit-id (option 82 sub-option 1) of a packet, empty if none.
std::vector<uint8_t> circuit_of(const Pkt4Ptr& q)
{
	OptionPtr rai = q->getOption(DHO_DHCP_AGENT_OPTIONS);
	if (!rai)
		return std::vector<uint8_t>();
	OptionPtr cid = rai->getOption(RAI_OPTION_AGENT_CIRCUIT_ID);
	if (!cid)
		return std::vector<uint8_t>();
	return cid->getData();
}

std::vector<uint8_t> mac_of(const Pkt4Ptr& q)
{
	HWAddrPtr hw = q->getHWAddr();
	return hw ? hw->hwaddr_ : std::vector<uint8_t>();
}

enum dhcp_msg msg_of(const Pkt4Ptr& q)
{
	switch (q->getType()) {
	case DHCPDISCOVER: return DHCP_MSG_DISCOVER;
	case DHCPREQUEST: return DHCP_MSG_REQUEST;
	default: return DHCP_MSG_OTHER;
	}
}

// Kea stays silent on a RENEWING or REBINDING REQUEST (ciaddr set) for an
// address it has no lease and no reservation for, and only NAKs such a
// request in INIT-REBOOT form. A deleted device must be told at once: ask
// again as INIT-REBOOT (ciaddr moved to option 50) so that Kea NAKs it.
void refuse_renewal(const Pkt4Ptr& q)
{
	isc::asiolink::IOAddress ciaddr = q->getCiaddr();
	if (ciaddr.isV4Zero() || q->getOption(DHO_DHCP_REQUESTED_ADDRESS))
		return;
	q->addOption(OptionPtr(new Option(Option::V4, DHO_DHCP_REQUESTED_ADDRESS,
					  ciaddr.toBytes())));
	q->setCiaddr(isc::asiolink::IOAddress::IPV4_ZERO_ADDRESS());
}

void queue_lease(enum dhcp_event_kind kind, const Lease4Ptr& lease)
{
	struct dhcp_event ev;

	if (!g_core || !lease || !lease->hwaddr_ ||
	    lease->hwaddr_->hwaddr_.size() != DHCP_MAC_LEN)
		return;
	std::memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.subnet_id = lease->subnet_id_;
	ev.addr = lease->addr_.toUint32();
	std::memcpy(ev.mac, lease->hwaddr_->hwaddr_.data(), DHCP_MAC_LEN);
	ev.at_us = now_us();
	dhcp_core_event(g_core, &ev);
}

// Whether Kea has a reservation for the packet's circuit-id and the lease's
// MAC in the lease's subnet (through the host cache, else PostgreSQL). A
// lookup that fails (database down and not cached) finds nothing.
int reserved_on_port(const std::vector<uint8_t>& circuit,
		     const std::vector<uint8_t>& mac, const Lease4Ptr& lease)
{
	uint8_t flexid[DHCP_FLEXID_MAX];
	size_t flen;

	if (dhcp_flexid_build(circuit.data(), circuit.size(), mac.data(),
			      mac.size(), flexid, &flen))
		return 0;
	try {
		return HostMgr::instance().get4(lease->subnet_id_, Host::IDENT_FLEX,
						flexid, flen) ? 1 : 0;
	} catch (const std::exception&) {
		return 0;
	}
}

// lease4_release and lease4_decline: only the port that holds the lease
// may give it back or decline it. Otherwise the packet is skipped: Kea
// then neither deletes the lease (release) nor puts it on probation
// (decline), and no event reaches dpn (no grace period, no probation).
int holder_callout(CalloutHandle& h, enum dhcp_event_kind kind)
{
	Pkt4Ptr q;
	Lease4Ptr lease;

	h.getArgument("query4", q);
	h.getArgument("lease4", lease);
	if (!g_core || !lease)
		return 0;
	// No packet or no MAC to match: nothing shows the sender holds it.
	std::vector<uint8_t> circuit = q ? circuit_of(q) : std::vector<uint8_t>();
	std::vector<uint8_t> mac = lease->hwaddr_ ? lease->hwaddr_->hwaddr_
						   : std::vector<uint8_t>();
	if (!q || !dhcp_core_lease_from_holder(g_core, kind,
			circuit.empty() ? NULL : circuit.data(), circuit.size(),
			mac.data(), mac.size(), lease->addr_.toUint32(),
			reserved_on_port(circuit, mac, lease))) {
		h.setStatus(CalloutHandle::NEXT_STEP_SKIP);
		return 0;
	}
	queue_lease(kind, lease);
	return 0;
}

} // namespace

extern "C" {

int version() { return KEA_HOOKS_VERSION; }

int multi_threading_compatible() { return 1; }

int dpn_stats(CalloutHandle& h);
int dpn_cache_flush(CalloutHandle& h);

int load(LibraryHandle& h)
{
	struct dhcp_cfg cfg;
	std::string bad;
	char err[160];

	dhcp_cfg_defaults(&cfg);
	cfg.log = core_log;
	cfg.hc_ops = &dpn_host_ops;
	if (!read_params(h, cfg, bad)) {
		core_log(0, ("parameter '" + bad + "' has the wrong type or is too big").c_str());
		return 1;
	}
	if (dhcp_cfg_check(&cfg, err, sizeof(err))) {
		core_log(0, err);
		return 1;
	}
	if (dhcp_core_new(&cfg, &g_core)) {
		core_log(0, "cannot start the hook's core");
		return 1;
	}
	if (dhcp_core_hostcache(g_core))
		dpn_hostcache_register(dhcp_core_hostcache(g_core));
	h.registerCommandCallout("dpn-stats", dpn_stats);
	h.registerCommandCallout("dpn-cache-flush", dpn_cache_flush);
	return 0;
}

int unload()
{
	if (g_core && dhcp_core_hostcache(g_core))
		dpn_hostcache_deregister();
	dhcp_core_free(g_core);
	g_core = NULL;
	return 0;
}

// Runs once the subnet (= dpn pool) is known and before Kea looks up host
// reservations: identifies the device, enrols it on first sight, drops what
// must not be served.
int subnet4_select(CalloutHandle& h)
{
	Pkt4Ptr q;
	Subnet4Ptr subnet;
	uint8_t flexid[DHCP_FLEXID_MAX];
	size_t flen;

	h.getArgument("query4", q);
	h.getArgument("subnet4", subnet);
	if (!g_core || !q || !subnet)
		return 0;
	std::vector<uint8_t> circuit = circuit_of(q), mac = mac_of(q);
	switch (dhcp_core_identify(g_core, msg_of(q), subnet->getID(),
				   circuit.empty() ? NULL : circuit.data(),
				   circuit.size(), mac.data(), mac.size(),
				   flexid, &flen)) {
	case DHCP_DROP:
		h.setStatus(CalloutHandle::NEXT_STEP_DROP);
		break;
	case DHCP_REFUSE:
		refuse_renewal(q);
		break;
	case DHCP_SERVE:
		break;
	}
	return 0;
}

// The flex-id Kea looks reservations up by: circuit-id bytes || MAC.
int host4_identifier(CalloutHandle& h)
{
	Pkt4Ptr q;
	uint8_t flexid[DHCP_FLEXID_MAX];
	size_t flen;

	h.getArgument("query4", q);
	if (!q)
		return 0;
	std::vector<uint8_t> circuit = circuit_of(q), mac = mac_of(q);
	if (dhcp_flexid_build(circuit.data(), circuit.size(), mac.data(),
			      mac.size(), flexid, &flen))
		return 0;
	h.setArgument("id_type", Host::IDENT_FLEX);
	h.setArgument("id_value", std::vector<uint8_t>(flexid, flexid + flen));
	return 0;
}

int leases4_committed(CalloutHandle& h)
{
	Pkt4Ptr q;
	Lease4CollectionPtr leases;

	h.getArgument("query4", q);
	h.getArgument("leases4", leases);
	if (!q || !leases || q->getType() != DHCPREQUEST)
		return 0;
	for (const Lease4Ptr& l : *leases)
		queue_lease(DHCP_EV_COMMITTED, l);
	return 0;
}

int lease4_release(CalloutHandle& h) { return holder_callout(h, DHCP_EV_RELEASE); }
int lease4_decline(CalloutHandle& h) { return holder_callout(h, DHCP_EV_DECLINE); }

// lease4_expire (Kea's own reclamation timer): always recorded.
int lease4_expire(CalloutHandle& h)
{
	Lease4Ptr lease;
	h.getArgument("lease4", lease);
	queue_lease(DHCP_EV_EXPIRE, lease);
	return 0;
}

// Control command "dpn-stats": the hook's counters.
int dpn_stats(CalloutHandle& h)
{
	struct dhcp_stats st;
	char json[2048];

	if (!g_core) {
		h.setArgument("response", isc::config::createAnswer(
			isc::config::CONTROL_RESULT_ERROR, "dpn hook not loaded"));
		return 0;
	}
	dhcp_core_stats(g_core, &st);
	dhcp_stats_json(&st, json, sizeof(json));
	h.setArgument("response", isc::config::createAnswer(
		isc::config::CONTROL_RESULT_SUCCESS, "dpn counters",
		Element::fromJSON(json)));
	return 0;
}

} // extern "C"

extern "C" {

// Control command "dpn-cache-flush": forget cached identities (mgmtd's
// lease-deletion drain sends it after deleting leases).
int dpn_cache_flush(CalloutHandle& h)
{
	if (g_core)
		dhcp_core_forget(g_core);
	h.setArgument("response", isc::config::createAnswer(
		isc::config::CONTROL_RESULT_SUCCESS, "dpn identity cache flushed"));
	return 0;
}

} // extern "C"
