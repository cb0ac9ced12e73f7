//! A hostile program against the budgets: children that take pages until
//! refused, one page at a time and as page tables (one page mapped once per
//! GiB, each mapping costing up to three table pages: before tables were
//! charged, 14,465 of these took every free page), environments and time
//! slices, and that try to raise their own budget. Each must be refused with "over quota" inside
//! its limit while the parent still gets memory and new processes, and
//! everything must come back when they end.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use exo_abi::env::{Budget, Quota, Resource};
use exo_abi::syscall::Error;
use libos::layout::SLOT_SELF;
use libos::{info, posix, println, sys, vm};

libos::entry!(main);

const SIGKILL: u32 = 9;
const GIB: u64 = 1 << 30;

fn quota() -> Quota {
    info::env(sys::env_id())
        .map(|e| e.quota)
        .unwrap_or_default()
}

fn budget(r: Resource) -> Budget {
    *quota().get(r)
}

/// Allocates pages until refused; how many, and the refusal.
fn take_pages() -> (u64, Error) {
    let mut n = 0;
    loop {
        match vm::alloc_page(SLOT_SELF) {
            Ok(_) => n += 1,
            Err(e) => return (n, e),
        }
    }
}

/// Maps one page at every GiB from 1 GiB up until refused: each mapping
/// needs new page tables.
fn take_tables() -> (u64, Error) {
    let ppn = match vm::alloc_page(SLOT_SELF) {
        Ok(p) => p,
        Err(e) => return (0, e),
    };
    let me = sys::env_id();
    let mut n = 0;
    loop {
        let op = vm::map_op((n + 1) * GIB, ppn, false, false, SLOT_SELF);
        match sys::vm_batch(me, SLOT_SELF, &[op]) {
            Ok(()) => n += 1,
            Err((_, e)) => return (n, e),
        }
    }
}

/// Creates environments (guarded by our own capability) until refused.
fn take_envs() -> (u64, Error) {
    let mut n = 0;
    loop {
        match sys::env_create(SLOT_SELF) {
            Ok(_) => n += 1,
            Err(e) => return (n, e),
        }
    }
}

/// Takes every free time slice for ourselves until refused.
fn take_slices() -> (u64, Error) {
    let me = sys::env_id();
    let mut n = 0;
    loop {
        let Some(pos) = info::sysinfo().slices.iter().position(|&o| o == 0) else {
            return (n, Error::Taken);
        };
        match sys::slice_alloc(pos, me, SLOT_SELF) {
            Ok(()) => n += 1,
            Err(e) => return (n, e),
        }
    }
}

/// What a flooding child reports: how many it took, the refusal, and its
/// budget at the end.
#[derive(Clone, Copy, Default)]
struct Report {
    took: u64,
    refusal: i64,
    budget: Budget,
}

