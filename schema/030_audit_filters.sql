-- schema/030_audit_filters.sql — what the admin's audit log filters on:
-- the kind of object a row is about and that object's id, read the same way
-- whoever wrote the row (mgmtd writes object "flat" with the flat in
-- detail, the broker "flat:12", `dpn-mgmtd user add` the user name), and
-- indexes so that one object's history, one user's changes and the
-- previous state of an object (for "changed fields") are found directly,
-- and a page of the whole log, newest first (at, then id), is read off an
-- index instead of sorting the log.

-- The kind of object of an audit row: site, pool, building, flat, gateway,
-- handset, user or session (else the action's first word).
CREATE FUNCTION dpn.audit_kind(object text, action text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN object ~ '^[a-z]+:[0-9]{1,18}$' THEN split_part(object, ':', 1)
        WHEN object IN ('site', 'pool', 'building', 'flat', 'gateway', 'handset',
                        'user', 'session') THEN object
        ELSE split_part(action, '.', 1)
    END
$$;

-- The id of the object of an audit row, or NULL when the row does not say.
CREATE FUNCTION dpn.audit_object_id(object text, detail jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN object ~ '^[a-z]+:[0-9]{1,18}$' THEN split_part(object, ':', 2)::bigint
        WHEN jsonb_typeof(detail -> 'id') = 'number'
             AND detail ->> 'id' ~ '^[0-9]{1,18}$' THEN (detail ->> 'id')::bigint
    END
$$;

CREATE INDEX audit_log_object ON dpn.audit_log
    (dpn.audit_kind(object, action), dpn.audit_object_id(object, detail), id);
CREATE INDEX audit_log_actor ON dpn.audit_log (actor, at DESC, id DESC);
CREATE INDEX audit_log_newest ON dpn.audit_log (at DESC, id DESC);
DROP INDEX dpn.audit_log_at;
