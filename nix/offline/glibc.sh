# Builder of the offline glibc stand-in: the host's C library, copied.
mkdir -p "$out/lib"
for lib in libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 libresolv.so.2 librt.so.1 \
           libutil.so.1 ld-linux-x86-64.so.2; do
    cp -L "/lib/x86_64-linux-gnu/$lib" "$out/lib/"
done
