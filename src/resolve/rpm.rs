//! The RPM dependency resolver: which packages of a universe (the
//! `primary.xml` of a root's repositories) to install for a request,
//! following rpm, dnf and libsolv, with [resolvo] as the SAT solver.
//!
//! - `Requires` are followed to a closure. Every package provides
//!   `name = epoch:version-release`; an unversioned Provides satisfies any
//!   versioned Requires, and two versioned ones must overlap as rpm's
//!   `rpmdsCompare` decides. A path (`/usr/bin/sh`) is also satisfied by a
//!   package whose `files` have it.
//! - Rich dependencies (`(a or b)`, `if`, `unless`, `else`, `with`,
//!   `without`, see `rpm/rich.rs`) hold in Requires, Recommends and the
//!   request; `if` uses resolvo's conditional requirements.
//! - `Conflicts` forbid installing together, on names and Provides, within
//!   their version range; `Obsoletes` do the same on package names only.
//!   A package never conflicts with itself.
//! - The root is single-arch: candidates are the root's arch and `noarch`.
//! - One version per name, newest first (ties: the root's arch before
//!   `noarch`, then the earlier universe entry). Among several packages
//!   providing a capability the solver keeps one already chosen or
//!   installed, else tries the package named like the capability, then
//!   the others by name. The result is deterministic.
//!
//! Not done: multilib (no `i686` next to `x86_64`), repository priorities
//! and dnf's other "best candidate" policies, Suggests and Enhances (dnf
//! ignores them too), rich Conflicts with `and`/`if`/`unless` and rich
//! Supplements with `if`/`unless` (both ignored), and weak dependencies one
//! at a time: when one cannot be met, all are dropped.
//!
//! How dependencies map onto resolvo is described in `rpm/provider.rs`.

mod byname;
mod provider;
mod rich;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use resolvo::{ConditionalRequirement, Requirement};

use super::provider::SolverIndex;
use crate::repo::rpmmd::{RpmDep, RpmPackage};
use crate::resolve::closest;
use crate::version::rpm::{Evr, Flags};
use provider::{DepSet, Field, Index};
pub use rich::{Cap, Op, RichDep, RichError, RichProblem, parse_rich};

/// What to install into a root.
#[derive(Debug, Clone, Default)]
pub struct RpmRequest<'a> {
    /// The root's rpm arch (`aarch64`, `x86_64`, …); candidates are packages
    /// of this arch and `noarch` (no multilib).
    pub arch: &'a str,
    /// What the user asked for, as dnf accepts it: a package name (`bash`),
    /// a capability (`/usr/bin/sh`, `pkgconfig(zlib)`), a versioned
    /// dependency with spaces around the operator (`foo >= 1.2`),
    /// `name.arch`, `name-[epoch:]version[-release][.arch]`, or a rich
    /// dependency (`(a or b)`). Group expansion is the caller's.
    ///
    /// A name another package obsoletes installs that package instead (the
    /// last of a chain of renames), as dnf does, unless the name is
    /// installed or the replacement cannot be installed.
    pub packages: Vec<String>,
    /// Further dependencies, already parsed (e.g. `BuildRequires`).
    pub requires: Vec<RpmDep>,
    /// Follow weak dependencies like dnf's `install_weak_deps`: Recommends,
    /// and the Supplements of packages whose supplemented packages get
    /// installed. They are added as requirements wherever they have a
    /// candidate; if the result cannot be installed, the request is resolved
    /// again without any of them, so weak dependencies never make it fail.
    /// Weak dependencies of installed versions are not followed again, nor
    /// those an updated package's installed version already had.
    pub weak_deps: bool,
    /// Installed packages: `(name, arch, evr)`. Each stays installed (by
    /// name) unless something installed obsoletes it; its version is tried
    /// first, so installing changes nothing it doesn't have to. A name the
    /// repositories do not carry is left out of the solution; an installed
    /// version they no longer carry is replaced by a candidate.
    pub installed: Vec<(String, String, Evr)>,
    /// `update`: prefer the newest versions even for installed packages,
    /// and replace installed packages that another package obsoletes.
    pub upgrade: bool,
}

