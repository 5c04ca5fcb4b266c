//! ELF files.

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
