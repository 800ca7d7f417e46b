//! Statistics the benches judge budgets by.

/// A distribution-free 95% confidence interval of the median of `sorted` (ascending): the
/// order statistics `d` in from either end, `d` the largest with P(Binomial(n, ½) < d) ≤ 2.5%.
/// Too few values for one (under six): all of them; none: NaN, which no budget holds.
pub fn median_interval(sorted: &[f64]) -> (f64, f64) {
    let n = sorted.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let (mut below, mut point, mut d) = (0.0, 0.5f64.powi(n as i32), 0);
    for i in 0..n {
        if below + point > 0.025 {
            break;
        }
        below += point;
        d = i + 1;
        point *= (n - i) as f64 / (i + 1) as f64;
    }
    match d {
        0 => (sorted[0], sorted[n - 1]),
        d => (sorted[d - 1], sorted[n - d]),
    }
}

#[cfg(test)]
mod tests {
    use super::median_interval;

    fn one_to(n: usize) -> Vec<f64> {
        (1..=n).map(|i| i as f64).collect()
    }

    #[test]
    fn twenty_values_bound_their_median_by_the_sixth_and_the_fifteenth() {
        assert_eq!(median_interval(&one_to(20)), (6.0, 15.0));
    }

    #[test]
    fn more_values_bound_their_median_more_tightly() {
        // As binomial tables have them: 40 values, the 14th and the 27th; 60, the 22nd and the
        // 39th; 200 (the cold-start bench's cap), the 86th and the 115th.
        assert_eq!(median_interval(&one_to(40)), (14.0, 27.0));
        assert_eq!(median_interval(&one_to(60)), (22.0, 39.0));
        assert_eq!(median_interval(&one_to(200)), (86.0, 115.0));
    }

    #[test]
    fn under_six_values_are_bounded_by_all_of_them() {
        assert_eq!(median_interval(&one_to(5)), (1.0, 5.0));
        assert_eq!(median_interval(&[7.0]), (7.0, 7.0));
        assert!(median_interval(&[]).0.is_nan());
    }
}
