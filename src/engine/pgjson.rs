//! Postgres's JSON operators for the queries DataFusion plans itself. Skipper reads `json` and
//! `jsonb` columns as text; DataFusion had no `->`/`->>` and no JSON types, so any such query
//! failed to plan off the passthrough path.
//!
//! - `x::jsonb`, `x::json` (and `CAST`) become `skipper_jsonb(x)`/`skipper_json(x)`: the text
//!   checked to be JSON, `jsonb` in its canonical form as Postgres prints it (keys ordered by
//!   length then bytes, the last of duplicate keys kept, `{"a": 1, "b": [1, 2]}`); `json`
//!   as written.
//! - `j -> k` and `j ->> k`, `k` a key or an array position (negative from the end), are
//!   planned ([`JsonOperators`]) as `json_get(j, k)` (JSON text, in `jsonb`'s form) and
//!   `json_get_text(j, k)` (a string's value, other values as JSON text; SQL NULL for JSON
//!   null or a missing key or position).
//!
//! In SQL sent to Postgres, all four are written back as the casts and operators
//! ([`postgres_json`]), so Postgres applies its own `json` or `jsonb` operator by the column's
//! type.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::DataFusionError;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, DataType as T, Expr as A, Statement,
};
use serde_json::Value;
use std::sync::{Arc, LazyLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    /// `skipper_jsonb(text)`: canonical jsonb text.
    Jsonb,
    /// `skipper_json(text)`: checked, unchanged.
    Json,
    /// `json_get(json, key)`: `->`.
    Get,
    /// `json_get_text(json, key)`: `->>`.
    GetText,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Jsonb => "skipper_jsonb",
            Op::Json => "skipper_json",
            Op::Get => "json_get",
            Op::GetText => "json_get_text",
        }
    }
}

static FNS: LazyLock<[Arc<ScalarUDF>; 4]> = LazyLock::new(|| {
    [Op::Jsonb, Op::Json, Op::Get, Op::GetText].map(|op| {
        Arc::new(ScalarUDF::new_from_impl(JsonFn {
            op,
            signature: match op {
                Op::Jsonb | Op::Json => Signature::string(1, Volatility::Immutable),
                Op::Get | Op::GetText => Signature::any(2, Volatility::Immutable),
            },
        }))
    })
});

pub(super) fn register(state: &mut datafusion::execution::session_state::SessionState) {
    use datafusion::execution::FunctionRegistry;
    for f in FNS.iter() {
        if let Err(e) = state.register_udf(Arc::clone(f)) {
            tracing::warn!("{} not registered: {e}", f.name());
        }
    }
    if let Err(e) = state.register_expr_planner(Arc::new(JsonOperators)) {
        tracing::warn!("JSON operators not registered: {e}");
    }
}

/// `CAST(x AS json[b])` as `skipper_json[b](x)` before DataFusion plans the statement.
pub(super) fn json_casts(statement: &mut Statement) {
    super::pgudf::each_expr(statement, |e| {
        if let A::Cast {
            expr, data_type, ..
        } = e
        {
            let op = match data_type {
                T::JSONB => Op::Jsonb,
                T::JSON => Op::Json,
                T::Custom(name, _) if name.to_string().eq_ignore_ascii_case("jsonb") => Op::Jsonb,
                _ => return,
            };
            *e = super::pgudf::call(op.name(), vec![*expr.clone()]);
        }
    });
}

/// In SQL unparsed for Postgres, the functions back to Postgres's casts and operators.
pub(super) fn postgres_json(statement: &mut Statement) {
    super::pgudf::each_expr(statement, |e| {
        let A::Function(f) = e else { return };
        let name = f.name.to_string().to_ascii_lowercase();
        let Some(args) = super::pgudf::call_args(f) else {
            return;
        };
        let nested = |x: &A| Box::new(A::Nested(Box::new(x.clone())));
        let replaced = match (name.as_str(), args.as_slice()) {
            ("skipper_jsonb" | "skipper_json", [x]) => A::Cast {
                kind: CastKind::Cast,
                expr: nested(x),
                data_type: if name == "skipper_jsonb" {
                    T::JSONB
                } else {
                    T::JSON
                },
                array: false,
                format: None,
            },
            ("json_get" | "json_get_text", [j, k]) => A::Nested(Box::new(A::BinaryOp {
                left: nested(j),
                op: if name == "json_get" {
                    BinaryOperator::Arrow
                } else {
                    BinaryOperator::LongArrow
                },
                right: nested(k),
            })),
            _ => return,
        };
        *e = replaced;
    });
}

/// `->` and `->>` over text (how Skipper reads json and jsonb).
#[derive(Debug)]
struct JsonOperators;

impl ExprPlanner for JsonOperators {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &datafusion::common::DFSchema,
    ) -> DfResult<PlannerResult<RawBinaryExpr>> {
        let op = match expr.op {
            BinaryOperator::Arrow => Op::Get,
            BinaryOperator::LongArrow => Op::GetText,
            _ => return Ok(PlannerResult::Original(expr)),
        };
        let text = matches!(
            expr.left.get_type(schema),
            Ok(DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null)
        );
        if !text {
            return Ok(PlannerResult::Original(expr));
        }
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            datafusion::logical_expr::expr::ScalarFunction::new_udf(
                Arc::clone(&FNS[op as usize]),
                vec![expr.left, expr.right],
            ),
        )))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonFn {
    op: Op,
    signature: Signature,
}

