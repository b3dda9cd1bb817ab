//! A thin pull reader over quick-xml for the rpm-md formats: element names
//! without their namespace prefix, attributes unescaped, text with entity
//! and character references resolved.

use std::io::BufRead;

use quick_xml::events::{BytesStart, Event};

/// A malformed XML document.
#[derive(Debug, thiserror::Error)]
#[error("`{origin}` is not valid XML (at byte {position}): {message}")]
pub struct XmlError {
    pub origin: String,
    pub position: u64,
    pub message: String,
}

/// One element start: local name and attributes.
#[derive(Debug)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    /// `<x/>`: there is no matching end.
    pub empty: bool,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What [`Pull::next`] returns.
#[derive(Debug)]
pub enum Item {
    Start(Element),
    End(String),
    Eof,
}

pub struct Pull<R: BufRead> {
    reader: quick_xml::Reader<R>,
    buf: Vec<u8>,
    origin: String,
}

impl<R: BufRead> Pull<R> {
    pub fn new(input: R, origin: &str) -> Pull<R> {
        let mut reader = quick_xml::Reader::from_reader(input);
        reader.config_mut().trim_text(false);
        Pull {
            reader,
            buf: Vec::new(),
            origin: origin.to_string(),
        }
    }

    pub fn error(&self, message: impl std::fmt::Display) -> XmlError {
        XmlError {
            origin: self.origin.clone(),
            position: self.reader.buffer_position(),
            message: message.to_string(),
        }
    }

    /// The next element start or end; text, comments and declarations are
    /// skipped.
    pub fn next(&mut self) -> Result<Item, XmlError> {
        loop {
            self.buf.clear();
            let event = self
                .reader
                .read_event_into(&mut self.buf)
                .map_err(|e| XmlError {
                    origin: self.origin.clone(),
                    position: self.reader.buffer_position(),
                    message: e.to_string(),
                })?;
            match event {
                Event::Start(e) => {
                    return element(&e, false)
                        .map(Item::Start)
                        .map_err(|m| self.error(m));
                }
                Event::Empty(e) => {
                    return element(&e, true)
                        .map(Item::Start)
                        .map_err(|m| self.error(m));
                }
                Event::End(e) => {
                    return Ok(Item::End(
                        String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ));
                }
                Event::Eof => return Ok(Item::Eof),
                _ => {}
            }
        }
    }

    /// The text content of the element just started (`el`), up to its end;
    /// child elements are skipped.
    pub fn text(&mut self, el: &Element) -> Result<String, XmlError> {
        let mut out = String::new();
        if el.empty {
            return Ok(out);
        }
        let mut depth = 0usize;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let event = self
                .reader
                .read_event_into(&mut buf)
                .map_err(|e| XmlError {
                    origin: self.origin.clone(),
                    position: self.reader.buffer_position(),
                    message: e.to_string(),
                })?;
            match event {
                Event::Text(t) if depth == 0 => {
                    out.push_str(&t.xml_content().map_err(|e| self.error(e))?)
                }
                Event::CData(t) if depth == 0 => {
                    out.push_str(&t.decode().map_err(|e| self.error(e))?)
                }
                Event::GeneralRef(r) if depth == 0 => {
                    if let Some(c) = r.resolve_char_ref().map_err(|e| self.error(e))? {
                        out.push(c);
                    } else {
                        let name = r.decode().map_err(|e| self.error(e))?;
                        match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(s) => out.push_str(s),
                            None => return Err(self.error(format!("unknown entity `&{name};`"))),
                        }
                    }
                }
                Event::Start(_) => depth += 1,
                Event::End(_) if depth == 0 => return Ok(out),
                Event::End(_) => depth -= 1,
                Event::Eof => return Err(self.error(format!("`<{}>` is not closed", el.name))),
                _ => {}
            }
        }
    }

    /// Skips the element just started, with everything inside it.
    pub fn skip(&mut self, el: &Element) -> Result<(), XmlError> {
        if el.empty {
            return Ok(());
        }
        let mut depth = 0usize;
        loop {
            match self.next()? {
                Item::Start(e) if !e.empty => depth += 1,
                Item::Start(_) => {}
                Item::End(_) if depth == 0 => return Ok(()),
                Item::End(_) => depth -= 1,
                Item::Eof => return Err(self.error(format!("`<{}>` is not closed", el.name))),
            }
        }
    }
}

fn element(e: &BytesStart, empty: bool) -> Result<Element, String> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let value = a.unescape_value().map_err(|e| e.to_string())?;
        attrs.push((
            String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned(),
            value.into_owned(),
        ));
    }
    Ok(Element {
        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
        attrs,
        empty,
    })
}
