//! The email flows against moto's SES v2: what was sent is read back from moto and its links
//! are followed, as the recipient would.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::support::{
    ALL_SCOPES, Env, PUBLIC_BASE, Resp, address, claims, closed_endpoint, inbox, link,
    mailed_reset_ticket, mailer, param, s,
};

const PASSWORD: &str = "correct horse battery";
const VERIFY: &str = "https://id.example.com/v1/tenants/acme/email-verification/confirm?ticket=";
const RESET_PAGE: &str = "https://id.example.com/reset-password?ticket=";
const CANCEL: &str = "https://id.example.com/v1/tenants/acme/email-change/cancel?ticket=";

async fn sign_up(env: &Env, email: &str) -> Value {
    env.create(json!({"email": email, "password": PASSWORD, "name": "Ana"}))
        .await
}

#[tokio::test]
async fn sign_up_sends_a_verification_email_whose_link_verifies_the_address_once() {
    let env = Env::new().await;
    let email = address("ana");
    let u = sign_up(&env, &email).await;
    assert_eq!(u["email_verified"], false);
    assert_eq!(
        u["emails"],
        json!([{"id": u["emails"][0]["id"], "type": "verification_email", "status": "completed"}])
    );
    let mail = inbox(&email).await;
    assert_eq!(mail.len(), 1);
    let url = link(&mail[0].html, VERIFY);
    let ticket = param(&url, "ticket").unwrap();

    // Only the ticket's hash is stored; the sent message left no outbox item behind.
    let items = env.items().await;
    let dump = format!("{items:?}");
    assert!(!dump.contains(&ticket), "the raw ticket is stored");
    assert!(env.outbox().await.is_empty());

    // Opening the link changes nothing: a scanner's GET verifies no one.
    let page = env.follow(&url).await;
    assert_eq!(page.status, 200, "{}", page.raw);
    assert!(page.raw.contains(&email), "{}", page.raw);
    assert_eq!(env.get_user(&u).await.body["email_verified"], false);
    let r = env.submit_form(&url).await;
    assert_eq!(r.status, 302, "{}", r.raw);
    assert_eq!(
        r.header("location"),
        Some("https://id.example.com/verified?success=true")
    );
    let got = env.get_user(&u).await;
    assert_eq!(got.body["email_verified"], true);
    assert_eq!(got.body["version"], 2);

    let again = env.follow(&url).await;
    assert_eq!(
        again.header("location"),
        Some("https://id.example.com/verified?success=false&error=invalid_ticket")
    );
    assert!(
        !env.items()
            .await
            .iter()
            .any(|i| s(i, "pk").contains("#TICKET#")),
        "a used ticket is gone"
    );
}

#[tokio::test]
async fn verify_email_false_and_verified_users_get_no_email() {
    let env = Env::new().await;
    let quiet = address("quiet");
    let verified = address("verified");
    let a = env
        .create(json!({"email": quiet, "password": PASSWORD, "verify_email": false}))
        .await;
    let b = env
        .create(json!({"email": verified, "password": PASSWORD, "email_verified": true}))
        .await;
    assert!(a.get("emails").is_none() && b.get("emails").is_none());
    assert!(inbox(&quiet).await.is_empty() && inbox(&verified).await.is_empty());
}

#[tokio::test]
async fn an_unknown_or_malformed_verification_ticket_redirects_with_an_error_and_changes_nothing() {
    let env = Env::new().await;
    for query in [
        "",
        "?ticket=",
        "?ticket=nope",
        &format!("?ticket={}", "A".repeat(43)),
    ] {
        let url = format!("{PUBLIC_BASE}/v1/tenants/acme/email-verification/confirm{query}");
        let r = env.follow(&url).await;
        assert_eq!(r.status, 302, "{query}: {}", r.raw);
        assert_eq!(
            r.header("location"),
            Some("https://id.example.com/verified?success=false&error=invalid_ticket")
        );
    }
    assert!(env.items().await.is_empty());
}

