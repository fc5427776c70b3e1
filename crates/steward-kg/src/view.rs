//! The knowledge graph loaded into memory (petgraph) for what the store
//! cannot answer in SQL: neighbourhoods, paths, k-hop subgraphs, PageRank,
//! Louvain communities, and exports for Gephi (GraphML) and web viewers (JSON).
//!
//! A [`GraphView`] is an immutable value built from plain node and edge
//! lists; every query borrows it. Algorithms read the graph undirected, with
//! the weights of all relations between a pair summed: "how strongly are
//! these two tied" does not depend on which way `depends_on` points.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::fmt::Write as _;

use petgraph::graph::{NodeIndex, UnGraph};
use petgraph::visit::EdgeRef;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::relation::Relation;

/// An entity as the graph shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The entity's id in the store.
    pub id: i64,
    /// The normalised key the vocabulary matches on (`c++`, `node.js`).
    pub key: String,
    /// The display name (`C++`, `Node.js`).
    pub name: String,
    /// What sort of thing it is (`language`, `library`, `error`, ...).
    pub kind: String,
    /// How often it is mentioned.
    pub weight: f64,
}

/// A relation between two entities, aggregated over its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// Where the relation goes from; the smaller id for symmetric relations.
    pub source: i64,
    /// Where it goes to.
    pub target: i64,
    /// What the relation is.
    pub relation: Relation,
    /// Its strength (summed confidences, or PMI for co-occurrence).
    pub weight: f64,
    /// How many sentences or posts support it.
    pub evidence: u32,
}

/// An entity next to another one, and the edge between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    /// The neighbouring entity.
    pub node: Node,
    /// The edge, with its stored direction.
    pub edge: Edge,
    /// Whether the edge goes from the queried entity to `node`. For
    /// symmetric relations this only says which id is smaller.
    pub outgoing: bool,
}

/// A path between two entities.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphPath {
    /// The entities from start to end, both included.
    pub nodes: Vec<Node>,
    /// The edges in path order, each with its true direction (so an edge
    /// may point backwards along the path).
    pub edges: Vec<Edge>,
    /// The summed [`edge_cost`] of the edges.
    pub cost: f64,
}

/// Why GraphML could not be read. Positions are byte offsets into the
/// input, with the line and column (1-based, in characters) for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// The input is not well-formed XML.
    #[error("malformed XML at line {line}, column {column} (byte {position}): {message}")]
    Xml {
        /// Byte offset of the problem.
        position: u64,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem, in characters.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// Well-formed XML that is not a graph we can read: no `<graph>`, an
    /// edge to an undeclared node, a weight that is not a number.
    #[error("unreadable GraphML at line {line}, column {column} (byte {position}): {message}")]
    GraphMl {
        /// Byte offset of the element at fault.
        position: u64,
        /// 1-based line of the element at fault.
        line: usize,
        /// 1-based column of the element at fault, in characters.
        column: usize,
        /// What is wrong with it.
        message: String,
    },
}

impl ViewError {
    fn xml(input: &str, position: u64, message: String) -> ViewError {
        let (line, column) = line_column(input, position);
        ViewError::Xml {
            position,
            line,
            column,
            message,
        }
    }

    fn graphml(input: &str, position: u64, message: String) -> ViewError {
        let (line, column) = line_column(input, position);
        ViewError::GraphMl {
            position,
            line,
            column,
            message,
        }
    }
}

fn line_column(input: &str, position: u64) -> (usize, usize) {
    let mut end = usize::try_from(position)
        .unwrap_or(usize::MAX)
        .min(input.len());
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    let head = &input[..end];
    let line = head.matches('\n').count() + 1;
    let line_start = head.rfind('\n').map_or(0, |newline| newline + 1);
    (line, head[line_start..].chars().count() + 1)
}

/// Base cost of crossing a typed edge in [`GraphView::shortest_path`].
pub const TYPED_EDGE_COST: f64 = 1.0;
/// Base cost of crossing a co-occurrence (`related_to`) edge: three typed
/// hops cost as much as one co-occurrence of the same weight, so a path
/// reads as an explanation ("keras depends_on tensorflow is_a library")
/// rather than a chain of "also mentioned with".
pub const CO_OCCURRENCE_EDGE_COST: f64 = 3.0;

/// The cost of crossing `edge` on a path:
/// `base / (1 + ln(1 + weight))`, with `base` [`TYPED_EDGE_COST`] or
/// [`CO_OCCURRENCE_EDGE_COST`]. Stronger edges are cheaper, but only
/// logarithmically, so a very frequent co-occurrence cannot drown the
/// typed relations. Negative or non-finite weights count as 0.
pub fn edge_cost(edge: &Edge) -> f64 {
    let base = if edge.relation.is_typed() {
        TYPED_EDGE_COST
    } else {
        CO_OCCURRENCE_EDGE_COST
    };
    base / (1.0 + (1.0 + usable_weight(edge.weight)).ln())
}

/// Weights as the algorithms read them: negative and non-finite ones (a
/// PMI below zero, a division gone wrong upstream) tie nothing.
fn usable_weight(weight: f64) -> f64 {
    if weight.is_finite() && weight > 0.0 {
        weight
    } else {
        0.0
    }
}

/// The knowledge graph in memory: nodes and edges in a fixed order, a
/// dense index (position in [`GraphView::nodes`]) for each id, and the
/// petgraph adjacency over the dense indices.
#[derive(Debug, Clone)]
pub struct GraphView {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    index: HashMap<i64, usize>,
    /// Undirected; node `i` is `nodes[i]`, an edge's weight is its
    /// position in `edges`.
    graph: UnGraph<(), usize>,
}

impl GraphView {
    /// Builds the view. A node whose id was already given is dropped (the
    /// first wins); edges that are self-loops or touch an unknown node are
    /// dropped; symmetric relations are turned to run from the smaller id;
    /// then edges with the same (source, target, relation) are merged, their
    /// weights and evidence summed, in the order of first appearance.
    pub fn new(nodes: Vec<Node>, edges: Vec<Edge>) -> GraphView {
        let mut kept_nodes = Vec::with_capacity(nodes.len());
        let mut index = HashMap::with_capacity(nodes.len());
        for node in nodes {
            if let std::collections::hash_map::Entry::Vacant(slot) = index.entry(node.id) {
                slot.insert(kept_nodes.len());
                kept_nodes.push(node);
            }
        }
        let mut merged: Vec<Edge> = Vec::with_capacity(edges.len());
        let mut seen: HashMap<(i64, i64, Relation), usize> = HashMap::new();
        for mut edge in edges {
            if edge.source == edge.target
                || !index.contains_key(&edge.source)
                || !index.contains_key(&edge.target)
            {
                continue;
            }
            if !edge.relation.directed() && edge.source > edge.target {
                std::mem::swap(&mut edge.source, &mut edge.target);
            }
            match seen.entry((edge.source, edge.target, edge.relation)) {
                std::collections::hash_map::Entry::Occupied(known) => {
                    let known = &mut merged[*known.get()];
                    known.weight += edge.weight;
                    known.evidence = known.evidence.saturating_add(edge.evidence);
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(merged.len());
                    merged.push(edge);
                }
            }
        }
        let mut graph = UnGraph::with_capacity(kept_nodes.len(), merged.len());
        for _ in &kept_nodes {
            graph.add_node(());
        }
        for (edge_idx, edge) in merged.iter().enumerate() {
            graph.add_edge(
                NodeIndex::new(index[&edge.source]),
                NodeIndex::new(index[&edge.target]),
                edge_idx,
            );
        }
        GraphView {
            nodes: kept_nodes,
            edges: merged,
            index,
            graph,
        }
    }

    /// The nodes; a node's position here is its dense index.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The merged edges.
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// The node with this id.
    pub fn node(&self, id: i64) -> Option<&Node> {
        self.index_of(id).map(|node_idx| &self.nodes[node_idx])
    }

