-- Phase (3), the physical ceiling: the same removal (checks, delete the member, append the
-- log entry, update the header, return the session) in ONE round trip, through the
-- server-side function bench.remove_member (bench/sql/schema.sql).
SELECT * FROM bench.remove_member(:sid, :member, :actor, :now, :msg, :accounts);
