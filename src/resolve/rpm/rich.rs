//! rpm's rich (boolean) dependencies, rpm ≥ 4.13: `(A and B)`, `(A or B)`,
//! `(A if B)`, `(A if B else C)`, `(A unless B)`, `(A unless B else C)`,
//! `(A with B)` and `(A without B)`, nested with parentheses, where each
//! operand is `name [op evr]` or another parenthesised dependency.
//!
//! The grammar follows rpm's parser (`rpmrichParse` in lib/rpmds.c):
//!
//! - Names end at whitespace, a comma or an unbalanced `)`, so
//!   `pkgconfig(zlib)` is one name. Commas count as whitespace.
//! - Only `and`, `or` and `with` chain: `(a and b and c)`. Different
//!   operators need parentheses: `(a and b or c)` is an error, as in rpm.
//! - `else` follows one `if` or `unless`.
//! - The operands of `with` and `without` must each describe a single
//!   package: a plain dependency, another `with`/`without`, or an `or` of
//!   those.
//!
//! rpmbuild's extra context checks (it rejects `Requires: (a unless b)` in
//! favour of `(a or b)`) are not applied: they are style rules of the
//! packager's side, and repository metadata may still carry such forms.

use std::fmt::{self, Display};

use crate::repo::rpmmd::RpmDep;
use crate::version::rpm::{Evr, Flags};

/// A plain dependency: `name` or `name op evr`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cap {
    pub name: String,
    pub range: Option<(Flags, Evr)>,
}

impl Cap {
    /// An unversioned dependency on `name`.
    pub fn plain(name: &str) -> Cap {
        Cap {
            name: name.to_string(),
            range: None,
        }
    }

    /// The plain dependency an `RpmDep` entry describes (its name as is,
    /// even when that is a rich dependency's text).
    pub fn of(dep: &RpmDep) -> Cap {
        Cap {
            name: dep.name.clone(),
            range: dep.flags.zip(dep.evr.clone()),
        }
    }

    /// A file path (`/usr/bin/sh`): also satisfied by a package owning it.
    pub fn is_file(&self) -> bool {
        self.name.starts_with('/')
    }
}

impl Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some((flags, evr)) = &self.range {
            write!(f, " {} {evr}", flags.operator())?;
        }
        Ok(())
    }
}

/// An operator of a rich dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    And,
    Or,
    If,
    Unless,
    Else,
    With,
    Without,
}

impl Op {
    /// The operator spelled `word` (`and`, `or`, …).
    pub(crate) fn parse(word: &str) -> Option<Op> {
        Some(match word {
            "and" => Op::And,
            "or" => Op::Or,
            "if" => Op::If,
            "unless" => Op::Unless,
            "else" => Op::Else,
            "with" => Op::With,
            "without" => Op::Without,
            _ => return None,
        })
    }

    fn word(self) -> &'static str {
        match self {
            Op::And => "and",
            Op::Or => "or",
            Op::If => "if",
            Op::Unless => "unless",
            Op::Else => "else",
            Op::With => "with",
            Op::Without => "without",
        }
    }
}

impl Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// A parsed rich dependency. Chains (`a and b and c`) are one node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RichDep {
    /// `name [op evr]`.
    Simple(Cap),
    /// All of them.
    And(Vec<RichDep>),
    /// Any of them.
    Or(Vec<RichDep>),
    /// `then` is needed if `cond` is installed; otherwise `otherwise`, if
    /// given.
    If {
        then: Box<RichDep>,
        cond: Box<RichDep>,
        otherwise: Option<Box<RichDep>>,
    },
    /// `then` is needed unless `cond` is installed; if it is, `otherwise`,
    /// if given.
    Unless {
        then: Box<RichDep>,
        cond: Box<RichDep>,
        otherwise: Option<Box<RichDep>>,
    },
    /// One package that satisfies all of them.
    With(Vec<RichDep>),
    /// A package that satisfies the first and not the second.
    Without(Box<RichDep>, Box<RichDep>),
}

impl RichDep {
    /// Whether this describes one package (a plain dependency, `with`,
    /// `without`, or an `or` of those), as `with`/`without` operands must.
    pub fn is_single_package(&self) -> bool {
        match self {
            RichDep::Simple(_) | RichDep::With(_) | RichDep::Without(..) => true,
            RichDep::Or(alternatives) => alternatives.iter().all(RichDep::is_single_package),
            RichDep::And(_) | RichDep::If { .. } | RichDep::Unless { .. } => false,
        }
    }

