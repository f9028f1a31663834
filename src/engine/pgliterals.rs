//! Literals Postgres reads and DataFusion's parsers refuse, rewritten in the statement to a
//! spelling both read the same way, before DataFusion plans it:
//! - intervals with a time part or a separated sign (`'2 days 00:00:01'`, `'1 month - 1 day'`,
//!   `'@ 3 hours ago'`), read as Postgres's `DecodeInterval` does, fractions cascading down
//!   (`'1.5 months'` is 1 month 15 days);
//! - timestamps without seconds (`'2024-03-05 10:00'`);
//! - numerics in exponent form (`'1e3'::numeric`).
//!
//! Only literals DataFusion cannot read are rewritten, so a literal DataFusion reads keeps its
//! meaning. Interval literals with fields (`INTERVAL '1' DAY`) are left alone.

use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::{DataType as ArrowType, IntervalUnit};
use datafusion::sql::sqlparser::ast::{
    DataType, Expr, Statement, Value, ValueWithSpan, VisitMut, VisitorMut,
};
use std::ops::ControlFlow;

const MICROS_PER_DAY: f64 = 86_400_000_000.0;

/// Rewrite the statement's literals (see the module docs).
pub(super) fn postgres_literals(statement: &mut Statement) {
    struct V;
    impl VisitorMut for V {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            match e {
                Expr::Interval(iv) if iv.leading_field.is_none() && iv.last_field.is_none() => {
                    rewrite_string(&mut iv.value, interval_text);
                }
                Expr::Cast {
                    expr, data_type, ..
                } => {
                    let fix = fixer(data_type);
                    if let Some(fix) = fix {
                        rewrite_string(expr, fix);
                    }
                }
                Expr::TypedString(ts) => {
                    if let (Some(fix), Value::SingleQuotedString(s)) =
                        (fixer(&ts.data_type), &mut ts.value.value)
                        && let Some(fixed) = fix(s)
                    {
                        *s = fixed;
                    }
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut V);
}

type Fix = fn(&str) -> Option<String>;

fn fixer(t: &DataType) -> Option<Fix> {
    match t {
        DataType::Interval { fields: None, .. } => Some(interval_text),
        DataType::Timestamp(_, _) | DataType::Datetime(_) => Some(timestamp_text),
        DataType::Numeric(_) | DataType::Decimal(_) | DataType::Dec(_) => Some(numeric_text),
        _ => None,
    }
}

fn rewrite_string(e: &mut Expr, fix: Fix) {
    if let Expr::Value(ValueWithSpan {
        value: Value::SingleQuotedString(s),
        ..
    }) = e
        && let Some(fixed) = fix(s)
    {
        *s = fixed;
    }
}

/// Whether DataFusion (arrow's cast) reads `text` as `to`.
fn arrow_reads(text: &str, to: &ArrowType) -> bool {
    let array = StringArray::from(vec![text]);
    datafusion::arrow::compute::cast_with_options(
        &array,
        to,
        &datafusion::arrow::compute::CastOptions {
            safe: false,
            ..Default::default()
        },
    )
    .is_ok()
}

/// An interval literal arrow cannot read, as `N months N days N microseconds`.
fn interval_text(text: &str) -> Option<String> {
    let interval = ArrowType::Interval(IntervalUnit::MonthDayNano);
    if arrow_reads(text, &interval) {
        return None;
    }
    let (months, days, micros) = parse_interval(text)?;
    let canonical = format!("{months} months {days} days {micros} microseconds");
    arrow_reads(&canonical, &interval).then_some(canonical)
}

/// Postgres's reading of an interval (IntervalStyle `postgres` input, as `DecodeInterval`):
/// `(months, days, microseconds)`.
pub(crate) fn parse_interval(text: &str) -> Option<(i64, i64, i64)> {
    let mut months = 0i64;
    let mut days = 0i64;
    let mut micros = 0f64;
    let tokens = tokenize(text);
    let mut i = 0;
    let mut pending_sign = 1.0;
    let mut ago = false;
    let mut any = false;
    while i < tokens.len() {
        let t = tokens[i].as_str();
        i += 1;
        if t == "@" {
            continue;
        }
        if t == "-" || t == "+" {
            pending_sign = if t == "-" { -1.0 } else { 1.0 };
            continue;
        }
        if t.eq_ignore_ascii_case("ago") {
            ago = true;
            continue;
        }
        let (sign, body) = match t.strip_prefix('-') {
            Some(rest) => (-pending_sign, rest),
            None => (pending_sign, t.strip_prefix('+').unwrap_or(t)),
        };
        pending_sign = 1.0;
        if body.contains(':') {
            micros += sign * clock_micros(body)?;
            any = true;
            continue;
        }
        let value: f64 = body.parse().ok().filter(|v: &f64| v.is_finite())?;
        let value = sign * value;
        let unit = tokens
            .get(i)
            .filter(|u| u.chars().all(|c| c.is_ascii_alphabetic()));
        let Some(unit) = unit.filter(|u| !u.eq_ignore_ascii_case("ago")) else {
            // A bare number is seconds.
            micros += value * 1e6;
            any = true;
            continue;
        };
        i += 1;
        any = true;
        let whole = value.trunc();
        let frac = value - whole;
        // Fractions of days, weeks and months go to days, then to time (AdjustFractDays).
        let add_days = |d: f64, days: &mut i64, micros: &mut f64| {
            *days += d.trunc() as i64;
            *micros += (d - d.trunc()) * MICROS_PER_DAY;
        };
        match unit.to_ascii_lowercase().as_str() {
            "microsecond" | "microseconds" | "usec" | "usecs" | "us" => micros += value,
            "millisecond" | "milliseconds" | "msec" | "msecs" | "ms" => micros += value * 1e3,
            "second" | "seconds" | "sec" | "secs" | "s" => micros += value * 1e6,
            "minute" | "minutes" | "min" | "mins" | "m" => micros += value * 60e6,
            "hour" | "hours" | "hr" | "hrs" | "h" => micros += value * 3600e6,
            "day" | "days" | "d" => add_days(value, &mut days, &mut micros),
            "week" | "weeks" | "w" => add_days(value * 7.0, &mut days, &mut micros),
            "month" | "months" | "mon" | "mons" => {
                months += whole as i64;
                add_days(frac * 30.0, &mut days, &mut micros);
            }
            "year" | "years" | "yr" | "yrs" | "y" => {
                months += whole as i64 * 12 + (frac * 12.0).round_ties_even() as i64
            }
            "decade" | "decades" => months += (value * 120.0).round_ties_even() as i64,
            "century" | "centuries" => months += (value * 1200.0).round_ties_even() as i64,
            "millennium" | "millennia" => months += (value * 12000.0).round_ties_even() as i64,
            _ => return None,
        }
    }
    if !any {
        return None;
    }
    let mut micros = micros.round_ties_even() as i64;
    if ago {
        months = -months;
        days = -days;
        micros = -micros;
    }
    Some((months, days, micros))
}

/// `H:M`, `H:M:S` or `H:M:S.f` as microseconds.
fn clock_micros(body: &str) -> Option<f64> {
    let parts: Vec<&str> = body.split(':').collect();
    let number = |s: &str| s.parse::<f64>().ok().filter(|v| *v >= 0.0);
    let (h, m, s) = match parts.as_slice() {
        [h, m] => (number(h)?, number(m)?, 0.0),
        [h, m, s] => (number(h)?, number(m)?, number(s)?),
        _ => return None,
    };
    Some(((h * 60.0 + m) * 60.0 + s) * 1e6)
}

/// Words, numbers (with their sign, and clock times) and lone signs.
fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() || c == ',' {
            chars.next();
        } else if c.is_ascii_alphabetic() {
            let mut w = String::new();
            while let Some(&c) = chars.peek().filter(|c| c.is_ascii_alphabetic()) {
                w.push(c);
                chars.next();
            }
            tokens.push(w);
        } else if c.is_ascii_digit() || c == '.' || c == '-' || c == '+' {
            let mut n = String::new();
            n.push(c);
            chars.next();
            while let Some(&c) = chars
                .peek()
                .filter(|c| c.is_ascii_digit() || **c == '.' || **c == ':')
            {
                n.push(c);
                chars.next();
            }
            tokens.push(n);
        } else {
            tokens.push(c.to_string());
            chars.next();
        }
    }
    tokens
}

