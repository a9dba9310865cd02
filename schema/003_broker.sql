-- schema/003_broker.sql — the address broker: allocation, one more handset,
-- enrolment by circuit-id, deletions, the gateway's report and pool
-- utilisation, as PL/pgSQL functions that run in the caller's transaction.
-- Policy, locking and the reasons behind them: docs/broker.md.
--
-- Locking, always in this order: the flat's row (FOR NO KEY UPDATE), then
-- the site's transaction-level advisory lock, taken only to search for or
-- claim free room. Everything that can wait on another transaction (a MAC
-- being inserted elsewhere) happens before the site lock, so no cycle can
-- form. Functions are VOLATILE so that each statement takes a fresh snapshot
-- and sees what the previous holder of the site lock committed.
--
-- Errors: D1001 not found, D1002 pool exhausted, D1003 flat full, D1004
-- invalid argument; the COLUMN field of the error names the argument.

-- ---------------------------------------------------------------- helpers

CREATE FUNCTION dpn.broker_fail(code text, field text, msg text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = code, COLUMN = coalesce(field, ''),
        MESSAGE = CASE WHEN field IS NULL THEN msg ELSE field || ': ' || msg END;
END $$;

-- The actor of the audit log: SET LOCAL dpn.actor = '...' by the caller
-- (mgmtd sets "user:NAME", "token:NAME" or "gateway:USERNAME"), else the
-- database role.
CREATE FUNCTION dpn.broker_actor() RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(nullif(current_setting('dpn.actor', true), ''),
                    'db:' || session_user)
$$;

CREATE FUNCTION dpn.broker_audit(action text, object text, detail jsonb)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO dpn.audit_log (actor, action, object, detail)
    VALUES (dpn.broker_actor(), action, object, detail)
$$;

-- The broker relies on READ COMMITTED: a statement after the site lock must
-- see what the previous holder committed.
CREATE FUNCTION dpn.broker_check_isolation() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM dpn.broker_fail('D1004', NULL,
            'the broker functions need READ COMMITTED isolation');
    END IF;
END $$;

CREATE FUNCTION dpn.broker_lock_site(site_id bigint) RETURNS void
LANGUAGE sql AS $$
    -- 0x44504e31 "DPN1": the broker's key space of two-key advisory locks.
    SELECT pg_advisory_xact_lock(1146113585, (site_id % 2147483647)::integer)
$$;

CREATE FUNCTION dpn.block_json(r int8range) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN r IS NULL THEN NULL ELSE jsonb_build_object(
        'first', dpn.ip4(lower(r)), 'last', dpn.ip4(upper(r) - 1),
        'size', upper(r) - lower(r)) END
$$;

CREATE FUNCTION dpn.broker_check_mac(m macaddr, field text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF m IS NULL THEN
        PERFORM dpn.broker_fail('D1004', field, 'a MAC address is required');
    ELSIF m = '00:00:00:00:00:00' OR m = 'ff:ff:ff:ff:ff:ff'
          OR (get_byte(macaddr_send(m), 0) & 1) = 1 THEN
        PERFORM dpn.broker_fail('D1004', field,
            'not a device MAC (zero, broadcast or multicast): ' || m::text);
    END IF;
END $$;

-- The flat, locked against every other broker operation on it; D1001 when
-- there is none.
CREATE FUNCTION dpn.broker_lock_flat(p_flat bigint) RETURNS dpn.flats
LANGUAGE plpgsql AS $$
DECLARE
    f dpn.flats;
BEGIN
    IF p_flat IS NULL THEN
        PERFORM dpn.broker_fail('D1004', 'flat_id', 'is required');
    END IF;
    SELECT * INTO f FROM dpn.flats WHERE id = p_flat FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM dpn.broker_fail('D1001', 'flat_id', 'no such flat: ' || p_flat);
    END IF;
    RETURN f;
END $$;

-- --------------------------------------------------------- free-room search

-- First address a >= p_from of pool p_pool such that [a, a + p_n) lies below
-- p_hi and overlaps no block, or NULL. p_from is the pool's first usable
-- address or the end of some block (the hint). Walks the pool's blocks in
-- address order from p_from (index blocks_pool_lower) and stops at the first
-- gap that fits, so with the hint it usually reads one or two rows.
CREATE FUNCTION dpn.broker_gap(p_pool bigint, p_hi bigint, p_from bigint,
    p_n integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    prev_hi bigint;
    next_lo bigint;
    g record;
BEGIN
    -- Is p_from itself free? Only the block starting at or before it can
    -- cover it, blocks of a site never overlapping.
    SELECT upper(b.range) INTO prev_hi FROM dpn.blocks b
     WHERE b.pool_id = p_pool AND lower(b.range) <= p_from
     ORDER BY lower(b.range) DESC LIMIT 1;
    IF prev_hi IS NULL OR prev_hi <= p_from THEN
        SELECT lower(b.range) INTO next_lo FROM dpn.blocks b
         WHERE b.pool_id = p_pool AND lower(b.range) >= p_from
         ORDER BY lower(b.range) LIMIT 1;
        IF least(coalesce(next_lo, p_hi), p_hi) - p_from >= p_n THEN
            RETURN p_from;
        END IF;
    END IF;
    FOR g IN
        SELECT upper(b.range) AS s,
               lead(lower(b.range)) OVER (ORDER BY lower(b.range)) AS e
          FROM dpn.blocks b
         WHERE b.pool_id = p_pool AND lower(b.range) >= p_from
         ORDER BY lower(b.range)
    LOOP
        IF least(coalesce(g.e, p_hi), p_hi) - g.s >= p_n THEN
            RETURN g.s;
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

-- Claims p_n free addresses in some pool of the site (pools in id order) and
-- returns the pool with alloc_hint set to the start of the room; D1002 when
-- no pool has room. Caller holds the site lock. In each pool: first the room
-- after the pool's highest block (one index probe: the common case while a
-- pool fills up), then the holes, next fit from the pool's hint (stored only
-- on this path), then from the pool's start.
CREATE FUNCTION dpn.broker_claim(p_site bigint, p_n integer) RETURNS dpn.pools
LANGUAGE plpgsql AS $$
DECLARE
    p dpn.pools;
    a bigint;
BEGIN
    FOR p IN SELECT * FROM dpn.pools WHERE site_id = p_site ORDER BY id LOOP
        SELECT upper(b.range) INTO a FROM dpn.blocks b
         WHERE b.pool_id = p.id ORDER BY lower(b.range) DESC LIMIT 1;
        a := coalesce(a, lower(p.range));
        IF upper(p.range) - a >= p_n THEN
            p.alloc_hint := a;   -- hands the start back to the caller
            RETURN p;
        END IF;
        a := dpn.broker_gap(p.id, upper(p.range),
                 greatest(coalesce(p.alloc_hint, lower(p.range)), lower(p.range)), p_n);
        IF a IS NULL AND p.alloc_hint > lower(p.range) THEN
            a := dpn.broker_gap(p.id, upper(p.range), lower(p.range), p_n);
        END IF;
        IF a IS NOT NULL THEN
            UPDATE dpn.pools SET alloc_hint = a + p_n WHERE id = p.id;
            p.alloc_hint := a;
            RETURN p;
        END IF;
    END LOOP;
    PERFORM dpn.broker_fail('D1002', NULL,
        format('pool exhausted: no room for %s addresses in site %s', p_n, p_site));
    RETURN NULL;
END $$;

-- A new block of p_n addresses for flat f. Takes the site lock.
CREATE FUNCTION dpn.broker_new_block(f dpn.flats, p_n integer) RETURNS dpn.blocks
LANGUAGE plpgsql AS $$
DECLARE
    p dpn.pools;
    b dpn.blocks;
BEGIN
    PERFORM dpn.broker_lock_site(f.site_id);
    p := dpn.broker_claim(f.site_id, p_n);
    INSERT INTO dpn.blocks (flat_id, site_id, pool_id, range, pool_range, block_cap)
    SELECT f.id, f.site_id, p.id, int8range(p.alloc_hint, p.alloc_hint + p_n),
           p.range, s.block_cap
      FROM dpn.sites s WHERE s.id = f.site_id
    RETURNING * INTO b;
    RETURN b;
END $$;

-- The size a flat's block needs for n devices (gateway included): whole
-- steps of block_size, at most block_cap; D1003 past that.
CREATE FUNCTION dpn.broker_block_size(s dpn.sites, n integer) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
    IF n > s.block_cap THEN
        PERFORM dpn.broker_fail('D1003', NULL, format(
            'flat full: %s devices need more than the %s addresses a block may have',
            n, s.block_cap));
    END IF;
    RETURN least(greatest(1, ceil(n::numeric / s.block_size))::integer * s.block_size,
                 s.block_cap);
END $$;

-- ------------------------------------------------------ growing a block

-- Moves block b to a new range nr (claimed, free, not overlapping b): its
-- assignments are taken off (the Kea trigger drops their reservations and
-- queues their leases for deletion) and put back at the same offsets.
CREATE FUNCTION dpn.broker_move(b dpn.blocks, p dpn.pools, nr int8range)
RETURNS dpn.blocks
LANGUAGE plpgsql AS $$
DECLARE
    olds dpn.assignments[];
    nb dpn.blocks;
BEGIN
    SELECT coalesce(array_agg(a), '{}') INTO olds
      FROM dpn.assignments a WHERE a.block_id = b.id;
    DELETE FROM dpn.assignments a WHERE a.block_id = b.id;
    UPDATE dpn.blocks SET pool_id = p.id, pool_range = p.range, range = nr
     WHERE id = b.id RETURNING * INTO nb;
    INSERT INTO dpn.assignments (site_id, flat_id, block_id, pool_id, block_range,
        circuit_id, gateway_id, handset_id, mac, addr, last_seen, online)
    SELECT o.site_id, o.flat_id, nb.id, nb.pool_id, nb.range, o.circuit_id,
           o.gateway_id, o.handset_id, o.mac,
           lower(nb.range) + (o.addr - lower(b.range)), NULL, false
      FROM unnest(olds) o;
    RETURN nb;
END $$;

-- Flow 2's extension: block b of flat f is full. Grow it in place upwards
-- by block_size when the addresses after it are free in its pool (the
-- gateway keeps its address), else move the flat to a new, bigger block.
-- Never beyond the site's block_cap (D1003); D1002 when no room anywhere.
CREATE FUNCTION dpn.broker_grow(f dpn.flats, b dpn.blocks) RETURNS dpn.blocks
LANGUAGE plpgsql AS $$
DECLARE
    s dpn.sites;
    p dpn.pools;
    lo bigint := lower(b.range);
    n integer;
    nb dpn.blocks;
BEGIN
    SELECT * INTO s FROM dpn.sites WHERE id = f.site_id;
    n := least(upper(b.range) - lo + s.block_size, s.block_cap);
    IF n <= upper(b.range) - lo THEN
        PERFORM dpn.broker_fail('D1003', NULL, format(
            'flat full: block of %s addresses is at the site''s limit', n));
    END IF;
    PERFORM dpn.broker_lock_site(f.site_id);
    IF lo + n <= upper(b.pool_range) AND NOT EXISTS (
        SELECT 1 FROM dpn.blocks o WHERE o.pool_id = b.pool_id
           AND lower(o.range) >= upper(b.range) AND lower(o.range) < lo + n) THEN
        UPDATE dpn.blocks SET range = int8range(lo, lo + n)
         WHERE id = b.id RETURNING * INTO nb;
        PERFORM dpn.broker_audit('broker.extend', 'flat:' || f.id, jsonb_build_object(
            'from', dpn.block_json(b.range), 'to', dpn.block_json(nb.range)));
        RETURN nb;
    END IF;
    p := dpn.broker_claim(f.site_id, n);
    nb := dpn.broker_move(b, p, int8range(p.alloc_hint, p.alloc_hint + n));
    PERFORM dpn.broker_audit('broker.move', 'flat:' || f.id, jsonb_build_object(
        'from', dpn.block_json(b.range), 'to', dpn.block_json(nb.range)));
    RETURN nb;
END $$;

-- ------------------------------------------------------------- devices

-- The handset of flat f with MAC m, enrolled (lowest free suffix) when the
-- site does not know the MAC. D1004 when the MAC is another flat's handset
-- or any gateway's; D1003 when the flat's handset numbers are used up.
CREATE FUNCTION dpn.broker_handset(f dpn.flats, m macaddr) RETURNS dpn.handsets
LANGUAGE plpgsql AS $$
DECLARE
    h dpn.handsets;
    sfx integer;
BEGIN
    IF EXISTS (SELECT 1 FROM dpn.gateways g WHERE g.site_id = f.site_id AND g.mac = m) THEN
        PERFORM dpn.broker_fail('D1004', 'mac', 'is a gateway''s MAC: ' || m::text);
    END IF;
    FOR attempt IN 1..3 LOOP
        SELECT * INTO h FROM dpn.handsets WHERE site_id = f.site_id AND mac = m;
        IF FOUND THEN
            IF h.flat_id <> f.id THEN
                PERFORM dpn.broker_fail('D1004', 'mac',
                    'belongs to a handset of another flat: ' || m::text);
            END IF;
            RETURN h;
        END IF;
        SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM dpn.handsets
                                      WHERE flat_id = f.id AND suffix = 1) THEN 1
               ELSE (SELECT min(a.suffix) + 1 FROM dpn.handsets a
                      WHERE a.flat_id = f.id AND NOT EXISTS (
                        SELECT 1 FROM dpn.handsets z
                         WHERE z.flat_id = f.id AND z.suffix = a.suffix + 1)) END
          INTO sfx;
        IF sfx >= 10::numeric ^ f.w_handset THEN
            PERFORM dpn.broker_fail('D1003', NULL,
                'flat full: every handset number is in use');
        END IF;
        -- A concurrent insert of the same MAC elsewhere (or of this suffix
        -- by mgmtd) makes this do nothing; the loop then looks again.
        INSERT INTO dpn.handsets (flat_id, suffix, mac) VALUES (f.id, sfx, m)
        ON CONFLICT DO NOTHING RETURNING * INTO h;
        IF FOUND THEN
            PERFORM dpn.broker_audit('broker.enrol', 'handset:' || h.id,
                jsonb_build_object('flat_id', f.id, 'suffix', sfx, 'mac', m));
            RETURN h;
        END IF;
    END LOOP;
    PERFORM dpn.broker_fail('D1004', 'mac', 'could not enrol (concurrent changes): ' || m::text);
    RETURN NULL;
