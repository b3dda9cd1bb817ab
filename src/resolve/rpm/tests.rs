use super::*;

/// A universe from compact paragraphs. The first line is `name [evr
/// [arch]]` (defaults `1.0-1`, `aarch64`); then `Field: dep, dep` lines
/// with Provides, Requires, PreReq (`Requires(pre)`), Conflicts, Obsoletes,
/// Recommends, Supplements, and `Files: /a /b`. A dependency is
/// `name [op evr]` or a rich `(…)`; commas inside parentheses stay.
fn universe(text: &str) -> Vec<RpmPackage> {
    text.split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(package)
        .collect()
}

fn package(paragraph: &str) -> RpmPackage {
    let mut lines = paragraph.lines().map(str::trim).filter(|l| !l.is_empty());
    let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let name = head[0];
    let mut pkg = RpmPackage {
        name: name.to_string(),
        arch: head.get(2).unwrap_or(&"aarch64").to_string(),
        evr: Evr::parse(head.get(1).unwrap_or(&"1.0-1")),
        repo: 0,
        location: format!("Packages/{name}.rpm"),
        size: 1,
        sha256: "0".repeat(64),
        provides: Vec::new(),
        requires: Vec::new(),
        conflicts: Vec::new(),
        obsoletes: Vec::new(),
        recommends: Vec::new(),
        suggests: Vec::new(),
        supplements: Vec::new(),
        enhances: Vec::new(),
        files: Vec::new(),
    };
    for line in lines {
        let (field, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("bad test line `{line}`"));
        if field == "Files" {
            pkg.files.extend(value.split_whitespace().map(String::from));
            continue;
        }
        let deps = deps(value);
        match field {
            "Provides" => pkg.provides.extend(deps),
            "Requires" => pkg.requires.extend(deps),
            "PreReq" => pkg
                .requires
                .extend(deps.into_iter().map(|d| RpmDep { pre: true, ..d })),
            "Conflicts" => pkg.conflicts.extend(deps),
            "Obsoletes" => pkg.obsoletes.extend(deps),
            "Recommends" => pkg.recommends.extend(deps),
            "Supplements" => pkg.supplements.extend(deps),
            _ => panic!("unknown test field `{field}`"),
        }
    }
    pkg
}

/// `a, b >= 2, (c or d)`.
fn deps(value: &str) -> Vec<RpmDep> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in value.char_indices().chain([(value.len(), ',')]) {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                let text = value[start..i].trim();
                if !text.is_empty() {
                    out.push(dep(text));
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    out
}

fn dep(text: &str) -> RpmDep {
    if text.starts_with('(') {
        return RpmDep::plain(text);
    }
    match text.split_whitespace().collect::<Vec<_>>()[..] {
        [name] => RpmDep::plain(name),
        [name, op, evr] => RpmDep {
            name: name.to_string(),
            flags: Some(Flags::from_operator(op).expect("an operator")),
            evr: Some(Evr::parse(evr)),
            pre: false,
        },
        _ => panic!("bad test dependency `{text}`"),
    }
}

fn request(packages: &[&str]) -> RpmRequest<'static> {
    RpmRequest {
        arch: "aarch64",
        packages: packages.iter().map(|p| p.to_string()).collect(),
        ..RpmRequest::default()
    }
}

/// The result as NEVRAs, in result order.
fn nevras(universe: &[RpmPackage], found: &[usize]) -> Vec<String> {
    found.iter().map(|&i| universe[i].nevra()).collect()
}

fn resolve_ok(universe: &[RpmPackage], request: &RpmRequest) -> Vec<String> {
    match resolve(universe, request) {
        Ok(found) => nevras(universe, &found),
        Err(e) => panic!("{e}"),
    }
}

fn unsatisfiable(universe: &[RpmPackage], request: &RpmRequest) -> String {
    match resolve(universe, request) {
        Err(ResolveError::Unsatisfiable { explanation }) => explanation,
        other => panic!("expected unsatisfiable, got {other:?}"),
    }
}