/// A timestamp without seconds (`2024-03-05 10:00`, with or without a zone) with `:00` added.
fn timestamp_text(text: &str) -> Option<String> {
    let ts = ArrowType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Nanosecond, None);
    if arrow_reads(text, &ts) {
        return None;
    }
    let trimmed = text.trim();
    let split = trimmed.find([' ', 'T'])?;
    let (date, rest) = trimmed.split_at(split);
    let clock = &rest[1..];
    let end = clock
        .find(|c: char| !(c.is_ascii_digit() || c == ':'))
        .unwrap_or(clock.len());
    let (hm, zone) = clock.split_at(end);
    let (h, m) = hm.split_once(':')?;
    let ok =
        |s: &str, n: usize| (1..=n).contains(&s.len()) && s.chars().all(|c| c.is_ascii_digit());
    if !(ok(h, 2) && m.len() == 2 && ok(m, 2)) {
        return None;
    }
    let fixed = format!("{date} {h}:{m}:00{zone}");
    arrow_reads(&fixed, &ts).then_some(fixed)
}

/// A numeric in exponent form (`1e3`, `-1.5E-3`) written out (`1000`, `-0.0015`), with the scale
/// Postgres gives it (`1.50e1` is `15.0`).
pub(super) fn numeric_text(text: &str) -> Option<String> {
    let t = text.trim();
    let (mantissa, exponent) = t.split_once(['e', 'E'])?;
    let exponent: i32 = exponent.parse().ok()?;
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty()
        || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
        || exponent.abs() > 1000
    {
        return None;
    }
    let digits = format!("{int}{frac}");
    // The decimal point sits after `point` digits; negative means leading zeros.
    let point = int.len() as i32 + exponent;
    let scale = (frac.len() as i32 - exponent).max(0) as usize;
    let body = if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    // Trim or pad the fraction to Postgres's scale.
    let (whole, fraction) = body.split_once('.').unwrap_or((&body, ""));
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let mut fraction: String = fraction.chars().take(scale).collect();
    while fraction.len() < scale {
        fraction.push('0');
    }
    Some(if scale == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values are Postgres 15's reading of the same literals.
    #[test]
    fn intervals_read_as_postgres_reads_them() {
        let h = 3_600_000_000i64;
        assert_eq!(parse_interval("2 days 00:00:01"), Some((0, 2, 1_000_000)));
        assert_eq!(parse_interval("1 month - 1 day"), Some((1, -1, 0)));
        assert_eq!(parse_interval("2 mons 3 hours"), Some((2, 0, 3 * h)));
        assert_eq!(parse_interval("1.5 months"), Some((1, 15, 0)));
        assert_eq!(parse_interval("1.5 days"), Some((0, 1, 12 * h)));
        assert_eq!(parse_interval("1.5 years"), Some((18, 0, 0)));
        assert_eq!(parse_interval("@ 3 hours ago"), Some((0, 0, -3 * h)));
        assert_eq!(
            parse_interval("-1 day +02:30"),
            Some((0, -1, 2 * h + h / 2))
        );
        assert_eq!(parse_interval("1 week 2 days"), Some((0, 9, 0)));
        assert_eq!(parse_interval("10"), Some((0, 0, 10_000_000)));
        assert_eq!(parse_interval("1 fortnight"), None);
        assert_eq!(parse_interval(""), None);
        // Rewritten only where arrow cannot read them, to text arrow reads.
        assert_eq!(interval_text("1 day"), None);
        assert_eq!(
            interval_text("2 days 00:00:01").as_deref(),
            Some("0 months 2 days 1000000 microseconds")
        );
    }

    #[test]
    fn timestamps_without_seconds_and_exponent_numerics() {
        assert_eq!(
            timestamp_text("2024-03-05 10:00").as_deref(),
            Some("2024-03-05 10:00:00")
        );
        assert_eq!(timestamp_text("2024-03-05 10:00:00"), None);
        assert_eq!(timestamp_text("not a time"), None);
        // Postgres: '1e3'::numeric = 1000, '-1.5E-3' = -0.0015, '1.50e1' = 15.0, '.5e1' = 5
        assert_eq!(numeric_text("1e3").as_deref(), Some("1000"));
        assert_eq!(numeric_text("-1.5E-3").as_deref(), Some("-0.0015"));
        assert_eq!(numeric_text("1.50e1").as_deref(), Some("15.0"));
        assert_eq!(numeric_text(".5e1").as_deref(), Some("5"));
        assert_eq!(numeric_text("12.5"), None);
        assert_eq!(numeric_text("1e"), None);
    }
}
