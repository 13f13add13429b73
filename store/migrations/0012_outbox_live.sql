-- scimd schema, version 12: cheaper events (issue 12: a webhook may cost at
-- most 15 % of durable create throughput). Each page a commit changes is
-- one more WAL frame to write and fsync, so an event should add as few
-- pages to its change's commit as it can.
--
-- 1. outbox.seq without AUTOINCREMENT, which updated sqlite_sequence (one
-- more page) in every commit with an event. seq still only grows:
-- SQLite gives a new row max(seq) + 1, and pruning never deletes the row
-- with the highest seq (PruneOutbox). A cursor past the highest seq kept
-- (every row up to it pruned) comes back to it, so the next event, which
-- gets that seq + 1, is past every cursor.
CREATE TABLE outbox_new (
	seq         INTEGER PRIMARY KEY,
	msg_id      TEXT    NOT NULL,
	type        TEXT    NOT NULL,
	time        TEXT    NOT NULL,
	resource_id TEXT    NOT NULL,
	data        TEXT    NOT NULL,   -- '' for a resource event whose row holds its document (event_seq)
	created     TEXT,
	modified    TEXT,
	version     INTEGER,
	refs        TEXT
);
INSERT INTO outbox_new SELECT seq, msg_id, type, time, resource_id, data, created, modified, version, refs FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
UPDATE webhook_endpoints SET cursor = min(cursor, (SELECT coalesce(max(seq), 0) FROM outbox));

-- 2. A resource event no longer copies its resource.
-- user.created/updated/deactivated/reactivated and group.created/updated
-- store data = '' while the resource's row still holds the document the
-- event carries; the deliverer reads it from there. Copying it made each
-- create write the document twice. Copy on write keeps every event's
-- content fixed: the row's event_seq names the (one, latest) event that
-- points at it, and when the row's document changes or the row goes away,
-- the triggers below first move the old document into that event, in the
-- same transaction. event_seq lives in the row, whose page the change
-- writes anyway, rather than in an index of the outbox.
ALTER TABLE users ADD COLUMN event_seq INTEGER;
ALTER TABLE groups ADD COLUMN event_seq INTEGER;

CREATE TRIGGER users_outbox_keep_upd AFTER UPDATE OF doc ON users WHEN OLD.event_seq IS NOT NULL AND OLD.doc IS NOT NEW.doc
BEGIN UPDATE outbox SET data = OLD.doc WHERE seq = OLD.event_seq AND data = ''; END;
CREATE TRIGGER users_outbox_keep_del AFTER DELETE ON users WHEN OLD.event_seq IS NOT NULL
BEGIN UPDATE outbox SET data = OLD.doc WHERE seq = OLD.event_seq AND data = ''; END;
CREATE TRIGGER groups_outbox_keep_upd AFTER UPDATE OF doc ON groups WHEN OLD.event_seq IS NOT NULL AND OLD.doc IS NOT NEW.doc
BEGIN UPDATE outbox SET data = OLD.doc WHERE seq = OLD.event_seq AND data = ''; END;
CREATE TRIGGER groups_outbox_keep_del AFTER DELETE ON groups WHEN OLD.event_seq IS NOT NULL
BEGIN UPDATE outbox SET data = OLD.doc WHERE seq = OLD.event_seq AND data = ''; END;
