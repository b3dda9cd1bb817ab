//! The resolvo glue both families share (docs/design.md §4): one
//! [`Provider`] over a family's [`SolverIndex`], which holds the names,
//! candidates and version sets of one universe and says what a package
//! depends on.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt::Display;

use resolvo::utils::{Pool, VersionSet};
use resolvo::{
    Candidates, Condition, ConditionId, Dependencies, DependencyProvider, Interner, NameId,
    Requirement, SolvableId, SolverCache, StringId, VersionSetId, VersionSetUnionId,
};

/// Why a request cannot be resolved; `E` is why a family's request text
/// does not parse.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError<E: std::error::Error + 'static> {
    /// A requested name is no package of the root's architecture and nothing
    /// provides it.
    #[error("no package named `{name}`{}", .suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownPackage {
        name: String,
        suggestion: Option<String>,
    },
    /// A requested package does not parse as a request.
    #[error("`{request}` is not a valid package request")]
    BadRequest {
        request: String,
        #[source]
        reason: E,
    },
    /// No set of packages satisfies the request; `explanation` is the
    /// solver's account of why, one dependency per line.
    #[error("no set of installable packages satisfies the request:\n{explanation}")]
    Unsatisfiable { explanation: String },
}

/// One solver run over `roots`: the chosen records (indices into the
/// universe), unsorted, or the solver's account of why there are none.
pub(crate) fn solve<I: SolverIndex>(
    index: &I,
    roots: &[resolvo::ConditionalRequirement],
    weak: bool,
) -> Result<Vec<usize>, String> {
    use resolvo::{Problem, Solver, UnsolvableOrCancelled};
    let mut solver = Solver::new(Provider::new(index, weak));
    let problem = Problem::new().requirements(roots.to_vec());
    match solver.solve(problem) {
        Ok(solvables) => Ok(solvables
            .into_iter()
            .map(|s| index.pool().resolve_solvable(s).record as usize)
            .collect()),
        Err(UnsolvableOrCancelled::Unsolvable(conflict)) => Err(conflict
            .display_user_friendly(&solver)
            .to_string()
            .trim_end()
            .to_string()),
        // The providers never cancel.
        Err(UnsolvableOrCancelled::Cancelled(_)) => Err("the solver was cancelled".to_string()),
    }
}

/// What a family's index gives the solver.
pub(crate) trait SolverIndex {
    /// A dependency over one package name; a solvable's record is its
    /// index in the universe.
    type Set: VersionSet<V = u32>;

    fn pool(&self) -> &Pool<Self::Set, String>;
    /// The better of two candidates of one name sorts first.
    fn preference(&self, a: SolvableId, b: SolvableId) -> Ordering;
    fn contains(&self, set: &Self::Set, s: SolvableId) -> bool;
    /// The installable packages of a name, best first.
    fn candidates_of(&self, name: NameId) -> &[SolvableId];
    /// The solvable to try first for a name (the installed version).
    fn favored(&self, name: NameId) -> Option<SolvableId>;
    fn display_set(&self, id: VersionSetId) -> String;
    fn display_solvable(&self, s: SolvableId) -> String;
    /// Candidates of one name (sorted best first) as one line of an error.
    fn display_merged(&self, sorted: &[SolvableId]) -> String;
    /// What `s` (named `own`) requires and constrains; `weak`: weak
    /// dependencies that have a candidate are required too.
    fn dependencies(&self, s: SolvableId, own: NameId, weak: bool) -> Dependencies;
}

/// resolvo does not deduplicate unions; equal unions share one id so the
/// solver shares their clauses.
#[derive(Default)]
pub(crate) struct Unions(RefCell<HashMap<Vec<VersionSetId>, VersionSetUnionId>>);

impl Unions {
    /// `sets` as one requirement: the set itself, or their (shared) union.
    pub(crate) fn requirement<S: VersionSet>(
        &self,
        pool: &Pool<S, String>,
        sets: Vec<VersionSetId>,
    ) -> Requirement {
        if let [single] = sets[..] {
            return Requirement::Single(single);
        }
        let mut unions = self.0.borrow_mut();
        let id = unions.entry(sets).or_insert_with_key(|sets| {
            pool.intern_version_set_union(sets[0], sets[1..].iter().copied())
        });
        Requirement::Union(*id)
    }
}

/// One solver run's view of an index.
pub(crate) struct Provider<'i, I> {
    index: &'i I,
    /// Weak dependencies with a candidate become requirements.
    weak: bool,
}

impl<'i, I: SolverIndex> Provider<'i, I> {
    pub(crate) fn new(index: &'i I, weak: bool) -> Self {
        Provider { index, weak }
    }
}

impl<I: SolverIndex> Interner for Provider<'_, I> {
    type NameId = NameId;
    type SolvableId = SolvableId;

    fn display_solvable(&self, solvable: SolvableId) -> impl Display + '_ {
        self.index.display_solvable(solvable)
    }

    fn display_merged_solvables(&self, solvables: &[SolvableId]) -> impl Display + '_ {
        let mut sorted = solvables.to_vec();
        sorted.sort_by(|&a, &b| self.index.preference(a, b));
        self.index.display_merged(&sorted)
    }

    fn display_name(&self, name: NameId) -> impl Display + '_ {
        self.index.pool().resolve_package_name(name)
    }

    fn display_version_set(&self, version_set: VersionSetId) -> impl Display + '_ {
        self.index.display_set(version_set)
    }

    fn display_string(&self, string_id: StringId) -> impl Display + '_ {
        self.index.pool().resolve_string(string_id)
    }

    fn version_set_name(&self, version_set: VersionSetId) -> NameId {
        self.index
            .pool()
            .resolve_version_set_package_name(version_set)
    }

    fn solvable_name(&self, solvable: SolvableId) -> NameId {
        self.index.pool().resolve_solvable(solvable).name
    }

    fn version_sets_in_union(
        &self,
        version_set_union: VersionSetUnionId,
    ) -> impl Iterator<Item = VersionSetId> {
        self.index
            .pool()
            .resolve_version_set_union(version_set_union)
    }

    fn resolve_condition(&self, condition: ConditionId) -> Condition {
        self.index.pool().resolve_condition(condition).clone()
    }
}

impl<I: SolverIndex> DependencyProvider for Provider<'_, I> {
    async fn filter_candidates(
        &self,
        candidates: &[SolvableId],
        version_set: VersionSetId,
        inverse: bool,
    ) -> Vec<SolvableId> {
        let set = self.index.pool().resolve_version_set(version_set);
        candidates
            .iter()
            .copied()
            .filter(|&s| self.index.contains(set, s) != inverse)
            .collect()
    }

    async fn get_candidates(&self, name: NameId) -> Option<Candidates<SolvableId>> {
        let candidates = self.index.candidates_of(name);
        if candidates.is_empty() {
            return None;
        }
        Some(Candidates {
            candidates: candidates.to_vec(),
            favored: self.index.favored(name),
            ..Candidates::default()
        })
    }

    async fn sort_candidates(&self, _solver: &SolverCache<Self>, solvables: &mut [SolvableId]) {
        solvables.sort_by(|&a, &b| self.index.preference(a, b));
    }

    async fn get_dependencies(&self, solvable: SolvableId) -> Dependencies {
        let own = self.solvable_name(solvable);
        self.index.dependencies(solvable, own, self.weak)
    }
}