END $$;

-- Lowest free second address of block b, or NULL.
CREATE FUNCTION dpn.broker_free_addr(b dpn.blocks) RETURNS bigint
LANGUAGE sql AS $$
    SELECT a FROM generate_series(lower(b.range) + 1, upper(b.range) - 1) a
     WHERE NOT EXISTS (SELECT 1 FROM dpn.assignments x
                        WHERE x.block_id = b.id AND x.addr = a)
     ORDER BY a LIMIT 1
$$;

-- The block of flat f, created with p_n addresses when it has none.
CREATE FUNCTION dpn.broker_ensure_block(f dpn.flats, p_n integer) RETURNS dpn.blocks
LANGUAGE plpgsql AS $$
DECLARE
    b dpn.blocks;
BEGIN
    SELECT * INTO b FROM dpn.blocks WHERE flat_id = f.id;
    IF NOT FOUND THEN
        b := dpn.broker_new_block(f, p_n);
    END IF;
    RETURN b;
END $$;

-- Gives handset h of flat f a second address (growing the block when full);
-- returns its assignment. Caller holds the flat lock.
CREATE FUNCTION dpn.broker_assign_handset(f dpn.flats, h dpn.handsets)
RETURNS dpn.assignments
LANGUAGE plpgsql AS $$
DECLARE
    s dpn.sites;
    b dpn.blocks;
    a bigint;
    x dpn.assignments;
