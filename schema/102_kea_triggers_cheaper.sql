-- schema/102_kea_triggers_cheaper.sql — two costs of every broker write to
-- Kea's tables (issue 14; figures in docs/bench.md, "Issue 14, third
-- pass"), found with track_functions = all over allocate+delete cycles:
--
-- * Every deletion of a reservation told Kea's dpn hook to empty its whole
--   host cache. Kea's schema deletes a host's options with it (foreign key
--   ON DELETE CASCADE on dhcp4_options); that cascade is a DELETE statement
--   on dhcp4_options even when the host has no options, and 012's
--   statement-level trigger on dhcp4_options sent "flush" for it: one per
--   gateway deletion, handset deletion or block move (2,282 flushes for
--   2,282 cycles), each sending every device the hook had cached back to
--   PostgreSQL. The trigger now fires per row: only a host's options that
--   really appear, change or go send "flush" (once per transaction:
--   PostgreSQL folds identical notifications); TRUNCATE still does.
-- * dpn.kea_flex_id was declared IMMUTABLE over convert_to(), which is
--   STABLE: PostgreSQL then refuses to inline it, and a LANGUAGE sql
--   function that is not inlined is parsed and planned again at each call
--   (29 us, once per reservation written). Declared STABLE, as its body
--   is, it is inlined into the statements that call it.

DROP TRIGGER hosts_options_notify ON public.dhcp4_options;
CREATE TRIGGER hosts_options_notify
    AFTER INSERT OR UPDATE OR DELETE ON public.dhcp4_options
    FOR EACH ROW EXECUTE FUNCTION dpn.hosts_notify_flush();
CREATE TRIGGER hosts_options_notify_truncate AFTER TRUNCATE ON public.dhcp4_options
    FOR EACH STATEMENT EXECUTE FUNCTION dpn.hosts_notify_flush();

ALTER FUNCTION dpn.kea_flex_id(text, macaddr) STABLE;
