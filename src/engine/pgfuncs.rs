//! Postgres functions and names DataFusion lacks, evaluated the way Postgres evaluates them,
//! for the queries DataFusion plans itself (cross-source queries; everything when passthrough
//! is off). Federated fragments unparse them by name, so Postgres runs its own version there.
//!
//! - `age(a, b)`, `age(a)`: Postgres's symbolic difference in years, months and days
//!   (`timestamp_age` in Postgres's `timestamp.c`, re-derived here: field-wise difference, then
//!   borrowing from the next larger field, a month borrowing the length of the earlier month).
//! - `date(x)`: `x::date`.
//! - `variance` (alias of `var_samp`), `sign` (of `signum`).
//! - `FROM generate_series(…) AS g`: Postgres names the single column `g` too; the statement is
//!   rewritten to `AS g(g)` so `SELECT g` resolves (see [`alias_function_columns`]).

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, IntervalMonthDayNanoBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, IntervalMonthDayNano, TimeUnit, TimestampMicrosecondType,
};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::error::Result as DfResult;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    Ident, Statement, TableAliasColumnDef, TableFactor, VisitMut, VisitorMut,
};
use std::ops::ControlFlow;
use std::sync::Arc;

/// Register the functions and aliases on a session.
pub(super) fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(Age::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(DateOf::new()));
    if let Ok(signum) = ctx.udf("signum") {
        ctx.register_udf(signum.as_ref().clone().with_aliases(["sign"]));
    }
    for name in ["to_char", "to_date", "to_timestamp"] {
        if let Ok(inner) = ctx.udf(name) {
            ctx.register_udf(ScalarUDF::new_from_impl(PgRule {
                inner,
                rule: Rule::PostgresPatterns,
            }));
        }
    }
    if let Ok(var) = ctx.udaf("var_samp") {
        ctx.register_udaf(var.as_ref().clone().with_aliases(["variance"]));
    }
    // Postgres's SQL-standard spelling of bool_and.
    if let Ok(all) = ctx.udaf("bool_and") {
        ctx.register_udaf(all.as_ref().clone().with_aliases(["every"]));
    }
    ctx.register_udf(pg_round());
}

/// `round`, with Postgres's rule for floating point: `round(double)` rounds half to even
/// (`rint`), as does casting a double to an integer; numerics round half away from zero, as
/// DataFusion's `round` already does.
fn pg_round() -> ScalarUDF {
    ScalarUDF::new_from_impl(PgRule {
        inner: datafusion::functions::math::round(),
        rule: Rule::RoundHalfEven,
    })
}

/// A DataFusion builtin evaluated with Postgres's rule (see [`Rule`]): planning (signature,
/// coercion, return type) is the builtin's, only evaluation differs.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgRule {
    inner: Arc<ScalarUDF>,
    rule: Rule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Rule {
    /// `round(double)` half to even.
    RoundHalfEven,
    /// Format arguments (after the first) are Postgres template patterns.
    PostgresPatterns,
}

impl ScalarUDFImpl for PgRule {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> DfResult<datafusion::arrow::datatypes::FieldRef> {
        self.inner.return_field_from_args(args)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, args: &[DataType]) -> DfResult<DataType> {
        self.inner.return_type(args)
    }
    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        match self.rule {
            Rule::RoundHalfEven => {
                if let Some(v) = round_half_even(&args.args) {
                    return Ok(v);
                }
            }
            Rule::PostgresPatterns => {
                let mut quarter = false;
                for a in args.args.iter_mut().skip(1) {
                    if let ColumnarValue::Scalar(ScalarValue::Utf8(Some(f))) = a {
                        let translated = postgres_format(f).map_err(|e| {
                            DataFusionError::Execution(format!("{}: {e}", self.name()))
                        })?;
                        quarter |= translated.contains(QUARTER);
                        *a = ColumnarValue::Scalar(ScalarValue::Utf8(Some(translated)));
                    }
                }
                if quarter {
                    if self.name() != "to_char" {
                        return Err(DataFusionError::Execution(format!(
                            "{}: the quarter (Q) is only written, not read",
                            self.name()
                        )));
                    }
                    return quarters(self.inner.invoke_with_args(args)?);
                }
            }
        }
        self.inner.invoke_with_args(args)
    }
}

