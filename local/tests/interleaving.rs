//! Tests that put one write between two calls of another operation, by holding a request in
//! flight ([`local_api::moto::CallLog::hold_after`]). The held request blocks a thread of the
//! test's runtime, so these run in a process of their own, apart from the `it` suite.

#[path = "it/support.rs"]
#[allow(dead_code)]
mod support;

use serde_json::{Value, json};
use support::Env;

const PASSWORD: &str = "correct horse battery";

/// A failure counted while an admin clears the blocks stays counted: the clear removes only
/// what it read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_blocks_keeps_a_failure_counted_while_it_ran() {
    let env = Env::new().await;
    let u = env
        .create(json!({"email": "ana@example.com", "password": PASSWORD}))
        .await;
    for _ in 0..3 {
        env.login("ana@example.com", "wrong guess", "203.0.113.9")
            .await;
    }
    // The clear reads the counters, then is held just before it writes.
    let mut hold = env.calls.hold_after("Query");
    let clearing = {
        let env_app = env.app.clone();
        let tenant = shared::domain::ids::TenantId::parse("acme").unwrap();
        let id: shared::domain::ids::UserId = u["user_id"].as_str().unwrap().parse().unwrap();
        tokio::spawn(async move { env_app.clear_user_blocks(&tenant, &id).await })
    };
    hold.reached().await;
    let r = env
        .login("ana@example.com", "another guess", "203.0.113.9")
        .await;
    assert_eq!(r.code(), "invalid_credentials");
    hold.release();
    clearing.await.unwrap().unwrap();

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
