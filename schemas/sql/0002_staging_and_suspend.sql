-- syncgate store, schema version 2: large objects being received, and suspended sessions.
--
-- Chunks of an incoming large object (PROTOCOL.md §1.7) are kept here until the last one
-- arrives, so memory per session does not grow with item sizes; they outlive the session so a
-- resumed session (§3.7) can continue the object. One row per chunk, in `part` order.
CREATE TABLE staged_chunks (
    user_id    INTEGER NOT NULL,
    device_id  TEXT    NOT NULL,
    key        TEXT    NOT NULL,   -- datastore and LUID of the item, chosen by the engine
    part       INTEGER NOT NULL CHECK (part >= 0),
    bytes      BLOB    NOT NULL,
    PRIMARY KEY (user_id, device_id, key, part),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) WITHOUT ROWID;

-- The saved state of a device's suspended session (engine-defined JSON), until it resumes.
CREATE TABLE suspended_sessions (
    user_id    INTEGER NOT NULL,
    device_id  TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    PRIMARY KEY (user_id, device_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) WITHOUT ROWID;
