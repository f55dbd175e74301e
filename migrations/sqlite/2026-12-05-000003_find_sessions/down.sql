DROP INDEX session_members_identity_key_idx;
DROP INDEX sessions_endpoint_id_idx;
DROP INDEX sessions_customer_id_idx;
DROP INDEX sessions_date_created_idx;