    /// The dense index (position in [`GraphView::nodes`]) of this id.
    pub fn index_of(&self, id: i64) -> Option<usize> {
        self.index.get(&id).copied()
    }

    /// Every edge with the dense indices of its source and target, read off
    /// petgraph's edge list (no id lookups).
    fn dense_ends(&self) -> impl Iterator<Item = (usize, usize, &Edge)> + '_ {
        self.graph.raw_edges().iter().map(|raw| {
            (
                raw.source().index(),
                raw.target().index(),
                &self.edges[raw.weight],
            )
        })
    }

    /// Edges incident to dense index `node_idx`, with the index at the other end.
    fn incident(&self, node_idx: usize) -> impl Iterator<Item = (usize, &Edge)> + '_ {
        self.graph
            .edges(NodeIndex::new(node_idx))
            .map(move |edge_ref| {
                let other = if edge_ref.source().index() == node_idx {
                    edge_ref.target().index()
                } else {
                    edge_ref.source().index()
                };
                (other, &self.edges[*edge_ref.weight()])
            })
    }

    /// The entities next to `id`, through any relation or only `relation`,
    /// strongest edge first (weight descending, then name, then id), at most
    /// `limit`. An entity tied by two relations appears once per relation.
    pub fn neighbours(&self, id: i64, relation: Option<Relation>, limit: usize) -> Vec<Neighbour> {
        let Some(node_idx) = self.index_of(id) else {
            return Vec::new();
        };
        let mut found: Vec<Neighbour> = self
            .incident(node_idx)
            .filter(|(_, edge)| relation.is_none_or(|wanted| edge.relation == wanted))
            .map(|(other, edge)| Neighbour {
                node: self.nodes[other].clone(),
                edge: edge.clone(),
                outgoing: edge.source == id,
            })
            .collect();
        found.sort_by(|left, right| {
            right
                .edge
                .weight
                .total_cmp(&left.edge.weight)
                .then_with(|| left.node.name.cmp(&right.node.name))
                .then_with(|| left.node.id.cmp(&right.node.id))
                .then_with(|| left.edge.relation.cmp(&right.edge.relation))
        });
        found.truncate(limit);
        found
    }

    /// The cheapest path from `from` to `to` with at most `max_hops` edges,
    /// over the undirected view, each edge costing [`edge_cost`]: typed
    /// relations and strong edges are preferred, so "keras depends_on
    /// tensorflow, tensorflow is_a framework" beats one weak co-occurrence.
    /// `None` when an id is unknown or nothing connects them within
    /// `max_hops`; a path from a node to itself has no edges and cost 0.
    pub fn shortest_path(&self, from: i64, to: i64, max_hops: usize) -> Option<GraphPath> {
        let start = self.index_of(from)?;
        let goal = self.index_of(to)?;
        // Dijkstra over (node, hops) labels: with a hop limit the cheapest
        // way to a node may not be the one that can still reach the goal,
        // so a node is expanded again whenever it is reached in fewer hops
        // than every cheaper label before.
        struct Label {
            node: usize,
            hops: usize,
            cost: f64,
            parent: Option<(usize, usize)>, // (label, edge)
        }
        let mut labels = vec![Label {
            node: start,
            hops: 0,
            cost: 0.0,
            parent: None,
        }];
        let mut fewest_hops = vec![usize::MAX; self.nodes.len()];
        // The cheapest label queued so far per node, as (cost, hops): a new
        // label that is no cheaper and no shorter can never do better.
        let mut cheapest_queued: Vec<(f64, usize)> =
            vec![(f64::INFINITY, usize::MAX); self.nodes.len()];
        cheapest_queued[start] = (0.0, 0);
        let mut queue = BinaryHeap::new();
        queue.push(Frontier {
            cost: 0.0,
            hops: 0,
            label: 0,
        });
        while let Some(Frontier { label, .. }) = queue.pop() {
            let (node, hops, cost) = (labels[label].node, labels[label].hops, labels[label].cost);
            if hops >= fewest_hops[node] {
                continue;
            }
            fewest_hops[node] = hops;
            if node == goal {
                return Some(self.path_from_labels(label, cost, |label_idx| {
                    let label = &labels[label_idx];
                    (label.node, label.parent)
                }));
            }
            if hops == max_hops {
                continue;
            }
            let graph_edges = self.graph.edges(NodeIndex::new(node));
            for edge_ref in graph_edges {
                let other = if edge_ref.source().index() == node {
                    edge_ref.target().index()
                } else {
                    edge_ref.source().index()
                };
                if hops + 1 >= fewest_hops[other] {
                    continue;
                }
                let edge_idx = *edge_ref.weight();
                let next_cost = cost + edge_cost(&self.edges[edge_idx]);
                let (queued_cost, queued_hops) = cheapest_queued[other];
                if next_cost >= queued_cost && hops + 1 >= queued_hops {
                    continue;
                }
                if next_cost < queued_cost {
                    cheapest_queued[other] = (next_cost, hops + 1);
                }
                labels.push(Label {
                    node: other,
                    hops: hops + 1,
                    cost: next_cost,
                    parent: Some((label, edge_idx)),
                });
                queue.push(Frontier {
                    cost: next_cost,
                    hops: hops + 1,
                    label: labels.len() - 1,
                });
            }
        }
        None
    }

    fn path_from_labels(
        &self,
        last: usize,
        cost: f64,
        label_at: impl Fn(usize) -> (usize, Option<(usize, usize)>),
    ) -> GraphPath {
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
        let mut current = Some(last);
        while let Some(label_idx) = current {
            let (node, parent) = label_at(label_idx);
            nodes.push(self.nodes[node].clone());
            current = parent.map(|(parent_label, edge_idx)| {
                edges.push(self.edges[edge_idx].clone());
                parent_label
            });
        }
        nodes.reverse();
        edges.reverse();
        GraphPath { nodes, edges, cost }
    }

    /// The k-hop neighbourhood of `seeds` as a graph of its own: breadth
    /// first, `hops` rings out, at most `max_nodes` nodes. When a ring does
    /// not fit, the nodes tied to it by the strongest edge go first (ties by
    /// name, then id). Unknown seeds are ignored; seeds beyond `max_nodes`
    /// are dropped in the order given. Nodes keep their order in this view;
    /// edges are all those between kept nodes.
    pub fn subgraph(&self, seeds: &[i64], hops: usize, max_nodes: usize) -> GraphView {
        let mut kept = vec![false; self.nodes.len()];
        let mut kept_count = 0;
        let mut frontier = Vec::new();
        for &seed in seeds {
            if kept_count >= max_nodes {
                break;
            }
            if let Some(node_idx) = self.index_of(seed)
                && !kept[node_idx]
            {
                kept[node_idx] = true;
                kept_count += 1;
                frontier.push(node_idx);
            }
        }
        for _ in 0..hops {
            if kept_count >= max_nodes || frontier.is_empty() {
                break;
            }
            let mut reach: HashMap<usize, f64> = HashMap::new();
            for &node_idx in &frontier {
                for (other, edge) in self.incident(node_idx) {
                    if kept[other] {
                        continue;
                    }
                    let strength = usable_weight(edge.weight);
                    reach
                        .entry(other)
                        .and_modify(|best| *best = best.max(strength))
                        .or_insert(strength);
                }
            }
            let mut ring: Vec<(usize, f64)> = reach.into_iter().collect();
            ring.sort_by(|left, right| {
                right
                    .1
                    .total_cmp(&left.1)
                    .then_with(|| self.nodes[left.0].name.cmp(&self.nodes[right.0].name))
                    .then_with(|| self.nodes[left.0].id.cmp(&self.nodes[right.0].id))
            });
            frontier.clear();
            for (node_idx, _) in ring {
                if kept_count >= max_nodes {
                    break;
                }
                kept[node_idx] = true;
                kept_count += 1;
                frontier.push(node_idx);
            }
        }
        let nodes = self
            .nodes
            .iter()
            .zip(&kept)
            .filter(|(_, keep)| **keep)
            .map(|(node, _)| node.clone())
            .collect();
        let edges = self
            .dense_ends()
            .filter(|(source, target, _)| kept[*source] && kept[*target])
            .map(|(_, _, edge)| edge.clone())
            .collect();
        GraphView::new(nodes, edges)
    }

    /// For each dense index, its neighbours with the summed usable weight of
    /// all relations between the two, sorted by neighbour.
    fn weighted_adjacency(&self) -> Vec<Vec<(usize, f64)>> {
        let mut adjacency: Vec<Vec<(usize, f64)>> = vec![Vec::new(); self.nodes.len()];
        for (source, target, edge) in self.dense_ends() {
            let weight = usable_weight(edge.weight);
            adjacency[source].push((target, weight));
            adjacency[target].push((source, weight));
        }
        for row in &mut adjacency {
            *row = merge_row(std::mem::take(row));
        }
        adjacency
    }

    /// PageRank over the weighted undirected view, aligned with
    /// [`GraphView::nodes`]: a walker follows an edge in proportion to its
    /// weight, and with probability `1 - damping` (or from a node without
    /// usable edges) jumps to a node chosen uniformly. Stops after
    /// `iterations` rounds or once the ranks move less than 1e-12 in total;
    /// the ranks sum to 1. A damping outside [0, 1] is clamped; a NaN
    /// damping reads as the usual 0.85.
    pub fn pagerank(&self, damping: f64, iterations: usize) -> Vec<f64> {
        let n_nodes = self.nodes.len();
        if n_nodes == 0 {
            return Vec::new();
        }
        let damping = if damping.is_nan() {
            0.85
        } else {
            damping.clamp(0.0, 1.0)
        };
        let adjacency = self.weighted_adjacency();
        let strength: Vec<f64> = adjacency
            .iter()
            .map(|row| row.iter().map(|(_, weight)| weight).sum())
            .collect();
        let uniform = 1.0 / n_nodes as f64;
        let mut rank = vec![uniform; n_nodes];
        let mut next = vec![0.0; n_nodes];
        for _ in 0..iterations {
            let dangling: f64 = rank
                .iter()
                .zip(&strength)
                .filter(|(_, strength)| **strength <= 0.0)
                .map(|(rank, _)| rank)
                .sum();
            let base = (1.0 - damping) * uniform + damping * dangling * uniform;
            next.fill(base);
            for (node_idx, row) in adjacency.iter().enumerate() {
                if strength[node_idx] <= 0.0 {
                    continue;
                }
                let share = damping * rank[node_idx] / strength[node_idx];
                for &(other, weight) in row {
                    next[other] += share * weight;
                }
            }
            let moved: f64 = rank
                .iter()
                .zip(&next)
                .map(|(old, new)| (old - new).abs())
                .sum();
            std::mem::swap(&mut rank, &mut next);
            if moved < 1e-12 {
                break;
            }
        }
        let total: f64 = rank.iter().sum();
        if total > 0.0 {
            for value in &mut rank {
                *value /= total;
            }
        }
        rank
    }

    /// Communities by Louvain modularity optimisation on the weighted
    /// undirected view, aligned with [`GraphView::nodes`]. Each level moves
    /// nodes, in an order shuffled by `seed`, to the neighbouring community
    /// with the best modularity gain (staying put on ties) until a pass moves
    /// nothing, then folds each community into one node and repeats until a
    /// level merges nothing. Ids are dense from 0, the largest community
    /// first (ties: the one holding the earliest node). The same graph and
    /// seed give the same answer.
    pub fn communities(&self, seed: u64) -> Vec<u32> {
        let n_nodes = self.nodes.len();
        if n_nodes == 0 {
            return Vec::new();
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut level = Level {
            adjacency: self.weighted_adjacency(),
            self_loops: vec![0.0; n_nodes],
        };
        // membership[node] = the node of the current level it was folded into.
        let mut membership: Vec<usize> = (0..n_nodes).collect();
        while let Some(assignment) = level.move_nodes(&mut rng) {
            let (dense, n_communities) = renumber(&assignment);
            for folded in &mut membership {
                *folded = dense[*folded];
            }
            if n_communities == level.adjacency.len() {
                break;
            }
            level = level.fold(&dense, n_communities);
        }
        label_by_size(&membership)
    }

    /// Newman's modularity of a partition (one community id per node,
    /// aligned with [`GraphView::nodes`]) on the weighted undirected view:
    /// the share of edge weight inside communities minus the share expected
    /// if edges were rewired at random keeping each node's strength. 0 for a
    /// graph without usable edges; NaN when `communities` is not one id per
    /// node.
    pub fn modularity(&self, communities: &[u32]) -> f64 {
        if communities.len() != self.nodes.len() {
            return f64::NAN;
        }
        let adjacency = self.weighted_adjacency();
        let mut inside = 0.0;
        let mut totals: BTreeMap<u32, f64> = BTreeMap::new();
        let mut twice_total = 0.0;
        for (node_idx, row) in adjacency.iter().enumerate() {
            for &(other, weight) in row {
                if communities[node_idx] == communities[other] {
                    inside += weight;
                }
                *totals.entry(communities[node_idx]).or_default() += weight;
                twice_total += weight;
            }
        }
        if twice_total <= 0.0 {
            return 0.0;
        }
        let expected: f64 = totals
            .values()
            .map(|total| (total / twice_total).powi(2))
            .sum();
        inside / twice_total - expected
    }

    /// The graph as GraphML for Gephi, yEd or networkx: `<key>`
    /// declarations for the node attributes `key`, `name`, `label` (the name
    /// again, which Gephi shows), `kind`, `weight` and the edge attributes
    /// `relation`, `weight`, `evidence`; node ids `n<id>`; symmetric
    /// relations as `directed="false"` edges. Text is XML-escaped; a
    /// carriage return is written as `&#13;` so it survives parsing; the
    /// few characters XML 1.0 cannot carry at all (most C0 controls,
    /// U+FFFE, U+FFFF) become U+FFFD.
    pub fn to_graphml(&self) -> String {
        let mut out = String::with_capacity(256 + 200 * (self.nodes.len() + self.edges.len()));
        out.push_str(concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\" ",
            "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ",
            "xsi:schemaLocation=\"http://graphml.graphdrawing.org/xmlns ",
            "http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd\">\n",
            "  <key id=\"key\" for=\"node\" attr.name=\"key\" attr.type=\"string\"/>\n",
            "  <key id=\"name\" for=\"node\" attr.name=\"name\" attr.type=\"string\"/>\n",
            "  <key id=\"label\" for=\"node\" attr.name=\"label\" attr.type=\"string\"/>\n",
            "  <key id=\"kind\" for=\"node\" attr.name=\"kind\" attr.type=\"string\"/>\n",
            "  <key id=\"mentions\" for=\"node\" attr.name=\"weight\" attr.type=\"double\"/>\n",
            "  <key id=\"relation\" for=\"edge\" attr.name=\"relation\" attr.type=\"string\"/>\n",
            "  <key id=\"strength\" for=\"edge\" attr.name=\"weight\" attr.type=\"double\"/>\n",
            "  <key id=\"evidence\" for=\"edge\" attr.name=\"evidence\" attr.type=\"long\"/>\n",
            "  <graph id=\"steward\" edgedefault=\"directed\">\n",
        ));
        // Writing into a String cannot fail; the results are discarded.
        for node in &self.nodes {
            let _ = writeln!(out, "    <node id=\"n{}\">", node.id);
            for (key, value) in [
                ("key", node.key.as_str()),
                ("name", node.name.as_str()),
                ("label", node.name.as_str()),
                ("kind", node.kind.as_str()),
            ] {
                let _ = writeln!(
                    out,
                    "      <data key=\"{key}\">{}</data>",
                    escape_xml(value)
                );
            }
            let _ = writeln!(out, "      <data key=\"mentions\">{}</data>", node.weight);
            out.push_str("    </node>\n");
        }
        for (edge_idx, edge) in self.edges.iter().enumerate() {
            let directed = if edge.relation.directed() {
                ""
            } else {
                " directed=\"false\""
            };
            let _ = writeln!(
                out,
                "    <edge id=\"e{edge_idx}\" source=\"n{}\" target=\"n{}\"{directed}>",
                edge.source, edge.target
            );
            let _ = writeln!(
                out,
                "      <data key=\"relation\">{}</data>",
                edge.relation.as_str()
            );
            let _ = writeln!(out, "      <data key=\"strength\">{}</data>", edge.weight);
            let _ = writeln!(out, "      <data key=\"evidence\">{}</data>", edge.evidence);
            out.push_str("    </edge>\n");
        }
        out.push_str("  </graph>\n</graphml>\n");
        out
    }

    /// Reads GraphML: what [`GraphView::to_graphml`] writes, and what
    /// Gephi, yEd or networkx write. Attributes are matched by their
    /// `attr.name` (a `<data>` whose key is undeclared by the key id);
    /// missing ones take the key's `<default>`, else: `name` ← `label` ←
    /// `key` ← the node's XML id; `key` ← `name`; `kind` ← ""; node `weight`
    /// ← 0; `relation` ← `label` when it names a relation, else
    /// `related_to`; edge `weight` ← 1; `evidence` ← 1. Node ids `n<int>`
    /// or `<int>` keep their number; other ids get fresh numbers above the
    /// largest. Malformed XML, an edge to an undeclared node, an unknown
    /// relation or a value that is not a number is an error with its
    /// position.
    pub fn from_graphml(xml: &str) -> Result<GraphView, ViewError> {
        let parsed = parse_graphml(xml)?;
        parsed.into_view(xml)
    }

    /// The graph as `{"nodes": [{id, key, name, kind, weight}], "links":
    /// [{source, target, relation, weight, evidence}]}`, the shape d3 force
    /// layouts and most web viewers take. Non-finite weights become `null`.
    pub fn to_json(&self) -> serde_json::Value {
        let nodes = self
            .nodes
            .iter()
            .map(|node| {
                serde_json::json!({
                    "id": node.id,
                    "key": node.key,
                    "name": node.name,
                    "kind": node.kind,
                    "weight": node.weight,
                })
            })
            .collect();
        let links = self
            .edges
            .iter()
            .map(|edge| {
                serde_json::json!({
                    "source": edge.source,
                    "target": edge.target,
                    "relation": edge.relation.as_str(),
                    "weight": edge.weight,
                    "evidence": edge.evidence,
                })
            })
            .collect();
        let mut shape = serde_json::Map::new();
        shape.insert("nodes".to_owned(), serde_json::Value::Array(nodes));
        shape.insert("links".to_owned(), serde_json::Value::Array(links));
        serde_json::Value::Object(shape)
    }

    /// Every tied pair of dense indices once, smaller index first, sorted,
    /// whatever the relations between them: the adjacency a GNN trains on.
    pub fn dense_edges(&self) -> Vec<(u32, u32)> {
        let mut pairs: Vec<(u32, u32)> = self
            .dense_ends()
            .map(|(source, target, _)| {
                let (source, target) = (dense_u32(source), dense_u32(target));
                (source.min(target), source.max(target))
            })
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        pairs
    }
}

