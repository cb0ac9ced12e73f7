//! Lists the files of the initrd with their sizes.
#![no_std]
#![no_main]

libos::entry!(main);

fn main() -> u8 {
    for (name, data) in libos::initrd::files() {
        libos::println!("{:>8}  /{name}", data.len());
    }
    0
}
