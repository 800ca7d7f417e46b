//! The hosted reset page, which reset links open when a tenant names no page of its own.

use std::sync::Arc;

use serde_json::json;

use crate::support::{Env, PUBLIC_BASE, Resp, address, inbox, link, param};

const PAGE: &str = "/v1/tenants/acme/password-reset/confirm";
const STRONG: &str = "violet kettle harbour 58";

/// A deployment whose `TENANT_SETTINGS` names no `password_reset_url`.
fn hosted(env: &mut Env) {
    let entries = json!({"*": {
        "default_result_url": format!("{PUBLIC_BASE}/verified"),
        "result_url_hosts": ["id.example.com"],
    }});
    let mut settings = (*env.app.email).clone();
    settings.tenants =
        shared::domain::tenant::TenantSettings::parse(&entries.to_string(), false).unwrap();
    env.app.email = Arc::new(settings);
}

/// The reset link mailed to `to` last.
async fn mailed_link(to: &str) -> String {
    let mail = inbox(to).await;
    link(
        &mail.last().expect("a reset email").html,
        &format!("{PUBLIC_BASE}{PAGE}?ticket="),
    )
}

/// The page's form, filled and posted as a browser posts it.
async fn post_form(env: &Env, ticket: &str, new: &str, again: &str) -> Resp {
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("ticket", ticket)
        .append_pair("new_password", new)
        .append_pair("confirm_password", again)
        .finish();
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    env.send_raw("POST", PAGE, None, form.as_bytes(), &headers)
        .await
}

#[tokio::test]
async fn a_reset_link_opens_the_hosted_page_which_sets_the_password() {
    let mut env = Env::new().await;
    hosted(&mut env);
    let email = address("ana");
    env.create(
        json!({"email": email, "email_verified": true, "password": "correct horse battery"}),
    )
    .await;
    assert_eq!(env.request_reset(&email).await.status, 202);
    let link = mailed_link(&email).await;
    let ticket = param(&link, "ticket").unwrap();

    let page = env.follow(&link).await;
    assert_eq!(page.status, 200, "{}", page.raw);
    for part in [
        r#"<html lang="en">"#,
        r#"<form method="post" action="https://id.example.com/v1/tenants/acme/password-reset/confirm">"#,
        r#"<label for="new_password">New password</label>"#,
        r#"autocomplete="new-password""#,
        r#"minlength="8""#,
    ] {
        assert!(page.raw.contains(part), "{part} not in {}", page.raw);
    }
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("form-action 'self'"));
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert!(!page.raw.contains("<script"), "works without JavaScript");

    let differ = post_form(&env, &ticket, STRONG, "violet kettle harbour 59").await;
    assert_eq!(differ.status, 200);
    assert!(
        differ.raw.contains("The two passwords differ"),
        "{}",
        differ.raw
    );
    let weak = post_form(&env, &ticket, "password", "password").await;
    assert!(weak.raw.contains("too easy to guess"), "{}", weak.raw);
    assert!(weak.raw.contains(&ticket), "the form keeps its ticket");

    let done = post_form(&env, &ticket, STRONG, STRONG).await;
    assert_eq!(done.status, 200, "{}", done.raw);
    assert!(done.raw.contains("Password changed"), "{}", done.raw);
    assert!(!done.raw.contains(&ticket), "no ticket left on the page");
    assert_eq!(env.login(&email, STRONG, "198.51.100.7").await.status, 200);

    let used = post_form(&env, &ticket, STRONG, STRONG).await;
    assert_eq!(used.status, 400);
    assert!(used.raw.contains("Invalid link"), "{}", used.raw);
    let opened = env.follow(&link).await;
    assert_eq!(
        opened.status, 400,
        "a used link opens the page that says so"
    );
}

#[tokio::test]
async fn the_page_speaks_the_users_language() {
    let mut env = Env::new().await;
    hosted(&mut env);
    let email = address("jonas");
    env.create(json!({"email": email, "email_verified": true, "password": "correct horse battery", "user_metadata": {"locale": "de"}}))
        .await;
    env.request_reset(&email).await;
    let page = env.follow(&mailed_link(&email).await).await;
    assert!(page.raw.contains(r#"<html lang="de">"#), "{}", page.raw);
    assert!(page.raw.contains("Neues Passwort wählen"), "{}", page.raw);
}

#[tokio::test]
async fn a_ticket_with_a_result_url_ends_there() {
    let mut env = Env::new().await;
    hosted(&mut env);
    let ana = env
        .create(json!({"email": address("ana"), "password": "correct horse battery"}))
        .await;
    let body =
        json!({"user_id": ana["user_id"], "result_url": "https://id.example.com/welcome-back"});
    let r = env
        .admin_send(
            "POST",
            "/v1/tenants/acme/tickets/password-change",
            Some(&body),
        )
        .await;
    let link = r.body["ticket"].as_str().unwrap().to_owned();
    assert!(
        link.starts_with(&format!("{PUBLIC_BASE}{PAGE}?ticket=")),
        "{link}"
    );
    let page = env.follow(&link).await;
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        !csp.contains("form-action"),
        "its form ends on another site: {csp}"
    );
    let ticket = param(&link, "ticket").unwrap();
    let done = post_form(&env, &ticket, STRONG, STRONG).await;
    assert_eq!(done.status, 302, "{}", done.raw);
    assert_eq!(
        done.header("location"),
        Some("https://id.example.com/welcome-back?success=true")
    );
}

#[tokio::test]
async fn the_pages_wear_the_tenants_brand_escaped_and_checked() {
    let mut env = Env::new().await;
    hosted(&mut env);
    for bad in [
        json!({"logo_url": "http://cdn.example.com/logo.png"}),
        json!({"primary_color": "red"}),
        json!({"primary_color": "#12345g"}),
        json!({"primary_color": "#ffd700"}),
    ] {
        let r = env.patch_settings(bad.clone()).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.raw);
    }
    let brand = json!({
        "display_name": "Acme & <Co>",
        "logo_url": "https://cdn.example.com/logo.png",
        "primary_color": "#0F766E",
    });
    assert_eq!(env.patch_settings(brand).await.status, 200);
    let email = address("ana");
    env.create(
        json!({"email": email, "email_verified": true, "password": "correct horse battery"}),
    )
    .await;
    env.request_reset(&email).await;
    let page = env.follow(&mailed_link(&email).await).await;
    assert!(
        page.raw.contains(r#"<img class="logo" src="https://cdn.example.com/logo.png" alt="Acme &amp; &lt;Co&gt;">"#),
        "{}",
        page.raw
    );
    assert!(page.raw.contains("--primary: #0f766e;"), "{}", page.raw);
    assert!(!page.raw.contains("<Co>"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("img-src https://cdn.example.com;"), "{csp}");
}
