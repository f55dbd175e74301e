-- `seq`, insert order, as PostgreSQL's outbox has it: both stores share one diesel schema
-- (crates/adapters/store-sql/src/schema.rs). Here an event is numbered at insert, so its
-- insert order is its number: a virtual column, stored nowhere.
ALTER TABLE session_events ADD COLUMN seq INTEGER GENERATED ALWAYS AS (id) VIRTUAL;
