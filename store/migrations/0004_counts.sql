-- Row counts kept by triggers, so an unfiltered list reports totalResults
-- without counting a million rows on every page.
CREATE TABLE counts (
	name TEXT PRIMARY KEY,
	n    INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counts (name, n) SELECT 'users', count(*) FROM users;
INSERT INTO counts (name, n) SELECT 'groups', count(*) FROM groups;
CREATE TRIGGER users_count_ins AFTER INSERT ON users BEGIN UPDATE counts SET n = n + 1 WHERE name = 'users'; END;
CREATE TRIGGER users_count_del AFTER DELETE ON users BEGIN UPDATE counts SET n = n - 1 WHERE name = 'users'; END;
CREATE TRIGGER groups_count_ins AFTER INSERT ON groups BEGIN UPDATE counts SET n = n + 1 WHERE name = 'groups'; END;
CREATE TRIGGER groups_count_del AFTER DELETE ON groups BEGIN UPDATE counts SET n = n - 1 WHERE name = 'groups'; END;
