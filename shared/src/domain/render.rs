//! Renders a message from the template files embedded at build time (`shared/build.rs`).
//! `.html` templates escape every value (minijinja's auto-escaping by file name); `.txt`
//! templates are plain text.

use std::sync::OnceLock;

use minijinja::Environment;
use serde::Serialize;

use super::Error;
use super::locale::Locale;
use super::message::MessageKind;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/email_templates.rs"));
}

/// What a template may use. Unset values render as nothing.
#[derive(Debug, Default, Serialize)]
pub struct Context {
    pub app_name: String,
    pub user_name: Option<String>,
    pub email: String,
    pub lang: &'static str,
    pub link: Option<String>,
    pub ttl_minutes: u64,
    pub ttl_hours: u64,
    pub ttl_days: u64,
    pub is_change: bool,
    pub new_email: Option<String>,
    pub deletion_date: Option<String>,
}

impl Context {
    pub fn with_ttl(mut self, ttl_secs: u64) -> Self {
        self.ttl_minutes = (ttl_secs / 60).max(1);
        self.ttl_hours = ttl_secs / 3600;
        self.ttl_days = ttl_secs / 86_400;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// minijinja's HTML escaping also encodes `/`, which leaves every link in an email as
/// `https:&#x2f;&#x2f;…`: valid, but hard on the plain-URL fallback and on link checkers.
/// These five characters are all that text and quoted attributes need.
fn format_value(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    if *state.auto_escape() != minijinja::AutoEscape::Html || value.is_safe() || value.is_none() {
        return minijinja::escape_formatter(out, state, value);
    }
    let text = value.to_string();
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    out.write_str(&escaped)
        .map_err(|_| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "write failed"))
}

/// Parsed once per process, on the first message (a function that sends nothing pays nothing).
fn environment() -> &'static Result<Environment<'static>, String> {
    static ENV: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_formatter(format_value);
        for (name, source) in embedded::TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| format!("template {name}: {e}"))?;
        }
        Ok(env)
    })
}

pub fn render(kind: MessageKind, locale: Locale, ctx: &Context) -> Result<Rendered, Error> {
    let env = environment().as_ref().map_err(Error::internal)?;
    let part = |suffix: &str| -> Result<String, Error> {
        let name = format!("email/{}/{}.{suffix}", locale.tag(), kind.name());
        env.get_template(&name)
            .and_then(|t| t.render(minijinja::value::Serde(ctx)))
            .map_err(|e| Error::internal(format!("render {name}: {e}")))
    };
    // A subject is one header line, whatever a value in it holds.
    let subject = part("subject.txt")?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Rendered {
        subject,
        text: part("txt")?,
        html: part("html")?,
    })
}

/// A page a function serves (`templates/pages/<locale>/<name>.html`), escaped like the emails.
pub fn page(name: &str, locale: Locale, ctx: &impl Serialize) -> Result<String, Error> {
    let env = environment().as_ref().map_err(Error::internal)?;
    let name = format!("pages/{}/{name}.html", locale.tag());
    env.get_template(&name)
        .and_then(|t| t.render(minijinja::value::Serde(ctx)))
        .map_err(|e| Error::internal(format!("render {name}: {e}")))
}

/// The names of every embedded template, for tests.
pub fn template_names() -> impl Iterator<Item = &'static str> {
    embedded::TEMPLATES.iter().map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            app_name: "Acme <Shop>".into(),
            user_name: Some("<script>alert(1)</script>".into()),
            email: "ana@example.com".into(),
            lang: "en",
            link: Some("https://api.example.com/confirm?ticket=abc&x=1".into()),
            new_email: Some("b**@example.org".into()),
            deletion_date: Some("2026-12-31".into()),
            ..Context::default()
        }
        .with_ttl(5 * 86_400)
    }

    #[test]
    fn every_kind_renders_in_every_locale_with_its_link_or_date() {
        for locale in Locale::ALL {
            for kind in MessageKind::ALL {
                let mut c = ctx();
                c.lang = locale.tag();
                let r =
                    render(kind, locale, &c).unwrap_or_else(|e| panic!("{kind:?} {locale:?}: {e}"));
                assert!(!r.subject.is_empty() && !r.subject.contains('\n'));
                if kind == MessageKind::InactivityWarning {
                    // No link: signing in, the usual way, is what keeps the account.
                    for part in [&r.text, &r.html] {
                        assert!(part.contains("2026-12-31"), "{kind:?} {locale:?}");
                        assert!(!part.contains("ticket=abc"), "{kind:?} {locale:?}");
                    }
                    continue;
                }
                assert!(
                    r.text
                        .contains("https://api.example.com/confirm?ticket=abc&x=1"),
                    "{kind:?} {locale:?} text"
                );
                assert!(
                    r.html
                        .contains("https://api.example.com/confirm?ticket=abc&amp;x=1"),
                    "{kind:?} {locale:?} html"
                );
                assert!(r.html.contains(&format!("lang=\"{}\"", locale.tag())));
            }
        }
    }

    #[test]
    fn values_are_escaped_in_html_and_left_alone_in_text() {
        let r = render(MessageKind::VerifyEmail, Locale::En, &ctx()).unwrap();
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("&lt;script&gt;"));
        assert!(r.html.contains("Acme &lt;Shop&gt;"));
        assert!(r.text.contains("<script>alert(1)</script>"));
    }

    #[test]
    fn each_locale_speaks_its_own_language() {
        let subjects: std::collections::HashSet<String> = Locale::ALL
            .iter()
            .map(|l| {
                render(MessageKind::PasswordReset, *l, &ctx())
                    .unwrap()
                    .subject
            })
            .collect();
        assert_eq!(subjects.len(), Locale::ALL.len());
    }

    #[test]
    fn a_deletion_notice_without_a_link_says_nothing_of_one() {
        let mut c = ctx();
        c.link = None;
        let r = render(MessageKind::AccountDeletionScheduled, Locale::En, &c).unwrap();
        assert!(r.text.contains("2026-12-31"));
        assert!(!r.html.contains("href=\"\""));
    }

    #[test]
    fn the_embedded_set_is_complete() {
        let names: Vec<&str> = template_names().collect();
        for locale in Locale::ALL {
            for kind in MessageKind::ALL {
                for suffix in ["subject.txt", "txt", "html"] {
                    let name = format!("email/{}/{}.{suffix}", locale.tag(), kind.name());
                    assert!(names.contains(&name.as_str()), "missing {name}");
                }
            }
        }
    }

    #[test]
    fn every_page_ships_in_every_locale() {
        let names: Vec<&str> = template_names().collect();
        for page in [
            "email_verify_confirm",
            "email_change_confirm",
            "email_change_cancel",
            "password_reset",
            "email_verified",
        ] {
            for locale in Locale::ALL {
                let name = format!("pages/{}/{page}.html", locale.tag());
                assert!(names.contains(&name.as_str()), "{name} is missing");
            }
        }
    }
}
