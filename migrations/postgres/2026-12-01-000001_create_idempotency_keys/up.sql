-- The answers of keyed requests (docs/api.md, "Idempotency-Key"): a retry with the same Idempotency-Key
-- gets the stored answer back. Each row is written in the transaction of the change it
-- answers, so no change is ever without its row, nor a row without its change.
CREATE TABLE idempotency_keys (
    scope        TEXT        NOT NULL, -- the caller (`sub`)
    key          TEXT        NOT NULL, -- the Idempotency-Key
    fingerprint  TEXT        NOT NULL, -- SHA-256 of the method, path, query and body
    status       INTEGER     NOT NULL,
    content_type TEXT        NOT NULL,
    body         BYTEA       NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, key)
);
-- The purge deletes expired rows in bounded batches, oldest first.
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
