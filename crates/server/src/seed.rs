//! `evo-sessions seed`: realistic demo sessions through the real use cases.

use std::sync::Arc;

use evo_domain::{ADMIN_ROLE, Actor, Channel};
use evo_ports::{InviteChatMemberInput, NewMemberInput, NewSessionInput, SessionUseCases};

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
        let input = NewSessionInput {
            account_id: Some(demo.account.into()),
            channel: Some(demo.channel.as_str().into()),
            display_name: Some(demo.display_name.into()),
            customer_name: Some(demo.customer.into()),
            members: demo
                .members
                .iter()
                .map(|(identity, name)| NewMemberInput {
                    identity: Some((*identity).into()),
                    display_name: Some((*name).into()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let session = use_cases.new_session(&seeder, input).await.map_err(|e| e.to_string())?;
        created.push((demo, session));
    }
    // One invite, so a demo log shows more than its start.
    let (_, first) = &created[0];
    use_cases
        .invite_chat_member(
            &seeder,
            InviteChatMemberInput {
                session_id: Some(first.id.to_string()),
                member_to_add: Some("+1 555 010 9999".into()),
                display_name: Some("Supervisor line".into()),
                role: None,
                if_version: None,
                idempotency: None,
            },
        )
        .await
        .map_err(|e| e.to_string())?;

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
