-- 075: call records (issue 10). dpn-gatekeeper writes one row per call
-- that concerns a flat of its site (a flat called it or placed it), when
-- the call has ended, in batches from its writer thread (gatekeeper/cdr.c).
-- An INVITE from outside for a number that is no flat of the site (404)
-- is not recorded: it concerns no flat, and scanners would fill the table;
-- it is counted in the gatekeeper's /metrics instead.
--
-- direction: 'in' (from outside to a flat), 'out' (from a flat's gateway
-- to another complex or a trunk), 'flat' (flat to flat of the complex).
-- caller_flat_id / callee_flat_id: the flat that placed / was called
-- (NULL from or to outside, and once the flat is deleted).
-- answered_by: the full number of the handset that answered (from the
-- P-Asserted-Identity of the gateway's 2xx, when it names a handset of
-- the called flat; else the handset dialled), else the flat's number (the
-- callee for a call out); NULL when not answered.
-- ended_by: 'caller' (BYE or CANCEL from the caller), 'callee' (BYE from
-- the callee, or the callee side refused), 'timeout' (no answer in time,
-- or no BYE within the gatekeeper's call-max-duration), 'media' (the media
-- relay saw the media stop), NULL when the gatekeeper itself refused it.
-- status: the final SIP status sent to the caller (200 for an answered
-- call). reason: the Reason header (RFC 3326) of the final response or of
-- the BYE, else the final response's reason phrase, else NULL.
--
-- Retention: dpn.calls_prune(site, keep) deletes a site's rows that
-- started more than `keep` ago; the gatekeeper calls it hourly with its
-- call-retention setting (default 90 days).
CREATE TABLE dpn.calls (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id          bigint      NOT NULL REFERENCES dpn.sites ON DELETE CASCADE,
    call_id          text        NOT NULL,
    direction        text        NOT NULL,
    caller           text        NOT NULL,
    callee           text        NOT NULL,
    caller_flat_id   bigint      REFERENCES dpn.flats ON DELETE SET NULL,
    callee_flat_id   bigint      REFERENCES dpn.flats ON DELETE SET NULL,
    answered_by      text,
    answered_handset integer,
    started_at       timestamptz NOT NULL,
    answered_at      timestamptz,
    ended_at         timestamptz NOT NULL,
    ended_by         text,
    status           integer     NOT NULL,
    reason           text,
    CONSTRAINT calls_direction CHECK (direction IN ('in', 'out', 'flat')),
    CONSTRAINT calls_ended_by CHECK (ended_by IN ('caller', 'callee', 'timeout', 'media')),
    CONSTRAINT calls_status_range CHECK (status BETWEEN 100 AND 699),
    CONSTRAINT calls_call_id_length CHECK (length(call_id) BETWEEN 1 AND 255),
    CONSTRAINT calls_caller_length CHECK (length(caller) <= 64),
    CONSTRAINT calls_callee_length CHECK (length(callee) <= 64),
    CONSTRAINT calls_answered_by_length CHECK (length(answered_by) <= 64),
    CONSTRAINT calls_reason_length CHECK (length(reason) <= 200),
    CONSTRAINT calls_answer_order CHECK (answered_at IS NULL OR
        (answered_at >= started_at AND answered_at <= ended_at)),
    CONSTRAINT calls_end_order CHECK (ended_at >= started_at),
    CONSTRAINT calls_answered CHECK ((answered_at IS NULL) = (answered_by IS NULL))
);

-- Paging newest first: site-wide, and per flat (either end).
CREATE INDEX calls_site_time ON dpn.calls (site_id, started_at DESC, id DESC);
CREATE INDEX calls_caller_flat_time ON dpn.calls (caller_flat_id, started_at DESC, id DESC)
    WHERE caller_flat_id IS NOT NULL;
CREATE INDEX calls_callee_flat_time ON dpn.calls (callee_flat_id, started_at DESC, id DESC)
    WHERE callee_flat_id IS NOT NULL;

-- Deletes the rows of site that started more than keep ago; how many.
CREATE FUNCTION dpn.calls_prune(site bigint, keep interval) RETURNS bigint
LANGUAGE sql AS $$
    WITH gone AS (DELETE FROM dpn.calls WHERE site_id = site
                  AND started_at < now() - keep RETURNING 1)
    SELECT count(*) FROM gone
$$;
