//! `x AT TIME ZONE zone` as Postgres evaluates it, for the queries DataFusion plans itself.
//!
//! Postgres converts between the two timestamp types: a `timestamptz` becomes the wall-clock
//! `timestamp` in that zone (`'2024-01-01 10:13+00' AT TIME ZONE 'America/New_York'` is
//! `2024-01-01 05:13:00`), a `timestamp` is read as wall-clock time there and becomes a
//! `timestamptz`; a `date` counts as midnight UTC (the session's zone). DataFusion kept the
//! instant and only relabelled its zone. The statement's `AT TIME ZONE` is rewritten to
//! Postgres's own function form `timezone(zone, x)`, which federated fragments unparse as is.
//!
//! Zones are IANA names (`Europe/Paris`) or `UTC`. Local times a transition makes ambiguous are
//! read after it, local times it skips with the offset before it, as Postgres does.

use chrono::{DateTime, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, PrimitiveBuilder};
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit};
use datafusion::common::DataFusionError;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::{Expr as A, Statement, VisitMut, VisitorMut};
use std::ops::ControlFlow;
use std::sync::Arc;

pub(super) fn register(ctx: &datafusion::prelude::SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(TimezoneFn {
        signature: Signature::user_defined(Volatility::Immutable),
    }));
}

/// `x AT TIME ZONE zone` → `timezone(zone, x)`.
pub(super) fn at_time_zone_calls(statement: &mut Statement) {
    struct V;
    impl VisitorMut for V {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut A) -> ControlFlow<()> {
            if let A::AtTimeZone {
                timestamp,
                time_zone,
            } = e
            {
                *e = super::pgudf::call("timezone", vec![*time_zone.clone(), *timestamp.clone()]);
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut V);
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TimezoneFn {
    signature: Signature,
}

fn zone(name: &str) -> DfResult<Tz> {
    name.parse::<Tz>().map_err(|_| {
        DataFusionError::Execution(format!(
            "time zone \"{name}\" not recognized when Skipper evaluates AT TIME ZONE itself \
             (use an IANA name such as 'America/New_York', or 'UTC')"
        ))
    })
}

/// Wall-clock `naive` in `tz` as an instant, Postgres's way for transitions.
fn instant(tz: &Tz, naive: NaiveDateTime) -> DateTime<chrono::Utc> {
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => t.to_utc(),
        // A fall-back transition: the later reading (after the transition).
        chrono::LocalResult::Ambiguous(_, later) => later.to_utc(),
        // A spring-forward gap: the offset in effect before the transition.
        chrono::LocalResult::None => {
            let before = tz
                .offset_from_utc_datetime(&(naive - chrono::Duration::hours(24)))
                .fix();
            (naive - chrono::Duration::seconds(before.local_minus_utc() as i64)).and_utc()
        }
    }
}

fn per_second(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

fn naive(v: i64, unit: TimeUnit) -> Option<NaiveDateTime> {
    let per = per_second(unit);
    DateTime::from_timestamp(
        v.div_euclid(per),
        (v.rem_euclid(per) * (1_000_000_000 / per)) as u32,
    )
    .map(|t| t.naive_utc())
}

fn value(t: NaiveDateTime, unit: TimeUnit) -> i64 {
    let t = t.and_utc();
    let per = per_second(unit);
    t.timestamp() * per + t.timestamp_subsec_nanos() as i64 / (1_000_000_000 / per)
}

impl ScalarUDFImpl for TimezoneFn {
    fn name(&self) -> &str {
        "timezone"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        let [zone, ts] = arg_types else {
            return Err(DataFusionError::Plan(
                "timezone(zone, timestamp) takes two arguments".into(),
            ));
        };
        if !matches!(
            zone,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
        ) {
            return Err(DataFusionError::Plan(format!(
                "AT TIME ZONE takes a zone name, not {zone}"
            )));
        }
        let ts = match ts {
            DataType::Timestamp(_, _) => ts.clone(),
            DataType::Date32 | DataType::Date64 => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            }
            other => {
                return Err(DataFusionError::Plan(format!(
                    "AT TIME ZONE applies to timestamps, not {other}"
                )));
            }
        };
        Ok(vec![DataType::Utf8, ts])
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match &arg_types[1] {
            DataType::Timestamp(unit, Some(_)) => Ok(DataType::Timestamp(*unit, None)),
            DataType::Timestamp(unit, None) => Ok(DataType::Timestamp(*unit, Some("UTC".into()))),
            _ => Ok(DataType::Timestamp(TimeUnit::Microsecond, None)),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let (all_scalar, rows) = super::pgudf::shape(&args);
        let zones = args.args[0].to_array(rows)?;
        let zones = datafusion::arrow::compute::cast(&zones, &DataType::Utf8)?;
        let zones = zones.as_string::<i32>();
        let input = args.args[1].to_array(rows)?;
        let DataType::Timestamp(unit, from_zone) = input.data_type().clone() else {
            return Err(DataFusionError::Internal(
                "timezone: coerced to a timestamp".into(),
            ));
        };
        // The raw i64 values, whatever the unit.
        let raw = datafusion::arrow::compute::cast(&input, &DataType::Int64)?;
        let raw = raw.as_primitive::<Int64Type>();
        let mut out: Vec<Option<i64>> = Vec::with_capacity(rows);
        let mut cached: Option<(String, Tz)> = None;
        for row in 0..rows {
            if raw.is_null(row) || zones.is_null(row) {
                out.push(None);
                continue;
            }
            let name = zones.value(row);
            if cached.as_ref().is_none_or(|(n, _)| n != name) {
                cached = Some((name.to_string(), zone(name)?));
            }
            let (_, tz) = cached.as_ref().expect("set above");
            let t = naive(raw.value(row), unit)
                .ok_or_else(|| DataFusionError::Execution("timestamp out of range".into()))?;
            out.push(Some(if from_zone.is_some() {
                // An instant → its wall-clock time in the zone.
                value(tz.from_utc_datetime(&t).naive_local(), unit)
            } else {
                // A wall-clock time in the zone → its instant.
                value(instant(tz, t).naive_utc(), unit)
            }));
        }
        let target = self.return_type(&[DataType::Utf8, input.data_type().clone()])?;
        let mut built = PrimitiveBuilder::<Int64Type>::with_capacity(rows);
        built.extend(out);
        let ints: ArrayRef = Arc::new(built.finish());
        let result = datafusion::arrow::compute::cast(&ints, &target)?;
        super::pgudf::finish(result, all_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    // Expected values are Postgres 15's (session time zone UTC).
    #[test]
    fn conversions_match_postgres() {
        let ny: Tz = "America/New_York".parse().unwrap();
        // timestamptz '2024-01-01 10:13+00' AT TIME ZONE 'America/New_York' = 2024-01-01 05:13
        assert_eq!(
            ny.from_utc_datetime(&at("2024-01-01 10:13")).naive_local(),
            at("2024-01-01 05:13")
        );
        // timestamp '2024-11-03 01:30' AT TIME ZONE 'America/New_York' = 06:30+00 (ambiguous)
        assert_eq!(
            instant(&ny, at("2024-11-03 01:30")).naive_utc(),
            at("2024-11-03 06:30")
        );
        // timestamp '2024-03-10 02:30' AT TIME ZONE 'America/New_York' = 07:30+00 (skipped)
        assert_eq!(
            instant(&ny, at("2024-03-10 02:30")).naive_utc(),
            at("2024-03-10 07:30")
        );
        assert!(zone("Mars/Olympus").is_err());
        assert_eq!(
            value(
                naive(1_704_103_980_000_000, TimeUnit::Microsecond).unwrap(),
                TimeUnit::Microsecond
            ),
            1_704_103_980_000_000
        );
    }
}