#[test]
fn resolves_what_dnf_would_install() {
    // (what, universe, requested, expected result)
    let cases: &[(&str, &str, &[&str], &[&str])] = &[
        (
            "Requires and Requires(pre) are followed to a closure",
            "a\nRequires: b\n\nb\nPreReq: c\n\nc\n\nunrelated",
            &["a"],
            &["a-1.0-1.aarch64", "b-1.0-1.aarch64", "c-1.0-1.aarch64"],
        ),
        (
            "the newest version is taken; an epoch outweighs the version",
            "b 2.0-1\n\nb 1:0.1-1\n\nb 1.5-1",
            &["b"],
            &["b-1:0.1-1.aarch64"],
        ),
        (
            "a tilde sorts before the release it precedes",
            "b 1.0~rc2-1\n\nb 1.0-1\n\nb 1.0~rc1-1",
            &["b"],
            &["b-1.0-1.aarch64"],
        ),
        (
            "a caret sorts after the release it follows",
            "b 1.0^git5-1\n\nb 1.0-1\n\nb 0.9-1",
            &["b"],
            &["b-1.0^git5-1.aarch64"],
        ),
        (
            "version ranges pick the version in range",
            "a\nRequires: b >= 2, b < 3\n\nb 1-1\n\nb 2-1\n\nb 3-1",
            &["a"],
            &["a-1.0-1.aarch64", "b-2-1.aarch64"],
        ),
        (
            "packages of other arches are no candidates",
            "a 9-1 x86_64\n\na 1-1",
            &["a"],
            &["a-1-1.aarch64"],
        ),
        (
            "noarch packages are candidates",
            "a\nRequires: data\n\ndata 1.0-1 noarch",
            &["a"],
            &["a-1.0-1.aarch64", "data-1.0-1.noarch"],
        ),
        (
            "the root's arch is preferred over noarch at the same version",
            "a 1.0-1 noarch\n\na 1.0-1",
            &["a"],
            &["a-1.0-1.aarch64"],
        ),
        (
            "a newer noarch version still wins over the root's arch",
            "a 1.0-1\n\na 2.0-1 noarch",
            &["a"],
            &["a-2.0-1.noarch"],
        ),
        (
            "a versioned Provides satisfies an overlapping versioned Requires",
            "a\nRequires: foo >= 1.2\n\nold\nProvides: foo = 1.0\n\nnew\nProvides: foo = 1.3",
            &["a"],
            &["a-1.0-1.aarch64", "new-1.0-1.aarch64"],
        ),
        (
            "an unversioned Provides satisfies a versioned Requires (rpm, unlike dpkg)",
            "a\nRequires: foo >= 5\n\nbar\nProvides: foo",
            &["a"],
            &["a-1.0-1.aarch64", "bar-1.0-1.aarch64"],
        ),
        (
            "a ranged Provides meets a Requires inside the range",
            "a\nRequires: foo > 2.5\n\nbar\nProvides: foo >= 2\n\nbaz\nProvides: foo < 2",
            &["a"],
            &["a-1.0-1.aarch64", "bar-1.0-1.aarch64"],
        ),
        (
            "every package provides name = evr; a missing release matches any",
            "a\nRequires: b = 2.0, c = 1:3\n\nb 2.0-7\n\nb 2.1-1\n\nc 1:3-1\n\nc 3.1-1",
            &["a"],
            &["a-1.0-1.aarch64", "b-2.0-7.aarch64", "c-1:3-1.aarch64"],
        ),
        (
            "the self-provide repeated in Provides counts once",
            "a\nRequires: b >= 1\n\nb 2.0-1\nProvides: b = 2.0-1",
            &["a"],
            &["a-1.0-1.aarch64", "b-2.0-1.aarch64"],
        ),
        (
            "the package named like a capability is preferred among providers",
            "a\nRequires: mta\n\naaa-mta\nProvides: mta\n\nmta\nProvides: mta",
            &["a"],
            &["a-1.0-1.aarch64", "mta-1.0-1.aarch64"],
        ),
        (
            "otherwise providers are tried by name",
            "a\nRequires: smtpdaemon\n\npostfix\nProvides: smtpdaemon\n\nexim\nProvides: smtpdaemon",
            &["a"],
            &["a-1.0-1.aarch64", "exim-1.0-1.aarch64"],
        ),
        (
            "a provider already chosen is kept",
            "a\nRequires: smtpdaemon\n\npostfix\nProvides: smtpdaemon\n\nexim\nProvides: smtpdaemon",
            &["postfix", "a"],
            &["a-1.0-1.aarch64", "postfix-1.0-1.aarch64"],
        ),
        (
            "a path is satisfied by the package owning the file",
            "a\nRequires: /usr/bin/sh\n\nbash\nFiles: /usr/bin/bash /usr/bin/sh\n\nzsh",
            &["a"],
            &["a-1.0-1.aarch64", "bash-1.0-1.aarch64"],
        ),
        (
            "a path is satisfied by a Provides of it",
            "a\nRequires: /bin/sh\n\nbash\nProvides: /bin/sh",
            &["a"],
            &["a-1.0-1.aarch64", "bash-1.0-1.aarch64"],
        ),
        (
            "rpmlib() dependencies are rpm's own",
            "a\nRequires: rpmlib(RichDependencies) <= 4.12.0-1",
            &["a"],
            &["a-1.0-1.aarch64"],
        ),
        (
            "a package may require what it provides itself",
            "a\nRequires: virt\nProvides: virt\n\nother\nProvides: virt",
            &["a"],
            &["a-1.0-1.aarch64"],
        ),
        (
            "Conflicts force the other alternative",
            "a\nRequires: (b or c)\n\nx\nConflicts: b\n\nb\n\nc",
            &["a", "x"],
            &["a-1.0-1.aarch64", "c-1.0-1.aarch64", "x-1.0-1.aarch64"],
        ),
        (
            "Conflicts on a provided name exclude its providers",
            "a\nRequires: (b or c)\n\nx\nConflicts: virt\n\nb\nProvides: virt\n\nc",
            &["x", "a"],
            &["a-1.0-1.aarch64", "c-1.0-1.aarch64", "x-1.0-1.aarch64"],
        ),
        (
            "versioned Conflicts exclude only the versions in range",
            "a\nRequires: b\n\nx\nConflicts: b >= 3\n\nb 3-1\n\nb 2-1",
            &["a", "x"],
            &["a-1.0-1.aarch64", "b-2-1.aarch64", "x-1.0-1.aarch64"],
        ),
        (
            "a package never conflicts with itself",
            "a\nRequires: mta\n\nmta\nProvides: mta\nConflicts: mta",
            &["a"],
            &["a-1.0-1.aarch64", "mta-1.0-1.aarch64"],
        ),
        (
            "rich Conflicts with or conflict with each alternative",
            "a\nRequires: (b or c or d)\n\nx\nConflicts: (b or c)\n\nb\n\nc\n\nd",
            &["a", "x"],
            &["a-1.0-1.aarch64", "d-1.0-1.aarch64", "x-1.0-1.aarch64"],
        ),
        (
            "Obsoletes exclude the obsoleted package from the same transaction",
            "a\nRequires: (c or d)\n\nx\nObsoletes: c < 2\n\nc\n\nd",
            &["a", "x"],
            &["a-1.0-1.aarch64", "d-1.0-1.aarch64", "x-1.0-1.aarch64"],
        ),
        (
            "Obsoletes match package names, not Provides",
            "a\nRequires: (c or d)\n\nx\nObsoletes: virt\n\nc\nProvides: virt\n\nd",
            &["a", "x"],
            &["a-1.0-1.aarch64", "c-1.0-1.aarch64", "x-1.0-1.aarch64"],
        ),
        (
            "Obsoletes out of range do not exclude",
            "a\nRequires: (c or d)\n\nx\nObsoletes: c < 1.0\n\nc\n\nd",
            &["a", "x"],
            &["a-1.0-1.aarch64", "c-1.0-1.aarch64", "x-1.0-1.aarch64"],
        ),
        (
            "a requested name that is obsoleted installs its replacement",
            "old 1.0-1\n\nnew 2.0-1\nObsoletes: old < 2\nProvides: old = 2.0",
            &["old"],
            &["new-2.0-1.aarch64"],
        ),
        (
            "a chain of renames is followed to its end",
            "old\n\nmiddle\nObsoletes: old\n\nnewest\nObsoletes: middle",
            &["old"],
            &["newest-1.0-1.aarch64"],
        ),
        (
            "a requested name whose newest version is not obsoleted stays",
            "old 1.0-1\n\nold 2.0-1\n\nnew\nObsoletes: old < 2",
            &["old"],
            &["old-2.0-1.aarch64"],
        ),
        (
            "packages obsoleting each other do not go round",
            "a\nObsoletes: b < 1\n\nb\nObsoletes: a",
            &["a"],
            &["b-1.0-1.aarch64"],
        ),
        (
            "the result is sorted by name, then arch",
            "z\nRequires: m, a\n\nm 1.0-1 noarch\n\na",
            &["z"],
            &["a-1.0-1.aarch64", "m-1.0-1.noarch", "z-1.0-1.aarch64"],
        ),
    ];
    for &(what, text, packages, expected) in cases {
        let universe = universe(text);
        let got = match resolve(&universe, &request(packages)) {
            Ok(found) => nevras(&universe, &found),
            Err(e) => panic!("{what}: {e}"),
        };
        assert_eq!(got, expected, "{what}");
    }
}