fn dense_u32(node_idx: usize) -> u32 {
    u32::try_from(node_idx).expect("a graph held in memory has fewer than 2^32 nodes")
}

/// A label waiting in the shortest-path queue; the cheapest pops first,
/// then the one with fewer hops, then the earliest made (deterministic).
#[derive(Debug)]
struct Frontier {
    cost: f64,
    hops: usize,
    label: usize,
}

impl Ord for Frontier {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .cost
            .total_cmp(&self.cost)
            .then_with(|| other.hops.cmp(&self.hops))
            .then_with(|| other.label.cmp(&self.label))
    }
}

impl PartialOrd for Frontier {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Frontier {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Frontier {}

/// Sorts a row by neighbour and sums the weights of repeated neighbours.
fn merge_row(mut row: Vec<(usize, f64)>) -> Vec<(usize, f64)> {
    row.sort_by_key(|(other, _)| *other);
    let mut merged: Vec<(usize, f64)> = Vec::with_capacity(row.len());
    for (other, weight) in row {
        match merged.last_mut() {
            Some((last, total)) if *last == other => *total += weight,
            _ => merged.push((other, weight)),
        }
    }
    merged
}

/// One level of Louvain: a weighted undirected graph whose nodes are the
/// communities of the level below. `self_loops[i]` is the weight inside
/// node `i`, counted for both directions (the diagonal of the adjacency
/// matrix), so a node's strength is its row sum plus its loop.
#[derive(Debug)]
struct Level {
    adjacency: Vec<Vec<(usize, f64)>>,
    self_loops: Vec<f64>,
}

impl Level {
    /// Local moving: returns each node's community, or `None` when no node
    /// moved (the level is final).
    fn move_nodes(&self, rng: &mut ChaCha8Rng) -> Option<Vec<usize>> {
        const MAX_PASSES: usize = 64;
        let n_nodes = self.adjacency.len();
        let strength: Vec<f64> = self
            .adjacency
            .iter()
            .zip(&self.self_loops)
            .map(|(row, own)| own + row.iter().map(|(_, weight)| weight).sum::<f64>())
            .collect();
        let twice_total: f64 = strength.iter().sum();
        if twice_total <= 0.0 {
            return None;
        }
        let mut community: Vec<usize> = (0..n_nodes).collect();
        let mut community_total = strength.clone();
        let mut order: Vec<usize> = (0..n_nodes).collect();
        order.shuffle(rng);
        let mut weight_to = vec![0.0; n_nodes];
        let mut touched: Vec<usize> = Vec::new();
        let mut is_touched = vec![false; n_nodes];
        let mut moved_any = false;
        for _ in 0..MAX_PASSES {
            let mut moved = 0;
            for &node in &order {
                let own = community[node];
                touched.push(own);
                is_touched[own] = true;
                for &(other, weight) in &self.adjacency[node] {
                    let other_community = community[other];
                    if !is_touched[other_community] {
                        is_touched[other_community] = true;
                        touched.push(other_community);
                    }
                    weight_to[other_community] += weight;
                }
                community_total[own] -= strength[node];
                // Gain of joining c, up to a factor common to every c:
                // k_i,in(c) - tot(c) * k_i / 2m.
                let gain =
                    |c: usize| weight_to[c] - community_total[c] * strength[node] / twice_total;
                let mut best = own;
                let mut best_gain = gain(own);
                for &candidate in &touched {
                    let candidate_gain = gain(candidate);
                    if candidate_gain > best_gain + 1e-12 {
                        best = candidate;
                        best_gain = candidate_gain;
                    }
                }
                community_total[best] += strength[node];
                if best != own {
                    community[node] = best;
                    moved += 1;
                }
                for &c in &touched {
                    weight_to[c] = 0.0;
                    is_touched[c] = false;
                }
                touched.clear();
            }
            if moved == 0 {
                break;
            }
            moved_any = true;
        }
        moved_any.then_some(community)
    }

