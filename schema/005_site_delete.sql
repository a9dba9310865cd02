-- schema/005_site_delete.sql — a site can be deleted with everything in it.
-- blocks_site_cap (001) refused it: its NO ACTION check ran before the
-- cascade through buildings and flats had removed the site's blocks. The
-- blocks go with their site; the Kea reservations and the lease outbox
-- follow through the assignments trigger as for any deletion.
ALTER TABLE dpn.blocks
    DROP CONSTRAINT blocks_site_cap,
    ADD CONSTRAINT blocks_site_cap FOREIGN KEY (site_id, block_cap)
        REFERENCES dpn.sites (id, block_cap) ON UPDATE CASCADE ON DELETE CASCADE;
