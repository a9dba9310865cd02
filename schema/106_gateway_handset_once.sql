-- schema/106_gateway_handset_once.sql — a gateway's handset request reads
-- and locks once what it read and locked twice (issue 14, "Must reach":
-- the cold power cut; figures in docs/bench.md, "Issue 14, seventh pass").
--
-- /broker/handsets ran broker_gateway_add_handset: the MAC's assignment
-- looked up, broker_gateway_flat (the gateway read again, its flat locked,
-- the gateway read again), then broker_add_handset, which looked the
-- assignment up again, locked the flat again (already held) and called
-- broker_handset_fill (one more read of the flat's handsets) and
-- broker_handset_new. Now:
-- * broker_add_handset_locked(f, m) holds what broker_add_handset did once
--   its flat is locked; broker_add_handset (checks, lookup, lock) and
--   broker_gateway_add_handset (lookup, lock, gateway still there, checks)
--   both call it, so the gateway's request no longer looks the assignment
--   up or locks the flat a second time, and reads its gateway once before
--   the lock (with the MAC's assignment). An assignment committed between
--   its first lookup and the lock (a concurrent request for the same MAC)
--   is still found, through the MAC's handset, and answered as before,
--   without an audit row (the early answer writes none either).
-- * one read of the flat's handsets gives the next suffix and whether a
--   MAC-less handset waits; broker_handset_fill is called only then, and
--   broker_handset_new's statements are inline, and block_json's
--   expression (one call fewer).
-- Same checks in the same order, same answers, errors, rows and audit row
-- (105). broker_gateway_flat, broker_handset_fill/new stay for their other
-- callers.

-- The handset request for MAC m on flat f, which the caller holds locked
-- FOR NO KEY UPDATE, in READ COMMITTED, m checked (broker_check_mac). The
-- answer and errors of broker_add_handset.
CREATE FUNCTION dpn.broker_add_handset_locked(f dpn.flats, m macaddr)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    h dpn.handsets;
    x dpn.assignments;
    b dpn.blocks;
    a bigint;
    gw_flat bigint;
    sfx integer;
    n integer;
    waiting boolean;
    fresh jsonb;
    bj jsonb;
BEGIN
    SELECT gx.flat_id INTO gw_flat FROM dpn.gateways gx
     WHERE gx.site_id = f.site_id AND gx.mac = m;
    IF FOUND AND gw_flat = f.id THEN
        PERFORM dpn.broker_fail('D1004', 'mac', 'is this flat''s gateway');
    ELSIF FOUND THEN
        PERFORM dpn.broker_fail('D1004', 'mac', 'is a gateway''s MAC: ' || m::text);
    END IF;
    -- broker_handset's loop (013), fill and new (105) inline.
    FOR attempt IN 1..3 LOOP
        SELECT * INTO h FROM dpn.handsets hx WHERE hx.site_id = f.site_id AND hx.mac = m;
        IF FOUND THEN
            IF h.flat_id <> f.id THEN
                PERFORM dpn.broker_fail('D1004', 'mac',
                    'belongs to a handset of another flat: ' || m::text);
            END IF;
            EXIT;
        END IF;
        SELECT coalesce(max(hx.suffix), 0), count(*), coalesce(bool_or(hx.mac IS NULL), false)
          INTO sfx, n, waiting FROM dpn.handsets hx WHERE hx.flat_id = f.id;
        IF waiting THEN
            h := dpn.broker_handset_fill(f, m);
            IF h.id IS NOT NULL THEN
                fresh := '{"enrolled": true, "filled": true}';
                EXIT;
            END IF;
        END IF;
        IF sfx = n THEN
            sfx := n + 1;
        ELSE
            sfx := 1;
            LOOP
                PERFORM 1 FROM dpn.handsets hx WHERE hx.flat_id = f.id AND hx.suffix = sfx;
                EXIT WHEN NOT FOUND;
                sfx := sfx + 1;
            END LOOP;
        END IF;
        IF sfx >= 10::numeric ^ f.w_handset THEN
            PERFORM dpn.broker_fail('D1003', NULL,
                'flat full: every handset number is in use');
        END IF;
        -- The carried columns given: handsets_fill has nothing to do (107).
        INSERT INTO dpn.handsets (flat_id, site_id, w_handset, suffix, mac)
        VALUES (f.id, f.site_id, f.w_handset, sfx, m)
        ON CONFLICT DO NOTHING RETURNING * INTO h;
        IF FOUND THEN
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
        IF FOUND THEN     -- given meanwhile by a concurrent request
            RETURN jsonb_build_object('mac', x.mac::text, 'suffix', h.suffix,
                'address', dpn.ip4(x.addr), 'block', dpn.block_json(x.block_range));
        END IF;
    END IF;
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
    -- block_json's expression.
    bj := CASE WHEN x.block_range IS NULL THEN NULL ELSE jsonb_build_object(
        'first', dpn.ip4(lower(x.block_range)), 'last', dpn.ip4(upper(x.block_range) - 1),
        'size', upper(x.block_range) - lower(x.block_range)) END;
    INSERT INTO dpn.audit_log (actor, action, object, detail)
    VALUES (coalesce(nullif(current_setting('dpn.actor', true), ''), 'db:' || session_user),
            'broker.add_handset', 'handset:' || h.id,
            jsonb_build_object('flat_id', f.id, 'suffix', h.suffix, 'mac', m,
                               'address', dpn.ip4(x.addr), 'block', bj)
            || coalesce(fresh, '{}'));
    RETURN jsonb_build_object('mac', x.mac::text, 'suffix', h.suffix,
                              'address', dpn.ip4(x.addr), 'block', bj);
END $$;

-- Flow 2 (003, 013, 100, 104, 105): the checks, the lookup without a lock,
-- the flat's lock, then the rest.
CREATE OR REPLACE FUNCTION dpn.broker_add_handset(flat_id bigint, mac macaddr)
RETURNS jsonb
LANGUAGE plpgsql SET enable_seqscan = off AS $$   -- 101's setting, kept
DECLARE
    m macaddr := broker_add_handset.mac;
    f dpn.flats;
    x dpn.assignments;
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
    RETURN dpn.broker_add_handset_locked(f, m);
END $$;

-- /broker/handsets (017): the gateway's flat and the MAC's address there
-- in one read without any lock; else the flat locked as
-- broker_gateway_flat does (NULL when the gateway is gone once the lock is
-- held), broker_add_handset's checks, the rest.
CREATE OR REPLACE FUNCTION dpn.broker_gateway_add_handset(gateway_id bigint, mac macaddr)
RETURNS jsonb
LANGUAGE plpgsql SET enable_seqscan = off AS $$   -- 101's setting, kept
DECLARE
    m macaddr := broker_gateway_add_handset.mac;
    x dpn.assignments;
    f dpn.flats;
    fid bigint;
    r record;
BEGIN
    SELECT g.flat_id AS fid, a AS x INTO r FROM dpn.gateways g
      LEFT JOIN dpn.assignments a ON a.flat_id = g.flat_id
            AND a.mac = m AND a.handset_id IS NOT NULL
     WHERE g.id = broker_gateway_add_handset.gateway_id;
    IF FOUND THEN
        fid := r.fid;
        x := r.x;
    END IF;
    IF x.id IS NOT NULL THEN
        RETURN dpn.broker_handset_json(x) ||
            jsonb_build_object('block', dpn.block_json(x.block_range));
    END IF;
    SELECT * INTO f FROM dpn.flats fx WHERE fx.id = fid FOR NO KEY UPDATE;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM dpn.gateways g
                                 WHERE g.id = broker_gateway_add_handset.gateway_id
                                   AND g.flat_id = fid) THEN
        RETURN NULL;
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM dpn.broker_fail('D1004', NULL,
            'the broker functions need READ COMMITTED isolation');
    END IF;
    IF m IS NULL OR m = '00:00:00:00:00:00' OR m = 'ff:ff:ff:ff:ff:ff'
       OR (get_byte(macaddr_send(m), 0) & 1) = 1 THEN
        PERFORM dpn.broker_check_mac(m, 'mac');
    END IF;
    RETURN dpn.broker_add_handset_locked(f, m);
END $$;
