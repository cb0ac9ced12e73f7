//! Which engine runs a guest: our VMM on hardware-backed KVM, or QEMU's TCG
//! emulator where KVM cannot run a ring-0 kernel (on `kvm_pvm` hosts a ring-0
//! guest is emulated instruction by instruction: see vmm/pvm-probe/README.md).

use std::fmt;
use std::path::{Path, PathBuf};

/// What the user asked for with `--engine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineChoice {
    /// Our VMM on hardware KVM when available, else QEMU.
    Auto,
    /// Our VMM on /dev/kvm.
    Kvm,
    /// qemu-system-x86_64 -M microvm -accel tcg.
    Qemu,
}

/// An engine that will run the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Kvm,
    Qemu,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Kvm => "kvm",
            Engine::Qemu => "qemu",
        })
    }
}

/// What /dev/kvm is on this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kvm {
    /// KVM backed by VMX or SVM: runs the kernel natively.
    Hardware,
    /// The PVM hypervisor (`kvm_pvm`): no hardware virtualization.
    Pvm,
    /// KVM exists but the CPU shows neither VMX nor SVM and it is not PVM.
    Software,
    /// No usable /dev/kvm, with the reason.
    Unavailable(String),
}

impl Kvm {
    /// Why this KVM cannot run the ring-0 kernel natively (None if it can).
    pub fn limitation(&self) -> Option<String> {
        match self {
            Kvm::Hardware => None,
            Kvm::Pvm => Some(
                "KVM here is kvm_pvm (no VMX/SVM): a ring-0 guest is emulated instruction by \
                 instruction and cannot enter user mode (see vmm/pvm-probe/README.md)"
                    .into(),
            ),
            Kvm::Software => Some("KVM here has no VMX/SVM behind it".into()),
            Kvm::Unavailable(why) => Some(why.clone()),
        }
    }
}

/// Probes /dev/kvm and what backs it.
pub fn probe_kvm() -> Kvm {
    if let Err(e) = crate::kvm::kvm_available() {
        return Kvm::Unavailable(e.to_string());
    }
    if Path::new("/sys/module/kvm_pvm").exists() {
        return Kvm::Pvm;
    }
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let hw = cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"));
    if hw {
        Kvm::Hardware
    } else {
        Kvm::Software
    }
}

/// The QEMU binary: `$EXO_QEMU` or `qemu-system-x86_64` on the PATH.
pub fn qemu_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("EXO_QEMU") {
        return Some(PathBuf::from(p));
    }
    find_on_path("qemu-system-x86_64")
}

/// Where program `name` is on the PATH, found without running it (which
/// can take tens of seconds for a large program on a slow machine).
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The engine decision with anything the user should be told about it.
#[derive(Debug)]
pub struct Selection {
    pub engine: Engine,
    /// Notes for the user (printed on stderr).
    pub notes: Vec<String>,
}

const QEMU_MISSING: &str =
    "qemu-system-x86_64 not found on the PATH (install it: apt-get install qemu-system-x86, or set EXO_QEMU)";

/// Chooses the engine for `choice` on this host.
pub fn select(choice: EngineChoice, kvm: &Kvm, qemu: Option<&Path>) -> Result<Selection, String> {
    match choice {
        EngineChoice::Qemu => match qemu {
            Some(_) => Ok(Selection {
                engine: Engine::Qemu,
                notes: vec![],
            }),
            None => Err(QEMU_MISSING.into()),
        },
        EngineChoice::Kvm => match kvm {
            Kvm::Hardware => Ok(Selection {
                engine: Engine::Kvm,
                notes: vec![],
            }),
            Kvm::Unavailable(why) => Err(why.clone()),
            other => Ok(Selection {
                engine: Engine::Kvm,
                notes: vec![format!(
                    "warning: {}; running on it anyway as asked (only code that stays in ring 0, \
                     such as exo.stop=boot, can work)",
                    other.limitation().unwrap_or_default()
                )],
            }),
        },
        EngineChoice::Auto => match (kvm.limitation(), qemu) {
            (None, _) => Ok(Selection {
                engine: Engine::Kvm,
                notes: vec![],
            }),
            (Some(why), Some(_)) => Ok(Selection {
                engine: Engine::Qemu,
                notes: vec![format!("{why}; using QEMU (TCG) instead")],
            }),
            (Some(why), None) => Err(format!(
                "no engine can run the guest: {why}, and {QEMU_MISSING}"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q() -> Option<&'static Path> {
        Some(Path::new("/usr/bin/qemu-system-x86_64"))
    }

    #[test]
    fn auto_prefers_hardware_kvm() {
        assert_eq!(
            select(EngineChoice::Auto, &Kvm::Hardware, q())
                .unwrap()
                .engine,
            Engine::Kvm
        );
        assert_eq!(
            select(EngineChoice::Auto, &Kvm::Hardware, None)
                .unwrap()
                .engine,
            Engine::Kvm
        );
    }

    #[test]
    fn auto_falls_back_to_qemu_and_says_why() {
        let s = select(EngineChoice::Auto, &Kvm::Pvm, q()).unwrap();
        assert_eq!(s.engine, Engine::Qemu);
        assert!(s.notes[0].contains("kvm_pvm"), "{:?}", s.notes);
        let e = select(
            EngineChoice::Auto,
            &Kvm::Unavailable("/dev/kvm not found".into()),
            None,
        )
        .unwrap_err();
        assert!(
            e.contains("/dev/kvm not found") && e.contains("qemu-system-x86_64 not found"),
            "{e}"
        );
    }

    #[test]
    fn explicit_choices() {
        assert!(select(EngineChoice::Qemu, &Kvm::Hardware, None)
            .unwrap_err()
            .contains("apt-get install"));
        assert!(select(
            EngineChoice::Kvm,
            &Kvm::Unavailable("no /dev/kvm".into()),
            q()
        )
        .is_err());
        let s = select(EngineChoice::Kvm, &Kvm::Pvm, q()).unwrap();
        assert_eq!(s.engine, Engine::Kvm);
        assert!(s.notes[0].starts_with("warning"));
    }
}
