//! rdiff (librsync) deltas made by the real `rdiff signature` / `rdiff delta`, applied by us
//! and compared with `rdiff patch`.

use std::io::Cursor;

use vcdiff::{DeltaKind, Error, rdiff, sniff};

use crate::common::{assert_same, edit, image, run, tool};

struct RdiffFixture {
    _dir: tempfile::TempDir,
    basis: Vec<u8>,
    delta: Vec<u8>,
    signature: Vec<u8>,
    patched: Vec<u8>,
}

fn make(basis: &[u8], new: &[u8]) -> RdiffFixture {
    let rdiff = tool("rdiff", "rdiff");
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("basis"), basis).expect("write");
    std::fs::write(p("new"), new).expect("write");
    run(
        &rdiff,
        &[
            "signature".as_ref(),
            p("basis").as_os_str(),
            p("sig").as_os_str(),
        ],
    );
    run(
        &rdiff,
        &[
            "delta".as_ref(),
            p("sig").as_os_str(),
            p("new").as_os_str(),
            p("delta").as_os_str(),
        ],
    );
    run(
        &rdiff,
        &[
            "patch".as_ref(),
            p("basis").as_os_str(),
            p("delta").as_os_str(),
            p("patched").as_os_str(),
        ],
    );
    let read = |n: &str| std::fs::read(p(n)).expect("read");
    RdiffFixture {
        basis: basis.to_vec(),
        delta: read("delta"),
        signature: read("sig"),
        patched: read("patched"),
        _dir: dir,
    }
}

fn apply(basis: &[u8], delta: &[u8]) -> vcdiff::Result<Vec<u8>> {
    let mut out = Vec::new();
    rdiff::apply(Cursor::new(basis), delta, &mut out)?;
    Ok(out)
}

#[test]
fn real_rdiff_deltas_apply_like_rdiff_patch() {
    let basis = image(21, 3 << 20);
    for (seed, edits) in [(22, 5), (23, 60)] {
        let new = edit(&basis, seed, edits);
        let fx = make(&basis, &new);
        assert_eq!(sniff(&fx.delta), Some(DeltaKind::Rdiff));
        assert_eq!(sniff(&fx.signature), Some(DeltaKind::RdiffSignature));
        assert_same(&fx.patched, &new, "rdiff patch");
        let out = apply(&fx.basis, &fx.delta).expect("applies");
        assert_same(&out, &fx.patched, "our rdiff patch");
    }
}

#[test]
fn literal_only_and_empty_basis() {
    // An empty basis forces one long literal (LITERAL_N4 for 200 KB).
    let new = image(24, 200_000);
    let fx = make(&[], &new);
    assert_same(
        &apply(&[], &fx.delta).expect("applies"),
        &fx.patched,
        "literal only",
    );
    let fx = make(&new, &[]);
    assert_eq!(apply(&new, &fx.delta).expect("applies"), fx.patched);
}

#[test]
fn corrupt_rdiff_deltas() {
    let basis = image(25, 1 << 20);
    let new = edit(&basis, 26, 10);
    let fx = make(&basis, &new);

    let err = apply(&fx.basis, &fx.signature).expect_err("signature is not a delta");
    assert!(matches!(err, Error::RdiffBadMagic { .. }));
    assert!(err.to_string().contains("signature, not a delta"), "{err}");

    let mut bad = fx.delta.clone();
    bad[4] = 0x60;
    let err = apply(&fx.basis, &bad).expect_err("bad opcode");
    assert!(
        matches!(
            err,
            Error::RdiffBadOpcode {
                at: 4,
                opcode: 0x60
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "rdiff delta: unknown command 0x60 at byte 4"
    );

    let err = apply(&fx.basis, &fx.delta[..fx.delta.len() - 1]).expect_err("no end");
    assert!(matches!(err, Error::Truncated { .. }), "{err}");

    let mut trailing = fx.delta.clone();
    trailing.push(0);
    let err = apply(&fx.basis, &trailing).expect_err("trailing");
    assert!(matches!(err, Error::RdiffTrailing { .. }), "{err}");

    let err = apply(&fx.basis[..1000], &fx.delta).expect_err("short basis");
    assert!(
        matches!(
            err,
            Error::RdiffBadCopy {
                basis_len: 1000,
                ..
            }
        ),
        "{err}"
    );
}
