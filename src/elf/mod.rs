//! ELF files: reading what patch-rpaths needs, and writing RUNPATH and interpreter changes
//! that touch only the bytes they must.
