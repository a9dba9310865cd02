-- schema/013_devices_matched.sql — devices find the rows made for them
-- (issue 14, items 2, 3 and 7; docs/broker.md, Devices):
-- * a handset created without a MAC (admin, SIP credentials first) is filled
--   by the first unknown device of its flat, oldest first; a new handset is
--   enrolled only when none is waiting (was: always a new suffix, and the
--   created one never got an address);
-- * a gateway box that asked DHCP before its first allocation request was
--   enrolled as a handset of its own flat; the allocation request naming
--   that MAC now takes it over (was: 422 until an operator deleted it);
-- * a handset MAC of another flat in an allocation request is reported as
--   handset_macs[i], not mac.

-- The handset of flat f with MAC m: the flat's own; else the oldest handset
-- of the flat still waiting for its MAC (created without one) takes m; else
-- a new one with the lowest free suffix. field names m in errors: D1004 when
-- m is any gateway's or another flat's handset's; D1003 when the flat's
-- handset numbers are used up. Caller holds the flat lock.
CREATE FUNCTION dpn.broker_handset(f dpn.flats, m macaddr, field text)
RETURNS dpn.handsets
LANGUAGE plpgsql AS $$
DECLARE
    h dpn.handsets;
BEGIN
    IF EXISTS (SELECT 1 FROM dpn.gateways g WHERE g.site_id = f.site_id AND g.mac = m) THEN
        PERFORM dpn.broker_fail('D1004', field, 'is a gateway''s MAC: ' || m::text);
    END IF;
    FOR attempt IN 1..3 LOOP
        SELECT * INTO h FROM dpn.handsets WHERE site_id = f.site_id AND mac = m;
        IF FOUND THEN
            IF h.flat_id <> f.id THEN
                PERFORM dpn.broker_fail('D1004', field,
                    'belongs to a handset of another flat: ' || m::text);
            END IF;
            RETURN h;
        END IF;
        h := dpn.broker_handset_fill(f, m);
        IF h.id IS NULL THEN
            h := dpn.broker_handset_new(f, m);
        END IF;
        IF h.id IS NOT NULL THEN
            RETURN h;
        END IF;
        -- A concurrent insert of the same MAC elsewhere (or of this suffix
        -- by mgmtd): look again.
    END LOOP;
    PERFORM dpn.broker_fail('D1004', field, 'could not enrol (concurrent changes): ' || m::text);
    RETURN NULL;
END $$;

-- The oldest handset of flat f without a MAC takes m; NULL (all fields)
-- when none is waiting or m was taken meanwhile (unique violation).
CREATE FUNCTION dpn.broker_handset_fill(f dpn.flats, m macaddr)
RETURNS dpn.handsets
LANGUAGE plpgsql AS $$
DECLARE
    h dpn.handsets;
BEGIN
    SELECT * INTO h FROM dpn.handsets
     WHERE flat_id = f.id AND mac IS NULL
     ORDER BY created_at, id LIMIT 1 FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    BEGIN
        UPDATE dpn.handsets SET mac = m WHERE id = h.id RETURNING * INTO h;
    EXCEPTION WHEN unique_violation THEN
        RETURN NULL;
    END;
    PERFORM dpn.broker_audit('broker.enrol', 'handset:' || h.id,
        jsonb_build_object('flat_id', f.id, 'suffix', h.suffix, 'mac', m,
                           'filled', true));
    RETURN h;
END $$;

-- A new handset of flat f with MAC m and the lowest free suffix; NULL (all
-- fields) when a concurrent insert won. D1003 when no suffix is left.
CREATE FUNCTION dpn.broker_handset_new(f dpn.flats, m macaddr)
RETURNS dpn.handsets
LANGUAGE plpgsql AS $$
DECLARE
    h dpn.handsets;
    sfx integer;
    n integer;
