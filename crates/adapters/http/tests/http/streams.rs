//! A live stream whose store reads keep failing backs off and ends (docs/api.md, "Live
//! streams (Server-Sent Events)"), on Tokio's paused clock: two minutes pass in no time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::http::header;
use actix_web::test::{self, TestRequest};
use evo_http::{HttpOptions, app_with_streams};
use evo_ports::{EventFilter, MockEventStreams, RepositoryError, ServiceError};

use crate::support::{BEARER, mock};

fn down() -> ServiceError {
    ServiceError::Repository(RepositoryError::Unavailable("the test store is down".into()))
}

#[actix_web::test]
async fn a_stream_whose_reads_keep_failing_backs_off_and_ends_after_two_minutes() {
    tokio::time::pause();
    let reads = Arc::new(AtomicUsize::new(0));
    let mut streams = MockEventStreams::new();
    streams.expect_watch_all().returning(|_| Ok(EventFilter::All));
    streams.expect_last_event_id().returning(|| Err(down()));
    let counted = Arc::clone(&reads);
    streams.expect_events_after().returning(move |_, _, _| {
        counted.fetch_add(1, Ordering::SeqCst);
        Err(down())
    });
    streams.expect_wait_for_events_after().returning(|after, _| after);
    let mut use_cases = mock();
    use_cases.expect_token_valid_until().returning(|_| None);
    let service =
        test::init_service(app_with_streams(Arc::new(use_cases), Arc::new(streams), HttpOptions::default()))
            .await;

    let started = tokio::time::Instant::now();
    let request = TestRequest::get()
        .uri("/events")
        .insert_header((header::AUTHORIZATION, BEARER))
        .insert_header(("Last-Event-ID", "5"))
        .to_request();
    let response = test::call_service(&service, request).await;
    assert_eq!(response.status(), 200);
    let body = tokio::time::timeout(Duration::from_secs(600), test::read_body(response))
        .await
        .expect("the stream ends instead of retrying forever");
    let lived = started.elapsed();
    let body = String::from_utf8(body.to_vec()).unwrap();

    assert!(lived >= Duration::from_secs(120) && lived < Duration::from_secs(160), "ended after {lived:?}");
    // Reads at 0, 1, 3, 7, 15, 31, 61, 91 and 121 s: 1 s doubling up to 30 s (one a second
    // would be 120 reads).
    let reads = reads.load(Ordering::SeqCst);
    assert!((6..=12).contains(&reads), "{reads} reads in two minutes");
    assert!(body.matches(": keep-alive").count() >= 7, "keep-alives while it waits: {body:?}");
}
