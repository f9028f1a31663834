//! Numeric division on the DataFusion path, with Postgres's result scale (`avg`, the same
//! division of a sum by a count, is in `pgsums`).
//!
//! Postgres gives a numeric quotient a scale chosen per value (`select_div_scale` in its
//! `numeric.c`, re-derived here): at least 16 significant digits, and never fewer decimals than
//! either operand has, so `1::numeric / 3` is `0.33333333333333333333` and `avg` of a
//! numeric(12,2) column is `1234.5000000000000000`. `avg(numeric)` is the same division of the
//! sum by the count. DataFusion plans a fixed scale instead (6 places for `avg`, `s1 + p2 + 1` for
//! `/`, truncating), so its quotients lost digits, and so did the answers Postgres computed in a
//! federated fragment, as they were read into that planned scale.
//!
//! Here, on the DataFusion path:
//! - `a / b` of numerics (or a numeric and an integer) is rewritten, before type coercion, to
//!   `numeric_div(a, b)`: typed `Decimal128(38, max(20, s1, s2))`, computed per value with
//!   Postgres's scale and rounding (half away from zero), then padded to the column's scale. The
//!   name is Postgres's own function behind the `/` operator, so a federated fragment unparses to
//!   SQL Postgres runs itself.
//! - `avg` of a Decimal128 or an integer is typed the same way and finished by the same
//!   division ([`super::pgsums`]).
//!
//! Twenty places hold every quotient of magnitude at least 10⁻⁴ exactly as Postgres prints it
//! (Postgres uses 16 places from 1 up, 20 from 10⁻⁴); smaller quotients are rounded to 20 places
//! (or to the operands' scale when that is larger), and Decimal128 leaves 18 integer digits. A
//! result outside that range is an error, never a wrong number.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Decimal128Builder};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, i256};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, DataFusionError};
use datafusion::config::ConfigOptions;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::FunctionRewrite;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, Operator, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use std::sync::{Arc, LazyLock};

/// Postgres's `NUMERIC_MIN_SIG_DIGITS`: a quotient keeps at least this many significant digits.
const MIN_SIG_DIGITS: i32 = 16;
/// The fewest decimal places a planned quotient column has (see the module docs).
const MIN_PLANNED_SCALE: i8 = 20;
pub(super) const MAX_PRECISION: u8 = 38;
/// A Decimal256's precision: the type of a quotient or average with an operand too wide for a
/// Decimal128 to hold with 20 places.
pub(super) const WIDE_PRECISION: u8 = 76;

/// The scale a numeric quotient (or average) column is planned with.
pub(super) fn quotient_scale(s1: i8, s2: i8) -> i8 {
    MIN_PLANNED_SCALE.max(s1).max(s2).min(MAX_PRECISION as i8)
}

pub(super) fn quotient_type(s1: i8, s2: i8) -> DataType {
    DataType::Decimal128(MAX_PRECISION, quotient_scale(s1, s2))
}

static NUMERIC_DIV: LazyLock<Arc<ScalarUDF>> =
    LazyLock::new(|| Arc::new(ScalarUDF::new_from_impl(NumericDiv::new())));

/// Register `numeric_div`, Postgres's `avg` for numerics, and the rewrite of `/`.
pub(super) fn register(state: &mut datafusion::execution::session_state::SessionState) {
    use datafusion::execution::FunctionRegistry;
    let ok = state
        .register_udf(Arc::clone(&NUMERIC_DIV))
        .and_then(|_| state.register_udf(Arc::new(ScalarUDF::new_from_impl(WidthBucket::new()))))
        .and_then(|_| {
            state.register_udf(Arc::new(ScalarUDF::new_from_impl(NumericCast {
                signature: Signature::any(1, Volatility::Immutable),
            })))
        })
        .and_then(|_| state.register_function_rewrite(Arc::new(ExactLiterals)))
        .and_then(|_| state.register_function_rewrite(Arc::new(NumericDivision)))
        .and_then(|_| state.register_function_rewrite(Arc::new(RealWidening)))
        .and_then(|_| state.register_function_rewrite(Arc::new(FloatResolution)));
    // Registering into a fresh session's maps cannot fail; if it ever did, DataFusion's own
    // division and avg stay in place, which is a scale difference and not a failure.
    if let Err(e) = ok {
        tracing::warn!("Postgres numeric division not registered: {e}");
    }
}

/// The integer's decimal precision when an integer meets a numeric (as Postgres casts it).
fn integer_digits(t: &DataType) -> Option<u8> {
    Some(match t {
        DataType::Int8 | DataType::UInt8 => 3,
        DataType::Int16 | DataType::UInt16 => 5,
        DataType::Int32 | DataType::UInt32 => 10,
        DataType::Int64 | DataType::UInt64 => 20,
        _ => return None,
    })
}

/// Rewrites `a / b` to `numeric_div(a, b)` when one side is a Decimal128 and the other a
/// Decimal128 or an integer (integer / integer stays integer division, as in Postgres; a float
/// on either side makes it a float division, as in Postgres).
#[derive(Debug)]
struct NumericDivision;

impl FunctionRewrite for NumericDivision {
    fn name(&self) -> &str {
        "skipper_numeric_division"
    }

