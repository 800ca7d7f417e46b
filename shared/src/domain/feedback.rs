//! Reputation feedback from the mail provider: an address that bounced for good, or whose
//! owner reported our mail as spam, is not mailed again until it changes or is verified again
//! (docs/email.md, "Bounces and complaints").
//!
//! SES publishes each bounce and complaint of a message sent through a configuration set as
//! an event record (its "event publishing" JSON, here through SNS). Every message we send
//! carries two tags naming the tenant and the user it was for ([`TENANT_TAG`], [`USER_TAG`]),
//! and SES copies a message's tags into each event record, so a record leads to its user with
//! one read, never a search by address.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Error;
use super::ids::{TenantId, UserId};
use super::time::Timestamp;

/// The message tag naming the tenant a message was sent for.
pub const TENANT_TAG: &str = "tenant_id";
/// The message tag naming the user a message was sent for.
pub const USER_TAG: &str = "user_id";

/// Whether `value` may be an SES message tag's name or value: 1 to 256 of ASCII letters,
/// digits, `_` and `-`. Tenant ids (`a-z 0-9 -`) and user ids (`usr_` and a ULID, Crockford
/// base32 in upper case) are always such values, so the tags carry them as they are, with no
/// encoding to undo.
pub fn is_tag_value(value: &str) -> bool {
    (1..=256).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Why a user's address is no longer mailed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The receiving side refused it for good: no such mailbox, a domain that takes no mail.
    Bounce,
    /// Its owner reported our mail as spam.
    Complaint,
}

/// On a user: what the provider reported of its current address. Read-only to every caller;
/// only feedback sets it, and only a new address or a new proof of this one clears it
/// ([`super::user::User::clear_undeliverable`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Undeliverable {
    pub reason: Reason,
    /// The bounce's type and subtype (`Permanent/NoEmail`) or the complaint's feedback type
    /// (`abuse`), as SES gave them, when it gave them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// When the receiving side bounced the message or the complaint was made.
    pub at: Timestamp,
}

/// A bounce or complaint that marks a user, if the address it names is still the user's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub tenant: TenantId,
    pub user: UserId,
    /// The addresses the record says bounced or complained; a user is marked only while its
    /// address is one of them.
    pub recipients: Vec<String>,
    pub reason: Reason,
    pub detail: Option<String>,
    /// The record's own time; `None` when it carries none (the caller uses its clock).
    pub at: Option<Timestamp>,
}

impl Mark {
    /// What the user is marked with, `now` standing in for a record without a time.
    pub fn undeliverable(&self, now: Timestamp) -> Undeliverable {
        Undeliverable {
            reason: self.reason,
            detail: self.detail.clone(),
            at: self.at.unwrap_or(now),
        }
    }
}

/// What one feedback record asks of us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feedback {
    Mark(Mark),
    /// Nothing to do, and why, for the log: another kind of event, a bounce that may yet be
    /// delivered, a complaint withdrawn, a message that names no user of ours.
    Ignored(&'static str),
}

// The record as SES writes it; fields it may add are ignored. Both the event-publishing shape
// (`eventType`) and the older identity-notification shape (`notificationType`) read here.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    event_type: Option<String>,
    notification_type: Option<String>,
    mail: Option<Mail>,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mail {
    timestamp: Option<Timestamp>,
    #[serde(default)]
    tags: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    bounce_sub_type: Option<String>,
    bounced_recipients: Vec<Recipient>,
    timestamp: Option<Timestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    complained_recipients: Vec<Recipient>,
    complaint_feedback_type: Option<String>,
    timestamp: Option<Timestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
}

/// The feedback type RFC 5965 gives a report that a message is *not* spam: the one
/// complaint that marks nobody.
const NOT_SPAM: &str = "not-spam";

