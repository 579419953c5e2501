//! `trace --format dot`: the flow of a trace as a Graphviz graph, for
//! `dot -Tsvg`. Nodes are the seeds, the intermediaries on the evidence
//! paths and the destinations; an edge joins two addresses that a path step
//! joins, its width growing with the taint it carried and its label naming
//! the amount and the transactions. Built as a small petgraph graph of the
//! case (never the chain), so nodes and edges are deduplicated and ordered.

use super::Report;
use crate::model::Chain;
use crate::model::amount::WideSum;
use crate::model::tokens::Book;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::BTreeMap;

/// An address of the flow.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    /// The address.
    pub(crate) address: String,
    /// `seed`, `intermediary` or `destination`.
    pub(crate) kind: &'static str,
    /// The destination's entity or label and category.
    pub(crate) caption: String,
}

/// Taint that went from one address to another along evidence paths.
#[derive(Clone, Debug, Default)]
pub(crate) struct Flow {
    /// Taint summed over the steps.
    pub(crate) taint: WideSum,
    /// Their transactions, in the order met.
    pub(crate) txs: Vec<String>,
    /// Under `--follow`: the asset that arrived (edges of different assets
    /// between two addresses stay apart).
    pub(crate) asset: Option<String>,
    /// A step through a swap: what went in (`taint_in asset_in via venue`).
    pub(crate) swap: Option<String>,
}

/// The flow of a report: its seeds, the addresses on its evidence paths and
/// its destinations, joined by the path steps (each pair once).
pub(crate) fn flow_graph(r: &Report, chain: Chain, book: &Book) -> DiGraph<Node, Flow> {
    let mut g: DiGraph<Node, Flow> = DiGraph::new();
    let mut nodes: BTreeMap<String, NodeIndex> = BTreeMap::new();
    let mut node = |g: &mut DiGraph<Node, Flow>, address: &str, kind: &'static str, caption: String| -> NodeIndex {
        *nodes.entry(address.to_string()).or_insert_with(|| g.add_node(Node { address: address.to_string(), kind, caption }))
    };
    // Seed addresses; an outpoint or transaction seed is drawn where its
    // paths start (§5: every path begins at a source).
    for s in r.seeds.iter().filter(|s| !s.contains(':')) {
        node(&mut g, s, "seed", "seed".into());
    }
    for p in r.destinations.iter().flat_map(|d| &d.paths) {
        if let Some(first) = p.first() {
            node(&mut g, &first.event.from, "seed", "source".into());
        }
    }
    // Where only the largest destinations carry paths (`paths_for`), the
    // graph draws those: the others would be thousands of lone boxes.
    for d in r.destinations.iter().filter(|d| r.paths_for.is_none() || !d.paths.is_empty()) {
        let caption = match (&d.entity, &d.label) {
            (Some(e), _) => format!("{} ({})", e, d.category),
            (None, Some(l)) => format!("{} ({})", l, d.category),
            _ => d.category.clone(),
        };
        node(&mut g, &d.address, "destination", caption);
    }
    type EdgeKey = (NodeIndex, NodeIndex, Option<String>, bool);
    let mut edges: BTreeMap<EdgeKey, petgraph::graph::EdgeIndex> = BTreeMap::new();
    for d in &r.destinations {
        for p in &d.paths {
            for st in p {
                let a = node(&mut g, &st.event.from, "intermediary", String::new());
                let b = node(&mut g, &st.event.to, "intermediary", String::new());
                let key = (a, b, st.asset.clone(), st.conversion.is_some());
                let e = *edges.entry(key).or_insert_with(|| g.add_edge(a, b, Flow { asset: st.asset.clone(), ..Flow::default() }));
                let f = &mut g[e];
                if let Some(c) = &st.conversion {
                    let taint_in = super::whole(&c.taint_in, super::asset_decimals(chain, book, &c.asset_in));
                    f.swap = Some(format!("swap via {}: {taint_in} {} ->", short(&c.venue), token_label(chain, book, &c.asset_in)));
                }
                f.taint += st.taint.parse::<WideSum>().unwrap_or(WideSum::ZERO);
                if let Some(tx) = &st.event.tx
                    && !f.txs.contains(tx)
                {
                    f.txs.push(tx.clone());
                }
            }
        }
    }
    g
}

/// An edge's width, 1 to 8, growing with the square root of its share of
/// the largest flow. Display only: a float never touches an amount.
pub(crate) fn width(taint: WideSum, max: WideSum) -> f64 {
    if max.is_zero() {
        return 1.0;
    }
    let ratio = taint.to_string().parse::<f64>().unwrap_or(0.0) / max.to_string().parse::<f64>().unwrap_or(1.0);
    1.0 + 7.0 * ratio.sqrt()
}

