//! A tenant's settings: how its mail reads, where its links lead, and its de-provisioning
//! policies. They come in layers, field by field: the deployment's `"*"` defaults, then the
//! deployment's entry for the tenant (both from `TENANT_SETTINGS`), then what the tenant stored
//! through the settings API. See docs/configuration.md.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use super::Error;
use super::ids::TenantId;
use super::locale::Locale;
use super::message::SendCap;
use super::rate_limit::{Bucket, RateLimit};
use super::throttle::{
    AddressThrottle, Cidr, DEFAULT_FAILURES_PER_DAY, MAX_ALLOWED, MAX_FAILURES_PER_DAY,
};
use super::time::Timestamp;

/// Email settings of one tenant, resolved from its layers.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantEmail {
    /// The name messages call the service by (default: the tenant id).
    pub display_name: Option<String>,
    pub locale: Locale,
    /// Hosts a `result_url` may point at: exact names, or `*.example.com` for any subdomain.
    pub result_url_hosts: Vec<String>,
    /// Where a verification link redirects when its ticket names no `result_url`.
    pub default_result_url: Option<Url>,
    /// The tenant's page that takes a reset ticket (`?ticket=`) and POSTs it with the new
    /// password to `/password-reset/confirm`; `None`: the page this API serves there.
    pub password_reset_url: Option<Url>,
    /// De-provisioning rules (see [`super::erasure`]); all off unless set.
    pub policies: Policies,
    /// The per-address throttle across accounts ([`super::throttle`]); on by default.
    pub ip_throttle: AddressThrottle,
    /// What Auth0's dialect calls the database connection (docs/auth0-compat.md).
    pub auth0_database_connection: String,
    /// The tenant's management requests' bucket ([`super::rate_limit`]); `None`: no limit.
    pub rate_limit: Option<Bucket>,
    /// Each address's bucket on the tenant's public routes; `None`: no limit.
    pub public_rate_limit: Option<Bucket>,
    /// The logo the hosted pages show in place of the name.
    pub logo_url: Option<Url>,
    /// The colour of the hosted pages' name, buttons and focus rings: `#rrggbb`.
    pub primary_color: Option<String>,
}

/// The name Auth0 gives a tenant's first database connection, and so the one code moved from
/// Auth0 most often sends.
pub const AUTH0_DATABASE_CONNECTION: &str = "Username-Password-Authentication";

/// A tenant's de-provisioning rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policies {
    /// Erase database sign-ups whose email stayed unverified this many days.
    pub unverified_days: Option<u32>,
    /// Erase users with no sign-in for this many days (counted from creation for a user who
    /// never signed in)...
    pub inactive_days: Option<u32>,
    /// ...once they were warned by email at least this many days before (default 14).
    pub warning_days: u32,
}

impl Policies {
    pub const DEFAULT_WARNING_DAYS: u32 = 14;
}

/// One layer of a tenant's settings: the shape of a `TENANT_SETTINGS` entry, of the stored
/// item, and of a PATCH. A field left out (`None`) falls through to the layer below. Two
/// values say "none" and stop the fall: `0` days for a policy (off) and `""` for
/// `default_result_url` (no default page). Unknown fields are refused where a layer is given
/// ([`SettingsDoc::from_json`]) but ignored where one is read back, so a function older than
/// a field still reads the item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_url_hosts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_result_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_reset_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge_unverified_after_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_after_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactivity_warning_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_throttle_failures_per_day: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_throttle_allow: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth0_database_connection: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_rate_limit: Option<RateLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_color: Option<String>,
}

/// Most hosts one tenant may allow as `result_url` targets.
pub const MAX_RESULT_HOSTS: usize = 50;
/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 100;
/// Longest policy period: a century.
pub const MAX_DAYS: u32 = 36_500;
/// Longest URL a setting may hold.
pub const MAX_URL: usize = 2048;

impl SettingsDoc {
    pub const FIELDS: [&str; 15] = [
        "display_name",
        "locale",
        "result_url_hosts",
        "default_result_url",
        "password_reset_url",
        "purge_unverified_after_days",
        "inactive_after_days",
        "inactivity_warning_days",
        "ip_throttle_failures_per_day",
        "ip_throttle_allow",
        "auth0_database_connection",
        "rate_limit",
        "public_rate_limit",
        "logo_url",
        "primary_color",
    ];

    /// Fields only the deployment sets (`TENANT_SETTINGS`): a tenant that could raise its own
    /// limits would have none.
    pub const DEPLOYMENT_ONLY: [&str; 2] = ["rate_limit", "public_rate_limit"];

