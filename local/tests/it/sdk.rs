//! Auth0's own SDKs against the `/api/v2` routes over real HTTP, with only the base URL and
//! the token changed (docs/auth0-compat.md). `make test` installs them, pinned: the Python
//! one into `.venv` (scripts/requirements.txt), the Node one (its current API and the v4 API
//! it ships as `auth0/legacy`) into local/tests/sdk/node (scripts/node-sdk.sh, from its
//! package-lock.json). A missing one fails these tests.

use serde_json::json;

use crate::support::{ALL_SCOPES, Env};

const SECRET: &str = "test-secret";

/// A tenant with what the SDK scripts work on, a local server over it, and tokens.
struct Stage {
    addr: std::net::SocketAddr,
    token: String,
    scopeless: String,
    case: serde_json::Value,
}

async fn stage(env: &Env, clock: &crate::support::TestClock) -> Stage {
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
    env.create(
        json!({"connection": "google-oauth2", "user_id": "20000", "email": "nell@gmail.example"}),
    )
    .await;
    let dee = env
        .create(json!({"email": "dee@example.com", "password": "correct horse battery"}))
        .await;
    Stage {
        addr: crate::server::start_with(env, SECRET).await,
        token: local_api::auth::mint(SECRET, "acme", "backoffice@clients", ALL_SCOPES, 300),
        scopeless: local_api::auth::mint(SECRET, "acme", "backoffice@clients", "", 300),
        case: json!({
            "user_id": format!("auth0|{}", ana["user_id"].as_str().unwrap()),
            "email": "ana@example.com",
            "social_id": "google-oauth2|10876",
            "social_provider_id": "20000",
            "missing_id": "auth0|usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C1",
            "blocked_id": format!("auth0|{}", cy["user_id"].as_str().unwrap()),
            "blocked_email": "cy@example.com",
            "result_url": format!("{}/welcome", crate::support::PUBLIC_BASE),
            "database_id": dee["user_id"],
            // cy, ana, two social users and dee.
            "users": 5,
        }),
    }
}

/// Runs `program script` with the stage's base URL, tokens and case; fails with what the
/// script printed unless it passed.
async fn run_sdk(stage: &Stage, program: &std::path::Path, script: &str, what: &str) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = tokio::process::Command::new(program)
        .arg(root.join(script))
        .arg(format!("http://{}/api/v2", stage.addr))
        .arg(&stage.token)
        .arg(&stage.scopeless)
        .arg(stage.case.to_string())
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}. Run the tests with `make test`, which installs the SDKs.",
                program.display()
            )
        });
    assert!(
        output.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn auth0_python_manages_users_blocks_tickets_and_links_and_raises_its_own_errors() {
    let (env, clock) = Env::with_clock().await;
    let stage = stage(&env, &clock).await;
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    run_sdk(
        &stage,
        &python,
        "local/tests/sdk/auth0_python.py",
        "auth0-python",
    )
    .await;
}

#[tokio::test]
async fn auth0_node_current_and_legacy_manage_users_and_raise_their_own_errors() {
    let (env, clock) = Env::with_clock().await;
    let stage = stage(&env, &clock).await;
    run_sdk(
        &stage,
        std::path::Path::new("node"),
        "local/tests/sdk/node/auth0_node.mjs",
        "auth0 (node)",
    )
    .await;
}
