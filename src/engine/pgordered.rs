//! Postgres's ordered-set aggregates DataFusion lacks, for the queries DataFusion plans itself:
//! `percentile_disc(f) WITHIN GROUP (ORDER BY x)` and `mode() WITHIN GROUP (ORDER BY x)`.
//! DataFusion's planner hands such an aggregate the ordered value as its first argument and the
//! WITHIN GROUP ordering as its `ORDER BY`; its unparser writes WITHIN GROUP back, so a
//! federated fragment runs Postgres's own.
//!
//! As in Postgres (`orderedsetaggs.c`): NULLs are left out; `percentile_disc` returns the first
//! value, in the group's order, whose position reaches the fraction (`ceil(f · n)`-th, at least
//! the first); `mode` the most frequent value, the first in the group's order among equals.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions};
use datafusion::arrow::compute::{SortOptions, concat, filter, is_not_null, sort_to_indices};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, Signature, Volatility,
};
use std::sync::Arc;

pub(super) fn register(ctx: &datafusion::prelude::SessionContext) {
    for kind in [Kind::PercentileDisc, Kind::Mode] {
        ctx.register_udaf(AggregateUDF::new_from_impl(OrderedSet::new(kind)));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    PercentileDisc,
    Mode,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct OrderedSet {
    kind: Kind,
    signature: Signature,
}

impl OrderedSet {
    fn new(kind: Kind) -> Self {
        OrderedSet {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
    fn usage(&self) -> &'static str {
        match self.kind {
            Kind::PercentileDisc => "percentile_disc(fraction) WITHIN GROUP (ORDER BY value)",
            Kind::Mode => "mode() WITHIN GROUP (ORDER BY value)",
        }
    }
}

fn plan_error(message: String) -> DataFusionError {
    DataFusionError::Plan(message)
}

impl AggregateUDFImpl for OrderedSet {
    fn name(&self) -> &str {
        match self.kind {
            Kind::PercentileDisc => "percentile_disc",
            Kind::Mode => "mode",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        let arity = match self.kind {
            Kind::PercentileDisc => 2,
            Kind::Mode => 1,
        };
        if arg_types.len() != arity {
            return Err(plan_error(format!("write it as {}", self.usage())));
        }
        let mut types = vec![arg_types[0].clone()];
        if self.kind == Kind::PercentileDisc {
            let fraction = &arg_types[1];
            if !(fraction.is_numeric() || *fraction == DataType::Null) {
                return Err(plan_error(format!(
                    "percentile_disc's fraction is a number, not {fraction}"
                )));
            }
            types.push(DataType::Float64);
        }
        Ok(types)
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(arg_types[0].clone())
    }
    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new_list(
            format_state_name(args.name, "values"),
            Field::new_list_field(args.input_fields[0].data_type().clone(), true),
            true,
        ))])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        let Some(order) = args.order_bys.first() else {
            return Err(plan_error(format!(
                "{} needs WITHIN GROUP: {}",
                self.name(),
                self.usage()
            )));
        };
        let fraction = match self.kind {
            Kind::Mode => None,
            Kind::PercentileDisc => Some(constant_fraction(&args)?),
        };
        Ok(Box::new(OrderedValues {
            values: Vec::new(),
            data_type: args.return_field.data_type().clone(),
            options: order.options,
            fraction,
        }))
    }
    fn supports_within_group_clause(&self) -> bool {
        true
    }
}

/// The fraction of `percentile_disc`: a constant between 0 and 1, as Postgres requires.
fn constant_fraction(args: &AccumulatorArgs) -> DfResult<f64> {
    let not_constant =
        || DataFusionError::Plan("percentile_disc's fraction must be a constant".into());
    let expr = args.exprs.get(1).ok_or_else(not_constant)?;
    let nothing = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    let ColumnarValue::Scalar(value) = expr.evaluate(&nothing).map_err(|_| not_constant())? else {
        return Err(not_constant());
    };
    let f = match value.cast_to(&DataType::Float64)? {
        ScalarValue::Float64(Some(f)) => f,
        _ => return Err(not_constant()),
    };
    if !(0.0..=1.0).contains(&f) {
        return Err(DataFusionError::Execution(format!(
            "percentile value {f} is not between 0 and 1"
        )));
    }
    Ok(f)
}

/// The group's non-null values, sorted in the WITHIN GROUP order when the answer is asked for.
#[derive(Debug)]
struct OrderedValues {
    values: Vec<ArrayRef>,
    data_type: DataType,
    options: SortOptions,
    /// `Some` for percentile_disc, `None` for mode.
    fraction: Option<f64>,
}

impl OrderedValues {
    fn push(&mut self, values: &ArrayRef) -> DfResult<()> {
        let kept = if values.null_count() > 0 {
            filter(values, &is_not_null(values)?)?
        } else {
            Arc::clone(values)
        };
        if !kept.is_empty() {
            self.values.push(kept);
        }
        Ok(())
    }

