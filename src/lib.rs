//! Skipper: a governed command-line data agent.
//!
//! Layers, with dependencies pointing one way: the front end (`app`, `cli`) → `context`
//! (what a question is shown) → `catalog` (what is known about the data) → `engine` →
//! `config`; `render` serves the front end only; `demo` builds the embedded default lake.
//! Later layers (llm, agent, governance, eval, repl) slot in between the front end and
//! `context`.

pub mod app;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod context;
pub mod demo;
pub mod engine;
pub mod render;
