# Shared pieces of the strip-store-refs integration tests (tests/strip/nix.rs).
#
# nonce     a fresh string per test run; it goes into every derivation's
#           environment so each run builds new store paths (new hashes) and a
#           cached output of an earlier run can never stand in for this one.
#           It is NOT put into dependency names, so a stripped tree's bytes
#           (where only the 32 hash characters become `e`) are the same in
#           every run and a fixed-output hash stays meaningful.
# toolPath  absolute path of the strip-store-refs binary under test. It is
#           copied into the store with builtins.path, so a different binary
#           is a different input and rebuilds every derivation that runs it.
# strip     false leaves the tool out of the builder: the control half that
#           shows Nix does see the references.
{ nonce, toolPath ? "", strip ? true }:
let lib = import ../lib.nix { inherit nonce; };
in
rec {
  # system, and mkDrv: a plain derivation of a builder script (../lib.nix).
  inherit (lib) system mkDrv;

  # Small dependencies, each a real store path the outputs can refer to.
  deps = {
    lib = mkDrv "dep-lib" ./dep.sh { kind = "lib"; };         # lib/libfoo.so, share/data.txt
    python = mkDrv "dep-python" ./dep.sh { kind = "python"; }; # bin/python, lib/python3.11/os.py
    linkonly = mkDrv "dep-linkonly" ./dep.sh { kind = "linkonly"; }; # only a symlink points here
    bareonly = mkDrv "dep-bareonly" ./dep.sh { kind = "bareonly"; }; # only its bare hash appears
  };

  tool = if strip then lib.tool "strip-store-refs" toolPath else "";

  # A derivation under test: run.sh sources the tree scripts listed in
  # `treeScripts`, which write references to the deps (passed in `attrs`)
  # into $out, then runs "$tool" $toolArgs "$out" when strip is true.
  mkTest = name: attrs: mkDrv name ./run.sh ({
    inherit tool;
    toolArgs = "";
  } // attrs);
}
