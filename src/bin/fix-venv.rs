fn main() {
    eprintln!("fix-venv: not yet implemented");
    std::process::exit(1);
}
