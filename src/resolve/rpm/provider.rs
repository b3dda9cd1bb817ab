//! The package universe as resolvo sees it.
//!
//! resolvo installs at most one solvable per name and knows nothing of
//! capabilities, so names here are always *package* names. A dependency
//! becomes a union of version sets, one per package name that could
//! satisfy it: the package of that name (its implicit `name = evr`
//! Provides), every package that Provides it, and for a file path every
//! package owning the file. Each set holds the versions of that name whose
//! Provides (or files) really satisfy the dependency.
//!
//! Rich dependencies are first turned into clauses (`rich.rs`): the
//! alternatives a clause wants are one union; the packages it says must
//! *not* be installed become a resolvo condition, so `(A if B)` is "A, on
//! the condition that B is installed". Conflicts and Obsoletes become
//! `constrains`: for each name they hit, the versions allowed next to the
//! package.
//!
//! A resolvo quirk to know: a condition on a set that excludes some versions
//! of its name (`if B >= 2` while `B-1` exists) is encoded as "no other
//! version of B is installed", which also holds when no B is installed at
//! all. resolvo only adds the clause once the condition held during the
//! search, so this rarely matters; conditions on whole packages (the usual
//! `(foo-langpack if foo)`) are exact.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

use resolvo::utils::{Pool, VersionSet};
use resolvo::{
    Condition, ConditionId, ConditionalRequirement, Dependencies, KnownDependencies,
    LogicalOperator, NameId, Requirement, SolvableId, VersionSetId,
};

use super::super::provider::{SolverIndex, Unions};

use super::byname::{ByName, FxHashMap, FxHashSet, fx_hash};
use super::rich::{Cap, Clause, RichDep, parse_rich};
use crate::repo::rpmmd::{RpmDep, RpmPackage};
use crate::version::rpm::{Evr, Flags, ranges_overlap};

/// The relation a [`DepSet`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Field {
    /// Requires, Recommends, Supplements and the request: the set holds the
    /// versions that satisfy the dependency.
    Requires,
    /// Conflicts: the set holds the versions that may be installed next to
    /// the package, i.e. those the dependency does *not* hit.
    Conflicts,
    /// Obsoletes: as Conflicts, but matched against package names only
    /// (dnf's default; Provides do not count).
    Obsoletes,
    /// The versions whose Obsoletes hit the dependency (always
    /// `name = evr`): the packages that replace that one.
    Replaces,
    /// A rich dependency that does not parse: nothing.
    Invalid,
}

/// A version set: one dependency over one package name (the name is stored
/// next to it in the [`Pool`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct DepSet {
    field: Field,
    /// A single-package dependency: plain, `with` or `without`.
    dep: RichDep,
    /// Only packages of this architecture (a request for `name.arch`).
    arch: Option<String>,
}

impl DepSet {
    pub(super) fn requires(dep: RichDep) -> DepSet {
        DepSet {
            field: Field::Requires,
            dep,
            arch: None,
        }
    }

    pub(super) fn with_arch(mut self, arch: Option<&str>) -> DepSet {
        self.arch = arch.map(str::to_string);
        self
    }
}

impl VersionSet for DepSet {
    /// A solvable's record: its index in the universe.
    type V = u32;
}

/// Names, candidates and the Provides, file and Obsoletes indexes of one
/// universe, built once and shared by every solver run.
pub(super) struct Index<'u> {
    pub(super) universe: &'u [RpmPackage],
    arch: String,
    pool: Pool<DepSet, String>,
    /// Package names with at least one candidate.
    names: FxHashMap<&'u str, NameId>,
    /// By [`NameId`]: the installable packages of that name, best first.
    candidates: Vec<Vec<SolvableId>>,
    /// Provides entry name (capability or path) → the records providing it.
    providers: ByName,
    /// Path some dependency names → the records whose `files` have it,
    /// ascending. Only paths that occur in dependencies are indexed.
    owners: FxHashMap<&'u str, Vec<u32>>,
    /// Package name → the records with an Obsoletes entry on it.
    obsoleters: ByName,
    /// Rich dependencies parsed so far; `None` when one does not parse.
    rich: RefCell<HashMap<String, Option<Rc<RichDep>>>>,
    /// The solvable to try first for a name: the installed version.
    favored: HashMap<NameId, SolvableId>,
    /// The record of the installed version of a name, where the universe
    /// has it (its weak dependencies were already dealt with).
    installed: HashMap<NameId, u32>,
    unions: Unions,
}

