-- The lifetime the origin chose for a session (`X-Session-Lifetime`): NULL for the
-- default one, else `browser`, `remember` or `<idle seconds>[,<absolute seconds>]`.
-- Additive: rows from before read as the default lifetime.
ALTER TABLE sessions ADD COLUMN lifetime TEXT NULL;
