//! ELF files, as patch-rpaths changes them: [`read`] parses only the headers, the dynamic
//! segment and `.note.dlopen`; [`plan`] lays out a RUNPATH / interpreter change as data (or
//! refuses it); [`write`](mod@write) applies it and checks the result before the original
//! is replaced.

mod codec;
pub mod plan;
pub mod read;
mod refs;
pub mod write;

pub use codec::{Class, Endian};
pub use plan::{plan_edit, ElfChange, ElfEdit, ElfRefusal, Overwrite, Placement};
pub use read::{
    DlopenNotes, DynString, Dynamic, ElfError, ElfInfo, FileRange, Interp, StrTab,
    NT_FDO_DLOPEN_METADATA,
};
pub use write::{write_edit, write_edit_with, WriteError, WriteMethod, WriteOptions};
