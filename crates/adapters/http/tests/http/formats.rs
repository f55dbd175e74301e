//! CSV and JSV outputs, compared whole, and how the format is chosen.

use actix_web::http::header;
use actix_web::test::TestRequest;
use evo_http::dto::{SESSION_INFO_FIELDS, SessionInfo};
use evo_http::text_formats::OrderedValue;
use evo_ports::ChangeOutcome;

use crate::support::*;

/// The Evo Voice API's JSON sample of SessionInfo, whose key order is the CSV column order
/// (docs/api.md, "CSV").
pub const SEED_SAMPLE: &str = r#"{"dialState":"None","callState":"Disconnected","queueState":"None","accountId":"String","accountName":"String","customerId":"String","customerBreadcrumb":[{"id":"String","name":"String"}],"customerName":"String","endpointId":"String","endpointName":"String","dateCompleted":"String","destination":"String","toAddress":"String","fromAddress":"String","fromName":"String","answeredByName":"String","queueMemberId":"String","channel":"Voice","ended":false,"outcome":"String","callSid":"String","consoleData":"String","holdQueueName":"String","heldByUserId":"String","holdReason":"None","conferenceSid":"String","displayName":"String","log":[{"date":"String","message":"String"}],"members":[{"identity":"String","endpointId":"String","displayName":"String","isOriginalMember":false,"avatarUrl":"String","applicationData":{"String":"String"},"callState":"None","role":"None","callSid":"String","muted":false}],"callbackNumber":"String","answeredById":"String","direction":"Incoming","fromPhoneNumber":"String","mostRecentParticipantCallSid":"String","wasMissed":false,"ringQueueId":"String","id":"String","dateCreated":"String","dateLastModified":"String","createdBy":"String","lastModifiedBy":"String"}"#;

fn keys(value: &OrderedValue) -> Vec<String> {
    match value {
        OrderedValue::Object(properties) => properties.iter().map(|(k, _)| k.clone()).collect(),
        other => panic!("not an object: {other:?}"),
    }
}

/// Every property set, so that none is left out of the JSON.
fn full_session_info() -> SessionInfo {
    let mut data = sample_session().into_data();
    let text = |name: &str| Some(format!("{name} value"));
    let details = &mut data.details;
    details.account_name = text("accountName");
    details.customer_id = text("customerId");
    details.endpoint_id = text("endpointId");
    details.endpoint_name = text("endpointName");
    details.destination = text("destination");
    details.to_address = text("toAddress");
    details.from_address = text("fromAddress");
    details.from_name = text("fromName");
    details.answered_by_name = text("answeredByName");
    details.queue_member_id = text("queueMemberId");
    details.outcome = text("outcome");
    details.call_sid = text("callSid");
    details.console_data = text("consoleData");
    details.hold_queue_name = text("holdQueueName");
    details.held_by_user_id = text("heldByUserId");
    details.conference_sid = text("conferenceSid");
    details.callback_number = text("callbackNumber");
    details.answered_by_id = text("answeredById");
    details.from_phone_number = text("fromPhoneNumber");
    details.most_recent_participant_call_sid = text("mostRecentParticipantCallSid");
    details.ring_queue_id = text("ringQueueId");
    data.date_completed = Some(at(22, 0, 0, 0));
    data.members[0].endpoint_id = text("endpointId");
    data.members[0].avatar_url = text("avatarUrl");
    data.members[0].call_sid = text("callSid");
    SessionInfo::from(&evo_domain::Session::restore(data))
}

#[test]
fn json_keys_and_csv_columns_follow_the_seed_sample() {
    let seed: OrderedValue = serde_json::from_str(SEED_SAMPLE).unwrap();
    let info = OrderedValue::of(&full_session_info()).unwrap();
    assert_eq!(keys(&info), keys(&seed));
    assert_eq!(SESSION_INFO_FIELDS, keys(&seed));
    let member_keys = |value: &OrderedValue| match value.property("members") {
        Some(OrderedValue::List(members)) => keys(&members[0]),
        other => panic!("no members: {other:?}"),
    };
    assert_eq!(member_keys(&info), member_keys(&seed));
}

const CSV_HEADER: &str = "DialState,CallState,QueueState,AccountId,AccountName,CustomerId,CustomerBreadcrumb,CustomerName,EndpointId,EndpointName,DateCompleted,Destination,ToAddress,FromAddress,FromName,AnsweredByName,QueueMemberId,Channel,Ended,Outcome,CallSid,ConsoleData,HoldQueueName,HeldByUserId,HoldReason,ConferenceSid,DisplayName,Log,Members,CallbackNumber,AnsweredById,Direction,FromPhoneNumber,MostRecentParticipantCallSid,WasMissed,RingQueueId,Id,DateCreated,DateLastModified,CreatedBy,LastModifiedBy\r\n";

fn sample_csv() -> String {
    let cells: [&str; 41] = [
        "None",
        "Connected",
        "None",
        "acme",
        "",
        "",
        r#""[{Id:c1,Name:""Acme, Inc.""},{Id:c2}]""#,
        r#""Ann ""The Boss"" Smith""#,
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "Chat",
        "False",
        "",
        "",
        "",
        "",
        "",
        "None",
        "",
        "\"Line1\nLine2\"",
        "\"[{Date:2026-11-26T21:01:49.123Z,Message:Ann started the session},{Date:2026-11-26T21:02:00.000Z,Message:Ann added Bob to the chat}]\"",
        r#""[{Identity:+15551234567,DisplayName:""Caller, Jr."",IsOriginalMember:true,ApplicationData:{crm:""x,y"",note:""say """"hi""""""},CallState:Connected,Role:Caller,Muted:false},{Identity:bob@example.com,DisplayName:Bob,IsOriginalMember:false,ApplicationData:{},CallState:Connected,Role:Agent,Muted:false}]""#,
        "",
        "",
        "Incoming",
        "",
        "",
        "False",
        "",
        "s-1",
        "2026-11-26T21:01:49.123Z",
        "2026-11-26T21:02:00.000Z",
        "ann@example.com",
        "ann@example.com",
    ];
    format!("{CSV_HEADER}{}\r\n", cells.join(","))
}

