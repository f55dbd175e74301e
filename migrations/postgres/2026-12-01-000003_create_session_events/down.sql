DROP TABLE session_events;
DROP SEQUENCE session_event_ids;
