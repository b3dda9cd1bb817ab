//! `repodata/repomd.xml`: the index of a repository's metadata files, each
//! with its checksum.

use std::io::BufRead;

use super::xml::{Item, Pull, XmlError};

/// One `<data type="…">` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// `primary`, `filelists`, `group`, `group_gz`, …
    pub kind: String,
    /// Path relative to the repository's base URL (`repodata/…-primary.xml.zst`).
    pub href: String,
    /// The checksum type (`sha256`, `sha512`, …) and lowercase hex value.
    pub checksum: (String, String),
    pub size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Repomd {
    pub revision: Option<String>,
    pub data: Vec<DataFile>,
}

impl Repomd {
    pub fn parse(input: impl BufRead, origin: &str) -> Result<Repomd, XmlError> {
        let mut pull = Pull::new(input, origin);
        let mut out = Repomd::default();
        let mut current: Option<DataFile> = None;
        let mut seen_root = false;
        loop {
            match pull.next()? {
                Item::Start(el) => match el.name.as_str() {
                    "repomd" => seen_root = true,
                    "revision" => out.revision = Some(pull.text(&el)?.trim().to_string()),
                    "data" => {
                        current = Some(DataFile {
                            kind: el.attr("type").unwrap_or_default().to_string(),
                            href: String::new(),
                            checksum: (String::new(), String::new()),
                            size: None,
                        })
                    }
                    "location" => {
                        if let Some(d) = current.as_mut() {
                            d.href = el.attr("href").unwrap_or_default().to_string();
                        }
                    }
                    "checksum" => {
                        let kind = el.attr("type").unwrap_or_default().to_ascii_lowercase();
                        let value = pull.text(&el)?.trim().to_ascii_lowercase();
                        if let Some(d) = current.as_mut() {
                            // `sha` is yum's old name for sha1.
                            let kind = if kind == "sha" { "sha1".into() } else { kind };
                            d.checksum = (kind, value);
                        }
                    }
                    "size" => {
                        let text = pull.text(&el)?;
                        if let Some(d) = current.as_mut() {
                            d.size = text.trim().parse().ok();
                        }
                    }
                    _ if !el.empty && current.is_some() => pull.skip(&el)?,
                    _ => {}
                },
                Item::End(name) if name == "data" => {
                    if let Some(d) = current.take() {
                        if d.href.is_empty() || d.checksum.1.is_empty() {
                            return Err(pull.error(format!(
                                "the `{}` entry has no location or checksum",
                                d.kind
                            )));
                        }
                        out.data.push(d);
                    }
                }
                Item::End(_) => {}
                Item::Eof => break,
            }
        }
        if !seen_root {
            return Err(pull.error("there is no `<repomd>` element"));
        }
        Ok(out)
    }

    /// The entry of type `kind`.
    pub fn get(&self, kind: &str) -> Option<&DataFile> {
        self.data.iter().find(|d| d.kind == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1732694400</revision>
  <tags><distro cpeid="cpe:/o:fedoraproject:fedora:42">Fedora 42</distro></tags>
  <data type="primary">
    <checksum type="sha256">AB12cd</checksum>
    <open-checksum type="sha256">ffff</open-checksum>
    <location href="repodata/ab12cd-primary.xml.zst"/>
    <timestamp>1732694400</timestamp>
    <size>20412345</size>
    <open-size>150000000</open-size>
  </data>
  <data type="group_gz">
    <checksum type="sha">0011</checksum>
    <location href="repodata/0011-comps.xml.gz"/>
  </data>
</repomd>"#;

    #[test]
    fn parses_the_real_format() {
        let r = Repomd::parse(SAMPLE.as_bytes(), "repomd.xml").unwrap();
        assert_eq!(r.revision.as_deref(), Some("1732694400"));
        let p = r.get("primary").unwrap();
        assert_eq!(p.href, "repodata/ab12cd-primary.xml.zst");
        assert_eq!(p.checksum, ("sha256".into(), "ab12cd".into()));
        assert_eq!(p.size, Some(20412345));
        assert_eq!(r.get("group_gz").unwrap().checksum.0, "sha1");
        assert!(r.get("filelists").is_none());
    }

    #[test]
    fn rejects_what_is_not_repomd() {
        assert!(Repomd::parse("<html></html>".as_bytes(), "x").is_err());
        assert!(
            Repomd::parse(
                "<repomd><data type='primary'></data></repomd>".as_bytes(),
                "x"
            )
            .is_err()
        );
        assert!(Repomd::parse("<repomd><data".as_bytes(), "x").is_err());
    }
}
