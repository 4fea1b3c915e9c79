//! Shared code of Plaza's benchmarks: the HTTP load generator, server processes, PostgreSQL
//! databases, the client-API driver and latency statistics.
//!
//! The binaries are `probe` (the physical-limit server), `load` (the load generator on its own),
//! `suite` (everything `bench/run` reports), `botapi` (`bench/botapi`) and `ledger` (Stars transfers
//! and payments, `bench/ledger`).

pub mod botapi;
pub mod http;
pub mod pg;
pub mod plaza;
pub mod process;
pub mod rounds;
pub mod stats;
