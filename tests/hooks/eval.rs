//! The Nix expressions (nix/package.nix, nix/hooks.nix, nix/mk-uv-venv.nix,
//! flake.nix) evaluated without nixpkgs: this machine has none and no network
//! to fetch it. tests/nix/eval/stubs.nix stands in for the nixpkgs functions
//! they call; its builders return their arguments, so each test reads back
//! what our expressions pass to nixpkgs and compares the JSON exactly.
//!
//! What this cannot show: that real nixpkgs accepts those arguments the way
//! the stubs do (see the comments in stubs.nix), or that anything builds.
//!
//! Needs `nix-instantiate` on PATH (`.ci/run` runs scripts/install-deps,
//! which installs Debian's nix-bin). A missing Nix is a test failure, not a
//! skip. NIX_CONFIG is set for the child processes unless already set.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::nix::{missing_nix_message, require_nix_program_in, with_nix_config};

/// support::nix's NIX_CONFIG with flakes enabled as well.
const NIX_CONFIG_FLAKES: &str =
    "sandbox = false\nbuild-users-group =\nsubstituters =\nexperimental-features = nix-command flakes";
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The stubs' fake store path prefix (stubs.nix, `fakeStorePath`).
const STORE: &str = "/nix/store/00000000000000000000000000000000-";
const HASH: &str = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

/// mkUvVenv with every argument given (stubs.nix provides `mkVenv`, `pkgs`).
const VENV: &str = r#"(mkVenv {
  pname = "demo";
  version = "1.0";
  src = "/stub/src";
  python = pkgs.python3;
  hash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
  buildInputs = [ pkgs.libpq ];
  nativeBuildInputs = [ pkgs.patchelf ];
  workspaceMembers = [ "packages/core" "packages/web" ];
  checkImports = [ "lxml.etree" "demo.core" ];
  uvFlags = [ "--extra" "postgres" ];
})"#;

// ---------------------------------------------------------------- helpers

/// `nix-instantiate` with NIX_CONFIG_FLAKES unless the caller set one; panics
/// with support::nix's missing-Nix message when it is not on PATH.
fn nix_instantiate() -> Command {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let program =
        require_nix_program_in("nix-instantiate", &path).unwrap_or_else(|msg| panic!("{msg}"));
    with_nix_config(Command::new(program), NIX_CONFIG_FLAKES)
}

/// Evaluates `body` with the attributes of stubs.nix in scope and returns
/// the JSON that `nix-instantiate --eval --strict --json` prints.
fn eval(body: &str) -> String {
    let expr = format!(
        "{{ root }}: with import (/. + root + \"/tests/nix/eval/stubs.nix\") \
         {{ root = /. + root; }}; {body}"
    );
    let out = nix_instantiate()
        .args([
            "--eval", "--strict", "--json", "--argstr", "root", ROOT, "--expr",
        ])
        .arg(&expr)
        .output()
        .expect("cannot run nix-instantiate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "evaluation failed:\n{expr}\n--- stderr:\n{stderr}"
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// JSON list of strings.
fn json_strings(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", quoted.join(","))
}

/// The `[package]` value of `key` in Cargo.toml (`key = "value"`).
fn cargo_package_field(key: &str) -> String {
    let toml = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    let mut in_package = false;
    for line in toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key {
                    return v.trim().trim_matches('"').to_string();
                }
            }
        }
    }
    panic!("Cargo.toml has no [package] {key}");
}

/// Every `.nix` file under `dir`, skipping target/ and .git/.
fn nix_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let file_type = entry.file_type().unwrap();
        if file_type.is_dir() {
            if dir == Path::new(ROOT)
                && (entry.file_name() == "target" || entry.file_name() == ".git")
            {
                continue;
            }
            nix_files(&path, found);
        } else if file_type.is_file() && path.extension().is_some_and(|e| e == "nix") {
            found.push(path);
        }
    }
}