BEGIN
    SELECT * INTO x FROM dpn.assignments WHERE handset_id = h.id;
    IF FOUND THEN
        RETURN x;
    END IF;
    SELECT * INTO s FROM dpn.sites WHERE id = f.site_id;
    b := dpn.broker_ensure_block(f, s.block_size);
    a := dpn.broker_free_addr(b);
    IF a IS NULL THEN
        b := dpn.broker_grow(f, b);
        a := dpn.broker_free_addr(b);
    END IF;
    INSERT INTO dpn.assignments (site_id, flat_id, block_id, pool_id, block_range,
        circuit_id, handset_id, mac, addr)
    VALUES (f.site_id, f.id, b.id, b.pool_id, b.range, f.circuit_id, h.id, h.mac, a)
    RETURNING * INTO x;
    RETURN x;
END $$;

-- Gives gateway g of flat f the first address of the flat's block (made
-- with p_n addresses when there is none); returns its assignment.
CREATE FUNCTION dpn.broker_assign_gateway(f dpn.flats, g dpn.gateways, p_n integer)
RETURNS dpn.assignments
LANGUAGE plpgsql AS $$
DECLARE
    b dpn.blocks;
    x dpn.assignments;
BEGIN
    SELECT * INTO x FROM dpn.assignments WHERE gateway_id = g.id;
    IF FOUND THEN
        RETURN x;
    END IF;
    b := dpn.broker_ensure_block(f, p_n);
    INSERT INTO dpn.assignments (site_id, flat_id, block_id, pool_id, block_range,
        circuit_id, gateway_id, mac, addr)
    VALUES (f.site_id, f.id, b.id, b.pool_id, b.range, f.circuit_id, g.id, g.mac,
            lower(b.range))
    RETURNING * INTO x;
    RETURN x;
