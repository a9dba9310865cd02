-- schema/105_handset_one_audit_row.sql — one audit row per handset request
-- instead of two (issue 14, "Must reach": the cold power cut; figures in
-- docs/bench.md, "Issue 14, seventh pass").
--
-- A handset request that enrolled its device wrote two rows about the same
-- handset in the same transaction: "broker.enrol" (flat, suffix, MAC,
-- whether a MAC-less handset was filled) from broker_handset_new/fill and
-- "broker.add_handset" (MAC, address, block) from broker_add_handset. Each
-- row is an insert into dpn.audit_log and its four indexes, one of them on
-- two expressions (030): ~10 % of the handset path's PostgreSQL time.
-- Now broker_add_handset writes one "broker.add_handset" row carrying all
-- of it: flat_id, suffix, mac, address, block, and "enrolled": true (with
-- "filled": true when a MAC-less handset took the MAC) when the device was
-- enrolled by this request; the DHCP hook's first-sight enrolment of a
-- handset (broker_enrol calls broker_add_handset) writes that one row too.
-- Handsets enrolled by an allocation's handset_macs keep their
-- "broker.enrol" row, now written by broker_handset(f, m, field).
-- Same checks, answers, errors and rows otherwise.

-- 104's, without the audit row: the caller writes it.
CREATE OR REPLACE FUNCTION dpn.broker_handset_fill(f dpn.flats, m macaddr)
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
    RETURN h;
END $$;

-- 104's, without the audit row: the caller writes it.
CREATE OR REPLACE FUNCTION dpn.broker_handset_new(f dpn.flats, m macaddr)
RETURNS dpn.handsets
LANGUAGE plpgsql AS $$
DECLARE
    h dpn.handsets;
    sfx integer;
    n integer;
BEGIN
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
    RETURN h;
END $$;

-- 013's, writing the "broker.enrol" row that fill and new wrote before
-- (same action, object and detail).
CREATE OR REPLACE FUNCTION dpn.broker_handset(f dpn.flats, m macaddr, field text)
RETURNS dpn.handsets
LANGUAGE plpgsql AS $$
DECLARE
    h dpn.handsets;
    filled boolean;
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
        filled := h.id IS NOT NULL;
        IF NOT filled THEN
            h := dpn.broker_handset_new(f, m);
        END IF;
        IF h.id IS NOT NULL THEN
            PERFORM dpn.broker_audit('broker.enrol', 'handset:' || h.id,
                jsonb_build_object('flat_id', f.id, 'suffix', h.suffix, 'mac', m)
                || CASE WHEN filled THEN '{"filled": true}'::jsonb
                        ELSE '{}'::jsonb END);
            RETURN h;
        END IF;
    END LOOP;
    PERFORM dpn.broker_fail('D1004', field, 'could not enrol (concurrent changes): ' || m::text);
    RETURN NULL;
END $$;

