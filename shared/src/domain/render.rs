//! Renders a message or page from the template files embedded at build time
//! (`shared/build.rs`), in the language of [`super::template`]. `.html` templates escape
//! every value; `.txt` templates are plain text.

use super::Error;
use super::locale::Locale;
use super::message::MessageKind;
use super::template::{self, Value, Vars};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/email_templates.rs"));
}

/// What an email template may use. Unset values render as nothing.
#[derive(Debug, Default)]
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

impl Vars for Context {
    fn var(&self, name: &str) -> Value<'_> {
        match name {
            "app_name" => Value::Str(&self.app_name),
            "user_name" => self.user_name.as_deref().into(),
            "email" => Value::Str(&self.email),
            "lang" => Value::Str(self.lang),
            "link" => self.link.as_deref().into(),
            "ttl_minutes" => Value::Int(self.ttl_minutes),
            "ttl_hours" => Value::Int(self.ttl_hours),
            "ttl_days" => Value::Int(self.ttl_days),
            "is_change" => Value::Bool(self.is_change),
            "new_email" => self.new_email.as_deref().into(),
            "deletion_date" => self.deletion_date.as_deref().into(),
            _ => Value::None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn source(name: &str) -> Result<&'static str, Error> {
    embedded::TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, source)| *source)
        .ok_or_else(|| Error::internal(format!("no template {name}")))
}

/// Parsed on each use: a few kilobytes, microseconds of work, and a function that sends
/// nothing holds nothing parsed.
fn render_file(name: &str, vars: &dyn Vars) -> Result<String, Error> {
    let failed = |e: String| Error::internal(format!("render {name}: {e}"));
    let text = source(name)?;
    let parsed = template::parse(text).map_err(failed)?;
    let layout_source = parsed.extends().map(source).transpose()?;
    let layout = layout_source
        .map(template::parse)
        .transpose()
        .map_err(failed)?;
    let mut out = String::with_capacity(text.len() + layout_source.map_or(0, str::len));
    parsed
        .render(layout.as_ref(), vars, name.ends_with(".html"), &mut out)
        .map_err(failed)?;
    Ok(out)
}

