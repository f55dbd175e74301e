//! # evo-store-testkit
//!
//! The contract every [`SessionRepository`](evo_ports::SessionRepository) must honour,
//! written once: [`cases`] holds one `pub async fn` per behaviour, each taking a fresh,
//! empty repository; [`repository_contract_tests!`] turns them all into tests of a store.
//!
//! ```ignore
//! async fn store() -> (MyRepository, TempDir) { /* a fresh, empty store and what keeps it alive */ }
//! evo_store_testkit::repository_contract_tests!(store());
//! ```
//!
//! The expression is evaluated once per test; it must give a future of
//! `(repository, keep_alive)`, where `keep_alive` (a temporary database, a folder...) is
//! dropped when the test ends. Each test runs on a multi-threaded Tokio runtime. The store
//! must implement the outbox ports too ([`cases::Store`]) and write its events for a webhook
//! (`Outbox::new(.., true)`): [`event_cases`] checks their delivery.

pub mod cases;
pub mod event_cases;
pub mod finding_cases;
pub mod fixtures;

/// Expands to one `#[tokio::test(flavor = "multi_thread")]` per case of [`cases`], each
/// running the case against the repository that `$factory.await` gives.
#[macro_export]
macro_rules! repository_contract_tests {
    ($factory:expr) => {
        $crate::repository_contract_tests!(@cases $factory;
            ping_answers,
            insert_then_find_round_trips_every_field,
            find_of_an_unknown_session_is_none,
            insert_of_an_existing_id_is_already_exists,
            remove_member_persists_and_returns_the_stored_state,
            invite_member_persists_and_returns_the_stored_state,
            end_session_persists_and_returns_the_stored_state,
            update_of_an_unknown_session_is_not_found,
            chat_changes_to_a_voice_session_are_refused_and_change_nothing,
            changes_to_an_ended_session_are_refused_and_change_nothing,
            removing_a_missing_member_is_refused_and_changes_nothing,
            removing_the_original_member_is_refused_and_changes_nothing,
            inviting_a_current_member_is_refused_and_changes_nothing,
            members_keep_join_order,
            log_keeps_order,
            timestamps_round_trip_to_the_millisecond,
            user_ids_compare_case_insensitively_and_keep_their_case,
            concurrent_removals_of_distinct_members_all_succeed,
            concurrent_removals_of_the_same_member_succeed_once,
            removals_racing_an_end_either_precede_it_or_see_it_ended,
            concurrent_invites_of_the_same_identity_succeed_once,
            interleaved_invites_and_removals_stay_consistent,
            every_change_bumps_the_stored_version,
            a_change_on_an_old_version_is_refused_and_changes_nothing,
            concurrent_changes_on_one_version_apply_once,
            a_repeated_keyed_change_replays_its_answer_and_changes_nothing,
            a_key_reused_for_another_request_is_refused,
            concurrent_repeats_of_one_keyed_change_apply_once,
            a_repeated_keyed_new_session_replays_its_answer,
            expired_keys_are_used_afresh_and_purged,
            sessions_are_found_and_changed_only_among_the_callers_accounts,
            a_key_is_the_callers_across_its_accounts,
            a_kept_answer_is_seen_where_update_would_answer_from_it,
            a_change_past_the_size_limit_is_refused_and_an_end_is_not,
            a_patch_persists_the_fields_it_sets_and_keeps_the_others,
        );
        $crate::repository_contract_tests!(@events $factory;
            every_change_has_one_event_and_a_refusal_none,
            concurrent_changes_have_one_event_each_in_change_order,
            events_read_after_a_number_and_by_account,
            delivery_hands_out_each_sessions_events_in_order,
            concurrent_claims_never_hand_out_one_event_twice,
            events_are_read_in_pages_of_at_most_a_mebibyte,
            delivery_takes_turns_between_accounts,
        );
        $crate::repository_contract_tests!(@finding $factory;
            every_filter_finds_its_sessions_alone_and_combined,
            pages_follow_each_other_in_the_order_asked,
            a_members_active_sessions_are_found_by_identity,
            an_answer_kept_for_many_changes_is_kept_once,
        );
    };
    (@finding $factory:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let (repository, keep_alive) = $factory.await;
                $crate::finding_cases::$case(::std::sync::Arc::new(repository)).await;
                drop(keep_alive);
            }
        )+
    };
    (@events $factory:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let (repository, keep_alive) = $factory.await;
                $crate::event_cases::$case(::std::sync::Arc::new(repository)).await;
                drop(keep_alive);
            }
        )+
    };
    (@cases $factory:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let (repository, keep_alive) = $factory.await;
                $crate::cases::$case(::std::sync::Arc::new(repository)).await;
                drop(keep_alive);
            }
        )+
    };
}

/// The outbox a store under test writes: events for a webhook, with the summary renderer
/// (`type`, `accountId`, `sessionId`, `version`) whose fields [`event_cases`] reads, and a
/// session size limit of [`fixtures::MAX_SESSION_BYTES`] as [`fixtures::SizedSummaryRenderer`]
/// measures a session.
pub fn outbox_for_webhooks() -> evo_store_sql::Outbox {
    evo_store_sql::Outbox::new(std::sync::Arc::new(fixtures::SizedSummaryRenderer), true)
        .with_session_limit(fixtures::MAX_SESSION_BYTES)
}

#[cfg(test)]
mod tests {
    /// The cases of a module's text: its `pub async fn name(repo: Repo)`.
    fn cases_of(text: &str) -> Vec<&str> {
        text.lines()
            .filter_map(|line| line.strip_prefix("pub async fn "))
            .filter(|rest| rest.contains("(repo: Repo)"))
            .filter_map(|rest| rest.split('(').next())
            .collect()
    }

    /// The names listed in `repository_contract_tests!`: the lines `name,` of this file.
    fn listed(text: &str) -> Vec<&str> {
        text.lines()
            .map(str::trim)
            .filter_map(|line| line.strip_suffix(','))
            .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect()
    }

    /// A case written but not listed would never run: every one is listed, once.
    #[test]
    fn every_case_is_listed_once() {
        let listed = listed(include_str!("lib.rs"));
        let cases: Vec<&str> =
            [include_str!("cases.rs"), include_str!("event_cases.rs"), include_str!("finding_cases.rs")]
                .into_iter()
                .flat_map(cases_of)
                .collect();
        assert!(cases.len() > 30, "the cases were not found: {cases:?}");
        for case in &cases {
            let times = listed.iter().filter(|name| *name == case).count();
            assert_eq!(times, 1, "{case} is listed {times} times in repository_contract_tests!");
        }
        assert_eq!(listed.len(), cases.len(), "listed but not a case: {listed:?}");
    }
}
