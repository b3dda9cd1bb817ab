//! The Debian dependency resolver: which packages of a universe (the
//! `Packages` files of a root's repositories) to install for a request,
//! following Debian Policy §7 and apt, with [resolvo] as the SAT solver.
//!
//! - `Pre-Depends` and `Depends` are followed to a closure; `a | b` prefers
//!   `a`. Virtual packages come from `Provides`, versioned or not; a real
//!   package and the providers of its name are all candidates.
//! - `Conflicts` and `Breaks` both mean "not installed together", on real and
//!   virtual names; a package never conflicts with itself (Provides +
//!   Conflicts + Replaces of one virtual name).
//! - The root is single-arch: candidates are the root's architecture and
//!   `all`. `:native` and `:ARCH` (the root's) qualifiers are plain; `:any`
//!   needs `Multi-Arch: allowed` (or `foreign`), as in dpkg; any other
//!   architecture is unsatisfiable.
//! - One version per name, the newest first (ties: the earlier universe
//!   entry); the result is deterministic.
//!
//! How relations map onto resolvo (real names only, virtual names as
//! unions over their providers) is described in `deb/provider.rs`.

mod provider;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use resolvo::{ConditionalRequirement, Requirement};

use super::provider::SolverIndex;
use crate::repo::apt::packages::RelationError;
use crate::repo::apt::{DebDep, DebPackage, Priority, parse_relations};
use crate::resolve::closest;
use crate::version::deb::DebVersion;
use provider::Index;

/// What to install into a root.
#[derive(Debug, Clone, Default)]
pub struct DebRequest<'a> {
    /// The root's Debian architecture (`arm64`); candidates are packages of
    /// this architecture and `all`.
    pub arch: &'a str,
    /// Add every `Essential: yes` package.
    pub essential: bool,
    /// Add every `Priority: required` package.
    pub required: bool,
    /// Packages asked for by name: `name`, `name=version`, `name:arch` (the
    /// root's arch), or a relation such as `a | b (>= 2)`. A name that only
    /// exists as a virtual package is satisfied by one of its providers,
    /// chosen by the solver, which tries the most important `Priority` first,
    /// then by name (apt would ask the user to pick).
    pub packages: Vec<String>,
    /// Further relations, already parsed (e.g. `Build-Depends`). Taken as
    /// given: architecture restrictions and build profiles must already be
    /// applied.
    pub relations: Vec<Vec<DebDep>>,
    /// Follow `Recommends`. They are added as requirements wherever they
    /// have a candidate; if the result cannot be installed, the request is
    /// resolved again without any of them, so Recommends never make it fail.
    /// `Suggests` are never followed.
    pub recommends: bool,
    /// Installed packages: their versions are tried first, so an upgrade
    /// only happens where something needs it.
    pub favored: Vec<(String, DebVersion)>,
}

/// Why a request cannot be resolved.
pub type ResolveError = super::provider::ResolveError<RelationError>;

/// Resolves `request` against `universe`. Returns indices into `universe`,
/// sorted by package name.
pub fn resolve(universe: &[DebPackage], request: &DebRequest) -> Result<Vec<usize>, ResolveError> {
    let index = Index::new(universe, request.arch, &request.favored);
    let roots = root_requirements(&index, request)?;
    if request.recommends
        && let Ok(found) = solve(&index, &roots, true)
    {
        return Ok(found);
    }
    solve(&index, &roots, false)
}

/// The requirements of the request itself.
fn root_requirements(
    index: &Index,
    request: &DebRequest,
) -> Result<Vec<ConditionalRequirement>, ResolveError> {
    let mut roots = Vec::new();
    // By name, so that repository order does not matter.
    let mut base = BTreeSet::new();
    for pkg in index.universe {
        let wanted = (request.essential && pkg.essential)
            || (request.required && pkg.priority == Some(Priority::Required));
        if wanted && (pkg.architecture == request.arch || pkg.architecture == "all") {
            base.insert(pkg.name.as_str());
        }
    }
    for name in base {
        roots.push(index.requirement_on_package(&plain_dep(name)).into());
    }
    for text in &request.packages {
        for group in parse_request(text)? {
            roots.push(requested(index, &group)?.into());
        }
    }
    for group in &request.relations {
        roots.push(index.requirement(group).0.into());
    }
    Ok(roots)
}

fn plain_dep(name: &str) -> DebDep {
    DebDep {
        name: name.to_string(),
        arch_qualifier: None,
        constraint: None,
        arches: None,
        profiles: Vec::new(),
    }
}

/// `name[:arch][=version]` as a relation (`name[:arch] (= version)`); any
/// other text is parsed as a relation.
fn parse_request(text: &str) -> Result<Vec<Vec<DebDep>>, ResolveError> {
    let relation = match text.split_once('=') {
        Some((name, version)) if !name.contains(['(', '<', '>']) => {
            format!("{name} (= {version})")
        }
        _ => text.to_string(),
    };
    parse_relations(&relation).map_err(|source| ResolveError::BadRequest {
        request: text.to_string(),
        reason: source,
    })
}

/// The requirement for one requested group. A single name must exist (as a
/// package or a provided name); a real package is taken as is, a virtual
/// name by any of its providers.
fn requested(index: &Index, group: &[DebDep]) -> Result<Requirement, ResolveError> {
    let [dep] = group else {
        return Ok(index.requirement(group).0);
    };
    let id = index.lookup(&dep.name);
    let real = id.is_some_and(|id| !index.candidates_of(id).is_empty());
    let provided = id.is_some_and(|id| !index.providers_of(id).is_empty());
    if real {
        Ok(index.requirement_on_package(dep))
    } else if provided {
        Ok(index.requirement(group).0)
    } else {
        Err(ResolveError::UnknownPackage {
            name: dep.name.clone(),
            suggestion: closest(&dep.name, index.known_names()),
        })
    }
}

/// One solver run. `recommends` adds satisfiable `Recommends` as
/// requirements.
fn solve(
    index: &Index,
    roots: &[ConditionalRequirement],
    recommends: bool,
) -> Result<Vec<usize>, ResolveError> {
    let mut found = super::provider::solve(index, roots, recommends)
        .map_err(|explanation| ResolveError::Unsatisfiable { explanation })?;
    found.sort_by(|&a, &b| {
        let (pa, pb) = (&index.universe[a], &index.universe[b]);
        pa.name.cmp(&pb.name).then(a.cmp(&b))
    });
    Ok(found)
}
