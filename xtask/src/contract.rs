//! The container-native ISO contract (seed 003): a container image in live mode that
//! ships `/usr/lib/modules/KVER/vmlinuz` with `initramfs.img` beside it boots from
//! them, its tree unchanged as the squashfs, with the menu of its `iso.yaml`; Kiln's
//! kernel, kiln-boot and kiln-init stay out. kiln-image's `contract` module decides;
//! this step writes the outputs, cached by the container image's bytes.

use crate::artifacts::{report, tool_identity};
use crate::ctx::Ctx;
use anyhow::{Context, Result};
use kiln_build::cache::Key;
use kiln_image::ImageSpec;
use kiln_util::Stamped;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// An image in contract mode, written under `out/NAME/contract/` and `out/NAME/LiveOS/`.
pub struct Built {
    pub vmlinuz: PathBuf,
    pub initrd: PathBuf,
    pub squashfs: PathBuf,
    pub kver: String,
    pub menu: kiln_iso::Menu,
    pub label: String,
}

/// Whether the container image at `oci` follows the contract; if so its kernel,
/// initramfs and squashfs, made once per input. The answer is kept in
/// `out/NAME/contract/contract.json` (stamped with the input's key).
pub fn build(ctx: &Ctx, spec: &ImageSpec, oci: &Path) -> Result<Option<Built>> {
    let dir = ctx.image_dir(&spec.name).join("contract");
    let answer = dir.join("contract.json");
    let squashfs = ctx.image_dir(&spec.name).join(kiln_iso::SQUASHFS_PATH);
    let (vmlinuz, initrd) = (dir.join("vmlinuz"), dir.join("initramfs.img"));
    let mut key = Key::new("contract-v1");
    crate::oci::add_input(&mut key, oci)?;
    // The spec gives the label and menu where the image's iso.yaml does not.
    key.add(spec.rootfs.platform.to_string()).add(&spec.iso.label).add(format!("{:?}", crate::artifacts::spec_menu(spec)));
    key.add(ctx.tool_version(kiln_squashfs::TOOL)?);
    key.add(ctx.epoch.to_string()).add(tool_identity());
    let cached = Stamped::new(&answer, key.finish()).get_or_make(|| {
        let (_image, conv) = crate::oci::unpack(ctx, &spec.rootfs.platform, oci)?;
        let shown = oci.display();
        let found = kiln_image::contract::detect(&conv.tree).with_context(|| format!("{shown}: the container-native ISO contract"))?;
        let Some(c) = found else {
            return kiln_util::write_atomic(&answer, b"{\"contract\": false}\n");
        };
        for w in &c.warnings {
            eprintln!("  warning: {w}");
        }
        eprintln!("  {shown}: container-native ISO contract: kernel {} with its initramfs{}", c.kver, c.iso_yaml_path.as_deref().map(|p| format!(", menu from {p}")).unwrap_or_default());
        let (label, menu) = menu(spec, &c)?;
        write_data(&c.vmlinuz, &vmlinuz)?;
        write_data(&c.initramfs, &initrd)?;
        kiln_squashfs::write_squashfs(&conv.tree, &squashfs, ctx.epoch, &ctx.out.join("logs"))?;
        let entries: Vec<Value> = menu.entries.iter().map(|e| json!([e.name, e.cmdline])).collect();
        let v = json!({ "contract": true, "kver": c.kver, "label": label, "timeout": menu.timeout, "default": menu.default, "entries": entries });
        kiln_util::write_atomic(&answer, format!("{v:#}\n").as_bytes())
    })?;
    let v: Value = serde_json::from_slice(&std::fs::read(&answer)?).with_context(|| format!("reading {}", answer.display()))?;
    if v["contract"] != json!(true) {
        return Ok(None);
    }
    report("squashfs", &squashfs, cached);
    let text = |k: &str| v[k].as_str().map(String::from).with_context(|| format!("{}: no {k}", answer.display()));
    let entries = v["entries"].as_array().context("no entries")?;
    let entries = entries
        .iter()
        .map(|e| Some(kiln_iso::Entry { name: e[0].as_str()?.into(), cmdline: e[1].as_str()?.into() }))
        .collect::<Option<Vec<_>>>()
        .with_context(|| format!("{}: bad entries", answer.display()))?;
    let menu = kiln_iso::Menu { entries, default: v["default"].as_u64().unwrap_or(0) as usize, timeout: v["timeout"].as_u64().unwrap_or(0) as u32 };
    Ok(Some(Built { vmlinuz, initrd, squashfs, kver: text("kver")?, menu, label: text("label")? }))
}

/// The ISO's label and menu: the image's `iso.yaml`, or, where it gives no entries and
/// no kernel arguments, the spec's entries (serial and VGA consoles) booting the
/// medium by its label (`root=live:CDLABEL=<label> rd.live.image`).
fn menu(spec: &ImageSpec, c: &kiln_image::contract::Contract) -> Result<(String, kiln_iso::Menu)> {
    let first = spec.iso.entries.first().map(|e| e.name.clone()).unwrap_or_default();
    let defaults = kiln_image::contract::MenuDefaults { label: spec.iso.label.clone(), timeout: spec.iso.timeout, name: first };
    let m = c.menu(&defaults)?;
    let own = c.iso.as_ref().is_some_and(|y| !y.entries.is_empty() || !y.kernel_args.is_empty());
    if own {
        let entries = m.entries.into_iter().map(|(name, cmdline)| kiln_iso::Entry { name, cmdline }).collect();
        return Ok((m.label, kiln_iso::Menu { entries, default: m.default, timeout: m.timeout }));
    }
    let mut spec = spec.clone();
    spec.iso.label = m.label.clone();
    spec.rootfs.mode = kiln_image::RootMode::Live;
    let mut menu = crate::artifacts::spec_menu(&spec);
    menu.timeout = m.timeout;
    Ok((m.label, menu))
}

/// Writes a file of the image to `dest` (atomically).
fn write_data(data: &kiln_initramfs::Data, dest: &Path) -> Result<()> {
    let (_, mut r) = data.open().with_context(|| format!("reading the image's file for {}", dest.display()))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut r, &mut bytes)?;
    kiln_util::write_atomic(dest, &bytes)
}
