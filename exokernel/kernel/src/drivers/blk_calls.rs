//! The raw disk calls: sector I/O for the root capability while no XN
//! file system holds the disk (once XN does, every block goes through its
//! checks and these calls answer Busy).

use super::device_cap;
use super::virtio_blk::{BlkError, BLK};
use crate::mem::user;
use crate::syscalls::{done, val, Cx, SysResult};
use exo_abi::cap::{PERM_READ, PERM_WRITE};
use exo_abi::syscall::{args, Error};

fn io_error(e: BlkError) -> Error {
    if e == BlkError::Range {
        Error::Invalid
    } else {
        Error::Io
    }
}

/// Raw access is refused while XN holds the disk.
fn raw_allowed() -> Result<(), Error> {
    if crate::xn::attached() {
        Err(Error::Busy)
    } else {
        Ok(())
    }
}

pub fn sys_info(_: &mut Cx<'_>, _: args::BlkInfo) -> SysResult {
    val(BLK.lock().as_ref().ok_or(Error::NoEnv)?.capacity)
}

pub fn sys_read(cx: &mut Cx<'_>, a: args::BlkRead) -> SysResult {
    device_cap(cx.k, a.cap, PERM_READ)?;
    if !a.buf.len.is_multiple_of(512) {
        return Err(Error::Invalid);
    }
    raw_allowed()?;
    let mut buf = [0u8; 4096];
    let buf = &mut buf[..a.buf.len()];
    // Check the destination first so a bad pointer costs no disk I/O.
    user::copy_out(a.buf.ptr, buf).map_err(|_| Error::Fault)?;
    let mut guard = BLK.lock();
    let blk = guard.as_mut().ok_or(Error::NoEnv)?;
    buf.copy_from_slice(blk.read(a.sector, a.buf.len).map_err(io_error)?);
    user::copy_out(a.buf.ptr, buf).map_err(|_| Error::Fault)?;
    val(a.buf.len)
}

pub fn sys_write(cx: &mut Cx<'_>, a: args::BlkWrite) -> SysResult {
    device_cap(cx.k, a.cap, PERM_WRITE)?;
    if !a.buf.len.is_multiple_of(512) {
        return Err(Error::Invalid);
    }
    raw_allowed()?;
    let mut buf = [0u8; 4096];
    let buf = &mut buf[..a.buf.len()];
    user::copy_in(a.buf.ptr, buf).map_err(|_| Error::Fault)?;
    let mut guard = BLK.lock();
    let blk = guard.as_mut().ok_or(Error::NoEnv)?;
    blk.write(a.sector, buf).map_err(io_error)?;
    val(a.buf.len)
}

pub fn sys_flush(cx: &mut Cx<'_>, a: args::BlkFlush) -> SysResult {
    device_cap(cx.k, a.cap, PERM_WRITE)?;
    raw_allowed()?;
    let mut guard = BLK.lock();
    guard
        .as_mut()
        .ok_or(Error::NoEnv)?
        .flush()
        .map_err(|_| Error::Io)?;
    done()
}
