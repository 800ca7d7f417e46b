use serde_json::json;

use crate::support::{Env, user_path};

#[tokio::test]
async fn malformed_requests_get_a_precise_400_and_change_nothing() {
    let env = Env::new().await;
    let u = env.create_ana().await;
    let path = user_path(&u);
    let before = env.items().await.len();
    let admin = env.admin();
    let cases: Vec<(&str, String, Vec<u8>, u16, &str)> = vec![
        (
            "POST",
            "/v1/tenants/acme/users".into(),
            b"{\"email\":".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/v1/tenants/acme/users".into(),
            b"".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/v1/tenants/acme/users".into(),
            br#"{"email":"a@example.com","password":"correct horse","email_verified":"yes"}"#
                .to_vec(),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/v1/tenants/acme/users".into(),
            br#"{"email":"nope","password":"correct horse"}"#.to_vec(),
            400,
            "invalid_email",
        ),
        (
            "POST",
            "/v1/tenants/acme/users".into(),
            br#"{"email":"a@example.com","email":"b@example.com","password":"correct horse"}"#
                .to_vec(),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/v1/tenants/acme/users".into(),
            json!({"email": "a@example.com", "password": "correct horse", "name": "n".repeat(301)})
                .to_string()
                .into_bytes(),
            400,
            "invalid_body",
        ),
        (
            "PATCH",
            path.clone(),
            br#"{"unknown":1}"#.to_vec(),
            400,
            "invalid_body",
        ),
        (
            "PATCH",
            path.clone(),
            br#"{"name":5}"#.to_vec(),
            400,
            "invalid_body",
        ),
        (
            "PATCH",
            path.clone(),
            br#"[]"#.to_vec(),
            400,
            "invalid_body",
        ),
        (
            "PATCH",
            path.clone(),
            br#"{"email":null}"#.to_vec(),
            400,
            "invalid_body",
        ),
        (
            "PATCH",
            path.clone(),
            br#"{"picture":"not a url"}"#.to_vec(),
            400,
            "invalid_body",
        ),
        (
            "GET",
            "/v1/tenants/acme/users/not-a-user-id".into(),
            vec![],
            400,
            "invalid_user_id",
        ),
        (
            "GET",
            "/v1/tenants/acme/users/usr_01jdq8z6v3n4w5x6y7z8a9b0c1".into(),
            vec![],
            400,
            "invalid_user_id",
        ),
        (
            "GET",
            "/v1/tenants/ACME/users".into(),
            vec![],
            400,
            "invalid_tenant_id",
        ),
        (
            "GET",
            "/v1/tenants/acme/users?limit=0".into(),
            vec![],
            400,
            "invalid_query",
        ),
        (
            "GET",
            "/v1/tenants/acme/users?limit=500".into(),
            vec![],
            400,
            "invalid_query",
        ),
        (
            "GET",
            "/v1/tenants/acme/users?cursor=forged".into(),
            vec![],
            400,
            "invalid_cursor",
        ),
        (
            "GET",
            "/v1/tenants/acme/users?sort=name".into(),
            vec![],
            400,
            "invalid_query",
        ),
        (
            "GET",
            "/v1/tenants/acme/users?email=not-an-email".into(),
            vec![],
            400,
            "invalid_email",
        ),
    ];
    for (method, p, body, status, code) in cases {
        let r = env.send_raw(method, &p, Some(&admin), &body, &[]).await;
        assert_eq!(
            (r.status, r.code()),
            (status, code),
            "{method} {p} {}: {}",
            String::from_utf8_lossy(&body),
            r.raw
        );
        assert_eq!(r.body["statusCode"], status);
        assert_eq!(r.body["error"], "Bad Request");
        assert!(
            r.body["message"].as_str().is_some_and(|m| m.len() > 10),
            "{}",
            r.raw
        );
    }
    assert_eq!(env.items().await.len(), before);
    assert_eq!(env.get_user(&u).await.body["version"], 1);
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let env = Env::new().await;
    let big = json!({"email": "a@example.com", "password": "correct horse", "name": "x".repeat(300 * 1024)});
    let r = env.post_user(big.clone()).await;
    assert_eq!((r.status, r.code()), (413, "payload_too_large"));
    assert!(env.items().await.is_empty());
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let env = Env::new().await;
    let admin = env.admin();
    let r = env
        .send_raw(
            "POST",
            "/v1/tenants/acme/users",
            Some(&admin),
            b"email=a@example.com",
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await;
    assert_eq!((r.status, r.code()), (415, "unsupported_media_type"));
}

#[tokio::test]
async fn error_bodies_are_json_with_the_documented_fields() {
    let env = Env::new().await;
    let r = env.get_user("usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C1").await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.body,
        json!({"statusCode": 404, "error": "Not Found", "message": "The user does not exist.", "errorCode": "user_not_found"})
    );
}
