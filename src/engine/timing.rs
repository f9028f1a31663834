//! The time each physical optimizer rule takes, logged at `trace` level
//! (`RUST_LOG=skipper::engine::timing=trace`): planning is a visible share of a short query.

use datafusion::common::config::ConfigOptions;
use datafusion::error::Result as DfResult;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;

/// A physical optimizer rule, timed.
#[derive(Debug)]
pub(super) struct Timed(pub(super) Arc<dyn PhysicalOptimizerRule + Send + Sync>);

impl Timed {
    /// `run`'s result, its time logged under this rule's name.
    fn timed<T>(&self, run: impl FnOnce() -> T) -> T {
        let started = std::time::Instant::now();
        let out = run();
        tracing::trace!(
            rule = self.0.name(),
            us = started.elapsed().as_micros() as u64,
            "physical rule"
        );
        out
    }
}

impl PhysicalOptimizerRule for Timed {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.timed(|| self.0.optimize(plan, config))
    }

    fn optimize_with_context(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        context: &dyn datafusion::physical_optimizer::PhysicalOptimizerContext,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.timed(|| self.0.optimize_with_context(plan, context))
    }

    fn name(&self) -> &str {
        self.0.name()
    }

    fn schema_check(&self) -> bool {
        self.0.schema_check()
    }
}
