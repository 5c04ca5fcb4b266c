# Builder of the offline glibc stand-in: the host's C library, copied — with libgcc_s.so.1
# beside it, as nixpkgs' glibc ships it in its lib/ (its own pthread_cancel loads it).
mkdir -p "$out/lib"
for lib in libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 libresolv.so.2 librt.so.1 \
           libutil.so.1 ld-linux-x86-64.so.2 libgcc_s.so.1; do
    cp -L "/lib/x86_64-linux-gnu/$lib" "$out/lib/"
done
