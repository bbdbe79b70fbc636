//! Property tests: any generated message survives message → XML → message and
//! message → WBXML → message unchanged (and likewise any DevInf document).

use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;

use syncgate::codec::{self, Document, Encoding, Limits};
use syncgate::proto::*;

/// Leaf strings: the codec trims white space around non-Data leaves, so generated values have
/// none there; the middle may hold anything XML can carry, markup characters included.
fn word() -> impl Strategy<Value = String> {
    "([a-zA-Z0-9:./_&<>'\"?=%#@é€-]([a-zA-Z0-9 :./_&<>'\"?=%#@é€-]{0,10}[a-zA-Z0-9:./_&<>-])?)?"
}

fn nonempty() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9/_.+-]{1,12}"
}

/// Item data: any XML-legal text, CR/LF and markup included, byte-exact.
fn data_bytes() -> impl Strategy<Value = Vec<u8>> {
    "[\\t\\n\\r -~é€😀]{0,60}".prop_map(String::into_bytes)
}

fn anchor() -> impl Strategy<Value = Anchor> {
    (of(word()), of(word())).prop_map(|(last, next)| Anchor { last, next })
}

fn meta() -> impl Strategy<Value = Meta> {
    (
        (of(word()), of(word()), of(word()), of(any::<u64>()), of(anchor()), of(word())),
        (of(word()), of(any::<u64>()), of(any::<u64>()), vec(word(), 0..2), of(mem()), any::<bool>()),
    )
        .prop_map(
            |(
                (format, type_, mark, size, anchor, version),
                (next_nonce, max_msg_size, max_obj_size, emi, mem, field_level),
            )| {
                Meta {
                    format,
                    type_,
                    mark,
                    size,
                    anchor,
                    version,
                    next_nonce,
                    max_msg_size,
                    max_obj_size,
                    emi,
                    mem,
                    field_level,
                }
            },
        )
}

fn mem() -> impl Strategy<Value = Mem> {
    (any::<bool>(), of(any::<u64>()), of(any::<u64>())).prop_map(|(shared_mem, free_mem, free_id)| Mem {
        shared_mem,
        free_mem,
        free_id,
    })
}

fn source() -> impl Strategy<Value = Source> {
    (word(), of(word())).prop_map(|(loc_uri, loc_name)| Source { loc_uri, loc_name })
}

fn plain_target() -> impl Strategy<Value = Target> {
    (word(), of(word())).prop_map(|(loc_uri, loc_name)| Target { loc_uri, loc_name, filter: None })
}

fn cred() -> impl Strategy<Value = Box<Cred>> {
    (of(meta()), "[A-Za-z0-9+/=]{0,24}").prop_map(|(meta, d)| Box::new(Cred { meta, data: d.into_bytes() }))
}

fn property() -> impl Strategy<Value = Property> {
    (
        nonempty(),
        of(nonempty()),
        of(any::<u64>()),
        of(any::<u64>()),
        any::<bool>(),
        vec(word(), 0..3),
        of(word()),
        vec(prop_param(), 0..2),
    )
        .prop_map(
            |(prop_name, data_type, max_occur, max_size, no_truncate, val_enums, display_name, prop_params)| Property {
                prop_name,
                data_type,
                max_occur,
                max_size,
                no_truncate,
                val_enums,
                display_name,
                prop_params,
            },
        )
}

fn prop_param() -> impl Strategy<Value = PropParam> {
    (nonempty(), of(nonempty()), vec(word(), 0..3), of(word())).prop_map(
        |(param_name, data_type, val_enums, display_name)| PropParam { param_name, data_type, val_enums, display_name },
    )
}

fn ctinfo() -> impl Strategy<Value = CtInfo> {
    (word(), word()).prop_map(|(ct_type, ver_ct)| CtInfo { ct_type, ver_ct })
}

/// A CTCap valid in the given DevInf version (1.0/1.1 flat CTCaps cannot carry MaxOccur,
/// NoTruncate or FieldLevel).
fn ctcap(v12: bool) -> impl Strategy<Value = CtCap> {
    (nonempty(), of(word()), any::<bool>(), vec(property(), 0..3)).prop_map(
        move |(ct_type, ver_ct, field_level, mut properties)| {
            if !v12 {
                for p in &mut properties {
                    p.max_occur = None;
                    p.no_truncate = false;
                }
            }
            CtCap { ct_type, ver_ct, field_level: field_level && v12, properties }
        },
    )
}

