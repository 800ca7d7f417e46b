//! Auth0's own SDKs against the `/api/v2` routes over real HTTP, with only the base URL and
//! the token changed (docs/auth0-compat.md). The SDKs are installed by `make test`: the
//! Python one into `.venv` (scripts/requirements.txt); a missing one fails these tests.

use serde_json::json;

use crate::support::{ALL_SCOPES, Env};

const SECRET: &str = "test-secret";

#[tokio::test]
async fn auth0_python_manages_users_and_blocks_and_raises_its_own_errors() {
    let (env, clock) = Env::with_clock().await;
    let cy = env
        .create(json!({"email": "cy@example.com", "password": "correct horse battery"}))
        .await;
    for _ in 0..10 {
        env.login("cy@example.com", "wrong guess", "198.51.100.9")
            .await;
        clock.advance(16 * 60);
    }
    let ana = env
        .create(json!({"email": "ana@example.com", "password": "correct horse battery", "user_metadata": {"theme": "dark"}}))
        .await;
    env.create(
        json!({"connection": "google-oauth2", "user_id": "10876", "email": "ana@gmail.example"}),
    )
    .await;
    let dee = env
        .create(json!({"email": "dee@example.com", "password": "correct horse battery"}))
        .await;
    let addr = crate::server::start_with(&env, SECRET).await;
    let token = local_api::auth::mint(SECRET, "acme", "backoffice@clients", ALL_SCOPES, 300);
    let scopeless = local_api::auth::mint(SECRET, "acme", "backoffice@clients", "", 300);
    let case = json!({
        "user_id": format!("auth0|{}", ana["user_id"].as_str().unwrap()),
        "email": "ana@example.com",
        "social_id": "google-oauth2|10876",
        "missing_id": "auth0|usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C1",
        "blocked_id": format!("auth0|{}", cy["user_id"].as_str().unwrap()),
        "blocked_email": "cy@example.com",
        "result_url": format!("{}/welcome", crate::support::PUBLIC_BASE),
        "database_id": dee["user_id"],
    });
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    let output = tokio::process::Command::new(&python)
        .arg(root.join("local/tests/sdk/auth0_python.py"))
        .arg(format!("http://{addr}/api/v2"))
        .arg(&token)
        .arg(&scopeless)
        .arg(case.to_string())
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}. Run the tests with `make test`, which installs the SDKs.",
                python.display()
            )
        });
    assert!(
        output.status.success(),
        "auth0-python failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
