//! What the `events/` files refer to, stored for the tests that feed each function its event
//! and for the cold-start bench (`local/benches/coldstart.rs`), so both run every function
//! through its real work rather than a 404.

use shared::App;
use shared::ports::{OutboxStore, PasswordHasher, TenantStore, TicketStore, UserStore};

/// The user every `events/` file names.
pub const EVENT_USER: &str = "usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C1";
/// The seeded user's password, as events/authenticate.json and events/change-password.json send it.
pub const EVENT_PASSWORD: &str = "seed-Password-Quartz-77";

/// Stores what the `events/` files refer to, in the table `app` is wired to: the user they
/// name (tenant acme, seed@example.com), a sent job, the users of the linking events and the
/// tickets of the email events. Panics when a write fails: it sets up a test or a bench.
pub async fn seed(app: &App) {
    use shared::domain::ids::{TenantId, UserId};
    use shared::domain::user::{Identity, User};
    let id = UserId::parse(EVENT_USER).unwrap();
    let mut user = User::new(
        id,
        TenantId::parse("acme").unwrap(),
        Identity::database(&id),
        app.clock.now(),
    );
    user.email = Some("seed@example.com".into());
    // Unverified, with an address change pending, so every email event has work to do.
    user.email_verified = false;
    user.pending_email = Some("seed.new@example.com".into());
    user.name = Some("Seed User".into());
    user.app_metadata.insert("plan".into(), "pro".into());
    let password = shared::domain::password::Password::parse(
        zeroize::Zeroizing::new(EVENT_PASSWORD.into()),
        None,
        None,
    )
    .unwrap();
    let hash = app.hasher.hash(&password).await.unwrap();
    app.users.create(&user, Some(&hash), &[]).await.unwrap();
    seed_sent_job(app, &user).await;
    seed_linking_users(app).await;
    // As a tenant whose users came through create-user has: its size recorded, which a
    // create-user container's first read takes (docs/data-model.md, "Listing shards").
    let acme = TenantId::parse("acme").unwrap();
    let users = app.users.count(&acme).await.unwrap();
    app.tenants.record_size(&acme, users).await.unwrap();
    use shared::domain::ticket::{Ticket, TicketHash, TicketKind};
    let now = app.clock.now();
    let primary = UserId::parse(EVENT_PRIMARY).unwrap();
    for (raw, kind, email, id) in [
        (
            EVENT_VERIFY_TICKET,
            TicketKind::EmailVerification,
            Some("seed@example.com"),
            id,
        ),
        (
            EVENT_RESET_TICKET,
            TicketKind::PasswordChange,
            Some("seed@example.com"),
            id,
        ),
        (
            EVENT_CANCEL_TICKET,
            TicketKind::EmailChangeCancel,
            Some("seed.new@example.com"),
            id,
        ),
        (
            EVENT_UNBLOCK_TICKET,
            TicketKind::Unblock,
            Some("primary@example.com"),
            primary,
        ),
    ] {
        let ticket = Ticket {
            tenant_id: user.tenant_id.clone(),
            kind,
            user_id: id,
            email: email.map(str::to_owned),
            identity: None,
            result_url: None,
            mark_email_verified: false,
            created_at: now,
            expires: now.plus_secs(3600),
        };
        app.tickets
            .put_ticket(&TicketHash::parse(raw).unwrap(), &ticket)
            .await
            .unwrap();
    }
}

/// The verification job the `get-job` event names: sent, so nothing waits in the outbox.
pub const EVENT_JOB: &str = "job_01JDQ8Z6V3N4W5X6Y7Z8A9B0J1";

