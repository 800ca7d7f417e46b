//! The emailed links in a real browser: headless Chromium, driven over WebDriver (Debian's
//! chromium and chromium-driver, which `make test` installs: scripts/browser.sh), against the
//! local server over moto, reading the mail through `make dev`'s mailbox. A screenshot of
//! each page lands in `target/browser/` for a person to look at.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::support::{Env, TestClock, address, inbox, link, moto_endpoint};

const PASSWORD: &str = "correct horse battery";
const STRONG: &str = "violet kettle harbour 58";

/// A WebDriver session of a headless Chromium, ended (and its driver stopped) on drop.
struct Browser {
    driver: std::process::Child,
    base: String,
    http: Http,
}

/// Plain HTTP/1.1 JSON requests to the driver.
#[derive(Clone, Copy)]
struct Http(SocketAddr);

impl Http {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The driver's answer, or its error.
    async fn try_call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = tokio::net::TcpStream::connect(self.0).await.unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.0,
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body.as_bytes()).await.unwrap();
        // By Content-Length: the driver may keep the connection open after its answer.
        let mut raw = Vec::new();
        let mut chunk = [0u8; 8192];
        let payload = loop {
            let n = stream.read(&mut chunk).await.unwrap();
            raw.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&raw).into_owned();
            if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.trim().parse::<usize>().ok());
                let done = match length {
                    Some(length) => rest.len() >= length,
                    None => n == 0,
                };
                if done {
                    break rest.to_owned();
                }
            }
            assert!(n > 0, "{method} {path}: the driver closed mid-answer");
        };
        let answer: Value = serde_json::from_str(&payload)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {payload}"));
        if let Some(error) = answer["value"]["error"].as_str() {
            return Err(format!(
                "{method} {path}: {error}: {}",
                answer["value"]["message"]
            ));
        }
        Ok(answer["value"].clone())
    }
}

