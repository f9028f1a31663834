//! Postgres's interval functions DataFusion lacks, evaluated as Postgres 15 evaluates them
//! (`interval_justify_*`, `make_interval` and `interval_div` in its `timestamp.c`, re-derived
//! here), for the queries DataFusion plans itself. Federated fragments unparse them by name.
//!
//! - `justify_hours`, `justify_days`, `justify_interval`;
//! - `make_interval(years, months, weeks, days, hours, mins, secs)`, also with Postgres's named
//!   arguments (`make_interval(days => 3)`): the statement is rewritten to positional arguments,
//!   zeros in the gaps ([`positional_make_interval`]), which Postgres reads the same way;
//! - the average of intervals ([`interval_average`]), used by `avg` (see `pgnumeric`);
//! - `interval * number` and `interval / number` ([`IntervalArithmetic`]);
//! - `(start, end) OVERLAPS (start, end)`, rewritten in the statement to comparisons
//!   ([`overlaps_as_comparisons`]).

use datafusion::arrow::array::{Array, ArrayRef, AsArray, IntervalMonthDayNanoBuilder};
use datafusion::arrow::datatypes::{
    DataType, Float64Type, Int64Type, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit,
};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    Accumulator, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::{
    Expr as AstExpr, FunctionArg, FunctionArgExpr, FunctionArguments, Statement, Value, VisitMut,
    VisitorMut,
};
use std::ops::ControlFlow;

const NANOS_PER_MICRO: i64 = 1_000;
const NANOS_PER_DAY: i64 = 86_400_000_000_000;
const DAYS_PER_MONTH: i32 = 30;
const INTERVAL: DataType = DataType::Interval(IntervalUnit::MonthDayNano);

