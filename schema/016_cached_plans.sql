-- schema/016_cached_plans.sql — the broker's small helpers keep their query
-- plans (issue 14, performance; figures in docs/bench.md). Profiled with
-- track_functions = all over 1,000 first-sight enrolments (a new building):
-- * dpn.dhcp_identify looked the reservation up with
--   dhcp_identifier = dpn.kea_flex_id($1, $2): its cached generic plan
--   scanned every flex-id host through Kea's dhcp_identifier_type index and
--   called kea_flex_id once per row (500,495 calls for 1,000 lookups, a
--   quarter of the function's time, growing with the site). The flex-id is
--   now computed once and compared as a value.
-- * dhcp_identify answers 'moved' instead of 'enrolled' when the enrolment
--   moved the flat's block (its other devices' reservations changed): the
--   hook then empties its host cache at once; after any other enrolment
--   nothing cached is stale, and the notifications suffice.
-- * a LANGUAGE sql function that cannot be inlined (DML, or called from
--   PL/pgSQL with a row argument) is parsed and planned again on every
--   call; PL/pgSQL caches its plans for the session. kea_host_write
--   (0.4 ms a call), pool_lane_range (0.25 ms),
--   broker_audit, block_json, broker_handset_json, hosts_notify_row,
--   lease_deletion_queue and the lane helpers are restated in PL/pgSQL,
--   same arguments, same results.

CREATE OR REPLACE FUNCTION dpn.dhcp_identify(p_pool bigint, p_circuit text,
                                             p_mac macaddr, p_enrol boolean)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_id   bytea := dpn.kea_flex_id(p_circuit, p_mac);
    v_site bigint;
    v_flat bigint;
    v_lo   bigint;
BEGIN
    PERFORM 1 FROM public.hosts
      WHERE dhcp_identifier = v_id AND dhcp_identifier_type = 4
        AND dhcp4_subnet_id = p_pool;
    IF FOUND THEN
        RETURN 'known';
    END IF;
    SELECT site_id INTO v_site FROM dpn.pools WHERE id = p_pool;
    SELECT id INTO v_flat FROM dpn.flats WHERE site_id = v_site AND circuit_id = p_circuit;
    IF v_site IS NULL OR v_flat IS NULL THEN
        RETURN 'unknown-circuit';
    END IF;
    IF NOT p_enrol THEN
        RETURN 'absent';
    END IF;
    SELECT lower(range) INTO v_lo FROM dpn.blocks WHERE flat_id = v_flat;
    BEGIN
        PERFORM dpn.broker_enrol(v_site, p_circuit, p_mac);
    EXCEPTION WHEN SQLSTATE 'D1001' OR SQLSTATE 'D1002' OR SQLSTATE 'D1003'
                OR SQLSTATE 'D1004' OR unique_violation THEN
        RAISE LOG 'dpn.dhcp_identify: enrolment of % on % refused: % %',
            p_mac, p_circuit, SQLSTATE, SQLERRM;
        RETURN 'full';
    END;
    IF v_lo IS NOT NULL AND v_lo IS DISTINCT FROM
           (SELECT lower(range) FROM dpn.blocks WHERE flat_id = v_flat) THEN
        RETURN 'moved';
    END IF;
    RETURN 'enrolled';
END $$;

CREATE OR REPLACE FUNCTION dpn.kea_host_write(a dpn.assignments) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_host integer;
BEGIN
    INSERT INTO public.hosts (dhcp_identifier, dhcp_identifier_type,
                              dhcp4_subnet_id, ipv4_address)
    VALUES (dpn.kea_flex_id(a.circuit_id, a.mac), 4, a.pool_id, a.addr)
    ON CONFLICT (dhcp_identifier, dhcp_identifier_type, dhcp4_subnet_id)
        WHERE dhcp4_subnet_id IS NOT NULL
    DO UPDATE SET ipv4_address = EXCLUDED.ipv4_address
    RETURNING host_id INTO v_host;
    RETURN v_host;
