-- schema/010_dhcp.sql — lease state for the Kea hook (dhcp-hook/): what the
-- hook asks on a packet (dpn.dhcp_identify), what it writes for each lease
-- event (dpn.dhcp_lease_event), declined addresses on probation, and the
-- grace period after which a gone gateway's block is deleted
-- (dpn.dhcp_gateway_sweep). See docs/dhcp.md.

-- Declined addresses (DHCPDECLINE: something else answers on them), held
-- back until `until`. Kea holds the address itself for the same period
-- (decline-probation-period); this table lets the broker and the admin see it.
CREATE TABLE dpn.dhcp_probation (
    site_id bigint      NOT NULL REFERENCES dpn.sites ON DELETE CASCADE,
    addr    bigint      NOT NULL,
    since   timestamptz NOT NULL,
    until   timestamptz NOT NULL,
    mac     macaddr,
    PRIMARY KEY (site_id, addr),
    CONSTRAINT dhcp_probation_order CHECK (until >= since)
);

-- A flat whose gateway released its first address or let it expire: once
-- the grace period has passed since `since` without the gateway coming back
-- (a committed lease removes the row), the flat's block is deleted.
CREATE TABLE dpn.dhcp_gateway_grace (
    flat_id bigint      PRIMARY KEY REFERENCES dpn.flats ON DELETE CASCADE,
    site_id bigint      NOT NULL,
    since   timestamptz NOT NULL
);
CREATE INDEX dhcp_gateway_grace_since ON dpn.dhcp_gateway_grace (since);

-- What the hook should do with a packet from `mac` behind `circuit` in Kea
-- subnet `pool` (= dpn pool id):
--   'known'            the device has a reservation in this subnet
--   'enrolled'         it had none; dpn.broker_enrol gave it one (p_enrol)
--   'absent'           no reservation, flat known, enrolment not asked
--   'unknown-circuit'  no flat of the pool's site has this circuit-id
--   'full'             enrolment refused by the broker (pool exhausted,
--                      flat full, MAC taken by another flat); see the log
CREATE FUNCTION dpn.dhcp_identify(p_pool bigint, p_circuit text, p_mac macaddr,
                                  p_enrol boolean) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_site bigint;
BEGIN
    PERFORM 1 FROM public.hosts
      WHERE dhcp_identifier = dpn.kea_flex_id(p_circuit, p_mac)
        AND dhcp_identifier_type = 4 AND dhcp4_subnet_id = p_pool;
    IF FOUND THEN
        RETURN 'known';
    END IF;
    SELECT site_id INTO v_site FROM dpn.pools WHERE id = p_pool;
    PERFORM 1 FROM dpn.flats WHERE site_id = v_site AND circuit_id = p_circuit;
    IF v_site IS NULL OR NOT FOUND THEN
        RETURN 'unknown-circuit';
    END IF;
    IF NOT p_enrol THEN
        RETURN 'absent';
    END IF;
    BEGIN
        PERFORM dpn.broker_enrol(v_site, p_circuit, p_mac);
    EXCEPTION WHEN SQLSTATE 'D1001' OR SQLSTATE 'D1002' OR SQLSTATE 'D1003'
                OR SQLSTATE 'D1004' OR unique_violation THEN
        RAISE LOG 'dpn.dhcp_identify: enrolment of % on % refused: % %',
            p_mac, p_circuit, SQLSTATE, SQLERRM;
        RETURN 'full';
    END;
    RETURN 'enrolled';
END $$;

-- A handset whose address was declined moves to the lowest free second
-- address of its block that is not on probation, under the flat's lock (the
-- broker's order); the schema's trigger moves its Kea reservation and queues
-- the old lease for removal. With none free it stays, and Kea serves it
-- again once its probation is over. Never raises: a refused move is logged.
CREATE FUNCTION dpn.dhcp_move_declined(p_assignment bigint, p_addr bigint)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    a     dpn.assignments;
    v_new bigint;
BEGIN
    SELECT * INTO a FROM dpn.assignments WHERE id = p_assignment;
    PERFORM dpn.broker_lock_flat(a.flat_id);
    SELECT * INTO a FROM dpn.assignments WHERE id = p_assignment AND addr = p_addr;
    IF NOT FOUND THEN
        RETURN;             -- moved or gone meanwhile
    END IF;
    SELECT x INTO v_new
      FROM generate_series(lower(a.block_range) + 1, upper(a.block_range) - 1) x
     WHERE NOT EXISTS (SELECT 1 FROM dpn.assignments y
                        WHERE y.site_id = a.site_id AND y.addr = x)
       AND NOT EXISTS (SELECT 1 FROM dpn.dhcp_probation p
                        WHERE p.site_id = a.site_id AND p.addr = x
                          AND p.until > now())
     ORDER BY x LIMIT 1;
    IF v_new IS NOT NULL THEN
        UPDATE dpn.assignments SET addr = v_new WHERE id = a.id;
    END IF;
EXCEPTION WHEN unique_violation OR check_violation OR SQLSTATE 'D1001' THEN
    RAISE LOG 'dpn.dhcp_move_declined(%): %', p_assignment, SQLERRM;
