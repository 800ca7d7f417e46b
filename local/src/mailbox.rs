//! `/_dev/mail` on the local server (never deployed): the email moto's SES holds, newest
//! first, each shown as its HTML part with working links, so a developer clicks through a
//! reset or a verification in a browser.

use serde_json::Value;

/// One message as moto's SES recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub html: String,
}

/// Every message moto at `endpoint` holds, oldest first (`/moto-api/data.json`, read over
/// plain HTTP: moto's own state API, not an AWS one).
pub async fn messages(endpoint: &str) -> Result<Vec<Mail>, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .map_err(|e| format!("moto at {endpoint} does not answer: {e}"))?;
    let request =
        format!("GET /moto-api/data.json HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw);
    let (_, body) = text
        .split_once("\r\n\r\n")
        .ok_or("moto's answer is not HTTP")?;
    let data: Value = serde_json::from_str(body).map_err(|e| format!("moto's state: {e}"))?;
    let list = data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(list
        .iter()
        .map(|m| Mail {
            to: m["destinations"]["ToAddresses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            subject: m["subject"].as_str().unwrap_or("").to_owned(),
            html: m["body"].as_str().unwrap_or("").to_owned(),
        })
        .collect())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The mailbox page: each message in a sandboxed frame of its own (its styles stay its own,
/// it runs nothing), whose links open in the whole window.
pub fn page(mail: &[Mail]) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Local mailbox</title>\n<style>\n  body { margin: 0 auto; max-width: 52rem; padding: 16px; font-family: -apple-system, BlinkMacSystemFont, \"Segoe UI\", Roboto, sans-serif; color: #1f2937; background: #f3f4f6; }\n  article { margin: 0 0 24px 0; padding: 16px; background: #fff; border-radius: 8px; }\n  h2 { margin: 0 0 4px 0; font-size: 1.125rem; }\n  p { margin: 0 0 12px 0; color: #4b5563; }\n  iframe { width: 100%; height: 32rem; border: 1px solid #d1d5db; border-radius: 4px; background: #fff; }\n</style>\n</head>\n<body>\n<h1>Local mailbox</h1>\n",
    );
    if mail.is_empty() {
        out.push_str("<p>No email yet.</p>\n");
    }
    out.push_str(&format!("<p>{} messages, newest first.</p>\n", mail.len()));
    for m in mail.iter().rev() {
        let framed = format!("<base target=\"_top\">{}", m.html);
        out.push_str(&format!(
            "<article>\n<h2>{}</h2>\n<p>To: {}</p>\n<iframe title=\"{}\" sandbox=\"allow-top-navigation-by-user-activation allow-popups\" srcdoc=\"{}\"></iframe>\n</article>\n",
            escape(&m.subject),
            escape(&m.to.join(", ")),
            escape(&m.subject),
            escape(&framed),
        ));
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_show_newest_first_escaped_with_their_links_leaving_the_frame() {
        let mail = vec![
            Mail {
                to: vec!["a@example.com".into()],
                subject: "First <one>".into(),
                html: "<a href=\"http://127.0.0.1:3000/x?ticket=t&amp;y=1\">Go</a>".into(),
            },
            Mail {
                to: vec!["b@example.com".into()],
                subject: "Second".into(),
                html: String::new(),
            },
        ];
        let html = page(&mail);
        assert!(html.find("Second").unwrap() < html.find("First &lt;one&gt;").unwrap());
        assert!(html.contains("srcdoc=\"&lt;base target=&quot;_top&quot;&gt;&lt;a href=&quot;http://127.0.0.1:3000/x?ticket=t&amp;amp;y=1&quot;"));
        assert!(!html.contains("<one>"));
    }
}
