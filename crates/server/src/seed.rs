//! `evo-sessions seed`: realistic demo sessions through the real use cases.

use std::sync::Arc;

use evo_domain::{
    ADMIN_ROLE, AccountId, Actor, Channel, Direction, MemberIdentity, NewMember, NewSession, SessionDetails,
};
use evo_ports::{Change, OpenSession, SessionUseCases};

use crate::config::Config;

struct Demo {
    account: &'static str,
    channel: Channel,
    display_name: &'static str,
    customer: &'static str,
    members: &'static [(&'static str, &'static str)],
}

const DEMOS: &[Demo] = &[
    Demo {
        account: "demo",
        channel: Channel::Chat,
        display_name: "Order 1042: delivery question",
        customer: "Maria Lopez",
        members: &[
            ("+1 (555) 010-4477", "Maria Lopez"),
            ("ann@example.com", "Ann"),
            ("bob@example.com", "Bob"),
        ],
    },
    Demo {
        account: "demo",
        channel: Channel::Chat,
        display_name: "Billing: refund request",
        customer: "Kenji Watanabe",
        members: &[("+81 90 1234 5678", "Kenji Watanabe"), ("carol@example.com", "Carol")],
    },
    Demo {
        account: "demo",
        channel: Channel::Voice,
        display_name: "Inbound call: support line",
        customer: "Lena Fischer",
        members: &[("0049 30 1234567", "Lena Fischer"), ("dave@example.com", "Dave")],
    },
    Demo {
        account: "acme",
        channel: Channel::Chat,
        display_name: "Acme: onboarding",
        customer: "Priya Shah",
        members: &[
            ("priya@customer.example", "Priya Shah"),
            ("erin@acme.example", "Erin"),
            ("+44 20 7946 0958", "Sam"),
        ],
    },
    Demo {
        account: "globex",
        channel: Channel::Chat,
        display_name: "Globex: outage report",
        customer: "Tom Becker",
        members: &[("+1 555 867 5309", "Tom Becker"), ("frank@globex.example", "Frank")],
    },
];

pub async fn run(config: &Config, use_cases: Arc<dyn SessionUseCases>) -> Result<(), String> {
    let seeder = Actor {
        user_id: "seed@evo-sessions.local".into(),
        name: "Demo seed".into(),
        roles: vec![ADMIN_ROLE.into()],
        account_ids: Vec::new(),
    };
    let mut created = Vec::new();
    for demo in DEMOS {
        let members = demo
            .members
            .iter()
            .map(|(identity, name)| {
                let mut member = NewMember::new(identity_of(identity)?);
                member.display_name = Some((*name).into());
                Ok(member)
            })
            .collect::<Result<_, String>>()?;
        let session = NewSession {
            account_id: AccountId::parse(demo.account).map_err(|e| e.to_string())?,
            channel: demo.channel,
            direction: Direction::Incoming,
            details: SessionDetails {
                display_name: Some(demo.display_name.into()),
                customer_name: Some(demo.customer.into()),
                ..SessionDetails::default()
            },
            members,
        };
        let request = Ok(OpenSession { session, idempotency: None });
        let opened = use_cases.new_session(&seeder, request).await.map_err(|e| e.to_string())?;
        // Sent without a key: nothing is replayed.
        let session = opened.applied().ok_or("a new session was replayed")?;
        created.push((demo, session));
    }
    // One invite, so a demo log shows more than its start.
    let (_, first) = &created[0];
    let mut supervisor = NewMember::new(identity_of("+1 555 010 9999")?);
    supervisor.display_name = Some("Supervisor line".into());
    let invite =
        Change { session_id: first.id.clone(), command: supervisor, if_version: None, idempotency: None };
    use_cases.invite_chat_member(&seeder, Ok(invite)).await.map_err(|e| e.to_string())?;

    #[allow(clippy::print_stdout)] // printing what was made is this command's job
    {
        println!("Seeded {} sessions:", created.len());
        for (demo, session) in &created {
            println!(
                "  {}  account={:<7} {:<6} {}",
                session.id,
                demo.account,
                demo.channel.as_str(),
                demo.display_name
            );
        }
        let (_, first) = &created[0];
        println!();
        println!("Try (removes Bob from the first chat):");
        println!("  TOKEN=$(evo-sessions token --sub ann@example.com --name Ann --account demo)");
        println!(
            "  curl -s -X DELETE -H \"Authorization: Bearer $TOKEN\" http://{}/sessions/{}/members/bob@example.com",
            config.bind, first.id
        );
    }
    Ok(())
}

fn identity_of(raw: &str) -> Result<MemberIdentity, String> {
    MemberIdentity::parse(raw).map_err(|e| format!("{raw}: {e}"))
}
