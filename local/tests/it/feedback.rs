//! SES's bounces and complaints (docs/email.md, "Bounces and complaints"): the `ses-feedback`
//! function fed SNS events built from what our own `SendEmail` requests carried (the
//! recipient and the tags, as SES received them), and what marking an address then does to
//! every way mail is sent.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_sesv2::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_sesv2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sesv2::error::BoxError;
use serde_json::{Value, json};
use ses_feedback::Report;

use crate::faults::{Fault, Proxy, through};
use crate::support::{
    Env, PUBLIC_BASE, SENDER, address, claims, closed_endpoint, inbox, link, moto_endpoint,
};

const PASSWORD: &str = "correct horse battery";
const VERIFY: &str = "https://id.example.com/v1/tenants/acme/email-verification/confirm?ticket=";

/// The `SendEmail` requests a mailer made, as SES received them (request bodies), so a test
/// can build the events SES would publish for them.
#[derive(Debug, Clone, Default)]
struct Sent(Arc<Mutex<Vec<Value>>>);

impl Intercept for Sent {
    fn name(&self) -> &'static str {
        "Sent"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context.request().body().bytes().unwrap_or_default();
        if let Ok(request) = serde_json::from_slice::<Value>(body)
            && request.get("Destination").is_some()
        {
            self.0.lock().unwrap().push(request);
        }
        Ok(())
    }
}

impl Sent {
    /// The tags of the newest message sent to `to`, as SES's event records list them.
    fn tags_of(&self, to: &str) -> Value {
        let requests = self.0.lock().unwrap();
        let request = requests
            .iter()
            .rev()
            .find(|r| r["Destination"]["ToAddresses"][0] == to)
            .unwrap_or_else(|| panic!("nothing was sent to {to}"));
        let tags: BTreeMap<String, Vec<String>> = request["EmailTags"]
            .as_array()
            .expect("SendEmail carries tags")
            .iter()
            .map(|t| {
                let name = t["Name"].as_str().unwrap().to_owned();
                (name, vec![t["Value"].as_str().unwrap().to_owned()])
            })
            .collect();
        json!(tags)
    }
}

/// Sends the app's mail through SES at `endpoint`, recording every request (the sender is
/// an identity on moto already: `Env::new` made it one).
fn recording(env: &mut Env, endpoint: &str) -> Sent {
    let sent = Sent::default();
    let base = local_api::moto::ses_client(endpoint);
    let ses = aws_sdk_sesv2::Client::from_conf(
        base.config().to_builder().interceptor(sent.clone()).build(),
    );
    env.app.mailer = Arc::new(shared::adapters::ses::SesMailer::new(
        ses,
        SENDER.into(),
        None,
    ));
    sent
}

/// What SES publishes for the last message to `to`: `kind` is `Bounce` (with its type and
/// subtype) or `Complaint` (with its feedback type).
fn ses_record(sent: &Sent, to: &str, kind: &str, detail: (&str, &str)) -> Value {
    let mut record = json!({
        "eventType": kind,
        "mail": {
            "timestamp": "2026-11-30T09:00:00.000Z",
            "source": SENDER,
            "messageId": "0102019a7c2e4a10-test-000000",
            "destination": [to],
            "tags": sent.tags_of(to),
        }
    });
    match kind {
        "Bounce" => {
            record["bounce"] = json!({
                "bounceType": detail.0,
                "bounceSubType": detail.1,
                "bouncedRecipients": [{"emailAddress": to, "action": "failed", "status": "5.1.1"}],
                "timestamp": "2026-11-30T09:00:02.418Z",
                "feedbackId": "0102019a7c2e4b1d-test-000000",
            })
        }
        _ => {
            record["complaint"] = json!({
                "complainedRecipients": [{"emailAddress": to}],
                "complaintFeedbackType": detail.0,
                "timestamp": "2026-11-30T10:15:00.000Z",
                "feedbackId": "0102019a7d11e2f3-test-000000",
            })
        }
    }
    record
}

/// An SNS event, as Lambda receives one from the topic, holding each record as its message.
fn sns(records: &[Value]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, record)| {
            json!({
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": format!("sns-message-{i}"),
                    "TopicArn": "arn:aws:sns:us-east-1:000000000000:SesFeedbackTopic",
                    "Message": record.to_string(),
                    "Timestamp": "2026-11-30T09:00:03.000Z",
                }
            })
        })
        .collect();
    json!({ "Records": records })
}

