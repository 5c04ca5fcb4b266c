//! Which nixpkgs package provides a library, for the sonames Python wheels and sdists most
//! often need. A missing library is first traced through the RUNPATH the file had (the
//! stripped `eeee…-NAME` entries name its package); a wheel built elsewhere has no such
//! entries, and "add the package that provides it" leaves the user searching. These are the
//! attributes that hold each library in its `lib/` (for split packages, the output that
//! does: gcc's runtime libraries are in `stdenv.cc.cc.lib`, not in `stdenv.cc.cc`).

/// `(soname stem, nixpkgs attribute)`; the stem is the soname up to `.so`.
const PROVIDERS: &[(&str, &str)] = &[
    // GCC's runtime: C++ wheels, Rust wheels (unwinding), OpenMP.
    ("libstdc++", "stdenv.cc.cc.lib"),
    ("libgcc_s", "stdenv.cc.cc.lib"),
    ("libgomp", "stdenv.cc.cc.lib"),
    ("libatomic", "stdenv.cc.cc.lib"),
    ("libquadmath", "stdenv.cc.cc.lib"),
    ("libgfortran", "gfortran.cc.lib"),
    // Compression.
    ("libz", "zlib"),
    ("libbz2", "bzip2"),
    ("liblzma", "xz"),
    ("libzstd", "zstd"),
    ("liblz4", "lz4"),
    ("libbrotlienc", "brotli"),
    ("libbrotlidec", "brotli"),
    // Crypto, TLS, authentication.
    ("libssl", "openssl"),
    ("libcrypto", "openssl"),
    ("libffi", "libffi"),
    ("libkrb5", "krb5"),
    ("libgssapi_krb5", "krb5"),
    ("libk5crypto", "krb5"),
    ("libcom_err", "krb5"),
    ("libsasl2", "cyrus_sasl"),
    ("libldap", "openldap"),
    ("liblber", "openldap"),
    ("libxmlsec1", "xmlsec"),
    ("libxmlsec1-openssl", "xmlsec"),
    ("libsodium", "libsodium"),
    // Databases.
    ("libpq", "libpq"),
    ("libmariadb", "mariadb-connector-c"),
    ("libmysqlclient", "libmysqlclient"),
    ("libsqlite3", "sqlite"),
    // XML and text.
    ("libxml2", "libxml2"),
    ("libxslt", "libxslt"),
    ("libexslt", "libxslt"),
    ("libexpat", "expat"),
    ("libyaml-0", "libyaml"),
    ("libmagic", "file"),
    ("libicuuc", "icu"),
    ("libltdl", "libtool"),
    ("libuuid", "libuuid"),
    ("libgmp", "gmp"),
    // Images and graphics.
    ("libjpeg", "libjpeg"),
    ("libpng16", "libpng"),
    ("libtiff", "libtiff"),
    ("libwebp", "libwebp"),
    ("libfreetype", "freetype"),
    ("libharfbuzz", "harfbuzz"),
    ("libcairo", "cairo"),
    ("libzbar", "zbar"),
    ("libGL", "libGL"),
    ("libX11", "xorg.libX11"),
    ("libxcb", "xorg.libxcb"),
    ("libglib-2.0", "glib"),
    // System.
    ("libcurl", "curl"),
    ("libusb-1.0", "libusb1"),
    ("libudev", "systemd"),
    ("libsystemd", "systemd"),
    ("libdbus-1", "dbus"),
    ("libasound", "alsa-lib"),
    ("libopenblas", "openblas"),
];

/// The nixpkgs attribute whose `lib/` holds `soname`, if it is a common one.
pub fn nixpkgs_attribute(soname: &str) -> Option<&'static str> {
    let stem = soname.split(".so").next()?;
    PROVIDERS
        .iter()
        .find(|(known, _)| *known == stem)
        .map(|(_, attribute)| *attribute)
}

/// The attribute for the first of `sonames` (a `.note.dlopen` entry's alternatives, or one
/// `DT_NEEDED`) that has one.
pub fn first_nixpkgs_attribute(sonames: &[String]) -> Option<&'static str> {
    sonames.iter().find_map(|s| nixpkgs_attribute(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_and_unversioned_sonames_find_their_package() {
        assert_eq!(
            nixpkgs_attribute("libstdc++.so.6"),
            Some("stdenv.cc.cc.lib")
        );
        assert_eq!(nixpkgs_attribute("libz.so"), Some("zlib"));
        assert_eq!(nixpkgs_attribute("libxmlsec1-openssl.so"), Some("xmlsec"));
        // A stem that only begins like a known one is not it.
        assert_eq!(nixpkgs_attribute("libzmq.so.5"), None);
        assert_eq!(nixpkgs_attribute("libpqwalreceiver.so"), None);
    }

    #[test]
    fn every_stem_is_listed_once() {
        let mut stems: Vec<&str> = PROVIDERS.iter().map(|(s, _)| *s).collect();
        stems.sort_unstable();
        let before = stems.len();
        stems.dedup();
        assert_eq!(stems.len(), before);
    }
}