    fn rewrite(
        &self,
        expr: Expr,
        schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> DfResult<Transformed<Expr>> {
        let Expr::BinaryExpr(BinaryExpr {
            op: Operator::Divide,
            left,
            right,
        }) = &expr
        else {
            return Ok(Transformed::no(expr));
        };
        let (Ok(l), Ok(r)) = (left.get_type(schema), right.get_type(schema)) else {
            return Ok(Transformed::no(expr));
        };
        let numeric =
            |t: &DataType| matches!(t, DataType::Decimal128(_, _) | DataType::Decimal256(_, _));
        let integer = |t: &DataType| integer_digits(t).is_some();
        if !((numeric(&l) && (numeric(&r) || integer(&r))) || (integer(&l) && numeric(&r))) {
            return Ok(Transformed::no(expr));
        }
        let Expr::BinaryExpr(BinaryExpr { left, right, .. }) = expr else {
            unreachable!("matched above")
        };
        Ok(Transformed::yes(Expr::ScalarFunction(
            ScalarFunction::new_udf(Arc::clone(&NUMERIC_DIV), vec![*left, *right]),
        )))
    }
}

/// A `double precision` meeting a `numeric` is compared as a double in Postgres (numeric casts
/// to float8 implicitly, not the reverse), and where one result is chosen from several values
/// (CASE branches, `coalesce`, `nullif`, `greatest`, `least`) the result is a double (the
/// preferred type of the numeric category). DataFusion cast the double to Decimal128(30, 15)
/// instead (Skipper reads literals such as `0.5` as exact decimals): `latency_ms > 0.5` failed
/// for values of 10^15 and more ("too large to store in a Decimal128 of precision 30"), and a
/// chosen value printed `0.500000000000000`. The numeric sides are cast to Float64 first.
#[derive(Debug)]
struct FloatResolution;

impl FunctionRewrite for FloatResolution {
    fn name(&self) -> &str {
        "skipper_float_resolution"
    }

    fn rewrite(
        &self,
        expr: Expr,
        schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> DfResult<Transformed<Expr>> {
        let float = |e: &Expr| {
            matches!(
                e.get_type(schema),
                Ok(DataType::Float64 | DataType::Float32)
            )
        };
        let decimal = |e: &Expr| {
            matches!(
                e.get_type(schema),
                Ok(DataType::Decimal128(..) | DataType::Decimal256(..))
            )
        };
        let widen = |e: Expr| {
            if decimal(&e) {
                Expr::Cast(datafusion::logical_expr::Cast::new(
                    Box::new(e),
                    DataType::Float64,
                ))
            } else {
                e
            }
        };
        match expr {
            Expr::BinaryExpr(BinaryExpr { left, op, right })
                if matches!(
                    op,
                    Operator::Eq
                        | Operator::NotEq
                        | Operator::Lt
                        | Operator::LtEq
                        | Operator::Gt
                        | Operator::GtEq
                        | Operator::IsDistinctFrom
                        | Operator::IsNotDistinctFrom
                ) && ((float(&left) && decimal(&right))
                    || (decimal(&left) && float(&right))) =>
            {
                Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
                    left: Box::new(widen(*left)),
                    op,
                    right: Box::new(widen(*right)),
                })))
            }
            Expr::InList(mut l)
                if (float(&l.expr) && l.list.iter().any(decimal))
                    || (decimal(&l.expr) && l.list.iter().any(float)) =>
            {
                l.expr = Box::new(widen(*l.expr));
                l.list = l.list.into_iter().map(widen).collect();
                Ok(Transformed::yes(Expr::InList(l)))
            }
            Expr::Between(mut b)
                if [&*b.expr, &*b.low, &*b.high].into_iter().any(float)
                    && [&*b.expr, &*b.low, &*b.high].into_iter().any(decimal) =>
            {
                b.expr = Box::new(widen(*b.expr));
                b.low = Box::new(widen(*b.low));
                b.high = Box::new(widen(*b.high));
                Ok(Transformed::yes(Expr::Between(b)))
            }
            Expr::ScalarFunction(mut f)
                if matches!(f.func.name(), "coalesce" | "nullif" | "greatest" | "least")
                    && f.args.iter().any(float)
                    && f.args.iter().any(decimal) =>
            {
                f.args = f.args.into_iter().map(widen).collect();
                Ok(Transformed::yes(Expr::ScalarFunction(f)))
            }
            Expr::Case(mut c)
                if c.when_then_expr
                    .iter()
                    .map(|(_, t)| t.as_ref())
                    .chain(c.else_expr.as_deref())
                    .any(float)
                    && c.when_then_expr
                        .iter()
                        .map(|(_, t)| t.as_ref())
                        .chain(c.else_expr.as_deref())
                        .any(decimal) =>
            {
                c.when_then_expr = c
                    .when_then_expr
                    .into_iter()
                    .map(|(w, t)| (w, Box::new(widen(*t))))
                    .collect();
                c.else_expr = c.else_expr.map(|e| Box::new(widen(*e)));
                Ok(Transformed::yes(Expr::Case(c)))
            }
            other => Ok(Transformed::no(other)),
        }
    }
}

/// Exact literals as arrow's casts read them right:
/// - `1e9` parses as a Decimal128 of precision 1 and scale -9, which arrow casts to a double as
///   `1 / 10^-9 = 999999999.9999999`, so `latency_ms / 1e9` was off in its last digit (and
///   printed so). Such a literal becomes its integer value at scale 0, as Postgres types it;
/// - `12345678.123456789::float8`: arrow converts the scaled integer to a double before dividing
///   by the power of ten, rounding twice (12345678.123456787; Postgres 12345678.12345679). An
///   explicit cast of an exact literal to a float is the double nearest its decimal text;
/// - `round(x, n)` with a literal `n` is typed with `n` places (`round(price, 1)` is
///   numeric(p, 1)), which DataFusion decides from the literal, but only when it sees one: type
///   coercion wraps an integer literal in a cast to `int`, so a query pushed down whole (whose
///   schema is planned before the cast is folded) kept the input's scale, and
///   `round(x::numeric, 2)` printed `81.6400000000` where Postgres prints `81.64`. The literal
///   is made an `int` here, before coercion, so no cast hides it.
#[derive(Debug)]
struct ExactLiterals;