#[test]
fn rich_dependencies_follow_rpm_semantics() {
    // Every case: `x` requires the rich dependency; the universe has a, b,
    // c (and what the case adds). (dependency, also requested, extra
    // universe, expected result besides x and the requested)
    let cases: &[(&str, &[&str], &str, &[&str])] = &[
        ("(a and b)", &[], "", &["a", "b"]),
        ("(a or b)", &[], "", &["a"]),
        ("(missing or b)", &[], "", &["b"]),
        ("(a or b or c)", &["c"], "", &[]),
        ("((missing and b) or c)", &[], "", &["c"]),
        ("((a and b) or c)", &[], "", &["a", "b"]),
        ("(a if b)", &[], "", &[]),
        ("(a if b)", &["b"], "", &["a"]),
        ("(a if (b or c))", &["c"], "", &["a"]),
        ("(a if (b and c))", &["c"], "", &[]),
        ("(a if b else c)", &[], "", &["c"]),
        ("(a if b else c)", &["b"], "", &["a"]),
        ("(a unless b)", &[], "", &["a"]),
        ("(a unless b)", &["b"], "", &[]),
        ("(a unless b else c)", &[], "", &["a"]),
        ("(a unless b else c)", &["b"], "", &["c"]),
        // `with`: one package satisfying both; plain `feature` alone would
        // take `a-feature` (first by name).
        (
            "(feature with tuned)",
            &[],
            "a-feature\nProvides: feature\n\nb-feature\nProvides: feature, tuned",
            &["b-feature"],
        ),
        (
            "(feature without tuned)",
            &[],
            "a-feature\nProvides: feature, tuned\n\nb-feature\nProvides: feature",
            &["b-feature"],
        ),
        (
            "(kernel-core with kernel-uname-r = 6.2)",
            &[],
            "kernel-core 6.3-1\nProvides: kernel-uname-r = 6.3\n\n\
             kernel-core 6.2-1\nProvides: kernel-uname-r = 6.2",
            &["kernel-core"],
        ),
        (
            "((feature or other) with tuned)",
            &[],
            "p\nProvides: other, tuned\n\nq\nProvides: feature",
            &["p"],
        ),
    ];
    for &(rich, also, extra, expected) in cases {
        let text = format!("x\nRequires: {rich}\n\na\n\nb\n\nc\n\n{extra}");
        let universe = universe(&text);
        let mut packages = vec!["x"];
        packages.extend(also);
        let got: Vec<String> = resolve_ok(&universe, &request(&packages))
            .into_iter()
            .map(|n| n.trim_end_matches(".aarch64").to_string())
            .map(|n| n.rsplitn(3, '-').nth(2).unwrap().to_string())
            .filter(|n| n != "x" && !also.contains(&n.as_str()))
            .collect();
        assert_eq!(got, expected, "{rich} with {also:?}");
    }
}

