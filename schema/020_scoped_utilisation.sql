-- 020: pool utilisation as a building manager may see it (issue 15, item
-- 7). With manager_id, allotted, blocks and assigned count only the blocks
-- and devices of flats in that manager's buildings, and free is null: the
-- site-wide figure would show how much the other buildings use. Without
-- (operators), the same as dpn.pool_utilisation. D1001 for an unknown site.
CREATE FUNCTION dpn.pool_utilisation_scoped(site_id bigint, manager_id bigint)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    r jsonb;
BEGIN
    IF manager_id IS NULL THEN
        RETURN dpn.pool_utilisation(site_id);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM dpn.sites s WHERE s.id = pool_utilisation_scoped.site_id) THEN
        PERFORM dpn.broker_fail('D1001', 'site_id', 'no such site: ' || coalesce(site_id::text, 'null'));
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_build_object('pool_id', p.id, 'cidr', p.cidr::text,
               'size', upper(p.range) - lower(p.range), 'allotted', u.allotted,
               'free', NULL, 'assigned', u.assigned, 'blocks', u.blocks) ORDER BY p.id), '[]')
      INTO r
      FROM dpn.pools p
      CROSS JOIN LATERAL (
          SELECT coalesce(sum(upper(b.range) - lower(b.range)), 0)::bigint AS allotted,
                 count(*) AS blocks,
                 (SELECT count(*) FROM dpn.assignments x
                    JOIN dpn.flats f ON f.id = x.flat_id
                    JOIN dpn.user_buildings ub ON ub.building_id = f.building_id
                   WHERE x.pool_id = p.id AND ub.user_id = manager_id) AS assigned
            FROM dpn.blocks b
            JOIN dpn.flats f ON f.id = b.flat_id
            JOIN dpn.user_buildings ub ON ub.building_id = f.building_id
           WHERE b.pool_id = p.id AND ub.user_id = manager_id) u
     WHERE p.site_id = pool_utilisation_scoped.site_id;
    RETURN r;
END $$;