BEGIN
    -- Usually suffixes 1..n are all taken: one index read says so. Else
    -- the first gap, one primary-key probe per suffix (plans that stay
    -- cheap whatever the statistics; a subquery with NOT EXISTS over the
    -- flat's handsets did not).
    SELECT coalesce(max(suffix), 0), count(*) INTO sfx, n
      FROM dpn.handsets WHERE flat_id = f.id;
    IF sfx = n THEN
        sfx := n + 1;
    ELSE
        sfx := 1;
        LOOP
            PERFORM 1 FROM dpn.handsets WHERE flat_id = f.id AND suffix = sfx;
            EXIT WHEN NOT FOUND;
            sfx := sfx + 1;
        END LOOP;
    END IF;
    IF sfx >= 10::numeric ^ f.w_handset THEN
        PERFORM dpn.broker_fail('D1003', NULL,
            'flat full: every handset number is in use');
    END IF;
    INSERT INTO dpn.handsets (flat_id, suffix, mac) VALUES (f.id, sfx, m)
    ON CONFLICT DO NOTHING RETURNING * INTO h;
    IF FOUND THEN
        PERFORM dpn.broker_audit('broker.enrol', 'handset:' || h.id,
            jsonb_build_object('flat_id', f.id, 'suffix', sfx, 'mac', m));
    END IF;
    RETURN h;
END $$;

CREATE OR REPLACE FUNCTION dpn.broker_handset(f dpn.flats, m macaddr)
RETURNS dpn.handsets
LANGUAGE sql AS $$
    SELECT dpn.broker_handset(f, m, 'mac')
$$;

-- Handset h of gateway g's own flat has the MAC the gateway's allocation
-- request claims: the box asked DHCP before it was provisioned and was
-- enrolled as a handset. The gateway takes the MAC back: h loses its
-- address; h goes when it has no SIP credentials (it only ever was the
-- box), else it keeps them and waits for its own device (MAC cleared).
CREATE FUNCTION dpn.broker_gateway_reclaim(g dpn.gateways, h dpn.handsets)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM dpn.assignments WHERE handset_id = h.id;
    IF h.sip_username IS NULL AND h.ha1_md5 IS NULL AND h.ha1_sha256 IS NULL THEN
        DELETE FROM dpn.handsets WHERE id = h.id;
    ELSE
        UPDATE dpn.handsets SET mac = NULL WHERE id = h.id;
    END IF;
    PERFORM dpn.broker_audit('broker.gateway_reclaim', 'gateway:' || g.id,
        jsonb_build_object('mac', h.mac, 'handset_id', h.id, 'suffix', h.suffix,
                           'handset_kept', h.sip_username IS NOT NULL
                               OR h.ha1_md5 IS NOT NULL OR h.ha1_sha256 IS NOT NULL));
END $$;

-- Sets gateway g's MAC to m (learnt, or a replaced box). A handset of the
-- same flat with m is taken over (broker_gateway_reclaim); D1004 when a
-- device of another flat has it. Caller holds the flat lock and g's row.
CREATE OR REPLACE FUNCTION dpn.broker_gateway_mac(f dpn.flats, g dpn.gateways, m macaddr)
RETURNS dpn.gateways
LANGUAGE plpgsql AS $$
DECLARE
    h dpn.handsets;
BEGIN
    IF g.mac IS NOT DISTINCT FROM m THEN
        RETURN g;
    END IF;
    SELECT * INTO h FROM dpn.handsets WHERE site_id = f.site_id AND mac = m;
    IF FOUND AND h.flat_id <> f.id THEN
        PERFORM dpn.broker_fail('D1004', 'gateway_mac',
            'is the MAC of a handset of another flat: ' || m::text);
    ELSIF FOUND THEN
        PERFORM dpn.broker_gateway_reclaim(g, h);
    END IF;
    UPDATE dpn.gateways SET mac = m WHERE id = g.id
       AND NOT EXISTS (SELECT 1 FROM dpn.gateways o
                        WHERE o.site_id = f.site_id AND o.mac = m AND o.id <> g.id)
    RETURNING * INTO g;
    IF NOT FOUND THEN
        PERFORM dpn.broker_fail('D1004', 'gateway_mac',
            'belongs to another gateway: ' || m::text);
    END IF;
    PERFORM dpn.broker_audit('broker.gateway_mac', 'gateway:' || g.id,
        jsonb_build_object('mac', m));
    RETURN g;
END $$;

-- Flow 1 (003), with the gateway's row locked after the flat's: a gateway
-- deleted meanwhile (the admin's deletion holds the flat lock) is seen
-- gone, never half-used. gone_is_null: answer NULL for a gateway that does
-- not exist (mgmtd: then 401, as for a request that came after the
-- deletion) instead of D1001.
DROP FUNCTION dpn.broker_allocate(bigint, macaddr, macaddr[]);
CREATE FUNCTION dpn.broker_allocate(gateway_id bigint, gateway_mac macaddr,
    handset_macs macaddr[], gone_is_null boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    g dpn.gateways;
    f dpn.flats;
    s dpn.sites;
    hs dpn.handsets[] := '{}';
    gx dpn.assignments;
    b dpn.blocks;
BEGIN
    PERFORM dpn.broker_check_isolation();
    IF gateway_id IS NULL THEN
        PERFORM dpn.broker_fail('D1004', 'gateway_id', 'is required');
    END IF;
    PERFORM dpn.broker_check_mac(gateway_mac, 'gateway_mac');
    handset_macs := coalesce(handset_macs, '{}');
    IF cardinality(handset_macs) > 1000 THEN
        PERFORM dpn.broker_fail('D1004', 'handset_macs', 'more than 1000 MACs');
    END IF;
    FOR i IN 1..cardinality(handset_macs) LOOP
        PERFORM dpn.broker_check_mac(handset_macs[i], format('handset_macs[%s]', i - 1));
        IF handset_macs[i] = gateway_mac OR handset_macs[i] = ANY (handset_macs[1:i - 1]) THEN
            PERFORM dpn.broker_fail('D1004', format('handset_macs[%s]', i - 1),
                'listed twice or equal to gateway_mac: ' || handset_macs[i]::text);
        END IF;
    END LOOP;
    SELECT * INTO g FROM dpn.gateways WHERE id = broker_allocate.gateway_id;
    IF FOUND THEN
        -- The flat's lock (broker_lock_flat's, without its D1001: a flat
        -- deleted meanwhile took its gateway along), then the gateway's.
        SELECT * INTO f FROM dpn.flats WHERE id = g.flat_id FOR NO KEY UPDATE;
        SELECT * INTO g FROM dpn.gateways
         WHERE id = broker_allocate.gateway_id AND f.id IS NOT NULL FOR UPDATE;
    END IF;
    IF g.id IS NULL AND gone_is_null THEN
        RETURN NULL;
    ELSIF g.id IS NULL THEN
        PERFORM dpn.broker_fail('D1001', 'gateway_id', 'no such gateway: ' || gateway_id);
    END IF;
    SELECT * INTO s FROM dpn.sites WHERE id = f.site_id;
    -- Everything that may wait on another transaction comes before the
    -- site lock (see the top of 003).
    g := dpn.broker_gateway_mac(f, g, gateway_mac);
    FOR i IN 1..cardinality(handset_macs) LOOP
        hs := hs || dpn.broker_handset(f, handset_macs[i],
                                       format('handset_macs[%s]', i - 1));
    END LOOP;
    gx := dpn.broker_assign_gateway(f, g,
              dpn.broker_block_size(s, 1 + cardinality(handset_macs)));
    FOR i IN 1..cardinality(hs) LOOP
        PERFORM dpn.broker_assign_handset(f, hs[i]);
    END LOOP;
    SELECT * INTO b FROM dpn.blocks WHERE flat_id = f.id;
    PERFORM dpn.broker_audit('broker.allocate', 'flat:' || f.id, jsonb_build_object(
        'gateway_id', g.id, 'block', dpn.block_json(b.range),
        'handset_macs', to_jsonb(handset_macs::text[])));
    RETURN jsonb_build_object('flat_id', f.id, 'block', dpn.block_json(b.range),
        'gateway', jsonb_build_object('mac', g.mac::text,
                                      'address', dpn.ip4(lower(b.range))),
        'handsets', dpn.broker_flat_handsets(f.id));
END $$;