/// One float argument rounded half to even; `None` for anything else (numerics, two
/// arguments), which the builtin rounds as Postgres does.
fn round_half_even(args: &[ColumnarValue]) -> Option<ColumnarValue> {
    use datafusion::arrow::array::{Float32Array, Float64Array};
    use datafusion::arrow::datatypes::{Float32Type, Float64Type};
    let [arg] = args else { return None };
    Some(match arg {
        ColumnarValue::Scalar(ScalarValue::Float64(v)) => {
            ColumnarValue::Scalar(ScalarValue::Float64(v.map(f64::round_ties_even)))
        }
        ColumnarValue::Scalar(ScalarValue::Float32(v)) => {
            ColumnarValue::Scalar(ScalarValue::Float32(v.map(f32::round_ties_even)))
        }
        ColumnarValue::Array(a) if a.data_type() == &DataType::Float64 => {
            let out: Float64Array = a.as_primitive::<Float64Type>().unary(f64::round_ties_even);
            ColumnarValue::Array(Arc::new(out))
        }
        ColumnarValue::Array(a) if a.data_type() == &DataType::Float32 => {
            let out: Float32Array = a.as_primitive::<Float32Type>().unary(f32::round_ties_even);
            ColumnarValue::Array(Arc::new(out))
        }
        _ => return None,
    })
}

