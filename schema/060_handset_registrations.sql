-- 060: what each flat's gateway last said about its handsets' SIP
-- registrations (issue 12): registered or not, since when, the Contact and
-- User-Agent of the binding. Written by PUT /api/v1/broker/registrations
-- (mgmtd/broker_handsets.c), one row per handset, gone with the handset.
CREATE TABLE dpn.handset_registrations (
    handset_id  bigint      PRIMARY KEY REFERENCES dpn.handsets (id) ON DELETE CASCADE,
    registered  boolean     NOT NULL,
    since       timestamptz,
    contact     text,
    user_agent  text,
    reported_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT handset_registrations_since CHECK (registered OR since IS NULL),
    CONSTRAINT handset_registrations_contact_length CHECK (length(contact) <= 256),
    CONSTRAINT handset_registrations_user_agent_length CHECK (length(user_agent) <= 200)
);
