//! `COLLATE` for the queries DataFusion plans itself. DataFusion compares and sorts text byte by
//! byte, which is Postgres's `"C"` collation (and `"POSIX"`, and `ucs_basic` over UTF-8); its
//! planner has no COLLATE at all. So `x COLLATE "C"` becomes the call `collate_c(x)`: text
//! unchanged where DataFusion evaluates it, and written back as `x COLLATE "C"` in SQL sent to
//! Postgres (see [`postgres_collate`]), where the database's default collation would otherwise
//! order it. `COLLATE "default"` names the column's own collation: it is dropped. Any other
//! collation (`"en_US"`, ICU) orders by language rules DataFusion does not have; such a query
//! is refused with a hint rather than answered in byte order.
//!
//! Case follows the same locale. In a Postgres database whose `LC_CTYPE` is C (or POSIX),
//! `upper`, `lower` and `initcap` change ASCII letters only (`upper('chloé')` is `CHLOé`), and
//! `initcap` starts a word after any character that is not an ASCII letter or digit
//! (`initcap('éric')` is `éRic`). When every Postgres source Skipper federates has that locale,
//! the three functions are replaced by such ones ([`register_c_case`]), so a query gives the
//! same text whether its fragment runs in Postgres or here; otherwise DataFusion's Unicode
//! rules stay, which are other locales' (`en_US.UTF-8`, ICU) for all but rare letters.