    /// A layer given as JSON: unknown fields refused, host names lower-cased and locale tags
    /// written as shipped (`pt_br` is `pt-BR`), then [`SettingsDoc::check`]ed.
    pub fn from_json(value: Value, local: bool) -> Result<SettingsDoc, String> {
        let Value::Object(map) = value else {
            return Err("settings are a JSON object".into());
        };
        if let Some(unknown) = map.keys().find(|k| !Self::FIELDS.contains(&k.as_str())) {
            return Err(format!(
                "{unknown:?} is not a tenant setting; the settings are {}",
                Self::FIELDS.join(", ")
            ));
        }
        let mut doc: SettingsDoc = serde_json::from_value(Value::Object(map))
            .map_err(|e| format!("a setting has the wrong type: {e}"))?;
        if let Some(hosts) = doc.result_url_hosts.as_mut() {
            hosts.iter_mut().for_each(|h| *h = h.to_ascii_lowercase());
        }
        if let Some(locale) = doc.locale.as_mut()
            && let Some(shipped) = Locale::from_tag(locale)
        {
            *locale = shipped.tag().to_owned();
        }
        if let Some(networks) = doc.ip_throttle_allow.as_mut() {
            for network in networks.iter_mut() {
                *network = Cidr::parse(network)
                    .map_err(|why| format!("ip_throttle_allow: {why}"))?
                    .to_string();
            }
        }
        doc.check(local)?;
        Ok(doc)
    }

    /// This layer over `below`: each field this layer sets, else `below`'s.
    pub fn over(&self, below: &SettingsDoc) -> SettingsDoc {
        SettingsDoc {
            display_name: self
                .display_name
                .clone()
                .or_else(|| below.display_name.clone()),
            locale: self.locale.clone().or_else(|| below.locale.clone()),
            result_url_hosts: self
                .result_url_hosts
                .clone()
                .or_else(|| below.result_url_hosts.clone()),
            default_result_url: self
                .default_result_url
                .clone()
                .or_else(|| below.default_result_url.clone()),
            password_reset_url: self
                .password_reset_url
                .clone()
                .or_else(|| below.password_reset_url.clone()),
            purge_unverified_after_days: self
                .purge_unverified_after_days
                .or(below.purge_unverified_after_days),
            inactive_after_days: self.inactive_after_days.or(below.inactive_after_days),
            inactivity_warning_days: self
                .inactivity_warning_days
                .or(below.inactivity_warning_days),
            ip_throttle_failures_per_day: self
                .ip_throttle_failures_per_day
                .or(below.ip_throttle_failures_per_day),
            ip_throttle_allow: self
                .ip_throttle_allow
                .clone()
                .or_else(|| below.ip_throttle_allow.clone()),
            auth0_database_connection: self
                .auth0_database_connection
                .clone()
                .or_else(|| below.auth0_database_connection.clone()),
            rate_limit: self.rate_limit.or(below.rate_limit),
            public_rate_limit: self.public_rate_limit.or(below.public_rate_limit),
            logo_url: self.logo_url.clone().or_else(|| below.logo_url.clone()),
            primary_color: self
                .primary_color
                .clone()
                .or_else(|| below.primary_color.clone()),
        }
    }

