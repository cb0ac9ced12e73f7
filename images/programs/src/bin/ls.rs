//! Lists a directory of the library file system with kinds and sizes
//! (`ls DIR`); `ls /bin` lists the programs in the initrd; `ls` alone lists
//! both: the programs, then the file system's root if there is one.
#![no_std]
#![no_main]

use libos::{files, posix, println, process};

libos::entry!(main);

fn main() -> u8 {
    let arg = process::args().nth(1);
    let dir = arg.unwrap_or("/");
    if arg.is_none() || files::in_initrd(dir) || dir.trim_matches('/') == "bin" {
        for (name, data) in libos::initrd::files() {
            println!("{:>8}  /{name}", data.len());
        }
        if arg.is_some() || files::mount().is_err() {
            return 0;
        }
    }
    match posix::readdir(dir) {
        Ok(entries) => {
            for e in entries {
                println!("{:>8}  {:<4}  {}", e.size, files::kind_name(e.kind), e.name);
            }
            0
        }
        Err(e) => {
            println!("ls: {dir}: {e}");
            1
        }
    }
}