    /// Folds each community (dense ids `0..n_communities`) into one node.
    fn fold(&self, dense: &[usize], n_communities: usize) -> Level {
        let mut adjacency: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n_communities];
        let mut self_loops = vec![0.0; n_communities];
        for (node, row) in self.adjacency.iter().enumerate() {
            let community = dense[node];
            self_loops[community] += self.self_loops[node];
            for &(other, weight) in row {
                let other_community = dense[other];
                if other_community == community {
                    self_loops[community] += weight;
                } else {
                    adjacency[community].push((other_community, weight));
                }
            }
        }
        for row in &mut adjacency {
            *row = merge_row(std::mem::take(row));
        }
        Level {
            adjacency,
            self_loops,
        }
    }
}

/// Renumbers community ids densely in order of first appearance.
fn renumber(assignment: &[usize]) -> (Vec<usize>, usize) {
    let mut fresh = vec![usize::MAX; assignment.len()];
    let mut next = 0;
    let dense = assignment
        .iter()
        .map(|&community| {
            if fresh[community] == usize::MAX {
                fresh[community] = next;
                next += 1;
            }
            fresh[community]
        })
        .collect();
    (dense, next)
}

/// Final ids: largest community 0, ties to the one holding the earliest node.
fn label_by_size(membership: &[usize]) -> Vec<u32> {
    let n_communities = membership.iter().max().map_or(0, |max| max + 1);
    let mut size = vec![0usize; n_communities];
    let mut first = vec![usize::MAX; n_communities];
    for (node, &community) in membership.iter().enumerate() {
        size[community] += 1;
        first[community] = first[community].min(node);
    }
    let mut ranked: Vec<usize> = (0..n_communities).filter(|&c| size[c] > 0).collect();
    ranked.sort_by(|&left, &right| {
        size[right]
            .cmp(&size[left])
            .then(first[left].cmp(&first[right]))
    });
    let mut label = vec![0u32; n_communities];
    for (rank, community) in ranked.into_iter().enumerate() {
        label[community] = dense_u32(rank);
    }
    membership
        .iter()
        .map(|&community| label[community])
        .collect()
}

/// Escapes text for element content, and for attribute values in either
/// quote style.
fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(ch),
            ch if is_xml_char(ch) => out.push(ch),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// The characters XML 1.0 allows in a document.
fn is_xml_char(ch: char) -> bool {
    matches!(ch as u32, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// Which elements a `<key>` applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyDomain {
    Node,
    Edge,
    /// `for="all"`, `for="graph"` or none given.
    Other,
}

#[derive(Debug)]
struct KeyDeclaration {
    domain: KeyDomain,
    /// `attr.name`, lower-cased.
    name: String,
    default: Option<String>,
}

#[derive(Debug)]
struct RawElement {
    position: u64,
    xml_id: String,
    source: String,
    target: String,
    /// (key id, value, position of the `<data>`)
    data: Vec<(String, String, u64)>,
}

#[derive(Debug, Default)]
struct ParsedGraphMl {
    keys: HashMap<String, KeyDeclaration>,
    nodes: Vec<RawElement>,
    edges: Vec<RawElement>,
}

/// Where text being read belongs.
#[derive(Debug)]
enum Capture {
    /// A `<data key>` of the current node or edge.
    Data { key: String, position: u64 },
    /// The `<default>` of the current `<key>`.
    Default,
}

/// What the reader is inside of while it walks the document.
#[derive(Debug)]
struct GraphMlReader<'x> {
    xml: &'x str,
    parsed: ParsedGraphMl,
    saw_graph: bool,
    /// The id of the `<key>` being read.
    current_key: Option<String>,
    /// `Some(KeyDomain::Node)` inside a `<node>`, `Some(KeyDomain::Edge)` inside an `<edge>`.
    current_owner: Option<KeyDomain>,
    capture: Option<Capture>,
    text: String,
}

fn parse_graphml(xml: &str) -> Result<ParsedGraphMl, ViewError> {
    let mut reader = Reader::from_str(xml);
    let mut state = GraphMlReader {
        xml,
        parsed: ParsedGraphMl::default(),
        saw_graph: false,
        current_key: None,
        current_owner: None,
        capture: None,
        text: String::new(),
    };
    let mut open_elements: Vec<String> = Vec::new();
    loop {
        let position = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|error| ViewError::xml(xml, reader.error_position(), error.to_string()))?;
        match event {
            Event::Eof => break,
            Event::Start(element) => {
                state.open(&element, position)?;
                open_elements.push(element.local_name().as_ref().to_owned());
            }
            Event::Empty(element) => {
                state.open(&element, position)?;
                state.close(element.local_name().as_ref());
            }
            Event::End(element) => {
                open_elements.pop();
                state.close(element.local_name().as_ref());
            }
            Event::Text(content) if state.capture.is_some() => {
                state.text.push_str(&content.xml10_content());
            }
            Event::CData(content) if state.capture.is_some() => {
                state.text.push_str(&content.xml10_content());
            }
            Event::GeneralRef(reference) if state.capture.is_some() => {
                let resolved = if reference.is_char_ref() {
                    reference
                        .resolve_char_ref()
                        .map_err(|error| ViewError::xml(xml, position, error.to_string()))?
                } else {
                    match &*reference {
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "amp" => Some('&'),
                        "apos" => Some('\''),
                        "quot" => Some('"'),
                        _ => None,
                    }
                };
                let Some(ch) = resolved else {
                    return Err(ViewError::xml(
                        xml,
                        position,
                        format!("unknown entity `&{};`", &*reference),
                    ));
                };
                state.text.push(ch);
            }
            _ => {}
        }
    }
    if let Some(unclosed) = open_elements.last() {
        return Err(ViewError::xml(
            xml,
            xml.len() as u64,
            format!("the document ends inside <{unclosed}>"),
        ));
    }
    if !state.saw_graph {
        return Err(ViewError::graphml(xml, 0, "no <graph> element".to_owned()));
    }
    Ok(state.parsed)
}

