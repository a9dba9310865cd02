-- schema/097_gk_topo_dialogs.sql — the gatekeeper's topology-hiding
-- dialogs (docs/gatekeeper.md, "Topology hiding"), so that a restart keeps
-- the calls that cross to the public side.
--
-- Outside, a flat's gateway is known as <sip:gk-KEY@PUBLIC> (its Contact)
-- and a dialog begun inside by the Call-ID gk-KEY@PUBLIC; the gatekeeper
-- holds what KEY stands for in memory. It writes each answered dialog
-- here asynchronously (never on its hot path; within about a second of
-- the answer, again when the gateway's Contact or the private route set
-- changes or the dialog has been kept alive well past expires_at) and
-- deletes it when the dialog ends; on start it puts its site's rows back
-- and deletes the expired ones. One row per (site, key).

CREATE TABLE dpn.gk_topo_dialogs (
    site_id    bigint      NOT NULL REFERENCES dpn.sites ON DELETE CASCADE,
    dialog_key bigint      NOT NULL,
    call_id    text        NOT NULL,
    contact    text        NOT NULL,
    route      text        NOT NULL DEFAULT '',
    masked     boolean     NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (site_id, dialog_key),
    CONSTRAINT gk_topo_dialogs_key CHECK (dialog_key <> 0),
    CONSTRAINT gk_topo_dialogs_call_id CHECK (length(call_id) BETWEEN 1 AND 255),
    CONSTRAINT gk_topo_dialogs_contact CHECK (length(contact) BETWEEN 1 AND 511),
    CONSTRAINT gk_topo_dialogs_route CHECK (length(route) <= 1023)
);

CREATE INDEX gk_topo_dialogs_expiry ON dpn.gk_topo_dialogs (site_id, expires_at);
