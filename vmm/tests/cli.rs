//! `exo run` rejects bad input with a clear message naming what is wrong,
//! before any engine starts.

mod common;

use common::exo;

fn rejects(args: &[&str], needle: &str) {
    let o = exo(args);
    assert_eq!(
        o.status,
        Some(125),
        "not refused as exo's error: {args:?}\n{}",
        o.show()
    );
    assert!(
        o.stderr.contains(needle),
        "expected {needle:?} for {args:?}\n{}",
        o.show()
    );
    assert!(!o.stderr.contains("panicked"), "exo panicked\n{}", o.show());
}

fn temp_file(name: &str, data: &[u8]) -> String {
    let p = std::env::temp_dir().join(format!("exo-cli-{}-{name}", std::process::id()));
    std::fs::write(&p, data).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn missing_kernel_file() {
    rejects(
        &["run", "--kernel", "/nonexistent/kernel"],
        "kernel /nonexistent/kernel: No such file",
    );
}

#[test]
fn kernel_that_is_not_an_elf() {
    let k = temp_file("text-kernel", b"just some text\n");
    rejects(
        &["run", "--kernel", &k],
        "neither an ELF file (bad magic number) nor a Linux bzImage",
    );
    rejects(
        &["bench", "--linux-kernel", &k, "--suite", "micro"],
        "--linux-kernel",
    );
    let _ = std::fs::remove_file(k);
}

#[test]
fn instruction_counting_is_for_qemu_only() {
    for cmd in ["run", "bench"] {
        rejects(
            &[cmd, "--icount", "--engine", "kvm"],
            "--icount counts instructions under QEMU",
        );
    }
}

#[test]
fn linux_kernels_refuse_what_only_exo_has() {
    // A bzImage's setup header: "HdrS", boot protocol 2.15.
    let mut bz = vec![0u8; 0x400];
    bz[0x202..0x206].copy_from_slice(b"HdrS");
    bz[0x206..0x208].copy_from_slice(&0x20fu16.to_le_bytes());
    let k = temp_file("bz-kernel", &bz);
    rejects(
        &["run", "--kernel", &k, "--trace", "/tmp/t.trc"],
        "a Linux kernel does not have",
    );
    bz[0x206..0x208].copy_from_slice(&0x204u16.to_le_bytes());
    std::fs::write(&k, &bz).unwrap();
    rejects(
        &["run", "--kernel", &k],
        "boot protocol 2.04; exo needs 2.06",
    );
    let _ = std::fs::remove_file(k);
}

#[test]
fn kernel_without_pvh_note() {
    rejects(&["run", "--kernel", "/bin/true"], "no Xen PVH entry note");
}

#[test]
fn kernel_that_is_a_directory() {
    rejects(&["run", "--kernel", "/tmp"], "not a regular file");
}

#[test]
fn missing_initrd_file() {
    rejects(
        &["run", "--initrd", "/nonexistent/initrd"],
        "initrd /nonexistent/initrd: No such file",
    );
}

#[test]
fn initrd_larger_than_memory() {
    let big = std::env::temp_dir().join(format!("exo-cli-{}-big-initrd", std::process::id()));
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(40 << 20).unwrap();
    rejects(
        &["run", "--mem", "32M", "--initrd", big.to_str().unwrap()],
        "do not fit in 32 MiB",
    );
    let _ = std::fs::remove_file(big);
}

#[test]
fn memory_sizes() {
    rejects(&["run", "--mem", "1M"], "too small");
    rejects(&["run", "--mem", "64Q"], "unknown unit 'Q'");
    rejects(&["run", "--mem", "lots"], "is not a number");
    rejects(&["run", "--mem", "9G"], "too large");
}

#[test]
fn bad_flags() {
    rejects(&["run", "--engine", "vmware"], "invalid value 'vmware'");
    rejects(
        &["run", "--timeout", "0"],
        "--timeout 0: must be a positive",
    );
    rejects(&["run", "--timeout=-3"], "--timeout -3");
    rejects(
        &["run", "--timeout", "18446744073709551615"],
        "at most 1000000000",
    );
    rejects(&["run", "--timeout", "inf"], "--timeout inf");
    rejects(&["run", "--init", " "], "a program path is needed");
    rejects(
        &["run", "--init", "/bin/a b,c"],
        "argument 'b,c' has a comma",
    );
    rejects(
        &["run", "--frobnicate"],
        "unexpected argument '--frobnicate'",
    );
    rejects(
        &["run", "--initrd", "x", "--no-initrd"],
        "cannot be used with",
    );
}

#[test]
fn engines_reports_this_host() {
    let o = exo(&["engines"]);
    assert!(
        o.stdout.contains("kvm:") && o.stdout.contains("qemu:") && o.stdout.contains("auto:"),
        "{}",
        o.show()
    );
}

#[test]
fn bad_nets() {
    rejects(&["run", "--net", "exo0"], "unknown option 'exo0'");
    rejects(&["run", "--net", "tap=t,mac=1:2"], "not a MAC");
    rejects(&["run", "--net", "tap="], "not an interface name");
}

#[test]
fn bad_disks() {
    rejects(
        &["run", "--disk", "/nonexistent/disk.img"],
        "disk /nonexistent/disk.img: No such file",
    );
    let odd = temp_file("odd-disk", b"123");
    rejects(&["run", "--disk", &odd], "not a positive multiple of 512");
    rejects(
        &["run", "--disk", "x.img,writeback"],
        "unknown option 'writeback'",
    );
    let ok = temp_file("disk", &[0u8; 1024]);
    let _ = std::fs::remove_file(odd);
    let _ = std::fs::remove_file(ok);
}
