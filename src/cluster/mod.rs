//! Bitcoin address clustering by common-input ownership.
//!
//! Whoever spends a transaction's inputs holds the keys of every one of
//! them, so their addresses have one owner (Nakamoto 2008 §10; Meiklejohn
//! et al. 2013). A union-find over dense address ids joins them, visiting
//! spending transactions in key order so that every result is
//! reproducible. Three things keep the heuristic honest (docs/clustering.md):
//!
//! - CoinJoin transactions have several owners by design and join nothing
//!   ([`coinjoin`]).
//! - A transaction that would join two clusters which are both already large
//!   is held back and flagged, not silently accepted: one mislabelled
//!   CoinJoin can otherwise fuse two exchanges into a super-cluster.
//! - Every union records the transaction that made it ([`Merge`]); the
//!   merges form a spanning forest of each cluster, so the chain of
//!   transactions that put two addresses together can always be shown.
//!
//! Clustering is recomputed from the store when asked for (it takes well
//! under a second per 10^7 inputs, see benches/RESULTS.md), so it can never
//! be stale against the data or the parameters.

pub mod coinjoin;
pub mod view;

use crate::model::{NO_TX, Pseudo, sub};
use crate::store::{Column, Store};
use serde::Serialize;

/// How to cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// A transaction whose inputs would join two clusters that each hold at
    /// least this many addresses is held back and flagged (0: no guard).
    pub guard: u32,
    /// Leave out transactions that look like CoinJoins.
    pub exclude_coinjoins: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params { guard: DEFAULT_GUARD, exclude_coinjoins: true }
    }
}

/// The default super-cluster guard, in addresses.
pub const DEFAULT_GUARD: u32 = 1_000;

/// One union: transaction `tx` spent inputs of addresses `a` and `b`, which
/// were in different clusters until then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Merge {
    /// Spending transaction id.
    pub tx: u32,
    /// An input address from the larger side.
    pub a: u32,
    /// An input address from the side that joined it.
    pub b: u32,
}

/// A transaction the guard held back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flagged {
    /// Spending transaction id.
    pub tx: u32,
    /// The clusters it would have joined: an input address in each and that
    /// cluster's size at the time, largest first.
    pub clusters: Vec<(u32, u32)>,
}

/// A transaction left out as a CoinJoin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoinJoin {
    /// Transaction id.
    pub tx: u32,
    /// Distinct input addresses.
    pub inputs: u32,
    /// Outputs.
    pub outputs: u32,
    /// The rule that recognised it.
    pub shape: coinjoin::Shape,
}

/// What a clustering run saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Inputs in the store.
    pub inputs: u64,
    /// Of those, inputs whose address is known.
    pub inputs_with_address: u64,
    /// Spending transactions (with at least one input).
    pub transactions: u64,
    /// Transactions with two or more distinct input addresses.
    pub multi_address_transactions: u64,
    /// Of those, left out as CoinJoins.
    pub coinjoins: u64,
    /// Of those, held back by the guard.
    pub flagged: u64,
    /// Unions made.
    pub merges: u64,
}

/// The clusters of a Bitcoin store.
#[derive(Debug)]
pub struct Clustering {
    /// Per address id: `[cluster, size]`. The cluster is its member with
    /// the smallest id; the size is kept at that member (others 0). One
    /// 8-byte slot, so a find that reaches a root has its size in the same
    /// cache line.
    nodes: Vec<[u32; 2]>,
    /// Unions made, in the order made.
    pub merges: Vec<Merge>,
    /// Transactions held back by the guard, in key order.
    pub flagged: Vec<Flagged>,
    /// Transactions left out as CoinJoins, in key order.
    pub coinjoins: Vec<CoinJoin>,
    /// Counts.
    pub counts: Counts,
    /// The parameters used.
    pub params: Params,
}

fn find(nodes: &mut [[u32; 2]], mut x: u32) -> u32 {
    // Path halving: every other node on the walk points to its grandparent.
    while nodes[x as usize][0] != x {
        let gp = nodes[nodes[x as usize][0] as usize][0];
        nodes[x as usize][0] = gp;
        x = gp;
    }
    x
}

