//! Kernel-compatible xz compression.

use kiln_initramfs::{
    compress_xz, compress_xz_with, decompress_xz, read_newc, Data, Error, Tree, XzOptions,
};

const XZ_MAGIC: &[u8] = b"\xfd7zXZ\0";

fn archive() -> Vec<u8> {
    let mut tree = Tree::new();
    tree.char_dev("dev/console", 0o600, 5, 1).unwrap();
    // Something compressible that looks a bit like x86 code.
    let code: Vec<u8> = (0..50_000u32)
        .flat_map(|i| [0xe8, (i % 13) as u8, 0, 0, 0, 0x90])
        .collect();
    tree.file("bin/busybox", 0o755, Data::Bytes(code)).unwrap();
    tree.write_newc(Vec::new(), 0).unwrap()
}

/// Checks the stream header and returns the LZMA2 dictionary size stored in
/// the first block header.
fn check_header(xz: &[u8], bcj: bool) -> u64 {
    assert_eq!(&xz[..6], XZ_MAGIC);
    // Stream flags: no flags, check type 0x01 = CRC32 (kernel rejects CRC64).
    assert_eq!((xz[6], xz[7]), (0x00, 0x01));
    // Block header: size, flags (filter count - 1, no optional sizes), filters.
    assert_eq!(xz[13], u8::from(bcj));
    let lzma2 = if bcj {
        assert_eq!(&xz[14..16], [0x04, 0x00], "x86 bcj filter");
        16
    } else {
        14
    };
    assert_eq!(&xz[lzma2..lzma2 + 2], [0x21, 0x01], "lzma2 filter");
    let prop = u64::from(xz[lzma2 + 2]);
    (2 | (prop & 1)) << (prop / 2 + 11)
}

#[test]
fn compresses_with_crc32_bcj_and_round_trips() {
    let cpio = archive();
    let xz = compress_xz(&cpio).unwrap();
    let dict = check_header(&xz, true);
    assert!(xz.len() < cpio.len() / 5, "{} -> {}", cpio.len(), xz.len());
    // The dictionary is shrunk to fit the input instead of preset 9's 64 MiB.
    assert_eq!(dict, (cpio.len() as u64).next_power_of_two());
    assert_eq!(decompress_xz(&xz).unwrap(), cpio);
    assert_eq!(read_newc(&decompress_xz(&xz).unwrap()).unwrap().len(), 4);
}

#[test]
fn compression_is_deterministic() {
    let cpio = archive();
    assert_eq!(compress_xz(&cpio).unwrap(), compress_xz(&cpio).unwrap());
    let opts = XzOptions {
        bcj_x86: false,
        preset: 1,
    };
    assert_eq!(
        compress_xz_with(&cpio, opts).unwrap(),
        compress_xz_with(&cpio, opts).unwrap()
    );
}

#[test]
fn options_are_honoured() {
    let cpio = archive();
    assert_eq!(
        XzOptions::default(),
        XzOptions {
            bcj_x86: true,
            preset: 9
        }
    );
    let xz = compress_xz_with(
        &cpio,
        XzOptions {
            bcj_x86: false,
            preset: 0,
        },
    )
    .unwrap();
    // Preset 0 has a 256 KiB dictionary, smaller than the input.
    assert_eq!(check_header(&xz, false), 256 << 10);
    assert_eq!(decompress_xz(&xz).unwrap(), cpio);
    let err = compress_xz_with(
        &cpio,
        XzOptions {
            bcj_x86: true,
            preset: 10,
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidPreset(10)), "{err}");
}

#[test]
fn tiny_inputs_use_the_minimum_dictionary() {
    let cpio = Tree::new().write_newc(Vec::new(), 0).unwrap();
    let xz = compress_xz(&cpio).unwrap();
    assert_eq!(check_header(&xz, true), 4096);
    assert_eq!(decompress_xz(&xz).unwrap(), cpio);
    assert_eq!(decompress_xz(&compress_xz(b"").unwrap()).unwrap(), b"");
}

#[test]
fn concatenated_streams_and_garbage() {
    let mut xz = compress_xz(b"hello ").unwrap();
    xz.extend(
        compress_xz_with(
            b"world",
            XzOptions {
                bcj_x86: false,
                preset: 6,
            },
        )
        .unwrap(),
    );
    assert_eq!(decompress_xz(&xz).unwrap(), b"hello world");
    assert!(matches!(
        decompress_xz(b"not xz at all"),
        Err(Error::Decompress(_))
    ));
    let good = compress_xz(b"data").unwrap();
    assert!(matches!(
        decompress_xz(&good[..good.len() - 4]),
        Err(Error::Decompress(_))
    ));
}
