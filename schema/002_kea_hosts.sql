-- schema/002_kea_hosts.sql — keep Kea's reservations (public.hosts) equal
-- to dpn.assignments, and queue the leases Kea must drop, in the same
-- transaction as the assignment change. Only a trigger can write another
-- schema's table on every change, whoever makes it (the broker functions,
-- a cascade from a deleted flat or block, a MAC changed on a device).

-- Kea flex-id of a device: the circuit-id bytes followed by the 6 MAC bytes
-- (what the dhcp-hook's host4_identifier callout builds from a packet).
CREATE FUNCTION dpn.kea_flex_id(circuit_id text, mac macaddr) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT convert_to(circuit_id, 'UTF8') || decode(replace(mac::text, ':', ''), 'hex') $$;

CREATE FUNCTION dpn.kea_host_put(a dpn.assignments) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO public.hosts (dhcp_identifier, dhcp_identifier_type,
                              dhcp4_subnet_id, ipv4_address)
    VALUES (dpn.kea_flex_id(a.circuit_id, a.mac), 4, a.pool_id, a.addr)
    ON CONFLICT (dhcp_identifier, dhcp_identifier_type, dhcp4_subnet_id)
        WHERE dhcp4_subnet_id IS NOT NULL
    DO UPDATE SET ipv4_address = EXCLUDED.ipv4_address   -- the database wins
$$;

CREATE FUNCTION dpn.kea_host_drop(a dpn.assignments) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM public.hosts
     WHERE dhcp_identifier = dpn.kea_flex_id(a.circuit_id, a.mac)
       AND dhcp_identifier_type = 4
       AND dhcp4_subnet_id = a.pool_id
$$;

CREATE FUNCTION dpn.lease_deletion_queue(a dpn.assignments) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO dpn.lease_deletions (site_id, pool_id, addr, mac)
    VALUES (a.site_id, a.pool_id, a.addr, a.mac)
$$;

CREATE FUNCTION dpn.assignments_kea() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM dpn.kea_host_drop(OLD);
        IF TG_OP = 'DELETE' OR OLD.addr <> NEW.addr OR OLD.mac <> NEW.mac
           OR OLD.pool_id <> NEW.pool_id THEN
            PERFORM dpn.lease_deletion_queue(OLD);
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM dpn.kea_host_put(NEW);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER assignments_kea_row AFTER INSERT OR DELETE ON dpn.assignments
    FOR EACH ROW EXECUTE FUNCTION dpn.assignments_kea();
-- Only what Kea sees: a change of block_range alone (a block grown in place)
-- leaves the reservation as it is.
CREATE TRIGGER assignments_kea_update
    AFTER UPDATE OF addr, mac, circuit_id, pool_id ON dpn.assignments
    FOR EACH ROW
    WHEN ((OLD.addr, OLD.mac, OLD.circuit_id, OLD.pool_id)
          IS DISTINCT FROM (NEW.addr, NEW.mac, NEW.circuit_id, NEW.pool_id))
    EXECUTE FUNCTION dpn.assignments_kea();
