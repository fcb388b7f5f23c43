//! The GRUB menu, rendered from `boot/grub.cfg` and the image spec.

use crate::{INITRD_PATH, KERNEL_PATH};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// The full kernel command line.
    pub cmdline: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu {
    pub entries: Vec<Entry>,
    pub default: usize,
    pub timeout: u32,
}

/// GRUB's single-quoted string: everything literal, `'` written as `'\''`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

pub fn render_grub_cfg(template: &str, menu: &Menu) -> String {
    let entries: Vec<String> = menu
        .entries
        .iter()
        .map(|e| {
            format!(
                "menuentry {} {{\n    linux /{KERNEL_PATH} {}\n    initrd /{INITRD_PATH}\n}}\n",
                quote(&e.name),
                e.cmdline
            )
        })
        .collect();
    template
        .replace("@TIMEOUT@", &menu.timeout.to_string())
        .replace("@DEFAULT@", &menu.default.to_string())
        .replace("@ENTRIES@", entries.join("\n").trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_entries_default_and_timeout() {
        let menu = Menu {
            entries: vec![
                Entry { name: "Kiln (serial)".into(), cmdline: "console=tty0 console=ttyS0".into() },
                Entry { name: "Bob's VGA".into(), cmdline: "console=tty0".into() },
            ],
            default: 1,
            timeout: 3,
        };
        let cfg = render_grub_cfg("set timeout=@TIMEOUT@\nset default=@DEFAULT@\n@ENTRIES@\n", &menu);
        assert!(cfg.starts_with("set timeout=3\nset default=1\nmenuentry 'Kiln (serial)' {\n"), "{cfg}");
        assert!(cfg.contains("    linux /images/pxeboot/vmlinuz console=tty0 console=ttyS0\n    initrd /images/pxeboot/initrd.img\n"));
        assert!(cfg.contains(r"menuentry 'Bob'\''s VGA' {"), "{cfg}");
    }

    #[test]
    fn the_repo_template_has_every_placeholder() {
        let t = include_str!("../../../boot/grub.cfg");
        for p in ["@TIMEOUT@", "@DEFAULT@", "@ENTRIES@"] {
            assert!(t.contains(p), "boot/grub.cfg lacks {p}");
        }
        assert!(t.contains("serial"), "the menu must reach -nographic users");
    }
}
