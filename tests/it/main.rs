//! The one integration-test binary: real PostgreSQL, SQLite and Parquet files, an
//! S3-compatible server, and the `skipper` binary itself.

mod agent;
mod catalog;
mod cli;
mod corpus;
mod eval;
mod harness;
mod memory;
mod postgres;
mod repl;
mod s3;
mod slt;
mod tuning;