async fn seed_sent_job(app: &App, user: &shared::domain::user::User) {
    use shared::domain::message::{JobRecord, JobStatus, Message, MessageKind, Queued, SendCap};
    let now = app.clock.now();
    let mut job = Message::new(
        MessageKind::VerifyEmail,
        user,
        "seed@example.com",
        3600,
        now,
    );
    job.id = EVENT_JOB.into();
    job.tracked = true;
    let queued = Queued {
        message: job.clone(),
        ticket: None,
    };
    let outbox = &app.outbox;
    outbox
        .enqueue(&[queued], SendCap::default(), now)
        .await
        .unwrap();
    outbox.remove(&job).await.unwrap();
    let sent = JobRecord::of(&job, JobStatus::Completed);
    outbox.finish_job(&user.tenant_id, &sent).await.unwrap();
}

/// The primary the linking events name: a verified database user holding a linked Facebook
/// identity, next to a standalone Google user (provider id [`EVENT_GOOGLE_ID`]) to link.
pub const EVENT_PRIMARY: &str = "usr_01JDQ9A2B3C4D5E6F7G8H9J0K1";
pub const EVENT_GOOGLE_ID: &str = "108234567890123456789";
pub const EVENT_FACEBOOK_ID: &str = "10229876543210";

async fn seed_linking_users(app: &App) {
    use shared::domain::ids::{Connection, TenantId, UserId};
    use shared::domain::linking::LinkRequest;
    use shared::domain::user::{Identity, User};
    let tenant = TenantId::parse("acme").unwrap();
    let now = app.clock.now();
    let id = UserId::parse(EVENT_PRIMARY).unwrap();
    let mut primary = User::new(id, tenant.clone(), Identity::database(&id), now);
    primary.email = Some("primary@example.com".into());
    primary.email_verified = true;
    app.users.create(&primary, None, &[]).await.unwrap();
    for (connection, provider_id, email) in [
        ("google-oauth2", EVENT_GOOGLE_ID, "primary@gmail.example"),
        ("facebook", EVENT_FACEBOOK_ID, "primary@facebook.example"),
    ] {
        let social_id = UserId::generate();
        let mut social = User::new(
            social_id,
            tenant.clone(),
            Identity::social(Connection::parse(connection).unwrap(), provider_id.into()),
            now,
        );
        social.email = Some(email.into());
        social.email_verified = true;
        app.users.create(&social, None, &[]).await.unwrap();
    }
    let facebook = LinkRequest::parse(
        format!(r#"{{"provider": "facebook", "user_id": "{EVENT_FACEBOOK_ID}"}}"#).as_bytes(),
    )
    .unwrap();
    app.link_user(&tenant, &id, &facebook, None).await.unwrap();
}

/// The tickets the email events carry, stored by [`seed`].
pub const EVENT_VERIFY_TICKET: &str = "ZXZlbnRzOiBhbiBlbWFpbCB2ZXJpZmljYXRpb24gdGs";
pub const EVENT_RESET_TICKET: &str = "ZXZlbnRzOiBhIHBhc3N3b3JkIHJlc2V0IHRpY2tldCE";
pub const EVENT_CANCEL_TICKET: &str = "ZXZlbnRzOiBjYW5jZWwgYW4gZW1haWwgY2hhbmdlISE";
/// An unblock link of the (verified) primary of the linking events.
pub const EVENT_UNBLOCK_TICKET: &str = "ZXZlbnRzOiBhbiB1bmJsb2NrIGxpbmsgdG8gdXNlISE";

/// The status each function's event is expected to produce against the seeded user.
pub fn expected_status(function: &str) -> u16 {
    match function {
        "create-user"
        | "link-identity"
        | "send-verification-email"
        | "create-email-verification-ticket"
        | "create-password-change-ticket" => 201,
        "request-password-reset" | "delete-me" => 202,
        "delete-user" | "change-password" | "delete-user-blocks" | "confirm-password-reset" => 204,
        _ => 200,
    }
}

/// `TENANT_SETTINGS` for the function binaries, as [`shared::domain::tenant::EmailSettings::local`]
/// sets it for the in-process app.
pub const TENANT_SETTINGS: &str = r#"{"*": {"password_reset_url": "https://id.example.com/reset-password", "default_result_url": "https://id.example.com/verified", "result_url_hosts": ["id.example.com"]}}"#;
