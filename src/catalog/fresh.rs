//! Is a table fresh? The newest value of its time column (from the latest statistics) against
//! its declared expectation (`freshness: {expected: daily, max_delay: 2h}`).

use super::Table;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Fresh,
    Stale,
    /// No expectation declared, or no time column statistics to judge by.
    Unknown,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Judgement {
    pub state: State,
    /// The newest value of the time column, as the statistics saw it.
    pub latest: Option<String>,
    /// When those statistics were taken.
    pub as_of: Option<String>,
    /// The declared expectation, e.g. "daily, at most 2h late".
    pub expected: Option<String>,
    /// Why, in words: "latest data 3d 4h old; expected daily + 2h".
    pub detail: String,
}

/// Judge `t` at `now`.
pub fn judge(t: &Table, now: DateTime<Utc>) -> Judgement {
    let latest = t
        .time_column
        .as_deref()
        .and_then(|c| t.column(c))
        .and_then(|c| c.stats.as_ref())
        .and_then(|s| s.max.clone());
    let expected = t.freshness.as_ref().map(|f| {
        format!(
            "{}{}",
            f.expected,
            f.max_delay
                .as_ref()
                .map(|d| format!(", at most {d} late"))
                .unwrap_or_default()
        )
    });
    let allowed = t.freshness.as_ref().and_then(|f| {
        let period = period(&f.expected)?;
        let delay = f
            .max_delay
            .as_deref()
            .map(duration)
            .unwrap_or(Some(chrono::Duration::zero()))?;
        Some(period + delay)
    });
    let newest = latest.as_deref().and_then(parse_time);
    let (state, detail) = match (newest, allowed) {
        (Some(n), Some(a)) => {
            let age = now - n;
            if age > a {
                (
                    State::Stale,
                    format!(
                        "latest data {} old; expected {}",
                        human(age),
                        expected.clone().unwrap_or_default()
                    ),
                )
            } else {
                (
                    State::Fresh,
                    format!(
                        "latest data {} old",
                        human(age.max(chrono::Duration::zero()))
                    ),
                )
            }
        }
        (Some(n), None) => (
            State::Unknown,
            format!(
                "latest data {} old; no freshness expectation declared",
                human((now - n).max(chrono::Duration::zero()))
            ),
        ),
        (None, _) if t.time_column.is_none() => (State::Unknown, "no time column declared".into()),
        (None, _) => (
            State::Unknown,
            "no statistics of the time column (run `skipper catalog refresh`)".into(),
        ),
    };
    Judgement {
        state,
        latest,
        as_of: t.stats_at.clone(),
        expected,
        detail,
    }
}

/// "hourly", "daily", "weekly", "monthly", or a duration.
fn period(text: &str) -> Option<chrono::Duration> {
    match text.trim().to_ascii_lowercase().as_str() {
        "hourly" => Some(chrono::Duration::hours(1)),
        "daily" => Some(chrono::Duration::days(1)),
        "weekly" => Some(chrono::Duration::weeks(1)),
        "monthly" => Some(chrono::Duration::days(31)),
        "yearly" | "annually" => Some(chrono::Duration::days(366)),
        other => duration(other),
    }
}

/// "90m", "6h", "2d", "1w".
fn duration(text: &str) -> Option<chrono::Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let n: i64 = t[..split].parse().ok()?;
    match t[split..].trim() {
        "s" => Some(chrono::Duration::seconds(n)),
        "m" | "min" => Some(chrono::Duration::minutes(n)),
        "h" => Some(chrono::Duration::hours(n)),
        "d" => Some(chrono::Duration::days(n)),
        "w" => Some(chrono::Duration::weeks(n)),
        _ => None,
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f%#z",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t.trim_end_matches('Z'), f) {
            return Some(n.and_utc());
        }
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        // A date covers its whole day.
        .and_then(|d| d.succ_opt())
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
}

fn human(d: chrono::Duration) -> String {
    let mins = d.num_minutes();
    if mins < 60 {
        format!("{mins}m")
    } else if mins < 48 * 60 {
        format!("{}h {}m", mins / 60, mins % 60)
    } else {
        format!("{}d {}h", mins / 1440, (mins % 1440) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_times() {
        assert_eq!(period("daily"), Some(chrono::Duration::days(1)));
        assert_eq!(period("6h"), Some(chrono::Duration::hours(6)));
        assert_eq!(duration("90m"), Some(chrono::Duration::minutes(90)));
        assert_eq!(duration("soon"), None);
        let t = parse_time("2026-11-21 23:00:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-21T23:00:00+00:00");
        // A date means the end of that day.
        assert_eq!(
            parse_time("2026-11-21").unwrap().to_rfc3339(),
            "2026-11-22T00:00:00+00:00"
        );
        assert_eq!(human(chrono::Duration::minutes(3 * 1440 + 250)), "3d 4h");
    }
}