/// Why a request cannot be resolved.
pub type ResolveError = super::provider::ResolveError<RichError>;

/// Resolves `request` against `universe`. Returns indices into `universe`,
/// sorted by package name and arch.
pub fn resolve(universe: &[RpmPackage], request: &RpmRequest) -> Result<Vec<usize>, ResolveError> {
    let wanted = request
        .packages
        .iter()
        .map(|text| parse_request(text))
        .collect::<Result<Vec<_>, _>>()?;
    let paths = request_paths(&wanted, &request.requires);
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let mut index = Index::new(universe, request.arch, &paths);
    index.set_installed(&request.installed, request.upgrade);
    let roots = root_requirements(&index, request, &wanted)?;
    if request.weak_deps {
        let mut with_weak = roots.clone();
        with_weak.extend(index.supplements());
        if let Ok(found) = solve(&index, &with_weak, true) {
            return Ok(found);
        }
    }
    solve(&index, &roots, false)
}

/// Every file path that a candidate of `arch` requires, recommends or
/// supplements (rich dependencies included) and that no candidate provides
/// or has in its `files`: when this is not empty, `filelists.xml` is
/// needed. Paths in the request itself are the caller's to check.
pub fn unsatisfied_file_requirements(universe: &[RpmPackage], arch: &str) -> BTreeSet<String> {
    Index::new(universe, arch, &[]).unsatisfied_paths()
}

/// One requested package, parsed.
enum Wanted {
    /// A name, capability, path, or NEVRA form.
    Word(String),
    /// A versioned (`foo >= 2`) or rich dependency.
    Dep(RichDep),
}

/// `(…)` is a rich dependency, text with spaces a versioned one (read as
/// the rich dependency `(text)`), anything else a word.
fn parse_request(text: &str) -> Result<Wanted, ResolveError> {
    let text = text.trim();
    let bad = |reason: RichError| ResolveError::BadRequest {
        request: text.to_string(),
        reason: RichError {
            text: text.to_string(),
            ..reason
        },
    };
    if text.starts_with('(') {
        parse_rich(text).map(Wanted::Dep).map_err(bad)
    } else if text.contains(char::is_whitespace) {
        parse_rich(&format!("({text})"))
            .map(Wanted::Dep)
            .map_err(bad)
    } else if text.is_empty() {
        Err(bad(RichError {
            text: String::new(),
            problem: RichProblem::MissingName,
        }))
    } else {
        Ok(Wanted::Word(text.to_string()))
    }
}

/// The file paths the request names.
fn request_paths(wanted: &[Wanted], requires: &[RpmDep]) -> Vec<String> {
    let mut paths = Vec::new();
    let mut add = |cap: &Cap| {
        if cap.is_file() {
            paths.push(cap.name.clone());
        }
    };
    for w in wanted {
        match w {
            Wanted::Word(word) => add(&Cap::plain(word)),
            Wanted::Dep(dep) => dep.caps().into_iter().for_each(&mut add),
        }
    }
    for dep in requires {
        if !dep.is_rich() {
            add(&Cap::of(dep));
        } else if let Ok(rich) = parse_rich(&dep.name) {
            rich.caps().into_iter().for_each(&mut add);
        }
    }
    paths
}

