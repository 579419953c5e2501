//! Conversions (TRACING.md §7): the logs that mark a swap venue or a
//! wrapping of ETH ([`topics`]), and which transactions are followable
//! swaps ([`detect`]).
//!
//! Both work on ids and exact amounts alone, so the ingest can recognise
//! logs as it reads them and a trace can classify a transaction from the
//! events the store holds, with no store or network in between.

pub mod detect;
pub mod topics;
