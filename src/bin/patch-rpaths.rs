fn main() {
    eprintln!("patch-rpaths: not yet implemented");
    std::process::exit(1);
}
