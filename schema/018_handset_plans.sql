-- schema/018_handset_plans.sql — the handset path keeps its query plans
-- (issue 14, performance; figures in docs/bench.md). 013 left
-- dpn.broker_handset(f, m) a LANGUAGE sql wrapper: called from PL/pgSQL
-- with a row argument it is never inlined, so every handset request and
-- every handset listed in an allocation parsed and planned it again (the
-- same finding as 016's). Restated in PL/pgSQL, same arguments, same
-- result.
CREATE OR REPLACE FUNCTION dpn.broker_handset(f dpn.flats, m macaddr)
RETURNS dpn.handsets
LANGUAGE plpgsql AS $$
BEGIN
    RETURN dpn.broker_handset(f, m, 'mac');
END $$;
