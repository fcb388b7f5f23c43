//! Kiln's charts, as self-contained SVG text that browsers and GitHub show as is.
//!
//! - [`boot_chart`]: one horizontal bar per boot cell, its phases (firmware and loader,
//!   kernel, kiln-boot, kiln-init's stages, the shell answering) as coloured segments on
//!   a time axis in seconds.
//! - [`timeline_from_boot`]: the [`Timeline`] of one boot from what the host saw (when
//!   the kernel's first line and the shell's answer arrived), the serial log and
//!   kiln-init's `/run/kiln/boot-times`.
//! - [`size_chart`]: where an image's bytes go, as one stacked bar and a bar per part.
//!
//! Pure functions, no dependencies: the SVG is written by hand, every text escaped.

mod boot_chart;
mod size_chart;
mod svg;
mod timeline;

pub use boot_chart::boot_chart;
pub use size_chart::size_chart;
pub use svg::{human_bytes, human_secs};
pub use timeline::{
    parse_boot_times, parse_console, timeline_from_boot, ConsoleMarks, Phase, Timeline, FIRMWARE, KERNEL, KILN_BOOT,
    KILN_INIT, PHASE_ORDER, SHELL_READY, SPAWN_SHELL,
};
