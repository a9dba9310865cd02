-- schema/108_hosts_notify_inline.sql — one PL/pgSQL call fewer per new Kea
-- reservation (issue 14, "Must reach": the cold power cut; figures in
-- docs/bench.md, "Issue 14, seventh pass"): hosts_notify queues or sends
-- an inserted reservation's notification itself (dpn.notify's statements,
-- 103) instead of calling dpn.notify. Same channel and payload.

CREATE OR REPLACE FUNCTION dpn.hosts_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    p text;
BEGIN
    -- a row without a DHCPv4 subnet is not a DHCPv4 reservation
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.dhcp4_subnet_id IS NOT NULL THEN
        PERFORM dpn.notify('dpn_hosts', OLD.dhcp4_subnet_id || ' ' ||
                           OLD.dhcp_identifier_type || ' ' ||
                           encode(OLD.dhcp_identifier, 'hex') || ' ' ||
                           coalesce(OLD.ipv4_address, 0));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.dhcp4_subnet_id IS NOT NULL THEN
        p := NEW.dhcp4_subnet_id || ' ' || NEW.dhcp_identifier_type || ' ' ||
             encode(NEW.dhcp_identifier, 'hex') || ' ' || coalesce(NEW.ipv4_address, 0);
        -- dpn.notify's statements (103)
        IF current_setting('dpn.notify_defer', true) = 'on' THEN
            PERFORM set_config('dpn.notify_pending',
                               coalesce(current_setting('dpn.notify_pending', true), '')
                               || 'dpn_hosts ' || p || chr(10), false);
        ELSE
            PERFORM pg_notify('dpn_hosts', p);
        END IF;
    END IF;
    RETURN NULL;
END $$;