END $$;

-- Sets gateway g's MAC to m (learnt, or a replaced box); D1004 when another
-- device of the site has it. The assignment and its Kea reservation follow
-- by cascade and trigger.
CREATE FUNCTION dpn.broker_gateway_mac(f dpn.flats, g dpn.gateways, m macaddr)
RETURNS dpn.gateways
LANGUAGE plpgsql AS $$
BEGIN
    IF g.mac IS NOT DISTINCT FROM m THEN
        RETURN g;
    END IF;
    IF EXISTS (SELECT 1 FROM dpn.handsets WHERE site_id = f.site_id AND mac = m) THEN
        PERFORM dpn.broker_fail('D1004', 'gateway_mac', 'is a handset''s MAC: ' || m::text);
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

CREATE FUNCTION dpn.broker_handset_json(x dpn.assignments) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_build_object('mac', x.mac::text, 'suffix', h.suffix,
                              'address', dpn.ip4(x.addr))
      FROM dpn.handsets h WHERE h.id = x.handset_id
$$;

-- Every handset address of flat f, by suffix.
CREATE FUNCTION dpn.broker_flat_handsets(p_flat bigint) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('mac', x.mac::text,
               'suffix', h.suffix, 'address', dpn.ip4(x.addr)) ORDER BY h.suffix), '[]')
      FROM dpn.assignments x JOIN dpn.handsets h ON h.id = x.handset_id
     WHERE x.flat_id = p_flat
