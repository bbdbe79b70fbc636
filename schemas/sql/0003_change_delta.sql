-- syncgate store, schema version 3: what a Replace changed.
--
-- Bits: 1 the content, 2 only fields of the object (a message's states), 4 the parent folder.
-- The server sends a device only that much (a field-level Replace, a Move) instead of the whole
-- item. Rows written before this version changed "the content" as far as anyone knows.
ALTER TABLE changes ADD COLUMN delta INTEGER NOT NULL DEFAULT 1 CHECK (delta BETWEEN 0 AND 7);
