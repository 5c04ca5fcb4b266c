# libcrcutil.so.1 and crcutil.h: the C library the demo app's fastcrc extension links against,
# packaged as a nixpkgs C library is (lib/ with the soname links, include/).
{ lib, stdenv }:
stdenv.mkDerivation {
  name = "crcutil-1.0";
  src = lib.fileset.toSource {
    root = ./.;
    fileset = lib.fileset.unions [
      ./crcutil.c
      ./crcutil.h
    ];
  };
  buildPhase = ''
    runHook preBuild
    gcc -shared -fPIC -O2 -Wl,-soname,libcrcutil.so.1 -o libcrcutil.so.1.0.0 crcutil.c
    runHook postBuild
  '';
  installPhase = ''
    runHook preInstall
    mkdir -p "$out/lib" "$out/include"
    cp libcrcutil.so.1.0.0 "$out/lib/"
    ln -s libcrcutil.so.1.0.0 "$out/lib/libcrcutil.so.1"
    ln -s libcrcutil.so.1 "$out/lib/libcrcutil.so"
    cp crcutil.h "$out/include/"
    runHook postInstall
  '';
}
