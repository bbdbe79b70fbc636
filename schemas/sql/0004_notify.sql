-- syncgate store, schema version 4: server-initiated sync.
--
-- Per device its sync preferences (JSON written by notify::prefs) and when its schedule fires
-- next; the durable queue of alerts (Server Alerted Notifications) with the delivery state of
-- each, so alerts survive a restart and none is sent twice. Times are Unix milliseconds.
CREATE TABLE device_prefs (
    user_id    INTEGER NOT NULL,
    device_id  TEXT    NOT NULL,
    prefs      TEXT    NOT NULL,
    next_run   INTEGER,
    PRIMARY KEY (user_id, device_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX device_prefs_by_next_run ON device_prefs (next_run) WHERE next_run IS NOT NULL;

CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL,
    device_id   TEXT    NOT NULL,
    datastores  TEXT    NOT NULL,   -- JSON array of datastore names, [] = all
    reason      TEXT    NOT NULL,
    created     INTEGER NOT NULL,
    due         INTEGER NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'unknown')),
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    sent        INTEGER,
    error       TEXT,
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX alerts_pending_by_due ON alerts (due) WHERE state = 'pending';
CREATE INDEX alerts_by_device ON alerts (user_id, device_id, created);