#[test]
fn unsatisfiable_requests_explain_the_failed_chain() {
    // (what, universe, requested, text the explanation must contain)
    let cases: &[(&str, &str, &[&str], &[&str])] = &[
        (
            "a chain ending in a missing capability",
            "a\nRequires: b\n\nb\nRequires: libmissing.so.1()(64bit) >= 1",
            &["a"],
            &[
                "a-1.0-1.aarch64",
                "b-1.0-1.aarch64",
                "libmissing.so.1()(64bit) >= 1, for which no candidates were found",
            ],
        ),
        (
            "a version that does not exist",
            "a\nRequires: b >= 2\n\nb 1-1",
            &["a"],
            &["a-1.0-1.aarch64", "b >= 2"],
        ),
        (
            "a capability only the wrong version provides",
            "a\nRequires: libfoo.so.2\n\nfoo 1-1\nProvides: libfoo.so.1",
            &["a"],
            &["libfoo.so.2, for which no candidates were found"],
        ),
        (
            "a rich dependency without candidates",
            "a\nRequires: (x or y)",
            &["a"],
            &["x | y"],
        ),
        (
            "a rich dependency that does not parse",
            "a\nRequires: (x and y or z)",
            &["a"],
            &["(x and y or z)"],
        ),
        (
            "two packages that conflict",
            "a\nConflicts: b\n\nb",
            &["a", "b"],
            &["a-1.0-1.aarch64", "b-1.0-1.aarch64", "Conflicts: b"],
        ),
        (
            "a versioned conflict through a provider",
            "a\nRequires: libc\n\nglibc 2.0-1\nProvides: libc\nConflicts: a < 2",
            &["a"],
            &["glibc (providing libc)", "Conflicts: a < 2"],
        ),
        (
            "a requested version that does not exist",
            "a 1.0-1",
            &["a = 2.0"],
            &["a = 2.0"],
        ),
    ];
    for &(what, text, packages, needles) in cases {
        let universe = universe(text);
        let explanation = unsatisfiable(&universe, &request(packages));
        eprintln!("{what}:\n{explanation}\n");
        for needle in needles {
            assert!(
                explanation.contains(needle),
                "{what}: `{needle}` not in:\n{explanation}"
            );
        }
    }
}

#[test]
fn requests_take_the_forms_dnf_accepts() {
    let universe = universe(
        "foo 1.0-1\n\nfoo 2:2.0-3\n\nfoo 2:2.0-3 noarch\n\nfoo 3.0-1 x86_64\n\n\
         python3.12 3.12.1-1\nProvides: python(abi) = 3.12\n\n\
         zlib-devel\nProvides: pkgconfig(zlib) = 1.3\nFiles: /usr/include/zlib.h\n\n\
         bash\nFiles: /usr/bin/sh",
    );
    let cases: &[(&str, &str)] = &[
        ("foo", "foo-2:2.0-3.aarch64"),
        ("foo-1.0-1", "foo-1.0-1.aarch64"),
        ("foo-1.0", "foo-1.0-1.aarch64"),
        ("foo-1.0-1.aarch64", "foo-1.0-1.aarch64"),
        ("foo-2.0-3.noarch", "foo-2:2.0-3.noarch"),
        ("foo-2:2.0-3", "foo-2:2.0-3.aarch64"),
        ("foo.noarch", "foo-2:2.0-3.noarch"),
        ("foo < 2", "foo-1.0-1.aarch64"),
        ("foo = 2:2.0", "foo-2:2.0-3.aarch64"),
        ("python3.12", "python3.12-3.12.1-1.aarch64"),
        ("python(abi) >= 3.10", "python3.12-3.12.1-1.aarch64"),
        ("pkgconfig(zlib)", "zlib-devel-1.0-1.aarch64"),
        ("/usr/bin/sh", "bash-1.0-1.aarch64"),
        ("(missing or bash)", "bash-1.0-1.aarch64"),
    ];
    for &(text, expected) in cases {
        assert_eq!(
            resolve_ok(&universe, &request(&[text])),
            [expected],
            "{text}"
        );
    }
}

