-- scimd schema, version 9: the values of declared attributes that are
-- filterable or unique live in side tables, one row per (attribute,
-- resource), written by scimd in the same transaction as the document and
-- already case-folded in Go (scim.Fold) when the attribute is not
-- caseExact. Their indexes are on plain columns, so the stored schema uses
-- only SQLite's built-in functions and any sqlite3 shell can check the file
-- (PRAGMA integrity_check). Before this version they were expression
-- indexes calling scimd's own scim_fold(); Open converts those.

-- One row per indexed declaration. name is attr_<table>_<hash of path,
-- caseExact and unique>; a unique one also names the partial UNIQUE index
-- on its values. fold identifies the folding the values were computed
-- with, so a change of scim.Fold refolds them at the next start.
CREATE TABLE IF NOT EXISTS declared_indexes (
	name       TEXT    PRIMARY KEY,
	tbl        TEXT    NOT NULL,      -- users or groups
	decl       TEXT    NOT NULL,      -- the attribute's full name, for messages
	path       TEXT    NOT NULL,      -- JSON array: the attribute's keys in doc
	case_exact INTEGER NOT NULL,
	is_unique  INTEGER NOT NULL,
	fold       TEXT    NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS user_attrs (
	attr  TEXT    NOT NULL,           -- declared_indexes.name
	value         NOT NULL,           -- folded text, number, or 1/0
	seq   INTEGER NOT NULL REFERENCES users(seq) ON DELETE CASCADE,
	PRIMARY KEY (attr, value, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS user_attrs_seq ON user_attrs(seq);

CREATE TABLE IF NOT EXISTS group_attrs (
	attr  TEXT    NOT NULL,
	value         NOT NULL,
	seq   INTEGER NOT NULL REFERENCES groups(seq) ON DELETE CASCADE,
	PRIMARY KEY (attr, value, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS group_attrs_seq ON group_attrs(seq);