    /// Every plain dependency inside, left to right.
    pub fn caps(&self) -> Vec<&Cap> {
        let mut out = Vec::new();
        self.collect_caps(&mut out);
        out
    }

    fn collect_caps<'a>(&'a self, out: &mut Vec<&'a Cap>) {
        match self {
            RichDep::Simple(cap) => out.push(cap),
            RichDep::And(parts) | RichDep::Or(parts) | RichDep::With(parts) => {
                for part in parts {
                    part.collect_caps(out);
                }
            }
            RichDep::If {
                then,
                cond,
                otherwise,
            }
            | RichDep::Unless {
                then,
                cond,
                otherwise,
            } => {
                then.collect_caps(out);
                cond.collect_caps(out);
                if let Some(otherwise) = otherwise {
                    otherwise.collect_caps(out);
                }
            }
            RichDep::Without(a, b) => {
                a.collect_caps(out);
                b.collect_caps(out);
            }
        }
    }
}

impl Display for RichDep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chain = |f: &mut fmt::Formatter<'_>, op: Op, parts: &[RichDep]| {
            f.write_str("(")?;
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                write!(f, "{part}")?;
            }
            f.write_str(")")
        };
        let conditional = |f: &mut fmt::Formatter<'_>,
                           op: Op,
                           then: &RichDep,
                           cond: &RichDep,
                           otherwise: &Option<Box<RichDep>>| {
            write!(f, "({then} {op} {cond}")?;
            if let Some(otherwise) = otherwise {
                write!(f, " else {otherwise}")?;
            }
            f.write_str(")")
        };
        match self {
            RichDep::Simple(cap) => write!(f, "{cap}"),
            RichDep::And(parts) => chain(f, Op::And, parts),
            RichDep::Or(parts) => chain(f, Op::Or, parts),
            RichDep::With(parts) => chain(f, Op::With, parts),
            RichDep::Without(a, b) => write!(f, "({a} without {b})"),
            RichDep::If {
                then,
                cond,
                otherwise,
            } => conditional(f, Op::If, then, cond, otherwise),
            RichDep::Unless {
                then,
                cond,
                otherwise,
            } => conditional(f, Op::Unless, then, cond, otherwise),
        }
    }
}

/// A rich dependency that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a valid rich dependency: {problem}")]
pub struct RichError {
    pub text: String,
    pub problem: RichProblem,
}

/// What is wrong with a rich dependency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RichProblem {
    #[error("it does not start with `(`")]
    NoParenthesis,
    #[error("the parentheses are empty")]
    Empty,
    #[error("`{0}` lacks its right-hand operand")]
    MissingOperand(Op),
    #[error("a name is missing")]
    MissingName,
    #[error("`{0}` lacks a version after its operator")]
    MissingVersion(String),
    #[error("`{0}` is no operator (and, or, if, unless, else, with, without)")]
    UnknownOperator(String),
    #[error("`{0}` and `{1}` cannot be mixed without parentheses")]
    MixedOperators(Op, Op),
    #[error("`{0}` cannot be chained; use parentheses")]
    Unchainable(Op),
    #[error("`else` needs an `if` or `unless` before it")]
    ElseWithoutCondition,
    #[error("each operand of `{0}` must describe a single package (no `and`, `if`, `unless`)")]
    NotSinglePackage(Op),
    #[error("a `)` is missing")]
    Unterminated,
    #[error("`{0}` follows the closing `)`")]
    Trailing(String),
    #[error("it is nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("it expands to more than {MAX_CLAUSES} clauses")]
    TooComplex,
}

/// Parentheses nest at most this deep (rpm has no limit; real dependencies
/// use two or three levels).
const MAX_DEPTH: usize = 32;

