use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An instant in UTC with millisecond precision, written as RFC 3339 (`2026-11-26T05:06:12.345Z`)
/// in responses and in the table, so stored values sort as they compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    pub fn from_datetime(at: OffsetDateTime) -> Self {
        let at = at.to_offset(time::UtcOffset::UTC);
        let millis = at.nanosecond() / 1_000_000 * 1_000_000;
        Timestamp(at.replace_nanosecond(millis).unwrap_or(at))
    }

    pub fn plus_secs(self, secs: i64) -> Self {
        Timestamp(self.0 + time::Duration::seconds(secs))
    }

    pub fn epoch_secs(self) -> i64 {
        self.0.unix_timestamp()
    }

    /// Milliseconds since the epoch: how a value that must be added to atomically is stored.
    pub fn epoch_millis(self) -> i64 {
        i64::try_from(self.0.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    pub fn from_epoch_millis(millis: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
            .ok()
            .map(Timestamp::from_datetime)
    }

    /// Whole seconds from `self` until `later`, rounded up; 0 if `later` is not later.
    pub fn secs_until(self, later: Timestamp) -> u64 {
        let millis = (later.0 - self.0).whole_milliseconds();
        if millis <= 0 {
            0
        } else {
            (millis as u64).div_ceil(1000)
        }
    }

    fn format(&self) -> String {
        // Fixed width (always three fractional digits) keeps lexical order equal to time order.
        let d = self.0;
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second(),
            d.millisecond()
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.format())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        OffsetDateTime::parse(&raw, &Rfc3339)
            .map(Timestamp::from_datetime)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_fixed_width_utc_with_milliseconds() {
        let t =
            Timestamp::from_datetime(time::macros::datetime!(2026-01-02 03:04:05.000_900 +02:00));
        assert_eq!(t.to_string(), "2026-01-02T01:04:05.000Z");
        let back: Timestamp = serde_json::from_value(serde_json::json!(t.to_string())).unwrap();
        assert_eq!(back, t);
    }
}
