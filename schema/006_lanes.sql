-- schema/006_lanes.sql — new blocks of one site made in parallel. Each pool
-- is split into lanes (up to 16 address ranges of at least 1,024 addresses)
-- with an advisory lock each. A new block first goes to the end of the
-- first lane whose lock is free and which has room there (without
-- contention lane 0 fills first, then lane 1, ...); only when no lane
-- can take it does the broker fall back to the exclusive path of 003 (holes,
-- growth, moves), which now takes the site lock and then every lane lock in
-- ascending order. Why this cannot deadlock: docs/broker.md, Concurrency.

-- Lanes of pool p: one per 1,024 usable addresses, 1 to 16.
CREATE FUNCTION dpn.pool_lanes(p dpn.pools) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT greatest(1, least(16, ((upper(p.range) - lower(p.range)) / 1024)::integer))
$$;

-- Lane i of pool p: equal parts of the usable range, the last one to its end.
CREATE FUNCTION dpn.pool_lane_range(p dpn.pools, i integer) RETURNS int8range
LANGUAGE sql IMMUTABLE AS $$
    SELECT int8range(lower(p.range) + i * w,
                     CASE WHEN i = k - 1 THEN upper(p.range)
                          ELSE lower(p.range) + (i + 1) * w END)
      FROM (SELECT dpn.pool_lanes(p) AS k,
                   (upper(p.range) - lower(p.range)) / dpn.pool_lanes(p) AS w) x
$$;

-- The advisory lock key of lane i of pool p (key space 0x44504e32 "DPN2").
CREATE FUNCTION dpn.pool_lane_key(pool_id bigint, i integer) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT ((pool_id * 16 + i) % 2147483647)::integer
$$;

-- Start of p_n free addresses at the end of lane lr of pool p_pool (after
-- the lane's highest block, or a block reaching into it from below), or NULL.
CREATE FUNCTION dpn.broker_lane_room(p_pool bigint, lr int8range, p_n integer)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    a bigint;
BEGIN
    SELECT upper(b.range) INTO a FROM dpn.blocks b
     WHERE b.pool_id = p_pool AND lower(b.range) < upper(lr)
     ORDER BY lower(b.range) DESC LIMIT 1;
    a := greatest(coalesce(a, lower(lr)), lower(lr));
    RETURN CASE WHEN upper(lr) - a >= p_n THEN a END;
END $$;

-- Takes lane i of pool p if it has room for p_n at its end: returns the
-- start, holding the lane's lock to the end of the transaction. Without
-- p_wait a busy lane is skipped. Otherwise NULL, holding nothing (the
-- subtransaction of the EXCEPTION block gives the lock back).
CREATE FUNCTION dpn.broker_lane_try(p dpn.pools, i integer, p_n integer,
    p_wait boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    a bigint;
BEGIN
    BEGIN
        IF p_wait THEN
            PERFORM pg_advisory_xact_lock(1146113586, dpn.pool_lane_key(p.id, i));
        ELSIF NOT pg_try_advisory_xact_lock(1146113586, dpn.pool_lane_key(p.id, i)) THEN
            RETURN NULL;
        END IF;
        a := dpn.broker_lane_room(p.id, dpn.pool_lane_range(p, i), p_n);
        IF a IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'D1099';   -- give the lane back
        END IF;
        RETURN a;
    EXCEPTION WHEN SQLSTATE 'D1099' THEN
        RETURN NULL;
    END;
END $$;

-- The exclusive path: the site lock, then every lane of every pool of the
-- site in ascending order. Whoever holds a lane alone never waits for
-- another broker lock, so these waits always end.
CREATE OR REPLACE FUNCTION dpn.broker_lock_site(site_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    p dpn.pools;
BEGIN
    PERFORM pg_advisory_xact_lock(1146113585, (site_id % 2147483647)::integer);
    FOR p IN SELECT * FROM dpn.pools t WHERE t.site_id = broker_lock_site.site_id
             ORDER BY t.id LOOP
        FOR i IN 0..dpn.pool_lanes(p) - 1 LOOP
            PERFORM pg_advisory_xact_lock(1146113586, dpn.pool_lane_key(p.id, i));
        END LOOP;
    END LOOP;
END $$;

-- A new block of p_n addresses for flat f at the end of a lane: first a
-- lane that is free (pools in id order, lanes in order, so that without
-- contention blocks follow each other), then, when every lane with room is
-- busy, waiting for one of them (starting at a lane picked by the backend's
-- pid, to spread the waiters); a lane that looks full is not locked at all.
-- No lane with room: the exclusive path of 003 (holes).
CREATE OR REPLACE FUNCTION dpn.broker_new_block(f dpn.flats, p_n integer)
RETURNS dpn.blocks
LANGUAGE plpgsql AS $$
DECLARE
    p dpn.pools;
    a bigint;
    b dpn.blocks;
    k integer;
    j integer;
BEGIN
    <<passes>>
    FOR pass IN 0..1 LOOP
        FOR p IN SELECT * FROM dpn.pools WHERE site_id = f.site_id ORDER BY id LOOP
            k := dpn.pool_lanes(p);
            FOR i IN 0..k - 1 LOOP
                j := CASE WHEN pass = 0 THEN i ELSE (i + pg_backend_pid()) % k END;
                IF dpn.broker_lane_room(p.id, dpn.pool_lane_range(p, j), p_n) IS NOT NULL THEN
                    a := dpn.broker_lane_try(p, j, p_n, pass = 1);
                    EXIT passes WHEN a IS NOT NULL;
                END IF;
            END LOOP;
        END LOOP;
    END LOOP;
    IF a IS NULL THEN
        PERFORM dpn.broker_lock_site(f.site_id);
        p := dpn.broker_claim(f.site_id, p_n);
        a := p.alloc_hint;
    END IF;
    INSERT INTO dpn.blocks (flat_id, site_id, pool_id, range, pool_range, block_cap)
    SELECT f.id, f.site_id, p.id, int8range(a, a + p_n), p.range, s.block_cap
      FROM dpn.sites s WHERE s.id = f.site_id
    RETURNING * INTO b;
    RETURN b;
END $$;
