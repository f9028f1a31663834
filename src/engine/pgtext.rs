//! Values as Postgres writes them in text, for the queries DataFusion plans itself:
//! - `CAST(x AS text)` (and `x::text`) of intervals, timestamps and floats, which DataFusion
//!   spells its own way (`PT3637S`, `2024-01-01T10:00:00`, `100000000000000000000`), is
//!   rewritten to `text(x)`: Postgres's output (`01:00:37`, `2024-01-01 10:00:00`, `1e+20`).
//!   Postgres reads `text(x)` as the same cast, so federated fragments unparse to SQL it runs.
//! - `format(fmt, …)` with `%s`, `%I`, `%L`, `%%`, positions (`%2$s`), `-` and widths;
//! - `json_build_object(k, v, …)`, as the text of Postgres's `json` (`{"a" : 1, "b" : "x"}`).
//!
//! Sessions here are in UTC, so timestamptz values print with `+00`, as in the Postgres
//! sessions Skipper opens.

use chrono::{DateTime, NaiveDateTime};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Float32Type, Float64Type, IntervalMonthDayNanoType, IntervalUnit,
    TimeUnit,
};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, DataFusionError, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::FunctionRewrite;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use std::sync::{Arc, LazyLock};

static TEXT: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
    Arc::new(ScalarUDF::new_from_impl(TextFn {
        kind: Kind::Text,
        signature: Signature::any(1, Volatility::Immutable),
    }))
});

pub(super) fn register(state: &mut datafusion::execution::session_state::SessionState) {
    use datafusion::execution::FunctionRegistry;
    let ok = state
        .register_udf(Arc::clone(&TEXT))
        .and_then(|_| {
            state.register_udf(Arc::new(ScalarUDF::new_from_impl(TextFn {
                kind: Kind::Format,
                signature: Signature::variadic_any(Volatility::Stable),
            })))
        })
        .and_then(|_| {
            state.register_udf(Arc::new(ScalarUDF::new_from_impl(TextFn {
                kind: Kind::JsonObject,
                signature: Signature::variadic_any(Volatility::Stable),
            })))
        })
        .and_then(|_| {
            state.register_udf(Arc::new(ScalarUDF::new_from_impl(TextFn {
                kind: Kind::Uuid,
                signature: Signature::any(1, Volatility::Immutable),
            })))
        })
        .and_then(|_| {
            [Kind::QuoteIdent, Kind::QuoteLiteral, Kind::QuoteNullable]
                .into_iter()
                .try_for_each(|kind| {
                    state
                        .register_udf(Arc::new(ScalarUDF::new_from_impl(TextFn {
                            kind,
                            signature: Signature::any(1, Volatility::Immutable),
                        })))
                        .map(|_| ())
                })
        })
        .and_then(|_| match state.udf("substr") {
            Ok(inner) => state.register_udf(Arc::new(ScalarUDF::new_from_impl(Substr::new(inner)))),
            Err(e) => Err(e),
        })
        .and_then(|_| state.register_function_rewrite(Arc::new(PostgresTextCasts)));
    if let Err(e) = ok {
        tracing::warn!("Postgres text functions not registered: {e}");
    }
}

/// Types whose text DataFusion writes differently from Postgres.
fn printed_differently(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Interval(_)
            | DataType::Timestamp(_, _)
            | DataType::Float32
            | DataType::Float64
            | DataType::Duration(_)
    )
}

#[derive(Debug)]
struct PostgresTextCasts;

