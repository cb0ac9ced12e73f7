//! File data: reads, writes that grow the file (holes read as zeros), and
//! truncation. New data blocks go right after the file's previous block, or
//! after its directory block for the first one: C-FFS's co-location.

use super::layout::*;
use super::{Cffs, FsError, Loc};
use exo_xn::api::XnCalls;
use exo_xn::{Init, TypeId, BLOCK_SIZE};

const BS: u64 = BLOCK_SIZE as u64;

impl<X: XnCalls> Cffs<X> {
    pub(super) fn read_at(
        &mut self,
        loc: Loc,
        ino: &Inode,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, FsError> {
        if ino.kind != Kind::File {
            return Err(FsError::IsDir);
        }
        let size = ino.size.min(MAX_FILE);
        if offset >= size {
            return Ok(0);
        }
        let n = (size - offset).min(buf.len() as u64) as usize;
        let mut ino = ino.clone();
        let mut done = 0;
        while done < n {
            let pos = offset + done as u64;
            let (bi, boff) = ((pos / BS) as usize, (pos % BS) as usize);
            let len = (BLOCK_SIZE - boff).min(n - done);
            let out = &mut buf[done..done + len];
            match self.site(loc, &mut ino, bi, false)? {
                Some(s) if s.cur != 0 => {
                    self.load(s.parent, s.part, s.cur, TypeId::DB)?;
                    self.read_bytes(s.cur, boff, out)?;
                }
                _ => out.fill(0),
            }
            done += len;
        }
        Ok(n)
    }

    pub(super) fn write_at(
        &mut self,
        loc: Loc,
        ino: &mut Inode,
        offset: u64,
        data: &[u8],
    ) -> Result<usize, FsError> {
        if ino.kind != Kind::File {
            return Err(FsError::IsDir);
        }
        if offset
            .checked_add(data.len() as u64)
            .is_none_or(|e| e > MAX_FILE)
        {
            return Err(FsError::TooBig);
        }
        let mut hint = loc.block;
        let mut done = 0;
        while done < data.len() {
            let pos = offset + done as u64;
            let (bi, boff) = ((pos / BS) as usize, (pos % BS) as usize);
            let len = (BLOCK_SIZE - boff).min(data.len() - done);
            let site = self
                .site(loc, ino, bi, true)?
                .ok_or(FsError::Corrupt("no site"))?;
            let db = if site.cur != 0 {
                self.load(site.parent, site.part, site.cur, TypeId::DB)?;
                site.cur
            } else {
                let h = if bi == 0 { loc.block } else { hint };
                let db = self.alloc_at(site, TypeId::DB, h, Init::Zero)?;
                if bi < DIRECT {
                    ino.ptrs[bi] = db;
                }
                db
            };
            hint = db.saturating_add(1);
            self.put(db, boff, &data[done..done + len])?;
            done += len;
            // Grow the size as blocks land, so an error midway leaves a
            // file that covers what was written.
            let now = offset + done as u64;
            if now > ino.size {
                ino.size = now;
                self.set_size(loc, now)?;
            }
        }
        Ok(done)
    }

    pub(super) fn truncate_at(
        &mut self,
        loc: Loc,
        ino: &mut Inode,
        len: u64,
    ) -> Result<(), FsError> {
        if ino.kind != Kind::File {
            return Err(FsError::IsDir);
        }
        if len > MAX_FILE {
            return Err(FsError::TooBig);
        }
        if len < ino.size {
            let keep = len.div_ceil(BS) as usize;
            self.free_from(loc, ino, keep)?;
            // Zero the kept block's tail so a later growth reads zeros there.
            let tail = (len % BS) as usize;
            if tail != 0 {
                if let Some(s) = self.site(loc, ino, keep - 1, false)? {
                    if s.cur != 0 {
                        self.load(s.parent, s.part, s.cur, TypeId::DB)?;
                        let zeros = alloc::vec![0u8; BLOCK_SIZE - tail];
                        self.put(s.cur, tail, &zeros)?;
                    }
                }
            }
        }
        if len != ino.size {
            ino.size = len;
            self.set_size(loc, len)?;
        }
        Ok(())
    }

    fn set_size(&mut self, loc: Loc, size: u64) -> Result<(), FsError> {
        self.put(
            loc.block,
            entry_off(loc.slot) + OFF_SIZE,
            &size.to_le_bytes(),
        )
    }
}
