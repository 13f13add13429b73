-- Users deleted while [users] on_delete = "deactivate": the record is kept
-- here, inactive and invisible to SCIM, until a POST with the same userName
-- brings it back under its old id.
CREATE TABLE users_deleted (
	seq            INTEGER PRIMARY KEY,
	id             TEXT    NOT NULL UNIQUE,
	user_name      TEXT    NOT NULL,
	user_name_fold TEXT    NOT NULL UNIQUE,
	external_id    TEXT,
	display_name   TEXT,
	doc            TEXT    NOT NULL,
	created        TEXT    NOT NULL,
	deleted        TEXT    NOT NULL,
	version        INTEGER NOT NULL
);
