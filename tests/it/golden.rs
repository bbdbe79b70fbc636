//! Golden vectors (`testdata/codec/`, described in its README.md): hand-written SyncML messages,
//! their WBXML twins made by libwbxml's `xml2wbxml`, and their expected parse; the check that
//! the vectors use every element of the catalogue; and the round trip of the real SyncEvolution
//! captures (`testdata/syncevolution/`) through both encodings.
//!
//! `SYNCGATE_BLESS=1 cargo test --test it golden` (re)writes missing or changed `.parse.txt`
//! files instead of failing. A file written that way is only a golden vector once a person has
//! read it against its `.xml`.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use syncgate::codec::tag::Tag;
use syncgate::codec::token::{Token, TokenSource};
use syncgate::codec::xml::XmlReader;
use syncgate::codec::{decode, encode, Document, Encoding, Limits};
use syncgate::proto::{Command, Cred, Data, Item, Message, Meta};

/// One golden vector: `NNN-name.xml`, its twin `NNN-name.wbxml` and `NNN-name.parse.txt`.
pub(crate) struct Vector {
    /// `NNN-name`.
    pub(crate) name: String,
    pub(crate) xml: PathBuf,
    pub(crate) wbxml: PathBuf,
    pub(crate) parse: PathBuf,
}

/// The golden vectors, in numeric order.
pub(crate) fn vectors() -> Vec<Vector> {
    let dir = repo_path("testdata/codec");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|file| file.strip_suffix(".xml").map(str::to_string))
        .filter(|stem| stem.len() > 4 && stem.as_bytes()[..3].iter().all(u8::is_ascii_digit) && &stem[3..4] == "-")
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| Vector {
            xml: dir.join(format!("{name}.xml")),
            wbxml: dir.join(format!("{name}.wbxml")),
            parse: dir.join(format!("{name}.parse.txt")),
            name,
        })
        .collect()
}

/// The SyncEvolution captures with the given extension (`xml` or `wbxml`), sorted.
pub(crate) fn captures(extension: &str) -> Vec<PathBuf> {
    let dir = repo_path("testdata/syncevolution");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.{extension} in {}", dir.display());
    files
}

pub(crate) fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

