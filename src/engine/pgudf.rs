//! Pieces the Postgres functions (`pg*.rs`) share.

use datafusion::arrow::array::ArrayRef;
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, Signature, TypeSignature};
use datafusion::sql::sqlparser::ast::{
    Expr as AstExpr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, ObjectName,
};

/// Whether every argument is a scalar (the result is then one too), and how many rows to
/// compute: one for scalars, the batch's otherwise.
pub(super) fn shape(args: &ScalarFunctionArgs) -> (bool, usize) {
    let all_scalar = args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)));
    (all_scalar, if all_scalar { 1 } else { args.number_rows })
}

/// A computed column as the function's result: its single value when the arguments were scalars.
pub(super) fn finish(result: ArrayRef, all_scalar: bool) -> DfResult<ColumnarValue> {
    if all_scalar {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &result, 0,
        )?))
    } else {
        Ok(ColumnarValue::Array(result))
    }
}

/// The SQL call `name(args…)`, for statements rewritten before DataFusion plans them.
pub(super) fn call(name: &str, args: Vec<AstExpr>) -> AstExpr {
    AstExpr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// A wrapped builtin's signature with one more accepted form.
pub(super) fn widened(inner: &Signature, extra: TypeSignature) -> Signature {
    let mut variants = match &inner.type_signature {
        TypeSignature::OneOf(v) => v.clone(),
        other => vec![other.clone()],
    };
    variants.push(extra);
    Signature::one_of(variants, inner.volatility)
}

/// Apply `f` to every expression of a statement, innermost first (each rewrite of a statement
/// before DataFusion plans it, or of SQL unparsed for a source).
pub(super) fn each_expr(
    statement: &mut datafusion::sql::sqlparser::ast::Statement,
    f: impl FnMut(&mut AstExpr),
) {
    use datafusion::sql::sqlparser::ast::{VisitMut, VisitorMut};
    struct V<F>(F);
    impl<F: FnMut(&mut AstExpr)> VisitorMut for V<F> {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut AstExpr) -> std::ops::ControlFlow<()> {
            (self.0)(e);
            std::ops::ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut V(f));
}

/// `name() OVER (PARTITION BY … ORDER BY …)`: a window function with no arguments (`rank`,
/// `row_number`) for statement rewrites.
pub(super) fn window_call(
    name: &str,
    partition_by: Vec<AstExpr>,
    order_by: Vec<datafusion::sql::sqlparser::ast::OrderByExpr>,
) -> AstExpr {
    use datafusion::sql::sqlparser::ast::{WindowSpec, WindowType};
    let mut call = call(name, vec![]);
    if let AstExpr::Function(f) = &mut call {
        f.over = Some(WindowType::WindowSpec(WindowSpec {
            window_name: None,
            partition_by,
            order_by,
            window_frame: None,
        }));
    }
    call
}

/// The positional arguments of a plain call `name(a, b, …)`; `None` for anything else.
pub(super) fn call_args(f: &Function) -> Option<Vec<&AstExpr>> {
    match &f.args {
        FunctionArguments::List(list) if f.over.is_none() && f.filter.is_none() => list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => Some(x),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// One statement parsed with Postgres's grammar, for tests of statement rewrites.
#[cfg(test)]
pub(super) fn parse(sql: &str) -> datafusion::sql::sqlparser::ast::Statement {
    datafusion::sql::sqlparser::parser::Parser::parse_sql(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
        sql,
    )
    .unwrap()
    .remove(0)
}
