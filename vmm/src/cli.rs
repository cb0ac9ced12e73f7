//! The `exo` command line.

use clap::{Args, Parser, Subcommand};
use exo::config::{parse_disk, parse_mem_size, parse_net, Disk, NetDev, DEFAULT_MEM};
use exo::engine::EngineChoice;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "exo",
    version,
    about = "The exo exokernel's virtual machine monitor and tools"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Boot a guest: the exokernel and its initrd of programs.
    Run(RunArgs),
    /// Show which engines can run guests on this host, and why.
    Engines,
    /// Benchmarks: exo's figures against Linux doing the same jobs as a guest on the same engine, in one run.
    Bench(BenchArgs),
    /// Read kernel traces written by `exo run --trace`.
    Trace(exo::trace::tool::TraceArgs),
    /// Offline XN disk tools: mkfs, fsck, ls, cat.
    Xn(exo::tools::xn::XnArgs),
    /// Host-side DPF: compile packet filters, run them over a pcap capture.
    Dpf(exo::tools::dpf::DpfArgs),
    /// Start gdb on a guest's stub (`exo run --gdb`) with the kernel's and programs' symbols.
    Gdb(exo::tools::gdb::GdbArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// PVH ELF kernel [default: the exokernel built with this exo].
    #[arg(long, value_name = "FILE")]
    pub kernel: Option<PathBuf>,
    /// Initrd (cpio newc) [default: the programs built with this exo].
    #[arg(long, value_name = "FILE", conflicts_with = "no_initrd")]
    pub initrd: Option<PathBuf>,
    /// Boot without an initrd.
    #[arg(long)]
    pub no_initrd: bool,
    /// Guest RAM, e.g. 128M or 1G (16 MiB to 3 GiB).
    #[arg(long, value_name = "SIZE", default_value_t = DEFAULT_MEM, value_parser = parse_mem_size)]
    pub mem: u64,
    /// Kernel command line (keys: exo.init=PATH, exo.hz=N, exo.stop=boot).
    #[arg(long, value_name = "S", default_value = "")]
    pub cmdline: String,
    /// First program to run, with its arguments: "PATH [ARG...]" (adds
    /// exo.init=PATH exo.args=ARG,... to the command line).
    #[arg(long, value_name = "PATH [ARG...]")]
    pub init: Option<String>,
    /// Quiet: the console carries only what programs write (and the
    /// kernel's errors), so that `exo run -q ... > out` captures a
    /// program's output alone (adds exo.quiet=1 to the command line).
    #[arg(short, long)]
    pub quiet: bool,
    /// Engine: our VMM on KVM, QEMU TCG, or the best available.
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,
    /// A raw disk image for virtio-blk (repeatable); `,readonly` refuses writes.
    #[arg(long, value_name = "PATH[,readonly]", value_parser = parse_disk_arg)]
    pub disk: Vec<Disk>,
    /// A virtio-net device on TAP interface NAME (repeatable; created if
    /// absent and we may; default MAC 52:54:00:12:34:56).
    #[arg(long, value_name = "tap=NAME[,mac=MAC]", value_parser = parse_net_arg)]
    pub net: Vec<NetDev>,
    /// Start a gdb remote stub on ADDR:PORT and halt the guest until gdb continues it.
    #[arg(long, value_name = "ADDR:PORT")]
    pub gdb: Option<std::net::SocketAddr>,
    /// Write the kernel's trace records to FILE (read it with `exo trace`).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Trace classes: sched, pct, fault, syscall, mem, dpf, xn, all (all but syscall).
    #[arg(long, value_name = "LIST", default_value = "all", requires = "trace")]
    pub trace_events: String,
    /// Count guest instructions: QEMU with `-icount shift=0,sleep=off`,
    /// where guest time advances one nanosecond per instruction, so timings
    /// are instruction counts, nearly the same from run to run (implies --engine qemu).
    #[arg(long)]
    pub icount: bool,
    /// Kill the guest after this many seconds (exit status 124).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Which figures: micro (calls, upcalls, fork), ipc (PCT, yield, pipes), vm (Appel-Li),
    /// dpf (packet demultiplexing), busybox, net, xn, or all.
    #[arg(long, value_enum, default_value_t = exo::bench::Suite::All)]
    pub suite: exo::bench::Suite,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also draw the ratios as an SVG chart in this file.
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
    /// Compare with a stored report (e.g. ci/baselines/qemu-icount.json); exit 1 on a regression.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Allowed growth of each exo/linux ratio over the baseline, in percent
    /// [default: 5 under --icount, where figures barely move; else 25].
    #[arg(long, value_name = "PCT")]
    pub tolerance: Option<f64>,
    /// Count guest instructions (QEMU -icount) instead of timing: figures
    /// within a percent or two from run to run (micro, ipc, vm, dpf and busybox suites).
    #[arg(long)]
    pub icount: bool,
    /// Engine for both guests, exo and Linux.
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,
    /// The Linux guest's kernel, a bzImage [default: Debian's
    /// linux-image-amd64, fetched with apt-get download into target/linux-guest/].
    #[arg(long, value_name = "FILE")]
    pub linux_kernel: Option<PathBuf>,
}

fn parse_disk_arg(s: &str) -> Result<Disk, String> {
    parse_disk(s)
}

fn parse_net_arg(s: &str) -> Result<NetDev, String> {
    parse_net(s)
}
