//! `trace --format html`: one self-contained page (works offline, no CDN)
//! for people who would rather look than read: the summary and the
//! conservation totals, destinations by entity, an interactive flow graph
//! (Cytoscape.js 3.35.0 from the npm registry, MIT, inlined with its
//! licence; `assets/vendor/fetch.sh`) and the evidence paths, each
//! transaction linked to a public block explorer.
//!
//! Everything from the data (addresses, labels, entity names come from
//! label files nobody vetted) is escaped: HTML text through [`esc`], the
//! graph's data as JSON whose `<` are written `\u003c`, so no label can close
//! a tag or a script.

use super::dot::{flow_graph, short, width};
use super::{Report, whole};
use crate::model::Chain;
use std::fmt::Write;

const CYTOSCAPE: &str = include_str!("../../assets/vendor/cytoscape.min.js");
const CYTOSCAPE_LICENSE: &str = include_str!("../../assets/vendor/cytoscape.LICENSE");

/// HTML-escape text.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Where a transaction and an address can be checked by anyone.
fn explorer(chain: Chain) -> (&'static str, &'static str) {
    chain.explorer()
}

/// The chain a row or step of a report over several stores names (its
/// `chain`, or its asset's `CHAIN:` prefix), else the report's.
fn on(chain: Chain, named: Option<&str>) -> Chain {
    named.and_then(|n| Chain::from_name(n.split_once(':').map_or(n, |x| x.0))).unwrap_or(chain)
}

fn address_link(chain: Chain, a: &str) -> String {
    if a.starts_with('(') {
        return esc(a);
    }
    format!("<a class=\"addr\" href=\"{}{}\" title=\"{}\">{}</a>", explorer(chain).1, esc(a), esc(a), esc(&short(a)))
}

/// Rows a table of the page shows: the rest are in the JSON, CSV and
/// Parquet reports (a wide trace has tens of thousands).
const ROWS: usize = 1000;

/// What a table left out.
fn more(h: &mut String, rows: usize, what: &str) {
    if rows > ROWS {
        let _ =
            writeln!(h, "<p class=\"hint\">The {ROWS} largest of {rows} {what}; every one is in the JSON, CSV and Parquet reports.</p>");
    }
}