pub fn render(kind: MessageKind, locale: Locale, ctx: &Context) -> Result<Rendered, Error> {
    let part = |suffix: &str| {
        render_file(
            &format!("email/{}/{}.{suffix}", locale.tag(), kind.name()),
            ctx,
        )
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
pub fn page(name: &str, locale: Locale, vars: &dyn Vars) -> Result<String, Error> {
    render_file(&format!("pages/{}/{name}.html", locale.tag()), vars)
}

/// Every name the template `name` shows or tests, for tests of what its context answers.
pub fn names_in(name: &str) -> Result<Vec<&'static str>, Error> {
    template::parse(source(name)?)
        .map(|parsed| parsed.names())
        .map_err(|e| Error::internal(format!("parse {name}: {e}")))
}

/// The names of every embedded template, for tests.
pub fn template_names() -> impl Iterator<Item = &'static str> {
    embedded::TEMPLATES.iter().map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value as Json, json};

    /// A context for both engines: JSON for minijinja, [`Vars`] for ours.
    struct Both(Json);

    impl Vars for Both {
        fn var(&self, name: &str) -> Value<'_> {
            match self.0.get(name) {
                Some(Json::String(s)) => Value::Str(s),
                Some(Json::Number(n)) => Value::Int(n.as_u64().expect("whole numbers")),
                Some(Json::Bool(b)) => Value::Bool(*b),
                _ => Value::None,
            }
        }
    }

    /// minijinja as these templates were written for: auto-escaping by file name, with the
    /// same five characters escaped. One difference is meant: an unset value shows as
    /// nothing, where minijinja writes `none`.
    fn reference() -> minijinja::Environment<'static> {
        let mut env = minijinja::Environment::new();
        env.set_formatter(|out, state, value| {
            if value.is_none() {
                return Ok(());
            }
            if *state.auto_escape() != minijinja::AutoEscape::Html {
                return minijinja::escape_formatter(out, state, value);
            }
            let mut escaped = String::new();
            template::escape_into(&value.to_string(), &mut escaped);
            out.write_str(&escaped).map_err(|_| {
                minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "write failed")
            })
        });
        for (name, source) in embedded::TEMPLATES {
            env.add_template(name, source).unwrap();
        }
        env
    }

    fn email_contexts() -> Vec<Json> {
        let mut out = Vec::new();
        for user_name in [json!("<Ana & 'Bo'>"), Json::Null] {
            for link in [
                json!("https://api.example.com/c?ticket=a&b=\"x\""),
                Json::Null,
            ] {
                for ttl in [30, 60, 3600, 7200, 86_400, 5 * 86_400] {
                    for is_change in [true, false] {
                        for optional in [json!("b**@example.org"), Json::Null] {
                            out.push(json!({
                                "app_name": "Acme <Shop>",
                                "user_name": user_name,
                                "email": "ana@example.com",
                                "lang": "en",
                                "link": link,
                                "ttl_minutes": (ttl / 60).max(1),
                                "ttl_hours": ttl / 3600,
                                "ttl_days": ttl / 86_400,
                                "is_change": is_change,
                                "new_email": optional,
                                "deletion_date": optional,
                            }));
                        }
                    }
                }
            }
        }
        out
    }

    fn page_contexts() -> Vec<Json> {
        let mut out = Vec::new();
        let states = [
            "confirm",
            "cancelled",
            "invalid",
            "done",
            "verified",
            "expired",
            "taken",
            "unblocked",
        ];
        for state in states {
            for error in ["", "mismatch", "weak"] {
                for branded in [true, false] {
                    for new_email in ["", "b**@example.org"] {
                        let optional = |v: &str| if branded { json!(v) } else { Json::Null };
                        out.push(json!({
                            "app_name": "Acme \"Shop\"",
                            "lang": "de",
                            "state": state,
                            "ticket": "t<1>&2",
                            "action": "https://api.example.com/v1/tenants/acme/x",
                            "new_email": new_email,
                            "email": "ana@example.com",
                            "logo_url": optional("https://cdn.example.com/l.png?a=1&b=2"),
                            "primary_color": optional("#123abc"),
                            "error": error,
                            "min_chars": 8,
                            "max_chars": 128,
                        }));
                    }
                }
            }
        }
        out
    }

    /// A misspelt name would render as nothing in every engine alike: each name an email
    /// uses must be one [`Context`] answers (the pages': `http`'s tests).
    #[test]
    fn every_name_an_email_uses_is_one_its_context_has() {
        let email = Context {
            user_name: Some("Ana".into()),
            link: Some("https://x".into()),
            new_email: Some("b@x".into()),
            deletion_date: Some("2026-12-31".into()),
            ..Context::default()
        };
        for name in template_names().filter(|n| n.starts_with("email/")) {
            for used in names_in(name).unwrap() {
                assert!(
                    email.var(used) != Value::None,
                    "{name} uses `{used}`, which its context does not have"
                );
            }
        }
    }

    #[test]
    fn every_template_renders_as_minijinja_renders_it() {
        let env = reference();
        let (emails, pages) = (email_contexts(), page_contexts());
        let mut compared = 0;
        for name in template_names().filter(|n| !n.ends_with("layout.html")) {
            let contexts = if name.starts_with("email/") {
                &emails
            } else {
                &pages
            };
            for ctx in contexts {
                let expected = env
                    .get_template(name)
                    .unwrap()
                    .render(minijinja::value::Serde(ctx))
                    .unwrap();
                let ours = render_file(name, &Both(ctx.clone())).unwrap();
                assert_eq!(ours, expected, "{name} with {ctx}");
                compared += 1;
            }
        }
        assert!(compared > 3_000, "{compared}");
    }

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