#[test]
fn further_requires_are_added() {
    let universe = universe("make\n\ngcc 12-1\n\ngcc 13-1\n\nclang");
    let request = RpmRequest {
        requires: vec![dep("make"), dep("(gcc < 13 or clang)")],
        ..request(&[])
    };
    assert_eq!(
        resolve_ok(&universe, &request),
        ["gcc-12-1.aarch64", "make-1.0-1.aarch64"]
    );
}

#[test]
fn unknown_packages_suggest_a_close_name() {
    let universe =
        universe("bash\n\nzlib-devel\nProvides: pkgconfig(zlib)\n\namd64-only 1.0-1 x86_64");
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("bsah", "bsah", Some("bash")),
        (
            "pkgconfig(zlbi)",
            "pkgconfig(zlbi)",
            Some("pkgconfig(zlib)"),
        ),
        ("zzzzzzzzzz", "zzzzzzzzzz", None),
        ("amd64-only", "amd64-only", None),
        ("/usr/bin/nothing", "/usr/bin/nothing", None),
        ("bahs >= 2", "bahs", Some("bash")),
        ("bash-9.9-1", "bash-9.9-1", None),
    ];
    for &(text, name, suggestion) in cases {
        match resolve(&universe, &request(&[text])) {
            Err(ResolveError::UnknownPackage {
                name: n,
                suggestion: s,
            }) => {
                assert_eq!(n, name, "{text}");
                assert_eq!(s.as_deref(), suggestion, "{text}");
            }
            other => panic!("{text}: expected UnknownPackage, got {other:?}"),
        }
    }
    let message = resolve(&universe, &request(&["bsah"]))
        .unwrap_err()
        .to_string();
    assert_eq!(message, "no package named `bsah`; did you mean `bash`?");
}

#[test]
fn bad_requests_name_the_request_and_the_problem() {
    let universe = universe("a\n\nb");
    let cases: &[(&str, RichProblem)] = &[
        (
            "(a and b or c)",
            RichProblem::MixedOperators(Op::And, Op::Or),
        ),
        ("a >> 2", RichProblem::UnknownOperator(">>".to_string())),
        ("a >=", RichProblem::MissingVersion("a".to_string())),
        ("(a or b", RichProblem::Unterminated),
    ];
    for (text, problem) in cases {
        match resolve(&universe, &request(&[text])) {
            Err(ResolveError::BadRequest { request, reason }) => {
                assert_eq!(request, *text);
                assert_eq!(reason.problem, *problem, "{text}");
            }
            other => panic!("{text}: expected BadRequest, got {other:?}"),
        }
    }
    let err = resolve(&universe, &request(&["(a and b or c)"])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`(a and b or c)` is not a valid package request"
    );
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert_eq!(
        cause,
        "`(a and b or c)` is not a valid rich dependency: \
         `and` and `or` cannot be mixed without parentheses"
    );
}

#[test]
fn weak_dependencies_are_followed_but_never_fail_the_request() {
    // (what, universe, weak_deps, expected)
    let cases: &[(&str, &str, bool, &[&str])] = &[
        (
            "off: Recommends and Supplements ignored",
            "a\nRecommends: b\n\nb\n\nlang\nSupplements: a",
            false,
            &["a-1.0-1.aarch64"],
        ),
        (
            "on: Recommends with a candidate are installed, others skipped",
            "a\nRecommends: b, missing\n\nb",
            true,
            &["a-1.0-1.aarch64", "b-1.0-1.aarch64"],
        ),
        (
            "on: Recommends of recommended packages too",
            "a\nRecommends: b\n\nb\nRecommends: c\n\nc",
            true,
            &["a-1.0-1.aarch64", "b-1.0-1.aarch64", "c-1.0-1.aarch64"],
        ),
        (
            "on: rich Recommends",
            "a\nRecommends: (b if c), (missing or d)\n\nb\n\nc\n\nd",
            true,
            &["a-1.0-1.aarch64", "d-1.0-1.aarch64"],
        ),
        (
            "on: a package supplementing an installed one is installed",
            "a\n\nlang-a\nSupplements: a\n\nlang-z\nSupplements: z",
            true,
            &["a-1.0-1.aarch64", "lang-a-1.0-1.aarch64"],
        ),
        (
            "on: rich Supplements need all their parts",
            "a\nRequires: b\n\nb\n\nboth\nSupplements: (a and b)\n\n\
             one\nSupplements: (a and c)\n\nc",
            true,
            &["a-1.0-1.aarch64", "b-1.0-1.aarch64", "both-1.0-1.aarch64"],
        ),
        (
            "on: Recommends that cannot be installed drop all weak dependencies",
            "a\nRecommends: b, c\n\nb\nRequires: gone\n\nc\nConflicts: a",
            true,
            &["a-1.0-1.aarch64"],
        ),
    ];
    for &(what, text, weak_deps, expected) in cases {
        let universe = universe(text);
        let request = RpmRequest {
            weak_deps,
            ..request(&["a"])
        };
        assert_eq!(resolve_ok(&universe, &request), expected, "{what}");
    }
}

