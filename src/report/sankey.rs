//! The taint flow drawn as a Sankey diagram (issue 18): one inline SVG,
//! drawn here rather than by a script so that it is the same on every
//! screen and costs the page nothing to lay out. Seeds on the left, then a
//! column a hop; each address a bar as tall as the taint through it, each
//! edge a band as wide as the taint it carried. Layout is display only:
//! the amounts shown come from the report's exact figures.

use super::{FlowView, Report, readable};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

/// Pixels: a column's step, the height the fullest column's taint fills,
/// a bar's width, the gap between bars, the thinnest band.
const STEP: f64 = 240.0;
const HEIGHT: f64 = 480.0;
const BAR: f64 = 12.0;
const GAP: f64 = 4.0;
const THIN: f64 = 0.75;

/// A node of the drawing.
struct Node {
    address: String,
    column: usize,
    /// Taint in and out over the edges drawn, in whole-unit floats (layout only).
    inflow: f64,
    outflow: f64,
    y: f64,
    h: f64,
}

/// The flow as SVG, with the escaping of `esc` and a caption for each
/// address (`caption`: a label, or a category). `None` when there is no
/// flow to draw.
pub fn svg(r: &Report, dec: Option<u32>, esc: impl Fn(&str) -> String, caption: impl Fn(&str) -> String) -> Option<String> {
    let flow: &FlowView = r.flow.as_ref()?;
    if flow.edges.is_empty() {
        return None;
    }
    let unit = |s: &str| s.parse::<f64>().unwrap_or(0.0);
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut nodes: Vec<Node> = Vec::new();
    let mut node = |a: &str, nodes: &mut Vec<Node>| -> usize {
        *index.entry(a.to_string()).or_insert_with(|| {
            nodes.push(Node { address: a.to_string(), column: usize::MAX, inflow: 0.0, outflow: 0.0, y: 0.0, h: 0.0 });
            nodes.len() - 1
        })
    };
    let seeds: std::collections::HashSet<&str> = r.seeds.iter().map(String::as_str).collect();
    let mut edges = Vec::new();
    for e in &flow.edges {
        let (a, b) = (node(&e.from, &mut nodes), node(&e.to, &mut nodes));
        let w = unit(&e.taint);
        nodes[a].outflow += w;
        nodes[b].inflow += w;
        // A receiver's column is the smallest hop it was reached at; a
        // seed's is 0.
        if !seeds.contains(e.to.as_str()) {
            nodes[b].column = nodes[b].column.min(e.hop as usize);
        }
        edges.push((a, b, w, e));
    }
    for n in nodes.iter_mut() {
        if seeds.contains(n.address.as_str()) {
            n.column = 0;
        }
    }
    // Senders no edge drawn reaches: a column before their first send.
    let unreached: Vec<bool> = nodes.iter().map(|n| n.column == usize::MAX).collect();
    for &(a, _, _, e) in &edges {
        if unreached[a] {
            nodes[a].column = nodes[a].column.min((e.hop as usize).saturating_sub(1));
        }
    }
    let columns = nodes.iter().map(|n| n.column).max().unwrap_or(0) + 1;
    let mut by_column: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        by_column.entry(n.column).or_default().push(i);
    }
    // One scale for every column: the fullest column's taint fills the
    // height. A band is never thinner than THIN, and a bar is as tall as
    // the bands on its busier side.
    let value = |n: &Node| n.inflow.max(n.outflow);
    let fullest = by_column.values().map(|m| m.iter().map(|&i| value(&nodes[i])).sum::<f64>()).fold(0.0, f64::max);
    let scale = HEIGHT / fullest.max(f64::MIN_POSITIVE);
    let thick = |w: f64| (w * scale).max(THIN);
    let (mut px_in, mut px_out) = (vec![0.0; nodes.len()], vec![0.0; nodes.len()]);
    for &(a, b, w, _) in &edges {
        px_out[a] += thick(w);
        px_in[b] += thick(w);
    }
    for members in by_column.values_mut() {
        members.sort_by(|&a, &b| value(&nodes[b]).total_cmp(&value(&nodes[a])).then_with(|| nodes[a].address.cmp(&nodes[b].address)));
        let mut y = 0.0;
        for &i in members.iter() {
            let h = px_in[i].max(px_out[i]).max(2.0);
            nodes[i].y = y;
            nodes[i].h = h;
            y += h + GAP;
        }
    }
    let height = by_column.values().map(|m| m.iter().map(|&i| nodes[i].y + nodes[i].h).fold(0.0, f64::max)).fold(0.0, f64::max);
    let width = (columns as f64 - 1.0) * STEP + BAR + 180.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg class=\"sankey\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"-10 -10 {:.0} {:.0}\" width=\"{:.0}\" height=\"{:.0}\" role=\"img\" aria-label=\"taint flow\">",
        width + 20.0,
        height + 20.0,
        width + 20.0,
        height + 20.0
    );
    // Bands, widest first drawn last so they stay visible on top.
    let (mut out_at, mut in_at): (Vec<f64>, Vec<f64>) = (nodes.iter().map(|n| n.y).collect(), nodes.iter().map(|n| n.y).collect());
    let mut order: Vec<usize> = (0..edges.len()).collect();
    order.sort_by(|&a, &b| edges[b].2.total_cmp(&edges[a].2).then(a.cmp(&b)));
    let mut bands = Vec::new();
    for &k in &order {
        let (a, b, w, e) = edges[k];
        let t = thick(w);
        let (x0, y0) = (nodes[a].column as f64 * STEP + BAR, out_at[a] + t / 2.0);
        let (x1, y1) = (nodes[b].column as f64 * STEP, in_at[b] + t / 2.0);
        out_at[a] += t;
        in_at[b] += t;
        // Backwards or within a column: a loop below, not a line through bars.
        let (c0, c1) = if x1 > x0 { ((x0 + x1) / 2.0, (x0 + x1) / 2.0) } else { (x0 + STEP / 2.0, x1 - STEP / 2.0) };
        bands.push(format!(
            "<path class=\"band\" d=\"M{x0:.1},{y0:.1} C{c0:.1},{y0:.1} {c1:.1},{y1:.1} {x1:.1},{y1:.1}\" stroke-width=\"{t:.1}\"><title>{} → {}: {} ({} base units), hop {}, {} event{}{}</title></path>\n",
            esc(&e.from),
            esc(&e.to),
            esc(&readable(&e.taint, dec, &r.asset)),
            esc(&e.taint),
            e.hop,
            e.events,
            if e.events == 1 { "" } else { "s" },
            e.txs.iter().map(|t| format!("\n{}", esc(t))).collect::<String>()
        ));
    }
    for b in bands.iter().rev() {
        s += b;
    }
    for n in &nodes {
        let x = n.column as f64 * STEP;
        let kind = if n.column == 0 && seeds.contains(n.address.as_str()) { "seed" } else { "node" };
        // A bar too thin for a line of text is named on hover only.
        let name = caption(&n.address);
        let text = if n.h + GAP >= 11.0 || kind == "seed" {
            format!("<text x=\"{:.1}\" y=\"{:.1}\">{}</text>", x + BAR + 4.0, n.y + n.h / 2.0 + 4.0, esc(&name))
        } else {
            String::new()
        };
        let _ = write!(
            s,
            "<g class=\"{kind}\"><rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{BAR}\" height=\"{:.1}\"><title>{}\n{}</title></rect>{text}</g>\n",
            n.y,
            n.h,
            esc(&n.address),
            esc(&name)
        );
    }
    s += "</svg>\n";
    Some(s)
}
