//! Security of the kernel's secure bindings: a child environment ("mallory",
//! holding only a capability derived for it) attacks the first environment's
//! pages, capabilities, environment and time slices, and hands every call bad
//! arguments. Every attempt must be refused; a page shared on purpose with a
//! read-only capability must be readable and nothing more.
#![no_std]
#![no_main]

use exo_abi::cap::{Cap, PERM_ALL, PERM_GRANT, PERM_READ};
use exo_abi::layout::{UPAGES, USER_TOP, UVPT};
use exo_abi::pages::{FREE, KERNEL};
use exo_abi::syscall::{Error, Sysnum};
use libos::vm::{self, map_op};
use libos::{info, println, spawn, sys};

libos::entry!(main);

/// Where init maps the page it shares with mallory, in both.
const SHARED_VA: u64 = 0x5000_0000_0000;
/// Message in the shared page.
const MAGIC: u64 = 0x5ec0_7e57_0000_beef;

static mut FAILURES: u32 = 0;

fn expect(what: &str, got: Result<(), Error>, want: Error) {
    if got == Err(want) {
        println!("caps_attack: {what}: refused ({want:?})");
    } else {
        println!("caps_attack: {what}: WRONG (got {got:?}, want {want:?})");
        // SAFETY: one thread of control.
        unsafe { FAILURES += 1 };
    }
}

fn raw(n: u64, a: u64, b: u64, c: u64, d: u64, e: u64) -> Result<(), Error> {
    // SAFETY: deliberately bad arguments; the kernel must check them.
    let (r, _) = unsafe { sys::syscall5(n, a, b, c, d, e) };
    if r >= 0 {
        Ok(())
    } else {
        Err(Error::from_result(r).unwrap_or(Error::Invalid))
    }
}

