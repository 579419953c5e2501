//! `trace --format dot`: the flow of a trace as a Graphviz graph, for
//! `dot -Tsvg`. Nodes are the seeds, the intermediaries on the evidence
//! paths and the destinations; an edge joins two addresses that a path step
//! joins, its width growing with the taint it carried and its label naming
//! the amount and the transactions. Built as a small petgraph graph of the
//! case (never the chain), so nodes and edges are deduplicated and ordered.

use super::Report;
use crate::amount::WideSum;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
struct Node {
    address: String,
    kind: &'static str,
    caption: String,
}

#[derive(Clone, Debug, Default)]
struct Flow {
    taint: WideSum,
    txs: Vec<String>,
}

fn short(a: &str) -> String {
    if a.len() > 14 { format!("{}…{}", &a[..8], &a[a.len() - 4..]) } else { a.to_string() }
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The report as a DOT digraph.
pub fn to_dot(r: &Report, decimals: Option<u32>) -> String {
    let mut g: DiGraph<Node, Flow> = DiGraph::new();
    let mut nodes: BTreeMap<String, NodeIndex> = BTreeMap::new();
    let mut node = |g: &mut DiGraph<Node, Flow>, address: &str, kind: &'static str, caption: String| -> NodeIndex {
        *nodes.entry(address.to_string()).or_insert_with(|| g.add_node(Node { address: address.to_string(), kind, caption }))
    };
    for s in &r.seeds {
        node(&mut g, s, "seed", "seed".into());
    }
    for d in &r.destinations {
        let caption = match (&d.entity, &d.label) {
            (Some(e), _) => format!("{} ({})", e, d.category),
            (None, Some(l)) => format!("{} ({})", l, d.category),
            _ => d.category.clone(),
        };
        node(&mut g, &d.address, "destination", caption);
    }
    // Path steps, each (from, to) pair once, in the order first met.
    let mut edges: BTreeMap<(NodeIndex, NodeIndex), petgraph::graph::EdgeIndex> = BTreeMap::new();
    for d in &r.destinations {
        for p in &d.paths {
            for st in p {
                let a = node(&mut g, &st.from, "intermediary", String::new());
                let b = node(&mut g, &st.to, "intermediary", String::new());
                let e = *edges.entry((a, b)).or_insert_with(|| g.add_edge(a, b, Flow::default()));
                let f = &mut g[e];
                f.taint += st.taint.parse::<WideSum>().unwrap_or(WideSum::ZERO);
                if let Some(tx) = &st.tx
                    && !f.txs.contains(tx)
                {
                    f.txs.push(tx.clone());
                }
            }
        }
    }
    let max = g.edge_weights().map(|f| f.taint).max().unwrap_or(WideSum::ZERO);
    let width = |t: WideSum| -> f64 {
        // Display only: the width is a float, the label keeps the exact amount.
        if max.is_zero() {
            1.0
        } else {
            let ratio = t.to_string().parse::<f64>().unwrap_or(0.0) / max.to_string().parse::<f64>().unwrap_or(1.0);
            1.0 + 7.0 * ratio.sqrt()
        }
    };
    let edge_attr = |_: &DiGraph<Node, Flow>, e: petgraph::graph::EdgeReference<'_, Flow>| -> String {
        let f = e.weight();
        let mut txs: Vec<String> = f.txs.iter().take(3).map(|t| short(t)).collect();
        if f.txs.len() > 3 {
            txs.push(format!("+{}", f.txs.len() - 3));
        }
        format!(
            "label=\"{}\\n{}\" tooltip=\"{}\" penwidth={:.2}",
            quote(&format!("{} {}", super::whole(&f.taint.to_string(), decimals), r.asset)),
            quote(&txs.join(" ")),
            quote(&f.txs.join(" ")),
            width(f.taint)
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
