-- schema/015_declined_full_block.sql — a handset whose address was declined
-- gets another one even when its block is full (issue 14 item 8): the block
-- grows (in place, or moves to a bigger one) as for a new handset, instead
-- of leaving the handset without an address for the whole probation (Kea
-- refuses its reserved address: ALLOC_ENGINE_V4_DISCOVER_ADDRESS_CONFLICT).
-- Replaces 011's version. Still never raises: a block at the site's limit
-- (D1003) or a pool without room (D1002) is logged and the handset waits
-- for the end of the probation, as before.
CREATE OR REPLACE FUNCTION dpn.dhcp_move_declined(p_assignment bigint, p_addr bigint)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    a     dpn.assignments;
    b     dpn.blocks;
    f     dpn.flats;
    v_new bigint;
BEGIN
    SELECT * INTO a FROM dpn.assignments WHERE id = p_assignment;
    f := dpn.broker_lock_flat(a.flat_id);
    SELECT * INTO a FROM dpn.assignments WHERE id = p_assignment AND addr = p_addr;
    IF NOT FOUND THEN
        RETURN;             -- moved or gone meanwhile
    END IF;
    SELECT * INTO b FROM dpn.blocks WHERE id = a.block_id;
    v_new := dpn.broker_free_addr(b);
    IF v_new IS NULL THEN
        b := dpn.broker_grow(f, b);
        -- A moved block put every device at new addresses (none on
        -- probation): the handset has its new one already.
        SELECT * INTO a FROM dpn.assignments WHERE handset_id = a.handset_id;
        IF a.addr <> p_addr THEN
            RETURN;
        END IF;
        v_new := dpn.broker_free_addr(b);
    END IF;
    IF v_new IS NOT NULL THEN
        UPDATE dpn.assignments SET addr = v_new WHERE id = a.id;
    END IF;
EXCEPTION WHEN unique_violation OR check_violation OR SQLSTATE 'D1001'
               OR SQLSTATE 'D1002' OR SQLSTATE 'D1003' THEN
    RAISE LOG 'dpn.dhcp_move_declined(%): %', p_assignment, SQLERRM;
END $$;
