//! Tests that put one write between two calls of another operation, by holding a request in
//! flight ([`local_api::moto::CallLog::hold_after`]). The held request blocks a thread of the
//! test's runtime, so these run in a process of their own, apart from the `it` suite.

#[path = "it/support.rs"]
#[allow(dead_code, unused_imports)]
mod support;

use serde_json::{Value, json};
use support::Env;

const PASSWORD: &str = "correct horse battery";

/// How the blocks get cleared while a wrong guess is counted.
#[derive(Clone, Copy)]
enum Clear {
    /// An admin's `DELETE /user-blocks/{id}`.
    Admin,
    /// A password reset, which lifts the blocks once the password is set.
    Reset,
    /// The form of an unblock link's page.
    Unblock,
}

/// A failure counted while the blocks are cleared stays counted: the clear removes only what
/// it read. The clear reads the counters (its only `Query`), then is held just before it
/// writes, while the guess is counted.
async fn a_failure_counted_during_a_clear_stays_counted(clear: Clear) {
    let env = std::sync::Arc::new(Env::new().await);
    let address = support::address("ana");
    let u = env
        .create(json!({"email": address, "email_verified": true, "password": PASSWORD}))
        .await;
    for _ in 0..3 {
        env.login(&address, "wrong guess", "203.0.113.9").await;
    }
    let link = match clear {
        Clear::Admin => None,
        Clear::Reset => {
            assert_eq!(env.request_reset(&address).await.status, 202);
            Some(support::mailed_reset_ticket(&address).await)
        }
        Clear::Unblock => {
            let notice = shared::domain::mail_request::MailRequest::Unblock {
                tenant: shared::domain::ids::TenantId::parse("acme").unwrap(),
                user: Some(u["user_id"].as_str().unwrap().parse().unwrap()),
            };
            env.queue_mail(&notice).await;
            assert_eq!(env.deliver_mail_requests().await, 1);
            let mail = support::inbox(&address).await;
            Some(support::link(
                &mail.last().expect("an unblock email").html,
                &format!("{}/v1/tenants/acme/unblock?ticket=", support::PUBLIC_BASE),
            ))
        }
    };
    let mut hold = env.calls.hold_after("Query");
    let clearing = {
        let env = env.clone();
        let u = u.clone();
        tokio::spawn(async move {
            match (clear, link) {
                (Clear::Unblock, Some(link)) => env.submit_form(&link).await,
                (_, Some(ticket)) => env.confirm_reset(&ticket, "a brand new passphrase").await,
                (_, None) => env.clear_blocks(&u).await,
            }
        })
    };
    hold.reached().await;
    let r = env.login(&address, "another guess", "203.0.113.9").await;
    assert_eq!(r.code(), "invalid_credentials");
    hold.release();
    let cleared = clearing.await.unwrap();
    assert!(cleared.status < 300, "{}", cleared.raw);

    let export = env.export_user(&u).await;
    let failures = export.body["sign_in_failures"].as_array().unwrap();
    let counts: Vec<(Value, Value)> = failures
        .iter()
        .map(|f| (f["ip"].clone(), f["failures"].clone()))
        .collect();
    assert_eq!(
        counts.len(),
        2,
        "the guess made during the clear is still counted, per address and per user: {counts:?}"
    );
    assert!(counts.iter().all(|(_, n)| *n == json!(1)), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_clearing_blocks_keeps_a_failure_counted_while_it_ran() {
    a_failure_counted_during_a_clear_stays_counted(Clear::Admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_reset_keeps_a_failure_counted_while_it_lifted_the_blocks() {
    a_failure_counted_during_a_clear_stays_counted(Clear::Reset).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unblock_link_keeps_a_failure_counted_while_it_lifted_the_blocks() {
    a_failure_counted_during_a_clear_stays_counted(Clear::Unblock).await;
}

/// A duplicate that arrives while the first request with its idempotency key still runs is
/// refused, and the first goes on to create the one user; a retry then gets its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_while_the_first_runs_is_409_in_flight() {
    let env = std::sync::Arc::new(Env::new().await);
    let body = json!({"email": support::address("ana"), "password": PASSWORD});
    let key = [("idempotency-key", "dup-1")];
    // The first request takes the key (an UpdateItem of its record) and is held right after.
    let mut hold = env.calls.hold_after_call_on("UpdateItem", "#IDEMPOTENCY#");
    let first = {
        let env = env.clone();
        let body = body.clone();
        tokio::spawn(async move {
            let admin = env.admin();
            env.send(
                "POST",
                "/v1/tenants/acme/users",
                Some(&admin),
                Some(&body),
                &key,
            )
            .await
        })
    };
    hold.reached().await;
    let admin = env.admin();
    let users = "/v1/tenants/acme/users";
    let dup = env
        .send("POST", users, Some(&admin), Some(&body), &key)
        .await;
    assert_eq!(
        (dup.status, dup.code()),
        (409, "idempotency_key_in_flight"),
        "{}",
        dup.raw
    );
    hold.release();
    let first = first.await.unwrap();
    assert_eq!(first.status, 201, "{}", first.raw);
    let retry = env
        .send("POST", users, Some(&admin), Some(&body), &key)
        .await;
    assert_eq!((retry.status, &retry.body), (201, &first.body));
    let listed = env.list_users(&[]).await;
    assert_eq!(listed.body["users"].as_array().unwrap().len(), 1);
}

/// A create under an idempotency key marks the key committed to its user in the
/// transaction that creates it: held right after that transaction, before the answer is
/// kept, the record already names the user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creates_transaction_commits_its_key_to_the_user() {
    let env = std::sync::Arc::new(Env::new().await);
    let body = json!({"email": support::address("ana"), "password": PASSWORD});
    let mut hold = env.calls.hold_after("TransactWriteItems");
    let created = {
        let env = env.clone();
        tokio::spawn(async move {
            let admin = env.admin();
            let key = [("idempotency-key", "commit-1")];
            env.send(
                "POST",
                "/v1/tenants/acme/users",
                Some(&admin),
                Some(&body),
                &key,
            )
            .await
        })
    };
    hold.reached().await;
    let record = env
        .items()
        .await
        .into_iter()
        .find(|i| support::s(i, "pk").contains("#IDEMPOTENCY#"))
        .expect("the key's record");
    assert_eq!(support::s(&record, "state"), "committed");
    let committed_to = support::s(&record, "user_id");
    hold.release();
    let created = created.await.unwrap();
    assert_eq!(created.status, 201, "{}", created.raw);
    assert_eq!(created.body["user_id"], committed_to.as_str());
}
