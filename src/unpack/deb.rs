//! `.deb` files: an `ar` archive of `debian-binary`, `control.tar.*` and
//! `data.tar.*` (deb(5)). The control archive is small and read into memory;
//! the data archive is streamed to the caller, which unpacks it.

use std::io::{self, Read};

/// The control archive's members (`control`, `md5sums`, `conffiles`,
/// maintainer scripts, `triggers`, `shlibs`, ...).
#[derive(Debug, Clone, Default)]
pub struct ControlFiles {
    pub files: Vec<ControlFile>,
}

#[derive(Debug, Clone)]
pub struct ControlFile {
    /// `postinst`, `md5sums`, ...
    pub name: String,
    pub data: Vec<u8>,
    pub mode: u32,
}

impl ControlFiles {
    pub fn get(&self, name: &str) -> Option<&ControlFile> {
        self.files.iter().find(|f| f.name == name)
    }

    /// The `control` paragraph, without trailing blank lines.
    pub fn control(&self) -> Option<String> {
        self.get("control")
            .map(|f| String::from_utf8_lossy(&f.data).trim_end().to_string())
    }

    /// Conffile paths (`/etc/...`), from `conffiles`; `remove-on-upgrade`
    /// entries name files the package no longer ships and are skipped.
    pub fn conffiles(&self) -> Vec<String> {
        let Some(f) = self.get("conffiles") else {
            return Vec::new();
        };
        String::from_utf8_lossy(&f.data)
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with('/'))
            .map(str::to_string)
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error("not a Debian package: {problem}")]
    Format { problem: String },
    #[error("cannot read the package")]
    Read(#[source] io::Error),
    #[error("cannot read its {member}")]
    Member {
        member: String,
        #[source]
        source: io::Error,
    },
}

fn format(problem: impl Into<String>) -> DebError {
    DebError::Format {
        problem: problem.into(),
    }
}

/// Reads a `.deb`: returns its control files, and hands them with the
/// decompressed `data.tar` stream to `data`, whose result is passed back.
pub fn read_deb<T, E: std::error::Error + 'static>(
    input: impl Read,
    data: impl FnOnce(&ControlFiles, &mut dyn Read) -> Result<T, E>,
) -> Result<(ControlFiles, T), ReadDebError<E>> {
    let mut archive = ar::Archive::new(input);
    let mut control = None;
    let mut index = 0;
    let mut data = Some(data);
    while let Some(entry) = archive.next_entry() {
        let mut entry = entry.map_err(|e| ReadDebError::Deb(DebError::Read(e)))?;
        let name = String::from_utf8_lossy(entry.header().identifier())
            .trim_end_matches('/')
            .to_string();
        match index {
            0 => {
                if name != "debian-binary" {
                    return Err(ReadDebError::Deb(format(format!(
                        "the first member is `{name}`, not `debian-binary`"
                    ))));
                }
                let mut version = String::new();
                entry
                    .read_to_string(&mut version)
                    .map_err(|e| ReadDebError::Deb(DebError::Read(e)))?;
                if !version.starts_with("2.") {
                    return Err(ReadDebError::Deb(format(format!(
                        "format version `{}` (brt reads 2.x)",
                        version.trim()
                    ))));
                }
            }
            _ if name.starts_with("control.tar") => {
                let mut stream = decompress(&name, &mut entry).map_err(ReadDebError::Deb)?;
                control = Some(read_control(&mut stream).map_err(|source| {
                    ReadDebError::Deb(DebError::Member {
                        member: name.clone(),
                        source,
                    })
                })?);
            }
            _ if name.starts_with("data.tar") => {
                let Some(control) = control.take() else {
                    return Err(ReadDebError::Deb(format(
                        "`data.tar` comes before `control.tar`",
                    )));
                };
                let size = entry.header().size();
                let mut counted = Counted {
                    inner: &mut entry,
                    count: 0,
                };
                let out = {
                    let mut stream = decompress(&name, &mut counted).map_err(ReadDebError::Deb)?;
                    let f = data.take().expect("one data member");
                    let out = f(&control, &mut stream).map_err(ReadDebError::Data)?;
                    // Trailing padding the tar reader did not need.
                    io::copy(&mut stream, &mut io::sink()).map_err(|source| {
                        ReadDebError::Deb(DebError::Member {
                            member: name.clone(),
                            source,
                        })
                    })?;
                    out
                };
                if counted.count != size {
                    return Err(ReadDebError::Deb(format(format!(
                        "`{name}` is {} bytes long, its header says {size} (the file is truncated)",
                        counted.count
                    ))));
                }
                return Ok((control, out));
            }
            // Signatures (`_gpgbuilder`) and other members added by tools.
            _ if name.starts_with('_') => {}
            _ => {
                return Err(ReadDebError::Deb(format(format!(
                    "unexpected member `{name}`"
                ))));
            }
        }
        index += 1;
    }
    Err(ReadDebError::Deb(format(if control.is_none() {
        "no `control.tar` member (the file may be truncated)"
    } else {
        "no `data.tar` member (the file may be truncated)"
    })))
}

