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

use crate::support::nix::{require_nix_program_in, with_nix_config};

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

/// The `(section, name, path)` of every `[lib]` and `[[bin]]` target in Cargo.toml.
fn cargo_targets() -> Vec<(String, String, String)> {
    let toml = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    let mut targets: Vec<(String, String, String)> = Vec::new();
    let mut section = String::new();
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_string();
            if section == "[lib]" || section == "[[bin]]" {
                targets.push((section.clone(), String::new(), String::new()));
            }
        } else if section == "[lib]" || section == "[[bin]]" {
            if let Some((k, v)) = line.split_once('=') {
                let v = v.trim().trim_matches('"').to_string();
                let last = targets.last_mut().unwrap();
                match k.trim() {
                    "name" => last.1 = v,
                    "path" => last.2 = v,
                    _ => {}
                }
            }
        }
    }
    targets
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
fn every_hook_script_exists_and_its_placeholders_are_exactly_its_substitutions() {
    // substituteAll/replaceVars leave an unknown `@name@` in the script (or refuse it), and a
    // substitution the script does not use is a typo somewhere: the two sets must be equal.
    // Each hook's script is named after the hook (the fix-venv variants share one, told
    // apart by fixVenvMode, which must be a fix-venv subcommand named in the variant).
    let hooks: serde_json::Value = serde_json::from_str(&eval(
        "builtins.mapAttrs (n: h: { inherit (h) name; script = toString h.script; \
         substitutions = builtins.mapAttrs (k: v: toString v) h.substitutions; }) hooks",
    ))
    .unwrap();
    let hooks = hooks.as_object().unwrap();
    assert!(!hooks.is_empty());
    let mut scripts = Vec::new();
    for (attr, hook) in hooks {
        let name = hook["name"].as_str().unwrap();
        let script = PathBuf::from(hook["script"].as_str().unwrap());
        let subs = hook["substitutions"].as_object().unwrap();
        let mode = subs.get("fixVenvMode").map(|m| m.as_str().unwrap());
        let expected_file = match mode {
            Some(mode) => format!("{}.sh", name.replace(&format!("-{mode}"), "")),
            None => format!("{name}.sh"),
        };
        assert_eq!(
            script.file_name().unwrap().to_str().unwrap(),
            expected_file,
            "{attr}"
        );
        if let Some(mode) = mode {
            assert!(
                attr.to_lowercase().contains(mode),
                "{attr} runs fix-venv {mode}"
            );
            let help = Command::new(env!("CARGO_BIN_EXE_fix-venv"))
                .args([mode, "--help"])
                .output()
                .unwrap();
            assert!(help.status.success(), "fix-venv has no {mode} subcommand");
        }
        let mut names: Vec<String> = subs.keys().cloned().collect();
        names.sort();
        let text = std::fs::read_to_string(&script)
            .unwrap_or_else(|e| panic!("{}: {e} (nix/hooks.nix refers to it)", script.display()));
        assert_eq!(placeholders(&text), names, "{attr}: {}", script.display());
        // What a substitution names must exist and needs nothing substituted itself.
        for (key, value) in subs {
            let target = Path::new(value.as_str().unwrap());
            if target.is_absolute() {
                let sourced = std::fs::read_to_string(target)
                    .unwrap_or_else(|e| panic!("{attr}.{key}: {}: {e}", target.display()));
                assert_eq!(placeholders(&sourced), Vec::<String>::new(), "{attr}.{key}");
            }
        }
        scripts.push(script);
    }
    // Every script under hooks/ is some hook's (the dispatcher is sourced by them).
    for entry in std::fs::read_dir(Path::new(ROOT).join("hooks")).unwrap() {
        let path = entry.unwrap().path();
        let sourced = hooks.values().any(|h| {
            h["substitutions"]
                .as_object()
                .unwrap()
                .values()
                .any(|v| Path::new(v.as_str().unwrap()) == path)
        });
        assert!(
            scripts.contains(&path) || sourced,
            "{} is no hook's script",
            path.display()
        );
    }
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
fn package_source_holds_every_target_and_its_check_only_what_the_source_holds() {
    let pkg: serde_json::Value = serde_json::from_str(&eval(
        "{ root = toString tools.src.root; files = map toString tools.src.files; \
         inherit (tools) doCheck cargoTestFlags; }",
    ))
    .unwrap();
    assert_eq!(pkg["root"], ROOT);
    let files: Vec<PathBuf> = pkg["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| PathBuf::from(f.as_str().unwrap()))
        .collect();
    for f in &files {
        assert!(
            f.exists(),
            "the package's source names {f:?}, which does not exist"
        );
        assert!(f != Path::new(ROOT), "the whole repository is the source");
    }
    let root = Path::new(ROOT);
    for needed in ["Cargo.toml", "Cargo.lock"] {
        assert!(
            files.contains(&root.join(needed)),
            "{needed} not in {files:?}"
        );
    }
    let targets = cargo_targets();
    assert!(targets.len() >= 2, "{targets:?}");
    for (section, name, path) in &targets {
        assert!(
            files.iter().any(|f| root.join(path).starts_with(f)),
            "Cargo.toml's {section} {name} ({path}) is not in the package's source {files:?}"
        );
    }
    // Integration tests need Nix, uv and the network: the source leaves tests/ out, so the
    // package's check must run only the library's unit tests.
    let has_tests = files.iter().any(|f| root.join("tests").starts_with(f));
    assert!(!has_tests, "{files:?}");
    if pkg["doCheck"] == true {
        let flags = pkg["cargoTestFlags"].as_array().unwrap();
        assert!(
            flags.iter().any(|f| f == "--lib"),
            "doCheck without tests/ in the source needs cargoTestFlags --lib: {flags:?}"
        );
    }
}

#[test]
fn package_meta_agrees_with_cargo_toml() {
    let meta: serde_json::Value = serde_json::from_str(&eval(
        "{ inherit (tools.meta) mainProgram description; license = tools.meta.license.spdxId; }",
    ))
    .unwrap();
    assert_eq!(meta["description"], cargo_package_field("description"));
    assert_eq!(meta["license"], cargo_package_field("license"));
    let bins: Vec<String> = cargo_targets()
        .into_iter()
        .filter(|(section, ..)| section == "[[bin]]")
        .map(|(_, name, _)| name)
        .collect();
    assert!(
        bins.iter().any(|b| meta["mainProgram"] == b.as_str()),
        "meta.mainProgram {} is none of Cargo.toml's binaries {bins:?}",
        meta["mainProgram"]
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
