//! The `octogate` binary: a thin wrapper over the library's CLI.
fn main() -> std::process::ExitCode {
    octogate::cli::main()
}
