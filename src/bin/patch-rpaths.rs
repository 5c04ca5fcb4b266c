use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use fixup_hooks::patch::{self, PatchOptions};
use fixup_hooks::shared::cli::{self, CommonArgs};
use fixup_hooks::shared::report;

const TOOL: &str = "patch-rpaths";

/// Point every ELF file under PATH at the libraries it needs: autoPatchelf's job, in one pass.
///
/// For each dynamic ELF file (symlinks are not followed) every DT_NEEDED, then every library its
/// .note.dlopen notes name (owner FDO, type 0x407c0c0a; of each entry's "soname" list the first
/// that resolves satisfies it), is resolved in this order: the file's own $ORIGIN RUNPATH
/// entries (a wheel's .libs; they are kept as they are), the libraries under PATH themselves,
/// the --libs directories in the order given, then the RUNPATHs (without $ORIGIN) of the
/// libraries found there. A library must match the file's ELF class and machine, and its OSABI
/// (SYSV goes with any). Libraries in --libc are found by the loader and add no entry (unless
/// --keep-libc).
///
/// The new RUNPATH is, as nixpkgs' auto-patchelf makes it: --runtime-dependency directories
/// (executables only: files with PT_INTERP, PIE ones included), then the existing $ORIGIN
/// entries, then the directories that satisfied a dependency, then --append-rpath directories;
/// duplicates dropped (the first stays). When that is empty the old RUNPATH stays. Executables
/// get --interpreter (also those whose PT_DYNAMIC is missing or empty); a file whose OSABI does
/// not go with the interpreter's (a FreeBSD one and a Linux loader) is skipped as foreign.
/// Every PATH and directory argument is made absolute against the working directory first,
/// so no relative path reaches a RUNPATH or the interpreter.
///
/// Files are rewritten only when something changes, and the result is checked in memory
/// first. An edit that overwrites bytes within one page of the file (a same-length RUNPATH,
/// as after strip-store-refs) is one write in place, keeping inode, mode and owner; anything
/// else goes through a temporary file (.NAME.patch-rpaths.PID) renamed over the original;
/// such files a killed run left are removed. Nothing is fsynced unless --fsync.
///
/// Exit status: 0 done; 1 a library is missing (unless --ignore-missing), a file could not be
/// patched as asked (it is left untouched and counted as refused; one that could take only
/// --runtime-dependency / --append-rpath entries is a warning with --allow-optional-refusal),
/// or another error; 2 the command line was wrong (a relative --append-rpath that does not
/// start with $ORIGIN included).
#[derive(Parser, Debug)]
#[command(name = "patch-rpaths", version, max_term_width = 100)]
#[command(mut_arg("store_dir", |arg| arg.help(
    "Store directory, for naming the package a stripped RUNPATH entry came from [default: \
     $NIX_STORE_DIR, else $NIX_STORE, else /nix/store]",
)))]
struct Args {
    /// Trees (or single files) to patch in place.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// A directory of libraries to resolve against (repeatable; searched in this order).
    #[arg(long = "libs", value_name = "DIR")]
    libs: Vec<PathBuf>,

    /// Every directory below DIR that holds a shared library, as if each were given with
    /// --libs, after them (repeatable).
    #[arg(long = "libs-tree", value_name = "DIR")]
    libs_tree: Vec<PathBuf>,

    /// A Nix bintools wrapper: its nix-support/dynamic-linker is the default --interpreter and
    /// its nix-support/orig-libc (+ /lib) the default --libc.
    #[arg(long, value_name = "DIR")]
    bintools: Option<PathBuf>,

    /// Patch only the files directly in each PATH, not those below.
    #[arg(long)]
    no_recurse: bool,

    /// Do not resolve against the libraries under PATH themselves.
    #[arg(long)]
    ignore_existing: bool,

    /// Accepted for autoPatchelf's flags; $ORIGIN entries are always kept.
    #[arg(long)]
    preserve_origin: bool,

    /// The C library's directory: sonames found there need no RUNPATH entry.
    #[arg(long, value_name = "DIR")]
    libc: Option<PathBuf>,

    /// Put the libc directory on the RUNPATH too, when it satisfies a dependency.
    #[arg(long)]
    keep_libc: bool,

    /// Put this directory first on the RUNPATH of executables (files with PT_INTERP, PIE ones
    /// included), not of libraries (repeatable; dropped when it is not a directory). As
    /// auto-patchelf's --runtime-dependencies.
    #[arg(long = "runtime-dependency", value_name = "DIR")]
    runtime_dependencies: Vec<PathBuf>,

    /// Put this entry last on every patched RUNPATH (repeatable), exactly as given, even when
    /// it does not exist at build time (/run/opengl-driver/lib). It must be absolute or start
    /// with $ORIGIN. As auto-patchelf's --append-rpaths.
    #[arg(long = "append-rpath", value_name = "DIR")]
    append_rpaths: Vec<PathBuf>,

    /// The program interpreter for executables; its class and machine also decide which files
    /// are patched [default: this machine's].
    #[arg(long, value_name = "PATH")]
    interpreter: Option<PathBuf>,

    /// A missing library whose name matches is a warning, not an error (repeatable; '*' for
    /// all). The name, its last path component, and for a .note.dlopen entry each of its
    /// sonames are tried: 'libfoo*' and auto-patchelf's '*' or 'any(*' all match a missing
    /// any(libfoo.so.2, libfoo.so).
    #[arg(long = "ignore-missing", value_name = "GLOB")]
    ignore_missing: Vec<String>,

    /// A file the writer cannot change that needed only --runtime-dependency / --append-rpath
    /// entries (it loads without them) is a warning, not a failure. Other refusals still fail.
    #[arg(long)]
    allow_optional_refusal: bool,

    /// fsync every written file, and its directory after a rename (off by default: a rename
    /// is atomic under a kill, and a build that loses power is rebuilt).
    #[arg(long)]
    fsync: bool,

    /// Change nothing; print each file's old and new RUNPATH and interpreter, and which
    /// .note.dlopen alternatives were tried and found.
    #[arg(long)]
    dry_run: bool,

    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let usage = |message: String| cli::usage(TOOL, message).into();
    let store = match args.common.store() {
        Ok(store) => store,
        Err(e) => return usage(e),
    };
    if let Err(exit) = cli::require_paths(TOOL, &args.paths) {
        return exit.into();
    }
    args.common.init_pool();
    let opts = PatchOptions {
        libs: args.libs,
        libs_tree: args.libs_tree,
        bintools: args.bintools,
        ignore_existing: args.ignore_existing,
        no_recurse: args.no_recurse,
        libc: args.libc,
        keep_libc: args.keep_libc,
        runtime_dependencies: args.runtime_dependencies,
        append_rpaths: args.append_rpaths,
        interpreter: args.interpreter,
        ignore_missing: args.ignore_missing,
        allow_optional_refusal: args.allow_optional_refusal,
        fsync: args.fsync,
        dry_run: args.dry_run,
        store,
    };
    match patch::run(&args.paths, &opts) {
        Ok(report) => report::finish(&report, args.common.report, opts.dry_run).into(),
        Err(e) => usage(e.to_string()),
    }
}