/// The `@name@` placeholders in a setup-hook script (what substituteAll
/// would replace).
fn placeholders(script: &str) -> Vec<String> {
    let parts: Vec<&str> = script.split('@').collect();
    let inner = if parts.len() > 2 {
        &parts[1..parts.len() - 1]
    } else {
        &[][..]
    };
    let mut found: Vec<String> = inner
        .iter()
        .filter(|name| {
            name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .map(|name| name.to_string())
        .collect();
    found.sort();
    found.dedup();
    found
}

// ------------------------------------------------------------------ tests

#[test]
fn missing_nix_instantiate_fails_with_a_pointer_to_ci_run() {
    let err = missing_nix_message("nix-instantiate");
    assert!(
        err.contains(".ci/run") && err.contains("scripts/install-deps") && err.contains("nix-bin"),
        "unhelpful message: {err}"
    );
}

#[test]
fn every_nix_file_in_the_repo_parses() {
    let mut files = Vec::new();
    nix_files(Path::new(ROOT), &mut files);
    files.sort();
    for expected in [
        "flake.nix",
        "nix/package.nix",
        "nix/hooks.nix",
        "nix/mk-uv-venv.nix",
        "tests/nix/eval/stubs.nix",
    ] {
        assert!(
            files.contains(&Path::new(ROOT).join(expected)),
            "{expected} not found among {files:?}"
        );
    }
    let mut failures = Vec::new();
    for file in &files {
        let out = nix_instantiate()
            .arg("--parse")
            .arg(file)
            .output()
            .expect("cannot run nix-instantiate");
        if !out.status.success() {
            failures.push(format!(
                "{}: {}",
                file.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "unparsable:\n{}", failures.join("\n"));
}

// ---------------------------------------------------------------- hooks.nix

#[test]
fn hooks_nix_returns_exactly_the_four_hooks() {
    assert_eq!(
        eval("builtins.mapAttrs (n: h: { inherit (h) name stubBuilder; }) hooks"),
        r#"{"fixVenvPrepareHook":{"name":"fix-venv-prepare-hook","stubBuilder":"makeSetupHook"},"fixVenvRestoreHook":{"name":"fix-venv-restore-hook","stubBuilder":"makeSetupHook"},"patchRpathsHook":{"name":"patch-rpaths-hook","stubBuilder":"makeSetupHook"},"stripStoreRefsHook":{"name":"strip-store-refs-hook","stubBuilder":"makeSetupHook"}}"#
    );
}

#[test]
fn each_hook_installs_its_own_script() {
    assert_eq!(
        eval("builtins.mapAttrs (n: h: toString h.script) hooks"),
        format!(
            r#"{{"fixVenvPrepareHook":"{ROOT}/hooks/fix-venv-hook.sh","fixVenvRestoreHook":"{ROOT}/hooks/fix-venv-hook.sh","patchRpathsHook":"{ROOT}/hooks/patch-rpaths-hook.sh","stripStoreRefsHook":"{ROOT}/hooks/strip-store-refs-hook.sh"}}"#
        )
    );
}

#[test]
fn every_hook_substitutes_the_shared_dispatcher() {
    assert_eq!(
        eval("builtins.mapAttrs (n: h: toString h.substitutions.fixupHooksOrder) hooks"),
        format!(
            r#"{{"fixVenvPrepareHook":"{d}","fixVenvRestoreHook":"{d}","patchRpathsHook":"{d}","stripStoreRefsHook":"{d}"}}"#,
            d = format!("{ROOT}/hooks/fixup-hooks-order.sh")
        )
    );
}

#[test]
fn fix_venv_hooks_differ_only_in_mode() {
    assert_eq!(
        eval("builtins.mapAttrs (n: h: removeAttrs h.substitutions [ \"fixupHooksOrder\" ]) hooks"),
        r#"{"fixVenvPrepareHook":{"fixVenvMode":"prepare"},"fixVenvRestoreHook":{"fixVenvMode":"restore"},"patchRpathsHook":{},"stripStoreRefsHook":{}}"#
    );
}

#[test]
fn every_hook_propagates_the_static_tools_and_patch_rpaths_the_bintools() {
    let tools = format!("{STORE}fixup-hooks-0.1.0-static");
    assert_eq!(
        eval("builtins.mapAttrs (n: h: map toString h.propagatedBuildInputs) hooks"),
        format!(
            r#"{{"fixVenvPrepareHook":["{tools}"],"fixVenvRestoreHook":["{tools}"],"patchRpathsHook":["{tools}","{STORE}bintools-wrapper"],"stripStoreRefsHook":["{tools}"]}}"#
        )
    );
    assert_eq!(
        eval("builtins.mapAttrs (n: h: h.passthru.tools.stubStatic) hooks"),
        r#"{"fixVenvPrepareHook":true,"fixVenvRestoreHook":true,"patchRpathsHook":true,"stripStoreRefsHook":true}"#
    );
}

#[test]
fn hook_scripts_exist_and_use_only_the_substituted_placeholders() {
    let cases: [(&str, &[&str]); 4] = [
        ("fixup-hooks-order.sh", &[]),
        ("strip-store-refs-hook.sh", &["fixupHooksOrder"]),
        ("patch-rpaths-hook.sh", &["fixupHooksOrder"]),
        ("fix-venv-hook.sh", &["fixVenvMode", "fixupHooksOrder"]),
    ];
    for (file, expected) in cases {
        let path = Path::new(ROOT).join("hooks").join(file);
        let script = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (nix/hooks.nix refers to it)", path.display()));
        assert_eq!(placeholders(&script), expected, "{file}");
    }
}

// -------------------------------------------------------------- package.nix

#[test]
fn package_builds_the_crate_from_its_cargo_lock() {
    assert_eq!(
        eval("{ inherit (tools) stubBuilder pname version; lock = toString tools.cargoLock.lockFile; }"),
        format!(
            r#"{{"lock":"{ROOT}/Cargo.lock","pname":"{}","stubBuilder":"buildRustPackage","version":"{}"}}"#,
            cargo_package_field("name"),
            cargo_package_field("version")
        )
    );
}

#[test]
fn package_source_is_cargo_toml_cargo_lock_and_src_only() {
    assert_eq!(
        eval("{ root = toString tools.src.root; files = map toString tools.src.files; }"),
        format!(
            r#"{{"files":["{ROOT}/Cargo.toml","{ROOT}/Cargo.lock","{ROOT}/src"],"root":"{ROOT}"}}"#
        )
    );
}

#[test]
fn package_checks_only_the_unit_tests() {
    assert_eq!(
        eval("{ inherit (tools) doCheck cargoTestFlags; }"),
        r#"{"cargoTestFlags":["--lib"],"doCheck":true}"#
    );
}

#[test]
fn package_meta_names_a_binary_and_is_mit_on_linux() {
    assert_eq!(
        eval(
            "{ inherit (tools.meta) mainProgram platforms; license = tools.meta.license.spdxId; }"
        ),
        r#"{"license":"MIT","mainProgram":"strip-store-refs","platforms":["aarch64-linux","x86_64-linux"]}"#
    );
    assert_eq!(
        eval("tools.meta.description"),
        format!("\"{}\"", cargo_package_field("description"))
    );
}

// ----------------------------------------------------------- mk-uv-venv.nix

#[test]
fn venv_fod_is_a_recursive_sha256_fixed_output_with_the_given_hash() {
    assert_eq!(
        eval(&format!(
            "let f = {VENV}.passthru.fod; in {{ inherit (f) name stubBuilder outputHashMode outputHashAlgo outputHash; }}"
        )),
        format!(
            r#"{{"name":"demo-1.0-venv-deps","outputHash":"{HASH}","outputHashAlgo":"sha256","outputHashMode":"recursive","stubBuilder":"mkDerivation"}}"#
        )
    );
}

#[test]
fn venv_uv_flags_reach_uv_sync() {
    // What the FOD does is tested by building it (tests/hooks/e2e.rs); uvFlags has no
    // user there.
    let phase = eval(&format!("{VENV}.passthru.fod.buildPhase"));
    assert!(phase.contains("--system-certs --extra postgres"), "{phase}");
}

#[test]
fn venv_leaves_elf_files_and_shebangs_to_the_hooks() {
    // stdenv's strip and patchelf --shrink-rpath would rewrite the wheels' ELF files before
    // patch-rpaths (and drop the stripped RUNPATH entries it names packages from);
    // patchShebangs would put references into the FOD and bare interpreters into scripts.
    for drv in [format!("{VENV}.passthru.fod"), VENV.to_string()] {
        assert_eq!(
            eval(&format!(
                "let d = {drv}; in [ d.dontStrip d.dontPatchELF d.dontPatchShebangs ]"
            )),
            "[true,true,true]",
            "{drv}"
        );
    }
}

#[test]
fn venv_without_python_interpreter_attribute_uses_bin_python3() {
    assert_eq!(
        eval(
            r#"let v = mkVenv { pname = "p"; version = "0"; src = "/s"; hash = ""; python = { outPath = "/py"; name = "py"; }; };
               in [ v.fixVenvPython v.passthru.fod.env.UV_PYTHON ]"#
        ),
        r#"["/py/bin/python3","/py/bin/python3"]"#
    );
}

#[test]
fn venv_fod_attrs_and_main_attrs_reach_their_step_only_and_win() {
    // The escape hatches: a phase after `uv sync`, a knob of the FOD's hooks, a phase of the
    // main derivation, and one of mkUvVenv's own settings replaced.
    let venv = VENV.replace(
        "})",
        r#"fodAttrs = { postBuild = "after-sync"; fixVenvDrop = [ "docs/Makefile" ]; };
  mainAttrs = { postInstall = "after-copy"; fixVenvCompileBytecode = false; };
})"#,
    );
    assert_eq!(
        eval(&format!(
            "let v = {venv}; f = v.passthru.fod; in [ f.postBuild f.fixVenvDrop (f ? postInstall) \
             v.postInstall v.fixVenvCompileBytecode (v ? fixVenvDrop) (v ? postBuild) ]"
        )),
        r#"["after-sync",["docs/Makefile"],false,"after-copy",false,false,false]"#
    );
}

#[test]
fn venv_passthru_exposes_the_fod_and_python() {
    assert_eq!(
        eval(&format!(
            "let v = {VENV}; in {{ fod = toString v.passthru.fod; src = toString v.src; python = toString v.passthru.python; }}"
        )),
        format!(
            r#"{{"fod":"{STORE}demo-1.0-venv-deps","python":"{STORE}python3-3.12.8","src":"{STORE}demo-1.0-venv-deps"}}"#
        )
    );
}

// ---------------------------------------------------------------- flake.nix

#[test]
fn flake_follows_nixpkgs_unstable() {
    assert_eq!(
        eval("flake.inputs.nixpkgs.url"),
        r#""github:NixOS/nixpkgs/nixos-unstable""#
    );
}

#[test]
fn flake_packages_cover_both_linux_systems() {
    let names = json_strings(&[
        "default",
        "fix-venv",
        "fixVenvPrepareHook",
        "fixVenvRestoreHook",
        "fixup-hooks",
        "patch-rpaths",
        "patchRpathsHook",
        "strip-store-refs",
        "stripStoreRefsHook",
    ]);
    assert_eq!(
        eval("builtins.mapAttrs (s: builtins.attrNames) flake.outputs.packages"),
        format!(r#"{{"aarch64-linux":{names},"x86_64-linux":{names}}}"#)
    );
}

#[test]
fn flake_default_package_is_the_static_build() {
    assert_eq!(
        eval(
            "let p = flake.outputs.packages.x86_64-linux; in
             { inherit (p.default) stubBuilder stubStatic pname; same = toString p.default == toString p.fixup-hooks; }"
        ),
        r#"{"pname":"fixup-hooks","same":true,"stubBuilder":"buildRustPackage","stubStatic":true}"#
    );
}

#[test]
fn flake_tool_packages_link_one_binary_each() {
    let out = eval(
        r#"builtins.mapAttrs (n: p: {
             inherit (p) name stubBuilder;
             main = p.meta.mainProgram;
             links = builtins.filter (l: builtins.isString l && builtins.match ".*ln -s.*" l != null)
               (builtins.split "\n" p.buildCommand);
           })
           { inherit (flake.outputs.packages.x86_64-linux) strip-store-refs patch-rpaths fix-venv; }"#,
    );
    let entry = |tool: &str| {
        format!(
            r#""{tool}":{{"links":["ln -s {STORE}fixup-hooks-0.1.0-static/bin/{tool} $out/bin/{tool}"],"main":"{tool}","name":"{tool}","stubBuilder":"runCommand"}}"#
        )
    };
    assert_eq!(
        out,
        format!(
            "{{{},{},{}}}",
            entry("fix-venv"),
            entry("patch-rpaths"),
            entry("strip-store-refs")
        )
    );
}

#[test]
fn flake_hooks_carry_that_systems_static_tools() {
    assert_eq!(
        eval(
            "builtins.mapAttrs (s: p: map (h: with builtins.head h.propagatedBuildInputs; [ stubStatic stubSystem ])
               [ p.stripStoreRefsHook p.patchRpathsHook p.fixVenvPrepareHook p.fixVenvRestoreHook ]) flake.outputs.packages"
        ),
        {
            let four = |s: &str| format!(r#"[[true,"{s}"],[true,"{s}"],[true,"{s}"],[true,"{s}"]]"#);
            format!(
                r#"{{"aarch64-linux":{},"x86_64-linux":{}}}"#,
                four("aarch64-linux"),
                four("x86_64-linux")
            )
        }
    );
}

#[test]
fn flake_overlay_adds_tools_hooks_and_mk_uv_venv() {
    assert_eq!(
        eval(
            r#"let p = pkgs.extend flake.outputs.overlays.default;
                   v = p.mkUvVenv { pname = "o"; version = "1"; src = "/s"; hash = ""; python = p.python3; };
               in {
                 static = p.fixup-hooks.stubStatic;
                 hooks = builtins.attrNames (p.lib.filterAttrs (_: p.lib.isDerivation) p.fixupHooks);
                 hookTools = (builtins.head p.fixupHooks.stripStoreRefsHook.propagatedBuildInputs).stubStatic;
                 fodHooks = map (d: d.name) v.passthru.fod.nativeBuildInputs;
               }"#
        ),
        r#"{"fodHooks":["uv","fix-venv-prepare-hook","strip-store-refs-hook"],"hookTools":true,"hooks":["fixVenvPrepareHook","fixVenvRestoreHook","patchRpathsHook","stripStoreRefsHook"],"static":true}"#
    );
}

#[test]
fn flake_lib_mk_uv_venv_takes_a_package_set() {
    assert_eq!(
        eval(
            r#"let v = flake.outputs.lib.mkUvVenv nixpkgs.legacyPackages.aarch64-linux
                     { pname = "l"; version = "2"; src = "/s"; hash = ""; python = pkgs.python3; };
                   hook = builtins.head v.nativeBuildInputs;
               in {
                 inherit (v) name;
                 fod = v.passthru.fod.name;
                 hook = hook.name;
                 tools = with builtins.head hook.propagatedBuildInputs; [ stubStatic stubSystem ];
               }"#
        ),
        r#"{"fod":"l-2-venv-deps","hook":"patch-rpaths-hook","name":"l-2","tools":[true,"aarch64-linux"]}"#
    );
}

#[test]
fn flake_checks_build_the_package_and_every_hook() {
    assert_eq!(
        eval("builtins.mapAttrs (s: c: builtins.mapAttrs (n: d: d.name) c) flake.outputs.checks"),
        {
            let one = r#"{"fixVenvPrepareHook":"fix-venv-prepare-hook","fixVenvRestoreHook":"fix-venv-restore-hook","package":"fixup-hooks-0.1.0","patchRpathsHook":"patch-rpaths-hook","stripStoreRefsHook":"strip-store-refs-hook"}"#;
            format!(r#"{{"aarch64-linux":{one},"x86_64-linux":{one}}}"#)
        }
    );
}

#[test]
fn flake_dev_shell_has_the_toolchain() {
    assert_eq!(
        eval("map (p: p.name) flake.outputs.devShells.x86_64-linux.default.packages"),
        json_strings(&[
            "cargo",
            "rustc",
            "clippy",
            "rustfmt",
            "patchelf",
            "nix",
            "uv",
            "python3-3.12.8"
        ])
    );
    assert_eq!(
        eval("builtins.attrNames flake.outputs.devShells"),
        json_strings(&["aarch64-linux", "x86_64-linux"])
    );
}