    fn all(&self) -> DfResult<Option<ArrayRef>> {
        if self.values.is_empty() {
            return Ok(None);
        }
        let parts: Vec<&dyn Array> = self.values.iter().map(|a| a.as_ref()).collect();
        Ok(Some(concat(&parts)?))
    }
}

impl Accumulator for OrderedValues {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.push(&values[0])
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        for list in states[0].as_list::<i32>().iter().flatten() {
            self.push(&list)?;
        }
        Ok(())
    }
    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        let all = match self.all()? {
            Some(a) => a,
            None => datafusion::arrow::array::new_empty_array(&self.data_type),
        };
        Ok(vec![ScalarValue::List(Arc::new(
            SingleRowListArrayBuilder::new(all).build_list_array(),
        ))])
    }
    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        let Some(all) = self.all()? else {
            return ScalarValue::try_from(&self.data_type);
        };
        let order = sort_to_indices(&all, Some(self.options), None)?;
        let sorted = datafusion::arrow::compute::take(&all, &order, None)?;
        let n = sorted.len();
        let pick = match self.fraction {
            Some(f) => ((f * n as f64).ceil() as usize).clamp(1, n) - 1,
            None => {
                // Equal values sit together once sorted; the longest run wins, the first on ties.
                let runs =
                    datafusion::arrow::compute::kernels::partition::partition(&[Arc::clone(
                        &sorted,
                    )])?;
                let mut best = 0..0;
                for run in runs.ranges() {
                    if run.len() > best.len() {
                        best = run;
                    }
                }
                best.start
            }
        };
        ScalarValue::try_from_array(&sorted, pick)
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self
                .values
                .iter()
                .map(|a| a.get_array_memory_size())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};

    fn run(fraction: Option<f64>, descending: bool, values: ArrayRef) -> ScalarValue {
        let mut acc = OrderedValues {
            values: vec![],
            data_type: values.data_type().clone(),
            options: SortOptions {
                descending,
                nulls_first: false,
            },
            fraction,
        };
        // Two halves merged through the state, as partial aggregates are.
        let half = values.len() / 2;
        let mut other = OrderedValues {
            values: vec![],
            data_type: values.data_type().clone(),
            options: acc.options,
            fraction,
        };
        acc.update_batch(&[values.slice(0, half)]).unwrap();
        other
            .update_batch(&[values.slice(half, values.len() - half)])
            .unwrap();
        let state = other.state().unwrap()[0].to_array().unwrap();
        acc.merge_batch(&[state]).unwrap();
        acc.evaluate().unwrap()
    }

    // Expected values are Postgres 15's for the same values.
    #[test]
    fn percentile_disc_matches_postgres() {
        let v: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(5),
            None,
            Some(1),
            Some(4),
            Some(2),
            Some(3),
        ]));
        // percentile_disc(0.5) WITHIN GROUP (ORDER BY x) over 1..5 (and a NULL) = 3
        assert_eq!(
            run(Some(0.5), false, Arc::clone(&v)),
            ScalarValue::Int64(Some(3))
        );
        // 0 → the first; 1 → the last; 0.9 → 5; 0.2 → 1; DESC 0.2 → 5
        assert_eq!(
            run(Some(0.0), false, Arc::clone(&v)),
            ScalarValue::Int64(Some(1))
        );
        assert_eq!(
            run(Some(1.0), false, Arc::clone(&v)),
            ScalarValue::Int64(Some(5))
        );
        assert_eq!(
            run(Some(0.9), false, Arc::clone(&v)),
            ScalarValue::Int64(Some(5))
        );
        assert_eq!(
            run(Some(0.2), false, Arc::clone(&v)),
            ScalarValue::Int64(Some(1))
        );
        assert_eq!(run(Some(0.2), true, v), ScalarValue::Int64(Some(5)));
        let none: ArrayRef = Arc::new(Int64Array::from(vec![None, None]));
        assert_eq!(run(Some(0.5), false, none), ScalarValue::Int64(None));
    }

    #[test]
    fn mode_matches_postgres() {
        let v: ArrayRef = Arc::new(StringArray::from(vec![
            Some("tablet"),
            Some("mobile"),
            None,
            Some("desktop"),
            Some("tablet"),
            Some("desktop"),
            None,
            None,
        ]));
        // mode() WITHIN GROUP (ORDER BY d): desktop and tablet twice each, desktop first.
        assert_eq!(
            run(None, false, Arc::clone(&v)),
            ScalarValue::Utf8(Some("desktop".into()))
        );
        // ORDER BY d DESC: tablet comes first among the equals.
        assert_eq!(run(None, true, v), ScalarValue::Utf8(Some("tablet".into())));
    }
}