impl Browser {
    async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; `make test` installs it)");
        let http = Http(SocketAddr::from(([127, 0, 0, 1], port)));
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(http.0).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=900,1000"],
            },
        }}});
        let session = http.call("POST", "/session", Some(capabilities)).await;
        let session = session["sessionId"].as_str().unwrap().to_owned();
        Browser {
            driver,
            base: format!("/session/{session}"),
            http,
        }
    }

    async fn open(&self, url: &str) {
        let path = format!("{}/url", self.base);
        self.http
            .call("POST", &path, Some(json!({"url": url})))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let path = format!("{}/element", self.base);
        let body = json!({"using": "css selector", "value": css});
        let found = self.http.call("POST", &path, Some(body)).await;
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap()
            .to_owned()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        let path = format!("{}/element/{element}/value", self.base);
        self.http
            .call("POST", &path, Some(json!({"text": text})))
            .await;
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        let path = format!("{}/element/{element}/click", self.base);
        self.http.call("POST", &path, Some(json!({}))).await;
    }

    async fn clear(&self, css: &str) {
        let element = self.find(css).await;
        let path = format!("{}/element/{element}/clear", self.base);
        self.http.call("POST", &path, Some(json!({}))).await;
    }

    /// The visible text of the page once it shows `expected`: a click that submits a form
    /// returns before the next page has loaded, so the page is read again until it does (or
    /// fifteen seconds pass, and the text it has is returned for the assertion to show).
    async fn text_with(&self, expected: &str) -> String {
        let mut text = String::new();
        for _ in 0..150 {
            let find = format!("{}/element", self.base);
            let body = json!({"using": "css selector", "value": "body"});
            if let Ok(found) = self.http.try_call("POST", &find, Some(body)).await
                && let Some(id) = found.as_object().and_then(|o| o.values().next())
                && let Some(id) = id.as_str()
            {
                let path = format!("{}/element/{id}/text", self.base);
                if let Ok(Value::String(read)) = self.http.try_call("GET", &path, None).await {
                    text = read;
                    if text.contains(expected) {
                        return text;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        text
    }

    async fn url(&self) -> String {
        let path = format!("{}/url", self.base);
        self.http
            .call("GET", &path, None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Keeps what the browser shows as `target/browser/{name}.png`.
    async fn screenshot(&self, name: &str) {
        let path = format!("{}/screenshot", self.base);
        let png = self.http.call("GET", &path, None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/browser");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

impl Browser {
    /// Ends the session, which closes the browser.
    async fn quit(self) {
        self.http.call("DELETE", &self.base, None).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The local server with its mailbox, every emailed link on it, and tenant settings naming
/// no pages of their own: links end on the hosted pages.
async fn served() -> (Env, Arc<TestClock>, String) {
    let (mut env, clock) = Env::with_clock().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let mut settings =
        shared::domain::tenant::EmailSettings::local(url::Url::parse(&base).unwrap());
    let entries = json!({"*": {"result_url_hosts": ["127.0.0.1"]}});
    settings.tenants =
        shared::domain::tenant::TenantSettings::parse(&entries.to_string(), true).unwrap();
    env.app.email = Arc::new(settings);
    let service = local_api::server::router_with_mailbox(
        env.app.clone(),
        "secret".into(),
        Some(moto_endpoint()),
    )
    .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    (env, clock, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_resets_a_password_verifies_an_address_and_lifts_a_block_in_a_browser() {
    let (env, clock, base) = served().await;
    let browser = Browser::start().await;

    // The mailbox lists a sign-up's verification; its link opens the page whose button
    // verifies, and the verification ends on our page.
    let bo = address("bo");
    env.create(json!({"email": bo, "password": PASSWORD})).await;
    browser.open(&format!("{base}/_dev/mail")).await;
    assert!(
        browser.text_with(&bo).await.contains(&bo),
        "the mailbox lists it"
    );
    browser.screenshot("mailbox").await;
    let verify = link(
        &inbox(&bo).await[0].html,
        &format!("{base}/v1/tenants/acme/email-verification/confirm?ticket="),
    );
    browser.open(&verify).await;
    browser.screenshot("verify-email").await;
    browser.click("button[type=submit]").await;
    let confirmed = browser.text_with("Email address confirmed").await;
    assert!(confirmed.contains("Email address confirmed"), "{confirmed}");
    browser.screenshot("email-verified").await;

    // A reset: the weak password is refused on the page, the strong one set, and it signs in.
    let ana = address("ana");
    env.create(json!({"email": ana, "email_verified": true, "password": PASSWORD}))
        .await;
    assert_eq!(env.request_reset(&ana).await.status, 202);
    browser.open(&format!("{base}/_dev/mail")).await;
    let mailbox = browser.text_with(&ana).await;
    assert!(
        mailbox.contains(&ana) && mailbox.contains("Reset"),
        "{mailbox}"
    );
    let reset = link(
        &inbox(&ana).await.last().unwrap().html,
        &format!("{base}/v1/tenants/acme/password-reset/confirm?ticket="),
    );
    browser.open(&reset).await;
    browser.screenshot("reset-password").await;
    browser.type_into("#new_password", "password").await;
    browser.type_into("#confirm_password", "password").await;
    browser.click("button[type=submit]").await;
    let shown = browser.text_with("too easy to guess").await;
    assert!(shown.contains("too easy to guess"), "{shown}");
    browser.screenshot("reset-password-weak").await;
    browser.clear("#new_password").await;
    browser.clear("#confirm_password").await;
    browser.type_into("#new_password", STRONG).await;
    browser.type_into("#confirm_password", STRONG).await;
    browser.click("button[type=submit]").await;
    let shown = browser.text_with("Password changed").await;
    assert!(shown.contains("Password changed"), "{shown}");
    assert!(
        !browser.url().await.contains("ticket="),
        "no ticket in the address bar after"
    );
    browser.screenshot("reset-password-done").await;
    assert_eq!(env.login(&ana, STRONG, "198.51.100.20").await.status, 200);

    // A block mails an unblock link; its page's button lifts the block.
    let ip = "203.0.113.77";
    for _ in 0..10 {
        env.login(&ana, "wrong guess", ip).await;
        clock.advance(16 * 60);
    }
    assert_eq!(env.login(&ana, STRONG, ip).await.status, 429);
    env.deliver_mail_requests().await;
    let unblock = link(
        &inbox(&ana).await.last().unwrap().html,
        &format!("{base}/v1/tenants/acme/unblock?ticket="),
    );
    browser.open(&unblock).await;
    browser.screenshot("unblock").await;
    browser.click("button[type=submit]").await;
    let shown = browser.text_with("Account unblocked").await;
    assert!(shown.contains("Account unblocked"), "{shown}");
    browser.screenshot("unblocked").await;
    assert_eq!(env.login(&ana, STRONG, ip).await.status, 200);
    browser.quit().await;
}
