//! Skipper: a governed command-line data agent.
//!
//! Layers, with dependencies pointing one way: the front end (`app`, `cli`) → `agent` (question
//! to checked answer) → {`context` (what a question is shown), `llm` (the model), `governance`
//! (access decisions)} → `catalog` (what is known about the data) → `engine` → `config`;
//! `render` serves the front end only; `demo` builds the embedded default lake.

pub mod agent;
pub mod app;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod context;
pub mod demo;
pub mod engine;
pub mod eval;
pub mod governance;
pub mod llm;
pub mod render;
