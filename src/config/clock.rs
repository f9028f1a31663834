//! The one clock Skipper reads. `SKIPPER_NOW` or `--now` pins it so that tests, evals and
//! recorded runs are reproducible; otherwise it is the real clock.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// "Now", real or pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    Real,
    Pinned(DateTime<Utc>),
}

impl Clock {
    /// Parse a pinned instant: RFC 3339 (`2026-11-21T12:00:00Z`), `YYYY-MM-DD HH:MM:SS` (UTC)
    /// or a bare date (midnight UTC).
    pub fn parse(text: &str) -> Result<Clock, String> {
        let t = text.trim();
        if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
            return Ok(Clock::Pinned(dt.with_timezone(&Utc)));
        }
        for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
            if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt) {
                return Ok(Clock::Pinned(Utc.from_utc_datetime(&n)));
            }
        }
        if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            return Ok(Clock::Pinned(Utc.from_utc_datetime(
                &d.and_hms_opt(0, 0, 0).expect("midnight exists"),
            )));
        }
        Err(format!(
            "'{text}' is not a time: use RFC 3339 (2026-11-21T12:00:00Z) or a date (2026-11-21)"
        ))
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::Real => Utc::now(),
            Clock::Pinned(t) => *t,
        }
    }

    pub fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }

    pub fn pinned(&self) -> Option<DateTime<Utc>> {
        match self {
            Clock::Real => None,
            Clock::Pinned(t) => Some(*t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_accepted_forms() {
        let want = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
        for s in [
            "2026-11-21T12:00:00Z",
            "2026-11-21T13:00:00+01:00",
            "2026-11-21 12:00:00",
        ] {
            assert_eq!(Clock::parse(s).unwrap(), Clock::Pinned(want), "{s}");
        }
        assert_eq!(
            Clock::parse("2026-11-21").unwrap().today(),
            NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()
        );
        assert!(Clock::parse("yesterday").is_err());
    }
}
