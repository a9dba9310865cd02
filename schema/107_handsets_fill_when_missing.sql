-- schema/107_handsets_fill_when_missing.sql — the handsets' fill trigger
-- runs only when it has something to fill (issue 14, "Must reach": the
-- cold power cut; figures in docs/bench.md, "Issue 14, seventh pass").
--
-- handsets_fill (001) copies the flat's site_id and w_handset into a new
-- handset row (a PL/pgSQL call and a read of the flat per insert). The
-- broker's handset request already holds the flat's row and names both
-- (106): the trigger now fires on INSERT only when one of them is missing,
-- and on an UPDATE OF flat_id as before. Whatever is written is still
-- verified by the foreign key handsets_flat (flat_id, site_id, w_handset).
DROP TRIGGER handsets_fill ON dpn.handsets;
CREATE TRIGGER handsets_fill BEFORE INSERT ON dpn.handsets
    FOR EACH ROW WHEN (NEW.site_id IS NULL OR NEW.w_handset IS NULL)
    EXECUTE FUNCTION dpn.handsets_fill();
CREATE TRIGGER handsets_fill_move BEFORE UPDATE OF flat_id ON dpn.handsets
    FOR EACH ROW EXECUTE FUNCTION dpn.handsets_fill();
