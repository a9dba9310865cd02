-- schema/011_probation_aware_allocation.sql — the broker never hands out an
-- address that DHCP holds back after a DECLINE (dpn.dhcp_probation, 010):
-- Kea keeps such an address for decline-probation-period and would serve the
-- new device nothing until then. When every free address of the block is on
-- probation, broker_free_addr answers NULL and the caller grows the block,
-- as for a full one. The decline move of 010 now asks the same function, so
-- one query decides what "free" means.

CREATE OR REPLACE FUNCTION dpn.broker_free_addr(b dpn.blocks) RETURNS bigint
LANGUAGE sql AS $$
    SELECT a FROM generate_series(lower(b.range) + 1, upper(b.range) - 1) a
     WHERE NOT EXISTS (SELECT 1 FROM dpn.assignments x
                        WHERE x.block_id = b.id AND x.addr = a)
       AND NOT EXISTS (SELECT 1 FROM dpn.dhcp_probation p
                        WHERE p.site_id = b.site_id AND p.addr = a
                          AND p.until > now())
     ORDER BY a LIMIT 1
$$;

CREATE OR REPLACE FUNCTION dpn.dhcp_move_declined(p_assignment bigint, p_addr bigint)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    a     dpn.assignments;
    b     dpn.blocks;
    v_new bigint;
BEGIN
    SELECT * INTO a FROM dpn.assignments WHERE id = p_assignment;
    PERFORM dpn.broker_lock_flat(a.flat_id);
    SELECT * INTO a FROM dpn.assignments WHERE id = p_assignment AND addr = p_addr;
    IF NOT FOUND THEN
        RETURN;             -- moved or gone meanwhile
    END IF;
    SELECT * INTO b FROM dpn.blocks WHERE id = a.block_id;
    v_new := dpn.broker_free_addr(b);
    IF v_new IS NOT NULL THEN
        UPDATE dpn.assignments SET addr = v_new WHERE id = a.id;
    END IF;
EXCEPTION WHEN unique_violation OR check_violation OR SQLSTATE 'D1001' THEN
    RAISE LOG 'dpn.dhcp_move_declined(%): %', p_assignment, SQLERRM;
END $$;
