//! The package universe as resolvo sees it.
//!
//! resolvo installs at most one solvable per name and knows nothing of
//! virtual packages, so names here are always *real* package names. A
//! relation on a name `N` becomes a union of version sets over real names:
//! `N` itself, restricted by the constraint, and every package `P` that
//! `Provides: N`, restricted to the versions of `P` whose `Provides` satisfy
//! the constraint. Conflicts and Breaks become `constrains` on the same real
//! names, with the complement as the allowed set.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt::{self, Display};

use resolvo::utils::{Pool, VersionSet};
use resolvo::{
    ConditionalRequirement, Dependencies, KnownDependencies, NameId, Requirement, SolvableId,
    VersionSetId,
};

use super::super::provider::{SolverIndex, Unions};

use crate::repo::apt::{DebDep, DebPackage, MultiArch, Priority};
use crate::version::deb::{DebVersion, Rel};

/// The relation field a [`DepSet`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Field {
    /// `Pre-Depends`, `Depends`, `Recommends` and requested packages: the set
    /// holds the versions that satisfy the relation.
    Depends,
    /// `Conflicts` and `Breaks`: the set holds the versions that may be
    /// installed next to the package, i.e. those the relation does *not* hit.
    Conflicts,
    Breaks,
}

/// One alternative of a relation, as a version set over one real package
/// name (the name is stored next to it in the [`Pool`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct DepSet {
    field: Field,
    /// The name as written in the relation: the set's own name, or a virtual
    /// name the set's package provides.
    target: NameId,
    /// After `name:` (`any`, `native`, an architecture).
    qualifier: Option<String>,
    constraint: Option<(Rel, DebVersion)>,
}

impl VersionSet for DepSet {
    /// A solvable's record: its index in the universe.
    type V = u32;
}

/// Names, candidates and the `Provides` index of one universe, built once
/// and shared by every solver run.
pub(super) struct Index<'u> {
    pub(super) universe: &'u [DebPackage],
    arch: String,
    pool: Pool<DepSet, String>,
    /// By [`NameId`] (names interned while indexing): the installable
    /// packages of that name, best first.
    candidates: Vec<Vec<SolvableId>>,
    /// By [`NameId`]: the real names that provide it, preferred first.
    providers: Vec<Vec<NameId>>,
    /// The solvable to try first for a name: the installed version.
    favored: HashMap<NameId, SolvableId>,
    unions: Unions,
}

/// Providers of a virtual name are tried most important `Priority` first
/// (`awk` resolves to mawk, which is `required`), then by name.
fn priority_rank(p: &DebPackage) -> u8 {
    match p.priority {
        Some(Priority::Required) => 0,
        Some(Priority::Important) => 1,
        Some(Priority::Standard) => 2,
        Some(Priority::Optional) => 3,
        Some(Priority::Extra) => 4,
        Some(Priority::Other(_)) | None => 5,
    }
}

fn raw(name: NameId) -> usize {
    name.into_raw() as usize
}