    /// Checks every field this layer sets on its own (the rules that need the other layers are
    /// [`SettingsDoc::resolve`]'s): a shipped locale, host patterns, https URLs (http on a
    /// loopback host only in a `local` run: a deployment whose public URL is loopback),
    /// policy periods of 0 (off) to [`MAX_DAYS`] days and a warning of at least one.
    pub fn check(&self, local: bool) -> Result<(), String> {
        if let Some(name) = &self.display_name {
            let n = name.chars().count();
            if n == 0 || n > MAX_DISPLAY_NAME || name.chars().any(super::profile::is_hidden_char) {
                return Err(format!(
                    "display_name must be 1 to {MAX_DISPLAY_NAME} characters without control or direction characters"
                ));
            }
        }
        if let Some(tag) = &self.locale
            && Locale::from_tag(tag).is_none()
        {
            return Err(format!("locale {tag:?} is not shipped"));
        }
        if let Some(hosts) = &self.result_url_hosts {
            if hosts.len() > MAX_RESULT_HOSTS {
                return Err(format!(
                    "result_url_hosts holds at most {MAX_RESULT_HOSTS} hosts"
                ));
            }
            if let Some(bad) = hosts.iter().find(|h| !is_host_pattern(h)) {
                return Err(format!(
                    "result_url_hosts: {bad:?} is not a host name or a *.domain pattern"
                ));
            }
        }
        for (field, value) in [
            ("default_result_url", &self.default_result_url),
            ("password_reset_url", &self.password_reset_url),
            ("logo_url", &self.logo_url),
        ] {
            match value.as_deref() {
                Some("") => {}
                Some(raw) => {
                    page_url(raw, local).map_err(|why| format!("{field}: {why}"))?;
                }
                None => {}
            }
        }
        for (field, value) in [
            (
                "purge_unverified_after_days",
                self.purge_unverified_after_days,
            ),
            ("inactive_after_days", self.inactive_after_days),
        ] {
            if value.is_some_and(|d| d > MAX_DAYS) {
                return Err(format!("{field} must be from 0 (off) to {MAX_DAYS}"));
            }
        }
        if self
            .inactivity_warning_days
            .is_some_and(|d| d == 0 || d > MAX_DAYS)
        {
            return Err(format!(
                "inactivity_warning_days must be from 1 to {MAX_DAYS}"
            ));
        }
        if self
            .ip_throttle_failures_per_day
            .is_some_and(|n| n > MAX_FAILURES_PER_DAY)
        {
            return Err(format!(
                "ip_throttle_failures_per_day must be from 0 (off) to {MAX_FAILURES_PER_DAY}"
            ));
        }
        if let Some(networks) = &self.ip_throttle_allow {
            if networks.len() > MAX_ALLOWED {
                return Err(format!(
                    "ip_throttle_allow holds at most {MAX_ALLOWED} networks"
                ));
            }
            for network in networks {
                Cidr::parse(network).map_err(|why| format!("ip_throttle_allow: {why}"))?;
            }
        }
        for (field, limit) in [
            ("rate_limit", self.rate_limit),
            ("public_rate_limit", self.public_rate_limit),
        ] {
            if let Some(limit) = limit {
                limit.check().map_err(|why| format!("{field}: {why}"))?;
            }
        }
        if let Some(color) = &self.primary_color {
            if !is_hex_color(color) {
                return Err(format!(
                    "primary_color {color:?} must be a colour written #rrggbb"
                ));
            }
            // White text sits on it: WCAG AA asks 4.5:1 for text of this size.
            if !color.is_empty() && contrast_with_white(color) < 4.5 {
                return Err(format!(
                    "primary_color {color:?} is too light for white text on it (WCAG AA asks a contrast of 4.5:1)"
                ));
            }
        }
        if let Some(name) = &self.auth0_database_connection
            && !is_auth0_connection_name(name)
        {
            return Err(format!(
                "auth0_database_connection {name:?} must be 1 to {MAX_CONNECTION_NAME} letters, digits and '-', beginning and ending with a letter or digit"
            ));
        }
        Ok(())
    }

    /// The settings a complete stack of layers makes. The inactivity warning must come before
    /// the erasure; the default result page must be on a host `result_url_hosts` allows.
    pub fn resolve(&self, local: bool) -> Result<TenantEmail, String> {
        self.check(local)?;
        let locale = match &self.locale {
            Some(tag) => {
                Locale::from_tag(tag).ok_or_else(|| format!("locale {tag:?} is not shipped"))?
            }
            None => Locale::En,
        };
        let password_reset_url = self
            .password_reset_url
            .as_deref()
            .filter(|raw| !raw.is_empty())
            .map(|raw| page_url(raw, local))
            .transpose()?;
        let policies = Policies {
            unverified_days: self.purge_unverified_after_days.filter(|d| *d > 0),
            inactive_days: self.inactive_after_days.filter(|d| *d > 0),
            warning_days: self
                .inactivity_warning_days
                .unwrap_or(Policies::DEFAULT_WARNING_DAYS),
        };
        if let Some(inactive) = policies.inactive_days
            && policies.warning_days >= inactive
        {
            return Err(format!(
                "inactivity_warning_days ({}) must be less than inactive_after_days ({inactive})",
                policies.warning_days
            ));
        }
        let ip_throttle = AddressThrottle {
            failures_per_day: match self.ip_throttle_failures_per_day {
                None => Some(DEFAULT_FAILURES_PER_DAY),
                Some(0) => None,
                Some(n) => Some(n),
            },
            allow: self
                .ip_throttle_allow
                .iter()
                .flatten()
                .map(|raw| Cidr::parse(raw))
                .collect::<Result<_, _>>()?,
        };
        let settings = TenantEmail {
            ip_throttle,
            auth0_database_connection: self
                .auth0_database_connection
                .clone()
                .unwrap_or_else(|| AUTH0_DATABASE_CONNECTION.to_owned()),
            rate_limit: self.rate_limit.unwrap_or(RateLimit::MANAGEMENT).bucket(),
            public_rate_limit: self.public_rate_limit.unwrap_or(RateLimit::PUBLIC).bucket(),
            logo_url: self
                .logo_url
                .as_deref()
                .filter(|raw| !raw.is_empty())
                .map(|raw| page_url(raw, local))
                .transpose()?,
            primary_color: self
                .primary_color
                .clone()
                .filter(|c| !c.is_empty())
                .map(|c| c.to_ascii_lowercase()),
            display_name: self.display_name.clone(),
            locale,
            result_url_hosts: self
                .result_url_hosts
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            default_result_url: self
                .default_result_url
                .as_deref()
                .filter(|raw| !raw.is_empty())
                .map(|raw| page_url(raw, local))
                .transpose()?,
            password_reset_url,
            policies,
        };
        if let Some(page) = &settings.default_result_url
            && settings.result_url(page.as_str()).is_err()
        {
            return Err(format!(
                "default_result_url {page} is not on a host result_url_hosts allows"
            ));
        }
        Ok(settings)
    }

