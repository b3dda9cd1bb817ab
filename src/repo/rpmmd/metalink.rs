//! Fedora mirrormanager's metalink (`https://mirrors.fedoraproject.org/metalink?repo=…&arch=…`):
//! the expected hashes of the current `repomd.xml` and the mirrors that
//! serve it, by preference.

use std::io::BufRead;

use super::xml::{Item, Pull, XmlError};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metalink {
    /// `mm0:timestamp` of the `repomd.xml` the hashes describe.
    pub timestamp: Option<u64>,
    pub size: Option<u64>,
    /// `(type, lowercase hex)`: `md5`, `sha1`, `sha256`, `sha512`.
    pub hashes: Vec<(String, String)>,
    /// `(url of repomd.xml, preference)`, most preferred first; only
    /// `http` and `https` URLs.
    pub urls: Vec<(String, u32)>,
}

impl Metalink {
    pub fn parse(input: impl BufRead, origin: &str) -> Result<Metalink, XmlError> {
        let mut pull = Pull::new(input, origin);
        let mut out = Metalink::default();
        let mut in_repomd = false;
        let mut seen_file = false;
        let mut in_alternates = false;
        loop {
            match pull.next()? {
                Item::Start(el) => match el.name.as_str() {
                    "file" => {
                        in_repomd = el.attr("name") == Some("repomd.xml");
                        seen_file |= in_repomd;
                    }
                    "alternates" => in_alternates = !el.empty,
                    "timestamp" if in_repomd && !in_alternates => {
                        out.timestamp = pull.text(&el)?.trim().parse().ok()
                    }
                    "size" if in_repomd && !in_alternates => {
                        out.size = pull.text(&el)?.trim().parse().ok()
                    }
                    "hash" if in_repomd => {
                        let kind = el.attr("type").unwrap_or_default().to_ascii_lowercase();
                        let value = pull.text(&el)?.trim().to_ascii_lowercase();
                        out.hashes.push((kind, value));
                    }
                    "url" if in_repomd => {
                        let protocol = el.attr("protocol").map(str::to_string);
                        let preference = el
                            .attr("preference")
                            .and_then(|p| p.parse().ok())
                            .unwrap_or(0);
                        let url = pull.text(&el)?.trim().to_string();
                        let scheme = protocol
                            .unwrap_or_else(|| url.split(':').next().unwrap_or("").to_string());
                        if scheme == "http" || scheme == "https" {
                            out.urls.push((url, preference));
                        }
                    }
                    _ => {}
                },
                Item::End(name) if name == "file" => in_repomd = false,
                Item::End(name) if name == "alternates" => in_alternates = false,
                Item::End(_) => {}
                Item::Eof => break,
            }
        }
        if !seen_file {
            return Err(pull.error("it lists no `repomd.xml` file"));
        }
        // Stable: equal preferences keep the document's order.
        out.urls.sort_by_key(|u| std::cmp::Reverse(u.1));
        Ok(out)
    }

    /// Whether `repomd` matches a SHA-256 or SHA-512 the metalink lists (for
    /// the current file or an alternate, as dnf accepts mirrors that lag a
    /// little). Weaker hashes are not trusted.
    pub fn verifies(&self, repomd: &[u8]) -> bool {
        use sha2::Digest;
        let sha256 = hex::encode(sha2::Sha256::digest(repomd));
        let sha512 = hex::encode(sha2::Sha512::digest(repomd));
        self.hashes.iter().any(|(kind, value)| match kind.as_str() {
            "sha256" => *value == sha256,
            "sha512" => *value == sha512,
            _ => false,
        })
    }
}

/// A mirrorlist: one URL per line, `#` comments.
pub fn parse_mirrorlist(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| {
            l.starts_with("http://") || l.starts_with("https://") || l.starts_with("file://")
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Abridged from a real `mirrors.fedoraproject.org/metalink?repo=rawhide&arch=aarch64` answer.
    const SAMPLE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" type="dynamic" pubdate="Wed, 27 Nov 2026 05:00:00 GMT" generator="mirrormanager" xmlns:mm0="http://fedorahosted.org/mirrormanager">
 <files>
  <file name="repomd.xml">
   <mm0:timestamp>1732681234</mm0:timestamp>
   <size>7190</size>
   <verification>
    <hash type="md5">0a1b</hash>
    <hash type="sha1">1b2c</hash>
    <hash type="sha256">2C3D</hash>
    <hash type="sha512">3d4e</hash>
   </verification>
   <mm0:alternates>
    <mm0:alternate><mm0:timestamp>1732600000</mm0:timestamp><size>7100</size>
     <verification><hash type="sha256">9999</hash></verification></mm0:alternate>
   </mm0:alternates>
   <resources maxconnections="1">
    <url protocol="rsync" type="rsync" location="DE" preference="100">rsync://mirror.example.de/fedora/development/rawhide/Everything/aarch64/os/repodata/repomd.xml</url>
    <url protocol="https" type="https" location="DE" preference="99">https://mirror.example.de/fedora/development/rawhide/Everything/aarch64/os/repodata/repomd.xml</url>
    <url protocol="http" type="http" location="US" preference="100">http://mirror.example.com/pub/fedora/linux/development/rawhide/Everything/aarch64/os/repodata/repomd.xml</url>
   </resources>
  </file>
 </files>
</metalink>"#;

    #[test]
    fn parses_mirrormanager_output() {
        let m = Metalink::parse(SAMPLE.as_bytes(), "metalink").unwrap();
        assert_eq!(m.timestamp, Some(1732681234));
        assert_eq!(m.size, Some(7190));
        // The alternate's hash is the same element name; it is kept too, as
        // dnf accepts a repomd.xml matching an alternate.
        assert!(m.hashes.contains(&("sha256".into(), "2c3d".into())));
        assert!(!m.verifies(b"anything"));
        assert_eq!(
            m.urls
                .iter()
                .map(|(u, p)| (u.split('/').nth(2).unwrap(), *p))
                .collect::<Vec<_>>(),
            [("mirror.example.com", 100), ("mirror.example.de", 99)]
        );
    }

    #[test]
    fn a_page_that_is_no_metalink_is_an_error() {
        assert!(Metalink::parse("<html><body>404</body></html>".as_bytes(), "x").is_err());
    }

    #[test]
    fn mirrorlists() {
        let text = "# comment\nhttp://a.example/os/\n\nhttps://b.example/os/\nftp://c/\n";
        assert_eq!(
            parse_mirrorlist(text),
            ["http://a.example/os/", "https://b.example/os/"]
        );
    }
}