/// Hands `event` to `ses-feedback`, as SNS invokes it: its report, or the error that makes
/// Lambda offer the event again.
async fn try_feed(env: &Env, event: Value) -> Result<Report, lambda_runtime::Error> {
    local_api::moto::as_function(
        "ses-feedback",
        ses_feedback::handle(
            &env.app,
            lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
        ),
    )
    .await
}

/// [`try_feed`], which must succeed.
async fn feed(env: &Env, event: Value) -> Report {
    try_feed(env, event).await.expect("ses-feedback")
}

/// A database user whose sign-up verification went out (and was recorded), and the bounce
/// SES publishes for it.
async fn bounced(env: &Env, sent: &Sent, email: &str) -> Value {
    let user = env
        .create(json!({"email": email, "password": PASSWORD}))
        .await;
    let report = feed(
        env,
        sns(&[ses_record(sent, email, "Bounce", ("Permanent", "General"))]),
    )
    .await;
    assert_eq!(report.marked, 1, "{report:?}");
    user
}

fn auth0_path(user: &Value) -> String {
    format!(
        "/api/v2/users/auth0%7C{}",
        user["user_id"].as_str().unwrap()
    )
}

#[tokio::test]
async fn a_permanent_bounce_marks_the_user_as_both_dialects_and_both_exports_show() {
    let mut env = Env::new().await;
    let sent = recording(&mut env, &moto_endpoint());
    let email = address("ana");
    let ana = env
        .create(json!({"email": email, "password": PASSWORD}))
        .await;
    // The tags SES received name the tenant and the user, as they are.
    assert_eq!(
        sent.tags_of(&email),
        json!({"tenant_id": ["acme"], "user_id": [ana["user_id"]]})
    );
    let bounce = sns(&[ses_record(
        &sent,
        &email,
        "Bounce",
        ("Permanent", "NoEmail"),
    )]);
    let report = feed(&env, bounce.clone()).await;
    assert_eq!((report.records, report.marked), (1, 1), "{report:?}");

    let mark = json!({"reason": "bounce", "detail": "Permanent/NoEmail", "at": "2026-11-30T09:00:02.418Z"});
    let user = env.get_user(&ana).await;
    assert_eq!(user.body["email_undeliverable"], mark, "{}", user.raw);
    let admin = env.admin();
    let r = env
        .send("GET", &auth0_path(&ana), Some(&admin), None, &[])
        .await;
    assert_eq!(r.body["email_undeliverable"], mark, "{}", r.raw);
    let export = env.export_user(&ana).await;
    assert_eq!(export.body["user"]["email_undeliverable"], mark);
    let own_export = env.export_me(&ana).await;
    assert_eq!(own_export.body["user"]["email_undeliverable"], mark);
    assert_eq!(env.get_me(&ana).await.body["email_undeliverable"], mark);

    // SNS may deliver a record twice: the second changes nothing.
    let version = user.body["version"].clone();
    let again = feed(&env, bounce).await;
    assert_eq!((again.marked, again.already), (0, 1), "{again:?}");
    assert_eq!(env.get_user(&ana).await.body["version"], version);
}

#[tokio::test]
async fn a_complaint_marks_the_user_with_its_feedback_type() {
    let mut env = Env::new().await;
    let sent = recording(&mut env, &moto_endpoint());
    let email = address("ana");
    let ana = env
        .create(json!({"email": email, "password": PASSWORD}))
        .await;
    let report = feed(
        &env,
        sns(&[ses_record(&sent, &email, "Complaint", ("abuse", ""))]),
    )
    .await;
    assert_eq!(report.marked, 1, "{report:?}");
    assert_eq!(
        env.get_user(&ana).await.body["email_undeliverable"],
        json!({"reason": "complaint", "detail": "abuse", "at": "2026-11-30T10:15:00.000Z"})
    );
}

#[tokio::test]
async fn a_transient_or_undetermined_bounce_marks_nobody() {
    let mut env = Env::new().await;
    let sent = recording(&mut env, &moto_endpoint());
    let email = address("ana");
    let ana = env
        .create(json!({"email": email, "password": PASSWORD}))
        .await;
    let before = env.get_user(&ana).await.body;
    let report = feed(
        &env,
        sns(&[
            ses_record(&sent, &email, "Bounce", ("Transient", "MailboxFull")),
            ses_record(&sent, &email, "Bounce", ("Undetermined", "Undetermined")),
        ]),
    )
    .await;
    assert_eq!((report.ignored, report.marked), (2, 0), "{report:?}");
    assert_eq!(env.get_user(&ana).await.body, before);
    // And mail still goes out.
    let job = env.send_verification_email(&ana).await;
    assert_eq!(job.body["status"], "completed", "{}", job.raw);
    assert_eq!(inbox(&email).await.len(), 2);
}