    /// The fields this layer sets.
    pub fn fields(&self) -> Vec<&'static str> {
        let set = [
            self.display_name.is_some(),
            self.locale.is_some(),
            self.result_url_hosts.is_some(),
            self.default_result_url.is_some(),
            self.password_reset_url.is_some(),
            self.purge_unverified_after_days.is_some(),
            self.inactive_after_days.is_some(),
            self.inactivity_warning_days.is_some(),
            self.ip_throttle_failures_per_day.is_some(),
            self.ip_throttle_allow.is_some(),
            self.auth0_database_connection.is_some(),
            self.rate_limit.is_some(),
            self.public_rate_limit.is_some(),
            self.logo_url.is_some(),
            self.primary_color.is_some(),
        ];
        Self::FIELDS
            .iter()
            .zip(set)
            .filter_map(|(name, set)| set.then_some(*name))
            .collect()
    }

    /// This layer with `patch` applied: fields it sets replace these, fields it resets are
    /// left out (and fall through again).
    pub fn patched(&self, patch: &SettingsPatch) -> SettingsDoc {
        let mut next = patch.set.over(self);
        for field in &patch.reset {
            match *field {
                "display_name" => next.display_name = None,
                "locale" => next.locale = None,
                "result_url_hosts" => next.result_url_hosts = None,
                "default_result_url" => next.default_result_url = None,
                "password_reset_url" => next.password_reset_url = None,
                "purge_unverified_after_days" => next.purge_unverified_after_days = None,
                "inactive_after_days" => next.inactive_after_days = None,
                "inactivity_warning_days" => next.inactivity_warning_days = None,
                "ip_throttle_failures_per_day" => next.ip_throttle_failures_per_day = None,
                "ip_throttle_allow" => next.ip_throttle_allow = None,
                "auth0_database_connection" => next.auth0_database_connection = None,
                "rate_limit" => next.rate_limit = None,
                "public_rate_limit" => next.public_rate_limit = None,
                "logo_url" => next.logo_url = None,
                _ => next.primary_color = None,
            }
        }
        next
    }
}

