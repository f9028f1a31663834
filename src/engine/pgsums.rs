//! `sum` and `avg` typed and computed as Postgres does, on the DataFusion path.
//!
//! | input                   | Postgres             | DataFusion 55                    |
//! |-------------------------|----------------------|----------------------------------|
//! | `sum(smallint \| int)`  | bigint               | bigint                           |
//! | `sum(bigint)`           | numeric, exact       | bigint, **wraps** on overflow    |
//! | `avg(any integer)`      | numeric              | double (rounded past 2⁵³)        |
//! | `avg(numeric)`          | numeric, its scale   | decimal with 4 more places       |
//! | `sum`/`avg(ts - ts)`    | interval, field-wise | duration (prints days justified) |
//!
//! So `sum` of two bigints `9223372036854775807` and `1` gave `-9223372036854775808`, a wrong
//! answer with no error. Here every integer sum and average is accumulated exactly in 128 bits
//! (256 for a running sum) and finished as Postgres finishes it:
//! - `sum` of integers up to 32 bits is a bigint, an error past its range (Postgres's own
//!   "bigint out of range");
//! - `sum` of bigint is a `Decimal128(38, 0)`, Postgres's numeric, which no realistic row count
//!   can overflow (an error past 38 digits rather than a wrap);
//! - `avg` of an integer or a numeric is the quotient of that exact sum by the count, with
//!   Postgres's scale ([`super::pgnumeric::pg_div`]), typed as
//!   [`super::pgnumeric::quotient_type`], or a Decimal256 when the input has more than 18 integer
//!   digits (bigint, numeric(38,0)), so averages up to bigint's range keep their 20 places;
//! - `avg` of intervals is Postgres's ([`super::pgintervals::interval_average`]);
//! - `sum` and `avg` of timestamp differences are intervals, as in Postgres, where `ts - ts` is
//!   an interval of days and a time under a day, added field by field: of differences of
//!   `20:00:00` and `1 day 22:00:00`, `sum` is `1 day 42:00:00` and `avg` `33:00:00` (half a
//!   day carried into the time), where a duration would print `2 days 18:00:00` and
//!   `1 day 09:00:00`. The same lengths, printed as Postgres prints them.
//!
//! Floats, durations and numeric sums are DataFusion's own. Both functions keep their names, so
//! a federated fragment unparses to a plain `sum(x)` or `avg(x)` that Postgres computes itself,
//! returning the very types planned here.

use super::pgnumeric::{
    MAX_PRECISION, WIDE_PRECISION, pg_div_within, pow10, quotient_scale, quotient_type,
};
use datafusion::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, Decimal128Array, Decimal128Builder,
    Decimal256Builder, Int64Builder, ListArray, PrimitiveArray,
};
use datafusion::arrow::datatypes::{
    DataType, Decimal128Type, Field, FieldRef, Int8Type, Int16Type, Int32Type, Int64Type,
    IntervalUnit, UInt8Type, UInt16Type, UInt32Type, UInt64Type, i256,
};
use datafusion::common::{DataFusionError, ScalarValue, plan_err};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, ReversedUDAF,
    Signature, Volatility,
};
use std::collections::HashSet;
use std::sync::Arc;

/// Register Postgres's `sum` and `avg` in place of DataFusion's.
pub(super) fn register(state: &mut datafusion::execution::session_state::SessionState) {
    use datafusion::execution::FunctionRegistry;
    let ok = state
        .register_udaf(Arc::new(AggregateUDF::new_from_impl(PgAggregate::new(
            Kind::Sum,
            datafusion::functions_aggregate::sum::sum_udaf(),
        ))))
        .and_then(|_| {
            state.register_udaf(Arc::new(AggregateUDF::new_from_impl(PgAggregate::new(
                Kind::Avg,
                datafusion::functions_aggregate::average::avg_udaf(),
            ))))
        });
    let ok = ok.and_then(|_| state.register_function_rewrite(Arc::new(IntLiteralSums)));
    // Registering into a fresh session's maps cannot fail; if it ever did, DataFusion's own
    // aggregates stay in place.
    if let Err(e) = ok {
        tracing::warn!("Postgres sum and avg not registered: {e}");
    }
}

