//! Conversions (TRACING.md §7): the logs that mark a swap venue or a
//! wrapping of ETH ([`topics`]), which transactions are followable swaps
//! ([`detect`]), and the memos that tie a bridge's deposit to its payout
//! ([`memo`], issue 16).
//!
//! Both work on ids and exact amounts alone, so the ingest can recognise
//! logs as it reads them and a trace can classify a transaction from the
//! events the store holds, with no store or network in between.

pub mod detect;
pub mod memo;
pub mod topics;
