-- syncgate store, schema version 1.
--
-- Applied by src/store/sqlite/migrate.rs inside one transaction; the version is recorded in
-- PRAGMA user_version. Never edit a released migration: add 0002_*.sql instead.
--
-- Everything hangs off users (ON DELETE CASCADE): deleting a user removes its devices, items,
-- change log and sync state. Anchors and maps hang off devices, so forgetting a device forgets
-- its sync state.

-- Accounts. `seq` is the last change sequence number handed out for the user's items: every
-- mutation takes seq + 1, so it grows strictly and per user. AUTOINCREMENT keeps the ids of
-- deleted users from being handed out again.
CREATE TABLE users (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    name    TEXT    NOT NULL UNIQUE,
    secret  TEXT    NOT NULL,
    seq     INTEGER NOT NULL DEFAULT 0 CHECK (seq >= 0)
);

-- Devices of a user, by SyncML device id.
CREATE TABLE devices (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id  TEXT    NOT NULL,
    nonce      BLOB,               -- raw bytes of the last Chal nonce
    devinf     BLOB,               -- the device's DevInf as received
    last_sync  INTEGER,            -- Unix seconds
    PRIMARY KEY (user_id, device_id)
) WITHOUT ROWID;

-- Live items. The GUID is unique per user (assigned from `seq`, never reused); `seq` is the
-- sequence number of the item's last change.
CREATE TABLE items (
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    guid          TEXT    NOT NULL,
    datastore     TEXT    NOT NULL,
    parent_guid   TEXT,
    content_type  TEXT    NOT NULL,
    data          BLOB    NOT NULL,
    seq           INTEGER NOT NULL CHECK (seq > 0),
    PRIMARY KEY (user_id, guid)
);
CREATE INDEX items_by_datastore ON items (user_id, datastore, guid);

-- The change log: one row per successful mutation, kept after the item is gone so that
-- deletions can be reported. `origin` is the device id, NULL for the service.
CREATE TABLE changes (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL CHECK (seq > 0),
    datastore  TEXT    NOT NULL,
    guid       TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('add', 'replace', 'delete')),
    origin     TEXT,
    PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;
CREATE INDEX changes_by_datastore ON changes (user_id, datastore, seq);

-- What the last successful session of a device agreed, per datastore.
CREATE TABLE anchors (
    user_id      INTEGER NOT NULL,
    device_id    TEXT    NOT NULL,
    datastore    TEXT    NOT NULL,
    client_next  TEXT    NOT NULL,
    server_next  TEXT    NOT NULL,
    synced_seq   INTEGER NOT NULL CHECK (synced_seq >= 0),
    PRIMARY KEY (user_id, device_id, datastore),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) WITHOUT ROWID;

-- LUID <-> GUID pairs of a device's datastore: one pair per LUID and one per GUID, so that
-- INSERT OR REPLACE of a pair drops whatever held either side before.
CREATE TABLE id_maps (
    user_id    INTEGER NOT NULL,
    device_id  TEXT    NOT NULL,
    datastore  TEXT    NOT NULL,
    luid       TEXT    NOT NULL,
    guid       TEXT    NOT NULL,
    PRIMARY KEY (user_id, device_id, datastore, luid),
    UNIQUE (user_id, device_id, datastore, guid),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) WITHOUT ROWID;
