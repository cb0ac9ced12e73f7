//! The host rows of `exo bench --suite dpf`: ns per packet of DPF's
//! JIT-compiled merged trie (the code the kernel runs, measured on this
//! host's CPU) against the host kernel's eBPF JIT running equivalent socket
//! filters through BPF_PROG_TEST_RUN, for 1 to 1000 installed filters. The
//! guest pair (both kernels as guests on one engine) is in `mod.rs`.

use super::Figure;
use exo_dpf::bench::{measure, COUNTS};

pub fn figures() -> Result<Vec<Figure>, String> {
    let mut out = Vec::new();
    for n in COUNTS {
        let row = measure(n)?;
        // Linux's best: one program per filter, or one program + hash map.
        let best = match (&row.seq, &row.map) {
            (Ok(a), Ok(b)) => a.min(*b),
            (Ok(a), Err(_)) | (Err(_), Ok(a)) => *a,
            (Err(e), Err(_)) => return Err(format!("eBPF unavailable ({e}); run as root")),
        };
        let mut f = Figure::new(
            &format!("dpf_host_{n}_filters"),
            "ns",
            row.jit,
            best,
            "eBPF JIT, best of 1 prog/filter and 1 prog + hash map (BPF_PROG_TEST_RUN)",
        );
        // Both classifiers timed on the host CPU: a labelled host row.
        f.exo_engine = "host".into();
        f.linux_engine = "host".into();
        out.push(f);
    }
    Ok(out)
}
