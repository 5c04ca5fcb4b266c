//! ELF files: reading what patch-rpaths needs, and writing RUNPATH and interpreter changes
//! that touch only the bytes they must.
//!
//! `read` parses lazily (headers, program headers, `.dynamic`, `.note.dlopen`) so scanning a
//! tree of large libraries stays cheap; `write` turns a requested change into an
//! [`write::Edit`] (plain data, printable for a dry run) and applies it atomically with a
//! self-check. `refs` and `codec` are
//! the plumbing both sides share.

mod apply;
mod codec;
pub mod read;
mod refs;
pub mod write;

pub use apply::{apply_with, Applied, ApplyOptions};
pub use codec::{Class, Endian};
pub use read::{
    DlopenNotes, DynString, Dynamic, ElfError, ElfInfo, FileRange, Interp, StrTab,
    NT_FDO_DLOPEN_METADATA,
};
pub use write::{apply, plan, Change, Edit, Patch, Placement, Refusal, WriteError};