impl FunctionRewrite for PostgresTextCasts {
    fn name(&self) -> &str {
        "skipper_postgres_text_casts"
    }
    fn rewrite(
        &self,
        expr: Expr,
        schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> DfResult<Transformed<Expr>> {
        let Expr::Cast(cast) = &expr else {
            return Ok(Transformed::no(expr));
        };
        let to_text = matches!(
            cast.field.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        );
        if !to_text
            || !cast
                .expr
                .get_type(schema)
                .is_ok_and(|t| printed_differently(&t))
        {
            return Ok(Transformed::no(expr));
        }
        let Expr::Cast(cast) = expr else {
            unreachable!("matched above")
        };
        let text =
            Expr::ScalarFunction(ScalarFunction::new_udf(Arc::clone(&TEXT), vec![*cast.expr]));
        Ok(Transformed::yes(match cast.field.data_type() {
            DataType::Utf8 => text,
            _ => Expr::Cast(datafusion::logical_expr::expr::Cast::new_from_field(
                Box::new(text),
                cast.field,
            )),
        }))
    }
}

/// Booleans as a cast writes them (`true`) or as Postgres's output function does (`t`, what
/// `format` prints).
#[derive(Clone, Copy, PartialEq)]
enum Bools {
    Words,
    Letters,
}

/// A double as Postgres prints it: shortest digits, plain between 10⁻⁴ and 10^15, else
/// `1.7e+18`, `1.5e-07`.
pub fn postgres_float(v: f64) -> String {
    float_text(format!("{v}"), format!("{v:e}"), 15, v)
}

/// Postgres's shortest float text: plain between 10⁻⁴ and 10^15 (10^6 for real), else
/// `1e+20`, `1.5e-07`.
fn float_text(digits_plain: String, digits_exp: String, upper: i32, value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let (mantissa, exponent) = digits_exp.split_once('e').unwrap_or((&digits_exp, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if value == 0.0 || (-4..upper).contains(&exponent) {
        return digits_plain;
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

fn wall_clock(t: NaiveDateTime) -> String {
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let micros = t.and_utc().timestamp_subsec_micros();
    if micros != 0 {
        s.push('.');
        s.push_str(format!("{micros:06}").trim_end_matches('0'));
    }
    s
}

fn naive(unit: TimeUnit, v: i64) -> Option<NaiveDateTime> {
    let t = match unit {
        TimeUnit::Second => DateTime::from_timestamp(v, 0),
        TimeUnit::Millisecond => DateTime::from_timestamp_millis(v),
        TimeUnit::Microsecond => DateTime::from_timestamp_micros(v),
        TimeUnit::Nanosecond => Some(DateTime::from_timestamp_nanos(v)),
    };
    t.map(|t| t.naive_utc())
}

/// Value `row` of `array` as Postgres's text, `None` for NULL.
fn pg_text(array: &dyn Array, row: usize, bools: Bools) -> DfResult<Option<String>> {
    if array.is_null(row) {
        return Ok(None);
    }
    Ok(Some(match array.data_type() {
        DataType::Boolean => {
            let b = array.as_boolean().value(row);
            match (bools, b) {
                (Bools::Words, true) => "true",
                (Bools::Words, false) => "false",
                (Bools::Letters, true) => "t",
                (Bools::Letters, false) => "f",
            }
            .to_string()
        }
        DataType::Float64 => postgres_float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Float32 => {
            let v = array.as_primitive::<Float32Type>().value(row);
            float_text(format!("{v}"), format!("{v:e}"), 6, v as f64)
        }
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(row);
            chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163)
                .map(|d| d.format("%Y-%m-%d").to_string())
                .ok_or_else(|| DataFusionError::Execution("date out of range".into()))?
        }
        DataType::Timestamp(unit, tz) => {
            let v = ScalarValue::try_from_array(array, row)?;
            let raw = match v {
                ScalarValue::TimestampSecond(Some(v), _)
                | ScalarValue::TimestampMillisecond(Some(v), _)
                | ScalarValue::TimestampMicrosecond(Some(v), _)
                | ScalarValue::TimestampNanosecond(Some(v), _) => v,
                _ => return Ok(None),
            };
            let t = naive(*unit, raw)
                .ok_or_else(|| DataFusionError::Execution("timestamp out of range".into()))?;
            let mut s = wall_clock(t);
            if tz.is_some() {
                s.push_str("+00");
            }
            s
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let v = array.as_primitive::<IntervalMonthDayNanoType>().value(row);
            postgres_interval(v.months, v.days, v.nanoseconds)
        }
        DataType::Duration(_) => {
            let nanos = datafusion::arrow::compute::cast(
                &array.slice(row, 1),
                &DataType::Duration(TimeUnit::Nanosecond),
            )?;
            let nanos = nanos
                .as_primitive::<datafusion::arrow::datatypes::DurationNanosecondType>()
                .value(0);
            postgres_duration(nanos)
        }
        DataType::Interval(_) => {
            let cast = datafusion::arrow::compute::cast(
                &array.slice(row, 1),
                &DataType::Interval(IntervalUnit::MonthDayNano),
            )?;
            return pg_text(cast.as_ref(), 0, bools);
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            let v = ScalarValue::try_from_array(array, row)?;
            let bytes = match &v {
                ScalarValue::Binary(Some(b))
                | ScalarValue::LargeBinary(Some(b))
                | ScalarValue::BinaryView(Some(b)) => b.as_slice(),
                _ => &[],
            };
            let mut s = String::from("\\x");
            for b in bytes {
                s.push_str(&format!("{b:02x}"));
            }
            s
        }
        _ => {
            let cast = datafusion::arrow::compute::cast(&array.slice(row, 1), &DataType::Utf8)?;
            cast.as_string::<i32>().value(0).to_string()
        }
    }))
}

/// An interval the way Postgres prints it (IntervalStyle `postgres`):
/// `1 year 2 mons 3 days 04:05:06.5`, `-3 mons`, `-1 days +02:00:00`, `00:00:00`.
pub fn postgres_interval(months: i32, days: i32, nanos: i64) -> String {
    let mut parts: Vec<String> = Vec::new();
    let years = months / 12;
    let mons = months % 12;
    let unit = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    if years != 0 {
        parts.push(unit(years as i64, "year", "years"));
    }
    if mons != 0 {
        parts.push(unit(mons as i64, "mon", "mons"));
    }
    if days != 0 {
        parts.push(unit(days as i64, "day", "days"));
    }
    let any_negative = months < 0 || days < 0;
    if nanos != 0 || parts.is_empty() {
        let neg = nanos < 0;
        let n = nanos.unsigned_abs();
        let micros = n / 1_000;
        let secs = micros / 1_000_000;
        let frac = micros % 1_000_000;
        let mut t = format!(
            "{:02}:{:02}:{:02}",
            secs / 3600,
            (secs / 60) % 60,
            secs % 60
        );
        if frac != 0 {
            let f = format!("{frac:06}");
            t.push('.');
            t.push_str(f.trim_end_matches('0'));
        }
        let sign = if neg {
            "-"
        } else if any_negative {
            "+"
        } else {
            ""
        };
        parts.push(format!("{sign}{t}"));
    }
    parts.join(" ")
}

/// A duration (a difference of timestamps) as Postgres prints `timestamp - timestamp`: whole
/// days, then the time (`1 day 02:00:00`, `-01:00:37`).
pub fn postgres_duration(nanos: i64) -> String {
    const DAY: i64 = 86_400_000_000_000;
    postgres_interval(0, (nanos / DAY) as i32, nanos % DAY)
}

/// Postgres 15's keywords other than its unreserved ones (`pg_get_keywords()` where `catcode <>
/// 'U'`): as names they must be quoted, so `quote_ident` quotes them.
#[rustfmt::skip]
const QUOTED_KEYWORDS: [&str; 151] = [
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc",
    "asymmetric", "authorization", "between", "bigint", "binary", "bit", "boolean", "both", "case",
    "cast", "char", "character", "check", "coalesce", "collate", "collation", "column",
    "concurrently", "constraint", "create", "cross", "current_catalog", "current_date",
    "current_role", "current_schema", "current_time", "current_timestamp", "current_user", "dec",
    "decimal", "default", "deferrable", "desc", "distinct", "do", "else", "end", "except",
    "exists", "extract", "false", "fetch", "float", "for", "foreign", "freeze", "from", "full",
    "grant", "greatest", "group", "grouping", "having", "ilike", "in", "initially", "inner",
    "inout", "int", "integer", "intersect", "interval", "into", "is", "isnull", "join", "lateral",
    "leading", "least", "left", "like", "limit", "localtime", "localtimestamp", "national",
    "natural", "nchar", "none", "normalize", "not", "notnull", "null", "nullif", "numeric",
    "offset", "on", "only", "or", "order", "out", "outer", "overlaps", "overlay", "placing",
    "position", "precision", "primary", "real", "references", "returning", "right", "row",
    "select", "session_user", "setof", "similar", "smallint", "some", "substring", "symmetric",
    "table", "tablesample", "then", "time", "timestamp", "to", "trailing", "treat", "trim", "true",
    "union", "unique", "user", "using", "values", "varchar", "variadic", "verbose", "when",
    "where", "window", "with", "xmlattributes", "xmlconcat", "xmlelement", "xmlexists",
    "xmlforest", "xmlnamespaces", "xmlparse", "xmlpi", "xmlroot", "xmlserialize", "xmltable",
];

/// Postgres's `quote_ident`: double quotes unless the name is a plain lower-case identifier
/// that is not a keyword it would read as one.
fn quote_ident(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && QUOTED_KEYWORDS.binary_search(&s).is_err();
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

/// Postgres's `quote_literal`: single quotes doubled; `E'…'` with backslashes doubled when
/// there are any.
fn quote_literal(s: &str) -> String {
    let body = s.replace('\'', "''");
    if s.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

fn format_error(message: &str) -> DataFusionError {
    DataFusionError::Execution(format!("format: {message}"))
}

/// Postgres's `format` of one row: `args[0]` is the format, the rest its arguments.
fn format_row(fmt: &str, args: &[ArrayRef], row: usize) -> DfResult<String> {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let mut next_arg = 1usize;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        // %[position$][-][width]type
        let mut number = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            number.push(*d);
            chars.next();
        }
        let mut position = None;
        if !number.is_empty() && chars.peek() == Some(&'$') {
            chars.next();
            position = Some(
                number
                    .parse::<usize>()
                    .map_err(|_| format_error("bad position"))?,
            );
            number.clear();
        }
        let mut left = false;
        if number.is_empty() && chars.peek() == Some(&'-') {
            chars.next();
            left = true;
        }
        if number.is_empty() {
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                number.push(*d);
                chars.next();
            }
        }
        if chars.peek() == Some(&'*') {
            return Err(format_error(
                "`*` widths are not supported when Skipper evaluates format itself",
            ));
        }
        let width: usize = if number.is_empty() {
            0
        } else {
            number.parse().map_err(|_| format_error("bad width"))?
        };
        let kind = chars
            .next()
            .ok_or_else(|| format_error("unterminated format() type specifier"))?;
        if !matches!(kind, 's' | 'I' | 'L') {
            return Err(format_error(&format!(
                "unrecognized format() type specifier \"{kind}\" (use %s, %I, %L or %%)"
            )));
        }
        let index = match position {
            Some(0) => {
                return Err(format_error(
                    "format specifies argument 0, but arguments are numbered from 1",
                ));
            }
            Some(p) => p,
            None => next_arg,
        };
        next_arg = index + 1;
        let arg = args
            .get(index)
            .ok_or_else(|| format_error("too few arguments for format()"))?;
        let value = pg_text(arg.as_ref(), row, Bools::Letters)?;
        let text = match (kind, value) {
            ('s', v) => v.unwrap_or_default(),
            ('I', Some(v)) => quote_ident(&v),
            ('I', None) => {
                return Err(format_error(
                    "null values cannot be formatted as an SQL identifier",
                ));
            }
            ('L', Some(v)) => quote_literal(&v),
            (_, None) => "NULL".to_string(),
            _ => unreachable!("kinds checked above"),
        };
        let pad = width.saturating_sub(text.chars().count());
        if left {
            out.push_str(&text);
            out.extend(std::iter::repeat_n(' ', pad));
        } else {
            out.extend(std::iter::repeat_n(' ', pad));
            out.push_str(&text);
        }
    }
    Ok(out)
}

/// A JSON string as Postgres's `escape_json` writes it.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A value as Postgres's `to_json` writes it.
fn json_value(array: &dyn Array, row: usize) -> DfResult<String> {
    if array.is_null(row) {
        return Ok("null".into());
    }
    let t = array.data_type();
    let text = pg_text(array, row, Bools::Words)?.unwrap_or_default();
    Ok(match t {
        DataType::Boolean => text,
        t if t.is_integer()
            || matches!(t, DataType::Decimal128(_, _) | DataType::Decimal256(_, _)) =>
        {
            text
        }
        DataType::Float32 | DataType::Float64 => {
            if text.parse::<f64>().is_ok_and(f64::is_finite) {
                text
            } else {
                json_string(&text)
            }
        }
        // JSON timestamps are ISO 8601 with a `T`, and an offset with minutes.
        DataType::Timestamp(_, tz) => {
            let mut iso = text.replacen(' ', "T", 1);
            if tz.is_some() {
                iso.push_str(":00");
            }
            json_string(&iso)
        }
        _ => json_string(&text),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Text,
    Format,
    JsonObject,
    Uuid,
    QuoteIdent,
    QuoteLiteral,
    QuoteNullable,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TextFn {
    kind: Kind,
    signature: Signature,
}

impl ScalarUDFImpl for TextFn {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Text => "text",
            Kind::Format => "format",
            Kind::JsonObject => "json_build_object",
            Kind::Uuid => "uuid",
            Kind::QuoteIdent => "quote_ident",
            Kind::QuoteLiteral => "quote_literal",
            Kind::QuoteNullable => "quote_nullable",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match self.kind {
            Kind::Format if arg_types.is_empty() => Err(DataFusionError::Plan(
                "format needs a format string: format('%s …', value, …)".into(),
            )),
            Kind::JsonObject if !arg_types.len().is_multiple_of(2) => Err(DataFusionError::Plan(
                "json_build_object: argument list must have even number of elements".into(),
            )),
            _ => Ok(DataType::Utf8),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let (all_scalar, rows) = super::pgudf::shape(&args);
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<DfResult<_>>()?;
        let mut built = StringBuilder::with_capacity(rows, rows * 16);
        for row in 0..rows {
            match self.kind {
                Kind::Text => built.append_option(pg_text(arrays[0].as_ref(), row, Bools::Words)?),
                Kind::Uuid => match pg_text(arrays[0].as_ref(), row, Bools::Words)? {
                    None => built.append_null(),
                    Some(t) => built.append_value(uuid_text(&t).ok_or_else(|| {
                        DataFusionError::Execution(format!(
                            "invalid input syntax for type uuid: \"{t}\""
                        ))
                    })?),
                },
                Kind::QuoteIdent => built.append_option(
                    pg_text(arrays[0].as_ref(), row, Bools::Words)?.map(|t| quote_ident(&t)),
                ),
                Kind::QuoteLiteral => built.append_option(
                    pg_text(arrays[0].as_ref(), row, Bools::Words)?.map(|t| quote_literal(&t)),
                ),
                Kind::QuoteNullable => built.append_value(
                    pg_text(arrays[0].as_ref(), row, Bools::Words)?
                        .map_or_else(|| "NULL".to_string(), |t| quote_literal(&t)),
                ),
                Kind::Format => match pg_text(arrays[0].as_ref(), row, Bools::Letters)? {
                    None => built.append_null(),
                    Some(fmt) => built.append_value(format_row(&fmt, &arrays, row)?),
                },
                Kind::JsonObject => {
                    let mut parts = Vec::with_capacity(arrays.len() / 2);
                    for (i, pair) in arrays.chunks(2).enumerate() {
                        let key =
                            pg_text(pair[0].as_ref(), row, Bools::Words)?.ok_or_else(|| {
                                DataFusionError::Execution(format!(
                                    "json_build_object: argument {}: key must not be null",
                                    2 * i + 1
                                ))
                            })?;
                        parts.push(format!(
                            "{} : {}",
                            json_string(&key),
                            json_value(pair[1].as_ref(), row)?
                        ));
                    }
                    built.append_value(format!("{{{}}}", parts.join(", ")));
                }
            }
        }
        let result: ArrayRef = Arc::new(built.finish());
        super::pgudf::finish(result, all_scalar)
    }
}

/// A uuid as Postgres reads (`uuid_in`: 32 hex digits, optionally in braces, a hyphen allowed
/// after any group of four) and prints it (lower case, 8-4-4-4-12).
fn uuid_text(t: &str) -> Option<String> {
    let inner = match t.strip_prefix('{') {
        Some(rest) => rest.strip_suffix('}')?,
        None => t,
    };
    let mut hex = String::with_capacity(32);
    let mut last_hyphen = true;
    for c in inner.chars() {
        if c == '-' {
            if last_hyphen || !hex.len().is_multiple_of(4) || hex.len() == 32 {
                return None;
            }
            last_hyphen = true;
        } else if c.is_ascii_hexdigit() && hex.len() < 32 {
            hex.push(c.to_ascii_lowercase());
            last_hyphen = false;
        } else {
            return None;
        }
    }
    if hex.len() != 32 || last_hyphen {
        return None;
    }
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// `CAST(x AS uuid)` as the call `uuid(x)` (DataFusion has no uuid type; Postgres reads the call
/// as the same cast). The result is text in Postgres's spelling.
pub(super) fn uuid_casts(statement: &mut datafusion::sql::sqlparser::ast::Statement) {
    use datafusion::sql::sqlparser::ast::{DataType as T, Expr as A, VisitMut, VisitorMut};
    struct V;
    impl VisitorMut for V {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut A) -> std::ops::ControlFlow<()> {
            if let A::Cast {
                expr,
                data_type: T::Uuid,
                ..
            } = e
            {
                *e = super::pgudf::call("uuid", vec![*expr.clone()]);
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut V);
}

/// `SUBSTRING(x FROM 'pattern')` as the call `substring(x, 'pattern')`, so it reaches [`Substr`]
/// (DataFusion plans the SUBSTRING syntax with its own `substr` directly).
pub(super) fn substring_pattern_calls(statement: &mut datafusion::sql::sqlparser::ast::Statement) {
    use datafusion::sql::sqlparser::ast::{Expr as A, Value, VisitMut, VisitorMut};
    struct V;
    impl VisitorMut for V {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut A) -> std::ops::ControlFlow<()> {
            if let A::Substring {
                expr,
                substring_from: Some(from),
                substring_for: None,
                ..
            } = e
                && matches!(from.as_ref(), A::Value(v) if matches!(v.value, Value::SingleQuotedString(_)))
            {
                *e = super::pgudf::call("substring", vec![*expr.clone(), *from.clone()]);
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut V);
}

/// `substr`/`substring`: DataFusion's, plus Postgres's `substring(text FROM pattern)` (DataFusion
/// plans `SUBSTRING(x FROM 'pattern')` as `substr(x, 'pattern')`): the part of the text the
/// pattern's first parenthesised group matched, or the whole match when it has none; NULL when
/// nothing matches. Unparsed for Postgres as `substring(x, 'pattern')` (see
/// `pgfuncs::postgres_names`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Substr {
    inner: Arc<ScalarUDF>,
    signature: Signature,
}

impl Substr {
    fn new(inner: Arc<ScalarUDF>) -> Self {
        use datafusion::common::types::logical_string;
        use datafusion::logical_expr::{Coercion, TypeSignature, TypeSignatureClass};
        let string = Coercion::new_exact(TypeSignatureClass::Native(logical_string()));
        Substr {
            signature: super::pgudf::widened(
                inner.signature(),
                TypeSignature::Coercible(vec![string.clone(), string]),
            ),
            inner,
        }
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

impl ScalarUDFImpl for Substr {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        if arg_types.len() == 2 && is_text(&arg_types[1]) {
            return Ok(DataType::Utf8);
        }
        self.inner.return_type(arg_types)
    }
    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> DfResult<datafusion::arrow::datatypes::FieldRef> {
        if args.arg_fields.len() == 2 && is_text(args.arg_fields[1].data_type()) {
            return Ok(Arc::new(datafusion::arrow::datatypes::Field::new(
                self.name(),
                DataType::Utf8,
                true,
            )));
        }
        self.inner.return_field_from_args(args)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if !(args.args.len() == 2 && is_text(&args.args[1].data_type())) {
            return self.inner.invoke_with_args(args);
        }
        let (all_scalar, rows) = super::pgudf::shape(&args);
        let text =
            datafusion::arrow::compute::cast(&args.args[0].to_array(rows)?, &DataType::Utf8)?;
        let patterns =
            datafusion::arrow::compute::cast(&args.args[1].to_array(rows)?, &DataType::Utf8)?;
        let (text, patterns) = (text.as_string::<i32>(), patterns.as_string::<i32>());
        let mut compiled: Option<(String, regex::Regex)> = None;
        let mut built = StringBuilder::with_capacity(rows, rows * 8);
        for row in 0..rows {
            if text.is_null(row) || patterns.is_null(row) {
                built.append_null();
                continue;
            }
            let pattern = patterns.value(row);
            if compiled.as_ref().is_none_or(|(p, _)| p != pattern) {
                let re = regex::Regex::new(pattern).map_err(|e| {
                    DataFusionError::Execution(format!(
                        "substring: invalid regular expression {pattern:?}: {e}"
                    ))
                })?;
                compiled = Some((pattern.to_string(), re));
            }
            let (_, re) = compiled.as_ref().expect("compiled above");
            let found = re.captures(text.value(row)).and_then(|c| {
                if re.captures_len() > 1 {
                    c.get(1)
                } else {
                    c.get(0)
                }
            });
            built.append_option(found.map(|m| m.as_str()));
        }
        let result: ArrayRef = Arc::new(built.finish());
        super::pgudf::finish(result, all_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{BooleanArray, Float32Array, Float64Array, StringArray};

    fn floats(v: &[f64]) -> Vec<String> {
        let a = Float64Array::from(v.to_vec());
        (0..v.len())
            .map(|i| pg_text(&a, i, Bools::Words).unwrap().unwrap())
            .collect()
    }

    #[test]
    fn quote_ident_quotes_keywords_as_postgres_does() {
        assert!(QUOTED_KEYWORDS.windows(2).all(|w| w[0] < w[1]), "sorted");
        for (name, quoted) in [
            ("select", "\"select\""),
            ("user", "\"user\""),
            ("name", "name"),
            ("Abc", "\"Abc\""),
            ("x\"y", "\"x\"\"y\""),
        ] {
            assert_eq!(quote_ident(name), quoted);
        }
    }

    // Expected values are Postgres 15's output for the same values.
    #[test]
    fn floats_print_as_postgres_does() {
        assert_eq!(
            floats(&[
                1e15,
                1e14,
                123456789012345.6,
                0.0001,
                0.00001,
                1.5e-7,
                -0.0,
                f64::NAN
            ]),
            [
                "1e+15",
                "100000000000000",
                "123456789012345.6",
                "0.0001",
                "1e-05",
                "1.5e-07",
                "-0",
                "NaN"
            ]
        );
        let a = Float32Array::from(vec![1e6f32, 1e5, 0.1, 1234567.0]);
        let text: Vec<String> = (0..4)
            .map(|i| pg_text(&a, i, Bools::Words).unwrap().unwrap())
            .collect();
        assert_eq!(text, ["1e+06", "100000", "0.1", "1.234567e+06"]);
    }

    #[test]
    fn format_matches_postgres() {
        // format('%s|%s|%L|%I|%s', true, 1.5::float8, 'it''s', 'Ab', null)
        let args: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["%s|%s|%L|%I|%s"])),
            Arc::new(BooleanArray::from(vec![true])),
            Arc::new(Float64Array::from(vec![1.5])),
            Arc::new(StringArray::from(vec!["it's"])),
            Arc::new(StringArray::from(vec!["Ab"])),
            Arc::new(StringArray::from(vec![None::<&str>])),
        ];
        assert_eq!(
            format_row("%s|%s|%L|%I|%s", &args, 0).unwrap(),
            "t|1.5|'it''s'|\"Ab\"|"
        );
        // format('%-5s|%5s|%2$s|%%', 'ab', 'c')
        let args: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["x"])),
            Arc::new(StringArray::from(vec!["ab"])),
            Arc::new(StringArray::from(vec!["c"])),
        ];
        assert_eq!(
            format_row("%-5s|%5s|%2$s|%%", &args, 0).unwrap(),
            "ab   |    c|c|%"
        );
        assert!(format_row("%d", &args, 0).is_err());
        assert!(format_row("%s %s %s", &args, 0).is_err());
    }

    #[test]
    fn uuids_read_as_postgres_reads_them() {
        let want = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        for spelling in [
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
        ] {
            assert_eq!(uuid_text(spelling).as_deref(), Some(want), "{spelling}");
        }
        for bad in [
            "a0eebc99",
            "{a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0eebc99--9c0b4ef8bb6d6bb9bd380a11",
            "-a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "g0eebc999c0b4ef8bb6d6bb9bd380a11",
        ] {
            assert_eq!(uuid_text(bad), None, "{bad}");
        }
    }

    #[test]
    fn json_matches_postgres() {
        let text = StringArray::from(vec!["a\"b\\c\n"]);
        assert_eq!(json_value(&text, 0).unwrap(), "\"a\\\"b\\\\c\\n\"");
        let nan = Float64Array::from(vec![f64::NAN]);
        assert_eq!(json_value(&nan, 0).unwrap(), "\"NaN\"");
    }
}
