-- Audit log of lifecycle signals, written by the queue consumer. `id` is the event id:
-- delivery is at-least-once, so inserts are INSERT OR IGNORE.
CREATE TABLE IF NOT EXISTS session_signals (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  session_id TEXT NULL,
  user_id    TEXT NULL,
  payload    TEXT NOT NULL,
  at         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS session_signals_at ON session_signals (at);
CREATE INDEX IF NOT EXISTS session_signals_session_id ON session_signals (session_id);
