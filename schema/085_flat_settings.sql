-- 085: flat settings (issue 12) that the flat's gateway applies: how long
-- the handsets ring (null: the gateway's own ring-timeout), where an
-- unanswered call or a call while no handset is registered is forwarded
-- (a number or a SIP URI, sent out through the gatekeeper with the flat as
-- caller), and do-not-disturb per handset. A flat without a row has the
-- defaults. Both tables go with their flat or handset. The broker handsets
-- endpoint carries them, so its ETag changes when they do.
CREATE TABLE dpn.flat_settings (
    flat_id      bigint  PRIMARY KEY REFERENCES dpn.flats (id) ON DELETE CASCADE,
    ring_timeout integer,
    forward_to   text,
    forward_when text    NOT NULL DEFAULT 'never',
    CONSTRAINT flat_settings_ring_timeout CHECK (ring_timeout BETWEEN 5 AND 90),
    CONSTRAINT flat_settings_forward_when
        CHECK (forward_when IN ('never', 'no_answer', 'unregistered', 'both')),
    -- a number (digits, dashes, an optional leading +) or a sip:/sips: URI
    -- with a user part, no spaces, quotes or angle brackets
    CONSTRAINT flat_settings_forward_to CHECK (length(forward_to) <= 128 AND
        (forward_to ~ '^\+?[0-9]([0-9-]{0,30}[0-9])?$' OR
         forward_to ~ '^sips?:[A-Za-z0-9_.!~*''()&=+$,;?/%-]+@[A-Za-z0-9.-]+(:[0-9]{1,5})?(;[A-Za-z0-9=._-]+)*$')),
    CONSTRAINT flat_settings_forward_needs_target
        CHECK (forward_when = 'never' OR forward_to IS NOT NULL)
);

CREATE TABLE dpn.handset_settings (
    handset_id bigint  PRIMARY KEY REFERENCES dpn.handsets (id) ON DELETE CASCADE,
    dnd        boolean NOT NULL DEFAULT false
);

-- Where the gateway saw the handset's REGISTER come from (ip:port); the
-- Contact may name another address behind NAT.
ALTER TABLE dpn.handset_registrations ADD COLUMN address text,
    ADD CONSTRAINT handset_registrations_address_length CHECK (length(address) <= 64);
