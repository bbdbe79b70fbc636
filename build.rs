//! Generates the WBXML/XML element catalogue (`Tag`) from `schemas/wbxml/*.tsv`, so the token
//! tables exist once, as data, and the codec code is derived from them.

use std::{env, fmt::Write as _, fs, path::Path};

struct Row {
    variant: String,
    namespace: String,
    page: u8,
    token: u8,
    name: String,
    since: String,
}

fn main() {
    println!("cargo:rerun-if-changed=schemas/wbxml/tags.tsv");
    println!("cargo:rerun-if-changed=schemas/wbxml/publicids.tsv");
    let rows = read_tags("schemas/wbxml/tags.tsv");
    let ids = fs::read_to_string("schemas/wbxml/publicids.tsv").expect("publicids.tsv is readable");
    let mut out = String::new();
    out.push_str("/// Every element of SyncML, MetInf and DevInf (generated from schemas/wbxml/tags.tsv).\n");
    out.push_str("#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]\npub enum Tag {\n");
    for r in &rows {
        let _ = writeln!(
            out,
            "    /// `<{}>` ({}, page {}, token 0x{:02X}, since {})",
            r.name, r.namespace, r.page, r.token, r.since
        );
        let _ = writeln!(out, "    {},", r.variant);
    }
    out.push_str("}\n\nimpl Tag {\n");
    out.push_str("    /// Every tag, in table order.\n    pub const ALL: &'static [Tag] = &[");
    for r in &rows {
        let _ = write!(out, "Tag::{}, ", r.variant);
    }
    out.push_str("];\n\n");
    gen_match(&mut out, "/// The element's XML name.", "name", "&'static str", &rows, |r| format!("{:?}", r.name));
    gen_match(
        &mut out,
        "/// The namespace (and so the WBXML code page) the element belongs to.",
        "namespace",
        "Namespace",
        &rows,
        |r| format!("Namespace::{}", ns_variant(&r.namespace)),
    );
    gen_match(
        &mut out,
        "/// The WBXML tag token (without the content and attribute bits).",
        "token",
        "u8",
        &rows,
        |r| format!("0x{:02X}", r.token),
    );
    gen_match(&mut out, "/// The WBXML code page inside its document.", "page", "u8", &rows, |r| r.page.to_string());
    gen_match(
        &mut out,
        "/// The minor SyncML/DevInf version that introduced the element (0, 1 or 2 for 1.0/1.1/1.2).",
        "since_minor",
        "u8",
        &rows,
        |r| r.since.trim_start_matches("1.").to_string(),
    );
    out.push_str("    /// The tag for a WBXML token in a namespace's code page.\n");
    out.push_str(
        "    pub fn from_token(namespace: Namespace, token: u8) -> Option<Tag> {\n        match (namespace, token) {\n",
    );
    let mut seen = std::collections::HashSet::new();
    for r in &rows {
        if seen.insert((r.namespace.clone(), r.token)) {
            let _ = writeln!(
                out,
                "            (Namespace::{}, 0x{:02X}) => Some(Tag::{}),",
                ns_variant(&r.namespace),
                r.token,
                r.variant
            );
        }
    }
    out.push_str("            _ => None,\n        }\n    }\n\n");
    out.push_str("    /// The tag for an XML local name in a namespace.\n");
    out.push_str(
        "    pub fn from_name(namespace: Namespace, name: &[u8]) -> Option<Tag> {\n        match (namespace, name) {\n",
    );
    for r in &rows {
        let _ = writeln!(
            out,
            "            (Namespace::{}, b\"{}\") => Some(Tag::{}),",
            ns_variant(&r.namespace),
            r.name,
            r.variant
        );
    }
    out.push_str("            _ => None,\n        }\n    }\n}\n\n");

    out.push_str("/// WBXML public identifiers: (document, minor version, numeric id, FPI string, XML namespace).\n");
    out.push_str("pub const PUBLIC_IDS: &[(Namespace, u8, u32, &str, &str)] = &[\n");
    for line in ids.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 5, "publicids.tsv: 5 columns in {line:?}");
        let id = u32::from_str_radix(f[2].trim_start_matches("0x"), 16).expect("hex public id");
        let _ = writeln!(
            out,
            "    (Namespace::{}, {}, 0x{:04X}, {:?}, {:?}),",
            ns_variant(f[0]),
            f[1].trim_start_matches("1."),
            id,
            f[3],
            f[4]
        );
    }
    out.push_str("];\n");

    let dest = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("tags.rs");
    fs::write(dest, out).expect("OUT_DIR is writable");
}

fn read_tags(path: &str) -> Vec<Row> {
    let text = fs::read_to_string(path).expect("tags.tsv is readable");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 6, "tags.tsv: 6 columns in {line:?}");
            Row {
                variant: f[0].to_string(),
                namespace: f[1].to_string(),
                page: f[2].parse().expect("page number"),
                token: u8::from_str_radix(f[3].trim_start_matches("0x"), 16).expect("hex token"),
                name: f[4].to_string(),
                since: f[5].to_string(),
            }
        })
        .collect()
}

fn ns_variant(ns: &str) -> &'static str {
    match ns {
        "syncml" => "SyncMl",
        "metinf" => "MetInf",
        "devinf" => "DevInf",
        other => panic!("unknown namespace {other} in schemas/wbxml"),
    }
}

fn gen_match(out: &mut String, doc: &str, fname: &str, ty: &str, rows: &[Row], val: impl Fn(&Row) -> String) {
    let _ = writeln!(out, "    {doc}\n    pub const fn {fname}(self) -> {ty} {{\n        match self {{");
    for r in rows {
        let _ = writeln!(out, "            Tag::{} => {},", r.variant, val(r));
    }
    out.push_str("        }\n    }\n\n");
}
