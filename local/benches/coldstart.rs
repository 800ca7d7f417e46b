//! Cold starts, as Lambda counts them: each function's release binary, and the floor's (a
//! bare `lambda_http` function that reads one item), started again and again through the
//! Runtime API emulator against a moto of its own and fed its `events/` file, in turns with
//! the floor's, which sets that function's budgets. Prints each figure beside its budget
//! (docs/performance.md) and exits non-zero on a miss.
//!
//! Needs the release binaries: `cargo build --release --workspace --bins` (`make bench` builds
//! them). `COLDSTART_SPAWNS` sets the spawns per binary (at least 10, the default);
//! `COLDSTART_FUNCTIONS=get-user,list-users` measures only those beside the floor.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;

use local_api::template::{ERASING, HASHING};

/// Peak resident memory a function that does not hash may use.
const RSS_BUDGET_KIB: u64 = 32 * 1024;

struct Figures {
    init: Duration,
    first_invoke: Duration,
    peak_rss_kib: u64,
    cpu: Duration,
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

#[derive(Default)]
struct Samples {
    inits: Vec<Duration>,
    invokes: Vec<Duration>,
    cpus: Vec<Duration>,
    peak: u64,
}

impl Samples {
    async fn spawn(&mut self, binary: &Path, event: &str, env: &[(String, String)]) {
        let run = local_api::lambda::invoke(binary, event.to_owned(), env).await;
        let (Some(init), Some(first)) = (run.init, run.first_invoke) else {
            panic!("{} did not answer: {}", binary.display(), run.logs);
        };
        self.inits.push(init);
        self.invokes.push(first);
        self.cpus.push(run.cpu.unwrap_or(Duration::MAX));
        self.peak = self.peak.max(run.peak_rss_kib.unwrap_or(u64::MAX));
    }

