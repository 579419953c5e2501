//! What `chaintrace cluster` prints: one cluster with its members and
//! labels, the merges that explain why two addresses are one owner, the
//! transactions the guard held back and those left out as CoinJoins.

use super::{Clustering, Summary};
use crate::labels::Label;
use crate::store::Store;
use serde::Serialize;

/// One cluster, for `cluster show ADDRESS`.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterView {
    /// The address asked about.
    pub address: String,
    /// The cluster's representative (its member with the smallest id).
    pub cluster: String,
    /// Addresses in the cluster.
    pub size: u32,
    /// Members, ascending by text (at most the limit asked for).
    pub members: Vec<String>,
    /// The labels of all members, in precedence order: each applies to the
    /// whole cluster; `address` says which member carries it.
    pub labels: Vec<Label>,
}

/// One step of an explanation: transaction `tx` spent inputs of `from` and
/// `to` together.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MergeStep {
    /// The spending transaction.
    pub tx: String,
    /// An input address.
    pub from: String,
    /// Another input address of the same transaction.
    pub to: String,
}

/// A transaction the guard held back, for `cluster flagged`.
#[derive(Clone, Debug, Serialize)]
pub struct FlaggedRow {
    /// The transaction.
    pub tx: String,
    /// The clusters it would have joined: an input address of each, and its size.
    pub clusters: Vec<(String, u32)>,
}

/// A transaction left out as a CoinJoin.
#[derive(Clone, Debug, Serialize)]
pub struct CoinJoinRow {
    /// The transaction.
    pub tx: String,
    /// Distinct input addresses.
    pub inputs: u32,
    /// Outputs.
    pub outputs: u32,
    /// The rule that recognised it.
    pub shape: super::coinjoin::Shape,
}

/// `cluster show`: `id`'s cluster, up to `limit` members.
pub fn show(store: &Store, c: &Clustering, id: u32, limit: usize) -> ClusterView {
    let members = c.members(id);
    let texts: std::collections::HashSet<String> = members.iter().map(|&m| store.address_text(m)).collect();
    let mut labels: Vec<Label> = crate::labels::load(store).into_iter().filter(|l| texts.contains(&l.address)).collect();
    labels.sort_by(crate::labels::precedence);
    let mut shown: Vec<String> = texts.into_iter().collect();
    shown.sort();
    shown.truncate(limit);
    ClusterView { address: store.address_text(id), cluster: store.address_text(c.rep(id)), size: c.size_of(id), members: shown, labels }
}

/// `cluster explain`: the merges joining `a` to `b`, or `None` when they are
/// in different clusters.
pub fn explain(store: &Store, c: &Clustering, a: u32, b: u32) -> Option<Vec<MergeStep>> {
    Some(
        c.explain(a, b)?
            .into_iter()
            .map(|m| MergeStep { tx: store.tx_text(m.tx), from: store.address_text(m.a), to: store.address_text(m.b) })
            .collect(),
    )
}

/// `cluster flagged`.
pub fn flagged(store: &Store, c: &Clustering) -> Vec<FlaggedRow> {
    c.flagged
        .iter()
        .map(|f| FlaggedRow { tx: store.tx_text(f.tx), clusters: f.clusters.iter().map(|&(a, n)| (store.address_text(a), n)).collect() })
        .collect()
}

/// `cluster coinjoins`.
pub fn coinjoins(store: &Store, c: &Clustering) -> Vec<CoinJoinRow> {
    c.coinjoins.iter().map(|j| CoinJoinRow { tx: store.tx_text(j.tx), inputs: j.inputs, outputs: j.outputs, shape: j.shape }).collect()
}

/// A view's table for people (`--format table`).
pub trait Table {
    /// Tab-separated lines with a header.
    fn table(&self) -> String;
}

impl Table for Summary {
    fn table(&self) -> String {
        let k = &self.counts;
        let mut t = format!(
            "inputs\t{}\ninputs with a known address\t{}\nspending transactions\t{}\nwith two or more input addresses\t{}\n\
             left out as CoinJoins\t{}\nheld back by the guard (>= {} addresses on two sides)\t{}\nmerges\t{}\n\
             addresses\t{}\nclusters\t{}\nsingletons\t{}\n",
            k.inputs,
            k.inputs_with_address,
            k.transactions,
            k.multi_address_transactions,
            k.coinjoins,
            self.params.guard,
            k.flagged,
            k.merges,
            self.addresses,
            self.clusters,
            self.singletons
        );
        if !self.largest.is_empty() {
            t += "\nlargest clusters\tsize\tentity\tcategory\n";
            for r in &self.largest {
                t += &format!(
                    "{}\t{}\t{}\t{}\n",
                    r.cluster,
                    r.size,
                    r.entity.as_deref().unwrap_or("-"),
                    r.category.as_deref().unwrap_or("-")
                );
            }
        }
        t
    }
}

impl Table for ClusterView {
    fn table(&self) -> String {
        let mut t = format!("address\t{}\ncluster\t{}\nsize\t{}\n", self.address, self.cluster, self.size);
        t += "\nlabels (each applies to the whole cluster)\naddress\tcategory\tentity\tlabel\tsource\tconfidence\tvalid\tevidence\n";
        for l in &self.labels {
            t += &crate::labels::table_line(l);
            t.push('\n');
        }
        t += &format!("\nmembers ({} of {})\n", self.members.len(), self.size);
        for m in &self.members {
            t += &format!("{m}\n");
        }
        t
    }
}

impl Table for Vec<MergeStep> {
    fn table(&self) -> String {
        let mut t = String::from("tx\tinput address\tinput address\n");
        for s in self {
            t += &format!("{}\t{}\t{}\n", s.tx, s.from, s.to);
        }
        t
    }
}

impl Table for Vec<FlaggedRow> {
    fn table(&self) -> String {
        let mut t = String::from("tx\tclusters it would join (an input address: size)\n");
        for r in self {
            let parts: Vec<String> = r.clusters.iter().map(|(a, n)| format!("{a}: {n}")).collect();
            t += &format!("{}\t{}\n", r.tx, parts.join(", "));
        }
        t
    }
}

impl Table for Vec<CoinJoinRow> {
    fn table(&self) -> String {
        let mut t = String::from("tx\tinput addresses\toutputs\tshape\n");
        for r in self {
            let shape = match r.shape {
                super::coinjoin::Shape::EqualOutputs => "equal-outputs",
                super::coinjoin::Shape::Denominations => "denominations",
            };
            t += &format!("{}\t{}\t{}\t{shape}\n", r.tx, r.inputs, r.outputs);
        }
        t
    }
}