fn datastore(v12: bool) -> impl Strategy<Value = DataStore> {
    (
        (word(), of(word()), of(any::<u64>()), of(ctinfo()), vec(ctinfo(), 0..2), of(ctinfo()), vec(ctinfo(), 0..2)),
        (
            vec(ctcap(v12), 0..2),
            of((any::<bool>(), of(any::<u64>()), of(any::<u64>()))),
            any::<bool>(),
            vec("[1-7]|390001", 0..4),
        ),
        (vec(ctinfo(), 0..2), vec((word(), word(), vec(word(), 0..2), vec(word(), 0..2)), 0..2)),
    )
        .prop_map(
            |(
                (source_ref, display_name, max_guid_size, rx_pref, rx, tx_pref, tx),
                (ct_caps, ds_mem, hier, sync_cap),
                (filter_rx, fcs),
            )| {
                DataStore {
                    source_ref,
                    display_name,
                    max_guid_size,
                    rx_pref,
                    rx,
                    tx_pref,
                    tx,
                    ct_caps,
                    ds_mem: ds_mem.map(|(shared_mem, max_mem, max_id)| DsMem { shared_mem, max_mem, max_id }),
                    support_hierarchical_sync: hier,
                    sync_cap,
                    filter_rx,
                    filter_caps: fcs
                        .into_iter()
                        .map(|(ct_type, ver_ct, filter_keywords, prop_names)| FilterCap {
                            ct_type,
                            ver_ct,
                            filter_keywords,
                            prop_names,
                        })
                        .collect(),
                }
            },
        )
}

fn devinf() -> impl Strategy<Value = DevInf> {
    prop_oneof![Just("1.2"), Just("1.1"), Just("1.0")].prop_flat_map(|ver| {
        let v12 = ver == "1.2";
        (
            (of(word()), of(word()), of(word()), of(word()), of(word()), of(word()), word(), word()),
            (any::<bool>(), any::<bool>(), any::<bool>()),
            vec(datastore(v12), 0..3),
            vec(ctcap(v12), 0..2),
            vec((word(), vec(word(), 0..2)), 0..2),
        )
            .prop_map(
                move |(
                    (man, mod_, oem, fw_v, sw_v, hw_v, dev_id, dev_typ),
                    (utc, lo, noc),
                    data_stores,
                    ct_caps,
                    exts,
                )| DevInf {
                    ver_dtd: ver.to_string(),
                    man,
                    mod_,
                    oem,
                    fw_v,
                    sw_v,
                    hw_v,
                    dev_id,
                    dev_typ,
                    utc,
                    support_large_objs: lo,
                    support_number_of_changes: noc,
                    data_stores,
                    ct_caps,
                    exts: exts.into_iter().map(|(x_nam, x_vals)| Ext { x_nam, x_vals }).collect(),
                },
            )
    })
}

fn data() -> impl Strategy<Value = Data> {
    prop_oneof![
        6 => data_bytes().prop_map(Data::Bytes),
        1 => devinf().prop_map(|d| Data::DevInf(Box::new(d))),
        1 => anchor().prop_map(Data::Anchor),
        1 => vec(property(), 1..3).prop_map(Data::Properties),
    ]
}

fn simple_item() -> impl Strategy<Value = Item> {
    (of(plain_target()), of(source()), of(word()), of(word()), of(meta()), of(data()), any::<bool>()).prop_map(
        |(target, source, source_parent, target_parent, meta, data, more_data)| Item {
            target,
            source,
            source_parent,
            target_parent,
            meta,
            data,
            more_data,
        },
    )
}

fn filter() -> impl Strategy<Value = Filter> {
    (
        meta(),
        of(simple_item()),
        of(simple_item()),
        of(prop_oneof![
            Just(FilterType::Inclusive),
            Just(FilterType::Exclusive),
            "[A-Z]{1,6}X".prop_map(FilterType::Other)
        ]),
    )
        .prop_map(|(meta, field, record, filter_type)| Filter { meta, field, record, filter_type })
}

fn item() -> impl Strategy<Value = Item> {
    (simple_item(), of(filter())).prop_map(|(mut it, f)| {
        if let (Some(t), Some(f)) = (it.target.as_mut(), f) {
            t.filter = Some(Box::new(f));
        }
        it
    })
}