/// Register the functions on a session.
pub(super) fn register(ctx: &datafusion::prelude::SessionContext) {
    for which in [Justify::Hours, Justify::Days, Justify::Interval] {
        ctx.register_udf(ScalarUDF::new_from_impl(JustifyFn::new(which)));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(MakeInterval::new()));
    for f in SCALE.iter() {
        ctx.register_udf(f.as_ref().clone());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Justify {
    Hours,
    Days,
    Interval,
}

/// `TMODULO`: whole days out of the time part, truncating towards zero as C does.
fn whole_days(time: &mut i64) -> i32 {
    let days = *time / NANOS_PER_DAY;
    *time -= days * NANOS_PER_DAY;
    days as i32
}

fn justify(which: Justify, v: IntervalMonthDayNano) -> IntervalMonthDayNano {
    let (mut month, mut day, mut time) = (v.months, v.days, v.nanoseconds);
    let days_to_months = |month: &mut i32, day: &mut i32| {
        let whole = *day / DAYS_PER_MONTH;
        *day -= whole * DAYS_PER_MONTH;
        *month += whole;
    };
    let time_sign_to_days = |day: &mut i32, time: &mut i64| {
        if *day > 0 && *time < 0 {
            *time += NANOS_PER_DAY;
            *day -= 1;
        } else if *day < 0 && *time > 0 {
            *time -= NANOS_PER_DAY;
            *day += 1;
        }
    };
    match which {
        Justify::Hours => {
            day += whole_days(&mut time);
            time_sign_to_days(&mut day, &mut time);
        }
        Justify::Days => {
            days_to_months(&mut month, &mut day);
            if month > 0 && day < 0 {
                day += DAYS_PER_MONTH;
                month -= 1;
            } else if month < 0 && day > 0 {
                day -= DAYS_PER_MONTH;
                month += 1;
            }
        }
        Justify::Interval => {
            if (day > 0 && time > 0) || (day < 0 && time < 0) {
                days_to_months(&mut month, &mut day);
            }
            day += whole_days(&mut time);
            days_to_months(&mut month, &mut day);
            if month > 0 && (day < 0 || (day == 0 && time < 0)) {
                day += DAYS_PER_MONTH;
                month -= 1;
            } else if month < 0 && (day > 0 || (day == 0 && time > 0)) {
                day -= DAYS_PER_MONTH;
                month += 1;
            }
            time_sign_to_days(&mut day, &mut time);
        }
    }
    IntervalMonthDayNano::new(month, day, time)
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct JustifyFn {
    which: Justify,
    signature: Signature,
}

impl JustifyFn {
    fn new(which: Justify) -> Self {
        JustifyFn {
            which,
            signature: Signature::exact(vec![INTERVAL], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for JustifyFn {
    fn name(&self) -> &str {
        match self.which {
            Justify::Hours => "justify_hours",
            Justify::Days => "justify_days",
            Justify::Interval => "justify_interval",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(INTERVAL)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let (all_scalar, _) = super::pgudf::shape(&args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let input = arrays[0].as_primitive::<IntervalMonthDayNanoType>();
        let out: datafusion::arrow::array::IntervalMonthDayNanoArray =
            input.unary(|v| justify(self.which, v));
        super::pgudf::finish(std::sync::Arc::new(out), all_scalar)
    }
}

/// `make_interval(years, months, weeks, days, hours, mins, secs)`, trailing arguments optional.
#[derive(Debug, PartialEq, Eq, Hash)]
struct MakeInterval {
    signature: Signature,
}

const MAKE_INTERVAL_PARAMS: [&str; 7] =
    ["years", "months", "weeks", "days", "hours", "mins", "secs"];

impl MakeInterval {
    fn new() -> Self {
        MakeInterval {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

fn out_of_range() -> DataFusionError {
    DataFusionError::Execution("interval out of range".into())
}

impl ScalarUDFImpl for MakeInterval {
    fn name(&self) -> &str {
        "make_interval"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        if arg_types.len() > MAKE_INTERVAL_PARAMS.len() {
            return Err(DataFusionError::Plan(format!(
                "make_interval takes at most 7 arguments ({})",
                MAKE_INTERVAL_PARAMS.join(", ")
            )));
        }
        arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let number = t.is_numeric() || *t == DataType::Null;
                let integer = t.is_integer() || *t == DataType::Null;
                match i {
                    6 if number => Ok(DataType::Float64),
                    _ if integer => Ok(DataType::Int64),
                    _ => Err(DataFusionError::Plan(format!(
                        "make_interval's {} is {}, not {t}",
                        MAKE_INTERVAL_PARAMS[i],
                        if i == 6 { "a number" } else { "an integer" }
                    ))),
                }
            })
            .collect()
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(INTERVAL)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let (all_scalar, _) = super::pgudf::shape(&args);
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let rows = arrays.first().map_or(rows.max(1), |a| a.len());
        let mut built = IntervalMonthDayNanoBuilder::with_capacity(rows);
        for row in 0..rows {
            if arrays.iter().any(|a| a.is_null(row)) {
                built.append_null();
                continue;
            }
            let int = |k: usize| {
                arrays
                    .get(k)
                    .map_or(0, |a| a.as_primitive::<Int64Type>().value(row))
            };
            let secs = arrays
                .get(6)
                .map_or(0.0, |a| a.as_primitive::<Float64Type>().value(row));
            let months = int(0)
                .checked_mul(12)
                .and_then(|y| y.checked_add(int(1)))
                .and_then(|m| i32::try_from(m).ok());
            let days = int(2)
                .checked_mul(7)
                .and_then(|w| w.checked_add(int(3)))
                .and_then(|d| i32::try_from(d).ok());
            // Postgres rounds seconds to microseconds.
            let micros = (secs * 1e6).round_ties_even();
            let time = int(4)
                .checked_mul(3_600_000_000)
                .and_then(|h| h.checked_add(int(5).checked_mul(60_000_000)?))
                .and_then(|t| {
                    micros
                        .is_finite()
                        .then_some(micros)
                        .filter(|m| m.abs() < 9.2e18)
                        .and_then(|m| t.checked_add(m as i64))
                })
                .and_then(|t| t.checked_mul(NANOS_PER_MICRO));
            match (months, days, time) {
                (Some(m), Some(d), Some(t)) => {
                    built.append_value(IntervalMonthDayNano::new(m, d, t))
                }
                _ => return Err(out_of_range()),
            }
        }
        super::pgudf::finish(std::sync::Arc::new(built.finish()), all_scalar)
    }
}

/// `make_interval(days => 3, hours => 4)` as `make_interval(0, 0, 0, 3, 4)`: DataFusion's named
/// arguments cannot leave gaps; Postgres takes both spellings.
pub(super) fn positional_make_interval(statement: &mut Statement) {
    struct V;
    impl VisitorMut for V {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut AstExpr) -> ControlFlow<()> {
            let AstExpr::Function(f) = e else {
                return ControlFlow::Continue(());
            };
            if !f.name.to_string().eq_ignore_ascii_case("make_interval") {
                return ControlFlow::Continue(());
            }
            let FunctionArguments::List(list) = &mut f.args else {
                return ControlFlow::Continue(());
            };
            let mut slots: Vec<Option<FunctionArgExpr>> = vec![None; MAKE_INTERVAL_PARAMS.len()];
            for (i, arg) in list.args.iter().enumerate() {
                let (slot, value) = match arg {
                    FunctionArg::Unnamed(v) => (Some(i), v),
                    FunctionArg::Named { name, arg, .. } => (
                        MAKE_INTERVAL_PARAMS
                            .iter()
                            .position(|p| p.eq_ignore_ascii_case(&name.value)),
                        arg,
                    ),
                    FunctionArg::ExprNamed {
                        name: AstExpr::Identifier(name),
                        arg,
                        ..
                    } => (
                        MAKE_INTERVAL_PARAMS
                            .iter()
                            .position(|p| p.eq_ignore_ascii_case(&name.value)),
                        arg,
                    ),
                    // Left for the planner to report.
                    _ => return ControlFlow::Continue(()),
                };
                match slot {
                    Some(k) if k < slots.len() && slots[k].is_none() => {
                        slots[k] = Some(value.clone())
                    }
                    _ => return ControlFlow::Continue(()),
                }
            }
            let last = slots.iter().rposition(Option::is_some).map_or(0, |k| k + 1);
            list.args = slots
                .into_iter()
                .take(last)
                .map(|s| {
                    FunctionArg::Unnamed(s.unwrap_or_else(|| {
                        FunctionArgExpr::Expr(AstExpr::Value(
                            Value::Number("0".into(), false).into(),
                        ))
                    }))
                })
                .collect();
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut V);
}

/// `(s1, e1) OVERLAPS (s2, e2)` as the comparisons Postgres makes (`overlaps_timestamp`), NULLs
/// included: a period with one NULL end is the instant at its other end, with both NULL the
/// answer is NULL; otherwise its ends are put in order (an interval as the second element is a
/// length). Then, from the later start: it overlaps when it lies before the other period's end,
/// is NULL when that end (or, failing the first test, its own end) is unknown, and false
/// otherwise; equal starts overlap when both ends are known. DataFusion cannot plan OVERLAPS;
/// Postgres reads the rewritten form the same way.
pub(super) fn overlaps_as_comparisons(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::BinaryOperator;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    struct V;
    impl VisitorMut for V {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut AstExpr) -> ControlFlow<()> {
            let AstExpr::BinaryOp {
                left,
                op: BinaryOperator::Overlaps,
                right,
            } = e
            else {
                return ControlFlow::Continue(());
            };
            let period = |x: &AstExpr| -> Option<(String, String)> {
                let items = match x {
                    AstExpr::Tuple(items) if items.len() == 2 => items,
                    _ => return None,
                };
                let (a, b) = (format!("({})", items[0]), format!("({})", items[1]));
                let b = if matches!(items[1], AstExpr::Interval(_)) {
                    format!("({a} + {b})")
                } else {
                    b
                };
                Some((
                    format!(
                        "(CASE WHEN {a} IS NULL THEN {b} WHEN {b} IS NULL THEN {a} \
                         WHEN {a} > {b} THEN {b} ELSE {a} END)"
                    ),
                    format!(
                        "(CASE WHEN {a} IS NULL OR {b} IS NULL THEN NULL \
                         WHEN {a} > {b} THEN {a} ELSE {b} END)"
                    ),
                ))
            };
            let (Some((s1, e1)), Some((s2, e2))) = (period(left), period(right)) else {
                return ControlFlow::Continue(());
            };
            // From the later start: inside the other period, unknown, or not.
            let later = |s: &str, e: &str, other_end: &str| {
                format!(
                    "(CASE WHEN {other_end} IS NULL THEN NULL WHEN {s} < {other_end} THEN true \
                     WHEN {e} IS NULL THEN NULL ELSE false END)"
                )
            };
            let sql = format!(
                "(CASE WHEN {s1} IS NULL OR {s2} IS NULL THEN NULL \
                 WHEN {s1} > {s2} THEN {} WHEN {s1} < {s2} THEN {} \
                 WHEN {e1} IS NULL OR {e2} IS NULL THEN NULL ELSE true END)",
                later(&s1, &e1, &e2),
                later(&s2, &e2, &e1),
            );
            if let Ok(parsed) = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&sql)
                .and_then(|mut p| p.parse_expr())
            {
                *e = parsed;
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut V);
}

/// Postgres 15's `interval_div(sum, count)`, for `avg(interval)`.
pub(crate) fn interval_average(
    months: i64,
    days: i64,
    nanos: i128,
    count: u64,
) -> DfResult<IntervalMonthDayNano> {
    scale(months, days, nanos, count as f64, true)
}

/// Postgres 15's `interval_mul` and `interval_div` (`interval * factor`, `interval / factor`):
/// each field multiplied (divided), the fraction of a month carried down as 30-day days and the
/// fraction of a day as time, rounded to microseconds; never carried up.
fn scale(
    months: i64,
    days: i64,
    nanos: i128,
    factor: f64,
    divide: bool,
) -> DfResult<IntervalMonthDayNano> {
    if divide && factor == 0.0 {
        return Err(DataFusionError::Execution("division by zero".into()));
    }
    let apply = |x: f64| if divide { x / factor } else { x * factor };
    // TSROUND: to microsecond precision.
    let tsround = |x: f64| (x * 1e6).round_ties_even() / 1e6;
    let month_q = apply(months as f64);
    let day_q = apply(days as f64);
    let fits = |x: f64| x.is_finite() && x.abs() <= i32::MAX as f64;
    if !(fits(month_q) && fits(day_q)) {
        return Err(out_of_range());
    }
    let month = month_q as i32;
    let mut day = day_q as i32;
    let month_remainder_days = tsround((month_q - month as f64) * DAYS_PER_MONTH as f64);
    let mut sec_remainder = tsround(
        (day_q - day as f64 + month_remainder_days - month_remainder_days.trunc()) * 86_400.0,
    );
    if sec_remainder.abs() >= 86_400.0 {
        let whole = (sec_remainder / 86_400.0) as i32;
        day += whole;
        sec_remainder -= whole as f64 * 86_400.0;
    }
    day += month_remainder_days as i32;
    // Postgres keeps microseconds; the time part is scaled in them.
    let micros = nanos as f64 / NANOS_PER_MICRO as f64;
    let time = (apply(micros) + sec_remainder * 1e6).round_ties_even();
    if !time.is_finite() || time.abs() >= 9.2e15 {
        return Err(out_of_range());
    }
    Ok(IntervalMonthDayNano::new(
        month,
        day,
        time as i64 * NANOS_PER_MICRO,
    ))
}

/// `interval_mul(interval, factor)` / `interval_div(interval, factor)`: Postgres's functions
/// behind `interval * number` and `interval / number` (see [`IntervalArithmetic`]), by the same
/// names in Postgres, so federated fragments unparse to SQL it runs.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ScaleFn {
    divide: bool,
    signature: Signature,
}

impl ScalarUDFImpl for ScaleFn {
    fn name(&self) -> &str {
        if self.divide {
            "interval_div"
        } else {
            "interval_mul"
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(INTERVAL)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let (all_scalar, rows) = super::pgudf::shape(&args);
        let spans = args.args[0].to_array(rows)?;
        let factors = args.args[1].to_array(rows)?;
        let (spans, factors) = (
            spans.as_primitive::<IntervalMonthDayNanoType>(),
            factors.as_primitive::<Float64Type>(),
        );
        let mut out = IntervalMonthDayNanoBuilder::with_capacity(rows);
        for row in 0..rows {
            if spans.is_null(row) || factors.is_null(row) {
                out.append_null();
                continue;
            }
            let v = spans.value(row);
            out.append_value(scale(
                v.months as i64,
                v.days as i64,
                v.nanoseconds as i128,
                factors.value(row),
                self.divide,
            )?);
        }
        super::pgudf::finish(std::sync::Arc::new(out.finish()), all_scalar)
    }
}

static SCALE: std::sync::LazyLock<[std::sync::Arc<ScalarUDF>; 2]> =
    std::sync::LazyLock::new(|| {
        [false, true].map(|divide| {
            std::sync::Arc::new(ScalarUDF::new_from_impl(ScaleFn {
                divide,
                signature: Signature::exact(
                    vec![INTERVAL, DataType::Float64],
                    Volatility::Immutable,
                ),
            }))
        })
    });

/// `interval * number`, `number * interval` and `interval / number` (DataFusion: "Invalid
/// interval arithmetic operation") are planned as `interval_mul`/`interval_div` with the
/// number as a double, as Postgres resolves those operators. An expression planner, as the SQL
/// planner types each projection while it builds it.
#[derive(Debug)]
pub(super) struct IntervalArithmetic;

impl datafusion::logical_expr::planner::ExprPlanner for IntervalArithmetic {
    fn plan_binary_op(
        &self,
        expr: datafusion::logical_expr::planner::RawBinaryExpr,
        schema: &datafusion::common::DFSchema,
    ) -> DfResult<
        datafusion::logical_expr::planner::PlannerResult<
            datafusion::logical_expr::planner::RawBinaryExpr,
        >,
    > {
        use datafusion::logical_expr::planner::PlannerResult;
        use datafusion::logical_expr::{Expr, ExprSchemable};
        use datafusion::sql::sqlparser::ast::BinaryOperator;
        let (Ok(l), Ok(r)) = (expr.left.get_type(schema), expr.right.get_type(schema)) else {
            return Ok(PlannerResult::Original(expr));
        };
        let number = |t: &DataType| t.is_numeric();
        let (swap, divide) = match expr.op {
            BinaryOperator::Multiply if l == INTERVAL && number(&r) => (false, false),
            BinaryOperator::Multiply if r == INTERVAL && number(&l) => (true, false),
            BinaryOperator::Divide if l == INTERVAL && number(&r) => (false, true),
            _ => return Ok(PlannerResult::Original(expr)),
        };
        let (span, factor) = if swap {
            (expr.right, expr.left)
        } else {
            (expr.left, expr.right)
        };
        let factor = Expr::Cast(datafusion::logical_expr::Cast::new(
            Box::new(factor),
            DataType::Float64,
        ));
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            datafusion::logical_expr::expr::ScalarFunction::new_udf(
                std::sync::Arc::clone(&SCALE[divide as usize]),
                vec![span, factor],
            ),
        )))
    }
}

/// `avg(interval)`: the field-wise sum and the count, finished by [`interval_average`]; or, for
/// timestamp differences (durations), their `sum` and `avg` as Postgres's intervals. Retractable
/// for sliding window frames.
#[derive(Debug, Default)]
pub(crate) struct IntervalAvg {
    months: i64,
    days: i64,
    nanos: i128,
    count: u64,
    /// `sum` rather than `avg`: the fields' sums, undivided.
    sum: bool,
}

impl IntervalAvg {
    /// Postgres's `sum` of intervals (`interval_pl` field by field), or its `avg`.
    pub(crate) fn new(sum: bool) -> Self {
        IntervalAvg {
            sum,
            ..Default::default()
        }
    }

    fn add(&mut self, values: &ArrayRef, sign: i64) -> DfResult<()> {
        let mut add = |v: IntervalMonthDayNano| {
            self.months += sign * v.months as i64;
            self.days += sign * v.days as i64;
            self.nanos += sign as i128 * v.nanoseconds as i128;
            if sign > 0 {
                self.count += 1;
            } else {
                self.count -= 1;
            }
        };
        if let DataType::Duration(unit) = values.data_type() {
            // A difference of timestamps: Postgres's `timestamp_mi` makes it an interval of
            // days and a time under a day (justify_hours), which `sum`/`avg` then add field by
            // field, so an average can keep more than 24 hours in its time.
            let per = duration_nanos(*unit);
            let durations = datafusion::arrow::compute::cast(values, &DataType::Int64)?;
            for d in durations.as_primitive::<Int64Type>().iter().flatten() {
                let nanos = d.checked_mul(per).ok_or_else(out_of_range)?;
                add(justify(
                    Justify::Hours,
                    IntervalMonthDayNano::new(0, 0, nanos),
                ));
            }
            return Ok(());
        }
        for v in values
            .as_primitive::<IntervalMonthDayNanoType>()
            .iter()
            .flatten()
        {
            add(v);
        }
        Ok(())
    }
}

/// Nanoseconds in one unit of a duration.
fn duration_nanos(unit: datafusion::arrow::datatypes::TimeUnit) -> i64 {
    use datafusion::arrow::datatypes::TimeUnit::*;
    match unit {
        Second => 1_000_000_000,
        Millisecond => 1_000_000,
        Microsecond => 1_000,
        Nanosecond => 1,
    }
}

impl Accumulator for IntervalAvg {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.add(&values[0], 1)
    }
    fn retract_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.add(&values[0], -1)
    }
    fn supports_retract_batch(&self) -> bool {
        true
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        use datafusion::arrow::datatypes::{Decimal128Type, UInt64Type};
        let counts = states[0].as_primitive::<UInt64Type>();
        let months = states[1].as_primitive::<Int64Type>();
        let days = states[2].as_primitive::<Int64Type>();
        let nanos = states[3].as_primitive::<Decimal128Type>();
        for i in 0..counts.len() {
            if counts.is_null(i) {
                continue;
            }
            self.count += counts.value(i);
            self.months += months.value(i);
            self.days += days.value(i);
            self.nanos += nanos.value(i);
        }
        Ok(())
    }
    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::UInt64(Some(self.count)),
            ScalarValue::Int64(Some(self.months)),
            ScalarValue::Int64(Some(self.days)),
            ScalarValue::Decimal128(Some(self.nanos), 38, 0),
        ])
    }
    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        if self.count == 0 {
            return Ok(ScalarValue::IntervalMonthDayNano(None));
        }
        if self.sum {
            let fields = (
                i32::try_from(self.months),
                i32::try_from(self.days),
                i64::try_from(self.nanos),
            );
            let (Ok(months), Ok(days), Ok(nanos)) = fields else {
                return Err(out_of_range());
            };
            return Ok(ScalarValue::IntervalMonthDayNano(Some(
                IntervalMonthDayNano::new(months, days, nanos),
            )));
        }
        Ok(ScalarValue::IntervalMonthDayNano(Some(interval_average(
            self.months,
            self.days,
            self.nanos,
            self.count,
        )?)))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// The state of [`IntervalAvg`], as fields.
pub(crate) fn interval_avg_state(name: &str) -> Vec<datafusion::arrow::datatypes::FieldRef> {
    use datafusion::arrow::datatypes::Field;
    use datafusion::logical_expr::utils::format_state_name;
    [
        ("count", DataType::UInt64),
        ("months", DataType::Int64),
        ("days", DataType::Int64),
        ("nanos", DataType::Decimal128(38, 0)),
    ]
    .into_iter()
    .map(|(part, t)| std::sync::Arc::new(Field::new(format_state_name(name, part), t, true)))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(months: i32, days: i32, hours: i64, micros: i64) -> IntervalMonthDayNano {
        IntervalMonthDayNano::new(
            months,
            days,
            hours * 3_600_000_000_000 + micros * NANOS_PER_MICRO,
        )
    }

    // Expected values are Postgres 15's output for the same calls.
    #[test]
    fn justify_matches_postgres() {
        // justify_hours('36 hours') = 1 day 12:00:00
        assert_eq!(justify(Justify::Hours, iv(0, 0, 36, 0)), iv(0, 1, 12, 0));
        // justify_days('45 days') = 1 mon 15 days
        assert_eq!(justify(Justify::Days, iv(0, 45, 0, 0)), iv(1, 15, 0, 0));
        // justify_interval('1 mon -1 hour') = 29 days 23:00:00
        assert_eq!(
            justify(Justify::Interval, iv(1, 0, -1, 0)),
            iv(0, 29, 23, 0)
        );
        // justify_hours('-1 day 25 hours') = 01:00:00 (days and time of one sign)
        assert_eq!(justify(Justify::Hours, iv(0, -1, 25, 0)), iv(0, 0, 1, 0));
        // justify_days('1 mon -40 days') = -10 days
        assert_eq!(justify(Justify::Days, iv(1, -40, 0, 0)), iv(0, -10, 0, 0));
    }

    #[test]
    fn interval_average_matches_postgres() {
        // avg of '1 mon' and '2 mons' = 1 mon 15 days
        assert_eq!(interval_average(3, 0, 0, 2).unwrap(), iv(1, 15, 0, 0));
        // avg of '1 day', '2 days' and '00:00:01' = 1 day 00:00:00.333333
        let secs = 1_000_000_000i128;
        assert_eq!(
            interval_average(0, 3, secs, 3).unwrap(),
            iv(0, 1, 0, 333_333)
        );
        // avg of '1 day' and '00:00:00' = 12:00:00
        assert_eq!(interval_average(0, 1, 0, 2).unwrap(), iv(0, 0, 12, 0));
    }
}