/// Forks a child that runs `attack`, reports and then stays (holding what
/// it took) until killed; returns its pid and report.
fn flood(attack: fn() -> (u64, Error), kind: Resource) -> Option<(posix::Pid, Report)> {
    let (r, w) = posix::pipe().ok()?;
    let pid = match posix::fork() {
        Ok(0) => {
            // A few pages held back and given up after the flood, for what
            // the child still does (a copy-on-write fault, the report).
            let mut spare = [0u64; 8];
            for p in spare.iter_mut() {
                *p = vm::alloc_page(SLOT_SELF).unwrap_or(u64::MAX);
            }
            let (took, e) = attack();
            let q = budget(kind);
            for &p in spare.iter().filter(|&&p| p != u64::MAX) {
                let _ = sys::p_free(p, SLOT_SELF);
            }
            let mut bytes = [0u8; 40];
            for (i, v) in [took, e as i64 as u64, q.limit, q.own, q.subtree]
                .into_iter()
                .enumerate()
            {
                bytes[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
            }
            let _ = posix::write(w, &bytes);
            loop {
                let _ = sys::yield_to(None);
            }
        }
        Ok(pid) => pid,
        Err(e) => {
            println!("quota_flood: fork refused: {}", e.name());
            return None;
        }
    };
    let mut got = [0u8; 40];
    let ok = posix::read(r, &mut got) == Ok(40);
    posix::close(r);
    posix::close(w);
    let v = |i: usize| u64::from_le_bytes(got[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    ok.then(|| {
        (
            pid,
            Report {
                took: v(0),
                refusal: v(1) as i64,
                budget: Budget {
                    limit: v(2),
                    own: v(3),
                    subtree: v(4),
                },
            },
        )
    })
}

/// The parent is still served: 1 MiB of memory and a child that runs.
fn still_served() -> bool {
    let memory: Vec<u8> = (0..1u32 << 20).map(|i| i as u8).collect();
    let child = match posix::fork() {
        Ok(0) => posix::exit(7),
        Ok(pid) => posix::waitpid(pid),
        Err(_) => 0,
    };
    memory.len() == 1 << 20 && child == 7
}

/// A child may not raise its own budget, set its parent's, or give its
/// own child more than it has; returns what went wrong.
fn budget_rules() -> u8 {
    let me = sys::env_id();
    let mine = budget(Resource::Pages);
    let parent = info::env(me).map_or(0, |e| e.parent);
    let own = sys::quota_set(me, SLOT_SELF, Resource::Pages, mine.limit * 2);
    let up = sys::quota_set(parent, SLOT_SELF, Resource::Pages, u64::MAX);
    // A grandchild, made by hand under a spare capability slot.
    const SPARE: usize = 15;
    let over = sys::cap_derive(SLOT_SELF, SPARE, b"q", exo_abi::cap::PERM_ALL)
        .and_then(|()| sys::env_create(SPARE))
        .and_then(|kid| {
            let r = sys::quota_set(kid, SPARE, Resource::Pages, mine.limit + 1);
            let _ = sys::env_destroy(kid, SPARE);
            r
        });
    let _ = sys::cap_drop(SPARE);
    println!(
        "quota_flood: a child raising its own budget: {}; its parent's: {}; giving its child more than it has: {}",
        name(own),
        name(up),
        name(over)
    );
    (own != Err(Error::Invalid)) as u8
        | ((up != Err(Error::Denied)) as u8) << 1
        | ((over != Err(Error::Quota)) as u8) << 2
}

fn name(r: Result<(), Error>) -> &'static str {
    match r {
        Ok(()) => "ALLOWED",
        Err(e) => e.name(),
    }
}

fn main() -> u8 {
    let start = quota();
    println!(
        "quota_flood: budgets: {} pages, {} environments, {} time slices",
        start.pages.limit, start.envs.limit, start.slices.limit
    );
    let mut bad = 0u8;
    let mut pids = Vec::new();
    for (what, attack, r) in [
        ("pages", take_pages as fn() -> (u64, Error), Resource::Pages),
        (
            "page tables (one page per GiB)",
            take_tables,
            Resource::Pages,
        ),
        ("environments", take_envs, Resource::Envs),
        ("time slices", take_slices, Resource::Slices),
    ] {
        let Some((pid, rep)) = flood(attack, r) else {
            return 2;
        };
        pids.push(pid);
        let q = rep.budget;
        let within = q.subtree <= q.limit;
        println!(
            "quota_flood: a child took {} {what} and was refused: {}; it holds {} of its {} (within: {within})",
            rep.took,
            Error::from_result(-rep.refusal).map_or("?", |e| e.name()),
            q.subtree,
            q.limit
        );
        if rep.refusal != Error::Quota as i64 || !within || rep.took == 0 {
            bad |= 4;
        }
        let served = still_served();
        println!("quota_flood: while it holds them, the parent is served: {served}");
        if !served {
            bad |= 8;
        }
    }
    let rules = match posix::fork() {
        Ok(0) => posix::exit(budget_rules()),
        Ok(pid) => posix::waitpid(pid),
        Err(_) => 32,
    };
    bad |= (rules != 0) as u8 * 16;
    for pid in pids {
        let _ = posix::kill(pid, SIGKILL);
        posix::waitpid(pid);
    }
    // The environments the killed child created (never run) passed to us,
    // whose capability controls them: we end them.
    let me = sys::env_id();
    let orphans: Vec<u32> = (0..exo_abi::env::NENV)
        .filter_map(info::env_at)
        .filter(|e| e.parent == me && e.status == exo_abi::env::status::NOT_RUNNABLE)
        .map(|e| e.id)
        .collect();
    let ended = orphans
        .iter()
        .filter(|&&id| sys::env_destroy(id, SLOT_SELF).is_ok())
        .count();
    println!("quota_flood: ended the {ended} environments the killed child left to us");
    let end = quota();
    println!(
        "quota_flood: after they ended, charged to us and our children: {} pages (at the start: {}), {} environments ({}), {} time slices ({})",
        end.pages.subtree,
        start.pages.subtree,
        end.envs.subtree,
        start.envs.subtree,
        end.slices.subtree,
        start.slices.subtree
    );
    // The pipes and memory the parent used since may stay; the floods' do not.
    if end.pages.subtree > start.pages.subtree + 600
        || end.envs.subtree != start.envs.subtree
        || end.slices.subtree != start.slices.subtree
    {
        bad |= 64;
    }
    bad
}
