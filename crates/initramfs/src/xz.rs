//! Kernel-compatible xz compression of the cpio archive.

use std::io::{Read, Write};

use xz2::stream::{Check, Filters, LzmaOptions, Stream};

use crate::Error;

/// Dictionary size of each liblzma preset (`xz -0` … `xz -9`).
const PRESET_DICT: [u32; 10] = [
    1 << 18,
    1 << 20,
    1 << 21,
    1 << 22,
    1 << 22,
    1 << 23,
    1 << 23,
    1 << 24,
    1 << 25,
    1 << 26,
];
/// liblzma's `LZMA_PRESET_EXTREME` flag (not re-exported by `xz2`).
const PRESET_EXTREME: u32 = 1 << 31;
/// Smallest LZMA2 dictionary liblzma accepts.
const MIN_DICT: u32 = 4096;

/// Settings for [`compress_xz_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XzOptions {
    /// Run the x86 BCJ filter before LZMA2. Improves compression of x86
    /// executables; the kernel must be built with `CONFIG_XZ_DEC_X86` (the
    /// default on x86). Disable for other architectures.
    pub bcj_x86: bool,
    /// LZMA2 preset, `0..=9`. Always used in "extreme" mode.
    pub preset: u32,
}

impl Default for XzOptions {
    /// x86 BCJ + LZMA2 preset 9 extreme, as used by [`compress_xz`].
    fn default() -> Self {
        Self {
            bcj_x86: true,
            preset: 9,
        }
    }
}

/// Compresses an archive into an xz stream the kernel can unpack, with
/// [`XzOptions::default`]: x86 BCJ filter, then LZMA2 preset 9 extreme.
///
/// See [`compress_xz_with`] for the guarantees.
pub fn compress_xz(cpio: &[u8]) -> Result<Vec<u8>, Error> {
    compress_xz_with(cpio, XzOptions::default())
}

/// Compresses an archive into a single xz stream with the given options.
///
/// The stream uses a CRC32 integrity check, because the kernel's xz decoder
/// rejects the default CRC64. Compression is single-threaded, so the output
/// is a pure function of the input and options.
///
/// The LZMA2 dictionary is the preset's, shrunk to the smallest power of two
/// holding the whole input when that is smaller: a larger dictionary cannot
/// improve compression, but the kernel allocates the full dictionary size
/// when it unpacks the initramfs at boot.
pub fn compress_xz_with(cpio: &[u8], options: XzOptions) -> Result<Vec<u8>, Error> {
    let preset_dict = *PRESET_DICT
        .get(options.preset as usize)
        .ok_or(Error::InvalidPreset(options.preset))?;
    let needed = u32::try_from(cpio.len())
        .ok()
        .and_then(u32::checked_next_power_of_two)
        .unwrap_or(u32::MAX);
    let dict = needed.clamp(MIN_DICT, preset_dict);

    let lzma_err = |err: xz2::stream::Error| Error::Compress(err.into());
    let mut lzma = LzmaOptions::new_preset(options.preset | PRESET_EXTREME).map_err(lzma_err)?;
    lzma.dict_size(dict);
    let mut filters = Filters::new();
    if options.bcj_x86 {
        filters.x86();
    }
    filters.lzma2(&lzma);
    let stream = Stream::new_stream_encoder(&filters, Check::Crc32).map_err(lzma_err)?;

    let mut encoder = xz2::write::XzEncoder::new_stream(Vec::new(), stream);
    encoder.write_all(cpio).map_err(Error::Compress)?;
    encoder.finish().map_err(Error::Compress)
}

/// Decompresses xz data (one stream or several concatenated ones).
pub fn decompress_xz(data: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    xz2::read::XzDecoder::new_multi_decoder(data)
        .read_to_end(&mut out)
        .map_err(Error::Decompress)?;
    Ok(out)
}
