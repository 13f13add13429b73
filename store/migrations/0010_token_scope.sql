-- scimd schema, version 10: a token's scope. "write" (every token issued
-- before this version) may do everything SCIM allows; "read" may only read
-- (the server answers 403 to its writes).
ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'write';
