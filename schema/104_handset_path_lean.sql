-- schema/104_handset_path_lean.sql — fewer PL/pgSQL calls and statements on
-- the handset request path (issue 14, "Must reach": the cold power cut;
-- figures in docs/bench.md, "Issue 14, sixth pass"). Same arguments, same
-- checks in the same order, same answers and errors, same rows written and
-- the same two audit rows per enrolling request.
-- * broker_add_handset ran broker_check_isolation, broker_check_mac,
--   broker_lock_flat, broker_handset, broker_assign_handset and
--   broker_audit as calls; their statements are now in its body, and the
--   helpers it still calls are called only when they have work (the MAC
--   check only to raise its error).
-- * the flat's gateway and the site's gateways were two lookups of the same
--   MAC (gateways_mac_unique is per site): one now, which tells both errors
--   apart.
-- * a handset enrolled or filled in this call has no assignment: the
--   lookup by handset_id is made only for a handset that already existed.
-- * the site (for a new block's size) is read only when the flat has no
--   block yet.
-- * broker_handset_new and broker_handset_fill write their audit row
--   themselves (broker_audit's statement).
-- The helpers stay, with their behaviour, for their other callers.

-- 013's, with broker_audit's statement inline.
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
    INSERT INTO dpn.audit_log (actor, action, object, detail)
    VALUES (coalesce(nullif(current_setting('dpn.actor', true), ''), 'db:' || session_user),
            'broker.enrol', 'handset:' || h.id,
            jsonb_build_object('flat_id', f.id, 'suffix', h.suffix, 'mac', m,
                               'filled', true));
    RETURN h;
END $$;

-- 013's, with broker_audit's statement inline.
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
    IF FOUND THEN
        INSERT INTO dpn.audit_log (actor, action, object, detail)
        VALUES (coalesce(nullif(current_setting('dpn.actor', true), ''), 'db:' || session_user),
                'broker.enrol', 'handset:' || h.id,
                jsonb_build_object('flat_id', f.id, 'suffix', sfx, 'mac', m));
    END IF;
    RETURN h;
END $$;

-- Flow 2 (003, 013, 100): the same checks, lock, rows and answer.
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
    fresh boolean := false;
    bj jsonb;
BEGIN
    -- broker_check_isolation's and broker_check_mac's tests.
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
    -- broker_lock_flat's statements.
    IF broker_add_handset.flat_id IS NULL THEN
        PERFORM dpn.broker_fail('D1004', 'flat_id', 'is required');
    END IF;
    SELECT * INTO f FROM dpn.flats fx WHERE fx.id = broker_add_handset.flat_id
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM dpn.broker_fail('D1001', 'flat_id',
                                'no such flat: ' || broker_add_handset.flat_id);
    END IF;
    -- This flat's gateway, or another's of the site (MACs unique per site).
    SELECT gx.flat_id INTO gw_flat FROM dpn.gateways gx
     WHERE gx.site_id = f.site_id AND gx.mac = m;
    IF FOUND AND gw_flat = f.id THEN
        PERFORM dpn.broker_fail('D1004', 'mac', 'is this flat''s gateway');
    ELSIF FOUND THEN
        PERFORM dpn.broker_fail('D1004', 'mac', 'is a gateway''s MAC: ' || m::text);
    END IF;
    -- broker_handset's loop (013).
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
        IF h.id IS NULL THEN
            h := dpn.broker_handset_new(f, m);
        END IF;
        IF h.id IS NOT NULL THEN
            fresh := true;
            EXIT;
        END IF;
    END LOOP;
    IF h.id IS NULL THEN
        PERFORM dpn.broker_fail('D1004', 'mac',
                                'could not enrol (concurrent changes): ' || m::text);
    END IF;
    -- broker_assign_handset's statements (003): a handset enrolled or filled
    -- just now has no assignment.
    IF NOT fresh THEN
        SELECT * INTO x FROM dpn.assignments ax WHERE ax.handset_id = h.id;
    END IF;
    IF fresh OR NOT FOUND THEN
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
    -- broker_audit's statement (100).
    INSERT INTO dpn.audit_log (actor, action, object, detail)
    VALUES (coalesce(nullif(current_setting('dpn.actor', true), ''), 'db:' || session_user),
            'broker.add_handset', 'handset:' || h.id,
            jsonb_build_object('mac', m, 'address', dpn.ip4(x.addr), 'block', bj));
    RETURN jsonb_build_object('mac', x.mac::text, 'suffix', h.suffix,
                              'address', dpn.ip4(x.addr), 'block', bj);
END $$;
