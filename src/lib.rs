//! fixup-hooks: the library behind `strip-store-refs`, `patch-rpaths` and `fix-venv`.

pub mod elf;
pub mod patch;
pub mod shared;
pub mod strip;
pub mod venv;