fn items() -> impl Strategy<Value = Vec<Item>> {
    vec(item(), 0..3)
}

type Head = (u32, bool, Option<Box<Cred>>, Option<Meta>, Vec<Item>);

fn head() -> BoxedStrategy<Head> {
    (any::<u32>(), any::<bool>(), of(cred()), of(meta()), items()).boxed()
}

fn leaf_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        head().prop_map(|(cmd_id, no_resp, cred, meta, items)| Command::Add(Add {
            cmd_id,
            no_resp,
            cred,
            meta,
            items
        })),
        head().prop_map(|(cmd_id, no_resp, cred, meta, items)| Command::Replace(Replace {
            cmd_id,
            no_resp,
            cred,
            meta,
            items
        })),
        head().prop_map(|(cmd_id, no_resp, cred, meta, items)| Command::Copy(Copy {
            cmd_id,
            no_resp,
            cred,
            meta,
            items
        })),
        head().prop_map(|(cmd_id, no_resp, cred, meta, items)| Command::Move(Move {
            cmd_id,
            no_resp,
            cred,
            meta,
            items
        })),
        (head(), any::<bool>(), any::<bool>()).prop_map(|((cmd_id, no_resp, cred, meta, items), archive, sft_del)| {
            Command::Delete(Delete { cmd_id, no_resp, archive, sft_del, cred, meta, items })
        }),
        (any::<u32>(), any::<bool>(), of(cred()), of(any::<u16>()), of(word()), items()).prop_map(
            |(cmd_id, no_resp, cred, data, correlator, items)| Command::Alert(Alert {
                cmd_id,
                no_resp,
                cred,
                data: data.map(AlertCode::from),
                correlator,
                items
            })
        ),
        (any::<u32>(), any::<bool>(), of(cred()), of(meta()), of(word()), item()).prop_map(
            |(cmd_id, no_resp, cred, meta, correlator, item)| Command::Exec(Box::new(Exec {
                cmd_id,
                no_resp,
                cred,
                meta,
                correlator,
                item
            }))
        ),
        (head(), of(word())).prop_map(|((cmd_id, no_resp, cred, meta, items), lang)| Command::Get(Get {
            cmd_id,
            no_resp,
            lang,
            cred,
            meta,
            items
        })),
        (head(), of(word())).prop_map(|((cmd_id, no_resp, cred, meta, items), lang)| Command::Put(Put {
            cmd_id,
            no_resp,
            lang,
            cred,
            meta,
            items
        })),
        (any::<u32>(), plain_target(), source(), of(cred()), of(meta()), vec((plain_target(), source()), 0..3))
            .prop_map(|(cmd_id, target, source, cred, meta, mis)| Command::Map(Map {
                cmd_id,
                target,
                source,
                cred,
                meta,
                items: mis.into_iter().map(|(target, source)| MapItem { target, source }).collect(),
            })),
        (any::<u32>(), of(any::<u32>()), any::<u32>(), of(meta()), of(word()), of(word()), items()).prop_map(
            |(cmd_id, msg_ref, cmd_ref, meta, target_ref, source_ref, items)| Command::Results(Results {
                cmd_id,
                msg_ref,
                cmd_ref,
                meta,
                target_ref,
                source_ref,
                items
            })
        ),
        (
            any::<u32>(),
            any::<bool>(),
            any::<bool>(),
            of(cred()),
            of(plain_target()),
            vec(source(), 0..2),
            of(word()),
            meta(),
            data_bytes()
        )
            .prop_map(
                |(cmd_id, no_resp, no_results, cred, target, sources, lang, meta, data)| Command::Search(Box::new(
                    Search { cmd_id, no_resp, no_results, cred, target, sources, lang, meta, data }
                ))
            ),
        (
            (
                any::<u32>(),
                of(any::<u32>()),
                any::<u32>(),
                prop_oneof![Just("SyncHdr".to_string()), Just("Add".to_string()), nonempty()]
            ),
            (vec(word(), 0..2), vec(word(), 0..2), of(cred()), of(meta()), any::<u16>(), items())
        )
            .prop_map(
                |((cmd_id, msg_ref, cmd_ref, cmd), (target_refs, source_refs, cred, chal, data, items))| {
                    Command::Status(Status {
                        cmd_id,
                        msg_ref,
                        cmd_ref,
                        cmd: CmdName::parse(&cmd),
                        target_refs,
                        source_refs,
                        cred,
                        chal: chal.map(|meta| Chal { meta }),
                        data: StatusCode::from(data),
                        items,
                    })
                }
            ),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    leaf_command().prop_recursive(2, 12, 4, |inner| {
        let kids = vec(inner, 0..4);
        prop_oneof![
            (any::<u32>(), any::<bool>(), of(meta()), kids.clone()).prop_map(|(cmd_id, no_resp, meta, commands)| {
                Command::Atomic(Atomic { cmd_id, no_resp, meta, commands })
            }),
            (any::<u32>(), any::<bool>(), of(meta()), kids.clone()).prop_map(|(cmd_id, no_resp, meta, commands)| {
                Command::Sequence(Sequence { cmd_id, no_resp, meta, commands })
            }),
            (
                any::<u32>(),
                any::<bool>(),
                of(cred()),
                of(plain_target()),
                of(source()),
                of(meta()),
                of(any::<u32>()),
                kids
            )
                .prop_map(|(cmd_id, no_resp, cred, target, source, meta, number_of_changes, commands)| {
                    Command::Sync(Sync { cmd_id, no_resp, cred, target, source, meta, number_of_changes, commands })
                }),
        ]
    })
}

