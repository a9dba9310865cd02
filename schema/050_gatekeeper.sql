-- schema/050_gatekeeper.sql — what dpn-gatekeeper reads and writes.
--
-- 1. Gateway digest credentials: HA1 = MD5 and SHA-256 (hex) of
--    "USERNAME:dpn:SECRET" (realm "dpn", as handsets use), stored by mgmtd
--    when it creates or regenerates a gateway secret. Gateways made before
--    this migration have none (NULL): the gatekeeper cannot authenticate
--    them until their secret is regenerated once (PUT /flats/{id}/gateway).
-- 2. dpn.gk_bindings: a flat gateway's registration, one row per flat,
--    written by the gatekeeper behind its hot path and read back on start.
-- 3. dpn.gk_flats: the rows the gatekeeper caches (number, credentials,
--    first private address), and NOTIFY on channel dpn_gk whenever one of
--    them may have changed: payload "flat SITE_ID FLAT_ID" for one flat,
--    "site SITE_ID" when a whole site's numbers may have changed (a
--    building renumbered, widths changed). Delivered at commit.

ALTER TABLE dpn.gateways
    ADD COLUMN ha1_md5    text,
    ADD COLUMN ha1_sha256 text,
    ADD CONSTRAINT gateways_ha1_md5_hex CHECK (ha1_md5 ~ '^[0-9a-f]{32}$'),
    ADD CONSTRAINT gateways_ha1_sha256_hex CHECK (ha1_sha256 ~ '^[0-9a-f]{64}$'),
    ADD CONSTRAINT gateways_ha1_both CHECK ((ha1_md5 IS NULL) = (ha1_sha256 IS NULL));

CREATE TABLE dpn.gk_bindings (
    flat_id       bigint      PRIMARY KEY REFERENCES dpn.flats ON DELETE CASCADE,
    contact       text        NOT NULL,
    source_addr   inet        NOT NULL,
    source_port   integer     NOT NULL,
    transport     text        NOT NULL,
    user_agent    text        NOT NULL DEFAULT '',
    call_id       text        NOT NULL,
    cseq          bigint      NOT NULL,
    registered_at timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT gk_bindings_contact_length CHECK (length(contact) BETWEEN 1 AND 255),
    CONSTRAINT gk_bindings_port_range CHECK (source_port BETWEEN 1 AND 65535),
    CONSTRAINT gk_bindings_transport CHECK (transport IN ('udp', 'tcp')),
    CONSTRAINT gk_bindings_ua_length CHECK (length(user_agent) <= 95),
    CONSTRAINT gk_bindings_call_id_length CHECK (length(call_id) BETWEEN 1 AND 127),
    CONSTRAINT gk_bindings_cseq_range CHECK (cseq BETWEEN 0 AND 4294967295)
);

-- One row per flat of a site as the gatekeeper needs it: the dashed number
-- ("100-1101-1201"), the gateway's username and HA1s (NULL: no gateway or
-- no HA1 yet), and the first private address (NULL: no block yet).
CREATE VIEW dpn.gk_flats AS
SELECT f.id AS flat_id, s.id AS site_id, s.number AS site_number,
       lpad(s.number::text, s.w_complex, '0') || '-' ||
       lpad(b.number::text, s.w_building, '0') || '-' ||
       lpad(f.number::text, s.w_flat, '0') AS number,
       s.w_complex, s.w_building, s.w_flat, s.w_handset,
       g.username, g.ha1_md5, g.ha1_sha256,
       dpn.ip4(lower(bl.range)) AS first_addr
  FROM dpn.flats f
  JOIN dpn.buildings b ON b.id = f.building_id
  JOIN dpn.sites s ON s.id = f.site_id
  LEFT JOIN dpn.gateways g ON g.flat_id = f.id
  LEFT JOIN dpn.blocks bl ON bl.flat_id = f.id;

-- TG_ARGV[0] names the column holding the flat id (site id for
-- gk_notify_site): "id" on their own table, "flat_id" / "site_id" elsewhere.
CREATE FUNCTION dpn.gk_notify_flat() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('dpn_gk', 'flat ' || OLD.site_id || ' ' ||
                          (to_jsonb(OLD) ->> TG_ARGV[0]));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_notify('dpn_gk', 'flat ' || NEW.site_id || ' ' ||
                          (to_jsonb(NEW) ->> TG_ARGV[0]));
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION dpn.gk_notify_site() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dpn_gk', 'site ' || (to_jsonb(OLD) ->> TG_ARGV[0]));
    RETURN NULL;
END $$;

CREATE TRIGGER gk_notify AFTER INSERT OR UPDATE OR DELETE ON dpn.flats
    FOR EACH ROW EXECUTE FUNCTION dpn.gk_notify_flat('id');
CREATE TRIGGER gk_notify AFTER INSERT OR DELETE OR UPDATE OF flat_id, site_id,
    username, ha1_md5, ha1_sha256 ON dpn.gateways
    FOR EACH ROW EXECUTE FUNCTION dpn.gk_notify_flat('flat_id');
CREATE TRIGGER gk_notify AFTER INSERT OR DELETE OR UPDATE OF flat_id, range
    ON dpn.blocks FOR EACH ROW EXECUTE FUNCTION dpn.gk_notify_flat('flat_id');
CREATE TRIGGER gk_notify AFTER UPDATE OF number, w_building, w_flat, w_handset
    OR DELETE ON dpn.buildings FOR EACH ROW EXECUTE FUNCTION dpn.gk_notify_site('site_id');
CREATE TRIGGER gk_notify AFTER UPDATE OF number, w_complex, w_building, w_flat,
    w_handset ON dpn.sites FOR EACH ROW EXECUTE FUNCTION dpn.gk_notify_site('id');