/// The slot for `name` in a per-name table, growing it as needed.
fn slot<T: Default>(table: &mut Vec<T>, name: NameId) -> &mut T {
    if table.len() <= raw(name) {
        table.resize_with(raw(name) + 1, T::default);
    }
    &mut table[raw(name)]
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

impl<'u> Index<'u> {
    /// Indexes the packages of `arch` and `all` in one pass. `favored`
    /// names installed packages whose version should be kept when possible.
    pub(super) fn new(
        universe: &'u [DebPackage],
        arch: &str,
        favored: &[(String, DebVersion)],
    ) -> Index<'u> {
        let pool: Pool<DepSet, String> = Pool::new();
        let mut candidates: Vec<Vec<SolvableId>> = Vec::new();
        let mut providers: Vec<Vec<NameId>> = Vec::new();
        for (i, pkg) in universe.iter().enumerate() {
            if pkg.architecture != arch && pkg.architecture != "all" {
                continue;
            }
            let name = pool.intern_package_name(pkg.name.as_str());
            let index = u32::try_from(i).expect("fewer than 2^32 packages");
            slot(&mut candidates, name).push(pool.intern_solvable(name, index));
            for provided in pkg.provides.iter().flatten() {
                let virtual_name = pool.intern_package_name(provided.name.as_str());
                slot(&mut providers, virtual_name).push(name);
            }
        }
        let mut index = Index {
            universe,
            arch: arch.to_string(),
            pool,
            candidates,
            providers: Vec::new(),
            favored: HashMap::new(),
            unions: Unions::default(),
        };
        for i in 0..index.candidates.len() {
            // Few versions per name: this stays linear in the universe.
            let mut sorted = std::mem::take(&mut index.candidates[i]);
            sorted.sort_by(|&a, &b| index.preference(a, b));
            index.candidates[i] = sorted;
        }
        for list in &mut providers {
            list.sort_by(|&a, &b| {
                let rank = |n| {
                    index
                        .candidates_of(n)
                        .first()
                        .map_or(u8::MAX, |&s| priority_rank(index.package(s)))
                };
                rank(a)
                    .cmp(&rank(b))
                    .then_with(|| index.name(a).cmp(index.name(b)))
            });
            list.dedup();
        }
        index.providers = providers;
        for (name, version) in favored {
            let Some(id) = index.lookup(name) else {
                continue;
            };
            let kept = index
                .candidates_of(id)
                .iter()
                .copied()
                .filter(|&s| index.package(s).version == *version)
                .min_by_key(|&s| index.record(s));
            if let Some(s) = kept {
                index.favored.insert(id, s);
            }
        }
        index
    }

    /// The id of a name seen while indexing.
    pub(super) fn lookup(&self, name: &str) -> Option<NameId> {
        self.pool.lookup_package_name(&name.to_string())
    }

    pub(super) fn name(&self, name: NameId) -> &str {
        self.pool.resolve_package_name(name)
    }

    pub(super) fn record(&self, s: SolvableId) -> usize {
        self.pool.resolve_solvable(s).record as usize
    }

    pub(super) fn package(&self, s: SolvableId) -> &'u DebPackage {
        &self.universe[self.record(s)]
    }

    pub(super) fn providers_of(&self, name: NameId) -> &[NameId] {
        self.providers.get(raw(name)).map_or(&[], Vec::as_slice)
    }

    /// Every name a request may use: real packages and provided names.
    pub(super) fn known_names(&self) -> impl Iterator<Item = &str> {
        let known = self.candidates.len().max(self.providers.len());
        (0..known)
            .filter(|&i| {
                self.candidates.get(i).is_some_and(|c| !c.is_empty())
                    || self.providers.get(i).is_some_and(|p| !p.is_empty())
            })
            .map(|i| self.name(NameId::from_raw(i as u32)))
    }

    fn qualifier_ok(&self, pkg: &DebPackage, set: &DepSet) -> bool {
        match set.qualifier.as_deref() {
            None | Some("native") => true,
            Some(arch) if arch == self.arch => true,
            // dpkg's archsatisfied(): `name:any` needs Multi-Arch: allowed
            // (or foreign, which satisfies any qualifier); Conflicts and
            // Breaks on `name:any` hit every architecture.
            Some("any") => {
                set.field != Field::Depends
                    || matches!(pkg.multi_arch, MultiArch::Allowed | MultiArch::Foreign)
            }
            // Another architecture: none of its packages are candidates.
            Some(_) => false,
        }
    }

    /// Whether `pkg` is what `set`'s relation names: by its own name and
    /// version, or by a `Provides` (an unversioned one only satisfies
    /// unversioned relations, Policy §7.5).
    fn hits(&self, pkg: &DebPackage, set: &DepSet) -> bool {
        if !self.qualifier_ok(pkg, set) {
            return false;
        }
        let target = self.name(set.target);
        let version_ok = |have: &DebVersion| {
            set.constraint
                .as_ref()
                .is_none_or(|(rel, want)| rel.matches(have, want))
        };
        if pkg.name == target && version_ok(&pkg.version) {
            return true;
        }
        pkg.provides
            .iter()
            .flatten()
            .any(|p| p.name == target && provided_ok(set, p))
    }

    /// The requirement for one OR-group. Each alternative contributes its
    /// real package, then its providers, so the solver prefers the first
    /// alternative and the real package, as apt does. Sets with no
    /// candidate are dropped unless nothing matches at all; then they all
    /// stay, so the error names what was looked for. The flag says whether
    /// any candidate matched.
    pub(super) fn requirement(&self, group: &[DebDep]) -> (Requirement, bool) {
        let mut all = Vec::new();
        let mut matching = Vec::new();
        for dep in group {
            let set = self.dep_set(Field::Depends, dep);
            let target = set.target;
            let names = std::iter::once(target).chain(
                self.providers_of(target)
                    .iter()
                    .copied()
                    .filter(|&n| n != target),
            );
            for name in names {
                let id = self.pool.intern_version_set(name, set.clone());
                push_unique(&mut all, id);
                if self
                    .candidates_of(name)
                    .iter()
                    .any(|&s| self.contains(&set, s))
                {
                    push_unique(&mut matching, id);
                }
            }
        }
        let satisfiable = !matching.is_empty();
        let sets = if satisfiable { matching } else { all };
        (self.union(sets), satisfiable)
    }

    /// A requirement on exactly the real package `dep` names (no providers).
    pub(super) fn requirement_on_package(&self, dep: &DebDep) -> Requirement {
        let set = self.dep_set(Field::Depends, dep);
        Requirement::Single(self.pool.intern_version_set(set.target, set))
    }

    fn union(&self, sets: Vec<VersionSetId>) -> Requirement {
        self.unions.requirement(&self.pool, sets)
    }

    fn dep_set(&self, field: Field, dep: &DebDep) -> DepSet {
        DepSet {
            field,
            target: self.pool.intern_package_name(dep.name.as_str()),
            qualifier: dep.arch_qualifier.clone(),
            constraint: dep.constraint.clone(),
        }
    }

    /// The `constrains` of a package: for each Conflicts/Breaks entry, the
    /// real names it hits (the name and its providers), each limited to the
    /// versions the entry allows. The package's own name is skipped: one
    /// version per name is installed anyway, and a package that provides,
    /// conflicts with and replaces a virtual name (the "only one MTA" idiom)
    /// must not conflict with itself.
    fn constrains(&self, pkg: &DebPackage, own: NameId) -> Vec<VersionSetId> {
        let mut out = Vec::new();
        let entries = (pkg
            .conflicts
            .iter()
            .flatten()
            .map(|d| (Field::Conflicts, d)))
        .chain(pkg.breaks.iter().flatten().map(|d| (Field::Breaks, d)));
        for (field, dep) in entries {
            let set = self.dep_set(field, dep);
            let target = set.target;
            let names = std::iter::once(target).chain(self.providers_of(target).iter().copied());
            for name in names {
                if name == own {
                    continue;
                }
                // Only when the entry hits a candidate: no clause otherwise.
                if self
                    .candidates_of(name)
                    .iter()
                    .any(|&s| !self.contains(&set, s))
                {
                    push_unique(&mut out, self.pool.intern_version_set(name, set.clone()));
                }
            }
        }
        out
    }
}