/// Postgres types an integer literal `int` when it fits, so `sum(CASE WHEN … THEN 1 ELSE 0 END)`
/// (the usual way to count matches) is a sum of ints, a bigint; DataFusion types every integer
/// literal Int64, which would make that sum a numeric. A `sum` whose argument is built only of
/// such literals (one literal, or the branches of a CASE) has them typed Int32 first, before
/// type coercion.
#[derive(Debug)]
struct IntLiteralSums;

impl datafusion::logical_expr::expr_rewriter::FunctionRewrite for IntLiteralSums {
    fn name(&self) -> &str {
        "skipper_int_literal_sums"
    }

    fn rewrite(
        &self,
        expr: datafusion::logical_expr::Expr,
        _schema: &datafusion::common::DFSchema,
        _config: &datafusion::config::ConfigOptions,
    ) -> DfResult<datafusion::common::tree_node::Transformed<datafusion::logical_expr::Expr>> {
        use datafusion::common::tree_node::Transformed;
        use datafusion::logical_expr::Expr;
        let Expr::AggregateFunction(mut f) = expr else {
            return Ok(Transformed::no(expr));
        };
        let narrowed = match f.params.args.as_slice() {
            [arg] if f.func.name() == "sum" => int_literals(arg),
            _ => None,
        };
        match narrowed {
            Some(arg) => {
                f.params.args = vec![arg];
                Ok(Transformed::yes(Expr::AggregateFunction(f)))
            }
            None => Ok(Transformed::no(Expr::AggregateFunction(f))),
        }
    }
}

/// `e` with its integer literals typed Int32, when it is built only of literals that fit (and
/// NULLs), as one literal or as a CASE's results; `None` otherwise.
fn int_literals(e: &datafusion::logical_expr::Expr) -> Option<datafusion::logical_expr::Expr> {
    use datafusion::logical_expr::{Case, Expr};
    let literal = |e: &Expr| -> Option<Option<Expr>> {
        match e {
            Expr::Literal(ScalarValue::Int64(Some(v)), m) => i32::try_from(*v)
                .ok()
                .map(|v| Some(Expr::Literal(ScalarValue::Int32(Some(v)), m.clone()))),
            Expr::Literal(ScalarValue::Null | ScalarValue::Int64(None), _) => Some(None),
            _ => None,
        }
    };
    match e {
        Expr::Case(c) => {
            let mut any = false;
            let mut result = |e: &Expr| -> Option<Box<Expr>> {
                let narrowed = literal(e)?;
                any |= narrowed.is_some();
                Some(Box::new(narrowed.unwrap_or_else(|| e.clone())))
            };
            let when_then = c
                .when_then_expr
                .iter()
                .map(|(w, t)| Some((w.clone(), result(t)?)))
                .collect::<Option<Vec<_>>>()?;
            let else_expr = match &c.else_expr {
                Some(e) => Some(result(e)?),
                None => None,
            };
            any.then(|| Expr::Case(Case::new(c.expr.clone(), when_then, else_expr)))
        }
        other => literal(other).flatten(),
    }
}

const INTERVAL: DataType = DataType::Interval(IntervalUnit::MonthDayNano);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Sum,
    Avg,
}

/// What an exact running sum (and its count) becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finish {
    /// `sum` of integers up to 32 bits: a bigint.
    Bigint,
    /// `sum` of bigint: numeric with no places.
    Numeric,
    /// `avg` of an integer (scale 0) or of a numeric with this scale, whose average fits a
    /// Decimal128 at Postgres's places (at most 18 integer digits).
    Avg(i8),
    /// `avg` of a bigint, or of a numeric with more than 18 integer digits: a Decimal256, so an
    /// average of nanosecond epochs (~1.7·10¹⁸) or of other sums still has its 20 places.
    WideAvg(i8),
}

impl Finish {
    /// How `kind` of an input of type `t` is finished; `None` leaves it to DataFusion.
    fn of(kind: Kind, t: &DataType) -> Option<Finish> {
        use DataType::*;
        match (kind, t) {
            (Kind::Sum, Int8 | Int16 | Int32 | UInt8 | UInt16 | UInt32) => Some(Finish::Bigint),
            (Kind::Sum, Int64 | UInt64) => Some(Finish::Numeric),
            (Kind::Avg, Int64 | UInt64) => Some(Finish::WideAvg(0)),
            (Kind::Avg, t) if t.is_integer() => Some(Finish::Avg(0)),
            (Kind::Avg, Decimal128(p, s))
                if *p as i32 - *s as i32 + quotient_scale(*s, 0) as i32 > MAX_PRECISION as i32 =>
            {
                Some(Finish::WideAvg(*s))
            }
            (Kind::Avg, Decimal128(_, s)) => Some(Finish::Avg(*s)),
            _ => None,
        }
    }

