-- schema/004_lookups_by_key.sql — lookups that stay fast whatever the
-- planner statistics say, found with bench/broker_sql.sh:
-- * each assignment remembers the host_id of its Kea reservation, so that
--   changing or dropping it is a primary-key lookup. Looking the row up by
--   identifier (002) let a cached generic plan pick Kea's index on
--   dhcp_identifier_type alone while public.hosts grew faster than
--   autovacuum analysed it: 12 ms per deleted assignment at 6,000
--   reservations. Replaces 002's trigger.
-- * the gap search is one LIMIT 1 query, and a flat's handsets are listed
--   by primary-key lookups (below).

ALTER TABLE dpn.assignments ADD COLUMN kea_host_id integer;
ALTER TABLE dpn.assignments
    ADD CONSTRAINT assignments_kea_host_unique UNIQUE (kea_host_id);

UPDATE dpn.assignments a SET kea_host_id = h.host_id
  FROM public.hosts h
 WHERE h.dhcp_identifier = dpn.kea_flex_id(a.circuit_id, a.mac)
   AND h.dhcp_identifier_type = 4 AND h.dhcp4_subnet_id = a.pool_id;

DROP TRIGGER assignments_kea_row ON dpn.assignments;
DROP TRIGGER assignments_kea_update ON dpn.assignments;

-- Writes the reservation of assignment a (the database wins over a stale row
-- with the same identifier) and returns its host_id. The ON CONFLICT arbiter
-- is Kea's unique index, whatever the statistics say.
CREATE FUNCTION dpn.kea_host_write(a dpn.assignments) RETURNS integer
LANGUAGE sql AS $$
    INSERT INTO public.hosts (dhcp_identifier, dhcp_identifier_type,
                              dhcp4_subnet_id, ipv4_address)
    VALUES (dpn.kea_flex_id(a.circuit_id, a.mac), 4, a.pool_id, a.addr)
    ON CONFLICT (dhcp_identifier, dhcp_identifier_type, dhcp4_subnet_id)
        WHERE dhcp4_subnet_id IS NOT NULL
    DO UPDATE SET ipv4_address = EXCLUDED.ipv4_address
    RETURNING host_id
$$;

-- Removes the reservation of assignment a: by host_id, or by identifier for
-- a row written before this migration.
CREATE FUNCTION dpn.kea_host_remove(a dpn.assignments) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF a.kea_host_id IS NOT NULL THEN
        DELETE FROM public.hosts WHERE host_id = a.kea_host_id;
    ELSE
        PERFORM dpn.kea_host_drop(a);
    END IF;
END $$;

-- BEFORE INSERT / UPDATE: the reservation is written first so that the new
-- row carries its host_id; if the assignment is then refused, the statement
-- fails and the reservation goes with it.
CREATE FUNCTION dpn.assignments_kea_before() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM dpn.kea_host_remove(OLD);
        IF OLD.addr <> NEW.addr OR OLD.mac <> NEW.mac OR OLD.pool_id <> NEW.pool_id THEN
            PERFORM dpn.lease_deletion_queue(OLD);
        END IF;
    END IF;
    NEW.kea_host_id := dpn.kea_host_write(NEW);
    RETURN NEW;
END $$;

CREATE FUNCTION dpn.assignments_kea_after_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dpn.kea_host_remove(OLD);
    PERFORM dpn.lease_deletion_queue(OLD);
    RETURN NULL;
END $$;

CREATE TRIGGER assignments_kea_insert BEFORE INSERT ON dpn.assignments
    FOR EACH ROW EXECUTE FUNCTION dpn.assignments_kea_before();
-- Only what Kea sees: a change of block_range alone (a block grown in place)
-- leaves the reservation as it is.
CREATE TRIGGER assignments_kea_update
    BEFORE UPDATE OF addr, mac, circuit_id, pool_id ON dpn.assignments
    FOR EACH ROW
    WHEN ((OLD.addr, OLD.mac, OLD.circuit_id, OLD.pool_id)
          IS DISTINCT FROM (NEW.addr, NEW.mac, NEW.circuit_id, NEW.pool_id))
    EXECUTE FUNCTION dpn.assignments_kea_before();
CREATE TRIGGER assignments_kea_delete AFTER DELETE ON dpn.assignments
    FOR EACH ROW EXECUTE FUNCTION dpn.assignments_kea_after_delete();

-- The gap search of 003 walked the blocks in a PL/pgSQL FOR loop, which is
-- planned for the whole result (sort of every block after p_from: 1.7 ms at
-- 7,000 blocks). One query with LIMIT 1 is planned to stop at the first fit
-- (index-only scan of blocks_pool_lower, streamed through lead()).
CREATE OR REPLACE FUNCTION dpn.broker_gap(p_pool bigint, p_hi bigint,
    p_from bigint, p_n integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    prev_hi bigint;
    next_lo bigint;
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
    RETURN (SELECT g.s FROM (
                SELECT upper(b.range) AS s,
                       lead(lower(b.range)) OVER (ORDER BY lower(b.range)) AS e
                  FROM dpn.blocks b
                 WHERE b.pool_id = p_pool AND lower(b.range) >= p_from
                 ORDER BY lower(b.range)) g
             WHERE least(coalesce(g.e, p_hi), p_hi) - g.s >= p_n
             LIMIT 1);
END $$;

-- Every handset address of a flat, by suffix. A join let the planner hash
-- the whole handsets table (statistics of an emptier table); the suffix is
-- a primary-key lookup per assignment of the flat.
CREATE OR REPLACE FUNCTION dpn.broker_flat_handsets(p_flat bigint) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('mac', x.mac::text,
               'suffix', x.suffix, 'address', dpn.ip4(x.addr)) ORDER BY x.suffix), '[]')
      FROM (SELECT a.mac, a.addr,
                   (SELECT h.suffix FROM dpn.handsets h WHERE h.id = a.handset_id) AS suffix
              FROM dpn.assignments a
             WHERE a.flat_id = p_flat AND a.handset_id IS NOT NULL) x
$$;