/// The requirements of the request itself.
fn root_requirements(
    index: &Index,
    request: &RpmRequest,
    wanted: &[Wanted],
) -> Result<Vec<ConditionalRequirement>, ResolveError> {
    let mut roots = Vec::new();
    for (w, text) in wanted.iter().zip(&request.packages) {
        match w {
            Wanted::Word(word) => roots.push(requested_word(index, request, word)?.into()),
            Wanted::Dep(dep @ RichDep::Simple(cap)) => {
                if !index.is_known(&cap.name) {
                    return Err(unknown(index, &cap.name));
                }
                index.rich_requirements(dep, text, false, &mut roots);
            }
            Wanted::Dep(dep) => {
                if dep.clauses().is_none() {
                    return Err(ResolveError::BadRequest {
                        request: text.clone(),
                        reason: RichError {
                            text: text.clone(),
                            problem: RichProblem::TooComplex,
                        },
                    });
                }
                index.rich_requirements(dep, text, false, &mut roots);
            }
        }
    }
    for dep in &request.requires {
        index.requirements(dep, false, &mut roots);
    }
    for (name, _, evr) in &request.installed {
        if let Some(id) = index.lookup(name) {
            let own = (id, DepSet::requires(RichDep::Simple(Cap::plain(name))));
            let replacements = index.replacements(name, evr);
            let sets = if request.upgrade {
                replacements.into_iter().chain([own]).collect()
            } else {
                std::iter::once(own).chain(replacements).collect()
            };
            roots.push(index.union_of(sets).0.into());
        }
    }
    Ok(roots)
}

/// The requirement for a requested word, tried as dnf does: a package
/// name, `name.arch` / NEVRA forms, then a capability or path.
fn requested_word(
    index: &Index,
    request: &RpmRequest,
    word: &str,
) -> Result<Requirement, ResolveError> {
    if let Some(id) = index.lookup(word) {
        let own = (id, DepSet::requires(RichDep::Simple(Cap::plain(word))));
        let installed = request.installed.iter().any(|(n, _, _)| n == word);
        let newest = index.package(index.candidates_of(id)[0]);
        let sets = if installed && !request.upgrade {
            vec![own]
        } else {
            let mut sets = index.replacements(word, &newest.evr);
            sets.push(own);
            sets
        };
        return Ok(index.union_of(sets).0);
    }
    if let Some(set) = nevra_set(index, request.arch, word) {
        return Ok(index.union_of(vec![set]).0);
    }
    if index.is_known(word) {
        let dep = RichDep::Simple(Cap::plain(word));
        return Ok(index.union_of(index.sets_for(&dep, Field::Requires)).0);
    }
    Err(unknown(index, word))
}

fn unknown(index: &Index, name: &str) -> ResolveError {
    ResolveError::UnknownPackage {
        name: name.to_string(),
        suggestion: closest(name, index.known_names()),
    }
}

/// The set for a `name.arch`, `name-[e:]v-r[.arch]` or `name-[e:]v[.arch]`
/// request that names existing candidates (dnf's NEVRA, NA, NEVR, NEV
/// forms, in that order). The arch must be the root's or `noarch`; an
/// omitted epoch matches any.
fn nevra_set(index: &Index, arch: &str, word: &str) -> Option<(resolvo::NameId, DepSet)> {
    let with_arch = word
        .rsplit_once('.')
        .filter(|(_, a)| *a == arch || *a == "noarch");
    let mut forms: Vec<(&str, Option<&str>)> = Vec::new();
    if let Some((rest, a)) = with_arch {
        forms.push((rest, Some(a)));
    }
    forms.push((word, None));
    for (text, arch) in forms {
        // NEVR(A), then NA, then NEV(A).
        let splits = [
            text.rsplit_once('-')
                .and_then(|(nev, r)| nev.rsplit_once('-').map(|(n, ev)| (n, Some(ev), Some(r)))),
            arch.map(|_| (text, None, None)),
            text.rsplit_once('-').map(|(n, ev)| (n, Some(ev), None)),
        ];
        for (name, ev, release) in splits.into_iter().flatten() {
            if let Some(found) = nevra_match(index, name, ev, release, arch) {
                return Some(found);
            }
        }
    }
    None
}

