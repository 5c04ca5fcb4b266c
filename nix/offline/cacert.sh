# Builder of the offline cacert stand-in: the host's CA bundle where nixpkgs' cacert keeps it.
mkdir -p "$out/etc/ssl/certs"
cp -L /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/ca-bundle.crt"
