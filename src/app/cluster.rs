//! `chaintrace cluster`: Bitcoin address clusters, one question each.

use super::{AppError, TextFormat, bitcoin_clusters, pretty_json};
use crate::cluster::{self, Params, view};
use crate::store::Store;

/// One cluster question (the subcommands of `chaintrace cluster`).
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Question {
    /// Counts, and the largest clusters with their labels.
    Stats {
        /// How many of the largest clusters to list.
        #[arg(long, default_value_t = 20)]
        top: usize,
    },
    /// The cluster of an address: its members and every member's labels.
    Show {
        /// The address.
        address: String,
        /// Most members to list.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Why two addresses are one cluster: the transactions whose inputs joined them.
    Explain {
        /// One address.
        a: String,
        /// Another address.
        b: String,
    },
    /// Transactions the super-cluster guard held back.
    Flagged,
    /// Transactions left out as CoinJoins.
    Coinjoins,
}

fn emit<T: serde::Serialize + view::Table>(v: &T, format: TextFormat) -> Result<String, AppError> {
    match format {
        TextFormat::Json => pretty_json(v),
        TextFormat::Table => Ok(v.table()),
    }
}

/// Answer a cluster question about a store.
pub fn answer(s: &Store, params: Params, q: &Question, format: TextFormat) -> Result<String, AppError> {
    let find = |text: &str| -> Result<u32, AppError> {
        s.find_address(text.trim()).ok_or_else(|| AppError::Usage(format!("{text}: not an address of this store")))
    };
    let c = bitcoin_clusters(s, params)?;
    match q {
        Question::Stats { top } => emit(&cluster::summary(s, &c, *top), format),
        Question::Show { address, limit } => emit(&view::show(s, &c, find(address)?, *limit), format),
        Question::Explain { a, b } => match view::explain(s, &c, find(a)?, find(b)?) {
            Some(steps) => emit(&steps, format),
            None => Err(AppError::Usage(format!("{a} and {b} are in different clusters"))),
        },
        Question::Flagged => emit(&view::flagged(s, &c), format),
        Question::Coinjoins => emit(&view::coinjoins(s, &c), format),
    }
}