#[test]
fn installed_packages_stay_and_keep_their_version() {
    let universe =
        universe("a\nRequires: b >= 1\n\nc\nRequires: b >= 2\n\nb 1-1\n\nb 2-1\n\nx 1-1\n\nx 2-1");
    let installed = vec![
        ("b".to_string(), "aarch64".to_string(), Evr::parse("1-1")),
        ("x".to_string(), "aarch64".to_string(), Evr::parse("1-1")),
        ("gone".to_string(), "aarch64".to_string(), Evr::parse("1-1")),
    ];
    // (requested, upgrade, expected)
    let cases: &[(&[&str], bool, &[&str])] = &[
        (&[], false, &["b-1-1.aarch64", "x-1-1.aarch64"]),
        (
            &["a"],
            false,
            &["a-1.0-1.aarch64", "b-1-1.aarch64", "x-1-1.aarch64"],
        ),
        // The installed version is too old for `c`: it is updated.
        (
            &["c"],
            false,
            &["b-2-1.aarch64", "c-1.0-1.aarch64", "x-1-1.aarch64"],
        ),
        (&[], true, &["b-2-1.aarch64", "x-2-1.aarch64"]),
        (
            &["a"],
            true,
            &["a-1.0-1.aarch64", "b-2-1.aarch64", "x-2-1.aarch64"],
        ),
    ];
    for &(packages, upgrade, expected) in cases {
        let request = RpmRequest {
            installed: installed.clone(),
            upgrade,
            ..request(packages)
        };
        assert_eq!(
            resolve_ok(&universe, &request),
            expected,
            "{packages:?} upgrade={upgrade}"
        );
    }
}

#[test]
fn obsoleted_installed_packages_are_replaced() {
    let universe =
        universe("old 1.0-1\n\nnew 2.0-1\nObsoletes: old < 2\n\nuser\nRequires: new\n\nkeep");
    let installed = vec![
        (
            "old".to_string(),
            "aarch64".to_string(),
            Evr::parse("1.0-1"),
        ),
        (
            "keep".to_string(),
            "aarch64".to_string(),
            Evr::parse("1.0-1"),
        ),
    ];
    // (requested, upgrade, expected)
    let cases: &[(&[&str], bool, &[&str])] = &[
        // Nothing asks for the replacement: the installed package stays.
        (&[], false, &["keep-1.0-1.aarch64", "old-1.0-1.aarch64"]),
        (
            &["old"],
            false,
            &["keep-1.0-1.aarch64", "old-1.0-1.aarch64"],
        ),
        // Something installed obsoletes it.
        (
            &["new"],
            false,
            &["keep-1.0-1.aarch64", "new-2.0-1.aarch64"],
        ),
        (
            &["user"],
            false,
            &[
                "keep-1.0-1.aarch64",
                "new-2.0-1.aarch64",
                "user-1.0-1.aarch64",
            ],
        ),
        // An update replaces obsoleted packages, as `dnf upgrade` does.
        (&[], true, &["keep-1.0-1.aarch64", "new-2.0-1.aarch64"]),
    ];
    for &(packages, upgrade, expected) in cases {
        let request = RpmRequest {
            installed: installed.clone(),
            upgrade,
            ..request(packages)
        };
        assert_eq!(
            resolve_ok(&universe, &request),
            expected,
            "{packages:?} upgrade={upgrade}"
        );
    }
}

#[test]
fn weak_dependencies_of_installed_versions_are_not_followed_again() {
    let universe = universe(
        "a 1-1\nRecommends: old-extra\n\na 2-1\nRecommends: old-extra, new-extra\n\n\
         old-extra\n\nnew-extra\n\nlang\nSupplements: a",
    );
    let installed = vec![("a".to_string(), "aarch64".to_string(), Evr::parse("1-1"))];
    // (upgrade, expected)
    let cases: &[(bool, &[&str])] = &[
        (false, &["a-1-1.aarch64"]),
        // The update's new Recommends are followed, the old one not again.
        (true, &["a-2-1.aarch64", "new-extra-1.0-1.aarch64"]),
    ];
    for &(upgrade, expected) in cases {
        let request = RpmRequest {
            installed: installed.clone(),
            upgrade,
            weak_deps: true,
            ..request(&[])
        };
        assert_eq!(
            resolve_ok(&universe, &request),
            expected,
            "upgrade={upgrade}"
        );
    }
}

#[test]
fn same_version_in_two_repositories_takes_the_first() {
    let mut universe = universe("a 1-1\n\na 1-1");
    universe[1].repo = 1;
    assert_eq!(resolve(&universe, &request(&["a"])).unwrap(), [0]);
}

#[test]
fn same_input_gives_the_same_result() {
    let universe = universe(
        "a\nRequires: mta, (b or c), d\n\n\
         exim\nProvides: mta\nConflicts: mta\n\n\
         postfix\nProvides: mta\nConflicts: mta\n\n\
         b\nRequires: d >= 2\n\nc\n\nd 1-1\n\nd 2-1",
    );
    let request = request(&["a"]);
    // The provider first by name, the first of `(b or c)`, and the newest
    // `d`, which `b` needs.
    let expected = [
        "a-1.0-1.aarch64",
        "b-1.0-1.aarch64",
        "d-2-1.aarch64",
        "exim-1.0-1.aarch64",
    ];
    for _ in 0..5 {
        assert_eq!(resolve_ok(&universe, &request), expected);
    }
}

