-- syncgate store, schema version 5: what a device's set was built with.
--
-- Per device and datastore, the filter and shape of the last successful session (JSON, see
-- engine/filters.rs FilterState): a session whose filter differs brings the device's set in
-- line with the new one (items entering, leaving, sent again in the new shape); one whose
-- filter is the same only looks at what changed. NULL: no filter was recorded.
ALTER TABLE anchors ADD COLUMN filter TEXT;
