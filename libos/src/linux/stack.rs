//! The initial stack of a Linux program (System V x86-64 ABI): argc, argv,
//! envp and the auxiliary vector, with the strings and AT_RANDOM's bytes
//! above them.

use super::load::Program;
use crate::sys::Error;
use crate::vm::{self, PAGE_SIZE};
use alloc::vec::Vec;

/// Top of the program's stack, and how far it may grow (Linux's default
/// limit, 8 MiB). Only the pages holding the initial frame are mapped at
/// exec; the rest are zero-filled when first touched (see `mem::fault_in`).
pub const STACK_TOP: u64 = 0x7000_0000_0000;
const STACK_PAGES: u64 = 2048;
pub const STACK_SIZE: u64 = STACK_PAGES * PAGE_SIZE;

const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_PHENT: u64 = 4;
const AT_PHNUM: u64 = 5;
const AT_PAGESZ: u64 = 6;
const AT_ENTRY: u64 = 9;
const AT_UID: u64 = 11;
const AT_EUID: u64 = 12;
const AT_GID: u64 = 13;
const AT_EGID: u64 = 14;
const AT_PLATFORM: u64 = 15;
const AT_HWCAP: u64 = 16;
const AT_CLKTCK: u64 = 17;
const AT_SECURE: u64 = 23;
const AT_RANDOM: u64 = 25;
const AT_EXECFN: u64 = 31;

/// Bytes the initial frame may take at most: the strings, the pointers to
/// them, the auxiliary vector and its own strings, and alignment.
fn frame_bytes(argv: &[&str], envp: &[&str]) -> u64 {
    let strings: usize = argv.iter().chain(envp).map(|s| s.len() + 1).sum();
    let pointers = (argv.len() + envp.len() + 3) * 8;
    (strings + pointers) as u64 + 512
}

/// Whether a frame for `argv` and `envp` leaves most of the stack free
/// (exec refuses with E2BIG otherwise, as Linux does past a quarter).
pub fn fits(argv: &[&str], envp: &[&str]) -> bool {
    frame_bytes(argv, envp) < STACK_SIZE / 4
}

/// Maps the top of the stack, as much as the initial frame needs, and lays
/// out the frame; returns the stack pointer.
pub fn build(p: &Program, argv: &[&str], envp: &[&str]) -> Result<u64, Error> {
    if !fits(argv, envp) {
        return Err(Error::Invalid);
    }
    let pages = frame_bytes(argv, envp).div_ceil(PAGE_SIZE) + 1;
    vm::map_fresh_range(STACK_TOP - pages * PAGE_SIZE, STACK_TOP, true, false)?;
    // Strings and random bytes at the top, copied down as they come.
    let mut top = STACK_TOP;
    let mut put = |bytes: &[u8]| -> u64 {
        top -= bytes.len() as u64 + 1;
        // SAFETY: within the stack just mapped (the strings are bounded by
        // the caller's arguments, far below 1 MiB).
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), top as *mut u8, bytes.len());
            (top as *mut u8).add(bytes.len()).write(0);
        }
        top
    };
    let args: Vec<u64> = argv.iter().map(|a| put(a.as_bytes())).collect();
    let envs: Vec<u64> = envp.iter().map(|e| put(e.as_bytes())).collect();
    let platform = put(b"x86_64");
    let seed = crate::time::tsc().to_le_bytes();
    let random = put(&[seed, seed.map(|b| b.rotate_left(3))].concat());
    let execfn = args.first().copied().unwrap_or(0);
    let hwcap = core::arch::x86_64::__cpuid(1).edx as u64;
    let auxv = [
        (AT_PHDR, p.phdr),
        (AT_PHENT, p.phent),
        (AT_PHNUM, p.phnum),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_ENTRY, p.entry),
        (AT_UID, 0),
        (AT_EUID, 0),
        (AT_GID, 0),
        (AT_EGID, 0),
        (AT_PLATFORM, platform),
        (AT_HWCAP, hwcap),
        (AT_CLKTCK, 100),
        (AT_SECURE, 0),
        (AT_RANDOM, random),
        (AT_EXECFN, execfn),
        (AT_NULL, 0),
    ];
    let mut words: Vec<u64> = Vec::new();
    words.push(args.len() as u64);
    words.extend(&args);
    words.push(0);
    words.extend(&envs);
    words.push(0);
    for (k, v) in auxv {
        words.push(k);
        words.push(v);
    }
    // rsp is 16-byte aligned at argc.
    let sp = (top - words.len() as u64 * 8) & !15;
    // SAFETY: `sp..sp + 8 * len` lies in the mapped stack below the strings.
    unsafe { core::ptr::copy_nonoverlapping(words.as_ptr(), sp as *mut u64, words.len()) };
    Ok(sp)
}