/// Whether one `Provides` entry satisfies the set's version constraint.
fn provided_ok(set: &DepSet, provided: &DebDep) -> bool {
    match (&set.constraint, &provided.constraint) {
        (None, _) => true,
        (Some((rel, want)), Some((Rel::Eq, have))) => rel.matches(have, want),
        (Some(_), _) => false,
    }
}

/// A relation as written: `name:qualifier (rel version)`.
struct DisplayRelation<'a, 'u> {
    index: &'a Index<'u>,
    set: &'a DepSet,
}

impl Display for DisplayRelation<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.index.name(self.set.target))?;
        if let Some(q) = &self.set.qualifier {
            write!(f, ":{q}")?;
        }
        if let Some((rel, v)) = &self.set.constraint {
            write!(f, " ({rel} {v})")?;
        }
        Ok(())
    }
}

impl SolverIndex for Index<'_> {
    type Set = DepSet;

    fn pool(&self) -> &Pool<DepSet, String> {
        &self.pool
    }

    /// The order the solver tries candidates of one name in: newest first,
    /// then the earlier entry of the universe (the first repository).
    fn preference(&self, a: SolvableId, b: SolvableId) -> Ordering {
        self.package(b)
            .version
            .cmp(&self.package(a).version)
            .then_with(|| self.record(a).cmp(&self.record(b)))
    }

    /// Whether solvable `s` is in the version set.
    fn contains(&self, set: &DepSet, s: SolvableId) -> bool {
        let hit = self.hits(self.package(s), set);
        match set.field {
            Field::Depends => hit,
            Field::Conflicts | Field::Breaks => !hit,
        }
    }

    fn candidates_of(&self, name: NameId) -> &[SolvableId] {
        self.candidates.get(raw(name)).map_or(&[], Vec::as_slice)
    }

    fn favored(&self, name: NameId) -> Option<SolvableId> {
        self.favored.get(&name).copied()
    }

    fn display_set(&self, id: VersionSetId) -> String {
        let name = self.pool.resolve_version_set_package_name(id);
        let set = self.pool.resolve_version_set(id);
        let relation = DisplayRelation { index: self, set };
        match set.field {
            Field::Depends if set.target == name => {
                let mut parts = Vec::new();
                if let Some(q) = &set.qualifier {
                    parts.push(format!("(:{q})"));
                }
                if let Some((rel, v)) = &set.constraint {
                    parts.push(format!("({rel} {v})"));
                }
                parts.join(" ")
            }
            Field::Depends => format!("(providing {relation})"),
            Field::Conflicts => format!("(excluded by Conflicts: {relation})"),
            Field::Breaks => format!("(excluded by Breaks: {relation})"),
        }
    }

    fn display_solvable(&self, s: SolvableId) -> String {
        let pkg = self.package(s);
        format!("{} {}", pkg.name, pkg.version)
    }

    fn display_merged(&self, sorted: &[SolvableId]) -> String {
        let Some(&first) = sorted.first() else {
            return String::new();
        };
        let mut versions: Vec<String> = sorted
            .iter()
            .map(|&s| self.package(s).version.to_string())
            .collect();
        versions.dedup();
        format!("{} {}", self.package(first).name, versions.join(" | "))
    }

    /// `Pre-Depends` and `Depends`, and with `weak` the `Recommends`
    /// groups that have a candidate.
    fn dependencies(&self, s: SolvableId, own: NameId, weak: bool) -> Dependencies {
        let pkg = self.package(s);
        let mut requirements: Vec<ConditionalRequirement> = pkg
            .pre_depends
            .iter()
            .chain(&pkg.depends)
            .map(|group| self.requirement(group).0.into())
            .collect();
        if weak {
            for group in &pkg.recommends {
                if let (requirement, true) = self.requirement(group) {
                    requirements.push(requirement.into());
                }
            }
        }
        Dependencies::Known(KnownDependencies {
            requirements,
            constrains: self.constrains(pkg, own),
        })
    }
}
