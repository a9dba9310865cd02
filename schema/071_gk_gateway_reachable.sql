-- 071: whether the gatekeeper can reach a registered flat gateway (issue
-- 10, NAT): its OPTIONS probes to the address and port the gateway
-- registered from, answered or not. One row per flat, written by the
-- gatekeeper when the verdict changes (and once after it first probes);
-- mgmtd shows it as registration.reachable on GET /flats/{id}/gateway.
CREATE TABLE dpn.gk_gateway_state (
    flat_id    bigint      PRIMARY KEY REFERENCES dpn.flats ON DELETE CASCADE,
    reachable  boolean     NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
