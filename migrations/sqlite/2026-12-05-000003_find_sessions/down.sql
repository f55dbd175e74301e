DROP TRIGGER session_log_search_insert;
DROP TABLE session_log_search;
DROP INDEX session_members_identity_key_idx;
DROP INDEX sessions_endpoint_id_idx;
DROP INDEX sessions_customer_id_idx;
DROP INDEX sessions_date_created_idx;