END $$;

CREATE OR REPLACE FUNCTION dpn.lease_deletion_queue(a dpn.assignments) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dpn.lease_deletions (site_id, pool_id, addr, mac)
    VALUES (a.site_id, a.pool_id, a.addr, a.mac);
END $$;

CREATE OR REPLACE FUNCTION dpn.pool_lanes(p dpn.pools) RETURNS integer
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN greatest(1, least(16, ((upper(p.range) - lower(p.range)) / 1024)::integer));
END $$;

CREATE OR REPLACE FUNCTION dpn.pool_lane_range(p dpn.pools, i integer) RETURNS int8range
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    k integer := dpn.pool_lanes(p);
    w bigint := (upper(p.range) - lower(p.range)) / k;
BEGIN
    RETURN int8range(lower(p.range) + i * w,
                     CASE WHEN i = k - 1 THEN upper(p.range)
                          ELSE lower(p.range) + (i + 1) * w END);
END $$;

CREATE OR REPLACE FUNCTION dpn.pool_lane_key(pool_id bigint, i integer) RETURNS integer
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN ((pool_id * 16 + i) % 2147483647)::integer;
END $$;

CREATE OR REPLACE FUNCTION dpn.broker_actor() RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    RETURN coalesce(nullif(current_setting('dpn.actor', true), ''),
                    'db:' || session_user);
END $$;

CREATE OR REPLACE FUNCTION dpn.broker_audit(action text, object text, detail jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dpn.audit_log (actor, action, object, detail)
    VALUES (dpn.broker_actor(), action, object, detail);
END $$;

CREATE OR REPLACE FUNCTION dpn.block_json(r int8range) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN CASE WHEN r IS NULL THEN NULL ELSE jsonb_build_object(
        'first', dpn.ip4(lower(r)), 'last', dpn.ip4(upper(r) - 1),
        'size', upper(r) - lower(r)) END;
END $$;

CREATE OR REPLACE FUNCTION dpn.broker_handset_json(x dpn.assignments) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('mac', x.mac::text, 'suffix', h.suffix,
                                      'address', dpn.ip4(x.addr))
              FROM dpn.handsets h WHERE h.id = x.handset_id);
END $$;

CREATE OR REPLACE FUNCTION dpn.hosts_notify_row(h public.hosts) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF h.dhcp4_subnet_id IS NOT NULL THEN    -- else not a DHCPv4 reservation
        PERFORM pg_notify('dpn_hosts', h.dhcp4_subnet_id || ' ' ||
                          h.dhcp_identifier_type || ' ' ||
                          encode(h.dhcp_identifier, 'hex') || ' ' ||
                          coalesce(h.ipv4_address, 0));
    END IF;
END $$;


-- Lowest free second address of block b that is not on probation, or NULL
-- (011's answer): the block's used and held-back addresses are read once,
-- by index, and the block walked in memory. 011's one query (a series with
-- two NOT EXISTS) cost 0.06-0.15 ms a call re-planned each time, and
-- 0.36 ms under a cached generic plan.
CREATE OR REPLACE FUNCTION dpn.broker_free_addr(b dpn.blocks) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    used bigint[];
    held bigint[];
BEGIN
    SELECT coalesce(array_agg(x.addr), '{}') INTO used
      FROM dpn.assignments x WHERE x.block_id = b.id;
    SELECT coalesce(array_agg(p.addr), '{}') INTO held
      FROM dpn.dhcp_probation p
     WHERE p.site_id = b.site_id AND p.addr >= lower(b.range)
       AND p.addr < upper(b.range) AND p.until > now();
    FOR a IN lower(b.range) + 1 .. upper(b.range) - 1 LOOP
        IF NOT a = ANY (used) AND NOT a = ANY (held) THEN
            RETURN a;
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
