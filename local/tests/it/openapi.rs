//! docs/openapi.yaml is held to the code: its operations are exactly template.yaml's HttpApi
//! routes and the local server's, each naming the function that serves it, with the
//! handler's scopes (public routes none), and the local server serves the file as it is.
//! What each operation answers is held to the running code by `scripts/schemathesis.sh`.

use std::collections::{BTreeMap, BTreeSet};

use local_api::routes::{ROUTES, Route};
use serde_norway::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::Env;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn read(relative: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn document() -> Value {
    serde_norway::from_str(&read("../docs/openapi.yaml")).unwrap()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Tagged(t) => text(&t.value),
        other => format!("{other:?}"),
    }
}

/// Every operation of the document by its route key, `METHOD /path`.
fn operations(doc: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_mapping().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                let key = format!("{} {}", method.to_ascii_uppercase(), text(path));
                assert!(out.insert(key.clone(), op.clone()).is_none(), "{key} twice");
            }
        }
    }
    out
}

fn route(key: &str) -> &'static Route {
    ROUTES
        .iter()
        .find(|r| r.key == key)
        .unwrap_or_else(|| panic!("{key} is no route of the local server"))
}

fn is_auth0(route: &Route) -> bool {
    route.path().starts_with("/api/v2/")
}

#[test]
fn the_document_describes_exactly_the_routes_of_the_template_and_the_local_server() {
    let documented: BTreeSet<String> = operations(&document()).into_keys().collect();
    let served: BTreeSet<String> = ROUTES.iter().map(|r| r.key.to_owned()).collect();
    assert_eq!(documented, served, "the document against the local server");

    let template: Value = serde_norway::from_str(&read("../template.yaml")).unwrap();
    let mut declared = BTreeSet::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if text(&event["Type"]) == "HttpApi" {
                declared.insert(format!(
                    "{} {}",
                    text(&event["Properties"]["Method"]).to_ascii_uppercase(),
                    text(&event["Properties"]["Path"])
                ));
            }
        }
    }
    assert_eq!(documented, declared, "the document against template.yaml");
}

#[test]
fn each_operation_names_the_function_that_serves_it_and_its_dialect() {
    let mut ids = BTreeSet::new();
    for (key, op) in operations(&document()) {
        let route = route(&key);
        assert_eq!(text(&op["x-function"]), route.function, "{key}: x-function");
        let id = text(&op["operationId"]);
        assert!(ids.insert(id.clone()), "{key}: operationId {id} twice");
        assert!(
            id == route.function || id.starts_with(&format!("{}-", route.function)),
            "{key}: operationId {id} is not named after {}",
            route.function
        );
        assert_eq!(id.ends_with("-auth0"), is_auth0(route), "{key}: {id}");
    }
}

#[test]
fn public_routes_take_no_token_and_the_others_any_one_of_the_scopes_their_handler_checks() {
    for (key, op) in operations(&document()) {
        let route = route(&key);
        let security = op["security"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{key}: names no security of its own"));
        if route.public {
            assert!(security.is_empty(), "{key} is public: security: []");
            continue;
        }
        // Alternatives, as OpenAPI reads a list of requirements: any one scope suffices.
        let mut scopes = BTreeSet::new();
        for requirement in security {
            let mapping = requirement.as_mapping().unwrap();
            assert_eq!(mapping.len(), 1, "{key}: one scheme per requirement");
            let names: Vec<String> = requirement["bearer"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{key}: a requirement not of the bearer scheme"))
                .iter()
                .map(text)
                .collect();
            assert!(names.len() <= 1, "{key}: {names:?} would all be required");
            scopes.extend(names);
        }
        let expected: BTreeSet<String> =
            route.handler_scopes.iter().map(|s| s.to_string()).collect();
        assert_eq!(scopes, expected, "{key}: scopes");
        if expected.is_empty() {
            assert_eq!(security.len(), 1, "{key}: any token of the tenant");
        }
    }
}

#[test]
fn a_missing_token_is_documented_as_api_gateways_401_and_every_route_as_rate_limited() {
    let doc = document();
    let gateway = |name: &str| {
        let refs = serde_norway::to_string(&doc["components"]["responses"][name]).unwrap();
        refs.contains("#/components/schemas/GatewayUnauthorized")
    };
    for (key, op) in operations(&doc) {
        let route = route(&key);
        let responses = &op["responses"];
        match responses.get("401") {
            Some(r) => {
                assert!(!route.public, "{key}: a public route is never 401");
                let name = text(&r["$ref"]);
                let name = name.rsplit('/').next().unwrap();
                assert!(gateway(name), "{key}: 401 {name} is not API Gateway's");
            }
            None => assert!(route.public, "{key}: no 401 for a missing token"),
        }
        for status in ["429", "500", "503"] {
            assert!(responses.get(status).is_some(), "{key}: no {status}");
        }
    }
}

#[tokio::test]
async fn the_local_server_serves_the_document_as_yaml() {
    let env = Env::new().await;
    let addr = crate::server::start_with(&env, "test-secret").await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request =
        format!("GET /openapi.yaml HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.lines()
            .any(|l| l.eq_ignore_ascii_case("content-type: application/yaml")),
        "{head}"
    );
    assert!(
        body == read("../docs/openapi.yaml"),
        "the served document differs from the file"
    );
}