$$;

-- ------------------------------------------------------------ the API

-- Flow 1. Allots gateway p_gateway's flat a block (or returns the one it
-- has: idempotent), the first address to the gateway (learning its MAC), a
-- second address to each listed handset (unknown MACs enrolled). Answer:
-- {flat_id, block:{first,last,size}, gateway:{mac,address}, handsets:[{mac,
-- suffix,address}]} listing every handset of the flat with an address.
CREATE FUNCTION dpn.broker_allocate(gateway_id bigint, gateway_mac macaddr,
    handset_macs macaddr[]) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    g dpn.gateways;
    f dpn.flats;
    s dpn.sites;
    hs dpn.handsets[] := '{}';
    m macaddr;
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
    IF NOT FOUND THEN
        PERFORM dpn.broker_fail('D1001', 'gateway_id', 'no such gateway: ' || gateway_id);
    END IF;
    f := dpn.broker_lock_flat(g.flat_id);
    SELECT * INTO s FROM dpn.sites WHERE id = f.site_id;
    -- Everything that may wait on another transaction comes before the
    -- site lock (see the top of this file).
    g := dpn.broker_gateway_mac(f, g, gateway_mac);
    FOREACH m IN ARRAY handset_macs LOOP
        hs := hs || dpn.broker_handset(f, m);
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

-- Flow 2. A second address for the handset with MAC mac on flat flat_id
-- (enrolled when unknown); when the block is full it is extended or moved.
-- Idempotent: a MAC that has an address gets it back without any lock.
-- Answer: {mac, suffix, address, block}.
CREATE FUNCTION dpn.broker_add_handset(flat_id bigint, mac macaddr) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    f dpn.flats;
    h dpn.handsets;
    x dpn.assignments;
BEGIN
    PERFORM dpn.broker_check_isolation();
    PERFORM dpn.broker_check_mac(mac, 'mac');
    SELECT * INTO x FROM dpn.assignments a
     WHERE a.flat_id = broker_add_handset.flat_id AND a.mac = broker_add_handset.mac
       AND a.handset_id IS NOT NULL;
    IF NOT FOUND THEN
        f := dpn.broker_lock_flat(flat_id);
        IF EXISTS (SELECT 1 FROM dpn.gateways g WHERE g.flat_id = f.id
                      AND g.mac = broker_add_handset.mac) THEN
            PERFORM dpn.broker_fail('D1004', 'mac', 'is this flat''s gateway');
        END IF;
        h := dpn.broker_handset(f, mac);
        x := dpn.broker_assign_handset(f, h);
        PERFORM dpn.broker_audit('broker.add_handset', 'handset:' || h.id,
            jsonb_build_object('mac', mac, 'address', dpn.ip4(x.addr),
                               'block', dpn.block_json(x.block_range)));
    END IF;
    RETURN dpn.broker_handset_json(x) ||
        jsonb_build_object('block', dpn.block_json(x.block_range));
