-- schema/014_lease_deletion_backoff.sql — mgmtd's lease remover
-- (mgmtd/kea_ctrl.c) backs off per row instead of giving up (issue 14
-- item 5): a row Kea refused is tried again at next_try, later each time
-- (capped at an hour), and never dropped; a Kea that cannot be reached
-- touches no row at all. The index serves the remover's "due rows, oldest
-- first" query, whatever the queue's length.
ALTER TABLE dpn.lease_deletions
    ADD COLUMN next_try timestamptz NOT NULL DEFAULT now();
CREATE INDEX lease_deletions_due ON dpn.lease_deletions (next_try, id);