fn message() -> impl Strategy<Value = Message> {
    (
        prop_oneof![Just(Version::V1_0), Just(Version::V1_1), Just(Version::V1_2)],
        (
            word(),
            word(),
            word(),
            any::<u32>(),
            plain_target(),
            source(),
            of(word()),
            any::<bool>(),
            of(cred()),
            of(meta()),
        ),
        vec(command(), 0..5),
        any::<bool>(),
    )
        .prop_map(
            |(
                version,
                (ver_dtd, ver_proto, session_id, msg_id, target, source, resp_uri, no_resp, cred, meta),
                body,
                final_,
            )| Message {
                version,
                header: Header {
                    ver_dtd,
                    ver_proto,
                    session_id,
                    msg_id,
                    target,
                    source,
                    resp_uri,
                    no_resp,
                    cred,
                    meta,
                },
                body,
                final_,
            },
        )
}

fn round_trip(doc: &Document, enc: Encoding) -> Document {
    let bytes = codec::encode(doc, enc, false).expect("generated documents are representable");
    let (got_enc, back) = codec::decode(&bytes, &Limits::default())
        .unwrap_or_else(|e| panic!("{enc:?} output does not decode: {e}\n{}", String::from_utf8_lossy(&bytes)));
    assert_eq!(got_enc, enc);
    back
}

/// Runs a property on a thread with a large stack: generating the deeply nested strategies of
/// this file needs more than a test thread's default 2 MiB in debug builds.
fn check<S: Strategy + 'static>(strategy: fn() -> S, test: fn(S::Value) -> Result<(), TestCaseError>) {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            let mut runner =
                proptest::test_runner::TestRunner::new(ProptestConfig { cases: 300, ..ProptestConfig::default() });
            if let Err(e) = runner.run(&strategy(), test) {
                panic!("{e}");
            }
        })
        .expect("spawn")
        .join()
        .expect("property holds");
}

#[test]
fn message_survives_xml() {
    check(message, |m| {
        let doc = Document::Message(m);
        prop_assert_eq!(round_trip(&doc, Encoding::Xml), doc);
        Ok(())
    });
}

#[test]
fn message_survives_wbxml() {
    check(message, |m| {
        let doc = Document::Message(m);
        prop_assert_eq!(round_trip(&doc, Encoding::Wbxml), doc);
        Ok(())
    });
}

#[test]
fn message_survives_pretty_xml() {
    check(message, |m| {
        let doc = Document::Message(m);
        let bytes = codec::encode(&doc, Encoding::Xml, true).unwrap();
        let (_, back) = codec::decode(&bytes, &Limits::default()).unwrap();
        prop_assert_eq!(back, doc);
        Ok(())
    });
}

#[test]
fn devinf_document_survives_both() {
    check(devinf, |d| {
        let doc = Document::DevInf(d);
        prop_assert_eq!(round_trip(&doc, Encoding::Xml), doc.clone());
        prop_assert_eq!(round_trip(&doc, Encoding::Wbxml), doc);
        Ok(())
    });
}
