use super::*;
use std::vec;
use std::vec::Vec;

/// A header for `d` with its smallest valid length.
fn header(d: &Desc) -> u32 {
    let op = match d.ty {
        0 => u32::from(d.key & 0x3f) << 23,
        2 => (2 << 29) | (u32::from(d.key & 0x7f) << 22),
        _ => u32::from(d.key) << 16,
    };
    match d.len {
        Len::Fixed(_) | Len::Var(_) => op,
        Len::VarExact(_, n) => op | (u32::from(n) - 2),
    }
}

#[test]
fn all_upstream_descriptors_are_present() {
    assert_eq!(table::DESCS.len(), 225);
    let on = |m: u8| table::DESCS.iter().filter(|d| d.engines & m != 0).count();
    // Per engine, as upstream's ring masks give them.
    assert_eq!([on(1), on(2), on(4), on(8)], [158, 70, 57, 33]);
}

#[test]
fn every_descriptor_decodes_where_valid_and_only_there() {
    for d in table::DESCS.iter() {
        let h = header(d);
        for e in Engine::ALL {
            let got = decode(e, h).map(|g| g.name);
            // The blitter decodes no type-3 commands at all (upstream's decode table).
            let decodable = !(e == Engine::Bcs && d.ty == 3);
            if d.engines & e.mask() != 0 && decodable {
                assert_eq!(got, Some(d.name), "{} on {e:?}", d.name);
                assert!(d.dwords(h).is_some_and(|n| n >= 1));
            } else {
                assert_ne!(got, Some(d.name), "{} on {e:?}", d.name);
            }
        }
    }
}

#[test]
fn lengths_follow_the_header() {
    let lri = decode(Engine::Rcs, 0x22 << 23).unwrap();
    assert_eq!(lri.dwords((0x22 << 23) | 5), Some(7));
    let srm = decode(Engine::Bcs, 0x24 << 23).unwrap();
    assert_eq!(
        (srm.dwords((0x24 << 23) | 2), srm.dwords((0x24 << 23) | 3)),
        (Some(4), None)
    );
    let noop = decode(Engine::Vecs, 0x0040_1234).unwrap();
    assert_eq!((noop.name, noop.dwords(0x0040_1234)), ("MI_NOOP", Some(1)));
    let media = decode(Engine::Rcs, 0x7000_0007).unwrap();
    assert_eq!(
        (media.name, media.dwords(0x7000_0007)),
        ("MEDIA_VFE_STATE", Some(9))
    );
    assert_eq!(
        decode(Engine::Vcs, 0x6800_0100).map(|d| (d.name, d.dwords(0x6800_0100))),
        Some(("MFX_WAIT", Some(1)))
    );
}

#[test]
fn whitelist_uses_the_register_table() {
    let span = crate::model::resources::Span::default();
    let p = Partition {
        low: span,
        high: span,
        fences: span,
    };
    let s = Scanner::new(
        Platform::Broxton,
        Engine::Rcs,
        &p,
        Policy { scan_ppgtt: false },
    );
    let names: Vec<_> = [0x7000, 0xb118, 0x2600, 0x2034, 0x44200, 0x20_0000]
        .iter()
        .map(|&r| s.reg_flags(r).is_some())
        .collect();
    assert_eq!(names, [true, true, true, false, false, false]);
    // Loads of mediated registers cannot be checked, so they are refused.
    assert_eq!(s.reg_load(0x229c), Err(Reason::Register(0x229c)));
    assert_eq!(s.reg_load(0x7000), Ok(()));
}

#[test]
fn the_plain_path_agrees_with_the_descriptors_for_every_header() {
    // Every opcode on every engine, with the smallest and the largest length field: the plain
    // path skips exactly the commands that need no check, by exactly their length, except that
    // it may leave to the checked path an opcode another engine decodes with another rule.
    let mut buf = vec![u8::MAX; (1 << 18) + 8];
    for e in Engine::ALL {
        for hi in 0..=u32::from(u16::MAX) {
            for low in [0, 0xffff] {
                let h = (hi << 16) | low;
                buf[..4].copy_from_slice(&h.to_le_bytes());
                let want = decode(e, h)
                    .filter(|d| d.check == Check::None && !matches!(d.len, Len::VarExact(..)));
                let want = want
                    .and_then(|d| d.dwords(h))
                    .map_or((0, 0), |n| (n as usize * 4, 1));
                let got = skip_plain(plain_bits(e), &buf, 0);
                let shared = decode(e, h).is_some_and(|d| {
                    (entry(h) >> E_ENGINE_SHIFT) & 0xf != u32::from(decodes_on(d))
                });
                assert!(
                    got == want || (shared && got == (0, 0)),
                    "{h:#010x} on {e:?}: {got:?}, not {want:?}"
                );
            }
        }
    }
}
