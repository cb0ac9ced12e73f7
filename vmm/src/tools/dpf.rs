//! `exo dpf compile|test FILTERS`: the kernel's DPF engine (`exo-dpf`) on the host. A
//! FILTERS file has one filter per line (syntax in exokernel/dpf/README.md); filters are
//! installed in file order with the same protection the kernel applies, so a file whose
//! filters steal from another environment is refused just as the system call would be.
//! `test` classifies every packet of a pcap capture with the JIT, and checks it against
//! the trie interpreter and the reference semantics.

use clap::{Args, Subcommand};
use exo_dpf::exec::Exec;
use exo_dpf::pcap::Pcap;
use exo_dpf::text::{self, Spec};
use exo_dpf::{Dpf, FilterId, Grantee, InsertError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Exit status for bad input (filter file, capture) or I/O errors.
const EXIT_ERROR: i32 = 125;
/// Exit status when the JIT, the trie and the reference semantics disagree (a DPF bug).
const EXIT_DISAGREE: i32 = 1;

#[derive(Args, Debug)]
pub struct DpfArgs {
    #[command(subcommand)]
    pub command: DpfCommand,
}

#[derive(Subcommand, Debug)]
pub enum DpfCommand {
    /// Install the filters, print the merged trie and the size of the compiled code.
    Compile {
        /// Filter file, one `NAME [env=N] [share]: ATOMS` per line (exokernel/dpf/README.md).
        filters: PathBuf,
    },
    /// Run the filters over a pcap capture: which filter takes each packet, and counts.
    Test {
        /// Filter file, one `NAME [env=N] [share]: ATOMS` per line (exokernel/dpf/README.md).
        filters: PathBuf,
        /// Capture in classic pcap format (Ethernet frames).
        #[arg(long, value_name = "FILE")]
        pcap: PathBuf,
    },
}

/// Run an `exo dpf` subcommand; returns the process exit status.
pub fn main(args: DpfArgs) -> i32 {
    let r = match args.command {
        DpfCommand::Compile { filters } => compile(&filters),
        DpfCommand::Test { filters, pcap } => test(&filters, &pcap),
    };
    match r {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("exo dpf: {msg}");
            EXIT_ERROR
        }
    }
}

/// The installed engine and the name of each filter id.
struct Loaded {
    dpf: Dpf,
    /// Ids grow in file order, so this iterates in file order.
    names: BTreeMap<FilterId, String>,
}

impl Loaded {
    fn name(&self, id: FilterId) -> &str {
        self.names.get(&id).map_or("?", String::as_str)
    }
}

/// Far more than DPF's 4096 filters need.
const FILTER_FILE_LIMIT: u64 = 16 << 20;
/// A capture is read whole: 1 GiB of packets at most.
const CAPTURE_LIMIT: u64 = 1 << 30;

fn load(path: &Path) -> Result<Loaded, String> {
    let bytes = super::bounded::read(path, FILTER_FILE_LIMIT, "filter file")?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))?;
    let specs =
        text::parse(&text).map_err(|e| format!("{}:{}: {}", path.display(), e.line, e.error))?;
    let mut dpf = Dpf::default();
    let mut names = BTreeMap::new();
    for Spec {
        line,
        name,
        env,
        share,
        filter,
    } in specs
    {
        let id = dpf.insert(env, filter).map_err(|e| {
            let why = match e {
                InsertError::Overlap { filter, owner } => format!(
                    "overlaps filter `{}` of environment {owner}, which has not permitted sharing",
                    names.get(&filter).map_or("?", String::as_str)
                ),
                e => e.to_string(),
            };
            format!("{}:{line}: filter `{name}`: {why}", path.display())
        })?;
        if share {
            dpf.permit(env, id, Grantee::Anyone)
                .map_err(|e| format!("{}:{line}: {e}", path.display()))?;
        }
        names.insert(id, name);
    }
    Ok(Loaded { dpf, names })
}

fn compile(path: &Path) -> Result<i32, String> {
    let l = load(path)?;
    let d = &l.dpf;
    println!(
        "{} filters, trie {} nodes (~{} bytes), JIT {} bytes of x86-64",
        d.len(),
        d.trie().nodes(),
        d.trie_bytes(),
        d.code().len()
    );
    let name = |id: FilterId| format!("{} (#{id}, env {})", l.name(id), d.owner(id).unwrap_or(0));
    print!("{}", exo_dpf::dump::render(d.trie(), &name));
    Ok(0)
}

fn test(filters: &Path, pcap: &Path) -> Result<i32, String> {
    let l = load(filters)?;
    let data = super::bounded::read(pcap, CAPTURE_LIMIT, "capture")?;
    let cap = Pcap::new(&data).map_err(|e| format!("{}: {e}", pcap.display()))?;
    if cap.link_type != 1 {
        eprintln!(
            "exo dpf: warning: {}: link type {} is not Ethernet; offsets are taken as they are",
            pcap.display(),
            cap.link_type
        );
    }
    let exec = Exec::new(&l.dpf).map_err(|e| format!("cannot map the JIT's code: {e}"))?;
    let mut counts: BTreeMap<FilterId, u64> = BTreeMap::new();
    let (mut unclaimed, mut total, mut status) = (0u64, 0u64, 0);
    for (i, pkt) in cap.enumerate() {
        let pkt = pkt.map_err(|e| format!("{}: {e}", pcap.display()))?;
        total += 1;
        let jit = exec.classify(pkt);
        let (trie, reference) = (l.dpf.classify(pkt), l.dpf.classify_reference(pkt));
        if jit != trie || jit != reference {
            eprintln!(
                "exo dpf: packet {}: engines disagree: jit {jit:?}, trie {trie:?}, reference {reference:?}",
                i + 1
            );
            status = EXIT_DISAGREE;
        }
        let who = match jit {
            Some(id) => {
                *counts.entry(id).or_default() += 1;
                l.name(id)
            }
            None => {
                unclaimed += 1;
                "-"
            }
        };
        println!("{:>6} {:>5} bytes  {who}", i + 1, pkt.len());
    }
    println!("--");
    let width = l.names.values().map(String::len).max().unwrap_or(0).max(9);
    for (id, name) in &l.names {
        println!("{name:<width$} {}", counts.get(id).unwrap_or(&0));
    }
    println!("{:<width$} {unclaimed}", "unclaimed");
    println!("{total} packets");
    Ok(status)
}
