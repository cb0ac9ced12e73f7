//! `exo xn` on trees of the C-FFS-style library file system (the one guest
//! programs use, `libos::fs::cffs`): the same libFS code, run on the host
//! over the image through XN.

use exo_xn::api::Direct;
use exo_xn::{catalogue, Cred, Disk, PageStore, Xn};
use libos::fs::cffs::{Cffs, Kind};
use std::path::PathBuf;

/// Whether catalogue root `root` is a cffs tree.
pub fn is_cffs<D: Disk, P: PageStore>(xn: &Xn<D, P>, root: &str) -> bool {
    match xn.catalogue().find(root) {
        Some((_, e)) => match e.kind {
            catalogue::Kind::Root(ty) => xn
                .template(ty)
                .is_some_and(|t| t.name == libos::fs::cffs::templates::NAMES[0]),
            _ => false,
        },
        None => false,
    }
}

fn mount<'a, D: Disk, P: PageStore>(
    xn: &'a mut Xn<D, P>,
    cred: Cred,
    root: &str,
) -> Result<Cffs<Direct<'a, D, P>>, String> {
    Cffs::mount(Direct { xn, cred }, root).map_err(|e| format!("mounting '{root}': {e}"))
}

/// Lists directory `rest` of tree `root`.
pub fn ls<D: Disk, P: PageStore>(
    xn: &mut Xn<D, P>,
    cred: Cred,
    root: &str,
    rest: &str,
) -> Result<(), String> {
    let mut fs = mount(xn, cred, root)?;
    let st = fs.stat(rest).map_err(|e| format!("{root}/{rest}: {e}"))?;
    if st.kind == Kind::File {
        println!("- {:>10} {root}/{rest}", st.size);
        return Ok(());
    }
    for e in fs
        .readdir(rest)
        .map_err(|e| format!("{root}/{rest}: {e}"))?
    {
        let k = if e.kind == Kind::Dir { 'd' } else { '-' };
        println!("{k} {:>10} {}", e.size, e.name);
    }
    Ok(())
}

/// The contents of file `rest` of tree `root`.
pub fn cat<D: Disk, P: PageStore>(
    xn: &mut Xn<D, P>,
    cred: Cred,
    root: &str,
    rest: &str,
) -> Result<Vec<u8>, String> {
    let mut fs = mount(xn, cred, root)?;
    fs.read_file(rest)
        .map_err(|e| format!("{root}/{rest}: {e}"))
}

/// Makes tree `root` and copies `add` into it.
pub fn mkfs<D: Disk, P: PageStore>(
    xn: &mut Xn<D, P>,
    cred: Cred,
    root: &str,
    add: &[PathBuf],
) -> Result<(), String> {
    let mut fs = Cffs::mkfs(Direct { xn, cred }, root).map_err(|e| format!("mkfs: {e}"))?;
    for f in add {
        // No file can be larger than the image it goes into.
        let data = super::bounded::read(f, super::xn::MAX_ADDED_FILE, "file to add")?;
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{}: no usable file name", f.display()))?;
        fs.write_file(name, &data)
            .map_err(|e| format!("adding {}: {e}", f.display()))?;
    }
    fs.sync().map_err(|e| format!("sync: {e}"))
}