/// Ids below this are pseudo addresses (fees, mint, unknown, ...): never clustered.
const FIRST_REAL: u32 = Pseudo::ALL.len() as u32;

impl Clustering {
    /// Every address on its own.
    pub fn singletons(addresses: usize, params: Params) -> Self {
        Clustering {
            nodes: (0..addresses as u32).map(|a| [a, 1]).collect(),
            merges: Vec::new(),
            flagged: Vec::new(),
            coinjoins: Vec::new(),
            counts: Counts::default(),
            params,
        }
    }

    /// Cluster a store's addresses by the inputs its transactions spend.
    /// An Ethereum store (no inputs) gives singletons.
    pub fn build(store: &Store, params: Params) -> Self {
        let n_addr = store.address_count();
        let in_tx: &[u32] = crate::store::cast(store.bytes(Column::InTx));
        let in_addr: &[u32] = crate::store::cast(store.bytes(Column::InAddr));
        let ev = store.events();
        let n_tx = store.manifest.tx_table as usize;
        // Where each transaction's events start, to visit spends in key order
        // and find a transaction's outputs.
        let mut first_event = vec![u64::MAX; n_tx];
        for (i, t) in ev.txs(0, ev.len()).into_iter().enumerate() {
            if t != NO_TX && first_event[t as usize] == u64::MAX {
                first_event[t as usize] = i as u64;
            }
        }
        // Input runs (inputs are sorted by spending transaction) of two or
        // more inputs: the only ones that can join anything.
        let mut runs: Vec<(u64, u32, u64, u64)> = Vec::new();
        let mut counts = Counts { inputs: in_tx.len() as u64, ..Counts::default() };
        let mut lo = 0;
        while lo < in_tx.len() {
            let t = in_tx[lo];
            let mut hi = lo + 1;
            while hi < in_tx.len() && in_tx[hi] == t {
                hi += 1;
            }
            counts.transactions += 1;
            if hi - lo >= 2 {
                runs.push((first_event[t as usize], t, lo as u64, hi as u64));
            }
            lo = hi;
        }
        counts.inputs_with_address = in_addr.iter().filter(|&&a| a != u32::MAX && a >= FIRST_REAL).count() as u64;
        runs.sort_unstable();
        let mut c = Clustering::singletons(n_addr, params);
        let nodes = &mut c.nodes;
        let mut addrs: Vec<u32> = Vec::new();
        let mut roots: Vec<(u32, u32)> = Vec::new();
        let mut values: Vec<u128> = Vec::new();
        // Finds are cache misses on arrays of 4 bytes an address; start
        // loading the entries of a spend a few spends ahead.
        const AHEAD: usize = 8;
        for (k, &(first, tx, lo, hi)) in runs.iter().enumerate() {
            if let Some(&(_, _, plo, phi)) = runs.get(k + AHEAD) {
                for &a in &in_addr[plo as usize..phi as usize] {
                    if let Some(p) = nodes.get(a as usize) {
                        crate::sys::prefetch(p);
                    }
                }
            }
            addrs.clear();
            addrs.extend(in_addr[lo as usize..hi as usize].iter().copied().filter(|&a| a != u32::MAX && a >= FIRST_REAL));
            addrs.sort_unstable();
            addrs.dedup();
            if addrs.len() < 2 {
                continue;
            }
            counts.multi_address_transactions += 1;
            if params.exclude_coinjoins {
                values.clear();
                if first != u64::MAX {
                    let mut j = first as usize;
                    while j < ev.len() && ev.tx(j) == tx {
                        if sub::class(ev.sub(j)) == sub::TOP {
                            values.push(ev.value.get(j));
                        }
                        j += 1;
                    }
                }
                let outputs = values.len() as u32;
                if let Some(shape) = coinjoin::is_coinjoin(addrs.len(), &mut values) {
                    c.coinjoins.push(CoinJoin { tx, inputs: addrs.len() as u32, outputs, shape });
                    continue;
                }
            }
            roots.clear();
            roots.extend(addrs.iter().map(|&a| (find(nodes, a), a)));
            // One entry per cluster, named by its smallest input address here.
            roots.sort_unstable();
            roots.dedup_by_key(|r| r.0);
            if roots.len() < 2 {
                continue;
            }
            let size = |r: u32| nodes[r as usize][1];
            if params.guard > 0 && roots.iter().filter(|x| size(x.0) >= params.guard).count() >= 2 {
                let mut clusters: Vec<(u32, u32)> = roots.iter().map(|&(r, a)| (a, size(r))).collect();
                clusters.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
                c.flagged.push(Flagged { tx, clusters });
                continue;
            }
            // Union by size into the largest cluster (ties: the smallest root).
            let &(big, big_a) = roots.iter().max_by(|x, y| size(x.0).cmp(&size(y.0)).then(y.0.cmp(&x.0))).expect("two roots");
            for &(r, a) in roots.iter() {
                if r != big {
                    let joined = std::mem::replace(&mut nodes[r as usize], [big, 0]);
                    nodes[big as usize][1] += joined[1];
                    c.merges.push(Merge { tx, a: big_a, b: a });
                }
            }
        }
        // Name each cluster by its smallest member: ids are assigned in the
        // order addresses were first loaded, so the name is stable for a
        // store. In ascending order the first member met of a cluster is its
        // smallest: it becomes the root (taking the size), and every later
        // member is pointed at it. Singletons, most addresses, are left as
        // they are.
        for a in 0..n_addr as u32 {
            if nodes[a as usize] == [a, 1] {
                continue;
            }
            let r = find(nodes, a);
            if r >= a {
                // Not renamed yet, so no smaller member exists.
                if r != a {
                    let size = std::mem::replace(&mut nodes[r as usize], [a, 0])[1];
                    nodes[a as usize] = [a, size];
                }
            } else {
                nodes[a as usize][0] = r;
            }
        }
        counts.coinjoins = c.coinjoins.len() as u64;
        counts.flagged = c.flagged.len() as u64;
        counts.merges = c.merges.len() as u64;
        c.counts = counts;
        c
    }