    fn figures(self) -> Figures {
        Figures {
            init: median(self.inits),
            first_invoke: median(self.invokes),
            peak_rss_kib: self.peak,
            cpu: median(self.cpus),
        }
    }
}

/// The function's figures and the floor's, from spawns taken in turns (floor, function,
/// floor, …), so whatever else the machine does falls on both alike.
async fn measure_beside(
    floor: (&Path, &str),
    function: (&Path, &str),
    env: &[(String, String)],
    spawns: usize,
) -> (Figures, Figures) {
    let (mut beside, mut measured) = (Samples::default(), Samples::default());
    for _ in 0..spawns {
        beside.spawn(floor.0, floor.1, env).await;
        measured.spawn(function.0, function.1, env).await;
    }
    (beside.figures(), measured.figures())
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let endpoint = std::env::var("MOTO_ENDPOINT")
        .expect("MOTO_ENDPOINT is not set: run through scripts/bench.sh, which starts moto");
    let spawns: usize = std::env::var("COLDSTART_SPAWNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10)
        .max(10);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let release = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("release");

    let log = local_api::moto::CallLog::default();
    let client = local_api::moto::client(&endpoint, &log);
    let table = format!(
        "coldstart-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    shared::adapters::dynamo::table::create(&client, &table)
        .await
        .expect("create the table on moto");
    let sqs = local_api::queue::client(&endpoint, &log);
    let queue = local_api::queue::create(&sqs, &table)
        .await
        .expect("create the queue on moto");
    let secret = format!("{table}-receipt-key");
    local_api::moto::create_receipt_secret(
        &local_api::moto::secrets_client(&endpoint, &log),
        &secret,
    )
    .await
    .expect("create the receipt key secret on moto");

    // One DynamoDB round trip to this moto, warm, as the budget of a first invoke counts it.
    let mut trips = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        client
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S("FLOOR".into()))
            .key("sk", AttributeValue::S("FLOOR".into()))
            .send()
            .await
            .expect("GetItem on moto");
        trips.push(start.elapsed());
    }
    let round_trip = median(trips);

    let env: Vec<(String, String)> = [
        ("TABLE_NAME", table.clone()),
        ("MAIL_QUEUE_URL", queue),
        ("AWS_ENDPOINT_URL", endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("PUBLIC_BASE_URL", "https://id.example.com".to_owned()),
        ("EMAIL_FROM", "no-reply@example.com".to_owned()),
        (
            "TENANT_SETTINGS",
            r#"{"*": {"default_result_url": "https://id.example.com/verified", "result_url_hosts": ["id.example.com"]}}"#
                .to_owned(),
        ),
        ("ERASURE_RECEIPT_SECRET", secret),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    let event = |name: &str| {
        std::fs::read_to_string(root.join("events").join(format!("{name}.json")))
            .unwrap_or_else(|e| panic!("events/{name}.json: {e}"))
    };
    let binary = |name: &str| {
        let path = release.join(name);
        assert!(
            path.exists(),
            "{} is missing: `cargo build --release --workspace --bins` first",
            path.display()
        );
        path
    };

    let (floor_binary, floor_event) = (binary("floor"), event("get-user"));
    println!(
        "| function | init ms | budget: 1.1 × the floor's beside it | first invoke ms | budget: the floor's + {} | peak RSS MiB | CPU ms | within budget |",
        ms(round_trip)
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut functions: Vec<String> = std::fs::read_dir(root.join("events"))
        .expect("events/")
        .filter_map(|e| {
            let path = e.ok()?.path();
            let stem = path.file_stem()?.to_string_lossy().into_owned();
            (path.extension()? == "json").then_some(stem)
        })
        .collect();
    functions.sort();
    // One event per function: a function with several (ses-feedback) is measured once.
    let mut measured = std::collections::BTreeSet::new();
    functions.retain(|f| measured.insert(local_api::template::function_of_event(f).to_owned()));
    if let Ok(only) = std::env::var("COLDSTART_FUNCTIONS") {
        functions.retain(|f| {
            let function = local_api::template::function_of_event(f);
            only.split(',').any(|o| o.trim() == function)
        });
    }
    let mut misses = Vec::new();
    for name in &functions {
        let function = local_api::template::function_of_event(name);
        let (floor, f) = measure_beside(
            (&floor_binary, &floor_event),
            (&binary(function), &event(name)),
            &env,
            spawns,
        )
        .await;
        let mut missed = Vec::new();
        // The functions that erase read the receipt key from Secrets Manager at init: one
        // round trip the floor does not make.
        let init_budget = floor.init.mul_f64(1.1)
            + if ERASING.contains(&name.as_str()) {
                round_trip
            } else {
                Duration::ZERO
            };
        let invoke_budget = floor.first_invoke + round_trip;
        if f.init > init_budget {
            missed.push("init");
        }
        if f.first_invoke > invoke_budget {
            missed.push("first invoke");
        }
        if !HASHING.contains(&function) && f.peak_rss_kib > RSS_BUDGET_KIB {
            missed.push("peak RSS");
        }
        println!(
            "| {function} | {} | {} | {} | {} | {:.1} | {} | {} |",
            ms(f.init),
            ms(init_budget),
            ms(f.first_invoke),
            ms(invoke_budget),
            f.peak_rss_kib as f64 / 1024.0,
            ms(f.cpu),
            if missed.is_empty() {
                "yes".to_owned()
            } else {
                format!("no: {}", missed.join(", "))
            }
        );
        if !missed.is_empty() {
            misses.push(function.to_owned());
        }
    }
    println!(
        "\n{spawns} spawns of each function, each beside a spawn of the floor; medians. One \
         DynamoDB round trip to this moto: {} ms.",
        ms(round_trip)
    );
    // Not a budget row: get-user for a tenant with no rate limit, so no draw beside its read.
    // moto answers one request at a time, so against it a draw costs the first invoke a round
    // trip that DynamoDB would overlap with the read; this row shows how much.
    if functions.iter().any(|f| f == "get-user") {
        let mut undrawn = env.clone();
        for (key, value) in &mut undrawn {
            if key == "TENANT_SETTINGS" {
                let mut settings: serde_json::Value = serde_json::from_str(value).unwrap();
                settings["*"]["rate_limit"] = serde_json::json!({"requests_per_second": 0});
                *value = settings.to_string();
            }
        }
        let (floor, f) = measure_beside(
            (&floor_binary, &floor_event),
            (&binary("get-user"), &event("get-user")),
            &undrawn,
            spawns,
        )
        .await;
        println!(
            "get-user for a tenant without a rate limit (no draw): first invoke {} ms, the \
             floor's beside it {} ms (+ one round trip: {} ms).",
            ms(f.first_invoke),
            ms(floor.first_invoke),
            ms(floor.first_invoke + round_trip)
        );
    }
    if !misses.is_empty() {
        eprintln!("over budget: {}", misses.join(", "));
        std::process::exit(1);
    }
}
