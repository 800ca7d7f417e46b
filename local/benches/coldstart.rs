//! Cold starts, as Lambda counts them: each function's release binary, and the floor's (a
//! bare `lambda_http` function that reads one item), started again and again through the
//! Runtime API emulator against a moto of its own, in turns with the floor's, which sets that
//! function's budgets. Each process of a function is handed its `events/` file twice, the
//! table set before each as the event expects ([`local_api::fixtures`]), so the first (cold)
//! invocation and the second (warm) one do the same work. Prints each figure beside its
//! budget (docs/performance.md, "Cold starts") and exits non-zero on a miss, or when a
//! function answers other than its event's success.
//!
//! Needs the release binaries: `cargo build --release --workspace --bins` (`make bench` builds
//! them). `COLDSTART_SPAWNS` sets the spawns per binary a verdict needs at least (at least 10;
//! 20 by default), `COLDSTART_MAX_SPAWNS` how many it may take while the pairs leave it open
//! (200 by default; [`Paired::settled`]); `COLDSTART_FUNCTIONS=get-user,list-users` measures
//! only those beside the floor.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;

use local_api::lambda::Process;
use local_api::template::{ERASING, HASHING};
use shared::adapters::dynamo::DynamoStore;

/// Peak resident memory a function that does not hash may use.
const RSS_BUDGET_KIB: u64 = 32 * 1024;

struct Figures {
    init: Duration,
    first_invoke: Duration,
    warm_invoke: Duration,
    /// What the first invocation took over the warm one, in ms: the median of the spawns'
    /// differences, negative where the warm one took longer.
    cold_cost: f64,
    peak_rss_kib: u64,
    cpu: Duration,
}

/// A function's spawns against the floor's, each pair taken one after the other, with a
/// DynamoDB round trip timed between the floor's spawn and the function's: the median of the
/// pairs' init ratios, of what the function's cold cost exceeds the floor's by, and of that
/// less the pair's round trip (the budget: at most zero). A busy moment of the machine, or of
/// moto, falls on all three of a pair, so these vary less than the medians do.
struct Paired {
    init_ratio: f64,
    /// Milliseconds.
    cold_over: f64,
    round_trip: Duration,
    /// Milliseconds; negative while within.
    cold_over_allowance: f64,
    /// 95% confidence intervals of the two medians the budgets hold.
    init_ratio_interval: (f64, f64),
    cold_over_allowance_interval: (f64, f64),
    pairs: usize,
}

/// The init ratio's budget.
const INIT_RATIO_BUDGET: f64 = 1.1;

/// Pairs taken at a time once a function's minimum is in and its verdict is still open.
const MORE_PAIRS: usize = 10;

impl Paired {
    /// Whether the pairs decide both verdicts: each median's confidence interval lies wholly
    /// on one side of its budget. A long invocation varies by several milliseconds from one
    /// to the next (its hash and its round trips to moto), so 20 pairs of it leave its median
    /// a millisecond or two from where more pairs put it; a function whose interval straddles
    /// a budget is measured further, up to a cap, and judged by its median then as always.
    /// The rule looks at both sides alike, so it settles a miss as readily as a pass.
    fn settled(&self) -> bool {
        let apart = |(low, high): (f64, f64), budget: f64| high <= budget || low > budget;
        apart(self.init_ratio_interval, INIT_RATIO_BUDGET)
            && apart(self.cold_over_allowance_interval, 0.0)
    }
}