/// The taint flow: the Sankey diagram and its edges as a table, amounts
/// readable with the exact figure beside them.
fn flow_section(h: &mut String, r: &Report, chain: Chain, dec: Option<u32>) {
    let Some(flow) = &r.flow else { return };
    let names: std::collections::HashMap<&str, String> = r
        .destinations
        .iter()
        .map(|d| (d.address.as_str(), d.label.clone().or(d.entity.clone()).unwrap_or_else(|| d.category.clone())))
        .collect();
    let seeds: std::collections::HashSet<&str> = r.seeds.iter().map(String::as_str).collect();
    let caption = |a: &str| match names.get(a) {
        Some(n) => format!("{} {n}", short(a)),
        None if seeds.contains(a) => format!("{} (seed)", short(a)),
        None => short(a),
    };
    let Some(svg) = super::sankey::svg(r, dec, esc, caption) else { return };
    let o = &flow.others;
    let _ = write!(
        h,
        "<h2>Taint flow</h2>\n<p class=\"hint\">Every transfer that carried taint, added up per sender and receiver: the {} that carried most, \
         seeds on the left and a column a hop; bars as tall as the taint through an address, bands as wide as the taint they carried. \
         Hover for the exact amounts and transactions.{}</p>\n<div class=\"flow\">{svg}</div>\n",
        flow.edges.len(),
        if o.edges > 0 {
            format!(
                " Not drawn: {} more sender-receiver pairs ({} transfers) carrying {}.",
                o.edges,
                o.events,
                esc(&super::readable(&o.taint, dec, &r.asset))
            )
        } else {
            String::new()
        }
    );
    h.push_str("<details><summary>The flow as a table</summary>\n<table><tr><th>from</th><th>to</th><th>hop</th><th class=\"n\">taint</th><th class=\"n\">base units</th><th>transfers</th><th>transactions</th></tr>\n");
    for e in &flow.edges {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            address_link(chain, &e.from),
            address_link(chain, &e.to),
            e.hop,
            esc(&super::readable(&e.taint, dec, &r.asset)),
            esc(&e.taint),
            e.events,
            e.txs
                .iter()
                .map(|t| format!("<a class=\"tx\" href=\"{}{}\">{}</a>", explorer(chain).0, esc(t), esc(&short(t))))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    h.push_str("</table></details>\n");
}

/// The page.
pub fn to_html(r: &Report, chain: Chain, book: &crate::model::tokens::Book) -> String {
    let dec = super::decimals(chain, &r.asset);
    // Rounded and grouped to read; the exact figure on hover.
    let coins = |a: &str| format!("<span title=\"{} base units\">{}</span>", esc(a), esc(&super::readable(a, dec, &r.asset)));
    // Under `--follow` each row and step has its own asset.
    let coins_of = |a: &str, asset: &Option<String>| match asset {
        Some(x) => {
            format!(
                "{} <span title=\"{}\">{}</span>",
                whole(a, super::asset_decimals(chain, book, x)),
                esc(x),
                esc(&super::asset_label(chain, book, x))
            )
        }
        None => coins(a),
    };
    let t = &r.totals;
    let mut h = String::new();
    let title = format!("{} trace of {}", format!("{:?}", r.policy).to_lowercase(), r.asset);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>chaintrace: {}</title>\n<style>{}</style></head><body>\n",
        esc(&title),
        STYLE
    );
    let _ = write!(
        h,
        "<h1>{}</h1>\n<p class=\"seeds\">Seeds: {}",
        esc(&title),
        r.seeds.iter().map(|s| address_link(chain, s)).collect::<Vec<_>>().join(", ")
    );
    if !r.seed_txs.is_empty() {
        let _ = write!(
            h,
            "; seed transactions: {}",
            r.seed_txs.iter().map(|x| format!("<code>{}</code>", esc(&short(x)))).collect::<Vec<_>>().join(", ")
        );
    }
    let _ = writeln!(h, "{}</p>", if r.fees_modelled { "" } else { " (fees not modelled)" });
    // Conservation: the totals and the one line that must balance.
    let _ = write!(
        h,
        "<h2>Where the taint is</h2>\n<table class=\"totals\"><tr><th>seeded</th><td>{}</td></tr><tr><th>destinations</th><td>{}</td></tr>\
         <tr><th>dormant (seeds hold {})</th><td>{}</td></tr><tr><th>horizon</th><td>{}</td></tr><tr><th>fees</th><td>{}</td></tr>\
         <tr><th>unknown origin credited</th><td>{}</td></tr></table>\n<p class=\"conservation\">In base units: {} = {} + {} + {} + {}{}</p>\n",
        coins(&r.seeded),
        coins(&t.destinations),
        coins(&t.held_by_seeds),
        coins(&t.dormant),
        coins(&t.horizon),
        coins(&t.fees),
        coins(&t.unknown_origin),
        esc(&r.seeded),
        esc(&t.destinations),
        esc(&t.dormant),
        esc(&t.horizon),
        esc(&t.fees),
        if r.policy == crate::trace::Policy::Poison { " (poison does not conserve amounts)" } else { "" }
    );
    if !r.entities.is_empty() {
        h += "<h2>Destinations by entity</h2>\n<table><tr><th>entity</th><th>category</th><th>addresses</th><th class=\"n\">amount</th><th>hops</th></tr>\n";
        for e in r.entities.iter().take(ROWS) {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                esc(&e.entity),
                esc(&e.category),
                e.addresses.len(),
                coins_of(&e.amount, &e.asset),
                e.hops
            );
        }
        h += "</table>\n";
        more(&mut h, r.entities.len(), "entities");
    }
    // The taint flow: where all of it went, fan-out included.
    flow_section(&mut h, r, chain, dec);
    h += "<h2>Destinations</h2>\n<table><tr><th>address</th><th>entity</th><th>label</th><th>category</th><th class=\"n\">amount</th><th>hops</th><th>first arrival</th></tr>\n";
    for d in r.destinations.iter().take(ROWS) {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            address_link(on(chain, d.chain.as_deref()), &d.address),
            esc(d.entity.as_deref().unwrap_or("")),
            esc(d.label.as_deref().unwrap_or("")),
            esc(&d.category),
            coins_of(&d.amount, &d.asset),
            d.hops,
            esc(&d.first_time.clone().or(d.first_block.map(|b| format!("block {b}"))).unwrap_or_default())
        );
    }
    h += "</table>\n";
    more(&mut h, r.destinations.len(), "destinations");
    if let Some(tb) = &r.totals_by_asset {
        h += "<h2>By asset</h2>\n<p class=\"conservation\">In base units, per asset: seeded + converted in = destinations + dormant + horizon + fees + converted out.</p>\n<table><tr><th>asset</th><th class=\"n\">seeded</th><th class=\"n\">converted in</th><th class=\"n\">destinations</th><th class=\"n\">dormant</th><th class=\"n\">horizon</th><th class=\"n\">fees</th><th class=\"n\">converted out</th></tr>\n";
        for (a, t) in tb {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(a),
                esc(&t.seeded),
                esc(&t.converted_in),
                esc(&t.destinations),
                esc(&t.dormant),
                esc(&t.horizon),
                esc(&t.fees),
                esc(&t.converted_out)
            );
        }
        h += "</table>\n";
    }
    // The flow graph.
    let g = flow_graph(r, chain, book);
    let max = g.edge_weights().map(|f| f.taint).max().unwrap_or_default();
    // Left to right by hops from the seeds (breadth first), each column
    // centred: a layout that reads like the money moved.
    let mut depth = vec![usize::MAX; g.node_count()];
    let mut queue: std::collections::VecDeque<petgraph::graph::NodeIndex> = g.node_indices().filter(|&i| g[i].kind == "seed").collect();
    for &i in &queue {
        depth[i.index()] = 0;
    }
    while let Some(i) = queue.pop_front() {
        for j in g.neighbors(i) {
            if depth[j.index()] == usize::MAX {
                depth[j.index()] = depth[i.index()] + 1;
                queue.push_back(j);
            }
        }
    }
    let deepest = depth.iter().filter(|&&d| d != usize::MAX).max().copied().unwrap_or(0);
    for d in depth.iter_mut().filter(|d| **d == usize::MAX) {
        *d = deepest + 1;
    }
    let mut column: std::collections::BTreeMap<usize, Vec<usize>> = std::collections::BTreeMap::new();
    for i in g.node_indices() {
        column.entry(depth[i.index()]).or_default().push(i.index());
    }
    let mut pos = vec![(0.0f64, 0.0f64); g.node_count()];
    for (d, members) in &column {
        let n = members.len() as f64;
        for (k, &i) in members.iter().enumerate() {
            pos[i] = (*d as f64 * 320.0, (k as f64 - (n - 1.0) / 2.0) * 80.0);
        }
    }
    let nodes: Vec<serde_json::Value> = g
        .node_indices()
        .map(|i| {
            let n = &g[i];
            serde_json::json!({ "data": {
                "id": format!("n{}", i.index()), "address": n.address, "kind": n.kind,
                "label": if n.caption.is_empty() { short(&n.address) } else { format!("{}\n{}", short(&n.address), n.caption) },
            }, "position": { "x": pos[i.index()].0, "y": pos[i.index()].1 } })
        })
        .collect();
    let edges: Vec<serde_json::Value> = g
        .edge_indices()
        .map(|e| {
            let (a, b) = g.edge_endpoints(e).expect("edge");
            let f = &g[e];
            serde_json::json!({ "data": {
                "id": format!("e{}", e.index()), "source": format!("n{}", a.index()), "target": format!("n{}", b.index()),
                "amount": format!("{} {}", whole(&f.taint.to_string(), dec), r.asset), "txs": f.txs, "width": width(f.taint, max),
            }})
        })
        .collect();
    let data = serde_json::json!({ "nodes": nodes, "edges": edges, "txBase": explorer(chain).0 }).to_string().replace('<', "\\u003c");
    let _ = write!(
        h,
        "<h2>Flow along the evidence paths</h2>\n<p class=\"hint\">Seed in red, destinations in blue; edges as wide as the taint they carried. \
         Hover an edge for its transactions, click it to open the first on the explorer; drag to rearrange.</p>\n\
         <div id=\"flow\"></div><div id=\"tip\"></div>\n<script type=\"application/json\" id=\"flow-data\">{data}</script>\n"
    );
    // The evidence paths, every transaction linked.
    h += "<h2>Evidence paths</h2>\n";
    for d in r.destinations.iter().filter(|d| !d.paths.is_empty()) {
        let _ = writeln!(
            h,
            "<h3>{} <span class=\"cat\">{}</span></h3>",
            address_link(on(chain, d.chain.as_deref()), &d.address),
            esc(&d.category)
        );
        for (k, p) in d.paths.iter().enumerate() {
            let _ = write!(h, "<ol class=\"path\" title=\"path {}\">", k + 1);
            for s in p {
                // Each step on its own chain's explorer; a bridge's deposit on
                // the deposit's chain, its payee on the payout's.
                let here = on(chain, s.conversion.as_ref().and_then(|c| c.chain.as_deref()).or(s.asset.as_deref()));
                let there = on(here, s.conversion.as_ref().and_then(|c| c.to_chain.as_deref()));
                let tx = match &s.event.tx {
                    Some(tx) => format!("<a class=\"tx\" href=\"{}{}\">{}</a>", explorer(here).0, esc(tx), esc(&short(tx))),
                    None => "<span class=\"tx\">(no hash)</span>".to_string(),
                };
                let when = s.event.time.clone().or(s.event.block.map(|b| format!("block {b}"))).unwrap_or_default();
                if let Some(c) = &s.conversion {
                    let _ = write!(
                        h,
                        "<li>{tx} {} by {} via {}: <span class=\"amt\">{} of {}</span> became <span class=\"amt\">{} of {}</span> for {}{} <span class=\"when\">{}</span></li>",
                        esc(c.kind),
                        address_link(here, &c.payer),
                        address_link(here, &c.venue),
                        coins_of(&c.taint_in, &Some(c.asset_in.clone())),
                        coins_of(&c.value_in, &Some(c.asset_in.clone())),
                        coins_of(&c.taint_out, &Some(c.asset_out.clone())),
                        coins_of(&c.value_out, &Some(c.asset_out.clone())),
                        address_link(there, &c.payee),
                        esc(&super::follow::heuristic_note(c)),
                        esc(&when)
                    );
                    continue;
                }
                let _ = write!(
                    h,
                    "<li>{tx} {} → {} <span class=\"amt\">{} of {}</span> <span class=\"when\">{}</span></li>",
                    address_link(here, &s.event.from),
                    address_link(here, &s.event.to),
                    coins_of(&s.taint, &s.asset),
                    coins_of(&s.event.value, &s.asset),
                    esc(&when)
                );
            }
            h += "</ol>\n";
        }
    }
    let _ = write!(
        h,
        "<footer>Made by chaintrace {}. Amounts are exact; the graph shows evidence paths, not every transfer.</footer>\n\
         <script>/*! Cytoscape.js 3.35.0, https://js.cytoscape.org, from the npm registry.\n{}*/\n{}</script>\n<script>{}</script>\n</body></html>\n",
        env!("CARGO_PKG_VERSION"),
        CYTOSCAPE_LICENSE.replace("*/", "* /"),
        CYTOSCAPE,
        SCRIPT
    );
    h
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}\
h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:.5em 0}\
th,td{padding:.25em .7em;border-bottom:1px solid #eee;text-align:left}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
.conservation{font-family:monospace;font-size:12px;color:#555}#flow{height:560px;border:1px solid #ccc;border-radius:4px}\
#tip{position:fixed;display:none;background:#fff;border:1px solid #999;padding:.4em .6em;font:12px monospace;pointer-events:none;max-width:640px}\
ol.path li{margin:.15em 0}.tx{font-family:monospace}.addr{font-family:monospace}.cat{font-size:.8em;color:#1f77b4}\
.amt{color:#333}.when{color:#777;font-size:.9em}.hint{color:#555}footer{margin-top:3em;color:#777;font-size:.9em}\
.flow{overflow-x:auto;border:1px solid #ccc;border-radius:4px;padding:6px}.sankey .band{fill:none;stroke:#9ecae1;stroke-opacity:.55}\
.sankey .band:hover{stroke:#3182bd;stroke-opacity:.8}.sankey rect{fill:#636363}.sankey .seed rect{fill:#d62728}.sankey text{font:11px monospace;fill:#222}";

const SCRIPT: &str = r#"
(function () {
  var data = JSON.parse(document.getElementById('flow-data').textContent);
  var cy = cytoscape({
    container: document.getElementById('flow'),
    elements: data.nodes.concat(data.edges),
    style: [
      { selector: 'node', style: { 'label': 'data(label)', 'text-wrap': 'wrap', 'font-size': 10, 'text-valign': 'center', 'text-halign': 'right', 'text-margin-x': 6,
        'background-color': '#7f7f7f', 'width': 18, 'height': 18 } },
      { selector: 'node[kind = "seed"]', style: { 'background-color': '#d62728', 'shape': 'octagon', 'width': 30, 'height': 30,
        'text-halign': 'left', 'text-margin-x': -6 } },
      { selector: 'node[kind = "destination"]', style: { 'background-color': '#1f77b4', 'shape': 'round-rectangle', 'width': 26, 'height': 26 } },
      { selector: 'edge', style: { 'width': 'data(width)', 'line-color': '#999', 'target-arrow-color': '#999',
        'target-arrow-shape': 'triangle', 'curve-style': 'bezier', 'label': 'data(amount)', 'font-size': 9,
        'text-rotation': 'autorotate', 'color': '#444' } }
    ],
    layout: { name: 'preset', fit: true, padding: 40 }
  });
  var tip = document.getElementById('tip');
  function show(e, html) { tip.innerHTML = html; tip.style.display = 'block';
    tip.style.left = (e.originalEvent.clientX + 12) + 'px'; tip.style.top = (e.originalEvent.clientY + 12) + 'px'; }
  function text(s) { var d = document.createElement('div'); d.textContent = s; return d.innerHTML; }
  cy.on('mouseover', 'edge', function (e) { var d = e.target.data();
    show(e, text(d.amount) + '<br>' + d.txs.map(text).join('<br>')); });
  cy.on('mouseover', 'node', function (e) { show(e, text(e.target.data('address')) + '<br>' + text(e.target.data('label'))); });
  cy.on('mouseout', function () { tip.style.display = 'none'; });
  cy.on('tap', 'edge', function (e) { var t = e.target.data('txs'); if (t.length) { window.open(data.txBase + t[0], '_blank'); } });
  cy.ready(function () {
    document.body.dataset.graphNodes = cy.nodes().length;
    document.body.dataset.graphEdges = cy.edges().length;
    document.body.dataset.graphDrawn = cy.nodes().every(function (n) { return n.renderedBoundingBox().w > 0; }) ? 'yes' : 'no';
  });
})();
"#;