    /// The cluster of address `a`: its member with the smallest id.
    #[inline]
    pub fn rep(&self, a: u32) -> u32 {
        self.nodes.get(a as usize).map_or(a, |n| n[0])
    }

    /// The number of addresses in `a`'s cluster.
    pub fn size_of(&self, a: u32) -> u32 {
        self.nodes.get(self.rep(a) as usize).map_or(1, |n| n[1])
    }

    /// The members of `a`'s cluster, ascending.
    pub fn members(&self, a: u32) -> Vec<u32> {
        let r = self.rep(a);
        if self.size_of(a) == 1 {
            return vec![a];
        }
        (0..self.nodes.len() as u32).filter(|&x| self.nodes[x as usize][0] == r).collect()
    }

    /// Clusters of real addresses as `(representative, size)`, largest
    /// first, then by representative.
    pub fn clusters(&self) -> Vec<(u32, u32)> {
        let mut v: Vec<(u32, u32)> = (FIRST_REAL..self.nodes.len() as u32)
            .filter(|&a| self.nodes[a as usize][0] == a)
            .map(|a| (a, self.nodes[a as usize][1]))
            .collect();
        v.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        v
    }

    /// Why `a` and `b` are one cluster: the merges on the path between them
    /// in the cluster's merge forest, from `a` to `b`, each oriented so that
    /// consecutive steps share an address. `None` when they are in different
    /// clusters; empty when `a == b`.
    pub fn explain(&self, a: u32, b: u32) -> Option<Vec<Merge>> {
        use petgraph::graphmap::UnGraphMap;
        if self.rep(a) != self.rep(b) {
            return None;
        }
        if a == b {
            return Some(Vec::new());
        }
        // The cluster's merges form a tree over its members (each union joins
        // two clusters that were apart): a small case graph for petgraph.
        let r = self.rep(a);
        let mut g: UnGraphMap<u32, usize> = UnGraphMap::new();
        for (k, m) in self.merges.iter().enumerate() {
            if self.rep(m.a) == r {
                g.add_edge(m.a, m.b, k);
            }
        }
        let (_, nodes) = petgraph::algo::astar(&g, a, |n| n == b, |_| 1u32, |_| 0)?;
        Some(
            nodes
                .windows(2)
                .map(|w| {
                    let k = *g.edge_weight(w[0], w[1]).expect("path edge");
                    Merge { tx: self.merges[k].tx, a: w[0], b: w[1] }
                })
                .collect(),
        )
    }