/// `#rrggbb` (or `""`, none over a layer that sets one): all a page's CSS takes from it.
fn is_hex_color(raw: &str) -> bool {
    raw.is_empty()
        || (raw.len() == 7
            && raw.starts_with('#')
            && raw[1..].bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The contrast ratio of white against `#rrggbb` (WCAG 2's relative luminance).
fn contrast_with_white(color: &str) -> f64 {
    let channel = |i: usize| {
        let c = f64::from(u8::from_str_radix(&color[i..i + 2], 16).unwrap_or(0)) / 255.0;
        if c <= 0.040_45 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
    1.05 / (luminance + 0.05)
}

/// A bucket as settings write it (`requests_per_second: 0` for none).
fn limit_json(bucket: Option<Bucket>) -> Value {
    match bucket {
        Some(b) => serde_json::json!({"requests_per_second": b.rate(), "burst": b.burst()}),
        None => serde_json::json!({"requests_per_second": 0}),
    }
}

/// Longest connection name Auth0 accepts.
pub const MAX_CONNECTION_NAME: usize = 128;

/// A connection name as Auth0 allows one: letters, digits and '-', beginning and ending with
/// a letter or digit.
fn is_auth0_connection_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=MAX_CONNECTION_NAME).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

/// `name.example.com`, or `*.example.com` for any subdomain: lower-case letters, digits and
/// hyphens in dot-separated labels, no scheme, port or path. Loopback names are allowed for
/// local runs.
fn is_host_pattern(raw: &str) -> bool {
    let host = raw.strip_prefix("*.").unwrap_or(raw);
    let labels: Vec<&str> = host.split('.').collect();
    host.len() <= 253
        && !labels.is_empty()
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        && (raw.starts_with("*.") && labels.len() >= 2 || !raw.starts_with("*."))
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// A tenant's page: an absolute https URL of at most [`MAX_URL`] bytes without credentials or
/// a fragment; in a `local` run, http on a loopback host too.
fn page_url(raw: &str, local: bool) -> Result<Url, String> {
    if raw.len() > MAX_URL {
        return Err(format!("a URL may be at most {MAX_URL} bytes"));
    }
    let url = Url::parse(raw).map_err(|_| format!("{raw:?} is not an absolute URL"))?;
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    let scheme_ok =
        url.scheme() == "https" || (local && url.scheme() == "http" && is_loopback(&host));
    if !scheme_ok || host.is_empty() {
        return Err(format!("{raw:?} must be an https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(format!("{raw:?} may not carry credentials or a fragment"));
    }
    Ok(url)
}

/// A `PATCH` of a tenant's settings: fields to set, and fields to reset (`null`) to what the
/// layers below say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsPatch {
    pub set: SettingsDoc,
    pub reset: Vec<&'static str>,
}

impl SettingsPatch {
    /// Parses a JSON object of settings fields; unknown fields and values that break a field's
    /// rule are refused (400) before anything is read or stored.
    pub fn parse(body: &[u8], local: bool) -> Result<Self, Error> {
        let map: Map<String, Value> = super::json::parse_body(body)?;
        if let Some(field) = SettingsDoc::DEPLOYMENT_ONLY
            .iter()
            .find(|f| map.contains_key(**f))
        {
            return Err(Error::Forbidden {
                code: "deployment_setting",
                message: format!(
                    "{field} is set by the deployment (TENANT_SETTINGS), not through the API."
                ),
            });
        }
        let mut reset = Vec::new();
        let mut set = Map::new();
        for (key, value) in map {
            match SettingsDoc::FIELDS.iter().find(|f| **f == key) {
                Some(field) if value.is_null() => reset.push(*field),
                _ => {
                    set.insert(key, value);
                }
            }
        }
        let set = SettingsDoc::from_json(Value::Object(set), local)
            .map_err(|why| Error::body(format!("{why}.")))?;
        Ok(SettingsPatch { set, reset })
    }

    /// Whether the patch changes a de-provisioning policy: a change that erases users.
    pub fn names_policy(&self) -> bool {
        self.fields().iter().any(|f| {
            matches!(
                *f,
                "purge_unverified_after_days" | "inactive_after_days" | "inactivity_warning_days"
            )
        })
    }

    /// The fields the patch names, set or reset.
    pub fn fields(&self) -> Vec<&'static str> {
        let mut fields = self.set.fields();
        fields.extend(self.reset.iter().copied());
        fields.sort_by_key(|f| SettingsDoc::FIELDS.iter().position(|x| x == f));
        fields.dedup();
        fields
    }

    pub fn is_empty(&self) -> bool {
        self.set == SettingsDoc::default() && self.reset.is_empty()
    }
}

/// A tenant's stored layer and its version (0: nothing stored yet).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredSettings {
    pub doc: SettingsDoc,
    pub version: u64,
    pub updated_at: Option<Timestamp>,
}

/// One change of a tenant's stored settings, kept for as long as the tenant is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsChange {
    pub changed_at: Timestamp,
    /// The caller's `sub`.
    pub changed_by: String,
    /// The fields the change set or reset; never their values.
    pub fields: Vec<String>,
    /// The version the change made.
    pub version: u64,
}

/// The deployment's layers: `TENANT_SETTINGS`, defaults under `"*"`, entries per tenant id.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantSettings {
    /// A local run (the public URL is loopback): pages may be http on a loopback host.
    local: bool,
    defaults: SettingsDoc,
    tenants: HashMap<TenantId, SettingsDoc>,
    /// Each tenant's settings from these layers alone, resolved once.
    resolved_default: TenantEmail,
    resolved: HashMap<TenantId, TenantEmail>,
}

impl TenantSettings {
    /// Parses the JSON object of `TENANT_SETTINGS`, held to the rules of a PATCH; every entry
    /// must resolve over `"*"`. `local`: see [`SettingsDoc::check`].
    pub fn parse(raw: &str, local: bool) -> Result<Self, String> {
        let entries: HashMap<String, Value> =
            serde_json::from_str(raw).map_err(|e| e.to_string())?;
        let mut defaults = SettingsDoc::default();
        let mut tenants = HashMap::new();
        for (id, entry) in entries {
            let doc = SettingsDoc::from_json(entry, local).map_err(|e| format!("{id}: {e}"))?;
            if id == "*" {
                defaults = doc;
            } else {
                let tenant =
                    TenantId::parse(&id).map_err(|_| format!("{id:?} is not a tenant id"))?;
                tenants.insert(tenant, doc);
            }
        }
        Self::new(defaults, tenants, local)
    }

    fn new(
        defaults: SettingsDoc,
        tenants: HashMap<TenantId, SettingsDoc>,
        local: bool,
    ) -> Result<Self, String> {
        let resolved_default = defaults.resolve(local).map_err(|e| format!("\"*\": {e}"))?;
        let mut resolved = HashMap::new();
        for (tenant, entry) in &tenants {
            let settings = entry
                .over(&defaults)
                .resolve(local)
                .map_err(|e| format!("{tenant}: {e}"))?;
            resolved.insert(tenant.clone(), settings);
        }
        Ok(TenantSettings {
            local,
            defaults,
            tenants,
            resolved_default,
            resolved,
        })
    }

    /// Settings for tests and local runs: everything on `base`.
    pub fn local(base: &Url) -> Self {
        let host = base.host_str().unwrap_or("localhost").to_owned();
        let local = is_loopback(&host);
        let defaults = SettingsDoc {
            result_url_hosts: Some(vec![host]),
            default_result_url: base.join("/verified").ok().map(String::from),
            password_reset_url: Some(
                base.join("/reset-password")
                    .unwrap_or_else(|_| base.clone())
                    .into(),
            ),
            ..SettingsDoc::default()
        };
        match Self::new(defaults, HashMap::new(), local) {
            Ok(settings) => settings,
            Err(e) => panic!("local tenant settings on {base} do not resolve: {e}"),
        }
    }

    /// The deployment's layers for `tenant`, merged: what a stored layer goes over.
    pub fn layers(&self, tenant: &TenantId) -> SettingsDoc {
        match self.tenants.get(tenant) {
            Some(entry) => entry.over(&self.defaults),
            None => self.defaults.clone(),
        }
    }

    /// The tenant's settings from the deployment's layers alone.
    pub fn tenant(&self, tenant: &TenantId) -> &TenantEmail {
        self.resolved.get(tenant).unwrap_or(&self.resolved_default)
    }

    /// The tenant's effective settings: `stored` over the deployment's layers.
    pub fn effective(
        &self,
        tenant: &TenantId,
        stored: &SettingsDoc,
    ) -> Result<TenantEmail, String> {
        if *stored == SettingsDoc::default() {
            return Ok(self.tenant(tenant).clone());
        }
        stored.over(&self.layers(tenant)).resolve(self.local)
    }

    /// Whether this is a local run: see [`SettingsDoc::check`].
    pub fn is_local(&self) -> bool {
        self.local
    }
}

impl TenantEmail {
    /// A `result_url` from a request, if its host is on the allow-list: anything else would
    /// turn our links into an open redirect.
    pub fn result_url(&self, raw: &str) -> Result<Url, Error> {
        let refused = || {
            Error::invalid(
                "invalid_result_url",
                "result_url must be an absolute https URL on a host this tenant allows.",
            )
        };
        let url = Url::parse(raw).map_err(|_| refused())?;
        let host = url.host_str().ok_or_else(refused)?.to_ascii_lowercase();
        let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && is_loopback(&host));
        if !scheme_ok || !url.username().is_empty() || url.password().is_some() {
            return Err(refused());
        }
        let allowed =
            self.result_url_hosts
                .iter()
                .any(|pattern| match pattern.strip_prefix("*.") {
                    Some(suffix) => host
                        .strip_suffix(suffix)
                        .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                    None => *pattern == host,
                });
        if allowed { Ok(url) } else { Err(refused()) }
    }

    pub fn name<'a>(&'a self, tenant: &'a TenantId) -> &'a str {
        self.display_name.as_deref().unwrap_or(tenant.as_str())
    }

    /// These settings as a document, every field named (`null` where unset).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "display_name": self.display_name,
            "locale": self.locale.tag(),
            "result_url_hosts": self.result_url_hosts,
            "default_result_url": self.default_result_url,
            "password_reset_url": self.password_reset_url,
            "purge_unverified_after_days": self.policies.unverified_days,
            "inactive_after_days": self.policies.inactive_days,
            "inactivity_warning_days": self.policies.warning_days,
            "ip_throttle_failures_per_day": self.ip_throttle.failures_per_day.unwrap_or(0),
            "ip_throttle_allow": self.ip_throttle.allow.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "auth0_database_connection": self.auth0_database_connection,
            "rate_limit": limit_json(self.rate_limit),
            "public_rate_limit": limit_json(self.public_rate_limit),
            "logo_url": self.logo_url,
            "primary_color": self.primary_color,
        })
    }
}
/// Deployment-wide email settings.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// The API's public URL; verification links point at its `/email-verification/confirm`.
    pub public_base_url: Url,
    pub send_cap: SendCap,
    pub tenants: TenantSettings,
}

