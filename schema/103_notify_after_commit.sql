-- schema/103_notify_after_commit.sql — the change notifications of a
-- session that asks for it leave after its commit, not inside it (issue 14;
-- figures in docs/bench.md, "Issue 14, fourth pass"; design in
-- docs/broker.md, "Notifications").
--
-- PostgreSQL 15 serialises the commits of every transaction that sent a
-- NOTIFY: it holds one database-wide lock from the notification's
-- pre-commit to the end of the commit, the WAL flush included. Every broker
-- request writes a Kea reservation or a block (schema 012, 050), so every
-- durable broker commit waited for the previous one's fdatasync: under 64
-- clients 40 % of the active backends' samples were that lock
-- (Lock:object) and commits never shared a flush.
--
-- A session that sets dpn.notify_defer = on (mgmtd, on each of its
-- connections) gets the notifications queued in its session instead, as
-- lines "CHANNEL PAYLOAD" of the setting dpn.notify_pending: a session
-- setting, so it outlives the commit and is undone with an aborted
-- transaction or subtransaction, like the NOTIFY it replaces. The session
-- then runs dpn.notify_flush() after the commit: a transaction of its own
-- with no writes, so it holds the lock for microseconds and never flushes
-- WAL. Same channels and payloads, so the listeners (Kea's hook, the
-- gatekeeper) are unchanged. What a crash between the commit and the flush
-- loses, dpn.notify_resync() makes up for: mgmtd runs it when it starts and
-- after losing a connection that had written. Every other session (Kea's
-- hook, psql, the migrations) notifies inside its transaction as before.

-- Sends channel's payload at commit, or queues it in the session when it
-- defers its notifications (above).
CREATE FUNCTION dpn.notify(channel text, payload text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('dpn.notify_defer', true) = 'on' THEN
        PERFORM set_config('dpn.notify_pending',
                           coalesce(current_setting('dpn.notify_pending', true), '')
                           || channel || ' ' || payload || chr(10), false);
    ELSE
        PERFORM pg_notify(channel, payload);
    END IF;
END $$;

-- Sends what this session queued (once each) and empties the queue;
-- returns how many lines it sent. Run it outside the writing transaction,
-- after its commit.
CREATE FUNCTION dpn.notify_flush() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    pending text := current_setting('dpn.notify_pending', true);
    line text;
    n integer := 0;
BEGIN
    IF pending IS NULL OR pending = '' THEN
        RETURN 0;
    END IF;
    PERFORM set_config('dpn.notify_pending', '', false);
    FOREACH line IN ARRAY string_to_array(rtrim(pending, chr(10)), chr(10)) LOOP
        PERFORM pg_notify(split_part(line, ' ', 1),
                          substr(line, strpos(line, ' ') + 1));
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- Tells every listener to read its state again: Kea's hook empties its
-- host cache, each site's gatekeeper reloads the site. For notifications
-- that may have been lost between a commit and its flush.
CREATE FUNCTION dpn.notify_resync() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dpn_hosts', 'flush');
    PERFORM pg_notify('dpn_gk', 'site ' || s.id) FROM dpn.sites s;
END $$;

-- The triggers of 012/100/102 (Kea reservations), 050 (gatekeeper's flats
-- and sites) and 070 (routes), through dpn.notify.
CREATE OR REPLACE FUNCTION dpn.hosts_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- a row without a DHCPv4 subnet is not a DHCPv4 reservation
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.dhcp4_subnet_id IS NOT NULL THEN
        PERFORM dpn.notify('dpn_hosts', OLD.dhcp4_subnet_id || ' ' ||
                           OLD.dhcp_identifier_type || ' ' ||
                           encode(OLD.dhcp_identifier, 'hex') || ' ' ||
                           coalesce(OLD.ipv4_address, 0));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.dhcp4_subnet_id IS NOT NULL THEN
        PERFORM dpn.notify('dpn_hosts', NEW.dhcp4_subnet_id || ' ' ||
                           NEW.dhcp_identifier_type || ' ' ||
                           encode(NEW.dhcp_identifier, 'hex') || ' ' ||
                           coalesce(NEW.ipv4_address, 0));
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION dpn.hosts_notify_flush() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dpn.notify('dpn_hosts', 'flush');
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION dpn.gk_notify_flat() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM dpn.notify('dpn_gk', 'flat ' || OLD.site_id || ' ' ||
                           (to_jsonb(OLD) ->> TG_ARGV[0]));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM dpn.notify('dpn_gk', 'flat ' || NEW.site_id || ' ' ||
                           (to_jsonb(NEW) ->> TG_ARGV[0]));
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION dpn.gk_notify_site() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dpn.notify('dpn_gk', 'site ' || (to_jsonb(OLD) ->> TG_ARGV[0]));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION dpn.gk_notify_routes() RETURNS trigger
LANGUAGE plpgsql AS $$
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
        PERFORM dpn.notify('dpn_gk', 'routes ' || site);
    END IF;
    RETURN NULL;
END $$;
