-- schema/017_gateway_gone.sql — a gateway deleted while its own handset,
-- deletion or report request runs gets the answer of a request that came
-- after the deletion (issue 14; 013 covered only the allocation). The
-- gateway's entry points below lock its flat, read the gateway again in a
-- fresh statement and answer NULL when it is gone (mgmtd: 401), never
-- D1001 naming an internal id nor a constraint; then they call the flat's
-- function of 003 (which takes the same lock again: already held). Every
-- gateway deletion holds the flat's lock (broker_delete_gateway, or the
-- flat's own deletion), so the read after the lock sees it committed.

-- The id of gateway p_gateway's flat, locked FOR NO KEY UPDATE (FOR SHARE
-- when p_share), or NULL when the gateway or its flat is gone once the
-- lock is held.
CREATE FUNCTION dpn.broker_gateway_flat(p_gateway bigint, p_share boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    fid bigint;
BEGIN
    SELECT g.flat_id INTO fid FROM dpn.gateways g WHERE g.id = p_gateway;
    IF p_share THEN
        PERFORM 1 FROM dpn.flats f WHERE f.id = fid FOR SHARE;
    ELSE
        PERFORM 1 FROM dpn.flats f WHERE f.id = fid FOR NO KEY UPDATE;
    END IF;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM dpn.gateways g
                                 WHERE g.id = p_gateway AND g.flat_id = fid) THEN
        RETURN NULL;
    END IF;
    RETURN fid;
END $$;

-- /broker/handsets: broker_add_handset on the gateway's flat. A MAC that
-- already has an address gets it back without any lock, as before (read
-- in a snapshot where the gateway existed: served before the deletion).
CREATE FUNCTION dpn.broker_gateway_add_handset(gateway_id bigint, mac macaddr)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    x dpn.assignments;
    fid bigint;
BEGIN
    SELECT a.* INTO x FROM dpn.gateways g
      JOIN dpn.assignments a ON a.flat_id = g.flat_id
     WHERE g.id = broker_gateway_add_handset.gateway_id
       AND a.mac = broker_gateway_add_handset.mac AND a.handset_id IS NOT NULL;
    IF FOUND THEN
        RETURN dpn.broker_handset_json(x) ||
            jsonb_build_object('block', dpn.block_json(x.block_range));
    END IF;
    fid := dpn.broker_gateway_flat(gateway_id);
    RETURN CASE WHEN fid IS NOT NULL THEN dpn.broker_add_handset(fid, mac) END;
END $$;

-- /broker/delete with a MAC: broker_delete_handset on the gateway's flat.
CREATE FUNCTION dpn.broker_gateway_delete_handset(gateway_id bigint, mac macaddr)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    fid bigint := dpn.broker_gateway_flat(gateway_id);
BEGIN
    RETURN CASE WHEN fid IS NOT NULL THEN dpn.broker_delete_handset(fid, mac) END;
END $$;

-- /broker/delete with "gateway": true: broker_delete_gateway of its flat,
-- keeping the gateway's row (its credentials).
CREATE FUNCTION dpn.broker_gateway_delete(gateway_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    fid bigint := dpn.broker_gateway_flat(gateway_id);
BEGIN
    RETURN CASE WHEN fid IS NOT NULL
                THEN dpn.broker_delete_gateway(fid, keep_gateway => true) END;
END $$;

-- /broker/report: broker_report with the flat locked FOR SHARE first, so
-- a deletion under way is waited for and then seen.
CREATE FUNCTION dpn.broker_gateway_report(gateway_id bigint, allotted jsonb, free jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF dpn.broker_gateway_flat(gateway_id, true) IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN dpn.broker_report(gateway_id, allotted, free);
END $$;