END $$;

-- The Kea hook's enrolment of a device first seen on a flat's port: the
-- flat by (site, circuit-id); the flat's gateway MAC gets the first address,
-- any other MAC is handled as broker_add_handset. Answer: {device:
-- "gateway"|"handset", flat_id, pool_id, mac, address, suffix?, block}.
CREATE FUNCTION dpn.broker_enrol(site_id bigint, circuit_id text, mac macaddr)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    f dpn.flats;
    g dpn.gateways;
    x dpn.assignments;
    r jsonb;
BEGIN
    IF site_id IS NULL THEN
        PERFORM dpn.broker_fail('D1004', 'site_id', 'is required');
    END IF;
    IF circuit_id IS NULL OR circuit_id !~ '^[!-~]{1,64}$' THEN
        PERFORM dpn.broker_fail('D1004', 'circuit_id', 'must be 1 to 64 printable characters');
    END IF;
    PERFORM dpn.broker_check_mac(mac, 'mac');
    SELECT * INTO f FROM dpn.flats t
     WHERE t.site_id = broker_enrol.site_id AND t.circuit_id = broker_enrol.circuit_id;
    IF NOT FOUND THEN
        PERFORM dpn.broker_fail('D1001', 'circuit_id', 'no flat with circuit-id '
            || circuit_id || ' in site ' || site_id);
    END IF;
    SELECT * INTO g FROM dpn.gateways t WHERE t.flat_id = f.id AND t.mac = broker_enrol.mac;
    IF NOT FOUND THEN
        r := dpn.broker_add_handset(f.id, mac);
        RETURN r || jsonb_build_object('device', 'handset', 'flat_id', f.id,
            'pool_id', (SELECT a.pool_id FROM dpn.assignments a
                         WHERE a.flat_id = f.id AND a.mac = broker_enrol.mac
                           AND a.handset_id IS NOT NULL));
    END IF;
    SELECT * INTO x FROM dpn.assignments a WHERE a.gateway_id = g.id;
    IF NOT FOUND THEN
        PERFORM dpn.broker_check_isolation();
        f := dpn.broker_lock_flat(f.id);
        x := dpn.broker_assign_gateway(f, g,
                 (SELECT s.block_size FROM dpn.sites s WHERE s.id = f.site_id));
        PERFORM dpn.broker_audit('broker.enrol', 'gateway:' || g.id,
            jsonb_build_object('mac', mac, 'address', dpn.ip4(x.addr)));
    END IF;
    RETURN jsonb_build_object('device', 'gateway', 'flat_id', f.id,
        'pool_id', x.pool_id, 'mac', x.mac::text, 'address', dpn.ip4(x.addr),
        'block', dpn.block_json(x.block_range));
END $$;

-- Flow 3. Frees the address of the handset with MAC mac on flat flat_id (the
-- handset itself and its credentials stay). Answer: {deleted: [addresses]},
-- empty when it had none. D1001 for an unknown flat or MAC.
CREATE FUNCTION dpn.broker_delete_handset(flat_id bigint, mac macaddr) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    f dpn.flats;
    h dpn.handsets;
    gone bigint[];
BEGIN
    PERFORM dpn.broker_check_mac(mac, 'mac');
    f := dpn.broker_lock_flat(flat_id);
    SELECT * INTO h FROM dpn.handsets t WHERE t.flat_id = f.id AND t.mac = broker_delete_handset.mac;
    IF NOT FOUND THEN
        PERFORM dpn.broker_fail('D1001', 'mac', 'no handset with this MAC on flat '
            || f.id || ': ' || mac::text);
    END IF;
    WITH d AS (DELETE FROM dpn.assignments a WHERE a.handset_id = h.id RETURNING addr)
    SELECT coalesce(array_agg(addr), '{}') INTO gone FROM d;
    IF cardinality(gone) > 0 THEN
        PERFORM dpn.broker_audit('broker.delete_handset', 'handset:' || h.id,
            jsonb_build_object('mac', mac, 'address', dpn.ip4(gone[1])));
    END IF;
    RETURN jsonb_build_object('deleted',
        (SELECT coalesce(jsonb_agg(dpn.ip4(a)), '[]') FROM unnest(gone) a));
END $$;