impl EmailSettings {
    /// Settings for tests and local runs, with every link on `base`.
    pub fn local(base: Url) -> Self {
        EmailSettings {
            tenants: TenantSettings::local(&base),
            public_base_url: base,
            send_cap: SendCap::default(),
        }
    }

    /// `path` under the public base URL (which may itself have a path, such as a stage).
    pub fn api_url(&self, path: &str) -> Url {
        let mut url = self.public_base_url.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}{path}"));
        url.set_query(None);
        url
    }

    /// A link to `path` under the public base URL with the ticket as `?ticket=`.
    pub fn api_link(&self, path: &str, ticket: &str) -> Url {
        let mut url = self.api_url(path);
        url.query_pairs_mut().append_pair("ticket", ticket);
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> TenantSettings {
        TenantSettings::parse(
            &json!({
                "*": {"password_reset_url": "https://id.example.com/reset", "result_url_hosts": ["app.example.com", "*.example.org"]},
                "acme": {"locale": "de", "display_name": "ACME"}
            })
            .to_string(), false)
        .unwrap()
    }

    #[test]
    fn tenant_entries_override_the_defaults_field_by_field() {
        let s = settings();
        let acme = s.tenant(&TenantId::parse("acme").unwrap());
        assert_eq!(acme.locale, Locale::De);
        assert_eq!(
            acme.password_reset_url.as_ref().map(Url::as_str),
            Some("https://id.example.com/reset")
        );
        let other = s.tenant(&TenantId::parse("globex").unwrap());
        assert_eq!(other.locale, Locale::En);
        assert_eq!(other.name(&TenantId::parse("globex").unwrap()), "globex");
    }

    #[test]
    fn settings_that_break_a_rule_are_refused_and_none_at_all_use_the_hosted_pages() {
        let bare = TenantSettings::parse("{}", false).unwrap();
        let any = bare.tenant(&TenantId::parse("acme").unwrap());
        assert_eq!(any.password_reset_url, None, "the hosted reset page");
        assert!(
            TenantSettings::parse(
                r#"{"*": {"password_reset_url": "https://x.example/r", "locale": "ja"}}"#,
                false
            )
            .is_err()
        );
        // The deployment's layers are held to the rules a PATCH is.
        assert!(
            TenantSettings::parse(
                r#"{"*": {"password_reset_url": "http://x.example/r"}}"#,
                false
            )
            .is_err()
        );
        assert!(
            TenantSettings::parse(r#"{"*": {"password_reset_url": "https://x.example/r"}, "acme": {"result_url_hosts": ["x.example/a"]}}"#, false)
            .is_err()
        );
    }

    #[test]
    fn result_urls_must_be_https_on_an_allowed_host() {
        let s = settings();
        let t = s.tenant(&TenantId::parse("acme").unwrap());
        assert!(t.result_url("https://app.example.com/done?x=1").is_ok());
        assert!(t.result_url("https://eu.example.org/done").is_ok());
        for bad in [
            "http://app.example.com/done",
            "https://evil.com/",
            "https://app.example.com.evil.com/",
            "https://example.org/",
            "https://user@app.example.com/",
            "javascript:alert(1)",
            "/relative",
        ] {
            assert!(t.result_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn api_links_keep_the_base_path_and_carry_the_ticket() {
        let s = EmailSettings::local(Url::parse("https://api.example.com/prod/").unwrap());
        let link = s.api_link("/v1/tenants/acme/email-verification/confirm", "abc-_");
        assert_eq!(
            link.as_str(),
            "https://api.example.com/prod/v1/tenants/acme/email-verification/confirm?ticket=abc-_"
        );
    }

    #[test]
    fn a_stored_layer_goes_over_the_deployments_field_by_field() {
        let s = settings();
        let acme = TenantId::parse("acme").unwrap();
        let stored = SettingsDoc {
            display_name: Some("Acme Corp".into()),
            result_url_hosts: Some(vec!["app.acme.test".into()]),
            ..SettingsDoc::default()
        };
        let effective = s.effective(&acme, &stored).unwrap();
        assert_eq!(effective.display_name.as_deref(), Some("Acme Corp"));
        // The tenant's deployment entry still shows through, and so do the defaults.
        assert_eq!(effective.locale, Locale::De);
        assert_eq!(
            effective.password_reset_url.as_ref().map(Url::as_str),
            Some("https://id.example.com/reset")
        );
        assert_eq!(effective.result_url_hosts, ["app.acme.test"]);
        assert_eq!(
            s.effective(&acme, &SettingsDoc::default()).unwrap(),
            *s.tenant(&acme)
        );
    }

    #[test]
    fn a_patch_sets_and_resets_fields_and_names_them() {
        let patch = SettingsPatch::parse(
            br#"{"locale": "fr", "display_name": null, "inactive_after_days": 90}"#,
            false,
        )
        .unwrap();
        assert_eq!(
            patch.fields(),
            ["display_name", "locale", "inactive_after_days"]
        );
        let before = SettingsDoc {
            display_name: Some("Old".into()),
            locale: Some("de".into()),
            ..SettingsDoc::default()
        };
        let after = before.patched(&patch);
        assert_eq!(after.display_name, None);
        assert_eq!(after.locale.as_deref(), Some("fr"));
        assert_eq!(after.inactive_after_days, Some(90));
        assert!(SettingsPatch::parse(b"{}", false).unwrap().is_empty());
    }

    #[test]
    fn a_patch_with_anything_wrong_is_refused_whole() {
        for bad in [
            r#"{"colour": "blue"}"#,
            r#"{"locale": "ja"}"#,
            r#"{"locale": 7}"#,
            r#"{"password_reset_url": "http://id.example.com/reset"}"#,
            r#"{"default_result_url": "https://user:pw@id.example.com/"}"#,
            r#"{"default_result_url": "/relative"}"#,
            r#"{"result_url_hosts": ["https://app.example.com"]}"#,
            r#"{"result_url_hosts": ["app.example.com/path"]}"#,
            r#"{"result_url_hosts": ["*"]}"#,
            r#"{"result_url_hosts": ["a..b"]}"#,
            r#"{"result_url_hosts": ["*.com"]}"#,
            r#"{"inactivity_warning_days": 0}"#,
            r#"{"inactive_after_days": 36501}"#,
            r#"{"display_name": ""}"#,
            r#"{"display_name": "Acme\u202egnp.exe"}"#,
            r#"[]"#,
        ] {
            let e = SettingsPatch::parse(bad.as_bytes(), false).unwrap_err();
            assert!(matches!(e, Error::Invalid { .. }), "{bad}");
        }
        let long = format!(
            r#"{{"password_reset_url": "https://x.example/{}"}}"#,
            "a".repeat(MAX_URL)
        );
        assert!(SettingsPatch::parse(long.as_bytes(), false).is_err());
        // Loopback pages only where the deployment itself runs on loopback.
        let loopback = br#"{"password_reset_url": "http://127.0.0.1:3000/r"}"#;
        assert!(SettingsPatch::parse(loopback, false).is_err());
        assert!(SettingsPatch::parse(loopback, true).is_ok());
        // Host names are compared in lower case, so they are stored that way.
        let hosts = SettingsPatch::parse(
            br#"{"result_url_hosts": ["App.Example.com"], "locale": "pt_br"}"#,
            false,
        )
        .unwrap();
        assert_eq!(hosts.set.result_url_hosts.unwrap(), ["app.example.com"]);
        assert_eq!(hosts.set.locale.as_deref(), Some("pt-BR"));
    }

    #[test]
    fn zero_days_and_an_empty_default_page_turn_off_what_a_layer_below_turns_on() {
        let s = TenantSettings::parse(
            &json!({
                "*": {"password_reset_url": "https://id.example.com/reset", "default_result_url": "https://id.example.com/done",
                      "result_url_hosts": ["id.example.com"], "purge_unverified_after_days": 30}
            })
            .to_string(),
            false,
        )
        .unwrap();
        let acme = TenantId::parse("acme").unwrap();
        assert_eq!(s.tenant(&acme).policies.unverified_days, Some(30));
        let off = SettingsPatch::parse(
            br#"{"purge_unverified_after_days": 0, "default_result_url": ""}"#,
            false,
        )
        .unwrap();
        let effective = s
            .effective(&acme, &SettingsDoc::default().patched(&off))
            .unwrap();
        assert_eq!(effective.policies.unverified_days, None);
        assert_eq!(effective.default_result_url, None);
        assert!(off.names_policy());
    }

    #[test]
    fn a_default_result_page_must_be_on_an_allowed_host() {
        let s = settings();
        let acme = TenantId::parse("acme").unwrap();
        let elsewhere = SettingsDoc {
            default_result_url: Some("https://evil.example.net/".into()),
            ..SettingsDoc::default()
        };
        assert!(s.effective(&acme, &elsewhere).is_err());
        let allowed = SettingsDoc {
            default_result_url: Some("https://eu.example.org/done".into()),
            ..SettingsDoc::default()
        };
        assert!(s.effective(&acme, &allowed).is_ok());
    }

    #[test]
    fn a_stored_layer_with_a_field_this_version_does_not_know_still_reads() {
        let doc: SettingsDoc =
            serde_json::from_value(json!({"locale": "de", "brand_colour": "#ff0000"})).unwrap();
        assert_eq!(doc.locale.as_deref(), Some("de"));
        assert!(SettingsDoc::from_json(json!({"brand_colour": "#ff0000"}), false).is_err());
    }

    #[test]
    fn rules_across_fields_hold_on_the_merged_layers() {
        let s = settings();
        let acme = TenantId::parse("acme").unwrap();
        let stored = SettingsDoc {
            inactive_after_days: Some(10),
            ..SettingsDoc::default()
        };
        // The default warning (14 days) would come after the erasure.
        assert!(s.effective(&acme, &stored).is_err());
        let stored = SettingsDoc {
            inactivity_warning_days: Some(3),
            ..stored
        };
        let policies = s.effective(&acme, &stored).unwrap().policies;
        assert_eq!(
            (policies.inactive_days, policies.warning_days),
            (Some(10), 3)
        );
    }
}