fn paired(floor: &Samples, function: &Samples, erases: bool) -> Paired {
    let pairs = || {
        floor
            .inits
            .iter()
            .zip(&floor.cold_costs)
            .zip(function.inits.iter().zip(&function.cold_costs))
            .zip(&function.round_trips)
    };
    // The functions that erase read the receipt key from Secrets Manager at init: one
    // round trip the floor does not make.
    let mut ratios: Vec<f64> = pairs()
        .map(|(((f, _), (g, _)), trip)| {
            let allowance = if erases { *trip } else { Duration::ZERO };
            g.saturating_sub(allowance).as_secs_f64() / f.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let over = pairs().map(|(((_, f), (_, g)), _)| g - f).collect();
    let mut margins: Vec<f64> = pairs()
        .map(|(((_, f), (_, g)), trip)| g - f - trip.as_secs_f64() * 1000.0)
        .collect();
    margins.sort_by(f64::total_cmp);
    Paired {
        init_ratio: ratios[ratios.len() / 2],
        cold_over: median_ms(over),
        round_trip: median(function.round_trips.clone()),
        cold_over_allowance: margins[margins.len() / 2],
        init_ratio_interval: local_api::stats::median_interval(&ratios),
        cold_over_allowance_interval: local_api::stats::median_interval(&margins),
        pairs: margins.len(),
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn median_ms(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[derive(Default)]
struct Samples {
    inits: Vec<Duration>,
    firsts: Vec<Duration>,
    warms: Vec<Duration>,
    /// Milliseconds, signed: a warm invocation can take longer than the first.
    cold_costs: Vec<f64>,
    cpus: Vec<Duration>,
    /// One DynamoDB round trip to the same moto, timed just before each spawn.
    round_trips: Vec<Duration>,
    peak: u64,
}

impl Samples {
    fn figures(&self) -> Figures {
        Figures {
            init: median(self.inits.clone()),
            first_invoke: median(self.firsts.clone()),
            warm_invoke: median(self.warms.clone()),
            cold_cost: median_ms(self.cold_costs.clone()),
            peak_rss_kib: self.peak,
            cpu: median(self.cpus.clone()),
        }
    }
}

/// What an invocation answered: an HTTP event's status code, else the outcome's kind.
fn answer(outcome: &(String, String)) -> String {
    let (kind, body) = outcome;
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("statusCode").map(|s| s.to_string()))
        .unwrap_or_else(|| kind.clone())
}

/// The moto table the functions run against, and an app over it to set it as the events
/// expect.
struct Bench {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// The same table as a store, for its batched deletes.
    store: DynamoStore,
    app: shared::App,
    env: Vec<(String, String)>,
}

impl Bench {
    /// Empties the table and stores what the events refer to: every invocation finds it alike.
    /// The deletes go 25 to a `BatchWriteItem` ([`DynamoStore::delete_items`]): one request each
    /// made the resets most of a pair's time, and the pairs a verdict takes are what the bench's
    /// length is made of.
    async fn reset(&self) {
        let items = shared::adapters::dynamo::scan_all(&self.client, &self.table)
            .await
            .expect("scan the table on moto");
        self.store
            .delete_items(&items)
            .await
            .expect("BatchWriteItem on moto");
        local_api::fixtures::seed(&self.app).await;
        tokio::time::sleep(Duration::from_millis(
            std::env::var("COLDSTART_SETTLE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        ))
        .await;
    }

    /// One process of `binary`, handed `event` twice, each time after a [`Bench::reset`]:
    /// its samples, and the answers of its two invocations.
    async fn spawn(&self, binary: &Path, event: &str, samples: &mut Samples) -> (String, String) {
        // Before the spawn, not during its init, which the work would slow.
        self.reset().await;
        let mut process = Process::start(binary, &self.env)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut runs = Vec::new();
        let mut cold_cpu = None;
        for round in 0..2 {
            if round > 0 {
                self.reset().await;
            }
            match process.invoke(event.to_owned()).await {
                Some(run) => runs.push(run),
                None => break,
            }
            // What a cold start costs in CPU: its init and first invocation.
            cold_cpu = cold_cpu.or_else(|| process.cpu());
        }
        let init = process.init();
        let ended = process.end().await;
        let ([(first, first_answer), (warm, warm_answer)], Some(init)) = (
            <[_; 2]>::try_from(runs).unwrap_or_else(|runs| {
                panic!(
                    "{} answered {} of its two invocations: {}",
                    binary.display(),
                    runs.len(),
                    ended.logs
                )
            }),
            init,
        ) else {
            panic!("{} never polled for an event", binary.display());
        };
        samples.inits.push(init);
        samples.firsts.push(first);
        samples.warms.push(warm);
        samples
            .cold_costs
            .push((first.as_secs_f64() - warm.as_secs_f64()) * 1000.0);
        samples.cpus.push(cold_cpu.unwrap_or(Duration::MAX));
        samples.peak = samples.peak.max(ended.peak_rss_kib.unwrap_or(u64::MAX));
        (answer(&first_answer), answer(&warm_answer))
    }

    /// One DynamoDB round trip to this moto from a warm client, as the budget of a first
    /// invoke counts it: the median of five `GetItem`s.
    async fn round_trip(&self) -> Duration {
        let mut trips = Vec::new();
        for _ in 0..5 {
            let start = Instant::now();
            self.client
                .get_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S("FLOOR".into()))
                .key("sk", AttributeValue::S("FLOOR".into()))
                .send()
                .await
                .expect("GetItem on moto");
            trips.push(start.elapsed());
        }
        median(trips)
    }

    /// `spawns` more of the function's samples and the floor's, from spawns taken in turns
    /// (floor, function, floor, …), so whatever else the machine does falls on both alike;
    /// each different pair of answers of the function's invocations is kept once.
    async fn measure_beside(
        &self,
        floor: (&Path, &str),
        function: (&Path, &str),
        spawns: usize,
        (beside, measured): (&mut Samples, &mut Samples),
        answers: &mut Vec<(String, String)>,
    ) {
        for _ in 0..spawns {
            self.spawn(floor.0, floor.1, beside).await;
            measured.round_trips.push(self.round_trip().await);
            let pair = self.spawn(function.0, function.1, measured).await;
            if !answers.contains(&pair) {
                answers.push(pair);
            }
        }
    }
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
        .unwrap_or(20)
        .max(10);
    let max_spawns: usize = std::env::var("COLDSTART_MAX_SPAWNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
        .max(spawns);
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
    let public_base = "https://id.example.com";
    let sender = "no-reply@example.com";
    let ses = local_api::moto::ses_client(&endpoint);
    if let Some(domain) = local_api::moto::sender_domain(sender) {
        local_api::moto::create_identity(&ses, domain)
            .await
            .expect("create the sender identity on moto");
    }
    let app = shared::app::wire(
        client.clone(),
        table.clone(),
        std::sync::Arc::new(shared::adapters::ses::SesMailer::new(
            ses,
            sender.into(),
            None,
        )),
        shared::domain::tenant::EmailSettings::local(url::Url::parse(public_base).unwrap()),
    );

    let env: Vec<(String, String)> = [
        ("TABLE_NAME", table.clone()),
        ("MAIL_QUEUE_URL", queue),
        ("AWS_ENDPOINT_URL", endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("PUBLIC_BASE_URL", public_base.to_owned()),
        ("EMAIL_FROM", sender.to_owned()),
        (
            "TENANT_SETTINGS",
            local_api::fixtures::TENANT_SETTINGS.to_owned(),
        ),
        ("ERASURE_RECEIPT_SECRET", secret),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let bench = Bench {
        store: DynamoStore::new(client.clone(), table.clone()),
        client,
        table,
        app,
        env,
    };

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
        "| function | answer | init ms | the floor's ms | init / the floor's (≤ 1.1) | first invoke ms | warm invoke ms | first over warm ms | the floor's ms | over the floor's ms | a round trip ms | over the floor's less a round trip (≤ 0) | its 95% interval | pairs | peak RSS MiB | cold start CPU ms | within budget |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
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
    let mut wrong = Vec::new();
    for name in &functions {
        let function = local_api::template::function_of_event(name);
        let (mut floor_samples, mut samples) = (Samples::default(), Samples::default());
        let mut answers = Vec::new();
        let erases = ERASING.contains(&name.as_str());
        let mut taking = spawns;
        let pair = loop {
            bench
                .measure_beside(
                    (&floor_binary, &floor_event),
                    (&binary(function), &event(name)),
                    taking,
                    (&mut floor_samples, &mut samples),
                    &mut answers,
                )
                .await;
            let pair = paired(&floor_samples, &samples, erases);
            if pair.settled() || pair.pairs >= max_spawns || answers.len() > 1 {
                break pair;
            }
            taking = MORE_PAIRS.min(max_spawns - pair.pairs);
        };
        // An HTTP event answers its success status; any other event, a response.
        let expected = match answers[0].0.parse::<u16>() {
            Ok(_) => local_api::fixtures::expected_status(function).to_string(),
            Err(_) => "response".to_owned(),
        };
        if answers != [(expected.clone(), expected.clone())] {
            wrong.push(format!("{function} answered {answers:?}, not {expected}"));
        }
        let (floor, f) = (floor_samples.figures(), samples.figures());
        let mut missed = Vec::new();
        if pair.init_ratio > INIT_RATIO_BUDGET {
            missed.push("init");
        }
        // What being cold adds to a request: a function's own work (its round trips, a hash)
        // is the same in both invocations, and budgets 4 to 6 hold it (docs/performance.md).
        if pair.cold_over_allowance > 0.0 {
            missed.push("first invoke");
        }
        if !HASHING.contains(&function) && f.peak_rss_kib > RSS_BUDGET_KIB {
            missed.push("peak RSS");
        }
        println!(
            "| {function} | {} | {} | {} | {:.2} | {} | {} | {:.1} | {:.1} | {:.1} | {} | {:.1} | {:.1} to {:.1} | {} | {:.1} | {} | {} |",
            answers[0].0,
            ms(f.init),
            ms(floor.init),
            pair.init_ratio,
            ms(f.first_invoke),
            ms(f.warm_invoke),
            f.cold_cost,
            floor.cold_cost,
            pair.cold_over,
            ms(pair.round_trip),
            pair.cold_over_allowance,
            pair.cold_over_allowance_interval.0,
            pair.cold_over_allowance_interval.1,
            pair.pairs,
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
        "\n{spawns} to {max_spawns} spawns of each function (more while the pairs leave a verdict \
         open), each beside a spawn of the floor, a round trip to this moto (a `GetItem`) timed \
         before each; medians, and the distribution-free 95% interval of the budget's."
    );
    for line in &wrong {
        eprintln!("measured the wrong work: {line}");
    }
    if !misses.is_empty() {
        eprintln!("over budget: {}", misses.join(", "));
    }
    if !misses.is_empty() || !wrong.is_empty() {
        std::process::exit(1);
    }
}