/// An error reading a `.deb`, or the caller's error unpacking its data.
#[derive(Debug, thiserror::Error)]
pub enum ReadDebError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Deb(DebError),
    #[error(transparent)]
    Data(E),
}

/// Counts what passes, to tell a member cut short by the end of the file.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

fn decompress<'a>(name: &str, input: &'a mut dyn Read) -> Result<Box<dyn Read + 'a>, DebError> {
    Ok(match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("tar") => Box::new(input),
        Some("xz") => Box::new(liblzma::read::XzDecoder::new_multi_decoder(input)),
        Some("gz") => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Some("zst") => Box::new(
            zstd::Decoder::new(input).map_err(|source| DebError::Member {
                member: name.to_string(),
                source,
            })?,
        ),
        _ => return Err(format(format!("unsupported compression of `{name}`"))),
    })
}

fn read_control(input: &mut dyn Read) -> io::Result<ControlFiles> {
    let mut out = ControlFiles::default();
    let mut archive = tar::Archive::new(input);
    for entry in archive.entries()? {
        let mut entry = entry?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry.path()?.into_owned();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        // Control members are flat: `./postinst`.
        if path
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .count()
            != 1
        {
            continue;
        }
        let mode = entry.header().mode()?;
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        out.files.push(ControlFile { name, data, mode });
    }
    if out.get("control").is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "no `control` file in it",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn deb_of(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut b = ar::Builder::new(Vec::new());
        for (name, data) in members {
            let h = ar::Header::new(name.as_bytes().to_vec(), data.len() as u64);
            b.append(&h, data.as_slice()).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn reads_control_and_streams_data() {
        let control = tar_of(&[
            ("./control", b"Package: a\nVersion: 1\n\n"),
            ("./conffiles", b"/etc/a.conf\nremove-on-upgrade /etc/old\n"),
        ]);
        let data = tar_of(&[("./etc/a.conf", b"x=1\n")]);
        let deb = deb_of(&[
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.gz", gz(&control)),
            ("data.tar", data),
        ]);
        let (files, names) = read_deb(deb.as_slice(), |_, r| {
            let mut a = tar::Archive::new(r);
            let names: Vec<String> = a
                .entries()?
                .map(|e| e.unwrap().path().unwrap().display().to_string())
                .collect();
            Ok::<_, io::Error>(names)
        })
        .unwrap();
        assert_eq!(files.control().unwrap(), "Package: a\nVersion: 1");
        assert_eq!(files.conffiles(), vec!["/etc/a.conf"]);
        assert_eq!(names, vec!["etc/a.conf"]);
    }

    #[test]
    fn truncated_and_foreign_files_are_refused() {
        let control = tar_of(&[("./control", b"Package: a\n")]);
        let deb = deb_of(&[
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.gz", gz(&control)),
            ("data.tar", tar_of(&[("./x", b"1")])),
        ]);
        let ok = |_: &ControlFiles, r: &mut dyn Read| io::copy(r, &mut io::sink());
        for cut in [10, deb.len() / 2, deb.len() - 700] {
            let err = read_deb(&deb[..cut], ok).unwrap_err();
            assert!(!err.to_string().is_empty());
        }
        let err = read_deb(&b"!<arch>\nnot really"[..], ok).unwrap_err();
        assert!(err.to_string().contains("package"), "{err}");
        let err = read_deb(&b"PK\x03\x04 zip"[..], ok).unwrap_err();
        assert!(matches!(err, ReadDebError::Deb(_)), "{err}");
    }
}