fn parse(text: &str) -> DfResult<Value> {
    serde_json::from_str(text)
        .map_err(|e| DataFusionError::Execution(format!("invalid input syntax for type json: {e}")))
}

/// A value as Postgres prints `jsonb`: object keys shorter first, then by bytes; `", "` and
/// `": "` between items.
fn jsonb_text(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                jsonb_text(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                jsonb_text(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The member `key` of an object, or the element at position `key` of an array.
fn member<'a>(v: &'a Value, key: &Key) -> Option<&'a Value> {
    match (v, key) {
        (Value::Object(map), Key::Name(k)) => map.get(k.as_str()),
        (Value::Array(items), Key::Position(i)) => {
            let len = items.len() as i64;
            let at = if *i < 0 { len + i } else { *i };
            usize::try_from(at).ok().and_then(|at| items.get(at))
        }
        _ => None,
    }
}

enum Key {
    Name(String),
    Position(i64),
}

impl ScalarUDFImpl for JsonFn {
    fn name(&self) -> &str {
        self.op.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let (all_scalar, rows) = super::pgudf::shape(&args);
        let docs =
            datafusion::arrow::compute::cast(&args.args[0].to_array(rows)?, &DataType::Utf8)?;
        let docs = docs.as_string::<i32>();
        let keys: Option<(ArrayRef, bool)> = match args.args.get(1) {
            None => None,
            Some(k) => {
                let k = k.to_array(rows)?;
                let positional = k.data_type().is_integer();
                let target = if positional {
                    DataType::Int64
                } else {
                    DataType::Utf8
                };
                Some((datafusion::arrow::compute::cast(&k, &target)?, positional))
            }
        };
        let mut built = StringBuilder::with_capacity(rows, rows * 16);
        let mut text = String::new();
        for row in 0..rows {
            let Some(doc) = docs.is_valid(row).then(|| docs.value(row)) else {
                built.append_null();
                continue;
            };
            text.clear();
            match (&keys, self.op) {
                (None, Op::Json) => {
                    parse(doc)?;
                    built.append_value(doc);
                    continue;
                }
                (None, _) => jsonb_text(&parse(doc)?, &mut text),
                (Some((k, positional)), op) => {
                    if k.is_null(row) {
                        built.append_null();
                        continue;
                    }
                    let key = if *positional {
                        Key::Position(
                            k.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                                .value(row),
                        )
                    } else {
                        Key::Name(k.as_string::<i32>().value(row).to_string())
                    };
                    let value = parse(doc)?;
                    match (member(&value, &key), op) {
                        (None, _) | (Some(Value::Null), Op::GetText) => {
                            built.append_null();
                            continue;
                        }
                        (Some(Value::String(s)), Op::GetText) => text.push_str(s),
                        (Some(v), _) => jsonb_text(v, &mut text),
                    }
                }
            }
            built.append_value(&text);
        }
        let result: ArrayRef = Arc::new(built.finish());
        super::pgudf::finish(result, all_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(s: &str) -> String {
        let mut out = String::new();
        jsonb_text(&parse(s).unwrap(), &mut out);
        out
    }

    #[test]
    fn jsonb_prints_keys_shorter_first_and_spaced() {
        // Postgres 15: SELECT '{"bb":1,"a":[true,null,"x"],"c":{"z":1,"yy":2},"a":2}'::jsonb
        assert_eq!(
            canonical(r#"{"bb":1,"a":[true,null,"x"],"c":{"z":1,"yy":2},"a":2}"#),
            r#"{"a": 2, "c": {"z": 1, "yy": 2}, "bb": 1}"#
        );
    }

    #[test]
    fn members_by_name_and_position() {
        let v = parse(r#"{"tags": ["x", "y"], "n": null}"#).unwrap();
        let tags = member(&v, &Key::Name("tags".into())).unwrap();
        assert_eq!(member(tags, &Key::Position(0)), Some(&Value::from("x")));
        assert_eq!(member(tags, &Key::Position(-1)), Some(&Value::from("y")));
        assert_eq!(member(tags, &Key::Position(2)), None);
        assert_eq!(member(&v, &Key::Position(0)), None);
        assert_eq!(member(&v, &Key::Name("n".into())), Some(&Value::Null));
    }

    #[test]
    fn casts_and_operators_return_to_postgres_spelling() {
        let mut s = super::super::pgudf::parse(
            "SELECT json_get_text(json_get(skipper_jsonb('{}'), 'a'), 0) FROM t",
        );
        postgres_json(&mut s);
        assert_eq!(
            s.to_string(),
            "SELECT ((((CAST(('{}') AS JSONB)) -> ('a'))) ->> (0)) FROM t"
        );
    }
}
