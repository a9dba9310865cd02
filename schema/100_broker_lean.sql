-- schema/100_broker_lean.sql — less PostgreSQL work per broker request
-- (issue 14, "Must reach"; figures in docs/bench.md, "Issue 14, third
-- pass"). Same arguments, same answers, same rows written, same audit rows.
-- Profiled with pg_stat_statements (track = all) and perf on the backend:
-- * every allocation answered its handsets through broker_flat_handsets, a
--   LANGUAGE sql function parsed and planned again on each call (perf:
--   ~15 % of the backend's time in allocate+delete cycles went to such
--   calls, this one and kea_flex_id's, see 102). An allocation
--   that made the flat's block in this call and lists no handsets has none
--   with an address: it answers [] without the query. Other allocations
--   still call it (a PL/pgSQL restatement was tried and dropped in the
--   second pass: its generic plan degrades as the table grows).
-- * the block's range for the answer and the audit row comes from the
--   gateway's assignment when no handset was assigned (the block cannot
--   have grown), else it is read once; block_json is built once.
-- * the Kea triggers did their work through one more PL/pgSQL call per row
--   each (kea_host_write, kea_host_remove, lease_deletion_queue,
--   hosts_notify_row: a row passed as a composite, ~4 us a call): the
--   statements are now in the trigger bodies. The helpers stay for their
--   other callers.
-- * broker_add_handset called broker_handset through its two-argument
--   wrapper and read the handset again for its answer.
-- * broker_audit asked broker_actor (one more call) for the actor.

CREATE OR REPLACE FUNCTION dpn.assignments_kea_before() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM dpn.kea_host_remove(OLD);
        IF OLD.addr <> NEW.addr OR OLD.mac <> NEW.mac OR OLD.pool_id <> NEW.pool_id THEN
            PERFORM dpn.lease_deletion_queue(OLD);
        END IF;
    END IF;
    -- kea_host_write's statement (004, 016).
    INSERT INTO public.hosts (dhcp_identifier, dhcp_identifier_type,
                              dhcp4_subnet_id, ipv4_address)
    VALUES (dpn.kea_flex_id(NEW.circuit_id, NEW.mac), 4, NEW.pool_id, NEW.addr)
    ON CONFLICT (dhcp_identifier, dhcp_identifier_type, dhcp4_subnet_id)
        WHERE dhcp4_subnet_id IS NOT NULL
    DO UPDATE SET ipv4_address = EXCLUDED.ipv4_address   -- the database wins
    RETURNING host_id INTO NEW.kea_host_id;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION dpn.assignments_kea_after_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- kea_host_remove's and lease_deletion_queue's statements.
    IF OLD.kea_host_id IS NOT NULL THEN
        DELETE FROM public.hosts WHERE host_id = OLD.kea_host_id;
    ELSE
        PERFORM dpn.kea_host_drop(OLD);
    END IF;
    INSERT INTO dpn.lease_deletions (site_id, pool_id, addr, mac)
    VALUES (OLD.site_id, OLD.pool_id, OLD.addr, OLD.mac);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION dpn.hosts_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- hosts_notify_row's statement, for the old and the new row; a row
    -- without a DHCPv4 subnet is not a DHCPv4 reservation.
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.dhcp4_subnet_id IS NOT NULL THEN
        PERFORM pg_notify('dpn_hosts', OLD.dhcp4_subnet_id || ' ' ||
                          OLD.dhcp_identifier_type || ' ' ||
                          encode(OLD.dhcp_identifier, 'hex') || ' ' ||
                          coalesce(OLD.ipv4_address, 0));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.dhcp4_subnet_id IS NOT NULL THEN
        PERFORM pg_notify('dpn_hosts', NEW.dhcp4_subnet_id || ' ' ||
                          NEW.dhcp_identifier_type || ' ' ||
                          encode(NEW.dhcp_identifier, 'hex') || ' ' ||
                          coalesce(NEW.ipv4_address, 0));
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION dpn.broker_audit(action text, object text, detail jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- broker_actor's expression.
    INSERT INTO dpn.audit_log (actor, action, object, detail)
    VALUES (coalesce(nullif(current_setting('dpn.actor', true), ''), 'db:' || session_user),
            action, object, detail);
END $$;

-- Flow 1 (003, 013): the same checks, locks, rows and answer.
CREATE OR REPLACE FUNCTION dpn.broker_allocate(gateway_id bigint, gateway_mac macaddr,
    handset_macs macaddr[], gone_is_null boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    g dpn.gateways;
    f dpn.flats;
    s dpn.sites;
    hs dpn.handsets[] := '{}';
    gx dpn.assignments;
    r int8range;
    bj jsonb;
    had_block boolean;
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
    -- Under the flat's lock: no block now means this call makes it, and
    -- then only the handsets it assigns below have addresses in it.
    PERFORM 1 FROM dpn.blocks WHERE flat_id = f.id;
    had_block := FOUND;
    gx := dpn.broker_assign_gateway(f, g,
              dpn.broker_block_size(s, 1 + cardinality(handset_macs)));
    FOR i IN 1..cardinality(hs) LOOP
        PERFORM dpn.broker_assign_handset(f, hs[i]);
    END LOOP;
    IF cardinality(hs) = 0 THEN
        r := gx.block_range;       -- kept equal to the block's by its FK
    ELSE
        SELECT range INTO r FROM dpn.blocks WHERE flat_id = f.id;
    END IF;
    bj := dpn.block_json(r);
    PERFORM dpn.broker_audit('broker.allocate', 'flat:' || f.id, jsonb_build_object(
        'gateway_id', g.id, 'block', bj,
        'handset_macs', to_jsonb(handset_macs::text[])));
    RETURN jsonb_build_object('flat_id', f.id, 'block', bj,
        'gateway', jsonb_build_object('mac', g.mac::text,
                                      'address', dpn.ip4(lower(r))),
        'handsets', CASE WHEN NOT had_block AND cardinality(hs) = 0
                         THEN '[]'::jsonb
                         ELSE dpn.broker_flat_handsets(f.id) END);
END $$;

-- Flow 2 (003): the same checks, lock, rows and answer.
CREATE OR REPLACE FUNCTION dpn.broker_add_handset(flat_id bigint, mac macaddr)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    f dpn.flats;
    h dpn.handsets;
    x dpn.assignments;
    bj jsonb;
BEGIN
    PERFORM dpn.broker_check_isolation();
    PERFORM dpn.broker_check_mac(mac, 'mac');
    SELECT * INTO x FROM dpn.assignments a
     WHERE a.flat_id = broker_add_handset.flat_id AND a.mac = broker_add_handset.mac
       AND a.handset_id IS NOT NULL;
    IF FOUND THEN
        RETURN dpn.broker_handset_json(x) ||
            jsonb_build_object('block', dpn.block_json(x.block_range));
    END IF;
    f := dpn.broker_lock_flat(flat_id);
    IF EXISTS (SELECT 1 FROM dpn.gateways g WHERE g.flat_id = f.id
                  AND g.mac = broker_add_handset.mac) THEN
        PERFORM dpn.broker_fail('D1004', 'mac', 'is this flat''s gateway');
    END IF;
    h := dpn.broker_handset(f, mac, 'mac');
    x := dpn.broker_assign_handset(f, h);
    bj := dpn.block_json(x.block_range);
    PERFORM dpn.broker_audit('broker.add_handset', 'handset:' || h.id,
        jsonb_build_object('mac', mac, 'address', dpn.ip4(x.addr), 'block', bj));
    RETURN jsonb_build_object('mac', x.mac::text, 'suffix', h.suffix,
                              'address', dpn.ip4(x.addr), 'block', bj);
END $$;
