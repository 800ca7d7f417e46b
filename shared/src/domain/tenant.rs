//! A tenant's settings: how its mail reads and where its links lead, and its
//! de-provisioning policies. Deployment-wide email settings live here too.

use std::collections::HashMap;

use serde::Deserialize;
use url::Url;

use super::Error;
use super::ids::TenantId;
use super::locale::Locale;
use super::message::SendCap;

/// Email settings of one tenant.
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
    /// password to `/password-reset/confirm`.
    pub password_reset_url: Url,
    /// De-provisioning rules (see [`super::erasure`]); all off unless set.
    pub policies: Policies,
}

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

/// One entry of the `TENANT_SETTINGS` JSON; entries other than `"*"` override its fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantEmailEntry {
    display_name: Option<String>,
    locale: Option<String>,
    result_url_hosts: Option<Vec<String>>,
    default_result_url: Option<Url>,
    password_reset_url: Option<Url>,
    purge_unverified_after_days: Option<u32>,
    inactive_after_days: Option<u32>,
    inactivity_warning_days: Option<u32>,
}

/// Every tenant's email settings: defaults under `"*"`, overrides per tenant id.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantSettings {
    default: TenantEmail,
    tenants: HashMap<TenantId, TenantEmail>,
}

impl TenantSettings {
    /// Parses the JSON object of `TENANT_SETTINGS`. `"*"` must name a `password_reset_url`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut entries: HashMap<String, TenantEmailEntry> =
            serde_json::from_str(raw).map_err(|e| e.to_string())?;
        let base = entries.remove("*").unwrap_or_default();
        let default = TenantEmail::from_entry(base, None)?;
        let mut tenants = HashMap::new();
        for (id, entry) in entries {
            let tenant = TenantId::parse(&id).map_err(|_| format!("{id:?} is not a tenant id"))?;
            tenants.insert(tenant, TenantEmail::from_entry(entry, Some(&default))?);
        }
        Ok(TenantSettings { default, tenants })
    }

    /// Settings for tests and local runs: everything on `base`.
    pub fn local(base: &Url) -> Self {
        let host = base.host_str().unwrap_or("localhost").to_owned();
        TenantSettings {
            default: TenantEmail {
                display_name: None,
                locale: Locale::En,
                result_url_hosts: vec![host],
                default_result_url: base.join("/verified").ok(),
                password_reset_url: base
                    .join("/reset-password")
                    .unwrap_or_else(|_| base.clone()),
                policies: Policies {
                    warning_days: Policies::DEFAULT_WARNING_DAYS,
                    ..Policies::default()
                },
            },
            tenants: HashMap::new(),
        }
    }

    pub fn tenant(&self, tenant: &TenantId) -> &TenantEmail {
        self.tenants.get(tenant).unwrap_or(&self.default)
    }

    pub fn set_tenant(&mut self, tenant: TenantId, settings: TenantEmail) {
        self.tenants.insert(tenant, settings);
    }
}

impl TenantEmail {
    fn from_entry(e: TenantEmailEntry, base: Option<&TenantEmail>) -> Result<Self, String> {
        let locale = match e.locale {
            Some(tag) => {
                Locale::from_tag(&tag).ok_or_else(|| format!("locale {tag:?} is not shipped"))?
            }
            None => base.map_or(Locale::En, |b| b.locale),
        };
        let password_reset_url = e
            .password_reset_url
            .or_else(|| base.map(|b| b.password_reset_url.clone()))
            .ok_or("\"*\" needs a password_reset_url")?;
        let inherited = base.map(|b| b.policies).unwrap_or_default();
        let days = |v: Option<u32>, field: &str| -> Result<Option<u32>, String> {
            match v {
                Some(0) => Err(format!(
                    "{field} must be at least 1 (leave it out to turn it off)"
                )),
                other => Ok(other),
            }
        };
        let policies = Policies {
            unverified_days: days(e.purge_unverified_after_days, "purge_unverified_after_days")?
                .or(inherited.unverified_days),
            inactive_days: days(e.inactive_after_days, "inactive_after_days")?
                .or(inherited.inactive_days),
            warning_days: match e.inactivity_warning_days {
                Some(d) => d,
                None if base.is_some() => inherited.warning_days,
                None => Policies::DEFAULT_WARNING_DAYS,
            },
        };
        if let Some(inactive) = policies.inactive_days
            && (policies.warning_days == 0 || policies.warning_days >= inactive)
        {
            return Err(format!(
                "inactivity_warning_days ({}) must be at least 1 and less than inactive_after_days ({inactive})",
                policies.warning_days
            ));
        }
        Ok(TenantEmail {
            display_name: e
                .display_name
                .or_else(|| base.and_then(|b| b.display_name.clone())),
            locale,
            result_url_hosts: e
                .result_url_hosts
                .or_else(|| base.map(|b| b.result_url_hosts.clone()))
                .unwrap_or_default()
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            default_result_url: e
                .default_result_url
                .or_else(|| base.and_then(|b| b.default_result_url.clone())),
            password_reset_url,
            policies,
        })
    }

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
        let local = matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]");
        let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && local);
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
            .to_string(),
        )
        .unwrap()
    }

    #[test]
    fn tenant_entries_override_the_defaults_field_by_field() {
        let s = settings();
        let acme = s.tenant(&TenantId::parse("acme").unwrap());
        assert_eq!(acme.locale, Locale::De);
        assert_eq!(
            acme.password_reset_url.as_str(),
            "https://id.example.com/reset"
        );
        let other = s.tenant(&TenantId::parse("globex").unwrap());
        assert_eq!(other.locale, Locale::En);
        assert_eq!(other.name(&TenantId::parse("globex").unwrap()), "globex");
    }

    #[test]
    fn settings_without_a_reset_page_or_with_an_unshipped_locale_are_refused() {
        assert!(TenantSettings::parse("{}").is_err());
        assert!(
            TenantSettings::parse(
                r#"{"*": {"password_reset_url": "https://x.example/r", "locale": "ja"}}"#
            )
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
}