impl Feedback {
    /// One record, as the SNS message SES published (its `Message`). Which records mark a
    /// user: a `Permanent` bounce, of any subtype, and any complaint but one whose feedback
    /// type is `not-spam`. `Transient` bounces (a full mailbox, a message too large, a
    /// receiving server's hiccup) and `Undetermined` ones may be delivered on a later try and
    /// mark nobody, nor does any other event type (deliveries, opens, rejects). Errors never
    /// quote the record, which holds addresses.
    pub fn parse(message: &str) -> Result<Feedback, Error> {
        let record: Record = serde_json::from_str(message).map_err(|e| {
            Error::body(format!(
                "not an SES event record ({:?} at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        let kind = record
            .event_type
            .or(record.notification_type)
            .ok_or_else(|| Error::body("an SES record names no eventType or notificationType"))?;
        let (reason, recipients, detail, at) = match kind.as_str() {
            "Bounce" => {
                let bounce = record
                    .bounce
                    .ok_or_else(|| Error::body("a Bounce record without its bounce"))?;
                if bounce.bounce_type != "Permanent" {
                    return Ok(Feedback::Ignored("a bounce that is not permanent"));
                }
                let detail = match &bounce.bounce_sub_type {
                    Some(sub) => format!("{}/{sub}", bounce.bounce_type),
                    None => bounce.bounce_type.clone(),
                };
                (
                    Reason::Bounce,
                    bounce.bounced_recipients,
                    Some(detail),
                    bounce.timestamp,
                )
            }
            "Complaint" => {
                let complaint = record
                    .complaint
                    .ok_or_else(|| Error::body("a Complaint record without its complaint"))?;
                if complaint.complaint_feedback_type.as_deref() == Some(NOT_SPAM) {
                    return Ok(Feedback::Ignored("a complaint reporting the mail not spam"));
                }
                (
                    Reason::Complaint,
                    complaint.complained_recipients,
                    complaint.complaint_feedback_type,
                    complaint.timestamp,
                )
            }
            _ => return Ok(Feedback::Ignored("neither a bounce nor a complaint")),
        };
        let recipients: Vec<String> = recipients
            .into_iter()
            .map(|r| r.email_address.trim().to_owned())
            .filter(|r| !r.is_empty())
            .collect();
        if recipients.is_empty() {
            return Err(Error::body("a bounce or complaint names no recipient"));
        }
        let mail = record
            .mail
            .ok_or_else(|| Error::body("an SES record without its mail"))?;
        // Identity notifications (and mail of another sender sharing the configuration set)
        // carry none of our tags: they name no user we could mark.
        if !mail.tags.contains_key(TENANT_TAG) && !mail.tags.contains_key(USER_TAG) {
            return Ok(Feedback::Ignored("a message without tenant and user tags"));
        }
        let tag = |name: &str| -> Result<&str, Error> {
            match mail.tags.get(name).map(Vec::as_slice) {
                Some([one]) => Ok(one.as_str()),
                _ => Err(Error::body(format!("the {name} tag must hold one value"))),
            }
        };
        Ok(Feedback::Mark(Mark {
            tenant: TenantId::parse(tag(TENANT_TAG)?)?,
            user: UserId::parse(tag(USER_TAG)?)?,
            recipients,
            reason,
            detail: detail.filter(|d| plain_detail(d)),
            at: at.or(mail.timestamp),
        }))
    }
}

/// A detail worth keeping: SES's words (`Permanent/OnAccountSuppressionList`, `abuse`), short
/// and plain. Anything else is dropped, not the record: the mark does not depend on it.
fn plain_detail(detail: &str) -> bool {
    (1..=64).contains(&detail.len())
        && detail
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_/.".contains(&b))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const USER: &str = "usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C1";

    fn bounce(bounce_type: &str, sub_type: &str) -> Value {
        json!({
            "eventType": "Bounce",
            "bounce": {
                "bounceType": bounce_type,
                "bounceSubType": sub_type,
                "bouncedRecipients": [{"emailAddress": "ana@example.com", "action": "failed",
                    "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
                "timestamp": "2026-11-30T10:00:01.250Z",
                "feedbackId": "0100018c-example",
                "reportingMTA": "dsn; mta.example.com"
            },
            "mail": {
                "timestamp": "2026-11-30T10:00:00.000Z",
                "source": "no-reply@example.com",
                "messageId": "0100018c-message",
                "destination": ["ana@example.com"],
                "tags": {
                    "ses:configuration-set": ["profiles"],
                    "tenant_id": ["acme"],
                    "user_id": [USER]
                }
            }
        })
    }

    fn parse(record: &Value) -> Result<Feedback, Error> {
        Feedback::parse(&record.to_string())
    }

    fn mark(record: &Value) -> Mark {
        match parse(record) {
            Ok(Feedback::Mark(mark)) => mark,
            other => panic!("no mark: {other:?}"),
        }
    }

    #[test]
    fn a_permanent_bounce_marks_the_tagged_user_with_its_type_and_time() {
        let mark = mark(&bounce("Permanent", "NoEmail"));
        assert_eq!(mark.tenant.as_str(), "acme");
        assert_eq!(mark.user.to_string(), USER);
        assert_eq!(mark.recipients, ["ana@example.com"]);
        assert_eq!(mark.reason, Reason::Bounce);
        assert_eq!(mark.detail.as_deref(), Some("Permanent/NoEmail"));
        assert_eq!(
            mark.at.map(|t| t.to_string()).as_deref(),
            Some("2026-11-30T10:00:01.250Z")
        );
    }

    #[test]
    fn transient_and_undetermined_bounces_and_other_events_mark_nobody() {
        for kind in ["Transient", "Undetermined"] {
            assert!(matches!(
                parse(&bounce(kind, "General")),
                Ok(Feedback::Ignored(_))
            ));
        }
        let mut delivery = bounce("Permanent", "General");
        delivery["eventType"] = json!("Delivery");
        assert!(matches!(parse(&delivery), Ok(Feedback::Ignored(_))));
    }

    #[test]
    fn a_complaint_marks_with_its_feedback_type_unless_it_reports_no_spam() {
        let mut record = bounce("Permanent", "General");
        let object = record.as_object_mut().unwrap();
        object.remove("bounce");
        object.insert("eventType".into(), json!("Complaint"));
        object.insert(
            "complaint".into(),
            json!({
                "complainedRecipients": [{"emailAddress": "Ana@Example.com"}],
                "timestamp": "2026-11-30T11:00:00.000Z",
                "feedbackId": "0100018c-complaint",
                "complaintFeedbackType": "abuse"
            }),
        );
        let mark = mark(&record);
        assert_eq!(mark.reason, Reason::Complaint);
        assert_eq!(mark.detail.as_deref(), Some("abuse"));
        assert_eq!(mark.recipients, ["Ana@Example.com"]);

        record["complaint"]["complaintFeedbackType"] = json!("not-spam");
        assert!(matches!(parse(&record), Ok(Feedback::Ignored(_))));

        // A complaint without a feedback type (many providers send none) still marks.
        record["complaint"]
            .as_object_mut()
            .unwrap()
            .remove("complaintFeedbackType");
        assert_eq!(self::mark(&record).detail, None);
    }

    #[test]
    fn the_older_notification_shape_reads_too_and_without_tags_names_nobody() {
        let mut record = bounce("Permanent", "General");
        let object = record.as_object_mut().unwrap();
        object.remove("eventType");
        object.insert("notificationType".into(), json!("Bounce"));
        assert_eq!(mark(&record).reason, Reason::Bounce);
        // Identity notifications carry no tags.
        record["mail"].as_object_mut().unwrap().remove("tags");
        assert!(matches!(parse(&record), Ok(Feedback::Ignored(_))));
    }

    #[test]
    fn a_record_without_its_own_time_takes_the_mails() {
        let mut record = bounce("Permanent", "General");
        record["bounce"]
            .as_object_mut()
            .unwrap()
            .remove("timestamp");
        assert_eq!(
            mark(&record).at.map(|t| t.to_string()).as_deref(),
            Some("2026-11-30T10:00:00.000Z")
        );
    }

    #[test]
    fn malformed_records_are_refused_without_quoting_them() {
        let mut bad_tag = bounce("Permanent", "General");
        bad_tag["mail"]["tags"]["user_id"] = json!(["ana@example.com"]);
        let mut two_users = bounce("Permanent", "General");
        two_users["mail"]["tags"]["user_id"] = json!([USER, USER]);
        let mut no_recipient = bounce("Permanent", "General");
        no_recipient["bounce"]["bouncedRecipients"] = json!([]);
        let mut wrong_type = bounce("Permanent", "General");
        wrong_type["bounce"]["bouncedRecipients"] = json!("ana@example.com");
        let mut no_kind = bounce("Permanent", "General");
        no_kind.as_object_mut().unwrap().remove("eventType");
        let mut no_bounce = bounce("Permanent", "General");
        no_bounce.as_object_mut().unwrap().remove("bounce");
        for record in [
            bad_tag.to_string(),
            two_users.to_string(),
            no_recipient.to_string(),
            wrong_type.to_string(),
            no_kind.to_string(),
            no_bounce.to_string(),
            "not json at all: ana@example.com".to_owned(),
            String::new(),
        ] {
            let error = Feedback::parse(&record).expect_err(&record);
            assert!(!error.to_string().contains("ana@"), "{error}");
        }
    }

    #[test]
    fn an_unusual_detail_is_dropped_and_the_mark_kept() {
        let mut record = bounce("Permanent", "General");
        record["bounce"]["bounceSubType"] = json!("<script>");
        let mark = mark(&record);
        assert_eq!(mark.detail, None);
        assert_eq!(mark.reason, Reason::Bounce);
    }

    #[test]
    fn every_tenant_and_user_id_is_a_tag_value_as_it_is() {
        for tenant in ["ab", "acme", "0-9", &"a-".repeat(31)] {
            let id = TenantId::parse(tenant).unwrap();
            assert!(is_tag_value(id.as_str()), "{tenant}");
        }
        for _ in 0..1000 {
            assert!(is_tag_value(&UserId::generate().to_string()));
        }
        assert!(is_tag_value(TENANT_TAG) && is_tag_value(USER_TAG));
        for bad in ["", "a.b", "a b", "a@b", "ü", &"a".repeat(257)] {
            assert!(!is_tag_value(bad), "{bad:?}");
        }
    }
}
