//! Builds the guest (kernel + initrd) so that `exo run` has a default image.
//! Set EXO_SKIP_GUEST_BUILD=1 to skip (e.g. when only host code changes).
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    println!("cargo:rerun-if-env-changed=EXO_SKIP_GUEST_BUILD");
    // The builder itself (exo-images) is a build-dependency: cargo reruns
    // this script when it changes.
    for dir in exo_images::GUEST_SOURCES {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    // Busybox joins the initrd once `ci/busybox` has fetched it (which
    // touches images/programs so that the next build takes it in; watching
    // a file that does not exist would rebuild the guest every time).
    for file in exo_images::BUSYBOX
        .map(|f| root.join(f))
        .iter()
        .filter(|f| f.exists())
    {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let guest = root.join("target/guest");
    if std::env::var_os("EXO_SKIP_GUEST_BUILD").is_some() {
        println!(
            "cargo:warning=EXO_SKIP_GUEST_BUILD set: using the guest image already in target/guest"
        );
    } else {
        let cargo = PathBuf::from(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        match exo_images::build(&root, &cargo) {
            Ok(img) => println!(
                "cargo:rustc-env=EXO_GUEST_PROGRAMS={}",
                img.programs.join(",")
            ),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
    }
    println!(
        "cargo:rustc-env=EXO_DEFAULT_KERNEL={}",
        guest.join("exokernel").display()
    );
    println!(
        "cargo:rustc-env=EXO_DEFAULT_INITRD={}",
        guest.join("initrd.cpio").display()
    );
}