impl GraphMlReader<'_> {
    fn open(&mut self, element: &BytesStart<'_>, position: u64) -> Result<(), ViewError> {
        let xml = self.xml;
        let attribute = |wanted: &str| -> Result<Option<String>, ViewError> {
            for attribute in element.attributes() {
                let attribute =
                    attribute.map_err(|error| ViewError::xml(xml, position, error.to_string()))?;
                if attribute.key.local_name().as_ref() == wanted {
                    let value = attribute
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|error| ViewError::xml(xml, position, error.to_string()))?;
                    return Ok(Some(value.into_owned()));
                }
            }
            Ok(None)
        };
        let required = |wanted: &str, what: &str| -> Result<String, ViewError> {
            attribute(wanted)?.ok_or_else(|| {
                ViewError::graphml(xml, position, format!("<{what}> without `{wanted}`"))
            })
        };
        self.text.clear();
        match element.local_name().as_ref() {
            "graph" => self.saw_graph = true,
            "key" => {
                let id = required("id", "key")?;
                let domain = match attribute("for")?.as_deref() {
                    Some("node") => KeyDomain::Node,
                    Some("edge") => KeyDomain::Edge,
                    _ => KeyDomain::Other,
                };
                let name = attribute("attr.name")?.unwrap_or_else(|| id.clone());
                self.parsed.keys.insert(
                    id.clone(),
                    KeyDeclaration {
                        domain,
                        name: name.to_lowercase(),
                        default: None,
                    },
                );
                self.current_key = Some(id);
            }
            "default" if self.current_key.is_some() => self.capture = Some(Capture::Default),
            "node" => {
                self.parsed.nodes.push(RawElement {
                    position,
                    xml_id: required("id", "node")?,
                    source: String::new(),
                    target: String::new(),
                    data: Vec::new(),
                });
                self.current_owner = Some(KeyDomain::Node);
            }
            "edge" => {
                self.parsed.edges.push(RawElement {
                    position,
                    xml_id: attribute("id")?.unwrap_or_default(),
                    source: required("source", "edge")?,
                    target: required("target", "edge")?,
                    data: Vec::new(),
                });
                self.current_owner = Some(KeyDomain::Edge);
            }
            "data" if self.current_owner.is_some() => {
                self.capture = Some(Capture::Data {
                    key: required("key", "data")?,
                    position,
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn close(&mut self, name: &str) {
        match name {
            "node" | "edge" => self.current_owner = None,
            "key" => self.current_key = None,
            "default" => {
                if let (Some(Capture::Default), Some(key_id)) =
                    (self.capture.take(), self.current_key.as_ref())
                    && let Some(declaration) = self.parsed.keys.get_mut(key_id)
                {
                    declaration.default = Some(std::mem::take(&mut self.text));
                }
            }
            "data" => {
                if let Some(Capture::Data { key, position }) = self.capture.take() {
                    let owner = match self.current_owner {
                        Some(KeyDomain::Node) => self.parsed.nodes.last_mut(),
                        Some(KeyDomain::Edge) => self.parsed.edges.last_mut(),
                        _ => None,
                    };
                    if let Some(owner) = owner {
                        owner
                            .data
                            .push((key, std::mem::take(&mut self.text), position));
                    }
                }
            }
            _ => {}
        }
    }
}

impl ParsedGraphMl {
    /// The attributes of one element by lower-cased attribute name: the
    /// key defaults of its domain, overridden by its own `<data>`.
    fn attributes(
        &self,
        element: &RawElement,
        domain: KeyDomain,
    ) -> HashMap<String, (String, u64)> {
        let mut values: HashMap<String, (String, u64)> = HashMap::new();
        for declaration in self.keys.values() {
            if let Some(default) = &declaration.default
                && (declaration.domain == domain || declaration.domain == KeyDomain::Other)
            {
                values
                    .entry(declaration.name.clone())
                    .or_insert_with(|| (default.clone(), element.position));
            }
        }
        for (key_id, value, position) in &element.data {
            let name = match self.keys.get(key_id) {
                Some(declaration) => declaration.name.clone(),
                None => key_id.to_lowercase(),
            };
            values.insert(name, (value.clone(), *position));
        }
        values
    }

    fn into_view(self, xml: &str) -> Result<GraphView, ViewError> {
        let numbered = |xml_id: &str| -> Option<i64> {
            xml_id
                .strip_prefix('n')
                .unwrap_or(xml_id)
                .parse::<i64>()
                .ok()
        };
        let mut ids: HashMap<&str, i64> = HashMap::new();
        let mut taken: std::collections::HashSet<i64> = std::collections::HashSet::new();
        for node in &self.nodes {
            if let Some(id) = numbered(&node.xml_id)
                && !ids.contains_key(node.xml_id.as_str())
                && taken.insert(id)
            {
                ids.insert(&node.xml_id, id);
            }
        }
        let mut next_id = taken.iter().max().map_or(0, |max| max.saturating_add(1));
        for node in &self.nodes {
            if !ids.contains_key(node.xml_id.as_str()) {
                ids.insert(&node.xml_id, next_id);
                next_id = next_id.saturating_add(1);
            }
        }

        let mut nodes = Vec::with_capacity(self.nodes.len());
        for raw in &self.nodes {
            let attributes = self.attributes(raw, KeyDomain::Node);
            let text = |name: &str| attributes.get(name).map(|(value, _)| value.clone());
            let name = text("name")
                .or_else(|| text("label"))
                .or_else(|| text("key"))
                .unwrap_or_else(|| raw.xml_id.clone());
            let weight = match attributes.get("weight") {
                Some((value, position)) => parse_number(xml, value, *position, "weight")?,
                None => 0.0,
            };
            nodes.push(Node {
                id: ids[raw.xml_id.as_str()],
                key: text("key").unwrap_or_else(|| name.clone()),
                name,
                kind: text("kind").unwrap_or_default(),
                weight,
            });
        }

        let mut edges = Vec::with_capacity(self.edges.len());
        for raw in &self.edges {
            let end = |xml_id: &str| {
                ids.get(xml_id).copied().ok_or_else(|| {
                    ViewError::graphml(
                        xml,
                        raw.position,
                        format!("edge refers to undeclared node `{xml_id}`"),
                    )
                })
            };
            let (source, target) = (end(&raw.source)?, end(&raw.target)?);
            let attributes = self.attributes(raw, KeyDomain::Edge);
            let relation = match (attributes.get("relation"), attributes.get("label")) {
                (Some((value, position)), _) => value
                    .parse::<Relation>()
                    .map_err(|error| ViewError::graphml(xml, *position, error.to_string()))?,
                (None, Some((label, _))) => label.parse().unwrap_or(Relation::RelatedTo),
                (None, None) => Relation::RelatedTo,
            };
            let weight = match attributes.get("weight") {
                Some((value, position)) => parse_number(xml, value, *position, "weight")?,
                None => 1.0,
            };
            let evidence = match attributes.get("evidence") {
                Some((value, position)) => {
                    let number = parse_number(xml, value, *position, "evidence")?;
                    if !(number >= 0.0 && number <= f64::from(u32::MAX) && number.fract() == 0.0) {
                        return Err(ViewError::graphml(
                            xml,
                            *position,
                            format!("evidence `{value}` is not a count"),
                        ));
                    }
                    number as u32
                }
                None => 1,
            };
            edges.push(Edge {
                source,
                target,
                relation,
                weight,
                evidence,
            });
        }
        Ok(GraphView::new(nodes, edges))
    }
}

fn parse_number(xml: &str, value: &str, position: u64, what: &str) -> Result<f64, ViewError> {
    value
        .trim()
        .parse::<f64>()
        .map_err(|_| ViewError::graphml(xml, position, format!("{what} `{value}` is not a number")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Relation::*;

    fn node(id: i64, name: &str) -> Node {
        Node {
            id,
            key: name.to_lowercase(),
            name: name.to_owned(),
            kind: "library".to_owned(),
            weight: 1.0,
        }
    }

    fn edge(source: i64, target: i64, relation: Relation, weight: f64) -> Edge {
        Edge {
            source,
            target,
            relation,
            weight,
            evidence: 1,
        }
    }

    fn names(nodes: &[Node]) -> Vec<&str> {
        nodes.iter().map(|node| node.name.as_str()).collect()
    }

    #[test]
    fn loading_drops_bad_edges_merges_duplicates_and_orders_symmetric_pairs() {
        let view = GraphView::new(
            vec![node(1, "a"), node(2, "b"), node(1, "duplicate")],
            vec![
                edge(2, 1, UsedWith, 1.0),
                edge(1, 2, UsedWith, 0.5),
                edge(2, 1, DependsOn, 1.0),
                edge(1, 1, IsA, 1.0),
                edge(1, 9, IsA, 1.0),
            ],
        );
        assert_eq!(names(view.nodes()), ["a", "b"]);
        assert_eq!(
            view.edges(),
            [
                Edge {
                    source: 1,
                    target: 2,
                    relation: UsedWith,
                    weight: 1.5,
                    evidence: 2
                },
                edge(2, 1, DependsOn, 1.0),
            ]
        );
        assert_eq!(view.index_of(2), Some(1));
        assert_eq!(view.node(2).map(|n| n.name.as_str()), Some("b"));
        assert!(view.node(9).is_none());
    }

    #[test]
    fn neighbours_come_strongest_first_and_filter_by_relation() {
        let view = GraphView::new(
            vec![
                node(1, "keras"),
                node(2, "tensorflow"),
                node(3, "pytorch"),
                node(4, "numpy"),
            ],
            vec![
                edge(1, 2, DependsOn, 5.0),
                edge(1, 3, AlternativeTo, 2.0),
                edge(4, 1, RelatedTo, 2.0),
            ],
        );
        let all = view.neighbours(1, None, 10);
        assert_eq!(
            all.iter()
                .map(|n| (n.node.name.as_str(), n.outgoing))
                .collect::<Vec<_>>(),
            [("tensorflow", true), ("numpy", true), ("pytorch", true)]
        );
        let typed = view.neighbours(2, Some(DependsOn), 10);
        assert_eq!(typed.len(), 1);
        assert!(
            !typed[0].outgoing,
            "keras depends on tensorflow, not the reverse"
        );
        assert_eq!(view.neighbours(1, None, 1).len(), 1);
        assert!(view.neighbours(99, None, 10).is_empty());
    }

    #[test]
    fn a_typed_two_hop_path_beats_a_weak_co_occurrence() {
        // keras -depends_on-> tensorflow -is_a-> framework, against one weak
        // keras -related_to- framework edge and a related_to chain.
        let view = GraphView::new(
            vec![
                node(1, "keras"),
                node(2, "tensorflow"),
                node(3, "framework"),
                node(4, "blog"),
            ],
            vec![
                edge(1, 2, DependsOn, 1.0),
                edge(2, 3, IsA, 1.0),
                edge(1, 3, RelatedTo, 1.0),
                edge(1, 4, RelatedTo, 1.0),
                edge(4, 3, RelatedTo, 1.0),
            ],
        );
        let path = view.shortest_path(1, 3, 4).expect("connected");
        assert_eq!(names(&path.nodes), ["keras", "tensorflow", "framework"]);
        assert_eq!(
            path.edges,
            [edge(1, 2, DependsOn, 1.0), edge(2, 3, IsA, 1.0)]
        );
        let expected = 2.0 * TYPED_EDGE_COST / (1.0 + 2f64.ln());
        assert!((path.cost - expected).abs() < 1e-12, "{}", path.cost);

        // With one hop allowed only the co-occurrence is left.
        let direct = view.shortest_path(1, 3, 1).expect("one hop");
        assert_eq!(direct.edges, [edge(1, 3, RelatedTo, 1.0)]);
        // A very strong co-occurrence wins over weak typed hops.
        let strong = GraphView::new(
            view.nodes().to_vec(),
            vec![
                edge(1, 2, DependsOn, 0.0),
                edge(2, 3, IsA, 0.0),
                edge(1, 3, RelatedTo, 100.0),
            ],
        );
        assert_eq!(
            strong
                .shortest_path(1, 3, 4)
                .expect("connected")
                .edges
                .len(),
            1
        );
    }

    #[test]
    fn paths_keep_true_edge_direction_and_respect_the_hop_limit() {
        let view = GraphView::new(
            (1..=4).map(|id| node(id, &format!("n{id}"))).collect(),
            vec![
                edge(2, 1, DependsOn, 1.0),
                edge(2, 3, DependsOn, 1.0),
                edge(4, 3, Solves, 1.0),
            ],
        );
        let path = view.shortest_path(1, 4, 3).expect("three hops");
        assert_eq!(names(&path.nodes), ["n1", "n2", "n3", "n4"]);
        assert_eq!(
            path.edges[0],
            edge(2, 1, DependsOn, 1.0),
            "walked against its direction"
        );
        assert!(view.shortest_path(1, 4, 2).is_none());
        let itself = view.shortest_path(3, 3, 0).expect("trivial path");
        assert_eq!(
            (itself.nodes.len(), itself.edges.len(), itself.cost),
            (1, 0, 0.0)
        );
        assert!(view.shortest_path(1, 42, 5).is_none());
    }

    #[test]
    fn hop_limited_paths_find_a_dearer_route_that_fits() {
        // Cheapest to c is the long way round (a-x-y-c), but with 3 hops to
        // reach d from a only the direct, dearer a-c edge leaves room.
        let view = GraphView::new(
            vec![
                node(1, "a"),
                node(2, "x"),
                node(3, "y"),
                node(4, "c"),
                node(5, "d"),
            ],
            vec![
                edge(1, 2, IsA, 50.0),
                edge(2, 3, IsA, 50.0),
                edge(3, 4, IsA, 50.0),
                edge(1, 4, RelatedTo, 0.0),
                edge(4, 5, IsA, 50.0),
            ],
        );
        assert_eq!(view.shortest_path(1, 4, 5).expect("path").edges.len(), 3);
        let limited = view.shortest_path(1, 5, 2).expect("fits in two hops");
        assert_eq!(names(&limited.nodes), ["a", "c", "d"]);
    }

    #[test]
    fn subgraph_grows_by_rings_and_caps_on_the_strongest_edges() {
        let view = GraphView::new(
            (1..=6).map(|id| node(id, &format!("n{id}"))).collect(),
            vec![
                edge(1, 2, RelatedTo, 1.0),
                edge(1, 3, RelatedTo, 9.0),
                edge(1, 4, RelatedTo, 5.0),
                edge(2, 5, RelatedTo, 1.0),
                edge(5, 6, RelatedTo, 1.0),
            ],
        );
        let one_hop = view.subgraph(&[1], 1, 100);
        assert_eq!(names(one_hop.nodes()), ["n1", "n2", "n3", "n4"]);
        assert_eq!(one_hop.edges().len(), 3);
        let capped = view.subgraph(&[1], 1, 3);
        assert_eq!(names(capped.nodes()), ["n1", "n3", "n4"]);
        let two_hops = view.subgraph(&[1, 77], 2, 100);
        assert_eq!(names(two_hops.nodes()), ["n1", "n2", "n3", "n4", "n5"]);
        assert!(view.subgraph(&[1, 2], 3, 0).nodes().is_empty());
        assert_eq!(view.subgraph(&[6], 0, 10).nodes().len(), 1);
    }

    #[test]
    fn pagerank_sums_to_one_and_ranks_the_hub_first() {
        let mut edges: Vec<Edge> = (2..=6).map(|leaf| edge(1, leaf, RelatedTo, 1.0)).collect();
        edges.push(edge(2, 3, RelatedTo, 1.0));
        let mut nodes: Vec<Node> = (1..=6).map(|id| node(id, &format!("n{id}"))).collect();
        nodes.push(node(7, "isolated"));
        let view = GraphView::new(nodes, edges);
        let ranks = view.pagerank(0.85, 100);
        assert_eq!(ranks.len(), 7);
        assert!((ranks.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let hub = ranks[0];
        assert!(ranks[1..].iter().all(|&rank| rank < hub), "{ranks:?}");
        assert!(ranks[6] > 0.0, "the isolated node keeps the teleport share");
        assert!(GraphView::new(vec![], vec![]).pagerank(0.85, 10).is_empty());
    }

    fn two_cliques() -> GraphView {
        let mut edges = Vec::new();
        for group in [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]] {
            for (position, &source) in group.iter().enumerate() {
                for &target in &group[position + 1..] {
                    edges.push(edge(source, target, RelatedTo, 1.0));
                }
            }
        }
        edges.push(edge(5, 6, RelatedTo, 1.0));
        GraphView::new(
            (1..=10).map(|id| node(id, &format!("n{id}"))).collect(),
            edges,
        )
    }

    #[test]
    fn louvain_finds_two_planted_cliques_joined_by_one_edge() {
        let view = two_cliques();
        for seed in [0, 1, 7, 42] {
            let communities = view.communities(seed);
            assert_eq!(communities, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1], "seed {seed}");
            let quality = view.modularity(&communities);
            assert!(quality > 0.3, "{quality}");
        }
        assert_eq!(view.communities(3), view.communities(3));
    }

    #[test]
    fn louvain_merges_levels_on_a_ring_of_cliques() {
        // Eight triangles in a ring: the first level finds the triangles at
        // best, later levels may merge neighbours; modularity must not drop
        // below the triangles' own.
        let mut edges = Vec::new();
        for clique in 0..8i64 {
            let base = clique * 3;
            edges.push(edge(base, base + 1, RelatedTo, 1.0));
            edges.push(edge(base + 1, base + 2, RelatedTo, 1.0));
            edges.push(edge(base, base + 2, RelatedTo, 1.0));
            edges.push(edge(base + 2, (base + 3) % 24, RelatedTo, 1.0));
        }
        let view = GraphView::new(
            (0..24).map(|id| node(id, &format!("n{id}"))).collect(),
            edges,
        );
        let communities = view.communities(5);
        let triangles: Vec<u32> = (0..24).map(|id| (id / 3) as u32).collect();
        assert!(view.modularity(&communities) >= view.modularity(&triangles) - 1e-9);
        let n_communities = communities.iter().max().map_or(0, |max| max + 1);
        let sizes: Vec<usize> = (0..n_communities)
            .map(|c| communities.iter().filter(|&&x| x == c).count())
            .collect();
        assert!(
            sizes.windows(2).all(|pair| pair[0] >= pair[1]),
            "ids by size: {sizes:?}"
        );
    }

    #[test]
    fn modularity_edge_cases() {
        let view = two_cliques();
        assert!(
            view.modularity(&[0; 10]).abs() < 1e-12,
            "one community scores 0"
        );
        assert!(view.modularity(&[0; 3]).is_nan());
        let lonely = GraphView::new(vec![node(1, "a"), node(2, "b")], vec![]);
        assert_eq!(lonely.communities(0), [0, 1]);
        assert_eq!(lonely.modularity(&[0, 1]), 0.0);
    }

    fn awkward() -> GraphView {
        let mut tricky = node(2, "<T> & \"quotes\" 'single'");
        tricky.key = "c++".to_owned();
        tricky.kind = "类型".to_owned();
        let mut spaced = node(3, "  line\nbreak\r\n\ttab  ");
        spaced.weight = 0.1 + 0.2;
        GraphView::new(
            vec![node(1, "C++"), tricky, spaced, node(4, "机器学习")],
            vec![
                Edge {
                    source: 1,
                    target: 2,
                    relation: DependsOn,
                    weight: 2.5,
                    evidence: 7,
                },
                edge(3, 1, AlternativeTo, 1.0),
                edge(4, 2, RelatedTo, 0.125),
            ],
        )
    }

    #[test]
    fn graphml_round_trips_nodes_edges_and_escaped_names() {
        let view = awkward();
        let xml = view.to_graphml();
        assert!(xml.contains("<key id=\"name\" for=\"node\" attr.name=\"name\""));
        assert!(xml.contains("&lt;T&gt; &amp; &quot;quotes&quot;"));
        let back = GraphView::from_graphml(&xml).expect("reads its own output");
        assert_eq!(back.nodes(), view.nodes());
        assert_eq!(back.edges(), view.edges());

        let empty = GraphView::new(Vec::new(), Vec::new());
        let back = GraphView::from_graphml(&empty.to_graphml()).expect("an empty graph is a graph");
        assert!(back.nodes().is_empty() && back.edges().is_empty());
    }

    #[test]
    fn graphml_from_other_tools_takes_defaults() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
  <key id="label" for="node" attr.name="label" attr.type="string"/>
  <key id="kind" for="node" attr.name="kind" attr.type="string"><default>concept</default></key>
  <key id="w" for="edge" attr.name="weight" attr.type="double"/>
  <graph edgedefault="undirected">
    <node id="rust"><data key="label">Rust</data></node>
    <node id="n7"/>
    <node id="cargo"><data key="kind">tool</data></node>
    <edge source="cargo" target="rust"><data key="w">3.0</data></edge>
    <edge source="n7" target="rust"/>
  </graph>
</graphml>"#;
        let view = GraphView::from_graphml(xml).expect("lenient read");
        let rust = &view.nodes()[0];
        assert_eq!(
            (rust.name.as_str(), rust.key.as_str(), rust.kind.as_str()),
            ("Rust", "Rust", "concept")
        );
        assert_eq!(
            rust.id, 8,
            "non-numeric ids are numbered above the largest numeric one"
        );
        assert_eq!(view.nodes()[1].id, 7);
        assert_eq!(view.nodes()[1].name, "n7");
        assert_eq!(view.nodes()[2].kind, "tool");
        assert_eq!(
            view.edges(),
            [
                Edge {
                    source: 8,
                    target: 9,
                    relation: RelatedTo,
                    weight: 3.0,
                    evidence: 1
                },
                Edge {
                    source: 7,
                    target: 8,
                    relation: RelatedTo,
                    weight: 1.0,
                    evidence: 1
                },
            ]
        );
    }

    #[test]
    fn malformed_graphml_is_an_error_with_its_position() {
        let unclosed = "<graphml><graph>\n<node id=\"n1\"></graph></graphml>";
        match GraphView::from_graphml(unclosed) {
            Err(ViewError::Xml { line, position, .. }) => {
                assert_eq!(line, 2);
                assert!(position > 0);
            }
            other => panic!("expected an XML error, got {other:?}"),
        }
        assert!(matches!(
            GraphView::from_graphml("<graphml><graph><node id=\"1\">"),
            Err(ViewError::Xml { .. })
        ));
        let garbage = GraphView::from_graphml("not xml at all <<").expect_err("garbage");
        assert!(matches!(garbage, ViewError::Xml { .. }), "{garbage}");
        assert!(matches!(
            GraphView::from_graphml("<graphml/>"),
            Err(ViewError::GraphMl { .. })
        ));
        let bad_edge = "<graphml><graph><node id=\"n1\"/>\n<edge source=\"n1\" target=\"n2\"/></graph></graphml>";
        match GraphView::from_graphml(bad_edge) {
            Err(error @ ViewError::GraphMl { line: 2, .. }) => {
                assert!(error.to_string().contains("n2"), "{error}");
            }
            other => panic!("expected a GraphML error on line 2, got {other:?}"),
        }
        let bad_relation = "<graphml><key id=\"r\" for=\"edge\" attr.name=\"relation\"/><graph><node id=\"1\"/><node id=\"2\"/><edge source=\"1\" target=\"2\"><data key=\"r\">likes</data></edge></graph></graphml>";
        let error = GraphView::from_graphml(bad_relation).expect_err("unknown relation");
        assert!(error.to_string().contains("depends_on"), "{error}");
        let bad_weight = "<graphml><key id=\"w\" for=\"node\" attr.name=\"weight\"/><graph><node id=\"1\"><data key=\"w\">heavy</data></node></graph></graphml>";
        assert!(matches!(
            GraphView::from_graphml(bad_weight),
            Err(ViewError::GraphMl { .. })
        ));
    }

    #[test]
    fn json_has_the_d3_shape() {
        let view = GraphView::new(
            vec![node(1, "flask"), node(2, "jinja")],
            vec![edge(1, 2, DependsOn, 2.0)],
        );
        assert_eq!(
            view.to_json(),
            serde_json::json!({
                "nodes": [
                    {"id": 1, "key": "flask", "name": "flask", "kind": "library", "weight": 1.0},
                    {"id": 2, "key": "jinja", "name": "jinja", "kind": "library", "weight": 1.0},
                ],
                "links": [
                    {"source": 1, "target": 2, "relation": "depends_on", "weight": 2.0, "evidence": 1},
                ],
            })
        );
    }

    #[test]
    fn dense_edges_are_undirected_and_deduplicated_across_relations() {
        let view = GraphView::new(
            vec![node(10, "a"), node(20, "b"), node(30, "c")],
            vec![
                edge(20, 10, DependsOn, 1.0),
                edge(10, 20, RelatedTo, 1.0),
                edge(30, 20, IsA, 1.0),
            ],
        );
        assert_eq!(view.dense_edges(), [(0, 1), (1, 2)]);
    }

    mod round_trip {
        use super::*;
        use proptest::prelude::*;

        /// Names from every script plus the characters XML cares about;
        /// only characters XML 1.0 can carry.
        fn xml_name() -> impl Strategy<Value = String> {
            proptest::collection::vec(
                prop_oneof![
                    any::<char>().prop_filter("XML 1.0 character", |ch| is_xml_char(*ch)),
                    prop::sample::select(vec![
                        '<', '>', '&', '"', '\'', '\r', '\n', '\t', ' ', ']'
                    ]),
                ],
                0..24,
            )
            .prop_map(|chars| chars.into_iter().collect())
        }

        proptest! {
            #[test]
            fn graphml_round_trips_arbitrary_names(
                names in proptest::collection::vec(xml_name(), 1..6),
                kind in xml_name(),
                weight in -1e9f64..1e9,
            ) {
                let nodes: Vec<Node> = names
                    .iter()
                    .enumerate()
                    .map(|(position, name)| Node {
                        id: position as i64 - 2,
                        key: name.to_lowercase(),
                        name: name.clone(),
                        kind: kind.clone(),
                        weight,
                    })
                    .collect();
                let edges: Vec<Edge> = (1..nodes.len() as i64)
                    .map(|target| edge(-2, target - 2, Relation::ALL[target as usize % 9], weight))
                    .collect();
                let view = GraphView::new(nodes, edges);
                let back = GraphView::from_graphml(&view.to_graphml()).expect("own output");
                prop_assert_eq!(back.nodes(), view.nodes());
                prop_assert_eq!(back.edges(), view.edges());
            }
        }
    }
}
