-- bench/outbox_layouts.sh: two layouts of the outbox, side by side, in the schema `layouts`.
--
-- (today) the migrations' own session_events (copied with LIKE ... INCLUDING ALL): a change
--         inserts its event unnumbered; the sequencer sets `id`, which rewrites the ~2 KB row
--         (the update cannot be HOT: `id` is indexed) and adds its index entries again.
-- (queue) the same table without the indexes on `id`, plus two narrow tables: a change
--         also inserts (account, session, seq) into `unnumbered`; the sequencer moves those
--         rows into `numbers` (id, account, session, seq) with their number. The event row is
--         written once. Numbers are still given after commit, in one transaction at a time
--         under an advisory lock, in insert order: what an event number means (docs/api.md,
--         "The event body") does not change; readers would join `numbers` to the events.
DROP SCHEMA IF EXISTS layouts CASCADE;
CREATE SCHEMA layouts;

CREATE TABLE layouts.today (LIKE public.session_events INCLUDING ALL);
CREATE SEQUENCE layouts.today_ids AS BIGINT;

CREATE TABLE layouts.queued (LIKE public.session_events INCLUDING ALL);
-- Every index of the copy that names `id` goes: this layout keeps numbers elsewhere.
DO $$
DECLARE i record;
BEGIN
    FOR i IN SELECT indexname FROM pg_indexes
             WHERE schemaname = 'layouts' AND tablename = 'queued' AND indexdef ~ '\mid\M'
    LOOP
        EXECUTE format('DROP INDEX layouts.%I', i.indexname);
    END LOOP;
END
$$;
CREATE TABLE layouts.unnumbered (
    seq        BIGINT PRIMARY KEY,
    account_id TEXT NOT NULL,
    session_id TEXT NOT NULL
);
CREATE TABLE layouts.numbers (
    id         BIGINT PRIMARY KEY,
    account_id TEXT   NOT NULL,
    session_id TEXT   NOT NULL,
    seq        BIGINT NOT NULL
);
-- A session's stream reads its numbers in order.
CREATE INDEX numbers_session_idx ON layouts.numbers (account_id, session_id, id);
CREATE SEQUENCE layouts.queued_ids AS BIGINT;

-- One event body as the service renders it (filled by the script from evo_bench).
CREATE TABLE layouts.sample (body TEXT NOT NULL);