#[test]
fn unsatisfied_file_requirements_lists_paths_nothing_supplies() {
    let universe = universe(
        "a\nRequires: /usr/bin/sh, /usr/share/missing, (/opt/rich or b), /etc/provided\n\
         Recommends: /usr/lib/weak\n\n\
         bash\nFiles: /usr/bin/sh\n\n\
         p 1.0-1 noarch\nProvides: /etc/provided\n\n\
         other 1.0-1 x86_64\nRequires: /other/arch\n\nb",
    );
    let got = unsatisfied_file_requirements(&universe, "aarch64");
    let expected = ["/opt/rich", "/usr/lib/weak", "/usr/share/missing"];
    assert_eq!(got.iter().map(String::as_str).collect::<Vec<_>>(), expected);
    assert!(unsatisfied_file_requirements(&universe, "ppc64le").is_empty());
}

#[test]
fn install_order_puts_providers_first() {
    // (what, universe, expected order; every package is installed)
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "requirements first, ties by name",
            "app\nRequires: lib, /usr/bin/sh\n\nlib\nPreReq: base\n\nbash\nFiles: /usr/bin/sh\n\n\
             base\n\nzzz",
            &["base", "bash", "lib", "app", "zzz"],
        ),
        (
            "rich dependencies order by every name inside",
            "app\nRequires: (lib or other)\n\nlib",
            &["lib", "app"],
        ),
        (
            "a cycle is broken at the plain requirement, not the pre one",
            "a\nPreReq: b\n\nb\nRequires: a",
            &["b", "a"],
        ),
        (
            "the other way round",
            "a\nRequires: b\n\nb\nPreReq: a",
            &["a", "b"],
        ),
        (
            "a cycle without pre-requirements breaks by name",
            "b\nRequires: c\n\nc\nRequires: b\n\na\nRequires: c",
            &["b", "c", "a"],
        ),
        (
            "what depends on a cycle waits for all of it",
            "user\nRequires: x\n\nx\nRequires: y\n\ny\nPreReq: x\n\naaa",
            &["aaa", "x", "y", "user"],
        ),
        (
            "a versioned requirement the package does not meet orders nothing",
            "a\nRequires: b >= 2\n\nb 1-1",
            &["a", "b"],
        ),
    ];
    for &(what, text, expected) in cases {
        let universe = universe(text);
        let all: Vec<usize> = (0..universe.len()).collect();
        let order: Vec<&str> = install_order(&universe, &all)
            .into_iter()
            .map(|i| universe[i].name.as_str())
            .collect();
        assert_eq!(order, expected, "{what}");
    }
    // Only the chosen packages, as indices into the universe.
    let universe = universe("a\nRequires: c\n\nb\n\nc");
    assert_eq!(install_order(&universe, &[2, 0]), [2, 0]);
}

#[test]
fn rich_dependencies_parse_as_rpm_does() {
    // (text, as printed back)
    let cases: &[(&str, &str)] = &[
        ("(a or b)", "(a or b)"),
        ("(a and b and c)", "(a and b and c)"),
        ("(foo >= 1.2 or bar = 1:2-3)", "(foo >= 1.2 or bar = 1:2-3)"),
        ("(a if b else c)", "(a if b else c)"),
        ("(a unless (b and c) else d)", "(a unless (b and c) else d)"),
        (
            "(kernel-core with kernel-uname-r = 6.2)",
            "(kernel-core with kernel-uname-r = 6.2)",
        ),
        ("((a or b) without c)", "((a or b) without c)"),
        (
            "(pkgconfig(zlib) >= 1.2 or perl(Foo::Bar))",
            "(pkgconfig(zlib) >= 1.2 or perl(Foo::Bar))",
        ),
        ("  (a  =>  2 or b)  ", "(a >= 2 or b)"),
        ("((a))", "a"),
        ("(a)", "a"),
        ("(/usr/bin/sh or (c if d))", "(/usr/bin/sh or (c if d))"),
    ];
    for &(text, printed) in cases {
        match parse_rich(text) {
            Ok(dep) => {
                assert_eq!(dep.to_string(), printed, "{text}");
                let again = parse_rich(&format!("({printed})")).unwrap();
                assert_eq!(again, dep, "{text} round trip");
            }
            Err(e) => panic!("{text}: {e}"),
        }
    }
    // The comma separates, as rpm's parser treats it as whitespace; `b`
    // then is an unknown operator.
    assert_eq!(
        parse_rich("(a, b)").unwrap_err().problem,
        RichProblem::UnknownOperator("b".to_string())
    );
}

