-- 0015: API tokens for `herald serve`, the admin HTTP API (issue #14; docs/api.md).
--
-- Why: the HTTP API is reached from other hosts, so every request carries a bearer token. A token is
-- either an admin's (every application) or one application's (handed to that customer: it sees its own
-- application only). The token itself is shown once by `herald tokens create` and never stored: a copy of
-- this table (a backup, a replica, a leaked dump) must not let anyone call the API. Only its SHA-256 is
-- kept; a token is 256 random bits, so a plain hash (no salt, no slow KDF) is enough, and it lets the server
-- find and check a token with one indexed read per request.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

CREATE TABLE api_tokens (
    -- The token's public part, also inside the token (`hrld_<id>_<secret>`): how the server finds the row,
    -- and what `herald tokens list` shows and `herald tokens revoke` takes. Not a secret.
    id text PRIMARY KEY,
    -- SHA-256 of the whole token text; compared in constant time by the server.
    token_sha256 bytea NOT NULL,
    -- NULL: an admin token. Otherwise the one application the token may see; deleting the application
    -- is not possible while tokens name it (they are revoked, not silently dropped).
    application_id text REFERENCES applications (id),
    name text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    -- NULL: never expires.
    expires_at timestamptz,
    -- Set by `herald tokens revoke`; the row stays so the audit of who had access stays.
    revoked_at timestamptz,
    -- Updated at most once a minute per token by the server: enough to find unused tokens, without a
    -- write per request.
    last_used_at timestamptz,
    CONSTRAINT api_tokens_id CHECK (id ~ '^[a-z0-9]{8,32}$'),
    CONSTRAINT api_tokens_hash CHECK (octet_length(token_sha256) = 32),
    CONSTRAINT api_tokens_name CHECK (length(name) <= 256)
);

-- `herald tokens list --app` and revoking an application's tokens.
CREATE INDEX api_tokens_application_idx ON api_tokens (application_id) WHERE application_id IS NOT NULL;
