//! The JIT against the trie interpreter and the reference semantics, on random filters and
//! packets; incremental compilation against compilation from scratch; the code decodes.

use super::gen::{bend, filters, packets};
use crate::atom::{Atom, Shift};
use crate::exec::Exec;
use crate::jit::Jit;
use crate::{Dpf, Filter, FilterId};
use alloc::vec::Vec;
use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter, Mnemonic};
use proptest::prelude::*;
use std::string::String;

/// The same filters, all of one owner so that overlaps are allowed.
fn install(fs: &[Filter]) -> (Dpf, Vec<FilterId>) {
    let mut d = Dpf::default();
    let ids = fs.iter().map(|f| d.insert(1, f.clone()).unwrap()).collect();
    (d, ids)
}

fn agree(d: &Dpf, pkts: &[Vec<u8>]) -> Result<(), TestCaseError> {
    let x = Exec::new(d).unwrap();
    for p in pkts {
        let r = d.classify_reference(p);
        prop_assert_eq!(d.classify(p), r, "trie vs reference on {:02x?}", p);
        prop_assert_eq!(x.classify(p), r, "jit vs reference on {:02x?}", p);
    }
    Ok(())
}

/// Code compiled from scratch for `d`'s trie.
fn full(d: &Dpf) -> Vec<u8> {
    let mut j = Jit::default();
    j.compile(d.trie(), false, usize::MAX).unwrap();
    j.code().to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn jit_equals_trie_equals_reference(fs in filters(), pkts in packets()) {
        let (d, _) = install(&fs);
        agree(&d, &bend(&fs, pkts))?;
    }

    #[test]
    fn incremental_code_is_the_full_code(fs in filters(), removals in prop::collection::vec(any::<usize>(), 0..12), pkts in packets()) {
        let (mut d, mut ids) = install(&fs);
        prop_assert_eq!(d.code(), &full(&d)[..]);
        for r in removals {
            if ids.is_empty() { break; }
            let id = ids.remove(r % ids.len());
            d.remove(1, id).unwrap();
            prop_assert_eq!(d.code(), &full(&d)[..]);
        }
        // Re-insert a few: new nodes in old places.
        for f in fs.iter().take(3) {
            d.insert(1, f.clone()).unwrap();
            prop_assert_eq!(d.code(), &full(&d)[..]);
        }
        agree(&d, &bend(&fs, pkts))?;
    }
}

fn udp_port(port: u32) -> Filter {
    Filter::new(&[
        Atom::eq(12, 2, 0x0800),
        Atom::eq(23, 1, 17),
        Atom::Shift(Shift::IP_HL),
        Atom::eq(2, 2, port),
    ])
    .unwrap()
}

fn udp_packet(port: u16) -> Vec<u8> {
    let mut p = alloc::vec![0u8; 42];
    p[12..14].copy_from_slice(&[0x08, 0x00]);
    p[14] = 0x45;
    p[23] = 17;
    p[36..38].copy_from_slice(&port.to_be_bytes());
    p
}

#[test]
fn insert_regenerates_only_the_changed_path() {
    let mut d = Dpf::default();
    for port in 0..100 {
        d.insert(1, udp_port(1000 + port)).unwrap();
    }
    let s = d.last_compile();
    // root, 3 shared nodes, the new leaf; the 99 other leaves are copied.
    assert_eq!(s.emitted_nodes, 5, "{s:?}");
    assert_eq!(s.copied_nodes, 99, "{s:?}");
    let x = Exec::new(&d).unwrap();
    assert_eq!(x.classify(&udp_packet(1042)), Some(42));
    assert_eq!(x.classify(&udp_packet(999)), None);
    assert_eq!(x.classify(&udp_packet(1042)[..37]), None);
}