/// A long address shortened for a label.
pub(crate) fn short(a: &str) -> String {
    // By chars: a Bitcoin output address is stored as lossy UTF-8.
    let n = a.chars().count();
    if n > 14 {
        format!("{}…{}", a.chars().take(8).collect::<String>(), a.chars().skip(n - 4).collect::<String>())
    } else {
        a.to_string()
    }
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A `--follow` row's asset on the graph: the token's symbol where told or
/// known, else shortened.
fn token_label(chain: Chain, book: &Book, a: &str) -> String {
    book.symbol(chain, a).map_or_else(|| short(a), str::to_string)
}

/// The report as a DOT digraph.
pub fn to_dot(r: &Report, chain: Chain, book: &Book) -> String {
    let decimals = super::decimals(chain, &r.asset);
    let g = flow_graph(r, chain, book);
    let max = g.edge_weights().map(|f| f.taint).max().unwrap_or(WideSum::ZERO);
    let edge_attr = |_: &DiGraph<Node, Flow>, e: petgraph::graph::EdgeReference<'_, Flow>| -> String {
        let f = e.weight();
        let mut txs: Vec<String> = f.txs.iter().take(3).map(|t| short(t)).collect();
        if f.txs.len() > 3 {
            txs.push(format!("+{}", f.txs.len() - 3));
        }
        let amount = match &f.asset {
            Some(a) => {
                format!("{} {}", super::whole(&f.taint.to_string(), super::asset_decimals(chain, book, a)), token_label(chain, book, a))
            }
            None => format!("{} {}", super::whole(&f.taint.to_string(), decimals), r.asset),
        };
        let amount = match &f.swap {
            Some(sw) => format!("{sw} {amount}"),
            None => amount,
        };
        format!(
            "label=\"{}\\n{}\" tooltip=\"{}\" penwidth={:.2}",
            quote(&amount),
            quote(&txs.join(" ")),
            quote(&f.txs.join(" ")),
            width(f.taint, max)
        )
    };
    let node_attr = |_: &DiGraph<Node, Flow>, (_, n): (NodeIndex, &Node)| -> String {
        let (shape, color) = match n.kind {
            "seed" => ("doubleoctagon", "#d62728"),
            "destination" => ("box", "#1f77b4"),
            _ => ("ellipse", "#7f7f7f"),
        };
        let label =
            if n.caption.is_empty() { quote(&short(&n.address)) } else { format!("{}\\n{}", quote(&short(&n.address)), quote(&n.caption)) };
        format!("label=\"{label}\" tooltip=\"{}\" shape={shape} color=\"{color}\"", quote(&n.address))
    };
    let dot = petgraph::dot::Dot::with_attr_getters(
        &g,
        &[petgraph::dot::Config::EdgeNoLabel, petgraph::dot::Config::NodeNoLabel],
        &edge_attr,
        &node_attr,
    );
    let body = format!("{dot:?}");
    // Lay the flow out left to right, seeds first.
    body.replacen(
        "digraph {",
        &format!(
            "digraph trace {{\n    rankdir=LR;\n    label=\"{} trace of {}\";",
            quote(&format!("{:?}", r.policy).to_lowercase()),
            quote(&r.asset)
        ),
        1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_cuts_by_chars() {
        assert_eq!(short("0x098b716b8aaf21512996dc57eb0615e2383e2f96"), "0x098b71…2f96");
        assert_eq!(short("bc1qshort"), "bc1qshort");
        // 15 chars, multi-byte ones where a byte cut would split them.
        assert_eq!(
            short("1A\u{fffd}\u{fffd}bc\u{e9}\u{e9}\u{e9}xyz\u{fffd}\u{e9}\u{fffd}"),
            "1A\u{fffd}\u{fffd}bc\u{e9}\u{e9}…z\u{fffd}\u{e9}\u{fffd}"
        );
        assert_eq!(short("\u{e9}".repeat(14).as_str()), "\u{e9}".repeat(14));
    }

    #[test]
    fn dot_of_a_non_ascii_address() {
        let odd = "1BoatSLRHtKNngkdXEeobR76b53LETtpy\u{fffd}\u{fffd}";
        let r = crate::report::tests::sample(
            "1Seedaddress0000000000000000",
            "3Intermediary\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
            odd,
            "odd",
            "Someone",
        );
        let dot = to_dot(&r, crate::model::Chain::Bitcoin, &Book::default());
        assert!(dot.starts_with("digraph trace {"), "{dot}");
        assert!(dot.contains("1BoatSLR…py\u{fffd}\u{fffd}"), "{dot}");
        assert!(dot.contains("3Interme…\u{e9}\u{e9}\u{e9}\u{e9}"), "{dot}");
        assert!(dot.contains(&format!("tooltip=\"{odd}\"")), "{dot}");
    }
}
