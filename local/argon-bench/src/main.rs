//! argon2id at the functions' parameters, timed against Debian's `argon2` tool (the C
//! reference, `/usr/bin/argon2`) with the same parameters, interleaved in one run so the
//! machine's load falls on both alike. Prints the medians, their ratio and the budget
//! (docs/performance.md), and exits non-zero on a miss or when the tool is missing.
//!
//! Built with the release profile (`make bench` builds it with the functions); run as
//! `target/release/argon-bench`. `ARGON_RUNS` sets the runs of each (at least 20, default 21).
//!
//! "Ours" is what a hashing function runs: `Argon2Hasher::hash` on a current-thread runtime,
//! hashing on the blocking pool. Debian's is one process per hash, as the tool is used.
//! The hasher as it was, the crate's own `hash_password` (fresh memory each hash) on the
//! blocking pool, is timed after them for reference, interleaved with the tool again; the
//! process's peak resident memory is taken before it runs (ours alone) and after.

use std::io::Write as _;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version};
use shared::adapters::argon::{Argon2Hasher, ITERATIONS, LANES, MEMORY_KIB};
use shared::domain::password::{Password, PasswordHash};
use shared::ports::PasswordHasher as _;
use zeroize::Zeroizing;

const TOOL: &str = "/usr/bin/argon2";
const PASSWORD: &str = "password";
const SALT: &str = "somesalt16bytes!";
/// Ours may take at most this share of the Debian tool's time.
const BUDGET: f64 = 0.80;

/// One run of the Debian tool, timed from spawn to exit; its stdout (the hash as `-r` raw
/// hex or `-e` PHC string).
fn debian(output: &str) -> (Duration, String) {
    let (t, m, p) = (
        ITERATIONS.to_string(),
        MEMORY_KIB.to_string(),
        LANES.to_string(),
    );
    let start = Instant::now();
    let mut child = Command::new(TOOL)
        .args([
            SALT, "-id", "-t", &t, "-k", &m, "-p", &p, "-l", "32", output,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {TOOL}: {e}"));
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(PASSWORD.as_bytes())
        .expect("password written to the tool");
    let out = child.wait_with_output().expect("the tool ran");
    let elapsed = start.elapsed();
    assert!(out.status.success(), "{TOOL} failed: {}", out.status);
    (
        elapsed,
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

/// This process's peak resident memory (`VmHWM`), in MiB.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kib / 1024
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn main() -> ExitCode {
    if !std::path::Path::new(TOOL).exists() {
        eprintln!(
            "argon-bench: {TOOL} is missing: install Debian's `argon2` package (apt-get install argon2); this budget is measured against it"
        );
        return ExitCode::FAILURE;
    }
    let runs: usize = std::env::var("ARGON_RUNS")
        .ok()
        .map(|v| v.parse().expect("ARGON_RUNS is a number"))
        .unwrap_or(21);
    assert!(runs >= 20, "ARGON_RUNS must be at least 20");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let hasher = Argon2Hasher::new();
    let password = Password::offered(Zeroizing::new(PASSWORD.to_owned())).expect("a password");
    let crate_argon = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(MEMORY_KIB, ITERATIONS, LANES, Some(32)).expect("parameters"),
    );

    // Same algorithm, parameters and answer: our verifier accepts the tool's hash.
    let (_, phc) = debian("-e");
    let agrees = rt
        .block_on(hasher.verify(&password, &PasswordHash::from_phc(phc.clone())))
        .expect("the tool's hash verifies");
    assert!(agrees, "our hasher rejects the tool's hash {phc}");

    // A cold start's first hash, then the interleaved runs.
    let start = Instant::now();
    rt.block_on(hasher.hash(&password)).expect("hash");
    let first = start.elapsed();

    let (mut theirs, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        theirs.push(debian("-r").0);

        let start = Instant::now();
        rt.block_on(hasher.hash(&password)).expect("hash");
        ours.push(start.elapsed());
    }
    // Ours alone has run in this process so far (the tool runs in processes of its own).
    let peak_rss = peak_rss_mib();

    // For reference, the hasher as it was (the crate allocating per hash, on the blocking
    // pool), interleaved with the tool again, after the rest so it leaves our peak memory
    // alone.
    let (mut theirs_again, mut fresh) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        theirs_again.push(debian("-r").0);

        let argon = crate_argon.clone();
        let start = Instant::now();
        rt.block_on(rt.spawn_blocking(move || argon.hash_password(PASSWORD.as_bytes()).map(drop)))
            .expect("hashing task")
            .expect("hash");
        fresh.push(start.elapsed());
    }
    let peak_rss_fresh = peak_rss_mib();

    let (theirs, ours) = (median(theirs), median(ours));
    let (theirs_again, fresh) = (median(theirs_again), median(fresh));
    let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
    let ratio_fresh = fresh.as_secs_f64() / theirs_again.as_secs_f64();
    println!(
        "argon2id m={MEMORY_KIB} KiB, t={ITERATIONS}, p={LANES}, 32-byte output; {runs} runs each, interleaved"
    );
    println!();
    println!("| hasher | median ms | / Debian's | peak RSS MiB |");
    println!("|---|---|---|---|");
    println!(
        "| Debian `argon2` (C reference), one process per hash | {} | | |",
        ms(theirs)
    );
    println!(
        "| ours, `Argon2Hasher::hash` (kept memory) | {} | {ratio:.2} | {peak_rss} |",
        ms(ours)
    );
    println!("| ours, the first hash of a process | {} | | |", ms(first));
    println!(
        "| reference, run after with the tool again ({} ms): the crate's `hash_password` (fresh memory per hash) on the blocking pool | {} | {ratio_fresh:.2} | {peak_rss_fresh} |",
        ms(theirs_again),
        ms(fresh)
    );
    println!();
    let within = ratio <= BUDGET;
    println!(
        "ours / Debian: {ratio:.2} (budget ≤ {BUDGET:.2}): {}",
        if within {
            "within budget"
        } else {
            "OVER BUDGET"
        }
    );
    if within {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