extern "C" fn mallory() -> u8 {
    let me = sys::env_id();
    let init = info::sysinfo().init_env;
    // Our data pages are copies; find one of init's own pages in the records.
    let init_page = (0..info::sysinfo().npages)
        .find(|&p| info::page(p).is_some_and(|r| r.owner == init))
        .unwrap();
    let kernel_page = (0..info::sysinfo().npages)
        .find(|&p| info::page(p).is_some_and(|r| r.owner == KERNEL))
        .unwrap();
    println!(
        "caps_attack: mallory {me:#x} holds {:?}",
        core::str::from_utf8(sys::my_cap(0).name())
    );

    expect(
        "allocate a page init owns",
        sys::p_alloc(init_page, 0),
        Error::Taken,
    );
    expect(
        "map a page init owns",
        sys::vm_batch(me, 0, &[map_op(0x7000_0000, init_page, false, false, 0)]).map_err(|e| e.1),
        Error::Denied,
    );
    expect(
        "free a page init owns",
        sys::p_free(init_page, 0),
        Error::Denied,
    );
    expect(
        "grant itself a page init owns",
        sys::p_grant(init_page, 0, me),
        Error::Denied,
    );
    expect(
        "map a kernel page",
        sys::vm_batch(me, 0, &[map_op(0x7000_0000, kernel_page, false, false, 0)]).map_err(|e| e.1),
        Error::Denied,
    );
    expect(
        "map a page that is not RAM (VGA hole)",
        sys::vm_batch(me, 0, &[map_op(0x7000_0000, 0xa0, true, false, 0)]).map_err(|e| e.1),
        Error::Denied,
    );
    expect(
        "map the LAPIC page",
        sys::vm_batch(me, 0, &[map_op(0x7000_0000, 0xfee00, true, false, 0)]).map_err(|e| e.1),
        Error::Invalid,
    );
    expect(
        "map a page beyond memory",
        sys::vm_batch(me, 0, &[map_op(0x7000_0000, 1 << 40, true, false, 0)]).map_err(|e| e.1),
        Error::Invalid,
    );
    expect(
        "map over the page-table window",
        sys::vm_batch(
            me,
            0,
            &[map_op(UVPT, vm::alloc_page(0).unwrap(), true, false, 0)],
        )
        .map_err(|e| e.1),
        Error::Invalid,
    );
    expect(
        "map over the page records",
        sys::vm_batch(me, 0, &[map_op(UPAGES, 0, false, false, 0)]).map_err(|e| e.1),
        Error::Invalid,
    );
    expect(
        "map at an unaligned address",
        sys::vm_batch(me, 0, &[map_op(0x7000_0010, 0, false, false, 0)]).map_err(|e| e.1),
        Error::Invalid,
    );
    expect(
        "change init's page tables",
        sys::vm_batch(init, 0, &[map_op(0x7000_0000, init_page, true, false, 0)]).map_err(|e| e.1),
        Error::Denied,
    );
    expect(
        "use an empty capability slot",
        sys::p_alloc(0, 7),
        Error::Denied,
    );
    expect(
        "use a capability slot out of range",
        sys::p_alloc(0, 99),
        Error::Invalid,
    );
    expect(
        "amplify a capability",
        sys::cap_derive(0, 3, b"x", PERM_ALL | 0x80),
        Error::Invalid,
    );
    expect(
        "pass the read-only share on",
        sys::cap_grant(2, me, 0, 4, PERM_ALL),
        Error::Denied,
    );
    expect(
        "give capabilities to init's list",
        sys::cap_grant(0, init, 0, 5, PERM_ALL),
        Error::Denied,
    );
    expect("destroy init", sys::env_destroy(init, 0), Error::Denied);
    expect(
        "take init's time slice",
        sys::slice_alloc(0, me, 0),
        Error::Taken,
    );
    expect(
        "free init's time slice",
        sys::slice_free(0, 0),
        Error::Denied,
    );
    expect(
        "set init's registers",
        sys::env_set_context(init, 0, &Default::default()),
        Error::Denied,
    );
    expect(
        "revoke init's pages",
        sys::revoke(init, 0, 1, 1),
        Error::Denied,
    );
    expect(
        "call a nonexistent environment",
        libos::ipc::call(0xdead_0001, &[0; 9]).map(drop),
        Error::NoEnv,
    );
    expect(
        "batch from a kernel pointer",
        raw(
            Sysnum::VmBatch as u64,
            me as u64,
            0,
            USER_TOP + 0x1000,
            1,
            0,
        ),
        Error::Fault,
    );
    expect(
        "batch too large",
        raw(Sysnum::VmBatch as u64, me as u64, 0, 0x1000, 100_000, 0),
        Error::Invalid,
    );
    expect(
        "entries from a null pointer",
        raw(Sysnum::EnvSetEntries as u64, me as u64, 0, 0, 0, 0),
        Error::Fault,
    );
    expect(
        "entries pointing into the kernel",
        {
            let e = exo_abi::env::Entries {
                exception: USER_TOP + 5,
                ..Default::default()
            };
            sys::env_set_entries(me, 0, &e)
        },
        Error::Invalid,
    );
    expect(
        "predicate from a null pointer",
        raw(Sysnum::Wakeup as u64, 0, 1, 0, 0, 0),
        Error::Fault,
    );
    expect(
        "predicate reading kernel memory",
        {
            let t = exo_abi::wakeup::WkTerm {
                kind: 0,
                width: 8,
                addr: exo_abi::layout::KERNEL_BASE,
                mask: !0,
                ..Default::default()
            };
            sys::wakeup(&[t])
        },
        Error::Invalid,
    );
    expect(
        "derive from a wild name pointer",
        raw(Sysnum::CapDerive as u64, 0, 3, USER_TOP, 4, 1),
        Error::Fault,
    );

    // The page init filled with a secret and freed: mallory may take it by
    // name, but must find it zeroed.
    let secret_ppn = secret_ppn();
    let leak = sys::p_alloc(secret_ppn, 0)
        .and_then(|()| {
            libos::vm::apply(&[map_op(0x7200_0000, secret_ppn, false, false, 0)]).map_err(|e| e.1)
        })
        // SAFETY: mapped just above.
        .map(|()| unsafe { (0x7200_0000 as *const u64).read_volatile() });
    if leak == Ok(0) {
        println!("caps_attack: a freed page comes back zeroed: ok");
    } else {
        println!("caps_attack: a freed page comes back zeroed: WRONG ({leak:?})");
        // SAFETY: one thread of control.
        unsafe { FAILURES += 1 };
    }

    // The page init shared read-only: readable, not writable, not freeable.
    let shared = libos::vm::apply(&[map_op(SHARED_VA, shared_ppn(), false, false, 2)]);
    // SAFETY: mapped just above if `shared` is Ok.
    let seen = shared.is_ok() && unsafe { (SHARED_VA as *const u64).read_volatile() } == MAGIC;
    if seen {
        println!("caps_attack: read-only share readable: ok");
    } else {
        println!("caps_attack: read-only share readable: WRONG ({shared:?})");
        // SAFETY: one thread of control.
        unsafe { FAILURES += 1 };
    }
    expect(
        "upgrade the share to writable",
        sys::vm_batch(me, 0, &[libos::vm::protect_op(SHARED_VA, true, 2)]).map_err(|e| e.1),
        Error::Denied,
    );
    expect(
        "map the share writable",
        sys::vm_batch(
            me,
            0,
            &[map_op(SHARED_VA + 0x1000, shared_ppn(), true, false, 2)],
        )
        .map_err(|e| e.1),
        Error::Denied,
    );
    expect(
        "free the shared page",
        sys::p_free(shared_ppn(), 2),
        Error::Denied,
    );
    initrd_attacks(me);
    // SAFETY: one thread of control.
    let failures = unsafe { FAILURES };
    println!("caps_attack: mallory done, {failures} wrong");
    failures as u8
}

