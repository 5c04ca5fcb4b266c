//! uv's script template and shebang rules (uv-install-wheel `format_shebang` and the
//! distlib-derived launcher text), reproduced byte for byte.

use super::entry_points::EntryPoint;

/// The longest `#!` line the kernel takes whole (BINPRM_BUF_SIZE - 1).
const MAX_SHEBANG: usize = 127;

/// POSIX single quoting: `'` becomes `'\''`.
pub fn posix_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The shebang block (no trailing newline) for a script run by `executable`.
///
/// `#!EXE` when it fits; when `#!EXE\n` would pass 127 bytes or EXE holds a space, a
/// `/bin/sh` line that `exec`s the interpreter and that Python reads as a string; for a
/// relocatable venv the same, finding `python` next to the script.
pub fn shebang(executable: &str, relocatable: bool) -> String {
    let too_long = 2 + executable.len() + 1 > MAX_SHEBANG;
    if too_long || executable.contains(' ') || relocatable {
        let exe = if relocatable {
            format!(
                r#""$(dirname -- "$(realpath -- "$0")")"/{}"#,
                posix_quote("python")
            )
        } else {
            posix_quote(executable)
        };
        return format!("#!/bin/sh\n'''exec' {exe} \"$0\" \"$@\"\n' '''");
    }
    format!("#!{executable}")
}

/// The launcher for an entry point, as uv writes it.
pub fn render(entry: &EntryPoint, executable: &str, relocatable: bool) -> Vec<u8> {
    format!(
        "{shebang}\n\
         # -*- coding: utf-8 -*-\n\
         import sys\n\
         from {module} import {import}\n\
         if __name__ == \"__main__\":\n    \
         if sys.argv[0].endswith(\"-script.pyw\"):\n        \
         sys.argv[0] = sys.argv[0][:-11]\n    \
         elif sys.argv[0].endswith(\".exe\"):\n        \
         sys.argv[0] = sys.argv[0][:-4]\n    \
         sys.exit({attr}())\n",
        shebang = shebang(executable, relocatable),
        module = entry.module,
        import = entry.import_name(),
        attr = entry.attr,
    )
    .into_bytes()
}

/// Is this interpreter path a Python (`python`, `python3.11`, `pythonw`, `pypy3`, ...)?
fn names_python(interpreter: &[u8]) -> bool {
    let name = interpreter
        .rsplit(|&b| b == b'/')
        .next()
        .unwrap_or(interpreter);
    ["python", "pypy", "graalpy"].iter().any(|p| {
        name.strip_prefix(p.as_bytes()).is_some_and(|rest| {
            let end = rest
                .iter()
                .rposition(|&b| b != b't' && b != b'w')
                .map_or(0, |i| i + 1);
            rest[..end].iter().all(|&b| b.is_ascii_digit() || b == b'.')
        })
    })
}

/// When `contents` is a Python script whose shebang names a Python directly (`#!/x/bin/python`,
/// `#!python`, a store path with its hash stripped) or through uv's `/bin/sh` exec form,
/// the bytes after that shebang. `#!/usr/bin/env python` and shebangs with arguments are
/// not matched: they do not name a particular interpreter, or name it with options that a
/// new shebang could not keep.
pub fn python_script_body(contents: &[u8]) -> Option<&[u8]> {
    let first_end = memchr::memchr(b'\n', contents)?;
    let first = &contents[..first_end];
    let rest = &contents[first_end + 1..];
    if first == b"#!/bin/sh" {
        let mut lines = rest.splitn(3, |&b| b == b'\n');
        let exec = lines.next()?;
        let close = lines.next()?;
        let body = lines.next().unwrap_or_default();
        let ok = exec.starts_with(b"'''exec' ")
            && exec.ends_with(b" \"$0\" \"$@\"")
            && close == b"' '''";
        return ok.then_some(body);
    }
    let interpreter = first.strip_prefix(b"#!")?;
    let interpreter = interpreter.trim_ascii();
    if interpreter.is_empty() || interpreter.iter().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    names_python(interpreter).then_some(rest)
}

