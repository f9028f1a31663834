//! `to_char(number, template)` as Postgres formats numbers (`formatting.c`'s NUM templates),
//! for the queries DataFusion plans itself; DataFusion's `to_char` takes only dates and times,
//! which still go to it. Federated fragments unparse `to_char` by name.
//!
//! Supported template patterns: `9` (a digit, blank when a leading zero), `0` (a digit, always),
//! `.` and `D` (the decimal point), `,` and `G` (the group separator, shown once a digit is), `S`
//! (a sign, `+` or `-`, anchored to the number), `MI` (a trailing `-`), `FM` (no padding, no
//! trailing zeros from `9`). The locale is C: `D` is `.`, `G` is `,`. Other letters are an error
//! rather than text copied through; other characters are copied.
//!
//! As in Postgres: the value is rounded half away from zero to the template's decimals; a number
//! with more integer digits than the template has prints `#` in every digit position; without
//! `S` or `MI` one position is kept for the sign, which sits just before the first digit.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::DataFusionError;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
use std::sync::Arc;

/// Wrap the session's `to_char` so numbers are formatted here.
pub(super) fn register(ctx: &datafusion::prelude::SessionContext) {
    use datafusion::execution::FunctionRegistry;
    if let Ok(inner) = ctx.udf("to_char") {
        ctx.register_udf(ScalarUDF::new_from_impl(ToChar::new(inner)));
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Nine,
    Zero,
    Point,
    Group,
    Sign,
    Minus,
    Literal(char),
}

struct Template {
    tokens: Vec<Token>,
    fill: bool,
}

fn parse(template: &str) -> Result<Template, String> {
    let mut tokens = Vec::new();
    let mut fill = false;
    let upper = template.to_ascii_uppercase();
    let mut rest = upper.as_str();
    while let Some(c) = rest.chars().next() {
        let (token, len) = if rest.starts_with("FM") {
            fill = true;
            rest = &rest[2..];
            continue;
        } else if rest.starts_with("MI") {
            (Token::Minus, 2)
        } else {
            match c {
                '9' => (Token::Nine, 1),
                '0' => (Token::Zero, 1),
                '.' | 'D' => (Token::Point, 1),
                ',' | 'G' => (Token::Group, 1),
                'S' => (Token::Sign, 1),
                c if c.is_ascii_alphabetic() => {
                    return Err(format!(
                        "to_char: the number template element at '{}' is not supported when \
                         Skipper evaluates it itself (9 0 . D , G S MI FM are)",
                        &template[template.len() - rest.len()..]
                    ));
                }
                c => (Token::Literal(c), c.len_utf8()),
            }
        };
        tokens.push(token);
        rest = &rest[len..];
    }
    if tokens.iter().filter(|t| **t == Token::Point).count() > 1 {
        return Err("to_char: multiple decimal points".into());
    }
    Ok(Template { tokens, fill })
}

/// `value` (an integer scaled by `10^scale`) formatted by `t`.
fn format_number(value: i128, scale: u32, t: &Template) -> String {
    let digit = |tok: &Token| matches!(tok, Token::Nine | Token::Zero);
    let point = t.tokens.iter().position(|tok| *tok == Token::Point);
    let int_slots = t.tokens[..point.unwrap_or(t.tokens.len())]
        .iter()
        .filter(|x| digit(x))
        .count();
    let frac_slots = point.map_or(0, |p| t.tokens[p..].iter().filter(|x| digit(x)).count());
    // Round half away from zero to the template's decimals.
    let negative = value < 0;
    let magnitude = value.unsigned_abs();
    let rounded = if frac_slots as u32 >= scale {
        magnitude * 10u128.pow(frac_slots as u32 - scale)
    } else {
        let div = 10u128.pow(scale - frac_slots as u32);
        let (q, r) = (magnitude / div, magnitude % div);
        if r * 2 >= div { q + 1 } else { q }
    };
    let digits = rounded.to_string();
    let digits = format!("{digits:0>width$}", width = frac_slots + 1);
    let (int_digits, frac_digits) = digits.split_at(digits.len() - frac_slots);
    let int_digits = int_digits.trim_start_matches('0');
    let overflow = int_digits.len() > int_slots;
    let sign_char = |explicit: bool| match (negative && rounded != 0, explicit) {
        (true, _) => '-',
        (false, true) => '+',
        (false, false) => ' ',
    };
    let has_sign = t
        .tokens
        .iter()
        .any(|x| matches!(x, Token::Sign | Token::Minus));
    let padded = format!("{int_digits:0>int_slots$}");
    let first_significant = padded.find(|c: char| c != '0').unwrap_or(int_slots);
    let mut out = String::new();
    // Without S or MI, one leading position holds the sign, placed before the first digit.
    let mut pending_sign = (!has_sign).then(|| sign_char(false));
    let mut printed_int = false;
    let mut forced = false;
    let mut int_i = 0;
    let mut frac_i = 0;
    let mut in_frac = false;
    let mut frac_out: Vec<(char, bool)> = Vec::new(); // (char, removable by FM)
    let mut blanks = 0usize;
    let emit = |out: &mut String, pending: &mut Option<char>, c: char| {
        if let Some(s) = pending.take() {
            out.push(s);
        }
        out.push(c);
    };
    for (k, tok) in t.tokens.iter().enumerate() {
        match tok {
            Token::Nine | Token::Zero if !in_frac => {
                if *tok == Token::Zero {
                    forced = true;
                }
                let last_before_end = point.is_none() && int_i + 1 == int_slots;
                let show = overflow || int_i >= first_significant || forced || last_before_end;
                if overflow {
                    emit(&mut out, &mut pending_sign, '#');
                    printed_int = true;
                } else if show {
                    emit(
                        &mut out,
                        &mut pending_sign,
                        padded.as_bytes()[int_i] as char,
                    );
                    printed_int = true;
                } else {
                    blanks += 1;
                }
                int_i += 1;
            }
            Token::Nine | Token::Zero => {
                let c = if overflow {
                    '#'
                } else {
                    frac_digits.as_bytes()[frac_i] as char
                };
                frac_out.push((c, *tok == Token::Nine && c == '0'));
                frac_i += 1;
            }
            Token::Point => {
                in_frac = true;
                if !printed_int {
                    // Blanks so far, then the sign, then the point.
                    let pad: String = " ".repeat(blanks);
                    out.insert_str(0, &pad);
                    blanks = 0;
                }
                if let Some(s) = pending_sign.take() {
                    out.push(s);
                }
                frac_out.push(('.', false));
            }
            Token::Group if !in_frac => {
                if printed_int {
                    out.push(',');
                } else {
                    blanks += 1;
                }
            }
            Token::Group => frac_out.push((',', false)),
            Token::Sign => {
                let c = sign_char(true);
                if k == 0 {
                    pending_sign = Some(c);
                } else if in_frac {
                    frac_out.push((c, false));
                } else {
                    out.push(c);
                }
            }
            Token::Minus => {
                let c = if negative && rounded != 0 { '-' } else { ' ' };
                if in_frac {
                    frac_out.push((c, false));
                } else {
                    out.push(c);
                }
            }
            Token::Literal(c) => {
                if in_frac {
                    frac_out.push((*c, false));
                } else {
                    out.push(*c);
                }
            }
        }
    }
    if let Some(s) = pending_sign.take() {
        out.push(s);
    }
    let mut text = format!("{}{}", " ".repeat(blanks), out);
    if t.fill {
        // FM: trailing zeros from 9s go, then padding.
        while frac_out.last().is_some_and(|(_, removable)| *removable) {
            frac_out.pop();
        }
        let frac_has_digit = frac_out
            .iter()
            .any(|(c, _)| c.is_ascii_digit() || *c == '#');
        text = text.trim().to_string();
        if !printed_int && !frac_has_digit && !overflow {
            text.push('0');
        }
    }
    for (c, _) in frac_out {
        text.push(c);
    }
    text
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ToChar {
    inner: Arc<ScalarUDF>,
    signature: Signature,
}

impl ToChar {
    fn new(inner: Arc<ScalarUDF>) -> Self {
        use datafusion::common::types::logical_string;
        use datafusion::logical_expr::{Coercion, TypeSignature, TypeSignatureClass};
        ToChar {
            signature: super::pgudf::widened(
                inner.signature(),
                TypeSignature::Coercible(vec![
                    Coercion::new_exact(TypeSignatureClass::Numeric),
                    Coercion::new_exact(TypeSignatureClass::Native(logical_string())),
                ]),
            ),
            inner,
        }
    }
}

fn is_number(t: &DataType) -> bool {
    t.is_numeric()
}

impl ScalarUDFImpl for ToChar {
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
        if arg_types.first().is_some_and(is_number) {
            return Ok(DataType::Utf8);
        }
        self.inner.return_type(arg_types)
    }
    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> DfResult<datafusion::arrow::datatypes::FieldRef> {
        if args
            .arg_fields
            .first()
            .is_some_and(|f| is_number(f.data_type()))
        {
            return Ok(Arc::new(datafusion::arrow::datatypes::Field::new(
                self.name(),
                DataType::Utf8,
                true,
            )));
        }
        self.inner.return_field_from_args(args)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if !args.args.first().is_some_and(|a| is_number(&a.data_type())) {
            return self.inner.invoke_with_args(args);
        }
        let (all_scalar, rows) = super::pgudf::shape(&args);
        let numbers = args.args[0].to_array(rows)?;
        let templates =
            datafusion::arrow::compute::cast(&args.args[1].to_array(rows)?, &DataType::Utf8)?;
        let templates = templates.as_string::<i32>();
        // Exact decimals keep their digits; integers have none after the point; floats go
        // through their shortest decimal text.
        let scale: u32 = match numbers.data_type() {
            DataType::Decimal128(_, s) => (*s).max(0) as u32,
            // A wide numeric (an average of bigints): 18 places leave bigint's 20 digits.
            DataType::Decimal256(_, s) => (*s).clamp(0, 18) as u32,
            t if t.is_integer() => 0,
            _ => 15,
        };
        let exact = match numbers.data_type() {
            DataType::Decimal128(_, _) => Arc::clone(&numbers),
            DataType::Decimal256(_, _) => datafusion::arrow::compute::cast_with_options(
                &numbers,
                &DataType::Decimal128(38, scale as i8),
                &datafusion::arrow::compute::CastOptions {
                    safe: false,
                    ..Default::default()
                },
            )?,
            t if t.is_integer() => {
                datafusion::arrow::compute::cast(&numbers, &DataType::Decimal128(38, 0))?
            }
            _ => datafusion::arrow::compute::cast(&numbers, &DataType::Decimal128(38, 15))?,
        };
        let exact = exact.as_primitive::<datafusion::arrow::datatypes::Decimal128Type>();
        let mut parsed: Option<(String, Template)> = None;
        let mut built = StringBuilder::with_capacity(rows, rows * 12);
        for row in 0..rows {
            if exact.is_null(row) || templates.is_null(row) {
                built.append_null();
                continue;
            }
            let template = templates.value(row);
            if parsed.as_ref().is_none_or(|(p, _)| p != template) {
                parsed = Some((
                    template.to_string(),
                    parse(template).map_err(DataFusionError::Execution)?,
                ));
            }
            let (_, t) = parsed.as_ref().expect("parsed above");
            built.append_value(format_number(exact.value(row), scale, t));
        }
        let result: ArrayRef = Arc::new(built.finish());
        super::pgudf::finish(result, all_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Postgres 15's `to_char(v::numeric, template)` for these values and templates.
    #[test]
    fn numbers_format_as_postgres_formats_them() {
        let values = [
            (1_234_567i128, 3u32),
            (5, 1),
            (-123, 1),
            (0, 0),
            (5, 0),
            (999_991, 1),
            (1_234_567_891, 3),
        ];
        let expected: [(&str, [&str; 7]); 10] = [
            (
                "FM999G990D00",
                [
                    "1,234.57",
                    "0.50",
                    "-12.30",
                    "0.00",
                    "5.00",
                    "99,999.10",
                    "###,###.##",
                ],
            ),
            (
                "999G990D00",
                [
                    "   1,234.57",
                    "       0.50",
                    "     -12.30",
                    "       0.00",
                    "       5.00",
                    "  99,999.10",
                    " ###,###.##",
                ],
            ),
            (
                "9999.99",
                [
                    " 1234.57", "     .50", "  -12.30", "     .00", "    5.00", " ####.##",
                    " ####.##",
                ],
            ),
            (
                "0000.9",
                [
                    " 1234.6", " 0000.5", "-0012.3", " 0000.0", " 0005.0", " ####.#", " ####.#",
                ],
            ),
            (
                "FM9999.99",
                ["1234.57", ".5", "-12.3", "0.", "5.", "####.##", "####.##"],
            ),
            (
                "999",
                [" ###", "   1", " -12", "   0", "   5", " ###", " ###"],
            ),
            (
                "S999.9",
                [
                    "+###.#", "   +.5", " -12.3", "   +.0", "  +5.0", "+###.#", "+###.#",
                ],
            ),
            (
                "999.9MI",
                [
                    "###.# ", "   .5 ", " 12.3-", "   .0 ", "  5.0 ", "###.# ", "###.# ",
                ],
            ),
            (
                "FM9,999.00",
                [
                    "1,234.57", ".50", "-12.30", ".00", "5.00", "#,###.##", "#,###.##",
                ],
            ),
            ("99", [" ##", "  1", "-12", "  0", "  5", " ##", " ##"]),
        ];
        let mut wrong = Vec::new();
        for (template, outputs) in expected {
            let t = parse(template).unwrap();
            for ((v, s), want) in values.iter().zip(outputs) {
                let got = format_number(*v, *s, &t);
                if got != want {
                    wrong.push(format!(
                        "to_char({v}e-{s}, '{template}') = [{got}], want [{want}]"
                    ));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        assert!(parse("9999L").is_err());
    }
}