#[tokio::test]
async fn mail_to_a_marked_address_is_suppressed_on_every_path_while_others_still_get_theirs() {
    let mut env = Env::new().await;
    let sent = recording(&mut env, &moto_endpoint());
    let email = address("ana");
    let ana = env
        .create(json!({"email": email, "password": PASSWORD, "email_verified": true}))
        .await;
    let other = address("bob");
    env.create(json!({"email": other, "password": PASSWORD, "email_verified": true}))
        .await;
    // A reset reaches her, and bounces.
    assert_eq!(env.request_reset(&email).await.status, 202);
    assert_eq!(inbox(&email).await.len(), 1);
    let report = feed(
        &env,
        sns(&[ses_record(
            &sent,
            &email,
            "Bounce",
            ("Permanent", "General"),
        )]),
    )
    .await;
    assert_eq!(report.marked, 1);

    // A public reset answers as it always does, for her as for an unknown address; only bob
    // is mailed.
    let hers = env.request_reset(&email).await;
    let nobodys = env.request_reset(&address("nobody")).await;
    assert_eq!((hers.status, &hers.body), (nobodys.status, &nobodys.body));
    assert_eq!(env.request_reset(&other).await.status, 202);
    assert_eq!(inbox(&other).await.len(), 1);

    // The verification job, unverified again by an admin: suppressed, and so recorded.
    let r = env.patch_user(&ana, json!({"email_verified": false})).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let job = env.send_verification_email(&ana).await;
    assert_eq!(
        (job.status, job.body["status"].as_str()),
        (201, Some("suppressed")),
        "{}",
        job.raw
    );
    let id = job.body["id"].as_str().unwrap();
    assert_eq!(env.job(id).await.body["status"], "suppressed");

    // The deletion notice of DELETE /me.
    let r = env.delete_me(&ana).await;
    assert_eq!(r.status, 202, "{}", r.raw);
    assert_eq!(r.body["emails"][0]["status"], "suppressed", "{}", r.raw);

    // Nothing but the first reset ever reached her mailbox, and nothing waits to.
    assert_eq!(inbox(&email).await.len(), 1);
    assert!(env.outbox().await.is_empty());
}