/// The set for candidates of `name` with that `[epoch:]version`, release
/// and arch, if there are any.
fn nevra_match(
    index: &Index,
    name: &str,
    ev: Option<&str>,
    release: Option<&str>,
    arch: Option<&str>,
) -> Option<(resolvo::NameId, DepSet)> {
    let id = index.lookup(name)?;
    let (epoch, version) = match ev.map(|ev| ev.split_once(':')) {
        Some(Some((e, v))) => (Some(e.parse::<u64>().ok()?), Some(v)),
        Some(None) => (None, ev),
        None => (None, None),
    };
    let found = index.candidates_of(id).iter().find(|&&s| {
        let pkg = index.package(s);
        arch.is_none_or(|a| pkg.arch == a)
            && version.is_none_or(|v| pkg.evr.version == v)
            && release.is_none_or(|r| pkg.evr.release.as_deref() == Some(r))
            && epoch.is_none_or(|e| pkg.evr.epoch.unwrap_or(0) == e)
    })?;
    let pkg = index.package(*found);
    let range = version.map(|v| {
        let evr = Evr {
            epoch: pkg.evr.epoch,
            version: v.to_string(),
            release: release.map(str::to_string),
        };
        (Flags::Eq, evr)
    });
    let cap = Cap {
        name: name.to_string(),
        range,
    };
    Some((id, DepSet::requires(RichDep::Simple(cap)).with_arch(arch)))
}

/// One solver run. `weak` adds Recommends that have a candidate.
fn solve(
    index: &Index,
    roots: &[ConditionalRequirement],
    weak: bool,
) -> Result<Vec<usize>, ResolveError> {
    let mut found = super::provider::solve(index, roots, weak)
        .map_err(|explanation| ResolveError::Unsatisfiable { explanation })?;
    found.sort_by(|&a, &b| {
        let (pa, pb) = (&index.universe[a], &index.universe[b]);
        (&pa.name, &pa.arch, a).cmp(&(&pb.name, &pb.arch, b))
    });
    Ok(found)
}

/// An order to install `chosen` (indices into `universe`) in, as rpm orders
/// a transaction: each package after the packages it requires (through
/// Requires, rich ones by every name inside, and files), ties by name.
/// Dependency cycles are broken where it hurts least: inside a cycle, the
/// package waiting on the fewest `Requires(pre)` providers goes first,
/// then the one waiting on the fewest providers at all, then by name.
pub fn install_order(universe: &[RpmPackage], chosen: &[usize]) -> Vec<usize> {
    let nodes: Vec<&RpmPackage> = chosen.iter().map(|&i| &universe[i]).collect();
    // Capability name → the nodes that might provide it.
    let mut offered: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, pkg) in nodes.iter().enumerate() {
        let names = std::iter::once(&pkg.name)
            .chain(pkg.provides.iter().map(|p| &p.name))
            .chain(&pkg.files);
        for name in names {
            let list = offered.entry(name.as_str()).or_default();
            if list.last() != Some(&i) {
                list.push(i);
            }
        }
    }
    // needs[i]: node → whether some edge to it is a pre-requirement.
    let mut needs: Vec<BTreeMap<usize, bool>> = vec![BTreeMap::new(); nodes.len()];
    for (i, pkg) in nodes.iter().enumerate() {
        for dep in pkg
            .requires
            .iter()
            .filter(|d| !d.name.starts_with("rpmlib("))
        {
            let caps = if dep.is_rich() {
                parse_rich(&dep.name)
                    .map(|r| r.caps().into_iter().cloned().collect())
                    .unwrap_or_default()
            } else {
                vec![Cap::of(dep)]
            };
            for cap in &caps {
                for &j in offered.get(cap.name.as_str()).into_iter().flatten() {
                    if j != i && (cap.is_file() || satisfies(nodes[j], cap)) {
                        *needs[i].entry(j).or_default() |= dep.pre;
                    }
                }
            }
        }
    }
    order_nodes(&nodes, &needs)
        .into_iter()
        .map(|i| chosen[i])
        .collect()
}

/// Whether `pkg` provides `cap` by its name or a Provides entry.
fn satisfies(pkg: &RpmPackage, cap: &Cap) -> bool {
    let in_range = |have: (Flags, &Evr)| {
        cap.range
            .as_ref()
            .is_none_or(|(f, want)| crate::version::rpm::ranges_overlap(have, (*f, want)))
    };
    (pkg.name == cap.name && in_range((Flags::Eq, &pkg.evr)))
        || pkg
            .provides
            .iter()
            .any(|p| p.name == cap.name && p.flags.zip(p.evr.as_ref()).is_none_or(&in_range))
}