    /// Heap bytes the clustering holds.
    pub fn heap_bytes(&self) -> u64 {
        (self.nodes.capacity() * 8
            + self.merges.capacity() * std::mem::size_of::<Merge>()
            + self.coinjoins.capacity() * std::mem::size_of::<CoinJoin>()
            + self.flagged.iter().map(|f| std::mem::size_of::<Flagged>() + f.clusters.capacity() * 8).sum::<usize>()) as u64
    }

    /// Distinct clusters of real addresses.
    pub fn cluster_count(&self) -> u64 {
        (FIRST_REAL..self.nodes.len() as u32).filter(|&a| self.nodes[a as usize][0] == a).count() as u64
    }
}

/// A cluster summary for `stats --cluster` and `cluster stats`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Parameters.
    pub params: Params,
    /// What the run saw.
    pub counts: Counts,
    /// Real addresses in the address table.
    pub addresses: u64,
    /// Clusters of real addresses.
    pub clusters: u64,
    /// Clusters of one address.
    pub singletons: u64,
    /// The largest clusters.
    pub largest: Vec<ClusterRow>,
}

/// One cluster in a listing.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ClusterRow {
    /// Its representative (smallest id) address.
    pub cluster: String,
    /// Addresses in it.
    pub size: u32,
    /// Labels carried by its members (spread to the whole cluster): the
    /// highest-precedence one's entity or name, when any.
    pub entity: Option<String>,
    /// That label's category.
    pub category: Option<String>,
}

/// Labels of a store grouped by cluster representative, each group in
/// precedence order: a label on one member applies to its whole cluster.
pub fn labels_by_cluster(
    store: &Store,
    c: &Clustering,
    labels: &[crate::labels::Label],
) -> std::collections::HashMap<u32, Vec<crate::labels::Label>> {
    let ids = store.find_addresses(labels.iter().map(|l| l.address.as_str()));
    let mut by: std::collections::HashMap<u32, Vec<crate::labels::Label>> = std::collections::HashMap::new();
    for l in labels {
        if let Some(&id) = ids.get(&l.address) {
            by.entry(c.rep(id)).or_default().push(l.clone());
        }
    }
    for v in by.values_mut() {
        v.sort_by(crate::labels::precedence);
    }
    by
}

/// Summarise a clustering: counts and the `top` largest clusters.
pub fn summary(store: &Store, c: &Clustering, top: usize) -> Summary {
    let all = c.clusters();
    let labels = labels_by_cluster(store, c, &crate::labels::load(store));
    let largest = all
        .iter()
        .take(top)
        .map(|&(r, size)| {
            let first = labels.get(&r).and_then(|v| v.first());
            ClusterRow {
                cluster: store.address_text(r),
                size,
                entity: first.map(|l| if l.entity.is_empty() { l.label.clone() } else { l.entity.clone() }),
                category: first.map(|l| l.category.clone()),
            }
        })
        .collect();
    Summary {
        params: c.params,
        counts: c.counts.clone(),
        addresses: (store.address_count() as u64).saturating_sub(u64::from(FIRST_REAL)),
        clusters: all.len() as u64,
        singletons: all.iter().filter(|x| x.1 == 1).count() as u64,
        largest,
    }
}
