-- scimd schema, version 12: a resource event no longer copies its resource.
--
-- user.created/updated/deactivated/reactivated and group.created/updated
-- store data = '' while the resource's row still holds the document the
-- event carries: the deliverer reads it from there. Copying it into the
-- event made each create write the document twice (roughly double the WAL
-- bytes of a durable commit). Copy on write keeps every event's content
-- fixed: when the row's document changes or the row goes away, the
-- triggers below first move the old document into the event that still
-- points at it, in the same transaction. At most one event per resource
-- points at its row (the latest): the partial index finds it.
CREATE INDEX outbox_live ON outbox(resource_id) WHERE data = '';

CREATE TRIGGER users_outbox_keep_upd AFTER UPDATE OF doc ON users WHEN OLD.doc IS NOT NEW.doc
BEGIN UPDATE outbox SET data = OLD.doc WHERE resource_id = OLD.id AND data = '' AND type GLOB 'user.*'; END;
CREATE TRIGGER users_outbox_keep_del AFTER DELETE ON users
BEGIN UPDATE outbox SET data = OLD.doc WHERE resource_id = OLD.id AND data = '' AND type GLOB 'user.*'; END;
CREATE TRIGGER groups_outbox_keep_upd AFTER UPDATE OF doc ON groups WHEN OLD.doc IS NOT NEW.doc
BEGIN UPDATE outbox SET data = OLD.doc WHERE resource_id = OLD.id AND data = '' AND type GLOB 'group.*'; END;
CREATE TRIGGER groups_outbox_keep_del AFTER DELETE ON groups
BEGIN UPDATE outbox SET data = OLD.doc WHERE resource_id = OLD.id AND data = '' AND type GLOB 'group.*'; END;