    /// The scale of the accumulated sum.
    fn scale(self) -> i8 {
        match self {
            Finish::Avg(s) | Finish::WideAvg(s) => s,
            Finish::Bigint | Finish::Numeric => 0,
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Finish::Bigint => DataType::Int64,
            Finish::Numeric => DataType::Decimal128(MAX_PRECISION, 0),
            Finish::Avg(s) => quotient_type(s, 0),
            Finish::WideAvg(s) => DataType::Decimal256(WIDE_PRECISION, quotient_scale(s, 0)),
        }
    }

    /// The finished value of `sum` over `count` values (`None` when there were none).
    fn value(self, sum: i256, count: u64) -> DfResult<Option<i256>> {
        if count == 0 {
            return Ok(None);
        }
        let limit = pow10(MAX_PRECISION as u32).expect("10^38 fits");
        match self {
            Finish::Bigint => match sum.to_i128().filter(|v| i64::try_from(*v).is_ok()) {
                Some(_) => Ok(Some(sum)),
                None => Err(DataFusionError::Execution(
                    "bigint out of range in sum (hint: sum a bigint or numeric cast of the \
                     column, e.g. sum(x::bigint))"
                        .into(),
                )),
            },
            Finish::Numeric if sum.wrapping_abs() < limit => Ok(Some(sum)),
            Finish::Numeric => Err(sum_overflow()),
            Finish::Avg(s) | Finish::WideAvg(s) => {
                let precision = match self {
                    Finish::WideAvg(_) => WIDE_PRECISION,
                    _ => MAX_PRECISION,
                };
                let count = i256::from_i128(count as i128);
                pg_div_within(sum, s, count, 0, self.out_scale(), precision).map(Some)
            }
        }
    }

    fn out_scale(self) -> i8 {
        match self {
            Finish::Avg(s) | Finish::WideAvg(s) => quotient_scale(s, 0),
            Finish::Bigint | Finish::Numeric => 0,
        }
    }

    fn scalar(self, value: Option<i256>) -> ScalarValue {
        match self {
            Finish::Bigint => ScalarValue::Int64(value.map(|v| v.as_i128() as i64)),
            Finish::WideAvg(_) => ScalarValue::Decimal256(value, WIDE_PRECISION, self.out_scale()),
            _ => {
                ScalarValue::Decimal128(value.map(|v| v.as_i128()), MAX_PRECISION, self.out_scale())
            }
        }
    }

    fn array(self, sums: Vec<i128>, counts: Vec<u64>) -> DfResult<ArrayRef> {
        if self == Finish::Bigint {
            let mut built = Int64Builder::with_capacity(counts.len());
            for (sum, count) in sums.into_iter().zip(counts) {
                let v = self.value(i256::from_i128(sum), count)?;
                built.append_option(v.map(|v| v.as_i128() as i64));
            }
            return Ok(Arc::new(built.finish()));
        }
        if let Finish::WideAvg(_) = self {
            let mut built = Decimal256Builder::with_capacity(counts.len());
            for (sum, count) in sums.into_iter().zip(counts) {
                built.append_option(self.value(i256::from_i128(sum), count)?);
            }
            return Ok(Arc::new(
                built
                    .finish()
                    .with_precision_and_scale(WIDE_PRECISION, self.out_scale())?,
            ));
        }
        let mut built = Decimal128Builder::with_capacity(counts.len());
        for (sum, count) in sums.into_iter().zip(counts) {
            built.append_option(
                self.value(i256::from_i128(sum), count)?
                    .map(|v| v.as_i128()),
            );
        }
        Ok(Arc::new(built.finish().with_precision_and_scale(
            MAX_PRECISION,
            self.out_scale(),
        )?))
    }
}

fn sum_overflow() -> DataFusionError {
    DataFusionError::Execution(format!(
        "numeric sum out of range (more than {MAX_PRECISION} digits)"
    ))
}

