-- Where and when a session is used (additive: rows from before keep working, with these
-- NULL). `context` is JSON text: user_agent, country, city, colo, asn, network (the
-- client's /24 or /48, never its address); written only by writes a session has anyway.
ALTER TABLE sessions ADD COLUMN context TEXT NULL;
-- When the session's user last logged in (set by the login, cleared by a logout).
ALTER TABLE sessions ADD COLUMN authenticated_at INTEGER NULL;
-- The admin API pages newest first by rowid (insertion order: a row inserted meanwhile is
-- always newer than a cursor, so pages never shift), filtered by user or signal name.
CREATE INDEX IF NOT EXISTS session_signals_user_id ON session_signals (user_id);
CREATE INDEX IF NOT EXISTS session_signals_name ON session_signals (name);
