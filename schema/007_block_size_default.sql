-- schema/007_block_size_default.sql — a new site's blocks hold the gateway
-- and 7 handsets (was 3). A flat with 4 handsets, the common case, then
-- never grows or moves, and a power cut of a whole building is served
-- without a single block move. Existing sites keep their setting.
ALTER TABLE dpn.sites ALTER COLUMN block_size SET DEFAULT 8;
