//! Records, for the `event=start` log line, the Burn version in Cargo.lock (the contract crate records rustc's).
fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let burn = lock
        .split("[[package]]")
        .find(|block| block.contains("name = \"burn\"\n"))
        .and_then(|block| block.lines().find_map(|line| line.strip_prefix("version = \"")))
        .map(|rest| rest.trim_end_matches('"').to_owned())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MNIST_BURN_VERSION={burn}");
}
