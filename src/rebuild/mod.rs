//! `brt rebuild`: many source packages built in dependency order, several
//! at once or as Slurm jobs, into a local repository later builds resolve
//! from (issue 16, docs/design.md §6a).

pub mod graph;
pub mod input;
pub mod repo;