/// Parses a rich dependency such as `(foo >= 2 or bar)`. Surrounding
/// whitespace is ignored.
pub fn parse_rich(text: &str) -> Result<RichDep, RichError> {
    let mut parser = Parser {
        text: text.trim(),
        pos: 0,
    };
    let result = parser.group(0).and_then(|dep| {
        let rest = &parser.text[parser.pos..];
        if rest.is_empty() {
            Ok(dep)
        } else {
            Err(RichProblem::Trailing(rest.to_string()))
        }
    });
    result.map_err(|problem| RichError {
        text: text.to_string(),
        problem,
    })
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// rpm's SKIPWHITE: whitespace and commas.
    fn skip_white(&mut self) {
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_whitespace() || c == b',')
        {
            self.pos += 1;
        }
    }

    /// rpm's SKIPNONWHITEX: the end of a name, operator or version, which
    /// may contain balanced parentheses (`perl(Foo::Bar)`).
    fn token_end(&self) -> usize {
        let bytes = self.text.as_bytes();
        let mut depth = 0usize;
        let mut i = self.pos;
        while let Some(&c) = bytes.get(i) {
            if c.is_ascii_whitespace() || c == b',' {
                break;
            }
            if c == b')' {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            }
            if c == b'(' {
                depth += 1;
            }
            i += 1;
        }
        i
    }

    /// `( operand [op operand]... )`.
    fn group(&mut self, depth: usize) -> Result<RichDep, RichProblem> {
        if depth > MAX_DEPTH {
            return Err(RichProblem::TooDeep);
        }
        if self.peek() != Some(b'(') {
            return Err(RichProblem::NoParenthesis);
        }
        self.pos += 1;
        let mut operands = Vec::new();
        let mut ops: Vec<Op> = Vec::new();
        loop {
            self.skip_white();
            match (self.peek(), ops.last()) {
                (None, _) => return Err(RichProblem::Unterminated),
                (Some(b')'), None) => return Err(RichProblem::Empty),
                (Some(b')'), Some(&op)) => return Err(RichProblem::MissingOperand(op)),
                (Some(b'('), _) => operands.push(self.group(depth + 1)?),
                _ => operands.push(RichDep::Simple(self.simple()?)),
            }
            self.skip_white();
            match self.peek() {
                None => return Err(RichProblem::Unterminated),
                Some(b')') => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
            let op = self.operator()?;
            check_chain(&ops, op)?;
            ops.push(op);
        }
        build(operands, &ops)
    }

    /// `name [op evr]`, as rpm's parseSimpleDep.
    fn simple(&mut self) -> Result<Cap, RichProblem> {
        let end = self.token_end();
        if end == self.pos {
            return Err(RichProblem::MissingName);
        }
        let name = self.text[self.pos..end].to_string();
        self.pos = end;
        let after_name = self.pos;
        self.skip_white();
        let op_end = self.token_end();
        let Some(flags) = Flags::from_operator(&self.text[self.pos..op_end]) else {
            self.pos = after_name;
            return Ok(Cap { name, range: None });
        };
        self.pos = op_end;
        self.skip_white();
        let evr_end = self.token_end();
        if evr_end == self.pos {
            return Err(RichProblem::MissingVersion(name));
        }
        let evr = Evr::parse(&self.text[self.pos..evr_end]);
        self.pos = evr_end;
        Ok(Cap {
            name,
            range: Some((flags, evr)),
        })
    }

    /// An operator word, which ends at whitespace or `)`.
    fn operator(&mut self) -> Result<Op, RichProblem> {
        let rest = &self.text[self.pos..];
        let len = rest
            .find(|c: char| c.is_ascii_whitespace() || c == ')')
            .unwrap_or(rest.len());
        let word = &rest[..len];
        let op = Op::parse(word).ok_or_else(|| RichProblem::UnknownOperator(word.to_string()))?;
        self.pos += len;
        Ok(op)
    }
}

/// Whether `op` may follow the operators `before` of the same group.
fn check_chain(before: &[Op], op: Op) -> Result<(), RichProblem> {
    match (before, op) {
        ([], Op::Else) => Err(RichProblem::ElseWithoutCondition),
        ([], _) | ([Op::If | Op::Unless], Op::Else) => Ok(()),
        ([.., last], op) if *last != op => Err(RichProblem::MixedOperators(*last, op)),
        (_, Op::And | Op::Or | Op::With) => Ok(()),
        (_, op) => Err(RichProblem::Unchainable(op)),
    }
}

/// The node for one parenthesised group; `ops` passed [`check_chain`].
fn build(operands: Vec<RichDep>, ops: &[Op]) -> Result<RichDep, RichProblem> {
    let Some(&first) = ops.first() else {
        // `(foo)`: a plain dependency in parentheses.
        return Ok(operands.into_iter().next().expect("a group has an operand"));
    };
    if matches!(first, Op::With | Op::Without) && !operands.iter().all(RichDep::is_single_package) {
        return Err(RichProblem::NotSinglePackage(first));
    }
    let node = match first {
        Op::And => RichDep::And(operands),
        Op::Or => RichDep::Or(operands),
        Op::With => RichDep::With(operands),
        Op::Without | Op::If | Op::Unless => {
            let mut parts = operands.into_iter().map(Box::new);
            let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
                unreachable!("one operand more than operators");
            };
            let otherwise = parts.next();
            match first {
                Op::Without => RichDep::Without(a, b),
                Op::If => RichDep::If {
                    then: a,
                    cond: b,
                    otherwise,
                },
                _ => RichDep::Unless {
                    then: a,
                    cond: b,
                    otherwise,
                },
            }
        }
        Op::Else => unreachable!("check_chain rejects a leading else"),
    };
    Ok(node)
}