/// `$body` with `$array` bound to the exact input column `$values` as its own primitive array
/// (integers or Decimal128, whose values all widen to `i128`).
macro_rules! with_exact {
    ($values:expr, $array:ident => $body:expr) => {
        match $values.data_type() {
            DataType::Decimal128(_, _) => {
                let $array = $values.as_primitive::<Decimal128Type>();
                $body
            }
            DataType::Int8 => {
                let $array = $values.as_primitive::<Int8Type>();
                $body
            }
            DataType::Int16 => {
                let $array = $values.as_primitive::<Int16Type>();
                $body
            }
            DataType::Int32 => {
                let $array = $values.as_primitive::<Int32Type>();
                $body
            }
            DataType::Int64 => {
                let $array = $values.as_primitive::<Int64Type>();
                $body
            }
            DataType::UInt8 => {
                let $array = $values.as_primitive::<UInt8Type>();
                $body
            }
            DataType::UInt16 => {
                let $array = $values.as_primitive::<UInt16Type>();
                $body
            }
            DataType::UInt32 => {
                let $array = $values.as_primitive::<UInt32Type>();
                $body
            }
            DataType::UInt64 => {
                let $array = $values.as_primitive::<UInt64Type>();
                $body
            }
            other => Err(DataFusionError::Internal(format!(
                "exact sum of a {other} column"
            ))),
        }
    };
}

/// An exact input column as 128-bit integers scaled like the input (integers widened; a
/// Decimal128 as it is).
fn exact_values(values: &ArrayRef) -> DfResult<Decimal128Array> {
    with_exact!(values, array => Ok(widen(array)))
}

fn widen<T: ArrowPrimitiveType>(array: &PrimitiveArray<T>) -> Decimal128Array
where
    T::Native: Into<i128>,
{
    array.unary(|v| v.into())
}

/// The sum and count of a batch's non-null values, exactly: added in 128 bits (which no batch
/// of 64-bit integers can overflow), again in 256 when 128 did overflow.
fn batch_sum<T: ArrowPrimitiveType>(array: &PrimitiveArray<T>) -> (i256, u64)
where
    T::Native: Into<i128>,
{
    let count = (array.len() - array.null_count()) as u64;
    let mut sum = 0i128;
    let mut overflow = false;
    let mut add = |v: T::Native| {
        let (s, o) = sum.overflowing_add(v.into());
        sum = s;
        overflow |= o;
    };
    if array.null_count() == 0 {
        array.values().iter().for_each(|v| add(*v));
    } else {
        array.iter().flatten().for_each(add);
    }
    if !overflow {
        return (i256::from_i128(sum), count);
    }
    let wide = array.iter().flatten().fold(i256::ZERO, |acc, v| {
        acc.wrapping_add(i256::from_i128(v.into()))
    });
    (wide, count)
}

/// Adds each row's value to its group's sum and count (rows null or filtered out skipped).
fn grouped_add<T: ArrowPrimitiveType>(
    sums: &mut [i128],
    counts: &mut [u64],
    array: &PrimitiveArray<T>,
    group_indices: &[usize],
    opt_filter: Option<&datafusion::arrow::array::BooleanArray>,
) -> DfResult<()>
where
    T::Native: Into<i128>,
{
    let raw = array.values();
    let mut overflow = false;
    if array.null_count() == 0 && opt_filter.is_none() {
        // The common case, without a branch a row: overflow is checked once at the end.
        for (&g, &v) in group_indices.iter().zip(raw.iter()) {
            let (sum, o) = sums[g].overflowing_add(v.into());
            sums[g] = sum;
            overflow |= o;
            counts[g] += 1;
        }
    } else {
        for (row, &g) in group_indices.iter().enumerate() {
            if array.is_valid(row) && kept(opt_filter, row) {
                let (sum, o) = sums[g].overflowing_add(raw[row].into());
                sums[g] = sum;
                overflow |= o;
                counts[g] += 1;
            }
        }
    }
    if overflow {
        return Err(sum_overflow());
    }
    Ok(())
}

/// The argument type `kind` computes with: integers and numerics as they are (so the exact
/// accumulators see the real width), floats as doubles, intervals and durations as they are.
fn coerced(kind: Kind, t: &DataType) -> DfResult<DataType> {
    use DataType::*;
    Ok(match t {
        Dictionary(_, v) => coerced(kind, v)?,
        t if t.is_integer() => t.clone(),
        Decimal128(_, _) | Decimal256(_, _) | Duration(_) => t.clone(),
        Interval(_) if kind == Kind::Sum => t.clone(),
        Interval(_) => INTERVAL,
        Float16 | Float32 | Float64 => Float64,
        Null if kind == Kind::Sum => Int64,
        Null => Float64,
        other => {
            let name = if kind == Kind::Sum { "sum" } else { "avg" };
            return plan_err!("{name} is not defined for {other} (hint: cast it to a number)");
        }
    })
}