/// Where mallory maps a page of the initrd.
const INITRD_VA: u64 = 0x5100_0000_0000;

/// The initrd's pages are public: anyone maps them read-only (and reads
/// what the initrd window shows), no one writes, frees, grants, shares or
/// allocates them.
fn initrd_attacks(me: u32) {
    let rd = libos::initrd::archive();
    let page = (rd.as_ptr() as u64).next_multiple_of(4096);
    let ppn = vm::ppn_of(page).unwrap_or(0);
    let public = info::page(ppn).is_some_and(|r| r.owner == exo_abi::pages::PUBLIC);
    let mapped = libos::vm::apply(&[map_op(INITRD_VA, ppn, false, false, 0)]).map_err(|e| e.1);
    // SAFETY: both mapped (the second just above if `mapped` is Ok), read only.
    let same = mapped.is_ok()
        && unsafe {
            (INITRD_VA as *const u64).read_volatile() == (page as *const u64).read_volatile()
        };
    if public && same {
        println!("caps_attack: initrd page mapped read-only: ok");
    } else {
        println!("caps_attack: initrd page mapped read-only: WRONG ({public} {mapped:?})");
        // SAFETY: one thread of control.
        unsafe { FAILURES += 1 };
    }
    expect(
        "map an initrd page writable",
        sys::vm_batch(me, 0, &[map_op(INITRD_VA + 0x1000, ppn, true, false, 0)]).map_err(|e| e.1),
        Error::Denied,
    );
    expect(
        "make the initrd page writable",
        sys::vm_batch(me, 0, &[libos::vm::protect_op(INITRD_VA, true, 0)]).map_err(|e| e.1),
        Error::Denied,
    );
    expect("free an initrd page", sys::p_free(ppn, 0), Error::Denied);
    expect(
        "grant an initrd page",
        sys::p_grant(ppn, 0, me),
        Error::Denied,
    );
    expect(
        "share an initrd page",
        sys::p_share(ppn, 0, 0),
        Error::Denied,
    );
    expect(
        "allocate an initrd page",
        sys::p_alloc(ppn, 0),
        Error::Taken,
    );
}

static mut SHARED_PPN: u64 = 0;
static mut SECRET_PPN: u64 = 0;

fn secret_ppn() -> u64 {
    // SAFETY: written by init before spawning.
    unsafe { SECRET_PPN }
}

fn shared_ppn() -> u64 {
    // SAFETY: written by init before spawning; the child has its own copy.
    unsafe { SHARED_PPN }
}

fn main() -> u8 {
    // A page guarded by the name "s", shared read-only through a capability.
    sys::cap_derive(0, 1, b"s", PERM_ALL).unwrap();
    let ppn = vm::alloc_page(1).unwrap();
    vm::apply(&[map_op(SHARED_VA, ppn, true, false, 1)]).unwrap();
    // SAFETY: just mapped writable.
    unsafe {
        (SHARED_VA as *mut u64).write_volatile(MAGIC);
        SHARED_PPN = ppn;
    }
    // A secret in a page that init then frees.
    let secret = vm::alloc_page(0).unwrap();
    vm::apply(&[map_op(0x7300_0000, secret, true, false, 0)]).unwrap();
    // SAFETY: just mapped writable.
    unsafe {
        (0x7300_0000 as *mut u64).write_volatile(0x5ec2e7);
        SECRET_PPN = secret;
    }
    vm::unmap(0x7300_0000).unwrap();
    sys::p_free(secret, 0).unwrap();
    sys::cap_derive(1, 2, b"", PERM_READ).unwrap();
    let child = spawn::spawn(mallory, b"m", 5, None).unwrap();
    sys::cap_grant(2, child.id, 5, 2, PERM_READ)
        .expect_err("a capability without GRANT cannot be given");
    sys::cap_derive(1, 3, b"", PERM_READ | PERM_GRANT).unwrap();
    // Mallory gets "s" read-only, without the right to pass it on.
    sys::cap_grant(3, child.id, 5, 2, PERM_READ).unwrap();
    assert_eq!(
        Cap::new(b"s", PERM_READ),
        Some(info::env(child.id).unwrap().caps[2])
    );
    sys::slice_alloc(1, child.id, 5).unwrap();
    spawn::wait(child.id);
    println!(
        "caps_attack: init still intact; page records show {} free pages",
        (0..info::sysinfo().npages)
            .filter(|&p| info::page(p).is_some_and(|r| r.owner == FREE))
            .count()
    );
    0
}