-- Flow 4. The flat's block and every assignment in it go; the block returns
-- to the pool. The gateway row (its credentials) goes too unless
-- keep_gateway, which the gateway's own deletion request uses so that it
-- can ask again. Answer: {deleted: [addresses], block}. Idempotent.
CREATE FUNCTION dpn.broker_delete_gateway(flat_id bigint,
    keep_gateway boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    f dpn.flats;
    b dpn.blocks;
    gone jsonb;
BEGIN
    f := dpn.broker_lock_flat(flat_id);
    SELECT coalesce(jsonb_agg(dpn.ip4(a.addr) ORDER BY a.addr), '[]') INTO gone
      FROM dpn.assignments a WHERE a.flat_id = f.id;
    DELETE FROM dpn.blocks t WHERE t.flat_id = f.id RETURNING * INTO b;
    IF NOT coalesce(keep_gateway, false) THEN
        DELETE FROM dpn.gateways t WHERE t.flat_id = f.id;
    END IF;
    PERFORM dpn.broker_audit('broker.delete_gateway', 'flat:' || f.id,
        jsonb_build_object('block', dpn.block_json(b.range), 'deleted', gone,
                           'keep_gateway', coalesce(keep_gateway, false)));
    RETURN jsonb_build_object('deleted', gone, 'block', dpn.block_json(b.range));
END $$;

-- ------------------------------------------------- the gateway's report

-- A dotted quad as bigint; D1004 naming field otherwise.
CREATE FUNCTION dpn.broker_parse_ip4(t text, field text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    o text[];
BEGIN
    o := regexp_match(coalesce(t, ''), '^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$');
    IF o IS NULL OR o[1]::int > 255 OR o[2]::int > 255 OR o[3]::int > 255
       OR o[4]::int > 255 THEN
        PERFORM dpn.broker_fail('D1004', field, 'not an IPv4 address');
    END IF;
    RETURN o[1]::bigint * 16777216 + o[2]::bigint * 65536 + o[3]::bigint * 256 + o[4]::bigint;
END $$;

-- A MAC written aa:bb:cc:dd:ee:ff (or with dashes) as macaddr; D1004 else.
CREATE FUNCTION dpn.broker_parse_mac(t text, field text) RETURNS macaddr
LANGUAGE plpgsql AS $$
BEGIN
    IF t IS NULL OR t !~ '^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$' THEN
        PERFORM dpn.broker_fail('D1004', field, 'not a MAC address');
    END IF;
    RETURN t::macaddr;
END $$;

-- Flow 3's report: the gateway's view of its block, {allotted: [{mac,
-- address}], free: [address]}, reconciled with the database, which wins
-- (nothing is changed). Answer: {block, gateway:{mac,address}, assignments:
-- [{mac,address,device,suffix}], differences: [{address, reported, actual}]}
-- where reported is a MAC, "free", or null (a handset address the gateway
-- did not mention) and actual a MAC, "free" (in the block, unassigned) or
-- "outside" (not in the flat's block). Up to 4096 entries each.
CREATE FUNCTION dpn.broker_report(gateway_id bigint, allotted jsonb, free jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    g dpn.gateways;
    b dpn.blocks;
    ra bigint[] := '{}';
    rm text[] := '{}';
    e jsonb;
    a bigint;
    diffs jsonb;
    asg jsonb;
BEGIN
    IF gateway_id IS NULL THEN
        PERFORM dpn.broker_fail('D1004', 'gateway_id', 'is required');
    END IF;
    allotted := coalesce(allotted, '[]');
    free := coalesce(free, '[]');
    IF jsonb_typeof(allotted) <> 'array' OR jsonb_array_length(allotted) > 4096 THEN
        PERFORM dpn.broker_fail('D1004', 'allotted', 'must be an array of at most 4096 entries');
    END IF;
    IF jsonb_typeof(free) <> 'array' OR jsonb_array_length(free) > 4096 THEN
        PERFORM dpn.broker_fail('D1004', 'free', 'must be an array of at most 4096 entries');
    END IF;
    FOR i IN 0..jsonb_array_length(allotted) - 1 LOOP
        e := allotted -> i;
        IF jsonb_typeof(e) <> 'object' OR jsonb_typeof(e -> 'mac') IS DISTINCT FROM 'string'
           OR jsonb_typeof(e -> 'address') IS DISTINCT FROM 'string' THEN
            PERFORM dpn.broker_fail('D1004', format('allotted[%s]', i),
                'must be {"mac": string, "address": string}');
        END IF;
        a := dpn.broker_parse_ip4(e ->> 'address', format('allotted[%s].address', i));
        IF a = ANY (ra) THEN
            PERFORM dpn.broker_fail('D1004', format('allotted[%s].address', i), 'listed twice');
        END IF;
        ra := ra || a;
        rm := rm || dpn.broker_parse_mac(e ->> 'mac', format('allotted[%s].mac', i))::text;
    END LOOP;
    FOR i IN 0..jsonb_array_length(free) - 1 LOOP
        IF jsonb_typeof(free -> i) IS DISTINCT FROM 'string' THEN
            PERFORM dpn.broker_fail('D1004', format('free[%s]', i), 'not an IPv4 address');
        END IF;
        a := dpn.broker_parse_ip4(free ->> i, format('free[%s]', i));
        IF a = ANY (ra) THEN
            PERFORM dpn.broker_fail('D1004', format('free[%s]', i), 'listed twice');
        END IF;
        ra := ra || a;
        rm := rm || 'free'::text;
    END LOOP;
    SELECT * INTO g FROM dpn.gateways t WHERE t.id = broker_report.gateway_id;
    IF NOT FOUND THEN
        PERFORM dpn.broker_fail('D1001', 'gateway_id', 'no such gateway: ' || gateway_id);
    END IF;
    SELECT * INTO b FROM dpn.blocks t WHERE t.flat_id = g.flat_id;
    SELECT coalesce(jsonb_agg(jsonb_build_object('mac', x.mac::text,
               'address', dpn.ip4(x.addr),
               'device', CASE WHEN x.gateway_id IS NULL THEN 'handset' ELSE 'gateway' END,
               'suffix', h.suffix) ORDER BY x.addr), '[]')
      INTO asg
      FROM dpn.assignments x LEFT JOIN dpn.handsets h ON h.id = x.handset_id
     WHERE x.flat_id = g.flat_id;
    WITH rep AS (SELECT * FROM unnest(ra, rm) AS r(addr, said)),
         act AS (SELECT x.addr, x.mac::text AS mac, x.gateway_id IS NOT NULL AS gw
                   FROM dpn.assignments x WHERE x.flat_id = g.flat_id),
         d AS (SELECT coalesce(rep.addr, act.addr) AS addr, rep.said, act.gw,
                      CASE WHEN act.mac IS NOT NULL THEN act.mac
                           WHEN b.range @> rep.addr THEN 'free'
                           ELSE 'outside' END AS actual
                 FROM rep FULL JOIN act ON act.addr = rep.addr)
    SELECT coalesce(jsonb_agg(jsonb_build_object('address', dpn.ip4(d.addr),
               'reported', d.said, 'actual', d.actual) ORDER BY d.addr), '[]')
      INTO diffs
      FROM d
     WHERE d.said IS DISTINCT FROM d.actual
       AND NOT (d.said IS NULL AND d.gw);   -- the gateway need not list itself
    IF jsonb_array_length(diffs) > 0 THEN
        PERFORM dpn.broker_audit('broker.report', 'gateway:' || g.id,
            jsonb_build_object('differences', diffs));
    END IF;
    RETURN jsonb_build_object('block', dpn.block_json(b.range),
        'gateway', jsonb_build_object('mac', g.mac::text,
                                      'address', dpn.ip4(lower(b.range))),
        'assignments', asg, 'differences', diffs);
END $$;

-- Per pool of the site: {pool_id, cidr, size (usable addresses), allotted
-- (addresses in blocks), free (size - allotted), assigned (addresses held by
-- devices), blocks}. D1001 for an unknown site.
CREATE FUNCTION dpn.pool_utilisation(site_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r jsonb;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM dpn.sites s WHERE s.id = pool_utilisation.site_id) THEN
        PERFORM dpn.broker_fail('D1001', 'site_id', 'no such site: ' || coalesce(site_id::text, 'null'));
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_build_object('pool_id', p.id, 'cidr', p.cidr::text,
               'size', upper(p.range) - lower(p.range), 'allotted', u.allotted,
               'free', upper(p.range) - lower(p.range) - u.allotted,
               'assigned', u.assigned, 'blocks', u.blocks) ORDER BY p.id), '[]')
      INTO r
      FROM dpn.pools p
      CROSS JOIN LATERAL (
          SELECT coalesce(sum(upper(b.range) - lower(b.range)), 0)::bigint AS allotted,
                 count(*) AS blocks,
                 (SELECT count(*) FROM dpn.assignments x WHERE x.pool_id = p.id) AS assigned
            FROM dpn.blocks b WHERE b.pool_id = p.id) u
     WHERE p.site_id = pool_utilisation.site_id;
    RETURN r;
END $$;
