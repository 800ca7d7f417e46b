//! Unblock links: mailed when a brute-force block starts, acting only through their page.

use serde_json::json;
use shared::domain::ids::{TenantId, UserId};
use shared::domain::mail_request::MailRequest;

use crate::support::{Env, PUBLIC_BASE, TestClock, address, inbox, link};

const PASSWORD: &str = "correct horse battery";
const IP: &str = "198.51.100.44";

/// Ten failures from `ip`, each past the per-user lock: the tenth starts the address's block.
async fn block_address(env: &Env, clock: &TestClock, email: &str, ip: &str) {
    for _ in 0..10 {
        let r = env.login(email, "wrong guess", ip).await;
        assert_eq!(r.code(), "invalid_credentials", "{}", r.raw);
        clock.advance(16 * 60);
    }
}

fn unblock_link(html: &str) -> String {
    link(
        html,
        &format!("{PUBLIC_BASE}/v1/tenants/acme/unblock?ticket="),
    )
}

#[tokio::test]
async fn a_block_mails_the_owner_a_link_whose_page_changes_nothing_and_whose_form_lifts_every_block()
 {
    let (env, clock) = Env::with_clock().await;
    let email = address("ana");
    env.create(
        json!({"email": email, "email_verified": true, "password": PASSWORD, "given_name": "Ana"}),
    )
    .await;
    block_address(&env, &clock, &email, IP).await;
    assert_eq!(env.login(&email, PASSWORD, IP).await.status, 429);
    assert_eq!(
        env.deliver_mail_requests().await,
        1,
        "one notice, at the tenth failure"
    );
    let mail = inbox(&email).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].subject, "Unblock your acme account");
    assert!(
        mail[0].html.contains("Hi Ana,"),
        "a verified address may be greeted by name"
    );
    let link = unblock_link(&mail[0].html);

    // Opening the link (as a mail scanner does) shows the page and lifts nothing; the
    // container's settings have gone stale, so the page reads them with its ticket.
    clock.advance(shared::operations::tenant::SETTINGS_CACHE_SECS + 1);
    let page = env.follow(&link).await;
    assert_eq!(page.status, 200, "{}", page.raw);
    assert!(page.raw.contains("<form method=\"post\""), "{}", page.raw);
    assert_eq!(env.login(&email, PASSWORD, IP).await.status, 429);

    let done = env.submit_form(&link).await;
    assert_eq!(done.status, 200, "{}", done.raw);
    assert!(done.raw.contains("Account unblocked"), "{}", done.raw);
    assert_eq!(env.login(&email, PASSWORD, IP).await.status, 200);
    // Once only.
    let again = env.submit_form(&link).await;
    assert_eq!(again.status, 400, "{}", again.raw);
    assert!(again.raw.contains("Invalid link"), "{}", again.raw);
}

#[tokio::test]
async fn the_per_user_lock_reaching_its_cap_mails_a_link_too_and_json_redeems_it() {
    let (env, clock) = Env::with_clock().await;
    let email = address("ana");
    env.create(json!({"email": email, "email_verified": true, "password": PASSWORD}))
        .await;
    // From a new address each time, each failure after the lock it caused: the lock doubles
    // from 1 s and reaches its 15 minute cap at the sixteenth failure.
    for i in 0..16 {
        let r = env
            .login(&email, "wrong guess", &format!("192.0.2.{i}"))
            .await;
        assert_eq!(r.code(), "invalid_credentials", "{}", r.raw);
        let notices = env.deliver_mail_requests().await;
        assert_eq!(notices, usize::from(i == 15), "failure {}", i + 1);
        clock.advance(16 * 60);
    }
    let mail = inbox(&email).await;
    assert_eq!(mail.len(), 1);
    let link = unblock_link(&mail[0].html);
    let ticket = crate::support::param(&link, "ticket").unwrap();
    let r = env
        .public("POST", "/unblock", json!({"ticket": ticket}))
        .await;
    assert_eq!(r.status, 204, "{}", r.raw);
    let blocks = env.blocks_of(&email).await;
    assert_eq!(blocks.body, json!({"blocked_for": []}), "{}", blocks.raw);
}

#[tokio::test]
async fn an_unknown_or_unverified_account_is_mailed_nothing_and_a_block_costs_the_same_calls() {
    let (env, clock) = Env::with_clock().await;
    let unverified = address("bob");
    env.create(json!({"email": unverified, "password": PASSWORD}))
        .await;
    let nobody = address("nobody");
    let mut tenth = Vec::new();
    for who in [&unverified, &nobody] {
        for i in 0..10 {
            if i == 9 {
                env.calls.take();
            }
            let r = env.login(who, "wrong guess", IP).await;
            assert_eq!(r.code(), "invalid_credentials", "{}", r.raw);
            clock.advance(16 * 60);
        }
        tenth.push(env.calls.take());
    }
    assert!(tenth[0].contains(&"SendMessage".to_owned()), "{tenth:?}");
    assert_eq!(
        tenth[0], tenth[1],
        "the block starts at the same cost for both"
    );
    assert_eq!(env.deliver_mail_requests().await, 2);
    // The sign-up's verification is all the unverified address ever got.
    let unverified_mail = inbox(&unverified).await;
    assert!(
        unverified_mail
            .iter()
            .all(|m| !m.subject.starts_with("Unblock")),
        "{unverified_mail:?}"
    );
    assert!(inbox(&nobody).await.is_empty());
}

#[tokio::test]
async fn unblock_mail_keeps_to_the_send_cap() {
    let env = Env::new().await;
    let email = address("ana");
    let user = env
        .create(json!({"email": email, "email_verified": true, "password": PASSWORD}))
        .await;
    let notice = MailRequest::Unblock {
        tenant: TenantId::parse("acme").unwrap(),
        user: Some(user["user_id"].as_str().unwrap().parse::<UserId>().unwrap()),
    };
    for _ in 0..7 {
        env.queue_mail(&notice).await;
    }
    assert_eq!(env.deliver_mail_requests().await, 7);
    assert_eq!(inbox(&email).await.len(), 5, "five of a kind an hour");
}

#[tokio::test]
async fn wrong_current_passwords_that_start_a_block_mail_the_owner_a_link_too() {
    let (env, clock) = Env::with_clock().await;
    let email = address("ana");
    let user = env
        .create(json!({"email": email, "email_verified": true, "password": PASSWORD}))
        .await;
    for _ in 0..10 {
        let r = env
            .change_password(&user, "wrong guess", "a brand new passphrase")
            .await;
        assert_eq!(r.code(), "invalid_credentials", "{}", r.raw);
        clock.advance(16 * 60);
    }
    assert_eq!(env.deliver_mail_requests().await, 1);
    let mail = inbox(&email).await;
    assert_eq!(mail.len(), 1);
    let done = env.submit_form(&unblock_link(&mail[0].html)).await;
    assert_eq!(done.status, 200, "{}", done.raw);
    let r = env
        .change_password(&user, PASSWORD, "a brand new passphrase")
        .await;
    assert_eq!(r.status, 204, "{}", r.raw);
}
