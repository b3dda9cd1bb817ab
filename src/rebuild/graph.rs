//! The build order of a rebuild: input B depends on input A when B needs a
//! name A makes. Cycles are found as strongly connected components
//! (Tarjan); with `--break-cycles` the members of a cycle are built in the
//! order they were given, each depending only on the members before it.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::input::Node;

/// The dependencies between inputs (indices into the inputs).
#[derive(Debug, Clone, Serialize)]
pub struct Graph {
    /// `deps[b]`: the inputs `b` waits for.
    pub deps: Vec<BTreeSet<usize>>,
    /// Cycles (two or more inputs, or one that needs itself is not one:
    /// a package may build-depend on its own older build), in input order.
    pub cycles: Vec<Vec<usize>>,
}

impl Graph {
    pub fn new(nodes: &[Node]) -> Graph {
        let mut maker: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            for m in &n.makes {
                maker.entry(m.as_str()).or_default().push(i);
            }
        }
        let deps: Vec<BTreeSet<usize>> = nodes
            .iter()
            .enumerate()
            .map(|(b, n)| {
                n.needs
                    .iter()
                    .flat_map(|name| maker.get(name.as_str()).into_iter().flatten())
                    .copied()
                    .filter(|&a| a != b)
                    .collect()
            })
            .collect();
        let cycles = components(&deps)
            .into_iter()
            .filter(|c| c.len() > 1)
            .collect();
        Graph { deps, cycles }
    }

    /// Drops, inside each cycle, the edges from a member to members given
    /// after it: the cycle builds in input order.
    pub fn break_cycles(&mut self) {
        for cycle in &self.cycles {
            for &b in cycle {
                self.deps[b].retain(|a| !(cycle.contains(a) && *a > b));
            }
        }
    }

    /// Everything that depends on `i`, directly or not.
    pub fn dependents(&self, i: usize) -> BTreeSet<usize> {
        let mut found = BTreeSet::new();
        let mut todo = vec![i];
        while let Some(x) = todo.pop() {
            for (b, d) in self.deps.iter().enumerate() {
                if d.contains(&x) && found.insert(b) {
                    todo.push(b);
                }
            }
        }
        found
    }

    /// A build order: each input after what it depends on, otherwise in
    /// input order. `None` while there are cycles.
    pub fn order(&self) -> Option<Vec<usize>> {
        let mut done = vec![false; self.deps.len()];
        let mut order = Vec::new();
        while order.len() < self.deps.len() {
            let next = (0..self.deps.len())
                .find(|&i| !done[i] && self.deps[i].iter().all(|&d| done[d]))?;
            done[next] = true;
            order.push(next);
        }
        Some(order)
    }
}

/// Tarjan's strongly connected components of `deps`, each sorted.
fn components(deps: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        deps: &'a [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in s.deps[v].iter() {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                _ => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut c = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                c.push(w);
                if w == v {
                    break;
                }
            }
            c.sort_unstable();
            s.out.push(c);
        }
    }
    let n = deps.len();
    let mut s = State {
        deps,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.out.sort();
    s.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, needs: &[&str], makes: &[&str]) -> Node {
        Node {
            path: name.into(),
            name: name.into(),
            source: name.into(),
            sha256: String::new(),
            needs: needs.iter().map(|s| s.to_string()).collect(),
            makes: makes.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn order_cycles_and_breaking_them() {
        let nodes = [
            node("b", &["liba-devel", "gcc"], &["b"]),
            node("a", &["gcc"], &["a", "liba-devel"]),
            node("c", &["d"], &["c"]),
            node("d", &["c", "d"], &["d"]),
            node("e", &["c"], &["e"]),
        ];
        let mut g = Graph::new(&nodes);
        assert_eq!(g.deps[0], BTreeSet::from([1]));
        assert_eq!(g.cycles, vec![vec![2, 3]]);
        assert_eq!(g.order(), None);
        assert_eq!(g.dependents(2), BTreeSet::from([2, 3, 4]));
        g.break_cycles();
        assert_eq!(g.order(), Some(vec![1, 0, 2, 3, 4]));
    }
}