-- 104's, with one audit row (above).
CREATE OR REPLACE FUNCTION dpn.broker_add_handset(flat_id bigint, mac macaddr)
RETURNS jsonb
LANGUAGE plpgsql SET enable_seqscan = off AS $$   -- 101's setting, kept
DECLARE
    m macaddr := broker_add_handset.mac;
    f dpn.flats;
    h dpn.handsets;
    x dpn.assignments;
    b dpn.blocks;
    a bigint;
    gw_flat bigint;
    fresh jsonb;
    bj jsonb;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM dpn.broker_fail('D1004', NULL,
            'the broker functions need READ COMMITTED isolation');
    END IF;
    IF m IS NULL OR m = '00:00:00:00:00:00' OR m = 'ff:ff:ff:ff:ff:ff'
       OR (get_byte(macaddr_send(m), 0) & 1) = 1 THEN
        PERFORM dpn.broker_check_mac(m, 'mac');
    END IF;
    SELECT * INTO x FROM dpn.assignments ax
     WHERE ax.flat_id = broker_add_handset.flat_id AND ax.mac = m
       AND ax.handset_id IS NOT NULL;
    IF FOUND THEN
        RETURN dpn.broker_handset_json(x) ||
            jsonb_build_object('block', dpn.block_json(x.block_range));
    END IF;
    IF broker_add_handset.flat_id IS NULL THEN
        PERFORM dpn.broker_fail('D1004', 'flat_id', 'is required');
    END IF;
    SELECT * INTO f FROM dpn.flats fx WHERE fx.id = broker_add_handset.flat_id
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM dpn.broker_fail('D1001', 'flat_id',
                                'no such flat: ' || broker_add_handset.flat_id);
    END IF;
    SELECT gx.flat_id INTO gw_flat FROM dpn.gateways gx
     WHERE gx.site_id = f.site_id AND gx.mac = m;
    IF FOUND AND gw_flat = f.id THEN
        PERFORM dpn.broker_fail('D1004', 'mac', 'is this flat''s gateway');
    ELSIF FOUND THEN
        PERFORM dpn.broker_fail('D1004', 'mac', 'is a gateway''s MAC: ' || m::text);
    END IF;
    -- broker_handset's loop (013); fresh: what the audit row adds when
    -- this request enrolled the device.
    FOR attempt IN 1..3 LOOP
        SELECT * INTO h FROM dpn.handsets hx WHERE hx.site_id = f.site_id AND hx.mac = m;
        IF FOUND THEN
            IF h.flat_id <> f.id THEN
                PERFORM dpn.broker_fail('D1004', 'mac',
                    'belongs to a handset of another flat: ' || m::text);
            END IF;
            EXIT;
        END IF;
        h := dpn.broker_handset_fill(f, m);
        IF h.id IS NOT NULL THEN
            fresh := '{"enrolled": true, "filled": true}';
            EXIT;
        END IF;
        h := dpn.broker_handset_new(f, m);
        IF h.id IS NOT NULL THEN
            fresh := '{"enrolled": true}';
            EXIT;
        END IF;
    END LOOP;
    IF h.id IS NULL THEN
        PERFORM dpn.broker_fail('D1004', 'mac',
                                'could not enrol (concurrent changes): ' || m::text);
    END IF;
    IF fresh IS NULL THEN
        SELECT * INTO x FROM dpn.assignments ax WHERE ax.handset_id = h.id;
    END IF;
    IF fresh IS NOT NULL OR NOT FOUND THEN
        SELECT * INTO b FROM dpn.blocks bx WHERE bx.flat_id = f.id;
        IF NOT FOUND THEN
            b := dpn.broker_new_block(f,
                     (SELECT s.block_size FROM dpn.sites s WHERE s.id = f.site_id));
        END IF;
        a := dpn.broker_free_addr(b);
        IF a IS NULL THEN
            b := dpn.broker_grow(f, b);
            a := dpn.broker_free_addr(b);
        END IF;
        INSERT INTO dpn.assignments (site_id, flat_id, block_id, pool_id, block_range,
            circuit_id, handset_id, mac, addr)
        VALUES (f.site_id, f.id, b.id, b.pool_id, b.range, f.circuit_id, h.id, h.mac, a)
        RETURNING * INTO x;
    END IF;
    bj := dpn.block_json(x.block_range);
    INSERT INTO dpn.audit_log (actor, action, object, detail)
    VALUES (coalesce(nullif(current_setting('dpn.actor', true), ''), 'db:' || session_user),
            'broker.add_handset', 'handset:' || h.id,
            jsonb_build_object('flat_id', f.id, 'suffix', h.suffix, 'mac', m,
                               'address', dpn.ip4(x.addr), 'block', bj)
            || coalesce(fresh, '{}'));
    RETURN jsonb_build_object('mac', x.mac::text, 'suffix', h.suffix,
                              'address', dpn.ip4(x.addr), 'block', bj);
END $$;