/// Decode `code` up to `ret` or the first hash table (tables are data, after `jmp rax`).
fn listing(code: &[u8]) -> Vec<String> {
    let mut dec = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
    let mut fmt = IntelFormatter::new();
    let mut out = Vec::new();
    while dec.can_decode() {
        let ins = dec.decode();
        assert!(!ins.is_invalid(), "invalid instruction at {:#x}", ins.ip());
        let mut s = String::new();
        fmt.format(&ins, &mut s);
        if ins.mnemonic() == Mnemonic::Ret || s == "jmp rax" {
            out.push(s);
            break;
        }
        out.push(s);
    }
    out
}

#[test]
fn code_decodes_to_the_expected_instructions() {
    let mut d = Dpf::default();
    d.insert(1, udp_port(53)).unwrap();
    d.insert(1, udp_port(123)).unwrap();
    let l = listing(d.code());
    let text = l.join("\n");
    assert_eq!(l.first().map(String::as_str), Some("xor edx,edx"), "{text}");
    assert_eq!(l.last().map(String::as_str), Some("ret"), "{text}");
    // Ethertype: one length check, a load, the constant pre-swapped (0x0800 -> 0x0008).
    assert!(text.contains("cmp rsi,0Eh"), "{text}");
    assert!(text.contains("movzx ecx,word ptr [rdi+0Ch]"), "{text}");
    assert!(text.contains("cmp ecx,8\n"), "{text}");
    // Byte 23 needs a longer packet; ip_hl sets r8; ports are loaded relative to it.
    assert!(text.contains("cmp rsi,18h"), "{text}");
    assert!(text.contains("lea r8,[rax*4+0Eh]"), "{text}");
    assert!(text.contains("movzx ecx,word ptr [rdi+r8+2]"), "{text}");
    assert!(text.contains("cmp ecx,3500h"), "{text}"); // 53, byte-swapped
    assert!(text.contains("cmova rdx,rax"), "{text}");
}

#[test]
fn hash_dispatch_code_runs_and_decodes() {
    let mut d = Dpf::default();
    for port in (0..300).map(|p| p * 7) {
        d.insert(1, udp_port(port)).unwrap();
    }
    let text = listing(d.code()).join("\n");
    assert!(text.contains("imul eax,ecx,"), "{text}");
    assert!(text.contains("jmp rax"), "{text}");
    let x = Exec::new(&d).unwrap();
    for port in 0..2100u16 {
        let want = (port % 7 == 0).then_some(port as u32 / 7);
        assert_eq!(x.classify(&udp_packet(port)), want, "port {port}");
        assert_eq!(d.classify(&udp_packet(port)), want, "port {port}");
    }
}

#[test]
fn empty_engine_matches_nothing() {
    let d = Dpf::default();
    let x = Exec::new(&d).unwrap();
    assert_eq!(x.run_raw(&[]), u32::MAX);
    assert_eq!(x.classify(&udp_packet(53)), None);
}

#[test]
fn three_nested_indirections_use_every_base_register() {
    let hop = Atom::Shift(Shift {
        offset: 0,
        mask: 0x07,
        scale: 2,
        add: 1,
    });
    let mut d = Dpf::default();
    for v in 0..8u32 {
        let f = Filter::new(&[
            hop,
            Atom::eq(0, 1, v % 4),
            hop,
            hop,
            Atom::eq(1, 2, 0x0100 + v / 4),
        ])
        .unwrap();
        d.insert(1, f).unwrap();
    }
    let text = listing(d.code()).join("\n");
    assert!(text.contains("lea r10,[r9+rax*2+1]"), "{text}");
    let x = Exec::new(&d).unwrap();
    let mut seed = 0x1234_5678u32;
    let mut hits = 0;
    for _ in 0..20_000 {
        let mut p = Vec::new();
        for _ in 0..(seed % 48) {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            p.push(if seed.is_multiple_of(3) {
                1
            } else {
                (seed >> 8) as u8 % 4
            });
        }
        let r = d.classify_reference(&p);
        hits += r.is_some() as u32;
        assert_eq!(d.classify(&p), r, "{p:02x?}");
        assert_eq!(x.classify(&p), r, "{p:02x?}");
    }
    assert!(hits > 0);
}
