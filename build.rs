//! Links the `skipper` executable without position independence (`-no-pie`) on x86-64 Linux
//! with glibc. A position-independent executable is relocated by the dynamic loader at every
//! start: this binary carries ~270,000 relative relocations over 4.6 MB of vtables and tables,
//! and applying them (and the copy-on-write page faults they cause) was a quarter of the
//! ~12 ms a `skipper sql "SELECT 1"` process takes. Linked at a fixed address there is nothing
//! to relocate. The code itself is still compiled position-independent, so only the final
//! link differs, and only for the binaries of this package (tests and dependencies are
//! untouched). What is given up is address randomisation of the executable's own code and
//! data (shared libraries, heap and stacks are still randomised). Set `SKIPPER_PIE=1` when
//! building to keep a position-independent executable.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SKIPPER_PIE");
    let target = |key: &str| std::env::var(key).unwrap_or_default();
    let pie_wanted = std::env::var_os("SKIPPER_PIE").is_some_and(|v| !v.is_empty() && v != "0");
    if target("CARGO_CFG_TARGET_OS") == "linux"
        && target("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && target("CARGO_CFG_TARGET_ENV") == "gnu"
        && !pie_wanted
    {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
