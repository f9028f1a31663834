//! Time ranges in plain English, read in one time zone: "today", "yesterday", "this week",
//! "last week", "this month", "last month", "this year", "last year", "last 7 days", "past 24
//! hours", "in October", "October 2025", "Q3", "Q3 2025", "in 2025", "since 2026-11-01".
//!
//! Weeks are ISO (Monday first); "last month" is the previous calendar month; "this week" is
//! the ISO week to date; "last N days" is the N days up to and including today; a bare month
//! or quarter is the most recent one that has begun.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

/// A half-open range `[start, end)` in local time, with its words and how it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    /// The phrase as the question said it.
    pub phrase: String,
    /// Whole days (false: hours).
    pub whole_days: bool,
    /// Word positions used.
    pub words: Vec<usize>,
}

impl Range {
    /// "last month = 2026-10-01 … 2026-10-31 UTC"
    pub fn describe(&self, tz: Tz) -> String {
        if self.whole_days {
            let last = self.end.date() - Duration::days(1);
            if last == self.start.date() {
                format!("{} = {} {}", self.phrase, self.start.date(), tz.name())
            } else {
                format!(
                    "{} = {} … {} {}",
                    self.phrase,
                    self.start.date(),
                    last,
                    tz.name()
                )
            }
        } else {
            format!(
                "{} = {} … {} {} (end excluded)",
                self.phrase,
                self.start.format("%Y-%m-%d %H:%M"),
                self.end.format("%Y-%m-%d %H:%M"),
                tz.name()
            )
        }
    }

    /// The bounds as UTC instants.
    pub fn utc(&self, tz: Tz) -> (NaiveDateTime, NaiveDateTime) {
        let conv = |t: NaiveDateTime| {
            tz.from_local_datetime(&t)
                .earliest()
                .map(|d| d.naive_utc())
                .unwrap_or(t)
        };
        (conv(self.start), conv(self.end))
    }
}

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn day_start(d: NaiveDate) -> NaiveDateTime {
    d.and_hms_opt(0, 0, 0).expect("midnight")
}

fn month_start(y: i32, m: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, 1).expect("a valid month")
}

fn add_months(d: NaiveDate, months: i32) -> NaiveDate {
    let total = d.year() * 12 + d.month0() as i32 + months;
    month_start(total.div_euclid(12), total.rem_euclid(12) as u32 + 1)
}

fn number(w: &str) -> Option<i64> {
    let words = [
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve",
    ];
    w.parse()
        .ok()
        .or_else(|| words.iter().position(|x| *x == w).map(|i| i as i64 + 1))
}

fn year_at(words: &[String], i: usize) -> Option<i32> {
    words
        .get(i)
        .and_then(|w| w.parse::<i32>().ok())
        .filter(|y| (1970..=2200).contains(y))
}

