//! Installing a libFS's metadata types (§8 B.1), shared by both libFSes:
//! reserve every name first (the templates name each other's type ids), then
//! write each template into its extent, write it back and import it. Types
//! already in the catalogue are reused, whoever installed them.

use super::FsError;
use alloc::vec::Vec;
use exo_xn::api::XnCalls;
use exo_xn::template::Template;
use exo_xn::{Error, Init, MountKind, TypeId, BLOCK_SIZE};

/// The type ids of `names`, if all are installed.
pub fn find<X: XnCalls>(x: &mut X, names: &[&str]) -> Result<Vec<TypeId>, FsError> {
    names
        .iter()
        .map(|n| match x.lookup(n) {
            Ok(e) if !e.is_root => Ok(e.ty),
            Ok(_) => Err(FsError::Corrupt("a type name names a root")),
            Err(Error::NoSuchName) => Err(FsError::NotFound),
            Err(e) => Err(e.into()),
        })
        .collect()
}

/// Install the types `names` (built by `build` from their ids) unless present.
pub fn ensure<X: XnCalls>(
    x: &mut X,
    names: &[&str],
    build: impl Fn(&[TypeId]) -> Vec<Template>,
) -> Result<Vec<TypeId>, FsError> {
    if let Ok(ids) = find(x, names) {
        return Ok(ids);
    }
    let mut ids = Vec::with_capacity(names.len());
    for n in names {
        let id = match x.lookup(n) {
            Ok(e) => e.ty,
            Err(Error::NoSuchName) => x.reserve_type(n)?,
            Err(e) => return Err(e.into()),
        };
        ids.push(id);
    }
    for tpl in build(&ids) {
        // A name already holding an extent was installed (or half-installed)
        // earlier: importing it again either succeeds or says it is a type.
        let reserved = x.lookup(&tpl.name).map(|e| e.nblocks == 0)?;
        if reserved {
            let bytes = tpl.encode();
            let n = (bytes.len() / BLOCK_SIZE) as u64;
            let db = x.install_mount(&tpl.name, None, n, MountKind::Type, Init::Zero)?;
            for (i, chunk) in bytes.chunks(BLOCK_SIZE).enumerate() {
                x.writeb(db + i as u64, 0, chunk)?;
            }
            x.writeback(db, n)?;
        }
        match x.type_import(&tpl.name) {
            Ok(_) | Err(Error::BadType) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ids)
}
