//! What both benchmarks print of the DynamoDB calls an operation made.

/// `calls` as `GetItem + 2× Query + …`, in order of first appearance.
pub fn summarize(calls: &[String]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for c in calls {
        match counts.iter_mut().find(|(n, _)| n == c) {
            Some((_, k)) => *k += 1,
            None => counts.push((c.clone(), 1)),
        }
    }
    counts
        .iter()
        .map(|(n, k)| {
            if *k == 1 {
                n.clone()
            } else {
                format!("{k}× {n}")
            }
        })
        .collect::<Vec<_>>()
        .join(" + ")
}
