-- scimd schema, version 7: users kept by on_delete = "deactivate" no longer
-- hold on to the row number (users.seq) they had. SQLite hands the highest
-- free number to the next new user, so a kept number could be given away,
-- and the kept user's return then collided with whoever got it. From now on
-- seq is the kept record's own number, and a returning user is inserted
-- with a new users.seq.
--
-- user_name_fold is no longer UNIQUE here: a user renamed to the name of a
-- kept user and then deleted is kept too; a POST of that name brings back
-- the most recently deleted one.
CREATE TABLE users_kept (
	seq            INTEGER PRIMARY KEY,       -- this record's own number, unrelated to users.seq
	id             TEXT    NOT NULL UNIQUE,
	user_name      TEXT    NOT NULL,
	user_name_fold TEXT    NOT NULL,          -- scim.NameKey(user_name), as in users
	external_id    TEXT,
	display_name   TEXT,
	doc            TEXT    NOT NULL,
	created        TEXT    NOT NULL,
	deleted        TEXT    NOT NULL,
	version        INTEGER NOT NULL
);
INSERT INTO users_kept (id, user_name, user_name_fold, external_id, display_name, doc, created, deleted, version)
	SELECT id, user_name, user_name_fold, external_id, display_name, doc, created, deleted, version
	FROM users_deleted ORDER BY deleted, seq;
DROP TABLE users_deleted;
ALTER TABLE users_kept RENAME TO users_deleted;
CREATE INDEX users_deleted_name ON users_deleted(user_name_fold, deleted);
