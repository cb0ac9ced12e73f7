//! The experiments, by name.

mod escalate;
mod host;
mod msrs;
mod nonpvm;
mod user;

use crate::Res;
use kvm_ioctls::Kvm;

/// One experiment: appends what it saw to the string.
pub type Experiment = fn(&Kvm, &mut String) -> Res<()>;

pub const EXPERIMENTS: [(&str, Experiment); 14] = [
    ("host", host::exp_host),
    ("ioctl-msrs", msrs::exp_ioctl_msrs),
    ("msr-scan", msrs::exp_msr_scan),
    ("ctl-msr", msrs::exp_ctl_msr),
    ("nonpvm", nonpvm::exp_nonpvm),
    ("long64", nonpvm::exp_long64),
    ("cpuid", nonpvm::exp_cpuid),
    ("hypercall", nonpvm::exp_hypercall),
    ("guest-wrmsr", msrs::exp_guest_wrmsr),
    ("user", user::exp_user),
    ("escalate", escalate::exp_escalate),
    ("smod-hypercall", escalate::exp_smod_hypercall),
    ("pvcs", escalate::exp_pvcs),
    ("high", escalate::exp_high),
];