/// Postgres's `sum` or `avg` (see the module docs): DataFusion's own for the inputs it already
/// handles as Postgres does.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgAggregate {
    kind: Kind,
    inner: Arc<AggregateUDF>,
    signature: Signature,
}

impl PgAggregate {
    fn new(kind: Kind, inner: Arc<AggregateUDF>) -> Self {
        PgAggregate {
            kind,
            inner,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn finish(&self, t: &DataType) -> Option<Finish> {
        Finish::of(self.kind, t)
    }

    /// Postgres's interval `avg`, or a `sum`/`avg` of timestamp differences (durations here,
    /// intervals in Postgres, which both aggregate as intervals).
    fn interval_avg(&self, t: &DataType) -> bool {
        (self.kind == Kind::Avg && t == &INTERVAL) || matches!(t, DataType::Duration(_))
    }
}

impl AggregateUDFImpl for PgAggregate {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        match arg_types {
            [t] => Ok(vec![coerced(self.kind, t)?]),
            _ => plan_err!("{} takes one argument", self.name()),
        }
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        let t = &arg_types[0];
        if self.interval_avg(t) {
            return Ok(INTERVAL);
        }
        match self.finish(t) {
            Some(f) => Ok(f.data_type()),
            None => self.inner.return_type(arg_types),
        }
    }
    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        let t = args.expr_fields[0].data_type();
        if self.interval_avg(t) {
            if args.is_distinct {
                return Err(DataFusionError::NotImplemented(format!(
                    "{}(DISTINCT interval) when Skipper evaluates it itself",
                    self.name()
                )));
            }
            return Ok(Box::new(super::pgintervals::IntervalAvg::new(
                self.kind == Kind::Sum,
            )));
        }
        let Some(finish) = self.finish(t) else {
            return self.inner.accumulator(args);
        };
        if args.is_distinct {
            Ok(Box::new(DistinctSum {
                values: HashSet::new(),
                finish,
            }))
        } else {
            Ok(Box::new(RunningSum {
                sum: i256::ZERO,
                count: 0,
                finish,
            }))
        }
    }
    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        let t = args.input_fields[0].data_type();
        if self.interval_avg(t) {
            return Ok(super::pgintervals::interval_avg_state(args.name));
        }
        let Some(finish) = self.finish(t) else {
            return self.inner.state_fields(args);
        };
        let name = |part: &str| datafusion::logical_expr::utils::format_state_name(args.name, part);
        let sum_type = DataType::Decimal128(MAX_PRECISION, finish.scale());
        if args.is_distinct {
            Ok(vec![Arc::new(Field::new_list(
                name("distinct"),
                Field::new_list_field(sum_type, true),
                false,
            ))])
        } else {
            Ok(vec![
                Arc::new(Field::new(name("count"), DataType::UInt64, true)),
                Arc::new(Field::new(name("sum"), sum_type, true)),
            ])
        }
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        let t = args.expr_fields[0].data_type();
        if self.interval_avg(t) {
            return false;
        }
        match self.finish(t) {
            Some(_) => !args.is_distinct,
            None => self.inner.groups_accumulator_supported(args),
        }
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> DfResult<Box<dyn GroupsAccumulator>> {
        let Some(finish) = self.finish(args.expr_fields[0].data_type()) else {
            return self.inner.create_groups_accumulator(args);
        };
        Ok(Box::new(GroupedSums {
            counts: Vec::new(),
            sums: Vec::new(),
            finish,
        }))
    }
    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }
    fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
        self.inner.documentation()
    }
}

/// Exact sums per group: a count and a 128-bit sum per group (an error, not a wrap-around, past
/// that), finished by [`Finish::array`].
#[derive(Debug)]
struct GroupedSums {
    counts: Vec<u64>,
    sums: Vec<i128>,
    finish: Finish,
}

