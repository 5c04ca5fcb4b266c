# Builder of the offline tools package: the binaries, as they are (they are static).
mkdir -p "$out/bin"
cp "$bins"/strip-store-refs "$bins"/patch-rpaths "$bins"/fix-venv "$out/bin/"
