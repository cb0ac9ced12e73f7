//! The capability calls: derive a narrower capability, grant a copy to an
//! environment one controls, drop one.

use crate::mem::user;
use crate::syscalls::{done, Cx, SysResult};
use exo_abi::cap::{Cap, CAP_NAME_LEN, PERM_GRANT};
use exo_abi::syscall::{args, Error};

pub fn sys_derive(cx: &mut Cx<'_>, a: args::CapDerive) -> SysResult {
    let cap = cx.k.my_cap(a.src)?;
    let mut ext = [0u8; CAP_NAME_LEN];
    let ext = &mut ext[..a.ext.len()];
    user::copy_in(a.ext.ptr, ext).map_err(|_| Error::Fault)?;
    let new = cap.derive(ext, a.perm.get() as u8).ok_or(Error::Invalid)?;
    let cur = cx.k.current;
    cx.k.info_mut(cur).caps[a.dst.index()] = new;
    done()
}

pub fn sys_grant(cx: &mut Cx<'_>, a: args::CapGrant) -> SysResult {
    let mut cap = cx.k.my_cap(a.src)?;
    if cap.perm & PERM_GRANT == 0 {
        return Err(Error::Denied);
    }
    // The copy may carry fewer permissions (e.g. not GRANT: not transferable).
    cap.perm &= a.perm.get() as u8;
    let target = cx.k.control(a.env, a.env_cap)?;
    cx.k.info_mut(target).caps[a.dst.index()] = cap;
    done()
}

pub fn sys_drop(cx: &mut Cx<'_>, a: args::CapDrop) -> SysResult {
    let cur = cx.k.current;
    cx.k.info_mut(cur).caps[a.slot.index()] = Cap::NONE;
    done()
}
