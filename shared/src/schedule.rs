//! The drain loop the scheduled functions share (`email-outbox`, `purge`): passes over due
//! work, one after another, while each left more behind, made progress, and the invocation
//! has time for another.

use std::future::Future;
use std::time::{Duration, SystemTime};

use crate::domain::Error;
use crate::domain::erasure::PurgeReport;
use crate::operations::email::DeliveryReport;

/// What one pass of a scheduled job reports.
pub trait Pass: Default {
    /// Adds another pass's counts to these.
    fn add(&mut self, other: &Self);
    /// Whether the pass left due work behind (it took a full batch).
    fn more(&self) -> bool;
    /// Whether the pass changed anything: one that did not would read the same entries again,
    /// so they wait for the next run.
    fn progressed(&self) -> bool;
}

impl Pass for DeliveryReport {
    fn add(&mut self, other: &Self) {
        self.due += other.due;
        self.sent += other.sent;
        self.retrying += other.retrying;
        self.abandoned += other.abandoned;
        self.dropped += other.dropped;
        self.suppressed += other.suppressed;
        self.skipped += other.skipped;
        self.unreadable += other.unreadable;
        self.more = other.more;
    }

    fn more(&self) -> bool {
        self.more
    }

    /// Every message a pass took is leased or done, so none is due to the next pass.
    fn progressed(&self) -> bool {
        self.due > 0
    }
}

impl Pass for PurgeReport {
    fn add(&mut self, other: &PurgeReport) {
        self.due += other.due;
        self.purged += other.purged;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.warned += other.warned;
        self.rescheduled += other.rescheduled;
        self.items_read += other.items_read;
        self.more = other.more;
    }

    fn more(&self) -> bool {
        self.more
    }

    fn progressed(&self) -> bool {
        self.purged + self.warned + self.rescheduled > 0
    }
}

/// What a run drained.
#[derive(Debug)]
pub struct Drained<R> {
    pub total: R,
    /// Whether due work was left for the next run (a full last pass, or no time).
    pub remaining: bool,
}

/// Runs `pass` until the work runs out, stops progressing, or less than `reserve` is left
/// before `deadline`. A failed pass ends the run; the passes before it are in the error's
/// `Drained`.
pub async fn drain<R, F, Fut>(
    deadline: SystemTime,
    reserve: Duration,
    mut pass: F,
) -> Result<Drained<R>, (Drained<R>, Error)>
where
    R: Pass,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<R, Error>>,
{
    let mut total = R::default();
    loop {
        let report = match pass().await {
            Ok(report) => report,
            Err(e) => {
                let remaining = true;
                return Err((Drained { total, remaining }, e));
            }
        };
        total.add(&report);
        if !report.more() || !report.progressed() {
            let remaining = report.more();
            return Ok(Drained { total, remaining });
        }
        let time_left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        if time_left < reserve {
            return Ok(Drained {
                total,
                remaining: true,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq)]
    struct Count {
        done: usize,
        more: bool,
    }

    impl Pass for Count {
        fn add(&mut self, other: &Self) {
            self.done += other.done;
            self.more = other.more;
        }
        fn more(&self) -> bool {
            self.more
        }
        fn progressed(&self) -> bool {
            self.done > 0
        }
    }

    fn far() -> SystemTime {
        SystemTime::now() + Duration::from_secs(600)
    }

    #[tokio::test]
    async fn a_run_drains_until_a_pass_leaves_nothing_behind() {
        let mut left = 5;
        let run = drain(far(), Duration::from_secs(1), || {
            let done = left.min(2);
            left -= done;
            let more = left > 0;
            async move { Ok(Count { done, more }) }
        })
        .await
        .unwrap();
        assert_eq!(run.total.done, 5);
        assert!(!run.remaining);
    }

    #[tokio::test]
    async fn a_pass_that_changes_nothing_leaves_the_rest_for_the_next_run() {
        let mut passes = 0;
        let run = drain(far(), Duration::from_secs(1), || {
            passes += 1;
            async {
                Ok(Count {
                    done: 0,
                    more: true,
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(passes, 1);
        assert!(run.remaining);
    }

    #[tokio::test]
    async fn a_run_without_time_for_another_pass_stops() {
        let mut passes = 0;
        let run = drain(SystemTime::now(), Duration::from_secs(30), || {
            passes += 1;
            async {
                Ok(Count {
                    done: 1,
                    more: true,
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(passes, 1);
        assert!(run.remaining);
    }

    #[tokio::test]
    async fn a_failed_pass_ends_the_run_with_what_was_done() {
        let mut passes = 0;
        let (run, e) = drain(far(), Duration::from_secs(1), || {
            passes += 1;
            let n = passes;
            async move {
                if n == 2 {
                    Err(Error::unavailable("throttled"))
                } else {
                    Ok(Count {
                        done: 1,
                        more: true,
                    })
                }
            }
        })
        .await
        .unwrap_err();
        assert_eq!(run.total.done, 1);
        assert!(matches!(e, Error::Unavailable { .. }));
    }
}