pub(crate) fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Decodes a whole file; a failure names the file.
pub(crate) fn decode_file(path: &Path, bytes: &[u8]) -> (Encoding, Document) {
    decode(bytes, &Limits::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The expected-parse text: `{:#?}` of the document, with every byte vector (item data,
/// credentials, search queries) shown as byte-string lines split after each LF instead of one
/// decimal number per line, so that a person can check data and line ends by eye.
pub(crate) fn render(doc: &Document) -> String {
    readable_bytes(&format!("{doc:#?}\n"))
}

/// Sets the Meta Type of every DevInf object (and of a Filter's Field) to the string of the
/// given encoding: libwbxml rewrites `application/vnd.syncml-devinf+xml` to `+wbxml` when it
/// converts XML to WBXML (and back the other way); senders do the same.
pub(crate) fn set_devinf_types(doc: &mut Document, encoding: Encoding) {
    let Document::Message(msg) = doc else { return };
    for_each_meta(msg, &mut |meta| {
        if let Some(t) = &mut meta.type_ {
            let lower = t.to_ascii_lowercase();
            if lower == Encoding::Xml.devinf_type() || lower == Encoding::Wbxml.devinf_type() {
                *t = encoding.devinf_type().to_string();
            }
        }
    });
}

/// Calls `f` on every Meta of a message: header, Cred, Chal, commands (nested ones too),
/// items, filters and their Field/Record items.
pub(crate) fn for_each_meta(msg: &mut Message, f: &mut dyn FnMut(&mut Meta)) {
    if let Some(m) = &mut msg.header.meta {
        f(m);
    }
    if let Some(m) = msg.header.cred.as_mut().and_then(|c| c.meta.as_mut()) {
        f(m);
    }
    for c in &mut msg.body {
        command_metas(c, f);
    }
}

/// Calls `f` on the bytes of every item `Data` of a message (nested commands and filter items
/// included).
pub(crate) fn for_each_item_data(msg: &mut Message, f: &mut dyn FnMut(&mut Vec<u8>)) {
    let mut items: Vec<&mut Item> = Vec::new();
    for c in &mut msg.body {
        collect_items(c, &mut items);
    }
    for it in items {
        for_item_data(it, f);
    }
}

#[test]
fn golden_vectors_are_complete() {
    let vectors = vectors();
    assert!(vectors.len() >= 45, "only {} golden vectors", vectors.len());
    for (i, v) in vectors.iter().enumerate() {
        assert_eq!(&v.name[..3], format!("{:03}", i + 1), "vectors are numbered 001, 002, ... without gaps");
        let text = String::from_utf8(read(&v.xml)).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        let second = text.lines().nth(1).unwrap_or_default();
        assert!(
            second.starts_with("<!-- ") && second.ends_with(" -->"),
            "{}: line 2 must be a one-line comment saying what the vector is",
            v.name
        );
        assert!(v.wbxml.exists(), "{}: no WBXML twin; run testdata/codec/regenerate.sh", v.name);
        assert!(v.parse.exists() || bless(), "{}: no .parse.txt; see testdata/codec/README.md", v.name);
    }
}

#[test]
fn golden_vectors_decode_to_their_expected_parse() {
    let mut failures = Vec::new();
    for v in vectors() {
        let (encoding, doc) = decode_file(&v.xml, &read(&v.xml));
        assert_eq!(encoding, Encoding::Xml, "{}", v.name);
        let text = render(&doc);
        match fs::read_to_string(&v.parse) {
            Ok(expected) if expected == text => {}
            _ if bless() => {
                fs::write(&v.parse, &text).unwrap_or_else(|e| panic!("{}: {e}", v.parse.display()));
                eprintln!("blessed {} (read it against the .xml before committing)", v.parse.display());
            }
            Ok(expected) => {
                failures.push(format!("{}.xml: parse differs from .parse.txt: {}", v.name, diff(&expected, &text)))
            }
            Err(e) => failures.push(format!("{}: {e} (SYNCGATE_BLESS=1 writes it)", v.parse.display())),
        }

        // The libwbxml-made twin must give the same model, once the one string libwbxml
        // rewrites is put back.
        let (encoding, mut twin) = decode_file(&v.wbxml, &read(&v.wbxml));
        assert_eq!(encoding, Encoding::Wbxml, "{}", v.name);
        set_devinf_types(&mut twin, Encoding::Xml);
        if twin != doc {
            failures.push(format!(
                "{}.wbxml: decodes differently from the .xml: {}",
                v.name,
                diff(&text, &render(&twin))
            ));
        }
    }
    assert!(failures.is_empty(), "{} golden failures:\n{}", failures.len(), failures.join("\n"));
}

/// Elements no golden vector needs to contain, each with the reason. Empty: every element of
/// the catalogue is used. (`DevSize` is the DevInf 1.0/1.1 spelling of `MaxSize` and is
/// checked separately below.)
const NOT_COVERED: &[(Tag, &str)] = &[];

#[test]
fn golden_vectors_use_every_element() {
    let mut seen: BTreeMap<Tag, Vec<String>> = BTreeMap::new();
    for v in vectors() {
        let bytes = read(&v.xml);
        let mut reader = XmlReader::new(&bytes);
        loop {
            match reader.next_token() {
                Ok(Token::Start(tag)) => {
                    let files = seen.entry(tag).or_default();
                    if files.last() != Some(&v.name) {
                        files.push(v.name.clone());
                    }
                }
                Ok(Token::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("{}: {e}", v.name),
            }
        }
    }
    let excused: HashSet<Tag> = NOT_COVERED.iter().map(|(t, _)| *t).collect();
    let missing: Vec<&str> =
        Tag::ALL.iter().filter(|t| !seen.contains_key(t) && !excused.contains(t)).map(|t| t.name()).collect();
    assert!(missing.is_empty(), "elements no golden vector uses: {missing:?}");

    // `Size` (token 0x1C) is MaxSize's name in DevInf 1.0/1.1 only: it must come from the flat
    // CTCaps of the 1.0/1.1 documents, never from a 1.2 one.
    for name in &seen[&Tag::DevSize] {
        let v = vectors().into_iter().find(|v| &v.name == name).expect("vector exists");
        let (_, doc) = decode_file(&v.xml, &read(&v.xml));
        let Document::Message(msg) = doc else { panic!("{name}: not a message") };
        assert!(
            msg.header.ver_dtd == "1.0" || msg.header.ver_dtd == "1.1",
            "{name}: DevInf Size in a SyncML {} message",
            msg.header.ver_dtd
        );
    }
}

#[test]
fn syncevolution_captures_survive_both_encodings() {
    // The .xml and .wbxml captures come from different sessions (ids, anchors, nonces differ):
    // each file is checked on its own, never against its sibling in the other encoding.
    let files: Vec<PathBuf> = captures("xml").into_iter().chain(captures("wbxml")).collect();
    for path in &files {
        let (encoding, doc) = decode_file(path, &read(path));
        let expected = if path.extension().is_some_and(|e| e == "xml") { Encoding::Xml } else { Encoding::Wbxml };
        assert_eq!(encoding, expected, "{}", path.display());
        assert!(matches!(doc, Document::Message(_)), "{}", path.display());
        for target in [Encoding::Xml, Encoding::Wbxml] {
            let bytes = encode(&doc, target, false).unwrap_or_else(|e| panic!("{} → {target:?}: {e}", path.display()));
            let (encoding, back) = decode(&bytes, &Limits::default())
                .unwrap_or_else(|e| panic!("{} → {target:?} → decode: {e}", path.display()));
            assert_eq!(encoding, target);
            if back != doc {
                panic!(
                    "{} → {target:?} → decode changed the model: {}",
                    path.display(),
                    diff(&render(&doc), &render(&back))
                );
            }
        }
    }
    assert_eq!(files.len(), 60, "the captures README lists 60 files");
}

fn bless() -> bool {
    std::env::var("SYNCGATE_BLESS").is_ok_and(|v| v == "1")
}

/// The first differing line of two texts, with its line number.
pub(crate) fn diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    for i in 0..e.len().max(a.len()) {
        let (x, y) = (e.get(i).copied(), a.get(i).copied());
        if x != y {
            return format!("line {}: expected {:?}, got {:?}", i + 1, x.unwrap_or("<end>"), y.unwrap_or("<end>"));
        }
    }
    "no line differs".into()
}

/// Replaces every pretty-printed `[` … `]` list of bare integers (only `Vec<u8>` prints like
/// that in the model) with `b"…"` lines.
fn readable_bytes(debug: &str) -> String {
    let lines: Vec<&str> = debug.lines().collect();
    let mut out = String::with_capacity(debug.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some((bytes, close)) = line.strip_suffix('[').and_then(|_| byte_list(&lines, i)) {
            let indent = indentation(line);
            let head = &line[..line.len() - 1];
            let suffix = lines[close].trim_start().trim_start_matches(']');
            // Continuation lines line up with the first one when it starts a line of its own.
            let cont = if head.trim().is_empty() { indent.to_string() } else { format!("{indent}    ") };
            let chunks: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
            for (n, chunk) in chunks.iter().enumerate() {
                let lead = if n == 0 { head.to_string() } else { cont.clone() };
                let end = if n + 1 == chunks.len() { suffix } else { "" };
                out.push_str(&format!("{lead}b\"{}\"{end}\n", chunk.escape_ascii()));
            }
            i = close + 1;
            continue;
        }
        out.push_str(line);
        out.push('\n');
        i += 1;
    }
    out
}

/// The bytes listed after line `open` (which ends with `[`) and the index of the closing line,
/// when every line in between is `<number>,` with a number below 256.
fn byte_list(lines: &[&str], open: usize) -> Option<(Vec<u8>, usize)> {
    let indent = indentation(lines[open]);
    let mut bytes = Vec::new();
    for (j, line) in lines.iter().enumerate().skip(open + 1) {
        let t = line.trim();
        if t.starts_with(']') {
            return (indentation(line) == indent && !bytes.is_empty()).then_some((bytes, j));
        }
        bytes.push(t.strip_suffix(',')?.parse::<u8>().ok()?);
    }
    None
}

fn indentation(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

fn command_metas(c: &mut Command, f: &mut dyn FnMut(&mut Meta)) {
    let (metas, items, nested) = command_parts(c);
    for m in metas {
        f(m);
    }
    for it in items {
        item_metas(it, f);
    }
    for c in nested {
        command_metas(c, f);
    }
}

/// A command's own Metas (of its Cred, its Chal, itself), its items and its nested commands.
fn command_parts(c: &mut Command) -> (Vec<&mut Meta>, Vec<&mut Item>, Vec<&mut Command>) {
    fn metas<'a>(all: impl IntoIterator<Item = Option<&'a mut Meta>>) -> Vec<&'a mut Meta> {
        all.into_iter().flatten().collect()
    }
    fn cred(cred: &mut Option<Box<Cred>>) -> Option<&mut Meta> {
        cred.as_mut().and_then(|c| c.meta.as_mut())
    }
    match c {
        Command::Add(x) => (metas([cred(&mut x.cred), x.meta.as_mut()]), x.items.iter_mut().collect(), vec![]),
        Command::Replace(x) => (metas([cred(&mut x.cred), x.meta.as_mut()]), x.items.iter_mut().collect(), vec![]),
        Command::Copy(x) => (metas([cred(&mut x.cred), x.meta.as_mut()]), x.items.iter_mut().collect(), vec![]),
        Command::Move(x) => (metas([cred(&mut x.cred), x.meta.as_mut()]), x.items.iter_mut().collect(), vec![]),
        Command::Delete(x) => (metas([cred(&mut x.cred), x.meta.as_mut()]), x.items.iter_mut().collect(), vec![]),
        Command::Get(x) => (metas([cred(&mut x.cred), x.meta.as_mut()]), x.items.iter_mut().collect(), vec![]),
        Command::Put(x) => (metas([cred(&mut x.cred), x.meta.as_mut()]), x.items.iter_mut().collect(), vec![]),
        Command::Alert(x) => (metas([cred(&mut x.cred)]), x.items.iter_mut().collect(), vec![]),
        Command::Exec(x) => (metas([cred(&mut x.cred), x.meta.as_mut()]), vec![&mut x.item], vec![]),
        Command::Map(x) => (metas([cred(&mut x.cred), x.meta.as_mut()]), vec![], vec![]),
        Command::Results(x) => (metas([x.meta.as_mut()]), x.items.iter_mut().collect(), vec![]),
        Command::Search(x) => (metas([cred(&mut x.cred), Some(&mut x.meta)]), vec![], vec![]),
        Command::Status(x) => {
            let chal = x.chal.as_mut().map(|c| &mut c.meta);
            (metas([cred(&mut x.cred), chal]), x.items.iter_mut().collect(), vec![])
        }
        Command::Sync(x) => (metas([cred(&mut x.cred), x.meta.as_mut()]), vec![], x.commands.iter_mut().collect()),
        Command::Atomic(x) => (metas([x.meta.as_mut()]), vec![], x.commands.iter_mut().collect()),
        Command::Sequence(x) => (metas([x.meta.as_mut()]), vec![], x.commands.iter_mut().collect()),
    }
}

fn item_metas(it: &mut Item, f: &mut dyn FnMut(&mut Meta)) {
    if let Some(m) = &mut it.meta {
        f(m);
    }
    if let Some(filter) = it.target.as_mut().and_then(|t| t.filter.as_mut()) {
        f(&mut filter.meta);
        for part in [&mut filter.field, &mut filter.record].into_iter().flatten() {
            item_metas(part, f);
        }
    }
}

fn collect_items<'a>(c: &'a mut Command, out: &mut Vec<&'a mut Item>) {
    let (_, items, nested) = command_parts(c);
    out.extend(items);
    for c in nested {
        collect_items(c, out);
    }
}

fn for_item_data(it: &mut Item, f: &mut dyn FnMut(&mut Vec<u8>)) {
    if let Some(Data::Bytes(b)) = &mut it.data {
        f(b);
    }
    if let Some(filter) = it.target.as_mut().and_then(|t| t.filter.as_mut()) {
        for part in [&mut filter.field, &mut filter.record].into_iter().flatten() {
            for_item_data(part, f);
        }
    }
}