END $$;

-- Records one lease event reported by the hook (kind committed, release,
-- decline, expire; at_us = microseconds since the epoch, when Kea saw it).
-- Events may arrive late (the hook catches up after a database outage), so
-- a device's state only moves forward in time. Never raises for data the
-- hook cannot vouch for (an unknown pool or address is still logged), so
-- one odd event cannot block the hook's queue.
CREATE FUNCTION dpn.dhcp_lease_event(p_kind text, p_pool bigint, p_addr bigint,
                                     p_mac macaddr, p_at_us bigint,
                                     p_probation integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_at   timestamptz := to_timestamp(p_at_us / 1e6);
    v_site bigint;
    a      dpn.assignments;
BEGIN
    IF p_kind NOT IN ('committed', 'release', 'decline', 'expire') THEN
        RAISE EXCEPTION 'invalid lease event kind %', p_kind USING ERRCODE = 'D1004';
    END IF;
    SELECT site_id INTO v_site FROM dpn.pools WHERE id = p_pool;
    SELECT * INTO a FROM dpn.assignments
     WHERE site_id = v_site AND addr = p_addr AND mac = p_mac;
    INSERT INTO dpn.lease_events (at, site_id, pool_id, flat_id, kind, addr, mac,
                                  circuit_id)
    VALUES (v_at, v_site, p_pool, a.flat_id, p_kind, p_addr, p_mac, a.circuit_id);
    IF p_kind = 'decline' AND v_site IS NOT NULL THEN
        INSERT INTO dpn.dhcp_probation (site_id, addr, since, until, mac)
        VALUES (v_site, p_addr, v_at, v_at + make_interval(secs => p_probation), p_mac)
        ON CONFLICT (site_id, addr) DO UPDATE
            SET until = greatest(dpn.dhcp_probation.until, EXCLUDED.until);
    END IF;
    IF a.id IS NULL THEN
        RETURN;
    END IF;
    IF p_kind = 'decline' AND a.handset_id IS NOT NULL THEN
        PERFORM dpn.dhcp_move_declined(a.id, p_addr);
    END IF;
    UPDATE dpn.assignments
       SET last_seen = v_at, online = (p_kind = 'committed')
     WHERE id = a.id AND (last_seen IS NULL OR last_seen <= v_at);
    IF a.gateway_id IS NULL THEN
        RETURN;
    END IF;
    IF p_kind = 'committed' THEN
        DELETE FROM dpn.dhcp_gateway_grace WHERE flat_id = a.flat_id AND since <= v_at;
    ELSIF p_kind IN ('release', 'expire') THEN
        INSERT INTO dpn.dhcp_gateway_grace (flat_id, site_id, since)
        VALUES (a.flat_id, a.site_id, v_at) ON CONFLICT (flat_id) DO NOTHING;
    END IF;
END $$;

-- Deletes the block of every flat whose gateway has been gone for p_grace
-- seconds (dpn.broker_delete_gateway). The gateway row and its credentials
-- stay, so the box can ask again when it comes back. Returns how many.
CREATE FUNCTION dpn.dhcp_gateway_sweep(p_grace integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r dpn.dhcp_gateway_grace;
    n integer := 0;
BEGIN
    FOR r IN SELECT * FROM dpn.dhcp_gateway_grace
              WHERE since <= now() - make_interval(secs => p_grace)
              ORDER BY since FOR UPDATE SKIP LOCKED LOOP
        BEGIN
            PERFORM dpn.broker_delete_gateway(r.flat_id, keep_gateway => true);
            n := n + 1;
        EXCEPTION WHEN SQLSTATE 'D1001' THEN
            NULL;   -- already gone (deleted through mgmtd meanwhile)
        END;
        DELETE FROM dpn.dhcp_gateway_grace WHERE flat_id = r.flat_id;
    END LOOP;
    RETURN n;
END $$;

-- The hook's batch: the events of arrays taken in order (one round trip per
-- batch instead of one per event). Arguments as dpn.dhcp_lease_event.
CREATE FUNCTION dpn.dhcp_lease_events(p_kind text[], p_pool bigint[],
                                      p_addr bigint[], p_mac macaddr[],
                                      p_at_us bigint[], p_probation integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    i integer;
    n integer := coalesce(array_length(p_kind, 1), 0);
BEGIN
    IF n <> coalesce(array_length(p_pool, 1), 0) OR n <> coalesce(array_length(p_addr, 1), 0)
       OR n <> coalesce(array_length(p_mac, 1), 0) OR n <> coalesce(array_length(p_at_us, 1), 0) THEN
        RAISE EXCEPTION 'lease event arrays differ in length' USING ERRCODE = 'D1004';
    END IF;
    FOR i IN 1 .. n LOOP
        PERFORM dpn.dhcp_lease_event(p_kind[i], p_pool[i], p_addr[i], p_mac[i],
                                     p_at_us[i], p_probation);
    END LOOP;
    RETURN n;
END $$;
