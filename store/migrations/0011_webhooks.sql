-- scimd schema, version 11: the webhook outbox.
--
-- outbox holds one row per change that some configured [[webhooks]] endpoint
-- subscribes to, written in the same transaction as the change, so no
-- change is acknowledged without its event. seq is AUTOINCREMENT: it only
-- grows, even after pruning, so it is commit order and a cursor over it
-- never misses a row.
CREATE TABLE outbox (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	msg_id      TEXT    NOT NULL,   -- webhook-id, the same on every attempt
	type        TEXT    NOT NULL,   -- user.created, group.members.added, ...
	time        TEXT    NOT NULL,   -- when the change was made (UTC, fixed width)
	resource_id TEXT    NOT NULL,   -- events of one resource are delivered in seq order
	data        TEXT    NOT NULL,   -- the stored document, or the final data of *.deleted / group.members.*
	created     TEXT,               -- resource snapshots: meta.created, lastModified, version
	modified    TEXT,
	version     INTEGER,
	refs        TEXT                -- a user's groups at the change, JSON; NULL when none
);
-- No index on time: seq order is time order, and only pruning and replay
-- (rare) look by time; every index here costs each change a write.

-- Per endpoint: how far the outbox has been fanned out to it (cursor), and
-- what the admin commands and the deliverer record.
CREATE TABLE webhook_endpoints (
	name          TEXT    PRIMARY KEY,
	cursor        INTEGER NOT NULL,
	paused        TEXT,               -- set when the receiver answered 410 Gone; cleared by webhooks resume
	last_success  TEXT,
	last_error    TEXT    NOT NULL DEFAULT '',
	last_error_at TEXT,
	delivered     INTEGER NOT NULL DEFAULT 0,
	failed        INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- One row per (endpoint, event) not yet delivered: state 0 pending, 2
-- failed (a delivered event's row is deleted; the endpoint counts it).
-- since is when the row last became pending (fan-out, retry, replay):
-- max_age counts from it. Pruning deletes rows with their events.
CREATE TABLE webhook_deliveries (
	endpoint    TEXT    NOT NULL,
	seq         INTEGER NOT NULL,
	resource_id TEXT    NOT NULL,
	state       INTEGER NOT NULL DEFAULT 0,
	attempts    INTEGER NOT NULL DEFAULT 0,
	since       TEXT    NOT NULL,
	next_at     TEXT    NOT NULL DEFAULT '',
	last_error  TEXT    NOT NULL DEFAULT '',
	done_at     TEXT,
	PRIMARY KEY (endpoint, seq)
) WITHOUT ROWID;
CREATE INDEX webhook_pending ON webhook_deliveries(endpoint, seq) WHERE state = 0;
CREATE INDEX webhook_failed ON webhook_deliveries(endpoint, seq) WHERE state = 2;
