# paperless-ngx v2.20.15's runtime dependency set (./pyproject.toml, locked in ./uv.lock: 138
# packages, its postgres, mariadb and webserver extras and ruff) as one virtualenv, made by
# fixup-hooks' mkUvVenv — the large real application of scripts/e2e-large. In the FOD, uv
# builds psycopg-c, mysqlclient and lxml from their sdists against the C libraries below,
# each in its own store path; Rust wheels (cryptography, granian, rpds-py) and an ELF
# executable (bin/ruff) come from PyPI as they are.
#
# Called as nixpkgs' callPackage calls it (the offline stand-ins give the same names):
# stdenv.cc.cc.lib is GCC's runtime libraries. icu-headers only matters where libxml2's
# headers include ICU's (Debian's, in the offline stand-in; nixpkgs' libxml2 does not).
{
  lib,
  stdenv,
  mkUvVenv,
  python3,
  libpq,
  mariadb-connector-c,
  libxml2,
  libxslt,
  zlib,
  icu-headers ? null,
  hash ? "sha256-yPl+pg/OKEEUb/TNX/60xUiEXdNVrgskXEfuhmbc9EE=",
}:
mkUvVenv {
  pname = "paperless-ngx-deps";
  version = "2.20.15";
  src = builtins.path {
    path = ./.;
    name = "paperless-ngx-deps-src";
    filter =
      path: type:
      builtins.elem (baseNameOf path) [
        "pyproject.toml"
        "uv.lock"
      ];
  };
  python = python3;
  inherit hash;
  # What the venv's ELF files link against: the sdists' C libraries, and libstdc++/libgcc_s
  # and zlib for the binary wheels.
  buildInputs = [
    libpq
    mariadb-connector-c
    libxml2
    libxslt
    stdenv.cc.cc.lib
    zlib
  ];
  # pg_config on PATH: psycopg-c's build asks it where libpq is.
  nativeBuildInputs = [ libpq ];
  uvEnv = {
    # lxml and mysqlclient find libxml2/libxslt and MariaDB's client through pkg-config.
    PKG_CONFIG_LIBDIR = lib.concatMapStringsSep ":" (p: "${lib.getDev p}/lib/pkgconfig") [
      libxml2
      libxslt
      mariadb-connector-c
    ];
  }
  // lib.optionalAttrs (icu-headers != null) {
    C_INCLUDE_PATH = "${icu-headers}/include";
  };
  checkImports = [
    "django"
    "psycopg"
    "MySQLdb"
    "lxml.etree"
    "cryptography.hazmat.bindings._rust"
    "granian"
    "sklearn"
  ];
}
