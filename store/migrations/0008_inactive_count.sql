-- The number of inactive users, kept by triggers beside the totals of 0004,
-- so /metrics and the status page report active and inactive users without
-- scanning every row of users on each scrape. The UPDATE trigger fires only
-- when active flips, which few writes do.
INSERT INTO counts (name, n) SELECT 'users_inactive', count(*) FROM users WHERE active = 0;
CREATE TRIGGER users_inactive_ins AFTER INSERT ON users WHEN NEW.active = 0
BEGIN UPDATE counts SET n = n + 1 WHERE name = 'users_inactive'; END;
CREATE TRIGGER users_inactive_del AFTER DELETE ON users WHEN OLD.active = 0
BEGIN UPDATE counts SET n = n - 1 WHERE name = 'users_inactive'; END;
CREATE TRIGGER users_inactive_upd AFTER UPDATE OF active ON users WHEN OLD.active <> NEW.active
BEGIN UPDATE counts SET n = n + (CASE WHEN NEW.active = 0 THEN 1 ELSE -1 END) WHERE name = 'users_inactive'; END;
