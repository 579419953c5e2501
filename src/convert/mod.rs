//! Conversions (TRACING.md §7): the logs that mark a swap venue, a
//! wrapping of ETH or a THORChain router's deposit or payout ([`topics`]),
//! which transactions are followable swaps ([`detect`]), the memos that tie
//! a bridge's deposit to its payout ([`memo`], issue 16), and the memo
//! `string` a THORChain router log's data carries ([`abi`]).
//!
//! All work on ids and exact amounts alone, so the ingest can recognise
//! logs as it reads them and a trace can classify a transaction from the
//! events the store holds, with no store or network in between.

pub mod abi;
pub mod detect;
pub mod memo;
pub mod topics;
