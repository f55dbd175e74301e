DROP TABLE session_log;
DROP TABLE session_members;
DROP TABLE sessions;
