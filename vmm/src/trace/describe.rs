//! Trace records in words: what each event's two arguments mean.

use exo_abi::trace::{event, Record};

/// The arguments of `r`, decoded where the event is known.
pub fn describe(r: &Record) -> String {
    match r.event {
        event::LINUX_ENOSYS => format!("Linux call {} not implemented", r.a0),
        event::DPF_INSERT if r.a0 == u64::MAX => "refused".into(),
        event::DPF_INSERT => format!("filter {} ({} atoms)", r.a0, r.a1),
        event::DPF_REMOVE => format!("filter {}", r.a0),
        event::DPF_VERDICT if r.a0 == u32::MAX as u64 => format!("unclaimed ({} cycles)", r.a1),
        event::DPF_VERDICT => format!("filter {} ({} cycles)", r.a0, r.a1),
        event::SYSCALL => format!("{} -> {}", syscall_name(r.a0), syscall_result(r.a1)),
        event::XN_CALL => format!("{} -> {}", exo_abi::xn::op_name(r.a0), xn_outcome(r.a1)),
        event::XN_REG_INSERT => format!("block {} (type {})", r.a0, r.a1),
        event::XN_REG_EVICT => format!("block {}", r.a0),
        event::XN_TAINT if r.a1 == 1 => format!("block {} tainted", r.a0),
        event::XN_TAINT => format!("block {} clean", r.a0),
        event::XN_UDF => format!("block {} -> {}", r.a0, xn_outcome(r.a1)),
        event::PCT_LOST => format!("message from {:#x} lost", r.a0),
        _ => format!("{:#x} {:#x}", r.a0, r.a1),
    }
}

/// A system call's name from the table, or its number if none.
fn syscall_name(n: u64) -> String {
    exo_abi::syscall::Sysnum::from_u64(n).map_or(format!("call {n}"), |s| s.name().into())
}

/// A system call's value, or the name of its error.
fn syscall_result(v: u64) -> String {
    match exo_abi::syscall::Error::from_result(v as i64) {
        Some(e) if (v as i64) < 0 => e.name().into(),
        _ => format!("{v:#x}"),
    }
}

/// "ok", or the name of XN's (or the kernel's) refusal.
pub fn xn_outcome(code: u64) -> String {
    match code {
        0 => "ok".into(),
        c if c & 0x1_0000 != 0 => {
            let e = exo_abi::syscall::Error::from_result(-((c & 0xffff) as i64));
            e.map_or(format!("kernel error {}", c & 0xffff), |e| {
                format!("kernel {e:?}")
            })
        }
        c => exo_xn::Error::from_code(c as u32).map_or(format!("error {c}"), |e| {
            let s = format!("{e:?}");
            s.split('(').next().unwrap_or(&s).to_string()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(event: u16, a0: u64, a1: u64) -> Record {
        Record {
            event,
            a0,
            a1,
            ..Record::default()
        }
    }

    #[test]
    fn system_calls_read_by_name() {
        let err = (-(exo_abi::syscall::Error::Denied as i64)) as u64;
        assert_eq!(describe(&rec(event::SYSCALL, 5, err)), "p_alloc -> denied");
        assert_eq!(
            describe(&rec(event::SYSCALL, 38, 0)),
            "net_send_gather -> 0x0"
        );
        assert_eq!(describe(&rec(event::SYSCALL, 999, 1)), "call 999 -> 0x1");
    }

    #[test]
    fn dpf_and_xn_events_read_as_words() {
        assert_eq!(
            describe(&rec(event::DPF_VERDICT, 3, 40)),
            "filter 3 (40 cycles)"
        );
        assert_eq!(
            describe(&rec(event::DPF_VERDICT, u32::MAX as u64, 9)),
            "unclaimed (9 cycles)"
        );
        assert_eq!(
            describe(&rec(event::DPF_INSERT, u64::MAX, u64::MAX)),
            "refused"
        );
        assert_eq!(describe(&rec(event::XN_CALL, 9, 0)), "alloc -> ok");
        assert_eq!(
            describe(&rec(event::XN_CALL, 9, 9)),
            "alloc -> AccessDenied"
        );
        assert_eq!(describe(&rec(event::XN_CALL, 12, 15)), "readb -> Udf");
        assert_eq!(
            describe(&rec(event::XN_UDF, 40, 10)),
            "block 40 -> BogusUpdate"
        );
        assert_eq!(describe(&rec(event::XN_TAINT, 40, 1)), "block 40 tainted");
    }
}
