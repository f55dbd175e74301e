//! The diesel schema of `migrations/postgres`.

diesel::table! {
    sessions (id) {
        id -> Text,
        account_id -> Text,
        channel -> Text,
        direction -> Text,
        dial_state -> Text,
        call_state -> Text,
        queue_state -> Text,
        hold_reason -> Text,
        ended -> Bool,
        was_missed -> Bool,
        date_completed -> Nullable<Timestamptz>,
        account_name -> Nullable<Text>,
        customer_id -> Nullable<Text>,
        customer_breadcrumb -> Jsonb,
        customer_name -> Nullable<Text>,
        endpoint_id -> Nullable<Text>,
        endpoint_name -> Nullable<Text>,
        destination -> Nullable<Text>,
        to_address -> Nullable<Text>,
        from_address -> Nullable<Text>,
        from_name -> Nullable<Text>,
        answered_by_name -> Nullable<Text>,
        queue_member_id -> Nullable<Text>,
        outcome -> Nullable<Text>,
        call_sid -> Nullable<Text>,
        console_data -> Nullable<Text>,
        hold_queue_name -> Nullable<Text>,
        held_by_user_id -> Nullable<Text>,
        conference_sid -> Nullable<Text>,
        display_name -> Nullable<Text>,
        callback_number -> Nullable<Text>,
        answered_by_id -> Nullable<Text>,
        from_phone_number -> Nullable<Text>,
        most_recent_participant_call_sid -> Nullable<Text>,
        ring_queue_id -> Nullable<Text>,
        date_created -> Timestamptz,
        created_by -> Text,
        date_last_modified -> Timestamptz,
        last_modified_by -> Text,
        version -> BigInt,
    }
}

diesel::table! {
    session_members (position) {
        position -> BigInt,
        session_id -> Text,
        identity -> Text,
        identity_key -> Text,
        endpoint_id -> Nullable<Text>,
        display_name -> Nullable<Text>,
        is_original_member -> Bool,
        avatar_url -> Nullable<Text>,
        application_data -> Jsonb,
        call_state -> Text,
        role -> Text,
        call_sid -> Nullable<Text>,
        muted -> Bool,
    }
}

diesel::table! {
    session_log (seq) {
        seq -> BigInt,
        session_id -> Text,
        date -> Timestamptz,
        message -> Text,
    }
}

diesel::table! {
    idempotency_keys (scope, key) {
        scope -> Text,
        key -> Text,
        fingerprint -> Text,
        status -> Integer,
        content_type -> Text,
        body -> Binary,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    session_events (account_id, session_id, seq) {
        seq -> BigInt,
        id -> Nullable<BigInt>,
        account_id -> Text,
        session_id -> Text,
        event_type -> Text,
        body -> Text,
        created_at -> Timestamptz,
        delivery -> SmallInt,
        attempts -> Integer,
        pending_since -> Timestamptz,
        next_attempt_at -> Timestamptz,
        lease_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
    }
}

diesel::joinable!(session_members -> sessions (session_id));
diesel::joinable!(session_log -> sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(
    sessions,
    session_members,
    session_log,
    idempotency_keys,
    session_events
);
