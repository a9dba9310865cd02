-- 070: outbound routes of a site's gatekeeper (issue 10). A call from a
-- flat gateway to a number of another complex goes to the peer group of
-- the longest route prefix that the dialled digits start with; the group
-- spreads calls over its peers (another complex's gatekeeper, a trunk).
--
-- dpn.gk_peer_groups  a named group of peers of a site.
-- dpn.gk_peers        address:port and transport of a peer; `trusted`: its
--                     P-Asserted-Identity is kept on requests it sends;
--                     `weight`: its share of the group's new calls.
-- dpn.gk_routes       prefix (digits) -> group, one per prefix and site.
-- dpn.gk_peer_state   up or down as the gatekeeper's OPTIONS probing last
--                     saw it (written by the gatekeeper on a change).
-- Any change NOTIFYs dpn_gk with "routes SITE_ID": the gatekeeper reloads
-- its routes without a restart.

CREATE TABLE dpn.gk_peer_groups (
    id      bigserial PRIMARY KEY,
    site_id bigint NOT NULL REFERENCES dpn.sites ON DELETE CASCADE,
    name    text   NOT NULL,
    CONSTRAINT gk_peer_groups_name_unique UNIQUE (site_id, name),
    CONSTRAINT gk_peer_groups_name_length CHECK (length(name) BETWEEN 1 AND 64),
    CONSTRAINT gk_peer_groups_site UNIQUE (id, site_id)
);

CREATE TABLE dpn.gk_peers (
    id        bigserial PRIMARY KEY,
    group_id  bigint  NOT NULL REFERENCES dpn.gk_peer_groups ON DELETE CASCADE,
    address   inet    NOT NULL,
    port      integer NOT NULL DEFAULT 5060,
    transport text    NOT NULL DEFAULT 'udp',
    trusted   boolean NOT NULL DEFAULT false,
    weight    integer NOT NULL DEFAULT 1,
    CONSTRAINT gk_peers_unique UNIQUE (group_id, address, port, transport),
    CONSTRAINT gk_peers_address_host CHECK (family(address) = 4 AND masklen(address) = 32),
    CONSTRAINT gk_peers_port_range CHECK (port BETWEEN 1 AND 65535),
    CONSTRAINT gk_peers_transport CHECK (transport IN ('udp', 'tcp')),
    CONSTRAINT gk_peers_weight_range CHECK (weight BETWEEN 1 AND 1000)
);
-- The gatekeeper holds at most 16 peers per group (one fork's branches).
CREATE FUNCTION dpn.gk_peers_limit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT count(*) FROM dpn.gk_peers WHERE group_id = NEW.group_id) > 16 THEN
        RAISE EXCEPTION 'a peer group holds at most 16 peers'
            USING ERRCODE = 'D1004', COLUMN = 'address';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER gk_peers_limit AFTER INSERT OR UPDATE OF group_id ON dpn.gk_peers
    FOR EACH ROW EXECUTE FUNCTION dpn.gk_peers_limit();

CREATE TABLE dpn.gk_routes (
    id       bigserial PRIMARY KEY,
    site_id  bigint NOT NULL REFERENCES dpn.sites ON DELETE CASCADE,
    prefix   text   NOT NULL,
    group_id bigint NOT NULL,
    CONSTRAINT gk_routes_prefix_unique UNIQUE (site_id, prefix),
    CONSTRAINT gk_routes_prefix_digits CHECK (prefix ~ '^[0-9]{1,32}$'),
    -- the group is one of the same site; a group in use is not deleted
    CONSTRAINT gk_routes_group FOREIGN KEY (group_id, site_id)
        REFERENCES dpn.gk_peer_groups (id, site_id) ON DELETE RESTRICT
);

CREATE TABLE dpn.gk_peer_state (
    peer_id    bigint      PRIMARY KEY REFERENCES dpn.gk_peers ON DELETE CASCADE,
    up         boolean     NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION dpn.gk_notify_routes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
    site bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    IF TG_TABLE_NAME = 'gk_peers' THEN
        SELECT g.site_id INTO site FROM dpn.gk_peer_groups g WHERE g.id = r.group_id;
    ELSE
        site := r.site_id;
    END IF;
    IF site IS NOT NULL THEN
        PERFORM pg_notify('dpn_gk', 'routes ' || site);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER gk_notify AFTER INSERT OR UPDATE OR DELETE ON dpn.gk_peer_groups
    FOR EACH ROW EXECUTE FUNCTION dpn.gk_notify_routes();
CREATE TRIGGER gk_notify AFTER INSERT OR UPDATE OR DELETE ON dpn.gk_peers
    FOR EACH ROW EXECUTE FUNCTION dpn.gk_notify_routes();
CREATE TRIGGER gk_notify AFTER INSERT OR UPDATE OR DELETE ON dpn.gk_routes
    FOR EACH ROW EXECUTE FUNCTION dpn.gk_notify_routes();
