-- scimd schema, version 2: indexes for the provisioning log's queries
-- (scimd log --user, --token, --failed). Retention pruning uses events_time.

-- log --user matches a userName case-insensitively (ASCII, enough to find a
-- row; the id match is exact).
CREATE INDEX events_name ON events(name COLLATE NOCASE);
CREATE INDEX events_token ON events(token, seq);
-- log --failed reads only failed requests, a small part of the log.
CREATE INDEX events_failed ON events(seq) WHERE status >= 400;