/// Find one time range among `words` (lowercased words of the question).
pub fn find(words: &[String], now: DateTime<Tz>) -> Option<Range> {
    let today = now.date_naive();
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let days = |phrase: String, start: NaiveDate, end: NaiveDate, used: Vec<usize>| Range {
        start: day_start(start),
        end: day_start(end),
        phrase,
        whole_days: true,
        words: used,
    };
    let tomorrow = today + Duration::days(1);
    let monday = today - Duration::days(today.weekday().num_days_from_monday() as i64);
    for i in 0..words.len() {
        match w(i) {
            "today" => return Some(days("today".into(), today, tomorrow, vec![i])),
            "yesterday" => {
                return Some(days(
                    "yesterday".into(),
                    today - Duration::days(1),
                    today,
                    vec![i],
                ));
            }
            "this" | "last" | "past" | "previous" => {
                let this = w(i) == "this";
                let unit = w(i + 1);
                let phrase = format!("{} {unit}", w(i));
                match unit {
                    "week" if this => return Some(days(phrase, monday, tomorrow, vec![i, i + 1])),
                    "week" => {
                        return Some(days(
                            phrase,
                            monday - Duration::days(7),
                            monday,
                            vec![i, i + 1],
                        ));
                    }
                    "month" if this => {
                        return Some(days(
                            phrase,
                            month_start(today.year(), today.month()),
                            tomorrow,
                            vec![i, i + 1],
                        ));
                    }
                    "month" => {
                        let first = month_start(today.year(), today.month());
                        return Some(days(phrase, add_months(first, -1), first, vec![i, i + 1]));
                    }
                    "year" if this => {
                        return Some(days(
                            phrase,
                            month_start(today.year(), 1),
                            tomorrow,
                            vec![i, i + 1],
                        ));
                    }
                    "year" => {
                        return Some(days(
                            phrase,
                            month_start(today.year() - 1, 1),
                            month_start(today.year(), 1),
                            vec![i, i + 1],
                        ));
                    }
                    _ if !this => {
                        let n = number(unit)?;
                        if n <= 0 {
                            return None;
                        }
                        let u = w(i + 2).trim_end_matches('s');
                        let phrase = format!("{} {} {}", w(i), unit, w(i + 2));
                        let used = vec![i, i + 1, i + 2];
                        return match u {
                            "day" => {
                                Some(days(phrase, today - Duration::days(n - 1), tomorrow, used))
                            }
                            "week" => Some(days(
                                phrase,
                                today - Duration::days(7 * n - 1),
                                tomorrow,
                                used,
                            )),
                            "month" => Some(days(
                                phrase,
                                today.checked_sub_months(chrono::Months::new(n as u32))?
                                    + Duration::days(1),
                                tomorrow,
                                used,
                            )),
                            "hour" => {
                                let end = now.naive_local();
                                Some(Range {
                                    start: end - Duration::hours(n),
                                    end,
                                    phrase,
                                    whole_days: false,
                                    words: used,
                                })
                            }
                            _ => None,
                        };
                    }
                    _ => {}
                }
            }
            "since" => {
                if let Some(m) = MONTHS.iter().position(|x| *x == w(i + 1)) {
                    // "since November", "since November 1": the most recent one not in the future.
                    let day = w(i + 2)
                        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
                        .parse::<u32>()
                        .ok()
                        .filter(|d| (1..=31).contains(d));
                    let mut used = vec![i, i + 1];
                    if day.is_some() {
                        used.push(i + 2);
                    }
                    let on = |y: i32| NaiveDate::from_ymd_opt(y, m as u32 + 1, day.unwrap_or(1));
                    let d = on(today.year())
                        .filter(|d| *d <= today)
                        .or_else(|| on(today.year() - 1))?;
                    return Some(days(format!("since {d}"), d, tomorrow, used));
                }
                let d = NaiveDate::parse_from_str(w(i + 1), "%Y-%m-%d").ok()?;
                if d > today {
                    return None;
                }
                return Some(days(format!("since {d}"), d, tomorrow, vec![i, i + 1]));
            }
            m if MONTHS.contains(&m) => {
                let month = MONTHS.iter().position(|x| *x == m).expect("a month") as u32 + 1;
                let (year, mut used) = match year_at(words, i + 1) {
                    Some(y) => (y, vec![i, i + 1]),
                    None if month <= today.month() => (today.year(), vec![i]),
                    None => (today.year() - 1, vec![i]),
                };
                if i > 0 && w(i - 1) == "in" {
                    used.push(i - 1);
                }
                let start = month_start(year, month);
                let end = add_months(start, 1).min(tomorrow);
                let phrase = used
                    .iter()
                    .copied()
                    .min()
                    .map(|a| words[a..=*used.iter().max().expect("used")].join(" "))
                    .unwrap_or_default();
                return Some(days(phrase, start, end, used));
            }
            q if q.len() == 2 && q.starts_with('q') && matches!(&q[1..], "1" | "2" | "3" | "4") => {
                let qn: u32 = q[1..].parse().expect("a digit");
                let this_q = today.month0() / 3 + 1;
                let (year, mut used) = match year_at(words, i + 1) {
                    Some(y) => (y, vec![i, i + 1]),
                    None if qn <= this_q => (today.year(), vec![i]),
                    None => (today.year() - 1, vec![i]),
                };
                if i > 0 && w(i - 1) == "in" {
                    used.push(i - 1);
                }
                let start = month_start(year, (qn - 1) * 3 + 1);
                let end = add_months(start, 3).min(tomorrow);
                return Some(days(format!("Q{qn} {year}"), start, end, used));
            }
            "in" | "during" => {
                if let Some(y) = year_at(words, i + 1) {
                    let end = month_start(y + 1, 1).min(tomorrow);
                    return Some(days(
                        format!("in {y}"),
                        month_start(y, 1),
                        end,
                        vec![i, i + 1],
                    ));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    fn at(s: &str) -> String {
        // Sunday 2026-11-22, 14:30 UTC.
        let now = chrono_tz::UTC
            .with_ymd_and_hms(2026, 11, 22, 14, 30, 0)
            .unwrap();
        find(&words(s), now)
            .map(|r| r.describe(chrono_tz::UTC))
            .unwrap_or_else(|| "none".into())
    }

    #[test]
    fn the_phrases_of_the_issue() {
        assert_eq!(at("requests today"), "today = 2026-11-22 UTC");
        assert_eq!(at("requests yesterday"), "yesterday = 2026-11-21 UTC");
        assert_eq!(at("this week"), "this week = 2026-11-16 … 2026-11-22 UTC");
        assert_eq!(at("last week"), "last week = 2026-11-09 … 2026-11-15 UTC");
        assert_eq!(
            at("last 7 days"),
            "last 7 days = 2026-11-16 … 2026-11-22 UTC"
        );
        assert_eq!(
            at("past seven days"),
            "past seven days = 2026-11-16 … 2026-11-22 UTC"
        );
        assert_eq!(at("last month"), "last month = 2026-10-01 … 2026-10-31 UTC");
        assert_eq!(at("this month"), "this month = 2026-11-01 … 2026-11-22 UTC");
        assert_eq!(at("in october"), "in october = 2026-10-01 … 2026-10-31 UTC");
        // A bare month still to come this year means last year's.
        assert_eq!(at("december"), "december = 2025-12-01 … 2025-12-31 UTC");
        assert_eq!(
            at("october 2025"),
            "october 2025 = 2025-10-01 … 2025-10-31 UTC"
        );
        assert_eq!(at("q3"), "Q3 2026 = 2026-07-01 … 2026-09-30 UTC");
        assert_eq!(at("q4"), "Q4 2026 = 2026-10-01 … 2026-11-22 UTC");
        assert_eq!(at("in 2025"), "in 2025 = 2025-01-01 … 2025-12-31 UTC");
        assert_eq!(
            at("since 2026-11-01"),
            "since 2026-11-01 = 2026-11-01 … 2026-11-22 UTC"
        );
        assert_eq!(
            at("since november 1st"),
            "since 2026-11-01 = 2026-11-01 … 2026-11-22 UTC"
        );
        assert_eq!(
            at("since december"),
            "since 2025-12-01 = 2025-12-01 … 2026-11-22 UTC"
        );
        assert_eq!(
            at("last 24 hours"),
            "last 24 hours = 2026-11-21 14:30 … 2026-11-22 14:30 UTC (end excluded)"
        );
        assert_eq!(
            at("last 3 months"),
            "last 3 months = 2026-08-23 … 2026-11-22 UTC"
        );
        assert_eq!(at("accounts by plan"), "none");
        assert_eq!(at("since tomorrow"), "none");
    }

    #[test]
    fn a_zone_moves_the_day() {
        // 00:30 UTC on the 22nd is still the 21st in New York.
        let now = chrono_tz::America::New_York.from_utc_datetime(
            &NaiveDate::from_ymd_opt(2026, 11, 22)
                .unwrap()
                .and_hms_opt(0, 30, 0)
                .unwrap(),
        );
        let r = find(&words("today"), now).unwrap();
        assert_eq!(
            r.describe(chrono_tz::America::New_York),
            "today = 2026-11-21 America/New_York"
        );
        let (s, e) = r.utc(chrono_tz::America::New_York);
        assert_eq!(s.to_string(), "2026-11-21 05:00:00");
        assert_eq!(e.to_string(), "2026-11-22 05:00:00");
    }
}