#[tokio::test]
async fn without_anywhere_to_redirect_a_verification_ends_on_our_page() {
    let mut env = Env::new().await;
    // A deployment that names no default result page.
    let mut settings = (*env.app.email).clone();
    settings.tenants = shared::domain::tenant::TenantSettings::parse(
        &json!({"*": {"password_reset_url": format!("{PUBLIC_BASE}/reset-password")}}).to_string(),
        false,
    )
    .unwrap();
    env.app.email = Arc::new(settings);
    let r = env.follow(&format!("{VERIFY}x")).await;
    assert_eq!(r.status, 400);
    assert!(r.raw.contains("<h1>Invalid link</h1>"), "{}", r.raw);
    // An app posting JSON still gets the error as JSON.
    let r = env
        .public(
            "POST",
            "/email-verification/confirm",
            json!({"ticket": "x"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_ticket"));

    let email = address("lea");
    env.create(json!({"email": email, "password": PASSWORD, "user_metadata": {"locale": "fr"}}))
        .await;
    let link = link(&inbox(&email).await[0].html, VERIFY);
    let page = env.follow(&link).await;
    assert!(
        page.raw.contains(r#"name="lang" value="fr""#),
        "{}",
        page.raw
    );
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    let form = format!("ticket={}&lang=fr", param(&link, "ticket").unwrap());
    let path = "/v1/tenants/acme/email-verification/confirm";
    let done = env
        .send_raw("POST", path, None, form.as_bytes(), &headers)
        .await;
    assert_eq!(done.status, 200, "{}", done.raw);
    assert!(done.raw.contains(r#"<html lang="fr">"#), "{}", done.raw);
    assert!(
        done.raw.contains("Adresse e-mail confirmée"),
        "{}",
        done.raw
    );
    let again = env
        .send_raw("POST", path, None, form.as_bytes(), &headers)
        .await;
    assert_eq!(again.status, 400, "a used link: {}", again.raw);
    assert!(again.raw.contains("Lien non valide"), "{}", again.raw);
}

#[tokio::test]
async fn the_verification_job_resends_and_refuses_verified_addresses() {
    let env = Env::new().await;
    let email = address("ana");
    let u = sign_up(&env, &email).await;
    let r = env.send_verification_email(&u).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(r.body["type"], "verification_email");
    assert_eq!(r.body["status"], "completed");
    assert!(r.body["id"].as_str().unwrap().starts_with("job_"));
    let mail = inbox(&email).await;
    assert_eq!(mail.len(), 2);
    // Both links work until one is used: each send has its own ticket.
    let first = link(&mail[0].html, VERIFY);
    let second = link(&mail[1].html, VERIFY);
    assert_ne!(first, second);
    assert!(
        env.open_and_confirm(&second)
            .await
            .header("location")
            .unwrap()
            .ends_with("success=true")
    );

    let r = env.send_verification_email(&u).await;
    assert_eq!((r.status, r.code()), (400, "email_already_verified"));
    let r = env
        .send_verification_email("usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C9")
        .await;
    assert_eq!(r.status, 404);
    let reader = claims("acme", "x@clients", "read:users");
    let r = env
        .send(
            "POST",
            "/v1/tenants/acme/jobs/verification-email",
            Some(&reader),
            Some(&json!({"user_id": u["user_id"]})),
            &[],
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn a_password_reset_for_an_unknown_email_answers_like_a_known_one_and_sends_nothing() {
    let env = Env::new().await;
    let known = address("known");
    let unknown = address("unknown");
    sign_up(&env, &known).await;
    // The route reads nothing: both requests cost the same one queue write, so no latency
    // floor is needed to hide which address has an account.
    env.calls.take();
    let a = env.request_mail_queued(&known).await;
    let calls_known = env.calls_past_the_limiter();
    let b = env.request_mail_queued(&unknown).await;
    let calls_unknown = env.calls_past_the_limiter();
    assert_eq!(calls_known, ["SendMessage"]);
    assert_eq!(calls_known, calls_unknown);
    assert_eq!(
        inbox(&known).await.len(),
        1,
        "nothing sent before the worker runs"
    );
    assert_eq!(env.deliver_mail_requests().await, 2);
    assert_eq!(a.status, 202);
    assert_eq!((a.status, &a.raw), (b.status, &b.raw));
    let headers = |r: &Resp| {
        let mut h: Vec<String> = r.headers.keys().map(|k| k.to_string()).collect();
        h.sort();
        h
    };
    assert_eq!(headers(&a), headers(&b));
    assert!(inbox(&unknown).await.is_empty());
    assert_eq!(inbox(&known).await.len(), 2, "verification, then the reset");
    let r = env.request_reset("not an email").await;
    assert_eq!((r.status, r.code()), (400, "invalid_email"), "{}", r.raw);
}

#[tokio::test]
async fn a_reset_link_sets_the_password_once_and_clears_brute_force_blocks() {
    let (env, clock) = Env::with_clock().await;
    let email = address("ana");
    let u = sign_up(&env, &email).await;
    for _ in 0..10 {
        let r = env.login(&email, "wrong guess", "203.0.113.9").await;
        assert_eq!(r.code(), "invalid_credentials");
        clock.advance(16 * 60);
    }
    assert_eq!(env.login(&email, PASSWORD, "203.0.113.9").await.status, 429);

    assert_eq!(env.request_reset(&email).await.status, 202);
    let ticket = mailed_reset_ticket(&email).await;
    // A weak password is refused and leaves the ticket usable.
    let weak = env.confirm_reset(&ticket, "password").await;
    assert_eq!((weak.status, weak.code()), (400, "password_too_weak"));
    let new = "reset-Passphrase-Harbor-93";
    let r = env.confirm_reset(&ticket, new).await;
    assert_eq!(r.status, 204, "{}", r.raw);
    let again = env
        .confirm_reset(&ticket, "another-Passphrase-Cedar-58")
        .await;
    assert_eq!((again.status, again.code()), (400, "invalid_ticket"));

    let got = env.get_user(&u).await;
    assert!(got.body["last_password_reset"].is_string());
    let blocks = env.blocks(&u).await;
    assert_eq!(blocks.body["blocked_for"], json!([]));
    assert_eq!(env.login(&email, new, "203.0.113.9").await.status, 200);
    assert_eq!(env.login(&email, PASSWORD, "203.0.113.8").await.status, 401);
}

#[tokio::test]
async fn concurrent_redemptions_of_one_reset_ticket_succeed_once() {
    let env = Env::new().await;
    let email = address("ana");
    sign_up(&env, &email).await;
    env.request_reset(&email).await;
    let ticket = mailed_reset_ticket(&email).await;
    let passwords: Vec<String> = (0..8)
        .map(|i| format!("racing-Passphrase-Willow-{i}{i}"))
        .collect();
    let answers =
        futures::future::join_all(passwords.iter().map(|p| env.confirm_reset(&ticket, p))).await;
    let mut outcomes: Vec<(u16, String)> = answers
        .iter()
        .map(|r| (r.status, r.code().to_owned()))
        .collect();
    outcomes.sort();
    let mut expected = vec![(204, String::new())];
    expected.extend(std::iter::repeat_n((400, "invalid_ticket".to_owned()), 7));
    assert_eq!(outcomes, expected);
    let winner = answers.iter().position(|r| r.status == 204).unwrap();
    assert_eq!(
        env.login(&email, &passwords[winner], "203.0.113.9")
            .await
            .status,
        200
    );
    let loser = (winner + 1) % passwords.len();
    assert_eq!(
        env.login(&email, &passwords[loser], "203.0.113.9")
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn expired_tickets_fail() {
    let (env, clock) = Env::with_clock().await;
    let email = address("ana");
    sign_up(&env, &email).await;
    env.request_reset(&email).await;
    let verify = link(&inbox(&email).await[0].html, VERIFY);
    let ticket = mailed_reset_ticket(&email).await;
    clock.advance(3601);
    let r = env
        .confirm_reset(&ticket, "late-Passphrase-Orchid-64")
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_ticket"));
    clock.advance(5 * 86_400);
    let r = env.follow(&verify).await;
    assert_eq!(
        r.header("location"),
        Some("https://id.example.com/verified?success=false&error=expired_ticket")
    );
}

#[tokio::test]
async fn an_email_outage_keeps_the_user_and_the_outbox_sends_later() {
    let (mut env, clock) = Env::with_clock().await;
    env.app.mailer = mailer(&closed_endpoint()).await;
    let email = address("ana");
    let u = sign_up(&env, &email).await;
    assert_eq!(u["emails"][0]["status"], "pending");
    assert_eq!(env.get_user(&u).await.status, 200);
    assert!(inbox(&email).await.is_empty());
    let queued = env.outbox().await;
    assert_eq!(queued.len(), 1);
    assert_eq!(s(&queued[0], "status"), "pending");
    assert_eq!(s(&queued[0], "attempts"), "1");
    assert!(!s(&queued[0], "last_error").is_empty());

    env.app.mailer = mailer(&crate::support::moto_endpoint()).await;
    let early = env.deliver_due(10).await.unwrap();
    assert_eq!(early.due, 0, "not before its backoff");
    clock.advance(61);
    let report = env.deliver_due(10).await.unwrap();
    assert_eq!((report.due, report.sent), (1, 1), "{report:?}");
    assert!(env.outbox().await.is_empty());
    let mail = inbox(&email).await;
    assert_eq!(mail.len(), 1);
    let r = env.open_and_confirm(&link(&mail[0].html, VERIFY)).await;
    assert!(r.header("location").unwrap().ends_with("success=true"));
    // A resend works too.
    let again = env.deliver_due(10).await.unwrap();
    assert_eq!(again.due, 0);
}

#[tokio::test]
async fn a_verification_job_is_followed_by_its_id_until_it_is_sent_and_for_a_day() {
    let (mut env, clock) = Env::with_clock().await;
    let u = sign_up(&env, &address("ana")).await;
    env.app.mailer = mailer(&closed_endpoint()).await;
    let job = env.send_verification_email(&u).await;
    assert_eq!(
        (job.status, job.body["status"].as_str()),
        (201, Some("pending"))
    );
    let id = job.body["id"].as_str().unwrap();
    let pending = json!({
        "id": id,
        "type": "verification_email",
        "status": "pending",
        "created_at": job.body["created_at"],
    });
    assert_eq!(env.job(id).await.body, pending);

    env.app.mailer = mailer(&crate::support::moto_endpoint()).await;
    clock.advance(61);
    assert_eq!(env.deliver_due(10).await.unwrap().sent, 1);
    let r = env.job(id).await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (200, Some("completed"))
    );
    // A reader may follow it; another tenant's admin finds no such job in its own.
    let reader = claims("acme", "x@clients", "read:users");
    let path = format!("/v1/tenants/acme/jobs/{id}");
    let r = env.send("GET", &path, Some(&reader), None, &[]).await;
    assert_eq!(r.status, 200);
    let globex = claims("globex", "x@clients", ALL_SCOPES);
    let theirs = format!("/v1/tenants/globex/jobs/{id}");
    let r = env.send("GET", &theirs, Some(&globex), None, &[]).await;
    assert_eq!((r.status, r.code()), (404, "job_not_found"));
    let r = env.job("job_not-a-ulid").await;
    assert_eq!((r.status, r.code()), (404, "job_not_found"));

    clock.advance(86_400);
    let r = env.job(id).await;
    assert_eq!((r.status, r.code()), (404, "job_not_found"));
}

#[tokio::test]
async fn a_message_that_keeps_failing_is_abandoned_after_eight_tries() {
    let (mut env, clock) = Env::with_clock().await;
    env.app.mailer = mailer(&closed_endpoint()).await;
    let email = address("ana");
    sign_up(&env, &email).await;
    for round in 2..=8 {
        clock.advance(3601);
        let report = env.deliver_due(10).await.unwrap();
        if round < 8 {
            assert_eq!(report.retrying, 1, "try {round}: {report:?}");
        } else {
            assert_eq!(report.abandoned, 1, "try {round}: {report:?}");
        }
    }
    let queued = env.outbox().await;
    assert_eq!(s(&queued[0], "status"), "abandoned");
    assert_eq!(s(&queued[0], "attempts"), "8");
    assert!(!queued[0].contains_key("gsi2pk"), "no longer due");
    assert!(queued[0].contains_key("expires_at"), "kept, then expired");
    clock.advance(86_400);
    assert_eq!(env.deliver_due(10).await.unwrap().due, 0);
}

#[tokio::test]
async fn a_message_for_a_user_erased_meanwhile_is_dropped() {
    let (mut env, clock) = Env::with_clock().await;
    env.app.mailer = mailer(&closed_endpoint()).await;
    let email = address("ana");
    let u = sign_up(&env, &email).await;
    env.app.mailer = mailer(&crate::support::moto_endpoint()).await;
    // Erasing the user erases the queued message with it.
    env.delete_user(&u).await;
    let keys = env.keys().await;
    assert!(
        keys.iter().all(|(pk, _)| pk.contains("#ERASURE#")),
        "only the erasure receipt is left: {keys:?}"
    );
    clock.advance(61);
    assert_eq!(env.deliver_due(10).await.unwrap().due, 0);
    assert!(inbox(&email).await.is_empty());
}

#[tokio::test]
async fn sends_are_capped_per_user_and_kind_and_resets_stay_silent_beyond_the_cap() {
    let env = Env::new().await;
    let email = address("ana");
    let u = sign_up(&env, &email).await;
    for _ in 0..4 {
        let r = env.send_verification_email(&u).await;
        assert_eq!(r.status, 201, "{}", r.raw);
    }
    let r = env.send_verification_email(&u).await;
    assert_eq!((r.status, r.code()), (429, "too_many_requests"));
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&wait));
    assert_eq!(inbox(&email).await.len(), 5);

    let first = env.request_reset(&email).await;
    for _ in 0..5 {
        let r = env.request_reset(&email).await;
        assert_eq!((r.status, &r.raw), (first.status, &first.raw));
    }
    assert_eq!(
        inbox(&email).await.len(),
        10,
        "five verifications, five resets"
    );
}

#[tokio::test]
async fn result_urls_outside_the_allow_list_are_refused() {
    let env = Env::new().await;
    let u = sign_up(&env, &address("ana")).await;
    let before = env.keys().await;
    let answers = [
        (
            "email-verification",
            env.verification_ticket(
                json!({"user_id": u["user_id"], "result_url": "https://evil.example.net/"}),
            )
            .await,
        ),
        (
            "password-change",
            env.password_change_ticket(
                json!({"user_id": u["user_id"], "result_url": "http://id.example.com/done"}),
            )
            .await,
        ),
    ];
    for (ticket, r) in answers {
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_result_url"),
            "{ticket}"
        );
    }
    assert_eq!(env.keys().await, before, "nothing stored");
}

#[tokio::test]
async fn a_verification_ticket_redirects_to_its_result_url() {
    let env = Env::new().await;
    let u = sign_up(&env, &address("ana")).await;
    let body = json!({"user_id": u["user_id"], "result_url": "https://id.example.com/welcome?from=mail", "ttl_sec": 600});
    let r = env.verification_ticket(body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let url = r.body["ticket"].as_str().unwrap();
    assert!(url.starts_with(VERIFY));
    let r = env.open_and_confirm(url).await;
    assert_eq!(
        r.header("location"),
        Some("https://id.example.com/welcome?from=mail&success=true")
    );
    let got = env.get_user(&u).await;
    assert_eq!(got.body["email_verified"], true);

    let long = json!({"user_id": u["user_id"], "ttl_sec": 31 * 86_400});
    let r = env.verification_ticket(long).await;
    assert_eq!((r.status, r.code()), (400, "invalid_body"));
    let issuer = claims("acme", "x@clients", "read:users update:users");
    let r = env
        .send(
            "POST",
            "/v1/tenants/acme/tickets/email-verification",
            Some(&issuer),
            Some(&body),
            &[],
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn a_password_change_ticket_by_email_sets_the_password_and_may_verify_the_address() {
    let env = Env::new().await;
    let email = address("ana");
    let u = sign_up(&env, &email).await;
    let body = json!({"email": email, "connection": "database", "mark_email_as_verified": true, "result_url": "https://id.example.com/signed-in"});
    let r = env.password_change_ticket(body).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let url = r.body["ticket"].as_str().unwrap();
    assert!(url.starts_with(RESET_PAGE), "{url}");
    assert_eq!(
        param(url, "result_url").as_deref(),
        Some("https://id.example.com/signed-in")
    );
    let ticket = param(url, "ticket").unwrap();
    let r = env
        .confirm_reset(&ticket, "ticket-Passphrase-Falcon-22")
        .await;
    assert_eq!(r.status, 204, "{}", r.raw);
    let got = env.get_user(&u).await;
    assert_eq!(got.body["email_verified"], true);

    let r = env
        .password_change_ticket(json!({"email": address("nobody")}))
        .await;
    assert_eq!(r.status, 404);
    let r = env
        .password_change_ticket(json!({"email": email, "user_id": u["user_id"]}))
        .await;
    assert_eq!(r.status, 400);
    let social = env
        .create(json!({"connection": "google-oauth2", "user_id": "g-1", "email": address("g")}))
        .await;
    let r = env
        .password_change_ticket(json!({"user_id": social["user_id"]}))
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn a_ticket_works_only_in_its_own_tenant() {
    let env = Env::new().await;
    let email = address("ana");
    sign_up(&env, &email).await;
    env.request_reset(&email).await;
    let ticket = mailed_reset_ticket(&email).await;
    let r = env
        .send(
            "POST",
            "/v1/tenants/globex/password-reset/confirm",
            None,
            Some(&json!({"ticket": ticket, "new_password": "other-Passphrase-Spruce-19"})),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_ticket"));
    let verify = link(&inbox(&email).await[0].html, VERIFY);
    let foreign = verify.replace("/tenants/acme/", "/tenants/globex/");
    let r = env.follow(&foreign).await;
    assert!(
        r.header("location")
            .unwrap()
            .ends_with("error=invalid_ticket")
    );
    assert_eq!(
        env.confirm_reset(&ticket, "own-Passphrase-Juniper-75")
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn the_locale_comes_from_user_metadata_then_the_tenant_then_english() {
    let env = Env::new().await;
    let cases = [
        (json!({"locale": "de-AT"}), "de"),
        (json!({"language": "pt"}), "pt-BR"),
        (json!({"locale": "ja"}), "en"),
        (json!({}), "en"),
    ];
    for (metadata, lang) in &cases {
        let email = address("l");
        env.create(json!({"email": email, "password": PASSWORD, "user_metadata": metadata}))
            .await;
        let mail = inbox(&email).await;
        assert!(
            mail[0].html.contains(&format!("lang=\"{lang}\"")),
            "{metadata}: {}",
            mail[0].subject
        );
    }
    let r = env
        .patch_settings(json!({"locale": "es", "display_name": "Acme Tienda"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let email = address("es");
    env.create(json!({"email": email, "password": PASSWORD, "user_metadata": {"locale": "ja"}}))
        .await;
    let mail = inbox(&email).await;
    assert!(mail[0].html.contains("lang=\"es\""));
    assert!(
        mail[0].subject.contains("Acme Tienda"),
        "{}",
        mail[0].subject
    );
}

#[tokio::test]
async fn values_in_the_html_part_are_escaped() {
    let env = Env::new().await;
    let email = address("x");
    // A verified address hears its own name; a reset mail is one that shows it.
    env.create(json!({"email": email, "email_verified": true, "password": PASSWORD, "given_name": "<img src=x onerror=alert(1)>"}))
        .await;
    assert_eq!(env.request_reset(&email).await.status, 202);
    let html = &inbox(&email).await[0].html;
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    assert!(!html.contains("<img"));
}

#[tokio::test]
async fn mail_to_an_address_nobody_verified_carries_no_name_its_creator_typed() {
    let env = Env::new().await;
    let email = address("victim");
    // Whoever signs an address up chooses the names; the mailbox's owner never agreed.
    env.create(json!({"email": email, "password": PASSWORD, "given_name": "Visit evil.example now", "name": "Zed Q"}))
        .await;
    assert_eq!(env.request_reset(&email).await.status, 202);
    let mail = inbox(&email).await;
    assert_eq!(mail.len(), 2, "the verification and the reset");
    for m in &mail {
        assert!(
            !m.html.contains("evil.example") && !m.html.contains("Zed Q"),
            "{}",
            m.html
        );
        assert!(!m.subject.contains("evil.example"), "{}", m.subject);
    }
}

#[tokio::test]
async fn names_with_format_or_direction_characters_are_refused() {
    let env = Env::new().await;
    for name in [
        "Ana\u{202E}gnp.exe",
        "Ana\u{200B}",
        "A\u{2066}b",
        "Ana\u{FEFF}",
        "Ana\u{061C}",
    ] {
        let r = env
            .post_user(json!({"email": address("n"), "password": PASSWORD, "given_name": name}))
            .await;
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_body"),
            "{name:?}: {}",
            r.raw
        );
    }
    let u = env.create_ana().await;
    let r = env.patch_user(&u, json!({"nickname": "ok\u{202D}"})).await;
    assert_eq!((r.status, r.code()), (400, "invalid_body"));
    assert!(
        env.keys()
            .await
            .iter()
            .all(|(pk, _)| !pk.contains("EMAIL#n."))
    );
}

#[tokio::test]
async fn an_admin_email_change_unverifies_and_sends_to_the_new_address_unless_told_not_to() {
    let env = Env::new().await;
    let old = address("old");
    let u = env
        .create(json!({"email": old, "password": PASSWORD, "email_verified": true}))
        .await;
    let new = address("new");
    let r = env.patch_user(&u, json!({"email": new})).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["email_verified"], false);
    assert_eq!(r.body["emails"][0]["type"], "verification_email");
    assert_eq!(inbox(&new).await.len(), 1);
    let quiet = address("quiet");
    let r = env
        .patch_user(&u, json!({"email": quiet, "verify_email": false}))
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("emails").is_none());
    assert!(inbox(&quiet).await.is_empty());
    let r = env.patch_user(&u, json!({"verify_email": false})).await;
    assert_eq!((r.status, r.code()), (400, "invalid_body"));
    // The link sent to the replaced address no longer verifies anything.
    let stale = link(&inbox(&new).await[0].html, VERIFY);
    assert!(
        env.follow(&stale)
            .await
            .header("location")
            .unwrap()
            .ends_with("error=invalid_ticket")
    );
}

#[tokio::test]
async fn a_self_service_email_change_waits_for_the_new_address_to_be_verified() {
    let env = Env::new().await;
    let old = address("old");
    let u = env
        .create(json!({"email": old, "password": PASSWORD, "email_verified": true}))
        .await;
    let new = address("new");
    let r = env
        .patch_me(&u, json!({"email": new, "name": "Ana B"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["email"], old.as_str());
    assert_eq!(r.body["email_verified"], true);
    assert_eq!(r.body["pending_email"], new.as_str());
    assert_eq!(r.body["name"], "Ana B");
    let kinds: Vec<&str> = r.body["emails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["verification_email", "email_change_notice"]);
    let got = env.get_me(&u).await;
    assert_eq!(got.body["pending_email"], new.as_str());

    // The old address is told, without the new one spelled out, and can cancel.
    let notice = &inbox(&old).await[0];
    assert!(!notice.html.contains(&new));
    link(&notice.html, CANCEL);
    // Signing in still takes the old address.
    assert_eq!(env.login(&old, PASSWORD, "203.0.113.5").await.status, 200);

    let sent = &inbox(&new).await[0];
    assert!(
        !sent.html.contains("Ana B"),
        "mail to an unproven address carries no text the user chose"
    );
    let verify = link(&sent.html, VERIFY);
    // Opening the link (as a mail scanner would) only shows the page that confirms.
    let page = env.follow(&verify).await;
    assert_eq!(page.status, 200, "{}", page.raw);
    assert!(page.raw.contains("<form") && page.raw.contains(&new));
    // Its form is answered with a redirect to the tenant's page, which `form-action` would block.
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("form-action"));
    let still = env.get_user(&u).await;
    assert_eq!(still.body["email"], old.as_str());
    let r = env.submit_form(&verify).await;
    assert_eq!(r.status, 302, "{}", r.raw);
    assert!(r.header("location").unwrap().ends_with("success=true"));
    let got = env.get_user(&u).await;
    assert_eq!(got.body["email"], new.as_str());
    assert_eq!(got.body["email_verified"], true);
    assert!(got.body.get("pending_email").is_none());
    // The guard moved with the address.
    assert_eq!(env.login(&new, PASSWORD, "203.0.113.5").await.status, 200);
    env.create(json!({"email": old, "password": PASSWORD}))
        .await;
    let taken = env
        .post_user(json!({"email": new, "password": PASSWORD}))
        .await;
    assert_eq!(taken.status, 409);
}

#[tokio::test]
async fn the_cancel_link_shows_a_page_and_only_its_form_cancels_the_change() {
    let (env, clock) = Env::with_clock().await;
    let old = address("old");
    let u = env
        .create(json!({"email": old, "password": PASSWORD, "email_verified": true}))
        .await;
    let new = address("new");
    env.patch_me(&u, json!({"email": new})).await;
    let cancel = link(&inbox(&old).await[0].html, CANCEL);
    // The settings the container read have gone stale: the page reads them with its ticket.
    clock.advance(shared::operations::tenant::SETTINGS_CACHE_SECS + 1);
    let page = env.follow(&cancel).await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.raw.contains("<form") && page.raw.contains("method=\"post\""));
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let still = env.get_user(&u).await;
    assert_eq!(
        still.body["pending_email"],
        new.as_str(),
        "a GET changes nothing"
    );

    let r = env.submit_form(&cancel).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let after = env.get_user(&u).await;
    assert!(after.body.get("pending_email").is_none());
    assert_eq!(after.body["email"], old.as_str());
    // The verification sent to the new address is void now, and the cancel link used.
    let verify = link(&inbox(&new).await[0].html, VERIFY);
    assert!(
        env.follow(&verify)
            .await
            .header("location")
            .unwrap()
            .ends_with("error=invalid_ticket")
    );
    let ticket = param(&cancel, "ticket").unwrap();
    let r = env.cancel_email_change(&ticket).await;
    assert_eq!((r.status, r.code()), (400, "invalid_ticket"));
    assert_eq!(env.follow(&cancel).await.status, 400);
}

#[tokio::test]
async fn self_service_email_changes_are_capped_too() {
    let env = Env::new().await;
    let u = env
        .create(json!({"email": address("old"), "password": PASSWORD, "email_verified": true}))
        .await;
    for i in 0..5 {
        let r = env
            .patch_me(&u, json!({"email": address(&format!("n{i}"))}))
            .await;
        assert_eq!(r.status, 200, "{}", r.raw);
    }
    let r = env
        .patch_me(&u, json!({"email": address("n6"), "name": "Changed"}))
        .await;
    assert_eq!((r.status, r.code()), (429, "too_many_requests"));
    let got = env.get_user(&u).await;
    assert!(
        got.body.get("name").is_none(),
        "a refused change changes nothing"
    );
    assert_eq!(got.body["version"], 6);
}

#[tokio::test]
async fn public_routes_need_no_token_and_management_routes_still_do() {
    let env = Env::new().await;
    for (method, path) in [
        ("POST", "/v1/tenants/acme/jobs/verification-email"),
        ("POST", "/v1/tenants/acme/tickets/email-verification"),
        ("POST", "/v1/tenants/acme/tickets/password-change"),
    ] {
        let r = env
            .send(method, path, None, Some(&json!({"user_id": "x"})), &[])
            .await;
        assert_eq!(r.status, 401, "{path}");
    }
    let foreign = claims("globex", "x@clients", ALL_SCOPES);
    let r = env
        .send(
            "POST",
            "/v1/tenants/acme/tickets/email-verification",
            Some(&foreign),
            Some(&json!({"user_id": "x"})),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = env.confirm_reset("x", "whatever-Passphrase-Aspen-11").await;
    assert_eq!((r.status, r.code()), (400, "invalid_ticket"));
    let r = env
        .send(
            "POST",
            "/v1/tenants/Not_A_Tenant/password-reset",
            None,
            Some(&json!({"email": "a@example.com"})),
            &[],
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_tenant_id"),
        "{}",
        r.raw
    );
    assert!(PUBLIC_BASE.starts_with("https://"));
}

#[tokio::test]
async fn an_app_may_confirm_a_verification_ticket_with_a_json_post() {
    let env = Env::new().await;
    let u = sign_up(&env, &address("ana")).await;
    let ticket = param(
        &link(&inbox(u["email"].as_str().unwrap()).await[0].html, VERIFY),
        "ticket",
    )
    .unwrap();
    let r = env.confirm_verification(&ticket).await;
    assert_eq!(r.status, 204, "{}", r.raw);
    let got = env.get_user(&u).await;
    assert_eq!(got.body["email_verified"], true);
    let again = env.confirm_verification(&ticket).await;
    assert_eq!((again.status, again.code()), (400, "invalid_ticket"));
}

#[tokio::test]
async fn a_reset_link_is_void_once_the_address_moved_or_a_newer_password_was_set() {
    let env = Env::new().await;
    let email = address("ana");
    let u = sign_up(&env, &email).await;
    env.request_reset(&email).await;
    let old_ticket = mailed_reset_ticket(&email).await;
    env.request_reset(&email).await;
    let newer = mailed_reset_ticket(&email).await;
    assert_eq!(
        env.confirm_reset(&newer, "newer-Passphrase-Birch-27")
            .await
            .status,
        204
    );
    let r = env
        .confirm_reset(&old_ticket, "older-Passphrase-Maple-81")
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_ticket"), "superseded");

    env.request_reset(&email).await;
    let mailed = mailed_reset_ticket(&email).await;
    let moved = address("moved");
    env.patch_user(&u, json!({"email": moved, "verify_email": false}))
        .await;
    let r = env
        .confirm_reset(&mailed, "moved-Passphrase-Cedar-39")
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_ticket"),
        "address moved"
    );
}

#[tokio::test]
async fn a_delayed_reset_email_is_dropped_once_the_password_changed() {
    let (mut env, clock) = Env::with_clock().await;
    let email = address("ana");
    let u = sign_up(&env, &email).await;
    env.app.mailer = mailer(&closed_endpoint()).await;
    clock.advance(1);
    assert_eq!(env.request_reset(&email).await.status, 202);
    clock.advance(1);
    let r = env
        .patch_user(&u, json!({"password": "admin-Passphrase-Poplar-52"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    env.app.mailer = mailer(&crate::support::moto_endpoint()).await;
    clock.advance(61);
    let report = env.deliver_due(10).await.unwrap();
    assert_eq!((report.due, report.dropped), (1, 1), "{report:?}");
    assert_eq!(
        inbox(&email).await.len(),
        1,
        "only the sign-up's verification"
    );
}

#[tokio::test]
async fn a_providers_error_is_kept_without_the_addresses_it_quotes() {
    let mut env = Env::new().await;
    // A sender SES has not verified: SES (and moto) refuse the message, quoting the address.
    let ses = local_api::moto::ses_client(&crate::support::moto_endpoint());
    env.app.mailer = std::sync::Arc::new(shared::adapters::ses::SesMailer::new(
        ses,
        "alerts@unverified-sender.example".into(),
        None,
    ));
    let email = address("ana");
    let u = sign_up(&env, &email).await;
    assert_ne!(u["emails"][0]["status"], "completed");
    let queued = env.outbox().await;
    let last_error = s(&queued[0], "last_error");
    assert!(!last_error.is_empty());
    assert!(
        !last_error.contains("alerts@unverified-sender.example") && !last_error.contains(&email),
        "{last_error}"
    );
}

/// Breaks the stored outbox item of the message `job`: its `kind` becomes one no version knows.
async fn corrupt(env: &Env, job: &str) {
    let item = env
        .outbox()
        .await
        .into_iter()
        .find(|i| s(i, "sk") == format!("OUTBOX#{job}"))
        .expect("the message is queued");
    env.client
        .update_item()
        .table_name(&env.table)
        .key("pk", item["pk"].clone())
        .key("sk", item["sk"].clone())
        .update_expression("SET kind = :k")
        .expression_attribute_values(
            ":k",
            aws_sdk_dynamodb::types::AttributeValue::S("carrier_pigeon".into()),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn one_unreadable_outbox_item_never_stops_the_others() {
    let (mut env, clock) = Env::with_clock().await;
    env.app.mailer = mailer(&closed_endpoint()).await;
    let (bad, good) = (address("bad"), address("good"));
    let broken = sign_up(&env, &bad).await;
    sign_up(&env, &good).await;
    corrupt(&env, broken["emails"][0]["id"].as_str().unwrap()).await;

    env.app.mailer = mailer(&crate::support::moto_endpoint()).await;
    clock.advance(61);
    let report = env.deliver_due(10).await.unwrap();
    assert_eq!(
        (report.due, report.sent, report.unreadable),
        (1, 1, 1),
        "{report:?}"
    );
    assert_eq!(inbox(&good).await.len(), 1);
    // Kept for inspection, out of the due index, so it is not read (or logged) again.
    let kept = env.outbox().await;
    assert_eq!(kept.len(), 1);
    assert!(matches!(
        kept[0].get("unreadable"),
        Some(aws_sdk_dynamodb::types::AttributeValue::Bool(true))
    ));
    assert!(!kept[0].contains_key("gsi2pk"));
    assert!(kept[0].contains_key("expires_at"));
    clock.advance(3600);
    let again = env.deliver_due(10).await.unwrap();
    assert_eq!((again.due, again.unreadable), (0, 0));
}

#[tokio::test]
async fn an_export_with_an_unreadable_item_still_answers() {
    let mut env = Env::new().await;
    env.app.mailer = mailer(&closed_endpoint()).await;
    let email = address("ana");
    let u = sign_up(&env, &email).await;
    corrupt(&env, u["emails"][0]["id"].as_str().unwrap()).await;
    let r = env.export_user(&u).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["user"]["email"], email.as_str());
    assert_eq!(r.body["emails"], json!([]));
}
