//! Probes the guest ABI of the host's `kvm_pvm` (PVM, the pagetable-based
//! virtual machine) by experiment, and prints what answers.
//!
//! Each experiment builds a fresh VM with hand-written guest code (assembled
//! at run time with binutils `as` and `ld`, which must be installed), runs
//! it, and reports what the vCPU did: the exit reasons, the values the guest
//! stored in its result page, and rdtsc cycle counts measured inside the
//! guest. The findings are written up in this crate's README.
//!
//! Usage: `cargo run -p exo-pvm-probe [-- EXPERIMENT...]`; with no argument
//! every experiment runs. `list` prints their names.

mod asm;
mod exp;
mod layout;
mod msr;
mod run;
mod vm;

use exp::EXPERIMENTS;
use kvm_ioctls::Kvm;

type Res<T> = Result<T, String>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "list") {
        for (name, _) in EXPERIMENTS {
            println!("{name}");
        }
        return;
    }
    let kvm = match Kvm::new() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("pvm-probe: cannot open /dev/kvm: {e}");
            std::process::exit(1);
        }
    };
    for (name, f) in EXPERIMENTS {
        if args.iter().any(|a| !a.contains('=')) && !args.iter().any(|a| a == name) {
            continue;
        }
        let mut out = String::new();
        let r = f(&kvm, &mut out);
        print!("{out}");
        if let Err(e) = r {
            println!("  experiment {name} failed: {e}");
        }
    }
    let _ = std::fs::remove_dir_all(asm::tmpdir());
}
