//! Codec throughput: a package of 2,000 vCard Adds (about 1 MB), decoded and encoded in XML and
//! WBXML. Run with `cargo bench --bench codec`; prints MB/s (input bytes per second) for each.

use std::hint::black_box;
use std::time::{Duration, Instant};

use syncgate::codec::{self, Encoding, Limits};
use syncgate::proto::*;

fn vcard(i: usize) -> Vec<u8> {
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Person{i};Given{i};;;\r\nFN:Given{i} Person{i}\r\n\
         TEL;TYPE=CELL:+49 170 {i:07}\r\nTEL;TYPE=HOME:+49 30 {i:07}\r\nEMAIL;TYPE=INTERNET:given{i}.person{i}@example.com\r\n\
         ADR;TYPE=HOME:;;Street {i};Berlin;;10115;Germany\r\nORG:Example & Co;Department {i}\r\n\
         NOTE:Met at the conference <2026>; likes tea\r\nEND:VCARD\r\n"
    )
    .into_bytes()
}

/// A client package 3 with one Sync of 2,000 Adds, as SyncEvolution sends it in a slow sync.
pub fn package() -> Message {
    let adds = (0..2000)
        .map(|i| {
            Command::Add(Add {
                cmd_id: i as u32 + 3,
                meta: Some(Meta::with_type("text/x-vcard")),
                items: vec![Item {
                    source: Some(Source::uri(format!("{i}"))),
                    data: Some(Data::Bytes(vcard(i))),
                    ..Default::default()
                }],
                ..Default::default()
            })
        })
        .collect();
    Message {
        version: Version::V1_2,
        header: Header {
            ver_dtd: "1.2".into(),
            ver_proto: "SyncML/1.2".into(),
            session_id: "1".into(),
            msg_id: 2,
            target: Target::uri("http://127.0.0.1:8080/sync"),
            source: Source { loc_uri: "sc-api-nat".into(), loc_name: Some("alice".into()) },
            meta: Some(Meta { max_msg_size: Some(150000), max_obj_size: Some(4000000), ..Default::default() }),
            ..Default::default()
        },
        body: vec![Command::Sync(Sync {
            cmd_id: 2,
            target: Some(Target::uri("contacts")),
            source: Some(Source::uri("addressbook")),
            number_of_changes: Some(2000),
            commands: adds,
            ..Default::default()
        })],
        final_: true,
    }
}

fn measure(label: &str, bytes: usize, mut f: impl FnMut()) {
    // `cargo bench --bench codec -- wbxml` runs only the measurements whose label matches.
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    if !filter.is_empty() && !filter.iter().any(|f| label.contains(f.as_str())) {
        return;
    }
    // Warm up, then run for at least a second.
    for _ in 0..5 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_secs(1) || n < 10 {
        f();
        n += 1;
    }
    let per = start.elapsed() / n;
    let mbps = bytes as f64 / per.as_secs_f64() / 1e6;
    println!(
        "{label:<24} {:>8.1} MB/s  ({:>7.3} ms per {:.2} MB, {n} runs)",
        mbps,
        per.as_secs_f64() * 1e3,
        bytes as f64 / 1e6
    );
}

fn main() {
    let msg = package();
    let limits = Limits::default();
    let xml = codec::encode_message(&msg, Encoding::Xml).expect("encodes");
    let wbxml = codec::encode_message(&msg, Encoding::Wbxml).expect("encodes");
    println!("package: 2,000 vCard Adds; XML {} bytes, WBXML {} bytes", xml.len(), wbxml.len());
    measure("xml decode", xml.len(), || {
        black_box(codec::decode_message(black_box(&xml), &limits).expect("decodes"));
    });
    measure("wbxml decode", wbxml.len(), || {
        black_box(codec::decode_message(black_box(&wbxml), &limits).expect("decodes"));
    });
    measure("xml encode", xml.len(), || {
        black_box(codec::encode_message(black_box(&msg), Encoding::Xml).expect("encodes"));
    });
    measure("wbxml encode", wbxml.len(), || {
        black_box(codec::encode_message(black_box(&msg), Encoding::Wbxml).expect("encodes"));
    });
}
