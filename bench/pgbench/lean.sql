-- Phase (4), the one-trip ceiling on the leanest schema (bench/sql/lean.sql): the same
-- removal as (3) (checks, delete the member, append the log entry, update the header) PLUS
-- the outbox event the service writes (ChatMemberRemoved, its ~2 KB JSON body built in
-- SQL), in ONE round trip through lean.remove_member, which returns the session as JSON
-- (the service's answer). The actor's name is the one run.sh mints the token for.
SELECT lean.remove_member(:sid, :member, :actor, 'Bench User', :now, :msg, :accounts);