use datafusion::arrow::array::{ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::DataFusionError;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::{
    Expr as A, Ident, ObjectName, Statement, VisitMut, VisitorMut,
};
use std::ops::ControlFlow;
use std::sync::Arc;

const NAME: &str = "collate_c";

pub(super) fn register(state: &mut datafusion::execution::session_state::SessionState) {
    use datafusion::execution::FunctionRegistry;
    if let Err(e) = state.register_udf(Arc::new(ScalarUDF::new_from_impl(CollateC {
        signature: Signature::string(1, Volatility::Immutable),
    }))) {
        tracing::warn!("collate_c not registered: {e}");
    }
}

/// Replace `upper`, `lower` and `initcap` with the C locale's.
pub(super) fn register_c_case(ctx: &datafusion::prelude::SessionContext) {
    for case in [Case::Upper, Case::Lower, Case::Initcap] {
        ctx.register_udf(ScalarUDF::new_from_impl(CCase {
            case,
            signature: Signature::string(1, Volatility::Immutable),
        }));
    }
}

#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
enum Case {
    Upper,
    Lower,
    Initcap,
}

/// Postgres's `str_toupper`/`str_tolower`/`str_initcap` under a C `LC_CTYPE`: ASCII letters
/// only; a word starts after anything but an ASCII letter or digit.
fn c_case(case: Case, text: &str) -> String {
    match case {
        Case::Upper => text.to_ascii_uppercase(),
        Case::Lower => text.to_ascii_lowercase(),
        Case::Initcap => {
            let mut in_word = false;
            text.chars()
                .map(|c| {
                    let out = if in_word {
                        c.to_ascii_lowercase()
                    } else {
                        c.to_ascii_uppercase()
                    };
                    in_word = c.is_ascii_alphanumeric();
                    out
                })
                .collect()
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct CCase {
    case: Case,
    signature: Signature,
}

impl ScalarUDFImpl for CCase {
    fn name(&self) -> &str {
        match self.case {
            Case::Upper => "upper",
            Case::Lower => "lower",
            Case::Initcap => "initcap",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match arg_types.first() {
            Some(t @ (DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)) => Ok(t.clone()),
            _ => Ok(DataType::Utf8),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let (all_scalar, rows) = super::pgudf::shape(&args);
        let input = args.args[0].to_array(rows)?;
        let out_type = input.data_type().clone();
        let text = datafusion::arrow::compute::cast(&input, &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        let mut built = StringBuilder::with_capacity(rows, text.value_data().len());
        for v in text.iter() {
            built.append_option(v.map(|v| c_case(self.case, v)));
        }
        let result: ArrayRef =
            datafusion::arrow::compute::cast(&(Arc::new(built.finish()) as ArrayRef), &out_type)?;
        super::pgudf::finish(result, all_scalar)
    }
}

/// A collation that is byte order over UTF-8 text.
fn byte_order(name: &str) -> bool {
    ["c", "posix", "ucs_basic"].contains(&name.to_ascii_lowercase().as_str())
}

/// Rewrite each `x COLLATE name` for DataFusion; the error names a collation it cannot honour.
pub(super) fn collations(statement: &mut Statement) -> Result<(), String> {
    struct V;
    impl VisitorMut for V {
        type Break = String;
        fn post_visit_expr(&mut self, e: &mut A) -> ControlFlow<String> {
            if let A::Collate { expr, collation } = e {
                let name = collation
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .map(|i| i.value.clone())
                    .unwrap_or_else(|| collation.to_string());
                if byte_order(&name) {
                    *e = super::pgudf::call(NAME, vec![*expr.clone()]);
                } else if name.eq_ignore_ascii_case("default") {
                    *e = *expr.clone();
                } else {
                    return ControlFlow::Break(format!(
                        "COLLATE \"{name}\" cannot be evaluated here: this query runs on \
                         DataFusion, which compares text byte by byte (COLLATE \"C\")"
                    ));
                }
            }
            ControlFlow::Continue(())
        }
    }
    match statement.visit(&mut V) {
        ControlFlow::Break(message) => Err(message),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// In SQL unparsed for Postgres, `collate_c(x)` → `x COLLATE "C"`.
pub(super) fn postgres_collate(statement: &mut Statement) {
    super::pgudf::each_expr(statement, |e| {
        if let A::Function(f) = e
            && f.name.to_string().eq_ignore_ascii_case(NAME)
            && let Some([x]) = super::pgudf::call_args(f).as_deref()
        {
            *e = A::Collate {
                expr: Box::new(A::Nested(Box::new((*x).clone()))),
                collation: ObjectName::from(vec![Ident::with_quote('"', "C")]),
            };
        }
    });
}

/// Text unchanged: DataFusion's comparisons are already the C collation's.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CollateC {
    signature: Signature,
}

impl ScalarUDFImpl for CollateC {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        arg_types
            .first()
            .cloned()
            .ok_or_else(|| DataFusionError::Plan("collate_c takes one text argument".into()))
    }
    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(args.args.swap_remove(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::pgudf::parse;

    #[test]
    fn byte_order_collations_become_calls_and_return_as_collate() {
        let mut s = parse(
            "SELECT name FROM t WHERE name COLLATE \"POSIX\" < 'b' \
             ORDER BY name COLLATE \"C\", id COLLATE \"default\"",
        );
        collations(&mut s).unwrap();
        assert_eq!(
            s.to_string(),
            "SELECT name FROM t WHERE collate_c(name) < 'b' ORDER BY collate_c(name), id"
        );
        postgres_collate(&mut s);
        assert_eq!(
            s.to_string(),
            "SELECT name FROM t WHERE (name) COLLATE \"C\" < 'b' ORDER BY (name) COLLATE \"C\", id"
        );
    }

    #[test]
    fn c_locale_case_changes_ascii_letters_only() {
        // Each expectation is what Postgres 15 returned in a database created with
        // `initdb --locale=C -E UTF8`.
        assert_eq!(c_case(Case::Upper, "chloé éa"), "CHLOé éA");
        assert_eq!(c_case(Case::Lower, "CHLOÉ Éa"), "chloÉ Éa");
        assert_eq!(
            c_case(Case::Initcap, "éric chloé-ann o'brien ßx 3d"),
            "éRic Chloé-Ann O'Brien ßX 3d"
        );
    }

    #[test]
    fn a_language_collation_is_refused_by_name() {
        let mut s = parse("SELECT name FROM t ORDER BY name COLLATE \"en_US\"");
        let e = collations(&mut s).unwrap_err();
        assert!(
            e.starts_with("COLLATE \"en_US\" cannot be evaluated here"),
            "{e}"
        );
    }
}