fn raw(name: NameId) -> usize {
    name.into_raw() as usize
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// The relation fields whose paths are indexed.
fn relations(pkg: &RpmPackage) -> impl Iterator<Item = &RpmDep> {
    pkg.requires
        .iter()
        .chain(&pkg.recommends)
        .chain(&pkg.supplements)
        .chain(&pkg.conflicts)
}

/// Whether one Provides entry satisfies `cap`'s range. An unversioned
/// Provides satisfies every range, as in rpm; two ranges must overlap.
fn provide_ok(provided: &RpmDep, cap: &Cap) -> bool {
    match (provided.flags.zip(provided.evr.as_ref()), &cap.range) {
        (Some(have), Some((flags, want))) => ranges_overlap(have, (*flags, want)),
        _ => true,
    }
}

/// Whether `evr` is in `cap`'s range (or `cap` has none).
fn in_range(cap: &Cap, evr: &Evr) -> bool {
    cap.range
        .as_ref()
        .is_none_or(|(flags, want)| flags.matches(evr, want))
}

/// rpm satisfies these itself; repositories usually drop them already.
fn is_rpmlib(dep: &RpmDep) -> bool {
    dep.name.starts_with("rpmlib(")
}

impl<'u> Index<'u> {
    /// Indexes the packages of `arch` and `noarch` in one pass. `paths` are
    /// further file paths to index (those of the request).
    pub(super) fn new(universe: &'u [RpmPackage], arch: &str, paths: &[&str]) -> Index<'u> {
        let pool: Pool<DepSet, String> = Pool::new();
        let mut names: FxHashMap<&'u str, NameId> = FxHashMap::default();
        let mut candidates: Vec<Vec<SolvableId>> = Vec::new();
        let mut providers = Vec::new();
        let mut obsoleters = Vec::new();
        let mut rich: HashMap<String, Option<Rc<RichDep>>> = HashMap::new();
        let mut wanted: FxHashSet<String> = paths.iter().map(|p| p.to_string()).collect();
        let mut records = Vec::new();
        for (i, pkg) in universe.iter().enumerate() {
            if pkg.arch != arch && pkg.arch != "noarch" {
                continue;
            }
            let record = u32::try_from(i).expect("fewer than 2^32 packages");
            records.push(record);
            let name = *names
                .entry(pkg.name.as_str())
                .or_insert_with(|| pool.intern_package_name(pkg.name.as_str()));
            if candidates.len() <= raw(name) {
                candidates.resize_with(raw(name) + 1, Vec::new);
            }
            candidates[raw(name)].push(pool.intern_solvable(name, record));
            for provided in &pkg.provides {
                providers.push((fx_hash(&provided.name), record));
            }
            for obsoleted in pkg.obsoletes.iter().filter(|o| !o.is_rich()) {
                obsoleters.push((fx_hash(&obsoleted.name), record));
            }
            for dep in relations(pkg) {
                if !dep.name.contains('/') {
                    continue;
                }
                if !dep.is_rich() {
                    wanted.insert(dep.name.clone());
                    continue;
                }
                // Parsed now for its paths; others are parsed when needed.
                let parsed = rich
                    .entry(dep.name.clone())
                    .or_insert_with(|| parse_rich(&dep.name).ok().map(Rc::new));
                for cap in parsed.iter().flat_map(|r| r.caps()) {
                    if cap.is_file() {
                        wanted.insert(cap.name.clone());
                    }
                }
            }
        }
        let mut owners: FxHashMap<&'u str, Vec<u32>> = FxHashMap::default();
        for &record in &records {
            for file in &universe[record as usize].files {
                if wanted.contains(file.as_str()) {
                    owners.entry(file.as_str()).or_default().push(record);
                }
            }
        }
        let mut index = Index {
            universe,
            arch: arch.to_string(),
            pool,
            names,
            candidates,
            providers: ByName::new(providers),
            owners,
            obsoleters: ByName::new(obsoleters),
            rich: RefCell::new(rich),
            favored: HashMap::new(),
            installed: HashMap::new(),
            unions: Unions::default(),
        };
        for i in 0..index.candidates.len() {
            // Few versions per name: this stays linear in the universe.
            let mut sorted = std::mem::take(&mut index.candidates[i]);
            sorted.sort_by(|&a, &b| index.preference(a, b));
            index.candidates[i] = sorted;
        }
        index
    }

    /// A rich dependency, parsed once; `None` if it does not parse.
    fn parsed(&self, text: &str) -> Option<Rc<RichDep>> {
        if let Some(parsed) = self.rich.borrow().get(text) {
            return parsed.clone();
        }
        let parsed = parse_rich(text).ok().map(Rc::new);
        self.rich
            .borrow_mut()
            .insert(text.to_string(), parsed.clone());
        parsed
    }

    /// Provider order: the package named like the capability, then by name.
    fn sort_names(&self, list: &mut Vec<NameId>, capability: &str) {
        list.sort_unstable();
        list.dedup();
        list.sort_by(|&a, &b| {
            let (na, nb) = (self.name(a), self.name(b));
            (na != capability)
                .cmp(&(nb != capability))
                .then_with(|| na.cmp(nb))
        });
    }

    /// Records the installed packages: each version the universe has is the
    /// one tried first (unless `upgrade`), and its weak dependencies count
    /// as dealt with.
    pub(super) fn set_installed(&mut self, installed: &[(String, String, Evr)], upgrade: bool) {
        for (name, arch, evr) in installed {
            let Some(id) = self.lookup(name) else {
                continue;
            };
            let same = |s: &SolvableId| self.package(*s).evr.cmp(evr) == Ordering::Equal;
            let candidates = self.candidates_of(id);
            let kept = candidates
                .iter()
                .filter(|s| same(s))
                .find(|&&s| self.package(s).arch == *arch)
                .or_else(|| candidates.iter().find(|s| same(s)))
                .copied();
            if let Some(s) = kept {
                self.installed
                    .insert(id, self.pool.resolve_solvable(s).record);
                if !upgrade {
                    self.favored.insert(id, s);
                }
            }
        }
    }

    /// The id of a package name with candidates.
    pub(super) fn lookup(&self, name: &str) -> Option<NameId> {
        self.names.get(name).copied()
    }

    pub(super) fn name(&self, name: NameId) -> &str {
        self.pool.resolve_package_name(name)
    }

    pub(super) fn record(&self, s: SolvableId) -> usize {
        self.pool.resolve_solvable(s).record as usize
    }

    pub(super) fn package(&self, s: SolvableId) -> &'u RpmPackage {
        &self.universe[self.record(s)]
    }

    /// Whether a package, Provides entry or file has this name.
    pub(super) fn is_known(&self, capability: &str) -> bool {
        self.names.contains_key(capability)
            || self.providers_of(capability).next().is_some()
            || self.owners.get(capability).is_some_and(|o| !o.is_empty())
    }

    /// The records whose Provides list `capability`.
    fn providers_of<'a>(&'a self, capability: &'a str) -> impl Iterator<Item = u32> + 'a {
        self.providers.records(capability).filter(move |&r| {
            let pkg = &self.universe[r as usize];
            pkg.provides.iter().any(|p| p.name == capability)
        })
    }

    /// The package name of a candidate record.
    fn name_of(&self, record: u32) -> NameId {
        self.names[self.universe[record as usize].name.as_str()]
    }

    /// Every name a request may use: package names and provided names
    /// (each once per candidate listing it).
    pub(super) fn known_names(&self) -> impl Iterator<Item = &'u str> + '_ {
        let provided = self
            .candidates
            .iter()
            .flatten()
            .flat_map(|&s| self.package(s).provides.iter().map(|p| p.name.as_str()));
        self.names
            .keys()
            .copied()
            .chain(provided)
            .filter(|n| !n.starts_with('/'))
    }

    /// Whether the package at `record` satisfies `cap`: by its name and
    /// version, a Provides entry, or (for a path) a file it owns. With
    /// `names_only` (Obsoletes), only the name and version count.
    fn offers(&self, record: u32, cap: &Cap, names_only: bool) -> bool {
        let pkg = &self.universe[record as usize];
        if pkg.name == cap.name && in_range(cap, &pkg.evr) {
            return true;
        }
        if names_only {
            return false;
        }
        if cap.is_file()
            && self
                .owners
                .get(cap.name.as_str())
                .is_some_and(|o| o.binary_search(&record).is_ok())
        {
            return true;
        }
        pkg.provides
            .iter()
            .any(|p| p.name == cap.name && provide_ok(p, cap))
    }

    /// Whether the package at `record` satisfies a single-package
    /// dependency.
    fn hits(&self, record: u32, dep: &RichDep, names_only: bool) -> bool {
        match dep {
            RichDep::Simple(cap) => self.offers(record, cap, names_only),
            RichDep::With(parts) => parts.iter().all(|p| self.hits(record, p, names_only)),
            RichDep::Without(a, b) => {
                self.hits(record, a, names_only) && !self.hits(record, b, names_only)
            }
            RichDep::Or(parts) => parts.iter().any(|p| self.hits(record, p, names_only)),
            // Not single-package dependencies; the parser keeps them out of
            // `with` and `without`, clauses keep them out of atoms.
            RichDep::And(_) | RichDep::If { .. } | RichDep::Unless { .. } => false,
        }
    }

    /// Whether any candidate of `name` is in the set.
    fn matches_any(&self, name: NameId, set: &DepSet) -> bool {
        self.candidates_of(name)
            .iter()
            .any(|&s| self.contains(set, s))
    }

    /// The package names that could satisfy a single-package dependency, in
    /// the order the solver tries them: the package named like it, then
    /// providers and file owners by name. A name nothing provides is
    /// interned anyway (without candidates), so errors can name it.
    fn names_for(&self, dep: &RichDep) -> Vec<NameId> {
        match dep {
            RichDep::Simple(cap) => {
                let mut out: Vec<NameId> = self.lookup(&cap.name).into_iter().collect();
                out.extend(self.providers_of(&cap.name).map(|r| self.name_of(r)));
                if cap.is_file() {
                    let owners = self.owners.get(cap.name.as_str()).into_iter().flatten();
                    out.extend(owners.map(|&r| self.name_of(r)));
                }
                self.sort_names(&mut out, &cap.name);
                if out.is_empty() {
                    out.push(self.pool.intern_package_name(cap.name.as_str()));
                }
                out
            }
            RichDep::With(parts) => parts.first().map_or_else(Vec::new, |p| self.names_for(p)),
            RichDep::Without(a, _) => self.names_for(a),
            RichDep::Or(parts) => {
                let mut out = Vec::new();
                for part in parts {
                    for n in self.names_for(part) {
                        push_unique(&mut out, n);
                    }
                }
                out
            }
            RichDep::And(_) | RichDep::If { .. } | RichDep::Unless { .. } => Vec::new(),
        }
    }

    /// A requirement on any of the sets, in order. Sets with no candidate
    /// are dropped unless nothing matches at all; then they all stay, so the
    /// error names what was looked for. The flag says whether any candidate
    /// matched.
    pub(super) fn union_of(&self, sets: Vec<(NameId, DepSet)>) -> (Requirement, bool) {
        let mut all = Vec::new();
        let mut matching = Vec::new();
        for (name, set) in sets {
            let matched = self.matches_any(name, &set);
            let id = self.pool.intern_version_set(name, set);
            push_unique(&mut all, id);
            if matched {
                push_unique(&mut matching, id);
            }
        }
        let satisfiable = !matching.is_empty();
        let sets = if satisfiable { matching } else { all };
        (self.union(sets), satisfiable)
    }

    /// The sets for a single-package dependency, one per name.
    pub(super) fn sets_for(&self, dep: &RichDep, field: Field) -> Vec<(NameId, DepSet)> {
        let set = DepSet {
            field,
            dep: dep.clone(),
            arch: None,
        };
        self.names_for(dep)
            .into_iter()
            .map(|n| (n, set.clone()))
            .collect()
    }

    fn union(&self, sets: Vec<VersionSetId>) -> Requirement {
        self.unions.requirement(&self.pool, sets)
    }

    /// "Some package satisfying `dep` is installed", or `None` when no
    /// candidate can satisfy it.
    fn installed_condition(&self, dep: &RichDep) -> Option<ConditionId> {
        let mut out = None;
        for (name, set) in self.sets_for(dep, Field::Requires) {
            if self.matches_any(name, &set) {
                let id = self.pool.intern_version_set(name, set);
                let c = self.pool.intern_condition(Condition::Requirement(id));
                out = Some(self.combine(LogicalOperator::Or, out, c));
            }
        }
        out
    }

    fn combine(&self, op: LogicalOperator, a: Option<ConditionId>, b: ConditionId) -> ConditionId {
        match a {
            None => b,
            Some(a) => self.pool.intern_condition(Condition::Binary(op, a, b)),
        }
    }

    /// One clause as a requirement: one of the wanted, on the condition
    /// that all the unwanted are installed. `None` when the clause always
    /// holds (an unwanted one can never be installed), cannot be expressed
    /// (nothing wanted, which Requires never produce), or is `weak` and has
    /// no candidate.
    fn clause_requirement(&self, clause: &Clause, weak: bool) -> Option<ConditionalRequirement> {
        if clause.wanted.is_empty() {
            return None;
        }
        let mut condition = None;
        for dep in &clause.unwanted {
            let installed = self.installed_condition(dep)?;
            condition = Some(self.combine(LogicalOperator::And, condition, installed));
        }
        let sets = clause
            .wanted
            .iter()
            .flat_map(|dep| self.sets_for(dep, Field::Requires))
            .collect();
        let (requirement, satisfiable) = self.union_of(sets);
        if weak && !satisfiable {
            return None;
        }
        Some(ConditionalRequirement {
            condition,
            requirement,
        })
    }

    /// The requirements of a parsed dependency. `weak` keeps only those
    /// with a candidate.
    pub(super) fn rich_requirements(
        &self,
        dep: &RichDep,
        text: &str,
        weak: bool,
        out: &mut Vec<ConditionalRequirement>,
    ) {
        match dep.clauses() {
            Some(clauses) => out.extend(
                clauses
                    .iter()
                    .filter_map(|c| self.clause_requirement(c, weak)),
            ),
            None if !weak => out.push(self.invalid(text).into()),
            None => {}
        }
    }

    /// The requirements of one dependency entry. A rich dependency that does
    /// not parse can never be satisfied (libsolv does the same).
    pub(super) fn requirements(
        &self,
        dep: &RpmDep,
        weak: bool,
        out: &mut Vec<ConditionalRequirement>,
    ) {
        if is_rpmlib(dep) {
            return;
        }
        if !dep.is_rich() {
            let atom = RichDep::Simple(Cap::of(dep));
            let clause = Clause {
                wanted: vec![&atom],
                unwanted: Vec::new(),
            };
            out.extend(self.clause_requirement(&clause, weak));
            return;
        }
        match self.parsed(&dep.name) {
            Some(rich) => self.rich_requirements(&rich, &dep.name, weak, out),
            None if weak => {}
            None => out.push(self.invalid(&dep.name).into()),
        }
    }

    /// A requirement nothing satisfies, named by `text`.
    pub(super) fn invalid(&self, text: &str) -> Requirement {
        let name = self.pool.intern_package_name(text);
        let set = DepSet {
            field: Field::Invalid,
            dep: RichDep::Simple(Cap::plain(text)),
            arch: None,
        };
        Requirement::Single(self.pool.intern_version_set(name, set))
    }

    /// The `constrains` of a package: for each Conflicts entry, the names
    /// it hits, each limited to the versions the entry allows; for each
    /// Obsoletes entry, the same on the package name only. The package's
    /// own name is skipped: one version per name is installed anyway, and a
    /// package may conflict with what it provides itself.
    ///
    /// Rich Conflicts: `or` conflicts with each alternative; `with` and
    /// `without` with the packages they describe; `and`, `if` and `unless`
    /// are ignored (rpm allows them, resolvo cannot express them).
    fn constrains(&self, pkg: &RpmPackage, own: NameId) -> Vec<VersionSetId> {
        let mut out = Vec::new();
        let mut add = |name: NameId, set: DepSet| {
            // Only when the entry hits a candidate: no clause otherwise.
            if name != own
                && self
                    .candidates_of(name)
                    .iter()
                    .any(|&s| !self.contains(&set, s))
            {
                push_unique(&mut out, self.pool.intern_version_set(name, set));
            }
        };
        for dep in &pkg.conflicts {
            let parsed = if dep.is_rich() {
                self.parsed(&dep.name)
            } else {
                Some(Rc::new(RichDep::Simple(Cap::of(dep))))
            };
            let atoms = parsed.as_deref().map(conflict_atoms).unwrap_or_default();
            for atom in atoms {
                for (name, set) in self.sets_for(atom, Field::Conflicts) {
                    add(name, set);
                }
            }
        }
        for dep in pkg.obsoletes.iter().filter(|d| !d.is_rich()) {
            if let Some(name) = self.lookup(&dep.name) {
                let set = DepSet {
                    field: Field::Obsoletes,
                    dep: RichDep::Simple(Cap::of(dep)),
                    arch: None,
                };
                add(name, set);
            }
        }
        out
    }

    /// The packages that replace `name` at `evr` through their Obsoletes,
    /// as sets over their names. A replacement whose newest version is
    /// obsoleted in turn is followed to the end of the chain (each name once,
    /// so packages obsoleting each other do not go round).
    pub(super) fn replacements(&self, name: &str, evr: &Evr) -> Vec<(NameId, DepSet)> {
        let mut seen = vec![name.to_string()];
        let mut out = Vec::new();
        self.collect_replacements(name, evr, &mut seen, &mut out);
        out
    }

    fn collect_replacements(
        &self,
        name: &str,
        evr: &Evr,
        seen: &mut Vec<String>,
        out: &mut Vec<(NameId, DepSet)>,
    ) {
        let set = DepSet {
            field: Field::Replaces,
            dep: RichDep::Simple(Cap {
                name: name.to_string(),
                range: Some((Flags::Eq, evr.clone())),
            }),
            arch: None,
        };
        let mut obsoleters: Vec<NameId> = self
            .obsoleters
            .records(name)
            .filter(|&r| {
                let pkg = &self.universe[r as usize];
                pkg.obsoletes.iter().any(|o| o.name == name)
            })
            .map(|r| self.name_of(r))
            .collect();
        self.sort_names(&mut obsoleters, name);
        for by in obsoleters {
            let by_name = self.name(by);
            if seen.iter().any(|s| s == by_name) || !self.matches_any(by, &set) {
                continue;
            }
            seen.push(by_name.to_string());
            let newest = self.package(self.candidates_of(by)[0]);
            let mut further = Vec::new();
            self.collect_replacements(&newest.name, &newest.evr, seen, &mut further);
            if further.is_empty() {
                out.push((by, set.clone()));
            } else {
                out.extend(further);
            }
        }
    }

    /// Root requirements for Supplements: a package whose Supplements hold
    /// (something installed satisfies them) is wanted, as libsolv does for
    /// weak dependencies. Only each name's best version is considered, and
    /// only `and`/`or` of single-package dependencies (`if`/`unless` in
    /// Supplements are ignored). Supplements that `installed` already
    /// satisfy were dealt with when those were installed.
    pub(super) fn supplements(&self) -> Vec<ConditionalRequirement> {
        let installed: Vec<u32> = self.installed.values().copied().collect();
        let mut out = Vec::new();
        for (i, list) in self.candidates.iter().enumerate() {
            let Some(&best) = list.first() else {
                continue;
            };
            let name = NameId::from_raw(i as u32);
            if self.installed.contains_key(&name) {
                continue;
            }
            let pkg = self.package(best);
            for dep in &pkg.supplements {
                let formula = if dep.is_rich() {
                    match self.parsed(&dep.name) {
                        Some(rich) => rich,
                        None => continue,
                    }
                } else {
                    Rc::new(RichDep::Simple(Cap::of(dep)))
                };
                let Some(condition) = self.positive_condition(&formula) else {
                    continue;
                };
                if !installed.is_empty() && self.holds(&formula, &installed) {
                    continue;
                }
                let set = DepSet::requires(RichDep::Simple(Cap::plain(&pkg.name)));
                let requirement = Requirement::Single(self.pool.intern_version_set(name, set));
                out.push(requirement.with_condition(condition));
            }
        }
        out
    }

    /// "The formula holds for what is installed", for `and`/`or` formulas;
    /// `None` when it never can, or uses `if`/`unless`.
    fn positive_condition(&self, dep: &RichDep) -> Option<ConditionId> {
        match dep {
            RichDep::Simple(_) | RichDep::With(_) | RichDep::Without(..) => {
                self.installed_condition(dep)
            }
            RichDep::Or(parts) => {
                let mut out = None;
                for c in parts.iter().filter_map(|p| self.positive_condition(p)) {
                    out = Some(self.combine(LogicalOperator::Or, out, c));
                }
                out
            }
            RichDep::And(parts) => {
                let mut out = None;
                for part in parts {
                    let c = self.positive_condition(part)?;
                    out = Some(self.combine(LogicalOperator::And, out, c));
                }
                out
            }
            RichDep::If { .. } | RichDep::Unless { .. } => None,
        }
    }

    /// Whether `dep` holds when exactly `records` are installed.
    fn holds(&self, dep: &RichDep, records: &[u32]) -> bool {
        let branch = |cond: bool, then: &RichDep, otherwise: &Option<Box<RichDep>>| {
            if cond {
                self.holds(then, records)
            } else {
                otherwise.as_ref().is_none_or(|o| self.holds(o, records))
            }
        };
        match dep {
            RichDep::Simple(_) | RichDep::With(_) | RichDep::Without(..) => {
                records.iter().any(|&r| self.hits(r, dep, false))
            }
            RichDep::And(parts) => parts.iter().all(|p| self.holds(p, records)),
            RichDep::Or(parts) => parts.iter().any(|p| self.holds(p, records)),
            RichDep::If {
                then,
                cond,
                otherwise,
            } => branch(self.holds(cond, records), then, otherwise),
            RichDep::Unless {
                then,
                cond,
                otherwise,
            } => branch(!self.holds(cond, records), then, otherwise),
        }
    }

    /// Every path that candidates require, recommend or supplement and
    /// that no candidate provides or owns.
    pub(super) fn unsatisfied_paths(&self) -> BTreeSet<String> {
        let mut paths = BTreeSet::new();
        for list in &self.candidates {
            for &s in list {
                let pkg = self.package(s);
                let fields = [&pkg.requires, &pkg.recommends, &pkg.supplements];
                for dep in fields.into_iter().flatten() {
                    if !dep.name.contains('/') {
                        continue;
                    }
                    if !dep.is_rich() {
                        paths.insert(dep.name.clone());
                        continue;
                    }
                    let caps = self.parsed(&dep.name).map(|r| {
                        r.caps()
                            .into_iter()
                            .map(|c| c.name.clone())
                            .collect::<Vec<_>>()
                    });
                    paths.extend(caps.into_iter().flatten().filter(|c| c.starts_with('/')));
                }
            }
        }
        paths.retain(|p| !self.is_known(p));
        paths
    }
}

/// The single-package dependencies a rich Conflicts entry conflicts with.
fn conflict_atoms(dep: &RichDep) -> Vec<&RichDep> {
    match dep {
        RichDep::Simple(_) | RichDep::With(_) | RichDep::Without(..) => vec![dep],
        RichDep::Or(parts) => parts.iter().flat_map(conflict_atoms).collect(),
        RichDep::And(_) | RichDep::If { .. } | RichDep::Unless { .. } => Vec::new(),
    }
}

impl SolverIndex for Index<'_> {
    type Set = DepSet;

    fn pool(&self) -> &Pool<DepSet, String> {
        &self.pool
    }

    /// The order the solver tries candidates of one name in: newest first,
    /// then the root's arch before `noarch`, then the earlier entry of the
    /// universe (the first repository).
    fn preference(&self, a: SolvableId, b: SolvableId) -> Ordering {
        let (pa, pb) = (self.package(a), self.package(b));
        pb.evr
            .cmp(&pa.evr)
            .then_with(|| (pa.arch != self.arch).cmp(&(pb.arch != self.arch)))
            .then_with(|| self.record(a).cmp(&self.record(b)))
    }

    /// Whether solvable `s` is in the version set.
    fn contains(&self, set: &DepSet, s: SolvableId) -> bool {
        let record = self.pool.resolve_solvable(s).record;
        let pkg = &self.universe[record as usize];
        if set.arch.as_ref().is_some_and(|a| *a != pkg.arch) {
            return false;
        }
        match set.field {
            Field::Requires => self.hits(record, &set.dep, false),
            Field::Conflicts => !self.hits(record, &set.dep, false),
            Field::Obsoletes => !self.hits(record, &set.dep, true),
            Field::Invalid => false,
            Field::Replaces => {
                let RichDep::Simple(Cap {
                    name,
                    range: Some((_, evr)),
                }) = &set.dep
                else {
                    return false;
                };
                pkg.obsoletes.iter().any(|o| {
                    !o.is_rich()
                        && o.name == *name
                        && o.flags
                            .zip(o.evr.as_ref())
                            .is_none_or(|(flags, want)| flags.matches(evr, want))
                })
            }
        }
    }

    fn candidates_of(&self, name: NameId) -> &[SolvableId] {
        self.candidates.get(raw(name)).map_or(&[], Vec::as_slice)
    }

    fn favored(&self, name: NameId) -> Option<SolvableId> {
        self.favored.get(&name).copied()
    }

    fn display_set(&self, id: VersionSetId) -> String {
        let name = self.name(self.pool.resolve_version_set_package_name(id));
        let set = self.pool.resolve_version_set(id);
        let dep = &set.dep;
        let mut parts = Vec::new();
        match (set.field, dep) {
            (Field::Requires, RichDep::Simple(cap)) if cap.name == name => {
                if let Some((flags, evr)) = &cap.range {
                    parts.push(format!("{} {evr}", flags.operator()));
                }
            }
            (Field::Requires, _) => parts.push(format!("(providing {dep})")),
            (Field::Conflicts, _) => parts.push(format!("(excluded by Conflicts: {dep})")),
            (Field::Obsoletes, _) => parts.push(format!("(excluded by Obsoletes: {dep})")),
            (Field::Replaces, _) => parts.push(format!("(obsoleting {dep})")),
            (Field::Invalid, _) => parts.push("(not a valid rich dependency)".to_string()),
        }
        if let Some(arch) = &set.arch {
            parts.push(format!("({arch})"));
        }
        parts.join(" ")
    }

    fn display_solvable(&self, s: SolvableId) -> String {
        self.package(s).nevra()
    }

    fn display_merged(&self, sorted: &[SolvableId]) -> String {
        let mut nevras: Vec<String> = sorted.iter().map(|&s| self.package(s).nevra()).collect();
        nevras.dedup();
        nevras.join(" | ")
    }

    /// `Requires`, and with `weak` the `Recommends` that have a candidate:
    /// an installed version's were dealt with when it was installed; of an
    /// update, only the new ones count (libsolv).
    fn dependencies(&self, s: SolvableId, own: NameId, weak: bool) -> Dependencies {
        let pkg = self.package(s);
        let mut requirements = Vec::new();
        for dep in &pkg.requires {
            self.requirements(dep, false, &mut requirements);
        }
        let before = self
            .installed
            .get(&own)
            .map(|&r| &self.universe[r as usize]);
        if weak && before.is_none_or(|b| !std::ptr::eq(b, pkg)) {
            for dep in &pkg.recommends {
                if before.is_none_or(|b| !b.recommends.contains(dep)) {
                    self.requirements(dep, true, &mut requirements);
                }
            }
        }
        Dependencies::Known(KnownDependencies {
            requirements,
            constrains: self.constrains(pkg, own),
        })
    }
}