impl GroupedSums {
    fn add(
        &mut self,
        group_indices: &[usize],
        total_num_groups: usize,
        each: impl Fn(usize) -> Option<(i128, u64)>,
    ) -> DfResult<()> {
        self.counts.resize(total_num_groups, 0);
        self.sums.resize(total_num_groups, 0);
        for (row, &g) in group_indices.iter().enumerate() {
            if let Some((sum, count)) = each(row) {
                self.sums[g] = self.sums[g].checked_add(sum).ok_or_else(sum_overflow)?;
                self.counts[g] += count;
            }
        }
        Ok(())
    }

    fn state_sums(&self, sums: Vec<i128>, valid: Vec<bool>) -> DfResult<ArrayRef> {
        let nulls = datafusion::arrow::buffer::NullBuffer::from(valid);
        Ok(Arc::new(
            Decimal128Array::new(sums.into(), Some(nulls))
                .with_precision_and_scale(MAX_PRECISION, self.finish.scale())?,
        ))
    }
}

fn kept(filter: Option<&datafusion::arrow::array::BooleanArray>, row: usize) -> bool {
    !filter.is_some_and(|f| f.is_null(row) || !f.value(row))
}

impl GroupsAccumulator for GroupedSums {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&datafusion::arrow::array::BooleanArray>,
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.counts.resize(total_num_groups, 0);
        self.sums.resize(total_num_groups, 0);
        let (sums, counts) = (&mut self.sums, &mut self.counts);
        with_exact!(values[0], array => grouped_add(sums, counts, array, group_indices, opt_filter))
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> DfResult<()> {
        let counts = values[0].as_primitive::<UInt64Type>();
        let sums = values[1].as_primitive::<Decimal128Type>();
        self.add(group_indices, total_num_groups, |row| {
            (counts.is_valid(row) && sums.is_valid(row) && counts.value(row) > 0)
                .then(|| (sums.value(row), counts.value(row)))
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> DfResult<ArrayRef> {
        let counts = emit_to.take_needed(&mut self.counts);
        let sums = emit_to.take_needed(&mut self.sums);
        self.finish.array(sums, counts)
    }

    fn state(&mut self, emit_to: EmitTo) -> DfResult<Vec<ArrayRef>> {
        let counts = emit_to.take_needed(&mut self.counts);
        let sums = emit_to.take_needed(&mut self.sums);
        let valid = counts.iter().map(|c| *c > 0).collect();
        Ok(vec![
            Arc::new(datafusion::arrow::array::UInt64Array::from(counts)),
            self.state_sums(sums, valid)?,
        ])
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&datafusion::arrow::array::BooleanArray>,
    ) -> DfResult<Vec<ArrayRef>> {
        let values = exact_values(&values[0])?;
        let valid: Vec<bool> = (0..values.len())
            .map(|row| values.is_valid(row) && kept(opt_filter, row))
            .collect();
        let counts: Vec<u64> = valid.iter().map(|k| u64::from(*k)).collect();
        Ok(vec![
            Arc::new(datafusion::arrow::array::UInt64Array::from(counts)),
            self.state_sums(values.values().to_vec(), valid)?,
        ])
    }

    fn size(&self) -> usize {
        self.counts.capacity() * 8 + self.sums.capacity() * 16
    }
}

/// An exact sum outside grouped aggregation (whole-table and window aggregates); retractable for
/// sliding window frames.
#[derive(Debug)]
struct RunningSum {
    sum: i256,
    count: u64,
    finish: Finish,
}

impl RunningSum {
    fn add(&mut self, values: &ArrayRef, sign: i256) -> DfResult<()> {
        let (sum, count) = with_exact!(values, array => Ok(batch_sum(array)))?;
        self.sum = self.sum.checked_add(sum * sign).ok_or_else(sum_overflow)?;
        if sign == i256::ONE {
            self.count += count;
        } else {
            self.count -= count;
        }
        Ok(())
    }
}

impl Accumulator for RunningSum {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.add(&values[0], i256::ONE)
    }
    fn retract_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.add(&values[0], i256::MINUS_ONE)
    }
    fn supports_retract_batch(&self) -> bool {
        true
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let counts = states[0].as_primitive::<UInt64Type>();
        self.count += counts.iter().flatten().sum::<u64>();
        for v in states[1].as_primitive::<Decimal128Type>().iter().flatten() {
            self.sum = self
                .sum
                .checked_add(i256::from_i128(v))
                .ok_or_else(sum_overflow)?;
        }
        Ok(())
    }
    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        let sum = ScalarValue::Decimal128(
            Some(self.sum.to_i128().ok_or_else(sum_overflow)?),
            MAX_PRECISION,
            self.finish.scale(),
        );
        Ok(vec![ScalarValue::UInt64(Some(self.count)), sum])
    }
    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        Ok(self.finish.scalar(self.finish.value(self.sum, self.count)?))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// `sum(DISTINCT x)` or `avg(DISTINCT x)` of an exact input.
#[derive(Debug)]
struct DistinctSum {
    values: HashSet<i128>,
    finish: Finish,
}

impl Accumulator for DistinctSum {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.values
            .extend(exact_values(&values[0])?.iter().flatten());
        Ok(())
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let lists: &ListArray = states[0].as_list::<i32>();
        for list in lists.iter().flatten() {
            self.update_batch(&[list])?;
        }
        Ok(())
    }
    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        let values = Decimal128Array::from_iter_values(self.values.iter().copied())
            .with_precision_and_scale(MAX_PRECISION, self.finish.scale())?;
        Ok(vec![ScalarValue::List(Arc::new(
            datafusion::common::utils::SingleRowListArrayBuilder::new(Arc::new(values))
                .build_list_array(),
        ))])
    }
    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        let mut sum = i256::ZERO;
        for v in &self.values {
            sum = sum
                .checked_add(i256::from_i128(*v))
                .ok_or_else(sum_overflow)?;
        }
        let count = self.values.len() as u64;
        Ok(self.finish.scalar(self.finish.value(sum, count)?))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.capacity() * 24
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finishing_follows_postgres_types() {
        assert_eq!(
            Finish::of(Kind::Sum, &DataType::Int32),
            Some(Finish::Bigint)
        );
        assert_eq!(
            Finish::of(Kind::Sum, &DataType::Int64),
            Some(Finish::Numeric)
        );
        assert_eq!(Finish::of(Kind::Sum, &DataType::Float64), None);
        assert_eq!(
            Finish::of(Kind::Avg, &DataType::Int16),
            Some(Finish::Avg(0))
        );
        let big = i256::from_i128(i64::MAX as i128 + 1);
        assert_eq!(Finish::Numeric.value(big, 2).unwrap(), Some(big));
        assert!(Finish::Bigint.value(big, 2).is_err());
        assert_eq!(Finish::Bigint.value(i256::ZERO, 0).unwrap(), None);
        // avg of 1 and 2 = 1.5, at the planned 20 places
        let avg = Finish::Avg(0)
            .value(i256::from_i128(3), 2)
            .unwrap()
            .unwrap();
        assert_eq!(avg, i256::from_i128(15 * 10i128.pow(19)));
        let limit = pow10(38).unwrap();
        assert!(Finish::Numeric.value(limit, 1).is_err());
    }

    #[test]
    fn averages_too_wide_for_decimal128_are_decimal256() {
        use DataType::*;
        assert_eq!(Finish::of(Kind::Avg, &Int64), Some(Finish::WideAvg(0)));
        assert_eq!(Finish::of(Kind::Avg, &Int32), Some(Finish::Avg(0)));
        // numeric(12,2): 10 integer digits and 20 places fit; numeric(38,0) does not.
        assert_eq!(
            Finish::of(Kind::Avg, &Decimal128(12, 2)),
            Some(Finish::Avg(2))
        );
        assert_eq!(
            Finish::of(Kind::Avg, &Decimal128(38, 0)),
            Some(Finish::WideAvg(0))
        );
        assert_eq!(Finish::WideAvg(0).data_type(), Decimal256(76, 20));
        // avg(bigint) of i64::MAX and i64::MAX - 1 is 9223372036854775806.5, which Postgres
        // rounds to 16 significant digits, so no places: 9223372036854775807, then padded.
        let sum = i256::from_i128(2 * i64::MAX as i128 - 1);
        let avg = Finish::WideAvg(0).value(sum, 2).unwrap().unwrap();
        let expected = i256::from_i128(i64::MAX as i128) * pow10(20).unwrap();
        assert_eq!(avg, expected);
        let ScalarValue::Decimal256(Some(v), 76, 20) = Finish::WideAvg(0).scalar(Some(avg)) else {
            panic!("a wide average is a Decimal256(76, 20)");
        };
        assert_eq!(v, expected);
    }
}
