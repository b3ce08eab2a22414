-- Ids of sessions that ended: deleted (logout, revoke-user, purge) or moved to a new id
-- (login, cycle). A deferred insert written back from a pending cookie after that never
-- brings one back. The cron prunes rows older than the idle timeout, past which no
-- pending cookie is accepted.
CREATE TABLE IF NOT EXISTS session_revocations (
  id         TEXT PRIMARY KEY,
  revoked_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS session_revocations_at ON session_revocations (revoked_at);
CREATE TRIGGER IF NOT EXISTS sessions_revoked_on_delete AFTER DELETE ON sessions
BEGIN
  INSERT OR REPLACE INTO session_revocations (id, revoked_at) VALUES (old.id, unixepoch());
END;
CREATE TRIGGER IF NOT EXISTS sessions_revoked_on_cycle AFTER UPDATE OF id ON sessions
WHEN old.id <> new.id
BEGIN
  INSERT OR REPLACE INTO session_revocations (id, revoked_at) VALUES (old.id, unixepoch());
END;
-- Per user, "not valid before" (ASVS 7.4.1): a revoke-user for sessions D1 does not hold
-- (the cookie store's) refuses every one created before this time.
CREATE TABLE IF NOT EXISTS user_revocations (
  user_id    TEXT PRIMARY KEY,
  not_before INTEGER NOT NULL
);