/// Topological order of `nodes` by `needs`, smallest name first among the
/// ready ones, breaking cycles as [`install_order`] describes. A cycle is
/// installed as a unit: what needs one of its packages waits for all.
fn order_nodes(nodes: &[&RpmPackage], needs: &[BTreeMap<usize, bool>]) -> Vec<usize> {
    let n = nodes.len();
    let successors: Vec<Vec<usize>> = needs.iter().map(|m| m.keys().copied().collect()).collect();
    let component = strongly_connected(&successors);
    let components = component.iter().max().map_or(0, |&c| c + 1);
    let mut left_in = vec![0usize; components];
    for &c in &component {
        left_in[c] += 1;
    }
    // Inside a cycle, node by node: what each node waits for, (pre, all),
    // and who waits for it. Outside, whole cycles.
    let mut unmet = vec![(0usize, 0usize); n];
    let mut waiting_on = vec![0usize; n];
    let mut needed_by: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut component_needed_by: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); components];
    for (i, list) in needs.iter().enumerate() {
        let mut outside = BTreeSet::new();
        for (&j, &pre) in list {
            if component[j] == component[i] {
                unmet[i].0 += usize::from(pre);
                unmet[i].1 += 1;
                needed_by[j].push(i);
            } else {
                outside.insert(component[j]);
            }
        }
        waiting_on[i] = outside.len();
        for c in outside {
            component_needed_by[c].insert(i);
        }
    }
    let key = |i: usize| (nodes[i].name.as_str(), nodes[i].arch.as_str(), i);
    let mut ready: BTreeSet<(&str, &str, usize)> = (0..n)
        .filter(|&i| unmet[i].1 == 0 && waiting_on[i] == 0)
        .map(key)
        .collect();
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let next = match ready.pop_first() {
            Some((_, _, i)) => i,
            // Only cycles are left to start: in one whose prerequisites are
            // installed, the node whose wait matters least.
            None => (0..n)
                .filter(|&i| !done[i] && waiting_on[i] == 0)
                .min_by_key(|&i| (unmet[i], key(i)))
                .expect("some cycle has all its prerequisites installed"),
        };
        done[next] = true;
        order.push(next);
        let mut freed = Vec::new();
        for &i in &needed_by[next] {
            if !done[i] {
                unmet[i].0 -= usize::from(needs[i][&next]);
                unmet[i].1 -= 1;
                freed.push(i);
            }
        }
        let c = component[next];
        left_in[c] -= 1;
        if left_in[c] == 0 {
            for &i in &component_needed_by[c] {
                waiting_on[i] -= 1;
                freed.push(i);
            }
        }
        for i in freed {
            if !done[i] && unmet[i].1 == 0 && waiting_on[i] == 0 {
                ready.insert(key(i));
            }
        }
    }
    order
}

/// Tarjan's strongly connected components, without recursion: a component
/// id per node.
fn strongly_connected(successors: &[Vec<usize>]) -> Vec<usize> {
    const UNSEEN: usize = usize::MAX;
    let n = successors.len();
    let (mut index, mut low) = (vec![UNSEEN; n], vec![0; n]);
    let mut on_stack = vec![false; n];
    let mut component = vec![UNSEEN; n];
    let mut stack = Vec::new();
    let (mut next_index, mut next_component) = (0, 0);
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        // (node, how many of its successors were looked at)
        let mut work = vec![(root, 0)];
        while let Some((v, seen)) = work.last_mut() {
            let (v, position) = (*v, *seen);
            if position == 0 && index[v] == UNSEEN {
                index[v] = next_index;
                low[v] = next_index;
                next_index += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = successors[v].get(position) {
                *seen += 1;
                if index[w] == UNSEEN {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component[w] = next_component;
                    if w == v {
                        break;
                    }
                }
                next_component += 1;
            }
        }
    }
    component
}
