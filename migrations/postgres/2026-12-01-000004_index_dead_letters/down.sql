DROP INDEX session_events_dead_idx;