const SAMPLE_JSV: &str = r#"{DialState:None,CallState:Connected,QueueState:None,AccountId:acme,CustomerBreadcrumb:[{Id:c1,Name:"Acme, Inc."},{Id:c2}],CustomerName:"Ann ""The Boss"" Smith",Channel:Chat,Ended:false,HoldReason:None,DisplayName:"Line1
Line2",Log:[{Date:2026-11-26T21:01:49.123Z,Message:Ann started the session},{Date:2026-11-26T21:02:00.000Z,Message:Ann added Bob to the chat}],Members:[{Identity:+15551234567,DisplayName:"Caller, Jr.",IsOriginalMember:true,ApplicationData:{crm:"x,y",note:"say ""hi"""},CallState:Connected,Role:Caller,Muted:false},{Identity:bob@example.com,DisplayName:Bob,IsOriginalMember:false,ApplicationData:{},CallState:Connected,Role:Agent,Muted:false}],Direction:Incoming,WasMissed:false,Id:s-1,DateCreated:2026-11-26T21:01:49.123Z,DateLastModified:2026-11-26T21:02:00.000Z,CreatedBy:ann@example.com,LastModifiedBy:ann@example.com}"#;

fn get_mock() -> evo_ports::MockSessionUseCases {
    let mut mock = mock();
    mock.expect_get_session().times(1).returning(|_, _| Ok(sample_session()));
    mock
}

async fn get(uri: &str, accept: Option<&str>) -> Reply {
    let mut request = TestRequest::get().uri(uri).insert_header((header::AUTHORIZATION, BEARER));
    if let Some(accept) = accept {
        request = request.insert_header((header::ACCEPT, accept));
    }
    send(get_mock(), request).await
}

#[actix_web::test]
async fn csv_is_a_header_and_one_row_as_servicestack_writes_it() {
    let reply = get("/sessions/s-1.csv", None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("text/csv"));
    assert_eq!(reply.header("content-disposition"), Some("attachment;filename=\"GetSession.csv\""));
    assert_eq!(reply.body, sample_csv());
}

#[actix_web::test]
async fn csv_of_delete_chat_member_is_named_after_the_operation() {
    let mut mock = mock();
    mock.expect_delete_chat_member().times(1).returning(|_, _| Ok(ChangeOutcome::Applied(sample_session())));
    let reply = send(
        mock,
        TestRequest::delete()
            .uri("/sessions/s-1/members/%2B15551234567?format=csv")
            .insert_header((header::AUTHORIZATION, BEARER)),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-disposition"), Some("attachment;filename=\"DeleteChatMember.csv\""));
    assert_eq!(reply.body, sample_csv());
}

#[actix_web::test]
async fn jsv_is_served_as_text_jsv() {
    let reply = get("/sessions/s-1?format=jsv", None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("text/jsv"));
    assert_eq!(reply.body, SAMPLE_JSV);
}

/// The order of docs/api.md, "Response formats": suffix, `?format=`, prefix, `Accept`.
#[actix_web::test]
async fn the_format_is_chosen_in_contract_order() {
    let cases: [(&str, Option<&str>, &str); 12] = [
        // 1. suffix, stripped before routing
        ("/sessions/s-1.csv?format=jsv", Some("application/json"), "text/csv"),
        ("/sessions/s-1.jsv", None, "text/jsv"),
        ("/sessions/s-1.json", Some("text/csv"), "application/json"),
        ("/api/GetSession.csv?sessionId=s-1", None, "text/csv"),
        ("/jsv/reply/GetSession.json?sessionId=s-1", None, "application/json"),
        // 2. ?format=
        ("/csv/reply/GetSession?sessionId=s-1&format=jsv", Some("text/csv"), "text/jsv"),
        ("/sessions/s-1?format=csv", Some("application/json"), "text/csv"),
        // 3. /{format}/reply/ prefix
        ("/csv/reply/GetSession?sessionId=s-1", Some("application/json"), "text/csv"),
        ("/jsv/reply/GetSession?sessionId=s-1", None, "text/jsv"),
        // 4. Accept, JSON preferred whenever it is acceptable
        ("/sessions/s-1", Some("text/csv"), "text/csv"),
        ("/sessions/s-1", Some("text/jsv"), "text/jsv"),
        ("/sessions/s-1", Some("text/csv, application/json;q=0.5"), "application/json"),
    ];
    for (uri, accept, content_type) in cases {
        let reply = get(uri, accept).await;
        assert_eq!(reply.status, 200, "{uri}: {}", reply.body);
        assert_eq!(reply.header("content-type"), Some(content_type), "{uri} {accept:?}");
        let expected = match content_type {
            "text/csv" => sample_csv(),
            "text/jsv" => SAMPLE_JSV.to_owned(),
            _ => SAMPLE_JSON.to_owned(),
        };
        assert_eq!(reply.body, expected, "{uri} {accept:?}");
    }
}

#[actix_web::test]
async fn json_is_the_default() {
    for accept in [None, Some("*/*"), Some("text/html,application/xhtml+xml,*/*;q=0.8"), Some("image/png")] {
        let reply = get("/sessions/s-1", accept).await;
        assert_eq!(reply.header("content-type"), Some("application/json"), "{accept:?}");
        assert_eq!(reply.body, SAMPLE_JSON);
    }
}
