-- schema/080_gk_bans.sql — the gatekeeper's bans and lockouts, for
-- operators (GET /api/v1/sites/{id}/bans, the admin's Bans page).
--
-- dpn-gatekeeper bans a source that floods it, tries many passwords or
-- announces a scanner, and locks a username at a source after failed
-- passwords (docs/gatekeeper.md). It writes each ban here asynchronously
-- (never on its hot path; hits are brought up to date about once a
-- second) and reads the ones still in force back on start. One row per
-- (site, source, username): username '' is a ban of the whole source.
-- A ban is in force while until_at > now(); the gatekeeper deletes its
-- site's rows over for a day (hourly), so scans do not grow the table for
-- ever. mgmtd lifts one by deleting its row and sending NOTIFY dpn_gk
-- 'unban SITE_ID SOURCE USERNAME' in the same transaction; the gatekeeper
-- lifts it in memory.

CREATE TABLE dpn.gk_bans (
    id        bigserial   PRIMARY KEY,
    site_id   bigint      NOT NULL REFERENCES dpn.sites ON DELETE CASCADE,
    source    inet        NOT NULL,
    username  text        NOT NULL DEFAULT '',
    reason    text        NOT NULL,
    since     timestamptz NOT NULL,
    until_at  timestamptz NOT NULL,
    hits      bigint      NOT NULL DEFAULT 0,
    CONSTRAINT gk_bans_one UNIQUE (site_id, source, username),
    CONSTRAINT gk_bans_host CHECK (masklen(source) = CASE family(source)
                                   WHEN 4 THEN 32 ELSE 128 END),
    CONSTRAINT gk_bans_username_length CHECK (length(username) <= 47),
    CONSTRAINT gk_bans_reason CHECK (reason IN ('flood', 'auth', 'scanner',
                                                'lockout')),
    CONSTRAINT gk_bans_times CHECK (until_at >= since),
    CONSTRAINT gk_bans_hits CHECK (hits >= 0)
);

CREATE INDEX gk_bans_in_force ON dpn.gk_bans (site_id, until_at);
