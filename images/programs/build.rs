//! The Linux personality's runner (`/bin/linux`) loads a Linux program at
//! the address it was linked for, usually 4 MiB where our own programs
//! live: it is linked at 1 GiB instead (within the 2 GiB the static code model reaches).
fn main() {
    println!("cargo:rustc-link-arg-bin=linux=--image-base=0x40000000");
}