#[tokio::test]
async fn a_retry_of_the_outbox_to_an_address_marked_meanwhile_is_suppressed() {
    let (mut env, clock) = Env::with_clock().await;
    // SES is down at sign-up: the verification waits in the outbox.
    let sent = recording(&mut env, &closed_endpoint());
    let email = address("ana");
    let ana = env
        .create(json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!(ana["emails"][0]["status"], "pending");
    // It bounced all the same (an earlier message, say): the address is marked.
    let report = feed(
        &env,
        sns(&[ses_record(
            &sent,
            &email,
            "Bounce",
            ("Permanent", "General"),
        )]),
    )
    .await;
    assert_eq!(report.marked, 1);

    recording(&mut env, &moto_endpoint());
    clock.advance(61);
    let delivery = env.deliver_due(10).await.unwrap();
    assert_eq!(
        (delivery.due, delivery.suppressed, delivery.sent),
        (1, 1, 0),
        "{delivery:?}"
    );
    assert!(env.outbox().await.is_empty());
    assert!(inbox(&email).await.is_empty());
}

#[tokio::test]
async fn a_new_email_clears_the_mark_by_an_admin_and_by_the_user_and_mail_flows_again() {
    let mut env = Env::new().await;
    let sent = recording(&mut env, &moto_endpoint());

    // An admin sets a new address: the mark goes, and the new address is verified.
    let old = address("ana");
    let ana = bounced(&env, &sent, &old).await;
    let new = address("ana.new");
    let r = env.patch_user(&ana, json!({"email": new})).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert!(r.body.get("email_undeliverable").is_none(), "{}", r.raw);
    assert_eq!(r.body["emails"][0]["status"], "completed", "{}", r.raw);
    assert!(
        env.get_user(&ana)
            .await
            .body
            .get("email_undeliverable")
            .is_none()
    );
    assert_eq!(inbox(&new).await.len(), 1);

    // The user asks for a new address: the old one, still theirs and marked, gets no notice;
    // confirming the new one switches to it and clears the mark.
    let old = address("bob");
    let bob = bounced(&env, &sent, &old).await;
    let new = address("bob.new");
    let r = env.patch_me(&bob, json!({"email": new})).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let statuses: Vec<&str> = r.body["emails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["completed", "suppressed"], "{}", r.raw);
    assert!(
        r.body["email_undeliverable"].is_object(),
        "still the old address"
    );
    assert_eq!(inbox(&old).await.len(), 1, "only the sign-up verification");
    let mail = inbox(&new).await;
    let confirmed = env.open_and_confirm(&link(&mail[0].html, VERIFY)).await;
    assert!(
        confirmed
            .header("location")
            .unwrap()
            .ends_with("success=true"),
        "{confirmed:?}"
    );
    let user = env.get_user(&bob).await.body;
    assert_eq!(user["email"], new);
    assert!(user.get("email_undeliverable").is_none(), "{user}");
}

#[tokio::test]
async fn verifying_the_address_again_clears_the_mark() {
    let mut env = Env::new().await;
    let sent = recording(&mut env, &moto_endpoint());

    // An admin marks it verified.
    let ana_email = address("ana");
    let ana = bounced(&env, &sent, &ana_email).await;
    let r = env.patch_user(&ana, json!({"email_verified": true})).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert!(r.body.get("email_undeliverable").is_none(), "{}", r.raw);
    assert!(
        env.get_user(&ana)
            .await
            .body
            .get("email_undeliverable")
            .is_none()
    );
    // Mail reaches it again.
    assert_eq!(env.request_reset(&ana_email).await.status, 202);
    assert_eq!(inbox(&ana_email).await.len(), 2);

    // A verification ticket, delivered by the tenant's own means, is confirmed.
    let bob = bounced(&env, &sent, &address("bob")).await;
    let r = env
        .verification_ticket(json!({"user_id": bob["user_id"]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let url = r.body["ticket"].as_str().unwrap();
    assert!(url.starts_with(PUBLIC_BASE), "{url}");
    let confirmed = env.open_and_confirm(url).await;
    assert!(
        confirmed
            .header("location")
            .unwrap()
            .ends_with("success=true"),
        "{confirmed:?}"
    );
    let user = env.get_user(&bob).await.body;
    assert_eq!(user["email_verified"], true);
    assert!(user.get("email_undeliverable").is_none(), "{user}");
}

#[tokio::test]
async fn a_record_for_an_address_the_user_no_longer_has_changes_nothing() {
    let mut env = Env::new().await;
    let sent = recording(&mut env, &moto_endpoint());
    let old = address("ana");
    let ana = env
        .create(json!({"email": old, "password": PASSWORD}))
        .await;
    let r = env
        .patch_user(
            &ana,
            json!({"email": address("ana.new"), "verify_email": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let before = env.get_user(&ana).await.body;
    let report = feed(
        &env,
        sns(&[
            ses_record(&sent, &old, "Bounce", ("Permanent", "General")),
            ses_record(&sent, &old, "Complaint", ("abuse", "")),
        ]),
    )
    .await;
    assert_eq!((report.not_current, report.marked), (2, 0), "{report:?}");
    assert_eq!(env.get_user(&ana).await.body, before);
}

#[tokio::test]
async fn a_malformed_record_is_skipped_while_a_good_one_in_the_same_event_is_applied() {
    let mut env = Env::new().await;
    let sent = recording(&mut env, &moto_endpoint());
    let email = address("ana");
    let ana = env
        .create(json!({"email": email, "password": PASSWORD}))
        .await;
    let mut event = sns(&[
        json!("not an SES record"),
        ses_record(&sent, &email, "Bounce", ("Permanent", "General")),
    ]);
    // A record of no SNS shape at all, and one whose tags name no user.
    let mut untagged = ses_record(&sent, &email, "Bounce", ("Permanent", "General"));
    untagged["mail"]["tags"]["user_id"] = json!(["not-a-user"]);
    let records = event["Records"].as_array_mut().unwrap();
    records.insert(
        0,
        json!({"EventSource": "aws:sns", "Sns": {"MessageId": "no-message"}}),
    );
    records.push(sns(&[untagged])["Records"][0].clone());
    let report = feed(&env, event).await;
    assert_eq!(
        (report.records, report.skipped, report.marked),
        (4, 3, 1),
        "{report:?}"
    );
    assert_eq!(
        env.get_user(&ana).await.body["email_undeliverable"]["reason"],
        "bounce"
    );
}

#[tokio::test]
async fn no_caller_may_set_the_mark_and_each_is_refused_as_for_any_read_only_field() {
    let env = Env::new().await;
    let ana = env
        .create(json!({"email": address("ana"), "password": PASSWORD}))
        .await;
    let before = env.get_user(&ana).await.body;
    let admin = env.admin();
    for value in [
        json!({"reason": "bounce", "at": "2026-11-30T09:00:00.000Z"}),
        Value::Null,
    ] {
        let set = json!({ "email_undeliverable": value });
        let read_only = json!({"created_at": "2026-11-30T09:00:00.000Z"});
        for body in [&set, &read_only] {
            let r = env.patch_user(&ana, body.clone()).await;
            assert_eq!((r.status, r.code()), (400, "invalid_body"), "{}", r.raw);
            let r = env.patch_me(&ana, body.clone()).await;
            assert_eq!((r.status, r.code()), (400, "invalid_body"), "{}", r.raw);
            let r = env
                .send("PATCH", &auth0_path(&ana), Some(&admin), Some(body), &[])
                .await;
            assert_eq!(r.status, 400, "{}", r.raw);
        }
    }
    // Nor through metadata-only access.
    let metadata_only = claims("acme", "x@clients", "update:users_app_metadata");
    let path = format!(
        "/v1/tenants/acme/users/{}",
        ana["user_id"].as_str().unwrap()
    );
    let body = json!({"email_undeliverable": null});
    let r = env
        .send("PATCH", &path, Some(&metadata_only), Some(&body), &[])
        .await;
    assert_eq!(r.status, 400, "{}", r.raw);
    assert_eq!(env.get_user(&ana).await.body, before);
}

/// The first three DynamoDB calls fail with a 500, each of them: the functions' client makes
/// three tries a call (`shared::adapters::dynamo::resilient`), so the first store call of a
/// run fails whole; every later call passes.
fn first_call_fails(n: usize) -> Fault {
    if n < 3 {
        Fault::ServerError
    } else {
        Fault::Pass
    }
}

#[tokio::test]
async fn a_record_the_table_failed_on_fails_the_event_after_the_others_are_applied_and_a_replay_marks_it_leaving_their_marks_alone()
 {
    let mut healthy = Env::new().await;
    let sent = recording(&mut healthy, &moto_endpoint());
    let (bo_email, ana_email) = (address("bo"), address("ana"));
    let bo = healthy
        .create(json!({"email": bo_email, "password": PASSWORD}))
        .await;
    let ana = healthy
        .create(json!({"email": ana_email, "password": PASSWORD}))
        .await;
    let bo_before = healthy.get_user(&bo).await.body;
    // Bo's bounce first, so the store fails on it and ana's still comes after.
    let event = sns(&[
        ses_record(&sent, &bo_email, "Bounce", ("Permanent", "General")),
        ses_record(&sent, &ana_email, "Bounce", ("Permanent", "NoEmail")),
    ]);

    let proxy = Proxy::start(first_call_fails).await;
    let failing = through(&healthy, &proxy.url);
    let error = try_feed(&failing, event.clone())
        .await
        .expect_err("a record the store failed on fails the invocation");
    assert_eq!(
        error.to_string(),
        "1 of 2 feedback records failed on the store"
    );
    // Ana's record, after the failed one, was applied; bo is as he was.
    let ana_mark = json!({"reason": "bounce", "detail": "Permanent/NoEmail", "at": "2026-11-30T09:00:02.418Z"});
    let ana_marked = healthy.get_user(&ana).await.body;
    assert_eq!(ana_marked["email_undeliverable"], ana_mark, "{ana_marked}");
    assert_eq!(healthy.get_user(&bo).await.body, bo_before);

    // Lambda offers the same event again, the table healthy: bo is marked, ana's mark (and
    // the rest of her) stays as the first run wrote it.
    let report = try_feed(&healthy, event)
        .await
        .expect("the replay succeeds");
    assert_eq!(
        (report.records, report.marked, report.already, report.failed),
        (2, 1, 1, 0),
        "{report:?}"
    );
    let bo_marked = healthy.get_user(&bo).await.body;
    assert_eq!(
        bo_marked["email_undeliverable"],
        json!({"reason": "bounce", "detail": "Permanent/General", "at": "2026-11-30T09:00:02.418Z"}),
        "{bo_marked}"
    );
    assert_eq!(healthy.get_user(&ana).await.body, ana_marked);
}
