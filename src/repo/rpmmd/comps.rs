//! comps (`group`/`group_gz` in repomd): package groups such as
//! `@buildsys-build`.

use std::io::BufRead;

use super::xml::{Item, Pull, XmlError};

/// How a group lists a package (`<packagereq type="…">`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReqKind {
    Mandatory,
    Default,
    Optional,
    /// Installed only when the package it names (`requires="…"`) is.
    Conditional,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub packages: Vec<(String, ReqKind)>,
}

impl Group {
    /// What installing the group installs, as dnf does by default:
    /// mandatory and default packages.
    pub fn installed_packages(&self) -> impl Iterator<Item = &str> {
        self.packages
            .iter()
            .filter(|(_, k)| matches!(k, ReqKind::Mandatory | ReqKind::Default))
            .map(|(n, _)| n.as_str())
    }
}

pub fn read_comps(input: impl BufRead, origin: &str) -> Result<Vec<Group>, XmlError> {
    let mut pull = Pull::new(input, origin);
    let mut groups = Vec::new();
    let mut current: Option<Group> = None;
    let mut seen_root = false;
    loop {
        match pull.next()? {
            Item::Start(el) => match el.name.as_str() {
                "comps" => seen_root = true,
                "group" => {
                    current = Some(Group {
                        id: String::new(),
                        name: String::new(),
                        packages: Vec::new(),
                    })
                }
                "id" if current.is_some() => {
                    let id = pull.text(&el)?.trim().to_string();
                    current.as_mut().expect("checked").id = id;
                }
                // The untranslated name only.
                "name" if current.is_some() && el.attr("lang").is_none() => {
                    let name = pull.text(&el)?.trim().to_string();
                    current.as_mut().expect("checked").name = name;
                }
                "packagelist" => {}
                "packagereq" if current.is_some() => {
                    let kind = match el.attr("type").unwrap_or("mandatory") {
                        "default" => ReqKind::Default,
                        "optional" => ReqKind::Optional,
                        "conditional" => ReqKind::Conditional,
                        _ => ReqKind::Mandatory,
                    };
                    let name = pull.text(&el)?.trim().to_string();
                    current
                        .as_mut()
                        .expect("checked")
                        .packages
                        .push((name, kind));
                }
                _ => pull.skip(&el)?,
            },
            Item::End(name) if name == "group" => {
                if let Some(g) = current.take() {
                    if g.id.is_empty() {
                        return Err(pull.error("a `<group>` has no `<id>`"));
                    }
                    groups.push(g);
                }
            }
            Item::End(_) => {}
            Item::Eof => break,
        }
    }
    if !seen_root {
        return Err(pull.error("there is no `<comps>` element"));
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">
<comps>
  <group>
    <id>buildsys-build</id>
    <name>Buildsystem building group</name>
    <name xml:lang="de">Gruppe</name>
    <description/>
    <default>false</default>
    <uservisible>false</uservisible>
    <packagelist>
      <packagereq type="mandatory">bash</packagereq>
      <packagereq>coreutils</packagereq>
      <packagereq type="default">which</packagereq>
      <packagereq type="optional">ccache</packagereq>
      <packagereq type="conditional" requires="gcc">gcc-plugin</packagereq>
    </packagelist>
  </group>
  <category><id>dev</id><grouplist><groupid>buildsys-build</groupid></grouplist></category>
  <environment><id>minimal</id><grouplist><groupid>core</groupid></grouplist></environment>
</comps>"#;

    #[test]
    fn groups_with_their_packages() {
        let groups = read_comps(SAMPLE.as_bytes(), "comps.xml").unwrap();
        assert_eq!(groups.len(), 1);
        let g = &groups[0];
        assert_eq!(
            (g.id.as_str(), g.name.as_str()),
            ("buildsys-build", "Buildsystem building group")
        );
        assert_eq!(
            g.installed_packages().collect::<Vec<_>>(),
            ["bash", "coreutils", "which"]
        );
        assert_eq!(g.packages[4], ("gcc-plugin".into(), ReqKind::Conditional));
    }
}