impl FunctionRewrite for ExactLiterals {
    fn name(&self) -> &str {
        "skipper_exact_literals"
    }

    fn rewrite(
        &self,
        expr: Expr,
        _schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> DfResult<Transformed<Expr>> {
        use datafusion::common::ScalarValue;
        match &expr {
            Expr::Literal(ScalarValue::Decimal128(Some(v), p, s), meta) if *s < 0 => {
                let widened = pow10((-*s) as u32)
                    .and_then(|m| i256::from_i128(*v).checked_mul(m))
                    .and_then(|w| w.to_i128());
                let precision = *p as i32 - *s as i32;
                match widened {
                    Some(w) if precision <= MAX_PRECISION as i32 => {
                        Ok(Transformed::yes(Expr::Literal(
                            ScalarValue::Decimal128(Some(w), precision as u8, 0),
                            meta.clone(),
                        )))
                    }
                    _ => Ok(Transformed::no(expr)),
                }
            }
            Expr::Cast(datafusion::logical_expr::Cast { expr: inner, field })
                if matches!(field.data_type(), DataType::Float64 | DataType::Float32) =>
            {
                let data_type = field.data_type();
                let Expr::Literal(ScalarValue::Decimal128(Some(v), p, s), _) = inner.as_ref()
                else {
                    return Ok(Transformed::no(expr));
                };
                let text =
                    <Decimal128Type as datafusion::arrow::datatypes::DecimalType>::format_decimal(
                        *v, *p, *s,
                    );
                let Ok(x) = text.parse::<f64>() else {
                    return Ok(Transformed::no(expr));
                };
                let value = if *data_type == DataType::Float32 {
                    ScalarValue::Float32(Some(text.parse::<f32>().unwrap_or(x as f32)))
                } else {
                    ScalarValue::Float64(Some(x))
                };
                Ok(Transformed::yes(Expr::Literal(value, None)))
            }
            Expr::ScalarFunction(ScalarFunction { func, args }) if func.name() == "round" => {
                let [x, Expr::Literal(ScalarValue::Int64(Some(n)), _)] = args.as_slice() else {
                    return Ok(Transformed::no(expr));
                };
                let Ok(places) = i32::try_from(*n) else {
                    return Ok(Transformed::no(expr));
                };
                let args = vec![
                    x.clone(),
                    Expr::Literal(ScalarValue::Int32(Some(places)), None),
                ];
                Ok(Transformed::yes(Expr::ScalarFunction(
                    ScalarFunction::new_udf(Arc::clone(func), args),
                )))
            }
            _ => Ok(Transformed::no(expr)),
        }
    }
}

/// `real` meeting any other number in arithmetic is widened to `double precision` first, as
/// Postgres resolves the operator (`real * 2` is `float8`: 0.31::real * 2 = 0.6200000047683716);
/// DataFusion computed in `real` (0.62). `real` with `real` stays `real`, as in Postgres.
#[derive(Debug)]
struct RealWidening;

impl FunctionRewrite for RealWidening {
    fn name(&self) -> &str {
        "skipper_real_widening"
    }

    fn rewrite(
        &self,
        expr: Expr,
        schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> DfResult<Transformed<Expr>> {
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else {
            return Ok(Transformed::no(expr));
        };
        if !matches!(
            op,
            Operator::Plus
                | Operator::Minus
                | Operator::Multiply
                | Operator::Divide
                | Operator::Modulo
        ) {
            return Ok(Transformed::no(expr));
        }
        let (Ok(l), Ok(r)) = (left.get_type(schema), right.get_type(schema)) else {
            return Ok(Transformed::no(expr));
        };
        let number = |t: &DataType| t.is_numeric() && *t != DataType::Float32;
        let widen_left = l == DataType::Float32 && number(&r);
        let widen_right = r == DataType::Float32 && number(&l);
        if !(widen_left || widen_right) {
            return Ok(Transformed::no(expr));
        }
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
            unreachable!("matched above")
        };
        let widen = |e: Box<Expr>, yes: bool| {
            if yes {
                Box::new(Expr::Cast(datafusion::logical_expr::Cast::new(
                    e,
                    DataType::Float64,
                )))
            } else {
                e
            }
        };
        Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
            left: widen(left, widen_left),
            op,
            right: widen(right, widen_right),
        })))
    }
}

/// `numeric_div(a, b)`: `a / b` of numerics as Postgres computes it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct NumericDiv {
    signature: Signature,
}