/// Give single-column table functions in FROM (`generate_series`, `unnest`, `range`) aliased
/// without a column list the column name Postgres gives them: the alias itself.
pub(super) fn alias_function_columns(statement: &mut Statement) {
    struct V;
    impl VisitorMut for V {
        type Break = ();
        fn pre_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<()> {
            // `FROM unnest(array) AS x`: one column, named x as in Postgres.
            if let TableFactor::UNNEST {
                alias: Some(alias),
                array_exprs,
                with_offset: false,
                with_ordinality: false,
                ..
            } = t
                && array_exprs.len() == 1
                && alias.columns.is_empty()
            {
                alias.columns = vec![TableAliasColumnDef {
                    name: alias.name.clone(),
                    data_type: None,
                }];
            }
            if let TableFactor::Table {
                name,
                args: Some(_),
                alias: Some(alias),
                ..
            } = t
            {
                let f = name.to_string().to_lowercase();
                if alias.columns.is_empty()
                    && matches!(f.as_str(), "generate_series" | "range" | "unnest")
                {
                    alias.columns = vec![TableAliasColumnDef {
                        name: Ident {
                            value: alias.name.value.clone(),
                            quote_style: alias.name.quote_style,
                            span: alias.name.span,
                        },
                        data_type: None,
                    }];
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut V);
}

/// Rename functions in SQL unparsed from a DataFusion plan to their Postgres names.
pub(super) fn postgres_names(statement: &mut Statement) {
    struct V;
    impl VisitorMut for V {
        type Break = ();
        fn pre_visit_expr(
            &mut self,
            e: &mut datafusion::sql::sqlparser::ast::Expr,
        ) -> ControlFlow<()> {
            if let datafusion::sql::sqlparser::ast::Expr::Function(f) = e {
                let renamed = match f.name.to_string().to_lowercase().as_str() {
                    "var" | "var_sample" => Some("var_samp"),
                    "var_population" => Some("var_pop"),
                    "stddev" => Some("stddev_samp"),
                    "signum" => Some("sign"),
                    // A row constructor (`count(DISTINCT (a, b))`), which DataFusion plans as
                    // a struct.
                    "struct" => Some("ROW"),
                    _ => None,
                };
                // `substr(x, 'pattern')` is DataFusion's plan of `substring(x FROM 'pattern')`;
                // Postgres's `substr` takes only positions.
                let pattern_form = || {
                    use datafusion::sql::sqlparser::ast::{
                        Expr as A, FunctionArg, FunctionArgExpr, FunctionArguments, Value,
                    };
                    matches!(&f.args, FunctionArguments::List(l) if l.args.len() == 2
                        && matches!(&l.args[1], FunctionArg::Unnamed(FunctionArgExpr::Expr(
                            A::Value(v))) if matches!(v.value, Value::SingleQuotedString(_))))
                };
                let renamed = renamed.or_else(|| {
                    (f.name.to_string().eq_ignore_ascii_case("substr") && pattern_form())
                        .then_some("substring")
                });
                if let Some(n) = renamed {
                    f.name = datafusion::sql::sqlparser::ast::ObjectName::from(vec![Ident::new(n)]);
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut V);
}

/// Postgres's `mod(a, b)` is `a % b` (the sign of `a`, as DataFusion's `%`); `div(a, b)`, the
/// integer quotient truncated towards zero, is `(a - a % b) / b`, exact for integers and
/// numerics alike (DataFusion has neither function).
pub(super) fn div_mod_calls(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{BinaryOperator as Op, Expr as A};
    super::pgudf::each_expr(statement, |e| {
        let A::Function(f) = e else { return };
        let name = f.name.to_string().to_ascii_lowercase();
        if !(name == "div" || name == "mod") {
            return;
        }
        let Some(args) = super::pgudf::call_args(f) else {
            return;
        };
        let [a, b] = args.as_slice() else { return };
        let nested = |x: &A| Box::new(A::Nested(Box::new(x.clone())));
        let rem = A::BinaryOp {
            left: nested(a),
            op: Op::Modulo,
            right: nested(b),
        };
        let replaced = if name == "mod" {
            A::Nested(Box::new(rem))
        } else {
            A::Nested(Box::new(A::BinaryOp {
                left: Box::new(A::Nested(Box::new(A::BinaryOp {
                    left: nested(a),
                    op: Op::Minus,
                    right: Box::new(rem),
                }))),
                op: Op::Divide,
                right: nested(b),
            }))
        };
        *e = replaced;
    });
}

/// `x IN (VALUES (a), (b))`, a list written as a one-column VALUES: DataFusion 55 fails to
/// plan it ("single expression required", in its subquery decorrelation), while Postgres reads
/// it as the list `x IN (a, b)`, which it is (NULLs included). Rewritten to that list.
pub(super) fn in_values_lists(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{Expr as A, SetExpr};
    super::pgudf::each_expr(statement, |e| {
        let A::InSubquery {
            expr,
            subquery,
            negated,
        } = e
        else {
            return;
        };
        let plain = subquery.with.is_none()
            && subquery.order_by.is_none()
            && subquery.limit_clause.is_none()
            && subquery.fetch.is_none();
        let SetExpr::Values(values) = subquery.body.as_ref() else {
            return;
        };
        if !plain || values.rows.iter().any(|row| row.len() != 1) {
            return;
        }
        let list = values.rows.iter().map(|row| row[0].clone()).collect();
        *e = A::InList {
            expr: expr.clone(),
            list,
            negated: *negated,
        };
    });
}

/// A VALUES column where one row is written as a double (`0.5::float8`, `CAST(x AS real)`) and
/// others as plain number literals: Postgres types the column `double precision` (the preferred
/// type of the numeric category); DataFusion, reading the literals as exact decimals, typed it
/// Decimal128(30, 15). The literals are cast to double precision first.
pub(super) fn float_values(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{
        CastKind, DataType as T, Expr as A, SetExpr, UnaryOperator, Value,
    };
    fn double(e: &A) -> bool {
        matches!(
            e,
            A::Cast {
                data_type: T::Float8
                    | T::DoublePrecision
                    | T::Double(_)
                    | T::Real
                    | T::Float4
                    | T::Float(_),
                ..
            }
        )
    }
    fn number(e: &A) -> bool {
        match e {
            A::Value(v) => matches!(v.value, Value::Number(..)),
            A::UnaryOp {
                op: UnaryOperator::Minus | UnaryOperator::Plus,
                expr,
            } => number(expr),
            A::Nested(inner) => number(inner),
            _ => false,
        }
    }
    struct V;
    impl VisitorMut for V {
        type Break = ();
        fn pre_visit_query(
            &mut self,
            q: &mut datafusion::sql::sqlparser::ast::Query,
        ) -> ControlFlow<()> {
            let SetExpr::Values(values) = q.body.as_mut() else {
                return ControlFlow::Continue(());
            };
            let width = values.rows.first().map_or(0, |r| r.len());
            for col in 0..width {
                let cells = || values.rows.iter().filter_map(move |r| r.get(col));
                if !cells().any(double) || !cells().any(number) {
                    continue;
                }
                for row in &mut values.rows {
                    if let Some(cell) = row.get_mut(col)
                        && number(cell)
                    {
                        *cell = A::Cast {
                            kind: CastKind::DoubleColon,
                            expr: Box::new(cell.clone()),
                            data_type: T::DoublePrecision,
                            array: false,
                            format: None,
                        };
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut V);
}

/// `[OFFSET m ROWS] FETCH FIRST n ROWS ONLY` as `LIMIT n [OFFSET m]` (DataFusion's planner has
/// no FETCH). `WITH TIES` and `PERCENT` are refused by name (the error says which).
pub(super) fn fetch_as_limit(statement: &mut Statement) -> Result<(), String> {
    use datafusion::sql::sqlparser::ast::{Expr as A, LimitClause, Query, Value};
    struct V;
    impl VisitorMut for V {
        type Break = String;
        fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<String> {
            let Some(fetch) = &q.fetch else {
                return ControlFlow::Continue(());
            };
            if fetch.with_ties
                && !fetch.percent
                && let Some(ranked) = ranked_ties(q)
            {
                *q = ranked;
                return ControlFlow::Continue(());
            }
            if fetch.with_ties || fetch.percent {
                return ControlFlow::Break(format!(
                    "FETCH FIRST … {} cannot be evaluated here: this query runs on DataFusion, \
                     which has no FETCH",
                    if fetch.with_ties {
                        "WITH TIES"
                    } else {
                        "PERCENT"
                    }
                ));
            }
            let n = fetch
                .quantity
                .clone()
                .unwrap_or_else(|| A::Value(Value::Number("1".into(), false).into()));
            match &mut q.limit_clause {
                None => {
                    q.limit_clause = Some(LimitClause::LimitOffset {
                        limit: Some(n),
                        offset: None,
                        limit_by: vec![],
                    })
                }
                Some(LimitClause::LimitOffset {
                    limit: limit @ None,
                    ..
                }) => *limit = Some(n),
                Some(_) => return ControlFlow::Continue(()),
            }
            q.fetch = None;
            ControlFlow::Continue(())
        }
    }
    match statement.visit(&mut V) {
        ControlFlow::Break(message) => Err(message),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// `… ORDER BY k FETCH FIRST n ROWS WITH TIES` as Postgres means it (the first n rows and every
/// row that ties with the last of them), for the queries DataFusion plans: `SELECT names FROM
/// (SELECT …, rank() OVER (ORDER BY k) AS __skipper_ties …) WHERE __skipper_ties <= n ORDER BY
/// __skipper_ties`. The rank of a row is one more than the rows strictly before it, so it is at
/// most n exactly for those rows. Only for a plain SELECT (no DISTINCT, OFFSET or LIMIT) whose
/// columns all have names; `None` leaves the rest refused.
fn ranked_ties(
    q: &datafusion::sql::sqlparser::ast::Query,
) -> Option<datafusion::sql::sqlparser::ast::Query> {
    use datafusion::sql::sqlparser::ast::{
        Expr as A, Ident, OrderByKind, SelectItem, SetExpr, Value,
    };
    let fetch = q.fetch.as_ref()?;
    let quantity = fetch
        .quantity
        .clone()
        .unwrap_or_else(|| A::Value(Value::Number("1".into(), false).into()));
    let SetExpr::Select(select) = q.body.as_ref() else {
        return None;
    };
    let OrderByKind::Expressions(keys) = &q.order_by.as_ref()?.kind else {
        return None;
    };
    if q.limit_clause.is_some() || select.distinct.is_some() || q.with.is_some() || keys.is_empty()
    {
        return None;
    }
    let names = super::setops::output_names(&q.body)?;
    // The window's ORDER BY: positions and output names are the select list's expressions.
    let item = |e: &A| -> Option<A> {
        let item = match e {
            A::Value(v) => match &v.value {
                Value::Number(n, _) => select
                    .projection
                    .get(n.parse::<usize>().ok()?.checked_sub(1)?)?,
                _ => return Some(e.clone()),
            },
            A::Identifier(i) if i.quote_style.is_none() => {
                match select.projection.iter().find(|p| {
                    matches!(p, SelectItem::ExprWithAlias { alias, .. }
                        if alias.value.eq_ignore_ascii_case(&i.value))
                }) {
                    Some(p) => p,
                    None => return Some(e.clone()),
                }
            }
            _ => return Some(e.clone()),
        };
        match item {
            SelectItem::ExprWithAlias { expr, .. } | SelectItem::UnnamedExpr(expr) => {
                Some(expr.clone())
            }
            _ => None,
        }
    };
    let mut window_keys = Vec::with_capacity(keys.len());
    for k in keys {
        let mut k = k.clone();
        k.expr = item(&k.expr)?;
        window_keys.push(k);
    }
    let rank_name = Ident::new("__skipper_ties");
    let rank = super::pgudf::window_call("rank", vec![], window_keys);
    let mut inner = select.as_ref().clone();
    inner.projection.push(SelectItem::ExprWithAlias {
        expr: rank,
        alias: rank_name.clone(),
    });
    let columns = names
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns} FROM ({inner}) AS __ties WHERE {rank_name} <= ({quantity}) \
         ORDER BY {rank_name}"
    );
    let parsed = datafusion::sql::sqlparser::parser::Parser::parse_sql(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
        &sql,
    );
    match parsed.ok()?.pop()? {
        datafusion::sql::sqlparser::ast::Statement::Query(q) => Some(*q),
        _ => None,
    }
}

/// `x [NOT] SIMILAR TO 'pattern'` → `x [!]~ '^(?:regex)$'`, translated as Postgres does
/// (`similar_escape`): `%` → `.*`, `_` → `.`, the escape character quotes the next one, `.`, `^`,
/// `$` and `\` are literal, bracket expressions pass through. DataFusion would otherwise take
/// the pattern for a regular expression (`'SKU-000[1-4]%'` matched nothing in our corpus).
pub(super) fn rewrite_similar_to(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr as A, Value};
    struct V;
    impl VisitorMut for V {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut A) -> ControlFlow<()> {
            if let A::SimilarTo {
                negated,
                expr,
                pattern,
                escape_char,
            } = e
                && let A::Value(p) = pattern.as_ref()
                && let Value::SingleQuotedString(text) = &p.value
            {
                let escape = match escape_char.as_ref().map(|v| &v.value) {
                    None => Some('\\'),
                    Some(Value::SingleQuotedString(s)) if s.is_empty() => None,
                    Some(Value::SingleQuotedString(s)) if s.chars().count() == 1 => {
                        s.chars().next()
                    }
                    _ => return ControlFlow::Continue(()),
                };
                let regex = similar_to_regex(text, escape);
                *e = A::BinaryOp {
                    left: expr.clone(),
                    op: if *negated {
                        BinaryOperator::PGRegexNotMatch
                    } else {
                        BinaryOperator::PGRegexMatch
                    },
                    right: Box::new(A::Value(Value::SingleQuotedString(regex).into())),
                };
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut V);
}

pub(crate) fn similar_to_regex(pattern: &str, escape: Option<char>) -> String {
    let mut out = String::from("^(?:");
    let mut chars = pattern.chars();
    let mut in_bracket = false;
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            if let Some(n) = chars.next() {
                if n.is_alphanumeric() {
                    out.push(n);
                } else {
                    out.push('\\');
                    out.push(n);
                }
            }
            continue;
        }
        if in_bracket {
            if c == ']' {
                in_bracket = false;
            }
            out.push(c);
            continue;
        }
        match c {
            '[' => {
                in_bracket = true;
                out.push(c);
            }
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            '.' | '^' | '$' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out.push_str(")$");
    out
}

/// Postgres template patterns (`YYYY-MM-DD HH24:MI`) as chrono formats, for DataFusion's
/// `to_char`/`to_date`/`to_timestamp`, which take chrono's. A pattern element with no chrono
/// equivalent is an error rather than text copied through (DataFusion printed
/// `YYYY-MM-DD HH24:MI` back verbatim).
/// Marks the month that stands for a quarter in a translated format.
const QUARTER: char = '\u{E000}';

/// `to_char` output with each marked month (`\u{E000}07`) replaced by its quarter (`3`).
fn quarters(v: ColumnarValue) -> DfResult<ColumnarValue> {
    fn fix(t: &str) -> String {
        let mut out = String::with_capacity(t.len());
        let mut rest = t;
        while let Some(at) = rest.find(QUARTER) {
            out.push_str(&rest[..at]);
            let after = &rest[at + QUARTER.len_utf8()..];
            let month: u32 = after.get(..2).and_then(|m| m.parse().ok()).unwrap_or(1);
            out.push(char::from_digit(month.div_ceil(3), 10).unwrap_or('?'));
            rest = after.get(2..).unwrap_or("");
        }
        out.push_str(rest);
        out
    }
    Ok(match v {
        ColumnarValue::Scalar(ScalarValue::Utf8(t)) => {
            ColumnarValue::Scalar(ScalarValue::Utf8(t.map(|t| fix(&t))))
        }
        ColumnarValue::Array(a) => {
            let text = datafusion::arrow::compute::cast(&a, &DataType::Utf8)?;
            let out: datafusion::arrow::array::StringArray =
                text.as_string::<i32>().iter().map(|t| t.map(fix)).collect();
            ColumnarValue::Array(Arc::new(out))
        }
        other => other,
    })
}

pub(crate) fn postgres_format(pattern: &str) -> Result<String, String> {
    // Longest first, so HH24 wins over HH and YYYY over YY.
    const MAP: &[(&str, &str)] = &[
        ("FMMonth", "%B"),
        ("FMDay", "%A"),
        ("HH24", "%H"),
        ("HH12", "%I"),
        ("IYYY", "%G"),
        ("YYYY", "%Y"),
        ("DDD", "%j"),
        ("Mon", "%b"),
        ("Dy", "%a"),
        ("YY", "%y"),
        ("MM", "%m"),
        ("DD", "%d"),
        ("HH", "%I"),
        ("MI", "%M"),
        ("SS", "%S"),
        ("MS", "%3f"),
        ("US", "%6f"),
        ("IW", "%V"),
        ("AM", "%p"),
        ("PM", "%p"),
        ("TZ", "%Z"),
        // The quarter: chrono has none, so the month is written behind a marker and turned
        // into its quarter afterwards (see [`quarters`]); `to_char` only.
        ("Q", "\u{E000}%m"),
    ];
    let mut out = String::new();
    let mut rest = pattern;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('"') {
            let end = r
                .find('"')
                .ok_or("unterminated quoted text in the format")?;
            out.push_str(&r[..end].replace('%', "%%"));
            rest = &r[end + 1..];
            continue;
        }
        if let Some((p, c)) = MAP.iter().find(|(p, _)| rest.starts_with(p)) {
            out.push_str(c);
            rest = &rest[p.len()..];
            continue;
        }
        let c = rest.chars().next().expect("non-empty");
        if c.is_ascii_alphabetic() {
            return Err(format!(
                "format element at '{rest}' is not supported when Skipper evaluates this itself"
            ));
        }
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

/// Casting a numeric or float to an integer rounds in Postgres (`124.99::int` = 125; floats to
/// the nearest, numerics half away from zero) where DataFusion truncates (124): this analyzer
/// rule, run after type coercion, rounds first. Federated SQL then reads `CAST(round(x) AS
/// INTEGER)`, which Postgres evaluates to the same value.
#[derive(Debug)]
pub(super) struct RoundingIntCasts;

impl datafusion::optimizer::AnalyzerRule for RoundingIntCasts {
    fn name(&self) -> &str {
        "skipper_rounding_int_casts"
    }

    fn analyze(
        &self,
        plan: datafusion::logical_expr::LogicalPlan,
        _config: &datafusion::config::ConfigOptions,
    ) -> DfResult<datafusion::logical_expr::LogicalPlan> {
        use datafusion::common::tree_node::{Transformed, TreeNode};
        use datafusion::logical_expr::{ExprSchemable, LogicalPlan};
        plan.transform_up_with_subqueries(|node: LogicalPlan| {
            let inputs = node.inputs();
            let mut schema = datafusion::common::DFSchema::empty();
            for i in &inputs {
                schema.merge(i.schema());
            }
            if inputs.is_empty() {
                return Ok(Transformed::no(node));
            }
            node.map_expressions(|e| {
                e.transform_up(|x| {
                    let Expr::Cast(c) = &x else {
                        return Ok(Transformed::no(x));
                    };
                    let to_int = matches!(
                        c.field.data_type(),
                        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
                    );
                    let from = c.expr.get_type(&schema).ok();
                    let fractional = matches!(
                        from,
                        Some(
                            DataType::Decimal128(_, _)
                                | DataType::Decimal256(_, _)
                                | DataType::Float32
                                | DataType::Float64
                        )
                    );
                    if !(to_int && fractional) {
                        return Ok(Transformed::no(x));
                    }
                    let rounded = Expr::ScalarFunction(
                        datafusion::logical_expr::expr::ScalarFunction::new_udf(
                            Arc::new(pg_round()),
                            vec![c.expr.as_ref().clone()],
                        ),
                    );
                    Ok(Transformed::yes(Expr::Cast(
                        datafusion::logical_expr::expr::Cast::new_from_field(
                            Box::new(rounded),
                            Arc::clone(&c.field),
                        ),
                    )))
                })
            })
        })
        .map(|t| t.data)
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Age {
    signature: Signature,
}

impl Age {
    fn new() -> Self {
        Age {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

const DAYS_IN_MONTH: [[i64; 12]; 2] = [
    [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31],
    [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31],
];

fn leap(y: i32) -> usize {
    usize::from(NaiveDate::from_ymd_opt(y, 2, 29).is_some())
}

/// Postgres's `age(a, b)` of two wall-clock timestamps.
pub(crate) fn age(a: NaiveDateTime, b: NaiveDateTime) -> IntervalMonthDayNano {
    let f = |t: &NaiveDateTime| {
        [
            t.year() as i64,
            t.month() as i64,
            t.day() as i64,
            t.hour() as i64,
            t.minute() as i64,
            t.second() as i64,
            (t.nanosecond() / 1000) as i64,
        ]
    };
    let (x, y) = (f(&a), f(&b));
    let mut d: Vec<i64> = x.iter().zip(&y).map(|(p, q)| p - q).collect();
    let flip = a < b;
    if flip {
        d.iter_mut().for_each(|v| *v = -*v);
    }
    let [year, mon, mday, hour, min, sec, usec] = &mut d[..] else {
        unreachable!("seven fields")
    };
    while *usec < 0 {
        *usec += 1_000_000;
        *sec -= 1;
    }
    while *sec < 0 {
        *sec += 60;
        *min -= 1;
    }
    while *min < 0 {
        *min += 60;
        *hour -= 1;
    }
    while *hour < 0 {
        *hour += 24;
        *mday -= 1;
    }
    while *mday < 0 {
        // The month borrowed from is the earlier timestamp's.
        let (yy, mm) = if flip {
            (a.year(), a.month0())
        } else {
            (b.year(), b.month0())
        };
        *mday += DAYS_IN_MONTH[leap(yy)][mm as usize];
        *mon -= 1;
    }
    while *mon < 0 {
        *mon += 12;
        *year -= 1;
    }
    let sign = if flip { -1 } else { 1 };
    let months = sign * (*year * 12 + *mon);
    let days = sign * *mday;
    let micros = sign * (((*hour * 60 + *min) * 60 + *sec) * 1_000_000 + *usec);
    IntervalMonthDayNano::new(months as i32, days as i32, micros * 1000)
}

fn as_timestamps(v: &ColumnarValue, rows: usize) -> DfResult<ArrayRef> {
    let array = v.to_array(rows)?;
    Ok(cast(
        &array,
        &DataType::Timestamp(TimeUnit::Microsecond, None),
    )?)
}

impl ScalarUDFImpl for Age {
    fn name(&self) -> &str {
        "age"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> DfResult<DataType> {
        if args.is_empty() || args.len() > 2 {
            return Err(DataFusionError::Plan(
                "age takes one or two timestamps".into(),
            ));
        }
        Ok(DataType::Interval(
            datafusion::arrow::datatypes::IntervalUnit::MonthDayNano,
        ))
    }
    /// `age(x)` is `age(current_date, x)`, with the query's (possibly pinned) "now".
    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> DfResult<ExprSimplifyResult> {
        if args.len() == 1 {
            let today = datafusion::functions::expr_fn::current_date();
            let mut two = vec![today];
            two.extend(args);
            return Ok(ExprSimplifyResult::Simplified(Expr::ScalarFunction(
                datafusion::logical_expr::expr::ScalarFunction::new_udf(
                    Arc::new(ScalarUDF::new_from_impl(Age::new())),
                    two,
                ),
            )));
        }
        Ok(ExprSimplifyResult::Original(args))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if args.args.len() != 2 {
            return Err(DataFusionError::Execution(
                "age(x) should have been rewritten to age(current_date, x)".into(),
            ));
        }
        let n = args.number_rows;
        let a = as_timestamps(&args.args[0], n)?;
        let b = as_timestamps(&args.args[1], n)?;
        let a = a.as_primitive::<TimestampMicrosecondType>();
        let b = b.as_primitive::<TimestampMicrosecondType>();
        let mut out = IntervalMonthDayNanoBuilder::with_capacity(n);
        for i in 0..n {
            if a.is_null(i) || b.is_null(i) {
                out.append_null();
                continue;
            }
            let t = |v: i64| {
                chrono::DateTime::from_timestamp_micros(v)
                    .map(|d| d.naive_utc())
                    .ok_or_else(|| DataFusionError::Execution("timestamp out of range".into()))
            };
            out.append_value(age(t(a.value(i))?, t(b.value(i))?));
        }
        let result: ArrayRef = Arc::new(out.finish());
        if args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)))
        {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &result, 0,
            )?));
        }
        Ok(ColumnarValue::Array(result))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DateOf {
    signature: Signature,
}

impl DateOf {
    fn new() -> Self {
        DateOf {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for DateOf {
    fn name(&self) -> &str {
        "date"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Date32)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        match &args.args[0] {
            ColumnarValue::Scalar(s) => Ok(ColumnarValue::Scalar(s.cast_to(&DataType::Date32)?)),
            ColumnarValue::Array(a) => Ok(ColumnarValue::Array(cast(a, &DataType::Date32)?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn postgres_formats_become_chrono_formats() {
        assert_eq!(
            postgres_format("YYYY-MM-DD HH24:MI").unwrap(),
            "%Y-%m-%d %H:%M"
        );
        assert_eq!(postgres_format("Mon DD, YYYY").unwrap(), "%b %d, %Y");
        assert_eq!(postgres_format("IYYY-\"W\"IW").unwrap(), "%G-W%V");
        assert_eq!(postgres_format("YYYY\"Q\"Q").unwrap(), "%YQ\u{E000}%m");
        assert!(postgres_format("W").is_err());
        assert_eq!(
            quarters(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                "2024Q\u{E000}07 \u{E000}12".into()
            ))))
            .ok()
            .and_then(|v| match v {
                ColumnarValue::Scalar(ScalarValue::Utf8(t)) => t,
                _ => None,
            }),
            Some("2024Q3 4".to_string())
        );
    }

    #[test]
    fn with_ties_is_a_rank() {
        let rewritten = |sql: &str| {
            let mut s = crate::engine::pgudf::parse(sql);
            fetch_as_limit(&mut s).map(|_| s.to_string())
        };
        assert_eq!(
            rewritten(
                "SELECT id, price * 2 AS p FROM t ORDER BY p DESC, 1 FETCH FIRST 3 ROWS WITH TIES"
            )
            .unwrap(),
            "SELECT id, p FROM (SELECT id, price * 2 AS p, rank() OVER (ORDER BY price * 2 DESC, \
             id) AS __skipper_ties FROM t) AS __ties WHERE __skipper_ties <= (3) ORDER BY \
             __skipper_ties"
        );
        for refused in [
            "SELECT * FROM t ORDER BY a FETCH FIRST 3 ROWS WITH TIES",
            "SELECT DISTINCT a FROM t ORDER BY a FETCH FIRST 3 ROWS WITH TIES",
            "SELECT a FROM t ORDER BY a OFFSET 1 ROWS FETCH FIRST 3 ROWS WITH TIES",
            "SELECT a FROM t ORDER BY a FETCH FIRST 3 PERCENT ROWS ONLY",
        ] {
            assert!(rewritten(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn in_a_one_column_values_list_is_an_in_list() {
        let rewritten = |sql: &str| {
            let mut s = crate::engine::pgudf::parse(sql);
            in_values_lists(&mut s);
            s.to_string()
        };
        assert_eq!(
            rewritten("SELECT 1 FROM t WHERE x NOT IN (VALUES (1), (NULL))"),
            "SELECT 1 FROM t WHERE x NOT IN (1, NULL)"
        );
        // Two columns, or a VALUES with its own LIMIT, stay subqueries.
        for sql in [
            "SELECT 1 FROM t WHERE (x, y) IN (VALUES (1, 2))",
            "SELECT 1 FROM t WHERE x IN (VALUES (1), (2) LIMIT 1)",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }

    #[test]
    fn similar_to_becomes_an_anchored_regex() {
        assert_eq!(
            similar_to_regex("SKU-000[1-4]%", Some('\\')),
            "^(?:SKU-000[1-4].*)$"
        );
        assert_eq!(
            similar_to_regex("a_b.c|d%", Some('\\')),
            "^(?:a.b\\.c|d.*)$"
        );
        assert_eq!(similar_to_regex("100\\%", Some('\\')), "^(?:100\\%)$");
    }

    #[test]
    fn round_is_half_even_for_floats_only() {
        let ctx = SessionContext::new();
        register(&ctx);
        ctx.add_analyzer_rule(Arc::new(RoundingIntCasts));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let got = rt.block_on(async {
            let df = ctx
                .sql("SELECT round(2.5::double) AS a, round(3.5::double) AS b, round(-2.5::double) AS c, \
                      round(2.5::decimal(4,1)) AS d, CAST(2.5::double AS int) AS e, CAST(2.5::decimal(4,1) AS int) AS f")
                .await
                .unwrap();
            datafusion::arrow::util::pretty::pretty_format_batches(&df.collect().await.unwrap())
                .unwrap()
                .to_string()
        });
        // Postgres 15: 2 | 4 | -2 | 3 | 2 | 3
        assert!(got.contains("| 2.0 | 4.0 | -2.0 | 3 "), "{got}");
        assert!(got.contains("| 2 | 3 |"), "{got}");
    }

    /// Expected values from PostgreSQL 15: `SELECT age(a, b)`.
    #[test]
    fn age_matches_postgres() {
        let iv = |a: &str, b: &str| {
            let v = age(ts(a), ts(b));
            crate::engine::postgres_interval(v.months, v.days, v.nanoseconds)
        };
        assert_eq!(
            iv("2025-06-30 00:00:00", "2015-12-29 00:00:00"),
            "9 years 6 mons 1 day"
        );
        assert_eq!(
            iv("2001-04-10 00:00:00", "1957-06-13 00:00:00"),
            "43 years 9 mons 27 days"
        );
        assert_eq!(
            iv("2024-03-01 00:00:00", "2024-01-31 12:00:00"),
            "1 mon 12:00:00"
        );
        assert_eq!(
            iv("2024-01-31 12:00:00", "2024-03-01 00:00:00"),
            "-1 mons -12:00:00"
        );
        assert_eq!(iv("2024-05-05 10:00:00", "2024-05-05 10:00:00"), "00:00:00");
    }
}