/// One clause of a formula in conjunctive normal form over single-package
/// dependencies: one of `wanted` is installed, or one of `unwanted` is not.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Clause<'a> {
    pub wanted: Vec<&'a RichDep>,
    pub unwanted: Vec<&'a RichDep>,
}

/// A rich dependency becomes at most this many clauses; beyond that it is
/// treated as unsatisfiable. Real ones need a handful.
const MAX_CLAUSES: usize = 256;

impl<'a> Clause<'a> {
    fn literal(atom: &'a RichDep, negated: bool) -> Clause<'a> {
        let mut clause = Clause::default();
        if negated {
            clause.unwanted.push(atom);
        } else {
            clause.wanted.push(atom);
        }
        clause
    }

    /// The disjunction of two clauses.
    fn or(&self, other: &Clause<'a>) -> Clause<'a> {
        let mut merged = self.clone();
        for &w in &other.wanted {
            if !merged.wanted.contains(&w) {
                merged.wanted.push(w);
            }
        }
        for &u in &other.unwanted {
            if !merged.unwanted.contains(&u) {
                merged.unwanted.push(u);
            }
        }
        merged
    }

    /// `a or not a`: always true.
    fn is_tautology(&self) -> bool {
        self.wanted.iter().any(|w| self.unwanted.contains(w))
    }
}

type Cnf<'a> = Option<Vec<Clause<'a>>>;

/// The conjunction of formulas.
fn all<'a>(parts: impl IntoIterator<Item = Cnf<'a>>) -> Cnf<'a> {
    let mut out = Vec::new();
    for part in parts {
        out.extend(part?);
        if out.len() > MAX_CLAUSES {
            return None;
        }
    }
    Some(out)
}

/// The disjunction of formulas, distributed back into clauses.
fn any<'a>(parts: impl IntoIterator<Item = Cnf<'a>>) -> Cnf<'a> {
    let mut out = vec![Clause::default()];
    for part in parts {
        let part = part?;
        let mut product = Vec::new();
        for a in &out {
            for b in &part {
                let clause = a.or(b);
                if !clause.is_tautology() {
                    product.push(clause);
                }
            }
        }
        if product.len() > MAX_CLAUSES {
            return None;
        }
        out = product;
    }
    Some(out)
}

impl RichDep {
    /// The dependency as clauses that must all hold, over single-package
    /// atoms (plain dependencies, `with`, `without`); `None` when that takes
    /// more than [`MAX_CLAUSES`]. An empty list always holds.
    ///
    /// `A if B` is `A or not B`; `A if B else C` adds `C or B`;
    /// `A unless B` is `A or B`; `A unless B else C` adds `C or not B`.
    pub(crate) fn clauses(&self) -> Option<Vec<Clause<'_>>> {
        self.cnf(false)
    }

    fn cnf(&self, negated: bool) -> Cnf<'_> {
        let n = negated;
        match self {
            RichDep::Simple(_) | RichDep::With(_) | RichDep::Without(..) => {
                Some(vec![Clause::literal(self, n)])
            }
            // De Morgan: not (a and b) = not a or not b.
            RichDep::And(parts) if !n => all(parts.iter().map(|p| p.cnf(false))),
            RichDep::And(parts) => any(parts.iter().map(|p| p.cnf(true))),
            RichDep::Or(parts) if !n => any(parts.iter().map(|p| p.cnf(false))),
            RichDep::Or(parts) => all(parts.iter().map(|p| p.cnf(true))),
            // `A unless B` is `A if` not-B: the same, with the condition flipped.
            RichDep::If {
                then,
                cond,
                otherwise,
            }
            | RichDep::Unless {
                then,
                cond,
                otherwise,
            } => {
                let flip = matches!(self, RichDep::Unless { .. });
                let holds = |negated: bool| cond.cnf(negated ^ flip);
                match (otherwise, n) {
                    (None, true) => all([then.cnf(true), holds(false)]),
                    (None, false) => any([then.cnf(false), holds(true)]),
                    (Some(other), true) => any([
                        all([holds(false), then.cnf(true)]),
                        all([holds(true), other.cnf(true)]),
                    ]),
                    (Some(other), false) => all([
                        any([then.cnf(false), holds(true)]),
                        any([other.cnf(false), holds(false)]),
                    ]),
                }
            }
        }
    }
}