/// `contents` with its Python shebang replaced by the venv's, as uv does for data scripts
/// that start with `#!python`; `None` when it has none.
pub fn reshebang(contents: &[u8], executable: &str, relocatable: bool) -> Option<Vec<u8>> {
    let body = python_script_body(contents)?;
    let mut out = shebang(executable, relocatable).into_bytes();
    out.push(b'\n');
    out.extend_from_slice(body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venv::entry_points::ScriptKind;

    fn black() -> EntryPoint {
        EntryPoint {
            name: "black".into(),
            module: "black".into(),
            attr: "patched_main".into(),
            kind: ScriptKind::ConsoleScripts,
            line: 2,
        }
    }

    #[test]
    fn renders_uvs_black_launcher() {
        let expected = "#!/venvs/x/bin/python\n# -*- coding: utf-8 -*-\nimport sys\n\
            from black import patched_main\nif __name__ == \"__main__\":\n    \
            if sys.argv[0].endswith(\"-script.pyw\"):\n        sys.argv[0] = sys.argv[0][:-11]\n    \
            elif sys.argv[0].endswith(\".exe\"):\n        sys.argv[0] = sys.argv[0][:-4]\n    \
            sys.exit(patched_main())\n";
        assert_eq!(
            String::from_utf8(render(&black(), "/venvs/x/bin/python", false)).unwrap(),
            expected
        );
    }

    #[test]
    fn long_paths_use_the_sh_exec_form() {
        // `#!` + 124 + `\n` = 127 bytes: still fits.
        let fits = format!("/{}", "a".repeat(123));
        assert_eq!(shebang(&fits, false), format!("#!{fits}"));
        let long = format!("/{}", "a".repeat(124));
        assert_eq!(
            shebang(&long, false),
            format!("#!/bin/sh\n'''exec' '{long}' \"$0\" \"$@\"\n' '''")
        );
    }

    #[test]
    fn spaces_and_quotes_use_the_sh_exec_form() {
        assert_eq!(
            shebang("/a b/it's/python", false),
            "#!/bin/sh\n'''exec' '/a b/it'\\''s/python' \"$0\" \"$@\"\n' '''"
        );
    }

    #[test]
    fn relocatable_finds_python_beside_the_script() {
        assert_eq!(
            shebang("/v/bin/python", true),
            "#!/bin/sh\n'''exec' \"$(dirname -- \"$(realpath -- \"$0\")\")\"/'python' \"$0\" \"$@\"\n' '''"
        );
    }

    #[test]
    fn finds_python_shebangs() {
        let stripped = b"#!/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-venv/bin/python\nprint(1)\n";
        assert_eq!(python_script_body(stripped), Some(&b"print(1)\n"[..]));
        assert_eq!(python_script_body(b"#!python\nx\n"), Some(&b"x\n"[..]));
        assert_eq!(
            python_script_body(b"#!/usr/bin/python3.11\nx"),
            Some(&b"x"[..])
        );
        let sh = b"#!/bin/sh\n'''exec' '/a b/bin/python' \"$0\" \"$@\"\n' '''\nx\n";
        assert_eq!(python_script_body(sh), Some(&b"x\n"[..]));
        for other in [
            &b"#!/bin/sh\necho hi\n"[..],
            b"#!/usr/bin/env python3\nx\n",
            b"#!/usr/bin/python -E\nx\n",
            b"\x7fELF\x02\x01\x01",
            b"#!/usr/bin/pythonista\n",
        ] {
            assert_eq!(python_script_body(other), None, "{other:?}");
        }
    }

    #[test]
    fn reshebang_is_idempotent() {
        let once = reshebang(b"#!python\nprint(1)\n", "/v/bin/python", false).unwrap();
        assert_eq!(once, b"#!/v/bin/python\nprint(1)\n");
        assert_eq!(reshebang(&once, "/v/bin/python", false).unwrap(), once);
    }
}