impl NumericDiv {
    fn new() -> Self {
        NumericDiv {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

fn decimal_scale(t: &DataType) -> DfResult<i8> {
    match t {
        DataType::Decimal128(_, s) | DataType::Decimal256(_, s) => Ok(*s),
        DataType::Null => Ok(0),
        t if integer_digits(t).is_some() => Ok(0),
        t => Err(DataFusionError::Plan(format!(
            "numeric_div takes numerics, not {t}"
        ))),
    }
}

impl ScalarUDFImpl for NumericDiv {
    fn name(&self) -> &str {
        "numeric_div"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        if arg_types.len() != 2 {
            return Err(DataFusionError::Plan(
                "numeric_div takes two arguments".into(),
            ));
        }
        arg_types
            .iter()
            .map(|t| match t {
                DataType::Decimal128(_, _) | DataType::Decimal256(_, _) => Ok(t.clone()),
                DataType::Null => Ok(DataType::Decimal128(1, 0)),
                t => match integer_digits(t) {
                    Some(p) => Ok(DataType::Decimal128(p, 0)),
                    None => Err(DataFusionError::Plan(format!(
                        "numeric_div takes numerics, not {t}"
                    ))),
                },
            })
            .collect()
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        let [a, b] = arg_types else {
            return Err(DataFusionError::Plan(
                "numeric_div takes two arguments".into(),
            ));
        };
        let (s1, s2) = (decimal_scale(a)?, decimal_scale(b)?);
        if is_wide(a) || is_wide(b) {
            return Ok(DataType::Decimal256(WIDE_PRECISION, quotient_scale(s1, s2)));
        }
        Ok(quotient_type(s1, s2))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let (all_scalar, _) = super::pgudf::shape(&args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let wide = is_wide(arrays[0].data_type()) || is_wide(arrays[1].data_type());
        let (a, s1) = exact_at(&arrays[0])?;
        let (b, s2) = exact_at(&arrays[1])?;
        let out = quotient_scale(s1, s2);
        let precision = if wide { WIDE_PRECISION } else { MAX_PRECISION };
        let quotient = |i: usize| match (a(i), b(i)) {
            (Some(a), Some(b)) => pg_div_within(a, s1, b, s2, out, precision).map(Some),
            _ => Ok(None),
        };
        let len = arrays[0].len();
        let result: ArrayRef = if wide {
            let mut built = datafusion::arrow::array::Decimal256Builder::with_capacity(len);
            for i in 0..len {
                built.append_option(quotient(i)?);
            }
            Arc::new(
                built
                    .finish()
                    .with_precision_and_scale(WIDE_PRECISION, out)?,
            )
        } else {
            let mut built = Decimal128Builder::with_capacity(len);
            for i in 0..len {
                built.append_option(quotient(i)?.map(|q| q.as_i128()));
            }
            Arc::new(
                built
                    .finish()
                    .with_precision_and_scale(MAX_PRECISION, out)?,
            )
        };
        super::pgudf::finish(result, all_scalar)
    }
}

fn is_wide(t: &DataType) -> bool {
    matches!(t, DataType::Decimal256(_, _))
}

/// A decimal column's value at a row as a 256-bit integer (`None` when null), and its scale;
/// read in place, with no copy of a Decimal128 column.
type ExactAt<'a> = Box<dyn Fn(usize) -> Option<i256> + 'a>;

fn exact_at(array: &ArrayRef) -> DfResult<(ExactAt<'_>, i8)> {
    match array.data_type() {
        DataType::Decimal128(_, s) => {
            let a = array.as_primitive::<Decimal128Type>();
            Ok((
                Box::new(move |i| a.is_valid(i).then(|| i256::from_i128(a.value(i)))),
                *s,
            ))
        }
        DataType::Decimal256(_, s) => {
            let a = array.as_primitive::<datafusion::arrow::datatypes::Decimal256Type>();
            Ok((Box::new(move |i| a.is_valid(i).then(|| a.value(i))), *s))
        }
        t => Err(DataFusionError::Internal(format!(
            "numeric_div of a {t} column"
        ))),
    }
}

pub(super) fn pow10(e: u32) -> Option<i256> {
    i256::from_i128(10).checked_pow(e)
}

/// `width_bucket(operand, low, high, count)`: which of `count` equal-width buckets between `low`
/// and `high` holds `operand` (0 below, `count + 1` at or above `high`; a `low` above `high`
/// counts downwards). Numerics are bucketed exactly, as Postgres does (`floor((x - low) · count /
/// (high - low)) + 1`); with a float among the bounds, in double precision.
#[derive(Debug, PartialEq, Eq, Hash)]
struct WidthBucket {
    signature: Signature,
}

impl WidthBucket {
    fn new() -> Self {
        WidthBucket {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

fn bucket_error(message: &str) -> DataFusionError {
    DataFusionError::Execution(format!("width_bucket: {message}"))
}

/// The bucket of `x` (`x`, `low`, `high` at one scale), Postgres's `compute_bucket`.
fn bucket_of<T>(x: T, low: T, high: T, count: i64) -> DfResult<i64>
where
    T: PartialOrd + Copy,
    T: std::ops::Sub<Output = T>,
    T: Bucket,
{
    if low == high {
        return Err(bucket_error("lower bound cannot equal upper bound"));
    }
    let (below, above, span, offset) = if low < high {
        (x < low, x >= high, high - low, x - low)
    } else {
        (x > low, x <= high, low - high, low - x)
    };
    Ok(if below {
        0
    } else if above {
        count + 1
    } else {
        T::floor_times(offset, count, span) + 1
    })
}

trait Bucket {
    /// `floor(offset · count / span)` for `0 ≤ offset < span`.
    fn floor_times(offset: Self, count: i64, span: Self) -> i64;
}

impl Bucket for i256 {
    fn floor_times(offset: i256, count: i64, span: i256) -> i64 {
        (offset * i256::from_i128(count as i128) / span).as_i128() as i64
    }
}

impl Bucket for f64 {
    fn floor_times(offset: f64, count: i64, span: f64) -> i64 {
        // Rounding can put the last value of the range at `count`; it belongs to the last bucket.
        ((count as f64 * offset / span) as i64).min(count - 1)
    }
}

impl ScalarUDFImpl for WidthBucket {
    fn name(&self) -> &str {
        "width_bucket"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        let [x, low, high, count] = arg_types else {
            return Err(DataFusionError::Plan(
                "width_bucket takes (operand, low, high, count)".into(),
            ));
        };
        let bounds = [x, low, high];
        let float = bounds
            .iter()
            .any(|t| matches!(t, DataType::Float16 | DataType::Float32 | DataType::Float64));
        let scale = bounds
            .iter()
            .map(|t| match t {
                DataType::Decimal128(_, s) => *s,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        let mut out = Vec::with_capacity(4);
        for t in bounds {
            out.push(match t {
                _ if float => DataType::Float64,
                DataType::Decimal128(_, _) | DataType::Null => {
                    DataType::Decimal128(MAX_PRECISION, scale)
                }
                t if integer_digits(t).is_some() => DataType::Decimal128(MAX_PRECISION, scale),
                t => {
                    return Err(DataFusionError::Plan(format!(
                        "width_bucket takes numbers, not {t}"
                    )));
                }
            });
        }
        if integer_digits(count).is_none() && *count != DataType::Null {
            return Err(DataFusionError::Plan(format!(
                "width_bucket's count is an integer, not {count}"
            )));
        }
        out.push(DataType::Int64);
        Ok(out)
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int32)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        use datafusion::arrow::array::Int32Builder;
        use datafusion::arrow::datatypes::{Float64Type, Int64Type};
        let (all_scalar, _) = super::pgudf::shape(&args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let counts = arrays[3].as_primitive::<Int64Type>();
        let rows = counts.len();
        let mut built = Int32Builder::with_capacity(rows);
        let float = matches!(arrays[0].data_type(), DataType::Float64);
        for i in 0..rows {
            if arrays.iter().any(|a| a.is_null(i)) {
                built.append_null();
                continue;
            }
            let count = counts.value(i);
            if count <= 0 {
                return Err(bucket_error("count must be greater than zero"));
            }
            let bucket = if float {
                let v = |k: usize| arrays[k].as_primitive::<Float64Type>().value(i);
                let (x, low, high) = (v(0), v(1), v(2));
                if x.is_nan() || low.is_nan() || high.is_nan() {
                    return Err(bucket_error(
                        "operand, lower bound, and upper bound cannot be NaN",
                    ));
                }
                if !low.is_finite() || !high.is_finite() {
                    return Err(bucket_error("lower and upper bounds must be finite"));
                }
                bucket_of(x, low, high, count)?
            } else {
                let v =
                    |k: usize| i256::from_i128(arrays[k].as_primitive::<Decimal128Type>().value(i));
                bucket_of(v(0), v(1), v(2), count)?
            };
            built.append_value(
                i32::try_from(bucket).map_err(|_| bucket_error("integer out of range"))?,
            );
        }
        let result: ArrayRef = Arc::new(built.finish());
        super::pgudf::finish(result, all_scalar)
    }
}

/// Postgres's base-10000 weight and first digit of `x / 10^scale` (`x` > 0): the value's
/// leading digit group, counted from the decimal point as Postgres stores numerics.
fn weight_and_first_digit(x: i256, scale: i8) -> (i32, i256) {
    let digits = x.checked_ilog10().map_or(0, |d| d as i32 + 1);
    let exponent = digits - 1 - scale as i32;
    let weight = exponent.div_euclid(4);
    let k = scale as i32 + 4 * weight;
    let first = if k >= 0 {
        x / pow10(k as u32).expect("k ≤ digits")
    } else {
        // |k| < 4: the leading group's digits sit left of where `x` ends.
        x * pow10((-k) as u32).expect("small")
    };
    (weight, first)
}

/// `q` rounded half away from zero from `n / d`.
fn div_round(n: i256, d: i256) -> i256 {
    let q = n / d;
    let r = n % d;
    let twice = r.wrapping_abs().checked_mul(i256::from_i128(2));
    match twice {
        Some(t) if t < d.wrapping_abs() => q,
        _ if r == i256::ZERO => q,
        _ => {
            if n.is_negative() != d.is_negative() {
                q - i256::ONE
            } else {
                q + i256::ONE
            }
        }
    }
}

fn out_of_range(out: i8, precision: u8) -> DataFusionError {
    DataFusionError::Execution(format!(
        "numeric quotient out of range for a decimal of {precision} digits with {out} \
         places (more than {} integer digits) (hint: cast an operand, or avg's argument, to \
         double precision for an approximate result)",
        precision as i32 - out as i32
    ))
}

/// `a·10^-s1 / b·10^-s2` as Postgres computes it, as an integer scaled by `10^out` that fits a
/// Decimal128.
#[cfg(test)]
pub(crate) fn pg_div(a: i256, s1: i8, b: i256, s2: i8, out: i8) -> DfResult<i128> {
    pg_div_within(a, s1, b, s2, out, MAX_PRECISION).map(|q| q.as_i128())
}

/// [`pg_div`] for a decimal of `precision` digits (up to 76, a Decimal256).
pub(crate) fn pg_div_within(
    a: i256,
    s1: i8,
    b: i256,
    s2: i8,
    out: i8,
    precision: u8,
) -> DfResult<i256> {
    if b == i256::ZERO {
        return Err(DataFusionError::Execution("division by zero".into()));
    }
    if a == i256::ZERO {
        return Ok(i256::ZERO);
    }
    // select_div_scale: the quotient's estimated weight, then 16 significant digits.
    let (w1, f1) = weight_and_first_digit(a.wrapping_abs(), s1);
    let (w2, f2) = weight_and_first_digit(b.wrapping_abs(), s2);
    let qweight = w1 - w2 - i32::from(f1 <= f2);
    let rscale = (MIN_SIG_DIGITS - qweight * 4)
        .max(s1 as i32)
        .max(s2 as i32)
        .max(0);
    // Rounded once: at Postgres's scale when the column holds it, else at the column's.
    let r = rscale.min(out as i32);
    let e = s2 as i32 + r - s1 as i32;
    let q = if e >= 0 {
        match pow10(e as u32).and_then(|p| a.checked_mul(p)) {
            Some(n) => div_round(n, b),
            None => long_div_round(a, b, e as u32).ok_or_else(|| out_of_range(out, precision))?,
        }
    } else {
        match pow10((-e) as u32).and_then(|p| b.checked_mul(p)) {
            Some(d) => div_round(a, d),
            // The divisor alone exceeds 10^76 while |a| < 10^77: the quotient rounds to 0.
            None => i256::ZERO,
        }
    };
    let scaled = pow10((out as i32 - r) as u32)
        .and_then(|p| q.checked_mul(p))
        .ok_or_else(|| out_of_range(out, precision))?;
    let limit = pow10(precision as u32).expect("10^76 fits in 256 bits");
    if scaled.wrapping_abs() >= limit {
        return Err(out_of_range(out, precision));
    }
    Ok(scaled)
}

/// `round(a · 10^e / b)` one decimal digit at a time, for when `a · 10^e` overflows; `None` when
/// the quotient itself does.
fn long_div_round(a: i256, b: i256, e: u32) -> Option<i256> {
    let ten = i256::from_i128(10);
    let mut q = a / b;
    let mut r = a % b;
    for _ in 0..e {
        let n = r.checked_mul(ten)?;
        q = q.checked_mul(ten)?.checked_add(n / b)?;
        r = n % b;
    }
    let twice = r.wrapping_abs().checked_mul(i256::from_i128(2))?;
    if twice >= b.wrapping_abs() {
        q = if a.is_negative() != b.is_negative() {
            q.checked_sub(i256::ONE)?
        } else {
            q.checked_add(i256::ONE)?
        };
    }
    Some(q)
}

/// `x::numeric` with no precision: Postgres keeps every digit (the literal's, the operand's own
/// scale), where DataFusion casts to `Decimal128(38, 10)` and rounds at 10 places
/// (`'0.123456789012345'::numeric` gave `0.1234567890`, `(1::numeric / 3)::numeric` lost ten of
/// its twenty places), and so did Postgres in a federated fragment, which received `CAST(x AS
/// DECIMAL(38,10))`. Rewritten before planning:
/// - a number or numeric string literal: `CAST(x AS NUMERIC(38, s))`, `s` its own places;
/// - anything else: `skipper_numeric(x)`, which keeps a numeric's type, makes an integer a
///   numeric with no places, and casts text and floats as DataFusion did (38, 10); federated
///   SQL reads `CAST(x AS NUMERIC)` again ([`postgres_numeric`]).
pub(super) fn numeric_casts(statement: &mut datafusion::sql::sqlparser::ast::Statement) {
    use datafusion::sql::sqlparser::ast::{DataType as T, ExactNumberInfo, Expr as A, Value};
    super::pgudf::each_expr(statement, |e| {
        let A::Cast {
            expr, data_type, ..
        } = e
        else {
            return;
        };
        if !matches!(
            data_type,
            T::Numeric(ExactNumberInfo::None)
                | T::Decimal(ExactNumberInfo::None)
                | T::Dec(ExactNumberInfo::None)
        ) {
            return;
        }
        let literal = match expr.as_ref() {
            A::Value(v) => match &v.value {
                Value::Number(n, _) => Some(n.clone()),
                Value::SingleQuotedString(s) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        };
        match literal.as_deref().and_then(literal_scale) {
            Some(scale) => *data_type = T::Numeric(ExactNumberInfo::PrecisionAndScale(38, scale)),
            None if literal.is_some() => {}
            None => *e = super::pgudf::call("skipper_numeric", vec![*expr.clone()]),
        }
    });
}

/// The places of a numeric literal's text (exponent form written out first), when its digits
/// fit a 38-digit decimal.
fn literal_scale(text: &str) -> Option<i64> {
    let written = super::pgliterals::numeric_text(text);
    let t = written.as_deref().unwrap_or(text).trim();
    let t = t.strip_prefix(['-', '+']).unwrap_or(t);
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |p: &str| p.chars().all(|c| c.is_ascii_digit());
    let significant = int.trim_start_matches('0').len() + frac.len();
    (digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty()) && significant <= 38)
        .then_some(frac.len() as i64)
}

/// In SQL unparsed for Postgres, `skipper_numeric(x)` as `CAST(x AS NUMERIC)` again.
pub(super) fn postgres_numeric(statement: &mut datafusion::sql::sqlparser::ast::Statement) {
    use datafusion::sql::sqlparser::ast::{CastKind, DataType as T, ExactNumberInfo, Expr as A};
    super::pgudf::each_expr(statement, |e| {
        let A::Function(f) = e else { return };
        if !f.name.to_string().eq_ignore_ascii_case("skipper_numeric") {
            return;
        }
        let Some(args) = super::pgudf::call_args(f) else {
            return;
        };
        let [x] = args.as_slice() else { return };
        *e = A::Cast {
            kind: CastKind::Cast,
            expr: Box::new(A::Nested(Box::new((*x).clone()))),
            data_type: T::Numeric(ExactNumberInfo::None),
            array: false,
            format: None,
        };
    });
}

/// A float as Postgres makes it a numeric (`float8_numeric`: its text with `digits` significant
/// digits, so `(1/3::float8)::numeric` is `0.333333333333333` and `1e20/3` is
/// `33333333333333300000`), then at `scale` places, rounded half away from zero.
fn float_numeric(v: f64, digits: usize, scale: i8) -> DfResult<i128> {
    if !v.is_finite() {
        return Err(DataFusionError::Execution(format!(
            "cannot convert {v} to numeric"
        )));
    }
    // `d.ddd…e±x`: exactly `digits` significant digits, rounded as C's `%.*g` rounds.
    let text = format!("{v:.*e}", digits - 1);
    let (mantissa, exponent) = text.split_once('e').expect("exponent form");
    let exponent: i32 = exponent.parse().expect("an integer exponent");
    let m: i128 = mantissa.replace('.', "").parse().expect("digits");
    // v = m · 10^(exponent - digits + 1); scaled by 10^scale.
    let shift = exponent - (digits as i32 - 1) + scale as i32;
    let overflow = || DataFusionError::Execution("numeric field overflow".into());
    let scaled = if shift >= 0 {
        pow10(shift as u32)
            .and_then(|p| i256::from_i128(m).checked_mul(p))
            .ok_or_else(overflow)?
    } else if -shift > 40 {
        i256::ZERO
    } else {
        div_round(
            i256::from_i128(m),
            pow10((-shift) as u32).expect("10^40 fits"),
        )
    };
    if scaled.wrapping_abs() >= pow10(MAX_PRECISION as u32).expect("10^38 fits") {
        return Err(overflow());
    }
    Ok(scaled.as_i128())
}

/// `skipper_numeric(x)`: see [`numeric_casts`].
#[derive(Debug, PartialEq, Eq, Hash)]
struct NumericCast {
    signature: Signature,
}

impl ScalarUDFImpl for NumericCast {
    fn name(&self) -> &str {
        "skipper_numeric"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(match &arg_types[0] {
            t @ (DataType::Decimal128(_, _) | DataType::Decimal256(_, _)) => t.clone(),
            t if t.is_integer() => DataType::Decimal128(MAX_PRECISION, 0),
            _ => DataType::Decimal128(MAX_PRECISION, 10),
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let to = args.return_field.data_type();
        if let (DataType::Float64 | DataType::Float32, DataType::Decimal128(_, scale)) =
            (args.args[0].data_type(), to)
        {
            let (all_scalar, rows) = super::pgudf::shape(&args);
            let floats = datafusion::arrow::compute::cast(
                &args.args[0].to_array(rows)?,
                &DataType::Float64,
            )?;
            // float4 keeps 6 significant digits, float8 15 (FLT_DIG, DBL_DIG).
            let digits = if args.args[0].data_type() == DataType::Float32 {
                6
            } else {
                15
            };
            let mut built = Decimal128Builder::with_capacity(rows);
            for v in floats.as_primitive::<datafusion::arrow::datatypes::Float64Type>() {
                built.append_option(v.map(|v| float_numeric(v, digits, *scale)).transpose()?);
            }
            let result: ArrayRef = Arc::new(
                built
                    .finish()
                    .with_precision_and_scale(MAX_PRECISION, *scale)?,
            );
            return super::pgudf::finish(result, all_scalar);
        }
        let options = datafusion::arrow::compute::CastOptions {
            safe: false,
            ..Default::default()
        };
        match &args.args[0] {
            ColumnarValue::Array(a) => Ok(ColumnarValue::Array(
                datafusion::arrow::compute::cast_with_options(a, to, &options)?,
            )),
            ColumnarValue::Scalar(v) => Ok(ColumnarValue::Scalar(v.cast_to(to)?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` (a decimal literal) as an integer and its scale.
    fn dec(text: &str) -> (i256, i8) {
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits = format!("{int}{frac}");
        (
            i256::from_i128(digits.parse::<i128>().unwrap()),
            frac.len() as i8,
        )
    }

    /// The quotient as Postgres prints it: digits up to Postgres's own scale, when that fits.
    fn div(a: &str, b: &str) -> String {
        let ((a, s1), (b, s2)) = (dec(a), dec(b));
        let out = quotient_scale(s1, s2);
        let v = pg_div(a, s1, b, s2, out).unwrap();
        let text = <Decimal128Type as datafusion::arrow::datatypes::DecimalType>::format_decimal(
            v,
            MAX_PRECISION,
            out,
        );
        text.to_string()
    }

    // Expected values are Postgres 15's output for `SELECT a::numeric / b::numeric`, padded with
    // zeros to the planned 20 places; the two quotients below 10^-4, where Postgres prints 24
    // places (0.000033333333333333333333, 0.000001666666666666666667), rounded to 20.
    /// A session with this module's rewrites, and the analyzed schema and answer of `sql`.
    fn analyzed(sql: &str) -> (datafusion::common::DFSchemaRef, String) {
        // Skipper reads number literals as exact decimals, as Postgres does.
        let config = datafusion::prelude::SessionConfig::new()
            .set_bool("datafusion.sql_parser.parse_float_as_decimal", true);
        let mut state = datafusion::execution::session_state::SessionStateBuilder::new()
            .with_default_features()
            .with_config(config)
            .build();
        register(&mut state);
        let ctx = datafusion::prelude::SessionContext::new_with_state(state);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let plan = ctx.state().create_logical_plan(sql).await.unwrap();
            let analyzed = ctx
                .state()
                .analyzer()
                .execute_and_check(plan, ctx.state().config_options(), |_, _| {})
                .unwrap();
            let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
            let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                .unwrap()
                .to_string();
            (Arc::clone(analyzed.schema()), text)
        })
    }

    // Postgres 15: 1000000000 | 12345678.12345679 | 2000000000
    #[test]
    fn exponent_and_long_literals_are_exact() {
        let (schema, got) = analyzed(
            "SELECT 1e9::double AS a, 12345678.123456789::double AS b, 2 * 1e9 AS c, \
             CAST(1 AS double) / 1e3 AS d",
        );
        assert!(
            got.contains("| 1000000000.0 | 12345678.12345679 | 2000000000 | 0.001 |"),
            "{got}"
        );
        assert!(
            matches!(schema.field(2).data_type(), DataType::Decimal128(_, 0)),
            "{schema}"
        );
    }

    // The places of round(x, n) are planned from the literal before any optimization, as a
    // query pushed down whole takes its schema from there.
    #[test]
    fn round_places_are_planned_from_the_literal() {
        let (schema, got) = analyzed("SELECT round(13.456::numeric(10,3), 1) AS r");
        assert_eq!(schema.field(0).data_type(), &DataType::Decimal128(10, 1));
        assert!(got.contains("| 13.5 |"), "{got}");
    }

    // Expected values are Postgres 15's `x::numeric` for the same doubles, at 10 places.
    #[test]
    fn floats_become_numerics_with_postgres_digits() {
        let at10 = |v: f64| float_numeric(v, 15, 10).unwrap();
        // 0.333333333333333
        assert_eq!(at10(1.0 / 3.0), 3_333_333_333);
        // 33333333333333300000
        assert_eq!(at10(1e20 / 3.0), 333_333_333_333_333 * 10i128.pow(15));
        // 0.3 (0.1 + 0.2 is 0.30000000000000004)
        assert_eq!(at10(0.1 + 0.2), 3_000_000_000);
        // -1234567.12345679
        assert_eq!(at10(-1234567.1234567891), -12_345_671_234_567_900);
        // float4 keeps 6 digits: 0.1f32 is 0.1
        assert_eq!(
            float_numeric(f64::from(0.1f32), 6, 10).unwrap(),
            1_000_000_000
        );
        assert_eq!(at10(0.0), 0);
        assert!(float_numeric(f64::INFINITY, 15, 10).is_err());
        assert!(float_numeric(1e30, 15, 10).is_err());
    }

    #[test]
    fn numeric_literals_keep_their_places() {
        assert_eq!(literal_scale("0.123456789012345"), Some(15));
        assert_eq!(literal_scale("-1.5E-3"), Some(4));
        assert_eq!(literal_scale("1e3"), Some(0));
        assert_eq!(literal_scale(" 42 "), Some(0));
        assert_eq!(literal_scale("abc"), None);
        assert_eq!(
            literal_scale("1.23456789012345678901234567890123456789"),
            None
        );
    }

    #[test]
    fn quotients_match_postgres() {
        assert_eq!(div("1", "3"), "0.33333333333333333333");
        assert_eq!(div("10", "4"), "2.50000000000000000000");
        assert_eq!(div("2", "3"), "0.66666666666666666667");
        assert_eq!(div("-2", "3"), "-0.66666666666666666667");
        assert_eq!(div("12345.67", "10"), "1234.56700000000000000000");
        assert_eq!(div("100000", "3"), "33333.33333333333300000000");
        assert_eq!(div("1000000000", "7"), "142857142.85714286000000000000");
        assert_eq!(div("1", "30000"), "0.00003333333333333333");
        assert_eq!(div("0.000005", "3"), "0.00000166666666666667");
        assert_eq!(div("0", "3"), "0.00000000000000000000");
        assert_eq!(div("9999", "10000"), "0.99990000000000000000");
        assert_eq!(div("10000", "9999"), "1.00010001000100010000");
    }

    #[test]
    fn division_by_zero_and_overflow_are_errors() {
        let e = pg_div(i256::ONE, 0, i256::ZERO, 0, 20).unwrap_err();
        assert!(e.to_string().contains("division by zero"), "{e}");
        let big = i256::from_i128(10i128.pow(30));
        let e = pg_div(big, 0, i256::ONE, 0, 20).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
    }

    #[test]
    fn buckets_match_postgres() {
        // Postgres 15: width_bucket(x, 0, 200, 4) for these x, and reversed bounds.
        let b = |x: i128, low: i128, high: i128| {
            bucket_of(
                i256::from_i128(x),
                i256::from_i128(low),
                i256::from_i128(high),
                4,
            )
            .unwrap()
        };
        assert_eq!(
            [-1, 0, 49, 50, 199, 200, 250].map(|x| b(x, 0, 200)),
            [0, 1, 1, 2, 4, 5, 5]
        );
        assert_eq!(
            [201, 200, 150, 0, -1].map(|x| b(x, 200, 0)),
            [0, 1, 2, 5, 5]
        );
        assert_eq!(bucket_of(5.0, 0.0, 10.0, 3).unwrap(), 2);
        assert!(bucket_of(1.0, 2.0, 2.0, 3).is_err());
    }

    #[test]
    fn long_division_agrees_with_direct_division() {
        for (a, b, e) in [(1i128, 3i128, 20u32), (-7, 3, 30), (123456789, 97, 25)] {
            let (a, b) = (i256::from_i128(a), i256::from_i128(b));
            let direct = div_round(a * pow10(e).unwrap(), b);
            assert_eq!(long_div_round(a, b, e), Some(direct));
        }
    }
}
