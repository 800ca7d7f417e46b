//! The languages messages and pages ship in, and how a user's is chosen.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::user::User;

/// The languages templates ship in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Locale {
    #[serde(rename = "en")]
    En,
    #[serde(rename = "es")]
    Es,
    #[serde(rename = "fr")]
    Fr,
    #[serde(rename = "de")]
    De,
    #[serde(rename = "pt-BR")]
    PtBr,
}

impl Locale {
    pub const ALL: [Locale; 5] = [Locale::En, Locale::Es, Locale::Fr, Locale::De, Locale::PtBr];

    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Es => "es",
            Locale::Fr => "fr",
            Locale::De => "de",
            Locale::PtBr => "pt-BR",
        }
    }

    /// The shipped locale a BCP 47-ish tag falls back to: its primary language (`es-MX` is
    /// `es`, `pt`, `pt-PT` and `pt_BR` are `pt-BR`, the only Portuguese shipped). `None` for
    /// a language not shipped.
    pub fn from_tag(raw: &str) -> Option<Locale> {
        let primary = raw
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Locale::En),
            "es" => Some(Locale::Es),
            "fr" => Some(Locale::Fr),
            "de" => Some(Locale::De),
            "pt" => Some(Locale::PtBr),
            _ => None,
        }
    }

    /// `user_metadata.locale`, else `user_metadata.language`, else the tenant's default.
    pub fn for_user(user: &User, tenant_default: Locale) -> Locale {
        ["locale", "language"]
            .iter()
            .filter_map(|key| user.user_metadata.get(*key).and_then(Value::as_str))
            .find_map(Locale::from_tag)
            .unwrap_or(tenant_default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::user::fixtures;
    use serde_json::json;

    #[test]
    fn the_locale_comes_from_user_metadata_then_the_tenant() {
        let mut user = fixtures::user();
        assert_eq!(Locale::for_user(&user, Locale::Fr), Locale::Fr);
        user.user_metadata.insert("language".into(), json!("es-MX"));
        assert_eq!(Locale::for_user(&user, Locale::Fr), Locale::Es);
        user.user_metadata.insert("locale".into(), json!("pt_BR"));
        assert_eq!(Locale::for_user(&user, Locale::Fr), Locale::PtBr);
        user.user_metadata.insert("locale".into(), json!("ja"));
        assert_eq!(Locale::for_user(&user, Locale::Fr), Locale::Es);
        user.user_metadata.insert("locale".into(), json!(7));
        user.user_metadata.remove("language");
        assert_eq!(Locale::for_user(&user, Locale::Fr), Locale::Fr);
    }
}
