# paperless-ngx v2.20.15's runtime dependency set (./pyproject.toml, locked in ./uv.lock: 138
# packages, its postgres, mariadb and webserver extras and ruff) as one virtualenv, made by
# fixup-hooks' mkUvVenv — the large real application of scripts/e2e-large. In the FOD, uv
# builds psycopg-c, mysqlclient and lxml from their sdists against the C libraries below,
# each in its own store path; Rust wheels (cryptography, granian, rpds-py) and an ELF
# executable (bin/ruff) come from PyPI as they are.
{
  mkUvVenv,
  python3,
  libpq,
  mariadb-connector-c,
  libxml2,
  libxslt,
  icu-headers,
  gcc-lib,
  zlib,
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
    gcc-lib
    zlib
  ];
  # pg_config on PATH: psycopg-c's build asks it where libpq is.
  nativeBuildInputs = [ libpq ];
  uvEnv = {
    # lxml and mysqlclient find libxml2/libxslt and MariaDB's client through pkg-config.
    PKG_CONFIG_LIBDIR = "${libxml2}/lib/pkgconfig:${libxslt}/lib/pkgconfig:${mariadb-connector-c}/lib/pkgconfig";
    # Debian's libxml2 headers include ICU's.
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
