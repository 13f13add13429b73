-- scimd schema, version 1.
-- Users and groups keep the client's attributes as one JSON document (doc)
-- plus the columns that are looked up, indexed or kept unique. seq is the
-- stable order of creation used for paging; id is the SCIM id.

CREATE TABLE users (
	seq            INTEGER PRIMARY KEY,
	id             TEXT    NOT NULL UNIQUE,
	user_name      TEXT    NOT NULL,
	user_name_fold TEXT    NOT NULL UNIQUE,   -- Unicode case-folded userName (RFC 7643 caseExact false)
	external_id    TEXT,
	display_name   TEXT,
	active         INTEGER NOT NULL DEFAULT 1,
	doc            TEXT    NOT NULL,          -- JSON: every other attribute, as sent
	created        TEXT    NOT NULL,          -- UTC, fixed width, so text order is time order
	modified       TEXT    NOT NULL,
	version        INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX users_external_id ON users(external_id);

CREATE TABLE groups (
	seq               INTEGER PRIMARY KEY,
	id                TEXT    NOT NULL UNIQUE,
	display_name      TEXT    NOT NULL,
	display_name_fold TEXT    NOT NULL UNIQUE,
	external_id       TEXT,
	doc               TEXT    NOT NULL,
	created           TEXT    NOT NULL,
	modified          TEXT    NOT NULL,
	version           INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX groups_external_id ON groups(external_id);

-- Memberships are a set: one row per (group, member). member_kind is 0 for a
-- user and 1 for a group. Changes are INSERT OR IGNORE / DELETE, never a
-- rewrite of the whole list.
CREATE TABLE members (
	group_seq   INTEGER NOT NULL REFERENCES groups(seq) ON DELETE CASCADE,
	member_kind INTEGER NOT NULL,
	member_seq  INTEGER NOT NULL,
	PRIMARY KEY (group_seq, member_kind, member_seq)
) WITHOUT ROWID;
CREATE INDEX members_member ON members(member_kind, member_seq);

-- Bearer tokens: only the SHA-256 of the secret is kept.
CREATE TABLE tokens (
	seq          INTEGER PRIMARY KEY,
	name         TEXT    NOT NULL,
	idp          TEXT    NOT NULL,
	hash         BLOB    NOT NULL UNIQUE,
	created      TEXT    NOT NULL,
	expires      TEXT    NOT NULL,
	revoked      TEXT,                 -- set by token revoke
	retires      TEXT,                 -- set when rotated: the old secret works until then
	successor    INTEGER REFERENCES tokens(seq),
	last_used    TEXT,
	last_agent   TEXT
);
CREATE INDEX tokens_name ON tokens(name);

-- The provisioning log: one row per change made through SCIM, written in the
-- same transaction as the change, and one per failed request.
CREATE TABLE events (
	seq           INTEGER PRIMARY KEY,
	time          TEXT    NOT NULL,
	token         TEXT    NOT NULL,
	agent         TEXT    NOT NULL,
	op            TEXT    NOT NULL,
	resource_type TEXT    NOT NULL,
	resource_id   TEXT    NOT NULL,
	name          TEXT    NOT NULL,
	attrs         TEXT    NOT NULL,   -- JSON array of attribute names (never values)
	status        INTEGER NOT NULL,
	scim_type     TEXT    NOT NULL DEFAULT '',
	detail        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX events_time ON events(time);
CREATE INDEX events_resource ON events(resource_id);

-- One row of bookkeeping: when the directory last changed.
CREATE TABLE state (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