#[test]
fn rich_dependency_errors_say_what_is_wrong() {
    let cases: &[(&str, RichProblem)] = &[
        ("a or b", RichProblem::NoParenthesis),
        ("()", RichProblem::Empty),
        ("(a or )", RichProblem::MissingOperand(Op::Or)),
        ("(a >= )", RichProblem::MissingVersion("a".to_string())),
        ("(a xor b)", RichProblem::UnknownOperator("xor".to_string())),
        (
            "(a and b or c)",
            RichProblem::MixedOperators(Op::And, Op::Or),
        ),
        ("(a if b if c)", RichProblem::Unchainable(Op::If)),
        ("(a if b else c else d)", RichProblem::Unchainable(Op::Else)),
        (
            "(a without b without c)",
            RichProblem::Unchainable(Op::Without),
        ),
        ("(a else b)", RichProblem::ElseWithoutCondition),
        (
            "(a with (b and c))",
            RichProblem::NotSinglePackage(Op::With),
        ),
        (
            "((a if b) without c)",
            RichProblem::NotSinglePackage(Op::Without),
        ),
        ("(a or b", RichProblem::Unterminated),
        ("(a or b) c", RichProblem::Trailing(" c".to_string())),
        (
            &format!("{}a{}", "(".repeat(40), ")".repeat(40)),
            RichProblem::TooDeep,
        ),
    ];
    for (text, problem) in cases {
        match parse_rich(text) {
            Err(e) => {
                assert_eq!(e.problem, *problem, "{text}");
                assert_eq!(e.text, *text);
            }
            Ok(dep) => panic!("{text}: parsed as {dep}"),
        }
    }
}

/// A Fedora-sized synthetic universe: 75,000 entries (a tenth of them a
/// newer one of another arch, a tenth an older version), sonames, pkgconfig names,
/// paths, versioned, rich and conditional Requires, Supplements and
/// Conflicts. A measurement, not a check: `scripts/bench/resolve` runs it
/// in release mode.
#[test]
#[ignore = "a measurement; scripts/bench/resolve runs it"]
fn fedora_sized_universe_resolves_quickly() {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    // A core every package draws from (glibc, bash, …), each core package
    // needing a few earlier ones; other packages also need a few neighbours.
    const CORE: usize = 1000;
    let count = 63_000;
    let mut universe = Vec::new();
    for i in 0..count {
        let arch = if next(10) < 3 { "noarch" } else { "aarch64" };
        let version = format!("1.{}-1", next(5));
        let mut text = format!("p{i} {version} {arch}\n");
        text.push_str(&format!(
            "Provides: p{i} = {version}, p{i}(aarch-64) = {version}, libp{i}.so.1()(64bit), \
             libp{i}.so.1(V_{i})(64bit), pkgconfig(p{i}) = 1.2, config(p{i}) = {version}\n\
             Files: /usr/bin/p{i} /etc/p{i}.conf\n"
        ));
        let mut requires = Vec::new();
        let deps = if i < CORE { next(4) } else { 2 + next(6) };
        for _ in 0..deps.min(i) {
            let j = if i < CORE {
                next(i)
            } else if next(10) < 9 {
                next(CORE)
            } else {
                i - 1 - next(200)
            };
            requires.push(match next(10) {
                0..=4 => format!("libp{j}.so.1()(64bit)"),
                5 => format!("p{j} >= 1.0"),
                6 => format!("/usr/bin/p{j}"),
                7 => format!("(p{j} or p{})", next(CORE)),
                8 => format!("(p{j} if p{})", next(CORE)),
                _ => format!("pkgconfig(p{j}) >= 1"),
            });
        }
        text.push_str(&format!("Requires: {}\n", requires.join(", ")));
        if next(10) == 0 {
            text.push_str(&format!(
                "Supplements: (p{} and p{})\n",
                next(CORE),
                next(CORE)
            ));
        }
        if next(50) == 0 {
            text.push_str(&format!("Conflicts: p{} < 1.0\n", next(count)));
        }
        universe.push(package(&text));
        if next(10) == 0 {
            let mut older = package(&text);
            older.evr = Evr::parse("0.9-1");
            universe.push(older);
        }
        if next(10) == 0 {
            let mut foreign = package(&text);
            foreign.arch = "x86_64".to_string();
            foreign.evr = Evr::parse("9-1");
            universe.push(foreign);
        }
    }
    println!("{} packages", universe.len());
    let mut packages: Vec<String> = Vec::new();
    while packages.len() < 150 {
        let name = format!("p{}", next(count));
        if !packages.contains(&name) {
            packages.push(name);
        }
    }
    let refs: Vec<&str> = packages.iter().map(String::as_str).collect();
    for weak_deps in [false, true] {
        let request = RpmRequest {
            weak_deps,
            ..request(&refs)
        };
        let start = std::time::Instant::now();
        let found = resolve(&universe, &request).unwrap_or_else(|e| panic!("{e}"));
        println!(
            "weak_deps={weak_deps}: {} packages in {:?}",
            found.len(),
            start.elapsed()
        );
        let start = std::time::Instant::now();
        let order = install_order(&universe, &found);
        println!("install order in {:?}", start.elapsed());
        assert_eq!(order.len(), found.len());
    }
    let start = std::time::Instant::now();
    let paths = unsatisfied_file_requirements(&universe, "aarch64");
    println!("{} unsatisfied paths in {:?}", paths.len(), start.elapsed());
}
