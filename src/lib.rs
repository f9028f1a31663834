//! Skipper: a governed command-line data agent.
//!
//! Layers, with dependencies pointing one way: the front end (`app`, `cli`) → `engine` →
//! `config`; `render` serves the front end only; `demo` builds the embedded default lake.
//! Later layers (catalog, context, llm, agent, governance, eval, repl) slot in between the
//! front end and the engine.

pub mod app;
pub mod cli;
pub mod config;
pub mod demo;
pub mod engine;
pub mod render;
