-- schema/012_hosts_notify.sql — tell Kea's dpn hook which reservations
-- changed, so that its host cache (dhcp-hook/hostcache.h) never serves a
-- stale one. Every row of public.hosts that appears, changes or goes sends
-- "SUBNET TYPE HEXID ADDR" on channel dpn_hosts (delivered at commit, to
-- whoever LISTENs: nothing is queued for long when nobody does); a TRUNCATE
-- of hosts, or any change to a host's options (which Kea reads with the
-- host), sends "flush". Whoever writes — the broker, an operator with psql,
-- Kea's own commands — the hook hears it.

CREATE FUNCTION dpn.hosts_notify_row(h public.hosts) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_notify('dpn_hosts', h.dhcp4_subnet_id || ' ' ||
                     h.dhcp_identifier_type || ' ' ||
                     encode(h.dhcp_identifier, 'hex') || ' ' ||
                     coalesce(h.ipv4_address, 0))
     WHERE h.dhcp4_subnet_id IS NOT NULL     -- not a DHCPv4 reservation
$$;

CREATE FUNCTION dpn.hosts_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM dpn.hosts_notify_row(OLD);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM dpn.hosts_notify_row(NEW);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION dpn.hosts_notify_flush() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dpn_hosts', 'flush');
    RETURN NULL;
END $$;

CREATE TRIGGER hosts_notify AFTER INSERT OR UPDATE OR DELETE ON public.hosts
    FOR EACH ROW EXECUTE FUNCTION dpn.hosts_notify();
CREATE TRIGGER hosts_notify_truncate AFTER TRUNCATE ON public.hosts
    FOR EACH STATEMENT EXECUTE FUNCTION dpn.hosts_notify_flush();
CREATE TRIGGER hosts_options_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON public.dhcp4_options
    FOR EACH STATEMENT EXECUTE FUNCTION dpn.hosts_notify_flush();
